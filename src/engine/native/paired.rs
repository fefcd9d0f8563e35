//! A paired run's clock and its per-slice figures. Time from the run's start is cut into
//! pairs of two slices' length, and each pair into turns; the plan's `stats::SliceOrder` says
//! whose turn each is, and a side's turns in a pair make up its slice there. Every virtual user
//! has a twin on the other side (same random stream, so the same flows; its own connections,
//! cookies and variables), and each sends only during its own side's turns: before each
//! request it waits for its turn ([`Slices::turn_of`]), and in the open model an arrival due in
//! the other side's turn is skipped, so both sides get the arrivals of their own turns of one
//! schedule.
//!
//! A request belongs to the slice of the turn it was sent in, however late in it, and is
//! counted there when its answer comes before the next pair ends ([`Slices::place`]). Dropping
//! the requests still in flight at a turn's end would drop the slow ones more often than the
//! fast (a request in flight at a given instant is picked in proportion to its length): every
//! slice would read faster than its target is, and the slower side more so, which hides part
//! of a regression. A request that outlasts even the next pair is counted as late in its own
//! slice ([`SliceSink::late`]), so the judgement knows what its slice could not measure. So is
//! one still unanswered when its slice is handed over, or when the run ends: each request is
//! noted in flight from its send ([`PairedRec::sent`]) until it is recorded, whatever its
//! outcome ([`PairedRec::land`]), and those the end of the run cut off are late, never
//! dropped: they are the slowest requests of the slower side.
//!
//! Each worker keeps the figures of the slices of the pair under way and the one before it
//! ([`SliceRec`]), hands them to the shared [`SliceSink`] when the pair after them begins, and
//! the sink reduces a slice to its percentiles as soon as every worker has handed it over, so
//! memory holds about four slices at a time whatever the run's length.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    engine::PairedPlan,
    stats::{
        slice_stall, EndpointStats, GeneratorSecond, LatencyHistogram, PairedRun, SecondPoint,
        Side, Slice, SliceOrder, SliceStats, ALL_REQUESTS, SERIES_SIGFIG,
    },
};

/// The slices of one run: when each turn begins, whose it is, and which part of it is
/// measured. Time from the run's start is cut into pairs of two slices' length; inside a pair
/// the two sides take turns (`turn`, a whole fraction of a slice) in the order's balanced
/// blocks, so each side gets one slice's worth of turns per pair. A side's turns in a pair
/// make up its slice there: its requests are pooled into one set of figures.
#[derive(Debug)]
pub(crate) struct Slices {
    start: Instant,
    slice: Duration,
    turn: Duration,
    warmup: Duration,
    /// Requests sent before this are no slice's (the run's own warm-up).
    measured_from: Instant,
    /// Slices from this index on are not measured (`--paired-max-slices`).
    max: u64,
    order: SliceOrder,
}

impl Slices {
    /// The slice is taken as a whole number of turns (settings refuse any other), so every
    /// reckoning of a pair's length agrees. Measuring begins at the first pair the run's
    /// warm-up leaves whole: a pair it cut into would measure one side's turns and not the
    /// other's, early in the ramp. Slices are kept in whole pairs.
    pub(crate) fn new(start: Instant, plan: &PairedPlan, run_warmup: Duration) -> Slices {
        let turn = plan.turn.max(Duration::from_millis(1));
        let n = (plan.slice.as_nanos() / turn.as_nanos()).clamp(1, u32::MAX.into()) as u32;
        let slice = turn * n;
        let pairs = run_warmup.as_nanos().div_ceil(2 * slice.as_nanos());
        let measured_from = (2 * slice)
            .checked_mul(u32::try_from(pairs).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        Slices {
            start,
            slice,
            turn,
            warmup: plan.slice_warmup,
            measured_from: start
                .checked_add(measured_from)
                .unwrap_or(start + run_warmup),
            max: u64::from(plan.max_slices) / 2 * 2,
            order: plan.order,
        }
    }

    /// Turns per slice (settings make the slice a whole number of turns; a remainder is
    /// dropped, so each side still gets as many turns as the other in every pair).
    fn turns_per_slice(&self) -> u64 {
        (self.slice.as_nanos() / self.turn.as_nanos()).max(1) as u64
    }

    /// The turn that `t` falls in.
    fn turn_at(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.start).as_nanos();
        (since / self.turn.as_nanos()) as u64
    }

    /// The pair that `t` falls in.
    fn pair_at(&self, t: Instant) -> u64 {
        self.turn_at(t) / (2 * self.turns_per_slice())
    }

    fn turn_start(&self, j: u64) -> Instant {
        self.start + self.turn * (j.min(u32::MAX.into()) as u32)
    }

    /// The slice that turn `j` belongs to: pair `p`'s slices are `2p` (the side whose turn
    /// opens the pair) and `2p + 1`.
    fn slice_of(&self, j: u64) -> u64 {
        let first = j - j % (2 * self.turns_per_slice());
        2 * (j / (2 * self.turns_per_slice()))
            + u64::from(self.order.side(j) != self.order.side(first))
    }

    /// The side slice `k` measured.
    pub(crate) fn side_of_slice(&self, k: u64) -> Side {
        let first = self.order.side((k / 2) * 2 * self.turns_per_slice());
        if k % 2 == 0 {
            first
        } else {
            first.other()
        }
    }

    /// The turns of slice `k`.
    fn turns(&self, k: u64) -> impl Iterator<Item = u64> + '_ {
        let n = 2 * self.turns_per_slice();
        let side = self.side_of_slice(k);
        ((k / 2) * n..(k / 2 + 1) * n).filter(move |j| self.order.side(*j) == side)
    }

    /// Whether `t` falls in one of `side`'s turns.
    pub(crate) fn is_turn_of(&self, side: Side, t: Instant) -> bool {
        self.order.side(self.turn_at(t)) == side
    }

    /// `None` when `now` is in one of `side`'s turns; else when its next one begins (at most
    /// three turns ahead: no side has more than two turns in a row in any order).
    pub(crate) fn turn_of(&self, side: Side, now: Instant) -> Option<Instant> {
        let j = self.turn_at(now);
        if self.order.side(j) == side {
            return None;
        }
        (j + 1..=j + 3)
            .find(|i| self.order.side(*i) == side)
            .map(|i| self.turn_start(i))
    }

    /// Where the figures of a request of `side` sent at `sent` and answered at `done` go: the
    /// slice of the turn it was sent in, if it was sent in that turn's measured window (after
    /// its warm-up and the run's) and the turn is `side`'s and its slice kept; counted there
    /// if answered before the next pair ends, late otherwise.
    pub(crate) fn place(&self, side: Side, sent: Instant, done: Instant) -> Place {
        match self.slice_sent(side, sent) {
            None => Place::Nowhere,
            Some(k) if self.pair_at(done) <= k / 2 + 1 => Place::Counted(k),
            Some(k) => Place::Late(k),
        }
    }

    /// The slice a request of `side` sent at `sent` belongs to: that of the turn it was sent
    /// in, if the turn is `side`'s, it was sent in the turn's measured window (after its
    /// warm-up and the run's) and the slice is kept.
    fn slice_sent(&self, side: Side, sent: Instant) -> Option<u64> {
        let j = self.turn_at(sent);
        let k = self.slice_of(j);
        let ours = k < self.max
            && self.order.side(j) == side
            && sent >= self.turn_start(j) + self.warmup
            && sent >= self.measured_from;
        ours.then_some(k)
    }

    /// How many seconds of slice `k` are measured in a run that lasted `elapsed`: its turns
    /// less their warm-ups (and the run's warm-up and end, where they cut into them).
    pub(crate) fn measured_s(&self, k: u64, elapsed: Duration) -> f64 {
        let end = self.start + elapsed;
        (self.turns(k))
            .map(|j| {
                let from = (self.turn_start(j) + self.warmup).max(self.measured_from);
                let to = self.turn_start(j + 1).min(end);
                to.saturating_duration_since(from).as_secs_f64()
            })
            .sum()
    }

    /// From when to when slice `k`'s turns run, in seconds from the run's start.
    pub(crate) fn span_s(&self, k: u64) -> (f64, f64) {
        let mut turns = self.turns(k);
        let first = turns.next().unwrap_or(0);
        let last = turns.last().unwrap_or(first);
        let at = |j: u64| {
            self.turn_start(j)
                .saturating_duration_since(self.start)
                .as_secs_f64()
        };
        (at(first), at(last + 1))
    }

    /// When pair `p` begins, from the run's start.
    pub(crate) fn pair_start(&self, p: u64) -> Duration {
        self.turn_start(p.saturating_mul(2 * self.turns_per_slice()))
            .saturating_duration_since(self.start)
    }

    /// Whether slice `k`'s last answers had their time in a run that lasted `elapsed`: the
    /// pair after its own ended.
    pub(crate) fn settled(&self, k: u64, elapsed: Duration) -> bool {
        self.pair_start(k / 2 + 2) <= elapsed
    }

    /// The kept slices, at most.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The slices a run that lasted `elapsed` touched, up to the kept ones.
    pub(crate) fn count(&self, elapsed: Duration) -> (u64, u64) {
        let pair = 2 * self.slice.as_nanos();
        let touched = 2 * (elapsed.as_nanos().div_ceil(pair)) as u64;
        (touched.min(self.max), touched.saturating_sub(self.max))
    }

    pub(crate) fn slice_s(&self) -> f64 {
        self.slice.as_secs_f64()
    }

    pub(crate) fn turn_s(&self) -> f64 {
        self.turn.as_secs_f64()
    }

    pub(crate) fn warmup_s(&self) -> f64 {
        self.warmup.as_secs_f64()
    }

    pub(crate) fn order(&self) -> SliceOrder {
        self.order
    }
}

/// Where a request's figures go ([`Slices::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In slice `k`'s figures.
    Counted(u64),
    /// Sent in slice `k`'s measured window, answered after the pair after its own ended.
    Late(u64),
    /// In no slice: sent in a warm-up, in the other side's slice, or past the kept slices.
    Nowhere,
}

/// A request of a paired run on its way: the slice it was sent in and its name's slot, from
/// [`PairedRec::sent`] to [`PairedRec::land`]. `NONE` for a request no slice measures (and in
/// an unpaired run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a request sent must land, or it is counted late at the run's end"]
pub(crate) struct Flight(Option<(u64, usize)>);

impl Flight {
    pub(crate) const NONE: Flight = Flight(None);
}

/// One name's figures in a slice still open, on one worker.
#[derive(Debug)]
pub(crate) struct SliceRec {
    requests: u64,
    failures: u64,
    late: u64,
    histogram: LatencyHistogram,
}

impl SliceRec {
    fn new() -> SliceRec {
        SliceRec {
            requests: 0,
            failures: 0,
            late: 0,
            histogram: LatencyHistogram::with_sigfig(SERIES_SIGFIG),
        }
    }

    fn add(&mut self, o: &SliceRec) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.late += o.late;
        self.histogram.add(&o.histogram);
    }

    fn stats(&self, name: &str) -> SliceStats {
        SliceStats {
            name: name.into(),
            requests: self.requests,
            failures: self.failures,
            late: self.late,
            p50_ms: self.histogram.percentile_ms(50.0),
            p95_ms: self.histogram.percentile_ms(95.0),
            p99_ms: self.histogram.percentile_ms(99.0),
            mean_ms: self.histogram.mean_ms(),
        }
    }
}

/// The request names of a scenario, once each: endpoints that share a name share a slot.
#[derive(Debug)]
pub(crate) struct Names {
    names: Vec<String>,
    slot_of: Vec<usize>,
}

impl Names {
    pub(crate) fn new<'a>(endpoints: impl IntoIterator<Item = &'a str>) -> Names {
        let mut names: Vec<String> = Vec::new();
        let slot_of = endpoints
            .into_iter()
            .map(|n| match names.iter().position(|m| m == n) {
                Some(i) => i,
                None => {
                    names.push(n.to_string());
                    names.len() - 1
                }
            })
            .collect();
        Names { names, slot_of }
    }
}

/// One worker's part: the figures of the slices whose requests may still be answered (those
/// of the pair under way and of the one before it).
#[derive(Debug)]
pub(crate) struct PairedRec {
    worker: usize,
    slices: Arc<Slices>,
    names: Arc<Names>,
    sink: Arc<SliceSink>,
    /// The pair under way.
    current: u64,
    /// The open slices' figures, per name, by slice.
    open: BTreeMap<u64, Vec<Option<SliceRec>>>,
    /// Every slice below this one has been handed over.
    handed: u64,
    /// Requests sent and not yet recorded, by slice and name slot, in the slices not yet
    /// handed over: at most the open slices' names, whatever the run's length.
    flying: BTreeMap<(u64, usize), u64>,
}

impl PairedRec {
    pub(crate) fn new(
        worker: usize,
        slices: Arc<Slices>,
        names: Arc<Names>,
        sink: Arc<SliceSink>,
    ) -> Self {
        PairedRec {
            worker,
            open: BTreeMap::new(),
            slices,
            names,
            sink,
            current: 0,
            handed: 0,
            flying: BTreeMap::new(),
        }
    }

    /// Notes a request of `side` for `endpoint` sent at `sent` (as its latency counts it: in
    /// the open model, when it was due) as in flight until it [lands](Self::land). One whose
    /// slice is already handed over was due before the pair after its own ended: it is late
    /// whenever its answer comes, and counted so now.
    pub(crate) fn sent(&mut self, side: Side, endpoint: usize, sent: Instant) -> Flight {
        let slot = self.names.slot_of.get(endpoint).copied();
        let Some((k, slot)) = self.slices.slice_sent(side, sent).zip(slot) else {
            return Flight::NONE;
        };
        if k < self.handed {
            self.sink.late(k, slot);
        } else {
            *self.flying.entry((k, slot)).or_default() += 1;
        }
        Flight(Some((k, slot)))
    }

    /// Takes `flight` off the requests in flight as it is recorded at `now`. False when its
    /// slice was handed over while it flew: the pair after its own had ended, so it was
    /// counted late then, and must not be counted again.
    pub(crate) fn land(&mut self, flight: Flight, now: Instant) -> bool {
        self.roll(now);
        let Flight(Some(key)) = flight else {
            return true;
        };
        if key.0 < self.handed {
            return false;
        }
        if let Some(n) = self.flying.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.flying.remove(&key);
            }
        }
        true
    }

    /// Counts a request of `side` answered at `now` in the slice it was sent in
    /// ([`Slices::place`]): at `sent` when given, else `latency` before `now`. A failure with
    /// no latency (a connection that never opened) must give `sent`: taking its end instead
    /// would put a timeout into whatever turn it ended in, the other side's half the time, and
    /// out of every slice.
    pub(crate) fn record(
        &mut self,
        side: Side,
        endpoint: usize,
        (latency_micros, sent): (Option<u64>, Option<Instant>),
        failed: bool,
        now: Instant,
    ) {
        self.roll(now);
        let sent = match (latency_micros, sent) {
            (_, Some(sent)) => sent.min(now),
            (Some(us), None) => now.checked_sub(Duration::from_micros(us)).unwrap_or(now),
            (None, None) => now,
        };
        let Some(slot) = self.names.slot_of.get(endpoint).copied() else {
            return;
        };
        let (k, late) = match self.slices.place(side, sent, now) {
            Place::Nowhere => return,
            Place::Counted(k) => (k, false),
            Place::Late(k) => (k, true),
        };
        if k < self.handed {
            // Already handed over: late.
            return self.sink.late(k, slot);
        }
        let n = self.names.names.len();
        let recs = (self.open.entry(k)).or_insert_with(|| (0..n).map(|_| None).collect());
        let rec = recs[slot].get_or_insert_with(SliceRec::new);
        if late {
            rec.late += 1;
            return;
        }
        rec.requests += 1;
        if failed {
            rec.failures += 1;
        }
        if let Some(us) = latency_micros {
            rec.histogram.record_micros(us);
        }
    }

    /// Hands over the slices of the pairs before the one before the pair under way once
    /// `now` is past them: no request of theirs can count any more.
    pub(crate) fn roll(&mut self, now: Instant) {
        let p = self.slices.pair_at(now);
        if p > self.current {
            self.current = p;
            self.hand_over(2 * p.saturating_sub(1));
        }
    }

    /// Hands over what is left at the end of the run, every request still in flight counted
    /// late in its slice: the users' exchanges are abandoned at the end, so no answer of
    /// theirs will come, and a slice the run settled had its next pair end before it.
    pub(crate) fn finish(&mut self) {
        self.hand_over(u64::MAX);
    }

    /// Hands every open slice below `below` to the sink, and tells it this worker is past
    /// them: only then may it reduce them, so it never reduces a slice whose figures from
    /// this worker are still to come.
    fn hand_over(&mut self, below: u64) {
        self.overdue(below);
        let later = match below {
            u64::MAX => BTreeMap::new(),
            _ => self.open.split_off(&below),
        };
        let done = std::mem::replace(&mut self.open, later);
        for (k, recs) in done {
            if recs.iter().any(Option::is_some) {
                self.sink.submit(self.worker, Some((k, recs)), 0);
            }
        }
        self.handed = self.handed.max(below);
        self.sink.submit(self.worker, None, self.handed);
    }

    /// Counts late every request of a slice below `below` still in flight. A slice is handed
    /// over once the pair after its own has ended, so its requests still unanswered then are
    /// late whenever their answers come; or at the run's end, when the users' exchanges are
    /// abandoned and those answers never come. Left out, they would be the slowest requests
    /// of the slower side, dropped: the bias the late count exists to stop. (A slice the run
    /// did not settle is dropped whole, its late requests with it: `paired_run`.)
    fn overdue(&mut self, below: u64) {
        let later = match below {
            u64::MAX => BTreeMap::new(),
            _ => self.flying.split_off(&(below, 0)),
        };
        let n = self.names.names.len();
        for ((k, slot), late) in std::mem::replace(&mut self.flying, later) {
            let recs = (self.open.entry(k)).or_insert_with(|| (0..n).map(|_| None).collect());
            if let Some(rec) = recs.get_mut(slot) {
                rec.get_or_insert_with(SliceRec::new).late += late;
            }
        }
    }
}

/// What the workers hand over, reduced slice by slice.
#[derive(Debug)]
pub(crate) struct SliceSink {
    state: Mutex<SinkState>,
    names: Arc<Names>,
}

#[derive(Debug)]
struct SinkState {
    /// Per worker: every slice below this one has been handed over.
    watermarks: Vec<u64>,
    pending: BTreeMap<u64, Vec<Option<SliceRec>>>,
    done: BTreeMap<u64, (SliceStats, Vec<SliceStats>)>,
}

impl SliceSink {
    pub(crate) fn new(workers: usize, names: Arc<Names>) -> SliceSink {
        SliceSink {
            state: Mutex::new(SinkState {
                watermarks: vec![0; workers],
                pending: BTreeMap::new(),
                done: BTreeMap::new(),
            }),
            names,
        }
    }

    fn submit(&self, worker: usize, part: Option<(u64, Vec<Option<SliceRec>>)>, watermark: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, recs)) = part {
            let into = st
                .pending
                .entry(k)
                .or_insert_with(|| recs.iter().map(|_| None).collect());
            for (slot, rec) in into.iter_mut().zip(recs) {
                if let Some(rec) = rec {
                    match slot {
                        Some(sum) => sum.add(&rec),
                        None => *slot = Some(rec),
                    }
                }
            }
        }
        if let Some(w) = st.watermarks.get_mut(worker) {
            *w = (*w).max(watermark);
        }
        let below = st.watermarks.iter().copied().min().unwrap_or(0);
        let ready: Vec<u64> = st.pending.range(..below).map(|(k, _)| *k).collect();
        for k in ready {
            if let Some(recs) = st.pending.remove(&k) {
                let mut reduced = self.reduce(&recs);
                if let Some((all, rows)) = st.done.remove(&k) {
                    // Late counts that arrived for it first (never figures: those come only
                    // through `pending`).
                    reduced.0.late += all.late;
                    for row in rows {
                        match reduced.1.iter_mut().find(|r| r.name == row.name) {
                            Some(r) => r.late += row.late,
                            None => reduced.1.push(row),
                        }
                    }
                }
                st.done.insert(k, reduced);
            }
        }
    }

    /// Counts a request of slice `k` under `slot` late: answered after its worker handed the
    /// slice over. Added to the slice's figures wherever they are, pending or reduced.
    fn late(&self, k: u64, slot: usize) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let below = st.watermarks.iter().copied().min().unwrap_or(0);
        if k >= below || st.pending.contains_key(&k) {
            // Not reduced yet: counted with the slice's other figures when it is.
            let n = self.names.names.len();
            let recs = (st.pending.entry(k)).or_insert_with(|| (0..n).map(|_| None).collect());
            if let Some(rec) = recs.get_mut(slot) {
                rec.get_or_insert_with(SliceRec::new).late += 1;
            }
            return;
        }
        let Some(name) = self.names.names.get(slot) else {
            return;
        };
        let (all, rows) =
            (st.done.entry(k)).or_insert_with(|| (SliceRec::new().stats(ALL_REQUESTS), Vec::new()));
        all.late += 1;
        match rows.iter_mut().find(|r| r.name == *name) {
            Some(row) => row.late += 1,
            None => {
                let mut row = SliceRec::new();
                row.late = 1;
                rows.push(row.stats(name));
            }
        }
    }

    /// A slice's rows and their aggregate, its histograms freed.
    fn reduce(&self, recs: &[Option<SliceRec>]) -> (SliceStats, Vec<SliceStats>) {
        let mut all = SliceRec::new();
        let mut rows = Vec::new();
        for (rec, name) in recs.iter().zip(&self.names.names) {
            if let Some(rec) = rec {
                all.add(rec);
                rows.push(rec.stats(name));
            }
        }
        (all.stats(ALL_REQUESTS), rows)
    }

    /// How many whole slice pairs every worker has handed over.
    pub(crate) fn whole_pairs(&self) -> u64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.watermarks.iter().copied().min().unwrap_or(0) / 2
    }

    /// The figures of the slices below `end`: what a referee judges while the run goes on.
    pub(crate) fn reduced_below(&self, end: u64) -> BTreeMap<u64, (SliceStats, Vec<SliceStats>)> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (st.done.range(..end))
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Every slice reduced, by index.
    pub(crate) fn finish(self) -> BTreeMap<u64, (SliceStats, Vec<SliceStats>)> {
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        st.done
    }
}

/// A paired run's section of the result: the base's whole-run rows (`base`: its address, its
/// rows and the seconds they are over), and each slice the run settled, with the generator's
/// stall in the seconds of its turns in `timeseries`. A slice is settled when the pair after
/// its own ended within `elapsed`: its last requests had their time to be answered (the run's
/// end cuts off the answers still to come, the slowest most often, so the pair before the end
/// would read faster than its target was). A slice with no measured time (inside the run's
/// warm-up) is left out.
pub(crate) fn paired_run(
    slices: &Slices,
    mut done: BTreeMap<u64, (SliceStats, Vec<SliceStats>)>,
    (base_target, (base_endpoints, base_duration_s)): (String, (Vec<EndpointStats>, f64)),
    elapsed: Duration,
    timeseries: &[SecondPoint],
) -> PairedRun {
    let (kept, dropped) = slices.count(elapsed);
    let list = (0..kept)
        .filter(|k| slices.settled(*k, elapsed))
        .filter_map(|k| {
            let measured_s = slices.measured_s(k, elapsed);
            if measured_s <= 0.0 {
                return None;
            }
            let (aggregate, endpoints) = done.remove(&k).unwrap_or_else(|| {
                let empty = SliceRec::new();
                (empty.stats(ALL_REQUESTS), Vec::new())
            });
            let (from, to) = slices.span_s(k);
            let seconds: Vec<GeneratorSecond> = timeseries
                .iter()
                .filter(|p| f64::from(p.t) + 1.0 > from && f64::from(p.t) < to)
                .filter_map(|p| p.generator)
                .collect();
            let stall = slice_stall(&seconds, (aggregate.requests, measured_s), aggregate.p99_ms);
            Some(Slice {
                index: k.min(u32::MAX.into()) as u32,
                side: slices.side_of_slice(k),
                start_s: from,
                measured_s,
                stall_ms: stall.map(|s| s.0),
                starved: stall.is_some_and(|s| s.1),
                aggregate,
                endpoints,
            })
        })
        .collect();
    PairedRun {
        base_target,
        slice_s: slices.slice_s(),
        turn_s: Some(slices.turn_s()),
        slice_warmup_s: slices.warmup_s(),
        base_duration_s,
        base_aggregate: EndpointStats::aggregate(ALL_REQUESTS, &base_endpoints, base_duration_s),
        base_endpoints,
        slices: list,
        slices_dropped: dropped,
        order_key: slices.order.key(),
        until_decisive: None,
    }
}

/// After a look at `asked` pairs, the pairs at which the referee looks next: after every pair
/// for the first twenty, then after every twentieth part of those so far. Each look judges
/// every pair so far, so looking after every pair of an hour's run (1,800 pairs) would cost
/// the generator's core pairs squared; spaced, about 120 looks, and a decision comes at
/// most 5 % of the run later. Fewer looks are also fewer chances for a fluke to stop the run.
pub(crate) fn next_look(asked: u64) -> u64 {
    asked + (asked / 20).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SliceMetric;

    #[test]
    fn the_referee_looks_after_every_pair_at_first_then_ever_more_sparsely() {
        let looks: Vec<u64> = std::iter::successors(Some(0), |a| Some(next_look(*a)))
            .take_while(|a| *a <= 1800)
            .collect();
        assert_eq!(looks[..=40], (0..=40).collect::<Vec<_>>()[..]);
        assert_eq!(&looks[41..44], [42, 44, 46]);
        assert!(
            looks.len() < 130,
            "{} looks in an hour of 1 s slices",
            looks.len()
        );
    }

    fn slices(start: Instant) -> Slices {
        keyed_slices(start, SliceOrder::FIXED)
    }

    /// 5 s slices of one turn each (so each slice is whole, as before turns), a 1 s warm-up,
    /// six slices kept, no run warm-up.
    fn keyed_slices(start: Instant, order: SliceOrder) -> Slices {
        turned_slices(start, order, (5.0, 5.0, 1.0), 0.0)
    }

    /// Slices of `(slice, turn, warm-up)` seconds.
    fn turned_slices(
        start: Instant,
        order: SliceOrder,
        t: (f64, f64, f64),
        run_warmup: f64,
    ) -> Slices {
        Slices::new(start, &plan(t, order), Duration::from_secs_f64(run_warmup))
    }

    fn plan(t: (f64, f64, f64), order: SliceOrder) -> PairedPlan {
        PairedPlan {
            base: crate::engine::Target::from_url(&"http://b:1".parse().unwrap()).unwrap(),
            slice: Duration::from_secs_f64(t.0),
            turn: Duration::from_secs_f64(t.1),
            slice_warmup: Duration::from_secs_f64(t.2),
            max_slices: 6,
            order,
            referee: None,
        }
    }

    #[test]
    fn a_sides_turns_in_a_pair_pool_into_its_slice() {
        let t0 = Instant::now();
        // 1 s slices of 250 ms turns: pair 0 is turns 0 to 7, in the fixed order
        // B C C B B C C B, so slice 0 is the base's (it opens the pair) and slice 1 the change's.
        let s = turned_slices(t0, SliceOrder::FIXED, (1.0, 0.25, 0.05), 0.0);
        let m = |side, a, b| s.place(side, at(t0, a), at(t0, b));
        assert_eq!(m(Side::Base, 0.1, 0.2), Place::Counted(0));
        assert_eq!(
            m(Side::Base, 0.9, 1.2),
            Place::Counted(0),
            "its second turn"
        );
        assert_eq!(m(Side::Change, 0.3, 0.31), Place::Counted(1));
        assert_eq!(
            m(Side::Change, 1.6, 1.7),
            Place::Counted(1),
            "its last turn"
        );
        assert_eq!(
            m(Side::Base, 0.3, 0.31),
            Place::Nowhere,
            "the change's turn"
        );
        assert_eq!(
            m(Side::Change, 0.26, 0.27),
            Place::Nowhere,
            "the turn's warm-up"
        );
        assert_eq!(
            m(Side::Change, 0.3, 3.99),
            Place::Counted(1),
            "answered before the next pair ends"
        );
        assert_eq!(m(Side::Change, 0.3, 4.0), Place::Late(1));
        assert_eq!(m(Side::Base, 2.1, 2.2), Place::Counted(2), "pair 1");
        assert_eq!(s.side_of_slice(0), Side::Base);
        assert_eq!(s.side_of_slice(1), Side::Change);
        assert!((s.measured_s(0, Duration::from_secs(60)) - 0.8).abs() < 1e-9);
        assert!((s.measured_s(1, Duration::from_secs(60)) - 0.8).abs() < 1e-9);
        assert!((s.measured_s(1, Duration::from_secs_f64(0.6)) - 0.25).abs() < 1e-9);
        assert_eq!(s.span_s(0), (0.0, 2.0));
        assert_eq!(s.span_s(1), (0.25, 1.75));
        assert_eq!(s.pair_start(3), Duration::from_secs(6));
        assert_eq!(s.turn_of(Side::Base, at(t0, 0.3)), Some(at(t0, 0.75)));
    }

    /// A connection that timed out after a second began in the change's turn and ended in the
    /// base's: it counts in the change's slice, where it was sent, not in none.
    #[test]
    fn a_failure_with_no_latency_counts_where_it_was_sent() {
        let t0 = Instant::now();
        let s = Arc::new(turned_slices(t0, SliceOrder::FIXED, (1.0, 0.25, 0.0), 0.0));
        let names = Arc::new(Names::new(["GET /a"]));
        let sink = Arc::new(SliceSink::new(1, names.clone()));
        let mut w = PairedRec::new(0, s, names, sink.clone());
        w.record(
            Side::Change,
            0,
            (None, Some(at(t0, 0.3))),
            true,
            at(t0, 1.3),
        );
        w.record(Side::Change, 0, (None, None), true, at(t0, 0.8));
        w.finish();
        drop(w);
        let done = Arc::try_unwrap(sink).unwrap().finish();
        let all = &done[&1].0;
        assert_eq!((all.requests, all.failures), (1, 1), "{done:?}");
        assert_eq!(
            done.len(),
            1,
            "the one with no start ended in the base's turn: {done:?}"
        );
    }

    /// A run warm-up of 1.25 s cuts into pair 0 (0 to 2 s): measuring would give the change
    /// two turns and the base one, early in the ramp. The whole pair is left out instead.
    #[test]
    fn measuring_begins_at_the_first_pair_the_run_warmup_leaves_whole() {
        let t0 = Instant::now();
        let s = turned_slices(t0, SliceOrder::FIXED, (1.0, 0.25, 0.0), 1.25);
        let m = |side, a, b| s.place(side, at(t0, a), at(t0, b));
        assert_eq!(m(Side::Change, 1.6, 1.7), Place::Nowhere);
        assert_eq!(m(Side::Base, 1.8, 1.9), Place::Nowhere);
        assert_eq!(m(Side::Base, 2.1, 2.2), Place::Counted(2));
        for k in [0, 1] {
            assert_eq!(s.measured_s(k, Duration::from_secs(60)), 0.0);
        }
        assert!((s.measured_s(3, Duration::from_secs(60)) - 1.0).abs() < 1e-9);
        // A slice that is not a whole number of turns is taken as the whole turns it holds,
        // and an odd cap on the slices keeps whole pairs.
        let plan = PairedPlan {
            slice: Duration::from_millis(1100),
            turn: Duration::from_millis(250),
            max_slices: 7,
            ..plan((1.0, 0.25, 0.0), SliceOrder::FIXED)
        };
        let s = Slices::new(t0, &plan, Duration::ZERO);
        assert_eq!(s.pair_start(1), Duration::from_secs(2));
        assert_eq!(s.count(Duration::from_secs(20)), (6, 14));
    }

    #[test]
    fn under_any_order_every_pair_gives_each_side_a_slices_worth_of_turns() {
        let t0 = Instant::now();
        for key in 0..40 {
            for turn in [0.25, 0.5, 1.0] {
                let s = turned_slices(t0, SliceOrder::keyed(key), (1.0, turn, 0.0), 0.0);
                for k in 0..6 {
                    let measured = s.measured_s(k, Duration::from_secs(60));
                    assert!(
                        (measured - 1.0).abs() < 1e-9,
                        "key {key} turn {turn} slice {k}"
                    );
                    assert_ne!(s.side_of_slice(k), s.side_of_slice(k ^ 1));
                    for j in s.turns(k) {
                        assert_eq!(s.slice_of(j), k, "key {key} turn {turn} slice {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn under_any_order_each_side_waits_for_exactly_its_next_slice() {
        let t0 = Instant::now();
        for key in 0..40 {
            let s = keyed_slices(t0, SliceOrder::keyed(key));
            for k in 0..64u64 {
                let now = at(t0, k as f64 * 5.0 + 2.5);
                for side in [Side::Base, Side::Change] {
                    let next = (k..).find(|j| SliceOrder::keyed(key).side(*j) == side);
                    let want = next.filter(|j| *j != k).map(|j| at(t0, j as f64 * 5.0));
                    assert_eq!(s.turn_of(side, now), want, "key {key} slice {k} {side:?}");
                    assert_eq!(s.is_turn_of(side, now), next == Some(k));
                }
            }
        }
    }

    fn at(start: Instant, s: f64) -> Instant {
        start + Duration::from_secs_f64(s)
    }

    #[test]
    fn each_side_waits_for_its_own_slices() {
        let t0 = Instant::now();
        let s = slices(t0);
        // Slices: 0 base, 1 change, 2 change, 3 base.
        assert_eq!(s.turn_of(Side::Base, at(t0, 0.5)), None);
        assert_eq!(s.turn_of(Side::Change, at(t0, 0.5)), Some(at(t0, 5.0)));
        assert_eq!(s.turn_of(Side::Base, at(t0, 6.0)), Some(at(t0, 15.0)));
        assert_eq!(s.turn_of(Side::Change, at(t0, 14.9)), None);
        assert!(s.is_turn_of(Side::Base, at(t0, 15.0)));
        assert!(!s.is_turn_of(Side::Change, at(t0, 15.0)));
    }

    #[test]
    fn a_request_counts_in_the_slice_that_holds_it_whole() {
        let t0 = Instant::now();
        let s = slices(t0);
        let m = |side, a, b| s.place(side, at(t0, a), at(t0, b));
        assert_eq!(m(Side::Change, 6.5, 6.6), Place::Counted(1));
        assert_eq!(
            m(Side::Change, 5.5, 5.6),
            Place::Nowhere,
            "in the slice's warm-up"
        );
        assert_eq!(
            m(Side::Change, 9.9, 10.1),
            Place::Counted(1),
            "answered in the next turn: counted where it was sent"
        );
        assert_eq!(m(Side::Change, 9.9, 14.99), Place::Counted(1));
        assert_eq!(m(Side::Change, 9.9, 19.99), Place::Counted(1));
        assert_eq!(
            m(Side::Change, 9.9, 20.0),
            Place::Late(1),
            "past the next pair"
        );
        assert_eq!(m(Side::Change, 10.0 + 1.5, 12.0), Place::Counted(2));
        assert_eq!(
            m(Side::Base, 14.9, 15.5),
            Place::Nowhere,
            "sent in the change's slice"
        );
        assert_eq!(m(Side::Base, 3.5, 3.6), Place::Counted(0));
        assert_eq!(m(Side::Base, 1.5, 1.6), Place::Counted(0));
        assert_eq!(
            m(Side::Base, 31.5, 31.6),
            Place::Nowhere,
            "past the kept slices"
        );
        assert!((s.measured_s(0, Duration::from_secs(60)) - 4.0).abs() < 1e-9);
        assert!((s.measured_s(1, Duration::from_secs(60)) - 4.0).abs() < 1e-9);
        assert!((s.measured_s(2, Duration::from_secs_f64(12.5)) - 1.5).abs() < 1e-9);
        assert_eq!(s.count(Duration::from_secs_f64(12.5)), (4, 0));
        assert_eq!(s.count(Duration::from_secs(40)), (6, 2));
    }

    #[test]
    fn every_workers_figures_of_a_slice_are_kept_at_the_end_and_after_a_skipped_slice() {
        let t0 = Instant::now();
        let s = Arc::new(slices(t0));
        let names = Arc::new(Names::new(["GET /a"]));
        let two = |s: &Arc<Slices>| {
            let sink = Arc::new(SliceSink::new(2, names.clone()));
            let w = |i| PairedRec::new(i, s.clone(), names.clone(), sink.clone());
            (w(0), w(1), sink)
        };
        let reduced = |sink: Arc<SliceSink>| Arc::try_unwrap(sink).unwrap().finish();
        // Both measure slice 1 (change); worker 1 moves on slice by slice, worker 0 stalls
        // through slice 2 and wakes in slice 3.
        let (mut w0, mut w1, sink) = two(&s);
        w0.record(Side::Change, 0, (Some(1000), None), false, at(t0, 6.5));
        w1.record(Side::Change, 0, (Some(1000), None), false, at(t0, 7.5));
        w1.roll(at(t0, 10.5));
        w1.roll(at(t0, 15.5));
        w0.roll(at(t0, 15.5));
        w0.finish();
        w1.finish();
        drop((w0, w1));
        let done = reduced(sink);
        assert_eq!(done[&1].0.requests, 2, "{done:?}");
        // Both measure slice 2, and the run ends in it.
        let (mut w0, mut w1, sink) = two(&s);
        w0.record(Side::Change, 0, (Some(1000), None), false, at(t0, 12.5));
        w1.record(Side::Change, 0, (Some(1000), None), false, at(t0, 13.0));
        w1.finish();
        w0.finish();
        drop((w0, w1));
        let done = reduced(sink);
        assert_eq!(done[&2].0.requests, 2, "{done:?}");
    }

    #[test]
    fn the_sink_reduces_a_slice_once_every_worker_is_past_it() {
        let t0 = Instant::now();
        let s = Arc::new(slices(t0));
        let names = Arc::new(Names::new(["GET /a", "GET /b", "GET /a"]));
        let sink = Arc::new(SliceSink::new(2, names.clone()));
        let mut w0 = PairedRec::new(0, s.clone(), names.clone(), sink.clone());
        let mut w1 = PairedRec::new(1, s.clone(), names.clone(), sink.clone());
        // Slice 0 (base), measured from 2 s: 2 ms and 4 ms on /a (endpoints 0 and 2 share it).
        w0.record(Side::Base, 0, (Some(2000), None), false, at(t0, 3.0));
        w1.record(Side::Base, 2, (Some(4000), None), true, at(t0, 3.5));
        // A change request finishing in slice 0 was sent there: it belongs to no slice.
        w1.record(Side::Change, 1, (Some(1000), None), false, at(t0, 4.0));
        // Slice 1 (change).
        w0.record(Side::Change, 1, (Some(8000), None), false, at(t0, 7.0));
        w0.roll(at(t0, 10.5));
        w1.roll(at(t0, 10.5));
        assert!(
            sink.state.lock().unwrap().done.is_empty(),
            "pair 0's slices stay open through pair 1 for their last answers"
        );
        // A change request sent in slice 1 and answered in the next pair counts in slice 1.
        w1.record(
            Side::Change,
            1,
            (Some(9_900_000), None),
            false,
            at(t0, 16.5),
        );
        w0.roll(at(t0, 20.5));
        assert!(
            sink.state.lock().unwrap().done.is_empty(),
            "worker 1 is not past it"
        );
        w1.roll(at(t0, 20.5));
        let reduced: Vec<u64> = sink.state.lock().unwrap().done.keys().copied().collect();
        assert_eq!(reduced, [0, 1]);
        // A base request of slice 0 answered in pair 2: late, added to the reduced slice.
        w0.record(Side::Base, 0, (Some(17_200_000), None), false, at(t0, 20.7));
        w0.finish();
        w1.finish();
        drop((w0, w1));
        let done = Arc::try_unwrap(sink).unwrap().finish();
        let (all, rows) = &done[&0];
        assert_eq!((all.requests, all.failures, all.late), (2, 1, 1));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "GET /a");
        assert_eq!((rows[0].requests, rows[0].late), (2, 1));
        let (all, rows) = &done[&1];
        assert_eq!((all.requests, all.late), (2, 0));
        assert_eq!(rows[0].name, "GET /b");
        assert!((rows[0].p95_ms.unwrap() - 9900.0).abs() < 100.0);
    }

    /// The run ends (at 22.5 s, in pair 2) with a change request of slice 1 (pair 0) and one
    /// of slice 2 (pair 1) never answered: their users' exchanges were abandoned. Slice 1 is
    /// settled: its request outlasted the next pair, so it is late there, and the slice's
    /// latency has no upper bound, never the fast requests alone. Slice 2 is not settled and
    /// goes whole, its request with it.
    #[test]
    fn a_request_the_run_ends_before_answering_is_late_in_its_settled_slice() {
        let t0 = Instant::now();
        let s = Arc::new(slices(t0));
        let names = Arc::new(Names::new(["GET /a", "GET /b"]));
        let sink = Arc::new(SliceSink::new(1, names.clone()));
        let mut w = PairedRec::new(0, s.clone(), names, sink.clone());
        let answered = w.sent(Side::Change, 0, at(t0, 6.5));
        assert!(w.land(answered, at(t0, 6.6)));
        w.record(
            Side::Change,
            0,
            (Some(100_000), Some(at(t0, 6.5))),
            false,
            at(t0, 6.6),
        );
        let _cut_off = w.sent(Side::Change, 1, at(t0, 7.0));
        let _unsettled = w.sent(Side::Change, 0, at(t0, 11.5));
        let nowhere = w.sent(Side::Base, 0, at(t0, 7.5));
        assert_eq!(nowhere, Flight::NONE, "the change's slice");
        w.roll(at(t0, 22.5));
        w.finish();
        drop(w);
        let done = Arc::try_unwrap(sink).unwrap().finish();
        let (all, rows) = &done[&1];
        assert_eq!((all.requests, all.late), (1, 1), "{done:?}");
        let late: Vec<(&str, u64)> = rows.iter().map(|r| (r.name.as_str(), r.late)).collect();
        assert_eq!(late, [("GET /a", 0), ("GET /b", 1)]);
        let base = (String::new(), (Vec::new(), 1.0));
        let run = paired_run(&s, done, base, Duration::from_secs_f64(22.5), &[]);
        let kept: Vec<u32> = run.slices.iter().map(|s| s.index).collect();
        assert_eq!(kept, [0, 1], "slice 2 is not settled");
        let p95 = run.slices[1].bounds(None, SliceMetric::P95).unwrap();
        assert!(p95.late && p95.high.is_infinite(), "{p95:?}");
        let b = run.slices[1]
            .bounds(Some("GET /b"), SliceMetric::P95)
            .unwrap();
        assert!(b.late && b.high.is_infinite(), "{b:?}");
    }

    /// A request still in flight when its worker hands its slice over (the pair after its own
    /// has ended) is late then, once: not again when its answer comes. One whose slice was
    /// handed over before it went out (in the open model it counts from when it was due) is
    /// late as it goes.
    #[test]
    fn a_request_unanswered_when_its_slice_is_handed_over_is_late_once() {
        let t0 = Instant::now();
        let s = Arc::new(slices(t0));
        let names = Arc::new(Names::new(["GET /a"]));
        let sink = Arc::new(SliceSink::new(1, names.clone()));
        let mut w = PairedRec::new(0, s, names, sink.clone());
        let slow = w.sent(Side::Change, 0, at(t0, 6.5));
        let quick = w.sent(Side::Change, 0, at(t0, 7.0));
        assert!(w.land(quick, at(t0, 7.1)));
        w.record(
            Side::Change,
            0,
            (Some(100_000), Some(at(t0, 7.0))),
            false,
            at(t0, 7.1),
        );
        w.roll(at(t0, 20.5));
        assert_eq!(
            sink.reduced_below(2)[&1].0.late,
            1,
            "counted at the hand-over"
        );
        assert!(!w.land(slow, at(t0, 21.0)), "already counted");
        let overdue = w.sent(Side::Change, 0, at(t0, 8.0));
        assert!(!w.land(overdue, at(t0, 21.5)));
        w.finish();
        drop(w);
        let done = Arc::try_unwrap(sink).unwrap().finish();
        let (all, _) = &done[&1];
        assert_eq!((all.requests, all.late), (1, 2), "{done:?}");
    }

    #[test]
    fn the_section_keeps_each_settled_slice_with_its_generator_figures() {
        let t0 = Instant::now();
        let s = slices(t0);
        let mut done = BTreeMap::new();
        let row = |requests| SliceStats {
            name: ALL_REQUESTS.into(),
            requests,
            failures: 0,
            late: 0,
            p50_ms: Some(5.0),
            p95_ms: Some(9.0),
            p99_ms: Some(12.0),
            mean_ms: Some(6.0),
        };
        done.insert(1, (row(40), Vec::new()));
        let second = |t: u32, hiccup: f64| SecondPoint {
            t,
            requests: 10,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            users: 1,
            generator: Some(GeneratorSecond {
                hiccup_max_ms: hiccup,
                gen_cpu_pct: 10.0,
                steal_pct: 0.0,
                run_queue_ms: None,
            }),
        };
        // Slice 0's seconds are calm, slice 1 stalls 20 ms in its third second.
        let series: Vec<SecondPoint> = (0..12)
            .map(|t| second(t, if t == 7 { 20.0 } else { 1.0 }))
            .collect();
        let base = (String::from("http://b:1/"), (Vec::new(), 3.0));
        // The run ends 2.5 s into pair 2: pair 0's slices are settled, pair 1's last answers
        // were still to come.
        let run = paired_run(&s, done, base, Duration::from_secs_f64(22.5), &series);
        let kept: Vec<(u32, Side, f64)> = run
            .slices
            .iter()
            .map(|s| (s.index, s.side, s.measured_s))
            .collect();
        assert_eq!(kept, [(0, Side::Base, 4.0), (1, Side::Change, 4.0)]);
        assert_eq!(
            run.slices[0].aggregate.requests, 0,
            "nothing measured in it"
        );
        assert!(!run.slices[0].starved);
        assert!(run.slices[1].starved, "{:?}", run.slices[1]);
        assert_eq!(run.slices[1].stall_ms, Some(38.0));
        assert_eq!(run.slices_dropped, 0);
        assert_eq!((run.slice_s, run.slice_warmup_s), (5.0, 1.0));
    }
}
