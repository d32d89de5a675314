//! Verification of sources as they stream by, a batch at a time, and the compact result most
//! callers keep: a status per source id. At 220,000 source rows, holding every row and its
//! check (paths, digests, the resolved path) took about 130 MB; a batch and the statuses take
//! a few.

use super::{verify_sources, PathMap, SourceCheck};
use crate::status::Status;
use crate::types::{SourceId, SourceRow};

/// Source rows checked together: enough files to keep every core busy, few enough that a batch
/// stays small.
const BATCH_ROWS: usize = 4096;

/// Checks source rows pushed in the order of their recorded paths (so that the rows of one
/// file come together and the file is read once), a batch at a time on the worker threads,
/// and hands each row with its check to `sink`. A batch never splits the rows of one recorded
/// path. Rows of one file recorded under different strings (relative and absolute, say) that
/// do not come together are each checked on their own: the file is read once per batch.
pub struct Streamed<'a> {
    paths: &'a PathMap,
    batch: Vec<SourceRow>,
    sink: &'a mut (dyn FnMut(&SourceRow, SourceCheck) + 'a),
}

impl<'a> Streamed<'a> {
    pub fn new(
        paths: &'a PathMap,
        sink: &'a mut (dyn FnMut(&SourceRow, SourceCheck) + 'a),
    ) -> Self {
        Streamed {
            paths,
            batch: Vec::with_capacity(BATCH_ROWS),
            sink,
        }
    }

    pub fn push(&mut self, row: SourceRow) {
        let full = self.batch.len() >= BATCH_ROWS
            && self
                .batch
                .last()
                .is_some_and(|last| last.path_bytes() != row.path_bytes());
        if full {
            self.flush();
        }
        self.batch.push(row);
    }

    /// Checks what is left.
    pub fn finish(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        let mut checks = verify_sources(&self.batch, self.paths, &|_, _| {});
        for row in self.batch.drain(..) {
            if let Some(check) = checks.remove(&row.id) {
                (self.sink)(&row, check);
            }
        }
    }
}

/// Every checked source's status by id: 9 bytes a source (the ids and the statuses in two
/// arrays: a `(SourceId, Status)` pair would take 16 with its padding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statuses {
    /// Sorted, one per id.
    ids: Vec<SourceId>,
    /// The status of the source at the same index of `ids`.
    statuses: Vec<Status>,
}

impl Statuses {
    /// The statuses of these checks (an id given twice keeps its first status).
    pub fn from_unsorted(mut by_id: Vec<(SourceId, Status)>) -> Statuses {
        by_id.sort_by_key(|(id, _)| *id);
        by_id.dedup_by_key(|(id, _)| *id);
        Statuses {
            ids: by_id.iter().map(|(id, _)| *id).collect(),
            statuses: by_id.iter().map(|(_, s)| *s).collect(),
        }
    }

    pub fn get(&self, id: SourceId) -> Option<Status> {
        self.place(id).map(|i| self.statuses[i])
    }

    /// Where this id stands among the checked ids (0 to `len() - 1`), for data kept beside.
    pub fn place(&self, id: SourceId) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// A checked source's status; a source id without a row (none was checked) is missing,
    /// as [`SourceCheck::not_in_store`] says.
    pub fn or_missing(&self, id: SourceId) -> Status {
        self.get(id).unwrap_or(Status::Missing)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds ids without a source row as missing (ids already there keep their status).
    pub fn add_missing(&mut self, ids: impl IntoIterator<Item = SourceId>) {
        let mut extra: Vec<(SourceId, Status)> = ids
            .into_iter()
            .filter(|id| self.get(*id).is_none())
            .map(|id| (id, Status::Missing))
            .collect();
        if !extra.is_empty() {
            extra.extend(self.iter());
            *self = Statuses::from_unsorted(extra);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (SourceId, Status)> + '_ {
        self.ids.iter().copied().zip(self.statuses.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, path: &str, digest: &str) -> SourceRow {
        SourceRow::whole(id, path, digest)
    }

    #[test]
    fn streamed_checks_give_every_row_the_check_of_a_whole_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        // More rows than a batch, several per file, so batches end between files.
        for f in 0..300 {
            let name = format!("m{f:03}.py");
            std::fs::write(dir.path().join(&name), format!("x = {f}\n")).unwrap();
            let good = crate::digest::hex(
                crate::digest::Algorithm::Sha256,
                format!("x = {f}\n").as_bytes(),
            );
            for k in 0..20 {
                let digest = if (f + k) % 3 == 0 {
                    format!("sha256:{good}")
                } else {
                    format!("sha256:{:064x}", k)
                };
                rows.push(row(f * 100 + k, &name, &digest));
            }
        }
        rows.push(row(99_999, "gone.py", "sha256:00"));
        let paths = PathMap::new(dir.path().to_path_buf(), Vec::new());
        let whole = verify_sources(&rows, &paths, &|_, _| {});
        let mut seen = Vec::new();
        let mut sink = |r: &SourceRow, c: SourceCheck| seen.push((r.id, c));
        let mut stream = Streamed::new(&paths, &mut sink);
        let mut sorted = rows.clone();
        sorted.sort_by(|a, b| a.path_bytes().cmp(b.path_bytes()));
        for r in sorted {
            stream.push(r);
        }
        stream.finish();
        assert_eq!(seen.len(), rows.len());
        for (id, check) in &seen {
            assert_eq!(Some(check), whole.get(id), "source {id}");
        }
        let statuses =
            Statuses::from_unsorted(seen.iter().map(|(id, c)| (*id, c.status)).collect());
        assert_eq!(statuses.len(), rows.len());
        assert_eq!(statuses.get(SourceId(99_999)), Some(Status::Missing));
        assert_eq!(statuses.get(SourceId(0)), Some(Status::Fresh));
        assert_eq!(statuses.get(SourceId(1)), Some(Status::Changed));
        assert_eq!(statuses.get(SourceId(-5)), None);
        assert_eq!(statuses.or_missing(SourceId(-5)), Status::Missing);
    }

    #[test]
    fn missing_ids_are_added_without_changing_known_ones() {
        let mut s = Statuses::from_unsorted(vec![
            (SourceId(5), Status::Fresh),
            (SourceId(2), Status::Changed),
            (SourceId(5), Status::Moved),
        ]);
        assert_eq!(s.len(), 2);
        s.add_missing([SourceId(5), SourceId(9), SourceId(-1)]);
        assert_eq!(s.get(SourceId(5)), Some(Status::Fresh));
        assert_eq!(s.get(SourceId(9)), Some(Status::Missing));
        assert_eq!(s.get(SourceId(-1)), Some(Status::Missing));
        assert_eq!(
            s.iter().map(|(id, _)| id.0).collect::<Vec<_>>(),
            vec![-1, 2, 5, 9]
        );
    }
}
