//! Cookies, redirects and form bodies of the native engine (issue #11), against small recording
//! servers on loopback and against the sample app's web login.

use std::{
    io::{Read, Write},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use loadforge_gate::sample_app::{Knobs, Served};

use crate::harness::{example, reasons, sample_app, Gate, Output};

/// What a recording server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    cookie: Option<String>,
    content_type: Option<String>,
    body: String,
    headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Probe {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Where `/away` redirects: another origin (another loopback port).
    other: Arc<Mutex<String>>,
    /// How many cookies `/many` has set so far: each of its answers sets 100 new ones.
    minted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Probe {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

fn header_of(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_string())
}

fn redirect(status: u16, to: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::LOCATION, to.to_string())],
    )
        .into_response()
}

fn set_cookies(values: &[&str]) -> Response {
    let mut r = "cookies set".into_response();
    for v in values {
        r.headers_mut()
            .append(header::SET_COOKIE, v.parse().unwrap());
    }
    r
}

/// Records every request, then answers by path: cookie setters, redirect chains and loops,
/// method-changing redirects, and a redirect to another origin.
async fn probe(State(p): State<Probe>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    p.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|pq| pq.to_string())
            .unwrap_or_default(),
        cookie: header_of(&parts.headers, header::COOKIE),
        content_type: header_of(&parts.headers, header::CONTENT_TYPE),
        body: String::from_utf8_lossy(&body).into_owned(),
        headers: parts.headers.clone(),
    });
    match path.as_str() {
        "/set" => set_cookies(&[
            "plain=1; Path=/",
            "sec=1; Secure; Path=/",
            "scoped=1; Path=/scoped",
            "old=1; Path=/",
        ]),
        "/expire" => set_cookies(&["old=x; Path=/; Max-Age=0"]),
        "/login" => {
            let mut r = redirect(302, "/landing");
            r.headers_mut().append(
                header::SET_COOKIE,
                "sid=abc123; Path=/; HttpOnly".parse().unwrap(),
            );
            r
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            redirect(302, "/chain/2")
        }
        "/chain/2" => redirect(301, "1"),
        "/chain/1" => redirect(
            302,
            &format!("http://{}/chain/0", parts.headers["host"].to_str().unwrap()),
        ),
        "/chain/0" => "end of chain".into_response(),
        "/loop" => redirect(302, "/loop"),
        "/post302" => redirect(302, "/method"),
        "/post303" => redirect(303, "/method"),
        "/post307" => redirect(307, "/method"),
        "/near" => redirect(302, "/method"),
        "/away" => redirect(302, &format!("{}/method", p.other.lock().unwrap())),
        "/ftp" => redirect(302, "ftp://127.0.0.1/file"),
        "/many" => {
            use std::sync::atomic::Ordering;
            let first = p.minted.fetch_add(100, Ordering::Relaxed);
            let values: Vec<String> = (first..first + 100)
                .map(|i| format!("tracker{i}={}; Path=/", "v".repeat(10)))
                .collect();
            set_cookies(&values.iter().map(String::as_str).collect::<Vec<_>>())
        }
        "/big" => set_cookies(&[&format!("big={}; Path=/", "b".repeat(5000))]),
        "/fat" => set_cookies(&[
            &format!("fat1={}; Path=/", "f".repeat(1000)),
            &format!("fat2={}; Path=/", "f".repeat(1000)),
        ]),
        "/few" => set_cookies(&["a=1; Path=/", "b=1; Path=/", "c=1; Path=/"]),
        _ => (StatusCode::OK, Body::from("ok")).into_response(),
    }
}

fn probe_server() -> (Probe, Served) {
    let p = Probe::default();
    let router = Router::new().fallback(probe).with_state(p.clone());
    let served = Served::start("127.0.0.1:0", router, 1).expect("probe starts");
    (p, served)
}

/// One user runs `scenario` once (its tasks wait long after their first run) for a second.
fn run_once(scenario: &str, url: &str, exit: i32) -> Output {
    Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", "1", "--spawn-rate", "10", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .run()
        .expect_exit(exit)
}

fn endpoint<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name}: {r}"))
}

const IDLE_TASK: &str = "tasks: [{request: {name: idle, path: /idle}}]\nwait: 30\n";

#[test]
fn cookies_go_back_by_path_secure_and_expiry() {
    let (p, server) = probe_server();
    let scenario = format!(
        "on_start:\n  - request: {{path: /set}}\n  - request: {{path: /echo}}\n  - request: {{path: /scoped/echo}}\n  - request: {{path: /expire}}\n  - request: {{path: /after}}\n{IDLE_TASK}"
    );
    run_once(&scenario, &server.url(), 0);
    let cookie = |path: &str| p.at(path)[0].cookie.clone().unwrap_or_default();
    assert_eq!(p.at("/set")[0].cookie, None, "nothing to send yet");
    let echo = cookie("/echo");
    assert!(echo.contains("plain=1") && echo.contains("old=1"), "{echo}");
    assert!(
        !echo.contains("sec=1"),
        "a Secure cookie never goes over http: {echo}"
    );
    assert!(!echo.contains("scoped=1"), "outside its path: {echo}");
    let scoped = cookie("/scoped/echo");
    assert!(
        scoped.contains("scoped=1") && scoped.contains("plain=1"),
        "{scoped}"
    );
    let after = cookie("/after");
    assert!(
        after.contains("plain=1") && !after.contains("old"),
        "expired: {after}"
    );
}

/// The jar is capped as a browser caps it, so memory is bounded by configuration and never by
/// what the target sends: a target that sets 100 new cookies on every answer gets back at most
/// 50 for its domain, and the cookies it set past that are counted in `run.cookies_dropped`,
/// not as failed requests (the requests themselves succeeded).
#[test]
fn the_cookie_jar_is_capped_when_a_target_sets_100_new_cookies_per_response() {
    let (p, server) = probe_server();
    let scenario = "tasks: [{request: {name: many, path: /many}}]\n";
    let out = run_once(scenario, &server.url(), 0);
    let sent: Vec<Seen> = p.at("/many");
    assert!(sent.len() >= 3, "only {} requests", sent.len());
    let most = sent
        .iter()
        .map(|s| s.cookie.as_deref().map_or(0, |c| c.split("; ").count()))
        .max()
        .unwrap_or_default();
    assert_eq!(most, 50, "cookies sent back at most, for one domain");
    let longest = sent
        .iter()
        .map(|s| s.cookie.as_deref().map_or(0, str::len))
        .max()
        .unwrap_or_default();
    assert!(longest < 2048, "a Cookie header of {longest} bytes");
    let r = out.results();
    assert_eq!(
        endpoint(&r, "many")["failures"],
        0,
        "a dropped cookie is not a failure"
    );
    let dropped = &r["run"]["cookies_dropped"];
    let requests = endpoint(&r, "many")["requests"].as_u64().unwrap();
    assert!(
        dropped["domain_full"].as_u64().unwrap_or_default() >= 50 * requests.saturating_sub(1),
        "{dropped} after {requests} requests"
    );
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("were dropped, as a browser drops them"),
        "{notes}"
    );
    assert!(
        crate::schema::schema().is_valid(&r),
        "results.json with cookies_dropped is valid"
    );
}

/// The other caps: one cookie's name and value at most 4096 bytes, and the user's jar at most
/// `defaults.max_cookies` cookies and `defaults.max_cookies_kib` KiB (each cookie weighing about
/// 240 bytes besides its text); each drop counted under the cap that refused it.
#[test]
fn the_cookie_jar_caps_one_cookies_size_and_the_users_count_and_bytes() {
    let (p, server) = probe_server();
    let scenario = format!(
        "defaults: {{max_cookies: 3, max_cookies_kib: 2}}\non_start:\n  - request: {{path: /big}}\n  - request: {{path: /fat}}\n  - request: {{path: /few}}\n  - request: {{path: /echo}}\n{IDLE_TASK}"
    );
    let out = run_once(&scenario, &server.url(), 0);
    let echo = p.at("/echo")[0].cookie.clone().unwrap_or_default();
    let mut names: Vec<&str> = echo
        .split("; ")
        .filter_map(|c| c.split('=').next())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "fat1"], "{echo}");
    let dropped = &out.results()["run"]["cookies_dropped"];
    assert_eq!(dropped["too_large"], 1, "{dropped}");
    assert_eq!(dropped["max_cookies_kib"], 1, "{dropped}");
    assert_eq!(dropped["max_cookies"], 1, "{dropped}");
    assert_eq!(dropped.get("domain_full"), None, "{dropped}");
}

#[test]
fn cookies_false_turns_the_jar_off() {
    let (p, server) = probe_server();
    let scenario = format!(
        "defaults: {{cookies: false}}\non_start:\n  - request: {{path: /set}}\n  - request: {{path: /echo}}\n{IDLE_TASK}"
    );
    run_once(&scenario, &server.url(), 0);
    assert_eq!(p.at("/echo").len(), 1);
    assert_eq!(p.at("/echo")[0].cookie, None);
}

#[test]
fn cookies_are_set_by_a_step_and_extracted_from_a_redirecting_login() {
    let (p, server) = probe_server();
    let scenario = format!(
        r#"on_start:
  - set_cookies: {{pref: dark}}
  - request: {{path: /echo}}
  - request: {{path: /login, method: POST, form: {{user: "a b", pw: "x&y"}}, extract: {{sid: "cookie:sid"}}}}
  - request: {{path: "/seen?sid=${{sid}}"}}
  - request: {{name: missing, path: /echo2, extract: {{nope: "cookie:nope"}}}}
{IDLE_TASK}"#
    );
    let out = run_once(&scenario, &server.url(), 1);
    assert_eq!(p.at("/echo")[0].cookie.as_deref(), Some("pref=dark"));
    let login = &p.at("/login")[0];
    assert_eq!(login.body, "pw=x%26y&user=a+b");
    assert_eq!(
        login.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let landing = p.at("/landing")[0].cookie.clone().unwrap_or_default();
    assert!(
        landing.contains("sid=abc123"),
        "the redirect carries the new cookie: {landing}"
    );
    assert_eq!(p.at("/seen?sid=abc123").len(), 1, "{:?}", p.seen());
    let r = out.results();
    assert_eq!(
        endpoint(&r, "missing")["failures_by_reason"]["extract nope: no cookie nope"],
        1
    );
    assert_eq!(reasons(&r).values().sum::<u64>(), 1, "{:?}", reasons(&r));
}

#[test]
fn a_redirect_chain_is_one_request_with_the_chains_latency_and_the_first_name() {
    let (p, server) = probe_server();
    let scenario = format!(
        "on_start:\n  - request: {{name: start, path: /slow, check: {{status: 200, body_contains: end of chain}}}}\n{IDLE_TASK}"
    );
    let out = run_once(&scenario, &server.url(), 0);
    let paths: Vec<String> = p.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths[..4], ["/slow", "/chain/2", "/chain/1", "/chain/0"]);
    let r = out.results();
    let names: Vec<&str> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["start", "idle"],
        "the hops are not endpoints of their own"
    );
    let start = endpoint(&r, "start");
    assert_eq!(
        (start["requests"].as_u64(), start["failures"].as_u64()),
        (Some(1), Some(0))
    );
    // The first hop alone sleeps 300 ms on the server: a latency below that would be the last
    // hop's only. A lower bound the server enforces, not a timing guess.
    let ms = start["latency_ms"]["min"].as_f64().unwrap();
    assert!(ms >= 300.0, "latency {ms} ms is not the whole chain's");
}

#[test]
fn post_becomes_get_on_302_and_303_and_stays_post_on_307() {
    let (p, server) = probe_server();
    let scenario = format!(
        "on_start:\n  - request: {{method: POST, path: /post302, form: {{x: '1'}}}}\n  - request: {{method: POST, path: /post303, body: hello}}\n  - request: {{method: POST, path: /post307, form: {{x: '1'}}}}\n{IDLE_TASK}"
    );
    run_once(&scenario, &server.url(), 0);
    let hops = p.at("/method");
    assert_eq!(hops.len(), 3, "{hops:?}");
    for get in &hops[..2] {
        assert_eq!((get.method.as_str(), get.body.as_str()), ("GET", ""));
        assert_eq!(get.content_type, None, "{get:?}");
    }
    assert_eq!(
        (hops[2].method.as_str(), hops[2].body.as_str()),
        ("POST", "x=1")
    );
    assert_eq!(
        hops[2].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

/// Canaries in every header that carries a credential: the scenario's own `Cookie`,
/// `Authorization` (from a `set_headers` step), `Proxy-Authorization`, and headers whose values
/// come from `${env.X}` (in `defaults.headers`, a request's `headers` and a `set_headers` step).
const REDIRECT_CANARIES: &[(&str, &str)] = &[
    ("authorization", "Bearer CANARY-redirect-authorization-61"),
    ("cookie", "session=CANARY-redirect-cookie-62"),
    ("proxy-authorization", "Basic CANARY-redirect-proxy-63"),
    ("x-default-key", "CANARY-redirect-env-64"),
    ("x-api-key", "CANARY-redirect-env-64"),
    ("x-session-key", "s-CANARY-redirect-env-64"),
];

/// A redirect to another origin carries none of the request's credentials (as Go's client, and
/// so k6, drops them across domains; `requests` drops `Cookie` on every hop): `Authorization`,
/// the scenario's `Cookie`, `Proxy-Authorization` and every header whose value came from an
/// environment variable. The same origin keeps them all, and a plain header goes everywhere.
#[test]
fn a_scenario_cookie_and_every_credential_are_dropped_on_another_origin_and_kept_on_the_same() {
    let (p, server) = probe_server();
    let (other, other_server) = probe_server();
    *p.other.lock().unwrap() = other_server.url();
    let headers = "{Cookie: session=CANARY-redirect-cookie-62, Proxy-Authorization: Basic CANARY-redirect-proxy-63, X-Api-Key: \"${env.LF_REDIRECT_KEY}\", X-Plain: plain}";
    let scenario = format!(
        "defaults: {{headers: {{X-Default-Key: \"${{env.LF_REDIRECT_KEY}}\"}}}}\non_start:\n  - set_headers: {{Authorization: Bearer CANARY-redirect-authorization-61, X-Session-Key: \"s-${{env.LF_REDIRECT_KEY}}\"}}\n  - request: {{path: /near, headers: {headers}}}\n  - request: {{path: /away, headers: {headers}}}\n{IDLE_TASK}"
    );
    Gate::new()
        .env("LF_REDIRECT_KEY", "CANARY-redirect-env-64")
        .write("s.yml", &scenario)
        .args(["run", "--scenario", "s.yml", "--host", &server.url()])
        .args(["--users", "1", "--spawn-rate", "10", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .run()
        .expect_exit(0);
    let value = |seen: &Seen, name: &str| {
        seen.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let near = p.at("/method");
    assert_eq!(near.len(), 1, "{:?}", p.seen());
    for (name, canary) in REDIRECT_CANARIES {
        assert_eq!(
            value(&near[0], name).as_deref(),
            Some(*canary),
            "the same origin keeps {name}"
        );
    }
    let away = other.at("/method");
    assert_eq!(away.len(), 1, "followed to the other port");
    for (name, _) in REDIRECT_CANARIES {
        assert_eq!(
            value(&away[0], name),
            None,
            "another origin never sees {name}"
        );
    }
    let everything = format!("{:?}", other.seen());
    assert!(
        !everything.contains("CANARY"),
        "a canary reached the other origin: {everything}"
    );
    assert_eq!(value(&away[0], "x-plain").as_deref(), Some("plain"));
}

#[test]
fn follow_redirects_false_returns_the_redirect_itself() {
    let (p, server) = probe_server();
    let scenario = format!(
        "on_start:\n  - request: {{name: once, path: /loop, follow_redirects: false, check: {{status: 302}}}}\n{IDLE_TASK}"
    );
    let out = run_once(&scenario, &server.url(), 0);
    assert_eq!(p.at("/loop").len(), 1);
    assert_eq!(endpoint(&out.results(), "once")["failures"], 0);
}

#[test]
fn an_endless_redirect_is_a_counted_failure_after_ten_hops() {
    let (p, server) = probe_server();
    let scenario = format!("on_start:\n  - request: {{name: loop, path: /loop}}\n{IDLE_TASK}");
    let out = run_once(&scenario, &server.url(), 1);
    let r = out.results();
    assert_eq!(
        endpoint(&r, "loop")["failures_by_reason"]["too many redirects (10)"],
        1
    );
    assert_eq!(p.at("/loop").len(), 11, "the request and ten hops");
}

#[test]
fn a_redirect_to_another_scheme_is_a_counted_failure() {
    let (_p, server) = probe_server();
    let scenario = format!("on_start:\n  - request: {{name: ftp, path: /ftp}}\n{IDLE_TASK}");
    let out = run_once(&scenario, &server.url(), 1);
    assert_eq!(
        endpoint(&out.results(), "ftp")["failures_by_reason"]
            ["redirect to an unsupported scheme (ftp)"],
        1
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_web_login_example_runs_clean_against_the_sample_app() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("web-login.yml"),
            "--host",
            &app.url(),
        ])
        .args(["--users", "6", "--spawn-rate", "20", "--run-time", "5s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<0.001%"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    assert_eq!(
        endpoint(&r, "POST /login")["requests"],
        6,
        "one login per user"
    );
    let pages: u64 = [
        "GET /web/dashboard",
        "GET /web/projects",
        "GET /web/profile",
    ]
    .iter()
    .filter(|n| {
        r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == **n)
    })
    .map(|n| endpoint(&r, n)["requests"].as_u64().unwrap())
    .sum();
    assert!(pages >= 6, "every user browsed: {pages}");
}

/// Sends raw bytes and returns the whole answer (the server closes after it).
fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_sample_apps_web_pages_need_the_session_cookie_from_the_login_form() {
    let app = sample_app(Knobs::default());
    let get = |path: &str, cookie: &str| {
        raw(
            app.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{cookie}\r\n"),
        )
    };
    assert!(get("/login", "").starts_with("HTTP/1.1 200"));
    assert!(get("/web/dashboard", "").starts_with("HTTP/1.1 401"));
    assert!(get("/web/dashboard", "Cookie: session=web_forged\r\n").starts_with("HTTP/1.1 401"));
    let form = "username=u&password=p";
    let login = raw(
        app.addr,
        &format!("POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", form.len()),
    );
    assert!(login.starts_with("HTTP/1.1 302"), "{login}");
    assert!(
        login
            .to_ascii_lowercase()
            .contains("location: /web/dashboard"),
        "{login}"
    );
    let set = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no session cookie: {login}"));
    assert!(set.contains("HttpOnly") && set.contains("Path=/"), "{set}");
    let pair = set.split(';').next().unwrap();
    let page = get("/web/dashboard", &format!("Cookie: {pair}\r\n"));
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("signed in"),
        "{page}"
    );
    let empty = "username=&password=";
    let refused = raw(
        app.addr,
        &format!("POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{empty}", empty.len()),
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
}

/// Requests a recording server saw: `Content-Type` and body.
type Bodies = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A server that keeps every request's `Content-Type` and body, answering 200.
fn recording_server() -> (String, Bodies) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let (mut length, mut kind) = (0usize, String::new());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("content-type:") {
                            kind = line["content-type:".len()..].trim().to_string();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    log.lock().unwrap().push((kind, body));
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if conn.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

#[test]
fn multipart_sends_text_fields_and_files_from_beside_the_scenario() {
    let (url, seen) = recording_server();
    let scenario = "tasks:\n  - request:\n      method: POST\n      path: /upload\n      \
                    multipart:\n        title: \"Q${random.int(1, 4)}\"\n        \
                    report: {file: fixtures/r.csv, content_type: text/csv}\n";
    Gate::new()
        .write("s.yml", scenario)
        .write("fixtures/r.csv", "region,total\nnorth,12\n")
        .args(["run", "--scenario", "s.yml", "--host", &url])
        .args(["--users", "1", "--run-time", "1s", "--progress", "0"])
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0);
    let seen = seen.lock().unwrap();
    let (kind, body) = seen.first().expect("no request arrived");
    let boundary = kind
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{kind}"));
    let body = String::from_utf8_lossy(body);
    assert!(body.starts_with(&format!("--{boundary}\r\n")), "{body}");
    assert!(body.ends_with(&format!("--{boundary}--\r\n")), "{body}");
    assert!(
        body.contains("name=\"report\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\nregion,total\nnorth,12\n\r\n"),
        "{body}"
    );
    let title = body
        .split("name=\"title\"\r\n\r\n")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .unwrap_or_default();
    assert!(["Q1", "Q2", "Q3", "Q4"].contains(&title), "{body}");
}

#[test]
fn a_multipart_file_that_is_missing_is_refused_when_the_scenario_loads() {
    let scenario = "tasks:\n  - request:\n      method: POST\n      path: /upload\n      \
                    multipart: {report: {file: nope.csv}}\n";
    for command in ["run", "validate"] {
        let out = Gate::new()
            .write("s.yml", scenario)
            .args([
                command,
                "--scenario",
                "s.yml",
                "--host",
                "http://127.0.0.1:9",
            ])
            .run()
            .expect_exit(2);
        let line = out.one_line_error();
        assert!(
            line.contains("tasks[0].request.multipart.report")
                && line.contains("relative to the scenario file"),
            "{line}"
        );
    }
}
