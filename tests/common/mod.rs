//! Shared setup for the CLI integration tests: stores built in temp dirs through the library's
//! producer API, hostile files built with raw rusqlite, and helpers to run the binary and read
//! what it printed and what it left on disk.
#![allow(dead_code)]

pub mod python;
pub mod tmux;

use assert_cmd::Command;
use cachescope::store::{NewEntry, Store};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// The exact text `inspect.getsource` raises for a Cython-compiled function.
pub const CYTHON_TYPE_ERROR: &str =
    "TypeError: module, class, method, function, traceback, frame, \
     or code object was expected, got cython_function_or_method";

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The binary, with a timeout so a hang fails the test instead of stalling the suite, and with
/// no colour preference inherited from whoever runs the tests.
pub fn cachescope() -> Command {
    let mut cmd = Command::cargo_bin("cachescope").expect("binary built");
    cmd.timeout(Duration::from_secs(20)).env_remove("NO_COLOR");
    cmd
}

/// A temp dir holding a store (`cache.db`) and the source files its entries were derived from.
pub struct Fixture {
    pub dir: TempDir,
    pub store: PathBuf,
}

impl Fixture {
    /// An empty store, created through the producer API.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("cache.db");
        drop(Store::create(&store).expect("create store"));
        Fixture { dir, store }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file under the fixture dir (creating parent dirs) and returns its path.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Runs `f` with the store open for writing; the connection is closed afterwards, so the
    /// WAL is checkpointed before the binary looks at the file.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let store = Store::create(&self.store).expect("open store for writing");
        f(&store)
    }

    /// Records a fingerprint of `rel` (whole file or a line span).
    pub fn record(&self, rel: &str, span: Option<(u64, u64)>) -> i64 {
        self.with_store(|s| s.record_file(&self.path(rel), span).expect("record_file"))
    }

    /// Puts an entry and returns its id.
    pub fn put(&self, e: NewEntry) -> i64 {
        self.with_store(|s| s.put_entry(&e).expect("put_entry"))
    }

    /// A raw connection to the store file (for counting rows and for hostile edits).
    pub fn sql(&self) -> Connection {
        let c = Connection::open(&self.store).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c
    }

    pub fn entry_ids(&self) -> BTreeSet<i64> {
        ids(&self.sql(), "SELECT id FROM entries")
    }

    pub fn source_ids(&self) -> BTreeSet<i64> {
        ids(&self.sql(), "SELECT id FROM sources")
    }

    /// (entry_id, source_id) rows of entry_dependencies.
    pub fn dependency_rows(&self) -> BTreeSet<(i64, i64)> {
        let c = self.sql();
        let mut st = c
            .prepare("SELECT entry_id, source_id FROM entry_dependencies")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Every file in the fixture's top directory with the sha256 of its bytes.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        dir_snapshot(self.dir.path())
    }

    pub fn store_digest(&self) -> String {
        file_sha256(&self.store)
    }
}

pub fn ids(conn: &Connection, sql: &str) -> BTreeSet<i64> {
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A default entry to adapt with struct update syntax: namespace `data`, function `app:f`,
/// strategy `source`, created an hour ago, a 5-byte value, no source.
pub fn entry(key: &str) -> NewEntry<'_> {
    NewEntry {
        namespace: "data",
        function: "app:f",
        key,
        strategy: "source",
        value: Some(b"value"),
        value_type: Some("text"),
        created_at: now_ms() - HOUR_MS,
        ..Default::default()
    }
}

pub fn file_sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

pub fn dir_snapshot(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            let digest = if ft.is_file() {
                file_sha256(&e.path())
            } else {
                format!("{ft:?}")
            };
            (name, digest)
        })
        .collect()
}

/// Creates a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// The output of a finished command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the process failed with exit 2 and printed exactly one line on stderr that names
    /// `file` and contains `problem` (case-insensitive).
    pub fn assert_refused(&self, file: &Path, problem: &str) {
        assert_eq!(self.code, 2, "exit code; stderr: {}", self.stderr);
        assert_one_line_naming(&self.stderr, file, problem);
    }
}

pub fn assert_one_line_naming(stderr: &str, file: &Path, problem: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr should be one line, got: {stderr:?}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        lines[0].contains(&*name),
        "stderr should name {name}: {stderr:?}"
    );
    assert!(
        lines[0].to_lowercase().contains(&problem.to_lowercase()),
        "stderr should mention {problem:?}: {stderr:?}"
    );
}

/// Runs the binary with `args` (from the default cwd) and collects its output.
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    finish(cachescope().args(args))
}

pub fn finish(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run cachescope");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
        raw_stderr: out.stderr,
    }
}

/// `list STORE --json` as key -> entry object.
pub fn list_by_key(store: &Path, extra: &[&str]) -> BTreeMap<String, serde_json::Value> {
    let mut args = vec!["list", store.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let r = run(args);
    assert_eq!(r.code, 0, "list failed: {}", r.stderr);
    r.json()
        .as_array()
        .expect("list --json prints an array")
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// `list --json` statuses by key.
pub fn statuses_by_key(store: &Path, extra: &[&str]) -> BTreeMap<String, String> {
    list_by_key(store, extra)
        .into_iter()
        .map(|(k, v)| (k, v["status"].as_str().unwrap_or("null").to_string()))
        .collect()
}

pub fn map_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A store with one entry per purge-relevant status, and what each key's id is:
/// `fresh`, `moved`, `changed`, `missing`, `failed`, `unverifiable`, `unreadable`,
/// `expired_fresh` (fresh but expired), `dep_changed` (fresh own source, changed dependency),
/// plus `custom_changed` (strategy custom) and `old_changed` (created 10 days ago).
pub struct Mixed {
    pub fx: Fixture,
    pub ids: BTreeMap<&'static str, i64>,
    /// Source ids: keys `stable`, `moved`, `edited`, `gone`, `dir`, `helper`, `custom`.
    pub sources: BTreeMap<&'static str, i64>,
}

pub const LOADERS: &str = "import csv\n\n\ndef load(path):\n    return list(csv.reader(open(path)))\n\n\ndef other():\n    return 1\n";

impl Mixed {
    pub fn new() -> Mixed {
        let fx = Fixture::new();
        fx.write("app/stable.py", "def stable():\n    return 42\n");
        fx.write("app/loaders.py", LOADERS);
        fx.write("app/edited.py", "def edited():\n    return 1\n");
        fx.write("app/gone.py", "def gone():\n    return 1\n");
        fx.write("app/helper.py", "HELP = 1\n");
        fx.write("data/custom.toml", "x = 1\n");
        std::fs::create_dir_all(fx.path("data/incoming")).unwrap();
        let now = now_ms();
        let mut sources = BTreeMap::new();
        let mut ids = BTreeMap::new();
        fx.with_store(|s| {
            let rec = |rel: &str, span| s.record_file(&fx.path(rel), span).unwrap();
            sources.insert("stable", rec("app/stable.py", None));
            sources.insert("moved", rec("app/loaders.py", Some((4, 5))));
            sources.insert("edited", rec("app/edited.py", Some((1, 2))));
            sources.insert("gone", rec("app/gone.py", None));
            sources.insert("helper", rec("app/helper.py", None));
            sources.insert("custom", rec("data/custom.toml", None));
            sources.insert(
                "dir",
                s.record_source(&cachescope::store::NewSource {
                    path: "data/incoming",
                    digest: &format!("sha256:{}", "0".repeat(64)),
                    recorded_at: now,
                    ..Default::default()
                })
                .unwrap(),
            );
            let mut put = |name: &'static str, e: NewEntry| {
                ids.insert(name, s.put_entry(&e).unwrap());
            };
            let src = |k: &str| Some(sources[k]);
            put(
                "fresh",
                NewEntry {
                    source_id: src("stable"),
                    function: "app.stable:stable",
                    ..entry("fresh")
                },
            );
            put(
                "moved",
                NewEntry {
                    source_id: src("moved"),
                    function: "app.loaders:load",
                    ..entry("moved")
                },
            );
            put(
                "changed",
                NewEntry {
                    source_id: src("edited"),
                    function: "app.edited:edited",
                    ..entry("changed")
                },
            );
            put(
                "missing",
                NewEntry {
                    source_id: src("gone"),
                    function: "app.gone:gone",
                    ..entry("missing")
                },
            );
            put(
                "failed",
                NewEntry {
                    strategy: "name",
                    function: "app.broken:broken",
                    derivation_error: Some("OSError: could not get source code"),
                    ..entry("failed")
                },
            );
            put(
                "unverifiable",
                NewEntry {
                    strategy: "name",
                    function: "app.named:named",
                    ..entry("unverifiable")
                },
            );
            put(
                "unreadable",
                NewEntry {
                    strategy: "custom",
                    source_id: src("dir"),
                    function: "app.watch:watch",
                    ..entry("unreadable")
                },
            );
            put(
                "expired_fresh",
                NewEntry {
                    source_id: src("stable"),
                    function: "app.stable:stable",
                    expires_at: Some(now - 1000),
                    ..entry("expired_fresh")
                },
            );
            put(
                "dep_changed",
                NewEntry {
                    source_id: src("stable"),
                    function: "app.stable:with_helper",
                    dependencies: &[sources["helper"]],
                    ..entry("dep_changed")
                },
            );
            put(
                "custom_changed",
                NewEntry {
                    strategy: "custom",
                    source_id: src("custom"),
                    function: "app.custom:cfg",
                    value: Some(b"0123456789"),
                    ..entry("custom_changed")
                },
            );
            put(
                "old_changed",
                NewEntry {
                    source_id: src("edited"),
                    function: "app.edited:edited",
                    created_at: now - 10 * DAY_MS,
                    ..entry("old_changed")
                },
            );
        });
        // Now the files move on: lines added above a span, a span edited, a file deleted, a
        // helper and a config edited.
        fx.write("app/loaders.py", &format!("# header\n# more\n{LOADERS}"));
        fx.write("app/edited.py", "def edited():\n    return 2\n");
        std::fs::remove_file(fx.path("app/gone.py")).unwrap();
        fx.write("app/helper.py", "HELP = 2\n");
        fx.write("data/custom.toml", "x = 2\n");
        Mixed { fx, ids, sources }
    }

    pub fn id(&self, name: &str) -> i64 {
        self.ids[name]
    }

    pub fn ids_of(&self, names: &[&str]) -> BTreeSet<i64> {
        names.iter().map(|n| self.id(n)).collect()
    }

    pub fn all_ids(&self) -> BTreeSet<i64> {
        self.ids.values().copied().collect()
    }

    pub fn store(&self) -> &Path {
        &self.fx.store
    }

    pub fn store_str(&self) -> &str {
        self.fx.store.to_str().unwrap()
    }
}
