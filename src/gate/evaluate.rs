use std::collections::HashMap;

use super::{
    format_value, Check, CheckKind, Direction, GateError, Metric, MetricKind, Regression, Selector,
    Threshold, Verdict,
};
use crate::stats::{EndpointStats, RunResult};

/// The baseline a regression rule compares against.
pub struct Baseline<'a> {
    pub result: &'a RunResult,
}

/// Reads one metric off an endpoint. `None` means not measured (no requests, or an engine that
/// does not provide that figure): a check on it fails rather than passing silently.
pub fn metric_value(stats: &EndpointStats, metric: Metric) -> Option<f64> {
    let l = &stats.latency_ms;
    let has_requests = stats.requests > 0;
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
        Metric::Errors => Some(stats.failures as f64),
        Metric::Rps => Some(stats.rps),
        Metric::Requests => Some(stats.requests as f64),
    }
}

/// The endpoints a selector stands for. `None` stands for the aggregate. An exact name or a glob
/// that matches nothing is an error: a rule that judges nothing would pass silently.
pub fn resolve_selector<'a>(
    expr: &str,
    selector: Option<&Selector>,
    names: &[&'a str],
) -> Result<Vec<Option<&'a str>>, GateError> {
    let Some(sel) = selector else {
        return Ok(vec![None]);
    };
    let hits: Vec<Option<&str>> = names
        .iter()
        .filter(|n| sel.matches(n))
        .map(|n| Some(*n))
        .collect();
    if hits.is_empty() {
        return Err(GateError::SelectorMatchesNothing {
            expr: expr.to_string(),
            selector: sel.raw().to_string(),
            known: if names.is_empty() {
                "(none)".into()
            } else {
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    Ok(hits)
}

fn stats_for<'a>(result: &'a RunResult, endpoint: Option<&str>) -> Option<&'a EndpointStats> {
    match endpoint {
        None => Some(&result.aggregate),
        Some(name) => result.endpoint(name),
    }
}

/// Locust stores latencies rounded to about two significant digits; a comparison must not call a
/// change of less than one such bucket a regression.
fn quantisation_step(value_ms: f64) -> f64 {
    if value_ms < 100.0 {
        1.0
    } else if value_ms < 1000.0 {
        10.0
    } else {
        100.0
    }
}

struct Names(HashMap<String, usize>);

impl Names {
    fn unique(&mut self, base: String) -> String {
        let n = self.0.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{base} #{n}")
        }
    }
}

pub fn evaluate(
    result: &RunResult,
    thresholds: &[Threshold],
    default_thresholds: bool,
    regressions: &[Regression],
    default_regressions: bool,
    baseline: Option<Baseline<'_>>,
) -> Result<Verdict, GateError> {
    let names: Vec<&str> = result.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut unique = Names(HashMap::new());
    let mut checks = Vec::new();

    for t in thresholds {
        for endpoint in resolve_selector(&t.source, t.selector.as_ref(), &names)? {
            let kind = t.metric.kind();
            let unit = kind.unit();
            let value = stats_for(result, endpoint).and_then(|s| metric_value(s, t.metric));
            let passed = value.is_some_and(|v| t.op.holds(v, t.limit));
            let limit_text = format!("{} {}", t.op.symbol(), format_value(t.limit, unit));
            let subject = endpoint.unwrap_or("all requests");
            let detail = match value {
                Some(v) => format!(
                    "{} of {subject} = {}, limit {limit_text}",
                    t.metric.label(),
                    format_value(v, unit)
                ),
                None => format!(
                    "{} of {subject} was not measured (no requests completed or the engine does not report it), limit {limit_text}",
                    t.metric.label()
                ),
            };
            let base_name = match (endpoint, t.selector.as_ref()) {
                (Some(e), Some(sel)) if sel.is_glob() => format!("{} [{e}]", t.source),
                _ => t.source.clone(),
            };
            checks.push(Check {
                name: unique.unique(format!("threshold: {base_name}")),
                kind: CheckKind::Threshold,
                expression: t.source.clone(),
                endpoint: endpoint.map(str::to_string),
                metric: t.metric.label(),
                unit: unit.into(),
                value,
                op: t.op.symbol().into(),
                limit: t.limit,
                baseline: None,
                passed,
                detail,
                default_rule: default_thresholds,
            });
        }
    }

    if let Some(base) = baseline {
        let quantised = result.run.quantised || base.result.run.quantised;
        for r in regressions {
            for endpoint in resolve_selector(&r.source, r.selector.as_ref(), &names)? {
                checks.push(regression_check(
                    &mut unique,
                    r,
                    endpoint,
                    result,
                    base.result,
                    quantised,
                    default_regressions,
                ));
            }
        }
    }

    Ok(Verdict {
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

fn regression_check(
    unique: &mut Names,
    r: &Regression,
    endpoint: Option<&str>,
    current: &RunResult,
    base: &RunResult,
    quantised: bool,
    default_rule: bool,
) -> Check {
    let kind = r.metric.kind();
    let unit = kind.unit();
    let value = stats_for(current, endpoint).and_then(|s| metric_value(s, r.metric));
    let base_value = stats_for(base, endpoint).and_then(|s| metric_value(s, r.metric));
    let subject = endpoint.unwrap_or("all requests");
    let label = r.metric.label();
    let mut absolute = r.absolute.unwrap_or(0.0);
    if quantised && kind == MetricKind::Latency {
        let biggest = value.unwrap_or(0.0).max(base_value.unwrap_or(0.0));
        absolute = absolute.max(quantisation_step(biggest));
    }
    let (passed, limit, op, detail) = match (value, base_value) {
        (Some(v), Some(b)) => {
            let allowed = (b.abs() * r.relative).max(absolute);
            let (limit, op, ok) = match r.direction {
                Direction::Growth => (b + allowed, "<=", v - b <= allowed),
                Direction::Drop => (b - allowed, ">=", b - v <= allowed),
            };
            let change = if b != 0.0 {
                format!(" ({:+.1}%)", (v - b) / b.abs() * 100.0)
            } else {
                String::new()
            };
            let detail = format!(
                "{label} of {subject} = {} vs baseline {}{change}, allowed {op} {}",
                format_value(v, unit),
                format_value(b, unit),
                format_value(limit, unit)
            );
            (ok, limit, op, detail)
        }
        (_, None) => (
            true,
            0.0,
            "<=",
            format!("{label} of {subject}: no baseline value to compare with"),
        ),
        (None, Some(b)) => (
            true,
            b,
            "<=",
            format!("{label} of {subject}: not measured in this run"),
        ),
    };
    let base_name = match (endpoint, r.selector.as_ref()) {
        (Some(e), Some(sel)) if sel.is_glob() => format!("{} [{e}]", r.source),
        _ => r.source.clone(),
    };
    Check {
        name: unique.unique(format!("regression: {base_name}")),
        kind: CheckKind::Regression,
        expression: r.source.clone(),
        endpoint: endpoint.map(str::to_string),
        metric: label,
        unit: unit.into(),
        value,
        op: op.into(),
        limit,
        baseline: base_value,
        passed,
        detail,
        default_rule,
    }
}
