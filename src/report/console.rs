//! The lines `run` prints once the gate is done: the verdict with the key figures, each failed
//! check, and where the reports went. Rendered to a string so tests can pin it.

use std::{fmt::Write, path::Path};

use super::Document;

/// The console outcome, line by line, each line ending in a newline.
pub(crate) fn render_outcome(doc: &Document, out: &Path, written: &[std::path::PathBuf]) -> String {
    let mut s = String::new();
    let a = &doc.run.aggregate;
    let verdict = match &doc.verdict {
        Some(v) if v.passed => format!("PASSED ({} checks)", v.checks.len()),
        Some(v) => format!(
            "FAILED ({} of {} checks failed)",
            v.failed_checks().count(),
            v.checks.len()
        ),
        None => "NOT JUDGED".into(),
    };
    let counts = match a.counts() {
        Some((n, _, rps)) => format!("{n} requests · {rps:.1} req/s"),
        None => "request counts not reported".into(),
    };
    let _ = writeln!(
        s,
        "loadforge-gate: {verdict} · {counts} · p95 {} · avg {} · {:.2}% errors",
        a.latency_ms
            .p95
            .map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "-".into()),
        a.latency_ms
            .avg
            .map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "-".into()),
        a.error_rate
    );
    if let Some(v) = &doc.verdict {
        for c in v.failed_checks() {
            let _ = writeln!(s, "  ✗ {}: {}", c.name, c.detail);
        }
    }
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let _ = writeln!(
        s,
        "reports written to {}/: {}",
        out.display(),
        names.join(" ")
    );
    s
}
