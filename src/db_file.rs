//! Reading the header of a database file that SQLite may have open in this process.
//!
//! SQLite locks database files with POSIX advisory locks, which belong to the process, not to
//! a descriptor: closing *any* descriptor of the file drops every lock the process holds on it.
//! A header read through `File::open` + close while one of our connections has the same file
//! open silently releases that connection's locks; another process's last connection then
//! believes it is alone, checkpoints and deletes the `-wal` our connection still appends to,
//! and our later commits are lost. (SQLite avoids this for its own connections by deferring
//! the close.) So the descriptors opened here are kept for the life of the process, one per
//! file (device and inode), and reused.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

fn open_files() -> &'static Mutex<HashMap<(u64, u64), File>> {
    static FILES: OnceLock<Mutex<HashMap<(u64, u64), File>>> = OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// Up to `len` bytes from the start of the regular file at `path`, through a descriptor that
/// is never closed (see the module's note). Anything but a regular file is refused unopened
/// (opening a FIFO would block).
pub fn read_head(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let key = (meta.dev(), meta.ino());
    let mut files = open_files().lock().unwrap_or_else(|e| e.into_inner());
    if !files.contains_key(&key) {
        let file = File::open(path)?;
        let opened = file.metadata()?;
        // Replaced between the stat and the open: keyed by what was opened.
        files.insert((opened.dev(), opened.ino()), file);
        if (opened.dev(), opened.ino()) != key {
            return Err(io::Error::other("the file was replaced while it was read"));
        }
    }
    let file = &files[&key];
    let mut head = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut head[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    head.truncate(got);
    Ok(head)
}

/// The `-wal` and `-shm` files SQLite keeps beside a WAL database at `path`.
pub fn sidecars(path: &Path) -> [std::path::PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        name.into()
    })
}

/// The directory a database file at `path` lives in (`.` for a bare file name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// How a read-only open of the WAL database at `path` can go: SQLite needs its `-shm` file.
pub enum ReadOpen {
    /// The `-shm` exists, or this user can create it.
    Normal,
    /// This user cannot create the `-shm`, and there is no `-wal`: the file holds every
    /// committed row and no writer can be running (it could not create the `-wal` either), so
    /// an immutable read is exact.
    Immutable,
    /// A `-wal` but no `-shm`, and this user cannot write this directory to create it: the
    /// database cannot be read.
    Blocked(std::path::PathBuf),
}

pub fn read_open(path: &Path) -> ReadOpen {
    let dir = dir_of(path);
    let [wal, shm] = sidecars(path);
    if shm.exists() || dir_writable(dir) {
        ReadOpen::Normal
    } else if wal.exists() {
        ReadOpen::Blocked(dir.to_path_buf())
    } else {
        ReadOpen::Immutable
    }
}

/// Whether this user may create files in `dir` (SQLite's `-shm` beside a WAL database).
pub fn dir_writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// A `file:` URI for `path` with `immutable=1`, every byte outside the unreserved set
/// percent-encoded (`?`, `#` and `%` in a path would otherwise end or change it).
pub fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure this module prevents: a stray open + close of a database file drops the
    /// POSIX lock a connection of this process holds on it. `read_head` must not.
    #[test]
    fn reading_the_head_keeps_this_process_s_sqlite_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1); BEGIN EXCLUSIVE;")
            .unwrap();
        // Another process cannot take the lock while we hold it.
        let probe = || {
            std::process::Command::new("sqlite3")
                .arg(&path)
                .arg("PRAGMA busy_timeout=0; BEGIN IMMEDIATE; ROLLBACK;")
                .output()
                .map(|o| o.status.success())
        };
        let Ok(false) = probe() else {
            eprintln!("skipping: no sqlite3 shell, or it got a lock we hold");
            return;
        };
        for _ in 0..3 {
            let head = read_head(&path, 100).unwrap();
            assert_eq!(&head[..16], b"SQLite format 3\0");
        }
        assert!(!probe().unwrap(), "read_head released our lock");
        // What a plain open + close does (the bug this module exists for).
        drop(File::open(&path).unwrap());
        assert!(probe().unwrap(), "a plain close releases it");
        conn.execute_batch("ROLLBACK").unwrap();
    }
}
