//! Names in the lab: each machine's resolver configuration as Docker writes it, the
//! directory behind the embedded DNS servers, and lookups run by steps.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use netloom_core::{ElemId, FrameId, SimDuration};

use super::Lab;
use crate::dns::{Directory, EMBEDDED, NetRecords, Record, ResolvConf, normalize};
use crate::docker::{ContainerDef, Driver, HostDef};
use crate::router::{Embedded, LookupOutcome, Node, NodeDns};

/// systemd-resolved's stub address.
const SYSTEMD_RESOLVED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));

/// Docker's fallback name servers when the host's resolv.conf leaves none a container
/// can use: Google's public resolvers (their IPv6 ones too when the container has IPv6).
fn fallback(ipv6: bool) -> Vec<IpAddr> {
    let mut v = vec![
        IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
        IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
    ];
    if ipv6 {
        v.push(IpAddr::V6(Ipv6Addr::new(
            0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888,
        )));
        v.push(IpAddr::V6(Ipv6Addr::new(
            0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844,
        )));
    }
    v
}

/// What a name lookup observed.
#[derive(Clone, Debug)]
pub struct ResolveResult {
    /// How it ended.
    pub outcome: LookupOutcome,
    /// One line per query and answer, then why it may have failed.
    pub log: Vec<String>,
    /// The queries' frames.
    pub frames: Vec<FrameId>,
    /// How long it took.
    pub elapsed: SimDuration,
}

impl Lab {
    /// The directory of every network's names, running containers only.
    pub(super) fn build_directory(&self) -> Directory {
        let r = &self.resolved;
        let mut networks: Vec<NetRecords> = r
            .networks
            .iter()
            .map(|n| NetRecords {
                network: n.name.clone(),
                serves: !n.default_bridge && n.driver != Driver::Host,
                records: Vec::new(),
            })
            .collect();
        for (ci, eps) in r.endpoints.iter().enumerate() {
            let name = normalize(&r.model.containers[ci].name);
            for ep in eps {
                let Some(net) = networks.get_mut(ep.network) else {
                    continue;
                };
                let names = std::iter::once(name.clone()).chain(ep.aliases.iter().map(|a| normalize(a)));
                for n in names {
                    net.records.push(Record {
                        name: n,
                        container: ci,
                        v4: ep.v4,
                        v6: ep.v6,
                    });
                }
            }
        }
        let running = r
            .model
            .containers
            .iter()
            .map(|c| self.running.get(&c.name).copied().unwrap_or(true))
            .collect();
        Directory { networks, running }
    }

    /// Publishes the current running states to every embedded DNS server.
    /// The embedded DNS's directory for other threads: read it for each query (a
    /// read lock held for an `Arc` clone); the lab replaces it when a container stops
    /// or starts — the forwarding path never takes the lock otherwise.
    pub fn live_directory(&mut self) -> Arc<std::sync::RwLock<Arc<Directory>>> {
        let dir = Arc::clone(&self.directory);
        Arc::clone(
            self.live_directory
                .get_or_insert_with(|| Arc::new(std::sync::RwLock::new(dir))),
        )
    }

    pub(super) fn refresh_directory(&mut self) {
        let dir = Arc::new(self.build_directory());
        if let Some(live) = &self.live_directory
            && let Ok(mut w) = live.write()
        {
            *w = Arc::clone(&dir);
        }
        for c in &self.resolved.model.containers {
            if self.host_net.contains_key(&c.name) {
                continue;
            }
            let Some(id) = self.nodes.get(&c.name).copied() else {
                continue;
            };
            if let Some(e) = self
                .fabric
                .element_mut::<Node>(id)
                .and_then(|n| n.apps.dns.embedded.as_mut())
            {
                e.directory = dir.clone();
            }
        }
        let hosts: Vec<ElemId> = self
            .resolved
            .model
            .hosts
            .iter()
            .filter_map(|h| self.nodes.get(&h.name).copied())
            .collect();
        for id in hosts {
            if let Some(n) = self.fabric.element_mut::<Node>(id) {
                for e in n.apps.dns.proxied.values_mut() {
                    e.directory = dir.clone();
                }
            }
        }
        self.directory = dir;
    }

    /// The DNS roles of container `ci`'s namespace, as Docker sets them up.
    /// Container `ci`'s `/etc/hosts` entries beyond localhost: its `extra_hosts`, with
    /// `host-gateway` standing for the default bridge's gateway on its host (the
    /// daemon's `host-gateway-ip` default), as Docker writes them.
    pub(super) fn container_hosts(&self, ci: usize) -> Vec<(String, IpAddr)> {
        let c = &self.resolved.model.containers[ci];
        let host = c
            .host
            .clone()
            .unwrap_or_else(|| self.resolved.model.default_host());
        let gateway = self
            .resolved
            .networks
            .iter()
            .find(|n| n.default_bridge && n.host == host)
            .and_then(|n| n.v4.map(|(_, gw)| IpAddr::V4(gw)));
        c.extra_hosts
            .iter()
            .filter_map(|e| match e.addr {
                crate::docker::HostAddr::Ip(a) => Some((e.name.clone(), a)),
                crate::docker::HostAddr::HostGateway => gateway.map(|g| (e.name.clone(), g)),
            })
            .collect()
    }

    /// The address container `from`'s `/etc/hosts` gives `name` (IPv4 first), if any.
    pub fn hosts_file_lookup(&self, from: &str, name: &str) -> Option<IpAddr> {
        let ci = self
            .resolved
            .model
            .containers
            .iter()
            .position(|c| c.name == from)?;
        let dns = NodeDns {
            hosts: self.container_hosts(ci),
            ..NodeDns::default()
        };
        let found = dns.hosts_lookup(name, true, true);
        found.iter().find(|a| a.is_ipv4()).or(found.first()).copied()
    }

    pub(super) fn container_dns(&self, ci: usize) -> NodeDns {
        let m = &self.resolved.model;
        let c = &m.containers[ci];
        let host = self.host_of(c);
        let eps = &self.resolved.endpoints[ci];
        let nets: Vec<usize> = eps.iter().map(|e| e.network).collect();
        let user = nets.iter().any(|&n| {
            let net = &self.resolved.networks[n];
            !net.default_bridge && net.driver != Driver::Host
        });
        let ipv6 = eps.iter().any(|e| e.v6.is_some());
        let mut rc = ResolvConf {
            search: c.dns_search.clone(),
            ..ResolvConf::default()
        };
        // Options were validated with the model.
        let _ = rc.apply_options(&c.dns_opt);
        // The servers the container is given (--dns, then daemon.json dns), or else the
        // host's own resolv.conf; `declared` is false when the scenario names none.
        let (servers, from_host_file, declared) = upstream_for(c, host);
        if user {
            // resolv.conf points at the embedded server; Docker adds ndots:0 unless an
            // ndots option is already there.
            let ndots_set = rc.ndots_set;
            if !ndots_set {
                rc.ndots = 0;
            }
            rc.nameservers = vec![IpAddr::V4(EMBEDDED)];
            return NodeDns {
                resolv: rc,
                embedded: Some(Embedded {
                    directory: self.directory.clone(),
                    networks: nets,
                    upstream: servers,
                    host_stub: host
                        .and_then(|h| h.daemon.resolv_conf.as_ref())
                        .map(|rc| rc.iter().copied().filter(IpAddr::is_loopback).collect())
                        .unwrap_or_default(),
                    ndots_set,
                    world: !declared,
                }),
                ..NodeDns::default()
            };
        }
        // No embedded DNS (default bridge, none): the container asks the servers itself.
        // From the host's file Docker drops loopback servers (and IPv6 ones without
        // IPv6); with none left it falls back to Google's resolvers.
        rc.nameservers = if from_host_file {
            let usable: Vec<IpAddr> = servers
                .iter()
                .copied()
                .filter(|s| !s.is_loopback() && (ipv6 || s.is_ipv4()))
                .collect();
            if !usable.is_empty() {
                usable
            } else if servers.iter().all(|s| *s == SYSTEMD_RESOLVED) {
                // Docker sees systemd-resolved and reads its real upstreams from
                // /run/systemd/resolve/resolv.conf: outside the lab.
                Vec::new()
            } else {
                fallback(ipv6)
            }
        } else if !declared && eps.is_empty() {
            // A container on `none` cannot reach any resolver: show that, not a world.
            fallback(false)
        } else {
            servers
        };
        NodeDns {
            resolv: rc,
            ..NodeDns::default()
        }
    }

    /// Why a lookup of `name` from `from` may fail where a Docker user would expect it
    /// to work: the asker has no embedded DNS and `name` is a container or alias.
    pub(super) fn dns_hint(&self, from: &str, name: &str) -> Option<String> {
        let m = &self.resolved.model;
        let ci = m.containers.iter().position(|c| c.name == from)?;
        let eps = &self.resolved.endpoints[ci];
        let why = if self.host_net.contains_key(from) {
            format!(
                "{from} is on the host network: it uses the host's resolv.conf, and Docker's embedded DNS \
                 (which knows container names) does not serve it"
            )
        } else if eps.is_empty() {
            format!("{from} is on the none network: it has only loopback, no way to any name server")
        } else if eps.iter().any(|e| {
            let n = &self.resolved.networks[e.network];
            !n.default_bridge && n.driver != Driver::Host
        }) {
            // It has the embedded DNS: nothing surprising to explain.
            return None;
        } else {
            format!(
                "{from} is only on the default bridge network, which has no embedded DNS: container names do \
                 not resolve there (use a user-defined network, or the container's IP address)"
            )
        };
        let wanted = normalize(name);
        let is_container = m.containers.iter().enumerate().any(|(ci, c)| {
            normalize(&c.name) == wanted
                || self.resolved.endpoints[ci]
                    .iter()
                    .any(|e| e.aliases.iter().any(|a| normalize(a) == wanted))
        });
        is_container.then_some(why)
    }

    /// Resolves `name` on machine `from` with real DNS queries, as `getent ahosts`
    /// does (A, plus AAAA when the machine has an IPv6 address).
    ///
    /// # Errors
    /// When `from` is not a machine of the lab.
    pub fn resolve(&mut self, from: &str, name: &str) -> Result<ResolveResult, String> {
        let id = self.machine(from)?;
        if self.resolved.model.containers.iter().any(|c| c.name == from) && !self.is_running(from) {
            return Err(format!("container {from} is not running"));
        }
        let v6 = self.address_of(from, true).is_some();
        let hint = self.dns_hint(from, name);
        let start = self.fabric.now();
        // A host-network container shares the host's namespace but has its own
        // resolv.conf (the host's, with its --dns settings applied).
        let own = self.host_net_resolv(from);
        let saved = own.and_then(|rc| {
            self.fabric
                .element_mut::<Node>(id)
                .map(|n| std::mem::replace(&mut n.apps.dns.resolv, rc))
        });
        let idx = self
            .fabric
            .with_element::<Node, _>(id, |n, ctx| n.start_lookup(ctx, name, v6, hint.clone()))
            .ok_or_else(|| format!("'{from}' cannot resolve names"))?;
        let limit = start
            + self
                .fabric
                .element_mut::<Node>(id)
                .and_then(|n| n.lookup(idx))
                .map_or(SimDuration::from_secs(60), |l| l.worst_case());
        self.run_until_done(limit, |f| {
            f.element_mut::<Node>(id)
                .and_then(|n| n.lookup(idx))
                .is_none_or(|l| l.outcome.is_some())
        });
        if let Some(rc) = saved
            && let Some(n) = self.fabric.element_mut::<Node>(id)
        {
            n.apps.dns.resolv = rc;
        }
        let l = self
            .fabric
            .element_mut::<Node>(id)
            .and_then(|n| n.take_lookup(idx))
            .ok_or("lookup vanished")?;
        let mut log = l.log.clone();
        if let Some(h) = hint
            && !matches!(l.outcome, Some(LookupOutcome::Addresses(_)))
            && !log.contains(&h)
        {
            log.push(h);
        }
        Ok(ResolveResult {
            outcome: l
                .outcome
                .unwrap_or_else(|| LookupOutcome::NoAnswer("no answer".into())),
            log,
            frames: l.frames,
            elapsed: l.finished.unwrap_or(self.fabric.now()).saturating_since(start),
        })
    }
}

impl Lab {
    /// The resolv.conf of a container on the host network: the host's name servers (or
    /// its `dns` settings), its own search domains and options.
    fn host_net_resolv(&self, name: &str) -> Option<ResolvConf> {
        if !self.host_net.contains_key(name) {
            return None;
        }
        let c = self.resolved.model.containers.iter().find(|c| c.name == name)?;
        let mut rc = ResolvConf {
            search: c.dns_search.clone(),
            ..ResolvConf::default()
        };
        let _ = rc.apply_options(&c.dns_opt);
        rc.nameservers = upstream_for(c, self.host_of(c)).0;
        Some(rc)
    }
}

/// The servers Docker gives container `c` (its `dns`, the daemon's `dns`, or the host's
/// resolv.conf), whether they come from the host's file, and whether any were declared.
fn upstream_for(c: &ContainerDef, host: Option<&HostDef>) -> (Vec<IpAddr>, bool, bool) {
    if !c.dns.is_empty() {
        return (c.dns.clone(), false, true);
    }
    match host {
        Some(h) if !h.dns.is_empty() => (h.dns.clone(), false, true),
        Some(h) => match &h.daemon.resolv_conf {
            Some(rc) => (rc.clone(), true, true),
            None => (Vec::new(), false, false),
        },
        None => (Vec::new(), false, false),
    }
}

/// The DNS roles of a Docker host's own namespace (shared by host-network containers):
/// its resolv.conf as declared, a loopback stub where it lists one.
pub(super) fn host_dns(h: &HostDef) -> NodeDns {
    let servers = h.daemon.resolv_conf.clone().unwrap_or_default();
    NodeDns {
        stub_at: servers.iter().copied().filter(IpAddr::is_loopback).collect(),
        resolv: ResolvConf {
            nameservers: servers,
            ..ResolvConf::default()
        },
        ..NodeDns::default()
    }
}
