//! Progress on a terminal (indicatif, on standard error) for what can take a while:
//! loading and compiling a large file, making a live network's namespaces and TAPs.
//!
//! Off unless the binary turns it on ([`enable`]), which it does only when standard
//! error is a terminal and no log (`-v`, `RUST_LOG`) writes there; indicatif itself
//! also draws nothing where standard error is not a terminal. Bars go to standard
//! error only, so `--json` and `--junit` output never carry them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns progress on or off for this process.
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// Whether progress is drawn: turned on, and standard error is a terminal.
pub fn enabled() -> bool {
    use std::io::IsTerminal;
    ON.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A spinner with `message`, ticking until finished (hidden when progress is off).
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        pb.set_style(style);
    }
    pb.set_message(message.into());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// A bar of `len` units with `message` (hidden when progress is off).
pub fn bar(len: u64, message: impl Into<String>) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(message.into());
    pb
}
