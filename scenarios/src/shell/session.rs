//! A live simulated lab and the commands that act on it.
//!
//! Each network command becomes the step a scenario file would hold (a validated
//! [`Op`] in a [`PlannedStep`]) and runs through the runner's own `run_step`, so what
//! it observes, its drop and its trace read exactly as under `netloom run --trace`.
//! Simulated time advances only while a command runs: the same file and the same
//! commands give the same output, byte for byte.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use netloom_core::{TraceBudget, TraceLevel};
use netloom_drivers::docker::Lab;
use netloom_drivers::net::L4;

use super::command::{Command, VERBS};
use super::inspect;
use super::words::{curl_words, dig_text};
use crate::format::{Outcome, TargetHost};
use crate::runner::{Status, StepReport, run_step};
use crate::validate::{Expectations, Loaded, Op, PlannedStep, To, nearest};

/// How a command ended, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// It did what it says (a ping was answered, a connection opened).
    Ok,
    /// It ran, and the network said no (no reply, refused, timed out).
    Failed,
    /// It could not run: a usage error, an unknown name.
    Invalid,
}

/// What a command printed and how it ended.
#[derive(Clone, Debug)]
pub struct Reply {
    /// For standard output.
    pub out: String,
    /// For standard error (a usage error, an unknown name).
    pub err: String,
    /// How it ended.
    pub fate: Fate,
    /// `exit`: leave with this status (`None` inside: the default status).
    pub exit: Option<Option<u8>>,
}

impl Reply {
    fn ok(out: String) -> Reply {
        Reply {
            out,
            err: String::new(),
            fate: Fate::Ok,
            exit: None,
        }
    }

    fn invalid(err: impl Into<String>) -> Reply {
        Reply {
            out: String::new(),
            err: err.into(),
            fate: Fate::Invalid,
            exit: None,
        }
    }
}

/// Names the completion offers, computed once from the model.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Containers.
    pub containers: Vec<String>,
    /// Every machine a command may run from: containers, externals, routers, hosts.
    pub machines: Vec<String>,
    /// What a ping or curl may aim at besides machines: aliases, names upstream DNS
    /// servers hold.
    pub targets: Vec<String>,
    /// What `network inspect` takes.
    pub networks: Vec<String>,
    /// What `link` takes: LANs and interfaces `node.iface`.
    pub endpoints: Vec<String>,
}

/// The lab and what the shell remembers between commands.
pub struct Session {
    lab: Lab,
    loaded: Loaded,
    seed: u64,
    names: Names,
    /// The last network command and its trace (`trace`).
    last: Option<(String, Vec<String>)>,
    /// Where `capture start` writes, and the files it may write.
    capture: Option<(PathBuf, Vec<PathBuf>)>,
}

/// Capture files `capture stop` names, at most.
const MAX_LISTED: usize = 20;

/// Trace events kept per command: the runner's per-step budget.
const TRACE_BUDGET: TraceBudget = TraceBudget::STEP;

impl Session {
    /// The lab of `loaded`, at simulated time zero, with `seed` (default: the file's).
    pub fn new(loaded: Loaded, seed: Option<u64>) -> Session {
        let seed = seed.unwrap_or(loaded.scenario.seed);
        // Validation resolved the model already (IPAM): build from that.
        let mut lab = Lab::from_resolved(loaded.resolved.clone(), seed);
        lab.fabric.set_trace_level(TraceLevel::Hops);
        let m = &lab.resolved.model;
        let mut machines: Vec<String> = m.names().into_keys().collect();
        if m.hosts.is_empty() {
            machines.push(m.default_host());
        }
        let mut targets: Vec<String> = m
            .containers
            .iter()
            .flat_map(|c| c.networks.iter().flat_map(|e| e.aliases.clone()))
            .chain(
                m.externals
                    .iter()
                    .flat_map(|e| e.dns_records.iter().flat_map(|r| r.keys().cloned())),
            )
            .collect();
        targets.sort();
        targets.dedup();
        let names = Names {
            containers: m.containers.iter().map(|c| c.name.clone()).collect(),
            machines,
            targets,
            networks: inspect::networks(&lab).into_iter().map(|n| n.key).collect(),
            endpoints: lab.wire_points().map(str::to_string).collect(),
        };
        Session {
            lab,
            loaded,
            seed,
            names,
            last: None,
            capture: None,
        }
    }

    /// The names completion offers.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// What the shell says when it starts: the scenario, its warnings, how to go on.
    pub fn banner(&self) -> String {
        let m = &self.lab.resolved.model;
        let mut s = format!(
            "netloom lab: {} ({}, seed {})\n",
            self.loaded.scenario.name.value, self.loaded.file, self.seed
        );
        let _ = writeln!(
            s,
            "  {} containers, {} networks, simulated time {}; `help` lists the commands",
            m.containers.len(),
            inspect::networks(&self.lab).len(),
            self.lab.fabric.now()
        );
        for w in &self.loaded.warnings {
            let _ = writeln!(s, "! {w}");
        }
        for (name, e) in self.lab.start_errors() {
            let _ = writeln!(s, "! container {name} did not start: {e}");
        }
        s
    }

    /// Runs one command.
    pub fn execute(&mut self, cmd: &Command) -> Reply {
        match cmd {
            Command::Help(v) => help(v.as_deref()),
            Command::Exit(code) => Reply {
                exit: Some(*code),
                ..Reply::ok(String::new())
            },
            Command::Ps => Reply::ok(inspect::ps(&self.lab)),
            Command::NetworkLs => Reply::ok(inspect::network_ls(&self.lab)),
            Command::NetworkInspect(keys) => match inspect::network_inspect(&self.lab, keys) {
                Ok(j) => Reply::ok(j),
                Err(e) => Reply::invalid(e),
            },
            Command::Time => Reply::ok(format!("simulated time {}\n", self.lab.fabric.now())),
            Command::Trace => Reply::ok(match &self.last {
                Some((what, lines)) if !lines.is_empty() => {
                    let mut s = format!("trace of `{what}`:\n");
                    for l in lines {
                        let _ = writeln!(s, "{l}");
                    }
                    s
                }
                Some((what, _)) => format!("`{what}` sent no packet\n"),
                None => "no command has sent packets yet\n".into(),
            }),
            Command::Ping {
                from,
                to,
                count,
                size,
                dont_fragment,
            } => self.ping(from, to, *count, *size, *dont_fragment),
            Command::Curl {
                from,
                host,
                port,
                upload,
            } => self.curl(from, host, *port, *upload),
            Command::Dig { from, name } => self.dig(from, name),
            Command::Explain { from, to, proto } => self.explain(from, to, proto.as_deref()),
            Command::Link { a, b, up, set } => self.link(a, b, *up, set),
            Command::Container { name, running } => self.container(name, *running),
            Command::Wait(d) => {
                let step = plain(format!("wait {d}"), Op::Wait(*d));
                let r = self.step("wait", &step);
                Reply::ok(format!("{}\n", r.observed))
            }
            Command::CaptureStart(dir) => self.capture_start(dir),
            Command::CaptureStop => self.capture_stop(),
            Command::CaptureStatus => Reply::ok(match &self.capture {
                Some((dir, _)) => format!("capturing every link into {}\n", dir.display()),
                None => "not capturing (`capture start DIR` starts)\n".into(),
            }),
        }
    }

    /// Ends a capture still running (at exit): the files are complete.
    pub fn finish(&mut self) -> Option<Reply> {
        self.capture.is_some().then(|| self.capture_stop())
    }

    /// Runs `step` through the runner, remembering its trace for `trace`.
    fn step(&mut self, what: &str, step: &PlannedStep) -> StepReport {
        let r = run_step(&mut self.lab, step, true);
        self.last = Some((what.to_string(), r.trace.clone()));
        r
    }

    fn ping(&mut self, from: &str, to: &str, count: u32, size: usize, dont_fragment: bool) -> Reply {
        let (from_ok, target) = match (self.machine(from), self.target(to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return Reply::invalid(format!("ping: {e}")),
        };
        let step = PlannedStep {
            line: 0,
            title: format!("ping {from} -> {to}"),
            op: Op::Ping {
                from: from_ok,
                to: target,
                count,
                size,
                dont_fragment,
            },
            expect: expecting(Outcome::Reach),
        };
        let what = format!("ping {from} {to}");
        let r = self.step(&what, &step);
        let fate = if r.status == Status::Passed {
            Fate::Ok
        } else {
            Fate::Failed
        };
        Reply {
            out: block(&r, fate),
            err: String::new(),
            fate,
            exit: None,
        }
    }

    fn curl(&mut self, from: &str, host: &str, port: u16, upload: Option<u64>) -> Reply {
        let (from_ok, target) = match (self.machine(from), self.target(host)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return Reply::invalid(format!("curl: {e}")),
        };
        let to = match &target {
            To::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let (title, op) = match upload {
            None => (
                format!("connect {from} -> {to} (tcp)"),
                Op::Connect {
                    from: from_ok,
                    to: target,
                    port,
                    l4: L4::Tcp,
                },
            ),
            Some(bytes) => (
                format!("transfer {bytes}B {from} -> {to}"),
                Op::Transfer {
                    from: from_ok,
                    to: target,
                    port,
                    bytes,
                },
            ),
        };
        let step = PlannedStep {
            line: 0,
            title,
            op,
            expect: expecting(Outcome::Ok),
        };
        let r = self.step(&format!("curl {from} {to}"), &step);
        let fate = if r.status == Status::Passed {
            Fate::Ok
        } else {
            Fate::Failed
        };
        let mut out = curl_words(&r.observed, fate, host, port, upload);
        out.push_str(&block(&r, fate));
        Reply {
            out,
            err: String::new(),
            fate,
            exit: None,
        }
    }

    /// `dig FROM NAME`: the machine's own resolver asks (search list and all, as
    /// `getent ahosts` would); the answer printed in dig's sections.
    fn dig(&mut self, from: &str, name: &str) -> Reply {
        let from = match self.machine(from) {
            Ok(f) => f,
            Err(e) => return Reply::invalid(format!("dig: {e}")),
        };
        // As the runner does for a step: this command's events only, within budget.
        self.lab.fabric.clear_trace();
        self.lab.fabric.set_trace_budget(TRACE_BUDGET);
        let result = self.lab.resolve(&from, name);
        let what = format!("dig {from} {name}");
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                self.last = Some((what, Vec::new()));
                return Reply {
                    out: format!(";; {e}\n"),
                    err: String::new(),
                    fate: Fate::Failed,
                    exit: None,
                };
            }
        };
        let mut trace: Vec<String> = r.log.iter().map(|l| format!("  dns: {l}")).collect();
        trace.extend(crate::runner::explain(&self.lab, 0, self.lab.node(&from)));
        self.last = Some((what, trace));
        let (text, fate) = dig_text(&self.lab, name, &r.outcome, &r.log, r.elapsed);
        Reply {
            out: text,
            err: String::new(),
            fate,
            exit: None,
        }
    }

    fn explain(&mut self, from: &str, to: &str, proto: Option<&str>) -> Reply {
        // The command line's flags do not exist here: drop them from the messages.
        let plain = |e: String| {
            format!(
                "explain: {}",
                e.replace("--from ", "")
                    .replace("--to ", "")
                    .replace("--proto ", "")
            )
        };
        let q = match crate::explain::Query::parse(from, to, proto) {
            Ok(q) => q,
            Err(e) => return Reply::invalid(plain(e)),
        };
        self.lab.fabric.set_trace_budget(TRACE_BUDGET);
        match crate::explain::explain_in(&mut self.lab, &q) {
            Ok(text) => {
                let failed = !text.contains("verdict: reached")
                    && !text.contains("verdict: connected")
                    && !text.contains("verdict: answered");
                self.last = Some((
                    format!("explain {from} {to}"),
                    text.lines()
                        .filter(|l| l.starts_with("  "))
                        .map(str::to_string)
                        .collect(),
                ));
                Reply {
                    out: text,
                    err: String::new(),
                    fate: if failed { Fate::Failed } else { Fate::Ok },
                    exit: None,
                }
            }
            Err(e) => Reply::invalid(plain(e)),
        }
    }

    fn link(&mut self, a: &str, b: &str, up: Option<bool>, set: &[(String, String)]) -> Reply {
        for e in [a, b] {
            if !self.lab.resolved.model.has_endpoint(e) {
                let near = nearest(e, &self.names.endpoints)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                return Reply::invalid(format!(
                    "link: '{e}' is neither a LAN nor an interface `node.iface`{near}"
                ));
            }
        }
        let mut impair = match super::command::impairments(set) {
            Ok(i) => i,
            Err(e) => return Reply::invalid(format!("link set: {e}")),
        };
        impair.up = up;
        let state = match up {
            Some(true) => "up".to_string(),
            Some(false) => "down".to_string(),
            None => {
                let kv: Vec<String> = set.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("set {}", kv.join(" "))
            }
        };
        let title = match up {
            Some(_) => format!("link {a} <-> {b} {state}"),
            None => format!("link {a} <-> {b}: {}", &state[4..]),
        };
        let step = plain(
            title,
            Op::Link {
                between: [a.to_string(), b.to_string()],
                impair,
            },
        );
        let r = self.step(&format!("link {state} {a} {b}"), &step);
        outcome_of(&r)
    }

    fn container(&mut self, name: &str, running: bool) -> Reply {
        let verb = if running { "start" } else { "stop" };
        if !self.names.containers.iter().any(|c| c == name) {
            let near = nearest(name, &self.names.containers)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Reply::invalid(format!("{verb}: no such container '{name}'{near}"));
        }
        let step = plain(
            format!("container {name} {verb}"),
            Op::Container {
                name: name.to_string(),
                running,
            },
        );
        let r = self.step(&format!("{verb} {name}"), &step);
        outcome_of(&r)
    }

    fn capture_start(&mut self, dir: &std::path::Path) -> Reply {
        if let Some((d, _)) = &self.capture {
            return Reply::invalid(format!(
                "capture: already capturing into {} (`capture stop` first)",
                d.display()
            ));
        }
        match crate::pcap::PcapDir::new(dir, &self.lab.fabric, None) {
            Ok(sink) => {
                let files = sink.files();
                self.lab.fabric.enable_capture_to(Box::new(sink));
                self.capture = Some((dir.to_path_buf(), files));
                Reply::ok(format!(
                    "capturing every link into {} (a pcap file per link, simulated timestamps); `capture \
                     stop` ends it\n",
                    dir.display()
                ))
            }
            Err(e) => Reply::invalid(format!("capture: {}: {e}", dir.display())),
        }
    }

    fn capture_stop(&mut self) -> Reply {
        let Some((dir, files)) = self.capture.take() else {
            return Reply::invalid("capture: not capturing (`capture start DIR` starts)");
        };
        if let Err(e) = self.lab.fabric.finish_capture() {
            return Reply {
                out: String::new(),
                err: format!("capture: writing into {}: {e}\n", dir.display()),
                fate: Fate::Failed,
                exit: None,
            };
        }
        let written: Vec<&PathBuf> = files.iter().filter(|f| f.is_file()).collect();
        let mut s = format!(
            "capture stopped: {} pcap file(s) in {}\n",
            written.len(),
            dir.display()
        );
        let shown = written.len().min(MAX_LISTED);
        let more = written.len() - shown;
        for f in written.into_iter().take(shown) {
            let _ = writeln!(
                s,
                "  {}",
                f.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
        }
        if more > 0 {
            let _ = writeln!(s, "  … and {more} more");
        }
        Reply::ok(s)
    }

    /// A machine commands may run from, or why not.
    fn machine(&self, name: &str) -> Result<String, String> {
        if self.names.machines.iter().any(|m| m == name) {
            return Ok(name.to_string());
        }
        let near = nearest(name, &self.names.machines)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        Err(format!(
            "unknown machine '{name}'{near}; commands run from a container, external, router or host"
        ))
    }

    /// A target as a step takes it: an address, or a name the file knows (machines,
    /// aliases, names upstream servers hold) or one with a dot (for DNS to decide).
    fn target(&self, s: &str) -> Result<To, String> {
        let t = crate::format::parse_target(s)?;
        if t.port.is_some() {
            return Err(format!("'{s}': no port here"));
        }
        match t.host {
            TargetHost::Ip(ip) => Ok(To::Ip(ip)),
            TargetHost::Name(n) => {
                if n.contains('.') || self.names.machines.contains(&n) || self.names.targets.contains(&n) {
                    return Ok(To::Name(n));
                }
                let all: Vec<String> = self
                    .names
                    .machines
                    .iter()
                    .chain(self.names.targets.iter())
                    .cloned()
                    .collect();
                let near = nearest(&n, &all).map(|h| format!(" ({h})")).unwrap_or_default();
                Err(format!(
                    "unknown name '{n}'{near}; a target is a container, alias, external, router, host, a \
                     domain name or an IP address"
                ))
            }
        }
    }
}

fn expecting(o: Outcome) -> Expectations {
    Expectations {
        result: Some(o),
        ..Expectations::default()
    }
}

fn plain(title: String, op: Op) -> PlannedStep {
    PlannedStep {
        line: 0,
        title,
        op,
        expect: Expectations::default(),
    }
}

/// A step that either worked or reported an error (link, stop, start).
fn outcome_of(r: &StepReport) -> Reply {
    let fate = if r.status == Status::Failed {
        Fate::Failed
    } else {
        Fate::Ok
    };
    Reply {
        out: block(r, fate),
        err: String::new(),
        fate,
        exit: None,
    }
}

/// A step as `netloom run` prints it: a mark and the title, what was observed, the
/// first drop, and for a failure its causes and hints.
fn block(r: &StepReport, fate: Fate) -> String {
    let mark = if fate == Fate::Ok { "✓" } else { "✗" };
    let mut s = format!("{mark} {}\n       {}\n", r.title, r.observed);
    if let Some(d) = &r.first_drop {
        let _ = writeln!(s, "       dropped: {d}");
    }
    for c in &r.causes {
        let _ = writeln!(s, "       cause: {}", c.cause);
        if let Some(h) = &c.hint {
            let _ = writeln!(s, "       hint: {h}");
        }
    }
    s
}

fn help(verb: Option<&str>) -> Reply {
    match verb {
        None => {
            let w = VERBS.iter().map(|v| v.1.len()).max().unwrap_or(0);
            let mut s = String::from("commands (simulated time advances only while one runs):\n");
            for (_, syn, what) in VERBS {
                let _ = writeln!(s, "  {syn:<w$}  {what}");
            }
            s.push_str(
                "a leading `!` inverts a command's success (`! ping a b`: the ping must fail); `#` starts a \
                 comment\n",
            );
            Reply::ok(s)
        }
        Some(v) => match VERBS.iter().find(|x| {
            x.0 == match v {
                "quit" | "q" => "exit",
                "sleep" => "wait",
                other => other,
            }
        }) {
            Some((_, syn, what)) => Reply::ok(format!("{syn}\n  {what}\n")),
            None => Reply::invalid(format!("help: no command '{v}'; `help` lists them")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::command::parse;

    const FILE: &str = r#"
name: shell test
networks:
  app: {}
  other: {}
containers:
  web: { networks: { app: { aliases: [www] } }, listen: [tcp/80] }
  client: { networks: [app] }
  lonely: { networks: [other] }
"#;

    fn session() -> Session {
        let loaded = crate::load("shell.yaml", FILE).expect("valid");
        Session::new(loaded, None)
    }

    fn run(s: &mut Session, line: &str) -> Reply {
        let p = parse(line).expect("parses").expect("a command");
        s.execute(&p.command)
    }

    /// The model decides: same network answers, another network is isolated, and a
    /// failed ping is a failed command (the exit status of a script counts it).
    #[test]
    fn ping_follows_the_model() {
        let mut s = session();
        let ok = run(&mut s, "ping -c 1 client web");
        assert_eq!(ok.fate, Fate::Ok, "{}", ok.out);
        assert!(
            ok.out
                .starts_with("✓ ping client -> web\n       1/1 replies from 172.18.0.2"),
            "{}",
            ok.out
        );
        let bad = run(&mut s, "ping -c 1 client 172.19.0.2");
        assert_eq!(bad.fate, Fate::Failed, "{}", bad.out);
        assert!(bad.out.contains("dropped: network-isolation"), "{}", bad.out);
        assert!(bad.out.contains("cause: client is on network(s)"), "{}", bad.out);
        let t = run(&mut s, "trace");
        assert!(t.out.contains("DROPPED network-isolation"), "{}", t.out);
    }

    /// curl's words follow the runner's observation for each outcome.
    #[test]
    fn curl_reports_like_curl() {
        let mut s = session();
        let ok = run(&mut s, "curl client http://web/");
        assert_eq!(ok.fate, Fate::Ok, "{}", ok.out);
        assert!(
            ok.out
                .starts_with("* Connected to web port 80\n✓ connect client -> web:80 (tcp)"),
            "{}",
            ok.out
        );
        let refused = run(&mut s, "curl client web:81");
        assert_eq!(refused.fate, Fate::Failed);
        assert!(
            refused
                .out
                .starts_with("curl: (7) Failed to connect to web port 81: Connection refused"),
            "{}",
            refused.out
        );
        let unresolved = run(&mut s, "curl lonely web:80");
        assert!(
            unresolved
                .out
                .starts_with("curl: (6) Could not resolve host: web"),
            "{}",
            unresolved.out
        );
        s.execute(&Command::Link {
            a: "web.eth0".into(),
            b: "app".into(),
            up: Some(false),
            set: Vec::new(),
        });
        let timeout = run(&mut s, "curl client 172.18.0.2:80");
        assert!(timeout.out.starts_with("curl: (28)"), "{}", timeout.out);
    }

    #[test]
    fn dig_prints_sections() {
        let mut s = session();
        let r = run(&mut s, "dig client www");
        assert_eq!(r.fate, Fate::Ok);
        assert!(r.out.contains("status: NOERROR"), "{}", r.out);
        assert!(
            r.out
                .contains("\nwww.                    600     IN      A       172.18.0.2\n"),
            "{}",
            r.out
        );
        assert!(r.out.contains(";; SERVER: 127.0.0.11#53"), "{}", r.out);
        let nx = run(&mut s, "dig client nothere");
        assert!(nx.out.contains("status: NXDOMAIN"), "{}", nx.out);
        assert!(!nx.out.contains("ANSWER SECTION"), "{}", nx.out);
        let t = run(&mut s, "trace");
        assert!(
            t.out.contains("dns: nothere A from 127.0.0.11: NXDOMAIN"),
            "{}",
            t.out
        );
    }

    /// `network inspect` has `docker network inspect`'s shape: an array of objects with
    /// the IPAM config, and each container's endpoint keyed by its id.
    #[test]
    fn network_inspect_is_shaped_like_docker() {
        let mut s = session();
        let r = run(&mut s, "network inspect app");
        assert_eq!(r.fate, Fate::Ok, "{}", r.err);
        let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
        let net = &v[0];
        assert_eq!(net["Name"], "app");
        assert_eq!(net["Driver"], "bridge");
        assert_eq!(net["Scope"], "local");
        assert_eq!(net["Internal"], false);
        assert_eq!(net["EnableIPv6"], false);
        assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
        assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "172.18.0.1");
        assert_eq!(net["Id"].as_str().map(str::len), Some(64));
        let eps: Vec<&serde_json::Value> = net["Containers"].as_object().expect("map").values().collect();
        let web = eps.iter().find(|e| e["Name"] == "web").expect("web attached");
        assert_eq!(web["MacAddress"], "02:42:ac:12:00:02");
        assert_eq!(web["IPv4Address"], "172.18.0.2/16");
        assert_eq!(web["IPv6Address"], "");
        assert!(
            eps.iter().all(|e| e["Name"] != "lonely"),
            "only this network's containers"
        );
        let host = run(&mut s, "network inspect host");
        let v: serde_json::Value = serde_json::from_str(&host.out).expect("JSON");
        assert_eq!(v[0]["Driver"], "host");
        assert_eq!(v[0]["IPAM"]["Config"], serde_json::json!([]));
        let bad = run(&mut s, "network inspect ap");
        assert!(bad.err.contains("did you mean 'app'?"), "{}", bad.err);
        let ls = run(&mut s, "network ls");
        for n in ["app", "bridge", "host", "none", "other"] {
            assert!(
                ls.out.lines().any(|l| l.split_whitespace().nth(1) == Some(n)),
                "{n}: {}",
                ls.out
            );
        }
    }

    /// `link set` changes a link as a scenario's `link` step does: 5 ms more each way
    /// on the container's veth shows in the round trip.
    #[test]
    fn link_set_impairs() {
        let mut s = session();
        let before = run(&mut s, "ping -c 1 client web");
        assert!(
            before.out.contains("rtt min/max 16.000us/16.000us"),
            "{}",
            before.out
        );
        let r = run(&mut s, "link set web.eth0 app latency 5ms");
        assert_eq!(r.fate, Fate::Ok, "{}", r.out);
        assert!(
            r.out.starts_with("✓ link web.eth0 <-> app: latency 5ms"),
            "{}",
            r.out
        );
        let after = run(&mut s, "ping -c 1 client web");
        assert!(
            after.out.contains("rtt min/max 10.004ms/10.004ms"),
            "{}",
            after.out
        );
    }

    #[test]
    fn stop_start_and_names() {
        let mut s = session();
        assert_eq!(run(&mut s, "stop web").fate, Fate::Ok);
        assert!(inspect::ps(&s.lab).contains("exited"));
        assert_eq!(run(&mut s, "ping -c 1 client 172.18.0.2").fate, Fate::Failed);
        assert_eq!(run(&mut s, "start web").fate, Fate::Ok);
        assert_eq!(run(&mut s, "ping -c 1 client 172.18.0.2").fate, Fate::Ok);
        let bad = run(&mut s, "stop wbe");
        assert_eq!(bad.fate, Fate::Invalid);
        assert!(bad.err.contains("did you mean 'web'?"), "{}", bad.err);
        let bad = run(&mut s, "ping clinet web");
        assert!(bad.err.contains("did you mean 'client'?"), "{}", bad.err);
        let bad = run(&mut s, "link down web.eth9 app");
        assert_eq!(bad.fate, Fate::Invalid, "{}", bad.err);
        let before = s.lab.fabric.now();
        run(&mut s, "ping nobody web");
        assert_eq!(s.lab.fabric.now(), before, "an invalid command lets no time pass");
    }

    #[test]
    fn explain_sees_the_live_state() {
        let mut s = session();
        let r = run(&mut s, "explain client web:80");
        assert_eq!(r.fate, Fate::Ok, "{}", r.out);
        run(&mut s, "link down web.eth0 app");
        // The bridge sends nothing to a port whose link is down: the SYN is flooded
        // elsewhere and nothing answers.
        let r = run(&mut s, "explain client web:80");
        assert_eq!(r.fate, Fate::Failed, "{}", r.out);
        assert!(r.out.contains("verdict: no answer within 3 s"), "{}", r.out);
        run(&mut s, "link up web.eth0 app");
        let r = run(&mut s, "explain client web");
        assert_eq!(
            r.fate,
            Fate::Ok,
            "icmp without a port, the link back up: {}",
            r.out
        );
        let bad = run(&mut s, "explain client web udp");
        assert!(
            bad.err.starts_with("explain: web: udp needs a port"),
            "{}",
            bad.err
        );
    }
}
