//! Near-valid frames with flipped bytes and truncations: ARP, IPv4 (ICMP echo and
//! errors, UDP, TCP, fragments), IPv6 neighbour discovery, unknown EtherTypes. Built
//! from a well-formed frame and then damaged, so parsers see both the happy path and
//! every length and field they might trust too much.

use std::net::Ipv4Addr;

use bytes::Bytes;
use proptest::prelude::*;

use super::pick;

/// Where the frame is addressed at L2.
#[derive(Clone, Debug)]
pub enum DstMac {
    /// ff:ff:ff:ff:ff:ff.
    Broadcast,
    /// The MAC of a host (index modulo the host count).
    Host(u16),
    /// Any MAC.
    Random([u8; 6]),
}

/// What the frame carries before it is damaged.
#[derive(Clone, Debug)]
pub enum Kind {
    /// ARP with this opcode.
    Arp(u16),
    /// IPv4 with this protocol number and L4 bytes (`payload`).
    Ipv4 {
        /// IP protocol.
        proto: u8,
        /// Flags and fragment offset field (DF, MF, offset).
        frag: u16,
        /// TTL.
        ttl: u8,
    },
    /// An ICMPv4 error (type, code) quoting a packet from the target host.
    IcmpError(u8, u8),
    /// ICMPv6 with this type, to ff02::1.
    Icmpv6(u8),
    /// Any EtherType.
    Other(u16),
}

/// A damaged frame.
#[derive(Clone, Debug)]
pub struct GarbageSpec {
    /// L2 destination.
    pub dst: DstMac,
    /// What it carries.
    pub kind: Kind,
    /// The host whose address is the L3 destination (or ARP target).
    pub to: u16,
    /// L4 bytes.
    pub payload: Vec<u8>,
    /// Bytes XORed at positions (modulo the frame length); 0 leaves a byte intact.
    pub flips: Vec<(u16, u8)>,
    /// Truncation point (modulo the frame length + 1).
    pub cut: Option<u16>,
}

/// Damaged frames of every kind.
pub fn garbage_spec() -> impl Strategy<Value = GarbageSpec> {
    let dst = prop_oneof![
        Just(DstMac::Broadcast),
        any::<u16>().prop_map(DstMac::Host),
        any::<[u8; 6]>().prop_map(DstMac::Random),
    ];
    let kind = prop_oneof![
        (1..=3u16).prop_map(Kind::Arp),
        (
            prop_oneof![Just(1u8), Just(6), Just(17), any::<u8>()],
            prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), any::<u16>()],
            prop_oneof![Just(64u8), 0..3u8],
        )
            .prop_map(|(proto, frag, ttl)| Kind::Ipv4 { proto, frag, ttl }),
        (prop_oneof![Just(3u8), Just(11)], 0..5u8).prop_map(|(t, c)| Kind::IcmpError(t, c)),
        prop_oneof![Just(1u8), Just(2), Just(128), Just(129), 133..=137u8].prop_map(Kind::Icmpv6),
        any::<u16>().prop_map(Kind::Other),
    ];
    (
        dst,
        kind,
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
        proptest::option::weighted(0.3, any::<u16>()),
    )
        .prop_map(|(dst, kind, to, payload, flips, cut)| GarbageSpec {
            dst,
            kind,
            to,
            payload,
            flips,
            cut,
        })
}

const SRC_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 1];
const SRC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 250);

impl GarbageSpec {
    /// The frame's bytes for a topology whose hosts have `macs` and `addrs`.
    pub fn bytes(&self, macs: &[[u8; 6]], addrs: &[Ipv4Addr]) -> Bytes {
        let dst = match &self.dst {
            DstMac::Broadcast => [0xff; 6],
            DstMac::Host(i) if !macs.is_empty() => macs[pick(i, macs.len())],
            DstMac::Host(_) => [0xff; 6],
            DstMac::Random(m) => *m,
        };
        let to = if addrs.is_empty() {
            Ipv4Addr::new(10, 0, 0, 1)
        } else {
            addrs[pick(self.to, addrs.len())]
        };
        let mut f = Vec::new();
        match self.kind {
            Kind::Arp(op) => {
                f.extend(eth(dst, 0x0806));
                f.extend([0, 1, 0x08, 0, 6, 4]);
                f.extend(op.to_be_bytes());
                f.extend(SRC_MAC);
                f.extend(SRC_IP.octets());
                f.extend([0; 6]);
                f.extend(to.octets());
            }
            Kind::Ipv4 { proto, frag, ttl } => {
                f.extend(eth(dst, 0x0800));
                f.extend(ipv4(SRC_IP, to, proto, frag, ttl, &self.payload));
            }
            Kind::IcmpError(ty, code) => {
                let quoted = ipv4(to, SRC_IP, 17, 0, 64, &self.payload[..self.payload.len().min(8)]);
                let mut icmp = vec![ty, code, 0, 0, 0, 0, 0, 0];
                icmp.extend(quoted);
                fill_checksum(&mut icmp, 2);
                f.extend(eth(dst, 0x0800));
                f.extend(ipv4(SRC_IP, to, 1, 0, 64, &icmp));
            }
            Kind::Icmpv6(ty) => {
                let mut icmp = vec![ty, 0, 0, 0, 0, 0, 0, 0];
                icmp.extend(&self.payload);
                let dst = if matches!(self.dst, DstMac::Broadcast) {
                    [0x33, 0x33, 0, 0, 0, 1]
                } else {
                    dst
                };
                f.extend(eth(dst, 0x86dd));
                f.extend([0x60, 0, 0, 0]);
                f.extend((icmp.len() as u16).to_be_bytes());
                f.extend([58, 255]);
                f.extend([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                f.extend([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                f.extend(icmp);
            }
            Kind::Other(et) => {
                f.extend(eth(dst, et));
                f.extend(&self.payload);
            }
        }
        for (i, x) in &self.flips {
            let at = pick(i, f.len());
            f[at] ^= x;
        }
        if let Some(c) = &self.cut {
            f.truncate(pick(c, f.len() + 1));
        }
        Bytes::from(f)
    }
}

fn eth(dst: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut v = dst.to_vec();
    v.extend(SRC_MAC);
    v.extend(ethertype.to_be_bytes());
    v
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: u16, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend(total.to_be_bytes());
    v.extend([0x12, 0x34]);
    v.extend(frag.to_be_bytes());
    v.extend([ttl, proto, 0, 0]);
    v.extend(src.octets());
    v.extend(dst.octets());
    fill_checksum(&mut v, 10);
    v.extend(payload);
    v
}

fn fill_checksum(b: &mut [u8], at: usize) {
    b[at] = 0;
    b[at + 1] = 0;
    let c = netloom_drivers::net::checksum(0, b);
    b[at..at + 2].copy_from_slice(&c.to_be_bytes());
}
