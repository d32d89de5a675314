//! The TUI over a real SSH session (issue 10): a private `sshd` on 127.0.0.1 started by the test
//! (its own host key, key authentication only), a non-owner user logging in with a generated
//! key, and the TUI in tmux at 80x24 through `ssh -t`.
//!
//! - An operator inspects a store owned by root in a 755 directory with no `-wal`: the TUI opens
//!   it immutable, says so in the header (READ-ONLY · IMMUTABLE) and in one warning line, and
//!   quits with `q` leaving the directory exactly as it was.
//! - The connection drops (the ssh client, or the session's sshd, is SIGKILLed) while a purge of
//!   200,000 stale entries runs: the remote cachescope ends within seconds, no process of the
//!   user is left, the store is intact (`integrity_check` ok, no dangling dependency or source
//!   references, the stale entries removed in whole batches) and opens again; last, the app
//!   must have exited 129 (128 + SIGHUP), as the README says.
//!
//! Needs root (users, sshd), `/usr/sbin/sshd`, ssh, ssh-keygen and tmux: skipped with a message
//! when one is missing, failed when `CI` is set (.ci/run installs them).

mod common;

use cachescope::store::{NewEntry, Store};
use common::tmux::Tmux;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The login user; nothing else uses it, so its processes are this file's.
const USER: &str = "cachescope-ssh";
const SSHD: &str = "/usr/sbin/sshd";

/// The tests share the user, and count its processes: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the test can run; creates the user when it can. Skips with a message, or fails
/// under CI.
fn ready(test: &str) -> bool {
    let ci = std::env::var_os("CI").is_some();
    // SAFETY: geteuid only reads the process's credentials.
    let missing = if unsafe { libc::geteuid() } != 0 {
        Some("not root".to_string())
    } else if !Path::new(SSHD).exists() {
        Some(format!("{SSHD} is missing (Debian: openssh-server)"))
    } else {
        ["ssh", "ssh-keygen", "tmux", "pgrep", "runuser"]
            .into_iter()
            .find(|tool| !ok(Command::new("sh").args(["-c", &format!("command -v {tool}")])))
            .map(|tool| format!("{tool} is not installed"))
    };
    if let Some(why) = missing {
        assert!(!ci, "{test} must run under CI, but {why}");
        eprintln!("skipping {test}: {why}");
        return false;
    }
    if !ok(Command::new("id").arg(USER)) {
        // A password of `*`: no password login, but not "locked", which sshd refuses without
        // PAM even for key authentication (useradd's default `!` is locked).
        let made = ok(Command::new("useradd").args([
            "--no-create-home",
            "--shell",
            "/bin/sh",
            "--password",
            "*",
            USER,
        ]));
        assert!(made || ok(Command::new("id").arg(USER)), "useradd {USER}");
    }
    true
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn uid_gid(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// The pids of the user's processes.
fn user_pids() -> BTreeSet<u32> {
    let out = Command::new("pgrep").args(["-u", USER]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn ps_of_user() -> String {
    let out = Command::new("ps")
        .args(["-o", "pid,stat,comm,args", "-u", USER])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until none of the user's processes but `before` remains; returns how long it took.
fn wait_no_new_user_process(before: &BTreeSet<u32>, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left: BTreeSet<u32> = user_pids().difference(before).copied().collect();
        if left.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "processes of {USER} left behind {:?} after the session ended: {left:?}\n{}",
            timeout,
            ps_of_user()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private sshd on 127.0.0.1: its own host key, key authentication only, the client key in
/// an authorized_keys file of its temp dir; the binary copied there with mode 755 so the user
/// can run it whatever the target directory's permissions. Stopped when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Sshd {
    fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        for key in ["host_key", "client_key"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(dir.path().join(key))
                .output()
                .unwrap();
            assert!(made.status.success(), "{made:?}");
        }
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(dir.path().join("client_key.pub"), &authorized).unwrap();
        // sshd reads it as the user.
        chmod(&authorized, 0o644);
        let bin = dir.path().join("cachescope");
        std::fs::copy(env!("CARGO_BIN_EXE_cachescope"), &bin).unwrap();
        chmod(&bin, 0o755);
        // The privilege separation directory the Debian service would create.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = dir.path().join("sshd.log");
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let d = dir.path().display();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\n\
                     HostKey {d}/host_key\n\
                     PidFile {d}/sshd.pid\n\
                     AuthorizedKeysFile {d}/authorized_keys\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     AllowUsers {USER}\n"
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .args(["-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let listening = format!("Server listening on 127.0.0.1 port {port}");
            loop {
                if std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(&listening)
                {
                    return Sshd { dir, child, port };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    // Most likely the port was taken meanwhile: another one.
                    let _ = child.kill();
                    let _ = child.wait();
                    eprintln!(
                        "sshd on port {port} did not start:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start sshd");
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("cachescope")
    }

    /// The local command that runs `remote` as the user through `ssh -t`.
    fn ssh(&self, remote: &str) -> String {
        format!(
            "ssh -t -i '{}' -p {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
             -o BatchMode=yes -o LogLevel=ERROR {USER}@127.0.0.1 \"{remote}\"",
            self.dir.path().join("client_key").display(),
            self.port
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn an_operator_inspects_a_root_store_over_ssh_and_it_opens_immutable() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("an_operator_inspects_a_root_store_over_ssh_and_it_opens_immutable") {
        return;
    }
    let sshd = Sshd::start();
    // The app has stopped: a WAL store owned by root, no -wal, in a 755 directory.
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let path = dir.path().join("cache.db");
    {
        let store = Store::create(&path).unwrap();
        for key in ["k1", "k2", "k3"] {
            store
                .put_entry(&NewEntry {
                    namespace: "data",
                    function: "app.reports:monthly",
                    key,
                    strategy: "bytecode",
                    derivation_error: Some("TypeError: x"),
                    value: Some(b"value"),
                    created_at: 1,
                    ..Default::default()
                })
                .unwrap();
        }
    }
    chmod(&path, 0o644);
    let journal = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
        .unwrap();
    assert_eq!(journal, "wal");
    assert!(!dir.path().join("cache.db-wal").exists());
    let before = common::dir_snapshot(dir.path());
    let pids = user_pids();

    let remote = format!("'{}' '{}'", sshd.bin().display(), path.display());
    let tmux = Tmux::start(
        "ssh-ro",
        &format!("{}; echo EXIT=$?; sleep 120", sshd.ssh(&remote)),
    );
    let screen = tmux.wait_for(
        "the entries and the IMMUTABLE badge",
        Duration::from_secs(60),
        |s| s.contains("IMMUTABLE") && s.contains("stale:") && s.contains("app.reports"),
    );
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("READ-ONLY · IMMUTABLE"),
        "header: {header}\n{screen}"
    );
    assert!(screen.contains("3 entries"), "{screen}");
    assert!(screen.contains("stale: 3 failed"), "{screen}");
    assert_eq!(
        screen.matches("app.reports:monthly").count(),
        3,
        "the entries: {screen}"
    );
    // The one warning line: in the TUI it is the message line above the footer.
    let warnings: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("opened immutable"))
        .collect();
    assert_eq!(warnings.len(), 1, "{screen}");
    assert!(
        warnings[0].starts_with(&format!("{}: opened immutable", path.display())),
        "{screen}"
    );

    tmux.keys("q");
    let after = tmux.wait_for("the exit", Duration::from_secs(30), |s| s.contains("EXIT="));
    assert!(after.contains("EXIT=0\n"), "{after}\n{}", sshd.log());
    // Nothing said on the way out, no error; the shell's screen is back.
    assert!(!after.contains("cachescope:"), "{after}");
    assert!(
        !after.contains("groups by"),
        "alternate screen not left: {after}"
    );

    assert_eq!(
        common::dir_snapshot(dir.path()),
        before,
        "the store's directory changed"
    );
    wait_no_new_user_process(&pids, Duration::from_secs(20));
}

/// Stale (missing source) entries of the purge test: enough that the purge takes seconds.
const STALE: i64 = 200_000;
const FRESH: i64 = 1_000;

/// A store owned by the user: STALE entries whose source file is gone and FRESH entries whose
/// source is there, every entry with a dependency row on a helper file that is there.
/// Returns (store, ids of the sources gone, fresh, helper).
fn big_user_store(dir: &Path) -> (PathBuf, i64, i64, i64) {
    let path = dir.join("cache.db");
    std::fs::write(dir.join("fresh.py"), "def f():\n    return 1\n").unwrap();
    std::fs::write(dir.join("helper.py"), "HELP = 1\n").unwrap();
    let (fresh, helper) = {
        let store = Store::create(&path).unwrap();
        (
            store.record_file(&dir.join("fresh.py"), None).unwrap(),
            store.record_file(&dir.join("helper.py"), None).unwrap(),
        )
    };
    let mut c = rusqlite::Connection::open(&path).unwrap();
    let tx = c.transaction().unwrap();
    tx.execute(
        "INSERT INTO sources (path, digest, recorded_at) VALUES ('gone.py', 'sha256:00', 0)",
        [],
    )
    .unwrap();
    let gone = tx.last_insert_rowid();
    for (source, n, prefix) in [(gone, STALE, "s"), (fresh, FRESH, "f")] {
        tx.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO entries (namespace, function, key, strategy, source_id, value, value_size, created_at) \
             SELECT 'd', 'm:f', ?2 || i, 'source', ?3, zeroblob(100), 100, 0 FROM n",
            rusqlite::params![n, prefix, source],
        )
        .unwrap();
    }
    tx.execute(
        "INSERT INTO entry_dependencies (entry_id, source_id) SELECT id, ?1 FROM entries",
        [helper],
    )
    .unwrap();
    tx.commit().unwrap();
    drop(c);
    assert!(!dir.join("cache.db-wal").exists());
    (path, gone, fresh, helper)
}

/// How the connection drops.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The ssh client is SIGKILLed: the server reads EOF on the socket.
    Client,
    /// The session's sshd processes (the privileged monitor and the user's child) are
    /// SIGKILLed: the pty's master side closes under the app, and the client reads EOF.
    Server,
}

fn children(pid: u32, name: &str) -> Vec<i32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string(), "-x", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// SIGKILLs `pid`; a process that has already gone counts as killed. The session's sshd
/// monitor exits by itself once its child is killed, so it may be gone (ESRCH) by the time
/// its own kill is sent.
fn sigkill(pid: i32) {
    // SAFETY: a plain kill of a process this test started (directly or through sshd).
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        let err = std::io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH), "kill {pid}: {err}");
    }
}

#[test]
fn killing_the_ssh_client_during_a_purge_leaves_a_sound_store_and_no_process() {
    purge_then_drop_the_connection(
        "killing_the_ssh_client_during_a_purge_leaves_a_sound_store_and_no_process",
        Cut::Client,
    );
}

#[test]
fn killing_the_sessions_sshd_during_a_purge_leaves_a_sound_store_and_no_process() {
    purge_then_drop_the_connection(
        "killing_the_sessions_sshd_during_a_purge_leaves_a_sound_store_and_no_process",
        Cut::Server,
    );
}

fn purge_then_drop_the_connection(test: &str, cut: Cut) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !ready(test) {
        return;
    }
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, gone, fresh, helper) = big_user_store(dir.path());
    let (uid, gid) = uid_gid(USER);
    for e in std::fs::read_dir(dir.path()).unwrap() {
        std::os::unix::fs::chown(e.unwrap().path(), Some(uid), Some(gid)).unwrap();
    }
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    chmod(dir.path(), 0o755);
    let pids = user_pids();

    // The login shell runs this; it outlives the app (ignoring SIGHUP itself, which the app
    // does not inherit: it installs its own handler) only to record the app's exit status.
    let code = dir.path().join("exit-code");
    let script = sshd.dir.path().join("remote.sh");
    std::fs::write(
        &script,
        format!(
            "trap '' HUP\n'{}' '{}'\necho $? > '{}'\n",
            sshd.bin().display(),
            path.display(),
            code.display()
        ),
    )
    .unwrap();
    chmod(&script, 0o644);
    let tmux = Tmux::start(
        "ssh-purge",
        &format!(
            "{}; echo EXIT=$?; sleep 120",
            sshd.ssh(&format!("sh '{}'", script.display()))
        ),
    );
    tmux.wait_for("verification", Duration::from_secs(120), |s| {
        s.contains("stale:")
    });
    tmux.keys("D");
    let dialog = tmux.wait_for("the confirmation", Duration::from_secs(30), |s| {
        s.contains("Invalidate")
    });
    assert!(
        dialog.contains(&format!("Invalidate {STALE} entries")),
        "{dialog}"
    );
    tmux.keys("y");
    let running = tmux.wait_for("the purge under way", Duration::from_secs(60), |s| {
        s.lines()
            .any(|l| l.contains("invalidating…") && !l.contains(" 0/"))
    });
    let progress = running
        .lines()
        .find(|l| l.contains("invalidating…"))
        .unwrap()
        .trim()
        .to_string();

    // Drop the connection, without a word to the other side.
    let shell = tmux.pane_pid();
    let client = children(shell, "ssh");
    assert_eq!(
        client.len(),
        1,
        "the ssh client under the pane's shell {shell}"
    );
    let client_exit = match cut {
        Cut::Client => {
            sigkill(client[0]);
            "EXIT=137"
        }
        Cut::Server => {
            let monitors = children(sshd.child.id(), "sshd");
            assert_eq!(monitors.len(), 1, "the session's sshd\n{}", sshd.log());
            for pid in children(monitors[0] as u32, "sshd") {
                sigkill(pid);
            }
            sigkill(monitors[0]);
            "EXIT=255"
        }
    };
    let dropped = Instant::now();
    let after = tmux.wait_for("the ssh client's end", Duration::from_secs(30), |s| {
        s.contains("EXIT=")
    });
    assert!(after.contains(client_exit), "{cut:?}: {after}");

    let gone_in = wait_no_new_user_process(&pids, Duration::from_secs(30));
    let since_drop = dropped.elapsed();
    let exit_code = std::fs::read_to_string(&code).unwrap_or_default();
    eprintln!(
        "{cut:?}: purge at `{progress}` when the connection dropped; every process of {USER} gone \
         {since_drop:?} after (polled {gone_in:?}); the app exited {:?}\nsshd log:\n{}",
        exit_code.trim(),
        sshd.log()
    );

    // The owner opens it again.
    let summary = Command::new("runuser")
        .args(["-u", USER, "--"])
        .arg(sshd.bin())
        .arg("summary")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        matches!(summary.status.code(), Some(0 | 1)),
        "summary: {summary:?}"
    );
    assert!(summary.stderr.is_empty(), "summary: {summary:?}");

    let c =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(
        count(&c, "SELECT count(*) FROM pragma_foreign_key_check"),
        0,
        "rows pointing at missing rows"
    );
    let stale_left = count(
        &c,
        &format!("SELECT count(*) FROM entries WHERE source_id = {gone}"),
    );
    let fresh_left = count(
        &c,
        &format!("SELECT count(*) FROM entries WHERE source_id = {fresh}"),
    );
    eprintln!("{} of {STALE} stale entries removed", STALE - stale_left);
    assert_eq!(fresh_left, FRESH, "fresh entries were removed");
    assert!(
        stale_left < STALE,
        "nothing was removed, though the TUI showed `{progress}`"
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM entries"),
        stale_left + fresh_left
    );
    // Removed in whole: every entry left still has its dependency row, no dependency row is
    // left without its entry, and no entry lost its source row.
    assert_eq!(
        count(&c, "SELECT count(*) FROM entry_dependencies"),
        stale_left + fresh_left
    );
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM entry_dependencies WHERE source_id = {helper}")
        ),
        stale_left + fresh_left
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM entry_dependencies d \
             WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = d.entry_id)"
        ),
        0
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM entries e WHERE e.source_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = e.source_id)"
        ),
        0
    );
    // The source of the stale entries goes only with the last of them.
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM sources WHERE id = {gone}")
        ),
        i64::from(stale_left > 0)
    );

    // The README: a signal stops the purge between batches and the TUI exits 128 + the signal
    // (129 for SIGHUP). Over a dropped SSH link the terminal is gone: every write to it fails
    // with EIO, and a failed write must not turn the ending into a panic (exit 101).
    assert_eq!(
        exit_code.trim(),
        "129",
        "the app did not exit 128 + SIGHUP after the SSH connection dropped"
    );
}
