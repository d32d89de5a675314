//! Aggregates: entries and bytes per source and strategy (the covering index), derivation
//! errors (the partial index), expiry.

use super::super::rows::{opt_int, opt_text, text};
use super::super::{Cell, Dimension, ErrorRow, Result, SourceId, Store};
use crate::status::Status;
use std::collections::HashMap;

/// Where each aggregate SELECT puts the columns of a [`Cell`]: [`cell_columns`] writes them in
/// this order and the one reader reads them by these names.
mod cell_col {
    pub const SOURCE_ID: usize = 0;
    pub const STRATEGY: usize = 1;
    pub const DIMENSION: usize = 2;
    pub const HAS_ERROR: usize = 3;
    pub const ENTRIES: usize = 4;
    pub const BYTES: usize = 5;
}

/// The select list of a cell, from the expressions of one query (the strategy is always
/// `e.strategy`).
fn cell_columns(source_id: &str, dim: &str, has_error: &str, entries: &str, bytes: &str) -> String {
    format!("{source_id}, e.strategy, {dim}, {has_error}, {entries}, {bytes}")
}

// Sizes are summed as SQL `total()` (a float: a hostile size cannot overflow it) without
// clamping each row at 0: a per-row max() costs 15% of the summary on a million entries. A
// negative size, which the format does not allow, only lowers its group's total, which the
// conversion to u64 keeps at 0 or above.

/// What a caller that knows every source's status gives [`Store::aggregate_resolved`].
pub struct Resolve<'a> {
    /// A source's status; `None` while it is not known (its entries are then unchecked).
    pub status: &'a mut dyn FnMut(SourceId) -> Option<Status>,
    /// Called once per source that entries list as a dependency: how many entries do.
    pub dependency_uses: &'a mut dyn FnMut(SourceId, u64),
}

impl Store {
    /// Streams aggregate cells: entry counts and bytes per (source, strategy[, dimension]).
    /// Entries with dependency rows come in cells of their own, one per set of dependencies.
    pub fn aggregate(&self, dimension: Dimension, visit: impl FnMut(Cell)) -> Result<()> {
        self.aggregate_with(dimension, None, None, visit)
    }

    /// [`Store::aggregate`] without a dimension, for callers that also want
    /// [`Store::derivation_errors`]: `errors` is called once, after the big aggregate, so it can
    /// collect them from another connection meanwhile; they serve for the failed counts too,
    /// and are returned.
    pub fn aggregate_then_errors(
        &self,
        errors: impl FnOnce() -> Result<Vec<ErrorRow>>,
        visit: impl FnMut(Cell),
    ) -> Result<Vec<ErrorRow>> {
        self.aggregate_errors_with(errors, None, visit)
    }

    /// [`Store::aggregate`] without a dimension, once every source's status is known: entries
    /// with dependencies come merged into cells that list only the dependency deciding their
    /// status (the worst), one cell per own cell and worst status, so memory does not grow with
    /// the number of such entries. How many entries list each source as a dependency comes
    /// through `resolve.dependency_uses`. `status` is first called after the big aggregate, so
    /// the caller may still be verifying meanwhile. `errors` as for
    /// [`Store::aggregate_then_errors`] (the store's own [`Store::derivation_errors`] without).
    pub fn aggregate_resolved(
        &self,
        errors: Option<&mut dyn FnMut() -> Result<Vec<ErrorRow>>>,
        resolve: Resolve<'_>,
        visit: impl FnMut(Cell),
    ) -> Result<Option<Vec<ErrorRow>>> {
        match errors {
            Some(fetch) => self
                .aggregate_errors_with(fetch, Some(resolve), visit)
                .map(Some),
            None => self
                .aggregate_with(Dimension::None, None, Some(resolve), visit)
                .map(|()| None),
        }
    }

    fn aggregate_errors_with(
        &self,
        errors: impl FnOnce() -> Result<Vec<ErrorRow>>,
        resolve: Option<Resolve<'_>>,
        visit: impl FnMut(Cell),
    ) -> Result<Vec<ErrorRow>> {
        let mut errors = Some(errors);
        let mut got = None;
        {
            let mut fetch = || -> Result<Vec<ErrorRow>> {
                let e = (errors.take().expect("errors fetched once"))()?;
                got = Some(e.clone());
                Ok(e)
            };
            self.aggregate_with(Dimension::None, Some(&mut fetch), resolve, visit)?;
        }
        match got {
            Some(e) => Ok(e),
            None => (errors.take().expect("errors not fetched yet"))(),
        }
    }

    fn aggregate_with(
        &self,
        dimension: Dimension,
        errors: Option<&mut dyn FnMut() -> Result<Vec<ErrorRow>>>,
        resolve: Option<Resolve<'_>>,
        mut visit: impl FnMut(Cell),
    ) -> Result<()> {
        // One read transaction: the dependency pass takes back what the first two counted, so
        // all three must see the same rows even while a producer writes.
        let snapshot = if self.conn.is_autocommit() {
            Some(self.conn.unchecked_transaction().map_err(|e| self.err(e))?)
        } else {
            None
        };
        let dim = match dimension {
            Dimension::None => "NULL",
            Dimension::Function => "e.function",
            Dimension::DerivationError => "e.derivation_error",
        };
        let any_deps = self.any_dependencies();
        // Every entry is counted by the first two queries, those with dependency rows too (no
        // `NOT IN` exclusion: the big aggregate stays on the covering index alone, in its
        // order); the dependency pass then moves each entry with dependencies out of the cell
        // it was counted in and into a cell with its dependencies.
        let mut main = MainCells::default();
        let cell = |r: &rusqlite::Row| -> rusqlite::Result<(Cell, f64)> {
            use cell_col::*;
            Ok((
                Cell {
                    source_id: opt_int(r, SOURCE_ID)?.map(SourceId),
                    strategy: text(r, STRATEGY)?,
                    dimension: opt_text(r, DIMENSION)?,
                    has_derivation_error: r.get(HAS_ERROR)?,
                    dependencies: Vec::new(),
                    entries: r.get::<_, i64>(ENTRIES)? as u64,
                    bytes: 0,
                },
                r.get::<_, f64>(BYTES)?,
            ))
        };
        // With a source, the derivation error does not matter to the status: this query reads
        // the covering index alone (and in its order, when there is no extra dimension).
        let group = if dimension == Dimension::None {
            "1, 2"
        } else {
            "1, 2, 3"
        };
        let with_source = format!(
            "SELECT {} FROM entries e WHERE e.source_id IS NOT NULL GROUP BY {group}",
            cell_columns("e.source_id", dim, "0", "count(*)", "total(e.value_size)")
        );
        for (c, bytes) in self.collect(&with_source, [], cell)? {
            main.push(true, c, bytes);
        }
        if let (Dimension::None, Some(fetch)) = (dimension, errors) {
            // Without a source, an entry is failed with a derivation error, unverifiable without.
            // The caller wants the derivation errors anyway: all the counts come from the
            // covering index, the failed ones from the errors (the partial index on derivation
            // errors, read on another connection meanwhile).
            let totals = "SELECT e.strategy, count(*), total(e.value_size) FROM entries e \
                 WHERE e.source_id IS NULL GROUP BY 1";
            let errors = fetch()?;
            let mut failed: HashMap<&str, (u64, u64)> = HashMap::new();
            for e in &errors {
                let slot = failed.entry(e.strategy.as_str()).or_default();
                slot.0 = slot.0.saturating_add(e.sourceless);
                slot.1 = slot.1.saturating_add(e.sourceless_bytes);
            }
            let counts = |r: &rusqlite::Row| {
                Ok((
                    text(r, 0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, f64>(2)? as u64,
                ))
            };
            for (strategy, n, bytes) in self.collect(totals, [], counts)? {
                let (fn_, fb) = failed.get(strategy.as_str()).copied().unwrap_or((0, 0));
                for (has_error, entries, bytes) in [
                    (true, fn_, fb),
                    (false, n - fn_.min(n), bytes - fb.min(bytes)),
                ] {
                    if entries > 0 {
                        let c = Cell {
                            source_id: None,
                            strategy: strategy.clone(),
                            dimension: None,
                            has_derivation_error: has_error,
                            dependencies: Vec::new(),
                            entries,
                            bytes: 0,
                        };
                        main.push(false, c, bytes as f64);
                    }
                }
            }
        } else {
            let without_source = format!(
                "SELECT {} FROM entries e WHERE e.source_id IS NULL GROUP BY 2, 3, 4",
                cell_columns(
                    "NULL",
                    dim,
                    "e.derivation_error IS NOT NULL",
                    "count(*)",
                    "total(e.value_size)"
                )
            );
            for (c, bytes) in self.collect(&without_source, [], cell)? {
                main.push(false, c, bytes);
            }
        }
        if any_deps {
            let mut deps = DependencyCells::new(resolve);
            self.dependency_pass(dim, &mut |e| {
                main.take_back(&e);
                deps.add(e);
            })?;
            drop(snapshot);
            main.emit(&mut visit);
            deps.emit(&mut visit);
        } else {
            drop(snapshot);
            main.emit(&mut visit);
        }
        Ok(())
    }

    /// Streams every entry that has dependency rows, with its dependencies, in one pass over
    /// `entry_dependencies` in its primary key order (entry by entry) and one rowid lookup per
    /// entry: no sort, no per-entry subquery, nothing kept but the current entry.
    fn dependency_pass(&self, dim: &str, visit: &mut dyn FnMut(DependentEntry)) -> Result<()> {
        // CROSS JOIN keeps entry_dependencies the outer loop: a scan in (entry_id, source_id)
        // order, each entry looked up by its rowid.
        let sql = format!(
            "SELECT d.entry_id, d.source_id, e.source_id, e.strategy, {dim}, \
             e.derivation_error IS NOT NULL, e.source_id IS NOT NULL, \
             coalesce(CAST(e.value_size AS REAL), 0) \
             FROM entry_dependencies d CROSS JOIN entries e ON e.id = d.entry_id \
             ORDER BY d.entry_id"
        );
        let mut run = || -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query([])?;
            let mut current: Option<(i64, DependentEntry)> = None;
            while let Some(r) = rows.next()? {
                let entry_id: i64 = r.get(0)?;
                let dep = opt_int(r, 1)?.map(SourceId);
                if let Some((id, e)) = current.as_mut().filter(|(id, _)| *id == entry_id) {
                    debug_assert_eq!(*id, entry_id);
                    e.dependencies.extend(dep);
                    continue;
                }
                if let Some((_, done)) = current.take() {
                    visit(done);
                }
                current = Some((
                    entry_id,
                    DependentEntry {
                        source_id: opt_int(r, 2)?.map(SourceId),
                        strategy: text(r, 3)?,
                        dimension: opt_text(r, 4)?,
                        has_derivation_error: r.get(5)?,
                        sourced: r.get(6)?,
                        bytes: r.get(7)?,
                        dependencies: dep.into_iter().collect(),
                    },
                ));
            }
            if let Some((_, done)) = current {
                visit(done);
            }
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// How often each derivation error occurs, per strategy, most common first; one pass over
    /// the partial index on derivation errors where the store has it.
    pub fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        // Grouped in the partial index's own order (strategy, error): no sort, no table reads.
        let mut out = self.collect(
            "SELECT strategy, derivation_error, count(*), sum(source_id IS NULL), \
             total(CASE WHEN source_id IS NULL THEN value_size ELSE 0 END) \
             FROM entries WHERE derivation_error IS NOT NULL GROUP BY 1, 2",
            [],
            |r| {
                Ok(ErrorRow {
                    strategy: text(r, 0)?,
                    error: text(r, 1)?,
                    entries: r.get::<_, i64>(2)? as u64,
                    sourceless: r.get::<_, i64>(3)? as u64,
                    sourceless_bytes: r.get::<_, f64>(4)? as u64,
                })
            },
        )?;
        out.sort_by(|a, b| {
            b.entries
                .cmp(&a.entries)
                .then_with(|| a.error.cmp(&b.error))
        });
        Ok(out)
    }

    /// Entries expired at `now_ms`, per strategy: (strategy, entries, bytes).
    pub fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>> {
        self.collect(
            "SELECT strategy, count(*), total(value_size) FROM entries WHERE expires_at <= ?1 GROUP BY 1",
            [now_ms],
            |r| Ok((text(r, 0)?, r.get::<_, i64>(1)? as u64, r.get::<_, f64>(2)? as u64)),
        )
    }
}

/// An entry with dependency rows, as the dependency pass reads it.
struct DependentEntry {
    source_id: Option<SourceId>,
    strategy: String,
    dimension: Option<String>,
    has_derivation_error: bool,
    /// `source_id IS NOT NULL` in SQL (a malformed id reads as no source but was counted with
    /// the sourced entries).
    sourced: bool,
    bytes: f64,
    dependencies: Vec<SourceId>,
}

/// The cells of the first two queries, which count every entry, by the key an entry with
/// dependencies is found under again: (sourced, source, strategy, dimension, error flag).
#[derive(Default)]
struct MainCells {
    cells: Vec<(Cell, f64)>,
    index: HashMap<(bool, Option<SourceId>, String, Option<String>, bool), usize>,
}

impl MainCells {
    fn push(&mut self, sourced: bool, cell: Cell, bytes: f64) {
        let key = (
            sourced,
            cell.source_id,
            cell.strategy.clone(),
            cell.dimension.clone(),
            cell.has_derivation_error,
        );
        match self.index.get(&key) {
            // Two SQL groups Rust reads alike (a strategy stored as text and as a blob).
            Some(&i) => {
                let (c, b) = &mut self.cells[i];
                c.entries = c.entries.saturating_add(cell.entries);
                *b += bytes;
            }
            None => {
                self.index.insert(key, self.cells.len());
                self.cells.push((cell, bytes));
            }
        }
    }

    /// Takes an entry with dependencies out of the cell the first queries counted it in.
    fn take_back(&mut self, e: &DependentEntry) {
        // With a source, the first query counts without the error flag.
        let key = (
            e.sourced,
            e.source_id,
            e.strategy.clone(),
            e.dimension.clone(),
            !e.sourced && e.has_derivation_error,
        );
        if let Some(&i) = self.index.get(&key) {
            let (c, b) = &mut self.cells[i];
            c.entries = c.entries.saturating_sub(1);
            *b -= e.bytes;
        }
    }

    fn emit(self, visit: &mut impl FnMut(Cell)) {
        for (mut c, bytes) in self.cells {
            if c.entries > 0 {
                // Sizes are summed as floats, as SQL `total()`; a negative total reads as 0.
                c.bytes = bytes as u64;
                visit(c);
            }
        }
    }
}

/// Which entries with dependencies share a cell: all their dependencies alike, or (statuses
/// known) the same worst dependency status; `None`: no valid dependency id.
#[derive(PartialEq, Eq, Hash)]
enum DepSet {
    All(Vec<SourceId>),
    /// The worst rank among the dependencies, an unknown status above every other.
    Worst(Option<u8>),
}

type DepKey = (Option<SourceId>, String, Option<String>, bool, DepSet);

/// The cells of entries with dependencies, merged as they stream by.
struct DependencyCells<'a> {
    resolve: Option<Resolve<'a>>,
    /// Per key: the dependencies the cell lists, entries, bytes.
    cells: HashMap<DepKey, (Vec<SourceId>, u64, f64)>,
    uses: HashMap<SourceId, u64>,
}

impl<'a> DependencyCells<'a> {
    fn new(resolve: Option<Resolve<'a>>) -> Self {
        DependencyCells {
            resolve,
            cells: HashMap::new(),
            uses: HashMap::new(),
        }
    }

    fn add(&mut self, e: DependentEntry) {
        let (set, listed) = match self.resolve.as_mut() {
            None => (DepSet::All(e.dependencies.clone()), e.dependencies),
            Some(resolve) => {
                let mut worst: Option<(u8, SourceId)> = None;
                for id in e.dependencies {
                    *self.uses.entry(id).or_default() += 1;
                    let rank = (resolve.status)(id).map_or(u8::MAX, |s| s.rank() as u8);
                    if worst.is_none_or(|(w, _)| rank > w) {
                        worst = Some((rank, id));
                    }
                }
                (
                    DepSet::Worst(worst.map(|(w, _)| w)),
                    worst.map(|(_, id)| id).into_iter().collect(),
                )
            }
        };
        let key = (
            e.source_id,
            e.strategy,
            e.dimension,
            e.has_derivation_error,
            set,
        );
        let slot = self.cells.entry(key).or_insert_with(|| (listed, 0, 0.0));
        slot.1 += 1;
        slot.2 += e.bytes;
    }

    fn emit(self, visit: &mut impl FnMut(Cell)) {
        if let Some(resolve) = self.resolve {
            for (id, n) in self.uses {
                (resolve.dependency_uses)(id, n);
            }
        }
        for ((source_id, strategy, dimension, has_derivation_error, _), (deps, n, bytes)) in
            self.cells
        {
            visit(Cell {
                source_id,
                strategy,
                dimension,
                has_derivation_error,
                dependencies: deps,
                entries: n,
                bytes: bytes as u64,
            });
        }
    }
}
