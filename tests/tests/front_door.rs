//! The command's front door: colours that follow `--color`, NO_COLOR, CLICOLOR_FORCE
//! and whether the output is a terminal; progress bars only on a terminal; `-v` logs.
//!
//! "A terminal" is made with util-linux's `script`, which runs the command on a
//! pseudo-terminal (standard output and error both) and copies what it wrote.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;

use common::{binary, root};

const PASSING: &str = "name: passes\nnetworks:\n  app: {}\ncontainers:\n  web: { networks: [app], listen: [tcp/80] }\n  client: { networks: [app] }\nsteps:\n  - ping: { from: client, to: web }\n    expect: reach\n";
const FAILING: &str = "name: fails\nnetworks: { a: {}, b: {} }\ncontainers:\n  x: { networks: [a] }\n  y: { networks: [b] }\nsteps:\n  - ping: { from: x, to: 172.19.0.2, count: 1 }\n    expect: reach\n";
const INVALID: &str = "name: bad\nnetworks:\n  app: {}\ncontainers:\n  web: { networks: [app] }\nsteps:\n  - ping: { from: web, to: web }\n    expect: connected\n";

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory with the three files above.
fn files(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("netloom-front-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    for (name, text) in [
        ("pass.yaml", PASSING),
        ("fail.yaml", FAILING),
        ("bad.yaml", INVALID),
    ] {
        std::fs::write(d.join(name), text).expect("write");
    }
    TempDir(d)
}

/// `netloom ARGS` with pipes for its output, the colour variables of this
/// environment removed and `env` set.
fn piped(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(binary());
    c.args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("netloom runs")
}

/// `netloom ARGS` on a pseudo-terminal; `None` (after saying why) when `script` is
/// missing.
fn on_terminal(test: &str, args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    let line = std::iter::once(binary().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    match c.output() {
        Ok(o) => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Err(e) => {
            common::skip(test, &format!("util-linux `script` cannot run: {e}"));
            None
        }
    }
}

fn has_esc(b: &[u8]) -> bool {
    b.contains(&0x1b)
}

/// Whether `s` holds an SGR sequence (a colour or weight: ESC [ digits;… m).
fn has_colour(s: &str) -> bool {
    s.split('\x1b').skip(1).any(|rest| {
        rest.strip_prefix('[').is_some_and(|r| {
            let end = r.find(|c: char| !(c.is_ascii_digit() || c == ';'));
            end.is_some_and(|i| i > 0 && r[i..].starts_with('m'))
        })
    })
}

#[test]
fn output_through_a_pipe_has_no_escape_bytes() {
    let d = files("pipe");
    let d = d.display();
    for args in [
        vec![
            "run".to_string(),
            format!("{d}/pass.yaml"),
            format!("{d}/fail.yaml"),
        ],
        vec!["run".to_string(), format!("{d}/bad.yaml")],
        vec![
            "validate".to_string(),
            format!("{d}/bad.yaml"),
            format!("{d}/pass.yaml"),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = piped(&args, &[]);
        assert!(
            !has_esc(&out.stdout) && !has_esc(&out.stderr),
            "{args:?}: {:?} / {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // NO_COLOR with `--color auto` (the default, and written out): none either.
        let mut auto = args.clone();
        auto.insert(0, "--color=auto");
        let out = piped(&auto, &[("NO_COLOR", "1")]);
        assert!(!has_esc(&out.stdout) && !has_esc(&out.stderr), "{auto:?}");
    }
}

#[test]
fn color_always_colours_marks_totals_and_error_labels() {
    let d = files("always");
    let (pass, fail, bad) = (
        format!("{}/pass.yaml", d.display()),
        format!("{}/fail.yaml", d.display()),
        format!("{}/bad.yaml", d.display()),
    );
    // Through a pipe, and even with NO_COLOR: the flag is the user's explicit word.
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        let out = piped(&["run", "--color", "always", &pass, &fail], env);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\x1b[1m\x1b[32m✓\x1b[0m"), "green ✓: {text:?}");
        assert!(text.contains("\x1b[1m\x1b[31m✗\x1b[0m"), "red ✗: {text:?}");
        assert!(text.contains("\x1b[1m\x1b[31mFAIL\x1b[0m"), "red FAIL: {text:?}");
        assert!(
            text.contains("\x1b[1m\x1b[32mPASS\x1b[0m"),
            "green PASS: {text:?}"
        );
        assert!(
            text.contains("\x1b[1m\x1b[31mTOTAL\x1b[0m"),
            "red TOTAL: {text:?}"
        );
        // The drop: its reason in yellow, the trace's DROPPED in red.
        assert!(
            text.contains("dropped: \x1b[1m\x1b[33mnetwork-isolation\x1b[0m: "),
            "{text:?}"
        );
        assert!(
            text.contains("\x1b[1m\x1b[31mDROPPED\x1b[0m network-isolation"),
            "{text:?}"
        );
        let out = piped(&["--color", "always", "validate", &bad], env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("\x1b[1m\x1b[31merror:\x1b[0m unknown value 'connected'"),
            "{err:?}"
        );
        assert!(err.contains("\x1b[1m\x1b[36mhint:\x1b[0m"), "{err:?}");
    }
    // CLICOLOR_FORCE forces colour through a pipe under `auto`.
    let out = piped(&["run", &pass], &[("CLICOLOR_FORCE", "1")]);
    assert!(has_colour(&String::from_utf8_lossy(&out.stdout)));
    // `never` wins over CLICOLOR_FORCE.
    let out = piped(&["run", "--color", "never", &pass], &[("CLICOLOR_FORCE", "1")]);
    assert!(!has_esc(&out.stdout));
}

#[test]
fn on_a_terminal_auto_colours_unless_no_color() {
    let test = "on_a_terminal_auto_colours_unless_no_color";
    let d = files("tty");
    let pass = format!("{}/pass.yaml", d.display());
    let Some(coloured) = on_terminal(test, &["run", &pass], &[]) else {
        return;
    };
    assert!(has_colour(&coloured), "a terminal gets colours: {coloured:?}");
    let plain = on_terminal(test, &["run", &pass], &[("NO_COLOR", "1")]).unwrap_or_default();
    assert!(plain.contains("PASS"), "{plain:?}");
    assert!(!has_colour(&plain), "NO_COLOR: no colours: {plain:?}");
    let plain = on_terminal(test, &["run", "--color", "never", &pass], &[]).unwrap_or_default();
    assert!(!has_colour(&plain), "--color never: {plain:?}");
    // clap's own help follows the flag too.
    let help = on_terminal(test, &["run", "--help"], &[]).unwrap_or_default();
    assert!(has_colour(&help), "{help:?}");
    let help = on_terminal(test, &["--color=never", "run", "--help"], &[]).unwrap_or_default();
    assert!(help.contains("--color <WHEN>") && !has_colour(&help), "{help:?}");
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let d = files("progress");
    let pass = format!("{}/pass.yaml", d.display());
    // Piped: a passing run writes nothing at all to standard error (no bar, no log),
    // with or without --json.
    for args in [vec!["run", pass.as_str()], vec!["run", "--json", pass.as_str()]] {
        let out = piped(&args, &[]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!has_esc(&out.stdout) && !out.stdout.contains(&b'\r'));
    }
    // On a terminal the spinner is drawn (and erased) on standard error.
    let test = "progress_shows_on_a_terminal_only";
    let Some(tty) = on_terminal(test, &["run", &pass], &[]) else {
        return;
    };
    assert!(tty.contains("loading ") && tty.contains("\x1b[2K"), "{tty:?}");
}

#[test]
fn verbose_logs_what_is_loaded_and_compiled() {
    let d = files("verbose");
    let pass = format!("{}/pass.yaml", d.display());
    let quiet = piped(&["run", &pass], &[]);
    assert!(quiet.stderr.is_empty());
    for (args, env) in [
        (vec!["-v", "run", pass.as_str()], vec![]),
        (vec!["run", pass.as_str(), "-v"], vec![]),
        (vec!["run", pass.as_str()], vec![("RUST_LOG", "info")]),
    ] {
        let out = piped(&args, &env);
        assert_eq!(out.status.code(), Some(0));
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains(&format!("loading {pass}")),
            "{args:?} {env:?}: {log}"
        );
        assert!(log.contains(&format!("loaded {pass}:")), "{log}");
        assert!(log.contains(&format!("compiled {pass}:")), "{log}");
        assert!(log.contains("step 1 (ping client -> web): Passed in"), "{log}");
        // Standard output is the report, untouched by the log.
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            report.starts_with("scenario: passes") && !report.contains("INFO"),
            "{report}"
        );
    }
}

#[test]
fn emulate_logs_its_namespaces_and_draws_no_bar_through_a_pipe() {
    if !common::can_emulate("emulate_logs_its_namespaces_and_draws_no_bar_through_a_pipe") {
        return;
    }
    let file = "scenarios/examples/01-one-network.yaml";
    // Piped, without -v: the banner only, no bar (no escape, no carriage return).
    let out = piped(&["emulate", file], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!has_esc(&out.stderr) && !out.stderr.contains(&b'\r'));
    assert!(!has_esc(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("live network ") && !err.contains("INFO"), "{err}");
    // With -v: each namespace made (with its TAPs), each step timed, all deleted.
    let out = piped(&["-v", "emulate", file], &[]);
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    let id = log
        .lines()
        .find_map(|l| l.strip_prefix("live network "))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no banner: {log}"));
    for line in [
        "loading scenarios/examples/01-one-network.yaml",
        "set up ",
        "step 1 (",
        "torn down: ",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }
    let made = log
        .lines()
        .filter(|l| l.contains(&format!("namespace nl{id}-")) && l.contains(" made, TAPs "))
        .count();
    assert!(made >= 2, "a line per namespace made: {log}");
    let deleted = log
        .lines()
        .find(|l| l.contains("namespaces deleted: "))
        .unwrap_or_else(|| panic!("no deletion logged: {log}"));
    assert_eq!(deleted.matches(&format!("nl{id}-")).count(), made, "{deleted}");
    // On a terminal, the set-up draws its bar (machines made out of all).
    let test = "emulate_logs_its_namespaces_and_draws_no_bar_through_a_pipe";
    if let Some(tty) = on_terminal(test, &["emulate", file], &[]) {
        assert!(tty.contains("namespaces and TAPs ["), "{tty:?}");
        assert!(tty.contains(&format!("] {made}/{made}")), "{tty:?}");
    }
}

/// `netloom ARGS` with standard error a pipe nobody reads (its reader closed, as after
/// `2>&1 | head`); the exit code, or `None` when it had not ended after 60 s (then it
/// is killed).
fn with_stderr_closed(args: &[&str]) -> Option<i32> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .spawn()
        .expect("netloom runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SIGINT: emulate tears its network down.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    None
}

#[test]
fn a_log_nobody_reads_neither_panics_nor_hangs() {
    let d = files("closed");
    let pass = format!("{}/pass.yaml", d.display());
    // tracing-subscriber's default reports a failed write with `eprintln!`, which
    // panics on the closed pipe: `run` ended with 101, and `emulate`'s step thread died
    // with its network up, the forwarding loop waiting for it forever.
    assert_eq!(with_stderr_closed(&["-v", "run", &pass]), Some(0));
    if common::can_emulate("a_log_nobody_reads_neither_panics_nor_hangs") {
        assert_eq!(
            with_stderr_closed(&["-v", "emulate", "scenarios/examples/01-one-network.yaml"]),
            Some(0)
        );
    }
}
