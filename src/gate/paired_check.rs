//! A regression rule judged on a paired run's slices (`run.paired`, `--compare-host`): the
//! change against the base measured beside it in the same job, window by window
//! (`paired::judge`), instead of against earlier runs. The base is there whatever the history
//! holds, so the rule is judged with no baseline at all, and a runner that slowed down during
//! the job slowed both sides. A metric the slices do not keep (`min`, `max`, `p90`, counts) is
//! left to the history judgement, as in any run.

use super::{
    metric::{check_name, metric_value, stats_for, Names},
    paired::{self, Margin},
    paired_stall::{weigh, StallWords, Weighed},
    Check, CheckKind, Metric, Regression, Unit,
};
use crate::stats::{PairedRun, RunResult, SliceMetric};

/// The slices' form of a rule's metric, when they keep it.
pub(super) fn slice_metric(metric: Metric) -> Option<SliceMetric> {
    Some(match metric {
        Metric::Percentile(50.0) => SliceMetric::P50,
        Metric::Percentile(95.0) => SliceMetric::P95,
        Metric::Percentile(99.0) => SliceMetric::P99,
        Metric::Avg => SliceMetric::Mean,
        Metric::ErrorRate => SliceMetric::ErrorRate,
        Metric::Rps => SliceMetric::Rps,
        _ => return None,
    })
}

/// The check of rule `r` on `endpoint`, judged on the paired run's slices.
pub(super) fn paired_check(
    unique: &mut Names,
    r: &Regression,
    endpoint: Option<&str>,
    current: &RunResult,
    (run, metric): (&PairedRun, SliceMetric),
    default_rule: bool,
) -> Check {
    let unit = Unit::from(r.metric.kind());
    let Weighed {
        judged,
        state,
        stall,
    } = weigh(run, (endpoint, metric), Margin::of(r), unit);
    let found = match stall {
        None => words(&judged, unit, current, run),
        Some(StallWords::Same(note)) => words(&judged, unit, current, run) + &note,
        Some(StallWords::Decides(instead)) => instead,
    };
    let subject = format!(
        "{} of {}",
        r.metric.label(),
        endpoint.unwrap_or(crate::stats::ALL_REQUESTS)
    );
    Check {
        name: unique.unique(format!(
            "regression: {}",
            check_name(&r.source, endpoint, r.selector.as_ref())
        )),
        kind: CheckKind::Regression,
        expression: r.source.clone(),
        endpoint: endpoint.map(str::to_string),
        metric: r.metric,
        unit,
        value: stats_for(current, endpoint).and_then(|s| metric_value(s, r.metric)),
        op: "<=".into(),
        limit: limit(judged.base, &Margin::of(r)),
        baseline: (judged.pairs > 0).then_some(judged.base),
        state,
        detail: format!(
            "{subject}, paired with the base {} in the same job: {found}",
            run.base_target,
        ),
        default_rule,
        finding: None,
    }
}

/// The judgement's words, and in a run until decisive how it ended: decided early, or with
/// its whole limit spent and how far it got. A run stopped otherwise (interrupted,
/// abort-on-fail) says only what it found.
fn words(judged: &paired::Paired, unit: Unit, current: &RunResult, run: &PairedRun) -> String {
    let Some(until) = run.until_decisive else {
        return judged.words(unit);
    };
    let limit = seconds(until.limit_s);
    if until.decided {
        // Its last pair's end: the pair holds both sides' slices, whatever their turns.
        let took = seconds(
            run.slices
                .last()
                .map_or(0.0, |s| f64::from(s.index / 2 + 1) * 2.0 * run.slice_s),
        );
        return format!(
            "{}; decided on its first {} slice pairs ({took} of the until-decisive limit of {limit})",
            judged.words(unit),
            run.slice_pairs().len()
        );
    }
    if current.run.interrupted || current.run.aborted.is_some() {
        return judged.words(unit);
    }
    let longer = match judged.decision {
        paired::Decision::Undecided {
            more_pairs: Some(k),
        } => format!(
            "; about {} more would likely decide it",
            seconds(k as f64 * 2.0 * run.slice_s)
        ),
        _ => String::new(),
    };
    format!(
        "{} (it ran the whole until-decisive limit of {limit}{longer})",
        judged.timed_out_words(unit)
    )
}

/// Seconds as a duration's words (`1m 30s`); a value no run has (from a damaged file) is
/// held to one.
fn seconds(s: f64) -> String {
    let s = if s.is_finite() {
        s.clamp(0.0, 1e9)
    } else {
        0.0
    };
    crate::duration::format_duration(std::time::Duration::from_secs_f64(s))
}

/// The base's value moved by the rule's margin the worse way: what the change's value is held
/// to in the reports' limit column.
fn limit(base: f64, m: &Margin) -> f64 {
    let relative = base.abs() * m.relative;
    let allowed = relative.max(m.absolute.unwrap_or(0.0));
    match m.worse {
        super::judgement::Worse::Up => base + allowed,
        super::judgement::Worse::Down => base - allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        evaluate, evaluate::tests::result, CheckState, NotJudged, Reference, Rules,
    };
    use super::*;
    use crate::stats::{
        healthy_generator, paired_fixture, side_of, slice_fixture, starved_generator, Side,
    };

    /// A paired run of 12 pairs: the base at 10 ms p95 with a drift both sides share (every
    /// pair's window a different speed), the change `factor` times the base in its window.
    fn run(factor: f64, starved_pairs: &[u32]) -> RunResult {
        let mut r = result(&[("GET /a", 1000, 10.0 * factor, 0)]);
        let slices = (0..24u32)
            .map(|i| {
                let drift = 1.0 + 0.3 * f64::from((i / 2) % 3);
                let ms = match side_of(i.into()) {
                    Side::Base => 10.0 * drift,
                    Side::Change => 10.0 * drift * factor,
                };
                let mut s = slice_fixture(i, ms);
                // A stall of 50 ms in those pairs: far more than their difference.
                if starved_pairs.contains(&(i / 2)) {
                    (s.starved, s.stall_ms) = (true, Some(50.0));
                }
                s
            })
            .collect();
        r.paired = Some(paired_fixture(slices));
        r
    }

    fn judge(r: &RunResult, rule: &str, reference: &Reference<'_>) -> Check {
        let rules = Rules::configured(vec![Regression::parse(rule).unwrap()]);
        let v = evaluate(r, &Rules::configured(Vec::new()), &rules, reference).unwrap();
        assert_eq!(v.checks.len(), 1, "{:?}", v.checks);
        v.checks[0].clone()
    }

    #[test]
    fn a_paired_run_judges_its_rules_with_no_baseline_at_all() {
        let slower = judge(&run(1.3, &[]), "p95 +10%", &Reference::Unchecked);
        assert_eq!(slower.state, CheckState::Failed, "{}", slower.detail);
        assert!(
            slower
                .detail
                .contains("paired with the base http://base:8080")
                && slower.detail.contains("regression: +30.0%"),
            "{}",
            slower.detail
        );
        let same = judge(&run(1.0, &[]), "p95 +10%", &Reference::Unchecked);
        assert_eq!(same.state, CheckState::Passed, "{}", same.detail);
        let missing = Reference::Missing {
            reason: NotJudged::NoBaseline,
            why: "no baseline yet".into(),
        };
        assert_eq!(
            judge(&run(1.3, &[]), "p95 +10%", &missing).state,
            CheckState::Failed
        );
    }

    #[test]
    fn starved_pairs_are_weighed_and_the_runs_stall_excuses_nothing_paired() {
        // Every pair stalled far beyond its difference: the generator could decide it.
        let all: Vec<u32> = (0..12).collect();
        let starved = judge(&run(1.3, &all), "p95 +10%", &Reference::Unchecked);
        assert_eq!(
            starved.state,
            CheckState::NotJudged(NotJudged::GeneratorStarved),
            "{}",
            starved.detail
        );
        // One such pair of twelve is set aside by the trimmed mean either way: still failed.
        let one = judge(&run(1.3, &[4]), "p95 +10%", &Reference::Unchecked);
        assert_eq!(one.state, CheckState::Failed, "{}", one.detail);
        assert!(
            one.detail
                .contains("starved in 1 of 12 slice pairs (with its stall taken out")
                && one.detail.ends_with("and the verdict holds throughout"),
            "{}",
            one.detail
        );
        // A run-level stall large enough to excuse a history check leaves a paired one failed:
        // the base shared it.
        let mut r = run(1.3, &[]);
        r.run.generator = Some(starved_generator());
        assert_eq!(
            judge(&r, "p95 +10%", &Reference::Unchecked).state,
            CheckState::Failed
        );
        r.run.generator = Some(healthy_generator());
        assert_eq!(
            judge(&r, "p95 +10%", &Reference::Unchecked).state,
            CheckState::Failed
        );
    }

    /// A real +30 % regression meeting each way a paired check can end not judged (a stall
    /// that could decide it, too few pairs): the run is not judged (exit 5), never passed.
    #[test]
    fn a_regression_that_cannot_be_judged_never_reads_green() {
        use crate::exit::{ExitStatus, Outcome};
        let mut few = run(1.3, &[]);
        if let Some(p) = &mut few.paired {
            p.slices.truncate(4);
        }
        for r in [run(1.3, &(0..12).collect::<Vec<_>>()), few] {
            let rules = Rules::configured(vec![Regression::parse("p95 +10%").unwrap()]);
            let v = evaluate(
                &r,
                &Rules::configured(Vec::new()),
                &rules,
                &Reference::Unchecked,
            )
            .unwrap();
            assert_eq!(v.outcome(), Outcome::NotJudged, "{:?}", v.checks);
            assert_eq!(
                ExitStatus::of(Some(v.outcome()), false),
                ExitStatus::NotJudged
            );
            assert_eq!(ExitStatus::NotJudged.code(), 5);
        }
    }

    #[test]
    fn a_run_until_decisive_says_how_it_ended() {
        use crate::stats::UntilDecisive;
        let until = |r: &mut RunResult, decided| {
            if let Some(p) = &mut r.paired {
                p.until_decisive = Some(UntilDecisive {
                    limit_s: 120.0,
                    decided,
                });
            }
        };
        let mut stopped = run(1.3, &[]);
        until(&mut stopped, true);
        let c = judge(&stopped, "p95 +10%", &Reference::Unchecked);
        assert_eq!(c.state, CheckState::Failed);
        assert!(
            c.detail.starts_with("p95 of all requests, paired")
                && c.detail.ends_with(
                    "; decided on its first 12 slice pairs (2m of the until-decisive limit of 2m)"
                ),
            "{}",
            c.detail
        );
        // Too few pairs when the limit came: too noisy, with how much longer would do.
        let mut spent = run(1.0, &[]);
        if let Some(p) = &mut spent.paired {
            p.slices.truncate(4);
        }
        until(&mut spent, false);
        let c = judge(&spent, "p95 +10%", &Reference::Unchecked);
        assert_eq!(c.state, CheckState::NotJudged(NotJudged::TooNoisy));
        assert!(
            c.detail.contains("undecided when time ran out")
                && c.detail.ends_with(
                    "(it ran the whole until-decisive limit of 2m; about 40s more would likely decide it)"
                ),
            "{}",
            c.detail
        );
        // Interrupted: what it found, and no word of a limit it never reached.
        spent.run.interrupted = true;
        let c = judge(&spent, "p95 +10%", &Reference::Unchecked);
        assert!(!c.detail.contains("until-decisive"), "{}", c.detail);
    }

    #[test]
    fn a_metric_the_slices_do_not_keep_is_left_to_the_history() {
        // `max` is not kept per slice: with no baseline asked for, there is no check at all.
        let rules = Rules::configured(vec![Regression::parse("max +10%").unwrap()]);
        let v = evaluate(
            &run(1.3, &[]),
            &Rules::configured(Vec::new()),
            &rules,
            &Reference::Unchecked,
        )
        .unwrap();
        assert!(v.checks.is_empty(), "{:?}", v.checks);
        assert_eq!(slice_metric(Metric::Percentile(90.0)), None);
        assert_eq!(slice_metric(Metric::Rps), Some(SliceMetric::Rps));
    }
}
