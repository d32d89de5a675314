//! Entries pane: the selected group's entries, one page of rows at a time. Function, status,
//! size, age, hits, key; wider terminals add strategy, source path and derivation error.

use super::{age, dim, fit, fit_middle, right, selection_style, status_style};
use crate::store::EntryRow;
use crate::tui::app::{App, Column, Pane, Verification, PAGE};
use crate::view::size;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

struct Widths {
    function: usize,
    status: usize,
    size: usize,
    age: usize,
    hits: usize,
    key: usize,
    strategy: usize,
    source: usize,
    error: usize,
}

fn widths(w: usize) -> Widths {
    let (strategy, source, error) = match w {
        w if w >= 158 => (9, 28, 30),
        w if w >= 118 => (9, 28, 0),
        _ => (0, 0, 0),
    };
    let extra = [strategy, source, error]
        .iter()
        .filter(|x| **x > 0)
        .map(|x| x + 1)
        .sum::<usize>();
    // status fits "unverifiable exp" (an expired entry); keys are opaque, 12 columns tell them
    // apart well enough.
    let fixed = 2 + 17 + 10 + 6 + 6 + 13 + extra;
    Widths {
        function: w.saturating_sub(fixed).max(8),
        status: 16,
        size: 9,
        age: 5,
        hits: 5,
        key: 12,
        strategy,
        source,
        error,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let focused = app.pane == Pane::Entries;
    let group = crate::text::truncate(&app.selected_group_key().label(), 30);
    let count = match app.list_len {
        Some(n) => format!("{n} shown"),
        None if app.filter.is_empty() => "loading…".into(),
        None => "filtering…".into(),
    };
    let dir = if app.descending { "↓" } else { "↑" };
    let title = format!(
        " entries: {group} · {count} · sorted by {} {dir} ",
        app.sort.label()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(super::groups::border(focused));
    let inner = block.inner(area);
    let w = widths(inner.width as usize);
    let mut lines = vec![Line::styled(
        titles(app, &w),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let visible = inner.height.saturating_sub(1) as usize;
    match app.list_len {
        None => {}
        Some(0) => lines.push(Line::styled(
            if app.filter.is_empty() {
                "  no entries here"
            } else {
                "  no entries match the filter (Esc clears it)"
            },
            dim(app),
        )),
        Some(len) => {
            for i in (app.entry_offset..len).take(visible) {
                let selected = i == app.entry_sel;
                let id = app.id_at(i);
                let marked = id.is_some_and(|id| app.marked.contains_key(&id));
                let prefix = format!(
                    "{}{}",
                    if selected { ">" } else { " " },
                    if marked { "*" } else { " " }
                );
                let mut line = match id.and_then(|id| app.rows.get(&id)) {
                    Some(row) => row_line(app, row, &w, prefix),
                    None if app.pages_loaded.contains(&(i / PAGE)) => Line::styled(
                        format!("{prefix}{}", fit("(removed)", w.function)),
                        dim(app),
                    ),
                    None => Line::styled(format!("{prefix}{}", fit("…", w.function)), dim(app)),
                };
                if selected {
                    line = line.patch_style(selection_style(focused));
                }
                lines.push(line);
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn titles(app: &App, w: &Widths) -> String {
    let label = |c: Column, width: usize, right_align: bool| {
        let mut s = c.label().to_string();
        if app.sort == c {
            s.push_str(if app.descending { "↓" } else { "↑" });
        }
        if right_align {
            right(&s, width)
        } else {
            fit(&s, width)
        }
    };
    let mut t = format!(
        "  {} {} {} {} {} {}",
        label(Column::Function, w.function, false),
        label(Column::Status, w.status, false),
        label(Column::Size, w.size, true),
        label(Column::Age, w.age, true),
        label(Column::Hits, w.hits, true),
        label(Column::Key, w.key, false),
    );
    if w.strategy > 0 {
        t.push_str(&format!(" {}", label(Column::Strategy, w.strategy, false)));
        t.push_str(&format!(" {}", fit("source", w.source)));
    }
    if w.error > 0 {
        t.push_str(&format!(" {}", fit("derivation error", w.error)));
    }
    t
}

fn row_line(app: &App, row: &EntryRow, w: &Widths, prefix: String) -> Line<'static> {
    let status = match row.status {
        Some(s) => s.as_str(),
        None if matches!(app.verification, Verification::Running { .. }) => "checking",
        None => "unchecked",
    };
    let status = if row.is_expired(app.now_ms) {
        format!("{status} exp")
    } else {
        status.to_string()
    };
    let mut spans = vec![
        Span::raw(prefix),
        Span::raw(fit(&row.function, w.function)),
        Span::raw(" "),
        Span::styled(fit(&status, w.status), status_style(app, row.status)),
        Span::raw(format!(
            " {} {} {} ",
            right(&size(row.value_size.max(0) as u64), w.size),
            right(&age(app.now_ms, row.created_at), w.age),
            right(&row.hits.to_string(), w.hits),
        )),
        Span::raw(fit_middle(&row.key, w.key)),
    ];
    if w.strategy > 0 {
        spans.push(Span::raw(format!(" {}", fit(&row.strategy, w.strategy))));
        spans.push(Span::raw(format!(
            " {}",
            fit_middle(row.source_path.as_deref().unwrap_or("-"), w.source)
        )));
    }
    if w.error > 0 {
        spans.push(Span::raw(format!(
            " {}",
            fit(row.derivation_error.as_deref().unwrap_or("-"), w.error)
        )));
    }
    Line::from(spans)
}
