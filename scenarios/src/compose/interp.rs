//! Compose's variable interpolation (`${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?msg}`,
//! `${VAR:+alt}`, `$$`) on the file's text, line by line so that positions are kept, and
//! `.env` files.

use std::collections::HashMap;

use crate::error::ScenarioError;

/// `KEY=VALUE` lines of a `.env` file, as compose-go's dotenv reads them: comments,
/// `export`, blanks around `=`; an unquoted value ends at ` #` (an inline comment); a
/// quoted value ends at its closing quote (a comment may follow, a single-quoted one may
/// span lines); double quotes take `\n`-style escapes; unquoted and double-quoted values
/// are interpolated (`${VAR}`, `${VAR:-d}`…) from `lookup` (the process environment)
/// and the lines above, single-quoted ones are literal.
pub fn parse_dotenv(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
            continue;
        }
        let (line, _) = rest.split_once('\n').unwrap_or((rest, ""));
        let body = line
            .strip_prefix("export")
            .filter(|b| b.starts_with([' ', '\t']))
            .map_or(rest, |_| rest["export".len()..].trim_start_matches([' ', '\t']));
        let Some(k_end) = body.find(['=', ':', '\n']) else {
            break;
        };
        let key = body[..k_end].trim().to_owned();
        if body[k_end..].starts_with('\n') {
            // `KEY` alone: inherited from the environment.
            if let Some(v) = lookup(&key) {
                out.push((key, v));
            }
            rest = &body[k_end + 1..];
            continue;
        }
        let after = body[k_end + 1..].trim_start_matches([' ', '\t', '\r']);
        let known =
            |n: &str| lookup(n).or_else(|| out.iter().rev().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
        let value;
        match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut chars = String::new();
                let mut escaped = false;
                let mut close = None;
                for (i, c) in after.char_indices().skip(1) {
                    if c == q && !escaped {
                        close = Some(i);
                        break;
                    }
                    if c == '\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    if escaped && c != q {
                        chars.push('\\');
                    }
                    escaped = false;
                    chars.push(c);
                }
                let Some(close) = close else {
                    // Unterminated: compose refuses the file; keep what came before.
                    break;
                };
                value = if q == '"' {
                    let unescaped = unescape(&chars);
                    substitute(&unescaped, &known).unwrap_or(unescaped)
                } else {
                    chars
                };
                rest = after[close + 1..].split_once('\n').map_or("", |(_, r)| r);
            }
            _ => {
                let (v, r) = after.split_once('\n').unwrap_or((after, ""));
                let v = v.split(" #").next().unwrap_or(v).trim_end();
                value = substitute(v, &known).unwrap_or_else(|_| v.to_owned());
                rest = r;
            }
        }
        out.push((key, value));
    }
    out
}

/// The escapes compose's dotenv expands in a double-quoted value (`\n`, `\t`, `\"`,
/// `\\`…; `\$` stays a literal `$`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('$') => out.push_str("$$"),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Compose interpolation on the text, line by line (positions of lines are kept).
///
/// Compose interpolates the values of the parsed YAML; here the text is interpolated
/// before parsing, so a value is written back as YAML that parses to it: escaped
/// inside a quoted scalar (`"` and `\` in `"…"`, `'` in `'…'`), and double-quoted when
/// it is a whole plain scalar YAML would read otherwise (`PASSWORD: ${P}` with
/// `P=*secret`, an alias in YAML). Block scalars (`|`, `>`) take values as they are.
///
/// # Errors
/// `${VAR:?msg}` unset, or an invalid `${…}`.
pub fn interpolate(file: &str, text: &str, env: &HashMap<String, String>) -> Result<String, ScenarioError> {
    let mut out = String::with_capacity(text.len());
    let lookup = |n: &str| env.get(n).cloned();
    // The indentation of the line that opened a block scalar, while in one.
    let mut block: Option<usize> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let err = |(at, msg): (usize, String)| ScenarioError::new(file, i as u64 + 1, at as u64 + 1, msg);
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(b) = block {
            if line.trim().is_empty() || indent > b {
                out.push_str(&substitute(line, &lookup).map_err(err)?);
                continue;
            }
            block = None;
        }
        // A YAML comment is not interpolated (compose never sees it): a `#` at the
        // start or after a blank, outside quotes.
        let (line, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        let head = line.trim_end();
        if head.rsplit([' ', '\t']).next().is_some_and(|h| {
            h.starts_with(['|', '>']) && h[1..].chars().all(|c| matches!(c, '-' | '+' | '1'..='9'))
        }) && head.len() > indent
        {
            block = Some(indent);
        }
        let mut quote: Option<char> = None;
        let mut prev_blank = true;
        let mut pos = 0;
        let mut it = line.char_indices().peekable();
        while let Some((j, c)) = it.next() {
            match quote {
                Some('"') if c == '\\' => {
                    it.next();
                    prev_blank = false;
                    continue;
                }
                Some(q) if c == q && c != '$' => {
                    quote = None;
                    prev_blank = false;
                    continue;
                }
                None if (c == '"' || c == '\'') && prev_blank => {
                    quote = Some(c);
                    continue;
                }
                _ if c != '$' => {
                    prev_blank = c == ' '
                        || c == '\t'
                        || (quote.is_none() && matches!(c, '[' | '{' | ',' | ':' | '-'));
                    continue;
                }
                _ => {}
            }
            let n = dollar_len(&line[j..]);
            let v = substitute(&line[j..j + n], &lookup).map_err(|(at, m)| err((j + at, m)))?;
            out.push_str(&line[pos..j]);
            match quote {
                Some('"') => out.push_str(&v.replace('\\', "\\\\").replace('"', "\\\"")),
                Some(_) => out.push_str(&v.replace('\'', "''")),
                None if whole_plain(&line[..j], &line[j + n..]) && !plain_safe(&v) => {
                    out.push_str(&serde_json::to_string(&v).unwrap_or_default());
                }
                None => out.push_str(&v),
            }
            pos = j + n;
            while it.peek().is_some_and(|&(k, _)| k < pos) {
                it.next();
            }
            prev_blank = false;
        }
        out.push_str(&line[pos..]);
        out.push_str(comment);
    }
    Ok(out)
}

/// The length of the `$…` expression `s` starts with: `$$`, `${…}` (nested braces
/// counted; the rest of `s` when unclosed), `$NAME`, or the lone `$`.
fn dollar_len(s: &str) -> usize {
    let after = &s[1..];
    if after.starts_with('$') {
        return 2;
    }
    if after.starts_with('{') {
        let mut depth = 0usize;
        let b = after.as_bytes();
        let mut j = 0;
        while j < b.len() {
            match b[j] {
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return j + 2;
                    }
                }
                b'{' => {
                    depth += 1;
                    j += 1;
                }
                _ => {}
            }
            j += 1;
        }
        return s.len();
    }
    1 + name_len(after)
}

/// Whether an expression between `before` and `after` on a line is a whole plain
/// scalar of block context: after `key: `, `- ` or indentation, nothing after it.
fn whole_plain(before: &str, after: &str) -> bool {
    if !after.trim().is_empty() || !(before.is_empty() || before.ends_with([' ', '\t'])) {
        return false;
    }
    let t = before.trim();
    t.is_empty() || t.ends_with(':') || t.chars().all(|c| c == '-' || c == ' ')
}

/// Whether `v` written as a plain scalar reads back as the same string (or as the
/// number or boolean it spells).
fn plain_safe(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return true;
    };
    let indicator = matches!(
        first,
        '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' | '#' | '[' | ']' | '{' | '}' | ','
    ) || (matches!(first, '-' | '?' | ':') && v[1..].starts_with([' ', '\t'])
        || v.len() == 1 && matches!(first, '-' | '?' | ':'));
    !indicator
        && v.trim() == v
        && !v.contains(": ")
        && !v.ends_with(':')
        && !v.contains(" #")
        && !v.contains(['\n', '\r', '\t'])
}

/// Whether `c` may start a variable's name (`[_a-zA-Z]`) / continue it.
fn name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn name_len(s: &str) -> usize {
    if !s.starts_with(name_start) {
        return 0;
    }
    s.find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(s.len())
}

/// compose-go's `template.Substitute`: `$$`, `$NAME`, `${NAME}` and `${NAME<op>word}`
/// (`:-`, `-`, `:+`, `+`, `:?`, `?`), `word` itself interpolated, so defaults nest
/// (`${A:-${B:-80}}`). A `$` before anything else (`$1`, `$ `) stays as it is.
///
/// # Errors
/// The byte offset of the `$` at fault and the message.
pub(crate) fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(p) = s[pos..].find('$') {
        let at = pos + p;
        out.push_str(&s[pos..at]);
        let after = &s[at + 1..];
        if after.starts_with('$') {
            out.push('$');
            pos = at + 2;
        } else if let Some(inner) = after.strip_prefix('{') {
            // The matching `}`, nested `${…}` counted.
            let mut depth = 1usize;
            let mut end = None;
            let b = inner.as_bytes();
            let mut j = 0;
            while j < b.len() {
                match b[j] {
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break;
                        }
                    }
                    b'{' => {
                        depth += 1;
                        j += 1;
                    }
                    _ => {}
                }
                j += 1;
            }
            let Some(end) = end else {
                return Err((at, "'${' without its closing '}'".into()));
            };
            let expr = &inner[..end];
            let n = name_len(expr);
            let (name, op) = expr.split_at(n);
            let invalid = || (at, format!("invalid interpolation format for '${{{expr}}}'"));
            if name.is_empty() {
                return Err(invalid());
            }
            let val = lookup(name);
            let word = |w: &str| substitute(w, lookup).map_err(|(_, m)| (at, m));
            let v = if op.is_empty() {
                val.unwrap_or_default()
            } else if let Some(d) = op.strip_prefix(":-") {
                match val.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => word(d)?,
                }
            } else if let Some(d) = op.strip_prefix('-') {
                match val {
                    Some(v) => v,
                    None => word(d)?,
                }
            } else if let Some(d) = op.strip_prefix(":+") {
                match val {
                    Some(v) if !v.is_empty() => word(d)?,
                    v => v.unwrap_or_default(),
                }
            } else if let Some(d) = op.strip_prefix('+') {
                if val.is_some() { word(d)? } else { String::new() }
            } else if let Some(m) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                match val.filter(|v| !v.is_empty() || !op.starts_with(':')) {
                    Some(v) => v,
                    None => {
                        let m = word(m)?;
                        return Err((
                            at,
                            if m.is_empty() {
                                format!("required variable {name} is missing a value")
                            } else {
                                format!("required variable {name} is missing a value: {m}")
                            },
                        ));
                    }
                }
            } else {
                return Err(invalid());
            };
            out.push_str(&v);
            pos = at + 2 + end + 1;
        } else {
            let n = name_len(after);
            if n == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..n]).unwrap_or_default());
            }
            pos = at + 1 + n;
        }
    }
    out.push_str(&s[pos..]);
    Ok(out)
}

/// Where a YAML comment begins on `line`, if it has one.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev_blank => return Some(i),
            // A quote opens a scalar only where a scalar may begin.
            None if (c == '"' || c == '\'') && prev_blank => quote = Some(c),
            None => {}
        }
        prev_blank = c == ' ' || c == '\t' || (quote.is_none() && matches!(c, '[' | '{' | ',' | ':' | '-'));
    }
    None
}
