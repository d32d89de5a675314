//! Joins backend aggregates with verification results into what both front ends show: groups,
//! counts, bytes, statuses and the file that decided an entry's status. The CLI and the TUI
//! both draw from here, so they never disagree. One file per concern:
//! - `verification`: verify a whole cache, statuses back to the backend;
//! - `source_paths`: each source's recorded path, compactly (grouping by source file);
//! - `groups`: groupings and their counts;
//! - `summary`: the per-strategy summary;
//! - `usage`: entries per source;
//! - `explain`: one entry's status, explained.

mod explain;
mod groups;
mod source_paths;
mod summary;
mod usage;
mod verification;

pub use explain::{explain, explain_derivation, Explained};
pub use groups::{cell_status, groups, strategy_order, Group, GroupKey, Grouping};
pub use source_paths::{PathsNoter, SourcePaths};
pub use summary::{summarize, ErrorCount, StrategySummary, Summary, TOP_ERRORS};
pub use usage::{verify_with_usage, Usage};
pub use verification::{
    check_sources, finish_verification, verify_statuses, verify_store, Checked, Listing, Verified,
};
