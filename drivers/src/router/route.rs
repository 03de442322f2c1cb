//! A machine's routing table (`ip route`) and its path-MTU cache (Linux's route
//! exceptions, `ip route get` showing `mtu` after an ICMP "fragmentation needed").
//!
//! Lookups are longest prefix match; among routes of the same prefix length the one
//! added first wins (the kernel refuses exact duplicates, netloom keeps the first).
//! Which source address a route gives is the interfaces' business ([`super::Node`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use netloom_core::{PortId, SimDuration, SimTime};

/// How long a learned path MTU holds (Linux's `net.ipv4.route.mtu_expires`, 10 min).
const PMTU_EXPIRES: SimDuration = SimDuration::from_secs(600);

/// Up to this many routes a lookup scans them (fewer allocations, as fast); more get
/// the per-prefix-length index.
const SCAN_MAX: usize = 8;

/// A route.
#[derive(Clone, Debug)]
pub struct Route {
    /// Destination prefix.
    pub net: IpNet,
    /// Gateway; `None` for directly connected destinations.
    pub via: Option<IpAddr>,
    /// The interface (port) the route leaves through.
    pub port: PortId,
}

/// Routes, most specific first, and the path MTUs routers reported, by destination.
#[derive(Debug, Default)]
pub(super) struct RoutingTable {
    routes: Vec<Route>,
    /// Per prefix length present (longest first): the masked prefix → the index of
    /// the first route added with it. A lookup is one hash probe per length in use
    /// rather than a scan of every route (a Docker host has one per network).
    index: Vec<(bool, u8, HashMap<IpAddr, usize>)>,
    pmtu: BTreeMap<IpAddr, (u32, SimTime)>,
}

impl RoutingTable {
    /// Adds a route; lookups prefer the longest prefix, then the earliest added.
    pub(super) fn add(&mut self, r: Route) {
        // Kept sorted by falling prefix length, a new route after those of its own
        // length: the first match of a front-to-back scan is the answer.
        let pos = self
            .routes
            .iter()
            .position(|x| x.net.prefix_len() < r.net.prefix_len())
            .unwrap_or(self.routes.len());
        self.routes.insert(pos, r);
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index.clear();
        if self.routes.len() <= SCAN_MAX {
            return;
        }
        for (i, r) in self.routes.iter().enumerate() {
            let key = (r.net.addr().is_ipv4(), r.net.prefix_len());
            let slot = match self.index.iter().position(|(v4, len, _)| (*v4, *len) == key) {
                Some(s) => s,
                None => {
                    self.index.push((key.0, key.1, HashMap::new()));
                    self.index.len() - 1
                }
            };
            // Routes are sorted by falling length, ties in insertion order: the first
            // route of a prefix is the one that answers.
            self.index[slot].2.entry(r.net.trunc().addr()).or_insert(i);
        }
    }

    /// The routes, most specific first.
    pub(super) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route to `dst` (longest prefix match).
    pub(super) fn lookup(&self, dst: IpAddr) -> Option<&Route> {
        if self.index.is_empty() {
            return self.routes.iter().find(|r| r.net.contains(&dst));
        }
        let v4 = dst.is_ipv4();
        for (fam, len, map) in &self.index {
            if *fam != v4 {
                continue;
            }
            let Ok(net) = IpNet::new(dst, *len) else { continue };
            if let Some(&i) = map.get(&net.trunc().addr()) {
                return self.routes.get(i);
            }
        }
        None
    }

    /// The path MTU learned towards `dst`, if a router reported one in the last ten
    /// minutes (Linux's `mtu_expires`).
    pub(super) fn path_mtu(&self, now: SimTime, dst: IpAddr) -> Option<u32> {
        self.pmtu
            .get(&dst)
            .filter(|(_, at)| now.saturating_since(*at) < PMTU_EXPIRES)
            .map(|(m, _)| *m)
    }

    /// Records a path MTU a router reported towards `dst` at `now` (the caller has
    /// checked it is plausible for the report's family).
    pub(super) fn learn_pmtu(&mut self, now: SimTime, dst: IpAddr, mtu: u32) {
        self.pmtu.insert(dst, (mtu, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(net: &str, port: PortId) -> Route {
        Route {
            net: net.parse().expect("a prefix"),
            via: None,
            port,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    /// The most specific prefix answers whatever order the routes came in.
    #[test]
    fn longest_prefix_wins() {
        let mut t = RoutingTable::default();
        t.add(route("0.0.0.0/0", 0));
        t.add(route("10.0.0.0/8", 1));
        t.add(route("10.1.2.0/24", 2));
        t.add(route("10.1.0.0/16", 3));
        assert_eq!(t.lookup(ip("10.1.2.3")).map(|r| r.port), Some(2));
        assert_eq!(t.lookup(ip("10.1.9.9")).map(|r| r.port), Some(3));
        assert_eq!(t.lookup(ip("10.9.9.9")).map(|r| r.port), Some(1));
        assert_eq!(t.lookup(ip("192.0.2.1")).map(|r| r.port), Some(0));
        let lens: Vec<u8> = t.routes().iter().map(|r| r.net.prefix_len()).collect();
        assert_eq!(lens, [24, 16, 8, 0], "the table lists the most specific first");
    }

    /// Two routes of the same prefix: the one added first keeps answering.
    #[test]
    fn ties_go_to_the_route_added_first() {
        let mut t = RoutingTable::default();
        t.add(route("172.18.0.0/16", 4));
        t.add(route("172.18.0.0/16", 7));
        t.add(route("172.19.0.0/16", 5));
        assert_eq!(t.lookup(ip("172.18.0.2")).map(|r| r.port), Some(4));
        assert_eq!(t.lookup(ip("172.19.0.2")).map(|r| r.port), Some(5));
    }

    /// No route, no answer; an IPv4 default says nothing about IPv6.
    #[test]
    fn no_match_is_none_and_families_stay_apart() {
        let mut t = RoutingTable::default();
        t.add(route("0.0.0.0/0", 0));
        assert!(t.lookup(ip("2001:db8::1")).is_none());
        t.add(route("2001:db8::/64", 1));
        assert_eq!(t.lookup(ip("2001:db8::1")).map(|r| r.port), Some(1));
        assert!(t.lookup(ip("2001:db9::1")).is_none());
    }

    /// A learned path MTU holds for ten minutes, then the interface's MTU is back.
    #[test]
    fn learned_pmtu_expires_after_ten_minutes() {
        let mut t = RoutingTable::default();
        let at = SimTime::ZERO + SimDuration::from_secs(5);
        t.learn_pmtu(at, ip("10.0.0.9"), 1400);
        assert_eq!(t.path_mtu(at, ip("10.0.0.9")), Some(1400));
        assert_eq!(t.path_mtu(at, ip("10.0.0.8")), None, "per destination");
        let last = at + SimDuration::from_nanos(600_000_000_000 - 1);
        assert_eq!(t.path_mtu(last, ip("10.0.0.9")), Some(1400));
        assert_eq!(t.path_mtu(at + SimDuration::from_secs(600), ip("10.0.0.9")), None);
        // A new report starts the ten minutes again.
        let later = at + SimDuration::from_secs(700);
        t.learn_pmtu(later, ip("10.0.0.9"), 1300);
        assert_eq!(t.path_mtu(later, ip("10.0.0.9")), Some(1300));
    }

    proptest::proptest! {
        /// The indexed lookup answers as a front-to-back scan of the routes sorted by
        /// falling prefix length (ties in insertion order) would, for any table.
        #[test]
        fn indexed_lookup_equals_a_scan(
            routes in proptest::collection::vec((0u8..4, 0u8..4, 0u8..=32, 0u16..8), 0..40),
            dsts in proptest::collection::vec((0u8..4, 0u8..4, proptest::num::u8::ANY), 1..20),
        ) {
            let mut t = RoutingTable::default();
            for (a, b, len, port) in routes {
                let net = IpNet::new(IpAddr::from([10, a, b, 0]), len).expect("len <= 32");
                t.add(Route { net, via: None, port });
            }
            for (a, b, c) in dsts {
                let dst = IpAddr::from([10, a, b, c]);
                let scan = t.routes().iter().find(|r| r.net.contains(&dst)).map(|r| (r.net, r.port));
                proptest::prop_assert_eq!(t.lookup(dst).map(|r| (r.net, r.port)), scan);
            }
        }
    }
}
