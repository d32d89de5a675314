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
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}
