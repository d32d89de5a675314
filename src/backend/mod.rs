//! The seam between caches and everything that shows them. A [`Backend`] is one opened cache
//! of some kind; the model (grouping, summaries, explanations) and both front ends talk only to
//! this trait, so a new kind of cache is one new module here and touches nothing in the CLI or
//! the TUI. Statuses, their precedence and the verification of fingerprint sources stay shared
//! ([`crate::status`], [`crate::verify`]): a backend says which sources its entries depend on,
//! verification checks them, and the backend takes the statuses back for its status filters.
//!
//! Kinds today:
//! - `store`: a cachescope store ([`crate::store::Store`]), the format's own SQLite file;
//! - `diskcache`: a python-diskcache `Cache` or `FanoutCache` directory ([`diskcache`]);
//! - `joblib`: a joblib.Memory location ([`joblib`]), a tree of call folders;
//! - `streamlit`: Streamlit's persisted cache, a folder of `.memo` files ([`streamlit`]).

pub mod catalog;
pub mod diskcache;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod joblib;
mod list;
mod store;
pub mod streamlit;

pub use crate::types::{
    Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, PurgeOutcome,
    PurgePlan, PurgeProgress, SortKey, SourceId, SourceRow, StatusesLoaded, StrategyCounts,
};

use crate::status::Status;
pub use crate::store::Resolve;
use crate::store::{OpenOptions, Result, Store};
pub(crate) use list::KeptList;
use std::path::{Path, PathBuf};

/// One opened cache. Every method is one short read (or, for [`Backend::purge`], the kind's
/// own safe write protocol); nothing loads a whole cache into memory.
pub trait Backend: Send {
    /// What kind of cache this is, for headers and `summary`: "cachescope store", ...
    fn kind(&self) -> &'static str;
    /// The path the user gave.
    fn path(&self) -> &Path;
    /// The directory relative source paths resolve against.
    fn base_dir(&self) -> PathBuf;
    fn is_read_only(&self) -> bool;
    /// Things worth telling the user that did not stop the cache from opening.
    fn warnings(&self) -> &[String];
    /// Changes when another process writes the cache (polled to refresh the TUI).
    fn change_token(&self) -> Result<i64>;
    /// Whether the path still names the cache that was opened (a store file replaced, deleted
    /// or with its directory removed is not): checked on each TUI refresh. Writes check it too.
    fn check_same(&self) -> Result<()> {
        Ok(())
    }
    /// Opened immutable: writes made by others meanwhile are not seen (said in the header).
    fn is_immutable(&self) -> bool {
        false
    }
    /// A second, read-only handle on the same cache, for work on another thread.
    fn reopen_read_only(&self) -> Result<Box<dyn Backend>>;
    /// Whether a handle from [`Backend::reopen_read_only`] gives the same source and entry ids
    /// (rows of one database) rather than ids of its own reading of the cache.
    fn ids_survive_reopen(&self) -> bool {
        false
    }

    /// The fingerprint sources entries reference (as their own source or a dependency).
    fn referenced_sources(&self) -> Result<Vec<SourceRow>>;
    /// [`Backend::referenced_sources`] one at a time, in the order of their recorded paths (as
    /// bytes), so that the rows of one file come together: what a streamed verification
    /// ([`crate::verify::Streamed`]) wants. A backend with many sources streams them.
    fn visit_referenced_sources(&self, visit: &mut dyn FnMut(SourceRow)) -> Result<()> {
        let mut rows = self.referenced_sources()?;
        rows.sort_by(|a, b| a.path_bytes().cmp(b.path_bytes()));
        rows.into_iter().for_each(visit);
        Ok(())
    }
    /// The source rows with these ids, one answer per id in their order (`None` for an id
    /// without a row): for showing a verification's sources without keeping their rows.
    fn sources_by_id<'a>(
        &'a self,
        ids: &'a [SourceId],
    ) -> Result<Box<dyn Iterator<Item = Result<Option<SourceRow>>> + 'a>> {
        let mut rows: std::collections::HashMap<SourceId, SourceRow> = self
            .referenced_sources()?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        Ok(Box::new(ids.iter().map(move |id| Ok(rows.remove(id)))))
    }
    /// At least as many as [`Backend::referenced_sources`] lists, found cheaply: the total a
    /// streamed verification reports its progress against.
    fn referenced_sources_bound(&self) -> Result<u64> {
        Ok(self.referenced_sources()?.len() as u64)
    }
    /// Source ids that entries reference but that have no source row.
    fn dangling_source_ids(&self) -> Result<Vec<SourceId>>;
    /// Takes verification's per-source statuses, for status filters, status sorting and
    /// purges; returns the proof that they are loaded.
    fn load_statuses(
        &self,
        statuses: &mut dyn Iterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded>;

    /// Streams aggregate cells: entry counts and bytes per (source, strategy[, dimension]), for
    /// when statuses are not known: the statuses of entries with dependencies need
    /// [`Backend::aggregate_resolved`].
    fn aggregate(&self, dimension: Dimension, visit: &mut dyn FnMut(Cell)) -> Result<()>;
    /// Entries and bytes per strategy, statuses aside: what a viewer shows before verification
    /// (by strategy). A backend whose aggregate reads more than that (a store: derivation
    /// errors and dependencies, for the statuses of entries without a source) answers this
    /// alone, faster.
    fn strategy_totals(&self) -> Result<StrategyCounts> {
        let mut by: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        self.aggregate(Dimension::None, &mut |c| {
            let slot = by.entry(c.strategy).or_default();
            slot.0 = slot.0.saturating_add(c.entries);
            slot.1 = slot.1.saturating_add(c.bytes);
        })?;
        Ok(by.into_iter().map(|(s, (n, b))| (s, n, b)).collect())
    }
    /// [`Backend::aggregate`] without a dimension, for `summary`: `errors` is called once and
    /// may be collected meanwhile on another handle; its rows are returned. A backend may use
    /// them for its failed counts.
    fn aggregate_then_errors(
        &self,
        errors: &mut dyn FnMut() -> Result<Vec<ErrorRow>>,
        visit: &mut dyn FnMut(Cell),
    ) -> Result<Vec<ErrorRow>> {
        self.aggregate(Dimension::None, visit)?;
        errors()
    }
    /// [`Backend::aggregate`] once every source's status is known
    /// (`resolve.status`; first asked after the big aggregate, so verification may still run
    /// meanwhile). A backend may merge entries with dependencies into cells that list only the
    /// dependency deciding their status, so nothing grows with their number: how many entries
    /// list each source as a dependency comes through `resolve.dependency_uses`, never from the
    /// cells' lists. `errors`, when given (only without a dimension), as for
    /// [`Backend::aggregate_then_errors`].
    fn aggregate_resolved(
        &self,
        dimension: Dimension,
        errors: Option<&mut dyn FnMut() -> Result<Vec<ErrorRow>>>,
        resolve: Resolve<'_>,
        visit: &mut dyn FnMut(Cell),
    ) -> Result<Option<Vec<ErrorRow>>> {
        let uses = resolve.dependency_uses;
        let mut visit = |c: Cell| {
            for d in &c.dependencies {
                uses(*d, c.entries);
            }
            visit(c);
        };
        match errors {
            Some(fetch) => self.aggregate_then_errors(fetch, &mut visit).map(Some),
            None => self.aggregate(dimension, &mut visit).map(|()| None),
        }
    }
    /// How often each derivation error occurs, per strategy, most common first.
    fn derivation_errors(&self) -> Result<Vec<ErrorRow>>;
    /// Per strategy: (strategy, expired entries, their bytes) at `now_ms`.
    fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>>;
    /// [`Backend::derivation_errors`] and [`Backend::expired_counts`]; a backend may read
    /// both in one pass.
    fn errors_and_expired(&self, now_ms: i64) -> Result<(Vec<ErrorRow>, StrategyCounts)> {
        Ok((self.derivation_errors()?, self.expired_counts(now_ms)?))
    }

    /// Entries and bytes matching `filter`.
    fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)>;
    /// Makes the sorted list a front end pages through by position (the TUI's entries pane):
    /// the ids of the entries matching `filter` in the given order, ties by id in the same
    /// direction. Replaces the previous list; returns its length. The backend keeps the list
    /// (a cachescope store in a TEMP table, so ten million ids cost no memory; the kinds that
    /// sort in memory as a vector of ids), and the caller pages through it with
    /// [`Backend::list_page`].
    fn select_list(&self, filter: &EntryFilter, sort: SortKey, descending: bool) -> Result<u64>;
    /// Up to `n` ids of the list from position `start` (0-based); none without a list.
    fn list_page(&self, start: u64, n: usize) -> Result<Vec<EntryId>>;
    /// Where `id` stands in the list (to keep a selection on its entry across a refresh).
    fn list_position(&self, id: EntryId) -> Result<Option<u64>>;
    /// The rows of these ids, in the order given; with their statuses when loaded.
    fn entries_by_ids(
        &self,
        ids: &[EntryId],
        statuses: Option<StatusesLoaded>,
    ) -> Result<Vec<EntryRow>>;
    /// A page of rows matching `filter` in id order, after `after`.
    fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after: Option<EntryId>,
        limit: i64,
    ) -> Result<Vec<EntryRow>>;
    /// One entry with its sources and the first `preview` bytes of its value.
    fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>>;

    /// Removes (or counts, on a dry run) the entries `plan` selects, by the kind's own safe
    /// protocol. Status filters need [`Backend::load_statuses`] first.
    fn purge(
        &self,
        plan: &PurgePlan,
        progress: &mut dyn FnMut(PurgeProgress),
    ) -> Result<PurgeOutcome>;
}

/// How to open a cache, whatever its kind.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read-only, and how long to wait for a busy SQLite file.
    pub open: OpenOptions,
    /// Where module files are looked up by dotted module name (foreign caches record modules,
    /// not paths); empty: the current directory.
    pub source_roots: Vec<PathBuf>,
    /// A Streamlit app's entry script, to map `.memo` files to functions.
    pub app: Option<PathBuf>,
}

impl Options {
    /// The source roots, or the current directory when none were given. Relative roots are
    /// made absolute against the current directory: the paths found under them are relative
    /// to the first root otherwise, and would be resolved against it a second time.
    pub fn roots(&self) -> Vec<PathBuf> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        if self.source_roots.is_empty() {
            vec![cwd]
        } else {
            self.source_roots.iter().map(|r| cwd.join(r)).collect()
        }
    }
}

/// A kind of cache that lives in a directory: it recognises its own tree by content and opens
/// it, or says `None` (not mine).
type DirectoryKind = fn(&Path, &Options) -> Result<Option<Box<dyn Backend>>>;

/// Every directory kind, tried in order; the first that recognises the tree opens it.
const DIRECTORY_KINDS: &[(&str, DirectoryKind)] = &[
    (
        "a diskcache directory (cache.db) or FanoutCache (000/cache.db, ...)",
        diskcache::detect,
    ),
    (
        "a joblib location (joblib/<module>/<function>/func_code.py)",
        joblib::detect,
    ),
    (streamlit::LOOKED_FOR, streamlit::open),
];

/// Opens the cache at `path`, whatever its kind, recognised by its content (never by its name
/// alone). A directory that no kind recognises is refused with what was looked for.
pub fn open(path: &Path, options: &Options) -> Result<Box<dyn Backend>> {
    // A diskcache's cache.db is a SQLite file of its own making, not a cachescope store.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        if let Some(backend) = diskcache::detect(path, options)? {
            return Ok(backend);
        }
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        for (_, kind) in DIRECTORY_KINDS {
            if let Some(backend) = kind(path, options)? {
                return Ok(backend);
            }
        }
        if !DIRECTORY_KINDS.is_empty() {
            let looked_for: Vec<&str> = DIRECTORY_KINDS.iter().map(|(what, _)| *what).collect();
            let looked_for = match looked_for.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
                _ => looked_for.join(""),
            };
            return Err(crate::store::StoreError::UnknownCache {
                path: path.to_path_buf(),
                looked_for,
            });
        }
    }
    Ok(Box::new(Store::open(path, &options.open)?))
}
