//! Output helpers shared by the subcommands: colour policy, aligned tables, sizes, times, JSON.

use crate::status::Status;
use crate::text::escape;
use crate::view::{status_tone, Tone};
use std::io::{self, IsTerminal, Write};
use unicode_width::UnicodeWidthStr;

/// Colour only on a terminal, never with NO_COLOR set (to anything but the empty string).
pub fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Unix ms as local time for people.
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Unix ms as RFC 3339 (UTC) for scripts; `None` for a time no calendar can show (a hostile
/// store's i64::MIN), which JSON gives as null rather than a string of another shape.
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// ANSI colour (SGR parameter) of a tone of the view layer.
pub fn tone_sgr(tone: Tone) -> &'static str {
    match tone {
        Tone::Good => "32",
        Tone::Calm => "36",
        Tone::Warn => "33",
        Tone::Bad => "31",
        Tone::Failed => "35",
        Tone::Muted => "2",
    }
}

/// A cell of a table: text already escaped, with an optional colour.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    sgr: Option<&'static str>,
    right: bool,
}

impl Cell {
    /// Untrusted text: escaped here.
    pub fn text(s: &str) -> Cell {
        Cell {
            text: escape(s).into_owned(),
            sgr: None,
            right: false,
        }
    }

    pub fn num(s: impl ToString) -> Cell {
        Cell {
            text: s.to_string(),
            sgr: None,
            right: true,
        }
    }

    pub fn status(s: Status, suffix: &str) -> Cell {
        Cell {
            text: format!("{s}{suffix}"),
            sgr: Some(tone_sgr(status_tone(Some(s)))),
            right: false,
        }
    }

    pub fn shortened(s: &str, width: usize) -> Cell {
        Cell {
            text: crate::text::shorten_middle(s, width),
            sgr: None,
            right: false,
        }
    }
}

/// Prints rows as aligned columns. Widths come from the rows given to [`Table::new`]; later
/// pages ([`Table::print_rows`]) reuse them, so a listing of any length streams.
pub struct Table {
    widths: Vec<usize>,
    color: bool,
}

impl Table {
    pub fn new(headers: &[&str], first_rows: &[Vec<Cell>], color: bool) -> Table {
        Table::fitting(headers, first_rows, color)
    }

    /// A table as wide as `rows` need, which may be made on the fly (and again when printing)
    /// rather than kept.
    pub fn fitting<R: AsRef<[Cell]>>(
        headers: &[&str],
        rows: impl IntoIterator<Item = R>,
        color: bool,
    ) -> Table {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
        for row in rows {
            for (w, c) in widths.iter_mut().zip(row.as_ref()) {
                *w = (*w).max(c.text.width());
            }
        }
        Table { widths, color }
    }

    pub fn print_header(&self, out: &mut impl Write, headers: &[&str]) -> io::Result<()> {
        let cells: Vec<Cell> = headers
            .iter()
            .map(|h| Cell {
                text: h.to_string(),
                sgr: Some("1"),
                right: false,
            })
            .collect();
        self.print_row(out, &cells)
    }

    pub fn print_rows(&self, out: &mut impl Write, rows: &[Vec<Cell>]) -> io::Result<()> {
        rows.iter().try_for_each(|r| self.print_row(out, r))
    }

    pub fn print_row(&self, out: &mut impl Write, row: &[Cell]) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        let pad = |line: &mut String, n: usize| line.extend(std::iter::repeat_n(' ', n));
        for (i, (cell, &width)) in row.iter().zip(&self.widths).enumerate() {
            let last = i + 1 == row.len();
            let mut text_width = cell.text.width();
            let truncated;
            let text = if text_width > width {
                truncated = crate::text::truncate(&cell.text, width);
                text_width = truncated.width();
                truncated.as_str()
            } else {
                cell.text.as_str()
            };
            let gap = width.saturating_sub(text_width);
            let sgr = cell.sgr.filter(|_| self.color);
            if cell.right {
                pad(&mut line, gap);
            }
            if let Some(sgr) = sgr {
                line.push_str("\x1b[");
                line.push_str(sgr);
                line.push('m');
            }
            line.push_str(text);
            if sgr.is_some() {
                line.push_str("\x1b[0m");
            }
            if !last {
                if !cell.right {
                    pad(&mut line, gap);
                }
                line.push_str("  ");
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// Serialises `value` as JSON. serde_json escapes C0 controls; this also escapes DEL, C1
/// controls and bidi overrides, which can only occur inside strings.
pub fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    writeln!(out, "{}", json_safe(&text))
}

/// One line of compact JSON, escaped like [`print_json`].
pub fn json_line(value: &impl serde::Serialize) -> io::Result<String> {
    Ok(json_safe(
        &serde_json::to_string(value).map_err(io::Error::other)?,
    ))
}

fn json_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        // Raw newlines here are the pretty printer's own; in strings serde wrote `\n`.
        if c != '\n' && escape(c.encode_utf8(&mut [0; 4])).len() > c.len_utf8() {
            safe.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            safe.push(c);
        }
    }
    safe
}

/// A status with the expired flag beside it.
pub fn status_suffix(expired: bool) -> &'static str {
    if expired {
        " (expired)"
    } else {
        ""
    }
}
