//! The network namespace model: what the Linux kernel of a container, a machine, a
//! router or a Docker host does with a packet.
//!
//! A [`Node`] has interfaces (one port each), addresses, a routing table with longest
//! prefix match, ARP and IPv6 neighbour discovery, IPv4 fragmentation and reassembly,
//! ICMP/ICMPv6 errors (port and host unreachable, TTL exceeded, fragmentation needed,
//! packet too big), optional forwarding, connection tracking with NAT (masquerade and
//! published ports) and Docker's forward filter (network isolation, internal networks,
//! published-port admission). Packets addressed to the node go to its ICMP echo
//! responder, its sockets ([`crate::host::Stack`]) or get an RST / port unreachable.
//!
//! The kernel as subsystems, each with its own state and unit tests:
//!
//! | module | what it keeps |
//! | --- | --- |
//! | `addr` | interfaces, own and broadcast addresses, each interface's primary address |
//! | `route` | the routing table (longest prefix match) and the path-MTU cache |
//! | `neigh` | ARP / ND entries, probes, packets waiting per neighbour, NOARP ports (sans-IO) |
//! | `frag` | IPv4 reassembly |
//! | [`crate::netfilter`] | rules, conntrack, NAT (shared with the machine's bridges) |
//! | `apps` | sockets and applications: smoltcp stack, pings, DNS, docker-proxy |
//! | `vxlan` | tunnel endpoints, VXLAN and ESP encapsulation |
//!
//! [`Node`] owns one of each and walks a packet through them: `input` (ethernet-input,
//! ARP/ND, ip-input, the routing decision, local delivery), `hooks` (where the packet
//! meets netfilter), `output` (local output, ip-output, neighbour resolution, ICMP
//! errors), `sockets` (what the applications send and are told); `resolve` is the DNS
//! side (stub resolver, embedded server, forwarding), `packet` the ICMP/TCP helpers.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use bytes::Bytes;
use ipnet::IpNet;
use netloom_core::{Ctx, DropReason, Element, Frame, PortId, SimTime};

use crate::net;
use crate::netfilter::Netfilter;

mod addr;
mod apps;
mod frag;
mod hooks;
mod input;
mod neigh;
mod output;
mod packet;
mod ping;
mod probe;
mod resolve;
mod route;
mod sockets;
mod vxlan;

pub use addr::{BridgeRole, Iface};
pub use apps::{Apps, PingApp, PublishedPort};
pub use probe::{Probe, ProbeOutcome, Probes};
pub use resolve::{Embedded, LookupApp, LookupOutcome, NodeDns, Verdict};
pub use route::Route;
use vxlan::Vteps;
pub use vxlan::{ESP_OVERHEAD, VXLAN_OVERHEAD, Vtep};

use addr::Interfaces;
use frag::Reassembly;
use neigh::Neighbours;
use route::RoutingTable;

const TOK_POLL: u64 = 1;
const TOK_NEIGH: u64 = 2;
const TOK_PING: u64 = 3;
const TOK_DNS: u64 = 4;

/// A network namespace: interfaces, routes, neighbours, conntrack and sockets.
pub struct Node {
    name: String,
    ifaces: Interfaces,
    routes: RoutingTable,
    /// Whether packets not addressed to the node are routed (`net.ipv4.ip_forward`).
    pub forwarding: bool,
    /// The reason given when a packet would need forwarding and forwarding is off.
    pub forward_off: (DropReason, &'static str),
    /// Netfilter: rules, connection tracking and NAT (shared with this machine's
    /// bridges, whose bridged traffic meets it when `bridge-nf-call-iptables` is on).
    pub nf: Rc<RefCell<Netfilter>>,
    neigh: Neighbours,
    frags: Reassembly,
    armed: [Option<SimTime>; 5],
    ip_id: u16,
    /// Sockets and applications: the smoltcp stack, pings, DNS lookups and
    /// forwards, docker-proxy's published ports.
    pub apps: Apps,
    vteps: Vteps,
    /// Reachability probes (`netloom policy matrix`).
    probes: Probes,
    /// A Docker host's view of the NetworkPolicies: the embedded DNS it serves for a
    /// container (emulation) forwards as if from the container's namespace, so the
    /// container's egress policy applies to it.
    pub policy: Option<Rc<crate::policy::PolicyEngine>>,
}

impl Node {
    /// A node without interfaces; `forwarding` makes it a router.
    pub fn new(name: impl Into<String>, forwarding: bool) -> Self {
        Node {
            name: name.into(),
            ifaces: Interfaces::default(),
            routes: RoutingTable::default(),
            forwarding,
            forward_off: (
                DropReason::NotForUs,
                "this machine does not forward packets (ip_forward=0)",
            ),
            nf: Rc::new(RefCell::new(Netfilter::default())),
            neigh: Neighbours::default(),
            frags: Reassembly::default(),
            armed: [None; 5],
            ip_id: 1,
            apps: Apps::new(),
            vteps: Vteps::default(),
            probes: Probes::default(),
            policy: None,
        }
    }

    /// Adds a permanent neighbour entry (`ip neigh replace IP lladdr MAC nud
    /// permanent dev PORT`), as a warmed-up network has learned it.
    pub fn prime_neighbour(&mut self, ctx: &mut Ctx<'_>, port: PortId, ip: IpAddr, mac: net::Mac) {
        self.learn(ctx, port, ip, mac);
    }

    /// Makes `port` an entry for packets the node sends as its own: what arrives there
    /// is routed like a locally generated packet (ipvlan l3 children's traffic, which
    /// the kernel hands to `ip_local_out` in the parent's namespace).
    pub fn set_local_out(&mut self, port: PortId) {
        self.ifaces.set_local_out(port);
    }

    /// Whether `port` is NOARP.
    pub fn is_noarp(&self, port: PortId) -> bool {
        self.neigh.is_noarp(port)
    }

    /// Marks `port` NOARP (an ipvlan l3 child): packets leave without neighbour
    /// resolution and ARP is neither sent nor answered there.
    pub fn set_noarp(&mut self, port: PortId) {
        self.neigh.set_noarp(port);
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an interface with its connected routes; its port is its index.
    pub fn add_iface(&mut self, iface: Iface) -> PortId {
        let port = self.ifaces.len() as PortId;
        for n in &iface.v4 {
            self.add_route(Route {
                net: IpNet::V4(n.trunc()),
                via: None,
                port,
            });
        }
        for n in &iface.v6 {
            self.add_route(Route {
                net: IpNet::V6(n.trunc()),
                via: None,
                port,
            });
        }
        self.ifaces.add(iface)
    }

    /// The interfaces, by port.
    pub fn ifaces(&self) -> &[Iface] {
        &self.ifaces
    }

    /// Adds a route; lookups prefer the longest prefix, then the earliest added.
    pub fn add_route(&mut self, r: Route) {
        self.routes.add(r);
    }

    /// The routing table, most specific first.
    pub fn routes(&self) -> &[Route] {
        self.routes.routes()
    }

    /// Whether `a` is one of the node's own addresses.
    pub fn is_local(&self, a: IpAddr) -> bool {
        self.ifaces.is_local(a)
    }

    /// The route to `dst`.
    pub fn route(&self, dst: IpAddr) -> Option<&Route> {
        self.routes.lookup(dst)
    }

    /// The name of the interface behind `port` (`eth0`, `docker0`).
    pub fn port_label(&self, port: PortId) -> String {
        self.ifaces
            .get(port as usize)
            .map_or_else(|| format!("p{port}"), |i| i.name.clone())
    }

    /// The source address the node uses towards `dst`: the primary address of the
    /// outgoing interface, as Linux picks it.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        if dst.is_loopback() {
            return Some(match dst {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        if self.is_local(dst) {
            return Some(dst);
        }
        let r = self.route(dst)?;
        let i = self.ifaces.get(r.port as usize)?;
        self.ifaces.primary(i, dst.is_ipv4())
    }

    /// The path MTU learned towards `dst`, if a router reported one in the last ten
    /// minutes (Linux's `mtu_expires`).
    pub fn path_mtu(&self, now: SimTime, dst: IpAddr) -> Option<u32> {
        self.routes.path_mtu(now, dst)
    }

    /// The next IPv4 identification for a packet this node originates (fragments of
    /// different packets must not share one).
    fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }

    fn is_local_broadcast(&self, a: IpAddr) -> bool {
        self.ifaces.is_local_broadcast(a)
    }

    fn arm(&mut self, ctx: &mut Ctx<'_>, token: u64, at: SimTime) {
        let slot = &mut self.armed[token as usize];
        let now = ctx.now();
        if slot.is_none_or(|t| t < now || at < t) {
            *slot = Some(at);
            ctx.schedule(at, token);
        }
    }
}

impl Element for Node {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
        match frame.offload {
            // A TSO frame from a real machine is cut into wire frames here, where it
            // meets routing, NAT and sockets (the kernel's software GSO).
            Some(o) => {
                let pieces = net::resolve_offload(&frame.data, &o);
                for (i, p) in pieces.into_iter().enumerate() {
                    let f = if i == 0 {
                        Frame {
                            data: Bytes::from(p),
                            offload: None,
                            ..frame.clone()
                        }
                    } else {
                        ctx.originate(Bytes::from(p))
                    };
                    self.ethernet_input(ctx, port, f);
                }
            }
            None => self.ethernet_input(ctx, port, frame),
        }
        if self.apps.active() {
            self.service(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        if let Some(slot) = self.armed.get_mut(token as usize)
            && *slot == Some(ctx.now())
        {
            *slot = None;
        }
        match token {
            TOK_NEIGH => self.neigh_timer(ctx),
            TOK_PING => self.ping_timer(ctx),
            TOK_DNS => self.dns_timer(ctx),
            _ => {}
        }
        self.service(ctx);
    }

    fn port_name(&self, port: PortId) -> String {
        self.ifaces
            .get(port as usize)
            .map_or_else(|| format!("p{port}"), |i| i.name.clone())
    }
}
