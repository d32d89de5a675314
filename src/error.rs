//! Typed store errors: callers branch on them (the CLI maps them to exit codes, the TUI to
//! messages), and every one names the store file it is about.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: no such file", .path.display())]
    NotFound { path: PathBuf },
    #[error("{}: is a directory, not a store file", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: is a directory, but not a cache cachescope reads: looked for {looked_for}", .path.display())]
    UnknownCache { path: PathBuf, looked_for: String },
    #[error("{}: not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: empty file, not a cachescope store", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a SQLite database, so not a cachescope store", .path.display())]
    NotSqlite { path: PathBuf },
    #[error("{}: SQLite database of another application (application_id {id:#x}), not a cachescope store", .path.display())]
    WrongApplication { path: PathBuf, id: i64 },
    #[error("{}: store format {found} is newer than this cachescope reads (format 1); upgrade cachescope", .path.display())]
    NewerFormat { path: PathBuf, found: i64 },
    #[error("{}: not a cachescope store: {what}", .path.display())]
    NotAStore { path: PathBuf, what: String },
    /// A cache of another kind (diskcache, joblib) that was recognised but cannot be read.
    #[error("{}: {what}", .path.display())]
    BadCache { path: PathBuf, what: String },
    #[error("{}: corrupt store: {detail}", .path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: store is busy: another process held its lock for more than {}", .path.display(), humantime::format_duration(*.timeout))]
    Busy { path: PathBuf, timeout: Duration },
    #[error("{}: store is opened read-only", .path.display())]
    ReadOnly { path: PathBuf },
    /// The path no longer names the file that was opened: nothing is written to it.
    #[error("{}: {what} since it was opened; nothing was written (open it again)", .path.display())]
    Replaced { path: PathBuf, what: String },
    /// A purge stopped between batches because it was asked to (a signal).
    #[error("{}: purge stopped on request", .path.display())]
    Cancelled { path: PathBuf },
    /// A WAL store that this user cannot read as it stands.
    #[error("{}: cannot be read: {why}", .path.display())]
    Unreadable { path: PathBuf, why: String },
    // The cause is part of the message and deliberately not a `source()`: printing the error
    // chain would otherwise say it twice.
    #[error("{}: {cause}", .path.display())]
    Sqlite {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("{}: {cause}", .path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl StoreError {
    /// Classifies a SQLite error raised while working on the store at `path`.
    pub fn from_sqlite(path: &std::path::Path, timeout: Duration, err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let path = path.to_path_buf();
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { path, timeout }
            }
            Some(ErrorCode::NotADatabase) => StoreError::NotSqlite { path },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path,
                detail: err.to_string(),
            },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
            _ => StoreError::Sqlite { path, cause: err },
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
