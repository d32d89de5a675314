//! Per-function summary of a python-diskcache `cache.db` through `cs_memo_name`, timed, with
//! the process's peak RSS. Run through `benches/diskcache_bench.sh`, or:
//!
//!     cargo bench --bench diskcache_summary -- CACHE_DIR [RUNS]

use cachescope::backend::diskcache::db::{open_ro, summary, DBNAME};
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_kib() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: diskcache_summary CACHE_DIR [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let db = dir.join(DBNAME);
    let mut best = f64::INFINITY;
    let mut lines = Vec::new();
    for _ in 0..runs {
        let conn = open_ro(&db).unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        lines = summary(&conn, &db).unwrap_or_else(|e| panic!("{e}"));
        best = best.min(t.elapsed().as_secs_f64());
    }
    let entries: i64 = lines.iter().map(|l| l.entries).sum();
    println!(
        "cs_memo_name summary: {} groups, {entries} entries, best of {runs}: {best:.3} s, peak RSS {} KiB",
        lines.len(),
        peak_rss_kib()
    );
}
