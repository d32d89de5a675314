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

pub mod db;

use super::{
    Backend, Cell, Dimension, EntryDetail, EntryFilter, EntryId, EntryRow, ErrorRow, Options,
    PurgeOutcome, PurgePlan, PurgeProgress, SortKey, SourceId, SourceRow, StatusesLoaded,
};
use crate::status::Status;
use crate::store::{Result, StoreError};
use crate::verify::MTIME_PREFIX;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A row a purge selected: rowid, whether its key is a memoize key, its size.
type Picked = (i64, bool, u64);

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
    fn function_index(&self, name: String) -> (usize, Option<i128>) {
        let mut reg = self.registry();
        if let Some(&i) = reg.by_name.get(&name) {
            return (i, reg.functions[i].module.as_ref().map(|m| m.1));
        }
        let (display, module) = match find_module(&name, &self.roots) {
            Some((file, k)) => {
                let parts: Vec<&str> = name.split('.').collect();
                let display = format!("{}:{}", parts[..k].join("."), parts[k..].join("."));
                let mtime = mtime_ns(&file).unwrap_or(0);
                (display, Some((file, mtime)))
            }
            None => (name.clone(), None),
        };
        let i = reg.functions.len();
        let mtime = module.as_ref().map(|m| m.1);
        reg.by_name.insert(name, i);
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
        let (i, mtime) = self.function_index(name);
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
        for (dir, dbpath) in layout.databases() {
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
            read_only: options.open.read_only,
            shards,
            shared,
            opened_ns: now_ns(),
            policy,
            warnings: Vec::new(),
            statuses: Mutex::new(None),
            first_count: Mutex::new(None),
            present: Default::default(),
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

    /// Entries and bytes per cell, over every shard: one streaming query each.
    fn count_cells(&self) -> Result<BTreeMap<i64, (u64, u64)>> {
        let mut cells: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for s in &self.shards {
            let mut st = s
                .conn
                .prepare_cached(
                    "SELECT cs_cell(key, raw, store_time), count(*), \
                     total(CASE WHEN filename IS NULL THEN length(value) ELSE size END) \
                     FROM Cache GROUP BY 1",
                )
                .map_err(self.sql_err(s))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, f64>(2)?,
                    ))
                })
                .map_err(self.sql_err(s))?;
            for row in rows {
                let (cell, n, bytes) = row.map_err(self.sql_err(s))?;
                let slot = cells.entry(cell).or_default();
                slot.0 = slot.0.saturating_add(n.max(0) as u64);
                slot.1 = slot.1.saturating_add(bytes.max(0.0) as u64);
            }
        }
        Ok(cells)
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

    /// The cells `filter` allows by strategy, function, source, error and status; `None`: all.
    fn allowed_cells(&self, filter: &EntryFilter) -> Result<Option<Vec<i64>>> {
        let glob = match &filter.function_glob {
            Some(g) => Some(glob::Pattern::new(&g.replace("[^", "[!")).map_err(|e| {
                StoreError::NotAStore {
                    path: self.path.clone(),
                    what: format!("bad --function pattern: {e}"),
                }
            })?),
            None => None,
        };
        let statuses = self.statuses();
        if !filter.statuses.is_empty() && statuses.is_none() {
            return Err(StoreError::NotAStore {
                path: self.path.clone(),
                what: "a status filter needs verification first".into(),
            });
        }
        let restricts = !filter.strategies.is_empty()
            || glob.is_some()
            || filter.function.is_some()
            || filter.source_path.is_some()
            || matches!(filter.derivation_error, Some(Some(_)))
            || !filter.statuses.is_empty();
        if !restricts {
            return Ok(None);
        }
        let mut cells = Vec::new();
        for cell in self.every_cell() {
            let info = self.cell_info(cell);
            let function = info
                .function
                .as_ref()
                .map(|f| f.display.as_str())
                .unwrap_or("");
            if !filter.strategies.is_empty()
                && !filter.strategies.iter().any(|s| s == Self::strategy(cell))
            {
                continue;
            }
            if glob.as_ref().is_some_and(|g| !g.matches(function))
                || filter.function.as_ref().is_some_and(|f| f != function)
                || matches!(filter.derivation_error, Some(Some(_)))
            {
                continue;
            }
            if let Some(want) = &filter.source_path {
                let path = info
                    .function
                    .as_ref()
                    .and_then(|f| f.module.as_ref())
                    .map(|(p, _)| p.display().to_string());
                if path.as_deref() != want.as_deref() {
                    continue;
                }
            }
            // Expired rows may be selected on their own (`or_expired_at`): the status test is
            // then made per row in SQL, so the cell stays.
            if !filter.statuses.is_empty() && filter.or_expired_at.is_none() {
                let map = statuses.as_ref().expect("checked above");
                if !self
                    .status_of(cell, map)
                    .is_some_and(|s| filter.statuses.contains(&s))
                {
                    continue;
                }
            }
            cells.push(cell);
        }
        Ok(Some(cells))
    }

    /// The WHERE clause over `Cache` (no alias) for `filter` in shard `shard`, and its
    /// parameters.
    fn where_clause(&self, filter: &EntryFilter, shard: usize) -> Result<(String, Vec<Value>)> {
        self.where_clause_with(filter, shard, true)
    }

    /// [`Diskcache::where_clause`], leaving out the test of the allowed cells when `cells` is
    /// false (the caller tests the cell itself, parsing each key once).
    fn where_clause_with(
        &self,
        filter: &EntryFilter,
        shard: usize,
        cells: bool,
    ) -> Result<(String, Vec<Value>)> {
        let mut terms = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        let cell = "cs_cell(key, raw, store_time)";
        if let Some(allowed) = self.allowed_cells(filter)?.filter(|_| cells) {
            terms.push(format!("{cell} IN ({})", join_ints(&allowed)));
        }
        if !filter.statuses.is_empty() {
            if let Some(now) = filter.or_expired_at {
                let map = self.statuses().unwrap_or_default();
                let stale: Vec<i64> = self
                    .every_cell()
                    .filter(|c| {
                        self.status_of(*c, &map)
                            .is_some_and(|s| filter.statuses.contains(&s))
                    })
                    .collect();
                terms.push(format!(
                    "({cell} IN ({}) OR expire_time * 1000 <= ?)",
                    join_ints(&stale)
                ));
                params.push(Value::Integer(now));
            }
        } else if let Some(now) = filter.or_expired_at {
            terms.push("expire_time * 1000 <= ?".into());
            params.push(Value::Integer(now));
        }
        if let Some(now) = filter.expired_at {
            terms.push("expire_time * 1000 <= ?".into());
            params.push(Value::Integer(now));
        }
        if let Some(t) = filter.created_before {
            terms.push("store_time * 1000 < ?".into());
            params.push(Value::Integer(t));
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            let needle = text.to_lowercase();
            let by_function: Vec<i64> = self
                .every_cell()
                .filter(|c| {
                    self.cell_info(*c).function.as_ref().is_some_and(|f| {
                        f.display.to_lowercase().contains(&needle)
                            || f.module.as_ref().is_some_and(|(p, _)| {
                                p.display().to_string().to_lowercase().contains(&needle)
                            })
                    })
                })
                .collect();
            terms.push(format!(
                "({cell} IN ({}) OR instr(lower(cs_key(key, raw)), ?) > 0)",
                join_ints(&by_function)
            ));
            params.push(Value::Text(needle));
        }
        if let Some(ids) = &filter.ids {
            let rowids: Vec<i64> = ids
                .iter()
                .filter(|id| (id.0 >> SHARD_SHIFT) as usize == shard)
                .map(|id| id.0 & ((1 << SHARD_SHIFT) - 1))
                .collect();
            terms.push(format!("rowid IN ({})", join_ints(&rowids)));
        }
        let sql = if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        };
        Ok((sql, params))
    }

    fn sql_err(&self, shard: &Shard) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        let db = shard.db.clone();
        move |e| StoreError::from_sqlite(&db, timeout(), e)
    }

    fn row(&self, shard: usize, r: &rusqlite::Row) -> rusqlite::Result<EntryRow> {
        let rowid: i64 = r.get(0)?;
        let cell: i64 = r.get(1)?;
        let info = self.cell_info(cell);
        let secs = |i: usize| -> rusqlite::Result<Option<i64>> {
            Ok(r.get::<_, Option<f64>>(i)?.map(|t| (t * 1000.0) as i64))
        };
        let status = self.statuses().and_then(|map| self.status_of(cell, &map));
        Ok(EntryRow {
            id: EntryId(((shard as i64) << SHARD_SHIFT) | rowid),
            namespace: "diskcache".into(),
            function: info
                .function
                .as_ref()
                .map(|f| f.display.clone())
                .unwrap_or_default(),
            key: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            strategy: Self::strategy(cell).into(),
            derivation_error: None,
            source_id: info.source,
            source_path: info
                .function
                .as_ref()
                .and_then(|f| f.module.as_ref())
                .map(|(p, _)| p.display().to_string()),
            value_size: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
            value_type: Some(value_type(r.get::<_, Option<i64>>(7)?, r.get_ref(8)?)),
            created_at: secs(3)?.unwrap_or(0),
            accessed_at: secs(4)?,
            hits: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            expires_at: secs(9)?,
            status,
        })
    }

    /// Rows of one shard matching `filter` after `after` (a rowid), in rowid order.
    fn shard_rows(
        &self,
        shard: usize,
        filter: &EntryFilter,
        after: Option<i64>,
        limit: i64,
        with_status: bool,
    ) -> Result<Vec<EntryRow>> {
        let s = &self.shards[shard];
        let (mut clause, mut params) = self.where_clause(filter, shard)?;
        if let Some(a) = after {
            clause = if clause.is_empty() {
                " WHERE rowid > ?".into()
            } else {
                format!("{clause} AND rowid > ?")
            };
            params.push(Value::Integer(a));
        }
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM Cache{clause} ORDER BY rowid LIMIT {}",
            limit.max(0)
        );
        let mut st = s.conn.prepare_cached(&sql).map_err(self.sql_err(s))?;
        let rows = st
            .query_map(rusqlite::params_from_iter(params), |r| {
                let mut row = self.row(shard, r)?;
                if !with_status {
                    row.status = None;
                }
                Ok(row)
            })
            .map_err(self.sql_err(s))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.sql_err(s))?;
        Ok(rows)
    }
}

/// The columns [`Diskcache::row`] reads, in order. A value's size is its file's (`size`), or
/// for an inline value its length (diskcache records 0 for those).
const ROW_COLUMNS: &str = "rowid, cs_cell(key, raw, store_time), cs_key(key, raw), store_time, \
     access_time, access_count, CASE WHEN filename IS NULL THEN length(value) ELSE size END, \
     mode, value, expire_time";

fn value_type(mode: Option<i64>, value: ValueRef) -> String {
    match (mode, value) {
        (Some(1), ValueRef::Integer(_)) => "int".into(),
        (Some(1), ValueRef::Real(_)) => "float".into(),
        (Some(1), ValueRef::Text(_)) => "text".into(),
        (Some(1), _) => "bytes".into(),
        (Some(2), _) => "bytes".into(),
        (Some(3), _) => "text".into(),
        (Some(4), _) => "pickle".into(),
        (m, _) => format!("diskcache mode {}", m.map_or("?".into(), |m| m.to_string())),
    }
}

fn timeout() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

fn join_ints(v: &[i64]) -> String {
    if v.is_empty() {
        return "NULL".into();
    }
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
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

impl Backend for Diskcache {
    fn kind(&self) -> &'static str {
        "diskcache"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn base_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn change_token(&self) -> Result<i64> {
        let mut token = 0i64;
        for s in &self.shards {
            let v: i64 = s
                .conn
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .map_err(self.sql_err(s))?;
            token = token.wrapping_mul(31).wrapping_add(v);
        }
        Ok(token)
    }

    fn reopen_read_only(&self) -> Result<Box<dyn Backend>> {
        let mut options = self.options.clone();
        options.open.read_only = true;
        Ok(Box::new(Diskcache::open(
            &self.path,
            self.layout.clone(),
            &options,
            false,
        )?))
    }

    fn referenced_sources(&self) -> Result<Vec<SourceRow>> {
        let mut out = Vec::new();
        for (i, f) in self.shared.registry().functions.iter().enumerate() {
            let (Some((path, mtime)), Some((before, after))) = (&f.module, f.sources(i)) else {
                continue;
            };
            // Rows stored before the modification time seen at open are judged against just
            // before it; rows stored after, against the time of opening.
            let cells = [
                (2 * i as i64, before, *mtime - 1),
                (2 * i as i64 + 1, after, self.opened_ns),
            ];
            for (cell, id, stored) in cells {
                // A handle that did not scan (a second one) lists every source.
                if !self.present.is_empty() && !self.present.contains(&cell) {
                    continue;
                }
                out.push(SourceRow {
                    id,
                    path: path.display().to_string(),
                    raw_path: SourceRow::raw_path_of(path),
                    span: None,
                    digest: format!("{MTIME_PREFIX}{stored}"),
                    size: None,
                    mtime_ns: None,
                    recorded_at: (stored / 1_000_000) as i64,
                    content_len: None,
                    invalid_span: false,
                });
            }
        }
        Ok(out)
    }

    fn dangling_source_ids(&self) -> Result<Vec<SourceId>> {
        Ok(Vec::new())
    }

    fn load_statuses(
        &self,
        statuses: &mut dyn Iterator<Item = (SourceId, Status)>,
    ) -> Result<StatusesLoaded> {
        *self.statuses.lock().unwrap_or_else(|e| e.into_inner()) = Some(statuses.collect());
        Ok(StatusesLoaded(()))
    }

    fn aggregate(&self, dimension: Dimension, visit: &mut dyn FnMut(Cell)) -> Result<()> {
        let first = self
            .first_count
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let cells = match first {
            Some(cells) => cells,
            None => self.count_cells()?,
        };
        for (cell, (entries, bytes)) in cells {
            let info = self.cell_info(cell);
            visit(Cell {
                source_id: info.source,
                strategy: Self::strategy(cell).into(),
                dimension: match dimension {
                    Dimension::Function => info.function.as_ref().map(|f| f.display.clone()),
                    _ => None,
                },
                has_derivation_error: false,
                dependencies: Vec::new(),
                entries,
                bytes,
            });
        }
        Ok(())
    }

    fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        Ok(Vec::new())
    }

    fn expired_counts(&self, now_ms: i64) -> Result<Vec<(String, u64, u64)>> {
        let mut by: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        for s in &self.shards {
            let mut st = s
                .conn
                .prepare_cached(
                    "SELECT cs_cell(key, raw, store_time) >= 0, count(*), \
                     total(CASE WHEN filename IS NULL THEN length(value) ELSE size END) \
                     FROM Cache WHERE expire_time * 1000 <= ?1 GROUP BY 1",
                )
                .map_err(self.sql_err(s))?;
            let rows = st
                .query_map([now_ms], |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, f64>(2)?,
                    ))
                })
                .map_err(self.sql_err(s))?;
            for row in rows {
                let (memo, n, bytes) = row.map_err(self.sql_err(s))?;
                let slot = by.entry(if memo { "name" } else { "custom" }).or_default();
                slot.0 += n.max(0) as u64;
                slot.1 += bytes.max(0.0) as u64;
            }
        }
        Ok(by.into_iter().map(|(s, (n, b))| (s.into(), n, b)).collect())
    }

    fn count(&self, filter: &EntryFilter) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for (i, s) in self.shards.iter().enumerate() {
            let (clause, params) = self.where_clause(filter, i)?;
            let sql = format!(
                "SELECT count(*), total(CASE WHEN filename IS NULL THEN length(value) ELSE size END) \
                 FROM Cache{clause}"
            );
            let (c, b): (i64, f64) = s
                .conn
                .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(self.sql_err(s))?;
            n += c.max(0) as u64;
            bytes = bytes.saturating_add(b.max(0.0) as u64);
        }
        Ok((n, bytes))
    }

    fn entry_ids(
        &self,
        filter: &EntryFilter,
        sort: SortKey,
        descending: bool,
    ) -> Result<Vec<EntryId>> {
        // (sort value, id) from every shard, merged here: the order spans shards.
        #[derive(PartialEq, PartialOrd)]
        enum Key {
            Int(i64),
            Text(String),
        }
        let statuses = self.statuses().unwrap_or_default();
        let mut all: Vec<(Key, EntryId)> = Vec::new();
        for (i, s) in self.shards.iter().enumerate() {
            let (clause, params) = self.where_clause(filter, i)?;
            let expr = match sort {
                SortKey::Key => "cs_key(key, raw)",
                SortKey::Size => "CASE WHEN filename IS NULL THEN length(value) ELSE size END",
                SortKey::Created => "CAST(store_time * 1000 AS INTEGER)",
                SortKey::Hits => "access_count",
                _ => "cs_cell(key, raw, store_time)",
            };
            let sql = format!("SELECT rowid, {expr} FROM Cache{clause}");
            let mut st = s.conn.prepare_cached(&sql).map_err(self.sql_err(s))?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    let id = EntryId(((i as i64) << SHARD_SHIFT) | r.get::<_, i64>(0)?);
                    let key = match sort {
                        SortKey::Key => {
                            Key::Text(r.get::<_, Option<String>>(1)?.unwrap_or_default())
                        }
                        SortKey::Id => Key::Int(0),
                        SortKey::Function => {
                            let cell: i64 = r.get(1)?;
                            Key::Text(
                                self.cell_info(cell)
                                    .function
                                    .map(|f| f.display.clone())
                                    .unwrap_or_default(),
                            )
                        }
                        SortKey::Strategy => Key::Text(Self::strategy(r.get(1)?).into()),
                        SortKey::Status(_) => {
                            let cell: i64 = r.get(1)?;
                            Key::Int(self.status_of(cell, &statuses).map_or(-1, Status::rank))
                        }
                        _ => Key::Int(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                    };
                    Ok((key, id))
                })
                .map_err(self.sql_err(s))?;
            for row in rows {
                all.push(row.map_err(self.sql_err(s))?);
            }
        }
        all.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.cmp(&b.1))
        });
        if descending {
            all.reverse();
        }
        Ok(all.into_iter().map(|(_, id)| id).collect())
    }

    fn entries_by_ids(
        &self,
        ids: &[EntryId],
        statuses: Option<StatusesLoaded>,
    ) -> Result<Vec<EntryRow>> {
        let filter = EntryFilter {
            ids: Some(ids.to_vec()),
            ..Default::default()
        };
        let mut rows = Vec::with_capacity(ids.len());
        for i in 0..self.shards.len() {
            rows.extend(self.shard_rows(i, &filter, None, ids.len() as i64, statuses.is_some())?);
        }
        let pos: HashMap<EntryId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|r| pos.get(&r.id).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }

    fn entries_page(
        &self,
        filter: &EntryFilter,
        statuses: Option<StatusesLoaded>,
        after: Option<EntryId>,
        limit: i64,
    ) -> Result<Vec<EntryRow>> {
        // Ids order shards first, then rowids: page through the shards in turn.
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let shard_after = match after {
                Some(a) if ((a.0 >> SHARD_SHIFT) as usize) > i => continue,
                Some(a) if ((a.0 >> SHARD_SHIFT) as usize) == i => {
                    Some(a.0 & ((1 << SHARD_SHIFT) - 1))
                }
                _ => None,
            };
            let want = limit - out.len() as i64;
            if want <= 0 {
                break;
            }
            out.extend(self.shard_rows(i, filter, shard_after, want, statuses.is_some())?);
        }
        Ok(out)
    }

    fn entry_detail(&self, id: EntryId, preview: usize) -> Result<Option<EntryDetail>> {
        let shard = (id.0 >> SHARD_SHIFT) as usize;
        let Some(s) = self.shards.get(shard) else {
            return Ok(None);
        };
        let filter = EntryFilter {
            ids: Some(vec![id]),
            ..Default::default()
        };
        let Some(entry) = self.shard_rows(shard, &filter, None, 1, false)?.pop() else {
            return Ok(None);
        };
        let rowid = id.0 & ((1 << SHARD_SHIFT) - 1);
        let (filename, inline, cell): (Option<String>, Option<Vec<u8>>, i64) = s
            .conn
            .query_row(
                "SELECT filename, CASE WHEN value IS NULL THEN NULL \
                 ELSE substr(CAST(value AS BLOB), 1, ?2) END, cs_cell(key, raw, store_time) \
                 FROM Cache WHERE rowid = ?1",
                rusqlite::params![rowid, preview as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.sql_err(s))?;
        let value_head = match &filename {
            Some(f) if db::safe_relative(f) => {
                crate::verify::read::read_head(&s.dir.join(f), preview)
            }
            _ => inline,
        };
        let mut notes = Vec::new();
        match (cell >= 0, entry.source_id) {
            (_, Some(_)) => notes.push(
                "diskcache keys memoized results by the function's name and arguments only: \
                 the status is judged by the modification time of the function's module file, \
                 as diskcache keeps no fingerprint of the code"
                    .to_string(),
            ),
            (true, None) => notes.push(
                "diskcache keys memoized results by the function's name and arguments only, and \
                 the function's module file was not found under the source roots: a code change \
                 is never noticed"
                    .to_string(),
            ),
            (false, None) => notes.push(
                "not a memoize key: the application chose this key, and nothing in it says what \
                 code computed the value"
                    .to_string(),
            ),
        }
        let policy = self.policy.as_deref().unwrap_or("unknown");
        if policy != "least-recently-used" {
            notes.push(format!(
                "accessed is the time the entry was stored: diskcache moves it on reads only under \
                 the least-recently-used eviction policy (this cache's: {policy})"
            ));
        }
        if policy != "least-frequently-used" {
            notes.push(format!(
                "hits are counted only under the least-frequently-used eviction policy (this \
                 cache's: {policy})"
            ));
        }
        if let Some(f) = &filename {
            let path = s.dir.join(f);
            notes.push(match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => format!("value file: {}", path.display()),
                Ok(_) => format!("value file {} is not a regular file", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                    "value file missing: {} (diskcache reads this entry as a miss)",
                    path.display()
                ),
                Err(e) => format!("value file {}: {e}", path.display()),
            });
        }
        let source = self
            .referenced_sources()?
            .into_iter()
            .find(|r| Some(r.id) == entry.source_id);
        Ok(Some(EntryDetail {
            entry,
            source,
            source_content: None,
            dependencies: Vec::new(),
            missing_dependencies: Vec::new(),
            value_head,
            notes,
        }))
    }

    fn purge(
        &self,
        plan: &PurgePlan,
        progress: &mut dyn FnMut(PurgeProgress),
    ) -> Result<PurgeOutcome> {
        let mut outcome = PurgeOutcome {
            dry_run: plan.dry_run,
            ..Default::default()
        };
        if !plan.dry_run && self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        }
        // What is selected now, shard by shard: rowid, strategy and size (24 bytes a row). The
        // cell test runs here, so each key is parsed once by the selection.
        let allowed: Option<std::collections::HashSet<i64>> = self
            .allowed_cells(&plan.filter)?
            .map(|cells| cells.into_iter().collect());
        let mut selected: Vec<(usize, Vec<Picked>)> = Vec::new();
        let mut total = 0u64;
        for (i, s) in self.shards.iter().enumerate() {
            let (clause, params) = self.where_clause_with(&plan.filter, i, false)?;
            let sql = format!(
                "SELECT rowid, cs_cell(key, raw, store_time), \
                 CASE WHEN filename IS NULL THEN length(value) ELSE size END FROM Cache{clause}"
            );
            let mut st = s.conn.prepare(&sql).map_err(self.sql_err(s))?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                    ))
                })
                .map_err(self.sql_err(s))?;
            let mut picked = Vec::new();
            for row in rows {
                let (rowid, cell, size) = row.map_err(self.sql_err(s))?;
                if allowed.as_ref().is_none_or(|a| a.contains(&cell)) {
                    picked.push((rowid, cell >= 0, size));
                }
            }
            total += picked.len() as u64;
            selected.push((i, picked));
        }
        let strategy = |memo: bool| if memo { "name" } else { "custom" };
        if plan.dry_run {
            for (_, picked) in &selected {
                for (_, memo, size) in picked {
                    outcome.add(strategy(*memo).into(), 1, *size);
                }
            }
            return Ok(outcome);
        }
        progress(PurgeProgress { done: 0, total });
        let mut before = 0u64;
        for (i, picked) in selected {
            let dir = &self.shards[i].dir;
            // Each batch deletes a row only if it still matches the whole selection, checked
            // inside its transaction: a row rewritten meanwhile (stored after its module's
            // change) no longer does, and survives.
            let (clause, params) = self.where_clause(&plan.filter, i)?;
            let condition = clause.strip_prefix(" WHERE ").unwrap_or("").to_string();
            let rowids: Vec<i64> = picked.iter().map(|p| p.0).collect();
            let sizes: HashMap<i64, (bool, u64)> =
                picked.iter().map(|&(r, m, sz)| (r, (m, sz))).collect();
            let shared = self.shared.clone();
            let setup = move |conn: &Connection| register(conn, &shared);
            let mut report = db::PurgeReport::default();
            let result = db::delete_rows(
                dir,
                &rowids,
                &condition,
                &params,
                &setup,
                &mut report,
                &mut |n| {
                    progress(PurgeProgress {
                        done: before + n as u64,
                        total,
                    })
                },
                &|| plan.cancelled(),
            );
            for rowid in &report.deleted_rowids {
                if let Some((memo, size)) = sizes.get(rowid) {
                    outcome.add(strategy(*memo).into(), 1, *size);
                }
            }
            if let Some(e) = report.file_errors.first() {
                outcome.interrupted = Some(StoreError::NotAStore {
                    path: dir.clone(),
                    what: format!("a value file could not be removed: {e}"),
                });
            }
            if let Err(e) = result {
                outcome.interrupted = Some(db_error(dir, e));
                return Ok(outcome);
            }
            before += rowids.len() as u64;
        }
        Ok(outcome)
    }
}
