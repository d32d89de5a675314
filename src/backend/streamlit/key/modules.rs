//! Which files of a Streamlit app run as which module, found statically.
//!
//! Streamlit runs the entry script and every `pages/*.py` as module `__main__`, with the entry
//! script's directory put first on `sys.path`; the local modules they import (found by
//! scanning `import` statements, recursively) run under their dotted name relative to that
//! directory. Modules that do not resolve to a file under the app's directory (standard
//! library, site-packages) are ignored.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::hash::function_key;
use super::scan::{scan_source, CachedFunction, Import};

/// How a file of the app runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Entry,
    Page,
    Imported,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppFile {
    pub path: PathBuf,
    /// `__main__` for the entry script and pages, the dotted name otherwise.
    pub module: String,
    pub role: Role,
}

/// One decorated function of the app and the function key Streamlit gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DerivedKey {
    pub path: PathBuf,
    pub module: String,
    pub function_key: String,
    pub function: CachedFunction,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppScan {
    pub files: Vec<AppFile>,
    pub keys: Vec<DerivedKey>,
    /// Files that could not be read or scanned, with why.
    pub errors: Vec<(PathBuf, String)>,
}

/// The file a dotted module name resolves to under `app_dir`: `a/b/__init__.py` (a regular
/// package wins, as in `FileFinder`) or `a/b.py`. None for a namespace package or a module
/// that is not local.
pub fn module_file(app_dir: &Path, dotted: &str) -> Option<PathBuf> {
    if dotted.is_empty() {
        return None;
    }
    let mut dir = app_dir.to_path_buf();
    for part in dotted.split('.') {
        dir.push(part);
    }
    let init = dir.join("__init__.py");
    if init.is_file() {
        return Some(init);
    }
    let file = dir.with_extension("py");
    file.is_file().then_some(file)
}

/// The absolute module names an import statement may load, in `importer`'s package context
/// (`importer_is_package`: the importer is a package's `__init__.py`). Parents come first:
/// `import a.b.c` loads `a`, `a.b`, `a.b.c`; `from a import b` loads `a` and maybe `a.b`.
pub fn imported_modules(imp: &Import, importer: &str, importer_is_package: bool) -> Vec<String> {
    let base = if imp.level == 0 {
        imp.module.clone()
    } else {
        if importer == "__main__" {
            return Vec::new(); // ImportError at run time: no parent package
        }
        let mut parts: Vec<&str> = importer.split('.').collect();
        if !importer_is_package {
            parts.pop();
        }
        for _ in 1..imp.level {
            parts.pop();
        }
        if parts.is_empty() {
            return Vec::new();
        }
        let mut b = parts.join(".");
        if !imp.module.is_empty() {
            b.push('.');
            b.push_str(&imp.module);
        }
        b
    };
    let mut out = Vec::new();
    let mut acc = String::new();
    for part in base.split('.').filter(|p| !p.is_empty()) {
        if !acc.is_empty() {
            acc.push('.');
        }
        acc.push_str(part);
        out.push(acc.clone());
    }
    for name in &imp.names {
        if name != "*" && !base.is_empty() {
            out.push(format!("{base}.{name}"));
        }
    }
    out
}

/// The app's files: the entry script, its `pages/*.py` (sorted by name), then the local
/// modules they import, transitively, in breadth-first order.
pub fn app_files(entry_script: &Path) -> (Vec<AppFile>, Vec<(PathBuf, String)>) {
    let app_dir = entry_script
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut files = vec![AppFile {
        path: entry_script.to_path_buf(),
        module: "__main__".into(),
        role: Role::Entry,
    }];
    if let Ok(rd) = std::fs::read_dir(app_dir.join("pages")) {
        let mut pages: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "py") && p.is_file())
            .collect();
        pages.sort();
        files.extend(pages.into_iter().map(|path| AppFile {
            path,
            module: "__main__".into(),
            role: Role::Page,
        }));
    }
    let mut errors = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<usize> = (0..files.len()).collect();
    while let Some(i) = queue.pop_front() {
        let file = files[i].clone();
        let bytes = match std::fs::read(&file.path) {
            Ok(b) => b,
            Err(e) => {
                errors.push((file.path.clone(), e.to_string()));
                continue;
            }
        };
        let scan = match scan_source(&bytes) {
            Ok(s) => s,
            Err(e) => {
                errors.push((file.path.clone(), e.to_string()));
                continue;
            }
        };
        let is_package = file.path.file_name().is_some_and(|n| n == "__init__.py");
        for imp in &scan.imports {
            for module in imported_modules(imp, &file.module, is_package) {
                if seen.contains(&module) {
                    continue;
                }
                if let Some(path) = module_file(&app_dir, &module) {
                    seen.insert(module.clone());
                    files.push(AppFile {
                        path,
                        module,
                        role: Role::Imported,
                    });
                    queue.push_back(files.len() - 1);
                }
            }
        }
    }
    (files, errors)
}

/// Every cached function of the app with its statically derived function key. Nothing of the
/// app is imported or executed.
pub fn derive_app_keys(entry_script: &Path) -> AppScan {
    let (files, mut errors) = app_files(entry_script);
    let mut keys = Vec::new();
    for file in &files {
        let Ok(bytes) = std::fs::read(&file.path) else {
            continue; // reported by app_files
        };
        match scan_source(&bytes) {
            Ok(scan) => keys.extend(scan.functions.into_iter().map(|function| DerivedKey {
                path: file.path.clone(),
                module: file.module.clone(),
                function_key: function_key(&file.module, &function.qualname, &function.source),
                function,
            })),
            Err(e) => {
                if !errors.iter().any(|(p, _)| p == &file.path) {
                    errors.push((file.path.clone(), e.to_string()));
                }
            }
        }
    }
    AppScan {
        files,
        keys,
        errors,
    }
}
