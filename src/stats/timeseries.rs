//! The per-second time series. Workers keep only the current second locally and hand it to a
//! shared [`SeriesSink`], which merges the seconds of all workers and reduces each to a few
//! numbers once every worker has moved past it. Memory is therefore bounded by the run's length
//! in seconds, never by the number of requests.

use std::{collections::BTreeMap, sync::Mutex};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LatencyHistogram;

/// One second of a run, reduced to what the charts draw: an entry of `timeseries` in
/// results.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SecondPoint {
    /// Seconds since the start of the run.
    pub t: u32,
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of those, the ones that failed.
    pub failures: u64,
    /// Median latency in milliseconds; absent when nothing finished or the engine gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p50_ms: Option<f64>,
    /// 95th percentile in milliseconds; absent when nothing finished or the engine gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p95_ms: Option<f64>,
    /// 99th percentile in milliseconds; absent when nothing finished or the engine gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p99_ms: Option<f64>,
    /// Virtual users running in that second.
    pub users: u32,
    /// The load generator's health in that second (see `run.generator`); absent when it was
    /// not measured.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorSecond>,
}

impl SecondPoint {
    /// Second `t` with nothing in it yet.
    pub(crate) fn empty(t: u32) -> SecondPoint {
        SecondPoint {
            t,
            requests: 0,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            users: 0,
            generator: None,
        }
    }
}

/// One second of the load generator's health, beside the second's requests in `timeseries`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GeneratorSecond {
    /// The worst hiccup of the runtime meter (or, for Locust, the thread meter) in that
    /// second, in milliseconds.
    #[schemars(range(min = 0))]
    pub hiccup_max_ms: f64,
    /// The generator's own CPU in that second, percent of one core.
    #[schemars(range(min = 0))]
    pub gen_cpu_pct: f64,
    /// CPU steal in that second, percent of all CPU time.
    #[schemars(range(min = 0))]
    pub steal_pct: f64,
    /// The generator's load threads' run-queue delay in that second, in milliseconds (see
    /// `GeneratorHealth::run_queue_ms`); absent in files from before and where the kernel
    /// keeps no schedstats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub run_queue_ms: Option<f64>,
}

/// One worker's share of one second.
#[derive(Debug)]
pub(crate) struct SecondSample {
    pub(crate) t: u32,
    pub(crate) requests: u64,
    pub(crate) failures: u64,
    pub(crate) histogram: LatencyHistogram,
    pub(crate) users: u32,
}

/// Time-series buckets are coarse on purpose: two significant digits is plenty for a chart and
/// keeps each in-flight second small.
pub(crate) const SERIES_SIGFIG: u8 = 2;

#[derive(Debug)]
struct Pending {
    requests: u64,
    failures: u64,
    histogram: LatencyHistogram,
    users: u32,
}

#[derive(Debug)]
struct SinkState {
    /// Per worker: every second below this one has been handed over.
    watermarks: Vec<u32>,
    pending: BTreeMap<u32, Pending>,
    points: Vec<SecondPoint>,
    /// Everything finished so far, for live decisions (abort-on-fail): coarse, but whole.
    so_far: Totals,
}

/// Running totals over all finished seconds: what an engine's `Watchdog` judges while the run
/// is under way.
#[derive(Debug, Clone)]
pub struct Totals {
    pub(crate) requests: u64,
    pub(crate) failures: u64,
    pub(crate) histogram: LatencyHistogram,
    /// Seconds covered.
    pub(crate) seconds: u32,
}

#[derive(Debug)]
pub(crate) struct SeriesSink {
    state: Mutex<SinkState>,
}

impl SeriesSink {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            state: Mutex::new(SinkState {
                watermarks: vec![0; workers],
                pending: BTreeMap::new(),
                points: Vec::new(),
                so_far: Totals {
                    requests: 0,
                    failures: 0,
                    histogram: LatencyHistogram::with_sigfig(SERIES_SIGFIG),
                    seconds: 0,
                },
            }),
        }
    }

    /// Hands over a worker's finished seconds and declares that it will send nothing below
    /// `watermark` any more.
    pub(crate) fn submit(&self, worker: usize, samples: Vec<SecondSample>, watermark: u32) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for s in samples {
            let p = st.pending.entry(s.t).or_insert_with(|| Pending {
                requests: 0,
                failures: 0,
                histogram: LatencyHistogram::with_sigfig(SERIES_SIGFIG),
                users: 0,
            });
            p.requests += s.requests;
            p.failures += s.failures;
            p.histogram.add(&s.histogram);
            p.users += s.users;
        }
        st.watermarks[worker] = st.watermarks[worker].max(watermark);
        let done_below = st.watermarks.iter().copied().min().unwrap_or(0);
        let ready: Vec<u32> = st.pending.range(..done_below).map(|(t, _)| *t).collect();
        for t in ready {
            if let Some(p) = st.pending.remove(&t) {
                st.so_far.requests += p.requests;
                st.so_far.failures += p.failures;
                st.so_far.histogram.add(&p.histogram);
                st.so_far.seconds = t + 1;
                st.points.push(SecondPoint {
                    t,
                    requests: p.requests,
                    failures: p.failures,
                    p50_ms: p.histogram.percentile_ms(50.0),
                    p95_ms: p.histogram.percentile_ms(95.0),
                    p99_ms: p.histogram.percentile_ms(99.0),
                    users: p.users,
                    generator: None,
                });
            }
        }
    }

    /// The most recent finished second, for live progress lines.
    pub(crate) fn latest(&self) -> Option<SecondPoint> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.points.last().cloned()
    }

    /// Totals over every finished second.
    pub(crate) fn totals(&self) -> Totals {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.so_far.clone()
    }

    /// All finished seconds, with gaps (seconds in which nothing completed) filled with zeros so
    /// charts and shard merges align by index.
    pub(crate) fn finish(self) -> Vec<SecondPoint> {
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<SecondPoint> = Vec::with_capacity(st.points.len());
        for p in st.points {
            while let Some(last) = out.last() {
                if last.t + 1 >= p.t {
                    break;
                }
                let t = last.t + 1;
                let users = last.users;
                out.push(SecondPoint {
                    t,
                    requests: 0,
                    failures: 0,
                    p50_ms: None,
                    p95_ms: None,
                    p99_ms: None,
                    users,
                    generator: None,
                });
            }
            out.push(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: u32, requests: u64, micros: u64) -> SecondSample {
        let mut h = LatencyHistogram::with_sigfig(SERIES_SIGFIG);
        for _ in 0..requests {
            h.record_micros(micros);
        }
        SecondSample {
            t,
            requests,
            failures: 0,
            histogram: h,
            users: 1,
        }
    }

    #[test]
    fn a_second_is_final_only_when_every_worker_moved_past_it() {
        let sink = SeriesSink::new(2);
        sink.submit(0, vec![sample(0, 5, 1000)], 1);
        assert!(
            sink.latest().is_none(),
            "worker 1 has not reported second 0"
        );
        sink.submit(1, vec![sample(0, 3, 3000)], 1);
        let p = sink.latest().unwrap();
        assert_eq!((p.t, p.requests, p.users), (0, 8, 2));
        assert!(p.p95_ms.unwrap() > 2.9);
    }

    #[test]
    fn gaps_are_filled_with_empty_seconds() {
        let sink = SeriesSink::new(1);
        sink.submit(0, vec![sample(0, 1, 10), sample(3, 1, 10)], u32::MAX);
        let points = sink.finish();
        assert_eq!(points.iter().map(|p| p.t).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(points[1].requests, 0);
    }

    #[test]
    fn a_seconds_generator_figures_sit_beside_its_requests_and_may_be_absent() {
        let mut p = SecondPoint {
            t: 1,
            requests: 2,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            users: 1,
            generator: None,
        };
        let plain = serde_json::to_value(&p).unwrap();
        assert_eq!(plain.as_object().unwrap().len(), 4, "{plain}");
        assert_eq!(serde_json::from_value::<SecondPoint>(plain).unwrap(), p);
        p.generator = Some(GeneratorSecond {
            hiccup_max_ms: 12.5,
            gen_cpu_pct: 98.0,
            steal_pct: 0.5,
            run_queue_ms: None,
        });
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["hiccup_max_ms"], 12.5);
        assert!(json.get("run_queue_ms").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<SecondPoint>(json).unwrap(), p);
        p.generator.as_mut().unwrap().run_queue_ms = Some(3.25);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["run_queue_ms"], 3.25);
        assert_eq!(serde_json::from_value::<SecondPoint>(json).unwrap(), p);
    }
}
