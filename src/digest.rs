//! Digest rules of the store format, as pure functions over bytes.
//!
//! A digest is `ALGO:HEX` in lowercase hex. A span digest hashes the bytes of lines
//! `start..=end` (1-based), a line being a run of bytes up to and including `\n`; the last line
//! may lack it. No decoding, no newline normalisation: CRLF files hash their `\r` too.

use sha2::digest::DynDigest;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        [
            Algorithm::Sha224,
            Algorithm::Sha256,
            Algorithm::Sha384,
            Algorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            Algorithm::Sha224 => Box::new(sha2::Sha224::default()),
            Algorithm::Sha256 => Box::new(sha2::Sha256::default()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::default()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::default()),
        }
    }
}

/// A recorded digest, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub algorithm: Algorithm,
    /// Lowercase hex.
    pub hex: String,
    /// The digest's bytes, so candidates are compared without hex-encoding each one.
    pub bytes: Vec<u8>,
}

/// Why a recorded digest cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest is not ALGO:HEX")]
    Malformed,
    #[error("unknown digest algorithm {0:?}")]
    UnknownAlgorithm(String),
}

pub fn parse(recorded: &str) -> Result<Recorded, DigestError> {
    let (algo, hex) = recorded.split_once(':').ok_or(DigestError::Malformed)?;
    let algorithm = Algorithm::from_name(algo.trim())
        .ok_or_else(|| DigestError::UnknownAlgorithm(algo.to_string()))?;
    let hex = hex.trim().to_ascii_lowercase();
    let bytes = match hex::decode(&hex) {
        Ok(b) if !b.is_empty() => b,
        _ => return Err(DigestError::Malformed),
    };
    Ok(Recorded {
        algorithm,
        hex,
        bytes,
    })
}

pub fn hex(algorithm: Algorithm, bytes: &[u8]) -> String {
    hex::encode(raw(algorithm, bytes))
}

fn raw(algorithm: Algorithm, bytes: &[u8]) -> Box<[u8]> {
    let mut h = algorithm.hasher();
    h.update(bytes);
    h.finalize()
}

/// `ALGO:HEX` of `bytes`.
pub fn format(algorithm: Algorithm, bytes: &[u8]) -> String {
    format!("{}:{}", algorithm.name(), hex(algorithm, bytes))
}

/// Where each line of a file starts.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(bytes: &[u8]) -> LineIndex {
        let mut starts = Vec::with_capacity(bytes.len() / 32 + 1);
        if !bytes.is_empty() {
            starts.push(0);
        }
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' && i + 1 < bytes.len())
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            starts,
            len: bytes.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// Byte range of lines `start..=end` (1-based); `None` when the span is invalid or runs past
    /// the end of the file.
    pub fn span(&self, start: u64, end: u64) -> Option<Range<usize>> {
        if start == 0 || start > end || end > self.starts.len() as u64 {
            return None;
        }
        let from = self.starts[start as usize - 1];
        let to = self.starts.get(end as usize).copied().unwrap_or(self.len);
        Some(from..to)
    }
}

/// The outcome of checking a span against a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanCheck {
    Fresh,
    /// The same block stands at these lines now.
    Moved {
        start: u64,
        end: u64,
    },
    /// Not found; the digest of what stands at the recorded lines, if they still exist.
    Changed {
        current: Option<String>,
    },
}

/// Upper bound on bytes hashed while searching for a moved block, so a hostile store (a huge
/// span over a huge file) cannot make verification quadratic.
pub const MOVED_SEARCH_BUDGET: usize = 256 * 1024 * 1024;

/// Checks the span `start..=end` of `bytes` against `recorded`, searching the rest of the file
/// for the same block of lines when it no longer stands at its lines. `block_len`, the block's
/// byte length when known (from a content snapshot), lets the search skip windows that cannot
/// match without hashing them.
pub fn check_span(
    bytes: &[u8],
    lines: &LineIndex,
    (start, end): (u64, u64),
    recorded: &Recorded,
    block_len: Option<u64>,
) -> SpanCheck {
    let matches = |r: Range<usize>| *raw(recorded.algorithm, &bytes[r]) == *recorded.bytes;
    let at_place = lines.span(start, end);
    if at_place.clone().is_some_and(matches) {
        return SpanCheck::Fresh;
    }
    let n = (end - start + 1) as usize;
    let count = lines.line_count();
    let mut budget = MOVED_SEARCH_BUDGET;
    if n <= count {
        for first in 1..=(count - n + 1) as u64 {
            if first == start {
                continue;
            }
            let Some(range) = lines.span(first, first + n as u64 - 1) else {
                break;
            };
            if block_len.is_some_and(|len| len != range.len() as u64) {
                continue;
            }
            if range.len() > budget {
                break;
            }
            budget -= range.len();
            if matches(range) {
                return SpanCheck::Moved {
                    start: first,
                    end: first + n as u64 - 1,
                };
            }
        }
    }
    SpanCheck::Changed {
        current: at_place.map(|r| format(recorded.algorithm, &bytes[r])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> Recorded {
        parse(&format(Algorithm::Sha256, bytes)).unwrap()
    }

    #[test]
    fn whole_file_digest_is_sha256_of_all_bytes() {
        assert_eq!(
            format(Algorithm::Sha256, b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            format(Algorithm::Sha256, b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn lines_keep_their_newline_and_the_last_may_lack_it() {
        let b = b"one\ntwo\nthree";
        let idx = LineIndex::new(b);
        assert_eq!(idx.line_count(), 3);
        assert_eq!(&b[idx.span(2, 2).unwrap()], b"two\n");
        assert_eq!(&b[idx.span(3, 3).unwrap()], b"three");
        assert_eq!(&b[idx.span(1, 3).unwrap()], b);
        let trailing = b"one\ntwo\n";
        assert_eq!(LineIndex::new(trailing).line_count(), 2);
    }

    #[test]
    fn crlf_is_hashed_as_is() {
        let b = b"a\r\nb\r\n";
        let idx = LineIndex::new(b);
        assert_eq!(&b[idx.span(1, 1).unwrap()], b"a\r\n");
        let r = sha(b"a\r\n");
        assert_eq!(check_span(b, &idx, (1, 1), &r, None), SpanCheck::Fresh);
        // The same text with LF only is a different block.
        assert_ne!(
            check_span(b"a\nb\n", &LineIndex::new(b"a\nb\n"), (1, 1), &r, None),
            SpanCheck::Fresh
        );
    }

    #[test]
    fn span_past_end_of_file_or_of_an_empty_file_is_no_span() {
        let idx = LineIndex::new(b"x\ny\n");
        assert_eq!(idx.span(2, 3), None);
        assert_eq!(idx.span(0, 1), None);
        assert_eq!(idx.span(2, 1), None);
        let empty = LineIndex::new(b"");
        assert_eq!(empty.line_count(), 0);
        assert_eq!(empty.span(1, 1), None);
        let r = sha(b"x\n");
        assert_eq!(
            check_span(b"", &empty, (1, 1), &r, None),
            SpanCheck::Changed { current: None }
        );
    }

    #[test]
    fn a_block_found_elsewhere_is_moved_and_a_changed_one_is_changed() {
        let old = b"def f():\n    return 1\n";
        let r = sha(old);
        let moved = b"import os\n\n\ndef f():\n    return 1\n";
        let idx = LineIndex::new(moved);
        assert_eq!(
            check_span(moved, &idx, (1, 2), &r, None),
            SpanCheck::Moved { start: 4, end: 5 }
        );
        // Knowing the block's length (from a snapshot) finds it too, and a wrong length cannot.
        let len = Some(old.len() as u64);
        assert_eq!(
            check_span(moved, &idx, (1, 2), &r, len),
            SpanCheck::Moved { start: 4, end: 5 }
        );
        assert!(matches!(
            check_span(moved, &idx, (1, 2), &r, Some(3)),
            SpanCheck::Changed { .. }
        ));
        let edited = b"def f():\n    return 2\n";
        let idx = LineIndex::new(edited);
        assert_eq!(
            check_span(edited, &idx, (1, 2), &r, None),
            SpanCheck::Changed {
                current: Some(format(Algorithm::Sha256, edited))
            }
        );
    }

    #[test]
    fn moved_block_must_match_byte_for_byte_including_the_last_newline() {
        let r = sha(b"x = 1\n");
        // At end of file without a final newline the bytes differ: not the same block.
        let b = b"y = 2\nx = 1";
        assert!(matches!(
            check_span(b, &LineIndex::new(b), (1, 1), &r, None),
            SpanCheck::Changed { .. }
        ));
    }

    #[test]
    fn parses_digests_and_rejects_unknown_algorithms() {
        assert_eq!(parse("SHA256:ABCD").unwrap().hex, "abcd");
        assert_eq!(
            parse("md5:abcd"),
            Err(DigestError::UnknownAlgorithm("md5".into()))
        );
        assert_eq!(parse("abcd"), Err(DigestError::Malformed));
        assert_eq!(parse("sha256:xyz"), Err(DigestError::Malformed));
    }

    proptest::proptest! {
        #[test]
        fn every_span_of_the_original_is_fresh(lines in proptest::collection::vec("[a-z \r]{0,6}", 1..12), a in 1usize..12, len in 0usize..4) {
            let text = lines.join("\n");
            let bytes = text.as_bytes();
            let idx = LineIndex::new(bytes);
            let start = a.min(idx.line_count().max(1)) as u64;
            let end = (start as usize + len).min(idx.line_count()) as u64;
            if let Some(range) = idx.span(start, end) {
                let r = sha(&bytes[range]);
                proptest::prop_assert_eq!(check_span(bytes, &idx, (start, end), &r, None), SpanCheck::Fresh);
            }
        }
    }
}
