//! The real binary in a tmux session at 80x24: start a script, read the screen, send keys.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server of its own, killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// `script` under `sh -c` in a fresh 80x24 session, on a server named after `name` and
    /// this process.
    pub fn start(name: &str, script: &str) -> Tmux {
        Tmux::start_sized(name, script, 80, 24)
    }

    /// [`Tmux::start`] in a session of `columns` x `rows`.
    pub fn start_sized(name: &str, script: &str, columns: u16, rows: u16) -> Tmux {
        let (columns, rows) = (columns.to_string(), rows.to_string());
        let tmux = Tmux {
            socket: format!("cachescope-{name}-{}", std::process::id()),
        };
        let started = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &columns,
            "-y",
            &rows,
            "sh",
            "-c",
            script,
        ]);
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .expect("running tmux")
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    pub fn keys(&self, keys: &str) {
        assert!(self
            .cmd(&["send-keys", "-t", "main", keys])
            .status
            .success());
    }

    /// The pid of the pane's shell (the `sh -c` running the script).
    pub fn pane_pid(&self) -> u32 {
        let out = self.cmd(&["display-message", "-p", "-t", "main", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// Polls the screen until `ok` holds (the app redraws on its own; no fixed sleeps).
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
