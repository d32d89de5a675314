//! Aggregates: entries and bytes per source and strategy (the covering index), derivation
//! errors (the partial index), expiry.

use super::super::rows::{int, opt_int, Int, Stored};
use super::super::{Cell, Dimension, ErrorRow, Result, SourceId, Store, StrategyCounts};
use super::cells::{MainCells, MainKey, NameId, Names};
use super::counts::strategy_counts;
use crate::status::Status;
use rusqlite::OptionalExtension;
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
    /// Whether the row's entries have a source (`source_id IS NOT NULL`).
    pub const SOURCED: usize = 6;
}

/// The select list of a cell, from the expressions of one query (the strategy is always
/// `e.strategy`).
fn cell_columns(source_id: &str, dim: &str, has_error: &str, entries: &str, bytes: &str) -> String {
    format!("{source_id}, e.strategy, {dim}, {has_error}, {entries}, {bytes}")
}

fn dimension_sql(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::None => "NULL",
        Dimension::Function => "e.function",
        Dimension::DerivationError => "e.derivation_error",
    }
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
    /// Streams aggregate cells: entry counts and bytes per (source, strategy[, dimension]), for
    /// when the sources' statuses are not known yet. An entry with a source then reads as
    /// unchecked whatever its dependencies, so they are not read; an entry without a source but
    /// with dependencies comes in a cell listing one, so it reads as unchecked too. Statuses
    /// need [`Store::aggregate_resolved`].
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
        self.aggregate_errors_with(Dimension::None, errors, None, visit)
    }

    /// [`Store::aggregate`] once every source's status is known: an entry whose dependencies
    /// change its status comes in a cell that lists only the dependency deciding it (the
    /// worst), one cell per own cell and worst status, so memory does not grow with the number
    /// of such entries. How many entries list each source as a dependency comes through
    /// `resolve.dependency_uses`. `status` is first called by the dependency pass, which runs
    /// beside the big aggregate, so the caller may still be verifying when it starts. `errors`
    /// (only without a dimension) as for [`Store::aggregate_then_errors`] (the store's own
    /// [`Store::derivation_errors`] without).
    pub fn aggregate_resolved(
        &self,
        dimension: Dimension,
        errors: Option<&mut dyn FnMut() -> Result<Vec<ErrorRow>>>,
        resolve: Resolve<'_>,
        visit: impl FnMut(Cell),
    ) -> Result<Option<Vec<ErrorRow>>> {
        match errors {
            Some(fetch) => self
                .aggregate_errors_with(dimension, fetch, Some(resolve), visit)
                .map(Some),
            None => self
                .aggregate_with(dimension, None, Some(resolve), visit)
                .map(|()| None),
        }
    }

    fn aggregate_errors_with(
        &self,
        dimension: Dimension,
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
            self.aggregate_with(dimension, Some(&mut fetch), resolve, visit)?;
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
        let any_deps = self.any_dependencies();
        // Every entry is counted by the main queries, those with dependency rows too (no
        // `NOT IN` exclusion: the big aggregate stays on the covering index alone, in its
        // order); the dependency pass then takes each entry with dependencies back out of the
        // cell it was counted in and into a cell with its dependencies. The two run at once,
        // the main queries on a second connection.
        // Without a dimension, entries without a source are counted per strategy, and the
        // failed ones among them come from the derivation errors when the caller wants those
        // (read on another connection meanwhile), else from their own query.
        let fast = (dimension == Dimension::None).then_some(errors.is_none());
        let (main, deps) = if any_deps {
            let other = self.reopen_read_only().ok();
            std::thread::scope(|scope| {
                let main =
                    other.map(|other| scope.spawn(move || other.main_cells(dimension, fast)));
                let mut deps = DependencyCells::new(resolve);
                let passed = self.dependency_pass(dimension, &mut deps);
                let main = match main {
                    Some(thread) => thread.join().expect("aggregate thread panicked"),
                    None => self.main_cells(dimension, fast),
                };
                passed.and(main).map(|main| (main, Some(deps)))
            })?
        } else {
            (self.main_cells(dimension, fast)?, None)
        };
        let mut cells = main.cells;
        if let Some(sourceless) = main.sourceless {
            // Without a source, an entry is failed with a derivation error, unverifiable without.
            // All the counts come from the covering index, the failed ones from the errors or
            // their own query (the partial index on derivation errors, where there is one).
            let mut failed: HashMap<String, (u64, u64)> = HashMap::new();
            match (sourceless.failed, errors) {
                (Some(rows), _) => {
                    for (strategy, n, bytes) in rows {
                        let slot = failed.entry(strategy).or_default();
                        slot.0 = slot.0.saturating_add(n);
                        slot.1 = slot.1.saturating_add(bytes);
                    }
                }
                (None, Some(fetch)) => {
                    for e in fetch()? {
                        let slot = failed.entry(e.strategy).or_default();
                        slot.0 = slot.0.saturating_add(e.sourceless);
                        slot.1 = slot.1.saturating_add(e.sourceless_bytes);
                    }
                }
                (None, None) => unreachable!("failed counts are queried without errors"),
            }
            for (strategy, n, bytes) in sourceless.totals {
                let (fn_, fb) = failed.get(strategy.as_str()).copied().unwrap_or((0, 0));
                for (has_error, entries, bytes) in [
                    (true, fn_, fb),
                    (false, n - fn_.min(n), bytes - fb.min(bytes)),
                ] {
                    if entries > 0 {
                        let key =
                            MainKey::new(false, None, cells.names.id(&strategy), None, has_error);
                        cells.push(key, entries, bytes as f64);
                    }
                }
            }
        }
        cells.merge();
        match deps {
            Some(deps) => {
                // Each entry with dependencies was counted in its main cell too.
                for (key, cell) in &deps.cells {
                    if let Some(main) = key.main.renamed(&deps.names, &cells.names) {
                        cells.take_back(&main, cell.entries, cell.bytes);
                    }
                }
                cells.emit(&mut visit);
                deps.emit(&mut visit);
            }
            None => cells.emit(&mut visit),
        }
        Ok(())
    }

    /// The main queries: every entry with a source, per (source, strategy[, dimension]), and
    /// every entry without, per (strategy[, dimension], error flag). With `fast` (no dimension),
    /// those without a source come as totals per strategy, to be split by the failed ones among
    /// them: queried here when `fast` is `Some(true)`, else from the derivation errors.
    fn main_cells(&self, dimension: Dimension, fast: Option<bool>) -> Result<MainQueried> {
        let dim = dimension_sql(dimension);
        let mut cells = MainCells::default();
        let mut read = |r: &rusqlite::Row| -> rusqlite::Result<()> {
            use cell_col::*;
            let key = MainKey::new(
                r.get(SOURCED)?,
                opt_int(r, SOURCE_ID)?.map(SourceId),
                cells.names.read(r, STRATEGY)?,
                cells.names.read_opt(r, DIMENSION)?,
                r.get(HAS_ERROR)?,
            );
            let entries = r.get::<_, i64>(ENTRIES)? as u64;
            cells.push(key, entries, r.get::<_, f64>(BYTES)?);
            Ok(())
        };
        // With a source, the derivation error does not matter to the status: this query reads
        // the covering index alone (and in its order, when there is no extra dimension).
        let group = if dimension == Dimension::None {
            "1, 2"
        } else {
            "1, 2, 3"
        };
        let with_source = format!(
            "SELECT {}, 1 FROM entries e WHERE e.source_id IS NOT NULL GROUP BY {group}",
            cell_columns("e.source_id", dim, "0", "count(*)", "total(e.value_size)")
        );
        self.for_each_row(&with_source, [], &mut read)?;
        if let Some(query_failed) = fast {
            let totals = "SELECT e.strategy, count(*), total(e.value_size) FROM entries e \
                 WHERE e.source_id IS NULL GROUP BY 1";
            let failed = if query_failed {
                Some(self.sourceless_failed()?)
            } else {
                None
            };
            return Ok(MainQueried {
                cells,
                sourceless: Some(Sourceless {
                    totals: self.collect(totals, [], strategy_counts)?,
                    failed,
                }),
            });
        }
        let without_source = format!(
            "SELECT {}, 0 FROM entries e WHERE e.source_id IS NULL GROUP BY 2, 3, 4",
            cell_columns(
                "NULL",
                dim,
                "e.derivation_error IS NOT NULL",
                "count(*)",
                "total(e.value_size)"
            )
        );
        self.for_each_row(&without_source, [], &mut read)?;
        Ok(MainQueried {
            cells,
            sourceless: None,
        })
    }

    /// Entries without a source but with a derivation error (failed), per strategy: from the
    /// partial index on derivation errors where the store has one (the planner, without
    /// statistics, would look each entry up in the table instead), else one table lookup per
    /// entry without a source.
    fn sourceless_failed(&self) -> Result<StrategyCounts> {
        let query = |hint: &str| {
            format!(
                "SELECT strategy, count(*), total(value_size) FROM entries{hint} \
                 WHERE derivation_error IS NOT NULL AND source_id IS NULL GROUP BY 1"
            )
        };
        if let Some(index) = &self.error_index {
            let hint = format!(" INDEXED BY \"{}\"", index.replace('"', "\"\""));
            if let Some(rows) = self.sourceless_failed_by_error(&hint)? {
                return Ok(rows);
            }
            // An index whose condition this query does not imply cannot serve it.
            if let Ok(rows) = self.collect(&query(&hint), [], strategy_counts) {
                return Ok(rows);
            }
        }
        self.collect(&query(""), [], strategy_counts)
    }

    /// [`Store::sourceless_failed`] on an index led by (strategy, derivation_error), as the
    /// format recommends, when few distinct errors fill it: the index holds the entries of one
    /// error with no source first, so each error is one hop to it and a read of just those
    /// entries, where a scan reads every entry with an error (3,000,000 at the benchmark's ten
    /// million). `None` when the index has another order or more than [`ERROR_HOPS`] errors.
    fn sourceless_failed_by_error(&self, hint: &str) -> Result<Option<StrategyCounts>> {
        const ERROR_HOPS: usize = 64;
        let has = "derivation_error IS NOT NULL";
        let next = |after: &str| {
            format!(
                "SELECT strategy, derivation_error FROM entries{hint} WHERE {has} \
                 AND strategy IS NOT NULL{after} ORDER BY strategy, derivation_error LIMIT 1"
            )
        };
        let first = next("");
        let after = next(" AND (strategy, derivation_error) > (?1, ?2)");
        let count = format!(
            "SELECT strategy, count(*), total(value_size) FROM entries{hint} WHERE {has} \
             AND strategy = ?1 AND derivation_error = ?2 AND source_id IS NULL"
        );
        let null_strategy = format!(
            "SELECT strategy, count(*), total(value_size) FROM entries{hint} WHERE {has} \
             AND strategy IS NULL AND source_id IS NULL"
        );
        // A hop is a seek only where the index gives this order itself (a collation other than
        // the column's, or other columns, would sort the whole index at every hop).
        let plan = |sql: &str| -> rusqlite::Result<bool> {
            let mut stmt = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let details: Vec<String> = stmt
                .query_map(["", ""], |r| r.get(3))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(details.iter().all(|d| !d.contains("TEMP B-TREE")))
        };
        // Read and bound again as stored (an error text need not be UTF-8).
        type Pair = (Stored, Stored);
        let run = || -> rusqlite::Result<Option<StrategyCounts>> {
            if !plan(&after)? {
                return Ok(None);
            }
            let mut rows: StrategyCounts = Vec::new();
            // One row per strategy, as the scan's GROUP BY gives (its errors summed).
            let mut counted = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
                let mut stmt = self.conn.prepare_cached(sql)?;
                let (strategy, n, bytes) = stmt.query_row(params, strategy_counts)?;
                match rows.iter_mut().find(|(s, _, _)| *s == strategy) {
                    _ if n == 0 => {}
                    Some(row) => {
                        row.1 = row.1.saturating_add(n);
                        row.2 = row.2.saturating_add(bytes);
                    }
                    None => rows.push((strategy, n, bytes)),
                }
                Ok::<_, rusqlite::Error>(())
            };
            counted(&null_strategy, &[])?;
            let pair = |r: &rusqlite::Row| -> rusqlite::Result<Pair> {
                Ok((Stored::read(r, 0)?, Stored::read(r, 1)?))
            };
            let mut at: Option<Pair> = self
                .conn
                .prepare_cached(&first)?
                .query_row([], pair)
                .optional()?;
            let mut hops = 0;
            while let Some((strategy, error)) = at {
                hops += 1;
                if hops > ERROR_HOPS {
                    return Ok(None);
                }
                counted(&count, &[&strategy, &error])?;
                at = self
                    .conn
                    .prepare_cached(&after)?
                    .query_row([&strategy, &error], pair)
                    .optional()?;
            }
            Ok(Some(rows))
        };
        // An index this cannot use (its condition, say) leaves the other forms to answer.
        Ok(run().unwrap_or(None))
    }

    /// Takes out of their main cells the entries whose dependencies can change the status that
    /// cell gives them, into cells with the dependency that decides.
    ///
    /// Statuses known: one pass over `entry_dependencies` in its primary key order (entry by
    /// entry), joined to nothing, finds each entry's worst dependency and counts each source's
    /// uses. A fresh dependency never changes a status, so only an entry whose worst dependency
    /// is not fresh is looked up by its rowid: reading the table row of every entry with
    /// dependencies cost more than the whole aggregate.
    ///
    /// Statuses unknown, the cells serve for counts and sizes; an entry with a source reads
    /// as unchecked whatever its dependencies. Only entries without a source would read as
    /// failed or unverifiable: those with dependencies are taken out, listing one, so they
    /// read as unchecked too.
    fn dependency_pass(&self, dimension: Dimension, cells: &mut DependencyCells) -> Result<()> {
        let lookup = format!(
            "SELECT e.source_id, e.strategy, {}, e.derivation_error IS NOT NULL, \
             e.source_id IS NOT NULL, coalesce(CAST(e.value_size AS REAL), 0) \
             FROM entries e WHERE e.id = ?1",
            dimension_sql(dimension)
        );
        let resolve = cells.resolve.take();
        let mut uses: HashMap<SourceId, u64> = HashMap::new();
        let mut run = |resolve: Option<&mut Resolve>| -> rusqlite::Result<()> {
            let mut lookup = self.conn.prepare_cached(&lookup)?;
            // `listed`: `None` for a dependency whose source id is not an integer; `malformed`:
            // some dependency's is not.
            let mut take = |entry_id: i64, set: DepSet, listed: Option<SourceId>, malformed| {
                let mut rows = lookup.query([entry_id])?;
                // An entry id without its entry: the row was never counted.
                if let Some(r) = rows.next()? {
                    let e = DependentEntry {
                        source_id: opt_int(r, 0)?.map(SourceId),
                        strategy: cells.names.read(r, 1)?,
                        dimension: cells.names.read_opt(r, 2)?,
                        has_derivation_error: r.get(3)?,
                        sourced: r.get(4)?,
                        bytes: r.get(5)?,
                    };
                    cells.add(e, set, listed, malformed);
                }
                Ok::<_, rusqlite::Error>(())
            };
            let Some(resolve) = resolve else {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT e.id, (SELECT min(d.source_id) FROM entry_dependencies d \
                     WHERE d.entry_id = e.id) AS dep FROM entries e \
                     WHERE e.source_id IS NULL AND dep IS NOT NULL",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let listed = opt_int(r, 1)?.map(SourceId);
                    take(r.get(0)?, DepSet::Unknown, listed, listed.is_none())?;
                }
                return Ok(());
            };
            let mut stmt = self.conn.prepare_cached(
                "SELECT entry_id, source_id FROM entry_dependencies ORDER BY entry_id",
            )?;
            let mut rows = stmt.query([])?;
            // The entry being read, its worst dependency so far: (rank, id), an unknown status
            // ranking above every other, a source id that is not an integer (no row can have
            // it) as missing; and whether any of its dependencies' ids is not an integer.
            type Worst = Option<(u8, Option<SourceId>)>;
            let mut current: Option<(i64, Worst, bool)> = None;
            let mut finish = |entry: Option<(i64, Worst, bool)>| match entry {
                Some((id, Some((rank, dep)), malformed)) if rank > Status::Fresh.rank() as u8 => {
                    take(id, DepSet::Worst(rank), dep, malformed)
                }
                _ => Ok(()),
            };
            while let Some(r) = rows.next()? {
                let entry_id: i64 = r.get(0)?;
                if current.is_some_and(|(id, _, _)| id != entry_id) {
                    finish(current.take())?;
                }
                let (_, worst, malformed) = current.get_or_insert((entry_id, None, false));
                let dep = match int(r, 1)? {
                    Int::Value(id) => Some(SourceId(id)),
                    Int::Bad => {
                        *malformed = true;
                        None
                    }
                    // NULL violates the column's NOT NULL: no dependency.
                    Int::Null => continue,
                };
                let rank = match dep {
                    Some(dep) => {
                        *uses.entry(dep).or_default() += 1;
                        (resolve.status)(dep).map_or(u8::MAX, |s| s.rank() as u8)
                    }
                    None => Status::Missing.rank() as u8,
                };
                if worst.is_none_or(|(w, _)| rank > w) {
                    *worst = Some((rank, dep));
                }
            }
            finish(current)
        };
        let mut resolve = resolve;
        let ran = run(resolve.as_mut());
        cells.resolve = resolve;
        cells.uses = uses;
        ran.map_err(|e| self.err(e))
    }
}

/// What the main queries found: cells (with whether their entries have a source, and their
/// bytes as summed), and with the fast form, the entries without a source.
struct MainQueried {
    cells: MainCells,
    sourceless: Option<Sourceless>,
}

/// Entries without a source, per strategy: (strategy, entries, bytes) of all of them, and of
/// the failed ones when queried.
struct Sourceless {
    totals: StrategyCounts,
    failed: Option<StrategyCounts>,
}

/// An entry whose dependencies decide its status, as the dependency pass reads it.
struct DependentEntry {
    source_id: Option<SourceId>,
    strategy: NameId,
    dimension: Option<NameId>,
    has_derivation_error: bool,
    /// `source_id IS NOT NULL` in SQL (a malformed id reads as no source but was counted with
    /// the sourced entries).
    sourced: bool,
    bytes: f64,
}

/// Which entries with dependencies share a cell (with the same own cell).
#[derive(PartialEq, Eq, Hash)]
enum DepSet {
    /// The worst rank among the dependencies, an unknown status above every other.
    Worst(u8),
    /// Statuses not known.
    Unknown,
}

/// A cell of entries with dependencies: the main cell they were counted in (and are taken
/// back out of), their own derivation-error flag, and their dependencies' worst status.
#[derive(PartialEq, Eq, Hash)]
struct DepKey {
    main: MainKey,
    has_derivation_error: bool,
    set: DepSet,
    /// Some dependency's source id is not an integer (kept apart, so that those entries are
    /// counted as such whichever dependency decides).
    malformed: bool,
}

struct DepCell {
    /// The dependency that decides the status (the first seen of the worst rank); `None`: a
    /// source id that is not an integer.
    listed: Option<SourceId>,
    entries: u64,
    bytes: f64,
}

/// The cells of entries with dependencies, merged as they stream by.
struct DependencyCells<'a> {
    resolve: Option<Resolve<'a>>,
    cells: HashMap<DepKey, DepCell>,
    uses: HashMap<SourceId, u64>,
    /// The names in the keys.
    names: Names,
}

impl<'a> DependencyCells<'a> {
    fn new(resolve: Option<Resolve<'a>>) -> Self {
        DependencyCells {
            resolve,
            cells: HashMap::new(),
            uses: HashMap::new(),
            names: Default::default(),
        }
    }

    fn add(&mut self, e: DependentEntry, set: DepSet, listed: Option<SourceId>, malformed: bool) {
        let key = DepKey {
            // With a source, the main query counts without the error flag.
            main: MainKey::new(
                e.sourced,
                e.source_id,
                e.strategy,
                e.dimension,
                !e.sourced && e.has_derivation_error,
            ),
            has_derivation_error: e.has_derivation_error,
            set,
            malformed,
        };
        let cell = self.cells.entry(key).or_insert(DepCell {
            listed,
            entries: 0,
            bytes: 0.0,
        });
        cell.entries += 1;
        cell.bytes += e.bytes;
    }

    fn emit(self, visit: &mut impl FnMut(Cell)) {
        if let Some(resolve) = self.resolve {
            for (id, n) in self.uses {
                (resolve.dependency_uses)(id, n);
            }
        }
        for (key, cell) in self.cells {
            visit(Cell {
                source_id: key.main.source_id(),
                strategy: self.names.get(key.main.strategy()).to_string(),
                dimension: key.main.dimension().map(|d| self.names.get(d).to_string()),
                has_derivation_error: key.has_derivation_error,
                dependencies: cell.listed.into_iter().collect(),
                malformed_source_id: key.malformed || key.main.malformed(),
                entries: cell.entries,
                // A negative total (sizes the format does not allow) reads as 0.
                bytes: cell.bytes as u64,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{NewEntry, Store};
    use super::StrategyCounts;

    /// Per strategy as text (how the aggregate merges them), sorted.
    fn sorted(rows: StrategyCounts) -> StrategyCounts {
        let mut merged: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for (s, n, b) in rows {
            let slot = merged.entry(s).or_default();
            slot.0 += n;
            slot.1 += b;
        }
        merged.into_iter().map(|(s, (n, b))| (s, n, b)).collect()
    }

    /// The failed entries without a source, counted by one scan of the whole error index.
    fn scanned(store: &Store) -> StrategyCounts {
        let index = store
            .error_index
            .clone()
            .expect("the recommended error index");
        let sql = format!(
            "SELECT strategy, count(*), total(value_size) FROM entries INDEXED BY \"{index}\" \
             WHERE derivation_error IS NOT NULL AND source_id IS NULL GROUP BY 1"
        );
        sorted(store.collect(&sql, [], super::strategy_counts).unwrap())
    }

    #[test]
    fn failed_entries_without_a_source_are_counted_by_error_as_by_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("cache.db")).unwrap();
        let file = dir.path().join("m.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let source = store.record_file(&file, None).unwrap();
        let mut n = 0;
        let mut put = |strategy: &str, error: Option<&str>, sourced: bool| {
            n += 1;
            let key = format!("k{n}");
            let value = vec![1u8; n % 7];
            store
                .put_entry(&NewEntry {
                    namespace: "data",
                    function: "m:f",
                    key: &key,
                    strategy,
                    derivation_error: error,
                    source_id: sourced.then_some(source),
                    value: Some(&value),
                    created_at: 1,
                    ..Default::default()
                })
                .unwrap();
        };
        for strategy in ["source", "bytecode", "name", "zzz"] {
            for error in [None, Some("TypeError: a"), Some("OSError: b"), Some("")] {
                for sourced in [false, true, false] {
                    put(strategy, error, sourced);
                }
            }
        }
        // A strategy written as a BLOB by a careless producer (for some entries of one strategy)
        // sorts after every text.
        store
            .conn
            .execute(
                "UPDATE entries SET strategy = CAST(strategy AS BLOB) WHERE strategy = 'zzz' AND id % 2 = 0",
                [],
            )
            .unwrap();
        // An error text that is not UTF-8 is read and bound again as it is.
        store
            .conn
            .execute(
                "INSERT INTO entries (namespace, function, key, strategy, derivation_error, \
                 value_size, created_at) VALUES ('data', 'm:f', 'bad-utf8', 'name', \
                 CAST(X'ff41' AS TEXT), 3, 1)",
                [],
            )
            .unwrap();
        let hint = format!(" INDEXED BY \"{}\"", store.error_index.clone().unwrap());
        let by_error = store.sourceless_failed_by_error(&hint).unwrap();
        assert_eq!(by_error.map(sorted), Some(scanned(&store)));
        assert!(!scanned(&store).is_empty());

        // Past the hops it gives up, and the count comes from the scan.
        for i in 0..70 {
            put("source", Some(&format!("E{i}")), i % 2 == 0);
        }
        assert_eq!(store.sourceless_failed_by_error(&hint).unwrap(), None);
        assert_eq!(sorted(store.sourceless_failed().unwrap()), scanned(&store));
    }

    #[test]
    fn an_error_index_in_another_order_is_not_hopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        drop(Store::create(&path).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX entries_derivation_error; \
             CREATE INDEX by_source_first ON entries (strategy, source_id, derivation_error, \
             value_size) WHERE derivation_error IS NOT NULL;",
        )
        .unwrap();
        drop(c);
        let store = Store::open(&path, &Default::default()).unwrap();
        assert_eq!(store.error_index.as_deref(), Some("by_source_first"));
        let hint = " INDEXED BY \"by_source_first\"";
        assert_eq!(store.sourceless_failed_by_error(hint).unwrap(), None);
        assert_eq!(sorted(store.sourceless_failed().unwrap()), scanned(&store));
    }
}
