//! A set of entry ids, compressed: a purge's candidates on ten million entries take about a
//! megabyte as a roaring bitmap, where a list of them took 35 MB and twice that while growing.

use super::EntryId;
use roaring::RoaringTreemap;

/// Entry ids, iterated in ascending order, each once.
#[derive(Default)]
pub struct IdSet(RoaringTreemap);

/// Row ids are signed: flipping the sign bit maps them to unsigned keys in the same order.
fn key(id: i64) -> u64 {
    (id as u64) ^ (1 << 63)
}

fn id(key: u64) -> i64 {
    (key ^ (1 << 63)) as i64
}

impl IdSet {
    pub fn insert(&mut self, entry: EntryId) {
        self.0.insert(key(entry.0));
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ascending.
    pub fn iter(&self) -> impl Iterator<Item = EntryId> + '_ {
        self.0.iter().map(|k| EntryId(id(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn iterates_any_ids_ascending_and_once(ids in prop::collection::vec(any::<i64>(), 0..200)) {
            let mut set = IdSet::default();
            for i in &ids {
                set.insert(EntryId(*i));
            }
            let mut expected = ids.clone();
            expected.sort_unstable();
            expected.dedup();
            let got: Vec<i64> = set.iter().map(|e| e.0).collect();
            prop_assert_eq!(set.len(), expected.len() as u64);
            prop_assert_eq!(got, expected);
        }
    }
}
