//! An in-process LoadForge that follows the seed's API and really runs the load: starting a
//! test runs the native engine (the seed's OAuth flow) against the requested host in the
//! background, and polling reports `running` until that load is done, then `completed` with the
//! real average and error rate. It can be told to fail, stall, answer 401/500/429 or garbage.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Path as UrlPath, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use loadforge_gate::sample_app::Served;
use loadforge_gate::{
    engine::{native, NativePlan, Target},
    scenario::Scenario,
    stats::RunResult,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "lf_live_fake_token_0042";
pub const TEST_ID: &str = "4711";

#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Report percentiles, counts, per-endpoint stats and the run page.
    pub extras: bool,
    /// The run ends as `failed`.
    pub fail: bool,
    /// The run never finishes.
    pub stall: bool,
    /// Polls answer with invalid JSON.
    pub garbage: bool,
    /// The next N requests get a 500.
    pub errors_5xx: usize,
    /// The next poll gets a 429 with this Retry-After.
    pub rate_limit: Option<u64>,
    /// Whether `POST /test-runs/{id}/stop/` exists.
    pub stop_supported: bool,
    /// Rows added as they are to the `endpoints` of a completed run (with `extras`).
    pub more_endpoints: Vec<Value>,
}

struct FakeRun {
    result: Arc<Mutex<Option<RunResult>>>,
    stop: CancellationToken,
}

#[derive(Default)]
pub struct Inner {
    pub behaviour: Behaviour,
    runs: HashMap<String, FakeRun>,
    pub starts: Vec<Value>,
    pub stops: usize,
    pub calls: usize,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeLoadForge {
    pub addr: SocketAddr,
    state: Shared,
    server: Option<Served>,
}

impl FakeLoadForge {
    pub fn start(behaviour: Behaviour) -> FakeLoadForge {
        let state: Shared = Arc::new(Mutex::new(Inner {
            behaviour,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v1/tests/{test}/start/", post(start))
            .route("/api/v1/test-runs/{run}/", get(poll))
            .route("/api/v1/test-runs/{run}/stop/", post(stop))
            .with_state(state.clone());
        let server = Served::start("127.0.0.1:0", app, 1).unwrap();
        FakeLoadForge {
            addr: server.addr,
            state,
            server: Some(server),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

impl Drop for FakeLoadForge {
    fn drop(&mut self) {
        // Stop the load runs first, then the server.
        for r in self.state.lock().unwrap().runs.values() {
            r.stop.cancel();
        }
        drop(self.server.take());
    }
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"detail": text}))).into_response()
}

/// Authentication and injected faults, common to every endpoint.
fn gate(s: &mut Inner, headers: &HeaderMap) -> Option<Response> {
    s.calls += 1;
    if s.behaviour.errors_5xx > 0 {
        s.behaviour.errors_5xx -= 1;
        return Some(detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Token {TOKEN}")) {
        return Some(detail(StatusCode::UNAUTHORIZED, "Invalid token."));
    }
    None
}

async fn start(
    State(s): State<Shared>,
    UrlPath(test): UrlPath<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut st = s.lock().unwrap();
    if let Some(r) = gate(&mut st, &headers) {
        return r;
    }
    if test != TEST_ID {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let (Some(host), Some(users), Some(spawn_rate), Some(run_time)) = (
        body["host"].as_str(),
        body["users"].as_u64(),
        body["spawn_rate"].as_f64(),
        body["run_time"].as_u64(),
    ) else {
        return detail(
            StatusCode::BAD_REQUEST,
            "host, users, spawn_rate and run_time (seconds) are required",
        );
    };
    st.starts.push(body.clone());
    let id = format!("run-{}", st.starts.len());
    let result = Arc::new(Mutex::new(None));
    let stop = CancellationToken::new();
    let plan = NativePlan {
        scenario: Arc::new(
            Scenario::parse(
                include_str!("../../examples/scenarios/oauth-api.yml"),
                Path::new("oauth-api.yml"),
                &|_| None,
            )
            .unwrap(),
        ),
        scenario_name: "oauth-api".into(),
        target: Target::from_url(&url::Url::parse(host).unwrap()).unwrap(),
        users: users as u32,
        spawn_rate,
        run_time: Duration::from_secs(run_time),
        workers: 1,
        progress_every: None,
        warmup: Duration::ZERO,
        rate: None,
        ramp: Duration::ZERO,
        watchdog: None,
        // LoadForge's own generators: nothing of theirs is ours to measure.
        meters: false,
        paired: None,
    };
    {
        let result = result.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let r = native::run(&plan, &stop).unwrap();
            *result.lock().unwrap() = Some(r);
        });
    }
    st.runs.insert(id.clone(), FakeRun { result, stop });
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "status": "queued"})),
    )
        .into_response()
}

async fn poll(
    State(s): State<Shared>,
    UrlPath(run): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let mut st = s.lock().unwrap();
    if let Some(r) = gate(&mut st, &headers) {
        return r;
    }
    if let Some(secs) = st.behaviour.rate_limit.take() {
        let mut r = detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled.");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return r;
    }
    if st.behaviour.garbage {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\": \"compl",
        )
            .into_response();
    }
    let b = st.behaviour.clone();
    let Some(fake) = st.runs.get(&run) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let done = fake.result.lock().unwrap().clone();
    match done {
        _ if b.stall => Json(json!({"id": run, "status": "running"})).into_response(),
        None => Json(json!({"id": run, "status": "running"})).into_response(),
        Some(_) if b.fail => Json(json!({"id": run, "status": "failed"})).into_response(),
        Some(r) => {
            let a = &r.aggregate;
            let mut body = json!({
                "id": run,
                "status": "completed",
                "avg_response_time": a.latency_ms.avg,
                "error_rate": a.error_rate,
            });
            if b.extras {
                body["p95_response_time"] = json!(a.latency_ms.p95);
                body["p99_response_time"] = json!(a.latency_ms.p99);
                body["total_requests"] = json!(a.requests);
                body["requests_per_second"] = json!(a.rps);
                body["url"] = json!(format!("https://app.loadforge.com/test-runs/{run}"));
                body["endpoints"] = Value::Array(
                    r.endpoints
                        .iter()
                        .map(|e| json!({"name": e.name, "method": e.method, "num_requests": e.requests, "num_failures": e.failures, "avg_response_time": e.latency_ms.avg, "p95_response_time": e.latency_ms.p95}))
                        .chain(b.more_endpoints.iter().cloned())
                        .collect(),
                );
            }
            Json(body).into_response()
        }
    }
}

async fn stop(
    State(s): State<Shared>,
    UrlPath(run): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let mut st = s.lock().unwrap();
    if let Some(r) = gate(&mut st, &headers) {
        return r;
    }
    if !st.behaviour.stop_supported {
        return detail(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method \"POST\" not allowed.",
        );
    }
    st.stops += 1;
    match st.runs.get(&run) {
        Some(r) => {
            r.stop.cancel();
            Json(json!({"id": run, "status": "stopping"})).into_response()
        }
        None => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}
