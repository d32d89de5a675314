//! The signals that end cachescope by default and that it catches to stop a purge between
//! batches (SIGINT from Ctrl-C or `kill -INT`, SIGTERM, SIGHUP when an SSH link drops,
//! SIGQUIT), and their names for messages.

/// Every signal a purge stops on (the process then exits 128 + the signal).
pub const ENDING: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The name of one of [`ENDING`], for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}
