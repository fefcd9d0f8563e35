//! Turns what Locust writes into a [`crate::stats::RunResult`]: the JSON file's per-entry buckets
//! become our histograms (so Locust baselines merge and compare like native ones),
//! `_failures.csv` gives failures by reason, `_stats_history.csv` the time series. When the JSON
//! file is missing (Locust crashed), the last `_stats.csv` is the partial result. Locust keeps
//! about two significant digits per response time, so the result is marked `quantised`. Past
//! `--max-endpoints` names, entries are folded into `(other endpoints)` as they are read, so a
//! locustfile with an id in every URL cannot make the gate build a histogram per id.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::Read,
    marker::PhantomData,
    path::Path,
};

use serde::{
    de::{DeserializeOwned, SeqAccess, Visitor},
    Deserialize, Deserializer,
};

use super::command::OutputFiles;
use crate::stats::{
    cap_rows, count_reason, split_busiest, ByName, EndpointStats, Folded, LatencyHistogram,
    LatencySummary, SecondPoint, OTHER_ENDPOINTS,
};

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    method: Option<String>,
    num_requests: u64,
    num_failures: u64,
    total_response_time: f64,
    min_response_time: Option<f64>,
    max_response_time: f64,
    #[serde(default)]
    response_times: BTreeMap<String, u64>,
}

/// The endpoint name the gate uses: Locust's name, prefixed with the method unless the name
/// already starts with it (a common convention is `name="GET /dashboard"`), as
/// [`crate::quote::endpoint_name`] shows it (Locust names a request by its URL:
/// `/items?api_key=...`), so that what it folds and merges by is the name every report shows.
pub(crate) fn endpoint_name(method: &str, name: &str) -> String {
    let name = crate::quote::endpoint_name(name);
    if method.is_empty() || name.starts_with(&format!("{method} ")) {
        name
    } else {
        format!("{method} {name}")
    }
}

/// Locust's error texts as stable reasons, matching the native engine's words where they mean
/// the same thing.
pub(crate) fn normalise_reason(error: &str) -> String {
    let e = error.trim();
    if e.contains("ConnectionRefusedError") || e.contains("Connection refused") {
        return "connection refused".into();
    }
    if e.contains("ConnectionResetError") || e.contains("Connection reset") {
        return "connection reset".into();
    }
    if let Some(rest) = e.strip_prefix("HTTPError('") {
        if let Some(code) = rest
            .get(..3)
            .filter(|c| c.chars().all(|ch| ch.is_ascii_digit()))
        {
            return format!("HTTP {code}");
        }
    }
    if e.contains("Timeout") || e.contains("timed out") {
        return "timeout".into();
    }
    let e = e
        .strip_prefix("CatchResponseError('")
        .and_then(|r| r.strip_suffix("')"))
        .unwrap_or(e);
    e.chars().take(200).collect()
}

fn csv_reader(path: &Path) -> Option<csv::Reader<std::fs::File>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .ok()
}

/// (method, name) -> reason -> count: from the plugin's final list when Locust wrote it, else
/// from `_failures.csv` (which may lag by a second).
fn failures(files: &OutputFiles) -> HashMap<(String, String), BTreeMap<String, u64>> {
    final_failures(files).unwrap_or_else(|| csv_failures(files))
}

/// Locust's final list is read only up to this size (an entry per endpoint and error text).
const MAX_FINAL_FAILURES_BYTES: u64 = 64 << 20;

fn final_failures(files: &OutputFiles) -> Option<HashMap<(String, String), BTreeMap<String, u64>>> {
    let path = files.final_failures();
    if std::fs::metadata(&path).ok()?.len() > MAX_FINAL_FAILURES_BYTES {
        return None;
    }
    let rows: Vec<(String, String, String, u64)> =
        serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let mut out: HashMap<(String, String), BTreeMap<String, u64>> = HashMap::new();
    for (method, name, error, n) in rows {
        count_reason(
            out.entry((method, name)).or_default(),
            normalise_reason(&error),
            n,
        );
    }
    Some(out)
}

fn csv_failures(files: &OutputFiles) -> HashMap<(String, String), BTreeMap<String, u64>> {
    let mut out: HashMap<(String, String), BTreeMap<String, u64>> = HashMap::new();
    let Some(mut r) = csv_reader(&files.failures()) else {
        return out;
    };
    for row in r.records().flatten() {
        let (Some(method), Some(name), Some(error), Some(n)) =
            (row.get(0), row.get(1), row.get(2), row.get(3))
        else {
            continue;
        };
        let n: u64 = n.trim().parse().unwrap_or(0);
        count_reason(
            out.entry((method.to_string(), name.to_string()))
                .or_default(),
            normalise_reason(error),
            n,
        );
    }
    out
}

/// `_failures.csv` is rewritten once a second and can miss the last second's failures; the
/// unrecorded rest goes to the only reason seen, or to a reason that says so.
fn reconcile(mut reasons: BTreeMap<String, u64>, failures: u64) -> BTreeMap<String, u64> {
    let listed: u64 = reasons.values().sum();
    if listed < failures {
        let rest = failures - listed;
        if reasons.len() == 1 {
            *reasons.values_mut().next().expect("one reason") += rest;
        } else {
            *reasons
                .entry("failure not itemised by Locust".into())
                .or_default() += rest;
        }
    } else if listed > failures {
        // Never report more failures by reason than failures.
        let mut excess = listed - failures;
        for v in reasons.values_mut().rev() {
            let cut = excess.min(*v);
            *v -= cut;
            excess -= cut;
        }
        reasons.retain(|_, v| *v > 0);
    }
    reasons
}

/// Locust's JSON file is read only up to this size.
const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// The endpoint rows of a run, at most the cap of them named, and what the cardinality guard
/// folded into `(other endpoints)` to keep them so.
#[derive(Debug)]
pub(crate) struct Rows {
    pub(crate) endpoints: Vec<EndpointStats>,
    pub(crate) folded: Option<Folded>,
}

/// What the first reading keeps of an entry: enough to choose which entries stay.
#[derive(Deserialize)]
struct Head {
    name: String,
    method: Option<String>,
    num_requests: u64,
}

/// A name the gate gives, with the requests of every entry that bears it.
struct Choice {
    name: String,
    requests: u64,
}

/// One JSON entry under the name the gate gives it.
struct Named {
    name: String,
    method: String,
    entry: Entry,
}

impl Named {
    fn of(entry: Entry) -> Named {
        let method = entry.method.clone().unwrap_or_default();
        Named {
            name: endpoint_name(&method, &entry.name),
            method,
            entry,
        }
    }
}

/// Per-endpoint stats from the JSON file; `None` when Locust did not write it. A locustfile
/// that requests `f"/orders/{id}"` without `name=` makes thousands of entries, and a histogram
/// is tens of kilobytes: so the file is read twice, one entry at a time. The first reading
/// keeps only names and request counts, to choose the `cap` busiest names; the second gives
/// those a histogram each and counts every other entry straight into one `(other endpoints)`
/// row. Entries that share a name (`("GET", "/dashboard")` and `("GET", "GET /dashboard")`)
/// are one endpoint: chosen by their requests together, and merged into one row
/// ([`ByName`]). The rows equal what [`cap_rows`] makes of every entry's row, at a memory
/// bounded by the cap (and the folded names, which the gate must keep to judge a rule that
/// names one).
pub(crate) fn endpoints_from_json(
    files: &OutputFiles,
    duration_s: f64,
    cap: usize,
) -> Option<Rows> {
    let mut choices: Vec<Choice> = Vec::new();
    let mut place: HashMap<String, usize> = HashMap::new();
    each_entry(files, |h: Head| {
        let name = endpoint_name(h.method.as_deref().unwrap_or_default(), &h.name);
        match place.get(&name).and_then(|&i| choices.get_mut(i)) {
            Some(c) => c.requests = c.requests.saturating_add(h.num_requests),
            None => {
                place.insert(name.clone(), choices.len());
                choices.push(Choice {
                    name,
                    requests: h.num_requests,
                });
            }
        }
    })?;
    drop(place);
    let reasons = failures(files);
    let reasons_of = |n: &Named| {
        let listed = reasons.get(&(n.method.clone(), n.entry.name.clone()));
        reconcile(listed.cloned().unwrap_or_default(), n.entry.num_failures)
    };
    let row = |n: Named| {
        let by_reason = reasons_of(&n);
        entry_row(n, by_reason, duration_s)
    };
    let mut rows = ByName::new(duration_s);
    let Some(split) = split_busiest(&mut choices, cap, |c| (c.name.as_str(), c.requests)) else {
        each_entry(files, |e: Entry| rows.add(row(Named::of(e))))?;
        return Some(Rows {
            endpoints: rows.into_rows(),
            folded: None,
        });
    };
    let kept: HashSet<&str> = split.kept.iter().map(|c| c.name.as_str()).collect();
    let mut other = OtherRow::default();
    each_entry(files, |e: Entry| {
        let n = Named::of(e);
        if kept.contains(n.name.as_str()) {
            rows.add(row(n));
        } else {
            other.add(&n.entry, reasons_of(&n));
        }
    })?;
    // The busiest first, as the split chose.
    let mut by_name: HashMap<String, EndpointStats> = rows
        .into_rows()
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let mut endpoints: Vec<EndpointStats> = split
        .kept
        .iter()
        .filter_map(|c| by_name.remove(&c.name))
        .collect();
    endpoints.push(other.finish(duration_s));
    let names = split.folded.into_iter().map(|c| c.name).collect();
    Some(Rows {
        endpoints,
        folded: Some(Folded::of_names(cap, names)),
    })
}

/// Reads Locust's JSON file (an array of entries) one entry at a time, handing each to `f`:
/// neither the file's text nor all its entries are ever held at once. `None` when the file is
/// missing, larger than [`MAX_JSON_BYTES`] or not an array of entries; beyond the cap the
/// per-second CSVs (read as streams) stand in for it.
fn each_entry<T: DeserializeOwned>(files: &OutputFiles, f: impl FnMut(T)) -> Option<()> {
    let file = std::fs::File::open(files.json()).ok()?;
    if file.metadata().ok()?.len() > MAX_JSON_BYTES {
        return None;
    }
    // Capped as it is read too: a file that grows past the cap is cut off and fails to parse.
    let reader = std::io::BufReader::new(file.take(MAX_JSON_BYTES));
    let mut json = serde_json::Deserializer::from_reader(reader);
    (&mut json)
        .deserialize_seq(EachEntry(f, PhantomData))
        .ok()?;
    json.end().ok()
}

/// The visitor behind [`each_entry`].
struct EachEntry<T, F>(F, PhantomData<T>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for EachEntry<T, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of Locust entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<T>()? {
            (self.0)(entry);
        }
        Ok(())
    }
}

/// Records Locust's buckets (`{"<ms>": count}`) into `h`.
fn record_buckets(h: &mut LatencyHistogram, response_times: &BTreeMap<String, u64>) {
    for (ms, n) in response_times {
        if let Ok(ms) = ms.parse::<f64>() {
            h.record_micros_n((ms * 1000.0).round() as u64, *n);
        }
    }
}

/// One kept entry's row, with its own histogram.
fn entry_row(n: Named, by_reason: BTreeMap<String, u64>, duration_s: f64) -> EndpointStats {
    let Named {
        name,
        method,
        entry: e,
    } = n;
    let mut h = LatencyHistogram::new();
    record_buckets(&mut h, &e.response_times);
    let mut s = EndpointStats::from_counts(
        name,
        (!method.is_empty()).then_some(method),
        h,
        e.num_requests,
        by_reason,
        duration_s,
    );
    // Average, min and max are exact in Locust's data; only percentiles are bucketed.
    if e.num_requests > 0 {
        let l = &mut s.latency_ms;
        l.avg = Some(e.total_response_time / e.num_requests as f64);
        l.min = e.min_response_time;
        l.max = Some(e.max_response_time);
        l.keep_within_extremes();
    }
    s
}

/// The folded entries added up as they are read: one histogram for all of them.
#[derive(Default)]
struct OtherRow {
    histogram: LatencyHistogram,
    requests: u64,
    by_reason: BTreeMap<String, u64>,
}

impl OtherRow {
    fn add(&mut self, e: &Entry, by_reason: BTreeMap<String, u64>) {
        record_buckets(&mut self.histogram, &e.response_times);
        self.requests += e.num_requests;
        for (reason, n) in by_reason {
            *self.by_reason.entry(reason).or_default() += n;
        }
    }

    /// The row, as [`cap_rows`] would add up the folded entries' rows.
    fn finish(self, duration_s: f64) -> EndpointStats {
        EndpointStats::from_counts(
            OTHER_ENDPOINTS.into(),
            None,
            self.histogram,
            self.requests,
            self.by_reason,
            duration_s,
        )
    }
}

fn num(v: Option<&str>) -> Option<f64> {
    v.and_then(|s| s.trim().parse::<f64>().ok())
}

/// Per-endpoint stats from the last `_stats.csv` (no histograms): the partial result after a
/// crash, folded past `cap` like the JSON's.
pub(crate) fn endpoints_from_stats_csv(files: &OutputFiles, duration_s: f64, cap: usize) -> Rows {
    let mut endpoints = stats_csv_rows(files, duration_s);
    let folded = cap_rows(&mut endpoints, cap, duration_s);
    Rows { endpoints, folded }
}

/// Every row of `_stats.csv` but the aggregate (small: no histogram).
fn stats_csv_rows(files: &OutputFiles, duration_s: f64) -> Vec<EndpointStats> {
    let Some(mut r) = csv_reader(&files.stats()) else {
        return Vec::new();
    };
    let headers = r.headers().cloned().unwrap_or_default();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let reasons = failures(files);
    let mut out = Vec::new();
    for row in r.records().flatten() {
        let get = |name: &str| col(name).and_then(|i| row.get(i));
        let (Some(method), Some(name)) = (get("Type"), get("Name")) else {
            continue;
        };
        if name == "Aggregated" && method.is_empty() {
            continue;
        }
        let requests = num(get("Request Count")).unwrap_or(0.0) as u64;
        let failed = num(get("Failure Count")).unwrap_or(0.0) as u64;
        let present = requests > 0;
        let pick = |c: &str| if present { num(get(c)) } else { None };
        out.push(EndpointStats {
            name: endpoint_name(method, name),
            method: Some(method.to_string()),
            requests,
            failures: failed,
            rps: crate::stats::rate(requests, duration_s),
            error_rate: crate::stats::percent(failed, requests),
            latency_ms: LatencySummary {
                min: pick("Min Response Time"),
                avg: pick("Average Response Time"),
                p50: pick("50%"),
                p90: pick("90%"),
                p95: pick("95%"),
                p99: pick("99%"),
                p99_9: pick("99.9%"),
                max: pick("Max Response Time"),
            },
            failures_by_reason: reconcile(
                reasons
                    .get(&(method.to_string(), name.to_string()))
                    .cloned()
                    .unwrap_or_default(),
                failed,
            ),
            histogram: None,
            counts_reported: true,
            received: None,
            protocol: None,
        });
    }
    out
}

/// The aggregate row of `_stats.csv`, for the aggregate when there are no histograms.
pub(crate) fn aggregate_from_stats_csv(
    files: &OutputFiles,
    endpoints: &[EndpointStats],
    duration_s: f64,
) -> EndpointStats {
    let mut agg = EndpointStats::aggregate(crate::stats::ALL_REQUESTS, endpoints, duration_s);
    if endpoints.iter().any(|e| e.histogram.is_none()) {
        // Without histograms, percentiles of the whole come from Locust's own aggregate row.
        agg.histogram = None;
        if let Some(mut r) = csv_reader(&files.stats()) {
            let headers = r.headers().cloned().unwrap_or_default();
            let col = |name: &str| headers.iter().position(|h| h == name);
            for row in r.records().flatten() {
                let get = |name: &str| col(name).and_then(|i| row.get(i));
                if get("Name") == Some("Aggregated") && agg.requests > 0 {
                    agg.latency_ms = LatencySummary {
                        min: num(get("Min Response Time")),
                        avg: num(get("Average Response Time")),
                        p50: num(get("50%")),
                        p90: num(get("90%")),
                        p95: num(get("95%")),
                        p99: num(get("99%")),
                        p99_9: num(get("99.9%")),
                        max: num(get("Max Response Time")),
                    };
                }
            }
        }
    }
    agg
}

/// The aggregate rows of `_stats_history.csv`, one a second, as our time series.
pub(crate) fn timeseries(files: &OutputFiles) -> Vec<SecondPoint> {
    let Some(mut r) = csv_reader(&files.history()) else {
        return Vec::new();
    };
    let headers = r.headers().cloned().unwrap_or_default();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut out: Vec<SecondPoint> = Vec::new();
    let mut first_ts: Option<u64> = None;
    let (mut prev_req, mut prev_fail) = (0u64, 0u64);
    for row in r.records().flatten() {
        let get = |name: &str| col(name).and_then(|i| row.get(i));
        if get("Name") != Some("Aggregated") {
            continue;
        }
        let Some(ts) = num(get("Timestamp")).map(|t| t as u64) else {
            continue;
        };
        let start = *first_ts.get_or_insert(ts);
        let total = num(get("Total Request Count")).unwrap_or(0.0) as u64;
        let failed = num(get("Total Failure Count")).unwrap_or(0.0) as u64;
        let point = SecondPoint {
            t: ts.saturating_sub(start) as u32,
            requests: total.saturating_sub(prev_req),
            failures: failed.saturating_sub(prev_fail),
            p50_ms: num(get("50%")),
            p95_ms: num(get("95%")),
            p99_ms: num(get("99%")),
            users: num(get("User Count")).unwrap_or(0.0) as u32,
            generator: None,
        };
        prev_req = total;
        prev_fail = failed;
        // Locust can write two rows in one second at shutdown: merge them.
        match out.last_mut() {
            Some(last) if last.t == point.t => {
                last.requests += point.requests;
                last.failures += point.failures;
                last.p50_ms = point.p50_ms.or(last.p50_ms);
                last.p95_ms = point.p95_ms.or(last.p95_ms);
                last.p99_ms = point.p99_ms.or(last.p99_ms);
                last.users = point.users;
            }
            _ => out.push(point),
        }
    }
    out
}

/// Live progress: (total requests, failures, current rps, p95) from the aggregate row of
/// `_stats.csv`, which Locust rewrites every second (its history file is buffered).
pub(crate) fn latest_progress(files: &OutputFiles) -> Option<(u64, u64, f64, Option<f64>)> {
    let mut r = csv_reader(&files.stats())?;
    let headers = r.headers().cloned().ok()?;
    let col = |name: &str| headers.iter().position(|h| h == name);
    for row in r.records().flatten() {
        let get = |name: &str| col(name).and_then(|i| row.get(i));
        if get("Name") == Some("Aggregated") {
            return Some((
                num(get("Request Count")).unwrap_or(0.0) as u64,
                num(get("Failure Count")).unwrap_or(0.0) as u64,
                num(get("Requests/s")).unwrap_or(0.0),
                num(get("95%")),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_with(json: &str, failures: &str, history: &str) -> (tempfile::TempDir, OutputFiles) {
        let dir = tempfile::tempdir().unwrap();
        let files = OutputFiles {
            dir: dir.path().to_path_buf(),
        };
        std::fs::write(files.json(), json).unwrap();
        std::fs::write(files.failures(), failures).unwrap();
        std::fs::write(files.history(), history).unwrap();
        (dir, files)
    }

    const JSON: &str = r#"[
      {"name": "GET /health", "method": "GET", "num_requests": 4, "num_failures": 0,
       "total_response_time": 40.0, "min_response_time": 6.2, "max_response_time": 22.0,
       "response_times": {"6": 2, "7": 1, "22": 1}, "num_reqs_per_sec": {}, "num_fail_per_sec": {}},
      {"name": "/nope", "method": "GET", "num_requests": 3, "num_failures": 3,
       "total_response_time": 18.0, "min_response_time": 5.0, "max_response_time": 7.0,
       "response_times": {"6": 3}, "num_reqs_per_sec": {}, "num_fail_per_sec": {}}
    ]"#;

    /// The CSV lags a second behind; the plugin's list, written at quit, is final and wins.
    #[test]
    fn the_final_failure_list_wins_over_the_lagging_csv() {
        let csv = "Method,Name,Error,Occurrences,First Seen,Last Seen\n";
        let (_d, files) = files_with(JSON, csv, "");
        std::fs::write(
            files.final_failures(),
            r#"[["GET", "/nope", "ConnectionRefusedError(111, 'Connection refused')", 3]]"#,
        )
        .unwrap();
        let eps = endpoints_from_json(&files, 1.0, 1000).unwrap().endpoints;
        let nope = eps.iter().find(|e| e.name == "GET /nope").unwrap();
        assert_eq!(
            nope.failures_by_reason.get("connection refused"),
            Some(&3),
            "{:?}",
            nope.failures_by_reason
        );
        std::fs::write(files.final_failures(), "not json").unwrap();
        let eps = endpoints_from_json(&files, 1.0, 1000).unwrap().endpoints;
        let nope = eps.iter().find(|e| e.name == "GET /nope").unwrap();
        assert!(nope
            .failures_by_reason
            .contains_key("failure not itemised by Locust"));
    }

    #[test]
    fn json_buckets_become_histograms_and_exact_figures_stay_exact() {
        let (_d, files) = files_with(
            JSON,
            "Method,Name,Error,Occurrences,First Seen,Last Seen\nGET,/nope,\"HTTPError('404 Client Error: Not Found for url: /nope')\",2,a,b\n",
            "",
        );
        let eps = endpoints_from_json(&files, 2.0, 1000).unwrap().endpoints;
        assert_eq!(eps[0].name, "GET /health");
        assert_eq!(
            eps[1].name, "GET /nope",
            "the method is prefixed when the name lacks it"
        );
        let h = eps[0].histogram.as_ref().unwrap();
        assert_eq!(h.count(), 4);
        assert_eq!(eps[0].latency_ms.avg, Some(10.0));
        assert_eq!(eps[0].latency_ms.max, Some(22.0));
        assert_eq!(
            eps[0].latency_ms.p50,
            Some(6.2),
            "bucket 6 is clamped to the exact minimum"
        );
        // The failures CSV listed 2 of 3 failures; the one reason takes the rest.
        assert_eq!(eps[1].failures_by_reason.get("HTTP 404"), Some(&3));
    }

    /// Locust reports `("GET", "/dashboard")` and `("GET", "GET /dashboard")` as two entries
    /// when one task passes `name="GET /dashboard"` and another requests `/dashboard`: both
    /// are `GET /dashboard`, one row, and the cap counts their requests together.
    #[test]
    fn rows_with_the_same_name_are_judged_together() {
        let json = r#"[
          {"name": "GET /dashboard", "method": "GET", "num_requests": 9, "num_failures": 0,
           "total_response_time": 90.0, "min_response_time": 8.0, "max_response_time": 12.0,
           "response_times": {"10": 9}},
          {"name": "GET /health", "method": "GET", "num_requests": 10, "num_failures": 0,
           "total_response_time": 10.0, "min_response_time": 1.0, "max_response_time": 1.0,
           "response_times": {"1": 10}},
          {"name": "/dashboard", "method": "GET", "num_requests": 3, "num_failures": 3,
           "total_response_time": 15000.0, "min_response_time": 4900.0, "max_response_time": 5100.0,
           "response_times": {"4900": 1, "5000": 1, "5100": 1}}
        ]"#;
        let failures = "Method,Name,Error,Occurrences,First Seen,Last Seen\nGET,/dashboard,\"HTTPError('500 Server Error')\",3,a,b\n";
        let (_d, files) = files_with(json, failures, "");
        let eps = endpoints_from_json(&files, 10.0, 1000).unwrap().endpoints;
        let names: Vec<&str> = eps.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["GET /dashboard", "GET /health"]);
        let d = &eps[0];
        assert_eq!((d.requests, d.failures), (12, 3));
        assert_eq!(d.error_rate, 25.0);
        assert_eq!(d.failures_by_reason.get("HTTP 500"), Some(&3));
        assert_eq!(d.latency_ms.max, Some(5100.0));
        assert_eq!(d.latency_ms.min, Some(8.0));
        assert_eq!(d.latency_ms.avg, Some(15090.0 / 12.0));
        // Past a cap of one, the two entries' 12 requests outweigh `GET /health`'s 10.
        let rows = endpoints_from_json(&files, 10.0, 1).unwrap();
        let names: Vec<&str> = rows.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["GET /dashboard", OTHER_ENDPOINTS]);
        assert_eq!(rows.endpoints[0].requests, 12);
        let folded = rows.folded.unwrap();
        assert_eq!(folded.names, 1);
        assert!(folded.folded_names.contains("GET /health"));
        // The partial rows of `_stats.csv` merge the same way.
        std::fs::write(
            files.stats(),
            "Type,Name,Request Count,Failure Count,Average Response Time,Min Response Time,Max Response Time\nGET,GET /dashboard,9,0,10,8,12\nGET,/dashboard,3,3,5000,4900,5100\n,Aggregated,12,3,1260,8,5100\n",
        )
        .unwrap();
        let rows = endpoints_from_stats_csv(&files, 10.0, 1000);
        assert_eq!(rows.endpoints.len(), 1);
        assert_eq!(rows.endpoints[0].error_rate, 25.0);
    }

    /// Locust's file is read back from disk: extremes that make no range are not a panic.
    #[test]
    fn a_minimum_above_the_maximum_is_no_panic() {
        let json = r#"[{"name": "/x", "method": "GET", "num_requests": 2, "num_failures": 0,
           "total_response_time": 20.0, "min_response_time": 30.0, "max_response_time": 5.0,
           "response_times": {"10": 2}}]"#;
        let (_d, files) = files_with(json, "", "");
        let eps = endpoints_from_json(&files, 1.0, 10).unwrap().endpoints;
        assert_eq!(eps[0].requests, 2);
    }

    /// Fifty entries as a locustfile without `name=` makes them: request counts with ties,
    /// failures by reason, one entry Locust names `GET /p/7` and one named like the fold row.
    fn many_entries() -> (String, String) {
        let mut entries = Vec::new();
        let mut failures = String::from("Method,Name,Error,Occurrences,First Seen,Last Seen\n");
        for i in 0..50u64 {
            let requests = 3 + (i * 7) % 11;
            let failed = i % 4;
            let name = match i {
                7 => "GET /p/7".to_string(),
                _ => format!("/p/{i}"),
            };
            entries.push(serde_json::json!({
                "name": name, "method": "GET", "num_requests": requests, "num_failures": failed,
                "total_response_time": 10.0 * requests as f64, "min_response_time": 1.0 + i as f64,
                "max_response_time": 90.0 + i as f64,
                "response_times": {(1 + i).to_string(): requests - 1, (90 + i).to_string(): 1},
                "num_reqs_per_sec": {}, "num_fail_per_sec": {}
            }));
            if failed > 0 {
                failures.push_str(&format!(
                    "GET,{name},\"HTTPError('503 Server Error')\",{failed},a,b\n"
                ));
            }
        }
        entries.push(serde_json::json!({
            "name": OTHER_ENDPOINTS, "method": "", "num_requests": 2, "num_failures": 0,
            "total_response_time": 4.0, "min_response_time": 2.0, "max_response_time": 2.0,
            "response_times": {"2": 2}
        }));
        (serde_json::Value::Array(entries).to_string(), failures)
    }

    /// Folding while parsing builds histograms only for the kept entries, yet gives exactly
    /// the rows, counts, histograms and warning of folding every entry's row afterwards.
    #[test]
    fn folding_while_parsing_equals_folding_every_row_afterwards() {
        let (json, failures) = many_entries();
        let (_d, files) = files_with(&json, &failures, "");
        let bounded = endpoints_from_json(&files, 10.0, 5).unwrap();
        let mut unbounded = endpoints_from_json(&files, 10.0, usize::MAX).unwrap();
        assert_eq!(unbounded.endpoints.len(), 51);
        assert!(unbounded.folded.is_none());
        let folded = cap_rows(&mut unbounded.endpoints, 5, 10.0).unwrap();
        assert_eq!(bounded.endpoints, unbounded.endpoints);
        assert_eq!(bounded.folded.as_ref(), Some(&folded));
        let folded = bounded.folded.unwrap();
        assert_eq!(folded.names, 45);
        assert!(folded.folded_names.contains("GET /p/0"));
        assert_eq!(
            folded.warning(),
            "45 endpoint names past --max-endpoints 5 were counted as `(other endpoints)` (most common prefixes: `GET /p/` (45)); give such requests one name (`name:` in a scenario, `name=` in Locust) or raise --max-endpoints"
        );
        let eps = &bounded.endpoints;
        assert_eq!(eps.len(), 6);
        let other = &eps[5];
        assert_eq!(other.name, OTHER_ENDPOINTS);
        let all: u64 = unbounded_requests(&files);
        assert_eq!(eps.iter().map(|e| e.requests).sum::<u64>(), all);
        assert_eq!(
            other.histogram.as_ref().map(LatencyHistogram::count),
            Some(other.requests)
        );
        assert_eq!(
            other.failures_by_reason.get("HTTP 503").copied(),
            Some(other.failures)
        );
        assert!(other.failures > 0);
    }

    fn unbounded_requests(files: &OutputFiles) -> u64 {
        let rows = endpoints_from_json(files, 10.0, usize::MAX).unwrap();
        rows.endpoints.iter().map(|e| e.requests).sum()
    }

    /// Without the JSON file (Locust crashed), the partial rows from `_stats.csv` fold too.
    #[test]
    fn the_partial_csv_rows_fold_past_the_cap() {
        let (_d, files) = files_with("not json", "", "");
        let mut csv = String::from("Type,Name,Request Count,Failure Count,Average Response Time,Min Response Time,Max Response Time\n");
        for i in 0..20 {
            csv.push_str(&format!("GET,/p/{i},{},0,5,1,9\n", 10 + i));
        }
        csv.push_str(",Aggregated,390,0,5,1,9\n");
        std::fs::write(files.stats(), csv).unwrap();
        let rows = endpoints_from_stats_csv(&files, 1.0, 3);
        let names: Vec<&str> = rows.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["GET /p/19", "GET /p/18", "GET /p/17", OTHER_ENDPOINTS]
        );
        assert_eq!(rows.endpoints[3].requests, (10..27).sum::<u64>());
        assert_eq!(rows.folded.map(|f| f.names), Some(17));
    }

    #[test]
    fn reasons_read_like_the_native_engine() {
        assert_eq!(
            normalise_reason("ConnectionRefusedError(111, 'Connection refused')"),
            "connection refused"
        );
        assert_eq!(
            normalise_reason("HTTPError('500 Server Error: x')"),
            "HTTP 500"
        );
        assert_eq!(
            normalise_reason("CatchResponseError('No access_token in response')"),
            "No access_token in response"
        );
    }

    #[test]
    fn history_rows_become_seconds() {
        let head = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count";
        let hist = format!(
            "{head}\n100,0,,Aggregated,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0\n101,2,GET,x,1,0,5,5,5,5,5,5,5,5,5,5,5,9,0\n101,2,,Aggregated,1,0,5,5,5,5,5,6,6,7,7,7,7,10,1\n102,2,,Aggregated,1,0,5,5,5,5,5,8,8,9,9,9,9,25,1\n"
        );
        let (_d, files) = files_with("[]", "", &hist);
        let ts = timeseries(&files);
        assert_eq!(
            ts.iter()
                .map(|p| (p.t, p.requests, p.failures))
                .collect::<Vec<_>>(),
            [(0, 0, 0), (1, 10, 1), (2, 15, 0)]
        );
        assert_eq!(ts[2].p95_ms, Some(8.0));
        std::fs::write(
            files.stats(),
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n,Aggregated,25,1,5,5.5,1,9,2,12.5,0.5,5,5,5,5,6,8,8,9,9,9,9\n",
        )
        .unwrap();
        assert_eq!(latest_progress(&files).unwrap(), (25, 1, 12.5, Some(8.0)));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn junk() -> impl Strategy<Value = String> {
            "(Type|Name|GET|/x|Request Count|Failure Count|50%|95%|Timestamp|Requests/s|,|\n|\"|[0-9.e-]{1,8}|\\{|\\}|\\[|\\]|\"response_times\"|: ){0,30}"
        }

        proptest! {
            // Half the usual cases (each writes three files), scaled by `PROPTEST_CASES` when set.
            #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 2, ..ProptestConfig::default() })]

            /// Locust's CSV and JSON files are read back from disk: whatever they hold, the
            /// parsers return what they can and never panic.
            #[test]
            fn locust_files_never_panic(json in junk(), failures in junk(), history in junk()) {
                let (_dir, files) = files_with(&json, &failures, &history);
                std::fs::write(files.stats(), &history).unwrap();
                let _ = endpoints_from_json(&files, 1.0, 1);
                let endpoints = endpoints_from_stats_csv(&files, 1.0, 1).endpoints;
                let _ = aggregate_from_stats_csv(&files, &endpoints, 1.0);
                let _ = timeseries(&files);
                let _ = latest_progress(&files);
            }
        }
    }
}
