//! What operators and attackers found (issue 10), by class: hostile text in every output,
//! argument errors, paths that are bytes, a store reached through a symlink such as
//! /dev/stdin, a closed stdout, a store replaced or corrupted, orphaned source rows.

mod common;

use cachescope::store::NewEntry;
use common::*;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use unicode_general_category::{get_general_category, GeneralCategory};

/// Controls (Cc), format characters (Cf) and line/paragraph separators: none may reach a
/// terminal raw.
fn dangerous(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Every character of those categories, found by iterating all of Unicode.
fn all_dangerous() -> String {
    (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|&c| dangerous(c) && c != '\0')
        .collect()
}

fn assert_clean(what: &str, out: &str) {
    // Newlines are the output's own line breaks (a field's newline is escaped as `\n`).
    if let Some(c) = out.chars().find(|&c| c != '\n' && dangerous(c)) {
        panic!("{what}: U+{:04X} printed raw in {out:?}", c as u32);
    }
}

/// Inserts a whole-file source row whose path is `path` (any bytes, stored as TEXT).
fn raw_source(fx: &Fixture, path: &[u8], content: &[u8]) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(content)));
    let c = fx.sql();
    c.execute(
        "INSERT INTO sources (path, digest, recorded_at) VALUES (CAST(?1 AS TEXT), ?2, 0)",
        rusqlite::params![path, digest],
    )
    .unwrap();
    c.last_insert_rowid()
}

#[test]
fn every_control_and_format_character_is_escaped_in_every_output() {
    let fx = Fixture::new();
    let bad = all_dangerous();
    assert!(bad.chars().count() > 200);
    let changed = fx.write("changed.py", "x = 1\n");
    let sid = fx.record("changed.py", None);
    std::fs::write(&changed, "x = 2\n").unwrap();
    let function = format!("app:f{bad}");
    let key = format!("k{bad}");
    let error = format!("TypeError: {bad}");
    let id = fx.put(NewEntry {
        function: &function,
        namespace: &key,
        derivation_error: Some(&error),
        source_id: Some(sid),
        value: Some(bad.as_bytes()),
        ..entry(&key)
    });
    let s = fx.store.to_str().unwrap();
    for args in [
        vec!["list", s],
        vec!["list", s, "--csv"],
        vec!["list", s, "--json"],
        vec!["show", s, &id.to_string()],
        vec!["show", s, &id.to_string(), "--json"],
        vec!["summary", s],
        vec!["summary", s, "--json"],
        vec!["verify", s],
        vec!["verify", s, "--json"],
        vec!["purge", s, "--dry-run"],
    ] {
        let r = run(&args);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        assert_clean(&format!("{args:?} stdout"), &r.stdout);
        assert_clean(&format!("{args:?} stderr"), &r.stderr);
    }
    // The same characters in a store path that cannot be opened: one escaped line.
    let hostile = fx.dir.path().join(format!("x{}.db", &bad[..64]));
    let r = run([std::ffi::OsStr::new("summary"), hostile.as_os_str()]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{:?}", r.stderr);
    assert_clean("open error", &r.stderr);
}

#[test]
fn argument_errors_are_one_escaped_line_and_help_still_works() {
    let bad: String = all_dangerous().chars().take(300).collect();
    for args in [
        vec![
            "list".to_string(),
            "x.db".into(),
            "--older-than".into(),
            bad.clone(),
        ],
        vec!["list".to_string(), "x.db".into(), format!("--bogus{bad}")],
        vec!["show".to_string(), "x.db".into(), bad.clone()],
        vec![
            "list".to_string(),
            "x.db".into(),
            "--limit".into(),
            format!("-1{bad}"),
        ],
        vec![
            "purge".to_string(),
            "x.db".into(),
            "--busy-timeout".into(),
            "30d".into(),
        ],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{:?}", r.stderr);
        assert!(r.stderr.starts_with("cachescope: "), "{}", r.stderr);
        assert_clean("argument error", &r.stderr);
        assert!(r.stdout.is_empty());
    }
    // The value is named as typed, escaped, not with its escape sequences stripped.
    let r = run(["list", "x.db", "--older-than", "5\x1b[31md"]);
    assert!(r.stderr.contains("'5\\x1b[31md'"), "{}", r.stderr);
    let r = run(["purge", "x.db", "--busy-timeout", "30d"]);
    assert!(
        r.stderr.contains("longer than SQLite can wait"),
        "{}",
        r.stderr
    );
    for args in [vec!["--help"], vec!["--version"], vec!["list", "--help"]] {
        let r = run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(!r.stdout.is_empty());
    }
}

#[test]
fn an_older_than_beyond_the_epoch_removes_nothing() {
    let fx = Fixture::new();
    let keep = fx.put(NewEntry {
        derivation_error: Some("TypeError: x"),
        ..entry("failed")
    });
    let before = fx.store_digest();
    for d in ["300000000y", "18446744073709551615s", "213503982334d"] {
        let r = run(["purge", fx.store.to_str().unwrap(), "--older-than", d]);
        if r.code == 0 {
            assert!(
                r.stdout.starts_with("Removed 0 entries"),
                "{d}: {}",
                r.stdout
            );
        } else {
            // Refused by the duration parser: one line, exit 2.
            assert_eq!(r.code, 2, "{d}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1);
        }
    }
    assert!(fx.entry_ids().contains(&keep));
    assert_eq!(fx.store_digest(), before);
}

#[test]
fn source_paths_that_are_not_utf8_resolve_to_the_real_file() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.path("src")).unwrap();
    // Two files whose names differ only in bytes that are not UTF-8: lossily both `src/�.py`.
    let a = b"src/\xff.py".as_slice();
    let b = b"src/\xfe.py".as_slice();
    std::fs::write(fx.dir.path().join(std::ffi::OsStr::from_bytes(a)), "A").unwrap();
    std::fs::write(fx.dir.path().join(std::ffi::OsStr::from_bytes(b)), "B").unwrap();
    let sa = raw_source(&fx, a, b"A");
    let sb = raw_source(&fx, b, b"B");
    let ea = fx.put(NewEntry {
        source_id: Some(sa),
        ..entry("a")
    });
    let eb = fx.put(NewEntry {
        source_id: Some(sb),
        ..entry("b")
    });
    let statuses = statuses_by_key(&fx.store, &[]);
    assert_eq!(statuses, map_of(&[("a", "fresh"), ("b", "fresh")]));
    let r = run(["verify", fx.store.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(["purge", fx.store.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fx.entry_ids(), [ea, eb].into());
    // And a changed one is still found changed.
    std::fs::write(fx.dir.path().join(std::ffi::OsStr::from_bytes(b)), "B2").unwrap();
    let statuses = statuses_by_key(&fx.store, &[]);
    assert_eq!(statuses, map_of(&[("a", "fresh"), ("b", "changed")]));
}

#[test]
fn a_store_reached_through_a_symlink_resolves_sources_beside_the_real_file() {
    let fx = Fixture::new();
    fx.write("mod.py", "x = 1\n");
    let sid = raw_source(&fx, b"mod.py", b"x = 1\n");
    let id = fx.put(NewEntry {
        source_id: Some(sid),
        ..entry("k")
    });
    // /dev/stdin redirected from the store file.
    let with_stdin = |args: &[&str]| {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
            .args(args)
            .stdin(std::fs::File::open(&fx.store).unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        stdout
    };
    let listed: serde_json::Value =
        serde_json::from_str(&with_stdin(&["list", "/dev/stdin", "--json"])).unwrap();
    assert_eq!(listed[0]["status"], "fresh", "{listed}");
    with_stdin(&["purge", "/dev/stdin"]);
    assert!(fx.entry_ids().contains(&id));
    // A symlink from elsewhere likewise.
    let other = tempfile::tempdir().unwrap();
    let link = other.path().join("link.db");
    std::os::unix::fs::symlink(&fx.store, &link).unwrap();
    let by_key = list_by_key(&link, &[]);
    assert_eq!(by_key["k"]["status"], "fresh");
    assert!(!other.path().join("link.db-wal").exists());
}

#[test]
fn a_closed_stdout_does_not_change_the_exit_code() {
    let fx = Fixture::new();
    // Enough stale sources that the output outgrows a pipe's buffer.
    let mut c = fx.sql();
    let tx = c.transaction().unwrap();
    for i in 0..3000 {
        tx.execute(
            "INSERT INTO sources (id, path, digest, recorded_at) VALUES (?1, ?2, 'sha256:00', 0)",
            rusqlite::params![i, format!("gone/{i:05}-{}.py", "x".repeat(40))],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO entries (namespace, function, key, strategy, source_id, value_size, created_at) \
             VALUES ('d', 'm:f', ?1, 'source', ?1, 0, 0)",
            [i],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(c);
    for args in [vec!["verify"], vec!["verify", "--json"]] {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"));
        cmd.args(&args)
            .arg(&fx.store)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // The reader reads one line and goes away, as `head -1` does.
        let mut first = String::new();
        {
            use std::io::BufRead;
            let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
            reader.read_line(&mut first).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Corrupts one b-tree page of the store (not the first): the header stays valid.
fn corrupt_a_page(store: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let c = rusqlite::Connection::open(store).unwrap();
    let page: i64 = c
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'sqlite_autoindex_entries_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    c.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(c);
    let mut f = std::fs::OpenOptions::new().write(true).open(store).unwrap();
    f.seek(SeekFrom::Start(((page - 1) * size + 8) as u64))
        .unwrap();
    f.write_all(&[0xff; 64]).unwrap();
}

#[test]
fn a_corrupt_store_is_never_purged_and_the_error_says_how_to_recover() {
    let fx = Fixture::new();
    for i in 0..200 {
        fx.put(NewEntry {
            derivation_error: Some("TypeError: x"),
            ..entry(&format!("k{i}"))
        });
    }
    corrupt_a_page(&fx.store);
    let before = fx.snapshot();
    for args in [
        vec!["purge"],
        vec!["purge", "--dry-run"],
        vec!["purge", "--json"],
    ] {
        let mut a = args.clone();
        a.push(fx.store.to_str().unwrap());
        let r = run(&a);
        r.assert_refused(&fx.store, "integrity check failed");
        assert!(
            r.stderr.contains(".recover | sqlite3 fixed.db"),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert_eq!(fx.snapshot(), before, "{args:?} changed the directory");
    }
}

#[test]
fn every_purge_removes_source_rows_nothing_references() {
    let fx = Fixture::new();
    fx.write("a.py", "a");
    fx.write("b.py", "b");
    let sa = fx.record("a.py", None);
    let sb = fx.record("b.py", None);
    let kept = fx.put(NewEntry {
        source_id: Some(sa),
        ..entry("a")
    });
    // As a purge killed after its last entry batch leaves it: b's entry gone, its row not.
    fx.put(NewEntry {
        source_id: Some(sb),
        ..entry("b")
    });
    let c = fx.sql();
    c.execute("DELETE FROM entries WHERE source_id = ?1", [sb])
        .unwrap();
    c.execute("UPDATE sources SET recorded_at = 0", []).unwrap();
    drop(c);
    let r = run(["purge", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], 0);
    assert_eq!(r.json()["sources_removed"], 1);
    assert_eq!(fx.source_ids(), [sa].into());
    assert_eq!(fx.entry_ids(), [kept].into());
}
