//! The Rust producer API: create a store, record fingerprint sources, put entries. The demo,
//! the tests and the benchmarks write stores through it, as any Rust program can.

use super::{
    OpenOptions, Result, Store, StoreError, CONTENT_SNAPSHOT_LIMIT, FORMAT_VERSION, SCHEMA_SQL,
};
use crate::digest::{self, Algorithm};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::time::Duration;

/// A fingerprint source row to record. Rows are immutable: recording the same path, span and
/// digest again returns the existing row.
#[derive(Debug, Clone, Default)]
pub struct NewSource<'a> {
    /// As recorded: absolute, or relative to the store file's directory.
    pub path: &'a str,
    pub span: Option<(u64, u64)>,
    /// `ALGO:HEX`.
    pub digest: &'a str,
    pub size: Option<i64>,
    pub mtime_ns: Option<i64>,
    pub recorded_at: i64,
    pub content: Option<&'a [u8]>,
}

/// An entry to put. An entry with the same namespace and key is replaced, with its dependency
/// rows.
#[derive(Debug, Clone, Default)]
pub struct NewEntry<'a> {
    pub namespace: &'a str,
    pub function: &'a str,
    pub key: &'a str,
    pub strategy: &'a str,
    pub derivation_error: Option<&'a str>,
    pub source_id: Option<i64>,
    pub value: Option<&'a [u8]>,
    pub value_type: Option<&'a str>,
    pub created_at: i64,
    pub accessed_at: Option<i64>,
    pub hits: i64,
    pub expires_at: Option<i64>,
    pub dependencies: &'a [i64],
}

impl Store {
    /// Creates a store at `path` (WAL mode, format 1 schema, meta rows), or opens it for writing
    /// when it already is one.
    pub fn create(path: &Path) -> Result<Store> {
        let options = OpenOptions {
            read_only: false,
            busy_timeout: Duration::from_secs(10),
        };
        let exists = std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if !exists {
            let err = |e| StoreError::from_sqlite(path, options.busy_timeout, e);
            let conn = Connection::open(path).map_err(err)?;
            conn.busy_timeout(options.busy_timeout.min(super::MAX_BUSY_TIMEOUT))
                .map_err(err)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(err)?;
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA_SQL}"))
                .map_err(err)?;
            let producer = format!("cachescope {}", env!("CARGO_PKG_VERSION"));
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            for (k, v) in [
                ("format", "cachescope-store"),
                ("format_version", &FORMAT_VERSION.to_string()),
                ("created_at", &now),
                ("producer", &producer),
            ] {
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                    [k, v],
                )
                .map_err(err)?;
            }
            conn.execute_batch("COMMIT").map_err(err)?;
        }
        Store::open(path, &options)
    }

    /// Looks up or inserts a source row, returning its id.
    pub fn record_source(&self, s: &NewSource) -> Result<i64> {
        let (start, end) = match s.span {
            Some((a, b)) => (Some(a as i64), Some(b as i64)),
            None => (None, None),
        };
        let run = || -> rusqlite::Result<i64> {
            // UNIQUE treats NULL spans as distinct, so whole-file rows are looked up first.
            let existing = self
                .conn
                .prepare_cached(
                    "SELECT id FROM sources WHERE path = ?1 AND span_start IS ?2 AND span_end IS ?3 AND digest = ?4",
                )?
                .query_row(params![s.path, start, end, s.digest], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            self.conn
                .prepare_cached(
                    "INSERT INTO sources (path, span_start, span_end, digest, size, mtime_ns, recorded_at, content) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![s.path, start, end, s.digest, s.size, s.mtime_ns, s.recorded_at, s.content])?;
            Ok(self.conn.last_insert_rowid())
        };
        run().map_err(|e| self.err(e))
    }

    /// Fingerprints `file` (whole, or a 1-based inclusive line span) with sha256 and records it.
    /// The recorded path is relative to the store's directory when the file lies under it.
    pub fn record_file(&self, file: &Path, span: Option<(u64, u64)>) -> Result<i64> {
        let io = |e| StoreError::Io {
            path: file.to_path_buf(),
            cause: e,
        };
        let bytes = std::fs::read(file).map_err(io)?;
        let meta = std::fs::metadata(file).map_err(io)?;
        let block: &[u8] = match span {
            None => &bytes,
            Some((a, b)) => {
                let lines = digest::LineIndex::new(&bytes);
                let range = lines.span(a, b).ok_or_else(|| {
                    io(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("lines {a}-{b} are past the end of the file"),
                    ))
                })?;
                &bytes[range]
            }
        };
        let digest = digest::format(Algorithm::Sha256, block);
        let absolute = std::path::absolute(file).map_err(io)?;
        let recorded = absolute
            .strip_prefix(self.base_dir())
            .map(Path::to_path_buf)
            .unwrap_or(absolute);
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64);
        self.record_source(&NewSource {
            path: &recorded.to_string_lossy(),
            span,
            digest: &digest,
            size: Some(meta.len() as i64),
            mtime_ns,
            recorded_at: chrono::Utc::now().timestamp_millis(),
            content: (span.is_some() && block.len() <= CONTENT_SNAPSHOT_LIMIT).then_some(block),
        })
    }

    /// Inserts or replaces an entry (same namespace and key) and its dependency rows.
    pub fn put_entry(&self, e: &NewEntry) -> Result<i64> {
        let run = || -> rusqlite::Result<i64> {
            let id: i64 = self
                .conn
                .prepare_cached(
                    "INSERT INTO entries (namespace, function, key, strategy, derivation_error, source_id, value, \
                     value_size, value_type, created_at, accessed_at, hits, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                     ON CONFLICT (namespace, key) DO UPDATE SET function = excluded.function, \
                     strategy = excluded.strategy, derivation_error = excluded.derivation_error, \
                     source_id = excluded.source_id, value = excluded.value, value_size = excluded.value_size, \
                     value_type = excluded.value_type, created_at = excluded.created_at, \
                     accessed_at = excluded.accessed_at, hits = excluded.hits, expires_at = excluded.expires_at \
                     RETURNING id",
                )?
                .query_row(
                    params![
                        e.namespace,
                        e.function,
                        e.key,
                        e.strategy,
                        e.derivation_error,
                        e.source_id,
                        e.value,
                        e.value.map_or(0, |v| v.len() as i64),
                        e.value_type,
                        e.created_at,
                        e.accessed_at,
                        e.hits,
                        e.expires_at
                    ],
                    |r| r.get(0),
                )?;
            if self.has_dependencies {
                self.conn
                    .prepare_cached("DELETE FROM entry_dependencies WHERE entry_id = ?1")?
                    .execute([id])?;
                let mut ins = self
                    .conn
                    .prepare_cached("INSERT OR IGNORE INTO entry_dependencies (entry_id, source_id) VALUES (?1, ?2)")?;
                for dep in e.dependencies {
                    ins.execute([id, *dep])?;
                }
            }
            Ok(id)
        };
        self.write(|_| run().map_err(|e| self.err(e)))
    }

    /// Runs `f` in one write transaction (begun IMMEDIATE, so it waits for the lock up front
    /// instead of failing half-way). Nested calls join the outer transaction.
    pub fn write<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        if !self.conn.is_autocommit() {
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        // Holding the write lock, the file is checked to be the one opened: a store replaced
        // or deleted since is never written.
        if let Err(e) = self.check_same_file() {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
