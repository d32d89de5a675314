//! Full help: every key.

use super::centered;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// Key, what it does.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection (scroll in detail)"),
    ("PgUp PgDn", "a page up or down"),
    ("Home End  g G", "first or last"),
    ("Tab  ← →  h l", "switch between groups and entries"),
    ("Enter", "entries of the group; detail of the entry"),
    ("Esc", "back; clear the filter, then the marks"),
    ("/", "filter: function, key, path, error"),
    ("space", "mark or unmark the entry"),
    ("d", "invalidate marked entries (or the selected)"),
    ("D", "invalidate stale entries of the group"),
    ("t", "group by strategy, status, function, ..."),
    ("1-7", "sort: function status size age hits key"),
    ("", "strategy; the same key again reverses"),
    ("r", "verify again"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

pub fn draw(frame: &mut Frame, area: Rect, _app: &App) {
    let h = KEYS.len() as u16 + 4;
    let rect = centered(area, 70, h);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, v)| Line::raw(format!(" {k:<15} {v}")))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        " stale = changed + missing + failed; \"exp\" after a status: expired",
        Style::default().add_modifier(Modifier::ITALIC),
    ));
    let block = Block::default().borders(Borders::ALL).title(" help: keys ");
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
