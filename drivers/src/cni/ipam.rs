//! host-local's allocator as data: one allocator per range set, each remembering the
//! last address it reserved (`last_reserved_ip.N`) and going on round-robin after it,
//! skipping the gateway and addresses in use — `backend/allocator/allocator.go`'s
//! `RangeIter` — and static IPAM, which hands every container the same addresses.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::config::Range;

/// One range set's allocator and its store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSetAlloc {
    /// The ranges, in order.
    pub ranges: Vec<Range>,
    /// Addresses in use: address → (container id, ifname).
    pub reserved: BTreeMap<Ipv4Addr, (String, String)>,
    /// The store's `last_reserved_ip`: kept when the address is released.
    pub last_reserved: Option<Ipv4Addr>,
}

impl RangeSetAlloc {
    /// The set as host-local prints it in errors (`10.1.0.1-10.1.0.254,…`).
    pub fn describe(&self) -> String {
        self.ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `IPAllocator.Get` without a requested address: the next free address after the
    /// last reserved one (or from the first range's start), the gateway skipped.
    /// Returns the address with its subnet's prefix and the range's gateway.
    pub fn get(&mut self, id: &str, ifname: &str) -> Option<(Ipv4Net, Ipv4Addr)> {
        let n = self.ranges.len();
        if n == 0 {
            return None;
        }
        // Where the iteration starts: after the last reserved address when it is in the
        // set, else at the first range's start.
        let (mut ri, mut cur) = match self
            .last_reserved
            .and_then(|l| self.ranges.iter().position(|r| r.contains(l)).map(|i| (i, l)))
        {
            Some((i, l)) => (i, Some(l)),
            None => (0, None),
        };
        let mut start: Option<Ipv4Addr> = None;
        loop {
            let r = self.ranges[ri];
            let next = match cur {
                None => r.start,
                Some(c) if c == r.end => {
                    ri = (ri + 1) % n;
                    self.ranges[ri].start
                }
                Some(c) => Ipv4Addr::from(u32::from(c).wrapping_add(1)),
            };
            cur = Some(next);
            match start {
                None => start = Some(next),
                Some(s) if s == next => return None,
                Some(_) => {}
            }
            let r = self.ranges[ri];
            if next == r.gateway || self.reserved.contains_key(&next) {
                continue;
            }
            self.reserved.insert(next, (id.to_string(), ifname.to_string()));
            self.last_reserved = Some(next);
            let net = Ipv4Net::new(next, r.subnet.prefix_len()).ok()?;
            return Some((net, r.gateway));
        }
    }

    /// `ReleaseByID`: frees the container's addresses; `last_reserved` stays.
    pub fn release(&mut self, id: &str, ifname: &str) {
        self.reserved.retain(|_, (i, f)| !(i == id && f == ifname));
    }

    /// The address `id`/`ifname` holds in this set.
    pub fn held_by(&self, id: &str, ifname: &str) -> Option<Ipv4Addr> {
        self.reserved
            .iter()
            .find(|(_, (i, f))| i == id && f == ifname)
            .map(|(a, _)| *a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(subnet: &str, start: &str, end: &str) -> RangeSetAlloc {
        let subnet: Ipv4Net = subnet.parse().expect("literal");
        RangeSetAlloc {
            ranges: vec![Range {
                subnet,
                start: start.parse().expect("literal"),
                end: end.parse().expect("literal"),
                gateway: Ipv4Addr::from(u32::from(subnet.network()) + 1),
            }],
            ..RangeSetAlloc::default()
        }
    }

    #[test]
    fn round_robin_after_the_last_reserved_address() {
        // .1 is the gateway: .2 first; a freed .2 is not reused before the range wraps.
        let mut a = set("10.0.0.0/29", "10.0.0.1", "10.0.0.6");
        let got: Vec<String> = (0..3)
            .map(|i| a.get(&format!("c{i}"), "eth0").expect("free").0.to_string())
            .collect();
        assert_eq!(got, ["10.0.0.2/29", "10.0.0.3/29", "10.0.0.4/29"]);
        a.release("c0", "eth0");
        assert_eq!(a.get("c3", "eth0").expect("free").0.to_string(), "10.0.0.5/29");
        assert_eq!(a.get("c4", "eth0").expect("free").0.to_string(), "10.0.0.6/29");
        // Wraps to the start, skips the gateway, takes the freed .2.
        assert_eq!(a.get("c5", "eth0").expect("free").0.to_string(), "10.0.0.2/29");
        assert_eq!(a.get("c6", "eth0"), None);
    }
}
