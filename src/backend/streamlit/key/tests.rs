//! Tests of the static derivation. The `real_*` tests compare against the installed Python
//! and streamlit (skipped politely when they are missing, unless CI is set).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `python3 -c CHECK` succeeds; when not, tests skip (or fail under CI).
fn python_has(check: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", check])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is missing, and CI is set: CI must install it"
        );
        eprintln!("skipped: {what} is missing");
    }
    ok
}

// Vectors computed by streamlit 1.67.0's own _make_function_key (CPython 3.11.7).
#[test]
fn streamlit_key_source_vector() {
    let source =
        "@streamlit.cache_data(persist=\"disk\")\ndef load(name):\n    return name.upper()\n";
    assert_eq!(
        function_key("helpers", "load", source),
        "0f16754fbe0e1b66e2f1ab58af506cfb"
    );
    // Module and qualname both enter the key.
    assert_ne!(
        function_key("__main__", "load", source),
        function_key("helpers", "load", source)
    );
}

#[test]
fn streamlit_key_bytecode_vector() {
    // A Cython 3.3.1 cyfunction `m.five`: getsource raises TypeError and the key falls back to
    // co_code, 16 zero bytes.
    assert_eq!(
        bytecode_function_key("m", "five", &[0u8; 16]),
        "c39529dcb8dfd3d8bbb9c3f3d40ddc9a"
    );
}

#[test]
fn streamlit_memo_names() {
    let f = "0f16754fbe0e1b66e2f1ab58af506cfb";
    let v = "b6be2d453e5c87ce14fc5a333c7127fb";
    assert_eq!(
        parse_memo_file_name(&format!("{f}-{v}.memo")),
        MemoName::Memo {
            function_key: f.into(),
            value_key: v.into()
        }
    );
    for bad in [
        format!("{f}-{v}.pickle"),
        format!("{f}{v}.memo"),
        format!("{}-{v}.memo", &f[..31]),
        format!("{f}-{v}0.memo"),
        format!("{}-{v}.memo", f.to_uppercase()),
        format!("{f}-{}.memo", "g".repeat(32)),
        "cachescope-ledger.db".to_string(),
        ".memo".to_string(),
    ] {
        assert!(
            matches!(parse_memo_file_name(&bad), MemoName::Unexpected { .. }),
            "{bad} was accepted"
        );
    }
}

#[test]
fn streamlit_scan_decorators_and_qualnames() {
    let src = b"import streamlit as st\nfrom streamlit import cache_resource as cr\nimport cachescope_cache.streamlit as cst\nfrom cachescope_cache import streamlit as cs2\nimport functools\n\n@functools.cache\ndef a(): pass\n\n@st.cache_data\ndef b(): pass\n\nclass K:\n    @cr\n    def m(self): pass\n    def f(self):\n        @cst.cache_data(persist='disk')\n        async def g(): pass\n        class L:\n            @cs2.cache_resource\n            def h(): pass\n\n@st.cache_data  # not for a class\nclass C: pass\n@st.session_state\ndef d(): pass\n";
    let scan = scan_source(src).unwrap();
    let got: Vec<(&str, &str, CacheKind, bool)> = scan
        .functions
        .iter()
        .map(|f| {
            (
                f.qualname.as_str(),
                f.decorator.as_str(),
                f.kind,
                f.is_async,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("b", "streamlit.cache_data", CacheKind::Data, false),
            (
                "K.m",
                "streamlit.cache_resource",
                CacheKind::Resource,
                false
            ),
            (
                "K.f.<locals>.g",
                "cachescope_cache.streamlit.cache_data",
                CacheKind::Data,
                true
            ),
            (
                "K.f.<locals>.L.h",
                "cachescope_cache.streamlit.cache_resource",
                CacheKind::Resource,
                false
            ),
        ]
    );
    assert_eq!(scan.functions[1].span, (14, 15));
    assert!(scan.functions[2].decorator_called);
    assert_eq!(scan.imports.len(), 5);
}

#[test]
fn streamlit_linecache_lines_universal_newlines() {
    let lines = source::linecache_lines(b"a\r\nb\rc\nd").unwrap();
    assert_eq!(lines, vec!["a\n", "b\n", "c\n", "d\n"]);
    let lines = source::linecache_lines(b"\xef\xbb\xbfx = 1\n").unwrap();
    assert_eq!(lines, vec!["x = 1\n"]);
    let lines = source::linecache_lines(b"# -*- coding: latin-1 -*-\ns = '\xe9'\n").unwrap();
    assert_eq!(lines[1], "s = '\u{e9}'\n");
    assert!(source::linecache_lines(b"# coding: cp1252\n").is_err());
}

/// Tricky blocks: getblock's result for each decorated function must equal CPython's.
const GETBLOCK_CORPUS: &str = r#"import streamlit as st

@st.cache_data
def one_liner(x): return x

@st.cache_data
def trailing_comments():
    x = 1
    # same indent: included
        # deeper: included

  # shallower than the body: not included
# column 0: not included

@st.cache_data(
    ttl=timedelta(hours=1),   # comment in the decorator
)
@other(
)
def stacked(a,
            b):
    s = '''
x
'''
    t = "a" \
        "b"
    return f"{a!r:>{b}}" + s + t
z = 1

class C:
    @st.cache_data
    def m(self):
        if True:
            pass
        else:
            pass
    # class-level comment at the method's def column

    @st.cache_data
    def last(self):
        return [
    1,
        ]


@st.cache_resource
async def at_eof():
    await x
    # last line comment"#;

#[test]
fn streamlit_getblock_matches_cpython() {
    if !python_has("import inspect", "python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("lf.py".into(), GETBLOCK_CORPUS.as_bytes().to_vec()),
        (
            "crlf.py".into(),
            GETBLOCK_CORPUS.replace('\n', "\r\n").into_bytes(),
        ),
        (
            "tabs.py".into(),
            GETBLOCK_CORPUS.replace("    ", "\t").into_bytes(),
        ),
    ];
    cases.push((
        "nl_at_eof.py".into(),
        format!("{GETBLOCK_CORPUS}\n\n").into_bytes(),
    ));
    for (name, bytes) in cases {
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).unwrap();
        let scan = scan_source(&bytes).unwrap();
        assert_eq!(scan.functions.len(), 6, "{name}");
        let starts: Vec<String> = scan
            .functions
            .iter()
            .map(|f| f.span.0.to_string())
            .collect();
        // CPython: linecache lines, then inspect.getblock from each first decorator line.
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import inspect, json, linecache, sys\n\
                 lines = linecache.getlines(sys.argv[1])\n\
                 print(json.dumps([''.join(inspect.getblock(lines[int(s) - 1:])) \
                 for s in sys.argv[2:]]))",
            )
            .arg(&path)
            .args(&starts)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<String> = scan.functions.iter().map(|f| f.source.clone()).collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[derive(serde::Deserialize)]
struct RealKey {
    module: String,
    qualname: String,
    function_key: String,
    firstlineno: Option<usize>,
}

#[derive(serde::Deserialize)]
struct RealRun {
    streamlit: String,
    keys: Vec<RealKey>,
    memo_files: Vec<String>,
    exceptions: Vec<String>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn real_run(app: &Path, home: &Path) -> RealRun {
    let out = Command::new("python3")
        .arg(crate_root().join("tests/python/streamlit/keys.py"))
        .arg(app)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: RealRun = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        run.exceptions.is_empty(),
        "the app raised: {:?}",
        run.exceptions
    );
    run
}

#[test]
fn streamlit_real_keys_match_static_derivation() {
    if !python_has("import streamlit.testing.v1", "streamlit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    let home = tmp.path().join("home");
    copy_dir(&crate_root().join("tests/fixtures/streamlit_app"), &app);
    let crlf = std::fs::read(app.join("crlf_mod.py")).unwrap();
    assert!(
        crlf.windows(2).any(|w| w == b"\r\n"),
        "crlf_mod.py lost its CRLF"
    );

    let run = real_run(&app, &home);
    let derived = derive_app_keys(&app.join("app.py"));
    assert!(derived.errors.is_empty(), "{:?}", derived.errors);

    // Every function streamlit keyed is derived statically, with the same key and first line;
    // lambdas passed to st.cache_data(...) are the one documented exception.
    let mut checked = 0;
    for real in run.keys.iter().filter(|k| k.qualname != "<lambda>") {
        let d = derived
            .keys
            .iter()
            .find(|d| d.module == real.module && d.function.qualname == real.qualname)
            .unwrap_or_else(|| panic!("{}:{} not derived", real.module, real.qualname));
        assert_eq!(
            d.function_key, real.function_key,
            "{}:{} (streamlit {})\n{}",
            real.module, real.qualname, run.streamlit, d.function.source
        );
        assert_eq!(Some(d.function.span.0), real.firstlineno);
        checked += 1;
    }
    assert_eq!(
        checked,
        derived.keys.len(),
        "derived keys streamlit never made"
    );
    assert!(checked >= 14, "only {checked} functions");

    // Every .memo file real streamlit wrote parses, and its function key is a derived one.
    assert!(run.memo_files.len() >= 8, "{:?}", run.memo_files);
    for name in &run.memo_files {
        match parse_memo_file_name(name) {
            MemoName::Memo { function_key, .. } => assert!(
                derived.keys.iter().any(|d| d.function_key == function_key),
                "{name}: no derived function has this key"
            ),
            MemoName::Unexpected { reason } => panic!("{reason}"),
        }
    }
    let modules: std::collections::BTreeSet<&str> =
        derived.files.iter().map(|f| f.module.as_str()).collect();
    assert_eq!(
        modules.into_iter().collect::<Vec<_>>(),
        vec!["__main__", "crlf_mod", "helpers", "pkg", "pkg.sub", "pkg.util"]
    );
}

#[test]
fn streamlit_real_edit_and_move() {
    if !python_has("import streamlit.testing.v1", "streamlit") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    let home = tmp.path().join("home");
    copy_dir(&crate_root().join("tests/fixtures/streamlit_app"), &app);
    let helpers = app.join("helpers.py");
    let key_of = |app: &Path| {
        derive_app_keys(&app.join("app.py"))
            .keys
            .into_iter()
            .find(|d| d.module == "helpers")
            .unwrap()
            .function_key
    };
    let before = key_of(&app);
    real_run(&app, &home);

    // Moving the function (lines inserted above) keeps its key, statically and for real.
    let text = std::fs::read_to_string(&helpers).unwrap();
    std::fs::write(&helpers, format!("# moved\n\n\n{text}")).unwrap();
    assert_eq!(key_of(&app), before);
    let moved = real_run(&app, &home);
    let real = moved.keys.iter().find(|k| k.module == "helpers").unwrap();
    assert_eq!(real.function_key, before);

    // Editing it makes a new key; the old .memo files stay behind.
    std::fs::write(&helpers, text.replace("upper()", "upper() + ''")).unwrap();
    let after = key_of(&app);
    assert_ne!(after, before);
    let edited = real_run(&app, &home);
    let real = edited.keys.iter().find(|k| k.module == "helpers").unwrap();
    assert_eq!(real.function_key, after);
    let with_prefix = |key: &str| {
        edited
            .memo_files
            .iter()
            .filter(|n| n.starts_with(&format!("{key}-")))
            .count()
    };
    assert_eq!(with_prefix(&before), 2, "{:?}", edited.memo_files);
    // Only the entry script's call recomputes: the page's page_func("p") is served from its
    // own persisted value and never calls the edited function.
    assert_eq!(with_prefix(&after), 1, "{:?}", edited.memo_files);
}
