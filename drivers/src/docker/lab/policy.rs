//! NetworkPolicies in the lab: guards at every pod port, and the reachability matrix
//! measured by probing every container from every container.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::net::IpAddr;
use std::rc::Rc;

use netloom_core::{ElemId, PortId, SimDuration};

use super::Lab;
use crate::bridge::{Bridge, BridgePolicy};
use crate::docker::Model;
use crate::net::{L4, Mac};
use crate::netfilter::conntrack::TupleHasher;
use crate::policy::{Denied, Direction, Guards, Pod, PolicyEngine};
use crate::router::{Node, ProbeOutcome};

/// How long a probe may take before it counts as blocked (the e2e prober's timeout).
pub const PROBE_TIMEOUT: SimDuration = SimDuration::from_secs(2);

/// One cell of the reachability matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The handshake (or a UDP answer) came back.
    Connected,
    /// It reached the destination and nothing listens there (RST / port unreachable).
    Refused,
    /// No answer; with the policies that denied it (the side, and the index of each
    /// policy in [`PolicyMatrix::policies`]), if a policy did.
    Blocked(Vec<(Direction, usize)>),
}

impl Reach {
    /// The packet got through to the destination (connected or refused).
    pub fn reached(&self) -> bool {
        !matches!(self, Reach::Blocked(_))
    }
}

/// The reachability truth table: every container to every container, per port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyMatrix {
    /// The containers, in the file's order: rows are sources, columns destinations.
    pub names: Vec<String>,
    /// The probed ports.
    pub ports: Vec<(L4, u16)>,
    /// Every policy (`namespace/name`), as [`Reach::Blocked`] refers to them.
    pub policies: Vec<String>,
    /// `cells[port][src][dst]`.
    pub cells: Vec<Vec<Vec<Reach>>>,
    /// Whether the network plugin enforces policies.
    pub enforced: bool,
    /// Cells a policy would have denied though it was not enforced: (port, src, dst).
    pub unenforced_denials: Vec<(usize, usize, usize)>,
}

impl Lab {
    /// Compiles the model's NetworkPolicies and puts a guard at the bridge port of
    /// every pod some policy selects.
    pub(super) fn install_policies(
        &mut self,
        m: &Model,
        addrs: Vec<Vec<IpAddr>>,
        pod_ports: &[(ElemId, PortId, usize)],
    ) {
        if m.cluster.policies.is_empty() {
            return;
        }
        let pods: Vec<Pod> = m
            .containers
            .iter()
            .zip(&addrs)
            .map(|(c, ips)| Pod {
                name: c.name.clone(),
                namespace: c.namespace.clone(),
                labels: c.labels.clone(),
                ip: ips.first().copied(),
                ports: c.named_ports.clone(),
            })
            .collect();
        let engine = Rc::new(PolicyEngine::new(
            m.cluster.clone(),
            pods,
            &addrs,
            !m.policies_ignored,
        ));
        // Each bridge's resident node: its host's addresses.
        let mut node_of: BTreeMap<ElemId, Vec<IpAddr>> = BTreeMap::new();
        for ((host, _), &bid) in &self.bridges {
            let ips = self
                .nodes
                .get(host)
                .and_then(|&h| self.fabric.element::<Node>(h))
                .map(|n| {
                    n.ifaces()
                        .iter()
                        .flat_map(|i| {
                            let v4 = i.v4.iter().map(|a| IpAddr::V4(a.addr()));
                            let v6 = i.v6.iter().map(|a| IpAddr::V6(a.addr()));
                            v4.chain(v6).collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default();
            node_of.insert(bid, ips);
        }
        for &(bid, bport, ci) in pod_ports {
            if !engine.isolated(ci) {
                continue;
            }
            if let Some(b) = self.fabric.element_mut::<Bridge>(bid) {
                let bp = b.policy.get_or_insert_with(|| {
                    Box::new(BridgePolicy {
                        engine: engine.clone(),
                        pods: Vec::new(),
                        guards: Guards::default(),
                        node: node_of.get(&bid).cloned().unwrap_or_default(),
                    })
                });
                let i = bport as usize;
                if bp.pods.len() <= i {
                    bp.pods.resize(i + 1, None);
                }
                bp.pods[i] = Some(ci);
            }
        }
        // Docker hosts serve the embedded DNS of emulated containers: its forwards
        // meet the container's egress policy.
        for h in &m.hosts {
            if let Some(&hid) = self.nodes.get(&h.name)
                && let Some(n) = self.fabric.element_mut::<Node>(hid)
            {
                n.policy = Some(engine.clone());
            }
        }
        let default = m.default_host();
        if let Some(&hid) = self.nodes.get(&default)
            && let Some(n) = self.fabric.element_mut::<Node>(hid)
        {
            n.policy = Some(engine.clone());
        }
        self.policy = Some(engine);
    }

    /// The compiled policies, when the scenario has any.
    pub fn policy_engine(&self) -> Option<&PolicyEngine> {
        self.policy.as_deref()
    }

    /// Gives every modelled container the neighbour entries of the containers sharing
    /// one of its networks, and their bridges the containers' MACs, as a network that
    /// has been up a while has learned them, so probes measure policies rather than
    /// ARP storms and floods.
    fn prime_neighbours(&mut self) {
        let mut members: BTreeMap<usize, Vec<(ElemId, PortId, IpAddr, Mac)>> = BTreeMap::new();
        let containers = self.resolved.model.containers.clone();
        for (ci, c) in containers.iter().enumerate() {
            let Some(eps) = self.resolved.endpoints.get(ci) else {
                continue;
            };
            for ep in eps {
                let key = format!("{}.{}", c.name, ep.ifname);
                let Some(&(id, port, link)) = self.ports.get(&key) else {
                    continue;
                };
                let Some(mac) = self
                    .fabric
                    .element::<Node>(id)
                    .and_then(|n| n.ifaces().get(port as usize))
                    .map(|i| i.mac)
                else {
                    continue;
                };
                // The bridge has seen the container's MAC on its port.
                let now = self.fabric.now();
                let far = self.fabric.link(link).ends.into_iter().find(|&(e, _)| e != id);
                if let Some((bid, bport)) = far
                    && let Some(b) = self.fabric.element_mut::<Bridge>(bid)
                {
                    b.prime(mac, bport, now);
                }
                let ips = ep.v4.map(IpAddr::V4).into_iter().chain(ep.v6.map(IpAddr::V6));
                for ip in ips {
                    members.entry(ep.network).or_default().push((id, port, ip, mac));
                }
            }
        }
        for list in members.values() {
            for &(id, port, _, own) in list {
                let peers: Vec<(IpAddr, Mac)> = list
                    .iter()
                    .filter(|&&(_, _, _, mac)| mac != own)
                    .map(|&(_, _, ip, mac)| (ip, mac))
                    .collect();
                self.fabric.with_element::<Node, _>(id, |n, ctx| {
                    for &(ip, mac) in &peers {
                        n.prime_neighbour(ctx, port, ip, mac);
                    }
                });
            }
        }
    }

    /// The containers a matrix covers (running, with an address, not on the host's
    /// or no network) and the address each is probed at.
    fn matrix_members(&self) -> Vec<(String, Option<ElemId>, IpAddr)> {
        let m = &self.resolved.model;
        m.containers
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                self.running.get(&c.name).copied().unwrap_or(false) && !self.host_net.contains_key(&c.name)
            })
            .filter_map(|(ci, c)| {
                let ep = self.resolved.endpoints.get(ci)?.first()?;
                let ip = ep.v4.map(IpAddr::V4).or(ep.v6.map(IpAddr::V6))?;
                let id = self
                    .node(&c.name)
                    .filter(|&id| self.fabric.element::<Node>(id).is_some());
                Some((c.name.clone(), id, ip))
            })
            .collect()
    }

    /// Probes every container from every container on each of `ports` (TCP SYN or a
    /// UDP datagram, through the whole model) and tabulates what came back; a blocked
    /// cell names the policies that denied it.
    pub fn policy_matrix(&mut self, ports: &[(L4, u16)]) -> PolicyMatrix {
        // A million probes are not explained hop by hop: their outcomes are the answer.
        let level = self.fabric.trace_level();
        self.fabric.set_trace_level(netloom_core::TraceLevel::Off);
        self.prime_neighbours();
        let members = self.matrix_members();
        let n = members.len();
        let engine = self.policy.clone();
        if let Some(e) = &engine {
            e.record(true);
        }
        let mut cells = Vec::with_capacity(ports.len());
        let mut unenforced = Vec::new();
        for (pi, &(l4, port)) in ports.iter().enumerate() {
            let mut rows = Vec::with_capacity(n);
            for (si, (_, src, _)) in members.iter().enumerate() {
                let Some(src) = *src else {
                    // A real namespace (emulation) cannot be probed from the model.
                    rows.push(vec![Reach::Blocked(Vec::new()); n]);
                    continue;
                };
                let sent: Vec<usize> = self
                    .fabric
                    .with_element::<Node, _>(src, |node, ctx| {
                        node.clear_probes();
                        let sent = members
                            .iter()
                            .map(|&(_, _, ip)| node.start_probe(ctx, ip, l4, port))
                            .collect();
                        node.flush_probes(ctx);
                        sent
                    })
                    .unwrap_or_default();
                let limit = self.fabric.now() + PROBE_TIMEOUT;
                let mut denied: HashMap<u64, Denied, BuildHasherDefault<TupleHasher>> = HashMap::default();
                let eng = engine.clone();
                self.run_until_done(limit, |f| {
                    let waiting = f.element::<Node>(src).map_or(0, |n| n.probes().waiting());
                    if waiting == 0 {
                        return true;
                    }
                    if let Some(e) = &eng {
                        for d in e.take_denials() {
                            denied.insert(d.frame.0, d);
                        }
                        let enforced_denials = if e.enforced { denied.len() } else { 0 };
                        return waiting <= enforced_denials;
                    }
                    false
                });
                if let Some(e) = &engine {
                    for d in e.take_denials() {
                        denied.insert(d.frame.0, d);
                    }
                }
                let probes = self
                    .fabric
                    .element::<Node>(src)
                    .map(|n| n.probes().list.clone())
                    .unwrap_or_default();
                let row = (0..n)
                    .map(|di| {
                        let Some(p) = sent.get(di).and_then(|&i| probes.get(i)) else {
                            return Reach::Blocked(Vec::new());
                        };
                        let by = denied.get(&p.frame.0).map(|d| {
                            engine
                                .as_ref()
                                .map(|e| e.isolating_indices(d.pod, d.direction))
                                .unwrap_or_default()
                                .iter()
                                .map(|&i| (d.direction, i as usize))
                                .collect::<Vec<_>>()
                        });
                        if let Some(e) = &engine
                            && !e.enforced
                            && by.is_some()
                        {
                            unenforced.push((pi, si, di));
                        }
                        match p.outcome {
                            ProbeOutcome::Connected => Reach::Connected,
                            ProbeOutcome::Refused => Reach::Refused,
                            ProbeOutcome::Pending | ProbeOutcome::Unsendable => {
                                Reach::Blocked(by.unwrap_or_default())
                            }
                        }
                    })
                    .collect();
                rows.push(row);
            }
            cells.push(rows);
        }
        if let Some(e) = &engine {
            e.record(false);
        }
        // Let the last resets land so the next step starts from a quiet network.
        let settle = self.fabric.now() + SimDuration::from_millis(50);
        self.run_until_done(settle, |_| false);
        self.fabric.set_trace_level(level);
        PolicyMatrix {
            names: members.into_iter().map(|(name, _, _)| name).collect(),
            ports: ports.to_vec(),
            policies: (self.resolved.model.cluster.policies.iter())
                .map(|p| p.id())
                .collect(),
            cells,
            enforced: engine.as_ref().is_none_or(|e| e.enforced),
            unenforced_denials: unenforced,
        }
    }
}
