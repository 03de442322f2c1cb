//! Where a machine's sockets and applications ([`super::Apps`]) meet its packet walk:
//! starting pings and connections, sending a ping's requests, polling the smoltcp
//! stack and sending what it produced, and handing ICMP errors to whatever sent the
//! packet they quote (learning path MTUs on the way).

use std::net::IpAddr;

use bytes::Bytes;
use netloom_core::{Ctx, DropReason, Frame, SimDuration, SimTime, Stage};
use smoltcp::wire::{IpProtocol, UdpPacket};

use super::packet::udp_df;
use super::{Node, PingApp, TOK_PING, TOK_POLL};
use crate::host::{Listen, ProxyStats, ProxyTarget, SockApp, UDP_BUF_SIZE, UdpRelay};
use crate::net::{self, IpInfo, L4, Tuple};

impl Node {
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

    /// Hands an ICMP error to whatever sent the packet it quotes.
    pub(super) fn report_error(
        &mut self,
        ctx: &mut Ctx<'_>,
        inner: Tuple,
        v4: bool,
        body: &[u8],
        text: String,
    ) {
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
            // docker-proxy's connections ignore every error (ECONNREFUSED is retried,
            // and no other ICMP error reaches a UDP socket without IP_RECVERR).
            L4::Udp if self.apps.udp_proxy.on_icmp_error(inner.sport) => {}
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

    /// The docker-proxy listening where a TCP packet for this host arrived, if a
    /// published port is there and the userland proxy is on; with its rule's index.
    pub(super) fn proxy_target(&self, t: &Tuple) -> Option<(ProxyTarget, usize)> {
        self.apps.proxy_target(t, |to| self.source_for(to))
    }

    /// A UDP datagram that reached docker-proxy `target` (published by rule `rule`, not
    /// DNATed): delivered to the proxy, whose client connection sends its payload on to
    /// the container. The relayed datagram is recorded as the frame's copy, so the
    /// step that sent the datagram follows it to the container.
    pub(super) fn udp_proxy_input(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &[u8],
        info: &IpInfo,
        (target, rule): (ProxyTarget, usize),
    ) {
        let t = info.tuple;
        let now = ctx.now();
        let relay = self
            .apps
            .udp_proxy_request(&self.ifaces, now, target, (t.src, t.sport), t.dst);
        ctx.deliver(frame, || {
            let label = self.apps.published.get(rule).map_or("", |r| r.label.as_str());
            match relay {
                Some(r) => format!(
                    "{t} to docker-proxy for {label}: sent on from {}",
                    net::sock(r.src.0, r.src.1)
                ),
                None => format!(
                    "{t} to docker-proxy for {label}: no free port to reach the container from,                      dropped (\"Can't proxy a datagram\")"
                ),
            }
        });
        if let Some(r) = relay {
            self.udp_relay_send(ctx, frame, r, pkt, info);
        }
    }

    /// A UDP datagram to one of docker-proxy's client connections, from the container
    /// it dialed: relayed to the client from the address and port the client used.
    /// Returns whether it was one.
    pub(super) fn udp_proxy_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &[u8],
        info: &IpInfo,
    ) -> bool {
        let Some(r) = self.apps.udp_proxy.on_backend(ctx.now(), &info.tuple) else {
            return false;
        };
        ctx.deliver(frame, || {
            format!(
                "{} to docker-proxy: answer sent on to {}",
                info.tuple,
                net::sock(r.dst.0, r.dst.1)
            )
        });
        self.udp_relay_send(ctx, frame, r, pkt, info);
        true
    }

    /// Sends the payload of UDP packet `pkt` (cut at docker-proxy's read buffer) as
    /// `relay` says, as a copy of `parent`.
    fn udp_relay_send(
        &mut self,
        ctx: &mut Ctx<'_>,
        parent: &Frame,
        relay: UdpRelay,
        pkt: &[u8],
        info: &IpInfo,
    ) {
        let Some(udp) = pkt
            .get(info.header_len..info.total_len)
            .and_then(|b| UdpPacket::new_checked(b).ok())
        else {
            return;
        };
        let payload = udp.payload();
        let payload = &payload[..payload.len().min(UDP_BUF_SIZE)];
        let df = self.fits_path(ctx.now(), relay.dst.0, 28 + payload.len());
        let out = udp_df(
            relay.src.0,
            relay.dst.0,
            (relay.src.1, relay.dst.1),
            self.next_ip_id(),
            df,
            payload,
        );
        let f = ctx.originate_from(parent, Bytes::new(), &out);
        self.send_originated(ctx, f, out, None);
    }

    /// Whether a `len`-byte IPv4 packet to `dst` fits the path MTU (so Linux's default
    /// `IP_PMTUDISC_WANT` sends it with DF rather than fragmenting it).
    fn fits_path(&self, now: SimTime, dst: IpAddr, len: usize) -> bool {
        let path_mtu = self
            .route(dst)
            .and_then(|r| self.ifaces.get(r.port as usize))
            .map(|i| self.path_mtu(now, dst).map_or(i.mtu, |p| p.min(i.mtu)))
            .unwrap_or(u32::MAX) as usize;
        len <= path_mtu
    }

    /// Stops the docker-proxy processes whose published port is gone (the container
    /// stopped): call after changing [`super::Apps::published`].
    pub fn sync_proxy(&mut self) {
        self.apps.sync_proxy();
    }

    /// What this host's docker-proxy processes have done.
    pub fn proxy_stats(&self) -> ProxyStats {
        self.apps.proxy_stats()
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
        let df_bit = df || self.fits_path(now, dst, 28 + size);
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

    pub(super) fn ping_timer(&mut self, ctx: &mut Ctx<'_>) {
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
    pub(super) fn service(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        self.apps.settle_pings();
        if let Some(next) = self.apps.next_ping_due() {
            self.arm(ctx, TOK_PING, next);
        }
        self.apps.expire_udp_proxy(now);
        // Packets a socket sends to the node's own addresses come straight back into
        // the stack: poll again until nothing is left queued (bounded, in case two
        // sockets keep answering each other).
        let mut deadline = None;
        for _ in 0..16 {
            let Some(stack) = self.apps.stack.as_mut() else {
                return;
            };
            let out = stack.poll(now);
            deadline = [
                stack.poll_at(now),
                stack.app_deadline(),
                self.apps.udp_proxy.next_deadline(),
            ]
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
}
