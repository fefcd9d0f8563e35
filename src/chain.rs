//! An error and its causes as text. A leaf, so any layer can turn an error into a note without
//! importing the errors of the layers above it.

/// Prints an error as the user sees it: the message, then each cause on its own line.
pub(crate) fn print(e: &(dyn std::error::Error + 'static)) {
    eprintln!("{}", render(e));
}

/// The message and its causes, one per line (`  caused by: ...`).
pub(crate) fn render(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("loadforge-gate: error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    out
}

/// The message and its causes on one line, for notes and comments.
pub(crate) fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}
