//! The signals that end cachescope by default and that it catches to stop a purge between
//! batches (SIGINT from Ctrl-C or `kill -INT`, SIGTERM, SIGHUP when an SSH link drops,
//! SIGQUIT), and their names for messages.

/// Every signal a purge stops on (the process then exits 128 + the signal).
pub const ENDING: [i32; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Those of [`ENDING`] this process did not start with ignored: a purge run under `nohup`
/// (SIGHUP ignored), or as a background job of a shell without job control (SIGINT and SIGQUIT
/// ignored), keeps ignoring them, as the user asked.
pub fn ending_not_ignored() -> Vec<i32> {
    ENDING
        .into_iter()
        .filter(|&sig| {
            // SAFETY: sigaction with a null new action only reads the current disposition into
            // the zeroed struct we own.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction != libc::SIG_IGN
            }
        })
        .collect()
}

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

/// Held from a purge's commit until the files that commit freed are unlinked (a diskcache's
/// value files): a process that ends meanwhile leaves files no row references.
static COMMITTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Enters the section between a commit and the unlinking of what it freed; leave it by
/// dropping the guard.
pub fn committing() -> std::sync::MutexGuard<'static, ()> {
    COMMITTING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Before ending the process in the middle of a purge (a second signal): waits for a commit
/// whose files are being unlinked, then keeps any further commit from starting, so the batch
/// in flight rolls back and nothing is left half done.
pub fn freeze_purges() {
    std::mem::forget(committing());
}
