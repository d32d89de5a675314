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
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADERS: [&str; 6] = [
    "STATUS", "ENTRIES", "SOURCE", "LINES", "RECORDED", "CURRENT",
];

pub fn verify(path: &Path, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let mut table = Table::headed(&HEADERS, use_color());
    let mut noted: Vec<Noted> = Vec::new();
    let usage = model::verify_with_usage(store.as_ref(), &map, |row, check| {
        let n = Noted::new(noted.len(), row, check, &map);
        if !json {
            table.widen(&source_cells(row, &n.shown(row), 0));
        }
        noted.push(n);
    })
    .context("verification failed")?;
    let stale = usage.all.stale();
    let exit = if stale > 0 { Exit::Stale } else { Exit::Ok };
    super::exit::set_outcome(exit);
    // Worst first, then by path: what needs attention leads.
    noted.sort_unstable_by_key(|n| (std::cmp::Reverse(n.status), n.rank));
    let ids: Vec<SourceId> = noted.iter().map(|n| n.id).collect();
    let entries_of = |id: SourceId| usage.uses.get(&id).copied().unwrap_or(0);
    // Each noted source with its row read again (a row gone meanwhile is left out).
    let shown = || -> Result<_> {
        let rows = store.sources_by_id(&ids)?;
        Ok(noted.iter().zip(rows).filter_map(|(n, row)| match row {
            Ok(Some(row)) => Some(Ok((n, row))),
            Ok(None) => None,
            Err(e) => Some(Err(anyhow::Error::from(e))),
        }))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        let doc =
            VerifyJson {
                sources: JsonSeq::new(shown()?.map(|item| {
                    item.map(|(n, row)| SourceJson::new(n, row, &map, entries_of(n.id)))
                })),
                missing_source_rows: &usage.missing_rows,
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
    let most = noted
        .iter()
        .map(|n| n.id)
        .chain(usage.missing_rows.iter().copied())
        .map(entries_of)
        .max()
        .unwrap_or(0);
    table.widen(&[Cell::text(""), Cell::num(most)]);
    for id in &usage.missing_rows {
        table.widen(&missing_cells(*id, entries_of(*id)));
    }
    table.print_header(&mut out, &HEADERS)?;
    for item in shown()? {
        let (n, row) = item?;
        table.print_row(
            &mut out,
            &source_cells(&row, &n.shown(&row), entries_of(n.id)),
        )?;
    }
    for id in &usage.missing_rows {
        table.print_row(&mut out, &missing_cells(*id, entries_of(*id)))?;
    }
    writeln!(out, "\n{}", crate::view::status_line(&usage.all))?;
    out.flush()?;
    Ok(exit)
}

/// What `verify` keeps of one source's check until it prints: 24 bytes for a source whose file
/// has the recorded digest where its path resolves, more only for one with something to say.
struct Noted {
    id: SourceId,
    /// Its place in the order of the recorded paths.
    rank: usize,
    status: Status,
    extra: Option<Box<Extra>>,
}

/// Whatever a check found beyond "the recorded digest, read where the path resolves".
struct Extra {
    current: Option<Box<str>>,
    moved_to: Option<(u64, u64)>,
    detail: Option<Box<str>>,
    /// Where the file was read, when it is not where the recorded path resolves.
    resolved: Option<PathBuf>,
}

/// A check as shown, whether just made or rebuilt from what was noted.
struct Shown<'a> {
    status: Status,
    current: Option<&'a str>,
    moved_to: Option<(u64, u64)>,
    detail: Option<&'a str>,
}

impl Noted {
    fn new(rank: usize, row: &SourceRow, check: &SourceCheck, map: &PathMap) -> Noted {
        let resolved =
            (check.resolved != map.resolve_os(row.path_os())).then(|| check.resolved.clone());
        let plain = check.current_digest.as_deref() == Some(row.digest.as_str())
            && check.moved_to.is_none()
            && check.detail.is_none()
            && resolved.is_none();
        Noted {
            id: row.id,
            rank,
            status: check.status,
            extra: (!plain).then(|| {
                Box::new(Extra {
                    current: check.current_digest.as_deref().map(Into::into),
                    moved_to: check.moved_to,
                    detail: check.detail.as_deref().map(Into::into),
                    resolved,
                })
            }),
        }
    }

    /// The check, given the row it was made for.
    fn shown<'a>(&'a self, row: &'a SourceRow) -> Shown<'a> {
        match &self.extra {
            None => Shown {
                status: self.status,
                current: Some(&row.digest),
                moved_to: None,
                detail: None,
            },
            Some(e) => Shown {
                status: self.status,
                current: e.current.as_deref(),
                moved_to: e.moved_to,
                detail: e.detail.as_deref(),
            },
        }
    }

    fn resolved(&self, row: &SourceRow, map: &PathMap) -> PathBuf {
        match self.extra.as_ref().and_then(|e| e.resolved.clone()) {
            Some(p) => p,
            None => map.resolve_os(row.path_os()),
        }
    }
}

fn source_cells(s: &SourceRow, c: &Shown, entries: u64) -> Vec<Cell> {
    let lines = span_label(s, c.moved_to, SpanLabel::Short);
    let current = match (c.current, c.detail) {
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
    fn new(n: &Noted, row: SourceRow, map: &PathMap, entries: u64) -> SourceJson {
        let c = n.shown(&row);
        let (current_digest, moved_to, detail) = (
            c.current.map(String::from),
            c.moved_to,
            c.detail.map(String::from),
        );
        SourceJson {
            id: row.id,
            resolved_path: n.resolved(&row, map).display().to_string(),
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
    entries: BTreeMap<&'static str, u64>,
    stale_entries: u64,
}
