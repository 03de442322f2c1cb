//! The `netloom` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `print!` to standard output (colours stripped where they do not belong) that ignores
/// a reader who has gone, as in `netloom run … | head`: no panic, and the exit code
/// still says how the run went.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(anstream::stdout(), $($t)*);
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($t)*);
    }};
}

use clap::{Parser, Subcommand};
use netloom_scenarios::emulate::{self, EmulateOptions, Emulation, registry};
use netloom_scenarios::{RunOptions, report, run};

#[derive(Parser)]
#[command(
    name = "netloom",
    version,
    about = "A container-networking simulator: run scenario files in simulated time, or as live networks of real namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colours: `auto` (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces
    /// them), `always` or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    /// Log to standard error what is loaded, compiled, made and removed, with timings:
    /// -v, -vv more, -vvv everything (RUST_LOG=netloom_scenarios=debug works too).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// `--color`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The command line, clap's own help and errors coloured as `--color` asks (clap reads
/// NO_COLOR and CLICOLOR_FORCE itself, but not our flag, which it has not parsed yet).
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut when = clap::ColorChoice::Auto;
    for (i, a) in args.iter().enumerate() {
        let value = match a.to_str() {
            Some("--color") => args.get(i + 1).and_then(|v| v.to_str()),
            Some(x) => x.strip_prefix("--color="),
            None => None,
        };
        match value {
            Some("always") => when = clap::ColorChoice::Always,
            Some("never") => when = clap::ColorChoice::Never,
            Some("auto") => when = clap::ColorChoice::Auto,
            _ => {}
        }
    }
    let matches = Cli::command().color(when).get_matches_from(&args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Applies `--color` to everything written through anstream (reports, errors, logs),
/// starts the log for `-v`/RUST_LOG, and turns progress bars on where they can show.
fn front_door(color: ColorWhen, verbose: u8) {
    match color {
        ColorWhen::Auto => {}
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    let logging = init_logs(verbose);
    // Log lines and a redrawn bar would tear each other apart on one terminal.
    netloom_scenarios::progress::enable(!logging);
}

/// The `tracing` log on standard error, when `-v` or RUST_LOG asks for it: -v info,
/// -vv debug, -vvv trace, RUST_LOG's directives on top. Returns whether it is on.
fn init_logs(verbose: u8) -> bool {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let env = std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty());
    if verbose == 0 && !env {
        return false;
    }
    let level = match verbose {
        0 => LevelFilter::OFF,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let ansi = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log whose reader went away (`2>&1 | head`) must not panic a thread: the
        // default reports a failed write with `eprintln!`, which panics on a closed pipe.
        .log_internal_errors(false)
        .with_ansi(ansi)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
    true
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files: each step with ✓ or ✗, failures explained hop by hop.
    /// Exit code 0 = every expectation held, 1 = one failed, 2 = an invalid file.
    Run {
        /// Scenario files, or directories (every *.yaml and *.yml file in them, sorted).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON report instead of text (identical for the same file and seed).
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Write a pcap of every link into this directory (one file per link).
        #[arg(long, value_name = "DIR")]
        pcap: Option<PathBuf>,
        /// Override the files' seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Show every step's packets hop by hop, also when the step passed.
        #[arg(long)]
        trace: bool,
    },
    /// An interactive shell over the scenario's network in simulated time: ps, network
    /// ls/inspect, ping, curl, dig, trace, capture, link, stop/start, explain. Reads
    /// commands from a file or pipe too; exit 0 = all worked, 1 = one failed, 2 = one
    /// could not run (or an invalid file).
    Lab(netloom_scenarios::shell::LabArgs),
    /// Replay a script of `docker` commands (a shell history; `-` = standard input) on a
    /// simulated Docker host; `docker exec … ping|curl|dig…` run on the simulated
    /// network. Exit 0 = every command worked, 1 = one failed, 2 = bad script syntax.
    Docker(netloom_scenarios::dockercli::DockerArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files, or directories (every *.yaml and *.yml file in them, sorted).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Turn a scenario into a live network: a real network namespace per container
    /// (and per external marked `emulate: true`, or all with --all) on TAP devices, the
    /// engine forwarding in real time; run the file's steps with real programs. As root,
    /// or as an ordinary user inside a user namespace of its own. Exit codes as `run`.
    Emulate {
        /// The scenario file.
        file: PathBuf,
        /// Keep the network up after the steps until Ctrl-C.
        #[arg(long)]
        hold: bool,
        /// Make every external a real namespace too.
        #[arg(long)]
        all: bool,
        /// Override the file's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print a JSON report instead of text (the structure `run --json` prints).
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report (as `run --junit`).
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Write a pcap of every link into this directory (one file per link, as
        /// `run --pcap`): every frame as it crosses the engine.
        #[arg(long, value_name = "DIR")]
        pcap: Option<PathBuf>,
    },
    /// Run a command inside a machine of a live (held) network: in its network
    /// namespace, with its resolv.conf and hosts over /etc, as `ip netns exec` would.
    /// It is killed when the network is torn down.
    Exec {
        /// The container or external.
        name: String,
        /// The run (default: the newest live run that has NAME).
        #[arg(long)]
        run: Option<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Forward between TAPs created inside existing namespaces (`--tap NS:IF`, at
    /// least two) through one bridge of the engine, until Ctrl-C: the benchmark's
    /// system under test.
    #[command(hide = true)]
    Forward {
        /// `NAMESPACE:INTERFACE`.
        #[arg(long = "tap", required = true, num_args = 1)]
        taps: Vec<String>,
        /// TAPs without virtio-net header and TSO (one wire frame per read and write).
        #[arg(long)]
        no_offload: bool,
    },
    /// Print the iptables rules a Docker host or router of a scenario holds, as
    /// `iptables-save` prints them (no counters): Docker's rules for its networks,
    /// containers and published ports, then the file's `firewall:` rules in order.
    Iptables {
        /// The scenario file.
        file: PathBuf,
        /// The Docker host or router (may be left out when the scenario has one host
        /// and no router).
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Print the IPv6 tables (`ip6tables-save`) instead.
        #[arg(long)]
        ipv6: bool,
    },
    /// Draw a scenario's topology: Docker hosts with their NICs, networks (subnets as
    /// IPAM allocated them), containers with their addresses and published ports, LANs,
    /// routers, externals, overlay tunnels, impaired links. Exit code 0, or 2 for an
    /// invalid file or a missing Graphviz.
    Graph {
        /// The scenario file.
        file: PathBuf,
        /// `text` (a tree that fits 80 columns), `dot` (Graphviz) or `mermaid`.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
        /// Write an SVG drawn by Graphviz (`dot -Tsvg`) to this file instead of printing.
        #[arg(long, value_name = "OUT")]
        svg: Option<PathBuf>,
    },
    /// NetworkPolicies: `netloom policy matrix FILE` probes every container from
    /// every container through the model and prints the reachability truth table.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Send one packet from A to B through the scenario's network and show, hop by hop,
    /// every decision (bridge forwarding, routes, neighbours, NAT, the rule or policy
    /// that decided, encapsulation, MTU) and the verdict. Exit 0, or 2 for a bad file
    /// or name.
    Explain {
        /// The scenario file.
        file: PathBuf,
        /// The sending machine (container, external, host or router).
        #[arg(long)]
        from: String,
        /// The destination: a machine or an address, with `:port` for tcp/udp.
        #[arg(long)]
        to: String,
        /// tcp, udp or icmp (default: tcp with a port, icmp without).
        #[arg(long)]
        proto: Option<String>,
    },
    /// Print a shell completion script: `netloom completions bash >
    /// /etc/bash_completion.d/netloom` (also zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `netloom man > netloom.1 && man ./netloom.1`.
    Man,
    /// Convert another tool's description into a scenario, printed on stdout.
    #[command(subcommand)]
    Import(ImportCommand),
    /// List live networks.
    Ls,
    /// Remove what killed runs left behind — exactly what their run records name
    /// (processes still inside, namespaces, their files, the records). Namespaces
    /// shaped like netloom's that no record names are listed, not removed.
    Cleanup,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A docker compose file: one host `host1` (192.168.65.10 on LAN `lan`), an outside
    /// `client` (192.168.65.100), the project's networks and containers, and checks
    /// (depends_on reachable by name, published ports answering from `client`).
    Compose {
        /// The compose file (`.env` next to it is read for interpolation).
        file: PathBuf,
        /// The project name (default: top-level `name:`, else the directory's name).
        #[arg(short = 'p', long = "project-name", value_name = "PROJECT")]
        project: Option<String>,
        /// Enable services of this profile; repeatable.
        #[arg(long = "profile", value_name = "NAME")]
        profiles: Vec<String>,
        /// Append no default checks.
        #[arg(long)]
        no_checks: bool,
        /// host1's address on the LAN, with its prefix (the client takes `.100` of
        /// that subnet).
        #[arg(long, value_name = "CIDR", default_value = "192.168.65.10/24")]
        host_address: ipnet::Ipv4Net,
        /// The LAN's name.
        #[arg(long, value_name = "NAME", default_value = "lan")]
        lan: String,
    },
    /// A CNI network configuration (`.conflist`, or a single-plugin `.conf`): the node
    /// `host1`, an outside `client`, N containers ADDed in order (host-local's
    /// addresses), the plugins' iptables rules, and checks.
    Cni {
        /// The configuration file.
        file: PathBuf,
        /// How many containers to ADD (`c1`…`cN`; default 2, or 1 with static IPAM).
        #[arg(long, value_name = "N")]
        containers: Option<usize>,
        /// Publish through portmap: `[cN=][HOSTIP:]HOST:CONTAINER[/tcp|udp]` (to c1
        /// without `cN=`); repeatable.
        #[arg(long = "publish", short = 'p', value_name = "PORTS")]
        publish: Vec<String>,
        /// Append no default checks.
        #[arg(long)]
        no_checks: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// The reachability matrix (rows: from, columns: to; `.` connected, `X` blocked,
    /// `R` refused), printed as the Kubernetes netpol e2e truth tables, with the
    /// policies that blocked each cell. Exit code 0, or 2 for an invalid file.
    Matrix {
        /// The scenario file.
        file: PathBuf,
        /// A port to probe (`tcp/80`, `udp/53`); repeatable. Default: every port the
        /// containers listen on, or tcp/80.
        #[arg(long = "port", value_name = "PROTO/PORT")]
        ports: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = parse_cli();
    front_door(cli.color, cli.verbose);
    match cli.command {
        Command::Emulate {
            file,
            hold,
            all,
            seed,
            json,
            junit,
            pcap,
        } => emulate(&file, hold, all, seed, json, junit.as_deref(), pcap),
        Command::Lab(args) => ExitCode::from(netloom_scenarios::shell::main(&args)),
        Command::Docker(args) => ExitCode::from(netloom_scenarios::dockercli::main(&args)),
        Command::Exec { name, run, cmd } => exec(&name, run.as_deref(), &cmd),
        Command::Iptables { file, host, ipv6 } => iptables(&file, host.as_deref(), ipv6),
        Command::Graph { file, format, svg } => graph(&file, format, svg.as_deref()),
        Command::Policy {
            command: PolicyCommand::Matrix { file, ports, json },
        } => policy_matrix(&file, &ports, json),
        Command::Explain {
            file,
            from,
            to,
            proto,
        } => explain(&file, &from, &to, proto.as_deref()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into memory first: clap_complete panics on a write error (a closed pipe).
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netloom", &mut buf);
            write_stdout(&buf)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut buf = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut buf) {
                Ok(()) => write_stdout(&buf),
                Err(e) => {
                    eprintln!("netloom man: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Forward { taps, no_offload } => {
            let pairs: Option<Vec<(String, String)>> = taps
                .iter()
                .map(|t| t.split_once(':').map(|(a, b)| (a.to_string(), b.to_string())))
                .collect();
            let Some(pairs) = pairs.filter(|p| p.len() >= 2) else {
                eprintln!("netloom forward: give at least two --tap NAMESPACE:INTERFACE");
                return ExitCode::from(2);
            };
            match emulate::forward(&pairs, !no_offload) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("netloom forward: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Import(ImportCommand::Compose {
            file,
            project,
            profiles,
            no_checks,
            host_address,
            lan,
        }) => {
            let opts = netloom_scenarios::compose::Options {
                project,
                profiles,
                no_checks,
                env: None,
                host_address: Some(host_address),
                lan: Some(lan),
            };
            match netloom_scenarios::compose::convert_file(&file, &opts) {
                Ok(c) => {
                    c.warnings.iter().for_each(|w| anstream::eprintln!("{w}"));
                    write_stdout(c.yaml.as_bytes())
                }
                Err(e) => {
                    anstream::eprint!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Import(ImportCommand::Cni {
            file,
            containers,
            publish,
            no_checks,
        }) => {
            let opts = netloom_scenarios::cni::Options {
                containers,
                publish,
                no_checks,
            };
            match netloom_scenarios::cni::convert_file(&file, &opts) {
                Ok(c) => {
                    c.warnings.iter().for_each(|w| anstream::eprintln!("{w}"));
                    write_stdout(c.yaml.as_bytes())
                }
                Err(e) => {
                    anstream::eprint!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Ls => {
            let runs = registry::runs();
            if !runs.iter().any(registry::RunRecord::alive) {
                outln!("no live networks (netloom emulate FILE --hold starts one)");
            }
            for r in runs {
                let state = if r.alive() {
                    "live"
                } else {
                    "dead (netloom cleanup removes it)"
                };
                outln!("{}  pid {}  {}  {state}", r.id, r.pid, r.file);
                for (m, ns) in &r.namespaces {
                    outln!("    {m:<16} {ns}");
                }
            }
            ExitCode::SUCCESS
        }
        Command::Cleanup => {
            let done = registry::cleanup();
            if done.removed.is_empty() {
                outln!("nothing to clean up");
            }
            for r in done.removed {
                outln!("removed {r}");
            }
            for n in done.left {
                outln!(
                    "left alone: namespace {n} looks like netloom's, but no run record names it (if it is yours: \
                     ip netns del {n})"
                );
            }
            ExitCode::SUCCESS
        }
        Command::Validate { files } => {
            let files = match scenario_files(&files) {
                Ok(f) => f,
                Err(msg) => {
                    eprintln!("{msg}");
                    return ExitCode::from(2);
                }
            };
            let mut bad = false;
            for f in &files {
                match read_and_load(f) {
                    Ok(l) => {
                        for w in &l.warnings {
                            outln!("{w}");
                        }
                        outln!(
                            "{}: {}",
                            f.display(),
                            netloom_scenarios::style::paint(true, netloom_scenarios::style::PASS, "ok")
                        );
                    }
                    Err(msg) => {
                        anstream::eprint!("{msg}");
                        bad = true;
                    }
                }
            }
            if bad { ExitCode::from(2) } else { ExitCode::SUCCESS }
        }
        Command::Run {
            files,
            json,
            junit,
            pcap,
            seed,
            trace,
        } => {
            let files = match scenario_files(&files) {
                Ok(f) => f,
                Err(msg) => {
                    eprintln!("{msg}");
                    return ExitCode::from(2);
                }
            };
            let mut loaded = Vec::new();
            let mut invalid = false;
            for f in &files {
                match read_and_load(f) {
                    Ok(l) => loaded.push(l),
                    Err(msg) => {
                        anstream::eprint!("{msg}");
                        invalid = true;
                    }
                }
            }
            if invalid {
                return ExitCode::from(2);
            }
            let mut reports = Vec::new();
            for (i, l) in loaded.iter().enumerate() {
                let opts = RunOptions {
                    seed,
                    capture: false,
                    pcap_dir: pcap.clone(),
                    pcap_prefix: (loaded.len() > 1).then(|| l.scenario.name.value.clone()),
                    trace_all: trace,
                };
                let running = netloom_scenarios::progress::spinner(format!("running {}", l.file));
                let r = run(l, &opts);
                running.finish_and_clear();
                if !json {
                    out!("{}", report::text_colored(&r.report));
                    if i + 1 < loaded.len() {
                        outln!("");
                    }
                }
                if let Some(Err(e)) = &r.captures {
                    eprintln!("netloom: writing captures to {e}");
                    return ExitCode::from(2);
                }
                reports.push(r.report);
            }
            if json {
                outln!("{}", report::json(&reports));
            } else {
                if reports.len() > 1 {
                    outln!("\n{}", report::summary_colored(&reports));
                }
                outln!("{}", report::LEGEND);
            }
            if let Some(path) = junit
                && let Err(e) = std::fs::write(&path, report::junit(&reports))
            {
                eprintln!("netloom: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
            if reports.iter().all(|r| r.passed()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The files of `run`/`validate`: each argument that is a directory stands for its
/// `*.yaml` and `*.yml` files (not those of its subdirectories), sorted by name.
fn scenario_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for a in args {
        if !a.is_dir() {
            files.push(a.clone());
            continue;
        }
        let entries = std::fs::read_dir(a)
            .map_err(|e| format!("{}: error: cannot read the directory: {e}", a.display()))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
            .collect();
        if found.is_empty() {
            return Err(format!(
                "{}: error: the directory has no *.yaml or *.yml file",
                a.display()
            ));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Loads `f`, with a spinner on a terminal while it is read, validated and resolved;
/// its errors carry colours for anstream to keep or strip.
fn read_and_load(f: &Path) -> Result<netloom_scenarios::Loaded, String> {
    let loading = netloom_scenarios::progress::spinner(format!("loading {}", f.display()));
    let loaded = netloom_scenarios::input::load_file_with(f, true);
    loading.finish_and_clear();
    loaded
}

/// Writes `bytes` to standard output; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netloom: {e}");
            ExitCode::from(1)
        }
    }
}

/// `netloom explain FILE --from A --to B[:port] [--proto P]`.
fn explain(file: &Path, from: &str, to: &str, proto: Option<&str>) -> ExitCode {
    use netloom_scenarios::explain;
    let q = match explain::Query::parse(from, to, proto) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("netloom explain: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = match read_and_load(file) {
        Ok(l) => l,
        Err(msg) => {
            anstream::eprint!("{msg}");
            return ExitCode::from(2);
        }
    };
    // Built from the loaded file without a copy; a command that ends here leaves the
    // memory of a 10,000-container lab to the exit rather than freeing it piece by piece.
    let seed = loaded.scenario.seed;
    let netloom_scenarios::Loaded {
        resolved,
        scenario,
        model,
        ..
    } = loaded;
    let mut lab = explain::path_lab(resolved, seed, &q);
    let said = explain::explain_in(&mut lab, &q);
    std::mem::forget((lab, scenario, model));
    match said {
        Ok(text) => {
            out!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netloom explain: {e}");
            ExitCode::from(2)
        }
    }
}

/// `netloom policy matrix FILE [--port tcp/80]… [--json]`.
fn policy_matrix(file: &Path, ports: &[String], json: bool) -> ExitCode {
    use netloom_scenarios::matrix;
    let loaded = match read_and_load(file) {
        Ok(l) => l,
        Err(msg) => {
            anstream::eprint!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut probe = Vec::new();
    for p in ports {
        match matrix::parse_port(p) {
            Ok(x) => probe.push(x),
            Err(e) => {
                eprintln!("netloom policy matrix: --port {e}");
                return ExitCode::from(2);
            }
        }
    }
    if probe.is_empty() {
        let mut seen: Vec<(netloom_drivers::net::L4, u16)> = loaded
            .model
            .containers
            .iter()
            .flat_map(|c| c.listen.iter().map(|l| (l.l4, l.port)))
            .collect();
        seen.sort_by_key(|&(l4, p)| (l4 != netloom_drivers::net::L4::Tcp, p));
        seen.dedup();
        probe = if seen.is_empty() {
            vec![(netloom_drivers::net::L4::Tcp, 80)]
        } else {
            seen
        };
    }
    let mut lab = match netloom_drivers::docker::Lab::build(&loaded.model, loaded.scenario.seed) {
        Ok(l) => l,
        Err(errs) => {
            for e in errs {
                eprintln!("netloom policy matrix: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let mx = lab.policy_matrix(&probe);
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&matrix::to_json(&mx)).unwrap_or_default()
        );
    } else {
        out!("{}", matrix::render(&mx));
    }
    ExitCode::SUCCESS
}

/// `netloom iptables FILE --host NAME`.
fn iptables(file: &Path, host: Option<&str>, ipv6: bool) -> ExitCode {
    let loaded = match read_and_load(file) {
        Ok(l) => l,
        Err(msg) => {
            anstream::eprint!("{msg}");
            return ExitCode::from(2);
        }
    };
    let m = &loaded.model;
    let mut machines: Vec<String> = m.hosts.iter().map(|h| h.name.clone()).collect();
    if machines.is_empty() {
        machines.push(m.default_host());
    }
    machines.extend(m.routers.iter().map(|r| r.name.clone()));
    let name = match host {
        Some(h) => h.to_string(),
        None if machines.len() == 1 => machines[0].clone(),
        None => {
            eprintln!(
                "netloom iptables: {} has several machines with rules; name one with --host (one of: {})",
                file.display(),
                machines.join(", ")
            );
            return ExitCode::from(2);
        }
    };
    if !machines.contains(&name) {
        let what = m.names().get(name.as_str()).copied();
        let near = machines
            .iter()
            .map(|k| (strsim::levenshtein(k, &name), k))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, k)| format!(" (did you mean '{k}'?)"))
            .unwrap_or_default();
        match what {
            Some(kind) => eprintln!(
                "netloom iptables: '{name}' is {} {kind}: only Docker hosts and routers have iptables rules here ({})",
                if kind == "external" { "an" } else { "a" },
                machines.join(", ")
            ),
            None => eprintln!(
                "netloom iptables: {} has no host or router named '{name}'{near}; its machines with rules: {}",
                file.display(),
                machines.join(", ")
            ),
        }
        return ExitCode::from(2);
    }
    let lab = match netloom_drivers::docker::Lab::build(m, loaded.scenario.seed) {
        Ok(l) => l,
        Err(errs) => {
            for e in errs {
                eprintln!("netloom iptables: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let text = if ipv6 {
        lab.rulesets(&name).map(|(_, v6)| v6.save())
    } else {
        lab.iptables_save(&name)
    };
    match text {
        Some(t) => {
            out!("{t}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("netloom iptables: '{name}' has no rule tables");
            ExitCode::from(2)
        }
    }
}

fn emulate(
    file: &Path,
    hold: bool,
    all: bool,
    seed: Option<u64>,
    json: bool,
    junit: Option<&Path>,
    pcap: Option<PathBuf>,
) -> ExitCode {
    let loaded = match read_and_load(file) {
        Ok(l) => l,
        Err(msg) => {
            anstream::eprint!("{msg}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root()
        && let Err(e) = emulate::userns::enter()
    {
        eprintln!("netloom emulate: {e}");
        return ExitCode::from(2);
    }
    emulate::install_signal_handlers();
    let opts = EmulateOptions {
        hold,
        all,
        seed,
        pcap,
    };
    let em = match Emulation::start(&loaded, &opts) {
        Ok(e) => e,
        Err(emulate::StartError::Interrupted) => {
            eprintln!("netloom emulate: {}", emulate::StartError::Interrupted);
            let r = emulate::not_run(&loaded);
            print_report(&r, json, false);
            let _ = write_junit(junit, &r);
            return ExitCode::from(130);
        }
        Err(e) => {
            eprintln!("netloom emulate: {e}");
            return ExitCode::from(2);
        }
    };
    if !json {
        // Not `eprint!`, which panics when standard error's reader has gone.
        use std::io::Write;
        let _ = std::io::stderr().write_all(em.banner().as_bytes());
    }
    if std::env::var_os("NETLOOM_TEST_PANIC").is_some() {
        panic!("NETLOOM_TEST_PANIC is set: panicking with the network up");
    }
    let done = em.run(&loaded, hold);
    // A held network's report was shown when its steps were done.
    print_report(&done.report, json, hold && !done.interrupted);
    if let Err(code) = write_junit(junit, &done.report) {
        return code;
    }
    if let Some(Err(e)) = &done.captures {
        eprintln!("netloom emulate: writing captures to {e}");
        return ExitCode::from(2);
    }
    if done.interrupted {
        ExitCode::from(130)
    } else if done.report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes `emulate --junit PATH`, when asked for.
fn write_junit(path: Option<&Path>, r: &netloom_scenarios::Report) -> Result<(), ExitCode> {
    if let Some(path) = path
        && let Err(e) = std::fs::write(path, report::junit(std::slice::from_ref(r)))
    {
        eprintln!("netloom emulate: writing {}: {e}", path.display());
        return Err(ExitCode::from(2));
    }
    Ok(())
}

fn print_report(r: &netloom_scenarios::Report, json: bool, shown: bool) {
    if json {
        outln!("{}", report::json(std::slice::from_ref(r)));
    } else if !shown {
        out!("{}", report::text_colored(r));
        outln!("{}", report::LEGEND);
    }
}

fn exec(name: &str, run: Option<&str>, cmd: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let runs: Vec<registry::RunRecord> = registry::runs()
        .into_iter()
        .filter(|r| r.alive() && run.is_none_or(|id| r.id == id))
        .collect();
    let Some(ns) = runs
        .iter()
        .rev()
        .find_map(|r| r.namespace_of(name).map(str::to_string))
    else {
        eprintln!("netloom exec: no live run has a machine named '{name}' (netloom ls lists them)");
        return ExitCode::from(2);
    };
    let Some((program, args)) = cmd.split_first() else {
        eprintln!("netloom exec: no command given");
        return ExitCode::from(2);
    };
    // This process enters the namespace itself (it has one thread) and becomes the
    // program, as `ip netns exec` does: the exit code is the program's own, and the
    // namespace's name reaches no parser.
    if let Err(e) = emulate::enter_namespace(&ns) {
        eprintln!("netloom exec: {e}");
        return ExitCode::from(2);
    }
    let err = std::process::Command::new(program).args(args).exec();
    eprintln!("netloom exec: cannot run {program}: {err}");
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

/// `netloom graph --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Text,
    Dot,
    Mermaid,
}

/// `netloom graph FILE [--format text|dot|mermaid] [--svg OUT]`.
fn graph(file: &Path, format: GraphFormat, svg: Option<&Path>) -> ExitCode {
    use netloom_scenarios::graph;
    let loaded = match read_and_load(file) {
        Ok(l) => l,
        Err(msg) => {
            anstream::eprint!("{msg}");
            return ExitCode::from(2);
        }
    };
    // The command ends after drawing: the loaded file's memory is left to the exit
    // rather than freed piece by piece (a tenth of the time on 10,000 containers).
    let loaded: &'static netloom_scenarios::Loaded = Box::leak(Box::new(loaded));
    let resolved = &loaded.resolved;
    let Some(out) = svg else {
        let drawing = match format {
            GraphFormat::Text => graph::text(resolved),
            GraphFormat::Dot => graph::dot(resolved),
            GraphFormat::Mermaid => graph::mermaid(resolved),
        };
        out!("{drawing}");
        std::mem::forget(drawing);
        return ExitCode::SUCCESS;
    };
    match svg_of(&graph::dot(resolved)) {
        Ok(bytes) => match std::fs::write(out, bytes) {
            Ok(()) => {
                outln!("wrote {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("netloom graph: writing {}: {e}", out.display());
                ExitCode::from(2)
            }
        },
        Err(msg) => {
            eprintln!("netloom graph: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Graphviz's SVG of a dot graph: `dot -Tsvg`, the graph on its stdin (no shell).
fn svg_of(dot: &str) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "--svg needs Graphviz's `dot`, which is not installed: install graphviz \
                 (`apt-get install graphviz`), or print the graph with `--format dot`"
                    .to_string()
            } else {
                format!("running Graphviz's `dot`: {e}")
            }
        })?;
    // Write from another thread: dot may fill its stdout pipe before reading all input.
    let mut stdin = child.stdin.take().ok_or("no stdin for `dot`")?;
    let input = dot.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running Graphviz's `dot`: {e}"))?;
    let written = writer
        .join()
        .map_err(|_| "writing to `dot` panicked".to_string())?;
    if !out.status.success() {
        return Err(format!(
            "Graphviz's `dot` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    written.map_err(|e| format!("writing to `dot`: {e}"))?;
    Ok(out.stdout)
}
