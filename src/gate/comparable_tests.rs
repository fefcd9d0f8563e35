//! Regression rules against a baseline of another load: not judged (never passed), so the run is
//! not judged unless a threshold failed; against a changed scenario: the endpoints both runs
//! have are judged, and a new one is not judged (no baseline).

use super::{
    evaluate,
    evaluate::tests::{regress, result},
    Baseline, CheckKind, CheckState, NotJudged, Reference, Regression, Rules, Threshold, Verdict,
};
use crate::stats::{load_fixture, HistoryEntry, LoadFingerprint, RunResult};

/// `r` with the fixed load, changed by `change`.
fn with_load(mut r: RunResult, change: impl FnOnce(&mut LoadFingerprint)) -> RunResult {
    let mut load = load_fixture();
    change(&mut load);
    r.run.engine = load.engine.clone();
    r.run.load = Some(load);
    r
}

fn rules(list: &[&str]) -> Vec<Regression> {
    list.iter().map(|r| Regression::parse(r).unwrap()).collect()
}

/// Thresholds and regression rules, against `base` alone.
fn verdict(current: &RunResult, base: &RunResult, thresholds: &[&str]) -> Verdict {
    let thresholds = thresholds.iter().map(|t| Threshold::parse(t).unwrap());
    evaluate(
        current,
        &Rules::configured(thresholds.collect()),
        &Rules::configured(rules(&["p95 +20% +1ms", "rps -10%", "GET /*: p95 +20%"])),
        &Reference::Baseline(Baseline {
            result: base,
            history: &[],
        }),
    )
    .unwrap()
}

/// Every regression check is not judged as not comparable and says why.
fn assert_not_comparable(v: &Verdict, difference: &str) {
    let regressions: Vec<_> = (v.checks.iter())
        .filter(|c| c.kind == CheckKind::Regression)
        .collect();
    assert_eq!(regressions.len(), 3, "{:#?}", v.checks);
    for c in regressions {
        let state = CheckState::NotJudged(NotJudged::NotComparable);
        assert_eq!(c.state(), state, "{c:?}");
        assert!(c.detail.contains("not comparable"), "{}", c.detail);
        assert!(c.detail.contains(difference), "{}", c.detail);
    }
}

#[test]
fn a_baseline_of_other_users_is_not_comparable_and_the_thresholds_decide() {
    let base = with_load(result(&[("GET /a", 1000, 10.0, 0)]), |l| l.users = 50);
    // Three times slower and a tenth of the throughput: against 50 users, meaningless.
    let smoke = with_load(result(&[("GET /a", 100, 30.0, 0)]), |l| l.users = 5);
    let v = verdict(&smoke, &base, &["p95<100ms"]);
    assert_not_comparable(&v, "users 50 → 5");
    assert_eq!(
        v.outcome(),
        crate::exit::Outcome::NotJudged,
        "a changed load is neither a regression nor a pass: {:#?}",
        v.checks
    );
    let threshold = &v.checks[0];
    assert_eq!(
        (threshold.kind, threshold.state()),
        (CheckKind::Threshold, CheckState::Passed)
    );
    let v = verdict(&smoke, &base, &["p95<20ms"]);
    assert!(!v.passed(), "the thresholds still decide");
    assert_eq!(v.failed_checks().count(), 1);
    assert_not_comparable(&v, "users 50 → 5");
}

/// The audit's cases: a merge request that made every request 12x slower and ran 11 users
/// instead of 10, or 5 s instead of 4 s, passed. Another load shape is not judged, never passed.
#[test]
fn a_slower_run_of_another_load_shape_is_not_judged_never_passed() {
    type Change = fn(&mut LoadFingerprint);
    let changes: [(Change, &str); 2] = [
        (|l| l.users = 11, "users 10 → 11"),
        (|l| l.run_time_s = 5.0, "run time 4s → 5s"),
    ];
    for (change, difference) in changes {
        let base = with_load(result(&[("GET /a", 1000, 5.0, 0)]), |l| {
            l.users = 10;
            l.run_time_s = 4.0;
        });
        let slower = with_load(result(&[("GET /a", 1000, 60.0, 0)]), |l| {
            l.users = 10;
            l.run_time_s = 4.0;
            change(l);
        });
        let v = verdict(&slower, &base, &["error_rate<1%"]);
        assert_not_comparable(&v, difference);
        assert_eq!(v.outcome(), crate::exit::Outcome::NotJudged, "{difference}");
    }
}

#[test]
fn a_baseline_of_another_target_is_not_comparable() {
    let base = with_load(result(&[("GET /a", 100, 10.0, 0)]), |l| {
        l.target = "http://a:9090".into()
    });
    let cur = with_load(result(&[("GET /a", 100, 10.0, 0)]), |_| {});
    let v = verdict(&cur, &base, &[]);
    assert_not_comparable(&v, "target http://a:9090 → http://a:8080");
    assert_eq!(v.outcome(), crate::exit::Outcome::NotJudged);
}

/// A baseline at one stream per user against a run at ten (h2load's `-m 10`): ten times the
/// requests in flight per connection is another load, not judged, and the difference says so.
/// A baseline written before the setting (no `streams_per_user`) is a one-stream run: a slower
/// one-stream run is judged against it, and regresses.
#[test]
fn a_baseline_at_another_count_of_streams_per_user_is_not_comparable() {
    let base = with_load(result(&[("GET /a", 1000, 10.0, 0)]), |_| {});
    let ten = with_load(result(&[("GET /a", 1000, 60.0, 0)]), |l| {
        l.streams_per_user = 10
    });
    let v = verdict(&ten, &base, &[]);
    assert_not_comparable(&v, "streams per user 1 → 10");
    assert_eq!(v.outcome(), crate::exit::Outcome::NotJudged);
    // The baseline as an older gate wrote it: no field at all.
    let mut json = serde_json::to_value(&base).unwrap();
    json["run"]["load"]
        .as_object_mut()
        .unwrap()
        .remove("streams_per_user");
    let old: RunResult = serde_json::from_value(json).unwrap();
    let one = with_load(result(&[("GET /a", 1000, 60.0, 0)]), |_| {});
    let v = verdict(&one, &old, &[]);
    assert_eq!(v.outcome(), crate::exit::Outcome::Failed, "{:#?}", v.checks);
    assert_not_comparable(&verdict(&ten, &old, &[]), "streams per user 1 → 10");
}

#[test]
fn a_baseline_of_another_engine_is_not_comparable_with_or_without_fingerprints() {
    let base = with_load(result(&[("GET /a", 100, 10.0, 0)]), |l| {
        l.engine = "locust".into()
    });
    let cur = with_load(result(&[("GET /a", 100, 50.0, 0)]), |_| {});
    assert_not_comparable(&verdict(&cur, &base, &[]), "engine locust → native");
    // Files written before fingerprints: the engine is all there is to compare.
    let (mut old_base, mut old_cur) = (base, cur);
    old_base.run.load = None;
    old_cur.run.load = None;
    assert_not_comparable(&verdict(&old_cur, &old_base, &[]), "engine locust → native");
    // Same engine, no fingerprint: judged as before (it regressed).
    old_base.run.engine = "native".into();
    assert!(!verdict(&old_cur, &old_base, &[]).passed());
}

#[test]
fn a_changed_scenario_is_judged_on_the_endpoints_both_runs_have() {
    let base = with_load(
        result(&[("GET /a", 100, 10.0, 0), ("GET /gone", 100, 10.0, 0)]),
        |_| {},
    );
    let cur = with_load(
        result(&[("GET /a", 100, 30.0, 0), ("GET /new", 100, 10.0, 0)]),
        |l| l.scenario_sha256 = Some("0".repeat(64)),
    );
    let v = verdict(&cur, &base, &[]);
    assert!(!v.passed(), "GET /a regressed: {:#?}", v.checks);
    let state = |endpoint: &str| {
        (v.checks.iter())
            .find(|c| c.endpoint.as_deref() == Some(endpoint))
            .map(|c| (c.state(), c.detail.clone()))
            .unwrap()
    };
    assert_eq!(state("GET /a").0, CheckState::Failed);
    let (new, detail) = state("GET /new");
    assert_eq!(new, CheckState::NotJudged(NotJudged::NoBaseline));
    assert!(
        detail.contains("new endpoint, not in the baseline"),
        "{detail}"
    );
    assert!(v
        .checks
        .iter()
        .all(|c| c.endpoint.as_deref() != Some("GET /gone")));
}

#[test]
fn history_runs_of_another_load_are_left_out_of_the_band() {
    let at =
        |ms: f64, users: u32| with_load(result(&[("GET /a", 100, ms, 0)]), |l| l.users = users);
    let base = at(10.0, 50);
    let earlier = [
        at(10.2, 50),
        at(40.0, 5),
        at(9.9, 50),
        at(41.0, 5),
        at(10.1, 50),
        at(39.0, 5),
    ];
    let v = regress(&at(10.3, 50), &base, &earlier, &rules(&["p95 +20% +1ms"]));
    let detail = &v.checks[0].detail;
    assert!(detail.contains("median of 4 runs"), "{detail}");
    assert!(detail.contains("within noise"), "{detail}");
    // The same band judges a slowdown the smoke runs would have hidden.
    let v = regress(&at(14.0, 50), &base, &earlier, &rules(&["p95 +20% +1ms"]));
    assert!(!v.passed(), "{}", v.checks[0].detail);
    let entries: Vec<HistoryEntry> = earlier.iter().map(HistoryEntry::of).collect();
    let left_out = (entries.iter())
        .filter(|h| h.same_load(&base.run) == Some(false))
        .count();
    assert_eq!(left_out, 3);
}
