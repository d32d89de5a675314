//! Entry and source statuses, shared by verification, the store's status filters and the views.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A status, ordered from best to worst: an entry takes the worst status of its source and its
/// dependencies. `Failed` and `Unverifiable` only arise for entries without a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fresh = 0,
    Moved = 1,
    Unverifiable = 2,
    Unreadable = 3,
    Failed = 4,
    Changed = 5,
    Missing = 6,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Fresh,
        Status::Moved,
        Status::Unverifiable,
        Status::Unreadable,
        Status::Failed,
        Status::Changed,
        Status::Missing,
    ];

    /// What a purge removes when no status is named.
    pub const DEFAULT_PURGE: [Status; 3] = [Status::Changed, Status::Missing, Status::Failed];

    /// Changed, missing and failed entries are stale: their cached value may be wrong.
    pub fn is_stale(self) -> bool {
        Self::DEFAULT_PURGE.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Moved => "moved",
            Status::Unverifiable => "unverifiable",
            Status::Unreadable => "unreadable",
            Status::Failed => "failed",
            Status::Changed => "changed",
            Status::Missing => "missing",
        }
    }

    /// The number the store's SQL status expression uses for this status.
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Option<Status> {
        Self::ALL.into_iter().find(|s| s.rank() == rank)
    }

    /// The status of an entry from its own source's status (`None` when it has no source) and
    /// its dependencies' statuses.
    pub fn of_entry(
        source: Option<Status>,
        has_derivation_error: bool,
        deps: impl IntoIterator<Item = Status>,
    ) -> Status {
        let own = source.unwrap_or(if has_derivation_error {
            Status::Failed
        } else {
            Status::Unverifiable
        });
        deps.into_iter().fold(own, Status::max)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status {s:?}; expected one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_of_source_and_dependencies_wins() {
        use Status::*;
        assert_eq!(Status::of_entry(Some(Fresh), false, [Moved]), Moved);
        assert_eq!(
            Status::of_entry(Some(Moved), false, [Changed, Fresh]),
            Changed
        );
        assert_eq!(Status::of_entry(Some(Changed), false, [Missing]), Missing);
        assert_eq!(
            Status::of_entry(Some(Unreadable), false, [Moved]),
            Unreadable
        );
        assert_eq!(Status::of_entry(Some(Changed), true, []), Changed);
    }

    #[test]
    fn entries_without_source_are_failed_or_unverifiable_unless_a_dependency_is_worse() {
        use Status::*;
        assert_eq!(Status::of_entry(None, true, []), Failed);
        assert_eq!(Status::of_entry(None, false, []), Unverifiable);
        assert_eq!(Status::of_entry(None, false, [Fresh, Moved]), Unverifiable);
        assert_eq!(Status::of_entry(None, false, [Unreadable]), Unreadable);
        assert_eq!(Status::of_entry(None, true, [Changed]), Changed);
        assert_eq!(Status::of_entry(None, true, [Unreadable]), Failed);
    }

    #[test]
    fn precedence_matches_the_spec_order() {
        use Status::*;
        // missing, changed, unreadable, moved, fresh
        assert!(Missing > Changed && Changed > Unreadable && Unreadable > Moved && Moved > Fresh);
        assert!(Missing.is_stale() && Changed.is_stale() && Failed.is_stale());
        assert!(!Unreadable.is_stale() && !Moved.is_stale() && !Unverifiable.is_stale());
    }

    #[test]
    fn parses_names_and_ranks_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(Status::from_rank(s.rank()), Some(s));
        }
        assert!("stale".parse::<Status>().is_err());
    }
}
