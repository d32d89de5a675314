//! Runs the Streamlit tests (tests/python/streamlit, unittest) against the freshly built
//! cachescope binary: the facts of issue 9, the drop-in decorator with a real Cython build,
//! and the acceptance scenarios (a real Streamlit writes a persisted cache, cachescope lists,
//! shows and purges it).
//!
//! Needs `python3` (override with PYTHON), `pip install "streamlit==1.67.0" "cython>=3"
//! setuptools` and a C compiler; the Python tests skip without them unless CI is set.

use std::path::Path;
use std::process::Command;

const STREAMLIT_TEST_MODULES: &[&str] = &[
    "test_streamlit_memo_facts",
    "test_streamlit_dropin",
    "test_streamlit_cachescope",
];

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn run_streamlit_tests(module: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let pattern = format!("{module}.py");
    let output = Command::new(python())
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "tests/python/streamlit",
            "-t",
            "tests/python/streamlit",
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
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "Python tests in tests/python/streamlit/{module}.py failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("\nOK") || stderr.starts_with("OK"),
        "unittest did not report OK for {module}:\n{stderr}"
    );
    assert!(
        !stderr.contains("Ran 0 tests"),
        "no test found in tests/python/streamlit/{module}.py:\n{stderr}"
    );
}

#[test]
fn streamlit_memo_facts() {
    run_streamlit_tests("test_streamlit_memo_facts");
}

#[test]
fn streamlit_dropin_with_a_cython_rebuild() {
    run_streamlit_tests("test_streamlit_dropin");
}

#[test]
fn streamlit_acceptance_list_show_purge() {
    run_streamlit_tests("test_streamlit_cachescope");
}

#[test]
fn every_streamlit_test_module_is_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/streamlit");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/python/streamlit")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("test_") && name.ends_with(".py"))
        .map(|name| name.trim_end_matches(".py").to_string())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = STREAMLIT_TEST_MODULES
        .iter()
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/streamlit.rs must list every tests/python/streamlit/test_*.py module"
    );
}
