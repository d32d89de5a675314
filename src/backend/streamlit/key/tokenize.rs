//! A focused port of CPython 3.11's pure-Python `tokenize` (`Lib/tokenize.py`, `_tokenize`),
//! reduced to what `inspect.getblock` and the scanner read: token kinds, the token text for
//! names and operators, and (row, column) positions in characters.
//!
//! Why not a crate: `ruff_python_parser` is not published on crates.io (it lives in ruff's git
//! repository), and `rustpython-parser` pulls in a LALRPOP-generated grammar (lalrpop-util,
//! malachite bigints, unicode tables) that adds minutes of build time on a 2-core machine for an
//! AST we do not need. More importantly, `inspect.getsource` is *defined* by tokenize's token
//! stream (INDENT/DEDENT/NEWLINE/COMMENT/NL) fed to `BlockFinder`, not by an AST: an AST's
//! end position excludes trailing comments that getblock includes, for example. Reproducing
//! tokenize itself is both smaller and the only way to be byte-exact.
//!
//! Differences from CPython that cannot change getblock's or the scanner's result are on
//! purpose: numbers and operators other than `@`, `@=`, brackets, `.` and `...` are emitted as
//! one-character `Op` tokens; identifiers accept any alphanumeric character.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Name,
    Op,
    String,
    Comment,
    /// A non-logical line break (blank line, comment line, inside brackets).
    Nl,
    /// The end of a logical line.
    Newline,
    Indent,
    Dedent,
    EndMarker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// The token's text for `Name` and `Op` (and the indentation for `Indent`); empty otherwise.
    pub text: String,
    /// 1-based row, 0-based column in characters (as tokenize reports them).
    pub start: (usize, usize),
    pub end: (usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizeError {
    /// `IndentationError: unindent does not match any outer indentation level` (getblock
    /// catches it and stops).
    Indentation { row: usize },
    /// `tokenize.TokenError`: EOF in a multi-line string or statement (getblock lets it
    /// propagate: inspect.getsource raises).
    Eof { row: usize, what: &'static str },
}

const TABSIZE: usize = 8;

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Find the end (exclusive char index) of a string body starting at `from`, closed by `quote`
/// (one or three characters). A backslash escapes the next character (also in raw strings, as
/// in tokenize's regexes). None when the closing quote is not on this line.
fn find_string_end(chars: &[char], from: usize, quote: &[char]) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i += 2;
            continue;
        }
        if c == quote[0] && chars[i..].starts_with(quote) {
            return Some(i + quote.len());
        }
        i += 1;
    }
    None
}

struct ContStr {
    quote: Vec<char>,
    start: (usize, usize),
}

/// Tokenize `lines` (each a line with its `\n`, as `linecache` gives them) the way
/// `tokenize.generate_tokens` does, calling `eat` for every token. `eat` returns false to stop
/// (getblock's `EndOfBlock`). The error is what tokenize would raise before `eat` stopped.
pub fn tokenize<F>(lines: &[String], mut eat: F) -> Result<(), TokenizeError>
where
    F: FnMut(&Token) -> bool,
{
    let mut indents: Vec<usize> = vec![0];
    let mut parenlev: usize = 0;
    let mut continued = false;
    let mut contstr: Option<ContStr> = None;
    let mut lnum = 0usize;

    for line in lines.iter().map(String::as_str).chain(std::iter::once("")) {
        lnum += 1;
        let chars: Vec<char> = line.chars().collect();
        let max = chars.len();
        let mut pos = 0usize;

        if let Some(cs) = contstr.take() {
            if line.is_empty() {
                return Err(TokenizeError::Eof {
                    row: cs.start.0,
                    what: "EOF in multi-line string",
                });
            }
            match find_string_end(&chars, 0, &cs.quote) {
                Some(end) => {
                    pos = end;
                    let tok = Token {
                        kind: Kind::String,
                        text: String::new(),
                        start: cs.start,
                        end: (lnum, end),
                    };
                    if !eat(&tok) {
                        return Ok(());
                    }
                }
                None => {
                    // A single-quoted string only continues after a backslash-newline;
                    // otherwise tokenize emits an ERRORTOKEN and goes on. Either way the line
                    // holds nothing else for getblock.
                    contstr = Some(cs);
                    continue;
                }
            }
        } else if parenlev == 0 && !continued {
            if line.is_empty() {
                break;
            }
            let mut column = 0usize;
            while pos < max {
                match chars[pos] {
                    ' ' => column += 1,
                    '\t' => column = (column / TABSIZE + 1) * TABSIZE,
                    '\x0c' => column = 0,
                    _ => break,
                }
                pos += 1;
            }
            if pos == max {
                break;
            }
            let c = chars[pos];
            if c == '#' || c == '\r' || c == '\n' {
                if c == '#' {
                    let text: String = chars[pos..].iter().collect();
                    let comment_len = text.trim_end_matches(['\r', '\n']).chars().count();
                    let tok = Token {
                        kind: Kind::Comment,
                        text: String::new(),
                        start: (lnum, pos),
                        end: (lnum, pos + comment_len),
                    };
                    if !eat(&tok) {
                        return Ok(());
                    }
                    pos += comment_len;
                }
                let tok = Token {
                    kind: Kind::Nl,
                    text: String::new(),
                    start: (lnum, pos),
                    end: (lnum, max),
                };
                if !eat(&tok) {
                    return Ok(());
                }
                continue;
            }
            if column > *indents.last().unwrap() {
                indents.push(column);
                let tok = Token {
                    kind: Kind::Indent,
                    text: chars[..pos].iter().collect(),
                    start: (lnum, 0),
                    end: (lnum, pos),
                };
                if !eat(&tok) {
                    return Ok(());
                }
            }
            while column < *indents.last().unwrap() {
                if !indents.contains(&column) {
                    return Err(TokenizeError::Indentation { row: lnum });
                }
                indents.pop();
                let tok = Token {
                    kind: Kind::Dedent,
                    text: String::new(),
                    start: (lnum, pos),
                    end: (lnum, pos),
                };
                if !eat(&tok) {
                    return Ok(());
                }
            }
        } else {
            if line.is_empty() {
                return Err(TokenizeError::Eof {
                    row: lnum,
                    what: "EOF in multi-line statement",
                });
            }
            continued = false;
        }

        while pos < max {
            let c = chars[pos];
            if c == ' ' || c == '\t' || c == '\x0c' {
                pos += 1;
                continue;
            }
            let start = pos;
            let (kind, end, text) = if c == '#' {
                let mut e = pos;
                while e < max && chars[e] != '\r' && chars[e] != '\n' {
                    e += 1;
                }
                (Kind::Comment, e, String::new())
            } else if c == '\r' || c == '\n' {
                let kind = if parenlev > 0 {
                    Kind::Nl
                } else {
                    Kind::Newline
                };
                (kind, max, String::new())
            } else if c == '\\'
                && pos + 1 < max
                && (chars[pos + 1] == '\n' || chars[pos + 1] == '\r')
            {
                continued = true;
                pos = max;
                continue;
            } else if is_name_start(c) || c == '"' || c == '\'' {
                // A name, or a string with an optional prefix (r, b, u, f and their mixes).
                let mut e = pos;
                while e < max && is_name_char(chars[e]) {
                    e += 1;
                }
                let prefix: String = chars[pos..e].iter().collect();
                let is_prefix = prefix.len() <= 3
                    && prefix
                        .chars()
                        .all(|p| matches!(p.to_ascii_lowercase(), 'r' | 'b' | 'u' | 'f'));
                if e < max && (chars[e] == '"' || chars[e] == '\'') && is_prefix {
                    let q = chars[e];
                    let triple = e + 2 < max && chars[e + 1] == q && chars[e + 2] == q;
                    let quote: Vec<char> = if triple { vec![q, q, q] } else { vec![q] };
                    let body = e + quote.len();
                    match find_string_end(&chars, body, &quote) {
                        Some(end) => (Kind::String, end, String::new()),
                        None => {
                            let tail: String = chars[body..].iter().collect();
                            let backslash_nl = tail.ends_with("\\\n") || tail.ends_with("\\\r\n");
                            if triple || backslash_nl {
                                contstr = Some(ContStr {
                                    quote,
                                    start: (lnum, start),
                                });
                                break;
                            }
                            // ERRORTOKEN for the lone quote; tokenize goes on after it.
                            (Kind::Op, e + 1, q.to_string())
                        }
                    }
                } else {
                    (Kind::Name, e, prefix)
                }
            } else if c.is_ascii_digit() {
                let mut e = pos;
                while e < max && (is_name_char(chars[e]) || chars[e] == '.') {
                    e += 1;
                }
                (Kind::Op, e, String::new())
            } else if c == '@' && pos + 1 < max && chars[pos + 1] == '=' {
                (Kind::Op, pos + 2, "@=".to_string())
            } else if c == '.' && chars[pos..].starts_with(&['.', '.', '.']) {
                (Kind::Op, pos + 3, "...".to_string())
            } else {
                match c {
                    '(' | '[' | '{' => parenlev += 1,
                    ')' | ']' | '}' => parenlev = parenlev.saturating_sub(1),
                    _ => {}
                }
                (Kind::Op, pos + 1, c.to_string())
            };
            pos = end;
            let tok = Token {
                kind,
                text,
                start: (lnum, start),
                end: (lnum, end),
            };
            if !eat(&tok) {
                return Ok(());
            }
        }
    }
    for _ in 1..indents.len() {
        let tok = Token {
            kind: Kind::Dedent,
            text: String::new(),
            start: (lnum, 0),
            end: (lnum, 0),
        };
        if !eat(&tok) {
            return Ok(());
        }
    }
    let tok = Token {
        kind: Kind::EndMarker,
        text: String::new(),
        start: (lnum, 0),
        end: (lnum, 0),
    };
    eat(&tok);
    Ok(())
}
