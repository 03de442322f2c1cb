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

/// What the step marks of [`text`] mean; `netloom run` and `emulate` print it once,
/// after their text reports.
pub const LEGEND: &str = "legend: ✓ passed  ✗ failed  - skipped  · no expectation (done)";

/// The total over several files' reports, one line:
/// `TOTAL: 3 files, 2 passed, 1 failed; steps: 12 passed, 1 failed, 0 skipped, 3 without expectations`.
pub fn summary(reports: &[Report]) -> String {
    let files_failed = reports.iter().filter(|r| !r.passed()).count();
    let count = |st: Status| {
        reports
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|x| x.status == st)
            .count()
    };
    format!(
        "TOTAL: {} files, {} passed, {files_failed} failed; steps: {} passed, {} failed, {} skipped, {} without expectations",
        reports.len(),
        reports.len() - files_failed,
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Skipped),
        count(Status::Done),
    )
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
