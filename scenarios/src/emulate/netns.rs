//! Named network namespaces, made and removed from this process with system calls —
//! no `ip` process, no name through a command parser.
//!
//! A run keeps what it makes under a tmpfs of its own, `/run/netloom/ID/`: the
//! namespaces, bind-mounted on `ns/NAME`, and the files programs inside see over
//! `/etc` (`etc/NAME/resolv.conf`, `hosts`). `/run/netns/NAME` and `/etc/netns/NAME`
//! are symbolic links into it, so `ip netns exec NAME`, `ip -n NAME` and
//! `netloom exec` find them as usual. Files on a tmpfs cost no disk, and one lazy
//! unmount of the run's tmpfs detaches all its namespaces at once: the kernel frees
//! each, with its devices, once nothing else holds it.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use super::registry::RUN_DIR;

/// Where `ip netns` looks for named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// Where `ip netns exec` looks for the files to show over `/etc`.
pub const ETC_NETNS: &str = "/etc/netns";

/// The path of a named namespace (a link to where the run mounted it).
pub fn netns_path(ns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(ns)
}

/// The `/etc/netns` directory of a namespace (a link into the run's tmpfs).
pub fn etc_dir(ns: &str) -> PathBuf {
    PathBuf::from(ETC_NETNS).join(ns)
}

/// The run's own tmpfs.
pub fn run_dir(id: &str) -> PathBuf {
    PathBuf::from(RUN_DIR).join(id)
}

/// Whether something of name `ns` is in `/run/netns` or `/etc/netns` already.
pub fn taken(ns: &str) -> Option<PathBuf> {
    [netns_path(ns), etc_dir(ns)]
        .into_iter()
        .find(|p| p.symlink_metadata().is_ok())
}

/// Why `name` cannot be a namespace name (a file in `/run/netns`), if it cannot.
pub fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("is empty, `.` or `..`")
    } else if name.len() > 255 {
        Some("is longer than 255 bytes")
    } else if name.contains(['/', '\0']) {
        Some("contains `/` or a NUL byte")
    } else {
        None
    }
}

/// Why `name` cannot be an interface name for the kernel (`dev_valid_name`), if it
/// cannot.
pub fn invalid_ifname(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("is empty, `.` or `..`")
    } else if name.len() > 15 {
        Some("is longer than 15 bytes")
    } else if name.contains(['/', ':', '\0']) || name.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        Some("contains `/`, `:` or white space")
    } else {
        None
    }
}

/// Mounts run `id`'s tmpfs (shared, so that the mount namespaces of programs started
/// inside, whose mounts are slaves of this one, see its unmount too) and makes
/// `/run/netns` and `/etc/netns`.
///
/// # Errors
/// What the kernel or the file system refused.
pub fn prepare_run(id: &str) -> Result<(), String> {
    for d in [NETNS_DIR, ETC_NETNS] {
        std::fs::create_dir_all(d).map_err(|e| format!("{d}: {e}"))?;
    }
    let dir = run_dir(id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755"),
    )
    .map_err(|e| format!("mount tmpfs on {}: {e}", dir.display()))?;
    mount(None::<&str>, &dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>)
        .map_err(|e| format!("mount --make-shared {}: {e}", dir.display()))?;
    for d in ["ns", "etc"] {
        std::fs::create_dir(dir.join(d)).map_err(|e| format!("{}/{d}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Creates a new network namespace for the calling thread (which stays in it) and
/// names it `name`: mounted in run `id`'s tmpfs, linked from `/run/netns`. An existing
/// `/run/netns/NAME` is an error, never reused.
///
/// # Errors
/// What the kernel or the file system refused, naming the namespace.
pub fn create_here(id: &str, name: &str) -> Result<(), String> {
    let path = run_dir(id).join("ns").join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("namespace {name}: {}: {e}", path.display()))?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("namespace {name}: unshare: {e}"))?;
    mount(
        Some("/proc/thread-self/ns/net"),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("namespace {name}: mount on {}: {e}", path.display()))?;
    let link = netns_path(name);
    std::os::unix::fs::symlink(&path, &link).map_err(|e| format!("namespace {name}: {}: {e}", link.display()))
}

/// Writes the files programs inside namespace `ns` of run `id` see over `/etc`
/// (`(file name, text)`), and links `/etc/netns/NS` to them.
///
/// # Errors
/// The file system's error.
pub fn write_etc(id: &str, ns: &str, files: &[(&str, &str)]) -> Result<(), String> {
    let dir = run_dir(id).join("etc").join(ns);
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in files {
        let f = dir.join(name);
        std::fs::write(&f, text).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    let link = etc_dir(ns);
    std::os::unix::fs::symlink(&dir, &link).map_err(|e| format!("{}: {e}", link.display()))
}

/// What [`delete`] did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// The namespaces that existed (now removed).
    pub deleted: Vec<String>,
    /// Processes that were running inside them, killed.
    pub killed: usize,
}

/// Removes run `id`'s namespaces (ignoring ones already gone), their `/run/netns` and
/// `/etc/netns` links and the run's tmpfs, after killing every process still inside
/// them. The namespaces are held open while their processes are looked for, so that
/// their identities (inode numbers) cannot pass to new namespaces meanwhile.
/// Namespaces of an older netloom (bind-mounted on `/run/netns` itself, with real
/// `/etc/netns` directories) are removed as `ip netns del` would.
pub fn delete(id: &str, namespaces: &[String]) -> Deleted {
    let t = std::time::Instant::now();
    let mut out = Deleted::default();
    let dir = run_dir(id);
    let mut held = Vec::new();
    let mut ids = BTreeSet::new();
    for n in namespaces {
        let link = netns_path(n);
        let mounted = dir.join("ns").join(n);
        if let Ok(f) = std::fs::File::open(&mounted).or_else(|_| std::fs::File::open(&link))
            && let Ok(m) = f.metadata()
        {
            ids.insert((m.dev(), m.ino()));
            held.push(f);
        }
        match link.symlink_metadata() {
            // Ours (a link into this run's tmpfs, unmounted below with all the others).
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::read_link(&link).is_ok_and(|t| t.starts_with(&dir))
                    && std::fs::remove_file(&link).is_ok()
                {
                    out.deleted.push(n.clone());
                }
            }
            // An older netloom's, or half-made: unmount lazily, as `ip netns del`.
            Ok(_) => {
                let _ = umount2(&link, MntFlags::MNT_DETACH);
                if std::fs::remove_file(&link).is_ok() {
                    out.deleted.push(n.clone());
                }
            }
            Err(_) => {}
        }
        remove_etc(&etc_dir(n), &dir);
    }
    tracing::info!("namespaces deleted: {}", out.deleted.join(", "));
    // One lazy unmount detaches the tmpfs and every namespace mounted in it.
    let _ = umount2(&dir, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_dir(&dir);
    let t1 = t.elapsed();
    out.killed = kill_inside(&ids);
    let t2 = t.elapsed();
    drop(held);
    if std::env::var_os("NETLOOM_TIMING").is_some() {
        eprintln!(
            "  delete: unlink and unmount {t1:?}, kill scan {:?}, release {:?}",
            t2 - t1,
            t.elapsed() - t2
        );
    }
    out
}

/// Removes `/etc/netns/NS`: our link into `run`, or an older netloom's directory.
fn remove_etc(etc: &Path, run: &Path) {
    match etc.symlink_metadata() {
        // Only a link into this run's tmpfs is ours (a link elsewhere is not a dir).
        Ok(m) if m.file_type().is_symlink() && std::fs::read_link(etc).is_ok_and(|t| t.starts_with(run)) => {
            let _ = std::fs::remove_file(etc);
        }
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(etc);
        }
        _ => {}
    }
}

/// Kills (SIGKILL) every process whose network namespace is one of `ids` (device and
/// inode of the namespace), again until none is left — a process may fork while
/// being looked for. Returns how many were killed.
fn kill_inside(ids: &BTreeSet<(u64, u64)>) -> usize {
    if ids.is_empty() {
        return 0;
    }
    let me = std::process::id();
    let mut killed = BTreeSet::new();
    for _ in 0..50 {
        let mut found = false;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net")) else {
                continue;
            };
            if ids.contains(&(m.dev(), m.ino())) {
                found = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                killed.insert(pid);
            }
        }
        if !found {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    killed.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's rules for interface names, and the file system's for namespace
    /// names: a space or `/` in an interface name, `/` in a namespace name, are
    /// refused before anything is made.
    #[test]
    fn names_the_kernel_would_refuse() {
        assert_eq!(invalid_ifname("eth0"), None);
        assert!(invalid_ifname("eth 0").is_some());
        assert!(invalid_ifname("a/b").is_some());
        assert!(invalid_ifname("a:1").is_some());
        assert!(invalid_ifname("sixteen-bytes-xx").is_some());
        assert_eq!(invalid_name("nl0badc0de-web server"), None);
        assert!(invalid_name("nl0badc0de-a/b").is_some());
        assert!(invalid_name(&"x".repeat(256)).is_some());
    }
}
