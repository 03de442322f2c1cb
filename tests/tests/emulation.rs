//! `netloom emulate` with real network namespaces, TAPs and programs (root only):
//! the issue's checks — ping, TCP and UDP through a bridge network, a published port
//! from an emulated external, DNS by name with the real resolver, a large DF ping that
//! fails on a small MTU — the example corpus giving the same outcomes as `run`, and
//! nothing left behind on any exit path (normal end, failed step, a signal during a
//! step or during set-up, panic, `kill -9` — also during set-up — followed by one
//! `netloom cleanup`), while `cleanup` removes only what a dead run's record names.
//!
//! Without root (or without /dev/net/tun) every test prints why and passes, unless
//! `NETLOOM_REQUIRE_ALL` is set (as `.ci/run` does), which turns the skip into a failure.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{binary, root};

/// Emulation tests share the machine's namespaces; one at a time keeps their checks
/// of "nothing left" independent and the machine's two cores unsaturated.
static SERIAL: Mutex<()> = Mutex::new(());

fn netloom(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .current_dir(root())
        .output()
        .expect("netloom runs")
}

/// Namespaces, run records, `/etc/netns` entries and mounts of run `id` that still
/// exist.
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
    if Path::new(&format!("/run/netloom/{id}")).exists() {
        v.push(format!("/run/netloom/{id}"));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    v.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&format!("nl{id}")) || l.contains(&format!("/run/netloom/{id}")))
            .map(|l| format!("mount: {l}")),
    );
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

/// A scenario file of the test's own, in a temporary directory of this process.
fn scenario(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netloom-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join(format!("{name}.yaml"));
    std::fs::write(&f, text).expect("write");
    f
}

/// A `netloom emulate` running in the background, its output collected.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(file: &Path, extra: &[&str]) -> Running {
        let mut child = Command::new(binary())
            .arg("emulate")
            .arg(file)
            .args(extra)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let collect = |mut r: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let t = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = t.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().expect("piped")));
        let stderr = collect(Box::new(child.stderr.take().expect("piped")));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The run id, once the banner is out (at most 60 s).
    fn wait_banner(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let err = self.stderr();
            if err.lines().any(|l| l.starts_with("live network ")) {
                return run_id(&err);
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "netloom emulate ended ({st}) before its banner:\n{err}{}",
                    self.stdout()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("no banner in 60 s: {}", self.stderr());
    }

    /// Waits for the exit; returns the code and how long it took (`None`: killed
    /// after `secs`).
    fn wait_exit(&mut self, secs: u64) -> (Option<i32>, Duration) {
        let t = Instant::now();
        (wait_exit(&mut self.child, secs), t.elapsed())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Pids of processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
                })
                .collect()
        })
        .unwrap_or_default()
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
    if !common::can_emulate("bridge_network_carries_real_traffic") {
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
    if !common::can_emulate("published_port_mtu_and_dns_with_real_programs") {
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

/// A compose file runs live as it is: its default checks (WordPress reaching its
/// database by name, the published port from an outside client) pass with real
/// programs in real namespaces, as under `run`.
#[test]
fn a_compose_file_emulates_as_it_runs() {
    let _g = SERIAL.lock();
    if !common::can_emulate("a_compose_file_emulates_as_it_runs") {
        return;
    }
    let f = "scenarios/tests/fixtures/compose/projects/wordpress-mysql.yaml";
    let (code, out, err) = emulate(f, &["--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(real socket)") && out.contains(", 0 skipped,"),
        "{out}"
    );
    assert!(out.contains("projects-wordpress-1"), "{out}");
}

/// NetworkPolicies police real traffic: the guards sit at the pods' bridge ports in
/// the engine, so a real kernel's SYN from a pod the policy does not admit is dropped
/// (reason `policy`), an admitted one connects, and the replies of the admitted
/// connection pass the isolated pod's port.
#[test]
fn policies_police_real_traffic() {
    let _g = SERIAL.lock();
    if !common::can_emulate("policies_police_real_traffic") {
        return;
    }
    let f = scenario(
        "policy",
        "name: policy-live\n\
         networks:\n  app: {}\n\
         containers:\n\
         \x20 web: { networks: [app], labels: { role: web } }\n\
         \x20 db: { networks: [app], labels: { role: db }, listen: [tcp/5432] }\n\
         \x20 other: { networks: [app] }\n\
         policies:\n\
         \x20 - name: db-allow-web\n\
         \x20   select: { role: db }\n\
         \x20   ingress:\n\
         \x20     - from: [{ labels: { role: web } }]\n\
         \x20       ports: [tcp/5432]\n\
         steps:\n\
         \x20 - connect: { from: web, to: \"db:5432\" }\n\
         \x20   expect: ok\n\
         \x20 - connect: { from: other, to: \"db:5432\" }\n\
         \x20   expect: { result: timeout, dropped: policy }\n",
    );
    let f = f.to_string_lossy().to_string();
    let (code, out, err) = emulate(&f, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(real socket)"), "{out}");
    assert!(out.contains("db-allow-web"), "the drop names the policy:\n{out}");
}

/// The same file gives the same outcomes under `run` and `emulate`: every example and
/// behaviour scenario passes both ways (steps from hosts and routers, which stay
/// modelled, run on the engine's model of them). The teaching labs have their own,
/// step-by-step test: `labs_give_the_same_outcomes_both_ways`.
#[test]
fn corpus_gives_the_same_outcomes_both_ways() {
    let _g = SERIAL.lock();
    if !common::can_emulate("corpus_gives_the_same_outcomes_both_ways") {
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

/// The teaching labs (scenarios/labs/) give the same outcome step by step under `run`
/// and `emulate --all`: what the guide tells a student holds on real namespaces too.
/// Only `reachability` (a policy truth table, probed through the model) is skipped
/// under `emulate`; every other step must have the same status both ways.
#[test]
fn labs_give_the_same_outcomes_both_ways() {
    let _g = SERIAL.lock();
    if !common::can_emulate("labs_give_the_same_outcomes_both_ways") {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios/labs"))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "six labs");
    // Each step line of the text report: `✓  3. title  [line 54]` -> (54, mark, title).
    // (The text report, not `--json`: only it carries the banner with the run id that
    // `emulate` needs for its check that nothing is left behind.)
    let steps = |text: &str| -> Vec<(u64, char, String)> {
        text.lines()
            .filter_map(|l| {
                let mark = l.chars().next().filter(|c| matches!(c, '✓' | '✗' | '-' | '·'))?;
                let rest = l[mark.len_utf8()..].trim_start();
                let (num, rest) = rest.split_once(". ")?;
                num.parse::<usize>().ok()?;
                let (title, line) = rest.rsplit_once("[line ")?;
                let line = line.strip_suffix(']')?.parse().ok()?;
                Some((line, mark, title.trim().to_string()))
            })
            .collect()
    };
    let mut failed = Vec::new();
    for f in &files {
        let f = f.to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).expect("readable");
        let run = netloom(&["run", &f]);
        let run_out = String::from_utf8_lossy(&run.stdout).to_string();
        assert_eq!(run.status.code(), Some(0), "{f} passes under run:\n{run_out}");
        let ran = steps(&run_out);
        assert!(!ran.is_empty(), "{f}: no steps in\n{run_out}");
        let (code, out, err) = emulate(&f, &["--all"]);
        if code != 0 {
            failed.push(format!("{f}: emulate exit {code}\n{out}{err}"));
            continue;
        }
        let emulated = steps(&out);
        if ran.len() != emulated.len() {
            failed.push(format!(
                "{f}: {} steps under run, {} under emulate\n{out}",
                ran.len(),
                emulated.len()
            ));
            continue;
        }
        for ((line, a, title), (_, b, _)) in ran.iter().zip(&emulated) {
            // A step starts at `line`; its action is on that line or the next.
            let at = usize::try_from(*line).unwrap_or(0).saturating_sub(1);
            let is_matrix = text.lines().skip(at).take(2).any(|l| l.contains("reachability:"));
            if !(a == b || (is_matrix && *b == '-')) {
                failed.push(format!(
                    "{f}:{line} {title}: {a} under run, {b} under emulate\n{out}"
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// A failed step: exit 1, and nothing left.
#[test]
fn failed_step_leaves_nothing() {
    let _g = SERIAL.lock();
    if !common::can_emulate("failed_step_leaves_nothing") {
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
    if !common::can_emulate("held_network_exec_ls_and_ctrl_c") {
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
    if !common::can_emulate("panic_leaves_nothing") {
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
    if !common::can_emulate("kill_9_then_cleanup_leaves_nothing") {
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
    if !common::can_emulate("ordinary_user_emulates_in_a_user_namespace") {
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

/// Deletes a namespace the test made itself (with `ip netns`, the tool a user would
/// use) when dropped, also when the test fails.
struct TestNamespace(String);

impl TestNamespace {
    fn add(name: &str) -> TestNamespace {
        let st = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("ip runs");
        assert!(st.success(), "ip netns add {name}");
        TestNamespace(name.to_string())
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if Path::new("/run/netns").join(&self.0).exists() {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
}

/// Removes a run record the test wrote when dropped.
struct TestRecord(PathBuf);

impl Drop for TestRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `cleanup` deletes only what a dead run's record names: a namespace shaped like
/// netloom's that no record names (here one the test made itself) is reported and
/// left alone.
#[test]
fn cleanup_leaves_a_foreign_namespace_alone() {
    let _g = SERIAL.lock();
    if !common::can_emulate("cleanup_leaves_a_foreign_namespace_alone") {
        return;
    }
    let name = format!("nl1234abcd-x{}", std::process::id());
    let _ns = TestNamespace::add(&name);
    let out = netloom(&["cleanup"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        Path::new("/run/netns").join(&name).exists(),
        "cleanup deleted a namespace netloom did not make:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("left alone") && l.contains(&name)),
        "the foreign namespace is reported:\n{text}"
    );
}

/// A run counts as alive only while its pid is the same process (same start time):
/// a record whose pid now belongs to another process — even one whose command line
/// says "netloom" — is dead, so `ls` says so and `cleanup` removes what it names.
#[test]
fn a_record_whose_pid_was_reused_is_dead() {
    use std::os::unix::process::CommandExt;
    let _g = SERIAL.lock();
    if !common::can_emulate("a_record_whose_pid_was_reused_is_dead") {
        return;
    }
    // Another process that happens to have the recorded pid, and "netloom" in its
    // command line.
    let mut imposter = Command::new("sleep")
        .arg0("netloom-imposter")
        .arg("60")
        .spawn()
        .expect("sleep runs");
    let pid = imposter.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let started: u64 = stat[stat.rfind(')').expect(")") + 1..]
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .expect("start time");
    let id = format!("{:08x}", 0x5eed_0000u32 | (std::process::id() & 0xffff));
    let ns = format!("nl{id}-x");
    let _ns = TestNamespace::add(&ns);
    std::fs::create_dir_all("/run/netloom").expect("run dir");
    let record = TestRecord(PathBuf::from(format!("/run/netloom/{id}.json")));
    // The run that wrote it started one tick before the process now holding its pid.
    std::fs::write(
        &record.0,
        format!(
            r#"{{"id":"{id}","pid":{pid},"start_time":{},"file":"gone.yaml","namespaces":[["x","{ns}"]]}}"#,
            started.saturating_sub(1)
        ),
    )
    .expect("record");
    let ls = String::from_utf8_lossy(&netloom(&["ls"]).stdout).to_string();
    let line = ls
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_default()
        .to_string();
    let out = netloom(&["cleanup"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let _ = imposter.kill();
    let _ = imposter.wait();
    assert!(line.contains("dead"), "ls: {ls}");
    assert!(!record.0.exists(), "the dead run's record is removed:\n{text}");
    assert!(
        !Path::new("/run/netns").join(&ns).exists(),
        "the dead run's namespace is removed:\n{text}"
    );
}

/// The scenario of the interruption tests: two containers on one network, a step that
/// takes long, and a step after it.
fn long_step_scenario(name: &str, step: &str) -> PathBuf {
    scenario(
        name,
        &format!(
            "name: {name}\nnetworks:\n  n: {{}}\ncontainers:\n  a: {{ networks: [n] }}\n  b: {{ networks: [n] }}\nsteps:\n  - name: the long one\n    {step}\n  - name: the one after\n    ping: {{ from: a, to: b, count: 1 }}\n    expect: reach\n"
        ),
    )
}

/// A signal during a long step — `wait: 30s`, a 200-count ping, an `exec` of `sleep
/// 40` — ends the run at once (the issue asks for 100 ms; asserted loosely), tears it
/// down, reports the running and the following steps as not run, and exits 130.
/// SIGHUP (a closed terminal) and SIGTERM do the same as SIGINT.
#[test]
fn a_signal_during_a_long_step_ends_the_run_at_once() {
    let _g = SERIAL.lock();
    if !common::can_emulate("a_signal_during_a_long_step_ends_the_run_at_once") {
        return;
    }
    for (kind, step, sig) in [
        ("wait", "wait: 30s", "INT"),
        ("ping", "ping: { from: a, to: b, count: 200 }", "INT"),
        ("exec", "exec: { in: a, run: \"sleep 40.517\" }", "INT"),
        ("exec-hup", "exec: { in: a, run: \"sleep 40.517\" }", "HUP"),
        ("ping-term", "ping: { from: a, to: b, count: 200 }", "TERM"),
    ] {
        let f = long_step_scenario(&format!("interrupt-{kind}"), step);
        let mut run = Running::start(&f, &[]);
        let id = run.wait_banner();
        // Let the long step begin.
        std::thread::sleep(Duration::from_millis(700));
        signal(&run.child, sig);
        let (code, took) = run.wait_exit(20);
        let out = run.stdout();
        assert_eq!(code, Some(130), "{kind}/{sig}: exit code\n{out}{}", run.stderr());
        assert!(
            took < Duration::from_secs(2),
            "{kind}/{sig}: took {took:?} to end"
        );
        assert!(
            out.contains("1. the long one") && out.contains("interrupted while running"),
            "{kind}/{sig}: the running step is reported as cut short:\n{out}"
        );
        assert!(
            out.lines()
                .skip_while(|l| !l.contains("2. the one after"))
                .take(2)
                .any(|l| l.contains("not run (interrupted)")),
            "{kind}/{sig}: the step after is reported as not run:\n{out}"
        );
        assert!(leftovers(&id).is_empty(), "{kind}/{sig}: {:?}", leftovers(&id));
        assert!(
            processes_with("40.517").is_empty(),
            "{kind}/{sig}: the exec step's program was killed"
        );
    }
}

/// A scenario of `n` containers on 4 networks and one step.
fn large_scenario(n: usize) -> PathBuf {
    let mut s = String::from("name: large\nnetworks:\n");
    for k in 0..4 {
        s.push_str(&format!(
            "  n{k}: {{ ipam: {{ config: [ {{ subnet: 10.{}.0.0/16 }} ] }} }}\n",
            80 + k
        ));
    }
    s.push_str("containers:\n");
    for i in 0..n {
        s.push_str(&format!("  c{i}: {{ networks: [n{}] }}\n", i % 4));
    }
    s.push_str("steps:\n  - wait: 1s\n");
    scenario(&format!("large-{n}"), &s)
}

/// The id of the run record process `pid` writes, waiting at most 30 s for it.
fn record_of(pid: u32) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mine = format!("\"pid\": {pid},");
    while Instant::now() < deadline {
        for id in records() {
            if std::fs::read_to_string(format!("/run/netloom/{id}.json")).is_ok_and(|t| t.contains(&mine)) {
                return Some(id);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn records() -> Vec<String> {
    std::fs::read_dir("/run/netloom")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How many namespaces of run `id` exist.
fn namespaces_of(id: &str) -> usize {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("nl{id}-")))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until run `id` has made at least `n` namespaces (at most 30 s).
fn wait_for_namespaces(id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while namespaces_of(id) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGINT during set-up of a large network: the set-up stops, everything made so far
/// is removed, the steps are reported as not run, exit 130.
#[test]
fn a_signal_during_set_up_removes_what_was_made() {
    let _g = SERIAL.lock();
    if !common::can_emulate("a_signal_during_set_up_removes_what_was_made") {
        return;
    }
    let f = large_scenario(1500);
    let mut run = Running::start(&f, &[]);
    let id = record_of(run.child.id()).expect("the run writes its record");
    wait_for_namespaces(&id, 20);
    signal(&run.child, "INT");
    let (code, took) = run.wait_exit(30);
    let out = run.stdout();
    assert_eq!(code, Some(130), "{out}{}", run.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?} to end");
    assert!(out.contains("not run (interrupted)"), "{out}");
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
}

/// `kill -9` in the middle of setting up a large network, then one `netloom cleanup`:
/// nothing of the run is left — no namespace, TAP, mount, `/etc/netns` entry or
/// record — and nothing appears afterwards (no helper process of the killed run goes
/// on creating namespaces).
#[test]
fn kill_9_during_set_up_then_one_cleanup_leaves_nothing() {
    let _g = SERIAL.lock();
    if !common::can_emulate("kill_9_during_set_up_then_one_cleanup_leaves_nothing") {
        return;
    }
    let f = large_scenario(1500);
    let mut run = Running::start(&f, &[]);
    let id = record_of(run.child.id()).expect("the run writes its record");
    wait_for_namespaces(&id, 50);
    signal(&run.child, "KILL");
    let _ = run.wait_exit(10);
    assert!(namespaces_of(&id) > 0, "the killed run left namespaces");
    let out = netloom(&["cleanup"]);
    assert!(out.status.success());
    assert!(leftovers(&id).is_empty(), "after cleanup: {:?}", leftovers(&id));
    std::thread::sleep(Duration::from_secs(1));
    assert!(leftovers(&id).is_empty(), "a second later: {:?}", leftovers(&id));
}

/// Programs an `exec` step leaves running in the background — in its process group
/// or in a new session of their own — do not outlive the run.
#[test]
fn an_exec_steps_background_program_does_not_outlive_the_run() {
    let _g = SERIAL.lock();
    if !common::can_emulate("an_exec_steps_background_program_does_not_outlive_the_run") {
        return;
    }
    let f = scenario(
        "background",
        "name: background\nnetworks:\n  n: {}\ncontainers:\n  a: { networks: [n] }\nsteps:\n  - exec: { in: a, run: \"sleep 100.2513 >/dev/null 2>&1 & setsid sleep 100.5127 >/dev/null 2>&1 & echo started\" }\n    expect: { exit: 0, stdout: started }\n",
    );
    let (code, out, _) = emulate(&f.to_string_lossy(), &[]);
    assert_eq!(code, 0, "{out}");
    let left = [processes_with("100.2513"), processes_with("100.5127")].concat();
    for pid in &left {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    assert!(left.is_empty(), "background programs outlived the run: {left:?}");
}

/// A program started with `netloom exec` in a held network dies when the network is
/// torn down, instead of keeping a namespace nobody can name alive.
#[test]
fn a_netloom_exec_program_dies_with_the_network() {
    let _g = SERIAL.lock();
    if !common::can_emulate("a_netloom_exec_program_dies_with_the_network") {
        return;
    }
    let (mut child, id) = hold("scenarios/examples/01-one-network.yaml", None);
    let mut program = Command::new(binary())
        .args(["exec", "client", "--", "sleep", "100.7531"])
        .current_dir(root())
        .spawn()
        .expect("netloom exec runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with("100.7531").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!processes_with("100.7531").is_empty(), "the program runs");
    signal(&child, "INT");
    assert!(wait_exit(&mut child, 30).is_some(), "exits on SIGINT");
    let ended = wait_exit(&mut program, 5);
    assert!(
        ended.is_some(),
        "the program started with netloom exec outlived the network"
    );
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
}

/// Names that used to reach `ip`'s parser: a container name with a space runs (or,
/// where validation refuses it, exits 2) without leaving anything behind; names the
/// kernel or the file system cannot take stop the run with exit 2 before anything —
/// record, namespace, mount — is made.
#[test]
fn odd_names_leave_nothing_behind() {
    let _g = SERIAL.lock();
    if !common::can_emulate("odd_names_leave_nothing_behind") {
        return;
    }
    let namespaces = || -> Vec<String> {
        std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let long = "x".repeat(300);
    for (name, must_refuse) in [("web server", false), ("a/b", true), (long.as_str(), true)] {
        let f = scenario(
            "odd-name",
            &format!(
                "name: odd\nnetworks:\n  n: {{}}\ncontainers:\n  \"{name}\": {{ networks: [n] }}\n  peer: {{ networks: [n] }}\n"
            ),
        );
        let ns_before = namespaces();
        let rec_before = records();
        let out = netloom(&["emulate", &f.to_string_lossy()]);
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let new_ns: Vec<String> = namespaces()
            .into_iter()
            .filter(|n| {
                !ns_before.contains(n) && (n.ends_with("-peer") || n.contains("-web") || n.contains("-a"))
            })
            .collect();
        let new_rec: Vec<String> = records()
            .into_iter()
            .filter(|r| !rec_before.contains(r))
            .collect();
        if must_refuse {
            assert_eq!(code, Some(2), "{name:.20}: {err}");
            assert!(
                !err.contains("live network"),
                "{name:.20}: refused before the network was made: {err}"
            );
        } else {
            assert!(matches!(code, Some(0 | 2)), "{name}: {err}");
            if code == Some(0) {
                assert!(
                    leftovers(&run_id(&err)).is_empty(),
                    "{:?}",
                    leftovers(&run_id(&err))
                );
            }
        }
        assert!(new_ns.is_empty(), "{name:.20}: left {new_ns:?}: {err}");
        assert!(new_rec.is_empty(), "{name:.20}: left records {new_rec:?}");
    }
}

/// No `ip` process anywhere in a run: with an `ip` first on the PATH that only
/// records that it ran, the network is still built, its steps pass, and it never ran.
#[test]
fn no_ip_process_is_started() {
    let _g = SERIAL.lock();
    if !common::can_emulate("no_ip_process_is_started") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netloom-noip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let marker = dir.join("ip-ran");
    let fake = dir.join("ip");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display()),
    )
    .expect("fake ip");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(binary())
        .args(["emulate", "scenarios/examples/01-one-network.yaml"])
        .current_dir(root())
        .env("PATH", path)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!marker.exists(), "netloom started `ip`:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Frames of a pcap file: (link-layer bytes) per record.
fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, pcap) = pcap_parser::parse_pcap(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a valid pcap file: {e:?}", path.display()));
    pcap.blocks.iter().map(|b| b.data.to_vec()).collect()
}

/// IPv4 source, destination, protocol, and the first four bytes of the L4 header.
type Ipv4Head = ([u8; 4], [u8; 4], u8, [u8; 4]);

/// The [`Ipv4Head`] of a frame.
fn ipv4_of(frame: &[u8]) -> Option<Ipv4Head> {
    if frame.len() < 14 + 20 + 4 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let l4 = ip.get(ihl..ihl + 4)?;
    Some((
        ip[12..16].try_into().ok()?,
        ip[16..20].try_into().ok()?,
        ip[9],
        l4.try_into().ok()?,
    ))
}

/// `emulate --pcap DIR` writes one capture per link, named as `run --pcap` names
/// them, holding the steps' real frames as they crossed the engine: the client's
/// ICMP echo requests and its TCP SYN to web:80 on the client's link.
#[test]
fn emulate_pcap_captures_the_steps_frames() {
    let _g = SERIAL.lock();
    if !common::can_emulate("emulate_pcap_captures_the_steps_frames") {
        return;
    }
    let base = std::env::temp_dir().join(format!("netloom-emu-pcap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (live_dir, run_dir) = (base.join("emulate"), base.join("run"));
    let f = "scenarios/examples/01-one-network.yaml";
    let (code, out, err) = emulate(f, &["--pcap", &live_dir.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");
    let run = netloom(&["run", f, "--pcap", &run_dir.to_string_lossy()]);
    assert_eq!(run.status.code(), Some(0));
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("capture dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let live_names = names(&live_dir);
    let run_names = names(&run_dir);
    assert!(!live_names.is_empty());
    // Every link of the model has its file under both commands (emulate's TAP links
    // come on top).
    for n in &run_names {
        assert!(live_names.contains(n), "emulate wrote no {n}: {live_names:?}");
    }
    let client = live_names
        .iter()
        .find(|n| n.contains("client.eth0") && !n.contains("tap"))
        .unwrap_or_else(|| panic!("no capture of client.eth0 in {live_names:?}"));
    let frames = pcap_frames(&live_dir.join(client));
    let (client_ip, web_ip) = ([172, 20, 0, 2], [172, 20, 0, 10]);
    let echo = frames
        .iter()
        .filter_map(|f| ipv4_of(f))
        .any(|(s, d, p, l4)| s == client_ip && d == web_ip && p == 1 && l4[0] == 8);
    let syn80 = frames
        .iter()
        .filter_map(|f| ipv4_of(f))
        .any(|(s, d, p, l4)| s == client_ip && d == web_ip && p == 6 && l4[2..4] == [0, 80]);
    assert!(
        echo,
        "no echo request client -> web in {client} ({} frames)",
        frames.len()
    );
    assert!(syn80, "no TCP to web:80 in {client} ({} frames)", frames.len());

    // A run that panics with the network up still leaves a complete capture: a
    // readable file for every link.
    let panic_dir = base.join("panic");
    let out = Command::new(binary())
        .args(["emulate", f, "--pcap"])
        .arg(&panic_dir)
        .env("NETLOOM_TEST_PANIC", "1")
        .current_dir(root())
        .output()
        .expect("netloom runs");
    assert_eq!(out.status.code(), Some(101));
    let id = run_id(&String::from_utf8_lossy(&out.stderr));
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert_eq!(names(&panic_dir), live_names);
    for n in &live_names {
        pcap_frames(&panic_dir.join(n));
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Each step's mark (✓, ✗, -, ·) in a text report, in order.
fn step_marks(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| {
            let (mark, rest) = l.split_once(' ')?;
            let rest = rest.trim_start();
            let num = rest.split_once(". ")?.0;
            (num.parse::<u32>().is_ok() && mark.chars().count() == 1).then(|| format!("{num}{mark}"))
        })
        .collect()
}

/// `run` and `emulate` (with `extra`) of `file`: exit codes and step marks agree;
/// returns emulate's report.
fn same_both_ways(file: &str, extra: &[&str]) -> String {
    let run = netloom(&["run", file]);
    let run_out = String::from_utf8_lossy(&run.stdout).to_string();
    let (code, out, err) = emulate(file, extra);
    assert_eq!(
        step_marks(&run_out),
        step_marks(&out),
        "{file}: run and emulate disagree per step\n--- run:\n{run_out}\n--- emulate:\n{out}{err}"
    );
    assert!(!step_marks(&out).is_empty(), "{file}: no steps in\n{out}");
    assert_eq!(run.status.code(), Some(code), "{file}:\n{out}");
    out
}

/// Steps from a host and a router (machines the engine models) run on the model in
/// real time and meet the real namespaces: the host connects to a real container
/// (and is refused by its real kernel on a closed port), the router pings the host
/// and reaches the container through the host's published port. Nothing is skipped;
/// the outcomes are `run`'s; exec from a host fails, saying it needs a namespace.
#[test]
fn modelled_machines_run_their_steps_on_the_model() {
    let _g = SERIAL.lock();
    if !common::can_emulate("modelled_machines_run_their_steps_on_the_model") {
        return;
    }
    let f = scenario(
        "model-steps",
        r#"name: model-steps
seed: 1
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: office }
    gateway: 192.168.1.1
lans:
  office: {}
routers:
  gw:
    interfaces:
      lan: { address: 192.168.1.1/24, lan: office }
networks:
  app:
    driver: bridge
    ipam:
      config:
        - { subnet: 172.30.0.0/24 }
containers:
  api: { networks: { app: {} }, listen: [tcp/80], ports: ["8080:80"] }
steps:
  - connect: { from: host1, to: "api:80" }
    expect: ok
  - connect: { from: host1, to: "api:81" }
    expect: { result: refused, dropped: no-listener }
  - ping: { from: gw, to: 192.168.1.10, count: 2 }
    expect: reach
  - connect: { from: gw, to: "192.168.1.10:8080" }
    expect: ok
  - transfer: { from: host1, to: "api:80", bytes: 200KB }
    expect: ok
  - resolve: { from: host1, name: api }
    expect: nxdomain
"#,
    );
    let out = same_both_ways(&f.to_string_lossy(), &[]);
    assert!(out.contains(", 0 skipped,"), "{out}");
    assert!(out.contains("(on the model of host1)"), "{out}");
    assert!(out.contains("(on the model of gw)"), "{out}");
    assert!(out.contains("PASS"), "{out}");

    let exec = scenario(
        "model-exec",
        r#"name: model-exec
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: office }
lans:
  office: {}
containers:
  api: {}
steps:
  - exec: { in: host1, run: "true" }
    expect: { exit: 0 }
"#,
    );
    let (code, out, _) = emulate(&exec.to_string_lossy(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("exec needs a real namespace"), "{out}");
    assert!(out.contains(", 0 skipped,"), "{out}");
}

/// `on_wire` under emulate: the same check as `run` over the frames the sender's TAP
/// (or a modelled sender) put on the wire — one that holds passes, one that does not
/// hold fails, both ways.
#[test]
fn on_wire_is_checked_under_emulate_as_under_run() {
    let _g = SERIAL.lock();
    if !common::can_emulate("on_wire_is_checked_under_emulate_as_under_run") {
        return;
    }
    let text = |src: &str| {
        format!(
            r#"name: wire-check
seed: 1
hosts:
  host1:
    interfaces:
      eth0: {{ address: 192.168.1.10/24, lan: office }}
    gateway: 192.168.1.1
lans:
  office: {{}}
  internet: {{}}
routers:
  gw:
    interfaces:
      lan: {{ address: 192.168.1.1/24, lan: office }}
      wan: {{ address: 203.0.113.1/24, lan: internet }}
    masquerade: wan
externals:
  web: {{ address: 203.0.113.10/24, lan: internet, gateway: 203.0.113.1, listen: [tcp/80] }}
containers:
  app: {{}}
steps:
  - ping: {{ from: gw, to: web, count: 1 }}
    expect: {{ result: reach, on_wire: {{ at: web.eth0, ttl: 64 }} }}
  - connect: {{ from: host1, to: "web:80" }}
    expect: {{ result: ok, on_wire: {{ at: internet, src: 203.0.113.1, proto: tcp }} }}
  - ping: {{ from: app, to: web, count: 1 }}
    expect:
      result: reach
      on_wire: {{ at: app.eth0, src: {src}, dst: 203.0.113.10 }}
  - connect: {{ from: app, to: "web:80" }}
    expect:
      result: ok
      on_wire: {{ at: internet, src: 203.0.113.1, dst: 203.0.113.10, proto: tcp }}
"#
        )
    };
    let holds = scenario("wire-holds", &text("172.17.0.2"));
    let out = same_both_ways(&holds.to_string_lossy(), &[]);
    assert!(out.contains("PASS") && out.contains(", 0 skipped,"), "{out}");
    let fails = scenario("wire-fails", &text("172.17.0.99"));
    let out = same_both_ways(&fails.to_string_lossy(), &[]);
    assert!(
        out.contains("on the wire at app.eth0") && out.contains("(expected 172.17.0.99)"),
        "{out}"
    );
}

/// The same file gives the same verdict per step under `run` and `emulate` for
/// scenarios with steps from containers, hosts, routers and externals.
#[test]
fn same_step_verdicts_both_ways() {
    let _g = SERIAL.lock();
    if !common::can_emulate("same_step_verdicts_both_ways") {
        return;
    }
    for f in [
        "scenarios/examples/01-one-network.yaml",
        "scenarios/examples/06-masquerade.yaml",
        "scenarios/examples/15-macvlan-host-isolation.yaml",
        "scenarios/examples/16-macvlan-shim.yaml",
        "tests/scenarios/published-from-host.yaml",
        "tests/scenarios/router-between-vlans.yaml",
        "tests/scenarios/on-wire-everywhere.yaml",
        "tests/scenarios/connect-no-route.yaml",
    ] {
        let out = same_both_ways(f, &[]);
        assert!(out.contains(", 0 skipped,"), "{f}:\n{out}");
    }
}

/// Docker's embedded DNS is live under emulate for every driver: a stopped macvlan or
/// overlay container's name gives NXDOMAIN (as under `run`), and resolves again once
/// it starts; names the directory does not know are relayed upstream from the
/// container's namespace (a macvlan container asks a real resolver through the LAN).
#[test]
fn stopped_macvlan_and_overlay_containers_give_nxdomain_live() {
    let _g = SERIAL.lock();
    if !common::can_emulate("stopped_macvlan_and_overlay_containers_give_nxdomain_live") {
        return;
    }
    let f = scenario(
        "dns-live",
        r#"name: dns-live
seed: 1
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: site-a }
    gateway: 192.168.1.1
  host2:
    interfaces:
      eth0: { address: 192.168.1.20/24, lan: site-a }
    gateway: 192.168.1.1
lans:
  site-a: {}
routers:
  gw:
    interfaces:
      a: { address: 192.168.1.1/24, lan: site-a }
networks:
  lan:
    driver: macvlan
    host: host1
    ipam:
      config:
        - { subnet: 192.168.1.0/24, gateway: 192.168.1.1, ip_range: 192.168.1.128/25 }
    driver_opts: { parent: eth0 }
  appnet:
    driver: overlay
    hosts: [host1, host2]
    ipam: { config: [ { subnet: 10.0.9.0/24 } ] }
containers:
  web: { host: host1, networks: { lan: {} } }
  db: { host: host1, networks: { lan: {} } }
  api: { host: host1, networks: { appnet: { ipv4_address: 10.0.9.2 } } }
  cache: { host: host2, networks: { appnet: { ipv4_address: 10.0.9.3 } } }
steps:
  - resolve: { from: web, name: db }
    expect: { addresses: [192.168.1.129] }
  - resolve: { from: api, name: cache }
    expect: { addresses: [10.0.9.3] }
  - container: { name: db, state: stopped }
  - container: { name: cache, state: stopped }
  - resolve: { from: web, name: db }
    expect: nxdomain
  - resolve: { from: api, name: cache }
    expect: nxdomain
  - container: { name: db, state: started }
  - resolve: { from: web, name: db }
    expect: { addresses: [192.168.1.129] }
"#,
    );
    let out = same_both_ways(&f.to_string_lossy(), &[]);
    assert!(out.contains("PASS"), "{out}");

    let up = scenario(
        "dns-live-upstream",
        r#"name: dns-live-upstream
seed: 1
hosts:
  host1:
    interfaces:
      eth0: { address: 192.168.1.10/24, lan: office }
    dns: [192.168.1.53]
lans:
  office: {}
externals:
  resolver:
    address: 192.168.1.53/24
    lan: office
    dns_records:
      intranet.corp.example: [192.168.1.80]
networks:
  lan:
    driver: macvlan
    host: host1
    ipam:
      config:
        - { subnet: 192.168.1.0/24, gateway: 192.168.1.1, ip_range: 192.168.1.128/25 }
    driver_opts: { parent: eth0 }
containers:
  web: { host: host1, networks: { lan: {} } }
steps:
  - resolve: { from: web, name: intranet.corp.example }
    expect: { addresses: [192.168.1.80] }
  - resolve: { from: web, name: nothere.corp.example }
    expect: nxdomain
"#,
    );
    let out = same_both_ways(&up.to_string_lossy(), &["--all"]);
    assert!(out.contains("PASS") && out.contains("(getent ahosts)"), "{out}");
}

/// `emulate --json` prints the report structure `run --json` prints (a list of one
/// scenario report with the same keys and step verdicts), and `emulate --junit PATH`
/// writes the JUnit XML `run --junit` writes.
#[test]
fn emulate_writes_json_and_junit_reports() {
    let _g = SERIAL.lock();
    if !common::can_emulate("emulate_writes_json_and_junit_reports") {
        return;
    }
    let f = scenario(
        "reports",
        "name: reports\nnetworks:\n  a: {}\n  b: {}\ncontainers:\n  x: { networks: [a] }\n  y: { networks: [a] }\n  z: { networks: [b] }\nsteps:\n  - ping: { from: x, to: y, count: 1 }\n    expect: reach\n  - name: \"isolated <&>\"\n    ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n",
    );
    let file = f.to_string_lossy().to_string();
    let xml_path = f.with_extension("xml");
    let xml_arg = xml_path.to_string_lossy().to_string();
    // (`--json` prints no banner, so the run id for `emulate`'s leftover check is not
    // known here; the other tests check teardown.)
    let o = netloom(&["emulate", &file, "--json", "--junit", &xml_arg]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let live: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let sim = netloom(&["run", &file, "--json"]);
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).expect("run --json");
    // Per report: its sorted keys, and each step's title and status.
    type Shape = Vec<(Vec<String>, Vec<(String, String)>)>;
    let shape = |v: &serde_json::Value| -> Shape {
        v.as_array()
            .expect("a list of reports")
            .iter()
            .map(|r| {
                let mut keys: Vec<String> = r.as_object().expect("object").keys().cloned().collect();
                keys.sort();
                let steps = r["steps"]
                    .as_array()
                    .expect("steps")
                    .iter()
                    .map(|s| (s["title"].to_string(), s["status"].to_string()))
                    .collect();
                (keys, steps)
            })
            .collect()
    };
    assert_eq!(shape(&live), shape(&sim), "{out}");
    let xml = std::fs::read_to_string(&xml_path).expect("emulate --junit wrote the file");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("name"), Some("reports"));
    assert_eq!(
        (
            suite.attribute("tests"),
            suite.attribute("failures"),
            suite.attribute("errors")
        ),
        (Some("2"), Some("1"), Some("0")),
        "{xml}"
    );
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases[1].attribute("name"), Some("02 isolated <&>"));
    assert!(cases[1].children().any(|n| n.has_tag_name("failure")), "{xml}");
    let _ = std::fs::remove_file(&xml_path);
}

/// Under `emulate`, a failed step from a real namespace says its cause as `run` does:
/// the flipped symptoms of two troubleshooting problems (a Docker subnet capturing a LAN
/// server, an internal network without a default route), sent by real programs.
#[test]
fn real_failures_name_their_cause() {
    let _g = SERIAL.lock();
    if !common::can_emulate("real_failures_name_their_cause") {
        return;
    }
    let cases = [
        (
            "10-subnet-shadows-lan-broken.yaml",
            "expect: { result: timeout, dropped: arp-unresolved }",
            "expect: ok",
            [
                "cause: the route 172.18.0.0/16",
                "hint: give network 'default' a subnet",
            ],
        ),
        (
            "15-internal-network-broken.yaml",
            "expect: { result: no-reach, dropped: no-route }",
            "expect: reach",
            [
                "cause: app is only on internal network(s) backend",
                "hint: attach app to a second",
            ],
        ),
    ];
    for (file, from, to, said) in cases {
        let path = common::root().join("scenarios/troubleshooting").join(file);
        let text = std::fs::read_to_string(&path).expect("readable");
        let line = text
            .lines()
            .find(|l| l.contains(from))
            .unwrap_or_else(|| panic!("{file}: `{from}`"));
        let healthy = line.replace(from, to);
        let flipped = text.replace(line, healthy.split(" #").next().unwrap_or_default());
        let f = scenario(&format!("flip-{file}"), &flipped);
        let (code, out, err) = emulate(&f.to_string_lossy(), &[]);
        assert_eq!(code, 1, "{file}: the flipped step fails\n{out}{err}");
        assert!(out.contains("(real "), "{file}: sent by a real program\n{out}");
        for s in said {
            assert!(out.contains(s), "{file}: `{s}` in\n{out}");
        }
    }
}

/// `expect: ok` on a resolve step holds under `emulate` as under `run`: any address
/// answers it (troubleshooting 27's fixed twin, a name across an overlay).
#[test]
fn a_resolve_expecting_ok_passes_with_real_lookups() {
    let _g = SERIAL.lock();
    if !common::can_emulate("a_resolve_expecting_ok_passes_with_real_lookups") {
        return;
    }
    let f = "scenarios/troubleshooting/27-bridge-across-hosts-fixed.yaml";
    let (code, out, err) = emulate(f, &["--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(getent ahosts)"), "the lookup was real:\n{out}");
}
