//! `netloom emulate` with real network namespaces, TAPs and programs (root only):
//! the issue's checks — ping, TCP and UDP through a bridge network, a published port
//! from an emulated external, DNS by name with the real resolver, a large DF ping that
//! fails on a small MTU — the example corpus giving the same outcomes as `run`, and
//! nothing left behind on any exit path (normal end, failed step, Ctrl-C, panic,
//! `kill -9` followed by `netloom cleanup`).
//!
//! Without root (or without /dev/net/tun) every test prints why and passes, unless
//! `NETLOOM_REQUIRE_ALL` is set (as `.ci/run` does), which turns the skip into a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use common::{binary, root};

/// Emulation tests share the machine's namespaces; one at a time keeps their checks
/// of "nothing left" independent and the machine's two cores unsaturated.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether this machine can emulate; prints why not (and fails under
/// `NETLOOM_REQUIRE_ALL`).
fn can_emulate(test: &str) -> bool {
    let why = if !common::is_root() {
        Some("not root (emulation needs CAP_NET_ADMIN)")
    } else if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_err()
    {
        Some("/dev/net/tun cannot be opened")
    } else if Command::new("ping").arg("-V").output().is_err() {
        Some("ping (iputils-ping) is not installed")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) => {
            common::skip(test, w);
            false
        }
    }
}

fn netloom(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .current_dir(root())
        .output()
        .expect("netloom runs")
}

/// Namespaces and run records of run `id` that still exist.
fn leftovers(id: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.contains(id))
                .collect()
        })
        .unwrap_or_default();
    if Path::new(&format!("/run/netloom/{id}.json")).exists() {
        v.push(format!("/run/netloom/{id}.json"));
    }
    if std::fs::read_dir("/etc/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(id))
        })
        .unwrap_or(false)
    {
        v.push("/etc/netns entries".into());
    }
    v
}

/// The run id from the banner `live network ID (…`.
fn run_id(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("live network "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no banner in: {text}"))
        .to_string()
}

fn emulate(file: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["emulate", file];
    args.extend_from_slice(extra);
    let out = netloom(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let id = run_id(&stderr);
    assert!(leftovers(&id).is_empty(), "{file} left {:?}", leftovers(&id));
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// Starts `netloom emulate --hold FILE` and waits for its banner; returns the child
/// and the run id. Callers wait for the child ([`wait_exit`]).
#[allow(clippy::zombie_processes)]
fn hold(file: &str, env: Option<(&str, &str)>) -> (Child, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["emulate", "--hold", file])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawns");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => {
                seen.push_str(&l);
                seen.push('\n');
                if l.starts_with("live network ") {
                    // Keep reading stderr in the background so the child never blocks.
                    std::thread::spawn(move || for _ in lines.by_ref() {});
                    return (child, run_id(&seen));
                }
            }
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no banner from netloom emulate --hold: {seen}");
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(st.success());
}

/// Real ping, TCP, UDP and a bulk transfer between two namespaces through the
/// engine's bridge, names through the engine's DNS; a closed TCP port gives a real RST.
#[test]
fn bridge_network_carries_real_traffic() {
    let _g = SERIAL.lock();
    if !can_emulate("bridge_network_carries_real_traffic") {
        return;
    }
    let (code, out, _) = emulate("scenarios/examples/01-one-network.yaml", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(real ping)") && out.contains("(real socket)"),
        "{out}"
    );
}

/// A published port reached from an emulated external; a large ping with DF set fails
/// on the 1400-byte uplink with the router's "frag needed"; DNS by name answered by
/// the embedded DNS and by an upstream name server, through the real resolver.
#[test]
fn published_port_mtu_and_dns_with_real_programs() {
    let _g = SERIAL.lock();
    if !can_emulate("published_port_mtu_and_dns_with_real_programs") {
        return;
    }
    for f in [
        "scenarios/examples/05-published-ports.yaml",
        "scenarios/examples/07-low-mtu-uplink.yaml",
        "scenarios/examples/11-dns-upstream.yaml",
    ] {
        let (code, out, _) = emulate(f, &["--all"]);
        assert_eq!(code, 0, "{f}:\n{out}");
        assert!(out.contains(", 0 skipped,"), "{f} skipped steps:\n{out}");
    }
    let (_, out, _) = emulate("scenarios/examples/07-low-mtu-uplink.yaml", &["--all"]);
    assert!(out.contains("Frag needed and DF set (mtu = 1400)"), "{out}");
    let (_, out, _) = emulate("scenarios/examples/11-dns-upstream.yaml", &["--all"]);
    assert!(out.contains("(getent ahosts)"), "{out}");
}

/// The same file gives the same outcomes under `run` and `emulate`: every example and
/// behaviour scenario passes both ways (steps from hosts and routers, which stay
/// modelled, are skipped under emulate, visibly).
#[test]
fn corpus_gives_the_same_outcomes_both_ways() {
    let _g = SERIAL.lock();
    if !can_emulate("corpus_gives_the_same_outcomes_both_ways") {
        return;
    }
    let mut files = Vec::new();
    for dir in ["scenarios/examples", "tests/scenarios"] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        v.sort();
        files.extend(v);
    }
    let mut failed = Vec::new();
    for f in &files {
        let f = f.to_string_lossy().to_string();
        let run = netloom(&["run", &f]);
        let (code, out, err) = emulate(&f, &["--all"]);
        if run.status.code() != Some(code) {
            failed.push(format!(
                "{f}: run exit {:?}, emulate exit {code}\n{out}{err}",
                run.status.code()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// A failed step: exit 1, and nothing left.
#[test]
fn failed_step_leaves_nothing() {
    let _g = SERIAL.lock();
    if !can_emulate("failed_step_leaves_nothing") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netloom-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("fails.yaml");
    std::fs::write(
        &f,
        "name: fails\nnetworks:\n  a: {}\n  b: {}\ncontainers:\n  x: { networks: [a] }\n  y: { networks: [b] }\nsteps:\n  - ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n",
    )
    .expect("write");
    let (code, out, _) = emulate(&f.to_string_lossy(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("network-isolation"),
        "the engine's reason is reported:\n{out}"
    );
}

/// Ctrl-C on a held network; `ls` and `exec` while it is up; a real resolver inside.
#[test]
fn held_network_exec_ls_and_ctrl_c() {
    let _g = SERIAL.lock();
    if !can_emulate("held_network_exec_ls_and_ctrl_c") {
        return;
    }
    let (mut child, id) = hold("scenarios/examples/01-one-network.yaml", None);
    assert!(!leftovers(&id).is_empty(), "the network is up");
    let ls = String::from_utf8_lossy(&netloom(&["ls"]).stdout).to_string();
    assert!(ls.contains(&id) && ls.contains("live"), "{ls}");
    let ex = netloom(&["exec", "client", "--", "ip", "-br", "addr", "show", "eth0"]);
    assert!(
        String::from_utf8_lossy(&ex.stdout).contains("172.20.0.2/24"),
        "{}",
        String::from_utf8_lossy(&ex.stderr)
    );
    let ex = netloom(&["exec", "client", "--", "getent", "hosts", "web"]);
    assert!(
        String::from_utf8_lossy(&ex.stdout).contains("172.20.0.10"),
        "{ex:?}"
    );
    signal(&child, "INT");
    assert!(wait_exit(&mut child, 30).is_some(), "exits on SIGINT");
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
}

/// A panic with the network up unwinds through the run's guard: nothing left.
#[test]
fn panic_leaves_nothing() {
    let _g = SERIAL.lock();
    if !can_emulate("panic_leaves_nothing") {
        return;
    }
    let (mut child, id) = hold(
        "scenarios/examples/01-one-network.yaml",
        Some(("NETLOOM_TEST_PANIC", "1")),
    );
    let code = wait_exit(&mut child, 30);
    assert_eq!(code, Some(101), "a panic exits with 101");
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
}

/// `kill -9` leaves the namespaces (nothing can run in a killed process); `netloom
/// cleanup` removes them, and the TAPs are already gone with the process.
#[test]
fn kill_9_then_cleanup_leaves_nothing() {
    let _g = SERIAL.lock();
    if !can_emulate("kill_9_then_cleanup_leaves_nothing") {
        return;
    }
    let (mut child, id) = hold("scenarios/examples/02-isolated-networks.yaml", None);
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, 10);
    assert!(!leftovers(&id).is_empty(), "a killed run leaves its namespaces");
    let out = netloom(&["cleanup"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id), "{out:?}");
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    let links = Command::new("ip").args(["-br", "link"]).output().expect("ip");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&format!("nl{id}")),
        "no TAP of the run is left"
    );
}

/// Puts `/dev/net/tun`'s mode back when dropped.
struct TunMode(u32);

impl Drop for TunMode {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(self.0));
    }
}

/// An ordinary user: with `/dev/net/tun` at 0600 netloom says exactly what is missing;
/// at 0666 (the test changes it for its duration and restores it) the network runs in
/// a user namespace of netloom's own, with the same outcomes, and nothing is left.
#[test]
fn ordinary_user_emulates_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let _g = SERIAL.lock();
    if !can_emulate("ordinary_user_emulates_in_a_user_namespace") {
        return;
    }
    let user = "netloom-test";
    if Command::new("id")
        .arg(user)
        .output()
        .is_ok_and(|o| !o.status.success())
    {
        let made = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", user])
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "cannot create the test user {user}");
    }
    let mode = std::fs::metadata("/dev/net/tun")
        .expect("tun")
        .permissions()
        .mode()
        & 0o7777;
    let _restore = TunMode(mode);
    let as_user = |file: &str| {
        let cmd = format!(
            "cd '{}' && '{}' emulate --all {file}",
            root().display(),
            binary().display()
        );
        Command::new("su")
            .args([user, "-s", "/bin/sh", "-c", &cmd])
            .output()
            .expect("su runs")
    };
    std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let denied = as_user("scenarios/examples/01-one-network.yaml");
    assert_eq!(denied.status.code(), Some(2));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("/dev/net/tun, which is mode 600"), "{err}");
    std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let before = std::fs::read_dir("/run/netns").map_or(0, |d| d.count());
    for f in [
        "scenarios/examples/01-one-network.yaml",
        "scenarios/examples/11-dns-upstream.yaml",
    ] {
        let out = as_user(f);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{f}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = std::fs::read_dir("/run/netns").map_or(0, |d| d.count());
    assert_eq!(before, after, "the user's namespaces were private to its run");
}
