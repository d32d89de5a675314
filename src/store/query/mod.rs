//! Read queries: referenced sources, aggregates for summaries and groupings, paged listings.
//!
//! Nothing here loads all entries or a value blob it does not show: counts and sizes are SQL
//! aggregates (over the covering index on `(source_id, strategy, value_size)` where the store
//! has it) and listings come a page at a time. Each call is one statement or one short batch, so
//! no read transaction outlives it and a producer's WAL checkpoints are never held back.
//!
//! - `filter`: which entries ([`EntryFilter`]) and the SQL for entry statuses;
//! - `entries`: listings, id sets, counts and one entry's detail;
//! - `list`: the sorted list a front end pages through by position (a TEMP table);
//! - `aggregate`: counts and bytes per source and strategy;
//! - `cells`: the aggregate's cells, kept small while they are merged;
//! - `counts`: derivation errors and expiry per strategy;
//! - `sources`: source rows and the verification statuses loaded into the connection;
//! - `totals`: entries and bytes per strategy, statuses aside (what a viewer shows first).

mod aggregate;
mod cells;
mod counts;
mod entries;
mod filter;
mod list;
mod sources;
mod totals;

pub use aggregate::Resolve;

use super::{Result, Store};

impl Store {
    pub(crate) fn collect<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let run = || -> rusqlite::Result<Vec<T>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params, map)?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Runs a query and hands each row to `visit`, keeping nothing.
    pub(crate) fn for_each_row<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        mut visit: impl FnMut(&rusqlite::Row) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let run = || -> rusqlite::Result<()> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let mut rows = stmt.query(params)?;
            while let Some(r) = rows.next()? {
                visit(r)?;
            }
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }
}
