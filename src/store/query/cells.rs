//! The aggregate's cells kept small while they are merged: each strategy and dimension value
//! once ([`Names`]), each cell a copyable record of 40 bytes ([`MainCells`]). At 220,000
//! sources the main queries give as many cells; kept as [`Cell`]s with a hash index they took
//! over 100 MB.

use super::super::rows::text;
use super::super::{Cell, SourceId};
use rusqlite::types::ValueRef;
use std::collections::HashMap;

/// A strategy or dimension value by its place in a [`Names`].
pub(super) type NameId = u32;

/// Strategy and dimension values, each kept once however many cells have it.
#[derive(Default)]
pub(super) struct Names {
    ids: HashMap<Box<str>, NameId>,
    names: Vec<Box<str>>,
}

impl Names {
    /// The value of a TEXT column as [`text`] reads it (a careless producer's BLOB or number
    /// too), allocating only for a name not seen before.
    pub fn read(&mut self, r: &rusqlite::Row, idx: usize) -> rusqlite::Result<NameId> {
        Ok(match r.get_ref(idx)? {
            ValueRef::Text(t) | ValueRef::Blob(t) => match std::str::from_utf8(t) {
                Ok(s) => self.id(s),
                Err(_) => self.id(&String::from_utf8_lossy(t)),
            },
            _ => self.id(&text(r, idx)?),
        })
    }

    /// [`Names::read`] for a column that may be NULL.
    pub fn read_opt(&mut self, r: &rusqlite::Row, idx: usize) -> rusqlite::Result<Option<NameId>> {
        match r.get_ref(idx)? {
            ValueRef::Null => Ok(None),
            _ => self.read(r, idx).map(Some),
        }
    }

    pub fn id(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = NameId::try_from(self.names.len())
            .ok()
            .filter(|id| *id != NO_NAME)
            .expect("fewer than 2^32 - 1 distinct names");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn find(&self, name: &str) -> Option<NameId> {
        self.ids.get(name).copied()
    }

    pub fn get(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }
}

/// Which main cell an entry was counted in, with names of one [`Names`]: 24 bytes (an optional
/// source id and dimension would take 40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct MainKey {
    /// The source id; 0 without one (`flags` says which).
    source_id: i64,
    strategy: NameId,
    /// [`NO_NAME`] without a dimension.
    dimension: NameId,
    flags: u8,
}

/// [`MainKey::dimension`] when there is none.
const NO_NAME: NameId = NameId::MAX;
/// `source_id IS NOT NULL` in SQL (a malformed id reads as no source but was counted with the
/// sourced entries).
const SOURCED: u8 = 1;
const HAS_SOURCE_ID: u8 = 2;
const HAS_ERROR: u8 = 4;

impl MainKey {
    pub fn new(
        sourced: bool,
        source_id: Option<SourceId>,
        strategy: NameId,
        dimension: Option<NameId>,
        has_error: bool,
    ) -> MainKey {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        MainKey {
            source_id: source_id.map_or(0, |id| id.0),
            strategy,
            dimension: dimension.unwrap_or(NO_NAME),
            flags: flag(sourced, SOURCED)
                | flag(source_id.is_some(), HAS_SOURCE_ID)
                | flag(has_error, HAS_ERROR),
        }
    }

    pub fn source_id(&self) -> Option<SourceId> {
        (self.flags & HAS_SOURCE_ID != 0).then_some(SourceId(self.source_id))
    }

    pub fn strategy(&self) -> NameId {
        self.strategy
    }

    pub fn dimension(&self) -> Option<NameId> {
        (self.dimension != NO_NAME).then_some(self.dimension)
    }

    pub fn has_error(&self) -> bool {
        self.flags & HAS_ERROR != 0
    }

    /// Counted with the entries that have a source, but its id is not an integer.
    pub fn malformed(&self) -> bool {
        self.flags & (SOURCED | HAS_SOURCE_ID) == SOURCED
    }

    /// The same key with the names of `to` (`None` when `to` has not got one of them, so no
    /// cell of `to` can have this key).
    pub fn renamed(&self, from: &Names, to: &Names) -> Option<MainKey> {
        Some(MainKey {
            strategy: to.find(from.get(self.strategy))?,
            dimension: match self.dimension() {
                Some(d) => to.find(from.get(d))?,
                None => NO_NAME,
            },
            ..*self
        })
    }
}

#[derive(Clone, Copy)]
struct MainCell {
    key: MainKey,
    entries: u64,
    /// Summed as floats, as SQL `total()`.
    bytes: f64,
}

// A cell per source and strategy: its size is what the aggregate's memory grows by.
const _: () = assert!(std::mem::size_of::<MainCell>() == 40);

/// The cells of the main queries, which count every entry: pushed as they are read, then
/// merged once ([`MainCells::merge`]) so entries can be taken back out by key.
#[derive(Default)]
pub(super) struct MainCells {
    pub names: Names,
    cells: Vec<MainCell>,
}

impl MainCells {
    pub fn push(&mut self, key: MainKey, entries: u64, bytes: f64) {
        self.cells.push(MainCell {
            key,
            entries,
            bytes,
        });
    }

    /// Sorts the cells by key and merges those with one key: two SQL groups Rust reads alike
    /// (a strategy stored as text and as a blob).
    pub fn merge(&mut self) {
        self.cells.sort_unstable_by_key(|c| c.key);
        self.cells.dedup_by(|later, kept| {
            let same = later.key == kept.key;
            if same {
                kept.entries = kept.entries.saturating_add(later.entries);
                kept.bytes += later.bytes;
            }
            same
        });
        // No shrink_to_fit: it would copy the cells, old and new held at once.
    }

    /// Takes `n` entries with dependencies (and their bytes) back out of the cell the main
    /// queries counted them in. The cells must be merged.
    pub fn take_back(&mut self, key: &MainKey, n: u64, bytes: f64) {
        if let Ok(i) = self.cells.binary_search_by_key(key, |c| c.key) {
            let c = &mut self.cells[i];
            c.entries = c.entries.saturating_sub(n);
            c.bytes -= bytes;
        }
    }

    pub fn emit(self, visit: &mut impl FnMut(Cell)) {
        for c in self.cells {
            if c.entries > 0 {
                visit(Cell {
                    source_id: c.key.source_id(),
                    strategy: self.names.get(c.key.strategy).to_string(),
                    dimension: c.key.dimension().map(|d| self.names.get(d).to_string()),
                    has_derivation_error: c.key.has_error(),
                    dependencies: Vec::new(),
                    malformed_source_id: c.key.malformed(),
                    entries: c.entries,
                    // A negative total (sizes the format does not allow) reads as 0.
                    bytes: c.bytes as u64,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(names: &mut Names, source: i64, strategy: &str) -> MainKey {
        MainKey::new(
            true,
            Some(SourceId(source)),
            names.id(strategy),
            None,
            false,
        )
    }

    #[test]
    fn cells_read_alike_merge_and_give_entries_back_by_key() {
        let mut cells = MainCells::default();
        for (source, strategy, n) in [(2, "source", 5), (1, "bytecode", 3), (2, "source", 4)] {
            let k = key(&mut cells.names, source, strategy);
            cells.push(k, n, n as f64 * 10.0);
        }
        cells.merge();
        // A key made with other names finds its cell by the names' text.
        let mut other = Names::default();
        other.id("unrelated");
        let theirs = key(&mut other, 2, "source");
        let ours = theirs.renamed(&other, &cells.names).unwrap();
        cells.take_back(&ours, 2, 20.0);
        let missing = key(&mut other, 2, "unrelated");
        assert_eq!(missing.renamed(&other, &cells.names), None);
        let mut seen = Vec::new();
        cells.emit(&mut |c| seen.push((c.source_id, c.strategy, c.entries, c.bytes)));
        assert_eq!(
            seen,
            vec![
                (Some(SourceId(1)), "bytecode".to_string(), 3, 30),
                (Some(SourceId(2)), "source".to_string(), 7, 70),
            ]
        );
    }
}
