//! The reachability matrix as people read it: the truth tables the Kubernetes netpol
//! e2e and cyclonus print (`.` connected, `X` blocked; rows are sources, columns
//! destinations), `R` for a refused probe (it reached a destination where nothing
//! listens), and the policies that blocked each cell; as JSON; and an expected table
//! (a `reachability` step's `matrix:`) compared cell by cell.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use netloom_drivers::docker::{PolicyMatrix, Reach};
use netloom_drivers::net::L4;
use netloom_drivers::policy::Direction;
use serde_json::{Value, json};

/// Parses `tcp/80`, `udp/53`, or `80` (TCP).
pub fn parse_port(s: &str) -> Result<(L4, u16), String> {
    let s = s.trim();
    let (l4, num) = match s.split_once('/') {
        Some((p, n)) => match p.to_ascii_lowercase().as_str() {
            "tcp" => (L4::Tcp, n),
            "udp" => (L4::Udp, n),
            _ => return Err(format!("`{s}`: the protocol must be tcp or udp")),
        },
        None => (L4::Tcp, s),
    };
    match num.parse::<u16>() {
        Ok(n) if n > 0 => Ok((l4, n)),
        _ => Err(format!(
            "`{s}`: `{num}` is not a port 1-65535 (write tcp/80 or udp/53)"
        )),
    }
}

/// `tcp/80`.
pub fn port_name((l4, port): (L4, u16)) -> String {
    let p = match l4 {
        L4::Udp => "udp",
        _ => "tcp",
    };
    format!("{p}/{port}")
}

fn symbol(r: &Reach) -> char {
    match r {
        Reach::Connected => '.',
        Reach::Refused => 'R',
        Reach::Blocked(_) => 'X',
    }
}

fn deciders(mx: &PolicyMatrix, by: &[(Direction, usize)]) -> String {
    let mut per: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for &(d, p) in by {
        per.entry(d.name())
            .or_default()
            .push(mx.policies.get(p).map_or("?", String::as_str));
    }
    // Egress is where a packet is stopped first.
    ["egress", "ingress"]
        .iter()
        .filter_map(|d| per.get(d).map(|ps| format!("{d} {}", ps.join(", "))))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cells of `port` that connected, were blocked, were refused.
pub fn counts(mx: &PolicyMatrix, port: usize) -> (usize, usize, usize) {
    let (mut ok, mut blocked, mut refused) = (0, 0, 0);
    for c in mx.cells[port].iter().flatten() {
        match c {
            Reach::Connected => ok += 1,
            Reach::Refused => refused += 1,
            Reach::Blocked(_) => blocked += 1,
        }
    }
    (ok, blocked, refused)
}

/// One port's table: header `-` and the destinations, then a row per source.
pub fn table(mx: &PolicyMatrix, port: usize) -> String {
    let w = mx.names.iter().map(String::len).max().unwrap_or(1).max(1);
    let mut out = String::new();
    let _ = write!(out, "{:<w$}", "-");
    for n in &mx.names {
        let _ = write!(out, "  {n:<w$}");
    }
    trim_end(&mut out);
    out.push('\n');
    for (si, src) in mx.names.iter().enumerate() {
        let _ = write!(out, "{src:<w$}");
        for c in &mx.cells[port][si] {
            let _ = write!(out, "  {:<w$}", symbol(c));
        }
        trim_end(&mut out);
        out.push('\n');
    }
    out
}

fn trim_end(s: &mut String) {
    let n = s.trim_end_matches(' ').len();
    s.truncate(n);
}

/// The whole matrix as text: per port, the table and the blocked cells with what
/// blocked them.
pub fn render(mx: &PolicyMatrix) -> String {
    let mut out = String::new();
    if !mx.enforced {
        let _ = writeln!(
            out,
            "NetworkPolicies are NOT enforced (policy_enforcement: false — the network plugin ignores them); \
             {} cell(s) below would be blocked by a plugin that enforces them.",
            mx.unenforced_denials.len()
        );
    }
    for (pi, &port) in mx.ports.iter().enumerate() {
        let (ok, blocked, refused) = counts(mx, pi);
        let _ = writeln!(
            out,
            "{}: {ok} connected, {blocked} blocked, {refused} refused (rows: from, columns: to; \
             '.' connected, 'X' blocked, 'R' refused: nothing listens)",
            port_name(port)
        );
        out.push_str(&table(mx, pi));
        let mut lines = Vec::new();
        for (si, src) in mx.names.iter().enumerate() {
            for (di, dst) in mx.names.iter().enumerate() {
                if let Reach::Blocked(by) = &mx.cells[pi][si][di] {
                    let why = if by.is_empty() {
                        "no answer (not a policy: see `netloom run --trace` for the drop)".to_string()
                    } else {
                        format!("denied by {}", deciders(mx, by))
                    };
                    lines.push(format!("  {src} → {dst}: {why}"));
                }
            }
        }
        for &(p, s, d) in &mx.unenforced_denials {
            if p == pi {
                lines.push(format!(
                    "  {} → {}: would be denied, but policies are not enforced",
                    mx.names[s], mx.names[d]
                ));
            }
        }
        if !lines.is_empty() {
            out.push_str("blocked:\n");
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

/// The matrix as JSON.
pub fn to_json(mx: &PolicyMatrix) -> Value {
    let ports: Vec<Value> = mx
        .ports
        .iter()
        .enumerate()
        .map(|(pi, &port)| {
            let cells: Vec<Vec<String>> = mx.cells[pi]
                .iter()
                .map(|row| row.iter().map(|c| symbol(c).to_string()).collect())
                .collect();
            let mut blocked = Vec::new();
            for (si, src) in mx.names.iter().enumerate() {
                for (di, dst) in mx.names.iter().enumerate() {
                    if let Reach::Blocked(by) = &mx.cells[pi][si][di] {
                        let by: Vec<Value> = by
                            .iter()
                            .map(|&(d, p)| json!({ "direction": d.name(), "policy": mx.policies.get(p) }))
                            .collect();
                        blocked.push(json!({ "from": src, "to": dst, "denied_by": by }));
                    }
                }
            }
            let would_be_denied: Vec<Value> = mx
                .unenforced_denials
                .iter()
                .filter(|&&(p, _, _)| p == pi)
                .map(|&(_, s, d)| json!({ "from": mx.names[s], "to": mx.names[d] }))
                .collect();
            json!({
                "port": port_name(port),
                "cells": cells,
                "blocked": blocked,
                "would_be_denied_if_enforced": would_be_denied,
            })
        })
        .collect();
    json!({
        "containers": mx.names,
        "enforced": mx.enforced,
        "ports": ports,
    })
}

/// An expected table: destinations (columns) and, per source, its row of `.`/`X`/`R`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Column names.
    pub to: Vec<String>,
    /// The header's 1-based line within the text.
    pub header_line: usize,
    /// (source, its cells), in the order written; each cell with its 1-based line
    /// offset within the text.
    pub rows: Vec<(String, Vec<char>, usize)>,
}

/// Parses an expected table; errors name the table line (1-based).
pub fn parse_expected(text: &str) -> Result<Expected, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hl, header)) = lines.next() else {
        return Err((
            1,
            "empty matrix: write a header line `- a b c` and a row per source".into(),
        ));
    };
    let mut h = header.split_whitespace();
    if h.next() != Some("-") {
        return Err((
            hl + 1,
            "the header must start with `-` and name the destination columns, as the k8s truth tables do"
                .into(),
        ));
    }
    let to: Vec<String> = h.map(str::to_owned).collect();
    if to.is_empty() {
        return Err((hl + 1, "the header names no destination column".into()));
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let mut t = line.split_whitespace();
        let Some(src) = t.next() else { continue };
        let mut cells = Vec::new();
        for tok in t {
            let c = match tok {
                "." => '.',
                "X" | "x" => 'X',
                "R" | "r" => 'R',
                _ => {
                    return Err((
                        i + 1,
                        format!(
                            "`{tok}` in row {src}: a cell is `.` (connected), `X` (blocked) or `R` (refused)"
                        ),
                    ));
                }
            };
            cells.push(c);
        }
        if cells.len() != to.len() {
            return Err((
                i + 1,
                format!("row {src} has {} cells for {} columns", cells.len(), to.len()),
            ));
        }
        rows.push((src.to_owned(), cells, i + 1));
    }
    Ok(Expected {
        to,
        header_line: hl + 1,
        rows,
    })
}

/// Cells of `port` where the measured matrix differs from `want`, each a line naming
/// the cell, both values and what blocked it; or the names `want` uses that the matrix
/// does not have.
pub fn compare(mx: &PolicyMatrix, port: usize, want: &Expected) -> Result<Vec<String>, String> {
    let index = |n: &str| mx.names.iter().position(|x| x == n);
    let unknown: Vec<&str> = want
        .to
        .iter()
        .map(String::as_str)
        .chain(want.rows.iter().map(|(s, _, _)| s.as_str()))
        .filter(|n| index(n).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the matrix names {} which {} not a probed container (they are: {})",
            unknown.join(", "),
            if unknown.len() == 1 { "is" } else { "are" },
            mx.names.join(", ")
        ));
    }
    let mut diffs = Vec::new();
    for (src, cells, _) in &want.rows {
        let Some(si) = index(src) else { continue };
        for (dst, &w) in want.to.iter().zip(cells) {
            let Some(di) = index(dst) else { continue };
            let got = &mx.cells[port][si][di];
            let g = symbol(got);
            if g != w {
                let why = match got {
                    Reach::Blocked(by) if !by.is_empty() => format!(" (denied by {})", deciders(mx, by)),
                    Reach::Blocked(_) => " (no answer)".into(),
                    _ => String::new(),
                };
                diffs.push(format!("{src} → {dst}: expected {w}, got {g}{why}"));
            }
        }
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx() -> PolicyMatrix {
        PolicyMatrix {
            names: vec!["a".into(), "b".into()],
            ports: vec![(L4::Tcp, 80)],
            policies: vec!["default/deny".into()],
            cells: vec![vec![
                vec![Reach::Connected, Reach::Blocked(vec![(Direction::Ingress, 0)])],
                vec![Reach::Connected, Reach::Refused],
            ]],
            enforced: true,
            unenforced_denials: vec![],
        }
    }

    #[test]
    fn renders_the_k8s_truth_table_and_who_blocked() {
        let text = render(&mx());
        assert!(text.contains("-  a  b\na  .  X\nb  .  R\n"), "{text}");
        assert!(text.contains("a → b: denied by ingress default/deny"), "{text}");
    }

    #[test]
    fn expected_tables_compare_cell_by_cell() {
        let want = parse_expected("-  a b\n a . .\n b . R\n").expect("parses");
        let d = compare(&mx(), 0, &want).expect("names known");
        assert_eq!(
            d,
            vec!["a → b: expected ., got X (denied by ingress default/deny)".to_string()]
        );
        let want = parse_expected("- a c\na . .\n").expect("parses");
        assert!(
            compare(&mx(), 0, &want)
                .expect_err("an error")
                .contains("c which is not")
        );
        assert_eq!(parse_expected("- a b\na . ?\n").expect_err("an error").0, 2);
        assert_eq!(parse_expected("a b\n").expect_err("an error").0, 1);
        assert!(
            parse_expected("- a b\na .\n")
                .expect_err("an error")
                .1
                .contains("1 cells for 2 columns")
        );
    }

    #[test]
    fn ports_parse_with_clear_errors() {
        assert_eq!(parse_port("tcp/80"), Ok((L4::Tcp, 80)));
        assert_eq!(parse_port("UDP/53"), Ok((L4::Udp, 53)));
        assert_eq!(parse_port("8080"), Ok((L4::Tcp, 8080)));
        assert!(
            parse_port("sctp/80")
                .expect_err("an error")
                .contains("tcp or udp")
        );
        assert!(parse_port("tcp/0").is_err());
    }
}
