//! Causes around published ports, docker-proxy, the host's own listeners, name
//! lookups that answered with the wrong address, encapsulated traffic and MTU.

use std::net::IpAddr;

use netloom_core::{EventKind, Stage, TraceEvent};

use super::{Drop, Finding};
use crate::docker::lab::Lab;
use crate::docker::{ContainerDef, Driver, HostDef, ResolvedNetwork};
use crate::net::L4;

impl Lab {
    /// The Docker host that owns `to` as seen from `from`: one of its NIC or bridge
    /// addresses, or loopback from the host itself (or a host-network container).
    fn host_owning(&self, from: &str, to: IpAddr) -> Option<&HostDef> {
        let m = &self.resolved.model;
        if to.is_loopback() {
            let h = if m.hosts.iter().any(|h| h.name == from) {
                Some(from.to_string())
            } else if self.on_host_network(from) {
                self.host_def_of(from).map(|h| h.name.clone())
            } else {
                None
            };
            return h.and_then(|h| m.hosts.iter().find(|x| x.name == h));
        }
        m.hosts.iter().find(|h| {
            h.interfaces
                .iter()
                .any(|n| n.address.is_some_and(|a| a.addr() == to))
                || self.resolved.networks.iter().any(|n| {
                    n.host == h.name
                        && (n.v4.map(|(_, g)| IpAddr::V4(g)) == Some(to)
                            || n.v6.map(|(_, g)| IpAddr::V6(g)) == Some(to))
                })
        })
    }

    /// The containers of Docker host `host` (the lab's own index), with their indexes.
    fn containers_on<'a>(&'a self, host: &str) -> impl Iterator<Item = (usize, &'a ContainerDef)> + 'a {
        let m = &self.resolved.model;
        self.containers_of
            .get(host)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(move |&ci| m.containers.get(ci).map(|c| (ci, c)))
    }

    /// A port of a Docker host that refused or did not answer: what was meant to serve it.
    pub(super) fn why_port_closed(&self, from: &str, to: IpAddr, port: u16, l4: L4, out: &mut Vec<Finding>) {
        let Some(host) = self.host_owning(from, to) else {
            return;
        };
        let m = &self.resolved.model;
        for (ci, c) in self.containers_on(&host.name) {
            let declared = c.ports.iter().find(|p| {
                p.l4 == l4
                    && p.host_port
                        .is_some_and(|h| (h..h.saturating_add(p.count.max(1))).contains(&port))
            });
            let published: Vec<_> = self.resolved.published[ci]
                .iter()
                .filter(|(_, hp, _, pl4)| *hp == port && *pl4 == l4)
                .collect();
            if let Some(d) = declared {
                let nets = self.networks_of(&c.name);
                let why = if self.on_host_network(&c.name) {
                    Some((
                        format!(
                            "{} runs on the host network, where Docker discards published ports",
                            c.name
                        ),
                        "with network_mode host the application's own port is the host's port".to_string(),
                    ))
                } else if !nets.is_empty()
                    && nets
                        .iter()
                        .all(|n| matches!(n.driver, Driver::Macvlan | Driver::Ipvlan))
                {
                    let kind = if nets[0].driver == Driver::Ipvlan {
                        "ipvlan"
                    } else {
                        "macvlan"
                    };
                    Some((
                        format!(
                            "{}'s `ports:` are ignored: its network '{}' is {kind}, and Docker's {kind} driver does \
                             not support port mappings (it logs \"{kind} driver does not support port mappings\"), \
                             so nothing on {} answers port {port}",
                            c.name, nets[0].name, host.name
                        ),
                        format!(
                            "reach {} at its own address on the LAN ({}:{}), or attach it to a bridge network too",
                            c.name,
                            self.resolved.endpoints[ci]
                                .first()
                                .and_then(|e| e.v4)
                                .map_or("its address".to_string(), |a| a.to_string()),
                            d.container_port
                        ),
                    ))
                } else if !nets.is_empty() && nets.iter().all(|n| n.internal) {
                    Some((
                        format!(
                            "{} is only on internal network(s) {}: an internal network has no gateway endpoint, so \
                             Docker publishes none of its ports ({l4}/{port} has no DNAT rule and no docker-proxy)",
                            c.name,
                            nets.iter()
                                .map(|n| n.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            l4 = l4.name()
                        ),
                        format!(
                            "attach {} to an ordinary network as well: Docker publishes through that network's gateway",
                            c.name
                        ),
                    ))
                } else if !self.is_running(&c.name) {
                    Some((
                        format!(
                            "{} publishes {l4}/{port} but is not running",
                            c.name,
                            l4 = l4.name()
                        ),
                        format!("start {}", c.name),
                    ))
                } else {
                    None
                };
                if let Some((cause, hint)) = why {
                    out.push(Finding::new(cause, Some(hint)));
                    return;
                }
            }
            // Published on one address only (`127.0.0.1:8080:80`), reached on another.
            if !published.is_empty()
                && published
                    .iter()
                    .all(|(hip, ..)| hip.is_some_and(|h| h != to && !h.is_unspecified()))
            {
                let on: Vec<String> = published
                    .iter()
                    .filter_map(|(hip, ..)| hip.map(|h| h.to_string()))
                    .collect();
                out.push(Finding::new(
                    format!(
                        "{} publishes {}/{port} on {} only: the DNAT rule and docker-proxy exist for that address, \
                         not for {to}",
                        c.name,
                        l4.name(),
                        on.join(", ")
                    ),
                    Some(format!(
                        "publish on every address (`{port}:…` or `0.0.0.0:{port}:…`) or on {to} itself"
                    )),
                ));
                return;
            }
        }
        // A service of the host itself (a host-network container) bound to loopback.
        if !to.is_loopback() {
            for (_, c) in self.containers_on(&host.name) {
                if !self.on_host_network(&c.name) {
                    continue;
                }
                let bound: Vec<_> = c.listen.iter().filter(|l| l.port == port && l.l4 == l4).collect();
                if !bound.is_empty() && bound.iter().all(|l| l.addr.is_some_and(|a| a.is_loopback())) {
                    let a = bound[0].addr.map_or(String::new(), |a| a.to_string());
                    out.push(Finding::new(
                        format!(
                            "the service on {} ({}, on the host network) listens on {a}:{port} only; {to} is another \
                             address of {} (containers reach the host through their gateway, e.g. \
                             host.docker.internal / host-gateway), where nothing listens",
                            host.name, c.name, host.name
                        ),
                        Some(format!(
                            "make the service listen on 0.0.0.0:{port} or on {to} (and allow it in the host's \
                             firewall)"
                        )),
                    ));
                    return;
                }
            }
        }
        let _ = m;
    }

    /// What a name lookup tried, from the resolver's log (`QNAME TYPE from SERVER:
    /// ANSWER` per query): an answer that came through a search domain (first because
    /// of ndots, or after the plain name failed), or every name failing.
    pub(super) fn lookup_story(
        &self,
        from: &str,
        name: &str,
        answer: Option<IpAddr>,
        log: &[String],
        out: &mut Vec<Finding>,
    ) {
        let bare = name.trim_end_matches('.');
        let mut tried: Vec<(&str, &str)> = Vec::new();
        for l in log {
            // `QNAME TYPE from SERVER: ANSWER`; other lines (no answer at all) say
            // nothing about search domains.
            let mut words = l.split(' ');
            let (Some(q), Some(_), Some("from")) = (words.next(), words.next(), words.next()) else {
                continue;
            };
            let said = l.split_once(": ").map_or("", |(_, a)| a);
            let q = q.trim_end_matches('.');
            if !tried.iter().any(|(x, _)| *x == q) {
                tried.push((q, said));
            }
        }
        let Some(first) = tried.first() else { return };
        let ok = |said: &str| match answer {
            Some(a) => said.contains(&a.to_string()),
            None => said
                .split([',', ' '])
                .next()
                .is_some_and(|w| w.parse::<IpAddr>().is_ok()),
        };
        let answered = tried.iter().find(|(_, said)| ok(said));
        let ndots = self
            .resolved
            .model
            .containers
            .iter()
            .find(|c| c.name == from)
            .and_then(|c| c.dns_opt.iter().rev().find(|o| o.starts_with("ndots:")))
            .map_or_else(
                || "the resolver's ndots".to_string(),
                |o| format!("{o} (dns_opt)"),
            );
        match answered {
            Some((q, said)) if !q.eq_ignore_ascii_case(bare) && q.len() > bare.len() + 1 => {
                let search = &q[bare.len() + 1..];
                let cause = if first.0.eq_ignore_ascii_case(bare) {
                    format!(
                        "'{name}' itself got {}, then the resolver appended the search domain {search}, and {q} \
                         answered {said}",
                        first.1
                    )
                } else {
                    format!(
                        "'{name}' has {} dot(s), fewer than {ndots}, so it was looked up as {q} first (search \
                         domain {search}), and that name answered {said}",
                        bare.matches('.').count()
                    )
                };
                out.push(Finding::new(
                    cause,
                    Some(format!(
                        "write the name fully qualified with a trailing dot (`{bare}.`), or remove the record \
                         that answers {q} (a wildcard *.{search}?); with ndots, a lower `ndots:N` in dns_opt"
                    )),
                ));
            }
            Some(_) => {}
            None if answer.is_none()
                && tried
                    .iter()
                    .all(|(_, said)| said.contains("NXDOMAIN") || said.contains("no record")) =>
            {
                let list: Vec<String> = tried.iter().map(|(q, said)| format!("{q} ({said})")).collect();
                out.push(Finding::new(
                    format!("every name tried failed: {}", list.join(", then ")),
                    Some(
                        "check the spelling; container names and aliases resolve only through the embedded \
                         DNS of a user-defined network both containers are on"
                            .into(),
                    ),
                ));
            }
            None => {}
        }
    }

    /// A frame dropped after a VXLAN device encapsulated it: the outer packet was.
    pub(super) fn vxlan_drop(&self, d: &Drop<'_>, events: &[TraceEvent], out: &mut Vec<Finding>) -> bool {
        let Some(frame) = d.frame else { return false };
        let Some(note) = events.iter().find(|e| {
            e.frame == frame && matches!(e.kind, EventKind::Note { .. }) && e.detail.contains("encapsulated")
        }) else {
            return false;
        };
        let esp = note.detail.contains("ESP");
        let (what, open) = if esp {
            (
                "the ESP packet (IP protocol 50) of the encrypted overlay",
                "an encrypted overlay needs IP protocol 50 (ESP) between the hosts, besides udp/4789",
            )
        } else {
            (
                "the VXLAN packet (udp/4789)",
                "an overlay needs udp/4789 (VXLAN data) between the hosts, and a swarm also tcp/2377 and \
                 tcp+udp/7946",
            )
        };
        let chain = if d.detail.contains("FORWARD") {
            "FORWARD chain"
        } else if d.detail.contains("INPUT") {
            "INPUT chain"
        } else {
            "rules"
        };
        out.push(Finding::new(
            format!(
                "{what} carrying it between the overlay's hosts was dropped by {}'s firewall: {}",
                d.elem, d.detail
            ),
            Some(format!("{open}: allow it in {}'s {chain}", d.elem)),
        ));
        true
    }

    /// A packet the host routes for others, dropped by the FORWARD chain's policy that
    /// Docker set to DROP when it enabled forwarding.
    pub(super) fn forward_policy_drop(&self, d: &Drop<'_>, out: &mut Vec<Finding>) -> bool {
        if !d.detail.contains("FORWARD policy") {
            return false;
        }
        let Some(h) = self.resolved.model.hosts.iter().find(|h| h.name == d.elem) else {
            return false;
        };
        let docker = if h.daemon.forward_drop {
            "Docker set it when it had to turn net.ipv4.ip_forward on at start-up"
        } else {
            "set by the host's own firewall"
        };
        out.push(Finding::new(
            format!(
                "{} routes this packet between two of its own interfaces, no rule of FORWARD accepts it \
                 (Docker's accept only its bridges' traffic), and the chain's policy is DROP ({docker}): {}",
                h.name, d.detail
            ),
            Some(
                "accept the host's other forwarded traffic in DOCKER-USER (`iptables -I DOCKER-USER -i IN -o \
                 OUT -j ACCEPT`, and the replies with `--ctstate RELATED,ESTABLISHED`), or enable \
                 net.ipv4.ip_forward before Docker starts (or \"ip-forward-no-drop\": true)"
                    .into(),
            ),
        ));
        true
    }

    /// An MTU drop, with the Docker interface MTU that sent the frame.
    pub(super) fn mtu_drop(
        &self,
        from: &str,
        to: Option<IpAddr>,
        d: &Drop<'_>,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let limit = d
            .detail
            .split("MTU of ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u32>().ok());
        let dnat_to = dnat_note(events).and_then(|e| dnat_target(&e.detail));
        let ends = [
            Some(from.to_string()),
            to.and_then(|t| self.container_with(t)).map(str::to_string),
            dnat_to.and_then(|t| self.container_with(t)).map(str::to_string),
        ];
        let net: Option<&ResolvedNetwork> = ends
            .iter()
            .flatten()
            .filter(|c| self.is_container(c))
            .flat_map(|c| self.networks_of(c))
            .find(|n| limit.is_none_or(|l| n.mtu > l));
        let cause = match (limit, net) {
            (Some(l), Some(n)) => format!(
                "the path has mtu {l} at {}, but {} (network '{}') and its containers use mtu {}: full-size packets \
                 do not fit and are dropped silently, so TCP stalls after the handshake ({})",
                d.elem, n.device, n.name, n.mtu, d.detail
            ),
            _ => format!(
                "{} ({}): the frame is larger than the MTU on its way and is dropped silently",
                d.detail, d.elem
            ),
        };
        out.push(Finding::new(
            cause,
            Some(
                "make the MTU of the Docker network fit the path: daemon `mtu` for docker0, \
                 com.docker.network.driver.mtu on a user network (or daemon default-network-opts for new \
                 ones); an overlay needs 50 bytes less than its underlay"
                    .into(),
            ),
        ));
    }

    /// Network isolation between the sender's network and the destination's.
    pub(super) fn isolation_between(
        &self,
        from: &str,
        to: Option<IpAddr>,
        d: &Drop<'_>,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let mine: Vec<&str> = self.networks_of(from).iter().map(|n| n.name.as_str()).collect();
        let dnat = dnat_note(events);
        let dst = to
            .and_then(|t| self.container_with(t))
            .map(str::to_string)
            .or_else(|| {
                dnat.and_then(|e| dnat_target(&e.detail))
                    .and_then(|t| self.container_with(t).map(str::to_string))
            });
        let theirs: Vec<String> = dst
            .as_deref()
            .map(|c| self.networks_of(c).iter().map(|n| n.name.clone()).collect())
            .unwrap_or_default();
        if let (Some(e), Some(h)) = (dnat, self.host_def_of(from))
            && !h.daemon.userland_proxy
        {
            out.push(Finding::new(
                format!(
                    "the published port was DNATed ({}) to {} on network(s) {}; with userland-proxy false the \
                     DNATed packet is forwarded from {}'s network {} to that bridge, and Docker 28's \
                     DOCKER-ISOLATION-STAGE-2 drops it (Docker 29 accepts DNATed packets there)",
                    e.detail,
                    dst.as_deref().unwrap_or("a container"),
                    theirs.join(", "),
                    from,
                    mine.join(", ")
                ),
                Some(
                    "with userland-proxy true (the default) docker-proxy answers from the host instead; Docker \
                     29 lets the DNATed packet through; or put both containers on one network and use its name"
                        .into(),
                ),
            ));
            return;
        }
        out.push(Finding::new(
            format!(
                "{from} is on network(s) {}{}: Docker isolates bridge networks from each other ({})",
                mine.join(", "),
                dst.as_deref()
                    .map_or(String::new(), |c| format!(", {c} on {}", theirs.join(", "))),
                d.detail
            ),
            Some(format!(
                "attach {from} to the other network too (`docker network connect {} {from}`), or share one \
                 (external) network between the two projects",
                theirs.first().map_or("NETWORK", String::as_str)
            )),
        ));
    }

    /// The sender's network does not masquerade: its packets leave with the container's
    /// own source address.
    /// `lost` is the address the drop could not route: it must be the sender's own.
    pub(super) fn unmasqueraded(&self, from: &str, lost: Option<IpAddr>, out: &mut Vec<Finding>) -> bool {
        if !self.is_container(from) {
            return false;
        }
        let m = &self.resolved.model;
        for ep in self
            .resolved
            .model
            .containers
            .iter()
            .position(|c| c.name == from)
            .map(|ci| &self.resolved.endpoints[ci])
            .into_iter()
            .flatten()
        {
            let n = &self.resolved.networks[ep.network];
            let def = m.networks.iter().find(|d| d.name == n.name);
            if n.driver == Driver::Bridge
                && def.is_some_and(|d| !d.masquerade)
                && lost.is_some_and(|l| ep.v4.map(IpAddr::V4) == Some(l))
            {
                out.push(Finding::new(
                    format!(
                        "network '{}' has com.docker.network.bridge.enable_ip_masquerade=false: {from}'s packets \
                         leave {} with its own source {}, which the machines beyond have no route back to",
                        n.name,
                        n.host,
                        ep.v4.map_or("address".to_string(), |a| a.to_string())
                    ),
                    Some(
                        "drop the option (masquerade is the default), or route the network's subnet to the host \
                         on the upstream router"
                            .into(),
                    ),
                ));
                return true;
            }
        }
        false
    }

    /// A connection that docker-proxy relayed: the container sees the proxy's address.
    pub(super) fn proxied(
        &self,
        from: &str,
        to: IpAddr,
        port: Option<u16>,
        l4: L4,
        events: &[TraceEvent],
        out: &mut Vec<Finding>,
    ) {
        let Some(p) = port else { return };
        if dnat_note(events).is_some() {
            return;
        }
        let Some(host) = self.host_owning(from, to) else {
            return;
        };
        // The host's own programs are the proxy's clients as themselves: no surprise.
        if !host.daemon.userland_proxy || from == host.name || self.on_host_network(from) {
            return;
        }
        for (ci, c) in self.containers_on(&host.name) {
            let serves = self.resolved.published[ci].iter().any(|(hip, hp, _, pl4)| {
                *hp == p && *pl4 == l4 && hip.is_none_or(|h| h == to || h.is_unspecified())
            });
            if !serves {
                continue;
            }
            let Some((ep, n)) = self.resolved.endpoints[ci]
                .iter()
                .map(|ep| (ep, &self.resolved.networks[ep.network]))
                .find(|(_, n)| n.driver == Driver::Bridge)
            else {
                continue;
            };
            let gw = n.v4.map_or("the gateway".to_string(), |(_, g)| g.to_string());
            let (why, hint) = if to.is_ipv6() && ep.v6.is_none() {
                (
                    format!(
                        "{to} is IPv6 and {} has no IPv6 address, so no ip6tables DNAT can lead to it",
                        c.name
                    ),
                    format!(
                        "give network '{}' IPv6 (enable_ipv6) so the packet is DNATed with its source kept, or \
                         read the client address from a proxy header",
                        n.name
                    ),
                )
            } else {
                (
                    "no DNAT rule took the packet".to_string(),
                    "read the client address from a proxy header (X-Forwarded-For, PROXY protocol)"
                        .to_string(),
                )
            };
            out.push(Finding::new(
                format!(
                    "{why}: docker-proxy (userland-proxy) accepted the connection on port {p} and opened its own to {} \
                     from {gw}, so {} sees {gw} as the client, not {from}",
                    c.name, c.name
                ),
                Some(hint),
            ));
            return;
        }
    }
}

/// The first destination NAT of the step (a `nat PREROUTING`/`OUTPUT` note).
pub(super) fn dnat_note(events: &[TraceEvent]) -> Option<&TraceEvent> {
    events.iter().find(|e| {
        matches!(e.kind, EventKind::Note { stage } if matches!(stage, Stage::NatPrerouting | Stage::NatOutput))
            && e.detail.contains("DNAT")
    })
}

/// The new destination (address and port) of the step's first DNAT.
pub(super) fn dnat_dest(events: &[TraceEvent]) -> Option<(IpAddr, u16)> {
    let note = &dnat_note(events)?.detail;
    let after = note.split(" to ").nth(1)?;
    let dst = after.split(" -> ").nth(1)?.split_whitespace().next()?;
    let (host, port) = dst.rsplit_once(':')?;
    Some((
        host.trim_matches(|c| c == '[' || c == ']').parse().ok()?,
        port.parse().ok()?,
    ))
}

/// The new destination of a DNAT note (`… to tcp A -> 172.17.0.2:80 by …`).
fn dnat_target(note: &str) -> Option<IpAddr> {
    let after = note.split(" to ").nth(1)?;
    let dst = after.split(" -> ").nth(1)?;
    let host = dst.split_whitespace().next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    host.trim_matches(|c| c == '[' || c == ']').parse().ok()
}
