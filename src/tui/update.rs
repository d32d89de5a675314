//! Every state change happens here: `update(app, action)` applies an action and returns the slow
//! work ([`Effect`]s) the event loop hands to the worker. No I/O.

use super::action::Action;
use super::app::{App, Column, Confirm, Mode, Pane, PurgeTarget, Purging, Verification, PAGE};
use super::worker::{Effect, Msg};
use crate::backend::{EntryFilter, EntryId};
use crate::model::GroupKey;
use crate::status::Status;
use std::collections::HashSet;

/// Applies `action` to `app` and returns the work to hand to the worker.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Worker(msg) => on_msg(app, msg, &mut fx),
        Action::None => {}
        Action::Resize(w, h) => {
            app.width = w;
            count_detail_lines(app);
            app.height = h;
            scroll_to_selection(app);
            clamp_detail(app);
            ensure_pages(app, &mut fx);
        }
        other => {
            app.message = None;
            on_key(app, other, &mut fx);
        }
    }
    fx
}

fn on_key(app: &mut App, action: Action, fx: &mut Vec<Effect>) {
    match action {
        Action::Start => {
            // The groups first: their counts and sizes come from an index, with statuses
            // unchecked, and nothing else competes with them for the cores. Verification
            // starts next (statuses fill in when it ends), beside the first list.
            fx.push(Effect::Groups {
                grouping: app.grouping,
            });
            fx.push(Effect::Verify);
            select_group(app, fx);
        }
        Action::Quit => app.quit = true,
        Action::Up => step(app, -1, fx),
        Action::Down => step(app, 1, fx),
        Action::PageUp => step(app, -(page_size(app) as isize), fx),
        Action::PageDown => step(app, page_size(app) as isize, fx),
        Action::Home => step(app, isize::MIN / 2, fx),
        Action::End => step(app, isize::MAX / 2, fx),
        Action::SwitchPane => {
            app.pane = match app.pane {
                Pane::Groups => Pane::Entries,
                Pane::Entries => Pane::Groups,
            }
        }
        Action::FocusGroups => app.pane = Pane::Groups,
        Action::FocusEntries => app.pane = Pane::Entries,
        Action::Open => match app.pane {
            Pane::Groups => app.pane = Pane::Entries,
            Pane::Entries => {
                if let Some(id) = app.selected_id() {
                    app.mode = Mode::Detail;
                    app.detail_id = Some(id);
                    app.detail = None;
                    app.detail_scroll = 0;
                    fx.push(Effect::Detail { id });
                }
            }
        },
        Action::Back => match app.mode {
            Mode::Help | Mode::Detail | Mode::Confirm | Mode::Filter => {
                app.mode = Mode::Normal;
                app.confirm = None;
            }
            Mode::Normal => {
                if !app.filter.is_empty() {
                    app.filter.clear();
                    select_group(app, fx);
                } else if !app.marked.is_empty() {
                    app.marked.clear();
                } else {
                    app.pane = Pane::Groups;
                }
            }
        },
        Action::Help => app.mode = Mode::Help,
        Action::StartFilter => app.mode = Mode::Filter,
        Action::FilterChar(c) => {
            app.filter.push(c);
            select_group(app, fx);
        }
        Action::FilterBackspace => {
            if app.filter.pop().is_some() {
                select_group(app, fx);
            }
        }
        Action::FilterAccept => {
            app.mode = Mode::Normal;
            app.pane = Pane::Entries;
        }
        Action::FilterCancel => {
            app.mode = Mode::Normal;
            if !app.filter.is_empty() {
                app.filter.clear();
                select_group(app, fx);
            }
        }
        Action::ToggleMark => toggle_mark(app),
        Action::InvalidateMarked => invalidate_marked(app, fx),
        Action::InvalidateStale => invalidate_stale(app, fx),
        Action::Confirm => {
            app.mode = Mode::Normal;
            if let Some(c) = app.confirm.take() {
                let filter = match &c.target {
                    PurgeTarget::Ids(ids) => ids_filter(ids.clone()),
                    PurgeTarget::Stale(key) => {
                        stale_filter(key).unwrap_or_else(|| ids_filter(Vec::new()))
                    }
                };
                app.purging = Some(Purging {
                    done: 0,
                    total: c.count,
                });
                fx.push(Effect::Purge { filter });
            }
        }
        Action::Cancel => {
            app.mode = Mode::Normal;
            if app.confirm.take().is_some() {
                app.message = Some("cancelled: nothing was removed".into());
            }
        }
        Action::Reverify => {
            app.verification = Verification::Running { done: 0, total: 0 };
            fx.push(Effect::Verify);
        }
        Action::CycleGrouping => {
            app.grouping = app.grouping.next();
            app.groups.clear();
            app.group_sel = 0;
            app.group_offset = 0;
            fx.push(Effect::Groups {
                grouping: app.grouping,
            });
            select_group(app, fx);
        }
        Action::SortBy(col) => {
            if app.sort == col {
                app.descending = !app.descending;
            } else {
                app.sort = col;
                app.descending = false;
            }
            if col == Column::Status && !app.verified {
                app.message =
                    Some("statuses are still being checked: sorted by status once they are".into());
            }
            select_group(app, fx);
        }
        Action::Worker(_) | Action::None | Action::Resize(..) => {}
    }
}

fn on_msg(app: &mut App, msg: Msg, fx: &mut Vec<Effect>) {
    match msg {
        Msg::VerifyProgress { done, total } => {
            if matches!(app.verification, Verification::Running { .. }) {
                app.verification = Verification::Running { done, total };
            }
        }
        Msg::Verified { sources } => {
            app.verification = Verification::Done { sources };
            app.verified = true;
            fx.push(Effect::Groups {
                grouping: app.grouping,
            });
            if app.sort == Column::Status || !list_filter(app).statuses.is_empty() {
                refresh_keeping_selection(app, fx);
            } else {
                // The order does not depend on statuses: the same list, its rows fetched
                // again to show them (no re-sort of a group of millions).
                app.pages_requested.clear();
                app.pages_loaded.clear();
                ensure_pages(app, fx);
            }
        }
        Msg::VerifyFailed(e) => app.verification = Verification::Failed(e),
        Msg::Groups {
            grouping,
            all,
            groups,
            statuses,
        } => {
            if grouping != app.grouping {
                return;
            }
            let old = app.selected_group_key();
            app.all = Some(all);
            app.all_statuses = statuses;
            app.groups = groups;
            app.group_sel = match &old {
                GroupKey::All => 0,
                key => match app.groups.iter().position(|g| &g.key == key) {
                    Some(i) => i + 1,
                    None => app.group_sel.min(app.groups.len()),
                },
            };
            scroll_groups(app);
            if app.selected_group_key() != old {
                select_group(app, fx);
            }
        }
        Msg::List {
            gen,
            len,
            kept,
            first_page,
            ids,
        } => {
            if gen != app.list_gen {
                return;
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            // `kept` is where the entry to keep stands; the user may have moved meanwhile,
            // which cleared it: the selection then stays at its index.
            if let (Some(_), Some(pos)) = (app.keep_selected.take(), kept) {
                app.entry_sel = usize::try_from(pos).unwrap_or(usize::MAX);
            }
            app.entry_sel = app.entry_sel.min(len.saturating_sub(1));
            app.list_len = Some(len);
            // The ids around the selection come with the list, so the rows still held (by id)
            // show at once, where their entries now stand, until fresh copies arrive.
            app.page_ids.clear();
            for (i, chunk) in ids.chunks(PAGE).enumerate() {
                app.page_ids.insert(first_page + i, chunk.to_vec());
            }
            scroll_to_selection(app);
            ensure_pages(app, fx);
            evict_far_rows(app);
        }
        Msg::Rows {
            gen,
            page,
            ids,
            rows,
        } => {
            if gen != app.list_gen {
                return;
            }
            app.pages_loaded.insert(page);
            app.pages_requested.insert(page);
            app.page_ids.insert(page, ids);
            for r in rows {
                app.rows.insert(r.id, r);
            }
            evict_far_rows(app);
        }
        Msg::Detail { id, data } => {
            if app.mode == Mode::Detail && app.detail_id == Some(id) {
                match data {
                    Some(d) => {
                        app.detail = Some(d);
                        count_detail_lines(app);
                    }
                    None => {
                        app.mode = Mode::Normal;
                        app.message = Some(format!("entry {id} no longer exists"));
                    }
                }
            }
        }
        Msg::Counted {
            target,
            count,
            bytes,
        } => {
            // A count asked for before `r` started verifying again: its statuses are old.
            let stale_target = matches!(target, PurgeTarget::Stale(_));
            if let Some(why) = statuses_not_current(app).filter(|_| stale_target) {
                app.message = Some(why.into());
            } else if count == 0 {
                let unchecked = app.selected_group().map_or(0, |g| g.unchecked);
                app.message = Some(match &target {
                    PurgeTarget::Ids(_) => "nothing to invalidate: the entries are gone".into(),
                    PurgeTarget::Stale(key) if unchecked > 0 => format!(
                        "nothing known stale in {}; {unchecked} entries are new since \
                         verification (r checks them)",
                        group_name(key)
                    ),
                    PurgeTarget::Stale(key) => format!("nothing stale in {}", group_name(key)),
                });
            } else if app.mode == Mode::Normal {
                app.confirm = Some(Confirm {
                    target,
                    count,
                    bytes,
                });
                app.mode = Mode::Confirm;
            }
        }
        Msg::PurgeProgress { done, total } => {
            // 0: the backend does not know; keep the count confirmed (a writer may add rows
            // that match meanwhile, so never show fewer than done)
            let known = if total > 0 {
                total
            } else {
                app.purging.map_or(0, |p| p.total)
            };
            app.purging = Some(Purging {
                done,
                total: known.max(done),
            })
        }
        Msg::Purged {
            removed,
            bytes,
            skipped,
            error,
        } => {
            app.purging = None;
            app.marked.clear();
            let mut text = format!(
                "removed {removed} entries, {} freed",
                crate::view::size(bytes)
            );
            if skipped > 0 {
                text.push_str(&format!(
                    "; {skipped} left in place (modified in the last seconds: maybe being written)"
                ));
            }
            if let Some(e) = error {
                text.push_str(&format!("; stopped early: {e}"));
            }
            app.message = Some(text);
            fx.push(Effect::Groups {
                grouping: app.grouping,
            });
            refresh_keeping_selection(app, fx);
        }
        Msg::Opened { kind } => app.kind = Some(kind),
        Msg::StoreChanged => {
            fx.push(Effect::Groups {
                grouping: app.grouping,
            });
            refresh_keeping_selection(app, fx);
        }
        Msg::Notice { badge, text, gone } => {
            app.notice = Some(badge);
            if gone {
                app.store_gone = Some(text.clone());
            }
            app.message = Some(text);
        }
        Msg::Error(e) => app.message = Some(format!("error: {e}")),
        Msg::Idle { .. } => {}
    }
}

fn group_name(key: &GroupKey) -> String {
    match key {
        GroupKey::All => "the store".into(),
        k => format!("group {}", crate::text::truncate(&k.label(), 40)),
    }
}

/// The filter of the entries pane: the selected group and the `/` text.
pub fn list_filter(app: &App) -> EntryFilter {
    let mut f = app.selected_group_key().filter();
    if !app.filter.is_empty() {
        f.text = Some(app.filter.clone());
    }
    f
}

/// The stale (changed, missing, failed) entries of a group; `None` when the group cannot hold
/// any (a status group of a status that is not stale).
pub fn stale_filter(key: &GroupKey) -> Option<EntryFilter> {
    let mut f = key.filter();
    f.statuses = if f.statuses.is_empty() {
        Status::DEFAULT_PURGE.to_vec()
    } else {
        f.statuses.into_iter().filter(|s| s.is_stale()).collect()
    };
    (!f.statuses.is_empty()).then_some(f)
}

fn ids_filter(ids: Vec<EntryId>) -> EntryFilter {
    EntryFilter {
        ids: Some(ids),
        ..Default::default()
    }
}

const READ_ONLY: &str =
    "read-only (--read-only, or the file is not writable): nothing is invalidated";

/// Whether an invalidation may start; if not, says why in the footer.
fn may_invalidate(app: &mut App) -> bool {
    let gone;
    let refusal = if let Some(why) = &app.store_gone {
        gone = format!("nothing is invalidated: {why}");
        gone.as_str()
    } else if app.read_only {
        READ_ONLY
    } else if app.purging.is_some() {
        "a purge is already running"
    } else {
        return true;
    };
    app.message = Some(refusal.into());
    false
}

fn invalidate_marked(app: &mut App, fx: &mut Vec<Effect>) {
    if !may_invalidate(app) {
        return;
    }
    let ids: Vec<EntryId> = if !app.marked.is_empty() {
        app.marked.keys().copied().collect()
    } else if let (Pane::Entries, Some(id)) = (app.pane, app.selected_id()) {
        vec![id]
    } else {
        app.message = Some(
            "nothing to invalidate: mark entries with space, or select one in the entries pane"
                .into(),
        );
        return;
    };
    fx.push(Effect::Count {
        filter: ids_filter(ids.clone()),
        target: PurgeTarget::Ids(ids),
    });
}

/// Why the stale entries cannot be told now: a first verification not done, one running again
/// (its predecessor's statuses would decide, and a file restored meanwhile would not count), or
/// one that failed.
fn statuses_not_current(app: &App) -> Option<&'static str> {
    match (&app.verification, app.verified) {
        (Verification::Done { .. }, true) => None,
        (Verification::Running { .. }, false) => {
            Some("statuses are not known yet: wait for verification to finish")
        }
        (Verification::Running { .. }, true) => {
            Some("statuses are being checked again: wait for verification to finish")
        }
        _ => Some("verification failed: statuses are not known (r verifies again)"),
    }
}

fn invalidate_stale(app: &mut App, fx: &mut Vec<Effect>) {
    if !may_invalidate(app) {
        return;
    }
    if let Some(why) = statuses_not_current(app) {
        app.message = Some(why.into());
        return;
    }
    let key = app.selected_group_key();
    match stale_filter(&key) {
        Some(filter) => fx.push(Effect::Count {
            target: PurgeTarget::Stale(key),
            filter,
        }),
        None => app.message = Some(format!("nothing stale in {}", group_name(&key))),
    }
}

fn toggle_mark(app: &mut App) {
    if app.pane != Pane::Entries {
        app.message = Some("space marks entries: Tab to the entries pane first".into());
        return;
    }
    let Some(id) = app.selected_id() else { return };
    if app.marked.remove(&id).is_none() {
        let bytes = app.rows.get(&id).map_or(0, |r| r.value_size.max(0) as u64);
        app.marked.insert(id, bytes);
    }
    let next = (app.entry_sel + 1).min(app.entry_count().saturating_sub(1));
    app.entry_sel = next;
    scroll_to_selection(app);
}

fn page_size(app: &App) -> usize {
    match (app.mode, app.pane) {
        (Mode::Detail, _) => detail_visible(app),
        (_, Pane::Groups) => app.group_rows_visible(),
        (_, Pane::Entries) => app.entry_rows_visible(),
    }
    .saturating_sub(1)
    .max(1)
}

fn step(app: &mut App, delta: isize, fx: &mut Vec<Effect>) {
    if app.mode == Mode::Detail {
        app.detail_scroll = app.detail_scroll.saturating_add_signed(delta);
        clamp_detail(app);
        return;
    }
    match app.pane {
        Pane::Groups => {
            let max = app.group_count() - 1;
            let sel = app.group_sel.saturating_add_signed(delta).min(max);
            if sel != app.group_sel {
                app.group_sel = sel;
                scroll_groups(app);
                select_group(app, fx);
            }
        }
        Pane::Entries => {
            let n = app.entry_count();
            if n == 0 {
                return;
            }
            // The user moved: a refreshed list keeps the selection where they put it.
            app.keep_selected = None;
            app.entry_sel = app.entry_sel.saturating_add_signed(delta).min(n - 1);
            scroll_to_selection(app);
            ensure_pages(app, fx);
        }
    }
}

fn scroll_groups(app: &mut App) {
    let h = app.group_rows_visible();
    if app.group_sel < app.group_offset {
        app.group_offset = app.group_sel;
    } else if app.group_sel >= app.group_offset + h {
        app.group_offset = app.group_sel + 1 - h;
    }
    app.group_offset = app.group_offset.min(app.group_count().saturating_sub(h));
}

fn scroll_to_selection(app: &mut App) {
    let h = app.entry_rows_visible();
    let n = app.entry_count();
    if app.entry_sel < app.entry_offset {
        app.entry_offset = app.entry_sel;
    } else if app.entry_sel >= app.entry_offset + h {
        app.entry_offset = app.entry_sel + 1 - h;
    }
    app.entry_offset = app.entry_offset.min(n.saturating_sub(h));
}

/// Lines of the detail view that fit on screen.
pub fn detail_visible(app: &App) -> usize {
    (app.height as usize).saturating_sub(6).max(1)
}

/// Counts the detail's lines at the current width (done when the entry or the width changes,
/// not on every scroll key).
fn count_detail_lines(app: &mut App) {
    app.detail_len = super::detail_text::lines(app).len();
}

fn clamp_detail(app: &mut App) {
    app.detail_scroll = app
        .detail_scroll
        .min(app.detail_len.saturating_sub(detail_visible(app)));
}

/// A new group, filter or sort: a new list, from the top.
fn select_group(app: &mut App, fx: &mut Vec<Effect>) {
    app.list_gen += 1;
    app.list_len = None;
    app.page_ids.clear();
    app.rows.clear();
    app.pages_requested.clear();
    app.pages_loaded.clear();
    app.entry_sel = 0;
    app.entry_offset = 0;
    app.keep_selected = None;
    fx.push(list_effect(app));
}

/// The same list again (after a purge, a verification or a producer's write): the list on
/// screen stays until the new one arrives; the selection follows its entry.
fn refresh_keeping_selection(app: &mut App, fx: &mut Vec<Effect>) {
    app.keep_selected = app.selected_id();
    app.list_gen += 1;
    app.pages_requested.clear();
    app.pages_loaded.clear();
    fx.push(list_effect(app));
}

fn list_effect(app: &App) -> Effect {
    Effect::List {
        gen: app.list_gen,
        filter: list_filter(app),
        sort: app.sort,
        descending: app.descending,
        keep: app.keep_selected,
        at: app.entry_sel,
    }
}

/// The pages around the viewport: one screen above and two below are fetched ahead.
fn wanted_pages(app: &App) -> std::ops::RangeInclusive<usize> {
    let h = app.entry_rows_visible();
    let first = app.entry_offset.saturating_sub(h) / PAGE;
    let last = (app.entry_offset + 2 * h) / PAGE;
    first..=last
}

fn ensure_pages(app: &mut App, fx: &mut Vec<Effect>) {
    let Some(len) = app.list_len else { return };
    for page in wanted_pages(app) {
        if page * PAGE >= len || app.pages_requested.contains(&page) {
            continue;
        }
        app.pages_requested.insert(page);
        fx.push(Effect::Rows {
            gen: app.list_gen,
            page,
        });
    }
}

/// Keeps memory flat while scrolling a huge group: pages and rows far from the viewport are
/// dropped (and fetched again if the user comes back).
fn evict_far_rows(app: &mut App) {
    let wanted = wanted_pages(app);
    let (first, last) = (wanted.start().saturating_sub(1), wanted.end() + 1);
    let near = |p: &usize| (first..=last).contains(p);
    app.page_ids.retain(|p, _| near(p));
    app.pages_requested.retain(near);
    app.pages_loaded.retain(near);
    if app.rows.len() <= 8 * PAGE {
        return;
    }
    let keep: HashSet<EntryId> = app.page_ids.values().flatten().copied().collect();
    app.rows.retain(|id, _| keep.contains(id));
}
