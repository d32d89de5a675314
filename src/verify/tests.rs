use super::*;
use crate::digest::Algorithm;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;

fn row(id: i64, path: &str, span: Option<(u64, u64)>, digest: String) -> SourceRow {
    SourceRow {
        span,
        ..SourceRow::whole(id, path, &digest)
    }
}

/// The checks by raw row id, so assertions read `r[&1]`.
fn check(dir: &Path, rows: &[SourceRow]) -> HashMap<i64, SourceCheck> {
    verify_sources(rows, &PathMap::new(dir, vec![]), &|_, _| {})
        .into_iter()
        .map(|(id, c)| (id.0, c))
        .collect()
}

#[test]
fn statuses_for_fresh_moved_changed_missing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.py");
    fs::write(&f, "def f():\n    return 1\n").unwrap();
    let span_digest = digest::format(Algorithm::Sha256, b"def f():\n    return 1\n");
    let whole = digest::format(Algorithm::Sha256, b"def f():\n    return 1\n");
    let rows = vec![
        row(1, "m.py", Some((1, 2)), span_digest.clone()),
        row(2, "m.py", None, whole),
        row(3, "gone.py", None, span_digest.clone()),
    ];
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Fresh);
    assert_eq!(r[&2].status, Status::Fresh);
    assert_eq!(r[&3].status, Status::Missing);

    fs::write(&f, "import os\n\ndef f():\n    return 1\n").unwrap();
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Moved);
    assert_eq!(r[&1].moved_to, Some((3, 4)));
    assert_eq!(r[&2].status, Status::Changed);

    fs::write(&f, "def f():\n    return 2\n").unwrap();
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Changed);
    assert_eq!(
        r[&1].current_digest.as_deref(),
        Some(digest::format(Algorithm::Sha256, b"def f():\n    return 2\n").as_str())
    );
}

#[test]
fn directories_devices_and_fifos_are_unreadable_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let d = digest::format(Algorithm::Sha256, b"");
    let rows = vec![
        row(1, "pipe", None, d.clone()),
        row(2, "/dev/zero", None, d.clone()),
        row(3, dir.path().to_str().unwrap(), None, d.clone()),
        row(4, "pipe", Some((1, 1)), d),
    ];
    // A FIFO with no writer would block a plain open forever; this returns at once.
    let r = check(dir.path(), &rows);
    for id in 1..=4 {
        assert_eq!(r[&id].status, Status::Unreadable, "row {id}: {:?}", r[&id]);
    }
    assert!(r[&1].detail.as_deref().unwrap().contains("FIFO"));
    assert!(r[&2].detail.as_deref().unwrap().contains("device"));
    assert!(r[&3].detail.as_deref().unwrap().contains("directory"));
}

#[test]
fn unknown_algorithm_and_invalid_spans_are_unreadable_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a"), "x\n").unwrap();
    let mut bad_span = row(2, "a", None, digest::format(Algorithm::Sha256, b"x\n"));
    bad_span.invalid_span = true;
    let rows = vec![row(1, "a", None, "md5:00".into()), bad_span];
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Unreadable);
    assert!(r[&1].detail.as_deref().unwrap().contains("md5"));
    assert_eq!(r[&2].status, Status::Unreadable);
}

#[test]
fn a_row_that_cannot_be_checked_is_missing_when_its_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad_span = row(2, "gone", None, digest::format(Algorithm::Sha256, b"x\n"));
    bad_span.invalid_span = true;
    let rows = vec![row(1, "gone", None, "md5:00".into()), bad_span];
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Missing);
    assert_eq!(r[&2].status, Status::Missing);
}

#[test]
fn unreadable_permissions_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret");
    fs::write(&f, "x").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&f).is_ok() {
        return; // running as root: permissions do not apply, nothing to observe
    }
    let r = check(
        dir.path(),
        &[row(
            1,
            "secret",
            None,
            digest::format(Algorithm::Sha256, b"x"),
        )],
    );
    assert_eq!(r[&1].status, Status::Unreadable);
}

#[test]
fn remapped_paths_are_read_from_their_new_place() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("m.py"), "x\n").unwrap();
    let map = PathMap::new(
        "/nowhere",
        vec![("/build/host".into(), dir.path().to_path_buf())],
    );
    let rows = [row(
        1,
        "/build/host/m.py",
        None,
        digest::format(Algorithm::Sha256, b"x\n"),
    )];
    let r = verify_sources(&rows, &map, &|_, _| {});
    assert_eq!(r[&SourceId(1)].status, Status::Fresh);
}

#[test]
fn each_file_is_read_once_for_many_rows_and_progress_reaches_the_total() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("m.py"), "a\nb\nc\n").unwrap();
    let rows: Vec<_> = (1..=3)
        .map(|i| {
            let line = ["a\n", "b\n", "c\n"][i as usize - 1];
            row(
                i,
                "m.py",
                Some((i as u64, i as u64)),
                digest::format(Algorithm::Sha256, line.as_bytes()),
            )
        })
        .collect();
    let last = std::sync::Mutex::new((0, 0));
    let r = verify_sources(&rows, &PathMap::new(dir.path(), vec![]), &|d, t| {
        *last.lock().unwrap() = (d, t)
    });
    assert!(r.values().all(|c| c.status == Status::Fresh));
    assert_eq!(*last.lock().unwrap(), (3, 3));
}

#[test]
fn a_fifo_is_never_opened_so_a_writer_waiting_on_it_stays_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // A writer's open blocks until some reader opens the FIFO.
    let (tx, rx) = std::sync::mpsc::channel();
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        let opened = std::fs::OpenOptions::new().write(true).open(&writer_path);
        tx.send(opened.is_ok()).unwrap();
    });
    let r = check(
        dir.path(),
        &[row(1, "pipe", None, digest::format(Algorithm::Sha256, b""))],
    );
    assert_eq!(r[&1].status, Status::Unreadable);
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "verification opened the FIFO: the blocked writer was released"
    );
    // Release the writer ourselves so the thread ends.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    assert!(rx.recv().unwrap());
    writer.join().unwrap();
}

#[test]
fn an_empty_recorded_path_is_unreadable_rather_than_the_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let r = check(
        dir.path(),
        &[row(1, "", None, digest::format(Algorithm::Sha256, b""))],
    );
    assert_eq!(r[&1].status, Status::Unreadable);
    assert_eq!(r[&1].detail.as_deref(), Some("empty path in the store"));
}

#[test]
fn mtime_sources_are_changed_only_when_modified_after_the_entry_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("fast.cpython-311-x86_64-linux-gnu.so");
    fs::write(&so, b"\x7fELF").unwrap();
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
    fs::File::options()
        .write(true)
        .open(&so)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let at = |secs: i64| format!("{MTIME_PREFIX}{}", secs as i128 * 1_000_000_000);
    let rows = [
        row(
            1,
            "fast.cpython-311-x86_64-linux-gnu.so",
            None,
            at(1_999_999_999),
        ),
        row(
            2,
            "fast.cpython-311-x86_64-linux-gnu.so",
            None,
            at(2_000_000_001),
        ),
        row(3, "gone.so", None, at(1)),
        row(
            4,
            "fast.cpython-311-x86_64-linux-gnu.so",
            None,
            "mtime:soon".into(),
        ),
    ];
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Changed);
    assert!(r[&1]
        .detail
        .as_deref()
        .unwrap()
        .contains("judged by modification time"));
    assert_eq!(r[&2].status, Status::Unverifiable);
    assert!(r[&2]
        .detail
        .as_deref()
        .unwrap()
        .contains("not modified since"));
    assert_eq!(r[&3].status, Status::Missing);
    assert_eq!(r[&4].status, Status::Unreadable);
}

#[test]
fn unmatched_keys_are_changed_while_the_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.py"), b"print(1)\n").unwrap();
    fs::create_dir(dir.path().join("pkg")).unwrap();
    let why = format!("{UNMATCHED_PREFIX}no function of app.py has this key now");
    let rows = [
        row(1, "app.py", None, why.clone()),
        row(2, "gone.py", None, why.clone()),
        row(3, "pkg", None, why),
    ];
    let r = check(dir.path(), &rows);
    assert_eq!(r[&1].status, Status::Changed);
    assert!(r[&1].detail.is_some());
    assert_eq!(r[&2].status, Status::Missing);
    assert_eq!(r[&3].status, Status::Unreadable);
}

#[test]
fn a_path_with_a_trailing_slash_is_checked_apart_from_the_file() {
    // `Path` equality ignores the slash; the two open differently (the second is no file), and
    // whichever was read first used to decide both, so a fresh file could read as missing.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("reg"), "R\n").unwrap();
    let d = digest::format(Algorithm::Sha256, b"R\n");
    let r = check(
        dir.path(),
        &[row(1, "reg", None, d.clone()), row(2, "reg/", None, d)],
    );
    assert_eq!(r[&1].status, Status::Fresh);
    assert_ne!(r[&2].status, Status::Fresh);
}
