//! Plain rows as read from the store.

use crate::types::{EntryId, EntryRow, SourceId, SourceRow};
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

/// Declares a row's columns once: the SQL select list and an index constant per column, so a
/// reader names the columns it reads instead of counting positions.
macro_rules! columns {
    ($module:ident, $list:ident: $first:ident = $first_sql:expr $(, $name:ident = $sql:expr)* $(,)?) => {
        #[allow(dead_code)]
        pub(crate) mod $module {
            columns!(@index 0usize; $first $(, $name)*);
            /// How many columns the list has: the index of a column appended after it.
            pub const COUNT: usize = [stringify!($first) $(, stringify!($name))*].len();
        }
        pub(crate) const $list: &str = concat!($first_sql $(, ", ", $sql)*);
    };
    (@index $n:expr; $head:ident $(, $tail:ident)*) => {
        pub const $head: usize = $n;
        columns!(@index $n + 1; $($tail),*);
    };
    (@index $n:expr;) => {};
}

columns!(source_col, SOURCE_COLUMNS:
    ID = "id",
    PATH = "path",
    SPAN_START = "span_start",
    SPAN_END = "span_end",
    DIGEST = "digest",
    SIZE = "size",
    MTIME_NS = "mtime_ns",
    RECORDED_AT = "recorded_at",
    // From the record header: the snapshot itself is not read.
    CONTENT_LEN = "length(content)",
);

impl SourceRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<SourceRow> {
        use source_col::*;
        let (span, invalid_span) = match (int(r, SPAN_START)?, int(r, SPAN_END)?) {
            (Int::Null, Int::Null) => (None, false),
            (Int::Value(s), Int::Value(e)) if s >= 1 && s <= e => {
                (Some((s as u64, e as u64)), false)
            }
            _ => (None, true),
        };
        Ok(SourceRow {
            id: SourceId(r.get(ID)?),
            path: text(r, PATH)?,
            raw_path: raw_text(r, PATH)?,
            span,
            digest: text(r, DIGEST)?,
            size: opt_int(r, SIZE)?,
            mtime_ns: opt_int(r, MTIME_NS)?,
            recorded_at: int_or(r, RECORDED_AT, 0)?,
            content_len: opt_int(r, CONTENT_LEN)?.map(|n| n.max(0) as u64),
            invalid_span,
        })
    }
}

columns!(entry_col, ENTRY_COLUMNS:
    ID = "e.id",
    NAMESPACE = "e.namespace",
    FUNCTION = "e.function",
    KEY = "e.key",
    STRATEGY = "e.strategy",
    // A derivation error longer than 4 KiB (a hostile or runaway producer) is cut when listed.
    DERIVATION_ERROR = "CASE WHEN length(e.derivation_error) > 4096 \
        THEN substr(e.derivation_error, 1, 4096) || '…' ELSE e.derivation_error END",
    SOURCE_ID = "e.source_id",
    SOURCE_PATH = "(SELECT path FROM sources WHERE id = e.source_id)",
    VALUE_SIZE = "e.value_size",
    VALUE_TYPE = "e.value_type",
    CREATED_AT = "e.created_at",
    ACCESSED_AT = "e.accessed_at",
    HITS = "e.hits",
    EXPIRES_AT = "e.expires_at",
);

impl EntryRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<EntryRow> {
        use entry_col::*;
        Ok(EntryRow {
            id: EntryId(r.get(ID)?),
            namespace: text(r, NAMESPACE)?,
            function: text(r, FUNCTION)?,
            key: text(r, KEY)?,
            strategy: text(r, STRATEGY)?,
            derivation_error: opt_text(r, DERIVATION_ERROR)?,
            source_id: opt_int(r, SOURCE_ID)?.map(SourceId),
            source_path: opt_text(r, SOURCE_PATH)?,
            value_size: int_or(r, VALUE_SIZE, 0)?,
            value_type: opt_text(r, VALUE_TYPE)?,
            created_at: opt_time_ms(r, CREATED_AT)?.unwrap_or(0),
            accessed_at: opt_time_ms(r, ACCESSED_AT)?,
            hits: int_or(r, HITS, 0)?,
            expires_at: opt_time_ms(r, EXPIRES_AT)?,
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

/// A time in Unix ms. A fraction of a millisecond (a REAL) is dropped, rounding down: SQL
/// compares the value as it is (`expires_at <= now` in `summary` and a purge of the expired),
/// and reading it as no time at all made `list` call such an entry unexpiring.
pub(crate) fn opt_time_ms(r: &Row, idx: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match r.get_ref(idx)? {
        rusqlite::types::ValueRef::Real(f) if f.is_finite() && f.abs() < 9.2e18 => {
            Some(f.floor() as i64)
        }
        _ => opt_int(r, idx)?,
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

/// A TEXT (or BLOB) column's bytes when they are not valid UTF-8, which [`text`] replaces.
pub(crate) fn raw_text(r: &Row, idx: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(idx)? {
        ValueRef::Text(t) | ValueRef::Blob(t) if std::str::from_utf8(t).is_err() => {
            Some(t.to_vec())
        }
        _ => None,
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

/// A column's value as stored, bytes and all, to bind again unchanged: rusqlite's own `Value`
/// panics on TEXT that is not UTF-8, which any producer can write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stored {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Stored {
    pub fn read(r: &Row, idx: usize) -> rusqlite::Result<Stored> {
        Ok(match r.get_ref(idx)? {
            ValueRef::Null => Stored::Null,
            ValueRef::Integer(i) => Stored::Integer(i),
            ValueRef::Real(f) => Stored::Real(f),
            ValueRef::Text(t) => Stored::Text(t.to_vec()),
            ValueRef::Blob(b) => Stored::Blob(b.to_vec()),
        })
    }
}

impl ToSql for Stored {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Stored::Null => ValueRef::Null,
            Stored::Integer(i) => ValueRef::Integer(*i),
            Stored::Real(f) => ValueRef::Real(*f),
            Stored::Text(t) => ValueRef::Text(t),
            Stored::Blob(b) => ValueRef::Blob(b),
        }))
    }
}
