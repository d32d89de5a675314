//! Full help: every key, from the key table.

use super::centered;
use crate::tui::app::App;
use crate::tui::keys::help_rows;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, _app: &App) {
    let rows = help_rows();
    let h = rows.len() as u16 + 4;
    let rect = centered(area, 70, h);
    let mut lines: Vec<Line> = rows
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
