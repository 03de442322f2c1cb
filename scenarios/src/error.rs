//! Errors in scenario files, each pointing at `file:line:column`.
//!
//! [`ScenarioError`] is what every stage (parse, validate) reports. It renders as
//!
//! ```text
//! FILE:LINE:COL: error: MESSAGE
//!   hint: HINT
//! ```
//!
//! and, with the file's text at hand ([`ScenarioError::render`]), with the offending
//! line and a caret under the column between the two, as rustc prints them:
//!
//! ```text
//! FILE:LINE:COL: error: MESSAGE
//!    |
//! 12 |       eth0: { adress: 192.168.1.10/24 }
//!    |               ^^^^^^
//!   hint: HINT
//! ```
//!
//! [`ScenarioError::from_yaml`] converts serde-saphyr's errors: unknown keys and enum
//! words get the nearest valid spelling as hint (strsim), or the list of valid ones.

use std::fmt;

use serde_saphyr::{Error as YamlError, Location, MessageFormatter, Spanned};

/// One error in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as given to the parser.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column (in characters); 0 when unknown.
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

/// Something with a position in the file: a [`Location`], a [`Spanned`] value or a
/// [`crate::format::Name`].
pub trait Located {
    /// The position; [`Location::UNKNOWN`] when there is none.
    fn location(&self) -> Location;
}

impl Located for Location {
    fn location(&self) -> Location {
        *self
    }
}

impl<T> Located for Spanned<T> {
    fn location(&self) -> Location {
        location_of(self)
    }
}

impl Located for crate::format::Name {
    fn location(&self) -> Location {
        self.location
    }
}

impl<L: Located + ?Sized> Located for &L {
    fn location(&self) -> Location {
        (**self).location()
    }
}

/// Where a spanned value is used (the alias site for aliased values), else where it was
/// defined.
pub fn location_of<T>(s: &Spanned<T>) -> Location {
    if s.referenced != Location::UNKNOWN {
        s.referenced
    } else {
        s.defined
    }
}

impl ScenarioError {
    /// An error at an explicit line and column.
    pub fn new(file: &str, line: u64, column: u64, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }

    /// An error at a value's position: `ScenarioError::at(file, &spanned, "…")`.
    pub fn at(file: &str, at: &impl Located, message: impl Into<String>) -> Self {
        let loc = at.location();
        Self::new(file, loc.line(), loc.column(), message)
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Converts a serde-saphyr error, keeping its position and adding hints for unknown
    /// keys and values.
    pub fn from_yaml(file: &str, err: &YamlError) -> Self {
        let loc = err.location().unwrap_or(Location::UNKNOWN);
        let (message, hint) = describe(original(err));
        ScenarioError {
            file: file.to_owned(),
            line: loc.line(),
            column: loc.column(),
            message,
            hint,
        }
    }
}

impl ScenarioError {
    /// The error as [`Display`](fmt::Display) prints it, with the line of `source` it
    /// points at and a caret under its column (underlining the word that starts there)
    /// between the first line and the hint. Without a line, or with a line `source`
    /// does not have, it is the plain form.
    pub fn render(&self, source: &str) -> String {
        self.render_with(source, false)
    }

    /// [`render`](Self::render) with ANSI colours on the `error:` and `hint:` labels,
    /// the gutter and the caret; write it through [`anstream`], which strips them where
    /// colour is off (see [`crate::style`]).
    pub fn render_colored(&self, source: &str) -> String {
        self.render_with(source, true)
    }

    fn render_with(&self, source: &str, color: bool) -> String {
        use crate::style::{FAIL, GUTTER, HINT, paint};
        let label = paint(color, FAIL, "error:");
        let head = if self.line == 0 {
            format!("{}: {label} {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {label} {}",
                self.file, self.line, self.column, self.message
            )
        };
        let mut out = head;
        let line = usize::try_from(self.line).ok().filter(|&l| l > 0);
        if let Some(text) = line.and_then(|l| source.lines().nth(l - 1)) {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            // Tabs and control characters would move the caret or reach the terminal:
            // each is shown as one visible character, so columns still line up.
            let shown: String = text
                .chars()
                .map(|c| match c {
                    '\t' => ' ',
                    c if c.is_control() => '\u{fffd}',
                    c => c,
                })
                .collect();
            let bar = paint(color, GUTTER, &format!("{pad} |"));
            let numbered = paint(color, GUTTER, &format!("{number} |"));
            out.push_str(&format!("\n{bar}\n{numbered} {shown}"));
            let col = usize::try_from(self.column).unwrap_or(0);
            if col >= 1 && col <= shown.chars().count() + 1 {
                let width = word_width(&shown, col - 1).max(1);
                let caret = paint(color, FAIL, &"^".repeat(width));
                out.push_str(&format!("\n{bar} {}{caret}", " ".repeat(col - 1)));
            }
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("\n  {} {h}", paint(color, HINT, "hint:")));
        }
        out
    }
}

/// How many characters the YAML word starting at character `at` of `line` spans: a
/// quoted string to its closing quote, else up to a space, a flow bracket, a comma or
/// a `key:` colon.
fn word_width(line: &str, at: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(at).collect();
    match rest.first() {
        None => 0,
        Some(&q) if q == '"' || q == '\'' => rest
            .iter()
            .skip(1)
            .position(|&c| c == q)
            .map_or(rest.len(), |i| i + 2),
        Some(_) => rest
            .iter()
            .enumerate()
            .position(|(i, &c)| {
                c.is_whitespace()
                    || matches!(c, ',' | '{' | '}' | '[' | ']' | '#')
                    || (c == ':' && rest.get(i + 1).is_none_or(|n| n.is_whitespace()))
            })
            .unwrap_or(rest.len()),
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.line, self.column, self.message
            )?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Several errors, in the order found (the validator reports all it can).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl ScenarioErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn push(&mut self, e: ScenarioError) {
        self.0.push(e);
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Iterates over them.
    pub fn iter(&self) -> std::slice::Iter<'_, ScenarioError> {
        self.0.iter()
    }

    /// `Ok(value)` when empty, else `Err(self)`.
    ///
    /// # Errors
    ///
    /// `self`, when it holds any error.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

impl From<ScenarioError> for ScenarioErrors {
    fn from(e: ScenarioError) -> Self {
        ScenarioErrors(vec![e])
    }
}

impl From<Vec<ScenarioError>> for ScenarioErrors {
    fn from(v: Vec<ScenarioError>) -> Self {
        ScenarioErrors(v)
    }
}

impl Extend<ScenarioError> for ScenarioErrors {
    fn extend<I: IntoIterator<Item = ScenarioError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for ScenarioErrors {
    type Item = ScenarioError;
    type IntoIter = std::vec::IntoIter<ScenarioError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ScenarioErrors {
    type Item = &'a ScenarioError;
    type IntoIter = std::slice::Iter<'a, ScenarioError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `see SCENARIO-FORMAT.md#ANCHOR`: where the format reference describes a section.
pub(crate) fn see(anchor: &str) -> String {
    format!("see SCENARIO-FORMAT.md#{anchor}")
}

/// The anchor of SCENARIO-FORMAT.md's heading for a top-level key of a scenario file
/// (`top-level` for the file's own keys and for keys it does not know).
pub fn section_anchor(top_key: &str) -> &'static str {
    match top_key {
        "hosts" => "hosts",
        "lans" => "lans",
        "routers" => "routers",
        "externals" => "externals",
        "networks" => "networks",
        "containers" => "containers",
        "links" => "links",
        "firewall" => "firewall",
        "policy_enforcement" | "namespaces" | "policies" => "namespaces-labels-and-networkpolicies",
        "steps" => "steps",
        "traffic" => "traffic-and-timed-faults-format-1-additions",
        _ => "top-level",
    }
}

/// Points every error's hint at the section of SCENARIO-FORMAT.md that describes the
/// part of the file it is in (the top-level key above its line in `source`): a hint
/// that names the reference without a section gets the section, one that does not name
/// it ends with `see SCENARIO-FORMAT.md#SECTION`, an error without a hint gets that as
/// its hint. Errors without a line are left as they are.
pub fn link_sections(errs: &mut [ScenarioError], source: &str) {
    let lines: Vec<&str> = source.lines().collect();
    for e in errs {
        let Some(at) = usize::try_from(e.line)
            .ok()
            .filter(|&l| l >= 1 && l <= lines.len())
        else {
            continue;
        };
        let top = lines[..at].iter().rev().find_map(|l| {
            let key_end = l.find(':')?;
            let key = &l[..key_end];
            let starts = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            (starts
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .then_some(key)
        });
        let link = see(section_anchor(top.unwrap_or("")));
        e.hint = Some(match e.hint.take() {
            Some(h) if h.contains("SCENARIO-FORMAT.md#") => h,
            Some(h) if h.contains("SCENARIO-FORMAT.md") => {
                h.replacen("SCENARIO-FORMAT.md", &link["see ".len()..], 1)
            }
            Some(h) => format!("{h}; {link}"),
            None => link,
        });
    }
}

/// Separates message and hint inside a serde custom error (which carries one string).
const HINT_SEPARATOR: &str = "\u{1f}hint:";

/// Packs a message and a hint into one `serde::de::Error::custom` string;
/// [`ScenarioError::from_yaml`] splits them again.
pub(crate) fn hinted(message: &str, hint: &str) -> String {
    format!("{message}{HINT_SEPARATOR}{hint}")
}

/// The error under snippet and alias wrappers.
fn original(err: &YamlError) -> &YamlError {
    match err {
        YamlError::WithSnippet { error, .. } | YamlError::AliasError { error, .. } => original(error),
        other => other,
    }
}

/// Message and hint for an unwrapped error.
fn describe(err: &YamlError) -> (String, Option<String>) {
    match err {
        YamlError::SerdeUnknownField { field, expected, .. } => (
            format!("unknown key '{field}'"),
            Some(suggest(field, expected, "valid keys here")),
        ),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            format!("unknown value '{variant}'"),
            Some(suggest(variant, expected, "valid values here")),
        ),
        YamlError::SerdeMissingField { field, .. } => (format!("missing required key '{field}'"), None),
        YamlError::SerdeInvalidType {
            unexpected, expected, ..
        } => (format!("expected {expected}, found {unexpected}"), None),
        YamlError::SerdeInvalidValue {
            unexpected, expected, ..
        } => (format!("invalid value {unexpected}: expected {expected}"), None),
        YamlError::SerdeInvalidLength { len, expected, .. } => (
            format!("{len} elements, expected {expected}"),
            Some("`between:` takes exactly two endpoints, e.g. [host1.eth0, office]".into())
                .filter(|_| expected.contains("size 2")),
        ),
        YamlError::Unexpected { expected, .. } => (
            format!("expected {}", readable_expected(expected)),
            Some("check the indentation and the value's type against SCENARIO-FORMAT.md".into()),
        ),
        YamlError::DuplicateMappingKey { key, .. } => (
            match key {
                Some(k) => format!("duplicate key '{k}'"),
                None => "duplicate key".to_owned(),
            },
            Some("each key may appear only once in a map".into()),
        ),
        YamlError::Budget { breach, .. } => budget_breach(breach),
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. } => (
            "the file is too large, too deeply nested or expands too many aliases".into(),
            Some("a scenario is a plain YAML file; keep anchors/aliases few and shallow".into()),
        ),
        YamlError::MultipleDocuments { .. } => (
            "the file holds more than one YAML document".into(),
            Some("put one scenario per file (remove the second `---`)".into()),
        ),
        YamlError::InvalidScalar { ty, .. } => (format!("expected {}", readable_scalar(ty)), None),
        YamlError::InvalidBooleanStrict { .. } => ("expected true or false".into(), None),
        YamlError::Eof { .. } => ("unexpected end of file".into(), None),
        YamlError::Message { msg, .. } => match msg.split_once(HINT_SEPARATOR) {
            Some((m, h)) => (m.to_owned(), Some(h.to_owned())),
            None => (msg.clone(), None),
        },
        other => {
            let msg = serde_saphyr::UserMessageFormatter.format_message(other);
            if msg.contains("recursion limit exceeded") {
                // The YAML scanner's own depth guard, hit by `[[[[…` before our budget.
                (
                    "the file nests lists or maps too deeply for a scenario".into(),
                    Some("a scenario nests a few levels (section, name, key); check the brackets".into()),
                )
            } else {
                (msg.into_owned(), None)
            }
        }
    }
}

/// What limit a file broke, in the reader's words.
fn budget_breach(breach: &serde_saphyr::budget::BudgetBreach) -> (String, Option<String>) {
    use serde_saphyr::budget::BudgetBreach as B;
    let too_many = |what: &str| {
        (
            format!("the file has too many {what} for a scenario (a limit that keeps hostile files cheap)"),
            Some("split the scenario into several files".to_owned()),
        )
    };
    match breach {
        B::Documents { .. } => (
            "the file holds more than one YAML document".into(),
            Some("put one scenario per file (remove the second `---`)".into()),
        ),
        B::Depth { depth } => (
            format!("the file nests {depth} levels deep, more than a scenario may"),
            Some("a scenario nests a few levels (section, name, key); check the brackets".into()),
        ),
        B::Nodes { .. } | B::Events { .. } => too_many("values"),
        B::ScalarBytes { .. } | B::InputBytes { .. } => too_many("bytes of text"),
        B::Aliases { .. }
        | B::Anchors { .. }
        | B::AliasAnchorRatio { .. }
        | B::RecordedAnchorEvents { .. }
        | B::RecordedAnchorBytes { .. }
        | B::MergeKeys { .. } => (
            "the file uses too many YAML anchors, aliases or merge keys".into(),
            Some("a scenario is a plain YAML file; keep anchors/aliases few and shallow".into()),
        ),
        other => (
            format!("the file breaks a limit of the YAML reader ({other:?})"),
            Some("a scenario is a plain YAML file; keep it small and shallow".into()),
        ),
    }
}

/// `"did you mean 'x'?"` when a valid word is close, else the list of valid words.
pub(crate) fn suggest(word: &str, valid: &[&str], what: &str) -> String {
    if valid.is_empty() {
        return "nothing may be written here".into();
    }
    let best = valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(word, v), *v))
        .min_by_key(|(d, _)| *d);
    if let Some((d, v)) = best {
        let limit = (word.chars().count().max(v.chars().count()) / 3).max(1);
        let jw = strsim::jaro_winkler(word, v);
        if d <= limit || jw >= 0.9 {
            return format!("did you mean '{v}'?");
        }
    }
    format!("{what}: {}", valid.join(", "))
}

fn readable_expected(expected: &str) -> String {
    match expected {
        "mapping start" => "a map (`key: value` lines or `{ … }`)".into(),
        "sequence start" => "a list (`- item` lines or `[ … ]`)".into(),
        "string scalar" | "scalar" => "a single value, not a list or map".into(),
        other => other.into(),
    }
}

fn readable_scalar(ty: &str) -> String {
    match ty {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "bool" => "true or false".into(),
        other => format!("a value of type {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_the_line_with_a_caret_that_stays_in_its_column() {
        let e = ScenarioError::new("f.yaml", 2, 7, "bad").with_hint("fix it");
        // A tab and a control character are one visible character each.
        let r = e.render("name: x\na:\t\u{1}  \"q w\" # c\n");
        assert_eq!(
            r,
            "f.yaml:2:7: error: bad\n  |\n2 | a: \u{fffd}  \"q w\" # c\n  |       ^^^^^\n  hint: fix it"
        );
        // No such line: the plain form.
        assert_eq!(e.render(""), e.to_string());
        assert_eq!(
            ScenarioError::new("f.yaml", 0, 0, "x").render("a"),
            "f.yaml: error: x"
        );
    }
}
