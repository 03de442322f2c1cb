//! A machine's neighbour table (`ip neigh`): ARP for IPv4, neighbour discovery for
//! IPv6, as Linux's `neighbour.c` keeps it.
//!
//! Sans-IO: the table never sends. [`Neighbours::lookup`] says whether a next hop's
//! MAC is known, being resolved, or whether the caller must send the first
//! solicitation; [`Neighbours::poll_timer`] hands out what a retransmission timer
//! firing means — one more solicitation, or a resolution that failed with the
//! packets that waited for it; [`Neighbours::learn`] records an answer and returns
//! the waiting packets in the order they came. Time is an argument everywhere.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netloom_core::{Frame, PortId, SimDuration, SimTime};

use crate::net::Mac;

/// ARP / neighbour solicitation retransmission interval (Linux `retrans_time_ms`).
pub(super) const NEIGH_RETRANS: SimDuration = SimDuration::from_secs(1);
/// Solicitations before giving up (Linux `mcast_solicit`).
pub(super) const NEIGH_PROBES: u32 = 3;
/// How long a resolved neighbour is trusted before it is resolved again.
pub(super) const NEIGH_REACHABLE: SimDuration = SimDuration::from_secs(60);
/// Packets queued per unresolved neighbour (Linux `unres_qlen`).
pub(super) const NEIGH_QUEUE: usize = 101;

/// A neighbour entry.
#[derive(Clone, Debug)]
enum Neigh {
    /// Resolved at `at`.
    Reachable { mac: Mac, at: SimTime },
    /// `probes` solicitations sent; the next is due at `next`.
    Incomplete { probes: u32, next: SimTime },
}

/// What [`Neighbours::lookup`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// The neighbour's MAC, resolved less than [`NEIGH_REACHABLE`] ago.
    Reachable(Mac),
    /// Resolution is under way: queue the packet.
    Incomplete,
    /// Resolution starts now: send the first solicitation, queue the packet and wake
    /// the table at `retry` ([`Neighbours::poll_timer`]).
    Probe { retry: SimTime },
}

/// What a retransmission timer firing means for one neighbour.
#[derive(Debug)]
pub(super) enum NeighEvent {
    /// Send another solicitation for `ip` out of `port`.
    Solicit { port: PortId, ip: IpAddr },
    /// `ip` did not answer [`NEIGH_PROBES`] solicitations: its entry is gone and the
    /// packets that waited for it, oldest first, are to be dropped.
    Failed { ip: IpAddr, queued: Vec<Frame> },
}

/// The neighbour entries, the packets waiting for each, and the NOARP ports.
#[derive(Default)]
pub(super) struct Neighbours {
    entries: BTreeMap<(PortId, IpAddr), Neigh>,
    pending: BTreeMap<(PortId, IpAddr), Vec<Frame>>,
    noarp: Vec<PortId>,
}

impl Neighbours {
    /// Marks `port` NOARP: packets leave it without resolution.
    pub(super) fn set_noarp(&mut self, port: PortId) {
        self.noarp.push(port);
    }

    /// Whether `port` is NOARP.
    pub(super) fn is_noarp(&self, port: PortId) -> bool {
        self.noarp.contains(&port)
    }

    /// Whether there is an entry (resolved or not) for `ip` on `port` — Linux updates
    /// an existing entry from any ARP packet that names it as sender.
    pub(super) fn knows(&self, port: PortId, ip: IpAddr) -> bool {
        self.entries.contains_key(&(port, ip))
    }

    /// The MAC of `ip` on `port` at `now`, or how resolution stands. A missing or
    /// stale entry becomes incomplete with its first probe counted.
    pub(super) fn lookup(&mut self, now: SimTime, port: PortId, ip: IpAddr) -> Lookup {
        match self.entries.get(&(port, ip)) {
            Some(Neigh::Reachable { mac, at }) if now.saturating_since(*at) < NEIGH_REACHABLE => {
                return Lookup::Reachable(*mac);
            }
            Some(Neigh::Incomplete { .. }) => return Lookup::Incomplete,
            _ => {}
        }
        let retry = now + NEIGH_RETRANS;
        self.entries.insert(
            (port, ip),
            Neigh::Incomplete {
                probes: 1,
                next: retry,
            },
        );
        Lookup::Probe { retry }
    }

    /// Queues `frame` until `ip` on `port` resolves; `Err` gives it back when
    /// [`NEIGH_QUEUE`] packets already wait (the caller drops it).
    pub(super) fn enqueue(&mut self, port: PortId, ip: IpAddr, frame: Frame) -> Result<&Frame, Frame> {
        let q = self.pending.entry((port, ip)).or_default();
        if q.len() >= NEIGH_QUEUE {
            return Err(frame);
        }
        q.push(frame);
        Ok(&q[q.len() - 1])
    }

    /// Records that `ip` on `port` is at `mac` (an ARP packet, a neighbour
    /// advertisement or solicitation); returns the packets that waited for it, in the
    /// order they were queued.
    pub(super) fn learn(&mut self, now: SimTime, port: PortId, ip: IpAddr, mac: Mac) -> Vec<Frame> {
        self.entries.insert((port, ip), Neigh::Reachable { mac, at: now });
        self.pending.remove(&(port, ip)).unwrap_or_default()
    }

    /// The next thing due at `now`: entries are taken in (port, address) order, each
    /// at most once per firing (its next probe is a retransmission interval away).
    /// Call until `None`, acting on each event before asking for the next — what the
    /// caller does may queue packets for, or start resolving, other neighbours.
    pub(super) fn poll_timer(&mut self, now: SimTime) -> Option<NeighEvent> {
        let (&(port, ip), probes) = self.entries.iter().find_map(|(k, n)| match n {
            Neigh::Incomplete { probes, next } if *next <= now => Some((k, *probes)),
            _ => None,
        })?;
        if probes >= NEIGH_PROBES {
            self.entries.remove(&(port, ip));
            let queued = self.pending.remove(&(port, ip)).unwrap_or_default();
            return Some(NeighEvent::Failed { ip, queued });
        }
        self.entries.insert(
            (port, ip),
            Neigh::Incomplete {
                probes: probes + 1,
                next: now + NEIGH_RETRANS,
            },
        );
        Some(NeighEvent::Solicit { port, ip })
    }

    /// When the next solicitation is due, if any resolution is under way.
    pub(super) fn next_deadline(&self) -> Option<SimTime> {
        self.entries
            .values()
            .filter_map(|n| match n {
                Neigh::Incomplete { next, .. } => Some(*next),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    const MAC: Mac = [2, 0, 0, 0, 0, 9];

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn frame(id: u64) -> Frame {
        Frame {
            id: netloom_core::FrameId(id),
            data: Bytes::new(),
            born: SimTime::ZERO,
            hops: 0,
            offload: None,
        }
    }

    fn ids(frames: &[Frame]) -> Vec<u64> {
        frames.iter().map(|f| f.id.0).collect()
    }

    /// Three solicitations a second apart, then the entry fails and hands back every
    /// packet that waited, oldest first; the table is idle afterwards.
    #[test]
    fn incomplete_entry_gives_up_after_three_probes() {
        let mut n = Neighbours::default();
        let gw = ip("10.0.0.1");
        assert_eq!(n.lookup(at(0), 1, gw), Lookup::Probe { retry: at(1) });
        assert!(n.enqueue(1, gw, frame(7)).is_ok());
        assert_eq!(
            n.lookup(at(0), 1, gw),
            Lookup::Incomplete,
            "no second probe at once"
        );
        assert!(n.enqueue(1, gw, frame(8)).is_ok());
        assert!(n.poll_timer(at(0)).is_none(), "nothing due before the interval");
        assert_eq!(n.next_deadline(), Some(at(1)));
        for t in [1, 2] {
            match n.poll_timer(at(t)) {
                Some(NeighEvent::Solicit { port: 1, ip }) if ip == gw => {}
                other => panic!("probe {} expected, got {other:?}", t + 1),
            }
            assert!(n.poll_timer(at(t)).is_none(), "one probe per entry per firing");
            assert_eq!(n.next_deadline(), Some(at(t + 1)));
        }
        match n.poll_timer(at(3)) {
            Some(NeighEvent::Failed { ip, queued }) if ip == gw => {
                assert_eq!(ids(&queued), [7, 8]);
            }
            other => panic!("failure expected, got {other:?}"),
        }
        assert!(n.poll_timer(at(3)).is_none());
        assert_eq!(n.next_deadline(), None);
        assert!(!n.knows(1, gw), "a failed entry is forgotten");
        assert_eq!(
            n.lookup(at(4), 1, gw),
            Lookup::Probe { retry: at(5) },
            "and starts over"
        );
    }

    /// An answer resolves the entry and releases its queue in arrival order; later
    /// packets go straight out.
    #[test]
    fn reply_resolves_and_releases_the_queue_in_order() {
        let mut n = Neighbours::default();
        let gw = ip("fe80::1");
        assert!(matches!(n.lookup(at(0), 0, gw), Lookup::Probe { .. }));
        for id in [3, 1, 2] {
            assert!(n.enqueue(0, gw, frame(id)).is_ok());
        }
        assert_eq!(ids(&n.learn(at(0), 0, gw, MAC)), [3, 1, 2]);
        assert_eq!(n.lookup(at(0), 0, gw), Lookup::Reachable(MAC));
        assert!(n.poll_timer(at(5)).is_none(), "a resolved entry sends no probes");
        assert_eq!(n.next_deadline(), None);
        assert!(n.learn(at(1), 0, gw, MAC).is_empty(), "nothing left queued");
    }

    /// 101 packets wait per neighbour (`unres_qlen`); the 102nd is refused and given
    /// back; another neighbour's queue is separate.
    #[test]
    fn the_102nd_queued_packet_is_refused() {
        let mut n = Neighbours::default();
        let gw = ip("10.0.0.1");
        n.lookup(at(0), 0, gw);
        for id in 0..101 {
            assert_eq!(n.enqueue(0, gw, frame(id)).map(|f| f.id.0).ok(), Some(id));
        }
        match n.enqueue(0, gw, frame(101)) {
            Err(f) => assert_eq!(f.id.0, 101),
            Ok(_) => panic!("the 102nd packet was queued"),
        }
        assert!(
            n.enqueue(1, gw, frame(200)).is_ok(),
            "queues are per (port, address)"
        );
        let released = n.learn(at(0), 0, gw, MAC);
        assert_eq!(released.len(), 101);
        assert_eq!(released.last().map(|f| f.id.0), Some(100));
    }

    /// A resolved neighbour is trusted for NEIGH_REACHABLE, then resolved again.
    #[test]
    fn reachable_entry_ages_after_neigh_reachable() {
        let mut n = Neighbours::default();
        let h = ip("10.0.0.7");
        n.learn(at(10), 2, h, MAC);
        assert_eq!(n.lookup(at(69), 2, h), Lookup::Reachable(MAC));
        assert_eq!(
            n.lookup(at(10) + NEIGH_REACHABLE, 2, h),
            Lookup::Probe { retry: at(71) }
        );
        assert_eq!(n.lookup(at(70), 2, h), Lookup::Incomplete);
    }

    /// Several neighbours fail in (port, address) order, each with its own queue.
    #[test]
    fn failures_come_in_key_order() {
        let mut n = Neighbours::default();
        let (a, b) = (ip("10.0.0.2"), ip("10.0.0.1"));
        n.lookup(at(0), 1, a);
        n.lookup(at(0), 0, a);
        n.lookup(at(0), 1, b);
        n.enqueue(1, b, frame(1)).ok();
        n.enqueue(1, a, frame(2)).ok();
        for t in 1..3 {
            while n.poll_timer(at(t)).is_some() {}
        }
        let mut failed = Vec::new();
        while let Some(e) = n.poll_timer(at(3)) {
            if let NeighEvent::Failed { ip, queued } = e {
                failed.push((ip, ids(&queued)));
            }
        }
        // (0, a) first, then port 1's in address order.
        assert_eq!(failed, [(a, vec![]), (b, vec![1]), (a, vec![2])]);
    }

    #[test]
    fn noarp_ports() {
        let mut n = Neighbours::default();
        assert!(!n.is_noarp(3));
        n.set_noarp(3);
        assert!(n.is_noarp(3) && !n.is_noarp(2));
    }
}
