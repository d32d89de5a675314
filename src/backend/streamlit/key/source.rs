//! Source text as `inspect.getsource` sees it: the file decoded the way `linecache` reads it
//! (`tokenize.open`: BOM and coding cookie, universal newlines), and `inspect.getblock`.

use super::tokenize::{tokenize, Kind, TokenizeError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("unsupported source encoding {0:?} (only utf-8 and latin-1 are read)")]
    Encoding(String),
    #[error("the file is not valid {encoding}: {detail}")]
    Decode { encoding: String, detail: String },
    #[error("tokenize.TokenError at line {row}: {what}")]
    Token { row: usize, what: &'static str },
}

/// The `coding:` cookie of the first two lines (PEP 263), lowercased and normalised the way
/// `tokenize._get_normal_name` does for the encodings we read.
fn coding_cookie(bytes: &[u8]) -> Option<String> {
    for (i, line) in bytes.split(|&b| b == b'\n').take(2).enumerate() {
        let text = String::from_utf8_lossy(line);
        let trimmed = text.trim_start();
        if !trimmed.starts_with('#') {
            // A first line that is not a comment or blank stops the search.
            if i == 0 && !trimmed.is_empty() {
                return None;
            }
            continue;
        }
        if let Some(at) = trimmed.find("coding") {
            let rest = &trimmed[at + 6..];
            if let Some(rest) = rest.strip_prefix([':', '=']) {
                let name: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                if !name.is_empty() {
                    let lower = name.to_ascii_lowercase().replace('_', "-");
                    let normal = if lower == "utf-8" || lower.starts_with("utf-8-") {
                        "utf-8".to_string()
                    } else if ["latin-1", "iso-8859-1", "iso-latin-1"]
                        .iter()
                        .any(|n| lower == *n || lower.starts_with(&format!("{n}-")))
                    {
                        "iso-8859-1".to_string()
                    } else {
                        lower
                    };
                    return Some(normal);
                }
            }
        }
    }
    None
}

/// Decode a Python source file the way `tokenize.open` does, then split it into lines the way
/// `linecache` keeps them: universal newlines (`\r\n` and a lone `\r` become `\n`), every line
/// ending with `\n` (linecache appends one to a last line that lacks it).
pub fn linecache_lines(bytes: &[u8]) -> Result<Vec<String>, SourceError> {
    let (bytes, had_bom) = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    let text = match coding_cookie(bytes).as_deref() {
        None | Some("utf-8") => std::str::from_utf8(bytes)
            .map_err(|e| SourceError::Decode {
                encoding: "utf-8".into(),
                detail: e.to_string(),
            })?
            .to_string(),
        Some("iso-8859-1") if !had_bom => bytes.iter().map(|&b| b as char).collect(),
        Some("ascii") | Some("us-ascii") if !had_bom => {
            if let Some(p) = bytes.iter().position(|b| !b.is_ascii()) {
                return Err(SourceError::Decode {
                    encoding: "ascii".into(),
                    detail: format!("non-ASCII byte at offset {p}"),
                });
            }
            String::from_utf8(bytes.to_vec()).expect("ASCII is UTF-8")
        }
        Some(other) => return Err(SourceError::Encoding(other.to_string())),
    };
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                current.push('\n');
                lines.push(std::mem::take(&mut current));
            }
            '\n' => {
                current.push('\n');
                lines.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        current.push('\n');
        lines.push(current);
    }
    Ok(lines)
}

/// `inspect.getblock` of CPython 3.11: the number of lines of the block at the top of `lines`.
pub fn getblock_len(lines: &[String]) -> Result<usize, SourceError> {
    let mut indent: i64 = 0;
    let mut islambda = false;
    let mut started = false;
    let mut passline = false;
    let mut indecorator = false;
    let mut last = 1usize;
    let mut body_col0: Option<usize> = None;
    let result = tokenize(lines, |tok| {
        if !started && !indecorator {
            if tok.kind == Kind::Op && tok.text == "@" {
                indecorator = true;
            } else if tok.kind == Kind::Name
                && matches!(tok.text.as_str(), "def" | "class" | "lambda")
            {
                if tok.text == "lambda" {
                    islambda = true;
                }
                started = true;
            }
            passline = true;
        } else if tok.kind == Kind::Newline {
            passline = false;
            last = tok.start.0;
            if islambda {
                return false;
            }
            if indecorator {
                indecorator = false;
            }
        } else if passline {
        } else if tok.kind == Kind::Indent {
            if body_col0.is_none() && started {
                body_col0 = Some(tok.end.1);
            }
            indent += 1;
            passline = true;
        } else if tok.kind == Kind::Dedent {
            indent -= 1;
            if indent <= 0 {
                return false;
            }
        } else if tok.kind == Kind::Comment {
            if body_col0.is_some_and(|c| tok.start.1 >= c) {
                last = tok.start.0;
            }
        } else if indent == 0 && tok.kind != Kind::Nl {
            return false;
        }
        true
    });
    match result {
        Ok(()) | Err(TokenizeError::Indentation { .. }) => Ok(last),
        Err(TokenizeError::Eof { row, what }) => Err(SourceError::Token { row, what }),
    }
}
