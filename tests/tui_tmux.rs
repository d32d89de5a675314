//! End to end: the real binary in tmux at 80x24 on a demo store with stale entries. Waits for
//! verification, invalidates every stale entry with `D` then `y`, quits with `q`, and checks the
//! store: exactly the stale (changed, missing, failed) entries are gone, and the terminal was
//! restored (the shell's screen is back, the process exited 0).
//!
//! Needs tmux: skipped with a message when it is missing, failed when `CI` is set.

mod common;

use cachescope::model;
use cachescope::status::Status;
use cachescope::store::{EntryFilter, OpenOptions, Store};
use cachescope::verify::PathMap;
use common::tmux::Tmux;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long a screen may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(30);

fn ids(store: &Store, statuses: &[Status]) -> BTreeSet<i64> {
    let filter = EntryFilter {
        statuses: statuses.to_vec(),
        ..Default::default()
    };
    store
        .matching_ids(&filter, true)
        .unwrap()
        .into_iter()
        .map(|id| id.0)
        .collect()
}

fn open(path: &Path) -> Store {
    Store::open(path, &OpenOptions::default()).unwrap()
}

/// Whether the test can run: tmux is required under CI, skipped with a message elsewhere.
fn have_tmux(test: &str) -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tmux is required under CI (.ci/run installs it)"
    );
    eprintln!("skipping {test}: tmux is not installed");
    false
}

/// Starts the real binary on `store` in a fresh 80x24 tmux session, under a shell that
/// reports its exit code and whether the terminal is back in canonical (cooked) mode.
fn launch(store: &Path, name: &str) -> Tmux {
    launch_with(store, name, "")
}

/// [`launch`] with extra arguments (`--mouse`).
fn launch_with(store: &Path, name: &str, args: &str) -> Tmux {
    let script = format!(
        "'{}' {args} '{}'; echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon | sed 's/^/MODE=/'; sleep 60",
        env!("CARGO_BIN_EXE_cachescope"),
        store.display()
    );
    Tmux::start(name, &script)
}

/// After the app exits: exit code 0, the shell's screen back, the terminal out of raw mode.
fn assert_restored(tmux: &Tmux) {
    assert_restored_with(tmux, 0);
}

/// After the app exits with `code`: the shell's screen back, the terminal out of raw mode,
/// the cursor shown, mouse tracking off. Returns the screen.
fn assert_restored_with(tmux: &Tmux, code: i32) -> String {
    let after = tmux.wait_for("the exit", WAIT, |s| s.contains("MODE="));
    assert!(after.contains(&format!("EXIT={code}\n")), "{after}");
    let flags = tmux.cmd(&[
        "display-message",
        "-p",
        "-t",
        "main",
        "alt=#{alternate_on} cursor=#{cursor_flag} mouse=#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}#{mouse_all_flag}",
    ]);
    let flags = String::from_utf8_lossy(&flags.stdout);
    assert_eq!(flags.trim(), "alt=0 cursor=1 mouse=0000", "{after}");
    assert!(
        after.contains("MODE=icanon"),
        "terminal left in raw mode: {after}"
    );
    assert!(
        !after.contains("groups by"),
        "the alternate screen was not left: {after}"
    );
    after
}

/// Sends `signal` to the cachescope process under the tmux pane's shell.
fn kill_app(tmux: &Tmux, signal: &str) {
    let shell = tmux.pane_pid().to_string();
    let killed = Command::new("pkill")
        .args([&format!("-{signal}"), "-P", &shell, "-x", "cachescope"])
        .status()
        .expect("pkill");
    assert!(
        killed.success(),
        "no cachescope process under the shell {shell}"
    );
}

#[test]
fn every_ending_signal_restores_the_terminal_and_sets_the_exit_code() {
    if !have_tmux("every_ending_signal_restores_the_terminal_and_sets_the_exit_code") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = cachescope::demo::write_demo(dir.path()).unwrap();
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129), ("QUIT", 131)] {
        let tmux = launch_with(&path, &format!("sig{signal}"), "--mouse");
        tmux.wait_for("verification", WAIT, |s| s.contains("stale:"));
        kill_app(&tmux, signal);
        let after = assert_restored_with(&tmux, code);
        assert!(
            after.contains(&format!("stopped by SIG{signal}")),
            "{after}"
        );
    }
}

#[test]
fn a_signal_during_a_purge_stops_it_between_batches_and_says_what_was_removed() {
    if !have_tmux("a_signal_during_a_purge_stops_it_between_batches_and_says_what_was_removed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    drop(Store::create(&path).unwrap());
    let total = 400_000i64;
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        let tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO sources (id, path, digest, recorded_at) VALUES (1, 'gone.py', 'sha256:00', 0)",
            [],
        )
        .unwrap();
        tx.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO entries (namespace, function, key, strategy, source_id, value, value_size, created_at) \
             SELECT 'd', 'm:f', 'k' || i, 'source', 1, zeroblob(100), 100, 0 FROM n",
            [total],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let tmux = launch(&path, "sigpurge");
    tmux.wait_for("verification", WAIT, |s| s.contains("stale:"));
    tmux.keys("D");
    tmux.wait_for("the confirmation", WAIT, |s| s.contains("Invalidate"));
    tmux.keys("y");
    tmux.wait_for("the purge under way", WAIT, |s| {
        s.lines()
            .any(|l| l.contains("invalidating…") && !l.contains(" 0/"))
    });
    kill_app(&tmux, "TERM");
    let after = assert_restored_with(&tmux, 143);
    let line = after
        .lines()
        .find(|l| l.contains("stopped by SIGTERM"))
        .unwrap_or_else(|| panic!("{after}"));
    let removed: i64 = line
        .split("removed ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(removed > 0 && removed < total, "{line}");
    let left = ids(&open(&path), &[]).len() as i64;
    assert_eq!(left, total - removed, "{line}");
}

#[test]
fn sigterm_quits_and_restores_the_terminal() {
    if !have_tmux("sigterm_quits_and_restores_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = cachescope::demo::write_demo(dir.path()).unwrap();
    let tmux = launch(&path, "sigterm");
    tmux.wait_for("verification", WAIT, |s| s.contains("stale:"));
    let shell = tmux.pane_pid().to_string();
    let killed = Command::new("pkill")
        .args(["-TERM", "-P", &shell, "-x", "cachescope"])
        .status()
        .expect("pkill");
    assert!(
        killed.success(),
        "no cachescope process under the shell {shell}"
    );
    assert_restored_with(&tmux, 143);
}

#[test]
fn invalidate_stale_entries_in_tmux() {
    if !have_tmux("invalidate_stale_entries_in_tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = cachescope::demo::write_demo(dir.path()).unwrap();

    // What should go, computed with the library before the TUI touches anything.
    let (before, stale) = {
        let store = open(&path);
        let map = PathMap::new(store.base_dir(), Vec::new());
        model::verify_store(&store, &map, &|_, _| {}).unwrap();
        (ids(&store, &[]), ids(&store, &Status::DEFAULT_PURGE))
    };
    assert!(!stale.is_empty() && stale.len() < before.len());
    let expected: BTreeSet<i64> = before.difference(&stale).copied().collect();

    let tmux = launch(&path, "invalidate");
    tmux.wait_for("verification", WAIT, |s| s.contains("stale:"));
    tmux.keys("D");
    let dialog = tmux.wait_for("the confirmation", WAIT, |s| s.contains("Invalidate"));
    assert!(
        dialog.contains(&format!("Invalidate {} entries", stale.len())),
        "{dialog}"
    );
    tmux.keys("y");
    let done = tmux.wait_for("the purge and refresh", WAIT, |s| {
        s.contains("nothing stale")
    });
    assert!(
        done.contains(&format!("removed {} entries", stale.len())),
        "{done}"
    );
    assert!(
        done.contains(&format!("{} entries", expected.len())),
        "{done}"
    );
    tmux.keys("q");
    assert_restored(&tmux);

    let store = open(&path);
    assert_eq!(
        ids(&store, &[]),
        expected,
        "exactly the stale entries are gone"
    );
}
