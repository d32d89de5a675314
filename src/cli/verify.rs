//! `verify`: every referenced source checked, worst first, with the entries each decides.
//!
//! A store may reference hundreds of thousands of sources. While they are checked, only a few
//! bytes are noted per source ([`Noted`]); to print, the rows are read again by id, in the
//! order shown, so neither the rows nor the output are ever held whole.

use super::output::{print_json, use_color, Cell, JsonSeq, Table};
use super::{open_store, Exit, PathArgs};
use crate::backend::{SourceId, SourceRow};
use crate::model;
use crate::status::Status;
use crate::verify::{PathMap, SourceCheck};
use crate::view::{span_label, SpanLabel};
use anyhow::{Context, Result};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADERS: [&str; 6] = [
    "STATUS", "ENTRIES", "SOURCE", "LINES", "RECORDED", "CURRENT",
];

pub fn verify(path: &Path, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let mut table = Table::headed(&HEADERS, use_color());
    let mut noted = NotedChecks::default();
    let usage = model::verify_with_usage(store.as_ref(), &map, |row, check| {
        noted.note(row, check, &map);
        if !json {
            let n = &noted.checks[noted.checks.len() - 1];
            table.widen(&source_cells(row, &noted.shown(n, row), 0));
        }
    })
    .context("verification failed")?;
    let stale = usage.all.stale();
    let exit = if stale > 0 { Exit::Stale } else { Exit::Ok };
    super::exit::set_outcome(exit);
    // Worst first, then by path (the order they were checked in): what needs attention leads.
    let order: Vec<&Noted> = Status::ALL
        .iter()
        .rev()
        .flat_map(|s| noted.checks.iter().filter(move |n| n.status == *s))
        .collect();
    let ids: Vec<SourceId> = order.iter().map(|n| n.id).collect();
    let entries_of = |id: SourceId| usage.uses(id);
    // Each noted source with its row read again (a row gone meanwhile is left out).
    let shown = || -> Result<_> {
        let rows = store.sources_by_id(&ids)?;
        Ok(order.iter().zip(rows).filter_map(|(n, row)| match row {
            Ok(Some(row)) => Some(Ok((n, row))),
            Ok(None) => None,
            Err(e) => Some(Err(anyhow::Error::from(e))),
        }))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        let doc = VerifyJson {
            sources: JsonSeq::new(shown()?.map(|item| {
                item.map(|(n, row)| SourceJson::new(&noted, n, row, &map, entries_of(n.id)))
            })),
            missing_source_rows: &usage.missing_rows,
            entries_with_malformed_source_ids: usage.malformed_entries,
            entries: Status::ALL
                .iter()
                .map(|s| (s.as_str(), usage.all.count(*s)))
                .collect(),
            stale_entries: stale,
        };
        print_json(&mut out, &doc)?;
        out.flush()?;
        return Ok(exit);
    }
    let most = ids
        .iter()
        .copied()
        .chain(usage.missing_rows.iter().copied())
        .map(entries_of)
        .max()
        .unwrap_or(0);
    table.widen(&[Cell::text(""), Cell::num(most)]);
    for id in &usage.missing_rows {
        table.widen(&missing_cells(*id, entries_of(*id)));
    }
    let malformed = (usage.malformed_entries > 0).then(|| malformed_cells(usage.malformed_entries));
    if let Some(cells) = &malformed {
        table.widen(cells);
    }
    table.print_header(&mut out, &HEADERS)?;
    for item in shown()? {
        let (n, row) = item?;
        table.print_row(
            &mut out,
            &source_cells(&row, &noted.shown(n, &row), entries_of(n.id)),
        )?;
    }
    for id in &usage.missing_rows {
        table.print_row(&mut out, &missing_cells(*id, entries_of(*id)))?;
    }
    if let Some(cells) = &malformed {
        table.print_row(&mut out, cells)?;
    }
    writeln!(out, "\n{}", crate::view::status_line(&usage.all))?;
    out.flush()?;
    Ok(exit)
}

/// What `verify` keeps of the checks until it prints: 16 bytes a source whose file has the
/// recorded digest where its path resolves, an [`Extra`] beside for one with more to say.
#[derive(Default)]
struct NotedChecks {
    checks: Vec<Noted>,
    extras: Vec<Extra>,
}

// What `verify` keeps per source.
const _: () = assert!(std::mem::size_of::<Noted>() == 16 && std::mem::size_of::<Extra>() == 48);

struct Noted {
    id: SourceId,
    status: Status,
    /// Its place in `extras`; [`Noted::PLAIN`]: none.
    extra: u32,
}

impl Noted {
    const PLAIN: u32 = u32::MAX;
}

/// Whatever a check found beyond "the recorded digest, read where the path resolves": 48
/// bytes for a changed file (the common case), the rarer findings boxed.
struct Extra {
    current: Option<KeptDigest>,
    rare: Option<Box<Rare>>,
}

struct Rare {
    moved_to: Option<(u64, u64)>,
    detail: Option<Box<str>>,
    /// Where the file was read, when it is not where the recorded path resolves.
    resolved: Option<Box<Path>>,
}

/// A digest as `verify` keeps it until it prints: the bytes of a `sha256:` digest written in
/// lowercase (32 bytes, not a 71-byte string: a third of a big store's sources are changed),
/// any other text as it is.
enum KeptDigest {
    Sha256([u8; 32]),
    Text(Box<str>),
}

impl KeptDigest {
    const SHA256: &'static str = "sha256:";

    fn new(digest: &str) -> KeptDigest {
        let bytes = digest
            .strip_prefix(Self::SHA256)
            .filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|h| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(h, &mut out).ok().map(|()| out)
            });
        match bytes {
            Some(b) => KeptDigest::Sha256(b),
            None => KeptDigest::Text(digest.into()),
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            KeptDigest::Sha256(b) => Cow::Owned(format!("{}{}", Self::SHA256, hex::encode(b))),
            KeptDigest::Text(t) => Cow::Borrowed(t),
        }
    }
}

/// A check as shown, whether just made or rebuilt from what was noted.
struct Shown<'a> {
    status: Status,
    current: Option<Cow<'a, str>>,
    moved_to: Option<(u64, u64)>,
    detail: Option<&'a str>,
}

impl NotedChecks {
    fn note(&mut self, row: &SourceRow, check: &SourceCheck, map: &PathMap) {
        let resolved = (check.resolved != map.resolve_os(row.path_os()))
            .then(|| check.resolved.clone().into_boxed_path());
        let plain = check.current_digest.as_deref() == Some(row.digest.as_str())
            && check.moved_to.is_none()
            && check.detail.is_none()
            && resolved.is_none();
        let extra = if plain {
            Noted::PLAIN
        } else {
            let rare = (check.moved_to.is_some() || check.detail.is_some() || resolved.is_some())
                .then(|| {
                    Box::new(Rare {
                        moved_to: check.moved_to,
                        detail: check.detail.as_deref().map(Into::into),
                        resolved,
                    })
                });
            self.extras.push(Extra {
                current: check.current_digest.as_deref().map(KeptDigest::new),
                rare,
            });
            u32::try_from(self.extras.len() - 1)
                .ok()
                .filter(|i| *i != Noted::PLAIN)
                .expect("fewer than 2^32 - 1 sources")
        };
        self.checks.push(Noted {
            id: row.id,
            status: check.status,
            extra,
        });
    }

    fn extra(&self, n: &Noted) -> Option<&Extra> {
        self.extras.get(n.extra as usize)
    }

    /// A noted check, given the row it was made for.
    fn shown<'a>(&'a self, n: &Noted, row: &'a SourceRow) -> Shown<'a> {
        match self.extra(n) {
            None => Shown {
                status: n.status,
                current: Some(Cow::Borrowed(&row.digest)),
                moved_to: None,
                detail: None,
            },
            Some(e) => Shown {
                status: n.status,
                current: e.current.as_ref().map(KeptDigest::text),
                moved_to: e.rare.as_ref().and_then(|r| r.moved_to),
                detail: e.rare.as_ref().and_then(|r| r.detail.as_deref()),
            },
        }
    }

    fn resolved(&self, n: &Noted, row: &SourceRow, map: &PathMap) -> PathBuf {
        let rare = self.extra(n).and_then(|e| e.rare.as_deref());
        match rare.and_then(|r| r.resolved.as_deref()) {
            Some(p) => p.to_path_buf(),
            None => map.resolve_os(row.path_os()),
        }
    }
}

fn source_cells(s: &SourceRow, c: &Shown, entries: u64) -> Vec<Cell> {
    let lines = span_label(s, c.moved_to, SpanLabel::Short);
    let current = match (c.current.as_deref(), c.detail) {
        (_, Some(detail)) => detail,
        (Some(d), None) if d.eq_ignore_ascii_case(&s.digest) => "(same)",
        (Some(d), None) => d,
        (None, None) => "-",
    };
    vec![
        Cell::status(c.status, ""),
        Cell::num(entries),
        Cell::shortened(&s.path, 48),
        Cell::text(&lines),
        Cell::shortened(&crate::view::recorded_digest(&s.digest), 30),
        Cell::shortened(current, 30),
    ]
}

/// The entries that name source ids no row can have (not integers), as one line.
fn malformed_cells(entries: u64) -> Vec<Cell> {
    vec![
        Cell::status(Status::Missing, ""),
        Cell::num(entries),
        Cell::text("(source ids that are not integers)"),
        Cell::text("-"),
        Cell::text("-"),
        Cell::text("-"),
    ]
}

fn missing_cells(id: SourceId, entries: u64) -> Vec<Cell> {
    vec![
        Cell::status(Status::Missing, ""),
        Cell::num(entries),
        Cell::text(&format!("(source row {id} is not in the store)")),
        Cell::text("-"),
        Cell::text("-"),
        Cell::text("-"),
    ]
}

#[derive(Serialize)]
struct SourceJson {
    id: SourceId,
    path: String,
    resolved_path: String,
    span: Option<(u64, u64)>,
    recorded_digest: String,
    current_digest: Option<String>,
    status: Status,
    moved_to: Option<(u64, u64)>,
    detail: Option<String>,
    entries: u64,
}

impl SourceJson {
    fn new(
        noted: &NotedChecks,
        n: &Noted,
        row: SourceRow,
        map: &PathMap,
        entries: u64,
    ) -> SourceJson {
        let c = noted.shown(n, &row);
        let (current_digest, moved_to, detail) = (
            c.current.map(Cow::into_owned),
            c.moved_to,
            c.detail.map(String::from),
        );
        SourceJson {
            id: row.id,
            resolved_path: noted.resolved(n, &row, map).display().to_string(),
            span: row.span,
            current_digest,
            status: n.status,
            moved_to,
            detail,
            entries,
            path: row.path,
            recorded_digest: row.digest,
        }
    }
}

#[derive(Serialize)]
struct VerifyJson<'a, S: Serialize> {
    sources: S,
    /// Source ids that entries or dependencies reference but the store has no row for.
    missing_source_rows: &'a [SourceId],
    /// Entries that name a source id (own or a dependency's) that is not an integer: missing.
    entries_with_malformed_source_ids: u64,
    entries: BTreeMap<&'static str, u64>,
    stale_entries: u64,
}

#[cfg(test)]
mod tests {
    use super::KeptDigest;

    #[test]
    fn kept_digests_give_back_the_text_they_were_made_from() {
        let sha = format!("sha256:{}", "0123456789abcdef".repeat(4));
        for digest in [
            sha.as_str(),
            // Anything but 64 lowercase hex digits after `sha256:` is kept as text.
            &sha.to_uppercase(),
            &sha[..sha.len() - 2],
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "",
            "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(KeptDigest::new(digest).text(), digest);
        }
        assert!(matches!(KeptDigest::new(&sha), KeptDigest::Sha256(_)));
    }
}
