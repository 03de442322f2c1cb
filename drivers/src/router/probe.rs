//! Reachability probes, as the Kubernetes netpol e2e and cyclonus probers use them: one
//! TCP SYN (or one UDP datagram) per probe, sent through the machine's whole output
//! path, and the answer it gets — a SYN/ACK (the machine then resets the half-open
//! connection, as a SYN scan does), a reset, an ICMP port unreachable, a UDP answer —
//! or none. No smoltcp socket is opened, so thousands of probes cost only their frames.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::IpAddr;

use bytes::Bytes;
use netloom_core::{Ctx, Frame, FrameId};

use super::Node;
use super::packet::{tcp_packet, tcp_rst, udp};
use crate::net::{IpInfo, L4, Tuple};
use crate::netfilter::conntrack::TupleHasher;

/// How a probe ended (so far).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// No answer (yet).
    Pending,
    /// A SYN/ACK or a UDP answer came back.
    Connected,
    /// A reset or an ICMP port unreachable came back: the packet reached the machine
    /// and nothing listens.
    Refused,
    /// It could not be sent (no route, no source address).
    Unsendable,
}

/// One probe.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// Its frame (its fate names a drop).
    pub frame: FrameId,
    /// What came back.
    pub outcome: ProbeOutcome,
}

/// The probes of one machine.
#[derive(Debug, Default)]
pub struct Probes {
    /// (remote, remote port, local port, transport) → probe.
    pending: HashMap<(IpAddr, u16, u16, L4), usize, BuildHasherDefault<TupleHasher>>,
    /// Every probe since the last [`Probes::clear`].
    pub list: Vec<Probe>,
    next_port: u16,
}

/// Source ports of probes: below Linux's ephemeral range, so they never meet a
/// connection the machine's sockets open.
const PROBE_PORTS: (u16, u16) = (20_000, 32_000);

impl Probes {
    /// Forgets every probe.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.list.clear();
    }

    /// How many probes still wait for an answer.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    fn port(&mut self) -> u16 {
        if self.next_port < PROBE_PORTS.0 || self.next_port >= PROBE_PORTS.1 {
            self.next_port = PROBE_PORTS.0;
        }
        let p = self.next_port;
        self.next_port += 1;
        p
    }

    fn answer(&mut self, key: (IpAddr, u16, u16, L4), outcome: ProbeOutcome) -> bool {
        match self.pending.remove(&key) {
            Some(i) => {
                if let Some(p) = self.list.get_mut(i) {
                    p.outcome = outcome;
                }
                true
            }
            None => false,
        }
    }
}

impl Node {
    /// Sends one probe to `dst:port` over `l4` (TCP or UDP); returns its index.
    pub fn start_probe(&mut self, ctx: &mut Ctx<'_>, dst: IpAddr, l4: L4, port: u16) -> usize {
        let sport = self.probes.port();
        let Some(src) = self.source_for(dst) else {
            self.probes.list.push(Probe {
                frame: FrameId(0),
                outcome: ProbeOutcome::Unsendable,
            });
            return self.probes.list.len() - 1;
        };
        let pkt = match l4 {
            L4::Udp => udp(
                src,
                dst,
                sport,
                port,
                self.next_ip_id(),
                &crate::dns::probe_payload(port),
            ),
            _ => syn(src, dst, sport, port, self.next_ip_id()),
        };
        let frame = ctx.originate_about(Bytes::new(), &pkt);
        let i = self.probes.list.len();
        self.probes.list.push(Probe {
            frame: frame.id,
            outcome: ProbeOutcome::Pending,
        });
        self.probes.pending.insert((dst, port, sport, l4), i);
        self.send_originated(ctx, frame, pkt, None);
        i
    }

    /// Lets the machine's sockets act on what probes to itself delivered (a probe
    /// batch ends with this, as a system call returns to the scheduler).
    pub fn flush_probes(&mut self, ctx: &mut Ctx<'_>) {
        self.service(ctx);
    }

    /// The probes sent since [`Node::clear_probes`].
    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// Forgets every probe.
    pub fn clear_probes(&mut self) {
        self.probes.clear();
    }

    /// Takes an answer to a probe (`true`: it was one; a SYN/ACK is reset).
    pub(super) fn probe_answer(
        &mut self,
        ctx: &mut Ctx<'_>,
        frame: &Frame,
        pkt: &[u8],
        info: &IpInfo,
    ) -> bool {
        if self.probes.pending.is_empty() {
            return false;
        }
        let t = info.tuple;
        let key = (t.src, t.sport, t.dport, t.l4);
        let outcome = match t.l4 {
            L4::Tcp => {
                let f = info.tcp_flags.unwrap_or(0);
                if f & 0x04 != 0 {
                    ProbeOutcome::Refused
                } else if f & 0x12 == 0x12 {
                    ProbeOutcome::Connected
                } else {
                    return false;
                }
            }
            L4::Udp => ProbeOutcome::Connected,
            _ => return false,
        };
        if !self.probes.answer(key, outcome) {
            return false;
        }
        ctx.deliver(frame, || format!("{t}: the answer to a probe"));
        if outcome == ProbeOutcome::Connected
            && t.l4 == L4::Tcp
            && let Some(r) = tcp_rst(pkt, info, self.next_ip_id())
        {
            self.local_send(ctx, r, None);
        }
        true
    }

    /// Takes an ICMP port unreachable quoting a probe (`true`: it did).
    pub(super) fn probe_error(&mut self, inner: Tuple, port_unreachable: bool) -> bool {
        port_unreachable
            && !self.probes.pending.is_empty()
            && self.probes.answer(
                (inner.dst, inner.dport, inner.sport, inner.l4),
                ProbeOutcome::Refused,
            )
    }
}

/// A TCP SYN from `src:sport` to `dst:dport`, with Linux's usual options left out.
fn syn(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, ip_id: u16) -> Vec<u8> {
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    // A deterministic initial sequence number.
    let isn = u32::from(sport).wrapping_mul(0x9e37_79b9) ^ u32::from(dport);
    h[4..8].copy_from_slice(&isn.to_be_bytes());
    h[12] = 5 << 4;
    h[13] = 0x02;
    h[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    tcp_packet(src, dst, &mut h, ip_id).unwrap_or_default()
}
