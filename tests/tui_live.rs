//! A live store: while the TUI is open, a producer writes; the view refreshes on its own (the
//! worker polls `PRAGMA data_version`) without losing the selected group, entry or pane.

use cachescope::store::{NewEntry, Store};
use cachescope::tui::app::Pane;
use cachescope::tui::{Session, TuiOptions};
use ratatui::crossterm::event::KeyCode;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

#[test]
fn a_producer_writing_refreshes_the_view_and_the_selection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = cachescope::demo::write_demo(dir.path()).unwrap();
    let mut s = Session::start(&path, &TuiOptions::default(), (80, 24));
    assert!(s.settle(SETTLE));
    let before = s.app.all.as_ref().unwrap().entries;

    // The bytecode group, its entries pane, the fourth entry.
    for key in [
        KeyCode::Down,
        KeyCode::Down,
        KeyCode::Enter,
        KeyCode::Down,
        KeyCode::Down,
        KeyCode::Down,
    ] {
        s.key(key);
        assert!(s.settle(SETTLE));
    }
    let (group, pane, selected) = (s.app.group_sel, s.app.pane, s.app.selected_id());
    assert_eq!(pane, Pane::Entries);
    assert!(selected.is_some());

    // Another process (here another connection) writes the store.
    let producer = Store::create(&path).unwrap();
    producer
        .put_entry(&NewEntry {
            namespace: "data",
            function: "app.new:thing",
            key: "written-while-open",
            strategy: "bytecode",
            derivation_error: Some("TypeError: x"),
            value: Some(b"v"),
            created_at: chrono::Utc::now().timestamp_millis(),
            ..Default::default()
        })
        .unwrap();

    let refreshed = s.wait_until(Duration::from_secs(10), |app| {
        app.all
            .as_ref()
            .is_some_and(|all| all.entries == before + 1)
    });
    assert!(refreshed, "the view did not refresh after the write");
    assert!(s.settle(SETTLE));
    assert_eq!(s.app.group_sel, group, "the selected group moved");
    assert_eq!(s.app.pane, pane, "the focused pane changed");
    assert_eq!(s.app.selected_id(), selected, "the selected entry changed");
    assert_eq!(
        s.app.list_len,
        Some(18),
        "the bytecode group lists the new entry"
    );
}

/// The store file is replaced by another store (or deleted) while the TUI is open: the header
/// says so, and `D` `y` writes nothing into the file that was never opened.
#[test]
fn a_replaced_or_deleted_store_is_flagged_and_never_written() {
    for replace in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = cachescope::demo::write_demo(dir.path()).unwrap();
        let mut s = Session::start(&path, &TuiOptions::default(), (80, 24));
        assert!(s.settle(SETTLE));
        assert!(s.app.all.as_ref().unwrap().stale() > 0);

        let other_dir = tempfile::tempdir().unwrap();
        let other = cachescope::demo::write_demo(other_dir.path()).unwrap();
        if replace {
            std::fs::rename(&other, &path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let before = std::fs::read(&path).ok();
        let flagged = s.wait_until(Duration::from_secs(10), |app| app.store_gone.is_some());
        assert!(flagged, "the TUI did not notice (replace: {replace})");
        assert_eq!(s.app.notice, Some("STORE REPLACED"));
        s.key(KeyCode::Char('D'));
        assert!(s.settle(SETTLE));
        s.key(KeyCode::Char('y'));
        assert!(s.settle(SETTLE));
        let msg = s.app.message.clone().unwrap_or_default();
        assert!(msg.contains("nothing is invalidated"), "{msg}");
        assert_eq!(
            std::fs::read(&path).ok(),
            before,
            "the file at the path changed"
        );
    }
}
