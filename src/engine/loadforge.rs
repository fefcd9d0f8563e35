//! `--engine loadforge`: dispatch the test to LoadForge's cloud, as LoadForge's own CI examples do, and
//! wait for it. Start a run of a configured test (host, users, spawn rate, run time in seconds),
//! poll the run until `completed` or `failed`, and map what the API returns into a
//! [`RunResult`]: the average response time and error rate always; percentiles, counts and
//! per-endpoint figures only when the response carries them (absent otherwise, never zero).

use std::time::{Duration, Instant, SystemTime};

use reqwest::{blocking::Response, header, Method};

use crate::tls::ClientNet;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::EngineError;
use crate::{
    defaults::USER_AGENT,
    pause::pause,
    quote::quote,
    retry::{self, Attempt, GiveUp, Outcome, Policy},
    secret::{redact_url, Secret},
    stats::{EndpointStats, LatencySummary, RunMeta, RunResult, ToolInfo, SCHEMA},
};

/// Everything the LoadForge engine needs, already validated.
#[derive(Debug, Clone)]
pub(crate) struct LoadForgePlan {
    /// LoadForge's API.
    pub(crate) base_url: Url,
    /// The API token; it goes only into the `Authorization` header, never into a message.
    pub(crate) token: Secret,
    /// The LoadForge test to run.
    pub(crate) test_id: String,
    /// The host the test loads, without a trailing slash.
    pub(crate) host: String,
    /// Concurrent users.
    pub(crate) users: u32,
    /// Users started per second.
    pub(crate) spawn_rate: f64,
    /// Test length (LoadForge takes whole seconds).
    pub(crate) run_time: Duration,
    /// How often the run is polled.
    pub(crate) poll_interval: Duration,
    /// How long to wait for the run to finish before giving up.
    pub(crate) max_wait: Duration,
    /// Retries of each API call (429 honouring `Retry-After`, 5xx, connection errors).
    pub(crate) retry: Policy,
    /// Extra CAs (`SSL_CERT_FILE`) and `--no-proxy` for the API client.
    pub(crate) net: ClientNet,
}

/// Retries of LoadForge API calls: a second of backoff doubling to at most 30 s, five tries,
/// two minutes in all.
pub(crate) const RETRY: Policy = Policy {
    first_backoff: Duration::from_secs(1),
    max_backoff: Duration::from_secs(30),
    max_attempts: 5,
    budget: Duration::from_secs(120),
};

/// The percentiles a LoadForge run can carry (the average and error rate always; counts,
/// minimum and maximum when present).
pub(crate) const REPORTED_PERCENTILES: &[f64] = &[50.0, 90.0, 95.0, 99.0];

/// How long one API request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a run of the plan's test on LoadForge, waits for it to complete, and maps what it
/// reports. SIGINT/SIGTERM (`stop`) asks LoadForge to stop the run and ends with
/// [`EngineError::Interrupted`].
pub(crate) fn run(
    plan: &LoadForgePlan,
    stop: &CancellationToken,
) -> Result<RunResult, EngineError> {
    let api = Api::new(plan, stop)?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let run_id = api.start()?;
    eprintln!(
        "loadforge-gate: LoadForge run {} started for test {}",
        quote(&run_id),
        plan.test_id
    );
    let run = api.wait_for(&run_id, start)?;
    to_result(plan, &run, started_at, plan.run_time)
}

/// LoadForge's REST API, as this engine calls it.
struct Api<'a> {
    plan: &'a LoadForgePlan,
    http: reqwest::blocking::Client,
    /// `Token ...`, marked sensitive.
    auth: header::HeaderValue,
    stop: &'a CancellationToken,
}

/// One API call; `what` names it in messages.
struct Call<'a> {
    method: Method,
    path: String,
    body: Option<&'a Value>,
    what: String,
}

type Sent = Result<Response, reqwest::Error>;

impl<'a> Api<'a> {
    fn new(plan: &'a LoadForgePlan, stop: &'a CancellationToken) -> Result<Api<'a>, EngineError> {
        let builder = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(USER_AGENT);
        let http = plan
            .net
            .apply(builder)
            .map_err(|e| EngineError::Setup {
                action: "set up TLS for the LoadForge client".into(),
                source: e.into(),
            })?
            .build()
            .map_err(|e| EngineError::Setup {
                action: "set up the HTTP client for LoadForge".into(),
                source: e.into(),
            })?;
        // The parse error is dropped on purpose: nothing of the token may reach a message.
        let mut auth = header::HeaderValue::from_str(&format!("Token {}", plan.token.expose()))
            .map_err(|_| {
                EngineError::Config(
                    "LOADFORGE_API_TOKEN is not a valid header value; check the token".into(),
                )
            })?;
        auth.set_sensitive(true);
        Ok(Api {
            plan,
            http,
            auth,
            stop,
        })
    }

    /// Starts the test; returns the id of the new run.
    fn start(&self) -> Result<String, EngineError> {
        let plan = self.plan;
        let body = json!({
            "host": plan.host,
            "users": plan.users,
            "spawn_rate": plan.spawn_rate,
            "run_time": plan.run_time.as_secs().max(1),
        });
        let started = self.call(
            &Call {
                method: Method::POST,
                path: format!("api/v1/tests/{}/start/", plan.test_id),
                body: Some(&body),
                what: format!("the start of test {}", plan.test_id),
            },
            true,
        )?;
        match started.get("id") {
            // The id goes into the next calls' paths: only a plain id is taken, never one that
            // could name another path (`../`, `?`, `#`) for the token to be sent to.
            Some(Value::String(s)) if is_plain_id(s) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Err(crashed(format!(
                "LoadForge started the test but returned a run `id` that is not a plain id: {}",
                quote(s)
            ))),
            _ => Err(crashed(
                "LoadForge started the test but returned no run `id`".into(),
            )),
        }
    }

    /// Polls the run until it completes and returns what LoadForge reports of it. A failed or
    /// stalled run is an error; an interruption stops the run in the cloud.
    fn wait_for(&self, run_id: &str, start: Instant) -> Result<Value, EngineError> {
        let deadline = start + self.plan.max_wait;
        // LoadForge's words in our messages: quoted (one line, a bounded length).
        let shown = quote(run_id);
        let mut status = String::from("unknown");
        loop {
            if !pause(self.plan.poll_interval, self.stop) {
                return Err(self.stop_run(run_id, &status));
            }
            if Instant::now() > deadline {
                return Err(crashed(format!(
                    "gave up after waiting {}s for LoadForge run {shown} (last status: {status}); raise --max-wait",
                    start.elapsed().as_secs()
                )));
            }
            let run = match self.poll(run_id) {
                Err(_) if self.stop.is_cancelled() => return Err(self.stop_run(run_id, &status)),
                polled => polled?,
            };
            status = quote(
                run.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown"),
            );
            match status.as_str() {
                "completed" => return Ok(run),
                "failed" => return Err(crashed(format!("the LoadForge run {shown} failed"))),
                other => eprintln!(
                    "[{:>5.0}s] LoadForge run {shown}: {other}",
                    start.elapsed().as_secs_f64()
                ),
            }
        }
    }

    fn poll(&self, run_id: &str) -> Result<Value, EngineError> {
        self.call(
            &Call {
                method: Method::GET,
                path: format!("api/v1/test-runs/{run_id}/"),
                body: None,
                what: format!("run {}", quote(run_id)),
            },
            true,
        )
    }

    /// Asks LoadForge to stop the run (where it can) and says what became of it.
    fn stop_run(&self, run_id: &str, status: &str) -> EngineError {
        let shown = quote(run_id);
        let stopped = self.call(
            &Call {
                method: Method::POST,
                path: format!("api/v1/test-runs/{run_id}/stop/"),
                body: None,
                what: "the stop request".into(),
            },
            // The run is already being stopped: this call's waits must not be cut short.
            false,
        );
        match stopped {
            Ok(_) => eprintln!("loadforge-gate: asked LoadForge to stop run {shown}"),
            Err(_) => eprintln!(
                "loadforge-gate: LoadForge offers no way to stop run {shown} here: it keeps running in the cloud until its run time ends"
            ),
        }
        EngineError::Interrupted(format!(
            "interrupted while LoadForge run {shown} was {status}"
        ))
    }

    /// One call, retried as the plan's policy allows; its waits end early on a stop when
    /// `interruptible`. 401/403/404 are configuration errors.
    fn call(&self, call: &Call<'_>, interruptible: bool) -> Result<Value, EngineError> {
        let url = self.plan.base_url.join(&call.path).map_err(|e| EngineError::Invalid {
            message: format!(
                "cannot make a LoadForge URL for {}; check LOADFORGE_GATE_LOADFORGE_URL and LOADFORGE_TEST_ID",
                call.what
            ),
            source: e.into(),
        })?;
        let wait = |d| {
            if interruptible {
                pause(d, self.stop)
            } else {
                std::thread::sleep(d);
                true
            }
        };
        let outcome = retry::call(&self.plan.retry, wait, || self.attempt(call, &url));
        self.answer(call, &url, outcome)
    }

    /// One try, and whether another may fare better.
    fn attempt(&self, call: &Call<'_>, url: &Url) -> Attempt<Sent> {
        let mut req = self
            .http
            .request(call.method.clone(), url.clone())
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(body) = call.body {
            req = req.json(body);
        }
        let sent = req.send();
        let again = match &sent {
            Ok(r) if retry::is_transient_status(r.status().as_u16()) => {
                Some(retry::retry_after(r.headers(), &self.plan.retry))
            }
            Err(e) if retry::is_transient_error(e) => Some(None),
            _ => None,
        };
        match again {
            Some(retry_after) => Attempt::Again {
                last: sent,
                retry_after,
            },
            None => Attempt::Done(sent),
        }
    }

    /// What the last try got, as the call's JSON answer or an error.
    fn answer(
        &self,
        call: &Call<'_>,
        url: &Url,
        outcome: Outcome<Sent>,
    ) -> Result<Value, EngineError> {
        let what = &call.what;
        if outcome.gave_up == Some(GiveUp::Stopped) {
            return Err(EngineError::Interrupted(format!(
                "interrupted while retrying {what}"
            )));
        }
        let resp = outcome.value.map_err(|e| EngineError::Api {
            message: format!(
                "LoadForge API {what}: {} ({})",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "could not connect"
                },
                url.origin().ascii_serialization()
            ),
            source: e.without_url().into(),
        })?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(self.refused(what, status, outcome.retries, outcome.gave_up));
        }
        let cap = crate::defaults::MAX_API_ANSWER_BYTES;
        let text = crate::capped::read_capped(resp, cap)
            .map_err(|e| EngineError::Api {
                message: format!("LoadForge's answer to {what} could not be read"),
                source: e.into(),
            })?
            .ok_or_else(|| EngineError::Api {
                message: format!(
                    "LoadForge's answer to {what} is larger than {} MiB",
                    cap >> 20
                ),
                source: "refused unread".into(),
            })?;
        serde_json::from_slice(&text).map_err(|e| EngineError::Api {
            message: format!("LoadForge sent invalid JSON for {what}"),
            source: e.into(),
        })
    }

    /// The error for an answer with an error status.
    fn refused(
        &self,
        what: &str,
        status: u16,
        retries: u32,
        gave_up: Option<GiveUp>,
    ) -> EngineError {
        let test = &self.plan.test_id;
        match status {
            401 | 403 => EngineError::Config(format!(
                "LoadForge refused {what} (HTTP {status}): check LOADFORGE_API_TOKEN and that it may run test {test}"
            )),
            404 => EngineError::Config(format!(
                "LoadForge found no {what} (HTTP 404): check LOADFORGE_TEST_ID ({test})"
            )),
            _ => {
                let asked = match gave_up {
                    Some(GiveUp::RetryAfter(_)) => {
                        "; LoadForge asked for a longer wait than the retry budget allows"
                    }
                    _ => "",
                };
                crashed(format!(
                    "LoadForge API {what} failed with HTTP {status} after {retries} retries{asked}"
                ))
            }
        }
    }
}

/// A failure with nothing measured.
fn crashed(message: String) -> EngineError {
    EngineError::Crashed {
        message,
        partial: None,
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
        received: None,
        protocol: None,
    })
}

/// Maps a completed run into a result.
fn to_result(
    plan: &LoadForgePlan,
    run: &Value,
    started_at: SystemTime,
    duration: Duration,
) -> Result<RunResult, EngineError> {
    let duration_s = duration.as_secs_f64();
    let aggregate = stats_from(crate::stats::ALL_REQUESTS.into(), None, run, duration_s)
        .ok_or_else(|| crashed("the completed LoadForge run has no error_rate".into()))?;
    if aggregate.latency_ms.avg.is_none() {
        return Err(crashed(
            "the completed LoadForge run has no avg_response_time".into(),
        ));
    }
    let meta = RunMeta {
        scenario: Some(format!("LoadForge test {}", plan.test_id)),
        // LoadForge runs Locust: its percentiles carry Locust's rounding.
        quantised: true,
        cloud_url: cloud_url(run),
        ..RunMeta::new(
            crate::stats::Engine::LoadForge,
            plan.host.clone(),
            plan.users,
            plan.spawn_rate,
            RunMeta::timestamp(started_at),
            duration_s,
        )
    };
    Ok(RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: meta,
        ci: None,
        aggregate,
        endpoints: endpoints(run, duration_s),
        timeseries: Vec::new(),
        paired: None,
    })
}

/// The per-endpoint figures, when the run carries them.
fn endpoints(run: &Value, duration_s: f64) -> Vec<EndpointStats> {
    let Some(list) = run.get("endpoints").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let raw = e.get("name").and_then(Value::as_str)?;
            let method = e.get("method").and_then(Value::as_str).map(str::to_string);
            let name = super::locust::endpoint_name(method.as_deref().unwrap_or(""), raw);
            stats_from(name, method, e, duration_s)
        })
        .collect()
}

/// The run's page in LoadForge, for links in reports: any credentials in it redacted, since
/// every report shows it.
fn cloud_url(run: &Value) -> Option<String> {
    ["url", "web_url", "report_url"]
        .iter()
        .find_map(|k| run.get(*k).and_then(Value::as_str))
        .map(redact_url)
}

/// A run id fit for a URL path: letters, digits, `-` and `_`, at most 128 of them.
fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    /// A run id from LoadForge's answer goes into a path only when it is a plain id.
    #[test]
    fn only_a_plain_run_id_goes_into_a_path() {
        for good in ["12345", "run_7-a", "A1"] {
            assert!(super::is_plain_id(good), "{good}");
        }
        for bad in [
            "",
            "../tests/1",
            "1?x=2",
            "1#f",
            "a/b",
            "é",
            &"9".repeat(129),
        ] {
            assert!(!super::is_plain_id(bad), "{bad}");
        }
    }

    use super::*;

    /// Every URL the gate prints is redacted like `--host`: the run's page too.
    #[test]
    fn the_cloud_run_link_never_shows_credentials() {
        let run = json!({"url": "https://me:hunter2@app.loadforge.com/runs/7"});
        assert_eq!(
            cloud_url(&run).as_deref(),
            Some("https://***@app.loadforge.com/runs/7")
        );
        let run = json!({"web_url": "https://app.loadforge.com/runs/7"});
        assert_eq!(
            cloud_url(&run).as_deref(),
            Some("https://app.loadforge.com/runs/7")
        );
    }
}
