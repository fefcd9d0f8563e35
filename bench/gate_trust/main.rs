//! The gate's trust table: how often each regression judgement cries wolf on an unchanged build
//! and how often it catches a slowdown, on synthetic runs (see `sim.rs` for the model).
//!
//!     cargo run --release --example gate_trust [TRIALS] [paired]
//!
//! `paired` prints only the paired runs' table (issue 33; `paired.rs`).

mod paired;
mod sim;

use paired::Drift;
use sim::{Model, Rates, Tied, Ties};

fn main() {
    let trials: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    if std::env::args().nth(2).as_deref() == Some("paired") {
        paired_runs(trials);
        return;
    }
    println!("rule p95 +20% +10ms; {trials} trials per row");
    println!();
    println!("| run noise | requests/run | history | case | old rule (previous run) | history judgement | said too noisy |");
    println!("|---|---|---|---|---|---|---|");
    let models = [
        (0.08, 75, 20),
        (0.08, 780, 20),
        (0.20, 75, 20),
        (0.08, 75, 5),
        (0.08, 75, 3),
    ];
    for (noise, requests, history) in models {
        let m = Model {
            noise,
            requests,
            history,
        };
        let row = |case: &str, r: Rates| {
            println!(
                "| ±{:.0}% | {requests} | {history} | {case} | {:.1}% | {:.1}% | {:.1}% |",
                noise * 100.0,
                r.old * 100.0,
                r.new * 100.0,
                r.too_noisy * 100.0
            )
        };
        row("A/A: false alarms", m.pairs(1.0, trials, 1));
        for slow in [0.10, 0.25, 0.50] {
            row(
                &format!("+{:.0}% caught", slow * 100.0),
                m.pairs(1.0 + slow, trials, 2),
            );
        }
        row(
            "+5%/pipeline creep caught by the 5th",
            m.creep(0.05, 5, trials, 3),
        );
    }
    ties(trials);
    changes(trials);
    paired_runs(trials);
}

/// Paired runs (issue 33): the base and the change in alternating slices of one 60 s job while
/// the runner drifts, judged by the pairs and, on the same runs, by the history judgement.
fn paired_runs(trials: usize) {
    let trials = trials.min(2000);
    println!();
    println!(
        "paired runs: rule p95 +5%; 60 s jobs, 80 requests a second on each side; runner ±8% per run, \
         busy periods +25% switching every 1-5 s; history of 20 runs; {trials} trials per row"
    );
    println!();
    println!("| history ran | slices | case | history: regression | history: too noisy | paired: regression | paired: too noisy | until decisive: regression | until decisive: too noisy | pairs used |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    for busy_history in [false, true] {
        // 80 requests a second on each side: 200 in a 2.5 s slice, 80 in a 1 s one.
        for (slice_secs, pairs, requests) in [(2.5, 12, 200), (1.0, 30, 80)] {
            let d = Drift {
                noise: 0.08,
                busy: 0.25,
                busy_history,
                slice_secs,
                pairs,
                requests,
                history: 20,
                unpaired: false,
            };
            let ran = if busy_history { "busy alike" } else { "quiet" };
            for (case, slowdown, seed) in [
                ("A/A: false alarms", 1.0, 71),
                ("+10% caught", 1.10, 72),
                ("+30% caught", 1.30, 73),
            ] {
                let t = d.trials(slowdown, trials, seed);
                println!(
                    "| {ran} | {pairs} × {slice_secs} s | {case} | {} | {} | {} | {} | {} | {} | {:.1} |",
                    pct(t.history),
                    pct(t.history_too_noisy),
                    pct(t.paired),
                    pct(t.paired_too_noisy),
                    pct(t.decisive),
                    pct(t.decisive_too_noisy),
                    t.pairs_used
                );
            }
        }
    }
    unpaired(trials);
}

/// The same runs with each change slice matched to the base slice from half a run away: what
/// the pairing by window adds (the history's columns are the same runs as above).
fn unpaired(trials: usize) {
    println!();
    println!("the same paired runs (history ran quiet), each change slice matched with the base slice half a run away");
    println!();
    println!("| slices | case | paired: regression | paired: too noisy | until decisive: regression | until decisive: too noisy | pairs used |");
    println!("|---|---|---|---|---|---|---|");
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    for (slice_secs, pairs, requests) in [(2.5, 12, 200), (1.0, 30, 80)] {
        let d = Drift {
            noise: 0.08,
            busy: 0.25,
            busy_history: false,
            slice_secs,
            pairs,
            requests,
            history: 20,
            unpaired: true,
        };
        for (case, slowdown, seed) in [("A/A: false alarms", 1.0, 71), ("+10% caught", 1.10, 72)] {
            let t = d.trials(slowdown, trials, seed);
            println!(
                "| {pairs} × {slice_secs} s | {case} | {} | {} | {} | {} | {:.1} |",
                pct(t.paired),
                pct(t.paired_too_noisy),
                pct(t.decisive),
                pct(t.decisive_too_noisy),
                t.pairs_used
            );
        }
    }
}

/// Histories whose runs mostly share one value (their MAD is 0), with and without one wild run:
/// false alarms, and changes of 1.25 times the rule's margin caught (the p95 +25 % against
/// `+20%`; the error rate +1.25 points against `+1%`, the margin on a 0 % centre).
fn ties(trials: usize) {
    println!();
    println!("ties: histories of 20 runs that mostly share one value; {trials} trials per row");
    println!();
    println!("| history | wild run | case | old rule (previous run) | history judgement | said too noisy |");
    println!("|---|---|---|---|---|---|");
    let locust = Tied::LocustP95 { noise: 0.02 };
    let errors = |requests, rate| Tied::ErrorRate { requests, rate };
    let (p95, points) = ("+25% caught", "+1.25 points caught");
    let scenarios = [
        ("Locust p95 (10 ms steps), ±2%", locust, None, p95),
        ("Locust p95 (10 ms steps), ±2%", locust, Some(900.0), p95),
        ("Locust p95 (10 ms steps), ±2%", locust, Some(5000.0), p95),
        (
            "errors 0%, 10,000 requests",
            errors(10_000, 0.0),
            Some(50.0),
            points,
        ),
        (
            "errors 1 in 20,000, 10,000 requests",
            errors(10_000, 0.00005),
            Some(50.0),
            points,
        ),
        (
            "errors 0%, 1,000 requests",
            errors(1_000, 0.0),
            Some(50.0),
            points,
        ),
    ];
    for (seed, (name, tied, wild, caught)) in (61..).zip(scenarios) {
        let m = Ties {
            tied,
            history: 20,
            wild,
        };
        let unit = if caught == p95 { " ms" } else { "%" };
        let wild = wild.map_or("none".to_string(), |w| format!("{w}{unit}"));
        let row = |case: &str, r: Rates| {
            println!(
                "| {name} | {wild} | {case} | {:.1}% | {:.1}% | {:.1}% |",
                r.old * 100.0,
                r.new * 100.0,
                r.too_noisy * 100.0
            )
        };
        row("A/A: false alarms", m.pairs(0.0, trials, seed * 2));
        row(caught, m.pairs(1.25, trials, seed * 2 + 1));
    }
}

/// Where it began: the change-point search over default-branch chains of p95 (75 requests a
/// run), a +25 % step or a +5 %/run creep at the newest runs, and unchanged chains.
fn changes(trials: usize) {
    println!();
    println!("change points over the default-branch chain of p95; {trials} chains per row");
    println!();
    println!("| run noise | chain | case | located at the right run | reported anything |");
    println!("|---|---|---|---|---|");
    for (noise, history) in [(0.08, 20), (0.08, 10), (0.08, 6), (0.20, 20)] {
        let m = Model {
            noise,
            requests: 75,
            history,
        };
        let row = |case: &str, l: sim::Located| {
            println!(
                "| ±{:.0}% | {history} | {case} | {} | {:.1}% |",
                noise * 100.0,
                if case.starts_with("A/A") {
                    "–".to_string()
                } else {
                    format!("{:.1}%", l.exact * 100.0)
                },
                l.any * 100.0
            )
        };
        row("A/A: unchanged chain", m.step_chains(1.0, 0, trials, 31));
        for after in [2, 3, 5, 10] {
            if after + 3 <= history {
                row(
                    &format!("+25% step, {after} runs at the new level"),
                    m.step_chains(1.25, after, trials, 32 + after as u64),
                );
            }
        }
        if history >= 8 {
            row(
                "+5%/run creep for 4 runs (start ±1 run)",
                m.creep_chains(0.05, 4, trials, 45),
            );
        }
    }
    // The gate's bound: 1,000 endpoints (and all requests) × p95 and error rate × 20 runs.
    let m = Model {
        noise: 0.08,
        requests: 75,
        history: 20,
    };
    let series = m.series(2002, 46);
    let start = std::time::Instant::now();
    let found = series
        .iter()
        .filter(|v| loadforge_gate::changepoint::find(v, 0.0).is_some())
        .count();
    println!();
    println!(
        "cost: {} series of 20 runs searched in {:.1} ms ({found} with a change point)",
        series.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
}
