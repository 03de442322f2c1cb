//! Reports: the human text, JSON (byte-identical for the same file and seed: it holds
//! only simulated times) and JUnit XML.

use std::fmt::Write as _;

use crate::runner::{Report, Status};

/// The human report: each step with ✓ or ✗, failures explained.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario: {} ({}, seed {})", r.name, r.file, r.seed);
    if let Some(d) = &r.description {
        for line in d.trim_end().lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "! {w}");
    }
    for st in &r.steps {
        let mark = match st.status {
            Status::Passed => "✓",
            Status::Failed => "✗",
            Status::Skipped => "-",
            Status::Done => "·",
        };
        let _ = writeln!(s, "{mark} {:>2}. {}  [line {}]", st.index, st.title, st.line);
        let _ = writeln!(s, "       {}", st.observed);
        if let Some(d) = &st.first_drop {
            let _ = writeln!(s, "       dropped: {d}");
        }
        for f in &st.failures {
            let _ = writeln!(s, "       expectation failed: {f}");
        }
        if !st.trace.is_empty() {
            let _ = writeln!(
                s,
                "       {}:",
                if st.status == Status::Failed {
                    "trace of this step's packets"
                } else {
                    "trace"
                }
            );
            for t in &st.trace {
                let _ = writeln!(s, "     {t}");
            }
        }
    }
    let passed = r.steps.iter().filter(|x| x.status == Status::Passed).count();
    let failed = r.steps.iter().filter(|x| x.status == Status::Failed).count();
    let skipped = r.steps.iter().filter(|x| x.status == Status::Skipped).count();
    let _ = writeln!(
        s,
        "{}: {passed} passed, {failed} failed, {skipped} skipped, {} without expectations",
        if failed == 0 { "PASS" } else { "FAIL" },
        r.steps.len() - passed - failed - skipped
    );
    s
}

/// The JSON report.
pub fn json(reports: &[Report]) -> String {
    serde_json::to_string_pretty(reports).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JUnit XML: one test suite per scenario, one test case per step.
pub fn junit(reports: &[Report]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in reports {
        let failures = r.steps.iter().filter(|x| x.status == Status::Failed).count();
        let skipped = r.steps.iter().filter(|x| x.status == Status::Skipped).count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            esc(&r.name),
            r.steps.len()
        );
        for st in &r.steps {
            let time = st.duration_ns as f64 / 1e9;
            let _ = write!(
                s,
                "    <testcase classname=\"{}\" name=\"{:02} {}\" time=\"{time:.6}\"",
                esc(&r.name),
                st.index,
                esc(&st.title)
            );
            match st.status {
                Status::Failed => {
                    let _ = writeln!(s, ">");
                    let _ = writeln!(
                        s,
                        "      <failure message=\"{}\">{}\n{}</failure>",
                        esc(st.failures.first().map_or("", String::as_str)),
                        esc(&st.observed),
                        esc(&st.trace.join("\n"))
                    );
                    let _ = writeln!(s, "    </testcase>");
                }
                Status::Skipped => {
                    let _ = writeln!(
                        s,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        esc(&st.observed)
                    );
                }
                _ => {
                    let _ = writeln!(s, "/>");
                }
            }
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Longest pcap file name written: well under the 255 bytes file systems allow, so a
/// capture never fails half-way for the length of a name.
const MAX_PCAP_NAME: usize = 160;

/// The file name of link `index` named `link` (`a.eth0 <-> lan.a.eth0`), optionally
/// prefixed with the scenario's name: characters other than letters, digits, `-` and
/// `.` become `_`, and a name too long for a file system is shortened with a hash of
/// the whole, so names stay unique and every capture of a run can be written.
pub fn pcap_file_name(prefix: Option<&str>, index: u32, link: &str) -> String {
    let clean = |s: &str, keep_dot: bool| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || (keep_dot && c == '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut stem = match prefix {
        Some(p) => format!("{}-{index:03}-{}", clean(p, false), clean(link, true)),
        None => format!("{index:03}-{}", clean(link, true)),
    };
    if stem.len() + ".pcap".len() > MAX_PCAP_NAME {
        // FNV-1a of the full stem: deterministic, and different links stay apart.
        let hash = stem.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        stem.truncate(MAX_PCAP_NAME - ".pcap".len() - 17);
        stem = format!("{stem}-{hash:016x}");
    }
    stem + ".pcap"
}

/// Writes one pcap per link of `fabric` into `dir` (created if needed); returns the
/// files written.
///
/// # Errors
/// The file system's error, naming nothing written after it.
pub fn write_pcaps(
    dir: &std::path::Path,
    fabric: &netloom_core::Fabric,
    prefix: Option<&str>,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (id, link) in fabric.links() {
        let path = dir.join(pcap_file_name(prefix, id.0, &link.name));
        let f = std::fs::File::create(&path)?;
        netloom_core::capture::write_pcap(std::io::BufWriter::new(f), fabric.captured(id))?;
        written.push(path);
    }
    Ok(written)
}
