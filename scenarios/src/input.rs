//! Reading a scenario file from disk as untrusted input: its type and size are checked
//! before a byte is read, at most [`MAX_FILE_BYTES`] are ever read (a sparse 3 GB file
//! or `/dev/zero` costs nothing), a FIFO or device is refused instead of blocking, and
//! text that is not UTF-8 is reported at its line and column.

use std::io::Read;
use std::path::Path;

use crate::error::ScenarioErrors;
use crate::format::MAX_FILE_BYTES;
use crate::validate::{Loaded, load};

/// Reads and validates the scenario file at `path`.
///
/// # Errors
/// One message per problem, its first line starting with the file's name (and its
/// line:column where the problem has one), then the offending source line with a caret
/// under the column ([`ScenarioError::render`](crate::ScenarioError::render)), ready to
/// print.
pub fn load_file(path: &Path) -> Result<Loaded, String> {
    load_file_with(path, false)
}

/// [`load_file`], its messages with ANSI colours when `color`
/// ([`ScenarioError::render_colored`](crate::ScenarioError::render_colored)); write
/// them through [`anstream`], which strips the colours where they are off.
///
/// # Errors
/// As [`load_file`].
pub fn load_file_with(path: &Path, color: bool) -> Result<Loaded, String> {
    let name = path.display().to_string();
    let clock = tracing::enabled!(tracing::Level::INFO).then(std::time::Instant::now);
    tracing::info!("loading {name}");
    let error = crate::style::paint(color, crate::style::FAIL, "error:");
    let text = read_text(path).map_err(|e| format!("{name}:{}\n", e.replacen("error:", &error, 1)))?;
    // A compose file (top-level `services:`) is converted first; see `netloom import compose`.
    let compose = crate::compose::is_compose(&text);
    let mut sources = Vec::new();
    // A CNI configuration (JSON with `plugins` or `type`): see `netloom import cni`.
    let cni = !compose && crate::cni::is_cni(&text);
    let text = if compose {
        let c = crate::compose::convert_file(path, &crate::compose::Options::default())?;
        c.warnings.iter().for_each(|w| anstream::eprintln!("{w}"));
        sources = c.step_sources;
        c.yaml
    } else if cni {
        let c = crate::cni::convert(&name, &text, &crate::cni::Options::default())?;
        c.warnings.iter().for_each(|w| anstream::eprintln!("{w}"));
        c.yaml
    } else {
        text
    };
    let loaded = load(&name, &text).map_err(|errs: ScenarioErrors| {
        tracing::info!("{name}: {} error(s)", errs.len());
        errs.iter()
            .map(|e| {
                let shown = if color {
                    e.render_colored(&text)
                } else {
                    e.render(&text)
                };
                format!("{shown}\n")
            })
            .chain(compose.then(|| {
                format!("  note: the lines above are in the scenario {name} converts to; `netloom import compose {name}` prints it\n")
            }))
            .chain(cni.then(|| {
                format!("  note: the lines above are in the scenario {name} converts to; `netloom import cni {name}` prints it\n")
            }))
            .collect::<String>()
    })?;
    // A default check's `[line N]` is the line of the compose file it checks (its
    // service or `ports:` entry), when that is this file.
    let mut loaded = loaded;
    for (step, (f, line)) in loaded.steps.iter_mut().zip(&sources) {
        if *f == name {
            step.line = *line;
        }
    }
    if let Some(t) = clock {
        tracing::info!(
            "loaded {name}: {} bytes, {} containers, {} networks, {} steps in {:.1} ms",
            text.len(),
            loaded.model.containers.len(),
            loaded.model.networks.len(),
            loaded.steps.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(loaded)
}

/// The text of the file at `path`; the error is what follows `FILE:` in a message
/// (` error: …` or `LINE:COL: error: …`).
///
/// # Errors
/// Not a regular file, larger than [`MAX_FILE_BYTES`], unreadable, or not UTF-8.
pub fn read_text(path: &Path) -> Result<String, String> {
    // `metadata` follows symbolic links, as opening the file does.
    let meta = std::fs::metadata(path).map_err(|e| format!(" error: cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            " error: not a regular file ({}): a scenario is read from a file",
            kind(&meta)
        ));
    }
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    let f = std::fs::File::open(path).map_err(|e| format!(" error: cannot read the file: {e}"))?;
    // The file may grow between the check and the read: never read past the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!(" error: cannot read the file: {e}"))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    decode(bytes)
}

/// UTF-8 text from `bytes`, or where the first invalid byte is.
pub fn decode(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters, as the YAML errors do; the prefix is valid UTF-8.
        let column = 1 + std::str::from_utf8(&bytes[start..at]).map_or(at - start, |s| s.chars().count());
        format!(
            "{line}:{column}: error: the file is not UTF-8 text (byte 0x{:02x} cannot start or continue a character)\n  \
             hint: save the file as UTF-8",
            bytes.get(at).copied().unwrap_or(0)
        )
    })
}

fn too_large(len: u64) -> String {
    format!(" error: the file is {len} bytes, more than the {MAX_FILE_BYTES} a scenario may have")
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_placed_by_line_and_column() {
        let e = decode(b"name: x\nsteps: [\xc3a]\n".to_vec()).expect_err("not UTF-8");
        assert!(e.starts_with("2:9: error"), "{e}");
        let mut text = "name: é".as_bytes().to_vec();
        text.push(0xff);
        let e = decode(text).expect_err("not UTF-8");
        // 'é' is one character of two bytes: the bad byte is the 8th character.
        assert!(e.starts_with("1:8: error"), "{e}");
    }

    #[test]
    fn devices_and_fifos_are_refused_without_reading() {
        // /dev/zero would be read until memory ran out.
        let e = read_text(Path::new("/dev/zero")).expect_err("a device");
        assert!(e.contains("character device"), "{e}");
        let e = read_text(Path::new("/")).expect_err("a directory");
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn a_sparse_huge_file_is_refused_by_its_size() {
        let dir = std::env::temp_dir().join(format!("netloom-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("huge.yaml");
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(3 << 30).expect("sparse 3 GB");
        let e = read_text(&p).expect_err("too large");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("3221225472 bytes"), "{e}");
    }
}
