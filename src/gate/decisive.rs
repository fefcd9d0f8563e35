//! Run until decisive (`--until-decisive`): a paired run adds slice pairs until every paired
//! regression rule is decided, so a clear change ends the job early and an unclear one gets
//! the whole limit. The test is the one the checks make at the end: the paired judgement's
//! decision on the measured pairs, with the generator's stall weighed as `paired_stall.rs`
//! weighs it. A decision the stall could overturn is no decision yet: more pairs may outweigh
//! the starved ones, and stopping there would end the run not judged when the limit left time
//! to judge it.

use super::{
    paired::{Decision, Margin},
    paired_check::slice_metric,
    paired_stall::{weigh, StallWords},
    Regression, Rules, Unit,
};
use crate::stats::{PairedRun, SliceMetric};

/// The engine's [`crate::engine::Referee`] for a run until decisive: the regression rules the
/// slices can judge.
#[derive(Debug)]
pub(crate) struct UntilDecisive {
    rules: Vec<(Regression, SliceMetric)>,
}

impl UntilDecisive {
    /// The referee of `rules`; `None` when no rule is on a metric the slices keep (then nothing
    /// could ever be decided, and asking for it is a mistake the settings name).
    pub(crate) fn of(rules: &Rules<Regression>) -> Option<UntilDecisive> {
        let rules: Vec<(Regression, SliceMetric)> = (rules.iter())
            .filter_map(|r| slice_metric(r.metric).map(|m| (r.clone(), m)))
            .collect();
        (!rules.is_empty()).then_some(UntilDecisive { rules })
    }

    /// The endpoints a rule judges in the slices so far: every request together, or the
    /// names its selector matches among those the change answered (as `gate::evaluate` takes
    /// the change's rows; an endpoint only the base has is judged by no check). A selector that
    /// matches nothing yet decides nothing: the run goes on.
    fn endpoints<'a>(run: &'a PairedRun, r: &Regression) -> Option<Vec<Option<&'a str>>> {
        let Some(selector) = &r.selector else {
            return Some(vec![None]);
        };
        let mut names: Vec<&str> = (run.slices.iter())
            .filter(|s| s.side == crate::stats::Side::Change)
            .flat_map(|s| s.endpoints.iter().map(|e| e.name.as_str()))
            .filter(|n| selector.matches(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        (!names.is_empty()).then(|| names.into_iter().map(Some).collect())
    }
}

impl crate::engine::Referee for UntilDecisive {
    fn decided(&self, run: &PairedRun) -> bool {
        self.rules.iter().all(|(r, metric)| {
            UntilDecisive::endpoints(run, r).is_some_and(|endpoints| {
                endpoints.into_iter().all(|e| {
                    let unit = Unit::from(r.metric.kind());
                    let w = weigh(run, (e, *metric), Margin::of(r), unit);
                    let overturnable = matches!(w.stall, Some(StallWords::Decides(_)));
                    w.judged.decision == Decision::Decided && !overturnable
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        engine::Referee,
        stats::{paired_fixture, side_of, slice_fixture, Side},
    };

    /// `pairs` slice pairs, the base at 10 ms p95 drifting from pair to pair, the change
    /// `factor` times its base, moved by `wobble` either way in turn.
    fn run(pairs: u32, factor: f64, wobble: f64) -> PairedRun {
        let slices = (0..pairs * 2)
            .map(|i| {
                let base = 10.0 * (1.0 + 0.2 * f64::from((i / 2) % 3));
                let sign = if (i / 2) % 2 == 0 { 1.0 } else { -1.0 };
                let ms = match side_of(i.into()) {
                    Side::Base => base,
                    Side::Change => base * factor * (1.0 + sign * wobble),
                };
                slice_fixture(i, ms)
            })
            .collect();
        paired_fixture(slices)
    }

    fn referee(rules: &[&str]) -> Option<UntilDecisive> {
        let list = rules
            .iter()
            .map(|r| Regression::parse(r).unwrap())
            .collect();
        UntilDecisive::of(&Rules::configured(list))
    }

    #[test]
    fn a_clear_change_is_decided_once_enough_pairs_are_in() {
        let r = referee(&["p95 +5%"]).unwrap();
        // Fewer than six pairs never decide, however clear: the first looks are the risky ones.
        assert!(!r.decided(&run(5, 1.3, 0.01)));
        assert!(r.decided(&run(6, 1.3, 0.01)));
        // The same build, steady: inside the margin, decided too.
        assert!(r.decided(&run(8, 1.0, 0.005)));
        // A change sitting on the margin with a wide spread is not.
        assert!(!r.decided(&run(8, 1.05, 0.08)));
    }

    #[test]
    fn every_rule_and_endpoint_must_be_decided() {
        // The second rule's endpoint was never measured: nothing decides it yet.
        let r = referee(&["p95 +5%", "GET /other: p95 +5%"]).unwrap();
        assert!(!r.decided(&run(8, 1.3, 0.01)));
        let r = referee(&["p95 +5%", "GET /*: p95 +5%"]).unwrap();
        assert!(r.decided(&run(8, 1.3, 0.01)));
        let r = referee(&["p95 +5%", "GET /*: p95 +5%", "rps -10%"]).unwrap();
        // The fixture's rows carry equal counts on both sides: rps decided too.
        assert!(r.decided(&run(8, 1.3, 0.01)));
    }

    #[test]
    fn an_endpoint_only_the_base_has_holds_up_nothing() {
        let mut r = run(8, 1.3, 0.01);
        for s in r.slices.iter_mut().filter(|s| s.side == Side::Base) {
            let mut gone = s.endpoints[0].clone();
            gone.name = "GET /gone".into();
            s.endpoints.push(gone);
        }
        assert!(referee(&["GET /*: p95 +5%"]).unwrap().decided(&r));
    }

    #[test]
    fn a_starved_slice_stops_nothing_and_a_stall_that_could_overturn_decides_nothing() {
        let r = referee(&["p95 +5%"]).unwrap();
        let starve = |run: &mut PairedRun, slices: std::ops::Range<usize>, stall_ms: f64| {
            for s in &mut run.slices[slices] {
                (s.starved, s.stall_ms) = (true, Some(stall_ms));
            }
        };
        // One starved slice in the first pair: too few pairs to decide anything, so the run
        // goes on (it once stopped there, not judged, whatever its limit).
        let mut early = run(2, 1.3, 0.01);
        starve(&mut early, 0..1, 3.0);
        assert!(!r.decided(&early));
        // Six pairs of a clear +30 %, a small stall in one slice: decided.
        let mut small = run(6, 1.3, 0.01);
        starve(&mut small, 1..2, 1.0);
        assert!(r.decided(&small));
        // The same build with every slice stalled by as much as the change measures: the
        // stall could overturn a pass, so the run goes on.
        let mut stalled = run(8, 1.0, 0.005);
        starve(&mut stalled, 0..16, 5.0);
        assert!(!r.decided(&stalled));
    }

    #[test]
    fn rules_the_slices_cannot_judge_make_no_referee() {
        assert!(referee(&["max +10%", "p90 +10%"]).is_none());
        assert!(referee(&["max +10%", "p99 +10%"]).is_some());
    }
}
