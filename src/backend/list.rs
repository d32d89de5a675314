//! The sorted list of a backend that sorts its entries in memory (the walked caches, a
//! diskcache): the ids in list order, eight bytes an entry. Such caches are small next to what
//! a cachescope store holds; a store keeps its list in SQLite (`Store::select_list`).

use super::EntryId;
use std::sync::Mutex;

/// The current list of ids, replaced whole by each [`KeptList::set`].
#[derive(Debug, Default)]
pub(crate) struct KeptList {
    ids: Mutex<Vec<EntryId>>,
}

impl KeptList {
    /// Keeps `ids` as the list; returns its length.
    pub(crate) fn set(&self, ids: Vec<EntryId>) -> u64 {
        let n = ids.len() as u64;
        *self.lock() = ids;
        n
    }

    /// Up to `n` ids from position `start`.
    pub(crate) fn page(&self, start: u64, n: usize) -> Vec<EntryId> {
        let ids = self.lock();
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(ids.len());
        let end = start.saturating_add(n).min(ids.len());
        ids[start..end].to_vec()
    }

    /// Where `id` stands in the list.
    pub(crate) fn position(&self, id: EntryId) -> Option<u64> {
        self.lock().iter().position(|x| *x == id).map(|p| p as u64)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EntryId>> {
        // A panic while the lock was held left a whole list behind: still a list.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_positions_follow_the_list_set_last() {
        let list = KeptList::default();
        assert!(list.page(0, 10).is_empty());
        assert_eq!(list.position(EntryId(1)), None);
        let ids: Vec<EntryId> = [5, 3, 9, 1, 7].into_iter().map(EntryId).collect();
        assert_eq!(list.set(ids), 5);
        assert_eq!(list.page(1, 2), vec![EntryId(3), EntryId(9)]);
        assert_eq!(list.page(4, 10), vec![EntryId(7)]);
        assert!(list.page(5, 10).is_empty());
        assert!(list.page(u64::MAX, usize::MAX).is_empty());
        assert_eq!(list.position(EntryId(1)), Some(3));
        assert_eq!(list.set(vec![EntryId(1)]), 1);
        assert_eq!(list.position(EntryId(1)), Some(0));
        assert_eq!(list.position(EntryId(7)), None);
    }
}
