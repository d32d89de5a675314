//! Streamlit's persisted cache keys, derived statically (issue 9).
//!
//! `st.cache_data(persist="disk")` writes `~/.streamlit/cache/{function_key}-{value_key}.memo`
//! with no function name in it. The function key is a BLAKE2b-128 digest of the function's
//! module, qualname and `inspect.getsource` text ([`key`]). This module re-derives it from the
//! app's files without importing or executing them: [`scan`] finds the decorated functions and
//! the exact text `inspect.getsource` would return, [`modules`] names the module each file runs
//! as, [`memo`] parses the cache folder's file names. Checked against streamlit 1.67.0 on
//! CPython 3.11 (`tests/streamlit_keys.rs`).

pub mod key;
pub mod memo;
pub mod modules;
pub mod scan;
pub mod source;
pub mod tokenize;

pub use key::{bytecode_function_key, function_key};
pub use memo::{parse_memo_file_name, MemoName};
pub use modules::{app_files, derive_app_keys, AppFile, AppScan, DerivedKey, Role};
pub use scan::{scan_source, CacheKind, CachedFunction, Import, Scan, ScanError};

#[cfg(test)]
mod tests;
