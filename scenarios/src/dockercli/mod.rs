//! `netloom docker SCRIPT`: a shell history of `docker` commands, replayed against one
//! simulated Docker host in simulated time.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`words`] | the script split into commands and words, as a shell would (nothing runs) |
//! | [`parse`] | `docker` command lines as the docker CLI reads them |
//! | [`state`] | the daemon's networks, containers, addresses, ports, and its errors |
//! | [`exec`] | ping, curl, wget, nc, nslookup, dig, getent, host as steps, in the tools' words |
//!
//! The daemon's state is kept here; whenever a command changed the topology before a
//! tool runs (or `network inspect` asks), it is written out as a scenario (every
//! subnet, gateway and address pinned as the daemon allocated them) and loaded into a
//! fresh [`Lab`], whose runner runs the tools' steps. The host is `host1` with `eth0`
//! 192.168.65.10/24 on the LAN `lan`, where the outside machine `client`
//! (192.168.65.100) sits, as for a converted compose file.

pub mod exec;
pub mod parse;
pub mod state;
pub mod words;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use indexmap::IndexMap;
use netloom_drivers::docker::Lab;
use serde::Serialize;

use crate::compose::{CLIENT_ADDR, HOST_ADDR};
use parse::Cmd;
use state::{Daemon, State, daemon_err, make_id};
use words::Join;

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
        let run = match c.join {
            Join::Always => true,
            Join::IfOk => last_ok,
            Join::IfFailed => !last_ok,
        };
        if !run {
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

/// Prefix of the stand-in containers that hold the default bridge's free addresses
/// below a running container's (the model allocates there in order; these keep the
/// daemon's holes). Never shown.
const GAP: &str = "netloom-gap-";

/// The daemon and the lab built from it.
pub struct Replay {
    /// The daemon's state.
    pub daemon: Daemon,
    lab: Option<Lab>,
    dirty: bool,
    seed: u64,
}

impl Replay {
    /// A fresh daemon.
    pub fn new(seed: u64) -> Replay {
        Replay {
            daemon: Daemon::new(),
            lab: None,
            dirty: true,
            seed,
        }
    }

    /// Runs one command.
    pub fn execute(&mut self, cmd: &Cmd) -> Res {
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
            Cmd::NetworkLs { quiet } => Res::ok(self.network_ls(*quiet)),
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
            Cmd::Ps { all, quiet } => Res::ok(self.ps(*all, *quiet)),
            Cmd::Port(c) => match self.daemon.need_container(c) {
                Ok(ci) => Res::ok(port_lines(&self.daemon.containers[ci])),
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

    /// The lab as the daemon's state stands.
    fn lab(&mut self) -> Result<&mut Lab, String> {
        if self.dirty || self.lab.is_none() {
            let text = scenario_text(&self.daemon);
            let loaded = crate::load("docker-script", &text).map_err(|e| {
                format!(
                    "netloom: the simulated network refused this state (please report it):\n{}",
                    e.0.iter().map(|x| x.render(&text)).collect::<Vec<_>>().join("\n")
                )
            })?;
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
                let go = match c.join {
                    Join::Always => true,
                    Join::IfOk => last_ok,
                    Join::IfFailed => !last_ok,
                };
                if !go {
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
        let lab = match self.lab() {
            Ok(l) => l,
            Err(e) => return Res::err(e, 1),
        };
        let routed = |ip: IpAddr| -> bool {
            container
                && match ip {
                    IpAddr::V4(a) => {
                        !a.is_loopback() && !nets.iter().any(|n| n.contains(&a)) && a.to_string() != HOST_ADDR
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

    fn network_ls(&self, quiet: bool) -> String {
        let mut nets: Vec<&state::Network> = self.daemon.networks.iter().collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        if quiet {
            return nets.iter().map(|n| format!("{}\n", &n.id[..12])).collect();
        }
        let mut rows = vec![vec![
            "NETWORK ID".to_string(),
            "NAME".into(),
            "DRIVER".into(),
            "SCOPE".into(),
        ]];
        for n in nets {
            rows.push(vec![
                n.id[..12].to_string(),
                n.name.clone(),
                n.driver.clone(),
                "local".into(),
            ]);
        }
        crate::shell::inspect::table(&rows)
    }

    fn network_inspect(&mut self, names: &[String], format: Option<&str>) -> Res {
        let mut keys = Vec::new();
        let mut r = Res::default();
        for n in names {
            match self.daemon.network(n) {
                Some(i) => keys.push(self.daemon.networks[i].name.clone()),
                None => {
                    let _ = writeln!(r.err, "{}", daemon_err(format!("network {n} not found")));
                    r.code = 1;
                }
            }
        }
        if keys.is_empty() {
            if r.code == 0 {
                return Res::ok("[]\n".into());
            }
            return r;
        }
        let ids: IndexMap<(String, String), String> = self.ids();
        let id = move |kind: &str, name: &str| -> String {
            ids.get(&(kind.to_string(), name.to_string()))
                .cloned()
                .unwrap_or_else(|| make_id(kind, name, 0))
        };
        let hide = |n: &str| n.starts_with(GAP);
        let attachable: Vec<String> = self
            .daemon
            .networks
            .iter()
            .filter(|n| n.attachable)
            .map(|n| n.name.clone())
            .collect();
        let is_attachable = |n: &str| attachable.iter().any(|a| a == n);
        let naming = crate::shell::inspect::Naming {
            id: &id,
            hide: &hide,
            attachable: &is_attachable,
        };
        let lab = match self.lab() {
            Ok(l) => l,
            Err(e) => return Res::err(e, 1),
        };
        match crate::shell::inspect::network_inspect_with(lab, &keys, &naming) {
            Ok(json) => {
                r.out = match format {
                    Some(f) => match serde_json::from_str::<serde_json::Value>(&json) {
                        Ok(serde_json::Value::Array(items)) => {
                            items.iter().map(|v| template(f, v) + "\n").collect()
                        }
                        _ => json,
                    },
                    None => json,
                };
            }
            Err(e) => {
                r.err.push_str(&e);
                r.code = 1;
            }
        }
        r
    }

    /// The daemon's ids by (kind, name), for inspect.
    fn ids(&self) -> IndexMap<(String, String), String> {
        let mut m = IndexMap::new();
        for n in &self.daemon.networks {
            m.insert(("network".to_string(), n.name.clone()), n.id.clone());
        }
        for c in &self.daemon.containers {
            m.insert(("container".to_string(), c.name.clone()), c.id.clone());
            for (k, a) in c.nets.iter().enumerate() {
                m.insert(
                    ("endpoint".to_string(), format!("{}/eth{k}", c.name)),
                    make_id("endpoint", &format!("{}/{}", c.name, a.network), 0),
                );
            }
        }
        m
    }

    fn ps(&self, all: bool, quiet: bool) -> String {
        let list: Vec<&state::Container> = self
            .daemon
            .containers
            .iter()
            .rev()
            .filter(|c| all || c.state == State::Running)
            .collect();
        if quiet {
            return list.iter().map(|c| format!("{}\n", &c.id[..12])).collect();
        }
        let mut rows = vec![vec![
            "CONTAINER ID".to_string(),
            "IMAGE".into(),
            "COMMAND".into(),
            "STATUS".into(),
            "PORTS".into(),
            "NAMES".into(),
        ]];
        for c in list {
            let cmd = c.cmd.join(" ");
            let cmd = if cmd.chars().count() > 20 {
                format!("{}…", cmd.chars().take(19).collect::<String>())
            } else {
                cmd
            };
            let status = match c.state {
                State::Running => "Up".to_string(),
                State::Exited => format!("Exited ({})", c.exit_code),
                State::Created => "Created".to_string(),
            };
            rows.push(vec![
                c.id[..12].to_string(),
                c.image.clone(),
                format!("\"{cmd}\""),
                status,
                ports_column(c),
                c.name.clone(),
            ]);
        }
        crate::shell::inspect::table(&rows)
    }

    fn inspect(&mut self, names: &[String], format: Option<&str>) -> Res {
        let mut items = Vec::new();
        let mut r = Res::default();
        let macs = self.macs();
        for n in names {
            if let Some(ci) = self.daemon.container(n) {
                items.push(serde_json::to_value(self.container_json(ci, &macs)).unwrap_or_default());
            } else if self.daemon.network(n).is_some() {
                let nr = self.network_inspect(std::slice::from_ref(n), None);
                if let Ok(serde_json::Value::Array(v)) = serde_json::from_str::<serde_json::Value>(&nr.out) {
                    items.extend(v);
                }
            } else {
                let _ = writeln!(r.err, "Error: No such object: {n}");
                r.code = 1;
            }
        }
        match format {
            Some(f) => {
                for v in &items {
                    r.out.push_str(&template(f, v));
                    r.out.push('\n');
                }
            }
            None => {
                if !items.is_empty() || r.code == 0 {
                    r.out = pretty(&items);
                }
            }
        }
        r
    }

    /// The MAC of each running container's interface, from the lab.
    fn macs(&mut self) -> IndexMap<(String, String), String> {
        let mut m = IndexMap::new();
        let names: Vec<(String, Vec<String>)> = self
            .daemon
            .containers
            .iter()
            .filter(|c| c.state == State::Running && !c.host_mode())
            .map(|c| (c.name.clone(), c.nets.iter().map(|a| a.network.clone()).collect()))
            .collect();
        if names.is_empty() {
            return m;
        }
        let Ok(lab) = self.lab() else {
            return m;
        };
        for (c, nets) in names {
            let Some(id) = lab.node(&c) else {
                continue;
            };
            let Some(node) = lab.fabric.element::<netloom_drivers::router::Node>(id) else {
                continue;
            };
            for (k, net) in nets.iter().enumerate() {
                if let Some(i) = node.ifaces().iter().find(|i| i.name == format!("eth{k}")) {
                    let mac = i
                        .mac
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":");
                    m.insert((c.clone(), net.clone()), mac);
                }
            }
        }
        m
    }

    fn container_json(&self, ci: usize, macs: &IndexMap<(String, String), String>) -> ContainerJson {
        let c = &self.daemon.containers[ci];
        let mut networks = IndexMap::new();
        for a in &c.nets {
            let n = self.daemon.network(&a.network).map(|i| &self.daemon.networks[i]);
            let running = c.state == State::Running;
            let special = a.network == "host" || a.network == "none";
            let mut dns = Vec::new();
            if running && n.is_some_and(|n| !n.predefined) {
                dns.push(c.name.clone());
                dns.push(c.id[..12].to_string());
                dns.extend(a.aliases.iter().cloned());
            }
            networks.insert(
                a.network.clone(),
                EndpointJson {
                    ipam_config: a.static_ip.map(|ip| IpamJson {
                        ipv4_address: ip.to_string(),
                    }),
                    links: None,
                    aliases: if a.aliases.is_empty() {
                        None
                    } else {
                        Some(a.aliases.clone())
                    },
                    mac_address: macs
                        .get(&(c.name.clone(), a.network.clone()))
                        .cloned()
                        .unwrap_or_default(),
                    network_id: n.map(|n| n.id.clone()).unwrap_or_default(),
                    endpoint_id: if running {
                        make_id("endpoint", &format!("{}/{}", c.name, a.network), 0)
                    } else {
                        String::new()
                    },
                    gateway: match (running, special, n.and_then(|n| n.v4)) {
                        (true, false, Some((_, g))) => g.to_string(),
                        _ => String::new(),
                    },
                    ip_address: a.ip.map(|i| i.to_string()).unwrap_or_default(),
                    ip_prefix_len: match (a.ip, n.and_then(|n| n.v4)) {
                        (Some(_), Some((s, _))) => s.prefix_len(),
                        _ => 0,
                    },
                    dns_names: if dns.is_empty() { None } else { Some(dns) },
                },
            );
        }
        let mut ports: IndexMap<String, Option<Vec<BindingJson>>> = IndexMap::new();
        for (proto, p) in &c.listen {
            ports.insert(format!("{p}/{proto}"), None);
        }
        for (ip, hp, cp, proto) in &c.bound {
            let e = ports
                .entry(format!("{cp}/{proto}"))
                .or_insert(None)
                .get_or_insert_with(Vec::new);
            let ip = ip.map_or("0.0.0.0".to_string(), |a| a.to_string());
            e.push(BindingJson {
                host_ip: ip.clone(),
                host_port: hp.to_string(),
            });
            if ip == "0.0.0.0" {
                e.push(BindingJson {
                    host_ip: "::".into(),
                    host_port: hp.to_string(),
                });
            }
        }
        let status = match c.state {
            State::Running => "running",
            State::Exited => "exited",
            State::Created => "created",
        };
        ContainerJson {
            id: c.id.clone(),
            name: format!("/{}", c.name),
            state: StateJson {
                status,
                running: c.state == State::Running,
                exit_code: c.exit_code,
            },
            image: c.image.clone(),
            config: ConfigJson {
                hostname: c.hostname.clone(),
                image: c.image.clone(),
                cmd: if c.cmd.is_empty() {
                    None
                } else {
                    Some(c.cmd.clone())
                },
                exposed_ports: c
                    .listen
                    .iter()
                    .map(|(pr, p)| (format!("{p}/{pr}"), Empty {}))
                    .collect(),
            },
            host_config: HostConfigJson {
                network_mode: c.nets.first().map_or("bridge".into(), |a| a.network.clone()),
                dns: c.dns.clone(),
                dns_search: c.dns_search.clone(),
                dns_options: c.dns_opt.clone(),
                extra_hosts: if c.add_hosts.is_empty() {
                    None
                } else {
                    Some(c.add_hosts.iter().map(|(h, a)| format!("{h}:{a}")).collect())
                },
                auto_remove: c.auto_remove,
            },
            network_settings: NetworkSettingsJson { ports, networks },
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

/// `-o` options the simulation understands.
const KNOWN_OPTS: &[&str] = &[
    "parent",
    "macvlan_mode",
    "ipvlan_mode",
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.name",
    "com.docker.network.bridge.gateway_mode_ipv4",
];

/// `docker ps`'s PORTS cell: published as `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`,
/// exposed-only as `80/tcp`.
fn ports_column(c: &state::Container) -> String {
    let mut cells = Vec::new();
    if c.state != State::Running {
        return String::new();
    }
    for (proto, p) in &c.listen {
        let bound: Vec<_> = c.bound.iter().filter(|b| b.2 == *p && b.3 == *proto).collect();
        if bound.is_empty() {
            if !c.host_mode() {
                cells.push(format!("{p}/{proto}"));
            }
            continue;
        }
        for (ip, hp, cp, pr) in bound {
            match ip {
                Some(a) => cells.push(format!("{a}:{hp}->{cp}/{pr}")),
                None => {
                    cells.push(format!("0.0.0.0:{hp}->{cp}/{pr}"));
                    cells.push(format!("[::]:{hp}->{cp}/{pr}"));
                }
            }
        }
    }
    cells.join(", ")
}

/// `docker port CTR`.
fn port_lines(c: &state::Container) -> String {
    let mut s = String::new();
    for (ip, hp, cp, proto) in &c.bound {
        match ip {
            Some(a) => {
                let _ = writeln!(s, "{cp}/{proto} -> {a}:{hp}");
            }
            None => {
                let _ = writeln!(s, "{cp}/{proto} -> 0.0.0.0:{hp}\n{cp}/{proto} -> [::]:{hp}");
            }
        }
    }
    s
}

/// JSON with Docker's four-space indent.
fn pretty<T: Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8_lossy(&buf).into_owned() + "\n"
}

/// The Go template subset people put after `-f`: `{{.A.B}}`, `{{json .A}}`,
/// `{{range .A}}…{{end}}` (over a map's values or a list), `{{index .A "key"}}`, and
/// text between them.
pub fn template(t: &str, v: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(p) = rest.find("{{") {
        out.push_str(&rest[..p]);
        let after = &rest[p + 2..];
        let Some(e) = after.find("}}") else {
            out.push_str(&rest[p..]);
            return out;
        };
        let action = after[..e]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        rest = &after[e + 2..];
        if let Some(path) = action.strip_prefix("range ") {
            let Some(end) = rest.find("{{end}}") else {
                return out;
            };
            let body = &rest[..end];
            rest = &rest[end + 7..];
            match lookup_path(v, path.trim()) {
                Some(serde_json::Value::Object(m)) => {
                    for x in m.values() {
                        out.push_str(&template(body, x));
                    }
                }
                Some(serde_json::Value::Array(a)) => {
                    for x in a {
                        out.push_str(&template(body, x));
                    }
                }
                _ => {}
            }
        } else if let Some(path) = action.strip_prefix("json ") {
            out.push_str(
                &lookup_path(v, path.trim())
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "null".into()),
            );
        } else if let Some(args) = action.strip_prefix("index ") {
            let mut it = args.split_whitespace();
            let base = it.next().and_then(|p| lookup_path(v, p));
            let key = it.next().unwrap_or("").trim_matches('"');
            out.push_str(
                &base
                    .and_then(|b| b.get(key))
                    .map(scalar)
                    .unwrap_or_else(|| "<no value>".into()),
            );
        } else {
            out.push_str(
                &lookup_path(v, action)
                    .map(scalar)
                    .unwrap_or_else(|| "<no value>".into()),
            );
        }
    }
    out.push_str(rest);
    out
}

fn lookup_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// A value as Go's template prints it: strings bare, maps as `map[k:v]`.
fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<nil>".into(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(scalar).collect::<Vec<_>>().join(" ")),
        serde_json::Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", scalar(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// The lab's names for the Docker host, the outside machine and their LAN: `host1`,
/// `client` and `lan`, unless a container took one of those names.
pub struct Machines {
    /// The Docker host.
    pub host: String,
    /// The outside machine.
    pub client: String,
    /// The LAN.
    pub lan: String,
}

impl Machines {
    /// The names for `d`'s containers.
    pub fn of(d: &Daemon) -> Machines {
        let free = |base: &str| {
            let used = |n: &str| d.containers.iter().any(|c| c.name == n);
            if !used(base) {
                return base.to_string();
            }
            (1..)
                .map(|i| format!("netloom-{base}-{i}"))
                .find(|n| !used(n))
                .unwrap_or_default()
        };
        Machines {
            host: free(state::HOST),
            client: free("client"),
            lan: free("lan"),
        }
    }
}

/// The daemon's state as a scenario: every running container with its addresses
/// pinned, the networks with their subnets and gateways.
pub fn scenario_text(d: &Daemon) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let m = Machines::of(d);
    let mut y = String::new();
    let _ = writeln!(y, "name: \"docker script\"");
    let _ = writeln!(
        y,
        "hosts:\n  {}:\n    interfaces:\n      eth0: {{ address: {HOST_ADDR}/24, lan: {} }}",
        m.host, m.lan
    );
    let _ = writeln!(y, "lans:\n  {}: {{}}", m.lan);
    let _ = writeln!(
        y,
        "externals:\n  {}: {{ address: {CLIENT_ADDR}/24, lan: {} }}",
        m.client, m.lan
    );
    let user: Vec<&state::Network> = d.networks.iter().filter(|n| !n.predefined).collect();
    if user.is_empty() {
        let _ = writeln!(y, "networks: {{}}");
    } else {
        let _ = writeln!(y, "networks:");
    }
    for n in user {
        let _ = writeln!(y, "  {}:\n    host: {}", q(&n.name), m.host);
        if n.driver != "bridge" {
            let _ = writeln!(y, "    driver: {}", n.driver);
        }
        if n.internal {
            let _ = writeln!(y, "    internal: true");
        }
        if n.ipv6 {
            let _ = writeln!(y, "    enable_ipv6: true");
        }
        if let Some((s, g)) = n.v4 {
            let _ = writeln!(
                y,
                "    ipam:\n      config:\n        - subnet: {s}\n          gateway: {g}"
            );
            if let Some(r) = n.ip_range {
                let _ = writeln!(y, "          ip_range: {r}");
            }
            if let Some((s6, g6)) = n.v6 {
                let _ = writeln!(y, "        - subnet: \"{s6}\"");
                if let Some(g6) = g6 {
                    let _ = writeln!(y, "          gateway: \"{g6}\"");
                }
            }
        }
        let opts: Vec<(&String, &String)> = n
            .options
            .iter()
            .filter(|(k, _)| KNOWN_OPTS.contains(&k.as_str()))
            .collect();
        if !opts.is_empty() {
            let _ = writeln!(y, "    driver_opts:");
            for (k, v) in opts {
                let _ = writeln!(y, "      {}: {}", q(k), q(v));
            }
        }
    }
    // Running containers; on the default bridge, in address order with stand-ins for
    // the free addresses below each (the model hands them out in container order).
    let running: Vec<&state::Container> = d
        .containers
        .iter()
        .filter(|c| c.state == State::Running)
        .collect();
    let bridge_ip = |c: &state::Container| c.nets.iter().find(|a| a.network == "bridge").and_then(|a| a.ip);
    let mut order: Vec<&state::Container> = running
        .iter()
        .copied()
        .filter(|c| bridge_ip(c).is_some())
        .collect();
    order.sort_by_key(|c| bridge_ip(c));
    let others: Vec<&state::Container> = running
        .iter()
        .copied()
        .filter(|c| bridge_ip(c).is_none())
        .collect();
    let _ = writeln!(y, "containers:{}", if running.is_empty() { " {}" } else { "" });
    let mut next = u32::from(Ipv4Addr::new(172, 17, 0, 2));
    for c in order.iter().chain(others.iter()) {
        if let Some(ip) = bridge_ip(c) {
            while next < u32::from(ip) {
                let _ = writeln!(
                    y,
                    "  \"{GAP}{}\":\n    host: {}\n    networks: [bridge]",
                    Ipv4Addr::from(next),
                    m.host
                );
                next += 1;
            }
            next = u32::from(ip) + 1;
        }
        let _ = writeln!(y, "  {}:\n    host: {}\n    networks:", q(&c.name), m.host);
        for a in &c.nets {
            let predefined = d.network(&a.network).is_none_or(|i| d.networks[i].predefined);
            if predefined {
                let _ = writeln!(y, "      {}: {{}}", a.network);
                continue;
            }
            let mut aliases = vec![c.id[..12].to_string()];
            aliases.extend(a.aliases.iter().cloned());
            let list: Vec<String> = aliases.iter().map(|s| q(s)).collect();
            let _ = write!(y, "      {}: {{ aliases: [{}]", q(&a.network), list.join(", "));
            if let Some(ip) = a.ip {
                let _ = write!(y, ", ipv4_address: {ip}");
            }
            if let Some(ip6) = c.ip6.filter(|_| std::ptr::eq(a, &c.nets[0])) {
                let _ = write!(y, ", ipv6_address: \"{ip6}\"");
            }
            let _ = writeln!(y, " }}");
        }
        if let Some(mac) = &c.mac {
            let _ = writeln!(y, "    mac_address: {}", q(mac));
        }
        if !c.add_hosts.is_empty() {
            let l: Vec<String> = c.add_hosts.iter().map(|(h, a)| q(&format!("{h}={a}"))).collect();
            let _ = writeln!(y, "    extra_hosts: [{}]", l.join(", "));
        }
        if !c.bound.is_empty() && !c.host_mode() {
            let ports: Vec<String> = c
                .bound
                .iter()
                .map(|(ip, hp, cp, proto)| {
                    let pre = ip.map(|a| format!("{a}:")).unwrap_or_default();
                    let suf = if proto == "udp" { "/udp" } else { "" };
                    q(&format!("{pre}{hp}:{cp}{suf}"))
                })
                .collect();
            let _ = writeln!(y, "    ports: [{}]", ports.join(", "));
        }
        let listen: Vec<String> = c
            .listen
            .iter()
            .filter(|(p, _)| p == "tcp" || p == "udp")
            .map(|(p, n)| format!("{p}/{n}"))
            .collect();
        if !listen.is_empty() {
            let _ = writeln!(y, "    listen: [{}]", listen.join(", "));
        }
        for (k, list) in [
            ("dns", &c.dns),
            ("dns_search", &c.dns_search),
            ("dns_opt", &c.dns_opt),
        ] {
            if !list.is_empty() {
                let l: Vec<String> = list.iter().map(|x| q(x)).collect();
                let _ = writeln!(y, "    {k}: [{}]", l.join(", "));
            }
        }
    }
    y
}

#[derive(Serialize)]
struct ContainerJson {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "State")]
    state: StateJson,
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "HostConfig")]
    host_config: HostConfigJson,
    #[serde(rename = "Config")]
    config: ConfigJson,
    #[serde(rename = "NetworkSettings")]
    network_settings: NetworkSettingsJson,
}

#[derive(Serialize)]
struct StateJson {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "Running")]
    running: bool,
    #[serde(rename = "ExitCode")]
    exit_code: i32,
}

#[derive(Serialize)]
struct HostConfigJson {
    #[serde(rename = "NetworkMode")]
    network_mode: String,
    #[serde(rename = "Dns")]
    dns: Vec<String>,
    #[serde(rename = "DnsOptions")]
    dns_options: Vec<String>,
    #[serde(rename = "DnsSearch")]
    dns_search: Vec<String>,
    #[serde(rename = "ExtraHosts")]
    extra_hosts: Option<Vec<String>>,
    #[serde(rename = "AutoRemove")]
    auto_remove: bool,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ConfigJson {
    #[serde(rename = "Hostname")]
    hostname: String,
    #[serde(rename = "ExposedPorts")]
    exposed_ports: IndexMap<String, Empty>,
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Image")]
    image: String,
}

#[derive(Serialize)]
struct NetworkSettingsJson {
    #[serde(rename = "Ports")]
    ports: IndexMap<String, Option<Vec<BindingJson>>>,
    #[serde(rename = "Networks")]
    networks: IndexMap<String, EndpointJson>,
}

#[derive(Serialize)]
struct BindingJson {
    #[serde(rename = "HostIp")]
    host_ip: String,
    #[serde(rename = "HostPort")]
    host_port: String,
}

#[derive(Serialize)]
struct IpamJson {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

#[derive(Serialize)]
struct EndpointJson {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamJson>,
    #[serde(rename = "Links")]
    links: Option<Vec<String>>,
    #[serde(rename = "Aliases")]
    aliases: Option<Vec<String>>,
    #[serde(rename = "MacAddress")]
    mac_address: String,
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "Gateway")]
    gateway: String,
    #[serde(rename = "IPAddress")]
    ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    ip_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    dns_names: Option<Vec<String>>,
}
