//! The demo store: a small, realistic cache written through the producer API, as any producer
//! would, with source files that are then edited, moved and removed so every status occurs.

use crate::store::{NewEntry, Result, Store, StoreError};
use std::fs;
use std::path::{Path, PathBuf};

/// The exact text `inspect.getsource` raises for a Cython-compiled function.
pub const CYTHON_TYPE_ERROR: &str =
    "TypeError: module, class, method, function, traceback, frame, \
     or code object was expected, got cython_function_or_method";

const LOADERS: &str = r#"import csv


def load_users(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def load_orders(path, since=None):
    rows = load_users(path)
    return [r for r in rows if since is None or r["date"] >= since]
"#;

const FEATURES: &str = r#"import math


def featurize(users, orders):
    by_user = {}
    for o in orders:
        by_user.setdefault(o["user"], []).append(float(o["amount"]))
    return {u["id"]: math.fsum(by_user.get(u["id"], [])) for u in users}


def normalise(scores):
    top = max(scores.values() or [1.0])
    return {k: v / top for k, v in scores.items()}
"#;

const REPORT: &str = r#"def monthly_report(scores):
    return sorted(scores.items(), key=lambda kv: -kv[1])[:10]
"#;

/// Where `cachescope` with no store argument puts its demo.
pub fn default_dir() -> PathBuf {
    // Per user: on a shared server another user's demo directory is not ours to replace.
    #[cfg(unix)]
    let name = format!("cachescope-demo-{}", unsafe { libc::getuid() });
    #[cfg(not(unix))]
    let name = "cachescope-demo".to_string();
    std::env::temp_dir().join(name)
}

/// The default demo directory lives in the shared temp directory, where another user may have
/// put something at its name first (a link to a directory of theirs, a directory they own).
/// It is used only when it is a real directory of ours that no one else can write; when missing
/// it is created that way.
#[cfg(unix)]
fn claim_shared_temp_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{why}; not used for the demo (remove it, or give `cachescope demo DIR`)"),
        ))
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().mode(0o700).create(dir)
        }
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => refuse("a symbolic link"),
        // SAFETY: geteuid has no preconditions.
        Ok(m) if m.uid() != unsafe { libc::geteuid() } => refuse("owned by another user"),
        Ok(m) if m.permissions().mode() & 0o022 != 0 => refuse("writable by other users"),
        Ok(_) => Ok(()),
    }
}

#[cfg(not(unix))]
fn claim_shared_temp_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Marks a directory as holding a demo, so a later demo may replace it.
const MARKER: &str = "CACHESCOPE-DEMO";

/// Writes the demo (store and source files) into `dir` and returns the store's path. `dir`
/// must be missing, empty, or hold an earlier demo: nothing else there is ever overwritten.
pub fn write_demo(dir: &Path) -> Result<PathBuf> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| StoreError::Io { path, cause }
    };
    if dir == default_dir() {
        claim_shared_temp_dir(dir).map_err(io(dir))?;
    }
    if dir.exists() && !dir.is_dir() {
        return Err(io(dir)(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    let occupied = std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied && !dir.join(MARKER).is_file() {
        return Err(io(dir)(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "directory is not empty and holds no earlier demo; the demo is written only into an \
             empty or new directory",
        )));
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::write(
        dir.join(MARKER),
        "Written by `cachescope demo`; `cachescope demo` may replace everything here.\n",
    )
    .map_err(io(dir))?;
    for sub in ["app", "ext", "data", "data/incoming"] {
        fs::create_dir_all(dir.join(sub)).map_err(io(dir))?;
    }
    let store_path = dir.join("cache.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", store_path.display()));
        if p.exists() {
            fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    let write = |rel: &str, bytes: &[u8]| -> Result<PathBuf> {
        let p = dir.join(rel);
        fs::write(&p, bytes).map_err(io(&p))?;
        Ok(p)
    };
    let loaders = write("app/loaders.py", LOADERS.as_bytes())?;
    let features = write("app/features.py", FEATURES.as_bytes())?;
    let report = write("app/report.py", REPORT.as_bytes())?;
    let fastmath = write("ext/fastmath.cpython-311-x86_64-linux-gnu.so", &fake_elf(1))?;
    let geo = write("ext/geo.cpython-311-x86_64-linux-gnu.so", &fake_elf(2))?;
    let users = write("data/users.csv", b"id,name\n1,ada\n2,grace\n")?;
    let orders = write(
        "data/orders.csv",
        b"user,date,amount\n1,2026-11-01,12.5\n2,2026-11-02,7\n",
    )?;
    let prices = write(
        "data/prices.toml",
        b"[source]\nurl = \"https://prices.example/api\"\n",
    )?;

    let store = Store::create(&store_path)?;
    let now = chrono::Utc::now().timestamp_millis();
    const HOUR: i64 = 3_600_000;
    store.write(|s| {
        let load_users = s.record_file(&loaders, Some((4, 6)))?;
        let load_orders = s.record_file(&loaders, Some((9, 11)))?;
        // A bytecode key depends on the whole module file, as the format's table says.
        let loaders_module = s.record_file(&loaders, None)?;
        let featurize = s.record_file(&features, Some((4, 8)))?;
        let normalise = s.record_file(&features, Some((11, 13)))?;
        let monthly = s.record_file(&report, Some((1, 2)))?;
        let fastmath = s.record_file(&fastmath, None)?;
        let geo = s.record_file(&geo, None)?;
        let users = s.record_file(&users, None)?;
        let orders = s.record_file(&orders, None)?;
        let prices = s.record_file(&prices, None)?;
        let spool = s.record_source(&crate::store::NewSource {
            path: "data/incoming",
            digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            recorded_at: now,
            ..Default::default()
        })?;

        let mut n = 0;
        let mut put = |namespace: &str,
                       function: &str,
                       strategy: &str,
                       error: Option<&str>,
                       source: Option<i64>,
                       deps: &[i64],
                       value: (&str, Vec<u8>),
                       age_hours: i64,
                       expires: Option<i64>|
         -> Result<()> {
            n += 1;
            let key = format!(
                "{:016x}{:016x}",
                hash(function) ^ n,
                hash(strategy).rotate_left(n as u32)
            );
            s.put_entry(&NewEntry {
                namespace,
                function,
                key: &key,
                strategy,
                derivation_error: error,
                source_id: source,
                value: Some(&value.1),
                value_type: Some(value.0),
                created_at: now - age_hours * HOUR,
                accessed_at: Some(now - age_hours * HOUR / 3),
                hits: (n * 7 % 23) as i64,
                expires_at: expires.map(|h| now + h * HOUR),
                dependencies: deps,
            })?;
            Ok(())
        };
        for (i, since) in ["2026-01-01", "2026-06-01", "2026-11-01"]
            .iter()
            .enumerate()
        {
            put(
                "data",
                "app.loaders:load_users",
                "source",
                None,
                Some(load_users),
                &[users],
                pickle(200 + i * 50),
                30 + i as i64,
                None,
            )?;
            put(
                "data",
                "app.loaders:load_orders",
                "source",
                None,
                Some(load_orders),
                &[orders],
                json(&format!(
                    "{{\"since\": \"{since}\", \"rows\": [[1, 12.5], [2, 7]]}}"
                )),
                20 + i as i64,
                None,
            )?;
            put(
                "data",
                "app.features:featurize",
                "source",
                None,
                Some(featurize),
                &[users, orders],
                pickle(4096 * (i + 1)),
                10 + i as i64,
                None,
            )?;
            put(
                "data",
                "app.features:normalise",
                "source",
                None,
                Some(normalise),
                &[],
                pickle(900),
                9,
                Some(if i == 0 { -2 } else { 48 }),
            )?;
        }
        put(
            "data",
            "app.report:monthly_report",
            "source",
            None,
            Some(monthly),
            &[],
            text("1. ada 12.5\n2. grace 7.0\n"),
            5,
            None,
        )?;
        for i in 0..6 {
            put(
                "data",
                "fastmath:dot",
                "bytecode",
                Some(CYTHON_TYPE_ERROR),
                Some(fastmath),
                &[],
                pickle(64 + i * 8),
                40 - i as i64,
                None,
            )?;
            put(
                "data",
                "fastmath:norm",
                "bytecode",
                Some(CYTHON_TYPE_ERROR),
                Some(fastmath),
                &[],
                pickle(32),
                38 - i as i64,
                None,
            )?;
        }
        for i in 0..4 {
            put(
                "resource",
                "geo:haversine_table",
                "bytecode",
                Some(CYTHON_TYPE_ERROR),
                Some(geo),
                &[],
                bytes(65_536 * (i + 1)),
                70,
                None,
            )?;
        }
        put(
            "data",
            "app.loaders:<lambda>",
            "bytecode",
            Some("OSError: could not get source code"),
            Some(loaders_module),
            &[],
            pickle(128),
            3,
            None,
        )?;
        for i in 0..3 {
            put(
                "data",
                "app.api:fetch_prices",
                "custom",
                None,
                Some(prices),
                &[],
                json(&format!("{{\"day\": {i}, \"eur\": 1.08}}")),
                2,
                Some(1 - i as i64),
            )?;
            put(
                "data",
                "app.api:fetch_rates",
                "custom",
                None,
                None,
                &[],
                json("{\"rate\": 0.25}"),
                1,
                None,
            )?;
        }
        put(
            "data",
            "app.ingest:scan_spool",
            "custom",
            None,
            Some(spool),
            &[],
            text("12 files"),
            1,
            None,
        )?;
        for i in 0..2 {
            put(
                "resource",
                "app.db:connect",
                "name",
                None,
                None,
                &[],
                text("<sqlite3.Connection object at 0x7f3a>"),
                50 + i,
                None,
            )?;
            put(
                "data",
                "app.legacy:compute",
                "name",
                Some("OSError: could not get source code"),
                None,
                &[],
                pickle(512),
                100 + i,
                None,
            )?;
        }
        put(
            "data",
            "app.plugins:score",
            "name",
            Some("AttributeError: 'functools.partial' object has no attribute '__code__'"),
            None,
            &[users],
            pickle(256),
            12,
            None,
        )?;
        Ok(())
    })?;
    drop(store);

    // Now the world moves on: lines added above load_users/load_orders (moved), featurize's
    // body and the users data edited (changed), the fastmath extension rebuilt (changed),
    // report.py deleted (missing).
    write(
        "app/loaders.py",
        format!("\"\"\"Data loaders.\"\"\"\n\n{LOADERS}").as_bytes(),
    )?;
    write(
        "app/features.py",
        FEATURES
            .replace("math.fsum(", "round(math.fsum(")
            .replace("[]))", "[])), 2)")
            .as_bytes(),
    )?;
    write("data/users.csv", b"id,name\n1,ada\n2,grace\n3,edsger\n")?;
    write("ext/fastmath.cpython-311-x86_64-linux-gnu.so", &fake_elf(3))?;
    fs::remove_file(&report).map_err(io(&report))?;
    Ok(store_path)
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Bytes that look like a small shared object: an ELF header and some code.
fn fake_elf(build: u8) -> Vec<u8> {
    let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0".to_vec();
    v.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ build));
    v
}

fn pickle(len: usize) -> (&'static str, Vec<u8>) {
    let mut v = b"\x80\x04\x95".to_vec();
    v.extend((0..len).map(|i| (i % 251) as u8));
    ("pickle", v)
}

fn json(s: &str) -> (&'static str, Vec<u8>) {
    ("json", s.as_bytes().to_vec())
}

fn text(s: &str) -> (&'static str, Vec<u8>) {
    ("text", s.as_bytes().to_vec())
}

fn bytes(len: usize) -> (&'static str, Vec<u8>) {
    ("bytes", (0..len).map(|i| (i * 31 % 256) as u8).collect())
}

#[cfg(all(test, unix))]
mod shared_temp_tests {
    use super::claim_shared_temp_dir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_shared_demo_dir_is_used_only_when_private_and_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("fresh");
        claim_shared_temp_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "created private");
        claim_shared_temp_dir(&fresh).unwrap();

        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = claim_shared_temp_dir(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = claim_shared_temp_dir(&open).unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
    }
}
