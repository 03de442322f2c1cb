//! A machine's interfaces and their addresses (`ip addr`): which addresses are its
//! own, which are broadcast addresses of its subnets, and which address an interface
//! speaks from (its primary one, or — on an interface without one — the first of
//! the machine's, as Linux's `inet_select_addr` falls back).

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Deref;

use ipnet::{Ipv4Net, Ipv6Net};
use netloom_core::PortId;

use crate::net::Mac;

/// An interface of a node.
#[derive(Clone, Debug)]
pub struct Iface {
    /// Its name (`eth0`, `docker0`, `br-appnet`).
    pub name: String,
    /// Its MAC.
    pub mac: Mac,
    /// IPv4 addresses with prefixes; the first is primary.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 addresses with prefixes; the first is primary.
    pub v6: Vec<Ipv6Net>,
    /// Its MTU.
    pub mtu: u32,
    /// Set when the interface is a Docker bridge network's gateway side.
    pub bridge: Option<BridgeRole>,
}

/// What Docker's filter rules know about a bridge interface.
#[derive(Clone, Debug)]
pub struct BridgeRole {
    /// The network's name.
    pub network: String,
    /// `internal: true`: no traffic in or out of the network through the host.
    pub internal: bool,
}

/// The interfaces, by port (a port is an interface's index), and the set of the
/// machine's own addresses.
#[derive(Default)]
pub(super) struct Interfaces {
    list: Vec<Iface>,
    /// Own addresses, sorted: looked up for every packet (a binary search, not a scan
    /// of the interfaces; compact for the common machine with one or two).
    local: Vec<IpAddr>,
    /// The broadcast addresses of the IPv4 subnets, sorted, for the same reason.
    broadcasts: Vec<Ipv4Addr>,
    local_out: Vec<PortId>,
}

impl Interfaces {
    /// Adds an interface; returns its port.
    pub(super) fn add(&mut self, iface: Iface) -> PortId {
        let port = self.list.len() as PortId;
        self.local.extend(iface.v4.iter().map(|n| IpAddr::V4(n.addr())));
        self.local.extend(iface.v6.iter().map(|n| IpAddr::V6(n.addr())));
        self.local.sort_unstable();
        self.local.dedup();
        self.broadcasts.extend(iface.v4.iter().map(|n| n.broadcast()));
        self.broadcasts.sort_unstable();
        self.broadcasts.dedup();
        self.list.push(iface);
        port
    }

    /// Makes `port` an entry for packets the machine sends as its own (an ipvlan l3
    /// child's traffic, which the kernel hands to `ip_local_out` in the parent's
    /// namespace).
    pub(super) fn set_local_out(&mut self, port: PortId) {
        self.local_out.push(port);
    }

    /// Whether what arrives on `port` is routed as locally generated.
    pub(super) fn is_local_out(&self, port: PortId) -> bool {
        !self.local_out.is_empty() && self.local_out.contains(&port)
    }

    /// Whether `a` is an address of one of the interfaces (loopback not included).
    pub(super) fn owns(&self, a: IpAddr) -> bool {
        self.local.binary_search(&a).is_ok()
    }

    /// Whether `a` is one of the machine's own addresses, loopback included.
    pub(super) fn is_local(&self, a: IpAddr) -> bool {
        self.owns(a) || a.is_loopback()
    }

    /// Whether `a` is the limited broadcast or the broadcast address of one of the
    /// interfaces' IPv4 subnets.
    pub(super) fn is_local_broadcast(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => a.is_broadcast() || self.broadcasts.contains(&a),
            IpAddr::V6(_) => false,
        }
    }

    /// The address `i` speaks from in the family `v4`: its primary address, else the
    /// first interface's that has one.
    pub(super) fn primary(&self, i: &Iface, v4: bool) -> Option<IpAddr> {
        if v4 {
            i.v4.first()
                .map(|n| IpAddr::V4(n.addr()))
                .or_else(|| self.any_primary(true))
        } else {
            i.v6.first()
                .map(|n| IpAddr::V6(n.addr()))
                .or_else(|| self.any_primary(false))
        }
    }

    fn any_primary(&self, v4: bool) -> Option<IpAddr> {
        self.list.iter().find_map(|i| {
            if v4 {
                i.v4.first().map(|n| IpAddr::V4(n.addr()))
            } else {
                i.v6.first().map(|n| IpAddr::V6(n.addr()))
            }
        })
    }
}

impl Deref for Interfaces {
    type Target = [Iface];
    fn deref(&self) -> &[Iface] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, v4: &[&str], v6: &[&str]) -> Iface {
        Iface {
            name: name.into(),
            mac: [2, 0, 0, 0, 0, 1],
            v4: v4.iter().map(|n| n.parse().expect("an IPv4 prefix")).collect(),
            v6: v6.iter().map(|n| n.parse().expect("an IPv6 prefix")).collect(),
            mtu: 1500,
            bridge: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn two() -> Interfaces {
        let mut a = Interfaces::default();
        assert_eq!(
            a.add(iface(
                "eth0",
                &["10.0.0.2/24", "10.0.9.2/16"],
                &["2001:db8::2/64"]
            )),
            0
        );
        assert_eq!(a.add(iface("vx", &[], &[])), 1);
        a
    }

    /// Every address of every interface is the machine's; loopback counts as local
    /// but is no interface's (ARP and ND answer only for interface addresses).
    #[test]
    fn own_addresses_and_loopback() {
        let a = two();
        for own in ["10.0.0.2", "10.0.9.2", "2001:db8::2"] {
            assert!(a.owns(ip(own)) && a.is_local(ip(own)), "{own}");
        }
        assert!(!a.owns(ip("127.0.0.1")) && a.is_local(ip("127.0.0.1")));
        assert!(!a.owns(ip("::1")) && a.is_local(ip("::1")));
        assert!(!a.is_local(ip("10.0.0.3")));
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].name, "vx");
    }

    #[test]
    fn local_out_ports() {
        let mut a = two();
        assert!(!a.is_local_out(1));
        a.set_local_out(1);
        assert!(a.is_local_out(1) && !a.is_local_out(0));
    }

    /// Subnet broadcasts of every IPv4 address and 255.255.255.255; nothing in IPv6.
    #[test]
    fn broadcast_addresses() {
        let a = two();
        assert!(a.is_local_broadcast(ip("10.0.0.255")));
        assert!(
            a.is_local_broadcast(ip("10.0.255.255")),
            "a secondary address's subnet"
        );
        assert!(a.is_local_broadcast(ip("255.255.255.255")));
        assert!(!a.is_local_broadcast(ip("10.0.1.255")));
        assert!(!a.is_local_broadcast(ip("ff02::1")));
    }

    /// An interface speaks from its first address; one without an address of the
    /// family borrows the machine's first, and with none at all there is none.
    #[test]
    fn primary_address_and_fallback() {
        let a = two();
        assert_eq!(a.primary(&a[0], true), Some(ip("10.0.0.2")));
        assert_eq!(a.primary(&a[0], false), Some(ip("2001:db8::2")));
        assert_eq!(a.primary(&a[1], true), Some(ip("10.0.0.2")));
        assert_eq!(a.primary(&a[1], false), Some(ip("2001:db8::2")));
        let mut bare = Interfaces::default();
        bare.add(iface("lo-less", &[], &[]));
        assert_eq!(bare.primary(&bare[0], true), None);
    }
}
