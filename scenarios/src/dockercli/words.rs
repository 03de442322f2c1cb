//! Splitting a script into commands and words, as a POSIX shell would for the simple
//! commands people type: quotes, backslashes, line continuations, comments and the
//! `;`, `&&` and `||` separators. Nothing is expanded and nothing is executed: a `$`
//! expansion, a pipe, a redirection or a background `&` is an error at its line and
//! column, since no shell runs here.

/// How a command is joined to the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// First on its line, or after `;`: runs whatever happened before.
    Always,
    /// After `&&`: runs only when the command before succeeded.
    IfOk,
    /// After `||`: runs only when the command before failed.
    IfFailed,
}

impl Join {
    /// Whether the command runs, given how the one before it ended.
    pub fn runs(self, last_ok: bool) -> bool {
        match self {
            Join::Always => true,
            Join::IfOk => last_ok,
            Join::IfFailed => !last_ok,
        }
    }
}

/// One simple command of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Its words, quotes removed.
    pub words: Vec<String>,
    /// 1-based line and column of its first word.
    pub line: usize,
    /// Column of its first word.
    pub col: usize,
    /// How it is joined to the command before.
    pub join: Join,
    /// The command as written (joined continuation lines), for echoing.
    pub text: String,
}

/// A syntax error at a place of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

/// Splits `text` into commands. A line may start with a prompt (`$ `), which is
/// dropped, so pasted terminal sessions work; `sudo` is left to the caller.
///
/// # Errors
/// The first syntax error: an unclosed quote, an expansion, a pipe, a redirection, a
/// background `&`, a separator with no command before it.
pub fn split(text: &str) -> Result<Vec<Command>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0usize;
    let (mut line, mut col) = (1usize, 1usize);
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut start: Option<(usize, usize, usize)> = None; // line, col, char index
    let mut join = Join::Always;
    let mut at_line_start = true;
    let err = |line, col, msg: &str| SyntaxError {
        line,
        col,
        msg: msg.to_string(),
    };

    // Ends the current word, and with `end`, the current command.
    // Where the command's last word ended, so that a trailing comment is not echoed.
    let mut word_end = 0usize;
    macro_rules! flush_word {
        () => {
            if let Some(w) = word.take() {
                words.push(w);
                word_end = i.min(chars.len());
            }
        };
    }
    macro_rules! end_command {
        ($upto:expr) => {
            flush_word!();
            if let Some((l, c, from)) = start.take() {
                let upto = if word_end > from {
                    word_end.min($upto)
                } else {
                    $upto
                };
                let raw: String = chars[from..upto].iter().collect();
                out.push(Command {
                    words: std::mem::take(&mut words),
                    line: l,
                    col: c,
                    join,
                    text: raw.replace("\\\n", " ").trim().to_string(),
                });
            }
        };
    }

    while i < chars.len() {
        let ch = chars[i];
        if at_line_start {
            // A pasted prompt: `$ docker ps`.
            let mut j = i;
            while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
                j += 1;
            }
            if chars.get(j) == Some(&'$') && matches!(chars.get(j + 1), Some(' ' | '\t')) {
                col += j + 2 - i;
                i = j + 2;
                at_line_start = false;
                continue;
            }
            at_line_start = false;
        }
        let here = (line, col);
        let begin = |start: &mut Option<(usize, usize, usize)>| {
            if start.is_none() {
                *start = Some((here.0, here.1, i));
            }
        };
        match ch {
            '\n' => {
                end_command!(i);
                join = Join::Always;
                line += 1;
                col = 1;
                i += 1;
                at_line_start = true;
                continue;
            }
            ' ' | '\t' | '\r' => flush_word!(),
            '#' if word.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    i += 2;
                    line += 1;
                    col = 1;
                    continue;
                }
                begin(&mut start);
                let Some(&next) = chars.get(i + 1) else {
                    return Err(err(
                        line,
                        col,
                        "a backslash at the end of the script escapes nothing",
                    ));
                };
                word.get_or_insert_with(String::new).push(next);
                i += 2;
                col += 2;
                continue;
            }
            '\'' => {
                begin(&mut start);
                let w = word.get_or_insert_with(String::new);
                let (ql, qc) = (line, col);
                i += 1;
                col += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(ql, qc, "unterminated single quote")),
                        Some('\'') => break,
                        Some('\n') => {
                            w.push('\n');
                            line += 1;
                            col = 0;
                        }
                        Some(&c) => w.push(c),
                    }
                    i += 1;
                    col += 1;
                }
            }
            '"' => {
                begin(&mut start);
                let w = word.get_or_insert_with(String::new);
                let (ql, qc) = (line, col);
                i += 1;
                col += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(ql, qc, "unterminated double quote")),
                        Some('"') => break,
                        Some('\\') => match chars.get(i + 1) {
                            Some('\n') => {
                                i += 1;
                                line += 1;
                                col = 0;
                            }
                            Some(&c @ ('$' | '`' | '"' | '\\')) => {
                                w.push(c);
                                i += 1;
                                col += 1;
                            }
                            _ => w.push('\\'),
                        },
                        Some('$') if matches!(chars.get(i + 1), Some(c) if c.is_ascii_alphabetic() || *c == '{' || *c == '(' || *c == '_') =>
                        {
                            return Err(err(
                                line,
                                col,
                                "`$` expansions are not supported: no shell runs here; write the value itself",
                            ));
                        }
                        Some('`') => {
                            return Err(err(
                                line,
                                col,
                                "command substitution is not supported: no shell runs here",
                            ));
                        }
                        Some('\n') => {
                            w.push('\n');
                            line += 1;
                            col = 0;
                        }
                        Some(&c) => w.push(c),
                    }
                    i += 1;
                    col += 1;
                }
            }
            ';' => {
                if start.is_none() {
                    return Err(err(line, col, "syntax error near unexpected token `;'"));
                }
                end_command!(i);
                join = Join::Always;
            }
            '&' | '|' => {
                let double = chars.get(i + 1) == Some(&ch);
                if !double {
                    let what = if ch == '|' {
                        "pipes are not supported: no shell runs here (run the command alone)"
                    } else {
                        "a background `&` is not supported: commands run one after another"
                    };
                    return Err(err(line, col, what));
                }
                if start.is_none() {
                    return Err(err(
                        line,
                        col,
                        &format!("syntax error near unexpected token `{ch}{ch}'"),
                    ));
                }
                end_command!(i);
                join = if ch == '&' { Join::IfOk } else { Join::IfFailed };
                i += 2;
                col += 2;
                // A command must follow, possibly on the next line.
                continue;
            }
            '$' if matches!(chars.get(i + 1), Some(c) if c.is_ascii_alphabetic() || *c == '{' || *c == '(' || *c == '_') =>
            {
                return Err(err(
                    line,
                    col,
                    "`$` expansions are not supported: no shell runs here; write the value itself",
                ));
            }
            '`' => {
                return Err(err(
                    line,
                    col,
                    "command substitution is not supported: no shell runs here",
                ));
            }
            '>' | '<' => {
                return Err(err(
                    line,
                    col,
                    "redirections are not supported: no shell runs here",
                ));
            }
            c => {
                begin(&mut start);
                word.get_or_insert_with(String::new).push(c);
            }
        }
        i += 1;
        col += 1;
    }
    end_command!(chars.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<Vec<String>> {
        split(text)
            .expect("splits")
            .into_iter()
            .map(|c| c.words)
            .collect()
    }

    #[test]
    fn quotes_escapes_and_continuations() {
        assert_eq!(
            w("docker run -d --name 'my web' \"a\\\"b\" c\\ d\n"),
            vec![vec!["docker", "run", "-d", "--name", "my web", "a\"b", "c d"]]
        );
        assert_eq!(
            w("docker run \\\n  -d nginx   # a comment\n\n# only a comment\n"),
            vec![vec!["docker", "run", "-d", "nginx"]]
        );
        assert_eq!(
            w("a b; c && d || e"),
            vec![vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]
        );
        let cs = split("a && b\n$ c").expect("splits");
        assert_eq!(cs[1].join, Join::IfOk);
        assert_eq!(cs[2].words, vec!["c"]);
        assert_eq!((cs[2].line, cs[2].col), (2, 3));
        assert_eq!(w("echo a#b"), vec![vec!["echo", "a#b"]]);
        let c = split("docker run -d 'a b'   # why\n").expect("splits");
        assert_eq!(c[0].text, "docker run -d 'a b'", "no comment echoed");
        assert_eq!(w("echo ''"), vec![vec!["echo", ""]]);
    }

    #[test]
    fn errors_name_the_place() {
        let e = split("docker ps\ndocker run 'x").expect_err("unterminated");
        assert_eq!((e.line, e.col), (2, 12));
        let e = split("docker ps | grep web").expect_err("pipe");
        assert_eq!((e.line, e.col), (1, 11));
        let e = split("docker inspect $(docker ps -q)").expect_err("substitution");
        assert_eq!((e.line, e.col), (1, 16));
        assert!(split("; docker ps").is_err());
        assert!(split("docker ps > out").is_err());
    }
}
