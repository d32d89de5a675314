//! Aggregates: entries and bytes per source and strategy (the covering index), derivation
//! errors (the partial index), expiry.

use super::super::rows::{opt_int, opt_text, text};
use super::super::{Cell, Dimension, ErrorRow, Result, SourceId, Store};
use std::collections::HashMap;

const PAGE: i64 = 10_000;

/// Where each aggregate SELECT puts the columns of a [`Cell`]: [`cell_columns`] writes them in
/// this order and the one reader reads them by these names.
mod cell_col {
    pub const SOURCE_ID: usize = 0;
    pub const STRATEGY: usize = 1;
    pub const DIMENSION: usize = 2;
    pub const HAS_ERROR: usize = 3;
    pub const ENTRIES: usize = 4;
    pub const BYTES: usize = 5;
    /// The first column a query may add after the cell's own.
    pub const COUNT: usize = 6;
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

impl Store {
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
            use cell_col::*;
            Ok(Cell {
                source_id: opt_int(r, SOURCE_ID)?.map(SourceId),
                strategy: text(r, STRATEGY)?,
                dimension: opt_text(r, DIMENSION)?,
                has_derivation_error: r.get(HAS_ERROR)?,
                dependencies: Vec::new(),
                entries: r.get::<_, i64>(ENTRIES)? as u64,
                bytes: r.get::<_, f64>(BYTES)? as u64,
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
            "SELECT {} FROM entries e WHERE e.source_id IS NOT NULL{no_deps} GROUP BY {group}",
            cell_columns("e.source_id", dim, "0", "count(*)", "total(e.value_size)")
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
                "SELECT {} FROM entries e WHERE e.source_id IS NULL{no_deps} GROUP BY 2, 3, 4",
                cell_columns(
                    "NULL",
                    dim,
                    "e.derivation_error IS NOT NULL",
                    "count(*)",
                    "total(e.value_size)"
                )
            );
            for c in self.collect(&without_source, [], cell)? {
                visit(c);
            }
        }
        if !any_deps {
            return Ok(());
        }
        let sql = format!(
            "SELECT {}, e.id, \
             (SELECT group_concat(source_id) FROM entry_dependencies WHERE entry_id = e.id) \
             FROM entries e WHERE e.id IN (SELECT entry_id FROM entry_dependencies) AND e.id > ?1 \
             ORDER BY e.id LIMIT {PAGE}",
            cell_columns(
                "e.source_id",
                dim,
                "e.derivation_error IS NOT NULL",
                "1",
                "e.value_size"
            )
        );
        let mut after = i64::MIN;
        loop {
            let page = self.collect(&sql, [after], |r| {
                let mut c = cell(r)?;
                let deps: Option<String> = r.get(cell_col::COUNT + 1)?;
                c.dependencies = deps
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|s| s.parse().ok().map(SourceId))
                    .collect();
                Ok((r.get::<_, i64>(cell_col::COUNT)?, c))
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
