//! `--engine loadforge`: dispatch the test to LoadForge's cloud, as the seed pipeline does, and
//! wait for it. Start a run of a configured test (host, users, spawn rate, run time in seconds),
//! poll the run until `completed` or `failed`, and map what the API returns into a
//! [`RunResult`]: the average response time and error rate always; percentiles, counts and
//! per-endpoint figures only when the response carries them (absent otherwise, never zero).

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::EngineError;
use crate::{
    secret::Secret,
    stats::{EndpointStats, LatencySummary, LoadModel, RunMeta, RunResult, ToolInfo, SCHEMA},
};

#[derive(Debug, Clone)]
pub struct LoadForgePlan {
    pub base_url: Url,
    pub token: Secret,
    pub test_id: String,
    pub host: String,
    pub users: u32,
    pub spawn_rate: f64,
    pub run_time: Duration,
    pub poll_interval: Duration,
    pub max_wait: Duration,
    /// First backoff after a 429/5xx; doubles per retry.
    pub backoff: Duration,
    pub max_retries: u32,
}

/// The percentiles a LoadForge run can carry (the average and error rate always; counts,
/// minimum and maximum when present).
pub const REPORTED_PERCENTILES: &[f64] = &[50.0, 90.0, 95.0, 99.0];

struct Api<'a> {
    plan: &'a LoadForgePlan,
    http: reqwest::blocking::Client,
}

impl Api<'_> {
    fn url(&self, path: &str) -> Result<Url, EngineError> {
        self.plan
            .base_url
            .join(path)
            .map_err(|e| EngineError::Config(format!("bad LoadForge URL: {e}")))
    }

    /// One API call with bounded retries on 429 (honouring `Retry-After`), 5xx and network
    /// errors. 401/403/404 are configuration errors; the token is never part of a message.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, EngineError> {
        let url = self.url(path)?;
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(
                    "Authorization",
                    format!("Token {}", self.plan.token.expose()),
                )
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let retry_in = self.plan.backoff * 2u32.saturating_pow(attempt);
            let resp = match req.send() {
                Ok(r) => r,
                Err(e) if attempt < self.plan.max_retries => {
                    let _ = e;
                    attempt += 1;
                    std::thread::sleep(retry_in);
                    continue;
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timed out"
                    } else {
                        "could not connect"
                    };
                    return Err(EngineError::Crashed {
                        message: format!(
                            "LoadForge API {what}: {kind} ({})",
                            url.origin().ascii_serialization()
                        ),
                        partial: None,
                    });
                }
            };
            let status = resp.status();
            if (status.as_u16() == 429 || status.is_server_error())
                && attempt < self.plan.max_retries
            {
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(retry_in)
                    .min(Duration::from_secs(60));
                attempt += 1;
                std::thread::sleep(wait);
                continue;
            }
            match status.as_u16() {
                401 | 403 => {
                    return Err(EngineError::Config(format!(
                        "LoadForge refused {what} (HTTP {}): check LOADFORGE_API_TOKEN and that it may run test {}",
                        status.as_u16(),
                        self.plan.test_id
                    )))
                }
                404 => {
                    return Err(EngineError::Config(format!(
                        "LoadForge found no {what} (HTTP 404): check LOADFORGE_TEST_ID ({})",
                        self.plan.test_id
                    )))
                }
                _ if !status.is_success() => {
                    return Err(EngineError::Crashed {
                        message: format!("LoadForge API {what} failed with HTTP {} after {attempt} retries", status.as_u16()),
                        partial: None,
                    })
                }
                _ => {}
            }
            let text = resp.text().unwrap_or_default();
            return serde_json::from_str(&text).map_err(|e| EngineError::Crashed {
                message: format!("LoadForge sent invalid JSON for {what}: {e}"),
                partial: None,
            });
        }
    }
}

fn f(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64))
}

fn u(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64))
}

/// One LoadForge stats object (the run, or one endpoint of it) as our endpoint stats.
fn stats_from(
    name: String,
    method: Option<String>,
    v: &Value,
    duration_s: f64,
) -> Option<EndpointStats> {
    let avg = f(v, &["avg_response_time", "average_response_time"]);
    let error_rate = f(v, &["error_rate"]);
    let requests = u(v, &["total_requests", "requests", "num_requests"]);
    let failures = u(v, &["total_failures", "failures", "num_failures"]).or_else(|| {
        // The error rate and the count determine the failures.
        requests
            .zip(error_rate)
            .map(|(n, e)| (n as f64 * e / 100.0).round() as u64)
    });
    let error_rate = error_rate.or_else(|| {
        requests
            .zip(failures)
            .map(|(n, fl)| crate::stats::percent(fl, n))
    })?;
    let rps = f(v, &["requests_per_second", "rps"])
        .or_else(|| requests.map(|n| crate::stats::rate(n, duration_s)));
    Some(EndpointStats {
        name,
        method,
        requests: requests.unwrap_or(0),
        failures: failures.unwrap_or(0),
        rps: rps.unwrap_or(0.0),
        error_rate,
        latency_ms: LatencySummary {
            min: f(v, &["min_response_time"]),
            avg,
            p50: f(v, &["p50_response_time", "median_response_time"]),
            p90: f(v, &["p90_response_time"]),
            p95: f(v, &["p95_response_time"]),
            p99: f(v, &["p99_response_time"]),
            p99_9: None,
            max: f(v, &["max_response_time"]),
        },
        failures_by_reason: Default::default(),
        histogram: None,
        counts_reported: requests.is_some(),
    })
}

/// Maps a completed run into a result.
pub fn to_result(
    plan: &LoadForgePlan,
    run: &Value,
    started_at: SystemTime,
    interrupted: bool,
    duration: Duration,
) -> Result<RunResult, EngineError> {
    let duration_s = duration.as_secs_f64();
    let aggregate = stats_from("all requests".into(), None, run, duration_s).ok_or_else(|| {
        EngineError::Crashed {
            message: "the completed LoadForge run has no error_rate".into(),
            partial: None,
        }
    })?;
    if aggregate.latency_ms.avg.is_none() {
        return Err(EngineError::Crashed {
            message: "the completed LoadForge run has no avg_response_time".into(),
            partial: None,
        });
    }
    let endpoints = run
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let raw = e.get("name").and_then(Value::as_str)?;
                    let method = e.get("method").and_then(Value::as_str).map(str::to_string);
                    let name = super::locust::endpoint_name(method.as_deref().unwrap_or(""), raw);
                    stats_from(name, method, e, duration_s)
                })
                .collect()
        })
        .unwrap_or_default();
    let cloud_url = ["url", "web_url", "report_url"]
        .iter()
        .find_map(|k| run.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    Ok(RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: RunMeta {
            engine: "loadforge".into(),
            model: LoadModel::Closed,
            scenario: Some(format!("LoadForge test {}", plan.test_id)),
            target: plan.host.clone(),
            users: plan.users,
            spawn_rate: plan.spawn_rate,
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_s,
            warmup_s: 0.0,
            interrupted,
            // LoadForge runs Locust: its percentiles carry Locust's rounding.
            quantised: true,
            shard: None,
            cloud_url,
            rate: None,
            aborted: None,
        },
        ci: None,
        aggregate,
        endpoints,
        timeseries: Vec::new(),
    })
}

pub fn run(plan: &LoadForgePlan, stop: &CancellationToken) -> Result<RunResult, EngineError> {
    let api = Api {
        plan,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("loadforge-gate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Start(e.to_string()))?,
    };
    let started_at = SystemTime::now();
    let start = Instant::now();
    let body = json!({
        "host": plan.host,
        "users": plan.users,
        "spawn_rate": plan.spawn_rate,
        "run_time": plan.run_time.as_secs().max(1),
    });
    let started = api.call(
        reqwest::Method::POST,
        &format!("api/v1/tests/{}/start/", plan.test_id),
        Some(&body),
        &format!("the start of test {}", plan.test_id),
    )?;
    let run_id = match started.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(EngineError::Crashed {
                message: "LoadForge started the test but returned no run `id`".into(),
                partial: None,
            })
        }
    };
    eprintln!(
        "loadforge-gate: LoadForge run {run_id} started for test {}",
        plan.test_id
    );
    let poll_path = format!("api/v1/test-runs/{run_id}/");
    let deadline = start + plan.max_wait;
    let mut last_status = String::from("unknown");
    loop {
        // Sleep in small steps so an interruption is seen at once.
        let next = Instant::now() + plan.poll_interval;
        while Instant::now() < next && !stop.is_cancelled() {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
        }
        if stop.is_cancelled() {
            let stopped = api.call(
                reqwest::Method::POST,
                &format!("api/v1/test-runs/{run_id}/stop/"),
                None,
                "the stop request",
            );
            match stopped {
                Ok(_) => eprintln!("loadforge-gate: asked LoadForge to stop run {run_id}"),
                Err(_) => eprintln!(
                    "loadforge-gate: LoadForge offers no way to stop run {run_id} here: it keeps running in the cloud until its run time ends"
                ),
            }
            return Err(EngineError::Interrupted(format!(
                "interrupted while LoadForge run {run_id} was {last_status}"
            )));
        }
        if Instant::now() > deadline {
            return Err(EngineError::Crashed {
                message: format!(
                    "gave up after waiting {}s for LoadForge run {run_id} (last status: {last_status}); raise --max-wait",
                    start.elapsed().as_secs()
                ),
                partial: None,
            });
        }
        let run = api.call(
            reqwest::Method::GET,
            &poll_path,
            None,
            &format!("run {run_id}"),
        )?;
        last_status = run
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        match last_status.as_str() {
            "completed" => return to_result(plan, &run, started_at, false, plan.run_time),
            "failed" => {
                return Err(EngineError::Crashed {
                    message: format!("the LoadForge run {run_id} failed"),
                    partial: None,
                })
            }
            other => eprintln!(
                "[{:>5.0}s] LoadForge run {run_id}: {other}",
                start.elapsed().as_secs_f64()
            ),
        }
    }
}
