//! Snapshots of the TUI on caches written by the real libraries (joblib.Memory, diskcache),
//! through `tests/python/caches/make_*.py`. Without python3 and the library a test says so and
//! passes, except under CI, where it fails.
//!
//! What changes per run is kept out of the snapshots: the caches are written to a fixed path
//! under /tmp (ids of walked caches derive from it, and the detail shows it), the header's path is a fixed label, ages are minutes
//! since the fixture was written (`0m`), and sizes, which for joblib include `metadata.json`'s
//! time and duration, are masked (`~`, same width).

mod common;

use cachescope::tui::{ui, Session, TuiOptions};
use common::python::{have, manifest};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);

/// Writes `scenario` with `script` into a fixed directory per test (`tag`, emptied first) and returns it with
/// the manifest.
fn fixture(script: &str, scenario: &str, module: &str, tag: &str) -> Option<(PathBuf, Value)> {
    if !have(&[module]) {
        return None;
    }
    let dir = Path::new("/tmp/cachescope-tui-foreign").join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let m = manifest(script, &[dir.to_str().unwrap(), "--scenario", scenario]);
    Some((dir, m))
}

fn start(path: &Path, roots: &[&Path], label: &str, size: (u16, u16)) -> Session {
    let options = TuiOptions {
        color: false,
        source_roots: roots.iter().map(|r| r.to_path_buf()).collect(),
        ..TuiOptions::default()
    };
    let mut s = Session::start(path, &options, size);
    s.app.store_label = label.into();
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

fn type_text(s: &mut Session, text: &str) {
    for c in text.chars() {
        keys(s, &[KeyCode::Char(c)]);
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

/// Masks every size (`94 B`, `1.50 KiB`): the number and the spaces before it become spaces,
/// the unit `~`, so the line keeps its width.
fn mask_sizes(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut res: Vec<char> = chars.clone();
        let mut i = 0;
        while i < chars.len() {
            let unit = ["KiB", "MiB", "B"].iter().find(|u| {
                let u: Vec<char> = u.chars().collect();
                chars[i..].starts_with(&u)
                    && chars.get(i + u.len()).is_none_or(|c| !c.is_alphanumeric())
            });
            let preceded = i >= 2 && chars[i - 1] == ' ' && chars[i - 2].is_ascii_digit();
            if let (Some(u), true) = (unit, preceded) {
                let mut start = i - 1;
                while start > 0 && (chars[start - 1].is_ascii_digit() || chars[start - 1] == '.') {
                    start -= 1;
                }
                let end = i + u.len();
                for c in &mut res[start..end] {
                    *c = ' ';
                }
                res[end - 1] = '~';
                i = end;
            } else {
                i += 1;
            }
        }
        out.extend(res);
        out.push('\n');
    }
    out
}

#[test]
fn joblib_groups_by_strategy_80x24() {
    let Some((dir, m)) = fixture("make_joblib.py", "module", "joblib", "joblib-list") else {
        return;
    };
    let src = PathBuf::from(m["source_root"].as_str().unwrap());
    let s = start(&dir.join("cache"), &[&src], "module/cache", (80, 24));
    let text = screen(&s);
    assert!(text.contains("module/cache (joblib)"), "{text}");
    assert!(text.contains("8 entries"), "{text}");
    insta::assert_snapshot!("joblib_strategy_80x24", mask_sizes(&text));
}

#[test]
fn joblib_detail_of_a_changed_call_shows_the_diff() {
    let Some((dir, m)) = fixture("make_joblib.py", "module", "joblib", "joblib-detail") else {
        return;
    };
    let src = PathBuf::from(m["source_root"].as_str().unwrap());
    let calc = src.join("pkgj/calc.py");
    let text = std::fs::read_to_string(&calc).unwrap();
    std::fs::write(
        &calc,
        text.replace("    return x * x\n", "    return x * x + 0\n"),
    )
    .unwrap();
    let mut s = start(&dir.join("cache"), &[&src], "module/cache", (80, 40));
    keys(&mut s, &[KeyCode::Tab, KeyCode::Char('/')]);
    type_text(&mut s, "square");
    keys(&mut s, &[KeyCode::Enter, KeyCode::Enter]);
    let text = screen(&s);
    assert!(text.contains("pkgj.calc:square"), "{text}");
    assert!(text.contains("changed"), "{text}");
    assert!(text.contains("@@ -1,3 +1,3 @@"), "{text}");
    assert!(text.contains("+    return x * x + 0"), "{text}");
    insta::assert_snapshot!("joblib_detail_changed_80x40", mask_sizes(&text));
}

#[test]
fn diskcache_fanout_groups_by_strategy_80x24() {
    // FanoutCache: memoized functions and a set() key over 4 shards, shown as one cache (the
    // memo scenario is not used here: whether its expire=0.001 key is still there depends on
    // timing)
    let Some((dir, _m)) = fixture(
        "make_diskcache.py",
        "fanout",
        "diskcache",
        "diskcache-fanout",
    ) else {
        return;
    };
    let s = start(&dir.join("fanout"), &[], "fanout", (80, 24));
    let text = screen(&s);
    assert!(text.contains("fanout (diskcache)"), "{text}");
    assert!(text.contains("28 entries"), "{text}");
    insta::assert_snapshot!("fanout_strategy_80x24", mask_sizes(&text));
}
