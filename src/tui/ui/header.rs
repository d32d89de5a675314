//! Header: store path, entries, size, verification progress then result, READ-ONLY badge.

use super::{accent, dim};
use crate::tui::app::{App, Verification};
use crate::view::size;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let badge = match (app.read_only, app.notice) {
        (true, Some(n)) => format!(" READ-ONLY · {n} "),
        (false, Some(n)) => format!(" {n} "),
        (true, None) => " READ-ONLY ".to_string(),
        (false, None) => String::new(),
    };
    let badge_style = if app.color {
        Style::default()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    };
    let kind = app.kind.map(|k| format!(" ({k})")).unwrap_or_default();
    let room = (area.width as usize).saturating_sub(12 + badge.len() + 1 + kind.len());
    let first = Line::from(vec![
        Span::styled("cachescope  ", accent(app)),
        Span::raw(crate::text::shorten_middle(&app.store_label, room)),
        Span::styled(kind, dim(app)),
        Span::raw(if badge.is_empty() { "" } else { " " }),
        Span::styled(badge.clone(), badge_style),
    ]);
    let counts = match &app.all {
        Some(all) => format!("{} entries · {}", all.entries, size(all.bytes)),
        None => "counting entries…".into(),
    };
    let verification = match &app.verification {
        Verification::Running { done, total } if *total > 0 => {
            format!("verifying {done}/{total} sources")
        }
        Verification::Running { .. } => "verifying…".into(),
        Verification::Failed(e) => format!("verification failed: {}", crate::text::escape(e)),
        Verification::Done { sources } if !app.all_statuses => {
            format!("verified {sources} sources: counting stale entries…")
        }
        Verification::Done { sources } => match &app.all {
            Some(all) if all.stale() == 0 && all.unchecked == 0 => {
                format!("verified {sources} sources: nothing stale")
            }
            // Entries written since verification, with sources it never saw: their statuses
            // are not known, so nothing may be called fresh.
            Some(all) if all.stale() == 0 => {
                format!("{} unchecked: new since verification (r)", all.unchecked)
            }
            Some(all) => {
                // Only the counts that are not zero, so the line fits 80 columns even for a
                // store of millions.
                let parts: Vec<String> = [
                    (all.count(crate::Status::Changed), "changed"),
                    (all.count(crate::Status::Missing), "missing"),
                    (all.failed(), "failed"),
                    (all.unchecked, "unchecked"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                format!("stale: {}", parts.join(", "))
            }
            None => format!("verified {sources} sources"),
        },
    };
    let second = Line::from(vec![
        Span::raw(counts),
        Span::styled(" · ", dim(app)),
        Span::raw(verification),
    ]);
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}
