//! What the generator-health meters cost: the native engine's CPU per request with its meters
//! (the runtime and thread hiccup meters, the once-a-second `/proc` counters) and without,
//! in one process, in alternating rounds against the same target, so a drift of the machine
//! falls on both sides alike. `bench/run.py` runs it against its nginx, both pinned to their
//! own cores; it prints figures and asserts nothing.
//!
//! Usage: `cargo run --release --example meters -- http://127.0.0.1:18090/ 50 5 10`
//! (target, connections, seconds per round, pairs of rounds); run it under `taskset -c N` so the
//! engine, the meter thread and their neighbours share one core, as on a one-core runner.

use std::{path::Path, sync::Arc, time::Duration};

use loadforge_gate::{
    engine::{native, NativePlan, Target},
    scenario::Scenario,
};
use nix::sys::resource::{getrusage, UsageWho};
use tokio_util::sync::CancellationToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let url = url::Url::parse(&arg(0, "http://127.0.0.1:18090/"))?;
    let users: u32 = arg(1, "50").parse()?;
    let seconds: u64 = arg(2, "5").parse()?;
    let rounds: usize = arg(3, "10").parse()?;
    let scenario = Scenario::parse(
        "tasks: [{request: {method: GET, path: /}}]\n",
        Path::new("plain.yml"),
        &|_| None,
    )?;
    let mut plan = NativePlan {
        scenario: Arc::new(scenario),
        scenario_name: "plain".into(),
        target: Target::from_url(&url)?,
        users,
        spawn_rate: 1e9,
        run_time: Duration::from_secs(seconds),
        workers: 1,
        progress_every: None,
        warmup: Duration::ZERO,
        rate: None,
        ramp: Duration::ZERO,
        watchdog: None,
        meters: true,
        paired: None,
    };
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..rounds {
        // A pair of neighbouring rounds, on then off or off then on: neither side always first.
        let mut measure = |meters: bool| -> Result<f64, Box<dyn std::error::Error>> {
            plan.meters = meters;
            let us = cpu_us_per_request(&plan)?;
            eprintln!(
                "pair {pair}: meters {}: {us:.3} µs",
                if meters { "on" } else { "off" }
            );
            Ok(us)
        };
        let (a, b) = if pair % 2 == 0 {
            let a = measure(true)?;
            (a, measure(false)?)
        } else {
            let b = measure(false)?;
            (measure(true)?, b)
        };
        on.push(a);
        off.push(b);
        ratios.push(a / b - 1.0);
    }
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let half = 2.0 * sd / n.sqrt();
    println!(
        "meters on:  {:.3} µs CPU per request (median of {rounds} rounds)",
        median(&mut on)
    );
    println!(
        "meters off: {:.3} µs CPU per request (median of {rounds} rounds)",
        median(&mut off)
    );
    println!(
        "meters cost: {:+.2}% CPU per request (mean of {rounds} paired rounds, ±{:.2}% at about 95% confidence)",
        mean * 100.0,
        half * 100.0
    );
    Ok(())
}

/// One round: the process's CPU time (user and system, every thread) over the requests made.
fn cpu_us_per_request(plan: &NativePlan) -> Result<f64, Box<dyn std::error::Error>> {
    let cpu = || -> Result<f64, nix::Error> {
        let u = getrusage(UsageWho::RUSAGE_SELF)?;
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
        Ok(us(u.user_time()) + us(u.system_time()))
    };
    let before = cpu()?;
    let result = native::run(plan, &CancellationToken::new())?;
    let spent = cpu()? - before;
    let requests = result.aggregate.requests.max(1) as f64;
    Ok(spent / requests)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
