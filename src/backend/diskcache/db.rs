//! python-diskcache caches, read in place with SQLite (checked against diskcache 5.6.3).
//!
//! * `Cache(directory)`: `directory/cache.db`, WAL, tables `Settings(key TEXT NOT NULL UNIQUE,
//!   value)` and `Cache(rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER, store_time REAL,
//!   expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0, tag BLOB, size INTEGER
//!   DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB)`, unique index on
//!   `(key, raw)`. Triggers keep `Settings.count` (insert/delete) and `Settings.size`
//!   (insert/update/delete) current.
//! * Keys: `str`, `bytes`, `float` and `int` within i64 are stored natively (TEXT, BLOB, REAL,
//!   INTEGER) with `raw = 1`; anything else (tuples, big ints...) is a pickle
//!   (`disk_pickle_protocol`, default 5, run through `pickletools.optimize`) with `raw = 0`.
//!   `memoize` keys are such pickled tuples (see [`crate::pickle::memo_key`]).
//! * Values: mode 1 raw (int/float/small str/small bytes inline), 2 binary file, 3 text file
//!   (every str of `disk_min_file_size` = 32 KiB or more), 4 pickle (inline below 32 KiB, else
//!   a file). Files live at `directory/xx/yy/<28 hex>.val` (`filename`, relative); `size` is the
//!   file's size, 0 for inline values.
//! * `FanoutCache(directory, shards=8)`: `directory/000/cache.db`, `001/`, ... each a `Cache`.
//!
//! Nothing here unpickles: keys are rendered by the opcode walker in [`crate::pickle`].

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// diskcache's database file name.
pub const DBNAME: &str = "cache.db";
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The columns diskcache's `Cache` table has.
pub const CACHE_COLUMNS: [&str; 12] = [
    "rowid",
    "key",
    "raw",
    "store_time",
    "expire_time",
    "access_time",
    "access_count",
    "tag",
    "size",
    "mode",
    "filename",
    "value",
];

/// Errors naming the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum DiskcacheError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{0}: not an SQLite database")]
    NotSqlite(PathBuf),
    #[error("{0}: SQLite database without diskcache's Cache and Settings tables")]
    NotDiskcache(PathBuf),
    #[error("{0}: not a diskcache directory, cache.db or FanoutCache directory")]
    NotFound(PathBuf),
}

fn sql_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> DiskcacheError + '_ {
    move |source| DiskcacheError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// A diskcache found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A `Cache` directory and its `cache.db`.
    Cache { dir: PathBuf, db: PathBuf },
    /// A `FanoutCache` directory and its shard directories (`000`, `001`, ...), in order.
    Fanout { dir: PathBuf, shards: Vec<PathBuf> },
}

impl Layout {
    /// Every `(directory, cache.db)` of the layout.
    pub fn databases(&self) -> Vec<(PathBuf, PathBuf)> {
        match self {
            Layout::Cache { dir, db } => vec![(dir.clone(), db.clone())],
            Layout::Fanout { shards, .. } => {
                shards.iter().map(|s| (s.clone(), s.join(DBNAME))).collect()
            }
        }
    }
}

/// Whether `db` is an SQLite file with diskcache's `Cache` (all its columns) and `Settings`
/// tables. `Ok(false)`-like cases are errors naming why, so callers can report them.
pub fn check_db(db: &Path) -> Result<(), DiskcacheError> {
    let mut head = [0u8; 100];
    let mut f = fs::File::open(db).map_err(|source| DiskcacheError::Io {
        path: db.to_path_buf(),
        source,
    })?;
    if f.read_exact(&mut head).is_err() || &head[..16] != SQLITE_MAGIC {
        return Err(DiskcacheError::NotSqlite(db.to_path_buf()));
    }
    // diskcache never sets an application_id: a file that has one (a cachescope store, another
    // program's database) is not opened here at all, so SQLite leaves nothing beside it.
    if head[68..72] != [0, 0, 0, 0] {
        return Err(DiskcacheError::NotDiskcache(db.to_path_buf()));
    }
    // SQLite creates `-wal`/`-shm` beside a WAL database even for a reader: when the file turns
    // out not to be a readable diskcache, the ones this check created go again.
    let side = |ext: &str| PathBuf::from(format!("{}-{ext}", db.display()));
    let (wal, shm) = (side("wal"), side("shm"));
    let (had_wal, had_shm) = (wal.exists(), shm.exists());
    let checked = check_tables(db);
    if checked.is_err() {
        if !had_wal && fs::metadata(&wal).is_ok_and(|m| m.len() == 0) {
            let _ = fs::remove_file(&wal);
        }
        if !had_shm {
            let _ = fs::remove_file(&shm);
        }
    }
    checked
}

fn check_tables(db: &Path) -> Result<(), DiskcacheError> {
    let conn = open_ro(db)?;
    let cols = |table: &str| -> Result<Vec<String>, DiskcacheError> {
        let mut st = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(sql_err(db))?;
        let names = st
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(sql_err(db))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err(db))?;
        Ok(names)
    };
    let cache = cols("Cache")?;
    let settings = cols("Settings")?;
    let has_all = CACHE_COLUMNS
        .iter()
        .all(|c| cache.iter().any(|n| n.eq_ignore_ascii_case(c)));
    if !has_all || settings != ["key", "value"] {
        return Err(DiskcacheError::NotDiskcache(db.to_path_buf()));
    }
    Ok(())
}

/// Finds a diskcache at `path`: a `Cache` directory, its `cache.db`, or a `FanoutCache`
/// directory (numbered shard directories each holding a diskcache `cache.db`).
pub fn detect(path: &Path) -> Result<Layout, DiskcacheError> {
    if path.is_file() {
        check_db(path)?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        return Ok(Layout::Cache {
            dir,
            db: path.to_path_buf(),
        });
    }
    let db = path.join(DBNAME);
    if db.is_file() {
        check_db(&db)?;
        return Ok(Layout::Cache {
            dir: path.to_path_buf(),
            db,
        });
    }
    let rd = fs::read_dir(path).map_err(|source| DiskcacheError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut shards: Vec<(u32, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = (name.len() == 3 && name.bytes().all(|b| b.is_ascii_digit()))
                .then(|| name.parse::<u32>().ok())??;
            (e.path().join(DBNAME).is_file()).then(|| (n, e.path()))
        })
        .collect();
    shards.sort();
    // FanoutCache numbers its shards 000..n-1 with none missing
    if shards.is_empty()
        || shards
            .iter()
            .enumerate()
            .any(|(i, (n, _))| *n as usize != i)
    {
        return Err(DiskcacheError::NotFound(path.to_path_buf()));
    }
    for (_, s) in &shards {
        check_db(&s.join(DBNAME))?;
    }
    Ok(Layout::Fanout {
        dir: path.to_path_buf(),
        shards: shards.into_iter().map(|(_, p)| p).collect(),
    })
}

/// Opens `db` read-only (a WAL database's `-shm` may still be created by SQLite) with the
/// `cs_memo_name` function registered.
pub fn open_ro(db: &Path) -> Result<Connection, DiskcacheError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(db))?;
    conn.busy_timeout(Duration::from_secs(60))
        .map_err(sql_err(db))?;
    register_functions(&conn).map_err(sql_err(db))?;
    Ok(conn)
}

/// Registers `cs_memo_name(key, raw)`: the `memoize` full name of a pickled key (`raw = 0`,
/// BLOB) that is a tuple starting with a str and holding the `None` marker; else NULL.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "cs_memo_name",
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            let raw = ctx.get_raw(1);
            if !matches!(raw, ValueRef::Integer(0)) {
                return Ok(None);
            }
            Ok(match ctx.get_raw(0) {
                ValueRef::Blob(b) => crate::pickle::memo_name(b),
                _ => None,
            })
        },
    )
}

/// The Settings table (`eviction_policy`, `count`, `size`, `disk_min_file_size`, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub values: BTreeMap<String, Value>,
}

impl Settings {
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.values.get(key) {
            Some(Value::Integer(i)) => Some(*i),
            Some(Value::Real(f)) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    /// `least-recently-stored` (diskcache's default), `least-recently-used`,
    /// `least-frequently-used` or `none`. Only the LRU/LFU policies move `access_time` /
    /// `access_count` on reads.
    pub fn eviction_policy(&self) -> Option<&str> {
        self.text("eviction_policy")
    }
}

pub fn read_settings(conn: &Connection, db: &Path) -> Result<Settings, DiskcacheError> {
    let mut st = conn
        .prepare("SELECT key, value FROM Settings")
        .map_err(sql_err(db))?;
    let values = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?)))
        .map_err(sql_err(db))?
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(sql_err(db))?;
    Ok(Settings { values })
}

/// One line of the per-function summary.
#[derive(Clone, Debug, PartialEq)]
pub struct FuncSummary {
    /// The memoize full name; `None` gathers every key that is not a memoize key.
    pub name: Option<String>,
    pub entries: i64,
    /// Sum of `size` (file-backed values only; inline values count 0, as in diskcache).
    pub bytes: i64,
}

/// The summary SQL: streams in SQLite, one row per function.
pub const SUMMARY_SQL: &str =
    "SELECT cs_memo_name(key, raw), count(*), total(size) FROM Cache GROUP BY 1 ORDER BY 1";

/// Entries and bytes per memoized function (and one `None` line for other keys).
pub fn summary(conn: &Connection, db: &Path) -> Result<Vec<FuncSummary>, DiskcacheError> {
    let mut st = conn.prepare(SUMMARY_SQL).map_err(sql_err(db))?;
    let rows = st
        .query_map([], |r| {
            Ok(FuncSummary {
                name: r.get(0)?,
                entries: r.get(1)?,
                bytes: r.get::<_, f64>(2)? as i64,
            })
        })
        .map_err(sql_err(db))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err(db))?;
    Ok(rows)
}

/// A row as listed, to be purged only if still the same: `rowid`, `store_time` and `key`
/// (and `raw`) must match when the purge runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRef {
    pub rowid: i64,
    pub store_time: Option<f64>,
    pub key: Value,
    pub raw: Option<i64>,
}

/// Reads the identity of rows (for [`purge`]) by a WHERE clause over `Cache`.
pub fn row_refs(
    conn: &Connection,
    db: &Path,
    where_sql: &str,
) -> Result<Vec<RowRef>, DiskcacheError> {
    let sql =
        format!("SELECT rowid, store_time, key, raw FROM Cache WHERE {where_sql} ORDER BY rowid");
    let mut st = conn.prepare(&sql).map_err(sql_err(db))?;
    let rows = st
        .query_map([], |r| {
            Ok(RowRef {
                rowid: r.get(0)?,
                store_time: r.get(1)?,
                key: r.get(2)?,
                raw: r.get(3)?,
            })
        })
        .map_err(sql_err(db))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err(db))?;
    Ok(rows)
}

/// What [`purge`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Rows deleted.
    pub deleted: usize,
    /// Their rowids.
    pub deleted_rowids: Vec<i64>,
    /// Rows skipped because they were gone or had changed (new store_time or key) since listed.
    pub changed: usize,
    /// Value files unlinked.
    pub files_removed: usize,
    /// Bytes of the `size` column of deleted rows.
    pub bytes: u64,
    /// Value files that could not be removed: one line each, naming the file.
    pub file_errors: Vec<String>,
}

/// Rows deleted by the first transaction; later batches grow or shrink so each holds the write
/// lock about [`BATCH_TARGET`] (a writer waiting on the lock waits at most that long, then
/// gets it between batches) without paying a commit per hundred rows on a large purge.
pub const PURGE_BATCH: usize = 100;
const MAX_BATCH: usize = 100_000;
const BATCH_TARGET: Duration = Duration::from_millis(250);

/// Deletes `rows` from the diskcache in `dir` the way diskcache deletes: `BEGIN IMMEDIATE`
/// (busy timeout 60 s, diskcache's default), delete rows that are unchanged, `COMMIT`, then
/// unlink the value files of the deleted rows that no remaining row references, and remove
/// their now-empty `xx/yy` folders (like diskcache's `Disk.remove`). `Settings.count` and
/// `Settings.size` are kept by diskcache's triggers.
pub fn purge(dir: &Path, rows: &[RowRef]) -> Result<PurgeReport, DiskcacheError> {
    let mut report = PurgeReport::default();
    purge_with_progress(dir, rows, &mut report, &mut |_| {})?;
    Ok(report)
}

/// [`purge`] into `report`, calling `progress(rows handled so far)` after each transaction. On
/// an error, `report` holds what the committed transactions removed.
pub fn purge_with_progress(
    dir: &Path,
    rows: &[RowRef],
    report: &mut PurgeReport,
    progress: &mut dyn FnMut(usize),
) -> Result<(), DiskcacheError> {
    let (db, mut conn) = open_for_purge(dir)?;
    let mut size = PURGE_BATCH;
    let mut done = 0;
    while done < rows.len() {
        let batch = &rows[done..(done + size).min(rows.len())];
        let started = std::time::Instant::now();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql_err(&db))?;
        let mut files = Vec::new();
        // Counted apart until the transaction commits.
        let mut batch_report = PurgeReport::default();
        {
            let mut del = tx
                .prepare_cached(
                    "DELETE FROM Cache WHERE rowid = ?1 AND store_time IS ?2 AND key IS ?3 \
                     AND raw IS ?4 RETURNING filename, size",
                )
                .map_err(sql_err(&db))?;
            for r in batch {
                let hit: Option<(Option<String>, Option<i64>)> = del
                    .query_row(params![r.rowid, r.store_time, r.key, r.raw], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
                    .map_err(sql_err(&db))?;
                match hit {
                    Some((file, size)) => {
                        batch_report.deleted += 1;
                        batch_report.deleted_rowids.push(r.rowid);
                        batch_report.bytes += size.unwrap_or(0).max(0) as u64;
                        files.extend(file);
                    }
                    None => batch_report.changed += 1,
                }
            }
        }
        drop_still_referenced(&tx, &db, &mut files)?;
        tx.commit().map_err(sql_err(&db))?;
        report.deleted += batch_report.deleted;
        report.changed += batch_report.changed;
        report.bytes += batch_report.bytes;
        report.deleted_rowids.extend(batch_report.deleted_rowids);
        for f in files {
            remove_value_file(dir, &f, report);
        }
        done += batch.len();
        progress(done);
        size = next_batch_size(batch.len(), size, started);
    }
    Ok(())
}

/// Opens `dir`'s cache.db for a purge: diskcache's busy timeout (60 s) and synchronous setting,
/// fewer checkpoints and a page cache that holds the key index.
fn open_for_purge(dir: &Path) -> Result<(PathBuf, Connection), DiskcacheError> {
    let db = dir.join(DBNAME);
    check_db(&db)?;
    let conn = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(&db))?;
    conn.busy_timeout(Duration::from_secs(60))
        .map_err(sql_err(&db))?;
    // diskcache's own setting (`sqlite_synchronous = 1`): in WAL mode a commit waits for no
    // fsync, only checkpoints do.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err(&db))?;
    // Fewer, larger checkpoints than SQLite's 1000-page default (the WAL stays under 32 MiB),
    // and a page cache that holds the key index: rows go in rowid order, their index entries
    // do not.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)
        .map_err(sql_err(&db))?;
    conn.pragma_update(None, "cache_size", -65_536)
        .map_err(sql_err(&db))?;
    rusqlite::vtab::array::load_module(&conn).map_err(sql_err(&db))?;
    Ok((db, conn))
}

/// Deletes the rows of `rowids` that still satisfy `condition` (SQL over `Cache`, re-checked
/// inside each transaction so a row rewritten since it was selected survives), in
/// `BEGIN IMMEDIATE` batches of about [`BATCH_TARGET`], then unlinks the value files no row
/// references. `setup` registers the SQL functions `condition` uses. On an error, `report`
/// holds what the committed batches removed.
#[allow(clippy::too_many_arguments)]
pub fn delete_rows(
    dir: &Path,
    rowids: &[i64],
    condition: &str,
    params: &[Value],
    setup: &dyn Fn(&Connection) -> rusqlite::Result<()>,
    report: &mut PurgeReport,
    progress: &mut dyn FnMut(usize),
    cancelled: &dyn Fn() -> bool,
) -> Result<(), DiskcacheError> {
    let (db, mut conn) = open_for_purge(dir)?;
    setup(&conn).map_err(sql_err(&db))?;
    let sql = if condition.is_empty() {
        "DELETE FROM Cache WHERE rowid IN rarray(?) RETURNING rowid, filename, size".to_string()
    } else {
        format!(
            "DELETE FROM Cache WHERE ({condition}) AND rowid IN rarray(?) \
             RETURNING rowid, filename, size"
        )
    };
    let mut size = PURGE_BATCH;
    let mut done = 0;
    while done < rowids.len() && !cancelled() {
        let batch = &rowids[done..(done + size).min(rowids.len())];
        let started = std::time::Instant::now();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql_err(&db))?;
        let mut files = Vec::new();
        let mut deleted = Vec::with_capacity(batch.len());
        let mut bytes = 0u64;
        {
            let ids: std::rc::Rc<Vec<Value>> =
                std::rc::Rc::new(batch.iter().map(|&r| Value::Integer(r)).collect());
            let mut all: Vec<&dyn rusqlite::ToSql> =
                params.iter().map(|p| p as &dyn rusqlite::ToSql).collect();
            all.push(&ids);
            let mut del = tx.prepare_cached(&sql).map_err(sql_err(&db))?;
            let mut rows = del.query(all.as_slice()).map_err(sql_err(&db))?;
            while let Some(r) = rows.next().map_err(sql_err(&db))? {
                deleted.push(r.get::<_, i64>(0).map_err(sql_err(&db))?);
                files.extend(r.get::<_, Option<String>>(1).map_err(sql_err(&db))?);
                bytes += r
                    .get::<_, Option<i64>>(2)
                    .map_err(sql_err(&db))?
                    .unwrap_or(0)
                    .max(0) as u64;
            }
        }
        drop_still_referenced(&tx, &db, &mut files)?;
        tx.commit().map_err(sql_err(&db))?;
        report.deleted += deleted.len();
        report.changed += batch.len() - deleted.len();
        report.bytes += bytes;
        report.deleted_rowids.extend(deleted);
        for f in files {
            remove_value_file(dir, &f, report);
        }
        done += batch.len();
        progress(done);
        size = next_batch_size(batch.len(), size, started);
    }
    Ok(())
}

/// Keeps in `files` only the value files that no row still references (checked inside the
/// purge's transaction, so a row written meanwhile keeps its file).
fn drop_still_referenced(
    tx: &rusqlite::Transaction,
    db: &Path,
    files: &mut Vec<String>,
) -> Result<(), DiskcacheError> {
    if files.is_empty() {
        return Ok(());
    }
    let names: std::rc::Rc<Vec<Value>> =
        std::rc::Rc::new(files.iter().cloned().map(Value::Text).collect());
    let still: Vec<String> = tx
        .prepare("SELECT filename FROM Cache WHERE filename IN rarray(?1)")
        .and_then(|mut st| {
            st.query_map([names], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(sql_err(db))?;
    files.retain(|f| !still.contains(f));
    Ok(())
}

/// The next batch's size, aimed at [`BATCH_TARGET`] of lock time from how long the last batch
/// of `last_len` rows took; it grows at most fourfold at a time.
fn next_batch_size(last_len: usize, size: usize, started: std::time::Instant) -> usize {
    let took = started.elapsed().max(Duration::from_micros(100));
    let scaled = (last_len as f64 * BATCH_TARGET.as_secs_f64() / took.as_secs_f64()) as usize;
    scaled.clamp(PURGE_BATCH, MAX_BATCH).min(size * 4)
}

/// Whether a `filename` column stays inside the cache directory: diskcache writes relative
/// `xx/yy/name.val` paths, and anything else (absolute, `..`) is never read or removed.
pub fn safe_relative(rel: &str) -> bool {
    let rel_path = Path::new(rel);
    !rel_path.is_absolute()
        && rel_path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn remove_value_file(dir: &Path, rel: &str, report: &mut PurgeReport) {
    let rel_path = Path::new(rel);
    if !safe_relative(rel) {
        report.file_errors.push(format!(
            "{}: value file path leaves the cache directory",
            dir.join(rel).display()
        ));
        return;
    }
    let full = dir.join(rel_path);
    match fs::remove_file(&full) {
        Ok(()) => report.files_removed += 1,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            report.file_errors.push(format!("{}: {e}", full.display()));
            return;
        }
    }
    // os.removedirs: drop empty parents, stopping at the first that is not empty
    let mut d = full.parent();
    while let Some(p) = d {
        if p == dir || !p.starts_with(dir) || fs::remove_dir(p).is_err() {
            break;
        }
        d = p.parent();
    }
}

#[cfg(test)]
mod tests;
