//! `netloom docker SCRIPT`: a shell history of `docker` commands, replayed against one
//! simulated Docker host in simulated time.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`words`] | the script split into commands and words, as a shell would (nothing runs) |
//! | [`parse`] | `docker` command lines as the docker CLI reads them |
//! | [`state`] | the daemon's networks, containers, addresses, ports, and its errors |
//! | [`exec`] | ping, curl, wget, nc, nslookup, dig, getent, host as steps, in the tools' words |
//! | `scenario` | the daemon's state as a scenario, every address pinned |
//! | `show` | `ps`, `port`, `network ls`, `network inspect`, `inspect` and their `-f` templates |
//!
//! The daemon's state is kept here; whenever a command changed the topology before a
//! tool runs (or `network inspect` asks), it is written out as a scenario (every
//! subnet, gateway and address pinned as the daemon allocated them) and loaded into a
//! fresh [`Lab`], whose runner runs the tools' steps. The host is `host1` with `eth0`
//! 192.168.65.10/24 on the LAN `lan`, where the outside machine `client`
//! (192.168.65.100) sits, as for a converted compose file.

pub mod exec;
pub mod parse;
mod scenario;
mod show;
pub mod state;
pub mod words;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use netloom_drivers::docker::Lab;

use crate::compose::{CLIENT_ADDR, HOST_ADDR};
use parse::Cmd;
use state::{Daemon, State, daemon_err};
use words::Join;

use scenario::{GAP, KNOWN_OPTS};
pub use scenario::{Machines, scenario_text};

/// `netloom docker`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DockerArgs {
    /// The script: a file of `docker …` lines, or `-` for standard input.
    pub script: PathBuf,
    /// Print each command, after `$ `, before its output (a transcript).
    #[arg(long, short = 'x')]
    pub echo: bool,
    /// The simulation's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Largest script read (bytes).
const MAX_SCRIPT: u64 = 4 * 1024 * 1024;

/// Runs `netloom docker`: 0 when every command worked, 1 when one failed, 2 when the
/// script could not be read or split.
pub fn main(args: &DockerArgs) -> u8 {
    let (name, text) = if args.script.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().take(MAX_SCRIPT).read_to_end(&mut buf) {
            eprintln!("netloom docker: reading standard input: {e}");
            return 2;
        }
        ("-".to_string(), buf)
    } else {
        let name = args.script.display().to_string();
        match std::fs::File::open(&args.script).and_then(|f| {
            let mut buf = Vec::new();
            f.take(MAX_SCRIPT).read_to_end(&mut buf).map(|_| buf)
        }) {
            Ok(b) => (name, b),
            Err(e) => {
                eprintln!("netloom docker: {name}: {e}");
                return 2;
            }
        }
    };
    let text = match String::from_utf8(text) {
        Ok(t) => t,
        Err(e) => {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
            eprintln!("{name}:{line}: error: not UTF-8 text");
            return 2;
        }
    };
    run_script(
        &name,
        &text,
        &Options {
            echo: args.echo,
            seed: args.seed,
        },
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// How to replay.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Print each command after `$ ` before its output.
    pub echo: bool,
    /// The simulation's seed.
    pub seed: u64,
}

/// Replays `text` (`name` names it in messages); returns the exit status: 2 when it
/// does not split into commands (nothing runs then), else 1 when a command failed and
/// no `||` took care of it, else 0.
pub fn run_script(name: &str, text: &str, opts: &Options, out: &mut impl Write, err: &mut impl Write) -> u8 {
    let cmds = match words::split(text) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{name}:{}:{}: error: {}", e.line, e.col, e.msg);
            if let Some(l) = text.lines().nth(e.line.saturating_sub(1)) {
                let _ = writeln!(err, "  |\n  | {l}\n  | {}^", " ".repeat(e.col.saturating_sub(1)));
            }
            return 2;
        }
    };
    // Every line must be one we can run: checked before anything runs.
    let mut parsed = Vec::new();
    for c in &cmds {
        match parse::parse(&c.words) {
            Ok(p) => parsed.push(Ok(p)),
            Err(u) if u.code == 127 => {
                let _ = writeln!(err, "{name}:{}:{}: error: {}", c.line, c.col, u.msg);
                return 2;
            }
            Err(u) => parsed.push(Err(u)),
        }
    }
    let mut replay = Replay::new(opts.seed);
    let mut last_ok = true;
    let mut failed = false;
    for (i, (c, p)) in cmds.iter().zip(parsed).enumerate() {
        if !c.join.runs(last_ok) {
            continue;
        }
        if opts.echo {
            let _ = writeln!(out, "$ {}", c.text);
        }
        let r = match p {
            Ok(cmd) => replay.execute(&cmd),
            Err(u) => Res::err(u.msg, u.code),
        };
        let _ = out.write_all(r.out.as_bytes());
        let _ = out.flush();
        for w in &r.notes {
            let _ = writeln!(err, "netloom docker: line {}: {w}", c.line);
        }
        if !r.err.is_empty() {
            let _ = err.write_all(r.err.as_bytes());
            if !r.err.ends_with('\n') {
                let _ = writeln!(err);
            }
        }
        last_ok = r.code == 0;
        // A failure handled by a following `||` does not count.
        let handled = cmds.get(i + 1).is_some_and(|n| n.join == Join::IfFailed);
        if !last_ok && !handled {
            failed = true;
        }
    }
    u8::from(failed)
}

/// One command's output.
#[derive(Clone, Debug, Default)]
pub struct Res {
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
    /// Exit status.
    pub code: i32,
    /// netloom's own notes (what is not simulated), for standard error.
    pub notes: Vec<String>,
}

impl Res {
    fn ok(out: String) -> Res {
        Res {
            out,
            ..Res::default()
        }
    }
    fn err(err: String, code: i32) -> Res {
        Res {
            err,
            code,
            ..Res::default()
        }
    }
}

/// The daemon and the lab built from it.
pub struct Replay {
    /// The daemon's state.
    pub daemon: Daemon,
    lab: Option<Lab>,
    dirty: bool,
    seed: u64,
    /// The daemon's state as checked by the last command that changed it (its
    /// scenario text, loaded): the next lab is built from it rather than loaded again
    /// while the daemon's state is still that one.
    checked: Option<(String, crate::Loaded)>,
}

impl Replay {
    /// A fresh daemon.
    pub fn new(seed: u64) -> Replay {
        Replay {
            daemon: Daemon::new(),
            lab: None,
            dirty: true,
            seed,
            checked: None,
        }
    }

    /// Runs one command. A command that changes the topology is checked at once
    /// against the simulated network: a state the network refuses (a VLAN id over
    /// 4094, a bridge name taken, an address that is the gateway…) is the command's
    /// error, as the daemon or the kernel would have it at that step, and the daemon's
    /// state is put back — the script goes on instead of every later tool failing.
    pub fn execute(&mut self, cmd: &Cmd) -> Res {
        let changes = matches!(
            cmd,
            Cmd::NetworkCreate(_) | Cmd::NetworkConnect { .. } | Cmd::Run { .. } | Cmd::Lifecycle { .. }
        );
        let before = changes.then(|| self.daemon.clone());
        let mut res = self.execute_inner(cmd);
        let Some(before) = before else {
            return res;
        };
        let text = scenario_text(&self.daemon);
        let e = match crate::load("docker-script", &text) {
            Ok(l) => {
                self.checked = Some((text, l));
                return res;
            }
            Err(e) => e,
        };
        let msg = e.0.first().map(|x| x.message.clone()).unwrap_or_default();
        match cmd {
            Cmd::Run { .. } => {
                // Created, but its start failed: it stays, not running.
                let started: Vec<usize> = (0..self.daemon.containers.len())
                    .filter(|&i| {
                        self.daemon.containers[i].state == State::Running
                            && !before.containers.iter().any(|b| {
                                b.name == self.daemon.containers[i].name && b.state == State::Running
                            })
                    })
                    .collect();
                for i in started {
                    self.daemon.stop(i);
                    self.daemon.containers[i].state = State::Created;
                }
                let _ = writeln!(
                    res.err,
                    "docker: Error response from daemon: {msg}\n\nRun 'docker run --help' for more information"
                );
            }
            Cmd::NetworkCreate(_) => {
                self.daemon = before;
                res.out.clear();
                let _ = writeln!(res.err, "Error response from daemon: {msg}");
            }
            _ => {
                self.daemon = before;
                let _ = writeln!(res.err, "Error response from daemon: {msg}");
            }
        }
        res.code = 1;
        self.dirty = true;
        res
    }

    fn execute_inner(&mut self, cmd: &Cmd) -> Res {
        match cmd {
            Cmd::Nothing => Res::default(),
            Cmd::Echo(s) => Res::ok(format!("{s}\n")),
            Cmd::Ignored(what) => Res {
                notes: vec![format!("`{what}` changes nothing in the simulation: skipped")],
                ..Res::default()
            },
            Cmd::NetworkCreate(c) => {
                let mut notes = Vec::new();
                for k in c.options.keys() {
                    if !KNOWN_OPTS.contains(&k.as_str()) {
                        notes.push(format!("option -o {k} is kept for inspect but not simulated"));
                    }
                }
                match self.daemon.network_create(c) {
                    Ok(id) => {
                        self.dirty = true;
                        Res {
                            out: format!("{id}\n"),
                            notes,
                            ..Res::default()
                        }
                    }
                    Err(e) => Res::err(e, 1),
                }
            }
            Cmd::NetworkConnect {
                net,
                ctr,
                ip,
                aliases,
            } => match self.daemon.connect(net, ctr, ip.as_deref(), aliases) {
                Ok(()) => {
                    self.dirty = true;
                    Res::default()
                }
                Err(e) => Res::err(e, 1),
            },
            Cmd::NetworkDisconnect { net, ctr, force } => match self.daemon.disconnect(net, ctr, *force) {
                Ok(()) => {
                    self.dirty = true;
                    Res::default()
                }
                Err(e) => Res::err(e, 1),
            },
            Cmd::NetworkRm(names) => {
                let mut r = Res::default();
                for n in names {
                    match self.daemon.network_rm(n) {
                        Ok(()) => {
                            self.dirty = true;
                            let _ = writeln!(r.out, "{n}");
                        }
                        Err(e) => {
                            let _ = writeln!(r.err, "{e}");
                            r.code = 1;
                        }
                    }
                }
                r
            }
            Cmd::NetworkPrune => {
                let unused: Vec<String> =
                    self.daemon
                        .networks
                        .iter()
                        .filter(|n| !n.predefined)
                        .filter(|n| {
                            !self.daemon.containers.iter().any(|c| {
                                c.state == State::Running && c.nets.iter().any(|a| a.network == n.name)
                            })
                        })
                        .map(|n| n.name.clone())
                        .collect();
                let mut out = String::new();
                if !unused.is_empty() {
                    out.push_str("Deleted Networks:\n");
                }
                for n in unused {
                    if self.daemon.network_rm(&n).is_ok() {
                        self.dirty = true;
                        let _ = writeln!(out, "{n}");
                    }
                }
                Res::ok(out)
            }
            Cmd::NetworkLs {
                quiet,
                filters,
                format,
            } => self.network_ls(*quiet, filters, format.as_deref()),
            Cmd::NetworkInspect { names, format } => self.network_inspect(names, format.as_deref()),
            Cmd::Run { spec, create } => self.run(spec, *create),
            Cmd::Lifecycle { verb, names } => {
                let mut r = Res::default();
                for n in names {
                    match self.lifecycle(verb, n) {
                        Ok(()) => {
                            let _ = writeln!(r.out, "{n}");
                        }
                        Err(e) => {
                            let _ = writeln!(r.err, "{e}");
                            r.code = 1;
                        }
                    }
                }
                r
            }
            Cmd::Rm { names, force } => {
                let mut r = Res::default();
                for n in names {
                    match self.daemon.remove(n, *force) {
                        Ok(()) => {
                            self.dirty = true;
                            let _ = writeln!(r.out, "{n}");
                        }
                        Err(e) => {
                            let _ = writeln!(r.err, "{e}");
                            r.code = 1;
                        }
                    }
                }
                r
            }
            Cmd::Ps {
                all,
                quiet,
                filters,
                format,
            } => self.ps(*all, *quiet, filters, format.as_deref()),
            Cmd::Port(c) => match self.daemon.need_container(c) {
                Ok(ci) => Res::ok(show::port_lines(&self.daemon.containers[ci])),
                Err(e) => Res::err(e, 1),
            },
            Cmd::Inspect { names, format } => self.inspect(names, format.as_deref()),
            Cmd::Exec { ctr, argv } => {
                let ci = match self.daemon.need_container(ctr) {
                    Ok(ci) => ci,
                    Err(e) => return Res::err(e, 1),
                };
                let c = &self.daemon.containers[ci];
                if c.state != State::Running {
                    return Res::err(daemon_err(format!("container {} is not running", c.id)), 1);
                }
                let name = c.name.clone();
                self.tool_in(&Place::Container(name), argv)
            }
            Cmd::OnHost(argv) => self.tool_in(&Place::Host, argv),
            Cmd::OnClient(argv) => self.tool_in(&Place::Client, argv),
        }
    }

    fn lifecycle(&mut self, verb: &str, key: &str) -> Result<(), String> {
        let ci = self.daemon.need_container(key)?;
        match verb {
            "start" => {
                self.daemon.start(ci)?;
            }
            "stop" | "kill" => {
                if verb == "kill" && self.daemon.containers[ci].state != State::Running {
                    return Err(daemon_err(format!(
                        "cannot kill container: {key}: container {} is not running",
                        self.daemon.containers[ci].id
                    )));
                }
                self.daemon.stop(ci);
                // SIGKILL: 128 + 9.
                self.daemon.containers[ci].exit_code = if verb == "kill" { 137 } else { 0 };
                if self.daemon.containers[ci].auto_remove {
                    self.daemon.containers.remove(ci);
                }
            }
            "restart" => {
                self.daemon.stop(ci);
                self.daemon.start(ci)?;
            }
            _ => {
                return Err(format!(
                    "docker {verb}: not simulated (pausing freezes processes, not the network)"
                ));
            }
        }
        self.dirty = true;
        Ok(())
    }

    fn run(&mut self, spec: &parse::RunSpec, create: bool) -> Res {
        let mut r = self.run_inner(spec, create);
        if spec.network.as_deref() == Some("host") && !spec.publish.is_empty() {
            r.err.insert_str(
                0,
                "WARNING: Published ports are discarded when using host network mode\n",
            );
        }
        r
    }

    fn run_inner(&mut self, spec: &parse::RunSpec, create: bool) -> Res {
        let run_err = |e: String| {
            let e = if e.starts_with("Error response") {
                format!("docker: {e}\n\nRun 'docker run --help' for more information")
            } else {
                e
            };
            Res::err(e, 125)
        };
        if let Some(x) = spec.network.as_deref().and_then(|n| n.strip_prefix("container:")) {
            return self.run_joined(spec, x);
        }
        let mut notes = Vec::new();
        let ci = match self.daemon.create(spec) {
            Ok(ci) => ci,
            Err(e) => {
                let mut r = run_err(if create { e.replace("docker: ", "") } else { e });
                r.notes = notes;
                return r;
            }
        };
        let id = self.daemon.containers[ci].id.clone();
        if create {
            return Res {
                out: format!("{id}\n"),
                notes,
                ..Res::default()
            };
        }
        if let Err(e) = self.daemon.start(ci) {
            let mut r = run_err(e);
            if spec.detach {
                // The container exists (created) and its id was printed before the error.
                r.out = format!("{id}\n");
            }
            r.notes = notes;
            return r;
        }
        self.dirty = true;
        // A program on the host's network binds the host's ports itself: a second one
        // on a taken port exits at once ("address already in use"), as its process
        // would; the daemon then shows it exited.
        if self.daemon.containers[ci].host_mode() && !self.daemon.containers[ci].listen.is_empty() {
            let name = self.daemon.containers[ci].name.clone();
            let failed = self.lab().ok().and_then(|l| l.start_errors().get(&name).cloned());
            if let Some(e) = failed {
                self.daemon.stop(ci);
                self.daemon.containers[ci].exit_code = 1;
                self.dirty = true;
                notes.push(format!(
                    "container {name} exited at once: its program could not listen: {e}"
                ));
            }
        }
        let foreground_tool = !spec.detach
            && spec.cmd.first().is_some_and(|p| {
                parse::TOOLS.contains(&p.rsplit('/').next().unwrap_or(p)) || p == "cat" || is_shell(&spec.cmd)
            });
        if spec.detach {
            return Res {
                out: format!("{id}\n"),
                notes,
                ..Res::default()
            };
        }
        if !foreground_tool {
            notes.push(
                "`docker run` without -d would stay in the foreground here; the container runs on as with -d"
                    .into(),
            );
            return Res {
                notes,
                ..Res::default()
            };
        }
        // A one-off container running a tool: run it, then the container exits.
        let name = self.daemon.containers[ci].name.clone();
        let mut r = self.tool_in(&Place::Container(name.clone()), &spec.cmd);
        r.notes.splice(0..0, notes);
        if let Some(ci) = self.daemon.container(&name) {
            self.daemon.stop(ci);
            if spec.rm {
                self.daemon.containers.remove(ci);
            }
            self.dirty = true;
        }
        r
    }

    /// `docker run --network container:X IMAGE TOOL …`: the tool runs in X's network
    /// namespace (the netshoot way of debugging a container that has no tools). Only a
    /// one-off tool is simulated; a detached container sharing X's namespace is refused
    /// with a note.
    fn run_joined(&mut self, spec: &parse::RunSpec, x: &str) -> Res {
        let fail = |e: String| {
            Res::err(
                format!(
                    "docker: Error response from daemon: {e}\n\nRun 'docker run --help' for more information"
                ),
                125,
            )
        };
        if !spec.publish.is_empty() || spec.publish_all {
            return fail("conflicting options: port publishing and the container type network mode".into());
        }
        let Some(xi) = self.daemon.container(x) else {
            return fail(format!(
                "joining network namespace of container: No such container: {x}"
            ));
        };
        let target = self.daemon.containers[xi].name.clone();
        if self.daemon.containers[xi].state != state::State::Running {
            let st = match self.daemon.containers[xi].state {
                state::State::Created => "created",
                _ => "exited",
            };
            return fail(format!(
                "cannot join network namespace of a non running container: container {target} is {st}"
            ));
        }
        let tool = !spec.detach
            && spec.cmd.first().is_some_and(|p| {
                parse::TOOLS.contains(&p.rsplit('/').next().unwrap_or(p)) || p == "cat" || is_shell(&spec.cmd)
            });
        if !tool {
            let mut r = Res::err(
                format!(
                    "netloom: a container sharing {target}'s network namespace is simulated only as a one-off tool \
                     (`docker run --rm --network container:{target} IMAGE ping|curl|nc|dig …`)"
                ),
                125,
            );
            r.notes
                .push("not simulated: a long-running container with --network container:X".into());
            return r;
        }
        let mut r = self.tool_in(&Place::Container(target.clone()), &spec.cmd);
        r.notes.insert(
            0,
            format!("runs in {target}'s network namespace (--network container:{target})"),
        );
        r
    }

    /// The lab as the daemon's state stands.
    fn lab(&mut self) -> Result<&mut Lab, String> {
        if self.dirty || self.lab.is_none() {
            let text = scenario_text(&self.daemon);
            let loaded = match self.checked.take() {
                Some((t, l)) if t == text => l,
                _ => crate::load("docker-script", &text).map_err(|e| {
                    format!(
                        "netloom: the simulated network refused this state (please report it):\n{}",
                        e.0.iter().map(|x| x.render(&text)).collect::<Vec<_>>().join("\n")
                    )
                })?,
            };
            let mut lab = Lab::from_resolved(loaded.resolved, self.seed);
            lab.fabric.set_trace_level(netloom_core::TraceLevel::Hops);
            let gaps: Vec<String> = lab
                .resolved
                .model
                .containers
                .iter()
                .filter(|c| c.name.starts_with(GAP))
                .map(|c| c.name.clone())
                .collect();
            for g in gaps {
                let _ = lab.set_running(&g, false);
            }
            self.lab = Some(lab);
            self.dirty = false;
        }
        self.lab.as_mut().ok_or_else(|| "netloom: no lab".to_string())
    }

    fn tool_in(&mut self, place: &Place, argv: &[String]) -> Res {
        // `sh -c "curl … && ping …"`: the inner commands, as the shell would run them.
        if is_shell(argv) {
            let inner = match words::split(&argv[2]) {
                Ok(c) => c,
                Err(e) => return Res::err(format!("sh: syntax error: {}", e.msg), 2),
            };
            let mut total = Res::default();
            let mut last_ok = true;
            for c in inner {
                if !c.join.runs(last_ok) {
                    continue;
                }
                let r = if c.words.first().is_some_and(|w| w == "echo") {
                    Res::ok(format!("{}\n", c.words[1..].join(" ")))
                } else {
                    self.tool_in(place, &c.words)
                };
                total.out.push_str(&r.out);
                total.err.push_str(&r.err);
                total.notes.extend(r.notes);
                total.code = r.code;
                last_ok = r.code == 0;
            }
            return total;
        }
        if let Some(r) = self.local_file(place, argv) {
            return r;
        }
        let (from, container, hosts, ptr, nets) = self.context(place);
        let src = match place {
            Place::Host => HOST_ADDR.parse().ok(),
            Place::Client => CLIENT_ADDR.parse().ok(),
            Place::Container(n) => self
                .daemon
                .container(n)
                .and_then(|ci| self.daemon.containers[ci].nets.iter().find_map(|a| a.ip))
                .map(IpAddr::V4),
        };
        // The host's own addresses: its NIC and the gateway of every bridge network
        // (the bridge devices' addresses). It answers them itself, with TTL 64 — a
        // locally generated reply is never forwarded, whichever bridge it leaves by.
        let gateways: Vec<Ipv4Addr> = self
            .daemon
            .networks
            .iter()
            .filter(|n| n.driver == "bridge")
            .filter_map(|n| n.v4.map(|(_, gw)| gw))
            .collect();
        let lab = match self.lab() {
            Ok(l) => l,
            Err(e) => return Res::err(e, 1),
        };
        let routed = |ip: IpAddr| -> bool {
            container
                && match ip {
                    IpAddr::V4(a) => {
                        !a.is_loopback()
                            && !nets.iter().any(|n| n.contains(&a))
                            && a.to_string() != HOST_ADDR
                            && !gateways.contains(&a)
                    }
                    IpAddr::V6(_) => false,
                }
        };
        let ctx = exec::Ctx {
            from: &from,
            container,
            hosts: &hosts,
            ptr: &ptr,
            routed: &routed,
            src,
        };
        let t = exec::run(lab, &ctx, argv);
        Res {
            out: t.out,
            err: t.err,
            code: t.code,
            notes: Vec::new(),
        }
    }

    /// `cat /etc/hosts` and `cat /etc/resolv.conf` in a container: what Docker writes.
    fn local_file(&self, place: &Place, argv: &[String]) -> Option<Res> {
        let Place::Container(name) = place else {
            return None;
        };
        if argv.first().map(String::as_str) != Some("cat") {
            return None;
        }
        let c = &self.daemon.containers[self.daemon.container(name)?];
        let file = argv.get(1)?;
        let user_net = c.nets.iter().any(|a| {
            self.daemon
                .network(&a.network)
                .is_some_and(|i| !self.daemon.networks[i].predefined)
        });
        match file.as_str() {
            "/etc/hosts" => {
                let mut s = String::from(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
                );
                for (h, a) in &c.add_hosts {
                    let _ = writeln!(s, "{a}\t{h}");
                }
                if let Some(ip) = c.nets.iter().find_map(|a| a.ip) {
                    let _ = writeln!(s, "{ip}\t{}", c.hostname);
                }
                Some(Res::ok(s))
            }
            "/etc/resolv.conf" => {
                let mut s = String::new();
                if user_net {
                    s.push_str("# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 127.0.0.11\n");
                    if !c.dns_search.is_empty() {
                        let _ = writeln!(s, "search {}", c.dns_search.join(" "));
                    }
                    let mut o = vec!["ndots:0".to_string()];
                    o.extend(c.dns_opt.iter().cloned());
                    let _ = writeln!(s, "options {}", o.join(" "));
                } else {
                    s.push_str("# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\n");
                    for d in &c.dns {
                        let _ = writeln!(s, "nameserver {d}");
                    }
                    if !c.dns_search.is_empty() {
                        let _ = writeln!(s, "search {}", c.dns_search.join(" "));
                    }
                }
                Some(Res::ok(s))
            }
            _ => None,
        }
    }

    /// Where a tool runs: its lab machine, whether it is a container, its /etc/hosts,
    /// its reverse names, and its networks' subnets.
    #[allow(clippy::type_complexity)]
    fn context(
        &self,
        place: &Place,
    ) -> (
        String,
        bool,
        Vec<(String, IpAddr)>,
        Vec<(IpAddr, String)>,
        Vec<ipnet::Ipv4Net>,
    ) {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        match place {
            Place::Host => (
                Machines::of(&self.daemon).host,
                false,
                vec![("localhost".into(), loopback)],
                Vec::new(),
                Vec::new(),
            ),
            Place::Client => (
                Machines::of(&self.daemon).client,
                false,
                vec![("localhost".into(), loopback)],
                Vec::new(),
                Vec::new(),
            ),
            Place::Container(name) => {
                let Some(ci) = self.daemon.container(name) else {
                    return (name.clone(), true, Vec::new(), Vec::new(), Vec::new());
                };
                let c = &self.daemon.containers[ci];
                let mut hosts = vec![("localhost".to_string(), loopback)];
                hosts.extend(c.add_hosts.iter().cloned());
                if let Some(ip) = c.nets.iter().find_map(|a| a.ip) {
                    hosts.push((c.hostname.clone(), IpAddr::V4(ip)));
                }
                let mut nets = Vec::new();
                let mut ptr = Vec::new();
                for a in &c.nets {
                    let Some(ni) = self.daemon.network(&a.network) else {
                        continue;
                    };
                    let n = &self.daemon.networks[ni];
                    if let Some((s, _)) = n.v4 {
                        nets.push(s);
                    }
                    if n.predefined {
                        continue;
                    }
                    for o in &self.daemon.containers {
                        if o.state != State::Running {
                            continue;
                        }
                        for oa in o.nets.iter().filter(|x| x.network == n.name) {
                            if let Some(ip) = oa.ip {
                                ptr.push((IpAddr::V4(ip), format!("{}.{}", o.name, n.name)));
                            }
                        }
                    }
                }
                if c.host_mode() {
                    nets.clear();
                }
                (c.name.clone(), !c.host_mode(), hosts, ptr, nets)
            }
        }
    }
}

/// Where a tool runs.
enum Place {
    Host,
    Client,
    Container(String),
}

/// `sh -c "…"` (or bash, ash).
fn is_shell(argv: &[String]) -> bool {
    argv.len() >= 3
        && matches!(
            argv[0].rsplit('/').next().unwrap_or(""),
            "sh" | "bash" | "ash" | "dash"
        )
        && argv[1] == "-c"
}
