//! Several HTTP/2 streams per virtual user (`defaults.streams_per_user`, #34), against real
//! HTTP/2 servers on loopback (the `h2` crate's server side) that record how many streams each
//! connection had open at once: a user with M lanes keeps M requests in flight on its one
//! connection, never past the server's `max_concurrent_streams`, and a GOAWAY with several
//! streams open ends each of them as a counted failure with its reason.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use crate::{
    h2_server::{h2_server, until_closed, Connection, H2Server},
    harness::{reasons, Gate, Output},
};

/// What a recording server saw.
#[derive(Default)]
struct Seen {
    /// The most streams open at once on any one connection.
    peak: AtomicUsize,
    /// Responses sent.
    answered: AtomicU64,
    /// Request bodies read to their end, by size in bytes: how many of each.
    uploads: Mutex<BTreeMap<usize, u64>>,
}

/// How the recording server answers.
#[derive(Clone, Copy)]
struct Serve {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, when announced.
    max_streams: Option<u32>,
    /// A stream's answer waits (at most [`HOLD`]) until this many streams are open on its
    /// connection, so that the peak shows how many a client keeps in flight.
    hold_until: usize,
    /// Instead of answering: once `hold_until` streams are open, GOAWAY (ENHANCE_YOUR_CALM)
    /// with all of them processed, and the connection's end.
    goaway: bool,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`, when announced: what a client may send on a stream
    /// before the server reads it and opens the window again.
    window: Option<u32>,
    /// Each answer's body: `ok`, or (`Some(len)`) `len` bytes ending in `|got N bytes|`, N
    /// the size of the request's body.
    body: Option<usize>,
}

impl Serve {
    /// Answers `ok` at once, with h2's default settings.
    const OK: Serve = Serve {
        max_streams: None,
        hold_until: 1,
        goaway: false,
        window: None,
        body: None,
    };
}

/// The longest a stream waits for the others before it is answered anyway.
const HOLD: Duration = Duration::from_millis(300);

/// A cleartext HTTP/2 server (prior knowledge) answering as `serve` says, and what it saw.
fn recording_server(serve: Serve) -> (H2Server, Arc<Seen>) {
    let mut builder = h2::server::Builder::new();
    if let Some(n) = serve.max_streams {
        builder.max_concurrent_streams(n);
    }
    if let Some(n) = serve.window {
        builder.initial_window_size(n);
    }
    let seen = Arc::new(Seen::default());
    let recorded = seen.clone();
    let server = h2_server(builder, move |conn| {
        serve_connection(conn, serve, recorded.clone())
    });
    (server, seen)
}

async fn serve_connection(mut conn: Connection, serve: Serve, seen: Arc<Seen>) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut held = Vec::new();
    while let Some(Ok((request, respond))) = conn.accept().await {
        let now = open.fetch_add(1, Ordering::SeqCst) + 1;
        seen.peak.fetch_max(now, Ordering::SeqCst);
        if serve.goaway {
            held.push(respond);
            if now >= serve.hold_until {
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
            }
            continue;
        }
        tokio::spawn(answer(
            request.into_body(),
            respond,
            serve,
            open.clone(),
            seen.clone(),
        ));
    }
    until_closed(&mut conn).await;
    drop(held);
}

/// Reads a request's body to its end, opening the window again for each chunk read (as a
/// server must, or a client with more to send than the window waits for ever): its size, or
/// `None` when the stream broke first.
async fn read_body(mut body: h2::RecvStream) -> Option<usize> {
    let mut got = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        got += chunk.len();
        body.flow_control().release_capacity(chunk.len()).ok()?;
    }
    Some(got)
}

/// The answer's body: `ok`, or `len` bytes whose end says how many the request sent.
fn answer_body(serve: Serve, uploaded: usize) -> bytes::Bytes {
    let Some(len) = serve.body else {
        return bytes::Bytes::from_static(b"ok");
    };
    let tail = format!("|got {uploaded} bytes|");
    let mut body = vec![b'x'; len - tail.len()];
    body.extend_from_slice(tail.as_bytes());
    body.into()
}

/// Reads the request's body, answers once `hold_until` streams are open (or after [`HOLD`]),
/// then counts the stream closed. A large answer leaves as the client's windows allow (`h2`
/// holds the rest until they open).
async fn answer(
    request: h2::RecvStream,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    serve: Serve,
    open: Arc<AtomicUsize>,
    seen: Arc<Seen>,
) {
    let Some(uploaded) = read_body(request).await else {
        open.fetch_sub(1, Ordering::SeqCst);
        return;
    };
    *seen.uploads.lock().unwrap().entry(uploaded).or_default() += 1;
    let held = tokio::time::Instant::now();
    while open.load(Ordering::SeqCst) < serve.hold_until && held.elapsed() < HOLD {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Closed as far as the count goes before the answer leaves, so a client that opens its
    // next stream on the answer never overlaps this one in the count.
    open.fetch_sub(1, Ordering::SeqCst);
    if let Ok(mut body) = respond.send_response(http::Response::new(()), false) {
        if body.send_data(answer_body(serve, uploaded), true).is_ok() {
            seen.answered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// One checked `GET /` per task, `streams` lanes per user, over HTTP/2 (`always`).
fn scenario(streams: u32) -> String {
    format!(
        "defaults: {{http2: always, streams_per_user: {streams}, timeout: 2s}}\n\
         tasks:\n  - request: {{name: GET /, path: /, check: {{body_contains: ok}}}}\n"
    )
}

/// `users` users for 2 s against `url` with `scenario`, and `args`.
fn run(url: &str, scenario: &str, users: u32, args: &[&str]) -> Output {
    let users = users.to_string();
    Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", &users, "--spawn-rate", "100", "--run-time", "2s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<0.001%"])
        .args(args)
        .run()
}

fn failures(r: &serde_json::Value) -> (u64, u64, BTreeMap<String, u64>) {
    let requests = r["aggregate"]["requests"].as_u64().unwrap();
    let failures = r["aggregate"]["failures"].as_u64().unwrap();
    (requests, failures, reasons(r))
}

/// Two users of 5 lanes each: every connection carries 5 requests at once (the server holds
/// each answer until 5 are open), there is one connection per user, and every request the
/// run counts is one the server answered, none failed.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 2 s of load")]
fn each_user_keeps_its_streams_in_flight_on_one_connection() {
    let (server, seen) = recording_server(Serve {
        hold_until: 5,
        ..Serve::OK
    });
    let out = run(&server.url, &scenario(5), 2, &[]);
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(failed, 0, "{found:?}\n{}", out.stderr);
    let out = out.expect_exit(0);
    assert_eq!(seen.peak.load(Ordering::SeqCst), 5, "{}", out.stderr);
    assert_eq!(server.connections(), 2, "one per user");
    let answered = seen.answered.load(Ordering::SeqCst);
    // Answers still on their way when the run ended are the server's only.
    assert!(
        requests <= answered && answered <= requests + 10,
        "{requests} counted, {answered} answered"
    );
    assert!(requests >= 10, "{requests}");
    assert_eq!(r["run"]["protocol"], "h2");
    assert_eq!(r["run"]["load"]["streams_per_user"], 5, "part of the load");
}

/// The window the large-body server opens to a client: 16 KiB a stream (h2's default is 64 KiB).
const SMALL_WINDOW: u32 = 16 * 1024;
/// Each large answer: 1 MiB, 64 times the server's window and far past any first window of a
/// client's, so it arrives only as the client reads and opens its windows again.
const DOWNLOAD: usize = 1 << 20;
/// Each large request body: 6.25 times the server's window, so it leaves only as the server
/// reads it.
const UPLOAD: usize = 100 * 1024;

/// Flow control across lanes: one user's 4 lanes on its one connection, each sending 100 KiB
/// against a 16 KiB window and receiving 1 MiB answers (the server holds each answer until all
/// 4 streams are open, so the 4 answers share the connection's window at once). Every answer
/// arrives whole (its tail is checked, and the bytes add up), every upload arrives whole, nothing
/// times out, and the run ends at its run time, not interrupted.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 3 s of load")]
fn large_bodies_both_ways_flow_on_every_lane_of_one_connection() {
    let lanes = 4;
    let (server, seen) = recording_server(Serve {
        hold_until: lanes,
        window: Some(SMALL_WINDOW),
        body: Some(DOWNLOAD),
        ..Serve::OK
    });
    let scenario = format!(
        "defaults: {{http2: always, streams_per_user: {lanes}, timeout: 10s}}\n\
         tasks:\n  - request: {{name: POST /large, method: POST, path: /large, body: {}, \
         check: {{body_contains: \"|got {UPLOAD} bytes|\"}}}}\n",
        "p".repeat(UPLOAD)
    );
    let out = Gate::new()
        .write("s.yml", &scenario)
        .args(["run", "--scenario", "s.yml", "--host", &server.url])
        .args(["--users", "1", "--run-time", "3s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<0.001%"])
        .run();
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(failed, 0, "{found:?}\n{}", out.stderr);
    let out = out.expect_exit(0);
    assert_eq!(
        r["run"]["interrupted"], false,
        "the run ended at its run time"
    );
    assert!(
        requests >= 2 * lanes as u64,
        "{requests}: each lane more than once"
    );
    let received = r["aggregate"]["bytes_received_decoded"].as_u64().unwrap();
    // A figure, not a pass mark: `-- --nocapture` prints it.
    eprintln!("large bodies over {lanes} lanes: {requests} requests, {received} bytes received");
    assert_eq!(received, requests * DOWNLOAD as u64, "{}", out.stderr);
    assert_eq!(
        server.connections(),
        1,
        "the lanes share the user's connection"
    );
    assert_eq!(seen.peak.load(Ordering::SeqCst), lanes, "all lanes at once");
    // Uploads still on their way when the run ended are the server's only.
    let uploads = seen.uploads.lock().unwrap().clone();
    assert_eq!(uploads.keys().collect::<Vec<_>>(), [&UPLOAD], "{uploads:?}");
    assert!(uploads[&UPLOAD] >= requests, "{uploads:?} for {requests}");
}

/// The server allows 2 streams at once; the user has 5 lanes: never more than 2 are open, the
/// other lanes wait their turn (none refused, none failed).
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 2 s of load")]
fn the_servers_max_concurrent_streams_is_honoured() {
    let (server, seen) = recording_server(Serve {
        max_streams: Some(2),
        hold_until: 5,
        ..Serve::OK
    });
    let out = run(&server.url, &scenario(5), 1, &[]);
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(failed, 0, "{found:?}\n{}", out.stderr);
    out.expect_exit(0);
    assert_eq!(seen.peak.load(Ordering::SeqCst), 2);
    assert_eq!(server.connections(), 1);
    assert!(requests > 0);
}

/// A GOAWAY (ENHANCE_YOUR_CALM) once 4 streams are open, on every connection: each of them is
/// a counted failure with the GOAWAY's reason, nothing hangs (no timeout), and the run ends on
/// time.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 2 s of load")]
fn a_goaway_with_several_streams_open_fails_each_with_its_reason() {
    let (server, seen) = recording_server(Serve {
        hold_until: 4,
        goaway: true,
        ..Serve::OK
    });
    let out = run(&server.url, &scenario(4), 1, &[]).expect_exit(1);
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        ["h2: GOAWAY from the server (ENHANCE_YOUR_CALM)"],
        "{}",
        out.stderr
    );
    assert_eq!(failed, requests);
    assert_eq!(seen.peak.load(Ordering::SeqCst), 4);
    let connections = server.connections();
    assert!(
        requests >= 4 && connections >= 2,
        "{requests} on {connections}"
    );
    assert_eq!(r["run"]["interrupted"], false);
}

/// A server that allows no stream at all: every lane's request waits for one until its timeout,
/// is counted as that timeout, and the run ends on time.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 2 s of load")]
fn a_server_allowing_no_streams_gives_timeouts_never_a_hang() {
    let (server, seen) = recording_server(Serve {
        max_streams: Some(0),
        ..Serve::OK
    });
    let scenario = scenario(4).replace("timeout: 2s", "timeout: 300ms");
    let out = run(&server.url, &scenario, 1, &[]).expect_exit(1);
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        ["timeout after 300ms"],
        "{}",
        out.stderr
    );
    assert!(requests >= 4 && failed == requests, "{requests}");
    assert_eq!(seen.peak.load(Ordering::SeqCst), 0, "no stream opened");
    assert_eq!(r["run"]["interrupted"], false);
}

/// The open model: one user's arrivals are dealt to its lanes in turn, each lane's latency
/// counted from when its arrival was due. A rate far above what one stream at a time could
/// serve (answers are held) keeps all 4 lanes busy at once on the one connection.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 2 s of load")]
fn in_the_open_model_a_users_lanes_take_its_arrivals_at_once() {
    let (server, seen) = recording_server(Serve {
        hold_until: 4,
        ..Serve::OK
    });
    let out = run(&server.url, &scenario(4), 1, &["--rate", "200"]);
    let r = out.results();
    let (requests, failed, found) = failures(&r);
    assert_eq!(failed, 0, "{found:?}\n{}", out.stderr);
    assert_eq!(seen.peak.load(Ordering::SeqCst), 4);
    assert_eq!(server.connections(), 1);
    assert_eq!(r["run"]["model"], "open");
    assert!(requests > 0);
}

/// A paired run: each user and its twin on the base have their lanes, each side its own
/// connection; both sides see several streams at once and neither fails. (The base is spoken
/// to in the target's `http2` mode: it used to be HTTP/1.1 whatever the scenario said.)
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: 4 s of load")]
fn a_paired_run_gives_both_sides_their_lanes() {
    let serve = Serve {
        hold_until: 3,
        ..Serve::OK
    };
    let (change, on_change) = recording_server(serve);
    let (base, on_base) = recording_server(serve);
    let out = Gate::new()
        .write("s.yml", &scenario(3))
        .args(["run", "--scenario", "s.yml", "--host", &change.url])
        .args(["--compare-host", &base.url, "--run-time", "4s"])
        .args(["--users", "2", "--spawn-rate", "100", "--progress", "0"])
        .args(["--baseline", "none"])
        .run();
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0, "{}", out.stderr);
    assert_eq!(
        r["paired"]["base_aggregate"]["failures"], 0,
        "{}",
        out.stderr
    );
    assert!(r["paired"]["base_aggregate"]["requests"].as_u64() > Some(0));
    assert_eq!(r["paired"]["base_endpoints"][0]["protocol"], "h2");
    assert_eq!(r["endpoints"][0]["protocol"], "h2");
    for (server, seen) in [(&change, &on_change), (&base, &on_base)] {
        assert_eq!(seen.peak.load(Ordering::SeqCst), 3);
        assert_eq!(server.connections(), 2, "one per user");
    }
}

/// Several streams per user over `http2: never` would be that many HTTP/1.1 connections, not
/// the load asked for: refused before the run, exit 2, one line naming both settings.
#[test]
fn streams_per_user_under_http2_never_is_refused() {
    let scenario = "defaults: {http2: never, streams_per_user: 4}\ntasks: [{request: {path: /}}]\n";
    let out = run("http://127.0.0.1:9", scenario, 1, &[]).expect_exit(2);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("streams_per_user"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(line.contains("http2"), "{line}");
    // The flag wins over the scenario, both ways.
    let auto = scenario.replace("never", "auto");
    let out = run("http://127.0.0.1:9", &auto, 1, &["--http2", "never"]).expect_exit(2);
    assert!(out.stderr.contains("streams_per_user"), "{}", out.stderr);
}

/// Zero, negative and huge: a clear one-line error naming the key, exit 2, before any load.
#[test]
fn a_bad_streams_per_user_is_refused_with_its_bounds() {
    for bad in ["0", "-3", "257", "1000000000000"] {
        let scenario =
            format!("defaults: {{http2: always, streams_per_user: {bad}}}\ntasks: [{{request: {{path: /}}}}]\n");
        let out = run("http://127.0.0.1:9", &scenario, 1, &[]).expect_exit(2);
        assert!(
            out.stderr.contains("defaults.streams_per_user"),
            "{bad}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}
