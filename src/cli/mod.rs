//! The command line: clap definitions (their doc comments are the help text), one module per
//! subcommand, exit codes in [`Exit`].

mod exit;
mod inspect;
mod list;
mod misc;
mod output;
mod purge;
mod show;
mod verify;

pub use exit::{outcome_when_output_cut, Exit};

use crate::backend::Backend;
use crate::status::Status;
use crate::store::OpenOptions;
use crate::verify::{parse_remap, PathMap};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  cachescope                          open the demo store in the TUI
  cachescope cache.db                 browse a store; --read-only to be sure nothing changes
  cachescope summary cache.db         entries, bytes and statuses per key-derivation strategy
  cachescope verify cache.db --json   one row per fingerprint source; exit 1 if any entry is stale
  cachescope list cache.db --status changed --function 'app.*'
  cachescope purge cache.db --dry-run show what a purge would remove
  cachescope purge cache.db --older-than 7d --strategy bytecode --json";

/// Inspect a function cache store: entries grouped by how their keys were derived, verified
/// against the files their fingerprints came from; invalidate the stale ones.
#[derive(Debug, Parser)]
#[command(name = "cachescope", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Store to browse in the TUI; without one (and without a subcommand) the demo store.
    pub store: Option<PathBuf>,

    #[command(flatten)]
    pub tui: TuiArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the interactive TUI.
#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    /// Open the store read-only: invalidation keys explain why they do nothing.
    #[arg(long)]
    pub read_only: bool,

    /// Capture mouse events (scrolling and clicks); off by default so terminal selection works.
    #[arg(long)]
    pub mouse: bool,

    #[command(flatten)]
    pub paths: PathArgs,
}

/// How source paths are found and how long to wait for a busy store.
#[derive(Debug, Clone, Args)]
pub struct PathArgs {
    /// Rewrite a recorded path prefix, for a store recorded on another machine (repeatable).
    #[arg(long, value_name = "FROM=TO", value_parser = parse_remap)]
    pub remap: Vec<(PathBuf, PathBuf)>,

    /// How long to wait while a producer holds the store's lock: 500ms, 5s, 1m.
    /// At most 24d 20h 31m 23s 647ms (SQLite's limit).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_busy_timeout)]
    pub busy_timeout: Duration,

    /// Where a foreign cache's module files are looked up by dotted module name, and joblib's
    /// scripts by the path its folder name encodes (repeatable; default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub source_root: Vec<PathBuf>,

    /// A Streamlit app's entry script: maps `.memo` files to the functions whose keys they hold
    /// (its pages/ and the local modules it imports come along). Nothing is imported or run.
    #[arg(long, value_name = "SCRIPT")]
    pub app: Option<PathBuf>,
}

impl PathArgs {
    /// How to open a cache with these arguments.
    pub fn backend_options(&self, read_only: bool) -> crate::backend::Options {
        crate::backend::Options {
            open: OpenOptions {
                read_only,
                busy_timeout: self.busy_timeout,
            },
            source_roots: self.source_root.clone(),
            app: self.app.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per strategy: entries, bytes, count per status, the most common derivation errors.
    Summary {
        /// The cache store: a SQLite file in the cachescope format.
        store: PathBuf,
        #[command(flatten)]
        paths: PathArgs,
        /// Print JSON: {"entries", "bytes", "groups": [{"strategy", "entries", "bytes", "statuses"}]}.
        #[arg(long)]
        json: bool,
    },
    /// One row per entry, optionally filtered.
    #[command(after_help = "Examples:\n  \
        cachescope list cache.db --status changed --status missing\n  \
        cachescope list cache.db --strategy bytecode --function 'fastmath:*' --json\n  \
        cachescope list cache.db --older-than 7d --csv > old.csv")]
    List {
        /// The cache store: a SQLite file in the cachescope format.
        store: PathBuf,
        #[command(flatten)]
        select: Selection,
        /// Show at most N entries.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        paths: PathArgs,
        /// Print a JSON array of entries.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV with a header row.
        #[arg(long)]
        csv: bool,
    },
    /// Every field of one entry, its source and dependencies, and a preview of its value.
    Show {
        /// The cache store: a SQLite file in the cachescope format.
        store: PathBuf,
        /// The entry's id (see `list`).
        id: i64,
        #[command(flatten)]
        paths: PathArgs,
        #[arg(long)]
        json: bool,
    },
    /// One row per fingerprint source: recorded and current digest, status, entries affected.
    /// Exits 0 when no entry is stale, 1 when some are (changed, missing, failed), 2 on error.
    Verify {
        /// The cache store: a SQLite file in the cachescope format.
        store: PathBuf,
        #[command(flatten)]
        paths: PathArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove entries: by default the changed, missing and failed ones. Safe while a producer
    /// writes the same store: only entries that still match at delete time are removed.
    #[command(after_help = "Examples:\n  \
        cachescope purge cache.db --dry-run            what the default purge would remove\n  \
        cachescope purge cache.db --json               changed + missing + failed, JSON report\n  \
        cachescope purge cache.db --strategy bytecode --older-than 7d\n  \
        cachescope purge cache.db --status unverifiable --expired")]
    Purge {
        /// The cache store: a SQLite file in the cachescope format.
        store: PathBuf,
        #[command(flatten)]
        select: Selection,
        /// Also remove entries whose expiry time has passed.
        #[arg(long)]
        expired: bool,
        /// Show what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        paths: PathArgs,
        /// Print JSON: {"dry_run", "removed", "bytes", "by_strategy": {S: {"removed", "bytes"}}},
        /// and "skipped" (files left in place) when there are some.
        #[arg(long)]
        json: bool,
    },
    /// The interactive TUI (the same as `cachescope STORE`).
    Tui {
        store: Option<PathBuf>,
        #[command(flatten)]
        tui: TuiArgs,
    },
    /// Write a demo store with its source files (every strategy and status) and print its path.
    Demo {
        /// Directory to write into (default: the system temp dir's cachescope-demo).
        dir: Option<PathBuf>,
    },
    /// Print the store format's DDL.
    Schema,
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
}

/// Which entries `list` and `purge` take.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Only entries with this status (repeatable): fresh, moved, changed, missing, unreadable,
    /// failed, unverifiable. For purge the default is changed + missing + failed.
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<Status>,
    /// Only entries whose key was derived this way (repeatable): source, bytecode, custom, name.
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Vec<String>,
    /// Only functions matching this glob (`*`, `?`, `[...]`), e.g. 'app.loaders:*'.
    #[arg(long, value_name = "GLOB")]
    pub function: Option<String>,
    /// Only entries created longer ago than this: 30m, 12h, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 5s, 30m, 12h, 7d)"))
}

/// A busy timeout SQLite can take: it counts milliseconds in a C int.
fn parse_busy_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > crate::store::MAX_BUSY_TIMEOUT {
        return Err(format!(
            "{} is longer than SQLite can wait (at most {})",
            humantime::format_duration(d),
            humantime::format_duration(crate::store::MAX_BUSY_TIMEOUT)
        ));
    }
    Ok(d)
}

/// What parsing the arguments came to: a command to run, or the process's exit status after
/// help, the version, or an argument error was printed.
pub enum Parsed {
    Run(Box<Cli>),
    Done(Exit),
}

/// Parses `args` (the first is the program name). `--help` and `--version` print as clap
/// prints them, exit 0; an argument error is one escaped line on stderr, exit 2.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<T> = args.into_iter().collect();
    match Cli::try_parse_from(args.clone()) {
        Ok(cli) => Parsed::Run(Box::new(cli)),
        Err(e) if e.exit_code() == 0 => {
            let _ = e.print();
            Parsed::Done(Exit::Ok)
        }
        Err(e) => {
            // The same error again without clap's styling, so that what is left of escape
            // sequences in its text is the user's, kept and escaped rather than stripped.
            let plain = <Cli as clap::CommandFactory>::command()
                .styles(clap::builder::Styles::plain())
                .try_get_matches_from(args)
                .err()
                .unwrap_or(e);
            eprintln!("cachescope: {}", argument_error(&plain));
            Parsed::Done(Exit::Error)
        }
    }
}

/// clap's error as one line: its message without the usage and the `--help` hint it appends,
/// with the user's text escaped (a newline or an escape sequence in an argument stays visible).
/// The error should be made without styling (`Styles::plain()`): its text is taken as it is,
/// escape sequences and all.
pub fn argument_error(e: &clap::Error) -> String {
    let rendered = e.render().ansi().to_string();
    let mut msg = rendered.trim_end();
    // clap appends these after its message; user text comes before them.
    for tail in ["\n\nFor more information", "\n\nUsage:", "\n\n  tip:"] {
        if let Some(at) = msg.rfind(tail) {
            msg = &msg[..at];
        }
    }
    let msg = msg.strip_prefix("error: ").unwrap_or(msg).trim();
    format!("{} (see --help)", crate::text::escape(msg))
}

/// Parses the process's arguments and runs the command.
pub fn run() -> Result<Exit> {
    let cli = match parse(std::env::args_os()) {
        Parsed::Run(cli) => *cli,
        Parsed::Done(exit) => return Ok(exit),
    };
    match cli.command {
        None => misc::tui(cli.store, &cli.tui),
        Some(Command::Tui { store, tui }) => misc::tui(store, &tui),
        Some(Command::Summary { store, paths, json }) => inspect::summary(&store, &paths, json),
        Some(Command::Verify { store, paths, json }) => verify::verify(&store, &paths, json),
        Some(Command::List {
            store,
            select,
            limit,
            paths,
            json,
            csv,
        }) => list::run(
            &store,
            &select,
            limit,
            &paths,
            list::Format::pick(json, csv),
        ),
        Some(Command::Show {
            store,
            id,
            paths,
            json,
        }) => show::run(&store, crate::backend::EntryId(id), &paths, json),
        Some(Command::Purge {
            store,
            select,
            expired,
            dry_run,
            paths,
            json,
        }) => purge::run(&store, &select, expired, dry_run, &paths, json),
        Some(Command::Demo { dir }) => misc::demo(dir),
        Some(Command::Schema) => misc::schema(),
        Some(Command::Completions { shell }) => misc::completions(shell),
        Some(Command::Man) => misc::man(),
    }
}

/// Opens a cache for a command and reports its warnings on stderr.
fn open_store(
    path: &Path,
    paths: &PathArgs,
    read_only: bool,
) -> Result<(Box<dyn Backend>, PathMap)> {
    let store = crate::backend::open(path, &paths.backend_options(read_only))?;
    for w in store.warnings() {
        eprintln!("cachescope: warning: {}", crate::text::escape(w));
    }
    // Options that mean nothing for this kind are said to be ignored, not silently dropped.
    if paths.app.is_some() && store.kind() != "streamlit" {
        eprintln!(
            "cachescope: warning: --app applies to Streamlit caches; ignored for a {}",
            store.kind()
        );
    }
    if !paths.source_root.is_empty() && store.kind() == "cachescope store" {
        eprintln!(
            "cachescope: warning: --source-root applies to other libraries' caches; a \
             cachescope store records its paths (use --remap to move them)"
        );
    }
    let map = PathMap::new(store.base_dir(), paths.remap.clone());
    Ok((store, map))
}

/// Verifies every source of an opened store and loads the statuses into it (for status
/// filters and purges); only the statuses are kept.
fn verify_all(store: &dyn Backend, map: &PathMap) -> Result<crate::backend::StatusesLoaded> {
    let (_, loaded) = crate::model::verify_statuses(store, map)
        .with_context(|| "verification failed".to_string())?;
    Ok(loaded)
}

/// The creation time `--older-than d` selects before: saturating, so a duration longer than
/// the epoch can reach selects nothing (no entry is older), never everything.
fn created_before(now_ms: i64, older_than: Duration) -> i64 {
    i64::try_from(older_than.as_millis())
        .ok()
        .and_then(|ms| now_ms.checked_sub(ms))
        .unwrap_or(i64::MIN)
}

impl Selection {
    pub(crate) fn filter(&self, now_ms: i64) -> crate::store::EntryFilter {
        crate::store::EntryFilter {
            strategies: self.strategy.clone(),
            statuses: self.status.clone(),
            function_glob: self.function.clone(),
            created_before: self.older_than.map(|d| created_before(now_ms, d)),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests;
