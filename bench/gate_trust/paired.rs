//! The paired runs of issue 33, simulated: one job measures the base and the change in
//! alternating slices (A B, B A, A B, ...) while the runner's speed drifts, and each run is
//! judged two ways with the rule `p95 +5%`: by the paired judgement
//! (`loadforge_gate::paired`) on its slice pairs, and by the history judgement
//! (`loadforge_gate::judgement`) on the change's p95 over the whole run against 20 earlier
//! runs of the base. A simulation, not a measurement: it shows what the arithmetic does with
//! the noise it is given, nothing about a real runner.
//!
//! A request takes 40 ms plus up to 20 ms of jitter (uniform), times the runner's speed at
//! that instant, times the change's slowdown on the change's side. The runner's speed is one
//! factor per run, uniform within ±`noise` (the history model's run-to-run noise: another
//! runner, another hour), times `1 + busy` while a busy process runs: busy periods switch on
//! and off after a uniform 1 to 5 s, so they hit both sides of one slice pair alike more often
//! than not, and differ from pair to pair. A slice's p95 is read from its own requests.

use loadforge_gate::judgement::{self, Current, Outcome, Point, Worse};
use loadforge_gate::paired::{self, Decision, Margin, Pair, PairedOutcome};
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// The rule both judgements apply: `p95 +5%`.
const MARGIN: f64 = 0.05;

/// One scenario.
#[derive(Debug, Clone, Copy)]
pub struct Drift {
    /// Run-to-run noise of the runner's speed, as a fraction (0.08 = ±8 %).
    pub noise: f64,
    /// Slowdown while a busy process runs (0.25 = +25 %); 0 for a quiet runner.
    pub busy: f64,
    /// Whether the history's runs had busy periods too (else they ran on quiet runners).
    pub busy_history: bool,
    /// Length of one slice, in seconds; a pair is two slices.
    pub slice_secs: f64,
    /// Slice pairs in the run (at most; a run until decisive may stop earlier).
    pub pairs: usize,
    /// Requests in one slice of one side.
    pub requests: usize,
    /// Runs in the history the history judgement sees.
    pub history: usize,
    /// Match each change slice with the base slice from half a run away instead of its own
    /// window: what the pairing by window adds, with everything else the same.
    pub unpaired: bool,
}

/// How often each judgement said what, over the trials of one case.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// History judgement: regression.
    pub history: f64,
    /// History judgement: too noisy to judge.
    pub history_too_noisy: f64,
    /// Paired judgement: regression.
    pub paired: f64,
    /// Paired judgement: too noisy to judge.
    pub paired_too_noisy: f64,
    /// Run until decisive: regression.
    pub decisive: f64,
    /// Run until decisive: too noisy to judge when its time ran out.
    pub decisive_too_noisy: f64,
    /// Slice pairs a run until decisive measured, on average.
    pub pairs_used: f64,
}

/// The runner's speed over one run: a factor, and the times a busy process switched.
struct Runner {
    factor: f64,
    busy: f64,
    /// Whether the busy process runs at time 0.
    busy_at_start: bool,
    /// The times (s) it switched, ascending.
    switches: Vec<f64>,
}

impl Runner {
    fn new(rng: &mut SmallRng, noise: f64, busy: f64, length: f64) -> Runner {
        let mut switches = Vec::new();
        let mut t = rng.random_range(0.0..5.0);
        while t < length {
            switches.push(t);
            t += rng.random_range(1.0..5.0);
        }
        Runner {
            factor: 1.0 + rng.random_range(-noise..=noise),
            busy,
            busy_at_start: rng.random(),
            switches,
        }
    }

    fn speed(&self, t: f64) -> f64 {
        let flips = self.switches.partition_point(|&s| s <= t);
        let busy = self.busy_at_start ^ (flips % 2 == 1);
        self.factor * if busy { 1.0 + self.busy } else { 1.0 }
    }
}

impl Drift {
    fn length(&self) -> f64 {
        self.pairs as f64 * 2.0 * self.slice_secs
    }

    /// The latencies of `requests` requests spread evenly at random over `[from, from + secs)`.
    fn latencies(&self, rng: &mut SmallRng, runner: &Runner, from: f64, slowdown: f64) -> Vec<f64> {
        (0..self.requests)
            .map(|_| {
                let t = from + rng.random_range(0.0..self.slice_secs);
                (40.0 + rng.random_range(0.0..20.0)) * runner.speed(t) * slowdown
            })
            .collect()
    }

    /// One paired run of `pairs` pairs: its slice pairs (p95 of each slice), and every
    /// latency of the change's side.
    fn paired_run(&self, rng: &mut SmallRng, slowdown: f64) -> (Vec<Pair>, Vec<f64>) {
        let runner = Runner::new(rng, self.noise, self.busy, self.length());
        let mut all = Vec::with_capacity(self.pairs * self.requests);
        let pairs = (0..self.pairs)
            .map(|i| {
                let start = i as f64 * 2.0 * self.slice_secs;
                // A B, then B A: a steady drift favours neither side.
                let (base_at, change_at) = match i % 2 {
                    0 => (start, start + self.slice_secs),
                    _ => (start + self.slice_secs, start),
                };
                let mut base = self.latencies(rng, &runner, base_at, 1.0);
                let mut change = self.latencies(rng, &runner, change_at, slowdown);
                let pair = Pair::new(p95(&mut base), p95(&mut change));
                all.extend(change);
                pair
            })
            .collect::<Vec<Pair>>();
        if self.unpaired {
            let n = pairs.len();
            let far = (0..n).map(|i| Pair::new(pairs[(i + n / 2) % n].base, pairs[i].change));
            return (far.collect(), all);
        }
        (pairs, all)
    }

    /// A history of earlier runs of the base, each as long as the change's side of a paired
    /// run, on runners busy or quiet as the scenario says.
    fn history(&self, rng: &mut SmallRng) -> Vec<Point> {
        let busy = if self.busy_history { self.busy } else { 0.0 };
        (0..self.history)
            .map(|_| {
                let runner = Runner::new(rng, self.noise, busy, self.length());
                let mut all: Vec<f64> = (0..self.pairs)
                    .flat_map(|i| {
                        let from = i as f64 * 2.0 * self.slice_secs;
                        self.latencies(rng, &runner, from, 1.0)
                    })
                    .collect();
                Point {
                    value: p95(&mut all),
                    requests: Some(all.len() as u64),
                }
            })
            .collect()
    }

    /// The history judgement of the change's whole-run p95: (regression, too noisy).
    fn by_history(&self, history: &[Point], mut change: Vec<f64>) -> (bool, bool) {
        change.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = ((q / 100.0) * change.len() as f64).ceil() as usize;
            change.get(rank.saturating_sub(1)).copied()
        };
        let current = Current {
            value: quantile(95.0).unwrap_or(0.0),
            requests: Some(change.len() as u64),
            sampling_error: judgement::percentile_sampling_error(
                95.0,
                change.len() as u64,
                quantile,
            ),
        };
        let margin = |c: f64| c * MARGIN;
        let j = judgement::judge(Worse::Up, margin, current, history, 0.0).expect("a full history");
        let outcome = j.outcome(margin(j.centre));
        (outcome == Outcome::Regression, outcome == Outcome::TooNoisy)
    }

    /// `trials` paired runs of a change `slowdown` times slower than its base (1.0: A/A),
    /// each judged by the history, by all its pairs, and as a run until decisive would have
    /// judged it: stopped at the first pair after which the interval decided the rule, or at
    /// the last.
    pub fn trials(&self, slowdown: f64, trials: usize, seed: u64) -> Tally {
        let mut rng = SmallRng::seed_from_u64(seed);
        let margin = Margin {
            worse: Worse::Up,
            relative: MARGIN,
            absolute: None,
        };
        let too_noisy = |p: &paired::Paired| p.outcome == PairedOutcome::Judged(Outcome::TooNoisy);
        let mut t = Tally::default();
        for _ in 0..trials {
            let history = self.history(&mut rng);
            let (pairs, change) = self.paired_run(&mut rng, slowdown);
            let (regressed, noisy) = self.by_history(&history, change);
            t.history += f64::from(u8::from(regressed));
            t.history_too_noisy += f64::from(u8::from(noisy));
            let p = paired::judge(&pairs, margin);
            t.paired += f64::from(u8::from(p.regressed()));
            t.paired_too_noisy += f64::from(u8::from(too_noisy(&p)));
            let used = (paired::MIN_PAIRS..=pairs.len())
                .find(|&n| paired::decisive(&pairs[..n], margin) == Decision::Decided)
                .unwrap_or(pairs.len());
            let d = paired::judge(&pairs[..used], margin);
            t.decisive += f64::from(u8::from(d.regressed()));
            t.decisive_too_noisy += f64::from(u8::from(too_noisy(&d)));
            t.pairs_used += used as f64;
        }
        let n = trials as f64;
        Tally {
            history: t.history / n,
            history_too_noisy: t.history_too_noisy / n,
            paired: t.paired / n,
            paired_too_noisy: t.paired_too_noisy / n,
            decisive: t.decisive / n,
            decisive_too_noisy: t.decisive_too_noisy / n,
            pairs_used: t.pairs_used / n,
        }
    }
}

/// The p95 of `values` as the gate reads it (the value at rank ceil(0.95 n)).
fn p95(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((0.95 * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    *values.select_nth_unstable_by(rank, f64::total_cmp).1
}
