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
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

// What the panes share from the rooms that own it: styles (the theme), wrapping (text),
// ages and sizes (the view layer shared with the CLI).
pub use crate::text::wrap;
pub use crate::tui::theme::{accent, dim, selection_style, status_style};
pub use crate::view::age;

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
