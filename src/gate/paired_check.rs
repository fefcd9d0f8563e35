//! A regression rule judged on a paired run's slices (`run.paired`, `--compare-host`): the
//! change against the base measured beside it in the same job, window by window
//! (`paired::judge`), instead of against earlier runs. The base is there whatever the history
//! holds, so the rule is judged with no baseline at all, and a runner that slowed down during
//! the job slowed both sides. A metric the slices do not keep (`min`, `max`, `p90`, counts) is
//! left to the history judgement, as in any run.

use super::{
    metric::{check_name, metric_value, stats_for, Names},
    paired::{self, Margin, Pair, PairedOutcome},
    Check, CheckKind, CheckState, Metric, NotJudged, Regression, Unit,
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

/// The run's slice pairs as the judgement reads them.
fn pairs(run: &PairedRun, endpoint: Option<&str>, metric: SliceMetric) -> Vec<Pair> {
    (run.pairs(endpoint, metric).into_iter())
        .map(|(base, change, starved)| Pair {
            base,
            change,
            starved,
        })
        .collect()
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
    let judged = paired::judge(&pairs(run, endpoint, metric), Margin::of(r));
    let state = match judged.outcome {
        PairedOutcome::Starved => CheckState::NotJudged(NotJudged::GeneratorStarved),
        PairedOutcome::Judged(super::Outcome::TooNoisy) => {
            CheckState::NotJudged(NotJudged::TooNoisy)
        }
        PairedOutcome::Judged(_) => CheckState::judged(!judged.regressed()),
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
            "{subject}, paired with the base {} in the same job: {}",
            run.base_target,
            judged.words(unit)
        ),
        default_rule,
        finding: None,
    }
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
    use super::super::{evaluate, evaluate::tests::result, Reference, Rules};
    use super::*;
    use crate::stats::{
        healthy_generator, paired_fixture, side_of, slice_fixture, starved_generator, Side,
    };

    /// A paired run of 12 pairs: the base at 10 ms p95 with a drift both sides share (every
    /// pair's window a different speed), the change `factor` times the base in its window.
    fn run(factor: f64, starved_pair: Option<u32>) -> RunResult {
        let mut r = result(&[("GET /a", 1000, 10.0 * factor, 0)]);
        let slices = (0..24u32)
            .map(|i| {
                let drift = 1.0 + 0.3 * f64::from((i / 2) % 3);
                let ms = match side_of(i.into()) {
                    Side::Base => 10.0 * drift,
                    Side::Change => 10.0 * drift * factor,
                };
                let mut s = slice_fixture(i, ms);
                // The change's slices of that pair and the next two starved with a stall of
                // 50 ms beyond the base's: more than each pair's difference, so they are
                // excused, and three of twelve are more than the trim sets aside.
                let excused = starved_pair.is_some_and(|p| (p..p + 3).contains(&(i / 2)));
                if excused && side_of(i.into()) == Side::Change {
                    (s.starved, s.stall_ms) = (true, Some(51.0));
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
        let slower = judge(&run(1.3, None), "p95 +10%", &Reference::Unchecked);
        assert_eq!(slower.state, CheckState::Failed, "{}", slower.detail);
        assert!(
            slower
                .detail
                .contains("paired with the base http://base:8080")
                && slower.detail.contains("regression: +30.0%"),
            "{}",
            slower.detail
        );
        let same = judge(&run(1.0, None), "p95 +10%", &Reference::Unchecked);
        assert_eq!(same.state, CheckState::Passed, "{}", same.detail);
        let missing = Reference::Missing {
            reason: NotJudged::NoBaseline,
            why: "no baseline yet".into(),
        };
        assert_eq!(
            judge(&run(1.3, None), "p95 +10%", &missing).state,
            CheckState::Failed
        );
    }

    #[test]
    fn a_starved_pair_is_not_judged_and_the_runs_stall_excuses_nothing_paired() {
        let starved = judge(&run(1.3, Some(4)), "p95 +10%", &Reference::Unchecked);
        assert_eq!(
            starved.state,
            CheckState::NotJudged(NotJudged::GeneratorStarved)
        );
        // A run-level stall large enough to excuse a history check leaves a paired one failed:
        // the base shared it.
        let mut r = run(1.3, None);
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

    /// A real +30 % regression meeting each way a paired check can end not judged (a starved
    /// pair, too few pairs): the run is not judged (exit 5), never passed.
    #[test]
    fn a_regression_that_cannot_be_judged_never_reads_green() {
        use crate::exit::{ExitStatus, Outcome};
        let mut few = run(1.3, None);
        if let Some(p) = &mut few.paired {
            p.slices.truncate(4);
        }
        for r in [run(1.3, Some(0)), few] {
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
    fn a_metric_the_slices_do_not_keep_is_left_to_the_history() {
        // `max` is not kept per slice: with no baseline asked for, there is no check at all.
        let rules = Rules::configured(vec![Regression::parse("max +10%").unwrap()]);
        let v = evaluate(
            &run(1.3, None),
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
