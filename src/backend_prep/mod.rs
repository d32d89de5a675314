//! Readers for foreign cache formats that do not depend on the backend seam yet: each module is
//! meant to move under `src/backend/<name>/` once that exists.
//!
//! * [`joblib_tree`]: joblib.Memory locations (folders of `func_code.py`, call folders).
//! * [`diskcache_db`]: python-diskcache `Cache`/`FanoutCache` directories (`cache.db`).
//!
//! Nothing here unpickles, imports or runs anything from the cache.

pub mod diskcache_db;
pub mod joblib_tree;

#[cfg(test)]
pub(crate) mod fixtures;
