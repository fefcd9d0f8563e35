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

/// Histories whose runs mostly share one value, so that their MAD is 0 (see the judgement's
/// *ties*): the case where one wild run could set the spread.
#[derive(Debug, Clone, Copy)]
pub enum Tied {
    /// Locust's p95 of 75 requests: 200 ms moved by ±`noise` a run, plus up to 20 ms a request,
    /// each latency rounded as Locust rounds it (to 10 ms between 100 ms and 1 s), so most runs
    /// read 220 ms. Judged by `p95 +20% +10ms` with the rounding step as the floor and the
    /// least margin, the step taken at the larger of this run's value and the history's median,
    /// as the gate does for a quantised run.
    LocustP95 {
        /// Run-to-run noise, as a fraction.
        noise: f64,
    },
    /// The error rate of runs of `requests` requests, each failing with probability `rate`,
    /// judged by `error_rate +50% +1%` (the built-in rule).
    ErrorRate {
        /// Requests per run.
        requests: u64,
        /// The chance that one request fails.
        rate: f64,
    },
}

/// One tie scenario: a history of `history` runs of the same build, one of them (at a random
/// place) replaced by `wild` when set.
#[derive(Debug, Clone, Copy)]
pub struct Ties {
    /// What the runs measure.
    pub tied: Tied,
    /// Runs in the history.
    pub history: usize,
    /// The wild run's value (ms or %), if the history holds one.
    pub wild: Option<f64>,
}

impl Ties {
    /// Pairs of (history, a run worse by `margins` times the rule's margin: a slowdown of
    /// 1 + 0.2 · margins for the p95, `margins` points more errors on a 0 % centre): how often
    /// each judgement calls it a regression. `margins` 0 gives the false-alarm rate.
    pub fn pairs(&self, margins: f64, trials: usize, seed: u64) -> Rates {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut hits = (0, 0, 0);
        for _ in 0..trials {
            let mut history: Vec<Run> =
                (0..self.history).map(|_| self.run(&mut rng, 0.0)).collect();
            if let Some(value) = self.wild {
                let at = rng.random_range(0..self.history);
                history[at] = Run {
                    p95: value,
                    sampling_error: None,
                };
            }
            let run = self.run(&mut rng, margins);
            let (old, new, noisy) = self.judge(&history, &run);
            hits.0 += old as usize;
            hits.1 += new as usize;
            hits.2 += noisy as usize;
        }
        rates(hits, trials)
    }

    /// One run's value (in `Run::p95`, whichever the metric), worse by `margins` margins.
    fn run(&self, rng: &mut SmallRng, margins: f64) -> Run {
        match self.tied {
            Tied::LocustP95 { noise } => {
                let slowdown = 1.0 + 0.2 * margins;
                let base = 200.0 * (1.0 + rng.random_range(-noise..=noise));
                let mut latencies: Vec<f64> = (0..75)
                    .map(|_| locust_round((base + rng.random_range(0.0..20.0)) * slowdown))
                    .collect();
                latencies.sort_by(f64::total_cmp);
                let quantile = |q: f64| {
                    let rank = ((q / 100.0) * latencies.len() as f64).ceil() as usize;
                    latencies.get(rank.saturating_sub(1)).copied()
                };
                Run {
                    p95: quantile(95.0).unwrap_or(0.0),
                    sampling_error: judgement::percentile_sampling_error(95.0, 75, quantile),
                }
            }
            Tied::ErrorRate { requests, rate } => {
                let p = rate + margins / 100.0;
                let pct = binomial(rng, requests, p) as f64 / requests as f64 * 100.0;
                Run {
                    p95: pct,
                    sampling_error: judgement::rate_sampling_error(pct, requests),
                }
            }
        }
    }

    /// Judges `run` against the previous run (old) and the history (new), as the gate does:
    /// (old says regression, new says regression, too noisy).
    fn judge(&self, history: &[Run], run: &Run) -> (bool, bool, bool) {
        let (requests, step, relative, absolute) = match self.tied {
            Tied::LocustP95 { .. } => {
                let values: Vec<f64> = history.iter().map(|r| r.p95).collect();
                let typical = judgement::centre_and_spread(&values).map_or(0.0, |(c, _)| c);
                (75, locust_step(run.p95.max(typical)), 0.2, 10.0)
            }
            Tied::ErrorRate { requests, .. } => (requests, 0.0, 0.5, 1.0),
        };
        let margin = |c: f64| (c.abs() * relative).max(absolute).max(step);
        let previous = history.last().map_or(0.0, |r| r.p95);
        let old = run.p95 - previous > margin(previous);
        let points: Vec<Point> = (history.iter())
            .map(|r| Point {
                value: r.p95,
                requests: Some(requests),
            })
            .collect();
        let current = Current {
            value: run.p95,
            requests: Some(requests),
            sampling_error: run.sampling_error,
        };
        let j =
            judgement::judge(Worse::Up, margin, current, &points, step).expect("a full history");
        (old, j.regressed, j.too_noisy(margin(j.centre)))
    }
}

/// Locust's rounding of a response time: two significant digits (whole ms below 100 ms).
fn locust_round(ms: f64) -> f64 {
    let step = locust_step(ms);
    (ms / step).round() * step
}

/// The step of Locust's rounding at `ms` (the gate's `quantisation_step`).
fn locust_step(ms: f64) -> f64 {
    if ms < 100.0 {
        1.0
    } else if ms < 1000.0 {
        10.0
    } else {
        100.0
    }
}

/// Failures among `n` requests that each fail with probability `p`: exact, by inversion, in
/// about n·p steps (the model keeps n·p at a few hundred at most).
fn binomial(rng: &mut SmallRng, n: u64, p: f64) -> u64 {
    if p <= 0.0 {
        return 0;
    }
    let q = 1.0 - p;
    let mut pmf = q.powf(n as f64);
    assert!(pmf > 0.0, "n·p too large for inversion: {n} × {p}");
    let u: f64 = rng.random();
    let (mut k, mut cdf) = (0, pmf);
    while u > cdf && k < n {
        pmf *= (n - k) as f64 / (k + 1) as f64 * p / q;
        k += 1;
        cdf += pmf;
    }
    k
}
