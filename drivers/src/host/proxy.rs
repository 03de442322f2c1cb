//! docker-proxy, the userland proxy Docker runs for each published port: its TCP side
//! (`cmd/docker-proxy/tcp_proxy_linux.go` in moby), as a small application on the host's
//! socket layer. The UDP side is `udp_proxy`.
//!
//! What it does, in the order the Go code does it: the kernel completes the client's
//! handshake on the listening socket; `Accept` returns; only then does the proxy dial
//! the container (`net.DialTCP`, no deadline of its own, from the address the host's
//! routing picks — the network's gateway); when the dial fails it closes the accepted
//! connection (`client.Close()`: a FIN, so the client sees a connection that opened and
//! closed — curl's "Empty reply from server" — not "connection refused"); when it works
//! it copies both directions (`io.Copy`), passing a half-close on (`CloseWrite`) and
//! closing both sockets when both directions are done.
//!
//! A socket the proxy has closed is an orphan to Linux: data arriving on it afterwards
//! is answered with an RST (`tcp_rcv_state_process` resets a connection whose receive
//! side is shut down), and so it is here.
//!
//! Which packets reach the proxy is the host's business ([`crate::router::Node`]):
//! Docker's DNAT rules catch everything else first.

use std::net::IpAddr;

use netloom_core::{SimDuration, SimTime};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use super::{NO_PORT_TCP, RETRANSMIT_GIVE_UP, SOCK_BUF, Stack, UdpProxyStats};
use crate::net::{L4, to_smol};

/// How long docker-proxy's dial to the container may take. `net.DialTCP` sets no
/// deadline, so the kernel's SYN retransmissions decide: `tcp_syn_retries = 6` gives up
/// after 1 + 2 + 4 + 8 + 16 + 32 + 64 = 127 s.
pub const DIAL_TIMEOUT: SimDuration = SimDuration::from_secs(127);

/// One docker-proxy: where it listens and where it dials (its command line's
/// `-host-ip`, `-host-port`, `-container-ip`, `-container-port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProxyTarget {
    /// The host address it listens on (`None` = every address).
    pub listen: Option<IpAddr>,
    /// The published host port.
    pub port: u16,
    /// The container's address.
    pub backend: IpAddr,
    /// The container's port.
    pub backend_port: u16,
    /// The source address of the dial: what the host's routing picks towards the
    /// container (the gateway address of its network).
    pub src: IpAddr,
}

/// What the proxies of a host have done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted (handshake completed with a client).
    pub accepted: u64,
    /// Dials that reached the container.
    pub dialed: u64,
    /// Dials that failed (RST, ICMP error, timeout): the accepted connection was closed.
    pub dial_failed: u64,
    /// The UDP side's counters.
    pub udp: UdpProxyStats,
}

/// Where a relayed connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The client's handshake is under way (the kernel's, before `Accept` returns).
    Accepting,
    /// Accepted; dialing the container since then.
    Dialing(SimTime),
    /// Both connections are up; bytes are copied both ways.
    Splicing,
    /// The proxy closed its sockets; they finish their close handshakes.
    Closing,
}

/// One client connection and its dial to the container.
#[derive(Debug)]
struct Relay {
    target: ProxyTarget,
    client: SocketHandle,
    /// The dial's socket and its local port.
    backend: Option<(SocketHandle, u16)>,
    phase: Phase,
    /// Why the dial failed, when an ICMP error said so.
    dial_error: Option<String>,
    /// Client → container finished (EOF or reset on one side).
    up_done: bool,
    /// Container → client finished.
    down_done: bool,
    /// Every socket was closed at the previous run: removed at this one (a run later,
    /// so an RST an abort queued has been sent).
    over: bool,
}

/// The docker-proxy processes of one host.
#[derive(Debug, Default)]
pub(super) struct Proxy {
    /// Sockets listening for the next client, with their proxy.
    listening: Vec<(ProxyTarget, SocketHandle)>,
    relays: Vec<Relay>,
    stats: ProxyStats,
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
        tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
    );
    // Go's net package sets TCP_NODELAY on every TCP connection.
    s.set_nagle_enabled(false);
    s.set_timeout(Some(RETRANSMIT_GIVE_UP));
    s
}

/// Copies what `from` received into `to`'s send buffer; returns whether bytes moved.
fn copy(sockets: &mut SocketSet<'static>, scratch: &mut [u8], from: SocketHandle, to: SocketHandle) -> bool {
    let mut moved = false;
    loop {
        let room = {
            let t = sockets.get::<tcp::Socket>(to);
            if t.can_send() {
                t.send_capacity() - t.send_queue()
            } else {
                0
            }
        };
        if room == 0 {
            return moved;
        }
        let max = room.min(scratch.len());
        let n = sockets
            .get_mut::<tcp::Socket>(from)
            .recv_slice(&mut scratch[..max])
            .unwrap_or(0);
        if n == 0 {
            return moved;
        }
        let _ = sockets.get_mut::<tcp::Socket>(to).send_slice(&scratch[..n]);
        moved = true;
    }
}

/// Closes a socket the way `Close()` on a Linux socket does: an RST when received data
/// is left unread, else a FIN.
fn close_fd(sockets: &mut SocketSet<'static>, h: SocketHandle) {
    let s = sockets.get_mut::<tcp::Socket>(h);
    if s.recv_queue() > 0 {
        s.abort();
    } else {
        s.close();
    }
}

impl Stack {
    /// Hands docker-proxy a TCP packet addressed to its published port; for a SYN, a
    /// socket listens there first (one per waiting client, as `accept()` takes them).
    pub fn receive_proxied(&mut self, packet: Vec<u8>, target: ProxyTarget, syn: bool) {
        if syn {
            self.ensure_proxy_listener(target);
        }
        self.dev.rx.push_back(packet);
    }

    /// What the host's proxies have done so far.
    pub fn proxy_stats(&self) -> ProxyStats {
        self.proxy.stats
    }

    /// Stops the proxies `keep` rejects (their container stopped, its ports were
    /// unpublished): their listening sockets close, and the connections they relay are
    /// closed as a killed process's sockets are.
    pub fn proxy_retain(&mut self, keep: impl Fn(&ProxyTarget) -> bool) {
        let sockets = &mut self.sockets;
        self.proxy.listening.retain(|(t, h)| {
            if keep(t) {
                return true;
            }
            sockets.remove(*h);
            false
        });
        for r in self.proxy.relays.iter_mut().filter(|r| !keep(&r.target)) {
            close_fd(sockets, r.client);
            if let Some((b, _)) = r.backend {
                close_fd(sockets, b);
            }
            r.phase = Phase::Closing;
        }
    }

    /// An ICMP error about the dial from local `port`: the dial fails (`connect()`
    /// returns the error, as EHOSTUNREACH or ECONNREFUSED). Returns whether a dial
    /// used that port.
    pub(super) fn proxy_refuse(&mut self, port: u16, why: &str) -> bool {
        let mut hit = false;
        for r in self.proxy.relays.iter_mut() {
            if matches!(r.phase, Phase::Dialing(_)) && r.backend.is_some_and(|(_, p)| p == port) {
                r.dial_error = Some(why.to_string());
                hit = true;
            }
        }
        hit
    }

    /// When a dial in progress gives up, if one is.
    pub(super) fn proxy_deadline(&self) -> Option<SimTime> {
        self.proxy
            .relays
            .iter()
            .filter_map(|r| match r.phase {
                Phase::Dialing(since) => Some(since + DIAL_TIMEOUT),
                _ => None,
            })
            .min()
    }

    fn ensure_proxy_listener(&mut self, t: ProxyTarget) {
        let listening = self
            .proxy
            .listening
            .iter()
            .any(|&(x, h)| x == t && self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen);
        if listening {
            return;
        }
        let mut s = tcp_socket();
        let ep = IpListenEndpoint {
            addr: t.listen.map(to_smol),
            port: t.port,
        };
        if s.listen(ep).is_ok() {
            let h = self.sockets.add(s);
            self.proxy.listening.push((t, h));
        }
    }

    /// Advances every proxy at `now`; returns whether anything changed that smoltcp
    /// should act on at once (bytes copied, a dial started, a socket closed).
    pub(super) fn run_proxy(&mut self, now: SimTime) -> bool {
        let mut busy = false;
        // A listening socket that took a SYN is a connection now.
        let mut i = 0;
        while i < self.proxy.listening.len() {
            let (target, h) = self.proxy.listening[i];
            if self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen {
                i += 1;
                continue;
            }
            self.proxy.listening.remove(i);
            self.proxy.relays.push(Relay {
                target,
                client: h,
                backend: None,
                phase: Phase::Accepting,
                dial_error: None,
                up_done: false,
                down_done: false,
                over: false,
            });
        }
        let mut k = 0;
        while k < self.proxy.relays.len() {
            busy |= self.advance_relay(k, now);
            let r = &self.proxy.relays[k];
            let closed = |h: SocketHandle| self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Closed;
            let all_closed = closed(r.client) && r.backend.is_none_or(|(b, _)| closed(b));
            if all_closed && r.over {
                let r = self.proxy.relays.remove(k);
                self.sockets.remove(r.client);
                if let Some((b, port)) = r.backend {
                    self.sockets.remove(b);
                    self.used_ports.remove(&(L4::Tcp, port));
                }
                continue;
            }
            // Seen closed for the first time: one more round of smoltcp (to send an
            // RST an abort queued), then it goes.
            busy |= all_closed;
            self.proxy.relays[k].over = all_closed;
            k += 1;
        }
        busy
    }

    fn advance_relay(&mut self, k: usize, now: SimTime) -> bool {
        let r = &self.proxy.relays[k];
        let client = r.client;
        match r.phase {
            Phase::Accepting => match self.sockets.get::<tcp::Socket>(client).state() {
                // The handshake is complete: `Accept` returns, and the proxy dials.
                tcp::State::Established | tcp::State::CloseWait => {
                    self.proxy.stats.accepted += 1;
                    self.dial(k, now);
                    true
                }
                // The client gave up before it was accepted.
                tcp::State::Closed => {
                    self.proxy.relays[k].phase = Phase::Closing;
                    false
                }
                _ => false,
            },
            Phase::Dialing(since) => {
                let Some((b, port)) = r.backend else {
                    return self.dial_failed(k);
                };
                let state = self.sockets.get::<tcp::Socket>(b).state();
                if matches!(state, tcp::State::Established | tcp::State::CloseWait) {
                    self.proxy.stats.dialed += 1;
                    self.proxy.relays[k].phase = Phase::Splicing;
                    self.splice(k);
                    return true;
                }
                // An RST (smoltcp's socket is closed), an ICMP error, or the kernel's
                // SYN retries running out.
                if state == tcp::State::Closed
                    || r.dial_error.is_some()
                    || now.saturating_since(since) >= DIAL_TIMEOUT
                {
                    // The failed socket sends nothing more (Linux sends no RST for a
                    // connect() that failed): it goes at once.
                    self.sockets.remove(b);
                    self.used_ports.remove(&(L4::Tcp, port));
                    self.proxy.relays[k].backend = None;
                    return self.dial_failed(k);
                }
                false
            }
            Phase::Splicing => self.splice(k),
            Phase::Closing => {
                // Data reaching a socket the proxy closed meets an orphan: RST.
                let mut changed = false;
                for h in [Some(client), r.backend.map(|(b, _)| b)].into_iter().flatten() {
                    let s = self.sockets.get_mut::<tcp::Socket>(h);
                    if s.recv_queue() > 0 && s.state() != tcp::State::Closed {
                        s.abort();
                        changed = true;
                    }
                }
                changed
            }
        }
    }

    /// `net.DialTCP` to the container, from the address the host's routing picks.
    fn dial(&mut self, k: usize, now: SimTime) {
        let target = self.proxy.relays[k].target;
        let Some(port) = self.ephemeral(L4::Tcp) else {
            let r = &mut self.proxy.relays[k];
            r.phase = Phase::Dialing(now);
            r.dial_error = Some(format!("connect: {NO_PORT_TCP}"));
            return;
        };
        let mut s = tcp_socket();
        let remote = IpEndpoint::new(to_smol(target.backend), target.backend_port);
        let local = IpListenEndpoint {
            addr: Some(to_smol(target.src)),
            port,
        };
        let r = &mut self.proxy.relays[k];
        r.phase = Phase::Dialing(now);
        match s.connect(self.iface.context(), remote, local) {
            Ok(()) => r.backend = Some((self.sockets.add(s), port)),
            Err(e) => {
                r.dial_error = Some(format!("connect: {e}"));
                self.used_ports.remove(&(L4::Tcp, port));
            }
        }
    }

    /// The dial failed: `client.Close()`.
    fn dial_failed(&mut self, k: usize) -> bool {
        self.proxy.stats.dial_failed += 1;
        let client = self.proxy.relays[k].client;
        close_fd(&mut self.sockets, client);
        self.proxy.relays[k].phase = Phase::Closing;
        true
    }

    /// The two `io.Copy` brokers: bytes both ways; EOF or an error on one side ends
    /// its direction with `CloseWrite` on the other; both ended, both sockets close.
    fn splice(&mut self, k: usize) -> bool {
        let r = &self.proxy.relays[k];
        let Some((backend, _)) = r.backend else {
            return false;
        };
        let client = r.client;
        let (mut up_done, mut down_done) = (r.up_done, r.down_done);
        let mut busy = false;
        for (from, to, done) in [(client, backend, &mut up_done), (backend, client, &mut down_done)] {
            if *done {
                continue;
            }
            busy |= copy(&mut self.sockets, &mut self.scratch, from, to);
            let f = self.sockets.get::<tcp::Socket>(from);
            let to_dead = self.sockets.get::<tcp::Socket>(to).state() == tcp::State::Closed;
            // `!may_recv()`: the peer sent its FIN and everything was read, or the
            // connection was reset — `io.Copy` returns either way.
            if (!f.may_recv() && f.state() != tcp::State::Listen) || to_dead {
                self.sockets.get_mut::<tcp::Socket>(to).close();
                *done = true;
                busy = true;
            }
        }
        let r = &mut self.proxy.relays[k];
        r.up_done = up_done;
        r.down_done = down_done;
        if up_done && down_done {
            close_fd(&mut self.sockets, client);
            close_fd(&mut self.sockets, backend);
            r.phase = Phase::Closing;
            busy = true;
        }
        busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::ConnOutcome;
    use crate::net::{self as n, IpInfo};
    use std::net::Ipv4Addr;

    const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1));
    const CONTAINER: IpAddr = IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2));
    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 50));

    fn target() -> ProxyTarget {
        ProxyTarget {
            listen: None,
            port: 8080,
            backend: CONTAINER,
            backend_port: 80,
            src: GW,
        }
    }

    /// Three stacks wired by hand: a client, the host running docker-proxy, and a
    /// container that may listen on port 80. Packets are delivered at once, by
    /// destination address; the host's are handed to the proxy when they are for 8080.
    struct Net {
        client: Stack,
        host: Stack,
        container: Stack,
        now: SimTime,
        /// Every TCP segment the host sent to the client: (flags, payload length).
        to_client: Vec<(u8, usize)>,
        /// ICMP port unreachable instead of RST from the container (a firewall's
        /// `reject --reject-with icmp-port-unreachable`).
        container_icmp: bool,
        /// The container drops everything (no answer at all).
        container_silent: bool,
    }

    impl Net {
        fn new(listen: bool) -> Self {
            let now = SimTime::ZERO;
            let mut container = Stack::new(&[(CONTAINER, 16)], 1500, now);
            if listen {
                container.listen(super::super::Listen {
                    l4: L4::Tcp,
                    addr: None,
                    port: 80,
                });
            }
            Net {
                client: Stack::new(&[(CLIENT, 24)], 1500, now),
                host: Stack::new(&[(HOST, 24), (GW, 16)], 1500, now),
                container,
                now,
                to_client: Vec::new(),
                container_icmp: false,
                container_silent: false,
            }
        }

        /// Delivers packets until the network is quiet, then lets `dt` pass.
        fn run(&mut self, dt: SimDuration) {
            let end = self.now + dt;
            loop {
                let mut moved = false;
                for p in self.client.poll(self.now) {
                    moved = true;
                    self.host_gets(p);
                }
                for p in self.host.poll(self.now) {
                    moved = true;
                    let Some(info) = n::parse_ip(&p) else { continue };
                    if info.tuple.dst == CLIENT {
                        let off = p
                            .get(info.header_len + 12)
                            .map_or(20, |b| usize::from(b >> 4) * 4);
                        let payload = p.len().saturating_sub(info.header_len + off);
                        self.to_client.push((info.tcp_flags.unwrap_or(0), payload));
                        self.client.receive(p, L4::Tcp, info.tuple.dport, false);
                    } else if info.tuple.dst == CONTAINER {
                        self.container_gets(p, &info);
                    }
                }
                for p in self.container.poll(self.now) {
                    moved = true;
                    self.host_gets(p);
                }
                if moved {
                    continue;
                }
                let next = [
                    self.client.poll_at(self.now),
                    self.host.poll_at(self.now),
                    self.container.poll_at(self.now),
                    self.client.app_deadline(),
                    self.host.app_deadline(),
                ]
                .into_iter()
                .flatten()
                .filter(|t| *t > self.now)
                .min();
                match next {
                    Some(t) if t <= end => self.now = t,
                    _ => {
                        self.now = end;
                        for p in self.client.poll(self.now) {
                            self.host_gets(p);
                        }
                        return;
                    }
                }
            }
        }

        fn host_gets(&mut self, p: Vec<u8>) {
            let Some(info) = n::parse_ip(&p) else { return };
            let syn = info.tcp_flags.is_some_and(|f| f & 0x12 == 0x02);
            if info.tuple.dport == 8080 && info.tuple.dst == HOST {
                self.host.receive_proxied(p, target(), syn);
            } else {
                self.host.receive(p, L4::Tcp, info.tuple.dport, syn);
            }
        }

        fn container_gets(&mut self, p: Vec<u8>, info: &IpInfo) {
            let syn = info.tcp_flags.is_some_and(|f| f & 0x12 == 0x02);
            if self.container_silent {
                return;
            }
            if self.container_icmp && syn {
                self.host
                    .refuse(L4::Tcp, info.tuple.sport, "port unreachable".into());
                return;
            }
            self.container.receive(p, L4::Tcp, info.tuple.dport, syn);
        }

        fn connect(&mut self, bytes: u64) -> usize {
            self.client.start_tcp(CLIENT, HOST, 8080, bytes, self.now)
        }

        fn outcome(&self, app: usize) -> Option<ConnOutcome> {
            self.client.apps[app].outcome.clone()
        }
    }

    #[test]
    fn a_refused_dial_closes_the_accepted_connection_with_a_fin() {
        // Proves docker-proxy's order: the client's handshake completes, the dial to a
        // port with no listener is answered with RST, and the client then gets a FIN,
        // never an RST: `connect` reports `closed`, not `refused`.
        let mut net = Net::new(false);
        let app = net.connect(0);
        net.run(SimDuration::from_secs(1));
        assert!(
            matches!(net.outcome(app), Some(ConnOutcome::Closed(ref why)) if why.contains("FIN")),
            "{:?}",
            net.outcome(app)
        );
        let stats = net.host.proxy_stats();
        assert_eq!((stats.accepted, stats.dialed, stats.dial_failed), (1, 0, 1));
        assert!(
            net.to_client.iter().any(|(f, _)| f & 0x01 != 0),
            "a FIN reached the client"
        );
        assert!(
            net.to_client.iter().all(|(f, _)| f & 0x04 == 0),
            "no RST reached the client: {:?}",
            net.to_client
        );
    }

    #[test]
    fn an_icmp_error_fails_the_dial_too() {
        let mut net = Net::new(false);
        net.container_icmp = true;
        let app = net.connect(0);
        net.run(SimDuration::from_secs(1));
        assert!(
            matches!(net.outcome(app), Some(ConnOutcome::Closed(_))),
            "{:?}",
            net.outcome(app)
        );
        assert_eq!(net.host.proxy_stats().dial_failed, 1);
    }

    #[test]
    fn an_unanswered_dial_gives_up_after_the_kernels_syn_retries() {
        // The client's connection stays open (`ok`) while the proxy keeps dialing; after
        // 127 s the proxy gives up and closes it.
        let mut net = Net::new(false);
        net.container_silent = true;
        let app = net.connect(0);
        net.run(SimDuration::from_secs(1));
        assert_eq!(net.outcome(app), Some(ConnOutcome::Ok));
        assert_eq!(net.host.proxy_stats().dial_failed, 0);
        net.run(DIAL_TIMEOUT);
        assert_eq!(net.host.proxy_stats().dial_failed, 1);
        assert!(
            net.to_client.iter().any(|(f, _)| f & 0x01 != 0),
            "the proxy closed it"
        );
    }

    #[test]
    fn a_listening_container_gets_the_bytes_and_they_come_back() {
        // The splice: 100 kB sent through the proxy to an echo server are acknowledged,
        // and the echo comes back to the client through the proxy.
        let mut net = Net::new(true);
        let app = net.connect(100_000);
        net.run(SimDuration::from_secs(5));
        assert_eq!(net.outcome(app), Some(ConnOutcome::Ok));
        assert_eq!(net.client.acked(app), 100_000);
        let echoed: usize = net.to_client.iter().map(|(_, len)| len).sum();
        assert_eq!(echoed, 100_000, "the echo came back through the proxy");
        let stats = net.host.proxy_stats();
        assert_eq!((stats.accepted, stats.dialed, stats.dial_failed), (1, 1, 0));
    }

    #[test]
    fn a_plain_connect_through_a_working_proxy_stays_ok_and_everything_is_freed() {
        let mut net = Net::new(true);
        let app = net.connect(0);
        net.run(SimDuration::from_secs(1));
        assert_eq!(net.outcome(app), Some(ConnOutcome::Ok));
        // Both sides close; after TIME_WAIT the proxy holds only its idle listener.
        net.run(SimDuration::from_secs(30));
        assert_eq!(net.host.proxy.relays.len(), 0, "{:?}", net.host.proxy.relays);
        assert_eq!(net.host.sockets_open(), 0);
    }

    #[test]
    fn data_sent_after_the_proxy_closed_is_reset() {
        // A transfer into a proxy whose dial failed: the client gets the FIN, keeps
        // sending, and the orphaned socket answers with RST.
        let mut net = Net::new(false);
        let app = net.connect(1_000_000);
        net.run(SimDuration::from_secs(2));
        assert!(
            matches!(net.outcome(app), Some(ConnOutcome::Refused(_))),
            "{:?}",
            net.outcome(app)
        );
        assert!(
            net.to_client.iter().any(|(f, _)| f & 0x04 != 0),
            "an RST: {:?}",
            net.to_client
        );
    }

    #[test]
    fn stopping_the_proxy_closes_what_it_relays_and_frees_its_sockets() {
        // The container stops: Docker kills its proxy, whose sockets close (FIN).
        let mut net = Net::new(true);
        let app = net.connect(0);
        net.run(SimDuration::from_millis(1));
        assert_eq!(net.host.proxy_stats().dialed, 1);
        net.host.proxy_retain(|_| false);
        net.run(SimDuration::from_secs(30));
        assert!(
            matches!(net.outcome(app), Some(ConnOutcome::Closed(_))),
            "{:?}",
            net.outcome(app)
        );
        assert_eq!(net.host.sockets_open(), 0);
    }
}
