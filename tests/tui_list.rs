//! The entries pane on a real store larger than a few pages: the worker keeps the sorted list
//! (a TEMP table of its connection) and the app pages through it by position. Sorting by size
//! and by status (after verification), paging to the end and back, the rows' statuses, and the
//! selection kept on its entry when a producer's write refreshes the list.

use cachescope::status::Status;
use cachescope::store::{EntryId, NewEntry, Store};
use cachescope::tui::app::{Pane, PAGE};
use cachescope::tui::{Session, TuiOptions};
use ratatui::crossterm::event::KeyCode;
use std::path::Path;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(30);
const ENTRIES: i64 = 1000;

/// One entry as written: its id, size and status.
#[derive(Debug, Clone, Copy)]
struct Written {
    id: EntryId,
    size: i64,
    status: Status,
}

/// A store of `ENTRIES` entries (almost eight pages) over a fresh file, a changed one and a
/// missing one, some without a source; sizes repeat, so ties are broken by id.
fn store(dir: &Path) -> (std::path::PathBuf, Vec<Written>) {
    let path = dir.join("cache.db");
    let s = Store::create(&path).unwrap();
    let mut sources = Vec::new();
    for name in ["fresh.py", "changed.py", "gone.py"] {
        let file = dir.join(name);
        std::fs::write(&file, format!("# {name}\n")).unwrap();
        sources.push(s.record_file(&file, None).unwrap());
    }
    std::fs::write(dir.join("changed.py"), "# edited since\n").unwrap();
    std::fs::remove_file(dir.join("gone.py")).unwrap();
    let own = [
        (Some(sources[0]), Status::Fresh),
        (Some(sources[1]), Status::Changed),
        (Some(sources[2]), Status::Missing),
        (None, Status::Unverifiable),
    ];
    let mut written = Vec::new();
    s.write(|s| {
        for i in 0..ENTRIES {
            let (source, status) = own[(i % 4) as usize];
            let size = i * 37 % 101;
            let id = s.put_entry(&NewEntry {
                namespace: "data",
                function: &format!("app.mod:f{:02}", i % 13),
                key: &format!("key-{i}"),
                strategy: "source",
                source_id: source,
                value: Some(&vec![b'v'; size as usize]),
                created_at: 1_700_000_000_000 + i,
                ..Default::default()
            })?;
            written.push(Written {
                id: EntryId(id),
                size,
                status,
            });
        }
        Ok(())
    })
    .unwrap();
    (path, written)
}

fn press(s: &mut Session, keys: &[KeyCode]) {
    for k in keys {
        s.key(*k);
        assert!(s.settle(SETTLE), "the worker did not settle after {k:?}");
    }
}

/// The selected row, which must be loaded.
fn selected(s: &Session) -> (EntryId, Option<Status>) {
    let row = s.app.selected_row().expect("the selected row is loaded");
    (row.id, row.status)
}

#[test]
fn sorting_and_paging_a_list_of_many_pages_kept_by_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = store(dir.path());
    assert!(written.len() > 7 * PAGE);
    let mut s = Session::start(&path, &TuiOptions::default(), (80, 24));
    assert!(s.settle(SETTLE));
    assert_eq!(s.app.entry_count(), ENTRIES as usize);
    press(&mut s, &[KeyCode::Enter]);
    assert_eq!(s.app.pane, Pane::Entries);
    // Verified: the rows on screen were fetched again with their statuses (the list itself,
    // by function, did not depend on them).
    assert!(s.app.verified);
    assert!(selected(&s).1.is_some(), "rows come with statuses");

    // By size, ascending then descending; ties by id in the same direction.
    let mut by_size = written.clone();
    by_size.sort_by_key(|w| (w.size, w.id));
    press(&mut s, &[KeyCode::Char('3')]);
    assert_eq!(selected(&s).0, by_size[0].id);
    press(&mut s, &[KeyCode::Char('3')]);
    by_size.reverse();
    assert_eq!(selected(&s).0, by_size[0].id);
    // Page by page to the end, each selected row the one at its position in the list.
    for _ in 0..60 {
        press(&mut s, &[KeyCode::PageDown]);
        assert_eq!(selected(&s).0, by_size[s.app.entry_sel].id);
    }
    press(&mut s, &[KeyCode::End]);
    assert_eq!(s.app.entry_sel, ENTRIES as usize - 1);
    assert_eq!(selected(&s).0, by_size[ENTRIES as usize - 1].id);
    press(&mut s, &[KeyCode::PageUp, KeyCode::Up]);
    assert_eq!(selected(&s).0, by_size[s.app.entry_sel].id);
    press(&mut s, &[KeyCode::Home]);
    assert_eq!(selected(&s).0, by_size[0].id);
    // Only the ids of the pages near the viewport are held.
    assert!(s.app.page_ids.len() <= 3, "{:?}", s.app.page_ids.keys());

    // By status (verification is done): best first, then worst first.
    let mut by_status = written.clone();
    by_status.sort_by_key(|w| (w.status, w.id));
    press(&mut s, &[KeyCode::Char('2')]);
    assert_eq!(selected(&s), (by_status[0].id, Some(Status::Fresh)));
    press(&mut s, &[KeyCode::Char('2')]);
    by_status.reverse();
    assert_eq!(selected(&s), (by_status[0].id, Some(Status::Missing)));
    for _ in 0..40 {
        press(&mut s, &[KeyCode::PageDown]);
        let w = by_status[s.app.entry_sel];
        assert_eq!(selected(&s), (w.id, Some(w.status)));
    }
    press(&mut s, &[KeyCode::End]);
    assert_eq!(selected(&s), (by_status[999].id, Some(Status::Fresh)));
}

#[test]
fn a_producers_write_refreshes_the_list_and_the_selection_stays_on_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = store(dir.path());
    let mut s = Session::start(&path, &TuiOptions::default(), (80, 24));
    assert!(s.settle(SETTLE));
    // Worst first, then well into the list (past the first pages).
    press(
        &mut s,
        &[KeyCode::Enter, KeyCode::Char('2'), KeyCode::Char('2')],
    );
    for _ in 0..40 {
        press(&mut s, &[KeyCode::PageDown]);
    }
    let (at, (id, status)) = (s.app.entry_sel, selected(&s));
    assert!(at > 2 * PAGE, "{at}");
    assert_eq!(status, Some(Status::Changed));
    assert!(written.iter().any(|w| w.id == id));

    // A new entry over a source verification has not seen: it sorts first, worst first.
    let producer = Store::create(&path).unwrap();
    let file = dir.path().join("new.py");
    std::fs::write(&file, "# new\n").unwrap();
    let source = producer.record_file(&file, None).unwrap();
    producer
        .put_entry(&NewEntry {
            namespace: "data",
            function: "app.new:g",
            key: "written-while-open",
            strategy: "source",
            source_id: Some(source),
            value: Some(b"v"),
            created_at: 1_700_000_000_000,
            ..Default::default()
        })
        .unwrap();
    drop(producer);
    assert!(
        s.wait_until(SETTLE, |app| app.entry_count() == ENTRIES as usize + 1),
        "the list did not refresh"
    );
    assert!(s.settle(SETTLE));
    assert_eq!(selected(&s).0, id, "the selection stays on its entry");
    assert_eq!(s.app.entry_sel, at + 1, "one position further down");
    press(&mut s, &[KeyCode::Home]);
    assert_eq!(
        s.app.selected_row().map(|r| r.key.as_str()),
        Some("written-while-open")
    );
}
