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
        let mut table = Table::headed(headers, color);
        for row in rows {
            table.widen(row.as_ref());
        }
        table
    }

    /// A table as wide as its headers, to be widened row by row ([`Table::widen`]).
    pub fn headed(headers: &[&str], color: bool) -> Table {
        Table {
            widths: headers.iter().map(|h| h.width()).collect(),
            color,
        }
    }

    /// Widens the columns to fit `row` (which may have fewer cells than there are columns).
    pub fn widen(&mut self, row: &[Cell]) {
        for (w, c) in self.widths.iter_mut().zip(row) {
            *w = (*w).max(c.text.width());
        }
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

/// Serialises `value` as pretty JSON straight to `out` (a listing of any length is never held
/// as one string). serde_json escapes C0 controls; this also escapes DEL, C1 controls and bidi
/// and other format characters, which can only occur inside strings.
pub fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    let formatter = SafeFormatter(serde_json::ser::PrettyFormatter::new());
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, formatter);
    // `From` keeps an I/O error's kind (a closed pipe must read as one).
    value.serialize(&mut ser).map_err(io::Error::from)?;
    writeln!(out)
}

/// One line of compact JSON, escaped like [`print_json`].
pub fn json_line(value: &impl serde::Serialize) -> io::Result<String> {
    let mut line = Vec::new();
    let formatter = SafeFormatter(serde_json::ser::CompactFormatter);
    value
        .serialize(&mut serde_json::Serializer::with_formatter(
            &mut line, formatter,
        ))
        .map_err(io::Error::other)?;
    String::from_utf8(line).map_err(io::Error::other)
}

/// A serde_json formatter that writes every character [`escape`] would escape as a `\u` escape
/// (a surrogate pair above U+FFFF), and formats as the formatter it wraps.
struct SafeFormatter<F>(F);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            self.0.$name(writer $(, $arg)*)
        }
    )*};
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeFormatter<F> {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut plain = 0;
        for (i, c) in fragment.char_indices() {
            if escape(c.encode_utf8(&mut [0; 4])).len() > c.len_utf8() {
                writer.write_all(&fragment.as_bytes()[plain..i])?;
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                plain = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }
}

/// A status with the expired flag beside it.
pub fn status_suffix(expired: bool) -> &'static str {
    if expired {
        " (expired)"
    } else {
        ""
    }
}

/// Serialises the items of an iterator as a JSON array as they are made, so a listing of any
/// length is never held; the first error ends the document with that error.
pub struct JsonSeq<I>(std::cell::RefCell<Option<I>>);

impl<I> JsonSeq<I> {
    pub fn new(items: I) -> JsonSeq<I> {
        JsonSeq(std::cell::RefCell::new(Some(items)))
    }
}

impl<I, T> serde::Serialize for JsonSeq<I>
where
    I: Iterator<Item = anyhow::Result<T>>,
    T: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let items = self
            .0
            .borrow_mut()
            .take()
            .expect("a JsonSeq is serialised once");
        let mut seq = serializer.serialize_seq(None)?;
        for item in items {
            seq.serialize_element(&item.map_err(|e| S::Error::custom(format!("{e:#}")))?)?;
        }
        seq.end()
    }
}
