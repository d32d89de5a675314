//! `update` unit tests: key handling, selection, paging, marking, filter, sort, confirmation
//! flows, read-only refusal. No worker, no terminal: effects are checked as data.

use super::action::Action;
use super::app::{App, Column, Mode, Pane, PurgeTarget, PAGE};
use super::keys::key_action;
use super::update::update;
use super::worker::{Effect, Msg};
use crate::backend::{EntryId, EntryRow};
use crate::model::{Group, GroupKey, Grouping};
use crate::status::Status;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

fn ids(raw: &[i64]) -> Vec<EntryId> {
    raw.iter().copied().map(EntryId).collect()
}

fn app() -> App {
    let mut a = App::new("demo/cache.db".into(), false, false);
    update(&mut a, Action::Resize(80, 24));
    a
}

fn key(a: &mut App, code: KeyCode) -> Vec<Effect> {
    let action = key_action(a.mode, KeyEvent::new(code, KeyModifiers::NONE));
    update(a, action)
}

fn msg(a: &mut App, m: Msg) -> Vec<Effect> {
    update(a, Action::Worker(m))
}

fn row(id: i64, function: &str, size: i64) -> EntryRow {
    EntryRow {
        id: EntryId(id),
        namespace: "data".into(),
        function: function.into(),
        key: format!("key{id}"),
        strategy: "source".into(),
        derivation_error: None,
        source_id: None,
        source_path: None,
        value_size: size,
        value_type: None,
        created_at: 0,
        accessed_at: None,
        hits: 0,
        expires_at: None,
        status: Some(Status::Fresh),
    }
}

fn group(key: GroupKey, entries: u64) -> Group {
    Group {
        key,
        entries,
        bytes: entries * 10,
        statuses: BTreeMap::from([(Status::Fresh, entries)]),
        unchecked: 0,
    }
}

/// An app past start-up with `n` entries (ids 1..=n) in `all` and the first page loaded.
fn loaded(n: i64) -> App {
    let mut a = app();
    update(&mut a, Action::Start);
    msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all: group(GroupKey::All, n as u64),
            groups: vec![
                group(GroupKey::Strategy("source".into()), 1),
                group(GroupKey::Strategy("bytecode".into()), 1),
            ],
            statuses: false,
        },
    );
    let list: Vec<EntryId> = (1..=n).map(EntryId).collect();
    let fx = answer(&mut a, &list, &[]);
    let rows = (1..=n.min(PAGE as i64))
        .map(|i| row(i, "m:f", i * 100))
        .collect();
    let gen = a.list_gen;
    let ids = ids(&(1..=n.min(PAGE as i64)).collect::<Vec<_>>());
    msg(
        &mut a,
        Msg::Rows {
            gen,
            page: 0,
            ids,
            rows,
        },
    );
    assert!(fx.contains(&Effect::Rows { gen, page: 0 }));
    a
}

/// Answers the list effects among `fx` (the last one, as the worker's coalescing does) the
/// way the worker does, from `list` as the backend's list: its length, where `keep` stands,
/// and the ids of the page of the selection and one on each side. Returns the new effects.
fn answer(a: &mut App, list: &[EntryId], fx: &[Effect]) -> Vec<Effect> {
    let (gen, keep, at) = match fx.iter().rev().find(|e| matches!(e, Effect::List { .. })) {
        Some(Effect::List { gen, keep, at, .. }) => (*gen, *keep, *at),
        _ => (a.list_gen, None, 0),
    };
    let kept = keep.and_then(|k| list.iter().position(|id| *id == k));
    let around = kept.unwrap_or(at).min(list.len().saturating_sub(1));
    let first_page = (around / PAGE).saturating_sub(1);
    let start = (first_page * PAGE).min(list.len());
    let end = (start + 3 * PAGE).min(list.len());
    msg(
        a,
        Msg::List {
            gen,
            len: list.len() as u64,
            kept: kept.map(|k| k as u64),
            first_page,
            ids: list[start..end].to_vec(),
        },
    )
}

fn list_effect(fx: &[Effect]) -> Option<&Effect> {
    fx.iter().find(|e| matches!(e, Effect::List { .. }))
}

fn pages(fx: &[Effect]) -> Vec<usize> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Rows { page, .. } => Some(*page),
            _ => None,
        })
        .collect()
}

#[test]
fn start_asks_for_the_groups_first_then_verification_and_the_first_list() {
    let mut a = app();
    let fx = update(&mut a, Action::Start);
    assert_eq!(
        fx[0],
        Effect::Groups {
            grouping: Grouping::Strategy
        }
    );
    assert_eq!(fx[1], Effect::Verify);
    assert!(
        matches!(&fx[2], Effect::List { gen: 1, sort: Column::Function, descending: false, filter, keep: None, at: 0 } if *filter == Default::default())
    );
    assert_eq!(a.pane, Pane::Groups);
    assert_eq!(a.group_sel, 0);
}

#[test]
fn a_list_fetches_only_the_pages_around_the_viewport() {
    let mut a = app();
    update(&mut a, Action::Start);
    let fx = msg(
        &mut a,
        Msg::List {
            gen: 1,
            len: 1_000_000,
            kept: None,
            first_page: 0,
            ids: (1..=3 * PAGE as i64).map(EntryId).collect(),
        },
    );
    assert_eq!(fx, vec![Effect::Rows { gen: 1, page: 0 }]);
    assert_eq!(a.entry_count(), 1_000_000);
    // The ids that came with the list are known before any row.
    assert_eq!(a.selected_id(), Some(EntryId(1)));
    assert_eq!(a.id_at(PAGE), Some(EntryId(PAGE as i64 + 1)));
    // An answer for an older list is dropped.
    assert!(msg(
        &mut a,
        Msg::List {
            gen: 0,
            len: 1,
            kept: None,
            first_page: 0,
            ids: ids(&[5]),
        }
    )
    .is_empty());
    assert_eq!(a.entry_count(), 1_000_000);
    assert!(msg(
        &mut a,
        Msg::Rows {
            gen: 0,
            page: 0,
            ids: ids(&[5]),
            rows: vec![row(5, "m:f", 1)],
        }
    )
    .is_empty());
    assert!(a.rows.is_empty());
}

#[test]
fn end_jumps_to_the_last_entry_and_fetches_its_page_only() {
    let mut a = loaded(1000);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.pane, Pane::Entries);
    let fx = key(&mut a, KeyCode::End);
    assert_eq!(a.entry_sel, 999);
    assert_eq!(a.entry_offset, 1000 - a.entry_rows_visible());
    assert_eq!(pages(&fx), vec![7]);
    assert_eq!(a.selected_id(), None, "its ids come with the page");
    key(&mut a, KeyCode::Char('g'));
    assert_eq!((a.entry_sel, a.entry_offset), (0, 0));
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char('k'));
    assert_eq!(a.entry_sel, 1);
    key(&mut a, KeyCode::PageDown);
    assert_eq!(a.entry_sel, 1 + a.entry_rows_visible() - 1);
}

#[test]
fn moving_in_the_groups_pane_selects_a_group_and_lists_it() {
    let mut a = loaded(10);
    let fx = key(&mut a, KeyCode::Down);
    assert_eq!(a.group_sel, 1);
    assert_eq!(a.selected_group_key(), GroupKey::Strategy("source".into()));
    assert!(
        matches!(list_effect(&fx), Some(Effect::List { filter, .. }) if filter.strategies == vec!["source".to_string()])
    );
    assert!(a.list_len.is_none());
    key(&mut a, KeyCode::Up);
    key(&mut a, KeyCode::Up);
    assert_eq!(a.group_sel, 0);
    key(&mut a, KeyCode::Enter);
    assert_eq!(a.pane, Pane::Entries);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.pane, Pane::Groups);
}

#[test]
fn groups_refresh_keeps_the_selected_group_by_key() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    assert_eq!(
        a.selected_group_key(),
        GroupKey::Strategy("bytecode".into())
    );
    // The source group disappeared (purged): the selection follows bytecode to row 1.
    let fx = msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all: group(GroupKey::All, 9),
            groups: vec![group(GroupKey::Strategy("bytecode".into()), 1)],
            statuses: false,
        },
    );
    assert_eq!(a.group_sel, 1);
    assert!(list_effect(&fx).is_none(), "same group: no new list");
}

#[test]
fn space_marks_and_counts_bytes_to_free() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Char(' '));
    assert!(a.marked.is_empty(), "groups pane: nothing to mark");
    assert!(a.message.is_some());
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Char(' '));
    assert_eq!(a.marked.keys().copied().collect::<Vec<_>>(), ids(&[1, 2]));
    assert_eq!(a.marked_bytes(), 300);
    assert_eq!(a.entry_sel, 2);
    key(&mut a, KeyCode::Up);
    key(&mut a, KeyCode::Char(' '));
    assert_eq!(a.marked.len(), 1);
    key(&mut a, KeyCode::Esc);
    assert!(a.marked.is_empty());
}

#[test]
fn d_confirms_the_marked_entries_and_anything_but_y_cancels() {
    let mut a = loaded(10);
    let fx = key(&mut a, KeyCode::Char('d'));
    assert!(fx.is_empty(), "groups pane, nothing marked");
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Char(' '));
    let fx = key(&mut a, KeyCode::Char('d'));
    let Some(Effect::Count { target, filter }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(*target, PurgeTarget::Ids(ids(&[1, 2])));
    assert_eq!(filter.ids, Some(ids(&[1, 2])));
    assert!(
        filter.statuses.is_empty(),
        "marked entries go whatever their status"
    );
    msg(
        &mut a,
        Msg::Counted {
            target: target.clone(),
            count: 2,
            bytes: 300,
        },
    );
    assert_eq!(a.mode, Mode::Confirm);
    let fx = key(&mut a, KeyCode::Char('n'));
    assert!(fx.is_empty());
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.message.as_deref().unwrap().contains("cancelled"));
    assert_eq!(a.marked.len(), 2, "cancelling keeps the marks");

    msg(
        &mut a,
        Msg::Counted {
            target: PurgeTarget::Ids(ids(&[1, 2])),
            count: 2,
            bytes: 300,
        },
    );
    let fx = key(&mut a, KeyCode::Char('y'));
    assert!(matches!(&fx[..], [Effect::Purge { filter }] if filter.ids == Some(ids(&[1, 2]))));
    assert!(a.purging.is_some());
    // a backend that cannot know its total (diskcache) reports 0: the confirmed count stays
    msg(&mut a, Msg::PurgeProgress { done: 1, total: 0 });
    assert_eq!(a.purging.map(|p| (p.done, p.total)), Some((1, 2)));
    msg(&mut a, Msg::PurgeProgress { done: 3, total: 0 });
    assert_eq!(a.purging.map(|p| (p.done, p.total)), Some((3, 3)));
    msg(&mut a, Msg::PurgeProgress { done: 3, total: 5 });
    assert_eq!(a.purging.map(|p| (p.done, p.total)), Some((3, 5)));
}

#[test]
fn d_without_marks_takes_the_selected_entry() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Down);
    let fx = key(&mut a, KeyCode::Char('d'));
    assert!(
        matches!(&fx[..], [Effect::Count { target: PurgeTarget::Ids(got), .. }] if *got == ids(&[2]))
    );
}

#[test]
fn big_d_waits_for_verification_then_asks_for_the_stale_entries_of_the_group() {
    let mut a = loaded(10);
    assert!(key(&mut a, KeyCode::Char('D')).is_empty());
    assert!(a.message.as_deref().unwrap().contains("verification"));
    let fx = msg(&mut a, Msg::Verified { sources: 3 });
    assert!(fx.contains(&Effect::Groups {
        grouping: Grouping::Strategy
    }));
    key(&mut a, KeyCode::Down);
    let fx = key(&mut a, KeyCode::Char('D'));
    let Some(Effect::Count { target, filter }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        *target,
        PurgeTarget::Stale(GroupKey::Strategy("source".into()))
    );
    assert_eq!(filter.statuses, Status::DEFAULT_PURGE.to_vec());
    assert_eq!(filter.strategies, vec!["source".to_string()]);
    // Nothing stale: a message, no dialog.
    msg(
        &mut a,
        Msg::Counted {
            target: target.clone(),
            count: 0,
            bytes: 0,
        },
    );
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.message.as_deref().unwrap().contains("nothing stale"));
}

#[test]
fn big_d_waits_while_verification_runs_again_and_drops_a_count_made_before() {
    let mut a = loaded(10);
    msg(&mut a, Msg::Verified { sources: 3 });
    let fx = key(&mut a, KeyCode::Char('D'));
    let Some(Effect::Count { target, .. }) = fx.first().cloned() else {
        panic!("{fx:?}")
    };
    // `r` before the count comes back: the count was made with the old statuses.
    assert_eq!(key(&mut a, KeyCode::Char('r')), vec![Effect::Verify]);
    msg(
        &mut a,
        Msg::Counted {
            target: target.clone(),
            count: 4,
            bytes: 40,
        },
    );
    assert_eq!(a.mode, Mode::Normal, "no dialog on the old statuses");
    assert!(a.confirm.is_none());
    assert!(a.message.as_deref().unwrap().contains("checked again"));
    // Nor a new count while it runs (a file restored meanwhile must count as fresh)...
    assert!(key(&mut a, KeyCode::Char('D')).is_empty());
    assert!(a.message.as_deref().unwrap().contains("checked again"));
    // ...nor after it failed; once it is done, D asks again.
    msg(&mut a, Msg::VerifyFailed("boom".into()));
    assert!(key(&mut a, KeyCode::Char('D')).is_empty());
    assert!(a.message.as_deref().unwrap().contains("failed"));
    key(&mut a, KeyCode::Char('r'));
    msg(&mut a, Msg::Verified { sources: 3 });
    assert!(matches!(
        key(&mut a, KeyCode::Char('D')).first(),
        Some(Effect::Count { .. })
    ));
}

#[test]
fn big_d_on_a_fresh_status_group_has_nothing_to_do() {
    assert!(super::update::stale_filter(&GroupKey::Status(Status::Fresh)).is_none());
    let f = super::update::stale_filter(&GroupKey::Status(Status::Missing)).unwrap();
    assert_eq!(f.statuses, vec![Status::Missing]);
}

#[test]
fn read_only_refuses_to_invalidate_and_says_why() {
    let mut a = loaded(10);
    a.read_only = true;
    msg(&mut a, Msg::Verified { sources: 1 });
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Char(' '));
    for k in ['d', 'D'] {
        let fx = key(&mut a, KeyCode::Char(k));
        assert!(fx.is_empty());
        assert!(a.message.as_deref().unwrap().contains("read-only"));
        assert_eq!(a.mode, Mode::Normal);
    }
}

#[test]
fn slash_filters_incrementally_enter_keeps_esc_clears() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Char('/'));
    assert_eq!(a.mode, Mode::Filter);
    let fx = key(&mut a, KeyCode::Char('q'));
    assert_eq!(a.mode, Mode::Filter, "q is text in the filter line");
    assert!(
        matches!(list_effect(&fx), Some(Effect::List { filter, .. }) if filter.text.as_deref() == Some("q"))
    );
    key(&mut a, KeyCode::Char('x'));
    key(&mut a, KeyCode::Backspace);
    assert_eq!(a.filter, "q");
    key(&mut a, KeyCode::Enter);
    assert_eq!((a.mode, a.pane), (Mode::Normal, Pane::Entries));
    assert_eq!(a.filter, "q");
    let fx = key(&mut a, KeyCode::Esc);
    assert!(a.filter.is_empty());
    assert!(matches!(list_effect(&fx), Some(Effect::List { filter, .. }) if filter.text.is_none()));
    key(&mut a, KeyCode::Char('/'));
    key(&mut a, KeyCode::Char('z'));
    key(&mut a, KeyCode::Esc);
    assert_eq!((a.mode, a.filter.as_str()), (Mode::Normal, ""));
}

#[test]
fn number_keys_sort_and_repeating_reverses() {
    let mut a = loaded(10);
    let fx = key(&mut a, KeyCode::Char('3'));
    assert_eq!(a.sort, Column::Size);
    assert!(matches!(
        list_effect(&fx),
        Some(Effect::List {
            sort: Column::Size,
            descending: false,
            ..
        })
    ));
    let fx = key(&mut a, KeyCode::Char('3'));
    assert!(matches!(
        list_effect(&fx),
        Some(Effect::List {
            sort: Column::Size,
            descending: true,
            ..
        })
    ));
    key(&mut a, KeyCode::Char('2'));
    assert_eq!((a.sort, a.descending), (Column::Status, false));
}

#[test]
fn t_cycles_the_grouping() {
    let mut a = loaded(10);
    let fx = key(&mut a, KeyCode::Char('t'));
    assert_eq!(a.grouping, Grouping::Status);
    assert!(fx.contains(&Effect::Groups {
        grouping: Grouping::Status
    }));
    // A late answer for the old grouping is ignored.
    msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all: group(GroupKey::All, 1),
            groups: vec![group(GroupKey::Strategy("x".into()), 1)],
            statuses: false,
        },
    );
    assert!(a.groups.is_empty());
    for _ in 0..4 {
        key(&mut a, KeyCode::Char('t'));
    }
    assert_eq!(a.grouping, Grouping::Strategy);
}

#[test]
fn a_refresh_keeps_the_selected_entry_where_it_moved() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Tab);
    for _ in 0..5 {
        key(&mut a, KeyCode::Down);
    }
    assert_eq!(a.selected_id(), Some(EntryId(6)));
    let fx = msg(&mut a, Msg::StoreChanged);
    assert!(
        matches!(
            list_effect(&fx),
            Some(Effect::List {
                keep: Some(EntryId(6)),
                at: 5,
                ..
            })
        ),
        "{fx:?}"
    );
    assert_eq!(
        a.list_len,
        Some(10),
        "the old list stays on screen meanwhile"
    );
    assert_eq!(a.selected_id(), Some(EntryId(6)));
    // Entries 1 and 2 were removed by someone: entry 6 is now at index 3, and its row (held
    // by id) shows there at once, before any page is fetched again.
    let fx2 = answer(&mut a, &ids(&[3, 4, 5, 6, 7, 8, 9, 10]), &fx);
    assert_eq!(a.selected_id(), Some(EntryId(6)));
    assert_eq!(a.entry_sel, 3);
    assert_eq!(a.selected_row().map(|r| r.id), Some(EntryId(6)));
    assert_eq!(
        pages(&fx2),
        vec![0],
        "the rows are fetched again all the same"
    );
    // The selected entry itself is gone: the selection stays at its index.
    let fx = msg(
        &mut a,
        Msg::Purged {
            removed: 1,
            bytes: 600,
            skipped: 0,
            error: None,
        },
    );
    assert!(a
        .message
        .as_deref()
        .unwrap()
        .starts_with("removed 1 entries"));
    answer(&mut a, &ids(&[3, 4, 5, 7, 8, 9, 10]), &fx);
    assert_eq!(a.selected_id(), Some(EntryId(7)));
}

#[test]
fn moving_while_a_refresh_runs_keeps_the_selection_where_the_user_put_it() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Down);
    let fx = msg(&mut a, Msg::StoreChanged);
    assert!(matches!(
        list_effect(&fx),
        Some(Effect::List {
            keep: Some(EntryId(2)),
            ..
        })
    ));
    // A list of millions takes seconds: the user goes on meanwhile.
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    assert_eq!(a.selected_id(), Some(EntryId(4)));
    // A new entry 0 came first: entry 2 moved to index 2, but the user is at index 3 now.
    answer(&mut a, &ids(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), &fx);
    assert_eq!(a.entry_sel, 3);
    assert_eq!(a.selected_id(), Some(EntryId(3)));
}

#[test]
fn verification_fetches_the_rows_again_and_resorts_only_a_list_sorted_by_status() {
    let mut a = loaded(300);
    let fx = msg(&mut a, Msg::Verified { sources: 3 });
    assert!(list_effect(&fx).is_none(), "{fx:?}");
    assert_eq!(pages(&fx), vec![0], "rows come again, with their statuses");
    assert_eq!(a.selected_id(), Some(EntryId(1)));

    // Sorted by status before verification: the list is sorted again once it is done.
    let mut a = loaded(300);
    key(&mut a, KeyCode::Char('2'));
    assert!(a.message.as_deref().unwrap().contains("once they are"));
    answer(&mut a, &(1..=300).map(EntryId).collect::<Vec<_>>(), &[]);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Down);
    let fx = msg(&mut a, Msg::Verified { sources: 3 });
    assert!(
        matches!(
            list_effect(&fx),
            Some(Effect::List {
                sort: Column::Status,
                keep: Some(EntryId(2)),
                ..
            })
        ),
        "{fx:?}"
    );
    // Worst first when descending: the worker's list, entry 2 now at 150.
    let mut sorted: Vec<EntryId> = (1..=300).rev().map(EntryId).collect();
    sorted.retain(|id| *id != EntryId(2));
    sorted.insert(150, EntryId(2));
    let fx = answer(&mut a, &sorted, &fx);
    assert_eq!(a.entry_sel, 150);
    assert_eq!(a.selected_id(), Some(EntryId(2)));
    assert_eq!(pages(&fx), vec![1]);

    // In a status group, the list is sorted again too (its filter reads statuses).
    let mut a = loaded(10);
    a.groups = vec![group(GroupKey::Status(Status::Changed), 4)];
    key(&mut a, KeyCode::Down);
    let fx = msg(&mut a, Msg::Verified { sources: 3 });
    assert!(
        matches!(list_effect(&fx), Some(Effect::List { filter, .. }) if filter.statuses == vec![Status::Changed])
    );
}

#[test]
fn paging_far_into_a_huge_list_keeps_only_the_pages_near_the_viewport() {
    let n = 100_000;
    let list: Vec<EntryId> = (1..=n).map(EntryId).collect();
    let mut a = loaded(n);
    key(&mut a, KeyCode::Tab);
    // Worker answers come between keys, as in the event loop.
    let serve = |a: &mut App, fx: Vec<Effect>| {
        for e in fx {
            if let Effect::Rows { gen, page } = e {
                let ids = list[page * PAGE..((page + 1) * PAGE).min(list.len())].to_vec();
                let rows = ids.iter().map(|id| row(id.0, "m:f", id.0)).collect();
                msg(
                    a,
                    Msg::Rows {
                        gen,
                        page,
                        ids,
                        rows,
                    },
                );
            }
        }
    };
    for _ in 0..2000 {
        let fx = key(&mut a, KeyCode::PageDown);
        serve(&mut a, fx);
        assert!(a.rows.len() <= 8 * PAGE + 3 * PAGE, "{}", a.rows.len());
        assert!(a.page_ids.len() <= 6, "{:?}", a.page_ids.keys());
    }
    let fx = key(&mut a, KeyCode::End);
    serve(&mut a, fx);
    assert_eq!(a.entry_sel, n as usize - 1);
    assert_eq!(a.selected_id(), Some(EntryId(n)));
    assert_eq!(a.selected_row().map(|r| r.id), Some(EntryId(n)));
    let fx = key(&mut a, KeyCode::Home);
    serve(&mut a, fx);
    assert_eq!(a.selected_row().map(|r| r.id), Some(EntryId(1)));
}

#[test]
fn enter_opens_the_detail_and_esc_goes_back() {
    let mut a = loaded(10);
    key(&mut a, KeyCode::Enter);
    let fx = key(&mut a, KeyCode::Enter);
    assert_eq!(fx, vec![Effect::Detail { id: EntryId(1) }]);
    assert_eq!(a.mode, Mode::Detail);
    key(&mut a, KeyCode::Down);
    assert_eq!(a.detail_scroll, 0, "nothing to scroll while loading");
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn quit_keys_and_modes() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for mode in [
        Mode::Normal,
        Mode::Filter,
        Mode::Confirm,
        Mode::Help,
        Mode::Detail,
    ] {
        assert!(matches!(key_action(mode, ctrl_c), Action::Quit), "{mode:?}");
    }
    let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    assert!(matches!(key_action(Mode::Normal, q), Action::Quit));
    assert!(matches!(
        key_action(Mode::Filter, q),
        Action::FilterChar('q')
    ));
    assert!(matches!(key_action(Mode::Confirm, q), Action::Cancel));
    let mut a = app();
    key(&mut a, KeyCode::Char('?'));
    assert_eq!(a.mode, Mode::Help);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.mode, Mode::Normal);
    key(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
}

#[test]
fn too_small_still_quits() {
    let mut a = app();
    update(&mut a, Action::Resize(60, 20));
    assert!(a.too_small());
    key(&mut a, KeyCode::Char('q'));
    assert!(a.quit);
}

#[test]
fn hostile_text_is_drawn_escaped() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let mut a = loaded(1);
    a.rows
        .insert(EntryId(1), row(1, "evil\x1b]0;pwned\x07\x1b[2J", 1));
    a.rows.get_mut(&EntryId(1)).unwrap().key = "k\x1b[2Jk".into();
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| super::ui::draw(f, &a)).unwrap();
    let text: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(text.contains("evil\\x1b]0;pwned\\x07"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\x07'));
}

/// The whole screen as text, drawn at 80x24.
fn screen(a: &App) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    t.draw(|f| super::ui::draw(f, a)).unwrap();
    t.backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect()
}

#[test]
fn after_verification_the_header_never_says_nothing_stale_before_the_counts_include_statuses() {
    let mut a = loaded(10);
    msg(&mut a, Msg::Verified { sources: 3 });
    // the counts on screen were made before verification: no stale count is known yet
    let text = screen(&a);
    assert!(text.contains("counting stale entries"), "{text}");
    assert!(!text.contains("nothing stale"), "{text}");
    let mut all = group(GroupKey::All, 10);
    all.statuses = BTreeMap::from([(Status::Changed, 4), (Status::Fresh, 6)]);
    msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all,
            groups: vec![group(GroupKey::Strategy("source".into()), 10)],
            statuses: true,
        },
    );
    let text = screen(&a);
    assert!(text.contains("stale: 4 changed"), "{text}");
    // counted with statuses and none stale: now it may say so
    msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all: group(GroupKey::All, 10),
            groups: vec![group(GroupKey::Strategy("source".into()), 10)],
            statuses: true,
        },
    );
    assert!(screen(&a).contains("nothing stale"));
    // A producer's entries with a source verification never saw: unchecked, never "nothing
    // stale", and D says why it finds nothing.
    let mut all = group(GroupKey::All, 15);
    all.statuses = BTreeMap::from([(Status::Fresh, 10)]);
    all.unchecked = 5;
    msg(
        &mut a,
        Msg::Groups {
            grouping: Grouping::Strategy,
            all,
            groups: vec![group(GroupKey::Strategy("source".into()), 15)],
            statuses: true,
        },
    );
    let text = screen(&a);
    assert!(!text.contains("nothing stale"), "{text}");
    assert!(
        text.contains("5 unchecked: new since verification (r)"),
        "{text}"
    );
    let fx = key(&mut a, KeyCode::Char('D'));
    let Some(Effect::Count { target, .. }) = fx.first().cloned() else {
        panic!("{fx:?}")
    };
    msg(
        &mut a,
        Msg::Counted {
            target,
            count: 0,
            bytes: 0,
        },
    );
    let said = a.message.clone().unwrap();
    assert!(
        said.contains("5 entries are new since verification"),
        "{said}"
    );
}

// The key table ([`super::keys`]): every binding reachable, every hint and help row naming
// keys of the table, the footer within 80 columns.

use super::keys::{footer_line, lookup, Binding, Keys, Place, BINDINGS};

const MODES: [Mode; 5] = [
    Mode::Normal,
    Mode::Filter,
    Mode::Confirm,
    Mode::Help,
    Mode::Detail,
];

fn plain(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Keys a pattern matches: all of them for a list or range, a few for the catch-alls.
fn samples(keys: Keys) -> Vec<KeyEvent> {
    match keys {
        Keys::Codes(codes) => codes.iter().copied().map(plain).collect(),
        Keys::Ctrl(chars) => chars
            .iter()
            .map(|c| KeyEvent::new(KeyCode::Char(*c), KeyModifiers::CONTROL))
            .collect(),
        Keys::Range(a, b) => (a..=b).map(|c| plain(KeyCode::Char(c))).collect(),
        Keys::Typed => "aZ0 /?qé"
            .chars()
            .map(|c| plain(KeyCode::Char(c)))
            .collect(),
        Keys::Any => [
            KeyCode::Char('x'),
            KeyCode::Char('n'),
            KeyCode::Esc,
            KeyCode::Enter,
            KeyCode::F(5),
            KeyCode::Up,
        ]
        .map(plain)
        .to_vec(),
    }
}

/// The keys a help label or footer hint names ("↑ ↓  j k", "d/D", "1-7", "q  Ctrl-C", "any
/// key", "type"); an unknown name fails the test.
fn named_keys(text: &str) -> Vec<KeyEvent> {
    match text {
        "any key" | "any other key" => samples(Keys::Any),
        "type" => samples(Keys::Typed),
        _ => text.split_whitespace().flat_map(token_keys).collect(),
    }
}

fn token_keys(t: &str) -> Vec<KeyEvent> {
    let named = match t {
        "PgUp" => Some(KeyCode::PageUp),
        "PgDn" => Some(KeyCode::PageDown),
        "Home" => Some(KeyCode::Home),
        "End" => Some(KeyCode::End),
        "Tab" => Some(KeyCode::Tab),
        "Enter" => Some(KeyCode::Enter),
        "Esc" => Some(KeyCode::Esc),
        "space" => Some(KeyCode::Char(' ')),
        _ => None,
    };
    if let Some(code) = named {
        return vec![plain(code)];
    }
    let chars: Vec<char> = t.chars().collect();
    match chars.as_slice() {
        ['C', 't', 'r', 'l', '-', c] => {
            vec![KeyEvent::new(KeyCode::Char(*c), KeyModifiers::CONTROL)]
        }
        [c] => vec![plain(arrow(*c).unwrap_or(KeyCode::Char(*c)))],
        [a, '-', b] => (*a..=*b).map(|c| plain(KeyCode::Char(c))).collect(),
        [a, '/', b] => vec![plain(KeyCode::Char(*a)), plain(KeyCode::Char(*b))],
        arrows if arrows.iter().all(|c| arrow(*c).is_some()) => {
            arrows.iter().map(|c| plain(arrow(*c).unwrap())).collect()
        }
        _ => panic!("{t:?} is no key name"),
    }
}

fn arrow(c: char) -> Option<KeyCode> {
    match c {
        '↑' => Some(KeyCode::Up),
        '↓' => Some(KeyCode::Down),
        '←' => Some(KeyCode::Left),
        '→' => Some(KeyCode::Right),
        _ => None,
    }
}

/// Checks that every key `text` names does something in one of `modes`, and that one of them
/// hits `b`.
fn names_keys_of(b: &'static Binding, modes: &[Mode], text: &str) {
    let keys = named_keys(text);
    assert!(!keys.is_empty(), "{text:?} names no key");
    let mut own = false;
    for k in &keys {
        let hits: Vec<&Binding> = modes.iter().filter_map(|m| lookup(*m, k)).collect();
        assert!(
            !hits.is_empty(),
            "{text:?} names {k:?}, which does nothing in {modes:?}"
        );
        own |= hits.iter().any(|h| std::ptr::eq(*h, b));
    }
    assert!(own, "{text:?} names none of the keys of {b:?}");
}

#[test]
fn every_binding_is_reachable_in_its_modes() {
    for b in BINDINGS {
        assert!(!b.modes.is_empty(), "{b:?}");
        for mode in b.modes {
            for k in samples(b.keys) {
                let hit = lookup(*mode, &k).expect("a binding");
                assert!(
                    std::ptr::eq(hit, b),
                    "{k:?} in {mode:?} hits {hit:?}, not {b:?}"
                );
                let action = key_action(*mode, k);
                assert!(!matches!(action, Action::None), "{k:?} in {mode:?}");
                assert_eq!(
                    format!("{action:?}"),
                    format!("{:?}", b.make.action(k.code)),
                    "{k:?} in {mode:?}"
                );
            }
        }
    }
}

#[test]
fn the_table_maps_keys_as_before() {
    use Action as A;
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let cases: &[(Mode, KeyEvent, A)] = &[
        (Mode::Normal, plain(KeyCode::Char('k')), A::Up),
        (Mode::Normal, plain(KeyCode::Char('j')), A::Down),
        (Mode::Normal, plain(KeyCode::Char('g')), A::Home),
        (Mode::Normal, plain(KeyCode::End), A::End),
        (Mode::Normal, plain(KeyCode::PageUp), A::PageUp),
        (Mode::Normal, plain(KeyCode::BackTab), A::SwitchPane),
        (Mode::Normal, plain(KeyCode::Char('h')), A::FocusGroups),
        (Mode::Normal, plain(KeyCode::Right), A::FocusEntries),
        (
            Mode::Normal,
            plain(KeyCode::Char('3')),
            A::SortBy(Column::Size),
        ),
        (
            Mode::Normal,
            plain(KeyCode::Char('7')),
            A::SortBy(Column::Strategy),
        ),
        (Mode::Normal, plain(KeyCode::Char('8')), A::None),
        (Mode::Normal, ctrl('q'), A::Quit),
        (Mode::Detail, plain(KeyCode::Char('h')), A::Back),
        (Mode::Detail, plain(KeyCode::Enter), A::Back),
        (Mode::Detail, plain(KeyCode::Char('G')), A::End),
        (Mode::Detail, plain(KeyCode::Char('/')), A::None),
        (Mode::Filter, plain(KeyCode::Down), A::FilterAccept),
        (Mode::Filter, plain(KeyCode::Char('q')), A::FilterChar('q')),
        (Mode::Filter, ctrl('x'), A::None),
        (Mode::Filter, ctrl('C'), A::Quit),
        (Mode::Filter, plain(KeyCode::Up), A::None),
        (Mode::Confirm, plain(KeyCode::Char('Y')), A::Confirm),
        (Mode::Confirm, plain(KeyCode::Char('q')), A::Cancel),
        (Mode::Help, plain(KeyCode::Char('q')), A::Quit),
        (Mode::Help, plain(KeyCode::Char('?')), A::Back),
    ];
    for (mode, k, want) in cases {
        assert_eq!(
            format!("{:?}", key_action(*mode, *k)),
            format!("{want:?}"),
            "{k:?} in {mode:?}"
        );
    }
    let mut release = plain(KeyCode::Char('q'));
    release.kind = ratatui::crossterm::event::KeyEventKind::Release;
    for mode in MODES {
        assert!(
            matches!(key_action(mode, release), Action::None),
            "{mode:?}"
        );
    }
}

#[test]
fn every_footer_hint_names_a_key_of_the_table() {
    for b in BINDINGS {
        for h in b.hints {
            let mode = h.place.mode();
            assert!(b.modes.contains(&mode), "{h:?} of {b:?}");
            names_keys_of(b, &[mode], h.keys);
        }
    }
    for place in Place::ALL {
        let line = footer_line(place);
        assert!(!line.is_empty(), "{place:?} has no hints");
        let w = unicode_width::UnicodeWidthStr::width(line.as_str());
        assert!(w <= 80, "{place:?}: {line:?} is {w} columns");
    }
}

#[test]
fn every_help_row_names_a_key_of_the_table() {
    let mut rows = 0;
    for b in BINDINGS {
        if let Some(h) = b.help {
            assert!(!h.text.is_empty(), "{b:?}");
            names_keys_of(b, b.modes, h.label);
            rows += 1;
        }
    }
    assert!(rows > 10);
}

// The groups pane's share bar.

use super::ui::groups::{bar_cells, share_bar};

#[test]
fn share_bar_empty_full_and_zero_total() {
    assert_eq!(share_bar(0, 1000, 10), " ".repeat(10));
    assert_eq!(share_bar(1000, 1000, 10), "█".repeat(10));
    // More than the total (a race between two counts) is a full bar, not a longer one.
    assert_eq!(share_bar(2000, 1000, 10), "█".repeat(10));
    // Nothing to share: an empty bar, not a division by zero.
    assert_eq!(share_bar(0, 0, 10), " ".repeat(10));
    assert_eq!(share_bar(5, 0, 10), " ".repeat(10));
    assert_eq!(share_bar(5, 10, 0), "");
}

#[test]
fn share_bar_rounds_to_the_nearest_eighth() {
    assert_eq!(share_bar(1, 2, 10), "█████     ");
    assert_eq!(share_bar(1, 4, 10), "██▌       ");
    // 1/3 of 80 eighths is 26.67: 27 eighths, three full cells and three eighths.
    assert_eq!(share_bar(1, 3, 10), "███▍      ");
    // 13/80 of the bar and 12.4/80 of it: one full cell and five eighths, then four.
    assert_eq!(share_bar(13, 80, 10), "█▋        ");
    assert_eq!(share_bar(124, 800, 10), "█▌        ");
    // Huge sizes do not overflow.
    assert_eq!(share_bar(u64::MAX / 2, u64::MAX, 4), "██  ");
}

#[test]
fn share_bar_shows_tiny_shares_and_keeps_full_for_the_whole() {
    assert_eq!(share_bar(1, 1_000_000_000, 10), "▏         ");
    assert_eq!(share_bar(999_999_999, 1_000_000_000, 10), "█████████▉");
}

#[test]
fn share_bar_is_always_as_wide_as_asked() {
    for cells in [1, 3, 10] {
        for part in [0, 1, 7, 50, 99, 100] {
            let bar = share_bar(part, 100, cells);
            assert_eq!(bar.chars().count(), cells, "{part} {cells}: {bar:?}");
        }
    }
}

#[test]
fn the_bar_shrinks_then_goes_before_names_get_narrow() {
    // 80 columns: the pane's inner width is 78.
    assert_eq!(bar_cells(78), 10);
    assert_eq!(bar_cells(200), 10);
    assert!((3..10).contains(&bar_cells(60)));
    assert_eq!(bar_cells(55), 0);
    assert_eq!(bar_cells(10), 0);
    for w in 0..100 {
        let c = bar_cells(w);
        if c > 0 {
            // Marker, name, the bar's column, the numbers: names keep 16 columns.
            assert!(w >= 2 + 16 + (c + 3) + 1 + 34, "{w}: {c}");
        }
    }
}

#[test]
fn groups_pane_draws_the_share_bar_without_colour() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let mut a = loaded(3);
    assert!(!a.color);
    let mut all = group(GroupKey::All, 3);
    all.bytes = 400;
    let mut half = group(GroupKey::Strategy("source".into()), 2);
    half.bytes = 200;
    a.all = Some(all);
    a.groups = vec![half];
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| super::ui::draw(f, &a)).unwrap();
    let buf = t.backend().buffer();
    let row = |y: u16| -> String { (0..80).map(|x| buf[(x, y)].symbol()).collect() };
    assert!(row(3).contains(" share "), "{}", row(3));
    assert!(row(4).contains("[██████████]"), "{}", row(4));
    assert!(row(5).contains("[█████     ]"), "{}", row(5));
}

#[test]
fn a_purge_that_left_files_in_place_says_so() {
    let mut a = loaded(10);
    msg(
        &mut a,
        Msg::Purged {
            removed: 2,
            bytes: 10,
            skipped: 1,
            error: None,
        },
    );
    let m = a.message.as_deref().unwrap();
    assert!(m.starts_with("removed 2 entries"), "{m}");
    assert!(m.contains("1 left in place"), "{m}");
}
