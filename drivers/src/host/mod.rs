//! Host stacks: smoltcp `Interface`s behind a queue-backed device, polled with the
//! simulated clock, and the small applications the scenario steps run on them (TCP
//! connect and bulk transfer, UDP probe, TCP and UDP echo listeners) and Docker runs on
//! its hosts (docker-proxy: TCP in `proxy`, UDP in `udp_proxy`).
//!
//! The surrounding [`crate::router::Node`] does everything below IP (ARP, neighbour
//! discovery, routing, fragmentation, ICMP errors); this module sees only IP packets
//! addressed to the node, as a `Medium::Ip` device does.

use std::collections::{BTreeSet, VecDeque};
use std::net::IpAddr;

use netloom_core::{SimDuration, SimTime};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr, IpEndpoint, IpListenEndpoint};

use crate::net::{L4, from_smol, to_smol};

mod proxy;
mod udp_proxy;

pub use proxy::{DIAL_TIMEOUT, ProxyStats, ProxyTarget};
pub use udp_proxy::{UDP_BUF_SIZE, UDP_CONNTRACK_TIMEOUT, UdpProxies, UdpProxyStats, UdpRelay};

/// A transport listener ("echo server") on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// TCP or UDP.
    pub l4: L4,
    /// The address it is bound to (`None` = every address).
    pub addr: Option<IpAddr>,
    /// The port.
    pub port: u16,
}

/// How a connection attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnOutcome {
    /// The handshake completed (TCP) or an answer came (UDP). A plain TCP connect is
    /// `Ok` once the connection stayed open for [`CLOSE_WATCH`] after its handshake (or
    /// the peer sent data in that time).
    Ok,
    /// An RST or an ICMP unreachable came back; the text says which.
    Refused(String),
    /// Nothing came back in time.
    Timeout,
    /// TCP: the handshake completed, then the peer closed the connection (FIN or RST)
    /// within [`CLOSE_WATCH`], before sending any data — what docker-proxy does when
    /// it cannot reach the container. The text says how and when.
    Closed(String),
}

/// What a TCP or UDP application on a stack is doing.
#[derive(Clone, Debug)]
pub struct SockApp {
    /// The remote end.
    pub remote: IpEndpoint,
    /// Our port.
    pub local_port: u16,
    /// TCP or UDP.
    pub l4: L4,
    /// Bytes to send after connecting (TCP transfer); 0 for a plain connect.
    pub total: u64,
    /// Bytes handed to the socket so far.
    pub written: u64,
    /// When the attempt started (first SYN).
    pub started: SimTime,
    /// When the handshake completed.
    pub connected: Option<SimTime>,
    /// When the last byte was acknowledged (a plain connect: when its outcome was known).
    pub finished: Option<SimTime>,
    /// Bytes received from the peer (an echo, a banner).
    pub received: u64,
    /// The outcome, once known.
    pub outcome: Option<ConnOutcome>,
    /// Bytes acknowledged at the last progress check, and when progress was last seen.
    progress: (u64, SimTime),
    handle: SocketHandle,
    /// The socket is closed and gone from the socket set; the slot may be reused.
    reaped: bool,
}

impl SockApp {
    fn new(
        remote: IpEndpoint,
        local_port: u16,
        l4: L4,
        total: u64,
        now: SimTime,
        outcome: Option<ConnOutcome>,
        handle: SocketHandle,
    ) -> Self {
        SockApp {
            remote,
            local_port,
            l4,
            total,
            written: 0,
            started: now,
            connected: None,
            finished: None,
            received: 0,
            outcome,
            progress: (0, now),
            handle,
            reaped: false,
        }
    }
}

/// The socket layer of one node.
pub struct Stack {
    iface: Interface,
    dev: QueueDevice,
    addrs: Vec<(IpAddr, u8)>,
    sockets: SocketSet<'static>,
    listens: Vec<Listen>,
    /// Listener sockets (TCP accepted/listening, UDP bound) and their listener.
    listen_socks: Vec<(SocketHandle, usize)>,
    /// SYNs queued for each TCP listener since the last poll: each needs a socket in
    /// LISTEN when smoltcp processes it (the kernel's accept backlog).
    syn_backlog: Vec<u32>,
    /// Applications started by steps.
    pub apps: Vec<SockApp>,
    used_ports: BTreeSet<(L4, u16)>,
    next_port: u16,
    scratch: Vec<u8>,
    proxy: proxy::Proxy,
}

/// Bytes of socket buffer per direction for applications and accepted connections.
const SOCK_BUF: usize = 256 * 1024;
/// Bytes of socket buffer per direction for a connection that only connects.
const CONNECT_BUF: usize = 4 * 1024;
/// Give up on a bulk transfer after this long without progress.
const STALL: SimDuration = SimDuration::from_secs(10);
/// A connection attempt's deadline (the scenario format's 3 s).
pub const CONNECT_TIMEOUT: SimDuration = SimDuration::from_secs(3);
/// How long a plain TCP connect keeps watching after its handshake, so that a peer
/// that accepts and then closes (docker-proxy failing to reach its container) is seen
/// as `closed` rather than `ok`. The proxy's dial over a bridge answers in well under a
/// millisecond; 200 ms leaves room for slow links without making every step slow.
pub const CLOSE_WATCH: SimDuration = SimDuration::from_millis(200);
/// How long a connection keeps retransmitting unacknowledged data before it gives up:
/// Linux's default `tcp_retries2 = 15` amounts to about 924.6 s.
const RETRANSMIT_GIVE_UP: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(925);
/// The first and last ephemeral port this stack hands out.
const EPHEMERAL: (u16, u16) = (49152, 65535);
/// What `connect()` says when no ephemeral port is free: TCP (EADDRNOTAVAIL) and UDP
/// (EAGAIN from the autobind).
const NO_PORT_TCP: &str = "Cannot assign requested address";
const NO_PORT_UDP: &str = "Resource temporarily unavailable";

struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    mtu: usize,
}

struct RxTok(Vec<u8>);
struct TxTok<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _t: Instant) -> Option<(RxTok, TxTok<'_>)> {
        let p = self.rx.pop_front()?;
        Some((RxTok(p), TxTok(&mut self.tx)))
    }

    fn transmit(&mut self, _t: Instant) -> Option<TxTok<'_>> {
        Some(TxTok(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu;
        c
    }
}

/// A smoltcp interface owning `addrs`, sized for the device's MTU.
fn make_iface(addrs: &[(IpAddr, u8)], dev: &mut QueueDevice, now: SimTime) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    // smoltcp draws initial sequence numbers and ephemeral ports from this seed: one
    // per machine (its addresses) and per moment, so a server's ISN is not its
    // client's, as with Linux's per-connection ISNs; still the same for the same run.
    config.random_seed = addrs
        .iter()
        .flat_map(|(ip, len)| {
            let bytes: Vec<u8> = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            bytes.into_iter().chain([*len])
        })
        .chain(now.as_nanos().to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut iface = Interface::new(config, dev, instant(now));
    iface.update_ip_addrs(|a| {
        for &(ip, len) in addrs {
            let _ = a.push(IpCidr::new(to_smol(ip), len));
        }
    });
    // The node hands the stack only packets addressed to one of its own addresses
    // (loopback included), so smoltcp takes them all ("AnyIP"): its list holds eight
    // addresses at most, and a Docker host with more (docker0, a bridge per network,
    // IPv6) still answers on each, and docker-proxy dials from any network's gateway.
    iface.set_any_ip(true);
    // The node routes; smoltcp only needs to believe every destination is reachable.
    if let Some(&(IpAddr::V4(v4), _)) = addrs.iter().find(|(a, _)| a.is_ipv4()) {
        let _ = iface.routes_mut().add_default_ipv4_route(v4);
    }
    if let Some(&(IpAddr::V6(v6), _)) = addrs.iter().find(|(a, _)| a.is_ipv6()) {
        let _ = iface.routes_mut().add_default_ipv6_route(v6);
    }
    iface
}

fn instant(t: SimTime) -> Instant {
    Instant::from_micros(t.as_micros() as i64)
}

impl Stack {
    /// A stack owning `addrs` (at most eight are given to smoltcp) with an MTU of `mtu`.
    pub fn new(addrs: &[(IpAddr, u8)], mtu: u32, now: SimTime) -> Self {
        let mut dev = QueueDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu: mtu as usize,
        };
        let addrs: Vec<(IpAddr, u8)> = addrs.iter().take(8).copied().collect();
        let iface = make_iface(&addrs, &mut dev, now);
        Stack {
            iface,
            dev,
            addrs,
            sockets: SocketSet::new(Vec::new()),
            listens: Vec::new(),
            listen_socks: Vec::new(),
            syn_backlog: Vec::new(),
            apps: Vec::new(),
            used_ports: BTreeSet::new(),
            next_port: 49152,
            scratch: vec![0u8; 16 * 1024],
            proxy: proxy::Proxy::default(),
        }
    }

    /// Adds a listener (a TCP or UDP echo server).
    pub fn listen(&mut self, l: Listen) {
        self.listens.push(l);
        if l.l4 == L4::Udp {
            self.spawn_udp_listener(self.listens.len() - 1);
        }
    }

    /// The listeners.
    pub fn listens(&self) -> &[Listen] {
        &self.listens
    }

    /// Removes a listener and closes its sockets.
    pub fn unlisten(&mut self, l: Listen) {
        let Some(i) = self.listens.iter().position(|x| *x == l) else {
            return;
        };
        self.syn_backlog.clear();
        let mut k = 0;
        while k < self.listen_socks.len() {
            let (h, idx) = self.listen_socks[k];
            if idx == i {
                match l.l4 {
                    L4::Tcp => self.sockets.get_mut::<tcp::Socket>(h).abort(),
                    _ => self.sockets.get_mut::<udp::Socket>(h).close(),
                }
                self.sockets.remove(h);
                self.listen_socks.swap_remove(k);
                continue;
            }
            if idx > i {
                self.listen_socks[k].1 = idx - 1;
            }
            k += 1;
        }
        self.listens.remove(i);
    }

    /// Whether a socket would take a packet for `l4` port `port` at `addr`.
    pub fn accepts(&self, l4: L4, addr: IpAddr, port: u16) -> bool {
        self.listens
            .iter()
            .any(|l| l.l4 == l4 && l.port == port && l.addr.is_none_or(|a| a == addr))
            || self.used_ports.contains(&(l4, port))
    }

    /// Hands an IP packet addressed to this node to smoltcp.
    pub fn receive(&mut self, packet: Vec<u8>, l4: L4, dst_port: u16, syn: bool) {
        if l4 == L4::Tcp && syn && !self.used_ports.contains(&(L4::Tcp, dst_port)) {
            self.ensure_tcp_listener(dst_port);
        }
        self.dev.rx.push_back(packet);
    }

    /// Sockets are created when the first SYN arrives, so idle listeners cost nothing.
    fn ensure_tcp_listener(&mut self, port: u16) {
        let Some(idx) = self
            .listens
            .iter()
            .position(|l| l.l4 == L4::Tcp && l.port == port)
        else {
            return;
        };
        if self.syn_backlog.len() <= idx {
            self.syn_backlog.resize(idx + 1, 0);
        }
        self.syn_backlog[idx] += 1;
        let listening = self
            .listen_socks
            .iter()
            .filter(|&&(h, i)| i == idx && self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen)
            .count();
        if listening < self.syn_backlog[idx] as usize {
            let l = self.listens[idx];
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
                tcp::SocketBuffer::new(vec![0; SOCK_BUF]),
            );
            s.set_timeout(Some(RETRANSMIT_GIVE_UP));
            let ep = IpListenEndpoint {
                addr: l.addr.map(to_smol),
                port: l.port,
            };
            if s.listen(ep).is_ok() {
                let h = self.sockets.add(s);
                self.listen_socks.push((h, idx));
            }
        }
    }

    fn spawn_udp_listener(&mut self, idx: usize) {
        let l = self.listens[idx];
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 64 * 1024]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 64 * 1024]),
        );
        if s.bind(IpListenEndpoint {
            addr: l.addr.map(to_smol),
            port: l.port,
        })
        .is_ok()
        {
            let h = self.sockets.add(s);
            self.listen_socks.push((h, idx));
        }
    }

    /// Takes the next free ephemeral port; `None` when every one is taken.
    fn ephemeral(&mut self, l4: L4) -> Option<u16> {
        for _ in EPHEMERAL.0..=EPHEMERAL.1 {
            let p = self.next_port;
            self.next_port = if p == EPHEMERAL.1 { EPHEMERAL.0 } else { p + 1 };
            if !self.used_ports.contains(&(l4, p)) && !self.listens.iter().any(|l| l.port == p && l.l4 == l4)
            {
                self.used_ports.insert((l4, p));
                return Some(p);
            }
        }
        None
    }

    /// Takes a free ephemeral UDP port for a socket that lives outside smoltcp
    /// (docker-proxy's dial of a client's connection); `None` when none is free.
    pub fn bind_udp_port(&mut self, in_use: impl Fn(u16) -> bool) -> Option<u16> {
        // Ports a caller knows to be taken (the resolver's) are skipped, and released
        // again once a free one is found.
        let mut skipped = Vec::new();
        let found = loop {
            let Some(p) = self.ephemeral(L4::Udp) else {
                break None;
            };
            if !in_use(p) {
                break Some(p);
            }
            skipped.push(p);
            if skipped.len() > 16 {
                break None;
            }
        };
        for p in skipped {
            self.used_ports.remove(&(L4::Udp, p));
        }
        found
    }

    /// Gives back a port taken with [`Stack::bind_udp_port`].
    pub fn release_udp_port(&mut self, port: u16) {
        self.used_ports.remove(&(L4::Udp, port));
    }

    /// Starts a TCP connection from `src` to `dst:port`, then sends `total` bytes (0 =
    /// connect only). Returns the application's index.
    pub fn start_tcp(&mut self, src: IpAddr, dst: IpAddr, port: u16, total: u64, now: SimTime) -> usize {
        let Some(local_port) = self.ephemeral(L4::Tcp) else {
            return self.no_port(dst, port, L4::Tcp, now);
        };
        // A plain connect sends nothing and is sent nothing: small buffers keep ten
        // thousand `connect` steps cheap.
        let buf = if total == 0 { CONNECT_BUF } else { SOCK_BUF };
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buf]),
            tcp::SocketBuffer::new(vec![0; buf]),
        );
        s.set_nagle_enabled(false);
        s.set_timeout(Some(RETRANSMIT_GIVE_UP));
        let remote = IpEndpoint::new(to_smol(dst), port);
        let local = IpListenEndpoint {
            addr: Some(to_smol(src)),
            port: local_port,
        };
        let connect = s.connect(self.iface.context(), remote, local);
        let handle = self.sockets.add(s);
        let outcome = connect
            .err()
            .map(|e| ConnOutcome::Refused(format!("connect failed: {e}")));
        self.push_app(SockApp::new(
            remote,
            local_port,
            L4::Tcp,
            total,
            now,
            outcome,
            handle,
        ))
    }

    /// Sends one UDP datagram from `src` to `dst:port` and waits for an answer.
    pub fn start_udp(&mut self, src: IpAddr, dst: IpAddr, port: u16, now: SimTime) -> usize {
        let Some(local_port) = self.ephemeral(L4::Udp) else {
            return self.no_port(dst, port, L4::Udp, now);
        };
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
        );
        let remote = IpEndpoint::new(to_smol(dst), port);
        let mut outcome = None;
        if s.bind(IpListenEndpoint {
            addr: Some(to_smol(src)),
            port: local_port,
        })
        .is_err()
        {
            outcome = Some(ConnOutcome::Refused("bind failed".into()));
        } else if s.send_slice(&crate::dns::probe_payload(port), remote).is_err() {
            outcome = Some(ConnOutcome::Refused("send failed".into()));
        }
        let handle = self.sockets.add(s);
        self.push_app(SockApp::new(remote, local_port, L4::Udp, 0, now, outcome, handle))
    }

    /// A connection that could not start: every ephemeral port is taken (by
    /// docker-proxy's UDP connections, say). The application fails at once, as
    /// `connect()` does.
    fn no_port(&mut self, dst: IpAddr, port: u16, l4: L4, now: SimTime) -> usize {
        // A socket that never binds: closed (TCP) or unbound (UDP), with no buffers,
        // reaped as any finished application's.
        let (handle, why) = match l4 {
            L4::Tcp => (
                self.sockets.add(tcp::Socket::new(
                    tcp::SocketBuffer::new(Vec::new()),
                    tcp::SocketBuffer::new(Vec::new()),
                )),
                NO_PORT_TCP,
            ),
            _ => (
                self.sockets.add(udp::Socket::new(
                    udp::PacketBuffer::new(Vec::new(), Vec::new()),
                    udp::PacketBuffer::new(Vec::new(), Vec::new()),
                )),
                NO_PORT_UDP,
            ),
        };
        let mut app = SockApp::new(
            IpEndpoint::new(to_smol(dst), port),
            0,
            l4,
            0,
            now,
            Some(ConnOutcome::Refused(format!("connect: {why}"))),
            handle,
        );
        app.finished = Some(now);
        self.push_app(app)
    }

    /// Stores `app` in the slot of a finished, reaped one if there is one, so that the
    /// applications of a machine are bounded by how many run at once, not by how many
    /// steps ran.
    fn push_app(&mut self, app: SockApp) -> usize {
        if let Some(i) = self.apps.iter().position(|a| a.reaped) {
            self.apps[i] = app;
            return i;
        }
        self.apps.push(app);
        self.apps.len() - 1
    }

    /// Removes the sockets of applications that are over (outcome known, socket
    /// closed — after TIME_WAIT for TCP) and frees their ports. Their outcome stays
    /// readable until the slot is reused.
    fn reap_apps(&mut self) {
        for app in self.apps.iter_mut().filter(|a| !a.reaped && a.outcome.is_some()) {
            let closed = match app.l4 {
                L4::Tcp => self.sockets.get::<tcp::Socket>(app.handle).state() == tcp::State::Closed,
                _ => true,
            };
            if closed {
                self.sockets.remove(app.handle);
                self.used_ports.remove(&(app.l4, app.local_port));
                app.reaped = true;
            }
        }
    }

    /// Marks the application using local `port` as refused (an ICMP error or RST
    /// arrived); a docker-proxy dial from that port fails.
    pub fn refuse(&mut self, l4: L4, port: u16, why: String) {
        if l4 == L4::Tcp && self.proxy_refuse(port, &why) {
            return;
        }
        for app in self
            .apps
            .iter_mut()
            .filter(|a| a.l4 == l4 && a.local_port == port && a.outcome.is_none() && !a.reaped)
        {
            app.outcome = Some(ConnOutcome::Refused(why.clone()));
            if l4 == L4::Tcp {
                self.sockets.get_mut::<tcp::Socket>(app.handle).abort();
            }
        }
    }

    /// Runs smoltcp and the applications at `now`; returns the IP packets to send.
    pub fn poll(&mut self, now: SimTime) -> Vec<Vec<u8>> {
        let t = instant(now);
        self.syn_backlog.clear();
        for _ in 0..4 {
            self.iface.poll(t, &mut self.dev, &mut self.sockets);
            if !self.run_apps(now) {
                break;
            }
        }
        std::mem::take(&mut self.dev.tx)
    }

    /// Lowers the MTU smoltcp sizes segments for (after a "fragmentation needed" or
    /// "packet too big"); unacknowledged data is sent again in smaller segments.
    pub fn lower_mtu(&mut self, mtu: u32, now: SimTime) {
        if (mtu as usize) < self.dev.mtu {
            self.dev.mtu = mtu as usize;
            // smoltcp reads the MTU once, when the interface is made; sockets keep
            // their state in the socket set, so a new interface picks them up as they are.
            self.iface = make_iface(&self.addrs, &mut self.dev, now);
        }
    }

    /// Whether packets wait in the receive queue for the next poll.
    pub fn rx_pending(&self) -> bool {
        !self.dev.rx.is_empty()
    }

    /// When smoltcp next needs to be polled (retransmissions, delayed ACKs), if ever.
    pub fn poll_at(&mut self, now: SimTime) -> Option<SimTime> {
        let at = self.iface.poll_at(instant(now), &self.sockets)?;
        Some(SimTime((at.total_micros().max(0) as u64).saturating_mul(1_000)))
    }

    /// Advances applications; returns whether anything was written to a socket.
    fn run_apps(&mut self, now: SimTime) -> bool {
        let mut wrote = false;
        // Echo servers: what arrives goes back.
        let mut i = 0;
        while i < self.listen_socks.len() {
            let (h, idx) = self.listen_socks[i];
            match self.listens[idx].l4 {
                L4::Tcp => {
                    let s = self.sockets.get_mut::<tcp::Socket>(h);
                    if s.can_recv() && s.can_send() {
                        let room = s.send_capacity() - s.send_queue();
                        let n = s
                            .recv_slice(&mut self.scratch[..room.min(16 * 1024)])
                            .unwrap_or(0);
                        if n > 0 {
                            let _ = s.send_slice(&self.scratch[..n]);
                            wrote = true;
                        }
                    }
                    if s.state() == tcp::State::CloseWait {
                        s.close();
                    }
                    if s.state() == tcp::State::Closed {
                        self.sockets.remove(h);
                        self.listen_socks.swap_remove(i);
                        continue;
                    }
                }
                _ => {
                    let s = self.sockets.get_mut::<udp::Socket>(h);
                    while let Ok((n, meta)) = s.recv_slice(&mut self.scratch) {
                        let reply = udp::UdpMetadata {
                            endpoint: meta.endpoint,
                            local_address: meta.local_address,
                            meta: Default::default(),
                        };
                        let _ = s.send_slice(&self.scratch[..n], reply);
                        wrote = true;
                    }
                }
            }
            i += 1;
        }
        wrote |= self.run_proxy(now);
        self.reap_apps();
        for app in &mut self.apps {
            if app.reaped || (app.outcome.is_some() && app.finished.is_some()) {
                continue;
            }
            match app.l4 {
                L4::Tcp => {
                    let s = self.sockets.get_mut::<tcp::Socket>(app.handle);
                    // Whatever the echo server sends back is read and discarded.
                    while s.can_recv() {
                        let n = s.recv_slice(&mut self.scratch).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        app.received += n as u64;
                    }
                    if app.outcome.is_some() {
                        continue;
                    }
                    match s.state() {
                        tcp::State::Established | tcp::State::CloseWait if app.connected.is_none() => {
                            app.connected = Some(now);
                        }
                        tcp::State::Closed if app.connected.is_none() => {
                            app.outcome = Some(ConnOutcome::Refused("connection reset (RST)".into()));
                            continue;
                        }
                        _ => {}
                    }
                    if app.connected.is_none() {
                        if now.saturating_since(app.started) >= CONNECT_TIMEOUT {
                            app.outcome = Some(ConnOutcome::Timeout);
                            s.abort();
                        }
                        continue;
                    }
                    if app.total == 0 {
                        // A plain connect watches the connection for CLOSE_WATCH: a
                        // peer that closes it first, without a byte, makes it `closed`.
                        let since = app.connected.unwrap_or(now);
                        let how = match s.state() {
                            tcp::State::Closed => Some("RST"),
                            tcp::State::CloseWait
                            | tcp::State::LastAck
                            | tcp::State::Closing
                            | tcp::State::TimeWait => Some("FIN"),
                            _ => None,
                        };
                        if app.received == 0
                            && let Some(how) = how
                        {
                            app.outcome = Some(ConnOutcome::Closed(format!(
                                "the peer closed the connection with {how} {} after the handshake",
                                now.saturating_since(since)
                            )));
                            app.finished = Some(now);
                            s.close();
                        } else if app.received > 0 || now.saturating_since(since) >= CLOSE_WATCH {
                            app.outcome = Some(ConnOutcome::Ok);
                            app.finished = Some(now);
                            s.close();
                        }
                        continue;
                    }
                    while app.written < app.total && s.can_send() {
                        let n = (app.total - app.written).min(self.scratch.len() as u64) as usize;
                        let sent = s.send_slice(&self.scratch[..n]).unwrap_or(0);
                        if sent == 0 {
                            break;
                        }
                        app.written += sent as u64;
                        wrote = true;
                    }
                    let acked = app.written - s.send_queue() as u64;
                    if acked > app.progress.0 {
                        app.progress = (acked, now);
                    }
                    if app.written == app.total && s.send_queue() == 0 {
                        app.finished = Some(now);
                        app.outcome = Some(ConnOutcome::Ok);
                        s.close();
                    } else if now.saturating_since(app.progress.1) >= STALL {
                        app.outcome = Some(ConnOutcome::Timeout);
                        s.abort();
                    } else if s.state() == tcp::State::Closed {
                        app.outcome = Some(ConnOutcome::Refused("connection reset during transfer".into()));
                    }
                }
                _ => {
                    let s = self.sockets.get_mut::<udp::Socket>(app.handle);
                    if app.outcome.is_none() {
                        if let Ok((_, meta)) = s.recv_slice(&mut self.scratch) {
                            let _ = from_smol(meta.endpoint.addr);
                            app.outcome = Some(ConnOutcome::Ok);
                            app.finished = Some(now);
                        } else if now.saturating_since(app.started) >= CONNECT_TIMEOUT {
                            app.outcome = Some(ConnOutcome::Timeout);
                        }
                    }
                }
            }
        }
        wrote
    }

    /// How many sockets the socket set holds.
    pub fn sockets_open(&self) -> usize {
        self.sockets.iter().count()
    }

    /// The bytes acknowledged so far by application `i`.
    pub fn acked(&self, i: usize) -> u64 {
        self.apps.get(i).map_or(0, |a| a.progress.0)
    }

    /// When the next application deadline falls (connect timeout, the end of a
    /// connect's watch, stall check, a docker-proxy dial giving up).
    pub fn app_deadline(&self) -> Option<SimTime> {
        self.apps
            .iter()
            .filter(|a| a.outcome.is_none())
            .map(|a| match a.connected {
                None => a.started + CONNECT_TIMEOUT,
                Some(at) if a.total == 0 => at + CLOSE_WATCH,
                Some(_) => a.progress.1 + STALL,
            })
            .chain(self.proxy_deadline())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    /// A client on `a` connects to an echo listener on `b`; `after` runs once on `b`
    /// when its side of the connection is established. Returns the client's outcome.
    fn connect_with(after: impl Fn(&mut Stack)) -> (ConnOutcome, SimTime) {
        let mut now = SimTime::ZERO;
        let mut a = Stack::new(&[(A, 24)], 1500, now);
        let mut b = Stack::new(&[(B, 24)], 1500, now);
        b.listen(Listen {
            l4: L4::Tcp,
            addr: None,
            port: 80,
        });
        let app = a.start_tcp(A, B, 80, 0, now);
        let mut done = false;
        while a.apps[app].outcome.is_none() {
            let mut moved = false;
            for p in a.poll(now) {
                let syn = crate::net::parse_ip(&p)
                    .and_then(|i| i.tcp_flags)
                    .is_some_and(|f| f & 0x12 == 0x02);
                b.receive(p, L4::Tcp, 80, syn);
                moved = true;
            }
            for p in b.poll(now) {
                a.receive(p, L4::Tcp, a.apps[app].local_port, false);
                moved = true;
            }
            let established = b
                .listen_socks
                .iter()
                .any(|&(h, _)| b.sockets.get::<tcp::Socket>(h).state() == tcp::State::Established);
            if established && !done {
                after(&mut b);
                done = true;
            }
            if !moved {
                now = [a.poll_at(now), a.app_deadline()]
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > now)
                    .min()
                    .unwrap_or(now + SimDuration::from_millis(1));
            }
        }
        (a.apps[app].outcome.clone().unwrap_or(ConnOutcome::Timeout), now)
    }

    #[test]
    fn an_open_connection_is_ok_after_the_watch() {
        // Proves an echo listener that keeps the connection open stays `ok`, decided at
        // the end of the 200 ms watch.
        let (o, at) = connect_with(|_| {});
        assert_eq!(o, ConnOutcome::Ok);
        assert!(at >= SimTime::ZERO + CLOSE_WATCH, "decided at {at}");
    }

    #[test]
    fn a_reset_after_the_handshake_is_closed() {
        let (o, _) = connect_with(|b| {
            for &(h, _) in &b.listen_socks {
                b.sockets.get_mut::<tcp::Socket>(h).abort();
            }
        });
        assert!(
            matches!(o, ConnOutcome::Closed(ref w) if w.contains("RST")),
            "{o:?}"
        );
    }

    #[test]
    fn a_fin_after_the_handshake_is_closed() {
        let (o, at) = connect_with(|b| {
            for &(h, _) in &b.listen_socks {
                b.sockets.get_mut::<tcp::Socket>(h).close();
            }
        });
        assert!(
            matches!(o, ConnOutcome::Closed(ref w) if w.contains("FIN")),
            "{o:?}"
        );
        assert!(
            at < SimTime::ZERO + CLOSE_WATCH,
            "known at the close, not at the watch's end"
        );
    }

    #[test]
    fn with_every_port_taken_a_connect_fails_at_once() {
        // docker-proxy's UDP connections take ephemeral ports of the host; once every
        // one is held, the host's own UDP socket fails as Linux's autobind does
        // (EAGAIN) rather than searching forever, and works again once one is free.
        let now = SimTime::ZERO;
        let mut s = Stack::new(&[(A, 24)], 1500, now);
        let mut held = 0;
        while s.bind_udp_port(|_| false).is_some() {
            held += 1;
        }
        assert_eq!(held, usize::from(EPHEMERAL.1 - EPHEMERAL.0) + 1);
        let app = s.start_udp(A, B, 53, now);
        assert!(
            matches!(s.apps[app].outcome, Some(ConnOutcome::Refused(ref w)) if w.contains("temporarily unavailable")),
            "{:?}",
            s.apps[app].outcome
        );
        s.release_udp_port(50000);
        let app = s.start_udp(A, B, 53, now);
        assert_eq!(s.apps[app].local_port, 50000);
        assert_eq!(s.apps[app].outcome, None, "sent, waiting for its answer");
    }
}
