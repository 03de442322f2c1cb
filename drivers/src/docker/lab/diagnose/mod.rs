//! Causes a user understands: when a step's outcome is not what was expected, one plain
//! line naming what decided it (the route that captured the destination, the Docker
//! rule or setting and whether it is daemon-wide or per network, the listener bound to
//! 127.0.0.1, the policy…) and, where one is known, a hint of the fix.
//!
//! The diagnosis reads the model and the step's own trace; it never changes the lab.

use std::net::IpAddr;

use netloom_core::{DropReason, EventKind, Stage, TraceEvent};

mod ports;

use super::Lab;
use crate::docker::{Driver, ResolvedNetwork};
use crate::net::L4;
use crate::router::Node;

/// What the step tried.
#[derive(Clone, Copy, Debug)]
pub enum Attempt<'a> {
    /// A ping (`port` none), connect or transfer from `from` to `to`.
    Reach {
        /// The sender.
        from: &'a str,
        /// The address aimed at.
        to: IpAddr,
        /// The port (TCP/UDP).
        port: Option<u16>,
        /// The protocol.
        l4: L4,
        /// The name aimed at, when the step named its target.
        name: Option<&'a str>,
        /// The lookup of that name (the resolver's log), empty for an address.
        lookup: &'a [String],
    },
    /// A name lookup on `from`.
    Resolve {
        /// The asking machine.
        from: &'a str,
        /// The name.
        name: &'a str,
        /// The resolver's log of queries and answers.
        log: &'a [String],
    },
    /// Starting a container.
    Start {
        /// The container.
        name: &'a str,
        /// Docker's error, when the start failed.
        error: Option<&'a str>,
    },
}

/// One cause, with the fix where one is known.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// What decided the outcome, in one plain line.
    pub cause: String,
    /// What would change it.
    pub hint: Option<String>,
}

impl Finding {
    fn new(cause: impl Into<String>, hint: Option<String>) -> Finding {
        Finding {
            cause: cause.into(),
            hint,
        }
    }
}

/// A route as the diagnosis reads it.
struct RouteView {
    net: String,
    via: Option<IpAddr>,
    dev: String,
    default_via: Option<IpAddr>,
}

/// The first drop of the step that says something about the network.
struct Drop<'e> {
    reason: DropReason,
    elem: &'e str,
    detail: &'e str,
    /// The dropped frame, when the drop is an event of the trace.
    frame: Option<netloom_core::FrameId>,
}

impl Lab {
    /// Why `attempt` ended as it did: `succeeded` says whether it got through (a reply,
    /// a connection, an address). `events` are the step's trace events.
    pub fn diagnose(&self, attempt: &Attempt<'_>, succeeded: bool, events: &[TraceEvent]) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Attempt::Start { name, error } = attempt {
            self.why_not_started(name, *error, &mut out);
            return out;
        }
        if let Attempt::Reach {
            from,
            to,
            name: Some(name),
            lookup,
            ..
        } = attempt
        {
            self.lookup_story(from, name, Some(*to), lookup, &mut out);
        }
        if succeeded {
            if let Attempt::Resolve { from, name, log } = attempt {
                self.lookup_story(from, name, None, log, &mut out);
            }
            self.why_through(attempt, events, &mut out);
            if out.is_empty() {
                self.through_fallback(attempt, &mut out);
            }
        } else {
            if let Attempt::Resolve { from, name, log } = attempt {
                self.why_no_answer(from, name, log, &mut out);
            }
            if let Attempt::Reach {
                from, to, port, l4, ..
            } = attempt
            {
                self.why_not_reached(from, *to, *port, *l4, events, &mut out);
                if let Some(p) = port {
                    self.why_port_closed(from, *to, *p, *l4, &mut out);
                }
            }
            let drop = self.first_drop(events);
            if let Some(d) = &drop {
                self.why_dropped(attempt, d, events, &mut out);
            }
            if out.is_empty() {
                self.fallback(attempt, drop.as_ref(), events, &mut out);
            }
        }
        out.dedup();
        out
    }

    /// [`Lab::diagnose`] of a drop a real kernel made (under `emulate`): `reason` at
    /// `machine`, about `target`.
    pub fn diagnose_kernel_drop(
        &self,
        attempt: &Attempt<'_>,
        reason: DropReason,
        machine: &str,
        target: Option<IpAddr>,
    ) -> Vec<Finding> {
        let detail = target.map_or_else(String::new, |t| format!("{t} (by a real kernel)"));
        let d = Drop {
            reason,
            elem: machine,
            detail: &detail,
            frame: None,
        };
        let mut out = Vec::new();
        self.why_dropped(attempt, &d, &[], &mut out);
        out
    }

    fn first_drop<'e>(&'e self, events: &'e [TraceEvent]) -> Option<Drop<'e>> {
        events.iter().find_map(|e| match e.kind {
            EventKind::Dropped { reason, .. }
                if !matches!(
                    reason,
                    DropReason::NotForUs | DropReason::Malformed | DropReason::Unaccounted
                ) =>
            {
                Some(Drop {
                    reason,
                    elem: self.fabric.element_name(e.elem),
                    detail: &e.detail,
                    frame: Some(e.frame),
                })
            }
            _ => None,
        })
    }

    fn node_ref(&self, name: &str) -> Option<&Node> {
        self.fabric.element::<Node>(self.node(name)?)
    }

    fn is_container(&self, name: &str) -> bool {
        self.resolved.model.containers.iter().any(|c| c.name == name)
    }

    /// The networks (resolved) a container is attached to.
    fn networks_of(&self, container: &str) -> Vec<&ResolvedNetwork> {
        let m = &self.resolved.model;
        m.containers
            .iter()
            .position(|c| c.name == container)
            .map(|ci| {
                self.resolved.endpoints[ci]
                    .iter()
                    .map(|ep| &self.resolved.networks[ep.network])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The Docker host a container runs on.
    fn host_def_of(&self, container: &str) -> Option<&crate::docker::HostDef> {
        let c = self
            .resolved
            .model
            .containers
            .iter()
            .find(|c| c.name == container)?;
        self.host_of(c)
    }

    /// The container that owns `ip`, if any.
    fn container_with(&self, ip: IpAddr) -> Option<&str> {
        let m = &self.resolved.model;
        m.containers.iter().enumerate().find_map(|(ci, c)| {
            self.resolved.endpoints[ci]
                .iter()
                .any(|ep| ep.v4.map(IpAddr::V4) == Some(ip) || ep.v6.map(IpAddr::V6) == Some(ip))
                .then_some(c.name.as_str())
        })
    }

    /// The machine outside Docker (external, router, a host's NIC) that has `ip`.
    fn machine_outside_docker(&self, ip: IpAddr) -> Option<String> {
        let m = &self.resolved.model;
        m.externals
            .iter()
            .find(|e| e.address.addr() == ip)
            .map(|e| e.name.clone())
            .or_else(|| {
                m.routers
                    .iter()
                    .find(|r| {
                        r.interfaces
                            .iter()
                            .any(|i| i.address.is_some_and(|a| a.addr() == ip))
                    })
                    .map(|r| r.name.clone())
            })
            .or_else(|| {
                m.hosts
                    .iter()
                    .find(|h| {
                        h.interfaces
                            .iter()
                            .any(|i| i.address.is_some_and(|a| a.addr() == ip))
                    })
                    .map(|h| h.name.clone())
            })
    }

    /// A network that holds `ip` in one of its subnets.
    fn network_holding(&self, ip: IpAddr, host: Option<&str>) -> Option<&ResolvedNetwork> {
        self.resolved.networks.iter().find(|n| {
            host.is_none_or(|h| n.host == h || n.hosts.iter().any(|x| x == h))
                && match ip {
                    IpAddr::V4(a) => {
                        n.v4.is_some_and(|(s, _)| s.contains(&a))
                            || n.more_v4.iter().any(|(s, _)| s.contains(&a))
                    }
                    IpAddr::V6(a) => n.v6.is_some_and(|(s, _)| s.contains(&a)),
                }
        })
    }

    fn why_not_reached(
        &self,
        from: &str,
        to: IpAddr,
        port: Option<u16>,
        l4: L4,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let m = &self.resolved.model;
        if let Some(c) = self.container_with(to)
            && !self.is_running(c)
        {
            out.push(Finding::new(
                format!("{to} is {c}, which is stopped: its interfaces are gone, nothing answers for it"),
                Some(format!(
                    "start {c} (a `container: {{ name: {c}, state: started }}` step)"
                )),
            ));
        }
        let from_container = self.is_container(from) && !self.on_host_network(from);
        // localhost in a container is the container.
        if to.is_loopback() && from_container {
            let listens = port.is_some_and(|p| {
                m.containers
                    .iter()
                    .find(|c| c.name == from)
                    .is_some_and(|c| c.listen.iter().any(|l| l.port == p && l.l4 == l4))
            });
            if !listens {
                out.push(Finding::new(
                    format!(
                        "{to} (localhost, the container's own loopback) inside container {from} is {from} itself, not the Docker host \
                         or another container, and nothing in {from} listens on {}",
                        port.map_or("that address".to_string(), |p| format!("{}/{p}", l4.name()))
                    ),
                    Some(
                        "reach the other container by its name on a user-defined network both are \
                         attached to (e.g. `db:5432`), or the host through its gateway address / \
                         host.docker.internal"
                            .into(),
                    ),
                ));
            }
        }
        // A listener bound to loopback only, where the connection arrives on eth0: the
        // container refused it (reset / port unreachable).
        if let Some(p) = port
            && l4 != L4::Icmp
            && !to.is_loopback()
            && let Some(who) = self.refusing_machine(events)
            && let Some(c) = m.containers.iter().find(|x| x.name == who)
        {
            // Through a published port, the container's own port is the DNAT's.
            let cport = ports::dnat_dest(events)
                .filter(|(ip, _)| self.container_with(*ip) == Some(who))
                .map_or(p, |(_, port)| port);
            let bound: Vec<&crate::host::Listen> = c
                .listen
                .iter()
                .filter(|l| l.port == cport && l.l4 == l4)
                .collect();
            if !bound.is_empty() && bound.iter().all(|l| l.addr.is_some_and(|a| a.is_loopback())) {
                let a = bound[0].addr.map_or(String::new(), |a| a.to_string());
                let answer = if l4 == L4::Udp {
                    "an ICMP port unreachable"
                } else {
                    "a TCP reset"
                };
                out.push(Finding::new(
                    format!(
                        "{} listens on {a}:{cport} only (loopback inside its own namespace); the \
                         connection arrives at its network address, where nothing listens, so the \
                         kernel answers with {answer}",
                        c.name
                    ),
                    Some(format!(
                        "make the application in {} listen on 0.0.0.0:{cport} (all addresses), \
                         e.g. `--host 0.0.0.0`",
                        c.name
                    )),
                ));
            }
        }
    }

    fn why_not_started(&self, name: &str, error: Option<&str>, out: &mut Vec<Finding>) {
        let Some(err) = error.or_else(|| self.start_errors().get(name).map(String::as_str)) else {
            return;
        };
        let holder = |marker: &str| {
            err.split(marker)
                .nth(1)
                .and_then(|r| r.split('\'').next())
                .map(str::to_string)
        };
        let host_net = self.on_host_network(name);
        let hint = if err.contains("address already in use") {
            Some(
                if let Some(owner) = holder("docker-proxy holds it for container '") {
                    format!(
                        "{name} runs on the host network, so its program binds in the host's own namespace, \
                     where docker-proxy already holds the port for a published port of {owner}: change \
                     one of the two ports (`ports:` does nothing with network_mode host)"
                    )
                } else if let Some(owner) = holder("container '") {
                    format!(
                        "{owner} runs on the host network and its program already listens on that port of the \
                     host: the port cannot be bound twice; change one of them"
                    )
                } else {
                    "another program of the host holds the port: free it or change the port".to_string()
                },
            )
        } else {
            None
        };
        let cause = if host_net {
            format!("the application in {name} (host network) could not bind: {err}")
        } else {
            format!("Docker could not start {name}: {err}")
        };
        out.push(Finding::new(cause, hint));
    }

    /// A plain line for an unexpected success no rule above explains.
    fn through_fallback(&self, attempt: &Attempt<'_>, out: &mut Vec<Finding>) {
        match attempt {
            Attempt::Reach {
                from, to, port, l4, ..
            } => out.push(Finding::new(
                format!(
                    "{to} answered {from}{}: no firewall rule, NetworkPolicy or Docker isolation on the path \
                     stops it",
                    port.map_or(String::new(), |p| format!(" on {}/{p}", l4.name()))
                ),
                None,
            )),
            Attempt::Resolve { name, log, .. } => {
                if let Some(l) = log.iter().find(|l| {
                    l.split_once(": ").is_some_and(|(_, a)| {
                        a.split([',', ' '])
                            .next()
                            .is_some_and(|w| w.parse::<IpAddr>().is_ok())
                    })
                }) {
                    out.push(Finding::new(
                        format!("'{name}' resolved: {l} (DNS names are case-insensitive)"),
                        None,
                    ));
                }
            }
            Attempt::Start { .. } => {}
        }
    }

    /// A plain line for failures no rule above explains.
    fn fallback(
        &self,
        attempt: &Attempt<'_>,
        drop: Option<&Drop<'_>>,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        if let Some(who) = self.refusing_machine(events)
            && let Attempt::Reach {
                port: Some(p), l4, ..
            } = attempt
        {
            let listens: Vec<String> = self
                .resolved
                .model
                .containers
                .iter()
                .find(|c| c.name == who)
                .map(|c| {
                    c.listen
                        .iter()
                        .map(|l| match l.addr {
                            Some(a) => format!("{}/{a}:{}", l.l4.name(), l.port),
                            None => format!("{}/{}", l.l4.name(), l.port),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let p = ports::dnat_dest(events)
                .filter(|(ip, _)| self.container_with(*ip) == Some(who))
                .map_or(*p, |(_, port)| port);
            out.push(Finding::new(
                format!(
                    "the packet reached {who}, where nothing listens on {}/{p}{}",
                    l4.name(),
                    if listens.is_empty() {
                        String::new()
                    } else {
                        format!(" (it listens on {})", listens.join(", "))
                    }
                ),
                None,
            ));
            return;
        }
        // No drop seen (a real kernel's ARP that failed): a directly connected
        // destination that nobody on the segment has.
        if drop.is_none()
            && let Attempt::Reach { from, to, .. } = attempt
            && self.route_view(from, *to).is_some_and(|r| r.via.is_none())
            && self.container_with(*to).is_none()
        {
            let detail = to.to_string();
            let d = Drop {
                reason: DropReason::ArpUnresolved,
                elem: from,
                detail: &detail,
                frame: None,
            };
            self.why_unresolved(&d, out);
            if !out.is_empty() {
                return;
            }
        }
        if let Some(d) = drop {
            out.push(Finding::new(
                format!("dropped at {} ({}): {}", d.elem, d.reason.as_str(), d.detail),
                None,
            ));
        } else if let Attempt::Reach { from, to, .. } = attempt {
            out.push(Finding::new(
                format!("no answer from {to} reached {from}, and nothing on the path recorded a drop"),
                Some(
                    "look at the trace: the packet may still be held or queued, or the peer ignores it"
                        .into(),
                ),
            ));
        } else if let Attempt::Resolve { log, .. } = attempt
            && let Some(last) = log.last()
        {
            // The resolver's own last word: no server, no answer, unreachable.
            out.push(Finding::new(format!("the lookup ended with: {last}"), None));
        }
    }

    /// The machine that answered with a reset / port unreachable (a NoListener drop).
    fn refusing_machine<'e>(&'e self, events: &'e [TraceEvent]) -> Option<&'e str> {
        events.iter().find_map(|e| match e.kind {
            EventKind::Dropped {
                reason: DropReason::NoListener | DropReason::PortUnreachable,
                ..
            } => Some(self.fabric.element_name(e.elem)),
            _ => None,
        })
    }

    fn why_dropped(
        &self,
        attempt: &Attempt<'_>,
        d: &Drop<'_>,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let (from, to) = match attempt {
            Attempt::Reach { from, to, .. } => (*from, Some(*to)),
            Attempt::Resolve { from, .. } => (*from, None),
            Attempt::Start { name, .. } => (*name, None),
        };
        match d.reason {
            DropReason::ArpUnresolved => self.why_unresolved(d, out),
            DropReason::NoRoute => self.why_no_route(d, from, to, out),
            DropReason::ParentIsolation => {
                let (child, host) = if self.is_container(from) {
                    (from.to_string(), d.elem.to_string())
                } else {
                    (
                        to.and_then(|t| self.container_with(t))
                            .unwrap_or("the container")
                            .to_string(),
                        from.to_string(),
                    )
                };
                let net = self
                    .networks_of(&child)
                    .into_iter()
                    .find(|n| matches!(n.driver, Driver::Macvlan | Driver::Ipvlan));
                let (kind, parent) = net.map_or(("macvlan", "its parent NIC".to_string()), |n| {
                    (
                        if n.driver == Driver::Ipvlan {
                            "ipvlan"
                        } else {
                            "macvlan"
                        },
                        n.parent
                            .as_ref()
                            .map_or("its parent NIC".into(), |(p, _)| p.clone()),
                    )
                });
                let host = self.host_def_of(&child).map_or(host, |h| h.name.clone());
                out.push(Finding::new(
                    format!(
                        "{child} is a {kind} child of {host}'s {parent}: the kernel never passes frames \
                         between a {kind} child and its parent's own stack, so {host} and {child} cannot \
                         reach each other directly"
                    ),
                    Some(format!(
                        "give {host} its own {kind} interface on {parent} (a \"shim\", e.g. `ip link add \
                         shim link {parent} type {kind}` with an address in the network) and route the \
                         containers' addresses through it"
                    )),
                ));
            }
            DropReason::NetworkIsolation => self.why_isolated(d, from, to, events, out),
            DropReason::Policy => {
                let mut hint = None;
                if let Attempt::Resolve { .. } = attempt {
                    hint = Some(
                        "name lookups are egress traffic too: allow udp/53 and tcp/53 to the resolver \
                         in the egress policy"
                            .to_string(),
                    );
                } else if d.detail.contains("ingress denied") {
                    hint = self.policy_types_hint(d.detail);
                }
                let hint = hint.or_else(|| {
                    Some(
                        "an isolated pod accepts only what a policy selecting it allows: add a rule \
                         for this peer and port (both the sender's egress and the receiver's ingress)"
                            .into(),
                    )
                });
                out.push(Finding::new(d.detail.to_string(), hint));
            }
            DropReason::Firewall if self.vxlan_drop(d, events, out) => {}
            DropReason::Firewall if self.forward_policy_drop(d, out) => {}
            DropReason::Firewall => {
                let hint = if d.detail.contains("DOCKER-ISOLATION") {
                    Some(
                        "Docker isolates its networks from each other: connect the container to both \
                         networks (`docker network connect`) or put them on one network"
                            .into(),
                    )
                } else if d.detail.contains("DOCKER-USER") {
                    Some("a rule in DOCKER-USER (your own rule, run before Docker's) decided".into())
                } else {
                    None
                };
                out.push(Finding::new(
                    format!("dropped by the firewall: {}", d.detail),
                    hint,
                ));
            }
            DropReason::MtuExceeded => self.mtu_drop(from, to, d, events, out),
            DropReason::PortSecurity => out.push(Finding::new(
                format!("{} dropped it: {}", d.elem, d.detail),
                Some(
                    "the switch port accepts only its NIC's MAC (port_security: VMware vSwitch without \
                     \"forged transmits\"/\"promiscuous mode\", cloud VPCs): use ipvlan l2, whose children \
                     share the parent's MAC, or allow other MACs on that port"
                        .into(),
                ),
            )),
            DropReason::LinkDown => out.push(Finding::new(
                format!("a link is down at {}: {}", d.elem, d.detail),
                None,
            )),
            _ => {}
        }
    }

    /// `ingress denied` by a policy that has no `policyTypes` and only egress rules.
    fn policy_types_hint(&self, detail: &str) -> Option<String> {
        let p = self.resolved.model.cluster.policies.iter().find(|p| {
            p.types.is_none() && p.ingress.is_empty() && !p.egress.is_empty() && detail.contains(&p.id())
        })?;
        Some(format!(
            "{} has egress rules but no `policyTypes`, so Kubernetes sets policyTypes [Ingress, Egress]: \
             it isolates the pod's ingress with no rule allowing any; set `policyTypes: [Egress]`",
            p.id()
        ))
    }

    fn why_isolated(
        &self,
        d: &Drop<'_>,
        from: &str,
        to: Option<IpAddr>,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let nets = self.networks_of(from);
        let host = self.host_def_of(from);
        // icc decides between two containers of the same network only: the network
        // that holds the destination address, which the sender is on too.
        let holding = to.and_then(|t| self.network_holding(t, host.map(|h| h.name.as_str())));
        if let Some(n) =
            holding.filter(|h| h.driver == Driver::Bridge && !h.icc && nets.iter().any(|n| n.name == h.name))
        {
            let daemon_icc = host.is_none_or(|h| h.daemon.icc);
            let cause = if n.default_bridge && !daemon_icc {
                format!(
                    "the daemon-wide setting icc=false isolates containers on the default bridge {} \
                     (only there): {}",
                    n.device, d.detail
                )
            } else {
                format!(
                    "network '{}' has com.docker.network.bridge.enable_icc=false: its containers cannot \
                     reach each other ({})",
                    n.name, d.detail
                )
            };
            out.push(Finding::new(
                cause,
                Some("to let them talk, enable icc on that network or put them on another network".into()),
            ));
            return;
        }
        self.isolation_between(from, to, d, events, out);
    }

    /// The route `machine` takes to `target`: from its node, or, for a machine left to a
    /// real namespace, from the model (its networks' connected subnets, then the
    /// gateway of its first network).
    fn route_view(&self, machine: &str, target: IpAddr) -> Option<RouteView> {
        if let Some(node) = self.node_ref(machine) {
            let r = node.route(target)?;
            return Some(RouteView {
                net: r.net.to_string(),
                via: r.via,
                dev: node.port_label(r.port),
                default_via: node
                    .routes()
                    .iter()
                    .find(|r| r.net.prefix_len() == 0)
                    .and_then(|r| r.via),
            });
        }
        let ci = self
            .resolved
            .model
            .containers
            .iter()
            .position(|c| c.name == machine)?;
        let eps = &self.resolved.endpoints[ci];
        let gw = eps
            .iter()
            .find_map(|ep| self.resolved.networks[ep.network].v4.map(|(_, g)| IpAddr::V4(g)));
        for ep in eps {
            let n = &self.resolved.networks[ep.network];
            if let (Some((s, _)), IpAddr::V4(t)) = (n.v4, target)
                && s.contains(&t)
            {
                return Some(RouteView {
                    net: s.to_string(),
                    via: None,
                    dev: ep.ifname.clone(),
                    default_via: gw,
                });
            }
        }
        None
    }

    fn why_unresolved(&self, d: &Drop<'_>, out: &mut Vec<Finding>) {
        let Some(target) = ip_in(d.detail) else { return };
        // A stopped container: said already.
        if self.container_with(target).is_some_and(|c| !self.is_running(c)) {
            return;
        }
        let machine = d.elem;
        let Some(route) = self.route_view(machine, target) else {
            return;
        };
        let dev = route.dev.clone();
        let next = route.via.unwrap_or(target);
        if route.via.is_some() {
            out.push(Finding::new(
                format!(
                    "{machine} sends {target} via the gateway {next} (route {} dev {dev}), and {next} did \
                     not answer ARP",
                    route.net
                ),
                Some(format!(
                    "check that {next} is up and on the same segment as {machine}'s {dev}"
                )),
            ));
            return;
        }
        let host = if self.is_container(machine) {
            self.host_def_of(machine).map(|h| h.name.as_str())
        } else {
            Some(machine)
        };
        let docker_net = self
            .network_holding(target, host)
            .filter(|n| n.driver == Driver::Bridge);
        let default_via = route.default_via;
        match docker_net {
            Some(n)
                if self.container_with(target).is_none()
                    && n.v4.map(|(_, g)| IpAddr::V4(g)) != Some(target)
                    && self.machine_outside_docker(target).is_none() =>
            {
                // Nothing in the model has the address: a typo, or a container gone.
                out.push(Finding::new(
                    format!(
                        "no container on network '{}' has {target}; the address is in the network's \
                         subnet, so {machine} looks for it on the bridge (route {} dev {dev}), where no one \
                         answers ARP",
                        n.name, route.net
                    ),
                    Some("check the address (`netloom graph` lists every container's)".into()),
                ));
            }
            Some(n)
                if self.container_with(target).is_none()
                    && n.v4.map(|(_, g)| IpAddr::V4(g)) != Some(target) =>
            {
                let subnet = n.v4.map_or(route.net.to_string(), |(s, _)| s.to_string());
                let owner = self.machine_outside_docker(target).unwrap_or_default();
                out.push(Finding::new(
                    format!(
                        "the route {} dev {dev} on {machine} (Docker network '{}', subnet {subnet}) \
                         captures {target} ({owner}, outside Docker): it is more specific than the default \
                         route{}, so {target} is looked for on the bridge, where no container has it",
                        route.net,
                        n.name,
                        default_via.map_or(String::new(), |g| format!(" via {g}"))
                    ),
                    Some(format!(
                        "give network '{}' a subnet that does not overlap {target} (`subnet:` on the \
                         network), or set the daemon's `default-address-pools` away from your LAN/VPN \
                         ranges",
                        n.name
                    )),
                ));
            }
            _ => {
                // The host's own container, on a Docker network whose subnet is also the
                // subnet of a host NIC: two connected routes, and the NIC's, added first,
                // wins (Linux keeps the first of equal routes).
                if let Some(n) = docker_net.filter(|n| n.device != dev && !self.is_container(machine)) {
                    out.push(Finding::new(
                        format!(
                            "{target} is on Docker network '{}' (bridge {}), whose subnet is also {machine}'s \
                             {dev} subnet: {machine} has two routes for {}, and the one added first, dev {dev}, \
                             wins, so {machine} asks for {target} by ARP on {dev}'s segment",
                            n.name, n.device, route.net
                        ),
                        Some(format!(
                            "give network '{}' a subnet that does not overlap the host's {} (Docker accepts the \
                             overlap without a word)",
                            n.name, route.net
                        )),
                    ));
                    return;
                }
                // The address belongs to a container of another Docker host, on that
                // host's own bridge with the same subnet.
                let elsewhere = self.container_with(target).and_then(|c| {
                    let h = self.host_def_of(c)?;
                    let n = self.network_holding(target, Some(&h.name))?;
                    (Some(h.name.as_str()) != host && n.driver == Driver::Bridge)
                        .then(|| (c, h.name.clone(), n))
                });
                if let Some((c, h, n)) = elsewhere {
                    out.push(Finding::new(
                        format!(
                            "{target} is {c} on {h}, on {h}'s own bridge network '{}'; {machine}'s route {} dev \
                             {dev} makes it look local, so {machine} asks for it by ARP on its own bridge: a bridge \
                             network exists on one Docker host only, even when both have the same name and subnet",
                            n.name, route.net
                        ),
                        Some(format!(
                            "put both containers on one overlay network spanning the hosts (driver: overlay), or \
                             publish {c}'s port on {h} and connect to {h}'s address"
                        )),
                    ));
                    return;
                }
                out.push(Finding::new(
                    format!(
                        "{target} is directly connected for {machine} (route {} dev {dev}), and no machine \
                         on that segment answered ARP for it",
                        route.net
                    ),
                    None,
                ));
            }
        }
    }

    fn why_no_route(&self, d: &Drop<'_>, from: &str, to: Option<IpAddr>, out: &mut Vec<Finding>) {
        let machine = d.elem;
        // The answer cannot find its way back to an unmasqueraded container address.
        if machine != from && self.unmasqueraded(from, ip_in(d.detail), out) {
            return;
        }
        let m = &self.resolved.model;
        if let Some(h) = m.hosts.iter().find(|h| h.name == machine)
            && !h.daemon.ip_forward
            && d.detail.contains("forward")
        {
            out.push(Finding::new(
                format!(
                    "net.ipv4.ip_forward=0 on {machine}: it does not route packets between its Docker \
                     bridges and its NICs, and sends no ICMP error"
                ),
                Some(
                    "enable forwarding (`sysctl -w net.ipv4.ip_forward=1`, docker: `ip-forward: true`); \
                     dockerd warns \"IPv4 forwarding is disabled. Networking will not work.\""
                        .into(),
                ),
            ));
            return;
        }
        if self.is_container(machine) {
            let nets = self.networks_of(machine);
            if !nets.is_empty() && nets.iter().all(|n| n.internal) {
                let names: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
                out.push(Finding::new(
                    format!(
                        "{machine} is only on internal network(s) {}: Docker gives an internal network \
                         no gateway and no forwarding, so {machine} has no default route{}",
                        names.join(", "),
                        to.map_or(String::new(), |t| format!(" to {t}"))
                    ),
                    Some(format!(
                        "attach {machine} to a second, non-internal network too (it keeps the internal \
                         one for its back end)"
                    )),
                ));
                return;
            }
        }
        if let (Some(node), Some(t)) = (self.node_ref(machine), to) {
            let routes: Vec<String> = node
                .routes()
                .iter()
                .take(6)
                .map(|r| match r.via {
                    Some(g) => format!("{} via {g}", r.net),
                    None => format!("{} dev {}", r.net, node.port_label(r.port)),
                })
                .collect();
            if node.route(t).is_none() {
                out.push(Finding::new(
                    format!(
                        "{machine} has no route to {t} (its routes: {})",
                        if routes.is_empty() {
                            "none".to_string()
                        } else {
                            routes.join(", ")
                        }
                    ),
                    self.reach_hint(from, t),
                ));
                return;
            }
        }
        out.push(Finding::new(format!("{machine}: {}", d.detail), None));
    }

    fn why_no_answer(&self, from: &str, name: &str, log: &[String], out: &mut Vec<Finding>) {
        let m = &self.resolved.model;
        if !self.is_container(from) || self.on_host_network(from) {
            self.lookup_story(from, name, None, log, out);
            return;
        }
        let nets = self.networks_of(from);
        let on_user_net = nets.iter().any(|n| !n.default_bridge && n.driver != Driver::Host);
        let short = name.trim_end_matches('.');
        let target = m.containers.iter().enumerate().position(|(ci, c)| {
            c.name.eq_ignore_ascii_case(short)
                || self.resolved.endpoints[ci]
                    .iter()
                    .any(|ep| ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(short)))
        });
        if let Some(ti) = target
            && !self.is_running(&m.containers[ti].name)
        {
            let c = &m.containers[ti].name;
            out.push(Finding::new(
                format!("{c} is stopped: the embedded DNS answers only for running containers"),
                Some(format!("start {c}")),
            ));
            return;
        }
        if let Some(ti) = target
            && !on_user_net
        {
            out.push(Finding::new(
                format!(
                    "{from} is only on the default bridge (docker0), which has no embedded DNS: Docker \
                     resolves container names only on user-defined networks, so '{name}' went to the \
                     host's nameservers"
                ),
                Some(format!(
                    "create a network and attach both {from} and {} to it (`docker network create app`, \
                     `--network app`); `--link` is legacy",
                    m.containers[ti].name
                )),
            ));
            return;
        }
        if let Some(ti) = target {
            let theirs: Vec<&str> = self.resolved.endpoints[ti]
                .iter()
                .map(|ep| self.resolved.networks[ep.network].name.as_str())
                .collect();
            let shared = self
                .networks_of(from)
                .iter()
                .any(|n| theirs.iter().any(|t| *t == n.name));
            let only_default = self.resolved.endpoints[ti]
                .iter()
                .all(|ep| self.resolved.networks[ep.network].default_bridge);
            if !shared {
                out.push(Finding::new(
                    format!(
                        "'{name}' is a container on network(s) {}, which {from} is not attached to: the \
                         embedded DNS answers only with containers on the asker's networks",
                        theirs.join(", ")
                    ),
                    Some(if only_default {
                        format!(
                            "the default bridge has no embedded DNS: put {from} and '{name}' on one \
                             user-defined network"
                        )
                    } else {
                        format!(
                            "attach {from} to one of those networks (`docker network connect`), or use a \
                             shared external network"
                        )
                    }),
                ));
                return;
            }
        }
        // A default-bridge container whose host has only loopback resolvers.
        if !on_user_net
            && let Some(h) = self.host_def_of(from)
            && h.dns.is_empty()
            && let Some(rc) = &h.daemon.resolv_conf
            && !rc.is_empty()
            && rc.iter().all(IpAddr::is_loopback)
            // systemd-resolved's stub: Docker reads the real upstreams instead.
            && !rc.iter().all(|s| *s == IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 53)))
            && m.containers
                .iter()
                .find(|c| c.name == from)
                .is_some_and(|c| c.dns.is_empty())
        {
            let list: Vec<String> = rc.iter().map(ToString::to_string).collect();
            out.push(Finding::new(
                format!(
                    "the host's resolv.conf lists only loopback nameservers ({}): they mean nothing in \
                     {from}'s namespace, so Docker removed them and wrote Google's 8.8.8.8 and 8.8.4.4 \
                     into {from}'s resolv.conf",
                    list.join(", ")
                ),
                Some(
                    "give the container (or the daemon: `dns`) a resolver it can reach, or use a \
                     user-defined network, whose embedded DNS forwards from the host's namespace"
                        .into(),
                ),
            ));
        }
        self.lookup_story(from, name, None, log, out);
    }

    /// An unexpected success: what let the packet through.
    fn why_through(&self, attempt: &Attempt<'_>, events: &[TraceEvent], out: &mut Vec<Finding>) {
        let (from, to, port, l4) = match attempt {
            Attempt::Reach {
                from, to, port, l4, ..
            } => (*from, *to, *port, *l4),
            Attempt::Resolve { .. } | Attempt::Start { .. } => return,
        };
        self.proxied(from, to, port, l4, events, out);
        let dnat_event = ports::dnat_note(events);
        let own = dnat_event.is_some_and(|e| {
            matches!(
                e.kind,
                EventKind::Note {
                    stage: Stage::NatOutput
                }
            )
        });
        let dnat = dnat_event.map(|e| (self.fabric.element_name(e.elem), e.detail.as_str()));
        let mut allowed = Vec::new();
        for e in events {
            if let EventKind::Note { stage: Stage::Policy } = e.kind
                && e.detail.contains("allowed")
                && !allowed.contains(&e.detail.as_str())
            {
                allowed.push(e.detail.as_str());
            }
        }
        if let Some((host, note)) = dnat
            && own
        {
            out.push(Finding::new(
                format!(
                    "{host}'s own connection was DNATed in nat OUTPUT ({note}) and went straight to the \
                     container: a host's own traffic meets neither FORWARD nor DOCKER-USER"
                ),
                Some(format!(
                    "to keep {host}'s own programs out, filter in its OUTPUT chain (or do not publish the port)"
                )),
            ));
        } else if let Some((host, note)) = dnat {
            let user_input = self
                .resolved
                .model
                .hosts
                .iter()
                .find(|h| h.name == host)
                .map(|h| {
                    (
                        h.firewall.iter().any(|r| r.chain == "INPUT"),
                        h.firewall.iter().filter(|r| r.chain == "DOCKER-USER").count(),
                    )
                })
                .unwrap_or((false, 0));
            let mut cause = format!(
                "{host} rewrote the destination in nat PREROUTING before any filter rule ({note}); the \
                 packet was then FORWARDed to the container: published ports never traverse the INPUT \
                 chain"
            );
            if user_input.0 {
                cause.push_str(", so the INPUT rules (ufw, firewalld) never see it");
            }
            let orig = port.map_or(String::new(), |p| format!(" {p}"));
            let hint = if user_input.1 > 0 {
                format!(
                    "DOCKER-USER runs after DNAT: a rule there sees the container's port, not the published \
                     one; match the original port with `-m conntrack --ctorigdstport{orig}` (and \
                     --ctorigdst for the host address)"
                )
            } else {
                format!(
                    "filter published ports in the DOCKER-USER chain, matching the original port with \
                     `-m conntrack --ctorigdstport{orig}`, or publish on 127.0.0.1 only"
                )
            };
            out.push(Finding::new(cause, Some(hint)));
        }
        for a in allowed {
            out.push(Finding::new(
                format!("{a}{}", self.rule_peers(a)),
                Some(
                    "peers listed separately in `from`/`to` are OR-ed (any one admits); a \
                 namespaceSelector and a podSelector in ONE peer are AND-ed"
                        .into(),
                ),
            ));
        }
        // icc: daemon-wide vs per network.
        if self.is_container(from)
            && let Some(dst) = self.container_with(to)
            && let Some(h) = self.host_def_of(from)
            && !h.daemon.icc
        {
            let theirs: Vec<&str> = self.networks_of(dst).iter().map(|n| n.name.as_str()).collect();
            if let Some(n) = self
                .networks_of(from)
                .into_iter()
                .find(|n| !n.default_bridge && n.icc && theirs.contains(&n.name.as_str()))
            {
                out.push(Finding::new(
                    format!(
                        "the daemon-wide icc=false applies to the default bridge docker0 only; network '{}' \
                         takes its own com.docker.network.bridge.enable_icc, which is true by default",
                        n.name
                    ),
                    Some(format!(
                        "create '{}' with the option com.docker.network.bridge.enable_icc: \"false\"",
                        n.name
                    )),
                ));
            }
        }
    }
}

impl Lab {
    /// For a note naming `NS/POLICY rule N`: that rule's peers, as written.
    fn rule_peers(&self, note: &str) -> String {
        let mut out = String::new();
        for p in &self.resolved.model.cluster.policies {
            let id = p.id();
            let Some(at) = note.find(&format!("{id} rule ")) else {
                continue;
            };
            let n: usize = note[at + id.len() + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            let ingress = note[..at].ends_with("ingress by ");
            let rules = if ingress { &p.ingress } else { &p.egress };
            let Some(rule) = n.checked_sub(1).and_then(|i| rules.get(i)) else {
                continue;
            };
            let peers: Vec<String> = rule.peers.iter().map(describe_peer).collect();
            out.push_str(&format!(
                "; {id} rule {n} {}: {}",
                if ingress { "from" } else { "to" },
                if peers.is_empty() {
                    "every peer (no `from`/`to`)".to_string()
                } else if peers.len() == 1 {
                    format!("one peer, {}", peers[0])
                } else {
                    format!("{} peers, OR-ed: {}", peers.len(), peers.join(" OR "))
                }
            ));
        }
        out
    }
}

fn describe_peer(p: &crate::policy::Peer) -> String {
    let sel = |s: &crate::policy::Selector| {
        let mut parts: Vec<String> = s.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !s.match_expressions.is_empty() {
            parts.push(format!("{} expression(s)", s.match_expressions.len()));
        }
        format!("{{{}}}", parts.join(", "))
    };
    let mut parts = Vec::new();
    if let Some(n) = &p.namespaces {
        parts.push(format!("namespaceSelector {}", sel(n)));
    }
    if let Some(s) = &p.pods {
        parts.push(format!("podSelector {}", sel(s)));
    }
    if let Some(b) = &p.ip_block {
        parts.push(format!("ipBlock {}", b.cidr));
    }
    format!("[{}]", parts.join(" AND "))
}

/// The first IP address in a text (the subject of a drop detail).
fn ip_in(text: &str) -> Option<IpAddr> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .find_map(|w| w.trim_end_matches(':').parse::<IpAddr>().ok())
}
