//! A TAP device: `/dev/net/tun` opened non-blocking, attached to a named interface with
//! `TUNSETIFF` (`IFF_TAP | IFF_NO_PI`), read and written one Ethernet frame at a time.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `_IOW('T', 203, int)`.
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;
const TUN_F_TSO_ECN: libc::c_ulong = 0x08;
/// Size of `struct virtio_net_hdr` (no `num_buffers`), the TAP default.
pub const VNET_HDR_LEN: usize = 10;

/// Why a TAP device could not be made or used; always names the interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// `/dev/net/tun` could not be opened.
    #[error(
        "{name}: cannot open /dev/net/tun: {source} (emulation needs CAP_NET_ADMIN and a usable /dev/net/tun)"
    )]
    Open {
        /// The interface.
        name: String,
        /// The cause.
        source: io::Error,
    },
    /// The interface name is too long for the kernel (15 bytes).
    #[error("{name}: interface names have at most 15 bytes")]
    Name {
        /// The interface.
        name: String,
    },
    /// `TUNSETOFFLOAD` failed.
    #[error("{name}: TUNSETOFFLOAD failed: {source}")]
    SetOffload {
        /// The interface.
        name: String,
        /// The cause.
        source: io::Error,
    },
    /// `TUNSETIFF` failed.
    #[error("{name}: TUNSETIFF failed: {source}")]
    SetIff {
        /// The interface.
        name: String,
        /// The cause.
        source: io::Error,
    },
}

/// An open TAP device. The interface exists as long as this value does (it is not
/// persistent), so a process that dies leaves no TAP behind.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    offload: bool,
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    /// Creates the TAP interface `name` in the calling thread's network namespace.
    ///
    /// # Errors
    /// [`TapError`] naming `name`.
    pub fn create(name: &str) -> Result<Tap, TapError> {
        Self::create_with(name, false)
    }

    /// [`Tap::create`] with offloads: every frame read or written carries a
    /// virtio-net header, and the kernel may hand over TCP segments of up to 64 KB
    /// with partial checksums (`TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN`).
    ///
    /// # Errors
    /// [`TapError`] naming `name`.
    pub fn create_with(name: &str, offload: bool) -> Result<Tap, TapError> {
        if name.is_empty() || name.len() > 15 {
            return Err(TapError::Name { name: name.into() });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|source| TapError::Open {
                name: name.into(),
                source,
            })?;
        let mut req = IfReq {
            name: [0; 16],
            flags: IFF_TAP | IFF_NO_PI | if offload { IFF_VNET_HDR } else { 0 },
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `file` is an open /dev/net/tun descriptor and `req` is a properly
        // sized, initialised `struct ifreq` (16-byte name, flags) that outlives the call;
        // TUNSETIFF only reads and writes within it.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(TapError::SetIff {
                name: name.into(),
                source: io::Error::last_os_error(),
            });
        }
        if offload {
            let flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // SAFETY: TUNSETOFFLOAD takes its argument by value; the descriptor is open.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETOFFLOAD, flags) };
            if rc < 0 {
                return Err(TapError::SetOffload {
                    name: name.into(),
                    source: io::Error::last_os_error(),
                });
            }
        }
        Ok(Tap {
            file,
            name: name.to_string(),
            offload,
        })
    }

    /// Makes the interface outlive this descriptor (`TUNSETPERSIST`): it then goes only
    /// with its network namespace, which the kernel tears down with all its devices at
    /// once — closing hundreds of TAPs one by one costs an RCU grace period each.
    ///
    /// # Errors
    /// The ioctl's error, naming the interface.
    pub fn set_persist(&self, persist: bool) -> Result<(), TapError> {
        // SAFETY: TUNSETPERSIST takes its argument by value; the descriptor is open.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), TUNSETPERSIST, persist as libc::c_ulong) };
        if rc < 0 {
            return Err(TapError::SetOffload {
                name: self.name.clone(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Whether frames carry a virtio-net header.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Writes `header` then `frame` as one packet (`writev`).
    ///
    /// # Errors
    /// The write's error.
    pub fn send_vectored(&self, header: &[u8], frame: &[u8]) -> io::Result<usize> {
        let iov = [
            libc::iovec {
                iov_base: header.as_ptr() as *mut libc::c_void,
                iov_len: header.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        // SAFETY: both iovecs point into slices that live across the call and are only
        // read by writev; the descriptor is open for as long as `self`.
        let n = unsafe { libc::writev(self.file.as_raw_fd(), iov.as_ptr(), 2) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The interface name it was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame into `buf`; `WouldBlock` when none is waiting.
    ///
    /// # Errors
    /// The read's error.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the descriptor is open for as long as `self`; `buf` is valid for
        // writes of `buf.len()` bytes.
        let n = unsafe { libc::read(self.file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Writes one frame; `WouldBlock` when the interface's queue is full.
    ///
    /// # Errors
    /// The write's error.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: the descriptor is open for as long as `self`; `frame` is valid for
        // reads of `frame.len()` bytes.
        let n = unsafe { libc::write(self.file.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Set by SIGINT, SIGTERM and SIGHUP once [`install_stop_signals`] ran: a live
/// network's loop, its set-up and its steps end, and everything is torn down.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The write end of the running loop's wake-up pipe (-1: none), so that a signal
/// wakes the loop at once whichever thread the kernel delivers it to.
static WAKE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Makes the stop signals also write a byte to `fd` (`None`: no longer).
pub(super) fn set_wake_fd(fd: Option<std::os::fd::RawFd>) {
    WAKE_FD.store(fd.unwrap_or(-1), std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    let fd = WAKE_FD.load(std::sync::atomic::Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` lives across the call; the
        // loop keeps the pipe open for as long as the descriptor is registered. A full
        // pipe (EAGAIN, it is non-blocking) already means the loop will wake.
        unsafe {
            let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to [`STOP`] (instead of killing the process,
/// which would leave namespaces behind).
pub fn install_stop_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to atomics and calls write(2), both
        // async-signal-safe.
        unsafe {
            let _ = sigaction(sig, &act);
        }
    }
}

/// Waits at most `timeout` for any of `fds` to become ready (`ppoll`); returns how many
/// are. The caller keeps the array between calls, so a busy loop allocates nothing.
///
/// # Errors
/// `ppoll`'s error (`EINTR` when a signal arrived).
pub fn poll_fds(fds: &mut [libc::pollfd], timeout: std::time::Duration) -> io::Result<usize> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid, exclusively borrowed array of `pollfd` of the given
    // length; `ts` lives across the call; no signal mask is passed.
    let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, &ts, std::ptr::null()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
