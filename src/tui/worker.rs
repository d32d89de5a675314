//! The worker: a thread that owns its own [`Store`] connection (a `rusqlite::Connection` is not
//! `Sync`, so the UI thread never touches it) and runs every slow job the UI asks for. Results
//! come back as [`Msg`] values on the event loop's channel; the UI never waits for them.
//!
//! Verification runs on a further thread (rayon underneath), which lists the sources on a
//! second connection and checks them a batch at a time, keeping only a status and a path per
//! source, so page fetches stay instant while a large store is verified; its result comes back
//! to the worker, which loads the statuses into its connection (status filters, sorting by
//! status and purges need them).
//!
//! The entries pane's sorted list stays here, in the backend (a store: a TEMP table of the
//! worker's connection); the UI knows its length and asks for pages by position.

use super::app::{Column, PurgeTarget, PAGE};
use super::Incoming;
use crate::backend::{self, Backend, EntryFilter, EntryId, EntryRow, PurgePlan};
use crate::model::{self, Checked, Explained, Group, Grouping, Verified};
use crate::preview;
use crate::verify::PathMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the worker asks SQLite whether another connection committed.
const POLL: Duration = Duration::from_secs(1);
/// Progress messages are sent at most this often (and always at the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// Slow work the UI asks for; returned by `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Hash every referenced source; statuses follow.
    Verify,
    Groups {
        grouping: Grouping,
    },
    /// Make the sorted list of the selected group, kept by the worker (replacing the last).
    List {
        gen: u64,
        filter: EntryFilter,
        sort: Column,
        descending: bool,
        /// The entry whose new position the answer gives (a refresh keeps the selection on it).
        keep: Option<EntryId>,
        /// The selection's position: the answer brings the ids around it (or around `keep`).
        at: usize,
    },
    /// One page of the current list: its ids and their rows.
    Rows {
        gen: u64,
        page: usize,
    },
    Detail {
        id: EntryId,
    },
    /// Count what an invalidation would remove, to ask for confirmation.
    Count {
        target: PurgeTarget,
        filter: EntryFilter,
    },
    Purge {
        filter: EntryFilter,
    },
}

/// Answers from the worker.
#[derive(Debug, Clone)]
pub enum Msg {
    /// The cache opened; what kind it is.
    Opened {
        kind: &'static str,
    },
    VerifyProgress {
        done: usize,
        total: usize,
    },
    Verified {
        sources: usize,
    },
    VerifyFailed(String),
    Groups {
        grouping: Grouping,
        all: Group,
        groups: Vec<Group>,
        /// Whether the counts include statuses (verification had finished).
        statuses: bool,
    },
    /// The list is made: `len` entries; where `keep` now stands; the ids of the pages from
    /// `first_page` on, around it (or around `at`).
    List {
        gen: u64,
        len: u64,
        kept: Option<u64>,
        first_page: usize,
        ids: Vec<EntryId>,
    },
    /// A page of the list: its ids, and the rows of those still there (with their statuses
    /// once verification has loaded them).
    Rows {
        gen: u64,
        page: usize,
        ids: Vec<EntryId>,
        rows: Vec<EntryRow>,
    },
    Detail {
        id: EntryId,
        /// The entry explained (read and hashed here, not on the UI thread); `None`: gone.
        data: Option<Box<Explained>>,
    },
    Counted {
        target: PurgeTarget,
        count: u64,
        bytes: u64,
    },
    PurgeProgress {
        done: u64,
        total: u64,
    },
    Purged {
        removed: u64,
        bytes: u64,
        /// Selected entries left in place (a file still being written).
        skipped: u64,
        error: Option<String>,
    },
    /// Another connection committed to the store.
    StoreChanged,
    /// Something the header shows as a badge, with its explanation for the footer. `gone`:
    /// the path no longer names the store that was opened, so nothing may be written.
    Notice {
        badge: &'static str,
        text: String,
        gone: bool,
    },
    Error(String),
    /// The worker has answered `jobs` jobs and has nothing running.
    Idle {
        jobs: u64,
    },
}

enum Job {
    Effect(Effect),
    VerifyDone {
        run: u64,
        checked: crate::store::Result<Checked>,
    },
    Shutdown,
}

/// How the worker opens the store.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub open: backend::Options,
    pub remap: Vec<(PathBuf, PathBuf)>,
    /// Set to stop a running purge between batches (a signal arrived).
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The UI side of the worker: send effects; dropping it stops the thread.
pub struct Worker {
    tx: Sender<Job>,
    sent: u64,
}

impl Worker {
    pub fn spawn(path: PathBuf, options: WorkerOptions, out: Sender<Incoming>) -> Worker {
        let (tx, rx) = mpsc::channel();
        let self_tx = tx.clone();
        std::thread::Builder::new()
            .name("cachescope-worker".into())
            .spawn(move || State::new(path, options, out, self_tx).run(rx))
            .expect("spawning the worker thread");
        Worker { tx, sent: 0 }
    }

    pub fn send(&mut self, effect: Effect) {
        self.sent += 1;
        let _ = self.tx.send(Job::Effect(effect));
    }

    /// How many effects were sent so far (compare with [`Msg::Idle`]).
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.tx.send(Job::Shutdown);
    }
}

struct State {
    store: Option<Box<dyn Backend>>,
    paths: PathMap,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    out: Sender<Incoming>,
    self_tx: Sender<Job>,
    verified: Option<Verified>,
    verify_run: u64,
    /// The generation of the list the backend holds.
    list_gen: Option<u64>,
    verifying: bool,
    received: u64,
    data_version: Option<i64>,
    last_poll: Instant,
    /// The store path was found naming another file (or none): said once, never polled again.
    gone: bool,
}

impl State {
    fn new(
        path: PathBuf,
        options: WorkerOptions,
        out: Sender<Incoming>,
        self_tx: Sender<Job>,
    ) -> State {
        let opened = backend::open(&path, &options.open);
        let store = match opened {
            Ok(s) => {
                let _ = out.send(Incoming::Worker(Msg::Opened { kind: s.kind() }));
                Some(s)
            }
            Err(e) => {
                let _ = out.send(Incoming::Worker(Msg::Error(format!("{e}"))));
                None
            }
        };
        let base = store
            .as_ref()
            .map_or_else(|| PathBuf::from("."), |s| s.base_dir());
        let data_version = store.as_ref().and_then(|s| s.change_token().ok());
        if let Some(s) = store.as_ref().filter(|s| s.is_immutable()) {
            let _ = out.send(Incoming::Worker(Msg::Notice {
                badge: "IMMUTABLE",
                text: s.warnings().join("; "),
                gone: false,
            }));
        }
        State {
            store,
            paths: PathMap::new(base, options.remap),
            cancel: options.cancel,
            out,
            self_tx,
            verified: None,
            verify_run: 0,
            list_gen: None,
            verifying: false,
            received: 0,
            data_version,
            last_poll: Instant::now(),
            gone: false,
        }
    }

    fn send(&self, msg: Msg) {
        let _ = self.out.send(Incoming::Worker(msg));
    }

    fn run(mut self, rx: Receiver<Job>) {
        loop {
            let wait = POLL.saturating_sub(self.last_poll.elapsed());
            let mut batch = match rx.recv_timeout(wait) {
                Ok(job) => vec![job],
                Err(RecvTimeoutError::Timeout) => Vec::new(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            batch.extend(rx.try_iter());
            if batch.iter().any(|j| matches!(j, Job::Shutdown)) {
                return;
            }
            let had_jobs = !batch.is_empty();
            let (batch, dropped) = coalesce(batch);
            // Dropped jobs count as answered, so `Idle` still matches what the UI sent.
            self.received += dropped;
            for job in batch {
                self.handle(job);
            }
            if self.last_poll.elapsed() >= POLL {
                self.poll();
            }
            if had_jobs && !self.verifying {
                self.send(Msg::Idle {
                    jobs: self.received,
                });
            }
        }
    }

    fn poll(&mut self) {
        self.last_poll = Instant::now();
        let Some(store) = &self.store else { return };
        if self.gone {
            return;
        }
        if let Err(e) = store.check_same() {
            self.gone = true;
            self.send(Msg::Notice {
                badge: "STORE REPLACED",
                text: format!("{e}"),
                gone: true,
            });
            return;
        }
        if let Ok(v) = store.change_token() {
            if self.data_version.is_some_and(|old| old != v) {
                self.send(Msg::StoreChanged);
            }
            self.data_version = Some(v);
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Shutdown => {}
            Job::VerifyDone { run, checked } => {
                if run != self.verify_run {
                    return;
                }
                self.verifying = false;
                let Some(store) = &self.store else { return };
                let finished = checked.and_then(|c| model::finish_verification(store.as_ref(), c));
                match finished {
                    Ok(verified) => {
                        let n = verified.sources;
                        self.verified = Some(verified);
                        self.send(Msg::Verified { sources: n });
                    }
                    Err(e) => self.send(Msg::VerifyFailed(e.to_string())),
                }
            }
            Job::Effect(effect) => {
                self.received += 1;
                if let Err(msg) = self.effect(effect) {
                    self.send(Msg::Error(msg));
                }
            }
        }
    }

    fn effect(&mut self, effect: Effect) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Err("the store could not be opened".into());
        };
        let err = |e: crate::store::StoreError| e.to_string();
        match effect {
            Effect::Verify => {
                let listing = match model::Listing::of(store.as_ref()) {
                    Ok(l) => l,
                    Err(e) => {
                        self.send(Msg::VerifyFailed(e.to_string()));
                        return Ok(());
                    }
                };
                self.verify_run += 1;
                self.verifying = true;
                let run = self.verify_run;
                let paths = self.paths.clone();
                let out = self.out.clone();
                let back = self.self_tx.clone();
                std::thread::Builder::new()
                    .name("cachescope-verify".into())
                    .spawn(move || {
                        let last = Mutex::new(None::<Instant>);
                        let progress = |done: usize, total: usize| {
                            if throttle(&last, done == total) {
                                let _ =
                                    out.send(Incoming::Worker(Msg::VerifyProgress { done, total }));
                            }
                        };
                        let checked = model::check_sources(listing, &paths, &progress);
                        let _ = back.send(Job::VerifyDone { run, checked });
                    })
                    .map_err(|e| e.to_string())?;
            }
            Effect::Groups { grouping } => {
                let (all, groups) =
                    model::groups(store.as_ref(), grouping, self.verified.as_ref()).map_err(err)?;
                self.send(Msg::Groups {
                    grouping,
                    all,
                    groups,
                    statuses: self.verified.is_some(),
                });
            }
            Effect::List {
                gen,
                filter,
                sort,
                descending,
                keep,
                at,
            } => {
                let loaded = self.verified.as_ref().and_then(|v| v.loaded);
                self.list_gen = None;
                let len = store
                    .select_list(&filter, sort.sort_key(loaded), descending)
                    .map_err(err)?;
                self.list_gen = Some(gen);
                let kept = match keep {
                    Some(id) => store.list_position(id).map_err(err)?,
                    None => None,
                };
                // The page of the selection and one on each side.
                let around = kept.unwrap_or(at as u64).min(len.saturating_sub(1));
                let first_page = (around / PAGE as u64).saturating_sub(1);
                let ids = store
                    .list_page(first_page * PAGE as u64, 3 * PAGE)
                    .map_err(err)?;
                self.send(Msg::List {
                    gen,
                    len,
                    kept,
                    first_page: first_page as usize,
                    ids,
                });
            }
            Effect::Rows { gen, page } => {
                // A page of a list replaced since: its answer would be dropped anyway.
                if self.list_gen != Some(gen) {
                    return Ok(());
                }
                let loaded = self.verified.as_ref().and_then(|v| v.loaded);
                let ids = store.list_page((page * PAGE) as u64, PAGE).map_err(err)?;
                let rows = store.entries_by_ids(&ids, loaded).map_err(err)?;
                self.send(Msg::Rows {
                    gen,
                    page,
                    ids,
                    rows,
                });
            }
            Effect::Detail { id } => {
                let data = store
                    .entry_detail(id, preview::PREVIEW_BYTES)
                    .map_err(err)?
                    .map(|d| Box::new(model::explain(d, &self.paths)));
                self.send(Msg::Detail { id, data });
            }
            Effect::Count { target, filter } => {
                let (count, bytes) = store.count(&filter).map_err(err)?;
                self.send(Msg::Counted {
                    target,
                    count,
                    bytes,
                });
            }
            Effect::Purge { filter } => {
                let last = Mutex::new(None::<Instant>);
                let out = self.out.clone();
                let plan = PurgePlan {
                    filter,
                    dry_run: false,
                    cancel: Some(self.cancel.clone()),
                };
                let result = store.purge(&plan, &mut |p| {
                    if throttle(&last, p.done == p.total) {
                        let _ = out.send(Incoming::Worker(Msg::PurgeProgress {
                            done: p.done,
                            total: p.total,
                        }));
                    }
                });
                let msg = match result {
                    Ok(o) => Msg::Purged {
                        removed: o.removed,
                        bytes: o.bytes,
                        skipped: o.skipped.len() as u64,
                        error: o.interrupted.map(|e| e.to_string()),
                    },
                    Err(e) => Msg::Purged {
                        removed: 0,
                        bytes: 0,
                        skipped: 0,
                        error: Some(e.to_string()),
                    },
                };
                self.send(msg);
            }
        }
        Ok(())
    }
}

/// Whether a progress message is due: at most every [`PROGRESS_EVERY`], always at the end.
fn throttle(last: &Mutex<Option<Instant>>, end: bool) -> bool {
    let Ok(mut last) = last.lock() else {
        return end;
    };
    if end || last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
        *last = Some(Instant::now());
        true
    } else {
        false
    }
}

/// Drops jobs a later job in the same batch makes pointless: older lists and their pages,
/// older group aggregates and details.
fn coalesce(batch: Vec<Job>) -> (Vec<Job>, u64) {
    let last_list_gen = batch
        .iter()
        .filter_map(|j| match j {
            Job::Effect(Effect::List { gen, .. }) => Some(*gen),
            _ => None,
        })
        .max();
    let last_groups = batch
        .iter()
        .rposition(|j| matches!(j, Job::Effect(Effect::Groups { .. })));
    let last_detail = batch
        .iter()
        .rposition(|j| matches!(j, Job::Effect(Effect::Detail { .. })));
    let mut dropped = 0u64;
    let mut kept: Vec<Job> = Vec::with_capacity(batch.len());
    for (i, job) in batch.into_iter().enumerate() {
        let drop = match &job {
            Job::Effect(Effect::List { gen, .. }) => Some(*gen) != last_list_gen,
            Job::Effect(Effect::Rows { gen, .. }) => last_list_gen.is_some_and(|g| *gen < g),
            Job::Effect(Effect::Groups { .. }) => Some(i) != last_groups,
            Job::Effect(Effect::Detail { .. }) => Some(i) != last_detail,
            _ => false,
        };
        if drop {
            dropped += 1;
        } else {
            kept.push(job);
        }
    }
    (kept, dropped)
}
