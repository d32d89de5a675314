//! `summary` and `verify`: the store at a glance.

use super::output::{print_json, use_color, Cell, Table};
use super::{open_store, Exit, PathArgs};
use crate::backend::{SourceId, SourceRow};
use crate::model;
use crate::status::Status;
use crate::text::escape;
use crate::verify::SourceCheck;
use crate::view::{entries, size, span_label, SpanLabel};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub fn summary(path: &Path, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let (summary, _) = model::summarize(store.as_ref(), &map, super::output::now_ms())?;
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &summary)?;
        return Ok(Exit::Ok);
    }
    print_summary(&mut out, path, &summary, use_color())?;
    Ok(Exit::Ok)
}

/// The human form of `summary`, also what `cachescope` prints for the demo without a terminal.
pub fn print_summary(
    out: &mut impl Write,
    path: &Path,
    summary: &model::Summary,
    color: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} ({}): {}, {}",
        escape(&path.display().to_string()),
        summary.kind,
        entries(summary.entries),
        size(summary.bytes)
    )?;
    let statuses = [
        Status::Fresh,
        Status::Moved,
        Status::Changed,
        Status::Missing,
        Status::Failed,
        Status::Unreadable,
        Status::Unverifiable,
    ];
    let mut headers = vec!["STRATEGY", "ENTRIES", "SIZE"];
    headers.extend(statuses.iter().map(|s| match s {
        Status::Fresh => "FRESH",
        Status::Moved => "MOVED",
        Status::Changed => "CHANGED",
        Status::Missing => "MISSING",
        Status::Failed => "FAILED",
        Status::Unreadable => "UNREADABLE",
        Status::Unverifiable => "UNVERIFIABLE",
    }));
    headers.push("EXPIRED");
    let rows: Vec<Vec<Cell>> = summary
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                Cell::text(&g.strategy),
                Cell::num(g.entries),
                Cell::num(size(g.bytes)),
            ];
            row.extend(
                statuses
                    .iter()
                    .map(|s| Cell::num(g.statuses.get(s.as_str()).copied().unwrap_or(0))),
            );
            row.push(Cell::num(g.expired));
            row
        })
        .collect();
    let table = Table::new(&headers, &rows, color);
    writeln!(out)?;
    table.print_header(out, &headers)?;
    table.print_rows(out, &rows)?;
    let with_errors: Vec<_> = summary
        .groups
        .iter()
        .filter(|g| !g.derivation_errors.is_empty())
        .collect();
    if !with_errors.is_empty() {
        writeln!(out, "\nDerivation errors (why the key fell back):")?;
        let rows: Vec<Vec<Cell>> = with_errors
            .iter()
            .flat_map(|g| {
                g.derivation_errors.iter().map(|e| {
                    vec![
                        Cell::text(&g.strategy),
                        Cell::num(e.entries),
                        Cell::text(&e.error),
                    ]
                })
            })
            .collect();
        let table = Table::new(&["", "", ""], &rows, color);
        table.print_rows(out, &rows)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct SourceJson<'a> {
    id: SourceId,
    path: &'a str,
    resolved_path: String,
    span: Option<(u64, u64)>,
    recorded_digest: &'a str,
    current_digest: Option<&'a str>,
    status: Status,
    moved_to: Option<(u64, u64)>,
    detail: Option<&'a str>,
    entries: u64,
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    sources: Vec<SourceJson<'a>>,
    /// Source ids that entries or dependencies reference but the store has no row for.
    missing_source_rows: Vec<SourceId>,
    entries: BTreeMap<&'static str, u64>,
    stale_entries: u64,
}

pub fn verify(path: &Path, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let (verified, usage, all) = model::verify_with_usage(store.as_ref(), &map)
        .with_context(|| "verification failed".to_string())?;
    let stale = all.stale();
    let exit = if stale > 0 { Exit::Stale } else { Exit::Ok };
    super::exit::set_outcome(exit);
    let mut sources: Vec<_> = verified
        .sources
        .iter()
        .filter_map(|s| verified.checks.get(&s.id).map(|c| (s, c)))
        .collect();
    // Worst first, then by path: what needs attention leads.
    sources.sort_by(|a, b| {
        b.1.status
            .cmp(&a.1.status)
            .then_with(|| a.0.path.cmp(&b.0.path))
    });
    let known: std::collections::HashSet<SourceId> =
        verified.sources.iter().map(|s| s.id).collect();
    let mut missing_rows: Vec<SourceId> = verified
        .checks
        .keys()
        .filter(|id| !known.contains(id))
        .copied()
        .collect();
    missing_rows.sort_unstable();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        let doc = VerifyJson {
            missing_source_rows: missing_rows,
            sources: sources
                .iter()
                .map(|(s, c)| SourceJson {
                    id: s.id,
                    path: &s.path,
                    resolved_path: c.resolved.display().to_string(),
                    span: s.span,
                    recorded_digest: &s.digest,
                    current_digest: c.current_digest.as_deref(),
                    status: c.status,
                    moved_to: c.moved_to,
                    detail: c.detail.as_deref(),
                    entries: usage.get(&s.id).copied().unwrap_or(0),
                })
                .collect(),
            entries: Status::ALL
                .iter()
                .map(|s| (s.as_str(), all.count(*s)))
                .collect(),
            stale_entries: stale,
        };
        print_json(&mut out, &doc)?;
        out.flush()?;
        return Ok(exit);
    }
    let headers = [
        "STATUS", "ENTRIES", "SOURCE", "LINES", "RECORDED", "CURRENT",
    ];
    // One line per source, which may be hundreds of thousands: made twice (for the widths,
    // then to print) rather than kept.
    let source_row = |(s, c): &(&SourceRow, &SourceCheck)| {
        let lines = span_label(s, c.moved_to, SpanLabel::Short);
        let current = match (&c.current_digest, &c.detail) {
            (_, Some(detail)) => detail.clone(),
            (Some(d), None) if d.eq_ignore_ascii_case(&s.digest) => "(same)".into(),
            (Some(d), None) => d.clone(),
            (None, None) => "-".into(),
        };
        vec![
            Cell::status(c.status, ""),
            Cell::num(usage.get(&s.id).copied().unwrap_or(0)),
            Cell::shortened(&s.path, 48),
            Cell::text(&lines),
            Cell::shortened(&crate::view::recorded_digest(&s.digest), 30),
            Cell::shortened(&current, 30),
        ]
    };
    let missing_row = |id: &SourceId| {
        vec![
            Cell::status(Status::Missing, ""),
            Cell::num(usage.get(id).copied().unwrap_or(0)),
            Cell::text(&format!("(source row {id} is not in the store)")),
            Cell::text("-"),
            Cell::text("-"),
            Cell::text("-"),
        ]
    };
    let rows = || {
        sources
            .iter()
            .map(source_row)
            .chain(missing_rows.iter().map(missing_row))
    };
    let table = Table::fitting(&headers, rows(), use_color());
    table.print_header(&mut out, &headers)?;
    for row in rows() {
        table.print_row(&mut out, &row)?;
    }
    writeln!(out, "\n{}", crate::view::status_line(&all))?;
    out.flush()?;
    Ok(exit)
}
