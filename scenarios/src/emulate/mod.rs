//! `netloom emulate`: the scenario as a live network. Every container (and every
//! external marked `emulate: true`, or all with `--all`) becomes a real network
//! namespace holding TAP devices with the model's MACs, addresses, routes and MTUs;
//! the engine forwards between them in real time (bridges, NAT, published ports,
//! DNS…); the file's steps run with real programs (`ping`, sockets, `getent`, `exec`).
//!
//! Nothing outlives the run: namespaces carry the run id in their names and are
//! deleted on every exit path (end, failed step, Ctrl-C, panic — a guard's `Drop`);
//! TAPs are not persistent, so they vanish with the process; after `kill -9`,
//! `netloom cleanup` removes the namespaces the run's record names.

mod inns;
mod netns;
pub mod registry;
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

/// A run id: eight hex digits from the process id and the clock.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mix = (nanos ^ ((std::process::id() as u64) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:08x}", (mix >> 32) as u32)
}

/// Deletes the run's namespaces and record when dropped: the end of a run, an error,
/// a panic unwinding.
struct Guard {
    record: RunRecord,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let ns: Vec<String> = self.record.namespaces.iter().map(|(_, n)| n.clone()).collect();
        netns::delete(&ns);
        self.record.remove();
    }
}

/// The live network of one run.
pub struct Emulation {
    /// The run's record (id, namespaces).
    pub record: RunRecord,
    machines: Vec<EmuMachine>,
    // Fields drop in order: the (persistent) TAPs' descriptors close before the
    // guard deletes the namespaces that hold the devices.
    live: Live,
    handle: netloom_drivers::tap::LiveHandle,
    guard: Guard,
}

impl Emulation {
    /// Builds the network of `loaded`: the lab with the chosen machines left real,
    /// their namespaces, TAPs, addresses, routes, resolv.conf and listeners.
    ///
    /// # Errors
    /// What failed, with the kernel's words; everything made so far is removed.
    pub fn start(loaded: &Loaded, opts: &EmulateOptions) -> Result<Emulation, String> {
        check_privileges()?;
        let resolved = loaded.model.resolve().map_err(|e| format!("{e:?}"))?;
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
        let lab = Lab::with_emulated(resolved, seed, real);
        let machines = lab.emulated().to_vec();
        let id = run_id();
        let record = RunRecord {
            id: id.clone(),
            pid: std::process::id(),
            file: loaded.file.clone(),
            namespaces: machines
                .iter()
                .map(|m| (m.name.clone(), format!("nl{id}-{}", m.name)))
                .collect(),
        };
        // The record comes first, so that a run killed half-way can be cleaned up.
        record.save()?;
        let guard = Guard {
            record: record.clone(),
        };
        let t = std::time::Instant::now();
        let taps = setup(&record, &machines)?;
        if std::env::var_os("NETLOOM_TIMING").is_some() {
            eprintln!("setup: {:?} for {} machines", t.elapsed(), machines.len());
        }
        let (live, handle) = Live::new(lab, taps).map_err(|e| format!("forwarding loop: {e}"))?;
        Ok(Emulation {
            record,
            machines,
            live,
            handle,
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
    /// `hold`, forwards on until Ctrl-C. Tears everything down before returning.
    pub fn run(mut self, loaded: &Loaded, hold: bool) -> Report {
        let plan = steps::Plan::new(loaded, &self.live.lab, &self.record, &self.machines);
        let handle = self.handle.clone();
        let steps = loaded.steps.clone();
        let header = Report {
            name: loaded.scenario.name.value.clone(),
            file: loaded.file.clone(),
            description: loaded.scenario.description.clone(),
            warnings: loaded.warnings.clone(),
            seed: loaded.scenario.seed,
            steps: Vec::new(),
        };
        let worker = std::thread::spawn(move || {
            let reports = steps::run_all(&plan, &steps, &handle);
            if hold {
                // The network stays up: show the steps now.
                let r = Report {
                    steps: reports.clone(),
                    ..header
                };
                print!("{}", crate::report::text(&r));
                println!("holding the network up; Ctrl-C ends it");
            } else {
                handle.send(LiveCommand::Stop);
            }
            reports
        });
        self.live.run(&STOP);
        if hold && !STOP.load(Ordering::Relaxed) {
            self.live.run(&STOP);
        }
        // Unblock a worker still waiting on the loop, then collect what it did.
        STOP.store(true, Ordering::Relaxed);
        let steps = worker.join().unwrap_or_default();
        // TAPs first (persistent, so closing them is cheap), then the namespaces, whose
        // devices the kernel unregisters in one batch.
        let Emulation { live, guard, .. } = self;
        let t = std::time::Instant::now();
        drop(live);
        let t1 = t.elapsed();
        drop(guard);
        if std::env::var_os("NETLOOM_TIMING").is_some() {
            eprintln!("teardown: taps {t1:?}, namespaces {:?}", t.elapsed() - t1);
        }
        Report {
            name: loaded.scenario.name.value.clone(),
            file: loaded.file.clone(),
            description: loaded.scenario.description.clone(),
            warnings: loaded.warnings.clone(),
            seed: loaded.scenario.seed,
            steps,
        }
    }
}

/// Creates the namespaces, TAPs (moved into them and renamed), addresses, routes,
/// resolv.conf files and listeners. Returns each TAP with its place in the fabric.
fn setup(
    record: &RunRecord,
    machines: &[EmuMachine],
) -> Result<Vec<(Tap, netloom_core::ElemId, netloom_core::PortId)>, String> {
    let adds: Vec<String> = record
        .namespaces
        .iter()
        .map(|(_, n)| format!("netns add {n}"))
        .collect();
    if userns::inside() {
        let names: Vec<String> = record.namespaces.iter().map(|(_, n)| n.clone()).collect();
        netns::create_own(&names)?;
    } else {
        netns::ip_batch(None, false, &adds)?;
    }
    let mut taps = Vec::new();
    let mut configs: Vec<(String, Vec<String>)> = Vec::new();
    for m in machines {
        let ns = record.namespace_of(&m.name).unwrap_or_default().to_string();
        // Each TAP is born inside its namespace with its final name: moving a device
        // between namespaces costs an RCU grace period (tens of ms) apiece.
        let names: Vec<String> = m.ifaces.iter().map(|i| i.name.clone()).collect();
        let created = inns::run_in(&netns::netns_path(&ns), move || {
            names
                .iter()
                .map(|n| {
                    let t = Tap::create_with(n, true).map_err(|e| e.to_string())?;
                    t.set_persist(true).map_err(|e| e.to_string())?;
                    Ok(t)
                })
                .collect::<Result<Vec<Tap>, String>>()
        })??;
        let mut lines = vec!["link set dev lo up".to_string()];
        for (p, (i, tap)) in m.ifaces.iter().zip(created).enumerate() {
            let mac: Vec<String> = i.mac.iter().map(|b| format!("{b:02x}")).collect();
            lines.push(format!(
                "link set dev {} address {} mtu {}{} up",
                i.name,
                mac.join(":"),
                i.mtu,
                if i.noarp { " arp off" } else { "" }
            ));
            for a in &i.v4 {
                lines.push(format!("addr add {a} dev {}", i.name));
            }
            for a in &i.v6 {
                lines.push(format!("addr add {a} dev {} nodad", i.name));
            }
            taps.push((tap, m.element, p as netloom_core::PortId));
        }
        for (net, via, port) in &m.routes {
            let dev = m.ifaces.get(*port).map_or("eth0", |i| i.name.as_str());
            let dest = if net.prefix_len() == 0 {
                "default".to_string()
            } else {
                net.to_string()
            };
            match via {
                Some(via) => lines.push(format!("route add {dest} via {via} dev {dev}")),
                None => lines.push(format!("route add {dest} dev {dev}")),
            }
        }
        configs.push((ns.clone(), lines));
        netns::write_resolv_conf(&ns, &m.resolv.render())?;
        if !m.hosts.is_empty() {
            let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
            for (a, n) in &m.hosts {
                text.push_str(&format!("{a}\t{n}\n"));
            }
            netns::write_etc(&ns, "hosts", &text)?;
        }
    }
    let t = std::time::Instant::now();
    netns::ip_batch_many(&configs)?;
    if std::env::var_os("NETLOOM_TIMING").is_some() {
        eprintln!("  addresses and routes: {:?}", t.elapsed());
    }
    for m in machines {
        let ns = record.namespace_of(&m.name).unwrap_or_default();
        let v6 = m.ifaces.iter().any(|i| !i.v6.is_empty());
        inns::start_listeners(&netns::netns_path(ns), &m.listens, v6)?;
        if let Some(zone) = &m.zone {
            inns::start_zone(&netns::netns_path(ns), zone.clone(), v6)?;
        }
    }
    Ok(taps)
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
            aliases: Vec::new(),
        });
        m.containers.push(c);
    }
    let resolved = m.resolve().map_err(|e| format!("{e:?}"))?;
    let names: BTreeSet<String> = m.containers.iter().map(|c| c.name.clone()).collect();
    let lab = Lab::with_emulated(resolved, 0, names);
    let mut attached = Vec::new();
    for ((ns, ifname), mach) in taps.iter().zip(lab.emulated()) {
        let tap = Tap::create_with(ifname, offload).map_err(|e| e.to_string())?;
        netns::ip_batch(None, false, &[format!("link set dev {ifname} netns {ns}")])?;
        attached.push((tap, mach.element, 0));
    }
    let (mut live, _handle) = Live::new(lab, attached).map_err(|e| e.to_string())?;
    live.lab.fabric.set_trace_level(netloom_core::TraceLevel::Off);
    install_signal_handlers();
    live.run(&STOP);
    eprintln!(
        "netloom forward: rx {} frames, tx {} frames, tx dropped {}",
        live.stats.rx_frames, live.stats.tx_frames, live.stats.tx_dropped
    );
    Ok(())
}
