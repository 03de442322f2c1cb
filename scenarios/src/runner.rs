//! Running a loaded scenario: build the lab, run each step, check its expectations,
//! and explain failures from the trace.

use std::collections::BTreeSet;
use std::net::IpAddr;

use netloom_core::{
    DropReason, ElemId, EventKind, FrameId, SimDuration, TraceBudget, TraceEvent, TraceLevel,
};
use netloom_drivers::docker::{Attempt, Finding, Lab};
use netloom_drivers::host::ConnOutcome;
use netloom_drivers::net::L4;
use netloom_drivers::router::LookupOutcome;
use serde::Serialize;

use crate::format::Outcome;
use crate::validate::{Expectations, Loaded, Op, PlannedStep, To, WireCheck};

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the file's seed.
    pub seed: Option<u64>,
    /// Record every frame on every link in memory ([`Fabric::captured`]).
    ///
    /// [`Fabric::captured`]: netloom_core::Fabric::captured
    pub capture: bool,
    /// Write a pcap file per link into this directory as the run goes (`--pcap`).
    pub pcap_dir: Option<std::path::PathBuf>,
    /// Prefix of those files' names (the scenario's name, when several share a
    /// directory).
    pub pcap_prefix: Option<String>,
    /// Attach the hop-by-hop trace to every step, not only to failed ones (`--trace`).
    pub trace_all: bool,
}

/// The outcome of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every expectation held.
    Passed,
    /// An expectation did not hold.
    Failed,
    /// Not run in this mode (`exec` under `run`).
    Skipped,
    /// Ran; nothing was expected.
    Done,
}

/// What one step did.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// 1-based step number.
    pub index: usize,
    /// Line of the step in the file.
    pub line: u64,
    /// Title.
    pub title: String,
    /// Status.
    pub status: Status,
    /// What was observed, in one line.
    pub observed: String,
    /// Each expectation that failed, with why.
    pub failures: Vec<String>,
    /// The first meaningful drop among the step's packets: reason and explanation.
    pub first_drop: Option<String>,
    /// For failures: what decided the outcome, in plain words, with a hint of the fix.
    pub causes: Vec<Finding>,
    /// The outcome observed, where the step has one (not part of the JSON report:
    /// `observed` says it in words).
    #[serde(skip)]
    pub outcome: Option<Outcome>,
    /// A ping's round trips, reply by reply (not in the JSON report: `observed` has
    /// their range).
    #[serde(skip)]
    pub rtts: Vec<SimDuration>,
    /// The address a ping, connect or transfer aimed at, once known.
    #[serde(skip)]
    pub target: Option<IpAddr>,
    /// For failures: the hop-by-hop trace of the step's packets.
    pub trace: Vec<String>,
    /// Simulated time when the step started, in nanoseconds.
    pub start_ns: u64,
    /// Simulated time the step took, in nanoseconds.
    pub duration_ns: u64,
}

/// What a whole run did.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// The file.
    pub file: String,
    /// Its description.
    pub description: Option<String>,
    /// What the Docker daemon warned about, and containers whose start failed.
    pub warnings: Vec<String>,
    /// The seed used.
    pub seed: u64,
    /// Each step.
    pub steps: Vec<StepReport>,
}

impl Report {
    /// Whether every expectation held (skipped steps do not count as passed, but do
    /// not fail the run either).
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.status != Status::Failed)
    }
}

/// A finished run: the report and the lab, whose fabric holds the trace and captures.
pub struct Run {
    /// The report.
    pub report: Report,
    /// The lab after the last step.
    pub lab: Lab,
    /// With [`RunOptions::pcap_dir`]: the capture files written, or why not.
    pub captures: Option<Result<Vec<std::path::PathBuf>, String>>,
}

/// Runs a loaded scenario.
///
/// # Panics
/// Only on a broken invariant of the model (a loaded scenario has been validated).
pub fn run(loaded: &Loaded, opts: &RunOptions) -> Run {
    let seed = opts.seed.unwrap_or(loaded.scenario.seed);
    // Wall-clock timing for the logs only (`-v`); nothing simulated reads it.
    let clock = tracing::enabled!(tracing::Level::INFO).then(std::time::Instant::now);
    let mut lab = match Lab::build(&loaded.model, seed) {
        Ok(l) => l,
        Err(errs) => {
            // `load` resolved the same model already; this cannot fail.
            unreachable!("a loaded scenario failed to build: {errs:?}")
        }
    };
    let snapshots = loaded.steps.iter().any(|s| s.expect.on_wire.is_some());
    lab.fabric.set_trace_level(if snapshots {
        TraceLevel::Snapshots
    } else {
        TraceLevel::Hops
    });
    if opts.capture {
        lab.fabric.enable_capture();
    }
    let mut captures = None;
    if let Some(dir) = &opts.pcap_dir {
        match crate::pcap::PcapDir::new(dir, &lab.fabric, opts.pcap_prefix.as_deref()) {
            Ok(sink) => {
                captures = Some(Ok(sink.files()));
                lab.fabric.enable_capture_to(Box::new(sink));
            }
            Err(e) => captures = Some(Err(format!("{}: {e}", dir.display()))),
        }
    }
    let mut warnings = loaded.warnings.clone();
    for (name, e) in lab.start_errors() {
        warnings.push(format!("container {name} did not start: {e}"));
    }
    crate::logs::compiled(&loaded.file, &lab, clock);
    let mut steps = Vec::new();
    for (i, step) in loaded.steps.iter().enumerate() {
        let clock = clock.map(|_| std::time::Instant::now());
        let mut r = run_step(&mut lab, step, opts.trace_all);
        r.index = i + 1;
        crate::logs::step_done(&r, clock);
        steps.push(r);
    }
    if let Some(Ok(_)) = &captures
        && let Err(e) = lab.fabric.finish_capture()
    {
        captures = opts
            .pcap_dir
            .as_ref()
            .map(|d| Err(format!("{}: {e}", d.display())));
    }
    let report = Report {
        name: loaded.scenario.name.value.clone(),
        file: loaded.file.clone(),
        description: loaded.scenario.description.clone(),
        warnings,
        seed,
        steps,
    };
    Run {
        report,
        lab,
        captures,
    }
}

/// What a reachability step observed, for checking.
struct Seen {
    outcome: Option<Outcome>,
    rtts: Vec<SimDuration>,
    rate_bps: Option<f64>,
    from: Option<ElemId>,
    /// Trace index where the step's own packets begin (after a name lookup that worked).
    act_start: usize,
    /// A resolve step's addresses.
    addresses: Option<Vec<IpAddr>>,
    /// A resolve step's queries and answers.
    dns_log: Vec<String>,
    /// The address a ping, connect or transfer aimed at.
    to: Option<IpAddr>,
    /// Why a `container` step's start failed.
    start_error: Option<String>,
}

/// Trace events kept per step: enough to explain any ping or connect and the start of a
/// bulk transfer, without holding every segment of a 100 GB one. With the trace cleared
/// at each step, a run's memory is bounded by its topology, not by its steps or packets.
const STEP_TRACE_BUDGET: TraceBudget = TraceBudget::STEP;

pub(crate) fn run_step(lab: &mut Lab, step: &PlannedStep, trace_all: bool) -> StepReport {
    // Each step's report is built from its own events only: forget the previous ones.
    lab.fabric.clear_trace();
    lab.fabric.set_trace_budget(STEP_TRACE_BUDGET);
    let start_ev = 0;
    let start = lab.fabric.now();
    let mut failures = Vec::new();
    let mut seen = Seen {
        outcome: None,
        rtts: Vec::new(),
        rate_bps: None,
        from: None,
        act_start: start_ev,
        addresses: None,
        dns_log: Vec::new(),
        to: None,
        start_error: None,
    };
    let mut skipped = false;
    let mut matrix_text: Vec<String> = Vec::new();
    let observed = match &step.op {
        Op::Ping {
            from,
            to,
            count,
            size,
            dont_fragment,
        } => match aim(lab, &mut seen, from, to) {
            Err(why) => {
                seen.outcome = Some(Outcome::NoReach);
                format!("no packet sent: {why}")
            }
            Ok(ip) => match lab.ping(from, ip, *count, *size, *dont_fragment) {
                Ok(p) => {
                    seen.outcome = Some(if p.received > 0 {
                        Outcome::Reach
                    } else {
                        Outcome::NoReach
                    });
                    seen.rtts = p.rtts.clone();
                    let mut s = format!("{}/{} replies from {ip}", p.received, p.sent);
                    if let (Some(min), Some(max)) = (p.rtts.iter().min(), p.rtts.iter().max()) {
                        s.push_str(&format!(", rtt min/max {min}/{max}"));
                    }
                    if let Some(e) = p.errors.first() {
                        s.push_str(&format!("; {e}"));
                    }
                    if p.received == 0
                        && let Some(h) = lab.reach_hint(from, ip)
                    {
                        s.push_str(&format!("\n       hint: {h}"));
                    }
                    s
                }
                Err(e) => e,
            },
        },
        Op::Connect { from, to, port, l4 } => match aim(lab, &mut seen, from, to) {
            Err(why) => {
                seen.outcome = Some(Outcome::Timeout);
                format!("no packet sent: {why}")
            }
            Ok(ip) => match lab.connect(from, ip, *port, *l4) {
                Ok(c) => {
                    let (o, text) = outcome(&c.outcome);
                    seen.outcome = Some(o);
                    format!(
                        "{} {}: {text} after {}",
                        l4.name(),
                        netloom_drivers::net::sock(ip, *port),
                        c.elapsed
                    )
                }
                Err(e) => e,
            },
        },
        Op::Transfer {
            from,
            to,
            port,
            bytes,
        } => match aim(lab, &mut seen, from, to) {
            Err(why) => {
                seen.outcome = Some(Outcome::Timeout);
                format!("no packet sent: {why}")
            }
            Ok(ip) => match lab.transfer(from, ip, *port, *bytes) {
                Ok(t) => {
                    let (o, text) = outcome(&t.outcome);
                    seen.outcome = Some(o);
                    seen.rate_bps = Some(t.rate_bps());
                    format!(
                        "{text}: {} of {bytes} bytes acknowledged in {} ({:.2} mbit/s)",
                        t.acked,
                        t.elapsed,
                        t.rate_bps() / 1e6
                    )
                }
                Err(e) => e,
            },
        },
        Op::Link { between, impair } => match lab.set_link(&between[0], &between[1], impair) {
            Ok(()) => format!("link {} <-> {} changed", between[0], between[1]),
            Err(e) => {
                failures.push(e.clone());
                e
            }
        },
        Op::Container { name, running } => {
            let r = lab.set_running(name, *running);
            failures.extend(start_failure(&r, step.expect.error.as_deref()));
            seen.start_error = r.as_ref().err().cloned();
            match r {
                Ok(()) => format!(
                    "container {name} {}",
                    if *running { "started" } else { "stopped" }
                ),
                Err(e) => e,
            }
        }
        Op::Wait(d) => {
            lab.wait(*d);
            format!("waited {d}")
        }
        Op::Resolve { from, name } => {
            seen.from = lab.node(from);
            match lab.resolve(from, name) {
                Ok(r) => {
                    seen.dns_log = r.log.clone();
                    let took = r.elapsed;
                    match r.outcome {
                        LookupOutcome::Addresses(a) => {
                            let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                            seen.outcome = Some(Outcome::Ok);
                            seen.addresses = Some(a);
                            format!("{name} -> {} ({took})", list.join(", "))
                        }
                        LookupOutcome::NxDomain => {
                            seen.outcome = Some(Outcome::Nxdomain);
                            format!("{name}: NXDOMAIN, no such name ({took})")
                        }
                        LookupOutcome::NoData => {
                            seen.outcome = Some(Outcome::Nxdomain);
                            format!(
                                "{name}: the name exists but has no address (NOERROR, no records; {took})"
                            )
                        }
                        LookupOutcome::ServFail => {
                            seen.outcome = Some(Outcome::Servfail);
                            format!("{name}: SERVFAIL ({took})")
                        }
                        LookupOutcome::NoAnswer(why) => {
                            seen.outcome = Some(Outcome::Timeout);
                            format!("{name}: {why} ({took})")
                        }
                    }
                }
                Err(e) => e,
            }
        }
        Op::Exec { inside, run } => {
            skipped = true;
            format!("skipped: `exec` runs only under `netloom emulate` (would run `{run}` in {inside})")
        }
        Op::Reachability { port } => {
            let mx = lab.policy_matrix(&[*port]);
            if let Some(want) = &step.expect.matrix {
                match crate::matrix::compare(&mx, 0, want) {
                    Ok(diffs) => {
                        let n = diffs.len();
                        failures.extend(diffs.into_iter().take(20));
                        if n > 20 {
                            failures.push(format!("… and {} more cells differ", n - 20));
                        }
                    }
                    Err(e) => failures.push(e),
                }
                if !failures.is_empty() {
                    matrix_text = crate::matrix::render(&mx).lines().map(str::to_owned).collect();
                }
            }
            let (ok, blocked, refused) = crate::matrix::counts(&mx, 0);
            format!(
                "{}: {ok} connected, {blocked} blocked, {refused} refused among {} containers{}",
                crate::matrix::port_name(*port),
                mx.names.len(),
                if mx.enforced {
                    String::new()
                } else {
                    format!(
                        " (policies NOT enforced: {} cells would be blocked)",
                        mx.unenforced_denials.len()
                    )
                }
            )
        }
    };
    check(lab, start_ev, &step.expect, &seen, &mut failures);
    let has_expect = has_expectations(&step.expect);
    let status = if skipped {
        Status::Skipped
    } else if !failures.is_empty() {
        Status::Failed
    } else if has_expect {
        Status::Passed
    } else {
        Status::Done
    };
    let first_drop = lab.fabric.trace().events[start_ev..]
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Dropped { reason, .. } if meaningful(reason) => {
                Some(format!("{reason}: {}", e.detail))
            }
            _ => None,
        });
    let causes = if status == Status::Failed {
        diagnose(lab, step, &seen, start_ev)
    } else {
        Vec::new()
    };
    let mut trace = if status == Status::Failed || (trace_all && seen.from.is_some()) {
        explain(lab, seen.act_start, seen.from)
    } else {
        Vec::new()
    };
    if !trace.is_empty() || (trace_all && !seen.dns_log.is_empty()) {
        let log = seen.dns_log.iter().map(|l| format!("  dns: {l}"));
        trace.splice(0..0, log);
    }
    if !matrix_text.is_empty() {
        trace = matrix_text.into_iter().map(|l| format!("  {l}")).collect();
    }
    StepReport {
        index: 0,
        line: step.line,
        title: step.title.clone(),
        status,
        observed,
        failures,
        first_drop,
        causes,
        outcome: seen.outcome,
        rtts: seen.rtts.clone(),
        target: seen.to,
        trace,
        start_ns: start.as_nanos(),
        duration_ns: lab.fabric.now().saturating_since(start).as_nanos(),
    }
}

/// What decided a failed step's outcome ([`Lab::diagnose`]), from the step's own events.
fn diagnose(lab: &Lab, step: &PlannedStep, seen: &Seen, start: usize) -> Vec<Finding> {
    let succeeded = matches!(seen.outcome, Some(Outcome::Reach | Outcome::Ok)) || seen.addresses.is_some();
    let attempt = match &step.op {
        Op::Ping { from, to: aim, .. } => seen.to.map(|to| Attempt::Reach {
            from,
            to,
            port: None,
            l4: L4::Icmp,
            name: named(aim),
            lookup: &seen.dns_log,
        }),
        Op::Connect {
            from,
            port,
            l4,
            to: aim,
        } => seen.to.map(|to| Attempt::Reach {
            from,
            to,
            port: Some(*port),
            l4: *l4,
            name: named(aim),
            lookup: &seen.dns_log,
        }),
        Op::Transfer {
            from, port, to: aim, ..
        } => seen.to.map(|to| Attempt::Reach {
            from,
            to,
            port: Some(*port),
            l4: L4::Tcp,
            name: named(aim),
            lookup: &seen.dns_log,
        }),
        Op::Resolve { from, name } => Some(Attempt::Resolve {
            from,
            name,
            log: &seen.dns_log,
        }),
        Op::Container { name, .. } => Some(Attempt::Start {
            name,
            error: seen.start_error.as_deref(),
        }),
        _ => None,
    };
    let Some(attempt) = attempt else {
        return Vec::new();
    };
    let begin = if matches!(attempt, Attempt::Resolve { .. }) {
        start
    } else {
        seen.act_start.max(start)
    };
    let events = &lab.fabric.trace().events;
    lab.diagnose(&attempt, succeeded, events.get(begin..).unwrap_or_default())
}

/// The name a step aimed at, if it named its target.
fn named(to: &To) -> Option<&str> {
    match to {
        To::Name(n) => Some(n),
        To::Ip(_) => None,
    }
}

fn has_expectations(e: &Expectations) -> bool {
    e.result.is_some()
        || e.dropped.is_some()
        || e.on_wire.is_some()
        || e.max_rtt.is_some()
        || e.min_rate.is_some()
        || e.error.is_some()
        || e.exit.is_some()
        || e.addresses.is_some()
        || e.matrix.is_some()
}

fn outcome(o: &ConnOutcome) -> (Outcome, String) {
    match o {
        ConnOutcome::Ok => (Outcome::Ok, "ok".into()),
        ConnOutcome::Refused(why) => (Outcome::Refused, format!("refused ({why})")),
        ConnOutcome::Timeout => (Outcome::Timeout, "timeout".into()),
        ConnOutcome::Closed(why) => (Outcome::Closed, format!("closed ({why})")),
    }
}

/// Where a ping, connect or transfer goes: records the sender and, once a name lookup
/// has worked, where the step's own packets begin in the trace.
fn aim(lab: &mut Lab, seen: &mut Seen, from: &str, to: &To) -> Result<IpAddr, String> {
    seen.from = lab.node(from);
    let resolved = target(lab, from, to, &mut seen.dns_log);
    if let Ok(ip) = resolved {
        seen.act_start = lab.fabric.trace().events.len();
        seen.to = Some(ip);
    }
    resolved
}

/// What is wrong with a `container` step's result given its `expect.error`, if anything.
pub(crate) fn start_failure(result: &Result<(), String>, want: Option<&str>) -> Option<String> {
    match (result, want) {
        (Ok(()), Some(want)) => Some(format!(
            "expected the start to fail with \"{want}\", but it succeeded"
        )),
        (Err(e), None) => Some(e.clone()),
        (Err(e), Some(want)) if !e.contains(want) => Some(format!("expected error \"{want}\", got \"{e}\"")),
        _ => None,
    }
}

/// The address `to` stands for, seen from `from`: a host, router or external name
/// stands for its first address; any other name is looked up with DNS on `from`, as
/// `ping NAME` would (containers ask Docker's embedded DNS). From outside Docker, a
/// container's name is shorthand for its address.
fn target(lab: &mut Lab, from: &str, to: &To, log: &mut Vec<String>) -> Result<IpAddr, String> {
    let n = match to {
        To::Ip(ip) => return Ok(*ip),
        To::Name(n) => n,
    };
    let m = &lab.resolved.model;
    let is_container = |x: &str| m.containers.iter().any(|c| c.name == x);
    let machine = m.hosts.iter().any(|h| &h.name == n)
        || m.routers.iter().any(|r| &r.name == n)
        || m.externals.iter().any(|e| &e.name == n);
    let from_container = is_container(from);
    if from_container && let Some(ip) = lab.hosts_file_lookup(from, n) {
        // `hosts: files dns`: the container's /etc/hosts (`extra_hosts`) comes first.
        log.push(format!("{n}: /etc/hosts: {ip} (no DNS query)"));
        return Ok(ip);
    }
    if machine && !is_container(n) {
        return lab
            .address_of(n, false)
            .or_else(|| lab.address_of(n, true))
            .ok_or_else(|| format!("'{n}' has no address"));
    }
    if !from_container && is_container(n) {
        // Shorthand from outside Docker; a host-network container has the host's address.
        if let Ok(Some(ip)) = lab.resolve_container(from, n) {
            return Ok(ip);
        }
        if let Some(ip) = lab.address_of(n, false).or_else(|| lab.address_of(n, true)) {
            return Ok(ip);
        }
    }
    let r = lab.resolve(from, n)?;
    log.clone_from(&r.log);
    let why = match r.outcome {
        LookupOutcome::Addresses(a) => {
            // RFC 6724 puts IPv4 before Docker's ULA IPv6 addresses.
            if let Some(ip) = a.iter().find(|x| x.is_ipv4()).or(a.first()) {
                return Ok(*ip);
            }
            "no address".to_string()
        }
        LookupOutcome::NxDomain => "Name or service not known (NXDOMAIN)".into(),
        LookupOutcome::NoData => "No address associated with hostname".into(),
        LookupOutcome::ServFail => "Temporary failure in name resolution (SERVFAIL)".into(),
        LookupOutcome::NoAnswer(w) => format!("Temporary failure in name resolution ({w})"),
    };
    let mut text = format!("{n}: {why}");
    if let Some(last) = r.log.last() {
        text.push_str(&format!("; {last}"));
    }
    Err(text)
}

/// Frames of the step: every frame that appeared since `start`.
fn step_frames(events: &[TraceEvent]) -> BTreeSet<FrameId> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Originated | EventKind::Copied { .. }))
        .map(|e| e.frame)
        .collect()
}

/// The frames `from` originated since `start`, and their copies.
fn request_frames(events: &[TraceEvent], from: Option<ElemId>) -> BTreeSet<FrameId> {
    let mut set = BTreeSet::new();
    for e in events {
        match e.kind {
            EventKind::Originated if Some(e.elem) == from => {
                set.insert(e.frame);
            }
            EventKind::Copied { parent } if set.contains(&parent) => {
                set.insert(e.frame);
            }
            _ => {}
        }
    }
    set
}

/// Drops that say something about the network (flooded copies that reached the wrong
/// machine are the normal end of a flood, not a finding).
fn meaningful(reason: DropReason) -> bool {
    !matches!(reason, DropReason::NotForUs | DropReason::Malformed)
}

fn check(lab: &mut Lab, start: usize, exp: &Expectations, seen: &Seen, failures: &mut Vec<String>) {
    if let Some(want) = &exp.addresses {
        let want_set: BTreeSet<IpAddr> = want.iter().copied().collect();
        match &seen.addresses {
            Some(got) => {
                let got_set: BTreeSet<IpAddr> = got.iter().copied().collect();
                if got_set != want_set {
                    failures.push(format!(
                        "expected addresses {}, got {}",
                        list(&want_set),
                        list(&got_set)
                    ));
                }
            }
            None => failures.push(format!(
                "expected addresses {}, but the name did not resolve ({})",
                list(&want_set),
                seen.outcome.map_or("no outcome".to_string(), |o| o.to_string())
            )),
        }
    }
    if exp.result.is_some_and(|r| r != Outcome::Ok) && seen.addresses.is_some() {
        let got = seen
            .addresses
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        failures.push(format!(
            "expected {}, but the name resolved to {}",
            exp.result.map_or(String::new(), |o| o.to_string()),
            got.join(", ")
        ));
        return;
    }
    // After a successful name lookup, the step's own packets are the ones that follow.
    let start = seen.act_start.max(start);
    let events = &lab.fabric.trace().events[start..];
    if let Some(want) = exp.result {
        match seen.outcome {
            Some(got) if got == want => {}
            Some(got) => failures.push(format!("expected {want}, got {got}")),
            None => failures.push(format!("expected {want}, but the step has no such outcome")),
        }
    }
    if let Some(want) = exp.dropped {
        let frames = step_frames(events);
        let first = events.iter().find_map(|e| match e.kind {
            EventKind::Dropped { reason, .. } if meaningful(reason) && frames.contains(&e.frame) => {
                Some((reason, e.detail.clone()))
            }
            _ => None,
        });
        match first {
            Some((r, _)) if r == want => {}
            Some((r, d)) => failures.push(format!(
                "expected the first drop to be {want}, but it was {r} ({d})"
            )),
            None => failures.push(format!(
                "expected a drop ({want}), but no packet of this step was dropped"
            )),
        }
    }
    if let Some(max) = exp.max_rtt {
        if let Some(worst) = seen.rtts.iter().max()
            && *worst > max
        {
            failures.push(format!(
                "expected every round trip <= {max}, the slowest took {worst}"
            ));
        }
        if seen.rtts.is_empty() {
            failures.push(format!("expected round trips <= {max}, but no reply came"));
        }
    }
    if let Some(min) = exp.min_rate {
        match seen.rate_bps {
            Some(r) if r >= min.0 as f64 && seen.outcome == Some(Outcome::Ok) => {}
            Some(r) => failures.push(format!("expected at least {min}, achieved {:.2} mbit/s", r / 1e6)),
            None => failures.push(format!("expected at least {min}, but nothing was transferred")),
        }
    }
    if let Some(w) = &exp.on_wire {
        let requests = request_frames(events, seen.from);
        if let Some(f) = check_wire(lab, start, w, &requests) {
            failures.push(f);
        }
    }
}

fn list(set: &BTreeSet<IpAddr>) -> String {
    let v: Vec<String> = set.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// The elements and ports where `at` is: both ends of the interface's link, or a LAN.
fn wire_points(lab: &Lab, at: &str) -> Vec<(ElemId, Option<u16>)> {
    if let Some(lan) = lab.lan(at) {
        return vec![(lan, None)];
    }
    match lab.port(at) {
        Some((elem, port, link)) => {
            let l = lab.fabric.link(link);
            let mut v = vec![(elem, Some(port))];
            v.extend(
                l.ends
                    .iter()
                    .filter(|e| **e != (elem, port))
                    .map(|&(e, p)| (e, Some(p))),
            );
            v
        }
        None => Vec::new(),
    }
}

pub(crate) fn check_wire(
    lab: &Lab,
    start: usize,
    w: &WireCheck,
    requests: &BTreeSet<FrameId>,
) -> Option<String> {
    let points = wire_points(lab, &w.at);
    let events = &lab.fabric.trace().events[start..];
    let mut crossed = 0;
    for e in events {
        if e.kind != EventKind::Transmitted || !requests.contains(&e.frame) {
            continue;
        }
        if !points
            .iter()
            .any(|(el, p)| *el == e.elem && (p.is_none() || *p == e.port))
        {
            continue;
        }
        let Some(snap) = &e.snapshot else { continue };
        let Some(h) = wire_headers(snap) else { continue }; // ARP and friends are not requests
        if h.vni.is_some() && h.inner.is_none() {
            continue; // ARP inside a tunnel
        }
        crossed += 1;
        let mut bad = Vec::new();
        // Through a VXLAN tunnel the addresses may be the outer or the inner ones.
        if let Some(s) = w.src
            && h.src != s
            && h.inner.is_none_or(|i| i.0 != s)
        {
            bad.push(format!("src {} (expected {s})", h.src));
        }
        if let Some(d) = w.dst
            && h.dst != d
            && h.inner.is_none_or(|i| i.1 != d)
        {
            bad.push(format!("dst {} (expected {d})", h.dst));
        }
        if let Some(t) = w.ttl
            && h.ttl != t
        {
            bad.push(format!("ttl {} (expected {t})", h.ttl));
        }
        if let Some(p) = &w.proto
            && &h.proto != p
        {
            bad.push(format!("proto {} (expected {p})", h.proto));
        }
        if let Some(v) = w.vlan
            && h.vlan != Some(v)
        {
            bad.push(format!("vlan {:?} (expected {v})", h.vlan));
        }
        if let Some(v) = w.vxlan_vni
            && h.vni != Some(v)
        {
            match h.vni {
                Some(got) => bad.push(format!("VXLAN VNI {got} (expected {v})")),
                None => bad.push(format!("no VXLAN header (expected VNI {v})")),
            }
        }
        if !bad.is_empty() {
            return Some(format!(
                "on the wire at {}: frame {} had {}",
                w.at,
                e.frame,
                bad.join(", ")
            ));
        }
    }
    if crossed == 0 {
        return Some(format!(
            "on the wire at {}: none of this step's requests crossed it",
            w.at
        ));
    }
    None
}

struct WireHeaders {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    proto: String,
    vlan: Option<u16>,
    /// A VXLAN datagram's VNI and inner IPv4 addresses.
    vni: Option<u32>,
    inner: Option<(IpAddr, IpAddr)>,
}

fn wire_headers(frame: &[u8]) -> Option<WireHeaders> {
    let mut off = 12;
    let mut vlan = None;
    let mut et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    if et == 0x8100 {
        vlan = Some(u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]) & 0x0fff);
        off += 4;
        et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    }
    let ip = frame.get(off + 2..)?;
    let (src, dst, ttl, proto) = match et {
        0x0800 if ip.len() >= 20 => (
            IpAddr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?),
            IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?),
            ip[8],
            ip[9],
        ),
        0x86dd if ip.len() >= 40 => (
            IpAddr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?),
            IpAddr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?),
            ip[7],
            ip[6],
        ),
        _ => return None,
    };
    let proto = match L4::from_proto(proto) {
        L4::Icmp if src.is_ipv6() => "icmpv6".to_string(),
        other => other.name().to_string(),
    };
    let (vni, inner) = vxlan_inner(ip, &proto).map_or((None, None), |(v, i)| (Some(v), i));
    Some(WireHeaders {
        src,
        dst,
        ttl,
        proto,
        vlan,
        vni,
        inner,
    })
}

/// The VNI and inner IPv4 addresses of a UDP datagram to port 4789.
fn vxlan_inner(ip: &[u8], proto: &str) -> Option<(u32, Option<(IpAddr, IpAddr)>)> {
    if proto != "udp" || ip.first()? >> 4 != 4 {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let udp = ip.get(hl..)?;
    if u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]) != 4789 {
        return None;
    }
    let vx = udp.get(8..16)?;
    let vni = u32::from_be_bytes([0, vx[4], vx[5], vx[6]]);
    let eth = udp.get(16..)?;
    let inner = (eth.get(12..14)? == [0x08, 0x00])
        .then(|| {
            let i = eth.get(14..34)?;
            Some((
                IpAddr::from(<[u8; 4]>::try_from(&i[12..16]).ok()?),
                IpAddr::from(<[u8; 4]>::try_from(&i[16..20]).ok()?),
            ))
        })
        .flatten();
    Some((vni, inner))
}

/// The hop-by-hop story of the step's packets: the first meaningful drop and its
/// ancestry, or else the first request.
/// Lines of a step's explanation, at most: enough for the ARP, DNS, request, reply and
/// ICMP errors of a ping or a connect; a bulk transfer is cut with a count.
const MAX_TRACE_LINES: usize = 160;

/// Every packet of the step, hop by hop, in time order: the request and its copies,
/// the replies, ARP and neighbour discovery, DNS lookups and ICMP errors, each with its
/// fate. The frame whose drop explains the step (or the first request) is always shown
/// in full; flooded copies that ended at a machine they were not for are only counted.
/// Ends with a line counting every frame's fate.
pub(crate) fn explain(lab: &Lab, _start: usize, from: Option<ElemId>) -> Vec<String> {
    let events = &lab.fabric.trace().events[..];
    let mut parents: std::collections::BTreeMap<FrameId, FrameId> = std::collections::BTreeMap::new();
    let mut fates: std::collections::BTreeMap<FrameId, Option<&EventKind>> =
        std::collections::BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::Copied { parent } => {
                parents.insert(e.frame, *parent);
                fates.entry(e.frame).or_insert(None);
            }
            EventKind::Delivered | EventKind::Dropped { .. } => {
                fates.insert(e.frame, Some(&e.kind));
            }
            _ => {
                fates.entry(e.frame).or_insert(None);
            }
        }
    }
    let focus = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Dropped { reason, .. } if meaningful(reason)))
        .map(|e| e.frame)
        .or_else(|| request_frames(events, from).into_iter().next());
    let Some(focus) = focus else {
        return vec!["(no packet of this step was recorded)".into()];
    };
    let mut lineage = BTreeSet::from([focus]);
    let mut cur = focus;
    while let Some(&p) = parents.get(&cur) {
        lineage.insert(p);
        cur = p;
    }
    // A flooded copy that ended at a machine it was not for is the normal end of a flood.
    let noise = |f: &FrameId| {
        parents.contains_key(f)
            && !lineage.contains(f)
            && matches!(
                fates.get(f),
                Some(Some(EventKind::Dropped {
                    reason: DropReason::NotForUs,
                    ..
                }))
            )
    };
    let reserved = events.iter().filter(|e| lineage.contains(&e.frame)).count();
    let mut room = MAX_TRACE_LINES.saturating_sub(reserved);
    let mut out = Vec::new();
    let mut left_out = 0usize;
    for e in events {
        if lineage.contains(&e.frame) {
            out.push(format_event(lab, e));
        } else if noise(&e.frame) {
        } else if room > 0 {
            room -= 1;
            out.push(format_event(lab, e));
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        out.push(format!("  … {left_out} more events of this step's other packets"));
    }
    out.push(fate_counts(&fates, noise, lab.fabric.unrecorded()));
    // What connection tracking holds on the machines that translate and filter.
    let m = &lab.resolved.model;
    for name in m
        .hosts
        .iter()
        .map(|h| &h.name)
        .chain(m.routers.iter().map(|r| &r.name))
    {
        let lines = lab.conntrack(name, 4);
        if !lines.is_empty() {
            out.push(format!("  conntrack -L on {name} (most recent):"));
            out.extend(lines.into_iter().map(|l| format!("    {l}")));
        }
    }
    out
}

/// `"12 frames: 8 delivered, 3 flooded copies not for their receiver, 1 dropped
/// (arp-unresolved)"`.
fn fate_counts(
    fates: &std::collections::BTreeMap<FrameId, Option<&EventKind>>,
    noise: impl Fn(&FrameId) -> bool,
    unrecorded: u64,
) -> String {
    let (mut delivered, mut flooded, mut in_flight) = (0, 0, 0);
    let mut dropped: std::collections::BTreeMap<&'static str, usize> = std::collections::BTreeMap::new();
    for (f, fate) in fates {
        match fate {
            _ if noise(f) => flooded += 1,
            Some(EventKind::Delivered) => delivered += 1,
            Some(EventKind::Dropped { reason, .. }) => *dropped.entry(reason.as_str()).or_insert(0) += 1,
            _ => in_flight += 1,
        }
    }
    let mut parts = vec![format!("{delivered} delivered")];
    if !dropped.is_empty() {
        let d: Vec<String> = dropped.iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.push(format!("dropped: {}", d.join(", ")));
    }
    if flooded > 0 {
        parts.push(format!(
            "{flooded} flooded copies ended at machines they were not for"
        ));
    }
    if in_flight > 0 {
        parts.push(format!("{in_flight} still held or on a link"));
    }
    let mut line = format!("  = {} frames: {}", fates.len(), parts.join("; "));
    if unrecorded > 0 {
        line.push_str(&format!(
            " ({unrecorded} events beyond the step's trace budget not recorded)"
        ));
    }
    line
}

/// One trace line: time, place, what happened, why.
pub fn format_event(lab: &Lab, e: &TraceEvent) -> String {
    let name = lab.fabric.element_name(e.elem);
    let place = match e.port.map(|p| lab.fabric.port_name(e.elem, p)) {
        // Switch ports are named after what is plugged in (`web.eth0`): bracket them.
        Some(p) if p.contains('.') => format!("{name}[{p}]"),
        Some(p) => format!("{name}.{p}"),
        None => name.to_string(),
    };
    let what = match &e.kind {
        EventKind::Originated => "sent".to_string(),
        EventKind::Copied { parent } => format!("copy of {parent}"),
        EventKind::Transmitted => "tx".to_string(),
        EventKind::Received => "rx".to_string(),
        EventKind::Note { stage } => stage.to_string(),
        EventKind::Held => "held (waiting for address resolution)".to_string(),
        EventKind::Delivered => "delivered".to_string(),
        EventKind::Dropped { reason, stage } => format!("DROPPED {reason} at {stage}"),
    };
    if e.detail.is_empty() {
        format!("  {}  {}  {:<28} {}", e.time, e.frame, place, what)
    } else {
        format!("  {}  {}  {:<28} {}: {}", e.time, e.frame, place, what, e.detail)
    }
}
