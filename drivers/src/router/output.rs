//! The send path of the namespace model: a locally generated packet's OUTPUT hooks
//! and route lookup, `ip-output` (path MTU, fragmentation or refusal), neighbour
//! resolution through [`super::neigh::Neighbours`] (solicitations, the queue of
//! packets waiting, what happens when resolution fails), and ICMP errors.

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use netloom_core::{Ctx, DropReason, Frame, PortId, Stage};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

use super::hooks::Pass;
use super::neigh::{Lookup, NEIGH_PROBES, NeighEvent};
use super::packet::{IcmpErr, fragment, is_multicast};
use super::{Node, TOK_NEIGH};
use crate::net::{self, BROADCAST, ETH_ARP, ETH_IPV4, ETH_IPV6, L4, Mac};

impl Node {
    /// Sends a packet the node itself originates: route lookup, then output.
    pub(super) fn local_send(&mut self, ctx: &mut Ctx<'_>, pkt: Vec<u8>, app_frames: Option<usize>) {
        if net::parse_ip(&pkt).is_none() {
            return;
        }
        let frame = ctx.originate_about(Bytes::new(), &pkt);
        self.send_originated(ctx, frame, pkt, app_frames);
    }

    /// [`Node::local_send`] of a packet whose frame the caller originated (to note on it).
    pub(super) fn send_originated(
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

    /// Sends `pkt` out of `port` towards `nexthop`: MTU (fragmenting or refusing),
    /// then neighbour resolution. `forwarded` is the arrival port of a routed packet.
    pub(super) fn ip_output(
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

    pub(super) fn learn(&mut self, ctx: &mut Ctx<'_>, port: PortId, ip: IpAddr, mac: Mac) {
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

    pub(super) fn neigh_timer(&mut self, ctx: &mut Ctx<'_>) {
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

    pub(super) fn icmp_error(&mut self, ctx: &mut Ctx<'_>, orig: &[u8], in_port: PortId, kind: IcmpErr) {
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
}
