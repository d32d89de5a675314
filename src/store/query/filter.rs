//! Which entries a query selects, and the SQL for an entry's status from the verification
//! results loaded into the connection.

use super::super::{EntryFilter, Store};
use crate::status::Status;
use rusqlite::types::Value;
use rusqlite::ToSql;
use std::rc::Rc;

/// Rank of a source that verification has not seen (written after it ran): never selected.
const UNKNOWN_RANK: i64 = 99;

impl Store {
    /// The SQL expression for an entry's status rank (alias `e`), from the loaded statuses.
    /// A source id that is not an integer (a careless producer's TEXT, REAL or BLOB) and names
    /// no source is missing: no source row can have it. One that SQLite compares equal to an
    /// integer (`'7'` or `7.0` in a column without INTEGER affinity) is that integer, as the
    /// aggregates read it; an integer without a rank was written after verification (unknown).
    pub(crate) fn rank_sql(&self) -> String {
        let missing = Status::Missing.rank();
        let own = format!(
            "CASE WHEN e.source_id IS NULL THEN (CASE WHEN e.derivation_error IS NULL THEN {} ELSE {} END) \
             ELSE coalesce((SELECT rank FROM temp.cs_rank WHERE id = e.source_id), \
               CASE WHEN typeof(e.source_id) = 'integer' THEN {UNKNOWN_RANK} ELSE {missing} END) END",
            Status::Unverifiable.rank(),
            Status::Failed.rank()
        );
        if self.has_dependencies {
            format!(
                "max({own}, coalesce((SELECT max(coalesce(r.rank, \
                   CASE WHEN typeof(d.source_id) IN ('integer', 'null') THEN {UNKNOWN_RANK} ELSE {missing} END)) \
                 FROM entry_dependencies d \
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
        // A source id that is not an integer and has no rank is missing (see `rank_sql`).
        format!(
            "(CASE WHEN e.source_id IS NULL \
               THEN (CASE WHEN e.derivation_error IS NULL THEN {} ELSE {} END) IN ({ranks}) \
               ELSE e.source_id IN (SELECT id FROM temp.cs_rank WHERE rank IN ({ranks})) \
                 OR ({} IN ({ranks}) AND typeof(e.source_id) <> 'integer' \
                     AND e.source_id NOT IN (SELECT id FROM temp.cs_rank)) END)",
            Status::Unverifiable.rank(),
            Status::Failed.rank(),
            Status::Missing.rank()
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
            // A shell's `[!...]` negates as SQLite's `[^...]` does (and as the other kinds of
            // cache read it); SQLite alone would take the `!` literally and select the opposite.
            terms.push("e.function GLOB ?".into());
            params.push(Box::new(g.replace("[!", "[^")));
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
            let ids: Vec<Value> = ids.iter().map(|id| Value::Integer(id.0)).collect();
            params.push(Box::new(Rc::new(ids)));
        }
        let sql = if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        };
        (sql, params)
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
