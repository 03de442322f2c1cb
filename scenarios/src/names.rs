//! The rules for names written in a scenario file.
//!
//! Names become namespace names (`nl<run>-<name>`), interface names, pcap file names and
//! DNS names, so they follow Docker's rule for container names — a letter or digit, then
//! letters, digits, `_`, `.` or `-` (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`) — and are short
//! enough that everything derived from them fits: a DNS label (63 bytes) for machines and
//! networks, `IFNAMSIZ - 1` (15 bytes) for interfaces. Nothing else can reach a
//! namespace, a file name or a command's arguments: whitespace, `/`, control characters
//! and non-ASCII letters are refused here, before anything is created.

use crate::error::ScenarioError;
use crate::format::{Name, Scenario};

/// Longest machine, LAN or network name: one DNS label.
pub const MAX_NAME: usize = 63;
/// Longest interface name (Linux's `IFNAMSIZ` less its terminating zero).
pub const MAX_IFNAME: usize = 15;

/// Why `name` breaks Docker's rule or is longer than `max` bytes, if it does.
pub fn problem(name: &str, max: usize) -> Option<String> {
    let b = name.as_bytes();
    let Some(first) = b.first() else {
        return Some("a name cannot be empty".into());
    };
    if !first.is_ascii_alphanumeric() {
        return Some(format!(
            "{} cannot start a name: a name starts with a letter or a digit",
            describe(name.chars().next().unwrap_or(' '))
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(format!(
            "{} is not allowed in a name: only letters, digits, '_', '.' and '-' are",
            describe(c)
        ));
    }
    if b.len() > max {
        return Some(format!(
            "the name is {} characters long, more than the {max} allowed",
            b.len()
        ));
    }
    None
}

/// A character as a reader can see it in a message (a newline is not printable).
fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

/// Every name of `s` that breaks the rules, at its place in the file.
pub fn check(file: &str, s: &Scenario) -> Vec<ScenarioError> {
    let mut out = Vec::new();
    let mut one = |kind: &str, n: &Name, max: usize| {
        if let Some(p) = problem(&n.value, max) {
            out.push(
                ScenarioError::at(file, n, format!("invalid {kind} name {:?}: {p}", n.value)).with_hint(
                    format!(
                        "names follow Docker's rule [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most {max} characters"
                    ),
                ),
            );
        }
    };
    for (name, h) in &s.hosts {
        one("host", name, MAX_NAME);
        for i in h.interfaces.keys() {
            one("interface", i, MAX_IFNAME);
        }
    }
    for name in s.lans.keys() {
        one("LAN", name, MAX_NAME);
    }
    for (name, r) in &s.routers {
        one("router", name, MAX_NAME);
        for i in r.interfaces.keys() {
            one("interface", i, MAX_IFNAME);
        }
    }
    for name in s.externals.keys() {
        one("external", name, MAX_NAME);
    }
    for name in s.networks.keys() {
        one("network", name, MAX_NAME);
    }
    for name in s.containers.keys() {
        one("container", name, MAX_NAME);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_pass() {
        for n in ["a", "web-1", "db.internal", "A_b.c-d", "0x"] {
            assert_eq!(problem(n, MAX_NAME), None, "{n}");
        }
    }

    #[test]
    fn names_that_could_reach_a_parser_are_refused() {
        // Each of these once flowed into `ip -batch` text or a file name.
        for n in [
            "x\nnetns exec",
            "a b",
            "-a",
            ".a",
            "a/b",
            "a;b",
            "",
            "é",
            "a\u{0}",
        ] {
            assert!(problem(n, MAX_NAME).is_some(), "{n:?} was accepted");
        }
        assert!(problem("x\nnetns", MAX_NAME).is_some_and(|p| p.contains("newline")));
    }

    #[test]
    fn length_is_bounded_per_kind() {
        assert_eq!(problem(&"a".repeat(63), MAX_NAME), None);
        assert!(problem(&"a".repeat(64), MAX_NAME).is_some());
        assert_eq!(problem("enp0s31f6.4094", MAX_IFNAME), None);
        assert!(problem("a-very-long-ifname", MAX_IFNAME).is_some());
    }
}
