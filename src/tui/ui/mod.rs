//! Drawing: a pure function of [`App`]. One file per pane or popup.

pub mod confirm;
pub mod detail;
pub mod entries;
pub mod footer;
pub mod groups;
pub mod header;
pub mod help;
pub mod too_small;

use super::app::{App, Mode, GROUPS_HEIGHT};
use crate::status::Status;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

/// Draws the whole screen from the state.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if app.too_small()
        || area.width < super::app::MIN_SIZE.0
        || area.height < super::app::MIN_SIZE.1
    {
        too_small::draw(frame, area);
        return;
    }
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(area);
    header::draw(frame, head, app);
    if app.mode == Mode::Detail {
        detail::draw(frame, body, app);
    } else {
        let [g, e] =
            Layout::vertical([Constraint::Length(GROUPS_HEIGHT), Constraint::Min(1)]).areas(body);
        groups::draw(frame, g, app);
        entries::draw(frame, e, app);
    }
    footer::draw(frame, foot, app);
    match app.mode {
        Mode::Help => help::draw(frame, area, app),
        Mode::Confirm => confirm::draw(frame, area, app),
        _ => {}
    }
}

/// A status's style: colour only when allowed; the word is always shown too.
pub fn status_style(app: &App, status: Option<Status>) -> Style {
    if !app.color {
        return Style::default();
    }
    let c = match status {
        Some(Status::Fresh) => Color::Green,
        Some(Status::Moved) => Color::Cyan,
        Some(Status::Changed | Status::Missing) => Color::Red,
        Some(Status::Failed) => Color::Magenta,
        Some(Status::Unreadable) => Color::Yellow,
        Some(Status::Unverifiable) | None => Color::Gray,
    };
    Style::default().fg(c)
}

/// The selected row: reverse video when its pane has the focus, bold otherwise (plus the `>`
/// marker, so it stays visible without colour).
pub fn selection_style(focused: bool) -> Style {
    if focused {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

pub fn dim(app: &App) -> Style {
    if app.color {
        Style::default().fg(Color::DarkGray)
    } else {
        Style::default()
    }
}

pub fn accent(app: &App) -> Style {
    if app.color {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

/// Untrusted `s`, escaped, cut and padded to exactly `width` columns.
pub fn fit(s: &str, width: usize) -> String {
    let t = crate::text::truncate(s, width);
    let pad = width.saturating_sub(t.width());
    format!("{t}{}", " ".repeat(pad))
}

/// Untrusted `s`, escaped, shortened in the middle and padded to `width` columns.
pub fn fit_middle(s: &str, width: usize) -> String {
    let t = crate::text::shorten_middle(s, width);
    let pad = width.saturating_sub(t.width());
    format!("{t}{}", " ".repeat(pad))
}

/// Right-aligns `s` (trusted: numbers, sizes) in `width` columns.
pub fn right(s: &str, width: usize) -> String {
    let t = crate::text::truncate(s, width);
    let pad = width.saturating_sub(t.width());
    format!("{}{t}", " ".repeat(pad))
}

/// Word-wraps untrusted `s` (escaped first) to `width` columns.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let s = crate::text::escape(s);
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let mut word = word;
        while word.width() > width {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let cut = split_at_width(word, width);
            out.push(word[..cut].to_string());
            word = &word[cut..];
        }
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push(line);
    out
}

/// The byte index where `s` reaches `width` columns (at least one character).
fn split_at_width(s: &str, width: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width && i > 0 {
            return i;
        }
        used += w;
    }
    s.len()
}

/// Age of a Unix ms time relative to `now`: `45m`, `30h`, `12d`. Whole units, rounded down.
pub fn age(now_ms: i64, t_ms: i64) -> String {
    let mins = (now_ms - t_ms).max(0) / 60_000;
    if mins < 60 {
        format!("{mins}m")
    } else if mins < 48 * 60 {
        format!("{}h", mins / 60)
    } else {
        format!("{}d", mins / (24 * 60))
    }
}

/// A rectangle of `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
