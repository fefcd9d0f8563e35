//! An error and its causes as text. A leaf, so any layer can turn an error into a note without
//! importing the errors of the layers above it.

/// Prints an error as the user sees it: the message, then each cause on its own line.
pub(crate) fn print(e: &(dyn std::error::Error + 'static)) {
    eprintln!("{}", render(e));
}

/// The most characters of one message or cause shown. A cause can carry what a file held (a
/// parser's message quotes the string it could not read, whatever its length), and a file
/// from outside the process must not decide how long a log line or a merge-request note is.
const MAX_PART_CHARS: usize = 500;

/// The message and its causes, one per line (`  caused by: ...`).
pub(crate) fn render(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("loadforge-gate: error: {}", bounded(e));
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!("\n  caused by: {}", bounded(c)));
        cause = c.source();
    }
    out
}

/// The message and its causes on one line, for notes and comments.
pub(crate) fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = bounded(e);
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!(": {}", bounded(c)));
        cause = c.source();
    }
    out
}

/// One error's own message, cut to [`MAX_PART_CHARS`] with how much was left out.
fn bounded(e: &dyn std::error::Error) -> String {
    let text = e.to_string();
    match text.char_indices().nth(MAX_PART_CHARS) {
        None => text,
        Some((at, _)) => {
            let more = text[at..].chars().count();
            format!("{}… ({more} more characters)", &text[..at])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("prev.json is not a loadforge-gate results file")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_carrying_a_files_long_value_is_cut_with_what_was_left_out() {
        let long = format!("invalid type: string \"{}\"", "é".repeat(100_000));
        let e = Wrapped(std::io::Error::other(long));
        let line = one_line(&e);
        assert!(line.starts_with("prev.json is not a loadforge-gate results file: invalid type"));
        assert!(
            line.ends_with("… (99523 more characters)"),
            "{}",
            &line[line.len() - 60..]
        );
        assert!(line.chars().count() < 600, "{}", line.chars().count());
        let text = render(&e);
        assert!(text.lines().all(|l| l.chars().count() < 600));
        // Short messages are left alone.
        let short = Wrapped(std::io::Error::other("expected `,`"));
        assert_eq!(
            one_line(&short),
            "prev.json is not a loadforge-gate results file: expected `,`"
        );
    }
}
