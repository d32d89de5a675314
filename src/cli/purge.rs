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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

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
    let stop = StopOnSignal::install();
    let outcome = store.purge(
        &PurgePlan {
            filter,
            dry_run,
            cancel: Some(stop.cancel.clone()),
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
    if let Some(sig) = stop.caught() {
        // What was removed is printed above; stderr may be a terminal that is gone (SIGHUP).
        let done = match outcome.dry_run {
            true => "a dry run removes nothing; counted so far".to_string(),
            false => "removed".to_string(),
        };
        let _ = writeln!(
            std::io::stderr(),
            "cachescope: stopped by {} between batches; {done} {}",
            crate::signals::name(sig),
            entries(outcome.removed)
        );
        return Ok(Exit::for_signal(sig));
    }
    match outcome.interrupted {
        Some(e) => Err(anyhow::Error::new(e).context(format!(
            "purge did not remove everything it selected (removed {})",
            entries(outcome.removed)
        ))),
        None => Ok(Exit::Ok),
    }
}

/// While a purge runs, the first ending signal (see [`crate::signals::ENDING`]) stops it
/// between batches: a batch committed is finished (a diskcache batch's value files unlinked)
/// before the process exits 128 + the signal. A second one ends the process at once, once the
/// commit in progress, if any, has had its files unlinked; the batch in flight rolls back.
struct StopOnSignal {
    cancel: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl StopOnSignal {
    fn install() -> StopOnSignal {
        let stop = StopOnSignal {
            cancel: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicUsize::new(0)),
        };
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new(crate::signals::ending_not_ignored())
        else {
            return stop;
        };
        let (cancel, signal) = (stop.cancel.clone(), stop.signal.clone());
        let _ = std::thread::Builder::new()
            .name("cachescope-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if cancel.load(Ordering::SeqCst) {
                        crate::signals::freeze_purges();
                        std::process::exit(128 + sig);
                    }
                    // The signal first: a purge that sees `cancel` finds it recorded.
                    signal.store(sig as usize, Ordering::SeqCst);
                    cancel.store(true, Ordering::SeqCst);
                }
            });
        stop
    }

    fn caught(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig as i32),
        }
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
