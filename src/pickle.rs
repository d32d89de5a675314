//! A safe pickle reader: walks the opcodes of a pickle (protocols 0 to 5) and renders the value
//! as short, escaped, Python-like text. Nothing is ever imported, called or executed: globals
//! stay names, and objects built from them (`REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `OBJ`, `INST`,
//! `BUILD`) render as `<module.Class>`.
//!
//! Every resource is bounded by [`Limits`]: values are stored in an arena of at most
//! `max_items` nodes, strings and bytes keep a prefix only, the memo and the stack are capped,
//! rendering stops at `max_depth` nesting (`…`) and at `max_output` characters (`…`).
//! Hostile or truncated input returns a [`PickleError`]; it never panics.
//!
//! `serde-pickle` was considered and not used: it rejects pickles that reference any global it
//! does not know (`UnsupportedGlobal`), so it cannot render `<numpy.ndarray>` for an arbitrary
//! object, and it decodes into owned values without size caps.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Caps on the work and memory one pickle may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum nesting rendered; deeper containers render as `…`.
    pub max_depth: usize,
    /// Maximum values (nodes) built while walking the pickle.
    pub max_items: usize,
    /// Maximum characters of rendered output; longer output ends in `…`.
    pub max_output: usize,
    /// Maximum memo entries.
    pub max_memo: usize,
    /// Characters of a str (or bytes of a bytes value) kept for rendering.
    pub max_str: usize,
    /// Items of one container rendered before `…`.
    pub max_container: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_items: 100_000,
            max_output: 400,
            max_memo: 100_000,
            max_str: 120,
            max_container: 64,
        }
    }
}

/// Why a pickle could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    #[error("pickle truncated at byte {0}")]
    Truncated(usize),
    #[error("unknown pickle opcode 0x{op:02x} at byte {at}")]
    BadOpcode { op: u8, at: usize },
    #[error("pickle stack underflow at byte {0}")]
    StackUnderflow(usize),
    #[error("malformed pickle at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
    #[error("pickle exceeds the {0} limit")]
    Limit(&'static str),
    #[error("pickle has no STOP opcode")]
    NoStop,
}

type Idx = usize;

#[derive(Clone, Debug)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    /// Little-endian two's complement, as LONG1/LONG4 carry it (possibly cut to a prefix).
    BigInt {
        bytes: Vec<u8>,
        len: usize,
    },
    /// Decimal text of a protocol-0 `LONG`/`INT` too large for i64.
    IntText(String),
    Float(f64),
    Str {
        text: String,
        chars: usize,
    },
    Bytes {
        data: Vec<u8>,
        len: usize,
        array: bool,
    },
    Tuple(Vec<Idx>),
    List(Vec<Idx>),
    Dict(Vec<(Idx, Idx)>),
    Set(Vec<Idx>),
    FrozenSet(Vec<Idx>),
    /// A reference to a global (a class, function...): `module.name`.
    Global(String),
    /// An object built by calling something: `<module.name>`.
    Object(String),
}

enum Item {
    Mark,
    Node(Idx),
}

/// The walked pickle: an arena of nodes and the root.
struct Walk {
    nodes: Vec<Node>,
    root: Idx,
}

struct Walker<'a> {
    data: &'a [u8],
    pos: usize,
    limits: Limits,
    nodes: Vec<Node>,
    /// Values and marks, as the unpickler's stack and metastack flattened into one.
    stack: Vec<Item>,
    memo: HashMap<u64, Idx>,
}

const MAX_STACK: usize = 100_000;

impl<'a> Walker<'a> {
    fn new(data: &'a [u8], limits: Limits) -> Self {
        Walker {
            data,
            pos: 0,
            limits,
            nodes: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(PickleError::Truncated(self.data.len()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| PickleError::Truncated(self.data.len()))
    }

    /// A newline-terminated argument of the text opcodes (without the newline).
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.data[self.pos..];
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated(self.data.len()))?;
        self.pos += nl + 1;
        Ok(&rest[..nl])
    }

    fn push_node(&mut self, node: Node) -> Result<(), PickleError> {
        let idx = self.alloc(node)?;
        self.push(Item::Node(idx))
    }

    fn alloc(&mut self, node: Node) -> Result<Idx, PickleError> {
        if self.nodes.len() >= self.limits.max_items {
            return Err(PickleError::Limit("item count"));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push(&mut self, item: Item) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(PickleError::Limit("stack size"));
        }
        self.stack.push(item);
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Idx, PickleError> {
        match self.stack.pop() {
            Some(Item::Node(i)) => Ok(i),
            Some(Item::Mark) => Err(PickleError::Malformed {
                at,
                what: "mark where a value was expected",
            }),
            None => Err(PickleError::StackUnderflow(at)),
        }
    }

    fn top(&self, at: usize) -> Result<Idx, PickleError> {
        match self.stack.last() {
            Some(Item::Node(i)) => Ok(*i),
            Some(Item::Mark) => Err(PickleError::Malformed {
                at,
                what: "mark where a value was expected",
            }),
            None => Err(PickleError::StackUnderflow(at)),
        }
    }

    /// Pops the items above the topmost mark, and the mark.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Idx>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or(PickleError::Malformed {
                at,
                what: "no mark on the stack",
            })?;
        let items = self
            .stack
            .drain(mark + 1..)
            .map(|i| match i {
                Item::Node(i) => i,
                Item::Mark => unreachable!("rposition found the topmost mark"),
            })
            .collect();
        self.stack.pop();
        Ok(items)
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Result<(), PickleError> {
        let idx = self.top(at)?;
        if !self.memo.contains_key(&key) && self.memo.len() >= self.limits.max_memo {
            return Err(PickleError::Limit("memo size"));
        }
        self.memo.insert(key, idx);
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: usize) -> Result<(), PickleError> {
        let idx = *self.memo.get(&key).ok_or(PickleError::Malformed {
            at,
            what: "memo key not found",
        })?;
        self.push(Item::Node(idx))
    }

    fn str_node(&self, raw: &[u8]) -> Node {
        let text = String::from_utf8_lossy(raw);
        let chars = text.chars().count();
        let text: String = text.chars().take(self.limits.max_str).collect();
        Node::Str { text, chars }
    }

    fn bytes_node(&self, raw: &[u8], array: bool) -> Node {
        let keep = raw.len().min(self.limits.max_str);
        Node::Bytes {
            data: raw[..keep].to_vec(),
            len: raw.len(),
            array,
        }
    }

    fn global_name(&self, idx: Idx) -> String {
        match &self.nodes[idx] {
            Node::Global(g) => g.clone(),
            Node::Object(o) => o.clone(),
            Node::Str { text, .. } => text.clone(),
            _ => "object".to_string(),
        }
    }

    /// The node `callable(args)` becomes, for the reducers pickle itself relies on.
    fn reduce(&mut self, func: Idx, args: Idx) -> Node {
        let name = self.global_name(func);
        let arg_items = match &self.nodes[args] {
            Node::Tuple(v) => v.clone(),
            _ => Vec::new(),
        };
        let first = arg_items.first().map(|&i| self.nodes[i].clone());
        match (name.as_str(), first) {
            ("builtins.set", Some(Node::List(v))) | ("builtins.set", Some(Node::Tuple(v))) => {
                Node::Set(v)
            }
            ("builtins.set", None) => Node::Set(Vec::new()),
            ("builtins.frozenset", Some(Node::List(v)))
            | ("builtins.frozenset", Some(Node::Tuple(v))) => Node::FrozenSet(v),
            ("builtins.frozenset", None) => Node::FrozenSet(Vec::new()),
            // Protocols 0-2 pickle bytes as _codecs.encode(latin-1 text, 'latin1').
            ("_codecs.encode", Some(Node::Str { text, chars })) => {
                let data: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
                Node::Bytes {
                    data,
                    len: chars,
                    array: false,
                }
            }
            ("builtins.bytes", None) => Node::Bytes {
                data: Vec::new(),
                len: 0,
                array: false,
            },
            ("builtins.bytearray", Some(Node::Bytes { data, len, .. })) => Node::Bytes {
                data,
                len,
                array: true,
            },
            ("builtins.bytearray", None) => Node::Bytes {
                data: Vec::new(),
                len: 0,
                array: true,
            },
            // pickle writes type(None) as type(None) (REDUCE of builtins.type)
            ("builtins.type", Some(Node::None)) => Node::Global("builtins.NoneType".into()),
            // Protocols 0-1 pickle plain objects as copyreg._reconstructor(cls, base, state).
            ("copyreg._reconstructor", Some(Node::Global(cls))) => Node::Object(cls),
            ("copyreg.__newobj__", Some(Node::Global(cls))) => Node::Object(cls),
            _ => Node::Object(name),
        }
    }

    fn run(mut self) -> Result<Walk, PickleError> {
        loop {
            let at = self.pos;
            let op = match self.data.get(self.pos) {
                Some(&b) => b,
                None => return Err(PickleError::NoStop),
            };
            self.pos += 1;
            match op {
                b'.' => {
                    let root = self.pop(at)?;
                    return Ok(Walk {
                        nodes: self.nodes,
                        root,
                    });
                }
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.u64()?; // FRAME: framing does not change the opcode stream
                }
                b'(' => self.push(Item::Mark)?,
                b'0' => {
                    self.stack.pop().ok_or(PickleError::StackUnderflow(at))?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let i = self.top(at)?;
                    self.push(Item::Node(i))?;
                }
                b'N' => self.push_node(Node::None)?,
                0x88 => self.push_node(Node::Bool(true))?,
                0x89 => self.push_node(Node::Bool(false))?,
                b'I' => {
                    let l = self.line()?;
                    let node = match l {
                        b"01" => Node::Bool(true),
                        b"00" => Node::Bool(false),
                        _ => int_text(l, at)?,
                    };
                    self.push_node(node)?;
                }
                b'L' => {
                    let l = self.line()?;
                    let l = l.strip_suffix(b"L").unwrap_or(l);
                    let node = int_text(l, at)?;
                    self.push_node(node)?;
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push_node(Node::Int(v.into()))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push_node(Node::Int(v.into()))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push_node(Node::Int(v.into()))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        let n = self.u32()? as i32;
                        usize::try_from(n).map_err(|_| PickleError::Malformed {
                            at,
                            what: "negative LONG4 length",
                        })?
                    };
                    let raw = self.take(n)?;
                    let node = long_node(raw);
                    self.push_node(node)?;
                }
                b'F' => {
                    let l = self.line()?;
                    let v = std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .ok_or(PickleError::Malformed {
                            at,
                            what: "bad FLOAT text",
                        })?;
                    self.push_node(Node::Float(v))?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push_node(Node::Float(f64::from_be_bytes(a)))?;
                }
                b'S' => {
                    let l = self.line()?;
                    let node = self.str_node(&unquote_string(l));
                    // Python 3 loads protocol-0 STRING as str (encoding="ASCII").
                    self.push_node(node)?;
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    let n = usize::try_from(n).map_err(|_| PickleError::Malformed {
                        at,
                        what: "negative BINSTRING length",
                    })?;
                    let raw = self.take(n)?;
                    let node = self.str_node(raw);
                    self.push_node(node)?;
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let raw = self.take(n)?;
                    let node = self.str_node(raw);
                    self.push_node(node)?;
                }
                b'V' => {
                    let l = self.line()?;
                    let s = raw_unicode_escape(l);
                    let node = self.str_node(s.as_bytes());
                    self.push_node(node)?;
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.u32()? as usize,
                        0x8c => self.u8()? as usize,
                        _ => self.len_u64()?,
                    };
                    let raw = self.take(n)?;
                    let node = self.str_node(raw);
                    self.push_node(node)?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as usize,
                        b'C' => self.u8()? as usize,
                        _ => self.len_u64()?,
                    };
                    let raw = self.take(n)?;
                    let node = self.bytes_node(raw, op == 0x96);
                    self.push_node(node)?;
                }
                0x97 => self.push_node(Node::Object("pickle.PickleBuffer".into()))?,
                0x98 => {
                    self.top(at)?;
                }
                b')' => self.push_node(Node::Tuple(Vec::new()))?,
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(self.pop(at)?);
                    }
                    v.reverse();
                    self.push_node(Node::Tuple(v))?;
                }
                b't' => {
                    let v = self.pop_mark(at)?;
                    self.push_node(Node::Tuple(v))?;
                }
                b']' => self.push_node(Node::List(Vec::new()))?,
                b'l' => {
                    let v = self.pop_mark(at)?;
                    self.push_node(Node::List(v))?;
                }
                b'}' => self.push_node(Node::Dict(Vec::new()))?,
                b'd' => {
                    let v = self.pop_mark(at)?;
                    let pairs = pairs(&v, at)?;
                    self.push_node(Node::Dict(pairs))?;
                }
                0x8f => self.push_node(Node::Set(Vec::new()))?,
                0x91 => {
                    let v = self.pop_mark(at)?;
                    self.push_node(Node::FrozenSet(v))?;
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let l = self.top(at)?;
                    self.extend(l, &[v], at)?;
                }
                b'e' => {
                    let v = self.pop_mark(at)?;
                    let l = self.top(at)?;
                    self.extend(l, &v, at)?;
                }
                0x90 => {
                    let v = self.pop_mark(at)?;
                    let s = self.top(at)?;
                    self.extend(s, &v, at)?;
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.top(at)?;
                    self.set_items(d, &[(k, v)], at)?;
                }
                b'u' => {
                    let v = self.pop_mark(at)?;
                    let p = pairs(&v, at)?;
                    let d = self.top(at)?;
                    self.set_items(d, &p, at)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = global(module, name);
                    self.push_node(Node::Global(g))?;
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Node::Str { text: m, .. }, Node::Str { text: n, .. }) =
                        (&self.nodes[module], &self.nodes[name])
                    else {
                        return Err(PickleError::Malformed {
                            at,
                            what: "STACK_GLOBAL needs two str",
                        });
                    };
                    let g = global(m.as_bytes(), n.as_bytes());
                    self.push_node(Node::Global(g))?;
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let func = self.pop(at)?;
                    let node = self.reduce(func, args);
                    self.push_node(node)?;
                }
                0x81 => {
                    let _args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let node = Node::Object(self.global_name(cls));
                    self.push_node(node)?;
                }
                0x92 => {
                    let _kwargs = self.pop(at)?;
                    let _args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let node = Node::Object(self.global_name(cls));
                    self.push_node(node)?;
                }
                b'o' => {
                    let v = self.pop_mark(at)?;
                    let cls = *v.first().ok_or(PickleError::Malformed {
                        at,
                        what: "OBJ without a class",
                    })?;
                    let node = Node::Object(self.global_name(cls));
                    self.push_node(node)?;
                }
                b'i' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.pop_mark(at)?;
                    self.push_node(Node::Object(global(module, name)))?;
                }
                b'b' => {
                    // BUILD sets state on the object below; the rendering ignores state.
                    self.pop(at)?;
                    let obj = self.top(at)?;
                    let built = match &self.nodes[obj] {
                        Node::Global(g) => Some(Node::Object(g.clone())),
                        _ => None,
                    };
                    if let Some(b) = built {
                        self.nodes[obj] = b;
                    }
                }
                b'P' => {
                    self.line()?;
                    self.push_node(Node::Object("persistent_id".into()))?;
                }
                b'Q' => {
                    self.pop(at)?;
                    self.push_node(Node::Object("persistent_id".into()))?;
                }
                0x82 => {
                    let c = self.u8()?;
                    self.push_node(Node::Object(format!("copyreg extension {c}")))?;
                }
                0x83 => {
                    let c = self.u16()?;
                    self.push_node(Node::Object(format!("copyreg extension {c}")))?;
                }
                0x84 => {
                    let c = self.u32()?;
                    self.push_node(Node::Object(format!("copyreg extension {c}")))?;
                }
                b'p' => {
                    let l = self.line()?;
                    let k = parse_u64(l).ok_or(PickleError::Malformed {
                        at,
                        what: "bad PUT index",
                    })?;
                    self.memo_put(k, at)?;
                }
                b'q' => {
                    let k = self.u8()?.into();
                    self.memo_put(k, at)?;
                }
                b'r' => {
                    let k = self.u32()?.into();
                    self.memo_put(k, at)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k, at)?;
                }
                b'g' => {
                    let l = self.line()?;
                    let k = parse_u64(l).ok_or(PickleError::Malformed {
                        at,
                        what: "bad GET index",
                    })?;
                    self.memo_get(k, at)?;
                }
                b'h' => {
                    let k = self.u8()?.into();
                    self.memo_get(k, at)?;
                }
                b'j' => {
                    let k = self.u32()?.into();
                    self.memo_get(k, at)?;
                }
                _ => return Err(PickleError::BadOpcode { op, at }),
            }
        }
    }

    fn count_child(&mut self) -> Result<(), PickleError> {
        // Container growth counts against the item budget like a node does.
        if self.nodes.len() >= self.limits.max_items {
            return Err(PickleError::Limit("item count"));
        }
        self.nodes.push(Node::None);
        Ok(())
    }

    fn extend(&mut self, target: Idx, items: &[Idx], at: usize) -> Result<(), PickleError> {
        for _ in items {
            self.count_child()?;
        }
        match &mut self.nodes[target] {
            Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.extend_from_slice(items),
            // list subclasses (or objects with append/extend) built by REDUCE/NEWOBJ.
            Node::Object(_) => {}
            _ => {
                return Err(PickleError::Malformed {
                    at,
                    what: "append to a non-list",
                })
            }
        }
        Ok(())
    }

    fn set_items(
        &mut self,
        target: Idx,
        items: &[(Idx, Idx)],
        at: usize,
    ) -> Result<(), PickleError> {
        for _ in items {
            self.count_child()?;
        }
        match &mut self.nodes[target] {
            Node::Dict(v) => v.extend_from_slice(items),
            Node::Object(_) => {}
            _ => {
                return Err(PickleError::Malformed {
                    at,
                    what: "setitem on a non-dict",
                })
            }
        }
        Ok(())
    }
}

fn pairs(v: &[Idx], at: usize) -> Result<Vec<(Idx, Idx)>, PickleError> {
    if v.len() % 2 != 0 {
        return Err(PickleError::Malformed {
            at,
            what: "odd number of dict items",
        });
    }
    Ok(v.chunks(2).map(|c| (c[0], c[1])).collect())
}

fn parse_u64(l: &[u8]) -> Option<u64> {
    std::str::from_utf8(l).ok()?.trim().parse().ok()
}

fn int_text(l: &[u8], at: usize) -> Result<Node, PickleError> {
    let s = std::str::from_utf8(l)
        .map_err(|_| PickleError::Malformed {
            at,
            what: "bad INT text",
        })?
        .trim();
    if let Ok(v) = s.parse::<i64>() {
        return Ok(Node::Int(v));
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PickleError::Malformed {
            at,
            what: "bad INT text",
        });
    }
    Ok(Node::IntText(s.chars().take(4000).collect()))
}

fn long_node(raw: &[u8]) -> Node {
    if raw.is_empty() {
        return Node::Int(0);
    }
    if raw.len() <= 8 {
        let neg = raw[raw.len() - 1] & 0x80 != 0;
        let mut a = if neg { [0xffu8; 8] } else { [0u8; 8] };
        a[..raw.len()].copy_from_slice(raw);
        return Node::Int(i64::from_le_bytes(a));
    }
    // Keep enough to render up to ~300 digits; longer ints render by size.
    Node::BigInt {
        bytes: raw[..raw.len().min(128)].to_vec(),
        len: raw.len(),
    }
}

/// Decimal text of a little-endian two's complement integer.
fn bigint_decimal(bytes: &[u8]) -> String {
    let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = bytes.to_vec();
    if neg {
        // two's complement negate
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let v = (!*b) as u16 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
    }
    // base 2^32 limbs, most significant first
    let mut limbs: Vec<u32> = mag
        .chunks(4)
        .rev()
        .map(|c| {
            let mut a = [0u8; 4];
            a[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(a)
        })
        .collect();
    let mut parts: Vec<u32> = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u64 = 0;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | *l as u64;
            *l = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        parts.push(rem as u32);
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    match parts.split_last() {
        None => out.push('0'),
        Some((first, rest)) => {
            let _ = write!(out, "{first}");
            for p in rest.iter().rev() {
                let _ = write!(out, "{p:09}");
            }
        }
    }
    out
}

fn global(module: &[u8], name: &[u8]) -> String {
    let m = String::from_utf8_lossy(module);
    let n = String::from_utf8_lossy(name);
    // Protocols 0-2 write Python 2 module names (pickle's fix_imports).
    // (Python's _compat_pickle mappings, the ones pickle itself writes for Python 3 values.)
    let (m, n) = match (m.as_ref(), n.as_ref()) {
        ("__builtin__", "long") => ("builtins", "int"),
        ("__builtin__", "unicode") => ("builtins", "str"),
        ("__builtin__", "xrange") => ("builtins", "range"),
        ("__builtin__", n) => ("builtins", n),
        ("copy_reg", n) => ("copyreg", n),
        ("exceptions", n) => ("builtins", n),
        (m, n) => (m, n),
    };
    let g = format!("{m}.{n}");
    g.chars().take(200).collect()
}

/// The payload of a protocol-0 `STRING` argument: a quoted Python 2 string literal.
fn unquote_string(l: &[u8]) -> Vec<u8> {
    let inner = if l.len() >= 2 && (l[0] == b'\'' || l[0] == b'"') && l[l.len() - 1] == l[0] {
        &l[1..l.len() - 1]
    } else {
        l
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == b'\\' && i + 1 < inner.len() {
            let e = inner[i + 1];
            i += 2;
            match e {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'\'' => out.push(b'\''),
                b'"' => out.push(b'"'),
                b'x' if i + 2 <= inner.len() => {
                    match u8::from_str_radix(&String::from_utf8_lossy(&inner[i..i + 2]), 16) {
                        Ok(v) => out.push(v),
                        Err(_) => out.extend_from_slice(&inner[i - 2..i + 2]),
                    }
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Decodes Python's raw-unicode-escape (protocol-0 `UNICODE`): latin-1 bytes with `\uXXXX` and
/// `\UXXXXXXXX` escapes.
fn raw_unicode_escape(l: &[u8]) -> String {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        if l[i] == b'\\' && i + 1 < l.len() && (l[i + 1] == b'u' || l[i + 1] == b'U') {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            if i + 2 + n <= l.len() {
                if let Some(c) = std::str::from_utf8(&l[i + 2..i + 2 + n])
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    out.push(c);
                    i += 2 + n;
                    continue;
                }
            }
        }
        out.push(l[i] as char);
        i += 1;
    }
    out
}

/// Output with a length cap: once full, further writes are dropped and `…` ends the text.
struct Out {
    s: String,
    chars: usize,
    max: usize,
    full: bool,
}

impl Out {
    fn push_str(&mut self, t: &str) {
        if self.full {
            return;
        }
        for c in t.chars() {
            if self.chars >= self.max {
                self.full = true;
                self.s.push('…');
                return;
            }
            self.s.push(c);
            self.chars += 1;
        }
    }

    fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.push_str(c.encode_utf8(&mut b));
    }
}

/// Characters that must not reach a terminal raw: controls, bidi overrides, zero-width marks.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` as a Python-like single-quoted literal with terminal-unsafe characters escaped.
pub fn escape_str(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('\'');
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\'' => s.push_str("\\'"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if needs_escape(c) => {
                let v = c as u32;
                if v < 0x100 {
                    let _ = write!(s, "\\x{v:02x}");
                } else {
                    let _ = write!(s, "\\u{v:04x}");
                }
            }
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

fn escape_bytes(data: &[u8], s: &mut String) {
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
}

fn render_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Python repr: 1e+16, 1.5e-05
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    format!("{v:?}")
}

struct Renderer<'w> {
    walk: &'w Walk,
    limits: Limits,
}

impl Renderer<'_> {
    fn node(&self, idx: Idx, depth: usize, out: &mut Out) {
        if out.full {
            return;
        }
        if depth > self.limits.max_depth {
            out.push('…');
            return;
        }
        match &self.walk.nodes[idx] {
            Node::None => out.push_str("None"),
            Node::Bool(true) => out.push_str("True"),
            Node::Bool(false) => out.push_str("False"),
            Node::Int(v) => out.push_str(&v.to_string()),
            Node::IntText(t) => out.push_str(t),
            Node::BigInt { bytes, len } => {
                if bytes.len() == *len && *len <= 128 {
                    out.push_str(&bigint_decimal(bytes));
                } else {
                    out.push_str(&format!("<int of {len} bytes>"));
                }
            }
            Node::Float(v) => out.push_str(&render_float(*v)),
            Node::Str { text, chars } => {
                let keep = self.limits.max_str;
                if *chars > keep {
                    let t: String = text.chars().take(keep).collect();
                    let mut e = escape_str(&t);
                    e.pop();
                    out.push_str(&e);
                    out.push_str(&format!("…' ({chars} chars)"));
                } else {
                    out.push_str(&escape_str(text));
                }
            }
            Node::Bytes { data, len, array } => {
                let keep = (self.limits.max_str / 2).max(8);
                let mut s = String::new();
                if *array {
                    s.push_str("bytearray(");
                }
                s.push_str("b'");
                escape_bytes(&data[..data.len().min(keep)], &mut s);
                if *len > keep {
                    let _ = write!(s, "…' ({len} bytes)");
                } else {
                    s.push('\'');
                }
                if *array {
                    s.push(')');
                }
                out.push_str(&s);
            }
            Node::Tuple(v) => {
                out.push('(');
                self.seq(v, depth, out);
                if v.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Node::List(v) => {
                out.push('[');
                self.seq(v, depth, out);
                out.push(']');
            }
            Node::Set(v) => {
                if v.is_empty() {
                    out.push_str("set()");
                } else {
                    out.push('{');
                    self.seq(v, depth, out);
                    out.push('}');
                }
            }
            Node::FrozenSet(v) => {
                out.push_str("frozenset(");
                if !v.is_empty() {
                    out.push('{');
                    self.seq(v, depth, out);
                    out.push('}');
                }
                out.push(')');
            }
            Node::Dict(v) => {
                out.push('{');
                for (n, (k, val)) in v.iter().enumerate() {
                    if out.full {
                        return;
                    }
                    if n > 0 {
                        out.push_str(", ");
                    }
                    if n >= self.limits.max_container {
                        out.push('…');
                        break;
                    }
                    self.node(*k, depth + 1, out);
                    out.push_str(": ");
                    self.node(*val, depth + 1, out);
                }
                out.push('}');
            }
            Node::Global(g) => out.push_str(&escape_unsafe(g)),
            Node::Object(o) => {
                out.push('<');
                out.push_str(&escape_unsafe(o));
                out.push('>');
            }
        }
    }

    fn seq(&self, v: &[Idx], depth: usize, out: &mut Out) {
        for (n, &i) in v.iter().enumerate() {
            if out.full {
                return;
            }
            if n > 0 {
                out.push_str(", ");
            }
            if n >= self.limits.max_container {
                out.push('…');
                break;
            }
            self.node(i, depth + 1, out);
        }
    }
}

/// A global's name with terminal-unsafe characters escaped (no quotes).
pub fn escape_unsafe(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let e = escape_str(s);
    e[1..e.len() - 1].to_string()
}

fn render_nodes(walk: &Walk, items: &[Idx], sep: &str, limits: Limits, out: &mut Out) {
    let r = Renderer { walk, limits };
    for (n, &i) in items.iter().enumerate() {
        if n > 0 {
            out.push_str(sep);
        }
        r.node(i, 1, out);
    }
}

fn new_out(limits: &Limits) -> Out {
    Out {
        s: String::new(),
        chars: 0,
        max: limits.max_output,
        full: false,
    }
}

/// Renders a pickle as short escaped Python-like text with the default [`Limits`].
pub fn render(data: &[u8]) -> Result<String, PickleError> {
    render_with(data, Limits::default())
}

/// Renders a pickle as short escaped Python-like text.
pub fn render_with(data: &[u8], limits: Limits) -> Result<String, PickleError> {
    let walk = Walker::new(data, limits).run()?;
    let mut out = new_out(&limits);
    Renderer {
        walk: &walk,
        limits,
    }
    .node(walk.root, 0, &mut out);
    Ok(out.s)
}

/// A diskcache `memoize` key: the function's full name and its rendered arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoKey {
    /// `module.qualname`, or the `name=` given to `memoize`.
    pub name: String,
    /// The call as text: `(1, 'x', b=2)`; `typed=True` keys end in `; typed`.
    pub args: String,
}

/// Where the `None` marker sits in a memoize key and how the tail after it splits.
struct KeyShape {
    marker: usize,
    kwargs: usize,
    typed: bool,
}

/// Finds the `(name, *args, None, *kwargs_flat[, *types])` shape in the items of a tuple.
///
/// A key is ambiguous when an argument is `None` (`f(None, 'a')` and `f(a=None)` make the same
/// key, in diskcache too): the rightmost marker that leaves a valid tail wins.
fn key_shape(nodes: &[Node], items: &[Idx]) -> Option<KeyShape> {
    let is_str = |i: Idx| matches!(nodes[i], Node::Str { .. });
    let is_type = |i: Idx| matches!(nodes[i], Node::Global(_));
    for marker in (1..items.len()).rev() {
        if !matches!(nodes[items[marker]], Node::None) {
            continue;
        }
        let nargs = marker - 1;
        let tail = &items[marker + 1..];
        // typed: tail = k pairs then nargs + k types
        for typed in [false, true] {
            let k = if typed {
                if tail.len() < nargs || (tail.len() - nargs) % 3 != 0 {
                    continue;
                }
                (tail.len() - nargs) / 3
            } else {
                if tail.len() % 2 != 0 {
                    continue;
                }
                tail.len() / 2
            };
            let pairs_ok = (0..k).all(|j| is_str(tail[2 * j]));
            let types_ok = !typed || tail[2 * k..].iter().all(|&i| is_type(i));
            // typed=True with no arguments has an empty tail: report it untyped.
            if pairs_ok && types_ok && (!typed || !tail[2 * k..].is_empty()) {
                return Some(KeyShape {
                    marker,
                    kwargs: k,
                    typed,
                });
            }
        }
    }
    None
}

/// Extracts a diskcache `memoize` key from its pickled blob: `Some` when the pickle is a tuple
/// whose first item is a str and which holds the `None` kwargs marker, else `None`.
pub fn memo_key(data: &[u8]) -> Option<MemoKey> {
    memo_key_with(data, Limits::default())
}

/// [`memo_key`] with explicit limits.
pub fn memo_key_with(data: &[u8], limits: Limits) -> Option<MemoKey> {
    let walk = Walker::new(data, limits).run().ok()?;
    let Node::Tuple(items) = &walk.nodes[walk.root] else {
        return None;
    };
    let Node::Str { text, chars } = &walk.nodes[*items.first()?] else {
        return None;
    };
    let shape = key_shape(&walk.nodes, items)?;
    let mut name = text.clone();
    if *chars > text.chars().count() {
        name.push('…');
    }
    let mut out = new_out(&limits);
    out.push('(');
    render_nodes(&walk, &items[1..shape.marker], ", ", limits, &mut out);
    let tail = &items[shape.marker + 1..];
    let r = Renderer {
        walk: &walk,
        limits,
    };
    for j in 0..shape.kwargs {
        if shape.marker > 1 || j > 0 {
            out.push_str(", ");
        }
        if let Node::Str { text, .. } = &walk.nodes[tail[2 * j]] {
            out.push_str(&escape_unsafe(text));
        }
        out.push('=');
        r.node(tail[2 * j + 1], 1, &mut out);
    }
    out.push(')');
    if shape.typed {
        out.push_str("; typed");
    }
    Some(MemoKey {
        name: escape_unsafe(&name),
        args: out.s,
    })
}

/// Only the full name of a diskcache `memoize` key (what [`memo_key`] returns as `name`),
/// without rendering the arguments: the cheap path for SQL aggregates.
pub fn memo_name(data: &[u8]) -> Option<Cow<'_, str>> {
    match flat_memo_name(data) {
        Some(flat) => flat.map(Cow::Borrowed),
        None => walked_memo_name(data).map(Cow::Owned),
    }
}

/// [`memo_name`] by the walker: any pickle.
fn walked_memo_name(data: &[u8]) -> Option<String> {
    let limits = Limits {
        max_str: MEMO_NAME_MAX,
        ..Limits::default()
    };
    let walk = Walker::new(data, limits).run().ok()?;
    let Node::Tuple(items) = &walk.nodes[walk.root] else {
        return None;
    };
    let Node::Str { text, .. } = &walk.nodes[*items.first()?] else {
        return None;
    };
    key_shape(&walk.nodes, items)?;
    Some(escape_unsafe(text))
}

/// Characters of a memoize name kept (a longer one is cut, as the walker cuts strings).
const MEMO_NAME_MAX: usize = 1000;

/// [`memo_name`] without the walker, for the keys diskcache writes by the million: one flat
/// tuple of strings, numbers, bytes, booleans and `None` (`PROTO`, `FRAME`, `MARK`, items,
/// `TUPLE`, `STOP`). `None` when the pickle has any other shape (nested tuples, objects, types
/// for `typed=True`, a name to escape or cut...): the walker decides those. The answer is the
/// walker's whenever this gives one (a property test holds the two together).
fn flat_memo_name(data: &[u8]) -> Option<Option<&str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Item {
        Str,
        None,
        Other,
    }
    const MAX_ITEMS: usize = 64;
    let mut items = [Item::Other; MAX_ITEMS];
    let mut n = 0;
    let mut name: Option<&[u8]> = None;
    let mut pos = 0;
    let take = |pos: &mut usize, len: usize| -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        let bytes = data.get(*pos..end)?;
        *pos = end;
        Some(bytes)
    };
    let len_le = |bytes: &[u8]| {
        bytes
            .iter()
            .rev()
            .fold(0usize, |acc, &b| acc << 8 | b as usize)
    };
    if take(&mut pos, 2)?[0] != 0x80 {
        return None;
    }
    if data.get(pos) == Some(&0x95) {
        take(&mut pos, 9)?;
    }
    if take(&mut pos, 1)? != b"(" {
        return None;
    }
    loop {
        let op = take(&mut pos, 1)?[0];
        let item = match op {
            b't' => break,
            // MEMOIZE after an item: no change to the stack
            0x94 if n > 0 => continue,
            b'N' => Item::None,
            0x88 | 0x89 => Item::Other,
            b'K' => take(&mut pos, 1).map(|_| Item::Other)?,
            b'M' => take(&mut pos, 2).map(|_| Item::Other)?,
            b'J' => take(&mut pos, 4).map(|_| Item::Other)?,
            b'G' => take(&mut pos, 8).map(|_| Item::Other)?,
            0x8a | b'C' => {
                let len = take(&mut pos, 1)?[0] as usize;
                take(&mut pos, len).map(|_| Item::Other)?
            }
            0x8c | b'X' => {
                let width = if op == 0x8c { 1 } else { 4 };
                let len = len_le(take(&mut pos, width)?);
                let text = take(&mut pos, len)?;
                if n == 0 {
                    name = Some(text);
                }
                Item::Str
            }
            _ => return None,
        };
        if n == MAX_ITEMS {
            return None;
        }
        items[n] = item;
        n += 1;
    }
    if data.get(pos..) != Some(b".") {
        return None;
    }
    let items = &items[..n];
    // (name, *args, None, k1, v1, k2, v2...): the marker is the last None that leaves an even
    // tail with a str at each pair's start.
    let shaped = items.first() == Some(&Item::Str)
        && (1..n).rev().any(|marker| {
            let tail = &items[marker + 1..];
            items[marker] == Item::None
                && tail.len() % 2 == 0
                && tail.iter().step_by(2).all(|&i| i == Item::Str)
        });
    if !shaped {
        return Some(None);
    }
    let name = std::str::from_utf8(name?).ok()?;
    if name.len() > MEMO_NAME_MAX || name.chars().any(needs_escape) {
        return None;
    }
    Some(Some(name))
}

#[cfg(test)]
mod tests;
