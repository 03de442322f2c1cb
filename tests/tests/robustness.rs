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

/// What a mutated file did: `Err` lines beyond the end or empty messages, else fine.
fn check(text: String) -> Result<(), String> {
    match load("mutated.yaml", &text) {
        Err(errs) => {
            let lines = text.lines().count() as u64 + 1;
            for e in errs.iter() {
                if e.line > lines {
                    return Err(format!("error beyond the end of the file: {e}"));
                }
                if e.message.is_empty() {
                    return Err("an error without a message".into());
                }
            }
        }
        Ok(loaded) => {
            if cheap(&loaded) {
                let r = run(&loaded, &RunOptions::default());
                if r.report.steps.len() != loaded.steps.len() {
                    return Err("not every step was reported".into());
                }
            }
        }
    }
    Ok(())
}

/// [`check`] on a thread of its own: a panic or a case that does not end within
/// `limit` (a hang) is a failure, not a stuck test run.
fn check_bounded(text: String, limit: std::time::Duration) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let shown: String = text.chars().take(400).collect();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| check(text)).unwrap_or_else(|_| Err("panicked".into()));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r.map_err(|e| format!("{e}\n--- file ---\n{shown}")),
        Err(_) => Err(format!(
            "no result within {limit:?} (a hang)\n--- file ---\n{shown}"
        )),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Proves: loading never panics nor hangs, every error points at a line of the
    /// file, and a mutated file that still loads runs to the end without panicking.
    #[test]
    fn mutated_scenarios_never_panic(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
        let files = corpus();
        let mut text = files[pick % files.len()].clone();
        for m in &muts {
            text = apply(&text, m);
        }
        let r = check_bounded(text, std::time::Duration::from_secs(60));
        prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
    }

    /// Proves: bytes that are not UTF-8 (a Latin-1 file, a binary) are reported at a
    /// line and column of the file, never as a panic.
    #[test]
    fn mutated_bytes_are_placed(pick in any::<usize>(), at in any::<usize>(), byte in 0x80u8..=0xff) {
        let files = corpus();
        let mut bytes = files[pick % files.len()].clone().into_bytes();
        let k = at % (bytes.len() + 1);
        bytes.insert(k, byte);
        match netloom_scenarios::input::decode(bytes) {
            Ok(text) => {
                let r = check_bounded(text, std::time::Duration::from_secs(60));
                prop_assert!(r.is_ok(), "{}", r.err().unwrap_or_default());
            }
            Err(e) => {
                let lc: Vec<&str> = e.splitn(3, ':').collect();
                prop_assert!(lc.len() == 3 && lc[0].parse::<u64>().is_ok() && lc[1].parse::<u64>().is_ok(), "{e}");
            }
        }
    }
}
