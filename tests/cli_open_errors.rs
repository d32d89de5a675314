//! Issue 2, part 1: files that are not a store of a format this build reads are refused by every
//! command with exit 2 and one stderr line naming the file and the problem; nothing on disk
//! changes and no file appears.

mod common;

use common::*;
use rusqlite::Connection;
use std::path::Path;

const COMMANDS: [&str; 4] = ["summary", "verify", "list", "purge"];

/// Whether `path` is a SQLite file in WAL mode (header bytes 18 and 19 are 2).
fn is_wal_mode(path: &Path) -> bool {
    // Only regular files are read: reading a FIFO would block.
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::read(path).is_ok_and(|b| b.len() > 19 && b[18] == 2 && b[19] == 2)
}

/// Runs every store command on `target` and checks each refuses it, leaving `dir` exactly as
/// it was: no `-wal`/`-shm` file appears either, WAL-mode files included.
fn assert_every_command_refuses(dir: &Path, target: &Path, problem: &str) {
    let snapshot = || dir_snapshot(dir);
    for cmd in COMMANDS {
        let before = snapshot();
        let r = run([cmd, target.to_str().unwrap()]);
        assert!(
            r.stdout.is_empty(),
            "{cmd}: nothing on stdout, got {:?}",
            r.stdout
        );
        assert_eq!(r.code, 2, "{cmd}: exit code; stderr: {}", r.stderr);
        assert_one_line_naming(&r.stderr, target, problem);
        assert_eq!(snapshot(), before, "{cmd} changed the directory");
    }
}

#[test]
fn refusing_a_wal_mode_store_leaves_no_wal_or_shm_files_behind() {
    let fx = Fixture::new();
    fx.sql().execute_batch("PRAGMA user_version = 2;").unwrap();
    assert!(is_wal_mode(&fx.store));
    let before = fx.snapshot();
    assert_eq!(before.keys().collect::<Vec<_>>(), ["cache.db"]);
    for cmd in COMMANDS {
        run([cmd, fx.store.to_str().unwrap()]).assert_refused(&fx.store, "newer");
        assert_eq!(
            fx.snapshot(),
            before,
            "{cmd} left files next to the refused store"
        );
    }
}

/// A SQLite file with the given header pragmas and DDL.
fn sqlite_file(path: &Path, pragmas: &str, ddl: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(pragmas).unwrap();
    c.execute_batch(ddl).unwrap();
}

/// The store's own DDL with its pragmas left out, so a test can set them differently.
fn format1_tables() -> String {
    cachescope::store::SCHEMA_SQL
        .lines()
        .filter(|l| !l.trim_start().starts_with("PRAGMA"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_missing_path_is_refused_and_no_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nope.db");
    assert_every_command_refuses(dir.path(), &target, "no such file");
    assert!(!target.exists());
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("stores");
    std::fs::create_dir(&target).unwrap();
    assert_every_command_refuses(dir.path(), &target, "is a directory");
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("empty.db");
    std::fs::write(&target, b"").unwrap();
    assert_every_command_refuses(dir.path(), &target, "empty file");
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 0);
}

#[test]
fn a_text_file_is_refused_as_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("notes.txt");
    std::fs::write(&target, "these are my notes, not a database\n".repeat(50)).unwrap();
    assert_every_command_refuses(dir.path(), &target, "not a SQLite database");
}

#[test]
fn a_sqlite_file_of_another_application_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("other.db");
    // Even with tables that look right: the application id says whose file it is.
    sqlite_file(
        &target,
        "PRAGMA application_id = 305419896;",
        &format1_tables(),
    );
    assert_every_command_refuses(
        dir.path(),
        &target,
        "another application (application_id 0x12345678)",
    );
}

#[test]
fn a_store_with_a_newer_user_version_is_refused() {
    let fx = Fixture::new();
    fx.sql().execute_batch("PRAGMA user_version = 2;").unwrap();
    assert_every_command_refuses(fx.dir.path(), &fx.store, "store format 2 is newer");
}

#[test]
fn a_store_whose_meta_says_format_version_2_is_refused() {
    let fx = Fixture::new();
    fx.sql()
        .execute(
            "UPDATE meta SET value = '2' WHERE key = 'format_version'",
            [],
        )
        .unwrap();
    assert_every_command_refuses(fx.dir.path(), &fx.store, "store format 2 is newer");
}

#[test]
fn a_sqlite_file_without_the_store_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("bare.db");
    sqlite_file(
        &target,
        "PRAGMA application_id = 1129530192; PRAGMA user_version = 1;",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    );
    assert_every_command_refuses(dir.path(), &target, "table `sources` is missing");
}

#[test]
fn a_store_missing_a_column_is_refused() {
    let fx = Fixture::new();
    fx.sql()
        .execute_batch("ALTER TABLE entries DROP COLUMN hits;")
        .unwrap();
    assert_every_command_refuses(
        fx.dir.path(),
        &fx.store,
        "table `entries` has no column `hits`",
    );
}

/// A store big enough to span many pages, closed so its WAL is checkpointed.
fn populated_store() -> Fixture {
    let fx = Fixture::new();
    fx.write("app/m.py", "def f():\n    return 1\n");
    let sid = fx.record("app/m.py", None);
    let keys: Vec<String> = (0..300).map(|i| format!("key-{i}")).collect();
    let value = vec![b'v'; 900];
    fx.with_store(|s| {
        s.write(|s| {
            for k in &keys {
                s.put_entry(&cachescope::store::NewEntry {
                    source_id: Some(sid),
                    value: Some(&value),
                    ..entry(k)
                })?;
            }
            Ok(())
        })
        .unwrap()
    });
    fx
}

#[test]
fn a_store_with_garbage_in_its_middle_pages_is_refused_as_corrupt() {
    let fx = populated_store();
    let mut bytes = std::fs::read(&fx.store).unwrap();
    let page = 4096;
    assert!(
        bytes.len() > 20 * page,
        "store too small to corrupt: {}",
        bytes.len()
    );
    let end = bytes.len() - 2 * page;
    for b in &mut bytes[2 * page..end] {
        *b = 0xA5;
    }
    std::fs::write(&fx.store, &bytes).unwrap();
    assert_every_command_refuses(fx.dir.path(), &fx.store, "corrupt");
}

#[test]
fn a_truncated_store_is_refused_as_corrupt() {
    let fx = populated_store();
    let len = std::fs::metadata(&fx.store).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&fx.store)
        .unwrap();
    f.set_len(len / 2 + 100).unwrap();
    drop(f);
    assert_every_command_refuses(fx.dir.path(), &fx.store, "corrupt");
}

#[test]
fn a_fifo_given_as_the_store_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cache.db");
    mkfifo(&target);
    // `cachescope()` has a timeout: a blocking open would fail the test rather than hang it.
    assert_every_command_refuses(dir.path(), &target, "not a regular file");
}

#[test]
fn a_store_without_application_id_but_with_matching_tables_opens_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("legacy.db");
    sqlite_file(
        &target,
        "PRAGMA user_version = 1;",
        &format!(
            "{}\nINSERT INTO entries (namespace, function, key, strategy, value_size, created_at) \
             VALUES ('data', 'app:f', 'k1', 'name', 3, 0);",
            format1_tables()
        ),
    );
    let before = file_sha256(&target);
    let r = run(["summary", target.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["entries"], 1);
    assert_one_line_naming(&r.stderr, &target, "warning: ");
    assert!(
        r.stderr.contains("application_id is not set"),
        "{}",
        r.stderr
    );
    assert_eq!(file_sha256(&target), before);
}

#[test]
fn a_refused_purge_leaves_the_other_applications_rows_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("other.db");
    sqlite_file(
        &target,
        "PRAGMA application_id = 305419896;",
        &format!(
            "{}\nINSERT INTO entries (namespace, function, key, strategy, derivation_error, value_size, created_at) \
             VALUES ('data', 'app:f', 'k1', 'name', 'OSError: x', 3, 0);",
            format1_tables()
        ),
    );
    let r = run(["purge", target.to_str().unwrap()]);
    r.assert_refused(&target, "another application");
    let c = Connection::open(&target).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn rows_with_text_in_integer_columns_degrade_alone_and_the_store_stays_usable() {
    let fx = Fixture::new();
    fx.write("m.py", "x = 1\ny = 2\n");
    let good = fx.record("m.py", None);
    let spanned = fx.record("m.py", Some((1, 1)));
    let ok = fx.put(cachescope::store::NewEntry {
        source_id: Some(good),
        ..entry("ok")
    });
    let bad_span = fx.put(cachescope::store::NewEntry {
        source_id: Some(spanned),
        ..entry("bad-span")
    });
    let bad_size = fx.put(cachescope::store::NewEntry {
        source_id: Some(good),
        ..entry("bad-size")
    });
    // SQLite lets any column hold any type; INTEGER affinity keeps non-numeric text as text.
    // A foreign producer's DDL need not have our CHECK constraints.
    let sql = fx.sql();
    sql.execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    sql.execute("UPDATE sources SET size = 'big', span_start = CASE WHEN span_start IS NULL THEN NULL ELSE 'one' END", [])
        .unwrap();
    sql.execute(
        "UPDATE entries SET value_size = 'lots', hits = 'many' WHERE id = ?1",
        [bad_size],
    )
    .unwrap();
    drop(sql);
    let store = fx.store.to_str().unwrap();
    for cmd in ["summary", "verify", "list"] {
        let r = run([cmd, store]);
        assert!(
            r.code == 0 || (cmd == "verify" && r.code == 1),
            "{cmd}: {}",
            r.stderr
        );
    }
    let statuses = statuses_by_key(&fx.store, &[]);
    assert_eq!(statuses["ok"], "fresh");
    assert_eq!(
        statuses["bad-size"], "fresh",
        "a bad size alone does not change the status"
    );
    assert_eq!(
        statuses["bad-span"], "unreadable",
        "a span that is not a number is invalid"
    );
    let shown = run(["show", store, &bad_size.to_string(), "--json"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.json()["value_size"], 0);
    assert_eq!(run(["show", store, &ok.to_string()]).code, 0);
    assert_eq!(run(["show", store, &bad_span.to_string()]).code, 0);
}

#[test]
fn a_store_locked_exclusively_is_reported_busy_after_the_timeout_instead_of_hanging() {
    let fx = Fixture::new();
    fx.put(entry("k"));
    let holder = fx.sql();
    holder
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = std::time::Instant::now();
    for cmd in ["summary", "list"] {
        let r = run([cmd, fx.store.to_str().unwrap(), "--busy-timeout", "200ms"]);
        r.assert_refused(&fx.store, "busy");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    let r = run(["summary", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["entries"], 1);
}

#[test]
fn a_meta_format_version_that_is_not_a_number_is_refused() {
    let fx = Fixture::new();
    fx.sql()
        .execute(
            "UPDATE meta SET value = 'one' WHERE key = 'format_version'",
            [],
        )
        .unwrap();
    assert_every_command_refuses(
        fx.dir.path(),
        &fx.store,
        "format_version \"one\" is not a number",
    );
}

#[test]
fn a_store_with_an_older_user_version_opens_with_a_warning() {
    let fx = Fixture::new();
    fx.put(entry("k"));
    fx.sql().execute_batch("PRAGMA user_version = 0;").unwrap();
    let r = run(["list", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_one_line_naming(&r.stderr, &fx.store, "user_version is 0, expected 1");
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}
