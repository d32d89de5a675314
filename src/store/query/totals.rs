//! Entries and bytes per strategy, statuses aside: what a viewer shows first, read as fast as
//! the sqlite3 shell's own aggregate.

use super::super::rows::text;
use super::super::{Result, Store, StrategyCounts};
use rusqlite::types::ValueRef;
use std::borrow::Cow;
use std::collections::BTreeMap;

impl Store {
    /// Entries and bytes per strategy, by strategy. The query is the sqlite3 shell's aggregate
    /// over the covering index `(source_id, strategy, value_size)`, grouped in the index's own
    /// order (nothing sorted, one row per source and strategy) and summed here: grouping by the
    /// strategy alone would sort every entry. Nothing else is read (no derivation errors, no
    /// dependencies), which is what keeps it as fast as that aggregate on any store.
    pub fn strategy_totals(&self) -> Result<StrategyCounts> {
        let mut by: BTreeMap<String, (u64, f64)> = BTreeMap::new();
        self.for_each_row(
            "SELECT strategy, count(*), total(value_size) FROM entries GROUP BY source_id, strategy",
            [],
            |r| {
                // Read as the aggregate's cells read it (a BLOB or text that is not UTF-8 too).
                let strategy = match r.get_ref(0)? {
                    ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t),
                    _ => Cow::Owned(text(r, 0)?),
                };
                let strategy = strategy.as_ref();
                let (n, bytes) = (r.get::<_, i64>(1)?.max(0) as u64, r.get::<_, f64>(2)?);
                match by.get_mut(strategy) {
                    Some(slot) => {
                        slot.0 = slot.0.saturating_add(n);
                        slot.1 += bytes;
                    }
                    None => {
                        by.insert(strategy.to_string(), (n, bytes));
                    }
                }
                Ok(())
            },
        )?;
        // A negative size, which the format does not allow, only lowers its strategy's total,
        // kept at 0 or above here.
        Ok(by
            .into_iter()
            .map(|(s, (n, bytes))| (s, n, bytes.max(0.0) as u64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{Dimension, NewEntry};
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn strategy_totals_equal_the_aggregate_summed_by_strategy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("cache.db")).unwrap();
        let file = dir.path().join("m.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let source = store.record_file(&file, None).unwrap();
        let helper = dir.path().join("h.py");
        std::fs::write(&helper, "y = 2\n").unwrap();
        let dep = store.record_file(&helper, None).unwrap();
        store
            .write(|s| {
                for i in 0..300i64 {
                    let deps: &[i64] = if i % 7 == 0 { &[dep] } else { &[] };
                    s.put_entry(&NewEntry {
                        namespace: "data",
                        function: "m:f",
                        key: &format!("k{i}"),
                        // an odd value among the format's four
                        strategy: ["source", "bytecode", "name", "hand-rolled"][(i % 4) as usize],
                        derivation_error: (i % 3 == 0).then_some("TypeError: x"),
                        source_id: (i % 5 != 0).then_some(source),
                        value: Some(&vec![b'v'; (i % 17) as usize]),
                        created_at: i,
                        dependencies: deps,
                        ..Default::default()
                    })?;
                }
                Ok(())
            })
            .unwrap();
        // A careless producer's strategies: a BLOB, text that is not UTF-8, a number.
        store
            .conn
            .execute_batch(
                "UPDATE entries SET strategy = CAST('name' AS BLOB) WHERE id % 8 = 2;
                 UPDATE entries SET strategy = CAST(X'ff6e' AS TEXT) WHERE id % 8 = 3;
                 UPDATE entries SET strategy = 42 WHERE id % 8 = 5;",
            )
            .unwrap();
        let mut summed: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        store
            .aggregate(Dimension::None, |c| {
                let slot = summed.entry(c.strategy.clone()).or_default();
                slot.0 += c.entries;
                slot.1 += c.bytes;
            })
            .unwrap();
        let summed: StrategyCounts = summed.into_iter().map(|(s, (n, b))| (s, n, b)).collect();
        let totals = store.strategy_totals().unwrap();
        assert_eq!(totals, summed);
        assert_eq!(totals.len(), 6);
        assert_eq!(totals.iter().map(|(_, n, _)| n).sum::<u64>(), 300);
    }
}
