//! Streamlit's persisted cache keys, derived statically (issue 9).
//!
//! `st.cache_data(persist="disk")` writes `~/.streamlit/cache/{function_key}-{value_key}.memo`
//! with no function name in it. The function key is a BLAKE2b-128 digest of the function's
//! module, qualname and `inspect.getsource` text ([`hash`]). This module re-derives it from the
//! app's files without importing or executing them: [`scan`] finds the decorated functions and
//! the exact text `inspect.getsource` would return, [`modules`] names the module each file runs
//! as, [`memo`] parses the cache folder's file names.
//!
//! Verified against streamlit 1.67.0 on CPython 3.11.7 (tests in `tests.rs`, helper
//! `tests/python/streamlit/keys.py`, fixture app `tests/fixtures/streamlit_app`):
//! - `_make_function_key` hashes `(func.__module__, func.__qualname__)` then
//!   `inspect.getsource(func)`; on `OSError`/`TypeError` (only those two: any other exception
//!   propagates) it hashes `func.__code__.co_code`. The cache type is NOT part of the key:
//!   `cache_data` and `cache_resource` give one function the same key.
//! - `inspect.getsource` unwraps `__wrapped__`, starts at `co_firstlineno` (the FIRST
//!   decorator's line, e.g. `@staticmethod` above `@st.cache_resource`), reads the file through
//!   linecache (universal newlines: a CRLF file's source has `\n` only; a last line without a
//!   newline gets one) and ends where `inspect.getblock` says: the last logical line of the
//!   body, or a later comment indented at least as deep as the body's first line (character
//!   columns, a tab counts 1); blank lines and shallower comments after the body are excluded.
//!   getblock gave the same lengths on CPython 3.10, 3.11, 3.12 and 3.13 for the test corpus;
//!   3.13 also survives an "unmatched" bracket SyntaxError, which this port does not model.
//! - The entry script and every `pages/*.py` run as `__main__`; imported local modules under
//!   their dotted name (`pkg.sub`), the entry script's directory being on `sys.path`.
//! - A Cython 3.3.1 function's `__code__.co_code` is all zero bytes; its length follows the
//!   function's size (16 bytes for a two-line function, 80 for a five-line one with a loop), not its
//!   code, so a rebuild with a same-shaped body keeps the key.
//! - Both keys in a `.memo` name are 32 lowercase hex digits (16-byte digests).
//!
//! Not modelled: lambdas passed to `st.cache_data(...)` (qualname `<lambda>`), the call form
//! `f = st.cache_data(g)`, FIPS builds (MD5 instead of BLAKE2b), source encodings other than
//! UTF-8 / Latin-1 / ASCII, files with lone `\r` line ends (spans are in linecache lines).

pub mod hash;
pub mod memo;
pub mod modules;
pub mod scan;
pub mod source;
pub mod tokenize;

pub use hash::{bytecode_function_key, function_key};
pub use memo::{parse_memo_file_name, MemoName};
pub use modules::{app_files, derive_app_keys, AppFile, AppScan, DerivedKey, Role};
pub use scan::{scan_source, CacheKind, CachedFunction, Import, Scan, ScanError};

#[cfg(test)]
mod tests;
