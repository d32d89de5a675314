//! Plain rows as read from the store.

use crate::backend::types::{EntryId, EntryRow, SourceId, SourceRow};
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

// `length(content)` comes from the record header: the snapshot itself is not read.
pub(crate) const SOURCE_COLUMNS: &str =
    "id, path, span_start, span_end, digest, size, mtime_ns, recorded_at, length(content)";

impl SourceRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<SourceRow> {
        let (span, invalid_span) = match (int(r, 2)?, int(r, 3)?) {
            (Int::Null, Int::Null) => (None, false),
            (Int::Value(s), Int::Value(e)) if s >= 1 && s <= e => {
                (Some((s as u64, e as u64)), false)
            }
            _ => (None, true),
        };
        Ok(SourceRow {
            id: SourceId(r.get(0)?),
            path: text(r, 1)?,
            span,
            digest: text(r, 4)?,
            size: opt_int(r, 5)?,
            mtime_ns: opt_int(r, 6)?,
            recorded_at: int_or(r, 7, 0)?,
            content_len: opt_int(r, 8)?.map(|n| n.max(0) as u64),
            invalid_span,
        })
    }
}

// A derivation error longer than 4 KiB (a hostile or runaway producer) is cut when listed.
pub(crate) const ENTRY_COLUMNS: &str = "e.id, e.namespace, e.function, e.key, e.strategy, \
     CASE WHEN length(e.derivation_error) > 4096 \
          THEN substr(e.derivation_error, 1, 4096) || '…' ELSE e.derivation_error END, e.source_id, (SELECT path FROM sources WHERE id = e.source_id), \
     e.value_size, e.value_type, e.created_at, e.accessed_at, e.hits, e.expires_at";

impl EntryRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<EntryRow> {
        Ok(EntryRow {
            id: EntryId(r.get(0)?),
            namespace: text(r, 1)?,
            function: text(r, 2)?,
            key: text(r, 3)?,
            strategy: text(r, 4)?,
            derivation_error: opt_text(r, 5)?,
            source_id: opt_int(r, 6)?.map(SourceId),
            source_path: opt_text(r, 7)?,
            value_size: int_or(r, 8, 0)?,
            value_type: opt_text(r, 9)?,
            created_at: int_or(r, 10, 0)?,
            accessed_at: opt_int(r, 11)?,
            hits: int_or(r, 12, 0)?,
            expires_at: opt_int(r, 13)?,
            status: None,
        })
    }
}

// SQLite lets any column hold any type, and a store written by someone else's code may put
// text in an integer column. Rows are read leniently, so one bad row degrades on its own (an
// invalid span, a size of 0) instead of making the whole store unreadable.

/// What an INTEGER column holds.
pub(crate) enum Int {
    Null,
    Value(i64),
    /// Something that is not an integer (text that does not parse, a blob, a fraction).
    Bad,
}

pub(crate) fn int(r: &Row, idx: usize) -> rusqlite::Result<Int> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(idx)? {
        ValueRef::Null => Int::Null,
        ValueRef::Integer(i) => Int::Value(i),
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Int::Value(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .map_or(Int::Bad, Int::Value),
        _ => Int::Bad,
    })
}

/// An integer column that may be NULL; anything else reads as NULL.
pub(crate) fn opt_int(r: &Row, idx: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match int(r, idx)? {
        Int::Value(i) => Some(i),
        Int::Null | Int::Bad => None,
    })
}

/// A NOT NULL integer column; anything else reads as `default`.
pub(crate) fn int_or(r: &Row, idx: usize, default: i64) -> rusqlite::Result<i64> {
    Ok(opt_int(r, idx)?.unwrap_or(default))
}

/// Reads a TEXT column that a careless producer may have filled with a BLOB or a number.
pub(crate) fn text(r: &Row, idx: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(idx)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    })
}

pub(crate) fn opt_text(r: &Row, idx: usize) -> rusqlite::Result<Option<String>> {
    match r.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => text(r, idx).map(Some),
    }
}

// Ids go to and come from SQLite as the integers they are.
macro_rules! sql_id {
    ($t:ident) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($t)
            }
        }
    };
}

sql_id!(EntryId);
sql_id!(SourceId);
