//! The sorted entry list a front end pages through by position (the TUI's entries pane), kept
//! in a TEMP table of this connection: `temp.cs_list (pos, id)`. SQLite's sorter and the table
//! spill to temporary files (the bundled build keeps temporary storage in files; a unit test
//! checks it), so a list of ten million entries costs disk, not memory: the caller holds its
//! length and asks for pages by position.

use super::super::{EntryFilter, EntryId, Result, SortKey, Store};
use rusqlite::{params_from_iter, OptionalExtension};

impl Store {
    /// Replaces this connection's list with the ids of the entries matching `filter`, in the
    /// given order (ties by id, in the same direction); returns how many there are.
    pub fn select_list(
        &self,
        filter: &EntryFilter,
        sort: SortKey,
        descending: bool,
    ) -> Result<u64> {
        let (clause, params) = self.where_clause(filter);
        let dir = if descending { "DESC" } else { "ASC" };
        let order = match sort {
            SortKey::Id => None,
            SortKey::Function => Some("e.function".to_string()),
            SortKey::Status(_) => Some(self.rank_sql()),
            SortKey::Size => Some("e.value_size".into()),
            SortKey::Created => Some("e.created_at".into()),
            SortKey::Hits => Some("e.hits".into()),
            SortKey::Key => Some("e.key".into()),
            SortKey::Strategy => Some("e.strategy".into()),
        };
        let order = match order {
            Some(column) => format!("{column} {dir}, e.id {dir}"),
            None => format!("e.id {dir}"),
        };
        // Dropped rather than emptied: the old list's pages go back to the temp file's free
        // list at once. Into an empty table, `pos` counts from 1 in the order of the SELECT.
        let fill = format!(
            "INSERT INTO temp.cs_list (id) SELECT e.id FROM entries e{clause} ORDER BY {order}"
        );
        let run = || -> rusqlite::Result<u64> {
            self.conn.execute_batch(
                "DROP TABLE IF EXISTS temp.cs_list;
                 CREATE TEMP TABLE cs_list (pos INTEGER PRIMARY KEY, id INTEGER NOT NULL);",
            )?;
            let n = self.conn.execute(&fill, params_from_iter(params))?;
            Ok(n as u64)
        };
        run().map_err(|e| self.err(e))
    }

    /// Up to `n` ids of the list from position `start` (0-based), in list order; none without
    /// a list.
    pub fn list_page(&self, start: u64, n: usize) -> Result<Vec<EntryId>> {
        if !self.has_list()? || n == 0 {
            return Ok(Vec::new());
        }
        let first = start.saturating_add(1).min(i64::MAX as u64) as i64;
        let last = first.saturating_add(n as i64 - 1);
        self.collect(
            "SELECT id FROM temp.cs_list WHERE pos BETWEEN ?1 AND ?2 ORDER BY pos",
            [first, last],
            |r| r.get(0),
        )
    }

    /// Where `id` stands in the list (0-based): one pass over the list, which is small rows
    /// in a temp file (a third of a second for ten million).
    pub fn list_position(&self, id: EntryId) -> Result<Option<u64>> {
        if !self.has_list()? {
            return Ok(None);
        }
        let pos: Option<i64> = self
            .conn
            .query_row(
                "SELECT pos FROM temp.cs_list WHERE id = ?1 ORDER BY pos LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(pos.map(|p| (p - 1).max(0) as u64))
    }

    fn has_list(&self) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE name = 'cs_list')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{NewEntry, OpenOptions};
    use super::*;
    use crate::status::Status;
    use crate::types::SourceId;

    /// Reads the whole list back, `page` ids at a time.
    fn read_back(store: &Store, len: u64, page: usize) -> Vec<EntryId> {
        let mut out = Vec::new();
        while (out.len() as u64) < len {
            let got = store.list_page(out.len() as u64, page).unwrap();
            assert!(!got.is_empty(), "page at {} of {len}", out.len());
            out.extend(got);
        }
        out
    }

    #[test]
    fn the_list_is_a_temp_table_of_a_read_only_connection_paged_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let writer = Store::create(&path).unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let (sa, sb) = (
            writer.record_file(&a, None).unwrap(),
            writer.record_file(&b, None).unwrap(),
        );
        // 1000 entries (eight pages of the TUI): sizes that repeat, so ties are broken by id;
        // own sources a and b, none (with and without an error), dependencies on b.
        let mut expected = Vec::new();
        writer
            .write(|s| {
                for i in 0..1000i64 {
                    let value = vec![b'v'; (i * 37 % 101) as usize];
                    let source = [Some(sa), Some(sb), None, None][(i % 4) as usize];
                    let error = (i % 4 == 3).then_some("TypeError: x");
                    let deps: &[i64] = if i % 10 == 0 { &[sb] } else { &[] };
                    let id = s.put_entry(&NewEntry {
                        namespace: "data",
                        function: &format!("m:f{}", i % 7),
                        key: &format!("k{i}"),
                        strategy: ["source", "bytecode"][(i % 2) as usize],
                        derivation_error: error,
                        source_id: source,
                        value: Some(&value),
                        created_at: i,
                        dependencies: deps,
                        ..Default::default()
                    })?;
                    expected.push((EntryId(id), i));
                }
                Ok(())
            })
            .unwrap();
        drop(writer);

        // As the TUI's worker opens it.
        let store = Store::open(&path, &OpenOptions::default()).unwrap();
        assert!(store.is_read_only());
        assert!(store.list_page(0, 10).unwrap().is_empty(), "no list yet");
        assert_eq!(store.list_position(EntryId(1)).unwrap(), None);

        let all = EntryFilter::default();
        let size = |i: i64| i * 37 % 101;
        let n = store.select_list(&all, SortKey::Size, true).unwrap();
        assert_eq!(n, 1000);
        let mut by_size = expected.clone();
        by_size.sort_by_key(|(id, i)| std::cmp::Reverse((size(*i), *id)));
        let by_size: Vec<EntryId> = by_size.into_iter().map(|(id, _)| id).collect();
        assert_eq!(read_back(&store, n, 128), by_size);
        assert_eq!(read_back(&store, n, 7), by_size, "pages of any size");
        assert_eq!(store.list_page(990, 128).unwrap(), by_size[990..]);
        assert!(store.list_page(1000, 5).unwrap().is_empty());
        assert!(store.list_page(u64::MAX, usize::MAX).unwrap().is_empty());
        assert!(store.list_page(0, 0).unwrap().is_empty());
        for pos in [0, 1, 127, 128, 500, 999] {
            assert_eq!(
                store.list_position(by_size[pos]).unwrap(),
                Some(pos as u64),
                "entry at {pos}"
            );
        }
        assert_eq!(store.list_position(EntryId(1_000_000)).unwrap(), None);

        // A new list replaces the old one: a filter and another order.
        let bytecode = EntryFilter {
            strategies: vec!["bytecode".into()],
            ..Default::default()
        };
        let n = store
            .select_list(&bytecode, SortKey::Function, false)
            .unwrap();
        assert_eq!(n, 500);
        let mut by_function: Vec<(String, EntryId)> = expected
            .iter()
            .filter(|(_, i)| i % 2 == 1)
            .map(|(id, i)| (format!("m:f{}", i % 7), *id))
            .collect();
        by_function.sort();
        let by_function: Vec<EntryId> = by_function.into_iter().map(|(_, id)| id).collect();
        assert_eq!(read_back(&store, n, 128), by_function);
        assert_eq!(
            store.list_position(by_size[0]).unwrap().is_some(),
            by_function.contains(&by_size[0])
        );

        // By status, worst first, once statuses are loaded: a fresh, b changed.
        let loaded = store
            .load_source_statuses([
                (SourceId(sa), Status::Fresh),
                (SourceId(sb), Status::Changed),
            ])
            .unwrap();
        let n = store
            .select_list(&all, SortKey::Status(loaded), true)
            .unwrap();
        let status = |i: i64| {
            let own = [Some(Status::Fresh), Some(Status::Changed), None, None][(i % 4) as usize];
            let deps = if i % 10 == 0 {
                vec![Status::Changed]
            } else {
                vec![]
            };
            Status::of_entry(own, i % 4 == 3, deps)
        };
        let mut by_status = expected.clone();
        by_status.sort_by_key(|(id, i)| std::cmp::Reverse((status(*i).rank(), *id)));
        let by_status: Vec<EntryId> = by_status.into_iter().map(|(id, _)| id).collect();
        assert_eq!(read_back(&store, n, 128), by_status);

        // The list lives in the connection's temp schema, nothing in the store file; and the
        // temp schema is kept in files, so SQLite's sorter and the table spill to disk.
        let count = |sql: &str| -> i64 { store.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM temp.cs_list"), 1000);
        assert_eq!(
            count("SELECT count(*) FROM main.sqlite_schema WHERE name = 'cs_list'"),
            0
        );
        assert_eq!(count("PRAGMA temp_store"), 0, "the compiled default");
        let options: Vec<String> = store
            .collect("PRAGMA compile_options", [], |r| r.get(0))
            .unwrap();
        assert!(
            options.iter().any(|o| o == "TEMP_STORE=1"),
            "temporary storage in files unless asked otherwise: {options:?}"
        );
        // A second connection has no list of its own making.
        let other = store.reopen_read_only().unwrap();
        assert!(other.list_page(0, 10).unwrap().is_empty());
    }
}
