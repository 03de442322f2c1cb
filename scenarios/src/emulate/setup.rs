//! Building the real side of a run: per machine, a namespace with its TAPs (born inside
//! with their final names — moving a device between namespaces costs an RCU grace
//! period), IPv6 off where the model has none (as Docker does), links, addresses and
//! routes over netlink, the sockets it serves on, and its `/etc/netns` files.
//!
//! A few threads share the machines; each enters one new namespace after another
//! (`unshare` moves only the calling thread) and does all of a machine's work there,
//! its netlink requests in one message. No other process is started, so nothing
//! outlives this one: a run killed half-way leaves only what its record names.

use std::sync::atomic::{AtomicBool, Ordering};

use netloom_core::{ElemId, PortId};
use netloom_drivers::docker::EmuMachine;
use netloom_drivers::tap::Tap;

use super::inns::{self, ServerSocket};
use super::netlink::{Batch, LinkSettings};
use super::registry::RunRecord;
use super::{STOP, StartError, netns};

/// What set-up made that this process keeps: the TAPs with their place in the
/// fabric, and the sockets to serve.
pub struct Built {
    /// Each TAP, with the element and port it attaches to.
    pub taps: Vec<(Tap, ElemId, PortId)>,
    /// Echo listeners and name servers, opened inside their namespaces.
    pub sockets: Vec<ServerSocket>,
}

/// Builds every machine of `record`. On failure or interruption, what this function
/// made is left for the caller's guard, which deletes every namespace the record names.
///
/// # Errors
/// [`StartError::Interrupted`] when a stop signal arrived; otherwise the first
/// failure, naming the machine.
pub fn build(
    record: &RunRecord,
    machines: &[EmuMachine],
    progress: &indicatif::ProgressBar,
) -> Result<Built, StartError> {
    // Twice the cores: much of a namespace's making is waiting on kernel locks (on a
    // 2-core machine, 4 threads made 1,000 in 0.51 s, 2 in 0.56 s, 1 in 0.66 s).
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8)
        .min(machines.len().max(1));
    let per = machines.len().div_ceil(workers).max(1);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<Vec<MachineBuilt>, StartError>> = std::thread::scope(|s| {
        let handles: Vec<_> = machines
            .chunks(per)
            .map(|chunk| {
                let failed = &failed;
                s.spawn(move || {
                    let mut out = Vec::with_capacity(chunk.len());
                    for m in chunk {
                        if STOP.load(Ordering::Relaxed) {
                            return Err(StartError::Interrupted);
                        }
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let ns = record.namespace_of(&m.name).unwrap_or_default();
                        match build_one(&record.id, m, ns) {
                            Ok(b) => {
                                let taps: Vec<&str> = m.ifaces.iter().map(|i| i.name.as_str()).collect();
                                tracing::info!("{}: namespace {ns} made, TAPs {}", m.name, taps.join(", "));
                                progress.inc(1);
                                out.push(b);
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(StartError::Failed(format!("{}: {e}", m.name)));
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StartError::Failed("a set-up thread panicked".into())))
            })
            .collect()
    });
    let mut built = Built {
        taps: Vec::new(),
        sockets: Vec::new(),
    };
    let mut first_error = None;
    for r in results {
        match r {
            Ok(v) => {
                for b in v {
                    built.taps.extend(
                        b.taps
                            .into_iter()
                            .enumerate()
                            .map(|(p, t)| (t, b.element, p as PortId)),
                    );
                    built.sockets.extend(b.sockets);
                }
            }
            // An interruption wins over the failures it may have caused.
            Err(StartError::Interrupted) => first_error = Some(StartError::Interrupted),
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
        }
    }
    if STOP.load(Ordering::Relaxed) {
        return Err(StartError::Interrupted);
    }
    first_error.map_or(Ok(built), Err)
}

/// One machine's share of the set-up.
struct MachineBuilt {
    element: ElemId,
    taps: Vec<Tap>,
    sockets: Vec<ServerSocket>,
}

/// Builds machine `m` as namespace `ns`; the calling thread ends up inside it.
fn build_one(id: &str, m: &EmuMachine, ns: &str) -> Result<MachineBuilt, String> {
    netns::create_here(id, ns)?;
    let mut taps = Vec::with_capacity(m.ifaces.len());
    for i in &m.ifaces {
        let t = Tap::create_with(&i.name, true).map_err(|e| e.to_string())?;
        // Persistent: the device goes with its namespace, which the kernel tears down
        // with all its devices at once — closing TAPs one by one costs a grace period each.
        t.set_persist(true).map_err(|e| e.to_string())?;
        taps.push(t);
    }
    let mut b = Batch::new();
    b.link_up(
        &LinkSettings {
            index: 1,
            mac: None,
            mtu: None,
            noarp: false,
        },
        "set lo up".into(),
    );
    let mut index = Vec::with_capacity(m.ifaces.len());
    for i in &m.ifaces {
        let ix = nix::net::if_::if_nametoindex(i.name.as_str()).map_err(|e| format!("{}: {e}", i.name))?;
        index.push(ix);
        if i.v6.is_empty() {
            // Docker disables IPv6 on an interface whose network has none (moby's
            // setIPv6, osl/interface_linux.go: disable_ipv6=1) before it goes up. The
            // same silence — no link-local address, so no duplicate address
            // detection, router solicitation or MLD report flooding the network — comes
            // over netlink with address generation off: the sysctl file's path would
            // be walked through /proc/sys/net, whose entries all namespaces share, at a
            // cost that grows with the number of namespaces.
            b.no_ipv6_link_local(ix, format!("addrgenmode none on {}", i.name));
        }
        b.link_up(
            &LinkSettings {
                index: ix,
                mac: Some(i.mac),
                mtu: Some(i.mtu),
                noarp: i.noarp,
            },
            format!("set {} up (mtu {})", i.name, i.mtu),
        );
        for a in &i.v4 {
            b.address(
                ix,
                a.addr().into(),
                a.prefix_len(),
                format!("address {a} on {}", i.name),
            );
        }
        for a in &i.v6 {
            b.address(
                ix,
                a.addr().into(),
                a.prefix_len(),
                format!("address {a} on {}", i.name),
            );
        }
    }
    for (net, via, port) in &m.routes {
        let (Some(ix), Some(i)) = (index.get(*port), m.ifaces.get(*port)) else {
            return Err(format!("route {net}: no interface {port}"));
        };
        let via_text = via.map_or(String::new(), |v| format!(" via {v}"));
        b.route(
            *ix,
            net.network(),
            net.prefix_len(),
            *via,
            format!("route {net}{via_text} dev {}", i.name),
        );
    }
    b.commit()?;
    let v6 = m.ifaces.iter().any(|i| !i.v6.is_empty());
    let mut sockets = inns::bind_listeners(&m.listens, v6)?;
    if let Some(zone) = &m.zone {
        sockets.push(inns::bind_zone(zone.clone(), v6)?);
    }
    if let Some(emb) = &m.embedded {
        sockets.push(inns::bind_embedded(emb.clone(), &netns::netns_path(ns))?);
    }
    let resolv = m.resolv.render();
    if m.hosts.is_empty() {
        netns::write_etc(id, ns, &[("resolv.conf", resolv.as_str())])?;
    } else {
        // As Docker writes /etc/hosts: localhost, then the `--add-host` lines.
        let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (name, addr) in &m.hosts {
            hosts.push_str(&format!("{addr}\t{name}\n"));
        }
        netns::write_etc(
            id,
            ns,
            &[("resolv.conf", resolv.as_str()), ("hosts", hosts.as_str())],
        )?;
    }
    Ok(MachineBuilt {
        element: m.element,
        taps,
        sockets,
    })
}
