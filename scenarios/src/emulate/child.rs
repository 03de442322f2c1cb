//! Programs the steps run inside a namespace (`ping`, `getent`, an `exec` step's
//! shell): started with [`NsEntry::command`] (inside the namespace, dying with netloom,
//! leading a process group of their own), their output collected while they run, and
//! their whole process group killed when the run is interrupted or their time is up —
//! an interruption ends the step within milliseconds, not when the program is done.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use netloom_drivers::tap::NsEntry;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::STOP;
use super::netns;

/// Output kept per stream; the rest is read and dropped.
const KEEP: usize = 1 << 20;

/// How a program ended.
pub enum Ran {
    /// It exited (or was killed by a signal: no code).
    Exited {
        /// Its exit code.
        code: Option<i32>,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// Its time was up: its process group was killed.
    TimedOut {
        /// Its standard output so far.
        stdout: String,
    },
    /// The run was interrupted: its process group was killed.
    Interrupted,
    /// It could not start.
    Failed(String),
}

/// A command for `program` inside namespace `ns`, as `ip netns exec` would run it.
///
/// # Errors
/// When the namespace cannot be opened.
pub fn in_namespace(ns: &str, program: &str) -> Result<Command, String> {
    let entry = NsEntry::new(&netns::netns_path(ns), Some(&netns::etc_dir(ns)))
        .map_err(|e| format!("namespace {ns}: {e}"))?;
    Ok(Arc::new(entry).command(program))
}

/// Runs `cmd` (made by [`in_namespace`]) with its output collected, for at most
/// `limit`. Programs it started in the background (`server &`) keep running — a later
/// step may use them — until the run's namespaces are torn down, which kills every
/// process inside them; their output is no longer collected once it has exited.
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::Failed(e.to_string()),
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let (Some(mut so), Some(mut se)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(&mut child);
        return Ran::Failed("no pipes to the program".into());
    };
    for fd in [so.as_fd(), se.as_fd()] {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
    }
    let start = Instant::now();
    let mut open = [true, true];
    loop {
        if STOP.load(Ordering::Relaxed) {
            kill_group(&mut child);
            return Ran::Interrupted;
        }
        if start.elapsed() >= limit {
            kill_group(&mut child);
            drain(&mut so, &mut out);
            return Ran::TimedOut { stdout: text(&out) };
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                drain(&mut so, &mut out);
                drain(&mut se, &mut err);
                return Ran::Exited {
                    code: status.code(),
                    stdout: text(&out),
                    stderr: text(&err),
                };
            }
            Ok(None) => {}
            Err(e) => {
                kill_group(&mut child);
                return Ran::Failed(e.to_string());
            }
        }
        // Sleep until output comes or 10 ms pass (to look at the flag and the child).
        let tick = PollTimeout::from(10u8);
        let mut fds = Vec::with_capacity(2);
        if open[0] {
            fds.push(PollFd::new(so.as_fd(), PollFlags::POLLIN));
        }
        if open[1] {
            fds.push(PollFd::new(se.as_fd(), PollFlags::POLLIN));
        }
        if fds.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        } else {
            let _ = poll(&mut fds, tick);
        }
        drop(fds);
        if open[0] {
            open[0] = drain(&mut so, &mut out);
        }
        if open[1] {
            open[1] = drain(&mut se, &mut err);
        }
    }
}

/// Reads what is there now; returns whether the stream is still open.
fn drain(r: &mut impl Read, keep: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 8192];
    // Bounded: a program that writes without end must not keep the step here.
    for _ in 0..512 {
        match r.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = KEEP.saturating_sub(keep.len());
                keep.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }
    true
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child's process group (it leads it, and is not yet reaped, so the group
/// id is still its own) and reaps the child.
fn kill_group(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// The path of a namespace's `resolv.conf` as programs inside see it.
pub fn resolv_conf(ns: &str) -> std::path::PathBuf {
    Path::new(netns::ETC_NETNS).join(ns).join("resolv.conf")
}
