//! Live runs on this machine: each writes `/run/netloom/ID.json` before it creates
//! anything, naming its process and namespaces, so `netloom ls` can list live runs and
//! `netloom cleanup` can remove what a killed one left behind. Every namespace's name
//! starts with `nl` and the run id.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::netns;

/// Where run records live.
pub const RUN_DIR: &str = "/run/netloom";

/// A run's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (in every namespace name).
    pub id: String,
    /// The process running it.
    pub pid: u32,
    /// The scenario file.
    pub file: String,
    /// Machine name → namespace name.
    pub namespaces: Vec<(String, String)>,
}

impl RunRecord {
    fn path(id: &str) -> PathBuf {
        PathBuf::from(RUN_DIR).join(format!("{id}.json"))
    }

    /// Writes the record.
    ///
    /// # Errors
    /// The file system's error.
    pub fn save(&self) -> Result<(), String> {
        std::fs::create_dir_all(RUN_DIR).map_err(|e| format!("{RUN_DIR}: {e}"))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(Self::path(&self.id), text).map_err(|e| format!("{RUN_DIR}: {e}"))
    }

    /// Removes the record.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(Self::path(&self.id));
    }

    /// Whether its process still runs.
    pub fn alive(&self) -> bool {
        PathBuf::from(format!("/proc/{}", self.pid)).exists()
            && std::fs::read_to_string(format!("/proc/{}/cmdline", self.pid))
                .is_ok_and(|c| c.contains("netloom") || c.contains("emulat"))
    }

    /// The namespace of machine `name`.
    pub fn namespace_of(&self, name: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(m, _)| m == name)
            .map(|(_, n)| n.as_str())
    }
}

/// Every run record on this machine, newest id last.
pub fn runs() -> Vec<RunRecord> {
    let mut v: Vec<RunRecord> = std::fs::read_dir(RUN_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a: &RunRecord, b| a.id.cmp(&b.id));
    v
}

/// Removes what dead runs left: their namespaces, `/etc/netns` files and records, and
/// any `nl…` namespace no live run owns. Returns what was removed.
pub fn cleanup() -> Vec<String> {
    let mut removed = Vec::new();
    let all = runs();
    let live: Vec<&RunRecord> = all.iter().filter(|r| r.alive()).collect();
    for r in all.iter().filter(|r| !r.alive()) {
        let ns: Vec<String> = r.namespaces.iter().map(|(_, n)| n.clone()).collect();
        removed.extend(netns::delete(&ns).into_iter().map(|n| format!("namespace {n}")));
        r.remove();
        removed.push(format!("record of run {} (pid {} is gone)", r.id, r.pid));
    }
    let owned: Vec<&str> = live
        .iter()
        .flat_map(|r| r.namespaces.iter().map(|(_, n)| n.as_str()))
        .collect();
    let orphans: Vec<String> = netns::list()
        .into_iter()
        .filter(|n| is_ours(n) && !owned.contains(&n.as_str()))
        .collect();
    removed.extend(
        netns::delete(&orphans)
            .into_iter()
            .map(|n| format!("namespace {n}")),
    );
    removed
}

/// Whether a namespace name has netloom's shape: `nl`, eight hex digits, `-`, a name.
pub fn is_ours(ns: &str) -> bool {
    let b = ns.as_bytes();
    b.len() > 11 && ns.starts_with("nl") && b[2..10].iter().all(u8::is_ascii_hexdigit) && b[10] == b'-'
}
