//! The netfilter hooks of the namespace model: where a packet meets the raw, nat and
//! filter tables and connection tracking, in Linux's order —
//! PREROUTING (raw, conntrack, nat) → routing → INPUT (filter) or FORWARD (filter) →
//! POSTROUTING (nat, conntrack confirm); and for packets the machine sends, routing →
//! OUTPUT (raw, conntrack, nat, filter) → POSTROUTING. The rules are data
//! ([`crate::netfilter`]); this file only walks them and acts on their verdicts.

use std::net::IpAddr;

use netloom_core::{Ctx, DropReason, Frame, PortId, Stage};

use super::Node;
use super::packet::{IcmpErr, tcp_rst};
use crate::net::{self, IpInfo, L4, Tuple};
use crate::netfilter::{CtStates, Decision, Hook, Packet, RejectWith, RuleNote, TableId, Verdict};

/// What connection tracking says about a packet.
#[derive(Clone, Copy, Debug)]
pub(super) struct Track {
    /// Its state for `--ctstate`.
    pub state: CtStates,
    /// The connection's original tuple (the packet's own for a new one).
    pub orig: Tuple,
    /// Source translation still to apply after routing (an existing connection).
    pub post: Option<Tuple>,
    /// A new connection to confirm when the packet leaves the last hook.
    pub fresh: bool,
    /// The destination was translated.
    pub dnat: bool,
    /// The packet's mark (`-j MARK` in the nat table of its first hook).
    pub mark: u32,
}

/// Whether a hook let the packet go on.
pub(super) enum Pass {
    /// It goes on.
    Go,
    /// It was dropped or rejected (its fate is given).
    Stop,
}

impl Node {
    /// Whether this machine tracks connections (it has rules, NAT or is a Docker host).
    pub(super) fn tracking(&self) -> bool {
        self.nf.borrow().track
    }

    /// The netfilter view of a packet with tuple `t` (after any translation so far).
    pub(super) fn nf_packet(
        &self,
        pkt: &[u8],
        info: &IpInfo,
        t: &Tuple,
        in_if: Option<u16>,
        out_if: Option<u16>,
        tr: &Track,
    ) -> Packet {
        let v4 = t.src.is_ipv4();
        let proto = match t.l4 {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmp if v4 => 1,
            L4::Icmp => 58,
            L4::Other(n) => n,
        };
        let ports = matches!(t.l4, L4::Tcp | L4::Udp);
        let icmp = info
            .icmp_type
            .map(|ty| (ty, pkt.get(info.header_len + 1).copied().unwrap_or(0)));
        Packet {
            in_if,
            out_if,
            src: t.src,
            dst: t.dst,
            proto,
            sport: if ports { t.sport } else { 0 },
            dport: if ports { t.dport } else { 0 },
            icmp,
            ctstate: tr.state,
            ct_orig_dst: tr.orig.dst,
            ct_orig_dport: if ports { tr.orig.dport } else { 0 },
            src_local: self.is_local(t.src),
            dst_local: self.is_local(t.dst),
            mark: tr.mark,
        }
    }

    /// Connection tracking of an arriving packet (`nf_conntrack_in`): finds its
    /// connection and state, and applies the destination half of an existing
    /// connection's translation (the source half waits for POSTROUTING).
    pub(super) fn ct_in(&mut self, ctx: &mut Ctx<'_>, frame: &Frame, pkt: &mut [u8], info: &IpInfo) -> Track {
        let t = info.tuple;
        if info.is_icmp_error() {
            let related = self.translate_related(ctx, frame, pkt);
            return Track {
                state: if related {
                    CtStates::RELATED
                } else {
                    CtStates::INVALID
                },
                orig: t,
                post: None,
                fresh: false,
                dnat: false,
                mark: 0,
            };
        }
        let now = ctx.now();
        let found = {
            let mut nf = self.nf.borrow_mut();
            match nf.ct.lookup(&t, now) {
                Some((i, dir)) => {
                    nf.ct.seen(i, dir, info.tcp_flags, now);
                    nf.ct
                        .conn(i)
                        .map(|c| (c.state(dir), c.orig, c.translated(dir), c.dnat))
                }
                None => None,
            }
        };
        if let Some((state, orig, target, dnat)) = found {
            // Destination parts are translated before routing (PREROUTING), source
            // parts after it (POSTROUTING), as netfilter does: ICMP errors raised in
            // between quote the packet with its old source.
            let mut pre = Tuple {
                dst: target.dst,
                dport: target.dport,
                ..t
            };
            if t.l4 == L4::Icmp {
                pre.sport = target.sport;
            }
            if pre != t {
                net::rewrite(pkt, &pre);
                ctx.note(frame, Stage::NatPrerouting, || {
                    format!("conntrack: {t} rewritten to {pre}")
                });
            }
            return Track {
                state,
                orig,
                post: (target != pre).then_some(target),
                fresh: false,
                dnat,
                mark: 0,
            };
        }
        let state = new_state(info);
        Track {
            state,
            orig: t,
            post: None,
            fresh: state == CtStates::NEW && info.first_fragment,
            dnat: false,
            mark: 0,
        }
    }

    /// Runs a filtering table (`raw` or `filter`) at `hook`. A DROP or REJECT gives the
    /// frame its fate (and sends REJECT's answer back out of `reply_port`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nf_filter(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &[u8],
        info: &IpInfo,
        table: TableId,
        hook: Hook,
        p: &Packet,
        stage: Stage,
        reply_port: PortId,
    ) -> Pass {
        let v4 = p.src.is_ipv4();
        let (d, text, note) = {
            let nf = self.nf.borrow();
            if nf.trivial(v4, table, hook) {
                return Pass::Go;
            }
            let d = nf.decide(v4, table, hook, p);
            if d.by.is_none() && matches!(d.verdict, Verdict::Accept) {
                return Pass::Go;
            }
            let text = if ctx.tracing() || !matches!(d.verdict, Verdict::Accept) {
                nf.describe(v4, &d, table, hook)
            } else {
                String::new()
            };
            (d, text, nf.note(v4, &d))
        };
        match d.verdict {
            Verdict::Drop | Verdict::Reject(_) => {
                let (reason, why) = self.drop_cause(note, p);
                let rejected = matches!(d.verdict, Verdict::Reject(_));
                ctx.drop_frame(frame, reason, stage, || {
                    format!(
                        "{why}{} — {} ctstate {}: {text}",
                        if rejected { " (rejected)" } else { "" },
                        hook.chain(),
                        p.ctstate
                    )
                });
                if let Verdict::Reject(w) = d.verdict {
                    self.reject(ctx, pkt, info, reply_port, w);
                }
                Pass::Stop
            }
            _ => {
                if !text.is_empty() {
                    ctx.note(frame, stage, || {
                        format!("{} ctstate {} accepted by {text}", hook.chain(), p.ctstate)
                    });
                }
                Pass::Go
            }
        }
    }

    /// REJECT's answer: a TCP reset or an ICMP error to the packet's source.
    fn reject(&mut self, ctx: &mut Ctx<'_>, pkt: &[u8], info: &IpInfo, port: PortId, w: RejectWith) {
        if w == RejectWith::TcpReset {
            let rst = info.tcp_flags.is_some_and(|f| f & 0x04 != 0);
            if !rst && let Some(r) = tcp_rst(pkt, info, self.next_ip_id()) {
                self.local_send(ctx, r, None);
            }
            return;
        }
        let code = match w {
            RejectWith::IcmpNetUnreachable => 0,
            RejectWith::IcmpHostUnreachable => 1,
            RejectWith::IcmpHostProhibited => 10,
            RejectWith::IcmpAdminProhibited => 13,
            RejectWith::IcmpPortUnreachable | RejectWith::TcpReset => 3,
        };
        self.icmp_error(ctx, pkt, port, IcmpErr::Unreach(code));
    }

    /// The drop reason and a plain explanation for a rule with `note` dropping `p`.
    fn drop_cause(&self, note: RuleNote, p: &Packet) -> (DropReason, String) {
        let bridge = |i: Option<u16>| {
            i.and_then(|i| self.ifaces.get(i as usize))
                .and_then(|f| f.bridge.as_ref())
                .map(|b| b.network.clone())
        };
        let (inb, outb) = (bridge(p.in_if), bridge(p.out_if));
        match note {
            RuleNote::DockerDefaultDrop | RuleNote::DockerIsolation if inb.is_some() && outb.is_some() => (
                DropReason::NetworkIsolation,
                format!(
                    "Docker isolates bridge networks '{}' and '{}' from each other; connect the container to both \
                     networks to let them talk",
                    inb.unwrap_or_default(),
                    outb.unwrap_or_default()
                ),
            ),
            RuleNote::DockerDefaultDrop => (
                DropReason::Firewall,
                format!(
                    "Docker's FORWARD rules admit traffic from outside into network '{}' only for published ports \
                     and replies; publish a port to reach a container from outside",
                    outb.unwrap_or_default()
                ),
            ),
            RuleNote::DockerIsolation => (
                DropReason::NetworkIsolation,
                "Docker isolates bridge networks from each other".into(),
            ),
            RuleNote::DockerInternal => {
                let (n, way) = match (inb, outb) {
                    (Some(n), _) if p.in_if != p.out_if => (n, "leaving"),
                    (_, Some(n)) => (n, "entering"),
                    (Some(n), None) => (n, "leaving"),
                    (None, None) => (String::new(), "crossing"),
                };
                (
                    DropReason::NetworkIsolation,
                    format!("network '{n}' is internal: Docker drops everything {way} it through the host"),
                )
            }
            RuleNote::DockerIcc => (
                DropReason::NetworkIsolation,
                format!(
                    "inter-container communication is disabled on network '{}' (enable_icc: false)",
                    inb.or(outb).unwrap_or_default()
                ),
            ),
            RuleNote::DockerDirectAccess if inb.is_some() => (
                DropReason::NetworkIsolation,
                format!(
                    "Docker isolates bridge networks: a packet from network '{}' to the container address {} of \
                     another network is dropped (raw PREROUTING); connect the container to both networks",
                    inb.unwrap_or_default(),
                    p.dst
                ),
            ),
            RuleNote::DockerDirectAccess => (
                DropReason::Firewall,
                format!(
                    "Docker (since 28.0) drops packets routed to a container's address {} from outside its network \
                     (raw PREROUTING), published port or not; use the host's address and the published port",
                    p.dst
                ),
            ),
            RuleNote::DockerLoopbackPublish => (
                DropReason::Firewall,
                format!(
                    "port {} is published on 127.0.0.1 only: Docker drops it arriving from another interface",
                    p.dport
                ),
            ),
            RuleNote::User | RuleNote::DockerPublish | RuleNote::DockerMasquerade => {
                (DropReason::Firewall, "dropped by a firewall rule".to_string())
            }
        }
    }

    /// The mark the nat table's `-j MARK` rules at `hook` give the first packet of a
    /// connection (0 on machines without such rules: CNI's portmap has them).
    pub(super) fn nat_mark(&self, hook: Hook, p: &Packet) -> u32 {
        self.nf.borrow().mark(p.src.is_ipv4(), TableId::Nat, hook, p)
    }

    /// The nat table at PREROUTING (or OUTPUT) for the first packet of a connection:
    /// DNAT rewrites the destination. Returns the new tuple when it changed.
    pub(super) fn nat_dnat(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &mut [u8],
        hook: Hook,
        p: &Packet,
        t: &Tuple,
    ) -> Option<Tuple> {
        let v4 = p.src.is_ipv4();
        let (d, text) = {
            let nf = self.nf.borrow();
            if nf.trivial(v4, TableId::Nat, hook) {
                return None;
            }
            let d: Decision = nf.decide(v4, TableId::Nat, hook, p);
            let text = nf.describe(v4, &d, TableId::Nat, hook);
            (d, text)
        };
        let Verdict::Dnat { addr, port } = d.verdict else {
            return None;
        };
        if addr.is_ipv4() != t.dst.is_ipv4() {
            return None;
        }
        let mut out = Tuple { dst: addr, ..*t };
        if let Some(port) = port
            && matches!(t.l4, L4::Tcp | L4::Udp)
        {
            out.dport = port;
        }
        net::rewrite(pkt, &out);
        let stage = if hook == Hook::Output {
            Stage::NatOutput
        } else {
            Stage::NatPrerouting
        };
        ctx.note(frame, stage, || format!("DNAT {t} to {out} by {text}"));
        Some(out)
    }

    /// The nat table at POSTROUTING for a new connection leaving through `out_port`,
    /// then the unique-tuple rule (a clash with a tracked connection remaps the source
    /// port or ICMP identifier, also without any NAT rule). Confirms the connection.
    /// Returns `false` when the packet was dropped (the conntrack table is full).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nat_confirm(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &mut [u8],
        info: &IpInfo,
        tr: &Track,
        t: &Tuple,
        p: Option<&Packet>,
        out_port: Option<PortId>,
    ) -> bool {
        let v4 = t.src.is_ipv4();
        let now = ctx.now();
        let (src, text) = {
            let nf = self.nf.borrow();
            match p {
                Some(p) if nf.nat(v4) && !nf.trivial(v4, TableId::Nat, Hook::Postrouting) => {
                    let d = nf.decide(v4, TableId::Nat, Hook::Postrouting, p);
                    let text = nf.describe(v4, &d, TableId::Nat, Hook::Postrouting);
                    match d.verdict {
                        Verdict::Masquerade => (
                            out_port
                                .and_then(|o| self.ifaces.get(o as usize))
                                .and_then(|i| self.ifaces.primary(i, v4)),
                            text,
                        ),
                        Verdict::Snat { addr } if addr.is_ipv4() == v4 => (Some(addr), text),
                        _ => (None, String::new()),
                    }
                }
                _ => (None, String::new()),
            }
        };
        let nat_on = self.nf.borrow().nat(v4);
        let mut out = *t;
        if let Some(addr) = src {
            let port = self
                .nf
                .borrow_mut()
                .ct
                .pick_port(&Tuple { src: addr, ..*t }, addr);
            out = Tuple { src: addr, ..*t }.with_sport(port);
        } else if nat_on && matches!(t.l4, L4::Tcp | L4::Udp | L4::Icmp) {
            // The null binding: even an untranslated connection gets a unique reply tuple.
            let port = self.nf.borrow_mut().ct.pick_port(t, t.src);
            out = t.with_sport(port);
        }
        if out != *t {
            net::rewrite(pkt, &out);
            ctx.note(frame, Stage::NatPostrouting, || {
                if text.is_empty() {
                    format!("source port remapped ({t} becomes {out}): its reply tuple was taken by another connection")
                } else {
                    format!("{t} becomes {out} by {text}")
                }
            });
        }
        let inserted = self.nf.borrow_mut().ct.insert(tr.orig, out, info.tcp_flags, now);
        if inserted.is_err() {
            ctx.drop_frame(frame, DropReason::Firewall, Stage::Conntrack, || {
                "nf_conntrack: table full, dropping packet".into()
            });
            return false;
        }
        let orig = tr.orig;
        ctx.note(frame, Stage::Conntrack, || {
            format!("new connection {orig}, answers expected as {}", out.reversed())
        });
        true
    }

    /// Conntrack and the nat/filter OUTPUT hooks for a packet this machine sends, and
    /// POSTROUTING. Rewrites `pkt`; `Stop` when a rule dropped it (the fate is given).
    pub(super) fn nf_output(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &mut [u8],
        app_ping: Option<usize>,
    ) -> Pass {
        let Some(info) = net::parse_ip(pkt) else {
            return Pass::Go;
        };
        if info.is_icmp_error() {
            return Pass::Go;
        }
        let t = info.tuple;
        let now = ctx.now();
        let found = {
            let mut nf = self.nf.borrow_mut();
            match nf.ct.lookup(&t, now) {
                Some((i, dir)) => {
                    nf.ct.seen(i, dir, info.tcp_flags, now);
                    nf.ct.conn(i).map(|c| (c.state(dir), c.orig, c.translated(dir)))
                }
                None => None,
            }
        };
        let lo = self.nf.borrow().lo();
        let out_if = |n: &Node, dst: IpAddr| {
            if n.is_local(dst) {
                Some(lo)
            } else {
                n.route(dst).map(|r| r.port)
            }
        };
        if let Some((state, orig, target)) = found {
            let tr = Track {
                state,
                orig,
                post: None,
                fresh: false,
                dnat: false,
                mark: 0,
            };
            if target != t {
                net::rewrite(pkt, &target);
            }
            let p = self.nf_packet(pkt, &info, &target, None, out_if(self, target.dst), &tr);
            return self.nf_filter(
                ctx,
                frame,
                pkt,
                &info,
                TableId::Filter,
                Hook::Output,
                &p,
                Stage::FilterOutput,
                0,
            );
        }
        let mut tr = Track {
            state: new_state(&info),
            orig: t,
            post: None,
            fresh: false,
            dnat: false,
            mark: 0,
        };
        tr.fresh = tr.state == CtStates::NEW && info.first_fragment;
        let p = self.nf_packet(pkt, &info, &t, None, out_if(self, t.dst), &tr);
        if let Pass::Stop = self.nf_filter(
            ctx,
            frame,
            pkt,
            &info,
            TableId::Raw,
            Hook::Output,
            &p,
            Stage::RawOutput,
            0,
        ) {
            return Pass::Stop;
        }
        let mut cur = t;
        if tr.fresh {
            tr.mark = self.nat_mark(Hook::Output, &p);
        }
        let p = Packet { mark: tr.mark, ..p };
        if tr.fresh
            && let Some(n) = self.nat_dnat(ctx, frame, pkt, Hook::Output, &p, &t)
        {
            cur = n;
            tr.dnat = true;
        }
        let oif = out_if(self, cur.dst);
        let p = self.nf_packet(pkt, &info, &cur, None, oif, &tr);
        if let Pass::Stop = self.nf_filter(
            ctx,
            frame,
            pkt,
            &info,
            TableId::Filter,
            Hook::Output,
            &p,
            Stage::FilterOutput,
            0,
        ) {
            if let Some(ping) = app_ping.and_then(|i| self.apps.pings.get_mut(i)) {
                ping.errors.push("ping: sendmsg: Operation not permitted".into());
            }
            return Pass::Stop;
        }
        if tr.fresh {
            let port = oif.filter(|&o| o != lo);
            if !self.nat_confirm(ctx, frame, pkt, &info, &tr, &cur, Some(&p), port) {
                return Pass::Stop;
            }
        }
        Pass::Go
    }
}

/// The state of a packet no tracked connection knows (`nf_conntrack_in` → the
/// protocol's `new()`): NEW for what may start a connection, INVALID otherwise (a TCP
/// reset, FIN or SYN/ACK out of nowhere; an ICMP reply nobody asked for). A bare ACK is
/// picked up mid-stream as NEW (`nf_conntrack_tcp_loose`).
fn new_state(info: &IpInfo) -> CtStates {
    match info.tuple.l4 {
        L4::Tcp => {
            let f = info.tcp_flags.unwrap_or(0);
            let (syn, ack, fin, rst) = (f & 0x02 != 0, f & 0x10 != 0, f & 0x01 != 0, f & 0x04 != 0);
            if rst || fin || (syn && ack) || (!syn && !ack) {
                CtStates::INVALID
            } else {
                CtStates::NEW
            }
        }
        L4::Icmp => match (info.tuple.src.is_ipv4(), info.icmp_type) {
            (true, Some(8 | 13 | 15 | 17)) | (false, Some(128)) => CtStates::NEW,
            _ => CtStates::INVALID,
        },
        _ => CtStates::NEW,
    }
}
