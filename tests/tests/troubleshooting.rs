//! The troubleshooting library explains itself: in every broken scenario, the step that
//! shows the symptom carries a `# flip: OUTCOME => cause: "fact", …` comment. With its
//! expectation flipped to the healthy outcome the step must fail, and its failure lines
//! (observation, drop, failed expectations, causes and hints — not the file's own
//! description, not the packet trace) must name every fact of the cause.

use std::path::{Path, PathBuf};

use netloom_scenarios::{RunOptions, Status, load, run};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Flip {
    line: usize,
    text: String,
    facts: Vec<String>,
}

/// The flips of a file: each `expect:` line with a `# flip:` comment, rewritten.
fn flips(text: &str) -> Vec<Flip> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let Some((head, flip)) = l.split_once("# flip:") else {
            continue;
        };
        let (outcome, cause) = flip
            .split_once("=> cause:")
            .unwrap_or_else(|| panic!("line {}: `# flip: OUTCOME => cause: \"fact\", …`", i + 1));
        let indent = &head[..head
            .find("expect:")
            .unwrap_or_else(|| panic!("line {}: flip on a non-expect line", i + 1))];
        let facts: Vec<String> = cause
            .split('"')
            .enumerate()
            .filter(|(k, _)| k % 2 == 1)
            .map(|(_, f)| f.to_string())
            .collect();
        assert!(
            !facts.is_empty(),
            "line {}: a flip names at least one fact",
            i + 1
        );
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[i] = format!("{indent}expect: {}", outcome.trim());
        out.push(Flip {
            line: i + 1,
            text: lines.join("\n"),
            facts,
        });
    }
    out
}

#[test]
fn flipped_symptoms_name_their_cause() {
    let dir = root().join("scenarios/troubleshooting");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("troubleshooting dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-broken.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the library has its problems");
    let mut missing = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let text = std::fs::read_to_string(f).expect("readable");
        let fl = flips(&text);
        assert!(
            !fl.is_empty(),
            "{name}: the symptom's expect line carries a `# flip:` comment"
        );
        for flip in fl {
            let loaded = load(&format!("{name} (flipped at line {})", flip.line), &flip.text)
                .unwrap_or_else(|e| panic!("{name}: the flipped file loads: {e}"));
            let report = run(&loaded, &RunOptions::default()).report;
            let failed: Vec<_> = report
                .steps
                .iter()
                .filter(|s| s.status == Status::Failed)
                .collect();
            assert!(
                !failed.is_empty(),
                "{name}:{}: with the expectation flipped the step must fail",
                flip.line
            );
            let mut said = String::new();
            for s in &failed {
                said.push_str(&s.observed);
                said.push('\n');
                if let Some(d) = &s.first_drop {
                    said.push_str(d);
                    said.push('\n');
                }
                for x in &s.failures {
                    said.push_str(x);
                    said.push('\n');
                }
                for c in &s.causes {
                    said.push_str(&c.cause);
                    said.push('\n');
                    if let Some(h) = &c.hint {
                        said.push_str(h);
                        said.push('\n');
                    }
                }
            }
            let lower = said.to_lowercase();
            for fact in &flip.facts {
                if !lower.contains(&fact.to_lowercase()) {
                    missing.push(format!("{name}:{}: \"{fact}\" not named in:\n{said}", flip.line));
                }
            }
            // Every failed step says a cause in plain words.
            for s in &failed {
                if s.causes.is_empty() && s.first_drop.is_none() {
                    missing.push(format!(
                        "{name}:{}: step {} failed without a cause",
                        flip.line, s.index
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n\n"));
}
