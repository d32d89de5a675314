//! The one key table: every binding with the modes it works in, the keys it matches, the action
//! it makes, its row in the `?` help and its hints in the footer. [`key_action`],
//! [`super::ui::help`] and [`super::ui::footer`] all read [`BINDINGS`]; nothing else lists keys.
//!
//! Lookup is by order: in a mode, the first binding of the table that works in that mode and
//! matches the key wins, so the catch-all bindings (`Any`) come last.

use super::action::Action;
use super::app::{Column, Mode, Pane};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use KeyCode::{
    BackTab, Backspace, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up,
};

/// Where a footer hint shows: a mode, and in the normal mode the focused pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Groups,
    Entries,
    Filter,
    Confirm,
    Help,
    Detail,
}

impl Place {
    pub const ALL: [Place; 6] = [
        Place::Groups,
        Place::Entries,
        Place::Filter,
        Place::Confirm,
        Place::Help,
        Place::Detail,
    ];

    pub fn of(mode: Mode, pane: Pane) -> Place {
        match (mode, pane) {
            (Mode::Normal, Pane::Groups) => Place::Groups,
            (Mode::Normal, Pane::Entries) => Place::Entries,
            (Mode::Filter, _) => Place::Filter,
            (Mode::Confirm, _) => Place::Confirm,
            (Mode::Help, _) => Place::Help,
            (Mode::Detail, _) => Place::Detail,
        }
    }

    pub fn mode(self) -> Mode {
        match self {
            Place::Groups | Place::Entries => Mode::Normal,
            Place::Filter => Mode::Filter,
            Place::Confirm => Mode::Confirm,
            Place::Help => Mode::Help,
            Place::Detail => Mode::Detail,
        }
    }
}

/// The keys a binding matches.
#[derive(Debug, Clone, Copy)]
pub enum Keys {
    /// These codes, whatever the modifiers.
    Codes(&'static [KeyCode]),
    /// These characters with Ctrl held.
    Ctrl(&'static [char]),
    /// A character in this inclusive range, whatever the modifiers.
    Range(char, char),
    /// Any character typed without Ctrl.
    Typed,
    /// Any key at all.
    Any,
}

impl Keys {
    pub fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Keys::Codes(codes) => codes.contains(&key.code),
            Keys::Ctrl(chars) => ctrl && matches!(key.code, KeyCode::Char(c) if chars.contains(&c)),
            Keys::Range(a, b) => matches!(key.code, KeyCode::Char(c) if (a..=b).contains(&c)),
            Keys::Typed => !ctrl && matches!(key.code, KeyCode::Char(_)),
            Keys::Any => true,
        }
    }
}

/// How a binding makes its action from the key (most bindings make one fixed action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    Quit,
    /// ↑ / k: up, ↓ / j: down.
    Move,
    /// PgUp: a page up, PgDn: a page down.
    Page,
    /// Home / g: first, End / G: last.
    Ends,
    /// Tab: the other pane; ← / h: groups; → / l: entries.
    Panes,
    Open,
    Back,
    Help,
    StartFilter,
    /// The typed character goes into the filter.
    FilterChar,
    FilterBackspace,
    FilterAccept,
    FilterCancel,
    ToggleMark,
    InvalidateMarked,
    InvalidateStale,
    Confirm,
    Cancel,
    Reverify,
    CycleGrouping,
    /// '1'..'7': sort by that column of [`Column::ALL`].
    SortBy,
}

impl Make {
    /// The action for `code`, a key the binding matched (a key the maker does not know makes
    /// [`Action::None`], which the table's tests catch).
    pub fn action(self, code: KeyCode) -> Action {
        match self {
            Make::Quit => Action::Quit,
            Make::Move => match code {
                Up | Char('k') => Action::Up,
                Down | Char('j') => Action::Down,
                _ => Action::None,
            },
            Make::Page => match code {
                PageUp => Action::PageUp,
                PageDown => Action::PageDown,
                _ => Action::None,
            },
            Make::Ends => match code {
                Home | Char('g') => Action::Home,
                End | Char('G') => Action::End,
                _ => Action::None,
            },
            Make::Panes => match code {
                Tab | BackTab => Action::SwitchPane,
                Left | Char('h') => Action::FocusGroups,
                Right | Char('l') => Action::FocusEntries,
                _ => Action::None,
            },
            Make::Open => Action::Open,
            Make::Back => Action::Back,
            Make::Help => Action::Help,
            Make::StartFilter => Action::StartFilter,
            Make::FilterChar => match code {
                Char(c) => Action::FilterChar(c),
                _ => Action::None,
            },
            Make::FilterBackspace => Action::FilterBackspace,
            Make::FilterAccept => Action::FilterAccept,
            Make::FilterCancel => Action::FilterCancel,
            Make::ToggleMark => Action::ToggleMark,
            Make::InvalidateMarked => Action::InvalidateMarked,
            Make::InvalidateStale => Action::InvalidateStale,
            Make::Confirm => Action::Confirm,
            Make::Cancel => Action::Cancel,
            Make::Reverify => Action::Reverify,
            Make::CycleGrouping => Action::CycleGrouping,
            Make::SortBy => match code {
                Char(c @ '1'..='7') => Action::SortBy(Column::ALL[(c as u8 - b'1') as usize]),
                _ => Action::None,
            },
        }
    }
}

/// A binding's row in the `?` help: the keys as shown, and the text (more than one line when
/// it is long).
#[derive(Debug, Clone, Copy)]
pub struct HelpRow {
    pub label: &'static str,
    pub text: &'static [&'static str],
}

/// A short hint in the footer at `place`, drawn as `keys text`; hints are ordered by `order`.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    pub place: Place,
    pub order: u8,
    /// The keys as the footer names them ("↑↓", "d/D", "any key", "type" for any character).
    pub keys: &'static str,
    pub text: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub modes: &'static [Mode],
    pub keys: Keys,
    pub make: Make,
    /// `None`: not in the help (another row names its keys, or it only works in a mode that
    /// explains itself in the footer).
    pub help: Option<HelpRow>,
    pub hints: &'static [Hint],
}

const NORMAL: &[Mode] = &[Mode::Normal];
const LISTS: &[Mode] = &[Mode::Normal, Mode::Detail];
const ALL_MODES: &[Mode] = &[
    Mode::Normal,
    Mode::Filter,
    Mode::Confirm,
    Mode::Help,
    Mode::Detail,
];

const fn help(label: &'static str, text: &'static [&'static str]) -> Option<HelpRow> {
    Some(HelpRow { label, text })
}

const fn hint(place: Place, order: u8, keys: &'static str, text: &'static str) -> Hint {
    Hint {
        place,
        order,
        keys,
        text,
    }
}

/// Every key binding, in help order; in a mode the first matching binding wins.
pub static BINDINGS: &[Binding] = &[
    Binding {
        modes: ALL_MODES,
        keys: Keys::Ctrl(&['c', 'C']),
        make: Make::Quit,
        help: None, // the `q` row names Ctrl-C
        hints: &[],
    },
    Binding {
        modes: LISTS,
        keys: Keys::Codes(&[Up, Down, Char('j'), Char('k')]),
        make: Make::Move,
        help: help("↑ ↓  j k", &["move the selection (scroll in detail)"]),
        hints: &[
            hint(Place::Groups, 0, "↑↓", "group"),
            hint(Place::Detail, 0, "↑↓ PgUp PgDn", "scroll"),
        ],
    },
    Binding {
        modes: LISTS,
        keys: Keys::Codes(&[PageUp, PageDown]),
        make: Make::Page,
        help: help("PgUp PgDn", &["a page up or down"]),
        hints: &[],
    },
    Binding {
        modes: LISTS,
        keys: Keys::Codes(&[Home, End, Char('g'), Char('G')]),
        make: Make::Ends,
        help: help("Home End  g G", &["first or last"]),
        hints: &[],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Tab, BackTab, Left, Right, Char('h'), Char('l')]),
        make: Make::Panes,
        help: help("Tab  ← →  h l", &["switch between groups and entries"]),
        hints: &[],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Enter]),
        make: Make::Open,
        help: help("Enter", &["entries of the group; detail of the entry"]),
        hints: &[
            hint(Place::Groups, 1, "Enter", "entries"),
            hint(Place::Entries, 0, "Enter", "detail"),
        ],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Esc]),
        make: Make::Back,
        help: help("Esc", &["back; clear the filter, then the marks"]),
        hints: &[],
    },
    Binding {
        modes: &[Mode::Detail],
        keys: Keys::Codes(&[Esc, Enter, Backspace, Left, Char('h')]),
        make: Make::Back,
        help: None, // the Esc row says "back"
        hints: &[hint(Place::Detail, 1, "Esc", "back")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char('/')]),
        make: Make::StartFilter,
        help: help("/", &["filter: function, key, path, error"]),
        hints: &[hint(Place::Entries, 4, "/", "filter")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char(' ')]),
        make: Make::ToggleMark,
        help: help("space", &["mark or unmark the entry"]),
        hints: &[hint(Place::Entries, 1, "space", "mark")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char('d')]),
        make: Make::InvalidateMarked,
        help: help("d", &["invalidate marked entries (or the selected)"]),
        hints: &[hint(Place::Entries, 2, "d/D", "invalidate")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char('D')]),
        make: Make::InvalidateStale,
        help: help("D", &["invalidate stale entries of the group"]),
        hints: &[hint(Place::Groups, 3, "D", "invalidate stale")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char('t')]),
        make: Make::CycleGrouping,
        help: help("t", &["group by strategy, status, function, ..."]),
        hints: &[hint(Place::Groups, 2, "t", "grouping")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Range('1', '7'),
        make: Make::SortBy,
        help: help(
            "1-7",
            &[
                "sort: function status size age hits key",
                "strategy; the same key again reverses",
            ],
        ),
        hints: &[hint(Place::Entries, 3, "1-7", "sort")],
    },
    Binding {
        modes: NORMAL,
        keys: Keys::Codes(&[Char('r')]),
        make: Make::Reverify,
        help: help("r", &["verify again"]),
        hints: &[],
    },
    Binding {
        modes: LISTS,
        keys: Keys::Codes(&[Char('?')]),
        make: Make::Help,
        help: help("?", &["this help"]),
        hints: &[
            hint(Place::Groups, 4, "?", "help"),
            hint(Place::Entries, 5, "?", "help"),
            hint(Place::Detail, 2, "?", "help"),
        ],
    },
    Binding {
        modes: &[Mode::Normal, Mode::Detail, Mode::Help],
        keys: Keys::Codes(&[Char('q')]),
        make: Make::Quit,
        help: help("q  Ctrl-C", &["quit"]),
        hints: &[
            hint(Place::Groups, 5, "q", "quit"),
            hint(Place::Detail, 3, "q", "quit"),
            hint(Place::Help, 1, "q", "quit"),
        ],
    },
    // The filter line.
    Binding {
        modes: &[Mode::Filter],
        keys: Keys::Codes(&[Esc]),
        make: Make::FilterCancel,
        help: None,
        hints: &[hint(Place::Filter, 2, "Esc", "clear")],
    },
    Binding {
        modes: &[Mode::Filter],
        keys: Keys::Codes(&[Enter, Down, Tab]),
        make: Make::FilterAccept,
        help: None,
        hints: &[hint(Place::Filter, 1, "Enter", "keep")],
    },
    Binding {
        modes: &[Mode::Filter],
        keys: Keys::Codes(&[Backspace]),
        make: Make::FilterBackspace,
        help: None,
        hints: &[],
    },
    Binding {
        modes: &[Mode::Filter],
        keys: Keys::Typed,
        make: Make::FilterChar,
        help: None,
        hints: &[hint(
            Place::Filter,
            0,
            "type",
            "to filter function, key, path, error",
        )],
    },
    // The confirmation dialog and the help: y, or any key.
    Binding {
        modes: &[Mode::Confirm],
        keys: Keys::Codes(&[Char('y'), Char('Y')]),
        make: Make::Confirm,
        help: None,
        hints: &[hint(Place::Confirm, 0, "y", "confirm")],
    },
    Binding {
        modes: &[Mode::Confirm],
        keys: Keys::Any,
        make: Make::Cancel,
        help: None,
        hints: &[hint(Place::Confirm, 1, "any other key", "cancels")],
    },
    Binding {
        modes: &[Mode::Help],
        keys: Keys::Any,
        make: Make::Back,
        help: None,
        hints: &[hint(Place::Help, 0, "any key", "closes help")],
    },
];

/// The binding a key hits in `mode`, if any (key releases hit nothing).
pub fn lookup(mode: Mode, key: &KeyEvent) -> Option<&'static Binding> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    BINDINGS
        .iter()
        .find(|b| b.modes.contains(&mode) && b.keys.matches(key))
}

/// The footer hints at `place`, in order.
pub fn hints(place: Place) -> Vec<&'static Hint> {
    let mut out: Vec<&Hint> = BINDINGS
        .iter()
        .flat_map(|b| b.hints)
        .filter(|h| h.place == place)
        .collect();
    out.sort_by_key(|h| h.order);
    out
}

/// The footer's key line at `place`: its hints joined with ` · `.
pub fn footer_line(place: Place) -> String {
    hints(place)
        .iter()
        .map(|h| format!("{} {}", h.keys, h.text))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The help's rows: (keys, text), a long text continuing on rows with empty keys.
pub fn help_rows() -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter_map(|b| b.help)
        .flat_map(|h| {
            h.text
                .iter()
                .enumerate()
                .map(move |(i, t)| (if i == 0 { h.label } else { "" }, *t))
        })
        .collect()
}

/// Maps a key to an action in `mode`: the first binding of [`BINDINGS`] that works in
/// `mode` and matches the key (Ctrl-C quits everywhere).
pub fn key_action(mode: Mode, key: KeyEvent) -> Action {
    lookup(mode, &key).map_or(Action::None, |b| b.make.action(key.code))
}

/// The mouse, when captured: the wheel scrolls.
pub fn mouse_action(mouse: MouseEvent) -> Action {
    match mouse.kind {
        MouseEventKind::ScrollUp => Action::Up,
        MouseEventKind::ScrollDown => Action::Down,
        _ => Action::None,
    }
}
