//! Work inside a real namespace from this process: a thread that enters the namespace
//! (`setns`, which changes only the calling thread) and then opens sockets there. A
//! socket stays in the namespace it was opened in, whichever thread uses it later: the
//! echo listeners and name servers of every machine are opened during set-up, inside
//! each namespace, and then served by one thread for all of them ([`Servers`]). The
//! probes of `connect` and `transfer` steps run on a thread inside the sender's
//! namespace, which the step stops waiting for as soon as the run is interrupted.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netloom_drivers::host::Listen;
use netloom_drivers::net::L4;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};

use super::STOP;

/// Runs `f` on a new thread inside namespace `ns` (a `/run/netns` path) and waits —
/// but not past an interruption ([`STOP`]): then the thread is left to finish on its
/// own (every probe has a time limit of its own) and the answer is an error.
///
/// # Errors
/// When the namespace cannot be entered, or the run was interrupted.
pub fn run_in<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let ns = ns.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(enter(&ns).map(|()| f()));
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(r) => return r,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err("a thread inside the namespace panicked".into());
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if STOP.load(Ordering::Relaxed) => {
                return Err("interrupted".into());
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn enter(ns: &PathBuf) -> Result<(), String> {
    let f = std::fs::File::open(ns).map_err(|e| format!("{}: {e}", ns.display()))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {}: {e}", ns.display()))
}

/// A socket a machine serves on: opened inside its namespace during set-up.
pub enum ServerSocket {
    /// A TCP echo listener.
    Tcp(TcpListener),
    /// A UDP echo socket.
    Udp(UdpSocket),
    /// A name server on UDP port 53 answering from its zone.
    Dns(UdpSocket, Arc<netloom_drivers::dns::Zone>),
    /// Docker's embedded DNS at 127.0.0.11:53 inside a container's namespace: names
    /// from the lab's live directory, the rest relayed upstream from the namespace.
    Embedded(UdpSocket, Arc<Upstream>),
}

/// How an embedded server relays what it does not know: the container's settings and
/// its namespace (relayed queries leave from there, as the container's own would).
pub struct Upstream {
    embedded: netloom_drivers::router::Embedded,
    ns: PathBuf,
}

/// Opens Docker's embedded DNS address, 127.0.0.11:53 (UDP), in the calling thread's
/// namespace, whose path is `ns`.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind_embedded(embedded: netloom_drivers::router::Embedded, ns: &Path) -> Result<ServerSocket, String> {
    let at = SocketAddr::from((netloom_drivers::dns::EMBEDDED, 53));
    let s = UdpSocket::bind(at).map_err(|e| format!("embedded DNS on udp {at}: {e}"))?;
    Ok(ServerSocket::Embedded(
        s,
        Arc::new(Upstream {
            embedded,
            ns: ns.to_path_buf(),
        }),
    ))
}

/// The lab's directory as the serving thread reads it.
pub type LiveDirectory = Arc<std::sync::RwLock<Arc<netloom_drivers::dns::Directory>>>;

/// Opens the echo listeners of a machine in the calling thread's namespace.
///
/// # Errors
/// When a listener cannot bind, naming it.
pub fn bind_listeners(listens: &[Listen], v6: bool) -> Result<Vec<ServerSocket>, String> {
    let mut out = Vec::new();
    for l in listens {
        let ip = l.addr.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        let at = SocketAddr::new(ip, l.port);
        out.push(match l.l4 {
            L4::Udp => ServerSocket::Udp(UdpSocket::bind(at).map_err(|e| format!("listen udp {at}: {e}"))?),
            _ => ServerSocket::Tcp(TcpListener::bind(at).map_err(|e| format!("listen tcp {at}: {e}"))?),
        });
    }
    Ok(out)
}

/// Opens UDP port 53 on every address of the calling thread's namespace, to answer
/// from `zone` (an external's `dns_records`): A and AAAA from the records, NXDOMAIN
/// for other names.
///
/// # Errors
/// When port 53 cannot be bound.
pub fn bind_zone(zone: netloom_drivers::dns::Zone, v6: bool) -> Result<ServerSocket, String> {
    let at: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 53).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 53).into()
    };
    let s = UdpSocket::bind(at).map_err(|e| format!("name server on udp/53: {e}"))?;
    Ok(ServerSocket::Dns(s, Arc::new(zone)))
}

/// One thread serving every machine's sockets (and a thread per accepted TCP
/// connection, echoing). Dropping it stops them all and closes the sockets, so that
/// nothing of this process holds the namespaces any more.
pub struct Servers {
    stop: Arc<AtomicBool>,
    /// Written to on drop: wakes the serving thread at once.
    wake: Option<std::os::fd::OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Servers {
    /// Starts serving `sockets` (none: no thread at all).
    ///
    /// # Errors
    /// When a socket cannot be made non-blocking.
    pub fn start(sockets: Vec<ServerSocket>, directory: LiveDirectory) -> Result<Servers, String> {
        let stop = Arc::new(AtomicBool::new(false));
        if sockets.is_empty() {
            return Ok(Servers {
                stop,
                wake: None,
                thread: None,
            });
        }
        let (wake_rx, wake_tx) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        for s in &sockets {
            match s {
                ServerSocket::Tcp(l) => l.set_nonblocking(true),
                ServerSocket::Udp(u) | ServerSocket::Dns(u, _) | ServerSocket::Embedded(u, _) => {
                    u.set_nonblocking(true)
                }
            }
            .map_err(|e| format!("listener: {e}"))?;
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || serve(&sockets, &directory, &wake_rx, &flag));
        Ok(Servers {
            stop,
            wake: Some(wake_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = &self.wake {
            let _ = nix::unistd::write(w, &[1u8]);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Longest a server or echo thread sleeps before it looks at its stop flag.
const SERVER_TICK: Duration = Duration::from_millis(20);

fn serve(
    sockets: &[ServerSocket],
    directory: &LiveDirectory,
    wake: &std::os::fd::OwnedFd,
    stop: &Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65536];
    let mut conns: Vec<std::thread::JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|s| {
                let fd = match s {
                    ServerSocket::Tcp(l) => l.as_fd(),
                    ServerSocket::Udp(u) | ServerSocket::Dns(u, _) | ServerSocket::Embedded(u, _) => {
                        u.as_fd()
                    }
                };
                PollFd::new(fd, PollFlags::POLLIN)
            })
            .chain(std::iter::once(PollFd::new(wake.as_fd(), PollFlags::POLLIN)))
            .collect();
        if poll(&mut fds, PollTimeout::NONE).unwrap_or(0) <= 0 {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect();
        drop(fds);
        for (s, _) in sockets.iter().zip(ready).filter(|(_, r)| *r) {
            match s {
                ServerSocket::Tcp(l) => {
                    while let Ok((conn, _)) = l.accept() {
                        let flag = Arc::clone(stop);
                        conns.push(std::thread::spawn(move || echo(conn, &flag)));
                    }
                }
                ServerSocket::Udp(u) => {
                    while let Ok((n, from)) = u.recv_from(&mut buf) {
                        let _ = u.send_to(&buf[..n], from);
                    }
                }
                ServerSocket::Dns(u, zone) => {
                    while let Ok((n, from)) = u.recv_from(&mut buf) {
                        if let Some(answer) = answer(zone, &buf[..n]) {
                            let _ = u.send_to(&answer, from);
                        }
                    }
                }
                ServerSocket::Embedded(u, up) => {
                    while let Ok((n, from)) = u.recv_from(&mut buf) {
                        let dir = directory.read().map(|d| Arc::clone(&d)).ok();
                        if let Some(dir) = dir {
                            embedded_answer(u, up, &dir, &buf[..n], from, stop, &mut conns);
                        }
                    }
                }
            }
        }
        conns.retain(|c| !c.is_finished());
    }
    for c in conns {
        let _ = c.join();
    }
}

fn answer(zone: &netloom_drivers::dns::Zone, query: &[u8]) -> Option<Vec<u8>> {
    use netloom_drivers::dns;
    let q = dns::parse(query).filter(|m| !m.response)?;
    let (rcode, addrs) = match netloom_drivers::dns::zone_lookup(zone, &q.name) {
        Some(a) => (dns::Rcode::NoError, a.clone()),
        None => (dns::Rcode::NxDomain, Vec::new()),
    };
    Some(dns::reply(&q, rcode, &addrs, 300, true))
}

/// Answers a query to the embedded server: from the directory, or (an unknown name
/// with upstream servers) on a thread of its own that relays it from the container's
/// namespace, trying the servers in turn, SERVFAIL when none answers — as the model's
/// embedded server decides ([`Embedded::verdict`](netloom_drivers::router::Embedded::verdict)).
fn embedded_answer(
    u: &UdpSocket,
    up: &Arc<Upstream>,
    dir: &netloom_drivers::dns::Directory,
    query: &[u8],
    from: SocketAddr,
    stop: &Arc<AtomicBool>,
    threads: &mut Vec<std::thread::JoinHandle<()>>,
) {
    use netloom_drivers::dns::{self, Rcode};
    use netloom_drivers::router::Verdict;
    let Some(q) = dns::parse(query).filter(|m| !m.response) else {
        return;
    };
    let reply = match up.embedded.verdict(dir, &q.name, q.qtype) {
        Verdict::Found { addrs, .. } => dns::reply(&q, Rcode::NoError, &addrs, dns::EMBEDDED_TTL, false),
        Verdict::KeptLocal => dns::reply(&q, Rcode::NoError, &[], 0, false),
        Verdict::NoUpstream { world: true } => dns::reply(&q, Rcode::NxDomain, &[], 0, false),
        Verdict::NoUpstream { world: false } => dns::reply(&q, Rcode::ServFail, &[], 0, false),
        Verdict::Forward => {
            let (Ok(back), up, query) = (u.try_clone(), Arc::clone(up), query.to_vec()) else {
                return;
            };
            let flag = Arc::clone(stop);
            threads.push(std::thread::spawn(move || {
                let answer = relay(&up, &query, &flag)
                    .unwrap_or_else(|| dns::reply(&q, Rcode::ServFail, &[], 0, false));
                let _ = back.send_to(&answer, from);
            }));
            return;
        }
    };
    let _ = u.send_to(&reply, from);
}

/// Relays `query` to the upstream servers from the container's namespace: the first
/// answer, or `None` when none came.
fn relay(up: &Upstream, query: &[u8], stop: &AtomicBool) -> Option<Vec<u8>> {
    enter(&up.ns).ok()?;
    let id = query.get(..2)?;
    let wait = Duration::from_nanos(netloom_drivers::dns::FORWARD_TIMEOUT.as_nanos());
    let stubs = &up.embedded.host_stub;
    for server in up
        .embedded
        .upstream
        .iter()
        .take(netloom_drivers::dns::MAX_UPSTREAM)
    {
        if server.is_loopback() {
            // The container's own loopback serves nothing; the host's stub resolver's
            // upstreams are outside the lab, which knows no such name.
            if stubs.contains(server)
                && let Some(q) = netloom_drivers::dns::parse(query)
            {
                return Some(netloom_drivers::dns::reply(
                    &q,
                    netloom_drivers::dns::Rcode::NxDomain,
                    &[],
                    0,
                    false,
                ));
            }
            continue;
        }
        let local: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(local) else { continue };
        if s.connect((*server, 53)).is_err() || s.send(query).is_err() {
            continue;
        }
        let _ = s.set_read_timeout(Some(SERVER_TICK));
        let until = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            match s.recv(&mut buf) {
                Ok(n) if buf.get(..2) == Some(id) => return Some(buf[..n].to_vec()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break, // refused: the next server
            }
        }
    }
    None
}

fn echo(mut conn: TcpStream, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(SERVER_TICK));
    let _ = conn.set_write_timeout(Some(SERVER_TICK));
    let idle = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let n = match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if idle(&e) => continue,
            Err(_) => return,
        };
        let mut off = 0;
        while off < n {
            match conn.write(&buf[off..n]) {
                Ok(0) => return,
                Ok(k) => off += k,
                Err(e) if idle(&e) && !stop.load(Ordering::Relaxed) => {}
                Err(_) => return,
            }
        }
    }
}

/// How a connection attempt ended, as the `connect` step words it.
pub enum Probe {
    /// It worked (UDP: an answer came).
    Ok(Duration),
    /// RST, ICMP unreachable or no route: the error text.
    Refused(String),
    /// Nothing came back in time.
    Timeout,
    /// TCP: connected, then the peer closed (FIN or RST) within the watch, before any data.
    Closed(String),
}

/// A TCP connect (or a UDP probe waiting for its echo) to `to`, at most 3 s.
pub fn connect(to: SocketAddr, l4: L4) -> Probe {
    let start = Instant::now();
    let limit = Duration::from_secs(3);
    match l4 {
        L4::Udp => {
            let local: SocketAddr = if to.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = match UdpSocket::bind(local).and_then(|s| s.connect(to).map(|_| s)) {
                Ok(s) => s,
                Err(e) => return Probe::Refused(e.to_string()),
            };
            let _ = s.set_read_timeout(Some(limit));
            if let Err(e) = s.send(b"netloom probe\n") {
                return Probe::Refused(e.to_string());
            }
            let mut buf = [0u8; 64];
            match s.recv(&mut buf) {
                Ok(_) => Probe::Ok(start.elapsed()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Probe::Timeout
                }
                Err(e) => Probe::Refused(e.to_string()),
            }
        }
        _ => match TcpStream::connect_timeout(&to, limit) {
            Ok(mut s) => {
                // Watch as `run` does (CLOSE_WATCH): docker-proxy accepts, then closes.
                let took = start.elapsed();
                let watch = Duration::from_nanos(netloom_drivers::host::CLOSE_WATCH.as_nanos());
                let _ = s.set_read_timeout(Some(watch));
                let mut buf = [0u8; 64];
                let seen = match s.read(&mut buf) {
                    Ok(0) => Probe::Closed(format!(
                        "the peer closed the connection with FIN {:?} after the handshake",
                        start.elapsed() - took
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Probe::Closed(format!(
                        "the peer closed the connection with RST {:?} after the handshake",
                        start.elapsed() - took
                    )),
                    _ => Probe::Ok(took),
                };
                let _ = s.shutdown(Shutdown::Both);
                seen
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Probe::Timeout,
            Err(e) => Probe::Refused(e.to_string()),
        },
    }
}

/// Sends `bytes` over TCP to `to` (an echo listener) and reads them back; returns the
/// bytes that came back and the time from connect to the last one.
pub fn transfer(to: SocketAddr, bytes: u64) -> Result<(u64, Duration), String> {
    let start = Instant::now();
    let s = TcpStream::connect_timeout(&to, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    // A stalled path (an MTU blackhole) must end the step, not block it until the
    // kernel gives up on the connection a quarter of an hour later.
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let mut reader = s.try_clone().map_err(|e| e.to_string())?;
    let back = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        while got < bytes {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        got
    });
    let mut w = s;
    let chunk = vec![0x5au8; 256 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    let got = back.join().unwrap_or(0);
    let _ = w.shutdown(Shutdown::Both);
    Ok((got, start.elapsed()))
}
