//! Groups pane: `all`, then one row per group of the current grouping, with entries, size, a
//! bar of the group's share of all bytes (as ncdu and dua draw it: characters, so it reads
//! without colour), stale (changed + missing + failed) and, of those, failed counts.

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
/// Cells of the share bar when there is room.
const BAR_CELLS: usize = 10;
/// The bar shrinks, then goes, before group names get narrower than this.
const MIN_NAME: usize = 16;
/// A bar narrower than this says too little: none instead.
const MIN_BAR: usize = 3;
/// Eighths of a cell, from nothing to a full block.
const EIGHTHS: [char; 9] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];

/// Cells of the share bar in a pane `inner_width` wide (0: no bar), leaving the names at least
/// [`MIN_NAME`] columns.
pub fn bar_cells(inner_width: usize) -> usize {
    // Marker and space, the name, space and brackets of the bar, space, the numbers.
    let room = inner_width.saturating_sub(2 + MIN_NAME + 3 + 1 + NUMS);
    match room.min(BAR_CELLS) {
        c if c < MIN_BAR => 0,
        c => c,
    }
}

/// `part` of `total` as a bar `cells` wide, in eighths of a cell: rounded to the nearest eighth,
/// but a non-zero part shows at least one eighth and a part short of the total never shows a
/// full bar. A zero total draws an empty bar.
pub fn share_bar(part: u64, total: u64, cells: usize) -> String {
    let max = cells as u128 * 8;
    let n = if total == 0 || part == 0 || max == 0 {
        0
    } else if part >= total {
        max
    } else {
        let (p, t) = (part as u128, total as u128);
        ((p * max * 2 + t) / (t * 2)).clamp(1, max - 1)
    } as usize;
    let mut bar = "█".repeat(n / 8);
    if n % 8 > 0 {
        bar.push(EIGHTHS[n % 8]);
    }
    let drawn = n.div_ceil(8);
    bar.extend(std::iter::repeat_n(' ', cells - drawn));
    bar
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.pane == Pane::Groups;
    let title = format!(" groups by {} (t: change) ", app.grouping.label());
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(border(focused));
    let inner = block.inner(area);
    let w = inner.width as usize;
    let cells = bar_cells(w);
    // The bar's column: a space and the bracketed bar, after the size.
    let bar_w = if cells > 0 { cells + 3 } else { 0 };
    let name_w = w.saturating_sub(2 + NUMS + 1 + bar_w);
    let total = app.all.as_ref().map(|a| a.bytes);
    let bar = |bytes: u64| match total {
        _ if cells == 0 => String::new(),
        Some(t) => format!(" [{}]", share_bar(bytes, t, cells)),
        None => " ".repeat(bar_w),
    };
    let mut lines = vec![Line::styled(
        format!(
            "  {} {} {}{} {} {}",
            fit("group", name_w),
            right("entries", 8),
            right("size", 10),
            if cells > 0 {
                format!(" {}", fit("share", cells + 2))
            } else {
                String::new()
            },
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
                    "{} {}{} {} {}",
                    right(&g.entries.to_string(), 8),
                    right(&size(g.bytes), 10),
                    bar(g.bytes),
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
