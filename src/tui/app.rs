//! Plain application state: no I/O, no terminal. [`super::update`] changes it; `ui` draws it.

use crate::backend::{EntryId, EntryRow, SortKey, StatusesLoaded};
use crate::model::Explained;
use crate::model::{Group, GroupKey, Grouping};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Rows fetched per page request.
pub const PAGE: usize = 128;
/// Lines above the entries pane's rows: header (2), groups pane (8), entries border and column
/// titles (2); below: the border (1) and the footer (2).
pub const FIXED_LINES: u16 = 2 + GROUPS_HEIGHT + 2 + 1 + 2;
/// Height of the groups pane, borders included.
pub const GROUPS_HEIGHT: u16 = 8;
/// The smallest terminal the app draws in.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// What keys currently mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    Confirm,
    Help,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Groups,
    Entries,
}

/// Sortable columns of the entries pane, in the order of their number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Function,
    Status,
    Size,
    Age,
    Hits,
    Key,
    Strategy,
}

impl Column {
    pub const ALL: [Column; 7] = [
        Column::Function,
        Column::Status,
        Column::Size,
        Column::Age,
        Column::Hits,
        Column::Key,
        Column::Strategy,
    ];

    /// The backend's order for this column. Statuses sort only once they are loaded; until
    /// then the list keeps its id order (the footer says so) and is sorted again when
    /// verification completes.
    pub fn sort_key(self, statuses: Option<StatusesLoaded>) -> SortKey {
        match self {
            Column::Function => SortKey::Function,
            Column::Status => statuses.map_or(SortKey::Id, SortKey::Status),
            Column::Size => SortKey::Size,
            Column::Age => SortKey::Created,
            Column::Hits => SortKey::Hits,
            Column::Key => SortKey::Key,
            Column::Strategy => SortKey::Strategy,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Column::Function => "function",
            Column::Status => "status",
            Column::Size => "size",
            Column::Age => "age",
            Column::Hits => "hits",
            Column::Key => "key",
            Column::Strategy => "strategy",
        }
    }
}

/// Verification as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Running { done: usize, total: usize },
    Done { sources: usize },
    Failed(String),
}

/// What a confirmed invalidation removes.
#[derive(Debug, Clone, PartialEq)]
pub enum PurgeTarget {
    /// These entries, whatever their status (marked, or the selected one).
    Ids(Vec<EntryId>),
    /// The stale (changed, missing, failed) entries of a group.
    Stale(GroupKey),
}

/// The open confirmation dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub target: PurgeTarget,
    pub count: u64,
    pub bytes: u64,
}

/// A running purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purging {
    pub done: u64,
    pub total: u64,
}

/// The whole state of the TUI.
#[derive(Debug)]
pub struct App {
    /// The store path as shown in the header (already escaped when drawn).
    pub store_label: String,
    /// The kind of cache ("cachescope store", "joblib", ...), once the worker opened it.
    pub kind: Option<&'static str>,
    pub read_only: bool,
    pub color: bool,
    pub width: u16,
    pub height: u16,
    /// Unix ms, refreshed by the event loop; ages are relative to it.
    pub now_ms: i64,
    pub mode: Mode,
    pub pane: Pane,
    pub quit: bool,

    pub verification: Verification,
    /// Whether statuses are loaded in the worker (status filters and `D` work).
    pub verified: bool,

    pub grouping: Grouping,
    pub all: Option<Group>,
    /// Whether `all` and `groups` count statuses: until the counts that follow verification
    /// arrive, no stale count is known (and none may be shown as zero).
    pub all_statuses: bool,
    pub groups: Vec<Group>,
    /// Selected group row: 0 is `all`, n is `groups[n - 1]`.
    pub group_sel: usize,
    pub group_offset: usize,

    pub sort: Column,
    pub descending: bool,
    /// The incremental filter text (function, key, path, error).
    pub filter: String,

    /// Request generation of the current list; answers for older ones are dropped.
    pub list_gen: u64,
    /// How many entries the selected group's sorted list holds; `None` while loading. The
    /// worker keeps the list itself (a store: in SQLite) and answers pages of it by position,
    /// so a group of ten million costs this app only the pages near the viewport.
    pub list_len: Option<usize>,
    /// The ids of the list's pages known here, by page number (those near the viewport).
    pub page_ids: HashMap<usize, Vec<EntryId>>,
    pub rows: HashMap<EntryId, EntryRow>,
    pub pages_requested: HashSet<usize>,
    pub pages_loaded: HashSet<usize>,
    pub entry_sel: usize,
    pub entry_offset: usize,
    /// The id to put the selection back on when a refreshed list arrives (cleared when the
    /// user moves meanwhile: the selection then stays where they put it).
    pub keep_selected: Option<EntryId>,

    /// Marked entry ids and their sizes.
    pub marked: BTreeMap<EntryId, u64>,

    pub detail_id: Option<EntryId>,
    pub detail: Option<Box<Explained>>,
    pub detail_scroll: usize,
    /// Lines of the detail at the current width, counted when the entry or the width changes.
    pub detail_len: usize,

    pub confirm: Option<Confirm>,
    pub purging: Option<Purging>,
    /// A header badge beside READ-ONLY: IMMUTABLE, STORE REPLACED.
    pub notice: Option<&'static str>,
    /// The path no longer names the store that was opened: nothing is invalidated.
    pub store_gone: Option<String>,
    /// A one-line message in the footer (cleared by the next key).
    pub message: Option<String>,
}

impl App {
    pub fn new(store_label: String, read_only: bool, color: bool) -> App {
        App {
            store_label,
            kind: None,
            read_only,
            color,
            width: MIN_SIZE.0,
            height: MIN_SIZE.1,
            now_ms: 0,
            mode: Mode::Normal,
            pane: Pane::Groups,
            quit: false,
            verification: Verification::Running { done: 0, total: 0 },
            verified: false,
            grouping: Grouping::Strategy,
            all: None,
            all_statuses: false,
            groups: Vec::new(),
            group_sel: 0,
            group_offset: 0,
            sort: Column::Function,
            descending: false,
            filter: String::new(),
            list_gen: 0,
            list_len: None,
            page_ids: HashMap::new(),
            rows: HashMap::new(),
            pages_requested: HashSet::new(),
            pages_loaded: HashSet::new(),
            entry_sel: 0,
            entry_offset: 0,
            keep_selected: None,
            marked: BTreeMap::new(),
            detail_id: None,
            detail: None,
            detail_scroll: 0,
            detail_len: 0,
            confirm: None,
            purging: None,
            notice: None,
            store_gone: None,
            message: None,
        }
    }

    pub fn too_small(&self) -> bool {
        self.width < MIN_SIZE.0 || self.height < MIN_SIZE.1
    }

    /// Rows of the groups pane, `all` included.
    pub fn group_count(&self) -> usize {
        1 + self.groups.len()
    }

    pub fn selected_group_key(&self) -> GroupKey {
        match self.group_sel {
            0 => GroupKey::All,
            n => self
                .groups
                .get(n - 1)
                .map_or(GroupKey::All, |g| g.key.clone()),
        }
    }

    pub fn selected_group(&self) -> Option<&Group> {
        match self.group_sel {
            0 => self.all.as_ref(),
            n => self.groups.get(n - 1),
        }
    }

    /// Visible group rows (inside the border, under the column titles).
    pub fn group_rows_visible(&self) -> usize {
        (GROUPS_HEIGHT as usize).saturating_sub(3).max(1)
    }

    /// Visible entry rows.
    pub fn entry_rows_visible(&self) -> usize {
        (self.height.saturating_sub(FIXED_LINES) as usize).max(1)
    }

    pub fn entry_count(&self) -> usize {
        self.list_len.unwrap_or(0)
    }

    /// The id at position `pos` of the list, when its page is known here.
    pub fn id_at(&self, pos: usize) -> Option<EntryId> {
        self.page_ids.get(&(pos / PAGE))?.get(pos % PAGE).copied()
    }

    pub fn selected_id(&self) -> Option<EntryId> {
        self.id_at(self.entry_sel)
    }

    pub fn selected_row(&self) -> Option<&EntryRow> {
        self.rows.get(&self.selected_id()?)
    }

    pub fn marked_bytes(&self) -> u64 {
        self.marked.values().sum()
    }
}
