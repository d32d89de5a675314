//! `summary`: the store at a glance.

use super::output::{print_json, use_color, Cell, Table};
use super::{open_store, Exit, PathArgs};
use crate::model;
use crate::status::Status;
use crate::text::escape;
use crate::view::{entries, size};
use anyhow::Result;
use std::io::Write;
use std::path::Path;

pub fn summary(path: &Path, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let summary = model::summarize(store.as_ref(), &map, super::output::now_ms())?;
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
