//! Unit tests of the store's subtle parts: the two forms of the status SQL agree, candidate
//! narrowing never misses an entry, whole-file sources are recorded once, aggregates count
//! entries with dependencies one by one.

use super::*;
use crate::status::Status;
use std::collections::HashMap;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    files: HashMap<&'static str, i64>,
}

/// A store with three whole-file sources a, b, c and entries over every combination that
/// matters: own source, no source (with and without an error), dependencies.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("cache.db")).unwrap();
    let mut files = HashMap::new();
    for name in ["a", "b", "c"] {
        let path = dir.path().join(name);
        std::fs::write(&path, name).unwrap();
        files.insert(name, store.record_file(&path, None).unwrap());
    }
    let put = |key: &str, source: Option<&str>, error: Option<&str>, deps: &[&str]| {
        let deps: Vec<i64> = deps.iter().map(|d| files[d]).collect();
        store
            .put_entry(&NewEntry {
                namespace: "data",
                function: "m:f",
                key,
                strategy: "source",
                derivation_error: error,
                source_id: source.map(|s| files[s]),
                value: Some(b"v"),
                created_at: 1,
                dependencies: &deps,
                ..Default::default()
            })
            .unwrap()
    };
    put("own-a", Some("a"), None, &[]);
    put("own-b", Some("b"), None, &[]);
    put("failed", None, Some("TypeError: x"), &[]);
    put("unverifiable", None, None, &[]);
    put("a-dep-b", Some("a"), None, &["b"]);
    put("none-dep-c", None, None, &["c"]);
    Fixture {
        _dir: dir,
        store,
        files,
    }
}

impl Fixture {
    /// Loads verification results as if a was found fresh, b changed and c missing.
    fn verify_as_a_fresh_b_changed_c_missing(&self) {
        let ranks = [
            ("a", Status::Fresh),
            ("b", Status::Changed),
            ("c", Status::Missing),
        ];
        self.store
            .load_source_statuses(ranks.iter().map(|(f, s)| (SourceId(self.files[f]), *s)))
            .unwrap();
    }
}

fn keys(store: &Store, ids: &[EntryId]) -> Vec<String> {
    let mut k: Vec<String> = store
        .entries_by_ids(ids, None)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    k.sort();
    k
}

#[test]
fn status_filters_follow_the_worst_of_source_and_dependencies() {
    let fx = fixture();
    fx.verify_as_a_fresh_b_changed_c_missing();
    let select = |statuses: Vec<Status>| {
        let filter = EntryFilter {
            statuses,
            ..Default::default()
        };
        let exact = fx.store.matching_ids(&filter, true).unwrap();
        let by_sort = fx.store.entry_ids(&filter, SortKey::Id, false).unwrap();
        assert_eq!(exact, by_sort, "indexed narrowing and a plain scan agree");
        let superset = fx.store.matching_ids(&filter, false).unwrap();
        assert!(
            exact.iter().all(|id| superset.contains(id)),
            "narrowing never misses one"
        );
        keys(&fx.store, &exact)
    };
    assert_eq!(select(vec![Status::Fresh]), ["own-a"]);
    assert_eq!(select(vec![Status::Changed]), ["a-dep-b", "own-b"]);
    assert_eq!(select(vec![Status::Missing]), ["none-dep-c"]);
    assert_eq!(select(vec![Status::Failed]), ["failed"]);
    assert_eq!(select(vec![Status::Unverifiable]), ["unverifiable"]);
    assert_eq!(
        select(Status::DEFAULT_PURGE.to_vec()),
        ["a-dep-b", "failed", "none-dep-c", "own-b"]
    );
}

#[test]
fn without_dependency_rows_the_fast_status_sql_gives_the_same_answer() {
    let fx = fixture();
    fx.store
        .conn
        .execute_batch("DELETE FROM entry_dependencies")
        .unwrap();
    assert!(!fx.store.any_dependencies());
    fx.verify_as_a_fresh_b_changed_c_missing();
    let filter = EntryFilter {
        statuses: vec![Status::Changed, Status::Unverifiable],
        ..Default::default()
    };
    let ids = fx.store.matching_ids(&filter, true).unwrap();
    // Without its dependency rows, a-dep-b is as fresh as its own source, none-dep-c unverifiable.
    assert_eq!(
        keys(&fx.store, &ids),
        ["none-dep-c", "own-b", "unverifiable"]
    );
}

#[test]
fn a_source_written_after_verification_is_never_selected() {
    let fx = fixture();
    fx.store
        .load_source_statuses(fx.files.values().map(|id| (SourceId(*id), Status::Changed)))
        .unwrap();
    // A producer rewrites own-b against a new source row verification never saw.
    let new = fx
        .store
        .record_source(&NewSource {
            path: "b",
            digest: "sha256:00",
            recorded_at: 2,
            ..Default::default()
        })
        .unwrap();
    fx.store
        .put_entry(&NewEntry {
            namespace: "data",
            function: "m:f",
            key: "own-b",
            strategy: "source",
            source_id: Some(new),
            created_at: 2,
            ..Default::default()
        })
        .unwrap();
    let filter = EntryFilter {
        statuses: Status::DEFAULT_PURGE.to_vec(),
        ..Default::default()
    };
    let ids = fx.store.matching_ids(&filter, true).unwrap();
    assert!(!keys(&fx.store, &ids).contains(&"own-b".to_string()));
}

#[test]
fn whole_file_sources_are_recorded_once_per_digest() {
    let fx = fixture();
    let dir = fx.store.base_dir();
    assert_eq!(
        fx.store.record_file(&dir.join("a"), None).unwrap(),
        fx.files["a"]
    );
    std::fs::write(dir.join("a"), "changed").unwrap();
    let second = fx.store.record_file(&dir.join("a"), None).unwrap();
    assert_ne!(
        second, fx.files["a"],
        "a changed file gets a new row; the old one stays"
    );
    assert_eq!(
        fx.store
            .source(SourceId(fx.files["a"]))
            .unwrap()
            .unwrap()
            .path,
        "a"
    );
}

#[test]
fn aggregates_count_every_entry_once_with_its_dependencies() {
    let fx = fixture();
    let mut cells = Vec::new();
    fx.store
        .aggregate(Dimension::None, |c| cells.push(c))
        .unwrap();
    let total: u64 = cells.iter().map(|c| c.entries).sum();
    assert_eq!(total, 6);
    let with_deps: Vec<_> = cells
        .iter()
        .filter(|c| !c.dependencies.is_empty())
        .collect();
    assert_eq!(with_deps.len(), 2);
    let failed: u64 = cells
        .iter()
        .filter(|c| c.source_id.is_none() && c.has_derivation_error)
        .map(|c| c.entries)
        .sum();
    assert_eq!(failed, 1);
}

mod same_file {
    use super::*;

    fn failed_store(path: &std::path::Path) -> Store {
        let store = Store::create(path).unwrap();
        for i in 0..10 {
            store
                .put_entry(&NewEntry {
                    namespace: "data",
                    function: "m:f",
                    key: &format!("k{i}"),
                    strategy: "bytecode",
                    derivation_error: Some("TypeError: x"),
                    value: Some(b"v"),
                    created_at: 1,
                    ..Default::default()
                })
                .unwrap();
        }
        store
    }

    fn purge_failed(store: &Store) -> Result<PurgeOutcome> {
        store.load_source_statuses(std::iter::empty())?;
        store.purge(
            &PurgePlan {
                filter: EntryFilter {
                    statuses: vec![Status::Failed],
                    ..Default::default()
                },
                dry_run: false,
                cancel: None,
            },
            |_| {},
        )
    }

    #[test]
    fn a_store_replaced_deleted_or_with_its_directory_gone_is_never_purged() {
        for case in ["replaced", "deleted", "dir removed", "header rewritten"] {
            let dir = tempfile::tempdir().unwrap();
            let sub = dir.path().join("d");
            std::fs::create_dir(&sub).unwrap();
            let path = sub.join("cache.db");
            let store = failed_store(&path);
            store.check_same_file().unwrap();
            match case {
                "replaced" => {
                    let other = dir.path().join("other.db");
                    drop(failed_store(&other));
                    std::fs::rename(&other, &path).unwrap();
                }
                "deleted" => std::fs::remove_file(&path).unwrap(),
                "dir removed" => std::fs::remove_dir_all(&sub).unwrap(),
                _ => {
                    let c = rusqlite::Connection::open(&path).unwrap();
                    c.pragma_update(None, "user_version", 0).unwrap();
                }
            }
            let before = std::fs::read(&path).ok();
            match purge_failed(&store) {
                Err(StoreError::Replaced { .. }) => {}
                other => panic!("{case}: {other:?}"),
            }
            assert_eq!(std::fs::read(&path).ok(), before, "{case}");
        }
    }

    #[test]
    fn a_reader_leaves_no_wal_or_shm_behind_a_deleted_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        drop(failed_store(&path));
        let reader = Store::open(&path, &OpenOptions::default()).unwrap();
        assert_eq!(reader.count(&EntryFilter::default()).unwrap().0, 10);
        std::fs::remove_file(&path).unwrap();
        assert!(reader.check_same_file().is_err());
        drop(reader);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A long purge checkpoints as it goes: the -wal file never grows past a bound far below the
/// database's size (it grew to 1.6x the database when checkpointing waited for the end).
#[test]
fn the_wal_stays_bounded_during_a_long_purge() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    drop(Store::create(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) \
             INSERT INTO entries (namespace, function, key, strategy, derivation_error, value, value_size, created_at) \
             SELECT 'd', 'm:f' || (i % 97), 'k' || i, 'bytecode', 'TypeError: x', randomblob(1500), 1500, 0 FROM n",
            [],
        )
        .unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let db_size = std::fs::metadata(&path).unwrap().len();
    let store = Store::open(
        &path,
        &OpenOptions {
            read_only: false,
            ..Default::default()
        },
    )
    .unwrap();
    store.load_source_statuses(std::iter::empty()).unwrap();
    let wal = dir.path().join("cache.db-wal");
    let stop = AtomicBool::new(false);
    let max_wal = AtomicU64::new(0);
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                if let Ok(m) = std::fs::metadata(&wal) {
                    max_wal.fetch_max(m.len(), Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let o = store.purge(
            &PurgePlan {
                filter: EntryFilter {
                    statuses: vec![Status::Failed],
                    ..Default::default()
                },
                dry_run: false,
                cancel: None,
            },
            |_| {},
        );
        stop.store(true, Ordering::SeqCst);
        o
    })
    .unwrap();
    assert_eq!(outcome.removed, 60000);
    let max_wal = max_wal.load(Ordering::SeqCst);
    eprintln!("database {db_size} bytes, largest -wal {max_wal} bytes");
    assert!(
        max_wal < db_size / 2,
        "the -wal reached {max_wal} bytes for a {db_size}-byte database"
    );
}
