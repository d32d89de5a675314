//! How many entries each source decides (as their own source or as a dependency).

use super::groups::{cell_status_by, Group, GroupKey};
use super::verification::hash_beside;
use crate::backend::{Backend, Dimension, Resolve, SourceId, SourceRow};
use crate::store::Result;
use crate::verify::{PathMap, SourceCheck, Statuses};
use std::collections::HashMap;

/// What [`verify_with_usage`] found: every checked source's status (ids without a source row
/// among them, as missing), how many entries reference each source, and the statuses of all
/// entries.
pub struct Usage {
    pub statuses: Statuses,
    /// Referenced source ids that have no source row, sorted.
    pub missing_rows: Vec<SourceId>,
    pub uses: HashMap<SourceId, u64>,
    pub all: Group,
}

/// Verifies the cache and counts the entries referencing each source, as their own source or
/// as a dependency, and every entry's status. The sources are listed and checked, streamed,
/// beside the big aggregate (see [`hash_beside`]), and `keep` sees each with its check (on
/// the checking thread); entries with dependencies come merged by their worst dependency (see
/// [`Backend::aggregate_resolved`]): nothing is kept per entry or per source but its status.
pub fn verify_with_usage(
    backend: &dyn Backend,
    paths: &PathMap,
    keep: impl FnMut(&SourceRow, &SourceCheck) + Send,
) -> Result<Usage> {
    // Counted by the cells and by the dependency pass, which the aggregate calls in turn.
    let uses: std::cell::RefCell<HashMap<SourceId, u64>> = Default::default();
    let mut all = Group::new(GroupKey::All);
    let (mut statuses, ()) = hash_beside(
        backend,
        paths,
        || {},
        keep,
        |status| {
            backend
                .aggregate_resolved(
                    Dimension::None,
                    None,
                    Resolve {
                        status: &mut |id| status(id),
                        dependency_uses: &mut |id, n| {
                            *uses.borrow_mut().entry(id).or_default() += n
                        },
                    },
                    &mut |cell| {
                        all.add(cell_status_by(&cell, status), cell.entries, cell.bytes);
                        if let Some(id) = cell.source_id {
                            *uses.borrow_mut().entry(id).or_default() += cell.entries;
                        }
                    },
                )
                .map(|_| ())
        },
    )?;
    let uses = uses.into_inner();
    // Source ids without a source row: every referenced id is in `uses`, own sources and
    // dependencies alike.
    let mut missing_rows: Vec<SourceId> = uses
        .keys()
        .copied()
        .filter(|id| statuses.get(*id).is_none())
        .collect();
    missing_rows.sort_unstable();
    statuses.add_missing(missing_rows.iter().copied());
    Ok(Usage {
        statuses,
        missing_rows,
        uses,
        all,
    })
}
