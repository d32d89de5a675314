//! Derivation errors and expiry: counts per strategy that the covering index cannot give.

use super::super::rows::text;
use super::super::{ErrorRow, Result, Store};
use std::collections::BTreeMap;

/// (strategy, entries, bytes) per strategy.
type StrategyCounts = Vec<(String, u64, u64)>;

impl Store {
    /// How often each derivation error occurs, per strategy, most common first; one pass over
    /// the partial index on derivation errors where the store has it.
    pub fn derivation_errors(&self) -> Result<Vec<ErrorRow>> {
        // Grouped in the partial index's own order (strategy, error): no sort, no table reads.
        let mut out = self.collect(
            "SELECT strategy, derivation_error, count(*), sum(source_id IS NULL), \
             total(CASE WHEN source_id IS NULL THEN value_size ELSE 0 END) \
             FROM entries WHERE derivation_error IS NOT NULL GROUP BY 1, 2",
            [],
            |r| {
                Ok(ErrorRow {
                    strategy: text(r, 0)?,
                    error: text(r, 1)?,
                    entries: r.get::<_, i64>(2)? as u64,
                    sourceless: r.get::<_, i64>(3)? as u64,
                    sourceless_bytes: r.get::<_, f64>(4)? as u64,
                })
            },
        )?;
        most_common_first(&mut out);
        Ok(out)
    }

    /// Entries expired at `now_ms`, per strategy: (strategy, entries, bytes).
    pub fn expired_counts(&self, now_ms: i64) -> Result<StrategyCounts> {
        self.collect(
            "SELECT strategy, count(*), total(value_size) FROM entries WHERE expires_at <= ?1 GROUP BY 1",
            [now_ms],
            |r| Ok((text(r, 0)?, r.get::<_, i64>(1)? as u64, r.get::<_, f64>(2)? as u64)),
        )
    }

    /// [`Store::derivation_errors`] and [`Store::expired_counts`] together: where the store
    /// lacks the index either one reads, each would read the whole table; this reads it once.
    pub fn errors_and_expired(&self, now_ms: i64) -> Result<(Vec<ErrorRow>, StrategyCounts)> {
        if self.error_index.is_some() && self.expiry_index {
            return Ok((self.derivation_errors()?, self.expired_counts(now_ms)?));
        }
        let rows = self.collect(
            "SELECT strategy, derivation_error, count(*), sum(source_id IS NULL), \
             total(CASE WHEN source_id IS NULL THEN value_size ELSE 0 END), \
             coalesce(sum(expires_at <= ?1), 0), \
             total(CASE WHEN expires_at <= ?1 THEN value_size ELSE 0 END) \
             FROM entries WHERE derivation_error IS NOT NULL OR expires_at <= ?1 GROUP BY 1, 2",
            [now_ms],
            |r| {
                let error = match r.get_ref(1)? {
                    rusqlite::types::ValueRef::Null => None,
                    _ => Some(text(r, 1)?),
                };
                Ok((
                    text(r, 0)?,
                    error,
                    [
                        r.get::<_, i64>(2)? as u64,
                        r.get::<_, i64>(3)? as u64,
                        r.get::<_, f64>(4)? as u64,
                        r.get::<_, i64>(5)? as u64,
                        r.get::<_, f64>(6)? as u64,
                    ],
                ))
            },
        )?;
        let mut errors = Vec::new();
        let mut expired: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (strategy, error, [entries, sourceless, sourceless_bytes, exp, exp_bytes]) in rows {
            if exp > 0 {
                let slot = expired.entry(strategy.clone()).or_default();
                slot.0 = slot.0.saturating_add(exp);
                slot.1 = slot.1.saturating_add(exp_bytes);
            }
            if let Some(error) = error {
                errors.push(ErrorRow {
                    strategy,
                    error,
                    entries,
                    sourceless,
                    sourceless_bytes,
                });
            }
        }
        most_common_first(&mut errors);
        let expired = expired.into_iter().map(|(s, (n, b))| (s, n, b)).collect();
        Ok((errors, expired))
    }
}

fn most_common_first(errors: &mut [ErrorRow]) {
    errors.sort_by(|a, b| {
        b.entries
            .cmp(&a.entries)
            .then_with(|| a.error.cmp(&b.error))
    });
}
