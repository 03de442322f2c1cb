//! Compose's variable interpolation (`${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?msg}`,
//! `${VAR:+alt}`, `$$`) on the file's text, line by line so that positions are kept, and
//! `.env` files.

use std::collections::HashMap;

use crate::error::ScenarioError;

/// `KEY=VALUE` lines of a `.env` file (comments, `export`, quotes).
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
            {
                &v[1..v.len() - 1]
            } else {
                v.split(" #").next().unwrap_or(v).trim()
            };
            out.push((k.trim().to_owned(), v.to_owned()));
        }
    }
    out
}

/// Compose interpolation on the text, line by line (positions of lines are kept).
///
/// # Errors
/// `${VAR:?msg}` unset, or an unclosed `${`.
pub fn interpolate(file: &str, text: &str, env: &HashMap<String, String>) -> Result<String, ScenarioError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        // A YAML comment is not interpolated (compose never sees it): a `#` at the
        // start or after a blank, outside quotes.
        let (line, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        let mut rest = line;
        while let Some(p) = rest.find('$') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            let col = (line.len() - rest.len() + p + 1) as u64;
            if let Some(a) = after.strip_prefix('$') {
                out.push('$');
                rest = a;
            } else if let Some(a) = after.strip_prefix('{') {
                let Some(end) = a.find('}') else {
                    return Err(ScenarioError::new(
                        file,
                        i as u64 + 1,
                        col,
                        "'${' without its closing '}'",
                    ));
                };
                let expr = &a[..end];
                let name_end = expr
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(expr.len());
                let (name, op) = expr.split_at(name_end);
                let val = env.get(name);
                let v = if let Some(d) = op.strip_prefix(":-") {
                    val.filter(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or_else(|| d.to_owned())
                } else if let Some(d) = op.strip_prefix('-') {
                    val.cloned().unwrap_or_else(|| d.to_owned())
                } else if let Some(m) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                    match val.filter(|v| !v.is_empty() || !op.starts_with(':')) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(ScenarioError::new(
                                file,
                                i as u64 + 1,
                                col,
                                format!("required variable {name} is missing a value: {m}"),
                            ));
                        }
                    }
                } else if let Some(d) = op.strip_prefix(":+") {
                    if val.is_some_and(|v| !v.is_empty()) {
                        d.to_owned()
                    } else {
                        String::new()
                    }
                } else if let Some(d) = op.strip_prefix('+') {
                    if val.is_some() {
                        d.to_owned()
                    } else {
                        String::new()
                    }
                } else if op.is_empty() && !name.is_empty() {
                    val.cloned().unwrap_or_default()
                } else {
                    return Err(ScenarioError::new(
                        file,
                        i as u64 + 1,
                        col,
                        format!("invalid interpolation format for '${{{expr}}}'"),
                    ));
                };
                out.push_str(&v);
                rest = &a[end + 1..];
            } else {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                if n == 0 {
                    out.push('$');
                } else {
                    out.push_str(env.get(&after[..n]).map_or("", String::as_str));
                }
                rest = &after[n..];
            }
        }
        out.push_str(rest);
        out.push_str(comment);
    }
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
