//! Verification of a whole cache: hash every referenced source once (on worker threads), give
//! dangling source ids their check, and hand the statuses back to the backend.

use crate::backend::{Backend, SourceId, SourceRow, StatusesLoaded};
use crate::status::Status;
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

/// Lists a cache's sources on a second connection (where ids survive one; else here, first) and
/// hashes them on the worker threads while `work` runs on this thread. `work` gets each
/// source's status through a function that waits for the hashing the first time it is called;
/// a source without a row reads as missing (as in [`add_dangling`]), and `None` comes back when
/// the sources could not be listed (that error is returned). `hashed` is called on the hashing
/// thread once it is done (or dropped if it fails). The statuses are not loaded into the
/// backend.
pub(crate) fn hash_beside<T>(
    backend: &dyn Backend,
    paths: &PathMap,
    hashed: impl FnOnce() + Send,
    work: impl FnOnce(&mut dyn FnMut(SourceId) -> Option<Status>) -> Result<T>,
) -> Result<(Verified, T)> {
    let done = hashed;
    type Hashed = Result<(Vec<SourceRow>, HashMap<SourceId, SourceCheck>)>;
    /// Where the sources come from: listed already, or to be listed by a second handle.
    enum Listing {
        Listed(Vec<SourceRow>),
        By(Box<dyn Backend>),
    }
    let listing = if backend.ids_survive_reopen() {
        Listing::By(backend.reopen_read_only()?)
    } else {
        Listing::Listed(backend.referenced_sources()?)
    };
    let (hashed, worked) = std::thread::scope(|scope| {
        let mut hashing = Some(scope.spawn(move || -> Hashed {
            let sources = match listing {
                Listing::Listed(sources) => sources,
                Listing::By(lister) => lister.referenced_sources()?,
            };
            let checks = verify::verify_sources(&sources, paths, &|_, _| {});
            done();
            Ok((sources, checks))
        }));
        let mut hashed: Option<Hashed> = None;
        let worked = work(&mut |id| {
            let done = hashed.get_or_insert_with(|| {
                let hashing = hashing.take().expect("hashing joined once");
                hashing.join().expect("hashing thread panicked")
            });
            let (_, checks) = done.as_mut().ok()?;
            let check = checks
                .entry(id)
                .or_insert_with(|| SourceCheck::not_in_store(id));
            Some(check.status)
        });
        let hashed = match (hashed, hashing) {
            (Some(hashed), _) => hashed,
            (None, Some(h)) => h.join().expect("hashing thread panicked"),
            (None, None) => unreachable!("the hashing thread is joined when hashed is set"),
        };
        (hashed, worked)
    });
    let (sources, checks) = hashed?;
    let worked = worked?;
    Ok((
        Verified {
            sources,
            checks,
            loaded: None,
        },
        worked,
    ))
}
