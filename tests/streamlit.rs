//! Runs the Streamlit tests (tests/python/streamlit, unittest) against the freshly built
//! cachescope binary: the facts of issue 9, the drop-in decorator with a real Cython build,
//! and the acceptance scenarios (a real Streamlit writes a persisted cache, cachescope lists,
//! shows and purges it).
//!
//! Needs `python3` (override with PYTHON), `pip install "streamlit==1.67.0" "cython>=3"
//! setuptools` and a C compiler; the Python tests skip without them unless CI is set.

mod pyrunner;

const STREAMLIT_TEST_MODULES: &[&str] = &[
    "test_streamlit_memo_facts",
    "test_streamlit_dropin",
    "test_streamlit_cachescope",
];

fn run_streamlit_tests(module: &str) {
    pyrunner::run_unittest_module("tests/python/streamlit", module);
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
    pyrunner::assert_every_module_listed(
        "tests/python/streamlit",
        STREAMLIT_TEST_MODULES,
        "tests/streamlit.rs",
    );
}
