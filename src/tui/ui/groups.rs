//! Groups pane: `all`, then one row per group of the current grouping, with entries, size,
//! stale (changed + missing + failed) and, of those, failed counts.

use super::{fit, right, selection_style};
use crate::model::Group;
use crate::tui::app::{App, Pane};
use crate::view::size;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

const NUMS: usize = 8 + 1 + 10 + 1 + 7 + 1 + 7;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.pane == Pane::Groups;
    let title = format!(" groups by {} (t: change) ", app.grouping.label());
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(border(focused));
    let inner = block.inner(area);
    let w = inner.width as usize;
    let name_w = w.saturating_sub(2 + NUMS + 1);
    let mut lines = vec![Line::styled(
        format!(
            "  {} {} {} {} {}",
            fit("group", name_w),
            right("entries", 8),
            right("size", 10),
            right("stale", 7),
            right("failed", 7)
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let rows: Vec<(String, Option<&Group>)> =
        std::iter::once(("all".to_string(), app.all.as_ref()))
            .chain(app.groups.iter().map(|g| (g.key.label(), Some(g))))
            .collect();
    let visible = inner.height.saturating_sub(1) as usize;
    for (i, (label, group)) in rows.iter().enumerate().skip(app.group_offset).take(visible) {
        let selected = i == app.group_sel;
        let cells = match group {
            Some(g) => {
                let unknown = g.unchecked > 0;
                let n = |v: u64| {
                    if unknown && v == 0 {
                        "…".to_string()
                    } else {
                        v.to_string()
                    }
                };
                format!(
                    "{} {} {} {}",
                    right(&g.entries.to_string(), 8),
                    right(&size(g.bytes), 10),
                    right(&n(g.stale()), 7),
                    right(&n(g.failed()), 7)
                )
            }
            None => right("…", 8),
        };
        let text = format!(
            "{} {} {cells}",
            if selected { ">" } else { " " },
            fit(label, name_w)
        );
        let style = if selected {
            selection_style(focused)
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub fn border(focused: bool) -> Style {
    if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    }
}
