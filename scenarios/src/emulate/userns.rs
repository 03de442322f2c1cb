//! Emulation as an ordinary user: netloom enters a user namespace of its own (with a
//! mount namespace), where it is root over the network namespaces it creates. Its
//! `/run` is a private tmpfs (for `/run/netns` and the run record) and its `/etc` a
//! tmpfs of symbolic links to the real `/etc` plus a writable `netns/` (where `ip netns
//! exec` finds each namespace's resolv.conf). Everything is private to the process and
//! vanishes with it, whatever way it ends. Needs a `/dev/net/tun` the user may open and
//! unprivileged user namespaces.

use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getgid, getuid};

const REAL_ETC: &str = "/run/.netloom-etc";

static INSIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process entered its own user namespace.
pub fn inside() -> bool {
    INSIDE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Why an ordinary user cannot emulate here, if they cannot.
pub fn check() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map(|_| ())
        .map_err(|e| {
            let mode = std::fs::metadata("/dev/net/tun")
                .map(|m| format!("{:o}", std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777))
                .unwrap_or_else(|_| "?".into());
            format!(
                "an ordinary user needs to open /dev/net/tun, which is mode {mode} here ({e}); make it usable \
                 (chmod 0666 /dev/net/tun, the common distribution default) or run netloom as root"
            )
        })
}

/// Enters the user and mount namespace. Must run while the process has one thread.
///
/// # Errors
/// What the kernel refused, with the fix.
pub fn enter() -> Result<(), String> {
    check()?;
    let (uid, gid) = (getuid(), getgid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
        format!(
            "cannot create a user namespace ({e}): unprivileged user namespaces are disabled here \
             (sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces); run netloom as root"
        )
    })?;
    let write = |f: &str, t: String| std::fs::write(f, t).map_err(|e| format!("{f}: {e}"));
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    let m = |src: Option<&str>, dst: &str, fs: Option<&str>, flags: MsFlags| {
        mount(src, dst, fs, flags, None::<&str>).map_err(|e| format!("mount {dst}: {e}"))
    };
    m(None, "/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE)?;
    m(Some("tmpfs"), "/run", Some("tmpfs"), MsFlags::empty())?;
    for d in ["/run/netns", "/run/netloom", REAL_ETC] {
        std::fs::create_dir_all(d).map_err(|e| format!("{d}: {e}"))?;
    }
    m(Some("/etc"), REAL_ETC, None, MsFlags::MS_BIND | MsFlags::MS_REC)?;
    m(Some("tmpfs"), "/etc", Some("tmpfs"), MsFlags::empty())?;
    let entries = std::fs::read_dir(REAL_ETC).map_err(|e| format!("{REAL_ETC}: {e}"))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let _ = std::os::unix::fs::symlink(Path::new(REAL_ETC).join(&name), Path::new("/etc").join(&name));
    }
    let netns = Path::new("/etc/netns");
    if netns.is_symlink() {
        let _ = std::fs::remove_file(netns);
    }
    std::fs::create_dir_all(netns).map_err(|e| format!("/etc/netns: {e}"))?;
    INSIDE.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
