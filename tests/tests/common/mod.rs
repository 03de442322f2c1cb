//! What the command-line and emulation tests share: the repository root, the `netloom`
//! binary, and the rule for checks that cannot run here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds (once per call; cargo makes repeats cheap) and returns the `netloom` binary.
pub fn binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "netloom-scenarios", "--bin", "netloom"])
        .current_dir(root())
        .status()
        .expect("cargo runs");
    assert!(status.success());
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("debug/netloom")
}

/// A check that cannot run here: prints why and lets the test pass, unless
/// `NETLOOM_REQUIRE_ALL` is set (as `.ci/run` does), which makes it fail.
#[allow(dead_code)] // not every test binary that includes this module skips
pub fn skip(what: &str, why: &str) {
    assert!(
        std::env::var_os("NETLOOM_REQUIRE_ALL").is_none(),
        "{what}: cannot run: {why} (NETLOOM_REQUIRE_ALL is set)"
    );
    eprintln!("skipping {what}: {why}");
}

/// Whether this process runs as root (effective uid 0).
#[allow(dead_code)] // not every test binary that includes this module asks
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether this machine can make live networks (root, /dev/net/tun, ping); says why
/// not, which is a failure under `NETLOOM_REQUIRE_ALL`.
#[allow(dead_code)] // not every test binary that includes this module emulates
pub fn can_emulate(test: &str) -> bool {
    let why = if !is_root() {
        Some("not root (emulation needs CAP_NET_ADMIN)")
    } else if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_err()
    {
        Some("/dev/net/tun cannot be opened")
    } else if Command::new("ping").arg("-V").output().is_err() {
        Some("ping (iputils-ping) is not installed")
    } else {
        None
    };
    if let Some(w) = why {
        skip(test, w);
    }
    why.is_none()
}
