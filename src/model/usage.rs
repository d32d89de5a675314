//! How many entries each source decides (as their own source or as a dependency).

use super::groups::{cell_status, Group, GroupKey};
use super::Verified;
use crate::backend::{Backend, Dimension, SourceId};
use crate::store::Result;
use std::collections::HashMap;

/// Entries referencing each source, as their own source or as a dependency.
pub fn source_usage(
    backend: &dyn Backend,
    verified: &Verified,
) -> Result<(HashMap<SourceId, u64>, Group)> {
    let mut usage: HashMap<SourceId, u64> = HashMap::new();
    let mut all = Group::new(GroupKey::All);
    backend.aggregate(Dimension::None, &mut |cell| {
        all.add(
            cell_status(&cell, &verified.checks),
            cell.entries,
            cell.bytes,
        );
        for id in cell.source_id.iter().chain(&cell.dependencies) {
            *usage.entry(*id).or_default() += cell.entries;
        }
    })?;
    Ok((usage, all))
}
