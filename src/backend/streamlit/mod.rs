//! Streamlit's persisted cache: the `.memo` files `st.cache_data(persist="disk")` writes to
//! `~/.streamlit/cache/` (issue 9). Each file is `{function_key}-{value_key}.memo` holding a
//! pickled `CachedResult`: no function name, no arguments. Nothing is unpickled, imported or
//! executed here: files are listed and stat-ed, and only their first and last bytes are read
//! (to tell a pickle from something else, and a whole one from a truncated one).
//!
//! The key algorithm is Streamlit's private code. It was checked against **streamlit 1.67.0**
//! (CPython 3.11.7): see [`key`] and its tests, which compare against keys the installed
//! Streamlit computes.
//!
//! # Recognising the folder
//! By content, never by its name: a directory is Streamlit's cache when at least one regular
//! file in it is named `{32 hex}-{32 hex}.memo` and starts like a pickle (first byte `0x80`).
//! A directory of mixed content is still Streamlit's: every other thing in it (an oddly named
//! file, a subdirectory, a FIFO or symlink named like a `.memo`) is reported in a warning line
//! naming it and is never listed, opened or deleted; so is a `.memo` file that does not start
//! like a pickle, or cannot be read. One that is empty or does not end like a pickle (truncated,
//! being written) is listed with a warning.
//!
//! # Mapping files to functions
//! In order, for each file's function key:
//! 1. `--app SCRIPT` ([`super::Options::app`]): the keys of the app's cached functions are
//!    re-derived from its files (the entry script, `pages/*.py`, the local modules they import;
//!    [`key::derive_app_keys`]). A match: strategy `source`, function `module:qualname`, and a
//!    source row for the function's span with the sha256 of the span's bytes as they stand
//!    now. The key matched the current source, so the file is fresh by construction; the row
//!    lets shared verification notice an edit made after the listing.
//! 2. The ledger the drop-in decorator `cachescope_cache.streamlit` writes (a cachescope
//!    store): `$CACHESCOPE_STREAMLIT_LEDGER` when set, else `cachescope-ledger.db` in the
//!    cache directory's parent (for `~/.streamlit/cache` that is `~/.streamlit/`, where the
//!    drop-in puts it). A row whose `key` is the file's function key maps it exactly, compiled
//!    functions included: its function, strategy, derivation error and fingerprint source (the
//!    span's digest, or the whole `.so`'s), verified as any store's. A bytecode-keyed file
//!    whose extension was rebuilt is `changed`, with the ledger's `TypeError` shown.
//! 3. With `--app` but no match: an orphan. Streamlit reads it only if that exact source comes
//!    back, so it is `changed` (stale; a default purge removes it), through a source row on the
//!    entry script whose pseudo-digest is [`crate::verify::UNMATCHED_PREFIX`]; the detail says
//!    what may have made it unmatched. `~/.streamlit/cache` is shared by all of a user's apps:
//!    another app's files are orphans of this one (a warning says so). When a file of the app
//!    could not be scanned, orphans are left `unverifiable` instead (its functions' keys are
//!    unknown, so nothing is called stale on their account).
//! 4. Otherwise: grouped by function key (function `streamlit:{function_key}`), strategy
//!    `unknown`, no source: `unverifiable`, with a warning saying why.
//!
//! # Purging
//! Files only, each one whole, with `remove_file`. Streamlit writes a `.memo` in place
//! (`open(path, "wb")` then `write`, `file_util.streamlit_write`), so a file modified less
//! than [`SETTLE`] ago, or whose size or modification time changed since the listing, is left
//! in place and reported ([`crate::backend::PurgeOutcome::skipped`]).

pub mod key;

use super::catalog::{Catalog, CatalogEntry, Walked, WalkedKind};
use super::{Backend, EntryId, EntryRow, Options, SourceId, SourceRow};
use crate::digest::{self, Algorithm, LineIndex};
use crate::store::{EntryFilter, OpenOptions, Result, Store, StoreError};
use crate::verify::read::{open_regular, Opened};
use key::{parse_memo_file_name, MemoName};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The kind's name.
pub const KIND: &str = "streamlit";
/// What `open` says it looked for in a directory no kind recognised.
pub const LOOKED_FOR: &str =
    "Streamlit .memo files ({32 hex}-{32 hex}.memo, starting like a pickle)";
/// The ledger's file name, beside Streamlit's cache folder.
pub const LEDGER_NAME: &str = "cachescope-ledger.db";
/// Overrides where the ledger is looked for (the drop-in honours it too).
pub const LEDGER_ENV: &str = "CACHESCOPE_STREAMLIT_LEDGER";
/// A file modified more recently than this may still be being written: a purge leaves it.
pub const SETTLE: Duration = Duration::from_secs(2);
/// The namespace of persisted values (only `st.cache_data` persists to disk).
const NAMESPACE: &str = "streamlit-data";
/// Pickle's first byte (PROTO, protocol 2 and later) and last byte (STOP).
const PICKLE_PROTO: u8 = 0x80;
const PICKLE_STOP: u8 = b'.';

/// The directory-kind entry point: opens `path` when it holds Streamlit `.memo` files.
pub fn open(path: &Path, options: &Options) -> Result<Option<Box<dyn Backend>>> {
    if !recognises(path)? {
        return Ok(None);
    }
    let kind = StreamlitKind::new(path, options)?;
    let walked = Walked::open(
        Arc::new(kind),
        path,
        path.to_path_buf(),
        options.open.read_only,
    )?;
    Ok(Some(Box::new(walked)))
}

fn io_error(path: &Path, cause: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Whether `dir` holds at least one well-named regular `.memo` file that starts like a pickle.
fn recognises(dir: &Path) -> Result<bool> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for item in rd.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if !matches!(parse_memo_file_name(name), MemoName::Memo { .. }) {
            continue;
        }
        if !item.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if ends(&item.path()).is_some_and(|(first, _, _)| first == Some(PICKLE_PROTO)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first and last bytes and the length of a regular file (never a FIFO or device: those
/// are refused before being opened). `None` when it cannot be read.
fn ends(path: &Path) -> Option<(Option<u8>, Option<u8>, u64)> {
    let Opened::File { mut file, len } = open_regular(path) else {
        return None;
    };
    if len == 0 {
        return Some((None, None, 0));
    }
    let mut b = [0u8; 1];
    file.read_exact(&mut b).ok()?;
    let first = b[0];
    file.seek(SeekFrom::Start(len - 1)).ok()?;
    file.read_exact(&mut b).ok()?;
    Some((Some(first), Some(b[0]), len))
}

fn ms_of(t: std::io::Result<SystemTime>) -> i64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Where the ledger of a cache folder is looked for.
pub fn ledger_path(cache_dir: &Path) -> PathBuf {
    match std::env::var_os(LEDGER_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => absolute(cache_dir)
            .parent()
            .map_or_else(|| PathBuf::from(LEDGER_NAME), |p| p.join(LEDGER_NAME)),
    }
}

/// One function the ledger knows, by function key.
#[derive(Debug, Clone)]
struct LedgerFunction {
    namespace: String,
    function: String,
    strategy: String,
    derivation_error: Option<String>,
    /// The fingerprint source, its path made absolute, and its content snapshot.
    source: Option<(SourceRow, Option<Vec<u8>>)>,
}

/// Reads the ledger's rows, keyed by function key. Streamlit-data rows win over others.
fn read_ledger(path: &Path) -> std::result::Result<HashMap<String, LedgerFunction>, StoreError> {
    let store = Store::open(
        path,
        &OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )?;
    let base = store.base_dir();
    let mut out: HashMap<String, LedgerFunction> = HashMap::new();
    let mut after: Option<EntryId> = None;
    loop {
        let page = store.entries_page(&EntryFilter::default(), None, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for row in page {
            if !row.namespace.starts_with("streamlit-") {
                continue;
            }
            if out
                .get(&row.key)
                .is_some_and(|known| known.namespace == NAMESPACE)
            {
                continue;
            }
            let source = match row.source_id {
                Some(_) => store.entry_detail(row.id, 0)?.and_then(|d| {
                    let mut s = d.source?;
                    let p = Path::new(&s.path);
                    if p.is_relative() {
                        s.path = base.join(p).to_string_lossy().into_owned();
                    }
                    Some((s, d.source_content))
                }),
                None => None,
            };
            out.insert(
                row.key.clone(),
                LedgerFunction {
                    namespace: row.namespace,
                    function: row.function,
                    strategy: row.strategy,
                    derivation_error: row.derivation_error,
                    source,
                },
            );
        }
    }
    Ok(out)
}

/// A Streamlit cache folder, with what maps its files to functions.
pub struct StreamlitKind {
    dir: PathBuf,
    app: Option<PathBuf>,
    ledger: PathBuf,
}

impl StreamlitKind {
    /// Checks the app script (a bad `--app` is the user's error, said in one line).
    pub fn new(dir: &Path, options: &Options) -> Result<StreamlitKind> {
        let app = match &options.app {
            Some(app) => {
                let meta = std::fs::metadata(app).map_err(|e| io_error(app, e))?;
                if !meta.is_file() {
                    return Err(StoreError::NotAFile { path: app.clone() });
                }
                Some(absolute(app))
            }
            None => None,
        };
        Ok(StreamlitKind {
            dir: dir.to_path_buf(),
            app,
            ledger: ledger_path(dir),
        })
    }
}

/// One `.memo` file found by the walk.
struct MemoFile {
    path: PathBuf,
    function_key: String,
    stem: String,
    size: u64,
    mtime_ms: i64,
}

/// Builds the catalog: assigns source ids and keeps one row per distinct source.
struct Builder {
    catalog: Catalog,
    by_key: HashMap<String, SourceId>,
}

impl Builder {
    fn source(
        &mut self,
        dedup: String,
        make: impl FnOnce(SourceId) -> (SourceRow, Option<Vec<u8>>),
    ) -> SourceId {
        if let Some(id) = self.by_key.get(&dedup) {
            return *id;
        }
        let id = SourceId(self.catalog.sources.len() as i64 + 1);
        let (row, content) = make(id);
        self.catalog.sources.push(row);
        if let Some(c) = content {
            self.catalog.source_content.insert(id, c);
        }
        self.by_key.insert(dedup, id);
        id
    }
}

fn now_ms() -> i64 {
    ms_of(Ok(SystemTime::now()))
}

impl StreamlitKind {
    /// Lists the folder: `.memo` files, and a warning for everything else.
    fn walk(&self, warnings: &mut Vec<String>) -> Result<Vec<MemoFile>> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let mut items: Vec<_> = rd.flatten().collect();
        items.sort_by_key(|i| i.file_name());
        let mut files = Vec::new();
        for item in items {
            let path = item.path();
            let shown = path.display().to_string();
            let name = item.file_name();
            let Some(name) = name.to_str() else {
                warnings.push(format!(
                    "{shown}: not a Streamlit .memo file (name is not UTF-8); left alone"
                ));
                continue;
            };
            let (function_key, value_key) = match parse_memo_file_name(name) {
                MemoName::Memo {
                    function_key,
                    value_key,
                } => (function_key, value_key),
                MemoName::Unexpected { reason } => {
                    warnings.push(format!(
                        "{shown}: not a Streamlit .memo file ({reason}); left alone"
                    ));
                    continue;
                }
            };
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => continue, // removed meanwhile
            };
            if !meta.is_file() {
                let what = if meta.file_type().is_symlink() {
                    "a symbolic link"
                } else if meta.is_dir() {
                    "a directory"
                } else {
                    "not a regular file (a FIFO, socket or device)"
                };
                warnings.push(format!(
                    "{shown}: named like a .memo file but is {what}; never opened, left alone"
                ));
                continue;
            }
            match ends(&path) {
                Some((Some(PICKLE_PROTO), Some(PICKLE_STOP), _)) => {}
                Some((None, _, _)) => warnings.push(format!(
                    "{shown}: empty .memo file (being written, or a write failed)"
                )),
                Some((Some(PICKLE_PROTO), _, _)) => warnings.push(format!(
                    "{shown}: does not end like a pickle: truncated, or being written"
                )),
                // Not something Streamlit wrote: reported, never listed or deleted.
                Some(_) => {
                    warnings.push(format!(
                        "{shown}: does not start like a pickle (first byte is not 0x80); \
                         not Streamlit's, left alone"
                    ));
                    continue;
                }
                None => {
                    warnings.push(format!("{shown}: cannot be read; left alone"));
                    continue;
                }
            }
            files.push(MemoFile {
                stem: format!("{function_key}-{value_key}"),
                function_key,
                path,
                size: meta.len(),
                mtime_ms: ms_of(meta.modified()),
            });
        }
        Ok(files)
    }
}

/// "1 .memo file is", "2 .memo files are".
fn memo_files(n: usize) -> String {
    if n == 1 {
        "1 .memo file is".into()
    } else {
        format!("{n} .memo files are")
    }
}

/// What an orphan's detail says (the text of its `unmatched:` pseudo-digest).
fn orphan_reason(app: &Path, functions: usize, files: usize) -> String {
    format!(
        "no cached function of {} ({functions} in {files} files: the script, pages/*.py, the \
         local modules they import) has this key now; Streamlit reads the file only if that \
         exact source comes back. Edited or removed? Or a function static derivation cannot \
         hash (compiled, a lambda, one built or decorated at run time), or another app's file \
         in this shared folder",
        app.display()
    )
}

impl WalkedKind for StreamlitKind {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn scan(&self) -> Result<Catalog> {
        let mut warnings = Vec::new();
        let files = self.walk(&mut warnings)?;
        let mut b = Builder {
            catalog: Catalog::default(),
            by_key: HashMap::new(),
        };

        let ledger = if std::fs::metadata(&self.ledger).is_ok_and(|m| m.is_file()) {
            match read_ledger(&self.ledger) {
                Ok(l) => l,
                Err(e) => {
                    warnings.push(format!("ledger not read, files mapped without it: {e}"));
                    HashMap::new()
                }
            }
        } else {
            HashMap::new()
        };

        let app = self.app.as_ref().map(|a| key::derive_app_keys(a));
        let mut orphan_source: Option<SourceId> = None;
        if let (Some(scan), Some(app_path)) = (&app, &self.app) {
            for (file, why) in &scan.errors {
                warnings.push(format!(
                    "{}: not scanned ({why}); files whose key no function has are left \
                     unverifiable rather than stale",
                    file.display()
                ));
            }
            if scan.errors.is_empty() {
                let why = orphan_reason(app_path, scan.keys.len(), scan.files.len());
                let path = app_path.to_string_lossy().into_owned();
                let raw_path = SourceRow::raw_path_of(app_path);
                orphan_source = Some(b.source(format!("unmatched {path}"), |id| {
                    (
                        SourceRow {
                            id,
                            path,
                            raw_path,
                            span: None,
                            digest: format!("{}{why}", crate::verify::UNMATCHED_PREFIX),
                            size: None,
                            mtime_ns: None,
                            recorded_at: now_ms(),
                            content_len: None,
                            invalid_span: false,
                        },
                        None,
                    )
                }));
            }
        }
        let derived: HashMap<&str, &key::DerivedKey> = app
            .iter()
            .flat_map(|s| s.keys.iter())
            .map(|k| (k.function_key.as_str(), k))
            .collect();
        let mut file_bytes: HashMap<PathBuf, Option<Vec<u8>>> = HashMap::new();

        let (mut orphans, mut unmapped) = (0usize, 0usize);
        for (i, f) in files.into_iter().enumerate() {
            let mut row = EntryRow {
                id: EntryId(i as i64 + 1),
                namespace: NAMESPACE.into(),
                function: format!("streamlit:{}", f.function_key),
                key: f.stem.clone(),
                strategy: "unknown".into(),
                derivation_error: None,
                source_id: None,
                source_path: None,
                value_size: f.size.min(i64::MAX as u64) as i64,
                value_type: Some("pickle".into()),
                created_at: f.mtime_ms,
                accessed_at: None,
                hits: 0,
                expires_at: None,
                status: None,
            };
            if let Some(d) = derived.get(f.function_key.as_str()) {
                let path = absolute(&d.path);
                let bytes = file_bytes
                    .entry(path.clone())
                    .or_insert_with(|| match open_regular(&path) {
                        Opened::File { mut file, len } => {
                            crate::verify::read::read_all(&mut file, len).ok()
                        }
                        _ => None,
                    })
                    .clone();
                let (start, end) = (d.function.span.0 as u64, d.function.span.1 as u64);
                let span_bytes = bytes.as_ref().and_then(|all| {
                    LineIndex::new(all)
                        .span(start, end)
                        .map(|r| all[r].to_vec())
                });
                row.function = format!("{}:{}", d.module, d.function.qualname);
                row.strategy = "source".into();
                if let Some(span_bytes) = span_bytes {
                    let p = path.to_string_lossy().into_owned();
                    let sid = b.source(format!("span {p} {start} {end}"), |id| {
                        (
                            SourceRow {
                                id,
                                path: p,
                                raw_path: SourceRow::raw_path_of(&path),
                                span: Some((start, end)),
                                digest: digest::format(Algorithm::Sha256, &span_bytes),
                                size: None,
                                mtime_ns: None,
                                recorded_at: now_ms(),
                                content_len: Some(span_bytes.len() as u64),
                                invalid_span: false,
                            },
                            Some(span_bytes),
                        )
                    });
                    row.source_id = Some(sid);
                }
            } else if let Some(l) = ledger.get(&f.function_key) {
                row.function = l.function.clone();
                row.strategy = l.strategy.clone();
                row.derivation_error = l.derivation_error.clone();
                if let Some((s, content)) = &l.source {
                    let dedup = format!("ledger {}", s.id);
                    let sid =
                        b.source(dedup, |id| (SourceRow { id, ..s.clone() }, content.clone()));
                    row.source_id = Some(sid);
                }
            } else if let Some(sid) = orphan_source {
                orphans += 1;
                row.source_id = Some(sid);
            } else {
                unmapped += 1;
            }
            row.source_path = row.source_id.and_then(|sid| {
                b.catalog
                    .sources
                    .iter()
                    .find(|s| s.id == sid)
                    .map(|s| s.path.clone())
            });
            b.catalog.entries.push(CatalogEntry {
                row,
                dependencies: Vec::new(),
                location: f.path.clone(),
                value_file: Some(f.path),
                notes: Vec::new().into(),
            });
        }
        if orphans > 0 {
            warnings.push(format!(
                "{} matched by no cached function of the app: stale (changed). \
                 {} is shared by every Streamlit app of the user: files of another app are \
                 unmatched too, and a default purge removes them",
                memo_files(orphans),
                self.dir.display()
            ));
        }
        if unmapped > 0 {
            let why = if self.app.is_some() {
                "the app could not be scanned whole"
            } else {
                "no --app SCRIPT was given to re-derive keys from"
            };
            warnings.push(format!(
                "{} grouped by function key and unverifiable: {why}, and \
                 the ledger ({}) does not know their keys",
                memo_files(unmapped),
                self.ledger.display()
            ));
        }
        b.catalog.warnings = warnings;
        Ok(b.catalog)
    }

    fn change_token(&self) -> Result<i64> {
        // Cheap: the folder's own metadata changes when a file is created, renamed or
        // removed (Streamlit writes a value once, under a new name); the ledger's when a row
        // is added.
        use std::os::unix::fs::MetadataExt;
        let dir = std::fs::metadata(&self.dir).map_err(|e| io_error(&self.dir, e))?;
        let ledger = std::fs::metadata(&self.ledger)
            .map(|m| m.mtime_nsec() ^ m.mtime() ^ m.size() as i64)
            .unwrap_or(0);
        Ok(dir
            .mtime()
            .wrapping_mul(1_000_000_007)
            .wrapping_add(dir.mtime_nsec())
            .wrapping_add((dir.nlink() as i64) << 32)
            .wrapping_add(dir.size() as i64)
            ^ ledger.rotate_left(17))
    }

    fn busy(&self, entry: &CatalogEntry) -> Option<String> {
        let meta = match std::fs::symlink_metadata(&entry.location) {
            Ok(m) => m,
            Err(_) => return None, // gone: remove says so
        };
        if !meta.is_file() {
            return Some("no longer a regular file".into());
        }
        let mtime = ms_of(meta.modified());
        if meta.len() as i64 != entry.row.value_size || mtime != entry.row.created_at {
            return Some(
                "rewritten since it was listed (Streamlit writes .memo files in place)".into(),
            );
        }
        let age = now_ms().saturating_sub(mtime);
        if age < SETTLE.as_millis() as i64 {
            return Some(format!(
                "modified {age} ms ago: it may still be being written (Streamlit writes .memo \
                 files in place)"
            ));
        }
        None
    }

    fn remove(&self, entry: &CatalogEntry) -> std::io::Result<bool> {
        match std::fs::remove_file(&entry.location) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
