//! Snapshots of every TUI screen, drawn on a ratatui `TestBackend` from a real session: the
//! real worker on a demo store, waited for deterministically (`Session::settle` returns when the
//! worker has answered everything asked so far and nothing runs).
//!
//! Nothing in a snapshot changes per run: the header's store path is set to a fixed label (the
//! demo lives in a temp dir), ages are relative to the demo's own "now minus N hours" times,
//! and no absolute date is drawn.

use cachescope::store::{NewEntry, Store};
use cachescope::tui::{ui, Session, TuiOptions};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = cachescope::demo::write_demo(dir.path()).unwrap();
    (dir, path)
}

fn options() -> TuiOptions {
    TuiOptions {
        color: false,
        ..TuiOptions::default()
    }
}

fn start(path: &Path, options: &TuiOptions, size: (u16, u16)) -> Session {
    let mut s = Session::start(path, options, size);
    s.app.store_label = "demo/cache.db".into();
    settle(&mut s);
    s
}

fn settle(s: &mut Session) {
    assert!(s.settle(SETTLE), "the worker did not settle");
}

fn keys(s: &mut Session, codes: &[KeyCode]) {
    for c in codes {
        s.key(*c);
        settle(s);
    }
}

fn screen(s: &Session) -> String {
    let (w, h) = (s.app.width, s.app.height);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, &s.app)).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn groups_and_entries_by_strategy() {
    let (_dir, path) = demo();
    let s = start(&path, &options(), (80, 24));
    insta::assert_snapshot!("strategy_80x24", screen(&s));
}

#[test]
fn wide_terminal_shows_more_columns() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (160, 30));
    keys(&mut s, &[KeyCode::Down, KeyCode::Down, KeyCode::Tab]);
    insta::assert_snapshot!("strategy_bytecode_160x30", screen(&s));
}

#[test]
fn each_grouping() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 24));
    for name in ["status", "function", "source_file", "derivation_error"] {
        keys(&mut s, &[KeyCode::Char('t')]);
        if name == "derivation_error" {
            // The Cython TypeError group (groups by size: after "(no error)"), listed.
            keys(&mut s, &[KeyCode::Down, KeyCode::Down]);
        }
        insta::assert_snapshot!(format!("grouping_{name}"), screen(&s));
    }
}

#[test]
fn detail_of_a_bytecode_cython_entry() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 50));
    // bytecode group; entries sorted by function: app.loaders:<lambda>, then fastmath:dot.
    keys(
        &mut s,
        &[
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::Tab,
            KeyCode::Down,
            KeyCode::Enter,
        ],
    );
    let text = screen(&s);
    assert!(text.contains("cython_function_or_method"), "{text}");
    assert!(text.contains("derived from bytecode"), "{text}");
    insta::assert_snapshot!("detail_cython_80x50", text);
}

#[test]
fn detail_of_a_changed_span_shows_the_whole_diff() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 50));
    // featurize's body was edited after its span (lines 4-8) was fingerprinted with a content
    // snapshot: the detail diffs the snapshot against those lines now.
    keys(&mut s, &[KeyCode::Tab, KeyCode::Char('/')]);
    for c in "featurize".chars() {
        keys(&mut s, &[KeyCode::Char(c)]);
    }
    keys(&mut s, &[KeyCode::Enter, KeyCode::Enter]);
    let text = screen(&s);
    assert!(text.contains("app.features:featurize"), "{text}");
    // The hunk header and the hunk's first line (context here) are shown, not skipped.
    assert!(text.contains("│    @@ -2,4 +2,4 @@"), "{text}");
    assert!(text.contains("│         by_user = {}"), "{text}");
    assert!(
        text.contains("│    -    return {u[\"id\"]: math.fsum("),
        "{text}"
    );
    assert!(
        text.contains("│    +    return {u[\"id\"]: round(math.fsum("),
        "{text}"
    );
    insta::assert_snapshot!("detail_changed_span_80x50", text);
}

#[test]
fn confirmation_dialog_states_count_and_bytes() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 24));
    keys(&mut s, &[KeyCode::Char('D')]);
    insta::assert_snapshot!("confirm_stale_all", screen(&s));
    keys(&mut s, &[KeyCode::Char('n')]);
    insta::assert_snapshot!("confirm_cancelled", screen(&s));
}

#[test]
fn help() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 24));
    keys(&mut s, &[KeyCode::Char('?')]);
    insta::assert_snapshot!("help", screen(&s));
}

#[test]
fn filter() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (80, 24));
    keys(&mut s, &[KeyCode::Char('/')]);
    for c in "fetch".chars() {
        keys(&mut s, &[KeyCode::Char(c)]);
    }
    insta::assert_snapshot!("filter_typing", screen(&s));
    keys(
        &mut s,
        &[KeyCode::Enter, KeyCode::Char(' '), KeyCode::Char(' ')],
    );
    insta::assert_snapshot!("filter_kept_two_marked", screen(&s));
}

#[test]
fn empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    drop(Store::create(&path).unwrap());
    let s = start(&path, &options(), (80, 24));
    insta::assert_snapshot!("empty_store", screen(&s));
}

#[test]
fn read_only_explains_why_nothing_happens() {
    let (_dir, path) = demo();
    let opts = TuiOptions {
        read_only: true,
        ..options()
    };
    let mut s = start(&path, &opts, (80, 24));
    keys(&mut s, &[KeyCode::Char('D')]);
    insta::assert_snapshot!("read_only", screen(&s));
}

#[test]
fn terminal_too_small() {
    let (_dir, path) = demo();
    let mut s = start(&path, &options(), (60, 20));
    insta::assert_snapshot!("too_small", screen(&s));
    s.key(KeyCode::Char('q'));
    assert!(s.app.quit);
}

#[test]
fn hostile_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let store = Store::create(&path).unwrap();
    store
        .write(|s| {
            s.put_entry(&NewEntry {
                namespace: "data",
                function: "evil\x1b]0;pwned\x07:f\x1b[2J",
                key: "k\x1b[31mred",
                strategy: "name",
                derivation_error: Some("OSError: \x1b[2Jcleared"),
                value: Some(b"text\x1b]0;title\x07"),
                value_type: Some("text"),
                created_at: chrono::Utc::now().timestamp_millis() - 3_600_000,
                ..Default::default()
            })
        })
        .unwrap();
    drop(store);
    let mut s = start(&path, &options(), (80, 24));
    let list = screen(&s);
    assert!(!list.contains('\x1b') && !list.contains('\x07'));
    assert!(list.contains("evil\\x1b]0;pwned\\x07"), "{list}");
    insta::assert_snapshot!("hostile_list", list);
    keys(&mut s, &[KeyCode::Tab, KeyCode::Enter]);
    let detail = screen(&s);
    assert!(!detail.contains('\x1b') && !detail.contains('\x07'));
    insta::assert_snapshot!("hostile_detail", detail);
}

/// A Streamlit cache folder with `--app`: one file whose key the app's current function gives
/// (fresh, `source`) and one an edit left behind (`changed`, its detail says why). Paths are
/// under a temp dir whose random part is replaced by a fixed one of the same length.
#[test]
fn streamlit_cache_with_app() {
    let tmp = tempfile::Builder::new()
        .prefix("cs-st-")
        .tempdir_in("/tmp")
        .unwrap();
    let app_dir = tmp.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let app = app_dir.join("app.py");
    let source = "@st.cache_data(persist=\"disk\")\ndef load(n):\n    return list(range(n))\n";
    std::fs::write(
        &app,
        format!("import streamlit as st\n\n\n{source}\n\nload(3)\n"),
    )
    .unwrap();
    let current = cachescope::backend::streamlit::key::function_key("__main__", "load", source);
    let old = cachescope::backend::streamlit::key::function_key(
        "__main__",
        "load",
        &source.replace("range(n)", "range(n + 1)"),
    );
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let value_key = "b6be2d453e5c87ce14fc5a333c7127fb";
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for (k, bytes) in [
        (&old, &b"\x80\x04K\x04."[..]),
        (&current, b"\x80\x04K\x03."),
    ] {
        let p = cache.join(format!("{k}-{value_key}.memo"));
        std::fs::write(&p, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let opts = TuiOptions {
        app: Some(app.clone()),
        read_only: true,
        ..options()
    };
    let random = tmp.path().to_string_lossy().into_owned();
    let fixed = format!(
        "/tmp/cs-st-{}",
        "X".repeat(random.len() - "/tmp/cs-st-".len())
    );
    let shown = |s: &Session| screen(s).replace(&random, &fixed);
    let mut s = Session::start(&cache, &opts, (100, 40));
    s.app.store_label = "home/.streamlit/cache".into();
    settle(&mut s);
    let list = shown(&s);
    assert!(list.contains("streamlit"), "{list}");
    insta::assert_snapshot!("streamlit_list_100x40", list);
    // Entries sort by function: the orphan (`streamlit:KEY`) is second. Its detail says what
    // may have unmatched it.
    keys(&mut s, &[KeyCode::Tab, KeyCode::Down, KeyCode::Enter]);
    let detail = shown(&s);
    assert!(detail.contains("changed"), "{detail}");
    assert!(detail.contains("Edited or removed"), "{detail}");
    insta::assert_snapshot!("streamlit_orphan_detail_100x40", detail);
}
