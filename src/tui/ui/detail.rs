//! Detail (Enter): every field of one entry, why it has its status, the derivation error and
//! what it means, the sources with recorded and current digests, a diff, a value preview.

use crate::tui::app::App;
use crate::tui::detail_text::lines;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let title = match app.detail_id {
        Some(id) => format!(" entry {id} (Esc: back) "),
        None => " entry ".into(),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let lines = lines(app);
    let inner_h = block.inner(area).height as usize;
    let visible: Vec<Line> = lines
        .into_iter()
        .skip(app.detail_scroll)
        .take(inner_h)
        .collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
}
