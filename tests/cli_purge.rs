//! Issue 2, part 3: `purge` removes exactly what it selects, cleans up after itself, reports
//! what it did, and never removes what a producer rewrote or blocks one for long.

mod common;

use cachescope::store::{NewEntry, Store};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn purge(store: &str, extra: &[&str]) -> Run {
    let mut args = vec!["purge", store, "--json"];
    args.extend_from_slice(extra);
    run(args)
}

fn purge_json(store: &str, extra: &[&str]) -> Value {
    let r = purge(store, extra);
    assert_eq!(r.code, 0, "purge failed: {}", r.stderr);
    r.json()
}

/// Purges `m` with `extra` arguments and asserts exactly the entries named `removed` went.
fn assert_purge_removes(m: &Mixed, extra: &[&str], removed: &[&str]) -> Value {
    let before = m.fx.entry_ids();
    assert_eq!(before, m.all_ids());
    let v = purge_json(m.store_str(), extra);
    let expected: BTreeSet<i64> = before.difference(&m.ids_of(removed)).copied().collect();
    assert_eq!(
        m.fx.entry_ids(),
        expected,
        "purge {extra:?} should remove exactly {removed:?}"
    );
    assert_eq!(v["removed"], removed.len(), "{v}");
    v
}

const DEFAULT_REMOVED: [&str; 6] = [
    "changed",
    "missing",
    "failed",
    "dep_changed",
    "custom_changed",
    "old_changed",
];

#[test]
fn purge_without_a_status_removes_exactly_the_changed_missing_and_failed_entries() {
    let m = Mixed::new();
    let v = assert_purge_removes(&m, &[], &DEFAULT_REMOVED);
    assert_eq!(
        v,
        json!({
            "dry_run": false,
            "removed": 6,
            "bytes": 35,
            "by_strategy": {
                "custom": {"removed": 1, "bytes": 10},
                "name": {"removed": 1, "bytes": 5},
                "source": {"removed": 4, "bytes": 20},
            },
            "sources_removed": 4,
        })
    );
}

#[test]
fn status_filters_select_only_the_named_statuses() {
    let m = Mixed::new();
    assert_purge_removes(&m, &["--status", "missing"], &["missing"]);
    let m = Mixed::new();
    assert_purge_removes(
        &m,
        &["--status", "unreadable", "--status", "moved"],
        &["unreadable", "moved"],
    );
    let m = Mixed::new();
    assert_purge_removes(&m, &["--status", "unverifiable"], &["unverifiable"]);
}

#[test]
fn strategy_function_and_age_filters_narrow_the_default_selection() {
    let m = Mixed::new();
    assert_purge_removes(&m, &["--strategy", "custom"], &["custom_changed"]);
    let m = Mixed::new();
    assert_purge_removes(
        &m,
        &["--function", "app.edited:*"],
        &["changed", "old_changed"],
    );
    let m = Mixed::new();
    assert_purge_removes(&m, &["--older-than", "7d"], &["old_changed"]);
    let m = Mixed::new();
    assert_purge_removes(
        &m,
        &["--strategy", "name", "--function", "app.b*"],
        &["failed"],
    );
}

#[test]
fn expired_also_removes_expired_entries_whatever_their_status() {
    let m = Mixed::new();
    let mut removed = DEFAULT_REMOVED.to_vec();
    removed.push("expired_fresh");
    assert_purge_removes(&m, &["--expired"], &removed);
}

#[test]
fn a_dry_run_changes_nothing_and_predicts_what_the_real_purge_removes() {
    let m = Mixed::new();
    let (digest, ids, sources) = (m.fx.store_digest(), m.fx.entry_ids(), m.fx.source_ids());
    let dry = purge_json(m.store_str(), &["--dry-run"]);
    assert_eq!(
        m.fx.store_digest(),
        digest,
        "dry run changed the store file"
    );
    assert_eq!(m.fx.entry_ids(), ids);
    assert_eq!(m.fx.source_ids(), sources);
    assert_eq!(dry["dry_run"], true);
    let real = purge_json(m.store_str(), &[]);
    assert_eq!(real["dry_run"], false);
    for field in ["removed", "bytes", "by_strategy"] {
        assert_eq!(
            dry[field], real[field],
            "{field}: dry run {dry} vs purge {real}"
        );
    }
    assert_eq!(real["removed"], 6);
}

#[test]
fn a_dry_run_predicts_the_real_purge_for_every_kind_of_selection() {
    for extra in [
        &["--expired"][..],
        &["--status", "moved", "--status", "unreadable"],
        &["--strategy", "source", "--older-than", "7d"],
        &["--function", "app.stable:*", "--expired"],
    ] {
        let m = Mixed::new();
        let mut dry_args = extra.to_vec();
        dry_args.push("--dry-run");
        let dry = purge_json(m.store_str(), &dry_args);
        let real = purge_json(m.store_str(), extra);
        assert!(
            real["removed"].as_u64().unwrap() > 0,
            "{extra:?} selects something"
        );
        for field in ["removed", "bytes", "by_strategy"] {
            assert_eq!(
                dry[field], real[field],
                "{extra:?} {field}: dry run {dry} vs purge {real}"
            );
        }
    }
}

#[test]
fn a_store_without_the_optional_dependency_table_and_indexes_is_purged_too() {
    let m = Mixed::new();
    m.fx.sql()
        .execute_batch(
            "DROP TABLE entry_dependencies; DROP INDEX entries_function; \
             DROP INDEX entries_source_strategy_size;",
        )
        .unwrap();
    // Without its dependency, dep_changed is as fresh as its own source.
    let mut removed = DEFAULT_REMOVED.to_vec();
    removed.retain(|k| *k != "dep_changed");
    assert_purge_removes(&m, &[], &removed);
}

#[test]
fn a_dry_run_reports_the_source_rows_the_real_purge_removes() {
    let m = Mixed::new();
    let dry = purge_json(m.store_str(), &["--dry-run"]);
    let real = purge_json(m.store_str(), &[]);
    assert_eq!(real["sources_removed"], 4);
    assert_eq!(
        dry["sources_removed"], real["sources_removed"],
        "dry run {dry} vs purge {real}"
    );
}

#[test]
fn purge_removes_orphaned_sources_and_keeps_those_still_referenced() {
    let m = Mixed::new();
    purge_json(m.store_str(), &[]);
    let kept: BTreeSet<i64> = ["stable", "moved", "dir"]
        .iter()
        .map(|k| m.sources[k])
        .collect();
    assert_eq!(m.fx.source_ids(), kept);
}

#[test]
fn purge_removes_the_dependency_rows_of_removed_entries_and_keeps_shared_dependencies() {
    let fx = Fixture::new();
    fx.write("a.py", "def a():\n    return 1\n");
    fx.write("b.py", "def b():\n    return 1\n");
    fx.write("shared.csv", "id\n1\n");
    let (sa, sb, shared) = (
        fx.record("a.py", None),
        fx.record("b.py", None),
        fx.record("shared.csv", None),
    );
    let a = fx.put(NewEntry {
        source_id: Some(sa),
        dependencies: &[shared],
        ..entry("a")
    });
    let b = fx.put(NewEntry {
        source_id: Some(sb),
        dependencies: &[shared],
        ..entry("b")
    });
    fx.write("a.py", "def a():\n    return 2\n");
    assert_eq!(fx.dependency_rows(), [(a, shared), (b, shared)].into());
    let v = purge_json(fx.store.to_str().unwrap(), &[]);
    assert_eq!(v["removed"], 1);
    assert_eq!(fx.entry_ids(), [b].into());
    assert_eq!(fx.dependency_rows(), [(b, shared)].into());
    assert_eq!(
        fx.source_ids(),
        [sb, shared].into(),
        "a.py's row goes, the shared one stays"
    );
    assert_eq!(v["sources_removed"], 1);
}

#[test]
fn an_entry_a_producer_rewrote_with_a_new_source_row_survives_the_purge() {
    let fx = Fixture::new();
    fx.write("m.py", "def f():\n    return 1\n");
    let old = fx.record("m.py", None);
    let id = fx.put(NewEntry {
        source_id: Some(old),
        ..entry("f")
    });
    fx.write("m.py", "def f():\n    return 2\n");
    assert_eq!(statuses_by_key(&fx.store, &[])["f"], "changed");
    // The producer notices first: it recomputes and rewrites the entry with a new source row.
    let new = fx.record("m.py", None);
    assert_ne!(new, old, "a changed file gets a new source row");
    let rewritten = fx.put(NewEntry {
        source_id: Some(new),
        value: Some(b"fresh"),
        ..entry("f")
    });
    assert_eq!(rewritten, id);
    let v = purge_json(fx.store.to_str().unwrap(), &[]);
    assert_eq!(v["removed"], 0, "{v}");
    assert_eq!(fx.entry_ids(), [id].into());
    assert!(
        fx.source_ids().contains(&new),
        "the rewritten entry's new source row stays"
    );
    assert_eq!(statuses_by_key(&fx.store, &[])["f"], "fresh");
}

#[test]
fn purge_gives_up_with_a_busy_message_while_another_writer_holds_the_lock_and_succeeds_after() {
    let m = Mixed::new();
    let before = m.fx.entry_ids();
    let holder = m.fx.sql();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let r = purge(m.store_str(), &["--busy-timeout", "300ms"]);
    let took = started.elapsed();
    r.assert_refused(m.store(), "busy");
    assert!(took < Duration::from_secs(8), "gave up after {took:?}");
    assert_eq!(m.fx.entry_ids(), before, "nothing removed while busy");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let v = purge_json(m.store_str(), &["--busy-timeout", "300ms"]);
    assert_eq!(v["removed"], 6);
}

#[test]
fn purge_never_removes_entries_a_producer_keeps_writing_meanwhile_and_never_blocks_it_long() {
    let m = Mixed::new();
    let stale = m.ids_of(&DEFAULT_REMOVED);
    let store_path = m.store().to_path_buf();
    let dir = m.fx.dir.path().to_path_buf();
    let (ready_tx, ready_rx) = mpsc::channel();
    // For about a second, a producer writes fresh entries as fast as it can: every other one
    // with a source row recorded after the purge's verification may have run.
    let producer = std::thread::spawn(move || -> Result<(Vec<String>, Duration), String> {
        let store = Store::create(&store_path).map_err(|e| e.to_string())?;
        let stable = store
            .record_file(&dir.join("app/stable.py"), None)
            .map_err(|e| e.to_string())?;
        let (mut keys, mut slowest) = (Vec::new(), Duration::ZERO);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(1) {
            let key = format!("new-{}", keys.len());
            let put_started = Instant::now();
            let sid = if keys.len() % 2 == 0 {
                stable
            } else {
                let file = dir.join(format!("gen/{key}.py"));
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, format!("def f():\n    return {}\n", keys.len())).unwrap();
                store
                    .record_file(&file, None)
                    .map_err(|e| format!("record {key}: {e}"))?
            };
            store
                .put_entry(&NewEntry {
                    source_id: Some(sid),
                    ..entry(&key)
                })
                .map_err(|e| format!("put {key}: {e}"))?;
            slowest = slowest.max(put_started.elapsed());
            keys.push(key);
            if keys.len() == 5 {
                ready_tx.send(()).unwrap();
            }
        }
        Ok((keys, slowest))
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("producer started");
    let r = purge(m.store_str(), &[]);
    let (keys, slowest) = producer.join().unwrap().expect("the producer never errors");
    assert_eq!(r.code, 0, "purge failed: {}", r.stderr);
    assert_eq!(r.json()["removed"], 6);
    let c = m.fx.sql();
    let left: BTreeSet<String> = {
        let mut st = c
            .prepare("SELECT key FROM entries WHERE key LIKE 'new-%'")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(keys.len() > 5, "producer wrote {} entries", keys.len());
    assert_eq!(left, keys.into_iter().collect(), "every new entry survives");
    assert!(
        m.fx.entry_ids().is_disjoint(&stale),
        "the stale entries are gone"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "a producer write waited {slowest:?}"
    );
}

/// The race the CLI cannot stage deterministically: verification has run, then a producer
/// rewrites entries (own source and dependency) before the delete. Driven through the library,
/// which is what `purge` runs.
#[test]
fn entries_rewritten_between_verification_and_delete_survive() {
    use cachescope::store::{OpenOptions, PurgePlan};
    let m = Mixed::new();
    let purger = Store::open(
        m.store(),
        &OpenOptions {
            read_only: false,
            busy_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let paths = cachescope::verify::PathMap::new(purger.base_dir(), vec![]);
    cachescope::model::verify_store(&purger, &paths, &|_, _| {}).unwrap();
    // Now the producer recomputes `changed` (its span edited) and `dep_changed` (its helper
    // edited): new source rows for what the files hold now.
    m.fx.with_store(|s| {
        let edited = s
            .record_file(&m.fx.path("app/edited.py"), Some((1, 2)))
            .unwrap();
        let helper = s.record_file(&m.fx.path("app/helper.py"), None).unwrap();
        s.put_entry(&NewEntry {
            source_id: Some(edited),
            function: "app.edited:edited",
            ..entry("changed")
        })
        .unwrap();
        s.put_entry(&NewEntry {
            source_id: Some(m.sources["stable"]),
            function: "app.stable:with_helper",
            dependencies: &[helper],
            ..entry("dep_changed")
        })
        .unwrap();
    });
    let filter = cachescope::store::EntryFilter {
        statuses: cachescope::status::Status::DEFAULT_PURGE.to_vec(),
        ..Default::default()
    };
    let outcome = purger
        .purge(
            &PurgePlan {
                filter,
                dry_run: false,
                cancel: None,
            },
            |_| {},
        )
        .unwrap();
    drop(purger);
    assert_eq!(outcome.removed, 4, "{outcome:?}");
    let survivors = m.ids_of(&["changed", "dep_changed"]);
    assert!(
        survivors.is_subset(&m.fx.entry_ids()),
        "rewritten entries were removed"
    );
    let gone = m.ids_of(&["missing", "failed", "custom_changed", "old_changed"]);
    assert!(gone.is_disjoint(&m.fx.entry_ids()));
    assert_eq!(statuses_by_key(m.store(), &[])["dep_changed"], "fresh");
}
