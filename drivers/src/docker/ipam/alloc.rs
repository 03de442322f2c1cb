//! Dynamic address allocation, in the order of Docker's local IPAM.
//!
//! Docker's default IPAM (`libnetwork/ipams/defaultipam`) keeps one bitmap per pool and
//! hands out the lowest free address of the pool or of its `ip_range` (`AddAnyInRange`
//! with `serial` off, as the daemon asks for local networks; only swarm's allocator
//! asks for `serial`). The pool's network address and, for IPv4 prefixes up to /30,
//! its broadcast address are reserved; the gateway and static addresses are taken
//! before any dynamic one.
//!
//! While a model resolves nothing is released, so "lowest free" never moves backwards:
//! a cursor that remembers where the last search stopped gives the same answers as a
//! scan from the start, in amortised constant time per address instead of a scan over
//! every address handed out before (16,000 containers on one network took 11 s).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The next free address of one range, searched upwards from where the last search
/// stopped.
#[derive(Clone, Copy, Debug)]
pub(super) struct NextFree {
    /// The next candidate; `None` once the range is exhausted.
    next: Option<u128>,
    last: u128,
}

impl NextFree {
    /// The IPv4 addresses Docker hands out from `range` (a part of `subnet`, or the
    /// subnet itself): every address of the range except the subnet's network and
    /// broadcast addresses (kept in /31 and /32, RFC 3021).
    pub(super) fn v4(subnet: Ipv4Net, range: Ipv4Net) -> Self {
        let (mut first, mut last) = (u32::from(range.network()), u32::from(range.broadcast()));
        if subnet.prefix_len() < 31 {
            first = first.max(u32::from(subnet.network()).saturating_add(1));
            last = last.min(u32::from(subnet.broadcast()).saturating_sub(1));
        }
        Self::span(u128::from(first), u128::from(last))
    }

    /// The IPv6 addresses Docker hands out from `subnet`: all but the subnet-router
    /// anycast address (the network address).
    pub(super) fn v6(subnet: Ipv6Net) -> Self {
        let first = u128::from(subnet.network()).saturating_add(1);
        Self::span(first, u128::from(subnet.broadcast()))
    }

    fn span(first: u128, last: u128) -> Self {
        NextFree {
            next: (first <= last).then_some(first),
            last,
        }
    }

    /// The lowest address at or after the cursor for which `taken` is false, and the
    /// cursor moved past it; `None` when the range has no free address left.
    pub(super) fn take(&mut self, mut taken: impl FnMut(u128) -> bool) -> Option<u128> {
        while let Some(a) = self.next {
            self.next = if a < self.last { Some(a + 1) } else { None };
            if !taken(a) {
                return Some(a);
            }
        }
        None
    }

    /// [`take`](Self::take) for an IPv4 range.
    pub(super) fn take_v4(&mut self, mut taken: impl FnMut(IpAddr) -> bool) -> Option<Ipv4Addr> {
        self.take(|a| taken(IpAddr::V4(Ipv4Addr::from(a as u32))))
            .map(|a| Ipv4Addr::from(a as u32))
    }

    /// [`take`](Self::take) for an IPv6 range.
    pub(super) fn take_v6(&mut self, mut taken: impl FnMut(IpAddr) -> bool) -> Option<Ipv6Addr> {
        self.take(|a| taken(IpAddr::V6(Ipv6Addr::from(a))))
            .map(Ipv6Addr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().expect("test subnet")
    }

    /// Docker's order: the lowest free address first, network, broadcast, gateway and
    /// static addresses skipped, the last address of an `ip_range` included.
    #[test]
    fn lowest_free_first_skipping_reserved() {
        let subnet = v4("10.1.0.0/24");
        let mut taken: BTreeSet<IpAddr> = ["10.1.0.1", "10.1.0.3"]
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        let mut pool = NextFree::v4(subnet, subnet);
        let mut got = Vec::new();
        while let Some(a) = pool.take_v4(|x| taken.contains(&x)) {
            taken.insert(IpAddr::V4(a));
            got.push(a);
        }
        assert_eq!(got.len(), 254 - 2, "every usable address but the two taken");
        assert_eq!(got[0], Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(got[1], Ipv4Addr::new(10, 1, 0, 4));
        assert_eq!(
            got.last(),
            Some(&Ipv4Addr::new(10, 1, 0, 254)),
            "broadcast kept back"
        );

        // A range at the bottom of the subnet ends at its own last address (.127 is a
        // normal host address of the /24), and the network address is still reserved.
        let mut low = NextFree::v4(subnet, v4("10.1.0.0/25"));
        let all: Vec<_> = std::iter::from_fn(|| low.take_v4(|_| false)).collect();
        assert_eq!(all.first(), Some(&Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(all.last(), Some(&Ipv4Addr::new(10, 1, 0, 127)));
    }

    /// The cursor gives what a scan from the start gives, as long as nothing is
    /// released — including addresses taken (statically) ahead of the cursor.
    #[test]
    fn cursor_matches_a_scan_from_the_start() {
        let subnet = v4("10.2.0.0/22");
        let mut taken: BTreeSet<u32> = [1u32, 5, 6, 7, 300, 301, 1000]
            .iter()
            .map(|o| u32::from(subnet.network()) + o)
            .collect();
        let mut pool = NextFree::v4(subnet, subnet);
        for _ in 0..600 {
            let scan = (u32::from(subnet.network()) + 1..u32::from(subnet.broadcast()))
                .find(|a| !taken.contains(a))
                .map(Ipv4Addr::from);
            let got = pool.take_v4(|x| match x {
                IpAddr::V4(a) => taken.contains(&u32::from(a)),
                IpAddr::V6(_) => true,
            });
            assert_eq!(got, scan);
            if let Some(a) = got {
                taken.insert(u32::from(a));
            }
        }
    }

    /// Point-to-point prefixes keep both addresses; an exhausted range says so.
    #[test]
    fn small_prefixes_and_exhaustion() {
        let mut p31 = NextFree::v4(v4("10.3.0.0/31"), v4("10.3.0.0/31"));
        assert_eq!(p31.take_v4(|_| false), Some(Ipv4Addr::new(10, 3, 0, 0)));
        assert_eq!(p31.take_v4(|_| false), Some(Ipv4Addr::new(10, 3, 0, 1)));
        assert_eq!(p31.take_v4(|_| false), None);
        let mut p30 = NextFree::v4(v4("10.3.0.4/30"), v4("10.3.0.4/30"));
        assert_eq!(p30.take_v4(|_| false), Some(Ipv4Addr::new(10, 3, 0, 5)));
        assert_eq!(p30.take_v4(|_| false), Some(Ipv4Addr::new(10, 3, 0, 6)));
        assert_eq!(p30.take_v4(|_| false), None);
        let v6: Ipv6Net = "fd00::/127".parse().expect("v6");
        let mut p = NextFree::v6(v6);
        assert_eq!(p.take_v6(|_| false), Some("fd00::1".parse().expect("v6")));
        assert_eq!(p.take_v6(|_| false), None);
    }
}
