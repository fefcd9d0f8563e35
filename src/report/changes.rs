//! Where a change began: the change points (`gate::changepoint`) of each endpoint's p95 and error
//! rate over the default-branch history, as one sentence each for the summary, the comment,
//! report.html and `compare`; and, for a merge-request run whose regression failed, whether its
//! base (the newest history run) already carried the step.
//!
//! Cost: at most [`MAX_SERIES`] endpoints (the history keeps 1,000 per run) × 2 metrics × 20
//! runs: about 10 ms optimised (`cargo run --release --example gate_trust`, its last line) and
//! 0.5 s in a debug build (`a_thousand_endpoints_are_searched_quickly`), once per report.

use super::Document;
use crate::{
    gate::{
        changepoint::{self, Change},
        metric_value, Check, CheckKind, CheckState, Metric,
    },
    stats::{HistoryEntry, RunResult},
};

/// Endpoints searched, the aggregate among them (the history keeps 1,000 per run).
const MAX_SERIES: usize = 1001;

/// The search's confidence, said once above the lines.
pub(crate) const METHOD: &str = "change points in the default-branch history (E-divisive means, \
    Student-t test on the regression judgement's noise model): an unchanged history shows one \
    in at most 1 % of cases";

/// One run of the history, as a sentence names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunRef {
    pub(crate) pipeline: Option<String>,
    pub(crate) commit: Option<String>,
    pub(crate) started_at: String,
}

impl RunRef {
    fn of(h: &HistoryEntry) -> RunRef {
        RunRef {
            pipeline: h.pipeline.clone(),
            commit: h.commit.clone(),
            started_at: h.started_at.clone(),
        }
    }

    /// `pipeline #4567 (commit abc1234)`, or what of it is known.
    pub(crate) fn name(&self) -> String {
        let commit = self
            .commit
            .as_deref()
            .map(|c| c.chars().take(8).collect::<String>());
        match (&self.pipeline, commit) {
            (Some(p), Some(c)) => format!("pipeline #{p} (commit {c})"),
            (Some(p), None) => format!("pipeline #{p}"),
            (None, Some(c)) => format!("commit {c}"),
            (None, None) => format!("the run of {}", self.started_at),
        }
    }
}

/// One endpoint's metric with a change point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    /// `None`: every request together.
    pub(crate) endpoint: Option<String>,
    pub(crate) metric: Metric,
    pub(crate) change: Change,
    /// The run the step began at (a creep: the run it rose from).
    pub(crate) start: RunRef,
    /// Default-branch runs between that run and this one (0: this run).
    pub(crate) runs_ago: usize,
}

/// What the reports say about change points.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Changes {
    pub(crate) found: Vec<Found>,
    /// For a merge-request run with failed regressions: one sentence per failed endpoint and
    /// metric saying whether the base already carried a step.
    pub(crate) base: Vec<String>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty() && self.base.is_empty()
    }

    /// Every change point of `doc`, and what its base carried when a regression failed.
    pub(crate) fn of(doc: &Document) -> Changes {
        let failed: Vec<&Check> = doc
            .verdict
            .iter()
            .flat_map(|v| &v.checks)
            .filter(|c| c.kind == CheckKind::Regression && c.state() == CheckState::Failed)
            .collect();
        Changes::new(&doc.history, &doc.run, &failed)
    }

    /// Change points of `run`'s endpoints over `history` (newest first, as results.json holds
    /// it); `failed` are the run's failed regression checks.
    pub(crate) fn new(history: &[HistoryEntry], run: &RunResult, failed: &[&Check]) -> Changes {
        let member = history.first().is_some_and(|h| {
            h.started_at == run.run.started_at
                && h.pipeline == run.ci.as_ref().and_then(|c| c.pipeline_id.clone())
        });
        // Oldest first; a default-branch run is at the head of its own chain.
        let mut runs: Vec<&HistoryEntry> = history
            .iter()
            .filter(|h| h.in_band(&run.run))
            .take(changepoint::MAX_RUNS)
            .collect();
        runs.reverse();
        let names = std::iter::once(None)
            .chain(run.endpoints.iter().map(|e| Some(e.name.as_str())))
            .take(MAX_SERIES);
        let mut found = Vec::new();
        for name in names {
            for metric in [Metric::Percentile(95.0), Metric::ErrorRate] {
                if let Some(f) = search(&runs, name, metric, member) {
                    found.push(f);
                }
            }
        }
        let base = if member {
            Vec::new()
        } else {
            base_sentences(&runs, &found, failed)
        };
        Changes { found, base }
    }
}

fn search(
    runs: &[&HistoryEntry],
    endpoint: Option<&str>,
    metric: Metric,
    member: bool,
) -> Option<Found> {
    let points: Vec<(f64, &HistoryEntry)> = runs
        .iter()
        .filter_map(|h| {
            let v = metric_value(h.endpoint(endpoint)?, metric)?;
            Some((v, *h))
        })
        .collect();
    let values: Vec<f64> = points.iter().map(|p| p.0).collect();
    if values.len() < changepoint::MIN_BEFORE + changepoint::MIN_AFTER {
        return None;
    }
    let floor = match metric {
        // Histograms keep two significant digits: p95s differ by 1 % steps.
        Metric::Percentile(_) => crate::gate::judgement::median(&values) * 0.01,
        // One request in 10,000.
        _ => 0.01,
    };
    let change = changepoint::find(&values, floor)?;
    let start = match change {
        Change::Step(s) => s.at,
        Change::Creep(c) => c.from,
    };
    let newest = points.len() - 1;
    Some(Found {
        endpoint: endpoint.map(str::to_string),
        metric,
        change,
        start: RunRef::of(points[start].1),
        runs_ago: newest - start + usize::from(!member),
    })
}

/// The sentences for a merge-request run whose regression checks failed on a searched metric.
fn base_sentences(runs: &[&HistoryEntry], found: &[Found], failed: &[&Check]) -> Vec<String> {
    let Some(base) = runs.last() else {
        return Vec::new();
    };
    let base = RunRef::of(base).name();
    let mut out: Vec<String> = Vec::new();
    for c in failed {
        let metric = c.metric;
        if metric != Metric::Percentile(95.0) && metric != Metric::ErrorRate {
            continue;
        }
        let subject = subject(metric, c.endpoint.as_deref());
        let sentence = match found
            .iter()
            .find(|f| f.metric == metric && f.endpoint == c.endpoint)
        {
            Some(f) => format!(
                "The base ({base}) already carried this change: {}.",
                sentence(f)
            ),
            None => format!(
                "The base ({base}) carried no step in {subject} ({} default-branch runs searched): the regression appears with this run.",
                runs.len()
            ),
        };
        if !out.contains(&sentence) {
            out.push(sentence);
        }
    }
    out
}

fn subject(metric: Metric, endpoint: Option<&str>) -> String {
    format!(
        "{metric} of {}",
        endpoint.unwrap_or(crate::stats::ALL_REQUESTS)
    )
}

fn ago(runs: usize) -> String {
    match runs {
        0 => "in this run".to_string(),
        1 => "1 run ago".to_string(),
        n => format!("{n} runs ago"),
    }
}

/// One line: `p95 of GET /api/cart stepped +18% (52.0 → 61.4 ms) at pipeline #4567 (commit
/// abc1234), 3 runs ago (p = 0.002)`: the p-value is Bonferroni-adjusted. The endpoint name is as measured: writers escape it.
pub(crate) fn sentence(f: &Found) -> String {
    let subject = subject(f.metric, f.endpoint.as_deref());
    let latency = matches!(f.metric, Metric::Percentile(_));
    let level = |v: f64| {
        if latency {
            format!("{v:.1} ms")
        } else {
            format!("{v:.2}%")
        }
    };
    match f.change {
        Change::Step(s) => {
            let size = if latency && s.before > 0.0 {
                format!("{:+.0}% ", (s.after / s.before - 1.0) * 100.0)
            } else {
                String::new()
            };
            format!(
                "{subject} stepped {size}({} → {}) at {}, {} ({})",
                level(s.before),
                level(s.after),
                f.start.name(),
                ago(f.runs_ago),
                p_value(s.p)
            )
        }
        Change::Creep(c) => {
            let rate = if latency && c.start > 0.0 {
                format!("{:+.1}% a run", c.per_run / c.start * 100.0)
            } else if latency {
                format!("{:+.1} ms a run", c.per_run)
            } else {
                format!("{:+.2} points a run", c.per_run)
            };
            format!(
                "{subject} has crept {rate} for {} runs since {} ({})",
                f.runs_ago,
                f.start.name(),
                p_value(c.p)
            )
        }
    }
}

/// The Bonferroni-adjusted p-value as a reader needs it.
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// `compare`'s text: the method, then one line per change point and the base's sentences.
pub(crate) fn render_text(changes: &Changes) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut out = format!("Where it began: {METHOD}.\n");
    for f in &changes.found {
        out.push_str(&format!("  {}\n", sentence(f)));
    }
    for b in &changes.base {
        out.push_str(&format!("  {b}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{fixture, EndpointStats, LatencyHistogram};

    fn run(p95: f64, started: &str, pipeline: &str) -> RunResult {
        let mut h = LatencyHistogram::new();
        h.record_micros((p95 * 1000.0) as u64);
        let e = EndpointStats::from_counts(
            "GET /api/cart".into(),
            None,
            h,
            100,
            Default::default(),
            10.0,
        );
        let mut r = fixture(vec![e], 10.0);
        r.run.started_at = started.into();
        let mut ci = r.ci.clone().unwrap_or_default();
        ci.pipeline_id = Some(pipeline.into());
        ci.commit_sha = Some(format!("abc{pipeline}ffff"));
        r.ci = Some(ci);
        r
    }

    fn chain(values: &[f64]) -> Vec<HistoryEntry> {
        let mut chain = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let r = run(*v, &format!("t{i:02}"), &format!("{}", 4560 + i));
            chain = crate::stats::pass_on_history(&chain, &r, true, 20);
        }
        chain
    }

    const STEPPED: &[f64] = &[
        50.0, 51.0, 49.0, 50.0, 52.0, 48.0, 50.0, 51.0, 49.0, 50.0, 61.0, 60.0, 62.0,
    ];

    #[test]
    fn a_merge_request_run_names_where_the_step_began() {
        let history = chain(STEPPED);
        let mr = run(62.0, "mr", "9999");
        let c = Changes::new(&history, &mr, &[]);
        let lines: Vec<String> = c.found.iter().map(sentence).collect();
        assert!(
            lines.iter().any(|l| l.starts_with(
                "p95 of GET /api/cart stepped +22% (50.2 ms → 61.2 ms) at pipeline #4570 (commit abc4570f), 3 runs ago (p < 0.001)"
            )),
            "{lines:#?}"
        );
        assert!(c.base.is_empty());
    }

    #[test]
    fn a_default_branch_run_counts_itself_and_a_quiet_history_says_nothing() {
        let history = chain(STEPPED);
        let head = run(62.0, "t12", "4572");
        let c = Changes::new(&history, &head, &[]);
        assert!(
            sentence(&c.found[0]).contains("at pipeline #4570 (commit abc4570f), 2 runs ago"),
            "{:?}",
            c.found
        );
        let quiet = chain(&STEPPED[..10]);
        assert!(Changes::new(&quiet, &run(50.0, "mr", "1"), &[]).is_empty());
    }

    /// 1,000 endpoints over 20 runs: the bound the gate stays fast within.
    #[test]
    fn a_thousand_endpoints_are_searched_quickly() {
        let values: Vec<f64> = (0..20).map(|i| 50.0 + (i % 3) as f64).collect();
        let series: Vec<Vec<f64>> = (0..2000).map(|_| values.clone()).collect();
        let start = std::time::Instant::now();
        let found = series
            .iter()
            .filter(|v| changepoint::find(v, 0.5).is_some())
            .count();
        let took = start.elapsed();
        eprintln!("2000 series of 20 runs: {took:?}");
        assert_eq!(found, 0);
        assert!(took.as_secs_f64() < 5.0, "{took:?}");
    }

    fn failed(endpoint: Option<&str>) -> Check {
        Check {
            name: "p95 regression".into(),
            kind: CheckKind::Regression,
            expression: "p95 +20% +10ms".into(),
            endpoint: endpoint.map(str::to_string),
            metric: Metric::Percentile(95.0),
            unit: crate::gate::Unit::Millis,
            value: Some(62.0),
            op: "<=".into(),
            limit: 60.0,
            baseline: Some(50.0),
            state: crate::gate::CheckState::Failed,
            detail: String::new(),
            default_rule: false,
            finding: None,
        }
    }

    #[test]
    fn a_failed_merge_request_says_whether_its_base_carried_the_step() {
        let mr = run(62.0, "mr", "9999");
        let carried = Changes::new(&chain(STEPPED), &mr, &[&failed(Some("GET /api/cart"))]);
        assert!(
            carried.base[0].starts_with("The base (pipeline #4572 (commit abc4572f)) already carried this change: p95 of GET /api/cart stepped +22%"),
            "{:?}",
            carried.base
        );
        let quiet = Changes::new(&chain(&STEPPED[..10]), &mr, &[&failed(None)]);
        assert_eq!(
            quiet.base,
            ["The base (pipeline #4569 (commit abc4569f)) carried no step in p95 of all requests (10 default-branch runs searched): the regression appears with this run."]
        );
    }

    #[test]
    fn the_summary_and_report_html_carry_the_lines() {
        let doc = Document {
            run: run(62.0, "mr", "9999"),
            verdict: None,
            comparison: None,
            notes: Vec::new(),
            history: chain(STEPPED),
        };
        let md = super::super::markdown::render_summary(&doc);
        assert!(md.contains("#### Where it began"), "{md}");
        assert!(md.contains("- p95 of GET /api/cart stepped +22%"), "{md}");
        let html = super::super::html::render(&super::super::view::View::new(&doc));
        assert!(html.contains("<h2>Where it began</h2>"));
        assert!(
            html.contains("<li>p95 of GET /api/cart stepped +22%"),
            "{html}"
        );
    }
}
