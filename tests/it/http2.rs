//! HTTP/2 in the native engine (#34), against real servers on loopback: the sample app's four
//! flows over h2 by ALPN (TLS) and by prior knowledge (cleartext) with the same checks as over
//! HTTP/1.1, `auto` and `always` against servers that speak only HTTP/1.1, and a hostile h2
//! server (built with the `h2` crate's server side) that resets streams and sends GOAWAY.

use std::{
    io::{Read, Write},
    net::TcpListener,
    sync::Arc,
};

use axum::{
    http::{header, StatusCode},
    routing::{get, post},
    Router,
};
use loadforge_gate::sample_app::{
    tls::{server_config, Pki, Validity},
    Knobs, SampleApp, Served,
};

use crate::{
    harness::{example, reasons, Gate, Output},
    tls::{LOOPBACK, SCENARIO},
};

/// The four sample flows.
const FLOWS: &[&str] = &[
    "login-dashboard.yml",
    "oauth-api.yml",
    "shop-cart.yml",
    "admin-reports.yml",
];

/// `file` against `url` under `--http2 always`, with `args`; the same load and checks as the
/// HTTP/1.1 runs of `scenarios.rs`: no request may fail.
fn run_flow_over_h2(file: &str, url: &str, args: &[&str]) -> Output {
    let out = Gate::new()
        .args(["run", "--scenario", &example(file), "--host", url])
        .args(["--http2", "always"])
        .args(["--users", "6", "--spawn-rate", "20", "--run-time", "3s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<0.001%"])
        .args(args)
        .run()
        .expect_exit(0);
    let r = out.results();
    let requests = r["aggregate"]["requests"].as_u64().unwrap();
    assert!(requests >= 6, "{file}: only {requests} requests");
    assert_eq!(r["aggregate"]["failures"], 0, "{file}: {:?}", reasons(&r));
    for e in r["endpoints"].as_array().unwrap() {
        assert_eq!(e["failures"], 0, "{file}: {e}");
    }
    assert_eq!(r["run"]["protocol"], "h2", "{file}");
    assert_eq!(
        r["run"]["load"]["protocol"], "h2",
        "{file}: the fingerprint"
    );
    out
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_four_sample_flows_pass_over_h2_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let (app, ca) = SampleApp::sample_app_tls("127.0.0.1:0", Knobs::default(), dir.path()).unwrap();
    let ca = ca.to_str().unwrap().to_string();
    for file in FLOWS {
        let out = run_flow_over_h2(file, &app.url(), &["--ca-cert", &ca]);
        let html = out.file("report.html");
        assert!(
            html.contains("HTTP/2"),
            "the run metadata names the protocol"
        );
        assert!(
            out.file("summary.md").contains("over HTTP/2"),
            "the note's headline says it"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_four_sample_flows_pass_over_cleartext_h2_by_prior_knowledge() {
    let app = SampleApp::sample_app("127.0.0.1:0", Knobs::default()).unwrap();
    for file in FLOWS {
        run_flow_over_h2(file, &app.url(), &[]);
    }
}

/// An HTTPS server answering `ok` that offers only `http/1.1` by ALPN.
fn http1_only_tls() -> (Pki, Served) {
    let pki = Pki::new("test CA").unwrap();
    let cert = pki.server_cert(LOOPBACK, Validity::Current).unwrap();
    let mut config = (*server_config(&cert, None).unwrap()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let router = Router::new().route("/", get(|| async { "ok" }));
    let served = Served::start_tls("127.0.0.1:0", router, 1, Arc::new(config)).unwrap();
    (pki, served)
}

/// A short run of `SCENARIO` (one `GET /`, checked for `ok`) against `url`.
fn short_run(url: &str, ca_pem: &str, args: &[&str]) -> Output {
    Gate::new()
        .write("s.yml", SCENARIO)
        .write("ca.pem", ca_pem)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<1%"])
        .args(args)
        .run()
}

#[test]
fn auto_against_a_server_that_offers_only_http1_speaks_http1() {
    let (pki, server) = http1_only_tls();
    let out = short_run(
        &server.url(),
        pki.ca_pem(),
        &["--ca-cert", "ca.pem", "--http2", "auto"],
    )
    .expect_exit(0);
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    assert_eq!(r["run"]["protocol"], "http/1.1");
    assert!(
        r["run"]["load"].get("protocol").is_none(),
        "an HTTP/1.1 run's fingerprint is as before: {}",
        r["run"]["load"]
    );
}

/// Every request failed, with `reason` alone, and the log explains it once with the fix.
#[track_caller]
fn assert_all_failed_with(out: &Output, reason: &str) {
    let r = out.results();
    assert_eq!(
        reasons(&r).keys().collect::<Vec<_>>(),
        vec![reason],
        "{}",
        out.stderr
    );
    assert_eq!(r["aggregate"]["failures"], r["aggregate"]["requests"]);
    let explained = out
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("requests fail with `{reason}`")))
        .collect::<Vec<_>>();
    assert_eq!(explained.len(), 1, "{}", out.stderr);
    assert!(explained[0].contains("http2: auto"), "{}", explained[0]);
}

#[test]
fn always_against_a_tls_server_that_offers_only_http1_fails_with_a_clear_reason() {
    let (pki, server) = http1_only_tls();
    let out = short_run(
        &server.url(),
        pki.ca_pem(),
        &["--ca-cert", "ca.pem", "--http2", "always"],
    )
    .expect_exit(1);
    assert_all_failed_with(
        &out,
        "h2: the server does not speak HTTP/2 (ALPN) and http2 is always",
    );
}

/// A cleartext server that speaks HTTP/1.1 only: whatever arrives, it answers `200 ok`.
fn http1_only_plain() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while s.read(&mut buf).unwrap_or(0) > 0 {
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn always_against_a_cleartext_http1_server_fails_with_a_clear_reason() {
    let url = http1_only_plain();
    let out = short_run(&url, "", &["--http2", "always"]).expect_exit(1);
    assert_all_failed_with(
        &out,
        "h2: the server did not answer in HTTP/2 (prior knowledge) and http2 is always",
    );
    // The same server under `auto` (plain http stays HTTP/1.1) passes.
    let out = short_run(&url, "", &["--http2", "auto"]).expect_exit(0);
    assert_eq!(out.results()["run"]["protocol"], "http/1.1");
}

/// An HTTP/2 server (prior knowledge) that, on every connection, answers its first request,
/// resets the second (`RST_STREAM INTERNAL_ERROR`) and ends the connection on the third
/// (`GOAWAY ENHANCE_YOUR_CALM`).
fn hostile_h2() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_hostile(socket));
            }
        });
    });
    format!("http://{addr}")
}

async fn serve_hostile(socket: tokio::net::TcpStream) {
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    let mut n = 0;
    while let Some(Ok((_, mut respond))) = conn.accept().await {
        n += 1;
        match n {
            1 => {
                let ok = http::Response::new(());
                if let Ok(mut body) = respond.send_response(ok, false) {
                    let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                }
            }
            2 => respond.send_reset(h2::Reason::INTERNAL_ERROR),
            _ => conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM),
        }
    }
    // Drives the GOAWAY out and the connection to its end.
    let _ = std::future::poll_fn(|cx| conn.poll_closed(cx)).await;
}

#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: a hostile server for 2 s"
)]
fn stream_resets_and_goaway_are_counted_failures_with_reasons_and_the_run_ends() {
    let url = hostile_h2();
    let out = Gate::new()
        .write("s.yml", SCENARIO)
        .args([
            "run",
            "--scenario",
            "s.yml",
            "--host",
            &url,
            "--http2",
            "always",
        ])
        .args(["--users", "3", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<1%"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let found = reasons(&r);
    let requests = r["aggregate"]["requests"].as_u64().unwrap();
    let failures = r["aggregate"]["failures"].as_u64().unwrap();
    assert!(
        0 < failures && failures < requests,
        "{requests} requests, {failures} failed: {found:?}"
    );
    assert!(
        found.contains_key("h2: stream reset by the server (INTERNAL_ERROR)"),
        "{found:?}"
    );
    assert!(
        found.contains_key("h2: GOAWAY from the server (ENHANCE_YOUR_CALM)"),
        "{found:?}"
    );
    assert_eq!(
        found.len(),
        2,
        "nothing else went wrong (no timeout: no hang): {found:?}"
    );
    assert_eq!(r["run"]["interrupted"], false);
    assert_eq!(r["run"]["protocol"], "h2");
}

/// Over HTTP/2 to the target: a redirect to another origin that speaks only HTTP/1.1 (under
/// `always`, another origin is offered h2 and answered in what it picks), a form and a
/// multipart upload (echoed back and checked).
#[test]
fn redirects_to_an_http1_origin_forms_and_multipart_work_over_h2() {
    let other = http1_only_plain();
    let away = format!("{other}/landing");
    let echo = || post(|body: String| async move { body });
    let router = Router::new()
        .route(
            "/away",
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, away)]) }),
        )
        .route("/form", echo())
        .route("/upload", echo());
    let target = Served::start("127.0.0.1:0", router, 1).unwrap();
    let scenario = "tasks:\n  - steps:\n\
        \x20     - request: {name: away, path: /away, check: {body_contains: ok}}\n\
        \x20     - request: {name: form, method: POST, path: /form, form: {user: ann, note: a b}, check: {body_contains: note=a+b&user=ann}}\n\
        \x20     - request: {name: upload, method: POST, path: /upload, multipart: {report: {file: r.csv, content_type: text/csv}}, check: {body_contains: \"north,12\"}}\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .write("r.csv", "region,total\nnorth,12\n")
        .args(["run", "--scenario", "s.yml", "--host", &target.url()])
        .args(["--http2", "always", "--users", "1", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<0.001%"])
        .run();
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    out.expect_exit(0);
    let names: Vec<_> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["away", "form", "upload"]);
    assert_eq!(r["run"]["protocol"], "h2", "the target's protocol");
}
