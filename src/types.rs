//! The vocabulary every backend speaks and both front ends read: entries, fingerprint
//! sources, aggregate cells, filters, sorting and purge reports. Plain data: how a backend
//! fills it (SQL, a directory walk) is its own business.

use crate::error::StoreError;
use crate::status::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// An entry's id within its cache (a row id, or the position of a file in a walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EntryId(pub i64);

/// A fingerprint source's id within its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SourceId(pub i64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Proof that verification results were loaded into a backend
/// ([`crate::backend::Backend::load_statuses`]):
/// only with it can entries be sorted by status or have their status listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusesLoaded(pub(crate) ());

/// A fingerprint source row (without its content snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub id: SourceId,
    /// The recorded path for display (invalid UTF-8 replaced); resolve with [`SourceRow::path_os`].
    pub path: String,
    /// The recorded path's bytes when they are not valid UTF-8 (paths are bytes on Unix);
    /// `None` when `path` is exactly what was recorded.
    pub raw_path: Option<Vec<u8>>,
    /// 1-based inclusive line span; `None` = the whole file.
    pub span: Option<(u64, u64)>,
    pub digest: String,
    pub size: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub recorded_at: i64,
    /// Byte length of the content snapshot, when the producer kept one (the block's length).
    pub content_len: Option<u64>,
    /// Set when the row's span columns break the format (one NULL, start > end, start < 1).
    pub invalid_span: bool,
}

impl SourceRow {
    /// The bytes to keep in [`SourceRow::raw_path`] for a file found on disk: `None` when its
    /// path is valid UTF-8 (and `path` says it exactly).
    pub fn raw_path_of(path: &std::path::Path) -> Option<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        path.to_str()
            .is_none()
            .then(|| path.as_os_str().as_bytes().to_vec())
    }

    /// The recorded path as the bytes it is, for finding the file.
    pub fn path_bytes(&self) -> &[u8] {
        self.raw_path.as_deref().unwrap_or(self.path.as_bytes())
    }

    /// The recorded path as an OS path.
    pub fn path_os(&self) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(self.path_bytes())
    }
}

/// One entry as listed: every column but the value blob.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub id: EntryId,
    pub namespace: String,
    pub function: String,
    pub key: String,
    pub strategy: String,
    pub derivation_error: Option<String>,
    pub source_id: Option<SourceId>,
    pub source_path: Option<String>,
    pub value_size: i64,
    pub value_type: Option<String>,
    pub created_at: i64,
    pub accessed_at: Option<i64>,
    pub hits: i64,
    pub expires_at: Option<i64>,
    /// The entry's status when verification results were loaded into the store connection.
    pub status: Option<Status>,
}

impl EntryRow {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}

/// Everything `show` and the detail pane need about one entry.
#[derive(Debug, Clone)]
pub struct EntryDetail {
    pub entry: EntryRow,
    pub source: Option<SourceRow>,
    /// Content snapshot of the source, when the producer kept one.
    pub source_content: Option<Vec<u8>>,
    pub dependencies: Vec<SourceRow>,
    /// Dependency rows pointing at source ids the store has no row for.
    pub missing_dependencies: Vec<SourceId>,
    /// The entry's own or its dependencies' source ids that are not integers, as SQL literals
    /// (untrusted: escape before printing): no source row can have one, so the entry is missing.
    pub malformed_source_ids: Vec<String>,
    /// The first bytes of the value (at most the preview limit asked for).
    pub value_head: Option<Vec<u8>>,
    /// What the backend knows about this entry that no column says (untrusted: escape before
    /// printing): how its status was judged, what is wrong with its files, where a module file
    /// was looked for.
    pub notes: Vec<String>,
}

/// An extra column to split aggregates by, for groupings the covering index cannot serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    None,
    Function,
    DerivationError,
}

/// Entries that share a source, strategy, dimension value and dependency set, counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub source_id: Option<SourceId>,
    pub strategy: String,
    pub dimension: Option<String>,
    pub has_derivation_error: bool,
    pub dependencies: Vec<SourceId>,
    /// Some source id of these entries (their own or a dependency's) is not an integer (a
    /// careless producer's TEXT, REAL or BLOB): no source row can have it, so they are missing.
    pub malformed_source_id: bool,
    pub entries: u64,
    pub bytes: u64,
}

/// (strategy, entries, bytes) per strategy.
pub type StrategyCounts = Vec<(String, u64, u64)>;

/// How often one derivation error occurs in one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    pub strategy: String,
    pub error: String,
    pub entries: u64,
    /// Of those, entries without a source (they are `failed`), and their bytes.
    pub sourceless: u64,
    pub sourceless_bytes: u64,
}

/// Which entries to look at. Empty fields select everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFilter {
    pub strategies: Vec<String>,
    /// Needs verification results loaded with [`crate::backend::Backend::load_statuses`].
    pub statuses: Vec<Status>,
    /// Also select entries expired at this Unix ms time (OR-ed with `statuses`).
    pub or_expired_at: Option<i64>,
    /// Only entries expired at this Unix ms time.
    pub expired_at: Option<i64>,
    /// Shell glob over `module:qualname` (SQLite GLOB: `*`, `?`, `[...]`, case-sensitive).
    pub function_glob: Option<String>,
    pub function: Option<String>,
    /// Only entries created before this Unix ms time.
    pub created_before: Option<i64>,
    /// Only entries whose own source has this recorded path (`Some(None)`: entries without one).
    pub source_path: Option<Option<String>>,
    /// Only entries with this derivation error (`Some(None)`: entries without one).
    pub derivation_error: Option<Option<String>>,
    /// Case-insensitive substring over function, key, source path and derivation error.
    pub text: Option<String>,
    /// Only these entry ids.
    pub ids: Option<Vec<EntryId>>,
}

/// Columns a listing can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Function,
    /// Worst status first (descending) or best first; needs the statuses loaded.
    Status(StatusesLoaded),
    Size,
    Created,
    Hits,
    Key,
    Strategy,
}

/// What to remove.
#[derive(Debug, Clone, Default)]
pub struct PurgePlan {
    pub filter: EntryFilter,
    pub dry_run: bool,
    /// Set (by a signal handler, say) to stop between batches: what was removed so far stays
    /// removed, and the outcome is marked interrupted.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl PurgePlan {
    /// Whether the purge was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// How far a purge has got: entries removed so far, of `total` selected (0 when the backend
/// cannot know the total without a second pass over the cache, as for a diskcache: the caller
/// keeps the count it showed when asking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeProgress {
    pub done: u64,
    pub total: u64,
}

/// What a purge removed (or, on a dry run, would remove).
#[derive(Debug, Default)]
pub struct PurgeOutcome {
    pub dry_run: bool,
    pub removed: u64,
    pub bytes: u64,
    /// strategy -> (entries, bytes)
    pub by_strategy: BTreeMap<String, (u64, u64)>,
    pub sources_removed: u64,
    /// Selected entries left in place on purpose, each as "what: why" (a file being written).
    pub skipped: Vec<String>,
    /// Set when a batch failed (busy past the timeout, say) after earlier batches committed:
    /// the counts above are what was removed before it.
    pub interrupted: Option<StoreError>,
}

impl PurgeOutcome {
    /// Counts `entries` removed entries of `strategy` and their bytes (saturating).
    pub(crate) fn add(&mut self, strategy: String, entries: u64, bytes: u64) {
        self.removed = self.removed.saturating_add(entries);
        self.bytes = self.bytes.saturating_add(bytes);
        let slot = self.by_strategy.entry(strategy).or_default();
        slot.0 = slot.0.saturating_add(entries);
        slot.1 = slot.1.saturating_add(bytes);
    }
}

#[cfg(test)]
impl SourceRow {
    /// A whole-file source row with only what a test names.
    pub(crate) fn whole(id: i64, path: &str, digest: &str) -> SourceRow {
        SourceRow {
            id: SourceId(id),
            path: path.into(),
            raw_path: None,
            span: None,
            digest: digest.into(),
            size: None,
            mtime_ns: None,
            recorded_at: 0,
            content_len: None,
            invalid_span: false,
        }
    }
}
