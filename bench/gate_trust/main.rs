//! The gate's trust table: how often each regression judgement cries wolf on an unchanged build
//! and how often it catches a slowdown, on synthetic runs (see `sim.rs` for the model).
//!
//!     cargo run --release --example gate_trust [TRIALS]

mod sim;

use sim::{Model, Rates};

fn main() {
    let trials: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
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
    changes(trials);
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
