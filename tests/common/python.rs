//! Caches written by the real Python libraries, through the fixture writers in
//! `tests/python/caches` (never hand-made look-alikes): the unit tests' runner, shared.

use std::ffi::OsStr;

#[path = "../../src/backend/fixtures.rs"]
mod fixtures;

/// A fixture writer in `tests/python/caches`.
pub fn script(name: &str) -> std::path::PathBuf {
    fixtures::script(name)
}

/// Whether python3 imports every module; when it does not, says so (and fails under CI).
pub fn have(modules: &[&str]) -> bool {
    modules.iter().all(|m| fixtures::have_python_module(m))
}

/// Runs a fixture writer and parses its manifest.
pub fn manifest(script_name: &str, args: &[&str]) -> serde_json::Value {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    fixtures::run_json(script_name, &args)
}
