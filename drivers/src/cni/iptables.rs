//! The iptables rules CNI's reference plugins program on a node, as data, replayed in
//! the order the plugins program them as containers are ADDed (each ADD runs the
//! chain's plugins in configuration order):
//!
//! - bridge with `ipMasq` (`pkg/ip/ipmasq_iptables_linux.go`): nat chain
//!   `CNI-<hash>` per container, `-d SUBNET -j ACCEPT` and `! -d 224.0.0.0/4 -j
//!   MASQUERADE` appended, `POSTROUTING -s ADDR/32 -j CNI-<hash>` appended;
//! - portmap (`plugins/meta/portmap/portmap_iptables.go`, chain.go): with `snat`
//!   (default) `CNI-HOSTPORT-SETMARK` (`-j MARK --set-xmark 0x2000/0x2000`) and
//!   `CNI-HOSTPORT-MASQ` (`-m mark --mark 0x2000/0x2000 -j MASQUERADE`, its POSTROUTING
//!   jump *inserted* first); `CNI-HOSTPORT-DNAT` jumped to from PREROUTING and OUTPUT
//!   (`-m addrtype --dst-type LOCAL`, appended); per container `CNI-DN-<hash>` with,
//!   per mapping, `-s SUBNET` and `-s 127.0.0.1` jumps to SETMARK then the DNAT,
//!   entered from CNI-HOSTPORT-DNAT by protocol and `-m multiport --dports`;
//! - firewall (`plugins/meta/firewall/iptables.go`): `CNI-FORWARD` inserted first in
//!   FORWARD, `CNI-ADMIN` inserted first in CNI-FORWARD, then per address `-d ADDR/32
//!   -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT` and `-s ADDR/32 -j ACCEPT`.
//!
//! As go-iptables' `AppendUnique` and the plugins' `InsertUnique` do, a rule already
//! in its chain is not added twice. Chain names hash as `utils.FormatChainName`
//! does: `CNI-` (or `CNI-DN-`) + hex SHA-512 of network name + container id, cut to 28.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::sha512;
use crate::docker::iptables::PortBinding;
use crate::net::L4;
use crate::netfilter::{CtStates, Neg, PortRange, Proto, Rule, RuleNote, Ruleset, TableId, Target};

/// The plugins' rules on one node.
#[derive(Clone, Debug, Default)]
pub struct CniFirewall {
    /// Every ADD and DEL in the order they ran.
    pub events: Vec<CniEvent>,
}

/// One operation on the node.
#[derive(Clone, Debug)]
pub enum CniEvent {
    /// ADD: the plugins programmed their rules for the container.
    Add(CniAdd),
    /// DEL: the container's own rules and chains were removed; the shared chains
    /// (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) stay, as the plugins leave them.
    Del(CniAdd),
}

/// What one ADD programmed from.
#[derive(Clone, Debug)]
pub struct CniAdd {
    /// The network's name (`name` of the configuration).
    pub network: String,
    /// The container id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The container's address with its subnet's prefix.
    pub addr: Ipv4Net,
    /// The bridge device (`interfaces[0]` of the result; empty for macvlan/ipvlan).
    pub bridge: String,
    /// Which plugins of the chain program rules, in configuration order.
    pub plugins: Vec<RulePlugin>,
    /// portmap's mappings for this container.
    pub ports: Vec<PortBinding>,
}

/// A plugin that programs iptables rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulePlugin {
    /// bridge with `ipMasq: true`.
    IpMasq,
    /// portmap (`snat`, mark bit).
    Portmap {
        /// Masquerade hairpin and localhost connections.
        snat: bool,
        /// `markMasqBit` (default 13).
        mark_bit: u32,
    },
    /// firewall (admin chain name, ingress policy).
    Firewall {
        /// `iptablesAdminChainName` (default `CNI-ADMIN`).
        admin: String,
        /// `ingressPolicy`.
        ingress: IngressPolicy,
    },
}

/// The firewall plugin's `ingressPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IngressPolicy {
    /// `open` (default): no isolation chains.
    #[default]
    Open,
    /// `same-bridge`: traffic from other bridges into this one is dropped
    /// (CNI-ISOLATION-STAGE-1/2).
    SameBridge,
    /// `isolated`: also traffic between containers of this bridge.
    Isolated,
}

impl IngressPolicy {
    /// From the configuration's text.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "open" => IngressPolicy::Open,
            "same-bridge" => IngressPolicy::SameBridge,
            "isolated" => IngressPolicy::Isolated,
            _ => return None,
        })
    }

    /// Its name in configurations.
    pub fn name(self) -> &'static str {
        match self {
            IngressPolicy::Open => "open",
            IngressPolicy::SameBridge => "same-bridge",
            IngressPolicy::Isolated => "isolated",
        }
    }
}

/// `CNI-` + prefix + SHA-512 hex of `name + id`, 28 characters long.
pub fn chain_name(prefix: &str, name: &str, id: &str) -> String {
    let mut s = format!("CNI-{prefix}{}", sha512::hex(format!("{name}{id}").as_bytes()));
    s.truncate(28);
    s
}

/// `utils.FormatComment`: `name: "NET" id: "ID"`.
pub fn comment(name: &str, id: &str) -> String {
    format!("name: {name:?} id: {id:?}")
}

/// The IPv4 tables the plugins programmed for `fw`.
pub fn ruleset_v4(fw: &CniFirewall) -> Ruleset {
    let mut p = Programmer {
        rs: Ruleset::default(),
    };
    for e in &fw.events {
        match e {
            CniEvent::Add(add) => {
                for plugin in &add.plugins {
                    match plugin {
                        RulePlugin::IpMasq => p.ipmasq(add),
                        RulePlugin::Portmap { snat, mark_bit } => p.portmap(add, *snat, *mark_bit),
                        RulePlugin::Firewall { admin, ingress } => {
                            p.firewall(add, admin);
                            p.ingress_policy(add, *ingress);
                        }
                    }
                }
            }
            CniEvent::Del(add) => p.del(add),
        }
    }
    p.rs
}

struct Programmer {
    rs: Ruleset,
}

fn net(a: Ipv4Net) -> IpNet {
    IpNet::V4(a)
}

fn host(a: Ipv4Addr) -> IpNet {
    IpNet::V4(Ipv4Net::from(a))
}

impl Programmer {
    /// DEL in every plugin (reverse order does not matter: each removes its own).
    fn del(&mut self, add: &CniAdd) {
        let own = [
            chain_name("", &add.network, &add.container_id),
            chain_name("DN-", &add.network, &add.container_id),
        ];
        let a = host(add.addr.addr());
        for t in &mut self.rs.tables {
            t.chains.retain(|c| !own.contains(&c.name));
            for c in &mut t.chains {
                c.rules.retain(|r| {
                    let jumps_own = matches!(&r.target, Some(Target::Jump(j)) if own.contains(j));
                    // The firewall plugin's two rules for the address.
                    let fw = c.name == "CNI-FORWARD"
                        && (r.src.as_ref().is_some_and(|s| s.value == a)
                            || r.dst.as_ref().is_some_and(|s| s.value == a));
                    !jumps_own && !fw
                });
            }
        }
    }

    fn has(&self, t: TableId, chain: &str, r: &Rule) -> bool {
        self.rs
            .table(t)
            .chain(chain)
            .is_some_and(|c| c.rules.iter().any(|x| x == r))
    }

    fn append_unique(&mut self, t: TableId, chain: &str, r: Rule) {
        if !self.has(t, chain, &r) {
            self.rs.append(t, chain, r);
        }
    }

    fn insert_unique(&mut self, t: TableId, chain: &str, r: Rule) {
        if !self.has(t, chain, &r) {
            self.rs.insert(t, chain, r);
        }
    }

    fn ipmasq(&mut self, add: &CniAdd) {
        let chain = chain_name("", &add.network, &add.container_id);
        let c = comment(&add.network, &add.container_id);
        self.rs.new_chain(TableId::Nat, &chain);
        self.append_unique(
            TableId::Nat,
            &chain,
            Rule {
                dst: Some(Neg::is(net(add.addr.trunc()))),
                comment: Some(c.clone()),
                ..Rule::jump(Target::Accept)
            },
        );
        self.append_unique(
            TableId::Nat,
            &chain,
            Rule {
                dst: Some(Neg::not(
                    "224.0.0.0/4".parse().unwrap_or(IpNet::V4(Ipv4Net::default())),
                )),
                comment: Some(c.clone()),
                ..Rule::jump(Target::Masquerade)
            }
            .noted(RuleNote::DockerMasquerade),
        );
        self.append_unique(
            TableId::Nat,
            "POSTROUTING",
            Rule {
                src: Some(Neg::is(host(add.addr.addr()))),
                comment: Some(c),
                ..Rule::jump(Target::Jump(chain))
            },
        );
    }

    fn portmap(&mut self, add: &CniAdd, snat: bool, mark_bit: u32) {
        if add.ports.is_empty() {
            // portmap passes the previous result through: no rule, no chain.
            return;
        }
        let mark = 1u32 << mark_bit.min(31);
        if snat {
            self.rs.new_chain(TableId::Nat, "CNI-HOSTPORT-SETMARK");
            self.append_unique(
                TableId::Nat,
                "CNI-HOSTPORT-SETMARK",
                Rule {
                    comment: Some("CNI portfwd masquerade mark".into()),
                    ..Rule::jump(Target::Mark {
                        value: mark,
                        mask: mark,
                    })
                },
            );
            self.rs.new_chain(TableId::Nat, "CNI-HOSTPORT-MASQ");
            self.append_unique(
                TableId::Nat,
                "CNI-HOSTPORT-MASQ",
                Rule {
                    mark: Some(Neg::is((mark, mark))),
                    ..Rule::jump(Target::Masquerade)
                },
            );
            self.insert_unique(
                TableId::Nat,
                "POSTROUTING",
                Rule {
                    comment: Some("CNI portfwd requiring masquerade".into()),
                    ..Rule::jump(Target::Jump("CNI-HOSTPORT-MASQ".into()))
                },
            );
        }
        self.rs.new_chain(TableId::Nat, "CNI-HOSTPORT-DNAT");
        for entry in ["PREROUTING", "OUTPUT"] {
            self.append_unique(
                TableId::Nat,
                entry,
                Rule {
                    dst_local: Some(Neg::is(())),
                    ..Rule::jump(Target::Jump("CNI-HOSTPORT-DNAT".into()))
                },
            );
        }
        let dn = chain_name("DN-", &add.network, &add.container_id);
        self.rs.new_chain(TableId::Nat, &dn);
        for b in &add.ports {
            let proto = match b.l4 {
                L4::Udp => Proto::Udp,
                _ => Proto::Tcp,
            };
            // `-d HOSTIP` only for a specified IPv4 host address; an IPv6 one skips the
            // mapping in the IPv4 table.
            let dst = match b.host_ip {
                Some(IpAddr::V6(_)) => continue,
                Some(IpAddr::V4(a)) if !a.is_unspecified() => Some(Neg::is(host(a))),
                _ => None,
            };
            let base = Rule {
                dst,
                proto: Some(Neg::is(proto)),
                dport: Some(Neg::is(PortRange::one(b.host_port))),
                ..Rule::default()
            };
            if snat {
                // Hairpin (from the container's subnet) and localhost connections.
                for src in [net(add.addr.trunc()), host(Ipv4Addr::LOCALHOST)] {
                    self.append_unique(
                        TableId::Nat,
                        &dn,
                        Rule {
                            src: Some(Neg::is(src)),
                            target: Some(Target::Jump("CNI-HOSTPORT-SETMARK".into())),
                            ..base.clone()
                        },
                    );
                }
            }
            self.append_unique(
                TableId::Nat,
                &dn,
                Rule {
                    target: Some(Target::Dnat {
                        addr: IpAddr::V4(add.addr.addr()),
                        port: Some(PortRange::one(b.container_port)),
                    }),
                    ..base
                }
                .noted(RuleNote::DockerPublish),
            );
        }
        // Entry rules: one per protocol (sorted) with the ports as a multiport list.
        let c = format!("dnat name: {:?} id: {:?}", add.network, add.container_id);
        for proto in [Proto::Tcp, Proto::Udp] {
            let ports: Vec<u16> = add
                .ports
                .iter()
                .filter(|b| !matches!(b.host_ip, Some(IpAddr::V6(_))))
                .filter(|b| (b.l4 == L4::Udp) == (proto == Proto::Udp))
                .map(|b| b.host_port)
                .collect();
            // `splitPortList`: at most 15 ports per multiport rule.
            for chunk in dedup(ports).chunks(15).filter(|c| !c.is_empty()) {
                for r in multiport_rules(&c, proto, chunk, &dn) {
                    self.append_unique(TableId::Nat, "CNI-HOSTPORT-DNAT", r);
                }
            }
        }
    }

    fn firewall(&mut self, add: &CniAdd, admin: &str) {
        self.rs.new_chain(TableId::Filter, "CNI-FORWARD");
        self.rs.new_chain(TableId::Filter, admin);
        self.insert_unique(
            TableId::Filter,
            "FORWARD",
            Rule {
                comment: Some("CNI firewall plugin rules".into()),
                ..Rule::jump(Target::Jump("CNI-FORWARD".into()))
            },
        );
        self.insert_unique(
            TableId::Filter,
            "CNI-FORWARD",
            Rule {
                comment: Some("CNI firewall plugin admin overrides".into()),
                ..Rule::jump(Target::Jump(admin.into()))
            },
        );
        let a = host(add.addr.addr());
        self.append_unique(
            TableId::Filter,
            "CNI-FORWARD",
            Rule {
                dst: Some(Neg::is(a)),
                ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
                ..Rule::jump(Target::Accept)
            },
        );
        self.append_unique(
            TableId::Filter,
            "CNI-FORWARD",
            Rule {
                src: Some(Neg::is(a)),
                ..Rule::jump(Target::Accept)
            },
        );
    }
}

impl Programmer {
    /// `setupIsolationChains` (firewall's ingresspolicy.go), after the backend's rules.
    fn ingress_policy(&mut self, add: &CniAdd, policy: IngressPolicy) {
        if policy == IngressPolicy::Open || add.bridge.is_empty() {
            return;
        }
        const S1: &str = "CNI-ISOLATION-STAGE-1";
        const S2: &str = "CNI-ISOLATION-STAGE-2";
        let default = "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)".to_string();
        let named = format!("CNI firewall plugin rules (ingressPolicy: {})", policy.name());
        let br = add.bridge.clone();
        self.rs.new_chain(TableId::Filter, S1);
        self.rs.new_chain(TableId::Filter, S2);
        self.insert_unique(
            TableId::Filter,
            "FORWARD",
            Rule {
                comment: Some(default.clone()),
                ..Rule::jump(Target::Jump(S1.into()))
            },
        );
        self.insert_unique(
            TableId::Filter,
            S1,
            Rule {
                in_if: Some(Neg::is(br.clone())),
                out_if: Some(Neg::not(br.clone())),
                comment: Some(named.clone()),
                ..Rule::jump(Target::Jump(S2.into()))
            },
        );
        if policy == IngressPolicy::Isolated {
            self.insert_unique(
                TableId::Filter,
                S1,
                Rule {
                    in_if: Some(Neg::is(br.clone())),
                    out_if: Some(Neg::is(br.clone())),
                    comment: Some(named),
                    ..Rule::jump(Target::Drop)
                },
            );
        }
        self.append_unique(
            TableId::Filter,
            S1,
            Rule {
                comment: Some(default.clone()),
                ..Rule::jump(Target::Return)
            },
        );
        self.insert_unique(
            TableId::Filter,
            S2,
            Rule {
                out_if: Some(Neg::is(br)),
                comment: Some(default.clone()),
                ..Rule::jump(Target::Drop)
            },
        );
        self.append_unique(
            TableId::Filter,
            S2,
            Rule {
                comment: Some(default),
                ..Rule::jump(Target::Return)
            },
        );
    }
}

fn dedup(mut v: Vec<u16>) -> Vec<u16> {
    let mut seen = Vec::new();
    v.retain(|p| {
        let new = !seen.contains(p);
        seen.push(*p);
        new
    });
    v
}

/// The CNI-HOSTPORT-DNAT entry rule for `ports` (`splitPortList` joins them with
/// commas, in the order given).
fn multiport_rules(comment: &str, proto: Proto, ports: &[u16], dn: &str) -> Vec<Rule> {
    vec![Rule {
        proto: Some(Neg::is(proto)),
        multiport: Some(Neg::is(ports.iter().map(|p| PortRange::one(*p)).collect())),
        comment: Some(comment.to_string()),
        ..Rule::jump(Target::Jump(dn.to_string()))
    }]
}
