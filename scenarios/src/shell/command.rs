//! The shell's command language: one command a line, words split on white space
//! (quotes group words), `#` starts a comment, a leading `!` inverts success.

use std::path::PathBuf;

use netloom_core::{BitRate, SimDuration};
use netloom_drivers::docker::Impair;

/// Every verb, its synopsis and what it does: `help` prints this table, completion
/// offers its verbs.
pub const VERBS: &[(&str, &str, &str)] = &[
    (
        "ps",
        "ps",
        "containers: host, state, networks and addresses, published ports",
    ),
    (
        "network",
        "network ls | network inspect NAME…",
        "the networks, or one as `docker network inspect` prints it (JSON)",
    ),
    (
        "ping",
        "ping [-c COUNT] [-s SIZE] [-M do] FROM TO",
        "ICMP echo from a machine to a name or address (default 3 requests of 56 bytes)",
    ),
    (
        "curl",
        "curl [-T SIZE] FROM URL|HOST:PORT",
        "open a TCP connection (with -T: send SIZE bytes and measure the rate)",
    ),
    (
        "dig",
        "dig FROM NAME",
        "look a name up with FROM's resolver; the answer as dig prints it",
    ),
    (
        "explain",
        "explain FROM TO[:PORT] [tcp|udp|icmp]",
        "one packet through the network as it is now, every decision hop by hop",
    ),
    (
        "trace",
        "trace",
        "the hop-by-hop trace of the last command's packets",
    ),
    (
        "capture",
        "capture start DIR | capture stop | capture",
        "write a pcap per link into DIR from now on (as `run --pcap DIR`), stop, or show",
    ),
    (
        "link",
        "link down|up A B | link set A B [latency D] [jitter D] [loss P%] [rate R] [mtu N]",
        "cut, restore or impair the link between A and B (`host1.eth0 office`, `api.eth0 app`)",
    ),
    (
        "stop",
        "stop CONTAINER",
        "stop a container (its interfaces go down, DNS forgets it)",
    ),
    ("start", "start CONTAINER", "start a stopped container again"),
    (
        "wait",
        "wait DURATION",
        "let simulated time pass (`wait 2s`): timers and ageing run",
    ),
    ("time", "time", "the simulated time now"),
    ("help", "help [VERB]", "this list, or one verb's synopsis"),
    ("exit", "exit [STATUS] | quit | Ctrl-D", "leave the shell"),
];

/// The verbs alone, for completion.
pub fn verbs() -> impl Iterator<Item = &'static str> {
    VERBS.iter().map(|v| v.0).chain(std::iter::once("quit"))
}

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `help [VERB]`.
    Help(Option<String>),
    /// `exit [STATUS]`, `quit`.
    Exit(Option<u8>),
    /// `ps`.
    Ps,
    /// `network ls`.
    NetworkLs,
    /// `network inspect NAME…`.
    NetworkInspect(Vec<String>),
    /// `ping`.
    Ping {
        /// Sender.
        from: String,
        /// Target, as written.
        to: String,
        /// `-c`.
        count: u32,
        /// `-s`.
        size: usize,
        /// `-M do`.
        dont_fragment: bool,
    },
    /// `curl`.
    Curl {
        /// Client.
        from: String,
        /// Host (name or address), as written.
        host: String,
        /// Port.
        port: u16,
        /// `-T SIZE`: a bulk transfer of that many bytes.
        upload: Option<u64>,
    },
    /// `dig FROM NAME`.
    Dig {
        /// Where the lookup runs.
        from: String,
        /// The name.
        name: String,
    },
    /// `explain FROM TO[:PORT] [PROTO]`.
    Explain {
        /// Sender.
        from: String,
        /// Destination as written.
        to: String,
        /// Protocol, as written.
        proto: Option<String>,
    },
    /// `trace`.
    Trace,
    /// `capture start DIR`.
    CaptureStart(PathBuf),
    /// `capture stop`.
    CaptureStop,
    /// `capture`.
    CaptureStatus,
    /// `link down|up A B`, `link set A B KEY VALUE…`.
    Link {
        /// The two ends.
        a: String,
        /// …
        b: String,
        /// Up (true) or down; `None` leaves the state.
        up: Option<bool>,
        /// `link set`'s impairments, checked by [`impairments`], as written.
        set: Vec<(String, String)>,
    },
    /// `stop NAME` / `start NAME`.
    Container {
        /// The container.
        name: String,
        /// Start (true) or stop.
        running: bool,
    },
    /// `wait DURATION`.
    Wait(SimDuration),
    /// `time`.
    Time,
}

/// A line after parsing: nothing (blank or a comment), or a command and whether its
/// success is inverted (`! ping a b`: succeeds when the ping fails).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// `!` before it.
    pub invert: bool,
}

/// Most echo requests one `ping` sends: each takes a second of simulated time.
pub const MAX_PING_COUNT: u32 = 10_000;

/// Most payload bytes of one echo request (what fits an IPv4 packet).
pub const MAX_PING_SIZE: usize = 65_507;

/// Splits a line into words: white space separates, `'…'` and `"…"` group (no escapes
/// inside single quotes; `\"` and `\\` inside double quotes), `#` at the start of a
/// word begins a comment.
///
/// # Errors
/// An unterminated quote.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Parses one line.
///
/// # Errors
/// What is wrong with it, with the verb's synopsis when it is a usage error.
pub fn parse(line: &str) -> Result<Option<Parsed>, String> {
    let mut w = words(line)?;
    let mut invert = false;
    if let Some(first) = w.first_mut()
        && let Some(rest) = first.strip_prefix('!')
    {
        invert = true;
        if rest.is_empty() {
            w.remove(0);
        } else {
            *first = rest.to_string();
        }
        if w.is_empty() {
            return Err("`!` needs a command after it (`! ping a b`: succeeds when the ping fails)".into());
        }
    }
    let Some((verb, args)) = w.split_first() else {
        return Ok(None);
    };
    let command = command(verb, args)?;
    Ok(Some(Parsed { command, invert }))
}

fn command(verb: &str, args: &[String]) -> Result<Command, String> {
    let usage = |v: &str| {
        VERBS
            .iter()
            .find(|x| x.0 == v)
            .map_or_else(String::new, |x| format!("usage: {}", x.1))
    };
    let exact = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{verb}: expected {n} argument{}, got {}; {}",
                if n == 1 { "" } else { "s" },
                args.len(),
                usage(verb)
            ))
        }
    };
    Ok(match verb {
        "help" | "?" => match args {
            [] => Command::Help(None),
            [v] => Command::Help(Some(v.clone())),
            _ => return Err(format!("help: one verb at most; {}", usage("help"))),
        },
        "exit" | "quit" | "q" => match args {
            [] => Command::Exit(None),
            [n] => Command::Exit(Some(
                n.parse::<u8>()
                    .map_err(|_| format!("{verb}: '{n}' is not an exit status (0-255)"))?,
            )),
            _ => return Err(format!("{verb}: one exit status at most")),
        },
        "ps" => {
            exact(0)?;
            Command::Ps
        }
        "network" => match args {
            [sub] if sub == "ls" || sub == "list" => Command::NetworkLs,
            [sub, names @ ..] if sub == "inspect" => {
                if names.is_empty() {
                    return Err(format!("network inspect: name a network; {}", usage("network")));
                }
                Command::NetworkInspect(names.to_vec())
            }
            [sub, ..] => {
                return Err(format!(
                    "network: unknown subcommand '{sub}'; {}",
                    usage("network")
                ));
            }
            [] => return Err(format!("network: ls or inspect; {}", usage("network"))),
        },
        "ping" => ping(args).map_err(|e| format!("ping: {e}; {}", usage("ping")))?,
        "curl" => curl(args).map_err(|e| format!("curl: {e}; {}", usage("curl")))?,
        "dig" => {
            exact(2)?;
            let name = args[1].trim_end_matches('.').to_string();
            if !netloom_drivers::dns::valid_name(&name) {
                return Err(format!(
                    "dig: '{}' is not a valid domain name (labels of letters, digits and hyphens)",
                    args[1]
                ));
            }
            Command::Dig {
                from: args[0].clone(),
                name,
            }
        }
        "explain" => match args {
            [from, to] => Command::Explain {
                from: from.clone(),
                to: to.clone(),
                proto: None,
            },
            [from, to, p] => Command::Explain {
                from: from.clone(),
                to: to.clone(),
                proto: Some(p.clone()),
            },
            _ => return Err(format!("explain: {}", usage("explain"))),
        },
        "trace" => {
            exact(0)?;
            Command::Trace
        }
        "capture" => match args {
            [] => Command::CaptureStatus,
            [s, dir] if s == "start" => Command::CaptureStart(PathBuf::from(dir)),
            [s] if s == "stop" => Command::CaptureStop,
            [s] if s == "start" => {
                return Err(format!(
                    "capture start: name a directory for the pcap files; {}",
                    usage("capture")
                ));
            }
            _ => return Err(format!("capture: {}", usage("capture"))),
        },
        "link" => match args {
            [state, a, b] if state == "down" || state == "up" => Command::Link {
                a: a.clone(),
                b: b.clone(),
                up: Some(state == "up"),
                set: Vec::new(),
            },
            [set, a, b, rest @ ..] if set == "set" && !rest.is_empty() => {
                if rest.len() % 2 != 0 {
                    return Err(format!("link set: each setting needs a value; {}", usage("link")));
                }
                let set: Vec<(String, String)> =
                    rest.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone())).collect();
                impairments(&set).map_err(|e| format!("link set: {e}"))?;
                Command::Link {
                    a: a.clone(),
                    b: b.clone(),
                    up: None,
                    set,
                }
            }
            _ => return Err(format!("link: {}", usage("link"))),
        },
        "stop" | "start" => {
            exact(1)?;
            Command::Container {
                name: args[0].clone(),
                running: verb == "start",
            }
        }
        "wait" | "sleep" => {
            exact(1)?;
            let d = crate::format::parse_duration(&args[0]).map_err(|e| format!("{verb}: {e}"))?;
            let ns = u64::try_from(d.as_nanos()).map_err(|_| format!("{verb}: '{}' is too long", args[0]))?;
            Command::Wait(SimDuration::from_nanos(ns))
        }
        "time" => {
            exact(0)?;
            Command::Time
        }
        other => {
            // Damerau-Levenshtein: a swapped pair of letters (`pnig`) is one typo.
            let near = verbs()
                .map(|v| (strsim::damerau_levenshtein(v, other), v))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, v)| format!(" (did you mean '{v}'?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown command '{other}'{near}; `help` lists the commands"
            ));
        }
    })
}

/// The impairments of `link set` (the keys a scenario's `link` step takes), checked as
/// the validator checks them.
///
/// # Errors
/// An unknown key or a value out of range.
pub fn impairments(set: &[(String, String)]) -> Result<Impair, String> {
    let mut i = Impair::default();
    let duration = |v: &str| -> Result<SimDuration, String> {
        let d = crate::format::parse_duration(v)?;
        u64::try_from(d.as_nanos())
            .map(SimDuration::from_nanos)
            .map_err(|_| format!("'{v}' is too long"))
    };
    for (k, v) in set {
        match k.as_str() {
            "latency" => i.latency = Some(duration(v)?),
            "jitter" => i.jitter = Some(duration(v)?),
            "loss" => i.loss = Some(crate::format::parse_percent(v)?),
            "rate" => i.rate = Some(BitRate(crate::format::parse_rate(v)?)),
            "mtu" => {
                i.mtu = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|m| (68..=65535).contains(m))
                        .ok_or_else(|| format!("mtu {v}: an MTU from 68 to 65535"))?,
                );
            }
            other => {
                return Err(format!(
                    "unknown setting '{other}' (latency, jitter, loss, rate, mtu)"
                ));
            }
        }
    }
    Ok(i)
}

/// `ping [-c N] [-s SIZE] [-M do] FROM TO`; options may also be written `-c3`.
fn ping(args: &[String]) -> Result<Command, String> {
    let mut count = 3u32;
    let mut size = 56usize;
    let mut dont_fragment = false;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.as_str() {
            s if s.starts_with("-c") || s.starts_with("-s") || s.starts_with("-M") => {
                (&s[..2], (s.len() > 2).then(|| s[2..].to_string()))
            }
            s if s.starts_with('-') && s.len() > 1 && s.parse::<f64>().is_err() => {
                return Err(format!("unknown option '{s}' (-c COUNT, -s SIZE, -M do)"));
            }
            _ => {
                rest.push(a.clone());
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag {
            "-c" => {
                count = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PING_COUNT).contains(n))
                    .ok_or_else(|| format!("-c {value}: a count from 1 to {MAX_PING_COUNT}"))?;
            }
            "-s" => {
                size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= MAX_PING_SIZE)
                    .ok_or_else(|| format!("-s {value}: a payload size from 0 to {MAX_PING_SIZE} bytes"))?;
            }
            _ => match value.as_str() {
                "do" => dont_fragment = true,
                "dont" | "want" => dont_fragment = false,
                v => return Err(format!("-M {v}: do, want or dont")),
            },
        }
    }
    match &rest[..] {
        [from, to] => Ok(Command::Ping {
            from: from.clone(),
            to: to.clone(),
            count,
            size,
            dont_fragment,
        }),
        _ => Err(format!("expected FROM and TO, got {} word(s)", rest.len())),
    }
}

/// `curl [-T SIZE] FROM URL|HOST:PORT`.
fn curl(args: &[String]) -> Result<Command, String> {
    let mut upload = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-T" | "--upload" => {
                let v = it.next().ok_or("-T needs a size (`-T 10MB`)")?;
                let b = crate::format::parse_size(v)?;
                if b == 0 {
                    return Err("-T 0: a transfer of zero bytes measures nothing".into());
                }
                upload = Some(b);
            }
            // curl's quiet and verbose switches change nothing here.
            "-s" | "-v" | "-sS" | "-S" | "--silent" | "--verbose" => {}
            s if s.starts_with('-') => return Err(format!("unknown option '{s}' (-T SIZE)")),
            _ => rest.push(a.clone()),
        }
    }
    let [from, url] = &rest[..] else {
        return Err(format!(
            "expected FROM and a URL or HOST:PORT, got {} word(s)",
            rest.len()
        ));
    };
    let (host, port) = url_target(url)?;
    Ok(Command::Curl {
        from: from.clone(),
        host,
        port,
        upload,
    })
}

/// The host and port of `http://host[:port]/path`, `https://…`, `host:port`, `host`
/// (port 80, as curl assumes http), `[v6]:port`.
fn url_target(url: &str) -> Result<(String, u16), String> {
    let (default_port, rest) = if let Some(r) = url.strip_prefix("http://") {
        (80, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (443, r)
    } else if let Some((scheme, _)) = url.split_once("://") {
        return Err(format!("'{scheme}://': only http:// and https:// URLs"));
    } else {
        (80, url)
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    let t = crate::format::parse_target(authority)?;
    let host = match t.host {
        crate::format::TargetHost::Name(n) => n,
        crate::format::TargetHost::Ip(ip) => ip.to_string(),
    };
    Ok((host, t.port.unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Command {
        parse(line).expect("parses").expect("a command").command
    }

    #[test]
    fn words_split_quote_and_comment() {
        assert_eq!(words("ping  a b # why").expect("ok"), ["ping", "a", "b"]);
        assert_eq!(words("x 'a b' \"c\\\"d\"").expect("ok"), ["x", "a b", "c\"d"]);
        assert_eq!(
            words("a#b").expect("ok"),
            ["a#b"],
            "# inside a word is not a comment"
        );
        assert!(words("x 'open").is_err());
        assert!(words("x \"open\\").is_err());
        assert_eq!(parse("   # only a comment").expect("ok"), None);
    }

    #[test]
    fn ping_options_in_both_spellings() {
        assert_eq!(
            cmd("ping -c 1 -s 1472 -M do api web"),
            Command::Ping {
                from: "api".into(),
                to: "web".into(),
                count: 1,
                size: 1472,
                dont_fragment: true
            }
        );
        assert_eq!(cmd("ping -c2 a 10.0.0.1"), cmd("ping a -c 2 10.0.0.1"));
        for bad in [
            "ping a",
            "ping -c 0 a b",
            "ping -c x a b",
            "ping -s 70000 a b",
            "ping -c",
            "ping -q a b",
            "ping -M maybe a b",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("usage: ping"), "{bad}: {e}");
        }
    }

    #[test]
    fn curl_takes_urls_and_host_ports() {
        let c = |l| match cmd(l) {
            Command::Curl {
                host, port, upload, ..
            } => (host, port, upload),
            other => panic!("{other:?}"),
        };
        assert_eq!(c("curl a http://web/"), ("web".into(), 80, None));
        assert_eq!(c("curl a https://web:8443/x?y"), ("web".into(), 8443, None));
        assert_eq!(c("curl a web:8080"), ("web".into(), 8080, None));
        assert_eq!(c("curl a web"), ("web".into(), 80, None));
        assert_eq!(
            c("curl a http://[2001:db8::1]:81/"),
            ("2001:db8::1".into(), 81, None)
        );
        assert_eq!(c("curl -T 1MB a web:9"), ("web".into(), 9, Some(1_000_000)));
        assert!(parse("curl a ftp://web/").is_err());
        assert!(parse("curl a web:0").is_err());
        assert!(parse("curl a web:99999").is_err());
        assert!(parse("curl -T 0 a web:1").is_err());
    }

    #[test]
    fn unknown_verbs_suggest_the_nearest() {
        let e = parse("pign a b").expect_err("unknown");
        assert!(e.contains("did you mean 'ping'?"), "{e}");
        let e = parse("network rm x").expect_err("unknown sub");
        assert!(e.contains("unknown subcommand 'rm'"), "{e}");
    }

    #[test]
    fn bang_inverts() {
        let p = parse("! ping a b").expect("ok").expect("cmd");
        assert!(p.invert);
        let q = parse("!ping a b").expect("ok").expect("cmd");
        assert_eq!(p, q);
        assert!(parse("!").is_err());
    }

    #[test]
    fn other_verbs() {
        assert_eq!(cmd("exit 3"), Command::Exit(Some(3)));
        assert!(parse("exit 300").is_err());
        assert_eq!(
            cmd("link down host1.eth0 office").clone(),
            Command::Link {
                a: "host1.eth0".into(),
                b: "office".into(),
                up: Some(false),
                set: Vec::new(),
            }
        );
        match cmd("link set a.eth0 lan latency 5ms loss 1% rate 10mbit mtu 1400") {
            Command::Link { up: None, set, .. } => {
                let i = impairments(&set).expect("valid");
                assert_eq!(i.latency, Some(SimDuration::from_millis(5)));
                assert_eq!(i.loss, Some(0.01));
                assert_eq!(i.rate, Some(BitRate(10_000_000)));
                assert_eq!(i.mtu, Some(1400));
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "link set a b",
            "link set a b latency",
            "link set a b latency 5",
            "link set a b loss 200%",
            "link set a b mtu 20",
            "link set a b colour red",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(cmd("wait 1.5s"), Command::Wait(SimDuration::from_millis(1500)));
        assert!(parse("wait 2").is_err(), "a duration needs a unit");
        assert!(parse("dig a not_a..name").is_err());
        assert_eq!(
            cmd("dig a db."),
            Command::Dig {
                from: "a".into(),
                name: "db".into()
            }
        );
        assert_eq!(
            cmd("capture start /tmp/x"),
            Command::CaptureStart("/tmp/x".into())
        );
        assert!(parse("capture start").is_err());
    }
}
