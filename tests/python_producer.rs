//! Runs the Python producer's test suite (tests/python, unittest only) against the freshly
//! built cachescope binary.
//!
//! Each Python test module gets its own #[test], so they run in parallel and a failure names
//! its group. `every_python_test_module_is_run` keeps the list below in step with the files.
//! Needs `python3` on PATH (override with the PYTHON environment variable); the Cython test
//! also needs `pip install cython setuptools` and a C compiler (skipped without Cython unless
//! CI is set).

mod pyrunner;

const PYTHON_TEST_MODULES: &[&str] = &[
    "test_producer",
    "test_pure_python",
    "test_depends_on",
    "test_concurrency",
    "test_cython",
    "test_version",
];

fn run_python_tests(module: &str) {
    pyrunner::run_unittest_module("tests/python", module);
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
    pyrunner::assert_every_module_listed(
        "tests/python",
        PYTHON_TEST_MODULES,
        "tests/python_producer.rs",
    );
}
