//! One line that says what a frame is, as tcpdump would: `ARP who-has 10.0.2.77 tell
//! 10.0.1.1`, `ICMP echo request 172.20.0.2 > 172.20.0.3 id 1 seq 2`, `TCP
//! 172.20.0.2:49152 > 172.20.0.3:80 [S]`, `VXLAN vni 42: …`. The trace records it when a
//! frame is born, so an explained step says what each of its packets was.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use crate::net;

/// What `frame` (an Ethernet frame) is, in one line; never panics on malformed bytes.
pub fn frame_summary(frame: &[u8]) -> String {
    let mut out = String::new();
    if frame.is_empty() {
        // An application's decision that puts nothing on a wire (a DNS forward that
        // failed, a connect() refused before any packet exists).
        return "no packet (a local decision)".into();
    }
    let ethernet_type = net::ethertype(frame).map(|(t, _)| t);
    if matches!(ethernet_type, Some(0x0800 | 0x86dd | 0x0806 | 0x8100)) || net::parse_ip(frame).is_none() {
        ethernet(frame, &mut out, 0);
    } else {
        // A machine's packet born before its link-layer header (waiting for ARP).
        ip(frame, &mut out, 0);
    }
    out
}

fn ethernet(frame: &[u8], out: &mut String, depth: u8) {
    let Some((mut et, mut off)) = net::ethertype(frame) else {
        out.push_str("runt frame");
        return;
    };
    if et == 0x8100 {
        if let Some(v) = net::vlan_id(frame) {
            let _ = write!(out, "802.1Q vlan {v}, ");
        }
        match frame.get(off + 2..off + 4) {
            Some(b) => {
                et = u16::from_be_bytes([b[0], b[1]]);
                off += 4;
            }
            None => {
                out.push_str("truncated 802.1Q header");
                return;
            }
        }
    }
    let payload = frame.get(off..).unwrap_or_default();
    match et {
        0x0806 => arp(payload, out),
        0x0800 | 0x86dd => ip(payload, out, depth),
        other => {
            let _ = write!(out, "ethertype 0x{other:04x}, {} bytes", frame.len());
        }
    }
}

fn arp(p: &[u8], out: &mut String) {
    match net::parse_arp(p) {
        Some(a) if a.op == 1 => {
            let _ = write!(out, "ARP who-has {} tell {}", a.tpa, a.spa);
        }
        Some(a) => {
            let mac: Vec<String> = a.sha.iter().map(|b| format!("{b:02x}")).collect();
            let _ = write!(out, "ARP reply {} is-at {}", a.spa, mac.join(":"));
        }
        None => out.push_str("malformed ARP"),
    }
}

fn ip(p: &[u8], out: &mut String, depth: u8) {
    let Some(info) = net::parse_ip(p) else {
        out.push_str("malformed IP packet");
        return;
    };
    let t = info.tuple;
    let body = p.get(info.header_len..info.total_len).unwrap_or_default();
    if info.fragment && !info.first_fragment {
        let _ = write!(out, "IP fragment {} > {}, {} bytes", t.src, t.dst, info.total_len);
        return;
    }
    match (t.l4, t.src) {
        (net::L4::Tcp, _) => {
            let _ = write!(
                out,
                "TCP {} > {} [{}]",
                net::sock(t.src, t.sport),
                net::sock(t.dst, t.dport),
                tcp_flags(info.tcp_flags.unwrap_or(0))
            );
            let data = body
                .get(12)
                .map_or(0, |b| body.len().saturating_sub(usize::from(b >> 4) * 4));
            if data > 0 {
                let _ = write!(out, " {data} bytes");
            }
        }
        (net::L4::Udp, _) if t.dport == 4789 && depth == 0 && body.len() >= 16 => {
            let vni = u32::from_be_bytes([0, body[12], body[13], body[14]]);
            let _ = write!(out, "VXLAN {} > {} vni {vni}: ", t.src, t.dst);
            ethernet(&body[16..], out, depth + 1);
        }
        (net::L4::Udp, _) => {
            let _ = write!(
                out,
                "UDP {} > {}",
                net::sock(t.src, t.sport),
                net::sock(t.dst, t.dport)
            );
            if t.sport == 53 || t.dport == 53 {
                out.push_str(if t.dport == 53 {
                    " (DNS query)"
                } else {
                    " (DNS answer)"
                });
            } else {
                let _ = write!(out, " {} bytes", body.len().saturating_sub(8));
            }
        }
        (net::L4::Icmp, IpAddr::V4(_)) => icmp4(&info, body, out),
        (net::L4::Icmp, IpAddr::V6(_)) => icmp6(&info, body, out),
        (net::L4::Other(50), _) => {
            let spi = body
                .get(..4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let _ = write!(out, "ESP {} > {} spi 0x{spi:08x}", t.src, t.dst);
        }
        (net::L4::Other(proto), _) => {
            let _ = write!(out, "IP proto {proto} {} > {}", t.src, t.dst);
        }
    }
    if info.fragment {
        out.push_str(" (first fragment)");
    }
}

fn icmp4(info: &net::IpInfo, body: &[u8], out: &mut String) {
    let t = info.tuple;
    let code = body.get(1).copied().unwrap_or(0);
    let what = match (info.icmp_type.unwrap_or(255), code) {
        (8, _) => "echo request",
        (0, _) => "echo reply",
        (3, 0) => "net unreachable",
        (3, 1) => "host unreachable",
        (3, 3) => "port unreachable",
        (3, 4) => "frag needed",
        (3, 13) => "admin prohibited",
        (3, _) => "destination unreachable",
        (11, _) => "time exceeded",
        _ => "message",
    };
    let _ = write!(out, "ICMP {what} {} > {}", t.src, t.dst);
    echo_or_quote(info, body, out, 3);
}

fn icmp6(info: &net::IpInfo, body: &[u8], out: &mut String) {
    let t = info.tuple;
    let code = body.get(1).copied().unwrap_or(0);
    let what = match (info.icmp_type.unwrap_or(0), code) {
        (128, _) => "echo request",
        (129, _) => "echo reply",
        (135, _) => "neighbour solicitation",
        (136, _) => "neighbour advertisement",
        (133, _) => "router solicitation",
        (134, _) => "router advertisement",
        (1, 0) => "no route",
        (1, 3) => "address unreachable",
        (1, 4) => "port unreachable",
        (1, _) => "destination unreachable",
        (2, _) => "packet too big",
        (3, _) => "time exceeded",
        _ => "message",
    };
    let _ = write!(out, "ICMPv6 {what} {} > {}", t.src, t.dst);
    if matches!(info.icmp_type, Some(135 | 136))
        && let Some(b) = body.get(8..24)
    {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        let _ = write!(out, " for {}", Ipv6Addr::from(a));
    }
    echo_or_quote(info, body, out, 1);
}

/// The echo id and sequence number, the MTU of a "frag needed" / "packet too big", and
/// for an error the packet it is about.
fn echo_or_quote(info: &net::IpInfo, body: &[u8], out: &mut String, unreachable: u8) {
    let ty = info.icmp_type.unwrap_or(0);
    let be16 = |i: usize| body.get(i..i + 2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    if matches!(ty, 0 | 8 | 128 | 129) {
        let _ = write!(out, " id {} seq {}", be16(4), be16(6));
        return;
    }
    if (ty == 3 && body.get(1) == Some(&4)) || (ty == 2 && info.tuple.src.is_ipv6()) {
        let mtu = if ty == 2 {
            body.get(4..8)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            u32::from(be16(6))
        };
        let _ = write!(out, " mtu {mtu}");
    }
    if (info.is_icmp_error() || ty == unreachable)
        && let Some(inner) = body.get(8..).and_then(net::parse_ip)
    {
        let q = inner.tuple;
        let _ = match q.l4 {
            net::L4::Tcp | net::L4::Udp => write!(
                out,
                " (about {} {} > {})",
                q.l4.name(),
                net::sock(q.src, q.sport),
                net::sock(q.dst, q.dport)
            ),
            _ => write!(out, " (about {} {} > {})", q.l4.name(), q.src, q.dst),
        };
    }
}

fn tcp_flags(f: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(0x02, 'S'), (0x01, 'F'), (0x04, 'R'), (0x08, 'P'), (0x10, '.')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::net::{Mac, arp as arp_payload, ethernet as eth, icmpv4, ipv4};

    const A: Mac = [2, 0, 0, 0, 0, 1];
    const B: Mac = [2, 0, 0, 0, 0, 2];

    #[test]
    fn arp_and_echo_read_like_tcpdump() {
        let who = eth(
            [0xff; 6],
            A,
            0x0806,
            &arp_payload(
                1,
                A,
                Ipv4Addr::new(10, 0, 0, 1),
                [0; 6],
                Ipv4Addr::new(10, 0, 0, 2),
            ),
        );
        assert_eq!(frame_summary(&who), "ARP who-has 10.0.0.2 tell 10.0.0.1");
        let icmp = icmpv4(8, 0, [0, 7, 0, 3], b"hello");
        let pkt = ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            smoltcp::wire::IpProtocol::Icmp,
            64,
            1,
            false,
            &icmp,
        );
        let f = eth(B, A, 0x0800, &pkt);
        assert_eq!(
            frame_summary(&f),
            "ICMP echo request 10.0.0.1 > 10.0.0.2 id 7 seq 3"
        );
    }

    #[test]
    fn garbage_is_described_not_a_panic() {
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = frame_summary(&junk);
        }
        assert_eq!(frame_summary(&[1, 2, 3]), "runt frame");
    }
}
