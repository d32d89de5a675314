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
        let n = fx.store.select_list(&filter, SortKey::Id, false).unwrap();
        let by_sort = fx.store.list_page(0, n as usize).unwrap();
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
fn aggregates_count_every_entry_once() {
    let fx = fixture();
    let mut cells = Vec::new();
    fx.store
        .aggregate(Dimension::None, |c| cells.push(c))
        .unwrap();
    let total: u64 = cells.iter().map(|c| c.entries).sum();
    assert_eq!(total, 6);
    // Statuses unknown: only the entry without a source but with a dependency lists it (so
    // it reads as unchecked, not unverifiable).
    let with_deps: Vec<_> = cells
        .iter()
        .filter(|c| !c.dependencies.is_empty())
        .collect();
    assert_eq!(with_deps.len(), 1);
    assert!(with_deps[0].source_id.is_none());
    let failed: u64 = cells
        .iter()
        .filter(|c| c.source_id.is_none() && c.has_derivation_error)
        .map(|c| c.entries)
        .sum();
    assert_eq!(failed, 1);
}

/// Dependency-reached counts: what the merged aggregates give equals what one cell per entry
/// (the old path) gave, entry by entry, with several dependencies per entry, entries without a
/// source, a dependency without a source row, and a strategy with no entry left outside cells
/// with dependencies.
mod dependency_reached {
    use super::*;
    use crate::model::cell_status;
    use crate::verify::SourceCheck;
    use std::collections::BTreeMap;

    /// Per (strategy, status): entries and bytes.
    type Tally = BTreeMap<(String, Option<Status>), (u64, u64)>;

    struct Built {
        _dir: tempfile::TempDir,
        store: Store,
        checks: HashMap<SourceId, SourceCheck>,
        /// One cell per entry, as the aggregate gave them before entries were merged.
        per_entry: Vec<Cell>,
    }

    fn build() -> Built {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("cache.db")).unwrap();
        let mut ids = HashMap::new();
        for name in ["fresh", "moved", "changed", "missing", "unreadable"] {
            let path = dir.path().join(name);
            std::fs::write(&path, name).unwrap();
            ids.insert(name, store.record_file(&path, None).unwrap());
        }
        // A dependency id with no source row (a producer's bug): missing.
        let dangling = 9_999;
        let mut per_entry = Vec::new();
        let mut n = 0;
        for strategy in ["source", "bytecode", "only-deps"] {
            for own in [None, Some("fresh"), Some("moved"), Some("changed")] {
                for error in [None, Some("TypeError: x")] {
                    for deps in [
                        &[][..],
                        &["fresh"][..],
                        &["moved", "fresh"][..],
                        &["unreadable"][..],
                        &["changed", "missing"][..],
                        &["fresh", "dangling"][..],
                    ] {
                        // Every entry of `only-deps` has dependencies.
                        if strategy == "only-deps" && deps.is_empty() {
                            continue;
                        }
                        n += 1;
                        let dep_ids: Vec<i64> = deps
                            .iter()
                            .map(|d| if *d == "dangling" { dangling } else { ids[d] })
                            .collect();
                        let key = format!("k{n}");
                        let value = vec![0u8; n];
                        let id = store
                            .put_entry(&NewEntry {
                                namespace: "data",
                                function: "m:f",
                                key: &key,
                                strategy,
                                derivation_error: error,
                                source_id: own.map(|o| ids[o]),
                                value: Some(&value),
                                created_at: 1,
                                ..Default::default()
                            })
                            .unwrap();
                        // Written by hand: the producer refuses an unknown source id.
                        store
                            .conn
                            .pragma_update(None, "foreign_keys", false)
                            .unwrap();
                        for d in &dep_ids {
                            store
                                .conn
                                .execute(
                                    "INSERT INTO entry_dependencies (entry_id, source_id) \
                                     VALUES (?1, ?2)",
                                    [id, *d],
                                )
                                .unwrap();
                        }
                        per_entry.push(Cell {
                            source_id: own.map(|o| SourceId(ids[o])),
                            strategy: strategy.into(),
                            dimension: None,
                            has_derivation_error: error.is_some(),
                            dependencies: dep_ids.iter().map(|d| SourceId(*d)).collect(),
                            malformed_source_id: false,
                            entries: 1,
                            bytes: n as u64,
                        });
                    }
                }
            }
        }
        let mut checks = HashMap::new();
        for (name, status) in [
            ("fresh", Status::Fresh),
            ("moved", Status::Moved),
            ("changed", Status::Changed),
            ("missing", Status::Missing),
            ("unreadable", Status::Unreadable),
        ] {
            let mut check = SourceCheck::not_in_store(SourceId(ids[name]));
            check.status = status;
            checks.insert(SourceId(ids[name]), check);
        }
        checks.insert(
            SourceId(dangling),
            SourceCheck::not_in_store(SourceId(dangling)),
        );
        Built {
            _dir: dir,
            store,
            checks,
            per_entry,
        }
    }

    fn tally(cells: &[Cell], checks: &HashMap<SourceId, SourceCheck>) -> Tally {
        let mut t = Tally::new();
        for c in cells {
            let slot = t
                .entry((c.strategy.clone(), cell_status(c, checks)))
                .or_default();
            slot.0 += c.entries;
            slot.1 += c.bytes;
        }
        t
    }

    /// Entries per source, as their own source or as a dependency, from one cell per entry.
    fn usage_per_entry(cells: &[Cell]) -> BTreeMap<SourceId, u64> {
        let mut usage = BTreeMap::new();
        for c in cells {
            for id in c.source_id.iter().chain(&c.dependencies) {
                *usage.entry(*id).or_default() += c.entries;
            }
        }
        usage
    }

    #[test]
    fn every_aggregate_gives_the_statuses_of_one_cell_per_entry() {
        let b = build();
        let expected = tally(&b.per_entry, &b.checks);
        assert!(expected.keys().any(|(_, s)| *s == Some(Status::Missing)));

        // Statuses not known yet: the same counts, and what reads as known without hashing
        // (failed or unverifiable, for entries with neither a source nor a dependency).
        let unknown = HashMap::new();
        let expected_unknown = tally(&b.per_entry, &unknown);
        assert!(expected_unknown.keys().any(|(_, s)| s.is_some()));
        let mut plain = Vec::new();
        b.store
            .aggregate(Dimension::None, |c| plain.push(c))
            .unwrap();
        assert_eq!(tally(&plain, &unknown), expected_unknown, "plain aggregate");
        assert!(plain.iter().all(|c| c.entries > 0), "no empty cells");

        let mut with_errors = Vec::new();
        b.store
            .aggregate_then_errors(|| b.store.derivation_errors(), |c| with_errors.push(c))
            .unwrap();
        assert_eq!(
            tally(&with_errors, &unknown),
            expected_unknown,
            "with errors"
        );

        for errors in [false, true] {
            let mut resolved = Vec::new();
            let mut uses: BTreeMap<SourceId, u64> = BTreeMap::new();
            let mut fetch = || b.store.derivation_errors();
            b.store
                .aggregate_resolved(
                    Dimension::None,
                    errors.then_some(&mut fetch as &mut dyn FnMut() -> _),
                    Resolve {
                        status: &mut |id| b.checks.get(&id).map(|c| c.status),
                        dependency_uses: &mut |id, n| *uses.entry(id).or_default() += n,
                    },
                    |c| resolved.push(c),
                )
                .unwrap();
            assert_eq!(tally(&resolved, &b.checks), expected, "resolved");
            assert!(
                resolved.iter().all(|c| c.dependencies.len() <= 1),
                "merged by their worst dependency"
            );
            assert!(resolved.len() < b.per_entry.len());
            for c in &resolved {
                if let Some(id) = c.source_id {
                    *uses.entry(id).or_default() += c.entries;
                }
            }
            assert_eq!(uses, usage_per_entry(&b.per_entry), "entries per source");
        }

        // Split by a dimension too (the TUI's function and derivation error groupings).
        for dimension in [Dimension::Function, Dimension::DerivationError] {
            let mut resolved = Vec::new();
            b.store
                .aggregate_resolved(
                    dimension,
                    None,
                    Resolve {
                        status: &mut |id| b.checks.get(&id).map(|c| c.status),
                        dependency_uses: &mut |_, _| {},
                    },
                    |c| resolved.push(c),
                )
                .unwrap();
            assert_eq!(tally(&resolved, &b.checks), expected, "{dimension:?}");
            assert!(resolved.iter().any(|c| c.dimension.is_some()));
        }
    }

    #[test]
    fn an_unknown_dependency_status_leaves_its_entries_unchecked() {
        let b = build();
        let changed = b
            .checks
            .iter()
            .find(|(_, c)| c.status == Status::Changed)
            .map(|(id, _)| *id)
            .unwrap();
        let mut checks = b.checks.clone();
        checks.remove(&changed);
        let expected = tally(&b.per_entry, &checks);
        let mut resolved = Vec::new();
        b.store
            .aggregate_resolved(
                Dimension::None,
                None,
                Resolve {
                    status: &mut |id| checks.get(&id).map(|c| c.status),
                    dependency_uses: &mut |_, _| {},
                },
                |c| resolved.push(c),
            )
            .unwrap();
        assert_eq!(tally(&resolved, &checks), expected);
        assert!(expected.keys().any(|(_, s)| s.is_none()));
    }
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

/// Derivation errors and expiry read in one pass (a store without the optional indexes) give
/// what the two queries give, with the indexes and without.
#[test]
fn errors_and_expired_in_one_pass_equal_the_two_queries() {
    let fx = fixture();
    for (key, error, expires) in [
        ("exp-1", Some("TypeError: x"), Some(5)),
        ("exp-2", None, Some(5)),
        ("later", Some("OSError: y"), Some(500)),
    ] {
        fx.store
            .put_entry(&NewEntry {
                namespace: "data",
                function: "m:g",
                key,
                strategy: "bytecode",
                derivation_error: error,
                value: Some(b"vv"),
                created_at: 1,
                expires_at: expires,
                ..Default::default()
            })
            .unwrap();
    }
    let now = 100;
    let separate = |s: &Store| {
        (
            s.derivation_errors().unwrap(),
            s.expired_counts(now).unwrap(),
        )
    };
    let (errors, expired) = separate(&fx.store);
    assert_eq!(expired, vec![("bytecode".to_string(), 2, 4)]);
    assert_eq!(errors.len(), 3);
    let path = fx.store.path().to_path_buf();
    let with_indexes = fx.store.errors_and_expired(now).unwrap();
    let expected = (errors, expired);
    assert_eq!(with_indexes, expected);
    fx.store
        .conn
        .execute_batch("DROP INDEX entries_derivation_error; DROP INDEX entries_expires_at;")
        .unwrap();
    let bare = Store::open(&path, &OpenOptions::default()).unwrap();
    assert!(bare.error_index.is_none() && !bare.expiry_index);
    let one_pass = bare.errors_and_expired(now).unwrap();
    assert_eq!(one_pass, expected);
    assert_eq!(separate(&bare), expected);
}

/// A dry run counts the source rows a real purge then removes: those its entries leave
/// unreferenced, and old ones nothing referenced before.
#[test]
fn a_dry_run_counts_every_source_row_the_purge_removes() {
    let fx = fixture();
    fx.store
        .conn
        .execute(
            "INSERT INTO sources (path, digest, recorded_at) VALUES ('gone.py', 'sha256:00', 1000), \
             ('new.py', 'sha256:00', ?1)",
            [chrono::Utc::now().timestamp_millis()],
        )
        .unwrap();
    fx.verify_as_a_fresh_b_changed_c_missing();
    let plan = |dry_run| PurgePlan {
        filter: EntryFilter {
            statuses: Status::DEFAULT_PURGE.to_vec(),
            ..Default::default()
        },
        dry_run,
        cancel: None,
    };
    let dry = fx.store.purge(&plan(true), |_| {}).unwrap();
    let real = fx.store.purge(&plan(false), |_| {}).unwrap();
    assert_eq!((dry.removed, dry.bytes), (real.removed, real.bytes));
    assert_eq!(dry.sources_removed, real.sources_removed);
    // b and c (their entries purged) and the old unreferenced row; the young one stays.
    assert_eq!(real.sources_removed, 3);
    let paths: Vec<String> = fx
        .store
        .conn
        .prepare("SELECT path FROM sources ORDER BY path")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(paths.contains(&"new.py".to_string()), "{paths:?}");
    assert!(!paths.contains(&"gone.py".to_string()), "{paths:?}");
}

/// A time stored as REAL (the format says INTEGER) reads as its millisecond, as SQL compares
/// it: `list` called such an entry unexpiring while `summary` counted it expired.
#[test]
fn a_real_expiry_reads_as_its_millisecond() {
    let fx = fixture();
    fx.store
        .conn
        .execute_batch(
            "UPDATE entries SET expires_at = 1000.5, accessed_at = 7.9 WHERE key = 'own-a'",
        )
        .unwrap();
    let id: EntryId = fx
        .store
        .conn
        .query_row("SELECT id FROM entries WHERE key = 'own-a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let row = &fx.store.entries_by_ids(&[id], None).unwrap()[0];
    assert_eq!((row.expires_at, row.accessed_at), (Some(1000), Some(7)));
    assert!(row.is_expired(2000));
    let expired: u64 = fx
        .store
        .expired_counts(2000)
        .unwrap()
        .iter()
        .map(|c| c.1)
        .sum();
    assert_eq!(expired, 1);
}

#[test]
fn sources_by_id_answers_every_id_in_order_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("cache.db")).unwrap();
    // More rows than one statement reads, so several chunks and a partial last one.
    let ids: Vec<i64> = (0..600)
        .map(|i| {
            let path = dir.path().join(format!("m{i}.py"));
            std::fs::write(&path, format!("x = {i}\n")).unwrap();
            store.record_file(&path, None).unwrap()
        })
        .collect();
    let path_of = |row: Option<SourceRow>| row.map(|r| r.path);
    // Reversed, with ids without a row and an id asked twice (in one chunk and across two).
    let mut asked: Vec<SourceId> = ids.iter().rev().map(|id| SourceId(*id)).collect();
    asked.insert(3, SourceId(-7));
    asked.insert(10, asked[0]);
    asked.push(SourceId(ids[0]));
    asked.push(SourceId(1_000_000));
    let got: Vec<Option<String>> = store
        .sources_by_id(&asked)
        .unwrap()
        .map(|r| path_of(r.unwrap()))
        .collect();
    assert_eq!(got.len(), asked.len());
    for (id, path) in asked.iter().zip(&got) {
        let expected = ids
            .iter()
            .position(|i| *i == id.0)
            .map(|i| format!("m{i}.py"));
        assert_eq!(path, &expected, "source {id}");
    }
    assert_eq!(store.sources_by_id(&[]).unwrap().count(), 0);
}

#[test]
fn a_function_glob_negates_with_a_bang_as_with_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("cache.db")).unwrap();
    for function in ["app:load", "batch:run"] {
        store
            .put_entry(&NewEntry {
                namespace: "data",
                function,
                key: function,
                strategy: "name",
                created_at: 1,
                ..Default::default()
            })
            .unwrap();
    }
    for glob in ["[!a]*", "[^a]*"] {
        let filter = EntryFilter {
            function_glob: Some(glob.into()),
            ..Default::default()
        };
        let ids = store.matching_ids(&filter, true).unwrap();
        assert_eq!(keys(&store, &ids), ["batch:run"], "{glob}");
    }
}
