//! Verification of a whole cache: hash every referenced source once (on worker threads), give
//! dangling source ids their check, and hand the statuses back to the backend.

use crate::backend::{Backend, SourceId, SourceRow, StatusesLoaded};
use crate::status::Status;
use crate::store::Result;
use crate::verify::{self, PathMap, SourceCheck, Statuses, Streamed};
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

/// Verifies every referenced source, streamed (see [`Streamed`]): only the statuses are kept,
/// dangling source ids among them as missing, and they are loaded into the backend. What
/// `purge` and `list` need, in a few MB however many sources there are.
pub fn verify_statuses(
    backend: &dyn Backend,
    paths: &PathMap,
) -> Result<(Statuses, StatusesLoaded)> {
    let mut found = Vec::new();
    let mut sink = |row: &SourceRow, check: SourceCheck| found.push((row.id, check.status));
    let mut stream = Streamed::new(paths, &mut sink);
    backend.visit_referenced_sources(&mut |row| stream.push(row))?;
    stream.finish();
    let mut statuses = Statuses::from_unsorted(found);
    statuses.add_missing(backend.dangling_source_ids()?);
    let loaded = backend.load_statuses(&mut statuses.iter())?;
    Ok((statuses, loaded))
}

/// What [`hash_beside`]'s work gets: the statuses of the sources checked beside it, waited for
/// the first time they are asked for (`None`: the sources could not be listed; that error is
/// what `hash_beside` returns).
pub(crate) struct Checked<'a> {
    get: &'a dyn Fn() -> Option<&'a Statuses>,
}

impl<'a> Checked<'a> {
    pub fn statuses(&self) -> Option<&'a Statuses> {
        (self.get)()
    }

    /// A source's status; a source without a row reads as missing (as in [`add_dangling`]).
    pub fn status(&self, id: SourceId) -> Option<Status> {
        self.statuses().map(|s| s.or_missing(id))
    }
}

/// Lists a cache's sources on a second connection (where ids survive one; else here, first) and
/// checks them, streamed, on other threads while `work` runs on this thread. `work` gets the
/// sources' statuses through [`Checked`]. `keep` sees every row with its check, on the
/// checking thread, for a caller that shows them; only the statuses are kept here. `hashed` is
/// called on the checking thread once it is done (or dropped if it fails). The statuses are
/// not loaded into the backend, and ids without a source row are not among them.
pub(crate) fn hash_beside<T>(
    backend: &dyn Backend,
    paths: &PathMap,
    hashed: impl FnOnce() + Send,
    mut keep: impl FnMut(&SourceRow, &SourceCheck) + Send,
    work: impl FnOnce(&Checked<'_>) -> Result<T>,
) -> Result<(Statuses, T)> {
    /// Where the sources come from: listed already, or to be listed by a second handle.
    enum Listing {
        Listed(Vec<SourceRow>),
        By(Box<dyn Backend>),
    }
    let listing = if backend.ids_survive_reopen() {
        Listing::By(backend.reopen_read_only()?)
    } else {
        let mut rows = backend.referenced_sources()?;
        rows.sort_by(|a, b| a.path_bytes().cmp(b.path_bytes()));
        Listing::Listed(rows)
    };
    std::thread::scope(|scope| {
        let hashing = scope.spawn(move || -> Result<Statuses> {
            let mut found = Vec::new();
            let mut sink = |row: &SourceRow, check: SourceCheck| {
                keep(row, &check);
                found.push((row.id, check.status));
            };
            let mut stream = Streamed::new(paths, &mut sink);
            match listing {
                Listing::Listed(rows) => rows.into_iter().for_each(|row| stream.push(row)),
                Listing::By(lister) => {
                    lister.visit_referenced_sources(&mut |row| stream.push(row))?
                }
            }
            stream.finish();
            hashed();
            Ok(Statuses::from_unsorted(found))
        });
        let hashing = std::cell::Cell::new(Some(hashing));
        let done: std::cell::OnceCell<Result<Statuses>> = std::cell::OnceCell::new();
        let join = || {
            done.get_or_init(|| {
                let hashing = hashing.take().expect("hashing joined once");
                hashing.join().expect("hashing thread panicked")
            })
        };
        let get = || join().as_ref().ok();
        let worked = work(&Checked { get: &get });
        join();
        let statuses = done.into_inner().expect("hashing joined")?;
        Ok((statuses, worked?))
    })
}
