use std::collections::HashSet;

use super::{
    metric::{check_name, metric_value, stats_for, Names},
    paired_check,
    regression::{missing_check, regression_check, Against, Reference},
    Check, CheckKind, CheckState, GateError, Metric, MetricKind, NotJudged, Regression, Rules,
    Selector, Threshold, Unit, Verdict,
};
use crate::stats::{Excuse, RunResult, OTHER_ENDPOINTS};

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

/// Judges a run: every threshold on the run itself, every regression rule against what
/// `reference` says (a baseline, or why there is none), and what k6 said of the script's own
/// thresholds and checks (`gate/k6.rs`). A selector that names no endpoint is an error, not a
/// silent pass.
pub(crate) fn evaluate(
    result: &RunResult,
    thresholds: &Rules<Threshold>,
    regressions: &Rules<Regression>,
    reference: &Reference<'_>,
) -> Result<Verdict, GateError> {
    let names: Vec<&str> = result.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut unique = Names::default();
    let mut checks = Vec::new();
    for t in thresholds.iter() {
        let rule = (t.source.as_str(), t.selector.as_ref(), t.metric);
        let (folded, judged) = rule_endpoints(result, &names, rule, CheckKind::Threshold)?;
        checks.extend(folded.map(|c| unique.named(c)));
        for endpoint in judged {
            let mut check = threshold_check(t, endpoint, result);
            check.name = unique.unique(check.name);
            check.default_rule = thresholds.is_built_in();
            checks.push(check);
        }
    }
    let (regressions, paired) =
        regression_checks(result, &names, regressions, reference, &mut unique)?;
    checks.extend(regressions);
    // k6's own verdicts on the script's thresholds and checks, beside the gate's rules.
    checks.extend(super::k6::k6_checks(result, &mut unique));
    // A paired check had its starved slices left to its own judgement: the run's stall says
    // nothing about a change measured against a base that shared it.
    starved_latency_checks(result, &mut checks, &paired);
    Ok(Verdict::of(
        checks,
        matches!(reference, Reference::HistoryStarts),
    ))
}

/// Every regression rule's checks, and the names of those judged on a paired run's slices.
/// A paired run (`run.paired`) judges each rule whose metric its slices keep against the base
/// measured beside it, whatever the look-up found: the base is there. Every other rule is
/// judged against the baseline, or, when a baseline was expected and is missing, not judged
/// for that reason; none when no comparison was asked for.
fn regression_checks(
    result: &RunResult,
    names: &[&str],
    regressions: &Rules<Regression>,
    reference: &Reference<'_>,
    unique: &mut Names,
) -> Result<(Vec<Check>, HashSet<String>), GateError> {
    let built_in = regressions.is_built_in();
    let against = match reference {
        Reference::Baseline(base) => Some(Ok(Against::new(base, result, built_in))),
        Reference::Missing { reason, why } => Some(Err((*reason, why.as_str()))),
        Reference::Unchecked | Reference::HistoryStarts => None,
    };
    let mut checks = Vec::new();
    let mut paired = HashSet::new();
    for r in regressions.iter() {
        let slices = (result.paired.as_ref()).zip(paired_check::slice_metric(r.metric));
        if slices.is_none() && against.is_none() {
            continue;
        }
        let rule = (r.source.as_str(), r.selector.as_ref(), r.metric);
        let (folded, judged) = rule_endpoints(result, names, rule, CheckKind::Regression)?;
        checks.extend(folded.map(|c| unique.named(c)));
        for endpoint in judged {
            checks.push(match (slices, &against) {
                (Some(s), _) => {
                    let c = paired_check::paired_check(unique, r, endpoint, result, s, built_in);
                    paired.insert(c.name.clone());
                    c
                }
                (None, Some(Ok(a))) => regression_check(unique, r, endpoint, result, a),
                (None, Some(Err(missing))) => {
                    missing_check(unique, r, endpoint, result, *missing, built_in)
                }
                (None, None) => unreachable!("a rule with neither is skipped above"),
            });
        }
    }
    Ok((checks, paired))
}

/// When the load generator was starved or crowded during the run, a failed latency check
/// (threshold or regression) is not judged if the generator's measured stall could account for
/// its change, with the figures; beyond that it stays failed and says what was allowed for
/// (`GeneratorHealth::excuse`, the rule). Error rates, counts and rates are judged as before.
fn starved_latency_checks(result: &RunResult, checks: &mut [Check], paired: &HashSet<String>) {
    let Some(generator) = &result.run.generator else {
        return;
    };
    for c in checks.iter_mut().filter(|c| !paired.contains(&c.name)) {
        if c.state() == CheckState::Failed && c.metric.kind() == MetricKind::Latency {
            let Some(change) = latency_change(c) else {
                continue;
            };
            match generator.excuse(result.aggregate.latency_ms.p99, change) {
                Some(Excuse::NotJudged(reason)) => {
                    c.detail = format!("not judged ({reason}); {}", c.detail);
                    c.state = CheckState::NotJudged(NotJudged::GeneratorStarved);
                }
                Some(Excuse::Failed(words)) => c.detail = format!("{words}; {}", c.detail),
                None => {}
            }
        }
    }
}

/// How far a latency check is past what it was held to, in milliseconds: a regression's value
/// less its baseline, a threshold's value less its limit; `None` when nothing was measured
/// (a stall accounts for no missing value).
fn latency_change(c: &Check) -> Option<f64> {
    let from = match c.kind {
        CheckKind::Regression => c.baseline?,
        CheckKind::Threshold => c.limit,
        // Counts k6 reported, never a latency of the gate's.
        CheckKind::K6Threshold | CheckKind::K6Check => return None,
    };
    Some(c.value? - from)
}

/// A rule's source text, selector and metric.
type Rule<'r> = (&'r str, Option<&'r Selector>, Metric);

/// The failing check for what of a rule the cardinality guard folded away, and the endpoints
/// the rule judges besides. An exact name that was folded is judged no further; a glob still
/// judges the kept endpoints it matches (and matching only folded ones is no error).
fn rule_endpoints<'a>(
    result: &RunResult,
    names: &[&'a str],
    (source, selector, metric): Rule<'_>,
    kind: CheckKind,
) -> Result<(Option<Check>, Vec<Option<&'a str>>), GateError> {
    let Some(part) = folded_part(result, selector) else {
        let hits = resolve_selector(source, selector, names)?;
        return Ok((None, judged_endpoints(result, selector, hits)));
    };
    let judged = match resolve_selector(source, selector, names) {
        Ok(hits) if part.glob => judged_endpoints(result, selector, hits),
        _ => Vec::new(),
    };
    Ok((Some(folded_check(source, &part, metric, kind)), judged))
}

/// What of a selector the cardinality guard folded away.
struct FoldedPart {
    /// Whom the check names: the endpoint, or the glob.
    subject: String,
    glob: bool,
}

/// The part of `selector` that was folded: the endpoint an exact name names, or the folded
/// names a glob matches. A glob on a run whose folded names are not all known (a results.json
/// read back keeps only their count) may match any of them, so it counts as folded too: a
/// glob must not pass on the endpoints that happened to stay.
fn folded_part(result: &RunResult, selector: Option<&Selector>) -> Option<FoldedPart> {
    let sel = selector?;
    let folded = result.run.folded.as_ref().filter(|f| f.names > 0)?;
    if !sel.is_glob() {
        return folded.folded_names.contains(sel.raw()).then(|| FoldedPart {
            subject: sel.raw().to_string(),
            glob: false,
        });
    }
    let mut matching: Vec<&str> = (folded.folded_names.iter())
        .filter(|n| sel.matches(n))
        .map(String::as_str)
        .collect();
    matching.sort_unstable();
    let subject = match (matching.first(), folded.folded_names.len() < folded.names) {
        (Some(first), _) => format!(
            "{} folded endpoints matching `{}` (`{first}`, ...)",
            matching.len(),
            sel.raw()
        ),
        (None, true) => format!("the folded endpoints `{}` may match", sel.raw()),
        (None, false) => return None,
    };
    Some(FoldedPart {
        subject,
        glob: true,
    })
}

/// A rule on a folded endpoint fails: it was not measured on its own, and a gate must not
/// pass what it could not see.
fn folded_check(source: &str, part: &FoldedPart, metric: Metric, kind: CheckKind) -> Check {
    let prefix = match kind {
        CheckKind::Threshold => "threshold",
        CheckKind::Regression => "regression",
        CheckKind::K6Threshold | CheckKind::K6Check => "k6",
    };
    let name = match part.glob {
        true => format!("{prefix}: {source} [{OTHER_ENDPOINTS}]"),
        false => format!("{prefix}: {source}"),
    };
    Check {
        name,
        kind,
        expression: source.to_string(),
        endpoint: Some(part.subject.clone()),
        metric,
        unit: Unit::from(metric.kind()),
        value: None,
        op: "<".into(),
        limit: 0.0,
        baseline: None,
        state: CheckState::Failed,
        detail: format!(
            "{} of {}: not measured (folded into `{OTHER_ENDPOINTS}` by --max-endpoints; raise it or name the requests)",
            metric.label(),
            part.subject
        ),
        default_rule: false,
        finding: None,
    }
}

/// One threshold on one endpoint (or the aggregate); its name is made unique by the caller.
fn threshold_check(t: &Threshold, endpoint: Option<&str>, result: &RunResult) -> Check {
    let unit = Unit::from(t.metric.kind());
    let value = stats_for(result, endpoint).and_then(|s| metric_value(s, t.metric));
    let passed = value.is_some_and(|v| t.op.holds(v, t.limit));
    let limit_text = format!("{} {}", t.op.symbol(), unit.format(t.limit));
    let subject = endpoint.unwrap_or(crate::stats::ALL_REQUESTS);
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
        state: CheckState::judged(passed),
        detail,
        default_rule: false,
        finding: None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::super::Outcome;
    use super::*;
    use crate::gate::Baseline;

    /// `evaluate` with configured rules.
    fn judge(
        r: &RunResult,
        thresholds: &[Threshold],
        regressions: &[Regression],
        reference: Reference<'_>,
    ) -> Result<Verdict, GateError> {
        evaluate(
            r,
            &Rules::configured(thresholds.to_vec()),
            &Rules::configured(regressions.to_vec()),
            &reference,
        )
    }
    use crate::stats::{EndpointStats, HistoryEntry, LatencyHistogram};

    /// A result whose endpoints each saw `n` requests at `ms` milliseconds, `failed` of them failed.
    pub(in crate::gate) fn result(endpoints: &[(&str, u64, f64, u64)]) -> RunResult {
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
            Reference::Baseline(Baseline {
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
            Reference::Unchecked,
        )
        .unwrap();
        let passed: Vec<bool> = v.checks.iter().map(|c| c.passed()).collect();
        assert_eq!(passed, [false, true, true]);
        assert!(!v.passed());
        assert!(
            v.checks[0].detail.contains("p95 of all requests = 200."),
            "{}",
            v.checks[0].detail
        );
        assert_eq!(v.checks[2].value, Some(1.0));
    }

    /// A result whose endpoints past the first `kept` were folded (their names recorded, or,
    /// as in a results.json read back, only counted).
    fn folded_result(kept: usize, names_known: bool) -> RunResult {
        let all = [
            ("GET /e/1", 10, 5.0, 0),
            ("GET /e/2", 10, 900.0, 0),
            ("GET /f/1", 10, 900.0, 0),
        ];
        let mut r = result(&all[..kept]);
        let names = all[kept..].iter().map(|e| e.0.to_string()).collect();
        let mut folded = crate::stats::Folded::of_names(kept, names);
        if !names_known {
            folded.folded_names.clear();
        }
        r.run.folded = Some(folded);
        r
    }

    #[test]
    fn a_glob_that_matches_folded_names_fails_as_not_measured_beside_the_kept_ones() {
        // `GET /e/2` (slow) was folded: the glob must not pass on `GET /e/1` alone.
        let v = judge(
            &folded_result(1, true),
            &[t("GET /e/*: p95<100ms")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert!(!v.passed());
        let details: Vec<(&str, bool)> = v
            .checks
            .iter()
            .map(|c| (c.detail.as_str(), c.passed()))
            .collect();
        assert_eq!(
            details,
            [
                ("p95 of 1 folded endpoints matching `GET /e/*` (`GET /e/2`, ...): not measured (folded into `(other endpoints)` by --max-endpoints; raise it or name the requests)", false),
                ("p95 of GET /e/1 = 5.02 ms, limit < 100.00 ms", true),
            ]
        );
        // Only folded names match: no "matches nothing" error, a failure.
        let v = judge(
            &folded_result(0, true),
            &[t("GET /f/*: p95<100ms")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert_eq!(v.checks.len(), 1);
        assert!(
            !v.passed()
                && v.checks[0]
                    .detail
                    .contains("1 folded endpoints matching `GET /f/*`")
        );
        // A glob no folded name matches is judged as before.
        let v = judge(
            &folded_result(2, true),
            &[t("GET /e/*: p95<1s")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert!(v.passed(), "{:?}", v.checks);
    }

    #[test]
    fn a_glob_on_a_run_whose_folded_names_are_unknown_fails() {
        let v = judge(
            &folded_result(2, false),
            &[t("GET /e/*: p95<1s")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert!(!v.passed());
        assert!(
            v.checks[0]
                .detail
                .contains("the folded endpoints `GET /e/*` may match"),
            "{}",
            v.checks[0].detail
        );
        // An exact name that stayed is judged as before.
        let v = judge(
            &folded_result(2, false),
            &[t("GET /e/1: p95<1s")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert!(v.passed());
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
            Reference::Unchecked,
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
        let v = judge(
            &r,
            &[t("GET /a: p95<10ms"), t("error_rate<1%")],
            &[],
            Reference::Unchecked,
        )
        .unwrap();
        assert!(v.checks.iter().all(|c| !c.passed() && c.value.is_none()));
    }

    #[test]
    fn a_selector_matching_nothing_is_an_error() {
        let r = result(&[("GET /a", 1, 1.0, 0)]);
        let err = judge(&r, &[t("GET /b*: p95<10ms")], &[], Reference::Unchecked).unwrap_err();
        assert!(err.to_string().contains("`GET /a`"), "{err}");
    }

    #[test]
    fn a_regression_needs_both_margins() {
        let base = result(&[("GET /a", 100, 10.0, 0)]);
        let rule = [Regression::parse("p95 +20% +10ms").unwrap()];
        let judge = |ms: f64| {
            let cur = result(&[("GET /a", 100, ms, 0)]);
            regress(&cur, &base, &[], &rule).checks[0].passed()
        };
        assert!(judge(15.0), "+50% but only +5 ms");
        assert!(judge(19.9), "+99% but under +10 ms");
        assert!(!judge(25.0), "+150% and +15 ms");
        let base = result(&[("GET /a", 100, 200.0, 0)]);
        let cur = result(&[("GET /a", 100, 230.0, 0)]);
        assert!(regress(&cur, &base, &[], &rule).passed(), "+15% < 20%");
    }

    #[test]
    fn throughput_regressions_look_at_drops() {
        let base = result(&[("GET /a", 1000, 10.0, 0)]);
        let cur = result(&[("GET /a", 800, 10.0, 0)]);
        let rule = [Regression::parse("rps -10%").unwrap()];
        let v = regress(&cur, &base, &[], &rule);
        assert!(!v.passed(), "{}", v.checks[0].detail);
        assert_eq!(v.checks[0].limit, 90.0);
    }

    /// One wild run in a history of equal values does not blind a rule (issue 29): the MAD of
    /// ties is 0, and the wild run must be set aside rather than set the spread.
    #[test]
    fn twenty_percent_errors_against_nineteen_0_percent_runs_and_one_50_percent_run_regresses() {
        let errors = |failed: u64| result(&[("GET /a", 100, 40.0, failed)]);
        let mut earlier: Vec<RunResult> = (0..18).map(|_| errors(0)).collect();
        earlier.push(errors(50));
        let rule = [Regression::parse("error_rate +50% +1%").unwrap()];
        let v = regress(&errors(20), &errors(0), &earlier, &rule);
        let c = &v.checks[0];
        assert_eq!(c.state(), CheckState::Failed, "{}", c.detail);
        assert_eq!(c.finding.map(|f| f.outcome), Some(Outcome::Regression));
        let same = regress(&errors(0), &errors(0), &earlier, &rule);
        assert_eq!(same.checks[0].state(), CheckState::Passed);
    }

    #[test]
    fn six_times_the_p95_against_nineteen_equal_runs_and_one_5_s_run_regresses() {
        let mut earlier: Vec<RunResult> = (0..18).map(|_| result_for_noise(40.0)).collect();
        earlier.push(result_for_noise(5000.0));
        let rule = [Regression::parse("p95 +20% +10ms").unwrap()];
        let base = result_for_noise(40.0);
        let v = regress(&result_for_noise(240.0), &base, &earlier, &rule);
        let c = &v.checks[0];
        assert_eq!(c.state(), CheckState::Failed, "{}", c.detail);
        assert_eq!(c.finding.map(|f| f.outcome), Some(Outcome::Regression));
        let same = regress(&result_for_noise(40.0), &base, &earlier, &rule);
        assert_eq!(same.checks[0].state(), CheckState::Passed);
    }

    /// A value no run produces (from a damaged or hand-made results.json) is left out and
    /// counted, never the run compared with: 1e308 once made the judgement overflow, and the
    /// fallback then compared with that very run, passing a 6x slowdown.
    #[test]
    fn a_1e308_in_history_is_dropped_and_said() {
        let mut base = result_for_noise(40.0);
        base.aggregate.latency_ms.p95 = Some(1e308);
        let earlier: Vec<RunResult> = (0..19).map(|_| result_for_noise(40.0)).collect();
        let rule = [Regression::parse("p95 +20% +10ms").unwrap()];
        let v = regress(&result_for_noise(240.0), &base, &earlier, &rule);
        let c = &v.checks[0];
        assert_eq!(c.state(), CheckState::Failed, "{}", c.detail);
        assert!(c.detail.contains("median of 19 runs"), "{}", c.detail);
        assert!(
            c.detail
                .ends_with("; 1 history run left out: a value no run produces"),
            "{}",
            c.detail
        );
        let same = regress(&result_for_noise(40.0), &base, &earlier, &rule);
        assert_eq!(same.checks[0].state(), CheckState::Passed);
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
                Reference::Baseline(Baseline {
                    result: &base,
                    history: &[],
                }),
            )
            .unwrap()
            .passed()
        };
        assert!(!judge(&cur), "+5.3% fails on exact numbers");
        cur.run.quantised = true;
        assert!(judge(&cur), "one 10 ms Locust bucket is noise");
    }
}
