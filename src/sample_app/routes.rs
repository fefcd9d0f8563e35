//! Routes of the sample app, grouped by the sample flow they serve.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use axum::{
    extract::{Form, Path, Query, Request, State as AxState},
    http::{header, HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use rand::Rng;
use serde_json::{json, Value};

use super::{Knobs, Shared, State};

pub(crate) fn router(knobs: Knobs) -> Router {
    let shared: Shared = Arc::new((State::default(), knobs));
    Router::new()
        .route(
            "/",
            get(|| async { Json(json!({"service": "loadforge-gate sample app", "status": "ok"})) }),
        )
        .route("/health", get(|| async { "ok" }))
        // Flow 1: login + dashboard + projects + profile.
        .route("/api/v1/auth/login", post(login))
        .route("/dashboard", get(dashboard))
        .route("/api/v1/projects", get(projects))
        .route("/api/v1/account/profile", get(profile))
        // Flow 2: OAuth client credentials + orders + metrics + drafts.
        .route("/oauth/token", post(oauth_token))
        .route("/api/v2/orders", get(orders))
        .route("/api/v2/metrics/orders", get(order_metrics))
        .route("/api/v2/orders/drafts", post(order_draft))
        // Flow 3: shop session + search + product + cart.
        .route("/api/auth/session", post(shop_session))
        .route("/api/catalog/search", get(search))
        .route("/api/catalog/products/{id}", get(product))
        .route("/api/carts/{id}", get(cart))
        .route("/api/carts/{id}/items", post(add_to_cart))
        // Flow 4: admin login + audit logs + async report.
        .route("/api/admin/login", post(admin_login))
        .route("/api/admin/audit-logs", get(audit_logs))
        .route("/api/admin/reports", post(create_report))
        .route("/api/admin/reports/{id}/status", get(report_status))
        // Flow 1, web variant: a login form, a session cookie, pages behind it.
        .route("/login", get(login_form).post(web_login))
        .route("/web/dashboard", get(web_page))
        .route("/web/projects", get(web_page))
        .route("/web/profile", get(web_page))
        .layer(middleware::from_fn_with_state(shared.clone(), knobs_layer))
        .layer(middleware::from_fn(super::gzip::layer))
        .with_state(shared)
}

/// Applies latency, jitter, slow endpoints and injected errors before any handler runs.
async fn knobs_layer(AxState(s): AxState<Shared>, req: Request, next: Next) -> Response {
    let knobs = &s.1;
    let mut delay = knobs.latency.saturating_add(knobs.extra.get());
    if !knobs.jitter.is_zero() {
        let j = rand::rng().random_range(0..=knobs.jitter.as_micros() as u64);
        delay += Duration::from_micros(j);
    }
    for (pattern, extra) in &knobs.slow {
        if pattern.matches(req.uri().path()) {
            delay += *extra;
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    burn(knobs.cpu);
    if knobs.error_rate > 0.0 && rand::rng().random_bool(knobs.error_rate.clamp(0.0, 1.0)) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "injected failure"})),
        )
            .into_response();
    }
    next.run(req).await
}

/// Spends `cpu` of this thread's CPU time. Counted on the thread's own clock, not the wall
/// clock, so a request costs the same CPU however often the thread is preempted meanwhile.
fn burn(cpu: Duration) {
    if cpu.is_zero() {
        return;
    }
    let Some(start) = thread_cpu() else {
        return;
    };
    let mut x = 0u64;
    while thread_cpu().is_some_and(|now| now.saturating_sub(start) < cpu) {
        for i in 0..1000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        }
        std::hint::black_box(x);
    }
}

/// The calling thread's CPU time so far (user and system).
fn thread_cpu() -> Option<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    Some(d(u.user_time()) + d(u.system_time()))
}

fn new_token(s: &State, prefix: &str) -> String {
    let n = s.next_id.fetch_add(1, Ordering::Relaxed);
    let r: u64 = rand::rng().random();
    let token = format!("{prefix}_{n:x}{r:016x}");
    s.tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone());
    token
}

/// Every protected route goes through this: a missing or unknown Bearer token is a 401.
fn authorize(s: &State, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        Some(t)
            if s.tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(t) =>
        {
            Ok(())
        }
        _ => Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({"error": "missing or invalid bearer token"})),
            )
                .into_response(),
        )),
    }
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

fn credentials(body: &Value, user_key: &str) -> Result<(), Box<Response>> {
    let user = body
        .get(user_key)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pass = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if user.is_empty() || pass.is_empty() {
        return Err(Box::new(bad_request(&format!(
            "`{user_key}` and `password` are required"
        ))));
    }
    Ok(())
}

async fn login(AxState(s): AxState<Shared>, Json(body): Json<Value>) -> Response {
    if let Err(r) = credentials(&body, "email") {
        return *r;
    }
    let token = new_token(&s.0, "usr");
    Json(json!({"token": token, "user": {"email": body["email"], "name": "Test User"}}))
        .into_response()
}

async fn dashboard(AxState(s): AxState<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    Html("<!doctype html><html><head><title>Dashboard</title></head><body><h1>Dashboard</h1><ul><li>3 projects</li><li>2 alerts</li></ul></body></html>").into_response()
}

#[derive(serde::Deserialize)]
struct Page {
    per_page: Option<usize>,
    page: Option<usize>,
    limit: Option<usize>,
    page_size: Option<usize>,
}

async fn projects(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(p): Query<Page>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let per_page = p.per_page.unwrap_or(20).min(100);
    let page = p.page.unwrap_or(1).max(1);
    let items: Vec<Value> = (0..per_page)
        .map(|i| {
            let id = (page - 1) * per_page + i + 1;
            json!({"id": id, "name": format!("project-{id}"), "visibility": "private"})
        })
        .collect();
    Json(json!({"page": page, "per_page": per_page, "total": 240, "items": items})).into_response()
}

async fn profile(AxState(s): AxState<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    Json(json!({"email": "test.user@example.com", "name": "Test User", "plan": "team"}))
        .into_response()
}

async fn oauth_token(AxState(s): AxState<Shared>, Json(body): Json<Value>) -> Response {
    if body.get("grant_type").and_then(Value::as_str) != Some("client_credentials") {
        return bad_request("unsupported grant_type (expected client_credentials)");
    }
    let id = body
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let secret = body
        .get("client_secret")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if id.is_empty() || secret.is_empty() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let token = new_token(&s.0, "oat");
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn orders(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(p): Query<Page>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let limit = p.limit.unwrap_or(50).min(200);
    let items: Vec<Value> = (0..limit)
        .map(|i| json!({"id": format!("ord_{}", 10_000 + i), "status": "open", "total": 149.99 + i as f64}))
        .collect();
    Json(json!({"orders": items, "count": limit})).into_response()
}

async fn order_metrics(AxState(s): AxState<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    Json(json!({"window": "24h", "orders": 1284, "revenue": 192_034.5, "p95_fulfilment_hours": 30}))
        .into_response()
}

async fn order_draft(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let Some(items) = body.get("items").and_then(Value::as_array) else {
        return bad_request("`items` must be a list");
    };
    let total: f64 = items
        .iter()
        .map(|i| i["quantity"].as_f64().unwrap_or(0.0) * i["unit_price"].as_f64().unwrap_or(0.0))
        .sum();
    let id = s.0.next_id.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::CREATED,
        Json(json!({"id": format!("draft_{id}"), "status": "draft", "total": total})),
    )
        .into_response()
}

async fn shop_session(AxState(s): AxState<Shared>, Json(body): Json<Value>) -> Response {
    if let Err(r) = credentials(&body, "email") {
        return *r;
    }
    let token = new_token(&s.0, "shp");
    let cart_id = format!("cart_{}", s.0.next_id.fetch_add(1, Ordering::Relaxed));
    s.0.carts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(cart_id.clone(), Vec::new());
    Json(json!({"access_token": token, "cart_id": cart_id})).into_response()
}

#[derive(serde::Deserialize)]
struct Search {
    q: Option<String>,
}

const PRODUCTS: &[(u64, &str, f64)] = &[
    (1012, "office chair", 149.99),
    (1044, "standing desk", 399.0),
    (1098, "monitor arm", 89.5),
    (1121, "desk lamp", 34.0),
    (1203, "ergonomic keyboard", 119.0),
];

async fn search(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Query<Search>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let term = q.q.unwrap_or_default().to_lowercase();
    let hits: Vec<Value> = PRODUCTS
        .iter()
        .filter(|(_, name, _)| term.split_whitespace().any(|w| name.contains(w)))
        .map(|(id, name, price)| json!({"id": id, "name": name, "price": price}))
        .collect();
    Json(json!({"query": term, "results": hits})).into_response()
}

async fn product(AxState(s): AxState<Shared>, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    match PRODUCTS.iter().find(|(pid, _, _)| *pid == id) {
        Some((id, name, price)) => {
            Json(json!({"id": id, "name": name, "price": price, "stock": 12})).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such product"})),
        )
            .into_response(),
    }
}

async fn cart(AxState(s): AxState<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    match s.0.carts.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        Some(items) => Json(json!({"id": id, "items": items})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such cart"})),
        )
            .into_response(),
    }
}

async fn add_to_cart(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let (Some(pid), Some(qty)) = (body["product_id"].as_u64(), body["quantity"].as_u64()) else {
        return bad_request("`product_id` and `quantity` must be integers");
    };
    if !PRODUCTS.iter().any(|(p, _, _)| *p == pid) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such product"})),
        )
            .into_response();
    }
    let mut carts = s.0.carts.lock().unwrap_or_else(|p| p.into_inner());
    match carts.get_mut(&id) {
        Some(items) => {
            // Bounded so a long test cannot grow one cart without limit.
            if items.len() >= 100 {
                items.remove(0);
            }
            items.push(json!({"product_id": pid, "quantity": qty}));
            let count = items.len();
            (
                StatusCode::CREATED,
                Json(json!({"cart_id": id, "items": count})),
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such cart"})),
        )
            .into_response(),
    }
}

async fn admin_login(AxState(s): AxState<Shared>, Json(body): Json<Value>) -> Response {
    if let Err(r) = credentials(&body, "username") {
        return *r;
    }
    let token = new_token(&s.0, "adm");
    Json(json!({"jwt": token, "role": "admin"})).into_response()
}

async fn audit_logs(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(p): Query<Page>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let size = p.page_size.unwrap_or(100).min(500);
    let entries: Vec<Value> = (0..size)
        .map(|i| json!({"id": i, "actor_type": "user", "action": "login", "at": "2026-04-02T10:00:00Z"}))
        .collect();
    Json(json!({"page": p.page.unwrap_or(1), "entries": entries})).into_response()
}

async fn create_report(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    if body.get("report_type").and_then(Value::as_str).is_none() {
        return bad_request("`report_type` is required");
    }
    let id = format!("rpt_{}", s.0.next_id.fetch_add(1, Ordering::Relaxed));
    let mut reports = s.0.reports.lock().unwrap_or_else(|p| p.into_inner());
    if reports.len() > 100_000 {
        reports.clear();
    }
    reports.insert(id.clone(), Instant::now());
    (
        StatusCode::ACCEPTED,
        Json(json!({"report_id": id, "status": "queued"})),
    )
        .into_response()
}

/// Reports complete one second after they were queued.
async fn report_status(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&s.0, &headers) {
        return *r;
    }
    let created =
        s.0.reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied();
    match created {
        Some(t) => {
            let status = if t.elapsed() >= Duration::from_secs(1) {
                "completed"
            } else {
                "running"
            };
            Json(json!({"report_id": id, "status": status})).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such report"})),
        )
            .into_response(),
    }
}

/// The session cookie of the web login.
const SESSION_COOKIE: &str = "session";

async fn login_form() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><title>Sign in</title></head><body><h1>Sign in</h1>",
        "<form method=\"post\" action=\"/login\">",
        "<input name=\"username\"><input name=\"password\" type=\"password\">",
        "<button>Sign in</button></form></body></html>"
    ))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// A browser's login: the form posted, a session cookie set, and a `302` to the dashboard (the
/// pattern a load tool must follow with cookies and redirects on).
async fn web_login(AxState(s): AxState<Shared>, Form(f): Form<LoginForm>) -> Response {
    if f.username.is_empty() || f.password.is_empty() {
        return (
            StatusCode::UNAUTHORIZED,
            Html("<!doctype html><p>username and password are required</p>"),
        )
            .into_response();
    }
    let session = new_token(&s.0, "web");
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, "/web/dashboard".to_string()),
            (
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"),
            ),
        ],
    )
        .into_response()
}

/// The session id in a `Cookie` header, if the request carries one.
fn session_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// A page behind the web login: its title from the path, a `401` without a known session.
async fn web_page(AxState(s): AxState<Shared>, req: Request) -> Response {
    let known = session_of(req.headers()).is_some_and(|id| {
        id.starts_with("web_")
            && s.0
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(id)
    });
    if !known {
        return (
            StatusCode::UNAUTHORIZED,
            Html("<!doctype html><p>sign in first: <a href=\"/login\">/login</a></p>"),
        )
            .into_response();
    }
    let page = req.uri().path().trim_start_matches("/web/");
    Html(format!(
        "<!doctype html><html><head><title>{page}</title></head><body><h1>{page}</h1><p>signed in</p></body></html>"
    ))
    .into_response()
}
