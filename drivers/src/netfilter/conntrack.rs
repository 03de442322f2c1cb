//! Connection tracking, as netfilter's `nf_conntrack` does it: a connection is created
//! by its first packet (confirmed when that packet leaves the last hook), carries its
//! NAT bindings, and every later packet of either direction is rewritten from it.
//! States (NEW, ESTABLISHED, RELATED, INVALID), TCP's state machine and Linux's
//! default timeouts per protocol; reply tuples are kept unique (a clash remaps the
//! source port or ICMP identifier, as `nf_nat_l4proto_unique_tuple` does).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use netloom_core::{SimDuration, SimTime};

use super::rule::CtStates;
use crate::net::{L4, Tuple};

/// Which direction of a connection a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// As the first packet did.
    Original,
    /// The answers.
    Reply,
}

/// TCP connection tracking states (`nf_conntrack_proto_tcp.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// SYN seen.
    SynSent,
    /// SYN/ACK seen.
    SynRecv,
    /// Three-way handshake done (or picked up mid-stream).
    Established,
    /// FIN seen from one side.
    FinWait,
    /// FIN seen from the answering side first.
    CloseWait,
    /// FIN seen from both, last ACK missing.
    LastAck,
    /// Both FINs acknowledged.
    TimeWait,
    /// A reset seen.
    Close,
}

impl TcpState {
    /// The name `conntrack -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
        }
    }

    /// Linux's default `nf_conntrack_tcp_timeout_*`.
    pub fn timeout(self) -> SimDuration {
        SimDuration::from_secs(match self {
            TcpState::SynSent => 120,
            TcpState::SynRecv => 60,
            TcpState::Established => 432_000,
            TcpState::FinWait => 120,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::TimeWait => 120,
            TcpState::Close => 10,
        })
    }
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
    /// Source was translated (masquerade, SNAT, a clash remapped).
    pub snat: bool,
    /// Last packet seen.
    pub last: SimTime,
    /// Whether a packet of the reply direction was seen (`SEEN_REPLY`).
    pub replied: bool,
    /// TCP's tracking state.
    pub tcp: Option<TcpState>,
    fin: [bool; 2],
}

impl Conn {
    /// The tuple a packet of `dir` must carry after translation.
    pub fn translated(&self, dir: Dir) -> Tuple {
        match dir {
            Dir::Original => self.reply.reversed(),
            Dir::Reply => self.orig.reversed(),
        }
    }

    /// How long the connection lives without packets: Linux's defaults
    /// (`nf_conntrack_{tcp,udp,icmp,generic}_timeout*`).
    pub fn timeout(&self) -> SimDuration {
        match (self.orig.l4, self.tcp) {
            (L4::Tcp, Some(s)) => s.timeout(),
            (L4::Udp, _) if self.replied => SimDuration::from_secs(120),
            (L4::Udp, _) => SimDuration::from_secs(30),
            (L4::Icmp, _) => SimDuration::from_secs(30),
            _ => SimDuration::from_secs(600),
        }
    }

    /// The state a packet of `dir` has (for `--ctstate`).
    pub fn state(&self, dir: Dir) -> CtStates {
        if dir == Dir::Reply || self.replied {
            CtStates::ESTABLISHED
        } else {
            CtStates::NEW
        }
    }

    /// Advances the TCP state machine with a packet of `dir` carrying `flags`.
    fn on_tcp(&mut self, dir: Dir, flags: u8) {
        let Some(s) = self.tcp else { return };
        let (syn, ack, fin, rst) = (
            flags & 0x02 != 0,
            flags & 0x10 != 0,
            flags & 0x01 != 0,
            flags & 0x04 != 0,
        );
        let d = dir as usize;
        let next = if rst {
            TcpState::Close
        } else if fin {
            self.fin[d] = true;
            match (self.fin[0], self.fin[1]) {
                (true, true) => TcpState::LastAck,
                _ if dir == Dir::Original => TcpState::FinWait,
                _ => TcpState::CloseWait,
            }
        } else {
            match s {
                TcpState::SynSent if dir == Dir::Reply && syn && ack => TcpState::SynRecv,
                TcpState::SynRecv if dir == Dir::Original && ack && !syn => TcpState::Established,
                TcpState::LastAck if ack => TcpState::TimeWait,
                TcpState::Close if syn && !ack && dir == Dir::Original => TcpState::SynSent,
                s => s,
            }
        };
        self.tcp = Some(next);
    }
}

/// The conntrack table of one network namespace.
#[derive(Clone, Debug)]
pub struct Conntrack {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    by_tuple: HashMap<Tuple, (usize, Dir), BuildHasherDefault<TupleHasher>>,
    /// Ports handed out for remapped sources, per (address, protocol).
    next_port: BTreeMap<(IpAddr, L4), u16>,
    /// Where the amortised sweep for expired entries goes on.
    sweep: usize,
    /// `nf_conntrack_max`.
    pub max: usize,
}

impl Default for Conntrack {
    fn default() -> Self {
        Conntrack {
            conns: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::default(),
            next_port: BTreeMap::new(),
            sweep: 0,
            max: 262_144,
        }
    }
}

/// A multiply-rotate hash (FxHash's) for tuples: every packet of a tracked machine
/// looks its tuple up, and SipHash's DoS resistance buys nothing inside a simulation.
#[derive(Default)]
pub struct TupleHasher(u64);

impl Hasher for TupleHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl TupleHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The conntrack table is full (`nf_conntrack: table full, dropping packet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

impl Conntrack {
    /// Finds the live connection `t` belongs to (expired ones are removed).
    pub fn lookup(&mut self, t: &Tuple, now: SimTime) -> Option<(usize, Dir)> {
        let &(i, dir) = self.by_tuple.get(t)?;
        let expired = self.conns[i]
            .as_ref()
            .is_none_or(|c| now.saturating_since(c.last) > c.timeout());
        if expired {
            self.remove(i);
            return None;
        }
        Some((i, dir))
    }

    /// Records that a packet of `dir` (TCP `flags`) passed connection `i`.
    pub fn seen(&mut self, i: usize, dir: Dir, tcp_flags: Option<u8>, now: SimTime) {
        if let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) {
            c.last = now;
            if dir == Dir::Reply {
                c.replied = true;
            }
            if let Some(f) = tcp_flags {
                c.on_tcp(dir, f);
            }
        }
    }

    /// The connection `i`.
    pub fn conn(&self, i: usize) -> Option<&Conn> {
        self.conns.get(i).and_then(|c| c.as_ref())
    }

    /// Records a new connection whose first packet was `orig` and leaves as
    /// `translated` (TCP `flags` of that packet start the state machine).
    ///
    /// # Errors
    /// [`TableFull`] when `max` connections live and none has expired.
    pub fn insert(
        &mut self,
        orig: Tuple,
        translated: Tuple,
        tcp_flags: Option<u8>,
        now: SimTime,
    ) -> Result<usize, TableFull> {
        self.sweep_some(now, 8);
        if self.len() >= self.max {
            self.sweep_some(now, 256);
            if self.len() >= self.max {
                return Err(TableFull);
            }
        }
        let tcp = (orig.l4 == L4::Tcp).then_some(match tcp_flags {
            Some(f) if f & 0x02 != 0 && f & 0x10 == 0 => TcpState::SynSent,
            // Picked up mid-stream (`nf_conntrack_tcp_loose`).
            _ => TcpState::Established,
        });
        let conn = Conn {
            orig,
            reply: translated.reversed(),
            dnat: orig.dst != translated.dst || orig.dport != translated.dport && orig.l4 != L4::Icmp,
            snat: orig.src != translated.src || orig.sport != translated.sport,
            last: now,
            replied: false,
            tcp,
            fin: [false; 2],
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
        Ok(i)
    }

    /// Removes expired connections among the next `n` slots (the kernel's gc worker,
    /// amortised over inserts so the table never holds more than its live flows long).
    fn sweep_some(&mut self, now: SimTime, n: usize) {
        for _ in 0..n.min(self.conns.len()) {
            self.sweep = (self.sweep + 1) % self.conns.len();
            let i = self.sweep;
            let expired = self.conns[i]
                .as_ref()
                .is_some_and(|c| now.saturating_since(c.last) > c.timeout());
            if expired {
                self.remove(i);
            }
        }
    }

    fn remove(&mut self, i: usize) {
        if let Some(c) = self.conns.get_mut(i).and_then(Option::take) {
            self.by_tuple.remove(&c.orig);
            self.by_tuple.remove(&c.reply);
            self.free.push(i);
        }
    }

    /// A source port for `t` (already destination-translated) leaving from `addr` such
    /// that its reply tuple is unused: the original port when free, as Linux keeps it,
    /// else the next free one.
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
        if !matches!(t.l4, L4::Tcp | L4::Udp | L4::Icmp) {
            return t.sport;
        }
        // Linux picks from the same range class as the original port (privileged ports
        // stay below 1024); ephemeral-looking ports from the local port range.
        let (lo, hi) = if icmp {
            (0, u16::MAX)
        } else if t.sport < 1024 {
            (600, 1023)
        } else {
            (1024, 65535)
        };
        let start = self
            .next_port
            .get(&(addr, t.l4))
            .copied()
            .filter(|p| (lo..=hi).contains(p))
            .unwrap_or(t.sport.clamp(lo, hi));
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

    /// The live connections as `conntrack -L` prints them, oldest slot first:
    /// `tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… … [ASSURED]`.
    pub fn list(&self, now: SimTime) -> Vec<String> {
        self.list_recent(now, usize::MAX)
    }

    /// The `n` connections that saw a packet last, most recent first, as [`Conntrack::list`].
    pub fn list_recent(&self, now: SimTime, n: usize) -> Vec<String> {
        let mut live: Vec<&Conn> = self.conns.iter().flatten().collect();
        if n != usize::MAX {
            live.sort_by_key(|c| std::cmp::Reverse(c.last));
            live.truncate(n);
        }
        let mut out = Vec::new();
        for c in live {
            let age = now.saturating_since(c.last);
            if age > c.timeout() {
                continue;
            }
            let left = (c.timeout().as_nanos().saturating_sub(age.as_nanos())) / 1_000_000_000;
            let (name, num) = match (c.orig.l4, c.orig.src.is_ipv4()) {
                (L4::Tcp, _) => ("tcp", 6),
                (L4::Udp, _) => ("udp", 17),
                (L4::Icmp, true) => ("icmp", 1),
                (L4::Icmp, false) => ("icmpv6", 58),
                (L4::Other(n), _) => ("unknown", n),
            };
            let mut s = format!("{name:<8} {num} {left} ");
            if let Some(t) = c.tcp {
                let _ = write!(s, "{} ", t.name());
            }
            let tuple = |t: &Tuple| match t.l4 {
                L4::Icmp => format!("src={} dst={} type=8 code=0 id={}", t.src, t.dst, t.sport),
                L4::Tcp | L4::Udp => {
                    format!("src={} dst={} sport={} dport={}", t.src, t.dst, t.sport, t.dport)
                }
                L4::Other(_) => format!("src={} dst={}", t.src, t.dst),
            };
            let _ = write!(s, "{}", tuple(&c.orig));
            if !c.replied {
                s.push_str(" [UNREPLIED]");
            }
            let _ = write!(s, " {}", tuple(&c.reply).replace("type=8", "type=0"));
            if c.replied {
                s.push_str(" [ASSURED]");
            }
            s.push_str(" mark=0 use=1");
            out.push(s);
        }
        out
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
        ct.insert(orig, out, Some(0x02), SimTime::ZERO)
            .expect("in the test");
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
            Some(0x02),
            SimTime::ZERO,
        )
        .expect("in the test");
        let pb = ct.pick_port(&b, nat);
        assert_eq!(pa, 40000);
        assert_ne!(pb, 40000);
    }

    #[test]
    fn tcp_states_follow_the_handshake_and_set_linux_timeouts() {
        // Proves the timeouts users see in `conntrack -L`: 120 s for a SYN nobody
        // answered, 5 days once established, 120 s in TIME_WAIT after both FINs.
        let mut ct = Conntrack::default();
        let a = t([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let i = ct.insert(a, a, Some(0x02), SimTime::ZERO).expect("in the test");
        assert_eq!(
            ct.conn(i).expect("in the test").timeout(),
            SimDuration::from_secs(120)
        );
        ct.seen(i, Dir::Reply, Some(0x12), SimTime(1));
        ct.seen(i, Dir::Original, Some(0x10), SimTime(2));
        assert_eq!(ct.conn(i).expect("in the test").tcp, Some(TcpState::Established));
        assert_eq!(
            ct.conn(i).expect("in the test").timeout(),
            SimDuration::from_secs(432_000)
        );
        ct.seen(i, Dir::Original, Some(0x11), SimTime(3));
        ct.seen(i, Dir::Reply, Some(0x11), SimTime(4));
        ct.seen(i, Dir::Original, Some(0x10), SimTime(5));
        assert_eq!(ct.conn(i).expect("in the test").tcp, Some(TcpState::TimeWait));
        let line = &ct.list(SimTime(5))[0];
        assert!(
            line.starts_with("tcp      6 120 TIME_WAIT src=10.0.0.1"),
            "{line}"
        );
        assert!(line.contains("[ASSURED]"), "{line}");
    }

    #[test]
    fn an_unanswered_udp_flow_expires_after_30_seconds() {
        let mut ct = Conntrack::default();
        let mut a = t([10, 0, 0, 1], 5000, [10, 0, 0, 2], 53);
        a.l4 = L4::Udp;
        ct.insert(a, a, None, SimTime::ZERO).expect("in the test");
        assert!(
            ct.lookup(&a, SimTime::ZERO + SimDuration::from_secs(29))
                .is_some()
        );
        assert!(
            ct.lookup(&a, SimTime::ZERO + SimDuration::from_secs(60))
                .is_none()
        );
        assert!(ct.is_empty(), "the expired entry is gone");
    }

    #[test]
    fn a_full_table_refuses_new_connections() {
        let mut ct = Conntrack {
            max: 2,
            ..Conntrack::default()
        };
        for p in 0..2 {
            let a = t([10, 0, 0, 1], 1000 + p, [10, 0, 0, 2], 80);
            ct.insert(a, a, Some(0x02), SimTime::ZERO).expect("in the test");
        }
        let c = t([10, 0, 0, 1], 2000, [10, 0, 0, 2], 80);
        assert_eq!(ct.insert(c, c, Some(0x02), SimTime::ZERO), Err(TableFull));
    }
}
