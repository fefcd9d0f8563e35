//! The lines `run` prints once the gate is done: the verdict with the key figures, each failed
//! check, and where the reports went. Rendered to a string so tests can pin it.

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use super::{
    view::{Outcome, View},
    Document,
};
use crate::gate::{self, CheckState};

/// The endpoint names a protocol line of the log shows; the summary and report.html have more.
const CONSOLE_NAMES: usize = 5;

/// The console outcome, line by line, each line ending in a newline.
pub(crate) fn render_outcome(doc: &Document, out: &Path, written: &[PathBuf]) -> String {
    let view = View::new(doc);
    let mut s = headline(&view);
    if view.run.insecure {
        let _ = writeln!(s, "  ⚠ TLS {}", super::INSECURE);
    }
    if let Some(host) = &view.run.host {
        let _ = writeln!(s, "  host {host}");
    }
    if let Some(g) = &view.run.generator {
        let mark = if g.starved { "⚠ " } else { "" };
        let _ = writeln!(s, "  {mark}load generator {}", g.text);
    }
    if let Some(p) = &view.protocols {
        for g in &p.groups {
            let names = super::protocols::listed(&g.endpoints, CONSOLE_NAMES, str::to_string);
            let _ = writeln!(s, "  protocol {}: {names}", g.label());
        }
    }
    if let Some(text) = view.baseline.as_ref().and_then(|b| b.load_text()) {
        let _ = match text.differences {
            [] => writeln!(s, "  ⚠ {}", text.title),
            listed => writeln!(s, "  ⚠ {}: {}", text.title, listed.join("; ")),
        };
    }
    for c in view.checks.iter().filter(|c| c.state == CheckState::Failed) {
        let _ = writeln!(s, "  ✗ {}: {}", c.name, c.detail);
    }
    // A real change that passed is still news: the log says so in the judgement's words.
    for c in view
        .checks
        .iter()
        .filter(|c| c.outcome == Some(gate::Outcome::BelowMargin))
    {
        let _ = writeln!(
            s,
            "  △ {}: {}",
            c.name,
            c.judgement.as_deref().unwrap_or_default()
        );
    }
    for c in view.checks.iter() {
        if let CheckState::NotJudged(why) = c.state {
            let _ = writeln!(
                s,
                "  ? {}: not judged, {}: {}",
                c.name,
                why.words(),
                c.detail
            );
        }
    }
    for (why, _) in view.not_judged() {
        let _ = writeln!(s, "  → not judged ({}): {}", why.words(), why.remedy());
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

/// The verdict in capitals, so it stands out in a job log, and the key figures.
fn headline(view: &View<'_>) -> String {
    let verdict = match &view.outcome {
        Outcome::Passed {
            checks,
            history_starts: false,
        } => format!("PASSED ({checks} checks)"),
        Outcome::Passed {
            checks,
            history_starts: true,
        } => format!("PASSED ({checks} checks; first run: the history starts here)"),
        Outcome::Failed {
            failed,
            checks,
            not_judged,
        } => format!(
            "FAILED ({failed} of {checks} checks failed{})",
            match not_judged {
                0 => String::new(),
                n => format!(", {n} not judged"),
            }
        ),
        Outcome::NotJudged {
            not_judged,
            checks,
            reasons,
        } => format!(
            "NOT JUDGED ({not_judged} of {checks} checks could not be judged: {})",
            super::view::reason_words(reasons)
        ),
        Outcome::NoVerdict => "NO VERDICT".into(),
    };
    let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"));
    let run = &view.run;
    format!(
        "loadforge-gate: {verdict} · {} · p95 {} · avg {} · {:.2}% errors\n",
        run.counts_text(),
        ms(run.p95),
        ms(run.avg),
        run.error_rate
    )
}
