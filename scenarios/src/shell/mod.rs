//! `netloom lab FILE`: an interactive shell over a scenario's network, simulated.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`command`] | the command language: words, verbs, their options |
//! | [`session`] | the live lab and each command run on it (through the runner's `run_step`) |
//! | [`inspect`] | `ps`, `network ls`, `network inspect` in Docker's shapes |
//! | `words` | what curl and dig print for an outcome |
//!
//! On a terminal, lines are edited with rustyline: history (kept in
//! `$XDG_STATE_HOME/netloom/history`, else `~/.local/state/netloom/history`; none when
//! neither is set) and tab completion of verbs and of the scenario's names. From a file
//! or a pipe, commands are read line by line without editing or history, and the exit
//! status says whether every command worked ([`script`]).

pub mod command;
pub mod inspect;
pub mod session;
pub(crate) mod words;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use session::{Fate, Names, Reply, Session};

/// The prompt.
pub const PROMPT: &str = "netloom> ";

/// Longest command line read from a file or pipe; a longer one is reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// Lines of history kept.
const HISTORY_SIZE: usize = 1000;

/// `netloom lab`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct LabArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Override the file's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Reading commands from a file or pipe: print each after the prompt before its
    /// output, so the output reads as a session.
    #[arg(long)]
    pub echo: bool,
}

/// Runs the shell; returns the exit status: 2 for an invalid file; on a terminal, 0
/// (or `exit N`'s N); from a file or pipe, as [`script`] says.
pub fn main(args: &LabArgs) -> u8 {
    let loaded = match crate::load_file(&args.file) {
        Ok(l) => l,
        Err(msg) => {
            eprint!("{msg}");
            return 2;
        }
    };
    let mut session = Session::new(loaded, args.seed);
    if std::io::stdin().is_terminal() {
        return interactive(&mut session);
    }
    let stdin = std::io::stdin();
    let banner = session.banner();
    // The banner's warnings matter in a script too; its greeting does not.
    for l in banner.lines().filter(|l| l.starts_with('!')) {
        eprintln!("{l}");
    }
    script(
        &mut session,
        stdin.lock(),
        args.echo,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// Runs commands read from `input` (no line editing, no history) and returns the exit
/// status: `exit N` leaves with N; otherwise, at `exit` or the end of the input, 0 when
/// every command worked, 1 when one failed (the network said no: a ping without reply,
/// a refused connection, a lookup nobody answered; or a link, stop or start that could
/// not be done), 2 when one could not run (a usage error, an unknown name). A command
/// after `!` counts as worked when it failed. Messages about commands go to `err` as
/// `line N: …`; the shell goes on after them.
pub fn script(
    session: &mut Session,
    mut input: impl BufRead,
    echo: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    let mut worst = Fate::Ok;
    let mut n = 0usize;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = std::io::Read::take(&mut input, MAX_LINE as u64 + 1).read_until(b'\n', &mut buf);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "netloom lab: reading commands: {e}");
                worst = worst.max(Fate::Invalid);
                break;
            }
        }
        n += 1;
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the line, whatever its length.
            let mut rest = Vec::new();
            let _ = input.read_until(b'\n', &mut rest);
            let _ = writeln!(err, "line {n}: longer than {MAX_LINE} bytes: skipped");
            worst = worst.max(Fate::Invalid);
            continue;
        }
        let line = match std::str::from_utf8(&buf) {
            Ok(l) => l.trim_end_matches(['\n', '\r']),
            Err(e) => {
                let _ = writeln!(err, "line {n}: not UTF-8 text ({e})");
                worst = worst.max(Fate::Invalid);
                continue;
            }
        };
        if echo && !line.trim().is_empty() {
            let _ = writeln!(out, "{PROMPT}{line}");
        }
        let reply = one_line(session, line);
        if write_reply(&reply, out, err, Some(n)).is_err() {
            // A closed pipe: nobody reads any more.
            break;
        }
        if let Some(code) = reply.exit {
            finish(session, out, err);
            return code.unwrap_or_else(|| status(worst));
        }
        worst = worst.max(reply.fate);
    }
    finish(session, out, err);
    status(worst)
}

fn status(worst: Fate) -> u8 {
    match worst {
        Fate::Ok => 0,
        Fate::Failed => 1,
        Fate::Invalid => 2,
    }
}

/// Parses and runs one line; `!` inverts the success of what follows it.
fn one_line(session: &mut Session, line: &str) -> Reply {
    match command::parse(line) {
        Ok(None) => Reply {
            out: String::new(),
            err: String::new(),
            fate: Fate::Ok,
            exit: None,
        },
        Ok(Some(p)) => {
            let mut r = session.execute(&p.command);
            if p.invert {
                r.fate = match r.fate {
                    Fate::Ok => Fate::Failed,
                    Fate::Failed => Fate::Ok,
                    Fate::Invalid => Fate::Invalid,
                };
            }
            r
        }
        Err(e) => Reply {
            out: String::new(),
            err: e,
            fate: Fate::Invalid,
            exit: None,
        },
    }
}

fn write_reply(
    r: &Reply,
    out: &mut impl Write,
    err: &mut impl Write,
    line: Option<usize>,
) -> std::io::Result<()> {
    out.write_all(r.out.as_bytes())?;
    out.flush()?;
    if !r.err.is_empty() {
        let msg = r.err.trim_end();
        match line {
            Some(n) => writeln!(err, "line {n}: {msg}")?,
            None => writeln!(err, "error: {msg}")?,
        }
        err.flush()?;
    }
    Ok(())
}

/// Closes a capture still running, saying so.
fn finish(session: &mut Session, out: &mut impl Write, err: &mut impl Write) {
    if let Some(r) = session.finish() {
        let _ = write_reply(&r, out, err, None);
    }
}

/// Where the history is kept: `$XDG_STATE_HOME/netloom/history` (an absolute path, as
/// the XDG spec asks), else `$HOME/.local/state/netloom/history`; `None` when neither
/// is set: no file is written.
pub fn history_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(x) if Path::new(&x).is_absolute() => PathBuf::from(x),
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".local/state"),
    };
    Some(base.join("netloom").join("history"))
}

/// The interactive loop on a terminal.
fn interactive(session: &mut Session) -> u8 {
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| {
            b.history_ignore_space(true)
                .completion_type(CompletionType::List)
                .auto_add_history(false)
                .build()
        })
        .unwrap_or_default();
    let mut rl: Editor<LabHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("netloom lab: cannot set up the terminal: {e}");
            return 2;
        }
    };
    rl.set_helper(Some(LabHelper {
        names: session.names().clone(),
    }));
    let history = history_path();
    let mut history_ok = true;
    if let Some(p) = &history
        && p.exists()
        && let Err(e) = rl.load_history(p)
    {
        eprintln!("netloom lab: history {} not read: {e}", p.display());
    }
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let _ = out.write_all(session.banner().as_bytes());
    let code = loop {
        match rl.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                    if let Some(p) = &history
                        && history_ok
                    {
                        history_ok = save_history(&mut rl, p);
                    }
                }
                let reply = one_line(session, &line);
                if write_reply(&reply, &mut out, &mut err, None).is_err() {
                    break 0;
                }
                if let Some(code) = reply.exit {
                    break code.unwrap_or(0);
                }
            }
            // Ctrl-C drops the line being edited, as in bash.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => {
                let _ = writeln!(out, "exit");
                break 0;
            }
            Err(e) => {
                eprintln!("netloom lab: reading the terminal: {e}");
                break 1;
            }
        }
    };
    finish(session, &mut out, &mut err);
    code
}

/// Appends the new history entries to the file (its folder created); says once why
/// not, and returns whether to go on trying.
fn save_history(rl: &mut Editor<LabHelper, DefaultHistory>, p: &Path) -> bool {
    let r = match p.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(ReadlineError::Io),
        None => Ok(()),
    }
    .and_then(|()| rl.append_history(p));
    if let Err(e) = r {
        eprintln!("netloom lab: history not saved to {}: {e}", p.display());
        return false;
    }
    true
}

/// Completion of verbs and of the scenario's names.
pub struct LabHelper {
    names: Names,
}

impl LabHelper {
    /// A helper completing `names`.
    pub fn new(names: Names) -> LabHelper {
        LabHelper { names }
    }

    /// The candidates for the word being typed after `before` (the words already
    /// written), in order.
    pub fn candidates(&self, before: &[String], partial: &str) -> Vec<String> {
        let n = &self.names;
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut c: Vec<String> = match before.split_first() {
            None => command::verbs().map(str::to_string).collect(),
            Some((verb, args)) => {
                let verb = verb.strip_prefix('!').unwrap_or(verb);
                let last = args.last().map(String::as_str);
                // Positional words so far (options and their values left out).
                let mut pos = 0usize;
                let mut skip = false;
                for a in args {
                    if skip {
                        skip = false;
                    } else if matches!(a.as_str(), "-c" | "-s" | "-M" | "-T" | "--upload") {
                        skip = true;
                    } else if !a.starts_with('-') {
                        pos += 1;
                    }
                }
                let machines_then_targets = || {
                    if pos == 0 {
                        n.machines.clone()
                    } else {
                        n.machines.iter().chain(n.targets.iter()).cloned().collect()
                    }
                };
                match verb {
                    _ if matches!(last, Some("-c" | "-s" | "-T" | "--upload")) => Vec::new(),
                    _ if last == Some("-M") => owned(&["do", "want", "dont"]),
                    "network" if pos == 0 => owned(&["ls", "inspect"]),
                    "network" if args.first().is_some_and(|a| a == "inspect") => n.networks.clone(),
                    "ping" | "curl" | "dig" if pos <= 1 => machines_then_targets(),
                    "explain" if pos <= 1 => machines_then_targets(),
                    "explain" if pos == 2 => owned(&["tcp", "udp", "icmp"]),
                    "stop" | "start" if pos == 0 => n.containers.clone(),
                    "link" if pos == 0 => owned(&["down", "set", "up"]),
                    "link" if pos <= 2 => n.endpoints.clone(),
                    "link" if args.first().is_some_and(|a| a == "set") && pos % 2 == 1 => {
                        owned(&["jitter", "latency", "loss", "mtu", "rate"])
                    }
                    "capture" if pos == 0 => owned(&["start", "stop"]),
                    "help" if pos == 0 => command::verbs().map(str::to_string).collect(),
                    _ => Vec::new(),
                }
            }
        };
        c.retain(|x| x.starts_with(partial));
        c.sort();
        c.dedup();
        c
    }
}

impl Completer for LabHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let mut start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let Ok(words) = command::words(&before[..start]) else {
            return Ok((pos, Vec::new()));
        };
        let mut partial = &before[start..];
        if words.is_empty()
            && let Some(rest) = partial.strip_prefix('!')
        {
            partial = rest;
            start += 1;
        }
        let pairs = self
            .candidates(&words, partial)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for LabHelper {
    type Hint = String;
}

impl Highlighter for LabHelper {}

impl Validator for LabHelper {}

impl Helper for LabHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
name: script test
networks:
  app: {}
containers:
  web: { networks: [app], listen: [tcp/80] }
  client: { networks: [app] }
"#;

    fn session() -> Session {
        Session::new(crate::load("s.yaml", FILE).expect("valid"), None)
    }

    fn run_script(text: &[u8], echo: bool) -> (u8, String, String) {
        let mut s = session();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = script(&mut s, text, echo, &mut out, &mut err);
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// The exit status: 0 all worked, 1 the network said no, 2 a command could not run;
    /// `!` inverts; `exit N` decides; the shell goes on after a bad line.
    #[test]
    fn script_exit_status() {
        assert_eq!(run_script(b"ping -c 1 client web\n", false).0, 0);
        assert_eq!(run_script(b"ping -c 1 client 10.9.9.9\n", false).0, 1);
        assert_eq!(run_script(b"! ping -c 1 client 10.9.9.9\n", false).0, 0);
        let (code, out, err) = run_script(b"pnig x\nping -c 1 client web\n", false);
        assert_eq!(code, 2);
        assert!(
            err.starts_with("line 1: unknown command 'pnig' (did you mean 'ping'?)"),
            "{err}"
        );
        assert!(out.contains("1/1 replies"), "the shell went on: {out}");
        assert_eq!(run_script(b"ping -c 1 client 10.9.9.9\nexit 0\n", false).0, 0);
        assert_eq!(run_script(b"exit 7\nping x y\n", false).0, 7);
        let (code, _, err) = run_script(b"ps\n\xff\xfe\n", false);
        assert_eq!(code, 2);
        assert!(err.contains("line 2: not UTF-8"), "{err}");
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.extend_from_slice(b"\nps\n");
        let (code, out, err) = run_script(&long, false);
        assert_eq!(code, 2);
        assert!(err.contains("line 1: longer than"), "{err}");
        assert!(out.contains("CONTAINER ID"), "the next line ran: {out}");
    }

    /// Same commands, same output: simulated time only moves with commands.
    #[test]
    fn scripts_are_deterministic_and_echo() {
        let cmds = b"ping client web\ncurl client web:80\ndig client web\ntrace\n# note\n";
        let a = run_script(cmds, true);
        let b = run_script(cmds, true);
        assert_eq!(a, b);
        assert!(
            a.1.starts_with("netloom> ping client web\n✓ ping client -> web\n"),
            "{}",
            a.1
        );
        assert!(
            a.1.ends_with("netloom> # note\n"),
            "a comment is echoed, and does nothing: {}",
            a.1
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever is typed, the shell answers and goes on: no panic, a status 0-2, and
        /// every line that could not run has its message.
        #[test]
        fn no_input_panics(script_lines in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![
                "ping", "curl", "dig", "explain", "network", "inspect", "ls", "link", "down", "up",
                "stop", "start", "wait", "trace", "ps", "time", "help", "!", "#", "-c", "-s", "-M",
                "-T", "2", "0", "-1", "do", "1s", "99999999999h", "1KB", "web", "client", "app",
                "web.eth0", "bridge", "host1", "10.0.0.1", "::1", "[::1]:80", "web:80", "web:0",
                "http://web/", "ftp://x", "'", "\"", "a'b", "é", "\u{0}", ":", "udp", "icmp",
            ]), 0..6),
            1..8,
        )) {
            let text: String = script_lines.iter().map(|l| l.join(" ") + "\n").collect();
            let mut s = session();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = script(&mut s, text.as_bytes(), true, &mut out, &mut err);
            proptest::prop_assert!(code <= 2);
            if code == 2 {
                proptest::prop_assert!(!err.is_empty(), "a line that could not run says why");
            }
        }
    }

    #[test]
    fn completion_by_position() {
        let h = LabHelper::new(session().names().clone());
        let w = |s: &str| command::words(s).expect("words");
        assert_eq!(h.candidates(&[], "pi"), ["ping"]);
        assert_eq!(h.candidates(&w("ping"), "cl"), ["client"]);
        assert_eq!(h.candidates(&w("ping -c 3"), "w"), ["web"]);
        assert!(
            h.candidates(&w("ping -c"), "").is_empty(),
            "a count is not a name"
        );
        assert_eq!(h.candidates(&w("network"), "i"), ["inspect"]);
        assert_eq!(h.candidates(&w("network inspect"), "a"), ["app"]);
        assert_eq!(h.candidates(&w("link down"), "web."), ["web.eth0"]);
        assert_eq!(
            h.candidates(&w("link set web.eth0 app"), "l"),
            ["latency", "loss"]
        );
        assert!(h.candidates(&w("link set web.eth0 app loss"), "").is_empty());
        assert_eq!(h.candidates(&w("stop"), ""), ["client", "web"]);
        assert!(h.candidates(&w("ps"), "").is_empty());
    }
}
