//! No input makes netloom panic: mutated scenario files either load with errors that
//! point into the file, or load and run to the end.

use std::path::{Path, PathBuf};

use netloom_scenarios::validate::Op;
use netloom_scenarios::{RunOptions, load, run};
use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut v = Vec::new();
    for dir in ["scenarios/examples", "tests/scenarios", "tests/fixtures/invalid"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("corpus dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        v.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    }
    v
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
    Truncate(usize),
    ReplaceNumber(usize, u64),
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::DuplicateLine(i) => {
            if let Some(l) = lines.get(i % n).cloned() {
                lines.insert(i % n, l);
            }
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::ReplaceChar(i, c) => {
            let mut s: Vec<char> = lines.join("\n").chars().collect();
            if !s.is_empty() {
                let k = i % s.len();
                s[k] = c;
            }
            return s.into_iter().collect();
        }
        Mutation::Truncate(i) => {
            let s = lines.join("\n");
            let mut k = i % (s.len() + 1);
            while !s.is_char_boundary(k) {
                k -= 1;
            }
            return s[..k].to_string();
        }
        Mutation::ReplaceNumber(i, v) => {
            let s = lines.join("\n");
            let digits: Vec<usize> = s
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            if let Some(&at) = digits.get(i % digits.len().max(1)) {
                return format!("{}{v}{}", &s[..at], &s[at + 1..]);
            }
            return s;
        }
    }
    lines.join("\n")
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(':'),
                Just(' '),
                Just('-'),
                Just('['),
                Just('{'),
                Just('"'),
                Just('\n'),
                Just('9'),
                Just('é'),
                any::<char>()
            ]
        )
            .prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(255),
                Just(65535),
                Just(65536),
                Just(u32::MAX as u64),
                any::<u64>()
            ]
        )
            .prop_map(|(i, v)| Mutation::ReplaceNumber(i, v)),
    ]
}

/// Whether running the loaded file stays cheap (mutations can ask for huge transfers).
fn cheap(l: &netloom_scenarios::Loaded) -> bool {
    l.steps.len() <= 20
        && l.steps.iter().all(|s| match &s.op {
            Op::Transfer { bytes, .. } => *bytes <= 4_000_000,
            Op::Ping { count, size, .. } => *count <= 30 && *size <= 9000,
            Op::Wait(d) => d.as_nanos() <= 120_000_000_000,
            _ => true,
        })
        && l.model.containers.len() <= 50
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Proves: loading never panics, every error points at a line of the file, and a
    /// mutated file that still loads runs to the end without panicking.
    #[test]
    fn mutated_scenarios_never_panic(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
        let files = corpus();
        let mut text = files[pick % files.len()].clone();
        for m in &muts {
            text = apply(&text, m);
        }
        match load("mutated.yaml", &text) {
            Err(errs) => {
                let lines = text.lines().count() as u64 + 1;
                for e in errs.iter() {
                    prop_assert!(e.line <= lines, "error beyond the end of the file: {e}");
                    prop_assert!(!e.message.is_empty());
                }
            }
            Ok(loaded) => {
                if cheap(&loaded) {
                    let r = run(&loaded, &RunOptions::default());
                    prop_assert_eq!(r.report.steps.len(), loaded.steps.len());
                }
            }
        }
    }
}
