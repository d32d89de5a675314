//! Runs a folder of Python unittest modules against the freshly built cachescope binary (the
//! Python producer's tests, the Streamlit tests): one module per `#[test]`, so they run in
//! parallel and a failure names its module. Needs `python3` on PATH (override with PYTHON).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `DIR/MODULE.py` (DIR relative to the crate root) with unittest and asserts it ran tests
/// and reported OK.
pub fn run_unittest_module(dir: &str, module: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let pattern = format!("{module}.py");
    let output = Command::new(python())
        .args([
            "-m", "unittest", "discover", "-s", dir, "-t", dir, "-p", &pattern, "-v",
        ])
        .current_dir(root)
        .env("CACHESCOPE_BIN", env!("CARGO_BIN_EXE_cachescope"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (is Python 3.9+ installed?): {e}", python()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // unittest reports on stderr; shown with `cargo test -- --nocapture`, and always on failure.
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "Python tests in {dir}/{module}.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("\nOK") || stderr.starts_with("OK"),
        "unittest did not report OK for {module}:\n{stderr}"
    );
    assert!(
        !stderr.contains("Ran 0 tests"),
        "no test found in {dir}/{module}.py:\n{stderr}"
    );
}

/// Asserts that `listed` names exactly the `test_*.py` modules in `dir`, so none is skipped.
pub fn assert_every_module_listed(dir: &str, listed: &[&str], runner: &str) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut on_disk: Vec<String> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("test_") && name.ends_with(".py"))
        .map(|name| name.trim_end_matches(".py").to_string())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "{runner} must list every {dir}/test_*.py module"
    );
}
