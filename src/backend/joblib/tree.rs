//! joblib.Memory locations, read in place.
//!
//! Layout written by joblib (checked against joblib 1.6.0):
//!
//! ```text
//! <location>/joblib/<module parts>/<qualname parts>/<name>/func_code.py
//! <location>/joblib/<module parts>/<qualname parts>/<name>/<32 hex args hash>/output.pkl
//!                                                                           /metadata.json
//! ```
//!
//! * The folder path is `func.__module__.split('.')`, then `func.__qualname__`'s parts but the
//!   last (so `Geometry/area`, `make_scaler/<locals>/scale`), then `func.__name__`. Where the
//!   module ends and the qualname begins is only known by finding the module file.
//! * `__main__` functions: the module is `__main__-` + the script's absolute path with `os.sep`
//!   replaced by `-` and `.py` cut; that whole name is then split on `.` like any module, so
//!   `/tmp/run-me.v2/job.py` becomes the folders `__main__--tmp-run-me` / `v2-job`.
//! * `func_code.py` is `# first line: N\n` + the exact lines N.. of the source file making up
//!   the function's block (not dedented; decorators included since N is the first decorator's
//!   line; ends with the file's own newline). Without readable source it is
//!   `# first line: -1\n` + a 32-hex md5 fingerprint of the code object (Cython functions:
//!   their `co_filename` is a relative `x.pyx`) or `repr(func)` (builtins), no newline after.
//! * `metadata.json`: `{"duration": s, "input_args": {name: repr}, "time": unix seconds}`.
//!
//! Nothing here unpickles: `output.pkl` is only stat'ed.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The marker joblib writes before the line number (`FIRST_LINE_TEXT` plus a space).
pub const FIRST_LINE: &str = "# first line: ";
/// Folder-name prefix of `__main__` functions.
pub const MAIN_PREFIX: &str = "__main__-";
/// Prefix of call folders being purged (see [`purge_call`]); scans skip them.
pub const PURGE_PREFIX: &str = ".cachescope-purge-";

const MAX_DEPTH: usize = 64;
const MAX_FUNC_CODE: u64 = 4 << 20;
const MAX_METADATA: u64 = 1 << 20;

/// Errors that stop a scan: the location itself cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum JoblibError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a joblib location (no joblib/ folder with func_code.py files)")]
    NotJoblib(PathBuf),
    #[error("{0}: not a call folder inside a joblib function folder")]
    NotCallFolder(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JoblibError + '_ {
    move |source| JoblibError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `func_code.py` says about the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FuncCode {
    /// `# first line: N` and the function's source lines.
    Source { first_line: u32, text: String },
    /// `# first line: -1` and joblib's md5 fingerprint of the code object (compiled functions).
    Fingerprint(String),
    /// `# first line: -1` and `repr(func)` (builtins and other objects without `__code__`).
    Repr(String),
    /// Not what joblib writes; the reason, naming the file.
    Invalid(String),
}

/// One function folder (one that holds `func_code.py`).
#[derive(Clone, Debug)]
pub struct FunctionRecord {
    /// The folder.
    pub dir: PathBuf,
    /// Folder names from the `joblib/` folder down to the function folder (last = name).
    pub parts: Vec<String>,
    pub code: FuncCode,
    pub calls: Vec<CallRecord>,
}

impl FunctionRecord {
    /// The function's `__name__` (the last folder).
    pub fn name(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }

    /// Whether the function was defined in a `__main__` script (its first folder is
    /// `__main__-<encoded script path>`; see [`module_file`] to find the script).
    pub fn is_main(&self) -> bool {
        self.parts
            .first()
            .is_some_and(|p| p.starts_with(MAIN_PREFIX))
    }
}

/// One call folder.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub dir: PathBuf,
    /// joblib's argument hash (the folder name).
    pub hash: String,
    /// Sum of the sizes of the files in the folder (recursively; joblib may write
    /// `output.pkl_NN.npy` beside `output.pkl`).
    pub size: u64,
    /// `time` from metadata.json: Unix seconds when the call's result was stored.
    pub time: Option<f64>,
    /// `duration` from metadata.json, seconds.
    pub duration: Option<f64>,
    /// `input_args` from metadata.json in file order: (name, Python repr), escaped for a
    /// terminal.
    pub input_args: Vec<(String, String)>,
    pub problems: Vec<CallProblem>,
}

impl CallRecord {
    /// `name=repr, ...` of the call's arguments (already escaped).
    pub fn args_text(&self) -> String {
        self.input_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Something wrong with a call folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallProblem {
    /// No `output.pkl`: joblib treats the call as not cached.
    MissingOutput,
    /// No `metadata.json`: joblib still loads the output.
    MissingMetadata,
    /// `metadata.json` is unreadable or not joblib's JSON: why.
    BadMetadata(String),
}

impl fmt::Display for CallProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallProblem::MissingOutput => f.write_str("no output.pkl"),
            CallProblem::MissingMetadata => f.write_str("no metadata.json"),
            CallProblem::BadMetadata(why) => write!(f, "bad metadata.json: {why}"),
        }
    }
}

/// The `joblib/` folder of a location given as the location, the `joblib/` folder itself, or
/// (by content) any folder whose function folders hold a `func_code.py` starting with
/// `# first line: `.
pub fn detect(path: &Path) -> Option<PathBuf> {
    let inner = path.join("joblib");
    for cand in [inner.as_path(), path] {
        let mut budget = DETECT_BUDGET;
        if cand.is_dir() && has_func_code(cand, 0, &mut budget) {
            return Some(cand.to_path_buf());
        }
    }
    None
}

/// How many directories recognising a joblib location may read: a location's first
/// `func_code.py` sits a few module folders down, and a home directory given by mistake is
/// not walked whole.
const DETECT_BUDGET: usize = 2_000;

fn has_func_code(dir: &Path, depth: usize, budget: &mut usize) -> bool {
    if depth > MAX_DEPTH || *budget == 0 {
        return false;
    }
    *budget -= 1;
    let fc = dir.join("func_code.py");
    if depth > 0 {
        if let Ok(head) = read_capped(&fc, MAX_FUNC_CODE) {
            if head.starts_with(FIRST_LINE.as_bytes()) {
                return true;
            }
        }
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        e.file_type().is_ok_and(|t| t.is_dir())
            && !is_call_name(&e.file_name().to_string_lossy())
            && has_func_code(&e.path(), depth + 1, budget)
    })
}

/// joblib's argument hashes are 32 lowercase hex digits.
pub fn is_call_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses the bytes of a `func_code.py`.
pub fn parse_func_code(path: &Path, bytes: &[u8]) -> FuncCode {
    let invalid = |why: &str| FuncCode::Invalid(format!("{}: {why}", path.display()));
    let Ok(text) = std::str::from_utf8(bytes) else {
        return invalid("func_code.py is not UTF-8");
    };
    let Some(rest) = text.strip_prefix(FIRST_LINE) else {
        return invalid("func_code.py does not start with '# first line: '");
    };
    let (num, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let Ok(n) = num.trim().parse::<i64>() else {
        return invalid("func_code.py has no line number after '# first line:'");
    };
    if n == -1 {
        if body.len() == 32 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
            FuncCode::Fingerprint(body.to_string())
        } else {
            FuncCode::Repr(crate::pickle::escape_unsafe(body))
        }
    } else {
        match u32::try_from(n) {
            Ok(first_line) if first_line > 0 => FuncCode::Source {
                first_line,
                text: body.to_string(),
            },
            _ => invalid("func_code.py has an impossible first line"),
        }
    }
}

/// Whether `text` (a `func_code.py` body) is exactly the lines of `source` starting at line
/// `first_line` (1-based), which is how joblib decides the function is unchanged.
pub fn matches_source(text: &str, first_line: u32, source: &str) -> bool {
    let Some(start) = (first_line as usize).checked_sub(1) else {
        return false;
    };
    let mut src = source.split_inclusive('\n').skip(start);
    text.split_inclusive('\n').all(|l| src.next() == Some(l))
}

/// Walks a `joblib/` folder: every function folder with its calls, sorted by path.
pub fn scan(joblib_dir: &Path) -> Result<Vec<FunctionRecord>, JoblibError> {
    let mut out = Vec::new();
    fs::read_dir(joblib_dir).map_err(io(joblib_dir))?;
    walk(joblib_dir, &mut Vec::new(), 0, &mut out)?;
    out.sort_by(|a, b| a.parts.cmp(&b.parts));
    Ok(out)
}

fn walk(
    dir: &Path,
    parts: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<FunctionRecord>,
) -> Result<(), JoblibError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut subdirs = Vec::new();
    let mut has_code = false;
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let ft = e.file_type().map_err(io(&e.path()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() && !name.starts_with(PURGE_PREFIX) {
            subdirs.push(name);
        } else if ft.is_file() && name == "func_code.py" {
            has_code = true;
        }
    }
    subdirs.sort();
    let (call_names, others): (Vec<&String>, Vec<&String>) = subdirs.iter().partition(|name| {
        has_code && is_call_name(name) && !dir.join(name).join("func_code.py").exists()
    });
    // Call folders are independent: read them on every core (a function can have 100,000).
    let calls = {
        use rayon::prelude::*;
        call_names
            .par_iter()
            .map(|name| read_call(&dir.join(name), name))
            .collect::<Result<Vec<_>, _>>()?
    };
    for name in others {
        parts.push(name.clone());
        walk(&dir.join(name), parts, depth + 1, out)?;
        parts.pop();
    }
    if has_code && depth > 0 {
        let fc = dir.join("func_code.py");
        let code = match read_capped(&fc, MAX_FUNC_CODE) {
            Ok(b) => parse_func_code(&fc, &b),
            Err(e) => FuncCode::Invalid(format!("{}: {e}", fc.display())),
        };
        out.push(FunctionRecord {
            dir: dir.to_path_buf(),
            parts: parts.clone(),
            code,
            calls,
        });
    }
    Ok(())
}

/// Reads a small file of joblib's whole, refusing anything but a regular file (a FIFO put in its
/// place is never opened for reading, so a walk cannot block on it).
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use crate::verify::read::{open_regular, Opened};
    let f = match open_regular(path) {
        Opened::File { file, .. } => file,
        Opened::Missing => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        }
        Opened::Unreadable(why) => return Err(std::io::Error::other(why)),
    };
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(buf)
}

/// metadata.json with `input_args` kept in file order.
#[derive(Deserialize)]
struct Metadata {
    duration: Option<f64>,
    time: Option<f64>,
    #[serde(default, deserialize_with = "ordered_args")]
    input_args: Vec<(String, String)>,
}

fn ordered_args<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of argument reprs")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some((k, val)) = m.next_entry::<String, serde_json::Value>()? {
                let text = match val {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                v.push((k, text));
            }
            Ok(v)
        }
    }
    d.deserialize_map(V)
}

fn dir_size(dir: &Path, depth: usize) -> Result<u64, JoblibError> {
    let mut total = 0;
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let md = fs::symlink_metadata(e.path()).map_err(io(&e.path()))?;
        if md.is_dir() && depth < 8 {
            total += dir_size(&e.path(), depth + 1)?;
        } else if md.is_file() {
            total += md.len();
        }
    }
    Ok(total)
}

/// Reads one call folder: size, metadata, problems.
pub fn read_call(dir: &Path, hash: &str) -> Result<CallRecord, JoblibError> {
    let mut problems = Vec::new();
    if !dir.join("output.pkl").is_file() {
        problems.push(CallProblem::MissingOutput);
    }
    let (mut time, mut duration, mut input_args) = (None, None, Vec::new());
    let mp = dir.join("metadata.json");
    match read_capped(&mp, MAX_METADATA) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(CallProblem::MissingMetadata)
        }
        Err(e) => problems.push(CallProblem::BadMetadata(e.to_string())),
        Ok(bytes) => match serde_json::from_slice::<Metadata>(&bytes) {
            Ok(m) => {
                time = m.time;
                duration = m.duration;
                input_args = m
                    .input_args
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            crate::pickle::escape_unsafe(&k),
                            crate::pickle::escape_unsafe(&v),
                        )
                    })
                    .collect();
            }
            Err(e) => problems.push(CallProblem::BadMetadata(e.to_string())),
        },
    }
    Ok(CallRecord {
        dir: dir.to_path_buf(),
        hash: hash.to_string(),
        size: dir_size(dir, 0)?,
        time,
        duration,
        input_args,
        problems,
    })
}

/// Where a function folder's module lives under one of `roots`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleFile {
    /// The `.py` file (`a/b/c.py` or `a/b/c/__init__.py`) or the `__main__` script.
    pub path: PathBuf,
    /// How many of the function's folders name the module; the rest are qualname parts.
    pub module_parts: usize,
}

impl ModuleFile {
    /// `module.qualname` for `parts` (the function's folders).
    pub fn qualname(&self, parts: &[String]) -> String {
        parts[self.module_parts..].join(".")
    }
}

/// The module file a function folder (`parts`, see [`FunctionRecord::parts`]) was cached from:
/// the longest folder prefix that names `<root>/a/b/c.py` or `<root>/a/b/c/__init__.py`, or for
/// `__main__--…` folders the script joblib encoded (found on the file system).
pub fn module_file(parts: &[String], roots: &[PathBuf]) -> Option<ModuleFile> {
    if parts.first()?.starts_with(MAIN_PREFIX) {
        return main_script(parts);
    }
    for k in (1..parts.len()).rev() {
        let rel: PathBuf = parts[..k].iter().collect();
        for root in roots {
            let dir = root.join(&rel);
            let py = dir.with_extension("py");
            if py.is_file() {
                return Some(ModuleFile {
                    path: py,
                    module_parts: k,
                });
            }
            let init = dir.join("__init__.py");
            if init.is_file() {
                return Some(ModuleFile {
                    path: init,
                    module_parts: k,
                });
            }
        }
    }
    None
}

/// Compiled modules (`c.cpython-311-x86_64-linux-gnu.so`, `c.abi3.so`, `c.so`, `c.pyd`,
/// `c.cp311-win_amd64.pyd`) that a function folder's module prefix names under `roots`,
/// longest prefix first: what a `-1` fingerprint entry was compiled from.
pub fn compiled_modules(parts: &[String], roots: &[PathBuf]) -> Vec<ModuleFile> {
    let mut found = Vec::new();
    for k in (1..parts.len()).rev() {
        let stem = &parts[k - 1];
        let rel: PathBuf = parts[..k - 1].iter().collect();
        for root in roots {
            let dir = root.join(&rel);
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let mut hits: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(stem.as_str())
                        .and_then(|r| r.strip_prefix('.'))
                        .is_some_and(|r| {
                            (r.ends_with(".so") || r.ends_with(".pyd") || r == "so" || r == "pyd")
                                && !r.contains('/')
                        })
                })
                .map(|n| dir.join(n))
                .filter(|p| p.is_file())
                .collect();
            hits.sort();
            found.extend(hits.into_iter().map(|path| ModuleFile {
                path,
                module_parts: k,
            }));
        }
    }
    found
}

/// Decodes `__main__-<path with os.sep as '-', .py cut>` (split on `.` across folders) back to
/// the script by walking the file system: every `-` may have been a `/` or a `-`, every folder
/// break a `.`. Returns the first match, trying the longest module prefix first.
fn main_script(parts: &[String]) -> Option<ModuleFile> {
    for k in (1..parts.len()).rev() {
        let encoded = parts[..k].join(".");
        let rest = encoded.strip_prefix(MAIN_PREFIX)?;
        // an absolute POSIX path encodes as '-' + components
        let Some(rest) = rest.strip_prefix('-') else {
            continue;
        };
        let mut budget = 10_000usize;
        if let Some(path) = find_encoded(Path::new("/"), rest, &mut budget) {
            return Some(ModuleFile {
                path,
                module_parts: k,
            });
        }
    }
    None
}

fn find_encoded(dir: &Path, rest: &str, budget: &mut usize) -> Option<PathBuf> {
    let rd = fs::read_dir(dir).ok()?;
    let mut names: Vec<(String, bool)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let is_dir = e.file_type().ok()?.is_dir();
            Some((n, is_dir))
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        if !is_dir
            && (name.strip_suffix(".py") == Some(rest) || (name == rest && !rest.ends_with(".py")))
        {
            return Some(dir.join(name));
        }
        if is_dir {
            if let Some(r) = rest
                .strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix('-'))
            {
                if let Some(p) = find_encoded(&dir.join(&name), r, budget) {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// What [`purge_call`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Bytes of the files removed.
    pub bytes: u64,
    /// Whether the function folder went too (no call folders were left in it).
    pub removed_function: bool,
}

/// Removes one call folder: renames it to `.cachescope-purge-<pid>-<hash>` beside itself (so a
/// concurrent joblib either sees the whole call or none of it), deletes that, then deletes the
/// function folder when only files (`func_code.py`) are left in it (the files one by one, then
/// a non-recursive rmdir, so a call folder a concurrent joblib just created survives), and any
/// module folders that became empty up to (not including) `joblib_dir`.
pub fn purge_call(joblib_dir: &Path, call_dir: &Path) -> Result<PurgeOutcome, JoblibError> {
    let name = call_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| is_call_name(n))
        .ok_or_else(|| JoblibError::NotCallFolder(call_dir.to_path_buf()))?;
    let func_dir = call_dir
        .parent()
        .filter(|p| {
            p.join("func_code.py").is_file() && p.starts_with(joblib_dir) && *p != joblib_dir
        })
        .ok_or_else(|| JoblibError::NotCallFolder(call_dir.to_path_buf()))?;
    let bytes = dir_size(call_dir, 0)?;
    let tmp = func_dir.join(format!("{PURGE_PREFIX}{}-{name}", std::process::id()));
    fs::rename(call_dir, &tmp).map_err(io(call_dir))?;
    if let Err(e) = fs::remove_dir_all(&tmp) {
        // Put what is left back where joblib (and the next purge) can see it.
        let _ = fs::rename(&tmp, call_dir);
        return Err(io(call_dir)(e));
    }
    let only_files = fs::read_dir(func_dir)
        .map_err(io(func_dir))?
        .flatten()
        .all(|e| e.file_type().is_ok_and(|t| !t.is_dir()));
    let mut removed_function = false;
    if only_files {
        // Files one by one, then a plain rmdir: a call folder a concurrent joblib creates in
        // the meantime makes the rmdir fail instead of being deleted with the rest.
        for e in fs::read_dir(func_dir).map_err(io(func_dir))?.flatten() {
            if e.file_type().is_ok_and(|t| !t.is_dir()) {
                match fs::remove_file(e.path()) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(io(&e.path())(err)),
                }
            }
        }
        removed_function = fs::remove_dir(func_dir).is_ok();
        let mut d = func_dir.parent();
        while let Some(p) = d {
            if p == joblib_dir || !p.starts_with(joblib_dir) || fs::remove_dir(p).is_err() {
                break;
            }
            d = p.parent();
        }
    }
    Ok(PurgeOutcome {
        bytes,
        removed_function,
    })
}

#[cfg(test)]
mod tests;
