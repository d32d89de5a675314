//! Tests against caches written by real diskcache (tests/python/caches/make_diskcache.py).

use super::*;
use crate::backend::fixtures::{have_python_module, run_json, script};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

fn scenario(name: &str) -> Option<(tempfile::TempDir, Json)> {
    if !have_python_module("diskcache") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let m = run_json(
        "make_diskcache.py",
        &[tmp.path().as_os_str(), "--scenario".as_ref(), name.as_ref()],
    );
    Some((tmp, m))
}

/// Expected summary from the manifest's rows: name -> (entries, bytes).
fn expected_summary(rows: &[Json]) -> BTreeMap<Option<String>, (i64, i64)> {
    let mut m = BTreeMap::new();
    for r in rows {
        let e = m
            .entry(r["memo_name"].as_str().map(String::from))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += r["size"].as_i64().unwrap();
    }
    m
}

fn summary_map(s: Vec<FuncSummary>) -> BTreeMap<Option<String>, (i64, i64)> {
    s.into_iter()
        .map(|f| (f.name, (f.entries, f.bytes)))
        .collect()
}

#[test]
fn memo_cache_detected_summarized_and_keys_rendered() {
    let Some((_tmp, m)) = scenario("memo") else {
        return;
    };
    let dir = PathBuf::from(m["directory"].as_str().unwrap());
    let layout = detect(&dir).unwrap();
    assert_eq!(
        layout,
        Layout::Cache {
            dir: dir.clone(),
            db: dir.join(DBNAME)
        }
    );
    assert_eq!(detect(&dir.join(DBNAME)).unwrap(), layout);
    let db = dir.join(DBNAME);
    let conn = open_ro(&db).unwrap();
    let s = read_settings(&conn, &db).unwrap();
    assert_eq!(s.eviction_policy(), Some("least-recently-stored"));
    assert_eq!(s.int("count"), Some(23));
    assert_eq!(s.int("disk_min_file_size"), Some(32768));
    assert_eq!(s.int("size"), m["settings"]["size"].as_i64());

    let rows = m["rows"].as_array().unwrap();
    let want = expected_summary(rows);
    assert_eq!(summary_map(summary(&conn, &db).unwrap()), want);
    // 6 memoized names + the plain keys
    assert_eq!(want.len(), 7);
    assert_eq!(want[&None].0, 13);

    // every pickled key renders; memoize keys match diskcache's own decoding
    let mut st = conn
        .prepare("SELECT rowid, key, raw FROM Cache ORDER BY rowid")
        .unwrap();
    let got: Vec<(i64, Value, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), rows.len());
    for ((rowid, key, raw), r) in got.iter().zip(rows) {
        assert_eq!(*rowid, r["rowid"].as_i64().unwrap());
        assert_eq!(*raw, r["raw"].as_i64().unwrap());
        match (raw, key) {
            (0, Value::Blob(b)) => {
                let name = crate::pickle::memo_key(b).map(|k| k.name);
                assert_eq!(name.as_deref(), r["memo_name"].as_str(), "row {rowid}");
                let text = crate::pickle::render(b).unwrap();
                // diskcache's repr of the key, but for <class 'int'> which renders builtins.int
                let repr = r["key_repr"]
                    .as_str()
                    .unwrap()
                    .replace("<class 'int'>", "builtins.int")
                    .replace("<class 'float'>", "builtins.float");
                assert_eq!(text, repr, "row {rowid}");
            }
            (1, v) => {
                let t = r["key_sqlite_type"].as_str().unwrap();
                let ok = matches!(
                    (t, v),
                    ("str", Value::Text(_))
                        | ("int", Value::Integer(_))
                        | ("float", Value::Real(_))
                        | ("bytes", Value::Blob(_))
                );
                assert!(ok, "row {rowid}: {t} stored as {v:?}");
            }
            other => panic!("row {rowid}: {other:?}"),
        }
    }
    let args: Vec<String> = got
        .iter()
        .filter_map(|(_, k, _)| match k {
            Value::Blob(b) => crate::pickle::memo_key(b).map(|k| format!("{}{}", k.name, k.args)),
            _ => None,
        })
        .collect();
    assert!(args.contains(&"custom.label('r')".to_string()), "{args:?}");
    assert!(
        args.iter().any(|a| a.ends_with("typed_mul(2.0, 3); typed")),
        "{args:?}"
    );
    assert!(args.iter().any(|a| a.ends_with("add(a=5)")), "{args:?}");
    assert!(args.contains(&"dcmod.area(2, h=3)".to_string()), "{args:?}");
}

#[test]
fn lru_policy_is_read_from_settings() {
    let Some((_tmp, m)) = scenario("lru") else {
        return;
    };
    for (policy, c) in m["caches"].as_object().unwrap() {
        let dir = PathBuf::from(c["directory"].as_str().unwrap());
        let db = dir.join(DBNAME);
        let conn = open_ro(&db).unwrap();
        assert_eq!(
            read_settings(&conn, &db).unwrap().eviction_policy(),
            Some(policy.as_str())
        );
        let moved: Vec<String> = conn
            .prepare("SELECT key FROM Cache WHERE access_time > store_time ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        if policy == "least-recently-used" {
            assert_eq!(moved, ["k1", "k3"]);
        } else {
            assert!(moved.is_empty(), "{policy}: {moved:?}");
        }
    }
}

#[test]
fn fanout_shards() {
    let Some((_tmp, m)) = scenario("fanout") else {
        return;
    };
    let dir = PathBuf::from(m["directory"].as_str().unwrap());
    let Layout::Fanout { shards, .. } = detect(&dir).unwrap() else {
        panic!("not fanout")
    };
    assert_eq!(shards.len(), 4);
    let mut total: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
    for s in &shards {
        let db = s.join(DBNAME);
        let conn = open_ro(&db).unwrap();
        for f in summary(&conn, &db).unwrap() {
            let e = total.entry(f.name).or_default();
            e.0 += f.entries;
            e.1 += f.bytes;
        }
    }
    let mut want: BTreeMap<Option<String>, (i64, i64)> = m["memo_calls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (Some(k.clone()), (v.as_i64().unwrap(), 0)))
        .collect();
    want.insert(None, (1, 0));
    assert_eq!(total, want);
    // a single shard is itself a Cache
    assert!(matches!(detect(&shards[0]).unwrap(), Layout::Cache { .. }));
}

#[test]
fn damaged_caches_give_one_line_errors() {
    let Some((_tmp, m)) = scenario("bad") else {
        return;
    };
    let damage = m["damage"].as_array().unwrap();
    let d = |i: usize| PathBuf::from(damage[i]["directory"].as_str().unwrap());
    let e = detect(&d(0)).unwrap_err();
    assert!(
        matches!(
            e,
            DiskcacheError::Sqlite { .. } | DiskcacheError::NotDiskcache(_)
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with(&d(0).join(DBNAME).display().to_string()) && !msg.contains('\n'),
        "{msg}"
    );
    let e = detect(&d(1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: not an SQLite database", d(1).join(DBNAME).display())
    );
    // a missing value file does not stop reading the database
    assert!(matches!(detect(&d(2)).unwrap(), Layout::Cache { .. }));
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        detect(tmp.path()),
        Err(DiskcacheError::NotFound(_))
    ));
    // an SQLite file that is not a diskcache
    let other = tmp.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE Cache (key BLOB); CREATE TABLE Settings (key, value);")
        .unwrap();
    assert!(matches!(
        detect(&other),
        Err(DiskcacheError::NotDiskcache(_))
    ));
}

fn check(dir: &Path) -> Json {
    run_json(
        "make_diskcache.py",
        &[dir.as_os_str(), "--scenario".as_ref(), "check".as_ref()],
    )
}

fn assert_clean(dir: &Path) {
    let c = check(dir);
    assert_eq!(c["warnings"], serde_json::json!([]), "Cache.check(): {c}");
    assert_eq!(c["settings_count"], c["rows"], "{c}");
    assert_eq!(c["settings_size"].as_f64(), c["rows_size"].as_f64(), "{c}");
}

/// Purges the rows `pick` selects that still satisfy `condition` inside their transaction.
fn purge_where(dir: &Path, pick: &str, condition: &str) -> PurgeReport {
    let mut report = PurgeReport::default();
    let sel = Selection {
        condition,
        pick_condition: pick,
        params: &[],
        setup: &register_functions,
        tag: "raw",
        keep: &|_| true,
    };
    let mut reported = 0;
    purge(
        dir,
        &sel,
        &mut report,
        &mut |rows| reported += rows.len(),
        &|| false,
    )
    .unwrap();
    assert_eq!(reported, report.deleted);
    report
}

#[test]
fn purge_deletes_rows_and_files_like_diskcache() {
    let Some((_tmp, m)) = scenario("memo") else {
        return;
    };
    let dir = PathBuf::from(m["directory"].as_str().unwrap());
    let db = dir.join(DBNAME);
    let conn = open_ro(&db).unwrap();
    let files: Vec<PathBuf> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["filename"].as_str())
        .map(|f| dir.join(f))
        .collect();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| f.is_file()));
    // Four rows are picked; inside the transaction plain-str no longer matches (as a row
    // rewritten between the read and the delete would not) and stays.
    let picked =
        "cs_memo_name(key, raw) = 'big.values' OR key IN ('text-file', 'bytes-file', 'plain-str')";
    let report = purge_where(
        &dir,
        picked,
        &format!("({picked}) AND key IS NOT 'plain-str'"),
    );
    assert_eq!(report.deleted, 3);
    assert_eq!(report.changed, 1);
    assert_eq!(report.files_removed, 3);
    let file_bytes: u64 = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["filename"].is_string())
        .map(|r| r["size"].as_u64().unwrap())
        .sum();
    assert_eq!(report.bytes, file_bytes);
    assert!(report.file_errors.is_empty());
    assert!(files
        .iter()
        .all(|f| !f.exists() && !f.parent().unwrap().exists()));
    let s = read_settings(&conn, &db).unwrap();
    // diskcache's triggers keep the count: it equals the rows left (the fixture's expiring key
    // may have been culled by diskcache itself before the purge, so not a fixed number).
    let rows_left: i64 = conn
        .query_row("SELECT count(*) FROM Cache", [], |r| r.get(0))
        .unwrap();
    assert_eq!(s.int("count"), Some(rows_left));
    assert!((19..=20).contains(&rows_left), "{rows_left} rows left");
    let plain: i64 = conn
        .query_row(
            "SELECT count(*) FROM Cache WHERE key = 'plain-str'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain, 1);
    let left: i64 = conn
        .query_row("SELECT total(size) FROM Cache", [], |r| r.get::<_, f64>(0))
        .unwrap() as i64;
    assert_eq!(s.int("size"), Some(left));
    assert_eq!(
        m["settings"]["size"].as_i64().unwrap() - left,
        report.bytes as i64
    );
    // purging again finds nothing
    let again = purge_where(
        &dir,
        picked,
        &format!("({picked}) AND key IS NOT 'plain-str'"),
    );
    assert_eq!((again.deleted, again.changed), (0, 1));
    drop(conn);
    assert_clean(&dir);
}

#[test]
fn purge_while_diskcache_writes() {
    let Some((_tmp, m)) = scenario("memo") else {
        return;
    };
    let dir = PathBuf::from(m["directory"].as_str().unwrap());
    let writer = Command::new("python3")
        .arg(script("make_diskcache.py"))
        .arg(&dir)
        .args(["--scenario", "churn", "--seconds", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut total = PurgeReport::default();
    let start = std::time::Instant::now();
    let mut rounds = 0;
    let churn =
        "cs_memo_name(key, raw) = 'churn.f' OR (raw = 1 AND key LIKE 'churn-%' AND rowid % 2 = 0)";
    while start.elapsed() < Duration::from_millis(3500) {
        std::thread::sleep(Duration::from_millis(150));
        let r = purge_where(&dir, churn, churn);
        assert!(r.file_errors.is_empty(), "{:?}", r.file_errors);
        total.deleted += r.deleted;
        total.changed += r.changed;
        total.files_removed += r.files_removed;
        rounds += 1;
    }
    let out = writer.wait_with_output().unwrap();
    assert!(out.status.success());
    let churn: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert!(churn["iterations"].as_u64().unwrap() > 10, "{churn}");
    assert!(rounds > 3);
    assert!(total.deleted > 0 && total.files_removed > 0, "{total:?}");
    assert_clean(&dir);
}

#[test]
fn purge_walks_sparse_rowids_to_the_last_one_and_stops_when_cancelled() {
    let Some((_tmp, m)) = scenario("memo") else {
        return;
    };
    let dir = PathBuf::from(m["directory"].as_str().unwrap());
    let db = dir.join(DBNAME);
    {
        // one real row moved far out: the rowid ranges must reach it, and no further
        let conn = Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE Cache SET rowid = 4611686018427387904 WHERE key = 'plain-str'",
            [],
        )
        .unwrap();
    }
    let all = "key IN ('plain-str', 'text-file')";
    let mut report = PurgeReport::default();
    let sel = Selection {
        condition: all,
        pick_condition: all,
        params: &[],
        setup: &register_functions,
        tag: "rowid",
        keep: &|_| true,
    };
    // cancelled before the first batch: nothing happens
    purge(&dir, &sel, &mut report, &mut |_| {}, &|| true).unwrap();
    assert_eq!(report, PurgeReport::default());
    let mut tags = Vec::new();
    purge(
        &dir,
        &sel,
        &mut report,
        &mut |rows| tags.extend(rows.iter().map(|r| r.tag)),
        &|| false,
    )
    .unwrap();
    assert_eq!(report.deleted, 2);
    assert_eq!(tags.len(), 2);
    assert!(tags.contains(&4611686018427387904), "{tags:?}");
    assert_clean(&dir);
}

#[test]
fn a_settings_value_that_is_not_utf8_reads_lossily_instead_of_panicking() {
    use rusqlite::types::{Value, ValueRef};
    assert_eq!(
        super::setting_value(ValueRef::Text(b"lru\xff")),
        Value::Text("lru\u{fffd}".into())
    );
    assert_eq!(
        super::setting_value(ValueRef::Integer(7)),
        Value::Integer(7)
    );
}
