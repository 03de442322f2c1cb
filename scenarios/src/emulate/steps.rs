//! The file's steps against the live network, with real programs: `ping` and
//! `getent` started inside the sender's namespace, sockets opened inside the
//! namespaces, `exec` as the user's shell command; `link` and `container` changes go
//! to the forwarding loop. A stop signal ends the running step within milliseconds
//! (its programs killed, its waits cut short); it and the steps after it are reported
//! as not run.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use netloom_core::{DropReason, ElemId, EventKind, FrameId, TraceEvent};
use netloom_drivers::docker::{EmuMachine, Lab};
use netloom_drivers::tap::{Command as LiveCommand, Live, LiveHandle};

use super::child::{self, Ran};
use super::netns::netns_path;
use super::registry::RunRecord;
use super::{STOP, inns};
use crate::format::Outcome;
use crate::runner::{Status, StepReport};
use crate::validate::{Loaded, Op, PlannedStep, To};

/// What the steps need to know about the network, gathered before it runs.
pub struct Plan {
    /// Machine → namespace (real machines only).
    namespaces: Vec<(String, String)>,
    /// Every named machine's address (first interface), for targets given by name.
    addresses: Vec<(String, IpAddr)>,
    /// Names that are containers or aliases (looked up with DNS from the sender).
    dns_names: BTreeSet<String>,
    /// Container names (from outside Docker, shorthand for the container's address).
    containers: BTreeSet<String>,
    /// Real machine → its element in the fabric (the [`TapPort`] whose frames are
    /// the ones its namespace sent).
    ///
    /// [`TapPort`]: netloom_drivers::tap::TapPort
    elements: Vec<(String, netloom_core::ElemId)>,
}

impl Plan {
    /// Gathers names and addresses from the lab and the run's namespaces.
    pub fn new(loaded: &Loaded, lab: &Lab, record: &RunRecord, machines: &[EmuMachine]) -> Plan {
        let m = &loaded.model;
        let mut addresses = Vec::new();
        for name in m
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .chain(m.routers.iter().map(|r| r.name.clone()))
        {
            let id = lab.node(&name);
            let a = id.and_then(|_| first_address_modelled(lab, &name));
            if let Some(a) = a {
                addresses.push((name, a));
            }
        }
        for e in &m.externals {
            addresses.push((e.name.clone(), e.address.addr()));
        }
        for mach in machines {
            if let Some(a) = mach
                .ifaces
                .iter()
                .find_map(|i| i.v4.first().map(|n| IpAddr::V4(n.addr())))
            {
                addresses.push((mach.name.clone(), a));
            }
        }
        // A host-network container has its host's address; any other container its first
        // endpoint's.
        for (ci, c) in m.containers.iter().enumerate() {
            if addresses.iter().any(|(n, _)| n == &c.name) {
                continue;
            }
            let a = if c.networks.iter().any(|e| e.network == "host") {
                let host = c.host.clone().unwrap_or_else(|| m.default_host());
                addresses.iter().find(|(n, _)| *n == host).map(|(_, a)| *a)
            } else {
                lab.resolved.endpoints[ci]
                    .iter()
                    .find_map(|e| e.v4.map(IpAddr::V4))
            };
            if let Some(a) = a {
                addresses.push((c.name.clone(), a));
            }
        }
        let containers = m.containers.iter().map(|c| c.name.clone()).collect();
        let mut dns_names = BTreeSet::new();
        for c in &m.containers {
            dns_names.insert(c.name.clone());
            for e in &c.networks {
                dns_names.extend(e.aliases.iter().cloned());
            }
            // `/etc/hosts` names: the namespace's own resolver reads them.
            dns_names.extend(c.extra_hosts.iter().map(|h| h.name.clone()));
        }
        Plan {
            namespaces: record.namespaces.clone(),
            addresses,
            dns_names,
            containers,
            elements: machines.iter().map(|m| (m.name.clone(), m.element)).collect(),
        }
    }

    fn ns(&self, machine: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(m, _)| m == machine)
            .map(|(_, n)| n.as_str())
    }

    fn address(&self, name: &str) -> Option<IpAddr> {
        self.addresses.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }
}

fn first_address_modelled(lab: &Lab, name: &str) -> Option<IpAddr> {
    let id = lab.node(name)?;
    let _ = id;
    lab.resolved
        .model
        .hosts
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| h.interfaces.iter().find_map(|i| i.address.map(|a| a.addr())))
        .or_else(|| {
            lab.resolved
                .model
                .routers
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.interfaces.iter().find_map(|i| i.address.map(|a| a.addr())))
        })
}

/// Runs every step in order. On a stop signal, the running step ends at once and is
/// reported, with every step after it, as not run; the flag says so.
pub fn run_all(plan: &Plan, steps: &[PlannedStep], live: &LiveHandle) -> (Vec<StepReport>, bool) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if STOP.load(Ordering::Relaxed) {
            out.extend(not_run(&steps[i..], i));
            return (out, true);
        }
        let start = t0.elapsed();
        if let Some(machine) = modelled_sender(plan, step) {
            // The engine's own model of the machine runs the step, in real time, and
            // `run`'s checks decide it (its drops, `on_wire`, the explanation).
            let mut r = run_on_model(step, machine, live);
            if STOP.load(Ordering::Relaxed) {
                out.extend(cut_short(steps, i));
                return (out, true);
            }
            r.index = i + 1;
            r.start_ns = start.as_nanos() as u64;
            r.duration_ns = (t0.elapsed() - start).as_nanos() as u64;
            crate::logs::live_step_done(&r);
            out.push(r);
            continue;
        }
        let since = drops_since(live, u64::MAX).0;
        // Where the step's engine events begin (for the diagnosis of a failure).
        let events_from = ask_live(live, |l: &mut Live| l.lab.fabric.trace().events.len()).unwrap_or(0);
        let wire = match (&step.expect.on_wire, sender_element(plan, step)) {
            (Some(_), Some(elem)) => ask_live(live, |l: &mut Live| l.begin_wire()).map(|s| (s, elem)),
            _ => None,
        };
        let mut r = run_step(plan, step, live);
        if let Some(w) = &step.expect.on_wire {
            // `run`'s check over the step's hops: the requests are the frames the
            // sender's TAP brought in.
            let w = w.clone();
            let resolve = matches!(step.op, Op::Resolve { .. });
            let checked = wire.and_then(|(start, elem)| {
                ask_live(live, move |l: &mut Live| {
                    let events = &l.lab.fabric.trace().events;
                    let start = start.min(events.len());
                    let requests = wire_requests(&events[start..], elem, resolve);
                    let failure = crate::runner::check_wire(&l.lab, start, &w, &requests);
                    let trace = if failure.is_some() {
                        crate::runner::explain(&l.lab, start, Some(elem))
                    } else {
                        Vec::new()
                    };
                    l.end_wire();
                    (failure, trace)
                })
            });
            match checked {
                Some((Some(f), trace)) => {
                    r.failures.push(f);
                    r.trace = trace;
                }
                Some((None, _)) => {}
                None => r
                    .failures
                    .push("on_wire: the forwarding loop did not answer".into()),
            }
        }
        if STOP.load(Ordering::Relaxed) {
            // What it saw was cut short: no verdict from it.
            out.extend(cut_short(steps, i));
            return (out, true);
        }
        if r.status == Status::Skipped {
            r.index = i + 1;
            out.push(r);
            continue;
        }
        let mut drops = drops_since(live, since).1;
        if drops.is_empty()
            && let Some(d) = kernel_drop(step, &r.observed)
        {
            drops.push(d);
        }
        check_drop(step, &drops, &mut r);
        r.first_drop = drops.first().map(|(reason, d)| format!("{reason}: {d}"));
        r.index = i + 1;
        r.start_ns = start.as_nanos() as u64;
        r.duration_ns = (t0.elapsed() - start).as_nanos() as u64;
        if r.status != Status::Skipped {
            r.status = if !r.failures.is_empty() {
                Status::Failed
            } else if has_expectations(step) {
                Status::Passed
            } else {
                Status::Done
            };
        }
        if r.status == Status::Failed && r.causes.is_empty() {
            r.causes = diagnose(plan, step, &r, drops.first().map(|d| d.0), events_from, live);
        }
        crate::logs::live_step_done(&r);
        out.push(r);
    }
    (out, false)
}

/// [`Lab::diagnose`] of a failed step from a real namespace, over the engine's events
/// of the step (what the kernels did themselves is in `observed` and the drop).
fn diagnose(
    plan: &Plan,
    step: &PlannedStep,
    r: &StepReport,
    kernel: Option<DropReason>,
    events_from: usize,
    live: &LiveHandle,
) -> Vec<netloom_drivers::docker::Finding> {
    use netloom_drivers::docker::Attempt;
    use netloom_drivers::net::L4;
    let target = |to: &To| match to {
        To::Ip(ip) => Some(*ip),
        To::Name(n) => plan.address(n),
    };
    let (from, to, port, l4, name) = match &step.op {
        Op::Ping { from, to, .. } => (from.clone(), target(to), None, L4::Icmp, None),
        Op::Connect { from, to, port, l4 } => (from.clone(), target(to), Some(*port), *l4, None),
        Op::Transfer { from, to, port, .. } => (from.clone(), target(to), Some(*port), L4::Tcp, None),
        Op::Resolve { from, name } => (from.clone(), None, None, L4::Udp, Some(name.clone())),
        _ => return Vec::new(),
    };
    if name.is_none() && to.is_none() {
        return Vec::new();
    }
    let succeeded = matches!(r.outcome, Some(Outcome::Reach | Outcome::Ok));
    ask_live(live, move |l: &mut Live| {
        let events = &l.lab.fabric.trace().events;
        let start = events_from.min(events.len());
        let attempt = match (&name, to) {
            (Some(n), _) => Attempt::Resolve {
                from: &from,
                name: n,
                log: &[],
            },
            (None, Some(to)) => Attempt::Reach {
                from: &from,
                to,
                port,
                l4,
                name: None,
                lookup: &[],
            },
            (None, None) => return Vec::new(),
        };
        let mut found = l.lab.diagnose(&attempt, succeeded, &events[start..]);
        let engine_dropped = events[start..]
            .iter()
            .any(|e| matches!(e.kind, netloom_core::EventKind::Dropped { reason, .. } if reason == kernel.unwrap_or(DropReason::Unaccounted)));
        if let Some(k) = kernel
            && !succeeded
            && !engine_dropped
        {
            let mine = l.lab.diagnose_kernel_drop(&attempt, k, &from, to);
            if !mine.is_empty() {
                found = mine;
            }
        }
        found
    })
    .unwrap_or_default()
}

/// Step `i`, interrupted while it ran, and the steps after it, none of them run.
fn cut_short(steps: &[PlannedStep], i: usize) -> Vec<StepReport> {
    let mut v = not_run(&steps[i..], i);
    if let Some(r) = v.first_mut() {
        r.observed = "interrupted while running: not finished".into();
    }
    v
}

/// `steps` (the first of which is step number `first + 1`) reported as not run
/// because the run was interrupted.
pub fn not_run(steps: &[PlannedStep], first: usize) -> Vec<StepReport> {
    steps
        .iter()
        .enumerate()
        .map(|(k, step)| {
            let mut r = report(step, "not run (interrupted)".into());
            r.index = first + k + 1;
            r.status = Status::Skipped;
            r
        })
        .collect()
}

fn has_expectations(step: &PlannedStep) -> bool {
    let e = &step.expect;
    e.on_wire.is_some()
        || e.result.is_some()
        || e.dropped.is_some()
        || e.max_rtt.is_some()
        || e.min_rate.is_some()
        || e.error.is_some()
        || e.exit.is_some()
        || e.addresses.is_some()
}

/// The machine a step runs from, when it has no namespace of its own (hosts,
/// routers, externals not made real).
fn modelled_sender<'a>(plan: &Plan, step: &'a PlannedStep) -> Option<&'a str> {
    let from = match &step.op {
        Op::Ping { from, .. }
        | Op::Connect { from, .. }
        | Op::Transfer { from, .. }
        | Op::Resolve { from, .. } => from.as_str(),
        Op::Exec { inside, .. } => inside.as_str(),
        _ => return None,
    };
    plan.ns(from).is_none().then_some(from)
}

/// The fabric element of a real sender.
fn sender_element(plan: &Plan, step: &PlannedStep) -> Option<netloom_core::ElemId> {
    let from = match &step.op {
        Op::Ping { from, .. }
        | Op::Connect { from, .. }
        | Op::Transfer { from, .. }
        | Op::Resolve { from, .. } => from,
        Op::Exec { inside, .. } => inside,
        _ => return None,
    };
    plan.elements.iter().find(|(m, _)| m == from).map(|(_, e)| *e)
}

/// Runs `f` on the forwarding loop's thread and waits for its result, however long
/// the step takes; `None` when a stop signal ends the run first.
fn ask_live<T: Send + 'static>(
    live: &LiveHandle,
    f: impl FnOnce(&mut Live) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    live.send(LiveCommand::Run(Box::new(move |l: &mut Live| {
        let _ = tx.send(f(l));
    })));
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if STOP.load(Ordering::Relaxed) => return None,
            Err(_) => {}
        }
    }
}

/// A step from a modelled machine, run by the engine's model of it in real time: the
/// same code and checks as `run` (a connect to a container reaches the real
/// namespace through its TAP). `exec` needs a real namespace: a failure, not a skip.
fn run_on_model(step: &PlannedStep, machine: &str, live: &LiveHandle) -> StepReport {
    if let Op::Exec { run, .. } = &step.op {
        let why = format!(
            "exec needs a real namespace: {machine} is modelled (externals become real with `emulate: true` \
             or --all; hosts and routers stay modelled), so `{run}` cannot run there"
        );
        let mut r = report(step, why.clone());
        r.failures.push(why);
        r.status = Status::Failed;
        return r;
    }
    let planned = step.clone();
    let got = ask_live(live, move |l: &mut Live| {
        l.begin_wire();
        let r = l.paced(|lab| crate::runner::run_step(lab, &planned, false));
        let real: Vec<ElemId> = l.lab.emulated().iter().map(|m| m.element).collect();
        let refusal = kernel_refusal(&l.lab.fabric.trace().events, &real);
        l.end_wire();
        (r, refusal)
    });
    let Some((mut r, refusal)) = got else {
        let mut r = report(step, "interrupted while running: not finished".into());
        r.status = Status::Skipped;
        return r;
    };
    if let Some(reason) = refusal {
        real_kernel_refusal(step, reason, &mut r);
    }
    let tag = format!(" (on the model of {machine})");
    match r.observed.find('\n') {
        Some(i) => r.observed.insert_str(i, &tag),
        None => r.observed.push_str(&tag),
    }
    r
}

/// A frame of a step refused by a real namespace's kernel (nothing listens): it sent
/// a TCP reset or an ICMP port unreachable, where the engine's trace sees a
/// delivery. Counts as the step's drop, as [`kernel_drop`] does for real senders.
fn real_kernel_refusal(step: &PlannedStep, reason: DropReason, r: &mut StepReport) {
    if r.first_drop.is_some() {
        return;
    }
    r.first_drop = Some(format!(
        "{reason}: by a real kernel (it answered with {})",
        if reason == DropReason::NoListener {
            "a TCP reset"
        } else {
            "ICMP port unreachable"
        }
    ));
    let before = r.failures.len();
    if step.expect.dropped == Some(reason) {
        r.failures
            .retain(|f| !f.starts_with(&format!("expected a drop ({reason})")));
    }
    if before != r.failures.len() && r.failures.is_empty() {
        r.status = Status::Passed;
        r.trace.clear();
    }
}

/// The first refusal a real namespace's kernel sent during a step (traced with
/// snapshots): a TCP reset (`no-listener`) or an ICMP/ICMPv6 port unreachable
/// (`port-unreachable`) originated by one of `real`.
fn kernel_refusal(events: &[TraceEvent], real: &[ElemId]) -> Option<DropReason> {
    let mut from_real: BTreeSet<FrameId> = BTreeSet::new();
    for e in events {
        match e.kind {
            EventKind::Originated if real.contains(&e.elem) => {
                from_real.insert(e.frame);
            }
            EventKind::Transmitted if from_real.remove(&e.frame) => {
                if let Some(r) = e.snapshot.as_deref().and_then(|s| ip_summary(s)?.refusal) {
                    return Some(r);
                }
            }
            _ => {}
        }
    }
    None
}

/// What the `on_wire` check of a real sender's step counts as its requests: the
/// frames its TAP brought in (and their copies), without its name lookups and the
/// kernel's own chatter (ARP, IPv6 neighbour discovery and MLD); for a `resolve`
/// step, the DNS queries — also those the embedded server relays for it.
fn wire_requests(events: &[TraceEvent], elem: ElemId, resolve: bool) -> BTreeSet<FrameId> {
    let mut origin: std::collections::BTreeMap<FrameId, ElemId> = std::collections::BTreeMap::new();
    let mut set = BTreeSet::new();
    for e in events {
        match e.kind {
            EventKind::Originated => {
                origin.insert(e.frame, e.elem);
            }
            EventKind::Transmitted => {
                let Some(by) = origin.remove(&e.frame) else {
                    continue;
                };
                let frame = e.frame;
                let Some(ip) = e.snapshot.as_deref().and_then(ip_summary) else {
                    continue;
                };
                let take = if resolve {
                    ip.dns_query
                } else {
                    by == elem && !ip.dns_query && !ip.chatter
                };
                if take {
                    set.insert(frame);
                }
            }
            EventKind::Copied { parent } if set.contains(&parent) => {
                set.insert(e.frame);
            }
            _ => {}
        }
    }
    set
}

/// What a frame's first bytes say about it.
struct IpSummary {
    /// A UDP datagram to port 53.
    dns_query: bool,
    /// Neighbour discovery, MLD, or a packet from `::` (duplicate address detection).
    chatter: bool,
    /// A refusal from the sender's kernel.
    refusal: Option<DropReason>,
}

fn ip_summary(f: &[u8]) -> Option<IpSummary> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        off += 4;
        ethertype = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
    }
    let ip = f.get(off + 2..)?;
    let (proto, l4, unspecified) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            (*ip.get(9)?, ip.get(ihl..)?, false)
        }
        0x86dd => (*ip.get(6)?, ip.get(40..)?, ip.get(8..24)?.iter().all(|b| *b == 0)),
        _ => return None,
    };
    let dport = l4.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    let refusal = match proto {
        6 if l4.get(13).is_some_and(|fl| fl & 0x04 != 0) => Some(DropReason::NoListener),
        1 if l4.first() == Some(&3) && l4.get(1) == Some(&3) => Some(DropReason::PortUnreachable),
        58 if l4.first() == Some(&1) && l4.get(1) == Some(&4) => Some(DropReason::PortUnreachable),
        _ => None,
    };
    Some(IpSummary {
        dns_query: proto == 17 && dport == Some(53),
        chatter: unspecified || (proto == 58 && l4.first().is_some_and(|t| (130..=143).contains(t))),
        refusal,
    })
}

fn drops_since(live: &LiveHandle, since: u64) -> (u64, Vec<(DropReason, String)>) {
    let (tx, rx) = std::sync::mpsc::channel();
    live.send(LiveCommand::Drops { since, reply: tx });
    live.wait_reply(&rx).unwrap_or((since, Vec::new()))
}

/// A drop the real kernels made, read from what the program reported: a reset or a
/// port unreachable from the destination's kernel, the sender's own "message too
/// long" or "Network is unreachable", neighbour resolution that failed.
fn kernel_drop(step: &PlannedStep, observed: &str) -> Option<(DropReason, String)> {
    let by = |r: DropReason| Some((r, format!("by a real kernel: {observed}")));
    match &step.op {
        Op::Connect { l4, .. } if observed.contains("Connection refused") => match l4 {
            netloom_drivers::net::L4::Udp => by(DropReason::PortUnreachable),
            _ => by(DropReason::NoListener),
        },
        _ if observed.contains("Network is unreachable") => by(DropReason::NoRoute),
        _ if observed.contains("message too long") => by(DropReason::MtuExceeded),
        _ if observed.contains("Destination Host Unreachable") || observed.contains("No route to host") => {
            by(DropReason::ArpUnresolved)
        }
        _ => None,
    }
}

fn check_drop(step: &PlannedStep, drops: &[(DropReason, String)], r: &mut StepReport) {
    if let Some(want) = step.expect.dropped {
        match drops.first() {
            Some((got, _)) if *got == want => {}
            Some((got, d)) => r.failures.push(format!(
                "expected the first drop to be {want}, but it was {got} ({d})"
            )),
            None => r.failures.push(format!(
                "expected a drop ({want}), but the engine dropped none of this step's packets"
            )),
        }
    }
}

fn report(step: &PlannedStep, observed: String) -> StepReport {
    StepReport {
        index: 0,
        line: step.line,
        title: step.title.clone(),
        status: Status::Done,
        observed,
        failures: Vec::new(),
        first_drop: None,
        causes: Vec::new(),
        outcome: None,
        rtts: Vec::new(),
        target: None,
        trace: Vec::new(),
        start_ns: 0,
        duration_ns: 0,
    }
}

fn expect_result(step: &PlannedStep, got: Outcome, r: &mut StepReport) {
    r.outcome = Some(got);
    if let Some(want) = step.expect.result
        && want != got
    {
        r.failures.push(format!("expected {want}, got {got}"));
    }
}

fn run_step(plan: &Plan, step: &PlannedStep, live: &LiveHandle) -> StepReport {
    let from = match &step.op {
        Op::Ping { from, .. }
        | Op::Connect { from, .. }
        | Op::Transfer { from, .. }
        | Op::Resolve { from, .. } => Some(from.as_str()),
        Op::Exec { inside, .. } => Some(inside.as_str()),
        _ => None,
    };
    let ns = from.and_then(|f| plan.ns(f).map(|n| (f, n)));
    let ns_path = ns.map(|(_, n)| netns_path(n)).unwrap_or_default();
    let ns_name = ns.map(|(_, n)| n.to_string()).unwrap_or_default();
    match &step.op {
        Op::Ping {
            to,
            count,
            size,
            dont_fragment,
            ..
        } => {
            let target = match target_text(plan, from.unwrap_or_default(), to) {
                Ok(t) => t,
                Err(e) => return report(step, e),
            };
            let mut cmd = match child::in_namespace(&ns_name, "ping") {
                Ok(c) => c,
                Err(e) => return report(step, format!("cannot run ping: {e}")),
            };
            cmd.args([
                "-n",
                "-c",
                &count.to_string(),
                "-s",
                &size.to_string(),
                "-i",
                "0.2",
                "-W",
                "5",
            ]);
            if *dont_fragment {
                cmd.args(["-M", "do"]);
            }
            cmd.arg(&target);
            // Every reply within 0.2 s a packet, the last one 5 s late at most.
            let limit = Duration::from_millis(200 * u64::from(*count)) + Duration::from_secs(10);
            let (received, rtts, text) = match child::run(cmd, limit) {
                Ran::Exited { stdout, stderr, .. } => parse_ping(&stdout, &stderr),
                Ran::TimedOut { stdout } => parse_ping(&stdout, "ping: did not finish in time"),
                Ran::Interrupted => (0, Vec::new(), "; interrupted".into()),
                Ran::Failed(e) => (0, Vec::new(), format!("; cannot run ping: {e}")),
            };
            let mut r = report(
                step,
                format!("{received}/{count} replies from {target} (real ping){text}"),
            );
            expect_result(
                step,
                if received > 0 {
                    Outcome::Reach
                } else {
                    Outcome::NoReach
                },
                &mut r,
            );
            if let Some(max) = step.expect.max_rtt {
                let max = Duration::from_nanos(max.as_nanos());
                match rtts
                    .iter()
                    .copied()
                    .fold(None, |m: Option<Duration>, x| Some(m.map_or(x, |m| m.max(x))))
                {
                    Some(worst) if worst > max => r.failures.push(format!(
                        "expected every round trip <= {max:?}, the slowest took {worst:?}"
                    )),
                    None => r
                        .failures
                        .push(format!("expected round trips <= {max:?}, but no reply came")),
                    _ => {}
                }
            }
            r
        }
        Op::Connect { to, port, l4, .. } => {
            let ip = match resolve_target(plan, from.unwrap_or_default(), &ns_name, to) {
                Ok(ip) => ip,
                Err(e) => {
                    let mut r = report(step, format!("no packet sent: {e}"));
                    expect_result(step, Outcome::Timeout, &mut r);
                    return r;
                }
            };
            let to_addr = SocketAddr::new(ip, *port);
            let l4v = *l4;
            let probe = inns::run_in(&ns_path, move || inns::connect(to_addr, l4v));
            let (got, text) = match probe {
                Ok(inns::Probe::Ok(t)) => (Outcome::Ok, format!("ok after {t:?}")),
                Ok(inns::Probe::Refused(e)) => (Outcome::Refused, format!("refused ({e})")),
                Ok(inns::Probe::Timeout) => (Outcome::Timeout, "timeout".to_string()),
                Ok(inns::Probe::Closed(why)) => (Outcome::Closed, format!("closed ({why})")),
                Err(e) => (Outcome::Timeout, e),
            };
            let mut r = report(step, format!("{} {to_addr}: {text} (real socket)", l4.name()));
            expect_result(step, got, &mut r);
            r
        }
        Op::Transfer { to, port, bytes, .. } => {
            let ip = match resolve_target(plan, from.unwrap_or_default(), &ns_name, to) {
                Ok(ip) => ip,
                Err(e) => return report(step, format!("no packet sent: {e}")),
            };
            let to_addr = SocketAddr::new(ip, *port);
            let n = *bytes;
            let res = inns::run_in(&ns_path, move || inns::transfer(to_addr, n));
            match res {
                Ok(Ok((got, took))) => {
                    let rate = got as f64 * 8.0 / took.as_secs_f64().max(1e-9);
                    let ok = got >= n;
                    let mut r = report(
                        step,
                        format!(
                            "{got} of {n} bytes echoed back in {took:?} ({:.2} mbit/s, real TCP)",
                            rate / 1e6
                        ),
                    );
                    expect_result(step, if ok { Outcome::Ok } else { Outcome::Timeout }, &mut r);
                    if let Some(min) = step.expect.min_rate
                        && (rate < min.0 as f64 || !ok)
                    {
                        r.failures.push(format!(
                            "expected at least {min}, achieved {:.2} mbit/s",
                            rate / 1e6
                        ));
                    }
                    r
                }
                Ok(Err(e)) | Err(e) => {
                    let mut r = report(step, format!("transfer failed: {e}"));
                    expect_result(step, Outcome::Refused, &mut r);
                    r
                }
            }
        }
        Op::Resolve { name, .. } => {
            let (addrs, text) = getent(&ns_name, name);
            let mut r = report(step, text);
            match (&step.expect.addresses, addrs) {
                (Some(want), Some(got)) => {
                    let w: BTreeSet<IpAddr> = want.iter().copied().collect();
                    if w != got {
                        r.failures.push(format!("expected addresses {w:?}, got {got:?}"));
                    }
                }
                (Some(want), None) => r.failures.push(format!(
                    "expected addresses {want:?}, but the name did not resolve"
                )),
                // `expect: ok`: any address will do.
                (None, Some(_)) if step.expect.result == Some(Outcome::Ok) => r.outcome = Some(Outcome::Ok),
                (None, Some(got)) if step.expect.result.is_some() => r
                    .failures
                    .push(format!("expected no answer, but it resolved to {got:?}")),
                (None, None) => {
                    // getent cannot tell NXDOMAIN from SERVFAIL or a timeout: ask once.
                    let rc = classify(&ns_path, &ns_name, name);
                    expect_result(step, rc, &mut r);
                }
                _ => {}
            }
            r
        }
        Op::Link { between, impair } => {
            let (between, impair) = (between.clone(), impair.clone());
            let res = live.ask(|reply| LiveCommand::SetLink {
                between,
                impair,
                reply,
            });
            let mut r = report(step, res.clone().map_or_else(|e| e, |_| "link changed".into()));
            if let Err(e) = res {
                r.failures.push(e);
            }
            r
        }
        Op::Container { name, running } => {
            let (n, on) = (name.clone(), *running);
            let res = live.ask(|reply| LiveCommand::SetRunning {
                name: n,
                running: on,
                reply,
            });
            let mut r = report(
                step,
                res.clone().map_or_else(
                    |e| e,
                    |_| format!("container {name} {}", if on { "started" } else { "stopped" }),
                ),
            );
            r.failures
                .extend(crate::runner::start_failure(&res, step.expect.error.as_deref()));
            r
        }
        Op::Reachability { .. } => {
            let mut r = report(
                step,
                "skipped: the reachability matrix probes the model (run it with `netloom run`); live traffic \
                 meets the same policies at the pods' ports"
                    .into(),
            );
            r.status = Status::Skipped;
            r
        }
        Op::Wait(d) => {
            // In short sleeps, so that a stop signal ends the wait at once.
            let until = Instant::now() + Duration::from_nanos(d.as_nanos());
            while !STOP.load(Ordering::Relaxed) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(10)));
            }
            report(step, format!("waited {d}"))
        }
        Op::Exec { run, .. } => {
            // The step's `run:` text is the user's own shell command, meant to be read
            // by a shell: it runs under `/bin/sh -c` inside the namespace, the one place
            // where netloom hands text to a shell. Like `timeout 60`, its process group
            // is killed after 60 s.
            let mut cmd = match child::in_namespace(&ns_name, "/bin/sh") {
                Ok(c) => c,
                Err(e) => {
                    let mut r = report(step, format!("cannot run: {e}"));
                    r.failures.push(e);
                    return r;
                }
            };
            cmd.arg("-c").arg(run);
            let (code, stdout, stderr) = match child::run(cmd, Duration::from_secs(60)) {
                Ran::Exited { code, stdout, stderr } => (code.unwrap_or(-1), stdout, stderr),
                Ran::TimedOut { stdout } => (124, stdout, "killed after 60 s".to_string()),
                Ran::Interrupted => return report(step, "interrupted".into()),
                Ran::Failed(e) => {
                    let mut r = report(step, format!("cannot run: {e}"));
                    r.failures.push(e);
                    return r;
                }
            };
            let first: String = stdout.lines().next().unwrap_or("").chars().take(120).collect();
            let mut r = report(step, format!("exit {code}; {first}"));
            if let Some(want) = step.expect.exit
                && want != code
            {
                r.failures.push(format!(
                    "expected exit {want}, got {code} (stderr: {})",
                    stderr.trim()
                ));
            }
            if let Some(want) = &step.expect.stdout
                && !stdout.contains(want.as_str())
            {
                r.failures
                    .push(format!("expected the output to contain \"{want}\""));
            }
            r
        }
    }
}

/// What to give `ping`: names that DNS should answer stay names (the real resolver
/// of the namespace looks them up); other machine names become their address.
fn target_text(plan: &Plan, from: &str, to: &To) -> Result<String, String> {
    match to {
        To::Ip(ip) => Ok(ip.to_string()),
        To::Name(n) if !plan.containers.contains(from) && plan.containers.contains(n) => plan
            .address(n)
            .map(|a| a.to_string())
            .ok_or_else(|| format!("'{n}' has no address")),
        To::Name(n) if plan.dns_names.contains(n) || n.contains('.') => Ok(n.clone()),
        To::Name(n) => plan
            .address(n)
            .map(|a| a.to_string())
            .ok_or_else(|| format!("'{n}' has no address")),
    }
}

/// The address `to` stands for from namespace `ns` (names through its real resolver).
fn resolve_target(plan: &Plan, from: &str, ns: &str, to: &To) -> Result<IpAddr, String> {
    match to {
        To::Ip(ip) => Ok(*ip),
        To::Name(n) if !plan.containers.contains(from) && plan.containers.contains(n) => {
            plan.address(n).ok_or_else(|| format!("'{n}' has no address"))
        }
        To::Name(n) if plan.dns_names.contains(n) || n.contains('.') => {
            let (addrs, text) = getent(ns, n);
            addrs
                .and_then(|a| a.iter().find(|x| x.is_ipv4()).or(a.iter().next()).copied())
                .ok_or(text)
        }
        To::Name(n) => plan.address(n).ok_or_else(|| format!("'{n}' has no address")),
    }
}

/// `getent ahosts NAME` in the namespace: the addresses, and a line for the report.
fn getent(ns: &str, name: &str) -> (Option<BTreeSet<IpAddr>>, String) {
    let mut cmd = match child::in_namespace(ns, "getent") {
        Ok(c) => c,
        Err(e) => return (None, format!("cannot run getent: {e}")),
    };
    cmd.args(["ahosts", name]);
    match child::run(cmd, Duration::from_secs(30)) {
        Ran::Exited {
            code: Some(0),
            stdout,
            ..
        } => {
            let set: BTreeSet<IpAddr> = stdout
                .lines()
                .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                .collect();
            let shown: Vec<String> = set.iter().map(ToString::to_string).collect();
            (
                Some(set),
                format!("{name} -> {} (getent ahosts)", shown.join(", ")),
            )
        }
        Ran::Exited { code, .. } => (
            None,
            format!("{name}: not resolved (getent exit {})", code.unwrap_or(-1)),
        ),
        Ran::TimedOut { .. } => (None, format!("{name}: not resolved (getent did not finish)")),
        Ran::Interrupted => (None, format!("{name}: interrupted")),
        Ran::Failed(e) => (None, format!("cannot run getent: {e}")),
    }
}

/// NXDOMAIN, SERVFAIL or no answer, from one query to the namespace's first name
/// server (getent's exit code does not say which).
fn classify(ns_path: &std::path::Path, ns: &str, name: &str) -> Outcome {
    let conf = child::resolv_conf(ns);
    let server: Option<IpAddr> = std::fs::read_to_string(conf).ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("nameserver ").and_then(|a| a.trim().parse().ok()))
    });
    let Some(server) = server else {
        return Outcome::Nxdomain;
    };
    let Some(q) = netloom_drivers::dns::query(0x4e4c, name, netloom_drivers::dns::QType::A) else {
        return Outcome::Nxdomain;
    };
    let res = inns::run_in(ns_path, move || {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let s = std::net::UdpSocket::bind(local).ok()?;
        s.connect((server, 53)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.send(&q).ok()?;
        let mut buf = [0u8; 1500];
        let n = s.recv(&mut buf).ok()?;
        netloom_drivers::dns::parse(&buf[..n])
    });
    match res.ok().flatten().map(|m| m.rcode) {
        Some(netloom_drivers::dns::Rcode::ServFail) => Outcome::Servfail,
        Some(_) => Outcome::Nxdomain,
        None => Outcome::Timeout,
    }
}

/// Received count, round trips, and ping's error lines.
fn parse_ping(stdout: &str, stderr: &str) -> (u32, Vec<Duration>, String) {
    let received = stdout
        .lines()
        .find_map(|l| {
            let i = l.find(" received")?;
            l[..i].rsplit(", ").next()?.trim().parse().ok()
        })
        .unwrap_or(0);
    let rtts = stdout
        .lines()
        .filter_map(|l| {
            let t = l.split("time=").nth(1)?;
            let ms: f64 = t.split_whitespace().next()?.parse().ok()?;
            Some(Duration::from_secs_f64(ms / 1000.0))
        })
        .collect();
    let errors: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| {
            l.contains("Unreachable")
                || l.contains("too long")
                || l.contains("Frag needed")
                || l.contains("ping:")
        })
        .take(2)
        .collect();
    let text = if errors.is_empty() {
        String::new()
    } else {
        format!("; {}", errors.join("; "))
    };
    (received, rtts, text)
}
