//! Source rows, and the verification statuses loaded into the connection for status queries.

use super::super::rows::{opt_int, text, SOURCE_COLUMNS};
use super::super::{Result, SourceId, SourceRow, StatusesLoaded, Store};
use crate::status::Status;

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
    /// without a row), each a lookup by the primary key. A table whose ids are not its key
    /// (the format says they are) is read once into memory instead, so a lookup is never a
    /// scan.
    pub fn sources_by_id<'a>(
        &'a self,
        ids: &'a [SourceId],
    ) -> Result<impl Iterator<Item = Result<Option<SourceRow>>> + 'a> {
        use rusqlite::OptionalExtension;
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1");
        let keyed = self
            .conn
            .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [0], |r| {
                r.get::<_, String>(3)
            })
            .map_err(|e| self.err(e))?;
        let mut loaded: Option<std::collections::HashMap<SourceId, SourceRow>> =
            if keyed.contains("SEARCH") {
                None
            } else {
                Some(
                    self.referenced_sources()?
                        .into_iter()
                        .map(|r| (r.id, r))
                        .collect(),
                )
            };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        Ok(ids.iter().map(move |id| match &mut loaded {
            Some(rows) => Ok(rows.remove(id)),
            None => stmt
                .query_row([id.0], SourceRow::from_row)
                .optional()
                .map_err(|e| self.err(e)),
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
    /// producer's bug, or hand-edited stores): their fingerprint source is gone.
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
        let ids = self.collect(&format!("{referenced}{deps}"), [], |r| opt_int(r, 0))?;
        Ok(ids.into_iter().flatten().map(SourceId).collect())
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
