//! A scenario file is untrusted text: its names never reach a parser, reading it costs
//! at most the size limit, its errors say what is wrong and where, and running it costs
//! memory bounded by its topology, not by its steps or packets.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netloom_drivers::router::Node;
use netloom_scenarios::{RunOptions, load, run};

mod common;

use common::{binary, root};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netloom-trust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `netloom validate FILE`: exit code and standard error, within `limit`.
fn validate(file: &std::path::Path, limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(binary())
        .arg("validate")
        .arg(file)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netloom runs");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "netloom validate {} did not finish within {limit:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const TWO: &str = "networks:\n  app: {}\ncontainers:\n  web: { networks: [app] }\nsteps: []\n";

/// A container name carrying a newline and an `ip` command once became a command run
/// as root; every kind of name is now held to Docker's rule at its own line and column.
#[test]
fn names_follow_dockers_rule_at_their_place() {
    let cases = [
        (
            "name: n\ncontainers:\n  \"x\\nnetns exec evil rm -rf /\": {}\nsteps: []\n",
            "3:3",
            "a newline",
        ),
        (
            "name: n\nnetworks:\n  \"my net\": {}\nsteps: []\n",
            "3:3",
            "a space",
        ),
        (
            "name: n\nlans:\n  \"../etc\": {}\nsteps: []\n",
            "3:3",
            "'.' cannot start",
        ),
        (
            "name: n\nexternals:\n  \"a/b\": { address: 10.0.0.2/24, lan: x }\nsteps: []\n",
            "3:3",
            "'/'",
        ),
        (
            "name: n\nhosts:\n  host1:\n    interfaces:\n      a-very-long-ifname: { address: 10.0.0.2/24 }\nsteps: []\n",
            "5:7",
            "more than the 15",
        ),
        (
            &format!("name: n\nrouters:\n  {}: {{}}\nsteps: []\n", "r".repeat(64)),
            "3:3",
            "more than the 63",
        ),
    ];
    for (text, at, why) in cases {
        let errs = match load("f.yaml", text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        };
        assert!(errs.contains(&format!("f.yaml:{at}: error: invalid")), "{errs}");
        assert!(errs.contains(why), "{errs}");
    }
    // Names at the limits are fine.
    let ok = format!(
        "name: n\nnetworks:\n  {}: {{}}\ncontainers:\n  a: {{ networks: [{}] }}\nsteps: []\n",
        "n".repeat(63),
        "n".repeat(63)
    );
    assert!(load("f.yaml", &ok).is_ok());
    assert!(load("f.yaml", &format!("name: n\n{TWO}")).is_ok());
}

/// A FIFO blocked `validate` forever and `/dev/zero` was read until memory ran out: the
/// file's type and size are checked before anything is read.
#[test]
fn files_are_checked_before_they_are_read() {
    let dir = tmp("input");
    let fifo = dir.join("pipe.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let (code, err) = validate(&fifo, Duration::from_secs(20));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("not a regular file (a FIFO)"), "{err}");
    }
    let (code, err) = validate(std::path::Path::new("/dev/zero"), Duration::from_secs(20));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("character device"), "{err}");

    // A sparse 3 GB file is refused by its size, without reading it.
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(3 << 30))
        .expect("sparse file");
    let (code, err) = validate(&huge, Duration::from_secs(20));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("3221225472 bytes, more than the 8388608"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each broken limit says which one: a byte index became line:column, and two
/// documents or too many values no longer read "too large, too deeply nested or
/// expands too many aliases".
#[test]
fn errors_say_what_is_wrong() {
    let dir = tmp("errors");
    let latin1 = dir.join("latin1.yaml");
    std::fs::write(&latin1, b"name: n\ndescription: caf\xe9\nsteps: []\n").expect("write");
    let (code, err) = validate(&latin1, Duration::from_secs(20));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("latin1.yaml:2:17: error: the file is not UTF-8"),
        "{err}"
    );

    let e = load("two.yaml", "name: a\nsteps: []\n---\nname: b\nsteps: []\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("two.yaml:3:1: error: the file holds more than one YAML document"),
        "{e}"
    );

    let mut many = String::from("name: a\nsteps:\n");
    for _ in 0..120_000 {
        many.push_str("  - wait: 1s\n");
    }
    let e = load("many.yaml", &many)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("too many values"), "{e}");

    let deep = format!("name: a\nsteps: {}{}\n", "[".repeat(40), "]".repeat(40));
    let e = load("deep.yaml", &deep)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("nests"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names as long as `validate` allows once made `run --pcap` fail half-way: every
/// capture is written, each file name short enough for any file system.
#[test]
fn pcap_files_fit_whatever_the_names() {
    let long = "a".repeat(63);
    let text = format!(
        "name: {n}\nnetworks:\n  {n}: {{}}\ncontainers:\n  {n}: {{ networks: [{n}] }}\n  b{m}: {{ networks: [{n}] }}\nsteps:\n  - ping: {{ from: {n}, to: b{m}, count: 1 }}\n    expect: reach\n",
        n = long,
        m = &long[1..]
    );
    let dir = tmp("pcap");
    let file = dir.join("long.yaml");
    std::fs::write(&file, text).expect("write");
    let caps = dir.join("caps");
    let out = Command::new(binary())
        .args(["run", "--pcap"])
        .arg(&caps)
        .arg(&file)
        .arg(&file)
        .current_dir(root())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(&caps)
        .expect("captures written")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    assert!(
        names.iter().all(|n| n.len() <= 160 && n.ends_with(".pcap")),
        "{names:?}"
    );
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each `connect` step once kept its socket (two 256 KB buffers) and its ephemeral port
/// for the rest of the run: memory grew with the steps, and after 16,384 connects from
/// one machine there was no port left. Finished sockets are reaped now, and a step's
/// trace is its own.
#[test]
fn many_connect_steps_keep_nothing_behind() {
    let mut text = String::from(
        "name: many\nnetworks:\n  app: {}\ncontainers:\n  web: { networks: [app], listen: [tcp/80] }\n  client: { networks: [app] }\nsteps:\n",
    );
    // More than the 16,384 ports of Linux's ephemeral range.
    let steps = 16_500;
    for _ in 0..steps {
        text.push_str("  - connect: { from: client, to: \"web:80\" }\n    expect: ok\n");
    }
    let loaded = load("many.yaml", &text).expect("valid");
    let mut r = run(&loaded, &RunOptions::default());
    assert!(
        r.report.passed(),
        "{}",
        netloom_scenarios::report::text(&r.report)
    );
    assert_eq!(r.report.steps.len(), steps);
    let client = r.lab.node("client").expect("client");
    let (sockets, slots) = r
        .lab
        .fabric
        .element_mut::<Node>(client)
        .map(|n| n.sockets_open())
        .expect("a machine");
    // Those still in TIME_WAIT, not one per step.
    assert!(
        sockets < 100 && slots < 100,
        "{sockets} sockets, {slots} application slots"
    );
    // The trace holds the last step's events only.
    let events = r.lab.fabric.trace().events.len();
    assert!(events < 200, "{events} trace events after {steps} steps");
}

/// `on_wire: { at: h1.mvshim }` never matched although the trace showed the packet
/// crossing `h1.mvshim` (tests/scenarios/on-wire-everywhere.yaml checks it does now);
/// a point that does not exist is an error at its place listing the valid ones.
#[test]
fn on_wire_points_are_the_traces_interfaces() {
    let text = std::fs::read_to_string(root().join("tests/scenarios/on-wire-everywhere.yaml")).expect("read");
    let loaded = load("ok.yaml", &text).expect("valid");
    let r = run(&loaded, &RunOptions::default());
    assert!(
        r.report.passed(),
        "{}",
        netloom_scenarios::report::text(&r.report)
    );
    let bad = text.replace("at: host1.mvshim", "at: host1.mvshmi");
    let e = load("bad.yaml", &bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("'host1.mvshmi' is neither a LAN nor an interface"),
        "{e}"
    );
    assert!(
        e.contains("host1.mvshim") && e.contains("host1.eth0"),
        "lists the valid points: {e}"
    );
}

/// A failed step's trace once showed only the request. It shows every packet the step
/// caused now — the ARP that went unanswered, the ICMP error that came back, the reply
/// that made a wrong expectation fail — each with what it is and where it ended.
#[test]
fn a_failed_steps_trace_shows_every_packet_it_caused() {
    let text = std::fs::read_to_string(root().join("tests/scenarios/arp-unresolved.yaml"))
        .expect("read")
        .replace(
            "expect: { result: no-reach, dropped: arp-unresolved }",
            "expect: reach",
        );
    let loaded = load("arp.yaml", &text).expect("valid");
    let r = run(&loaded, &RunOptions::default());
    let step = &r.report.steps[0];
    let trace = step.trace.join("\n");
    assert_eq!(step.status, netloom_scenarios::Status::Failed, "{trace}");
    assert!(
        trace.contains("sent: ICMP echo request 10.0.1.10 > 10.0.2.77"),
        "{trace}"
    );
    assert!(
        trace.contains("sent: ARP who-has 10.0.2.77 tell 10.0.2.1"),
        "{trace}"
    );
    assert!(trace.contains("DROPPED arp-unresolved"), "{trace}");
    assert!(
        trace.contains("sent: ICMP host unreachable 10.0.1.1 > 10.0.1.10"),
        "{trace}"
    );
    assert!(
        trace.contains("delivered: From 10.0.1.1: Destination Host Unreachable"),
        "{trace}"
    );
    assert!(
        trace.contains("dropped: 1 arp-unresolved"),
        "the fates are counted: {trace}"
    );

    // A reply that arrives where none was expected: the reply's whole way back is shown.
    let reach = "name: r\nnetworks:\n  app: {}\ncontainers:\n  a: { networks: [app] }\n  b: { networks: [app] }\nsteps:\n  - ping: { from: a, to: b, count: 1 }\n    expect: no-reach\n";
    let r = run(&load("r.yaml", reach).expect("valid"), &RunOptions::default());
    let trace = r.report.steps[0].trace.join("\n");
    assert!(trace.contains("sent: ICMP echo reply"), "{trace}");
    assert!(trace.contains("b.eth0") && trace.contains("a.eth0"), "{trace}");
}

/// `--pcap` once kept every frame of the run in memory until the end (a 1 GB transfer
/// held a gigabyte); files are written as frames cross now, with the same bytes a
/// capture kept in memory gives.
#[test]
fn pcap_files_are_written_as_the_run_goes() {
    let text =
        std::fs::read_to_string(root().join("scenarios/examples/19-overlay-vxlan.yaml")).expect("read");
    let loaded = load("19.yaml", &text).expect("valid");
    let memory = run(
        &loaded,
        &RunOptions {
            capture: true,
            ..RunOptions::default()
        },
    );
    let dir = tmp("stream");
    let streamed = run(
        &loaded,
        &RunOptions {
            pcap_dir: Some(dir.clone()),
            ..RunOptions::default()
        },
    );
    let files = match streamed.captures {
        Some(Ok(f)) => f,
        other => panic!("no captures: {other:?}"),
    };
    let links: Vec<_> = memory.lab.fabric.links().map(|(id, _)| id).collect();
    assert_eq!(files.len(), links.len());
    let mut frames = 0;
    for (id, file) in links.into_iter().zip(&files) {
        let mut want = Vec::new();
        netloom_core::capture::write_pcap(&mut want, memory.lab.fabric.captured(id)).expect("in memory");
        frames += memory.lab.fabric.captured(id).len();
        assert_eq!(std::fs::read(file).expect("written"), want, "{}", file.display());
    }
    assert!(frames > 50, "the example moves frames: {frames}");
    let _ = std::fs::remove_dir_all(&dir);
}
