//! python-diskcache caches, read in place (checked against diskcache 5.6.3): a `Cache`
//! directory, its `cache.db`, or a `FanoutCache` directory (its shards as one cache).
//!
//! diskcache keys `memoize` results by the function's name and arguments only, so a code change
//! is never noticed. Each entry is:
//! - a `memoize` key: function = its `module.qualname` (shown `module:qualname` when the module
//!   file is found under a source root), strategy `name`, key = the rendered arguments;
//! - any other key: strategy `custom` (the user chose the key), no function.
//!
//! Statuses: `unverifiable` by default. A memoized entry is `changed` when its function's module
//! file was modified after the entry was stored, judged by modification time since diskcache
//! keeps no fingerprint. That comparison is per row, so it runs inside SQLite: each row falls
//! in a *cell* (its function, and whether it was stored before the module's modification time
//! seen at open), computed by the SQL function `cs_cell`; every filter on strategy, function,
//! source or status becomes a set of cells. Counting a million rows stays one streaming query.
//!
//! Nothing is unpickled: keys are rendered by [`crate::pickle`]'s opcode walker. A purge
//! follows diskcache's own protocol ([`db::purge`]).

mod backend;
pub mod db;
mod query;

use super::{Backend, Options, SourceId};
use crate::status::Status;
use crate::store::{Result, StoreError};
use query::timeout;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Entry ids carry the shard in their top bits: `shard << SHARD_SHIFT | rowid`.
const SHARD_SHIFT: u32 = 40;
/// The cell of a row whose key is not a `memoize` key.
const CUSTOM: i64 = -1;

/// Opens `path` when it is a diskcache directory, its `cache.db`, or a FanoutCache directory.
pub fn detect(path: &Path, options: &Options) -> Result<Option<Box<dyn Backend>>> {
    let layout = match db::detect(path) {
        Ok(l) => l,
        Err(db::DiskcacheError::NotFound(_) | db::DiskcacheError::NotDiskcache(_)) => {
            return Ok(None)
        }
        Err(db::DiskcacheError::NotSqlite(_)) if path.is_file() => return Ok(None),
        Err(e) => return Err(db_error(path, e)),
    };
    Ok(Some(Box::new(Diskcache::open(
        path, layout, options, true,
    )?)))
}

fn db_error(path: &Path, e: db::DiskcacheError) -> StoreError {
    match e {
        db::DiskcacheError::Io { path, source } => StoreError::Io {
            path,
            cause: source,
        },
        db::DiskcacheError::Sqlite { path, source } => {
            StoreError::from_sqlite(&path, std::time::Duration::from_secs(60), source)
        }
        // the file is named, and it is a diskcache that is damaged, not a cachescope store
        db::DiskcacheError::NotSqlite(db) => StoreError::BadCache {
            path: db,
            what: "not an SQLite database, so not a readable diskcache".into(),
        },
        db::DiskcacheError::Unreadable(path, why) => StoreError::Unreadable { path, why },
        db::DiskcacheError::NotDiskcache(db) => StoreError::BadCache {
            path: db,
            what: "SQLite database without diskcache's Cache and Settings tables".into(),
        },
        other => StoreError::BadCache {
            path: path.to_path_buf(),
            what: other.to_string(),
        },
    }
}

/// One memoized function, as found at open.
#[derive(Debug, Clone)]
struct Function {
    /// `module:qualname` when the module file was found, else the full name.
    display: String,
    /// The module file and its modification time (ns) at open.
    module: Option<(PathBuf, i128)>,
}

impl Function {
    /// Source ids of the rows stored before / after the module's modification time.
    fn sources(&self, index: usize) -> Option<(SourceId, SourceId)> {
        self.module.as_ref()?;
        let i = index as i64;
        Some((SourceId(2 * i), SourceId(2 * i + 1)))
    }
}

/// What every connection's SQL functions look things up in.
/// The memoized functions seen so far: each gets its index (and its module file is looked up)
/// the first time a row names it, so one scan both finds the functions and counts their rows.
#[derive(Debug, Default)]
struct Registry {
    functions: Vec<Function>,
    by_name: HashMap<String, usize>,
}

#[derive(Debug)]
struct Shared {
    roots: Vec<PathBuf>,
    registry: Mutex<Registry>,
}

impl Shared {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The index of a memoized function, registering it on first sight.
    fn function_index(&self, name: &str) -> (usize, Option<i128>) {
        let mut reg = self.registry();
        if let Some(&i) = reg.by_name.get(name) {
            return (i, reg.functions[i].module.as_ref().map(|m| m.1));
        }
        let (display, module) = match find_module(name, &self.roots) {
            Some((file, k)) => {
                let parts: Vec<&str> = name.split('.').collect();
                let display = format!("{}:{}", parts[..k].join("."), parts[k..].join("."));
                let mtime = mtime_ns(&file).unwrap_or(0);
                (display, Some((file, mtime)))
            }
            None => (name.to_string(), None),
        };
        let i = reg.functions.len();
        let mtime = module.as_ref().map(|m| m.1);
        reg.by_name.insert(name.to_string(), i);
        reg.functions.push(Function { display, module });
        (i, mtime)
    }

    /// The cell of a row: `2 * function + stored-after-the-module's-modification`, or CUSTOM.
    fn cell(&self, key: ValueRef, raw: ValueRef, store_time: ValueRef) -> i64 {
        let name = match (key, raw) {
            (ValueRef::Blob(b), ValueRef::Integer(0)) => crate::pickle::memo_name(b),
            _ => None,
        };
        let Some(name) = name else {
            return CUSTOM;
        };
        let (i, mtime) = self.function_index(&name);
        let stored_ns = match store_time {
            ValueRef::Real(t) => (t * 1e9) as i128,
            ValueRef::Integer(t) => t as i128 * 1_000_000_000,
            _ => 0,
        };
        let after = mtime.is_none_or(|m| stored_ns >= m);
        2 * i as i64 + after as i64
    }
}

/// The decoded meaning of a cell.
struct CellInfo {
    function: Option<Function>,
    source: Option<SourceId>,
}

struct Shard {
    dir: PathBuf,
    db: PathBuf,
    conn: Connection,
}

/// A diskcache as a [`Backend`].
pub struct Diskcache {
    path: PathBuf,
    base_dir: PathBuf,
    layout: db::Layout,
    options: Options,
    read_only: bool,
    /// Some shard is read immutable (see [`db::needs_immutable`]).
    immutable: bool,
    shards: Vec<Shard>,
    shared: Arc<Shared>,
    /// When the cache was opened (ns): rows stored after their module's modification time are
    /// judged against this.
    opened_ns: i128,
    policy: Option<String>,
    warnings: Vec<String>,
    statuses: Mutex<Option<HashMap<SourceId, Status>>>,
    /// The cell counts of the scan made at open, until the first aggregate takes them.
    first_count: Mutex<Option<BTreeMap<i64, (u64, u64)>>>,
    /// The cells that had rows at open: only their sources are verified and listed.
    present: std::collections::HashSet<i64>,
    /// The sorted list the TUI pages through.
    list: super::KeptList,
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn mtime_ns(path: &Path) -> Option<i128> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i128)
}

/// The module file of `module.qualname` under `roots`: the longest dotted prefix that names a
/// `.py` file or a package's `__init__.py`.
fn find_module(name: &str, roots: &[PathBuf]) -> Option<(PathBuf, usize)> {
    let parts: Vec<&str> = name.split('.').collect();
    for k in (1..parts.len()).rev() {
        let rel: PathBuf = parts[..k].iter().collect();
        for root in roots {
            let py = root.join(&rel).with_extension("py");
            if py.is_file() {
                return Some((py, k));
            }
            let init = root.join(&rel).join("__init__.py");
            if init.is_file() {
                return Some((init, k));
            }
        }
    }
    None
}

impl Diskcache {
    /// Opens every shard; with `count`, scans once to find the functions and count the cells
    /// (a second handle for side queries skips it).
    fn open(path: &Path, layout: db::Layout, options: &Options, count: bool) -> Result<Diskcache> {
        let mut shards = Vec::new();
        let mut warnings = Vec::new();
        for (dir, dbpath) in layout.databases() {
            if db::needs_immutable(&dbpath).map_err(|e| db_error(&dbpath, e))? {
                warnings.push(format!(
                    "{}: opened immutable: this user cannot write {} to create the -shm file, \
                     so writes made while cachescope runs are not seen (and nothing is purged)",
                    dbpath.display(),
                    dir.display()
                ));
            }
            let conn = db::open_ro(&dbpath).map_err(|e| db_error(&dbpath, e))?;
            shards.push(Shard {
                dir,
                db: dbpath,
                conn,
            });
        }
        let policy = shards.iter().find_map(|s| {
            db::read_settings(&s.conn, &s.db)
                .ok()
                .and_then(|st| st.eviction_policy().map(str::to_string))
        });
        let roots = options.roots();
        let shared = Arc::new(Shared {
            roots: roots.clone(),
            registry: Mutex::new(Registry::default()),
        });
        for s in &shards {
            register(&s.conn, &shared).map_err(|e| StoreError::from_sqlite(&s.db, timeout(), e))?;
        }
        let mut cache = Diskcache {
            path: path.to_path_buf(),
            base_dir: roots[0].clone(),
            layout,
            options: options.clone(),
            read_only: options.open.read_only || !warnings.is_empty(),
            immutable: !warnings.is_empty(),
            shards,
            shared,
            opened_ns: now_ns(),
            policy,
            warnings,
            statuses: Mutex::new(None),
            first_count: Mutex::new(None),
            present: Default::default(),
            list: Default::default(),
        };
        // One scan finds the memoized functions and counts every cell; the first aggregate
        // (what `summary` and the TUI ask for first) is served from it.
        if count {
            let counted = cache.count_cells()?;
            cache.present = counted.keys().copied().collect();
            *cache.first_count.lock().unwrap_or_else(|e| e.into_inner()) = Some(counted);
        }
        let unfound = cache
            .shared
            .registry()
            .functions
            .iter()
            .filter(|f| f.module.is_none())
            .count();
        if unfound > 0 {
            cache.warnings.push(format!(
                "{unfound} memoized function(s) have no module file under the source roots ({}): \
                 their entries stay unverifiable; give --source-root where the code lives",
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(cache)
    }

    /// Entries and bytes per cell, over every shard: one streaming query each, summed here
    /// (a GROUP BY over a function's result would sort every row first, spilling to disk).
    fn count_cells(&self) -> Result<BTreeMap<i64, (u64, u64)>> {
        let mut cells: HashMap<i64, (u64, u64)> = HashMap::new();
        for s in &self.shards {
            let mut st = s
                .conn
                .prepare_cached(
                    "SELECT cs_cell(key, raw, store_time), \
                     CASE WHEN filename IS NULL THEN length(value) ELSE size END FROM Cache",
                )
                .map_err(self.sql_err(s))?;
            let mut rows = st.query([]).map_err(self.sql_err(s))?;
            while let Some(r) = rows.next().map_err(self.sql_err(s))? {
                let cell: i64 = r.get(0).map_err(self.sql_err(s))?;
                let bytes: Option<i64> = r.get(1).map_err(self.sql_err(s))?;
                let slot = cells.entry(cell).or_default();
                slot.0 += 1;
                slot.1 = slot.1.saturating_add(bytes.unwrap_or(0).max(0) as u64);
            }
        }
        Ok(cells.into_iter().collect())
    }

    fn cell_info(&self, cell: i64) -> CellInfo {
        if cell < 0 {
            return CellInfo {
                function: None,
                source: None,
            };
        }
        let i = (cell / 2) as usize;
        let f = self.shared.registry().functions.get(i).cloned();
        CellInfo {
            source: f
                .as_ref()
                .and_then(|f| f.sources(i))
                .map(|(before, after)| if cell % 2 == 0 { before } else { after }),
            function: f,
        }
    }

    fn every_cell(&self) -> impl Iterator<Item = i64> {
        let n = self.shared.registry().functions.len() as i64;
        std::iter::once(CUSTOM).chain(0..2 * n)
    }

    fn strategy(cell: i64) -> &'static str {
        if cell < 0 {
            "custom"
        } else {
            "name"
        }
    }

    fn status_of(&self, cell: i64, statuses: &HashMap<SourceId, Status>) -> Option<Status> {
        match self.cell_info(cell).source {
            Some(id) => statuses.get(&id).copied(),
            None => Some(Status::Unverifiable),
        }
    }

    fn statuses(&self) -> Option<HashMap<SourceId, Status>> {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Registers the SQL functions the queries use on a connection.
fn register(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let s = shared.clone();
    conn.create_scalar_function("cs_cell", 3, flags, move |ctx| {
        Ok(s.cell(ctx.get_raw(0), ctx.get_raw(1), ctx.get_raw(2)))
    })?;
    conn.create_scalar_function("cs_key", 2, flags, |ctx| {
        Ok(render_key(ctx.get_raw(0), ctx.get_raw(1)))
    })
}

/// A key as text: a memoize key's arguments, a raw key as itself, any other pickle rendered
/// (never unpickled). Untrusted: escaped where it is printed.
fn render_key(key: ValueRef, raw: ValueRef) -> String {
    match (key, raw) {
        (ValueRef::Blob(b), ValueRef::Integer(0)) => match crate::pickle::memo_key(b) {
            Some(m) => m.args,
            None => crate::pickle::render(b).unwrap_or_else(|e| format!("<pickle: {e}>")),
        },
        (ValueRef::Text(t), _) => format!("{:?}", String::from_utf8_lossy(t)),
        (ValueRef::Integer(i), _) => i.to_string(),
        (ValueRef::Real(f), _) => f.to_string(),
        (ValueRef::Blob(b), _) => {
            // Python's bytes repr: printable ASCII as itself, the rest as \xNN.
            let head: String = b
                .iter()
                .take(64)
                .map(|&x| match x {
                    b'\\' => "\\\\".to_string(),
                    b'\'' => "\\'".to_string(),
                    0x20..=0x7e => (x as char).to_string(),
                    _ => format!("\\x{x:02x}"),
                })
                .collect();
            format!("b'{head}{}'", if b.len() > 64 { "…" } else { "" })
        }
        (ValueRef::Null, _) => "None".into(),
    }
}
