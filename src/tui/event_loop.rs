//! The event loop, generic over the ratatui backend, and [`Session`]: the app, its worker and
//! the channel they share. Production feeds the channel from the terminal; tests drive the same
//! session with scripted keys and wait for the worker deterministically ([`Session::settle`]).

use super::action::Action;
use super::app::App;
use super::keys::{key_action, mouse_action};
use super::update::update;
use super::worker::{Msg, Worker, WorkerOptions};
use super::{ui, Incoming, TuiOptions};
use ratatui::backend::Backend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The app, its worker and their channel.
pub struct Session {
    pub app: App,
    worker: Worker,
    rx: Receiver<Incoming>,
    tx: Sender<Incoming>,
    /// Jobs the worker had answered at its last `Idle`.
    answered: u64,
    /// Stops a running purge between batches.
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The signal that asked the app to end, once one arrived.
    signal: Option<i32>,
    /// What a purge stopped by that signal had removed.
    note: Option<String>,
}

impl Session {
    /// Spawns the worker (which opens its own connection) and asks for the first data. Returns
    /// at once: nothing here touches the store, so the first frame can be drawn right away.
    pub fn start(store: &Path, options: &TuiOptions, (width, height): (u16, u16)) -> Session {
        let (tx, rx) = mpsc::channel();
        let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker = Worker::spawn(
            store.to_path_buf(),
            WorkerOptions {
                open: options.backend_options(),
                remap: options.remap.clone(),
                cancel: cancel.clone(),
            },
            tx.clone(),
        );
        let app = App::new(
            store.display().to_string(),
            options.read_only,
            options.color,
        );
        let mut session = Session {
            app,
            worker,
            rx,
            tx,
            answered: 0,
            cancel,
            signal: None,
            note: None,
        };
        session.app.now_ms = now_ms();
        session.apply(Action::Resize(width, height));
        session.apply(Action::Start);
        session
    }

    /// A sender for input events (the terminal reader, signal handlers, tests).
    pub fn sender(&self) -> Sender<Incoming> {
        self.tx.clone()
    }

    /// Applies an action and hands its effects to the worker.
    pub fn apply(&mut self, action: Action) {
        for effect in update(&mut self.app, action) {
            self.worker.send(effect);
        }
    }

    /// Handles one incoming event; returns whether the screen may have changed.
    pub fn handle(&mut self, incoming: Incoming) -> bool {
        self.app.now_ms = now_ms();
        let action = match incoming {
            Incoming::Input(Event::Key(key)) => key_action(self.app.mode, key),
            Incoming::Input(Event::Mouse(m)) => mouse_action(m),
            Incoming::Input(Event::Resize(w, h)) => Action::Resize(w, h),
            Incoming::Input(_) => return false,
            Incoming::Worker(Msg::Idle { jobs }) => {
                self.answered = jobs;
                return false;
            }
            Incoming::Worker(msg) => {
                let purged = matches!(msg, Msg::Purged { .. });
                self.apply(Action::Worker(msg));
                if purged && self.signal.is_some() {
                    // The purge stopped for the signal: say what it removed, then end.
                    self.note = self.app.message.clone();
                    self.app.quit = true;
                }
                return true;
            }
            Incoming::Terminate => Action::Quit,
            Incoming::Signal(sig) => {
                let again = self.signal.is_some();
                self.signal = Some(sig);
                if self.app.purging.is_some() && !again {
                    // Stop between batches and wait for the worker's report.
                    self.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
                    self.app.message = Some(format!(
                        "{}: stopping the purge after the current batch…",
                        super::signal_name(sig)
                    ));
                    return true;
                }
                if again && self.app.purging.is_some() {
                    // Wait for a commit whose files are being unlinked; none starts after.
                    crate::signals::freeze_purges();
                    self.note = Some(format!(
                        "the purge was stopped mid-batch at {}/{} entries; that batch rolls back",
                        self.app.purging.map_or(0, |p| p.done),
                        self.app.purging.map_or(0, |p| p.total)
                    ));
                }
                Action::Quit
            }
        };
        self.apply(action);
        true
    }

    /// How the session ended: the signal that ended it and what a purge it cut short removed.
    pub fn outcome(&self) -> super::Outcome {
        super::Outcome {
            signal: self.signal,
            note: self.note.clone(),
        }
    }

    /// Presses a key (for tests and scripts).
    pub fn key(&mut self, code: KeyCode) {
        self.key_with(code, KeyModifiers::NONE);
    }

    pub fn key_with(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        self.handle(Incoming::Input(Event::Key(KeyEvent::new(code, modifiers))));
    }

    /// Handles worker answers until the worker has answered every effect sent so far and has
    /// nothing running (verification included). Returns false on timeout.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.answered == self.worker.sent() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(incoming) => {
                    self.handle(incoming);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Handles incoming events until `done` holds for the app, for what arrives unasked (a
    /// live store's refresh). Returns false on timeout.
    pub fn wait_until(&mut self, timeout: Duration, done: impl Fn(&App) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(incoming) => {
                    self.handle(incoming);
                }
                Err(_) => return done(&self.app),
            }
        }
        true
    }

    /// Waits for the next incoming event (production loop).
    fn recv(&self) -> Option<Incoming> {
        self.rx.recv().ok()
    }

    fn try_recv(&self) -> Option<Incoming> {
        self.rx.try_recv().ok()
    }
}

/// Draws the first frame at once, then redraws after each batch of events that changed
/// something, until the app quits.
pub fn run_loop<B: Backend>(terminal: &mut Terminal<B>, session: &mut Session) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    terminal.draw(|f| ui::draw(f, &session.app))?;
    while !session.app.quit {
        let Some(first) = session.recv() else { break };
        let mut changed = session.handle(first);
        // Take whatever else is already queued before drawing once.
        while !session.app.quit {
            match session.try_recv() {
                Some(more) => changed |= session.handle(more),
                None => break,
            }
        }
        if changed && !session.app.quit {
            let drawn = terminal.draw(|f| ui::draw(f, &session.app));
            // A terminal that can no longer be written to is gone (the SSH link dropped; the
            // hangup signal may reach only the remote shell): end as on SIGHUP, stopping a
            // running purge between batches. After a signal the failures are expected; keep
            // waiting for the purge's report anyway.
            if drawn.is_err() && session.signal.is_none() {
                session.handle(Incoming::Signal(libc::SIGHUP));
            }
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
