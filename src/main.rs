use cachescope::cli::{self, Exit};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread: what the big phases free goes back to the system (see the module).
    cachescope::memory::tune_malloc();
    match cli::run() {
        Ok(exit) => exit.into(),
        // The result was decided before printing; a reader that stopped early changes nothing.
        Err(err) if is_broken_pipe(&err) => cli::outcome_when_output_cut().into(),
        Err(err) => {
            // One line, naming the file and the problem; untrusted parts escaped.
            eprintln!(
                "cachescope: {}",
                cachescope::text::escape(&format!("{err:#}"))
            );
            Exit::Error.into()
        }
    }
}

/// `cachescope list ... | head` closes the pipe early; that is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
