//! `netloom emulate`: the scenario as a live network. Every container (and every
//! external marked `emulate: true`, or all with `--all`) becomes a real network
//! namespace holding TAP devices with the model's MACs, addresses, routes and MTUs;
//! the engine forwards between them in real time (bridges, NAT, published ports,
//! DNS…); the file's steps run with real programs (`ping`, sockets, `getent`, `exec`).
//!
//! Everything is made from this process with system calls and netlink — no `ip`
//! process, no name through a command parser. Every check that can fail runs before
//! the run's record and namespaces exist. Nothing outlives the run: namespaces carry
//! the run id in their names and are deleted, with every process still inside them,
//! on every exit path (end, failed step, a signal at any point — SIGINT, SIGTERM,
//! SIGHUP —, panic: a guard's `Drop`); TAPs go with their namespaces; after `kill -9`,
//! `netloom cleanup` removes what the run's record names.

mod child;
mod inns;
mod netlink;
mod netns;
pub mod registry;
mod setup;
mod steps;
pub mod userns;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use netloom_drivers::docker::{EmuMachine, Lab};
use netloom_drivers::tap::{Command as LiveCommand, Live, Tap};

use crate::runner::Report;
use crate::validate::Loaded;
use registry::RunRecord;

/// How to emulate.
#[derive(Clone, Debug, Default)]
pub struct EmulateOptions {
    /// Keep the network up after the steps until Ctrl-C.
    pub hold: bool,
    /// Make every external a real namespace too.
    pub all: bool,
    /// Override the file's seed.
    pub seed: Option<u64>,
    /// Write every link's frames, as they cross the engine, into this directory (one
    /// pcap file per link, named as `run --pcap` names them; live fabric time).
    pub pcap: Option<std::path::PathBuf>,
}

pub use netloom_drivers::tap::{STOP, install_stop_signals as install_signal_handlers};

/// What is missing for emulation here, if anything. An ordinary user must first have
/// entered netloom's user namespace ([`userns::enter`]).
pub fn check_privileges() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "emulation creates network namespaces and TAP devices: run it as root, or let netloom enter a \
             user namespace first (netloom emulate does so by itself)"
                .into(),
        );
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map(|_| ())
        .map_err(|e| format!("/dev/net/tun cannot be opened ({e}): load the tun module or give access to it"))
}

/// Why a live network did not start. Whatever was made is removed by then.
#[derive(Debug)]
pub enum StartError {
    /// A stop signal (SIGINT, SIGTERM, SIGHUP) arrived during set-up.
    Interrupted,
    /// What failed, with the kernel's or file system's words.
    Failed(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Interrupted => {
                f.write_str("interrupted during set-up; everything made so far was removed")
            }
            StartError::Failed(e) => f.write_str(e),
        }
    }
}

impl From<String> for StartError {
    fn from(e: String) -> Self {
        StartError::Failed(e)
    }
}

/// A run id: eight hex digits from the process id and the clock.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mix = (nanos ^ ((std::process::id() as u64) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:08x}", (mix >> 32) as u32)
}

/// Deletes the run's namespaces (killing what still runs inside) and its record when
/// dropped: the end of a run, an error, an interruption, a panic unwinding.
struct Guard {
    record: RunRecord,
}

impl Drop for Guard {
    fn drop(&mut self) {
        netns::delete(&self.record.id, &self.record.namespace_names());
        self.record.remove();
    }
}

/// What a finished live run gives back.
pub struct Finished {
    /// The steps' report; steps an interruption kept from running are listed as not
    /// run.
    pub report: Report,
    /// Whether a stop signal ended the run before its steps were done.
    pub interrupted: bool,
    /// With [`EmulateOptions::pcap`]: the capture files written, or why not.
    pub captures: Option<Result<Vec<std::path::PathBuf>, String>>,
}

/// The live network of one run.
pub struct Emulation {
    /// The run's record (id, namespaces).
    pub record: RunRecord,
    machines: Vec<EmuMachine>,
    // Fields drop in order: the TAPs' descriptors and the served sockets close before
    // the guard deletes the namespaces that they would otherwise keep alive.
    live: Live,
    handle: netloom_drivers::tap::LiveHandle,
    servers: inns::Servers,
    /// The capture files (`--pcap`) and their directory.
    captures: Option<(std::path::PathBuf, Vec<std::path::PathBuf>)>,
    guard: Guard,
}

/// Prints `what` took since `t` when `NETLOOM_TIMING` is set.
fn timing(what: &str, t: std::time::Instant) {
    if std::env::var_os("NETLOOM_TIMING").is_some() {
        eprintln!("{what}: {:?}", t.elapsed());
    }
}

impl Emulation {
    /// Builds the network of `loaded`: the lab with the chosen machines left real,
    /// their namespaces, TAPs, addresses, routes, resolv.conf and listeners.
    ///
    /// # Errors
    /// What failed, or that a stop signal came; everything made so far is removed.
    pub fn start(loaded: &Loaded, opts: &EmulateOptions) -> Result<Emulation, StartError> {
        let t0 = std::time::Instant::now();
        check_privileges()?;
        let resolved = loaded
            .model
            .resolve()
            .map_err(|e| StartError::Failed(format!("{e:?}")))?;
        let mut real: BTreeSet<String> = BTreeSet::new();
        for c in &loaded.model.containers {
            if !c.networks.iter().any(|e| e.network == "host") {
                real.insert(c.name.clone());
            }
        }
        for (name, e) in &loaded.scenario.externals {
            if opts.all || e.emulate.as_ref().is_some_and(|v| v.value) {
                real.insert(name.value.clone());
            }
        }
        let seed = opts.seed.unwrap_or(loaded.scenario.seed);
        let mut lab = Lab::with_emulated(resolved, seed, real);
        // Every frame crosses the engine: capture them there, file by link, as `run`
        // does. The sink writes as frames cross and flushes when the fabric goes (any
        // exit path); teardown finishes it to report write errors.
        let mut captures = None;
        if let Some(dir) = &opts.pcap {
            let sink = crate::pcap::PcapDir::new(dir, &lab.fabric, None)
                .map_err(|e| StartError::Failed(format!("--pcap {}: {e}", dir.display())))?;
            captures = Some((dir.clone(), sink.files()));
            lab.fabric.enable_capture_to(Box::new(sink));
        }
        let machines = lab.emulated().to_vec();
        let id = run_id();
        let namespaces: Vec<(String, String)> = machines
            .iter()
            .map(|m| (m.name.clone(), format!("nl{id}-{}", m.name)))
            .collect();
        preflight(&namespaces, &machines)?;
        raise_fd_limit();
        timing("checks", t0);
        if STOP.load(Ordering::Relaxed) {
            return Err(StartError::Interrupted);
        }
        let record = RunRecord::new(id, loaded.file.clone(), namespaces);
        // The record comes before any namespace, so that a run killed half-way can be
        // cleaned up; the guard removes both on any failure from here on.
        record.save()?;
        let guard = Guard {
            record: record.clone(),
        };
        netns::prepare_run(&record.id)?;
        let t = std::time::Instant::now();
        let progress = crate::progress::bar(machines.len() as u64, "namespaces and TAPs");
        let built = setup::build(&record, &machines, &progress);
        progress.finish_and_clear();
        let built = built?;
        tracing::info!("set up {} namespaces in {:?}", machines.len(), t.elapsed());
        if std::env::var_os("NETLOOM_TIMING").is_some() {
            eprintln!("setup: {:?} for {} machines", t.elapsed(), machines.len());
        }
        let servers = inns::Servers::start(built.sockets, lab.live_directory())?;
        let (live, handle) =
            Live::new(lab, built.taps).map_err(|e| StartError::Failed(format!("forwarding loop: {e}")))?;
        Ok(Emulation {
            record,
            machines,
            live,
            handle,
            servers,
            captures,
            guard,
        })
    }

    /// How to enter each namespace, one line per machine.
    pub fn banner(&self) -> String {
        let mut s = format!(
            "live network {} (netloom exec NAME -- CMD, or ip netns exec NS CMD):\n",
            self.record.id
        );
        for m in &self.machines {
            let addrs: Vec<String> = m
                .ifaces
                .iter()
                .flat_map(|i| {
                    i.v4.iter()
                        .map(|a| format!("{} {a}", i.name))
                        .chain(i.v6.iter().map(|a| format!("{} {a}", i.name)))
                })
                .collect();
            let ns = self.record.namespace_of(&m.name).unwrap_or("?");
            s.push_str(&format!("  {:<12} {ns:<24} {}\n", m.name, addrs.join(", ")));
        }
        s
    }

    /// Runs the steps on a thread of their own while this thread forwards; then, with
    /// `hold`, forwards on until a stop signal. Tears everything down before
    /// returning — within moments of a stop signal, whatever was running.
    pub fn run(self, loaded: &Loaded, hold: bool) -> Finished {
        let plan = steps::Plan::new(loaded, &self.live.lab, &self.record, &self.machines);
        let handle = self.handle.clone();
        let steps = loaded.steps.clone();
        let header = report_of(loaded, Vec::new());
        let worker = std::thread::spawn(move || {
            let (reports, interrupted) = steps::run_all(&plan, &steps, &handle);
            if hold && !interrupted {
                // The network stays up: show the steps now.
                let r = Report {
                    steps: reports.clone(),
                    ..header
                };
                anstream::print!("{}", crate::report::text_colored(&r));
                println!("holding the network up; Ctrl-C ends it");
            } else {
                handle.send(LiveCommand::Stop);
            }
            (reports, interrupted)
        });
        let mut this = self;
        this.live.run(&STOP);
        if hold && !STOP.load(Ordering::Relaxed) {
            this.live.run(&STOP);
        }
        // The loop ends on the worker's Stop (its steps are done) or on a stop signal,
        // which the worker's current step sees within milliseconds too.
        let (steps, interrupted) = worker.join().unwrap_or_default();
        let captures = this.captures.take().map(|(dir, files)| {
            this.live
                .lab
                .fabric
                .finish_capture()
                .map(|()| files)
                .map_err(|e| format!("{}: {e}", dir.display()))
        });
        this.teardown();
        Finished {
            report: report_of(loaded, steps),
            interrupted,
            captures,
        }
    }

    /// TAPs first (persistent, so closing them is cheap), then the served sockets,
    /// then the namespaces with whatever still runs inside them.
    fn teardown(self) {
        let Emulation {
            live, servers, guard, ..
        } = self;
        let t = std::time::Instant::now();
        drop(live);
        let t1 = t.elapsed();
        drop(servers);
        let t2 = t.elapsed();
        drop(guard);
        tracing::info!(
            "torn down: TAPs in {t1:?}, served sockets in {:?}, namespaces in {:?}",
            t2 - t1,
            t.elapsed() - t2
        );
        if std::env::var_os("NETLOOM_TIMING").is_some() {
            eprintln!(
                "teardown: taps {t1:?}, servers {:?}, namespaces {:?}",
                t2 - t1,
                t.elapsed() - t2
            );
        }
    }
}

/// The report of `loaded` with `steps`.
pub fn report_of(loaded: &Loaded, steps: Vec<crate::runner::StepReport>) -> Report {
    Report {
        name: loaded.scenario.name.value.clone(),
        file: loaded.file.clone(),
        description: loaded.scenario.description.clone(),
        warnings: loaded.warnings.clone(),
        seed: loaded.scenario.seed,
        steps,
    }
}

/// Every step of `loaded`, reported as not run (an interruption before they could).
pub fn not_run(loaded: &Loaded) -> Report {
    report_of(loaded, steps::not_run(&loaded.steps, 0))
}

/// Moves this process — which must have one thread — into namespace `ns` of a live
/// run as `ip netns exec` would (network namespace, own mount namespace, the
/// namespace's `/sys` and `/etc` files), for `netloom exec` to `exec` the program.
///
/// # Errors
/// What failed, naming the namespace.
pub fn enter_namespace(ns: &str) -> Result<(), String> {
    let entry = netloom_drivers::tap::NsEntry::new(&netns::netns_path(ns), Some(&netns::etc_dir(ns)))
        .map_err(|e| format!("namespace {ns}: {e}"))?;
    entry.enter().map_err(|e| format!("entering namespace {ns}: {e}"))
}

/// What can be known wrong before anything is made: names the kernel or the file
/// system would refuse, and namespaces of those names that exist already.
fn preflight(namespaces: &[(String, String)], machines: &[EmuMachine]) -> Result<(), StartError> {
    for (m, ns) in namespaces {
        if let Some(why) = netns::invalid_name(ns) {
            return Err(StartError::Failed(format!(
                "{m}: the namespace name {ns:?} {why}"
            )));
        }
        if let Some(p) = netns::taken(ns) {
            return Err(StartError::Failed(format!("{m}: {} exists already", p.display())));
        }
    }
    for m in machines {
        for i in &m.ifaces {
            if let Some(why) = netns::invalid_ifname(&i.name) {
                return Err(StartError::Failed(format!(
                    "{}: the interface name {:?} {why}",
                    m.name, i.name
                )));
            }
        }
    }
    Ok(())
}

/// One descriptor per TAP, held for the whole run: lift the soft limit on open files
/// to the hard one (often 1,024 by default, too few for a thousand containers).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// `netloom forward --tap NS:IF …`: one bridge network of the engine between TAP
/// devices created as `IF` inside the existing namespaces `NS` (addressed by the
/// caller), forwarding until SIGINT/SIGTERM. This is how `bench/emulation.sh` puts
/// netloom beside the kernel bridge and vde_switch.
///
/// # Errors
/// What could not be set up.
pub fn forward(taps: &[(String, String)], offload: bool) -> Result<(), String> {
    use netloom_drivers::docker::{ContainerDef, EndpointDef, Model, NetworkDef};
    check_privileges()?;
    let mut m = Model::default();
    m.networks.push(NetworkDef::bridge("fwd"));
    for i in 0..taps.len() {
        let mut c = ContainerDef::new(format!("port{i}"));
        c.networks.push(EndpointDef {
            network: "fwd".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: Vec::new(),
        });
        m.containers.push(c);
    }
    let resolved = m.resolve().map_err(|e| format!("{e:?}"))?;
    let names: BTreeSet<String> = m.containers.iter().map(|c| c.name.clone()).collect();
    let lab = Lab::with_emulated(resolved, 0, names);
    let mut attached = Vec::new();
    for ((ns, ifname), mach) in taps.iter().zip(lab.emulated()) {
        if let Some(why) = netns::invalid_name(ns) {
            return Err(format!("namespace {ns:?} {why}"));
        }
        // Born inside the namespace, from a thread that entered it (by path: the name
        // passes through no parser).
        let name = ifname.clone();
        let tap = inns::run_in(&netns::netns_path(ns), move || Tap::create_with(&name, offload))?
            .map_err(|e| format!("namespace {ns}: {e}"))?;
        attached.push((tap, mach.element, 0));
    }
    let (mut live, _handle) = Live::new(lab, attached).map_err(|e| e.to_string())?;
    live.lab.fabric.set_trace_level(netloom_core::TraceLevel::Off);
    install_signal_handlers();
    live.run(&STOP);
    eprintln!(
        "netloom forward: rx {} frames, tx {} frames, tx dropped {}",
        live.stats().rx_frames,
        live.stats().tx_frames,
        live.stats().tx_dropped
    );
    Ok(())
}
