//! docker-proxy's UDP side (`cmd/docker-proxy/udp_proxy_linux.go` in moby), sans-IO:
//! the table of client "connections" each proxy keeps, their ports and their timeouts.
//! [`crate::router::Node`] hands it what reaches a published port or one of its
//! ports, and sends the datagrams it answers with.
//!
//! What the Go code does, and so what this models:
//! - `Run` reads a datagram from the listening socket, with `IP_PKTINFO` so it knows the
//!   address the client sent it to. For a client address (address and port) it has not
//!   seen, it dials the container (`net.DialUDP("udp", nil, backend)`: a socket of its
//!   own on an ephemeral port, from the address the host's routing picks — the
//!   network's gateway) and starts a reply loop; then it writes the payload to that
//!   socket. When the dial fails (no port left) the datagram is dropped.
//! - The reply loop reads what the container sends to that socket (connected: only
//!   from the container's address and port) and writes it to the client from the
//!   listening socket, with the address the client used as source (`WriteMsgUDP` with
//!   the address read from `IP_PKTINFO`): the answer comes from where the client sent.
//! - Each read waits at most `UDPConnTrackTimeout`, 90 s, re-armed after every answer
//!   relayed. When it times out, the connection stays if the client wrote since the
//!   wait was armed, and waits again; otherwise it is closed and forgotten. A
//!   connection that gets no answers so lives 90 to 180 s after the client's last
//!   datagram.
//! - An ICMP port unreachable from the container makes the next read or write on that
//!   socket return ECONNREFUSED, which both loops ignore (the write is retried), and
//!   Linux reports no other ICMP error to a UDP socket without `IP_RECVERR`: the client
//!   is told nothing, and the connection waits for its timeout.
//! - Datagrams are read into a 65,507-byte buffer: a larger one is cut there.
//! - Nothing limits the connections but the ports: each holds an ephemeral port of the
//!   host until it expires; when none is free the dial fails. Expiry and the port range
//!   bound the table, as they bound docker-proxy's.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

use netloom_core::{SimDuration, SimTime};

use super::ProxyTarget;
use crate::net::Tuple;

/// `UDPConnTrackTimeout`: how long a client's connection waits for an answer (and,
/// without one, for the client's next datagram) before it is closed.
pub const UDP_CONNTRACK_TIMEOUT: SimDuration = SimDuration::from_secs(90);

/// `UDPBufSize`: the largest payload docker-proxy relays whole; the rest of a larger
/// datagram is cut off by the read.
pub const UDP_BUF_SIZE: usize = 65_507;

/// Where one relayed datagram goes: from `src` to `dst` (address, port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRelay {
    /// Source address and port.
    pub src: (IpAddr, u16),
    /// Destination address and port.
    pub dst: (IpAddr, u16),
}

/// What the UDP proxies of a host have done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpProxyStats {
    /// Client connections opened (a dial to the container for a new client address).
    pub opened: u64,
    /// Datagrams dropped because the dial found no free port.
    pub dial_failed: u64,
    /// Datagrams relayed to a container.
    pub to_container: u64,
    /// Answers relayed to a client.
    pub to_client: u64,
    /// ICMP errors about a connection's datagrams (ignored, as docker-proxy does).
    pub icmp_ignored: u64,
    /// Connections closed after their timeout.
    pub expired: u64,
}

/// One client's connection: the socket the proxy dialed to the container for it.
#[derive(Debug)]
struct Conn {
    target: ProxyTarget,
    client: (IpAddr, u16),
    /// The address the client sent its first datagram to (`IP_PKTINFO`).
    front: IpAddr,
    /// Tells this connection's timer from one of an earlier connection on its port.
    serial: u64,
    /// When the current read wait began.
    armed: SimTime,
    /// When the client's last datagram was written to the container.
    last_write: SimTime,
}

/// The UDP docker-proxy processes of one host.
#[derive(Debug, Default)]
pub struct UdpProxies {
    /// (proxy, client address, client port) → the local port of its connection.
    by_client: BTreeMap<(ProxyTarget, IpAddr, u16), u16>,
    /// Connections by local port.
    conns: BTreeMap<u16, Conn>,
    /// One read deadline per connection: (when, port, serial), earliest first.
    timers: BinaryHeap<Reverse<(SimTime, u16, u64)>>,
    serial: u64,
    stats: UdpProxyStats,
}

impl UdpProxies {
    /// A datagram from `client` to `front` reached the proxy `target` at `now`; `bind`
    /// gives a free local port for a new connection (`None`: the dial fails). Returns
    /// where the payload goes, or `None` when it is dropped.
    pub fn on_client(
        &mut self,
        now: SimTime,
        target: ProxyTarget,
        client: (IpAddr, u16),
        front: IpAddr,
        bind: impl FnOnce() -> Option<u16>,
    ) -> Option<UdpRelay> {
        let key = (target, client.0, client.1);
        let port = match self.by_client.get(&key) {
            Some(&port) => port,
            None => {
                let Some(port) = bind() else {
                    self.stats.dial_failed += 1;
                    return None;
                };
                self.serial += 1;
                self.conns.insert(
                    port,
                    Conn {
                        target,
                        client,
                        front,
                        serial: self.serial,
                        armed: now,
                        last_write: now,
                    },
                );
                self.by_client.insert(key, port);
                self.timers
                    .push(Reverse((now + UDP_CONNTRACK_TIMEOUT, port, self.serial)));
                self.stats.opened += 1;
                port
            }
        };
        let conn = self.conns.get_mut(&port)?;
        conn.last_write = now;
        self.stats.to_container += 1;
        Some(UdpRelay {
            src: (target.src, port),
            dst: (target.backend, target.backend_port),
        })
    }

    /// A UDP datagram `t` reached the host at `now`: when it is a container's answer on
    /// one of the connections, where it goes (to the client, from the address and port
    /// it used). A datagram from anyone else does not match the connected socket.
    pub fn on_backend(&mut self, now: SimTime, t: &Tuple) -> Option<UdpRelay> {
        let c = self.conns.get_mut(&t.dport)?;
        let from_backend =
            c.target.src == t.dst && c.target.backend == t.src && c.target.backend_port == t.sport;
        if !from_backend {
            return None;
        }
        // The reply loop relays it and waits again from now.
        c.armed = now;
        self.stats.to_client += 1;
        Some(UdpRelay {
            src: (c.front, c.target.port),
            dst: c.client,
        })
    }

    /// Whether a connection holds local port `port`.
    pub fn owns(&self, port: u16) -> bool {
        self.conns.contains_key(&port)
    }

    /// An ICMP error about a datagram sent from local `port`: ignored when a
    /// connection holds the port. Returns whether one does.
    pub fn on_icmp_error(&mut self, port: u16) -> bool {
        let owned = self.owns(port);
        if owned {
            self.stats.icmp_ignored += 1;
        }
        owned
    }

    /// Closes the connections whose wait ran out by `now`; `release` gets their ports.
    pub fn poll_expired(&mut self, now: SimTime, mut release: impl FnMut(u16)) {
        while let Some(&Reverse((at, port, serial))) = self.timers.peek() {
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(c) = self.conns.get_mut(&port).filter(|c| c.serial == serial) else {
                continue;
            };
            // The wait was re-armed by an answer since this timer was set.
            let due = c.armed + UDP_CONNTRACK_TIMEOUT;
            if due > at {
                self.timers.push(Reverse((due, port, serial)));
                continue;
            }
            // The read timed out at `due`: a write since the wait began keeps the
            // connection for another wait.
            if c.last_write > c.armed {
                c.armed = due;
                self.timers
                    .push(Reverse((due + UDP_CONNTRACK_TIMEOUT, port, serial)));
                continue;
            }
            if let Some(c) = self.conns.remove(&port) {
                self.by_client.remove(&(c.target, c.client.0, c.client.1));
            }
            self.stats.expired += 1;
            release(port);
        }
    }

    /// When the earliest wait runs out, if a connection is open.
    pub fn next_deadline(&self) -> Option<SimTime> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Stops the proxies `keep` rejects (their container stopped): their connections
    /// close at once, as `Close` does; `release` gets their ports.
    pub fn retain(&mut self, keep: impl Fn(&ProxyTarget) -> bool, mut release: impl FnMut(u16)) {
        let before = self.conns.len();
        self.conns.retain(|&port, c| {
            if keep(&c.target) {
                return true;
            }
            release(port);
            false
        });
        if self.conns.len() == before {
            return;
        }
        let conns = &self.conns;
        self.by_client.retain(|_, port| conns.contains_key(port));
        self.timers
            .retain(|Reverse((_, port, serial))| conns.get(port).is_some_and(|c| c.serial == *serial));
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// What the proxies have done so far.
    pub fn stats(&self) -> UdpProxyStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::L4;
    use std::net::Ipv4Addr;

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1));
    const CONTAINER: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2));
    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3));

    fn target() -> ProxyTarget {
        ProxyTarget {
            listen: None,
            port: 5353,
            backend: CONTAINER,
            backend_port: 53,
            src: GW,
        }
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    /// `left` ports handed out from 49152 up, as the host's stack does.
    struct Ports {
        left: u16,
        next: u16,
    }

    impl Ports {
        fn new(left: u16) -> Self {
            Ports { left, next: 49152 }
        }

        fn bind(&mut self) -> Option<u16> {
            self.left = self.left.checked_sub(1)?;
            self.next += 1;
            Some(self.next - 1)
        }
    }

    fn answer(port: u16) -> Tuple {
        Tuple {
            l4: L4::Udp,
            src: CONTAINER,
            dst: GW,
            sport: 53,
            dport: port,
        }
    }

    fn send(p: &mut UdpProxies, ports: &mut Ports, now: SimTime, client_port: u16) -> Option<UdpRelay> {
        p.on_client(now, target(), (CLIENT, client_port), HOST, || ports.bind())
    }

    #[test]
    fn one_connection_per_client_answers_come_back_from_where_the_client_sent() {
        // Proves the relay's addresses: to the container from the gateway, one local
        // port per client address (kept for its next datagrams), answers to the client
        // from the host address and published port it used; a datagram to that port
        // from anyone but the container is not the connection's.
        let mut p = UdpProxies::default();
        let mut ports = Ports::new(10);
        let a = send(&mut p, &mut ports, at(0), 40000).expect("relayed");
        let b = send(&mut p, &mut ports, at(1), 40001).expect("relayed");
        assert_eq!(a.dst, (CONTAINER, 53));
        assert_eq!(a.src.0, GW);
        assert_ne!(a.src.1, b.src.1, "one socket per client");
        assert_eq!(send(&mut p, &mut ports, at(2), 40000), Some(a), "the same socket");
        let back = p.on_backend(at(2), &answer(a.src.1)).expect("an answer");
        assert_eq!(
            back,
            UdpRelay {
                src: (HOST, 5353),
                dst: (CLIENT, 40000)
            }
        );
        let stranger = Tuple {
            sport: 54,
            ..answer(a.src.1)
        };
        assert_eq!(p.on_backend(at(2), &stranger), None);
        assert_eq!(p.len(), 2);
        let s = p.stats();
        assert_eq!((s.opened, s.to_container, s.to_client), (2, 3, 1));
    }

    #[test]
    fn an_idle_connection_expires_after_the_conntrack_timeout() {
        // Proves docker-proxy's expiry: with no answer and no further datagram, the
        // connection closes 90 s after it was opened and its port is released; a
        // client's next datagram then opens a new one.
        let mut p = UdpProxies::default();
        let mut ports = Ports::new(10);
        let first = send(&mut p, &mut ports, at(0), 40000).expect("relayed");
        assert_eq!(p.next_deadline(), Some(at(90)));
        let mut freed = Vec::new();
        p.poll_expired(at(89), |port| freed.push(port));
        assert_eq!((p.len(), freed.len()), (1, 0), "still open at 89 s");
        p.poll_expired(at(90), |port| freed.push(port));
        assert_eq!(freed, vec![first.src.1], "closed at 90 s, its port released");
        assert!(p.is_empty());
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.stats().expired, 1);
        let again = send(&mut p, &mut ports, at(100), 40000).expect("relayed");
        assert_eq!(p.stats().opened, 2, "a new connection");
        assert_ne!(again.src.1, first.src.1);
    }

    #[test]
    fn answers_and_writes_keep_a_connection_as_the_reply_loop_does() {
        // An answer re-arms the 90 s wait; a client that keeps writing without answers
        // keeps its connection through a timeout, which then comes 90 s later: a
        // one-sided connection lives up to 180 s after its last datagram.
        let mut p = UdpProxies::default();
        let mut ports = Ports::new(10);
        let r = send(&mut p, &mut ports, at(0), 40000).expect("relayed");
        assert!(p.on_backend(at(50), &answer(r.src.1)).is_some());
        let mut freed = Vec::new();
        p.poll_expired(at(139), |port| freed.push(port));
        assert_eq!(p.len(), 1, "the answer at 50 s moved the wait to 140 s");
        assert_eq!(p.next_deadline(), Some(at(140)));
        // A write at 100 s (no answer): the wait running out at 140 s sees it and
        // waits until 230 s.
        send(&mut p, &mut ports, at(100), 40000).expect("relayed");
        p.poll_expired(at(140), |port| freed.push(port));
        assert_eq!(p.len(), 1, "kept by the write at 100 s");
        assert_eq!(p.next_deadline(), Some(at(230)));
        p.poll_expired(at(229), |port| freed.push(port));
        assert_eq!(p.len(), 1);
        p.poll_expired(at(230), |port| freed.push(port));
        assert!(p.is_empty(), "130 s after the last datagram");
        assert_eq!(freed, vec![r.src.1]);
    }

    #[test]
    fn without_a_free_port_the_datagram_is_dropped() {
        // The table is bounded by the host's ephemeral ports: a new client when none
        // is left is dropped (docker-proxy's "Can't proxy a datagram"), the clients
        // already connected keep working, and an expired connection frees a port.
        let mut p = UdpProxies::default();
        let mut ports = Ports::new(2);
        assert!(send(&mut p, &mut ports, at(0), 40000).is_some());
        assert!(send(&mut p, &mut ports, at(1), 40001).is_some());
        assert_eq!(send(&mut p, &mut ports, at(2), 40002), None);
        assert!(send(&mut p, &mut ports, at(3), 40000).is_some(), "known client");
        assert_eq!((p.len(), p.stats().dial_failed), (2, 1));
        let mut freed = Vec::new();
        p.poll_expired(at(200), |port| freed.push(port));
        assert_eq!(freed.len(), 2);
    }

    #[test]
    fn a_stopped_proxy_closes_its_connections_and_forgets_their_timers() {
        let mut p = UdpProxies::default();
        let mut ports = Ports::new(10);
        let r = send(&mut p, &mut ports, at(0), 40000).expect("relayed");
        let mut freed = Vec::new();
        p.retain(|_| false, |port| freed.push(port));
        assert_eq!(freed, vec![r.src.1]);
        assert!(p.is_empty());
        assert_eq!(p.next_deadline(), None, "no timer left behind");
        assert_eq!(p.on_backend(at(1), &answer(r.src.1)), None);
        assert!(!p.on_icmp_error(r.src.1));
    }
}
