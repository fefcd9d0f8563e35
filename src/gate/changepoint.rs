//! Where did it begin? Over the default-branch history of one endpoint's metric (oldest first),
//! this finds the run where a lasting **step** began, or the run since which the metric has
//! **crept** up run after run, so a report can name the pipeline and commit, not only say
//! "regression".
//!
//! The method is binary segmentation with a Student-t test (the significance test Apache Otava,
//! formerly Hunter, uses for its E-divisive candidates), on the noise model of the regression
//! judgement ([`super::judgement`]): each segment's **centre** is its median, its **spread** the
//! standard deviation of the runs within 3.5 robust deviations of that median (never less than
//! the values' resolution, so that ties still set a wild run aside), and the variance
//! of a median is taken as π/2 times that of a mean. Histories are short (at most 20 runs), so
//! the test is parametric rather than a permutation test: a permutation test cannot reach 1 %
//! on 8 runs at all, and needs about 14 to place a step three runs back.
//!
//! - **Step:** every split with at least [`MIN_BEFORE`] runs before and [`MIN_AFTER`] after is a
//!   candidate, and the one of largest E-divisive means divergence (Matteson & James 2014; the
//!   statistic of MongoDB's change-point detection and of Otava) is where the step would be. It
//!   is a change point when the t-test there (the difference of the two centres over its
//!   standard error from the pooled spread, `df` = runs − 2), two-sided, times the number of
//!   candidates (Bonferroni), is at most [`STEP_ALPHA`]; the search then recurses into the newer
//!   segment. The newest change point is reported when it is a step up (worse, for latency and
//!   error rate).
//! - **Creep:** for each tail window of [`MIN_CREEP_RUNS`] to [`MAX_CREEP_RUNS`] runs with at
//!   least [`MIN_BEFORE`] runs before it, the least-squares slope over the window is tested
//!   against the noise of the runs before it pooled with the window's own residuals (one-sided,
//!   Bonferroni over the windows, [`CREEP_ALPHA`]); of the significant windows, the one whose
//!   kink (flat, then the line) fits best says where it started. When both a step and a creep
//!   are found, the model with the smaller residual variance is reported, each model's residual
//!   sum of squares over its own degrees of freedom: the line has one parameter more than the
//!   new level, and comparing raw sums let a creep's extra slope steal 6 % of the steps with two
//!   runs at the new level.
//!
//! **False positives:** under independent normal run-to-run noise the chance that an unchanged
//! history reports anything is nominally at most [`STEP_ALPHA`] + [`CREEP_ALPHA`] = 0.5 % per
//! metric. The trimmed spread of a segment of three or four runs underestimates the noise now
//! and then, so the nominal bound is half the 1 % goal; the trust simulation (`bench/gate_trust`,
//! ±8 % uniform noise, sampled p95) measures the real rate and the catch rate.
//!
//! **Cost:** at most 20 runs: ≤ 16 candidate splits per level, each an O(n²) divergence
//! (≤ 400 differences), one t-test per level, and ≤ 7 creep windows: 2,002 series of 20 runs
//! (1,000 endpoints and all requests, p95 and error rate) take about 10 ms optimised. Pure and
//! deterministic: no randomness at all.

use super::judgement::{median, trimmed_spread, CENTRE_VARIANCE};

/// Fewest runs before a change point: the spread is estimated from them.
pub const MIN_BEFORE: usize = 3;
/// Fewest runs after a step: one run alone is what the regression judgement weighs.
pub const MIN_AFTER: usize = 2;
/// Fewest runs in a creep window (three rises in a row).
pub const MIN_CREEP_RUNS: usize = 4;
/// Most runs in a creep window.
pub const MAX_CREEP_RUNS: usize = 10;
/// Family-wise false-positive bound of the step search on an unchanged history.
pub const STEP_ALPHA: f64 = 0.0025;
/// Family-wise false-positive bound of the creep test on an unchanged history.
pub const CREEP_ALPHA: f64 = 0.0025;
/// The longest history looked at (the default chain holds 20 runs); older runs are ignored.
pub const MAX_RUNS: usize = 20;

/// A lasting step: the runs from `at` on sit at another level than those before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Index of the first run at the new level.
    pub at: usize,
    /// Centre (median) of the runs before.
    pub before: f64,
    /// Centre (median) of the runs from `at` on.
    pub after: f64,
    /// Bonferroni-adjusted p-value of the step (two-sided).
    pub p: f64,
}

/// A sustained rise: from run `from` to the newest, the metric grew by `per_run` a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Creep {
    /// Index of the run the rise starts from (the last one at the old level).
    pub from: usize,
    /// The level at `from`, read off the fitted line.
    pub start: f64,
    /// Growth per run (least-squares slope, the metric's unit).
    pub per_run: f64,
    /// Bonferroni-adjusted p-value of the slope (one-sided).
    pub p: f64,
}

/// What the history shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// A lasting step up.
    Step(Step),
    /// A sustained rise.
    Creep(Creep),
}

/// The newest worsening (upward) step or creep in `values` (oldest first), if any.
/// `floor` is the smallest spread the values can show (their rounding step, 0 when exact).
/// Values beyond the newest [`MAX_RUNS`] are ignored; non-finite values make no finding.
pub fn find(values: &[f64], floor: f64) -> Option<Change> {
    let offset = values.len().saturating_sub(MAX_RUNS);
    let values = &values[offset..];
    if values.len() < MIN_BEFORE + MIN_AFTER || !values.iter().all(|v| v.is_finite()) {
        return None;
    }
    let step = newest_step(values, 0, floor).filter(|s| s.after > s.before);
    let creep = creep(values, floor).filter(|c| !one_wild_run(values, c));
    let found = match (step, creep) {
        (Some(s), Some(c)) => {
            // Compared where both models speak: from the earlier of the two starts on.
            let lo = s.at.min(c.from);
            let step_rss = ss(&values[lo..s.at]) + ss(&values[s.at..]);
            let creep_rss = ss(&values[lo..c.from]) + line(&values[c.from..]).2;
            // Residual variance: two levels (step) against a level and a line (creep).
            let m = (values.len() - lo) as f64;
            if step_rss / (m - 2.0) <= creep_rss / (m - 3.0) {
                Change::Step(s)
            } else {
                Change::Creep(c)
            }
        }
        (Some(s), None) => Change::Step(s),
        (None, Some(c)) => Change::Creep(c),
        (None, None) => return None,
    };
    Some(match found {
        Change::Step(s) => Change::Step(Step {
            at: s.at + offset,
            ..s
        }),
        Change::Creep(c) => Change::Creep(Creep {
            from: c.from + offset,
            ..c
        }),
    })
}

/// The newest significant change point in `values` (indices shifted by `base`), either way.
fn newest_step(values: &[f64], base: usize, floor: f64) -> Option<Step> {
    let n = values.len();
    if n < MIN_BEFORE + MIN_AFTER {
        return None;
    }
    let candidates = n + 1 - MIN_BEFORE - MIN_AFTER;
    // Where: the split of largest E-divisive divergence. Whether: the t-test there.
    let at = (MIN_BEFORE..=n - MIN_AFTER)
        .map(|at| (at, divergence(values, at)))
        .max_by(|x, y| x.1.total_cmp(&y.1))?
        .0;
    let (p, before, after) = split(values, at, floor)?;
    let p = (p * candidates as f64).min(1.0);
    if p > STEP_ALPHA {
        return None;
    }
    let found = Step {
        at: base + at,
        before,
        after,
        p,
    };
    // A newer change point inside the newer segment is where the current level began.
    newest_step(&values[at..], base + at, floor).or(Some(found))
}

/// The E-divisive means statistic (Matteson & James 2014, exponent 1) of a split at `at`: the
/// scaled energy distance between the runs before and from `at` on.
fn divergence(values: &[f64], at: usize) -> f64 {
    let (x, y) = values.split_at(at);
    let (m, k) = (x.len() as f64, y.len() as f64);
    let between: f64 = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| (a - b).abs()))
        .sum();
    let within = |v: &[f64]| {
        let pairs = (v.len() * (v.len() - 1) / 2).max(1) as f64;
        let sum: f64 = v
            .iter()
            .enumerate()
            .flat_map(|(i, a)| v[i + 1..].iter().map(move |b| (a - b).abs()))
            .sum();
        sum / pairs
    };
    m * k / (m + k) * (2.0 * between / (m * k) - within(x) - within(y))
}

/// Two-sided p-value of a step at `at`, and the two centres.
fn split(values: &[f64], at: usize, floor: f64) -> Option<(f64, f64, f64)> {
    let (pre, post) = values.split_at(at);
    let (cb, ca) = (median(pre), median(post));
    let (sb, kb) = trimmed_spread(pre, cb, floor);
    let (sa, ka) = trimmed_spread(post, ca, floor);
    let df = (kb + ka).saturating_sub(2).max(1);
    let pooled = ((kb.saturating_sub(1)) as f64 * sb * sb
        + (ka.saturating_sub(1)) as f64 * sa * sa)
        / df as f64;
    let spread = pooled.sqrt().max(floor / 2.0).max(f64::MIN_POSITIVE);
    let se = spread * (CENTRE_VARIANCE * (1.0 / kb as f64 + 1.0 / ka as f64)).sqrt();
    let t = (ca - cb) / se;
    if !t.is_finite() {
        return None;
    }
    Some((2.0 * t_upper(t.abs(), df as f64), cb, ca))
}

/// The best significant upward creep over a tail window, if any.
fn creep(values: &[f64], floor: f64) -> Option<Creep> {
    let n = values.len();
    let longest = MAX_CREEP_RUNS.min(n.saturating_sub(MIN_BEFORE));
    if longest < MIN_CREEP_RUNS {
        return None;
    }
    let windows = longest + 1 - MIN_CREEP_RUNS;
    let best = (MIN_CREEP_RUNS..=longest)
        .filter_map(|k| {
            let from = n - k;
            let (pre, window) = values.split_at(from);
            let (slope, intercept, rss) = line(window);
            let (sp, kp) = trimmed_spread(pre, median(pre), floor);
            let df = kp - 1 + k - 2;
            let var = ((kp - 1) as f64 * sp * sp + rss) / df as f64;
            let spread = var.sqrt().max(floor / 2.0).max(f64::MIN_POSITIVE);
            let sxx = (k * (k * k - 1)) as f64 / 12.0;
            let t = slope / (spread / sxx.sqrt());
            (t.is_finite() && slope > 0.0).then(|| Creep {
                from,
                start: intercept,
                per_run: slope,
                p: t_upper(t, df as f64),
            })
        })
        .map(|c| Creep {
            p: (c.p * windows as f64).min(1.0),
            ..c
        })
        .filter(|c| c.p <= CREEP_ALPHA)
        // Where it started: the window whose kink fits best (a flat level, then the line).
        .min_by(|x, y| kinked_rss(values, x.from).total_cmp(&kinked_rss(values, y.from)))?;
    Some(best)
}

/// Whether one wild newest run explains `values` at least as well as the creep `c`: a level
/// with the newest run on its own (two parameters) against a level until `c.from` and a line
/// after it (three), each model's residual sum of squares over its own degrees of freedom, as
/// a step and a creep are weighed. A line through a flat window and one jump at its end has a
/// slope as significant as the jump is large, so without this one bad run reads as a trend; a
/// single run is what the regression judgement weighs, and a step needs [`MIN_AFTER`] runs.
fn one_wild_run(values: &[f64], c: &Creep) -> bool {
    let n = values.len();
    let wild = ss(&values[..n - 1]) / (n - 2) as f64;
    wild <= kinked_rss(values, c.from) / (n - 3) as f64
}

/// Residual sum of squares of a flat level until `from`, then a line.
fn kinked_rss(values: &[f64], from: usize) -> f64 {
    ss(&values[..from]) + line(&values[from..]).2
}

/// Least-squares line over `y` at x = 0, 1, …: slope, value at x = 0, residual sum of squares.
fn line(y: &[f64]) -> (f64, f64, f64) {
    let k = y.len() as f64;
    let mx = (k - 1.0) / 2.0;
    let my = y.iter().sum::<f64>() / k;
    let sxx: f64 = (0..y.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    let sxy: f64 = y
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - mx) * (v - my))
        .sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let rss = y
        .iter()
        .enumerate()
        .map(|(i, v)| (v - intercept - slope * i as f64).powi(2))
        .sum();
    (slope, intercept, rss)
}

/// Sum of squared deviations from the mean (0 for no values).
fn ss(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let m = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - m).powi(2)).sum()
}

/// P(T > t) for Student's t with `df` degrees of freedom, t ≥ 0.
pub fn t_upper(t: f64, df: f64) -> f64 {
    if t <= 0.0 {
        return 0.5;
    }
    0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..200 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-12 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &[f64] = &[
        100.0, 102.0, 98.0, 101.0, 99.0, 100.0, 103.0, 97.0, 100.0, 101.0, 99.0, 100.0,
    ];

    #[test]
    fn student_t_tails_match_the_tables() {
        // One-sided 99th and 95th percentiles (judgement.rs's table).
        for (df, q99, q95) in [
            (2.0, 6.965, 2.920),
            (5.0, 3.365, 2.015),
            (20.0, 2.528, 1.725),
        ] {
            assert!((t_upper(q99, df) - 0.01).abs() < 2e-4, "{df}");
            assert!((t_upper(q95, df) - 0.05).abs() < 2e-4, "{df}");
        }
        assert_eq!(t_upper(0.0, 3.0), 0.5);
    }

    #[test]
    fn a_flat_history_has_no_change() {
        assert_eq!(find(FLAT, 0.0), None);
        assert_eq!(find(&[0.0; 12], 0.01), None);
        assert_eq!(find(&FLAT[..4], 0.0), None);
    }

    #[test]
    fn a_step_is_found_at_its_first_run() {
        let mut v = FLAT.to_vec();
        v.extend([125.0, 124.0, 127.0]);
        let Some(Change::Step(s)) = find(&v, 0.0) else {
            panic!("{:?}", find(&v, 0.0))
        };
        assert_eq!(s.at, FLAT.len());
        assert!((s.after / s.before - 1.25).abs() < 0.02, "{s:?}");
        assert!(s.p <= STEP_ALPHA);
    }

    #[test]
    fn an_improvement_is_no_finding_and_a_newer_step_wins() {
        let mut down = FLAT.to_vec();
        down.extend([75.0, 76.0, 74.0]);
        assert_eq!(find(&down, 0.0), None);
        let mut twice: Vec<f64> = FLAT[..6].to_vec();
        twice.extend(FLAT[..6].iter().map(|v| v * 1.3));
        twice.extend([160.0, 161.0, 159.0]);
        let Some(Change::Step(s)) = find(&twice, 0.0) else {
            panic!("{:?}", find(&twice, 0.0))
        };
        assert_eq!(s.at, 12, "{s:?}");
    }

    #[test]
    fn a_creep_is_told_from_a_step() {
        let mut v = FLAT.to_vec();
        let last = 100.0;
        v.extend((1..=4).map(|i| last * 1.05f64.powi(i)));
        let Some(Change::Creep(c)) = find(&v, 0.0) else {
            panic!("{:?}", find(&v, 0.0))
        };
        assert!(c.from >= FLAT.len() - 2 && c.from <= FLAT.len(), "{c:?}");
        assert!(c.per_run > 3.0 && c.per_run < 8.0, "{c:?}");
    }

    #[test]
    fn one_wild_run_is_no_step() {
        let mut v = FLAT.to_vec();
        v.push(400.0);
        v.push(100.0);
        assert_eq!(find(&v, 0.0), None);
        assert_eq!(find(&[1.0, f64::NAN, 1.0, 1.0, 1.0, 1.0], 0.0), None);
    }

    /// One run away from the level, the rest at it: neither a creep nor a step, wherever the
    /// run is among the newest (the "+15 points a run for 4 runs" was one 50 % run).
    #[test]
    fn one_wild_newest_run_is_no_creep() {
        let mut errors = vec![0.0; 19];
        errors.push(50.0);
        assert_eq!(find(&errors, 0.01), None);
        let mut latency = FLAT.to_vec();
        latency.push(400.0);
        assert_eq!(find(&latency, 0.0), None);
        for back in 1..=4 {
            let mut v = vec![0.0; 20];
            v[20 - back] = 50.0;
            assert_eq!(find(&v, 0.01), None, "{back} runs back");
            let mut v = FLAT.to_vec();
            let at = v.len() - back;
            v[at] = 400.0;
            assert_eq!(find(&v, 0.0), None, "{back} runs back");
        }
    }

    /// A cheap copy of the trust simulation's model (`bench/gate_trust`): p95 of 75 requests of
    /// 40 ms ± 8 % (per run, uniform) + up to 20 ms (per request, uniform).
    fn chain(rng: &mut crate::rng::Rng64, n: usize, slow: impl Fn(usize) -> f64) -> Vec<f64> {
        use rand::Rng;
        (0..n)
            .map(|i| {
                let base = 40.0 * (1.0 + rng.random_range(-0.08..=0.08));
                let mut l: Vec<f64> = (0..75)
                    .map(|_| (base + rng.random_range(0.0..20.0)) * slow(i))
                    .collect();
                l.sort_by(f64::total_cmp);
                l[71]
            })
            .collect()
    }

    #[test]
    fn on_the_trust_model_steps_are_placed_and_unchanged_chains_stay_quiet() {
        let mut rng = crate::rng::Rng64::starting_at(7);
        let trials = 1000;
        let (mut quiet, mut placed, mut crept) = (0, 0, 0);
        for t in 0..trials {
            let after = 2 + t % 9;
            let at = 20 - after;
            quiet += find(&chain(&mut rng, 20, |_| 1.0), 0.0).is_none() as usize;
            let v = chain(&mut rng, 20, |i| if i >= at { 1.25 } else { 1.0 });
            placed += matches!(find(&v, 0.0), Some(Change::Step(s)) if s.at == at) as usize;
            let v = chain(&mut rng, 20, |i| 1.05f64.powi(i.saturating_sub(15) as i32));
            crept += matches!(find(&v, 0.0), Some(Change::Creep(c)) if c.from.abs_diff(15) <= 1)
                as usize;
        }
        eprintln!("quiet {quiet} placed {placed} crept {crept}");
        assert!(quiet >= trials * 99 / 100, "{quiet}");
        assert!(placed >= trials * 95 / 100, "{placed}");
    }
}
