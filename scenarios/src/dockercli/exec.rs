//! The tools a `docker exec` (or a line on the host) runs — ping, curl, wget, nc,
//! nslookup, dig, getent, host — as runner steps on the lab, printed as the tools
//! print (iputils ping, curl, busybox wget, OpenBSD nc, BIND's nslookup / dig / host,
//! glibc's getent) with their exit codes.

use std::fmt::Write as _;
use std::net::IpAddr;

use netloom_core::SimDuration;
use netloom_drivers::docker::Lab;
use netloom_drivers::net::L4;
use netloom_drivers::router::LookupOutcome;

use crate::format::Outcome;
use crate::runner::run_step;
use crate::shell::session::Fate;
use crate::shell::words::{curl_words, dig_text};
use crate::validate::{Expectations, Op, PlannedStep, To};

/// What a tool printed and its exit status.
#[derive(Clone, Debug, Default)]
pub struct ToolOut {
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
    /// Exit status.
    pub code: i32,
}

impl ToolOut {
    fn fail(err: String, code: i32) -> ToolOut {
        ToolOut {
            out: String::new(),
            err,
            code,
        }
    }
}

/// Where a tool runs and what that machine knows locally.
pub struct Ctx<'a> {
    /// The machine in the lab (a container's name, `host1`, `client`).
    pub from: &'a str,
    /// Whether it is a container (its names go to Docker's DNS; a host's do not).
    pub container: bool,
    /// `/etc/hosts`: name → address (`localhost`, its hostname, `--add-host`).
    pub hosts: &'a [(String, IpAddr)],
    /// Reverse names the resolver would give (`web.app` for a container on a user
    /// network the sender shares).
    pub ptr: &'a [(IpAddr, String)],
    /// Addresses one routed hop away are answered with TTL 63 (`true` for a container
    /// reaching beyond its own networks and host).
    pub routed: &'a dyn Fn(IpAddr) -> bool,
    /// The machine's own address (where ping's "Destination Host Unreachable" comes from).
    pub src: Option<IpAddr>,
}

/// Why a connect was refused, in the kernel's words (`Connection refused`, or the
/// `connect()` error such as `Network is unreachable`).
fn refusal(observed: &str) -> &'static str {
    crate::shell::words::connect_errno(observed).unwrap_or("Connection refused")
}

/// Runs `argv` (a tool and its arguments) on `ctx.from`.
pub fn run(lab: &mut Lab, ctx: &Ctx<'_>, argv: &[String]) -> ToolOut {
    let Some(prog) = argv.first() else {
        return ToolOut::default();
    };
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let args = &argv[1..];
    match prog {
        "ping" => ping(lab, ctx, args),
        "curl" => curl(lab, ctx, args),
        "wget" => wget(lab, ctx, args),
        "nc" | "ncat" | "netcat" => nc(lab, ctx, args),
        "nslookup" => nslookup(lab, ctx, args),
        "dig" => dig(lab, ctx, args),
        "getent" => getent(lab, ctx, args),
        "host" => host(lab, ctx, args),
        other => ToolOut::fail(
            format!(
                "netloom: `{other}` is not simulated; exec runs ping, curl, wget, nc, nslookup, dig, getent and host\n"
            ),
            127,
        ),
    }
}

/// A step's expectation, so that the runner checks and diagnoses it.
fn expecting(o: Outcome) -> Expectations {
    Expectations {
        result: Some(o),
        ..Expectations::default()
    }
}

/// The target as a step takes it: `/etc/hosts` first; from a container, other names go
/// to its resolver through the step; from a host or the outside client, names are
/// looked up here (a host does not know Docker's names).
fn aim(lab: &mut Lab, ctx: &Ctx<'_>, host: &str) -> Result<To, String> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(To::Ip(ip));
    }
    if let Some((_, ip)) = ctx.hosts.iter().find(|(n, _)| n.eq_ignore_ascii_case(host)) {
        return Ok(To::Ip(*ip));
    }
    if ctx.container {
        return Ok(To::Name(host.to_string()));
    }
    match lab.resolve(ctx.from, host) {
        Ok(r) => match r.outcome {
            LookupOutcome::Addresses(a) => a
                .iter()
                .find(|a| a.is_ipv4())
                .or(a.first())
                .map(|a| To::Ip(*a))
                .ok_or_else(|| "Name or service not known".to_string()),
            LookupOutcome::NoAnswer(_) => Err("Temporary failure in name resolution".into()),
            _ => Err("Name or service not known".into()),
        },
        Err(_) => Err("Name or service not known".into()),
    }
}

/// The resolver's reason from a step that sent nothing (`web: Name or service not known
/// (NXDOMAIN); …` → `Name or service not known`).
fn resolver_reason(observed: &str) -> Option<String> {
    let rest = observed.strip_prefix("no packet sent: ")?;
    let (_, why) = rest.split_once(": ")?;
    Some(why.split([';', '(']).next().unwrap_or(why).trim().to_string())
}

fn ms(d: SimDuration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

fn ping(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let mut count = 4u32;
    let mut size = 56usize;
    let mut df = false;
    let mut quiet = false;
    let mut target = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let val = |i: &mut usize| -> Option<String> {
            *i += 1;
            args.get(*i).cloned()
        };
        match a {
            "-c" => count = val(&mut i).and_then(|v| v.parse().ok()).unwrap_or(count),
            "-s" => size = val(&mut i).and_then(|v| v.parse().ok()).unwrap_or(size),
            "-M" => df = val(&mut i).as_deref() == Some("do"),
            "-W" | "-w" | "-i" | "-t" | "-I" => {
                let _ = val(&mut i);
            }
            "-q" => quiet = true,
            "-4" | "-6" | "-n" | "-v" | "-D" | "-O" => {}
            _ if a.starts_with("-c") => count = a[2..].parse().unwrap_or(count),
            _ if a.starts_with("-W") || a.starts_with("-w") || a.starts_with("-i") => {}
            _ if a.starts_with('-') => {
                return ToolOut::fail(
                    format!("ping: invalid option -- '{}'\n", a.trim_start_matches('-')),
                    2,
                );
            }
            _ => target = Some(a.to_string()),
        }
        i += 1;
    }
    let Some(host) = target else {
        return ToolOut::fail("ping: usage error: Destination address required\n".into(), 2);
    };
    let count = count.clamp(1, 100);
    let to = match aim(lab, ctx, &host) {
        Ok(t) => t,
        Err(why) => return ToolOut::fail(format!("ping: {host}: {why}\n"), 2),
    };
    let step = PlannedStep {
        line: 0,
        title: format!("ping {} -> {host}", ctx.from),
        op: Op::Ping {
            from: ctx.from.to_string(),
            to,
            count,
            size,
            dont_fragment: df,
        },
        expect: expecting(Outcome::Reach),
    };
    let r = run_step(lab, &step, false);
    let Some(ip) = r.target else {
        let why = resolver_reason(&r.observed).unwrap_or_else(|| r.observed.clone());
        return ToolOut::fail(format!("ping: {host}: {why}\n"), 2);
    };
    let error = r
        .observed
        .split_once("; ")
        .map(|(_, e)| e.lines().next().unwrap_or(e).to_string());
    if r.rtts.is_empty()
        && let Some(e) = error.as_deref().filter(|e| e.starts_with("connect: "))
    {
        return ToolOut::fail(format!("ping: {e}\n"), 2);
    }
    let mut s = if ip.is_ipv4() {
        format!("PING {host} ({ip}) {size}({}) bytes of data.\n", size + 28)
    } else {
        format!("PING {host} ({ip}) {size} data bytes\n")
    };
    let who = match ctx.ptr.iter().find(|(a, _)| *a == ip) {
        Some((_, n)) => format!("{n} ({ip})"),
        None => ip.to_string(),
    };
    let ttl = if (ctx.routed)(ip) { 63 } else { 64 };
    if !quiet {
        for (seq, rtt) in r.rtts.iter().enumerate() {
            let _ = writeln!(
                s,
                "{} bytes from {who}: icmp_seq={} ttl={ttl} time={:.3} ms",
                size + 8,
                seq + 1,
                ms(*rtt)
            );
        }
    }
    // An ICMP error (or a neighbour that never answered) is reported per request, as
    // ping interleaves them with the replies.
    let mut errors = 0;
    if let Some(e) = &error
        && r.rtts.is_empty()
    {
        errors = count;
        if !quiet {
            let from = ctx.src.map(|a| a.to_string()).unwrap_or_else(|| ip.to_string());
            for seq in 1..=count {
                let _ = writeln!(s, "From {from} icmp_seq={seq} {e}");
            }
        }
    }
    // A DF request larger than the sender's own MTU never leaves: sendmsg() fails
    // with EMSGSIZE and iputils says so on standard error, once per request.
    let mut err = String::new();
    if r.rtts.is_empty()
        && errors == 0
        && let Some(mtu) = r
            .first_drop
            .as_deref()
            .and_then(|d| d.split_once("local error: message too long, mtu="))
            .map(|(_, m)| m.split(' ').next().unwrap_or(m))
    {
        errors = count;
        if !quiet {
            for _ in 0..count {
                let _ = writeln!(err, "ping: local error: message too long, mtu={mtu}");
            }
        }
    }
    let received = r.rtts.len() as u32;
    let loss = 100 * (count - received.min(count)) / count;
    let _ = write!(
        s,
        "\n--- {host} ping statistics ---\n{count} packets transmitted, {received} received, {}{loss}% packet loss, time {}ms\n",
        if errors > 0 {
            format!("+{errors} errors, ")
        } else {
            String::new()
        },
        (count - 1) * 1000
    );
    if received > 0 {
        let v: Vec<f64> = r.rtts.iter().map(|d| ms(*d)).collect();
        let n = v.len() as f64;
        let avg = v.iter().sum::<f64>() / n;
        let mdev = (v.iter().map(|x| x * x).sum::<f64>() / n - avg * avg)
            .max(0.0)
            .sqrt();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
        );
    } else {
        s.push('\n');
    }
    ToolOut {
        out: s,
        err,
        code: if received > 0 { 0 } else { 1 },
    }
}

/// `scheme://host[:port][/path]` → (host, port); a bare `host:port` is http.
fn url(u: &str) -> Option<(String, u16)> {
    let (scheme, rest) = match u.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), u),
    };
    let default = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        "ftp" => 21,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']')?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((format!("[{h}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
    .filter(|(h, _)| !h.is_empty())
}

/// A TCP (or UDP) connection step to `host:port`; `None` when the name did not resolve
/// (with the resolver's reason).
fn connect(
    lab: &mut Lab,
    ctx: &Ctx<'_>,
    host: &str,
    port: u16,
    l4: L4,
) -> Result<crate::runner::StepReport, String> {
    let to = aim(lab, ctx, host)?;
    let step = PlannedStep {
        line: 0,
        title: format!("connect {} -> {host}:{port} ({})", ctx.from, l4.name()),
        op: Op::Connect {
            from: ctx.from.to_string(),
            to,
            port,
            l4,
        },
        expect: expecting(Outcome::Ok),
    };
    let r = run_step(lab, &step, false);
    if r.target.is_none() {
        return Err(resolver_reason(&r.observed).unwrap_or(r.observed));
    }
    Ok(r)
}

fn curl(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let (mut silent, mut show_error, mut verbose) = (false, false, false);
    let mut write_out: Option<String> = None;
    let mut target = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-s" | "--silent" => silent = true,
            "-S" | "--show-error" => show_error = true,
            "-v" | "--verbose" => verbose = true,
            "-w" | "--write-out" => {
                i += 1;
                write_out = args.get(i).cloned();
            }
            "-m" | "--max-time" | "--connect-timeout" | "-o" | "--output" | "-X" | "--request" | "-H"
            | "--header" | "-d" | "--data" | "-u" | "--user" | "-A" | "--user-agent" | "--retry" | "-e"
            | "--resolve" | "--cacert" | "-T" | "--upload-file" => i += 1,
            _ if a.starts_with("--") => {}
            _ if a.starts_with('-') && a.len() > 1 => {
                // A bundle (`-sSo /dev/null`, `-o/dev/null`): a flag that takes a value
                // takes the rest of the word, or the next word.
                for (k, c) in a[1..].char_indices() {
                    match c {
                        's' => silent = true,
                        'S' => show_error = true,
                        'v' => verbose = true,
                        'm' | 'o' | 'w' | 'X' | 'H' | 'd' | 'u' | 'A' | 'e' | 'T' => {
                            let rest = &a[k + 2..];
                            let v = if rest.is_empty() {
                                i += 1;
                                args.get(i).cloned()
                            } else {
                                Some(rest.to_string())
                            };
                            if c == 'w' {
                                write_out = v;
                            }
                            break;
                        }
                        _ => {}
                    }
                }
            }
            _ => target = Some(a.to_string()),
        }
        i += 1;
    }
    // `-w '%{http_code}'` after a failed connection: curl prints 000 (no response).
    let failed_out = |mut t: ToolOut| {
        if let Some(w) = &write_out {
            t.out = w
                .replace("%{http_code}", "000")
                .replace("%{response_code}", "000")
                .replace("\\n", "\n");
        }
        t
    };
    let Some(u) = target else {
        return ToolOut::fail(
            "curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n"
                .into(),
            2,
        );
    };
    let Some((host, port)) = url(&u) else {
        return ToolOut::fail(
            format!("curl: (3) URL rejected: Bad hostname or port in {u}\n"),
            3,
        );
    };
    let quiet_err = |s: String| if silent && !show_error { String::new() } else { s };
    match connect(lab, ctx, &host, port, L4::Tcp) {
        Err(_) => failed_out(ToolOut::fail(
            quiet_err(format!("curl: (6) Could not resolve host: {host}\n")),
            6,
        )),
        Ok(r) => {
            let fate = if r.outcome == Some(Outcome::Ok) {
                Fate::Ok
            } else {
                Fate::Failed
            };
            // A neighbour that never answered ARP fails the connect with EHOSTUNREACH.
            let observed = match connect_error(&r) {
                Some(e) if r.outcome == Some(Outcome::Timeout) => format!("{}; {e}", r.observed),
                _ => r.observed.clone(),
            };
            let words = curl_words(&observed, fate, &host, port, None);
            if fate == Fate::Ok {
                let ip = r.target.map(|a| a.to_string()).unwrap_or_default();
                let line = if verbose || !silent {
                    format!("* Connected to {host} ({ip}) port {port}\n")
                } else {
                    String::new()
                };
                return ToolOut {
                    out: line,
                    err: String::new(),
                    code: 0,
                };
            }
            let code = words
                .strip_prefix("curl: (")
                .and_then(|s| s.split(')').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(7);
            failed_out(ToolOut::fail(quiet_err(words), code))
        }
    }
}

fn wget(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let mut quiet = false;
    let spider = args.iter().any(|a| a == "--spider");
    let mut target = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-q" | "--quiet" => quiet = true,
            "-O" | "-T" | "-U" | "--header" | "-t" | "-o" => i += 1,
            "-qO-" | "-qO" | "-O-" => quiet |= a.starts_with("-q"),
            _ if a.starts_with('-') => quiet |= !a.starts_with("--") && a.contains('q'),
            _ => target = Some(a.to_string()),
        }
        i += 1;
    }
    let Some(u) = target else {
        return ToolOut::fail("BusyBox wget: missing URL\n".into(), 1);
    };
    let Some((host, port)) = url(&u) else {
        return ToolOut::fail(format!("wget: not an http or ftp url: {u}\n"), 1);
    };
    match connect(lab, ctx, &host, port, L4::Tcp) {
        Err(_) => ToolOut::fail(format!("wget: bad address '{host}'\n"), 1),
        Ok(r) => {
            let ip = r.target.map(|a| a.to_string()).unwrap_or_default();
            match r.outcome {
                Some(Outcome::Ok) => ToolOut {
                    out: match (quiet, spider) {
                        (true, _) => String::new(),
                        (false, true) => format!("Connecting to {host} ({ip}:{port})\nremote file exists\n"),
                        (false, false) => format!("Connecting to {host} ({ip}:{port})\n"),
                    },
                    err: String::new(),
                    code: 0,
                },
                Some(Outcome::Refused | Outcome::Timeout) if connect_error(&r).is_some() => ToolOut::fail(
                    format!(
                        "wget: can't connect to remote host ({ip}): {}\n",
                        connect_error(&r).unwrap_or("Connection refused")
                    ),
                    1,
                ),
                Some(Outcome::Closed) => ToolOut::fail(
                    "wget: error getting response: Connection reset by peer\n".into(),
                    1,
                ),
                _ => ToolOut::fail("wget: download timed out\n".into(), 1),
            }
        }
    }
}

/// /etc/services' name of a port, as nc prints it.
fn service(port: u16, udp: bool) -> &'static str {
    match (port, udp) {
        (21, false) => "ftp",
        (22, false) => "ssh",
        (25, false) => "smtp",
        (53, _) => "domain",
        (80, false) => "http",
        (443, false) => "https",
        (3306, false) => "mysql",
        (5432, false) => "postgresql",
        (5672, false) => "amqp",
        (6379, false) => "redis",
        (8080, false) => "http-alt",
        (11211, _) => "memcache",
        (27017, false) => "mongodb",
        _ => "*",
    }
}

fn nc(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let (mut verbose, mut udp) = (false, false);
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a.starts_with('-') && a.len() > 1 {
            for (k, c) in a[1..].char_indices() {
                match c {
                    'v' => verbose = true,
                    'u' => udp = true,
                    'w' | 'p' | 's' | 'i' | 'q' => {
                        if k + 2 == a.len() {
                            i += 1;
                        }
                        break;
                    }
                    _ => {}
                }
            }
        } else {
            pos.push(a.to_string());
        }
        i += 1;
    }
    // OpenBSD nc takes several ports and ranges (`nc -zv web 80 443`, `8000-8010`),
    // tried in order; the status is 0 when one of them connected.
    let mut ports: Vec<u16> = Vec::new();
    for p in pos.iter().skip(1) {
        let r = match p.split_once('-') {
            Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
            None => p.parse::<u16>().ok().map(|a| (a, a)),
        };
        match r {
            Some((a, b)) if a >= 1 && a <= b => ports.extend(a..=b),
            _ => return ToolOut::fail(format!("nc: port range not valid: {p}\n"), 1),
        }
    }
    let (Some(host), Some(_)) = (pos.first(), ports.first()) else {
        return ToolOut::fail("usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n\t  [destination] [port]\n".into(), 1);
    };
    let l4 = if udp { L4::Udp } else { L4::Tcp };
    let proto = if udp { "udp" } else { "tcp" };
    let mut all = ToolOut {
        out: String::new(),
        err: String::new(),
        code: 1,
    };
    for port in ports.into_iter().take(1024) {
        let r = match connect(lab, ctx, host, port, l4) {
            Err(why) => {
                return ToolOut::fail(
                    format!("nc: getaddrinfo for host \"{host}\" port {port}: {why}\n"),
                    1,
                );
            }
            Ok(r) => r,
        };
        let ip = r.target.map(|a| a.to_string()).unwrap_or_default();
        let who = if *host == ip {
            ip.clone()
        } else {
            format!("{host} ({ip})")
        };
        // UDP has no handshake: nc -zu says "succeeded" unless a port unreachable
        // came back.
        let ok = matches!(r.outcome, Some(Outcome::Ok)) || (udp && r.outcome == Some(Outcome::Timeout));
        if ok {
            all.code = 0;
            if verbose {
                let _ = writeln!(
                    all.err,
                    "Connection to {who} {port} port [{proto}/{}] succeeded!",
                    service(port, udp)
                );
            }
            continue;
        }
        let why = match connect_error(&r) {
            Some(e) => format!("failed: {e}"),
            None => "timed out: Operation now in progress".to_string(),
        };
        if verbose {
            let _ = writeln!(all.err, "nc: connect to {who} port {port} ({proto}) {why}");
        }
    }
    all
}

/// The `connect()` error a failed TCP connect reports: refused (RST or an ICMP
/// error, in the kernel's words), or a neighbour that never answered ARP (EHOSTUNREACH
/// once its probes are spent); `None` for a plain timeout.
fn connect_error(r: &crate::runner::StepReport) -> Option<&'static str> {
    match r.outcome {
        Some(Outcome::Refused) => Some(refusal(&r.observed)),
        Some(Outcome::Timeout)
            if r.first_drop
                .as_deref()
                .is_some_and(|d| d.starts_with("arp-unresolved")) =>
        {
            Some("No route to host")
        }
        _ => None,
    }
}

/// A lookup by the machine's own resolver: /etc/hosts first, then DNS.
struct Lookup {
    addrs: Vec<IpAddr>,
    outcome: Option<LookupOutcome>,
    log: Vec<String>,
    elapsed: SimDuration,
    qname: String,
    server: String,
}

fn lookup(lab: &mut Lab, ctx: &Ctx<'_>, name: &str, files: bool) -> Lookup {
    let mut l = Lookup {
        addrs: Vec::new(),
        outcome: None,
        log: Vec::new(),
        elapsed: SimDuration::ZERO,
        qname: name.to_string(),
        server: String::new(),
    };
    if files {
        let local: Vec<IpAddr> = ctx
            .hosts
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| *a)
            .collect();
        if !local.is_empty() {
            l.addrs = local;
            return l;
        }
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        l.addrs = vec![ip];
        return l;
    }
    match lab.resolve(ctx.from, name) {
        Ok(r) => {
            if let Some((q, s)) = r.log.iter().rev().find_map(|x| {
                let (head, _) = x.split_once(": ")?;
                let (q, server) = head.split_once(" from ")?;
                Some((q.split_whitespace().next()?.to_string(), server.to_string()))
            }) {
                l.qname = q;
                l.server = s;
            }
            if let LookupOutcome::Addresses(a) = &r.outcome {
                l.addrs = a.clone();
            }
            l.log = r.log;
            l.elapsed = r.elapsed;
            l.outcome = Some(r.outcome);
        }
        Err(e) => l.outcome = Some(LookupOutcome::NoAnswer(e)),
    }
    l
}

fn nslookup(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let Some(name) = args.iter().find(|a| !a.starts_with('-')) else {
        return ToolOut::fail(
            "nslookup: interactive mode is not simulated: give a name\n".into(),
            1,
        );
    };
    let l = lookup(lab, ctx, name, false);
    // The server that answered (none when no query left the machine).
    let mut s = if l.server.is_empty() {
        String::new()
    } else {
        format!("Server:\t\t{0}\nAddress:\t{0}#53\n\n", l.server)
    };
    match l.outcome {
        Some(LookupOutcome::NoAnswer(_)) => {
            return ToolOut {
                out: ";; connection timed out; no servers could be reached\n\n".into(),
                err: String::new(),
                code: 1,
            };
        }
        Some(LookupOutcome::NxDomain) => {
            let _ = writeln!(s, "** server can't find {name}: NXDOMAIN\n");
            return ToolOut {
                out: s,
                err: String::new(),
                code: 1,
            };
        }
        Some(LookupOutcome::ServFail) => {
            let _ = writeln!(s, "** server can't find {name}: SERVFAIL\n");
            return ToolOut {
                out: s,
                err: String::new(),
                code: 1,
            };
        }
        _ => {}
    }
    s.push_str("Non-authoritative answer:\n");
    let q = l.qname.trim_end_matches('.');
    for a in &l.addrs {
        let _ = writeln!(s, "Name:\t{q}\nAddress: {a}");
    }
    s.push('\n');
    ToolOut {
        out: s,
        err: String::new(),
        code: 0,
    }
}

fn dig(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let short = args.iter().any(|a| a == "+short");
    let Some(name) = args
        .iter()
        .find(|a| !a.starts_with('+') && !a.starts_with('@') && !a.starts_with('-') && *a != "A")
    else {
        return ToolOut::fail("dig: a name to look up is needed\n".into(), 1);
    };
    let l = lookup(lab, ctx, name, false);
    let Some(outcome) = &l.outcome else {
        return ToolOut::default();
    };
    if let LookupOutcome::NoAnswer(_) = outcome {
        return ToolOut {
            out: ";; connection timed out; no servers could be reached\n".into(),
            err: String::new(),
            code: 9,
        };
    }
    if short {
        let mut s = String::new();
        for a in &l.addrs {
            let _ = writeln!(s, "{a}");
        }
        return ToolOut {
            out: s,
            err: String::new(),
            code: 0,
        };
    }
    let (text, _) = dig_text(lab, name, outcome, &l.log, l.elapsed);
    ToolOut {
        out: text.replace("netloom lab dig", "DiG 9.18"),
        err: String::new(),
        code: 0,
    }
}

fn getent(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let (Some(db), Some(name)) = (args.first(), args.get(1)) else {
        return ToolOut::fail("Usage: getent [OPTION...] database [key ...]\n".into(), 1);
    };
    if !matches!(db.as_str(), "hosts" | "ahosts" | "ahostsv4") {
        return ToolOut::fail(
            format!(
                "Unknown database: {db}\nTry `getent --help' or `getent --usage' for more information.\n"
            ),
            1,
        );
    }
    let l = lookup(lab, ctx, name, true);
    if l.addrs.is_empty() {
        return ToolOut {
            code: 2,
            ..ToolOut::default()
        };
    }
    let mut s = String::new();
    let shown = l.qname.trim_end_matches('.');
    if db == "hosts" {
        // glibc prints the first address of the answer, then the name.
        let a = l.addrs.iter().find(|a| a.is_ipv4()).unwrap_or(&l.addrs[0]);
        let _ = writeln!(s, "{:<15} {name}", a.to_string());
    } else {
        for (k, a) in l
            .addrs
            .iter()
            .filter(|a| db != "ahostsv4" || a.is_ipv4())
            .enumerate()
        {
            let first = if k == 0 { shown } else { "" };
            let _ = writeln!(s, "{:<15} STREAM {first}", a.to_string());
            let _ = writeln!(s, "{:<15} DGRAM  ", a.to_string());
            let _ = writeln!(s, "{:<15} RAW    ", a.to_string());
        }
    }
    ToolOut {
        out: s,
        err: String::new(),
        code: 0,
    }
}

fn host(lab: &mut Lab, ctx: &Ctx<'_>, args: &[String]) -> ToolOut {
    let Some(name) = args.iter().find(|a| !a.starts_with('-')) else {
        return ToolOut::fail(
            "Usage: host [-aCdilrTvVw] [-c class] [-N ndots] [-t type] [-W time]\n".into(),
            1,
        );
    };
    let l = lookup(lab, ctx, name, false);
    match &l.outcome {
        Some(LookupOutcome::NoAnswer(_)) => ToolOut {
            out: ";; connection timed out; no servers could be reached\n".into(),
            err: String::new(),
            code: 1,
        },
        Some(LookupOutcome::NxDomain) => ToolOut {
            out: format!("Host {name} not found: 3(NXDOMAIN)\n"),
            err: String::new(),
            code: 1,
        },
        Some(LookupOutcome::ServFail) => ToolOut {
            out: format!("Host {name} not found: 2(SERVFAIL)\n"),
            err: String::new(),
            code: 1,
        },
        _ => {
            let q = l.qname.trim_end_matches('.');
            let mut s = String::new();
            for a in &l.addrs {
                let kind = if a.is_ipv4() { "address" } else { "IPv6 address" };
                let _ = writeln!(s, "{q} has {kind} {a}");
            }
            ToolOut {
                out: s,
                err: String::new(),
                code: 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(url("http://web/"), Some(("web".into(), 80)));
        assert_eq!(url("web:8080/x"), Some(("web".into(), 8080)));
        assert_eq!(url("https://localhost"), Some(("localhost".into(), 443)));
        assert_eq!(url("http://[::1]:81/"), Some(("[::1]".into(), 81)));
        assert_eq!(url("gopher://x"), None);
    }
}
