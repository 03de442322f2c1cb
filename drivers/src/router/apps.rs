//! The sockets and small applications of a machine, as smoltcp keeps ICMP and DNS as
//! sockets beside TCP and UDP: the smoltcp [`Stack`] (listeners, connections,
//! docker-proxy), the pings (ICMP echo sockets), the DNS stub resolver's lookups and
//! the DNS servers' forwards, and the published ports docker-proxy serves.
//!
//! [`Apps`] owns their state; [`super::Node`] moves their packets (a stack's output,
//! a ping's request) through routing, netfilter and the neighbour table, and hands
//! them what arrives for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netloom_core::{FrameId, SimDuration, SimTime};

use super::Iface;
use super::ping::PingSockets;
use super::resolve::{Forward, LookupApp, NodeDns, dns_uses_port};
use crate::host::{Listen, ProxyStats, ProxyTarget, SockApp, Stack, UdpProxies, UdpRelay};
use crate::net::{L4, Tuple};

/// How long a ping waits after its last request when replies are missing (iputils'
/// default linger of 10 s, during which ARP can fail and report "host unreachable").
const PING_LINGER: SimDuration = SimDuration::from_secs(10);

/// A machine's sockets and applications.
pub struct Apps {
    /// Docker's `userland-proxy`: docker-proxy listens on every published TCP and UDP
    /// port and takes what Docker's DNAT rules leave to it — the host's own connections
    /// to loopback (`OUTPUT ! -d 127.0.0.0/8`) and containers reaching a port published
    /// on their own network (`DNAT ! -i <bridge>`) — dialing the container from the
    /// network's gateway address.
    pub userland_proxy: bool,
    /// Published ports docker-proxy listens on (with `userland_proxy`).
    pub published: Vec<PublishedPort>,
    /// The machine's DNS roles: its stub resolver's configuration, Docker's embedded
    /// server (containers on user-defined networks), authoritative records.
    pub dns: NodeDns,
    /// The smoltcp sockets, created with the first one (listener or connection).
    pub(super) stack: Option<Box<Stack>>,
    /// docker-proxy's UDP side: its client connections (their ports are the stack's).
    pub(super) udp_proxy: UdpProxies,
    listens: Vec<Listen>,
    /// ICMP echo sockets.
    pub(super) pings: PingSockets,
    /// The stub resolver's lookups.
    pub(super) lookups: Vec<LookupApp>,
    /// Queries a DNS server of this machine relays upstream, waiting for answers.
    pub(super) forwards: Vec<Forward>,
}

/// A published port as docker-proxy sees it: where it listens and whom it relays to.
#[derive(Clone, Debug)]
pub struct PublishedPort {
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
    /// docker-proxy also takes this port's IPv6 clients to the IPv4-only container:
    /// with the userland proxy on, Docker binds the port on the host's IPv6 addresses
    /// too, where no ip6tables DNAT can reach an IPv4 address, and the proxy dials the
    /// container from the network's IPv4 gateway - the address the container sees.
    pub any_family: bool,
}

impl PublishedPort {
    /// Whether a packet `t` for this host is for this published port.
    pub fn matches(&self, t: &Tuple) -> bool {
        self.l4 == t.l4
            && (self.any_family || self.to.is_ipv4() == t.dst.is_ipv4())
            && self.host_ip.is_none_or(|ip| ip == t.dst)
            && (self.host_port..=self.host_port_end).contains(&t.dport)
    }
}

/// A ping in progress or finished.
#[derive(Clone, Debug)]
pub struct PingApp {
    /// Destination.
    pub dst: IpAddr,
    /// How many echo requests to send.
    pub count: u32,
    /// ICMP payload bytes.
    pub size: usize,
    /// `ping -M do`: every request carries don't-fragment and is never fragmented.
    /// Otherwise Linux's default (`-M want`): DF while the packet fits the path MTU,
    /// fragmented at the sender once a router reported a smaller one.
    pub dont_frag: bool,
    /// The echo identifier.
    pub ident: u16,
    /// When each request was sent.
    pub sent: Vec<SimTime>,
    /// The round trip of each request's reply, if one came.
    pub rtts: Vec<Option<SimDuration>>,
    /// Errors reported, as ping prints them.
    pub errors: Vec<String>,
    /// Frames of the requests.
    pub frames: Vec<FrameId>,
    /// Whether the ping has finished.
    pub done: bool,
    /// Between requests (one second, as ping's default).
    pub(super) interval: SimDuration,
}

impl PingApp {
    /// When the next request is due, or (all sent) when the ping stops waiting.
    pub(super) fn next_due(&self) -> SimTime {
        match self.sent.last() {
            None => SimTime::ZERO,
            Some(&t) if (self.sent.len() as u32) < self.count => t + self.interval,
            Some(&t) => t + PING_LINGER,
        }
    }
}

impl Apps {
    /// No sockets yet; docker-proxy on, as Docker's default.
    pub(super) fn new() -> Self {
        Apps {
            userland_proxy: true,
            published: Vec::new(),
            dns: NodeDns::default(),
            stack: None,
            udp_proxy: UdpProxies::default(),
            listens: Vec::new(),
            pings: PingSockets::default(),
            lookups: Vec::new(),
            forwards: Vec::new(),
        }
    }

    /// Whether anything needs servicing after a frame: a socket layer or a ping.
    pub(super) fn active(&self) -> bool {
        self.stack.is_some() || !self.pings.is_empty()
    }

    /// The socket layer, created on first use with the addresses of `ifaces` (and
    /// loopback) and the smallest of their MTUs.
    pub(super) fn stack_mut(&mut self, ifaces: &[Iface], now: SimTime) -> &mut Stack {
        if self.stack.is_none() {
            let mut addrs: Vec<(IpAddr, u8)> = Vec::new();
            for i in ifaces {
                addrs.extend(i.v4.iter().map(|n| (IpAddr::V4(n.addr()), n.prefix_len())));
                addrs.extend(i.v6.iter().map(|n| (IpAddr::V6(n.addr()), n.prefix_len())));
            }
            // Loopback too, so sockets can talk to 127.0.0.1 and ::1 (smoltcp takes at
            // most eight addresses; interface addresses come first).
            addrs.push((IpAddr::V4(Ipv4Addr::LOCALHOST), 8));
            addrs.push((IpAddr::V6(Ipv6Addr::LOCALHOST), 128));
            let mtu = ifaces.iter().map(|i| i.mtu).min().unwrap_or(1500);
            self.stack = Some(Box::new(Stack::new(&addrs, mtu, now)));
        }
        match self.stack.as_mut() {
            Some(s) => s,
            None => unreachable!("the stack was just created"),
        }
    }

    /// Adds a TCP or UDP echo listener.
    pub(super) fn add_listen(&mut self, ifaces: &[Iface], l: Listen, now: SimTime) {
        self.listens.push(l);
        self.stack_mut(ifaces, now).listen(l);
    }

    /// The listeners.
    pub(super) fn listens(&self) -> &[Listen] {
        &self.listens
    }

    /// Removes a listener (its process stopped); connections it accepted are reset.
    pub(super) fn remove_listen(&mut self, l: Listen) {
        if let Some(i) = self.listens.iter().position(|x| *x == l) {
            self.listens.remove(i);
        }
        if let Some(s) = self.stack.as_mut() {
            s.unlisten(l);
        }
    }

    /// Socket application number `i`.
    pub(super) fn sock_app(&self, i: usize) -> Option<&SockApp> {
        self.stack.as_ref().and_then(|s| s.apps.get(i))
    }

    /// Sockets open and application slots kept.
    pub(super) fn sockets_open(&self) -> (usize, usize) {
        self.stack
            .as_ref()
            .map_or((0, 0), |s| (s.sockets_open(), s.apps.len()))
    }

    /// Bytes acknowledged so far by socket application `i`.
    pub(super) fn sock_acked(&self, i: usize) -> u64 {
        self.stack.as_ref().map_or(0, |s| s.acked(i))
    }

    /// The docker-proxy listening where a TCP or UDP packet `t` for this host arrived,
    /// if a published port is there and the userland proxy is on; with its rule's
    /// index. `source_for` gives the machine's address towards the container.
    pub(super) fn proxy_target(
        &self,
        t: &Tuple,
        source_for: impl FnOnce(IpAddr) -> Option<IpAddr>,
    ) -> Option<(ProxyTarget, usize)> {
        if !self.userland_proxy || !matches!(t.l4, L4::Tcp | L4::Udp) || self.published.is_empty() {
            return None;
        }
        let i = self.published.iter().position(|r| r.matches(t))?;
        let rule = &self.published[i];
        let backend_port = rule.to_port + (t.dport - rule.host_port);
        let src = source_for(rule.to)?;
        let target = ProxyTarget {
            listen: rule.host_ip,
            port: t.dport,
            backend: rule.to,
            backend_port,
            src,
        };
        Some((target, i))
    }

    /// Stops the docker-proxy processes whose published port is gone.
    pub(super) fn sync_proxy(&mut self) {
        let Some(stack) = self.stack.as_mut() else { return };
        let rules = &self.published;
        // Whether a rule for `l4` still publishes what proxy `t` serves.
        let serves = |l4: L4, t: &ProxyTarget| {
            rules.iter().any(|r| {
                r.l4 == l4
                    && r.host_ip == t.listen
                    && r.to == t.backend
                    && (r.host_port..=r.host_port_end).contains(&t.port)
                    && r.to_port + (t.port - r.host_port) == t.backend_port
            })
        };
        stack.proxy_retain(|t| serves(L4::Tcp, t));
        self.udp_proxy
            .retain(|t| serves(L4::Udp, t), |port| stack.release_udp_port(port));
    }

    /// A datagram from `client` to `front` reached UDP proxy `target`: where it goes
    /// (from a port of the client's connection, opened now if it is new), or `None`
    /// when no port is free for a new one.
    pub(super) fn udp_proxy_request(
        &mut self,
        ifaces: &[Iface],
        now: SimTime,
        target: ProxyTarget,
        client: (IpAddr, u16),
        front: IpAddr,
    ) -> Option<UdpRelay> {
        self.stack_mut(ifaces, now);
        let stack = self.stack.as_deref_mut();
        let (lookups, forwards) = (&self.lookups, &self.forwards);
        self.udp_proxy.on_client(now, target, client, front, || {
            stack.and_then(|s| s.bind_udp_port(|p| dns_uses_port(lookups, forwards, p)))
        })
    }

    /// Closes the UDP proxy's connections whose wait ran out by `now`.
    pub(super) fn expire_udp_proxy(&mut self, now: SimTime) {
        let mut stack = self.stack.as_deref_mut();
        self.udp_proxy.poll_expired(now, |port| {
            if let Some(s) = stack.as_deref_mut() {
                s.release_udp_port(port);
            }
        });
    }

    /// What this host's docker-proxy processes have done.
    pub(super) fn proxy_stats(&self) -> ProxyStats {
        let mut stats = self.stack.as_ref().map(|s| s.proxy_stats()).unwrap_or_default();
        stats.udp = self.udp_proxy.stats();
        stats
    }

    /// Opens an ICMP echo socket for a ping of `count` requests (at least one) of
    /// `size` payload bytes to `dst`, one a second; returns its index.
    pub(super) fn open_ping(&mut self, dst: IpAddr, count: u32, size: usize, dont_frag: bool) -> usize {
        let ident = self.pings.bind();
        self.pings.insert(PingApp {
            dst,
            count: count.max(1),
            size,
            dont_frag,
            ident,
            sent: Vec::new(),
            rtts: Vec::new(),
            errors: Vec::new(),
            frames: Vec::new(),
            done: false,
            interval: SimDuration::from_secs(1),
        })
    }

    /// Ping number `i`.
    pub(super) fn ping(&self, i: usize) -> Option<&PingApp> {
        self.pings.get(i)
    }

    /// Marks done every ping whose requests were all sent and all answered.
    pub(super) fn settle_pings(&mut self) {
        for p in self.pings.iter_mut() {
            if !p.done && p.sent.len() as u32 == p.count && p.rtts.iter().all(Option::is_some) {
                p.done = true;
            }
        }
    }

    /// When the earliest running ping needs attention.
    pub(super) fn next_ping_due(&self) -> Option<SimTime> {
        self.pings.iter().filter(|p| !p.done).map(PingApp::next_due).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn tcp_to(dst: &str, dport: u16) -> Tuple {
        Tuple {
            l4: L4::Tcp,
            src: ip("172.17.0.5"),
            dst: ip(dst),
            sport: 40000,
            dport,
        }
    }

    fn published(host_ip: Option<&str>, ports: (u16, u16), to_port: u16) -> PublishedPort {
        PublishedPort {
            l4: L4::Tcp,
            host_ip: host_ip.map(ip),
            host_port: ports.0,
            host_port_end: ports.1,
            to: ip("172.17.0.2"),
            to_port,
            label: "api".into(),
            any_family: false,
        }
    }

    /// An IPv4-only container's port, published with the proxy on: IPv6 clients reach
    /// docker-proxy, which dials the container's IPv4 address from the IPv4 gateway.
    #[test]
    fn an_ipv4_only_port_takes_ipv6_clients_through_the_proxy() {
        let mut a = Apps::new();
        a.published.push(published(None, (8080, 8080), 80));
        let v6 = Tuple {
            src: ip("2001:db8::50"),
            ..tcp_to("2001:db8::10", 8080)
        };
        let gw = |_| Some(ip("172.17.0.1"));
        assert!(
            a.proxy_target(&v6, gw).is_none(),
            "a plain rule keeps to its family"
        );
        a.published.push(PublishedPort {
            any_family: true,
            ..published(None, (8080, 8080), 80)
        });
        let (t, rule) = a.proxy_target(&v6, gw).expect("the proxy takes it");
        assert_eq!(rule, 1);
        assert_eq!((t.backend, t.src), (ip("172.17.0.2"), ip("172.17.0.1")));
    }

    /// docker-proxy takes a port of a range at the matching container port, dialing
    /// from the address the machine uses towards the container; a UDP port has its
    /// own proxy.
    #[test]
    fn proxy_target_maps_a_port_range() {
        let mut a = Apps::new();
        a.published.push(published(Some("192.0.2.10"), (8080, 8089), 80));
        let gw = |_| Some(ip("172.17.0.1"));
        let (t, rule) = a
            .proxy_target(&tcp_to("192.0.2.10", 8083), gw)
            .expect("the published port");
        assert_eq!(rule, 0);
        assert_eq!(
            (t.port, t.backend, t.backend_port, t.src),
            (8083, ip("172.17.0.2"), 83, ip("172.17.0.1"))
        );
        assert!(
            a.proxy_target(&tcp_to("192.0.2.11", 8083), gw).is_none(),
            "bound to one address"
        );
        assert!(
            a.proxy_target(&tcp_to("192.0.2.10", 8090), gw).is_none(),
            "outside the range"
        );
        assert!(
            a.proxy_target(&tcp_to("192.0.2.10", 8080), |_| None).is_none(),
            "no way to the container"
        );
        let udp = Tuple {
            l4: L4::Udp,
            ..tcp_to("192.0.2.10", 8083)
        };
        assert!(a.proxy_target(&udp, gw).is_none(), "a TCP port only");
        a.published.push(PublishedPort {
            l4: L4::Udp,
            ..published(Some("192.0.2.10"), (8083, 8083), 53)
        });
        let (t, rule) = a.proxy_target(&udp, gw).expect("the UDP port's proxy");
        assert_eq!((rule, t.backend_port), (1, 53));
        a.userland_proxy = false;
        assert!(
            a.proxy_target(&tcp_to("192.0.2.10", 8083), gw).is_none(),
            "proxy off"
        );
        assert!(a.proxy_target(&udp, gw).is_none(), "proxy off");
    }

    /// A ping stays open until every request was sent and answered; the next due time
    /// is a second after the last request, then the linger.
    #[test]
    fn pings_settle_when_every_request_is_answered() {
        let mut a = Apps::new();
        assert!(!a.active());
        let i = a.open_ping(ip("10.0.0.1"), 0, 56, false);
        assert!(a.active());
        assert_eq!(a.ping(i).map(|p| p.count), Some(1), "at least one request");
        assert_eq!(a.next_ping_due(), Some(SimTime::ZERO));
        let t = SimTime::ZERO + SimDuration::from_secs(3);
        a.pings[i].sent.push(t);
        a.pings[i].rtts.push(None);
        a.settle_pings();
        assert_eq!(
            a.next_ping_due(),
            Some(t + PING_LINGER),
            "all sent: waits the linger"
        );
        a.pings[i].rtts[0] = Some(SimDuration::from_millis(2));
        a.settle_pings();
        assert!(a.ping(i).is_some_and(|p| p.done));
        assert_eq!(a.next_ping_due(), None);
    }
}
