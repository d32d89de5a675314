//! The binary on caches written by the real libraries: joblib.Memory and python-diskcache
//! trees made by `tests/python/caches/make_joblib.py` and `make_diskcache.py` (never hand-made
//! imitations), checked against the manifests those scripts print. Without python3 and the
//! libraries the tests say so and pass, except under CI, where they fail.

mod common;

use common::python::{have, manifest, script};
use common::{assert_one_line_naming, cachescope, file_sha256, finish, run, Run};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// A joblib scenario written into a fresh temp dir, or None (skipped).
fn joblib(scenario: &str, extra: &[&str]) -> Option<(tempfile::TempDir, Value)> {
    if !have(&["joblib"]) || !have(extra) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        "make_joblib.py",
        &[dir.path().to_str().unwrap(), "--scenario", scenario],
    );
    Some((dir, m))
}

/// A diskcache scenario written into a fresh temp dir, or None (skipped).
fn diskcache(scenario: &str) -> Option<(tempfile::TempDir, Value)> {
    if !have(&["diskcache"]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        "make_diskcache.py",
        &[dir.path().to_str().unwrap(), "--scenario", scenario],
    );
    Some((dir, m))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Runs the binary with `args` from `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Run {
    finish(cachescope().current_dir(cwd).args(args))
}

/// `list --json` rows.
fn list(r: Run) -> Vec<Value> {
    assert_eq!(r.code, 0, "list failed: {}", r.stderr);
    r.json().as_array().expect("an array").clone()
}

/// joblib entries by the call folder's hash (the key starts with it).
fn by_hash(rows: &[Value]) -> BTreeMap<String, Value> {
    rows.iter()
        .map(|e| {
            let key = s(&e["key"]);
            (key.split(' ').next().unwrap().to_string(), e.clone())
        })
        .collect()
}

fn statuses(rows: &[Value]) -> BTreeSet<String> {
    rows.iter().map(|e| s(&e["status"]).to_string()).collect()
}

/// Every file under `dir` (recursively) with its bytes' digest; directories as `<dir>`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, "<dir>".into());
                walk(root, &e.path(), out);
            } else {
                out.insert(rel, file_sha256(&e.path()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The module scenario's call folder hashes by the function the script called.
fn module_calls(m: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in m["calls"].as_array().unwrap() {
        let id = c["call_id"].as_array().unwrap();
        out.entry(s(&c["func"]).to_string())
            .or_default()
            .insert(s(id.last().unwrap()).to_string());
    }
    out
}

fn all_hashes(m: &Value) -> BTreeSet<String> {
    module_calls(m).into_values().flatten().collect()
}

// ---------------------------------------------------------------------------------------------
// joblib

#[test]
fn joblib_module_every_call_fresh_under_its_source_root_and_missing_elsewhere() {
    let Some((dir, m)) = joblib("module", &[]) else {
        return;
    };
    let loc = s(&m["location"]);
    let src = s(&m["source_root"]);
    let hashes = all_hashes(&m);
    assert_eq!(hashes.len(), 8, "the manifest's calls");

    let r = run(["summary", loc, "--source-root", src]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .next()
            .unwrap()
            .contains("(joblib): 8 entries"),
        "{}",
        r.stdout
    );
    let j = run(["summary", loc, "--source-root", src, "--json"]).json();
    assert_eq!(j["kind"], "joblib");
    assert_eq!(j["entries"], 8);
    assert_eq!(j["groups"][0]["strategy"], "source");
    assert_eq!(j["groups"][0]["statuses"]["fresh"], 8);

    let rows = list(run(["list", loc, "--source-root", src, "--json"]));
    let got = by_hash(&rows);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), hashes);
    assert_eq!(statuses(&rows), BTreeSet::from(["fresh".to_string()]));
    for (func, expect) in [
        ("calc.square", "pkgj.calc:square"),
        ("calc.power", "pkgj.calc:power"),
        ("calc.Geometry.area", "pkgj.calc:Geometry.area"),
        ("scale3", "pkgj.calc:make_scaler.<locals>.scale"),
        ("pkgj.hello", "pkgj:hello"),
    ] {
        for h in &module_calls(&m)[func] {
            assert_eq!(got[h]["function"], expect, "call {h} of {func}");
            assert_eq!(got[h]["strategy"], "source");
        }
    }
    // the sizes are the call folders' files, the creation time is metadata.json's `time`
    let funcs = &m["functions"];
    for (fdir, f) in funcs.as_object().unwrap() {
        for (h, c) in f["calls"].as_object().unwrap() {
            assert_eq!(got[h]["value_size"], c["size"], "size of {fdir}/{h}");
        }
    }
    let r = run(["verify", loc, "--source-root", src]);
    assert_eq!(r.code, 0, "nothing stale: {}{}", r.stdout, r.stderr);

    // show ID: the call's key with its arguments
    let sq3 = module_calls(&m)["calc.square"]
        .iter()
        .find(|h| s(&got[*h]["key"]).ends_with("(x=3)"))
        .unwrap()
        .clone();
    let id = got[&sq3]["id"].to_string();
    let r = run(["show", loc, &id, "--source-root", src]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("Entry {id}  fresh")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("{sq3} (x=3)")), "{}", r.stdout);
    assert!(r.stdout.contains("lines 11-13"), "{}", r.stdout);

    // a relative --source-root is relative to the current directory
    let rows = list(run_in(
        dir.path(),
        &["list", loc, "--source-root", "src", "--json"],
    ));
    assert_eq!(statuses(&rows), BTreeSet::from(["fresh".to_string()]));

    // without the right root (the default: the current directory) every call is missing, and
    // the detail names the roots searched
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let rows = list(run_in(&elsewhere, &["list", loc, "--json"]));
    assert_eq!(rows.len(), 8);
    assert_eq!(statuses(&rows), BTreeSet::from(["missing".to_string()]));
    let r = run_in(&elsewhere, &["verify", loc]);
    assert_eq!(r.code, 1, "missing is stale: {}", r.stdout);
    assert!(r.stdout.contains("8 missing"), "{}", r.stdout);
    let id = by_hash(&rows)[&sq3]["id"].to_string();
    let r = run_in(&elsewhere, &["show", loc, &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("Entry {id}  missing")),
        "{}",
        r.stdout
    );
    let searched = elsewhere.canonicalize().unwrap();
    assert!(
        r.stdout
            .contains(&format!("source roots ({})", searched.display())),
        "the note names the roots searched: {}",
        r.stdout
    );
    assert!(r.stdout.contains("--source-root"), "{}", r.stdout);
}

#[test]
fn joblib_edited_and_moved_functions_then_purge_and_joblib_recomputes_only_the_purged() {
    let Some((dir, m)) = joblib("module", &[]) else {
        return;
    };
    let loc = s(&m["location"]);
    let src = Path::new(s(&m["source_root"]));
    let calls = module_calls(&m);
    let calc = src.join("pkgj/calc.py");
    let init = src.join("pkgj/__init__.py");
    let init_text = std::fs::read_to_string(&init).unwrap();

    // square's body edited; two lines inserted above hello
    let text = std::fs::read_to_string(&calc).unwrap();
    assert!(text.contains("    return x * x\n"));
    std::fs::write(
        &calc,
        text.replace("    return x * x\n", "    return x * x + 0\n"),
    )
    .unwrap();
    std::fs::write(&init, format!("# one\n# two\n{init_text}")).unwrap();

    let args = |cmd: &'static str| vec![cmd, loc, "--source-root", src.to_str().unwrap()];
    let rows = list(run([args("list"), vec!["--json"]].concat()));
    let got = by_hash(&rows);
    for (func, hs) in &calls {
        let expect = match func.as_str() {
            "calc.square" => "changed",
            "pkgj.hello" => "moved",
            _ => "fresh",
        };
        for h in hs {
            assert_eq!(got[h]["status"], expect, "{func} call {h}");
        }
    }
    assert_eq!(run(args("verify")).code, 1, "changed is stale");

    // show: the recorded block against the file, with the edited line
    let sq = calls["calc.square"].iter().next().unwrap();
    let id = got[sq]["id"].to_string();
    let r = run([args("show"), vec![&id]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("  changed"), "{}", r.stdout);
    assert!(r.stdout.contains("@@ -1,3 +1,3 @@"), "{}", r.stdout);
    assert!(r.stdout.contains("-    return x * x\n"), "{}", r.stdout);
    assert!(r.stdout.contains("+    return x * x + 0"), "{}", r.stdout);
    let hello = calls["pkgj.hello"].iter().next().unwrap();
    let r = run([args("show"), vec![&got[hello]["id"].to_string()]].concat());
    assert!(r.stdout.contains("  moved"), "{}", r.stdout);

    // a dry run writes nothing
    let jl = Path::new(loc).join("joblib");
    let before = tree(Path::new(loc));
    let r = run([args("purge"), vec!["--dry-run", "--json"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], 3);
    assert_eq!(r.json()["dry_run"], true);
    assert_eq!(tree(Path::new(loc)), before, "--dry-run changed the tree");

    // purge: exactly the changed calls (the default: changed, missing, failed)
    let r = run([args("purge"), vec!["--json"]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], 3);
    let purged_bytes: u64 = calls["calc.square"]
        .iter()
        .map(|h| got[h]["value_size"].as_u64().unwrap())
        .sum();
    assert_eq!(r.json()["bytes"], purged_bytes);
    let after = by_hash(&list(run([args("list"), vec!["--json"]].concat())));
    let expect: BTreeSet<String> = got
        .keys()
        .filter(|h| !calls["calc.square"].contains(*h))
        .cloned()
        .collect();
    assert_eq!(after.keys().cloned().collect::<BTreeSet<_>>(), expect);
    for (h, e) in &after {
        assert_eq!(e["id"], got[h]["id"], "ids stay stable across a purge");
    }
    // square has no call left: its function folder goes; the others' stay untouched
    assert!(!jl.join("pkgj/calc/square").exists());
    for f in ["pkgj/calc/power", "pkgj/calc/Geometry/area", "pkgj/hello"] {
        assert!(jl.join(f).join("func_code.py").exists(), "{f}");
    }
    let left: Vec<String> = std::fs::read_dir(jl.join("pkgj/calc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|n| !n.starts_with('.')),
        "no temporary folder left: {left:?}"
    );

    // the app keeps working: joblib recomputes exactly the purged calls, hits on the rest
    std::fs::write(&init, &init_text).unwrap();
    let re = manifest(
        "make_joblib.py",
        &[
            dir.path().to_str().unwrap(),
            "--scenario",
            "module",
            "--rerun",
        ],
    );
    for c in re["calls"].as_array().unwrap() {
        let executed = c["executed"].as_bool().unwrap();
        assert_eq!(
            executed,
            s(&c["func"]) == "calc.square",
            "rerun of {} {}: executed={executed}",
            c["func"],
            c["args"]
        );
    }
    let rows = list(run([args("list"), vec!["--json"]].concat()));
    assert_eq!(rows.len(), 8);
    assert_eq!(statuses(&rows), BTreeSet::from(["fresh".to_string()]));
}

#[test]
fn joblib_main_script_folder_maps_to_the_script() {
    let Some((_dir, m)) = joblib("main", &[]) else {
        return;
    };
    let loc = s(&m["location"]);
    let script = s(&m["script"]);
    let folder = m["func_id"].as_array().unwrap()[0].clone();
    assert!(s(&folder).starts_with("__main__--"), "{folder}");
    let rows = list(run(["list", loc, "--source-root", "/", "--json"]));
    assert_eq!(rows.len(), 2);
    for e in &rows {
        assert_eq!(e["function"], "__main__:greet");
        assert_eq!(e["source_path"], script);
        assert_eq!(e["status"], "fresh");
    }
    let keys: BTreeSet<&str> = rows.iter().map(|e| s(&e["key"])).collect();
    assert!(
        keys.iter().any(|k| k.ends_with("(punct='!', who='ann')")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.ends_with("(punct='?', who='bob')")),
        "{keys:?}"
    );
    assert_eq!(run(["verify", loc, "--source-root", "/"]).code, 0);
}

#[test]
fn joblib_builtin_is_keyed_by_name_and_unverifiable() {
    let Some((_dir, m)) = joblib("builtin", &[]) else {
        return;
    };
    let loc = s(&m["location"]);
    let rows = list(run(["list", loc, "--json"]));
    assert_eq!(rows.len(), 2);
    for e in &rows {
        assert_eq!(e["strategy"], "name");
        assert_eq!(e["status"], "unverifiable");
        assert_eq!(e["function"], "math.sqrt");
    }
    let r = run(["verify", loc]);
    assert_eq!(r.code, 0, "unverifiable is not stale: {}", r.stdout);
    let j = run(["summary", loc, "--json"]).json();
    assert_eq!(j["groups"][0]["strategy"], "name");
    assert_eq!(j["groups"][0]["statuses"]["unverifiable"], 2);
}

#[test]
fn joblib_cython_function_judged_by_the_extension_modification_time() {
    let Some((_dir, m)) = joblib("cython", &["Cython", "setuptools"]) else {
        return;
    };
    let loc = s(&m["location"]);
    let build = Path::new(s(&m["build_dir"]));
    let last = m["steps"].as_array().unwrap().last().unwrap();
    assert!(
        last["functions"]["cyfast/triple"]["func_code"]
            .as_str()
            .unwrap()
            .starts_with("# first line: -1\n"),
        "joblib stored a fingerprint: {last}"
    );
    let hashes: BTreeSet<&String> = last["functions"]["cyfast/triple"]["calls"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(hashes.len(), 1);
    let root = build.to_str().unwrap();
    let rows = list(run(["list", loc, "--source-root", root, "--json"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["strategy"], "bytecode");
    assert_eq!(rows[0]["status"], "unverifiable");
    assert_eq!(rows[0]["function"], "cyfast.triple");
    assert!(hashes.contains(&by_hash(&rows).keys().next().unwrap()));
    assert_eq!(run(["verify", loc, "--source-root", root]).code, 0);

    // rebuild the extension with another body: the .so is newer than the call
    let pyx = build.join("cyfast.pyx");
    let body = std::fs::read_to_string(&pyx).unwrap();
    std::fs::write(&pyx, body.replace("return x * 3 + 1", "return x * 3 + 2")).unwrap();
    let out = Command::new("python3")
        .args(["setup.py", "-q", "build_ext", "--inplace"])
        .current_dir(build)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = list(run(["list", loc, "--source-root", root, "--json"]));
    assert_eq!(rows[0]["status"], "changed");
    let so = s(&rows[0]["source_path"]);
    assert!(so.ends_with(".so"), "{so}");
    let id = rows[0]["id"].to_string();
    let r = run(["show", loc, &id, "--source-root", root]);
    assert!(
        r.stdout.contains(&format!("Entry {id}  changed")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("judged by the modification time"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("never notices a rebuild"), "{}", r.stdout);
    assert_eq!(run(["verify", loc, "--source-root", root]).code, 1);

    let r = run(["purge", loc, "--source-root", root, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], 1);
    assert_eq!(r.json()["by_strategy"]["bytecode"]["removed"], 1);
    assert!(!Path::new(loc).join("joblib/cyfast/triple").exists());
}

#[test]
fn joblib_damaged_tree_is_reported_not_fatal() {
    let Some((_dir, m)) = joblib("bad", &[]) else {
        return;
    };
    let loc = s(&m["location"]);
    let src = s(&m["source_root"]);
    let damage: Vec<(String, String)> = m["damage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (s(&d["path"]).to_string(), s(&d["what"]).to_string()))
        .collect();
    let r = run(["summary", loc, "--source-root", src]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (path, what) in &damage {
        let folder = Path::new(path);
        let expect = match what.as_str() {
            "removed output.pkl" => {
                format!("{}: no output.pkl", folder.parent().unwrap().display())
            }
            "removed metadata.json" => {
                format!("{}: no metadata.json", folder.parent().unwrap().display())
            }
            "truncated metadata.json" => {
                format!("{}: bad metadata.json", folder.parent().unwrap().display())
            }
            "empty call folder" => format!("{path}: no output.pkl"),
            "garbage func_code.py" => continue,
            other => panic!("unexpected damage {other}"),
        };
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("cachescope: warning: ") && l.contains(&expect)),
            "a warning for {what}: {}",
            r.stderr
        );
    }
    let rows = list(run(["list", loc, "--source-root", src, "--json"]));
    let got = by_hash(&rows);
    let calls = module_calls(&m);
    // garbage func_code.py: every call of the function failed, with why
    for h in &calls["calc.power"] {
        assert_eq!(got[h]["status"], "failed", "power call {h}");
        assert!(
            s(&got[h]["derivation_error"]).contains("func_code.py"),
            "{}",
            got[h]
        );
    }
    for h in calls["calc.square"].iter().chain(&calls["pkgj.hello"]) {
        assert_eq!(got[h]["status"], "fresh", "{h}");
    }
    // the call without output.pkl says so in show's notes
    let no_output = damage
        .iter()
        .find(|(_, w)| w == "removed output.pkl")
        .map(|(p, _)| Path::new(p).parent().unwrap().file_name().unwrap())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let id = got[&no_output]["id"].to_string();
    let r = run(["show", loc, &id, "--source-root", src]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.stdout.split("Notes").nth(1).expect("a Notes section");
    assert!(notes.contains("no output.pkl"), "{}", r.stdout);
    // failed is stale
    let r = run(["verify", loc, "--source-root", src]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("2 failed"), "{}", r.stdout);
    // an entry that does not exist is an error
    let r = run(["show", loc, "12345", "--source-root", src]);
    assert_eq!(r.code, 2, "{}", r.stdout);
}

// ---------------------------------------------------------------------------------------------
// diskcache

fn rows_of(m: &Value) -> &Vec<Value> {
    m["rows"].as_array().unwrap()
}

#[test]
fn diskcache_memo_statuses_keys_and_sizes() {
    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let d = s(&m["directory"]);
    let count = m["count"].as_u64().unwrap();
    let memo: u64 = m["memo_calls"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    // the key set with expire=0.001 is gone when diskcache's next set() came a millisecond
    // later (it culls expired rows): the manifest lists the rows there are
    let expired_rows = rows_of(&m)
        .iter()
        .filter(|r| r["key_repr"] == "'expired'")
        .count() as u64;
    let set_keys = m["set_keys"].as_u64().unwrap() - 1 + expired_rows;
    assert_eq!(count, memo + set_keys);

    let r = run(["summary", d]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .next()
            .unwrap()
            .contains(&format!("(diskcache): {count} entries")),
        "{}",
        r.stdout
    );
    let j = run(["summary", d, "--json"]).json();
    assert_eq!(j["kind"], "diskcache");
    assert_eq!(j["entries"], count);
    let groups: BTreeMap<&str, &Value> = j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (s(&g["strategy"]), g))
        .collect();
    assert_eq!(groups["name"]["entries"], memo);
    assert_eq!(groups["custom"]["entries"], set_keys);
    assert_eq!(groups["custom"]["expired"], expired_rows);

    // the cache.db path itself opens the same cache
    let db = Path::new(d).join("cache.db");
    let j2 = run(["summary", db.to_str().unwrap(), "--json"]).json();
    assert_eq!(j2["kind"], "diskcache");
    assert_eq!(j2["entries"], count);

    let rows = list(run(["list", d, "--json"]));
    assert_eq!(rows.len() as u64, count);
    let by_id: BTreeMap<i64, &Value> = rows
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e))
        .collect();
    let mut per_function: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows_of(&m) {
        let e = by_id[&row["rowid"].as_i64().unwrap()];
        assert_eq!(e["status"], "unverifiable", "{e}");
        match row["memo_name"].as_str() {
            Some(name) => {
                assert_eq!(e["strategy"], "name", "{e}");
                // module.qualname, shown as module:qualname once the module file is found
                let f = s(&e["function"]);
                assert!(
                    f == name || f.replacen(':', ".", 1) == name,
                    "{f} vs {name}"
                );
                *per_function.entry(name.to_string()).or_default() += 1;
            }
            None => {
                assert_eq!(e["strategy"], "custom", "{e}");
                assert!(
                    e["function"].is_null() || e["function"] == "",
                    "a custom key has no function: {e}"
                );
            }
        }
        let expired = s(&row["key_repr"]) == "'expired'";
        assert_eq!(e["expired"], expired, "{e}");
        if let Some(f) = row["filename"].as_str() {
            let len = std::fs::metadata(Path::new(d).join(f)).unwrap().len();
            assert_eq!(e["value_size"], len, "file-backed size of {e}");
        }
    }
    let expect: BTreeMap<String, u64> = m["memo_calls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(per_function, expect);
    let r = run(["verify", d]);
    assert_eq!(r.code, 0, "unverifiable is not stale: {}", r.stdout);

    // show: the reason it cannot be verified
    let id = rows_of(&m)
        .iter()
        .find(|r| r["memo_name"] == "dcmod.area")
        .unwrap()["rowid"]
        .to_string();
    let r = run(["show", d, &id]);
    assert!(
        r.stdout.contains(&format!("Entry {id}  unverifiable")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("name and arguments"), "{}", r.stdout);

    // the module of dcmod.area modified after its entry was stored: exactly that one changed
    let src = s(&m["source_root"]);
    let module = Path::new(src).join("dcmod.py");
    std::fs::File::options()
        .write(true)
        .open(&module)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let rows = list(run(["list", d, "--source-root", src, "--json"]));
    let changed: BTreeSet<String> = rows
        .iter()
        .filter(|e| e["status"] == "changed")
        .map(|e| e["id"].to_string())
        .collect();
    assert_eq!(changed, BTreeSet::from([id.clone()]));
    assert_eq!(
        rows.iter()
            .filter(|e| e["status"] == "unverifiable")
            .count() as u64,
        count - 1
    );
    let r = run(["show", d, &id, "--source-root", src]);
    assert!(
        r.stdout.contains(&format!("Entry {id}  changed")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("modification time"), "{}", r.stdout);
    assert!(r.stdout.contains("keeps no fingerprint"), "{}", r.stdout);
    let r = run(["verify", d, "--source-root", src]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("1 changed"), "{}", r.stdout);
}

#[test]
fn diskcache_fanout_shards_are_one_cache() {
    let Some((_dir, m)) = diskcache("fanout") else {
        return;
    };
    let d = s(&m["directory"]);
    let shards = m["shards"].as_object().unwrap();
    assert_eq!(shards.len(), 4);
    let total: u64 = shards.values().map(|v| v["count"].as_u64().unwrap()).sum();
    assert_eq!(total, m["count"].as_u64().unwrap());
    let j = run(["summary", d, "--json"]).json();
    assert_eq!(j["kind"], "diskcache");
    assert_eq!(j["entries"], total);
    let rows = list(run(["list", d, "--json"]));
    assert_eq!(rows.len() as u64, total);
    let ids: BTreeSet<String> = rows.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len() as u64, total, "ids are unique across shards");
    let mut per_function: BTreeMap<String, u64> = BTreeMap::new();
    for e in &rows {
        if e["strategy"] == "name" {
            *per_function
                .entry(s(&e["function"]).to_string())
                .or_default() += 1;
        }
    }
    let expect: BTreeMap<String, u64> = m["memo_calls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(per_function, expect);
    assert_eq!(
        rows.iter().filter(|e| e["strategy"] == "custom").count() as u64,
        m["set_keys"].as_u64().unwrap()
    );
    // show works on an entry of every shard
    for e in &rows {
        let r = run(["show", d, &e["id"].to_string()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

#[test]
fn diskcache_accessed_moves_only_under_least_recently_used() {
    let Some((_dir, m)) = diskcache("lru") else {
        return;
    };
    for (policy, cache) in m["caches"].as_object().unwrap() {
        let d = s(&cache["directory"]);
        let rows = list(run(["list", d, "--json"]));
        assert_eq!(rows.len() as u64, cache["count"].as_u64().unwrap());
        for e in &rows {
            let key = s(&e["key"]);
            let read = key == "\"k1\"" || key == "\"k3\"";
            let moved = e["accessed_at"] != e["created_at"];
            assert_eq!(
                moved,
                read && policy == "least-recently-used",
                "{policy}: {e}"
            );
            assert_eq!(
                e["hits"], 0,
                "hits move only under least-frequently-used: {e}"
            );
        }
        let id = rows[0]["id"].to_string();
        let r = run(["show", d, &id]);
        assert!(
            r.stdout
                .contains("hits are counted only under the least-frequently-used"),
            "{}",
            r.stdout
        );
        assert_eq!(
            r.stdout
                .contains("accessed is the time the entry was stored"),
            policy != "least-recently-used",
            "{policy}: {}",
            r.stdout
        );
    }
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn db_rowids(db: &Path) -> BTreeSet<i64> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(60)).unwrap();
    common::ids(&c, "SELECT rowid FROM Cache")
}

#[test]
fn diskcache_purge_racing_a_live_writer_removes_only_the_selection() {
    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let d = s(&m["directory"]);
    let db = Path::new(d).join("cache.db");
    let selected: BTreeSet<i64> = rows_of(&m)
        .iter()
        .filter(|r| {
            r["memo_name"]
                .as_str()
                .is_some_and(|n| n.starts_with("__main__.write_memo."))
        })
        .map(|r| r["rowid"].as_i64().unwrap())
        .collect();
    assert_eq!(selected.len(), 7, "add x4, typed_mul x2, Shop.price x1");
    let original: BTreeSet<i64> = rows_of(&m)
        .iter()
        .map(|r| r["rowid"].as_i64().unwrap())
        .collect();
    let selected_files: Vec<PathBuf> = rows_of(&m)
        .iter()
        .filter(|r| selected.contains(&r["rowid"].as_i64().unwrap()))
        .filter_map(|r| r["filename"].as_str().map(|f| Path::new(d).join(f)))
        .collect();
    let kept_files: Vec<PathBuf> = rows_of(&m)
        .iter()
        .filter(|r| !selected.contains(&r["rowid"].as_i64().unwrap()))
        .filter_map(|r| r["filename"].as_str().map(|f| Path::new(d).join(f)))
        .collect();

    // the real library keeps writing, reading and deleting the same cache meanwhile
    let churn = Command::new("python3")
        .arg(script("make_diskcache.py"))
        .args([d, "--scenario", "churn", "--seconds", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait until it writes
    let t0 = std::time::Instant::now();
    while db_rowids(&db).len() <= original.len() {
        assert!(t0.elapsed() < Duration::from_secs(30), "churn never wrote");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = finish(cachescope().timeout(Duration::from_secs(60)).args([
        "purge",
        d,
        "--status",
        "unverifiable",
        "--function",
        "__main__.write_memo.*",
        "--json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], 7, "{}", r.stdout);
    let out = churn.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "churn: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let churned: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(churned["iterations"].as_u64().unwrap() > 10, "{churned}");

    let now = db_rowids(&db);
    // diskcache's own writes cull expired rows (`set` evicts what has expired): those may go
    let culled: BTreeSet<i64> = rows_of(&m)
        .iter()
        .filter(|r| {
            r["expire_time"]
                .as_f64()
                .is_some_and(|t| t < r["store_time"].as_f64().unwrap() + 1.0)
        })
        .map(|r| r["rowid"].as_i64().unwrap())
        .collect();
    assert!(culled.len() <= 1, "only the \"expired\" key: {culled:?}");
    for id in original.difference(&culled) {
        assert_eq!(
            now.contains(id),
            !selected.contains(id),
            "row {id}: selected={}",
            selected.contains(id)
        );
    }
    for f in &selected_files {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    for f in &kept_files {
        assert!(f.exists(), "{} lost", f.display());
    }
    // diskcache's own consistency check: clean, and Settings.count is the row count
    let check = manifest("make_diskcache.py", &[d, "--scenario", "check"]);
    assert_eq!(check["warnings"], serde_json::json!([]), "{check}");
    assert_eq!(check["settings_count"], check["rows"], "{check}");
    assert_eq!(
        check["settings_size"].as_f64(),
        check["rows_size"].as_f64(),
        "{check}"
    );
}

#[test]
fn diskcache_dry_run_writes_nothing() {
    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let d = s(&m["directory"]);
    let before = tree(Path::new(d));
    let r = run([
        "purge",
        d,
        "--status",
        "unverifiable",
        "--expired",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["removed"], m["count"]);
    assert_eq!(r.json()["dry_run"], true);
    // SQLite creates the -wal and -shm files of a WAL database for any reader, as diskcache
    // does for its own: beside them, nothing changes, cache.db's bytes included
    let mut after = tree(Path::new(d));
    let wal = after.remove("cache.db-wal");
    assert!(
        wal.is_none()
            || wal == before.get("cache.db-wal").cloned()
            || wal.as_deref() == Some(EMPTY_SHA256),
        "the -wal file was written: {wal:?}"
    );
    if !before.contains_key("cache.db-shm") {
        after.remove("cache.db-shm");
    }
    let mut before = before;
    before.remove("cache.db-wal");
    assert_eq!(after, before, "--dry-run changed the cache");
    assert_eq!(
        db_rowids(&Path::new(d).join("cache.db")).len() as u64,
        m["count"].as_u64().unwrap()
    );
}

#[test]
fn diskcache_damaged_cache_db_refused_in_one_line_and_a_missing_value_file_noted() {
    let Some((_dir, m)) = diskcache("bad") else {
        return;
    };
    for dmg in m["damage"].as_array().unwrap() {
        let d = s(&dmg["directory"]);
        let problem = match s(&dmg["what"]) {
            w if w.starts_with("cache.db truncated") => "malformed",
            w if w.starts_with("cache.db overwritten") => "not an SQLite database",
            _ => continue,
        };
        let db = Path::new(d).join("cache.db");
        for cmd in ["summary", "list", "verify", "purge"] {
            let r = run([cmd, d]);
            assert_eq!(r.code, 2, "{cmd} {d}: {}{}", r.stdout, r.stderr);
            assert_one_line_naming(&r.stderr, &db, problem);
            assert!(
                !r.stderr.contains("cachescope store"),
                "a damaged diskcache is not called a cachescope store: {}",
                r.stderr
            );
        }
        // given as a file, a cache.db that is not SQLite is not recognised as anything
        let r = run(["summary", db.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        let problem = if problem == "malformed" {
            problem
        } else {
            "SQLite database"
        };
        assert_one_line_naming(&r.stderr, &db, problem);
    }
    // the good copy still reads
    let good = s(&m["good"]["directory"]);
    assert_eq!(run(["summary", good]).code, 0);

    // a value file removed under its row: the cache still reads, and show says the file is
    // missing (diskcache reads such an entry as a miss)
    let dmg = m["damage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["what"] == "removed value file")
        .unwrap();
    let d = s(&dmg["directory"]);
    let file = s(&dmg["filename"]);
    let rowid = rows_of(&m["good"])
        .iter()
        .find(|r| r["filename"] == file)
        .unwrap()["rowid"]
        .to_string();
    let r = run(["summary", d, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["entries"], m["good"]["count"]);
    assert_eq!(run(["verify", d]).code, 0);
    let r = run(["show", d, &rowid]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let missing = Path::new(d).join(file);
    assert!(
        r.stdout
            .contains(&format!("value file missing: {}", missing.display())),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// neither kind

#[test]
fn a_directory_of_no_known_kind_is_refused_with_what_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("joblib/x")).unwrap();
    std::fs::write(other.join("notes.txt"), "hi").unwrap();
    std::fs::write(other.join("joblib/x/readme"), "not a func_code").unwrap();
    for d in [&empty, &other] {
        for cmd in ["summary", "list", "verify", "purge"] {
            let r = run([cmd, d.to_str().unwrap()]);
            assert_eq!(r.code, 2, "{cmd} {}: {}", d.display(), r.stdout);
            assert_one_line_naming(&r.stderr, d, "looked for");
            assert!(r.stderr.contains("diskcache"), "{}", r.stderr);
            assert!(r.stderr.contains("joblib"), "{}", r.stderr);
        }
    }
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing written"
    );
}

/// A purge of a diskcache whose first batch waits for the lock the test holds; `signals` are
/// sent to it meanwhile (`shell` wraps the command, e.g. to ignore a signal), then the lock is
/// released. The outcome, the purge's stderr, and the rows removed per its report (if any).
fn purge_signalled(m: &Value, shell: &str, signals: &[i32]) -> (std::process::Output, Option<u64>) {
    let d = s(&m["directory"]);
    let db = Path::new(d).join("cache.db");
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let command = format!(
        "{shell} exec '{}' purge '{d}' --status unverifiable --json",
        env!("CARGO_BIN_EXE_cachescope")
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &command])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // open, count and verify take milliseconds here; then it waits on the lock
    std::thread::sleep(Duration::from_secs(3));
    for &sig in signals {
        // SAFETY: kill() on the pid of a child we spawned and have not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let removed = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|r| r["removed"].as_u64());
    // whatever happened, diskcache finds its cache consistent, with no orphan value file
    let check = manifest("make_diskcache.py", &[d, "--scenario", "check"]);
    assert_eq!(check["warnings"], serde_json::json!([]), "{check}");
    assert_eq!(check["settings_count"], check["rows"], "{check}");
    if let Some(n) = removed {
        assert_eq!(db_rowids(&db).len() as u64 + n, rows_of(m).len() as u64);
    }
    (out, removed)
}

/// SIGTERM while a purge waits for its first batch's lock: the batch still runs once the lock
/// is free, its value files are unlinked, and only then does the process stop, exiting 143
/// and saying so. A second SIGTERM ends it at once: that batch rolls back. Under `nohup`
/// (SIGHUP ignored) a hangup changes nothing.
#[test]
fn diskcache_purge_stops_on_signals_between_batches_with_no_orphan_file() {
    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let (out, removed) = purge_signalled(&m, "", &[libc::SIGTERM]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    assert!(removed.is_some_and(|n| n > 0));

    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let (out, removed) = purge_signalled(&m, "", &[libc::SIGTERM, libc::SIGTERM]);
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(removed, None, "ended before reporting");
    assert_eq!(
        db_rowids(&Path::new(s(&m["directory"])).join("cache.db")).len(),
        rows_of(&m).len(),
        "the batch in flight rolled back"
    );

    let Some((_dir, m)) = diskcache("memo") else {
        return;
    };
    let (out, removed) = purge_signalled(&m, "trap '' HUP;", &[libc::SIGHUP]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(removed.is_some_and(|n| n > 0));
}
