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

/// The causes of failed steps, as a user reads them: `cause:`/`hint:` lines of each
/// failed step, by step title.
fn causes_of(text: &str) -> Vec<(String, String)> {
    let loaded = load("causes.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    let report = run(&loaded, &RunOptions::default()).report;
    report
        .steps
        .iter()
        .filter(|s| s.status == Status::Failed)
        .map(|s| {
            let said: Vec<String> = s
                .causes
                .iter()
                .map(|c| format!("{} | {}", c.cause, c.hint.clone().unwrap_or_default()))
                .collect();
            (s.title.clone(), said.join("\n"))
        })
        .collect()
}

/// Each cause fires only where its premise holds: a typo in a container's own subnet is
/// not "a Docker subnet capturing a LAN", a UDP refusal is no TCP reset, a stopped
/// container is named as stopped, the plain name tried before the search domain is not
/// blamed on ndots, the host's own connection is not "published ports skip INPUT", and
/// a step that got through says what it met.
#[test]
fn causes_hold_only_where_their_premise_does() {
    let text = "name: premises\n\
        hosts:\n  host1:\n    interfaces:\n      eth0: { address: 192.168.1.10/24, lan: office }\n    dns: [192.168.1.53]\n\
        lans:\n  office: {}\n\
        externals:\n  dns: { address: 192.168.1.53/24, lan: office, dns_records: { \"api.corp.example\": [192.168.1.99] } }\n\
        networks:\n  appnet:\n    ipam: { config: [ { subnet: 172.20.0.0/24 } ] }\n\
        containers:\n\
        \x20 web: { networks: { appnet: { ipv4_address: 172.20.0.10 } }, listen: [tcp/80, udp/127.0.0.1:53], ports: [\"8080:80\"] }\n\
        \x20 gone: { networks: { appnet: { ipv4_address: 172.20.0.20 } } }\n\
        \x20 client: { networks: [appnet], dns_search: [corp.example] }\n\
        steps:\n\
        \x20 - container: { name: gone, state: stopped }\n\
        \x20 - name: typo\n    ping: { from: client, to: 172.20.0.99, count: 1 }\n    expect: reach\n\
        \x20 - name: udp on loopback\n    connect: { from: client, to: \"web:53\", proto: udp }\n    expect: ok\n\
        \x20 - name: stopped\n    connect: { from: client, to: \"172.20.0.20:80\" }\n    expect: ok\n\
        \x20 - name: plain first\n    resolve: { from: client, name: api }\n    expect: nxdomain\n\
        \x20 - name: nowhere\n    resolve: { from: client, name: nosuch }\n    expect: ok\n\
        \x20 - name: host itself\n    connect: { from: host1, to: \"192.168.1.10:8080\" }\n    expect: refused\n\
        \x20 - name: open\n    connect: { from: client, to: \"web:80\" }\n    expect: refused\n";
    let got = causes_of(text);
    let said = |title: &str| {
        got.iter()
            .find(|(t, _)| t == title)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("step '{title}' failed: {got:?}"))
    };
    let typo = said("typo");
    assert!(
        typo.contains("no container on network 'appnet' has 172.20.0.99"),
        "{typo}"
    );
    assert!(!typo.contains("captures"), "{typo}");
    let udp = said("udp on loopback");
    assert!(
        udp.contains("127.0.0.1:53 only") && udp.contains("ICMP port unreachable"),
        "{udp}"
    );
    assert!(!udp.contains("reset"), "{udp}");
    let stopped = said("stopped");
    assert!(stopped.contains("gone, which is stopped"), "{stopped}");
    assert!(!stopped.contains("answered ARP"), "{stopped}");
    let plain = said("plain first");
    assert!(
        plain.contains("'api' itself got NXDOMAIN") && plain.contains("api.corp.example"),
        "{plain}"
    );
    assert!(!plain.contains("fewer than"), "{plain}");
    let nowhere = said("nowhere");
    assert!(nowhere.contains("every name tried failed"), "{nowhere}");
    let own = said("host itself");
    assert!(own.contains("nat OUTPUT"), "{own}");
    assert!(!own.contains("INPUT chain"), "{own}");
    let open = said("open");
    assert!(
        open.contains("no firewall rule, NetworkPolicy or Docker isolation"),
        "{open}"
    );
}

/// A Docker subnet over the host's own LAN (Docker accepts it): the host reaching its
/// container is told that the NIC's route, added first, wins; the container reaching the
/// LAN is told its bridge route captures the LAN.
#[test]
fn a_docker_subnet_over_the_hosts_lan_is_named() {
    let text = std::fs::read_to_string(root().join("tests/scenarios/docker-subnet-over-host-lan.yaml"))
        .expect("read")
        .replace("expect: no-reach", "expect: reach");
    let causes = causes_of(&text);
    assert_eq!(causes.len(), 2, "{causes:?}");
    assert!(
        causes[0].1.contains("two routes for 192.168.65.0/24") && causes[0].1.contains("dev eth0, wins"),
        "{causes:?}"
    );
    assert!(causes[1].1.contains("captures 192.168.65.100"), "{causes:?}");
}
