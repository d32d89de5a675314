//! Purge: the only write cachescope makes.
//!
//! Race-safety comes from two things. Source rows are immutable, so a producer that rewrites an
//! entry gives it a new `source_id`; and every batch deletes by the full selection condition,
//! re-evaluated inside its own IMMEDIATE transaction against the rows as they are then. An entry
//! rewritten meanwhile no longer matches (its new source is unknown to the verification, which
//! ranks it as never selected) and survives.

use super::rows::{int_or, opt_int, text};
use super::{
    EntryFilter, EntryId, IdSet, PurgeOutcome, PurgePlan, PurgeProgress, Result, Store, StoreError,
};
use rusqlite::types::Value;
use rusqlite::ToSql;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// (strategy, entries, bytes)
type StrategyTally = (String, u64, u64);

/// Keep each write transaction about this short, so a producer is never blocked for long.
/// Shorter batches cost throughput: each batch rewrites pages of every secondary index, and at
/// 100 ms a million-entry purge wrote about three times what one big DELETE does.
const BATCH_TARGET: Duration = Duration::from_millis(100);
const MIN_BATCH: usize = 500;
const MAX_BATCH: usize = 100_000;
/// Page cache for a purge, in KiB (negative: SQLite's unit for a size in KiB).
const PURGE_CACHE_KIB: i64 = -32_768;
/// An unreferenced source row younger than this may be a producer's, about to get its entry.
const ORPHAN_AGE: Duration = Duration::from_secs(60);
/// Checkpoint the WAL when it holds this many pages (16 MiB at 4 KiB pages), so a long purge
/// keeps it bounded instead of growing it past the database's size.
const PURGE_WAL_PAGES: i64 = 4096;
/// Between batches the write lock is left free at least this long, so a producer waiting in
/// SQLite's busy handler (which sleeps up to 100 ms between tries) takes it. The next batch is
/// picked meanwhile.
const BATCH_GAP: Duration = Duration::from_millis(25);

impl Store {
    /// Removes (or counts, on a dry run) the entries `plan` selects, then the source rows they
    /// leave unreferenced. Status filters need [`Store::load_source_statuses`] first.
    pub fn purge(
        &self,
        plan: &PurgePlan,
        mut progress: impl FnMut(PurgeProgress),
    ) -> Result<PurgeOutcome> {
        let mut outcome = PurgeOutcome {
            dry_run: plan.dry_run,
            ..Default::default()
        };
        self.check_same_file()?;
        if plan.dry_run {
            let ids = self.checked_then(|| self.matching_id_set(&plan.filter, true))?;
            self.count_removal(&ids, &mut outcome)?;
            return Ok(outcome);
        }
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        self.tune_for_purge().map_err(|e| self.err(e))?;
        // Candidates only need narrowing here: each batch re-checks the full condition.
        let candidates = self.checked_then(|| self.matching_id_set(&plan.filter, false))?;
        let total = candidates.len();
        let mut remaining = candidates.iter();
        progress(PurgeProgress { done: 0, total });

        let mut touched_sources = BTreeSet::new();
        let mut batch = MIN_BATCH * 4;
        let mut done = 0u64;
        let mut last_commit: Option<Instant> = None;
        loop {
            let chunk: Vec<EntryId> = remaining.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            if plan.cancelled() {
                outcome.interrupted = Some(StoreError::Cancelled {
                    path: self.path.clone(),
                });
                return Ok(outcome);
            }
            let chunk = chunk.as_slice();
            // The batch is picked by the full condition without the lock, while a producer may
            // write; under the lock it is picked again only if another connection committed
            // since (`data_version`), so on a quiet store nothing is evaluated twice.
            let picked = self
                .data_version()
                .and_then(|version| Ok((version, self.pick_batch(&plan.filter, chunk)?)));
            if let Some(at) = last_commit {
                std::thread::sleep(BATCH_GAP.saturating_sub(at.elapsed()));
            }
            let started = Instant::now();
            let deleted = picked.and_then(|(version, picked)| {
                self.write(|_| {
                    let picked = if self.data_version()? == version {
                        picked
                    } else {
                        self.pick_batch(&plan.filter, chunk)?
                    };
                    self.delete_picked(&picked)?;
                    Ok(picked)
                })
            });
            last_commit = Some(Instant::now());
            match deleted {
                Ok(picked) => {
                    touched_sources.extend(picked.sources);
                    for (strategy, bytes) in picked.removed {
                        outcome.add(strategy, 1, bytes);
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(e) => {
                    outcome.interrupted = Some(e);
                    return Ok(outcome);
                }
            }
            done += chunk.len() as u64;
            progress(PurgeProgress { done, total });
            batch = next_batch_size(batch, started.elapsed());
        }
        match self.delete_orphan_sources(touched_sources) {
            Ok(n) => outcome.sources_removed = n,
            Err(e) => outcome.interrupted = Some(e),
        }
        if outcome.interrupted.is_none() {
            // Source rows an earlier purge left unreferenced (killed after its last batch).
            match self.delete_unreferenced_sources() {
                Ok(n) => outcome.sources_removed += n,
                Err(e) => outcome.interrupted = Some(e),
            }
        }
        // PASSIVE: never takes the write lock from a producer (TRUNCATE would hold it while
        // copying). The WAL stays at most about [`PURGE_WAL_PAGES`] plus one batch.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        Ok(outcome)
    }

    /// `PRAGMA quick_check`: a purge or dry run on a damaged store would write into (or count
    /// from) pages that are wrong, so it stops with how to recover instead.
    pub fn check_integrity(&self) -> Result<()> {
        let mut problems: Vec<String> = Vec::new();
        let res = (|| -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare("PRAGMA quick_check(3)")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                problems.push(text(r, 0)?);
            }
            Ok(())
        })();
        if let Err(e) = res {
            match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                    problems = vec![e.to_string()]
                }
                _ => return Err(self.err(e)),
            }
        }
        if problems.len() == 1 && problems[0] == "ok" {
            return Ok(());
        }
        Err(StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!(
                "integrity check failed ({}); nothing was removed. Recover the rows into a new \
                 store with: sqlite3 {} .recover | sqlite3 fixed.db",
                problems.join("; "),
                crate::text::escape(&self.path.display().to_string())
            ),
        })
    }

    /// Runs `work` (reads only) while [`Store::check_integrity`] runs on a second connection,
    /// and returns its result only if the check passed: the check reads every page, and
    /// the two together take little more than the longer of them.
    fn checked_then<T: Send>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let Ok(other) = self.reopen_read_only() else {
            self.check_integrity()?;
            return work();
        };
        std::thread::scope(|scope| {
            let check = scope.spawn(move || other.check_integrity());
            let result = work();
            check.join().expect("integrity check thread panicked")?;
            result
        })
    }

    /// Connection settings for a purge (this connection only; nothing persists in the file).
    /// Each batch touches pages all over the secondary indexes, so: a bigger page cache than
    /// the 2 MB default; a WAL checkpoint every [`PURGE_WAL_PAGES`] rather than every 1000
    /// pages, which would copy those pages into the database again and again; and no fsync per batch (synchronous=NORMAL in WAL mode),
    /// since a purge commit lost to a power cut only brings back entries that were stale.
    fn tune_for_purge(&self) -> rusqlite::Result<()> {
        self.conn
            .pragma_update(None, "cache_size", PURGE_CACHE_KIB)?;
        // The purge deletes dependency rows itself and only sources nothing references, so the
        // per-row foreign-key work (the bundled SQLite enforces them by default) adds nothing.
        self.conn.pragma_update(None, "foreign_keys", false)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
            // A PASSIVE checkpoint after the commit that passes this many pages: the WAL stays
            // bounded, and rarely enough that pages are not copied again and again.
            self.conn
                .pragma_update(None, "wal_autocheckpoint", PURGE_WAL_PAGES)?;
        }
        Ok(())
    }

    /// Fills a dry run's outcome: what removing `ids` would remove, entries and the source rows
    /// that would be left unreferenced, counted the way a real purge removes them.
    fn count_removal(&self, ids: &IdSet, outcome: &mut PurgeOutcome) -> Result<()> {
        let run = || -> rusqlite::Result<(Vec<StrategyTally>, u64)> {
            self.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS cs_gone (id INTEGER PRIMARY KEY); DELETE FROM temp.cs_gone;",
            )?;
            let mut ids = ids.iter().peekable();
            while ids.peek().is_some() {
                let chunk: Rc<Vec<Value>> = Rc::new(
                    ids.by_ref()
                        .take(MAX_BATCH)
                        .map(|id| Value::Integer(id.0))
                        .collect(),
                );
                self.conn.execute(
                    "INSERT INTO temp.cs_gone (id) SELECT value FROM rarray(?1)",
                    [&chunk as &dyn ToSql],
                )?;
            }
            let mut by_strategy = self.conn.prepare(
                "SELECT strategy, count(*), total(max(value_size, 0)) FROM entries WHERE id IN temp.cs_gone GROUP BY 1",
            )?;
            let tallies = by_strategy
                .query_map([], |r| {
                    Ok((
                        text(r, 0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, f64>(2)? as u64,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (dep_sources, dep_users) = if self.has_dependencies {
                (
                    " UNION SELECT source_id FROM entry_dependencies WHERE entry_id IN temp.cs_gone",
                    // A set built once: a probe per source would scan the table without the
                    // optional index on source_id.
                    " AND s.id NOT IN (SELECT source_id FROM entry_dependencies \
                       WHERE source_id IS NOT NULL AND entry_id NOT IN temp.cs_gone)",
                )
            } else {
                ("", "")
            };
            // The rows the removed entries leave unreferenced, and those nothing referenced
            // before, which a purge removes too once they are old enough (see
            // `delete_unreferenced_sources`).
            let orphans: i64 = self.conn.query_row(
                &format!(
                    "SELECT count(*) FROM sources s WHERE (s.id IN \
                     (SELECT source_id FROM entries WHERE id IN temp.cs_gone{dep_sources}) \
                     OR s.recorded_at < ?1) \
                     AND NOT EXISTS (SELECT 1 FROM entries e \
                       WHERE e.source_id = s.id AND e.id NOT IN temp.cs_gone){dep_users}"
                ),
                [orphan_before()],
                |r| r.get(0),
            )?;
            self.conn.execute_batch("DELETE FROM temp.cs_gone")?;
            Ok((tallies, orphans as u64))
        };
        let (tallies, orphans) = run().map_err(|e| self.err(e))?;
        for (strategy, n, bytes) in tallies {
            outcome.add(strategy, n, bytes);
        }
        outcome.sources_removed = orphans;
        Ok(())
    }

    /// The entries of `ids` that match `filter` now, with what their removal reports and the
    /// source rows (own and dependencies) it may leave unreferenced.
    fn pick_batch(&self, filter: &EntryFilter, ids: &[EntryId]) -> Result<Picked> {
        let scoped = EntryFilter {
            ids: Some(ids.to_vec()),
            ..filter.clone()
        };
        // Built at each pick: the clause depends on whether dependency rows exist.
        let (clause, params) = self.where_clause(&scoped);
        let run = || -> rusqlite::Result<Picked> {
            let mut picked = Picked::default();
            let mut found = Vec::with_capacity(ids.len());
            {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT e.id, e.strategy, e.value_size, e.source_id FROM entries e{clause}"
                ))?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                while let Some(r) = rows.next()? {
                    found.push(Value::Integer(r.get(0)?));
                    picked
                        .removed
                        .push((text(r, 1)?, int_or(r, 2, 0)?.max(0) as u64));
                    picked.sources.extend(opt_int(r, 3)?);
                }
            }
            picked.ids = Rc::new(found);
            if self.has_dependencies && !picked.ids.is_empty() {
                let mut deps = self.conn.prepare_cached(
                    "SELECT source_id FROM entry_dependencies WHERE entry_id IN rarray(?1)",
                )?;
                let mut rows = deps.query([&picked.ids as &dyn ToSql])?;
                while let Some(r) = rows.next()? {
                    picked.sources.extend(opt_int(r, 0)?);
                }
            }
            Ok(picked)
        };
        run().map_err(|e| self.err(e))
    }

    /// Deletes the picked entries and their dependency rows; in the caller's IMMEDIATE
    /// transaction, where no producer can write, so they match at delete time.
    fn delete_picked(&self, picked: &Picked) -> Result<()> {
        if picked.ids.is_empty() {
            return Ok(());
        }
        let ids = &picked.ids as &dyn ToSql;
        let run = || -> rusqlite::Result<()> {
            if self.has_dependencies {
                self.conn
                    .prepare_cached("DELETE FROM entry_dependencies WHERE entry_id IN rarray(?1)")?
                    .execute([ids])?;
            }
            self.conn
                .prepare_cached("DELETE FROM entries WHERE id IN rarray(?1)")?
                .execute([ids])?;
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// Deletes every source row that no entry and no dependency references and that was
    /// recorded before [`ORPHAN_AGE`] ago (a producer that writes a source row and its entry in
    /// two transactions is not raced). They are found by a read, which holds no lock, and
    /// deleted as [`Store::delete_found_orphans`] says.
    fn delete_unreferenced_sources(&self) -> Result<u64> {
        // With an index led by source_id one probe per source row; without, one pass over the
        // entries (NOT IN builds the set once) instead of a scan per source row.
        let unreferenced = if self.source_index {
            "NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = sources.id)"
        } else {
            "id NOT IN (SELECT source_id FROM entries WHERE source_id IS NOT NULL)"
        };
        let version = self.data_version()?;
        let found: Vec<i64> = self.collect(
            &format!(
                "SELECT id FROM sources WHERE recorded_at < ?1 AND {unreferenced}{}",
                self.no_dependency_sql()
            ),
            [orphan_before()],
            |r| r.get(0),
        )?;
        self.delete_found_orphans(&found, version)
    }

    /// Deletes those of `candidates` that no entry and no dependency references any more.
    fn delete_orphan_sources(&self, candidates: BTreeSet<i64>) -> Result<u64> {
        let version = self.data_version()?;
        let candidates: Vec<i64> = candidates.into_iter().collect();
        let mut orphans = Vec::new();
        for chunk in candidates.chunks(MAX_BATCH) {
            let values: Rc<Vec<Value>> =
                Rc::new(chunk.iter().copied().map(Value::Integer).collect());
            orphans.extend(self.collect(
                &format!(
                    "SELECT id FROM sources WHERE {}",
                    self.unreferenced_among_sql()
                ),
                [&values as &dyn ToSql],
                |r| r.get::<_, i64>(0),
            )?);
        }
        self.delete_found_orphans(&orphans, version)
    }

    /// Deletes `orphans`, found unreferenced by a read (which holds no lock) at `version`:
    /// under the lock they are deleted as found unless another connection committed since, in
    /// which case each is checked again.
    fn delete_found_orphans(&self, orphans: &[i64], version: i64) -> Result<u64> {
        let mut removed = 0;
        for chunk in orphans.chunks(MAX_BATCH) {
            let values: Rc<Vec<Value>> =
                Rc::new(chunk.iter().copied().map(Value::Integer).collect());
            removed += self.write(|_| {
                let sql = if self.data_version()? == version {
                    "DELETE FROM sources WHERE id IN rarray(?1)".to_string()
                } else {
                    format!(
                        "DELETE FROM sources WHERE {}",
                        self.unreferenced_among_sql()
                    )
                };
                self.conn
                    .execute(&sql, [&values as &dyn ToSql])
                    .map_err(|e| self.err(e))
            })? as u64;
        }
        Ok(removed)
    }

    /// SQL over `sources`: the row is one of `rarray(?1)` and nothing references it.
    fn unreferenced_among_sql(&self) -> String {
        format!(
            "id IN rarray(?1) \
             AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = sources.id){}",
            self.no_dependency_sql()
        )
    }

    /// `AND` no dependency row references the source row: against a set built once, since a
    /// probe per source would scan the table where the optional index on
    /// `entry_dependencies (source_id)` is missing.
    fn no_dependency_sql(&self) -> &'static str {
        if self.has_dependencies {
            " AND id NOT IN (SELECT source_id FROM entry_dependencies WHERE source_id IS NOT NULL)"
        } else {
            ""
        }
    }
}

/// Source rows recorded before this (Unix ms) and referenced by nothing are removed by a purge.
fn orphan_before() -> i64 {
    chrono::Utc::now().timestamp_millis() - ORPHAN_AGE.as_millis() as i64
}

/// One batch of a purge, as [`Store::pick_batch`] reads it.
#[derive(Default)]
struct Picked {
    ids: Rc<Vec<Value>>,
    /// (strategy, bytes) per entry.
    removed: Vec<(String, u64)>,
    /// The entries' own and dependency sources, which the purge may leave unreferenced.
    sources: Vec<i64>,
}

/// Grows or shrinks the batch so each transaction takes about [`BATCH_TARGET`].
fn next_batch_size(current: usize, took: Duration) -> usize {
    let next = if took < BATCH_TARGET / 2 {
        current * 2
    } else if took > BATCH_TARGET * 3 / 2 {
        current / 2
    } else {
        current
    };
    next.clamp(MIN_BATCH, MAX_BATCH)
}
