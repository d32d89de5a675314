//! `purge`: remove the selected entries, race-safe against a producer writing the same store.

use super::output::{now_ms, print_json, use_color, Cell, Table};
use super::{open_store, verify_all, Exit, PathArgs, Selection};
use crate::status::Status;
use crate::store::{PurgeOutcome, PurgePlan};
use crate::view::{entries, size};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(Serialize)]
struct Removed {
    removed: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct PurgeJson {
    dry_run: bool,
    removed: u64,
    bytes: u64,
    by_strategy: BTreeMap<String, Removed>,
    sources_removed: u64,
    /// Selected entries left in place (a file still being written), "what: why"; only when
    /// there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<String>,
}

pub fn run(
    path: &Path,
    select: &Selection,
    expired: bool,
    dry_run: bool,
    paths: &PathArgs,
    json: bool,
) -> Result<Exit> {
    let (store, map) = open_store(path, paths, dry_run)?;
    verify_all(store.as_ref(), &map)?;
    let now = now_ms();
    let mut filter = select.filter(now);
    if filter.statuses.is_empty() {
        filter.statuses = Status::DEFAULT_PURGE.to_vec();
    }
    if expired {
        filter.or_expired_at = Some(now);
    }
    let outcome = store.purge(
        &PurgePlan {
            filter,
            dry_run,
            cancel: None,
        },
        &mut |_| {},
    )?;
    for s in &outcome.skipped {
        eprintln!(
            "cachescope: warning: left in place: {}",
            crate::text::escape(s)
        );
    }
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &to_json(&outcome))?;
    } else {
        print_human(&mut out, &outcome)?;
    }
    match outcome.interrupted {
        Some(e) => Err(anyhow::Error::new(e).context(format!(
            "purge did not remove everything it selected (removed {})",
            entries(outcome.removed)
        ))),
        None => Ok(Exit::Ok),
    }
}

fn to_json(o: &PurgeOutcome) -> PurgeJson {
    PurgeJson {
        dry_run: o.dry_run,
        removed: o.removed,
        bytes: o.bytes,
        by_strategy: o
            .by_strategy
            .iter()
            .map(|(s, (n, b))| {
                (
                    s.clone(),
                    Removed {
                        removed: *n,
                        bytes: *b,
                    },
                )
            })
            .collect(),
        sources_removed: o.sources_removed,
        skipped: o.skipped.clone(),
    }
}

fn print_human(out: &mut impl Write, o: &PurgeOutcome) -> std::io::Result<()> {
    let verb = if o.dry_run { "Would remove" } else { "Removed" };
    let sources = match (o.sources_removed, o.dry_run) {
        (0, _) => String::new(),
        (n, false) => format!(" and {n} source rows no entry uses any more"),
        (n, true) => format!(" and {n} source rows no entry would use any more"),
    };
    writeln!(
        out,
        "{verb} {}, {}{sources}",
        entries(o.removed),
        size(o.bytes)
    )?;
    let rows: Vec<Vec<Cell>> = o
        .by_strategy
        .iter()
        .map(|(s, (n, b))| {
            vec![
                Cell::text(&format!("  {s}")),
                Cell::num(n),
                Cell::num(size(*b)),
            ]
        })
        .collect();
    Table::new(&["", "", ""], &rows, use_color()).print_rows(out, &rows)
}
