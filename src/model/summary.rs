//! `summary`: per strategy, entries, bytes, statuses, expiry and the most common derivation
//! errors, with hashing, aggregates and error counts running at once.

use super::groups::{cell_status_by, Grouper, Grouping};
use super::verification::hash_beside;
use crate::backend::{Backend, Dimension, Resolve};
use crate::status::Status;
use crate::store::Result;
use crate::verify::PathMap;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One strategy's line of `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct StrategySummary {
    pub strategy: String,
    pub entries: u64,
    pub bytes: u64,
    /// Every status, with zero counts too, so scripts can index it blindly.
    pub statuses: BTreeMap<&'static str, u64>,
    pub expired: u64,
    /// The most common derivation errors, most common first.
    pub derivation_errors: Vec<ErrorCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub error: String,
    pub entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// What kind of cache this is: "cachescope store", "diskcache", "joblib", ...
    pub kind: &'static str,
    pub entries: u64,
    pub bytes: u64,
    pub groups: Vec<StrategySummary>,
}

/// How many derivation errors `summary` names per strategy.
pub const TOP_ERRORS: usize = 5;

/// Verifies the store and summarises it per strategy. Listing and checking the sources runs on
/// other threads (and connections) while this thread runs the aggregate queries: neither waits
/// for the other until the entries with dependencies need their dependencies' statuses. Only
/// the sources' statuses are kept, and the cells are counted as they stream by.
pub fn summarize(backend: &dyn Backend, paths: &PathMap, now_ms: i64) -> Result<Summary> {
    let other = backend.reopen_read_only()?;
    // Three things at once: the sources are listed and hashed beside (see `hash_beside`), a
    // third connection counts derivation errors and expired entries, and this one runs the big
    // aggregate.
    let mut expired = None;
    let no_paths = |_| None;
    let mut grouper = Grouper::new(Grouping::Strategy, &no_paths);
    // The counting is wanted last: it starts once the hashing is done, so the hashing (which
    // the entries with dependencies wait for) does not share the two cores with it.
    let (hashed, hashing_done) = std::sync::mpsc::channel::<()>();
    let (_, error_counts) = std::thread::scope(|scope| {
        let counting = scope.spawn(move || {
            let _ = hashing_done.recv();
            other.errors_and_expired(now_ms)
        });
        let mut counting = Some(counting);
        let hashed = move || {
            let _ = hashed.send(());
        };
        hash_beside(
            backend,
            paths,
            hashed,
            |_, _| {},
            |checked| {
                let status = |id| checked.status(id);
                backend.aggregate_resolved(
                    Dimension::None,
                    Some(&mut || {
                        let counted = counting.take().expect("errors are asked for once");
                        let (errors, exp) = counted.join().expect("counting thread panicked")?;
                        expired = Some(exp);
                        Ok(errors)
                    }),
                    Resolve {
                        status: &mut |id| status(id),
                        dependency_uses: &mut |_, _| {},
                    },
                    &mut |c| grouper.add(&c, cell_status_by(&c, &status)),
                )
            },
        )
    })?;
    let (error_counts, expired_counts) = (
        error_counts.unwrap_or_default(),
        expired.unwrap_or_default(),
    );
    let (all, groups) = grouper.finish();
    let mut errors: HashMap<String, Vec<ErrorCount>> = HashMap::new();
    for row in error_counts {
        let list = errors.entry(row.strategy).or_default();
        if list.len() < TOP_ERRORS {
            list.push(ErrorCount {
                error: row.error,
                entries: row.entries,
            });
        }
    }
    let expired: HashMap<String, u64> =
        expired_counts.into_iter().map(|(s, n, _)| (s, n)).collect();
    let groups = groups
        .into_iter()
        .map(|g| {
            let strategy = g.key.label();
            StrategySummary {
                statuses: Status::ALL
                    .iter()
                    .map(|s| (s.as_str(), g.count(*s)))
                    .collect(),
                expired: expired.get(&strategy).copied().unwrap_or(0),
                derivation_errors: errors.remove(&strategy).unwrap_or_default(),
                entries: g.entries,
                bytes: g.bytes,
                strategy,
            }
        })
        .collect();
    Ok(Summary {
        kind: backend.kind(),
        entries: all.entries,
        bytes: all.bytes,
        groups,
    })
}
