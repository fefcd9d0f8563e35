//! A verdict that knows its instrument: when the load generator was starved during the run, a
//! failed latency check is not judged (exit 5); error rates are judged as before. The
//! generator's figures are injected, never measured, so no test depends on the machine's load.

use super::{
    evaluate, evaluate::tests::result, Baseline, CheckState, NotJudged, Reference, Regression,
    Rules, Threshold, Verdict,
};
use crate::{
    exit::ExitStatus,
    stats::{healthy_generator, starved_generator, GeneratorHealth, RunResult},
};

/// The exit status of a verdict on a whole run.
fn status(v: &Verdict) -> ExitStatus {
    ExitStatus::of(Some(v.outcome()), false)
}

/// The baseline at 10 ms; this run at `ms` with `failed` of 1000 requests failed, measured by
/// `generator`; judged by `p99<12ms`, `error_rate<1%` and `p99 +10%`.
fn verdict(ms: f64, failed: u64, generator: Option<GeneratorHealth>) -> Verdict {
    let base = result(&[("GET /a", 1000, 10.0, 0)]);
    let mut current: RunResult = result(&[("GET /a", 1000, ms, failed)]);
    current.run.generator = generator;
    let thresholds = ["p99<12ms", "error_rate<1%"].map(|t| Threshold::parse(t).unwrap());
    evaluate(
        &current,
        &Rules::configured(thresholds.to_vec()),
        &Rules::configured(vec![Regression::parse("p99 +10%").unwrap()]),
        &Reference::Baseline(Baseline {
            result: &base,
            history: &[],
        }),
    )
    .unwrap()
}

fn states(v: &Verdict) -> Vec<(String, CheckState)> {
    v.checks
        .iter()
        .map(|c| (c.expression.clone(), c.state()))
        .collect()
}

const STARVED: CheckState = CheckState::NotJudged(NotJudged::GeneratorStarved);

#[test]
fn a_starved_generator_makes_a_failed_latency_check_inconclusive_with_its_figures() {
    let v = verdict(13.0, 0, Some(starved_generator()));
    assert_eq!(
        states(&v),
        [
            ("p99<12ms".to_string(), STARVED),
            ("error_rate<1%".to_string(), CheckState::Passed),
            ("p99 +10%".to_string(), STARVED),
        ]
    );
    assert!(!v.passed(), "a verdict not judged never reads as passed");
    assert_eq!(status(&v), ExitStatus::NotJudged);
    assert_eq!(ExitStatus::NotJudged.code(), 5);
    let c = &v.checks[2];
    assert!(
        c.detail.starts_with(
            "not judged (load generator starved: runtime hiccups p99 40.0 ms, max 81.0 ms"
        ),
        "{}",
        c.detail
    );
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(
        (&json["state"], &json["reason"]),
        (&"not_judged".into(), &"generator_starved".into())
    );
}

#[test]
fn error_rates_are_judged_as_before_and_a_failure_wins() {
    let v = verdict(13.0, 50, Some(starved_generator()));
    assert_eq!(v.checks[1].state(), CheckState::Failed);
    assert_eq!(v.checks[0].state(), STARVED);
    assert_eq!(status(&v), ExitStatus::GateFailed);
}

#[test]
fn a_healthy_or_unmeasured_generator_changes_nothing() {
    for g in [Some(healthy_generator()), None] {
        let v = verdict(13.0, 0, g);
        assert_eq!(v.failed_checks().count(), 2);
        assert_eq!(status(&v), ExitStatus::GateFailed);
        assert!(v.not_judged_checks().next().is_none());
    }
}

#[test]
fn a_starved_run_whose_checks_pass_still_passes() {
    let v = verdict(10.0, 0, Some(starved_generator()));
    assert!(v.passed(), "{:#?}", v.checks);
    assert_eq!(status(&v), ExitStatus::Passed);
}

#[test]
fn a_starved_check_reads_back_not_judged() {
    let v = verdict(13.0, 0, Some(starved_generator()));
    let back: Verdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(status(&back), ExitStatus::NotJudged);
}
