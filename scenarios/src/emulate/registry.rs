//! Live runs on this machine: each writes `/run/netloom/ID.json` before it creates
//! anything, naming its process (pid and start time) and namespaces, so `netloom ls`
//! can list live runs and `netloom cleanup` can remove what a killed one left behind —
//! and only that. Every namespace's name starts with `nl` and the run id.

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
    /// When that process started (field 22 of `/proc/PID/stat`, clock ticks since
    /// boot): a pid alone may since belong to another process. Records written before
    /// netloom kept it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// The scenario file.
    pub file: String,
    /// Machine name → namespace name.
    pub namespaces: Vec<(String, String)>,
}

impl RunRecord {
    /// The record of run `id` of this process.
    pub fn new(id: String, file: String, namespaces: Vec<(String, String)>) -> RunRecord {
        let pid = std::process::id();
        RunRecord {
            id,
            pid,
            start_time: process_start_time(pid),
            file,
            namespaces,
        }
    }

    fn path(id: &str) -> PathBuf {
        PathBuf::from(RUN_DIR).join(format!("{id}.json"))
    }

    /// Writes the record (whole or not at all: a reader never sees half of it).
    ///
    /// # Errors
    /// The file system's error.
    pub fn save(&self) -> Result<(), String> {
        std::fs::create_dir_all(RUN_DIR).map_err(|e| format!("{RUN_DIR}: {e}"))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let tmp = PathBuf::from(RUN_DIR).join(format!(".{}.tmp", self.id));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, Self::path(&self.id)).map_err(|e| format!("{RUN_DIR}: {e}"))
    }

    /// Removes the record.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(Self::path(&self.id));
    }

    /// Whether the process that wrote the record still runs: its pid is alive and is
    /// the same process (same start time). A record without a start time (an older
    /// netloom's) counts as alive only while its pid is a process named `netloom`.
    pub fn alive(&self) -> bool {
        match self.start_time {
            Some(t) => process_start_time(self.pid) == Some(t),
            None => std::fs::read_to_string(format!("/proc/{}/comm", self.pid))
                .is_ok_and(|c| c.trim_end() == "netloom"),
        }
    }

    /// The namespace of machine `name`.
    pub fn namespace_of(&self, name: &str) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(m, _)| m == name)
            .map(|(_, n)| n.as_str())
    }

    /// The namespace names.
    pub fn namespace_names(&self) -> Vec<String> {
        self.namespaces.iter().map(|(_, n)| n.clone()).collect()
    }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22);
/// `None` when there is no such process.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and ')': the
    // fields after it start after the last ')'. Field 3 is the first of those.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
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

/// What `netloom cleanup` did and did not do.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// What was removed (namespaces, processes, records), one line each.
    pub removed: Vec<String>,
    /// What looks like netloom's but no record names: reported, left alone.
    pub left: Vec<String>,
}

/// Removes what dead runs left — exactly what their records name: the processes
/// still running in their namespaces, the namespaces, their `/etc/netns` files, the
/// records. A namespace shaped like netloom's that no record names is reported, not
/// deleted: netloom cannot know it made it.
pub fn cleanup() -> Cleanup {
    let mut out = Cleanup::default();
    let all = runs();
    for r in all.iter().filter(|r| !r.alive()) {
        let gone = netns::delete(&r.id, &r.namespace_names());
        if gone.killed > 0 {
            out.removed.push(format!(
                "{} process(es) still running in run {}'s namespaces",
                gone.killed, r.id
            ));
        }
        out.removed
            .extend(gone.deleted.into_iter().map(|n| format!("namespace {n}")));
        r.remove();
        out.removed
            .push(format!("record of run {} (pid {} is gone)", r.id, r.pid));
    }
    let named: Vec<&str> = all
        .iter()
        .flat_map(|r| r.namespaces.iter().map(|(_, n)| n.as_str()))
        .collect();
    for n in netns::list() {
        if is_ours(&n) && !named.contains(&n.as_str()) {
            out.left.push(n);
        }
    }
    out
}

/// Whether a namespace name has netloom's shape: `nl`, eight hex digits, `-`, a name.
pub fn is_ours(ns: &str) -> bool {
    let b = ns.as_bytes();
    b.len() > 11 && ns.starts_with("nl") && b[2..10].iter().all(u8::is_ascii_hexdigit) && b[10] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's record is alive; the same pid with another start time (a pid
    /// reused by a different process) is not, whatever the command line says.
    #[test]
    fn a_reused_pid_is_not_the_run() {
        let me = RunRecord::new("0badc0de".into(), "f.yaml".into(), Vec::new());
        assert!(me.start_time.is_some());
        assert!(me.alive());
        let other = RunRecord {
            start_time: me.start_time.map(|t| t + 1),
            ..me.clone()
        };
        assert!(!other.alive());
    }

    /// A record written before start times were kept still loads.
    #[test]
    fn old_records_load() {
        let r: Result<RunRecord, _> = serde_json::from_str(
            r#"{"id":"0badc0de","pid":1,"file":"f","namespaces":[["a","nl0badc0de-a"]]}"#,
        );
        assert!(r.is_ok_and(|r| r.start_time.is_none() && r.namespace_of("a") == Some("nl0badc0de-a")));
    }
}
