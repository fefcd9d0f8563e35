//! A paired run (`--compare-host`): the same scenario and load driven against two targets from
//! one generator, in short alternating slices, so that whatever the runner did during the run
//! (a noisy neighbour, a slower VM) hit both sides alike. This is the data: the base's
//! whole-run rows (the change's are the run's own `endpoints`, so every report keeps working),
//! and per slice and side what a paired judgement needs. How slices are cut and who goes when
//! is here too ([`side_of`]), since both the engine (which obeys it) and a reader of the file
//! (which pairs slices by it) must agree on it.
//!
//! The seam for the gate is [`PairedRun::pair_bounds`]: per slice pair, the base's value and
//! the change's value of one metric, measured within the same few seconds, each with the range
//! the generator's stall leaves it in ([`Bounds`]); [`PairedRun::pairs`] gives the values alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{entries, EndpointStats, Entries, ALL_REQUESTS};

/// The most slices a run may keep (`--paired-max-slices` is held to it): one an hour for a
/// day at the shortest slice, far beyond any gate's run.
pub const MAX_PAIRED_SLICES: u32 = 100_000;

/// Which target a request, a user's state or a slice belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The reference (`--compare-host`), e.g. the target branch's review app.
    Base,
    /// The system under test (`--host`): the run's own endpoints.
    Change,
}
crate::quote::word::words!(Side, "side", [Side::Base, Side::Change]);

/// The side that slice `k` (from 0) belongs to in the fixed order: `base change change base
/// base change change base ...` (A B B A). Pairs are slices `2p` and `2p + 1`, one of each
/// side; the order swaps from one pair to the next, so a drift that rises through the run
/// favours neither side, as a balanced (ABBA) design intends. A run's own order is a
/// [`SliceOrder`]: this one with whole blocks swapped at random.
pub fn side_of(k: u64) -> Side {
    if ((k / 2) + (k % 2)) % 2 == 0 {
        Side::Base
    } else {
        Side::Change
    }
}

/// Who goes when in one run: blocks of four slices, each `A B B A` or `B A A B`, chosen per
/// block from the run's key. Each block stays balanced (a linear drift inside it favours
/// neither side), and the choice is what a fixed order lacks: a disturbance that repeats
/// every four slices (a cron job, a neighbour's batch, a GC cycle of the same period) hits
/// the base in one block and the change in the next, so it adds noise to the paired
/// differences instead of a bias, and a bias is what reads as a regression.
///
/// The key is recorded in results.json (`paired.order_key`), so the order a run used can be
/// told again; readers pair slices by each slice's own `side`, which never needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceOrder {
    key: Option<u32>,
}

impl SliceOrder {
    /// [`side_of`]'s fixed order: every block `A B B A`.
    pub const FIXED: SliceOrder = SliceOrder { key: None };

    /// The order whose blocks `key` swaps.
    pub fn keyed(key: u32) -> SliceOrder {
        SliceOrder { key: Some(key) }
    }

    /// The key, when the order has one.
    pub fn key(self) -> Option<u32> {
        self.key
    }

    /// The side slice `k` (from 0) belongs to.
    pub fn side(self, k: u64) -> Side {
        let fixed = side_of(k);
        match self.key {
            Some(key) if swapped(key, k / 4) => fixed.other(),
            _ => fixed,
        }
    }

    /// How long, in seconds, `side` is measured between `from_s` and `to_s` (seconds from
    /// the run's start) with slices of `slice_s` seconds: the time its rates are over.
    pub fn side_seconds(self, side: Side, slice_s: f64, from_s: f64, to_s: f64) -> f64 {
        if slice_s.is_nan() || slice_s <= 0.0 || to_s <= from_s {
            return 0.0;
        }
        let first = (from_s / slice_s).floor() as u64;
        let last = (to_s / slice_s).ceil() as u64;
        (first..last)
            .filter(|k| self.side(*k) == side)
            .map(|k| {
                let (a, b) = (k as f64 * slice_s, (k + 1) as f64 * slice_s);
                (b.min(to_s) - a.max(from_s)).max(0.0)
            })
            .sum()
    }
}

/// Whether block `block` is swapped under `key`: one bit of a SplitMix64 finish of the two,
/// so neighbouring blocks and neighbouring keys are unrelated.
fn swapped(key: u32, block: u64) -> bool {
    let mut z = (u64::from(key) << 32 ^ block).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & 1 == 1
}

impl Side {
    /// The other target.
    pub fn other(self) -> Side {
        match self {
            Side::Base => Side::Change,
            Side::Change => Side::Base,
        }
    }
}

/// A paired run's own section of results.json (`paired`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PairedRun {
    /// The base's address (`--compare-host`), credentials redacted.
    pub base_target: String,
    /// The length of one slice, in seconds.
    #[schemars(range(min = 0))]
    pub slice_s: f64,
    /// How long each side's turn lasts inside a pair, in seconds: a slice is the side's turns
    /// of its pair pooled. Absent in a run whose slices were each one turn (every run before
    /// turns), which reads as `slice_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub turn_s: Option<f64>,
    /// The start of each turn left out of its figures, in seconds: the other side's
    /// requests still in flight, and this side's connections opening again.
    #[schemars(range(min = 0))]
    pub slice_warmup_s: f64,
    /// The time the base was measured (the run's warm-up excluded), in seconds: its rates are
    /// over it. The change's is `run.duration_s`.
    #[schemars(range(min = 0))]
    pub base_duration_s: f64,
    /// Every request of the base together, over the whole run.
    pub base_aggregate: EndpointStats,
    /// The base's rows, one per request name, over the whole run (each counted against the
    /// file's endpoint cap as it is read).
    #[serde(default)]
    pub base_endpoints: Vec<EndpointStats>,
    /// The slices in time order, both sides (see [`SliceOrder`]); each counted as a time-series
    /// point when read back.
    #[serde(default, deserialize_with = "slice_list")]
    pub slices: Vec<Slice>,
    /// Slices not kept past `--paired-max-slices`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slices_dropped: u64,
    /// The key of the run's slice order ([`SliceOrder`]); absent in a run of the fixed order
    /// (every block `A B B A`), as all runs before it were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_key: Option<u32>,
    /// A run that added slice pairs until its judgement was decided (`--until-decisive`):
    /// its time limit and whether it stopped before it. Absent in a run of fixed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_decisive: Option<UntilDecisive>,
}

/// How a run until decisive ended. The words a check prints rest on it: a run that stopped
/// early says its interval was decided, one that used its whole limit says how far it got.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct UntilDecisive {
    /// The longest the run was allowed, warm-up included, in seconds.
    #[schemars(range(min = 0))]
    pub limit_s: f64,
    /// It stopped early: after its last slice pair, every paired rule was decided.
    pub decided: bool,
}

/// One slice of one side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Slice {
    /// Its place in the run, from 0: slices `2p` and `2p + 1` are pair `p`.
    pub index: u32,
    /// The target it measured.
    pub side: Side,
    /// When its first turn began, in seconds from the run's start.
    #[schemars(range(min = 0))]
    pub start_s: f64,
    /// How long its figures cover, in seconds: its turns less their warm-ups (and less the
    /// run's warm-up, or the run's end, where they cut into them).
    #[schemars(range(min = 0))]
    pub measured_s: f64,
    /// The load generator's stall in it, in milliseconds (`GeneratorHealth::stall_ms`'s rule on
    /// its seconds); absent when the generator was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub stall_ms: Option<f64>,
    /// The generator was starved in it (the project's starved rule on its seconds): its
    /// values are bounded by its stall ([`Bounds`]), and a paired verdict the stall could
    /// change is not judged.
    #[serde(default)]
    pub starved: bool,
    /// Every request of the slice together (named `all requests`).
    pub aggregate: SliceStats,
    /// One row per request name that completed in it.
    #[serde(default, deserialize_with = "slice_rows")]
    pub endpoints: Vec<SliceStats>,
}

/// The figures of one request name (or all) in one slice: requests sent and answered within
/// its measured window, never those in flight at its edges.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SliceStats {
    /// The request name, as in `endpoints`.
    pub name: String,
    /// Requests measured in the slice.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// Requests sent in the slice's measured window and answered only after the next pair of
    /// slices ended: not in its figures, which could read better than the target was
    /// ([`Slice::bounds`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late: u64,
    /// Latency percentiles and mean in milliseconds; absent when none was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p99_ms: Option<f64>,
    /// Mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub mean_ms: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn slice_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Slice>, D::Error> {
    entries::counted_seq(d, Entries::SeriesPoints)
}

fn slice_rows<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SliceStats>, D::Error> {
    entries::counted_seq(d, Entries::Endpoints)
}

/// What a paired judgement compares per slice pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceMetric {
    /// Median latency, ms.
    P50,
    /// 95th percentile, ms.
    P95,
    /// 99th percentile, ms.
    P99,
    /// Mean latency, ms.
    Mean,
    /// Failed requests in percent.
    ErrorRate,
    /// Requests per second over the slice's measured window.
    Rps,
}

impl SliceStats {
    /// This row's value of `metric` over `measured_s` seconds; `None` when it has none (no
    /// request, or none with a latency).
    pub fn value(&self, metric: SliceMetric, measured_s: f64) -> Option<f64> {
        match metric {
            SliceMetric::P50 => self.p50_ms,
            SliceMetric::P95 => self.p95_ms,
            SliceMetric::P99 => self.p99_ms,
            SliceMetric::Mean => self.mean_ms,
            SliceMetric::ErrorRate => {
                (self.requests > 0).then(|| 100.0 * self.failures as f64 / self.requests as f64)
            }
            SliceMetric::Rps => (measured_s > 0.0).then(|| self.requests as f64 / measured_s),
        }
    }

    /// `(low, high)` widened by `late` requests the row's figures leave out: each took longer
    /// than any it measured could have (so a latency has no upper bound), may have failed or
    /// not, and was sent in the slice (so its rate could be that much higher).
    fn widened_by_late(
        &self,
        late: u64,
        metric: SliceMetric,
        measured_s: f64,
        (low, high): (f64, f64),
    ) -> (f64, f64) {
        let (n, f, late) = (self.requests as f64, self.failures as f64, late as f64);
        match metric {
            SliceMetric::ErrorRate => (
                low.min(100.0 * f / (n + late)),
                high.max(100.0 * (f + late) / (n + late)),
            ),
            SliceMetric::Rps if measured_s > 0.0 => (low, high.max((n + late) / measured_s)),
            SliceMetric::Rps => (low, f64::INFINITY),
            _ => (low, f64::INFINITY),
        }
    }

    /// Merges two rows that read the same after scrubbing: counts add, the mean is weighed by
    /// requests, and each percentile is the larger of the two (an upper bound: the exact one
    /// needs histograms a slice does not keep).
    pub(crate) fn absorb(&mut self, other: &SliceStats) {
        let weigh = |a: Option<f64>, b: Option<f64>, na: u64, nb: u64| match (a, b) {
            (Some(a), Some(b)) if na + nb > 0 => {
                Some((a * na as f64 + b * nb as f64) / (na + nb) as f64)
            }
            (a, b) => a.or(b),
        };
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.mean_ms = weigh(self.mean_ms, other.mean_ms, self.requests, other.requests);
        self.p50_ms = max(self.p50_ms, other.p50_ms);
        self.p95_ms = max(self.p95_ms, other.p95_ms);
        self.p99_ms = max(self.p99_ms, other.p99_ms);
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.late = self.late.saturating_add(other.late);
    }
}

/// A slice's value of a metric as measured, and the range the target's own value lies in.
/// A load generator that could not keep up only ever makes its side look worse: requests wait
/// for it, so their latencies grow by up to its stall; a timeout of its own is a failure; it
/// sends fewer requests. So a starved slice's own value lies between the measured one and the
/// measured one with the stall taken out: a latency down to the measured less the slice's
/// stall (never below 0), an error rate down to 0, a throughput up without limit. A slice that
/// was not starved is taken as measured (its stall is, by the starved rule, small beside its
/// latencies).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// As measured.
    pub measured: f64,
    /// The lowest the target's own value could be.
    pub low: f64,
    /// The highest it could be (`f64::INFINITY`: no limit).
    pub high: f64,
    /// The slice was starved (whatever its stall reads).
    pub starved: bool,
    /// Some of the row's requests were late ([`SliceStats::late`]).
    pub late: bool,
}

impl Slice {
    /// The [`Bounds`] of `metric` for `endpoint` in this slice; `None` where it has no value.
    pub fn bounds(&self, endpoint: Option<&str>, metric: SliceMetric) -> Option<Bounds> {
        let row = self.row(endpoint)?;
        let Some(measured) = row.value(metric, self.measured_s) else {
            return (row.late > 0).then(|| self.all_late(metric));
        };
        let (low, high) = match (self.starved, metric) {
            (false, _) => (measured, measured),
            (true, SliceMetric::ErrorRate) => (0.0, measured),
            (true, SliceMetric::Rps) => (measured, f64::INFINITY),
            (true, _) => {
                // A starved slice always has its stall, and never less than the floor below
                // which a generator counts as healthy (a slice starved by CPU steal alone reads
                // 0); a file that left it out, or wrote nonsense, gives no bound.
                let stall = (self.stall_ms)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map_or(measured, |s| s.max(super::STALL_FLOOR_MS));
                ((measured - stall).max(0.0), measured)
            }
        };
        let (low, high) = match row.late {
            0 => (low, high),
            late => row.widened_by_late(late, metric, self.measured_s, (low, high)),
        };
        Some(Bounds {
            measured,
            low,
            high,
            starved: self.starved,
            late: row.late > 0,
        })
    }

    /// A row whose every request was late: nothing measured, so its value is the least it
    /// could be (each took longer than the slice's measured window: it was sent in it and
    /// answered after the next pair ended; a failure rate anywhere) and has no upper bound.
    /// Left out, the pair would vanish from the judgement, and a change whose slow requests
    /// all outlast their slice would be judged on its fast ones.
    fn all_late(&self, metric: SliceMetric) -> Bounds {
        let (measured, high) = match metric {
            SliceMetric::ErrorRate => (0.0, 100.0),
            SliceMetric::Rps => (0.0, f64::INFINITY),
            _ => (1000.0 * self.measured_s.max(0.0), f64::INFINITY),
        };
        Bounds {
            measured,
            low: measured,
            high,
            starved: self.starved,
            late: true,
        }
    }

    /// The row of `endpoint` (`None`: every request together).
    pub fn row(&self, endpoint: Option<&str>) -> Option<&SliceStats> {
        match endpoint {
            None => Some(&self.aggregate),
            Some(name) if name == ALL_REQUESTS => Some(&self.aggregate),
            Some(name) => self.endpoints.iter().find(|r| r.name == name),
        }
    }
}

impl PairedRun {
    /// The slice pairs in run order, each as `(base, change)`: only whole pairs (one slice of
    /// each side, both kept), so an interrupted run's last half pair is left out.
    pub fn slice_pairs(&self) -> Vec<(&Slice, &Slice)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 1 < self.slices.len() {
            let (a, b) = (&self.slices[i], &self.slices[i + 1]);
            let whole = a.index % 2 == 0 && b.index == a.index + 1 && a.side != b.side;
            if whole {
                out.push(match a.side {
                    Side::Base => (a, b),
                    Side::Change => (b, a),
                });
                i += 2;
            } else {
                i += 1;
            }
        }
        out
    }

    /// Per slice pair, `(base, change, starved)`: the values of `metric` for `endpoint`
    /// (`None`: every request together), and whether the generator was starved in either
    /// slice: what a paired judgement reads. A pair where either side has no value (no request
    /// of that name completed within its window) is left out, so the length says how many
    /// pairs the judgement rests on.
    pub fn pairs(&self, endpoint: Option<&str>, metric: SliceMetric) -> Vec<(f64, f64, bool)> {
        self.slice_pairs()
            .into_iter()
            .filter_map(|(b, c)| {
                let value = |s: &Slice| s.row(endpoint)?.value(metric, s.measured_s);
                Some((value(b)?, value(c)?, b.starved || c.starved))
            })
            .collect()
    }

    /// Per slice pair, the [`Bounds`] of `metric` for `endpoint` on each side, `(base,
    /// change)`: what the target's own values could have been, given the generator's stall
    /// in each slice. Left out, as in [`PairedRun::pairs`], where either side has no value.
    ///
    /// A starved slice that also sent clearly fewer requests than its partner (under nine in
    /// ten) put less load on its target, which can make that side look better than it is: its
    /// values then have no upper bound.
    pub fn pair_bounds(
        &self,
        endpoint: Option<&str>,
        metric: SliceMetric,
    ) -> Vec<(Bounds, Bounds)> {
        let unloaded = |s: &Slice, other: &Slice| {
            s.starved && (s.aggregate.requests as f64) < 0.9 * other.aggregate.requests as f64
        };
        self.slice_pairs()
            .into_iter()
            .filter_map(|(b, c)| {
                let (mut base, mut change) =
                    (b.bounds(endpoint, metric)?, c.bounds(endpoint, metric)?);
                if unloaded(b, c) {
                    base.high = f64::INFINITY;
                }
                if unloaded(c, b) {
                    change.high = f64::INFINITY;
                }
                Some((base, change))
            })
            .collect()
    }

    /// Rows that read the same after scrubbing merged into one, in every slice and in the
    /// base's whole-run rows.
    pub(crate) fn merge_same_names(&mut self) {
        super::merge_same_names(&mut self.base_endpoints, self.base_duration_s);
        for slice in &mut self.slices {
            let mut merged: Vec<SliceStats> = Vec::with_capacity(slice.endpoints.len());
            for row in std::mem::take(&mut slice.endpoints) {
                match merged.iter_mut().find(|r| r.name == row.name) {
                    Some(into) => into.absorb(&row),
                    None => merged.push(row),
                }
            }
            slice.endpoints = merged;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_order_is_balanced_a_b_b_a() {
        let order: String = (0..8)
            .map(|k| match side_of(k) {
                Side::Base => 'B',
                Side::Change => 'C',
            })
            .collect();
        assert_eq!(order, "BCCBBCCB");
        // Every pair holds one slice of each side.
        for p in 0..1000 {
            assert_ne!(side_of(2 * p), side_of(2 * p + 1), "pair {p}");
        }
        // Over every four slices each side has two, and the mean position of each side's
        // slices is the same: a linear drift favours neither.
        let mean = |side| {
            let ks: Vec<u64> = (0..400).filter(|k| side_of(*k) == side).collect();
            ks.iter().sum::<u64>() as f64 / ks.len() as f64
        };
        assert_eq!(mean(Side::Base), mean(Side::Change));
    }

    #[test]
    fn each_side_is_measured_half_the_time() {
        let fixed = SliceOrder::FIXED;
        assert_eq!(fixed.side_seconds(Side::Base, 5.0, 0.0, 20.0), 10.0);
        assert_eq!(fixed.side_seconds(Side::Change, 5.0, 0.0, 20.0), 10.0);
        // A warm-up of 2 s cuts into the first (base) slice; the run stops 1 s into slice 4
        // (base).
        assert_eq!(
            fixed.side_seconds(Side::Base, 5.0, 2.0, 21.0),
            3.0 + 5.0 + 1.0
        );
        assert_eq!(fixed.side_seconds(Side::Change, 5.0, 2.0, 21.0), 10.0);
        assert_eq!(fixed.side_seconds(Side::Change, 0.0, 0.0, 21.0), 0.0);
        // Under any key each block of four is two and two.
        for key in [1, 7, 0xdead] {
            let keyed = SliceOrder::keyed(key);
            assert_eq!(keyed.side_seconds(Side::Base, 5.0, 0.0, 400.0), 200.0);
            assert_eq!(keyed.side_seconds(Side::Change, 5.0, 0.0, 400.0), 200.0);
        }
    }

    #[test]
    fn a_keyed_order_swaps_whole_blocks_and_no_block_is_unbalanced() {
        let letters = |order: SliceOrder, n: u64| -> String {
            (0..n)
                .map(|k| match order.side(k) {
                    Side::Base => 'B',
                    Side::Change => 'C',
                })
                .collect()
        };
        for key in 0..50 {
            let text = letters(SliceOrder::keyed(key), 400);
            for block in text.as_bytes().chunks(4) {
                assert!(block == b"BCCB" || block == b"CBBC", "key {key}: {text}");
            }
        }
        // The blocks are not all alike: a disturbance every four slices meets both sides.
        let text = letters(SliceOrder::keyed(3), 400);
        let swapped = text.as_bytes().chunks(4).filter(|b| b == b"CBBC").count();
        assert!(
            (30..=70).contains(&swapped),
            "{swapped} of 100 blocks swapped"
        );
        // Keys differ in their orders; the fixed order is the unkeyed one.
        assert_ne!(
            letters(SliceOrder::keyed(1), 64),
            letters(SliceOrder::keyed(2), 64)
        );
        assert_eq!(letters(SliceOrder::FIXED, 8), "BCCBBCCB");
        assert_eq!(SliceOrder::keyed(9).key(), Some(9));
    }

    pub(crate) fn row(name: &str, requests: u64, p95: f64) -> SliceStats {
        SliceStats {
            name: name.into(),
            requests,
            failures: 0,
            late: 0,
            p50_ms: Some(p95 / 2.0),
            p95_ms: Some(p95),
            p99_ms: Some(p95 * 1.5),
            mean_ms: Some(p95 / 2.0),
        }
    }

    fn row_late_only(name: &str, late: u64) -> SliceStats {
        SliceStats {
            late,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            mean_ms: None,
            ..row(name, 0, 1.0)
        }
    }

    pub(crate) fn slice(index: u32, p95: f64) -> Slice {
        Slice {
            index,
            side: side_of(index.into()),
            start_s: index as f64 * 5.0,
            measured_s: 4.0,
            stall_ms: Some(1.0),
            starved: false,
            aggregate: row(ALL_REQUESTS, 40, p95),
            endpoints: vec![row("GET /a", 40, p95)],
        }
    }

    pub(crate) fn run(slices: Vec<Slice>) -> PairedRun {
        PairedRun {
            base_target: "http://base:8080".into(),
            slice_s: 5.0,
            turn_s: None,
            slice_warmup_s: 1.0,
            base_duration_s: 10.0,
            base_aggregate: EndpointStats::aggregate(ALL_REQUESTS, &[], 10.0),
            base_endpoints: Vec::new(),
            slices,
            slices_dropped: 0,
            order_key: None,
            until_decisive: None,
        }
    }

    #[test]
    fn late_requests_leave_a_latency_unbounded_above_and_widen_rates_by_their_count() {
        let mut s = slice(1, 20.0);
        s.aggregate.failures = 4;
        let b = s.bounds(None, SliceMetric::P95).unwrap();
        assert_eq!((b.low, b.high, b.late), (20.0, 20.0, false));
        s.aggregate.late = 10;
        let b = s.bounds(None, SliceMetric::P95).unwrap();
        assert_eq!(
            (b.measured, b.low, b.high, b.late),
            (20.0, 20.0, f64::INFINITY, true)
        );
        // 4 of 40 failed; 10 more unanswered: 4 to 14 of 50.
        let e = s.bounds(None, SliceMetric::ErrorRate).unwrap();
        assert_eq!((e.measured, e.low, e.high), (10.0, 8.0, 28.0));
        // 40 in 4 s; the 10 late were sent in it too.
        let r = s.bounds(None, SliceMetric::Rps).unwrap();
        assert_eq!((r.measured, r.low, r.high), (10.0, 10.0, 12.5));
        // Per row: the endpoint without late requests keeps its point.
        let row = s.bounds(Some("GET /a"), SliceMetric::P95).unwrap();
        assert_eq!(row.high, 20.0);
        // A row whose every request was late still makes a pair: at least the measured
        // window (4 s here), without limit above.
        s.endpoints.push(row_late_only("GET /slow", 3));
        let b = s.bounds(Some("GET /slow"), SliceMetric::P95).unwrap();
        assert_eq!(
            (b.measured, b.low, b.high, b.late),
            (4000.0, 4000.0, f64::INFINITY, true)
        );
        let e = s.bounds(Some("GET /slow"), SliceMetric::ErrorRate).unwrap();
        assert_eq!((e.low, e.high), (0.0, 100.0));
    }

    #[test]
    fn pairs_are_base_then_change_whatever_the_order_in_time() {
        // Slices 0 (base) 1 (change) 2 (change) 3 (base) 4 (base): the last is half a pair.
        let r = run(vec![
            slice(0, 10.0),
            slice(1, 20.0),
            slice(2, 21.0),
            slice(3, 11.0),
            slice(4, 12.0),
        ]);
        assert_eq!(
            r.pairs(None, SliceMetric::P95),
            [(10.0, 20.0, false), (11.0, 21.0, false)]
        );
        assert_eq!(
            r.pairs(Some("GET /a"), SliceMetric::Rps),
            [(10.0, 10.0, false), (10.0, 10.0, false)]
        );
        assert!(r.pairs(Some("GET /b"), SliceMetric::P95).is_empty());
    }

    #[test]
    fn a_missing_slice_breaks_only_its_pair_and_starvation_is_seen() {
        let mut starved = slice(3, 11.0);
        starved.starved = true;
        // Slice 1 missing (past the cap, or an empty window): pair 0 is not whole.
        let r = run(vec![slice(0, 10.0), slice(2, 21.0), starved]);
        assert_eq!(r.pairs(None, SliceMetric::P95), [(11.0, 21.0, true)]);
        let mut half = slice(4, 1.0);
        half.starved = true;
        let r = run(vec![slice(0, 10.0), slice(1, 20.0), half]);
        assert_eq!(
            r.pairs(None, SliceMetric::P95),
            [(10.0, 20.0, false)],
            "the half pair counts for nothing"
        );
    }

    #[test]
    fn rows_that_read_the_same_merge_with_their_counts() {
        let mut r = run(vec![slice(0, 10.0)]);
        r.slices[0].endpoints.push(row("GET /a", 10, 30.0));
        r.merge_same_names();
        let merged = &r.slices[0].endpoints;
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].requests, 50);
        assert_eq!(merged[0].p95_ms, Some(30.0), "the larger percentile");
        assert_eq!(merged[0].mean_ms, Some((5.0 * 40.0 + 15.0 * 10.0) / 50.0));
    }

    #[test]
    fn a_paired_run_reads_back_as_written_and_an_old_file_reads_as_unpaired() {
        let mut r = crate::stats::fixture(Vec::new(), 10.0);
        let old = serde_json::to_string(&r).unwrap();
        assert!(!old.contains("paired"), "absent when unpaired: {old}");
        let read: crate::stats::RunResult = serde_json::from_str(&old).unwrap();
        assert_eq!(read.paired, None);
        r.paired = Some(run(vec![slice(0, 10.0), slice(1, 12.0)]));
        let text = serde_json::to_string(&r).unwrap();
        let (read, over) = crate::stats::within_entry_caps(|| {
            serde_json::from_str::<crate::stats::RunResult>(&text)
        });
        assert_eq!(over, None);
        assert_eq!(read.unwrap(), r);
        let hostile = text.replace("\"measured_s\"", "\"measured_secs\"");
        assert!(serde_json::from_str::<crate::stats::RunResult>(&hostile).is_err());
    }
}
