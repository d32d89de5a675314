//! Names of the files `st.cache_data(persist="disk")` writes:
//! `~/.streamlit/cache/{function_key}-{value_key}.memo`
//! (`runtime/caching/storage/local_disk_cache_storage.py`). Both keys are 16-byte digests in
//! lowercase hex (BLAKE2b-128, or MD5 on FIPS builds): 32 characters each.

/// The extension Streamlit gives persisted values (`@st.cache_data` was once `@st.memo`).
pub const MEMO_EXTENSION: &str = "memo";
/// Characters of a key: 16 bytes in hex.
pub const KEY_HEX_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemoName {
    Memo {
        function_key: String,
        value_key: String,
    },
    /// Anything else found in the cache folder, with why it is not a memo file.
    Unexpected { reason: String },
}

fn is_key(s: &str) -> bool {
    s.len() == KEY_HEX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parse a file name (not a path) found in Streamlit's cache folder.
pub fn parse_memo_file_name(name: &str) -> MemoName {
    let unexpected = |reason: String| MemoName::Unexpected { reason };
    let Some(stem) = name.strip_suffix(".memo") else {
        return unexpected(format!("{name:?} does not end with .{MEMO_EXTENSION}"));
    };
    let Some((function_key, value_key)) = stem.split_once('-') else {
        return unexpected(format!(
            "{name:?} has no '-' between function key and value key"
        ));
    };
    if !is_key(function_key) {
        return unexpected(format!(
            "{name:?}: function key {function_key:?} is not {KEY_HEX_LEN} lowercase hex digits"
        ));
    }
    if !is_key(value_key) {
        return unexpected(format!(
            "{name:?}: value key {value_key:?} is not {KEY_HEX_LEN} lowercase hex digits"
        ));
    }
    MemoName::Memo {
        function_key: function_key.to_string(),
        value_key: value_key.to_string(),
    }
}
