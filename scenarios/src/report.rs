//! Reports: the human text, JSON (byte-identical for the same file and seed: it holds
//! only simulated times) and JUnit XML.

use std::fmt::Write as _;

use crate::runner::{Report, Status};

/// The human report: each step with ✓ or ✗, failures explained.
pub fn text(r: &Report) -> String {
    text_with(r, false)
}

/// [`text`] with ANSI colours (marks, PASS/FAIL, failures, drop reasons); write it
/// through [`anstream`], which strips them where colour is off (see [`crate::style`]).
pub fn text_colored(r: &Report) -> String {
    text_with(r, true)
}

fn text_with(r: &Report, color: bool) -> String {
    use crate::style::{DIM, FAIL, HINT, PASS, WARN, paint};
    let mut s = String::new();
    let _ = writeln!(s, "scenario: {} ({}, seed {})", r.name, r.file, r.seed);
    if let Some(d) = &r.description {
        for line in d.trim_end().lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "{} {w}", paint(color, WARN, "!"));
    }
    for st in &r.steps {
        let mark = match st.status {
            Status::Passed => paint(color, PASS, "✓"),
            Status::Failed => paint(color, FAIL, "✗"),
            Status::Skipped => paint(color, WARN, "-"),
            Status::Done => paint(color, DIM, "·"),
        };
        let _ = writeln!(s, "{mark} {:>2}. {}  [line {}]", st.index, st.title, st.line);
        let _ = writeln!(s, "       {}", st.observed);
        if let Some(d) = &st.first_drop {
            // The reason in colour, its explanation plain.
            let (reason, why) = d
                .split_once(": ")
                .map_or((d.as_str(), None), |(r, w)| (r, Some(w)));
            let _ = write!(s, "       dropped: {}", paint(color, WARN, reason));
            let _ = match why {
                Some(w) => writeln!(s, ": {w}"),
                None => writeln!(s),
            };
        }
        for f in &st.failures {
            let _ = writeln!(s, "       {} {f}", paint(color, FAIL, "expectation failed:"));
        }
        for c in &st.causes {
            let _ = writeln!(s, "       {} {}", paint(color, WARN, "cause:"), c.cause);
            if let Some(h) = &c.hint {
                let _ = writeln!(s, "       {} {h}", paint(color, HINT, "hint:"));
            }
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
                if color && t.contains("DROPPED") {
                    let _ = writeln!(
                        s,
                        "     {}",
                        t.replacen("DROPPED", &paint(true, FAIL, "DROPPED"), 1)
                    );
                } else {
                    let _ = writeln!(s, "     {t}");
                }
            }
        }
    }
    let passed = r.steps.iter().filter(|x| x.status == Status::Passed).count();
    let failed = r.steps.iter().filter(|x| x.status == Status::Failed).count();
    let skipped = r.steps.iter().filter(|x| x.status == Status::Skipped).count();
    let _ = writeln!(
        s,
        "{}: {passed} passed, {failed} failed, {skipped} skipped, {} without expectations",
        if failed == 0 {
            paint(color, PASS, "PASS")
        } else {
            paint(color, FAIL, "FAIL")
        },
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
    summary_with(reports, false)
}

/// [`summary`] with `TOTAL` in green when every file passed, else in red.
pub fn summary_colored(reports: &[Report]) -> String {
    summary_with(reports, true)
}

fn summary_with(reports: &[Report], color: bool) -> String {
    use crate::style::{FAIL, PASS, paint};
    let files_failed = reports.iter().filter(|r| !r.passed()).count();
    let count = |st: Status| {
        reports
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|x| x.status == st)
            .count()
    };
    format!(
        "{}: {} files, {} passed, {files_failed} failed; steps: {} passed, {} failed, {} skipped, {} without expectations",
        paint(color, if files_failed == 0 { PASS } else { FAIL }, "TOTAL"),
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

/// JUnit XML: one test suite per scenario, one test case per step, in the shape the
/// common JUnit schema (Jenkins', GitLab's, Ant's) asks for: `<testsuites>` and each
/// `<testsuite>` with `tests`, `failures`, `errors` (always 0: a step either held or
/// not), `skipped` and `time` (simulated seconds); each `<testcase>` with `name`,
/// `classname` (the scenario) and `time`; a failed step's `<failure message type>`
/// holding the failures, the observation, the drop and the trace; a skipped step's
/// `<skipped message/>`. All text is escaped, and characters XML 1.0 forbids (control
/// characters other than tab, newline and carriage return; U+FFFE, U+FFFF) are written
/// as `\u{…}`, so any step name gives well-formed XML.
pub fn junit(reports: &[Report]) -> String {
    let count = |r: &Report, st: Status| r.steps.iter().filter(|x| x.status == st).count();
    let secs = |r: &Report| r.steps.iter().map(|x| x.duration_ns).sum::<u64>();
    let total_tests: usize = reports.iter().map(|r| r.steps.len()).sum();
    let total_failed: usize = reports.iter().map(|r| count(r, Status::Failed)).sum();
    let total_skipped: usize = reports.iter().map(|r| count(r, Status::Skipped)).sum();
    let total_ns: u64 = reports.iter().map(secs).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"netloom\" tests=\"{total_tests}\" failures=\"{total_failed}\" errors=\"0\" \
         skipped=\"{total_skipped}\" time=\"{}\">",
        seconds(total_ns)
    );
    for r in reports {
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
            esc(&r.name),
            r.steps.len(),
            count(r, Status::Failed),
            count(r, Status::Skipped),
            seconds(secs(r))
        );
        for st in &r.steps {
            let _ = write!(
                s,
                "    <testcase name=\"{:02} {}\" classname=\"{}\" time=\"{}\"",
                st.index,
                esc(&st.title),
                esc(&r.name),
                seconds(st.duration_ns)
            );
            match st.status {
                Status::Failed => {
                    let mut body = st.failures.join("\n");
                    body.push('\n');
                    body.push_str(&st.observed);
                    if let Some(d) = &st.first_drop {
                        body.push_str("\ndropped: ");
                        body.push_str(d);
                    }
                    for c in &st.causes {
                        body.push_str("\ncause: ");
                        body.push_str(&c.cause);
                        if let Some(h) = &c.hint {
                            body.push_str("\nhint: ");
                            body.push_str(h);
                        }
                    }
                    for t in &st.trace {
                        body.push('\n');
                        body.push_str(t);
                    }
                    let _ = writeln!(
                        s,
                        ">\n      <failure message=\"{}\" type=\"expectation-failed\">{}</failure>\n    </testcase>",
                        esc(st.failures.first().map_or("expectation failed", String::as_str)),
                        esc(&body)
                    );
                }
                Status::Skipped => {
                    let _ = writeln!(
                        s,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        esc(&st.observed)
                    );
                }
                Status::Passed | Status::Done => {
                    let _ = writeln!(s, "/>");
                }
            }
        }
        let _ = writeln!(s, "  </testsuite>");
    }
    s.push_str("</testsuites>\n");
    s
}

/// Nanoseconds as seconds with microsecond digits, as JUnit's `time` is written.
fn seconds(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, (ns % 1_000_000_000) / 1_000)
}

/// Text escaped for XML 1.0 attribute values and content alike: markup characters as
/// entities, tab/newline/carriage return as character references (attribute values
/// would otherwise lose them to normalisation), and characters XML 1.0 cannot carry at
/// all as a visible `\u{…}`.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
