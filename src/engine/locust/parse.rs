//! Turns what Locust writes into a [`crate::stats::RunResult`]: the JSON file's per-entry buckets
//! become our histograms (so Locust baselines merge and compare like native ones),
//! `_failures.csv` gives failures by reason, `_stats_history.csv` the time series. When the JSON
//! file is missing (Locust crashed), the last `_stats.csv` is the partial result. Locust keeps
//! about two significant digits per response time, so the result is marked `quantised`.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use serde::Deserialize;

use super::command::OutputFiles;
use crate::stats::{EndpointStats, LatencyHistogram, LatencySummary, SecondPoint};

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
/// already starts with it (the seed's convention is `name="GET /dashboard"`).
pub(crate) fn endpoint_name(method: &str, name: &str) -> String {
    if method.is_empty() || name.starts_with(&format!("{method} ")) {
        name.to_string()
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
        *out.entry((method, name))
            .or_default()
            .entry(normalise_reason(&error))
            .or_default() += n;
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
        *out.entry((method.to_string(), name.to_string()))
            .or_default()
            .entry(normalise_reason(error))
            .or_default() += n;
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

/// Locust's JSON file is read whole only up to this size.
const MAX_JSON_BYTES: usize = 256 * 1024 * 1024;

/// Per-endpoint stats from the JSON file; `None` when Locust did not write it.
pub(crate) fn endpoints_from_json(
    files: &OutputFiles,
    duration_s: f64,
) -> Option<Vec<EndpointStats>> {
    // Beyond the cap the per-second CSVs (read as streams) stand in for the JSON.
    let file = std::fs::File::open(files.json()).ok()?;
    let bytes = crate::capped::read_capped(file, MAX_JSON_BYTES).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    let entries: Vec<Entry> = serde_json::from_str(&text).ok()?;
    let reasons = failures(files);
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let method = e.method.clone().unwrap_or_default();
        let mut h = LatencyHistogram::new();
        for (ms, n) in &e.response_times {
            if let Ok(ms) = ms.parse::<f64>() {
                for _ in 0..*n {
                    h.record_micros((ms * 1000.0).round() as u64);
                }
            }
        }
        let by_reason = reconcile(
            reasons
                .get(&(method.clone(), e.name.clone()))
                .cloned()
                .unwrap_or_default(),
            e.num_failures,
        );
        let mut s = EndpointStats::from_counts(
            endpoint_name(&method, &e.name),
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
            // A bucketed percentile can round past the exact extremes; keep them consistent.
            let (lo, hi) = (l.min.unwrap_or(0.0), e.max_response_time);
            for p in [&mut l.p50, &mut l.p90, &mut l.p95, &mut l.p99, &mut l.p99_9]
                .into_iter()
                .flatten()
            {
                *p = p.clamp(lo, hi);
            }
        }
        out.push(s);
    }
    Some(out)
}

fn num(v: Option<&str>) -> Option<f64> {
    v.and_then(|s| s.trim().parse::<f64>().ok())
}

/// Per-endpoint stats from the last `_stats.csv` (no histograms): the partial result after a
/// crash.
pub(crate) fn endpoints_from_stats_csv(files: &OutputFiles, duration_s: f64) -> Vec<EndpointStats> {
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
    let mut agg = EndpointStats::aggregate("all requests", endpoints, duration_s);
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
        let eps = endpoints_from_json(&files, 1.0).unwrap();
        let nope = eps.iter().find(|e| e.name == "GET /nope").unwrap();
        assert_eq!(
            nope.failures_by_reason.get("connection refused"),
            Some(&3),
            "{:?}",
            nope.failures_by_reason
        );
        std::fs::write(files.final_failures(), "not json").unwrap();
        let eps = endpoints_from_json(&files, 1.0).unwrap();
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
        let eps = endpoints_from_json(&files, 2.0).unwrap();
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
                let _ = endpoints_from_json(&files, 1.0);
                let endpoints = endpoints_from_stats_csv(&files, 1.0);
                let _ = aggregate_from_stats_csv(&files, &endpoints, 1.0);
                let _ = timeseries(&files);
                let _ = latest_progress(&files);
            }
        }
    }
}
