//! How many entries each source decides (as their own source or as a dependency).

use super::groups::{cell_status, Group, GroupKey};
use super::verification::{add_dangling, hash_beside};
use super::Verified;
use crate::backend::{Backend, Dimension, Resolve, SourceId};
use crate::store::Result;
use crate::verify::PathMap;
use std::collections::HashMap;

/// Verifies the cache and counts the entries referencing each source, as their own source or
/// as a dependency, and every entry's status. The sources are listed and hashed beside the
/// big aggregate (see [`hash_beside`]); entries with dependencies come merged by their worst
/// dependency (see [`Backend::aggregate_resolved`]): nothing is kept per entry.
pub fn verify_with_usage(
    backend: &dyn Backend,
    paths: &PathMap,
) -> Result<(Verified, HashMap<SourceId, u64>, Group)> {
    let mut usage: HashMap<SourceId, u64> = HashMap::new();
    let mut cells = Vec::new();
    let (mut verified, ()) = hash_beside(
        backend,
        paths,
        || {},
        |status| {
            backend
                .aggregate_resolved(
                    Dimension::None,
                    None,
                    Resolve {
                        status,
                        dependency_uses: &mut |id, n| *usage.entry(id).or_default() += n,
                    },
                    &mut |c| cells.push(c),
                )
                .map(|_| ())
        },
    )?;
    // Own sources without a source row (dependencies without one were given theirs when asked).
    let dangling: Vec<SourceId> = cells
        .iter()
        .filter_map(|c| c.source_id)
        .filter(|id| !verified.checks.contains_key(id))
        .collect();
    add_dangling(&mut verified.checks, dangling);
    let mut all = Group::new(GroupKey::All);
    for cell in &cells {
        all.add(
            cell_status(cell, &verified.checks),
            cell.entries,
            cell.bytes,
        );
        if let Some(id) = cell.source_id {
            *usage.entry(id).or_default() += cell.entries;
        }
    }
    Ok((verified, usage, all))
}
