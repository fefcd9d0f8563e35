//! What the load generator's stall could change in a paired judgement. A generator that could
//! not keep up only ever makes its side look worse (`stats::Bounds`), and under busy
//! neighbours it stalls in most slices, on both sides. A stall both slices of a pair share does
//! not cancel in their ratio: 40 ms against 44 ms reads +10 %, and the same pair with 15 ms of
//! shared stall in each, 25 against 29, was +16 %; a stall in the base's slice alone makes the
//! change look better than it is. So a pair is not excused or trusted by how its two stalls
//! compare: the rule is judged three times, as measured and at the two extremes the stalls
//! allow (the change at its worst with the base at its best, and the other way round), and the
//! measured verdict stands only when both extremes give it too. Otherwise the check is not
//! judged, with the three readings, never passed: the generator, not the target, could have
//! decided it.

use super::{
    judgement::Worse,
    paired::{self, Margin, Pair, Paired, PairedOutcome},
    CheckState, NotJudged, Unit,
};
use crate::stats::{Bounds, PairedRun, SliceMetric};

/// One end of a slice's [`Bounds`].
type End = fn(&Bounds) -> f64;

/// The verdict of a paired rule with the generator's stall weighed.
pub(super) struct Weighed {
    /// The judgement as measured: its figures are the check's.
    pub(super) judged: Paired,
    pub(super) state: CheckState,
    /// Words on the stall: appended when it changed nothing, in place of the judgement's
    /// when it could have decided the verdict.
    pub(super) stall: Option<StallWords>,
}

pub(super) enum StallWords {
    /// Appended to the judgement's words.
    Same(String),
    /// The check's words instead of the judgement's.
    Decides(String),
}

/// Judges `metric` of `endpoint` on the run's pairs against `margin`, as measured and at the
/// extremes the generator's stall allows.
pub(super) fn weigh(
    run: &PairedRun,
    (endpoint, metric): (Option<&str>, SliceMetric),
    margin: Margin,
    unit: Unit,
) -> Weighed {
    let bounds = run.pair_bounds(endpoint, metric);
    let judge = |base: &dyn Fn(&Bounds) -> f64, change: &dyn Fn(&Bounds) -> f64| {
        let pairs: Vec<Pair> = (bounds.iter())
            .map(|(b, c)| Pair::new(base(b), change(c)))
            .collect();
        paired::judge(&pairs, margin)
    };
    let judged = judge(&|b| b.measured, &|c| c.measured);
    let state = state_of(&judged);
    let stalled = bounds
        .iter()
        .filter(|(b, c)| b.stalled() || c.stalled())
        .count();
    if stalled == 0 {
        return Weighed {
            judged,
            state,
            stall: None,
        };
    }
    let (worse, better): (End, End) = match margin.worse {
        Worse::Up => (|b| b.high, |b| b.low),
        Worse::Down => (|b| b.low, |b| b.high),
    };
    let at_worst = judge(&better, &worse);
    let at_best = judge(&worse, &better);
    let unbounded = bounds
        .iter()
        .any(|(b, c)| !(b.high.is_finite() && c.high.is_finite()));
    let of = format!("{stalled} of {} slice pairs", bounds.len());
    if !unbounded && state_of(&at_worst) == state && state_of(&at_best) == state {
        let words = format!("; the load generator was starved in {of}, and the verdict is the same with its stall taken out either way");
        return Weighed {
            judged,
            state,
            stall: Some(StallWords::Same(words)),
        };
    }
    let extremes = match unbounded {
        true => "a stall has no size in throughput".to_string(),
        false => format!(
            "with its stall taken out, from {} at best to {} at worst",
            at_best.interval_text(unit),
            at_worst.interval_text(unit)
        ),
    };
    let words = format!(
        "not judged: the load generator was starved in {of}, and its stall could decide the verdict (as measured, {}; {extremes})",
        judged.words(unit)
    );
    Weighed {
        judged,
        state: CheckState::NotJudged(NotJudged::GeneratorStarved),
        stall: Some(StallWords::Decides(words)),
    }
}

/// A check's state from a paired judgement: failed for a regression, not judged when too
/// noisy, passed otherwise.
pub(super) fn state_of(judged: &Paired) -> CheckState {
    match judged.outcome {
        PairedOutcome::Starved => CheckState::NotJudged(NotJudged::GeneratorStarved),
        PairedOutcome::Judged(super::Outcome::TooNoisy) => {
            CheckState::NotJudged(NotJudged::TooNoisy)
        }
        PairedOutcome::Judged(_) => CheckState::judged(!judged.regressed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        gate::Regression,
        stats::{paired_fixture, side_of, slice_fixture, Side},
    };

    /// 12 pairs; each slice's p95 (and error rate, from `failures` of 40 requests) per side,
    /// every slice starved with `stall` ms when given, the values wobbling a little.
    fn run(base: f64, change: f64, stall: Option<f64>, failures: u64) -> PairedRun {
        let slices = (0..24u32)
            .map(|i| {
                let wobble = 1.0 + 0.01 * f64::from(i % 3);
                let (p95, side) = match side_of(i.into()) {
                    Side::Base => (base * wobble, Side::Base),
                    Side::Change => (change * wobble, Side::Change),
                };
                let mut s = slice_fixture(i, p95);
                if side == Side::Change {
                    s.aggregate.failures = failures;
                }
                if let Some(stall) = stall {
                    (s.starved, s.stall_ms) = (true, Some(stall));
                }
                s
            })
            .collect();
        paired_fixture(slices)
    }

    fn weighed(run: &PairedRun, rule: &str, metric: SliceMetric) -> Weighed {
        let margin = Margin::of(&Regression::parse(rule).unwrap());
        weigh(run, (None, metric), margin, Unit::Millis)
    }

    #[test]
    fn a_stall_both_sides_shared_never_lets_the_regression_it_compressed_pass() {
        // 40 against 41.6 ms reads +4 %, inside +5 %; with 15 ms of stall in every slice the
        // target's own could be 25 against 41.6: the generator could decide it.
        let w = weighed(&run(40.0, 41.6, Some(15.0), 0), "p95 +5%", SliceMetric::P95);
        assert_eq!(state_of(&w.judged), CheckState::Passed);
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
        let Some(StallWords::Decides(words)) = w.stall else {
            panic!("no words")
        };
        assert!(
            words.starts_with("not judged: the load generator was starved in 12 of 12 slice pairs")
                && words.contains("as measured, below the margin: +4."),
            "{words}"
        );
        // The same run with no stall passes.
        let calm = weighed(&run(40.0, 41.6, None, 0), "p95 +5%", SliceMetric::P95);
        assert_eq!(calm.state, CheckState::Passed);
        assert!(calm.stall.is_none());
    }

    #[test]
    fn a_stall_in_the_base_alone_cannot_hide_a_regression() {
        let mut r = run(44.0, 42.0, None, 0);
        for s in r.slices.iter_mut().filter(|s| s.side == Side::Base) {
            (s.starved, s.stall_ms) = (true, Some(10.0));
        }
        let w = weighed(&r, "p95 +5%", SliceMetric::P95);
        assert_eq!(state_of(&w.judged), CheckState::Passed, "measured: faster");
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
    }

    #[test]
    fn a_regression_beyond_any_stall_fails_and_says_the_stall_changed_nothing() {
        let w = weighed(&run(40.0, 60.0, Some(2.0), 0), "p95 +5%", SliceMetric::P95);
        assert_eq!(w.state, CheckState::Failed);
        let Some(StallWords::Same(words)) = w.stall else {
            panic!("no words")
        };
        assert!(words.contains("the verdict is the same"), "{words}");
    }

    #[test]
    fn error_rates_stay_judged_when_nothing_failed_and_throughput_never_is() {
        let starved = run(40.0, 40.0, Some(15.0), 0);
        let e = weighed(&starved, "error_rate +1%", SliceMetric::ErrorRate);
        assert_eq!(
            e.state,
            CheckState::Passed,
            "0 % on both sides whatever the stall"
        );
        // Failures on the change's starved side could be the generator's own timeouts.
        let failing = run(40.0, 40.0, Some(15.0), 4);
        let e = weighed(&failing, "error_rate +1%", SliceMetric::ErrorRate);
        assert_eq!(e.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
        let rps = weighed(&starved, "rps -10%", SliceMetric::Rps);
        assert_eq!(
            rps.state,
            CheckState::NotJudged(NotJudged::GeneratorStarved)
        );
    }
}
