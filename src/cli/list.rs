//! `list`: one row per entry, streamed a page at a time.

use super::output::{
    json_line, local_time, now_ms, rfc3339, status_suffix, use_color, Cell, Table,
};
use super::{open_store, verify_all, Exit, PathArgs, Selection};
use crate::backend::{EntryId, EntryRow};
use crate::status::Status;
use crate::text::escape;
use crate::view::size_of;
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

const PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Csv,
}

impl Format {
    pub fn pick(json: bool, csv: bool) -> Format {
        match (json, csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Human,
        }
    }
}

/// The JSON shape scripts rely on.
#[derive(Serialize)]
pub struct EntryJson<'a> {
    pub id: EntryId,
    pub namespace: &'a str,
    pub function: &'a str,
    pub key: &'a str,
    pub strategy: &'a str,
    pub status: Option<Status>,
    pub derivation_error: Option<&'a str>,
    pub source_path: Option<&'a str>,
    pub value_size: i64,
    pub value_type: Option<&'a str>,
    pub created_at: Option<String>,
    pub accessed_at: Option<String>,
    pub hits: i64,
    pub expires_at: Option<String>,
    pub expired: bool,
}

impl<'a> EntryJson<'a> {
    pub fn new(e: &'a EntryRow, now: i64) -> Self {
        EntryJson {
            id: e.id,
            namespace: &e.namespace,
            function: &e.function,
            key: &e.key,
            strategy: &e.strategy,
            status: e.status,
            derivation_error: e.derivation_error.as_deref(),
            source_path: e.source_path.as_deref(),
            value_size: e.value_size,
            value_type: e.value_type.as_deref(),
            created_at: rfc3339(e.created_at),
            accessed_at: e.accessed_at.and_then(rfc3339),
            hits: e.hits,
            expires_at: e.expires_at.and_then(rfc3339),
            expired: e.is_expired(now),
        }
    }
}

const HEADERS: [&str; 9] = [
    "ID", "STATUS", "STRATEGY", "FUNCTION", "KEY", "SIZE", "CREATED", "HITS", "SOURCE",
];

fn human_row(e: &EntryRow, now: i64) -> Vec<Cell> {
    let status = match e.status {
        Some(s) => Cell::status(s, status_suffix(e.is_expired(now))),
        None => Cell::text("unknown"),
    };
    vec![
        Cell::num(e.id),
        status,
        Cell::text(&e.strategy),
        Cell::shortened(&e.function, 40),
        Cell::shortened(&e.key, 18),
        Cell::num(size_of(e.value_size)),
        Cell::text(&local_time(e.created_at)),
        Cell::num(e.hits),
        Cell::shortened(e.source_path.as_deref().unwrap_or("-"), 40),
    ]
}

pub fn run(
    path: &Path,
    select: &Selection,
    limit: Option<u64>,
    paths: &PathArgs,
    format: Format,
) -> Result<Exit> {
    let (store, map) = open_store(path, paths, true)?;
    let loaded = verify_all(store.as_ref(), &map)?;
    let now = now_ms();
    let filter = select.filter(now);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // CSV goes through its own writer (it buffers and quotes); the header comes first, so an
    // empty listing is still a valid CSV file.
    let mut csv_writer = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(CSV_HEADERS).map_err(csv_io)?;
            Some(w)
        }
        _ => None,
    };
    let mut table: Option<Table> = None;
    let mut after = None;
    let mut printed: u64 = 0;
    let limit = limit.unwrap_or(u64::MAX);
    if format == Format::Json {
        write!(out, "[")?;
    }
    loop {
        let want = (limit - printed).min(PAGE as u64) as i64;
        if want == 0 {
            break;
        }
        let page = store.entries_page(&filter, Some(loaded), after, want)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        match format {
            Format::Json => {
                for e in &page {
                    let sep = if printed == 0 { "\n" } else { ",\n" };
                    write!(out, "{sep}  {}", json_line(&EntryJson::new(e, now))?)?;
                    printed += 1;
                }
            }
            Format::Csv => {
                let w = csv_writer.as_mut().expect("csv writer");
                for e in &page {
                    w.write_record(csv_record(e, now)).map_err(csv_io)?;
                    printed += 1;
                }
            }
            Format::Human => {
                let rows: Vec<Vec<Cell>> = page.iter().map(|e| human_row(e, now)).collect();
                if table.is_none() {
                    let t = Table::new(&HEADERS, &rows, use_color());
                    t.print_header(&mut out, &HEADERS)?;
                    table = Some(t);
                }
                if let Some(t) = &table {
                    t.print_rows(&mut out, &rows)?;
                }
                printed += page.len() as u64;
            }
        }
        if (page.len() as i64) < want {
            break;
        }
    }
    match format {
        Format::Json if printed == 0 => writeln!(out, "]")?,
        Format::Json => writeln!(out, "\n]")?,
        Format::Human if printed == 0 => writeln!(out, "no entries match")?,
        _ => {}
    }
    if let Some(mut w) = csv_writer {
        w.flush()?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// The I/O error inside a CSV error, so a closed pipe is recognised like any other output's.
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

const CSV_HEADERS: [&str; 15] = [
    "id",
    "namespace",
    "function",
    "key",
    "strategy",
    "status",
    "derivation_error",
    "source_path",
    "value_size",
    "value_type",
    "created_at",
    "accessed_at",
    "hits",
    "expires_at",
    "expired",
];

/// CSV fields, with control characters escaped like everywhere else.
fn csv_record(e: &EntryRow, now: i64) -> Vec<String> {
    let t = |s: &str| escape(s).into_owned();
    let o = |s: &Option<String>| s.as_deref().map(t).unwrap_or_default();
    vec![
        e.id.to_string(),
        t(&e.namespace),
        t(&e.function),
        t(&e.key),
        t(&e.strategy),
        e.status.map(|s| s.to_string()).unwrap_or_default(),
        o(&e.derivation_error),
        o(&e.source_path),
        e.value_size.to_string(),
        o(&e.value_type),
        rfc3339(e.created_at).unwrap_or_default(),
        e.accessed_at.and_then(rfc3339).unwrap_or_default(),
        e.hits.to_string(),
        e.expires_at.and_then(rfc3339).unwrap_or_default(),
        e.is_expired(now).to_string(),
    ]
}
