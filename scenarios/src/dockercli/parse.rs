//! `docker` command lines as the docker CLI reads them (its pflag rules: `--flag
//! value`, `--flag=value`, `-abc` bundles, `-p8080:80`, `--` ends the flags; for
//! `run`, `create` and `exec` the flags stop at the image or container), into typed
//! commands. Flags that do not change the network (`-e`, `-v`, `--restart`…) are
//! accepted and ignored; a flag the CLI does not know is its error, word for word.

use std::net::IpAddr;

use indexmap::IndexMap;

use super::state::Publish;

/// `docker network create`.
#[derive(Clone, Debug, Default)]
pub struct NetCreate {
    /// Name.
    pub name: String,
    /// `--driver` (default bridge).
    pub driver: String,
    /// `--subnet`, each.
    pub subnets: Vec<String>,
    /// `--gateway`, each.
    pub gateways: Vec<String>,
    /// `--ip-range`, each.
    pub ip_ranges: Vec<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--ipv6`.
    pub ipv6: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `-o`, in order.
    pub options: IndexMap<String, String>,
}

/// `docker run` / `docker create`.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// `-d`.
    pub detach: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--name`.
    pub name: Option<String>,
    /// `--network` / `--net` (the first given).
    pub network: Option<String>,
    /// Further `--network` flags (Docker 25+ attaches the container to each).
    pub more_networks: Vec<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--ip6`.
    pub ip6: Option<String>,
    /// `--mac-address`.
    pub mac: Option<String>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `-p`.
    pub publish: Vec<Publish>,
    /// `-P`.
    pub publish_all: bool,
    /// `--expose`.
    pub expose: Vec<(String, u16)>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_opt: Vec<String>,
    /// `--add-host`.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// The image.
    pub image: String,
    /// The command after it.
    pub cmd: Vec<String>,
}

/// A command of the script.
#[derive(Clone, Debug)]
pub enum Cmd {
    /// `docker network create`.
    NetworkCreate(NetCreate),
    /// `docker network connect`.
    NetworkConnect {
        /// Network.
        net: String,
        /// Container.
        ctr: String,
        /// `--ip`.
        ip: Option<String>,
        /// `--alias`.
        aliases: Vec<String>,
    },
    /// `docker network disconnect`.
    NetworkDisconnect {
        /// Network.
        net: String,
        /// Container.
        ctr: String,
        /// `-f`.
        force: bool,
    },
    /// `docker network rm`.
    NetworkRm(Vec<String>),
    /// `docker network ls`.
    NetworkLs {
        /// `-q`.
        quiet: bool,
        /// `-f`, each `KEY=VALUE`.
        filters: Vec<String>,
        /// `--format`.
        format: Option<String>,
    },
    /// `docker network inspect`.
    NetworkInspect {
        /// Networks.
        names: Vec<String>,
        /// `-f`.
        format: Option<String>,
    },
    /// `docker network prune`.
    NetworkPrune,
    /// `docker run` (`create: false`) or `docker create`.
    Run {
        /// The spec.
        spec: RunSpec,
        /// Only create.
        create: bool,
    },
    /// `start`, `stop`, `restart`, `kill`.
    Lifecycle {
        /// The verb.
        verb: String,
        /// Containers.
        names: Vec<String>,
    },
    /// `docker rm`.
    Rm {
        /// Containers.
        names: Vec<String>,
        /// `-f`.
        force: bool,
    },
    /// `docker ps`.
    Ps {
        /// `-a`.
        all: bool,
        /// `-q`.
        quiet: bool,
        /// `-f`, each `KEY=VALUE`.
        filters: Vec<String>,
        /// `--format`.
        format: Option<String>,
    },
    /// `docker port`.
    Port(String),
    /// `docker inspect`.
    Inspect {
        /// Containers or networks.
        names: Vec<String>,
        /// `-f`.
        format: Option<String>,
    },
    /// `docker exec CTR CMD…`.
    Exec {
        /// Container.
        ctr: String,
        /// The command.
        argv: Vec<String>,
    },
    /// A docker command that changes nothing here (`pull`, `images`, `logs`…): a note.
    Ignored(String),
    /// A tool run on the Docker host itself (`curl http://localhost:8080`).
    OnHost(Vec<String>),
    /// `ssh client CMD…`: a tool run on the outside machine `client`.
    OnClient(Vec<String>),
    /// `echo`.
    Echo(String),
    /// `sleep N`, `true`, `clear`: nothing to do.
    Nothing,
}

/// A parse error and the exit status the docker CLI gives it.
#[derive(Clone, Debug)]
pub struct Usage {
    /// The message (as the CLI prints it).
    pub msg: String,
    /// The exit status (125 for `run`'s, 1 otherwise; 127 for an unknown program).
    pub code: i32,
}

fn usage(msg: impl Into<String>, code: i32) -> Usage {
    Usage {
        msg: msg.into(),
        code,
    }
}

/// Tools run on the host or in a container.
pub const TOOLS: &[&str] = &[
    "ping", "curl", "wget", "nc", "ncat", "netcat", "nslookup", "dig", "getent", "host",
];

/// Parses one command's words (already split, `sudo` included).
///
/// # Errors
/// What the docker CLI (or a shell, for an unknown program) would say.
pub fn parse(words: &[String]) -> Result<Cmd, Usage> {
    let mut w: &[String] = words;
    while let Some(first) = w.first() {
        if first == "sudo" || first == "command" || first == "exec" && w.len() > 1 && w[1] == "docker" {
            w = &w[1..];
            // `sudo -E docker …`
            while w.first().is_some_and(|x| x.starts_with('-')) {
                w = &w[1..];
            }
        } else {
            break;
        }
    }
    let Some(prog) = w.first() else {
        return Ok(Cmd::Nothing);
    };
    match prog.as_str() {
        "docker" | "podman" => docker(&w[1..]),
        // The v1 spelling in an old history: answered as `docker compose` is (that
        // command fails, the script goes on), not refused as an unknown program.
        "docker-compose" => {
            let mut v = vec!["compose".to_string()];
            v.extend(w[1..].iter().cloned());
            docker(&v)
        }
        "echo" => Ok(Cmd::Echo(w[1..].join(" "))),
        "sleep" | "true" | "clear" | ":" => Ok(Cmd::Nothing),
        "ssh" if w.len() > 2 && w[1] == "client" => Ok(Cmd::OnClient(w[2..].to_vec())),
        t if TOOLS.contains(&t) => Ok(Cmd::OnHost(w.to_vec())),
        other => Err(usage(
            format!(
                "{other}: not a docker command: netloom docker runs `docker …` lines, and {} on the host (or `ssh client CMD` on the outside machine)",
                TOOLS.join("/")
            ),
            127,
        )),
    }
}

/// A flag of a command: names, and whether it takes a value.
struct Flag {
    long: &'static [&'static str],
    short: Option<char>,
    value: bool,
}

const fn f(long: &'static [&'static str], short: Option<char>, value: bool) -> Flag {
    Flag { long, short, value }
}

/// Parsed flags: (canonical long name, value) in order, and the positional words.
struct Parsed {
    flags: Vec<(&'static str, String)>,
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, k: &str) -> bool {
        self.flags.iter().any(|(n, v)| *n == k && v != "false")
    }
    fn last(&self, k: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// pflag's parsing: `interspersed` false stops at the first positional word.
fn flags(args: &[String], spec: &[Flag], cmd: &str, interspersed: bool, code: i32) -> Result<Parsed, Usage> {
    let help = format!("See 'docker {cmd} --help'.");
    let mut out = Parsed {
        flags: Vec::new(),
        args: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.args.extend(args[i + 1..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            if name == "help" {
                return Err(usage(format!("docker {cmd} --help: usage is not simulated"), 0));
            }
            let Some(fl) = spec.iter().find(|x| x.long.contains(&name)) else {
                return Err(usage(format!("unknown flag: --{name}\n{help}"), code));
            };
            let v = if fl.value {
                match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| usage(format!("flag needs an argument: --{name}\n{help}"), code))?
                    }
                }
            } else {
                inline.unwrap_or_else(|| "true".into())
            };
            out.flags.push((fl.long[0], v));
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                let Some(fl) = spec.iter().find(|x| x.short == Some(c)) else {
                    return Err(usage(
                        format!("unknown shorthand flag: '{c}' in {a}\n{help}"),
                        code,
                    ));
                };
                if fl.value {
                    let rest: String = chars[j + 1..].iter().collect();
                    let v = if !rest.is_empty() {
                        rest.strip_prefix('=').map_or(rest.clone(), str::to_string)
                    } else {
                        i += 1;
                        args.get(i).cloned().ok_or_else(|| {
                            usage(format!("flag needs an argument: '{c}' in -{c}\n{help}"), code)
                        })?
                    };
                    out.flags.push((fl.long[0], v));
                    break;
                }
                out.flags.push((fl.long[0], "true".into()));
                j += 1;
            }
        } else if interspersed {
            out.args.push(a.clone());
        } else {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        i += 1;
    }
    Ok(out)
}

/// Flags of `run` / `create` that take a value and do not matter for the network.
const RUN_IGNORED_VALUES: &[&str] = &[
    "env",
    "env-file",
    "volume",
    "mount",
    "workdir",
    "user",
    "entrypoint",
    "label",
    "label-file",
    "restart",
    "memory",
    "cpus",
    "cpu-shares",
    "log-driver",
    "log-opt",
    "cap-add",
    "cap-drop",
    "device",
    "ulimit",
    "pull",
    "platform",
    "stop-signal",
    "stop-timeout",
    "health-cmd",
    "health-interval",
    "health-retries",
    "health-timeout",
    "health-start-period",
    "tmpfs",
    "shm-size",
    "security-opt",
    "sysctl",
    "runtime",
    "pid",
    "ipc",
    "uts",
    "cgroupns",
    "group-add",
    "volumes-from",
    "link",
    "memory-swap",
    "cidfile",
    "attach",
    "detach-keys",
    "gpus",
    "userns",
    "cgroup-parent",
    "blkio-weight",
    "annotation",
    "link-local-ip",
    "isolation",
    "storage-opt",
];

fn run_spec_flags() -> Vec<Flag> {
    let mut v = vec![
        f(&["detach"], Some('d'), false),
        f(&["interactive"], Some('i'), false),
        f(&["tty"], Some('t'), false),
        f(&["rm"], None, false),
        f(&["privileged"], None, false),
        f(&["init"], None, false),
        f(&["read-only"], None, false),
        f(&["publish-all"], Some('P'), false),
        f(&["quiet"], Some('q'), false),
        f(&["oom-kill-disable"], None, false),
        f(&["no-healthcheck"], None, false),
        f(&["name"], None, true),
        f(&["network", "net"], None, true),
        f(&["ip"], None, true),
        f(&["ip6"], None, true),
        f(&["mac-address"], None, true),
        f(&["network-alias", "net-alias"], None, true),
        f(&["publish"], Some('p'), true),
        f(&["expose"], None, true),
        f(&["dns"], None, true),
        f(&["dns-search"], None, true),
        f(&["dns-option", "dns-opt"], None, true),
        f(&["add-host"], None, true),
        f(&["hostname"], Some('h'), true),
        f(&["env"], Some('e'), true),
        f(&["volume"], Some('v'), true),
        f(&["workdir"], Some('w'), true),
        f(&["user"], Some('u'), true),
        f(&["label"], Some('l'), true),
        f(&["memory"], Some('m'), true),
        f(&["attach"], Some('a'), true),
        f(&["cpu-shares"], Some('c'), true),
    ];
    for name in RUN_IGNORED_VALUES {
        if !v.iter().any(|x| x.long[0] == *name) {
            v.push(Flag {
                long: std::slice::from_ref(name),
                short: None,
                value: true,
            });
        }
    }
    v
}

fn one(p: &Parsed, n: usize, cmd: &str, what: &str, code: i32) -> Result<(), Usage> {
    if p.args.len() < n {
        return Err(usage(
            format!(
                "\"docker {cmd}\" requires at least {n} argument{}.\nSee 'docker {cmd} --help'.\n\nUsage:  docker {cmd} {what}",
                if n == 1 { "" } else { "s" }
            ),
            code,
        ));
    }
    Ok(())
}

fn exactly(p: &Parsed, n: usize, cmd: &str, what: &str) -> Result<(), Usage> {
    if p.args.len() != n {
        return Err(usage(
            format!(
                "\"docker {cmd}\" requires exactly {n} argument{}.\nSee 'docker {cmd} --help'.\n\nUsage:  docker {cmd} {what}",
                if n == 1 { "" } else { "s" }
            ),
            1,
        ));
    }
    Ok(())
}

fn docker(args: &[String]) -> Result<Cmd, Usage> {
    // Global flags before the verb (`docker -H … ps`, `--context x`) are not ours.
    let Some(verb) = args.first() else {
        return Err(usage(
            "docker: a command is needed (`docker run`, `docker network create`, …)",
            1,
        ));
    };
    let rest = &args[1..];
    match verb.as_str() {
        "network" => network(rest),
        "container" => match rest.first().map(String::as_str) {
            Some("ls" | "list" | "ps") => docker(&[&["ps".to_string()], &rest[1..]].concat()),
            Some("prune") => Ok(Cmd::Ignored("docker container prune".into())),
            Some(_) => docker(rest),
            None => Err(usage("docker container: a subcommand is needed", 1)),
        },
        "run" | "create" => {
            let cmd = verb.as_str();
            let code = 125;
            let p = flags(rest, &run_spec_flags(), cmd, false, code)?;
            one(&p, 1, cmd, "[OPTIONS] IMAGE [COMMAND] [ARG...]", code)?;
            let mut s = RunSpec {
                detach: p.has("detach"),
                rm: p.has("rm"),
                name: p.last("name"),
                network: p.all("network").into_iter().next(),
                more_networks: p.all("network").into_iter().skip(1).collect(),
                ip: p.last("ip"),
                ip6: p.last("ip6"),
                mac: p.last("mac-address"),
                aliases: p.all("network-alias"),
                publish_all: p.has("publish-all"),
                dns: p.all("dns"),
                dns_search: p.all("dns-search"),
                dns_opt: p.all("dns-option"),
                hostname: p.last("hostname"),
                image: p.args[0].clone(),
                cmd: p.args[1..].to_vec(),
                ..RunSpec::default()
            };
            // Several `--network` flags (the CLI's parseNetworkOpts): each once, and
            // user-defined networks only with user-defined ones.
            if !s.more_networks.is_empty() {
                let all: Vec<String> = p.all("network");
                let run_err = |m: String| {
                    usage(
                        format!("docker: {m}\n\nRun 'docker {cmd} --help' for more information"),
                        code,
                    )
                };
                for (i, n) in all.iter().enumerate() {
                    if all[..i].contains(n) {
                        return Err(run_err(format!("network {n:?} is specified multiple times")));
                    }
                }
                let builtin = |n: &str| {
                    matches!(n, "bridge" | "host" | "none" | "default") || n.starts_with("container:")
                };
                if all.iter().any(|n| builtin(n)) && all.iter().any(|n| !builtin(n)) {
                    return Err(run_err(
                        "conflicting options: cannot attach both user-defined and non-user-defined network-modes".into(),
                    ));
                }
            }
            for v in p.all("publish") {
                s.publish.extend(parse_publish(&v).map_err(|m| {
                    usage(
                        format!("docker: {m}\n\nRun 'docker {cmd} --help' for more information"),
                        code,
                    )
                })?);
            }
            for v in p.all("expose") {
                s.expose
                    .extend(parse_expose(&v).map_err(|m| usage(format!("docker: {m}"), code))?);
            }
            // The CLI's flag validators (opts.ValidateExtraHost, ValidateIPAddress): a
            // pflag error, "See 'docker run --help'.", status 125.
            let flag_err = |flag: &str, v: &str, m: String| {
                usage(
                    format!(
                        "invalid argument \"{v}\" for \"--{flag}\" flag: {m}\nSee 'docker {cmd} --help'."
                    ),
                    code,
                )
            };
            for v in p.all("add-host") {
                // The scenario key's parser (NAME=IP, else NAME:IP at the first colon;
                // an IPv6 address in brackets); a name with a colon is a bad format.
                let colon_name = v
                    .split_once('=')
                    .or_else(|| v.split_once(':'))
                    .is_some_and(|(k, _)| k.contains(':'));
                let parsed = if colon_name {
                    Err(format!("bad format for add-host: {v:?}"))
                } else {
                    crate::format::parse_extra_host(&v)
                };
                let (host, ip) = parsed.map_err(|m| flag_err("add-host", &v, m))?;
                // host-gateway: the default bridge's gateway.
                let ip = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::new(172, 17, 0, 1)));
                s.add_hosts.push((host, ip));
            }
            for v in &s.dns {
                if v.parse::<IpAddr>().is_err() {
                    return Err(flag_err(
                        "dns",
                        v,
                        format!("IP address is not correctly formatted: {v}"),
                    ));
                }
            }
            if s.publish_all {
                for (proto, port) in s.expose.clone().into_iter().chain(
                    crate::images::exposed_ports(&s.image)
                        .iter()
                        .map(|(p, n)| (p.name().to_string(), *n)),
                ) {
                    s.publish.push(Publish {
                        host_ip: None,
                        host_port: None,
                        container_port: port,
                        proto,
                    });
                }
            }
            Ok(Cmd::Run {
                spec: s,
                create: cmd == "create",
            })
        }
        "start" | "stop" | "restart" | "kill" | "pause" | "unpause" => {
            let spec = [
                f(&["attach"], Some('a'), false),
                f(&["interactive"], Some('i'), false),
                f(&["time", "timeout"], Some('t'), true),
                f(&["signal"], Some('s'), true),
            ];
            let p = flags(rest, &spec, verb, true, 1)?;
            one(&p, 1, verb, "[OPTIONS] CONTAINER [CONTAINER...]", 1)?;
            Ok(Cmd::Lifecycle {
                verb: verb.clone(),
                names: p.args,
            })
        }
        "rm" => {
            let spec = [
                f(&["force"], Some('f'), false),
                f(&["volumes"], Some('v'), false),
                f(&["link"], Some('l'), false),
            ];
            let p = flags(rest, &spec, verb, true, 1)?;
            one(&p, 1, verb, "[OPTIONS] CONTAINER [CONTAINER...]", 1)?;
            Ok(Cmd::Rm {
                force: p.has("force"),
                names: p.args,
            })
        }
        "ps" => {
            let spec = [
                f(&["all"], Some('a'), false),
                f(&["quiet"], Some('q'), false),
                f(&["no-trunc"], None, false),
                f(&["latest"], Some('l'), false),
                f(&["size"], Some('s'), false),
                f(&["filter"], Some('f'), true),
                f(&["format"], None, true),
                f(&["last"], Some('n'), true),
            ];
            let p = flags(rest, &spec, verb, true, 1)?;
            Ok(Cmd::Ps {
                all: p.has("all"),
                quiet: p.has("quiet"),
                filters: p.all("filter"),
                format: p.last("format"),
            })
        }
        "port" => {
            let p = flags(rest, &[], verb, true, 1)?;
            one(&p, 1, verb, "CONTAINER [PRIVATE_PORT[/PROTO]]", 1)?;
            Ok(Cmd::Port(p.args[0].clone()))
        }
        "inspect" => {
            let spec = [
                f(&["format"], Some('f'), true),
                f(&["type"], None, true),
                f(&["size"], Some('s'), false),
            ];
            let p = flags(rest, &spec, verb, true, 1)?;
            one(&p, 1, verb, "[OPTIONS] NAME|ID [NAME|ID...]", 1)?;
            Ok(Cmd::Inspect {
                names: p.args.clone(),
                format: p.last("format"),
            })
        }
        "exec" => {
            let spec = [
                f(&["detach"], Some('d'), false),
                f(&["interactive"], Some('i'), false),
                f(&["tty"], Some('t'), false),
                f(&["privileged"], None, false),
                f(&["env"], Some('e'), true),
                f(&["env-file"], None, true),
                f(&["user"], Some('u'), true),
                f(&["workdir"], Some('w'), true),
                f(&["detach-keys"], None, true),
            ];
            let p = flags(rest, &spec, verb, false, 1)?;
            one(&p, 2, verb, "[OPTIONS] CONTAINER COMMAND [ARG...]", 1)?;
            Ok(Cmd::Exec {
                ctr: p.args[0].clone(),
                argv: p.args[1..].to_vec(),
            })
        }
        "pull" | "images" | "image" | "logs" | "version" | "info" | "top" | "stats" | "tag" | "push"
        | "login" | "build" | "rmi" | "volume" | "system" | "events" | "cp" | "wait" | "rename"
        | "update" | "attach" | "commit" | "diff" | "history" | "save" | "load" | "search" | "builder"
        | "buildx" | "context" => Ok(Cmd::Ignored(format!("docker {verb}"))),
        "compose" => Err(usage(
            "docker compose is not replayed here: give the compose file to `netloom run compose.yaml` (or `netloom import compose`)",
            1,
        )),
        other => Err(usage(
            format!("docker: unknown command: docker {other}\n\nRun 'docker --help' for more information"),
            1,
        )),
    }
}

fn network(args: &[String]) -> Result<Cmd, Usage> {
    let Some(sub) = args.first() else {
        return Err(usage(
            "\"docker network\" requires a subcommand: create, connect, disconnect, inspect, ls, prune, rm",
            1,
        ));
    };
    let rest = &args[1..];
    let cmd = format!("network {sub}");
    match sub.as_str() {
        "create" => {
            let spec = [
                f(&["driver"], Some('d'), true),
                f(&["subnet"], None, true),
                f(&["gateway"], None, true),
                f(&["ip-range"], None, true),
                f(&["internal"], None, false),
                f(&["ipv6"], None, false),
                f(&["ipv4"], None, false),
                f(&["attachable"], None, false),
                f(&["opt"], Some('o'), true),
                f(&["label"], None, true),
                f(&["ipam-driver"], None, true),
                f(&["ipam-opt"], None, true),
                f(&["aux-address"], None, true),
                f(&["scope"], None, true),
                f(&["ingress"], None, false),
                f(&["config-only"], None, false),
                f(&["config-from"], None, true),
            ];
            let p = flags(rest, &spec, &cmd, true, 1)?;
            exactly(&p, 1, &cmd, "[OPTIONS] NETWORK")?;
            let mut options = IndexMap::new();
            for o in p.all("opt") {
                let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
                options.insert(k.to_string(), v.to_string());
            }
            Ok(Cmd::NetworkCreate(NetCreate {
                name: p.args[0].clone(),
                driver: p.last("driver").unwrap_or_else(|| "bridge".into()),
                subnets: p.all("subnet"),
                gateways: p.all("gateway"),
                ip_ranges: p.all("ip-range"),
                internal: p.has("internal"),
                ipv6: p.has("ipv6"),
                attachable: p.has("attachable"),
                options,
            }))
        }
        "connect" => {
            let spec = [
                f(&["ip"], None, true),
                f(&["ip6"], None, true),
                f(&["alias"], None, true),
                f(&["link"], None, true),
                f(&["link-local-ip"], None, true),
                f(&["driver-opt"], None, true),
                f(&["gw-priority"], None, true),
            ];
            let p = flags(rest, &spec, &cmd, true, 1)?;
            exactly(&p, 2, &cmd, "[OPTIONS] NETWORK CONTAINER")?;
            Ok(Cmd::NetworkConnect {
                net: p.args[0].clone(),
                ctr: p.args[1].clone(),
                ip: p.last("ip"),
                aliases: p.all("alias"),
            })
        }
        "disconnect" => {
            let p = flags(rest, &[f(&["force"], Some('f'), false)], &cmd, true, 1)?;
            exactly(&p, 2, &cmd, "[OPTIONS] NETWORK CONTAINER")?;
            Ok(Cmd::NetworkDisconnect {
                net: p.args[0].clone(),
                ctr: p.args[1].clone(),
                force: p.has("force"),
            })
        }
        "rm" | "remove" => {
            let p = flags(rest, &[f(&["force"], Some('f'), false)], &cmd, true, 1)?;
            one(&p, 1, &cmd, "NETWORK [NETWORK...]", 1)?;
            Ok(Cmd::NetworkRm(p.args))
        }
        "ls" | "list" => {
            let spec = [
                f(&["quiet"], Some('q'), false),
                f(&["no-trunc"], None, false),
                f(&["filter"], Some('f'), true),
                f(&["format"], None, true),
            ];
            let p = flags(rest, &spec, &cmd, true, 1)?;
            Ok(Cmd::NetworkLs {
                quiet: p.has("quiet"),
                filters: p.all("filter"),
                format: p.last("format"),
            })
        }
        "inspect" => {
            let spec = [f(&["format"], Some('f'), true), f(&["verbose"], Some('v'), false)];
            let p = flags(rest, &spec, &cmd, true, 1)?;
            one(&p, 1, &cmd, "[OPTIONS] NETWORK [NETWORK...]", 1)?;
            Ok(Cmd::NetworkInspect {
                names: p.args.clone(),
                format: p.last("format"),
            })
        }
        "prune" => {
            let spec = [f(&["force"], Some('f'), false), f(&["filter"], None, true)];
            let _ = flags(rest, &spec, &cmd, true, 1)?;
            Ok(Cmd::NetworkPrune)
        }
        other => Err(usage(
            format!(
                "docker: unknown command: docker network {other}\n\nRun 'docker network --help' for more information"
            ),
            1,
        )),
    }
}

/// `-p [IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/PROTO]`, expanded per port.
///
/// # Errors
/// The CLI's message for a bad specification.
pub fn parse_publish(v: &str) -> Result<Vec<Publish>, String> {
    let bad = || format!("invalid argument \"{v}\" for \"-p, --publish\" flag: invalid containerPort: {v}");
    let (spec, proto) = match v.rsplit_once('/') {
        Some((s, p)) => (s, p.to_string()),
        None => (v, "tcp".to_string()),
    };
    if proto != "tcp" && proto != "udp" && proto != "sctp" {
        return Err(format!(
            "invalid argument \"{v}\" for \"-p, --publish\" flag: invalid proto: {proto}"
        ));
    }
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, r) = r.split_once("]:").ok_or_else(bad)?;
        (Some(ip.to_string()), r.to_string())
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.len() {
            1 | 2 => (None, spec.to_string()),
            3 => (Some(parts[0].to_string()), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(bad()),
        }
    };
    let host_ip: Option<IpAddr> = match ip.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            format!("invalid argument \"{v}\" for \"-p, --publish\" flag: invalid IP address: {s}")
        })?),
    };
    let host_ip = host_ip.filter(|a| !a.is_unspecified());
    let (hp, cp) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest.as_str()),
    };
    let range = |s: &str| -> Option<Vec<u16>> {
        let num = |x: &str| x.parse::<u16>().ok().filter(|p| *p > 0);
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                (a <= b).then(|| (a..=b).collect())
            }
            None => Some(vec![num(s)?]),
        }
    };
    let cps = range(cp).ok_or_else(bad)?;
    let hps = match hp.filter(|h| !h.is_empty()) {
        Some(h) => Some(range(h).ok_or_else(|| {
            format!("invalid argument \"{v}\" for \"-p, --publish\" flag: invalid hostPort: {h}")
        })?),
        None => None,
    };
    if let Some(h) = &hps
        && h.len() != cps.len()
        && cps.len() != 1
    {
        return Err(format!(
            "invalid argument \"{v}\" for \"-p, --publish\" flag: invalid ranges specified for container and host Ports: {cp} and {}",
            hp.unwrap_or_default()
        ));
    }
    Ok(cps
        .iter()
        .enumerate()
        .map(|(i, c)| Publish {
            host_ip,
            host_port: hps.as_ref().map(|h| h[i.min(h.len() - 1)]),
            container_port: *c,
            proto: proto.clone(),
        })
        .collect())
}

fn parse_expose(v: &str) -> Result<Vec<(String, u16)>, String> {
    let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let bad =
        || format!("invalid argument \"{v}\" for \"--expose\" flag: invalid range format for --expose: {v}");
    let num = |x: &str| x.parse::<u16>().ok().filter(|p| *p > 0);
    let list: Vec<u16> = match ports.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a).ok_or_else(bad)?, num(b).ok_or_else(bad)?);
            (a..=b).collect()
        }
        None => vec![num(ports).ok_or_else(bad)?],
    };
    Ok(list.into_iter().map(|p| (proto.to_string(), p)).collect())
}

/// Ports a container's command obviously listens on: `nc -l [-p] PORT`,
/// `python -m http.server [PORT]`, `httpd -p PORT` (busybox), `socat TCP-LISTEN:PORT`.
pub fn command_listens(cmd: &[String]) -> Vec<(String, u16)> {
    // `sh -c "…"`: look inside.
    let inner: Vec<String>;
    let cmd =
        if cmd.len() >= 3 && matches!(cmd[0].as_str(), "sh" | "bash" | "ash" | "/bin/sh") && cmd[1] == "-c" {
            inner = cmd[2].split_whitespace().map(str::to_string).collect();
            &inner[..]
        } else {
            cmd
        };
    let mut out = Vec::new();
    let num = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0);
    let prog = cmd
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    match prog {
        "nc" | "ncat" | "netcat" if cmd.iter().any(|a| a.starts_with('-') && a.contains('l')) => {
            let udp = cmd
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('u'));
            if let Some(p) = cmd.iter().rev().find_map(|a| num(a)) {
                out.push((if udp { "udp" } else { "tcp" }.to_string(), p));
            }
        }
        "python" | "python3" if cmd.iter().any(|a| a == "http.server") => {
            out.push(("tcp".into(), cmd.iter().find_map(|a| num(a)).unwrap_or(8000)));
        }
        "httpd" | "busybox" if cmd.iter().any(|a| a == "-p" || a == "httpd") => {
            let p = cmd
                .windows(2)
                .find(|w| w[0] == "-p")
                .and_then(|w| num(&w[1]))
                .unwrap_or(80);
            out.push(("tcp".into(), p));
        }
        "socat" => {
            for a in cmd {
                if let Some(rest) = a
                    .strip_prefix("TCP-LISTEN:")
                    .or_else(|| a.strip_prefix("TCP4-LISTEN:"))
                    && let Some(p) = num(rest.split(',').next().unwrap_or(""))
                {
                    out.push(("tcp".into(), p));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn run_flags_as_the_cli_reads_them() {
        let Ok(Cmd::Run { spec, create }) = parse(&words(
            "sudo docker run -dit --rm --name web --net=app -p8080:80 -p 127.0.0.1:53:53/udp -e A=1 nginx:alpine nginx -g daemon",
        )) else {
            panic!("a run");
        };
        assert!(!create && spec.detach && spec.rm);
        assert_eq!(spec.name.as_deref(), Some("web"));
        assert_eq!(spec.network.as_deref(), Some("app"));
        assert_eq!(spec.image, "nginx:alpine");
        assert_eq!(spec.cmd, words("nginx -g daemon"));
        assert_eq!(spec.publish.len(), 2);
        assert_eq!(spec.publish[0].host_port, Some(8080));
        assert_eq!(spec.publish[1].proto, "udp");
        let Err(e) = parse(&words("docker run --nope x")) else {
            panic!("unknown flag");
        };
        assert_eq!(e.msg, "unknown flag: --nope\nSee 'docker run --help'.");
        assert_eq!(e.code, 125);
        assert_eq!(
            command_listens(&words("nc -lk -p 1234")),
            vec![("tcp".to_string(), 1234)]
        );
        assert_eq!(
            command_listens(&words("python3 -m http.server")),
            vec![("tcp".to_string(), 8000)]
        );
    }
}
