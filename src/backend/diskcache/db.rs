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
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    #[error("{0}: cannot be read: {1}")]
    Unreadable(PathBuf, String),
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
    // Not File::open + close: that would drop the locks of this process's connections to the
    // same file (see crate::db_file).
    let head = crate::db_file::read_head(db, 100).map_err(|source| DiskcacheError::Io {
        path: db.to_path_buf(),
        source,
    })?;
    if head.len() < 100 || &head[..16] != SQLITE_MAGIC {
        return Err(DiskcacheError::NotSqlite(db.to_path_buf()));
    }
    // diskcache never sets an application_id: a file that has one (a cachescope store, another
    // program's database) is not opened here at all, so SQLite leaves nothing beside it.
    if head[68..72] != [0, 0, 0, 0] {
        return Err(DiskcacheError::NotDiskcache(db.to_path_buf()));
    }
    // SQLite creates `-wal`/`-shm` beside a WAL database even for a reader: when the file turns
    // out not to be a readable diskcache, the ones this check created go again.
    let [wal, shm] = crate::db_file::sidecars(db);
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

/// Whether `db` must be read immutable (another user's cache, a read-only mount; see
/// [`crate::db_file::read_open`]); when it cannot be read at all, the error says why and what
/// to do.
pub fn needs_immutable(db: &Path) -> Result<bool, DiskcacheError> {
    match crate::db_file::read_open(db) {
        crate::db_file::ReadOpen::Normal => Ok(false),
        crate::db_file::ReadOpen::Immutable => Ok(true),
        crate::db_file::ReadOpen::Blocked(dir) => Err(DiskcacheError::Unreadable(
            db.to_path_buf(),
            format!(
                "it has a -wal file but no -shm file, and this user cannot write {} to create \
                 one; run cachescope as the cache's owner, start the app that uses it (it \
                 creates the -shm), or copy the directory to a writable place",
                dir.display()
            ),
        )),
    }
}

/// Opens `db` read-only (a WAL database's `-shm` may still be created by SQLite; immutable
/// when it cannot be, see [`needs_immutable`]) with the `cs_memo_name` function registered.
pub fn open_ro(db: &Path) -> Result<Connection, DiskcacheError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if needs_immutable(db)? {
        Connection::open_with_flags(
            crate::db_file::immutable_uri(db),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )
    } else {
        Connection::open_with_flags(db, flags)
    }
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
                ValueRef::Blob(b) => crate::pickle::memo_name(b).map(|n| n.into_owned()),
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

/// A Settings value; text that is not UTF-8 read lossily (rusqlite's own conversion to a
/// `Value` panics on it).
fn setting_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        other => other.into(),
    }
}

pub fn read_settings(conn: &Connection, db: &Path) -> Result<Settings, DiskcacheError> {
    let mut st = conn
        .prepare("SELECT key, value FROM Settings")
        .map_err(sql_err(db))?;
    let values = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, setting_value(r.get_ref(1)?)))
        })
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

/// What [`purge`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Rows deleted.
    pub deleted: usize,
    /// Rows selected by the read before a batch that no longer matched inside its transaction
    /// (rewritten or deleted meanwhile): left alone.
    pub changed: usize,
    /// Value files unlinked.
    pub files_removed: usize,
    /// Bytes of the `size` column of deleted rows.
    pub bytes: u64,
    /// Value files that could not be removed: one line each, naming the file.
    pub file_errors: Vec<String>,
}

/// What a purge removes from one `Cache` table.
pub struct Selection<'a> {
    /// SQL over `Cache` with `?` placeholders for `params` (empty: every row), tested inside
    /// each batch's transaction.
    pub condition: &'a str,
    /// What the read before each batch tests in SQL (the same placeholders, possibly unused):
    /// `condition`, or a weaker one that `keep` completes.
    pub pick_condition: &'a str,
    pub params: &'a [Value],
    /// Registers the SQL functions the conditions use.
    pub setup: &'a dyn Fn(&Connection) -> rusqlite::Result<()>,
    /// An SQL expression over `Cache` (an integer) read with each picked row, passed to `keep`
    /// and reported with each deleted row.
    pub tag: &'a str,
    pub keep: &'a dyn Fn(i64) -> bool,
}

/// One deleted row: its `tag` and its value's size (the file's, or an inline value's length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletedRow {
    pub rowid: i64,
    pub tag: i64,
    pub bytes: u64,
}

/// Lock time aimed at per transaction while no other connection writes. Each commit rewrites
/// the pages of the key index its rows touch, spread over the whole index, so many short
/// transactions cost far more than a few longer ones: on a 1,000,000-row cache, 40 batches took
/// twice as long as one DELETE, 10 batches 1.15x.
const BATCH_TARGET: Duration = Duration::from_secs(1);
/// Lock time aimed at for [`LIVE_BATCHES`] batches after another connection committed between
/// two of ours: the app is writing, and its next write should not wait a whole second.
const LIVE_BATCH_TARGET: Duration = Duration::from_millis(250);
const LIVE_BATCHES: usize = 8;
/// Rowids read for the first batch; later spans grow (at most fourfold) or shrink toward
/// [`BATCH_TARGET`].
const FIRST_SPAN: i64 = 1000;
/// The least time between a commit and the next `BEGIN IMMEDIATE`. SQLite's busy handler (a
/// diskcache writer's, waiting up to 60 s) retries every 100 ms once it has waited a third of a
/// second, so a gap this long lets any waiting writer in.
const MIN_GAP: Duration = Duration::from_millis(100);
/// The WAL size past which a purge checkpoints between batches (its connection's automatic
/// checkpoints are off, so none runs inside a commit).
const WAL_CHECKPOINT_BYTES: u64 = 32 << 20;

/// Deletes the rows `sel` selects the way diskcache deletes: `BEGIN IMMEDIATE` (busy timeout
/// 60 s, diskcache's default), delete, `COMMIT`, then unlink the value files of the deleted rows
/// that no remaining row references and remove their now-empty `xx/yy` folders (like
/// diskcache's `Disk.remove`). `Settings.count` and `Settings.size` are kept by diskcache's
/// triggers.
///
/// The table is walked in rowid ranges: each range is read without a lock (the rows `sel`
/// picks, and their tags and sizes), then those rows are deleted in one transaction if they
/// still match. Rows written after the purge started (rowids past the last one) are never
/// looked at. `deleted` gets each batch's rows after its commit; `cancelled` is asked before
/// each batch. On an error, `report` holds what the committed batches removed.
pub fn purge<'a>(
    dir: &Path,
    sel: &Selection<'a>,
    report: &mut PurgeReport,
    deleted: &mut dyn FnMut(&[DeletedRow]),
    cancelled: &dyn Fn() -> bool,
) -> Result<(), DiskcacheError> {
    let (db, mut conn) = open_for_purge(dir)?;
    (sel.setup)(&conn).map_err(sql_err(&db))?;
    let (first, last): (Option<i64>, Option<i64>) = conn
        .query_row("SELECT min(rowid), max(rowid) FROM Cache", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(sql_err(&db))?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(());
    };
    let or_all = |c: &'a str| if c.is_empty() { "1" } else { c };
    let condition = or_all(sel.condition);
    let pick_sql = format!(
        "SELECT rowid, {}, CASE WHEN filename IS NULL THEN length(value) ELSE size END \
         FROM Cache WHERE ({}) AND rowid BETWEEN ? AND ? ORDER BY rowid",
        sel.tag,
        or_all(sel.pick_condition)
    );
    let delete_sql = format!(
        "DELETE FROM Cache WHERE ({condition}) AND rowid IN rarray(?) \
         RETURNING rowid, filename, size"
    );
    let [wal, _] = crate::db_file::sidecars(&db);
    let mut lo = first;
    let mut span = FIRST_SPAN;
    let mut committed: Option<Instant> = None;
    // Other connections' commits seen so far, and the batch count until which batches stay
    // short because one came in between two of ours.
    let mut version = data_version(&conn, &db)?;
    let mut live_until = 0;
    let mut batches = 0;
    while lo <= last && !cancelled() {
        let hi = lo.saturating_add(span - 1).min(last);
        let mut picked = pick(&conn, &db, &pick_sql, sel.params, lo, hi)?;
        picked.retain(|p| (sel.keep)(p.tag));
        let mut took = Duration::ZERO;
        if !picked.is_empty() {
            // Leave the lock free long enough for a writer's busy handler to find it.
            if let Some(gap) = committed.and_then(|t| MIN_GAP.checked_sub(t.elapsed())) {
                std::thread::sleep(gap);
            }
            let now = data_version(&conn, &db)?;
            if now != version {
                version = now;
                live_until = batches + LIVE_BATCHES;
            }
            let started = Instant::now();
            let (rows, files, committing) =
                delete_batch(&mut conn, &db, &delete_sql, sel.params, &picked, report)?;
            took = started.elapsed();
            committed = Some(Instant::now());
            batches += 1;
            for f in files {
                remove_value_file(dir, &f, report);
            }
            drop(committing);
            deleted(&rows);
            checkpoint_if_large(&conn, &db, &wal)?;
        }
        // Aim the next span at the batch target from this batch's lock time per rowid.
        let target = if batches < live_until {
            LIVE_BATCH_TARGET
        } else {
            BATCH_TARGET
        };
        let per_rowid = took.max(Duration::from_micros(200)).as_secs_f64() / (hi - lo + 1) as f64;
        let next = (target.as_secs_f64() / per_rowid) as i64;
        span = next.clamp(FIRST_SPAN, span.saturating_mul(4));
        if hi == last {
            break;
        }
        lo = hi + 1;
    }
    Ok(())
}

/// `PRAGMA data_version`: changes when another connection commits.
fn data_version(conn: &Connection, db: &Path) -> Result<i64, DiskcacheError> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(sql_err(db))
}

/// A PASSIVE checkpoint (it never waits for, or blocks, a writer) once the WAL has grown past
/// [`WAL_CHECKPOINT_BYTES`], run between batches rather than inside a commit.
fn checkpoint_if_large(conn: &Connection, db: &Path, wal: &Path) -> Result<(), DiskcacheError> {
    let size = fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size > WAL_CHECKPOINT_BYTES {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(sql_err(db))?;
    }
    Ok(())
}

/// The rows of `lo..=hi` the selection picks now: rowid, tag, value size.
fn pick(
    conn: &Connection,
    db: &Path,
    sql: &str,
    params: &[Value],
    lo: i64,
    hi: i64,
) -> Result<Vec<DeletedRow>, DiskcacheError> {
    let mut st = conn.prepare_cached(sql).map_err(sql_err(db))?;
    let bounds = [Value::Integer(lo), Value::Integer(hi)];
    let rows = st
        .query_map(
            rusqlite::params_from_iter(params.iter().chain(&bounds)),
            |r| {
                Ok(DeletedRow {
                    rowid: r.get(0)?,
                    tag: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    bytes: r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                })
            },
        )
        .map_err(sql_err(db))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err(db))?;
    Ok(rows)
}

/// A committed batch: the rows deleted, the value files no remaining row references (to unlink
/// now), and the section ([`crate::signals::committing`]) to leave once they are.
type Committed = (
    Vec<DeletedRow>,
    Vec<String>,
    std::sync::MutexGuard<'static, ()>,
);

/// Deletes the `picked` rows that still match, in one `BEGIN IMMEDIATE` transaction.
fn delete_batch(
    conn: &mut Connection,
    db: &Path,
    sql: &str,
    params: &[Value],
    picked: &[DeletedRow],
    report: &mut PurgeReport,
) -> Result<Committed, DiskcacheError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err(db))?;
    let mut files = Vec::new();
    let mut gone = Vec::with_capacity(picked.len());
    let mut bytes = 0u64;
    {
        let ids: std::rc::Rc<Vec<Value>> =
            std::rc::Rc::new(picked.iter().map(|p| Value::Integer(p.rowid)).collect());
        let mut all: Vec<&dyn rusqlite::ToSql> =
            params.iter().map(|p| p as &dyn rusqlite::ToSql).collect();
        all.push(&ids);
        let mut del = tx.prepare_cached(sql).map_err(sql_err(db))?;
        let mut rows = del.query(all.as_slice()).map_err(sql_err(db))?;
        while let Some(r) = rows.next().map_err(sql_err(db))? {
            gone.push(r.get::<_, i64>(0).map_err(sql_err(db))?);
            files.extend(r.get::<_, Option<String>>(1).map_err(sql_err(db))?);
            bytes += r
                .get::<_, Option<i64>>(2)
                .map_err(sql_err(db))?
                .unwrap_or(0)
                .max(0) as u64;
        }
    }
    drop_still_referenced(&tx, db, &mut files)?;
    // Until the caller has unlinked `files`, a process ending on a second signal waits.
    let committing = crate::signals::committing();
    tx.commit().map_err(sql_err(db))?;
    gone.sort_unstable();
    let rows: Vec<DeletedRow> = picked
        .iter()
        .filter(|p| gone.binary_search(&p.rowid).is_ok())
        .copied()
        .collect();
    report.deleted += rows.len();
    report.changed += picked.len() - rows.len();
    report.bytes += bytes;
    Ok((rows, files, committing))
}

/// Opens `dir`'s cache.db for a purge: diskcache's busy timeout (60 s) and synchronous setting,
/// and a page cache that holds the key index across batches.
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
    // Checkpoints are run between batches (checkpoint_if_large), and the page cache holds the
    // key index: rows go in rowid order, their index entries do not.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(sql_err(&db))?;
    conn.pragma_update(None, "cache_size", -65_536)
        .map_err(sql_err(&db))?;
    rusqlite::vtab::array::load_module(&conn).map_err(sql_err(&db))?;
    Ok((db, conn))
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
