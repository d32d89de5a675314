//! Below 80x24: a plain message; `q` still quits.

use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn draw(frame: &mut Frame, area: Rect) {
    let (w, h) = crate::tui::app::MIN_SIZE;
    let text = format!(
        "terminal too small (need {w}x{h}, have {}x{})\npress q to quit",
        area.width, area.height
    );
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}
