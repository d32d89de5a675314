//! Read queries: referenced sources, aggregates for summaries and groupings, paged listings.
//!
//! Nothing here loads all entries or a value blob it does not show: counts and sizes are SQL
//! aggregates (over the covering index on `(source_id, strategy, value_size)` where the store
//! has it) and listings come a page at a time. Each call is one statement or one short batch, so
//! no read transaction outlives it and a producer's WAL checkpoints are never held back.

use super::rows::{EntryDetail, EntryRow, SourceRow, ENTRY_COLUMNS, SOURCE_COLUMNS};
use super::{Result, Store};
use crate::status::Status;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, OptionalExtension, ToSql};
use std::collections::HashMap;
use std::rc::Rc;

/// Rank of a source that verification has not seen (written after it ran): never selected.
const UNKNOWN_RANK: i64 = 99;
const PAGE: i64 = 10_000;

/// Which entries to look at. Empty fields select everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFilter {
    pub strategies: Vec<String>,
    /// Needs verification results loaded with [`Store::load_source_statuses`].
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
    pub ids: Option<Vec<i64>>,
}

/// Columns a listing can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Id,
    Function,
    Status,
    Size,
    Created,
    Hits,
    Key,
    Strategy,
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
    pub source_id: Option<i64>,
    pub strategy: String,
    pub dimension: Option<String>,
    pub has_derivation_error: bool,
    pub dependencies: Vec<i64>,
    pub entries: u64,
    pub bytes: u64,
}

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

impl Store {
    /// Every source row that an entry or a dependency references (content snapshots left out).
    pub fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        // One index probe per source row: scales with sources, not with entries.
        let deps = if self.has_dependencies {
            " OR EXISTS (SELECT 1 FROM entry_dependencies d WHERE d.source_id = s.id)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM sources s WHERE EXISTS \
             (SELECT 1 FROM entries e WHERE e.source_id = s.id){deps} ORDER BY id"
        );
        self.collect(&sql, [], SourceRow::from_row)
    }

    /// Source ids that entries or dependency rows reference but the sources table lacks (a
    /// producer's bug, or hand-edited stores): their fingerprint source is gone.
    pub fn dangling_source_ids(&self) -> Result<Vec<i64>> {
        let deps = if self.has_dependencies {
            " UNION SELECT source_id FROM entry_dependencies WHERE source_id NOT IN (SELECT id FROM sources)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT DISTINCT source_id FROM entries \
             WHERE source_id IS NOT NULL AND source_id NOT IN (SELECT id FROM sources){deps}"
        );
        self.collect(&sql, [], |r| r.get(0))
    }

    /// Loads per-source verification statuses into a temporary table of this connection, so
    /// status filters, sorting and purges can be evaluated in SQL against current rows.
    pub fn load_source_statuses(
        &self,
        statuses: impl IntoIterator<Item = (i64, Status)>,
    ) -> Result<()> {
        let run = || -> rusqlite::Result<()> {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS cs_rank (id INTEGER PRIMARY KEY, rank INTEGER NOT NULL);
                 DELETE FROM temp.cs_rank;",
            )?;
            let tx = self.conn.unchecked_transaction()?;
            {
                let mut ins =
                    tx.prepare("INSERT OR REPLACE INTO temp.cs_rank (id, rank) VALUES (?1, ?2)")?;
                for (id, status) in statuses {
                    ins.execute([id, status.rank()])?;
                }
            }
            tx.commit()
        };
        run().map_err(|e| self.err(e))?;
        self.ranks_loaded.set(true);
        Ok(())
    }

    /// The SQL expression for an entry's status rank (alias `e`), from the loaded statuses.
    pub(crate) fn rank_sql(&self) -> String {
        let own = format!(
            "CASE WHEN e.source_id IS NULL THEN (CASE WHEN e.derivation_error IS NULL THEN {} ELSE {} END) \
             ELSE coalesce((SELECT rank FROM temp.cs_rank WHERE id = e.source_id), {UNKNOWN_RANK}) END",
            Status::Unverifiable.rank(),
            Status::Failed.rank()
        );
        if self.has_dependencies {
            format!(
                "max({own}, coalesce((SELECT max(coalesce(r.rank, {UNKNOWN_RANK})) FROM entry_dependencies d \
                 LEFT JOIN temp.cs_rank r ON r.id = d.source_id WHERE d.entry_id = e.id), 0))"
            )
        } else {
            own
        }
    }

    /// SQL that is true when an entry's status is one of `statuses`.
    fn status_in_sql(&self, statuses: &[Status]) -> String {
        let ranks: Vec<String> = statuses.iter().map(|s| s.rank().to_string()).collect();
        let ranks = ranks.join(", ");
        if self.any_dependencies() {
            return format!("{} IN ({ranks})", self.rank_sql());
        }
        // Without dependency rows an entry's status is its own source's: a set membership
        // SQLite computes once, instead of a lookup per entry.
        format!(
            "(CASE WHEN e.source_id IS NULL \
               THEN (CASE WHEN e.derivation_error IS NULL THEN {} ELSE {} END) IN ({ranks}) \
               ELSE e.source_id IN (SELECT id FROM temp.cs_rank WHERE rank IN ({ranks})) END)",
            Status::Unverifiable.rank(),
            Status::Failed.rank()
        )
    }

    /// Whether any entry has dependency rows right now (one index probe).
    pub(crate) fn any_dependencies(&self) -> bool {
        self.has_dependencies
            && self
                .conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM entry_dependencies)",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(true)
    }

    /// Builds the WHERE clause (over alias `e`) and its parameters for a filter.
    pub(crate) fn where_clause(&self, f: &EntryFilter) -> (String, Vec<Box<dyn ToSql>>) {
        let mut terms: Vec<String> = Vec::new();
        let mut params: Vec<Box<dyn ToSql>> = Vec::new();
        if !f.strategies.is_empty() {
            terms.push(format!(
                "e.strategy IN ({})",
                placeholders(f.strategies.len())
            ));
            params.extend(
                f.strategies
                    .iter()
                    .map(|s| Box::new(s.clone()) as Box<dyn ToSql>),
            );
        }
        let status_term = (!f.statuses.is_empty()).then(|| self.status_in_sql(&f.statuses));
        match (status_term, f.or_expired_at) {
            (Some(st), Some(now)) => {
                terms.push(format!("({st} OR e.expires_at <= ?)"));
                params.push(Box::new(now));
            }
            (Some(st), None) => terms.push(st),
            (None, Some(now)) => {
                terms.push("e.expires_at <= ?".into());
                params.push(Box::new(now));
            }
            (None, None) => {}
        }
        if let Some(now) = f.expired_at {
            terms.push("e.expires_at <= ?".into());
            params.push(Box::new(now));
        }
        if let Some(g) = &f.function_glob {
            terms.push("e.function GLOB ?".into());
            params.push(Box::new(g.clone()));
        }
        if let Some(func) = &f.function {
            terms.push("e.function = ?".into());
            params.push(Box::new(func.clone()));
        }
        if let Some(t) = f.created_before {
            terms.push("e.created_at < ?".into());
            params.push(Box::new(t));
        }
        match &f.source_path {
            Some(Some(p)) => {
                terms.push("e.source_id IN (SELECT id FROM sources WHERE path = ?)".into());
                params.push(Box::new(p.clone()));
            }
            Some(None) => terms.push("e.source_id IS NULL".into()),
            None => {}
        }
        match &f.derivation_error {
            Some(Some(err)) => {
                terms.push("e.derivation_error = ?".into());
                params.push(Box::new(err.clone()));
            }
            Some(None) => terms.push("e.derivation_error IS NULL".into()),
            None => {}
        }
        if let Some(text) = f.text.as_deref().filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", escape_like(text));
            terms.push(
                "(e.function LIKE ?1x ESCAPE '\\' OR e.key LIKE ?1x ESCAPE '\\' \
                 OR e.derivation_error LIKE ?1x ESCAPE '\\' \
                 OR e.source_id IN (SELECT id FROM sources WHERE path LIKE ?1x ESCAPE '\\'))"
                    .replace("?1x", "?"),
            );
            params.extend((0..4).map(|_| Box::new(pattern.clone()) as Box<dyn ToSql>));
        }
        if let Some(ids) = &f.ids {
            terms.push("e.id IN rarray(?)".into());
            let ids: Vec<Value> = ids.iter().copied().map(Value::Integer).collect();
            params.push(Box::new(Rc::new(ids)));
        }
        let sql = if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        };
        (sql, params)
    }

    /// Entry ids matching `filter`, in the given order. Eight bytes an entry: a million-entry
    /// group costs 8 MB, and any page of it can then be fetched at once.
    pub fn entry_ids(
        &self,
        filter: &EntryFilter,
        sort: SortKey,
        descending: bool,
    ) -> Result<Vec<i64>> {
        let (clause, params) = self.where_clause(filter);
        let dir = if descending { "DESC" } else { "ASC" };
        let order = match sort {
            SortKey::Id => String::new(),
            SortKey::Function => "e.function".into(),
            SortKey::Status if self.ranks_loaded.get() => self.rank_sql(),
            SortKey::Status => String::new(),
            SortKey::Size => "e.value_size".into(),
            SortKey::Created => "e.created_at".into(),
            SortKey::Hits => "e.hits".into(),
            SortKey::Key => "e.key".into(),
            SortKey::Strategy => "e.strategy".into(),
        };
        let order = if order.is_empty() {
            format!("e.id {dir}")
        } else {
            format!("{order} {dir}, e.id {dir}")
        };
        let sql = format!("SELECT e.id FROM entries e{clause} ORDER BY {order}");
        self.collect(&sql, params_from_iter(params), |r| r.get(0))
    }

    /// The ids matching `filter`, ascending, found through indexes when it selects by status:
    /// an entry can only have a selected status when its own source has it, when it has no
    /// source, or when a dependency has it, so only those entries are tested with the full
    /// condition, not every entry of the store. With `exact` false the status condition is
    /// left to the caller (a purge re-checks it in each batch): a superset comes back.
    pub fn matching_ids(&self, filter: &EntryFilter, exact: bool) -> Result<Vec<i64>> {
        if filter.statuses.is_empty() || !self.ranks_loaded.get() {
            return self.entry_ids(filter, SortKey::Id, false);
        }
        let ranks: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| s.rank().to_string())
            .collect();
        let selected = format!(
            "(SELECT id FROM temp.cs_rank WHERE rank IN ({}))",
            ranks.join(", ")
        );
        let mut narrowings = vec![
            format!("e.source_id IN {selected}"),
            "e.source_id IS NULL".to_string(),
        ];
        if self.has_dependencies {
            narrowings.push(format!(
                "e.id IN (SELECT entry_id FROM entry_dependencies WHERE source_id IN {selected})"
            ));
        }
        if filter.or_expired_at.is_some() {
            narrowings.push("e.expires_at <= ?".into());
        }
        let rest = if exact {
            filter.clone()
        } else {
            EntryFilter {
                statuses: Vec::new(),
                or_expired_at: None,
                ..filter.clone()
            }
        };
        let (clause, _) = self.where_clause(&rest);
        let mut ids = Vec::new();
        for narrowing in narrowings {
            let (_, mut params) = self.where_clause(&rest);
            if narrowing.contains('?') {
                params.insert(0, Box::new(filter.or_expired_at));
            }
            let sql = match clause.strip_prefix(" WHERE ") {
                Some(rest) => format!("SELECT e.id FROM entries e WHERE {narrowing} AND {rest}"),
                None => format!("SELECT e.id FROM entries e WHERE {narrowing}"),
            };
            ids.extend(self.collect(&sql, params_from_iter(params), |r| r.get::<_, i64>(0))?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Counts entries and their bytes matching `filter`.
    pub fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        let (clause, params) = self.where_clause(filter);
        let sql = format!("SELECT count(*), total(e.value_size) FROM entries e{clause}");
        let rows = self.collect(&sql, params_from_iter(params), |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, f64>(1)? as u64))
        })?;
        Ok(rows.into_iter().next().unwrap_or((0, 0)))
    }

    /// The rows for `ids`, in that order (ids that no longer exist are left out).
    pub fn entries_by_ids(&self, ids: &[i64]) -> Result<Vec<EntryRow>> {
        let filter = EntryFilter {
            ids: Some(ids.to_vec()),
            ..Default::default()
        };
        let mut rows = self.entries_page(&filter, None, ids.len().max(1) as i64)?;
        let pos: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|r| pos.get(&r.id).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// One page of entries in id order, starting after `after_id`: keyset paging, so a listing
    /// of a million entries never re-reads what it already printed.
    pub fn entries_page(
        &self,
        filter: &EntryFilter,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EntryRow>> {
        let (mut clause, mut params) = self.where_clause(filter);
        if let Some(after) = after_id {
            clause = if clause.is_empty() {
                " WHERE e.id > ?".to_string()
            } else {
                format!("{clause} AND e.id > ?")
            };
            params.push(Box::new(after));
        }
        let status = if self.ranks_loaded.get() {
            self.rank_sql()
        } else {
            "NULL".into()
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, {status} FROM entries e{clause} ORDER BY e.id LIMIT {limit}"
        );
        self.collect(&sql, params_from_iter(params), |r| {
            let mut row = EntryRow::from_row(r)?;
            row.status = r.get::<_, Option<i64>>(14)?.and_then(Status::from_rank);
            Ok(row)
        })
    }

    /// Streams aggregate cells: entry counts and bytes per (source, strategy[, dimension]).
    /// Entries with dependency rows come one cell each, with their dependency ids, paged.
    pub fn aggregate(&self, dimension: Dimension, visit: impl FnMut(Cell)) -> Result<()> {
        self.aggregate_with(dimension, None, visit)
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
        let mut errors = Some(errors);
        let mut got = None;
        {
            let mut fetch = || -> Result<Vec<ErrorRow>> {
                let e = (errors.take().expect("errors fetched once"))()?;
                got = Some(e.clone());
                Ok(e)
            };
            self.aggregate_with(Dimension::None, Some(&mut fetch), visit)?;
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
        mut visit: impl FnMut(Cell),
    ) -> Result<()> {
        let dim = match dimension {
            Dimension::None => "NULL",
            Dimension::Function => "e.function",
            Dimension::DerivationError => "e.derivation_error",
        };
        let any_deps = self.any_dependencies();
        // Entries with dependency rows are counted one by one below; skipping the exclusion
        // when there are none keeps the big aggregate on the covering index alone.
        let no_deps = if any_deps {
            " AND e.id NOT IN (SELECT entry_id FROM entry_dependencies)"
        } else {
            ""
        };
        let cell = |r: &rusqlite::Row| -> rusqlite::Result<Cell> {
            Ok(Cell {
                source_id: r.get(0)?,
                strategy: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                dimension: r.get(2)?,
                has_derivation_error: r.get(3)?,
                dependencies: Vec::new(),
                entries: r.get::<_, i64>(4)? as u64,
                bytes: r.get::<_, f64>(5)? as u64,
            })
        };
        // With a source, the derivation error does not matter to the status: this query reads
        // the covering index alone (and in its order, when there is no extra dimension).
        let group = if dimension == Dimension::None {
            "1, 2"
        } else {
            "1, 2, 3"
        };
        let with_source = format!(
            "SELECT e.source_id, e.strategy, {dim}, 0, count(*), total(e.value_size) FROM entries e \
             WHERE e.source_id IS NOT NULL{no_deps} GROUP BY {group}"
        );
        for c in self.collect(&with_source, [], cell)? {
            visit(c);
        }
        if dimension == Dimension::None && !any_deps {
            // Without a source, an entry is failed with a derivation error, unverifiable without.
            // Both counts come from indexes: all of them from the covering index, the failed ones
            // from the partial index on derivation errors.
            let totals = "SELECT e.strategy, count(*), total(e.value_size) FROM entries e \
                 WHERE e.source_id IS NULL GROUP BY 1";
            let errors = match errors {
                Some(fetch) => fetch()?,
                None => self.derivation_errors()?,
            };
            let mut failed: HashMap<&str, (u64, u64)> = HashMap::new();
            for e in &errors {
                let slot = failed.entry(e.strategy.as_str()).or_default();
                slot.0 += e.sourceless;
                slot.1 += e.sourceless_bytes;
            }
            let counts = |r: &rusqlite::Row| {
                Ok((
                    r.get::<_, String>(0)?,
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
                        visit(Cell {
                            source_id: None,
                            strategy: strategy.clone(),
                            dimension: None,
                            has_derivation_error: has_error,
                            dependencies: Vec::new(),
                            entries,
                            bytes,
                        });
                    }
                }
            }
        } else {
            let without_source = format!(
                "SELECT NULL, e.strategy, {dim}, e.derivation_error IS NOT NULL, count(*), total(e.value_size) \
                 FROM entries e WHERE e.source_id IS NULL{no_deps} GROUP BY 2, 3, 4"
            );
            for c in self.collect(&without_source, [], cell)? {
                visit(c);
            }
        }
        if !any_deps {
            return Ok(());
        }
        let sql = format!(
            "SELECT e.source_id, e.strategy, {dim}, e.derivation_error IS NOT NULL, 1, e.value_size, e.id, \
             (SELECT group_concat(source_id) FROM entry_dependencies WHERE entry_id = e.id) \
             FROM entries e WHERE e.id IN (SELECT entry_id FROM entry_dependencies) AND e.id > ?1 \
             ORDER BY e.id LIMIT {PAGE}"
        );
        let mut after = i64::MIN;
        loop {
            let page = self.collect(&sql, [after], |r| {
                let mut c = cell(r)?;
                let deps: Option<String> = r.get(7)?;
                c.dependencies = deps
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok())
                    .collect();
                Ok((r.get::<_, i64>(6)?, c))
            })?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            let done = (page.len() as i64) < PAGE;
            page.into_iter().for_each(|(_, c)| visit(c));
            if done {
                break;
            }
        }
        Ok(())
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
                    strategy: r.get(0)?,
                    error: r.get(1)?,
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
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, f64>(2)? as u64)),
        )
    }

    /// One entry with its source, dependencies and the first `preview` bytes of its value.
    pub fn entry_detail(&self, id: i64, preview: usize) -> Result<Option<EntryDetail>> {
        let filter = EntryFilter {
            ids: Some(vec![id]),
            ..Default::default()
        };
        let Some(entry) = self.entries_page(&filter, None, 1)?.into_iter().next() else {
            return Ok(None);
        };
        let source = match entry.source_id {
            Some(sid) => self.source(sid)?,
            None => None,
        };
        let source_content = match entry.source_id {
            Some(sid) => self
                .conn
                .query_row("SELECT content FROM sources WHERE id = ?1", [sid], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| self.err(e))?
                .flatten(),
            None => None,
        };
        let dependencies = if self.has_dependencies {
            let sql = format!(
                "SELECT {SOURCE_COLUMNS} FROM sources WHERE id IN \
                 (SELECT source_id FROM entry_dependencies WHERE entry_id = ?1) ORDER BY id"
            );
            self.collect(&sql, [id], SourceRow::from_row)?
        } else {
            Vec::new()
        };
        let value_head = self
            .conn
            .query_row(
                "SELECT CASE WHEN value IS NULL THEN NULL ELSE substr(CAST(value AS BLOB), 1, ?2) END \
                 FROM entries WHERE id = ?1",
                [id, preview as i64],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        Ok(Some(EntryDetail {
            entry,
            source,
            source_content,
            dependencies,
            value_head,
        }))
    }

    /// One source row by id.
    pub fn source(&self, id: i64) -> Result<Option<SourceRow>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1");
        Ok(self
            .collect(&sql, [id], SourceRow::from_row)?
            .into_iter()
            .next())
    }

    /// The meta table, as key/value pairs.
    pub fn meta(&self) -> Result<Vec<(String, String)>> {
        self.collect("SELECT key, value FROM meta ORDER BY key", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    pub(crate) fn collect<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let run = || -> rusqlite::Result<Vec<T>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params, map)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
