//! Footer: a status line (message, purge progress, marks, filter) and the keys that work here
//! (the key table's hints for the mode and pane).

use super::{accent, dim};
use crate::tui::app::{App, Mode};
use crate::tui::keys::{footer_line, Place};
use crate::view::size;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let width = area.width as usize;
    let status = if app.mode == Mode::Filter {
        Line::from(vec![
            Span::styled("/", accent(app)),
            Span::raw(crate::text::truncate(&app.filter, width.saturating_sub(2))),
            Span::styled("█", dim(app)),
        ])
    } else if let Some(m) = &app.message {
        Line::styled(crate::text::truncate(m, width), accent(app))
    } else if let Some(p) = &app.purging {
        Line::styled(
            format!("invalidating… {}/{} entries", p.done, p.total),
            accent(app),
        )
    } else {
        let mut parts = Vec::new();
        if !app.marked.is_empty() {
            parts.push(format!(
                "{} marked, {} to free",
                app.marked.len(),
                size(app.marked_bytes())
            ));
        }
        if !app.filter.is_empty() {
            parts.push(format!("filter: {}", crate::text::escape(&app.filter)));
        }
        Line::raw(crate::text::truncate(&parts.join("  ·  "), width))
    };
    let keys = footer_line(Place::of(app.mode, app.pane));
    let keys = Line::styled(crate::text::truncate(&keys, width), dim(app));
    frame.render_widget(Paragraph::new(vec![status, keys]), area);
}
