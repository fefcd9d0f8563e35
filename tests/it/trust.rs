//! The trust goals of the regression judgement, on the benchmark's noise model with a fixed
//! seed: the table `cargo run --release --example gate_trust` prints cannot silently get worse.

#[path = "../../bench/gate_trust/sim.rs"]
mod sim;

use sim::Model;

const TRIALS: usize = 1000;

#[test]
fn at_8_percent_noise_and_75_requests_few_false_alarms_and_most_slowdowns_caught() {
    let m = Model {
        noise: 0.08,
        requests: 75,
        history: 20,
    };
    let same = m.pairs(1.0, TRIALS, 11);
    assert!(same.new <= 0.01, "false alarms: {same:?}");
    let slower = m.pairs(1.25, TRIALS, 12);
    assert!(slower.new >= 0.95, "+25% caught: {slower:?}");
    assert!(
        slower.new > slower.old,
        "no better than the old rule: {slower:?}"
    );
    let creep = m.creep(0.05, 5, TRIALS, 13);
    assert!(creep.new >= 0.95, "creep caught: {creep:?}");
}

#[test]
fn at_20_percent_noise_the_gate_does_not_flap_and_says_so() {
    let m = Model {
        noise: 0.20,
        requests: 75,
        history: 20,
    };
    let same = m.pairs(1.0, TRIALS, 21);
    assert!(same.new <= 0.01, "false alarms: {same:?}");
    assert!(same.old > same.new, "the old rule flapped less: {same:?}");
    assert!(
        same.too_noisy >= 0.9,
        "the verdict must say it is too noisy: {same:?}"
    );
}

/// Where it began: on chains of 20 default-branch runs at ±8 % noise, a +25 % step with three
/// runs or more at the new level is placed at its first run in at least 95 % of chains, and an
/// unchanged chain shows a change point in at most 1 % (`gate_trust`'s second table).
#[test]
fn change_points_are_placed_and_unchanged_chains_stay_quiet() {
    let m = Model {
        noise: 0.08,
        requests: 75,
        history: 20,
    };
    let quiet = m.step_chains(1.0, 0, TRIALS, 31);
    assert!(
        quiet.any <= 0.01,
        "A/A chains with a change point: {quiet:?}"
    );
    for after in [2, 3, 5, 10] {
        let step = m.step_chains(1.25, after, TRIALS, 32 + after as u64);
        assert!(
            step.exact >= 0.95,
            "+25% step, {after} runs after: {step:?}"
        );
    }
    let creep = m.creep_chains(0.05, 4, TRIALS, 45);
    assert!(creep.any >= 0.95, "+5%/run creep for 4 runs: {creep:?}");
    // The cost line's input is the same model.
    assert_eq!(m.series(3, 46).len(), 3);
}
