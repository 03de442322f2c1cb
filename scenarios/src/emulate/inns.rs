//! Work inside a real namespace from this process: a thread that enters the namespace
//! (`setns`, which changes only the calling thread) and then opens sockets there — the
//! echo listeners of a machine, and the probes of `connect` and `transfer` steps.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netloom_drivers::host::Listen;
use netloom_drivers::net::L4;
use nix::sched::{CloneFlags, setns};

/// Runs `f` on a new thread inside namespace `ns` (a `/run/netns` path) and waits.
///
/// # Errors
/// When the namespace cannot be entered.
pub fn run_in<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        enter(&ns)?;
        Ok(f())
    })
    .join()
    .map_err(|_| "a thread inside the namespace panicked".to_string())?
}

fn enter(ns: &PathBuf) -> Result<(), String> {
    let f = std::fs::File::open(ns).map_err(|e| format!("{}: {e}", ns.display()))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {}: {e}", ns.display()))
}

/// Runs a server on a thread inside `ns`: `serve` binds, reports through `ready`
/// (`Ok` once listening, or why not), then serves for the life of the process. Waits for
/// the report.
fn serve_in(
    ns: &Path,
    serve: impl FnOnce(&std::sync::mpsc::Sender<Result<(), String>>) + Send + 'static,
) -> Result<(), String> {
    let ns = ns.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || match enter(&ns) {
        Err(e) => {
            let _ = tx.send(Err(e));
        }
        Ok(()) => serve(&tx),
    });
    rx.recv_timeout(Duration::from_secs(5))
        .map_err(|_| "a server inside the namespace did not start".to_string())?
}

/// Starts the echo listeners of a machine inside `ns`, each on a thread of its own
/// that lives as long as the process (a stopped run's process exits).
///
/// # Errors
/// When a listener cannot bind, naming it.
pub fn start_listeners(ns: &Path, listens: &[Listen], v6: bool) -> Result<(), String> {
    for &l in listens {
        serve_in(ns, move |tx| {
            let ip = l.addr.unwrap_or(if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            });
            let at = SocketAddr::new(ip, l.port);
            match l.l4 {
                L4::Udp => match UdpSocket::bind(at) {
                    Ok(s) => {
                        let _ = tx.send(Ok(()));
                        let mut buf = vec![0u8; 65536];
                        while let Ok((n, from)) = s.recv_from(&mut buf) {
                            let _ = s.send_to(&buf[..n], from);
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("listen udp {at}: {e}")));
                    }
                },
                _ => match TcpListener::bind(at) {
                    Ok(s) => {
                        let _ = tx.send(Ok(()));
                        for conn in s.incoming().flatten() {
                            std::thread::spawn(move || echo(conn));
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("listen tcp {at}: {e}")));
                    }
                },
            }
        })?;
    }
    Ok(())
}

/// Serves `zone` on UDP port 53 of every address inside `ns` (an external's
/// `dns_records`): A and AAAA from the records, NXDOMAIN for other names.
///
/// # Errors
/// When port 53 cannot be bound.
pub fn start_zone(ns: &Path, zone: netloom_drivers::dns::Zone, v6: bool) -> Result<(), String> {
    use netloom_drivers::dns;
    serve_in(ns, move |tx| {
        let at: SocketAddr = if v6 {
            (Ipv6Addr::UNSPECIFIED, 53).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 53).into()
        };
        let s = match UdpSocket::bind(at) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(format!("name server on udp/53: {e}")));
                return;
            }
        };
        let _ = tx.send(Ok(()));
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let Some(q) = dns::parse(&buf[..n]).filter(|m| !m.response) else {
                continue;
            };
            let (rcode, addrs) = match zone.get(&q.name) {
                Some(a) => (dns::Rcode::NoError, a.clone()),
                None => (dns::Rcode::NxDomain, Vec::new()),
            };
            let _ = s.send_to(&dns::reply(&q, rcode, &addrs, 300, true), from);
        }
    })
}

fn echo(mut conn: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
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
