//! Streamlit's function key, byte for byte (`runtime/caching/cache_utils.py`,
//! `_make_function_key`, with the value encoding of `runtime/caching/hashing.py`).
//!
//! ```text
//! h = blake2b(digest_size=16)
//! h.update(b"tuple:" + blake2b16(b"str:" + module + b"str:" + qualname).digest())
//! h.update(b"str:" + inspect.getsource(func))      # or, when getsource raises
//! h.update(b"bytes:" + func.__code__.co_code)      # OSError / TypeError
//! key = h.hexdigest()
//! ```
//! The cache type (data / resource) does not enter the key. FIPS builds whose BLAKE2b rejects
//! `digest_size=16` use MD5 instead (`util.create_fast_hasher`); that variant is not
//! reproduced here.

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};

type Blake2b128 = Blake2b<U16>;

/// `_CacheFuncHasher.to_bytes` of a `str`: `b"str:" + s.encode()`.
fn str_bytes(s: &str) -> Vec<u8> {
    let mut out = b"str:".to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

fn module_qualname_bytes(module: &str, qualname: &str) -> Vec<u8> {
    let mut inner = Blake2b128::new();
    inner.update(str_bytes(module));
    inner.update(str_bytes(qualname));
    let mut out = b"tuple:".to_vec();
    out.extend_from_slice(&inner.finalize());
    out
}

/// The function key of a function whose `inspect.getsource` returned `source`.
pub fn function_key(module: &str, qualname: &str, source: &str) -> String {
    let mut h = Blake2b128::new();
    h.update(module_qualname_bytes(module, qualname));
    h.update(str_bytes(source));
    hex::encode(h.finalize())
}

/// The function key taken when `inspect.getsource` raised: the function's
/// `__code__.co_code` instead of its source.
pub fn bytecode_function_key(module: &str, qualname: &str, co_code: &[u8]) -> String {
    let mut h = Blake2b128::new();
    h.update(module_qualname_bytes(module, qualname));
    let mut b = b"bytes:".to_vec();
    b.extend_from_slice(co_code);
    h.update(b);
    hex::encode(h.finalize())
}
