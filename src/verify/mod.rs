//! Verification: re-reads the files that entries' fingerprints came from and gives each source
//! row a status. Nothing is written. Each distinct file is read once, however many source rows
//! (spans, digests) and entries share it, and files are checked in parallel across cores.

mod paths;
pub mod read;
mod stream;

pub use paths::{parse_remap, PathMap};
pub use stream::{Statuses, Streamed};

use crate::digest::{self, LineIndex, Recorded, SpanCheck};
use crate::status::Status;
use crate::types::{SourceId, SourceRow};
use rayon::prelude::*;
use read::Opened;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Files holding span sources are read whole for the moved search up to this size; spans in
/// larger files are reported unreadable rather than letting one hostile row eat the memory.
pub const SPAN_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// What verification found for one source row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCheck {
    /// Fresh, Moved, Changed, Missing or Unreadable.
    pub status: Status,
    /// The file that was read, after remapping and resolving against the store's directory.
    pub resolved: PathBuf,
    /// The digest of what stands at the recorded place now, when there is such a thing.
    pub current_digest: Option<String>,
    /// For a moved span: the lines where the block stands now.
    pub moved_to: Option<(u64, u64)>,
    /// Why a source is unreadable.
    pub detail: Option<String>,
}

/// Checks every source row, reading each distinct file once. `progress(done, total)` is called
/// (from worker threads) as source rows are checked.
pub fn verify_sources(
    sources: &[SourceRow],
    paths: &PathMap,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> HashMap<SourceId, SourceCheck> {
    // Group by the recorded string first (cheap), then merge strings naming the same file.
    // Keyed by the recorded bytes: two paths that differ only in invalid UTF-8 are two files.
    let mut by_recorded: HashMap<&[u8], Vec<&SourceRow>> = HashMap::new();
    let mut out: HashMap<SourceId, SourceCheck> = HashMap::new();
    for s in sources {
        if s.path.trim().is_empty() {
            // Resolving "" would read the store's own directory.
            out.insert(
                s.id,
                SourceCheck::unreadable(Path::new(""), "empty path in the store"),
            );
        } else {
            by_recorded.entry(s.path_bytes()).or_default().push(s);
        }
    }
    // Keyed by the resolved path's bytes: `Path` equality ignores a trailing slash (and `.`
    // components), and `reg` and `reg/` open differently; whichever came first decided both.
    let mut by_file: HashMap<std::ffi::OsString, Vec<&SourceRow>> =
        HashMap::with_capacity(by_recorded.len());
    for (recorded, rows) in by_recorded {
        by_file
            .entry(paths.resolve_os(bytes_path(recorded)).into_os_string())
            .or_default()
            .extend(rows);
    }
    let total = sources.len();
    let done = AtomicUsize::new(out.len());
    progress(out.len(), total);
    let checked: Vec<(SourceId, SourceCheck)> = by_file
        .into_par_iter()
        .flat_map_iter(|(path, rows)| {
            let checks = check_file(Path::new(&path), &rows);
            let now = done.fetch_add(rows.len(), Ordering::Relaxed) + rows.len();
            progress(now, total);
            checks
        })
        .collect();
    out.extend(checked);
    out
}

fn bytes_path(b: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b)
}

impl SourceCheck {
    /// A check of a file at `path` with `status` and nothing else known.
    fn new(path: &Path, status: Status) -> SourceCheck {
        SourceCheck {
            status,
            resolved: path.to_path_buf(),
            current_digest: None,
            moved_to: None,
            detail: None,
        }
    }

    /// The current digest, or why there is none (unreadable, missing), for display.
    pub fn current_or_reason(&self) -> String {
        self.current_digest
            .clone()
            .or_else(|| self.detail.clone())
            .unwrap_or_else(|| "-".into())
    }

    /// For a source id that entries reference but the store has no row for: the fingerprint
    /// source is gone, so the entries are treated as `missing`.
    pub fn not_in_store(id: SourceId) -> SourceCheck {
        SourceCheck {
            detail: Some(format!("source row {id} is not in the store")),
            ..SourceCheck::new(Path::new(""), Status::Missing)
        }
    }

    fn unreadable(path: &Path, why: impl Into<String>) -> SourceCheck {
        SourceCheck {
            detail: Some(why.into()),
            ..SourceCheck::new(path, Status::Unreadable)
        }
    }
}

/// The pseudo-digest of a source that a cache keeps no fingerprint of (diskcache, a joblib
/// compiled function): `mtime:NS`, the time in nanoseconds at which the entry was stored. It is
/// made by cachescope's own backends, never written to a store.
pub const MTIME_PREFIX: &str = "mtime:";

/// The pseudo-digest of a key that no current derivation gives any more: a backend that
/// re-derives every key from the file at the row's path (and what that file imports) found none
/// equal to the entry's, so the entry can only be read again if that exact source comes back.
/// `unmatched:WHY` (WHY, the backend's explanation, is shown as the recorded digest):
/// `changed` while the file exists, `missing` when it is gone. Made by cachescope's own
/// backends (Streamlit's `.memo` files with `--app`), never written to a store.
pub const UNMATCHED_PREFIX: &str = "unmatched:";

/// Judges an entry whose key no current derivation from `path` gives: see [`UNMATCHED_PREFIX`].
fn check_unmatched(path: &Path) -> SourceCheck {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            SourceCheck::new(path, Status::Missing)
        }
        Err(e) => SourceCheck::unreadable(path, e.to_string()),
        Ok(m) if !m.is_file() => SourceCheck::unreadable(path, "not a regular file"),
        Ok(_) => SourceCheck {
            detail: Some("no key derived from this file now is the entry's".into()),
            ..SourceCheck::new(path, Status::Changed)
        },
    }
}

/// Judges a file by its modification time against the time an entry was stored: `changed` when
/// it was modified after, otherwise `unverifiable` (an unmodified file proves nothing about
/// what the key was derived from).
fn check_mtime(path: &Path, stored_ns: &str) -> SourceCheck {
    let Ok(stored_ns) = stored_ns.trim().parse::<i128>() else {
        return SourceCheck::unreadable(path, "malformed stored time");
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return SourceCheck::new(path, Status::Missing)
        }
        Err(e) => return SourceCheck::unreadable(path, e.to_string()),
    };
    if !meta.is_file() {
        return SourceCheck::unreadable(path, "not a regular file");
    }
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    let when = |ns: i128| {
        chrono::DateTime::from_timestamp_nanos(ns.clamp(0, i64::MAX as i128) as i64)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let (status, detail) = if modified_ns > stored_ns {
        (
            Status::Changed,
            format!(
                "modified {}, after the entry was stored (at or before {}); judged by modification \
                 time, as the cache keeps no fingerprint of this file",
                when(modified_ns),
                when(stored_ns)
            ),
        )
    } else {
        (
            Status::Unverifiable,
            format!(
                "not modified since the entry was stored ({}); judged by modification time only, \
                 as the cache keeps no fingerprint of this file",
                when(stored_ns)
            ),
        )
    };
    SourceCheck {
        detail: Some(detail),
        ..SourceCheck::new(path, status)
    }
}

/// Checks all source rows recorded against one file.
fn check_file(path: &Path, rows: &[&SourceRow]) -> Vec<(SourceId, SourceCheck)> {
    let mut out = Vec::with_capacity(rows.len());
    let mut valid: Vec<(&SourceRow, Recorded)> = Vec::with_capacity(rows.len());
    // Rows that cannot be checked against the file (why): unreadable while the file is there.
    let mut uncheckable: Vec<(SourceId, String)> = Vec::new();
    for row in rows {
        if let Some(stored) = row.digest.strip_prefix(MTIME_PREFIX) {
            out.push((row.id, check_mtime(path, stored)));
            continue;
        }
        if row.digest.starts_with(UNMATCHED_PREFIX) {
            out.push((row.id, check_unmatched(path)));
            continue;
        }
        match digest::parse(&row.digest) {
            _ if row.invalid_span => uncheckable.push((row.id, "invalid span in the store".into())),
            Ok(r) => valid.push((row, r)),
            Err(e) => uncheckable.push((row.id, e.to_string())),
        }
    }
    if valid.is_empty() && uncheckable.is_empty() {
        return out;
    }
    let opened = read::open_regular(path);
    // A file that is gone is missing whatever its row says.
    let gone = matches!(opened, Opened::Missing);
    out.extend(uncheckable.into_iter().map(|(id, why)| {
        let check = if gone {
            SourceCheck::new(path, Status::Missing)
        } else {
            SourceCheck::unreadable(path, why)
        };
        (id, check)
    }));
    if valid.is_empty() {
        return out;
    }
    let all = |check: SourceCheck| valid.iter().map(move |(row, _)| (row.id, check.clone()));
    let (mut file, len) = match opened {
        Opened::File { file, len } => (file, len),
        Opened::Missing => {
            out.extend(all(SourceCheck::new(path, Status::Missing)));
            return out;
        }
        Opened::Unreadable(why) => {
            out.extend(all(SourceCheck::unreadable(path, why)));
            return out;
        }
    };
    let has_spans = valid.iter().any(|(row, _)| row.span.is_some());
    if has_spans && len <= SPAN_FILE_LIMIT {
        let bytes = match read::read_all(&mut file, len) {
            Ok(b) => b,
            Err(e) => {
                out.extend(all(SourceCheck::unreadable(path, e.to_string())));
                return out;
            }
        };
        let lines = LineIndex::new(&bytes);
        for (row, recorded) in &valid {
            let same = Some(row.digest.to_ascii_lowercase());
            let check = match row.span {
                Some(span) => {
                    match digest::check_span(&bytes, &lines, span, recorded, row.content_len) {
                        SpanCheck::Fresh => SourceCheck {
                            current_digest: same,
                            ..SourceCheck::new(path, Status::Fresh)
                        },
                        SpanCheck::Moved { start, end } => SourceCheck {
                            current_digest: same,
                            moved_to: Some((start, end)),
                            ..SourceCheck::new(path, Status::Moved)
                        },
                        SpanCheck::Changed { current } => SourceCheck {
                            current_digest: current,
                            ..SourceCheck::new(path, Status::Changed)
                        },
                    }
                }
                None => whole_file(path, recorded, &digest::hex(recorded.algorithm, &bytes)),
            };
            out.push((row.id, check));
        }
        return out;
    }
    // Whole-file sources only (or a file too large for span checks): stream it once through
    // one hasher per algorithm in use.
    let mut hashers: Vec<(digest::Algorithm, Box<dyn sha2::digest::DynDigest + Send>)> = Vec::new();
    for (row, recorded) in &valid {
        if row.span.is_none() && !hashers.iter().any(|(a, _)| *a == recorded.algorithm) {
            hashers.push((recorded.algorithm, recorded.algorithm.hasher()));
        }
    }
    if let Err(e) = read::stream(&mut file, |chunk| {
        hashers.iter_mut().for_each(|(_, h)| h.update(chunk))
    }) {
        out.extend(all(SourceCheck::unreadable(path, e.to_string())));
        return out;
    }
    let finished: Vec<(digest::Algorithm, String)> = hashers
        .into_iter()
        .map(|(a, h)| (a, hex::encode(h.finalize())))
        .collect();
    for (row, recorded) in &valid {
        let check = match row.span {
            Some(_) => SourceCheck::unreadable(
                path,
                format!(
                    "file larger than {} MiB: spans are not checked",
                    SPAN_FILE_LIMIT >> 20
                ),
            ),
            None => {
                let current = finished
                    .iter()
                    .find(|(a, _)| *a == recorded.algorithm)
                    .map(|(_, h)| h.as_str())
                    .unwrap_or_default();
                whole_file(path, recorded, current)
            }
        };
        out.push((row.id, check));
    }
    out
}

fn whole_file(path: &Path, recorded: &Recorded, current_hex: &str) -> SourceCheck {
    let status = if current_hex == recorded.hex {
        Status::Fresh
    } else {
        Status::Changed
    };
    SourceCheck {
        current_digest: Some(format!("{}:{current_hex}", recorded.algorithm.name())),
        ..SourceCheck::new(path, status)
    }
}

/// The bytes standing at lines `start..=end` of a regular file now (for showing what changed),
/// or `None` when the file cannot be read safely or is shorter.
pub fn read_span(path: &Path, (start, end): (u64, u64)) -> Option<Vec<u8>> {
    let Opened::File { mut file, len } = read::open_regular(path) else {
        return None;
    };
    if len > SPAN_FILE_LIMIT {
        return None;
    }
    let bytes = read::read_all(&mut file, len).ok()?;
    let range = LineIndex::new(&bytes).span(start, end)?;
    Some(bytes[range].to_vec())
}

#[cfg(test)]
mod tests;
