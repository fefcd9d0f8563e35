//! A comparison with the baseline in words: the plain text `loadforge-gate compare` prints, and
//! the sentence about the baseline's load. The comparison itself is the baseline's model
//! (`baseline::Comparison`); this is only how it reads.

use crate::{baseline::Comparison, stats::LoadMatch};

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
}
