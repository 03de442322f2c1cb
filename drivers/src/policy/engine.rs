//! NetworkPolicies compiled for the packet path, and the guard a CNI plugin puts at a
//! pod's interface.
//!
//! [`PolicyEngine`] is built once from the [`Cluster`] and the pods (every container,
//! with all its addresses): for each pod and direction the policies that isolate it,
//! and for each policy rule the pods its selector peers match as a bit set. A decision
//! is then a few bit tests and range checks — no label matching per packet — and gives
//! the same answer as [`Cluster::decide`] (property-tested); the slow definition-side
//! function is only called to explain a denial.
//!
//! [`PodGuard`] is one pod interface's enforcement point (the host end of its veth,
//! where Calico, Cilium or kube-router enforce): a connection tracking table of its
//! own, so replies of an allowed connection always pass, and for a new connection the
//! pod's egress (frames leaving the pod) or ingress (frames towards it) side.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use netloom_core::{FrameId, SimTime};

use super::{Cluster, Direction, Endpoint, IpBlock, Pod, PolicyPort, PolicyProto, PolicyVerdict, Side};
use crate::net::{self, L4};
use crate::netfilter::conntrack::{Conntrack, TupleHasher};

/// One compiled rule of one policy.
#[derive(Clone, Debug)]
struct CRule {
    /// `from`/`to` is empty: every peer.
    any_peer: bool,
    /// Pods matched by a selector peer (bit per pod).
    pods: Vec<u64>,
    /// ipBlock peers.
    blocks: Vec<IpBlock>,
    /// `ports` (empty: every port).
    ports: Vec<PolicyPort>,
}

/// A denial the matrix asked to record: which frame, which side, which policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// The denied frame.
    pub frame: FrameId,
    /// The side that denied it.
    pub direction: Direction,
    /// The pod whose side it was.
    pub pod: usize,
}

/// NetworkPolicies compiled against the pods.
#[derive(Debug)]
pub struct PolicyEngine {
    cluster: Cluster,
    pods: Vec<Pod>,
    /// Every address of every pod.
    by_ip: HashMap<IpAddr, u32, BuildHasherDefault<TupleHasher>>,
    /// Per pod, per direction (ingress, egress): the policies that isolate it.
    isolating: Vec<[Vec<u32>; 2]>,
    /// Per policy, per direction: its rules.
    rules: Vec<[Vec<CRule>; 2]>,
    /// The network plugin enforces policies (`policy_enforcement`).
    pub enforced: bool,
    /// Denials recorded while the reachability matrix probes (`None`: not recording).
    log: RefCell<Option<Vec<Denied>>>,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl PolicyEngine {
    /// Compiles `cluster` for `pods`; `addrs[i]` are every address of pod `i` (its
    /// [`Pod::ip`] is the one ipBlocks see when the definitions are asked directly).
    pub fn new(cluster: Cluster, pods: Vec<Pod>, addrs: &[Vec<IpAddr>], enforced: bool) -> Self {
        let mut by_ip: HashMap<IpAddr, u32, BuildHasherDefault<TupleHasher>> = HashMap::default();
        for (i, ips) in addrs.iter().enumerate() {
            for ip in ips {
                by_ip.entry(*ip).or_insert(i as u32);
            }
        }
        let words = pods.len().div_ceil(64);
        let rules = cluster
            .policies
            .iter()
            .map(|p| {
                [Direction::Ingress, Direction::Egress].map(|d| {
                    p.rules(d)
                        .iter()
                        .map(|r| {
                            let mut bits = vec![0u64; words];
                            for (i, pod) in pods.iter().enumerate() {
                                let hit = r.peers.iter().any(|peer| {
                                    peer.ip_block.is_none()
                                        && cluster.peer_matches(p, peer, &Endpoint::Pod(pod))
                                });
                                if hit {
                                    bits[i / 64] |= 1 << (i % 64);
                                }
                            }
                            CRule {
                                any_peer: r.peers.is_empty(),
                                pods: bits,
                                blocks: r.peers.iter().filter_map(|p| p.ip_block.clone()).collect(),
                                ports: r.ports.clone(),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        let isolating = pods
            .iter()
            .map(|pod| {
                [Direction::Ingress, Direction::Egress].map(|d| {
                    cluster
                        .policies
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.has_type(d) && p.selects(pod))
                        .map(|(i, _)| i as u32)
                        .collect()
                })
            })
            .collect();
        PolicyEngine {
            cluster,
            pods,
            by_ip,
            isolating,
            rules,
            enforced,
            log: RefCell::new(None),
        }
    }

    /// The definitions.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The pods, by index.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// The pod that owns `ip`.
    pub fn pod_of(&self, ip: IpAddr) -> Option<usize> {
        self.by_ip.get(&ip).map(|&i| i as usize)
    }

    /// Whether some policy isolates pod `pod` in some direction.
    pub fn isolated(&self, pod: usize) -> bool {
        self.isolating
            .get(pod)
            .is_some_and(|s| !s[0].is_empty() || !s[1].is_empty())
    }

    /// Whether pod `pod`'s `d` side lets a new connection through: `remote` is the
    /// other end's address, `dst` the destination's (for named ports), `proto` `None`
    /// for protocols policies cannot name (ICMP). `Ok(None)`: not isolated;
    /// `Ok(Some((policy, rule)))`: allowed by that rule; `Err(())`: denied.
    #[allow(clippy::result_unit_err)]
    pub fn side(
        &self,
        d: Direction,
        pod: usize,
        remote: IpAddr,
        dst: IpAddr,
        proto: Option<PolicyProto>,
        port: u16,
    ) -> Result<Option<(usize, usize)>, ()> {
        let Some(iso) = self.isolating.get(pod) else {
            return Ok(None);
        };
        let iso = &iso[dir_index(d)];
        if iso.is_empty() {
            return Ok(None);
        }
        let remote_pod = self.by_ip.get(&remote).map(|&i| i as usize);
        let dst_pod = match d {
            Direction::Ingress => Some(pod),
            Direction::Egress => remote_pod,
        };
        let dst_ep = match dst_pod.and_then(|i| self.pods.get(i)) {
            Some(p) => Endpoint::Pod(p),
            None => Endpoint::External(dst),
        };
        for &pi in iso {
            let pi = pi as usize;
            for (ri, r) in self.rules[pi][dir_index(d)].iter().enumerate() {
                let peer_ok = r.any_peer
                    || remote_pod
                        .is_some_and(|o| r.pods.get(o / 64).is_some_and(|w| w & (1 << (o % 64)) != 0))
                    || r.blocks.iter().any(|b| b.contains(remote));
                if !peer_ok {
                    continue;
                }
                let port_ok = r.ports.is_empty()
                    || proto.is_some_and(|pr| r.ports.iter().any(|pp| pp.matches(pr, port, &dst_ep)));
                if port_ok {
                    return Ok(Some((pi, ri)));
                }
            }
        }
        Err(())
    }

    /// `namespace/name` of policy `i`.
    pub fn policy_id(&self, i: usize) -> String {
        self.cluster.policies.get(i).map(|p| p.id()).unwrap_or_default()
    }

    /// The policies isolating pod `pod` for `d`, as indices into the cluster's policies.
    pub fn isolating_indices(&self, pod: usize, d: Direction) -> &[u32] {
        self.isolating
            .get(pod)
            .map_or(&[], |s| s[dir_index(d)].as_slice())
    }

    /// Why pod `pod`'s `d` side denies it, from the definitions: `ingress denied:
    /// selected by x/deny-all (no ingress rules)`.
    pub fn explain(&self, q: &Query) -> String {
        let Query {
            direction: d,
            pod,
            remote,
            dst,
            proto,
            port,
        } = *q;
        let Some(me) = self.pods.get(pod) else {
            return String::new();
        };
        // The remote pod as the packet shows it: ipBlocks see the address it used.
        let remote_pod = self.pod_of(remote).and_then(|i| self.pods.get(i)).map(|p| Pod {
            ip: Some(remote),
            ..p.clone()
        });
        let other = match &remote_pod {
            Some(p) => Endpoint::Pod(p),
            None => Endpoint::External(remote),
        };
        let side = match d {
            Direction::Ingress => self.cluster.side(d, me, &other, &Endpoint::Pod(me), proto, port),
            Direction::Egress => {
                let dst_ep = match &remote_pod {
                    Some(p) => Endpoint::Pod(p),
                    None => Endpoint::External(dst),
                };
                self.cluster.side(d, me, &other, &dst_ep, proto, port)
            }
        };
        let v = match d {
            Direction::Ingress => PolicyVerdict {
                same_pod: false,
                egress: Side::NotIsolated,
                ingress: side,
            },
            Direction::Egress => PolicyVerdict {
                same_pod: false,
                egress: side,
                ingress: Side::NotIsolated,
            },
        };
        v.to_string()
    }

    /// Starts (or stops, clearing) recording denials for the matrix.
    pub fn record(&self, on: bool) {
        *self.log.borrow_mut() = on.then(Vec::new);
    }

    /// Takes the denials recorded so far.
    pub fn take_denials(&self) -> Vec<Denied> {
        self.log
            .borrow_mut()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn log_denial(&self, frame: FrameId, d: Direction, pod: usize) {
        if let Some(log) = self.log.borrow_mut().as_mut() {
            log.push(Denied {
                frame,
                direction: d,
                pod,
            });
        }
    }
}

/// What the guards did with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardVerdict {
    /// Not IP, part of a tracked connection, or no side is isolated.
    Pass,
    /// A new connection some isolated side allowed: (side, policy index, rule index).
    Allowed(Vec<(Direction, usize, usize)>),
    /// A new connection no selecting policy of one side allows. With enforcement off,
    /// only noted (and the connection is tracked as if allowed).
    Denied {
        /// What was asked ([`PolicyEngine::explain`] says why it was denied).
        query: Query,
        /// Whether it was enforced (dropped).
        enforced: bool,
    },
}

/// One side's question about a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The side.
    pub direction: Direction,
    /// The pod whose side it is.
    pub pod: usize,
    /// The other end's address.
    pub remote: IpAddr,
    /// The destination address.
    pub dst: IpAddr,
    /// The protocol (`None`: one no policy port names, such as ICMP).
    pub proto: Option<PolicyProto>,
    /// The destination port.
    pub port: u16,
}

/// The enforcement point of one bridge: the pods behind its ports and one connection
/// tracking table, as a CNI plugin enforces in the host's FORWARD path. A new
/// connection is checked against the sending pod's egress and the receiving pod's
/// ingress and confirmed (tracked) only when it passes both, as netfilter confirms a
/// connection only for a packet that leaves its last hook; its later packets and
/// replies then pass without a policy decision.
#[derive(Clone, Debug, Default)]
pub struct Guards {
    ct: Conntrack,
}

impl Guards {
    /// Checks the IP packet `ip` of frame `frame` leaving pod `from` (if a policed pod
    /// sent it) towards pod `to` (if it goes to a policed pod). Traffic between a pod
    /// and its resident node (one of `node`'s addresses) is always allowed, as
    /// Kubernetes documents ("pods cannot block access from their resident node") and
    /// the plugins implement it (kubelet probes depend on it). `explain` asks which
    /// policies allowed a new connection (tracing).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        engine: &PolicyEngine,
        ip: &[u8],
        frame: FrameId,
        now: SimTime,
        (from, to): (Option<usize>, Option<usize>),
        node: &[IpAddr],
        explain: bool,
    ) -> GuardVerdict {
        let Some(info) = net::parse_ip(ip) else {
            return GuardVerdict::Pass;
        };
        // Fragments after the first and ICMP errors (RELATED to what they quote) are
        // not policed; neither is IPv6 neighbour discovery.
        if (info.fragment && !info.first_fragment) || info.is_icmp_error() {
            return GuardVerdict::Pass;
        }
        let t = info.tuple;
        if !t.src.is_ipv4() && t.l4 == L4::Icmp && matches!(info.icmp_type, Some(133..=137)) {
            return GuardVerdict::Pass;
        }
        if let Some((i, dir)) = self.ct.lookup(&t, now) {
            self.ct.seen(i, dir, info.tcp_flags, now);
            return GuardVerdict::Pass;
        }
        let (proto, port) = match t.l4 {
            L4::Tcp => (Some(PolicyProto::Tcp), t.dport),
            L4::Udp => (Some(PolicyProto::Udp), t.dport),
            L4::Other(132) => {
                let p = ip
                    .get(info.header_len + 2..info.header_len + 4)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                (Some(PolicyProto::Sctp), p)
            }
            _ => (None, 0),
        };
        let mut allowed = Vec::new();
        let mut denied = None;
        let sides = [(Direction::Egress, from, t.dst), (Direction::Ingress, to, t.src)];
        for (d, pod, remote) in sides {
            let Some(pod) = pod else { continue };
            if node.contains(&remote) {
                continue;
            }
            match engine.side(d, pod, remote, t.dst, proto, port) {
                Ok(None) => {}
                Ok(Some((p, r))) => {
                    if explain {
                        allowed.push((d, p, r));
                    }
                }
                Err(()) => {
                    engine.log_denial(frame, d, pod);
                    denied = Some(Query {
                        direction: d,
                        pod,
                        remote,
                        dst: t.dst,
                        proto,
                        port,
                    });
                    break;
                }
            }
        }
        if let Some(query) = denied
            && engine.enforced
        {
            return GuardVerdict::Denied {
                query,
                enforced: true,
            };
        }
        // Confirmed: its replies and later packets pass both ways.
        let _ = self.ct.insert(t, t, info.tcp_flags, now);
        match denied {
            Some(query) => GuardVerdict::Denied {
                query,
                enforced: false,
            },
            None if allowed.is_empty() => GuardVerdict::Pass,
            None => GuardVerdict::Allowed(allowed),
        }
    }
}
