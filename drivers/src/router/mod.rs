//! The network namespace model: what the Linux kernel of a container, a machine, a
//! router or a Docker host does with a packet.
//!
//! A [`Node`] has interfaces (one port each), addresses, a routing table with longest
//! prefix match, ARP and IPv6 neighbour discovery, IPv4 fragmentation and reassembly,
//! ICMP/ICMPv6 errors (port and host unreachable, TTL exceeded, fragmentation needed,
//! packet too big), optional forwarding, connection tracking with NAT (masquerade and
//! published ports) and Docker's forward filter (network isolation, internal networks,
//! published-port admission). Packets addressed to the node go to its ICMP echo
//! responder, its [`Stack`] (smoltcp sockets) or get an RST / port unreachable.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use bytes::Bytes;
use ipnet::IpNet;
use netloom_core::{Ctx, DropReason, Element, Frame, PortId, SimDuration, SimTime, Stage};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

use crate::host::{Listen, ProxyStats, ProxyTarget, SockApp};
use crate::net::{self, BROADCAST, ETH_ARP, ETH_IPV4, ETH_IPV6, IpInfo, L4, Mac, Tuple};
use crate::netfilter::conntrack::Dir;
use crate::netfilter::{CtStates, Hook, Netfilter, TableId};

mod addr;
mod apps;
mod frag;
mod hooks;
mod neigh;
mod packet;
mod ping;
mod resolve;
mod route;
mod vxlan;

pub use addr::{BridgeRole, Iface};
pub use apps::{Apps, PingApp, PublishedPort};
pub use resolve::{Embedded, LookupApp, LookupOutcome, NodeDns, Verdict};
pub use route::Route;
use vxlan::Vteps;
pub use vxlan::{ESP_OVERHEAD, VXLAN_OVERHEAD, Vtep};

use addr::Interfaces;
use frag::Reassembly;
use hooks::{Pass, Track};
use neigh::{Lookup, NEIGH_PROBES, NeighEvent, Neighbours};
use route::RoutingTable;

use packet::{
    IcmpErr, decrement_ttl, describe_icmp, echo, fix_icmp_checksum, fragment, inner_tuple, is_multicast,
    nd_option, rewrite_inner, tcp_rst,
};

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
        }
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

    /// Adds a TCP or UDP echo listener.
    pub fn add_listen(&mut self, l: Listen, now: SimTime) {
        self.apps.add_listen(&self.ifaces, l, now);
    }

    /// The listeners.
    pub fn listens(&self) -> &[Listen] {
        self.apps.listens()
    }

    /// Removes a listener (its process stopped); connections it accepted are reset.
    pub fn remove_listen(&mut self, l: Listen) {
        self.apps.remove_listen(l);
    }

    /// Starts a ping; returns its index for [`Node::ping`].
    pub fn start_ping(
        &mut self,
        ctx: &mut Ctx<'_>,
        dst: IpAddr,
        count: u32,
        size: usize,
        dont_frag: bool,
    ) -> usize {
        let idx = self.apps.open_ping(dst, count, size, dont_frag);
        self.send_ping(ctx, idx);
        self.service(ctx);
        idx
    }

    /// Ping number `i`.
    pub fn ping(&self, i: usize) -> Option<&PingApp> {
        self.apps.ping(i)
    }

    /// Opens a TCP connection to `dst:port` and sends `bytes` (0 = only connect).
    ///
    /// # Errors
    /// When the node has no route (and so no source address) towards `dst`: the text is
    /// what Linux's `connect()` reports.
    pub fn start_tcp(
        &mut self,
        ctx: &mut Ctx<'_>,
        dst: IpAddr,
        port: u16,
        bytes: u64,
    ) -> Result<usize, String> {
        let Some(src) = self.source_for(dst) else {
            return Err(self.unreachable(ctx, dst));
        };
        let now = ctx.now();
        // A path MTU learned earlier bounds the new connection's segments, as the
        // route exception does for Linux's MSS.
        let learned = self.path_mtu(now, dst);
        let stack = self.apps.stack_mut(&self.ifaces, now);
        if let Some(mtu) = learned {
            stack.lower_mtu(mtu, now);
        }
        let i = stack.start_tcp(src, dst, port, bytes, now);
        self.service(ctx);
        Ok(i)
    }

    /// Sends one UDP datagram to `dst:port`, waiting for an echo.
    ///
    /// # Errors
    /// As [`Node::start_tcp`].
    pub fn start_udp(&mut self, ctx: &mut Ctx<'_>, dst: IpAddr, port: u16) -> Result<usize, String> {
        let Some(src) = self.source_for(dst) else {
            return Err(self.unreachable(ctx, dst));
        };
        let now = ctx.now();
        let i = self
            .apps
            .stack_mut(&self.ifaces, now)
            .start_udp(src, dst, port, now);
        self.service(ctx);
        Ok(i)
    }

    /// A socket's `connect()` with no route: Linux fails it with ENETUNREACH before any
    /// packet exists. The trace still records the attempt as a packet dropped for
    /// `no-route` at the lookup, as a ping's is, so `dropped: no-route` reads the same
    /// under `run` as under `emulate` (where the kernel's error is the evidence).
    fn unreachable(&self, ctx: &mut Ctx<'_>, dst: IpAddr) -> String {
        let f = ctx.originate(Bytes::new());
        let stage = if dst.is_ipv4() {
            Stage::Ip4Lookup
        } else {
            Stage::Ip6Lookup
        };
        ctx.drop_frame(&f, DropReason::NoRoute, stage, || {
            format!(
                "{}: no route to {dst} (connect: Network is unreachable)",
                self.name
            )
        });
        "connect: Network is unreachable".to_string()
    }

    /// Socket application number `i`.
    pub fn sock_app(&self, i: usize) -> Option<&SockApp> {
        self.apps.sock_app(i)
    }

    /// Sockets open on this machine (listeners, connections, step applications) and
    /// application slots kept: both bounded by what runs at once, not by how many
    /// steps ran.
    pub fn sockets_open(&self) -> (usize, usize) {
        self.apps.sockets_open()
    }

    /// Bytes acknowledged so far by socket application `i`.
    pub fn sock_acked(&self, i: usize) -> u64 {
        self.apps.sock_acked(i)
    }

    // ---- input -------------------------------------------------------------------

    fn ethernet_input(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
        if !self.vteps.list.is_empty()
            && let Some(vi) = self.vteps.list.iter().position(|v| v.port == port)
        {
            self.vxlan_encap(ctx, vi, frame);
            return;
        }
        if self.ifaces.is_local_out(port) {
            let pkt = net::ethertype(&frame.data)
                .and_then(|(_, off)| frame.data.get(off..))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            let frame = Frame {
                data: Bytes::new(),
                ..frame
            };
            self.send_originated(ctx, frame, pkt, None);
            return;
        }
        let Some(iface) = self.ifaces.get(port as usize) else {
            ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                "no such interface".into()
            });
            return;
        };
        // A device takes frames up to its MTU plus the Ethernet header and one VLAN tag
        // (`is_skb_forwardable`); a larger one is discarded without a word. GSO
        // super-frames from a TAP are segmented later, as the kernel lets them pass.
        if frame.data.len() > iface.mtu as usize + 18 && frame.offload.is_none_or(|o| !o.is_gso()) {
            let (name, mtu, len) = (iface.name.clone(), iface.mtu, frame.data.len());
            ctx.drop_frame(&frame, DropReason::MtuExceeded, Stage::EthernetInput, || {
                format!(
                    "a {len}-byte frame is larger than {name}'s MTU {mtu}: discarded silently by the device"
                )
            });
            return;
        }
        let (Some(dst), Some((ethertype, off))) = (frame.dst_mac(), net::ethertype(&frame.data)) else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::EthernetInput, || {
                "runt frame".into()
            });
            return;
        };
        if dst != iface.mac && !net::is_group(&dst) {
            let name = iface.name.clone();
            ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                format!(
                    "destination {} is not the MAC of {name}",
                    netloom_core::frame::MacDisplay(dst)
                )
            });
            return;
        }
        match ethertype {
            ETH_ARP => self.arp_input(ctx, port, frame, off),
            ETH_IPV4 | ETH_IPV6 => self.ip_input(ctx, port, frame, off),
            t => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                format!("no protocol handler for EtherType {t:#06x}")
            }),
        }
    }

    fn arp_input(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame, off: usize) {
        let Some(arp) = frame.data.get(off..).and_then(net::parse_arp) else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::ArpResolve, || {
                "malformed ARP".into()
            });
            return;
        };
        let for_us = self.ifaces.owns(IpAddr::V4(arp.tpa));
        let known = self.neigh.knows(port, IpAddr::V4(arp.spa));
        if (for_us || known || arp.op == 2) && !arp.spa.is_unspecified() {
            self.learn(ctx, port, IpAddr::V4(arp.spa), arp.sha);
        }
        if arp.op == 1 && for_us {
            let mac = self.ifaces[port as usize].mac;
            let reply = net::arp(2, mac, arp.tpa, arp.sha, arp.spa);
            ctx.deliver(&frame, || format!("ARP who-has {} answered", arp.tpa));
            let f = ctx.originate(Bytes::from(net::ethernet(arp.sha, mac, ETH_ARP, &reply)));
            ctx.send(port, f);
        } else {
            ctx.deliver(&frame, || {
                format!(
                    "ARP {} for {} seen",
                    if arp.op == 1 { "request" } else { "reply" },
                    arp.tpa
                )
            });
        }
    }

    fn learn(&mut self, ctx: &mut Ctx<'_>, port: PortId, ip: IpAddr, mac: Mac) {
        let frames = self.neigh.learn(ctx.now(), port, ip, mac);
        if !frames.is_empty() {
            let src = self.ifaces[port as usize].mac;
            for f in frames {
                let et = if ip.is_ipv4() { ETH_IPV4 } else { ETH_IPV6 };
                let data = Bytes::from(net::ethernet(mac, src, et, &f.data));
                ctx.send(port, Frame { data, ..f });
            }
        }
    }

    fn ip_input(&mut self, ctx: &mut Ctx<'_>, in_port: PortId, frame: Frame, off: usize) {
        let mut pkt = frame.data.get(off..).map(<[u8]>::to_vec).unwrap_or_default();
        let Some(info) = net::parse_ip(&pkt) else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::Ip4Input, || {
                "malformed IP header".into()
            });
            return;
        };
        pkt.truncate(info.total_len);
        // Connection tracking needs whole packets (Linux's nf_defrag): a tracking node
        // reassembles fragments first and fragments again on the way out.
        let (pkt, info) = if self.tracking() && info.fragment {
            match self
                .frags
                .push(ctx.now(), pkt, &info)
                .and_then(|w| net::parse_ip(&w).map(|i| (w, i)))
            {
                Some(whole) => whole,
                None => {
                    ctx.deliver(&frame, || "fragment held for conntrack defragmentation".into());
                    return;
                }
            }
        } else {
            (pkt, info)
        };
        let mut pkt = pkt;
        let v4 = info.tuple.src.is_ipv4();
        if !v4 && info.tuple.l4 == L4::Icmp && matches!(info.icmp_type, Some(133..=137)) {
            self.nd_input(ctx, in_port, frame, &pkt, &info);
            return;
        }
        if !self.tracking() {
            self.route_input(ctx, in_port, frame, pkt, &info, None);
            return;
        }
        // raw PREROUTING: before connection tracking.
        let untracked = Track {
            state: CtStates::INVALID,
            orig: info.tuple,
            post: None,
            fresh: false,
            dnat: false,
        };
        let in_if = Some(in_port);
        let p = self.nf_packet(&pkt, &info, &info.tuple, in_if, None, &untracked);
        if let Pass::Stop = self.nf_filter(
            ctx,
            &frame,
            &pkt,
            &info,
            TableId::Raw,
            Hook::Prerouting,
            &p,
            Stage::RawPrerouting,
            in_port,
        ) {
            return;
        }
        let mut tr = self.ct_in(ctx, &frame, &mut pkt, &info);
        let mut info = match net::parse_ip(&pkt) {
            Some(i) => i,
            None => {
                ctx.drop_frame(&frame, DropReason::Malformed, Stage::NatPrerouting, || {
                    "malformed after NAT".into()
                });
                return;
            }
        };
        // nat PREROUTING: the first packet of a connection only.
        if tr.fresh {
            let p = self.nf_packet(&pkt, &info, &info.tuple, in_if, None, &tr);
            let t = info.tuple;
            if self
                .nat_dnat(ctx, &frame, &mut pkt, Hook::Prerouting, &p, &t)
                .is_some()
            {
                tr.dnat = true;
                match net::parse_ip(&pkt) {
                    Some(i) => info = i,
                    None => {
                        return ctx.drop_frame(
                            &frame,
                            DropReason::Malformed,
                            Stage::NatPrerouting,
                            String::new,
                        );
                    }
                }
            }
        }
        self.route_input(ctx, in_port, frame, pkt, &info, Some(tr));
    }

    /// The routing decision for an arriving packet, then INPUT or FORWARD and
    /// POSTROUTING. `tr` is the packet's connection tracking (`None`: not tracked).
    fn route_input(
        &mut self,
        ctx: &mut Ctx<'_>,
        in_port: PortId,
        frame: Frame,
        mut pkt: Vec<u8>,
        info: &IpInfo,
        tr: Option<Track>,
    ) {
        let tuple = info.tuple;
        let v4 = tuple.src.is_ipv4();
        let dst = tuple.dst;
        let in_if = Some(in_port);
        let local = self.is_local(dst) || self.is_local_broadcast(dst) || is_multicast(dst);
        if local {
            if let Some(tr) = &tr {
                let p = self.nf_packet(&pkt, info, &tuple, in_if, None, tr);
                if let Pass::Stop = self.nf_filter(
                    ctx,
                    &frame,
                    &pkt,
                    info,
                    TableId::Filter,
                    Hook::Input,
                    &p,
                    Stage::FilterInput,
                    in_port,
                ) {
                    return;
                }
                // Source NAT of the reply direction applies on the way in too (INPUT).
                if let Some(t) = tr.post {
                    net::rewrite(&mut pkt, &t);
                }
                if tr.fresh
                    && self
                        .nf
                        .borrow_mut()
                        .ct
                        .insert(tr.orig, tuple, info.tcp_flags, ctx.now())
                        .is_err()
                {
                    ctx.drop_frame(&frame, DropReason::Firewall, Stage::Conntrack, || {
                        "nf_conntrack: table full, dropping packet".into()
                    });
                    return;
                }
            }
            let Some(info) = net::parse_ip(&pkt) else {
                ctx.drop_frame(&frame, DropReason::Malformed, Stage::LocalDeliver, || {
                    "malformed after NAT".into()
                });
                return;
            };
            self.local_input(ctx, in_port, frame, pkt, info);
            return;
        }
        let lookup = if v4 { Stage::Ip4Lookup } else { Stage::Ip6Lookup };
        if !self.forwarding {
            let (reason, why) = self.forward_off;
            // Silently: with forwarding off, the input route's `ip_error()` sends no
            // ICMP (net/ipv4/route.c counts InAddrErrors and frees the packet), so the
            // sender times out rather than hearing "host unreachable".
            ctx.drop_frame(&frame, reason, lookup, || {
                format!("{dst} is not an address of this machine; {why}; dropped without an ICMP error")
            });
            return;
        }
        if info.ttl <= 1 {
            ctx.drop_frame(&frame, DropReason::TtlExceeded, lookup, || {
                format!(
                    "TTL {} expired in transit; ICMP time exceeded sent to {}",
                    info.ttl, tuple.src
                )
            });
            self.icmp_error(ctx, &pkt, in_port, IcmpErr::TimeExceeded);
            return;
        }
        let Some(route) = self.route(dst).cloned() else {
            ctx.drop_frame(&frame, DropReason::NoRoute, lookup, || {
                format!(
                    "no route to {dst}; ICMP network unreachable sent to {}",
                    tuple.src
                )
            });
            self.icmp_error(ctx, &pkt, in_port, IcmpErr::NetUnreach);
            return;
        };
        let out_if = Some(route.port);
        let fwd = tr
            .as_ref()
            .map(|tr| self.nf_packet(&pkt, info, &tuple, in_if, out_if, tr));
        if let Some(p) = &fwd
            && let Pass::Stop = self.nf_filter(
                ctx,
                &frame,
                &pkt,
                info,
                TableId::Filter,
                Hook::Forward,
                p,
                Stage::FilterForward,
                in_port,
            )
        {
            return;
        }
        // A DF packet too big for the way out: refused before source NAT, so the ICMP
        // error goes to the sender as it addressed us.
        let out_mtu = self.ifaces.get(route.port as usize).map_or(u32::MAX, |i| i.mtu) as usize;
        if pkt.len() > out_mtu && (!v4 || Ipv4Packet::new_checked(&pkt[..]).is_ok_and(|p| p.dont_frag())) {
            let name = self.ifaces[route.port as usize].name.clone();
            let len = pkt.len();
            ctx.drop_frame(&frame, DropReason::MtuExceeded, Stage::IpFragment, || {
                format!(
                    "{len}-byte packet does not fit the MTU {out_mtu} of {name} and has DF set: \
                     dropped, ICMP {} (mtu {out_mtu}) sent to {}",
                    if v4 {
                        "fragmentation needed"
                    } else {
                        "packet too big"
                    },
                    tuple.src
                )
            });
            self.icmp_error(ctx, &pkt, in_port, IcmpErr::TooBig(out_mtu as u32));
            return;
        }
        if let Some(tr) = &tr {
            if let Some(t) = tr.post {
                net::rewrite(&mut pkt, &t);
                ctx.note(&frame, Stage::NatPostrouting, || {
                    format!("conntrack: {tuple} rewritten to {t}")
                });
            }
            if tr.fresh
                && !self.nat_confirm(
                    ctx,
                    &frame,
                    &mut pkt,
                    info,
                    tr,
                    &tuple,
                    fwd.as_ref(),
                    Some(route.port),
                )
            {
                return;
            }
        }
        decrement_ttl(&mut pkt);
        let nexthop = route.via.unwrap_or(dst);
        if ctx.tracing() {
            let name = self.ifaces[route.port as usize].name.clone();
            ctx.note(&frame, lookup, || {
                format!("route {} -> {name} via {nexthop}", route.net)
            });
        }
        let frame = Frame {
            data: Bytes::new(),
            ..frame
        };
        self.ip_output(ctx, frame, pkt, route.port, nexthop, Some(in_port));
    }

    fn is_local_broadcast(&self, a: IpAddr) -> bool {
        self.ifaces.is_local_broadcast(a)
    }

    /// Translates an ICMP error about a tracked connection (RELATED): the outer
    /// destination and the embedded packet go back to their pre-NAT addresses.
    fn translate_related(&mut self, ctx: &mut Ctx<'_>, frame: &Frame, pkt: &mut [u8]) -> bool {
        let Some(info) = net::parse_ip(pkt) else {
            return false;
        };
        let hl = info.header_len;
        let Some(inner) = pkt.get(hl + 8..).and_then(inner_tuple) else {
            return false;
        };
        let Some(conn) = ({
            let mut nf = self.nf.borrow_mut();
            nf.ct
                .lookup(&inner.reversed(), ctx.now())
                .and_then(|(i, dir)| nf.ct.conn(i).cloned().map(|c| (c, dir)))
        }) else {
            return false;
        };
        let (conn, dir) = conn;
        // The embedded packet travelled in the direction opposite to this error.
        let inner_dir = if dir == Dir::Reply {
            Dir::Original
        } else {
            Dir::Reply
        };
        let before = match inner_dir {
            Dir::Original => conn.orig,
            Dir::Reply => conn.reply,
        };
        let outer = Tuple {
            dst: before.src,
            ..info.tuple
        };
        // Rewrite the embedded header's addresses and ports, then the outer header.
        let inner_off = hl + 8;
        if let Some(ip) = pkt.get_mut(inner_off..) {
            rewrite_inner(ip, &before);
        }
        net::rewrite(pkt, &outer);
        fix_icmp_checksum(pkt, hl);
        ctx.note(frame, Stage::NatPrerouting, || {
            format!("RELATED ICMP error translated back to {}", before.src)
        });
        true
    }

    fn local_input(&mut self, ctx: &mut Ctx<'_>, in_port: PortId, frame: Frame, pkt: Vec<u8>, info: IpInfo) {
        let (pkt, info) = if info.fragment {
            match self.frags.push(ctx.now(), pkt, &info) {
                Some(whole) => match net::parse_ip(&whole) {
                    Some(i) => (whole, i),
                    None => {
                        ctx.drop_frame(&frame, DropReason::Malformed, Stage::LocalDeliver, || {
                            "bad reassembly".into()
                        });
                        return;
                    }
                },
                None => {
                    ctx.deliver(&frame, || "fragment queued for reassembly".into());
                    return;
                }
            }
        } else {
            (pkt, info)
        };
        let t = info.tuple;
        let v4 = t.src.is_ipv4();
        match t.l4 {
            L4::Icmp => {
                let body = &pkt[info.header_len..];
                match (v4, info.icmp_type) {
                    (true, Some(8)) | (false, Some(128)) => {
                        ctx.deliver(&frame, || format!("echo request from {} answered", t.src));
                        let src = if self.is_local(t.dst) {
                            Some(t.dst)
                        } else {
                            self.source_for(t.src)
                        };
                        if let Some(src) = src {
                            let reply = echo(src, t.src, self.next_ip_id(), false, body);
                            self.local_send(ctx, reply, None);
                        }
                    }
                    (true, Some(0)) | (false, Some(129)) => {
                        let now = ctx.now();
                        let seq = body.get(6..8).map_or(0, |s| u16::from_be_bytes([s[0], s[1]])) as usize;
                        let matched = self.apps.pings.open_mut(t.sport, Some(t.src));
                        if let Some(p) = matched
                            && let Some(&sent) = p.sent.get(seq)
                        {
                            if let Some(slot) = p.rtts.get_mut(seq)
                                && slot.is_none()
                            {
                                *slot = Some(now.saturating_since(sent));
                            }
                            ctx.deliver(&frame, || format!("echo reply seq={seq} from {}", t.src));
                        } else {
                            ctx.deliver(&frame, || "echo reply nobody waits for".into());
                        }
                    }
                    _ if info.is_icmp_error() => {
                        let text = describe_icmp(v4, body, t.src);
                        ctx.deliver(&frame, || text.clone());
                        if let Some(inner) = body.get(8..).and_then(inner_tuple) {
                            self.report_error(ctx, inner, v4, body, text);
                        }
                    }
                    _ => ctx.deliver(&frame, || "ICMP message".into()),
                }
            }
            L4::Udp if t.dport == net::VXLAN_PORT && self.vxlan_decap(ctx, &frame, &pkt, &info) => {}
            L4::Udp if self.dns_input(ctx, &frame, &pkt, &info) => {}
            L4::Other(50) if let Some(inner) = self.esp_unwrap(&pkt, &info) => match net::parse_ip(&inner) {
                Some(i) => self.local_input(ctx, in_port, frame, inner, i),
                None => ctx.drop_frame(&frame, DropReason::Malformed, Stage::LocalDeliver, || {
                    "ESP payload is not an IP datagram".into()
                }),
            },
            L4::Tcp if let Some((target, rule)) = self.proxy_target(&t) => {
                let syn = info.tcp_flags.is_some_and(|f| f & 0x02 != 0 && f & 0x10 == 0);
                ctx.deliver(&frame, || {
                    let label = self.apps.published.get(rule).map_or("", |r| r.label.as_str());
                    format!("{t} to docker-proxy for {label}")
                });
                let now = ctx.now();
                self.apps
                    .stack_mut(&self.ifaces, now)
                    .receive_proxied(pkt, target, syn);
            }
            L4::Tcp | L4::Udp => {
                let syn = info.tcp_flags.is_some_and(|f| f & 0x02 != 0 && f & 0x10 == 0);
                let accepts = self
                    .apps
                    .stack
                    .as_ref()
                    .is_some_and(|s| s.accepts(t.l4, t.dst, t.dport));
                if accepts {
                    let now = ctx.now();
                    ctx.deliver(&frame, || format!("{t} to a socket"));
                    self.apps
                        .stack_mut(&self.ifaces, now)
                        .receive(pkt, t.l4, t.dport, syn);
                } else if t.l4 == L4::Tcp {
                    let rst = info.tcp_flags.is_some_and(|f| f & 0x04 != 0);
                    ctx.drop_frame(&frame, DropReason::NoListener, Stage::LocalDeliver, || {
                        format!(
                            "nothing listens on tcp port {} of {}{}",
                            t.dport,
                            self.name,
                            if rst { "" } else { ": answered with RST" }
                        )
                    });
                    if !rst && let Some(r) = tcp_rst(&pkt, &info, self.next_ip_id()) {
                        self.local_send(ctx, r, None);
                    }
                } else {
                    ctx.drop_frame(&frame, DropReason::PortUnreachable, Stage::LocalDeliver, || {
                        format!(
                            "nothing listens on udp port {} of {}: ICMP port unreachable sent",
                            t.dport, self.name
                        )
                    });
                    if !is_multicast(t.dst) && !self.is_local_broadcast(t.dst) {
                        self.icmp_error(ctx, &pkt, in_port, IcmpErr::PortUnreach);
                    }
                }
            }
            L4::Other(p) => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::LocalDeliver, || {
                format!("no handler for IP protocol {p}")
            }),
        }
    }

    /// Hands an ICMP error to whatever sent the packet it quotes.
    fn report_error(&mut self, ctx: &mut Ctx<'_>, inner: Tuple, v4: bool, body: &[u8], text: String) {
        let (ty, code) = (body[0], body[1]);
        let pmtu = (v4 && ty == 3 && code == 4) || (!v4 && ty == 2);
        if pmtu && self.is_local(inner.src) {
            let mtu = if v4 {
                body.get(6..8)
                    .map_or(0, |m| u16::from_be_bytes([m[0], m[1]]) as u32)
            } else {
                body.get(4..8)
                    .map_or(0, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
            };
            // Linux ignores absurd values (below 552 for IPv4, 1280 for IPv6).
            if mtu >= if v4 { 552 } else { 1280 } {
                self.routes.learn_pmtu(ctx.now(), inner.dst, mtu);
                // TCP adapts its segment size to the learned path MTU, as Linux's
                // PMTU discovery does (here for the whole namespace, not per route).
                if let Some(s) = self.apps.stack.as_mut() {
                    s.lower_mtu(mtu, ctx.now());
                }
            }
        }
        match inner.l4 {
            L4::Icmp => {
                if let Some(p) = self.apps.pings.open_mut(inner.sport, Some(inner.dst)) {
                    p.errors.push(text);
                }
            }
            L4::Tcp | L4::Udp if !pmtu => {
                if inner.l4 == L4::Udp {
                    self.dns_refused(ctx, inner.sport, inner.dst, &text);
                }
                if let Some(s) = self.apps.stack.as_mut() {
                    s.refuse(inner.l4, inner.sport, text);
                }
            }
            _ => {}
        }
    }

    fn nd_input(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame, pkt: &[u8], info: &IpInfo) {
        let body = &pkt[40..];
        let ty = body[0];
        let target = body
            .get(8..24)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from);
        let lla = nd_option(body.get(24..).unwrap_or(&[]), if ty == 135 { 1 } else { 2 }).or(frame.src_mac());
        let (Some(target), Some(lla)) = (target, lla) else {
            ctx.deliver(&frame, || "neighbour discovery message".into());
            return;
        };
        let IpAddr::V6(src) = info.tuple.src else {
            return ctx.deliver(&frame, String::new);
        };
        match ty {
            135 if self.ifaces.owns(IpAddr::V6(target)) => {
                if !src.is_unspecified() {
                    self.learn(ctx, port, IpAddr::V6(src), lla);
                }
                ctx.deliver(&frame, || format!("neighbour solicitation for {target} answered"));
                let mac = self.ifaces[port as usize].mac;
                let dst = if src.is_unspecified() {
                    "ff02::1".parse().unwrap_or(src)
                } else {
                    src
                };
                let flags = if self.forwarding { 0xe0 } else { 0x60 };
                let mut b = target.octets().to_vec();
                b.extend_from_slice(&[2, 1]);
                b.extend_from_slice(&mac);
                let icmp = net::icmpv6(target, dst, 136, 0, [flags, 0, 0, 0], &b);
                let ip = net::ipv6(target, dst, IpProtocol::Icmpv6, 255, &icmp);
                let f = ctx.originate(Bytes::from(net::ethernet(lla, mac, ETH_IPV6, &ip)));
                ctx.send(port, f);
            }
            136 => {
                ctx.deliver(&frame, || format!("neighbour advertisement for {target}"));
                self.learn(ctx, port, IpAddr::V6(target), lla);
            }
            _ => ctx.deliver(&frame, || "neighbour discovery message".into()),
        }
    }

    // ---- output ------------------------------------------------------------------

    /// Sends a packet the node itself originates: route lookup, then output.
    fn local_send(&mut self, ctx: &mut Ctx<'_>, pkt: Vec<u8>, app_frames: Option<usize>) {
        if net::parse_ip(&pkt).is_none() {
            return;
        }
        let frame = ctx.originate_about(Bytes::new(), &pkt);
        self.send_originated(ctx, frame, pkt, app_frames);
    }

    /// [`Node::local_send`] of a packet whose frame the caller originated (to note on it).
    fn send_originated(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: Frame,
        mut pkt: Vec<u8>,
        app_frames: Option<usize>,
    ) {
        if net::parse_ip(&pkt).is_none() {
            return ctx.drop_frame(&frame, DropReason::Malformed, Stage::LocalDeliver, String::new);
        }
        if self.tracking()
            && let Pass::Stop = self.nf_output(ctx, &frame, &mut pkt, app_frames)
        {
            return;
        }
        let Some(info) = net::parse_ip(&pkt) else {
            return ctx.drop_frame(&frame, DropReason::Malformed, Stage::NatPostrouting, String::new);
        };
        let dst = info.tuple.dst;
        if let Some(i) = app_frames
            && let Some(p) = self.apps.pings.get_mut(i)
        {
            p.frames.push(frame.id);
        }
        if self.is_local(dst) {
            // Loopback: the packet never leaves the namespace.
            self.local_input(ctx, 0, frame, pkt, info);
            return;
        }
        let Some(route) = self.route(dst).cloned() else {
            ctx.drop_frame(&frame, DropReason::NoRoute, Stage::Ip4Lookup, || {
                format!(
                    "{}: no route to {dst} (connect: Network is unreachable)",
                    self.name
                )
            });
            if let Some(p) = app_frames.and_then(|i| self.apps.pings.get_mut(i)) {
                p.errors.push("connect: Network is unreachable".into());
            }
            return;
        };
        let nexthop = route.via.unwrap_or(dst);
        self.ip_output(ctx, frame, pkt, route.port, nexthop, None);
    }

    /// The docker-proxy listening where a TCP packet for this host arrived, if a
    /// published port is there and the userland proxy is on; with its rule's index.
    fn proxy_target(&self, t: &Tuple) -> Option<(ProxyTarget, usize)> {
        self.apps.proxy_target(t, |to| self.source_for(to))
    }

    /// Stops the docker-proxy processes whose published port is gone (the container
    /// stopped): call after changing [`Apps::published`].
    pub fn sync_proxy(&mut self) {
        self.apps.sync_proxy();
    }

    /// What this host's docker-proxy processes have done.
    pub fn proxy_stats(&self) -> ProxyStats {
        self.apps.proxy_stats()
    }

    /// Sends `pkt` out of `port` towards `nexthop`: MTU (fragmenting or refusing),
    /// then neighbour resolution. `forwarded` is the arrival port of a routed packet.
    fn ip_output(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: Frame,
        pkt: Vec<u8>,
        port: PortId,
        nexthop: IpAddr,
        forwarded: Option<PortId>,
    ) {
        let Some(iface) = self.ifaces.get(port as usize) else {
            ctx.drop_frame(&frame, DropReason::NoRoute, Stage::InterfaceOutput, || {
                "no such interface".into()
            });
            return;
        };
        let v4 = nexthop.is_ipv4();
        // Locally generated packets also respect a learned path MTU.
        let dst = net::parse_ip(&pkt).map(|i| i.tuple.dst);
        let learned = match (forwarded, dst) {
            (None, Some(d)) => self.path_mtu(ctx.now(), d),
            _ => None,
        };
        let mtu = learned.map_or(iface.mtu, |p| p.min(iface.mtu)) as usize;
        let mut pieces = vec![pkt];
        if pieces[0].len() > mtu {
            let df = !v4
                || Ipv4Packet::new_checked(&pieces[0][..])
                    .map(|p| p.dont_frag())
                    .unwrap_or(true);
            let name = iface.name.clone();
            let len = pieces[0].len();
            if df {
                match forwarded {
                    Some(in_port) => {
                        ctx.drop_frame(&frame, DropReason::MtuExceeded, Stage::IpFragment, || {
                            format!(
                                "{len}-byte packet does not fit the MTU {mtu} of {name} and has DF set: \
                                 dropped, ICMP {} (mtu {mtu}) sent back",
                                if v4 { "fragmentation needed" } else { "packet too big" }
                            )
                        });
                        let pkt = std::mem::take(&mut pieces[0]);
                        self.icmp_error(ctx, &pkt, in_port, IcmpErr::TooBig(mtu as u32));
                    }
                    None => ctx.drop_frame(&frame, DropReason::MtuExceeded, Stage::IpFragment, || {
                        format!("local error: message too long, mtu={mtu} ({len}-byte packet, DF set, out of {name})")
                    }),
                }
                return;
            }
            pieces = fragment(&pieces[0], mtu);
            ctx.note(&frame, Stage::IpFragment, || {
                format!("fragmented into {} pieces for MTU {mtu} of {name}", pieces.len())
            });
        }
        let et = if v4 { ETH_IPV4 } else { ETH_IPV6 };
        let src_mac = iface.mac;
        match self.resolve(ctx, port, nexthop) {
            Some(mac) => {
                for p in pieces {
                    let data = Bytes::from(net::ethernet(mac, src_mac, et, &p));
                    ctx.send(
                        port,
                        Frame {
                            data,
                            ..frame.clone()
                        },
                    );
                }
            }
            None => {
                for p in pieces {
                    let f = Frame {
                        data: Bytes::from(p),
                        ..frame.clone()
                    };
                    match self.neigh.enqueue(port, nexthop, f) {
                        Ok(held) => ctx.hold(held),
                        Err(f) => ctx.drop_frame(&f, DropReason::QueueFull, Stage::ArpResolve, || {
                            format!("too many packets wait for {nexthop} to resolve")
                        }),
                    }
                }
            }
        }
    }

    /// The MAC of `nexthop` on `port`, or `None` after starting resolution.
    fn resolve(&mut self, ctx: &mut Ctx<'_>, port: PortId, nexthop: IpAddr) -> Option<Mac> {
        match nexthop {
            IpAddr::V4(a) if self.is_local_broadcast(nexthop) || a.is_broadcast() => return Some(BROADCAST),
            IpAddr::V6(a) if a.is_multicast() => return Some(net::ipv6_multicast_mac(a)),
            _ => {}
        }
        if self.neigh.is_noarp(port) {
            return self.ifaces.get(port as usize).map(|i| i.mac);
        }
        match self.neigh.lookup(ctx.now(), port, nexthop) {
            Lookup::Reachable(mac) => Some(mac),
            Lookup::Incomplete => None,
            Lookup::Probe { retry } => {
                self.solicit(ctx, port, nexthop);
                self.arm(ctx, TOK_NEIGH, retry);
                None
            }
        }
    }

    fn solicit(&mut self, ctx: &mut Ctx<'_>, port: PortId, target: IpAddr) {
        let iface = &self.ifaces[port as usize];
        let mac = iface.mac;
        let data = match target {
            IpAddr::V4(t) => {
                let spa = iface
                    .v4
                    .iter()
                    .find(|n| n.contains(&t))
                    .or(iface.v4.first())
                    .map_or(Ipv4Addr::UNSPECIFIED, |n| n.addr());
                net::ethernet(BROADCAST, mac, ETH_ARP, &net::arp(1, mac, spa, [0; 6], t))
            }
            IpAddr::V6(t) => {
                let Some(src) = iface.v6.first().map(|n| n.addr()) else {
                    return;
                };
                let dst = net::solicited_node(t);
                let mut b = t.octets().to_vec();
                b.extend_from_slice(&[1, 1]);
                b.extend_from_slice(&mac);
                let icmp = net::icmpv6(src, dst, 135, 0, [0; 4], &b);
                let ip = net::ipv6(src, dst, IpProtocol::Icmpv6, 255, &icmp);
                net::ethernet(net::ipv6_multicast_mac(dst), mac, ETH_IPV6, &ip)
            }
        };
        let f = ctx.originate(Bytes::from(data));
        ctx.send(port, f);
    }

    fn neigh_timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        // One event at a time: a failure's ICMP error may start resolving (or queue a
        // packet for) another neighbour before that one's turn comes, as in the kernel.
        while let Some(event) = self.neigh.poll_timer(now) {
            match event {
                NeighEvent::Solicit { port, ip } => self.solicit(ctx, port, ip),
                NeighEvent::Failed { ip, queued } => {
                    for f in queued {
                        ctx.drop_frame(&f, DropReason::ArpUnresolved, Stage::ArpResolve, || {
                            format!(
                                "{ip} did not answer {NEIGH_PROBES} {} requests",
                                if ip.is_ipv4() { "ARP" } else { "neighbour" }
                            )
                        });
                        self.unreachable_after_resolution(ctx, &f.data);
                    }
                }
            }
        }
        if let Some(next) = self.neigh.next_deadline() {
            self.arm(ctx, TOK_NEIGH, next);
        }
    }

    fn unreachable_after_resolution(&mut self, ctx: &mut Ctx<'_>, pkt: &[u8]) {
        let Some(info) = net::parse_ip(pkt) else { return };
        if self.is_local(info.tuple.src) {
            let text = "Destination Host Unreachable".to_string();
            if let Some(p) = (info.tuple.l4 == L4::Icmp)
                .then(|| self.apps.pings.open_mut(info.tuple.sport, None))
                .flatten()
            {
                p.errors.push(text);
            } else if let Some(s) = self.apps.stack.as_mut() {
                s.refuse(
                    info.tuple.l4,
                    info.tuple.sport,
                    "No route to host (neighbour unresolved)".into(),
                );
            }
            return;
        }
        let in_port = self.route(info.tuple.src).map_or(0, |r| r.port);
        self.icmp_error(ctx, pkt, in_port, IcmpErr::HostUnreach);
    }

    fn icmp_error(&mut self, ctx: &mut Ctx<'_>, orig: &[u8], in_port: PortId, kind: IcmpErr) {
        let Some(info) = net::parse_ip(orig) else { return };
        let src = info.tuple.src;
        if info.is_icmp_error()
            || !info.first_fragment
            || src.is_unspecified()
            || is_multicast(src)
            || self.is_local_broadcast(src)
        {
            return;
        }
        let from = self
            .ifaces
            .get(in_port as usize)
            .and_then(|i| self.ifaces.primary(i, src.is_ipv4()))
            .or_else(|| self.source_for(src));
        let Some(from) = from else { return };
        let pkt = match (from, src) {
            (IpAddr::V4(f), IpAddr::V4(s)) => {
                let (ty, code, rest) = match kind {
                    IcmpErr::NetUnreach => (3, 0, [0; 4]),
                    IcmpErr::HostUnreach => (3, 1, [0; 4]),
                    IcmpErr::PortUnreach => (3, 3, [0; 4]),
                    IcmpErr::TooBig(mtu) => {
                        let m = (mtu.min(65535) as u16).to_be_bytes();
                        (3, 4, [0, 0, m[0], m[1]])
                    }
                    IcmpErr::TimeExceeded => (11, 0, [0; 4]),
                    IcmpErr::Unreach(code) => (3, code, [0; 4]),
                };
                let body = &orig[..orig.len().min(576 - 28)];
                let icmp = net::icmpv4(ty, code, rest, body);
                self.ip_id = self.ip_id.wrapping_add(1);
                net::ipv4(f, s, IpProtocol::Icmp, 64, self.ip_id, false, &icmp)
            }
            (IpAddr::V6(f), IpAddr::V6(s)) => {
                let (ty, code, rest) = match kind {
                    IcmpErr::NetUnreach => (1, 0, [0; 4]),
                    IcmpErr::HostUnreach => (1, 3, [0; 4]),
                    IcmpErr::PortUnreach => (1, 4, [0; 4]),
                    IcmpErr::TooBig(mtu) => (2, 0, mtu.to_be_bytes()),
                    IcmpErr::TimeExceeded => (3, 0, [0; 4]),
                    // ICMPv6 codes: no route 0, administratively prohibited 1,
                    // address unreachable 3, port unreachable 4.
                    IcmpErr::Unreach(code) => (
                        1,
                        match code {
                            0 => 0,
                            1 => 3,
                            10 | 13 => 1,
                            _ => 4,
                        },
                        [0; 4],
                    ),
                };
                let body = &orig[..orig.len().min(1280 - 48)];
                let icmp = net::icmpv6(f, s, ty, code, rest, body);
                net::ipv6(f, s, IpProtocol::Icmpv6, 64, &icmp)
            }
            _ => return,
        };
        self.local_send(ctx, pkt, None);
    }

    fn send_ping(&mut self, ctx: &mut Ctx<'_>, idx: usize) {
        let Some(p) = self.apps.pings.get(idx) else { return };
        let seq = p.sent.len() as u16;
        let (dst, size, df, ident) = (p.dst, p.size, p.dont_frag, p.ident);
        let mut payload = vec![0u8; size];
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (i % 256) as u8;
        }
        let mut rest = [0u8; 4];
        rest[..2].copy_from_slice(&ident.to_be_bytes());
        rest[2..].copy_from_slice(&seq.to_be_bytes());
        let now = ctx.now();
        if let Some(p) = self.apps.pings.get_mut(idx) {
            p.sent.push(now);
            p.rtts.push(None);
        }
        let src = self.source_for(dst);
        // `ping -M do` always sets DF; Linux's default (`-M want`) sets it when the
        // packet fits the path MTU and otherwise fragments at the sender.
        let path_mtu = self
            .route(dst)
            .and_then(|r| self.ifaces.get(r.port as usize))
            .map(|i| self.path_mtu(now, dst).map_or(i.mtu, |p| p.min(i.mtu)))
            .unwrap_or(u32::MAX) as usize;
        let df_bit = df || 28 + size <= path_mtu;
        let pkt = match (src, dst) {
            (Some(IpAddr::V4(s)), IpAddr::V4(d)) => {
                self.ip_id = self.ip_id.wrapping_add(1);
                net::ipv4(
                    s,
                    d,
                    IpProtocol::Icmp,
                    64,
                    self.ip_id,
                    df_bit,
                    &net::icmpv4(8, 0, rest, &payload),
                )
            }
            (Some(IpAddr::V6(s)), IpAddr::V6(d)) => net::ipv6(
                s,
                d,
                IpProtocol::Icmpv6,
                64,
                &net::icmpv6(s, d, 128, 0, rest, &payload),
            ),
            _ => {
                // No source address means no route: the packet never leaves.
                let f = ctx.originate(Bytes::new());
                if let Some(p) = self.apps.pings.get_mut(idx) {
                    p.frames.push(f.id);
                    p.errors.push("connect: Network is unreachable".into());
                }
                ctx.drop_frame(&f, DropReason::NoRoute, Stage::Ip4Lookup, || {
                    format!(
                        "{}: no route to {dst} (connect: Network is unreachable)",
                        self.name
                    )
                });
                return;
            }
        };
        self.local_send(ctx, pkt, Some(idx));
    }

    fn ping_timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for i in 0..self.apps.pings.len() {
            let p = &self.apps.pings[i];
            if p.done || p.next_due() > now {
                continue;
            }
            if (p.sent.len() as u32) < p.count {
                self.send_ping(ctx, i);
            } else {
                self.apps.pings[i].done = true;
            }
        }
        self.apps.settle_pings();
    }

    /// Polls the socket layer, sends what it produced, and re-arms every timer.
    fn service(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.apps.settle_pings();
        if let Some(next) = self.apps.next_ping_due() {
            self.arm(ctx, TOK_PING, next);
        }
        // Packets a socket sends to the node's own addresses come straight back into
        // the stack: poll again until nothing is left queued (bounded, in case two
        // sockets keep answering each other).
        let mut deadline = None;
        for _ in 0..16 {
            let Some(stack) = self.apps.stack.as_mut() else {
                return;
            };
            let out = stack.poll(now);
            deadline = [stack.poll_at(now), stack.app_deadline()]
                .into_iter()
                .flatten()
                .min();
            for pkt in out {
                self.local_send(ctx, pkt, None);
            }
            if !self.apps.stack.as_ref().is_some_and(|s| s.rx_pending()) {
                break;
            }
        }
        if let Some(at) = deadline {
            self.arm(ctx, TOK_POLL, at.max(now + SimDuration::from_micros(1)));
        }
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
