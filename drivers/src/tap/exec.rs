//! Programs inside a network namespace, started the way `ip netns exec` starts them
//! but without passing the namespace's name through any parser: the namespace file is
//! opened by path beforehand, and the child (or this process, before it `exec`s)
//! enters it with `setns`, takes a mount namespace of its own whose mounts are slaves
//! of the parent's (so nothing it mounts leaks back, and the parent's unmounts reach
//! it), sees the namespace's own `/sys`, and gets the namespace's
//! `/etc/netns/NAME/*` files bind-mounted over `/etc/*` (its `resolv.conf`, `hosts`).
//!
//! A child started with [`NsEntry::command`] also dies with the thread that started
//! it (`PR_SET_PDEATHSIG`, SIGKILL) and leads a process group of its own, so the
//! caller can end it and whatever it started in one `killpg`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::Signal;

/// What entering one namespace takes, prepared in advance: between `fork` and `exec`
/// only system calls may run (no allocation), so every path is a ready C string.
#[derive(Debug)]
pub struct NsEntry {
    netns: OwnedFd,
    /// `(/etc/netns/NAME/file, /etc/file)` pairs.
    binds: Vec<(CString, CString)>,
    root: CString,
    sys: CString,
    sysfs: CString,
}

impl NsEntry {
    /// Opens the namespace at `ns_path` (a `/run/netns` file) and lists the files of
    /// `etc_dir` (its `/etc/netns/NAME`, if it has one).
    ///
    /// # Errors
    /// When the namespace cannot be opened, naming it.
    pub fn new(ns_path: &Path, etc_dir: Option<&Path>) -> io::Result<NsEntry> {
        let netns: OwnedFd = std::fs::File::open(ns_path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", ns_path.display())))?
            .into();
        let mut binds = Vec::new();
        if let Some(dir) = etc_dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for e in entries.flatten() {
                let name = e.file_name();
                let src = CString::new(e.path().as_os_str().as_bytes());
                let dst = CString::new(Path::new("/etc").join(&name).as_os_str().as_bytes());
                if let (Ok(src), Ok(dst)) = (src, dst) {
                    binds.push((src, dst));
                }
            }
        }
        let c = |s: &str| CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e));
        Ok(NsEntry {
            netns,
            binds,
            root: c("/")?,
            sys: c("/sys")?,
            sysfs: c("sysfs")?,
        })
    }

    /// Moves the calling thread into the namespace, as `ip netns exec` does: network
    /// namespace, a private (slave) mount namespace, the namespace's `/sys`, its
    /// `/etc` files. Meant for a single-threaded process about to `exec`, or a child
    /// between `fork` and `exec`: it allocates nothing.
    ///
    /// # Errors
    /// The first system call that failed.
    pub fn enter(&self) -> nix::Result<()> {
        setns(&self.netns, CloneFlags::CLONE_NEWNET)?;
        unshare(CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&std::ffi::CStr>,
            self.root.as_c_str(),
            None::<&std::ffi::CStr>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&std::ffi::CStr>,
        )?;
        // The namespace's own /sys (interfaces under /sys/class/net). When the old one
        // cannot be detached, a read-write sysfs cannot cover a read-only one: as `ip
        // netns exec`, mount it read-only then.
        let flags = if umount2(self.sys.as_c_str(), MntFlags::MNT_DETACH).is_ok() {
            MsFlags::empty()
        } else {
            MsFlags::MS_RDONLY
        };
        mount(
            Some(self.sysfs.as_c_str()),
            self.sys.as_c_str(),
            Some(self.sysfs.as_c_str()),
            flags,
            None::<&std::ffi::CStr>,
        )?;
        for (src, dst) in &self.binds {
            match mount(
                Some(src.as_c_str()),
                dst.as_c_str(),
                None::<&std::ffi::CStr>,
                MsFlags::MS_BIND,
                None::<&std::ffi::CStr>,
            ) {
                // No such file in /etc to cover: `ip netns exec` skips it too.
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A command for `program` that runs inside the namespace, dies with the calling
    /// thread, and leads its own process group (its pid is the group's id).
    pub fn command(self: &Arc<Self>, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.process_group(0);
        let entry = Arc::clone(self);
        let parent = std::process::id() as i32;
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe work is allowed: it makes system calls (prctl, getppid,
        // setns, unshare, mount, umount2) on descriptors and C strings prepared before
        // the fork, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                // The parent may have died before the line above: then nobody will
                // send the signal, so end now.
                if nix::unistd::getppid().as_raw() != parent {
                    return Err(io::Error::other("netloom exited"));
                }
                entry.enter().map_err(io::Error::from)
            });
        }
        cmd
    }
}
