//! Runs the real-library fixture writers in `tests/python/caches/` for unit tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/python/caches/<script>`.
pub(crate) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/caches")
        .join(name)
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `python3` can import `module`; when it cannot, says so (and fails under CI).
pub(crate) fn have_python_module(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!ci(), "CI needs python3 with {module} installed");
        eprintln!("skipping: python3 with {module} is not available");
    }
    ok
}

/// Runs `python3 <script> <args...>` and parses the JSON manifest it prints.
pub(crate) fn run_json(script_name: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(script(script_name))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script_name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("fixture manifest is JSON")
}
