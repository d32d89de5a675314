//! What a key means: the [`Action`] enum and the key map, which depends on the mode.

use super::app::{Column, Mode};
use super::worker::Msg;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};

/// Everything that can change the state: keys (mapped), the terminal, and worker answers.
#[derive(Debug)]
pub enum Action {
    /// The app starts: ask for the first data.
    Start,
    Quit,
    Resize(u16, u16),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// Tab: the other pane.
    SwitchPane,
    /// Left / h: the groups pane.
    FocusGroups,
    /// Right / l: the entries pane.
    FocusEntries,
    /// Enter: into the entries pane, or the detail of the selected entry.
    Open,
    /// Esc: back out of a mode, clear the filter or the marks.
    Back,
    Help,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Enter in the filter line: keep the filter, back to the list.
    FilterAccept,
    /// Esc in the filter line: drop the filter.
    FilterCancel,
    ToggleMark,
    InvalidateMarked,
    InvalidateStale,
    Confirm,
    Cancel,
    Reverify,
    CycleGrouping,
    SortBy(Column),
    Worker(Msg),
    /// A key that means nothing here.
    None,
}

/// Maps a key to an action in `mode`. Ctrl-C quits everywhere.
pub fn key_action(mode: Mode, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Action::Quit;
    }
    match mode {
        Mode::Filter => match key.code {
            KeyCode::Esc => Action::FilterCancel,
            KeyCode::Enter | KeyCode::Down | KeyCode::Tab => Action::FilterAccept,
            KeyCode::Backspace => Action::FilterBackspace,
            KeyCode::Char(c) if !ctrl => Action::FilterChar(c),
            _ => Action::None,
        },
        Mode::Confirm => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Action::Confirm,
            _ => Action::Cancel,
        },
        Mode::Help => match key.code {
            KeyCode::Char('q') => Action::Quit,
            _ => Action::Back,
        },
        Mode::Detail => match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Esc
            | KeyCode::Enter
            | KeyCode::Backspace
            | KeyCode::Left
            | KeyCode::Char('h') => Action::Back,
            KeyCode::Char('?') => Action::Help,
            _ => movement(key.code),
        },
        Mode::Normal => match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Char('?') => Action::Help,
            KeyCode::Tab | KeyCode::BackTab => Action::SwitchPane,
            KeyCode::Left | KeyCode::Char('h') => Action::FocusGroups,
            KeyCode::Right | KeyCode::Char('l') => Action::FocusEntries,
            KeyCode::Enter => Action::Open,
            KeyCode::Esc => Action::Back,
            KeyCode::Char('/') => Action::StartFilter,
            KeyCode::Char(' ') => Action::ToggleMark,
            KeyCode::Char('d') => Action::InvalidateMarked,
            KeyCode::Char('D') => Action::InvalidateStale,
            KeyCode::Char('r') => Action::Reverify,
            KeyCode::Char('t') => Action::CycleGrouping,
            KeyCode::Char(c @ '1'..='7') => Action::SortBy(Column::ALL[(c as u8 - b'1') as usize]),
            code => movement(code),
        },
    }
}

fn movement(code: KeyCode) -> Action {
    match code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        _ => Action::None,
    }
}

/// The mouse, when captured: the wheel scrolls.
pub fn mouse_action(mouse: MouseEvent) -> Action {
    match mouse.kind {
        MouseEventKind::ScrollUp => Action::Up,
        MouseEventKind::ScrollDown => Action::Down,
        _ => Action::None,
    }
}
