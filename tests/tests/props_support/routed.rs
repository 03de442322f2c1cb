//! Random graphs of routers — cycles allowed — with deliberately bad static routes
//! (towards a random neighbour, or missing) and hosts on /24s at their edges.
//!
//! Router `r` owns 192.168.r.1/24 on its LAN port (port 0), where host `r`, if any,
//! sits at 192.168.r.10 with a default route to it. Link `e` between routers `a` and
//! `b` is 10.255.e.0/24, `a` at .1 and `b` at .2. Bad routes make routing loops, which
//! only the TTL ends.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use netloom_core::{ElemId, Fabric, PortId, SimTime};
use netloom_drivers::net::node_mac;
use netloom_drivers::router::{Iface, Node, Route};
use proptest::prelude::*;

use super::{Built, Impairment, Timed, echo_listeners, host_node, impairment, pick, traffic};

/// Most routers in a graph.
pub const MAX_ROUTERS: usize = 6;

/// A host behind a router.
#[derive(Clone, Debug)]
pub struct RoutedHost {
    /// Its interface MTU.
    pub mtu: u32,
    /// Whether it serves the echo port.
    pub listen: bool,
    /// Its cable to the router.
    pub link: Impairment,
}

/// How router `r` reaches the LAN of router `d`.
#[derive(Clone, Debug)]
pub enum RouteChoice {
    /// Along a shortest path.
    Shortest,
    /// Through a neighbour picked at random (modulo the router's link count): may loop.
    Neighbour(u16),
    /// No route.
    Missing,
}

/// A link between two routers.
#[derive(Clone, Debug)]
pub struct RouterLink {
    /// The other end (see [`RoutedSpec::tree`] and [`RoutedSpec::extra`]).
    pub peer: u16,
    /// The MTU of both interfaces.
    pub mtu: u32,
    /// Its impairments.
    pub link: Impairment,
}

/// A router graph, its hosts, its (partly bad) routes and the traffic.
#[derive(Clone, Debug)]
pub struct RoutedSpec {
    /// Router `i + 1` links to router `tree[i].peer % (i + 1)`: the graph is connected.
    pub tree: Vec<RouterLink>,
    /// Extra links `(a, link)` between router `a` and `link.peer` (both modulo the router
    /// count); they make cycles. Self-links are skipped.
    pub extra: Vec<(u16, RouterLink)>,
    /// Host of router `r` at `hosts[r]`, if any.
    pub hosts: Vec<Option<RoutedHost>>,
    /// `routes[r * MAX_ROUTERS + d]`: how router `r` reaches the LAN of router `d`.
    pub routes: Vec<RouteChoice>,
    /// Default route of router `r` through one of its links (modulo their count), if any.
    pub defaults: Vec<Option<u16>>,
    /// What the hosts do.
    pub traffic: Vec<Timed>,
}

fn mtu() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(1500u32), 1 => Just(1400), 1 => Just(1000), 1 => Just(576)]
}

fn router_link() -> impl Strategy<Value = RouterLink> {
    (any::<u16>(), mtu(), impairment()).prop_map(|(peer, mtu, link)| RouterLink { peer, mtu, link })
}

/// 2–6 routers, up to 4 extra links, some bad routes and defaults, 1–10 timed actions.
pub fn routed_spec() -> impl Strategy<Value = RoutedSpec> {
    let host = proptest::option::weighted(
        0.8,
        (mtu(), any::<bool>(), impairment()).prop_map(|(mtu, listen, link)| RoutedHost { mtu, listen, link }),
    );
    let route = prop_oneof![
        6 => Just(RouteChoice::Shortest),
        2 => any::<u16>().prop_map(RouteChoice::Neighbour),
        1 => Just(RouteChoice::Missing),
    ];
    (
        proptest::collection::vec(router_link(), 1..MAX_ROUTERS),
        proptest::collection::vec((any::<u16>(), router_link()), 0..=4),
        proptest::collection::vec(host, MAX_ROUTERS),
        proptest::collection::vec(route, MAX_ROUTERS * MAX_ROUTERS),
        proptest::collection::vec(proptest::option::weighted(0.3, any::<u16>()), MAX_ROUTERS),
        traffic(),
    )
        .prop_map(|(tree, extra, hosts, routes, defaults, traffic)| RoutedSpec {
            tree,
            extra,
            hosts,
            routes,
            defaults,
            traffic,
        })
}

/// A link resolved to its two routers.
struct Edge<'a> {
    a: usize,
    b: usize,
    spec: &'a RouterLink,
}

impl RoutedSpec {
    fn routers(&self) -> usize {
        self.tree.len() + 1
    }

    /// Every router-to-router link: the tree first, then the extra links.
    fn edges(&self) -> Vec<Edge<'_>> {
        let n = self.routers();
        let mut v: Vec<Edge<'_>> = self
            .tree
            .iter()
            .enumerate()
            .map(|(i, l)| Edge {
                a: pick(l.peer, i + 1),
                b: i + 1,
                spec: l,
            })
            .collect();
        for (a, l) in &self.extra {
            let (a, b) = (pick(a, n), pick(l.peer, n));
            if a != b {
                v.push(Edge { a, b, spec: l });
            }
        }
        v
    }

    /// The fabric of this spec, seeded with `seed`.
    pub fn build(&self, seed: u64) -> Built {
        let n = self.routers();
        let edges = self.edges();
        let mut fabric = Fabric::new(seed);
        let ids: Vec<ElemId> = (0..n)
            .map(|r| fabric.add_element(format!("r{r}"), Box::new(Node::new("placeholder", false))))
            .collect();
        let mut routers: Vec<Node> = (0..n).map(|r| Node::new(format!("r{r}"), true)).collect();
        let mut infra = Vec::new();
        for (r, node) in routers.iter_mut().enumerate() {
            let addr = Ipv4Addr::new(192, 168, r as u8, 1);
            node.add_iface(Iface {
                name: "lan".into(),
                mac: node_mac(ids[r].0, 0),
                v4: vec![Ipv4Net::new(addr, 24).expect("valid prefix")],
                v6: vec![],
                mtu: 1500,
                bridge: None,
            });
            infra.push(addr);
        }
        // links[r]: (port on r, address of the far end) for each link of r, in edge order.
        let mut links: Vec<Vec<(PortId, Ipv4Addr)>> = vec![Vec::new(); n];
        let mut ends = Vec::new();
        for (e, edge) in edges.iter().enumerate() {
            let mut port_of = |r: usize, host: u8| {
                let addr = Ipv4Addr::new(10, 255, e as u8, host);
                let port = routers[r].ifaces().len() as PortId;
                routers[r].add_iface(Iface {
                    name: format!("e{e}"),
                    mac: node_mac(ids[r].0, port),
                    v4: vec![Ipv4Net::new(addr, 24).expect("valid prefix")],
                    v6: vec![],
                    mtu: edge.spec.mtu,
                    bridge: None,
                });
                infra.push(addr);
                port
            };
            let (pa, pb) = (port_of(edge.a, 1), port_of(edge.b, 2));
            links[edge.a].push((pa, Ipv4Addr::new(10, 255, e as u8, 2)));
            links[edge.b].push((pb, Ipv4Addr::new(10, 255, e as u8, 1)));
            ends.push(((ids[edge.a], pa), (ids[edge.b], pb), edge.spec.link.config()));
        }
        for r in 0..n {
            let via = |i: usize| {
                let (port, peer) = links[r][i];
                (port, IpAddr::V4(peer))
            };
            for d in (0..n).filter(|&d| d != r) {
                let hop = match &self.routes[r * MAX_ROUTERS + d] {
                    RouteChoice::Shortest => Some(first_hop(&edges, r, d)),
                    RouteChoice::Neighbour(i) => Some(pick(i, links[r].len())),
                    RouteChoice::Missing => None,
                };
                if let Some(i) = hop {
                    let (port, gw) = via(i);
                    routers[r].add_route(Route {
                        net: IpNet::V4(Ipv4Net::new(Ipv4Addr::new(192, 168, d as u8, 0), 24).expect("valid")),
                        via: Some(gw),
                        port,
                    });
                }
            }
            if let Some(i) = &self.defaults[r] {
                let (port, gw) = via(pick(i, links[r].len()));
                routers[r].add_route(Route {
                    net: IpNet::V4(Ipv4Net::default()),
                    via: Some(gw),
                    port,
                });
            }
        }
        for (r, node) in routers.into_iter().enumerate() {
            *fabric.element_mut::<Node>(ids[r]).expect("a node") = node;
        }
        for (a, b, cfg) in ends {
            fabric.connect(a, b, cfg);
        }
        let mut hosts = Vec::new();
        let mut missing = Vec::new();
        for (r, router) in ids.iter().enumerate() {
            missing.push(Ipv4Addr::new(192, 168, r as u8, 99));
            let Some(h) = &self.hosts[r] else { continue };
            let addr = Ipv4Addr::new(192, 168, r as u8, 10);
            let (id, mut node) = host_node(&mut fabric, format!("h{r}"), addr, h.mtu);
            node.add_route(Route {
                net: IpNet::V4(Ipv4Net::default()),
                via: Some(IpAddr::V4(Ipv4Addr::new(192, 168, r as u8, 1))),
                port: 0,
            });
            if h.listen {
                for l in echo_listeners() {
                    node.add_listen(l, SimTime::ZERO);
                }
            }
            *fabric.element_mut::<Node>(id).expect("a node") = node;
            fabric.connect((id, 0), (*router, 0), h.link.config());
            hosts.push((id, addr));
        }
        Built {
            fabric,
            hosts,
            missing,
            infra,
        }
    }

    /// Whether some link draws from the RNG.
    pub fn is_random(&self) -> bool {
        self.edges().iter().any(|e| e.spec.link.is_random())
            || self.hosts.iter().flatten().any(|h| h.link.is_random())
    }
}

/// Which of `r`'s links (index in the order they were added) starts a shortest path to `d`.
fn first_hop(edges: &[Edge<'_>], r: usize, d: usize) -> usize {
    let n = edges
        .iter()
        .map(|e| e.a.max(e.b) + 1)
        .max()
        .unwrap_or(1)
        .max(r + 1)
        .max(d + 1);
    let mut dist = vec![usize::MAX; n];
    dist[d] = 0;
    let mut q = VecDeque::from([d]);
    while let Some(x) = q.pop_front() {
        for e in edges {
            for (u, v) in [(e.a, e.b), (e.b, e.a)] {
                if u == x && dist[v] == usize::MAX {
                    dist[v] = dist[x] + 1;
                    q.push_back(v);
                }
            }
        }
    }
    // r's links in the order `build` numbered them.
    let mut i = 0;
    for e in edges {
        for (u, v) in [(e.a, e.b), (e.b, e.a)] {
            if u == r {
                if dist[v].saturating_add(1) == dist[r] {
                    return i;
                }
                i += 1;
            }
        }
    }
    0
}
