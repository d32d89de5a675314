//! The scanner: every function decorated with a Streamlit cache decorator in one file, with
//! its qualname and the exact text `inspect.getsource` returns for it. Nothing is imported or
//! executed: the file is tokenized (see [`super::tokenize`]) and its logical lines are read.

use std::collections::HashMap;

use super::source::{getblock_len, linecache_lines, SourceError};
use super::tokenize::{tokenize, Kind, Token, TokenizeError};

/// Which Streamlit cache a function uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    Data,
    Resource,
}

/// The modules whose `cache_data` / `cache_resource` the scanner recognises.
pub const CACHE_MODULES: &[&str] = &["streamlit", "cachescope_cache.streamlit"];

/// One decorated function found in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CachedFunction {
    pub kind: CacheKind,
    /// The decorator's target, resolved through the file's imports, e.g. `streamlit.cache_data`.
    pub decorator: String,
    /// The decorator expression as written (dotted name; `args` tells whether it is called).
    pub decorator_written: String,
    /// Whether the decorator is called with arguments, e.g. `@st.cache_data(persist="disk")`.
    pub decorator_called: bool,
    pub name: String,
    /// `__qualname__` as Python computes it: `C.m`, `outer.<locals>.inner`.
    pub qualname: String,
    pub is_async: bool,
    /// First line (the first decorator's) and last line of the block, 1-based, inclusive, in
    /// linecache lines (equal to the file's `\n` lines unless the file uses lone `\r`).
    pub span: (usize, usize),
    /// The line of `def`.
    pub def_line: usize,
    /// Exactly what `inspect.getsource` returns (universal newlines, `\n` line ends).
    pub source: String,
}

/// One `import` / `from ... import` statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Import {
    /// Leading dots of a relative import (`from ..x import y` = 2); 0 for absolute.
    pub level: usize,
    /// The dotted module after `from`, or the one imported by `import`. May be empty
    /// (`from . import x`).
    pub module: String,
    /// For `from M import a, b`: `a`, `b` (`*` for a star import); empty for `import M`.
    pub names: Vec<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    pub functions: Vec<CachedFunction>,
    pub imports: Vec<Import>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("IndentationError at line {0}: unindent does not match any outer indentation level")]
    Indentation(usize),
}

#[derive(Debug)]
struct Scope {
    name: String,
    is_class: bool,
    /// The indentation depth of the `def` / `class` line.
    depth: usize,
}

struct Found {
    kind: CacheKind,
    decorator: String,
    decorator_written: String,
    decorator_called: bool,
    name: String,
    qualname: String,
    is_async: bool,
    first_line: usize,
    def_line: usize,
}

struct Pending {
    first_line: usize,
    decorators: Vec<Vec<Token>>,
}

/// The dotted name at the start of a token run (`st . cache_data`), and the index after it.
fn dotted(tokens: &[Token]) -> (String, usize) {
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() && tokens[i].kind == Kind::Name {
        out.push_str(&tokens[i].text);
        i += 1;
        if i < tokens.len() && tokens[i].kind == Kind::Op && tokens[i].text == "." {
            out.push('.');
            i += 1;
        } else {
            break;
        }
    }
    (out, i)
}

/// Parse an `import` / `from ... import` logical line into `out`, recording the names it binds.
fn parse_import(
    tokens: &[Token],
    line: usize,
    bindings: &mut HashMap<String, String>,
    out: &mut Vec<Import>,
) {
    let Some(first) = tokens.first() else { return };
    if first.kind != Kind::Name {
        return;
    }
    let rest = &tokens[1..];
    let is = |i: usize, text: &str| rest.get(i).is_some_and(|t| t.text == text);
    if first.text == "import" {
        // import a.b as c, d
        let mut i = 0;
        loop {
            let (module, n) = dotted(&rest[i..]);
            if module.is_empty() {
                return;
            }
            i += n;
            if is(i, "as") && i + 1 < rest.len() {
                bindings.insert(rest[i + 1].text.clone(), module.clone());
                i += 2;
            } else {
                let head = module.split('.').next().unwrap_or_default().to_string();
                bindings.insert(head.clone(), head);
            }
            out.push(Import {
                level: 0,
                module,
                names: Vec::new(),
                line,
            });
            if !is(i, ",") {
                return;
            }
            i += 1;
        }
    }
    if first.text == "from" {
        let mut i = 0;
        let mut level = 0;
        while rest
            .get(i)
            .is_some_and(|t| t.kind == Kind::Op && (t.text == "." || t.text == "..."))
        {
            level += rest[i].text.len();
            i += 1;
        }
        let (module, n) = dotted(&rest[i..]);
        i += n;
        if !is(i, "import") {
            return;
        }
        i += 1;
        let mut names = Vec::new();
        while i < rest.len() {
            let t = &rest[i];
            if t.kind == Kind::Name && t.text != "as" {
                let name = t.text.clone();
                let mut bound = name.clone();
                if is(i + 1, "as") && i + 2 < rest.len() {
                    bound = rest[i + 2].text.clone();
                    i += 2;
                }
                if level == 0 {
                    bindings.insert(bound, format!("{module}.{name}"));
                }
                names.push(name);
            } else if t.kind == Kind::Op && t.text == "*" {
                names.push("*".into());
            }
            i += 1;
        }
        out.push(Import {
            level,
            module,
            names,
            line,
        });
    }
}

/// Resolve a decorator's dotted name through the file's import bindings to
/// (`module.cache_data`, kind) when it is one of [`CACHE_MODULES`]' decorators.
fn resolve_decorator(
    written: &str,
    bindings: &HashMap<String, String>,
) -> Option<(String, CacheKind)> {
    let (head, tail) = match written.split_once('.') {
        Some((h, t)) => (h, Some(t)),
        None => (written, None),
    };
    let target = bindings.get(head)?;
    let full = match tail {
        Some(t) => format!("{target}.{t}"),
        None => target.clone(),
    };
    let (module, attr) = full.rsplit_once('.')?;
    if !CACHE_MODULES.contains(&module) {
        return None;
    }
    let kind = match attr {
        "cache_data" => CacheKind::Data,
        "cache_resource" => CacheKind::Resource,
        _ => return None,
    };
    Some((full, kind))
}

/// Scan one Python source file (its raw bytes).
pub fn scan_source(bytes: &[u8]) -> Result<Scan, ScanError> {
    let lines = linecache_lines(bytes)?;
    let mut tokens = Vec::new();
    match tokenize(&lines, |t| {
        tokens.push(t.clone());
        true
    }) {
        Ok(()) => {}
        Err(TokenizeError::Indentation { row }) => return Err(ScanError::Indentation(row)),
        Err(TokenizeError::Eof { row, what }) => {
            return Err(SourceError::Token { row, what }.into())
        }
    }

    let mut bindings: HashMap<String, String> = HashMap::new();
    let mut imports = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    let mut scopes: Vec<Scope> = Vec::new();
    let mut pending: Option<Pending> = None;
    let mut depth = 0usize;
    let mut logical: Vec<Token> = Vec::new();

    for tok in tokens {
        match tok.kind {
            Kind::Indent => depth += 1,
            Kind::Dedent => depth = depth.saturating_sub(1),
            Kind::Comment | Kind::Nl | Kind::EndMarker => {}
            Kind::Newline => {
                let line_tokens = std::mem::take(&mut logical);
                let Some(first) = line_tokens.first() else {
                    continue;
                };
                let row = first.start.0;
                while scopes.last().is_some_and(|s| s.depth >= depth) {
                    scopes.pop();
                }
                if first.kind == Kind::Op && first.text == "@" {
                    let p = pending.get_or_insert(Pending {
                        first_line: row,
                        decorators: Vec::new(),
                    });
                    p.decorators.push(line_tokens[1..].to_vec());
                    continue;
                }
                let (is_async, def_at) = if first.text == "async"
                    && line_tokens.get(1).is_some_and(|t| t.text == "def")
                {
                    (true, 1)
                } else {
                    (false, 0)
                };
                let head = &line_tokens[def_at];
                if head.kind == Kind::Name && (head.text == "def" || head.text == "class") {
                    let name = line_tokens
                        .get(def_at + 1)
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    let mut qualname = String::new();
                    for s in &scopes {
                        qualname.push_str(&s.name);
                        qualname.push_str(if s.is_class { "." } else { ".<locals>." });
                    }
                    qualname.push_str(&name);
                    let is_class = head.text == "class";
                    if let (false, Some(p)) = (is_class, pending.take()) {
                        for deco in &p.decorators {
                            let (written, n) = dotted(deco);
                            if let Some((target, kind)) = resolve_decorator(&written, &bindings) {
                                let called = deco.get(n).is_some_and(|t| t.text == "(");
                                found.push(Found {
                                    kind,
                                    decorator: target,
                                    decorator_written: written,
                                    decorator_called: called,
                                    name: name.clone(),
                                    qualname: qualname.clone(),
                                    is_async,
                                    first_line: p.first_line,
                                    def_line: head.start.0,
                                });
                                break;
                            }
                        }
                    }
                    pending = None;
                    scopes.push(Scope {
                        name,
                        is_class,
                        depth,
                    });
                    continue;
                }
                pending = None;
                parse_import(&line_tokens, row, &mut bindings, &mut imports);
            }
            _ => logical.push(tok),
        }
    }

    let mut functions = Vec::new();
    for f in found {
        let first = f.first_line;
        let len = getblock_len(&lines[first - 1..])?;
        let end = first + len - 1;
        functions.push(CachedFunction {
            kind: f.kind,
            decorator: f.decorator,
            decorator_written: f.decorator_written,
            decorator_called: f.decorator_called,
            name: f.name,
            qualname: f.qualname,
            is_async: f.is_async,
            span: (first, end),
            def_line: f.def_line,
            source: lines[first - 1..end].concat(),
        });
    }
    Ok(Scan { functions, imports })
}
