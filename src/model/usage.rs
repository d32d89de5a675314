//! How many entries each source decides (as their own source or as a dependency).

use super::groups::{cell_status, Group, GroupKey};
use super::Verified;
use crate::backend::{Backend, Dimension, Resolve, SourceId};
use crate::store::Result;
use std::collections::HashMap;

/// Entries referencing each source, as their own source or as a dependency, and every entry's
/// status. Entries with dependencies come merged by their worst dependency (see
/// [`Backend::aggregate_resolved`]): nothing is kept per entry.
pub fn source_usage(
    backend: &dyn Backend,
    verified: &Verified,
) -> Result<(HashMap<SourceId, u64>, Group)> {
    let mut usage: HashMap<SourceId, u64> = HashMap::new();
    let mut as_dependency: HashMap<SourceId, u64> = HashMap::new();
    let mut all = Group::new(GroupKey::All);
    backend.aggregate_resolved(
        Dimension::None,
        None,
        Resolve {
            status: &mut |id| verified.checks.get(&id).map(|c| c.status),
            dependency_uses: &mut |id, n| *as_dependency.entry(id).or_default() += n,
        },
        &mut |cell| {
            all.add(
                cell_status(&cell, &verified.checks),
                cell.entries,
                cell.bytes,
            );
            if let Some(id) = cell.source_id {
                *usage.entry(id).or_default() += cell.entries;
            }
        },
    )?;
    for (id, n) in as_dependency {
        *usage.entry(id).or_default() += n;
    }
    Ok((usage, all))
}
