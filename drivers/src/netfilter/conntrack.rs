//! Connection tracking and NAT, as netfilter does them: a connection is created by its
//! first packet, carries its translations (DNAT for published ports, SNAT for
//! masquerade), and every later packet of either direction is rewritten from it.
//! ICMP errors about a tracked connection are RELATED and translated too.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use netloom_core::{PortId, SimDuration, SimTime};

use crate::net::{L4, Tuple};

/// Which direction of a connection a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// As the first packet did.
    Original,
    /// The answers.
    Reply,
}

/// A tracked connection.
#[derive(Clone, Debug)]
pub struct Conn {
    /// The first packet's tuple as it arrived.
    pub orig: Tuple,
    /// The tuple answers carry on the wire (after translation).
    pub reply: Tuple,
    /// Destination was translated (a published port).
    pub dnat: bool,
    /// Source was translated (masquerade, hairpin).
    pub snat: bool,
    /// Last packet seen.
    pub last: SimTime,
    /// Whether a packet of the reply direction was seen (conntrack's ASSURED/ESTABLISHED).
    pub replied: bool,
}

impl Conn {
    /// The tuple a packet of `dir` must carry after translation.
    pub fn translated(&self, dir: Dir) -> Tuple {
        match dir {
            Dir::Original => self.reply.reversed(),
            Dir::Reply => self.orig.reversed(),
        }
    }

    fn timeout(&self) -> SimDuration {
        match self.orig.l4 {
            // nf_conntrack_tcp_timeout_established; unreplied SYNs age faster.
            L4::Tcp if self.replied => SimDuration::from_secs(432_000),
            L4::Tcp => SimDuration::from_secs(120),
            L4::Udp if self.replied => SimDuration::from_secs(120),
            _ => SimDuration::from_secs(30),
        }
    }
}

/// A destination NAT rule: a published port.
#[derive(Clone, Debug)]
pub struct DnatRule {
    /// Transport.
    pub l4: L4,
    /// Host address the port is bound to (`None` = every address of the host).
    pub host_ip: Option<IpAddr>,
    /// First published host port.
    pub host_port: u16,
    /// Last published host port (same as `host_port` for one port).
    pub host_port_end: u16,
    /// The container's address.
    pub to: IpAddr,
    /// The container port matching `host_port`.
    pub to_port: u16,
    /// A human label for traces (`api 8080->80/tcp`).
    pub label: String,
}

/// A masquerade rule: `-s src ! -o not_out -o out -j MASQUERADE`.
#[derive(Clone, Debug)]
pub struct MasqRule {
    /// Only packets from this network (`None` = any).
    pub src: Option<IpNet>,
    /// Only packets leaving through this interface (`None` = any).
    pub out: Option<PortId>,
    /// Never for packets leaving through this interface (a Docker bridge's own).
    pub not_out: Option<PortId>,
}

/// The conntrack table and NAT rules of one network namespace.
#[derive(Clone, Debug, Default)]
pub struct Conntrack {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    by_tuple: HashMap<Tuple, (usize, Dir)>,
    /// Published ports.
    pub dnat: Vec<DnatRule>,
    /// Masquerade rules.
    pub masq: Vec<MasqRule>,
    /// Ports handed out by masquerade, per (address, protocol), to keep reply tuples unique.
    next_port: BTreeMap<(IpAddr, L4), u16>,
}

impl Conntrack {
    /// Finds the live connection `t` belongs to.
    pub fn lookup(&mut self, t: &Tuple, now: SimTime) -> Option<(usize, Dir)> {
        let &(i, dir) = self.by_tuple.get(t)?;
        let expired = self.conns[i]
            .as_ref()
            .is_none_or(|c| now.saturating_since(c.last) > c.timeout());
        if expired {
            self.remove(i);
            return None;
        }
        if let Some(c) = self.conns[i].as_mut() {
            c.last = now;
            if dir == Dir::Reply {
                c.replied = true;
            }
        }
        Some((i, dir))
    }

    /// The connection `i`.
    pub fn conn(&self, i: usize) -> Option<&Conn> {
        self.conns.get(i).and_then(|c| c.as_ref())
    }

    /// Records a new connection whose first packet was `orig` and leaves as `translated`.
    pub fn insert(&mut self, orig: Tuple, translated: Tuple, now: SimTime) -> usize {
        let conn = Conn {
            orig,
            reply: translated.reversed(),
            dnat: orig.dst != translated.dst || orig.dport != translated.dport,
            snat: orig.src != translated.src || orig.sport != translated.sport,
            last: now,
            replied: false,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(conn);
                i
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.by_tuple.insert(orig, (i, Dir::Original));
        self.by_tuple.insert(translated.reversed(), (i, Dir::Reply));
        i
    }

    fn remove(&mut self, i: usize) {
        if let Some(c) = self.conns.get_mut(i).and_then(Option::take) {
            self.by_tuple.remove(&c.orig);
            self.by_tuple.remove(&c.reply);
            self.free.push(i);
        }
    }

    /// The published-port rule matching a new packet `t` addressed to this host.
    pub fn match_dnat(&self, t: &Tuple) -> Option<&DnatRule> {
        self.match_dnat_index(t).and_then(|i| self.dnat.get(i))
    }

    /// [`Conntrack::match_dnat`], as an index into [`Conntrack::dnat`].
    pub fn match_dnat_index(&self, t: &Tuple) -> Option<usize> {
        self.dnat.iter().position(|r| {
            r.l4 == t.l4
                && r.to.is_ipv4() == t.dst.is_ipv4()
                && r.host_ip.is_none_or(|ip| ip == t.dst)
                && (r.host_port..=r.host_port_end).contains(&t.dport)
        })
    }

    /// Whether a masquerade rule applies to `t` leaving through `out`.
    pub fn masquerades(&self, t: &Tuple, out: PortId) -> bool {
        self.masq.iter().any(|r| {
            r.src.is_none_or(|n| n.contains(&t.src))
                && r.out.is_none_or(|o| o == out)
                && r.not_out != Some(out)
                && r.src.is_none_or(|n| n.addr().is_ipv4() == t.src.is_ipv4())
        })
    }

    /// A source port for `t` rewritten to `addr` such that the reply tuple is unused:
    /// the original port when free, as Linux keeps it, else the next free one.
    ///
    /// For ICMP echo the "port" is the echo identifier, one number for both directions
    /// (the reply carries the identifier the request left with), and a clash picks
    /// another identifier from the whole 16-bit range, as `nf_nat_l4proto_unique_tuple`
    /// does for ICMP; the translated tuple must then carry it as both ports
    /// ([`Tuple::with_sport`]).
    pub fn pick_port(&mut self, t: &Tuple, addr: IpAddr) -> u16 {
        let icmp = t.l4 == L4::Icmp;
        let free = |ct: &Self, port: u16| {
            let reply = Tuple {
                src: t.dst,
                dst: addr,
                l4: t.l4,
                sport: if icmp { port } else { t.dport },
                dport: port,
            };
            !ct.by_tuple.contains_key(&reply)
        };
        if (t.sport != 0 || icmp) && free(self, t.sport) {
            return t.sport;
        }
        let (lo, hi) = if icmp { (0, u16::MAX) } else { (32768, 60999) };
        let start = *self.next_port.get(&(addr, t.l4)).unwrap_or(&lo);
        let mut p = start;
        for _ in 0..=(hi - lo) {
            p = if p >= hi { lo } else { p + 1 };
            if free(self, p) {
                self.next_port.insert((addr, t.l4), p);
                return p;
            }
        }
        t.sport
    }

    /// How many live connections are tracked.
    pub fn len(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn t(s: [u8; 4], sp: u16, d: [u8; 4], dp: u16) -> Tuple {
        Tuple {
            src: IpAddr::V4(Ipv4Addr::from(s)),
            dst: IpAddr::V4(Ipv4Addr::from(d)),
            l4: L4::Tcp,
            sport: sp,
            dport: dp,
        }
    }

    #[test]
    fn masquerade_mapping_inverts() {
        // Proves the reply of a masqueraded connection is mapped back to the container.
        let mut ct = Conntrack::default();
        let orig = t([172, 17, 0, 2], 40000, [203, 0, 113, 10], 80);
        let out = Tuple {
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
            ..orig
        };
        ct.insert(orig, out, SimTime::ZERO);
        let (i, dir) = ct.lookup(&out.reversed(), SimTime(1)).expect("reply is tracked");
        assert_eq!(dir, Dir::Reply);
        assert_eq!(ct.conn(i).expect("live").translated(Dir::Reply), orig.reversed());
    }

    #[test]
    fn second_flow_on_same_port_gets_another_port() {
        let mut ct = Conntrack::default();
        let nat = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let a = t([172, 17, 0, 2], 40000, [203, 0, 113, 10], 80);
        let b = t([172, 17, 0, 3], 40000, [203, 0, 113, 10], 80);
        let pa = ct.pick_port(&a, nat);
        ct.insert(
            a,
            Tuple {
                src: nat,
                sport: pa,
                ..a
            },
            SimTime::ZERO,
        );
        let pb = ct.pick_port(&b, nat);
        assert_eq!(pa, 40000);
        assert_ne!(pb, 40000);
    }
}
