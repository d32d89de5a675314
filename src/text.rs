//! Untrusted text (function names, keys, paths, errors, values) on its way to a terminal.
//!
//! Every such string passes through [`escape`] before it is printed or drawn: control
//! characters (general category Cc: C0, DEL, C1, which include ESC and the 8-bit CSI), format
//! characters (category Cf: every bidi control, zero-width and invisible character) and the
//! line/paragraph separators are shown as visible escapes, so nothing in a store can move the
//! cursor, retitle the terminal, hide itself or make text read differently from what it is.
//! The rule is by category, so characters added to Cf by later Unicode versions are covered
//! with the crate's tables, not by editing a list.

use std::borrow::Cow;
use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_width::UnicodeWidthStr;

/// Whether `c` is shown as an escape: controls (Cc), format characters (Cf) and the line and
/// paragraph separators (Zl, Zp), which break lines like `\n`.
pub fn needs_escape(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// `s` with control characters escaped (`\n`, `\t`, `\r`, `\x1b`, `\u{202e}`).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escapes `s` and shortens it to `width` terminal columns by cutting out its middle, where
/// keys and paths are least telling: `abcdef…uvwxyz`.
pub fn shorten_middle(s: &str, width: usize) -> String {
    let s = escape(s);
    if s.width() <= width {
        return s.into_owned();
    }
    if width <= 1 {
        return "…".chars().take(width).collect();
    }
    let keep = width - 1;
    let head_w = keep.div_ceil(2);
    let tail_w = keep - head_w;
    let head = take_width(s.chars(), head_w);
    let mut tail: Vec<char> = take_width(s.chars().rev(), tail_w).chars().collect();
    tail.reverse();
    format!("{head}…{}", tail.into_iter().collect::<String>())
}

/// Escapes `s` and cuts it to `width` columns, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    let s = escape(s);
    if s.width() <= width {
        return s.into_owned();
    }
    format!("{}…", take_width(s.chars(), width.saturating_sub(1)))
}

fn take_width(chars: impl Iterator<Item = char>, width: usize) -> String {
    let mut used = 0;
    let mut out = String::new();
    for c in chars {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// Word-wraps untrusted `s` (escaped first) to `width` columns.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let s = escape(s);
    let width = width.max(8);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let mut word = word;
        // Measured once and then reduced piece by piece: a word of a million characters is
        // cut in one pass, not re-measured for every line (which took seconds).
        let mut word_w = word.width();
        while word_w > width {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let cut = split_at_width(word, width);
            let piece = &word[..cut];
            word_w = word_w.saturating_sub(piece.width());
            out.push(piece.to_string());
            word = &word[cut..];
        }
        if !line.is_empty() && line.width() + 1 + word_w > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push(line);
    out
}

/// The byte index where `s` reaches `width` columns (at least one character).
fn split_at_width(s: &str, width: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width && i > 0 {
            return i;
        }
        used += w;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_a_huge_word_into_pieces_of_the_width() {
        let word = "k".repeat(200_003);
        let lines = wrap(&format!("a {word} b"), 100);
        assert_eq!(lines.first().map(String::as_str), Some("a"));
        assert!(lines.iter().all(|l| l.width() <= 100));
        assert_eq!(lines.iter().filter(|l| l.starts_with('k')).count(), 2_001);
        assert_eq!(lines.last().map(String::as_str), Some("kkk b"));
    }

    #[test]
    fn escapes_terminal_control_sequences() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");
        assert_eq!(escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape("\u{9b}31m"), "\\x9b31m");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("\x7f"), "\\x7f");
    }

    #[test]
    fn shortens_in_the_middle_to_the_width() {
        assert_eq!(shorten_middle("abcdefghij", 20), "abcdefghij");
        let s = shorten_middle("abcdefghijklmnopqrstuvwxyz", 9);
        assert_eq!(s, "abcd…wxyz");
        assert_eq!(s.width(), 9);
        // Double-width characters may leave a column unused, never overflow.
        assert!((5..=7).contains(&shorten_middle("日本語のキーです", 7).width()));
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    /// Every character of the categories that must not reach a terminal raw, found by
    /// iterating all of Unicode, not from a list.
    fn dangerous(c: char) -> bool {
        matches!(
            get_general_category(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
    }

    #[test]
    fn every_control_and_format_character_is_escaped_by_category() {
        let all: Vec<char> = (0..=0x10FFFFu32).filter_map(char::from_u32).collect();
        let bad: Vec<char> = all.iter().copied().filter(|&c| dangerous(c)).collect();
        // Sanity: the categories hold the characters this is about (C0, C1, the bidi
        // controls, zero-width ones, tags), so the test cannot pass on an empty set.
        for c in [
            '\x1b',
            '\u{9b}',
            '\u{61c}',
            '\u{200b}',
            '\u{2067}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            assert!(bad.contains(&c), "{:x}", c as u32);
        }
        assert!(bad.len() > 200, "{}", bad.len());
        for c in bad {
            let s = format!("a{c}b");
            let e = escape(&s);
            assert!(!e.chars().any(dangerous), "U+{:04X} printed raw", c as u32);
            assert!(e.is_ascii(), "U+{:04X} -> {e:?}", c as u32);
        }
        // Everything else passes through unchanged.
        for c in all.into_iter().filter(|&c| !dangerous(c)) {
            let s = c.to_string();
            assert_eq!(escape(&s), s, "U+{:04X}", c as u32);
        }
    }

    proptest::proptest! {
        #[test]
        fn escaped_text_never_contains_control_characters(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f]*") {
            proptest::prop_assert!(!escape(&s).chars().any(|c| c.is_control()));
        }

        #[test]
        fn shortened_text_fits(s in ".{0,60}", w in 0usize..40) {
            proptest::prop_assert!(shorten_middle(&s, w).width() <= w);
        }
    }
}
