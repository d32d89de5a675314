//! The diskcache as a [`Backend`]: aggregates over cells, listings, detail, purge.

use super::{db, db_error, register, Diskcache, SHARD_SHIFT};
use crate::backend::Backend;
use crate::status::Status;
use crate::store::{Result, StoreError};
use crate::types::{
    Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, PurgeOutcome,
    PurgePlan, PurgeProgress, SortKey, SourceId, SourceRow, StatusesLoaded,
};
use crate::verify::MTIME_PREFIX;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

impl Backend for Diskcache {
    fn kind(&self) -> &'static str {
        "diskcache"
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

    fn is_immutable(&self) -> bool {
        self.immutable
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn change_token(&self) -> Result<i64> {
        let mut token = 0i64;
        for s in &self.shards {
            let v: i64 = s
                .conn
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .map_err(self.sql_err(s))?;
            token = token.wrapping_mul(31).wrapping_add(v);
        }
        Ok(token)
    }

    fn reopen_read_only(&self) -> Result<Box<dyn Backend>> {
        let mut options = self.options.clone();
        options.open.read_only = true;
        Ok(Box::new(Diskcache::open(
            &self.path,
            self.layout.clone(),
            &options,
            false,
        )?))
    }

    fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        let mut out = Vec::new();
        for (i, f) in self.shared.registry().functions.iter().enumerate() {
            let (Some((path, mtime)), Some((before, after))) = (&f.module, f.sources(i)) else {
                continue;
            };
            // Rows stored before the modification time seen at open are judged against just
            // before it; rows stored after, against the time of opening.
            let cells = [
                (2 * i as i64, before, *mtime - 1),
                (2 * i as i64 + 1, after, self.opened_ns),
            ];
            for (cell, id, stored) in cells {
                // A handle that did not scan (a second one) lists every source.
                if !self.present.is_empty() && !self.present.contains(&cell) {
                    continue;
                }
                out.push(SourceRow {
                    id,
                    path: path.display().to_string(),
                    raw_path: SourceRow::raw_path_of(path),
                    span: None,
                    digest: format!("{MTIME_PREFIX}{stored}"),
                    size: None,
                    mtime_ns: None,
                    recorded_at: (stored / 1_000_000) as i64,
                    content_len: None,
                    invalid_span: false,
                });
            }
        }
        Ok(out)
    }

    fn dangling_source_ids(&self) -> Result<Vec<SourceId>> {
        Ok(Vec::new())
    }

    fn load_statuses(
        &self,
        statuses: &mut dyn Iterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded> {
        *self.statuses.lock().unwrap_or_else(|e| e.into_inner()) = Some(statuses.collect());
        Ok(StatusesLoaded(()))
    }

    fn aggregate(&self, dimension: Dimension, visit: &mut dyn FnMut(Cell)) -> Result<()> {
        let first = self
            .first_count
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let cells = match first {
            Some(cells) => cells,
            None => self.count_cells()?,
        };
        for (cell, (entries, bytes)) in cells {
            let info = self.cell_info(cell);
            visit(Cell {
                source_id: info.source,
                strategy: Self::strategy(cell).into(),
                dimension: match dimension {
                    Dimension::Function => info.function.as_ref().map(|f| f.display.clone()),
                    _ => None,
                },
                has_derivation_error: false,
                dependencies: Vec::new(),
                malformed_source_id: false,
                entries,
                bytes,
            });
        }
        Ok(())
    }

    fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        Ok(Vec::new())
    }

    fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>> {
        let mut by: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        for s in &self.shards {
            let mut st = s
                .conn
                .prepare_cached(
                    "SELECT cs_cell(key, raw, store_time) >= 0, count(*), \
                     total(CASE WHEN filename IS NULL THEN length(value) ELSE size END) \
                     FROM Cache WHERE expire_time * 1000 <= ?1 GROUP BY 1",
                )
                .map_err(self.sql_err(s))?;
            let rows = st
                .query_map([now_ms], |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, f64>(2)?,
                    ))
                })
                .map_err(self.sql_err(s))?;
            for row in rows {
                let (memo, n, bytes) = row.map_err(self.sql_err(s))?;
                let slot = by.entry(if memo { "name" } else { "custom" }).or_default();
                slot.0 += n.max(0) as u64;
                slot.1 += bytes.max(0.0) as u64;
            }
        }
        Ok(by.into_iter().map(|(s, (n, b))| (s.into(), n, b)).collect())
    }

    fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for (i, s) in self.shards.iter().enumerate() {
            let (clause, params) = self.where_clause(filter, i)?;
            let sql = format!(
                "SELECT count(*), total(CASE WHEN filename IS NULL THEN length(value) ELSE size END) \
                 FROM Cache{clause}"
            );
            let (c, b): (i64, f64) = s
                .conn
                .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(self.sql_err(s))?;
            n += c.max(0) as u64;
            bytes = bytes.saturating_add(b.max(0.0) as u64);
        }
        Ok((n, bytes))
    }

    fn select_list(&self, filter: &EntryFilter, sort: SortKey, descending: bool) -> Result<u64> {
        // (sort value, id) from every shard, merged here: the order spans shards.
        #[derive(PartialEq, PartialOrd)]
        enum Key {
            Int(i64),
            Text(String),
        }
        let statuses = self.statuses().unwrap_or_default();
        let mut all: Vec<(Key, EntryId)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            let (clause, params) = self.where_clause(filter, i)?;
            let expr = match sort {
                SortKey::Key => "cs_key(key, raw)",
                SortKey::Size => "CASE WHEN filename IS NULL THEN length(value) ELSE size END",
                SortKey::Created => "CAST(store_time * 1000 AS INTEGER)",
                SortKey::Hits => "access_count",
                _ => "cs_cell(key, raw, store_time)",
            };
            let sql = format!("SELECT rowid, {expr} FROM Cache{clause}");
            let mut st = s.conn.prepare_cached(&sql).map_err(self.sql_err(s))?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    let id = EntryId(((i as i64) << SHARD_SHIFT) | r.get::<_, i64>(0)?);
                    let key = match sort {
                        SortKey::Key => {
                            Key::Text(r.get::<_, Option<String>>(1)?.unwrap_or_default())
                        }
                        SortKey::Id => Key::Int(0),
                        SortKey::Function => {
                            let cell: i64 = r.get(1)?;
                            Key::Text(
                                self.cell_info(cell)
                                    .function
                                    .map(|f| f.display.clone())
                                    .unwrap_or_default(),
                            )
                        }
                        SortKey::Strategy => Key::Text(Self::strategy(r.get(1)?).into()),
                        SortKey::Status(_) => {
                            let cell: i64 = r.get(1)?;
                            Key::Int(self.status_of(cell, &statuses).map_or(-1, Status::rank))
                        }
                        _ => Key::Int(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                    };
                    Ok((key, id))
                })
                .map_err(self.sql_err(s))?;
            for row in rows {
                all.push(row.map_err(self.sql_err(s))?);
            }
        }
        all.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        if descending {
            all.reverse();
        }
        Ok(self.list.set(all.into_iter().map(|(_, id)| id).collect()))
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
        let filter = EntryFilter {
            ids: Some(ids.to_vec()),
            ..Default::default()
        };
        let mut rows = Vec::with_capacity(ids.len());
        for i in 0..self.shards.len() {
            rows.extend(self.shard_rows(i, &filter, None, ids.len() as i64, statuses.is_some())?);
        }
        let pos: HashMap<EntryId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|r| pos.get(&r.id).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after: Option<EntryId>,
        limit: i64,
    ) -> Result<Vec<EntryRow>> {
        // Ids order shards first, then rowids: page through the shards in turn.
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let shard_after = match after {
                Some(a) if ((a.0 >> SHARD_SHIFT) as usize) > i => continue,
                Some(a) if ((a.0 >> SHARD_SHIFT) as usize) == i => {
                    Some(a.0 & ((1 << SHARD_SHIFT) - 1))
                }
                _ => None,
            };
            let want = limit - out.len() as i64;
            if want <= 0 {
                break;
            }
            out.extend(self.shard_rows(i, filter, shard_after, want, statuses.is_some())?);
        }
        Ok(out)
    }

    fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>> {
        let shard = (id.0 >> SHARD_SHIFT) as usize;
        let Some(s) = self.shards.get(shard) else {
            return Ok(None);
        };
        let filter = EntryFilter {
            ids: Some(vec![id]),
            ..Default::default()
        };
        let Some(entry) = self.shard_rows(shard, &filter, None, 1, false)?.pop() else {
            return Ok(None);
        };
        let rowid = id.0 & ((1 << SHARD_SHIFT) - 1);
        let (filename, inline, cell): (Option<String>, Option<Vec<u8>>, i64) = s
            .conn
            .query_row(
                "SELECT filename, CASE WHEN value IS NULL THEN NULL \
                 ELSE substr(CAST(value AS BLOB), 1, ?2) END, cs_cell(key, raw, store_time) \
                 FROM Cache WHERE rowid = ?1",
                rusqlite::params![rowid, preview as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.sql_err(s))?;
        let value_head = match &filename {
            Some(f) if db::safe_relative(f) => {
                crate::verify::read::read_head(&s.dir.join(f), preview)
            }
            _ => inline,
        };
        let mut notes = Vec::new();
        match (cell >= 0, entry.source_id) {
            (_, Some(_)) => notes.push(
                "diskcache keys memoized results by the function's name and arguments only: \
                 the status is judged by the modification time of the function's module file, \
                 as diskcache keeps no fingerprint of the code"
                    .to_string(),
            ),
            (true, None) => notes.push(
                "diskcache keys memoized results by the function's name and arguments only, and \
                 the function's module file was not found under the source roots: a code change \
                 is never noticed"
                    .to_string(),
            ),
            (false, None) => notes.push(
                "not a memoize key: the application chose this key, and nothing in it says what \
                 code computed the value"
                    .to_string(),
            ),
        }
        let policy = self.policy.as_deref().unwrap_or("unknown");
        if policy != "least-recently-used" {
            notes.push(format!(
                "accessed is the time the entry was stored: diskcache moves it on reads only under \
                 the least-recently-used eviction policy (this cache's: {policy})"
            ));
        }
        if policy != "least-frequently-used" {
            notes.push(format!(
                "hits are counted only under the least-frequently-used eviction policy (this \
                 cache's: {policy})"
            ));
        }
        if let Some(f) = &filename {
            let path = s.dir.join(f);
            notes.push(match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => format!("value file: {}", path.display()),
                Ok(_) => format!("value file {} is not a regular file", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                    "value file missing: {} (diskcache reads this entry as a miss)",
                    path.display()
                ),
                Err(e) => format!("value file {}: {e}", path.display()),
            });
        }
        let source = self
            .referenced_sources()?
            .into_iter()
            .find(|r| Some(r.id) == entry.source_id);
        Ok(Some(EntryDetail {
            entry,
            source,
            source_content: None,
            dependencies: Vec::new(),
            missing_dependencies: Vec::new(),
            malformed_source_ids: Vec::new(),
            value_head,
            notes,
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
        if !plan.dry_run && self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let allowed: Option<std::collections::HashSet<i64>> = self
            .allowed_cells(&plan.filter)?
            .map(|cells| cells.into_iter().collect());
        let keep = |cell: i64| allowed.as_ref().is_none_or(|a| a.contains(&cell));
        let strategy = |cell: i64| Self::strategy(cell).to_string();
        if plan.dry_run {
            for (i, s) in self.shards.iter().enumerate() {
                // The cell test runs here, so each key is parsed once.
                let (clause, params) = self.where_clause_with(&plan.filter, i, false)?;
                let sql = format!(
                    "SELECT cs_cell(key, raw, store_time), \
                     CASE WHEN filename IS NULL THEN length(value) ELSE size END FROM Cache{clause}"
                );
                let mut st = s.conn.prepare(&sql).map_err(self.sql_err(s))?;
                let mut rows = st
                    .query(rusqlite::params_from_iter(params))
                    .map_err(self.sql_err(s))?;
                while let Some(r) = rows.next().map_err(self.sql_err(s))? {
                    let cell: i64 = r.get(0).map_err(self.sql_err(s))?;
                    let size: Option<i64> = r.get(1).map_err(self.sql_err(s))?;
                    if keep(cell) {
                        outcome.add(strategy(cell), 1, size.unwrap_or(0).max(0) as u64);
                    }
                }
            }
            return Ok(outcome);
        }
        let mut done = 0u64;
        for (i, s) in self.shards.iter().enumerate() {
            // Rows are picked by the filter without its cell test, which runs in Rust on the
            // cell read alongside (one parse of each key); inside each batch's transaction the
            // whole filter is tested again, so a row rewritten meanwhile (say, stored after its
            // module's change) no longer matches and survives.
            let (full, params) = self.where_clause(&plan.filter, i)?;
            let (pick, _) = self.where_clause_with(&plan.filter, i, false)?;
            let shared = self.shared.clone();
            let setup = move |conn: &Connection| register(conn, &shared);
            let selection = db::Selection {
                condition: full.strip_prefix(" WHERE ").unwrap_or(""),
                pick_condition: pick.strip_prefix(" WHERE ").unwrap_or(""),
                params: &params,
                setup: &setup,
                tag: "cs_cell(key, raw, store_time)",
                keep: &keep,
            };
            let mut report = db::PurgeReport::default();
            let result = db::purge(
                &s.dir,
                &selection,
                &mut report,
                &mut |rows| {
                    for r in rows {
                        outcome.add(strategy(r.tag), 1, r.bytes);
                    }
                    done += rows.len() as u64;
                    // The total is not known without reading every key twice.
                    progress(PurgeProgress { done, total: 0 });
                },
                &|| plan.cancelled(),
            );
            if let Some(e) = report.file_errors.first() {
                outcome.interrupted = Some(StoreError::NotAStore {
                    path: s.dir.clone(),
                    what: format!("a value file could not be removed: {e}"),
                });
            }
            if let Err(e) = result {
                outcome.interrupted = Some(db_error(&s.dir, e));
                return Ok(outcome);
            }
            if plan.cancelled() {
                outcome.interrupted = Some(StoreError::Cancelled {
                    path: s.dir.clone(),
                });
                return Ok(outcome);
            }
        }
        Ok(outcome)
    }
}
