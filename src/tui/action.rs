//! What a key means: the [`Action`] enum, and the key map, which looks keys up in the one key
//! table ([`super::keys`]).

use super::app::{Column, Mode};
use super::keys;
use super::worker::Msg;
use ratatui::crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};

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

/// Maps a key to an action in `mode`: the first binding of [`keys::BINDINGS`] that works in
/// `mode` and matches the key (Ctrl-C quits everywhere).
pub fn key_action(mode: Mode, key: KeyEvent) -> Action {
    keys::lookup(mode, &key).map_or(Action::None, |b| b.make.action(key.code))
}

/// The mouse, when captured: the wheel scrolls.
pub fn mouse_action(mouse: MouseEvent) -> Action {
    match mouse.kind {
        MouseEventKind::ScrollUp => Action::Up,
        MouseEventKind::ScrollDown => Action::Down,
        _ => Action::None,
    }
}
