//! Issue 2, part 2: every status occurs and `verify --json` and `list --json` report it right;
//! relative paths, `--remap` and verify's exit code.

mod common;

use cachescope::store::{NewEntry, NewSource};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// verify --json's sources, by recorded path (one source per path in these fixtures).
fn verify_sources_by_path(v: &Value) -> BTreeMap<String, Value> {
    v["sources"]
        .as_array()
        .expect("sources array")
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

#[test]
fn list_json_reports_every_status_for_the_right_entries() {
    let m = Mixed::new();
    let statuses = statuses_by_key(m.store(), &[]);
    assert_eq!(
        statuses,
        map_of(&[
            ("fresh", "fresh"),
            ("moved", "moved"),
            ("changed", "changed"),
            ("missing", "missing"),
            ("failed", "failed"),
            ("unverifiable", "unverifiable"),
            ("unreadable", "unreadable"),
            ("expired_fresh", "fresh"),
            ("dep_changed", "changed"),
            ("custom_changed", "changed"),
            ("old_changed", "changed"),
        ])
    );
}

#[test]
fn the_expired_flag_is_independent_of_the_status() {
    let m = Mixed::new();
    let entries = list_by_key(m.store(), &[]);
    let expired: Vec<&str> = entries
        .iter()
        .filter(|(_, e)| e["expired"] == json!(true))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(expired, ["expired_fresh"]);
    assert_eq!(entries["expired_fresh"]["status"], "fresh");
    assert!(entries["expired_fresh"]["expires_at"].is_string());
}

#[test]
fn verify_json_gives_each_source_its_status_and_counts_entries_per_status() {
    let m = Mixed::new();
    let r = run(["verify", m.store_str(), "--json"]);
    assert_eq!(r.code, 1, "stale entries exist; stderr: {}", r.stderr);
    let v = r.json();
    let sources = verify_sources_by_path(&v);
    let status = |p: &str| sources[p]["status"].as_str().unwrap().to_string();
    assert_eq!(status("app/stable.py"), "fresh");
    assert_eq!(status("app/loaders.py"), "moved");
    assert_eq!(sources["app/loaders.py"]["moved_to"], json!([6, 7]));
    assert_eq!(sources["app/loaders.py"]["span"], json!([4, 5]));
    assert_eq!(status("app/edited.py"), "changed");
    assert_eq!(status("app/gone.py"), "missing");
    assert_eq!(status("app/helper.py"), "changed");
    assert_eq!(status("data/custom.toml"), "changed");
    assert_eq!(status("data/incoming"), "unreadable");
    assert!(
        sources["data/incoming"]["detail"]
            .as_str()
            .unwrap()
            .contains("directory"),
        "{}",
        sources["data/incoming"]
    );
    // A changed whole file reports what it hashes to now.
    let custom_now = sha256_of(b"x = 2\n");
    assert_eq!(
        sources["data/custom.toml"]["current_digest"],
        json!(custom_now)
    );
    assert_eq!(sources["app/stable.py"]["entries"], 3);
    assert_eq!(
        v["entries"],
        json!({"fresh": 2, "moved": 1, "changed": 4, "missing": 1, "failed": 1,
               "unreadable": 1, "unverifiable": 1})
    );
    assert_eq!(v["stale_entries"], 6);
}

#[test]
fn an_entry_with_a_fresh_source_but_a_changed_dependency_is_changed_and_shown_why() {
    let m = Mixed::new();
    assert_eq!(statuses_by_key(m.store(), &[])["dep_changed"], "changed");
    let r = run([
        "show",
        m.store_str(),
        &m.id("dep_changed").to_string(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "changed");
    assert_eq!(v["decided_by"], "app/helper.py");
    assert_eq!(v["source"]["status"], "fresh");
    assert_eq!(v["dependencies"][0]["status"], "changed");
}

#[test]
fn a_span_edited_in_place_is_changed_but_lines_added_above_it_are_moved() {
    let fx = Fixture::new();
    fx.write(
        "m.py",
        "def a():\n    return 1\n\n\ndef b():\n    return 2\n",
    );
    let (sa, sb) = (
        fx.record("m.py", Some((1, 2))),
        fx.record("m.py", Some((5, 6))),
    );
    fx.put(NewEntry {
        source_id: Some(sa),
        ..entry("a")
    });
    fx.put(NewEntry {
        source_id: Some(sb),
        ..entry("b")
    });
    // Two lines above, and b's body edited.
    fx.write(
        "m.py",
        "import os\n\ndef a():\n    return 1\n\n\ndef b():\n    return 3\n",
    );
    assert_eq!(
        statuses_by_key(&fx.store, &[]),
        map_of(&[("a", "moved"), ("b", "changed")])
    );
}

/// A store whose sources cannot be hashed, each for its own reason.
fn unreadable_sources() -> Fixture {
    let fx = Fixture::new();
    mkfifo(&fx.path("pipe"));
    std::fs::create_dir(fx.path("folder")).unwrap();
    fx.write("plain.py", "x = 1\n");
    let zeros = format!("sha256:{}", "0".repeat(64));
    fx.with_store(|s| {
        let put = |key: &str, path: &str, digest: &str| {
            let sid = s
                .record_source(&NewSource {
                    path,
                    digest,
                    recorded_at: now_ms(),
                    ..Default::default()
                })
                .unwrap();
            s.put_entry(&NewEntry {
                source_id: Some(sid),
                ..entry(key)
            })
            .unwrap();
        };
        put("fifo", "pipe", &zeros);
        put("directory", "folder", &zeros);
        put("device", "/dev/zero", &zeros);
        put("md5", "plain.py", "md5:d41d8cd98f00b204e9800998ecf8427e");
        put("link", "link-to-pipe", &zeros);
    });
    std::os::unix::fs::symlink(fx.path("pipe"), fx.path("link-to-pipe")).unwrap();
    fx
}

#[test]
fn fifos_directories_devices_and_unknown_digest_algorithms_are_unreadable_without_hanging() {
    let fx = unreadable_sources();
    assert_eq!(
        statuses_by_key(&fx.store, &[]),
        map_of(&[
            ("fifo", "unreadable"),
            ("directory", "unreadable"),
            ("device", "unreadable"),
            ("md5", "unreadable"),
            ("link", "unreadable"),
        ])
    );
    let r = run(["verify", fx.store.to_str().unwrap(), "--json"]);
    // Unreadable is not stale.
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sources = verify_sources_by_path(&r.json());
    let detail = |p: &str| {
        sources[p]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    };
    assert!(detail("pipe").contains("fifo"), "{}", detail("pipe"));
    assert!(
        detail("folder").contains("directory"),
        "{}",
        detail("folder")
    );
    assert!(
        detail("/dev/zero").contains("device"),
        "{}",
        detail("/dev/zero")
    );
    assert!(detail("plain.py").contains("md5"), "{}", detail("plain.py"));
    assert!(
        detail("link-to-pipe").contains("fifo"),
        "{}",
        detail("link-to-pipe")
    );
    for s in sources.values() {
        assert_eq!(s["status"], "unreadable", "{s}");
    }
    let summary = run(["summary", fx.store.to_str().unwrap(), "--json"]).json();
    assert_eq!(
        summary["groups"][0]["statuses"]["unreadable"], 5,
        "{summary}"
    );
}

#[test]
fn show_on_an_entry_whose_source_is_a_fifo_answers_without_hanging() {
    let fx = unreadable_sources();
    let id = list_by_key(&fx.store, &[])["fifo"]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let r = run(["show", fx.store.to_str().unwrap(), &id, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "unreadable");
    assert!(
        v["source"]["detail"].as_str().unwrap().contains("FIFO"),
        "{v}"
    );
    let r = run(["show", fx.store.to_str().unwrap(), &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("unreadable"), "{}", r.stdout);
}

#[test]
fn entries_without_a_source_are_failed_with_a_derivation_error_and_unverifiable_without() {
    let fx = Fixture::new();
    fx.put(NewEntry {
        strategy: "bytecode",
        derivation_error: Some(CYTHON_TYPE_ERROR),
        ..entry("err")
    });
    fx.put(NewEntry {
        strategy: "name",
        ..entry("plain")
    });
    let entries = list_by_key(&fx.store, &[]);
    assert_eq!(entries["err"]["status"], "failed");
    assert_eq!(entries["err"]["derivation_error"], CYTHON_TYPE_ERROR);
    assert_eq!(entries["err"]["source_path"], Value::Null);
    assert_eq!(entries["plain"]["status"], "unverifiable");
    let r = run(["verify", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 1, "a failed entry is stale");
    assert_eq!(r.json()["entries"]["failed"], 1);
    assert_eq!(r.json()["entries"]["unverifiable"], 1);
}

#[test]
fn verify_exits_0_when_nothing_is_stale_and_1_as_soon_as_one_entry_is() {
    let fx = Fixture::new();
    fx.write("m.py", "def f():\n    return 1\n");
    let sid = fx.record("m.py", Some((1, 2)));
    fx.put(NewEntry {
        source_id: Some(sid),
        ..entry("f")
    });
    fx.put(NewEntry {
        strategy: "name",
        ..entry("named")
    });
    // Expired is a flag beside the status, not staleness.
    fx.put(NewEntry {
        source_id: Some(sid),
        expires_at: Some(now_ms() - 1),
        ..entry("expired")
    });
    let verify = || run(["verify", fx.store.to_str().unwrap()]);
    let r = verify();
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 stale"), "{}", r.stdout);
    fx.write("m.py", "def f():\n    return 2\n");
    let r = verify();
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("2 stale"), "{}", r.stdout);
}

#[test]
fn relative_source_paths_resolve_against_the_store_directory_not_the_cwd() {
    let fx = Fixture::new();
    fx.write("app/m.py", "def f():\n    return 1\n");
    let sid = fx.record("app/m.py", None);
    fx.put(NewEntry {
        source_id: Some(sid),
        ..entry("f")
    });
    let recorded: String = fx
        .sql()
        .query_row("SELECT path FROM sources WHERE id = ?1", [sid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        recorded, "app/m.py",
        "record_file stores paths under the store dir relatively"
    );
    // From an unrelated cwd, with an absolute store path.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join("app")).unwrap();
    let r = finish(cachescope().current_dir(elsewhere.path()).args([
        "list",
        fx.store.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r.json()[0]["status"], "fresh", "{}", r.stderr);
    // From the store's own directory, with a bare file name.
    let r = finish(
        cachescope()
            .current_dir(fx.dir.path())
            .args(["list", "cache.db", "--json"]),
    );
    assert_eq!(r.json()[0]["status"], "fresh", "{}", r.stderr);
    // From the parent, with a relative store path.
    let parent = fx.dir.path().parent().unwrap();
    let rel_store = fx.store.strip_prefix(parent).unwrap();
    let r = finish(cachescope().current_dir(parent).args([
        "verify",
        rel_store.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["sources"][0]["status"], "fresh");
    assert_eq!(
        std::path::Path::new(v["sources"][0]["resolved_path"].as_str().unwrap()),
        fx.path("app/m.py").canonicalize().unwrap()
    );
}

#[test]
fn remap_points_a_path_recorded_on_another_machine_at_this_one() {
    let fx = Fixture::new();
    let content = "def f():\n    return 1\n";
    fx.write("proj/app/m.py", content);
    fx.with_store(|s| {
        let sid = s
            .record_source(&NewSource {
                path: "/srv/build/proj/app/m.py",
                digest: &sha256_of(content.as_bytes()),
                recorded_at: now_ms(),
                ..Default::default()
            })
            .unwrap();
        s.put_entry(&NewEntry {
            source_id: Some(sid),
            ..entry("f")
        })
        .unwrap();
    });
    assert_eq!(statuses_by_key(&fx.store, &[])["f"], "missing");
    let remap = format!("/srv/build/proj={}", fx.path("proj").display());
    assert_eq!(
        statuses_by_key(&fx.store, &["--remap", &remap])["f"],
        "fresh"
    );
    let r = run(["verify", fx.store.to_str().unwrap(), "--remap", &remap]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A prefix that does not match whole components does not remap.
    let partial = format!("/srv/buil={}", fx.path("proj").display());
    assert_eq!(
        statuses_by_key(&fx.store, &["--remap", &partial])["f"],
        "missing"
    );
}

#[test]
fn the_demo_store_shows_every_status_and_its_path_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let r = run(["demo", demo.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let printed = std::path::PathBuf::from(r.stdout.trim_end());
    assert_eq!(printed, demo.join("cache.db"));
    assert!(printed.is_file());
    let r = run(["verify", printed.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 1, "the demo has stale entries: {}", r.stderr);
    let v = r.json();
    for status in [
        "fresh",
        "moved",
        "changed",
        "missing",
        "failed",
        "unreadable",
        "unverifiable",
    ] {
        assert!(
            v["entries"][status].as_u64().unwrap() > 0,
            "no {status} entry in the demo: {}",
            v["entries"]
        );
    }
    let expired = list_by_key(&printed, &[])
        .values()
        .filter(|e| e["expired"] == json!(true))
        .count();
    assert!(expired > 0, "the demo has expired entries too");
}

#[test]
fn list_status_filters_select_entries_by_their_computed_status() {
    let m = Mixed::new();
    let keys = |extra: &[&str]| {
        list_by_key(m.store(), extra)
            .into_keys()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&["--status", "changed"]),
        ["changed", "custom_changed", "dep_changed", "old_changed"]
    );
    assert_eq!(
        keys(&["--status", "fresh", "--status", "moved"]),
        ["expired_fresh", "fresh", "moved"]
    );
    assert_eq!(
        keys(&["--status", "failed", "--strategy", "name"]),
        ["failed"]
    );
    let r = run(["list", m.store_str(), "--status", "stale"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown status"), "{}", r.stderr);
}

#[test]
fn an_entry_whose_source_row_is_not_in_the_store_is_missing_everywhere_and_purged() {
    let fx = Fixture::new();
    fx.write("m.py", "x = 1\n");
    let fresh = fx.record("m.py", None);
    let kept = fx.put(NewEntry {
        source_id: Some(fresh),
        ..entry("kept")
    });
    // A producer bug (or a hand-edited store): the entry points at a row that does not exist.
    // The Rust API enforces the foreign key, so write it as a careless producer would.
    let dangling = fx.put(entry("dangling"));
    let sql = fx.sql();
    sql.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    sql.execute(
        "UPDATE entries SET source_id = 9999 WHERE id = ?1",
        [dangling],
    )
    .unwrap();
    drop(sql);
    let store = fx.store.to_str().unwrap();

    assert_eq!(
        statuses_by_key(&fx.store, &[]),
        map_of(&[("kept", "fresh"), ("dangling", "missing")])
    );
    let summary = run(["summary", store, "--json"]).json();
    assert_eq!(summary["groups"][0]["statuses"]["missing"], 1);
    assert_eq!(summary["groups"][0]["statuses"]["fresh"], 1);
    let show = run(["show", store, &dangling.to_string(), "--json"]).json();
    assert_eq!(show["status"], "missing");
    let human = run(["show", store, &dangling.to_string()]);
    assert!(
        human.stdout.contains("(row 9999) is not in the store"),
        "{}",
        human.stdout
    );

    let purge = run(["purge", store, "--json"]);
    assert_eq!(purge.code, 0, "{}", purge.stderr);
    assert_eq!(purge.json()["removed"], 1);
    assert_eq!(fx.entry_ids(), [kept].into_iter().collect());
}

/// A source id that is not an integer (TEXT, REAL or BLOB, written by a careless producer past
/// the column's affinity), as an entry's own source or a dependency: no source row can have
/// it, so the entry is missing in list, summary, verify, show and the purge alike.
#[test]
fn a_source_id_that_is_not_an_integer_is_missing_everywhere_and_purged() {
    for (class, literal) in [("text", "'abc'"), ("real", "2.5"), ("blob", "X'01FF'")] {
        for dependencies in [false, true] {
            let case = format!("{class}, dependency rows: {dependencies}");
            let fx = Fixture::new();
            fx.write("m.py", "x = 1\n");
            let fresh = fx.record("m.py", None);
            let kept = fx.put(NewEntry {
                source_id: Some(fresh),
                ..entry("kept")
            });
            let own = fx.put(entry("own"));
            let own_failed = fx.put(NewEntry {
                derivation_error: Some("TypeError: x"),
                ..entry("own-failed")
            });
            let sql = fx.sql();
            sql.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
            sql.execute(
                &format!("UPDATE entries SET source_id = {literal} WHERE id IN (?1, ?2)"),
                [own, own_failed],
            )
            .unwrap();
            let mut malformed = vec![("own", own), ("own-failed", own_failed)];
            if dependencies {
                let dep = fx.put(NewEntry {
                    source_id: Some(fresh),
                    ..entry("dep")
                });
                sql.execute(
                    &format!(
                        "INSERT INTO entry_dependencies (entry_id, source_id) \
                         VALUES (?1, {literal}), (?1, ?2)"
                    ),
                    [dep, fresh],
                )
                .unwrap();
                malformed.push(("dep", dep));
                // Beside it, an entry whose dependency row is not in the store: missing too, but
                // counted as a missing row, not as a malformed id, whichever is read first.
                let dangling = fx.put(NewEntry {
                    source_id: Some(fresh),
                    ..entry("dangling-dep")
                });
                sql.execute(
                    "INSERT INTO entry_dependencies (entry_id, source_id) VALUES (?1, 9999)",
                    [dangling],
                )
                .unwrap();
            }
            let stored: String = sql
                .query_row(
                    "SELECT typeof(source_id) FROM entries WHERE id = ?1",
                    [own],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(stored, class, "{case}");
            drop(sql);
            let store = fx.store.to_str().unwrap();

            let mut expected = vec![("kept", "fresh")];
            expected.extend(malformed.iter().map(|(k, _)| (*k, "missing")));
            let missing = malformed.len() + usize::from(dependencies);
            if dependencies {
                expected.push(("dangling-dep", "missing"));
            }
            assert_eq!(statuses_by_key(&fx.store, &[]), map_of(&expected), "{case}");
            assert_eq!(
                statuses_by_key(&fx.store, &["--status", "missing"]).len(),
                missing,
                "{case}"
            );
            let summary = run(["summary", store, "--json"]).json();
            assert_eq!(
                summary["groups"][0]["statuses"]["missing"], missing,
                "{case}"
            );
            let verify = run(["verify", store, "--json"]);
            assert_eq!(verify.code, 1, "{case}: {}", verify.stderr);
            let verify = verify.json();
            assert_eq!(verify["entries"]["missing"], missing, "{case}");
            assert_eq!(
                verify["entries_with_malformed_source_ids"],
                malformed.len(),
                "{case}"
            );
            let human = run(["verify", store]);
            assert!(
                human.stdout.contains("(source ids that are not integers)"),
                "{case}: {}",
                human.stdout
            );
            for (_, id) in &malformed {
                let show = run(["show", store, &id.to_string(), "--json"]).json();
                assert_eq!(show["status"], "missing", "{case}");
                assert_eq!(show["malformed_source_ids"][0], literal, "{case}");
                let human = run(["show", store, &id.to_string()]);
                assert!(
                    human.stdout.contains("is not an integer"),
                    "{case}: {}",
                    human.stdout
                );
            }

            let dry = run(["purge", store, "--dry-run", "--json"]);
            assert_eq!(dry.code, 0, "{case}: {}", dry.stderr);
            let dry = dry.json();
            assert_eq!(dry["dry_run"], true, "{case}");
            assert_eq!(dry["removed"], missing, "{case}");
            let purge = run(["purge", store, "--json"]);
            assert_eq!(purge.code, 0, "{case}: {}", purge.stderr);
            assert_eq!(purge.json()["removed"], missing, "{case}");
            assert_eq!(fx.entry_ids(), [kept].into_iter().collect(), "{case}");
        }
    }
}

/// In a store whose id columns were declared without a type (no INTEGER affinity), `'1'` and
/// `1.0` stay as written; SQLite compares them equal to the integer 1, and so does every
/// command: they name source row 1. `'abc'` names no row: missing.
#[test]
fn ids_that_compare_equal_to_an_integer_name_that_row_in_a_column_without_affinity() {
    let fx = Fixture::new();
    fx.write("m.py", "x = 1\n");
    let fresh = fx.record("m.py", None);
    assert_eq!(fresh, 1);
    let sql = fx.sql();
    sql.execute_batch(
        "PRAGMA foreign_keys = OFF;
         DROP TABLE entry_dependencies;
         ALTER TABLE entries RENAME TO old_entries;
         CREATE TABLE entries (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL,
           function TEXT NOT NULL, key TEXT NOT NULL, strategy TEXT NOT NULL,
           derivation_error TEXT, source_id REFERENCES sources(id), value BLOB,
           value_size INTEGER NOT NULL, value_type TEXT, created_at INTEGER NOT NULL,
           accessed_at INTEGER, hits INTEGER NOT NULL DEFAULT 0, expires_at INTEGER,
           UNIQUE (namespace, key));
         DROP TABLE old_entries;
         CREATE INDEX entries_function ON entries (function);
         CREATE INDEX entries_source_strategy_size ON entries (source_id, strategy, value_size);
         CREATE TABLE entry_dependencies (entry_id INTEGER NOT NULL REFERENCES entries(id)
           ON DELETE CASCADE, source_id NOT NULL REFERENCES sources(id),
           PRIMARY KEY (entry_id, source_id)) WITHOUT ROWID;
         INSERT INTO entries (id, namespace, function, key, strategy, source_id, value_size,
           created_at) VALUES
           (1, 'd', 'm:f', 'int', 'source', 1, 1, 1),
           (2, 'd', 'm:f', 'text', 'source', '1', 1, 1),
           (3, 'd', 'm:f', 'real', 'source', 1.0, 1, 1),
           (4, 'd', 'm:f', 'dep-text', 'source', 1, 1, 1),
           (5, 'd', 'm:f', 'dep-real', 'source', 1, 1, 1),
           (6, 'd', 'm:f', 'abc', 'source', 'abc', 1, 1);
         INSERT INTO entry_dependencies VALUES (4, '1'), (5, 1.0);",
    )
    .unwrap();
    let stored: Vec<String> = sql
        .prepare("SELECT typeof(source_id) FROM entries ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        stored,
        ["integer", "text", "real", "integer", "integer", "text"]
    );
    drop(sql);
    let store = fx.store.to_str().unwrap();
    let expected = map_of(&[
        ("int", "fresh"),
        ("text", "fresh"),
        ("real", "fresh"),
        ("dep-text", "fresh"),
        ("dep-real", "fresh"),
        ("abc", "missing"),
    ]);
    assert_eq!(statuses_by_key(&fx.store, &[]), expected);
    let summary = run(["summary", store, "--json"]).json();
    assert_eq!(summary["groups"][0]["statuses"]["fresh"], 5);
    assert_eq!(summary["groups"][0]["statuses"]["missing"], 1);
    let verify = run(["verify", store, "--json"]).json();
    assert_eq!(verify["entries"]["fresh"], 5);
    assert_eq!(verify["entries_with_malformed_source_ids"], 1);
    for id in 1..=5 {
        let show = run(["show", store, &id.to_string(), "--json"]).json();
        assert_eq!(show["status"], "fresh", "entry {id}");
        assert_eq!(show["malformed_source_ids"], json!([]), "entry {id}");
    }
    let purge = run(["purge", store, "--json"]);
    assert_eq!(purge.code, 0, "{}", purge.stderr);
    assert_eq!(purge.json()["removed"], 1);
    assert_eq!(fx.entry_ids(), (1..=5).collect());
}

#[test]
fn the_demo_never_writes_into_a_directory_that_holds_something_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cache.db"), "a user's own file").unwrap();
    let before = dir_snapshot(dir.path());
    let r = run(["demo", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_one_line_naming(&r.stderr, dir.path(), "not empty");
    assert_eq!(
        dir_snapshot(dir.path()),
        before,
        "nothing in the directory changed"
    );

    // An earlier demo may be replaced.
    let demo = dir.path().join("demo");
    assert_eq!(run(["demo", demo.to_str().unwrap()]).code, 0);
    let again = run(["demo", demo.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), demo.join("cache.db").to_str().unwrap());
}
