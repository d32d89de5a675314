//! Exit codes, in one place.

/// What the process exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; for `verify`: no entry is stale.
    Ok = 0,
    /// `verify` found stale entries (changed, missing or failed).
    Stale = 1,
    /// Bad input, an unreadable or busy store, or any other error.
    Error = 2,
    /// The TUI ended on SIGHUP (128 + 1).
    Hangup = 129,
    /// The TUI ended on SIGINT (128 + 2).
    Interrupted = 130,
    /// The TUI ended on SIGQUIT (128 + 3).
    Quit = 131,
    /// The TUI ended on SIGTERM (128 + 15).
    Terminated = 143,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

static WHEN_OUTPUT_CUT: std::sync::atomic::AtomicU8 =
    std::sync::atomic::AtomicU8::new(Exit::Ok as u8);

/// Records what the command's exit status is once its result is known and before it prints:
/// when the reader closes stdout early (`verify | head -1`), the process still exits with it.
pub fn set_outcome(exit: Exit) {
    WHEN_OUTPUT_CUT.store(exit as u8, std::sync::atomic::Ordering::SeqCst);
}

/// The exit status for a command whose output was cut short by a closed pipe.
pub fn outcome_when_output_cut() -> Exit {
    match WHEN_OUTPUT_CUT.load(std::sync::atomic::Ordering::SeqCst) {
        1 => Exit::Stale,
        2 => Exit::Error,
        _ => Exit::Ok,
    }
}

impl Exit {
    /// The exit status for a process ended by `signal` (128 + its number).
    pub fn for_signal(signal: i32) -> Exit {
        match signal {
            1 => Exit::Hangup,
            2 => Exit::Interrupted,
            3 => Exit::Quit,
            _ => Exit::Terminated,
        }
    }
}
