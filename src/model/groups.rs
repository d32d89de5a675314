//! Grouping: aggregate cells joined with verification results into the groups both front ends
//! show (by strategy, status, function, source file or derivation error).

use super::{SourcePaths, Verified};
use crate::backend::{Backend, Cell, Dimension, EntryFilter, Resolve, SourceId};
use crate::status::Status;
use crate::store::Result;
use crate::verify::SourceCheck;
use std::collections::{BTreeMap, HashMap};

/// The status of the entries in a cell, or `None` while any of their sources is unchecked.
pub fn cell_status(cell: &Cell, checks: &HashMap<SourceId, SourceCheck>) -> Option<Status> {
    cell_status_by(cell, &|id| checks.get(&id).map(|c| c.status))
}

/// [`cell_status`] with each source's status from `status` (`None`: unchecked).
pub fn cell_status_by(cell: &Cell, status: &dyn Fn(SourceId) -> Option<Status>) -> Option<Status> {
    if cell.malformed_source_id {
        // No source row can have the id: missing, the worst status, whatever the others are.
        return Some(Status::Missing);
    }
    let own = match cell.source_id {
        Some(id) => Some(status(id)?),
        None => None,
    };
    let mut deps = Vec::with_capacity(cell.dependencies.len());
    for d in &cell.dependencies {
        deps.push(status(*d)?);
    }
    Some(Status::of_entry(own, cell.has_derivation_error, deps))
}

/// How the groups pane splits the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grouping {
    #[default]
    Strategy,
    Status,
    Function,
    SourceFile,
    DerivationError,
}

impl Grouping {
    pub fn next(self) -> Grouping {
        match self {
            Grouping::Strategy => Grouping::Status,
            Grouping::Status => Grouping::Function,
            Grouping::Function => Grouping::SourceFile,
            Grouping::SourceFile => Grouping::DerivationError,
            Grouping::DerivationError => Grouping::Strategy,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Grouping::Strategy => "strategy",
            Grouping::Status => "status",
            Grouping::Function => "function",
            Grouping::SourceFile => "source file",
            Grouping::DerivationError => "derivation error",
        }
    }

    fn dimension(self) -> Dimension {
        match self {
            Grouping::Function => Dimension::Function,
            Grouping::DerivationError => Dimension::DerivationError,
            _ => Dimension::None,
        }
    }
}

/// Which entries a group holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    All,
    Strategy(String),
    Status(Status),
    Function(String),
    /// The recorded path of the entries' own source; `None`: entries without a source.
    SourceFile(Option<String>),
    DerivationError(Option<String>),
}

impl GroupKey {
    /// The store filter that lists this group's entries.
    pub fn filter(&self) -> EntryFilter {
        let mut f = EntryFilter::default();
        match self {
            GroupKey::All => {}
            GroupKey::Strategy(s) => f.strategies = vec![s.clone()],
            GroupKey::Status(s) => f.statuses = vec![*s],
            GroupKey::Function(func) => f.function = Some(func.clone()),
            GroupKey::SourceFile(p) => f.source_path = Some(p.clone()),
            GroupKey::DerivationError(e) => f.derivation_error = Some(e.clone()),
        }
        f
    }

    pub fn label(&self) -> String {
        match self {
            GroupKey::All => "all".into(),
            GroupKey::Strategy(s) => s.clone(),
            GroupKey::Status(s) => s.as_str().into(),
            GroupKey::Function(f) => f.clone(),
            GroupKey::SourceFile(Some(p)) => p.clone(),
            GroupKey::SourceFile(None) => "(no source)".into(),
            GroupKey::DerivationError(Some(e)) => e.clone(),
            GroupKey::DerivationError(None) => "(no error)".into(),
        }
    }
}

/// Entries, bytes and statuses of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    pub entries: u64,
    pub bytes: u64,
    pub statuses: BTreeMap<Status, u64>,
    /// Entries whose status is not known yet (verification still running).
    pub unchecked: u64,
}

impl Group {
    pub(super) fn new(key: GroupKey) -> Group {
        Group {
            key,
            entries: 0,
            bytes: 0,
            statuses: BTreeMap::new(),
            unchecked: 0,
        }
    }

    pub(super) fn add(&mut self, status: Option<Status>, entries: u64, bytes: u64) {
        // Sizes come from the store: a hostile value_size must not wrap the totals.
        self.entries = self.entries.saturating_add(entries);
        self.bytes = self.bytes.saturating_add(bytes);
        match status {
            Some(s) => *self.statuses.entry(s).or_default() += entries,
            None => self.unchecked += entries,
        }
    }

    pub fn count(&self, status: Status) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Changed + missing + failed: the entries a default purge removes.
    pub fn stale(&self) -> u64 {
        Status::DEFAULT_PURGE.iter().map(|s| self.count(*s)).sum()
    }

    pub fn failed(&self) -> u64 {
        self.count(Status::Failed)
    }
}

/// The `all` group and one group per key of `grouping`, in display order, grouped as the cells
/// stream by. `verified` is `None` while verification runs: every entry is then unchecked,
/// those without a source too (they are told failed or unverifiable with the rest), and the
/// paths for [`Grouping::SourceFile`] are listed here, compactly.
pub fn groups(
    backend: &dyn Backend,
    grouping: Grouping,
    verified: Option<&Verified>,
) -> Result<(Group, Vec<Group>)> {
    let listed;
    let paths = match verified {
        Some(v) => &v.paths,
        None if grouping == Grouping::SourceFile => {
            listed = SourcePaths::of(backend)?;
            &listed
        }
        None => &SourcePaths::default(),
    };
    let path_of = |id: SourceId| paths.get(id).map(str::to_string);
    let mut grouper = Grouper::new(grouping, &path_of);
    match verified {
        Some(v) => {
            let status = |id| v.statuses.get(id);
            let resolve = Resolve {
                status: &mut |id| v.statuses.get(id),
                dependency_uses: &mut |_, _| {},
            };
            backend.aggregate_resolved(grouping.dimension(), None, resolve, &mut |cell| {
                grouper.add(&cell, cell_status_by(&cell, &status))
            })?;
        }
        // Every entry unchecked, the first groups by strategy need only the totals, read as
        // fast as the sqlite3 shell's aggregate, where the full one reads derivation errors
        // and dependencies as well.
        None if grouping == Grouping::Strategy => {
            for (strategy, entries, bytes) in backend.strategy_totals()? {
                let cell = Cell {
                    source_id: None,
                    strategy,
                    dimension: None,
                    has_derivation_error: false,
                    dependencies: Vec::new(),
                    malformed_source_id: false,
                    entries,
                    bytes,
                };
                grouper.add(&cell, None);
            }
        }
        None => backend.aggregate(grouping.dimension(), &mut |cell| grouper.add(&cell, None))?,
    }
    Ok(grouper.finish())
}

/// Groups cells as they stream by, so that nothing is kept per cell: the `all` group and one
/// group per key of `grouping`.
pub struct Grouper<'a> {
    grouping: Grouping,
    /// The recorded path of a source (for [`Grouping::SourceFile`]).
    path_of: &'a dyn Fn(SourceId) -> Option<String>,
    all: Group,
    by_key: BTreeMap<GroupKey, Group>,
}

impl<'a> Grouper<'a> {
    pub fn new(grouping: Grouping, path_of: &'a dyn Fn(SourceId) -> Option<String>) -> Self {
        Grouper {
            grouping,
            path_of,
            all: Group::new(GroupKey::All),
            by_key: BTreeMap::new(),
        }
    }

    /// Counts a cell whose entries have `status` (`None`: unchecked).
    pub fn add(&mut self, cell: &Cell, status: Option<Status>) {
        self.all.add(status, cell.entries, cell.bytes);
        let key = match self.grouping {
            Grouping::Strategy => GroupKey::Strategy(cell.strategy.clone()),
            Grouping::Status => match status {
                Some(s) => GroupKey::Status(s),
                None => return,
            },
            Grouping::Function => GroupKey::Function(cell.dimension.clone().unwrap_or_default()),
            Grouping::SourceFile => {
                GroupKey::SourceFile(cell.source_id.and_then(|id| (self.path_of)(id)))
            }
            Grouping::DerivationError => GroupKey::DerivationError(cell.dimension.clone()),
        };
        match self.by_key.get_mut(&key) {
            Some(group) => group.add(status, cell.entries, cell.bytes),
            None => {
                let mut group = Group::new(key.clone());
                group.add(status, cell.entries, cell.bytes);
                self.by_key.insert(key, group);
            }
        }
    }

    /// The `all` group and the groups in display order.
    pub fn finish(self) -> (Group, Vec<Group>) {
        let mut groups: Vec<Group> = self.by_key.into_values().collect();
        match self.grouping {
            Grouping::Strategy => groups.sort_by_key(|g| match &g.key {
                GroupKey::Strategy(s) => (strategy_order(s), s.clone()),
                _ => (usize::MAX, String::new()),
            }),
            Grouping::Status => groups.sort_by_key(|g| std::cmp::Reverse(g.key.clone())),
            _ => groups.sort_by(|a, b| b.entries.cmp(&a.entries).then_with(|| a.key.cmp(&b.key))),
        }
        (self.all, groups)
    }
}

/// The four strategies of the format first, in its order, then any other value.
pub fn strategy_order(strategy: &str) -> usize {
    ["source", "bytecode", "custom", "name"]
        .iter()
        .position(|s| *s == strategy)
        .unwrap_or(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewEntry, Store};
    use crate::verify::PathMap;

    #[test]
    fn before_verification_every_entry_is_unchecked_then_statuses_fill_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("cache.db")).unwrap();
        let file = dir.path().join("m.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let source = store.record_file(&file, None).unwrap();
        let put = |key: &str, strategy: &str, source: Option<i64>, error: Option<&str>| {
            store
                .put_entry(&NewEntry {
                    namespace: "data",
                    function: "m:f",
                    key,
                    strategy,
                    derivation_error: error,
                    source_id: source,
                    value: Some(b"12345"),
                    created_at: 1,
                    ..Default::default()
                })
                .unwrap();
        };
        for k in ["a", "b", "c"] {
            put(k, "source", Some(source), None);
        }
        put("d", "bytecode", None, Some("TypeError: x"));
        put("e", "bytecode", None, Some("TypeError: x"));
        put("f", "name", None, None);

        for grouping in [Grouping::Strategy, Grouping::Function, Grouping::SourceFile] {
            let (all, groups) = groups(&store, grouping, None).unwrap();
            assert_eq!((all.entries, all.bytes), (6, 30), "{grouping:?}");
            assert_eq!(
                all.unchecked, 6,
                "{grouping:?}: nothing is told before verification"
            );
            assert!(all.statuses.is_empty(), "{grouping:?}");
            assert_eq!(groups.iter().map(|g| g.entries).sum::<u64>(), 6);
        }
        let (_, by_strategy) = groups(&store, Grouping::Strategy, None).unwrap();
        let counts: Vec<(String, u64)> = by_strategy
            .iter()
            .map(|g| (g.key.label(), g.entries))
            .collect();
        assert_eq!(
            counts,
            [
                ("source".into(), 3),
                ("bytecode".into(), 2),
                ("name".into(), 1)
            ]
        );
        // recorded relative to the store's directory
        let recorded = GroupKey::SourceFile(Some("m.py".into()));
        let of_file = |groups: &[Group]| groups.iter().find(|g| g.key == recorded).cloned();
        let (_, by_file) = groups(&store, Grouping::SourceFile, None).unwrap();
        assert_eq!(of_file(&by_file).map(|g| g.entries), Some(3), "{by_file:?}");

        let paths = PathMap::new(store.base_dir(), Vec::new());
        let verified = super::super::verify_store(&store, &paths, &|_, _| {}).unwrap();
        let (all, _) = groups(&store, Grouping::Strategy, Some(&verified)).unwrap();
        assert_eq!(all.unchecked, 0);
        assert_eq!(
            (
                all.count(Status::Fresh),
                all.failed(),
                all.count(Status::Unverifiable)
            ),
            (3, 2, 1)
        );
        let (_, by_file) = groups(&store, Grouping::SourceFile, Some(&verified)).unwrap();
        assert_eq!(of_file(&by_file).map(|g| g.count(Status::Fresh)), Some(3));
    }
}
