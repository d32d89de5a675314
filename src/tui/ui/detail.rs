//! Detail (Enter): every field of one entry, why it has its status, the derivation error and
//! what it means, the sources with recorded and current digests, a diff, a value preview.

use super::{accent, age, dim, status_style, wrap};
use crate::status::Status;
use crate::store::SourceRow;
use crate::tui::app::App;
use crate::tui::update::size;
use crate::verify::SourceCheck;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
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

/// The detail's lines, already wrapped to the screen width (`update` counts them to clamp the
/// scroll).
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let width = (app.width as usize).saturating_sub(2).max(20);
    let Some(d) = &app.detail else {
        return match app.detail_id {
            Some(id) => vec![Line::styled(format!("loading entry {id}…"), dim(app))],
            None => Vec::new(),
        };
    };
    let x = &d.explained;
    let e = &x.detail.entry;
    let mut out: Vec<Line<'static>> = Vec::new();
    let field = |out: &mut Vec<Line<'static>>, name: &str, value: &str| {
        for (i, l) in wrap(value, width.saturating_sub(12))
            .into_iter()
            .enumerate()
        {
            let label = if i == 0 { name } else { "" };
            out.push(Line::raw(format!("{label:<11} {l}")));
        }
    };
    let decided = x.decided();
    let mut head = vec![
        Span::raw(format!("{:<11} ", "status")),
        Span::styled(
            x.status.as_str().to_string(),
            status_style(app, Some(x.status)),
        ),
    ];
    if e.is_expired(app.now_ms) {
        head.push(Span::raw(" (expired)"));
    }
    out.push(Line::from(head));
    field(&mut out, "", &decided);
    field(&mut out, "function", &e.function);
    field(&mut out, "namespace", &e.namespace);
    field(&mut out, "key", &e.key);
    field(&mut out, "strategy", &e.strategy);
    let value_type = e.value_type.as_deref().unwrap_or("type not recorded");
    field(
        &mut out,
        "value",
        &format!("{} ({value_type})", size(e.value_size.max(0) as u64)),
    );
    field(
        &mut out,
        "created",
        &format!("{} ago", age(app.now_ms, e.created_at)),
    );
    let accessed = e
        .accessed_at
        .map_or("never".into(), |t| format!("{} ago", age(app.now_ms, t)));
    field(&mut out, "accessed", &accessed);
    field(&mut out, "hits", &e.hits.to_string());
    let expires = match e.expires_at {
        None => "never".to_string(),
        Some(t) if t <= app.now_ms => format!("expired {} ago", age(app.now_ms, t)),
        Some(t) => format!("in {}", age(t, app.now_ms)),
    };
    field(&mut out, "expires", &expires);

    if let Some(err) = &e.derivation_error {
        out.push(Line::raw(""));
        out.push(Line::styled("derivation error", accent(app)));
        for l in wrap(err, width.saturating_sub(2)) {
            out.push(Line::raw(format!("  {l}")));
        }
        if let Some(m) = &d.meaning {
            out.push(Line::styled("what it means", accent(app)));
            for l in wrap(m, width.saturating_sub(2)) {
                out.push(Line::raw(format!("  {l}")));
            }
        }
    }
    if let Some(s) = &x.detail.source {
        out.push(Line::raw(""));
        out.push(Line::styled("source", accent(app)));
        source_lines(
            app,
            &mut out,
            s,
            x.source_check.as_ref(),
            width,
            x.deciding.as_ref(),
        );
        if let (Some(diff), Some((a, b))) = (&d.diff, s.span) {
            out.push(Line::raw(format!(
                "  recorded block against lines {a}-{b} now:"
            )));
            for l in diff {
                out.push(Line::styled(
                    format!("    {}", crate::text::truncate(l, width.saturating_sub(4))),
                    diff_style(app, l),
                ));
            }
        }
    }
    if !x.detail.dependencies.is_empty() || !x.detail.missing_dependencies.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled("dependencies", accent(app)));
        for (s, c) in x.detail.dependencies.iter().zip(&x.dependency_checks) {
            source_lines(app, &mut out, s, c.as_ref(), width, x.deciding.as_ref());
        }
        for id in &x.detail.missing_dependencies {
            out.push(Line::raw(format!(
                "  missing     source row {id} is not in the store"
            )));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        format!("value: {}", d.preview.kind),
        accent(app),
    ));
    for l in &d.preview.lines {
        out.push(Line::raw(format!(
            "  {}",
            crate::text::truncate(l, width.saturating_sub(2))
        )));
    }
    out
}

fn source_lines(
    app: &App,
    out: &mut Vec<Line<'static>>,
    s: &SourceRow,
    c: Option<&SourceCheck>,
    width: usize,
    deciding: Option<&SourceRow>,
) {
    let lines = match (s.span, c.and_then(|c| c.moved_to)) {
        (Some((a, b)), Some((x, y))) => format!("lines {a}-{b}, now at {x}-{y}"),
        (Some((a, b)), None) => format!("lines {a}-{b}"),
        (None, _) if s.invalid_span => "invalid span in the store".into(),
        (None, _) => "whole file".into(),
    };
    let status = c.map(|c| c.status);
    let decided = if deciding.is_some_and(|d| d.id == s.id) {
        " <- decided the status"
    } else {
        ""
    };
    let mut first = true;
    for l in wrap(
        &format!("{} ({lines}){decided}", s.path),
        width.saturating_sub(16),
    ) {
        let st = if first {
            status.map_or("unchecked", Status::as_str)
        } else {
            ""
        };
        out.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(format!("{st:<12}"), status_style(app, status)),
            Span::raw(l),
        ]));
        first = false;
    }
    let mut digest = |name: &str, value: &str| {
        for (i, l) in wrap(value, width.saturating_sub(14))
            .into_iter()
            .enumerate()
        {
            out.push(Line::raw(format!(
                "  {:<11} {l}",
                if i == 0 { name } else { "" }
            )));
        }
    };
    digest("recorded", &s.digest);
    if let Some(c) = c {
        let current = c.current_or_reason();
        digest("current", &current);
    }
}

fn diff_style(app: &App, line: &str) -> ratatui::style::Style {
    let status = match line.chars().next() {
        Some('+') => Some(Status::Fresh),
        Some('-') => Some(Status::Changed),
        _ => return ratatui::style::Style::default(),
    };
    status_style(app, status)
}
