//! The confirmation before an invalidation: what, how many, how many bytes.

use super::{accent, centered, wrap};
use crate::model::GroupKey;
use crate::tui::app::{App, PurgeTarget};
use crate::view::size;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(c) = &app.confirm else { return };
    let what = match &c.target {
        PurgeTarget::Ids(ids) if ids.len() == 1 => format!("entry {}", ids[0]),
        PurgeTarget::Ids(_) => "the marked entries".to_string(),
        PurgeTarget::Stale(GroupKey::All) => {
            "every stale entry (changed, missing, failed) in the store".to_string()
        }
        PurgeTarget::Stale(key) => format!(
            "the stale entries (changed, missing, failed) of {} {}",
            app.grouping.label(),
            key.label()
        ),
    };
    let width: u16 = 64;
    let mut lines = vec![Line::styled(
        format!(" Invalidate {} entries ({})?", c.count, size(c.bytes)),
        accent(app),
    )];
    for l in wrap(&what, width as usize - 4) {
        lines.push(Line::raw(format!(" {l}")));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        " Deleted from the store; the cache recomputes them on demand.",
    ));
    lines.push(Line::raw(" y: invalidate   any other key: cancel"));
    let rect = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" confirm ")),
        rect,
    );
}
