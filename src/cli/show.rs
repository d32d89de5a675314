//! `show`: one entry, every field, why it has its status, and a preview of its value.

use super::output::{local_time, print_json, rfc3339, status_suffix, use_color, Cell, Table};
use super::{open_store, Exit, PathArgs};
use crate::backend::{EntryId, SourceId, SourceRow};
use crate::model::{self, Explained};
use crate::preview::{self, Preview};
use crate::status::Status;
use crate::text::escape;
use crate::verify::SourceCheck;
use crate::view::{diff_heading, size_of, span_label, value_type, SpanLabel};
use anyhow::{anyhow, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

#[derive(Serialize)]
struct SourceJson<'a> {
    id: SourceId,
    path: &'a str,
    resolved_path: Option<String>,
    span: Option<(u64, u64)>,
    recorded_digest: &'a str,
    current_digest: Option<&'a str>,
    status: Option<Status>,
    moved_to: Option<(u64, u64)>,
    detail: Option<&'a str>,
    size: Option<i64>,
    mtime_ns: Option<i64>,
    recorded_at: Option<String>,
}

impl<'a> SourceJson<'a> {
    fn new(s: &'a SourceRow, c: Option<&'a SourceCheck>) -> Self {
        SourceJson {
            id: s.id,
            path: &s.path,
            resolved_path: c.map(|c| c.resolved.display().to_string()),
            span: s.span,
            recorded_digest: &s.digest,
            current_digest: c.and_then(|c| c.current_digest.as_deref()),
            status: c.map(|c| c.status),
            moved_to: c.and_then(|c| c.moved_to),
            detail: c.and_then(|c| c.detail.as_deref()),
            size: s.size,
            mtime_ns: s.mtime_ns,
            recorded_at: rfc3339(s.recorded_at),
        }
    }
}

#[derive(Serialize)]
struct ShowJson<'a> {
    /// With its `status` as explained here (one key: the flattened entry's).
    #[serde(flatten)]
    entry: super::list::EntryJson<'a>,
    decided_by: Option<&'a str>,
    derivation_meaning: Option<String>,
    source: Option<SourceJson<'a>>,
    dependencies: Vec<SourceJson<'a>>,
    /// Dependency rows that point at source ids the store has no row for.
    missing_dependency_rows: &'a [SourceId],
    /// Source ids (own or a dependency's) that are not integers, as SQL literals: missing.
    malformed_source_ids: &'a [String],
    /// What the cache's backend knows beyond the columns.
    notes: &'a [String],
    value_preview: &'a Preview,
}

pub fn run(path: &Path, id: EntryId, paths: &PathArgs, json: bool) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let detail = store
        .entry_detail(id, preview::PREVIEW_BYTES)?
        .ok_or_else(|| anyhow!("{}: no entry with id {id}", path.display()))?;
    let x = model::explain(detail, &map);
    let e = &x.detail.entry;
    let value = &x.preview;
    let meaning = x.meaning.clone();
    let now = super::output::now_ms();
    let mut out = std::io::stdout().lock();
    if json {
        let mut entry = super::list::EntryJson::new(e, now);
        entry.status = Some(x.status);
        let doc = ShowJson {
            entry,
            decided_by: x.deciding.as_ref().map(|s| s.path.as_str()),
            derivation_meaning: meaning,
            source: x
                .detail
                .source
                .as_ref()
                .map(|s| SourceJson::new(s, x.source_check.as_ref())),
            dependencies: x
                .detail
                .dependencies
                .iter()
                .zip(&x.dependency_checks)
                .map(|(s, c)| SourceJson::new(s, c.as_ref()))
                .collect(),
            missing_dependency_rows: &x.detail.missing_dependencies,
            malformed_source_ids: &x.detail.malformed_source_ids,
            notes: &x.detail.notes,
            value_preview: value,
        };
        print_json(&mut out, &doc)?;
        return Ok(Exit::Ok);
    }
    print_human(&mut out, &x, meaning.as_deref(), value, now)?;
    Ok(Exit::Ok)
}

fn print_human(
    out: &mut impl Write,
    x: &Explained,
    meaning: Option<&str>,
    value: &Preview,
    now: i64,
) -> std::io::Result<()> {
    let e = &x.detail.entry;
    let color = use_color();
    let status_rows = vec![vec![
        Cell::text(&format!("Entry {}", e.id)),
        Cell::status(x.status, status_suffix(e.is_expired(now))),
    ]];
    Table::new(&["", ""], &status_rows, color).print_rows(out, &status_rows)?;
    let opt_time = |t: Option<i64>| t.map(local_time).unwrap_or_else(|| "-".into());
    let fields: Vec<Vec<Cell>> = [
        ("namespace", e.namespace.clone()),
        ("function", e.function.clone()),
        ("key", e.key.clone()),
        ("strategy", e.strategy.clone()),
        (
            "value",
            format!(
                "{} ({})",
                size_of(e.value_size),
                value_type(e.value_type.as_deref())
            ),
        ),
        ("created", local_time(e.created_at)),
        ("accessed", opt_time(e.accessed_at)),
        ("hits", e.hits.to_string()),
        ("expires", opt_time(e.expires_at)),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::text(&format!("  {k}")), Cell::text(&v)])
    .collect();
    Table::new(&["", ""], &fields, color).print_rows(out, &fields)?;

    writeln!(out, "\nStatus {}: {}", x.status, escape(&x.decided()))?;
    if !x.detail.notes.is_empty() {
        writeln!(out, "\nNotes")?;
        for note in &x.detail.notes {
            writeln!(out, "  {}", escape(note))?;
        }
    }

    if let Some(err) = &e.derivation_error {
        writeln!(out, "\nDerivation error\n  {}", escape(err))?;
        if let Some(m) = meaning {
            writeln!(out, "  {}", escape(m))?;
        }
    }
    if let Some(s) = &x.detail.source {
        writeln!(out, "\nSource")?;
        print_source(out, s, x.source_check.as_ref(), color)?;
        if let (Some(diff), Some(span)) = (&x.diff, s.span) {
            writeln!(out, "  {}", diff_heading(span))?;
            for line in diff {
                writeln!(out, "    {line}")?;
            }
        }
    }
    if !x.detail.dependencies.is_empty() || !x.detail.missing_dependencies.is_empty() {
        writeln!(out, "\nDependencies")?;
        for (d, c) in x.detail.dependencies.iter().zip(&x.dependency_checks) {
            print_source(out, d, c.as_ref(), color)?;
        }
        for id in &x.detail.missing_dependencies {
            let row = vec![vec![
                Cell::text("  "),
                Cell::status(Status::Missing, ""),
                Cell::text(&format!("source row {id} is not in the store")),
            ]];
            Table::new(&["", "", ""], &row, color).print_rows(out, &row)?;
        }
    }
    writeln!(out, "\nValue: {}", value.kind)?;
    for line in &value.lines {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

fn print_source(
    out: &mut impl Write,
    s: &SourceRow,
    c: Option<&SourceCheck>,
    color: bool,
) -> std::io::Result<()> {
    let lines = span_label(s, c.and_then(|c| c.moved_to), SpanLabel::Long);
    let status = match c {
        Some(c) => Cell::status(c.status, ""),
        None => Cell::text("unchecked"),
    };
    let mut rows = vec![
        vec![
            Cell::text("  "),
            status,
            Cell::text(&format!("{} ({lines})", s.path)),
        ],
        vec![
            Cell::text(""),
            Cell::text("recorded"),
            Cell::text(&crate::view::recorded_digest(&s.digest)),
        ],
    ];
    if let Some(c) = c {
        let current = c.current_or_reason();
        rows.push(vec![
            Cell::text(""),
            Cell::text("current"),
            Cell::text(&current),
        ]);
        if c.resolved.to_string_lossy() != s.path {
            rows.push(vec![
                Cell::text(""),
                Cell::text("read from"),
                Cell::text(&c.resolved.display().to_string()),
            ]);
        }
    }
    Table::new(&["", "", ""], &rows, color).print_rows(out, &rows)
}
