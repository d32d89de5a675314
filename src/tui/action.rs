//! Everything that can change the state: the [`Action`] enum. Keys become actions through the
//! one key table ([`super::keys`]).

use super::app::Column;
use super::worker::Msg;

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
