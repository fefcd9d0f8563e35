//! A verdict that knows its instrument: when the load generator was starved during the run, a
//! failed latency check is not judged (exit 5) if the generator's stall could account for its
//! change, and failed beyond that; error rates are judged as before. The generator's figures
//! are injected, never measured, so no test depends on the machine's load.

use super::{
    evaluate, evaluate::tests::result, Baseline, CheckState, NotJudged, Reference, Regression,
    Rules, Threshold, Verdict,
};
use crate::{
    exit::ExitStatus,
    stats::{healthy_generator, starved_generator, GeneratorHealth, HiccupFigures, RunResult},
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
fn a_starved_generator_makes_a_failed_latency_check_not_judged_with_its_figures() {
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
            "not judged (load generator starved: stall ≤ 78.0 ms, change +3.0 ms; runtime hiccups p99 40.0 ms, max 81.0 ms (limit 10.0 ms))"
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

/// Both meters at a p99 of `hiccup_ms`, the load threads' run-queue delay at `wait_ms` a
/// request, and other processes (the application under test among them) on 64 % of the
/// generator's cores.
fn crowded(hiccup_ms: f64, wait_ms: f64) -> GeneratorHealth {
    let h = HiccupFigures {
        p50_ms: hiccup_ms / 5.0,
        p99_ms: hiccup_ms,
        max_ms: hiccup_ms * 2.0,
        samples: 3000,
    };
    GeneratorHealth {
        runtime_hiccup: Some(h),
        thread_hiccup: h,
        neighbour_cpu_pct: 64.0,
        run_queue_per_request_ms: Some(wait_ms),
        ..healthy_generator()
    }
}

#[test]
fn a_change_beyond_the_stall_fails_however_crowded_the_generators_cores() {
    // The app's requests cost 15x more CPU on the generator's own core: +35 ms, while the
    // generator's meters read 5 ms and its threads hardly waited.
    let v = verdict(45.0, 0, Some(crowded(5.0, 0.2)));
    assert_eq!(
        states(&v),
        [
            ("p99<12ms".to_string(), CheckState::Failed),
            ("error_rate<1%".to_string(), CheckState::Passed),
            ("p99 +10%".to_string(), CheckState::Failed),
        ]
    );
    assert_eq!(status(&v), ExitStatus::GateFailed);
    let detail = &v.checks[2].detail;
    assert!(
        detail.starts_with(
            "failed even allowing for a starved generator (stall ≤ 10.2 ms, change +35."
        ),
        "{detail}"
    );
    assert!(v.not_judged_checks().next().is_none());
}

#[test]
fn a_change_within_the_stall_is_not_judged() {
    // A 14 ms stall: meters at 6.5 ms (twice that, 13 ms) and 1 ms of waiting per request.
    let g = crowded(6.5, 1.0);
    assert!((g.stall_ms() - 14.0).abs() < 1e-9, "{}", g.stall_ms());
    let v = verdict(13.0, 0, Some(g));
    assert_eq!(v.checks[2].state(), STARVED);
    assert_eq!(status(&v), ExitStatus::NotJudged);
    let why = &v.checks[2].detail;
    assert!(
        why.starts_with("not judged (load generator starved: stall ≤ 14.0 ms, change +3.0 ms; other processes took 64 % of its cores"),
        "{why}"
    );
}

#[test]
fn steal_alone_with_quiet_meters_decides_nothing() {
    let stolen = GeneratorHealth {
        steal_pct: 5.0,
        ..healthy_generator()
    };
    for ms in [13.0, 45.0] {
        let v = verdict(ms, 0, Some(stolen.clone()));
        let plain = verdict(ms, 0, Some(healthy_generator()));
        assert_eq!(states(&v), states(&plain), "{ms} ms");
        assert_eq!(status(&v), ExitStatus::GateFailed);
        assert!(
            v.checks[2]
                .detail
                .starts_with("failed even allowing for a starved generator (stall ≤ 1.8 ms"),
            "{}",
            v.checks[2].detail
        );
    }
}

#[test]
fn a_latency_check_that_measured_nothing_stays_failed() {
    // No request completed: no change to weigh against the stall, so no excuse.
    let base = result(&[("GET /a", 1000, 10.0, 0)]);
    let mut current: RunResult = result(&[("GET /a", 0, 0.0, 0)]);
    current.run.generator = Some(starved_generator());
    let v = evaluate(
        &current,
        &Rules::configured(vec![Threshold::parse("GET /a: p99<12ms").unwrap()]),
        &Rules::configured(Vec::new()),
        &Reference::Baseline(Baseline {
            result: &base,
            history: &[],
        }),
    )
    .unwrap();
    assert_eq!(v.checks[0].state(), CheckState::Failed);
    assert_eq!(status(&v), ExitStatus::GateFailed);
}

/// A paired run under busy neighbours: every slice reads starved (a runtime hiccup past 10 ms
/// in some second of it) with a stall of `stall(i)` ms; the base at 40 ms p95 with a shared
/// drift, the change `factor` times it. Judged by `p95 +5%` with no baseline.
fn busy_paired(factor: f64, stall: impl Fn(u32) -> f64) -> Verdict {
    use crate::stats::{paired_fixture, side_of, slice_fixture, Side};
    let mut current = result(&[("GET /a", 1000, 40.0 * factor, 0)]);
    let slices = (0..24u32)
        .map(|i| {
            let drift = 1.0 + 0.02 * f64::from((i / 2) % 3);
            let ms = match side_of(i.into()) {
                Side::Base => 40.0 * drift,
                Side::Change => 40.0 * drift * factor,
            };
            let mut s = slice_fixture(i, ms);
            (s.starved, s.stall_ms) = (true, Some(stall(i)));
            s
        })
        .collect();
    current.paired = Some(paired_fixture(slices));
    evaluate(
        &current,
        &Rules::configured(Vec::new()),
        &Rules::configured(vec![Regression::parse("p95 +5%").unwrap()]),
        &Reference::Unchecked,
    )
    .unwrap()
}

/// A stall every slice shared cancels in the pairs: a real +10 % fails and an unchanged build
/// passes, where excusing every pair with a starved slice read both "not judged".
#[test]
fn a_stall_both_sides_shared_leaves_a_paired_check_judged() {
    let regression = busy_paired(1.1, |_| 12.0);
    assert_eq!(
        status(&regression),
        ExitStatus::GateFailed,
        "{:?}",
        regression.checks
    );
    let same = busy_paired(1.0, |_| 12.0);
    assert_eq!(status(&same), ExitStatus::Passed, "{:?}", same.checks);
}

/// A change's slice that stalled more than its base's by the pair's difference is the
/// generator's doing: not judged, never a pass and never a failure on its account; a regression
/// beyond that extra stall fails however starved the slices.
#[test]
fn a_paired_check_is_excused_only_by_the_stall_that_could_account_for_it() {
    use crate::stats::{side_of, Side};
    let change_stalls = |i: u32| match side_of(i.into()) {
        Side::Change => 30.0,
        Side::Base => 5.0,
    };
    // +4 ms a pair against 25 ms of extra stall on the change's side.
    let excused = busy_paired(1.1, change_stalls);
    assert_eq!(
        status(&excused),
        ExitStatus::NotJudged,
        "{:?}",
        excused.checks
    );
    assert_eq!(
        excused.checks[0].state,
        CheckState::NotJudged(NotJudged::GeneratorStarved)
    );
    // +40 ms a pair: beyond the stall, the application's.
    let beyond = busy_paired(2.0, change_stalls);
    assert_eq!(
        status(&beyond),
        ExitStatus::GateFailed,
        "{:?}",
        beyond.checks
    );
    // The base stalled more and the change is slower still: a regression the stall only hid
    // part of, judged.
    let hidden = busy_paired(1.1, |i| 35.0 - change_stalls(i));
    assert_eq!(
        status(&hidden),
        ExitStatus::GateFailed,
        "{:?}",
        hidden.checks
    );
}
