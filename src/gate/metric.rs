//! What evaluating thresholds and judging regressions both read off a run: a metric's value on
//! an endpoint, and the checks' names. Its own module so that `evaluate.rs` (which calls the
//! regression judgement) and `regression.rs` (which reads the same figures) need not import
//! each other.

use std::collections::HashMap;

use super::{Check, Metric, MetricKind, Selector};
use crate::stats::{EndpointStats, RunResult, MAX_MICROS};

/// Reads one metric off an endpoint. `None` means not measured (no requests, or an engine that
/// does not provide that figure): a check on it fails rather than passing silently.
pub(crate) fn metric_value(stats: &EndpointStats, metric: Metric) -> Option<f64> {
    let l = &stats.latency_ms;
    let counts = stats.counts_reported.then_some(stats);
    // An error rate means something only over some requests; without counts the engine's own
    // figure is taken as given.
    let has_requests = stats.requests > 0 || !stats.counts_reported;
    match metric {
        Metric::Avg => l.avg,
        Metric::Min => l.min,
        Metric::Max => l.max,
        Metric::Percentile(q) => {
            let known = match q {
                50.0 => l.p50,
                90.0 => l.p90,
                95.0 => l.p95,
                99.0 => l.p99,
                99.9 => l.p99_9,
                _ => None,
            };
            known.or_else(|| stats.histogram.as_ref().and_then(|h| h.percentile_ms(q)))
        }
        Metric::ErrorRate => has_requests.then_some(stats.error_rate),
        Metric::Errors => counts.map(|s| s.failures as f64),
        Metric::Rps => counts.map(|s| s.rps),
        Metric::Requests => counts.map(|s| s.requests as f64),
    }
}

/// A rule's name in a verdict: a glob judges each endpoint it matches, named after the rule.
pub(super) fn check_name(
    source: &str,
    endpoint: Option<&str>,
    selector: Option<&Selector>,
) -> String {
    match (endpoint, selector) {
        (Some(e), Some(sel)) if sel.is_glob() => format!("{source} [{e}]"),
        _ => source.to_string(),
    }
}

pub(super) fn stats_for<'a>(
    result: &'a RunResult,
    endpoint: Option<&str>,
) -> Option<&'a EndpointStats> {
    match endpoint {
        None => Some(&result.aggregate),
        Some(name) => result.endpoint(name),
    }
}

/// The longest latency a run can report, in ms: the histograms' range (one hour), to which
/// every engine's histogram clamps a longer request.
const MAX_LATENCY_MS: f64 = MAX_MICROS as f64 / 1000.0;
/// The largest count or rate a run can report: 2^53, past which an `f64` no longer counts in
/// ones. No run sends that many requests, nor that many a second.
const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// Whether a history run's value is one a run can produce: finite, not negative, an error rate
/// at most 100 %, a latency at most [`MAX_LATENCY_MS`], a count or rate at most [`MAX_COUNT`].
/// Anything else comes from a damaged or hand-made file, not a measurement; judged with, it
/// would set the centre, the spread or the run compared with, and a value near `f64::MAX`
/// makes the arithmetic overflow. The bounds are what no run can exceed, not what is usual:
/// a slow or failing run is a measurement, and the judgement's trim weighs it.
pub(super) fn plausible(kind: MetricKind, value: f64) -> bool {
    let most = match kind {
        MetricKind::Latency => MAX_LATENCY_MS,
        MetricKind::Ratio => 100.0,
        MetricKind::Count | MetricKind::Rate => MAX_COUNT,
    };
    (0.0..=most).contains(&value)
}

/// Locust stores latencies rounded to about two significant digits; a comparison must not call a
/// change of less than one such bucket a regression.
pub(super) fn quantisation_step(value_ms: f64) -> f64 {
    if value_ms < 100.0 {
        1.0
    } else if value_ms < 1000.0 {
        10.0
    } else {
        100.0
    }
}

/// The checks' names so far: a second check of the same name is numbered (`name #2`).
#[derive(Default)]
pub(super) struct Names(HashMap<String, usize>);

impl Names {
    pub(super) fn unique(&mut self, base: String) -> String {
        let n = self.0.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base} #{n}")
        }
    }

    pub(super) fn named(&mut self, mut check: Check) -> Check {
        check.name = self.unique(check.name);
        check
    }
}
