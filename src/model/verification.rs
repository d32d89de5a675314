//! Verification of a whole cache: hash every referenced source once (on worker threads), give
//! dangling source ids their check, and hand the statuses back to the backend.

use crate::backend::{Backend, SourceId, SourceRow, StatusesLoaded};
use crate::store::Result;
use crate::verify::{self, PathMap, SourceCheck};
use std::collections::HashMap;

/// The referenced sources of a cache and what verification found for each.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub sources: Vec<SourceRow>,
    pub checks: HashMap<SourceId, SourceCheck>,
    /// Set when the statuses were handed to the backend (status filters and sorting work).
    pub loaded: Option<StatusesLoaded>,
}

/// Reads the referenced sources, checks them, and loads the statuses into the store's
/// connection so status filters work in SQL.
pub fn verify_store(
    backend: &dyn Backend,
    paths: &PathMap,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Verified> {
    let sources = backend.referenced_sources()?;
    // The worker threads hash while this one looks for references to missing source rows.
    let (checks, dangling) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| verify::verify_sources(&sources, paths, progress));
        let dangling = backend.dangling_source_ids();
        (hashing.join().expect("hashing thread panicked"), dangling)
    });
    finish_verification(backend, sources, checks, dangling?)
}

/// The last step of a verification, wherever the hashing ran: gives dangling source ids their
/// check and loads every status into the store's connection for status queries.
pub fn finish_verification(
    backend: &dyn Backend,
    sources: Vec<SourceRow>,
    mut checks: HashMap<SourceId, SourceCheck>,
    dangling: Vec<SourceId>,
) -> Result<Verified> {
    add_dangling(&mut checks, dangling);
    let loaded = backend.load_statuses(&mut checks.iter().map(|(id, c)| (*id, c.status)))?;
    Ok(Verified {
        sources,
        checks,
        loaded: Some(loaded),
    })
}

/// Gives source ids without a source row (see [`Backend::dangling_source_ids`]) their check.
pub fn add_dangling(
    checks: &mut HashMap<SourceId, SourceCheck>,
    ids: impl IntoIterator<Item = SourceId>,
) {
    for id in ids {
        checks
            .entry(id)
            .or_insert_with(|| SourceCheck::not_in_store(id));
    }
}
