//! joblib.Memory locations, read in place (checked against joblib 1.6.0): one entry per call
//! folder, its status from the function's source text as joblib stored it in `func_code.py`.
//!
//! - `# first line: N` + text: strategy `source`. The stored text is the snapshot of lines N..
//!   of the module file: `fresh` when it still stands there, `moved` when it stands elsewhere in
//!   the file, `changed` when it is not in the file, `missing` when no source root holds the
//!   module (the detail names the roots searched). joblib itself only notices on the next call.
//! - `-1` + a code fingerprint: strategy `bytecode`. joblib could not read the source (a
//!   compiled function such as Cython's) and the fingerprint survives a rebuild: `changed` when
//!   the compiled module (`.so`/`.pyd`) was modified after the call was stored, judged by
//!   modification time; otherwise `unverifiable`.
//! - `-1` + `repr(func)`: strategy `name` (builtins), `unverifiable`.
//! - A `func_code.py` that is not joblib's: `failed` (joblib discards such results).
//!
//! Nothing is unpickled: `output.pkl` is only stat'ed (and its first bytes shown, rendered).
//! A purge renames a call folder aside, then removes it ([`tree::purge_call`]).

pub mod tree;

use super::catalog::{stable_id, Catalog, CatalogEntry, Walked, WalkedKind};
use super::{Backend, EntryId, EntryRow, Options, SourceId, SourceRow};
use crate::store::{Result, StoreError};
use crate::verify::MTIME_PREFIX;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tree::{CallRecord, FuncCode, FunctionRecord, JoblibError, ModuleFile};

/// Opens `path` when it is a joblib location (or its `joblib/` folder), recognised by content.
pub fn detect(path: &Path, options: &Options) -> Result<Option<Box<dyn Backend>>> {
    let Some(joblib_dir) = tree::detect(path) else {
        return Ok(None);
    };
    let roots = options.roots();
    let base = roots[0].clone();
    let kind = Joblib {
        joblib_dir,
        roots,
        function_dirs: Mutex::new(Vec::new()),
    };
    let walked = Walked::open(Arc::new(kind), path, base, options.open.read_only)?;
    Ok(Some(Box::new(walked)))
}

struct Joblib {
    joblib_dir: PathBuf,
    roots: Vec<PathBuf>,
    /// The function folders of the last walk: their times tell when joblib wrote.
    function_dirs: Mutex<Vec<PathBuf>>,
}

fn io_error(e: JoblibError) -> StoreError {
    let message = e.to_string();
    match e {
        JoblibError::Io { path, source } => StoreError::Io {
            path,
            cause: source,
        },
        // named by its folder, as a joblib tree (not "not a cachescope store" of no path)
        JoblibError::NotJoblib(path) | JoblibError::NotCallFolder(path) => {
            let prefix = format!("{}: ", path.display());
            StoreError::BadCache {
                what: message
                    .strip_prefix(&prefix)
                    .unwrap_or(&message)
                    .to_string(),
                path,
            }
        }
    }
}

fn mtime_ns(path: &Path) -> Option<i128> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i128)
}

/// `module:qualname` of a function folder, when its module file was found.
fn function_name(f: &FunctionRecord, module: Option<&ModuleFile>) -> String {
    match module {
        Some(m) => {
            let module = if f.is_main() {
                "__main__".to_string()
            } else {
                f.parts[..m.module_parts].join(".")
            };
            format!("{module}:{}", m.qualname(&f.parts))
        }
        None => f.parts.join("."),
    }
}

impl Joblib {
    fn roots_text(&self) -> String {
        self.roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The source row of a function whose text joblib stored, and what the detail should say.
    fn source_row(
        &self,
        f: &FunctionRecord,
        module: Option<&ModuleFile>,
        first_line: u32,
        text: &str,
    ) -> (SourceRow, Vec<String>) {
        let mut notes = Vec::new();
        let path = match module {
            Some(m) => m.path.clone(),
            None => {
                let guess: PathBuf = f.parts[..f.parts.len().saturating_sub(1)].iter().collect();
                notes.push(format!(
                    "the module file was not found under the source roots ({}): looked for \
                     {}.py and its parents' __init__.py; give --source-root where the code lives",
                    self.roots_text(),
                    guess.display()
                ));
                self.roots[0].join(guess.with_extension("py"))
            }
        };
        let lines = text.split_inclusive('\n').count().max(1) as u64;
        let span = (first_line as u64, first_line as u64 + lines - 1);
        let digest = crate::digest::format(crate::digest::Algorithm::Sha256, text.as_bytes());
        let id = SourceId(stable_id(&[
            b"source",
            path.as_os_str().as_bytes(),
            &first_line.to_le_bytes(),
            digest.as_bytes(),
        ]));
        notes.push(
            "joblib keeps the function's text (func_code.py): the diff shows what changed since; \
             joblib only compares it on the function's next call, and then discards every call"
                .into(),
        );
        let row = SourceRow {
            id,
            path: path.display().to_string(),
            raw_path: SourceRow::raw_path_of(&path),
            span: Some(span),
            digest,
            size: None,
            mtime_ns: None,
            recorded_at: 0,
            content_len: Some(text.len() as u64),
            invalid_span: false,
        };
        (row, notes)
    }
}

impl WalkedKind for Joblib {
    fn kind(&self) -> &'static str {
        "joblib"
    }

    fn scan(&self) -> Result<Catalog> {
        let functions = tree::scan(&self.joblib_dir).map_err(io_error)?;
        let mut catalog = Catalog::default();
        let mut dirs = Vec::with_capacity(functions.len());
        for f in &functions {
            dirs.push(f.dir.clone());
            let module = tree::module_file(&f.parts, &self.roots);
            let function = function_name(f, module.as_ref());
            // What every call of this function shares: strategy, source, notes.
            let mut strategy = "source";
            let mut shared_source = None;
            let mut derivation_error = None;
            let mut notes = Vec::new();
            let mut compiled = None;
            match &f.code {
                FuncCode::Source { first_line, text } => {
                    let (row, n) = self.source_row(f, module.as_ref(), *first_line, text);
                    catalog
                        .source_content
                        .insert(row.id, text.as_bytes().to_vec());
                    shared_source = Some(row.id);
                    catalog.sources.push(row);
                    notes = n;
                }
                FuncCode::Fingerprint(hex) => {
                    strategy = "bytecode";
                    compiled = tree::compiled_modules(&f.parts, &self.roots)
                        .into_iter()
                        .next()
                        .map(|m| m.path);
                    notes.push(format!(
                        "joblib could not read this function's source (for example a compiled \
                         Cython function) and keyed it on a fingerprint of its code object \
                         ({hex}); a rebuilt extension keeps that fingerprint, so joblib never \
                         notices a rebuild"
                    ));
                    match &compiled {
                        Some(so) => notes.push(format!(
                            "judged by the modification time of the compiled module {}, as \
                             joblib keeps no fingerprint of it",
                            so.display()
                        )),
                        None => notes.push(format!(
                            "no compiled module (.so/.pyd) for it was found under the source \
                             roots ({})",
                            self.roots_text()
                        )),
                    }
                }
                FuncCode::Repr(repr) => {
                    strategy = "name";
                    notes.push(format!(
                        "joblib stored repr(func) ({repr}): it has no code to read (a builtin), \
                         so nothing notices a change"
                    ));
                }
                FuncCode::Invalid(why) => {
                    derivation_error = Some(format!("func_code.py is not joblib's: {why}"));
                    notes.push(
                        "joblib cannot compare this function's code and discards its results on \
                         the next call"
                            .into(),
                    );
                }
            }
            let shared_notes: Arc<[String]> = notes.clone().into();
            for call in &f.calls {
                let created_at = call
                    .time
                    .map(|t| (t * 1000.0) as i64)
                    .or_else(|| mtime_ns(&call.dir).map(|ns| (ns / 1_000_000) as i64))
                    .unwrap_or(0);
                let source_id = match (&compiled, shared_source) {
                    (_, Some(id)) => Some(id),
                    (Some(so), None) => {
                        let stored_ns = created_at as i128 * 1_000_000;
                        let digest = format!("{MTIME_PREFIX}{stored_ns}");
                        let id = SourceId(stable_id(&[
                            b"compiled",
                            so.as_os_str().as_bytes(),
                            digest.as_bytes(),
                        ]));
                        if !catalog.sources.iter().any(|s| s.id == id) {
                            catalog.sources.push(SourceRow {
                                id,
                                path: so.display().to_string(),
                                raw_path: SourceRow::raw_path_of(so),
                                span: None,
                                digest,
                                size: None,
                                mtime_ns: None,
                                recorded_at: created_at,
                                content_len: None,
                                invalid_span: false,
                            });
                        }
                        Some(id)
                    }
                    (None, None) => None,
                };
                let entry_notes: Arc<[String]> = if call.problems.is_empty() {
                    shared_notes.clone()
                } else {
                    let mut own = notes.clone();
                    for p in &call.problems {
                        own.push(format!("{}: {p}", call.dir.display()));
                        catalog
                            .warnings
                            .push(format!("{}: {p}", call.dir.display()));
                    }
                    own.into()
                };
                catalog.entries.push(CatalogEntry {
                    row: entry_row(
                        call,
                        &function,
                        strategy,
                        &derivation_error,
                        source_id,
                        created_at,
                    ),
                    dependencies: Vec::new(),
                    location: call.dir.clone(),
                    value_file: Some(call.dir.join("output.pkl")),
                    notes: entry_notes,
                });
                if let Some(src) = source_id {
                    let path = catalog
                        .sources
                        .iter()
                        .find(|s| s.id == src)
                        .map(|s| s.path.clone());
                    catalog
                        .entries
                        .last_mut()
                        .expect("just pushed")
                        .row
                        .source_path = path;
                }
            }
        }
        *self.function_dirs.lock().unwrap_or_else(|e| e.into_inner()) = dirs;
        Ok(catalog)
    }

    fn change_token(&self) -> Result<i64> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        mtime_ns(&self.joblib_dir).hash(&mut h);
        for d in self
            .function_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            mtime_ns(d).hash(&mut h);
        }
        Ok(h.finish() as i64)
    }

    fn remove(&self, entry: &CatalogEntry) -> std::io::Result<bool> {
        if !entry.location.exists() {
            return Ok(false);
        }
        match tree::purge_call(&self.joblib_dir, &entry.location) {
            Ok(_) => Ok(true),
            Err(JoblibError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(false)
            }
            Err(JoblibError::Io { source, .. }) => Err(source),
            Err(other) => Err(std::io::Error::other(other.to_string())),
        }
    }
}

fn entry_row(
    call: &CallRecord,
    function: &str,
    strategy: &str,
    derivation_error: &Option<String>,
    source_id: Option<SourceId>,
    created_at: i64,
) -> EntryRow {
    let args = call.args_text();
    EntryRow {
        id: EntryId(stable_id(&[b"call", call.dir.as_os_str().as_bytes()])),
        namespace: "joblib".into(),
        function: function.to_string(),
        key: if args.is_empty() {
            call.hash.clone()
        } else {
            format!("{} ({args})", call.hash)
        },
        strategy: strategy.into(),
        derivation_error: derivation_error.clone(),
        source_id,
        source_path: None,
        value_size: call.size.min(i64::MAX as u64) as i64,
        value_type: Some("pickle".into()),
        created_at,
        accessed_at: None,
        hits: 0,
        expires_at: None,
        status: None,
    }
}
