//! `netloom explain FILE --from A --to B[:port] [--proto tcp|udp|icmp]`: one packet and
//! its answer through the scenario's network, hop by hop with every decision the model
//! took (bridge forwarding, route lookups, neighbour resolution, NAT, the netfilter rule
//! or NetworkPolicy that decided, encapsulation, MTU), then the verdict — what
//! `ovs-appctl ofproto/trace` is for Open vSwitch, for this model.

use std::fmt::Write as _;
use std::net::IpAddr;

use netloom_core::{DropReason, EventKind, SimDuration, TraceLevel};
use std::collections::BTreeSet;

use netloom_drivers::docker::{Lab, Resolved};
use netloom_drivers::net::L4;
use netloom_drivers::router::{Node, ProbeOutcome};

use crate::Loaded;
use crate::runner::format_event;

/// The most trace lines printed (a flood in a large network stays readable).
const MAX_LINES: usize = 400;

/// What to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The sending machine.
    pub from: String,
    /// The destination: a machine name or an address.
    pub to: String,
    /// Its port (TCP/UDP).
    pub port: Option<u16>,
    /// The protocol.
    pub l4: L4,
}

impl Query {
    /// From the command line: `--to B[:port]` and `--proto` (default: tcp with a port,
    /// icmp without).
    pub fn parse(from: &str, to: &str, proto: Option<&str>) -> Result<Query, String> {
        let (host, port) = split_port(to)?;
        let l4 = match proto.map(str::to_ascii_lowercase).as_deref() {
            None if port.is_some() => L4::Tcp,
            None | Some("icmp") => L4::Icmp,
            Some("tcp") => L4::Tcp,
            Some("udp") => L4::Udp,
            Some(p) => return Err(format!("--proto {p}: tcp, udp or icmp")),
        };
        if l4 != L4::Icmp && port.is_none() {
            return Err(format!(
                "--to {to}: {} needs a port (`--to {to}:80`)",
                if l4 == L4::Tcp { "tcp" } else { "udp" }
            ));
        }
        Ok(Query {
            from: from.to_string(),
            to: host,
            port,
            l4,
        })
    }
}

/// `name`, `name:80`, `10.0.0.1:80`, `[2001:db8::1]:80`, `2001:db8::1`.
fn split_port(to: &str) -> Result<(String, Option<u16>), String> {
    if to.parse::<IpAddr>().is_ok() {
        return Ok((to.to_string(), None));
    }
    let (host, port) = match to.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some((h, p)) => (h, Some(p)),
            None => (rest.trim_end_matches(']'), None),
        },
        None => match to.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (to, None),
        },
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("--to {to}: `{p}` is not a port 1-65535"))?,
        ),
        None => None,
    };
    if host.is_empty() {
        return Err(format!("--to {to}: no destination"));
    }
    Ok((host.to_string(), port))
}

/// Sends the query's packet through a fresh lab of `loaded` and explains it. `Err`:
/// the query names something the scenario does not have.
pub fn explain(loaded: &Loaded, q: &Query) -> Result<String, String> {
    // Validation resolved the model already (IPAM): build from that.
    let mut lab = path_lab(loaded.resolved.clone(), loaded.scenario.seed, q);
    explain_in(&mut lab, q)
}

/// Above this many Docker hosts, `explain` builds only the hosts at the packet's ends.
const SLICE_ABOVE: usize = 8;

/// The lab `explain` sends its packet through. On a large file (more than
/// eight Docker hosts) it holds only the hosts at the packet's two ends — the
/// sender's and the destination's, with their containers, networks, rules and
/// published ports — and every LAN, router and external ([`Resolved::slice`]): the
/// path a packet takes between two machines crosses no third Docker host. Floods on a
/// shared LAN then reach fewer ports than in the whole lab; the verdict and every
/// decision on the path are the same. A name it cannot place builds the whole lab.
pub fn path_lab(resolved: Resolved, seed: u64, q: &Query) -> Lab {
    if resolved.model.hosts.len() > SLICE_ABOVE
        && let Some(keep) = path_hosts(&resolved, q)
    {
        return Lab::from_resolved(resolved.slice(&keep), seed);
    }
    Lab::from_resolved(resolved, seed)
}

/// The Docker hosts where `q`'s ends live; `None` when an end is not a machine the
/// model knows (the whole lab then says so, with suggestions).
fn path_hosts(r: &Resolved, q: &Query) -> Option<BTreeSet<String>> {
    let m = &r.model;
    let default_host = m.default_host();
    let host_of = |ci: usize| {
        m.containers[ci]
            .host
            .clone()
            .unwrap_or_else(|| default_host.clone())
    };
    let mut keep = BTreeSet::new();
    for end in [&q.from, &q.to] {
        if let Ok(ip) = end.parse::<IpAddr>() {
            for h in &m.hosts {
                if h.interfaces
                    .iter()
                    .any(|n| n.address.is_some_and(|a| a.addr() == ip))
                {
                    keep.insert(h.name.clone());
                }
            }
            for (ci, eps) in r.endpoints.iter().enumerate() {
                if eps
                    .iter()
                    .any(|ep| ep.v4.map(IpAddr::V4) == Some(ip) || ep.v6.map(IpAddr::V6) == Some(ip))
                {
                    keep.insert(host_of(ci));
                }
            }
            // Nothing holds it: a router, an external or an address beyond them.
            continue;
        }
        if m.hosts.iter().any(|h| &h.name == end) {
            keep.insert(end.clone());
        } else if let Some(ci) = m.containers.iter().position(|c| &c.name == end) {
            keep.insert(host_of(ci));
        } else if !(m.routers.iter().any(|x| &x.name == end) || m.externals.iter().any(|x| &x.name == end)) {
            return None;
        }
    }
    Some(keep)
}

/// Sends the query's packet through `lab` as it is now (links cut, containers
/// stopped, caches warm: `netloom lab`'s `explain`) and explains it. The packet and its
/// answer are real: they advance the lab's time and leave their traces in its state
/// (neighbour caches, connection tracking), as a probe on a real network does.
///
/// # Errors
/// The query names something the scenario does not have.
pub fn explain_in(lab: &mut Lab, q: &Query) -> Result<String, String> {
    let from = lab.node(&q.from).ok_or_else(|| unknown(lab, &q.from, "--from"))?;
    if lab.fabric.element::<Node>(from).is_none() {
        return Err(format!("--from {}: not a machine that sends packets", q.from));
    }
    let dst = match q.to.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => lab
            .address_of(&q.to, false)
            .or_else(|| lab.address_of(&q.to, true))
            .ok_or_else(|| unknown(lab, &q.to, "--to"))?,
    };
    // A network that has been up a while: the start-up chatter is not the question.
    // (nothing to settle: a lab starts quiet)
    lab.fabric.clear_trace();
    lab.fabric.set_trace_level(TraceLevel::Hops);
    let start = lab.fabric.now();
    let mut out = String::new();
    let what = match (q.l4, q.port) {
        (L4::Icmp, _) => format!("ICMP echo {} → {} ({dst})", q.from, q.to),
        (l4, Some(p)) => format!(
            "{} {} → {}:{p} ({dst})",
            if l4 == L4::Udp { "UDP" } else { "TCP" },
            q.from,
            q.to
        ),
        _ => String::new(),
    };
    let _ = writeln!(out, "explain: {what}");
    let verdict = match q.l4 {
        L4::Icmp => {
            let p = lab.ping(&q.from, dst, 1, 56, false)?;
            if p.received > 0 {
                format!(
                    "reached: the echo reply came back after {}",
                    p.rtts.first().copied().unwrap_or_default()
                )
            } else if let Some(e) = p.errors.first() {
                format!("no reply: {e}")
            } else {
                "no reply".to_string()
            }
        }
        l4 => {
            let port = q.port.unwrap_or(0);
            let idx = lab
                .fabric
                .with_element::<Node, _>(from, |n, ctx| {
                    let i = n.start_probe(ctx, dst, l4, port);
                    n.flush_probes(ctx);
                    i
                })
                .ok_or("the sender vanished")?;
            let limit = start + SimDuration::from_secs(3);
            while lab.fabric.now() < limit {
                let answered = lab
                    .fabric
                    .element::<Node>(from)
                    .and_then(|n| n.probes().list.get(idx))
                    .is_some_and(|p| p.outcome != ProbeOutcome::Pending);
                if answered || !lab.fabric.step() {
                    break;
                }
            }
            // Let the answer's own consequences (the reset of a SYN scan) land.
            let settle = lab.fabric.now() + SimDuration::from_millis(10);
            lab.fabric.run_until(settle);
            let outcome = lab
                .fabric
                .element::<Node>(from)
                .and_then(|n| n.probes().list.get(idx))
                .map_or(ProbeOutcome::Pending, |p| p.outcome);
            match outcome {
                ProbeOutcome::Connected if l4 == L4::Tcp => "connected: the SYN/ACK came back".to_string(),
                ProbeOutcome::Connected => "answered: a datagram came back".to_string(),
                ProbeOutcome::Refused => {
                    "refused: the packet reached the destination, where nothing listens on that port"
                        .to_string()
                }
                ProbeOutcome::Unsendable => format!("not sent: {} has no route to {dst}", q.from),
                ProbeOutcome::Pending => "no answer within 3 s".to_string(),
            }
        }
    };
    let events = &lab.fabric.trace().events;
    for e in events.iter().take(MAX_LINES) {
        out.push_str(&format_event(lab, e));
        out.push('\n');
    }
    if events.len() > MAX_LINES {
        let _ = writeln!(out, "  … {} more events", events.len() - MAX_LINES);
    }
    let first_drop = events.iter().find_map(|e| match e.kind {
        EventKind::Dropped { reason, .. } if reason != DropReason::NotForUs => Some((reason, e)),
        _ => None,
    });
    let _ = writeln!(out, "verdict: {verdict}");
    if let Some((reason, e)) = first_drop {
        let _ = writeln!(
            out,
            "first drop: {reason} at {}: {}",
            lab.fabric.element_name(e.elem),
            e.detail
        );
    }
    Ok(out)
}

fn unknown(lab: &Lab, name: &str, flag: &str) -> String {
    let m = &lab.resolved.model;
    let mut names: Vec<String> = m
        .containers
        .iter()
        .map(|c| c.name.clone())
        .chain(m.hosts.iter().map(|h| h.name.clone()))
        .chain(m.externals.iter().map(|e| e.name.clone()))
        .chain(m.routers.iter().map(|r| r.name.clone()))
        .collect();
    names.sort_unstable();
    let near = crate::validate::nearest(name, &names)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    let list = if names.len() > 12 {
        format!("{}, … ({} in all)", names[..12].join(", "), names.len())
    } else {
        names.join(", ")
    };
    format!("{flag} {name}: no such machine{near}; the scenario has: {list}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_ports_and_families() {
        assert_eq!(split_port("db:5432"), Ok(("db".into(), Some(5432))));
        assert_eq!(split_port("10.0.0.1"), Ok(("10.0.0.1".into(), None)));
        assert_eq!(split_port("2001:db8::1"), Ok(("2001:db8::1".into(), None)));
        assert_eq!(
            split_port("[2001:db8::1]:80"),
            Ok(("2001:db8::1".into(), Some(80)))
        );
        assert!(split_port("db:0").is_err());
        assert!(split_port("db:http").is_err());
        let q = Query::parse("a", "b:80", None).expect("parses");
        assert_eq!(q.l4, L4::Tcp);
        assert_eq!(Query::parse("a", "b", None).expect("parses").l4, L4::Icmp);
        assert!(Query::parse("a", "b", Some("udp")).is_err(), "udp needs a port");
        assert!(Query::parse("a", "b:1", Some("sctp")).is_err());
    }

    /// A ten-host file (above [`SLICE_ABOVE`]): an overlay across h0 and h9, a
    /// published port on h3, an isolated bridge. Explaining through the hosts at the
    /// packet's ends gives the same verdict and the same decisions as the whole lab.
    #[test]
    fn the_path_lab_decides_as_the_whole_lab() {
        let mut y = String::from(
            "name: ten\nlans: { underlay: {} }\nexternals:\n  laptop: { address: 10.0.0.200/24, lan: underlay }\nhosts:\n",
        );
        for h in 0..10 {
            y.push_str(&format!(
                "  h{h}: {{ interfaces: {{ eth0: {{ address: 10.0.0.{}/24, lan: underlay }} }} }}\n",
                h + 1
            ));
        }
        y.push_str(
            "networks:\n  ov: { driver: overlay, hosts: [h0, h9] }\n  iso: { host: h5, internal: true }\n\
             containers:\n\
             \x20 a: { host: h0, networks: [ov] }\n\
             \x20 b: { host: h9, networks: [ov], listen: [tcp/80] }\n\
             \x20 web: { host: h3, ports: [\"8080:80\"], listen: [tcp/80] }\n\
             \x20 lone: { host: h5, networks: [iso] }\n\
             \x20 other: { host: h5 }\n",
        );
        for i in 0..20 {
            y.push_str(&format!("  filler{i}: {{ host: h{} }}\n", i % 10));
        }
        let loaded = crate::load("ten.yaml", &y).unwrap_or_else(|e| panic!("{e}"));
        let decisions = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| {
                    [
                        "verdict",
                        "ip4-lookup",
                        "nat-",
                        "filter-",
                        "DROPPED",
                        "delivered",
                        "vxlan",
                        "first drop",
                    ]
                    .iter()
                    .any(|k| l.contains(k))
                        && !l.contains("ARP")
                })
                // Frame numbers and the hosts' NIC MACs count the elements built.
                .map(|l| {
                    l.split_whitespace()
                        .filter(|w| !(w.starts_with('#') || (w.len() == 17 && w.matches(':').count() == 5)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        for (from, to) in [
            ("a", "b:80"),
            ("laptop", "10.0.0.4:8080"),
            ("lone", "10.0.0.200:22"),
            ("other", "web:80"),
            ("a", "10.0.0.4"),
        ] {
            let q = Query::parse(from, to, None).expect("query");
            let keep = path_hosts(&loaded.resolved, &q).expect("placed");
            assert!(keep.len() <= 2, "{from} -> {to}: {keep:?}");
            let sliced = explain(&loaded, &q).expect("explained");
            let mut whole = Lab::from_resolved(loaded.resolved.clone(), loaded.scenario.seed);
            let full = explain_in(&mut whole, &q).expect("explained");
            assert_eq!(
                decisions(&sliced),
                decisions(&full),
                "{from} -> {to}:\n{sliced}\n---\n{full}"
            );
            assert!(sliced.contains("verdict"), "{sliced}");
        }
        // A name it cannot place builds the whole lab, which names the alternatives.
        let q = Query::parse("a", "nosuch:80", None).expect("query");
        assert!(path_hosts(&loaded.resolved, &q).is_none());
        assert!(explain(&loaded, &q).is_err());
    }
}
