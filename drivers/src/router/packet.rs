//! Packet surgery for the namespace model: ICMP messages, fragmentation, quoted
//! headers inside ICMP errors, TCP resets, neighbour-discovery options.

use std::net::IpAddr;

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

use crate::net::{self, IpInfo, L4, Mac, Tuple};

#[derive(Clone, Copy, Debug)]
pub(super) enum IcmpErr {
    NetUnreach,
    HostUnreach,
    PortUnreach,
    TooBig(u32),
    TimeExceeded,
    /// Destination unreachable with this IPv4 code (REJECT's `--reject-with`).
    Unreach(u8),
}

pub(super) fn is_multicast(a: IpAddr) -> bool {
    a.is_multicast()
}

pub(super) fn echo(src: IpAddr, dst: IpAddr, ip_id: u16, request: bool, body: &[u8]) -> Vec<u8> {
    let rest: [u8; 4] = body.get(4..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]);
    let data = body.get(8..).unwrap_or(&[]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            // Linux sends echo replies without DF.
            net::ipv4(
                s,
                d,
                IpProtocol::Icmp,
                64,
                ip_id,
                false,
                &net::icmpv4(if request { 8 } else { 0 }, 0, rest, data),
            )
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => net::ipv6(
            s,
            d,
            IpProtocol::Icmpv6,
            64,
            &net::icmpv6(s, d, if request { 128 } else { 129 }, 0, rest, data),
        ),
        _ => Vec::new(),
    }
}

pub(super) fn decrement_ttl(pkt: &mut [u8]) {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let mut p = Ipv4Packet::new_unchecked(pkt);
            p.set_hop_limit(p.hop_limit().saturating_sub(1));
            p.fill_checksum();
        }
        Some(6) => {
            let mut p = Ipv6Packet::new_unchecked(pkt);
            p.set_hop_limit(p.hop_limit().saturating_sub(1));
        }
        _ => {}
    }
}

/// Splits an IPv4 packet into fragments of at most `mtu` bytes.
pub(super) fn fragment(pkt: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    let Ok(p) = Ipv4Packet::new_checked(pkt) else {
        return vec![pkt.to_vec()];
    };
    let hl = p.header_len() as usize;
    let base_off = p.frag_offset() as usize;
    let last_more = p.more_frags();
    let payload = &pkt[hl..p.total_len() as usize];
    let chunk = ((mtu - hl) / 8) * 8;
    if chunk == 0 {
        return vec![pkt.to_vec()];
    }
    let mut out = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let mut v = pkt[..hl].to_vec();
        v.extend_from_slice(&payload[off..end]);
        let mut f = Ipv4Packet::new_unchecked(&mut v[..]);
        f.set_total_len((hl + end - off) as u16);
        f.set_frag_offset((base_off + off) as u16);
        f.set_more_frags(end < payload.len() || last_more);
        f.fill_checksum();
        out.push(v);
        off = end;
    }
    out
}

/// The tuple of the packet quoted in an ICMP error (which is usually truncated).
pub(super) fn inner_tuple(p: &[u8]) -> Option<Tuple> {
    let (src, dst, proto, l4off) = match p.first()? >> 4 {
        4 => {
            let hl = ((p[0] & 0x0f) as usize) * 4;
            let s: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            (IpAddr::V4(s.into()), IpAddr::V4(d.into()), *p.get(9)?, hl)
        }
        6 => {
            let s: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            (IpAddr::V6(s.into()), IpAddr::V6(d.into()), *p.get(6)?, 40)
        }
        _ => return None,
    };
    let l4 = L4::from_proto(proto);
    let b = p.get(l4off..).unwrap_or(&[]);
    let (sport, dport) = match l4 {
        L4::Tcp | L4::Udp if b.len() >= 4 => {
            (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]))
        }
        L4::Icmp if b.len() >= 6 => {
            let id = u16::from_be_bytes([b[4], b[5]]);
            (id, id)
        }
        _ => (0, 0),
    };
    Some(Tuple {
        src,
        dst,
        l4,
        sport,
        dport,
    })
}

/// Rewrites the addresses and ports of a quoted (truncated) packet.
pub(super) fn rewrite_inner(p: &mut [u8], t: &Tuple) {
    match (p.first().map(|b| b >> 4), t.src, t.dst) {
        (Some(4), IpAddr::V4(s), IpAddr::V4(d)) if p.len() >= 20 => {
            let hl = ((p[0] & 0x0f) as usize) * 4;
            p[12..16].copy_from_slice(&s.octets());
            p[16..20].copy_from_slice(&d.octets());
            p[10..12].copy_from_slice(&[0, 0]);
            let c = net::checksum(0, &p[..hl.min(p.len())]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            write_ports(p, hl, t);
        }
        (Some(6), IpAddr::V6(s), IpAddr::V6(d)) if p.len() >= 40 => {
            p[8..24].copy_from_slice(&s.octets());
            p[24..40].copy_from_slice(&d.octets());
            write_ports(p, 40, t);
        }
        _ => {}
    }
}

pub(super) fn write_ports(p: &mut [u8], off: usize, t: &Tuple) {
    match t.l4 {
        L4::Tcp | L4::Udp if p.len() >= off + 4 => {
            p[off..off + 2].copy_from_slice(&t.sport.to_be_bytes());
            p[off + 2..off + 4].copy_from_slice(&t.dport.to_be_bytes());
        }
        L4::Icmp if p.len() >= off + 6 => p[off + 4..off + 6].copy_from_slice(&t.sport.to_be_bytes()),
        _ => {}
    }
}

pub(super) fn fix_icmp_checksum(pkt: &mut [u8], hl: usize) {
    let v6 = pkt.first().map(|b| b >> 4) == Some(6);
    let pseudo = if v6 {
        let s: [u8; 16] = pkt[8..24].try_into().unwrap_or([0; 16]);
        let d: [u8; 16] = pkt[24..40].try_into().unwrap_or([0; 16]);
        net::pseudo6(s.into(), d.into(), 58, (pkt.len() - hl) as u32)
    } else {
        0
    };
    let body = &mut pkt[hl..];
    if body.len() < 4 {
        return;
    }
    body[2..4].copy_from_slice(&[0, 0]);
    let c = net::checksum(pseudo, body);
    body[2..4].copy_from_slice(&c.to_be_bytes());
}

pub(super) fn nd_option(opts: &[u8], want: u8) -> Option<Mac> {
    let mut o = opts;
    while o.len() >= 8 {
        let (ty, len) = (o[0], o[1] as usize * 8);
        if len == 0 || len > o.len() {
            return None;
        }
        if ty == want {
            return o.get(2..8).and_then(|m| m.try_into().ok());
        }
        o = &o[len..];
    }
    None
}

/// The RST Linux answers a segment for a closed port with (RFC 793 reset generation).
pub(super) fn tcp_rst(pkt: &[u8], info: &IpInfo, ip_id: u16) -> Option<Vec<u8>> {
    let seg = pkt.get(info.header_len..)?;
    let tcp = TcpPacket::new_checked(seg).ok()?;
    let data_len = seg.len().checked_sub(tcp.header_len() as usize)? as u32;
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&tcp.dst_port().to_be_bytes());
    h[2..4].copy_from_slice(&tcp.src_port().to_be_bytes());
    if tcp.ack() {
        h[4..8].copy_from_slice(&tcp.ack_number().0.to_be_bytes());
        h[13] = 0x04;
    } else {
        let ack = (tcp.seq_number().0 as u32)
            .wrapping_add(data_len)
            .wrapping_add(tcp.syn() as u32)
            .wrapping_add(tcp.fin() as u32);
        h[8..12].copy_from_slice(&ack.to_be_bytes());
        h[13] = 0x14;
    }
    h[12] = 5 << 4;
    let t = info.tuple;
    tcp_packet(t.dst, t.src, &mut h, ip_id)
}

/// An IP packet carrying the 20-byte TCP header `h` from `src` to `dst`, its checksum
/// filled in (IPv4 with DF); `None` when the families differ.
pub(super) fn tcp_packet(src: IpAddr, dst: IpAddr, h: &mut [u8], ip_id: u16) -> Option<Vec<u8>> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let c = net::checksum(net::pseudo4(s, d, 6, 20), h);
            h[16..18].copy_from_slice(&c.to_be_bytes());
            Some(net::ipv4(s, d, IpProtocol::Tcp, 64, ip_id, true, h))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let c = net::checksum(net::pseudo6(s, d, 6, 20), h);
            h[16..18].copy_from_slice(&c.to_be_bytes());
            Some(net::ipv6(s, d, IpProtocol::Tcp, 64, h))
        }
        _ => None,
    }
}

/// What ping prints for an ICMP error from `from`.
pub(super) fn describe_icmp(v4: bool, body: &[u8], from: IpAddr) -> String {
    let (ty, code) = (body[0], body.get(1).copied().unwrap_or(0));
    let mtu4 = body
        .get(6..8)
        .map_or(0, |m| u16::from_be_bytes([m[0], m[1]]) as u32);
    let mtu6 = body
        .get(4..8)
        .map_or(0, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let what = match (v4, ty, code) {
        (true, 3, 0) => "Destination Net Unreachable".to_string(),
        (true, 3, 1) => "Destination Host Unreachable".to_string(),
        (true, 3, 3) => "Destination Port Unreachable".to_string(),
        (true, 3, 4) => format!("Frag needed and DF set (mtu = {mtu4})"),
        (true, 3, 13) => "Communication prohibited by filter".to_string(),
        (true, 11, _) => "Time to live exceeded".to_string(),
        (false, 1, 0) => "Destination unreachable: No route".to_string(),
        (false, 1, 3) => "Destination unreachable: Address unreachable".to_string(),
        (false, 1, 4) => "Destination unreachable: Port unreachable".to_string(),
        (false, 2, _) => format!("Packet too big: mtu={mtu6}"),
        (false, 3, _) => "Time exceeded: Hop limit".to_string(),
        _ => format!("ICMP type {ty} code {code}"),
    };
    format!("From {from}: {what}")
}

/// A UDP datagram from `src:sport` to `dst:dport` in an IP packet with its checksum.
/// IPv4 datagrams carry DF, as Linux sends them (path MTU discovery on by default).
pub(super) fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    udp_df(src, dst, (sport, dport), ip_id, true, payload)
}

/// [`udp`] with the IPv4 don't-fragment flag given: Linux's default (`IP_PMTUDISC_WANT`)
/// sets it only on a datagram that fits the path MTU, and fragments a larger one.
pub(super) fn udp_df(
    src: IpAddr,
    dst: IpAddr,
    (sport, dport): (u16, u16),
    ip_id: u16,
    df: bool,
    payload: &[u8],
) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&(len as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let c = net::checksum(net::pseudo4(s, d, 17, len as u16), &h);
            // An all-zero checksum means "none" in UDP over IPv4; 0xffff stands for 0.
            let c = if c == 0 { 0xffff } else { c };
            h[6..8].copy_from_slice(&c.to_be_bytes());
            net::ipv4(s, d, IpProtocol::Udp, 64, ip_id, df, &h)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let c = net::checksum(net::pseudo6(s, d, 17, len as u32), &h);
            let c = if c == 0 { 0xffff } else { c };
            h[6..8].copy_from_slice(&c.to_be_bytes());
            net::ipv6(s, d, IpProtocol::Udp, 64, &h)
        }
        _ => Vec::new(),
    }
}
