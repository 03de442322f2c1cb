//! Load-and-settle time and resident memory of large Docker models.
//!
//! `scale` measures 1,000, 10,000 and 100,000 containers (100 per host, one user bridge
//! network per host, all hosts on one LAN), each in a child process of its own so that
//! its peak resident memory is its own; a size that runs past the time or memory limit
//! is killed and larger sizes are skipped. Each child also pings between two
//! containers of the first host as a smoke check.
//!
//! ```text
//! scale [CONTAINERS...] [--per-host N] [--subnet CIDR] [--timeout-secs S] [--max-rss-mb M]
//! ```
//!
//! `--subnet` gives every host's network that subnet instead of a default pool (a /16):
//! `scale 100000 --per-host 100000 --subnet 100.64.0.0/10` puts 100,000 containers on
//! one network, which measures the address allocator.

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netloom_bench::{container_name, docker_model, mem};
use netloom_drivers::docker::{Lab, SubnetDef};

type Error = Box<dyn std::error::Error>;

struct Opts {
    sizes: Vec<usize>,
    per_host: usize,
    timeout: Duration,
    max_rss: u64,
    one: Option<usize>,
    subnet: Option<String>,
}

fn parse() -> Result<Opts, Error> {
    let mut o = Opts {
        sizes: Vec::new(),
        per_host: 100,
        timeout: Duration::from_secs(60),
        max_rss: 8 << 30,
        one: None,
        subnet: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<u64, Error> {
            let v = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            Ok(v.replace('_', "").parse()?)
        };
        match a.as_str() {
            "--per-host" => o.per_host = value("--per-host")? as usize,
            "--timeout-secs" => o.timeout = Duration::from_secs(value("--timeout-secs")?),
            "--max-rss-mb" => o.max_rss = value("--max-rss-mb")? << 20,
            "--one" => o.one = Some(value("--one")? as usize),
            "--subnet" => o.subnet = Some(args.next().ok_or("--subnet needs a value")?),
            "-h" | "--help" => {
                println!(
                    "scale [CONTAINERS...] [--per-host N] [--subnet CIDR] [--timeout-secs S] [--max-rss-mb M]"
                );
                std::process::exit(0);
            }
            n => o.sizes.push(n.replace('_', "").parse()?),
        }
    }
    if o.sizes.is_empty() {
        o.sizes = vec![1_000, 10_000, 100_000];
    }
    if o.per_host < 2 {
        return Err("--per-host must be at least 2 (the smoke ping needs two containers on a host)".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let run = || -> Result<(), Error> {
        let o = parse()?;
        match o.one {
            Some(n) => one(n, o.per_host, o.subnet.as_deref()),
            None => all(&o),
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One size, in this process: prints one `RESULT key=value…` line.
fn one(containers: usize, per_host: usize, subnet: Option<&str>) -> Result<(), Error> {
    let hosts = containers.div_ceil(per_host);
    let subnet: Option<IpNet> = subnet.map(str::parse).transpose()?;
    let (rss0, _) = mem::rss_hwm().ok_or("no /proc/self/status")?;
    let t = Instant::now();
    let mut model = docker_model(hosts, per_host);
    if let Some(s) = subnet {
        for n in &mut model.networks {
            n.subnets = vec![SubnetDef {
                subnet: s,
                gateway: None,
                ip_range: None,
                aux_addresses: Vec::new(),
            }];
        }
    }
    let model_t = t.elapsed();
    let t = Instant::now();
    let mut lab = match Lab::build(&model, 1) {
        Ok(l) => l,
        Err(errs) => return Err(format!("invalid model: {}", errs[0]).into()),
    };
    let build_t = t.elapsed();
    let t = Instant::now();
    let events = lab.fabric.run_until_idle(u64::MAX);
    let settle_t = t.elapsed();
    // The input model is only the scenario's text in another form: what stays is the lab.
    drop(model);
    let (rss1, hwm1) = mem::rss_hwm().ok_or("no /proc/self/status")?;
    let elements = lab.fabric.topology().node_count();
    let links = lab.fabric.links().count();

    let (from, to) = (container_name(0, 0), container_name(0, 1));
    let to_ip = lab.address_of(&to, false).ok_or("no address")?;
    let t = Instant::now();
    let p = lab.ping(&from, to_ip, 1, 56, false)?;
    let ping_t = t.elapsed();
    let rtt = p
        .rtts
        .first()
        .map_or("lost".to_string(), |r| format!("{}us", r.as_nanos() / 1000));
    println!(
        "RESULT containers={} hosts={hosts} elements={elements} links={links} model_ms={:.1} \
         build_ms={:.1} settle_ms={:.1} settle_events={events} rss_base={rss0} rss={rss1} hwm={hwm1} \
         ping={}/{} rtt={rtt} ping_ms={:.2}",
        hosts * per_host,
        ms(model_t),
        ms(build_t),
        ms(settle_t),
        p.received,
        p.sent,
        ms(ping_t),
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Every size, each in a child process with a time and memory limit.
fn all(o: &Opts) -> Result<(), Error> {
    let exe = std::env::current_exe()?;
    println!(
        "| containers | hosts | elements | links | build + settle | RSS growth | RSS after | peak RSS | bytes/container | ping |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &o.sizes {
        let mut cmd = Command::new(&exe);
        cmd.args(["--one", &n.to_string(), "--per-host", &o.per_host.to_string()]);
        if let Some(s) = &o.subnet {
            cmd.args(["--subnet", s]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let start = Instant::now();
        let mut peak = 0;
        let verdict = loop {
            if let Some(status) = child.try_wait()? {
                break if status.success() {
                    None
                } else {
                    Some(format!("failed ({status})"))
                };
            }
            if let Some((rss, _)) = mem::rss_hwm_of(child.id()) {
                peak = peak.max(rss);
                if rss > o.max_rss {
                    child.kill()?;
                    child.wait()?;
                    break Some(format!("stopped: resident memory passed {} MB", o.max_rss >> 20));
                }
            }
            if start.elapsed() > o.timeout {
                child.kill()?;
                child.wait()?;
                break Some(format!(
                    "stopped after {} s (limit), {} MB resident",
                    o.timeout.as_secs(),
                    peak >> 20
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = start.elapsed();
        if let Some(why) = verdict {
            println!("| {n} | | | | {why} | | | | | |");
            eprintln!("scale: {n} containers {why}; larger sizes skipped");
            break;
        }
        let mut out = String::new();
        child.stdout.take().ok_or("no stdout")?.read_to_string(&mut out)?;
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or("the child printed no RESULT")?;
        let kv = |k: &str| -> &str {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .unwrap_or("?")
        };
        let num = |k: &str| kv(k).parse::<f64>().unwrap_or(f64::NAN);
        let containers = num("containers");
        let load_ms = num("build_ms") + num("settle_ms");
        let grown = num("rss") - num("rss_base");
        println!(
            "| {} | {} | {} | {} | {:.0} ms (model {:.0} ms, build {:.0} ms, settle {:.1} ms / {} events) | {:.1} MB | {:.1} MB | {:.1} MB | {:.0} | {} rtt {} |",
            kv("containers"),
            kv("hosts"),
            kv("elements"),
            kv("links"),
            load_ms,
            num("model_ms"),
            num("build_ms"),
            num("settle_ms"),
            kv("settle_events"),
            grown / 1e6,
            num("rss") / 1e6,
            num("hwm") / 1e6,
            grown / containers,
            kv("ping"),
            kv("rtt"),
        );
        eprintln!(
            "scale: {n} containers: child ran {:.1} s wall in all",
            wall.as_secs_f64()
        );
    }
    Ok(())
}
