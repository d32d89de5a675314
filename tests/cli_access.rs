//! Access as another user (the SSH case): an operator who can read a store but not write its
//! directory. Runs the binary as a real non-root user (`useradd`, `runuser`) on files owned by
//! root in a directory with mode 755. Needs root: skipped with a message otherwise, failed under
//! CI.

mod common;

use cachescope::store::{NewEntry, Store};
use common::python::{have, manifest};
use common::tmux::Tmux;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: &str = "cachescope-op";

fn as_root(test: &str) -> bool {
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        let exists = Command::new("id")
            .arg(USER)
            .output()
            .unwrap()
            .status
            .success();
        if !exists {
            let made = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/bin/sh", USER])
                .status()
                .unwrap();
            // Two tests may race to create the user; either way it exists now.
            assert!(made.success() || Command::new("id").arg(USER).status().unwrap().success());
        }
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root under CI"
    );
    eprintln!("skipping {test}: not root");
    false
}

/// A WAL store with one failed entry in a fresh 755 directory owned by root; no -wal/-shm left.
fn root_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("cache.db");
    let store = Store::create(&path).unwrap();
    store
        .put_entry(&NewEntry {
            namespace: "data",
            function: "m:f",
            key: "k",
            strategy: "bytecode",
            derivation_error: Some("TypeError: x"),
            value: Some(b"v"),
            created_at: 1,
            ..Default::default()
        })
        .unwrap();
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

fn run_as_operator(args: &[&str], store: &Path) -> common::Run {
    let out = Command::new("runuser")
        .args(["-u", USER, "--", env!("CARGO_BIN_EXE_cachescope")])
        .args(args)
        .arg(store)
        .output()
        .unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
        raw_stderr: out.stderr,
    }
}

#[test]
fn an_operator_reads_a_wal_store_in_a_directory_it_cannot_write() {
    if !as_root("an_operator_reads_a_wal_store_in_a_directory_it_cannot_write") {
        return;
    }
    let (dir, path) = root_store();
    let before = common::dir_snapshot(dir.path());
    for args in [
        vec!["summary"],
        vec!["verify"],
        vec!["list", "--json"],
        vec!["purge", "--dry-run"],
    ] {
        let r = run_as_operator(&args, &path);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {:?}", r.stderr);
        assert!(
            lines[0].contains("warning") && lines[0].contains("opened immutable"),
            "{}",
            r.stderr
        );
        assert!(
            lines[0].contains(&dir.path().display().to_string()),
            "{}",
            r.stderr
        );
    }
    let r = run_as_operator(&["list", "--json"], &path);
    assert_eq!(r.json()[0]["key"], "k");
    // A real purge cannot write: refused, one line, nothing changed.
    let r = run_as_operator(&["purge"], &path);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(common::dir_snapshot(dir.path()), before);
}

#[test]
fn a_wal_without_shm_in_an_unwritable_directory_says_why_and_what_to_do() {
    if !as_root("a_wal_without_shm_in_an_unwritable_directory_says_why_and_what_to_do") {
        return;
    }
    let (dir, path) = root_store();
    // A producer's uncheckpointed -wal, its -shm gone.
    let wal = dir.path().join("cache.db-wal");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute("UPDATE entries SET hits = 1", []).unwrap();
        std::fs::copy(&wal, dir.path().join("saved-wal")).unwrap();
    }
    std::fs::rename(dir.path().join("saved-wal"), &wal).unwrap();
    std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!dir.path().join("cache.db-shm").exists());
    let before = common::dir_snapshot(dir.path());
    let r = run_as_operator(&["summary"], &path);
    r.assert_refused(&path, "cannot be read");
    assert!(r.stderr.contains("-wal file but no -shm"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&dir.path().display().to_string()),
        "{}",
        r.stderr
    );
    assert_eq!(common::dir_snapshot(dir.path()), before);
}

#[test]
fn the_tui_header_says_immutable_for_the_operator() {
    if !as_root("the_tui_header_says_immutable_for_the_operator") {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required under CI"
        );
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let (_dir, path) = root_store();
    let script = format!(
        "runuser -u {USER} -- '{}' '{}'; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_cachescope"),
        path.display()
    );
    let tmux = Tmux::start_sized("access", &script, 100, 24);
    let screen = tmux.wait_for("the IMMUTABLE badge", Duration::from_secs(30), |s| {
        s.contains("IMMUTABLE") && s.contains("stale:")
    });
    assert!(screen.contains("READ-ONLY"), "{screen}");
    tmux.keys("q");
    let s = tmux.wait_for("the exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
}

/// A diskcache written by the real library in a directory the operator cannot write (closed
/// cleanly, so no -wal or -shm): every read command works, immutable and saying so; a purge is
/// refused; nothing is created.
#[test]
fn an_operator_reads_a_diskcache_in_a_directory_it_cannot_write() {
    if !as_root("an_operator_reads_a_diskcache_in_a_directory_it_cannot_write") {
        return;
    }
    if !have(&["diskcache"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = manifest(
        "make_diskcache.py",
        &[dir.path().to_str().unwrap(), "--scenario", "memo"],
    );
    let cache = PathBuf::from(m["directory"].as_str().unwrap());
    // world-readable, like a cache an app writes with a 022 umask
    for entry in walk(&cache) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    assert!(!cache.join("cache.db-wal").exists() && !cache.join("cache.db-shm").exists());
    let before = common::dir_snapshot(&cache);
    let rows = m["rows"].as_array().unwrap().len();
    for args in [vec!["summary"], vec!["verify"], vec!["purge", "--dry-run"]] {
        let r = run_as_operator(&args, &cache);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("opened immutable"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run_as_operator(&["list", "--json"], &cache);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json().as_array().unwrap().len(), rows);
    let r = run_as_operator(&["purge", "--status", "unverifiable"], &cache);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(common::dir_snapshot(&cache), before);
}

/// Every path under `dir`, itself included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
