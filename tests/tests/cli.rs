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
