//! Listings: id sets, pages of rows, counts, and one entry with its detail (the sorted list a
//! front end pages through is in `list`).

use super::super::rows::{entry_col, int, opt_int, text, Int, ENTRY_COLUMNS, SOURCE_COLUMNS};
use super::super::{
    EntryDetail, EntryFilter, EntryId, EntryRow, IdSet, Result, SourceId, SourceRow,
    StatusesLoaded, Store,
};
use crate::status::Status;
use rusqlite::{params_from_iter, OptionalExtension};
use std::collections::HashMap;

impl Store {
    /// The ids matching `filter`, ascending, found through indexes when it selects by status:
    /// an entry can only have a selected status when its own source has it, when it has no
    /// source, or when a dependency has it, so only those entries are tested with the full
    /// condition, not every entry of the store. With `exact` false the status condition is
    /// left to the caller (a purge re-checks it in each batch): a superset comes back.
    pub fn matching_ids(&self, filter: &EntryFilter, exact: bool) -> Result<Vec<EntryId>> {
        Ok(self.matching_id_set(filter, exact)?.iter().collect())
    }

    /// [`Store::matching_ids`] as a compressed set, for as many ids as a purge may select.
    pub fn matching_id_set(&self, filter: &EntryFilter, exact: bool) -> Result<IdSet> {
        let mut ids = IdSet::default();
        if filter.statuses.is_empty() {
            let (clause, params) = self.where_clause(filter);
            let sql = format!("SELECT e.id FROM entries e{clause}");
            self.each_id(&sql, params_from_iter(params), &mut ids)?;
            return Ok(ids);
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
        // A source id that is not an integer reads as missing (no row can have it). Such ids
        // are looked for only when verification saw some, or did not look (a covering index
        // scan: a conforming store has none).
        if filter.statuses.contains(&Status::Missing)
            && self.malformed_source_ids.get() != Some(false)
        {
            narrowings.push("typeof(e.source_id) NOT IN ('integer', 'null')".into());
            if self.has_dependencies {
                narrowings.push(
                    "e.id IN (SELECT entry_id FROM entry_dependencies \
                     WHERE typeof(source_id) NOT IN ('integer', 'null'))"
                        .into(),
                );
            }
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
        for narrowing in narrowings {
            let (_, mut params) = self.where_clause(&rest);
            if narrowing.contains('?') {
                params.insert(0, Box::new(filter.or_expired_at));
            }
            let sql = match clause.strip_prefix(" WHERE ") {
                Some(rest) => format!("SELECT e.id FROM entries e WHERE {narrowing} AND {rest}"),
                None => format!("SELECT e.id FROM entries e WHERE {narrowing}"),
            };
            self.each_id(&sql, params_from_iter(params), &mut ids)?;
        }
        Ok(ids)
    }

    /// Adds the ids a query (selecting `e.id`) returns to `ids`, as they stream by.
    fn each_id(&self, sql: &str, params: impl rusqlite::Params, ids: &mut IdSet) -> Result<()> {
        let run = || -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare(sql)?;
            let mut rows = stmt.query(params)?;
            while let Some(r) = rows.next()? {
                ids.insert(r.get(0)?);
            }
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    /// Counts entries and their bytes matching `filter`.
    pub fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        let (clause, params) = self.where_clause(filter);
        let sql = format!("SELECT count(*), total(max(e.value_size, 0)) FROM entries e{clause}");
        let rows = self.collect(&sql, params_from_iter(params), |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, f64>(1)? as u64))
        })?;
        Ok(rows.into_iter().next().unwrap_or((0, 0)))
    }

    /// The rows for `ids`, in that order (ids that no longer exist are left out).
    pub fn entries_by_ids(
        &self,
        ids: &[EntryId],
        statuses: Option<StatusesLoaded>,
    ) -> Result<Vec<EntryRow>> {
        let filter = EntryFilter {
            ids: Some(ids.to_vec()),
            ..Default::default()
        };
        let mut rows = self.entries_page(&filter, statuses, None, ids.len().max(1) as i64)?;
        let pos: HashMap<EntryId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|r| pos.get(&r.id).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// One page of entries in id order, starting after `after_id`: keyset paging, so a listing
    /// of a million entries never re-reads what it already printed.
    pub fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after_id: Option<EntryId>,
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
        let status = match statuses {
            Some(_) => self.rank_sql(),
            None => "NULL".into(),
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, {status} FROM entries e{clause} ORDER BY e.id LIMIT {limit}"
        );
        self.collect(&sql, params_from_iter(params), |r| {
            let mut row = EntryRow::from_row(r)?;
            // The status comes right after the entry's own columns.
            row.status = r
                .get::<_, Option<i64>>(entry_col::COUNT)?
                .and_then(Status::from_rank);
            Ok(row)
        })
    }

    /// One entry with its source, dependencies and the first `preview` bytes of its value.
    pub fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>> {
        let filter = EntryFilter {
            ids: Some(vec![id]),
            ..Default::default()
        };
        let Some(entry) = self
            .entries_page(&filter, None, None, 1)?
            .into_iter()
            .next()
        else {
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
        let missing_dependencies = if self.has_dependencies {
            let ids = self.collect(
                "SELECT source_id FROM entry_dependencies WHERE entry_id = ?1 \
                 AND source_id NOT IN (SELECT id FROM sources) ORDER BY source_id",
                [id],
                |r| opt_int(r, 0),
            )?;
            ids.into_iter().flatten().map(SourceId).collect()
        } else {
            Vec::new()
        };
        // Ids read as the aggregates read them (`'7'` is 7), the others kept as their SQL
        // literal by quote(): 'text', X'B10B', 2.5.
        let deps = if self.has_dependencies {
            " UNION ALL SELECT source_id, quote(source_id) FROM entry_dependencies \
             WHERE entry_id = ?1 AND typeof(source_id) NOT IN ('integer', 'null')"
        } else {
            ""
        };
        let malformed_source_ids = self
            .collect(
                &format!(
                    "SELECT source_id, quote(source_id) FROM entries WHERE id = ?1 \
                     AND typeof(source_id) NOT IN ('integer', 'null'){deps}"
                ),
                [id],
                |r| {
                    let bad = matches!(int(r, 0)?, Int::Bad);
                    bad.then(|| text(r, 1)).transpose()
                },
            )?
            .into_iter()
            .flatten()
            .collect();
        let value_head = self
            .conn
            .query_row(
                "SELECT CASE WHEN value IS NULL THEN NULL ELSE substr(CAST(value AS BLOB), 1, ?2) END \
                 FROM entries WHERE id = ?1",
                rusqlite::params![id, preview as i64],
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
            missing_dependencies,
            malformed_source_ids,
            value_head,
            notes: Vec::new(),
        }))
    }
}
