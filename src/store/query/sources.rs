//! Source rows, and the verification statuses loaded into the connection for status queries.

use super::super::rows::{int, text, Int, SOURCE_COLUMNS};
use super::super::{Result, SourceId, SourceRow, StatusesLoaded, Store};
use crate::status::Status;
use rusqlite::types::Value;
use rusqlite::ToSql;
use std::collections::HashMap;
use std::rc::Rc;

/// Source rows read by one statement in [`Store::sources_by_id`].
const BY_ID_CHUNK: usize = 256;

impl Store {
    /// Every source row that an entry or a dependency references (content snapshots left out).
    pub fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        self.collect(&self.referenced_sql("id"), [], SourceRow::from_row)
    }

    /// [`Store::referenced_sources`] one row at a time, in the order of their paths (the
    /// UNIQUE index on sources leads with the path, so nothing is sorted or kept).
    pub fn visit_referenced_sources(&self, mut visit: impl FnMut(SourceRow)) -> Result<()> {
        let mut run = || -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare_cached(&self.referenced_sql("path"))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                visit(SourceRow::from_row(r)?);
            }
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// The source rows with these ids, one answer per id in their order (`None` for an id
    /// without a row), read [`BY_ID_CHUNK`] ids to a statement by the primary key: a statement
    /// per id took and released the file's shared lock each time (a third of `verify`'s
    /// printing at 220,000 sources), and a chunk is still a short read. A table whose ids are
    /// not its key (the format says they are) is read once into memory instead, so a lookup
    /// is never a scan.
    pub fn sources_by_id<'a>(
        &'a self,
        ids: &'a [SourceId],
    ) -> Result<impl Iterator<Item = Result<Option<SourceRow>>> + 'a> {
        // The ids as a `rarray` (as the purge passes its batches), one statement a chunk.
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id IN rarray(?1)");
        let as_array = |ids: &[SourceId]| {
            Rc::new(
                ids.iter()
                    .map(|id| Value::Integer(id.0))
                    .collect::<Vec<_>>(),
            )
        };
        let keyed = self
            .conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {sql}"),
                [&as_array(&[]) as &dyn ToSql],
                |r| r.get::<_, String>(3),
            )
            .map_err(|e| self.err(e))?;
        let all: Option<HashMap<SourceId, SourceRow>> = if keyed.contains("SEARCH") {
            None
        } else {
            Some(
                self.referenced_sources()?
                    .into_iter()
                    .map(|r| (r.id, r))
                    .collect(),
            )
        };
        let chunk = move |ids: &[SourceId]| -> Result<Vec<Option<SourceRow>>> {
            let found = match &all {
                Some(all) => return Ok(ids.iter().map(|id| all.get(id).cloned()).collect()),
                None => self.collect(&sql, [&as_array(ids) as &dyn ToSql], SourceRow::from_row)?,
            };
            // Copied out, so an id asked for twice gets its row twice.
            let found: HashMap<SourceId, SourceRow> =
                found.into_iter().map(|r| (r.id, r)).collect();
            Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
        };
        Ok(ids
            .chunks(BY_ID_CHUNK)
            .flat_map(move |ids| match chunk(ids) {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }))
    }

    fn referenced_sql(&self, order: &str) -> String {
        // One index probe per source row: scales with sources, not with entries.
        let deps = if self.has_dependencies {
            // A set built once where `entry_dependencies (source_id)` has no index (optional),
            // instead of a scan per source.
            " OR s.id IN (SELECT source_id FROM entry_dependencies)"
        } else {
            ""
        };
        format!(
            "SELECT {SOURCE_COLUMNS} FROM sources s WHERE EXISTS \
             (SELECT 1 FROM entries e WHERE e.source_id = s.id){deps} ORDER BY {order}"
        )
    }

    /// How many source rows the store holds: at least as many as are referenced, counted on
    /// the smallest index (milliseconds for 220,000) where counting the referenced ones
    /// probes the entries for each.
    pub fn source_row_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM sources", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// Source ids that entries or dependency rows reference but the sources table lacks (a
    /// producer's bug, or hand-edited stores): their fingerprint source is gone. Whether any
    /// is not an integer (and so missing too; see [`Store::rank_sql`]) is noted on the way.
    pub fn dangling_source_ids(&self) -> Result<Vec<SourceId>> {
        // With an index led by source_id, hop from one distinct id to the next (one seek per
        // source) instead of reading every entry; without one, each hop would scan the table.
        let referenced = if self.source_index {
            "WITH RECURSIVE ids(id) AS ( \
               SELECT min(source_id) FROM entries WHERE source_id IS NOT NULL \
               UNION ALL SELECT (SELECT min(source_id) FROM entries WHERE source_id > ids.id) \
               FROM ids WHERE ids.id IS NOT NULL) \
             SELECT id FROM ids WHERE id IS NOT NULL AND id NOT IN (SELECT id FROM sources)"
        } else {
            "SELECT DISTINCT source_id FROM entries \
             WHERE source_id IS NOT NULL AND source_id NOT IN (SELECT id FROM sources)"
        };
        let deps = if self.has_dependencies {
            " UNION SELECT source_id FROM entry_dependencies WHERE source_id NOT IN (SELECT id FROM sources)"
        } else {
            ""
        };
        let ids = self.collect(&format!("{referenced}{deps}"), [], |r| int(r, 0))?;
        self.malformed_source_ids
            .set(Some(ids.iter().any(|id| matches!(id, Int::Bad))));
        Ok(ids
            .into_iter()
            .filter_map(|id| match id {
                Int::Value(id) => Some(SourceId(id)),
                Int::Null | Int::Bad => None,
            })
            .collect())
    }

    /// Loads per-source verification statuses into a temporary table of this connection, so
    /// status filters, sorting and purges can be evaluated in SQL against current rows.
    pub fn load_source_statuses(
        &self,
        statuses: impl IntoIterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded> {
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
                    ins.execute(rusqlite::params![id, status.rank()])?;
                }
            }
            tx.commit()
        };
        run().map_err(|e| self.err(e))?;
        Ok(StatusesLoaded(()))
    }

    /// One source row by id.
    pub fn source(&self, id: SourceId) -> Result<Option<SourceRow>> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1");
        Ok(self
            .collect(&sql, [id], SourceRow::from_row)?
            .into_iter()
            .next())
    }

    /// The meta table, as key/value pairs.
    pub fn meta(&self) -> Result<Vec<(String, String)>> {
        self.collect("SELECT key, value FROM meta ORDER BY key", [], |r| {
            Ok((text(r, 0)?, text(r, 1)?))
        })
    }
}
