//! One regression rule on one endpoint: against the history's centre when there is a history
//! of at least [`judgement::MIN_HISTORY`] runs (see `judgement.rs` for why), else against the
//! previous run alone, saying so. A history value no run produces (`metric::plausible`) is
//! left out before either, and counted in the check's detail: a damaged file must neither set
//! the centre nor become the run compared with.

use super::{
    judgement::{self, Current, Judgement, Outcome, Point, Worse},
    metric::{check_name, metric_value, plausible, quantisation_step, stats_for, Names},
    Check, CheckKind, CheckState, Direction, Finding, Metric, MetricKind, NotJudged, Regression,
    Unit,
};
use crate::stats::{compare_loads, EndpointStats, HistoryEntry, LoadMatch, RunResult};

/// The baseline a regression rule compares against, and the run history it is judged by
/// (newest first; empty: the baseline run alone).
pub(crate) struct Baseline<'a> {
    pub(crate) result: &'a RunResult,
    pub(crate) history: &'a [HistoryEntry],
}

/// What the regression rules of a run are judged against. Decided by the caller from the
/// look-up and the pipeline; every case but a baseline says why nothing was compared.
pub(crate) enum Reference<'a> {
    /// A baseline run and the history it carries.
    Baseline(Baseline<'a>),
    /// No comparison was asked for here (`--baseline none`, or the built-in rules where no
    /// baseline is expected): no regression check at all, and the notes say so.
    Unchecked,
    /// The default branch's first run: nothing was published yet, so the history starts here
    /// and the run may pass (the verdict says so).
    HistoryStarts,
    /// A baseline was expected and is missing: every regression rule is a check not judged
    /// for `reason`, and `why` says what happened (`GitLab answered HTTP 502`).
    Missing { reason: NotJudged, why: String },
}

/// What every regression rule of one verdict is judged against, worked out once.
pub(super) struct Against<'a> {
    pub(super) baseline: &'a Baseline<'a>,
    /// Either run's latencies were rounded by the engine.
    pub(super) quantised: bool,
    /// The rules are the built-in ones.
    pub(super) default_rule: bool,
    /// Set when the baseline ran another load: each difference, for the checks' detail.
    /// Computed here, from the two runs, so no caller can judge across loads by forgetting to.
    pub(super) other_load: Option<String>,
    /// The history's clean runs of this run's load (or whose load is unknown), newest first:
    /// the band every rule is judged by. Runs of another load, or flagged, are left out.
    pub(super) band: Vec<&'a HistoryEntry>,
    /// Set when every earlier run of this load was flagged (a busy host, a starved generator):
    /// why the newest was. There is then no clean run to compare with, and the flagged one is
    /// never used after all.
    pub(super) all_flagged: Option<String>,
}

impl<'a> Against<'a> {
    pub(super) fn new(baseline: &'a Baseline<'a>, current: &RunResult, default_rule: bool) -> Self {
        let load = compare_loads(&baseline.result.run, &current.run);
        Against {
            baseline,
            quantised: current.run.quantised || baseline.result.run.quantised,
            default_rule,
            other_load: (load.matched == LoadMatch::Different).then(|| load.summary()),
            band: (baseline.history.iter())
                .filter(|h| h.in_band(&current.run))
                .collect(),
            all_flagged: all_flagged(baseline, current),
        }
    }
}

/// Why the newest earlier run of this load was flagged, when every one was: the history's
/// runs of this load, or the baseline run alone when it carries no history.
fn all_flagged(baseline: &Baseline<'_>, current: &RunResult) -> Option<String> {
    let alone;
    let runs: Vec<&HistoryEntry> = if baseline.history.is_empty() {
        alone = HistoryEntry::of(baseline.result);
        vec![&alone]
    } else {
        (baseline.history.iter())
            .filter(|h| h.same_load(&current.run) != Some(false))
            .collect()
    };
    match runs.iter().all(|h| h.flagged.is_some()) {
        true => runs.first().and_then(|h| h.flagged.clone()),
        false => None,
    }
}

/// What a rule needs to know about the run it judges.
struct Subject {
    text: String,
    unit: Unit,
    /// The rounding step of the values (Locust's latencies), 0 when exact.
    step: f64,
}

pub(super) fn regression_check(
    unique: &mut Names,
    r: &Regression,
    endpoint: Option<&str>,
    current: &RunResult,
    against: &Against<'_>,
) -> Check {
    let kind = r.metric.kind();
    let stats = stats_for(current, endpoint);
    let value = stats.and_then(|s| metric_value(s, r.metric));
    let Points {
        points: history,
        dropped,
    } = points(against, endpoint, r.metric);
    // The rounding at this run's level and the history's typical one: never at its largest
    // value, or one wild run (a 5 s p95 among 150 ms ones) would make Locust's coarsest
    // bucket the least margin and blind the rule.
    let step = match (against.quantised, kind, history.is_empty()) {
        (true, MetricKind::Latency, false) => {
            let values: Vec<f64> = history.iter().map(|p| p.value).collect();
            quantisation_step(value.unwrap_or(0.0).max(judgement::median(&values)))
        }
        (true, MetricKind::Latency, true) => quantisation_step(value.unwrap_or(0.0)),
        _ => 0.0,
    };
    let subject = Subject {
        text: format!(
            "{} of {}",
            r.metric.label(),
            endpoint.unwrap_or(crate::stats::ALL_REQUESTS)
        ),
        unit: Unit::from(kind),
        step,
    };
    let mut judged = match (&against.other_load, value, history.first()) {
        (Some(why), _, _) => Judged::other_load(value, history.first(), why, &subject),
        (None, _, _) if against.all_flagged.is_some() => Judged::not_judged(
            NotJudged::NoBaseline,
            None,
            format!(
                "{}: no clean run to compare with, every earlier run of this load was flagged ({})",
                subject.text,
                against.all_flagged.as_deref().unwrap_or_default()
            ),
        ),
        (None, Some(v), Some(_)) => judge(r, v, stats, &history, &subject),
        (None, _, None) if dropped > 0 => Judged::nothing_valid(&subject),
        (None, _, None) => Judged::not_judged(
            NotJudged::NoBaseline,
            None,
            nothing_to_compare(against, endpoint, &subject),
        ),
        (None, None, Some(b)) => Judged::not_judged(
            NotJudged::NotMeasured,
            Some(b.value),
            format!(
                "{}: not measured in this run, nothing to compare",
                subject.text
            ),
        ),
    };
    if let Some(note) = left_out(dropped) {
        judged.detail.push_str(&format!("; {note}"));
    }
    let base = RuleCheck {
        r,
        endpoint,
        unit: subject.unit,
        value,
        default_rule: against.default_rule,
    };
    base.check(unique, judged)
}

/// What a regression check says of its rule, whatever it found.
struct RuleCheck<'r> {
    r: &'r Regression,
    endpoint: Option<&'r str>,
    unit: Unit,
    value: Option<f64>,
    default_rule: bool,
}

impl RuleCheck<'_> {
    /// The check of what `judged` found, named uniquely within the verdict.
    fn check(self, unique: &mut Names, judged: Judged) -> Check {
        let r = self.r;
        Check {
            name: unique.unique(format!(
                "regression: {}",
                check_name(&r.source, self.endpoint, r.selector.as_ref())
            )),
            kind: CheckKind::Regression,
            expression: r.source.clone(),
            endpoint: self.endpoint.map(str::to_string),
            metric: r.metric,
            unit: self.unit,
            value: self.value,
            op: judged.op.into(),
            limit: judged.limit,
            baseline: judged.baseline,
            state: judged.state,
            detail: judged.detail,
            default_rule: self.default_rule,
            finding: judged.finding,
        }
    }
}

/// A regression rule on one endpoint that had nothing to compare with: not judged, for
/// `reason`, and `why` says what happened.
pub(super) fn missing_check(
    unique: &mut Names,
    r: &Regression,
    endpoint: Option<&str>,
    current: &RunResult,
    (reason, why): (NotJudged, &str),
    default_rule: bool,
) -> Check {
    let value = stats_for(current, endpoint).and_then(|s| metric_value(s, r.metric));
    let unit = Unit::from(r.metric.kind());
    let subject = endpoint.unwrap_or(crate::stats::ALL_REQUESTS);
    let detail = format!(
        "{} of {subject} = {}; not compared: {why}",
        r.metric.label(),
        value.map_or_else(|| "not measured".into(), |v| unit.format(v)),
    );
    let base = RuleCheck {
        r,
        endpoint,
        unit,
        value,
        default_rule,
    };
    base.check(unique, Judged::not_judged(reason, None, detail))
}

/// Why the baseline has no value: the endpoint is new (the scenario changed), or the baseline
/// did not measure the metric.
fn nothing_to_compare(against: &Against<'_>, endpoint: Option<&str>, subject: &Subject) -> String {
    if stats_for(against.baseline.result, endpoint).is_none() {
        format!(
            "{}: new endpoint, not in the baseline: nothing to compare with",
            subject.text
        )
    } else {
        format!("{}: no baseline value to compare with", subject.text)
    }
}

/// A rule's history values, and how many were left out as values no run produces.
struct Points {
    /// The values judged with, newest first.
    points: Vec<Point>,
    /// Runs whose value was left out (`metric::plausible`).
    dropped: usize,
}

/// The metric over the band (the history's runs of the same load, newest first), or over the
/// baseline run alone when there is no history or none of it ran this load. Runs where it was
/// not measured are left out; so are, counted, values no run produces, so that neither the
/// judgement nor the fallback to the newest run ever uses one.
fn points(against: &Against<'_>, endpoint: Option<&str>, metric: Metric) -> Points {
    let point = |s: &EndpointStats| {
        Some(Point {
            value: metric_value(s, metric)?,
            requests: s.counts_reported.then_some(s.requests),
        })
    };
    let all: Vec<Point> = if against.band.is_empty() {
        stats_for(against.baseline.result, endpoint)
            .and_then(point)
            .into_iter()
            .collect()
    } else {
        (against.band.iter())
            .filter_map(|h| h.endpoint(endpoint).and_then(point))
            .collect()
    };
    let (points, dropped): (Vec<Point>, Vec<Point>) = all
        .into_iter()
        .partition(|p| plausible(metric.kind(), p.value));
    Points {
        points,
        dropped: dropped.len(),
    }
}

/// The detail's words for history runs left out as values no run produces.
fn left_out(dropped: usize) -> Option<String> {
    match dropped {
        0 => None,
        1 => Some("1 history run left out: a value no run produces".into()),
        n => Some(format!("{n} history runs left out: values no run produces")),
    }
}

/// The outcome of one regression rule on one value.
struct Judged {
    state: CheckState,
    limit: f64,
    op: &'static str,
    baseline: Option<f64>,
    detail: String,
    /// What the history judgement found, for every report's words.
    finding: Option<Finding>,
}

impl Judged {
    /// Nothing to compare: not judged, and says why.
    fn not_judged(reason: NotJudged, baseline: Option<f64>, detail: String) -> Judged {
        Judged {
            state: CheckState::NotJudged(reason),
            limit: baseline.unwrap_or(0.0),
            op: "<=",
            baseline,
            detail,
            finding: None,
        }
    }

    /// Every history value was one no run produces: nothing valid is left to compare with, so
    /// there is no baseline for this rule (never the damaged value, never a pass).
    fn nothing_valid(s: &Subject) -> Judged {
        Judged::not_judged(
            NotJudged::NoBaseline,
            None,
            format!("{}: nothing valid to compare with", s.text),
        )
    }

    /// The baseline ran another load: both values are shown, neither judged.
    fn other_load(value: Option<f64>, base: Option<&Point>, why: &str, s: &Subject) -> Judged {
        let shown = |v: Option<f64>| v.map_or_else(|| "not measured".into(), |v| s.unit.format(v));
        Judged::not_judged(
            NotJudged::NotComparable,
            base.map(|b| b.value),
            format!(
                "{} = {} vs baseline {}: not comparable, the baseline ran another load ({why})",
                s.text,
                shown(value),
                shown(base.map(|b| b.value)),
            ),
        )
    }
}

fn judge(
    r: &Regression,
    v: f64,
    stats: Option<&EndpointStats>,
    history: &[Point],
    subject: &Subject,
) -> Judged {
    let margin = |centre: f64| {
        (centre.abs() * r.relative)
            .max(r.absolute.unwrap_or(0.0))
            .max(subject.step)
    };
    let worse = match r.direction {
        Direction::Growth => Worse::Up,
        Direction::Drop => Worse::Down,
    };
    let current = Current {
        value: v,
        requests: stats.filter(|s| s.counts_reported).map(|s| s.requests),
        sampling_error: stats.and_then(|s| sampling_error(s, r.metric)),
    };
    match judgement::judge(worse, margin, current, history, subject.step) {
        Some(j) => by_history(r, v, &j, margin(j.centre), subject),
        None => by_previous_run(r, v, history, margin, subject),
    }
}

/// One standard error of this run's value from sampling alone, where it can be estimated.
fn sampling_error(stats: &EndpointStats, metric: Metric) -> Option<f64> {
    let requests = stats.counts_reported.then_some(stats.requests)?;
    match metric {
        Metric::Percentile(q) => {
            let h = stats.histogram.as_ref()?;
            judgement::percentile_sampling_error(q, requests, |x| h.percentile_ms(x))
        }
        Metric::Avg => {
            let h = stats.histogram.as_ref()?;
            Some(h.stdev_ms()? / (requests as f64).sqrt())
        }
        Metric::ErrorRate => judgement::rate_sampling_error(stats.error_rate, requests),
        _ => None,
    }
}

/// Against the history's centre, with the decision point the noise allows.
fn by_history(r: &Regression, v: f64, j: &Judgement, margin: f64, s: &Subject) -> Judged {
    let u = s.unit;
    let (limit, op) = match r.direction {
        Direction::Growth => (j.centre + j.decision, "<="),
        Direction::Drop => (j.centre - j.decision, ">="),
    };
    let sign = match r.direction {
        Direction::Growth => 1.0,
        Direction::Drop => -1.0,
    };
    let outcome = j.outcome(margin);
    let finding = Finding {
        outcome,
        change: v - j.centre,
        noise: j.noise,
        detectable: j.detectable,
        margin_relative: sign * r.relative,
        margin_absolute: r.absolute.map(|a| sign * a),
    };
    let detail = format!(
        "{} = {} vs {} (median of {} runs, spread ±{}): {}; decision point {}",
        s.text,
        u.format(v),
        u.format(j.centre),
        j.runs,
        u.format(j.spread),
        finding.words(j.centre, u),
        change_text(j.decision, j.centre, u),
    );
    let state = match outcome {
        Outcome::Regression => CheckState::Failed,
        Outcome::TooNoisy => CheckState::NotJudged(NotJudged::TooNoisy),
        _ => CheckState::Passed,
    };
    Judged {
        state,
        limit,
        op,
        baseline: Some(j.centre),
        detail,
        finding: Some(finding),
    }
}

/// A change as a percentage of `centre` (and in the unit when the centre is zero).
fn change_text(change: f64, centre: f64, unit: Unit) -> String {
    if centre != 0.0 {
        format!("{:+.1}%", change / centre.abs() * 100.0)
    } else {
        format!("+{}", unit.format(change))
    }
}

/// Too little history: the previous run is the baseline, and the value may move by the larger
/// of the relative and the absolute margin. `history` holds only valid values (`points`), so
/// the run compared with is the newest whose value a run can produce.
fn by_previous_run(
    r: &Regression,
    v: f64,
    history: &[Point],
    margin: impl Fn(f64) -> f64,
    s: &Subject,
) -> Judged {
    let b = history[0].value;
    let allowed = margin(b);
    let (limit, op, ok) = match r.direction {
        Direction::Growth => (b + allowed, "<=", v - b <= allowed),
        Direction::Drop => (b - allowed, ">=", b - v <= allowed),
    };
    let change = if b != 0.0 {
        format!(" ({:+.1}%)", (v - b) / b.abs() * 100.0)
    } else {
        String::new()
    };
    let mut detail = format!(
        "{} = {} vs baseline {}{change}, allowed {op} {}",
        s.text,
        s.unit.format(v),
        s.unit.format(b),
        s.unit.format(limit)
    );
    if history.len() > 1 {
        detail.push_str(&format!(
            " (a history of {} runs is too short to judge noise: compared with the previous run only)",
            history.len()
        ));
    }
    Judged {
        state: CheckState::judged(ok),
        limit,
        op,
        baseline: Some(b),
        detail,
        finding: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::tests::{regress, result_for_noise};
    use super::super::{CheckState, Outcome};
    use super::*;

    fn runs(ms: &[f64]) -> Vec<RunResult> {
        ms.iter().map(|&m| result_for_noise(m)).collect()
    }

    fn check(current: f64, base: f64, history: &[f64], rule: &str) -> Check {
        let v = regress(
            &result_for_noise(current),
            &result_for_noise(base),
            &runs(history),
            &[Regression::parse(rule).unwrap()],
        );
        v.checks[0].clone()
    }

    fn detail(current: f64, base: f64, history: &[f64], rule: &str) -> (bool, String) {
        let c = check(current, base, history, rule);
        (c.passed(), c.detail)
    }

    /// Judged on exact values (no histogram's rounding, no sampling error).
    fn exact(current: f64, history: &[f64], rule: &str) -> (Judged, String) {
        let points: Vec<Point> = (history.iter())
            .map(|&value| Point {
                value,
                requests: None,
            })
            .collect();
        let subject = Subject {
            text: "p95 of all requests".into(),
            unit: Unit::Millis,
            step: 0.0,
        };
        let judged = judge(
            &Regression::parse(rule).unwrap(),
            current,
            None,
            &points,
            &subject,
        );
        let centre = judged.baseline.unwrap();
        let words = judged.finding.unwrap().words(centre, Unit::Millis);
        (judged, words)
    }

    fn outcome(c: &Check) -> Outcome {
        c.finding.expect("judged against a history").outcome
    }

    #[test]
    fn a_quiet_history_is_the_baseline_and_its_centre_is_reported() {
        let history = [10.2, 9.8, 10.1, 9.9, 10.0];
        let slow = check(12.5, 10.0, &history, "p95 +20% +1ms");
        assert!(!slow.passed(), "{}", slow.detail);
        assert_eq!(outcome(&slow), Outcome::Regression);
        assert!(slow.detail.contains("median of 6 runs"), "{}", slow.detail);
        assert!(
            slow.detail
                .contains(": regression: +24.8%, beyond the +20% / +1 ms margin; decision point +"),
            "{}",
            slow.detail
        );
        let same = check(10.3, 10.0, &history, "p95 +20% +1ms");
        assert!(same.passed(), "{}", same.detail);
        assert_eq!(outcome(&same), Outcome::WithinNoise);
        assert!(same.detail.contains(": within noise: +"), "{}", same.detail);
        let (same, words) = exact(10.03, &[10.2, 9.8, 10.1, 9.9, 10.0, 10.0], "p95 +20% +1ms");
        assert_eq!(same.finding.unwrap().outcome, Outcome::WithinNoise);
        assert_eq!(words, "within noise: +0.3%, inside ±5.3%");
    }

    /// The example: +14.5 % against a history whose spread is ±0.04 ms is real, and
    /// merely below the rule's +10 ms margin; it is not "within noise".
    #[test]
    fn a_real_change_below_the_margin_says_so_with_its_numbers() {
        let history = [
            16.03, 16.15, 16.09, 16.12, 16.05, 16.09, 16.14, 16.04, 16.06, 16.13,
        ];
        let (j, words) = exact(18.43, &history, "p95 +20% +10ms");
        assert!(j.state == CheckState::Passed, "{}", j.detail);
        let f = j.finding.unwrap();
        assert_eq!(f.outcome, Outcome::BelowMargin);
        assert_eq!(
            words,
            "below the margin: +14.5% is beyond noise (±0.8%) but below the +20% / +10 ms margin"
        );
        assert!(!j.detail.contains("within noise"), "{}", j.detail);
        assert!(j.detail.contains("spread ±0.04 ms"), "{}", j.detail);
        assert!(
            j.detail
                .ends_with(&format!(": {words}; decision point +61.6%")),
            "{}",
            j.detail
        );
        // The same through the whole gate, on a histogram's rounded values.
        let c = check(18.43, 16.09, &history, "p95 +20% +10ms");
        assert!(c.passed(), "{}", c.detail);
        assert_eq!(outcome(&c), Outcome::BelowMargin, "{}", c.detail);
        assert!(c.detail.contains(&c.words().unwrap()), "{}", c.detail);
    }

    #[test]
    fn a_real_improvement_is_not_within_noise() {
        let history = [10.2, 9.8, 10.1, 9.9, 10.0];
        let c = check(8.0, 10.0, &history, "p95 +20%");
        assert!(c.passed(), "{}", c.detail);
        assert_eq!(outcome(&c), Outcome::Improvement);
        assert!(
            c.words()
                .unwrap()
                .starts_with("improvement: -20.1%, beyond noise"),
            "{}",
            c.detail
        );
        // A throughput rule: the drop is the worse way, and growth the better.
        let c = check(10.1, 10.0, &history, "p95 -20% -1ms");
        assert_eq!(outcome(&c), Outcome::WithinNoise, "{}", c.detail);
        let c = check(8.0, 10.0, &history, "p95 -10%");
        assert_eq!(outcome(&c), Outcome::Regression, "{}", c.detail);
        assert!(c.detail.contains("beyond the -10% margin"), "{}", c.detail);
    }

    #[test]
    fn a_creep_is_judged_against_the_older_runs() {
        // Against the previous run (11.6) the last step is +4 %; against the history's centre
        // it is +22 %.
        let history = [11.0, 10.5, 10.0, 10.1, 9.9, 10.0, 10.2];
        let (passed, text) = detail(12.2, 11.6, &history, "p95 +20%");
        assert!(!passed, "{text}");
    }

    #[test]
    fn a_short_history_compares_with_the_previous_run_and_says_so() {
        let (passed, text) = detail(13.0, 10.0, &[10.0], "p95 +20%");
        assert!(!passed);
        assert!(
            text.contains("compared with the previous run only"),
            "{text}"
        );
        let (_, alone) = detail(13.0, 10.0, &[], "p95 +20%");
        assert!(!alone.contains("history"), "{alone}");
    }

    /// A run whose p95 is `ms` as the file says, whatever its requests measured.
    fn p95_of(ms: f64) -> RunResult {
        let mut r = result_for_noise(40.0);
        r.aggregate.latency_ms.p95 = Some(ms);
        r
    }

    #[test]
    fn too_few_valid_runs_compare_with_the_newest_valid_one() {
        let v = regress(
            &result_for_noise(240.0),
            &p95_of(1e308),
            &runs(&[40.0, 40.0]),
            &[Regression::parse("p95 +20% +10ms").unwrap()],
        );
        let c = &v.checks[0];
        assert_eq!(c.state(), CheckState::Failed, "{}", c.detail);
        assert_eq!(c.baseline.map(|b| b.round()), Some(40.0), "{}", c.detail);
        assert!(
            c.detail
                .contains("compared with the previous run only); 1 history run left out"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn every_kind_of_value_no_run_produces_is_left_out_and_counted() {
        let rule = |text: &str| [Regression::parse(text).unwrap()];
        let mut earlier = runs(&[40.0; 10]);
        earlier.push(p95_of(-5.0));
        let v = regress(
            &result_for_noise(40.0),
            &p95_of(3.7e6),
            &earlier,
            &rule("p95 +20%"),
        );
        let c = &v.checks[0];
        assert_eq!(c.state(), CheckState::Passed, "{}", c.detail);
        assert!(c.detail.contains("median of 10 runs"), "{}", c.detail);
        assert!(
            c.detail
                .ends_with("; 2 history runs left out: values no run produces"),
            "{}",
            c.detail
        );
        let mut wrong = result_for_noise(40.0);
        wrong.aggregate.error_rate = 150.0;
        let v = regress(
            &result_for_noise(40.0),
            &wrong,
            &earlier,
            &rule("error_rate +1%"),
        );
        assert!(v.checks[0].detail.contains("1 history run left out"));
    }

    /// Nothing valid left: not a pass, and told apart from "no baseline" by its words.
    #[test]
    fn nothing_valid_to_compare_with_is_not_judged() {
        let v = regress(
            &result_for_noise(240.0),
            &p95_of(f64::INFINITY),
            &[],
            &[Regression::parse("p95 +20%").unwrap()],
        );
        let c = &v.checks[0];
        assert_eq!(
            c.state(),
            CheckState::NotJudged(NotJudged::NoBaseline),
            "{}",
            c.detail
        );
        assert_eq!(
            c.detail,
            "p95 of all requests: nothing valid to compare with; 1 history run left out: a value no run produces"
        );
    }

    #[test]
    fn values_a_run_can_produce_are_plausible() {
        use MetricKind::*;
        for (kind, value, ok) in [
            (Latency, 0.0, true),
            (Latency, 3_600_000.0, true),
            (Latency, 3_600_001.0, false),
            (Latency, -0.5, false),
            (Latency, f64::NAN, false),
            (Ratio, 100.0, true),
            (Ratio, 100.5, false),
            (Count, 1e15, true),
            (Rate, 1e17, false),
            (Count, f64::INFINITY, false),
        ] {
            assert_eq!(plausible(kind, value), ok, "{kind:?} {value}");
        }
    }

    /// The audit's case: when every history run of the band was flagged, the flagged run was
    /// used after all. There is no clean run to compare with: not judged, saying why.
    #[test]
    fn a_band_of_flagged_runs_only_is_not_judged_never_the_flagged_run() {
        let starved = |ms: f64| {
            let mut r = result_for_noise(ms);
            r.run.generator = Some(crate::stats::starved_generator());
            r
        };
        let rule = [Regression::parse("p95 +20%").unwrap()];
        let slower = result_for_noise(30.0);
        for earlier in [vec![starved(10.2), starved(9.9), starved(10.1)], vec![]] {
            let v = regress(&slower, &starved(10.0), &earlier, &rule);
            let c = &v.checks[0];
            assert_eq!(
                c.state(),
                CheckState::NotJudged(NotJudged::NoBaseline),
                "{}",
                c.detail
            );
            assert!(
                c.detail
                    .contains("every earlier run of this load was flagged (load generator starved"),
                "{}",
                c.detail
            );
        }
        // One clean run among them is the band: judged, and the slowdown fails.
        let earlier = [starved(10.2), result_for_noise(9.9), starved(10.1)];
        let v = regress(&slower, &starved(10.0), &earlier, &rule);
        assert_eq!(
            v.checks[0].state(),
            CheckState::Failed,
            "{}",
            v.checks[0].detail
        );
    }

    /// An endpoint that stopped getting answers altogether is the worst regression there is:
    /// its rule, not measured in this run, is not judged (exit 5), never passed.
    #[test]
    fn an_endpoint_not_measured_in_this_run_is_not_judged_never_passed() {
        use crate::gate::evaluate::tests::result;
        let base = result(&[("GET /a", 100, 10.0, 0), ("GET /b", 100, 10.0, 0)]);
        let current = result(&[("GET /a", 0, 0.0, 0), ("GET /b", 100, 10.0, 0)]);
        let rule = [Regression::parse("GET /a: p95 +20%").unwrap()];
        let v = regress(&current, &base, &[], &rule);
        let c = &v.checks[0];
        assert_eq!(
            c.state(),
            CheckState::NotJudged(NotJudged::NotMeasured),
            "{}",
            c.detail
        );
        assert_eq!(v.outcome(), crate::exit::Outcome::NotJudged);
        assert!(
            c.detail.contains("not measured in this run"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn a_noisy_history_says_what_it_cannot_see() {
        let history = [14.0, 7.0, 12.0, 8.0, 13.0, 6.0];
        let c = check(12.0, 10.0, &history, "p95 +20%");
        assert_eq!(
            c.state(),
            CheckState::NotJudged(NotJudged::TooNoisy),
            "too noisy is not a pass: {}",
            c.detail
        );
        assert_eq!(outcome(&c), Outcome::TooNoisy);
        let words = c.words().unwrap();
        assert!(words.starts_with("too noisy to judge below +"), "{words}");
        assert!(words.ends_with("the rule asks for +20%"), "{words}");
        assert!(c.detail.contains(&words), "{}", c.detail);
    }
}
