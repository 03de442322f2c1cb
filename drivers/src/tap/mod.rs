//! Emulation's edge: TAP devices, the element that stands for a real network namespace
//! in the fabric, and the loop that runs the fabric in real time between them.
//!
//! All of the workspace's `unsafe` code is in `tap/device.rs` (the ioctls and the raw
//! reads and writes of a TAP file descriptor, the stop-signal handler) and
//! `tap/exec.rs` (entering a namespace between `fork` and `exec`), each block with its
//! `SAFETY:` reason.

mod device;
mod exec;
mod live;
mod port;

pub use device::{STOP, Tap, TapError, install_stop_signals};
pub use exec::NsEntry;
pub use live::{Command, Live, LiveHandle, LiveStats};
pub use port::TapPort;
