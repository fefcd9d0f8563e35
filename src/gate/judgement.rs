//! Is a change real? A regression rule's margin (`p95 +20% +10ms`) names the smallest change the
//! team cares about. Compared with one previous run, the observed change carries that run's
//! noise and this run's: with ±8 % run-to-run noise a true +25 % slowdown is observed anywhere
//! from about +15 % to +35 %, so "observed change above +20 %" misses many of them, and one
//! noisy baseline decides the verdict.
//!
//! With a history of runs, the judgement instead:
//! 1. takes the **centre** of the history (its median: one odd run does not move it) and its
//!    **spread** (the standard deviation of the runs after those further than 3.5 robust
//!    deviations from the median are set aside, see *ties* below);
//! 2. adds the **sampling error** of this run where it exceeds what the history's runs had (a
//!    p95 from 75 requests scatters more than one from 75,000), and the uncertainty of the
//!    centre itself;
//! 3. places the **decision point** so that a change of the full margin is caught 95 % of the
//!    time, but never so low that an unchanged build fails more than 1 % of the time. When both
//!    cannot hold (the margin is smaller than the noise lets anyone see), the point guards the
//!    1 % and the verdict says which change it can still see: "too noisy to judge below +X%".
//!
//! **Ties.** The robust deviation is the scaled MAD (median absolute deviation), and when more
//! than half the runs share one value (0 % errors in every run, a p95 that Locust rounds to the
//! same 10 ms, a fixed request count) the MAD is 0. Keeping every run then would let one wild
//! run set the spread: nineteen runs at 0 % errors and one at 50 % would read a 20 % error rate
//! as noise. No robust scale helps here (Qn and Sn are also 0 past half ties),
//! so the deviation has a floor instead: the values' **resolution**, the larger of half their
//! rounding step (the caller's `floor`) and [`RESOLUTION`] of the median (the histograms keep
//! two significant digits, so latencies 1 % apart may be one bucket apart). A run within 3.5
//! resolutions of the tied centre is the measurement's own granularity and stays; one further
//! away is wild and is set aside, however many runs are tied. At a centre of 0 with exact values
//! the resolution is 0 and only the tied runs stay: their spread is 0, so the rule's margin
//! alone is the decision point, which is what the team asked for when the history has no noise.
//!
//! A slow creep is judged against the whole history, so five +5 % steps are seen as +28 %
//! against the older runs, not as five harmless +5 % steps.
//!
//! What a passing check says comes from the same arithmetic. A change beyond the **noise** (the
//! change an unchanged build stays within 99 % of the time, the lower bound of the decision
//! point) is real, in whichever direction; so a check reads one [`Outcome`]: a *regression*
//! (past the decision point), a *real change below the rule's margin*, a *real improvement*,
//! *within noise*, or *too noisy to judge below +X%* (within noise, and the noise hides changes
//! of the margin's size).
//!
//! The arithmetic is Student's t (the spread is estimated from few runs), one-sided, at the
//! 99th (false alarms) and 95th (catches) percentile.

/// Fewer runs than this and the judgement falls back to comparing with the previous run.
pub const MIN_HISTORY: usize = 3;

/// One earlier run's value of a metric, and how many requests it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The metric's value in that run.
    pub value: f64,
    /// Requests the value came from, when known.
    pub requests: Option<u64>,
}

/// This run's value with the sampling error of its estimate (one standard error, same unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Current {
    /// The metric's value in this run.
    pub value: f64,
    /// Requests the value came from, when known.
    pub requests: Option<u64>,
    /// One standard error of `value` from sampling alone, when it can be estimated.
    pub sampling_error: Option<f64>,
}

/// Which way is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// Latency, error rate: growth is a regression.
    Up,
    /// Throughput: a drop is a regression.
    Down,
}

/// What the judgement found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The history's centre (median).
    pub centre: f64,
    /// The run-to-run spread (one standard deviation) of the history.
    pub spread: f64,
    /// Runs in the history.
    pub runs: usize,
    /// Change from the centre (in the worse direction) above which this run is a regression.
    pub decision: f64,
    /// The change either way that noise alone stays within 99 % of the time (never above
    /// `decision`): a change beyond it is real.
    pub noise: f64,
    /// The smallest change caught 95 % of the time with at most 1 % false alarms.
    pub detectable: f64,
    /// The change this run shows, in the worse direction (negative: better).
    pub change: f64,
    /// Whether the change passed the decision point.
    pub regressed: bool,
}

impl Judgement {
    /// Whether the history is too noisy for the rule's margin: changes of the margin's size
    /// cannot be told from noise.
    pub fn too_noisy(&self, margin: f64) -> bool {
        self.detectable > margin
    }

    /// What this run shows for a rule of `margin`: [`Outcome::Regression`] exactly when
    /// `regressed`, else where the change stands against the noise.
    pub fn outcome(&self, margin: f64) -> Outcome {
        if self.regressed {
            Outcome::Regression
        } else if self.change > self.noise {
            Outcome::BelowMargin
        } else if -self.change > self.noise {
            Outcome::Improvement
        } else if self.too_noisy(margin) {
            Outcome::TooNoisy
        } else {
            Outcome::WithinNoise
        }
    }
}

/// Which of the judgement's words holds for one run. The order is the reports': a reader looks
/// first for what failed, then for what moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "FindingOutcome")]
pub enum Outcome {
    /// Beyond the rule's decision point (and so beyond the noise): the check fails.
    Regression,
    /// Beyond the noise in the worse direction but within the rule's margin: real, and allowed.
    BelowMargin,
    /// Beyond the noise in the better direction.
    Improvement,
    /// Indistinguishable from the history's runs.
    WithinNoise,
    /// Indistinguishable from the history, whose noise also hides changes of the rule's margin:
    /// only changes above the judgement's `detectable` could be seen.
    TooNoisy,
    // A run whose load generator could not keep up will read `Inconclusive` here.
}
crate::quote::word::words!(
    Outcome,
    "finding outcome",
    [
        Outcome::Regression,
        Outcome::BelowMargin,
        Outcome::Improvement,
        Outcome::WithinNoise,
        Outcome::TooNoisy
    ]
);

/// Judges `current` against `history` for a rule whose margin (in the metric's unit) is
/// `margin(centre)`. `None` when the history holds fewer than [`MIN_HISTORY`] runs.
/// `floor` is the smallest spread the values can show (their rounding step, 0 when exact).
pub fn judge(
    worse: Worse,
    margin: impl Fn(f64) -> f64,
    current: Current,
    history: &[Point],
    floor: f64,
) -> Option<Judgement> {
    if history.len() < MIN_HISTORY {
        return None;
    }
    let values: Vec<f64> = history.iter().map(|p| p.value).collect();
    let centre = median(&values);
    let (spread, kept) = trimmed_spread(&values, centre, floor);
    let spread = spread.max(floor / 2.0);
    let df = kept.saturating_sub(1).max(1);
    let extra = extra_sampling(current, history);
    let sigma = (spread.powi(2) * (1.0 + CENTRE_VARIANCE / kept as f64) + extra.powi(2)).sqrt();
    let guard = t_quantile(df, Tail::FalseAlarm) * sigma;
    let catch = t_quantile(df, Tail::Catch) * sigma;
    let decision = guard.max(margin(centre) - catch);
    let change = match worse {
        Worse::Up => current.value - centre,
        Worse::Down => centre - current.value,
    };
    // Figures from an artifact are outside input: arithmetic that overflowed must not turn into
    // a comparison that is never true (a silent pass). The caller then compares with the
    // previous run alone.
    if ![centre, spread, sigma, decision, change]
        .iter()
        .all(|v| v.is_finite())
    {
        return None;
    }
    Some(Judgement {
        centre,
        spread,
        runs: history.len(),
        decision,
        noise: guard,
        detectable: guard + catch,
        change,
        regressed: change > decision,
    })
}

/// The centre (median) and spread (trimmed standard deviation) of `values`, as [`judge`] takes
/// them from a history; `None` for no values.
pub fn centre_and_spread(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let centre = median(values);
    Some((centre, trimmed_spread(values, centre, 0.0).0))
}

/// The relative resolution of a measured value: the histograms keep two significant digits,
/// every value within 1 % of itself (`stats/histogram.rs`). Runs closer than a few of these to
/// a tied centre are not told apart from it (see the module's *ties*).
pub(crate) const RESOLUTION: f64 = 0.01;

/// Runs further than this many robust deviations from the centre are set aside as wild.
const TRIM: f64 = 3.5;

/// The variance of a median of k runs is about π/2 times that of their mean (σ²/k).
pub(crate) const CENTRE_VARIANCE: f64 = std::f64::consts::FRAC_PI_2;

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// The standard deviation of the values within [`TRIM`] robust deviations of the centre, and
/// how many that is: one wild run (a deploy during the test) does not make every later change
/// look like noise. The robust deviation is the scaled MAD, at least the values' resolution
/// (half the rounding step `floor`, [`RESOLUTION`] of the centre), so that ties, whose MAD is
/// 0, still set a wild run aside (the module's *ties*).
pub(crate) fn trimmed_spread(values: &[f64], centre: f64, floor: f64) -> (f64, usize) {
    let deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
    let scale = (median(&deviations) * 1.4826)
        .max(floor / 2.0)
        .max(RESOLUTION * centre.abs());
    let kept: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| (v - centre).abs() <= TRIM * scale)
        .collect();
    let n = kept.len();
    if n < 2 {
        return (0.0, n.max(1));
    }
    let mean = kept.iter().sum::<f64>() / n as f64;
    let var = kept.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (var.sqrt(), n)
}

/// The part of this run's sampling error that the history's spread does not already hold: a
/// run with fewer requests than the history's typical run scatters more than they did.
fn extra_sampling(current: Current, history: &[Point]) -> f64 {
    let Some(se) = current.sampling_error else {
        return 0.0;
    };
    let typical: Vec<f64> = history
        .iter()
        .filter_map(|p| p.requests)
        .map(|n| n as f64)
        .collect();
    match current.requests {
        Some(n) if !typical.is_empty() && n > 0 => {
            let ratio = n as f64 / median(&typical);
            se * (1.0 - ratio).max(0.0).sqrt()
        }
        // Nothing to compare with: the whole sampling error counts.
        _ => se,
    }
}

/// One standard error of a percentile estimated from `requests` values, read off the
/// distribution itself (`quantile(q)` for q in 0..=100): the values one standard error of rank
/// either side of it, halved apart. Distribution-free, so it needs no assumption about latency.
pub fn percentile_sampling_error(
    q: f64,
    requests: u64,
    quantile: impl Fn(f64) -> Option<f64>,
) -> Option<f64> {
    if requests == 0 {
        return None;
    }
    let p = q / 100.0;
    let width = (p * (1.0 - p) / requests as f64).sqrt();
    let lo = quantile(((p - width).max(0.0)) * 100.0)?;
    let hi = quantile(((p + width).min(1.0)) * 100.0)?;
    Some((hi - lo) / 2.0)
}

/// One standard error of a rate in percent (`rate_pct` of `requests`).
pub fn rate_sampling_error(rate_pct: f64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| {
        let p = (rate_pct / 100.0).clamp(0.0, 1.0);
        (p * (1.0 - p) / requests as f64).sqrt() * 100.0
    })
}

#[derive(Clone, Copy)]
pub(crate) enum Tail {
    /// 99th percentile: at most 1 % of unchanged builds fail.
    FalseAlarm,
    /// 95th percentile: a change of the full margin is caught 95 % of the time.
    Catch,
}

/// Student's t, one-sided, for `df` degrees of freedom (rounded down to the table's rows).
pub(crate) fn t_quantile(df: usize, tail: Tail) -> f64 {
    // (df, 99th, 95th)
    const TABLE: &[(usize, f64, f64)] = &[
        (1, 31.821, 6.314),
        (2, 6.965, 2.920),
        (3, 4.541, 2.353),
        (4, 3.747, 2.132),
        (5, 3.365, 2.015),
        (6, 3.143, 1.943),
        (7, 2.998, 1.895),
        (8, 2.896, 1.860),
        (9, 2.821, 1.833),
        (10, 2.764, 1.812),
        (12, 2.681, 1.782),
        (15, 2.602, 1.753),
        (20, 2.528, 1.725),
        (30, 2.457, 1.697),
        (60, 2.390, 1.671),
        (120, 2.358, 1.658),
    ];
    let row = TABLE
        .iter()
        .rev()
        .find(|(d, _, _)| *d <= df)
        .unwrap_or(&TABLE[0]);
    match tail {
        Tail::FalseAlarm => row.1,
        Tail::Catch => row.2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .map(|&value| Point {
                value,
                requests: Some(1000),
            })
            .collect()
    }

    fn now(value: f64) -> Current {
        Current {
            value,
            requests: Some(1000),
            sampling_error: Some(0.5),
        }
    }

    const STEADY: &[f64] = &[
        100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 100.0, 101.0,
    ];

    #[test]
    fn too_little_history_is_no_judgement() {
        let two = points(&[100.0, 101.0]);
        assert_eq!(judge(Worse::Up, |c| c * 0.2, now(500.0), &two, 0.0), None);
    }

    #[test]
    fn a_quiet_history_catches_the_margin_and_passes_the_same_build() {
        let h = points(STEADY);
        let slow = judge(Worse::Up, |c| c * 0.2, now(121.0), &h, 0.0).unwrap();
        assert!(slow.regressed, "{slow:?}");
        assert_eq!(slow.centre, 100.0);
        assert!(slow.decision < 20.0 && slow.decision > 10.0, "{slow:?}");
        let same = judge(Worse::Up, |c| c * 0.2, now(103.0), &h, 0.0).unwrap();
        assert!(!same.regressed, "{same:?}");
        assert!(!same.too_noisy(20.0));
        assert_eq!(slow.outcome(20.0), Outcome::Regression);
        assert_eq!(same.outcome(20.0), Outcome::WithinNoise);
        assert!(same.noise <= same.decision && same.noise > 3.0, "{same:?}");
        let real = judge(Worse::Up, |c| c * 0.2, now(110.0), &h, 0.0).unwrap();
        assert_eq!(real.outcome(20.0), Outcome::BelowMargin, "{real:?}");
        let better = judge(Worse::Up, |c| c * 0.2, now(90.0), &h, 0.0).unwrap();
        assert_eq!(better.outcome(20.0), Outcome::Improvement, "{better:?}");
    }

    #[test]
    fn a_noisy_history_says_what_it_can_see_and_does_not_flap() {
        let h = points(&[100.0, 130.0, 80.0, 115.0, 90.0, 125.0, 75.0, 110.0]);
        let j = judge(Worse::Up, |c| c * 0.2, now(124.0), &h, 0.0).unwrap();
        assert!(j.too_noisy(j.centre * 0.2), "{j:?}");
        assert!(
            !j.regressed,
            "a change inside the noise is not a regression: {j:?}"
        );
        assert!(j.decision > 20.0);
        assert_eq!(j.outcome(j.centre * 0.2), Outcome::TooNoisy);
    }

    #[test]
    fn one_wild_run_does_not_hide_a_regression() {
        let mut values = STEADY.to_vec();
        values.push(400.0);
        let j = judge(Worse::Up, |c| c * 0.2, now(125.0), &points(&values), 0.0).unwrap();
        assert!(j.regressed, "{j:?}");
    }

    /// Most runs at one value make the MAD 0; the wild run must still be set aside, not
    /// widen the spread until a 20-point rise reads as noise.
    #[test]
    fn ties_do_not_admit_a_wild_run() {
        let errors = |c: f64| (c.abs() * 0.5).max(1.0);
        let mut zeros = vec![0.0; 19];
        zeros.push(50.0);
        let j = judge(Worse::Up, errors, now(20.0), &points(&zeros), 0.0).unwrap();
        assert!(j.regressed, "{j:?}");
        assert_eq!((j.centre, j.spread), (0.0, 0.0), "{j:?}");
        let same = judge(Worse::Up, errors, now(0.0), &points(&zeros), 0.0).unwrap();
        assert_eq!(same.outcome(1.0), Outcome::WithinNoise, "{same:?}");
        let latency = |c: f64| (c * 0.2).max(10.0);
        let mut equal = vec![40.0; 19];
        equal.push(5000.0);
        let j = judge(Worse::Up, latency, now(240.0), &points(&equal), 0.0).unwrap();
        assert!(j.regressed, "{j:?}");
        assert!(!j.too_noisy(latency(j.centre)), "{j:?}");
    }

    /// Runs one rounding step or one histogram bucket (1 %) from the tied centre are the
    /// values' own resolution, not wild runs: they stay in the spread.
    #[test]
    fn ties_keep_the_runs_one_step_away() {
        let mut quantised = vec![220.0; 12];
        quantised.extend([210.0, 230.0, 210.0, 230.0, 230.0, 210.0, 230.0, 210.0]);
        let (_, kept) = trimmed_spread(&quantised, 220.0, 10.0);
        assert_eq!(kept, 20);
        let mut bucketed = vec![40.0; 12];
        bucketed.extend([40.4, 39.6, 40.4, 39.6, 40.8, 39.2]);
        let (spread, kept) = trimmed_spread(&bucketed, 40.0, 0.0);
        assert_eq!(kept, 18);
        assert!(spread > 0.2, "{spread}");
    }

    #[test]
    fn a_throughput_drop_is_the_worse_direction() {
        let h = points(STEADY);
        let j = judge(Worse::Down, |c| c * 0.2, now(75.0), &h, 0.0).unwrap();
        assert!(j.regressed && j.change > 20.0, "{j:?}");
        let better = judge(Worse::Down, |c| c * 0.2, now(140.0), &h, 0.0).unwrap();
        assert!(!better.regressed && better.change < 0.0);
    }

    #[test]
    fn a_short_run_among_long_ones_widens_the_decision() {
        let h = points(STEADY);
        let long = judge(Worse::Up, |c| c * 0.05, now(100.0), &h, 0.0).unwrap();
        let short = Current {
            requests: Some(10),
            sampling_error: Some(8.0),
            ..now(100.0)
        };
        let short = judge(Worse::Up, |c| c * 0.05, short, &h, 0.0).unwrap();
        assert!(short.decision > long.decision + 5.0, "{long:?} {short:?}");
    }

    #[test]
    fn overflowing_figures_are_no_judgement_rather_than_a_pass() {
        let h = points(&[1e308, -1e308, 1e308, 5.0]);
        assert_eq!(judge(Worse::Up, |c| c * 0.2, now(10.0), &h, 0.0), None);
    }

    #[test]
    fn sampling_errors_shrink_with_requests() {
        let uniform = |q: f64| Some(q); // values 0..100 spread evenly
        let few = percentile_sampling_error(95.0, 75, uniform).unwrap();
        let many = percentile_sampling_error(95.0, 7500, uniform).unwrap();
        assert!((few / many - 10.0).abs() < 0.5, "{few} {many}");
        assert_eq!(percentile_sampling_error(95.0, 0, uniform), None);
        assert!((rate_sampling_error(50.0, 100).unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(rate_sampling_error(0.0, 100), Some(0.0));
    }
}
