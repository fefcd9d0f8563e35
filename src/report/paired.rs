//! A paired run (`--compare-host`) in the reports: the base and the change side by side per
//! endpoint, each with the paired change a regression rule found on the slices. The figures
//! are the results file's (`paired.base_endpoints` beside the run's `endpoints`); the paired
//! change is the check's own words, never recomputed here, so the table cannot disagree with
//! the verdict. Part of the [`View`](super::view::View): every writer renders this one.

use std::collections::HashMap;

use crate::{
    gate::{Check, CheckState, Metric},
    stats::{EndpointStats, PairedRun, RunResult, Slice, ALL_REQUESTS},
};

/// One endpoint (or all requests) of a paired run: the base's and the change's whole-run rows.
pub(crate) struct PairedRow<'a> {
    pub(crate) name: &'a str,
    pub(crate) aggregate: bool,
    /// `None` when only the change has it.
    pub(crate) base: Option<&'a EndpointStats>,
    /// `None` when only the base has it.
    pub(crate) change: Option<&'a EndpointStats>,
    /// What each paired check on this endpoint found, in judging order.
    pub(crate) judged: Vec<PairedJudgement<'a>>,
}

impl<'a> PairedRow<'a> {
    /// The name as reports show it (`all requests` for the aggregate).
    pub(crate) fn label(&self) -> &'a str {
        if self.aggregate {
            ALL_REQUESTS
        } else {
            self.name
        }
    }
}

/// A paired check's finding on one endpoint and metric: `regression: +30.0% [+27.1%, +33.0%]`.
pub(crate) struct PairedJudgement<'a> {
    pub(crate) metric: Metric,
    pub(crate) state: CheckState,
    /// The check's words up to the end of its interval (the slice count and margin are in the
    /// check's detail); all of them when there is no interval (not judged).
    pub(crate) words: &'a str,
}

impl PairedJudgement<'_> {
    /// `p95 regression: +30.0% [+27.1%, +33.0%]`.
    pub(crate) fn text(&self) -> String {
        format!("{} {}", self.metric.label(), self.words)
    }
}

/// A paired run as every report shows it.
pub(crate) struct PairedView<'a> {
    /// The base's address, credentials already redacted in results.
    pub(crate) base_target: &'a str,
    pub(crate) slice_s: f64,
    /// Each side's turn inside a pair, when shorter than a slice.
    pub(crate) turn_s: Option<f64>,
    /// Whole slice pairs, and those during which the load generator was starved.
    pub(crate) pairs: usize,
    pub(crate) starved_pairs: usize,
    /// All requests first, then the change's endpoints, then those only the base has.
    pub(crate) rows: Vec<PairedRow<'a>>,
    /// Both sides, in time order: the slice chart's data.
    pub(crate) slices: &'a [Slice],
}

impl<'a> PairedView<'a> {
    /// How the sides took turns, for the reports' words: `alternating slices of 5s`, or
    /// `slices of 1s, each of alternating turns of 0.25s` when a slice pooled several turns.
    pub(crate) fn slicing(&self) -> String {
        match self.turn_s {
            Some(t) => format!(
                "slices of {}s, each of alternating turns of {t}s",
                self.slice_s
            ),
            None => format!("alternating slices of {}s", self.slice_s),
        }
    }

    /// `None` for an unpaired run.
    pub(crate) fn of(run: &'a RunResult, checks: &'a [Check]) -> Option<Self> {
        let paired = run.paired.as_ref()?;
        let pairs = paired.slice_pairs();
        Some(PairedView {
            base_target: &paired.base_target,
            slice_s: paired.slice_s,
            turn_s: paired.turn_s.filter(|t| *t > 0.0 && *t < paired.slice_s),
            pairs: pairs.len(),
            starved_pairs: pairs.iter().filter(|(b, c)| b.starved || c.starved).count(),
            rows: rows(run, paired, checks),
            slices: &paired.slices,
        })
    }
}

/// The rows side by side: the base's by name, once (thousands of endpoints must not cost a
/// scan each).
fn rows<'a>(run: &'a RunResult, paired: &'a PairedRun, checks: &'a [Check]) -> Vec<PairedRow<'a>> {
    let base: HashMap<&str, &EndpointStats> = paired
        .base_endpoints
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    let changed: std::collections::HashSet<&str> =
        run.endpoints.iter().map(|e| e.name.as_str()).collect();
    let row = |name: &'a str, base, change, aggregate| PairedRow {
        name,
        aggregate,
        base,
        change,
        judged: judgements(paired, checks, (!aggregate).then_some(name)),
    };
    let mut out = vec![row(
        &run.aggregate.name,
        Some(&paired.base_aggregate),
        Some(&run.aggregate),
        true,
    )];
    out.extend(
        run.endpoints
            .iter()
            .map(|e| row(&e.name, base.get(e.name.as_str()).copied(), Some(e), false)),
    );
    out.extend(
        (paired.base_endpoints.iter())
            .filter(|e| !changed.contains(e.name.as_str()))
            .map(|e| row(&e.name, Some(e), None, false)),
    );
    out
}

/// The paired checks of one endpoint (`None`: all requests), by the detail `paired_check`
/// writes: `{metric} of {endpoint}, paired with the base {base} in the same job: {words}`.
/// Matching the whole prefix, not a word in it, ties each finding to its endpoint and metric.
fn judgements<'a>(
    paired: &PairedRun,
    checks: &'a [Check],
    endpoint: Option<&str>,
) -> Vec<PairedJudgement<'a>> {
    checks
        .iter()
        .filter(|c| c.endpoint.as_deref() == endpoint)
        .filter_map(|c| {
            let prefix = format!(
                "{} of {}, paired with the base {} in the same job: ",
                c.metric.label(),
                endpoint.unwrap_or(ALL_REQUESTS),
                paired.base_target
            );
            let words = c.detail.strip_prefix(&prefix)?;
            Some(PairedJudgement {
                metric: c.metric,
                state: c.state(),
                words: words.find(']').map_or(words, |i| &words[..=i]),
            })
        })
        .collect()
}

/// The side by side in plain text, for `loadforge-gate compare`.
pub(crate) fn render_text(run: &RunResult, checks: &[Check]) -> String {
    let Some(view) = PairedView::of(run, checks) else {
        return String::new();
    };
    let mut out = format!(
        "paired with the base {} in the same job: {} pairs of {}{}\n",
        view.base_target,
        view.pairs,
        view.slicing(),
        starved_text(&view)
    );
    for r in &view.rows {
        out.push_str(&format!("\n{}\n", r.label()));
        for (label, cell) in text_cells(r) {
            out.push_str(&format!("  {label:<11} {cell}\n"));
        }
        for j in &r.judged {
            out.push_str(&format!("  paired      {}\n", j.text()));
        }
    }
    out
}

/// `, 2 with the load generator starved`, or nothing.
pub(crate) fn starved_text(view: &PairedView<'_>) -> String {
    match view.starved_pairs {
        0 => String::new(),
        n => format!(", {n} with the load generator starved"),
    }
}

/// Each side-by-side figure as `base -> change`.
fn text_cells(r: &PairedRow<'_>) -> Vec<(&'static str, String)> {
    FIGURES
        .iter()
        .map(|f| {
            let side = |e: Option<&EndpointStats>| e.and_then(f.value).map_or("–".into(), f.show);
            (f.label, format!("{} -> {}", side(r.base), side(r.change)))
        })
        .collect()
}

/// One figure of the side-by-side table.
pub(crate) struct Figure {
    pub(crate) label: &'static str,
    pub(crate) value: fn(&EndpointStats) -> Option<f64>,
    pub(crate) show: fn(f64) -> String,
}

fn one_decimal(v: f64) -> String {
    format!("{v:.1}")
}

/// The figures side by side, in column order: what issue #33 asks a reviewer to see.
pub(crate) const FIGURES: [Figure; 5] = [
    Figure {
        label: "p50 ms",
        value: |e| e.latency_ms.p50,
        show: one_decimal,
    },
    Figure {
        label: "p95 ms",
        value: |e| e.latency_ms.p95,
        show: one_decimal,
    },
    Figure {
        label: "p99 ms",
        value: |e| e.latency_ms.p99,
        show: one_decimal,
    },
    Figure {
        label: "error rate",
        value: |e| (!e.counts_reported || e.requests > 0).then_some(e.error_rate),
        show: |v| format!("{v:.2}%"),
    },
    Figure {
        label: "req/s",
        value: |e| e.counts().map(|(_, _, rps)| rps),
        show: one_decimal,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        html, markdown,
        snapshot_tests::{judged, not_judged, paired},
        view::View,
    };

    #[test]
    fn the_rows_are_the_bases_rows_beside_the_runs_own() {
        let doc = paired();
        let view = View::new(&doc);
        let p = view.paired.as_ref().unwrap();
        let base = doc.run.paired.as_ref().unwrap();
        let rows: Vec<(&str, Option<&str>, Option<&str>)> = (p.rows.iter())
            .map(|r| {
                (
                    r.label(),
                    r.base.map(|e| e.name.as_str()),
                    r.change.map(|e| e.name.as_str()),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (ALL_REQUESTS, Some(ALL_REQUESTS), Some(ALL_REQUESTS)),
                (
                    "GET /api/catalog/search",
                    Some("GET /api/catalog/search"),
                    Some("GET /api/catalog/search")
                ),
                (
                    "GET /api/catalog/products/:id",
                    Some("GET /api/catalog/products/:id"),
                    Some("GET /api/catalog/products/:id")
                ),
                (
                    "GET /old | <b>x</b> @here",
                    Some("GET /old | <b>x</b> @here"),
                    None
                ),
            ]
        );
        // The very rows of the file: the base's from `paired`, the change's from `endpoints`.
        assert!(std::ptr::eq(p.rows[0].base.unwrap(), &base.base_aggregate));
        assert!(std::ptr::eq(p.rows[0].change.unwrap(), &doc.run.aggregate));
        assert!(std::ptr::eq(
            p.rows[1].base.unwrap(),
            &base.base_endpoints[0]
        ));
        assert!(std::ptr::eq(
            p.rows[1].change.unwrap(),
            &doc.run.endpoints[0]
        ));
        assert_eq!((p.pairs, p.starved_pairs), (12, 0));
    }

    #[test]
    fn each_paired_finding_is_its_checks_words_on_its_own_endpoint_and_metric() {
        let doc = paired();
        let view = View::new(&doc);
        let p = view.paired.as_ref().unwrap();
        let checks = &doc.verdict.as_ref().unwrap().checks;
        let search = checks
            .iter()
            .find(|c| c.endpoint.as_deref() == Some("GET /api/catalog/search"))
            .unwrap();
        let found = &p.rows[1].judged;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, CheckState::Failed);
        assert!(
            found[0].words.starts_with("regression: +30.0% ["),
            "{}",
            found[0].words
        );
        assert!(found[0].words.ends_with(']'), "{}", found[0].words);
        assert!(search.detail.contains(found[0].words), "{}", search.detail);
        assert!(p.rows[2].judged[0].words.starts_with("within noise: "));
        // The threshold `p95<250ms` on all requests is no paired finding: only the p99 rule.
        let all: Vec<String> = p.rows[0].judged.iter().map(|j| j.text()).collect();
        assert!(
            all.len() == 1 && all[0].starts_with("p99 regression"),
            "{all:?}"
        );
        assert!(p.rows[3].judged.is_empty(), "the base-only endpoint");
    }

    #[test]
    fn an_unpaired_run_has_no_side_by_side_in_any_report() {
        for doc in [judged(), not_judged()] {
            let view = View::new(&doc);
            assert!(view.paired.is_none());
            assert!(!markdown::render(&view).contains("side by side"));
            assert!(!html::render(&view).contains("side by side"));
            assert_eq!(render_text(&doc.run, &[]), "");
        }
    }

    #[test]
    fn the_paired_reports_escape_the_base_and_its_endpoints() {
        let doc = paired();
        let view = View::new(&doc);
        let md = markdown::render(&view);
        assert!(md.contains("#### Base and change, side by side"), "{md}");
        assert!(
            md.contains("http://base:8081/?token=\\*\\*\\*&amp;&lt;i&gt;"),
            "{md}"
        );
        assert!(
            md.contains("GET /old \\| &lt;b&gt;x&lt;/b&gt; @\u{200B}here"),
            "{md}"
        );
        assert!(!md.contains("<i>") && !md.contains("<b>"), "{md}");
        let page = html::render(&view);
        assert!(page.contains("http://base:8081/?token=***&amp;&lt;i&gt;"));
        assert!(page.contains("GET /old | &lt;b&gt;x&lt;/b&gt;"));
        assert!(
            page.contains("p95 per slice, base and change"),
            "the slice chart"
        );
        assert!(!page.contains("<i>") && !page.contains("<b>"));
    }

    #[test]
    fn compare_prints_the_side_by_side_with_the_paired_findings() {
        let mut doc = paired();
        let text = render_text(&doc.run, &doc.verdict.as_ref().unwrap().checks);
        assert!(
            text.starts_with("paired with the base http://base:8081/?token=***&<i> in the same job: 12 pairs of alternating slices of 5s\n"),
            "{text}"
        );
        // Slices taken in shorter turns say so; a turn as long as the slice is a whole slice.
        for (turn, want) in [
            (
                1.25,
                ": 12 pairs of slices of 5s, each of alternating turns of 1.25s",
            ),
            (5.0, ": 12 pairs of alternating slices of 5s"),
        ] {
            doc.run.paired.as_mut().unwrap().turn_s = Some(turn);
            let text = render_text(&doc.run, &doc.verdict.as_ref().unwrap().checks);
            assert!(text.lines().next().unwrap().ends_with(want), "{text}");
        }
        assert!(
            text.contains("\nGET /api/catalog/search\n  p50 ms "),
            "{text}"
        );
        assert!(
            text.contains("  paired      p95 regression: +30.0% ["),
            "{text}"
        );
    }
}
