//! A verdict that knows its instrument: when the load generator was starved during the run, a
//! failed latency check is inconclusive (exit 5); error rates are judged as before. The
//! generator's figures are injected, never measured, so no test depends on the machine's load.

use super::{
    evaluate, evaluate::tests::result, Baseline, CheckState, Regression, Rules, Threshold, Verdict,
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
        Some(Baseline {
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

#[test]
fn a_starved_generator_makes_a_failed_latency_check_inconclusive_with_its_figures() {
    let v = verdict(13.0, 0, Some(starved_generator()));
    assert_eq!(
        states(&v),
        [
            ("p99<12ms".to_string(), CheckState::Inconclusive),
            ("error_rate<1%".to_string(), CheckState::Passed),
            ("p99 +10%".to_string(), CheckState::Inconclusive),
        ]
    );
    assert!(!v.passed, "an inconclusive verdict never reads as passed");
    assert_eq!(status(&v), ExitStatus::Inconclusive);
    assert_eq!(ExitStatus::Inconclusive.code(), 5);
    let c = &v.checks[2];
    let why = c.inconclusive.as_deref().unwrap();
    assert!(
        why.starts_with("load generator starved: runtime hiccups p99 40.0 ms, max 81.0 ms"),
        "{why}"
    );
    assert!(
        c.detail.starts_with("inconclusive (load generator starved"),
        "{}",
        c.detail
    );
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["inconclusive"], why);
}

#[test]
fn error_rates_are_judged_as_before_and_a_failure_wins() {
    let v = verdict(13.0, 50, Some(starved_generator()));
    assert_eq!(v.checks[1].state(), CheckState::Failed);
    assert_eq!(v.checks[0].state(), CheckState::Inconclusive);
    assert_eq!(status(&v), ExitStatus::GateFailed);
}

#[test]
fn a_healthy_or_unmeasured_generator_changes_nothing() {
    for g in [Some(healthy_generator()), None] {
        let v = verdict(13.0, 0, g);
        assert_eq!(v.failed_checks().count(), 2);
        assert_eq!(status(&v), ExitStatus::GateFailed);
        assert!(v.checks.iter().all(|c| c.inconclusive.is_none()));
    }
}

#[test]
fn a_starved_run_whose_checks_pass_still_passes() {
    let v = verdict(10.0, 0, Some(starved_generator()));
    assert!(v.passed, "{:#?}", v.checks);
    assert_eq!(status(&v), ExitStatus::Passed);
}

#[test]
fn an_inconclusive_check_reads_back_as_inconclusive() {
    let v = verdict(13.0, 0, Some(starved_generator()));
    let back: Verdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!(status(&back), ExitStatus::Inconclusive);
}
