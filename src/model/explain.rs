//! One entry explained: its status, the file that decided it, what its derivation error
//! means and what changed in its source.

use crate::backend::{EntryDetail, SourceRow};
use crate::preview::Preview;
use crate::status::Status;
use crate::verify::{self, PathMap, SourceCheck};

/// One entry explained: its status and the file that decided it.
#[derive(Debug, Clone)]
pub struct Explained {
    pub detail: EntryDetail,
    pub status: Status,
    pub source_check: Option<SourceCheck>,
    pub dependency_checks: Vec<Option<SourceCheck>>,
    /// The source row whose status became the entry's status, when a file decided it.
    pub deciding: Option<SourceRow>,
    /// A safe preview of the entry's value.
    pub preview: Preview,
    /// What the entry's derivation error means, in plain words, when there is one we know.
    pub meaning: Option<String>,
    /// For a changed span whose producer kept a snapshot: the diff from what was fingerprinted
    /// to what stands at those lines now (escaped lines, from the first `@@` on).
    pub diff: Option<Vec<String>>,
}

/// Verifies one entry's own source and dependencies and explains its status.
pub fn explain(detail: EntryDetail, paths: &PathMap) -> Explained {
    let rows: Vec<SourceRow> = detail
        .source
        .iter()
        .chain(&detail.dependencies)
        .cloned()
        .collect();
    let checks = verify::verify_sources(&rows, paths, &|_, _| {});
    let source_check = match (&detail.source, detail.entry.source_id) {
        (Some(s), _) => checks.get(&s.id).cloned(),
        (None, Some(id)) => Some(SourceCheck::not_in_store(id)),
        (None, None) => None,
    };
    let dependency_checks: Vec<Option<SourceCheck>> = detail
        .dependencies
        .iter()
        .map(|d| checks.get(&d.id).cloned())
        .collect();
    // Rows that are not in the store, and source ids no row can have, are missing.
    let missing = detail
        .missing_dependencies
        .iter()
        .map(|_| Status::Missing)
        .chain(detail.malformed_source_ids.iter().map(|_| Status::Missing));
    let status = Status::of_entry(
        source_check.as_ref().map(|c| c.status),
        detail.entry.derivation_error.is_some(),
        dependency_checks
            .iter()
            .flatten()
            .map(|c| c.status)
            .chain(missing),
    );
    let deciding = rows
        .iter()
        .find(|r| checks.get(&r.id).is_some_and(|c| c.status == status))
        .cloned();
    let mut explained = Explained {
        detail,
        status,
        source_check,
        dependency_checks,
        deciding,
        preview: Preview::default(),
        meaning: None,
        diff: None,
    };
    explained.preview = explained.value_preview();
    explained.meaning = explained.derivation_meaning();
    explained.diff = explained.what_changed();
    explained
}

impl Explained {
    fn value_preview(&self) -> Preview {
        let e = &self.detail.entry;
        crate::preview::value(
            e.value_type.as_deref(),
            self.detail.value_head.as_deref(),
            e.value_size,
        )
    }

    fn derivation_meaning(&self) -> Option<String> {
        let e = &self.detail.entry;
        e.derivation_error
            .as_deref()
            .and_then(|err| explain_derivation(&e.strategy, err))
    }

    // Reads the file: done once, in `explain`, off the UI thread.
    fn what_changed(&self) -> Option<Vec<String>> {
        let snapshot = self.detail.source_content.as_ref()?;
        let check = self
            .source_check
            .as_ref()
            .filter(|c| c.status == Status::Changed)?;
        let span = self.detail.source.as_ref()?.span?;
        let now = verify::read_span(&check.resolved, span)?;
        Some(
            crate::preview::source_diff(snapshot, &now)
                .into_iter()
                .skip(2)
                .collect(),
        )
    }

    /// Which file decided the entry's status, in words (untrusted: escape before printing).
    pub fn decided(&self) -> String {
        match (&self.deciding, self.detail.entry.source_id) {
            (Some(s), _) => format!("decided by {}", s.path),
            (None, Some(id)) if self.detail.source.is_none() => {
                format!("its fingerprint source (row {id}) is not in the store")
            }
            _ if !self.detail.malformed_source_ids.is_empty() => format!(
                "a source id ({}) is not an integer, so no source row can have it",
                self.detail.malformed_source_ids[0]
            ),
            _ if self.status == Status::Missing && !self.detail.missing_dependencies.is_empty() => {
                format!(
                    "a dependency (row {}) is not in the store",
                    self.detail.missing_dependencies[0]
                )
            }
            _ if self.status == Status::Failed => {
                "key derivation failed; no file was fingerprinted".into()
            }
            _ => "no fingerprint source was recorded".into(),
        }
    }
}

/// What a derivation error means for the entry's key, in plain words, when we know.
pub fn explain_derivation(strategy: &str, error: &str) -> Option<String> {
    if error.contains("cython_function_or_method") {
        return Some(format!(
            "inspect.getsource cannot read a Cython-compiled function, so this key was derived from \
             {}. A Cython function's bytecode is all zero bytes: the key alone never changes when the \
             extension is rebuilt. Only the fingerprint of the compiled module file (.so/.pyd) notices \
             a rebuild; if it changed, the cached value may be stale.",
            if strategy == "bytecode" { "bytecode" } else { "a fallback" }
        ));
    }
    match strategy {
        "bytecode" => Some(
            "The function's source could not be read, so its key was derived from its bytecode; \
             the fingerprint of its module file decides whether it is still valid."
                .into(),
        ),
        "name" => Some(
            "Key derivation failed, so the key holds only the function's name and arguments: \
             nothing notices a code change."
                .into(),
        ),
        _ => None,
    }
}
