//! Each source's recorded path, kept compactly for grouping by source file: the distinct paths
//! once, and per source id the index of its path (12 bytes a source, where a [`SourceRow`]
//! kept per source, with its digest and resolved path, took hundreds).

use crate::backend::{Backend, SourceId, SourceRow};
use crate::store::Result;

/// The recorded path of every source noted, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcePaths {
    /// Each distinct path once.
    paths: Vec<Box<str>>,
    /// Sorted, one per id (in an array of their own: beside a `u32`, an id would be padded).
    ids: Vec<SourceId>,
    /// The index in `paths` of the path of the source at the same index of `ids`.
    path_index: Vec<u32>,
}

impl SourcePaths {
    /// The paths of the sources a backend references, listed in path order (see
    /// [`Backend::visit_referenced_sources`]) and nothing else kept.
    pub fn of(backend: &dyn Backend) -> Result<SourcePaths> {
        let mut noted = PathsNoter::default();
        backend.visit_referenced_sources(&mut |row| noted.note(&row))?;
        Ok(noted.finish())
    }

    /// The recorded path of source `id`; `None` for a source not noted.
    pub fn get(&self, id: SourceId) -> Option<&str> {
        let i = self.ids.binary_search(&id).ok()?;
        self.paths.get(self.path_index[i] as usize).map(|p| &**p)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Notes source rows as they stream by. Rows come in the order of their paths, so the rows of
/// one path come together and its string is stored once; a path seen again later (rows not
/// in path order) is stored again, which costs memory but never a wrong answer.
#[derive(Debug, Default)]
pub struct PathsNoter {
    paths: Vec<Box<str>>,
    by_id: Vec<(SourceId, u32)>,
}

impl PathsNoter {
    pub fn note(&mut self, row: &SourceRow) {
        let paths = &mut self.paths;
        if paths.last().is_none_or(|last| **last != *row.path) {
            paths.push(row.path.as_str().into());
        }
        // Past four billion distinct paths the index would wrap: keep the source out instead
        // (it then groups as a path not known).
        if let Ok(index) = u32::try_from(paths.len() - 1) {
            self.by_id.push((row.id, index));
        }
    }

    /// The paths noted, by id (a source noted twice keeps its first path).
    pub fn finish(self) -> SourcePaths {
        let PathsNoter {
            mut paths,
            mut by_id,
        } = self;
        by_id.sort_by_key(|(id, _)| *id);
        by_id.dedup_by_key(|(id, _)| *id);
        paths.shrink_to_fit();
        SourcePaths {
            paths,
            ids: by_id.iter().map(|(id, _)| *id).collect(),
            path_index: by_id.iter().map(|(_, i)| *i).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, path: &str) -> SourceRow {
        SourceRow::whole(id, path, "sha256:00")
    }

    #[test]
    fn each_source_gets_its_path_and_each_run_of_a_path_is_stored_once() {
        let mut noter = PathsNoter::default();
        for r in [
            row(7, "a.py"),
            row(2, "a.py"),
            row(9, "b.py"),
            row(4, "b.py"),
            row(1, "c.py"),
            // out of path order: stored again, still right
            row(3, "a.py"),
            row(2, "z.py"),
        ] {
            noter.note(&r);
        }
        let paths = noter.finish();
        assert_eq!(paths.len(), 6);
        assert_eq!(paths.paths.len(), 5, "{:?}", paths.paths);
        for (id, want) in [(7, "a.py"), (2, "a.py"), (9, "b.py"), (4, "b.py")] {
            assert_eq!(paths.get(SourceId(id)), Some(want), "source {id}");
        }
        assert_eq!(paths.get(SourceId(1)), Some("c.py"));
        assert_eq!(paths.get(SourceId(3)), Some("a.py"));
        assert_eq!(paths.get(SourceId(5)), None);
        assert!(SourcePaths::default().get(SourceId(1)).is_none());
    }
}
