//! The store: the only code that speaks SQL. Opening and identifying a store file, paged and
//! aggregate queries, the producer API and purge. It knows nothing of terminals or of how files
//! are hashed: verification results come in as per-source [`Status`] ranks.

mod id_set;
mod open;
mod producer;
mod purge;
mod query;
mod rows;

pub use crate::error::{Result, StoreError};
pub use id_set::IdSet;
pub use open::OpenOptions;
pub use producer::{NewEntry, NewSource};
pub use query::Resolve;
// The rows, filters and reports every backend shares, re-exported where the store's callers
// have always found them.
pub use crate::types::{
    Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, PurgeOutcome,
    PurgePlan, PurgeProgress, SortKey, SourceId, SourceRow, StatusesLoaded, StrategyCounts,
};

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PRAGMA application_id` of a cachescope store: "CSCP".
pub const APPLICATION_ID: i64 = 0x4353_4350;
/// The store format this build reads and writes (`PRAGMA user_version`, meta `format_version`).
pub const FORMAT_VERSION: i64 = 1;
/// The DDL of format 1, written from the format spec.
pub const SCHEMA_SQL: &str = include_str!("../../assets/schema.sql");
/// The longest busy timeout SQLite takes (it counts milliseconds in a C int); longer ones are
/// clamped to it by [`Store::open`] and refused by the CLI.
pub const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);
/// Producers keep a snapshot of fingerprinted bytes up to this size.
pub const CONTENT_SNAPSHOT_LIMIT: usize = 64 * 1024;

/// An open cache store. One struct owns the connection.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The file `path` named when opened, symlinks (`/dev/stdin`, `/proc/self/fd/N`) resolved:
    /// what SQLite opened, and whose directory relative sources resolve against.
    real_path: PathBuf,
    /// What the file was when opened; checked before every write and on each refresh.
    identity: open::Identity,
    /// Opened with SQLite's `immutable=1` (a WAL store in a directory this user cannot write).
    immutable: bool,
    read_only: bool,
    busy_timeout: Duration,
    has_dependencies: bool,
    /// Whether an index on `entries` starts with `source_id` (the format's covering index).
    source_index: bool,
    /// A partial index on `entries` led by `strategy` that also holds `derivation_error`,
    /// `source_id` and `value_size` (the format's recommended derivation-error index).
    error_index: Option<String>,
    /// Whether an index on `entries` starts with `expires_at`.
    expiry_index: bool,
    /// Whether entries or dependency rows hold a source id that is not an integer, as
    /// [`Store::dangling_source_ids`] last saw (`None`: not looked).
    malformed_source_ids: std::cell::Cell<Option<bool>>,
    warnings: Vec<String>,
}

impl Store {
    /// The store file as given by the user.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative source paths resolve against.
    pub fn base_dir(&self) -> PathBuf {
        // The real file's directory: `/dev/stdin` redirected from /srv/cache.db is in /srv.
        let parent = self.real_path.parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the store was opened immutable (see [`Store::open`]): changes made by a
    /// producer while it is open are not seen.
    pub fn is_immutable(&self) -> bool {
        self.immutable
    }

    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Whether the optional `entry_dependencies` table exists.
    pub fn has_dependencies(&self) -> bool {
        self.has_dependencies
    }

    /// Things worth telling the user that did not stop the store from opening.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// SQLite's `PRAGMA data_version`: changes when another connection commits to the file.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// A second, read-only connection to the same store, for work on another thread.
    pub fn reopen_read_only(&self) -> Result<Store> {
        Store::open(
            &self.path,
            &OpenOptions {
                read_only: true,
                busy_timeout: self.busy_timeout,
            },
        )
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, self.busy_timeout, e)
    }
}

#[cfg(test)]
mod tests;
