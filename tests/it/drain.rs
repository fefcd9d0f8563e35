//! The native engine's run ends by draining what is in flight: when the run time is up, users
//! start nothing new, and the requests already sent are recorded when they end (their answer,
//! their failure or their own timeout), within the longest request timeout and a margin.
//! Before, they were dropped unrecorded, and the slowest requests most often: a regression that
//! makes some requests slower than what is left of the run lost exactly those.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::harness::{rows_named, Gate};

/// Serves on loopback until the test process ends: `/slow/MS` answers after MS milliseconds,
/// `/never` reads the request and never answers, `/hop/MS` redirects to itself after MS
/// milliseconds, anything else answers at once. Counts the requests it reads.
fn serve() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &counter);
            });
        }
    });
    (url, seen)
}

fn answer(mut conn: TcpStream, seen: &AtomicU64) -> std::io::Result<()> {
    loop {
        let Some(head) = crate::harness::read_head(&mut conn)? else {
            return Ok(());
        };
        seen.fetch_add(1, Ordering::SeqCst);
        let line = String::from_utf8_lossy(&head);
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let ms = |prefix: &str| path.strip_prefix(prefix).and_then(|m| m.parse().ok());
        if path == "/never" {
            // Holds the connection until the client gives up on it.
            while conn.read(&mut [0u8; 1])? > 0 {}
            return Ok(());
        }
        if let Some(ms) = ms("/hop/") {
            std::thread::sleep(Duration::from_millis(ms));
            let to =
                format!("HTTP/1.1 302 Found\r\nLocation: /hop/{ms}\r\nContent-Length: 0\r\n\r\n");
            conn.write_all(to.as_bytes())?;
            continue;
        }
        if let Some(ms) = ms("/slow/") {
            std::thread::sleep(Duration::from_millis(ms));
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")?;
    }
}

/// A run of `users` users for 1 s against `url`, with `scenario`.
/// A 1 s run of `users` against `url`; whatever it waits for, it must end at all (a bound of
/// two minutes, no timing).
fn run(url: &str, users: &str, scenario: &str) -> crate::harness::Output {
    let began = Instant::now();
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", users, "--spawn-rate", "1000", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<100%"])
        .run();
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(120),
        "the run ended only after {took:?}"
    );
    out
}

fn requests_of(r: &serde_json::Value, name: &str) -> u64 {
    let rows = rows_named(r, name);
    assert_eq!(rows.len(), 1, "{r}");
    rows[0]["requests"].as_u64().unwrap()
}

/// Each user's second request takes 2 s, twice the run: every one is in flight at the end.
/// They are recorded, with their latency, and the figures stay those of a 1 s run (its
/// duration, one second of series holding every request). Before the drain, `GET /slow` had
/// no request at all.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: the run drains for 1 s"
)]
fn requests_in_flight_at_the_end_are_recorded_with_their_latency() {
    let (url, _) = serve();
    let scenario = "defaults: {timeout: 10s}\ntasks:\n  - steps:\n      - request: {name: GET /fast, path: /fast}\n      - request: {name: GET /slow, path: /slow/2000}\n";
    let out = run(&url, "2", scenario);
    let out = out.expect_exit(0);
    let r = out.results();
    assert_eq!(requests_of(&r, "GET /slow"), 2, "{r}");
    let slow = &rows_named(&r, "GET /slow")[0];
    assert!(
        slow["latency_ms"]["p50"].as_f64().unwrap() >= 1900.0,
        "{slow}"
    );
    assert_eq!(slow["failures"].as_u64(), Some(0), "{slow}");
    assert_eq!(
        requests_of(&r, "GET /fast"),
        2,
        "no new iteration after the end: {r}"
    );
    assert_eq!(r["run"]["interrupted"], false, "{r}");
    assert!(r["run"]["duration_s"].as_f64().unwrap() <= 1.0, "{r}");
    let series = r["timeseries"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{r}");
    assert_eq!(series[0]["requests"].as_u64(), Some(4), "{r}");
    assert!(
        out.stderr.contains("the run's end waited"),
        "{}",
        out.stderr
    );
}

/// A server that never answers: the run ends once the requests in flight time out, each a
/// `timeout after 2s` failure, where before they were dropped unrecorded. The bound on the
/// wall clock only says the run ended at all.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: the run drains for 2 s"
)]
fn a_server_that_never_answers_ends_the_run_with_its_requests_timed_out() {
    let (url, _) = serve();
    let scenario =
        "defaults: {timeout: 2s}\ntasks:\n  - request: {name: GET /never, path: /never}\n";
    let out = run(&url, "3", scenario);
    let out = out.expect_exit(1);
    let r = out.results();
    let reasons = crate::harness::reasons(&r);
    assert_eq!(
        reasons.into_iter().collect::<Vec<_>>(),
        [("timeout after 2s".to_string(), 3)],
        "{r}"
    );
}

/// A redirect chain whose every hop takes 0.7 s (ten hops, 7 s) outlasts the drain's bound
/// (the 1 s timeout and 1 s): it is aborted there, unrecorded, and the run ends. An unbounded
/// drain would have waited for the chain and recorded it as too many redirects.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: the run drains for 2 s"
)]
fn the_drain_ends_at_its_bound() {
    let (url, _) = serve();
    let scenario =
        "defaults: {timeout: 1s}\ntasks:\n  - request: {name: GET /hop, path: /hop/700}\n";
    let out = run(&url, "1", scenario);
    let r = out.results();
    assert_eq!(requests_of(&r, "GET /hop"), 0, "{r}\n{}", out.stderr);
}

/// An interruption during the drain stops the run at once, as it does during the load: the
/// requests in flight (their timeout ten minutes) are abandoned and the run says it was
/// interrupted. The harness fails the test if the gate outlives the signal by 30 s.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: the run drains until interrupted"
)]
fn an_interruption_during_the_drain_stops_at_once() {
    let (url, seen) = serve();
    let scenario =
        "defaults: {timeout: 10m}\ntasks:\n  - request: {name: GET /never, path: /never}\n";
    let first = std::sync::Mutex::new(None::<Instant>);
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &url])
        .args(["--users", "2", "--spawn-rate", "1000", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .run_and_terminate_when(|_| {
            // Two seconds after the first request, a 1 s run is draining.
            let mut first = first.lock().unwrap();
            if seen.load(Ordering::SeqCst) > 0 && first.is_none() {
                *first = Some(Instant::now());
            }
            first.is_some_and(|t| t.elapsed() > Duration::from_secs(2))
        })
        .expect_exit(4);
    let r = out.results();
    assert_eq!(r["run"]["interrupted"], true, "{r}");
    assert_eq!(requests_of(&r, "GET /never"), 0, "{r}");
}
