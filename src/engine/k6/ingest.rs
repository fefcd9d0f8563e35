//! k6's samples, as they stream in, counted into the gate's per-endpoint histograms: every
//! request k6 made lands in exactly one row, so percentiles are the gate's own (exact to the
//! histogram's precision), not k6's summary. Memory is bounded by configuration: at most
//! `--max-endpoints` rows with a histogram (names past the cap are counted in one
//! `(other endpoints)` row as they first appear, since a stream cannot be read twice), lines
//! up to [`MAX_LINE_BYTES`], a few seconds of the time series in flight, one entry per
//! virtual user.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::BufRead,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::SystemTime,
};

use super::line::{self, Bad, Line, Request};
use crate::{
    engine::locust::endpoint_name,
    stats::{
        EndpointStats, Folded, LatencyHistogram, Protocol, SecondPoint, MAX_LISTED_NAMES,
        OTHER_ENDPOINTS, SERIES_SIGFIG,
    },
};

/// The longest line read; a longer one is skipped whole (k6's lines are under a kilobyte, but
/// a script's tags can make them longer).
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;
/// Seconds a point may arrive late and still count in its second of the time series: k6's
/// output flushes its buffer about once a second.
const LATE_SECONDS: u32 = 3;
/// The most virtual users whose last request is remembered (to tie a failed check to it).
const MAX_TRACKED_VUS: usize = 1_000_000;
/// The most distinct check names counted.
const MAX_CHECK_NAMES: usize = 1000;
/// The row of the iterations k6 dropped (`dropped_iterations`): load that was asked for and
/// not applied. Each is a failure without a latency, as a request that could not connect is
/// in the native engine, so the error rate judges it: in the open model a server too slow for
/// the pool of users makes k6 drop iterations where the native engine would start them late
/// and count the wait; a gate that read only the requests made would see a fine latency.
pub(crate) const DROPPED_ITERATIONS: &str = "(dropped iterations)";
/// Why a dropped iteration failed.
const DROPPED_REASON: &str =
    "iteration dropped by k6: no free virtual user, or the scenario's time ran out";

/// Counts the reader shares with the supervisor, for progress lines.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
}

/// One endpoint's counters.
#[derive(Debug)]
struct Row {
    name: String,
    method: String,
    histogram: LatencyHistogram,
    requests: u64,
    by_reason: BTreeMap<String, u64>,
    protocol: Option<Protocol>,
}

impl Row {
    fn new(name: String, method: String) -> Row {
        Row {
            name,
            method,
            histogram: LatencyHistogram::new(),
            requests: 0,
            by_reason: BTreeMap::new(),
            protocol: None,
        }
    }
}

/// Where a virtual user's last request was counted, and whether it already failed.
#[derive(Debug, Clone, Copy)]
struct LastRequest {
    row: Option<usize>,
    second: Option<u32>,
    failed: bool,
}

/// One second of the time series, until it can no longer receive points.
#[derive(Debug)]
struct Second {
    requests: u64,
    failures: u64,
    histogram: LatencyHistogram,
    users: u32,
}

/// A check's outcomes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckCounts {
    pub(crate) passes: u64,
    pub(crate) fails: u64,
}

/// Lines that were skipped, by why.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) too_long: u64,
    pub(crate) malformed: u64,
    pub(crate) bad_value: u64,
}

/// Everything read from k6's stream so far.
#[derive(Debug)]
pub(crate) struct Ingest {
    start: SystemTime,
    /// The target's origin, taken off the front of names that are whole URLs.
    host: String,
    cap: usize,
    rows: Vec<Row>,
    at: HashMap<String, usize>,
    other: Row,
    dropped: Row,
    folded: HashSet<String>,
    vus: HashMap<u64, LastRequest>,
    pending: BTreeMap<u32, Second>,
    points: Vec<SecondPoint>,
    latest_second: u32,
    users: u32,
    max_users: u32,
    pub(crate) checks: BTreeMap<String, CheckCounts>,
    /// Failed checks of a user whose request could not be found (no `vu` tag).
    pub(crate) unattributed_check_failures: u64,
    pub(crate) skipped: Skipped,
    live: Arc<Live>,
}

impl Ingest {
    /// Nothing read yet: seconds count from `start`; names that begin with `host` lose it.
    pub(crate) fn new(start: SystemTime, host: &str, cap: usize, live: Arc<Live>) -> Ingest {
        Ingest {
            start,
            host: host.trim_end_matches('/').to_string(),
            cap,
            rows: Vec::new(),
            at: HashMap::new(),
            other: Row::new(OTHER_ENDPOINTS.into(), String::new()),
            dropped: Row::new(DROPPED_ITERATIONS.into(), String::new()),
            folded: HashSet::new(),
            vus: HashMap::new(),
            pending: BTreeMap::new(),
            points: Vec::new(),
            latest_second: 0,
            users: 0,
            max_users: 0,
            checks: BTreeMap::new(),
            unattributed_check_failures: 0,
            skipped: Skipped::default(),
            live,
        }
    }

    /// Reads `input` to its end (k6 closing its output), line by line.
    pub(crate) fn read_all(&mut self, input: &mut impl BufRead) {
        let mut buf = Vec::with_capacity(1024);
        loop {
            match read_line_capped(input, &mut buf, MAX_LINE_BYTES) {
                Ok(Some(true)) => self.line(&buf),
                Ok(Some(false)) => self.skipped.too_long += 1,
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Counts one line.
    pub(crate) fn line(&mut self, text: &[u8]) {
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            return;
        }
        match line::parse(text) {
            Ok(Line::Request(r)) => self.request(r),
            Ok(Line::Check {
                name,
                passed,
                vu,
                at: _,
            }) => self.check(name, passed, vu),
            Ok(Line::Vus { value, at }) => {
                self.users = value;
                self.max_users = self.max_users.max(value);
                let t = self.second_of(at);
                if let Some(s) = self.open_second(t) {
                    s.users = s.users.max(value);
                }
            }
            Ok(Line::Dropped { count, at }) => self.dropped(count, at),
            Ok(Line::Ignored) => {}
            Err(Bad::Malformed) => self.skipped.malformed += 1,
            Err(Bad::BadValue) => self.skipped.bad_value += 1,
        }
    }

    fn request(&mut self, r: Request) {
        let name = self.endpoint(&r);
        let row = self.row_for(name, &r.method);
        let slot = match row {
            Some(i) => &mut self.rows[i],
            None => &mut self.other,
        };
        slot.requests += 1;
        slot.histogram.record_micros(r.micros);
        slot.protocol = Protocol::join(slot.protocol, r.protocol);
        let failed = r.failure.is_some();
        if let Some(reason) = r.failure {
            crate::stats::count_reason(&mut slot.by_reason, reason, 1);
        }
        self.live.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.live.failures.fetch_add(1, Ordering::Relaxed);
        }
        let t = self.second_of(r.at);
        let second = self.open_second(t).map(|s| {
            s.requests += 1;
            s.failures += u64::from(failed);
            s.histogram.record_micros(r.micros);
            t
        });
        if let Some(vu) = r.vu {
            if self.vus.len() < MAX_TRACKED_VUS || self.vus.contains_key(&vu) {
                self.vus.insert(
                    vu,
                    LastRequest {
                        row,
                        second,
                        failed,
                    },
                );
            }
        }
    }

    /// `count` iterations k6 dropped, each a failure in its own row.
    fn dropped(&mut self, count: u64, at: SystemTime) {
        let row = &mut self.dropped;
        row.requests = row.requests.saturating_add(count);
        let n = row.by_reason.entry(DROPPED_REASON.into()).or_default();
        *n = n.saturating_add(count);
        self.live.failures.fetch_add(count, Ordering::Relaxed);
        let t = self.second_of(at);
        if let Some(s) = self.open_second(t) {
            s.requests = s.requests.saturating_add(count);
            s.failures = s.failures.saturating_add(count);
        }
    }

    /// A failed check fails the request its user made last, once: a request that failed
    /// already (an error status) is not failed twice, so the error rate stays a share of
    /// requests.
    fn check(&mut self, name: String, passed: bool, vu: Option<u64>) {
        let counts = if self.checks.len() < MAX_CHECK_NAMES || self.checks.contains_key(&name) {
            Some(self.checks.entry(name.clone()).or_default())
        } else {
            None
        };
        if let Some(c) = counts {
            if passed {
                c.passes += 1;
            } else {
                c.fails += 1;
            }
        }
        if passed {
            return;
        }
        let Some(last) = vu.and_then(|v| self.vus.get_mut(&v)) else {
            self.unattributed_check_failures += 1;
            return;
        };
        if last.failed {
            return;
        }
        last.failed = true;
        let (row, second) = (last.row, last.second);
        let slot = match row {
            Some(i) => &mut self.rows[i],
            None => &mut self.other,
        };
        *slot
            .by_reason
            .entry(format!("check failed: {name}"))
            .or_default() += 1;
        self.live.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = second.and_then(|t| self.pending.get_mut(&t)) {
            s.failures += 1;
        }
    }

    /// The gate's name of a request: the method and k6's `name` tag, the target's origin
    /// taken off a name that is a whole URL (k6's default `name` is the URL).
    fn endpoint(&self, r: &Request) -> String {
        let name = match r.name.strip_prefix(&self.host) {
            Some(rest)
                if !self.host.is_empty() && (rest.is_empty() || rest.starts_with(['/', '?'])) =>
            {
                if rest.is_empty() {
                    "/"
                } else {
                    rest
                }
            }
            _ => r.name.as_str(),
        };
        endpoint_name(&r.method, name)
    }

    /// The row of `name`, made when there is room under the cap; `None` is `(other endpoints)`.
    fn row_for(&mut self, name: String, method: &str) -> Option<usize> {
        if let Some(&i) = self.at.get(&name) {
            return Some(i);
        }
        if self.rows.len() < self.cap && name != OTHER_ENDPOINTS {
            self.at.insert(name.clone(), self.rows.len());
            self.rows.push(Row::new(name, method.to_string()));
            return Some(self.rows.len() - 1);
        }
        if self.folded.len() < MAX_LISTED_NAMES {
            self.folded.insert(name);
        }
        None
    }

    fn second_of(&self, at: SystemTime) -> u32 {
        at.duration_since(self.start)
            .map_or(0, |d| d.as_secs().min(u32::MAX as u64) as u32)
    }

    /// The second `t` of the time series, unless it closed already; seconds that can no
    /// longer receive points close as later ones open.
    fn open_second(&mut self, t: u32) -> Option<&mut Second> {
        if t > self.latest_second {
            self.latest_second = t;
            self.close_before(t.saturating_sub(LATE_SECONDS));
        }
        if t + LATE_SECONDS < self.latest_second {
            return None;
        }
        let users = self.users;
        Some(self.pending.entry(t).or_insert_with(|| Second {
            requests: 0,
            failures: 0,
            histogram: LatencyHistogram::with_sigfig(SERIES_SIGFIG),
            users,
        }))
    }

    fn close_before(&mut self, t: u32) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= t {
                break;
            }
            let (t, s) = entry.remove_entry();
            self.points.push(SecondPoint {
                t,
                requests: s.requests,
                failures: s.failures,
                p50_ms: s.histogram.percentile_ms(50.0),
                p95_ms: s.histogram.percentile_ms(95.0),
                p99_ms: s.histogram.percentile_ms(99.0),
                users: s.users,
                generator: None,
            });
        }
    }

    /// The most virtual users k6 said were running at once.
    pub(crate) fn max_users(&self) -> u32 {
        self.max_users
    }

    /// The endpoint rows over `duration_s`, what the cap folded, and the time series (gaps
    /// filled with empty seconds).
    pub(crate) fn finish(
        mut self,
        duration_s: f64,
    ) -> (Vec<EndpointStats>, Option<Folded>, Vec<SecondPoint>) {
        self.close_before(u32::MAX);
        let row = |r: Row| EndpointStats {
            protocol: r.protocol,
            ..EndpointStats::from_counts(
                r.name,
                (!r.method.is_empty()).then_some(r.method),
                r.histogram,
                r.requests,
                r.by_reason,
                duration_s,
            )
        };
        let mut endpoints: Vec<EndpointStats> = self.rows.into_iter().map(row).collect();
        let folded = (!self.folded.is_empty()).then(|| {
            let mut names: Vec<String> = self.folded.into_iter().collect();
            names.sort();
            Folded::of_names(self.cap, names)
        });
        if self.other.requests > 0 {
            endpoints.push(row(self.other));
        }
        if self.dropped.requests > 0 {
            endpoints.push(row(self.dropped));
        }
        (endpoints, folded, fill_gaps(self.points))
    }
}

/// Seconds in which nothing finished, as empty points, so charts align by index.
fn fill_gaps(points: Vec<SecondPoint>) -> Vec<SecondPoint> {
    let mut out: Vec<SecondPoint> = Vec::with_capacity(points.len());
    for p in points {
        while let Some(last) = out.last() {
            if last.t + 1 >= p.t {
                break;
            }
            let gap = SecondPoint {
                t: last.t + 1,
                requests: 0,
                failures: 0,
                p50_ms: None,
                p95_ms: None,
                p99_ms: None,
                users: last.users,
                generator: None,
            };
            out.push(gap);
        }
        out.push(p);
    }
    out
}

/// Reads one line (without its `\n`) into `buf`, up to `cap` bytes: `Some(true)` for a line,
/// `Some(false)` for one longer than `cap` (skipped to its end, never held whole), `None` at
/// the end of the input. A last line without `\n` counts.
pub(crate) fn read_line_capped(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(!too_long));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long && buf.len() + part.len() <= cap {
            buf.extend_from_slice(part);
        } else {
            too_long = true;
            buf.clear();
        }
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn start() -> SystemTime {
        humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
    }

    fn req(name: &str, ms: f64, status: u16, vu: u32, second: u32) -> String {
        let time = humantime::format_rfc3339_millis(start() + Duration::from_secs(second.into()));
        let expected = (200..400).contains(&status);
        format!(
            r#"{{"metric":"http_req_duration","type":"Point","data":{{"time":"{time}","value":{ms},"tags":{{"expected_response":"{expected}","method":"GET","name":"{name}","status":"{status}"}},"metadata":{{"vu":"{vu}"}}}}}}"#
        )
    }

    fn check(name: &str, ok: bool, vu: u32) -> String {
        format!(
            r#"{{"metric":"checks","type":"Point","data":{{"time":"2026-01-01T00:00:01Z","value":{},"tags":{{"check":"{name}","vu":"{vu}"}}}}}}"#,
            u8::from(ok)
        )
    }

    fn ingest(lines: &[String], cap: usize) -> Ingest {
        let mut i = Ingest::new(start(), "http://app:8080", cap, Arc::default());
        let text = lines.join("\n");
        i.read_all(&mut text.as_bytes());
        i
    }

    #[test]
    fn requests_land_in_their_endpoint_with_failures_by_reason() {
        let lines = [
            req("http://app:8080/dashboard", 10.0, 200, 1, 0),
            req("http://app:8080/dashboard", 30.0, 503, 2, 1),
            req("/api/items/:id", 20.0, 200, 1, 1),
            check("status is 200", false, 2),
            check("status is 200", true, 1),
        ];
        let i = ingest(&lines, 100);
        assert_eq!(
            i.checks["status is 200"],
            CheckCounts {
                passes: 1,
                fails: 1
            }
        );
        let (rows, folded, series) = i.finish(2.0);
        assert!(folded.is_none());
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GET /dashboard", "GET /api/items/:id"]);
        let d = &rows[0];
        assert_eq!((d.requests, d.failures), (2, 1));
        // The failed check fell on a request that had failed already: counted once.
        assert_eq!(
            d.failures_by_reason,
            BTreeMap::from([("HTTP 503".into(), 1)])
        );
        assert_eq!(d.latency_ms.max.map(f64::round), Some(30.0));
        assert_eq!(series.iter().map(|p| p.requests).sum::<u64>(), 3);
        assert_eq!(series.iter().map(|p| p.failures).sum::<u64>(), 1);
    }

    /// Each row's protocol is its requests' `proto` tags joined: one protocol, or mixed; a row
    /// whose lines carry none says nothing.
    #[test]
    fn each_rows_protocol_comes_from_its_requests_proto_tags() {
        let with_proto = |name: &str, proto: &str| {
            req(name, 10.0, 200, 1, 0).replace(
                r#""method":"GET","#,
                &format!(r#""method":"GET","proto":"{proto}","#),
            )
        };
        let lines = [
            with_proto("/a", "HTTP/2.0"),
            with_proto("/a", "HTTP/2.0"),
            with_proto("/sso", "HTTP/2.0"),
            with_proto("/sso", "HTTP/1.1"),
            req("/untagged", 10.0, 200, 1, 0),
        ];
        let (rows, _, _) = ingest(&lines, 100).finish(1.0);
        let protocols: Vec<_> = rows.iter().map(|r| (r.name.as_str(), r.protocol)).collect();
        assert_eq!(
            protocols,
            [
                ("GET /a", Some(Protocol::H2)),
                ("GET /sso", Some(Protocol::Mixed)),
                ("GET /untagged", None)
            ]
        );
    }

    #[test]
    fn a_failed_check_fails_its_users_last_request_once() {
        let lines = [
            req("/a", 10.0, 200, 7, 0),
            check("has token", false, 7),
            check("has body", false, 7),
            check("no user", false, 99),
        ];
        let i = ingest(&lines, 100);
        assert_eq!(i.unattributed_check_failures, 1);
        let (rows, _, series) = i.finish(1.0);
        assert_eq!(rows[0].failures, 1);
        assert_eq!(
            rows[0].failures_by_reason,
            BTreeMap::from([("check failed: has token".into(), 1)])
        );
        assert_eq!(series[0].failures, 1);
    }

    /// Iterations k6 dropped are failures of their own row, in the error rate and the time
    /// series, without a latency: load asked for and not applied never reads as fine.
    #[test]
    fn dropped_iterations_are_failures_of_their_own_row() {
        let dropped = |n: u32| {
            format!(
                r#"{{"metric":"dropped_iterations","type":"Point","data":{{"time":"2026-01-01T00:00:01Z","value":{n},"tags":{{"scenario":"open_model"}}}}}}"#
            )
        };
        let lines = [req("/a", 10.0, 200, 1, 0), dropped(1), dropped(2)];
        let i = ingest(&lines, 100);
        let (rows, _, series) = i.finish(2.0);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GET /a", DROPPED_ITERATIONS]);
        let d = &rows[1];
        assert_eq!((d.requests, d.failures, d.method.as_deref()), (3, 3, None));
        assert_eq!(d.failures_by_reason.get(DROPPED_REASON), Some(&3));
        assert_eq!(d.latency_ms.max, None, "no latency");
        let whole = EndpointStats::aggregate("all", &rows, 2.0);
        assert_eq!((whole.requests, whole.failures), (4, 3));
        assert_eq!(series.iter().map(|p| p.failures).sum::<u64>(), 3);
        // None dropped: no row.
        let (rows, _, _) = ingest(&[req("/a", 10.0, 200, 1, 0)], 100).finish(1.0);
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn names_past_the_cap_are_counted_in_one_row() {
        let lines: Vec<String> = (0..50)
            .map(|n| req(&format!("/orders/{n}"), 5.0, 200, 1, 0))
            .collect();
        let (rows, folded, _) = ingest(&lines, 10).finish(1.0);
        assert_eq!(rows.len(), 11);
        let other = rows.last().unwrap();
        assert_eq!((other.name.as_str(), other.requests), (OTHER_ENDPOINTS, 40));
        let folded = folded.unwrap();
        assert_eq!((folded.cap, folded.names), (10, 40));
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 50);
    }

    #[test]
    fn lines_past_the_length_cap_are_skipped_whole() {
        let long = format!(
            "{}{}",
            req("/a", 1.0, 200, 1, 0),
            " ".repeat(MAX_LINE_BYTES)
        );
        let lines = [long, "not json".into(), req("/b", 1.0, 200, 1, 0)];
        let i = ingest(&lines, 10);
        assert_eq!(
            i.skipped,
            Skipped {
                too_long: 1,
                malformed: 1,
                bad_value: 0
            }
        );
        let (rows, _, _) = i.finish(1.0);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "GET /b");
    }

    #[test]
    fn the_line_reader_keeps_memory_at_the_cap() {
        let text = format!("{}\nshort\n{}", "x".repeat(10_000), "y".repeat(5));
        let mut input = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut input, &mut buf, 100).unwrap(),
            Some(false)
        );
        assert!(buf.capacity() <= 200, "{}", buf.capacity());
        assert_eq!(
            read_line_capped(&mut input, &mut buf, 100).unwrap(),
            Some(true)
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line_capped(&mut input, &mut buf, 100).unwrap(),
            Some(true)
        );
        assert_eq!(buf, b"yyyyy");
        assert_eq!(read_line_capped(&mut input, &mut buf, 100).unwrap(), None);
    }
}
