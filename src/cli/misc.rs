//! The small commands: demo, schema, completions, man, and the TUI entry point.

use super::{Cli, Exit, TuiArgs};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub fn demo(dir: Option<PathBuf>) -> Result<Exit> {
    let dir = dir.unwrap_or_else(crate::demo::default_dir);
    let path = crate::demo::write_demo(&dir).context("could not write the demo store")?;
    writeln!(
        std::io::stdout(),
        "{}",
        crate::text::escape(&path.display().to_string())
    )?;
    Ok(Exit::Ok)
}

pub fn schema() -> Result<Exit> {
    std::io::stdout().write_all(crate::store::SCHEMA_SQL.as_bytes())?;
    Ok(Exit::Ok)
}

pub fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    // Generated into memory: clap_complete panics on a write error such as a closed pipe.
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cachescope", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(Exit::Ok)
}

pub fn man() -> Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    std::io::stdout().write_all(&out)?;
    Ok(Exit::Ok)
}

/// `cachescope [STORE]`: the TUI on a terminal. Without a terminal (a pipe, CI) there is nothing
/// to draw on, so it prints the store's summary instead.
pub fn tui(store: Option<PathBuf>, args: &TuiArgs) -> Result<Exit> {
    let path = match store {
        Some(p) => p,
        None => {
            let p = crate::demo::write_demo(&crate::demo::default_dir())
                .context("could not write the demo store")?;
            eprintln!(
                "cachescope: demo store {}",
                crate::text::escape(&p.display().to_string())
            );
            p
        }
    };
    if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        eprintln!("cachescope: not a terminal, so the summary instead of the TUI");
        return super::inspect::summary(&path, &args.paths, false);
    }
    run_tui(path, args)
}

#[cfg(feature = "tui")]
fn run_tui(path: PathBuf, args: &TuiArgs) -> Result<Exit> {
    let options = crate::tui::TuiOptions {
        read_only: args.read_only,
        mouse: args.mouse,
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        remap: args.paths.remap.clone(),
        busy_timeout: args.paths.busy_timeout,
        source_roots: args.paths.source_root.clone(),
        app: args.paths.app.clone(),
    };
    let outcome = crate::tui::run(path, options)?;
    let Some(sig) = outcome.signal else {
        return Ok(Exit::Ok);
    };
    // The screen is restored: say what ended it and what a cut-short purge removed. After a
    // hangup stderr may be the dead terminal: the line is lost then, and the exit code says it.
    let name = crate::signals::name(sig);
    let line = match outcome.note {
        Some(note) => format!(
            "cachescope: stopped by {name}; {}",
            crate::text::escape(&note)
        ),
        None => format!("cachescope: stopped by {name}"),
    };
    let _ = writeln!(std::io::stderr(), "{line}");
    Ok(Exit::for_signal(sig))
}

/// Built without the `tui` feature: the summary, saying why.
#[cfg(not(feature = "tui"))]
fn run_tui(path: PathBuf, args: &TuiArgs) -> Result<Exit> {
    eprintln!("cachescope: built without the TUI (feature `tui`), so the summary instead");
    super::inspect::summary(&path, &args.paths, false)
}
