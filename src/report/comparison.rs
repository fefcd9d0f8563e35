//! A comparison with the baseline in words: the plain text `loadforge-gate compare` prints, and
//! the sentences about the baseline's load, its history and the endpoints it alone has. The comparison itself is the baseline's model
//! (`baseline::Comparison`); this is only how it reads.

use crate::{
    baseline::Comparison,
    defaults,
    stats::{HistoryEntry, LoadMatch, RunResult},
};

/// Plain-text rendering for `loadforge-gate compare`.
pub(crate) fn render_text(c: &Comparison) -> String {
    let mut out = format!("baseline: {} ({})\n", c.source, c.baseline_started_at);
    if let Some(note) = load_note(c) {
        out.push_str(&format!("note: {note}\n"));
    }
    for r in &c.rows {
        match r.presence.word() {
            Some(word) => out.push_str(&format!("\n{} ({word})\n", r.endpoint)),
            None => out.push_str(&format!("\n{}\n", r.endpoint)),
        }
        for m in &r.metrics {
            let fmt = |v: Option<f64>| v.map(|v| m.unit.format(v)).unwrap_or_else(|| "-".into());
            let change = m
                .change_pct()
                .map(|p| format!("{p:+.1}%"))
                .unwrap_or_else(|| "".into());
            out.push_str(&format!(
                "  {:<11} {:>14} -> {:<14} {}\n",
                m.metric,
                fmt(m.baseline),
                fmt(m.current),
                change
            ));
        }
    }
    out
}

/// What a reader must know about the baseline's load, in one sentence; `None` when it matched.
fn load_note(c: &Comparison) -> Option<String> {
    let listed = c.load_differences.join("; ");
    match c.load {
        LoadMatch::Same => None,
        LoadMatch::Different => Some(format!(
            "not comparable: the baseline ran another load ({listed}); regressions not judged"
        )),
        LoadMatch::ScenarioChanged => Some(format!(
            "{listed}: the endpoints both runs have are compared; new ones are marked new, missing ones gone"
        )),
        LoadMatch::Unknown => Some(
            "the baseline has no load fingerprint (an older loadforge-gate wrote it): whether it ran the same load could not be checked".into(),
        ),
    }
}

/// How many endpoints only the baseline has went unlisted, said once.
pub(crate) fn gone_note(c: &Comparison) -> Option<String> {
    (c.gone_left_out > 0).then(|| {
        format!(
            "{} more endpoints that only the baseline has are not listed (the busiest {} are).",
            c.gone_left_out,
            defaults::MAX_ENDPOINTS
        )
    })
}

/// How many runs of the baseline's history ran another load and were left out of the band the
/// regressions are judged by (see `gate::regression`), said once; nothing when every run
/// matched, or when the baseline itself ran another load (no regression is judged then).
pub(crate) fn history_note(
    history: &[HistoryEntry],
    comparison: &Comparison,
    current: &RunResult,
) -> Option<String> {
    if comparison.load == LoadMatch::Different {
        return None;
    }
    let other_load = (history.iter())
        .filter(|h| h.same_load(&current.run) == Some(false))
        .count();
    let flagged = (history.iter())
        .filter(|h| h.flagged.is_some() && h.same_load(&current.run) != Some(false))
        .count();
    let runs = |n: usize| match n {
        1 => "1 history run".to_string(),
        n => format!("{n} history runs"),
    };
    let mut parts = Vec::new();
    if other_load > 0 {
        parts.push(format!("{} with another load shape", runs(other_load)));
    }
    if flagged > 0 {
        parts.push(format!(
            "{} flagged (a busy host or a starved load generator)",
            runs(flagged)
        ));
    }
    (!parts.is_empty()).then(|| {
        let verb = if other_load + flagged == 1 {
            "was"
        } else {
            "were"
        };
        format!(
            "{} {verb} left out of the band regressions are judged by.",
            parts.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        baseline::compare,
        stats::{fixture, load_fixture, LoadFingerprint, RunResult},
    };

    fn run(change: impl FnOnce(&mut LoadFingerprint)) -> RunResult {
        let mut r = fixture(vec![], 1.0);
        let mut load = load_fixture();
        change(&mut load);
        r.run.load = Some(load);
        r
    }

    #[test]
    fn the_text_says_why_a_baseline_is_not_comparable_and_marks_new_and_gone_endpoints() {
        let c = compare("b", &run(|l| l.users = 50), &run(|l| l.users = 5));
        assert!(render_text(&c)
            .contains("note: not comparable: the baseline ran another load (users 50 → 5)"));
        let mut base = run(|_| {});
        let mut edited = run(|l| l.scenario_sha256 = Some("0".repeat(64)));
        let endpoint = |name: &str| crate::stats::EndpointStats {
            name: name.into(),
            ..base.aggregate.clone()
        };
        edited.endpoints = vec![endpoint("GET /new")];
        base.endpoints = vec![endpoint("GET /gone")];
        let text = render_text(&compare("b", &base, &edited));
        assert!(
            text.contains("\nGET /new (new)\n") && text.contains("\nGET /gone (gone)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_baseline_without_a_fingerprint_says_it_could_not_be_checked() {
        let mut old = run(|_| {});
        old.run.load = None;
        let c = compare("old.json", &old, &run(|_| {}));
        assert!(load_note(&c).unwrap().contains("could not be checked"));
        assert_eq!(load_note(&compare("b", &run(|_| {}), &run(|_| {}))), None);
    }

    fn current(change: impl FnOnce(&mut crate::stats::LoadFingerprint)) -> RunResult {
        let mut r = crate::stats::fixture(vec![], 1.0);
        let mut load = crate::stats::load_fixture();
        change(&mut load);
        r.run.load = Some(load);
        r
    }

    #[test]
    fn history_runs_of_another_load_are_counted_once() {
        let base = current(|_| {});
        let entry = |users| HistoryEntry::of(&current(|l| l.users = users));
        let history = [entry(50), entry(5), entry(5), entry(5)];
        let c = crate::baseline::compare("b", &base, &base);
        let note = history_note(&history, &c, &base).unwrap();
        assert!(
            note.starts_with("3 history runs with another load shape were left out"),
            "{note}"
        );
        assert!(history_note(&history[..2], &c, &base)
            .unwrap()
            .starts_with("1 history run "));
        // Against a baseline of another load nothing is judged: no count to give.
        let other = crate::baseline::compare("b", &current(|l| l.users = 1), &base);
        assert_eq!(history_note(&history, &other, &base), None);
    }
}
