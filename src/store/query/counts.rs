//! Derivation errors and expiry: counts per strategy that the covering index cannot give.

use super::super::rows::text;
use super::super::{ErrorRow, Result, Store, StrategyCounts};
use rusqlite::types::ValueRef;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
            strategy_counts,
        )
    }

    /// [`Store::derivation_errors`] and [`Store::expired_counts`] together: where the store
    /// lacks the index either one reads, each would read the whole table; this reads it once.
    pub fn errors_and_expired(&self, now_ms: i64) -> Result<(Vec<ErrorRow>, StrategyCounts)> {
        if self.error_index.is_some() && self.expiry_index {
            return Ok((self.derivation_errors()?, self.expired_counts(now_ms)?));
        }
        // Streamed and tallied here: a GROUP BY on the error text would sort every entry
        // with an error (on ten million entries, more than the pass itself). Rows mostly come
        // in runs of one error, so the map is only touched when the key changes.
        let mut groups: HashMap<Key, Tally> = HashMap::new();
        let mut run: Option<(Key, Tally)> = None;
        let mut scan = || -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare(
                "SELECT strategy, derivation_error, source_id IS NULL, \
                 coalesce(CAST(value_size AS REAL), 0), coalesce(expires_at <= ?1, 0) \
                 FROM entries WHERE derivation_error IS NOT NULL OR expires_at <= ?1",
            )?;
            let mut rows = stmt.query([now_ms])?;
            while let Some(r) = rows.next()? {
                let strategy = bytes_of(r.get_ref(0)?);
                let error = match r.get_ref(1)? {
                    ValueRef::Null => None,
                    v => Some(bytes_of(v)),
                };
                let same = run.as_ref().is_some_and(|((s, e), _)| {
                    s.as_slice() == &*strategy && e.as_deref() == error.as_deref()
                });
                if !same {
                    if let Some((key, tally)) = run.take() {
                        groups.entry(key).or_default().add(&tally);
                    }
                    let key = (strategy.into_owned(), error.map(Cow::into_owned));
                    run = Some((key, Tally::default()));
                }
                let (_, tally) = run.as_mut().expect("a run is open");
                let size: f64 = r.get(3)?;
                tally.entries += 1;
                if r.get::<_, bool>(2)? {
                    tally.sourceless += 1;
                    tally.sourceless_bytes += size;
                }
                if r.get::<_, bool>(4)? {
                    tally.expired += 1;
                    tally.expired_bytes += size;
                }
            }
            Ok(())
        };
        scan().map_err(|e| self.err(e))?;
        if let Some((key, tally)) = run {
            groups.entry(key).or_default().add(&tally);
        }
        let mut errors = Vec::new();
        let mut expired: BTreeMap<String, (u64, f64)> = BTreeMap::new();
        for ((strategy, error), t) in groups {
            let strategy = String::from_utf8_lossy(&strategy).into_owned();
            if t.expired > 0 {
                let slot = expired.entry(strategy.clone()).or_default();
                slot.0 = slot.0.saturating_add(t.expired);
                slot.1 += t.expired_bytes;
            }
            if let Some(error) = error {
                errors.push(ErrorRow {
                    strategy,
                    error: String::from_utf8_lossy(&error).into_owned(),
                    entries: t.entries,
                    sourceless: t.sourceless,
                    sourceless_bytes: t.sourceless_bytes as u64,
                });
            }
        }
        most_common_first(&mut errors);
        let expired = expired
            .into_iter()
            .map(|(s, (n, b))| (s, n, b as u64))
            .collect();
        Ok((errors, expired))
    }
}

/// (strategy, derivation error) as stored.
type Key = (Vec<u8>, Option<Vec<u8>>);

/// What [`Store::errors_and_expired`] counts per key; sizes summed as floats, as SQL `total()`.
#[derive(Default)]
struct Tally {
    entries: u64,
    sourceless: u64,
    sourceless_bytes: f64,
    expired: u64,
    expired_bytes: f64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.entries += other.entries;
        self.sourceless += other.sourceless;
        self.sourceless_bytes += other.sourceless_bytes;
        self.expired += other.expired;
        self.expired_bytes += other.expired_bytes;
    }
}

/// A TEXT or BLOB column's bytes as stored (a number as SQL would print it).
fn bytes_of(v: ValueRef<'_>) -> Cow<'_, [u8]> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => Cow::Borrowed(t),
        ValueRef::Integer(i) => Cow::Owned(i.to_string().into_bytes()),
        ValueRef::Real(f) => Cow::Owned(f.to_string().into_bytes()),
        ValueRef::Null => Cow::Borrowed(b""),
    }
}

/// Reads a (strategy, count, total) row.
pub(super) fn strategy_counts(r: &rusqlite::Row) -> rusqlite::Result<(String, u64, u64)> {
    Ok((
        text(r, 0)?,
        r.get::<_, i64>(1)? as u64,
        r.get::<_, f64>(2)? as u64,
    ))
}

fn most_common_first(errors: &mut [ErrorRow]) {
    errors.sort_by(|a, b| {
        b.entries
            .cmp(&a.entries)
            .then_with(|| a.error.cmp(&b.error))
            .then_with(|| a.strategy.cmp(&b.strategy))
    });
}
