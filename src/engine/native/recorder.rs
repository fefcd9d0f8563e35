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
}

impl Recorder {
    pub(crate) fn new(
        worker: usize,
        endpoints: usize,
        start: Instant,
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
        }
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
        now.saturating_duration_since(self.start).as_secs() as u32
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
