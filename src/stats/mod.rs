//! The canonical result of a run, whatever engine produced it. Engines build a [`RunResult`];
//! the gate, the baseline comparison and every publisher read it; `results.json` is its
//! serialized form and the next pipeline's baseline, so its shape is versioned.

mod cookies;
mod engine;
mod entries;
mod fold;
mod generator;
mod histogram;
mod history;
mod host;
mod k6;
mod load;
mod merge;
mod names;
mod paired;
mod protocol;
mod reasons;
mod scrub;
mod sums;
mod target;
mod timeseries;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ci::CiContext;

pub use cookies::CookiesDropped;
pub use engine::Engine;
pub(crate) use entries::within_entry_caps;
pub use entries::{
    Entries, MAX_FILE_ENDPOINTS, MAX_FILE_FAILURE_REASONS, MAX_FILE_K6_RULES,
    MAX_FILE_SERIES_POINTS,
};
pub(crate) use fold::{cap_rows, fold_named, guard, split_busiest, Guarded};
pub use fold::{Folded, FoldedNames, MAX_LISTED_NAMES, OTHER_ENDPOINTS};
#[cfg(test)]
pub(crate) use generator::tests::{healthy as healthy_generator, starved as starved_generator};
pub use generator::{slice_stall, Excuse, GeneratorHealth, HiccupFigures, STALL_FLOOR_MS};
pub(crate) use histogram::{within_budget, MAX_MICROS};
pub use histogram::{LatencyHistogram, HISTOGRAM_BUDGET_BYTES};
pub use host::{HostFindingsError, HostInfo, MAX_FINDINGS_BYTES};
#[cfg(test)]
pub(crate) use k6::fixtures as k6_fixtures;
pub use k6::{
    K6Check, K6Threshold, K6Verdicts, MAX_K6_CHECKS, MAX_K6_GROUP_DEPTH, MAX_K6_THRESHOLDS,
};
#[cfg(test)]
pub(crate) use load::tests::fingerprint as load_fixture;
pub use load::LoadFingerprint;
pub(crate) use load::{
    compare_loads, is_engine_version, origin, sha256_hex, LoadMatch, MAX_TARGET_ID,
};
#[cfg(test)]
pub(crate) use merge::tests::shard as shard_fixture;
pub(crate) use merge::{lists_all_folds, merge_shards};
pub(crate) use names::{merge_same_names, merged_row, ByName};
#[cfg(test)]
pub(crate) use paired::tests::{run as paired_fixture, slice as slice_fixture};
pub use paired::{
    side_of, Bounds, PairedRun, Side, Slice, SliceMetric, SliceOrder, SliceStats, UntilDecisive,
    MAX_PAIRED_SLICES,
};
pub use protocol::Protocol;
pub(crate) use reasons::{cap_reasons, count_reason, MAX_REASONS, OTHER_REASONS};
pub(crate) use target::ci_values_in_host;

pub(crate) use history::{pass_on as pass_on_history, trim_to_size as trim_history};
pub use history::{HistoryEntry, MAX_HISTORY_BYTES};
pub use timeseries::{GeneratorSecond, SecondPoint, Totals};
pub(crate) use timeseries::{SecondSample, SeriesSink, SERIES_SIGFIG};

/// The value of [`RunResult::schema`] this version writes; bump it when the shape changes.
/// v2: a check's state is one `state` (with a `reason` when not judged), no longer v1's
/// `passed`, `not_comparable` and `inconclusive`; the verdict's `passed` became `outcome`.
pub(crate) const SCHEMA: &str = "loadforge-gate/results/v2";
/// The previous version, still read as a baseline and by `report` (its checks' booleans are
/// read into one state); a shard must be of this version's own.
pub(crate) const SCHEMA_V1: &str = "loadforge-gate/results/v1";

/// The name of the aggregate row (every request of the run together), in the file and in every
/// report, where a rule or a comparison without an endpoint names what it read.
pub const ALL_REQUESTS: &str = "all requests";

/// One measured run: the part of `results.json` an engine produces (the verdict, comparison and
/// notes are added around it when it is published). Its fields are the file's contract, whose
/// schema (`schema/results-v2.json`) is generated from these types.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RunResult {
    /// The version of this shape, `loadforge-gate/results/v2`, so a reader can refuse a file
    /// it does not understand.
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// Which loadforge-gate wrote the file.
    pub tool: ToolInfo,
    /// What was run, how and when.
    pub run: RunMeta,
    /// The GitLab job that ran it; absent outside GitLab CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiInfo>,
    /// Every request of the run together (named [`ALL_REQUESTS`]).
    pub aggregate: EndpointStats,
    /// One entry per request name: what thresholds with a selector and the per-endpoint
    /// comparison read.
    pub endpoints: Vec<EndpointStats>,
    /// Per-second counts and percentiles, warm-up included, for the charts; empty when the
    /// engine reports none.
    #[serde(default, deserialize_with = "series")]
    pub timeseries: Vec<SecondPoint>,
    /// A paired run (`--compare-host`): the base's rows and both sides' slices. The change's
    /// rows are `endpoints` above, so every reader of an unpaired run reads its change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedRun>,
}

/// The time series, each point counted against [`MAX_FILE_SERIES_POINTS`] as it is read.
fn series<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecondPoint>, D::Error> {
    entries::counted_seq(d, Entries::SeriesPoints)
}

/// The program that wrote a results file, for whoever reads it later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ToolInfo {
    /// The crate's name, `loadforge-gate`.
    pub name: String,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: String,
}

impl ToolInfo {
    pub(crate) fn current() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How load was applied. A closed model's latencies are understated when the server stalls
/// (users wait instead of arriving), so reports must say which model produced them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// A fixed number of users, each sending its next request when the previous one answered.
    Closed,
    /// Task iterations start on a fixed schedule (`--rate`), whether or not earlier ones have
    /// answered; latency counts from when each was due.
    Open,
}
crate::quote::word::words!(
    LoadModel,
    "load model",
    [LoadModel::Closed, LoadModel::Open]
);

/// What was run, how and when: the `run` object of results.json. Engines build it with
/// `RunMeta::new`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RunMeta {
    /// The engine that produced the result (`native`, `locust`, `loadforge`).
    pub engine: Engine,
    /// Closed (users wait for answers) or open (arrivals on a schedule).
    pub model: LoadModel,
    /// The scenario's or locustfile's name, or the cloud test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The host under load.
    pub target: String,
    /// Concurrent users.
    pub users: u32,
    /// Users started per second.
    #[schemars(range(min = 0))]
    pub spawn_rate: f64,
    /// RFC 3339, UTC.
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// The measured window in seconds (the warm-up excluded): rates are over it.
    #[schemars(range(min = 0))]
    pub duration_s: f64,
    /// Seconds at the start left out of the statistics.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub warmup_s: f64,
    /// Stopped early by SIGINT/SIGTERM.
    #[serde(default)]
    pub interrupted: bool,
    /// What was measured before the engine crashed, or the shards that arrived when some did
    /// not: published, judged, but never a default-branch history run. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// True when latencies were rounded by the engine (Locust keeps ~2 significant digits), so
    /// comparisons must allow one bucket of tolerance.
    #[serde(default)]
    pub quantised: bool,
    /// Set on a shard's result: which share of a larger run it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The run's page in a cloud service (LoadForge), for links in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_url: Option<String>,
    /// Open model: the target arrival rate (task iterations per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub rate: Option<f64>,
    /// Set when an abort-on-fail threshold stopped the run early: which, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// `--insecure`: the target's TLS certificate was not verified, so the run may not have
    /// measured the server it meant to. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// Set when the cardinality guard folded endpoints past `--max-endpoints` into one row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded: Option<Folded>,
    /// How quiet the host was, when the run was made under `loadforge-gate executor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
    /// How the load generator itself fared during the run (hiccups, CPU): measured by the
    /// native and Locust engines, absent for LoadForge's cloud generators and older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorHealth>,
    /// The load asked for, so a later run can tell whether it is comparable; absent in files
    /// written before fingerprints (their comparability cannot be checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadFingerprint>,
    /// Cookies the native engine's jars dropped at their caps, by cap (not failed requests).
    #[serde(default, skip_serializing_if = "CookiesDropped::is_empty")]
    pub cookies_dropped: CookiesDropped,
    /// What k6 itself said of the script's own thresholds and checks (`--engine k6` only):
    /// the gate judges each as a check of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k6: Option<K6Verdicts>,
    /// The HTTP version the native engine's connections to the target spoke (`http2`); absent
    /// for the other engines and for runs that opened no connection. Redirects to another
    /// origin are not counted: this is the target's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

impl RunMeta {
    /// A closed-model run of `engine` against `target` with `users` users started at
    /// `spawn_rate` per second, from `started_at` (see [`RunMeta::timestamp`]) for
    /// `duration_s` seconds. What a run seldom sets stays empty: no scenario name, warm-up,
    /// interruption, quantised latencies, shard, cloud page, arrival rate, abort or load
    /// fingerprint (the commands layer adds that: an engine knows only its share). Set those
    /// with struct update syntax: `RunMeta { interrupted, ..RunMeta::new(..) }`.
    pub(crate) fn new(
        engine: Engine,
        target: String,
        users: u32,
        spawn_rate: f64,
        started_at: String,
        duration_s: f64,
    ) -> RunMeta {
        RunMeta {
            engine,
            model: LoadModel::Closed,
            scenario: None,
            target,
            users,
            spawn_rate,
            started_at,
            duration_s,
            warmup_s: 0.0,
            interrupted: false,
            partial: false,
            quantised: false,
            shard: None,
            cloud_url: None,
            rate: None,
            aborted: None,
            tls_insecure: false,
            folded: None,
            host: None,
            generator: None,
            load: None,
            cookies_dropped: CookiesDropped::default(),
            k6: None,
            protocol: None,
        }
    }

    /// Why the run is not a whole run, if it is not: interrupted, stopped by an abort rule, or
    /// partial. Such a run is published and judged, but never joins the default branch's
    /// history, whose runs are the measure of normal.
    pub(crate) fn incomplete(&self) -> Option<&'static str> {
        if self.interrupted {
            Some("it was interrupted")
        } else if self.aborted.is_some() {
            Some("an abort rule stopped it early")
        } else if self.partial {
            Some("its results are partial")
        } else {
            None
        }
    }

    /// `t` as `started_at` records it: RFC 3339 in UTC, to the millisecond.
    pub(crate) fn timestamp(t: std::time::SystemTime) -> String {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

/// Shard `index` (1-based) of `count`, all sharing `run_id` (the pipeline, by default).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ShardInfo {
    /// Which shard this is, from 1.
    #[schemars(range(min = 1))]
    pub index: u32,
    /// How many shards the run has in all.
    #[schemars(range(min = 1))]
    pub count: u32,
    /// What the shards of one run share, so `merge` does not mix runs.
    pub run_id: String,
    /// The names this shard folded into `(other endpoints)`: in shard files only (a run's
    /// results.json has no `shard`), so `merge` folds each of them in every shard.
    #[serde(default, skip_serializing_if = "FoldedNames::is_empty")]
    pub folded_names: FoldedNames,
}

/// Where the run happened, for links in reports and for naming the commit a baseline came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CiInfo {
    /// The commit under test (`CI_COMMIT_SHA`), shown beside a baseline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// The branch or tag (`CI_COMMIT_REF_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    /// The pipeline (`CI_PIPELINE_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    /// The pipeline's page (`CI_PIPELINE_URL`), linked from reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_url: Option<String>,
    /// The job (`CI_JOB_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's name (`CI_JOB_NAME`), the link text for the job's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// The job's page (`CI_JOB_URL`), linked from reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_url: Option<String>,
    /// The merge request of a merge-request pipeline (`CI_MERGE_REQUEST_IID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_request_iid: Option<String>,
}

impl CiInfo {
    /// What `results.json` records about where the run happened (never the token).
    pub(crate) fn from_context(ci: &CiContext) -> Option<CiInfo> {
        if !ci.gitlab {
            return None;
        }
        Some(CiInfo {
            commit_sha: ci.commit_sha.clone(),
            ref_name: ci.ref_name.clone(),
            pipeline_id: ci.pipeline_id.clone(),
            pipeline_url: ci.pipeline_url.clone(),
            job_id: ci.job_id.clone(),
            job_name: ci.job_name.clone(),
            job_url: ci.job_url.clone(),
            merge_request_iid: ci.merge_request_iid.clone(),
        })
    }
}

/// Latency figures in milliseconds. Each is optional: an engine that cannot supply one (the
/// LoadForge API gives only an average) leaves it absent rather than zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LatencySummary {
    /// The fastest request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min: Option<f64>,
    /// The mean: the only figure some cloud APIs give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub avg: Option<f64>,
    /// The median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p50: Option<f64>,
    /// 90th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p90: Option<f64>,
    /// 95th percentile, what the built-in regression rule compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p95: Option<f64>,
    /// 99th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p99: Option<f64>,
    /// 99.9th percentile, written `p99.9` in the file.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "p99.9")]
    #[schemars(range(min = 0))]
    pub p99_9: Option<f64>,
    /// The slowest request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max: Option<f64>,
}

impl LatencySummary {
    /// A bucketed percentile can round past the exact fastest or slowest request: each is
    /// kept between them (from 0 when the fastest is unknown). Nothing changes when the
    /// slowest is unknown or the extremes make no range (a foreign file's minimum above its
    /// maximum).
    pub(crate) fn keep_within_extremes(&mut self) {
        let Some(hi) = self.max else {
            return;
        };
        let lo = self.min.unwrap_or(0.0);
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return;
        }
        for p in [
            &mut self.p50,
            &mut self.p90,
            &mut self.p95,
            &mut self.p99,
            &mut self.p99_9,
        ]
        .into_iter()
        .flatten()
        {
            *p = p.clamp(lo, hi);
        }
    }

    /// Every figure read from one histogram, so they cannot disagree with each other.
    pub(crate) fn from_histogram(h: &LatencyHistogram) -> Self {
        Self {
            min: h.min_ms(),
            avg: h.mean_ms(),
            p50: h.percentile_ms(50.0),
            p90: h.percentile_ms(90.0),
            p95: h.percentile_ms(95.0),
            p99: h.percentile_ms(99.0),
            p99_9: h.percentile_ms(99.9),
            max: h.max_ms(),
        }
    }
}

/// The figures of one endpoint, or of every request together (the aggregate): an entry of
/// `endpoints` in results.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(try_from = "EndpointWire", into = "EndpointWire")]
pub struct EndpointStats {
    /// The request name, which by convention carries the method (`GET /dashboard`): what
    /// threshold selectors match and the comparison pairs endpoints by.
    pub name: String,
    /// The HTTP method, when the engine reports it apart from the name.
    pub method: Option<String>,
    /// Requests measured (the warm-up excluded).
    pub requests: u64,
    /// Requests that failed: an error status, a failed check, a timeout or a broken connection.
    pub failures: u64,
    /// Requests per second over the measured window ([`RunMeta::duration_s`]).
    pub rps: f64,
    /// Failed requests as a percentage of all requests (0 when there were none).
    pub error_rate: f64,
    /// Latency figures in milliseconds.
    pub latency_ms: LatencySummary,
    /// Failures counted by reason (`HTTP 503`, a timeout, a failed check), so a report can say
    /// why and not only how many.
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Every latency, so shards merge and baselines compare exactly; absent when the engine
    /// gives only summary figures.
    pub histogram: Option<LatencyHistogram>,
    /// False when the engine gave no request counts (a cloud API that reports only averages
    /// and an error rate): `requests`, `failures` and `rps` are then unknown, and they are left
    /// out of results.json rather than written as zeros.
    pub counts_reported: bool,
    /// Response body bytes received, when the engine counts them.
    pub received: Option<Received>,
    /// The HTTP version its requests spoke, redirects to other origins included; `None` when
    /// the engine cannot tell (Locust, LoadForge) or no request reached a connection.
    pub protocol: Option<Protocol>,
}

/// Response body bytes, as they crossed the wire and once decoded (`Content-Encoding` undone;
/// equal when nothing was compressed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// Bytes on the wire.
    pub wire: u64,
    /// Bytes after decoding.
    pub decoded: u64,
}

impl Received {
    /// The sum of the parts that were counted; `None` when none was.
    pub(crate) fn total(parts: impl IntoIterator<Item = Option<Received>>) -> Option<Received> {
        parts.into_iter().flatten().fold(None, |sum, r| {
            let mut total = sum.unwrap_or_default();
            total += r;
            Some(total)
        })
    }
}

impl std::ops::AddAssign for Received {
    fn add_assign(&mut self, o: Received) {
        self.wire = self.wire.saturating_add(o.wire);
        self.decoded = self.decoded.saturating_add(o.decoded);
    }
}

/// The on-disk form of [`EndpointStats`]: counts are optional there.
// Its fields' doc comments are the schema's descriptions of an endpoint's fields.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct EndpointWire {
    /// The request name (`GET /dashboard`), or `all requests` for the aggregate.
    name: String,
    /// The HTTP method, when the engine reports it apart from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// Requests measured (the warm-up excluded); absent when the engine reported no counts
    /// (the LoadForge API may give only an average and an error rate), as are `failures` and
    /// `rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requests: Option<u64>,
    /// Requests that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failures: Option<u64>,
    /// Requests per second over the measured window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    rps: Option<f64>,
    /// Percent of requests that failed.
    #[schemars(range(min = 0, max = 100))]
    error_rate: f64,
    /// Latency figures in milliseconds, each absent when the engine gave none.
    latency_ms: LatencySummary,
    /// Failures counted by reason (`HTTP 503`, a timeout, a failed check).
    #[serde(default, deserialize_with = "entries::reasons")]
    failures_by_reason: BTreeMap<String, u64>,
    /// Every latency; absent when the engine gives only summary figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    histogram: Option<LatencyHistogram>,
    /// Response body bytes on the wire (the native engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes_received: Option<u64>,
    /// The same bodies with their Content-Encoding undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes_received_decoded: Option<u64>,
    /// The HTTP version the requests spoke (the native engine, and k6 from its `proto` tag):
    /// `mixed` when some went over HTTP/2 and others over HTTP/1.1 (a redirect from an HTTP/2
    /// target to an HTTP/1.1 origin, or `http2: auto` against servers that disagree). Absent
    /// when the engine cannot tell (Locust, LoadForge) or no request reached a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<Protocol>,
}

impl EndpointWire {
    fn into_stats(self) -> EndpointStats {
        let w = self;
        EndpointStats {
            counts_reported: w.requests.is_some(),
            name: w.name,
            method: w.method,
            requests: w.requests.unwrap_or(0),
            failures: w.failures.unwrap_or(0),
            rps: w.rps.unwrap_or(0.0),
            error_rate: w.error_rate,
            latency_ms: w.latency_ms,
            failures_by_reason: w.failures_by_reason,
            histogram: w.histogram,
            received: w.bytes_received.map(|wire| Received {
                wire,
                decoded: w.bytes_received_decoded.unwrap_or(wire),
            }),
            protocol: w.protocol,
        }
    }
}

/// A row read back is counted against [`MAX_FILE_ENDPOINTS`].
impl TryFrom<EndpointWire> for EndpointStats {
    type Error = String;
    fn try_from(w: EndpointWire) -> Result<Self, String> {
        entries::count(Entries::Endpoints)?;
        Ok(w.into_stats())
    }
}

impl From<EndpointStats> for EndpointWire {
    fn from(e: EndpointStats) -> Self {
        let known = e.counts_reported;
        Self {
            name: e.name,
            method: e.method,
            requests: known.then_some(e.requests),
            failures: known.then_some(e.failures),
            rps: known.then_some(e.rps),
            error_rate: e.error_rate,
            latency_ms: e.latency_ms,
            failures_by_reason: e.failures_by_reason,
            histogram: e.histogram,
            bytes_received: e.received.map(|r| r.wire),
            bytes_received_decoded: e.received.map(|r| r.decoded),
            protocol: e.protocol,
        }
    }
}

impl EndpointStats {
    /// Builds the stats of one endpoint from its raw counters; every derived figure (rates,
    /// percentiles) is computed here, once, so publishers never disagree.
    pub(crate) fn from_counts(
        name: String,
        method: Option<String>,
        histogram: LatencyHistogram,
        requests: u64,
        failures_by_reason: BTreeMap<String, u64>,
        duration_s: f64,
    ) -> Self {
        let failures = failures_by_reason
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n));
        Self {
            name,
            method,
            requests,
            failures,
            rps: rate(requests, duration_s),
            error_rate: percent(failures, requests),
            latency_ms: LatencySummary::from_histogram(&histogram),
            failures_by_reason,
            histogram: Some(histogram),
            counts_reported: true,
            received: None,
            protocol: None,
        }
    }

    /// The aggregate of several endpoints: counts and histograms add exactly ([`sums::Sums`],
    /// as for one name's rows), and every figure is read from the sums.
    pub(crate) fn aggregate<'a>(
        name: &str,
        parts: impl IntoIterator<Item = &'a EndpointStats>,
        duration_s: f64,
    ) -> Self {
        let sums = sums::Sums::of(parts);
        let row = Self::from_counts(
            name.into(),
            None,
            sums.histogram,
            sums.requests,
            sums.failures_by_reason,
            duration_s,
        );
        // The parts' own failure counts, not only those given a reason: LoadForge reports no
        // reasons, and a failure without one is still a failure of the whole.
        let failures = row.failures.max(sums.failures);
        Self {
            received: sums.received,
            protocol: sums.protocol,
            failures,
            error_rate: percent(failures, row.requests),
            ..row
        }
    }

    /// `(requests, failures, rps)` when the engine reported them.
    pub(crate) fn counts(&self) -> Option<(u64, u64, f64)> {
        self.counts_reported
            .then_some((self.requests, self.failures, self.rps))
    }
}

/// `count` per second over `duration_s` (0 for an empty window).
pub(crate) fn rate(count: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        count as f64 / duration_s
    } else {
        0.0
    }
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl RunResult {
    pub(crate) fn endpoint(&self, name: &str) -> Option<&EndpointStats> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// A finished native run over `endpoints`, for the tests of everything that reads results;
/// callers adjust the fields their case is about.
#[cfg(test)]
pub(crate) fn fixture(endpoints: Vec<EndpointStats>, duration_s: f64) -> RunResult {
    RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: RunMeta::new(
            Engine::Native,
            "http://x/".into(),
            1,
            1.0,
            "2026-01-01T00:00:00Z".into(),
            duration_s,
        ),
        ci: None,
        aggregate: EndpointStats::aggregate(ALL_REQUESTS, &endpoints, duration_s),
        endpoints,
        timeseries: vec![],
        paired: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_leaves_what_it_seldom_sets_empty() {
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        let meta = RunMeta::new(
            Engine::Locust,
            "http://h".into(),
            3,
            1.5,
            RunMeta::timestamp(started),
            9.0,
        );
        assert_eq!(meta.started_at, "1970-01-01T00:00:01.500Z");
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "engine": "locust", "model": "closed", "target": "http://h", "users": 3,
                "spawn_rate": 1.5, "started_at": "1970-01-01T00:00:01.500Z", "duration_s": 9.0,
                "warmup_s": 0.0, "interrupted": false, "quantised": false,
            })
        );
    }

    /// results.json is read back (re-publishing, baselines, merges): a float must come back as the
    /// same float, which needs serde_json's exact (`float_roundtrip`) parser.
    #[test]
    fn floats_survive_a_json_round_trip_exactly() {
        for v in [
            0.9586666666666667f64,
            1.2586666666666666,
            0.1 + 0.2,
            1e-7 / 3.0,
            123456.789012345,
        ] {
            let text = serde_json::to_string(&v).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{text}");
        }
    }
}
