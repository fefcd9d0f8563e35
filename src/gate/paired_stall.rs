//! What the load generator's stall could change in a paired judgement. A generator that could
//! not keep up makes its side look worse (`stats::Bounds`), and under busy neighbours it
//! stalls in most slices, on both sides. A stall both slices of a pair share does not cancel
//! in their ratio: 40 ms against 44 ms reads +10 %, and the same pair with 15 ms of shared stall
//! in each, 25 against 29, was +16 %; a stall in the base's slice alone makes the change look
//! better than it is. So no pair is excused or trusted by how its two stalls compare: the rule
//! is judged as measured, and over every value the stalls leave possible
//! ([`paired::reach`]): a pass stands only if the interval lies inside the margin even with the
//! change at its worst and the widest spread the values could have, a regression only if it
//! clears the margin and the widest noise with the change at its best. Otherwise the check is
//! not judged, with what it measured and how far the stall reaches, never passed: the
//! generator, not the target, could have decided it. (Testing the two ends alone is not
//! enough: a mix of values inside the ranges can spread wider than either end, and a wider
//! spread moves the decision point.)

use super::{
    paired::{self, Margin, Pair, PairRange, Paired, PairedOutcome},
    CheckState, NotJudged, Unit,
};
use crate::stats::{Bounds, PairedRun, SliceMetric};

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

/// Judges `metric` of `endpoint` on the run's pairs against `margin`, as measured and over
/// every value the generator's stall leaves possible.
pub(super) fn weigh(
    run: &PairedRun,
    (endpoint, metric): (Option<&str>, SliceMetric),
    margin: Margin,
    unit: Unit,
) -> Weighed {
    let bounds = run.pair_bounds(endpoint, metric);
    let measured: Vec<Pair> = (bounds.iter())
        .map(|(b, c)| Pair::new(b.measured, c.measured))
        .collect();
    let judged = paired::judge(&measured, margin);
    let state = state_of(&judged);
    let uncertain = Uncertain::of(&bounds);
    if uncertain.pairs == 0 {
        return Weighed {
            judged,
            state,
            stall: None,
        };
    }
    let ranges: Vec<PairRange> = (bounds.iter())
        .map(|(b, c)| PairRange {
            base: (b.low, b.high),
            change: (c.low, c.high),
        })
        .collect();
    let reach = paired::reach(&ranges, margin);
    let holds = match (state, reach) {
        (CheckState::NotJudged(_), _) => true,
        (CheckState::Passed, Some(r)) => r.never_regression,
        (CheckState::Failed, Some(r)) => r.always_regression,
        (_, None) => false,
    };
    let cause = uncertain.cause(bounds.len());
    let span = span_words(reach, unit, uncertain.what());
    if holds {
        let holds = match state {
            CheckState::NotJudged(_) => "",
            _ => ", and the verdict holds throughout",
        };
        let words = format!("; {cause} ({span}){holds}");
        return Weighed {
            judged,
            state,
            stall: Some(StallWords::Same(words)),
        };
    }
    let words = format!(
        "not judged: {cause}, and {} could decide the verdict (as measured, {}; {span}){}",
        uncertain.what().0,
        judged.words(unit),
        uncertain.fix(),
    );
    let why = match uncertain.starved {
        0 => NotJudged::NotMeasured,
        _ => NotJudged::GeneratorStarved,
    };
    Weighed {
        judged,
        state: CheckState::NotJudged(why),
        stall: Some(StallWords::Decides(words)),
    }
}

/// The slice pairs whose values are ranges, not points: a slice the generator starved, or one
/// with requests answered too late for its figures.
struct Uncertain {
    starved: usize,
    late: usize,
    pairs: usize,
}

impl Uncertain {
    fn of(bounds: &[(Bounds, Bounds)]) -> Uncertain {
        let count = |f: fn(&Bounds) -> bool| bounds.iter().filter(|(b, c)| f(b) || f(c)).count();
        Uncertain {
            starved: count(|b| b.starved),
            late: count(|b| b.late),
            pairs: count(|b| b.starved || b.late),
        }
    }

    fn cause(&self, n: usize) -> String {
        let starved = format!(
            "the load generator was starved in {} of {n} slice pairs",
            self.starved
        );
        let late = format!(
            "requests outlasted their slice in {} of {n} slice pairs",
            self.late
        );
        match (self.starved, self.late) {
            (_, 0) => starved,
            (0, _) => late,
            _ => format!("{starved}, and {late}"),
        }
    }

    /// What leaves the verdict uncertain, with its verb agreeing.
    fn what(&self) -> (&'static str, &'static str) {
        match (self.starved, self.late) {
            (_, 0) => ("its stall", "leaves"),
            (0, _) => ("the late requests", "leave"),
            _ => ("its stall and the late requests", "leave"),
        }
    }

    fn fix(&self) -> &'static str {
        match self.late {
            0 => "",
            _ => "; give a longer --paired-slice than the slowest requests",
        }
    }
}

/// How far the stall reaches, for the words: the change at its best and at its worst.
fn span_words(reach: Option<paired::Reach>, unit: Unit, (what, leaves): (&str, &str)) -> String {
    let Some(r) = reach else {
        return format!("{what} {leaves} the target's own values without a bound here");
    };
    let v = |x: f64| match r.relative {
        true => format!("{:+.1}%", x * 100.0),
        false => format!(
            "{}{}",
            if x < 0.0 { "-" } else { "+" },
            unit.format(x.abs())
        ),
    };
    let taken = match what {
        "its stall" => "with its stall taken out",
        _ => "with what it leaves unmeasured",
    };
    format!(
        "{taken}, the change could read from {} to {}",
        v(r.best),
        v(r.worst)
    )
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

    /// Both ends pass, and a mix of values between them reads a regression (8 pairs at the
    /// full stall, 4 at none: `regression: +6.8% [+1.7%, +12.2%]`): the ends alone are not
    /// enough, and the widest spread the values could have decides.
    #[test]
    fn a_pass_must_hold_for_a_mix_of_values_not_just_at_both_ends() {
        let mut r = run(99.0, 100.0, None, 0);
        for s in r.slices.iter_mut() {
            s.aggregate.p95_ms = Some(if s.side == Side::Base { 99.0 } else { 100.0 });
            if s.side == Side::Base {
                (s.starved, s.stall_ms) = (true, Some(7.15));
            }
        }
        let mix = |k: usize| {
            let pairs: Vec<Pair> = (0..12)
                .map(|i| Pair::new(if i < k { 91.85 } else { 99.0 }, 100.0))
                .collect();
            paired::judge(&pairs, Margin::of(&Regression::parse("p95 +10%").unwrap()))
        };
        assert!(!mix(0).regressed() && !mix(12).regressed());
        assert!(mix(8).regressed(), "{:?}", mix(8));
        let w = weighed(&r, "p95 +10%", SliceMetric::P95);
        assert_eq!(state_of(&w.judged), CheckState::Passed);
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
    }

    /// A slice starved by CPU steal alone reads a stall of 0: still starved, weighed at the
    /// floor, never silently healthy.
    #[test]
    fn a_starved_slice_with_no_stall_is_still_weighed() {
        let w = weighed(&run(40.0, 41.6, Some(0.0), 0), "p95 +5%", SliceMetric::P95);
        assert!(w.stall.is_some());
        let mut hostile = run(40.0, 41.6, Some(-5.0), 0);
        hostile.slices[0].stall_ms = Some(f64::NAN);
        let w = weighed(&hostile, "p95 +5%", SliceMetric::P95);
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
    }

    /// A starved change that sent far fewer requests than its base put less load on its
    /// target, which can look faster for it: no upper bound, not judged.
    #[test]
    fn a_starved_side_that_sent_less_load_has_no_upper_bound() {
        let mut r = run(40.0, 40.0, None, 0);
        for s in r.slices.iter_mut().filter(|s| s.side == Side::Change) {
            (s.starved, s.stall_ms, s.aggregate.requests) = (true, Some(1.0), 20);
        }
        let w = weighed(&r, "p95 +20%", SliceMetric::P95);
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::GeneratorStarved));
        for s in r.slices.iter_mut() {
            s.aggregate.requests = 40;
        }
        assert_eq!(
            weighed(&r, "p95 +20%", SliceMetric::P95).state,
            CheckState::Passed
        );
    }

    #[test]
    fn a_regression_beyond_any_stall_fails_and_says_the_stall_changed_nothing() {
        let w = weighed(&run(40.0, 60.0, Some(2.0), 0), "p95 +5%", SliceMetric::P95);
        assert_eq!(w.state, CheckState::Failed);
        let Some(StallWords::Same(words)) = w.stall else {
            panic!("no words")
        };
        assert!(
            words.contains("and the verdict holds throughout"),
            "{words}"
        );
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

    #[test]
    fn requests_that_outlast_their_slice_leave_a_pass_unproven_and_name_the_fix() {
        // The same build, inside the margin as measured; in every pair the change's slice had
        // requests answered too late for its figures: its p95 could be anything above.
        let mut r = run(40.0, 40.0, None, 0);
        for s in r.slices.iter_mut().filter(|s| s.side == Side::Change) {
            s.aggregate.late = 2;
        }
        let w = weighed(&r, "p95 +5%", SliceMetric::P95);
        assert_eq!(state_of(&w.judged), CheckState::Passed, "as measured");
        assert_eq!(w.state, CheckState::NotJudged(NotJudged::NotMeasured));
        let Some(StallWords::Decides(words)) = w.stall else {
            panic!("no words")
        };
        assert!(
            words.starts_with("not judged: requests outlasted their slice in 12 of 12 slice pairs")
                && words.contains("the late requests could decide the verdict")
                && words.ends_with("give a longer --paired-slice than the slowest requests"),
            "{words}"
        );
        // A few such pairs are set aside with the trimmed ones: the verdict holds, and says so.
        let mut few = run(40.0, 40.0, None, 0);
        few.slices[1].aggregate.late = 1;
        let w = weighed(&few, "p95 +5%", SliceMetric::P95);
        assert_eq!(w.state, CheckState::Passed);
        let Some(StallWords::Same(words)) = w.stall else {
            panic!("no words")
        };
        assert!(
            words.contains("requests outlasted their slice in 1 of 12 slice pairs (with what it leaves unmeasured")
                && words.contains("and the verdict holds throughout"),
            "{words}"
        );
    }
}
