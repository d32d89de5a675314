//! The detail view's text (Enter): every field of one entry, why it has its status, the
//! derivation error and what it means, the sources with recorded and current digests, a diff, a
//! value preview, laid out to the screen width. The renderer draws these lines and `update`
//! counts them (when an entry arrives or the screen resizes) to clamp the scroll.

use crate::backend::SourceRow;
use crate::text::wrap;
use crate::tui::app::App;
use crate::tui::theme::{accent, dim, status_style, tone_style};
use crate::verify::SourceCheck;
use crate::view::{
    age, diff_heading, diff_tone, size_of, span_label, status_word, value_type, SpanLabel,
};
use ratatui::text::{Line, Span};

/// The detail's lines, already wrapped to the screen width.
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let width = (app.width as usize).saturating_sub(2).max(20);
    let Some(d) = &app.detail else {
        return match app.detail_id {
            Some(id) => vec![Line::styled(format!("loading entry {id}…"), dim(app))],
            None => Vec::new(),
        };
    };
    let x = d;
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
    field(
        &mut out,
        "value",
        &format!(
            "{} ({})",
            size_of(e.value_size),
            value_type(e.value_type.as_deref())
        ),
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

    if !x.detail.notes.is_empty() {
        out.push(Line::raw(""));
        out.push(Line::styled("notes", accent(app)));
        for note in &x.detail.notes {
            for l in wrap(note, width.saturating_sub(2)) {
                out.push(Line::raw(format!("  {l}")));
            }
        }
    }

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
        if let (Some(diff), Some(span)) = (&d.diff, s.span) {
            out.push(Line::raw(format!("  {}", diff_heading(span))));
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
    let lines = span_label(s, c.and_then(|c| c.moved_to), SpanLabel::Long);
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
        let st = if first { status_word(status) } else { "" };
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
    digest("recorded", &crate::view::recorded_digest(&s.digest));
    if let Some(c) = c {
        let current = c.current_or_reason();
        digest("current", &current);
    }
}

fn diff_style(app: &App, line: &str) -> ratatui::style::Style {
    diff_tone(line).map_or_else(Default::default, |tone| tone_style(app, tone))
}
