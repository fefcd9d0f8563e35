//! `load-performance.json`: k6's legacy `--summary-export` shape, which is what GitLab's
//! merge-request widget reads (`metrics.http_reqs.rate`, `http_req_waiting` p(90)/p(95),
//! `checks.passes/fails`). Numbers sit directly under each metric, not under `values`.
//!
//! `checks` counts requests that passed or failed their checks (every request is checked at
//! least for its status), which is what k6's checks mean; it is omitted when nothing ran, since
//! the widget would show NaN%.

use serde_json::{json, Map, Value};

use crate::stats::EndpointStats;

/// Renders from the aggregate of all requests: the widget shows nothing per endpoint.
pub(crate) fn render(a: &EndpointStats) -> String {
    let l = &a.latency_ms;
    let mut waiting = Map::new();
    for (k, v) in [
        ("avg", l.avg),
        ("min", l.min),
        ("med", l.p50),
        ("max", l.max),
        ("p(90)", l.p90),
        ("p(95)", l.p95),
    ] {
        if let Some(v) = v {
            waiting.insert(k.into(), json!(round2(v)));
        }
    }
    let mut metrics = Map::new();
    // Without request counts (a cloud run that reports only averages) the widget gets no
    // throughput rather than a zero.
    if let Some((requests, failures, rps)) = a.counts() {
        metrics.insert(
            "http_reqs".into(),
            json!({"count": requests, "rate": round2(rps)}),
        );
        if requests > 0 {
            metrics.insert(
                "checks".into(),
                json!({"passes": requests - failures, "fails": failures}),
            );
        }
    }
    metrics.insert("http_req_waiting".into(), Value::Object(waiting));
    let mut s = serde_json::to_string_pretty(&json!({ "metrics": metrics })).unwrap_or_default();
    s.push('\n');
    s
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
