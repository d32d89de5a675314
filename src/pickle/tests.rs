//! Tests against pickles written by the real `pickle` module (run through `python3`), plus a
//! few byte strings checked in with the Python that produced them, and hostile input.

use super::*;
use proptest::prelude::*;
use std::process::Command;

/// Runs `python3 -c script`; `None` (after saying so) when python3 is missing, unless CI is set.
pub(crate) fn python(script: &str) -> Option<String> {
    match Command::new("python3").arg("-c").arg(script).output() {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).expect("utf-8 output")),
        Ok(o) => panic!(
            "python3 failed: {}",
            String::from_utf8_lossy(&o.stderr).trim_end()
        ),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 is required in CI: {e}"
            );
            eprintln!("skipping: python3 not runnable: {e}");
            None
        }
    }
}

/// Pickles each Python expression with every protocol 0-5; returns (expr, protocol, bytes).
fn pickles(exprs: &[&str], prelude: &str) -> Option<Vec<(String, u8, Vec<u8>)>> {
    let list = exprs
        .iter()
        .map(|e| format!("({e:?}, {e})"))
        .collect::<Vec<_>>()
        .join(",\n");
    let script = format!(
        "import pickle\n{prelude}\nfor src, v in [\n{list}\n]:\n    for p in range(6):\n        print(p, pickle.dumps(v, protocol=p).hex(), src)\n"
    );
    let out = python(&script)?;
    Some(
        out.lines()
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                let p: u8 = it.next().unwrap().parse().unwrap();
                let bytes = hex::decode(it.next().unwrap()).unwrap();
                (it.next().unwrap().to_string(), p, bytes)
            })
            .collect(),
    )
}

#[test]
fn renders_builtin_values_in_every_protocol() {
    let cases: &[(&str, &str)] = &[
        ("None", "None"),
        ("True", "True"),
        ("False", "False"),
        ("0", "0"),
        ("-1", "-1"),
        ("255", "255"),
        ("65535", "65535"),
        ("-2147483648", "-2147483648"),
        ("2**62", "4611686018427387904"),
        ("-2**63", "-9223372036854775808"),
        ("2**64", "18446744073709551616"),
        (
            "-(10**40) - 7",
            "-10000000000000000000000000000000000000007",
        ),
        ("1.5", "1.5"),
        ("-0.0", "-0.0"),
        ("1e100", "1e+100"),
        ("float('inf')", "inf"),
        ("''", "''"),
        ("'héllo\\n\\'q\\''", "'héllo\\n\\'q\\''"),
        ("'\\x1b[31m\\u202e'", "'\\x1b[31m\\u202e'"),
        ("b'ab\\x00\\xff'", "b'ab\\x00\\xff'"),
        ("bytearray(b'xy')", "bytearray(b'xy')"),
        ("()", "()"),
        ("(1,)", "(1,)"),
        ("(1, 'a', None)", "(1, 'a', None)"),
        ("(1, 2, 3, 4)", "(1, 2, 3, 4)"),
        ("[1, [2, []]]", "[1, [2, []]]"),
        ("{'a': 1, 2: [3]}", "{'a': 1, 2: [3]}"),
        ("{1, 2}", "{1, 2}"),
        ("set()", "set()"),
        ("frozenset([3])", "frozenset({3})"),
        ("frozenset()", "frozenset()"),
        ("int", "builtins.int"),
        ("datetime.date(2024, 1, 2)", "<datetime.date>"),
        ("collections.OrderedDict(a=1)", "<collections.OrderedDict>"),
        ("Point(1, 2)", "<__main__.Point>"),
        ("[Point(1, 2)] * 2", "[<__main__.Point>, <__main__.Point>]"),
        ("decimal.Decimal('1.5')", "<decimal.Decimal>"),
    ];
    let prelude = "import datetime, collections, decimal\nclass Point:\n    def __init__(self, x, y): self.x, self.y = x, y";
    let exprs: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let Some(all) = pickles(&exprs, prelude) else {
        return;
    };
    assert_eq!(all.len(), cases.len() * 6);
    for (src, proto, bytes) in all {
        let want = cases.iter().find(|c| c.0 == src).unwrap().1;
        let got = render(&bytes).unwrap_or_else(|e| panic!("{src} protocol {proto}: {e}"));
        assert_eq!(got, want, "{src} protocol {proto}");
    }
}

#[test]
fn shared_references_and_recursion_render_bounded() {
    let Some(all) = pickles(
        &["shared", "rec"],
        "x = [1]\nshared = (x, x)\nrec = []\nrec.append(rec)",
    ) else {
        return;
    };
    for (src, proto, bytes) in all {
        let got = render(&bytes).unwrap();
        match src.as_str() {
            "shared" => assert_eq!(got, "([1], [1])", "protocol {proto}"),
            _ => {
                assert!(got.starts_with("[[[[") && got.ends_with(']'), "{got}");
                assert!(got.contains('…'), "depth cap reached: {got}");
            }
        }
    }
}

#[test]
fn long_values_are_abbreviated() {
    let Some(all) = pickles(
        &["'x' * 1000", "b'y' * 5000", "list(range(1000))", "2**5000"],
        "",
    ) else {
        return;
    };
    for (src, proto, bytes) in all {
        let got = render(&bytes).unwrap();
        assert!(
            got.chars().count() <= Limits::default().max_output + 1,
            "{src}: {got}"
        );
        match src.as_str() {
            "'x' * 1000" => assert!(got.ends_with("…' (1000 chars)"), "{proto}: {got}"),
            "b'y' * 5000" => assert!(got.ends_with("…' (5000 bytes)"), "{proto}: {got}"),
            "list(range(1000))" => assert!(
                got.starts_with("[0, 1, 2,") && got.ends_with("63, …]"),
                "{got}"
            ),
            _ => assert!(
                got == "<int of 626 bytes>" || got.starts_with("1412"),
                "{proto}: {got}"
            ),
        }
    }
}

/// Checked-in pickles, each produced by the Python shown (CPython 3.11).
#[test]
fn checked_in_fixtures() {
    // pickle.dumps(('mod.f', 1, None, 'k', b'v'), protocol=5)
    let p5 = hex::decode("8005951700000000000000288c056d6f642e66944b014e8c016b944301769474942e")
        .unwrap();
    assert_eq!(render(&p5).unwrap(), "('mod.f', 1, None, 'k', b'v')");
    let k = memo_key(&p5).unwrap();
    assert_eq!(k.name, "mod.f");
    assert_eq!(k.args, "(1, k=b'v')");
    // pickle.dumps({'a': [1.5]}, protocol=0)
    let p0 = b"(dp0\nVa\np1\n(lp2\nF1.5\nas.";
    assert_eq!(render(p0).unwrap(), "{'a': [1.5]}");
    assert_eq!(memo_key(p0), None);
}

#[test]
fn memo_keys_from_real_diskcache() {
    let script = r#"
import sys
try:
    from diskcache.core import args_to_key, Disk
except ImportError:
    print("SKIP"); sys.exit(0)
import datetime
d = Disk('/nonexistent', pickle_protocol=5)
def key(base, args, kwargs, typed=False):
    k, raw = d.put(args_to_key((base,), args, kwargs, typed, set()))
    assert not raw
    print(bytes(k).hex())
key('pkg.mod.f', (1, 'a'), {})
key('pkg.mod.f', (1,), {'z': 2, 'b': [3]})
key('pkg.mod.g', (), {})
key('named', (1.5,), {'k': None}, typed=True)
key('pkg.mod.h', (datetime.date(2020, 1, 1),), {})
key('pkg.mod.f', (None, 'a'), {})
"#;
    let Some(out) = python(script) else { return };
    if out.trim() == "SKIP" {
        assert!(
            std::env::var_os("CI").is_none(),
            "diskcache is required in CI"
        );
        eprintln!("skipping: diskcache not installed");
        return;
    }
    let keys: Vec<MemoKey> = out
        .lines()
        .map(|l| memo_key(&hex::decode(l).unwrap()).expect(l))
        .collect();
    let want = [
        ("pkg.mod.f", "(1, 'a')"),
        ("pkg.mod.f", "(1, b=[3], z=2)"),
        ("pkg.mod.g", "()"),
        ("named", "(1.5, k=None); typed"),
        ("pkg.mod.h", "(<datetime.date>)"),
        // ambiguous with f(a=None); the rightmost marker wins
        ("pkg.mod.f", "(None, 'a')"),
    ];
    for (k, (n, a)) in keys.iter().zip(want) {
        assert_eq!((k.name.as_str(), k.args.as_str()), (n, a));
        assert_eq!(
            memo_name(&hex::decode(out.lines().next().unwrap()).unwrap()).as_deref(),
            Some("pkg.mod.f")
        );
    }
}

#[test]
fn non_memo_keys_are_rejected() {
    let Some(all) = pickles(
        &["('a', 1)", "(1, None)", "['f', None]", "('f',)", "'f'"],
        "",
    ) else {
        return;
    };
    for (src, proto, bytes) in all {
        assert_eq!(memo_key(&bytes), None, "{src} protocol {proto}");
        assert_eq!(memo_name(&bytes), None, "{src} protocol {proto}");
    }
}

#[test]
fn truncated_and_corrupt_pickles_error() {
    let p = hex::decode("8005951700000000000000288c056d6f642e66944b014e8c016b944301769474942e")
        .unwrap();
    for n in 0..p.len() {
        assert!(render(&p[..n]).is_err(), "prefix {n} rendered");
    }
    assert_eq!(render(b""), Err(PickleError::NoStop));
    assert_eq!(
        render(b"\xff."),
        Err(PickleError::BadOpcode { op: 0xff, at: 0 })
    );
    assert_eq!(render(b"."), Err(PickleError::StackUnderflow(0)));
    assert!(matches!(
        render(b"h\x05."),
        Err(PickleError::Malformed { .. })
    ));
    // a BINUNICODE8 claiming 2^63 bytes
    assert!(matches!(
        render(b"\x8d\x00\x00\x00\x00\x00\x00\x00\x80."),
        Err(PickleError::Truncated(_))
    ));
    // millions of marks hit the stack limit, not the allocator
    assert_eq!(
        render(&vec![b'('; 200_000]),
        Err(PickleError::Limit("stack size"))
    );
    let tight = Limits {
        max_items: 10,
        ..Limits::default()
    };
    let mut many = b"(".to_vec();
    many.extend(std::iter::repeat_n(b'N', 20));
    many.extend_from_slice(b"t.");
    assert_eq!(
        render_with(&many, tight),
        Err(PickleError::Limit("item count"))
    );
    let memo = Limits {
        max_memo: 2,
        ..Limits::default()
    };
    assert_eq!(
        render_with(b"N\x94\x94\x94.", memo),
        Err(PickleError::Limit("memo size"))
    );
}

#[test]
fn output_cap_holds_for_nested_memo_references() {
    // ]0 = [] ; repeatedly wrap the memoized list in a list of 50 references to itself
    let mut p = b"\x80\x04]\x94".to_vec();
    for i in 0..20u8 {
        p.push(b'(');
        for _ in 0..50 {
            p.extend_from_slice(&[b'h', i]);
        }
        p.extend_from_slice(b"l\x94");
    }
    p.push(b'.');
    let out = render(&p).unwrap();
    assert!(out.chars().count() <= Limits::default().max_output + 1);
    assert!(out.ends_with('…'));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = render(&data);
        let _ = memo_key(&data);
        let _ = memo_name(&data);
    }

    #[test]
    fn mutated_real_pickles_never_panic(
        flips in proptest::collection::vec((0usize..60, any::<u8>()), 1..4),
        cut in 0usize..70,
    ) {
        // pickle.dumps((['a', 1.5, {2: None}], b'xy', frozenset({1}), 2**70), protocol=p)
        let base = [
            &hex::decode("8005953000000000000000285d94288c016194473ff80000000000007d944b024e73654302787994284b0191948a0900000000000000004074942e").unwrap()[..],
            b"((lp0\nVa\np1\naF1.5\na(dp2\nI2\nNsacbuiltins\nbytes\n.",
        ];
        for b in base {
            let mut v = b.to_vec();
            for &(i, x) in &flips {
                if i < v.len() { v[i] = x; }
            }
            v.truncate(cut.max(1));
            let _ = render(&v);
            let _ = memo_key(&v);
        }
    }
}

/// A string item as pickle opcodes: names, some unsafe or invalid UTF-8.
fn str_item() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        4 => "[a-z_.]{0,12}".prop_map(String::into_bytes),
        1 => Just("a\u{202e}b".as_bytes().to_vec()),
        1 => Just(b"bad\xff".to_vec()),
        1 => Just("\u{1b}[31m".as_bytes().to_vec()),
    ];
    prop_oneof![
        text.clone()
            .prop_map(|t| [vec![0x8c, t.len() as u8], t].concat()),
        text.prop_map(|t| [vec![b'X'], (t.len() as u32).to_le_bytes().to_vec(), t].concat()),
    ]
}

/// One flat key item as pickle opcodes (what `flat_memo_name` reads), with a MEMOIZE now and
/// then, and a nested tuple (which it leaves to the walker).
fn flat_item() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        3 => str_item(),
        2 => Just(b"N".to_vec()),
        1 => any::<u8>().prop_map(|b| vec![b'K', b]),
        1 => any::<u16>().prop_map(|v| [vec![b'M'], v.to_le_bytes().to_vec()].concat()),
        1 => any::<i32>().prop_map(|v| [vec![b'J'], v.to_le_bytes().to_vec()].concat()),
        1 => any::<f64>().prop_map(|v| [vec![b'G'], v.to_be_bytes().to_vec()].concat()),
        1 => proptest::collection::vec(any::<u8>(), 0..4)
            .prop_map(|b| [vec![b'C', b.len() as u8], b].concat()),
        1 => Just(vec![0x88]),
        1 => Just(b"(t".to_vec()),
    ];
    (item, prop_oneof![5 => Just(false), 1 => Just(true)]).prop_map(|(i, memo)| {
        if memo {
            [i, vec![0x94]].concat()
        } else {
            i
        }
    })
}

/// A key shaped like diskcache's `(name, *args, None, k1, v1, ...)`, or almost: the marker
/// left out, an odd tail, a name that is not a str, a MEMOIZE with nothing to memoize.
fn memo_like_key() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![5 => str_item(), 1 => flat_item()],
        proptest::collection::vec(flat_item(), 0..4),
        any::<bool>(),
        proptest::collection::vec((str_item(), flat_item()), 0..3),
        proptest::option::of(flat_item()),
        any::<bool>(),
        prop_oneof![5 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(name, args, marker, kwargs, extra, framed, memo_mark)| {
            // MEMOIZE right after MARK memoizes nothing: the walker rejects it
            let mut body = if memo_mark {
                vec![b'(', 0x94]
            } else {
                vec![b'(']
            };
            body.extend(name);
            body.extend(args.concat());
            if marker {
                body.push(b'N');
            }
            for (k, v) in kwargs {
                body.extend(k);
                body.extend(v);
            }
            body.extend(extra.unwrap_or_default());
            body.extend(b"t.");
            let mut data = vec![0x80, 5];
            if framed {
                data.push(0x95);
                data.extend((body.len() as u64).to_le_bytes());
            }
            data.extend(body);
            data
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]
    /// The flat fast path gives the walker's answer whenever it gives one, on keys shaped like
    /// diskcache's (and almost), and on those keys cut or with a byte changed.
    #[test]
    fn flat_memo_name_agrees_with_the_walker(
        mut data in memo_like_key(),
        flip in prop_oneof![3 => Just(None), 1 => (0usize..80, any::<u8>()).prop_map(Some)],
        cut in prop_oneof![3 => Just(None), 1 => (0usize..80).prop_map(Some)],
    ) {
        if let Some((at, b)) = flip {
            let at = at % data.len();
            data[at] = b;
        }
        if let Some(n) = cut {
            data.truncate(n);
        }
        if let Some(flat) = flat_memo_name(&data) {
            prop_assert_eq!(flat.map(str::to_string), walked_memo_name(&data), "{:02x?}", data);
        }
    }
}

#[test]
fn flat_memo_name_reads_diskcache_keys_and_leaves_the_rest_to_the_walker() {
    // (b'app.f', 1, None) as diskcache pickles it (protocol 5, framed, optimized)
    let key = b"\x80\x05\x95\x0e\x00\x00\x00\x00\x00\x00\x00(\x8c\x05app.fK\x01Nt.";
    assert_eq!(flat_memo_name(key), Some(Some("app.f")));
    assert_eq!(memo_name(key).as_deref(), Some("app.f"));
    // kwargs: (name, None, 'k', 2)
    let kw = b"\x80\x05(\x8c\x05app.fN\x8c\x01kK\x02t.";
    assert_eq!(flat_memo_name(kw), Some(Some("app.f")));
    // no None marker: not a memoize key
    assert_eq!(flat_memo_name(b"\x80\x05(\x8c\x05app.fK\x01t."), Some(None));
    // a nested tuple argument: the walker decides
    let nested = b"\x80\x05(\x8c\x05app.f(K\x01tNt.";
    assert_eq!(flat_memo_name(nested), None);
    assert_eq!(memo_name(nested).as_deref(), Some("app.f"));
}
