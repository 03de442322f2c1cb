//! Differential tests: netloom against the Linux kernel, case by case.
//!
//! Every `tests/differential/NAME.yaml` is a scenario whose expectations are what the
//! kernel did when `tests/differential/NAME.sh` built the same topology out of real
//! namespaces, bridges, veths, macvlan/ipvlan children, 802.1Q subinterfaces and VXLAN
//! devices, and ran the same checks in the same order (one output line per step that
//! carries an expected result: `reach`/`no-reach`, `ok`/`stall` for transfers, where a
//! stall is netloom's `timeout`). So:
//!
//! - `netloom_meets_the_kernel_outcomes`: `netloom run NAME.yaml` exits 0 for every case.
//! - `yaml_expectations_match_kernel_recordings`: for cases this machine's kernel cannot
//!   build (ipvlan, 802.1Q), the kernel's outcomes are recorded in
//!   `tests/fixtures/kernel/NAME.out` (by `tests/fixtures/kernel/record.sh`, in a QEMU
//!   guest running Debian's stock kernel); the yaml's expectations must equal them. The
//!   same guest's runs of the other cases (`crosscheck/NAME.out`) must agree as well.
//! - `yaml_expectations_match_the_live_kernel`: every case without a recording runs its
//!   script here (root only; otherwise, or when the kernel or a tool lacks something,
//!   it prints why and passes, unless `NETLOOM_REQUIRE_ALL` is set). Scripts run side by
//!   side under distinct namespace prefixes and must leave no namespace behind. A script
//!   gets the netloom binary in `NETLOOM`: `docker-rules.sh` loads the rules
//!   `netloom iptables` generates into the kernel with iptables-restore.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

mod common;

use common::{binary, is_root, root};

/// One differential case.
struct Case {
    name: String,
    yaml: PathBuf,
    script: PathBuf,
    /// Each step that carries an expected result: (step label, result as the kernel
    /// script prints it).
    expected: Vec<(String, String)>,
}

fn diff_dir() -> PathBuf {
    root().join("tests/differential")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/kernel")
}

fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = std::fs::read_dir(diff_dir())
        .expect("tests/differential exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|yaml| {
            let name = yaml
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name")
                .to_string();
            let text = std::fs::read_to_string(&yaml).expect("readable yaml");
            let expected = expectations(&text);
            assert!(
                !expected.is_empty(),
                "{name}.yaml: no step with an expected result"
            );
            Case {
                script: yaml.with_extension("sh"),
                name,
                yaml,
                expected,
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!v.is_empty(), "no differential cases in {}", diff_dir().display());
    v
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The steps' expected results, in order, as the kernel scripts print them: a simple
/// reading of the `steps:` list of the (plain, block-style) case files: `expect: X`,
/// `expect: { result: X, … }` or `expect:` followed by an indented `result: X`.
/// A transfer's `timeout` is printed `stall` by the scripts.
fn expectations(yaml: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "steps:")
        .expect("a top-level `steps:`");
    // Split the list into items: a line `- …` at the list's indentation opens one.
    let mut items: Vec<Vec<&str>> = Vec::new();
    let mut item_indent = None;
    for l in &lines[start + 1..] {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(l) == 0 {
            break;
        }
        if t.starts_with("- ") && item_indent.is_none_or(|i| i == indent(l)) {
            item_indent = Some(indent(l));
            items.push(vec![&l[indent(l) + 2..]]);
        } else if let Some(it) = items.last_mut() {
            it.push(l.trim_start());
        }
    }
    let value = |it: &[&str], key: &str| -> Option<String> {
        it.iter()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
    };
    items
        .iter()
        .filter_map(|it| {
            let label = value(it, "name").unwrap_or_else(|| it[0].to_string());
            let kind = it
                .iter()
                .find_map(|l| {
                    ["ping", "transfer", "connect"]
                        .into_iter()
                        .find(|k| l.starts_with(&format!("{k}:")))
                })
                .unwrap_or("other");
            let pos = it.iter().position(|l| l.starts_with("expect:"))?;
            let inline = it[pos]["expect:".len()..].trim();
            let result = if inline.is_empty() {
                // block form: the `result:` among the following lines
                value(&it[pos + 1..], "result")?
            } else if let Some(map) = inline.strip_prefix('{') {
                map.trim_end_matches('}')
                    .split(',')
                    .find_map(|kv| kv.trim().strip_prefix("result:"))?
                    .trim()
                    .to_string()
            } else {
                inline.to_string()
            };
            let result = if kind == "transfer" && result == "timeout" {
                "stall".to_string()
            } else {
                result
            };
            Some((label, result))
        })
        .collect()
}

/// `None` when the kernel's lines equal the expectations, else a step-by-step account.
fn compare(case: &Case, kernel: &str, source: &str) -> Option<String> {
    let got: Vec<&str> = kernel.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let n = got.len().max(case.expected.len());
    let mut bad = false;
    let mut text = format!("{}: yaml expectations vs {source}:\n", case.name);
    for i in 0..n {
        let want = case.expected.get(i).map_or("(no step)", |e| e.1.as_str());
        let did = got.get(i).copied().unwrap_or("(no line)");
        let mark = if want == did { "  " } else { "✗ " };
        bad |= want != did;
        let label = case.expected.get(i).map_or("", |e| e.0.as_str());
        text.push_str(&format!(
            "  {mark}{:>2}. expect {want:<8} kernel {did:<8} {label}\n",
            i + 1
        ));
    }
    bad.then_some(text)
}

/// `netloom run` holds every expectation of every case: the simulator agrees with the
/// kernel.
#[test]
fn netloom_meets_the_kernel_outcomes() {
    let bin = binary();
    let mut failures = Vec::new();
    for case in cases() {
        let out = Command::new(&bin)
            .arg("run")
            .arg(&case.yaml)
            .current_dir(root())
            .output()
            .expect("netloom runs");
        if !out.status.success() {
            failures.push(format!(
                "{}: netloom run exited {:?}\n{}{}",
                case.name,
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) where netloom disagrees with the kernel:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each case has its kernel script, and the recorded kernel outcomes (VM-only cases,
/// and the VM's cross-check runs of the others) equal the yaml's expectations.
#[test]
fn yaml_expectations_match_kernel_recordings() {
    let mut failures = Vec::new();
    let mut recorded = 0;
    for case in cases() {
        assert!(
            case.script.is_file(),
            "{}: no {}",
            case.name,
            case.script.display()
        );
        for (file, what) in [
            (fixtures().join(format!("{}.out", case.name)), "the recording"),
            (
                fixtures().join(format!("crosscheck/{}.out", case.name)),
                "the VM cross-check recording",
            ),
        ] {
            if let Ok(text) = std::fs::read_to_string(&file) {
                recorded += 1;
                if let Some(why) = compare(&case, &text, &format!("{what} {}", file.display())) {
                    failures.push(why);
                }
            }
        }
    }
    assert!(recorded > 0, "no kernel recordings in {}", fixtures().display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Namespaces whose name starts with `prefix-`.
fn namespaces_left(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .collect()
        })
        .unwrap_or_default()
}

enum Live {
    Ran(String),
    CannotRun(String),
    Broken(String),
}

fn run_script(script: &Path, prefix: &str, netloom: &Path) -> Live {
    let out = Command::new("bash")
        .arg(script)
        .env("NLD_PREFIX", prefix)
        // A case may load what netloom itself generates (docker-rules: `netloom iptables`).
        .env("NETLOOM", netloom)
        .current_dir(root())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    match out.status.code() {
        Some(0) => Live::Ran(stdout),
        Some(3) => Live::CannotRun(
            stderr
                .lines()
                .find_map(|l| l.strip_prefix("unsupported: "))
                .unwrap_or("the script could not build its topology")
                .to_string(),
        ),
        code => Live::Broken(format!("exit {code:?}\n{stdout}\n{stderr}")),
    }
}

/// The cases without a recording, run against this machine's kernel.
#[test]
fn yaml_expectations_match_the_live_kernel() {
    const TEST: &str = "yaml_expectations_match_the_live_kernel";
    if !is_root() {
        common::skip(TEST, "not root (the kernel scripts need CAP_NET_ADMIN)");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        common::skip(TEST, "ip (iproute2) is not installed");
        return;
    }
    let live: Vec<Case> = cases()
        .into_iter()
        .filter(|c| !fixtures().join(format!("{}.out", c.name)).exists())
        .collect();
    let base = format!("nld{}", std::process::id());
    let netloom = binary();
    let queue = Mutex::new(live.iter().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    // A few at a time: they mostly wait on ping timeouts.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue").pop_front();
                    let Some((i, case)) = next else { break };
                    let prefix = format!("{base}-{i}");
                    let r = run_script(&case.script, &prefix, &netloom);
                    let left = namespaces_left(&prefix);
                    results.lock().expect("results").push((case, r, left));
                }
            });
        }
    });
    let mut failures = Vec::new();
    for (case, r, left) in results.into_inner().expect("results") {
        if !left.is_empty() {
            failures.push(format!("{}: namespaces left behind: {left:?}", case.name));
        }
        match r {
            Live::Ran(out) => {
                if let Some(why) = compare(case, &out, "this machine's kernel") {
                    failures.push(why);
                }
            }
            Live::CannotRun(why) => common::skip(&format!("{TEST}: {}", case.name), &why),
            Live::Broken(why) => failures.push(format!("{}: kernel script failed: {why}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expectations_are_read_from_every_step_form() {
    let yaml = "name: x\nsteps:\n  - name: one\n    ping: { from: a, to: b }\n    expect: reach\n  \
                - ping: { from: a, to: b }\n    expect: { result: no-reach, dropped: mtu-exceeded }\n  \
                - wait: 1s\n  - name: three\n    transfer: { from: a, to: \"b:1\", bytes: 1MB }\n    \
                expect:\n      result: timeout\n      min_rate: 1mbit\n";
    let got: Vec<String> = expectations(yaml).into_iter().map(|e| e.1).collect();
    assert_eq!(got, ["reach", "no-reach", "stall"]);
}
