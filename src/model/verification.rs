//! Verification of a whole cache: hash every referenced source once (on worker threads),
//! streamed, keeping a status and the recorded path per source; dangling source ids read as
//! missing; the statuses go back to the backend.

use super::source_paths::{PathsNoter, SourcePaths};
use crate::backend::{Backend, SourceId, SourceRow, StatusesLoaded};
use crate::status::Status;
use crate::store::Result;
use crate::verify::{PathMap, SourceCheck, Statuses, Streamed};

/// What a verification keeps of a cache's sources: each one's status and recorded path, about
/// 21 bytes a source (5 MB for 220,000 of them, where a [`SourceRow`] and a [`SourceCheck`]
/// per source took 130 MB).
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Every referenced source's status, dangling ids (no source row) as missing.
    pub statuses: Statuses,
    /// The recorded path of every source row checked (for grouping by source file).
    pub paths: SourcePaths,
    /// How many source rows were checked (dangling ids not counted).
    pub sources: usize,
    /// Set when the statuses were handed to the backend (status filters and sorting work).
    pub loaded: Option<StatusesLoaded>,
}

/// Where the source rows of a verification come from.
pub enum Listing {
    /// Listed already, in path order.
    Listed(Vec<SourceRow>),
    /// To be listed, streamed, by a second handle on the cache (on the checking thread).
    By(Box<dyn Backend>),
}

impl Listing {
    /// A second handle where ids survive one (a store's rows are listed, streamed, on the
    /// thread that checks them, leaving `backend` free); else the rows, listed here.
    pub fn of(backend: &dyn Backend) -> Result<Listing> {
        if backend.ids_survive_reopen() {
            return Ok(Listing::By(backend.reopen_read_only()?));
        }
        let mut rows = backend.referenced_sources()?;
        rows.sort_by(|a, b| a.path_bytes().cmp(b.path_bytes()));
        Ok(Listing::Listed(rows))
    }

    /// At least as many rows as [`Listing::visit`] gives.
    fn bound(&self) -> Result<u64> {
        match self {
            Listing::Listed(rows) => Ok(rows.len() as u64),
            Listing::By(lister) => lister.referenced_sources_bound(),
        }
    }

    /// Hands each row to `visit`, in path order (rows listed already are given away).
    fn visit(&mut self, visit: &mut dyn FnMut(SourceRow)) -> Result<()> {
        match self {
            Listing::Listed(rows) => {
                std::mem::take(rows).into_iter().for_each(visit);
                Ok(())
            }
            Listing::By(lister) => lister.visit_referenced_sources(visit),
        }
    }
}

/// The sources of a [`Listing`] checked: what [`finish_verification`] completes.
pub struct Checked {
    statuses: Statuses,
    paths: SourcePaths,
    sources: usize,
    /// Found by the second handle, when the listing had one.
    dangling: Option<Vec<SourceId>>,
}

/// Checks the sources of `listing`, a batch at a time (see [`Streamed`]), keeping only each
/// one's status and path. `progress(done, total)` is called as batches complete, `total`
/// being a bound (done may end below it).
pub fn check_sources(
    listing: Listing,
    paths: &PathMap,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Checked> {
    let total = listing.bound()? as usize;
    let mut found = Vec::new();
    let mut noted = PathsNoter::default();
    let mut sink = |row: &SourceRow, check: SourceCheck| {
        found.push((row.id, check.status));
        noted.note(row);
        // Called once per row, but only at the end of each batch: the rows of a batch come
        // back together.
        progress(found.len(), total.max(found.len()));
    };
    let mut listing = listing;
    let mut stream = Streamed::new(paths, &mut sink);
    listing.visit(&mut |row| stream.push(row))?;
    stream.finish();
    // The second handle looks for source ids without a row too, off the caller's connection.
    let dangling = match &listing {
        Listing::By(lister) => Some(lister.dangling_source_ids()?),
        Listing::Listed(_) => None,
    };
    let sources = found.len();
    Ok(Checked {
        statuses: Statuses::from_unsorted(found),
        paths: noted.finish(),
        sources,
        dangling,
    })
}

/// The last step of a verification, wherever the checking ran: gives dangling source ids their
/// status (missing) and loads every status into `backend` for status queries.
pub fn finish_verification(backend: &dyn Backend, checked: Checked) -> Result<Verified> {
    let Checked {
        mut statuses,
        paths,
        sources,
        dangling,
    } = checked;
    let dangling = match dangling {
        Some(ids) => ids,
        None => backend.dangling_source_ids()?,
    };
    statuses.add_missing(dangling);
    let loaded = backend.load_statuses(&mut statuses.iter())?;
    Ok(Verified {
        statuses,
        paths,
        sources,
        loaded: Some(loaded),
    })
}

/// Verifies every referenced source of `backend` (listed on a second handle where ids survive
/// one), keeping statuses and paths, and loads the statuses into `backend`.
pub fn verify_store(
    backend: &dyn Backend,
    paths: &PathMap,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Verified> {
    let checked = check_sources(Listing::of(backend)?, paths, progress)?;
    finish_verification(backend, checked)
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
pub(crate) struct Hashing<'a> {
    get: &'a dyn Fn() -> Option<&'a Statuses>,
}

impl<'a> Hashing<'a> {
    pub fn statuses(&self) -> Option<&'a Statuses> {
        (self.get)()
    }

    /// A source's status; a source without a row reads as missing (as
    /// [`Statuses::or_missing`] says).
    pub fn status(&self, id: SourceId) -> Option<Status> {
        self.statuses().map(|s| s.or_missing(id))
    }
}

/// Lists a cache's sources on a second connection (where ids survive one; else here, first) and
/// checks them, streamed, on other threads while `work` runs on this thread. `work` gets the
/// sources' statuses through [`Hashing`]. `keep` sees every row with its check, on the
/// checking thread, for a caller that shows them; only the statuses are kept here. `hashed` is
/// called on the checking thread once it is done (or dropped if it fails). The statuses are
/// not loaded into the backend, and ids without a source row are not among them.
pub(crate) fn hash_beside<T>(
    backend: &dyn Backend,
    paths: &PathMap,
    hashed: impl FnOnce() + Send,
    mut keep: impl FnMut(&SourceRow, &SourceCheck) + Send,
    work: impl FnOnce(&Hashing<'_>) -> Result<T>,
) -> Result<(Statuses, T)> {
    let mut listing = Listing::of(backend)?;
    std::thread::scope(|scope| {
        let hashing = scope.spawn(move || -> Result<Statuses> {
            let mut found = Vec::new();
            let mut sink = |row: &SourceRow, check: SourceCheck| {
                keep(row, &check);
                found.push((row.id, check.status));
            };
            let mut stream = Streamed::new(paths, &mut sink);
            listing.visit(&mut |row| stream.push(row))?;
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
        let worked = work(&Hashing { get: &get });
        join();
        let statuses = done.into_inner().expect("hashing joined")?;
        Ok((statuses, worked?))
    })
}
