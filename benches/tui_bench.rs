//! The TUI's speed and memory targets on the benchmark store (issue 3):
//! first frame within 300 ms of start, each key press while scrolling the largest group handled
//! and drawn within 16 ms, peak RSS under 64 MB; and when the groups first show their counts
//! (issue 10: within 1.5x of the sqlite3 aggregate).
//!
//!     cargo bench --bench tui_bench -- [STORE]     (default: target/bench-store/cache.db)
//!
//! It drives the real session (worker thread, store, verification) on an 80x24 TestBackend,
//! timing from the call that `cachescope STORE` makes to the end of each draw.

use cachescope::store::{OpenOptions, Store};
use cachescope::tui::{Session, TuiOptions};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let store: PathBuf = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .unwrap_or_else(|| "target/bench-store/cache.db".into())
        .into();
    let started = Instant::now();
    // What `tui::run` does before the screen switches: open once to report a bad file plainly.
    drop(Store::open(&store, &OpenOptions::default()).expect("open the benchmark store"));
    let options = TuiOptions {
        read_only: true,
        ..Default::default()
    };
    let mut session = Session::start(&store, &options, (80, 24));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal
        .draw(|f| cachescope::tui::ui::draw(f, &session.app))
        .expect("draw");
    let first_frame = started.elapsed();
    let rss_start = peak_rss_mib();
    // Groups with counts and sizes come before verification ends (statuses fill in later).
    assert!(
        session.wait_until(Duration::from_secs(120), |app| app.all.is_some()),
        "no groups"
    );
    let grouped = started.elapsed();
    assert!(
        session.settle(Duration::from_secs(120)),
        "worker did not finish"
    );
    let loaded = started.elapsed();
    let rss_loaded = peak_rss_mib();
    let largest = session.app.all.as_ref().map_or(0, |g| g.entries);

    // The `all` group is the largest; move to its entries and scroll through it.
    session.key(KeyCode::Enter);
    assert!(session.settle(Duration::from_secs(60)));
    let keys: Vec<KeyCode> = std::iter::repeat_n(KeyCode::Down, 500)
        .chain(std::iter::repeat_n(KeyCode::PageDown, 300))
        .chain([KeyCode::End])
        .chain(std::iter::repeat_n(KeyCode::PageUp, 100))
        .chain(std::iter::repeat_n(KeyCode::Up, 300))
        .chain([KeyCode::Home])
        .collect();
    let mut times = Vec::with_capacity(keys.len());
    for key in keys {
        let t = Instant::now();
        session.key(key);
        terminal
            .draw(|f| cachescope::tui::ui::draw(f, &session.app))
            .expect("draw");
        times.push(t.elapsed());
        // Worker answers (pages of rows) arrive between key presses, as in the real loop;
        // handling them is not part of the key's time.
        session.settle(Duration::ZERO);
    }
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!("store: {} ({largest} entries)", store.display());
    println!("first frame drawn: {:.1} ms after start", ms(first_frame));
    println!(
        "groups with counts shown: {:.1} ms after start",
        ms(grouped)
    );
    println!("verified and grouped: {:.1} ms after start", ms(loaded));
    println!(
        "key press handled and drawn ({} keys): median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        times.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*times.last().expect("keys"))
    );
    println!(
        "peak RSS: {:.1} MiB at the first frame, {:.1} MiB verified and grouped, {:.1} MiB after scrolling",
        rss_start,
        rss_loaded,
        peak_rss_mib()
    );
}

/// Peak RSS of this process (`VmHWM`). Not getrusage: Linux carries `ru_maxrss` over from
/// the parent across exec, so it would report cargo's peak.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
