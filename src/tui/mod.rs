//! The interactive TUI (ratatui): browse entries by key-derivation strategy, verify, invalidate.
//!
//! Data flows one way. Input events and worker answers arrive on one channel as [`Incoming`];
//! [`action::key_action`] turns keys into [`action::Action`]s; [`update::update`] applies an
//! action to the plain [`app::App`] state and returns [`worker::Effect`]s (slow work) that go
//! to the [`worker`] thread, which owns its own store connection and answers with
//! [`worker::Msg`]s on the same channel; [`ui::draw`] draws from `&App` only. The loop redraws
//! when an event or an answer changed something, never on a timer.

pub mod action;
pub mod app;
pub mod detail_text;
mod event_loop;
pub mod keys;
pub mod theme;
pub mod ui;
pub mod update;
pub mod worker;

#[cfg(test)]
mod tests;

pub use event_loop::{run_loop, Session};

use crate::store::OpenOptions;
use anyhow::{Context, Result};
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;
use std::io::stdout;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What arrives on the event loop's channel.
#[derive(Debug)]
pub enum Incoming {
    /// A terminal event (key, mouse, resize), from the input thread or a test script.
    Input(event::Event),
    /// An answer from the worker.
    Worker(worker::Msg),
    /// The terminal can no longer be read: quit, restoring what can be restored.
    Terminate,
    /// A signal that ends the process (SIGINT, SIGTERM, SIGHUP, SIGQUIT): a running purge is
    /// stopped between batches, then the app quits, restoring the terminal.
    Signal(i32),
}

/// How the TUI ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The signal that ended it (the process exits 128 + signal), or none: the user quit.
    pub signal: Option<i32>,
    /// What a purge cut short by the signal had removed, to say after the screen is restored.
    pub note: Option<String>,
}

/// How the TUI runs.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Open the store read-only (also forced when the file is not writable).
    pub read_only: bool,
    /// Capture the mouse (wheel scrolls).
    pub mouse: bool,
    /// Use colours; off with NO_COLOR (statuses are words and the selection is marked anyway).
    pub color: bool,
    pub remap: Vec<(PathBuf, PathBuf)>,
    pub busy_timeout: Duration,
    /// Where foreign caches' module files are looked up (`--source-root`).
    pub source_roots: Vec<PathBuf>,
    /// A Streamlit app's entry script (`--app`).
    pub app: Option<PathBuf>,
}

impl TuiOptions {
    /// How the worker opens the cache.
    pub fn backend_options(&self) -> crate::backend::Options {
        crate::backend::Options {
            open: OpenOptions {
                read_only: self.read_only,
                busy_timeout: self.busy_timeout,
            },
            source_roots: self.source_roots.clone(),
            app: self.app.clone(),
        }
    }
}

impl Default for TuiOptions {
    fn default() -> Self {
        TuiOptions {
            read_only: false,
            mouse: false,
            color: true,
            remap: Vec::new(),
            busy_timeout: Duration::from_secs(5),
            source_roots: Vec::new(),
            app: None,
        }
    }
}

/// Whether the cache can be written: a store file opened for writing, a cache directory
/// writable by this user (nothing is created or changed).
pub fn writable(path: &Path) -> bool {
    if path.is_dir() {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: `c` is a valid NUL-terminated path; access() only reads it.
        return unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
    }
    std::fs::OpenOptions::new().write(true).open(path).is_ok()
}

/// Runs the TUI on the terminal until the user quits or a signal ends it.
pub fn run(store: PathBuf, options: TuiOptions) -> Result<Outcome> {
    let mut options = options;
    // Open once before the screen switches, so a wrong file is reported as plainly as by the
    // other commands. The worker opens its own connection.
    let opened = crate::backend::open(
        &store,
        &crate::backend::Options {
            open: OpenOptions {
                read_only: true,
                busy_timeout: options.busy_timeout,
            },
            ..options.backend_options()
        },
    )?;
    drop(opened);
    options.read_only = options.read_only || !writable(&store);

    install_panic_hook(options.mouse);
    quiet_stderr::start();
    terminal::enable_raw_mode().context("could not switch the terminal to raw mode")?;
    let guard = Restore {
        mouse: options.mouse,
    };
    execute!(stdout(), EnterAlternateScreen)?;
    if options.mouse {
        execute!(stdout(), EnableMouseCapture)?;
    }
    let mut term = Terminal::new(CrosstermBackend::new(stdout()))?;
    term.hide_cursor()?;
    let size = term.size()?;

    let mut session = Session::start(&store, &options, (size.width, size.height));
    spawn_input_thread(session.sender());
    spawn_signal_thread(session.sender());
    let result = run_loop(&mut term, &mut session);
    let outcome = session.outcome();
    drop(session);
    if term.show_cursor().is_err() {
        // The terminal is gone (a hangup: SSH dropped). Dropping `term` would try again and
        // report the failure with `eprintln!`, which panics (exit 101) when stderr is that
        // same dead terminal.
        std::mem::forget(term);
    }
    drop(guard);
    if outcome.signal.is_some() {
        // Ending on a signal is the outcome, whatever the (maybe gone) terminal said.
        return Ok(outcome);
    }
    result.map(|()| outcome)
}

/// Leaves raw mode and the alternate screen when dropped (also on an early error).
struct Restore {
    mouse: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal(self.mouse);
    }
}

fn restore_terminal(mouse: bool) {
    quiet_stderr::stop();
    if mouse {
        let _ = execute!(stdout(), DisableMouseCapture);
    }
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        stdout(),
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// A panic restores the terminal before the message is printed.
fn install_panic_hook(mouse: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal(mouse);
        previous(info);
    }));
}

fn spawn_input_thread(tx: std::sync::mpsc::Sender<Incoming>) {
    let _ = std::thread::Builder::new()
        .name("cachescope-input".into())
        .spawn(move || loop {
            match event::read() {
                Ok(ev) => {
                    if tx.send(Incoming::Input(ev)).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    let _ = tx.send(Incoming::Terminate);
                    return;
                }
            }
        });
}

/// Every signal that ends the process by default and can be caught (SIGINT from `kill -INT`,
/// SIGTERM, SIGHUP when the SSH link drops, SIGQUIT) quits through the loop, which stops a
/// running purge between batches and restores the terminal. A second one while waiting for the
/// purge quits at once (the batch in flight rolls back).
fn spawn_signal_thread(tx: std::sync::mpsc::Sender<Incoming>) {
    let Ok(mut signals) = signal_hook::iterator::Signals::new(crate::signals::ending_not_ignored())
    else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("cachescope-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(Incoming::Signal(sig)).is_err() {
                    return;
                }
            }
        });
}

/// The name of a signal the TUI handles, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    crate::signals::name(sig)
}

/// While the app owns the screen, anything written to stderr (a library's diagnostics, a
/// stray debug line) would scroll and corrupt it: fd 2 points at /dev/null until the terminal
/// is restored (also on panic, so the panic message is seen).
#[cfg(unix)]
mod quiet_stderr {
    use std::sync::atomic::{AtomicI32, Ordering};

    static SAVED: AtomicI32 = AtomicI32::new(-1);

    pub fn start() {
        // SAFETY: plain fd calls on fds we own; failures leave stderr as it was.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if null < 0 {
                return;
            }
            let saved = libc::dup(2);
            if saved >= 0 && libc::dup2(null, 2) >= 0 {
                SAVED.store(saved, Ordering::SeqCst);
            } else if saved >= 0 {
                libc::close(saved);
            }
            libc::close(null);
        }
    }

    pub fn stop() {
        let saved = SAVED.swap(-1, Ordering::SeqCst);
        if saved >= 0 {
            // SAFETY: `saved` is the dup of the original stderr taken in `start`.
            unsafe {
                libc::dup2(saved, 2);
                libc::close(saved);
            }
        }
    }
}

#[cfg(not(unix))]
mod quiet_stderr {
    pub fn start() {}
    pub fn stop() {}
}
