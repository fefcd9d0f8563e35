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
}
