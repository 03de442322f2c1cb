//! Netfilter evaluation of one routed packet at filter FORWARD, in wall time per
//! evaluation: the direct first-match walk (`eval::evaluate`) against the compiled
//! rules (`Compiled::evaluate`), and an empty ruleset as the baseline.
//!
//! `docker-100-user-1000`: Docker 28's filter table for 100 bridge networks, one
//! container with one published port on each (FORWARD → DOCKER-USER, DOCKER-FORWARD →
//! DOCKER-CT, DOCKER-ISOLATION-STAGE-1/2, DOCKER-BRIDGE → DOCKER), and 1,000 user rules
//! in DOCKER-USER (`-s 10.X.Y.0/24 -j DROP`, every tenth `-i eth0 -p tcp --dport P -j
//! DROP`). The packet leaves the last network's container for the Internet (NEW, TCP
//! to port 443): no user rule matches it, so the walk goes through every chain to the
//! network's `-i br-… -j ACCEPT` at the end of DOCKER-FORWARD.
//! `docker-100-user-0` is the same without user rules (DOCKER-USER holds its RETURN).
//! `…/compile` is the time to build `Compiled` from that ruleset (done when rules
//! change, not per packet).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::IpNet;
use netloom_drivers::netfilter::{
    Compiled, CtStates, Decision, Hook, Neg, Packet, PortRange, Proto, Rule, Ruleset, TableId, Target,
    Verdict, eval,
};

const NETWORKS: usize = 100;
const USER_RULES: usize = 1_000;

fn net(a: [u8; 4], prefix: u8) -> Neg<IpNet> {
    Neg::is(IpNet::new(Ipv4Addr::from(a).into(), prefix).expect("prefix fits"))
}

fn iface(name: &str) -> Option<Neg<String>> {
    Some(Neg::is(name.to_string()))
}

fn not_iface(name: &str) -> Option<Neg<String>> {
    Some(Neg::not(name.to_string()))
}

/// Docker 28's filter table for `networks` bridges plus `user` DOCKER-USER rules, and
/// the interface names (`eth0`, `lo`, the bridges, one veth per container).
fn docker_ruleset(networks: usize, user: usize) -> (Ruleset, Vec<String>) {
    let f = TableId::Filter;
    let mut rs = Ruleset::default();
    let mut names = vec!["eth0".to_string(), "lo".to_string()];
    let chain = |name: &str| Rule::jump(Target::Jump(name.into()));
    rs.append(f, "FORWARD", chain("DOCKER-USER"));
    rs.append(f, "FORWARD", chain("DOCKER-FORWARD"));
    for c in ["DOCKER-CT", "DOCKER-ISOLATION-STAGE-1", "DOCKER-BRIDGE"] {
        rs.append(f, "DOCKER-FORWARD", chain(c));
    }
    rs.new_chain(f, "DOCKER");
    rs.new_chain(f, "DOCKER-ISOLATION-STAGE-2");
    for k in 0..networks {
        let br = format!("br-{k:03}");
        names.push(br.clone());
        names.push(format!("veth{k:03}"));
        let container = [172, 18, k as u8, 2];
        rs.append(
            f,
            "DOCKER",
            Rule {
                dst: Some(net(container, 32)),
                in_if: not_iface(&br),
                out_if: iface(&br),
                proto: Some(Neg::is(Proto::Tcp)),
                dport: Some(Neg::is(PortRange::one(80))),
                ..Rule::jump(Target::Accept)
            },
        );
        rs.append(
            f,
            "DOCKER",
            Rule {
                in_if: not_iface(&br),
                out_if: iface(&br),
                ..Rule::jump(Target::Drop)
            },
        );
        rs.append(
            f,
            "DOCKER-BRIDGE",
            Rule {
                out_if: iface(&br),
                ..chain("DOCKER")
            },
        );
        rs.append(
            f,
            "DOCKER-CT",
            Rule {
                out_if: iface(&br),
                ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
                ..Rule::jump(Target::Accept)
            },
        );
        rs.append(
            f,
            "DOCKER-FORWARD",
            Rule {
                in_if: iface(&br),
                ..Rule::jump(Target::Accept)
            },
        );
        rs.append(
            f,
            "DOCKER-ISOLATION-STAGE-1",
            Rule {
                in_if: iface(&br),
                out_if: not_iface(&br),
                ..chain("DOCKER-ISOLATION-STAGE-2")
            },
        );
        rs.append(
            f,
            "DOCKER-ISOLATION-STAGE-2",
            Rule {
                out_if: iface(&br),
                ..Rule::jump(Target::Drop)
            },
        );
    }
    rs.append(f, "DOCKER-ISOLATION-STAGE-1", Rule::jump(Target::Return));
    rs.append(f, "DOCKER-ISOLATION-STAGE-2", Rule::jump(Target::Return));
    for k in 0..user {
        let r = if k % 10 == 9 {
            Rule {
                in_if: iface("eth0"),
                proto: Some(Neg::is(Proto::Tcp)),
                dport: Some(Neg::is(PortRange::one(20_000 + k as u16))),
                ..Rule::jump(Target::Drop)
            }
        } else {
            Rule {
                src: Some(net([10, (k / 200) as u8, (k % 200) as u8, 0], 24)),
                ..Rule::jump(Target::Drop)
            }
        };
        rs.append(f, "DOCKER-USER", r);
    }
    rs.append(f, "DOCKER-USER", Rule::jump(Target::Return));
    (rs, names)
}

/// The last network's container opening a connection to the Internet.
fn packet(names: &[&str], networks: usize) -> Packet {
    let id = |n: &str| names.iter().position(|x| *x == n).map(|i| i as u16);
    let k = networks.saturating_sub(1);
    let dst: IpAddr = Ipv4Addr::new(93, 184, 216, 34).into();
    Packet {
        in_if: id(&format!("br-{k:03}")).or(Some(0)),
        out_if: id("eth0"),
        src: Ipv4Addr::new(172, 18, k as u8, 2).into(),
        dst,
        proto: 6,
        sport: 40_000,
        dport: 443,
        icmp: None,
        ctstate: CtStates::NEW,
        ct_orig_dst: dst,
        ct_orig_dport: 443,
        src_local: false,
        dst_local: false,
        mark: 0,
    }
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("netfilter-forward");
    for (name, networks, user) in [
        ("empty", 0, 0),
        ("docker-100-user-0", NETWORKS, 0),
        ("docker-100-user-1000", NETWORKS, USER_RULES),
    ] {
        let (rs, owned) = if networks == 0 {
            (Ruleset::default(), vec!["eth0".to_string(), "lo".to_string()])
        } else {
            docker_ruleset(networks, user)
        };
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let pkt = packet(&names, networks);
        let compiled = Compiled::new(&rs, &names);
        // Both walks must reach the same rule: DOCKER-FORWARD's accept for the network.
        let want = eval::evaluate(&rs, &names, TableId::Filter, Hook::Forward, &pkt);
        assert_eq!(compiled.evaluate(TableId::Filter, Hook::Forward, &pkt), want);
        assert_eq!(want.verdict, Verdict::Accept);
        if networks > 0 {
            let text = want.describe(&rs, Hook::Forward, TableId::Filter);
            assert!(text.contains("DOCKER-FORWARD"), "{text}");
        } else {
            assert_eq!(
                want,
                Decision {
                    verdict: Verdict::Accept,
                    by: None
                }
            );
        }
        g.bench_function(format!("{name}/direct"), |b| {
            b.iter(|| {
                eval::evaluate(
                    black_box(&rs),
                    &names,
                    TableId::Filter,
                    Hook::Forward,
                    black_box(&pkt),
                )
            })
        });
        g.bench_function(format!("{name}/compiled"), |b| {
            b.iter(|| black_box(&compiled).evaluate(TableId::Filter, Hook::Forward, black_box(&pkt)))
        });
        if networks > 0 {
            g.bench_function(format!("{name}/compile"), |b| {
                b.iter(|| Compiled::new(black_box(&rs), &names))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = forward
}
criterion_main!(benches);
