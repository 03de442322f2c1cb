//! The scenario corpus: every example and every behaviour scenario passes, the same
//! seed gives the same report, and every invalid file gives its documented error.

use std::path::{Path, PathBuf};

use netloom_scenarios::{RunOptions, Status, load, report, run};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

fn run_file(path: &Path, seed: Option<u64>) -> netloom_scenarios::Report {
    let text = std::fs::read_to_string(path).expect("readable");
    let loaded = load(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
    run(
        &loaded,
        &RunOptions {
            seed,
            ..RunOptions::default()
        },
    )
    .report
}

/// Every example passes: what the README promises a learner is what happens.
#[test]
fn every_example_passes() {
    let files = yaml_files(&root().join("scenarios/examples"));
    assert!(files.len() >= 6, "the issue asks for at least six examples");
    for f in files {
        let r = run_file(&f, None);
        assert!(r.passed(), "{}", report::text(&r));
        assert!(
            r.steps.iter().any(|s| s.status == Status::Passed),
            "{} checks nothing",
            f.display()
        );
        assert!(
            r.description.is_some(),
            "{} needs a description for learners",
            f.display()
        );
    }
}

/// The troubleshooting library (scenarios/troubleshooting/): every problem is a pair,
/// `NN-slug-broken.yaml` asserting the symptom and `NN-slug-fixed.yaml` asserting the
/// fix; both pass, both cite a source (a URL in the description) and both check
/// something.
#[test]
fn every_troubleshooting_case_passes() {
    let dir = root().join("scenarios/troubleshooting");
    let files = yaml_files(&dir);
    assert!(files.len() >= 20, "at least ten broken/fixed pairs");
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let twin = if let Some(stem) = name.strip_suffix("-broken.yaml") {
            format!("{stem}-fixed.yaml")
        } else if let Some(stem) = name.strip_suffix("-fixed.yaml") {
            format!("{stem}-broken.yaml")
        } else {
            panic!("{name}: a troubleshooting file ends in -broken.yaml or -fixed.yaml")
        };
        assert!(dir.join(&twin).is_file(), "{name} has no twin {twin}");
        let r = run_file(f, None);
        assert!(r.passed(), "{}", report::text(&r));
        assert!(
            r.steps.iter().any(|s| s.status == Status::Passed),
            "{name} checks nothing"
        );
        assert!(
            r.description.as_deref().is_some_and(|d| d.contains("http")),
            "{name} needs a description citing its source (a URL)"
        );
    }
}

/// The teaching labs (scenarios/labs/): six lessons in order, each passes under `run`,
/// states its Goals, Tasks and Questions, names every check it makes (a student reads
/// the step names as the list of checks), keeps at least one check that also runs under
/// `emulate` (not only `reachability` or `exec`), and the guide links every lab and
/// gives each one its answers and a "try breaking it" exercise.
#[test]
fn every_lab_passes() {
    let dir = root().join("scenarios/labs");
    let files = yaml_files(&dir);
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    for (i, want) in [
        "01-bridge-basics.yaml",
        "02-",
        "03-",
        "04-",
        "05-",
        "06-firewall-and-policies.yaml",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            names.get(i).is_some_and(|n| n.starts_with(want)),
            "lab {} should be {want}…, found {names:?}",
            i + 1
        );
    }
    assert_eq!(names.len(), 6, "six labs, found {names:?}");
    let guide = std::fs::read_to_string(dir.join("README.md")).expect("scenarios/labs/README.md");
    assert!(
        guide.matches("<details>").count() >= names.len(),
        "the guide needs a collapsible answers section per lab"
    );
    assert!(
        guide.to_lowercase().matches("try breaking it").count() >= names.len(),
        "the guide needs a 'try breaking it' exercise per lab"
    );
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            guide.contains(&format!("]({name})")),
            "scenarios/labs/README.md does not link {name}"
        );
        let text = std::fs::read_to_string(f).expect("readable");
        let loaded = load(&f.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
        let desc = loaded.scenario.description.clone().unwrap_or_default();
        for part in ["Goals:", "Tasks:", "Questions:"] {
            assert!(desc.contains(part), "{name}: the description has no '{part}'");
        }
        for (i, step) in loaded.scenario.steps.iter().enumerate() {
            if step.value.expect.is_some() {
                assert!(
                    step.value
                        .name
                        .as_ref()
                        .is_some_and(|n| !n.value.trim().is_empty()),
                    "{name}: step {} checks something but has no `name:` saying what",
                    i + 1
                );
            }
        }
        assert_eq!(loaded.steps.len(), loaded.scenario.steps.len());
        assert!(
            loaded
                .steps
                .iter()
                .zip(&loaded.scenario.steps)
                .any(|(planned, written)| written.value.expect.is_some()
                    && !matches!(
                        planned.op,
                        netloom_scenarios::validate::Op::Reachability { .. }
                            | netloom_scenarios::validate::Op::Exec { .. }
                    )),
            "{name}: no check that runs under both `run` and `emulate`"
        );
        let r = run_file(f, None);
        assert!(r.passed(), "{}", report::text(&r));
        assert!(
            r.steps
                .iter()
                .all(|s| matches!(s.status, Status::Passed | Status::Done)),
            "{name}: every step passes (none skipped under run)\n{}",
            report::text(&r)
        );
    }
}

/// Behaviour scenarios (TTL, ARP failure, IPv6 routing, icc, ip_forward, hairpin…).
#[test]
fn every_behaviour_scenario_passes() {
    for f in yaml_files(&root().join("tests/scenarios")) {
        let r = run_file(&f, None);
        assert!(r.passed(), "{}", report::text(&r));
    }
}

/// The Kubernetes NetworkPolicy e2e cases (upstream netpol tests and cyclonus-style
/// cases on the 9-pod model): each passes, and each checks at least one full truth
/// table - a `reachability` step whose matrix names every container as a row and as a
/// column, so no cell goes unchecked.
#[test]
fn every_netpol_case_passes() {
    let files = yaml_files(&root().join("tests/scenarios/netpol"));
    assert!(
        files.len() >= 20,
        "at least 20 netpol cases, found {}",
        files.len()
    );
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        let loaded = load(&f.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
        let containers: std::collections::BTreeSet<&str> =
            loaded.model.containers.iter().map(|c| c.name.as_str()).collect();
        let full_tables = loaded
            .steps
            .iter()
            .filter(|s| matches!(s.op, netloom_scenarios::validate::Op::Reachability { .. }))
            .filter_map(|s| s.expect.matrix.as_ref())
            .filter(|m| {
                let cols: std::collections::BTreeSet<&str> = m.to.iter().map(String::as_str).collect();
                let rows: std::collections::BTreeSet<&str> =
                    m.rows.iter().map(|(r, _, _)| r.as_str()).collect();
                cols == containers && rows == containers
            })
            .count();
        assert!(
            full_tables >= 1,
            "{} has no reachability step with a full matrix expectation",
            f.display()
        );
        assert!(
            loaded.scenario.description.is_some(),
            "{} needs a description naming the case",
            f.display()
        );
        let r = run_file(&f, None);
        assert!(r.passed(), "{}", report::text(&r));
        assert!(
            r.steps.iter().all(|s| s.status == Status::Passed),
            "{}: every step must pass and check something",
            f.display()
        );
    }
}

/// Same file and seed: byte-identical JSON. A different seed on a lossy link changes
/// what is lost, so the seed really feeds the randomness.
#[test]
fn reports_are_deterministic() {
    for f in yaml_files(&root().join("scenarios/examples"))
        .into_iter()
        .chain(yaml_files(&root().join("tests/scenarios")))
    {
        let a = report::json(&[run_file(&f, None)]);
        let b = report::json(&[run_file(&f, None)]);
        assert_eq!(a, b, "{} is not deterministic", f.display());
    }
    let lossy = root().join("tests/scenarios/lossy-link.yaml");
    let outcomes: std::collections::BTreeSet<String> = (0..6)
        .map(|s| run_file(&lossy, Some(s)).steps[0].observed.clone())
        .collect();
    assert!(
        outcomes.len() > 1,
        "six seeds over a 30% lossy link all lost the same pings: {outcomes:?}"
    );
}

/// Each invalid file: the documented error, at the right place, with a hint.
#[test]
fn invalid_files_give_their_documented_error() {
    // file, line, column, a part of the message, a part of the hint
    let cases: &[(&str, u64, u64, &str, &str)] = &[
        (
            "overlapping-subnets.yaml",
            6,
            33,
            "Pool overlaps with other one on this address space",
            "non-overlapping",
        ),
        (
            "static-outside-subnet.yaml",
            8,
            26,
            "not a usable address of the network's subnet 10.1.0.0/24",
            "inside 10.1.0.0/24",
        ),
        (
            "static-taken-twice.yaml",
            11,
            26,
            "Address already in use: 10.1.0.5",
            "its own address",
        ),
        (
            "static-is-gateway.yaml",
            8,
            26,
            "already the gateway",
            "its own address",
        ),
        (
            "static-on-default-bridge.yaml",
            5,
            31,
            "user specified IP address is supported on user defined networks only",
            "create a network",
        ),
        (
            "gateway-outside-subnet.yaml",
            7,
            20,
            "gateway 10.9.0.1 is not a usable address",
            "10.1.0.1",
        ),
        (
            "unknown-network.yaml",
            6,
            16,
            "unknown network 'backnd'",
            "did you mean 'backend'?",
        ),
        (
            "unknown-host.yaml",
            6,
            11,
            "unknown host 'hots1'",
            "did you mean 'host1'?",
        ),
        (
            "unknown-lan.yaml",
            5,
            44,
            "unknown LAN 'ofice'",
            "did you mean 'office'?",
        ),
        (
            "unknown-key.yaml",
            5,
            15,
            "unknown key 'adress'",
            "did you mean 'address'?",
        ),
        (
            "unknown-step-target.yaml",
            6,
            31,
            "unknown name 'wbe'",
            "did you mean 'web'?",
        ),
        (
            "firewall-port-without-proto.yaml",
            4,
            36,
            "'dport' needs proto tcp or udp",
            "proto: tcp",
        ),
        (
            "macvlan-unknown-parent.yaml",
            12,
            28,
            "-o parent interface was not found on the host: eth1",
            "(eth0)",
        ),
        (
            "vlan-out-of-range.yaml",
            13,
            15,
            "vlan id must be between 1-4094",
            "eth0.10",
        ),
        (
            "macvlan-mode-typo.yaml",
            12,
            48,
            "macvlan mode 'bridged' is not valid",
            "passthru",
        ),
        (
            "parent-in-use.yaml",
            18,
            28,
            "macvlan network first is already using parent interface eth0: a NIC carries macvlan or ipvlan",
            "VLAN subinterface",
        ),
        (
            "overlay-with-host.yaml",
            11,
            11,
            "an overlay network spans hosts",
            "hosts: [h1, h2]",
        ),
        ("shim-unknown-parent.yaml", 6, 29, "unknown NIC 'eht0'", "eth0"),
        ("bad-duration.yaml", 8, 14, "unknown duration unit", "2ms"),
        (
            "port-conflict.yaml",
            6,
            13,
            "port is already allocated",
            "different host port",
        ),
        ("connect-without-port.yaml", 6, 34, "has no port", "web:80"),
        (
            "wrong-outcome.yaml",
            7,
            13,
            "'ok' is not an outcome of a ping step",
            "reach, no-reach",
        ),
        ("two-actions.yaml", 5, 5, "exactly one action", "new list item"),
        ("empty.yaml", 1, 1, "the file is empty", "name:"),
        (
            "alias-on-host-network.yaml",
            6,
            19,
            "network-scoped alias is supported only for containers in user defined networks",
            "user-defined network",
        ),
        (
            "bad-dns-opt.yaml",
            7,
            15,
            "option 'ndots:two' needs a number",
            "ndots:2",
        ),
        (
            "resolve-bad-name.yaml",
            5,
            33,
            "'a..b' is not a valid domain name",
            "63 characters",
        ),
        (
            "addresses-on-ping.yaml",
            7,
            26,
            "'addresses' applies to resolve steps",
            "",
        ),
        (
            "resolve-wrong-outcome.yaml",
            6,
            13,
            "'reach' is not an outcome of a resolve step",
            "nxdomain, servfail, timeout",
        ),
        (
            "closed-on-udp.yaml",
            6,
            13,
            "'closed' is not an outcome of a connect step",
            "`closed` is a TCP outcome",
        ),
        ("broken-yaml.yaml", 1, 7, "", ""),
    ];
    let dir = root().join("tests/fixtures/invalid");
    assert_eq!(
        yaml_files(&dir).len(),
        cases.len(),
        "every invalid fixture has a case here"
    );
    for &(file, line, col, msg, hint) in cases {
        let text = std::fs::read_to_string(dir.join(file)).expect("readable");
        let errs = match load(file, &text) {
            Ok(_) => panic!("{file} loaded, but it is invalid"),
            Err(e) => e,
        };
        let first = errs.iter().next().expect("at least one error");
        assert_eq!((first.line, first.column), (line, col), "{file}: {first}");
        assert!(first.message.contains(msg), "{file}: {first}");
        assert!(
            first.hint.as_deref().unwrap_or("").contains(hint),
            "{file}: {first}"
        );
        assert!(
            first
                .to_string()
                .starts_with(&format!("{file}:{line}:{col}: error: ")),
            "{first}"
        );
    }
}
