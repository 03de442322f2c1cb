//! br_netfilter: with `net.bridge.bridge-nf-call-iptables = 1` (Docker turns it on
//! when a network has `enable_icc: false` or the userland proxy is off, and IP
//! forwarding is on), IPv4 frames bridged between two ports of a Linux bridge pass the
//! host's iptables too — PREROUTING (raw), connection tracking, FORWARD (filter) with
//! `-i` and `-o` both the bridge device — so Docker's ICC rule drops them and replies
//! to a DNATed connection are translated back even though they never reach the host's
//! IP layer. (Not modelled: DNAT of bridged packets to another subnet, which Linux
//! re-routes.)

use std::cell::RefCell;
use std::rc::Rc;

use netloom_core::{DropReason, SimTime};

use super::eval::{Hook, Packet, Verdict};
use super::{CtStates, Netfilter, RuleNote, TableId};
use crate::net::{self, L4};

/// A bridge's view of its host's netfilter.
#[derive(Clone, Debug)]
pub struct BridgeNf {
    /// The host's netfilter.
    pub nf: Rc<RefCell<Netfilter>>,
    /// The bridge device's interface id in the host's rules.
    pub dev: u16,
    /// The Docker network on this bridge (for explanations).
    pub network: String,
}

/// What the host's rules did to a bridged IPv4 packet.
#[derive(Debug)]
pub enum Bridged {
    /// Not filtered (br_netfilter off, not IPv4, or nothing to do).
    Pass,
    /// Passed, with these new IP bytes (a translated reply).
    Rewritten(Vec<u8>),
    /// Dropped, with the reason and its explanation.
    Dropped(DropReason, String),
}

impl BridgeNf {
    /// br_netfilter's PREROUTING on an IPv4 packet a container sends to the bridge
    /// itself (a host address): when the nat rules DNAT a new connection back to the
    /// sender's own address, `br_nf_pre_routing_finish` bridges the packet back out of
    /// the port it came in — which the bridge refuses unless the port is in hairpin
    /// mode. Returns the rule that DNATed it, for the explanation.
    pub fn dnat_back_to_sender(&self, now: SimTime, ip: &[u8]) -> Option<String> {
        let mut nf = self.nf.borrow_mut();
        if !nf.bridge_nf || nf.trivial(true, TableId::Nat, Hook::Prerouting) {
            return None;
        }
        let info = net::parse_ip(ip)?;
        let t = info.tuple;
        if !t.src.is_ipv4() || info.is_icmp_error() || nf.ct.lookup(&t, now).is_some() {
            return None;
        }
        let mut pkt = Packet {
            ctstate: CtStates::NEW,
            // Sent to the bridge's own MAC: for the host's own addresses.
            dst_local: true,
            ..bridged_packet(self.dev, &t)
        };
        pkt.mark = nf.mark(true, TableId::Nat, Hook::Prerouting, &pkt);
        let d = nf.decide(true, TableId::Nat, Hook::Prerouting, &pkt);
        match d.verdict {
            Verdict::Dnat { addr, .. } if addr == t.src => {
                Some(nf.describe(true, &d, TableId::Nat, Hook::Prerouting))
            }
            _ => None,
        }
    }

    /// Runs the host's hooks on `ip` (the frame's IPv4 packet) bridged between two
    /// ports of this bridge.
    pub fn forward(&self, now: SimTime, ip: &[u8]) -> Bridged {
        let mut nf = self.nf.borrow_mut();
        if !nf.bridge_nf {
            return Bridged::Pass;
        }
        let Some(info) = net::parse_ip(ip) else {
            return Bridged::Pass;
        };
        let t = info.tuple;
        if !t.src.is_ipv4() || info.is_icmp_error() {
            return Bridged::Pass;
        }
        let mut pkt = Packet {
            icmp: info
                .icmp_type
                .map(|ty| (ty, ip.get(info.header_len + 1).copied().unwrap_or(0))),
            ..bridged_packet(self.dev, &t)
        };
        let d = nf.decide(true, TableId::Raw, Hook::Prerouting, &pkt);
        if matches!(d.verdict, Verdict::Drop | Verdict::Reject(_)) {
            let text = nf.describe(true, &d, TableId::Raw, Hook::Prerouting);
            return Bridged::Dropped(
                DropReason::Firewall,
                format!("bridged packet dropped (br_netfilter): {text}"),
            );
        }
        let found = nf.ct.lookup(&t, now).and_then(|(i, dir)| {
            nf.ct.seen(i, dir, info.tcp_flags, now);
            nf.ct.conn(i).map(|c| (c.state(dir), c.orig, c.translated(dir)))
        });
        let (state, target, fresh) = match found {
            Some((state, orig, target)) => {
                pkt.ct_orig_dst = orig.dst;
                pkt.ct_orig_dport = orig.dport;
                (state, target, false)
            }
            None => {
                let f = info.tcp_flags.unwrap_or(0);
                let state = match t.l4 {
                    L4::Tcp if f & 0x17 == 0x02 || f & 0x17 == 0x10 => CtStates::NEW,
                    L4::Tcp => CtStates::INVALID,
                    L4::Icmp if info.icmp_type == Some(8) => CtStates::NEW,
                    L4::Icmp => CtStates::INVALID,
                    _ => CtStates::NEW,
                };
                (state, t, state == CtStates::NEW && info.first_fragment)
            }
        };
        pkt.ctstate = state;
        pkt.out_if = Some(self.dev);
        let d = nf.decide(true, TableId::Filter, Hook::Forward, &pkt);
        if matches!(d.verdict, Verdict::Drop | Verdict::Reject(_)) {
            let text = nf.describe(true, &d, TableId::Filter, Hook::Forward);
            let (reason, why) = match nf.note(true, &d) {
                RuleNote::DockerIcc => (
                    DropReason::NetworkIsolation,
                    format!(
                        "inter-container communication is disabled on network '{}' (enable_icc: false)",
                        self.network
                    ),
                ),
                _ => (
                    DropReason::Firewall,
                    "bridged packet dropped by a FORWARD rule (br_netfilter)".to_string(),
                ),
            };
            return Bridged::Dropped(reason, format!("{why}: FORWARD {text}"));
        }
        if fresh {
            // A bridged connection: tracked as it is, no NAT (bridged DNAT not modelled).
            let _ = nf.ct.insert(t, t, info.tcp_flags, now);
        }
        if target != t {
            let mut out = ip.to_vec();
            net::rewrite(&mut out, &target);
            return Bridged::Rewritten(out);
        }
        Bridged::Pass
    }
}

/// A bridged IPv4 packet's fields as the rules see them, from the bridge port `dev`:
/// conntrack INVALID until the caller says otherwise, nothing local.
fn bridged_packet(dev: u16, t: &crate::net::Tuple) -> Packet {
    let ports = matches!(t.l4, L4::Tcp | L4::Udp);
    Packet {
        in_if: Some(dev),
        out_if: None,
        src: t.src,
        dst: t.dst,
        proto: match t.l4 {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmp => 1,
            L4::Other(n) => n,
        },
        sport: if ports { t.sport } else { 0 },
        dport: if ports { t.dport } else { 0 },
        icmp: None,
        ctstate: CtStates::INVALID,
        ct_orig_dst: t.dst,
        ct_orig_dport: t.dport,
        src_local: false,
        dst_local: false,
        mark: 0,
    }
}
