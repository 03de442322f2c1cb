//! The receive path of the namespace model, in the kernel's order: `ethernet-input`
//! (MTU, destination MAC, EtherType), ARP and neighbour discovery, `ip-input`
//! (reassembly for conntrack, raw and nat PREROUTING), the routing decision and
//! INPUT or FORWARD, then local delivery to ICMP, DNS, VXLAN, ESP, docker-proxy or a
//! socket — or an RST / port unreachable.

use std::net::{IpAddr, Ipv6Addr};

use bytes::Bytes;
use netloom_core::{Ctx, DropReason, Frame, PortId, Stage};
use smoltcp::wire::{IpProtocol, Ipv4Packet};

use super::Node;
use super::hooks::{Pass, Track};
use super::packet::{
    IcmpErr, decrement_ttl, describe_icmp, echo, fix_icmp_checksum, inner_tuple, is_multicast, nd_option,
    rewrite_inner, tcp_rst,
};
use crate::net::{self, ETH_ARP, ETH_IPV4, ETH_IPV6, IpInfo, L4, Tuple};
use crate::netfilter::conntrack::Dir;
use crate::netfilter::{CtStates, Hook, Packet, TableId};

impl Node {
    pub(super) fn ethernet_input(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
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
            let name = &iface.name;
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
            mark: 0,
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
            tr.mark = self.nat_mark(Hook::Prerouting, &p);
            let p = Packet { mark: tr.mark, ..p };
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

    /// Translates an ICMP error about a tracked connection (RELATED): the outer
    /// destination and the embedded packet go back to their pre-NAT addresses.
    pub(super) fn translate_related(&mut self, ctx: &mut Ctx<'_>, frame: &Frame, pkt: &mut [u8]) -> bool {
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

    pub(super) fn local_input(
        &mut self,
        ctx: &mut Ctx<'_>,
        in_port: PortId,
        frame: Frame,
        pkt: Vec<u8>,
        info: IpInfo,
    ) {
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
                            let port_unreachable = matches!(
                                (v4, body[0], body.get(1)),
                                (true, 3, Some(3)) | (false, 1, Some(4))
                            );
                            if !self.probe_error(inner, port_unreachable) {
                                self.report_error(ctx, inner, v4, body, text);
                            }
                        }
                    }
                    _ => ctx.deliver(&frame, || "ICMP message".into()),
                }
            }
            L4::Tcp | L4::Udp if self.probe_answer(ctx, &frame, &pkt, &info) => {}
            L4::Udp if t.dport == net::VXLAN_PORT && self.vxlan_decap(ctx, &frame, &pkt, &info) => {}
            // An answer to one of docker-proxy's UDP connections (exactly their tuple)
            // before the name servers and the resolver see it.
            L4::Udp
                if self.apps.udp_proxy.owns(t.dport) && self.udp_proxy_answer(ctx, &frame, &pkt, &info) => {}
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
            L4::Udp if let Some(proxy) = self.proxy_target(&t) => {
                self.udp_proxy_input(ctx, &frame, &pkt, &info, proxy);
            }
            L4::Tcp | L4::Udp => {
                let syn = info.tcp_flags.is_some_and(|f| f & 0x02 != 0 && f & 0x10 == 0);
                // A docker-proxy connection's port takes only its container's answers
                // (a connected socket): anything else finds no socket.
                let proxy_port = t.l4 == L4::Udp && self.apps.udp_proxy.owns(t.dport);
                let accepts = !proxy_port
                    && self
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
}
