//! What evaluating thresholds and judging regressions both read off a run: a metric's value on
//! an endpoint, and the checks' names. Its own module so that `evaluate.rs` (which calls the
//! regression judgement) and `regression.rs` (which reads the same figures) need not import
//! each other.

use std::collections::HashMap;

use super::{Check, Metric, Selector};
use crate::stats::{EndpointStats, RunResult};

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
