//! Per-worker measurements. Each worker thread owns one recorder (no locks on the request path);
//! workers merge once at the end, and hand finished seconds to the shared series sink.

use std::{borrow::Cow, collections::HashMap, sync::Arc, time::Instant};

use super::paired::{Flight, PairedRec};
use crate::stats::{
    CookiesDropped, LatencyHistogram, Protocol, Received, SecondSample, SeriesSink, Side,
    MAX_REASONS, OTHER_REASONS, SERIES_SIGFIG,
};

pub(crate) type Reason = Cow<'static, str>;

#[derive(Debug)]
pub(crate) struct EndpointRec {
    pub(crate) histogram: LatencyHistogram,
    pub(crate) requests: u64,
    pub(crate) reasons: HashMap<Reason, u64>,
    pub(crate) received: Received,
    /// The protocols its requests went over: one small enum per request, never a string.
    pub(crate) protocol: Option<Protocol>,
}

impl EndpointRec {
    pub(crate) fn empty() -> EndpointRec {
        EndpointRec {
            histogram: LatencyHistogram::new(),
            requests: 0,
            reasons: HashMap::new(),
            received: Received::default(),
            protocol: None,
        }
    }
}

/// What a request got beside its latency and failure: its bodies' bytes (zero when none
/// arrived) and the protocol of the connections it went over (`None` when it reached none).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Answer {
    pub(crate) received: Received,
    pub(crate) protocol: Option<Protocol>,
}

#[derive(Debug)]
pub(crate) struct Recorder {
    worker: usize,
    start: Instant,
    pub(crate) endpoints: Vec<EndpointRec>,
    /// A paired run's base side, over the whole run (empty in an unpaired run, whose every
    /// request is the change's).
    pub(crate) base: Vec<EndpointRec>,
    /// A paired run's slices still open.
    pub(crate) paired: Option<PairedRec>,
    second: u32,
    second_requests: u64,
    second_failures: u64,
    second_histogram: LatencyHistogram,
    pub(crate) active_users: u32,
    /// Cookies this worker's users' jars dropped at their caps: the run's count, warm-up
    /// included (a drop is not a request).
    pub(crate) cookies_dropped: CookiesDropped,
    sink: Arc<SeriesSink>,
    /// Until then, requests count only in the time series (warm-up).
    warmup_until: Instant,
    /// The run's last second in the series: what ends after it (a request the run's end
    /// let finish) counts in it, the second the request was in flight at the end. The series
    /// is then as long as the measured run, and its seconds' requests add up to the rows'.
    last_second: u32,
}

impl Recorder {
    pub(crate) fn new(
        worker: usize,
        endpoints: usize,
        (start, run_time): (Instant, std::time::Duration),
        warmup: std::time::Duration,
        sink: Arc<SeriesSink>,
    ) -> Self {
        Self {
            worker,
            start,
            endpoints: (0..endpoints).map(|_| EndpointRec::empty()).collect(),
            base: Vec::new(),
            paired: None,
            second: 0,
            second_requests: 0,
            second_failures: 0,
            second_histogram: LatencyHistogram::with_sigfig(SERIES_SIGFIG),
            active_users: 0,
            cookies_dropped: CookiesDropped::default(),
            sink,
            warmup_until: start + warmup,
            last_second: second_holding(run_time),
        }
    }

    /// The run ends at `now` (before its time, when it was stopped): the series ends with
    /// the second that holds it.
    pub(crate) fn end(&mut self, now: Instant) {
        let at = now.saturating_duration_since(self.start);
        self.last_second = self.last_second.min(second_holding(at));
    }

    /// Makes this a paired run's recorder: the base's rows beside the change's, and the
    /// slice figures.
    pub(crate) fn pair(&mut self, paired: PairedRec) {
        self.base = (0..self.endpoints.len())
            .map(|_| EndpointRec::empty())
            .collect();
        self.paired = Some(paired);
    }

    /// Notes a request of `side` sent at `sent` as in flight in a paired run's slices until
    /// it is recorded with the [`Flight`] this returns (`Flight::NONE` in an unpaired run).
    pub(crate) fn sent(&mut self, side: Side, endpoint: usize, sent: Instant) -> Flight {
        match &mut self.paired {
            Some(p) => p.sent(side, endpoint, sent),
            None => Flight::NONE,
        }
    }

    /// Records one finished request of `side` (always the change in an unpaired run).
    /// `latency` is absent when no response could even be attempted (connection refused):
    /// such a failure says nothing about the server's speed. `flight` is what [`Self::sent`]
    /// gave for it (`Flight::NONE` for a request that never went out). `answer` is what its
    /// responses' bodies held and the protocol they came in.
    pub(crate) fn record(
        &mut self,
        side: Side,
        endpoint: usize,
        (latency_micros, sent, flight): (Option<u64>, Option<Instant>, Flight),
        failure: Option<Reason>,
        answer: Answer,
        now: Instant,
    ) {
        self.roll(now);
        self.second_requests += 1;
        if let Some(us) = latency_micros {
            self.second_histogram.record_micros(us);
        }
        if failure.is_some() {
            self.second_failures += 1;
        }
        if let Some(p) = &mut self.paired {
            if p.land(flight, now) {
                let timing = (latency_micros, sent);
                p.record(side, endpoint, timing, failure.is_some(), now);
            }
        }
        if now < self.warmup_until {
            return;
        }
        let e = match side {
            Side::Change => &mut self.endpoints[endpoint],
            Side::Base => &mut self.base[endpoint],
        };
        e.requests += 1;
        e.received += answer.received;
        e.protocol = Protocol::join(e.protocol, answer.protocol);
        if let Some(us) = latency_micros {
            e.histogram.record_micros(us);
        }
        if let Some(reason) = failure {
            // The cap of `stats::count_reason`, on this map's borrowed keys: a server that
            // answers each request with a new error text cannot grow memory without bound.
            let key = if e.reasons.len() < MAX_REASONS - 1 || e.reasons.contains_key(&reason) {
                reason
            } else {
                Cow::Borrowed(OTHER_REASONS)
            };
            *e.reasons.entry(key).or_default() += 1;
        }
    }

    fn second_of(&self, now: Instant) -> u32 {
        let t = now.saturating_duration_since(self.start).as_secs();
        u32::try_from(t).unwrap_or(u32::MAX).min(self.last_second)
    }

    /// Closes the current second if `now` is past it, handing it to the sink.
    pub(crate) fn roll(&mut self, now: Instant) {
        let sec = self.second_of(now);
        if sec > self.second {
            self.flush(sec);
        }
        if let Some(p) = &mut self.paired {
            p.roll(now);
        }
    }

    /// Hands over the current second and promises nothing below `watermark` follows.
    pub(crate) fn flush(&mut self, watermark: u32) {
        let mut samples = Vec::new();
        if self.second_requests > 0 || self.active_users > 0 {
            let histogram = std::mem::replace(
                &mut self.second_histogram,
                LatencyHistogram::with_sigfig(SERIES_SIGFIG),
            );
            samples.push(SecondSample {
                t: self.second,
                requests: self.second_requests,
                failures: self.second_failures,
                histogram,
                users: self.active_users,
            });
        }
        self.second_requests = 0;
        self.second_failures = 0;
        self.second = watermark.max(self.second);
        self.sink.submit(self.worker, samples, watermark);
    }
}

/// The second that holds the instant just before `t` from the start: the last second of a run
/// that lasted `t` (second 2 for 3 s, as for 2.5 s).
fn second_holding(t: std::time::Duration) -> u32 {
    let s = t.as_nanos().saturating_sub(1) / 1_000_000_000;
    u32::try_from(s).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::{
        sync::Arc,
        time::{Duration, Instant},
    };

    use super::{Answer, Recorder};
    use crate::stats::{SeriesSink, Side};

    /// Requests at `secs` from the start of a run of `run_s` seconds stopped at `end_s`, as
    /// the series' (second, requests).
    fn series(run_s: f64, end_s: Option<f64>, secs: &[f64]) -> Vec<(u32, u64)> {
        let sink = Arc::new(SeriesSink::new(1));
        let start = Instant::now();
        let at = |s: f64| start + Duration::from_secs_f64(s);
        let run = (start, Duration::from_secs_f64(run_s));
        let mut rec = Recorder::new(0, 1, run, Duration::ZERO, sink.clone());
        for &s in secs {
            if end_s.is_some_and(|e| e <= s) {
                rec.end(at(end_s.unwrap_or(s)));
            }
            let timing = (Some(1_000), Some(at(s)), super::Flight::NONE);
            rec.record(Side::Change, 0, timing, None, Answer::default(), at(s));
        }
        rec.flush(u32::MAX);
        drop(rec);
        let points = Arc::try_unwrap(sink).unwrap().finish();
        points.iter().map(|p| (p.t, p.requests)).collect()
    }

    /// A request the run's end let finish counts in the run's last second, never in a second
    /// past the run: the series is as long as the run, and holds every request of the rows.
    #[test]
    fn requests_answered_after_the_end_count_in_the_runs_last_second() {
        assert_eq!(
            series(3.0, None, &[0.5, 1.5, 2.5, 3.0, 4.9]),
            [(0, 1), (1, 1), (2, 3)]
        );
        assert_eq!(
            series(2.5, None, &[0.5, 2.2, 2.7]),
            [(0, 1), (1, 0), (2, 2)]
        );
    }

    /// A run stopped early (a referee's decision) ends its series with the second it stopped
    /// in, not at its planned length.
    #[test]
    fn a_run_stopped_early_ends_its_series_where_it_stopped() {
        assert_eq!(
            series(10.0, Some(1.2), &[0.5, 1.1, 1.8, 6.0]),
            [(0, 1), (1, 3)]
        );
    }
}
