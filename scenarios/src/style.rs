//! The styles of the human output: step marks, the PASS/FAIL line, drop reasons and
//! the `error:`/`hint:` labels of scenario errors.
//!
//! The `*_colored` renderers always write ANSI escapes; whether they reach the reader
//! is decided where the text is written, through [`anstream`]: escapes are stripped
//! when the stream is not a terminal, when `NO_COLOR` is set (<https://no-color.org>)
//! or with `--color never`, and kept with `CLICOLOR_FORCE` or `--color always`.

use anstyle::{AnsiColor, Style};

/// A passed step's mark and the `PASS` line.
pub const PASS: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)))
    .bold();
/// A failed step's mark, `FAIL`, `expectation failed:` and the `error:` label.
pub const FAIL: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
    .bold();
/// A skipped step's mark, warnings and drop reasons.
pub const WARN: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)))
    .bold();
/// The `hint:` label.
pub const HINT: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)))
    .bold();
/// The gutter of a quoted line (`12 |`), as rustc draws it.
pub const GUTTER: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)))
    .bold();
/// Secondary text: a step without expectation.
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style` when `on`, else `text` as it is.
pub fn paint(on: bool, style: Style, text: &str) -> String {
    if on {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}
