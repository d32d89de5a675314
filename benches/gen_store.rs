//! Writes the benchmark store: 1,000,000 entries over 2,000 source files, then edits a third of
//! the files so about a third of the entries are stale. Run through `benches/run.sh`, or:
//!
//!     cargo bench --bench gen_store -- OUT_DIR [ENTRIES] [FILES] [DEPS_EVERY] [INDEXES]
//!
//! DEPS_EVERY (default 0: none): every Nth entry also depends on the next file (a dependency
//! row on its whole-file source), so editing a file also makes stale the entries that depend
//! on it (issue 10's scale benchmark: 7). INDEXES: `recommended` (default: every index
//! assets/schema.sql creates) or `required` (the recommended, optional ones dropped: the
//! derivation-error, expiry and dependency-source indexes).
//!
//! The store is written through the library's producer API, like any Rust producer would.

use cachescope::store::{NewEntry, Store};
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

const FUNCS_PER_FILE: u64 = 10;
const CYTHON: &str = cachescope::demo::CYTHON_TYPE_ERROR;

fn module_text(file: u64, edited: bool) -> String {
    let mut s = format!("\"\"\"Module {file}.\"\"\"\nimport math\n\n");
    for f in 0..FUNCS_PER_FILE {
        let body = if edited { f + 1000 } else { f };
        s.push_str(&format!(
            "\ndef f{f}(x, y=2):\n    z = math.sqrt(x * {body} + y)\n    return round(z, {f})\n\n"
        ));
    }
    s
}

fn main() -> cachescope::store::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let out = PathBuf::from(
        args.first()
            .map(String::as_str)
            .unwrap_or("target/bench-store"),
    );
    let entries: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let files: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let deps_every: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let required_only = match args.get(4).map(String::as_str) {
        None | Some("recommended") => false,
        Some("required") => true,
        Some(other) => panic!("INDEXES is `recommended` or `required`, not {other:?}"),
    };
    let src = out.join("src");
    fs::create_dir_all(&src).expect("create output dir");
    let db = out.join("cache.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let started = Instant::now();
    for f in 0..files {
        fs::write(src.join(format!("mod{f:04}.py")), module_text(f, false)).expect("write module");
    }
    let store = Store::create(&db)?;
    let now = chrono::Utc::now().timestamp_millis();
    let value = vec![0x5au8; 96];
    let per_file = entries / files;
    store.write(|s| {
        let wholes: Vec<i64> = (0..files)
            .map(|f| s.record_file(&src.join(format!("mod{f:04}.py")), None))
            .collect::<Result<_, _>>()?;
        for f in 0..files {
            let path = src.join(format!("mod{f:04}.py"));
            let whole = wholes[f as usize];
            let next = [wholes[((f + 1) % files) as usize]];
            let spans: Vec<i64> = (0..FUNCS_PER_FILE)
                .map(|i| {
                    let start = 5 + i * 5;
                    s.record_file(&path, Some((start, start + 2)))
                })
                .collect::<Result<_, _>>()?;
            for n in 0..per_file {
                let func = format!("app.mod{f:04}:f{}", n % FUNCS_PER_FILE);
                let key = format!(
                    "{f:04}-{n:08x}-{:016x}",
                    (f * 7919 + n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                );
                let (strategy, error, source) = match n % 20 {
                    0..=11 => ("source", None, Some(spans[(n % FUNCS_PER_FILE) as usize])),
                    12..=16 => ("bytecode", Some(CYTHON), Some(whole)),
                    17 | 18 => ("custom", None, Some(whole)),
                    _ => ("name", Some("OSError: could not get source code"), None),
                };
                s.put_entry(&NewEntry {
                    namespace: "data",
                    function: &func,
                    key: &key,
                    strategy,
                    derivation_error: error,
                    source_id: source,
                    value: Some(&value),
                    value_type: Some("pickle"),
                    created_at: now - (n as i64 % 1000) * 60_000,
                    accessed_at: Some(now),
                    hits: (n % 50) as i64,
                    expires_at: (n % 10 == 0).then_some(now + 86_400_000),
                    dependencies: if deps_every > 0 && n % deps_every == 0 {
                        &next
                    } else {
                        &[]
                    },
                })?;
            }
        }
        Ok(())
    })?;
    drop(store);
    if required_only {
        rusqlite::Connection::open(&db)
            .and_then(|c| {
                c.execute_batch(
                    "DROP INDEX IF EXISTS entries_derivation_error; \
                     DROP INDEX IF EXISTS entries_expires_at; \
                     DROP INDEX IF EXISTS entry_dependencies_source;",
                )
            })
            .expect("drop the recommended indexes");
    }
    // A third of the files change: their spans and whole-file digests no longer match.
    for f in (0..files).filter(|f| f % 3 == 0) {
        fs::write(src.join(format!("mod{f:04}.py")), module_text(f, true)).expect("edit module");
    }
    // What the sqlite3 shell runs for the same purge, given the answer verification finds:
    // the source rows of the edited files, plus the failed (sourceless, errored) entries.
    let edited: Vec<String> = (0..files)
        .filter(|f| f % 3 == 0)
        .map(|f| format!("'src/mod{f:04}.py'"))
        .collect();
    // Entries whose dependency is an edited file are stale too; their dependency rows go first.
    let stale_sources = format!(
        "SELECT id FROM sources WHERE path IN ({})",
        edited.join(", ")
    );
    let purge_sql = format!(
        "BEGIN IMMEDIATE;\n\
         CREATE TEMP TABLE gone AS SELECT id FROM entries WHERE source_id IN ({stale_sources}) \
         OR (source_id IS NULL AND derivation_error IS NOT NULL) \
         OR id IN (SELECT entry_id FROM entry_dependencies WHERE source_id IN ({stale_sources}));\n\
         DELETE FROM entry_dependencies WHERE entry_id IN (SELECT id FROM gone);\n\
         DELETE FROM entries WHERE id IN (SELECT id FROM gone);\n\
         DELETE FROM sources WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = sources.id) \
         AND id NOT IN (SELECT source_id FROM entry_dependencies);\n\
         COMMIT;\n"
    );
    fs::write(out.join("purge.sql"), purge_sql).expect("write purge.sql");
    // What the sqlite3 shell runs for the same work as `summary` and `verify` (issue 10): the
    // aggregate, each source's uses as a dependency, and the entries a stale dependency reaches
    // (the dependency join), given the stale sources. CROSS JOIN keeps the join's order where
    // `entry_dependencies (source_id)` has no index (the planner would probe it per entry).
    let summary_sql = format!(
        "SELECT source_id, strategy, count(*), total(value_size) FROM entries GROUP BY 1, 2;\n\
         SELECT source_id, count(*) FROM entry_dependencies GROUP BY 1;\n\
         SELECT e.source_id, e.strategy, count(*), total(e.value_size) \
         FROM entry_dependencies d {join} entries e ON e.id = d.entry_id \
         WHERE d.source_id IN ({stale_sources}) GROUP BY 1, 2;\n",
        join = if required_only { "CROSS JOIN" } else { "JOIN" }
    );
    fs::write(out.join("summary.sql"), summary_sql).expect("write summary.sql");
    // What `summary` shows beyond that: the derivation errors per strategy (with those of
    // entries without a source) and the expired entries. Without the recommended indexes both
    // read every row of the table.
    fs::write(
        out.join("errors.sql"),
        "SELECT strategy, derivation_error, count(*), sum(source_id IS NULL) FROM entries \
         WHERE derivation_error IS NOT NULL GROUP BY 1, 2;\n\
         SELECT strategy, count(*), total(value_size) FROM entries \
         WHERE expires_at <= unixepoch() * 1000 GROUP BY 1;\n",
    )
    .expect("write errors.sql");
    println!(
        "wrote {} ({} entries over {} files) in {:.1}s",
        db.display(),
        per_file * files,
        files,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
