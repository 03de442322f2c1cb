//! Small packet helpers shared by the drivers: building Ethernet, ARP, IPv4/IPv6 and
//! ICMP bytes, and reading the few fields the dataplane decides on.
//!
//! Views and checksums come from `smoltcp::wire`; these helpers only glue them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

/// A MAC address.
pub type Mac = [u8; 6];

/// The broadcast MAC.
pub const BROADCAST: Mac = [0xff; 6];

/// EtherType of IPv4.
pub const ETH_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETH_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q VLAN tag.
pub const ETH_VLAN: u16 = 0x8100;
/// UDP port of VXLAN (IANA).
pub const VXLAN_PORT: u16 = 4789;

/// Whether `mac` is a group (broadcast or multicast) address.
pub fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 == 1
}

/// A locally administered MAC derived from `seed`, as Docker derives container MACs
/// (`02:42:` followed by the IPv4 address) when `seed` is an address.
pub fn docker_mac(v4: Ipv4Addr) -> Mac {
    let o = v4.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// A locally administered MAC for element `n`, interface `i` (non-container interfaces).
pub fn node_mac(n: u32, i: u16) -> Mac {
    let n = n.to_be_bytes();
    let i = i.to_be_bytes();
    [0x0a, n[1], n[2], n[3], i[0], i[1]]
}

/// The Ethernet multicast MAC of an IPv6 multicast address (33:33 + low 32 bits).
pub fn ipv6_multicast_mac(a: Ipv6Addr) -> Mac {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// `payload` behind an Ethernet header.
pub fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + payload.len());
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The EtherType and the payload offset of an Ethernet frame (untagged only).
pub fn ethertype(frame: &[u8]) -> Option<(u16, usize)> {
    let t = frame.get(12..14)?;
    Some((u16::from_be_bytes([t[0], t[1]]), 14))
}

/// The VLAN id of an 802.1Q-tagged frame (`None` when untagged).
pub fn vlan_id(frame: &[u8]) -> Option<u16> {
    match frame.get(12..16)? {
        [0x81, 0x00, hi, lo] => Some(u16::from_be_bytes([*hi, *lo]) & 0x0fff),
        _ => None,
    }
}

/// `frame` with an 802.1Q tag for `vid` inserted after the MAC addresses.
pub fn push_vlan(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(frame.len() + 4);
    v.extend_from_slice(&frame[..frame.len().min(12)]);
    v.extend_from_slice(&ETH_VLAN.to_be_bytes());
    v.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    v.extend_from_slice(frame.get(12..).unwrap_or_default());
    v
}

/// `frame` without its 802.1Q tag (unchanged when untagged).
pub fn pop_vlan(frame: &[u8]) -> Vec<u8> {
    if vlan_id(frame).is_none() {
        return frame.to_vec();
    }
    let mut v = Vec::with_capacity(frame.len() - 4);
    v.extend_from_slice(&frame[..12]);
    v.extend_from_slice(&frame[16..]);
    v
}

/// The layer-3 destination of an untagged frame: an IP packet's destination, or the
/// target of an ARP packet (what ipvlan dispatches on).
pub fn l3_dst(frame: &[u8]) -> Option<IpAddr> {
    let (et, off) = ethertype(frame)?;
    let p = frame.get(off..)?;
    match et {
        ETH_ARP => parse_arp(p).map(|a| IpAddr::V4(a.tpa)),
        ETH_IPV4 => {
            let d = p.get(16..20)?;
            Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
        }
        ETH_IPV6 => {
            let d: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(d)))
        }
        _ => None,
    }
}

/// An ARP packet (Ethernet/IPv4): `op` 1 = request, 2 = reply.
pub fn arp(op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut v = Vec::with_capacity(28);
    v.extend_from_slice(&[0, 1, 0x08, 0, 6, 4]);
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(&sha);
    v.extend_from_slice(&spa.octets());
    v.extend_from_slice(&tha);
    v.extend_from_slice(&tpa.octets());
    v
}

/// A parsed ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct Arp {
    /// 1 = request, 2 = reply.
    pub op: u16,
    /// Sender MAC.
    pub sha: Mac,
    /// Sender IPv4.
    pub spa: Ipv4Addr,
    /// Target IPv4.
    pub tpa: Ipv4Addr,
}

/// Parses an Ethernet/IPv4 ARP packet.
pub fn parse_arp(p: &[u8]) -> Option<Arp> {
    if p.len() < 28 || p[0..6] != [0, 1, 0x08, 0, 6, 4] {
        return None;
    }
    Some(Arp {
        op: u16::from_be_bytes([p[6], p[7]]),
        sha: p[8..14].try_into().ok()?,
        spa: Ipv4Addr::new(p[14], p[15], p[16], p[17]),
        tpa: Ipv4Addr::new(p[24], p[25], p[26], p[27]),
    })
}

/// Builds an IPv4 packet with a fresh header around `payload`.
#[allow(clippy::too_many_arguments)]
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    ttl: u8,
    ident: u16,
    dont_frag: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = vec![0u8; 20 + payload.len()];
    {
        let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp(0);
        p.set_ecn(0);
        p.set_total_len((20 + payload.len()) as u16);
        p.set_ident(ident);
        p.clear_flags();
        p.set_dont_frag(dont_frag);
        p.set_frag_offset(0);
        p.set_hop_limit(ttl);
        p.set_next_header(proto);
        p.set_src_addr(src);
        p.set_dst_addr(dst);
        p.fill_checksum();
    }
    v[20..].copy_from_slice(payload);
    v
}

/// Builds an IPv6 packet around `payload`.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: IpProtocol, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 40 + payload.len()];
    {
        let mut p = Ipv6Packet::new_unchecked(&mut v[..]);
        p.set_version(6);
        p.set_traffic_class(0);
        p.set_flow_label(0);
        p.set_payload_len(payload.len() as u16);
        p.set_next_header(next);
        p.set_hop_limit(hop_limit);
        p.set_src_addr(src);
        p.set_dst_addr(dst);
    }
    v[40..].copy_from_slice(payload);
    v
}

/// The Internet checksum of `data` folded with `initial` (ones' complement sum).
pub fn checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u32) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The pseudo-header sum of IPv6 for `len` bytes of upper-layer `next` header.
pub fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, len: u32) -> u32 {
    let mut sum = 0u32;
    for a in [src, dst] {
        for s in a.segments() {
            sum += s as u32;
        }
    }
    sum + (len >> 16) + (len & 0xffff) + next as u32
}

/// The pseudo-header sum of IPv4.
pub fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    u16::from_be_bytes([s[0], s[1]]) as u32
        + u16::from_be_bytes([s[2], s[3]]) as u32
        + u16::from_be_bytes([d[0], d[1]]) as u32
        + u16::from_be_bytes([d[2], d[3]]) as u32
        + proto as u32
        + len as u32
}

/// An ICMPv4 message (type, code, 4 rest-of-header bytes, body) with its checksum.
pub fn icmpv4(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&[ty, code, 0, 0]);
    v.extend_from_slice(&rest);
    v.extend_from_slice(body);
    let c = checksum(0, &v);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// An ICMPv6 message with its checksum over the pseudo-header.
pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&[ty, code, 0, 0]);
    v.extend_from_slice(&rest);
    v.extend_from_slice(body);
    let c = checksum(pseudo6(src, dst, 58, v.len() as u32), &v);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// Transport protocol numbers the dataplane distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 (the "port" is the echo identifier).
    Icmp,
    /// Anything else, by protocol number.
    Other(u8),
}

impl L4 {
    /// From an IP protocol / next-header number.
    pub fn from_proto(p: u8) -> L4 {
        match p {
            6 => L4::Tcp,
            17 => L4::Udp,
            1 | 58 => L4::Icmp,
            n => L4::Other(n),
        }
    }

    /// The lowercase name (`tcp`, `udp`, `icmp`).
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Other(_) => "ip",
        }
    }
}

/// The addressing of an IP packet: what conntrack, NAT and filters look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport.
    pub l4: L4,
    /// Source port (TCP/UDP) or echo identifier (ICMP echo).
    pub sport: u16,
    /// Destination port (TCP/UDP) or echo identifier (ICMP echo).
    pub dport: u16,
}

impl Tuple {
    /// This tuple with source port `port`; for ICMP echo, whose one identifier is
    /// both "ports", the destination port too.
    pub fn with_sport(self, port: u16) -> Tuple {
        Tuple {
            sport: port,
            dport: if self.l4 == L4::Icmp { port } else { self.dport },
            ..self
        }
    }

    /// The tuple of the answer to this packet.
    pub fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            l4: self.l4,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.l4 {
            L4::Tcp | L4::Udp => write!(
                f,
                "{} {} -> {}",
                self.l4.name(),
                sock(self.src, self.sport),
                sock(self.dst, self.dport)
            ),
            _ => write!(f, "{} {} -> {}", self.l4.name(), self.src, self.dst),
        }
    }
}

/// `addr:port`, with brackets for IPv6.
pub fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// A parsed view of an IP packet's header fields that the dataplane uses.
#[derive(Clone, Copy, Debug)]
pub struct IpInfo {
    /// The tuple (ports zero for non-first fragments and non-echo ICMP).
    pub tuple: Tuple,
    /// TTL or hop limit.
    pub ttl: u8,
    /// Header length (IPv4 header with options, or 40 for IPv6).
    pub header_len: usize,
    /// Total length of the packet according to its header.
    pub total_len: usize,
    /// IPv4 don't-fragment flag (always true for IPv6, which routers never fragment).
    pub dont_frag: bool,
    /// Whether this is a fragment (offset > 0 or more fragments).
    pub fragment: bool,
    /// Whether this is the first (or only) fragment.
    pub first_fragment: bool,
    /// ICMP type, when the packet is ICMP and carries its header.
    pub icmp_type: Option<u8>,
    /// TCP flags byte, when TCP.
    pub tcp_flags: Option<u8>,
}

impl IpInfo {
    /// Whether the packet is an ICMP error (never answered with another error).
    pub fn is_icmp_error(&self) -> bool {
        match (self.tuple.src, self.icmp_type) {
            (IpAddr::V4(_), Some(t)) => matches!(t, 3 | 4 | 5 | 11 | 12),
            (IpAddr::V6(_), Some(t)) => t < 128,
            _ => false,
        }
    }
}

/// Parses an IPv4 or IPv6 packet (`p` starts at the IP header).
pub fn parse_ip(p: &[u8]) -> Option<IpInfo> {
    match p.first()? >> 4 {
        4 => {
            let pk = Ipv4Packet::new_checked(p).ok()?;
            let header_len = pk.header_len() as usize;
            let total_len = pk.total_len() as usize;
            if total_len > p.len() || total_len < header_len {
                return None;
            }
            let frag_off = pk.frag_offset();
            let fragment = frag_off != 0 || pk.more_frags();
            let first = frag_off == 0;
            let l4 = L4::from_proto(u8::from(pk.next_header()));
            let payload = &p[header_len..total_len];
            let (sport, dport, icmp_type, tcp_flags) = if first {
                l4_ports(l4, payload, false)
            } else {
                (0, 0, None, None)
            };
            Some(IpInfo {
                tuple: Tuple {
                    src: IpAddr::V4(pk.src_addr()),
                    dst: IpAddr::V4(pk.dst_addr()),
                    l4,
                    sport,
                    dport,
                },
                ttl: pk.hop_limit(),
                header_len,
                total_len,
                dont_frag: pk.dont_frag(),
                fragment,
                first_fragment: first,
                icmp_type,
                tcp_flags,
            })
        }
        6 => {
            let pk = Ipv6Packet::new_checked(p).ok()?;
            let total_len = 40 + pk.payload_len() as usize;
            if total_len > p.len() {
                return None;
            }
            let l4 = L4::from_proto(u8::from(pk.next_header()));
            let (sport, dport, icmp_type, tcp_flags) = l4_ports(l4, &p[40..total_len], true);
            Some(IpInfo {
                tuple: Tuple {
                    src: IpAddr::V6(pk.src_addr()),
                    dst: IpAddr::V6(pk.dst_addr()),
                    l4,
                    sport,
                    dport,
                },
                ttl: pk.hop_limit(),
                header_len: 40,
                total_len,
                dont_frag: true,
                fragment: false,
                first_fragment: true,
                icmp_type,
                tcp_flags,
            })
        }
        _ => None,
    }
}

fn l4_ports(l4: L4, payload: &[u8], v6: bool) -> (u16, u16, Option<u8>, Option<u8>) {
    match l4 {
        L4::Tcp | L4::Udp if payload.len() >= 4 => {
            let flags = if l4 == L4::Tcp {
                payload.get(13).copied()
            } else {
                None
            };
            (
                u16::from_be_bytes([payload[0], payload[1]]),
                u16::from_be_bytes([payload[2], payload[3]]),
                None,
                flags,
            )
        }
        L4::Icmp if payload.len() >= 8 => {
            let ty = payload[0];
            let echo = if v6 {
                ty == 128 || ty == 129
            } else {
                ty == 8 || ty == 0
            };
            let id = if echo {
                u16::from_be_bytes([payload[4], payload[5]])
            } else {
                0
            };
            (id, id, Some(ty), None)
        }
        L4::Icmp if !payload.is_empty() => (0, 0, Some(payload[0]), None),
        _ => (0, 0, None, None),
    }
}

/// Rewrites the addresses and ports of an IP packet in place and fixes every checksum
/// (IPv4 header, TCP, UDP, ICMPv6) — the kernel drops packets whose checksums are wrong.
/// For ICMP echo, the ports are the echo identifier.
pub fn rewrite(p: &mut [u8], t: &Tuple) {
    let Some(info) = parse_ip(p) else { return };
    let hl = info.header_len;
    let total = info.total_len;
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if p[0] >> 4 == 4 => {
            let mut pk = Ipv4Packet::new_unchecked(&mut p[..]);
            pk.set_src_addr(s);
            pk.set_dst_addr(d);
            pk.fill_checksum();
        }
        (IpAddr::V6(s), IpAddr::V6(d)) if p[0] >> 4 == 6 => {
            let mut pk = Ipv6Packet::new_unchecked(&mut p[..]);
            pk.set_src_addr(s);
            pk.set_dst_addr(d);
        }
        _ => return,
    }
    if !info.first_fragment {
        return;
    }
    let seg = &mut p[hl..total];
    match info.tuple.l4 {
        L4::Tcp if seg.len() >= 20 => {
            seg[0..2].copy_from_slice(&t.sport.to_be_bytes());
            seg[2..4].copy_from_slice(&t.dport.to_be_bytes());
            if info.fragment {
                return; // the checksum covers bytes we do not have
            }
            let mut tcp = TcpPacket::new_unchecked(&mut seg[..]);
            match (t.src, t.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => tcp.fill_checksum(&s.into(), &d.into()),
                (IpAddr::V6(s), IpAddr::V6(d)) => tcp.fill_checksum(&s.into(), &d.into()),
                _ => {}
            }
        }
        L4::Udp if seg.len() >= 8 => {
            seg[0..2].copy_from_slice(&t.sport.to_be_bytes());
            seg[2..4].copy_from_slice(&t.dport.to_be_bytes());
            if info.fragment {
                return;
            }
            let mut udp = UdpPacket::new_unchecked(&mut seg[..]);
            match (t.src, t.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => udp.fill_checksum(&s.into(), &d.into()),
                (IpAddr::V6(s), IpAddr::V6(d)) => udp.fill_checksum(&s.into(), &d.into()),
                _ => {}
            }
        }
        L4::Icmp if seg.len() >= 8 => {
            let echo = info.tuple.sport != 0 || matches!(seg[0], 0 | 8 | 128 | 129);
            if echo && matches!(seg[0], 0 | 8 | 128 | 129) {
                seg[4..6].copy_from_slice(&t.sport.to_be_bytes());
            }
            if info.fragment {
                return;
            }
            seg[2..4].copy_from_slice(&[0, 0]);
            let c = match (t.src, t.dst) {
                (IpAddr::V6(s), IpAddr::V6(d)) => checksum(pseudo6(s, d, 58, seg.len() as u32), seg),
                _ => checksum(0, seg),
            };
            seg[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// Converts to smoltcp's address types.
pub fn to_smol(a: IpAddr) -> smoltcp::wire::IpAddress {
    match a {
        IpAddr::V4(a) => smoltcp::wire::IpAddress::Ipv4(a),
        IpAddr::V6(a) => smoltcp::wire::IpAddress::Ipv6(a),
    }
}

/// Converts from smoltcp's address types.
pub fn from_smol(a: smoltcp::wire::IpAddress) -> IpAddr {
    match a {
        smoltcp::wire::IpAddress::Ipv4(a) => IpAddr::V4(a),
        smoltcp::wire::IpAddress::Ipv6(a) => IpAddr::V6(a),
    }
}

/// Turns a frame with offload metadata (from a TAP with TSO and checksum offload) into
/// ordinary wire frames, as the kernel's software GSO would: a TCP frame larger than
/// one segment is cut into segments of `gso_size` payload bytes with their own IP
/// lengths, ids and checksums and TCP sequence numbers, flags and checksums; a partial
/// checksum is completed. Anything it cannot parse comes back unchanged.
pub fn resolve_offload(frame: &[u8], o: &netloom_core::Offload) -> Vec<Vec<u8>> {
    let Some((et, ip)) = ethertype(frame) else {
        return vec![frame.to_vec()];
    };
    if !o.is_gso() {
        let mut v = frame.to_vec();
        if o.flags & 1 != 0 {
            complete_checksum(&mut v, o.csum_start as usize, o.csum_offset as usize);
        }
        return vec![v];
    }
    let (v4, ihl) = match (et, frame.get(ip)) {
        (ETH_IPV4, Some(b)) if frame.get(ip + 9) == Some(&6) => (true, (*b & 0x0f) as usize * 4),
        (ETH_IPV6, Some(_)) if frame.get(ip + 6) == Some(&6) => (false, 40),
        _ => return vec![frame.to_vec()],
    };
    let tcp = ip + ihl;
    let Some(doff) = frame.get(tcp + 12).map(|b| (b >> 4) as usize * 4) else {
        return vec![frame.to_vec()];
    };
    let hdrs = tcp + doff;
    let (Some(payload), Some(seq0)) = (frame.get(hdrs..), frame.get(tcp + 4..tcp + 8)) else {
        return vec![frame.to_vec()];
    };
    let seq0 = u32::from_be_bytes([seq0[0], seq0[1], seq0[2], seq0[3]]);
    let id0 = u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]);
    let flags = frame[tcp + 13];
    let mss = o.gso_size as usize;
    let n = payload.len().div_ceil(mss).max(1);
    let mut out = Vec::with_capacity(n);
    for (i, chunk) in payload.chunks(mss).enumerate() {
        let mut p = Vec::with_capacity(hdrs + chunk.len());
        p.extend_from_slice(&frame[..hdrs]);
        p.extend_from_slice(chunk);
        let tcp_len = doff + chunk.len();
        if v4 {
            p[ip + 2..ip + 4].copy_from_slice(&((ihl + tcp_len) as u16).to_be_bytes());
            p[ip + 4..ip + 6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            p[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
            let c = checksum(0, &p[ip..ip + ihl]);
            p[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            p[ip + 4..ip + 6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        }
        let seq = seq0.wrapping_add((i * mss) as u32);
        p[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
        let mut f = flags;
        if i + 1 < n {
            f &= !(0x01 | 0x08); // FIN and PSH only on the last segment
        }
        if i > 0 {
            f &= !0x80; // CWR only on the first
        }
        p[tcp + 13] = f;
        p[tcp + 16..tcp + 18].copy_from_slice(&[0, 0]);
        let pseudo = if v4 {
            let s = Ipv4Addr::new(p[ip + 12], p[ip + 13], p[ip + 14], p[ip + 15]);
            let d = Ipv4Addr::new(p[ip + 16], p[ip + 17], p[ip + 18], p[ip + 19]);
            pseudo4(s, d, 6, tcp_len as u16)
        } else {
            let s: [u8; 16] = p[ip + 8..ip + 24].try_into().unwrap_or([0; 16]);
            let d: [u8; 16] = p[ip + 24..ip + 40].try_into().unwrap_or([0; 16]);
            pseudo6(Ipv6Addr::from(s), Ipv6Addr::from(d), 6, tcp_len as u32)
        };
        let c = checksum(pseudo, &p[tcp..]);
        p[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
        out.push(p);
    }
    out
}

/// Completes a partial checksum (`CHECKSUM_PARTIAL`): the field at `start + offset`
/// holds the pseudo-header sum; the sum over `start..` is folded into it.
pub fn complete_checksum(p: &mut [u8], start: usize, offset: usize) {
    let at = start + offset;
    if at + 2 > p.len() || start >= p.len() {
        return;
    }
    let c = checksum(0, &p[start..]);
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_checksums_valid() {
        // A UDP packet from 10.0.0.2:5000 to 10.0.0.1:53, rewritten as masquerade would.
        let mut udp = vec![0x13, 0x88, 0, 53, 0, 12, 0, 0, b'a', b'b', b'c', b'd'];
        let s = Ipv4Addr::new(10, 0, 0, 2);
        let d = Ipv4Addr::new(10, 0, 0, 1);
        let c = checksum(pseudo4(s, d, 17, 12), &udp);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        let mut p = ipv4(s, d, IpProtocol::Udp, 64, 1, true, &udp);
        let t = Tuple {
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
            dst: IpAddr::V4(d),
            l4: L4::Udp,
            sport: 40000,
            dport: 53,
        };
        rewrite(&mut p, &t);
        let pk = Ipv4Packet::new_checked(&p[..]).expect("valid");
        assert!(pk.verify_checksum());
        let u = UdpPacket::new_checked(pk.payload()).expect("valid");
        assert!(u.verify_checksum(&Ipv4Addr::new(192, 168, 1, 10).into(), &d.into()));
        assert_eq!(u.src_port(), 40000);
        assert_eq!(parse_ip(&p).map(|i| i.tuple), Some(t));
    }

    #[test]
    fn solicited_node_address() {
        let a: Ipv6Addr = "2001:db8::1:2:3".parse().expect("literal");
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff02:3".parse::<Ipv6Addr>().expect("literal")
        );
    }

    // A 3000-byte TSO segment with MSS 1400 becomes three wire frames whose IP and TCP
    // checksums verify, with consecutive sequence numbers and PSH/FIN only at the end.
    #[test]
    fn tso_frames_are_cut_into_valid_segments() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let payload = vec![7u8; 3000];
        let mut tcp = vec![0u8; 20];
        tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x18 | 0x01; // PSH ACK FIN
        tcp.extend_from_slice(&payload);
        let ip = ipv4(src, dst, IpProtocol::Tcp, 64, 42, true, &tcp);
        let frame = ethernet([2; 6], [4; 6], ETH_IPV4, &ip);
        let o = netloom_core::Offload {
            flags: 1,
            gso_type: 1,
            hdr_len: 54,
            gso_size: 1400,
            csum_start: 34,
            csum_offset: 16,
        };
        let segs = resolve_offload(&frame, &o);
        assert_eq!(
            segs.iter().map(|s| s.len() - 54).collect::<Vec<_>>(),
            [1400, 1400, 200]
        );
        for (i, s) in segs.iter().enumerate() {
            let p = Ipv4Packet::new_checked(&s[14..]).expect("ipv4");
            assert!(p.verify_checksum());
            assert_eq!(p.ident(), 42 + i as u16);
            let t = smoltcp::wire::TcpPacket::new_checked(p.payload()).expect("tcp");
            assert!(t.verify_checksum(&src.into(), &dst.into()));
            assert_eq!(t.seq_number().0 as u32, 1000 + 1400 * i as u32);
            assert_eq!(t.fin(), i == 2);
            assert_eq!(t.psh(), i == 2);
        }
    }
}
