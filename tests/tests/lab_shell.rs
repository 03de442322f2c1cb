//! `netloom lab FILE`: the interactive shell, driven as a person would through a real
//! pseudo-terminal (rexpect), and as a script through a pipe.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use rexpect::session::PtySession;

mod common;

use common::{binary, root, skip};

const LAB: &str = r#"
name: lab shell
networks:
  app: {}
  other: {}
containers:
  web: { networks: [app], listen: [tcp/80] }
  client: { networks: [app] }
  lonely: { networks: [other] }
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netloom-lab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The scenario file, in a fresh directory that also holds the history.
fn lab_file(name: &str) -> (PathBuf, PathBuf) {
    let dir = tmp(name);
    let f = dir.join("lab.yaml");
    std::fs::write(&f, LAB).expect("write");
    (dir, f)
}

/// One pseudo-terminal session at a time: their 30 s timeouts hold on a busy machine.
static PTY: Mutex<()> = Mutex::new(());

/// `netloom lab FILE` on a pseudo-terminal, its history under `state`.
fn spawn(file: &PathBuf, state: &PathBuf) -> Option<PtySession> {
    let mut c = Command::new(binary());
    c.current_dir(root())
        .arg("lab")
        .arg(file)
        .env("XDG_STATE_HOME", state)
        .env("TERM", "xterm");
    match rexpect::session::spawn_command(c, Some(30_000)) {
        Ok(p) => Some(p),
        Err(e) => {
            skip(
                "lab shell on a pseudo-terminal",
                &format!("no pseudo-terminal: {e}"),
            );
            None
        }
    }
}

/// Types `s` (rexpect buffers what `send` writes until a flush).
fn keys(p: &mut PtySession, s: &str, what: &str) {
    p.send(s).expect(what);
    p.flush().expect(what);
}

/// The shell ended by itself with status 0 (nix's `WaitStatus::Exited(pid, 0)`).
fn assert_exited_0(p: &PtySession) {
    let status = format!("{:?}", p.process().wait());
    assert!(
        status.starts_with("Ok(Exited(") && status.ends_with(", 0))"),
        "{status}"
    );
}

/// A session as a person has it: the prompt, `ps`, pings that the model answers or
/// isolates, a container name completed with Tab, the last command recalled with the
/// Up arrow, `exit` with status 0 — and the history written where XDG says.
#[test]
fn interactive_session_on_a_terminal() {
    let (dir, file) = lab_file("tty");
    let state = dir.join("state");
    let _one = PTY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(mut p) = spawn(&file, &state) else { return };
    p.exp_string("netloom lab: lab shell").expect("banner");
    p.exp_string("netloom> ").expect("prompt");

    p.send_line("ps").expect("send");
    p.exp_string("CONTAINER ID").expect("ps header");
    for name in ["web", "client", "lonely"] {
        p.exp_string(name).expect("each container listed");
    }
    p.exp_string("running").expect("state");
    p.exp_string("netloom> ").expect("prompt after ps");

    // Same network: answered. Another network: isolated, as Docker isolates bridges.
    p.send_line("ping -c 2 client web").expect("send");
    // (rexpect reads bytes as Latin-1 characters: the ✓ and ✗ marks are not matched.)
    p.exp_string("ping client -> web").expect("reached");
    p.exp_string("2/2 replies from 172.18.0.2").expect("two replies");
    p.exp_string("netloom> ").expect("prompt");
    p.send_line("ping -c 1 client 172.19.0.2").expect("send");
    p.exp_string("0/1 replies from 172.19.0.2").expect("not reached");
    p.exp_string("dropped: network-isolation").expect("the reason");
    p.exp_string("netloom> ").expect("prompt");

    // Tab completes `lon` to the container `lonely`; Enter runs what was completed.
    keys(&mut p, "ping -c 1 lon", "send");
    keys(&mut p, "\t", "tab");
    p.exp_string("lonely").expect("completed on the screen");
    keys(&mut p, "web\r", "enter");
    p.exp_string("ping lonely -> web")
        .expect("the completed command ran");
    p.exp_string("no packet sent")
        .expect("lonely shares no network with web: no DNS answer");
    p.exp_string("netloom> ").expect("prompt");

    // Up arrow: the previous command comes back; Enter runs it again.
    p.send_line("ping -c 3 client web").expect("send");
    p.exp_string("3/3 replies").expect("first run");
    p.exp_string("netloom> ").expect("prompt");
    keys(&mut p, "\x1b[A", "up arrow");
    p.exp_string("ping -c 3 client web")
        .expect("recalled on the screen");
    keys(&mut p, "\r", "enter");
    p.exp_string("3/3 replies").expect("ran again");
    p.exp_string("netloom> ").expect("prompt");

    // A bad command is explained and the shell goes on.
    p.send_line("pnig client web").expect("send");
    p.exp_string("did you mean 'ping'?").expect("suggestion");
    p.exp_string("netloom> ").expect("still there");

    p.send_line("exit").expect("send");
    p.exp_eof().expect("ends");
    assert_exited_0(&p);
    let history =
        std::fs::read_to_string(state.join("netloom/history")).expect("history written under XDG_STATE_HOME");
    assert!(history.contains("ping -c 3 client web"), "{history}");
    assert!(history.contains("ps"), "{history}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-D leaves like `exit`; without HOME or XDG_STATE_HOME the shell works and keeps
/// no history file.
#[test]
fn ctrl_d_leaves_and_no_home_means_no_history() {
    let (dir, file) = lab_file("nohome");
    let _one = PTY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut c = Command::new(binary());
    c.current_dir(&dir)
        .arg("lab")
        .arg(&file)
        .env_remove("HOME")
        .env_remove("XDG_STATE_HOME")
        .env("TERM", "xterm");
    let mut p = match rexpect::session::spawn_command(c, Some(30_000)) {
        Ok(p) => p,
        Err(e) => {
            return skip(
                "lab shell on a pseudo-terminal",
                &format!("no pseudo-terminal: {e}"),
            );
        }
    };
    p.exp_string("netloom> ").expect("prompt");
    p.send_line("curl client web:80").expect("send");
    p.exp_string("* Connected to web port 80").expect("curl's words");
    p.exp_string("netloom> ").expect("prompt");
    p.send_control('d').expect("ctrl-d");
    p.exp_eof().expect("ends");
    assert_exited_0(&p);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(left, ["lab.yaml"], "nothing written beside the file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `netloom lab FILE < cmds`: commands from a pipe, no prompt, no line editing; the
/// exit status is 0 when every command worked, 1 when the network said no to one,
/// 2 when one could not run; `--echo` makes a transcript; the same input gives the
/// same output.
#[test]
fn commands_from_a_pipe() {
    let (dir, file) = lab_file("pipe");
    let run = |input: &str, echo: bool| {
        let mut c = Command::new(binary());
        c.current_dir(root()).arg("lab").arg(&file);
        if echo {
            c.arg("--echo");
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("ends");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        "ping -c 1 client web\ncurl client web:80\ndig client web\n",
        false,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("netloom>"), "no prompt without a terminal: {out}");
    assert!(out.contains("✓ ping client -> web"), "{out}");
    assert!(
        out.contains("web.                    600     IN      A       172.18.0.2"),
        "{out}"
    );

    let (code, out, _) = run("ping -c 1 client 172.19.0.2\nps\n", false);
    assert_eq!(code, Some(1), "a failed ping fails the script: {out}");
    assert!(out.contains("CONTAINER ID"), "and the script went on: {out}");

    let (code, _, err) = run("ping -c 1 client nosuch\n", false);
    assert_eq!(code, Some(2));
    assert!(err.contains("line 1: ping: unknown name 'nosuch'"), "{err}");

    assert_eq!(run("! ping -c 1 client 172.19.0.2\n", false).0, Some(0));

    let script =
        "ping client web\nlink down web.eth0 app\nping -c 1 client web\ntrace\nnetwork inspect app\n";
    let a = run(script, true);
    assert_eq!(a, run(script, true), "same file, same commands, same output");
    assert!(
        a.1.starts_with("netloom> ping client web\n✓ ping client -> web\n"),
        "{}",
        a.1
    );
    assert!(a.1.contains("trace of `ping client web`:"), "{}", a.1);
    assert!(a.1.contains("\"MacAddress\": \"02:42:ac:12:00:02\""), "{}", a.1);

    // An invalid file: status 2 and the file's error, before any command runs.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "name: x\nnetworks: { a: { drvier: bridge } }\n").expect("write");
    let out = Command::new(binary())
        .current_dir(root())
        .arg("lab")
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("drvier"));
    let _ = std::fs::remove_dir_all(&dir);
}
