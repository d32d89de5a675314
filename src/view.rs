//! What both front ends show, as plain words: status words and their tones, span labels, sizes,
//! ages, value types, the status line of a group, the diff. The CLI and the TUI draw from here
//! so they cannot drift apart; neither this module nor its callers' data know of a terminal: a
//! [`Tone`] becomes an ANSI colour in the CLI and a ratatui colour in the TUI.

use crate::model::Group;
use crate::status::Status;
use crate::types::SourceRow;

/// The colour family of a status or a diff line. Words always go with it, so nothing depends
/// on colour alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Fresh; an added diff line.
    Good,
    /// Moved: still valid, worth a look.
    Calm,
    /// Unreadable: could not be checked.
    Warn,
    /// Changed, missing; a removed diff line: the cached value may be wrong.
    Bad,
    /// Failed: key derivation failed outright.
    Failed,
    /// Unverifiable, or not checked yet.
    Muted,
}

/// The tone of a status; `None` (not checked yet) is muted.
pub fn status_tone(status: Option<Status>) -> Tone {
    match status {
        Some(Status::Fresh) => Tone::Good,
        Some(Status::Moved) => Tone::Calm,
        Some(Status::Changed | Status::Missing) => Tone::Bad,
        Some(Status::Failed) => Tone::Failed,
        Some(Status::Unreadable) => Tone::Warn,
        Some(Status::Unverifiable) | None => Tone::Muted,
    }
}

/// The word for a status that may not be known yet.
pub fn status_word(status: Option<Status>) -> &'static str {
    status.map_or("unchecked", Status::as_str)
}

/// Human bytes, the way every screen shows them: `1.5 KiB`.
pub fn size(bytes: u64) -> String {
    humansize::format_size(bytes, humansize::BINARY)
}

/// A size from the store, where a hostile producer may have written a negative number.
pub fn size_of(bytes: i64) -> String {
    size(bytes.max(0) as u64)
}

/// Age of a Unix ms time relative to `now`: `45m`, `30h`, `12d`. Whole units, rounded down.
pub fn age(now_ms: i64, t_ms: i64) -> String {
    let mins = now_ms.saturating_sub(t_ms).max(0) / 60_000;
    if mins < 60 {
        format!("{mins}m")
    } else if mins < 48 * 60 {
        format!("{}h", mins / 60)
    } else {
        format!("{}d", mins / (24 * 60))
    }
}

/// "1 entry", "2 entries".
pub fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// What is shown for an entry's value type.
pub fn value_type(recorded: Option<&str>) -> &str {
    recorded.unwrap_or("type not recorded")
}

/// How much room a span label has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanLabel {
    /// A table column: `3-9 -> 5-11`, `whole`, `invalid`.
    Short,
    /// A sentence: `lines 3-9, now at 5-11`, `whole file`, `invalid span in the store`.
    Long,
}

/// Which part of the file a source fingerprinted, and where a moved block stands now.
pub fn span_label(source: &SourceRow, moved_to: Option<(u64, u64)>, form: SpanLabel) -> String {
    let long = form == SpanLabel::Long;
    match (source.span, moved_to) {
        (Some((a, b)), Some((x, y))) if long => format!("lines {a}-{b}, now at {x}-{y}"),
        (Some((a, b)), Some((x, y))) => format!("{a}-{b} -> {x}-{y}"),
        (Some((a, b)), None) if long => format!("lines {a}-{b}"),
        (Some((a, b)), None) => format!("{a}-{b}"),
        (None, _) if source.invalid_span && long => "invalid span in the store".into(),
        (None, _) if source.invalid_span => "invalid".into(),
        (None, _) if long => "whole file".into(),
        (None, _) => "whole".into(),
    }
}

/// A recorded digest for people: a modification-time judgement (see
/// [`crate::verify::MTIME_PREFIX`]) reads as the time it compares against, an unmatched key
/// ([`crate::verify::UNMATCHED_PREFIX`]) as the backend's explanation.
pub fn recorded_digest(digest: &str) -> String {
    if let Some(why) = digest.strip_prefix(crate::verify::UNMATCHED_PREFIX) {
        return why.trim().to_string();
    }
    let Some(ns) = digest
        .strip_prefix(crate::verify::MTIME_PREFIX)
        .and_then(|n| n.trim().parse::<i128>().ok())
    else {
        return digest.to_string();
    };
    let t = chrono::DateTime::from_timestamp_nanos(ns.clamp(0, i64::MAX as i128) as i64);
    format!(
        "no fingerprint: modification time after {} means changed",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// "63 entries: 15 missing, 20 fresh, ...; 15 stale", worst status first ("0 entries" alone
/// for an empty store).
pub fn status_line(group: &Group) -> String {
    if group.entries == 0 {
        return entries(0);
    }
    let parts: Vec<String> = Status::ALL
        .iter()
        .rev()
        .filter(|s| group.count(**s) > 0)
        .map(|s| format!("{} {s}", group.count(*s)))
        .collect();
    format!(
        "{}: {}; {} stale",
        entries(group.entries),
        parts.join(", "),
        group.stale()
    )
}

/// The tone of a line of a unified diff: added lines good, removed lines bad, the rest plain.
pub fn diff_tone(line: &str) -> Option<Tone> {
    match line.as_bytes().first() {
        Some(b'+') => Some(Tone::Good),
        Some(b'-') => Some(Tone::Bad),
        _ => None,
    }
}

/// The heading above a diff of a changed span.
pub fn diff_heading(span: (u64, u64)) -> String {
    format!(
        "recorded block against what stands at lines {}-{} now:",
        span.0, span.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(span: Option<(u64, u64)>, invalid: bool) -> SourceRow {
        SourceRow {
            raw_path: None,
            id: crate::types::SourceId(1),
            path: "a.py".into(),
            span,
            digest: "sha256:00".into(),
            size: None,
            mtime_ns: None,
            recorded_at: 0,
            content_len: None,
            invalid_span: invalid,
        }
    }

    #[test]
    fn span_labels_in_both_forms() {
        let moved = row(Some((3, 9)), false);
        assert_eq!(
            span_label(&moved, Some((5, 11)), SpanLabel::Short),
            "3-9 -> 5-11"
        );
        assert_eq!(
            span_label(&moved, Some((5, 11)), SpanLabel::Long),
            "lines 3-9, now at 5-11"
        );
        assert_eq!(span_label(&moved, None, SpanLabel::Long), "lines 3-9");
        assert_eq!(
            span_label(&row(None, false), None, SpanLabel::Short),
            "whole"
        );
        assert_eq!(
            span_label(&row(None, false), None, SpanLabel::Long),
            "whole file"
        );
        assert_eq!(
            span_label(&row(None, true), None, SpanLabel::Short),
            "invalid"
        );
        assert_eq!(
            span_label(&row(None, true), None, SpanLabel::Long),
            "invalid span in the store"
        );
    }

    #[test]
    fn changed_and_missing_share_one_tone() {
        assert_eq!(status_tone(Some(Status::Changed)), Tone::Bad);
        assert_eq!(status_tone(Some(Status::Missing)), Tone::Bad);
        assert_eq!(status_tone(None), Tone::Muted);
        assert_eq!(status_word(None), "unchecked");
    }

    #[test]
    fn ages_round_down_and_never_go_negative() {
        assert_eq!(age(0, 0), "0m");
        assert_eq!(age(59 * 60_000, 0), "59m");
        assert_eq!(age(3 * 3_600_000, 0), "3h");
        assert_eq!(age(72 * 3_600_000, 0), "3d");
        assert_eq!(age(0, 10_000_000), "0m");
        assert_eq!(
            age(i64::MAX, i64::MIN),
            format!("{}d", i64::MAX / 86_400_000)
        );
    }

    #[test]
    fn diff_tones() {
        assert_eq!(diff_tone("+x"), Some(Tone::Good));
        assert_eq!(diff_tone("-x"), Some(Tone::Bad));
        assert_eq!(diff_tone("@@ -1 +1 @@"), None);
        assert_eq!(diff_tone(""), None);
    }

    #[test]
    fn the_status_line_of_an_empty_store_is_just_its_count() {
        let empty = Group {
            key: crate::model::GroupKey::All,
            entries: 0,
            bytes: 0,
            statuses: Default::default(),
            unchecked: 0,
        };
        assert_eq!(status_line(&empty), "0 entries");
        let some = Group {
            entries: 3,
            statuses: [(Status::Fresh, 2), (Status::Changed, 1)].into(),
            ..empty
        };
        assert_eq!(status_line(&some), "3 entries: 1 changed, 2 fresh; 1 stale");
    }
}
