//! Joins store aggregates with verification results into what both front ends show: groups,
//! counts, bytes, statuses and the file that decided an entry's status. The CLI and the TUI
//! both draw from here, so they never disagree.

use crate::status::Status;
use crate::store::{Cell, Dimension, EntryDetail, EntryFilter, Result, SourceRow, Store};
use crate::verify::{self, PathMap, SourceCheck};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The referenced sources of a store and what verification found for each.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub sources: Vec<SourceRow>,
    pub checks: HashMap<i64, SourceCheck>,
}

/// Reads the referenced sources, checks them, and loads the statuses into the store's
/// connection so status filters work in SQL.
pub fn verify_store(
    store: &Store,
    paths: &PathMap,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Verified> {
    let sources = store.referenced_sources()?;
    // The worker threads hash while this one looks for references to missing source rows.
    let (checks, dangling) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| verify::verify_sources(&sources, paths, progress));
        let dangling = store.dangling_source_ids();
        (hashing.join().expect("hashing thread panicked"), dangling)
    });
    finish_verification(store, sources, checks, dangling?)
}

/// The last step of a verification, wherever the hashing ran: gives dangling source ids their
/// check and loads every status into the store's connection for status queries.
pub fn finish_verification(
    store: &Store,
    sources: Vec<SourceRow>,
    mut checks: HashMap<i64, SourceCheck>,
    dangling: Vec<i64>,
) -> Result<Verified> {
    add_dangling(&mut checks, dangling);
    store.load_source_statuses(checks.iter().map(|(id, c)| (*id, c.status)))?;
    Ok(Verified { sources, checks })
}

/// Gives source ids without a source row (see [`Store::dangling_source_ids`]) their check.
pub fn add_dangling(checks: &mut HashMap<i64, SourceCheck>, ids: impl IntoIterator<Item = i64>) {
    for id in ids {
        checks
            .entry(id)
            .or_insert_with(|| SourceCheck::not_in_store(id));
    }
}

/// The status of the entries in a cell, or `None` while any of their sources is unchecked.
pub fn cell_status(cell: &Cell, checks: &HashMap<i64, SourceCheck>) -> Option<Status> {
    let own = match cell.source_id {
        Some(id) => Some(checks.get(&id)?.status),
        None => None,
    };
    let mut deps = Vec::with_capacity(cell.dependencies.len());
    for d in &cell.dependencies {
        deps.push(checks.get(d)?.status);
    }
    Some(Status::of_entry(own, cell.has_derivation_error, deps))
}

/// How the groups pane splits the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grouping {
    #[default]
    Strategy,
    Status,
    Function,
    SourceFile,
    DerivationError,
}

impl Grouping {
    pub fn next(self) -> Grouping {
        match self {
            Grouping::Strategy => Grouping::Status,
            Grouping::Status => Grouping::Function,
            Grouping::Function => Grouping::SourceFile,
            Grouping::SourceFile => Grouping::DerivationError,
            Grouping::DerivationError => Grouping::Strategy,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Grouping::Strategy => "strategy",
            Grouping::Status => "status",
            Grouping::Function => "function",
            Grouping::SourceFile => "source file",
            Grouping::DerivationError => "derivation error",
        }
    }

    fn dimension(self) -> Dimension {
        match self {
            Grouping::Function => Dimension::Function,
            Grouping::DerivationError => Dimension::DerivationError,
            _ => Dimension::None,
        }
    }
}

/// Which entries a group holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    All,
    Strategy(String),
    Status(Status),
    Function(String),
    /// The recorded path of the entries' own source; `None`: entries without a source.
    SourceFile(Option<String>),
    DerivationError(Option<String>),
}

impl GroupKey {
    /// The store filter that lists this group's entries.
    pub fn filter(&self) -> EntryFilter {
        let mut f = EntryFilter::default();
        match self {
            GroupKey::All => {}
            GroupKey::Strategy(s) => f.strategies = vec![s.clone()],
            GroupKey::Status(s) => f.statuses = vec![*s],
            GroupKey::Function(func) => f.function = Some(func.clone()),
            GroupKey::SourceFile(p) => f.source_path = Some(p.clone()),
            GroupKey::DerivationError(e) => f.derivation_error = Some(e.clone()),
        }
        f
    }

    pub fn label(&self) -> String {
        match self {
            GroupKey::All => "all".into(),
            GroupKey::Strategy(s) => s.clone(),
            GroupKey::Status(s) => s.as_str().into(),
            GroupKey::Function(f) => f.clone(),
            GroupKey::SourceFile(Some(p)) => p.clone(),
            GroupKey::SourceFile(None) => "(no source)".into(),
            GroupKey::DerivationError(Some(e)) => e.clone(),
            GroupKey::DerivationError(None) => "(no error)".into(),
        }
    }
}

/// Entries, bytes and statuses of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    pub entries: u64,
    pub bytes: u64,
    pub statuses: BTreeMap<Status, u64>,
    /// Entries whose status is not known yet (verification still running).
    pub unchecked: u64,
}

impl Group {
    fn new(key: GroupKey) -> Group {
        Group {
            key,
            entries: 0,
            bytes: 0,
            statuses: BTreeMap::new(),
            unchecked: 0,
        }
    }

    fn add(&mut self, status: Option<Status>, entries: u64, bytes: u64) {
        // Sizes come from the store: a hostile value_size must not wrap the totals.
        self.entries = self.entries.saturating_add(entries);
        self.bytes = self.bytes.saturating_add(bytes);
        match status {
            Some(s) => *self.statuses.entry(s).or_default() += entries,
            None => self.unchecked += entries,
        }
    }

    pub fn count(&self, status: Status) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Changed + missing + failed: the entries a default purge removes.
    pub fn stale(&self) -> u64 {
        Status::DEFAULT_PURGE.iter().map(|s| self.count(*s)).sum()
    }

    pub fn failed(&self) -> u64 {
        self.count(Status::Failed)
    }
}

/// The `all` group and one group per key of `grouping`, in display order. `verified` is `None`
/// while verification runs: statuses are then unchecked.
pub fn groups(
    store: &Store,
    grouping: Grouping,
    verified: Option<&Verified>,
) -> Result<(Group, Vec<Group>)> {
    let mut cells = Vec::new();
    store.aggregate(grouping.dimension(), |c| cells.push(c))?;
    let fetched;
    let sources = match verified {
        Some(v) => &v.sources,
        None if grouping == Grouping::SourceFile => {
            fetched = store.referenced_sources()?;
            &fetched
        }
        None => &Vec::new(),
    };
    let empty = HashMap::new();
    let checks = verified.map_or(&empty, |v| &v.checks);
    Ok(group_cells(&cells, grouping, checks, sources))
}

/// Groups aggregate cells by `grouping`, with the statuses `checks` gives them.
pub fn group_cells(
    cells: &[Cell],
    grouping: Grouping,
    checks: &HashMap<i64, SourceCheck>,
    sources: &[SourceRow],
) -> (Group, Vec<Group>) {
    let paths: HashMap<i64, &str> = sources.iter().map(|s| (s.id, s.path.as_str())).collect();
    let mut all = Group::new(GroupKey::All);
    let mut by_key: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for cell in cells {
        let status = cell_status(cell, checks);
        all.add(status, cell.entries, cell.bytes);
        let key = match grouping {
            Grouping::Strategy => GroupKey::Strategy(cell.strategy.clone()),
            Grouping::Status => match status {
                Some(s) => GroupKey::Status(s),
                None => continue,
            },
            Grouping::Function => GroupKey::Function(cell.dimension.clone().unwrap_or_default()),
            Grouping::SourceFile => GroupKey::SourceFile(
                cell.source_id
                    .and_then(|id| paths.get(&id).map(|p| p.to_string())),
            ),
            Grouping::DerivationError => GroupKey::DerivationError(cell.dimension.clone()),
        };
        by_key
            .entry(key.clone())
            .or_insert_with(|| Group::new(key))
            .add(status, cell.entries, cell.bytes);
    }
    let mut groups: Vec<Group> = by_key.into_values().collect();
    match grouping {
        Grouping::Strategy => groups.sort_by_key(|g| match &g.key {
            GroupKey::Strategy(s) => (strategy_order(s), s.clone()),
            _ => (usize::MAX, String::new()),
        }),
        Grouping::Status => groups.sort_by_key(|g| std::cmp::Reverse(g.key.clone())),
        _ => groups.sort_by(|a, b| b.entries.cmp(&a.entries).then_with(|| a.key.cmp(&b.key))),
    }
    (all, groups)
}

/// The four strategies of the format first, in its order, then any other value.
pub fn strategy_order(strategy: &str) -> usize {
    ["source", "bytecode", "custom", "name"]
        .iter()
        .position(|s| *s == strategy)
        .unwrap_or(4)
}

/// One strategy's line of `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct StrategySummary {
    pub strategy: String,
    pub entries: u64,
    pub bytes: u64,
    /// Every status, with zero counts too, so scripts can index it blindly.
    pub statuses: BTreeMap<&'static str, u64>,
    pub expired: u64,
    /// The most common derivation errors, most common first.
    pub derivation_errors: Vec<ErrorCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub error: String,
    pub entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub entries: u64,
    pub bytes: u64,
    pub groups: Vec<StrategySummary>,
}

/// How many derivation errors `summary` names per strategy.
pub const TOP_ERRORS: usize = 5;

/// Verifies the store and summarises it per strategy. Hashing the sources runs on the worker
/// threads while this thread runs the aggregate queries: neither waits for the other.
pub fn summarize(store: &Store, paths: &PathMap, now_ms: i64) -> Result<(Summary, Verified)> {
    let sources = store.referenced_sources()?;
    let other = store.reopen_read_only()?;
    // Three things at once: the worker threads hash the sources, a second connection counts
    // derivation errors and expired entries, and this one runs the big aggregate.
    let (checks, queried) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| verify::verify_sources(&sources, paths, &|_, _| {}));
        let counting = scope.spawn(move || -> Result<_> {
            Ok((other.derivation_errors()?, other.expired_counts(now_ms)?))
        });
        let mut expired = None;
        let queried = (|| -> Result<_> {
            let mut cells = Vec::new();
            let errors = store.aggregate_then_errors(
                || {
                    let (errors, exp) = counting.join().expect("counting thread panicked")?;
                    expired = Some(exp);
                    Ok(errors)
                },
                |c| cells.push(c),
            )?;
            Ok((cells, errors))
        })();
        let queried = queried.map(|(cells, errors)| (cells, errors, expired.unwrap_or_default()));
        (hashing.join().expect("hashing thread panicked"), queried)
    });
    let (cells, error_counts, expired_counts) = queried?;
    let mut checks = checks;
    let referenced = cells
        .iter()
        .flat_map(|c| c.source_id.iter().chain(&c.dependencies));
    let dangling: Vec<i64> = referenced
        .filter(|id| !checks.contains_key(id))
        .copied()
        .collect();
    add_dangling(&mut checks, dangling);
    let (all, groups) = group_cells(&cells, Grouping::Strategy, &checks, &sources);
    let mut errors: HashMap<String, Vec<ErrorCount>> = HashMap::new();
    for row in error_counts {
        let list = errors.entry(row.strategy).or_default();
        if list.len() < TOP_ERRORS {
            list.push(ErrorCount {
                error: row.error,
                entries: row.entries,
            });
        }
    }
    let expired: HashMap<String, u64> =
        expired_counts.into_iter().map(|(s, n, _)| (s, n)).collect();
    let groups = groups
        .into_iter()
        .map(|g| {
            let strategy = g.key.label();
            StrategySummary {
                statuses: Status::ALL
                    .iter()
                    .map(|s| (s.as_str(), g.count(*s)))
                    .collect(),
                expired: expired.get(&strategy).copied().unwrap_or(0),
                derivation_errors: errors.remove(&strategy).unwrap_or_default(),
                entries: g.entries,
                bytes: g.bytes,
                strategy,
            }
        })
        .collect();
    let summary = Summary {
        entries: all.entries,
        bytes: all.bytes,
        groups,
    };
    Ok((summary, Verified { sources, checks }))
}

/// Entries referencing each source, as their own source or as a dependency.
pub fn source_usage(store: &Store, verified: &Verified) -> Result<(HashMap<i64, u64>, Group)> {
    let mut usage: HashMap<i64, u64> = HashMap::new();
    let mut all = Group::new(GroupKey::All);
    store.aggregate(Dimension::None, |cell| {
        all.add(
            cell_status(&cell, &verified.checks),
            cell.entries,
            cell.bytes,
        );
        for id in cell.source_id.iter().chain(&cell.dependencies) {
            *usage.entry(*id).or_default() += cell.entries;
        }
    })?;
    Ok((usage, all))
}

/// One entry explained: its status and the file that decided it.
#[derive(Debug, Clone)]
pub struct Explained {
    pub detail: EntryDetail,
    pub status: Status,
    pub source_check: Option<SourceCheck>,
    pub dependency_checks: Vec<Option<SourceCheck>>,
    /// The source row whose status became the entry's status, when a file decided it.
    pub deciding: Option<SourceRow>,
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
    let missing = detail.missing_dependencies.iter().map(|_| Status::Missing);
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
    Explained {
        detail,
        status,
        source_check,
        dependency_checks,
        deciding,
    }
}

impl Explained {
    /// A safe preview of the entry's value.
    pub fn value_preview(&self) -> crate::preview::Preview {
        let e = &self.detail.entry;
        crate::preview::value(
            e.value_type.as_deref(),
            self.detail.value_head.as_deref(),
            e.value_size,
        )
    }

    /// What the entry's derivation error means, in plain words, when there is one we know.
    pub fn derivation_meaning(&self) -> Option<String> {
        let e = &self.detail.entry;
        e.derivation_error
            .as_deref()
            .and_then(|err| explain_derivation(&e.strategy, err))
    }

    /// For a changed span whose producer kept a snapshot: the diff from what was fingerprinted
    /// to what stands at those lines now (escaped lines, without the `---`/`+++` header).
    pub fn what_changed(&self) -> Option<Vec<String>> {
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
