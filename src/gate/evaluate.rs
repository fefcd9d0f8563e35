use std::collections::HashMap;

use super::{
    Check, CheckKind, GateError, Metric, Regression, Rules, Selector, Threshold, Unit, Verdict,
};
use crate::stats::{EndpointStats, HistoryEntry, RunResult};

/// The baseline a regression rule compares against, and the run history it is judged by
/// (newest first; empty: the baseline run alone).
pub(crate) struct Baseline<'a> {
    pub(crate) result: &'a RunResult,
    pub(crate) history: &'a [HistoryEntry],
}

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

/// The endpoints a selector stands for. `None` stands for the aggregate. An exact name or a glob
/// that matches nothing is an error: a rule that judges nothing would pass silently.
pub(crate) fn resolve_selector<'a>(
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

/// For a glob, endpoints that received no request are left out (the glob still judges the ones
/// that did); when none did, all stay in and fail as "not measured". An exact name is always
/// judged: naming an endpoint that got no traffic is a failure worth seeing.
fn judged_endpoints<'a>(
    result: &RunResult,
    selector: Option<&Selector>,
    hits: Vec<Option<&'a str>>,
) -> Vec<Option<&'a str>> {
    if !selector.is_some_and(Selector::is_glob) {
        return hits;
    }
    let with_traffic: Vec<Option<&str>> = hits
        .iter()
        .copied()
        .filter(|e| stats_for(result, *e).is_some_and(|s| s.requests > 0))
        .collect();
    if with_traffic.is_empty() {
        hits
    } else {
        with_traffic
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
}

/// Judges a run: every threshold on the run itself and, with a baseline, every regression rule
/// against it. A selector that names no endpoint is an error, not a silent pass.
pub(crate) fn evaluate(
    result: &RunResult,
    thresholds: &Rules<Threshold>,
    regressions: &Rules<Regression>,
    baseline: Option<Baseline<'_>>,
) -> Result<Verdict, GateError> {
    let names: Vec<&str> = result.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut unique = Names(HashMap::new());
    let mut checks = Vec::new();
    for t in thresholds.iter() {
        if let Some(name) = folded(result, t.selector.as_ref()) {
            checks.push(folded_check(
                &mut unique,
                &t.source,
                name,
                t.metric,
                CheckKind::Threshold,
            ));
            continue;
        }
        let hits = resolve_selector(&t.source, t.selector.as_ref(), &names)?;
        for endpoint in judged_endpoints(result, t.selector.as_ref(), hits) {
            let mut check = threshold_check(t, endpoint, result);
            check.name = unique.unique(check.name);
            check.default_rule = thresholds.is_built_in();
            checks.push(check);
        }
    }
    if let Some(base) = baseline {
        let quantised = result.run.quantised || base.result.run.quantised;
        for r in regressions.iter() {
            if let Some(name) = folded(result, r.selector.as_ref()) {
                checks.push(folded_check(
                    &mut unique,
                    &r.source,
                    name,
                    r.metric,
                    CheckKind::Regression,
                ));
                continue;
            }
            let hits = resolve_selector(&r.source, r.selector.as_ref(), &names)?;
            for endpoint in judged_endpoints(result, r.selector.as_ref(), hits) {
                checks.push(super::regression::regression_check(
                    &mut unique,
                    r,
                    endpoint,
                    result,
                    &base,
                    quantised,
                    regressions.is_built_in(),
                ));
            }
        }
    }
    Ok(Verdict {
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

/// The endpoint an exact selector names when the cardinality guard folded it away.
fn folded<'a>(result: &RunResult, selector: Option<&'a Selector>) -> Option<&'a str> {
    let sel = selector.filter(|s| !s.is_glob())?;
    let folded = result.run.folded.as_ref()?;
    folded.folded_names.contains(sel.raw()).then(|| sel.raw())
}

/// A rule on a folded endpoint fails: it was not measured on its own, and a gate must not
/// pass what it could not see.
fn folded_check(
    unique: &mut Names,
    source: &str,
    endpoint: &str,
    metric: Metric,
    kind: CheckKind,
) -> Check {
    let prefix = match kind {
        CheckKind::Threshold => "threshold",
        CheckKind::Regression => "regression",
    };
    Check {
        name: unique.unique(format!("{prefix}: {source}")),
        kind,
        expression: source.to_string(),
        endpoint: Some(endpoint.to_string()),
        metric,
        unit: Unit::from(metric.kind()),
        value: None,
        op: "<".into(),
        limit: 0.0,
        baseline: None,
        passed: false,
        detail: format!(
            "{} of {endpoint}: not measured (folded into `(other endpoints)` by --max-endpoints; raise it or name the requests)",
            metric.label()
        ),
        default_rule: false,
        judgement: None,
    }
}

/// One threshold on one endpoint (or the aggregate); its name is made unique by the caller.
fn threshold_check(t: &Threshold, endpoint: Option<&str>, result: &RunResult) -> Check {
    let unit = Unit::from(t.metric.kind());
    let value = stats_for(result, endpoint).and_then(|s| metric_value(s, t.metric));
    let passed = value.is_some_and(|v| t.op.holds(v, t.limit));
    let limit_text = format!("{} {}", t.op.symbol(), unit.format(t.limit));
    let subject = endpoint.unwrap_or("all requests");
    let detail = match value {
        Some(v) => format!(
            "{} of {subject} = {}, limit {limit_text}",
            t.metric.label(),
            unit.format(v)
        ),
        None => format!(
            "{} of {subject} was not measured (no requests completed or the engine does not report it), limit {limit_text}",
            t.metric.label()
        ),
    };
    Check {
        name: format!(
            "threshold: {}",
            check_name(&t.source, endpoint, t.selector.as_ref())
        ),
        kind: CheckKind::Threshold,
        expression: t.source.clone(),
        endpoint: endpoint.map(str::to_string),
        metric: t.metric,
        unit,
        value,
        op: t.op.symbol().into(),
        limit: t.limit,
        baseline: None,
        passed,
        detail,
        default_rule: false,
        judgement: None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `evaluate` with configured rules.
    fn judge(
        r: &RunResult,
        thresholds: &[Threshold],
        regressions: &[Regression],
        baseline: Option<Baseline<'_>>,
    ) -> Result<Verdict, GateError> {
        evaluate(
            r,
            &Rules::configured(thresholds.to_vec()),
            &Rules::configured(regressions.to_vec()),
            baseline,
        )
    }
    use crate::stats::LatencyHistogram;

    /// A result whose endpoints each saw `n` requests at `ms` milliseconds, `failed` of them failed.
    fn result(endpoints: &[(&str, u64, f64, u64)]) -> RunResult {
        let eps: Vec<EndpointStats> = endpoints
            .iter()
            .map(|(name, n, ms, failed)| {
                let mut h = LatencyHistogram::new();
                for _ in 0..*n {
                    h.record_micros((*ms * 1000.0) as u64);
                }
                let mut reasons = BTreeMap::new();
                if *failed > 0 {
                    reasons.insert("HTTP 500".to_string(), *failed);
                }
                EndpointStats::from_counts(name.to_string(), None, h, *n, reasons, 10.0)
            })
            .collect();
        crate::stats::fixture(eps, 10.0)
    }

    /// Judges `current` against `base` (and, when `earlier` is not empty, the history of
    /// `base` then `earlier`) with regression rules only.
    pub(in crate::gate) fn regress(
        current: &RunResult,
        base: &RunResult,
        earlier: &[RunResult],
        rules: &[Regression],
    ) -> Verdict {
        let history: Vec<HistoryEntry> = if earlier.is_empty() {
            Vec::new()
        } else {
            std::iter::once(base)
                .chain(earlier)
                .map(HistoryEntry::of)
                .collect()
        };
        judge(
            current,
            &[],
            rules,
            Some(Baseline {
                result: base,
                history: &history,
            }),
        )
        .unwrap()
    }

    pub(in crate::gate) fn result_for_noise(ms: f64) -> RunResult {
        result(&[("GET /a", 100, ms, 0)])
    }

    fn t(e: &str) -> Threshold {
        Threshold::parse(e).unwrap()
    }

    #[test]
    fn thresholds_judge_the_measured_value() {
        let r = result(&[("GET /a", 100, 20.0, 0), ("GET /b", 100, 200.0, 2)]);
        let v = judge(
            &r,
            &[t("p95<100ms"), t("GET /a: p95<100ms"), t("error_rate<1.5%")],
            &[],
            None,
        )
        .unwrap();
        let passed: Vec<bool> = v.checks.iter().map(|c| c.passed).collect();
        assert_eq!(passed, [false, true, true]);
        assert!(!v.passed);
        assert!(
            v.checks[0].detail.contains("p95 of all requests = 200."),
            "{}",
            v.checks[0].detail
        );
        assert_eq!(v.checks[2].value, Some(1.0));
    }

    #[test]
    fn a_glob_judges_each_endpoint_with_traffic_and_names_are_unique() {
        let r = result(&[
            ("GET /api/a", 10, 5.0, 0),
            ("GET /api/b", 0, 0.0, 0),
            ("POST /api/c", 10, 5.0, 0),
        ]);
        let v = judge(
            &r,
            &[t("GET /api/*: p95<10ms"), t("p95<10ms"), t("p95<10ms")],
            &[],
            None,
        )
        .unwrap();
        let names: Vec<&str> = v.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "threshold: GET /api/*: p95<10ms [GET /api/a]",
                "threshold: p95<10ms",
                "threshold: p95<10ms #2"
            ]
        );
    }

    #[test]
    fn an_exact_endpoint_without_requests_fails_as_not_measured() {
        let r = result(&[("GET /a", 0, 0.0, 0)]);
        let v = judge(&r, &[t("GET /a: p95<10ms"), t("error_rate<1%")], &[], None).unwrap();
        assert!(v.checks.iter().all(|c| !c.passed && c.value.is_none()));
    }

    #[test]
    fn a_selector_matching_nothing_is_an_error() {
        let r = result(&[("GET /a", 1, 1.0, 0)]);
        let err = judge(&r, &[t("GET /b*: p95<10ms")], &[], None).unwrap_err();
        assert!(err.to_string().contains("`GET /a`"), "{err}");
    }

    #[test]
    fn a_regression_needs_both_margins() {
        let base = result(&[("GET /a", 100, 10.0, 0)]);
        let rule = [Regression::parse("p95 +20% +10ms").unwrap()];
        let judge = |ms: f64| {
            let cur = result(&[("GET /a", 100, ms, 0)]);
            regress(&cur, &base, &[], &rule).checks[0].passed
        };
        assert!(judge(15.0), "+50% but only +5 ms");
        assert!(judge(19.9), "+99% but under +10 ms");
        assert!(!judge(25.0), "+150% and +15 ms");
        let base = result(&[("GET /a", 100, 200.0, 0)]);
        let cur = result(&[("GET /a", 100, 230.0, 0)]);
        assert!(regress(&cur, &base, &[], &rule).passed, "+15% < 20%");
    }

    #[test]
    fn throughput_regressions_look_at_drops() {
        let base = result(&[("GET /a", 1000, 10.0, 0)]);
        let cur = result(&[("GET /a", 800, 10.0, 0)]);
        let rule = [Regression::parse("rps -10%").unwrap()];
        let v = regress(&cur, &base, &[], &rule);
        assert!(!v.passed, "{}", v.checks[0].detail);
        assert_eq!(v.checks[0].limit, 90.0);
    }

    #[test]
    fn quantised_results_get_one_bucket_of_tolerance() {
        let base = result(&[("GET /a", 100, 150.0, 0)]);
        let mut cur = result(&[("GET /a", 100, 158.0, 0)]);
        let rule = [Regression::parse("p95 +5%").unwrap()];
        let judge = |cur: &RunResult| {
            judge(
                cur,
                &[],
                &rule,
                Some(Baseline {
                    result: &base,
                    history: &[],
                }),
            )
            .unwrap()
            .passed
        };
        assert!(!judge(&cur), "+5.3% fails on exact numbers");
        cur.run.quantised = true;
        assert!(judge(&cur), "one 10 ms Locust bucket is noise");
    }
}
