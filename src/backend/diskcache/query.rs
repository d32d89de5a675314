//! The SQL a diskcache is read with: which rows a filter selects (cells in Rust, the rest in a
//! WHERE clause), and rows as listed.

use super::{Diskcache, Shard, SHARD_SHIFT};
use crate::store::{Result, StoreError};
use crate::types::{EntryFilter, EntryId, EntryRow};
use rusqlite::types::{Value, ValueRef};

impl Diskcache {
    /// The cells `filter` allows by strategy, function, source, error and status; `None`: all.
    pub(super) fn allowed_cells(&self, filter: &EntryFilter) -> Result<Option<Vec<i64>>> {
        let glob = match &filter.function_glob {
            Some(g) => Some(glob::Pattern::new(&g.replace("[^", "[!")).map_err(|e| {
                StoreError::NotAStore {
                    path: self.path.clone(),
                    what: format!("bad --function pattern: {e}"),
                }
            })?),
            None => None,
        };
        let statuses = self.statuses();
        if !filter.statuses.is_empty() && statuses.is_none() {
            return Err(StoreError::NotAStore {
                path: self.path.clone(),
                what: "a status filter needs verification first".into(),
            });
        }
        let restricts = !filter.strategies.is_empty()
            || glob.is_some()
            || filter.function.is_some()
            || filter.source_path.is_some()
            || matches!(filter.derivation_error, Some(Some(_)))
            || !filter.statuses.is_empty();
        if !restricts {
            return Ok(None);
        }
        let mut cells = Vec::new();
        for cell in self.every_cell() {
            let info = self.cell_info(cell);
            let function = info
                .function
                .as_ref()
                .map(|f| f.display.as_str())
                .unwrap_or("");
            if !filter.strategies.is_empty()
                && !filter.strategies.iter().any(|s| s == Self::strategy(cell))
            {
                continue;
            }
            if glob.as_ref().is_some_and(|g| !g.matches(function))
                || filter.function.as_ref().is_some_and(|f| f != function)
                || matches!(filter.derivation_error, Some(Some(_)))
            {
                continue;
            }
            if let Some(want) = &filter.source_path {
                let path = info
                    .function
                    .as_ref()
                    .and_then(|f| f.module.as_ref())
                    .map(|(p, _)| p.display().to_string());
                if path.as_deref() != want.as_deref() {
                    continue;
                }
            }
            // Expired rows may be selected on their own (`or_expired_at`): the status test is
            // then made per row in SQL, so the cell stays.
            if !filter.statuses.is_empty() && filter.or_expired_at.is_none() {
                let map = statuses.as_ref().expect("checked above");
                if !self
                    .status_of(cell, map)
                    .is_some_and(|s| filter.statuses.contains(&s))
                {
                    continue;
                }
            }
            cells.push(cell);
        }
        Ok(Some(cells))
    }

    /// The WHERE clause over `Cache` (no alias) for `filter` in shard `shard`, and its
    /// parameters.
    pub(super) fn where_clause(
        &self,
        filter: &EntryFilter,
        shard: usize,
    ) -> Result<(String, Vec<Value>)> {
        self.where_clause_with(filter, shard, true)
    }

    /// [`Diskcache::where_clause`], leaving out the test of the allowed cells when `cells` is
    /// false (the caller tests the cell itself, parsing each key once).
    pub(super) fn where_clause_with(
        &self,
        filter: &EntryFilter,
        shard: usize,
        cells: bool,
    ) -> Result<(String, Vec<Value>)> {
        let mut terms = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        let cell = "cs_cell(key, raw, store_time)";
        if let Some(allowed) = self.allowed_cells(filter)?.filter(|_| cells) {
            terms.push(format!("{cell} IN ({})", join_ints(&allowed)));
        }
        if !filter.statuses.is_empty() {
            if let Some(now) = filter.or_expired_at {
                let map = self.statuses().unwrap_or_default();
                let stale: Vec<i64> = self
                    .every_cell()
                    .filter(|c| {
                        self.status_of(*c, &map)
                            .is_some_and(|s| filter.statuses.contains(&s))
                    })
                    .collect();
                terms.push(format!(
                    "({cell} IN ({}) OR expire_time * 1000 <= ?)",
                    join_ints(&stale)
                ));
                params.push(Value::Integer(now));
            }
        } else if let Some(now) = filter.or_expired_at {
            terms.push("expire_time * 1000 <= ?".into());
            params.push(Value::Integer(now));
        }
        if let Some(now) = filter.expired_at {
            terms.push("expire_time * 1000 <= ?".into());
            params.push(Value::Integer(now));
        }
        if let Some(t) = filter.created_before {
            terms.push("store_time * 1000 < ?".into());
            params.push(Value::Integer(t));
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            let needle = text.to_lowercase();
            let by_function: Vec<i64> = self
                .every_cell()
                .filter(|c| {
                    self.cell_info(*c).function.as_ref().is_some_and(|f| {
                        f.display.to_lowercase().contains(&needle)
                            || f.module.as_ref().is_some_and(|(p, _)| {
                                p.display().to_string().to_lowercase().contains(&needle)
                            })
                    })
                })
                .collect();
            terms.push(format!(
                "({cell} IN ({}) OR instr(lower(cs_key(key, raw)), ?) > 0)",
                join_ints(&by_function)
            ));
            params.push(Value::Text(needle));
        }
        if let Some(ids) = &filter.ids {
            let rowids: Vec<i64> = ids
                .iter()
                .filter(|id| (id.0 >> SHARD_SHIFT) as usize == shard)
                .map(|id| id.0 & ((1 << SHARD_SHIFT) - 1))
                .collect();
            terms.push(format!("rowid IN ({})", join_ints(&rowids)));
        }
        let sql = if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        };
        Ok((sql, params))
    }

    pub(super) fn sql_err(&self, shard: &Shard) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        let db = shard.db.clone();
        move |e| StoreError::from_sqlite(&db, timeout(), e)
    }

    pub(super) fn row(&self, shard: usize, r: &rusqlite::Row) -> rusqlite::Result<EntryRow> {
        let rowid: i64 = r.get(0)?;
        let cell: i64 = r.get(1)?;
        let info = self.cell_info(cell);
        let secs = |i: usize| -> rusqlite::Result<Option<i64>> {
            Ok(r.get::<_, Option<f64>>(i)?.map(|t| (t * 1000.0) as i64))
        };
        let status = self.statuses().and_then(|map| self.status_of(cell, &map));
        Ok(EntryRow {
            id: EntryId(((shard as i64) << SHARD_SHIFT) | rowid),
            namespace: "diskcache".into(),
            function: info
                .function
                .as_ref()
                .map(|f| f.display.clone())
                .unwrap_or_default(),
            key: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            strategy: Self::strategy(cell).into(),
            derivation_error: None,
            source_id: info.source,
            source_path: info
                .function
                .as_ref()
                .and_then(|f| f.module.as_ref())
                .map(|(p, _)| p.display().to_string()),
            value_size: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
            value_type: Some(value_type(r.get::<_, Option<i64>>(7)?, r.get_ref(8)?)),
            created_at: secs(3)?.unwrap_or(0),
            accessed_at: secs(4)?,
            hits: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            expires_at: secs(9)?,
            status,
        })
    }

    /// Rows of one shard matching `filter` after `after` (a rowid), in rowid order.
    pub(super) fn shard_rows(
        &self,
        shard: usize,
        filter: &EntryFilter,
        after: Option<i64>,
        limit: i64,
        with_status: bool,
    ) -> Result<Vec<EntryRow>> {
        let s = &self.shards[shard];
        let (mut clause, mut params) = self.where_clause(filter, shard)?;
        if let Some(a) = after {
            clause = if clause.is_empty() {
                " WHERE rowid > ?".into()
            } else {
                format!("{clause} AND rowid > ?")
            };
            params.push(Value::Integer(a));
        }
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM Cache{clause} ORDER BY rowid LIMIT {}",
            limit.max(0)
        );
        let mut st = s.conn.prepare_cached(&sql).map_err(self.sql_err(s))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(params), |r| {
                let mut row = self.row(shard, r)?;
                if !with_status {
                    row.status = None;
                }
                Ok(row)
            })
            .map_err(self.sql_err(s))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sql_err(s))?;
        Ok(rows)
    }
}

/// The columns [`Diskcache::row`] reads, in order. A value's size is its file's (`size`), or
/// for an inline value its length (diskcache records 0 for those).
pub(super) const ROW_COLUMNS: &str =
    "rowid, cs_cell(key, raw, store_time), cs_key(key, raw), store_time, \
     access_time, access_count, CASE WHEN filename IS NULL THEN length(value) ELSE size END, \
     mode, value, expire_time";

fn value_type(mode: Option<i64>, value: ValueRef) -> String {
    match (mode, value) {
        (Some(1), ValueRef::Integer(_)) => "int".into(),
        (Some(1), ValueRef::Real(_)) => "float".into(),
        (Some(1), ValueRef::Text(_)) => "text".into(),
        (Some(1), _) => "bytes".into(),
        (Some(2), _) => "bytes".into(),
        (Some(3), _) => "text".into(),
        (Some(4), _) => "pickle".into(),
        (m, _) => format!("diskcache mode {}", m.map_or("?".into(), |m| m.to_string())),
    }
}

pub(super) fn timeout() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

pub(super) fn join_ints(v: &[i64]) -> String {
    if v.is_empty() {
        return "NULL".into();
    }
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
