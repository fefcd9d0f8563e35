//! The noise model behind `bench/gate_trust` and its fixed-seed test: synthetic runs of a
//! merge-request smoke test, judged by the old rule (the previous run as the baseline) and by the
//! history judgement (`loadforge_gate::judgement`), with the rule `p95 +20% +10ms`.
//!
//! A run: its base latency is 40 ms moved by the run-to-run noise (uniform within ±noise, a
//! runner's neighbour or a cold cache), each request adds up to 20 ms of jitter (uniform), a
//! slowdown multiplies every latency. Its p95 is read from its requests like the gate reads it
//! from a histogram, so sampling error is real, not modelled.

use loadforge_gate::changepoint::{self, Change};
use loadforge_gate::judgement::{self, Current, Point, Worse};
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// One scenario of the model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Run-to-run noise, as a fraction (0.08 = ±8 %).
    pub noise: f64,
    /// Requests per run.
    pub requests: usize,
    /// Runs in the history the judgement sees (the default chain holds 20).
    pub history: usize,
}

/// How often each judgement said "regression".
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Old rule: this run against the previous one.
    pub old: f64,
    /// History judgement.
    pub new: f64,
    /// History judgement said the history is too noisy for the margin.
    pub too_noisy: f64,
}

struct Run {
    p95: f64,
    sampling_error: Option<f64>,
}

impl Model {
    fn run(&self, rng: &mut SmallRng, slowdown: f64) -> Run {
        let base = 40.0 * (1.0 + rng.random_range(-self.noise..=self.noise));
        let mut latencies: Vec<f64> = (0..self.requests)
            .map(|_| (base + rng.random_range(0.0..20.0)) * slowdown)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = ((q / 100.0) * latencies.len() as f64).ceil() as usize;
            latencies.get(rank.saturating_sub(1)).copied()
        };
        Run {
            p95: quantile(95.0).unwrap_or(0.0),
            sampling_error: judgement::percentile_sampling_error(
                95.0,
                latencies.len() as u64,
                quantile,
            ),
        }
    }

    fn point(&self, run: &Run) -> Point {
        Point {
            value: run.p95,
            requests: Some(self.requests as u64),
        }
    }

    /// Judges `run` both ways; returns (old says regression, new says regression, too noisy).
    fn judge(&self, previous: &Run, history: &[Point], run: &Run) -> (bool, bool, bool) {
        let margin = |c: f64| (c * 0.2).max(10.0);
        let old = run.p95 - previous.p95 > margin(previous.p95);
        let current = Current {
            value: run.p95,
            requests: Some(self.requests as u64),
            sampling_error: run.sampling_error,
        };
        let j = judgement::judge(Worse::Up, margin, current, history, 0.0).expect("a full history");
        (old, j.regressed, j.too_noisy(margin(j.centre)))
    }

    fn history(&self, rng: &mut SmallRng) -> (Vec<Point>, Run) {
        let mut points = Vec::with_capacity(self.history + 5);
        let mut last = self.run(rng, 1.0);
        for _ in 0..self.history {
            last = self.run(rng, 1.0);
            points.push(self.point(&last));
        }
        (points, last)
    }

    /// Pairs of (history of the same build, a run slowed down by `slowdown`): how often each
    /// judgement calls it a regression. `slowdown` 1.0 gives the false-alarm rate.
    pub fn pairs(&self, slowdown: f64, trials: usize, seed: u64) -> Rates {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut hits = (0, 0, 0);
        for _ in 0..trials {
            let (history, previous) = self.history(&mut rng);
            let run = self.run(&mut rng, slowdown);
            let (old, new, noisy) = self.judge(&previous, &history, &run);
            hits.0 += old as usize;
            hits.1 += new as usize;
            hits.2 += noisy as usize;
        }
        rates(hits, trials)
    }

    /// A creep of `step` per default-branch pipeline: each pipeline is judged (old: against
    /// the one before it; new: against the chain, which then takes it in), and a trial counts
    /// as caught when any of the first `steps` pipelines is called a regression.
    pub fn creep(&self, step: f64, steps: u32, trials: usize, seed: u64) -> Rates {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut hits = (0, 0, 0);
        for _ in 0..trials {
            let (mut history, mut previous) = self.history(&mut rng);
            let mut caught = (false, false, false);
            for i in 1..=steps {
                let run = self.run(&mut rng, (1.0 + step).powi(i as i32));
                let (old, new, noisy) = self.judge(&previous, &history, &run);
                caught = (caught.0 || old, caught.1 || new, caught.2 || noisy);
                history.remove(0);
                history.push(self.point(&run));
                previous = run;
            }
            hits.0 += caught.0 as usize;
            hits.1 += caught.1 as usize;
            hits.2 += caught.2 as usize;
        }
        rates(hits, trials)
    }
}

fn rates(hits: (usize, usize, usize), trials: usize) -> Rates {
    let of = |n: usize| n as f64 / trials as f64;
    Rates {
        old: of(hits.0),
        new: of(hits.1),
        too_noisy: of(hits.2),
    }
}

/// How often the change-point search (`loadforge_gate::changepoint`) found what a chain holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Located {
    /// A step reported at the run where it began (a creep: from the run it started from).
    pub exact: f64,
    /// A step or creep reported anywhere (for an unchanged chain: its false positives).
    pub any: f64,
}

impl Model {
    /// The p95 of a chain of `self.history` default-branch runs, oldest first, where run `i`
    /// is slowed down by `slowdown(i)`.
    fn chain(&self, rng: &mut SmallRng, slowdown: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..self.history)
            .map(|i| self.run(rng, slowdown(i)).p95)
            .collect()
    }

    /// `count` unchanged chains of p95 (the cost measurement's input).
    pub fn series(&self, count: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..count).map(|_| self.chain(&mut rng, |_| 1.0)).collect()
    }

    /// Chains whose newest `after` runs are `step` slower (`after` 0: an unchanged chain): how
    /// often the search places the step at its first run, and how often it reports anything.
    pub fn step_chains(&self, step: f64, after: usize, trials: usize, seed: u64) -> Located {
        let mut rng = SmallRng::seed_from_u64(seed);
        let at = self.history - after;
        let (mut exact, mut any) = (0, 0);
        for _ in 0..trials {
            let values = self.chain(&mut rng, |i| if i >= at { step } else { 1.0 });
            let found = changepoint::find(&values, 0.0);
            any += found.is_some() as usize;
            exact += matches!(found, Some(Change::Step(s)) if s.at == at && after > 0) as usize;
        }
        Located {
            exact: exact as f64 / trials as f64,
            any: any as f64 / trials as f64,
        }
    }

    /// Chains whose newest `runs` runs each grew by `per_run` over the one before: how often
    /// a creep is reported from the run it started from (± one run), and anything at all.
    pub fn creep_chains(&self, per_run: f64, runs: usize, trials: usize, seed: u64) -> Located {
        let mut rng = SmallRng::seed_from_u64(seed);
        let from = self.history - 1 - runs;
        let (mut exact, mut any) = (0, 0);
        for _ in 0..trials {
            let values = self.chain(&mut rng, |i| {
                (1.0 + per_run).powi(i.saturating_sub(from) as i32)
            });
            let found = changepoint::find(&values, 0.0);
            any += found.is_some() as usize;
            exact += matches!(found, Some(Change::Creep(c)) if c.from.abs_diff(from) <= 1) as usize;
        }
        Located {
            exact: exact as f64 / trials as f64,
            any: any as f64 / trials as f64,
        }
    }
}
