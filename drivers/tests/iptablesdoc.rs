//! Docker's generated iptables rules compared, line for line, with what moby's own
//! tests record for the same configurations:
//!
//! - `fixtures/iptablesdoc/<tag>/<section>.rules`: the `iptables -S` blocks of
//!   `integration/network/bridge/iptablesdoc/generated/<section>.md` (a daemon in a
//!   netns, docker0 plus the networks and container `iptablesdoc_linux_test.go`
//!   describes);
//! - `fixtures/iptabler/<tag>/<config>__ip[6]tables.golden`: `iptables-save` of the
//!   iptabler unit test (one network `br-dummy`, one endpoint, ports 8080→80 on v4 and
//!   v6) — the IPv6 reference.
//!
//! Equality is per line in order, so a rule inserted where Docker appends (or a network
//! programmed out of creation order) fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use netloom_drivers::docker::GatewayMode;
use netloom_drivers::docker::iptables::{
    BridgeNet, DockerFirewall, Endpoint, PortBinding, ruleset_v4, ruleset_v6,
};
use netloom_drivers::net::L4;
use netloom_drivers::netfilter::{Rule, RuleNote, Ruleset, TableId, Target};

const V29: &str = "docker-v29.7.2";
const V28: &str = "v28.5.2";

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fixture's sections: `*filter`, `*nat`, `*raw`, `*filter DOCKER` (`iptables -S
/// DOCKER`), each with its command lines.
fn sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            out.push((name.to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line.to_string());
        } else {
            panic!("fixture line before any section: {line}");
        }
    }
    out
}

fn table_id(name: &str) -> TableId {
    match name {
        "raw" => TableId::Raw,
        "nat" => TableId::Nat,
        "filter" => TableId::Filter,
        other => panic!("unknown table {other}"),
    }
}

/// `iptables-save` of `rs` split per table (without `*table` and `COMMIT`); a table
/// `save` leaves out (nothing in it) is its built-in chains with policy ACCEPT, as
/// `iptables-save -t TABLE` prints it.
fn saved_tables(rs: &Ruleset) -> Vec<(TableId, Vec<String>)> {
    let text = rs.save();
    let mut found: Vec<(TableId, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            found.push((table_id(name), Vec::new()));
        } else if line != "COMMIT" {
            found
                .last_mut()
                .expect("save starts with a table")
                .1
                .push(line.to_string());
        }
    }
    TableId::ALL
        .iter()
        .map(|&t| match found.iter().find(|(id, _)| *id == t) {
            Some((_, lines)) => (t, lines.clone()),
            None => (
                t,
                t.builtins()
                    .iter()
                    .map(|c| format!(":{c} ACCEPT [0:0]"))
                    .collect(),
            ),
        })
        .collect()
}

/// `iptables -S -t TABLE` (or `iptables -S CHAIN`), derived from `save`: the `:` lines
/// become `-P`/`-N`, rules stay — so `save`'s chain order is what is checked.
fn list_rules(rs: &Ruleset, section: &str) -> Vec<String> {
    let (table, chain) = match section.split_once(' ') {
        Some((t, c)) => (table_id(t), Some(c)),
        None => (table_id(section), None),
    };
    let lines = saved_tables(rs)
        .into_iter()
        .find(|(t, _)| *t == table)
        .map(|(_, l)| l)
        .unwrap_or_default();
    let mut out = Vec::new();
    for l in lines {
        if let Some(decl) = l.strip_prefix(':') {
            let mut it = decl.split(' ');
            let name = it.next().unwrap_or_default();
            let policy = it.next().unwrap_or_default();
            if chain.is_some_and(|c| c != name) {
                continue;
            }
            if policy == "-" {
                out.push(format!("-N {name}"));
            } else if chain.is_none() {
                out.push(format!("-P {name} {policy}"));
            }
        } else if let Some(c) = chain {
            if l.starts_with(&format!("-A {c} ")) {
                out.push(l);
            }
        } else {
            out.push(l);
        }
    }
    out
}

fn assert_lines(what: &str, got: &[String], want: &[String]) {
    if got != want {
        let mut msg = format!("{what}: generated rules differ from Docker's\n");
        for i in 0..got.len().max(want.len()) {
            let g = got.get(i).map(String::as_str).unwrap_or("<none>");
            let w = want.get(i).map(String::as_str).unwrap_or("<none>");
            let mark = if g == w { "  " } else { "!!" };
            msg.push_str(&format!("{mark} {i:>2} want {w}\n{mark}    got  {g}\n"));
        }
        panic!("{msg}");
    }
}

/// Compares every table the iptablesdoc section shows.
fn check_doc(tag: &str, section: &str, fw: &DockerFirewall) {
    let rs = ruleset_v4(fw);
    let secs = sections(&fixture(&format!("iptablesdoc/{tag}/{section}.rules")));
    assert!(!secs.is_empty(), "{tag}/{section}: empty fixture");
    for (name, want) in secs {
        let got = list_rules(&rs, &name);
        assert_lines(&format!("{tag} {section} -t {name}"), &got, &want);
    }
}

// --- the iptablesdoc configurations (iptablesdoc_linux_test.go `index`) ---

const DOC_NETS: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];

/// `networkDesc`: a bridge named `name` on the i-th doc subnet, with container c1
/// (address .2) publishing 80/tcp on host port 8080 (`host_ip`) when `publish`.
struct Net {
    name: &'static str,
    gw: GatewayMode,
    icc: bool,
    internal: bool,
    publish: Option<Option<IpAddr>>,
}

fn net(name: &'static str) -> Net {
    Net {
        name,
        gw: GatewayMode::Nat,
        icc: true,
        internal: false,
        publish: Some(None),
    }
}

fn doc_fw(version: u32, userland_proxy: bool, nets: Vec<Net>) -> DockerFirewall {
    // docker0 first: the daemon creates it at start, with the daemon's icc (default on).
    let mut networks = vec![BridgeNet {
        device: "docker0".into(),
        v4: Some("172.17.0.0/16".parse().unwrap()),
        v6: None,
        icc: true,
        internal: false,
        gateway_mode: GatewayMode::Nat,
        masquerade: true,
        endpoints: vec![],
    }];
    for (i, n) in nets.into_iter().enumerate() {
        let subnet: ipnet::Ipv4Net = DOC_NETS[i].parse().unwrap();
        let c1 = Ipv4Addr::from(u32::from(subnet.network()) + 2);
        let ports = match n.publish {
            Some(host_ip) => vec![PortBinding {
                l4: L4::Tcp,
                host_ip,
                host_port: 8080,
                container_port: 80,
            }],
            None => vec![],
        };
        networks.push(BridgeNet {
            device: n.name.into(),
            v4: Some(subnet),
            v6: None,
            icc: n.icc,
            internal: n.internal,
            gateway_mode: n.gw,
            masquerade: true,
            endpoints: vec![Endpoint {
                v4: Some(c1),
                v6: None,
                ports,
                seq: networks.len() as u64,
            }],
        });
    }
    DockerFirewall {
        version,
        userland_proxy,
        networks,
    }
}

fn new_daemon(v: u32) -> DockerFirewall {
    doc_fw(v, true, vec![])
}
fn usernet_portmap(v: u32) -> DockerFirewall {
    doc_fw(v, true, vec![net("bridge1")])
}
fn usernet_portmap_noproxy(v: u32) -> DockerFirewall {
    doc_fw(v, false, vec![net("bridge1")])
}
fn usernet_portmap_noicc(v: u32) -> DockerFirewall {
    doc_fw(
        v,
        true,
        vec![Net {
            icc: false,
            ..net("bridge1")
        }],
    )
}
fn usernet_internal(v: u32) -> DockerFirewall {
    doc_fw(
        v,
        true,
        vec![
            Net {
                internal: true,
                publish: None,
                ..net("bridgeICC")
            },
            Net {
                internal: true,
                icc: false,
                publish: None,
                ..net("bridgeNoICC")
            },
        ],
    )
}
fn usernet_portmap_routed(v: u32) -> DockerFirewall {
    doc_fw(
        v,
        true,
        vec![Net {
            gw: GatewayMode::Routed,
            ..net("bridge1")
        }],
    )
}
fn usernet_portmap_natunprot(v: u32) -> DockerFirewall {
    doc_fw(
        v,
        true,
        vec![Net {
            gw: GatewayMode::NatUnprotected,
            ..net("bridge1")
        }],
    )
}
fn usernet_portmap_lo(v: u32) -> DockerFirewall {
    doc_fw(
        v,
        true,
        vec![Net {
            publish: Some(Some(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            ..net("bridge1")
        }],
    )
}

#[test]
fn v29_new_daemon() {
    check_doc(V29, "new-daemon", &new_daemon(29));
}
#[test]
fn v29_usernet_portmap() {
    check_doc(V29, "usernet-portmap", &usernet_portmap(29));
}
#[test]
fn v29_usernet_portmap_noproxy() {
    check_doc(V29, "usernet-portmap-noproxy", &usernet_portmap_noproxy(29));
}
#[test]
fn v29_usernet_portmap_noicc() {
    check_doc(V29, "usernet-portmap-noicc", &usernet_portmap_noicc(29));
}
#[test]
fn v29_usernet_internal() {
    check_doc(V29, "usernet-internal", &usernet_internal(29));
}
#[test]
fn v29_usernet_portmap_routed() {
    check_doc(V29, "usernet-portmap-routed", &usernet_portmap_routed(29));
}
#[test]
fn v29_usernet_portmap_natunprot() {
    check_doc(V29, "usernet-portmap-natunprot", &usernet_portmap_natunprot(29));
}
#[test]
fn v29_usernet_portmap_lo() {
    check_doc(V29, "usernet-portmap-lo", &usernet_portmap_lo(29));
}
#[test]
fn v28_new_daemon() {
    check_doc(V28, "new-daemon", &new_daemon(28));
}
#[test]
fn v28_usernet_portmap() {
    check_doc(V28, "usernet-portmap", &usernet_portmap(28));
}
#[test]
fn v28_usernet_portmap_noproxy() {
    check_doc(V28, "usernet-portmap-noproxy", &usernet_portmap_noproxy(28));
}
#[test]
fn v28_usernet_portmap_noicc() {
    check_doc(V28, "usernet-portmap-noicc", &usernet_portmap_noicc(28));
}
#[test]
fn v28_usernet_internal() {
    check_doc(V28, "usernet-internal", &usernet_internal(28));
}
#[test]
fn v28_usernet_portmap_routed() {
    check_doc(V28, "usernet-portmap-routed", &usernet_portmap_routed(28));
}
#[test]
fn v28_usernet_portmap_natunprot() {
    check_doc(V28, "usernet-portmap-natunprot", &usernet_portmap_natunprot(28));
}
#[test]
fn v28_usernet_portmap_lo() {
    check_doc(V28, "usernet-portmap-lo", &usernet_portmap_lo(28));
}

// --- the iptabler unit test's goldens (IPv4 and IPv6, one network) ---

/// `TestIptabler`'s network: `br-dummy`, 192.168.0.0/24 and fd49:efd7:54aa::/64, one
/// endpoint (192.168.0.2, fd49:efd7:54aa::1) with 8080→80/tcp bound on 0.0.0.0 and ::
/// (or 127.0.0.1 and ::1).
fn iptabler_fw(
    version: u32,
    hairpin: bool,
    internal: bool,
    icc: bool,
    gw: GatewayMode,
    bind_lh: bool,
) -> DockerFirewall {
    let (h4, h6) = if bind_lh {
        (IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST))
    } else {
        (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        )
    };
    let pb = |h| PortBinding {
        l4: L4::Tcp,
        host_ip: Some(h),
        host_port: 8080,
        container_port: 80,
    };
    DockerFirewall {
        version,
        userland_proxy: !hairpin,
        networks: vec![BridgeNet {
            device: "br-dummy".into(),
            v4: Some("192.168.0.0/24".parse().unwrap()),
            v6: Some("fd49:efd7:54aa::/64".parse().unwrap()),
            icc,
            internal,
            gateway_mode: gw,
            masquerade: true,
            endpoints: vec![Endpoint {
                v4: Some(Ipv4Addr::new(192, 168, 0, 2)),
                v6: Some("fd49:efd7:54aa::1".parse().unwrap()),
                ports: vec![pb(h4), pb(h6)],
                seq: 0,
            }],
        }],
    }
}

/// Compares `iptables-save -t raw|filter|nat` with the golden file. The unit test runs
/// the iptabler without libnetwork's controller, so there is no DOCKER-USER chain:
/// those two lines are taken out of ours.
fn check_golden(tag: &str, config: &str, fam: &str, fw: &DockerFirewall) {
    let rs = if fam == "iptables" {
        ruleset_v4(fw)
    } else {
        ruleset_v6(fw)
    };
    let golden = fixture(&format!("iptabler/{tag}/{config}__{fam}.golden"));
    let mut want: Vec<(TableId, Vec<String>)> = Vec::new();
    for line in golden.lines() {
        if line.starts_with('#') || line.is_empty() || line == "COMMIT" {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            want.push((table_id(name), Vec::new()));
        } else {
            want.last_mut()
                .expect("golden starts with a table")
                .1
                .push(line.to_string());
        }
    }
    assert_eq!(want.len(), 3, "{config}: raw, filter and nat expected");
    let got = saved_tables(&rs);
    for (t, w) in want {
        let g: Vec<String> = got
            .iter()
            .find(|(id, _)| *id == t)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l != ":DOCKER-USER - [0:0]" && l != "-A FORWARD -j DOCKER-USER")
            .collect();
        assert_lines(&format!("{tag} {config} {fam} *{}", t.name()), &g, &w);
    }
}

fn check_iptabler(version: u32, hairpin: bool, internal: bool, icc: bool, gw: GatewayMode, bind_lh: bool) {
    let tag = if version == 28 { V28 } else { V29 };
    let config = if internal {
        format!("hairpin={hairpin},internal=true,icc={icc}")
    } else {
        let gwm = match gw {
            GatewayMode::Nat => "nat",
            GatewayMode::NatUnprotected => "nat-unprotected",
            GatewayMode::Routed => "routed",
        };
        format!("hairpin={hairpin},internal=false,icc={icc},masq=true,snat=false,gwm={gwm},bindlh={bind_lh}")
    };
    let fw = iptabler_fw(version, hairpin, internal, icc, gw, bind_lh);
    check_golden(tag, &config, "iptables", &fw);
    // The model's gateway mode is IPv4's; IPv6 stays nat, so only nat goldens apply.
    if gw == GatewayMode::Nat {
        check_golden(tag, &config, "ip6tables", &fw);
    }
}

#[test]
fn iptabler_goldens_v4_and_v6() {
    for v in [29, 28] {
        check_iptabler(v, false, false, true, GatewayMode::Nat, false);
        check_iptabler(v, false, false, true, GatewayMode::Nat, true);
        check_iptabler(v, true, false, true, GatewayMode::Nat, false);
        check_iptabler(v, true, false, false, GatewayMode::Nat, true);
        check_iptabler(v, false, false, true, GatewayMode::NatUnprotected, false);
        check_iptabler(v, true, false, false, GatewayMode::NatUnprotected, true);
        check_iptabler(v, false, true, true, GatewayMode::Nat, false);
        check_iptabler(v, true, true, false, GatewayMode::Nat, false);
    }
}

// --- order and notes beyond the docs ---

fn rules_of(rs: &Ruleset, t: TableId, chain: &str) -> Vec<String> {
    rs.table(t)
        .chain(chain)
        .map(|c| c.rules.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default()
}

/// Two published networks: per-port ACCEPTs are inserted (newest container first,
/// across networks) ahead of the DROPs appended per network in creation order;
/// masquerades are inserted (newest network first); raw drops and DNATs are appended
/// in container start order, whatever network each container is on.
#[test]
fn rule_order_follows_network_creation_and_container_start() {
    let mut fw = doc_fw(29, true, vec![net("bridge1"), net("bridge2")]);
    // A second container on bridge1 publishing 443, started after bridge2's.
    fw.networks[1].endpoints.push(Endpoint {
        v4: Some(Ipv4Addr::new(192, 0, 2, 3)),
        v6: None,
        ports: vec![PortBinding {
            l4: L4::Tcp,
            host_ip: None,
            host_port: 8443,
            container_port: 443,
        }],
        seq: 10,
    });
    let rs = ruleset_v4(&fw);
    assert_eq!(
        rules_of(&rs, TableId::Filter, "DOCKER"),
        [
            "-d 192.0.2.3/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 443 -j ACCEPT",
            "-d 198.51.100.2/32 ! -i bridge2 -o bridge2 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT",
            "! -i docker0 -o docker0 -j DROP",
            "! -i bridge1 -o bridge1 -j DROP",
            "! -i bridge2 -o bridge2 -j DROP",
        ]
    );
    assert_eq!(
        rules_of(&rs, TableId::Nat, "POSTROUTING"),
        [
            "-s 198.51.100.0/24 ! -o bridge2 -j MASQUERADE",
            "-s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE",
            "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        ]
    );
    assert_eq!(
        rules_of(&rs, TableId::Nat, "DOCKER"),
        [
            "! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80",
            "! -i bridge2 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 198.51.100.2:80",
            "! -i bridge1 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 192.0.2.3:443",
        ]
    );
    assert_eq!(
        rules_of(&rs, TableId::Raw, "PREROUTING"),
        [
            "-d 192.0.2.2/32 ! -i bridge1 -j DROP",
            "-d 198.51.100.2/32 ! -i bridge2 -j DROP",
            "-d 192.0.2.3/32 ! -i bridge1 -j DROP",
        ]
    );
}

/// A container's ports are programmed sorted by container port then protocol (the
/// port mapper's order), and a rule already in a chain is not added twice (two host
/// ports for one container port share one filter ACCEPT).
#[test]
fn ports_sorted_and_duplicates_skipped() {
    let mut fw = doc_fw(
        29,
        true,
        vec![Net {
            publish: None,
            ..net("bridge1")
        }],
    );
    let pb = |l4, host_port, container_port| PortBinding {
        l4,
        host_ip: None,
        host_port,
        container_port,
    };
    fw.networks[1].endpoints[0].ports = vec![
        pb(L4::Udp, 53, 53),
        pb(L4::Tcp, 8081, 80),
        pb(L4::Tcp, 53, 53),
        pb(L4::Tcp, 8080, 80),
    ];
    let rs = ruleset_v4(&fw);
    assert_eq!(
        rules_of(&rs, TableId::Nat, "DOCKER"),
        [
            "! -i bridge1 -p tcp -m tcp --dport 53 -j DNAT --to-destination 192.0.2.2:53",
            "! -i bridge1 -p udp -m udp --dport 53 -j DNAT --to-destination 192.0.2.2:53",
            "! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80",
            "! -i bridge1 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 192.0.2.2:80",
        ]
    );
    assert_eq!(
        rules_of(&rs, TableId::Filter, "DOCKER"),
        [
            "-d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT",
            "-d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p udp -m udp --dport 53 -j ACCEPT",
            "-d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 53 -j ACCEPT",
            "! -i docker0 -o docker0 -j DROP",
            "! -i bridge1 -o bridge1 -j DROP",
        ]
    );
}

fn note_of(rs: &Ruleset, t: TableId, chain: &str, text: &str) -> RuleNote {
    let c = rs
        .table(t)
        .chain(chain)
        .unwrap_or_else(|| panic!("no chain {chain}"));
    c.rules
        .iter()
        .find(|r| r.to_string() == text)
        .unwrap_or_else(|| panic!("no rule {text} in {chain}"))
        .note
}

/// Each of Docker's drops says why it exists, so a drop reason can name it.
#[test]
fn notes_tell_docker_rules_apart() {
    let rs = ruleset_v4(&usernet_portmap_lo(29));
    assert_eq!(
        note_of(
            &rs,
            TableId::Raw,
            "PREROUTING",
            "-d 192.0.2.2/32 ! -i bridge1 -j DROP"
        ),
        RuleNote::DockerDirectAccess
    );
    assert_eq!(
        note_of(
            &rs,
            TableId::Raw,
            "PREROUTING",
            "-d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP"
        ),
        RuleNote::DockerLoopbackPublish
    );
    assert_eq!(
        note_of(&rs, TableId::Filter, "DOCKER", "! -i bridge1 -o bridge1 -j DROP"),
        RuleNote::DockerDefaultDrop
    );
    assert_eq!(
        note_of(
            &rs,
            TableId::Nat,
            "DOCKER",
            "-d 127.0.0.1/32 ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80"
        ),
        RuleNote::DockerPublish
    );
    assert_eq!(
        note_of(
            &rs,
            TableId::Nat,
            "POSTROUTING",
            "-s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE"
        ),
        RuleNote::DockerMasquerade
    );
    let rs = ruleset_v4(&usernet_internal(29));
    assert_eq!(
        note_of(
            &rs,
            TableId::Filter,
            "DOCKER-INTERNAL",
            "! -d 192.0.2.0/24 -i bridgeICC -j DROP"
        ),
        RuleNote::DockerInternal
    );
    assert_eq!(
        note_of(
            &rs,
            TableId::Filter,
            "DOCKER-FORWARD",
            "-i bridgeNoICC -o bridgeNoICC -j DROP"
        ),
        RuleNote::DockerIcc
    );
    let rs = ruleset_v4(&usernet_portmap(28));
    assert_eq!(
        note_of(
            &rs,
            TableId::Filter,
            "DOCKER-ISOLATION-STAGE-2",
            "-o docker0 -j DROP"
        ),
        RuleNote::DockerIsolation
    );
}

/// iptables-save lists built-in chains first, then user chains by name, whatever the
/// order they were created in.
#[test]
fn save_sorts_user_chains_after_builtins() {
    let mut rs = Ruleset::default();
    rs.new_chain(TableId::Filter, "ZED");
    rs.append(TableId::Filter, "ZED", Rule::jump(Target::Accept));
    rs.new_chain(TableId::Filter, "DOCKER-USER");
    rs.append(TableId::Filter, "FORWARD", Rule::jump(Target::Jump("ZED".into())));
    rs.append(TableId::Filter, "DOCKER-USER", Rule::jump(Target::Return));
    assert_eq!(
        rs.save(),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :DOCKER-USER - [0:0]\n:ZED - [0:0]\n-A FORWARD -j ZED\n-A DOCKER-USER -j RETURN\n\
         -A ZED -j ACCEPT\nCOMMIT\n"
    );
}

/// IPv6: chains and jumps exist with no IPv6 network (ip6tables is on by default); a
/// dual-stack network gets the same shapes with `::1/128`, `ipv6-icmp` never, and
/// `! -s fe80::/10` on DNAT.
#[test]
fn ipv6_without_v6_networks_has_only_docker_chains() {
    let rs = ruleset_v6(&usernet_portmap(29));
    assert_eq!(
        list_rules(&rs, "nat"),
        [
            "-P PREROUTING ACCEPT",
            "-P INPUT ACCEPT",
            "-P OUTPUT ACCEPT",
            "-P POSTROUTING ACCEPT",
            "-N DOCKER",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER",
        ]
    );
    assert!(rules_of(&rs, TableId::Filter, "DOCKER").is_empty());
    assert!(rules_of(&rs, TableId::Raw, "PREROUTING").is_empty());
}

/// `com.docker.network.bridge.enable_ip_masquerade=false` removes exactly the
/// network's `-s SUBNET ! -o BRIDGE -j MASQUERADE` from nat POSTROUTING (moby's
/// `setupNonInternalNetworkRules` programs it only `if n.config.EnableIPMasquerade`);
/// docker0's rule and the network's published-port DNAT stay.
#[test]
fn enable_ip_masquerade_false_drops_only_the_subnet_masquerade() {
    for v in [28, 29] {
        let mut fw = usernet_portmap(v);
        let before = list_rules(&ruleset_v4(&fw), "nat POSTROUTING");
        let masq = "-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE";
        assert!(before.iter().any(|r| r == masq), "v{v}: {before:?}");
        fw.networks[1].masquerade = false;
        let rs = ruleset_v4(&fw);
        let after = list_rules(&rs, "nat POSTROUTING");
        assert!(!after.iter().any(|r| r == masq), "v{v}: {after:?}");
        assert!(
            after
                .iter()
                .any(|r| r.contains("-s 172.17.0.0/16") && r.contains("MASQUERADE")),
            "v{v}: docker0 keeps its masquerade: {after:?}"
        );
        let docker = list_rules(&rs, "nat DOCKER");
        assert!(
            docker.iter().any(|r| r.contains("DNAT")),
            "v{v}: published ports are still DNATed"
        );
        // 28.x programs its skip-DNAT RETURN for the network inside the same
        // `if n.Masquerade` block: gone with the masquerade.
        assert!(
            !docker.iter().any(|r| r == "-A DOCKER -i bridge1 -j RETURN"),
            "v{v}: {docker:?}"
        );
    }
}
