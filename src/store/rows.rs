//! Plain rows as read from the store.

use crate::status::Status;
use rusqlite::Row;

/// A fingerprint source row (without its content snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub id: i64,
    pub path: String,
    /// 1-based inclusive line span; `None` = the whole file.
    pub span: Option<(u64, u64)>,
    pub digest: String,
    pub size: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub recorded_at: i64,
    /// Byte length of the content snapshot, when the producer kept one (the block's length).
    pub content_len: Option<u64>,
    /// Set when the row's span columns break the format (one NULL, start > end, start < 1).
    pub invalid_span: bool,
}

// `length(content)` comes from the record header: the snapshot itself is not read.
pub(crate) const SOURCE_COLUMNS: &str =
    "id, path, span_start, span_end, digest, size, mtime_ns, recorded_at, length(content)";

impl SourceRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<SourceRow> {
        let start: Option<i64> = r.get(2)?;
        let end: Option<i64> = r.get(3)?;
        let (span, invalid_span) = match (start, end) {
            (None, None) => (None, false),
            (Some(s), Some(e)) if s >= 1 && s <= e => (Some((s as u64, e as u64)), false),
            _ => (None, true),
        };
        Ok(SourceRow {
            id: r.get(0)?,
            path: r.get(1)?,
            span,
            digest: r.get(4)?,
            size: r.get(5)?,
            mtime_ns: r.get(6)?,
            recorded_at: r.get(7)?,
            content_len: r.get::<_, Option<i64>>(8)?.map(|n| n.max(0) as u64),
            invalid_span,
        })
    }
}

/// One entry as listed: every column but the value blob.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub id: i64,
    pub namespace: String,
    pub function: String,
    pub key: String,
    pub strategy: String,
    pub derivation_error: Option<String>,
    pub source_id: Option<i64>,
    pub source_path: Option<String>,
    pub value_size: i64,
    pub value_type: Option<String>,
    pub created_at: i64,
    pub accessed_at: Option<i64>,
    pub hits: i64,
    pub expires_at: Option<i64>,
    /// The entry's status when verification results were loaded into the store connection.
    pub status: Option<Status>,
}

pub(crate) const ENTRY_COLUMNS: &str = "e.id, e.namespace, e.function, e.key, e.strategy, \
     e.derivation_error, e.source_id, (SELECT path FROM sources WHERE id = e.source_id), \
     e.value_size, e.value_type, e.created_at, e.accessed_at, e.hits, e.expires_at";

impl EntryRow {
    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<EntryRow> {
        Ok(EntryRow {
            id: r.get(0)?,
            namespace: text(r, 1)?,
            function: text(r, 2)?,
            key: text(r, 3)?,
            strategy: text(r, 4)?,
            derivation_error: opt_text(r, 5)?,
            source_id: r.get(6)?,
            source_path: opt_text(r, 7)?,
            value_size: r.get(8)?,
            value_type: opt_text(r, 9)?,
            created_at: r.get(10)?,
            accessed_at: r.get(11)?,
            hits: r.get(12)?,
            expires_at: r.get(13)?,
            status: None,
        })
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}

/// Reads a TEXT column that a careless producer may have filled with a BLOB or a number.
fn text(r: &Row, idx: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(idx)? {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    })
}

fn opt_text(r: &Row, idx: usize) -> rusqlite::Result<Option<String>> {
    match r.get_ref(idx)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => text(r, idx).map(Some),
    }
}

/// Everything `show` and the detail pane need about one entry.
#[derive(Debug, Clone)]
pub struct EntryDetail {
    pub entry: EntryRow,
    pub source: Option<SourceRow>,
    /// Content snapshot of the source, when the producer kept one.
    pub source_content: Option<Vec<u8>>,
    pub dependencies: Vec<SourceRow>,
    /// The first bytes of the value (at most the preview limit asked for).
    pub value_head: Option<Vec<u8>>,
}
