//! Is the change slower than its base, measured side by side? In a paired run (issue 33) the
//! gate drives the change (`host`) and the base (`compare-host`) in alternating short slices
//! from one generator, so each slice pair holds one value of a metric for each side, measured
//! within the same few seconds on the same runner. Whatever slowed the runner in that window (a
//! busy neighbour, a noisy runner VM, a cold cache) slowed both; the history judgement
//! (`judgement.rs`) compares with runs made elsewhere and must count all of that as noise.
//!
//! **What is compared.** Per slice pair, the change's value relative to the base's: the log of
//! their ratio. Runner drift is a factor (a busy core makes every request some percent slower),
//! so it cancels in the ratio of one window; the log makes that ratio additive and symmetric
//! (+10 % and the -9.1 % back are one step either way). When any slice of either side reads 0
//! (an error rate of 0 %, a side that served nothing) a ratio means nothing, and the
//! differences (change minus base, in the metric's unit) are compared instead; an error rate of
//! 0 % on both sides in every slice is then a change of exactly 0, judged, not "too noisy".
//!
//! **The estimate and its interval: Yuen's trimmed t.** The pairs' values are not normal: most
//! windows hit both sides alike, but a busy period that starts between a pair's two slices
//! hits one side only, and that pair reads ±20 % where the others read ±1 %. So the estimate is
//! the 20 % trimmed mean (the lowest and highest fifth set aside; the log of a trimmed geometric
//! mean ratio) and its standard error the winsorised one (the set-aside pairs pulled in to the
//! nearest kept value, so they still widen the interval), with Student's t of the kept pairs
//! less one degree of freedom (Yuen, 1974; Wilcox, *Introduction to Robust Estimation*). On the
//! simulated busy runner (`bench/gate_trust/paired.rs`, 30 pairs of 1 s slices) the plain
//! mean's t-interval raised 1.1 % false alarms, over the 1 % it promises, and read 56 % of
//! unchanged builds "too noisy"; the trimmed one 0.2 % and 21 %, and caught +10 % changes about
//! as often (95 % against 96 %). On well-behaved pairs it costs some width (6 pairs keep 4: t
//! of 3 degrees of freedom).
//! Not a bootstrap: a run holds 6 to 30 pairs, where a percentile bootstrap's interval is too
//! narrow (no n-1, no t: at 6 pairs about a third narrower than the t-interval, several times
//! the false alarms it promises), is made of few distinct resamples, and is random (the same
//! run would read two ways). Wild pairs err on the closed side: within the trim they are set
//! aside, beyond it they widen the interval and the check reads "too noisy", not "regression".
//! The spread is never taken below the values' resolution ([`RESOLUTION`]: the histograms keep
//! two significant digits), so identical slices do not claim an interval of zero width.
//!
//! **The decision** is the history judgement's, with the pairs' standard error `se` where the
//! history's spread was, so that a check reads the same words for the same evidence:
//! - the **noise** is `t99 · se` (one-sided 99th percentile of t, the kept pairs less one):
//!   an unchanged build shows a change beyond it at most 1 % of the time. The interval printed
//!   is `estimate ± noise` (98 %, each end a one-sided 99 % bound);
//! - the **decision point** is `max(noise, margin - t95 · se)`: a change of the full margin is
//!   caught 95 % of the time, and an unchanged build never fails more than 1 % of the time;
//! - *regression* past the decision point; *below the margin* for a real change (beyond the
//!   noise) that is not; *improvement* for a real change the better way; *within noise* when
//!   the interval holds no real change and lies inside the margin; *too noisy to judge below
//!   +X* when the interval holds both no change and a change of the margin (X its upper end).
//!
//! Neither "regression only when the whole interval lies beyond the margin" (a change of twice
//! the margin passes whenever its interval reaches below the margin: at a +5 % margin and an
//! interval of ±4 %, two +10 % changes in five) nor "the estimate beyond the margin and the interval
//! clear of zero" (a change of exactly the margin passes half the time) holds both of the
//! project's promises; the decision point does, and it is the one the history keeps already.
//!
//! **Margins.** Both of a rule's margins must be exceeded (`p95 +20% +10ms`), so the margin is
//! the larger of the two at the base's value (the median of its slices), as the history takes it
//! at its centre; on the ratio scale an absolute margin becomes a relative one at that value. A
//! drop rule (`rps -10%`) reads the change the other way; a drop of 100 % or more allowed is no
//! limit at all.
//!
//! **Not judged.** A [`Pair`] flagged starved makes the judgement not judged. The gate's
//! checks flag none: they weigh the generator's stall instead, judging the rule again at the
//! extremes the stall allows (`paired_stall.rs`). Fewer than
//! [`MIN_PAIRS`] pairs give no spread worth the name: too noisy to judge. A value no slice
//! produces (negative, not finite) is left out with its pair and counted.
//!
//! **Run until decisive** ([`Paired::decision`]): a run may add slice pairs until the interval
//! lies wholly beyond the margin or wholly inside it, where more pairs would not change the
//! words. Until then, the interval's half-width shrinks as `t/sqrt(n)`, which estimates how
//! many more pairs would likely decide it if the estimate and the spread held.

use super::judgement::{median, t_quantile, Outcome, Tail, Worse, RESOLUTION};
use super::{Direction, Regression, Unit};

/// Fewer slice pairs than this and there is no interval: too noisy to judge.
pub const MIN_PAIRS: usize = 3;

/// A run until decisive never stops before this many pairs. It looks again after every pair,
/// and each look is one more chance for a fluke; the first looks, whose few kept pairs make the
/// spread itself uncertain, are where busy periods that hit a few pairs in a row on one side
/// could look decisive (in `gate_trust`'s paired table, allowed to stop from 3 pairs, a run
/// until decisive raised 0.8 % false alarms; from 6, 0.3 to 0.4 %).
pub const MIN_DECISIVE_PAIRS: usize = 6;

/// More pairs than this past the current ones are never promised: "no number in reach".
const MAX_MORE_PAIRS: usize = 10_000;

/// One slice pair: a metric measured on the base and on the change within one time window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// The base's (`compare-host`) value in its slice.
    pub base: f64,
    /// The change's (`host`) value in its slice.
    pub change: f64,
    /// The load generator could not keep up during either side's slice.
    pub starved: bool,
}

impl Pair {
    /// A pair measured with a generator that kept up.
    pub fn new(base: f64, change: f64) -> Pair {
        Pair {
            base,
            change,
            starved: false,
        }
    }

    /// Both values are ones a slice can produce.
    fn valid(&self) -> bool {
        [self.base, self.change]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
    }
}

/// A regression rule's margins, as the paired judgement reads them (`expr::Regression`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margin {
    /// Which way is worse.
    pub worse: Worse,
    /// The allowed relative change as a fraction (0.2 for 20 %), never negative.
    pub relative: f64,
    /// The allowed absolute change in the metric's unit; both margins must be exceeded.
    pub absolute: Option<f64>,
}

impl Margin {
    /// The margins of a regression rule.
    pub(crate) fn of(rule: &Regression) -> Margin {
        Margin {
            worse: match rule.direction {
                Direction::Growth => Worse::Up,
                Direction::Drop => Worse::Down,
            },
            relative: rule.relative,
            absolute: rule.absolute,
        }
    }

    /// The allowed change in the metric's unit at a base value of `base`.
    fn at(&self, base: f64) -> f64 {
        (base.abs() * self.relative).max(self.absolute.unwrap_or(0.0))
    }

    /// `+1` when growth is worse, `-1` when a drop is.
    fn sign(&self) -> f64 {
        match self.worse {
            Worse::Up => 1.0,
            Worse::Down => -1.0,
        }
    }
}

/// On which scale the pairs were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The change's value relative to the base's (every value above 0): fractions, 0.1 = +10 %.
    Relative,
    /// The change's value minus the base's, in the metric's unit (some value was 0).
    Absolute,
}

/// What the paired judgement found, or why it judged nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairedOutcome {
    /// The history judgement's words, from the pairs.
    Judged(Outcome),
    /// The generator was starved during some pair's slices: not judged.
    Starved,
}

/// The paired judgement of one rule on one endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    /// What it found.
    pub outcome: PairedOutcome,
    /// The scale of `estimate`, `low`, `high` and `margin`.
    pub scale: Scale,
    /// The change, as measured (not signed the worse way): the geometric mean ratio minus 1 on
    /// the relative scale (0.123 for +12.3 %), the mean difference on the absolute one.
    pub estimate: f64,
    /// The interval's lower end (98 %: each end a one-sided 99 % bound), on the same scale.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
    /// The allowed change on the same scale, signed the worse way (`-0.1` for `rps -10%`).
    pub margin: f64,
    /// The base's median over its slices, in the metric's unit.
    pub base: f64,
    /// The rule's margins, for the words.
    pub rule: Margin,
    /// Slice pairs judged.
    pub pairs: usize,
    /// Slice pairs left out: a value no slice produces.
    pub left_out: usize,
    /// Slice pairs during which the generator was starved.
    pub starved: usize,
    /// How the interval stands against the margin, for a run that adds pairs until decisive.
    pub decision: Decision,
}

/// Whether more slice pairs could change what a check says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// The interval lies wholly beyond the margin or wholly inside it.
    Decided,
    /// Nothing more pairs add can make the check judged: a starved pair.
    NotJudged,
    /// The interval holds both sides of the margin, or fewer than [`MIN_DECISIVE_PAIRS`] were
    /// measured: keep adding pairs.
    Undecided {
        /// About how many more pairs would likely decide it if the estimate and the spread
        /// held; `None`: no number within reach (the estimate sits on the margin).
        more_pairs: Option<usize>,
    },
}

/// The pairs' statistics on the worse-direction working scale (positive: worse).
struct Sample {
    mean: f64,
    /// One standard error of the mean.
    se: f64,
    n: usize,
    /// Degrees of freedom of its t: the kept pairs less one.
    df: usize,
}

/// Judges `pairs` (in any order; they need not be consecutive) against a rule's `margin`.
pub fn judge(pairs: &[Pair], margin: Margin) -> Paired {
    let starved = pairs.iter().filter(|p| p.starved).count();
    let valid: Vec<Pair> = pairs.iter().copied().filter(Pair::valid).collect();
    let left_out = pairs.len() - valid.len();
    let base = if valid.is_empty() {
        0.0
    } else {
        median(&valid.iter().map(|p| p.base).collect::<Vec<_>>())
    };
    let scale = match valid.iter().all(|p| p.base > 0.0 && p.change > 0.0) {
        true => Scale::Relative,
        false => Scale::Absolute,
    };
    let s = margin.sign();
    // The working scale: positive is worse, in log ratios or in the unit.
    let worse: Vec<f64> = (valid.iter())
        .map(|p| match scale {
            Scale::Relative => s * (p.change / p.base).ln(),
            Scale::Absolute => s * (p.change - p.base),
        })
        .collect();
    let allowed = match scale {
        Scale::Relative => log_margin(margin, base),
        Scale::Absolute => margin.at(base),
    };
    let floor = match scale {
        Scale::Relative => RESOLUTION,
        Scale::Absolute => RESOLUTION * base,
    };
    let sample = sample(&worse, floor);
    let (outcome, noise, decision) = match &sample {
        _ if starved > 0 => (PairedOutcome::Starved, f64::INFINITY, Decision::NotJudged),
        None => (
            PairedOutcome::Judged(Outcome::TooNoisy),
            f64::INFINITY,
            Decision::Undecided {
                more_pairs: Some(MIN_DECISIVE_PAIRS.saturating_sub(valid.len()).max(1)),
            },
        ),
        Some(x) => {
            let noise = t_quantile(x.df, Tail::FalseAlarm) * x.se;
            (
                PairedOutcome::Judged(outcome(x, noise, allowed)),
                noise,
                decide(x, noise, allowed),
            )
        }
    };
    let mean = sample.as_ref().map_or(f64::NAN, |x| x.mean);
    let (estimate, low, high) = measured(scale, s, mean, noise);
    Paired {
        outcome,
        scale,
        estimate,
        low,
        high,
        margin: match scale {
            Scale::Relative => s * ((s * allowed).exp() - 1.0).abs(),
            Scale::Absolute => s * allowed,
        },
        base,
        rule: margin,
        pairs: valid.len(),
        left_out,
        starved,
        decision,
    }
}

/// Whether the pairs so far decide the rule (issue 33's `until-decisive`): [`judge`]'s
/// [`Paired::decision`].
pub fn decisive(pairs: &[Pair], margin: Margin) -> Decision {
    judge(pairs, margin).decision
}

/// A slice pair's values as ranges: the lowest and highest the base's and the change's own
/// values could be (`stats::Bounds`, the generator's stall taken out or not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairRange {
    /// The base's `(low, high)`.
    pub base: (f64, f64),
    /// The change's `(low, high)`.
    pub change: (f64, f64),
}

/// What every value within the ranges would make of a rule, at most: the trimmed mean of the
/// per-pair log ratios at its best and at its worst (each a bound, the trimmed mean rising with
/// every value), and the widest spread any of them could have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reach {
    /// The change at its best, as measured: `0.05` for +5 % when `relative`, else the
    /// difference in the metric's unit.
    pub best: f64,
    /// The change at its worst.
    pub worst: f64,
    /// Whether `best` and `worst` are relative changes.
    pub relative: bool,
    /// Every value within the ranges reads a regression.
    pub always_regression: bool,
    /// No value within the ranges reads a regression, nor too noisy to judge: the interval
    /// lies inside the margin even at the worst end with the widest spread.
    pub never_regression: bool,
}

/// How far the ranges reach (see [`Reach`]); `None` below [`MIN_PAIRS`] pairs, for a range
/// that is not one (NaN, reversed, below 0), or when more pairs reach without limit than the
/// trimmed mean sets aside. Compared as [`judge`] compares: log ratios when every value could
/// be above 0, differences otherwise. Conservative, not exact: a pass must hold at the worst end
/// with the widest spread, and a regression must clear its margin and the widest noise at the
/// best end.
pub fn reach(ranges: &[PairRange], margin: Margin) -> Option<Reach> {
    let ok = |(lo, hi): (f64, f64)| lo >= 0.0 && lo <= hi;
    if ranges.len() < MIN_PAIRS || !ranges.iter().all(|r| ok(r.base) && ok(r.change)) {
        return None;
    }
    let s = margin.sign();
    let relative = ranges.iter().all(|r| r.base.0 > 0.0 && r.change.0 > 0.0);
    let median_of = |f: fn(&PairRange) -> f64| median(&ranges.iter().map(f).collect::<Vec<_>>());
    // Each pair's range on the worse-direction scale; a value without limit is infinite there,
    // and the trimmed mean sets a few such pairs aside as it does any extreme one.
    let w: Vec<(f64, f64)> = (ranges.iter())
        .map(|r| {
            let (a, b) = match relative {
                true => ((r.change.0 / r.base.1).ln(), (r.change.1 / r.base.0).ln()),
                false => (r.change.0 - r.base.1, r.change.1 - r.base.0),
            };
            ((s * a).min(s * b), (s * a).max(s * b))
        })
        .collect();
    let floor = match relative {
        true => RESOLUTION,
        false => RESOLUTION * median_of(|r| r.base.0),
    };
    let lows: Vec<f64> = w.iter().map(|p| p.0).collect();
    let highs: Vec<f64> = w.iter().map(|p| p.1).collect();
    let (best, worst) = (sample(&lows, floor)?, sample(&highs, floor)?);
    let se = widest_se(&lows, &highs, floor);
    let noise = t_quantile(worst.df, Tail::FalseAlarm) * se;
    // An absolute margin is a larger share of a smaller base: the least allowed change is at
    // the highest base, the most at the lowest.
    let allowed = |base: f64| match relative {
        true => log_margin(margin, base),
        false => margin.at(base),
    };
    let (least, most) = (
        allowed(median_of(|r| r.base.1)),
        allowed(median_of(|r| r.base.0)),
    );
    let shown = |m: f64| match relative {
        true => (s * m).exp_m1(),
        false => s * m,
    };
    Some(Reach {
        best: shown(best.mean),
        worst: shown(worst.mean),
        relative,
        always_regression: best.mean > noise.max(most),
        never_regression: worst.mean + noise <= least,
    })
}

/// The largest standard error [`sample`] could give for values each within its `(low, high)`,
/// or a bound on it. Winsorised, value `i` lies within its own range clamped to `[L, H]` (`L`
/// the `g+1`-th lowest low, `H` the `g+1`-th highest high: where the kept values can reach),
/// widened towards `A` (the `g+1`-th highest low) and `B` (the `g+1`-th lowest high), where a
/// trimmed value is pulled in to. A variance is at most the mean square distance from any
/// point, so each value at whichever end of that range lies farther from the ranges' centre
/// bounds the spread of every mix of ends, not just of either end alone (a mix can spread
/// wider than both). Pairs the stall left alone stay where they are, so a few starved pairs
/// widen it by what they could add; and it is never more than half the whole span allows.
fn widest_se(lows: &[f64], highs: &[f64], floor: f64) -> f64 {
    let n = lows.len();
    let g = (TRIM * n as f64).floor() as usize;
    let h = n - 2 * g;
    let (mut sorted_lows, mut sorted_highs) = (lows.to_vec(), highs.to_vec());
    sorted_lows.sort_by(f64::total_cmp);
    sorted_highs.sort_by(f64::total_cmp);
    let (l, hh) = (sorted_lows[g], sorted_highs[n - 1 - g]);
    let (a, b) = (sorted_lows[n - 1 - g], sorted_highs[g]);
    let by_span = ((hh - l).max(0.0) / 2.0).powi(2) * n as f64 / (n - 1) as f64;
    let clamp = |v: f64| v.max(l).min(hh.max(l));
    let ranges: Vec<(f64, f64)> = (lows.iter().zip(highs))
        .map(|(lo, hi)| (clamp(*lo).min(a), clamp(*hi).max(b)))
        .collect();
    let centre = ranges.iter().map(|(x, y)| (x + y) / 2.0).sum::<f64>() / n as f64;
    let by_centre = (ranges.iter())
        .map(|(x, y)| (x - centre).powi(2).max((y - centre).powi(2)))
        .sum::<f64>()
        / (n - 1) as f64;
    let var = match by_centre.is_nan() {
        true => by_span,
        false => by_centre.min(by_span),
    };
    var.sqrt().max(floor) * ((n - 1) as f64 / (h * (h - 1)) as f64).sqrt()
}

/// The margin on the worse-direction log-ratio scale, at a base value of `base` (above 0).
fn log_margin(margin: Margin, base: f64) -> f64 {
    let relative = margin.at(base) / base;
    match margin.worse {
        Worse::Up => relative.ln_1p(),
        // A drop of 100 % or more allowed: no drop is beyond it.
        Worse::Down if relative >= 1.0 => f64::INFINITY,
        Worse::Down => -(-relative).ln_1p(),
    }
}

/// The share of pairs set aside at each end before the mean is taken (Yuen's trimmed mean).
const TRIM: f64 = 0.2;

/// The trimmed mean of `values` and its standard error (Yuen, 1974): the [`TRIM`] lowest and
/// highest set aside, the spread taken over all of them with those pulled in to the nearest
/// kept value (winsorised), never below `floor`. `None` below [`MIN_PAIRS`] values or when the
/// arithmetic overflowed (values from a damaged file).
fn sample(values: &[f64], floor: f64) -> Option<Sample> {
    let n = values.len();
    if n < MIN_PAIRS {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let g = (TRIM * n as f64).floor() as usize;
    let kept = &sorted[g..n - g];
    let h = kept.len();
    let mean = kept.iter().sum::<f64>() / h as f64;
    let (low, high) = (kept[0], kept[h - 1]);
    let winsorised: Vec<f64> = sorted.iter().map(|v| v.clamp(low, high)).collect();
    let centre = winsorised.iter().sum::<f64>() / n as f64;
    let var = winsorised.iter().map(|v| (v - centre).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt().max(floor);
    let se = sd * ((n - 1) as f64 / (h * (h - 1)) as f64).sqrt();
    let df = h - 1;
    (mean.is_finite() && se.is_finite()).then_some(Sample { mean, se, n, df })
}

/// The history judgement's words from the pairs' mean (worse way), noise and margin.
fn outcome(x: &Sample, noise: f64, margin: f64) -> Outcome {
    let catch = t_quantile(x.df, Tail::Catch) * x.se;
    let decision = noise.max(margin - catch);
    if x.mean > decision {
        Outcome::Regression
    } else if x.mean > noise {
        Outcome::BelowMargin
    } else if -x.mean > noise {
        Outcome::Improvement
    } else if x.mean + noise <= margin {
        Outcome::WithinNoise
    } else {
        // Also where the arithmetic gave NaN: never a word that reads green.
        Outcome::TooNoisy
    }
}

/// Decided when the interval lies wholly beyond the margin or wholly inside it; else how many
/// more pairs would likely shrink it enough, if the mean and the spread held.
fn decide(x: &Sample, noise: f64, margin: f64) -> Decision {
    if x.n < MIN_DECISIVE_PAIRS {
        return Decision::Undecided {
            more_pairs: Some(MIN_DECISIVE_PAIRS - x.n),
        };
    }
    if x.mean - noise > margin || x.mean + noise <= margin {
        return Decision::Decided;
    }
    let gap = (x.mean - margin).abs();
    // The standard error shrinks as 1/sqrt(n) and t with the kept pairs; t is never below the
    // normal's 2.33, so no count below `least` can do: the search starts there.
    let half = |n: usize| {
        let df = n - 2 * (TRIM * n as f64).floor() as usize - 1;
        t_quantile(df, Tail::FalseAlarm) * x.se * (x.n as f64 / n as f64).sqrt()
    };
    let least = x.n as f64 * (2.33 * x.se / gap).powi(2);
    let from = match least.is_finite() && least < (x.n + MAX_MORE_PAIRS) as f64 {
        true => (least as usize).max(x.n + 1),
        false => return Decision::Undecided { more_pairs: None },
    };
    let more_pairs = (from..=x.n + MAX_MORE_PAIRS)
        .find(|&n| half(n) < gap)
        .map(|n| n - x.n);
    Decision::Undecided { more_pairs }
}

/// The estimate and the interval as measured (change against base, not the worse way).
fn measured(scale: Scale, s: f64, mean: f64, noise: f64) -> (f64, f64, f64) {
    let (a, b) = (s * mean - noise, s * mean + noise);
    match scale {
        Scale::Relative => ((s * mean).exp_m1(), a.exp_m1(), b.exp_m1()),
        Scale::Absolute => (s * mean, a, b),
    }
}

impl Paired {
    /// Whether the check fails: a regression, and only that.
    pub fn regressed(&self) -> bool {
        self.outcome == PairedOutcome::Judged(Outcome::Regression)
    }
}

/// What the reports print.
impl Paired {
    /// The change with its interval: `+12.3% [+8.1%, +16.4%] over 10 slice pairs`.
    pub(crate) fn interval_text(&self, unit: Unit) -> String {
        let v = |x: f64| self.number(x, unit);
        let mut text = format!(
            "{} [{}, {}] over {} slice pairs",
            v(self.estimate),
            v(self.low),
            v(self.high),
            self.pairs
        );
        if self.left_out > 0 {
            text.push_str(&format!(
                " ({} left out: a value no slice produces)",
                self.left_out
            ));
        }
        text
    }

    /// The words every report prints, with their numbers, as the history judgement's
    /// (`Finding::words`) say them.
    pub(crate) fn words(&self, unit: Unit) -> String {
        let iv = self.interval_text(unit);
        let margin = self.margin_text(unit);
        let total = self.pairs + self.left_out;
        match self.outcome {
            PairedOutcome::Starved => format!(
                "not judged: the load generator was starved during {} of {total} slice pairs",
                self.starved
            ),
            PairedOutcome::Judged(Outcome::TooNoisy) if self.pairs < MIN_PAIRS => format!(
                "too noisy to judge: {} slice pairs, at least {MIN_PAIRS} needed",
                self.pairs
            ),
            PairedOutcome::Judged(o) => match o {
                Outcome::Regression => format!("regression: {iv}, beyond the {margin} margin"),
                Outcome::BelowMargin => {
                    format!(
                        "below the margin: {iv} is a real change, but within the {margin} margin"
                    )
                }
                Outcome::Improvement => format!("improvement: {iv}"),
                Outcome::WithinNoise => format!("within noise: {iv}, inside the {margin} margin"),
                Outcome::TooNoisy => format!(
                    "too noisy to judge below {}: {iv}, the rule asks for {margin}",
                    self.number(self.worse_end(), unit)
                ),
            },
        }
    }

    /// The words of a run that added pairs until its time ran out: what it found, and when the
    /// interval still held both sides of the margin, how many more pairs would likely decide it.
    pub(crate) fn timed_out_words(&self, unit: Unit) -> String {
        let words = self.words(unit);
        match self.decision {
            Decision::Undecided {
                more_pairs: Some(k),
            } => format!("{words}; undecided when time ran out: about {k} more slice pairs would likely decide it"),
            Decision::Undecided { more_pairs: None } => {
                format!("{words}; undecided when time ran out, and no number of slice pairs within reach would likely decide it")
            }
            _ => words,
        }
    }

    /// The interval's end in the worse direction.
    fn worse_end(&self) -> f64 {
        match self.rule.worse {
            Worse::Up => self.high,
            Worse::Down => self.low,
        }
    }

    /// A change on this judgement's scale for humans: `+12.3%`, `+0.40%` (error rate points,
    /// the history's words at a centre of 0), `-3.2/s`.
    fn number(&self, x: f64, unit: Unit) -> String {
        if !x.is_finite() {
            return if x < 0.0 {
                "-∞".into()
            } else {
                "+∞".into()
            };
        }
        let magnitude = match self.scale {
            Scale::Relative => format!("{:.1}%", x.abs() * 100.0),
            Scale::Absolute => unit.format(x.abs()),
        };
        // What rounds to nothing reads +0, never -0.
        let nothing = !magnitude.chars().any(|c| c.is_ascii_digit() && c != '0');
        let sign = if x < 0.0 && !nothing { "-" } else { "+" };
        format!("{sign}{magnitude}")
    }

    /// The rule's margins as written: `+20% / +10 ms`.
    fn margin_text(&self, unit: Unit) -> String {
        let sign = if self.rule.worse == Worse::Up {
            "+"
        } else {
            "-"
        };
        let plain = |v: f64| {
            let s = format!("{:.2}", v.abs());
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        let relative = (self.rule.relative != 0.0 || self.rule.absolute.is_none())
            .then(|| format!("{sign}{}%", plain(self.rule.relative * 100.0)));
        let absolute = self.rule.absolute.map(|a| match unit {
            Unit::Millis => format!("{sign}{} ms", plain(a)),
            Unit::Percent => format!("{sign}{}%", plain(a)),
            Unit::PerSecond => format!("{sign}{}/s", plain(a)),
            Unit::Count => format!("{sign}{}", plain(a)),
        });
        let parts: Vec<String> = relative.into_iter().chain(absolute).collect();
        parts.join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Margin {
        Margin::of(&Regression::parse(text).unwrap())
    }

    /// Slice pairs whose base drifts wildly from window to window (a runner busy on and off:
    /// ×0.7 to ×1.6), the change `ratio` times its base, moved by `wobble` either way in turn.
    fn drifting(n: usize, ratio: f64, wobble: f64) -> Vec<Pair> {
        const DRIFT: [f64; 8] = [1.0, 1.6, 0.7, 1.3, 0.9, 1.5, 0.8, 1.2];
        (0..n)
            .map(|i| {
                let base = 50.0 * DRIFT[i % DRIFT.len()];
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                Pair::new(base, base * ratio * (1.0 + sign * wobble))
            })
            .collect()
    }

    fn outcome(p: &Paired) -> Outcome {
        match p.outcome {
            PairedOutcome::Judged(o) => o,
            PairedOutcome::Starved => panic!("starved: {p:?}"),
        }
    }

    #[test]
    fn the_same_build_under_common_drift_is_within_noise_never_a_regression() {
        // Six pairs keep four after trimming: t of 3 degrees of freedom cannot yet rule out +5 %.
        let p = judge(&drifting(6, 1.0, 0.02), rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::TooNoisy, "{p:?}");
        for n in [8, 10, 12] {
            let p = judge(&drifting(n, 1.0, 0.02), rule("p95 +5%"));
            assert_eq!(outcome(&p), Outcome::WithinNoise, "{n} pairs: {p:?}");
            assert_eq!(p.scale, Scale::Relative);
            assert!(p.estimate.abs() < 0.005, "{p:?}");
            assert!(p.low < 0.0 && p.high > 0.0 && p.high <= 0.05, "{p:?}");
        }
        // The history judgement over these windows' base values alone would see ±40 %.
        let p = judge(&drifting(12, 1.0, 0.02), rule("p95 +5%"));
        let words = p.words(Unit::Millis);
        assert!(
            words.starts_with("within noise: +0.0% [-2.8%, +2.8%] over 12 slice pairs"),
            "{words}"
        );
        assert!(words.ends_with("inside the +5% margin"), "{words}");
    }

    #[test]
    fn a_clear_30_percent_is_a_regression_whose_interval_excludes_the_margin() {
        let p = judge(&drifting(10, 1.3, 0.02), rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
        assert!(p.regressed());
        assert!(p.low > 0.05, "interval reaches the margin: {p:?}");
        assert!((p.estimate - 0.3).abs() < 0.005, "{p:?}");
        assert_eq!(p.decision, Decision::Decided);
        let words = p.words(Unit::Millis);
        assert!(
            words.starts_with("regression: +30.0% [+2") && words.contains("over 10 slice pairs"),
            "{words}"
        );
        assert!(words.ends_with("beyond the +5% margin"), "{words}");
    }

    #[test]
    fn too_few_pairs_are_too_noisy_and_ask_for_more() {
        for n in 0..MIN_PAIRS {
            let p = judge(&drifting(n, 1.5, 0.0), rule("p95 +5%"));
            assert_eq!(outcome(&p), Outcome::TooNoisy, "{n}: {p:?}");
            assert!(!p.regressed());
            assert_eq!(
                p.decision,
                Decision::Undecided {
                    more_pairs: Some(MIN_DECISIVE_PAIRS - n)
                }
            );
            assert!(p.words(Unit::Millis).contains("at least 3 needed"));
        }
        // Three pairs of a +50 % change: the t of 2 degrees of freedom still sees it.
        let p = judge(&drifting(3, 1.5, 0.01), rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
    }

    #[test]
    fn error_rates_of_zero_are_compared_as_differences_and_judged() {
        let zeros = vec![Pair::new(0.0, 0.0); 8];
        let p = judge(&zeros, rule("error_rate +50% +1%"));
        assert_eq!(p.scale, Scale::Absolute);
        assert_eq!(outcome(&p), Outcome::WithinNoise, "{p:?}");
        assert_eq!((p.estimate, p.low, p.high), (0.0, 0.0, 0.0));
        assert_eq!(
            p.words(Unit::Percent),
            "within noise: +0.00% [+0.00%, +0.00%] over 8 slice pairs, inside the +50% / +1% margin"
        );
        // Even a rule of no margin at all: exactly nothing changed.
        assert_eq!(
            outcome(&judge(&zeros, rule("error_rate +0%"))),
            Outcome::WithinNoise
        );
        // The change fails 3 % of its requests in every slice, the base none.
        let failing: Vec<Pair> = (0..8)
            .map(|i| Pair::new(0.0, 2.5 + (i % 2) as f64))
            .collect();
        let p = judge(&failing, rule("error_rate +50% +1%"));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
        assert!(p.words(Unit::Percent).starts_with("regression: +3.00% ["));
        // Half a point more: real, within the one-point margin.
        let some: Vec<Pair> = (0..8)
            .map(|i| Pair::new(0.0, 0.4 + 0.2 * (i % 2) as f64))
            .collect();
        assert_eq!(
            outcome(&judge(&some, rule("error_rate +50% +1%"))),
            Outcome::BelowMargin
        );
        // One slice of a latency at 0 moves the whole judgement onto differences, no NaN.
        let mut p95 = drifting(8, 1.3, 0.01);
        p95[3].base = 0.0;
        let p = judge(&p95, rule("p95 +5%"));
        assert_eq!(p.scale, Scale::Absolute);
        assert!(p.estimate.is_finite() && p.low.is_finite(), "{p:?}");
    }

    #[test]
    fn throughput_is_worse_when_it_drops() {
        let slower = judge(&drifting(10, 0.8, 0.02), rule("rps -10%"));
        assert_eq!(outcome(&slower), Outcome::Regression, "{slower:?}");
        assert!(slower.estimate < -0.19 && slower.high < -0.1, "{slower:?}");
        assert!((slower.margin + 0.1).abs() < 1e-12, "{slower:?}");
        assert!(slower
            .words(Unit::PerSecond)
            .ends_with("beyond the -10% margin"));
        let faster = judge(&drifting(10, 1.2, 0.02), rule("rps -10%"));
        assert_eq!(outcome(&faster), Outcome::Improvement, "{faster:?}");
        // A latency 20 % lower is an improvement, not a regression of a drop.
        let quicker = judge(&drifting(10, 0.8, 0.02), rule("p95 +10%"));
        assert_eq!(outcome(&quicker), Outcome::Improvement, "{quicker:?}");
        // `rps -5%` seeing a 7 % drop: real, and past the margin.
        let p = judge(&drifting(10, 0.93, 0.005), rule("rps -5%"));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
        // A drop of 100 % allowed: nothing is beyond it.
        let p = judge(&drifting(10, 0.1, 0.01), rule("rps -100%"));
        assert_eq!(outcome(&p), Outcome::BelowMargin, "{p:?}");
    }

    #[test]
    fn both_margins_must_be_exceeded() {
        // +30 % of a 20 ms p95 is 6 ms, inside the 10 ms margin: real, allowed.
        let small = |ratio| -> Vec<Pair> {
            (0..10)
                .map(|i| Pair::new(20.0, 20.0 * ratio * (1.0 + 0.01 * (i % 2) as f64)))
                .collect()
        };
        let p = judge(&small(1.3), rule("p95 +5% +10ms"));
        assert_eq!(outcome(&p), Outcome::BelowMargin, "{p:?}");
        assert!(p
            .words(Unit::Millis)
            .contains("within the +5% / +10 ms margin"));
        // +60 % is 12 ms: beyond both.
        assert_eq!(
            outcome(&judge(&small(1.6), rule("p95 +5% +10ms"))),
            Outcome::Regression
        );
        // +30 % of 200 ms is 60 ms: the relative margin decides.
        let p = judge(&drifting(10, 1.3, 0.01), rule("p95 +5% +10ms"));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
        // On differences (a slice at 0) the absolute margin is in the unit.
        let mut pairs: Vec<Pair> = (0..10).map(|_| Pair::new(20.0, 26.0)).collect();
        pairs[0] = Pair::new(0.0, 6.0);
        let p = judge(&pairs, rule("p95 +5% +10ms"));
        assert_eq!(
            (p.scale, outcome(&p)),
            (Scale::Absolute, Outcome::BelowMargin)
        );
    }

    #[test]
    fn a_starved_generator_in_any_pair_is_not_judged() {
        let mut pairs = drifting(10, 1.5, 0.01);
        pairs[4].starved = true;
        let p = judge(&pairs, rule("p95 +5%"));
        assert_eq!(p.outcome, PairedOutcome::Starved);
        assert!(!p.regressed());
        assert_eq!(p.decision, Decision::NotJudged);
        assert_eq!(
            p.words(Unit::Millis),
            "not judged: the load generator was starved during 1 of 10 slice pairs"
        );
    }

    #[test]
    fn values_no_slice_produces_are_left_out_and_counted() {
        let mut pairs = drifting(10, 1.3, 0.01);
        pairs[1].change = f64::NAN;
        pairs[2].base = -5.0;
        pairs[3].change = f64::INFINITY;
        let p = judge(&pairs, rule("p95 +5%"));
        assert_eq!((p.pairs, p.left_out), (7, 3));
        assert_eq!(outcome(&p), Outcome::Regression, "{p:?}");
        assert!(p
            .words(Unit::Millis)
            .contains("over 7 slice pairs (3 left out"));
        let all_bad = vec![Pair::new(f64::NAN, 1.0); 5];
        let p = judge(&all_bad, rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::TooNoisy);
    }

    #[test]
    fn wild_pairs_are_trimmed_and_never_make_a_regression() {
        // One pair whose change slice alone ran on a busy runner: set aside by the trim.
        let mut pairs = drifting(10, 1.0, 0.01);
        pairs[6].change *= 1.8;
        let p = judge(&pairs, rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::WithinNoise, "{p:?}");
        assert!(p.estimate.abs() < 0.005, "{p:?}");
        // Three of ten, beyond what the trim sets aside: the interval widens, too noisy.
        for i in [2, 5] {
            pairs[i].change *= 1.8;
        }
        let p = judge(&pairs, rule("p95 +5%"));
        assert_eq!(outcome(&p), Outcome::TooNoisy, "{p:?}");
        assert!(
            p.words(Unit::Millis)
                .starts_with("too noisy to judge below +"),
            "{}",
            p.words(Unit::Millis)
        );
    }

    #[test]
    fn until_decisive_stops_on_a_clear_change_and_estimates_the_rest() {
        assert_eq!(
            decisive(&drifting(6, 1.3, 0.02), rule("p95 +5%")),
            Decision::Decided
        );
        // A/A, noisy pairs: the interval holds 0 and the margin.
        let noisy = drifting(6, 1.0, 0.06);
        let Decision::Undecided {
            more_pairs: Some(k),
        } = decisive(&noisy, rule("p95 +5%"))
        else {
            panic!("decided: {:?}", judge(&noisy, rule("p95 +5%")));
        };
        assert!(k > 0 && k < 50, "{k}");
        // The same spread with that many more pairs decides it (within noise).
        let n = 6 + k + (6 + k) % 2;
        let p = judge(&drifting(n, 1.0, 0.06), rule("p95 +5%"));
        assert_eq!(p.decision, Decision::Decided, "{n} pairs: {p:?}");
        assert_eq!(outcome(&p), Outcome::WithinNoise);
        let words = judge(&noisy, rule("p95 +5%")).timed_out_words(Unit::Millis);
        assert!(
            words.starts_with("too noisy to judge below +")
                && words.ends_with(&format!(
                    "about {k} more slice pairs would likely decide it"
                )),
            "{words}"
        );
        // An estimate sitting on the margin: no number of pairs decides it.
        let on: Vec<Pair> = drifting(8, 1.05, 0.03);
        let d = decisive(&on, rule("p95 +5%"));
        assert!(matches!(d, Decision::Undecided { .. }), "{d:?}");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = f64> {
            prop_oneof![
                4 => 0.001f64..1e6,
                1 => Just(0.0),
                1 => proptest::num::f64::ANY,
            ]
        }

        fn margin() -> impl Strategy<Value = Margin> {
            (
                prop_oneof![Just(Worse::Up), Just(Worse::Down)],
                0.0f64..2.0,
                proptest::option::of(0.0f64..100.0),
            )
                .prop_map(|(worse, relative, absolute)| Margin {
                    worse,
                    relative,
                    absolute,
                })
        }

        proptest! {
            #[test]
            fn anything_is_judged_without_panic_and_a_regression_is_always_real(
                pairs in proptest::collection::vec((value(), value(), proptest::bool::weighted(0.05)), 0..20),
                m in margin(),
            ) {
                let pairs: Vec<Pair> = pairs.into_iter()
                    .map(|(base, change, starved)| Pair { base, change, starved })
                    .collect();
                let p = judge(&pairs, m);
                let _ = p.words(Unit::Millis);
                let _ = p.timed_out_words(Unit::Percent);
                if p.regressed() {
                    // The interval lies wholly on the worse side of no change.
                    match m.worse {
                        Worse::Up => prop_assert!(p.low > 0.0, "{:?}", p),
                        Worse::Down => prop_assert!(p.high < 0.0, "{:?}", p),
                    }
                    prop_assert!(p.starved == 0 && p.pairs >= MIN_PAIRS);
                }
            }

            /// Drift that hits both sides of a window alike changes nothing a relative rule says.
            #[test]
            fn common_drift_within_a_window_never_changes_the_verdict(
                pairs in proptest::collection::vec((1.0f64..1000.0, 0.5f64..2.0, 0.2f64..5.0), 3..16),
                relative in 0.0f64..0.5,
                worse in prop_oneof![Just(Worse::Up), Just(Worse::Down)],
            ) {
                let m = Margin { worse, relative, absolute: None };
                let plain: Vec<Pair> = pairs.iter().map(|&(b, r, _)| Pair::new(b, b * r)).collect();
                let drifted: Vec<Pair> =
                    pairs.iter().map(|&(b, r, k)| Pair::new(b * k, b * r * k)).collect();
                let (a, b) = (judge(&plain, m), judge(&drifted, m));
                prop_assert_eq!(a.outcome, b.outcome);
                prop_assert!((a.estimate - b.estimate).abs() < 1e-9);
            }

            /// The same build measured twice in every window is never worse than its base.
            #[test]
            fn identical_sides_are_never_a_regression_nor_a_real_change(
                bases in proptest::collection::vec(0.0f64..1e4, 0..16),
                m in margin(),
            ) {
                let pairs: Vec<Pair> = bases.iter().map(|&b| Pair::new(b, b)).collect();
                let p = judge(&pairs, m);
                let o = outcome(&p);
                prop_assert!(
                    matches!(o, Outcome::WithinNoise | Outcome::TooNoisy),
                    "{:?}",
                    p
                );
            }
        }
    }
}
