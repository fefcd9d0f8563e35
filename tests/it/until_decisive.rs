//! A run until decisive (`--until-decisive`, issue 33): a paired run that adds slice pairs
//! until every paired regression rule is decided, against two real servers.

use crate::harness::{slow_app, Gate};

const PLAIN: &str = "tasks: [{request: {name: GET /, method: GET, path: /}}]\n";

fn gate(host: &str, base: &str, limit: &str) -> Gate {
    Gate::new().write("s.yml", PLAIN).args([
        "run",
        "--scenario",
        "s.yml",
        "--host",
        host,
        "--compare-host",
        base,
        "--until-decisive",
        limit,
        "--regression",
        "p95 +5%",
        "--users",
        "4",
        "--spawn-rate",
        "100",
        "--progress",
        "0",
        "--baseline",
        "none",
    ])
}

/// The change answers in 26 ms, the base in 20 ms (+30 %): the run stops once six pairs are
/// in, long before its limit, and fails the rule, saying it was decided.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: about 25 s of load")]
fn a_clear_regression_stops_the_run_early_and_fails() {
    let (change, base) = (slow_app(26), slow_app(20));
    let out = gate(&change.url(), &base.url(), "90s").run().expect_exit(1);
    let r = out.results();
    let until = &r["paired"]["until_decisive"];
    assert_eq!(until["limit_s"], 90.0, "{until}");
    assert_eq!(until["decided"], true, "{until}");
    let slices = r["paired"]["slices"].as_array().unwrap();
    // Decided on whole pairs, and the part of the next pair begun before the stop is not kept.
    assert!(
        slices.len() % 2 == 0 && slices.len() < 45,
        "{}",
        slices.len()
    );
    assert!(
        out.stderr.contains("until-decisive: decided after"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("in the same job: regression: +")
            && out.stdout.contains("; decided on its first "),
        "{}",
        out.stdout
    );
}

/// The same build on both sides with a limit too short for the six pairs a decision needs:
/// the run uses its whole limit, is not judged (exit 5), and says how much longer would do.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 5 s of load")]
fn an_undecided_run_spends_its_limit_and_says_so() {
    let (change, base) = (slow_app(20), slow_app(20));
    let out = gate(&change.url(), &base.url(), "5s").run().expect_exit(5);
    let r = out.results();
    assert_eq!(r["paired"]["until_decisive"]["decided"], false);
    assert!(
        out.stdout
            .contains("it ran the whole until-decisive limit of 5s; about")
            && out.stdout.contains("more would likely decide it"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("decided after"), "{}", out.stderr);
}

/// A clear +30 % measured by a generator that stalls 40 ms every second, longer than the
/// latencies: the referee weighs the stall as the checks do at the end, so the decision the
/// pairs read as measured is no decision, and the run goes on to its limit instead of stopping
/// at six pairs on a verdict its stall could overturn.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 34 s of load")]
fn a_decision_the_stall_could_overturn_does_not_stop_the_run() {
    let (change, base) = (slow_app(26), slow_app(20));
    let out = gate(&change.url(), &base.url(), "34s")
        .args(["--regression", "p50 +5%"])
        .env("LOADFORGE_GATE_TEST_HICCUP_MS", "40")
        .run()
        .expect_exit(5);
    let r = out.results();
    assert_eq!(
        r["paired"]["until_decisive"]["decided"], false,
        "{}",
        out.stdout
    );
    let slices = r["paired"]["slices"].as_array().unwrap();
    assert!(slices.len() >= 14, "ran past six pairs: {}", slices.len());
    assert!(
        !out.stderr.contains("until-decisive: decided after"),
        "{}",
        out.stderr
    );
}
