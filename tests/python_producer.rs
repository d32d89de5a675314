//! Runs the Python producer's test suite (tests/python, unittest only) against the freshly
//! built cachescope binary.
//!
//! Each Python test module gets its own #[test], so they run in parallel and a failure names
//! its group. `every_python_test_module_is_run` keeps the list below in step with the files.
//! Needs `python3` on PATH (override with the PYTHON environment variable); the Cython test
//! also needs `pip install cython setuptools` and a C compiler (skipped without Cython unless
//! CI is set).

use std::path::Path;
use std::process::Command;

const PYTHON_TEST_MODULES: &[&str] = &[
    "test_producer",
    "test_pure_python",
    "test_depends_on",
    "test_concurrency",
    "test_cython",
    "test_version",
];

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn run_python_tests(module: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let pattern = format!("{module}.py");
    let output = Command::new(python())
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "tests/python",
            "-t",
            "tests/python",
            "-p",
            &pattern,
            "-v",
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
        "Python tests in tests/python/{module}.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("\nOK") || stderr.starts_with("OK"),
        "unittest did not report OK for {module}:\n{stderr}"
    );
    assert!(
        !stderr.contains("Ran 0 tests"),
        "no test found in tests/python/{module}.py:\n{stderr}"
    );
}

#[test]
fn python_producer_schema_hits_ttl_and_store_errors() {
    run_python_tests("test_producer");
}

#[test]
fn python_producer_pure_python_source_spans() {
    run_python_tests("test_pure_python");
}

#[test]
fn python_producer_depends_on() {
    run_python_tests("test_depends_on");
}

#[test]
fn python_producer_two_processes_one_store() {
    run_python_tests("test_concurrency");
}

#[test]
fn python_producer_cython_bytecode_fallback() {
    run_python_tests("test_cython");
}

#[test]
fn python_producer_one_version_for_binary_and_package() {
    run_python_tests("test_version");
}

#[test]
fn every_python_test_module_is_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/python")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("test_") && name.ends_with(".py"))
        .map(|name| name.trim_end_matches(".py").to_string())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = PYTHON_TEST_MODULES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/python_producer.rs must list every tests/python/test_*.py module"
    );
}
