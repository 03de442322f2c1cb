//! Captures written as the run goes: one pcap file per link, each frame appended as it
//! crosses, so `--pcap` costs a few buffers however many frames a run moves. At most
//! [`MAX_OPEN`] files are open at once (a large topology has more links than a process
//! has descriptors); a file closed to make room is reopened for appending.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use netloom_core::capture::{CaptureSink, write_pcap_header, write_pcap_record};
use netloom_core::{Fabric, LinkId, SimTime};

/// Most pcap files open at once.
pub const MAX_OPEN: usize = 64;

/// Longest pcap file name written: well under the 255 bytes file systems allow, so a
/// capture never fails half-way for the length of a name.
const MAX_PCAP_NAME: usize = 160;

/// The file name of link `index` named `link` (`host1.eth0--office`, `api.eth0`), optionally
/// prefixed with the scenario's name: characters other than letters, digits, `-` and
/// `.` become `_`, and a name too long for a file system is shortened with a hash of
/// the whole, so names stay unique and every capture of a run can be written.
pub fn pcap_file_name(prefix: Option<&str>, index: u32, link: &str) -> String {
    let clean = |s: &str, keep_dot: bool| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || (keep_dot && c == '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut stem = match prefix {
        Some(p) => format!("{}-{index:03}-{}", clean(p, false), clean(link, true)),
        None => format!("{index:03}-{}", clean(link, true)),
    };
    if stem.len() + ".pcap".len() > MAX_PCAP_NAME {
        // FNV-1a of the full stem: deterministic, and different links stay apart.
        let hash = stem.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        stem.truncate(MAX_PCAP_NAME - ".pcap".len() - 17);
        stem = format!("{stem}-{hash:016x}");
    }
    stem + ".pcap"
}

/// A [`CaptureSink`] writing one pcap file per link of a fabric into a directory.
pub struct PcapDir {
    dir: PathBuf,
    /// File name per link id.
    names: Vec<String>,
    /// Open writers per link id (at most [`MAX_OPEN`] at once).
    open: Vec<Option<BufWriter<File>>>,
    /// Links with an open writer, oldest first.
    order: VecDeque<usize>,
    /// Whether a link's file exists (header written).
    created: Vec<bool>,
    error: Option<io::Error>,
}

impl PcapDir {
    /// A sink for every link `fabric` has now, writing into `dir` (created if needed);
    /// file names carry `prefix` when several scenarios share the directory.
    ///
    /// # Errors
    /// When `dir` cannot be created.
    pub fn new(dir: &Path, fabric: &Fabric, prefix: Option<&str>) -> io::Result<PcapDir> {
        std::fs::create_dir_all(dir)?;
        let names: Vec<String> = fabric
            .links()
            .map(|(id, l)| pcap_file_name(prefix, id.0, &l.name))
            .collect();
        let n = names.len();
        Ok(PcapDir {
            dir: dir.to_path_buf(),
            names,
            open: (0..n).map(|_| None).collect(),
            order: VecDeque::new(),
            created: vec![false; n],
            error: None,
        })
    }

    /// The files this sink writes, one per link.
    pub fn files(&self) -> Vec<PathBuf> {
        self.names.iter().map(|n| self.dir.join(n)).collect()
    }

    fn writer(&mut self, i: usize) -> io::Result<&mut BufWriter<File>> {
        if self.open[i].is_none() {
            if self.order.len() >= MAX_OPEN
                && let Some(old) = self.order.pop_front()
                && let Some(mut w) = self.open[old].take()
            {
                w.flush()?;
            }
            let path = self.dir.join(&self.names[i]);
            let w = if self.created[i] {
                BufWriter::new(OpenOptions::new().append(true).open(path)?)
            } else {
                let mut w = BufWriter::new(File::create(path)?);
                write_pcap_header(&mut w)?;
                self.created[i] = true;
                w
            };
            self.open[i] = Some(w);
            self.order.push_back(i);
        }
        self.open[i]
            .as_mut()
            .ok_or_else(|| io::Error::other("a pcap writer vanished"))
    }
}

impl CaptureSink for PcapDir {
    fn frame(&mut self, link: LinkId, time: SimTime, data: &[u8]) {
        let i = link.0 as usize;
        if self.error.is_some() || i >= self.names.len() {
            return;
        }
        if let Err(e) = self.writer(i).and_then(|w| write_pcap_record(w, time, data)) {
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for w in self.open.iter_mut().filter_map(Option::as_mut) {
            w.flush()?;
        }
        self.open.iter_mut().for_each(|w| *w = None);
        self.order.clear();
        // Links nothing crossed still get their (empty) capture.
        for i in 0..self.names.len() {
            if !self.created[i] {
                let mut w = BufWriter::new(File::create(self.dir.join(&self.names[i]))?);
                write_pcap_header(&mut w)?;
                w.flush()?;
                self.created[i] = true;
            }
        }
        Ok(())
    }
}

impl Drop for PcapDir {
    /// A capture ended without [`CaptureSink::finish`] (a panic unwinding, an error
    /// path) is still complete on disk: buffers flushed, a file for every link.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_links_than_open_files_are_all_written_in_order() {
        let dir = std::env::temp_dir().join(format!("netloom-pcapdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let n = MAX_OPEN + 10;
        let mut sink = PcapDir {
            dir: dir.clone(),
            names: (0..n).map(|i| format!("{i}.pcap")).collect(),
            open: (0..n).map(|_| None).collect(),
            order: VecDeque::new(),
            created: vec![false; n],
            error: None,
        };
        // Two rounds over every link: the second reopens evicted files for appending.
        for round in 0..2u8 {
            for i in 0..n - 1 {
                sink.frame(LinkId(i as u32), SimTime(u64::from(round)), &[round, i as u8]);
            }
        }
        sink.finish().expect("written");
        for i in 0..n - 1 {
            let bytes = std::fs::read(dir.join(format!("{i}.pcap"))).expect("file");
            assert_eq!(bytes.len(), 24 + 2 * (16 + 2), "link {i}");
            assert_eq!(&bytes[24 + 16..24 + 18], &[0, i as u8]);
            assert_eq!(&bytes[24 + 18 + 16..], &[1, i as u8]);
        }
        // The link nothing crossed has a header-only file.
        assert_eq!(
            std::fs::read(dir.join(format!("{}.pcap", n - 1)))
                .expect("file")
                .len(),
            24
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
