//! The shared half of every cache that is a tree of files rather than a database (joblib's
//! call folders, Streamlit's `.memo` files): a kind walks its tree into a [`Catalog`] (entries
//! with the sources their status depends on), and [`Walked`] answers every [`Backend`] call from
//! it: filters, sorting, paging, aggregates, detail, purge. The kind keeps only what is its own:
//! how to walk, how to notice a change, and how to remove one entry safely.
//!
//! A catalog holds one row per entry (a few hundred bytes): 100,000 call folders cost tens of
//! megabytes, and nothing of a value is read but the first bytes shown in a detail.

use super::{
    Backend, Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, KeptList,
    PurgeOutcome, PurgePlan, PurgeProgress, SortKey, SourceId, SourceRow, StatusesLoaded,
};
use crate::status::Status;
use crate::store::{Result, StoreError};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One entry of a walked cache.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// The row as listed (its `status` is filled in from the loaded statuses).
    pub row: EntryRow,
    /// Further sources the entry's status depends on.
    pub dependencies: Vec<SourceId>,
    /// What a purge removes: the entry's file or folder.
    pub location: PathBuf,
    /// The file whose first bytes preview the value (encoded as `row.value_type` says).
    pub value_file: Option<PathBuf>,
    /// Shown in the entry's detail (see [`EntryDetail::notes`]); usually shared by every entry
    /// of a function.
    pub notes: Arc<[String]>,
}

/// What a walk found.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Ids ascending.
    pub entries: Vec<CatalogEntry>,
    pub sources: Vec<SourceRow>,
    /// The recorded text of a source, where the cache keeps one (shown as a diff).
    pub source_content: HashMap<SourceId, Vec<u8>>,
    /// Things worth telling the user (a half-written folder, a file of an unexpected shape).
    pub warnings: Vec<String>,
}

/// The part of a walked cache that is its own.
pub trait WalkedKind: Send + Sync {
    /// "joblib", "streamlit", ...
    fn kind(&self) -> &'static str;
    /// Walks the cache. Nothing is unpickled, imported or executed.
    fn scan(&self) -> Result<Catalog>;
    /// Changes when the cache is written (cheap: called every second by the TUI).
    fn change_token(&self) -> Result<i64>;
    /// Removes one entry whole (never half of it). `Ok(false)`: it was already gone.
    fn remove(&self, entry: &CatalogEntry) -> std::io::Result<bool>;
    /// Why this entry must not be removed now (a file still being written), or `None`. A purge
    /// leaves such an entry in place and reports it in [`PurgeOutcome::skipped`].
    fn busy(&self, _entry: &CatalogEntry) -> Option<String> {
        None
    }
    /// After a purge: tidy what the removed entries leave behind (an empty function folder).
    fn after_purge(&self, _removed: &[&CatalogEntry]) {}
}

/// An id that stays the same across walks for the same thing (an entry's folder, a source's
/// path and span): marks and loaded statuses keep meaning what they meant when the cache is
/// walked again after a write. 53 bits, so JSON readers of any language keep it exact.
pub fn stable_id(parts: &[&[u8]]) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    (u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) >> 11) as i64
}

/// A catalog and its index by entry id.
struct Scanned {
    catalog: Catalog,
    by_id: HashMap<EntryId, usize>,
    token: Option<i64>,
}

impl Scanned {
    fn new(mut catalog: Catalog, token: Option<i64>) -> Scanned {
        catalog.entries.sort_by_key(|e| e.row.id);
        let by_id = catalog
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.row.id, i))
            .collect();
        Scanned {
            catalog,
            by_id,
            token,
        }
    }
}

/// A walked cache as a [`Backend`].
pub struct Walked {
    kind: Arc<dyn WalkedKind>,
    path: PathBuf,
    base_dir: PathBuf,
    read_only: bool,
    /// What the first walk had to say (later walks' warnings show in the TUI only as counts).
    warnings: Vec<String>,
    /// Shared with handles from [`Backend::reopen_read_only`]: a second handle costs no walk.
    scanned: RefCell<Arc<Scanned>>,
    statuses: RefCell<Option<HashMap<SourceId, Status>>>,
    /// The sorted list the TUI pages through.
    list: KeptList,
}

impl Walked {
    /// Walks the cache at `path` (the path the user gave) through `kind`.
    pub fn open(
        kind: Arc<dyn WalkedKind>,
        path: &Path,
        base_dir: PathBuf,
        read_only: bool,
    ) -> Result<Walked> {
        let token = kind.change_token().ok();
        let catalog = kind.scan()?;
        Ok(Walked {
            kind,
            path: path.to_path_buf(),
            base_dir,
            read_only,
            warnings: catalog.warnings.clone(),
            scanned: RefCell::new(Arc::new(Scanned::new(catalog, token))),
            statuses: RefCell::new(None),
            list: KeptList::default(),
        })
    }

    /// Walks the cache again (after a purge, or when another process wrote it). Ids are
    /// stable, so loaded statuses and the TUI's marks keep their meaning.
    fn rescan(&self, token: Option<i64>) -> Result<()> {
        let catalog = self.kind.scan()?;
        *self.scanned.borrow_mut() = Arc::new(Scanned::new(catalog, token));
        Ok(())
    }

    fn status_of(&self, statuses: &HashMap<SourceId, Status>, e: &CatalogEntry) -> Option<Status> {
        let own = match e.row.source_id {
            Some(id) => Some(*statuses.get(&id)?),
            None => None,
        };
        let mut deps = Vec::with_capacity(e.dependencies.len());
        for d in &e.dependencies {
            deps.push(*statuses.get(d)?);
        }
        Some(Status::of_entry(
            own,
            e.row.derivation_error.is_some(),
            deps,
        ))
    }

    /// The entries `filter` selects, in id order.
    fn matching(&self, filter: &EntryFilter) -> Result<Vec<CatalogEntry>> {
        let statuses = self.statuses.borrow();
        if !filter.statuses.is_empty() && statuses.is_none() {
            return Err(StoreError::NotAStore {
                path: self.path.clone(),
                what: "a status filter needs verification first".into(),
            });
        }
        let glob = match &filter.function_glob {
            Some(g) => Some(sqlite_glob(g).map_err(|e| StoreError::NotAStore {
                path: self.path.clone(),
                what: format!("bad --function pattern: {e}"),
            })?),
            None => None,
        };
        let ids: Option<HashSet<EntryId>> =
            filter.ids.as_ref().map(|v| v.iter().copied().collect());
        let text = filter
            .text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
        let scanned = self.scanned.borrow();
        let paths: HashMap<SourceId, &str> = scanned
            .catalog
            .sources
            .iter()
            .map(|s| (s.id, s.path.as_str()))
            .collect();
        let source_path = |id: Option<SourceId>| id.and_then(|id| paths.get(&id).copied());
        let mut out = Vec::new();
        for e in &scanned.catalog.entries {
            let r = &e.row;
            if !filter.strategies.is_empty() && !filter.strategies.contains(&r.strategy) {
                continue;
            }
            let by_status = match statuses.as_ref() {
                Some(map) if !filter.statuses.is_empty() => Some(
                    self.status_of(map, e)
                        .is_some_and(|s| filter.statuses.contains(&s)),
                ),
                _ => None,
            };
            let expired = |now: i64| r.is_expired(now);
            let selected = match (by_status, filter.or_expired_at) {
                (Some(s), Some(now)) => s || expired(now),
                (Some(s), None) => s,
                (None, Some(now)) => expired(now),
                (None, None) => true,
            };
            if !selected || filter.expired_at.is_some_and(|now| !expired(now)) {
                continue;
            }
            if glob.as_ref().is_some_and(|g| !g.matches(&r.function))
                || filter.function.as_ref().is_some_and(|f| *f != r.function)
                || filter.created_before.is_some_and(|t| r.created_at >= t)
                || ids.as_ref().is_some_and(|set| !set.contains(&r.id))
            {
                continue;
            }
            if let Some(want) = &filter.source_path {
                if source_path(r.source_id) != want.as_deref() {
                    continue;
                }
            }
            if let Some(want) = &filter.derivation_error {
                if r.derivation_error.as_deref() != want.as_deref() {
                    continue;
                }
            }
            if let Some(t) = &text {
                let hay = [
                    Some(r.function.as_str()),
                    Some(r.key.as_str()),
                    r.derivation_error.as_deref(),
                    source_path(r.source_id),
                ];
                if !hay.iter().flatten().any(|h| h.to_lowercase().contains(t)) {
                    continue;
                }
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn row_with_status(&self, e: &CatalogEntry, with_status: bool) -> EntryRow {
        let mut row = e.row.clone();
        if with_status {
            if let Some(map) = self.statuses.borrow().as_ref() {
                row.status = self.status_of(map, e);
            }
        }
        row
    }
}

/// SQLite's GLOB (`*`, `?`, `[...]`, `[^...]`, case-sensitive) as a glob pattern.
fn sqlite_glob(pattern: &str) -> std::result::Result<glob::Pattern, glob::PatternError> {
    glob::Pattern::new(&pattern.replace("[^", "[!"))
}

fn size_of(row: &EntryRow) -> u64 {
    row.value_size.max(0) as u64
}

impl Backend for Walked {
    fn kind(&self) -> &'static str {
        self.kind.kind()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn base_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn change_token(&self) -> Result<i64> {
        let token = self.kind.change_token()?;
        if self.scanned.borrow().token != Some(token) {
            self.rescan(Some(token))?;
        }
        Ok(token)
    }

    fn reopen_read_only(&self) -> Result<Box<dyn Backend>> {
        Ok(Box::new(Walked {
            kind: self.kind.clone(),
            path: self.path.clone(),
            base_dir: self.base_dir.clone(),
            read_only: true,
            warnings: self.warnings.clone(),
            scanned: RefCell::new(self.scanned.borrow().clone()),
            statuses: RefCell::new(None),
            list: KeptList::default(),
        }))
    }

    fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        let scanned = self.scanned.borrow();
        let used: HashSet<SourceId> = scanned
            .catalog
            .entries
            .iter()
            .flat_map(|e| e.row.source_id.iter().chain(&e.dependencies))
            .copied()
            .collect();
        Ok(scanned
            .catalog
            .sources
            .iter()
            .filter(|s| used.contains(&s.id))
            .cloned()
            .collect())
    }

    fn dangling_source_ids(&self) -> Result<Vec<SourceId>> {
        let scanned = self.scanned.borrow();
        let known: HashSet<SourceId> = scanned.catalog.sources.iter().map(|s| s.id).collect();
        let mut dangling: Vec<SourceId> = scanned
            .catalog
            .entries
            .iter()
            .flat_map(|e| e.row.source_id.iter().chain(&e.dependencies))
            .filter(|id| !known.contains(id))
            .copied()
            .collect();
        dangling.sort_unstable();
        dangling.dedup();
        Ok(dangling)
    }

    fn load_statuses(
        &self,
        statuses: &mut dyn Iterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded> {
        *self.statuses.borrow_mut() = Some(statuses.collect());
        Ok(StatusesLoaded(()))
    }

    fn aggregate(&self, dimension: Dimension, visit: &mut dyn FnMut(Cell)) -> Result<()> {
        let scanned = self.scanned.borrow();
        type Key = (
            Option<SourceId>,
            String,
            Option<String>,
            bool,
            Vec<SourceId>,
        );
        let mut cells: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
        for e in &scanned.catalog.entries {
            let r = &e.row;
            let dim = match dimension {
                Dimension::None => None,
                Dimension::Function => Some(r.function.clone()),
                Dimension::DerivationError => r.derivation_error.clone(),
            };
            let key = (
                r.source_id,
                r.strategy.clone(),
                dim,
                r.derivation_error.is_some(),
                e.dependencies.clone(),
            );
            let slot = cells.entry(key).or_default();
            slot.0 += 1;
            slot.1 = slot.1.saturating_add(size_of(r));
        }
        for ((source_id, strategy, dimension, has_error, dependencies), (entries, bytes)) in cells {
            visit(Cell {
                source_id,
                strategy,
                dimension,
                has_derivation_error: has_error,
                dependencies,
                malformed_source_id: false,
                entries,
                bytes,
            });
        }
        Ok(())
    }

    fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        let scanned = self.scanned.borrow();
        let mut rows: BTreeMap<(String, String), ErrorRow> = BTreeMap::new();
        for e in &scanned.catalog.entries {
            let r = &e.row;
            let Some(err) = &r.derivation_error else {
                continue;
            };
            let row = rows
                .entry((r.strategy.clone(), err.clone()))
                .or_insert_with(|| ErrorRow {
                    strategy: r.strategy.clone(),
                    error: err.clone(),
                    entries: 0,
                    sourceless: 0,
                    sourceless_bytes: 0,
                });
            row.entries += 1;
            if r.source_id.is_none() {
                row.sourceless += 1;
                row.sourceless_bytes = row.sourceless_bytes.saturating_add(size_of(r));
            }
        }
        let mut out: Vec<ErrorRow> = rows.into_values().collect();
        out.sort_by(|a, b| {
            b.entries
                .cmp(&a.entries)
                .then_with(|| a.error.cmp(&b.error))
        });
        Ok(out)
    }

    fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>> {
        let scanned = self.scanned.borrow();
        let mut by: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for e in scanned
            .catalog
            .entries
            .iter()
            .filter(|e| e.row.is_expired(now_ms))
        {
            let slot = by.entry(e.row.strategy.clone()).or_default();
            slot.0 += 1;
            slot.1 = slot.1.saturating_add(size_of(&e.row));
        }
        Ok(by.into_iter().map(|(s, (n, b))| (s, n, b)).collect())
    }

    fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        let matching = self.matching(filter)?;
        let bytes = matching
            .iter()
            .fold(0u64, |sum, e| sum.saturating_add(size_of(&e.row)));
        Ok((matching.len() as u64, bytes))
    }

    fn select_list(&self, filter: &EntryFilter, sort: SortKey, descending: bool) -> Result<u64> {
        let mut rows: Vec<EntryRow> = self
            .matching(filter)?
            .into_iter()
            .map(|e| self.row_with_status(&e, matches!(sort, SortKey::Status(_))))
            .collect();
        rows.sort_by(|a, b| {
            let order = match sort {
                SortKey::Id => std::cmp::Ordering::Equal,
                SortKey::Function => a.function.cmp(&b.function),
                SortKey::Status(_) => a.status.cmp(&b.status),
                SortKey::Size => a.value_size.cmp(&b.value_size),
                SortKey::Created => a.created_at.cmp(&b.created_at),
                SortKey::Hits => a.hits.cmp(&b.hits),
                SortKey::Key => a.key.cmp(&b.key),
                SortKey::Strategy => a.strategy.cmp(&b.strategy),
            };
            order.then(a.id.cmp(&b.id))
        });
        if descending {
            rows.reverse();
        }
        Ok(self.list.set(rows.into_iter().map(|r| r.id).collect()))
    }

    fn list_page(&self, start: u64, n: usize) -> Result<Vec<EntryId>> {
        Ok(self.list.page(start, n))
    }

    fn list_position(&self, id: EntryId) -> Result<Option<u64>> {
        Ok(self.list.position(id))
    }

    fn entries_by_ids(
        &self,
        ids: &[EntryId],
        statuses: Option<StatusesLoaded>,
    ) -> Result<Vec<EntryRow>> {
        let scanned = self.scanned.borrow();
        Ok(ids
            .iter()
            .filter_map(|id| scanned.by_id.get(id))
            .map(|&i| self.row_with_status(&scanned.catalog.entries[i], statuses.is_some()))
            .collect())
    }

    fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after: Option<EntryId>,
        limit: i64,
    ) -> Result<Vec<EntryRow>> {
        Ok(self
            .matching(filter)?
            .into_iter()
            .filter(|e| after.is_none_or(|a| e.row.id > a))
            .take(limit.max(0) as usize)
            .map(|e| self.row_with_status(&e, statuses.is_some()))
            .collect())
    }

    fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>> {
        let scanned = self.scanned.borrow();
        let Some(&i) = scanned.by_id.get(&id) else {
            return Ok(None);
        };
        let e = &scanned.catalog.entries[i];
        let find = |id: &SourceId| {
            scanned
                .catalog
                .sources
                .iter()
                .find(|s| s.id == *id)
                .cloned()
        };
        let source = e.row.source_id.as_ref().and_then(find);
        let dependencies: Vec<SourceRow> = e.dependencies.iter().filter_map(find).collect();
        let missing_dependencies = e
            .dependencies
            .iter()
            .filter(|d| find(d).is_none())
            .copied()
            .collect();
        let value_head = e
            .value_file
            .as_ref()
            .and_then(|f| crate::verify::read::read_head(f, preview));
        Ok(Some(EntryDetail {
            entry: e.row.clone(),
            source_content: e
                .row
                .source_id
                .and_then(|s| scanned.catalog.source_content.get(&s).cloned()),
            source,
            dependencies,
            missing_dependencies,
            malformed_source_ids: Vec::new(),
            value_head,
            notes: e.notes.to_vec(),
        }))
    }

    fn purge(
        &self,
        plan: &PurgePlan,
        progress: &mut dyn FnMut(PurgeProgress),
    ) -> Result<PurgeOutcome> {
        let mut outcome = PurgeOutcome {
            dry_run: plan.dry_run,
            ..Default::default()
        };
        let selected = self.matching(&plan.filter)?;
        if plan.dry_run {
            for e in &selected {
                outcome.add(e.row.strategy.clone(), 1, size_of(&e.row));
            }
            return Ok(outcome);
        }
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let total = selected.len() as u64;
        progress(PurgeProgress { done: 0, total });
        let mut removed = Vec::with_capacity(selected.len());
        for (n, e) in selected.iter().enumerate() {
            // A signal asked to stop: what is removed so far is reported.
            if plan.cancelled() {
                break;
            }
            if let Some(why) = self.kind.busy(e) {
                outcome
                    .skipped
                    .push(format!("{}: {why}", e.location.display()));
                progress(PurgeProgress {
                    done: n as u64 + 1,
                    total,
                });
                continue;
            }
            match self.kind.remove(e) {
                Ok(true) => {
                    outcome.add(e.row.strategy.clone(), 1, size_of(&e.row));
                    removed.push(e);
                }
                Ok(false) => {}
                // One entry that cannot be removed (permissions, a busy disk) does not stop
                // the others; it is named, and the purge reports that it fell short.
                Err(err) => {
                    outcome.skipped.push(format!(
                        "{}: could not be removed: {err}",
                        e.location.display()
                    ));
                    if outcome.interrupted.is_none() {
                        outcome.interrupted = Some(StoreError::Io {
                            path: e.location.clone(),
                            cause: err,
                        });
                    }
                }
            }
            progress(PurgeProgress {
                done: n as u64 + 1,
                total,
            });
        }
        let removed: Vec<&CatalogEntry> = removed.into_iter().collect();
        self.kind.after_purge(&removed);
        // What the purge removed is gone from the listing now, whatever the poll says.
        self.rescan(self.kind.change_token().ok())?;
        Ok(outcome)
    }
}
