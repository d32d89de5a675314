//! The TUI's styles: the view layer's tones as colours (only when colour is allowed), the
//! selection, dim and accent text. Words always carry the meaning; colour only adds to it.

use crate::status::Status;
use crate::tui::app::App;
use crate::view::{status_tone, Tone};
use ratatui::style::{Color, Modifier, Style};

/// A status's style: colour only when allowed; the word is always shown too.
pub fn status_style(app: &App, status: Option<Status>) -> Style {
    if !app.color {
        return Style::default();
    }
    tone_style(app, status_tone(status))
}

/// A tone of the view layer as a style: colour only when allowed.
pub fn tone_style(app: &App, tone: Tone) -> Style {
    if !app.color {
        return Style::default();
    }
    let c = match tone {
        Tone::Good => Color::Green,
        Tone::Calm => Color::Cyan,
        Tone::Bad => Color::Red,
        Tone::Failed => Color::Magenta,
        Tone::Warn => Color::Yellow,
        Tone::Muted => Color::Gray,
    };
    Style::default().fg(c)
}

/// The selected row: reverse video when its pane has the focus, bold otherwise (plus the `>`
/// marker, so it stays visible without colour).
pub fn selection_style(focused: bool) -> Style {
    if focused {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

pub fn dim(app: &App) -> Style {
    if app.color {
        Style::default().fg(Color::DarkGray)
    } else {
        Style::default()
    }
}

pub fn accent(app: &App) -> Style {
    if app.color {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    }
}
