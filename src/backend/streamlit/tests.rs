//! Tests of the Streamlit backend on hand-made folders (no Streamlit needed: the keys come from
//! [`key::derive_app_keys`], itself checked against the real Streamlit in `key/tests.rs`).

use super::*;
use crate::backend::{EntryFilter, PurgePlan};
use crate::status::Status;
use crate::verify::{verify_sources, PathMap};
use std::path::Path;

const PICKLE: &[u8] = b"\x80\x04K\x05.";
const VALUE_KEY: &str = "b6be2d453e5c87ce14fc5a333c7127fb";

const APP: &str = "import streamlit as st\n\n\n@st.cache_data(persist=\"disk\")\ndef f(x):\n    return x + 1\n\n\nf(1)\n";

fn memo(dir: &Path, function_key: &str, value_key: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(format!("{function_key}-{value_key}.memo"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Sets a file's modification time `secs` seconds into the past (out of the settle window).
fn age(path: &Path, secs: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn options(app: Option<&Path>, read_only: bool) -> Options {
    Options {
        open: OpenOptions {
            read_only,
            ..OpenOptions::default()
        },
        app: app.map(Path::to_path_buf),
        ..Options::default()
    }
}

/// Opens through the registry (detection by content), verifies and loads the statuses.
fn open_verified(dir: &Path, opts: &Options) -> (Box<dyn Backend>, Vec<EntryRow>) {
    let b = crate::backend::open(dir, opts).unwrap();
    assert_eq!(b.kind(), "streamlit");
    let sources = b.referenced_sources().unwrap();
    let checks = verify_sources(&sources, &PathMap::new(b.base_dir(), vec![]), &|_, _| {});
    let loaded = b
        .load_statuses(&mut checks.iter().map(|(id, c)| (*id, c.status)))
        .unwrap();
    let rows = b
        .entries_page(&EntryFilter::default(), Some(loaded), None, 1000)
        .unwrap();
    (b, rows)
}

/// The app's current key for `f`, and a folder with its file, a stale one, and junk.
fn app_fixture() -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let app_dir = tmp.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let app = app_dir.join("app.py");
    std::fs::write(&app, APP).unwrap();
    let keys = key::derive_app_keys(&app);
    assert_eq!(keys.keys.len(), 1, "{keys:?}");
    let current = keys.keys[0].function_key.clone();
    let cache = tmp.path().join("home/.streamlit/cache");
    std::fs::create_dir_all(&cache).unwrap();
    (tmp, app, cache, current)
}

#[test]
fn detection_is_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Empty, junk only, or a .memo that is not a pickle: not Streamlit's.
    assert!(!recognises(d).unwrap());
    std::fs::write(d.join("notes.txt"), "x").unwrap();
    memo(d, &"a".repeat(32), VALUE_KEY, b"not a pickle");
    assert!(!recognises(d).unwrap());
    let err = crate::backend::open(d, &Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("looked for "), "{err}");
    assert!(err.contains("Streamlit .memo files"), "{err}");
    // One real-looking .memo makes it Streamlit's, whatever the folder is called.
    memo(d, &"b".repeat(32), VALUE_KEY, PICKLE);
    assert!(recognises(d).unwrap());
}

#[test]
fn without_app_files_are_grouped_by_key_and_unverifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("cache");
    std::fs::create_dir(&d).unwrap();
    let k = "c".repeat(32);
    memo(&d, &k, VALUE_KEY, PICKLE);
    memo(&d, &k, &"d".repeat(32), PICKLE);
    let (b, rows) = open_verified(&d, &options(None, true));
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.function, format!("streamlit:{k}"));
        assert_eq!(r.strategy, "unknown");
        assert_eq!(r.status, Some(Status::Unverifiable));
        assert_eq!(r.value_size, PICKLE.len() as i64);
    }
    assert!(
        b.warnings().iter().any(|w| w.contains("no --app SCRIPT")),
        "{:?}",
        b.warnings()
    );
}

#[test]
fn with_app_a_current_key_is_fresh_and_an_orphan_changed() {
    let (_tmp, app, cache, current) = app_fixture();
    let fresh = memo(&cache, &current, VALUE_KEY, PICKLE);
    let orphan_key = "e".repeat(32);
    let orphan = memo(&cache, &orphan_key, VALUE_KEY, PICKLE);
    let (b, rows) = open_verified(&cache, &options(Some(&app), true));
    let by_key = |k: &str| rows.iter().find(|r| r.key.starts_with(k)).unwrap();
    let f = by_key(&current);
    assert_eq!(
        (f.function.as_str(), f.strategy.as_str(), f.status),
        ("__main__:f", "source", Some(Status::Fresh))
    );
    let o = by_key(&orphan_key);
    assert_eq!(o.status, Some(Status::Changed));
    assert_eq!(o.function, format!("streamlit:{orphan_key}"));
    // The orphan's detail says what may have unmatched it.
    let detail = b.entry_detail(o.id, 0).unwrap().unwrap();
    let x = crate::model::explain(detail, &PathMap::new(b.base_dir(), vec![]));
    assert_eq!(x.status, Status::Changed);
    assert!(x.source_check.unwrap().detail.is_some());
    let why = x.detail.source.unwrap().digest;
    assert!(why.starts_with(crate::verify::UNMATCHED_PREFIX), "{why}");
    assert!(why.contains("Edited") && why.contains("compiled"), "{why}");
    // The function's detail points at its span.
    let detail = b.entry_detail(f.id, 0).unwrap().unwrap();
    assert_eq!(detail.source.unwrap().span, Some((4, 6)));

    // Moving the function keeps the key, so the file stays fresh; an edit makes it an orphan.
    std::fs::write(&app, format!("# moved\n{APP}")).unwrap();
    let (_, rows) = open_verified(&cache, &options(Some(&app), true));
    assert_eq!(rows[0].status, Some(Status::Fresh), "{rows:?}");
    std::fs::write(&app, APP.replace("x + 1", "x + 2")).unwrap();
    let (_, rows) = open_verified(&cache, &options(Some(&app), true));
    assert!(rows.iter().all(|r| r.status == Some(Status::Changed)));

    // A default purge removes the stale files, and only them.
    std::fs::write(&app, APP).unwrap();
    for p in [&fresh, &orphan] {
        age(p, 60);
    }
    let (b, _) = open_verified(&cache, &options(Some(&app), false));
    let outcome = b
        .purge(
            &PurgePlan {
                filter: EntryFilter {
                    statuses: Status::DEFAULT_PURGE.to_vec(),
                    ..Default::default()
                },
                dry_run: false,
                cancel: None,
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((outcome.removed, outcome.skipped.len()), (1, 0));
    assert!(fresh.exists() && !orphan.exists());
}

#[test]
fn an_unscannable_app_file_leaves_orphans_unverifiable() {
    let (_tmp, app, cache, _) = app_fixture();
    std::fs::write(&app, "def f(:\n  x\n\t y\n    )))\n").unwrap();
    memo(&cache, &"e".repeat(32), VALUE_KEY, PICKLE);
    let (b, rows) = open_verified(&cache, &options(Some(&app), true));
    let scanned = b.warnings().iter().any(|w| w.contains("not scanned"));
    if scanned {
        assert_eq!(rows[0].status, Some(Status::Unverifiable));
    } else {
        // The scanner accepted it (it is not a parser): then the file is an ordinary orphan.
        assert_eq!(rows[0].status, Some(Status::Changed));
    }
}

#[test]
fn a_missing_app_is_one_error_naming_it() {
    let (tmp, _, cache, _) = app_fixture();
    memo(&cache, &"e".repeat(32), VALUE_KEY, PICKLE);
    let missing = tmp.path().join("nope.py");
    let err = crate::backend::open(&cache, &options(Some(&missing), true))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("nope.py"), "{err}");
}

#[test]
fn junk_is_warned_about_never_listed_opened_or_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = memo(d, &"a".repeat(32), VALUE_KEY, PICKLE);
    let truncated = memo(d, &"b".repeat(32), VALUE_KEY, b"\x80\x04K");
    let odd = d.join("AAAA-bbbb.memo");
    std::fs::write(&odd, PICKLE).unwrap();
    let fifo = d.join(format!("{}-{VALUE_KEY}.memo", "c".repeat(32)));
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for p in [&good, &truncated, &odd] {
        age(p, 60);
    }
    // Opening the FIFO for reading would block this test: it is never opened.
    let (b, rows) = open_verified(d, &options(None, false));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let w = b.warnings().join("\n");
    assert!(
        w.contains("AAAA-bbbb.memo") && w.contains("left alone"),
        "{w}"
    );
    assert!(w.contains("FIFO"), "{w}");
    assert!(w.contains("truncated"), "{w}");
    // Purge everything listed (by status: all unverifiable): the junk stays.
    let outcome = b
        .purge(
            &PurgePlan {
                filter: EntryFilter {
                    statuses: vec![Status::Unverifiable],
                    ..Default::default()
                },
                dry_run: false,
                cancel: None,
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(outcome.removed, 2);
    assert!(!good.exists() && !truncated.exists());
    assert!(odd.exists() && fifo.exists());
}

#[test]
fn a_file_being_written_is_left_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let settled = memo(d, &"a".repeat(32), VALUE_KEY, PICKLE);
    age(&settled, 60);
    let recent = memo(d, &"b".repeat(32), VALUE_KEY, PICKLE);
    let grows = memo(d, &"c".repeat(32), VALUE_KEY, PICKLE);
    age(&grows, 60);
    let (b, _) = open_verified(d, &options(None, false));
    // Written to after the listing (Streamlit writes in place).
    std::fs::write(&grows, b"\x80\x04K\x05K\x06.").unwrap();
    age(&grows, 60);
    let outcome = b
        .purge(
            &PurgePlan {
                filter: EntryFilter {
                    statuses: vec![Status::Unverifiable],
                    ..Default::default()
                },
                dry_run: false,
                cancel: None,
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(outcome.removed, 1);
    assert!(!settled.exists() && recent.exists() && grows.exists());
    let skipped = outcome.skipped.join("\n");
    assert!(skipped.contains("may still be being written"), "{skipped}");
    assert!(
        skipped.contains("rewritten since it was listed"),
        "{skipped}"
    );
}

#[test]
fn the_change_token_moves_when_a_file_is_added() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    memo(d, &"a".repeat(32), VALUE_KEY, PICKLE);
    let b = crate::backend::open(d, &Options::default()).unwrap();
    let before = b.change_token().unwrap();
    assert_eq!(before, b.change_token().unwrap());
    memo(d, &"b".repeat(32), VALUE_KEY, PICKLE);
    assert_ne!(before, b.change_token().unwrap());
}

#[test]
fn the_ledger_maps_files_exactly() {
    use crate::store::NewEntry;
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let so = tmp.path().join("mod.so");
    std::fs::write(&so, b"first build").unwrap();
    let ledger = tmp.path().join(LEDGER_NAME);
    let old_key = "1".repeat(32);
    {
        let store = Store::create(&ledger).unwrap();
        let source = store.record_file(&so, None).unwrap();
        store
            .put_entry(&NewEntry {
                namespace: "streamlit-data",
                function: "mod:five",
                key: &old_key,
                strategy: "bytecode",
                derivation_error: Some(
                    "TypeError: module, class, method, function, traceback, frame, or code \
                     object was expected, got cython_function_or_method",
                ),
                source_id: Some(source),
                value: None,
                value_type: None,
                created_at: 0,
                accessed_at: None,
                hits: 0,
                expires_at: None,
                dependencies: &[],
            })
            .unwrap();
    }
    std::fs::write(&so, b"second build").unwrap();
    memo(&cache, &old_key, VALUE_KEY, PICKLE);
    memo(&cache, &"2".repeat(32), VALUE_KEY, PICKLE);
    std::env::remove_var(LEDGER_ENV);
    let (_, rows) = open_verified(&cache, &options(None, true));
    assert_eq!(rows[0].function, "mod:five");
    assert_eq!(rows[0].strategy, "bytecode");
    assert_eq!(rows[0].status, Some(Status::Changed));
    assert!(rows[0]
        .derivation_error
        .as_deref()
        .unwrap()
        .contains("cython_function_or_method"));
    assert_eq!(rows[1].status, Some(Status::Unverifiable));
}
