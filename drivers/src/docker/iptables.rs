//! Docker's iptables rules as data: what `dockerd` (29.x, or 28.5 with
//! `daemon: { version: 28 }`) programs into the raw, nat and filter tables for a host's
//! bridge networks, containers and published ports — in the order it programs them
//! (network creation order; per-port rules as containers start).
//!
//! Reference: moby's `integration/network/bridge/iptablesdoc/` at tag `docker-v29.7.2`
//! (and `v28.5.2`), and `daemon/libnetwork/drivers/bridge/internal/iptabler/`
//! (`libnetwork/drivers/bridge/internal/iptabler/` at `v28.5.2`). The functions below
//! replay what the daemon does, call by call, so that rule order is Docker's:
//!
//! 1. driver start (`setupIPChains`): the chains, the nat PREROUTING/OUTPUT jumps, the
//!    DOCKER-FORWARD jumps (inserted in reverse);
//! 2. each network in creation order (`setupIPTables`): masquerade *inserted* at the
//!    head of POSTROUTING (so the newest network's comes first), DOCKER-FORWARD, DOCKER,
//!    DOCKER-CT and DOCKER-BRIDGE rules *appended*, internal networks' drops *inserted*;
//! 3. `setupUserChain`: DOCKER-USER, jumped to from the head of FORWARD;
//! 4. each container endpoint as it starts (`AddEndpoint`): the raw direct-access drop,
//!    appended; then its published ports (`AddPorts`, sorted as the port mapper sorts
//!    them): raw loopback drop and DNAT appended, the filter ACCEPT *inserted* at the
//!    head of DOCKER (ahead of every network's default DROP).
//!
//! As `iptables.Rule.Append`/`Insert` do, a rule already present anywhere in its chain
//! is not added twice.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::GatewayMode;
use crate::net::L4;
use crate::netfilter::{CtStates, Neg, PortRange, Proto, Rule, RuleNote, Ruleset, TableId, Target};

/// What Docker's rules depend on, for one host.
#[derive(Clone, Debug)]
pub struct DockerFirewall {
    /// Docker release: 28 or 29 (anything else: 29).
    pub version: u32,
    /// daemon.json `userland-proxy`.
    pub userland_proxy: bool,
    /// Bridge networks in creation order (`docker0` first).
    pub networks: Vec<BridgeNet>,
}

/// One bridge network.
#[derive(Clone, Debug)]
pub struct BridgeNet {
    /// The bridge device (`docker0`, `br-…`, or `com.docker.network.bridge.name`).
    pub device: String,
    /// IPv4 subnet.
    pub v4: Option<Ipv4Net>,
    /// IPv6 subnet.
    pub v6: Option<Ipv6Net>,
    /// Inter-container communication.
    pub icc: bool,
    /// `internal: true`.
    pub internal: bool,
    /// `com.docker.network.bridge.gateway_mode_ipv4`.
    pub gateway_mode: GatewayMode,
    /// `com.docker.network.bridge.enable_ip_masquerade`: the subnet's MASQUERADE rule.
    pub masquerade: bool,
    /// Endpoints of running containers, in the order they started.
    pub endpoints: Vec<Endpoint>,
}

/// A running container's endpoint on a bridge network.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// IPv4 address.
    pub v4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub v6: Option<Ipv6Addr>,
    /// Published ports (only on the container's gateway endpoint).
    pub ports: Vec<PortBinding>,
    /// When it was created: endpoints are programmed in this order across networks,
    /// as containers start (equal values keep their network order).
    pub seq: u64,
}

/// One published port (`-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBinding {
    /// Transport.
    pub l4: L4,
    /// Host address (`None` = every address).
    pub host_ip: Option<IpAddr>,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// The IPv4 tables Docker programs for `fw`.
pub fn ruleset_v4(fw: &DockerFirewall) -> Ruleset {
    Programmer::new(fw, Family::V4).run(fw)
}

/// The IPv6 tables Docker programs for `fw` (networks with `enable_ipv6`). The chains
/// and jumps exist even with no IPv6 network, as `ip6tables: true` (the default since
/// Docker 27) sets them up at daemon start.
pub fn ruleset_v6(fw: &DockerFirewall) -> Ruleset {
    Programmer::new(fw, Family::V6).run(fw)
}

// Chain names (iptabler.go, firewall_linux.go).
const DOCKER: &str = "DOCKER";
const DOCKER_FORWARD: &str = "DOCKER-FORWARD";
const DOCKER_BRIDGE: &str = "DOCKER-BRIDGE";
const DOCKER_CT: &str = "DOCKER-CT";
const DOCKER_INTERNAL: &str = "DOCKER-INTERNAL";
const DOCKER_USER: &str = "DOCKER-USER";
const ISOLATION_1: &str = "DOCKER-ISOLATION-STAGE-1";
const ISOLATION_2: &str = "DOCKER-ISOLATION-STAGE-2";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// One network as one family sees it (`firewaller.NetworkConfigFam`).
struct NetFam<'a> {
    net: &'a BridgeNet,
    /// The subnet, masked.
    prefix: IpNet,
    /// `gateway_mode == routed` for this family (no NAT; published ports only opened).
    routed: bool,
    /// `gateway_mode == nat-unprotected` for this family.
    unprotected: bool,
}

/// One port binding in one family, after the port mapper's normalisation.
struct Binding {
    proto: Proto,
    container: IpAddr,
    container_port: u16,
    /// `None`: every address (`0.0.0.0` / `::`).
    host_ip: Option<IpAddr>,
    /// 0 when NAT is off (routed): the port is only opened in the filter.
    host_port: u16,
}

/// Replays the daemon's iptables calls for one family into a [`Ruleset`].
struct Programmer {
    rs: Ruleset,
    fam: Family,
    /// Docker 28.x layout (DOCKER-ISOLATION-STAGE-1/2, nat `-i BR -j RETURN`).
    v28: bool,
    /// `userland-proxy: false` (libnetwork calls it hairpin mode).
    hairpin: bool,
    /// Every rule programmed so far, by table and chain (notes cleared): `-C` in a
    /// hash probe rather than a text comparison with every rule of the chain.
    programmed: HashSet<(TableId, String, Rule)>,
}

impl Programmer {
    fn new(fw: &DockerFirewall, fam: Family) -> Self {
        Programmer {
            rs: Ruleset::default(),
            fam,
            v28: fw.version == 28,
            hairpin: !fw.userland_proxy,
            programmed: HashSet::new(),
        }
    }

    fn run(mut self, fw: &DockerFirewall) -> Ruleset {
        self.setup_chains();
        let nets: Vec<NetFam<'_>> = fw.networks.iter().filter_map(|n| self.net_fam(n)).collect();
        for n in &nets {
            self.network(n);
        }
        self.user_chain();
        let mut eps: Vec<(&NetFam<'_>, &Endpoint)> = nets
            .iter()
            .flat_map(|n| n.net.endpoints.iter().map(move |ep| (n, ep)))
            .collect();
        eps.sort_by_key(|(_, ep)| ep.seq);
        for (n, ep) in eps {
            self.endpoint(n, ep);
            self.ports(n, ep);
        }
        self.rs
    }

    fn net_fam<'a>(&self, net: &'a BridgeNet) -> Option<NetFam<'a>> {
        let (prefix, mode) = match self.fam {
            Family::V4 => (IpNet::V4(net.v4?.trunc()), net.gateway_mode),
            // The model's gateway mode is `gateway_mode_ipv4`; IPv6 keeps the default.
            Family::V6 => (IpNet::V6(net.v6?.trunc()), GatewayMode::Nat),
        };
        Some(NetFam {
            net,
            prefix,
            routed: mode == GatewayMode::Routed,
            unprotected: mode == GatewayMode::NatUnprotected,
        })
    }

    /// `iptables -A`, unless the rule is already in the chain (`Rule.Append`).
    fn append(&mut self, t: TableId, chain: &str, rule: Rule) {
        if self.first_time(t, chain, &rule) {
            self.rs.append(t, chain, rule);
        }
    }

    /// `iptables -I` at the head, unless the rule is already in the chain
    /// (`Rule.Insert`, `EnsureJumpRule` on a fresh table).
    fn insert(&mut self, t: TableId, chain: &str, rule: Rule) {
        if self.first_time(t, chain, &rule) {
            self.rs.insert(t, chain, rule);
        }
    }

    /// Whether `rule` is not in `chain` yet (and remembers it is now).
    fn first_time(&mut self, t: TableId, chain: &str, rule: &Rule) -> bool {
        let key = Rule {
            note: RuleNote::default(),
            ..rule.clone()
        };
        self.programmed.insert((t, chain.to_string(), key))
    }

    fn loopback_net(&self) -> IpNet {
        match self.fam {
            Family::V4 => IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            Family::V6 => IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        }
    }

    /// `setupIPChains` (and `addNATJumpRules`).
    fn setup_chains(&mut self) {
        self.rs.new_chain(TableId::Nat, DOCKER);
        self.rs.new_chain(TableId::Filter, DOCKER);
        self.rs.new_chain(TableId::Filter, DOCKER_FORWARD);
        self.rs.new_chain(TableId::Filter, DOCKER_BRIDGE);
        self.rs.new_chain(TableId::Filter, DOCKER_CT);
        let second = if self.v28 {
            self.rs.new_chain(TableId::Filter, ISOLATION_1);
            self.rs.new_chain(TableId::Filter, ISOLATION_2);
            ISOLATION_1
        } else {
            self.rs.new_chain(TableId::Filter, DOCKER_INTERNAL);
            DOCKER_INTERNAL
        };
        let local = Rule {
            dst_local: Some(Neg::is(())),
            ..Rule::jump(Target::Jump(DOCKER.into()))
        };
        self.append(TableId::Nat, "PREROUTING", local.clone());
        // With docker-proxy, connections to loopback are the proxy's, not DNAT's.
        let output = Rule {
            dst: (!self.hairpin).then(|| Neg::not(self.loopback_net())),
            ..local
        };
        self.append(TableId::Nat, "OUTPUT", output);
        // (Re-)inserted at the top, in reverse order.
        self.insert(
            TableId::Filter,
            "FORWARD",
            Rule::jump(Target::Jump(DOCKER_FORWARD.into())),
        );
        self.insert(
            TableId::Filter,
            DOCKER_FORWARD,
            Rule::jump(Target::Jump(DOCKER_BRIDGE.into())),
        );
        self.insert(
            TableId::Filter,
            DOCKER_FORWARD,
            Rule::jump(Target::Jump(second.into())),
        );
        self.insert(
            TableId::Filter,
            DOCKER_FORWARD,
            Rule::jump(Target::Jump(DOCKER_CT.into())),
        );
    }

    /// `setupUserChain`: after the driver's chains, so its jump heads FORWARD.
    fn user_chain(&mut self) {
        self.rs.new_chain(TableId::Filter, DOCKER_USER);
        self.insert(
            TableId::Filter,
            "FORWARD",
            Rule::jump(Target::Jump(DOCKER_USER.into())),
        );
    }

    /// `network.setupIPTables`.
    fn network(&mut self, n: &NetFam<'_>) {
        let br = n.net.device.as_str();
        if n.net.internal {
            self.internal_network(n);
            return;
        }
        self.non_internal_network(n);
        // setDefaultForwardRule: appended, so per-port ACCEPTs (inserted) precede it.
        let (target, note) = if n.unprotected {
            (Target::Accept, RuleNote::User)
        } else {
            (Target::Drop, RuleNote::DockerDefaultDrop)
        };
        let default = Rule {
            in_if: Some(Neg::not(br.into())),
            out_if: Some(Neg::is(br.into())),
            ..Rule::jump(target)
        };
        self.append(TableId::Filter, DOCKER, default.noted(note));
        let ct = Rule {
            out_if: Some(Neg::is(br.into())),
            ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
            ..Rule::jump(Target::Accept)
        };
        self.append(TableId::Filter, DOCKER_CT, ct);
        let to_docker = Rule {
            out_if: Some(Neg::is(br.into())),
            ..Rule::jump(Target::Jump(DOCKER.into()))
        };
        self.append(TableId::Filter, DOCKER_BRIDGE, to_docker);
        if self.v28 {
            self.set_inc(n);
        }
    }

    /// `setupNonInternalNetworkRules` (no `host_ipv4` SNAT). The subnet's MASQUERADE
    /// rule only with `enable_ip_masquerade` (moby: `if n.Masquerade`);
    /// without it the containers' packets leave with their own source address.
    fn non_internal_network(&mut self, n: &NetFam<'_>) {
        let br = n.net.device.as_str();
        if !n.routed && n.net.masquerade {
            let masq = Rule {
                src: Some(Neg::is(n.prefix)),
                out_if: Some(Neg::not(br.into())),
                ..Rule::jump(Target::Masquerade)
            };
            self.insert(
                TableId::Nat,
                "POSTROUTING",
                masq.noted(RuleNote::DockerMasquerade),
            );
        }
        if self.v28 && !self.hairpin && n.net.masquerade {
            // 28.x: packets from the network itself skip DNAT, so docker-proxy (on the
            // host's address) serves them - inside moby's `if n.Masquerade` block, so a
            // network without masquerade gets no such rule.
            let skip = Rule {
                in_if: Some(Neg::is(br.into())),
                ..Rule::jump(Target::Return)
            };
            self.insert(TableId::Nat, DOCKER, skip);
        }
        if self.hairpin {
            // Without docker-proxy, the host's own connections DNATed into the network
            // leave with a host source address: masquerade them to the gateway's.
            let local = Rule {
                out_if: Some(Neg::is(br.into())),
                src_local: Some(Neg::is(())),
                ..Rule::jump(Target::Masquerade)
            };
            self.insert(
                TableId::Nat,
                "POSTROUTING",
                local.noted(RuleNote::DockerMasquerade),
            );
        }
        if !n.net.icc {
            self.append(
                TableId::Filter,
                DOCKER_FORWARD,
                icc_rule(br, Target::Drop).noted(RuleNote::DockerIcc),
            );
        }
        if n.routed {
            let proto = match self.fam {
                Family::V4 => Proto::Icmp,
                Family::V6 => Proto::Icmpv6,
            };
            let icmp = Rule {
                out_if: Some(Neg::is(br.into())),
                proto: Some(Neg::is(proto)),
                ..Rule::jump(Target::Accept)
            };
            self.append(TableId::Filter, DOCKER, icmp);
        }
        let out = Rule {
            in_if: Some(Neg::is(br.into())),
            out_if: (!n.net.icc).then(|| Neg::not(br.into())),
            ..Rule::jump(Target::Accept)
        };
        self.append(TableId::Filter, DOCKER_FORWARD, out);
    }

    /// `setupInternalNetworkRules`: drops inserted (so the newest network's come
    /// first), then the ICC rule appended to DOCKER-FORWARD.
    fn internal_network(&mut self, n: &NetFam<'_>) {
        let br = n.net.device.as_str();
        let chain = if self.v28 { ISOLATION_1 } else { DOCKER_INTERNAL };
        let v6 = self.fam == Family::V6;
        let in_drop = Rule {
            dst: Some(Neg::not(n.prefix)),
            in_if: Some(Neg::is(br.into())),
            out_if: v6.then(|| Neg::not(br.into())),
            ..Rule::jump(Target::Drop)
        };
        let out_drop = Rule {
            src: Some(Neg::not(n.prefix)),
            in_if: v6.then(|| Neg::not(br.into())),
            out_if: Some(Neg::is(br.into())),
            ..Rule::jump(Target::Drop)
        };
        self.insert(TableId::Filter, chain, in_drop.noted(RuleNote::DockerInternal));
        self.insert(TableId::Filter, chain, out_drop.noted(RuleNote::DockerInternal));
        if n.net.icc {
            self.append(TableId::Filter, DOCKER_FORWARD, icc_rule(br, Target::Accept));
        } else {
            self.append(
                TableId::Filter,
                DOCKER_FORWARD,
                icc_rule(br, Target::Drop).noted(RuleNote::DockerIcc),
            );
        }
    }

    /// 28.x `setINC`: inter-network isolation in two stages.
    fn set_inc(&mut self, n: &NetFam<'_>) {
        let br = n.net.device.as_str();
        if n.routed {
            // Anything may enter a routed network here (DOCKER filters by port), and
            // its replies may reach whichever network asked.
            let ret = Rule {
                out_if: Some(Neg::is(br.into())),
                ..Rule::jump(Target::Return)
            };
            self.insert(TableId::Filter, ISOLATION_1, ret);
            let replies = Rule {
                in_if: Some(Neg::is(br.into())),
                ctstate: Some(Neg::is(CtStates::RELATED.with(CtStates::ESTABLISHED))),
                ..Rule::jump(Target::Accept)
            };
            self.insert(TableId::Filter, ISOLATION_1, replies);
        }
        let stage1 = Rule {
            in_if: Some(Neg::is(br.into())),
            out_if: Some(Neg::not(br.into())),
            ..Rule::jump(Target::Jump(ISOLATION_2.into()))
        };
        self.append(
            TableId::Filter,
            ISOLATION_1,
            stage1.noted(RuleNote::DockerIsolation),
        );
        let stage2 = Rule {
            out_if: Some(Neg::is(br.into())),
            ..Rule::jump(Target::Drop)
        };
        self.insert(
            TableId::Filter,
            ISOLATION_2,
            stage2.noted(RuleNote::DockerIsolation),
        );
    }

    /// `AddEndpoint` → `filterDirectAccess`: remote hosts routing straight to the
    /// container's address are dropped before conntrack, unless they come through the
    /// bridge itself.
    fn endpoint(&mut self, n: &NetFam<'_>, ep: &Endpoint) {
        if n.net.internal || n.unprotected || n.routed {
            return;
        }
        let Some(addr) = self.ep_addr(ep) else {
            return;
        };
        let drop = Rule {
            dst: Some(Neg::is(IpNet::from(addr))),
            in_if: Some(Neg::not(n.net.device.clone())),
            ..Rule::jump(Target::Drop)
        };
        self.append(
            TableId::Raw,
            "PREROUTING",
            drop.noted(RuleNote::DockerDirectAccess),
        );
    }

    fn ep_addr(&self, ep: &Endpoint) -> Option<IpAddr> {
        match self.fam {
            Family::V4 => ep.v4.map(IpAddr::V4),
            Family::V6 => ep.v6.map(IpAddr::V6),
        }
    }

    /// The endpoint's published ports in this family, as `sortAndNormPBs` orders them:
    /// by container port, protocol, host port, host address.
    fn bindings(&self, n: &NetFam<'_>, ep: &Endpoint) -> Vec<Binding> {
        let Some(container) = self.ep_addr(ep) else {
            return Vec::new();
        };
        let mut out: Vec<Binding> = ep
            .ports
            .iter()
            .filter_map(|p| {
                let proto = match p.l4 {
                    L4::Tcp => Proto::Tcp,
                    L4::Udp => Proto::Udp,
                    // Docker publishes tcp, udp and sctp only; sctp is not modelled.
                    _ => return None,
                };
                // A host address of the other family is not this family's binding (a
                // host-IPv6 → container-IPv4 binding is docker-proxy's alone).
                if p.host_ip.is_some_and(|h| h.is_ipv4() != (self.fam == Family::V4)) {
                    return None;
                }
                let host_ip = p.host_ip.filter(|h| !h.is_unspecified());
                Some(if n.routed {
                    // The routed port mapper opens the container's port; no host port.
                    Binding {
                        proto,
                        container,
                        container_port: p.container_port,
                        host_ip: None,
                        host_port: 0,
                    }
                } else {
                    Binding {
                        proto,
                        container,
                        container_port: p.container_port,
                        host_ip,
                        host_port: p.host_port,
                    }
                })
            })
            .collect();
        out.sort_by_key(|b| (b.container_port, b.proto.number(), b.host_port, b.host_ip));
        out
    }

    /// `AddPorts` → `setPerPortIptables` for each binding.
    fn ports(&mut self, n: &NetFam<'_>, ep: &Endpoint) {
        if n.net.internal {
            return;
        }
        let br = n.net.device.as_str();
        for b in self.bindings(n, ep) {
            let dport = Some(Neg::is(PortRange::one(b.container_port)));
            // filterPortMappedOnLoopback: a port published on 127.0.0.1 is for the host
            // alone; the kernel would otherwise route remote packets to it in.
            if let Some(IpAddr::V4(h)) = b.host_ip
                && b.host_port != 0
                && h.is_loopback()
            {
                let drop = Rule {
                    dst: Some(Neg::is(IpNet::from(IpAddr::V4(h)))),
                    in_if: Some(Neg::not("lo".into())),
                    proto: Some(Neg::is(b.proto)),
                    dport: Some(Neg::is(PortRange::one(b.host_port))),
                    ..Rule::jump(Target::Drop)
                };
                self.append(
                    TableId::Raw,
                    "PREROUTING",
                    drop.noted(RuleNote::DockerLoopbackPublish),
                );
            }
            if b.host_port != 0 {
                // setPerPortNAT.
                let dnat = Rule {
                    src: (self.fam == Family::V6).then(|| Neg::not(link_local())),
                    dst: b.host_ip.map(|h| Neg::is(IpNet::from(h))),
                    in_if: (!self.hairpin).then(|| Neg::not(br.into())),
                    proto: Some(Neg::is(b.proto)),
                    dport: Some(Neg::is(PortRange::one(b.host_port))),
                    ..Rule::jump(Target::Dnat {
                        addr: b.container,
                        port: Some(PortRange::one(b.container_port)),
                    })
                };
                self.append(TableId::Nat, DOCKER, dnat.noted(RuleNote::DockerPublish));
                if self.hairpin {
                    // A container reaching its own published port comes back to itself.
                    let me = Some(Neg::is(IpNet::from(b.container)));
                    let masq = Rule {
                        src: me.clone(),
                        dst: me,
                        proto: Some(Neg::is(b.proto)),
                        dport: dport.clone(),
                        ..Rule::jump(Target::Masquerade)
                    };
                    self.append(
                        TableId::Nat,
                        "POSTROUTING",
                        masq.noted(RuleNote::DockerMasquerade),
                    );
                }
            }
            if !n.unprotected {
                // setPerPortForwarding: inserted, so ahead of every network's DROP.
                let accept = Rule {
                    dst: Some(Neg::is(IpNet::from(b.container))),
                    in_if: Some(Neg::not(br.into())),
                    out_if: Some(Neg::is(br.into())),
                    proto: Some(Neg::is(b.proto)),
                    dport,
                    ..Rule::jump(Target::Accept)
                };
                self.insert(TableId::Filter, DOCKER, accept.noted(RuleNote::DockerPublish));
            }
        }
    }
}

/// `-i BR -o BR -j T` (setIcc).
fn icc_rule(br: &str, t: Target) -> Rule {
    Rule {
        in_if: Some(Neg::is(br.into())),
        out_if: Some(Neg::is(br.into())),
        ..Rule::jump(t)
    }
}

/// `fe80::/10`: link-local sources are never DNATed (setPerPortNAT).
fn link_local() -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
    ))
}
