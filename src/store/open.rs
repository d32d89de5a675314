//! Opening a store and proving it is one before anything else touches it.

use super::{Store, StoreError, APPLICATION_ID, FORMAT_VERSION};
use crate::db_file::{sidecars, ReadOpen};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Tables and the columns cachescope reads from them; a store missing any is refused.
const REQUIRED: &[(&str, &[&str])] = &[
    ("meta", &["key", "value"]),
    (
        "sources",
        &[
            "id",
            "path",
            "span_start",
            "span_end",
            "digest",
            "size",
            "mtime_ns",
            "recorded_at",
            "content",
        ],
    ),
    (
        "entries",
        &[
            "id",
            "namespace",
            "function",
            "key",
            "strategy",
            "derivation_error",
            "source_id",
            "value",
            "value_size",
            "value_type",
            "created_at",
            "accessed_at",
            "hits",
            "expires_at",
        ],
    ),
];

#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Open with a read-only connection (every command that does not write).
    pub read_only: bool,
    /// How long to wait for a producer's lock before giving up with [`StoreError::Busy`].
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: true,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Opens an existing store. Never creates a file; refuses anything that is not a store of a
    /// format this build reads, with an error naming the file and the reason.
    ///
    /// The file is opened at its real path (symlinks resolved), and remembered by device,
    /// inode and header: [`Store::check_same_file`] tells when the path names another file.
    /// A read-only open of a WAL store in a directory this user cannot write (another user's
    /// store over SSH) is made `immutable` when no `-wal` file exists, with a warning; with a
    /// `-wal` but no `-shm`, it cannot be read and the error says why.
    pub fn open(path: &Path, options: &OpenOptions) -> Result<Store, StoreError> {
        let header = precheck_file(path)?;
        let real_path = std::fs::canonicalize(path).map_err(|cause| StoreError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        if header.application_id != APPLICATION_ID && header.application_id != 0 {
            return Err(StoreError::WrongApplication {
                path: path.to_path_buf(),
                id: header.application_id,
            });
        }
        if header.user_version > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                path: path.to_path_buf(),
                found: header.user_version,
            });
        }
        let identity = Identity::of(path, &header)?;
        let existed = sidecars(&real_path).map(|p| p.exists());
        Store::connect(path, real_path.clone(), identity, &header, options).inspect_err(|_| {
            // A refused file keeps no trace of us: remove the -wal/-shm that opening created.
            for (sidecar, existed) in sidecars(&real_path).iter().zip(existed) {
                if !existed {
                    let _ = std::fs::remove_file(sidecar);
                }
            }
        })
    }

    fn connect(
        path: &Path,
        real_path: PathBuf,
        identity: Identity,
        header: &Header,
        options: &OpenOptions,
    ) -> Result<Store, StoreError> {
        let flags = if options.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let to_err = |e| StoreError::from_sqlite(path, options.busy_timeout, e);
        let mut warnings = Vec::new();
        let immutable = options.read_only && header.wal && needs_immutable(path, &real_path)?;
        let conn = if immutable {
            warnings.push(format!(
                "{}: opened immutable: this user cannot write {} to create the store's -shm file, \
                 so writes made while cachescope runs are not seen",
                path.display(),
                crate::db_file::dir_of(&real_path).display()
            ));
            Connection::open_with_flags(
                crate::db_file::immutable_uri(&real_path),
                flags | OpenFlags::SQLITE_OPEN_URI,
            )
        } else {
            Connection::open_with_flags(&real_path, flags)
        }
        .map_err(to_err)?;
        // rusqlite panics past what SQLite takes; nobody means to wait longer than 24 days.
        conn.busy_timeout(options.busy_timeout.min(super::MAX_BUSY_TIMEOUT))
            .map_err(to_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            real_path,
            identity,
            immutable,
            read_only: options.read_only,
            busy_timeout: options.busy_timeout,
            has_dependencies: false,
            source_index: false,
            error_index: None,
            malformed_source_ids: Default::default(),
            expiry_index: false,
            warnings,
        };
        store.identify()?;
        rusqlite::vtab::array::load_module(&store.conn).map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Reads the header pragmas and the schema: SQLite accepts any file at open and only fails
    /// at the first query, so this is that first query.
    fn identify(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let corrupt = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase)
            | Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            },
            _ => StoreError::from_sqlite(&path, self.busy_timeout, e),
        };
        let tables: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
                .map_err(corrupt)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(corrupt)?;
            rows.collect::<Result<_, _>>().map_err(corrupt)?
        };
        let app_id: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(corrupt)?;
        let user_version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;

        if app_id != APPLICATION_ID && app_id != 0 {
            return Err(StoreError::WrongApplication { path, id: app_id });
        }
        // What the connection sees (the -wal included) is what later checks compare with.
        self.identity.application_id = app_id;
        self.identity.user_version = user_version;
        if user_version > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                path,
                found: user_version,
            });
        }
        for (table, columns) in REQUIRED {
            if !tables.iter().any(|t| t == table) {
                return Err(StoreError::NotAStore {
                    path,
                    what: format!("table `{table}` is missing"),
                });
            }
            let present = self.columns(table).map_err(corrupt)?;
            if let Some(col) = columns.iter().find(|c| !present.iter().any(|p| p == *c)) {
                return Err(StoreError::NotAStore {
                    path,
                    what: format!("table `{table}` has no column `{col}`"),
                });
            }
        }
        let format_version: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'format_version'",
                [],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(corrupt)?;
        if let Some(v) = format_version {
            match v.trim().parse::<i64>() {
                Ok(found) if found > FORMAT_VERSION => {
                    return Err(StoreError::NewerFormat { path, found })
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(StoreError::NotAStore {
                        path,
                        what: format!("meta format_version {v:?} is not a number"),
                    })
                }
            }
        }
        if app_id == 0 {
            self.warnings.push(format!(
                "{}: application_id is not set; the tables match format 1, so the store is read as one",
                path.display()
            ));
        } else if user_version < FORMAT_VERSION {
            self.warnings.push(format!(
                "{}: user_version is {user_version}, expected {FORMAT_VERSION}; reading as format 1",
                path.display()
            ));
        }
        let leads = |column: &str| {
            self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_index_list('entries') l \
                 JOIN pragma_index_info(l.name) i WHERE i.seqno = 0 AND i.name = ?1)",
                [column],
                |r| r.get::<_, bool>(0),
            )
        };
        self.source_index = leads("source_id").map_err(corrupt)?;
        self.expiry_index = leads("expires_at").map_err(corrupt)?;
        self.error_index = self
            .conn
            .query_row(
                "SELECT l.name FROM pragma_index_list('entries') l WHERE l.partial = 1 \
                 AND (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = 'strategy' \
                 AND (SELECT count(DISTINCT name) FROM pragma_index_info(l.name) WHERE name IN \
                   ('derivation_error', 'source_id', 'value_size')) = 3",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(corrupt)?;
        self.has_dependencies = tables.iter().any(|t| t == "entry_dependencies")
            && self
                .columns("entry_dependencies")
                .map_err(corrupt)?
                .iter()
                .filter(|c| *c == "entry_id" || *c == "source_id")
                .count()
                == 2;
        Ok(())
    }

    fn columns(&self, table: &str) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1)")?;
        let rows = stmt.query_map([table], |r| r.get(0))?;
        rows.collect()
    }
}

/// What the 100-byte database header says, read before SQLite opens the file.
struct Header {
    user_version: i64,
    application_id: i64,
    /// The file is in WAL mode (header bytes 18 and 19 are 2).
    wal: bool,
}

/// Which file a path named when the store was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: u64,
    ino: u64,
    application_id: i64,
    user_version: i64,
}

impl Identity {
    fn of(path: &Path, header: &Header) -> Result<Identity, StoreError> {
        let meta = std::fs::metadata(path).map_err(|cause| StoreError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            application_id: header.application_id,
            user_version: header.user_version,
        })
    }
}

impl Store {
    /// Checks that the path still names the file that was opened: same device and inode, same
    /// application_id and user_version. A deleted store (or a removed directory), a file put in
    /// its place, or a rewritten header is [`StoreError::Replaced`].
    pub fn check_same_file(&self) -> Result<(), StoreError> {
        let gone = |what: &str| StoreError::Replaced {
            path: self.path.clone(),
            what: what.to_string(),
        };
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(gone(
                    "the store file was deleted (or its directory removed)",
                ))
            }
            Err(e) => return Err(gone(&format!("the store file cannot be checked ({e})"))),
        };
        if (meta.dev(), meta.ino()) != (self.identity.dev, self.identity.ino) {
            return Err(gone("the path names another file (the store was replaced)"));
        }
        // Through the connection: in WAL mode a new header may still be in the -wal file.
        let pragma = |name: &str| -> Option<i64> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .ok()
        };
        if pragma("application_id") != Some(self.identity.application_id)
            || pragma("user_version") != Some(self.identity.user_version)
        {
            return Err(gone("the store file's header changed"));
        }
        Ok(())
    }
}

impl Drop for Store {
    /// Closes the connection; when the store file was deleted meanwhile, also removes the
    /// `-wal`/`-shm` files this connection kept open beside it (checked by inode, so files of
    /// a new store at the same path are left alone).
    fn drop(&mut self) {
        let deleted = matches!(std::fs::metadata(&self.real_path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        if !deleted {
            return;
        }
        let ours: Vec<(PathBuf, Option<(u64, u64)>)> = sidecars(&self.real_path)
            .into_iter()
            .map(|p| {
                let id = std::fs::metadata(&p).ok().map(|m| (m.dev(), m.ino()));
                (p, id)
            })
            .collect();
        if let Ok(conn) = Connection::open_in_memory() {
            let _ = std::mem::replace(&mut self.conn, conn).close();
        }
        for (p, id) in ours {
            let now = std::fs::metadata(&p).ok().map(|m| (m.dev(), m.ino()));
            if id.is_some() && now == id {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Whether a read-only open of a WAL store must be immutable: SQLite needs the `-shm` file,
/// and this user cannot create it. Errors when the store cannot be read at all.
fn needs_immutable(path: &Path, real_path: &Path) -> Result<bool, StoreError> {
    match crate::db_file::read_open(real_path) {
        ReadOpen::Normal => Ok(false),
        ReadOpen::Immutable => Ok(true),
        ReadOpen::Blocked(dir) => Err(StoreError::Unreadable {
            path: path.to_path_buf(),
            why: format!(
                "it has a -wal file but no -shm file, and this user cannot write {} to create \
                 one; run cachescope as the store's owner, start the app that writes it (it \
                 creates the -shm), or copy the store with its -wal file to a writable directory",
                dir.display()
            ),
        }),
    }
}

/// Checks the path before SQLite sees it: SQLite would create a missing file, treat an empty one
/// as a fresh database, and block forever opening a FIFO. Reading the header ourselves also
/// refuses another application's database or a newer format before SQLite opens it, so no
/// `-wal`/`-shm` file appears beside a file that is not ours.
fn precheck_file(path: &Path) -> Result<Header, StoreError> {
    let p = || path.to_path_buf();
    let io = |cause| StoreError::Io { path: p(), cause };
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::NotFound { path: p() },
        _ => io(e),
    })?;
    if meta.is_dir() {
        return Err(StoreError::IsDirectory { path: p() });
    }
    if !meta.is_file() {
        return Err(StoreError::NotAFile { path: p() });
    }
    if meta.len() == 0 {
        return Err(StoreError::Empty { path: p() });
    }
    let header = crate::db_file::read_head(path, 100).map_err(io)?;
    if header.len() < 100 || &header[..16] != SQLITE_MAGIC {
        return Err(StoreError::NotSqlite { path: p() });
    }
    let be32 =
        |at: usize| i32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes")) as i64;
    Ok(Header {
        user_version: be32(60),
        application_id: be32(68),
        wal: header[18] == 2 && header[19] == 2,
    })
}
