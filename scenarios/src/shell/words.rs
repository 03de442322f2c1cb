//! The tools' own words: what curl and dig print for an outcome the runner observed.

use std::fmt::Write as _;
use std::net::IpAddr;

use netloom_core::SimDuration;
use netloom_drivers::docker::Lab;
use netloom_drivers::router::LookupOutcome;

use super::session::Fate;

/// curl's own words for a connection's outcome, from the step's observation.
pub(crate) fn curl_words(observed: &str, fate: Fate, host: &str, port: u16, upload: Option<u64>) -> String {
    if fate == Fate::Ok {
        return match upload {
            None => format!("* Connected to {host} port {port}\n"),
            Some(b) => {
                format!("* Connected to {host} port {port}\n* upload completely sent off: {b} bytes\n")
            }
        };
    }
    let after = |k: &str| observed.contains(k);
    if observed.starts_with("no packet sent: ") {
        format!("curl: (6) Could not resolve host: {host}\n")
    } else if let Some(why) = connect_errno(observed).filter(|w| *w != "Connection refused") {
        format!("curl: (7) Failed to connect to {host} port {port}: {why}\n")
    } else if after("refused (") {
        format!("curl: (7) Failed to connect to {host} port {port}: Connection refused\n")
    } else if after("closed (") {
        format!("curl: (56) Recv failure: Connection reset by peer ({host} port {port})\n")
    } else if after("timeout") {
        format!("curl: (28) Failed to connect to {host} port {port}: Connection timed out\n")
    } else {
        format!("curl: (7) Failed to connect to {host} port {port}\n")
    }
}

/// The `connect()` error (strerror) a TCP connect gets for what the step observed: the
/// local routing error as the kernel words it, or the ICMP error that ended the SYN
/// (the kernel's icmp_err_convert: net unreachable → ENETUNREACH, host unreachable and
/// "prohibited by filter" → EHOSTUNREACH, port unreachable → ECONNREFUSED), or a
/// neighbour that never answered ARP (EHOSTUNREACH, after its 3 probes).
pub(crate) fn connect_errno(observed: &str) -> Option<&'static str> {
    let has = |k: &str| observed.contains(k);
    if has("Network is unreachable")
        || has("Destination Net Unreachable")
        || has("Destination unreachable: No route")
    {
        Some("Network is unreachable")
    } else if has("No route to host")
        || has("Destination Host Unreachable")
        || has("Communication prohibited by filter")
        || has("Destination unreachable: Address unreachable")
        || has("arp-unresolved")
    {
        Some("No route to host")
    } else if has("refused") || has("Port Unreachable") || has("Port unreachable") {
        Some("Connection refused")
    } else {
        None
    }
}

/// dig's sections for a lookup: status, question, answer, server, time.
pub(crate) fn dig_text(
    lab: &Lab,
    name: &str,
    outcome: &LookupOutcome,
    log: &[String],
    elapsed: SimDuration,
) -> (String, Fate) {
    // The resolver's last answer line: `NAME TYPE from SERVER: …`.
    let answered = log.iter().rev().find_map(|l| {
        let (head, _) = l.split_once(": ")?;
        let (q, server) = head.split_once(" from ")?;
        let qname = q.split_whitespace().next()?;
        Some((qname.to_string(), server.to_string()))
    });
    let (qname, server) = answered.unwrap_or_else(|| (name.to_string(), String::new()));
    let (status, fate) = match outcome {
        LookupOutcome::Addresses(_) | LookupOutcome::NoData => ("NOERROR", Fate::Ok),
        LookupOutcome::NxDomain => ("NXDOMAIN", Fate::Ok),
        LookupOutcome::ServFail => ("SERVFAIL", Fate::Ok),
        LookupOutcome::NoAnswer(_) => ("", Fate::Failed),
    };
    let fq = format!("{}.", qname.trim_end_matches('.'));
    let mut s = format!("; <<>> netloom lab dig <<>> {name}\n");
    if let LookupOutcome::NoAnswer(why) = outcome {
        let _ = writeln!(s, ";; connection timed out; no servers could be reached ({why})");
        for l in log {
            let _ = writeln!(s, ";; {l}");
        }
        return (s, fate);
    }
    let addrs: &[IpAddr] = match outcome {
        LookupOutcome::Addresses(a) => a,
        _ => &[],
    };
    let _ = writeln!(s, ";; ->>HEADER<<- opcode: QUERY, status: {status}");
    let _ = writeln!(s, ";; QUESTION SECTION:\n;{fq:<23} IN      A\n");
    if !addrs.is_empty() {
        // Docker's embedded server answers for containers with libnetwork's TTL; the
        // modelled upstream servers with their zone's.
        let embedded = server == netloom_drivers::dns::EMBEDDED.to_string() && is_docker_name(lab, &qname);
        let ttl = if embedded {
            netloom_drivers::dns::EMBEDDED_TTL
        } else {
            netloom_drivers::dns::ZONE_TTL
        };
        let _ = writeln!(s, ";; ANSWER SECTION:");
        for a in addrs {
            let ty = if a.is_ipv4() { "A" } else { "AAAA" };
            let _ = writeln!(s, "{fq:<23} {ttl:<7} IN      {ty:<7} {a}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, ";; Query time: {} msec", elapsed.as_nanos() / 1_000_000);
    if !server.is_empty() {
        let _ = writeln!(s, ";; SERVER: {server}#53({server}) (UDP)");
    }
    (s, fate)
}

/// Whether `qname` is a container name or alias (what the embedded server answers
/// itself rather than forwarding).
fn is_docker_name(lab: &Lab, qname: &str) -> bool {
    let n = netloom_drivers::dns::normalize(qname);
    let m = &lab.resolved.model;
    m.containers.iter().any(|c| {
        netloom_drivers::dns::normalize(&c.name) == n
            || c.networks
                .iter()
                .any(|e| e.aliases.iter().any(|a| netloom_drivers::dns::normalize(a) == n))
    })
}
