//! The `netloom` command: exit codes, reports and captures, as a user sees them.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{binary, root};

/// The `netloom` binary, run from the repository root.
fn netloom() -> Command {
    let mut c = Command::new(binary());
    c.current_dir(root());
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netloom-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// 0 when every expectation holds, 1 when one fails (with the trace), 2 when invalid.
#[test]
fn exit_codes() {
    let ok = netloom()
        .args(["run", "scenarios/examples/02-isolated-networks.yaml"])
        .output()
        .expect("runs");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("✓"));

    let dir = tmp("fail");
    let failing = dir.join("failing.yaml");
    std::fs::write(
        &failing,
        "name: wrong-belief\nnetworks: { a: {}, b: {} }\ncontainers:\n  x: { networks: [a] }\n  y: { networks: [b] }\nsteps:\n  - ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n",
    )
    .expect("write");
    let out = netloom().arg("run").arg(&failing).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("✗") && text.contains("DROPPED network-isolation"),
        "the trace ends in the drop reason: {text}"
    );

    let bad = netloom()
        .args(["run", "tests/fixtures/invalid/unknown-key.yaml"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown-key.yaml:5:15: error: unknown key 'adress'")
    );
    let missing = netloom()
        .args(["run", "does-not-exist.yaml"])
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
}

/// --json is byte-identical across runs; --seed changes the seed in it; --junit writes XML.
#[test]
fn json_and_junit() {
    let run = |extra: &[&str]| {
        let out = netloom()
            .args(["run", "tests/scenarios/lossy-link.yaml", "--json"])
            .args(extra)
            .output()
            .expect("runs");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let a = run(&[]);
    assert_eq!(a, run(&[]));
    assert!(a.contains("\"seed\": 0"));
    assert!(run(&["--seed", "9"]).contains("\"seed\": 9"));
    let dir = tmp("junit");
    let xml = dir.join("r.xml");
    let out = netloom()
        .args(["run", "scenarios/examples/01-one-network.yaml", "--junit"])
        .arg(&xml)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let x = std::fs::read_to_string(&xml).expect("junit written");
    assert!(
        x.contains("<testsuite name=\"containers-on-one-network\" tests=\"8\" failures=\"0\""),
        "{x}"
    );
}

/// Runs `example` with `--pcap` and returns the capture of the link whose file name
/// contains `link`, after checking the run passed.
fn capture_of(example: &str, tag: &str, link: &str) -> PathBuf {
    let dir = tmp(tag);
    let out = netloom()
        .args(["run", example, "--pcap"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(link)))
        .unwrap_or_else(|| panic!("no capture of {link}"))
}

/// What `tcpdump -n -r` prints for `pcap`; `None` (with the reason printed) when
/// tcpdump is missing, which `NETLOOM_REQUIRE_ALL` (set by `.ci/run`) turns into a
/// failure.
fn tcpdump(pcap: &Path) -> Option<String> {
    match Command::new("tcpdump").args(["-n", "-r"]).arg(pcap).output() {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            Some(String::from_utf8_lossy(&o.stdout).into_owned())
        }
        Err(e) => {
            common::skip("the tcpdump check", &format!("tcpdump is not installed ({e})"));
            None
        }
    }
}

/// --pcap writes one capture per link that pcap readers (and tcpdump, when installed)
/// read, with the step's ICMP on the container's link.
#[test]
fn pcap_captures_are_readable() {
    let app = capture_of("scenarios/examples/06-masquerade.yaml", "pcap", "app.eth0");
    let bytes = std::fs::read(&app).expect("readable");
    let (_, pcap) = pcap_parser::parse_pcap(&bytes).expect("a valid pcap file");
    assert!(pcap.blocks.len() >= 6, "pings and TCP crossed this link");
    if let Some(text) = tcpdump(&app) {
        assert!(
            text.contains("172.17.0.2 > 203.0.113.10: ICMP echo request"),
            "{text}"
        );
    }
}

/// DNS is real on the wire: the embedded server's forwarded queries and the upstream's
/// answers cross the host's NIC as DNS packets that tcpdump decodes.
#[test]
fn dns_packets_are_on_the_wire() {
    let nic = capture_of(
        "scenarios/examples/11-dns-upstream.yaml",
        "pcap-dns",
        "host1.eth0",
    );
    let bytes = std::fs::read(&nic).expect("readable");
    let (_, pcap) = pcap_parser::parse_pcap(&bytes).expect("a valid pcap file");
    // UDP to port 53: Ethernet (14) + IPv4 (20) + UDP destination port at 2..4.
    let dns = pcap
        .blocks
        .iter()
        .filter(|b| b.data.len() > 42 && b.data[23] == 17 && b.data[36..38] == [0, 53])
        .count();
    assert!(dns >= 3, "forwarded queries crossed the NIC ({dns} seen)");
    if let Some(text) = tcpdump(&nic) {
        assert!(
            text.contains("192.168.1.10.")
                && text.contains("> 192.168.1.53.53: ")
                && text.contains("A? intranet.corp.example."),
            "{text}"
        );
        assert!(text.contains("A 192.168.1.80"), "{text}");
        assert!(text.contains("NXDomain"), "{text}");
    }
}

/// Overlay traffic is real VXLAN on the underlay: tshark decodes the host's NIC
/// capture as VXLAN with the network's VNI, carrying the containers' own packets; an
/// encrypted overlay shows ESP instead; a macvlan parent `eth0.10` tags with VLAN 10.
#[test]
fn overlay_and_vlan_frames_decode_in_tshark() {
    let tshark = |pcap: &Path, fields: &[&str]| -> Option<String> {
        let mut args = vec![
            "-r".to_string(),
            pcap.to_string_lossy().into_owned(),
            "-T".into(),
            "fields".into(),
        ];
        for f in fields {
            args.push("-e".into());
            args.push((*f).into());
        }
        match Command::new("tshark").args(&args).output() {
            Ok(o) => {
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                Some(String::from_utf8_lossy(&o.stdout).into_owned())
            }
            Err(e) => {
                common::skip("the tshark check", &format!("tshark is not installed ({e})"));
                None
            }
        }
    };
    let nic = capture_of(
        "scenarios/examples/19-overlay-vxlan.yaml",
        "pcap-vxlan",
        "host1.eth0",
    );
    if let Some(text) = tshark(&nic, &["udp.dstport", "vxlan.vni", "ip.src", "ip.dst"]) {
        // Outer then inner addresses, as tshark lists repeated fields.
        assert!(
            text.lines()
                .any(|l| l.starts_with("4789\t4242\t192.168.1.10,10.0.9.2\t192.168.2.10,10.0.9.3")),
            "{text}"
        );
    }
    let nic = capture_of(
        "scenarios/examples/23-overlay-encrypted.yaml",
        "pcap-esp",
        "host1.eth0",
    );
    if let Some(text) = tshark(&nic, &["ip.proto", "esp.spi"]) {
        assert!(text.lines().any(|l| l.starts_with("50\t")), "{text}");
        assert!(
            !text.contains("4789"),
            "no clear VXLAN on an encrypted overlay: {text}"
        );
    }
    let nic = capture_of(
        "scenarios/examples/18-macvlan-vlan-trunk.yaml",
        "pcap-vlan",
        "host1.eth0",
    );
    if let Some(text) = tshark(&nic, &["vlan.id", "ip.src"]) {
        assert!(text.lines().any(|l| l == "10\t10.10.0.20"), "{text}");
    }
}

/// `netloom iptables FILE --host NAME` prints the machine's tables as `iptables-save`
/// does, the user's rules appended to their chains in file order; an unknown name is an
/// error naming the nearest machine.
#[test]
fn iptables_prints_a_machines_rules() {
    let dir = tmp("iptables");
    let file = dir.join("fw.yaml");
    std::fs::write(
        &file,
        "name: fw
hosts:
  host1:
    interfaces: { eth0: { address: 192.168.1.10/24, lan: office } }
lans: { office: {} }
routers:
  gw:
    interfaces: { lan: { address: 192.168.1.1/24, lan: office } }
containers:
  web: { ports: [\"8080:80\"], listen: [tcp/80] }
firewall:
  host1:
    - { chain: DOCKER-USER, in: eth0, source: \"!192.168.1.0/24\", action: drop }
    - { chain: DOCKER-USER, proto: tcp, ctorigdstport: 8080, action: reject, reject_with: tcp-reset }
    - { chain: INPUT, proto: icmp, icmp_type: echo-request, action: drop }
  gw:
    - { chain: FORWARD, proto: udp, dport: 4789, action: drop }
",
    )
    .expect("write");
    let run = |args: &[&str]| {
        let out = netloom()
            .arg("iptables")
            .arg(&file)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, text, err) = run(&["--host", "host1"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = text.lines().collect();
    // The filter table, with DOCKER-USER declared and the user's rules in file order.
    let filter = lines.iter().position(|l| *l == "*filter").expect(&text);
    assert!(lines[filter..].contains(&":DOCKER-USER - [0:0]"), "{text}");
    // Docker's own rules (from the generator) may precede these in their chains; the
    // user's come last, in the order written (iptables-save prints chain by chain).
    let chain = |c: &str| -> Vec<&str> {
        let head = format!("-A {c} ");
        lines.iter().copied().filter(|l| l.starts_with(&head)).collect()
    };
    assert!(
        chain("INPUT").ends_with(&["-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP"]),
        "{text}"
    );
    assert!(
        chain("DOCKER-USER").ends_with(&[
            "-A DOCKER-USER ! -s 192.168.1.0/24 -i eth0 -j DROP",
            "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 -j REJECT --reject-with tcp-reset",
        ]),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"COMMIT"), "{text}");
    assert!(
        !text.contains("4789"),
        "the router's rule is not the host's: {text}"
    );

    // --ipv6: the rules of either family (no address named), not the IPv4 ones.
    let (code, text, err) = run(&["--host", "host1", "--ipv6"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        text.contains(
            "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 -j REJECT --reject-with tcp-reset"
        ),
        "{text}"
    );
    assert!(
        !text.contains("192.168.1.0/24") && !text.contains("icmp"),
        "{text}"
    );

    // A router: its own filter table.
    let (code, text, err) = run(&["--host", "gw"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        text.contains("-A FORWARD -p udp -m udp --dport 4789 -j DROP"),
        "{text}"
    );
    assert!(!text.contains("DOCKER-USER"), "{text}");

    // Two machines with rules: --host is needed.
    let (code, _, err) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--host") && err.contains("host1, gw"), "{err}");

    // Unknown names: the nearest machine, or what the name is.
    let (code, text, err) = run(&["--host", "hots1"]);
    assert_eq!(code, Some(2));
    assert!(text.is_empty(), "{text}");
    assert!(
        err.contains("no host or router named 'hots1'") && err.contains("did you mean 'host1'?"),
        "{err}"
    );
    let (code, _, err) = run(&["--host", "web"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("'web' is a container"), "{err}");

    // An invalid file: its error at file:line:column, exit 2.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nfirewall:\n  host1:\n    - { chain: DOCKER-USER, dport: 80, action: drop }\n",
    )
    .expect("write");
    let out = netloom().arg("iptables").arg(&bad).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.yaml:4:36: error: 'dport' needs proto tcp or udp"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `netloom policy matrix`: the truth table with the deciding policies, as JSON too,
/// and a bad `--port` refused with exit 2.
#[test]
fn policy_matrix_prints_the_truth_table() {
    let out = netloom()
        .args([
            "policy",
            "matrix",
            "scenarios/examples/29-policy-allow-from-label.yaml",
            "--port",
            "tcp/8080",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("tcp/8080: "), "{text}");
    assert!(
        text.contains("\n-  ") || text.contains("\n- "),
        "a header row: {text}"
    );
    assert!(
        text.contains("denied by ingress shop/"),
        "blocked cells name their policies: {text}"
    );

    let out = netloom()
        .args([
            "policy",
            "matrix",
            "scenarios/examples/35-policy-not-enforced.yaml",
            "--json",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["enforced"], serde_json::Value::Bool(false));
    let ports = v["ports"].as_array().expect("ports");
    assert!(!ports.is_empty());
    let would: usize = ports
        .iter()
        .map(|p| p["would_be_denied_if_enforced"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        would > 0,
        "a plugin that ignores policies lets denied cells through: {v}"
    );
    assert!(
        ports
            .iter()
            .all(|p| p["blocked"].as_array().is_some_and(Vec::is_empty)),
        "nothing is blocked when nothing is enforced: {v}"
    );

    let bad = netloom()
        .args([
            "policy",
            "matrix",
            "scenarios/examples/29-policy-allow-from-label.yaml",
            "--port",
            "icmp/1",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcp or udp"));
}

/// `netloom explain`: one packet and its answer hop by hop, every decision, the verdict;
/// a denied one names the policy; an unknown machine is exit 2 with the nearest name.
#[test]
fn explain_shows_every_decision_and_the_verdict() {
    let ok = netloom()
        .args([
            "explain",
            "scenarios/examples/05-published-ports.yaml",
            "--from",
            "laptop",
            "--to",
            "host1:8080",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    for decision in [
        "fdb:",
        "nat-prerouting: DNAT",
        "filter-forward:",
        "ip4-lookup: route",
        "ARP who-has",
    ] {
        assert!(text.contains(decision), "missing {decision}:\n{text}");
    }
    assert!(text.contains("verdict: connected"), "{text}");

    let denied = netloom()
        .args([
            "explain",
            "scenarios/examples/29-policy-allow-from-label.yaml",
            "--from",
            "stage-web",
            "--to",
            "db:5432",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&denied.stdout);
    assert_eq!(denied.status.code(), Some(0), "{text}");
    assert!(text.contains("verdict: no answer"), "{text}");
    assert!(
        text.contains("first drop: policy") && text.contains("shop/"),
        "{text}"
    );

    let bad = netloom()
        .args([
            "explain",
            "scenarios/examples/29-policy-allow-from-label.yaml",
            "--from",
            "stage-wbe",
            "--to",
            "db:5432",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean 'stage-web'"));
}

/// Capture files are named after links as a scenario writes them: `host1.eth0--site-a`,
/// a container's `api.eth0`, a host's `host1.docker0`.
#[test]
fn pcap_files_are_named_as_the_scenario_names_links() {
    let dir = tmp("pcapnames");
    let out = netloom()
        .args(["run", "scenarios/examples/19-overlay-vxlan.yaml", "--pcap"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    for want in [
        "host1.eth0--site-a.pcap",
        "api.eth0.pcap",
        "host1.docker0.pcap",
        "wan.b--site-b.pcap",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("-{want}"))),
            "no {want} in {names:?}"
        );
    }
    assert!(
        names.iter().all(|n| !n.contains("<->") && !n.contains("__")),
        "{names:?}"
    );
}

/// A load error shows the offending line of the file with a caret under the column
/// (as rustc does), between its `file:line:column: error:` line, kept as it was for
/// grep, and its hint; `run` and `validate` print it alike.
#[test]
fn errors_show_the_source_line_and_a_caret() {
    let dir = tmp("caret");
    let file = dir.join("typo.yaml");
    std::fs::write(
        &file,
        "name: typo\nnetworks:\n  app: {}\ncontainers:\n  web: { networks: [app], listen: [tcp/80] }\n  client: { netwrks: [app] }\nsteps: []\n",
    )
    .expect("write");
    for verb in ["validate", "run"] {
        let out = netloom().arg(verb).arg(&file).output().expect("runs");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines[0].ends_with("typo.yaml:6:13: error: unknown key 'netwrks'"),
            "{err}"
        );
        assert_eq!(lines[1], "  |", "{err}");
        assert_eq!(lines[2], "6 |   client: { netwrks: [app] }", "{err}");
        // The caret is under column 13 of the line (after the `6 | ` gutter), and
        // underlines the key.
        assert_eq!(lines[3], format!("  | {}^^^^^^^", " ".repeat(12)), "{err}");
        assert_eq!(
            lines[4], "  hint: did you mean 'networks'?; see SCENARIO-FORMAT.md#containers",
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Several files end with one total line (files and steps) and, once, the legend of the
/// step marks; a single file has its own PASS/FAIL line and the legend; JSON has
/// neither. Nothing carries ANSI escapes (netloom prints no colours).
#[test]
fn several_files_end_with_a_total_and_a_legend() {
    let dir = tmp("total");
    let failing = dir.join("failing.yaml");
    std::fs::write(
        &failing,
        "name: wrong-belief\nnetworks: { a: {}, b: {} }\ncontainers:\n  x: { networks: [a] }\n  y: { networks: [b] }\nsteps:\n  - ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n  - ping: { from: x, to: 172.19.0.2, count: 1 }\n",
    )
    .expect("write");
    let out = netloom()
        .args([
            "run",
            "scenarios/examples/01-one-network.yaml",
            "scenarios/examples/02-isolated-networks.yaml",
        ])
        .arg(&failing)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    assert!(n > 3, "{text}");
    // 01 has 8 passing steps; 02's and the failing file's are counted from the
    // per-file lines, which the total must add up.
    let per_file: Vec<[usize; 4]> = lines
        .iter()
        .filter(|l| l.starts_with("PASS: ") || l.starts_with("FAIL: "))
        .map(|l| {
            let nums: Vec<usize> = l
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            [nums[0], nums[1], nums[2], nums[3]]
        })
        .collect();
    assert_eq!(per_file.len(), 3, "{text}");
    let sum = |i: usize| per_file.iter().map(|c| c[i]).sum::<usize>();
    assert_eq!(
        lines[n - 2],
        format!(
            "TOTAL: 3 files, 2 passed, 1 failed; steps: {} passed, {} failed, {} skipped, {} without expectations",
            sum(0),
            sum(1),
            sum(2),
            sum(3)
        ),
        "{text}"
    );
    assert_eq!(sum(1), 1, "{text}");
    assert_eq!(sum(3), 1, "the step without expect: {text}");
    assert_eq!(
        lines[n - 1],
        "legend: ✓ passed  ✗ failed  - skipped  · no expectation (done)"
    );
    assert_eq!(text.matches("legend:").count(), 1, "{text}");
    assert!(!text.contains('\u{1b}'), "no ANSI escapes into a pipe: {text}");

    let one = netloom()
        .args(["run", "scenarios/examples/01-one-network.yaml"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(!text.contains("TOTAL:"), "{text}");
    assert!(text.trim_end().ends_with("(done)"), "{text}");
    let json = netloom()
        .args(["run", "scenarios/examples/01-one-network.yaml", "--json"])
        .arg(&failing)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&json.stdout);
    assert!(!text.contains("TOTAL:") && !text.contains("legend:"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--junit` writes what CI servers' JUnit schema asks for, well-formed whatever the
/// step names hold: control characters (which XML 1.0 cannot carry) and `<&>"'`.
#[test]
fn junit_is_well_formed_and_complete() {
    let dir = tmp("junit-schema");
    let file = dir.join("odd.yaml");
    std::fs::write(
        &file,
        concat!(
            "name: \"odd <&>\\\"' names\"\n",
            "networks: { a: {}, b: {} }\n",
            "containers:\n  x: { networks: [a] }\n  y: { networks: [b] }\n",
            "steps:\n",
            "  - name: \"ctl \\x01\\x1b[31m <&>\\\"' \\t tab\"\n",
            "    ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n",
            "  - ping: { from: x, to: x, count: 1 }\n    expect: reach\n",
            "  - exec: { in: x, run: \"true\" }\n",
        ),
    )
    .expect("write");
    let xml_path = dir.join("r.xml");
    let out = netloom()
        .args(["run", "scenarios/examples/01-one-network.yaml"])
        .arg(&file)
        .arg("--junit")
        .arg(&xml_path)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(&xml_path).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let num = |n: roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("<{}> has no {a}: {xml}", n.tag_name().name()))
            .parse()
            .unwrap_or_else(|e| panic!("{a}: {e}"))
    };
    for a in ["tests", "failures", "errors", "skipped", "time"] {
        num(root, a);
    }
    assert_eq!(num(root, "tests"), 11.0);
    assert_eq!(num(root, "failures"), 1.0);
    assert_eq!(num(root, "errors"), 0.0);
    assert_eq!(num(root, "skipped"), 1.0);
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 2);
    for s in &suites {
        assert_eq!(s.tag_name().name(), "testsuite");
        assert!(s.attribute("name").is_some());
        for a in ["tests", "failures", "errors", "skipped", "time"] {
            num(*s, a);
        }
        let cases: Vec<_> = s.children().filter(|n| n.is_element()).collect();
        assert_eq!(cases.len() as f64, num(*s, "tests"));
        for c in &cases {
            assert_eq!(c.tag_name().name(), "testcase");
            assert!(c.attribute("name").is_some() && c.attribute("classname").is_some());
            num(*c, "time");
        }
    }
    let odd = suites[1];
    assert_eq!(odd.attribute("name"), Some("odd <&>\"' names"));
    assert_eq!((num(odd, "failures"), num(odd, "skipped")), (1.0, 1.0));
    let cases: Vec<_> = odd.children().filter(|n| n.is_element()).collect();
    // The control characters are written visibly; the markup characters and the tab
    // come back as they were.
    assert_eq!(
        cases[0].attribute("name"),
        Some("01 ctl \\u{1}\\u{1b}[31m <&>\"' \t tab")
    );
    assert_eq!(cases[0].attribute("classname"), Some("odd <&>\"' names"));
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("the failed step has a <failure>");
    assert!(failure.attribute("type").is_some());
    assert!(
        failure
            .attribute("message")
            .is_some_and(|m| m.contains("expected reach")),
        "{xml}"
    );
    assert!(
        failure.text().is_some_and(|t| t.contains("network-isolation")),
        "{xml}"
    );
    assert!(
        cases[1].children().all(|n| !n.is_element()),
        "a passed step is empty"
    );
    assert!(
        cases[2].children().any(|n| n.has_tag_name("skipped")),
        "exec under run is <skipped/>: {xml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `netloom run DIR` runs every `*.yaml` file of the directory in name order (not its
/// other files, not its subdirectories); a directory without one is an error.
#[test]
fn run_dir_runs_every_yaml_file_sorted() {
    let dir = tmp("rundir");
    let scenario = |name: &str| {
        format!(
            "name: {name}\nnetworks: {{ a: {{}} }}\ncontainers:\n  x: {{ networks: [a] }}\n  y: {{ networks: [a] }}\nsteps:\n  - ping: {{ from: x, to: y, count: 1 }}\n    expect: reach\n"
        )
    };
    std::fs::write(dir.join("b.yaml"), scenario("second")).expect("write");
    std::fs::write(dir.join("a.yaml"), scenario("first")).expect("write");
    std::fs::write(dir.join("c.yml"), scenario("third")).expect("write");
    std::fs::write(dir.join("notes.txt"), "not a scenario").expect("write");
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("sub/z.yaml"), "not: [valid").expect("write");
    let out = netloom().arg("run").arg(&dir).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("scenario: "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(order, ["first", "second", "third"], "{text}");
    assert!(text.contains("TOTAL: 3 files, 3 passed, 0 failed"), "{text}");

    let empty = tmp("rundir-empty");
    let out = netloom().arg("run").arg(&empty).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error: the directory has no *.yaml or *.yml file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

/// `netloom ls` printed nothing at all when no network was live; it says so now (and
/// does not when one is).
#[test]
fn ls_says_when_nothing_is_live() {
    let out = netloom().arg("ls").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let live = text.lines().filter(|l| l.ends_with("  live")).count();
    let says_none = text.lines().any(|l| l.starts_with("no live networks"));
    assert_eq!(says_none, live == 0, "{text}");
    assert!(!text.trim().is_empty());
}

/// Shell completions and the manual page come from the CLI itself: every subcommand is
/// in them, and `| head` closing the pipe is no crash.
#[test]
fn completions_and_man_page_cover_every_subcommand() {
    let bash = netloom().args(["completions", "bash"]).output().expect("runs");
    assert_eq!(bash.status.code(), Some(0));
    let text = String::from_utf8_lossy(&bash.stdout);
    for sub in ["run", "validate", "emulate", "explain", "policy", "iptables"] {
        assert!(text.contains(sub), "bash completion lacks {sub}");
    }
    let man = netloom().arg("man").output().expect("runs");
    assert_eq!(man.status.code(), Some(0));
    let roff = String::from_utf8_lossy(&man.stdout);
    assert!(
        roff.contains(".TH netloom 1") && roff.contains("explain"),
        "{roff}"
    );
    assert!(
        netloom()
            .args(["completions", "tcsh"])
            .output()
            .expect("runs")
            .status
            .code()
            == Some(2),
        "an unknown shell is a usage error"
    );
}

/// Whether Graphviz's `dot` runs here.
fn has_graphviz() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every example and test scenario renders in all three formats: text within 80
/// columns, dot naming every container with every address IPAM gave it, mermaid a
/// flowchart; and Graphviz accepts the dot output (when installed).
#[test]
fn graph_draws_every_example() {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["scenarios/examples", "tests/scenarios"] {
        for e in std::fs::read_dir(root().join(dir)).expect("dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 40, "{files:?}");
    let graphviz = has_graphviz();
    if !graphviz {
        common::skip(
            "checking dot output with Graphviz",
            "`dot` is not installed (apt-get install graphviz)",
        );
    }
    for f in &files {
        let render = |format: &str| {
            let out = netloom()
                .args(["graph", "--format", format])
                .arg(f)
                .output()
                .expect("runs");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{} --format {format}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        };
        let text = render("text");
        for l in text.lines() {
            assert!(
                l.chars().count() <= 80,
                "{}: {} columns: {l}",
                f.display(),
                l.chars().count()
            );
        }
        let dot = render("dot");
        let r = netloom_scenarios::load_file(f).expect("loads").resolved;
        for (c, eps) in r.model.containers.iter().zip(&r.endpoints) {
            // The container's node: its name first in the label, then each interface
            // with its addresses.
            let node = dot
                .lines()
                .find(|l| {
                    l.contains(&format!("label=\"{}\\n", c.name))
                        || l.contains(&format!("label=\"{}\"", c.name))
                })
                .unwrap_or_else(|| panic!("{}: no node for {} in {dot}", f.display(), c.name));
            for ep in eps {
                for a in ep
                    .v4
                    .map(|a| a.to_string())
                    .into_iter()
                    .chain(ep.v6.map(|a| a.to_string()))
                {
                    assert!(
                        node.contains(&ep.ifname) && node.contains(&a),
                        "{}: no {} {a} of {} in {node}",
                        f.display(),
                        ep.ifname,
                        c.name
                    );
                }
            }
        }
        assert!(render("mermaid").starts_with("flowchart LR\n"), "{}", f.display());
        if graphviz {
            use std::io::Write;
            let mut child = Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("dot runs");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(dot.as_bytes())
                .expect("write");
            let out = child.wait_with_output().expect("dot ends");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}: Graphviz rejects our dot: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// An invalid file is exit code 2 with the error at its place, as `run` reports it.
#[test]
fn graph_rejects_an_invalid_file() {
    let out = netloom()
        .args(["graph", "tests/fixtures/invalid/unknown-key.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown-key.yaml:5:15: error: unknown key 'adress'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--svg OUT` writes Graphviz's SVG when `dot` is installed; without it, exit code 2
/// and a message saying what to install or which format to use instead.
#[test]
fn graph_svg_through_graphviz() {
    let dir = tmp("graph-svg");
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    let svg = dir.join("out.svg");
    let out = netloom()
        .args(["graph", "scenarios/examples/19-overlay-vxlan.yaml", "--svg"])
        .arg(&svg)
        .env("PATH", &empty)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("apt-get install graphviz") && err.contains("--format dot"),
        "{err}"
    );
    assert!(!svg.exists());

    if !has_graphviz() {
        common::skip("graph --svg", "`dot` is not installed (apt-get install graphviz)");
        return;
    }
    let out = netloom()
        .args(["graph", "scenarios/examples/19-overlay-vxlan.yaml", "--svg"])
        .arg(&svg)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = std::fs::read_to_string(&svg).expect("svg written");
    assert!(body.contains("<svg") && body.contains("</svg>"), "{body}");
    assert!(
        body.contains("10.0.9.2") && body.contains("VXLAN vni"),
        "the drawing holds the model: {body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's "first scenario" is a file that passes as printed.
#[test]
fn readme_first_scenario_passes() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let start = readme.find("Save this as `first.yaml`").expect("the section");
    let rest = &readme[start..];
    let body = rest
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a yaml block");
    let dir = tmp("first");
    let f = dir.join("first.yaml");
    std::fs::write(&f, body).expect("write");
    let out = netloom().arg("run").arg(&f).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("PASS: 4 passed"), "{text}");
}
