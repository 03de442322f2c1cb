//! Network namespaces and links, set up and torn down with `ip` in batches (one
//! process for all namespaces, one per namespace for its addresses and routes), so
//! the kernel's own error messages reach the user.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// Per-namespace files `ip netns exec` mounts over `/etc` (resolv.conf).
pub const ETC_NETNS: &str = "/etc/netns";

/// Runs `ip -n NS -batch -` for every (namespace, lines), a few at a time.
///
/// # Errors
/// The first failure's message.
pub fn ip_batch_many(jobs: &[(String, Vec<String>)]) -> Result<(), String> {
    for group in jobs.chunks(8) {
        let children: Vec<Result<std::process::Child, String>> = group
            .iter()
            .map(|(ns, lines)| spawn_batch(Some(ns), false, lines))
            .collect();
        for (child, (ns, _)) in children.into_iter().zip(group) {
            finish(child?, Some(ns))?;
        }
    }
    Ok(())
}

/// Runs `ip [-n ns] [-force] -batch -` with `lines` on its standard input.
///
/// # Errors
/// `ip`'s message, with the namespace.
pub fn ip_batch(ns: Option<&str>, force: bool, lines: &[String]) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let child = spawn_batch(ns, force, lines)?;
    finish(child, ns)
}

fn spawn_batch(ns: Option<&str>, force: bool, lines: &[String]) -> Result<std::process::Child, String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `ip` (iproute2 is needed for emulation): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to `ip`: {e}"))?;
    }
    Ok(child)
}

fn finish(child: std::process::Child, ns: Option<&str>) -> Result<(), String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let at = ns.map_or(String::new(), |n| format!(" in namespace {n}"));
        Err(format!("ip{at}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The path of a named namespace.
pub fn netns_path(ns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(ns)
}

/// Writes `/etc/netns/NS/resolv.conf`, which `ip netns exec NS` mounts over
/// `/etc/resolv.conf`.
///
/// # Errors
/// The file system's error.
pub fn write_resolv_conf(ns: &str, text: &str) -> Result<(), String> {
    write_etc(ns, "resolv.conf", text)
}

/// Writes `/etc/netns/NS/NAME`, which `ip netns exec` shows as `/etc/NAME` inside.
pub fn write_etc(ns: &str, name: &str, text: &str) -> Result<(), String> {
    let dir = PathBuf::from(ETC_NETNS).join(ns);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let f = dir.join(name);
    std::fs::write(&f, text).map_err(|e| format!("{}: {e}", f.display()))
}

/// Deletes namespaces (ignoring ones already gone) and their `/etc/netns` files.
/// Returns the ones that existed.
pub fn delete(namespaces: &[String]) -> Vec<String> {
    let existing: Vec<String> = namespaces
        .iter()
        .filter(|n| netns_path(n).exists())
        .cloned()
        .collect();
    let lines: Vec<String> = existing.iter().map(|n| format!("netns del {n}")).collect();
    let _ = ip_batch(None, true, &lines);
    for n in namespaces {
        let _ = std::fs::remove_dir_all(PathBuf::from(ETC_NETNS).join(n));
    }
    existing
}

/// Named namespaces that exist now.
pub fn list() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Creates named namespaces without `ip` (which, in a user namespace, creates one and
/// then fails switching back): per name, a thread enters a new network namespace and
/// bind-mounts it at `/run/netns/NAME`.
///
/// # Errors
/// What the kernel refused, naming the namespace.
pub fn create_own(names: &[String]) -> Result<(), String> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| format!("{NETNS_DIR}: {e}"))?;
    for n in names {
        let path = netns_path(n);
        std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let p = path.clone();
        std::thread::spawn(move || -> Result<(), String> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| format!("mount {}: {e}", p.display()))
        })
        .join()
        .map_err(|_| "a namespace thread panicked".to_string())?
        .map_err(|e| format!("namespace {n}: {e}"))?;
    }
    Ok(())
}
