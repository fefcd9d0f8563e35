//! Outside text in our words. A value that comes from a file, a target, GitLab or LoadForge (a
//! shard's `run_id`, a foreign `schema`, a failure reason a server's answer made, a run id
//! LoadForge sent) is quoted through [`quote`] before a message, a note or a report shows it:
//! control characters and the characters that reorder or hide text are escaped, so it stays on
//! one line and reads as what it is, and it is cut to [`MAX_QUOTED_CHARS`] characters, so a
//! file cannot fill a log or a comment. Each report then escapes it for its medium (markdown,
//! HTML, XML) as it escapes everything. A word of a closed set read from a file is refused
//! quoted the same way ([`word`]). A leaf (it reads `secret`'s rule for names): every layer
//! may quote.

use std::fmt::Write;

pub(crate) mod word;

/// The most characters of one outside value a message, note or report shows (docs/limits.md).
pub(crate) const MAX_QUOTED_CHARS: usize = 200;

/// What ends a value that was cut.
pub(crate) const ELLIPSIS: char = '…';

/// `text` quoted for a message: see the module. Quoting a quoted text changes nothing, so a
/// value may pass through this more than once (read back from a results file, say).
pub(crate) fn quote(text: &str) -> String {
    quote_at_most(text, MAX_QUOTED_CHARS)
}

/// `text` with what [`must_escape`] names escaped, and nothing cut: for a value whose whole
/// length is its identity.
pub(crate) fn escape(text: &str) -> String {
    quote_at_most(text, usize::MAX)
}

/// An endpoint name as every engine records it and every report shows it: the credentials of
/// its query redacted ([`crate::secret::redact_query`]) and its control characters escaped, so
/// a name from a locustfile, LoadForge or a results file cannot drive a terminal or break a
/// line. It is not cut: a name is what rules select and runs are compared by.
pub(crate) fn endpoint_name(name: &str) -> String {
    escape(&crate::secret::redact_query(name))
}

/// [`quote`] with a cap of `max` characters (at least 2) instead of [`MAX_QUOTED_CHARS`].
pub(crate) fn quote_at_most(text: &str, max: usize) -> String {
    let max = max.max(2);
    let mut out = String::new();
    // Where the text may be cut, in bytes: after each whole character or escape that still
    // leaves room for the ellipsis.
    let mut cut_at = 0;
    let mut chars = 0;
    for c in text.chars() {
        let before = out.len();
        push_escaped(&mut out, c);
        chars += out[before..].chars().count();
        if chars > max {
            out.truncate(cut_at);
            out.push(ELLIPSIS);
            return out;
        }
        if chars < max {
            cut_at = out.len();
        }
    }
    out
}

/// Whether `c` must be escaped: a control character, or one that hides or reorders text
/// (zero-width characters, bidirectional overrides and isolates, line and paragraph
/// separators, the byte-order mark).
pub(crate) fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}')
}

/// Writes `c` into `out`, escaped (`\n`, `\u{1b}`) when [`must_escape`] says so: what each
/// report's own escaping does with such a character too.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if must_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_hiding_characters_are_escaped() {
        assert_eq!(
            quote("run\n1\r\t\u{1b}[31m\u{202E}x\u{200B}"),
            "run\\n1\\r\\t\\u{1b}[31m\\u{202e}x\\u{200b}"
        );
        assert_eq!(quote("plain `text` é"), "plain `text` é");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_and_quoting_twice_changes_nothing() {
        let long = "é".repeat(MAX_QUOTED_CHARS + 1);
        let q = quote(&long);
        assert_eq!(q.chars().count(), MAX_QUOTED_CHARS);
        assert!(q.ends_with(ELLIPSIS));
        assert_eq!(quote(&q), q);
        let exact = "x".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quote(&exact), exact);
        // An escape is never cut in half.
        let q = quote_at_most("ab\ncd", 4);
        assert_eq!(q, "ab…");
        for text in ["a\u{0}b", "\n\n\n\n\n\n", "short", ""] {
            for max in 2..8 {
                let once = quote_at_most(text, max);
                assert!(once.chars().count() <= max, "{text:?} {max}");
                assert_eq!(quote_at_most(&once, max), once, "{text:?} {max}");
            }
        }
    }
}
