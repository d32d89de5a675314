//! Issue 2, parts 4 and 5: what the commands print, for people and for scripts, and that
//! nothing a store contains can reach the terminal as a control sequence.

mod common;

use cachescope::store::{NewEntry, NewSource};
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

const EVIL_FUNCTION: &str = "evil\x1b]0;pwned\x07\x1b[2J";
const EVIL_KEY: &str = "key\nwith a newline";
const EVIL_PATH: &str = "dir\r/evil.py";
const EVIL_ERROR: &str = "ValueError: \x1b[31mred\x1b[0m";
/// 8-bit CSI and a right-to-left override: not ASCII, just as able to fool a terminal.
const EVIL_NAMESPACE: &str = "ns\u{9b}2J\u{202e}gpj.exe";
const EVIL_STRATEGY: &str = "custom\x1b[1m";

/// One entry with a source, hits, an access time and an expiry, created at a known time.
fn one_entry() -> (Fixture, i64, i64) {
    let fx = Fixture::new();
    fx.write("app/m.py", "def f():\n    return 1\n");
    let sid = fx.record("app/m.py", Some((1, 2)));
    let created = 1_700_000_000_123;
    let id = fx.put(NewEntry {
        source_id: Some(sid),
        function: "app.m:f",
        key: "k1",
        created_at: created,
        accessed_at: Some(created + 60_000),
        hits: 7,
        expires_at: Some(created + 1000),
        ..entry("k1")
    });
    (fx, id, created)
}

/// A store whose function name, key, source path and derivation error carry control characters.
fn hostile_store() -> (Fixture, i64) {
    let fx = Fixture::new();
    let id = fx.with_store(|s| {
        let sid = s
            .record_source(&NewSource {
                path: EVIL_PATH,
                digest: &format!("sha256:{}", "a".repeat(64)),
                recorded_at: now_ms(),
                ..Default::default()
            })
            .unwrap();
        s.put_entry(&NewEntry {
            namespace: EVIL_NAMESPACE,
            strategy: EVIL_STRATEGY,
            function: EVIL_FUNCTION,
            key: EVIL_KEY,
            source_id: Some(sid),
            derivation_error: Some(EVIL_ERROR),
            ..entry("")
        })
        .unwrap()
    });
    (fx, id)
}

fn assert_no_escape_bytes(what: &str, r: &Run) {
    for (stream, bytes) in [("stdout", &r.raw_stdout), ("stderr", &r.raw_stderr)] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "{what}: raw control byte on {stream}: {:?}",
            String::from_utf8_lossy(bytes)
        );
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains('\u{9b}') && !text.contains('\u{202e}'),
            "{what}: raw C1 control or bidi override on {stream}: {text:?}"
        );
    }
}

#[test]
fn list_json_has_every_documented_field_with_rfc3339_times() {
    let (fx, id, created) = one_entry();
    let r = run(["list", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    let e = &v.as_array().unwrap()[0];
    for field in [
        "id",
        "namespace",
        "function",
        "key",
        "strategy",
        "status",
        "derivation_error",
        "source_path",
        "value_size",
        "created_at",
        "accessed_at",
        "hits",
        "expired",
    ] {
        assert!(e.get(field).is_some(), "missing {field}: {e}");
    }
    assert_eq!(e["id"], id);
    assert_eq!(e["namespace"], "data");
    assert_eq!(e["function"], "app.m:f");
    assert_eq!(e["strategy"], "source");
    assert_eq!(e["status"], "fresh");
    assert_eq!(e["derivation_error"], Value::Null);
    assert_eq!(e["source_path"], "app/m.py");
    assert_eq!(e["value_size"], 5);
    assert_eq!(e["hits"], 7);
    assert_eq!(e["expired"], true);
    let parse = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap_or_else(|err| panic!("{v} is not RFC 3339: {err}"))
            .timestamp_millis()
    };
    assert_eq!(parse(&e["created_at"]), created);
    assert_eq!(parse(&e["accessed_at"]), created + 60_000);
}

#[test]
fn list_csv_starts_with_a_header_row() {
    let m = Mixed::new();
    let r = run(["list", m.store_str(), "--csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut reader = csv::Reader::from_reader(r.stdout.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for h in [
        "id",
        "namespace",
        "function",
        "key",
        "strategy",
        "status",
        "source_path",
        "created_at",
        "expired",
    ] {
        assert!(
            headers.iter().any(|x| x == h),
            "no {h} column in {headers:?}"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), m.ids.len());
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let missing = rows.iter().find(|r| &r[col("key")] == "missing").unwrap();
    assert_eq!(&missing[col("status")], "missing");
    assert_eq!(&missing[col("source_path")], "app/gone.py");
    assert_eq!(&missing[col("id")], m.id("missing").to_string());
}

#[test]
fn limit_caps_the_rows_in_every_format() {
    let m = Mixed::new();
    let s = m.store_str();
    let json = run(["list", s, "--json", "--limit", "3"]).json();
    let ids: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, m.all_ids().into_iter().take(3).collect::<Vec<_>>());
    let csv = run(["list", s, "--csv", "--limit", "2"]).stdout;
    assert_eq!(csv.lines().count(), 3, "header and two rows: {csv}");
    let human = run(["list", s, "--limit", "4"]).stdout;
    assert_eq!(human.lines().count(), 5, "header and four rows: {human}");
    assert_eq!(run(["list", s, "--json", "--limit", "0"]).json(), json!([]));
}

#[test]
fn summary_json_counts_entries_bytes_and_statuses_per_strategy() {
    let m = Mixed::new();
    let r = run(["summary", m.store_str(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["entries"], 11);
    assert_eq!(v["bytes"], 60);
    let groups = v["groups"].as_array().unwrap();
    let strategies: Vec<&str> = groups
        .iter()
        .map(|g| g["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["source", "custom", "name"]);
    let source = &groups[0];
    assert_eq!(source["entries"], 7);
    assert_eq!(source["bytes"], 35);
    let st = &source["statuses"];
    assert_eq!(
        (st["fresh"].clone(), st["moved"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        (st["changed"].clone(), st["missing"].clone()),
        (json!(3), json!(1))
    );
    let custom = &groups[1]["statuses"];
    assert_eq!(
        (custom["changed"].clone(), custom["unreadable"].clone()),
        (json!(1), json!(1))
    );
    let name = &groups[2]["statuses"];
    assert_eq!(
        (name["failed"].clone(), name["unverifiable"].clone()),
        (json!(1), json!(1))
    );
}

#[test]
fn human_summary_shows_the_cython_type_error_once_with_its_count() {
    let fx = Fixture::new();
    fx.write("ext/fast.so", "\x7fELF binary");
    let sid = fx.record("ext/fast.so", None);
    for k in ["c1", "c2", "c3"] {
        fx.put(NewEntry {
            strategy: "bytecode",
            source_id: Some(sid),
            derivation_error: Some(CYTHON_TYPE_ERROR),
            ..entry(k)
        });
    }
    fx.put(NewEntry {
        strategy: "bytecode",
        derivation_error: Some("OSError: could not get source code"),
        ..entry("o1")
    });
    let r = run(["summary", fx.store.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("cython_function_or_method"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert!(
        lines[0].contains(CYTHON_TYPE_ERROR),
        "the whole message on one line: {}",
        lines[0]
    );
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&words[..2], ["bytecode", "3"], "{}", lines[0]);
}

#[test]
fn show_prints_one_entry_for_people_and_for_scripts() {
    let (fx, id, _) = one_entry();
    let s = fx.store.to_str().unwrap();
    let r = run(["show", s, &id.to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with(&format!("Entry {id}")), "{}", r.stdout);
    assert!(
        r.stdout.contains("app.m:f") && r.stdout.contains("app/m.py"),
        "{}",
        r.stdout
    );
    let raw = run(["show", s, &id.to_string(), "--json"]).stdout;
    // Every top-level key once (a parser keeps one of two, a strict one refuses the document).
    let top: Vec<&str> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("  \"")?.split_once("\":").map(|(k, _)| k))
        .collect();
    let unique: std::collections::BTreeSet<&str> = top.iter().copied().collect();
    assert!(top.len() > 10 && unique.len() == top.len(), "{top:?}");
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["id"], id);
    assert_eq!(v["key"], "k1");
    assert_eq!(v["status"], "fresh");
    assert_eq!(v["source"]["path"], "app/m.py");
    assert_eq!(v["source"]["span"], json!([1, 2]));
    assert_eq!(v["dependencies"], json!([]));
}

#[test]
fn show_of_an_unknown_id_exits_2_naming_the_store() {
    let (fx, _, _) = one_entry();
    for extra in [&[][..], &["--json"][..]] {
        let mut args = vec!["show", fx.store.to_str().unwrap(), "999"];
        args.extend_from_slice(extra);
        let r = run(args);
        r.assert_refused(&fx.store, "no entry with id 999");
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn options_of_other_kinds_are_said_to_be_ignored() {
    let (fx, _, _) = one_entry();
    let store = fx.store.to_str().unwrap();
    let r = run(["summary", store, "--app", "app.py"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("--app applies to Streamlit caches"),
        "{}",
        r.stderr
    );
    let r = run(["list", store, "--source-root", "src"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("--source-root applies to other"),
        "{}",
        r.stderr
    );
    let r = run(["summary", store]);
    assert!(
        r.stderr.is_empty(),
        "no warning without the options: {}",
        r.stderr
    );
}

/// Runs the binary with stdout on a pseudo-terminal and returns what it wrote there.
fn run_on_a_tty(args: &[&str], no_color: Option<&str>) -> Vec<u8> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"));
    cmd.args(args)
        .env_remove("NO_COLOR")
        .stdout(Stdio::from(slave))
        .stderr(Stdio::null());
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // closes our copy of the slave, so reads end when the child exits
    let mut out = Vec::new();
    let mut file = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    // Linux reports EIO on the master once the slave side is closed.
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let code = child.wait().unwrap().code();
    assert!(matches!(code, Some(0 | 1)), "{args:?} exited with {code:?}");
    out
}

#[test]
fn colour_appears_only_on_a_terminal_and_never_with_no_color() {
    let m = Mixed::new();
    for cmd in ["summary", "verify", "list"] {
        let piped = run([cmd, m.store_str()]);
        assert!(
            !piped.raw_stdout.contains(&0x1b),
            "{cmd} piped: {}",
            piped.stdout
        );
        let on_tty = run_on_a_tty(&[cmd, m.store_str()], None);
        assert!(
            on_tty.contains(&0x1b),
            "{cmd} on a terminal should be coloured"
        );
        let no_color = run_on_a_tty(&[cmd, m.store_str()], Some("1"));
        assert!(!no_color.is_empty());
        assert!(
            !no_color.contains(&0x1b),
            "{cmd} with NO_COLOR: {}",
            String::from_utf8_lossy(&no_color)
        );
    }
}

#[test]
fn control_characters_from_the_store_are_escaped_in_human_output() {
    let (fx, id) = hostile_store();
    let s = fx.store.to_str().unwrap();
    let id = id.to_string();
    for args in [
        vec!["list", s],
        vec!["summary", s],
        vec!["verify", s],
        vec!["show", s, &id],
        vec!["purge", s, "--dry-run"],
    ] {
        let r = run(&args);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        assert_no_escape_bytes(&format!("{args:?}"), &r);
        assert!(
            !r.stdout.contains('\r'),
            "{args:?} printed a raw CR: {:?}",
            r.stdout
        );
    }
    let listed = run(["list", s]).stdout;
    assert!(listed.contains("\\x1b"), "{listed}");
    assert_eq!(
        listed.lines().count(),
        2,
        "the key's newline must not split the row: {listed}"
    );
    let shown = run(["show", s, &id]).stdout;
    assert!(shown.contains("evil\\x1b]0;pwned\\x07\\x1b[2J"), "{shown}");
    assert!(
        shown.contains("key\\nwith a newline") && shown.contains("dir\\r/evil.py"),
        "{shown}"
    );
}

#[test]
fn control_characters_are_escaped_in_csv_and_round_trip_in_json() {
    let (fx, id) = hostile_store();
    let s = fx.store.to_str().unwrap();
    let csv_run = run(["list", s, "--csv"]);
    assert_no_escape_bytes("csv", &csv_run);
    let mut reader = csv::Reader::from_reader(csv_run.stdout.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&row[col("function")], "evil\\x1b]0;pwned\\x07\\x1b[2J");
    assert_eq!(&row[col("key")], "key\\nwith a newline");
    assert_eq!(&row[col("source_path")], "dir\\r/evil.py");

    let list = run(["list", s, "--json"]);
    assert_no_escape_bytes("list --json", &list);
    let e = &list.json()[0];
    assert_eq!(e["namespace"], EVIL_NAMESPACE);
    assert_eq!(e["strategy"], EVIL_STRATEGY);
    assert_eq!(e["function"], EVIL_FUNCTION);
    assert_eq!(e["key"], EVIL_KEY);
    assert_eq!(e["source_path"], EVIL_PATH);
    assert_eq!(e["derivation_error"], EVIL_ERROR);

    let show = run(["show", s, &id.to_string(), "--json"]);
    assert_no_escape_bytes("show --json", &show);
    assert_eq!(show.json()["function"], EVIL_FUNCTION);
    let verify = run(["verify", s, "--json"]);
    assert_no_escape_bytes("verify --json", &verify);
    assert_eq!(verify.json()["sources"][0]["path"], EVIL_PATH);
    let summary = run(["summary", s, "--json"]);
    assert_no_escape_bytes("summary --json", &summary);
    assert_eq!(
        summary.json()["groups"][0]["derivation_errors"][0]["error"],
        EVIL_ERROR
    );
}

#[test]
fn show_escapes_control_characters_in_values_and_in_what_changed() {
    let fx = Fixture::new();
    fx.write("evil.py", "x = '\x1b[2J'\n");
    let sid = fx.record("evil.py", Some((1, 1)));
    let id = fx.put(NewEntry {
        source_id: Some(sid),
        value: Some(b"hello\x1b]0;title\x07 \xc2\x9b31m"),
        value_type: Some("text"),
        ..entry("k")
    });
    fx.write("evil.py", "x = '\x1b]0;t\x07'\n");
    let r = run(["show", fx.store.to_str().unwrap(), &id.to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_escape_bytes("show", &r);
    assert!(r.stdout.contains("hello\\x1b]0;title\\x07"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("recorded block against what stands at lines 1-1 now"),
        "the diff is shown: {}",
        r.stdout
    );
    assert!(r.stdout.contains("-x = '\\x1b[2J'"), "{}", r.stdout);
    let r = run([
        "show",
        fx.store.to_str().unwrap(),
        &id.to_string(),
        "--json",
    ]);
    assert_no_escape_bytes("show --json", &r);
    assert_eq!(r.json()["status"], "changed");
}

#[test]
fn control_characters_in_paths_are_escaped_in_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil\x1b]0;pwned\x07\x1b[2J.db");
    let r = run(["summary", evil.to_str().unwrap()]);
    assert_no_escape_bytes("missing store", &r);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("evil\\x1b]0;pwned\\x07\\x1b[2J.db"),
        "{}",
        r.stderr
    );
    // And a warning about a store with such a name.
    let (fx, _) = hostile_store();
    let renamed = fx.dir.path().join("a\x1b[2Jb.db");
    std::fs::rename(&fx.store, &renamed).unwrap();
    rusqlite::Connection::open(&renamed)
        .unwrap()
        .execute_batch("PRAGMA application_id = 0;")
        .unwrap();
    let r = run(["list", renamed.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_no_escape_bytes("warning", &r);
    assert!(r.stderr.contains("a\\x1b[2Jb.db"), "{}", r.stderr);
    let r = run(["show", renamed.to_str().unwrap(), "42"]);
    assert_eq!(r.code, 2);
    assert_no_escape_bytes("unknown id", &r);
}

#[test]
fn version_help_completions_and_man_page_are_printed() {
    let r = run(["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.trim(),
        format!("cachescope {}", env!("CARGO_PKG_VERSION"))
    );
    let r = run(["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("cachescope purge cache.db --dry-run"),
        "{}",
        r.stdout
    );
    let r = run(["completions", "bash"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("_cachescope()") && r.stdout.contains("complete -F"),
        "{}",
        r.stdout
    );
    let r = run(["man"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH cachescope"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("purge"));
}

#[test]
fn the_printed_schema_creates_a_store_cachescope_opens_without_warnings() {
    let r = run(["schema"]);
    assert_eq!(r.code, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-schema.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(&r.stdout).expect("schema DDL executes");
    c.execute_batch(
        "INSERT INTO meta VALUES ('format', 'cachescope-store'), ('format_version', '1');",
    )
    .unwrap();
    let app_id: i64 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, 0x4353_4350);
    drop(c);
    let r = run(["summary", path.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert_eq!(r.json()["entries"], 0);
}

#[test]
fn durations_take_units_from_milliseconds_to_days_and_reject_nonsense() {
    let (fx, _, _) = one_entry();
    let s = fx.store.to_str().unwrap();
    for d in ["500ms", "5s", "30m", "12h", "7d"] {
        let r = run(["list", s, "--json", "--older-than", d]);
        assert_eq!(r.code, 0, "--older-than {d}: {}", r.stderr);
        // The entry was created in 2023: older than any of these.
        assert_eq!(r.json().as_array().unwrap().len(), 1, "--older-than {d}");
        let r = run(["verify", s, "--busy-timeout", d]);
        assert_eq!(r.code, 0, "--busy-timeout {d}: {}", r.stderr);
    }
    for args in [
        ["list", s, "--older-than", "5 parsecs"],
        ["summary", s, "--busy-timeout", "5 parsecs"],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(
            r.stderr.contains("parsecs") && r.stdout.is_empty(),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_reader_closing_the_pipe_early_is_not_an_error() {
    let fx = Fixture::new();
    fx.with_store(|s| {
        s.write(|s| {
            for i in 0..3000 {
                let key = format!("key-{i:05}");
                s.put_entry(&NewEntry {
                    strategy: "name",
                    ..entry(&key)
                })?;
            }
            Ok(())
        })
        .unwrap()
    });
    for format in [None, Some("--json"), Some("--csv")] {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"));
        cmd.args(["list", fx.store.to_str().unwrap()]).args(format);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader (and our end of the pipe) is dropped here, like `| head -1`.
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!stderr.contains("panicked"), "{format:?}: {stderr}");
        assert_eq!(stderr, "", "{format:?}");
        assert_eq!(status.code(), Some(0), "{format:?}");
    }
}

#[test]
fn a_stdout_closed_before_any_output_never_makes_a_command_panic() {
    let m = Mixed::new();
    let s = m.store_str();
    let demo_dir = m.fx.path("demo");
    let id = m.id("changed").to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["summary", s],
        vec!["summary", s, "--json"],
        vec!["verify", s],
        vec!["verify", s, "--json"],
        vec!["list", s],
        vec!["show", s, &id],
        vec!["purge", s, "--dry-run"],
        vec!["schema"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
        vec!["--version"],
        vec!["demo", demo_dir.to_str().unwrap()],
    ];
    let mut failures = Vec::new();
    for args in commands {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end at once: the first write fails with EPIPE, deterministically.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let code = child.wait().unwrap().code();
        if stderr.contains("panicked") || !matches!(code, Some(0 | 1)) {
            failures.push(format!("{args:?} exited with {code:?}: {stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn demo_into_a_path_that_is_a_file_fails_with_one_line_saying_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "not a directory").unwrap();
    let r = run(["demo", file.to_str().unwrap()]);
    r.assert_refused(&file, "not a directory");
    assert_eq!(
        r.stderr.to_lowercase().matches("not a directory").count(),
        1,
        "the cause is repeated: {}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

#[test]
fn sizes_that_would_overflow_the_totals_saturate_instead_of_wrapping() {
    let fx = Fixture::new();
    for key in ["a", "b", "c"] {
        let id = fx.put(entry(key));
        fx.sql()
            .execute(
                "UPDATE entries SET value_size = ?1 WHERE id = ?2",
                [i64::MAX, id],
            )
            .unwrap();
    }
    let summary = run(["summary", fx.store.to_str().unwrap(), "--json"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    let bytes = summary.json()["bytes"].as_u64().unwrap();
    assert!(bytes >= i64::MAX as u64, "the total wrapped to {bytes}");
    let dry = run([
        "purge",
        fx.store.to_str().unwrap(),
        "--status",
        "unverifiable",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.json()["bytes"].as_u64().unwrap() >= i64::MAX as u64);
}
