//! Safe previews of cached values and of what changed in a source: text, pretty JSON, a hex
//! dump, pickle named as such. Everything returned is already escaped for a terminal.

use crate::text::escape;

/// How many bytes of a value are read for a preview.
pub const PREVIEW_BYTES: usize = 4096;

/// A value preview: a one-line description and the lines to show.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    pub kind: String,
    pub lines: Vec<String>,
}

/// Previews the first bytes of a value of `value_type` whose full size is `size`.
pub fn value(value_type: Option<&str>, head: Option<&[u8]>, size: i64) -> Preview {
    let Some(head) = head else {
        return Preview {
            kind: "no value stored".into(),
            lines: Vec::new(),
        };
    };
    let truncated = (head.len() as i64) < size;
    let more = if truncated {
        format!(
            ", first {} shown",
            humansize::format_size(head.len() as u64, humansize::BINARY)
        )
    } else {
        String::new()
    };
    let vt = value_type.unwrap_or("").to_ascii_lowercase();
    if vt == "pickle"
        || head.starts_with(&[0x80]) && head.get(1).is_some_and(|p| (2..=5).contains(p))
    {
        let protocol = head
            .get(1)
            .filter(|_| head[0] == 0x80)
            .map(|p| format!(" protocol {p}"));
        // A whole pickle is rendered by walking its opcodes (never loaded: loading runs
        // code); a cut one, or one the walker refuses, is shown as bytes.
        let rendered = (!truncated)
            .then(|| crate::pickle::render(head).ok())
            .flatten();
        let lines = match rendered {
            Some(text) => vec![text],
            None => hex_dump(&head[..head.len().min(256)]),
        };
        return Preview {
            kind: format!(
                "Python pickle{} (never loaded: read by its opcodes){more}",
                protocol.unwrap_or_default()
            ),
            lines,
        };
    }
    let as_text = std::str::from_utf8(head).ok().or_else(|| {
        // A preview may cut a multi-byte character at its end.
        truncated
            .then(|| std::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok())
            .flatten()
    });
    if vt == "json" || vt.ends_with("/json") || vt.ends_with("+json") {
        if let Some(pretty) = as_text
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
        {
            return Preview {
                kind: format!("JSON{more}"),
                lines: pretty.lines().map(|l| escape(l).into_owned()).collect(),
            };
        }
    }
    let declared_text = vt == "text" || vt.starts_with("text/");
    match as_text {
        Some(t) if declared_text || (vt != "bytes" && is_mostly_text(t)) => Preview {
            kind: format!("text{more}"),
            lines: t.lines().map(|l| escape(l).into_owned()).collect(),
        },
        _ => Preview {
            kind: format!("binary{more}"),
            lines: hex_dump(&head[..head.len().min(256)]),
        },
    }
}

fn is_mostly_text(t: &str) -> bool {
    let controls = t
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    controls * 20 <= t.chars().count()
}

/// `xxd`-style lines: offset, 16 bytes of hex, printable ASCII.
pub fn hex_dump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {:<47}  {ascii}", i * 16, hex.join(" "))
        })
        .collect()
}

/// A unified diff from the recorded snapshot of a span to what stands at its lines now.
pub fn source_diff(recorded: &[u8], current: &[u8]) -> Vec<String> {
    let old = String::from_utf8_lossy(recorded);
    let new = String::from_utf8_lossy(current);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    diff.unified_diff()
        .context_radius(3)
        .header("recorded", "now")
        .to_string()
        .lines()
        .map(|l| escape(l).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_printed_and_escaped() {
        let p = value(Some("json"), Some(br#"{"a":[1,2],"t":"\u001b[2J"}"#), 27);
        assert_eq!(p.kind, "JSON");
        assert!(p.lines.iter().any(|l| l.contains("\"a\": [")));
        assert!(p.lines.iter().all(|l| !l.contains('\x1b')));
    }

    #[test]
    fn pickle_is_named_and_dumped_not_loaded() {
        let p = value(Some("pickle"), Some(b"\x80\x04\x95\x05\0\0"), 6);
        assert!(p.kind.starts_with("Python pickle protocol 4"));
        assert!(p.lines[0].starts_with("00000000  80 04 95"));
    }

    #[test]
    fn text_escapes_control_sequences_and_binary_is_hex() {
        let p = value(Some("text"), Some(b"hello\x1b]0;title\x07"), 16);
        assert_eq!(p.lines, vec!["hello\\x1b]0;title\\x07"]);
        let b = value(Some("bytes"), Some(&[0, 1, 2, 255]), 100);
        assert!(b.kind.starts_with("binary, first"));
        assert_eq!(b.lines.len(), 1);
        assert_eq!(value(None, None, 0).kind, "no value stored");
    }

    #[test]
    fn diff_shows_removed_and_added_lines() {
        let d = source_diff(b"def f():\n    return 1\n", b"def f():\n    return 2\n");
        assert!(d.contains(&"-    return 1".to_string()));
        assert!(d.contains(&"+    return 2".to_string()));
    }
}
