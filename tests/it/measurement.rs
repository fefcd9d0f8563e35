//! Are the numbers true? Targets with a known latency, written with plain threads and
//! `std::thread::sleep` (precise to a fraction of a millisecond), so the truth is known.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::harness::Gate;

/// An HTTP/1.1 keep-alive server, a thread per connection, whose every response waits
/// `delay(n)` for the n-th request.
fn target(delay: impl Fn(u64, Instant) -> Duration + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let delay = Arc::new(delay);
    let count = Arc::new(AtomicU64::new(0));
    let born = Instant::now();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (delay, count) = (delay.clone(), count.clone());
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    // Request line and headers (the scenario sends no body).
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let n = count.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(delay(n, born));
                    if out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn plain_gate(host: &str) -> Gate {
    Gate::new()
        .write("plain.yml", "tasks: [{request: {method: GET, path: /}}]\n")
        .args([
            "run",
            "--scenario",
            "plain.yml",
            "--host",
            host,
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
}

/// 20 ms for every request, 100 ms for every 50th: the true p50 is 20 ms, the true p99 100 ms.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn percentiles_are_within_two_percent_of_the_truth() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let host = target(|n, _| Duration::from_millis(if n % 50 == 49 { 100 } else { 20 }));
    let out = plain_gate(&host)
        .args([
            "--users",
            "10",
            "--spawn-rate",
            "100",
            "--run-time",
            "6s",
            "--threshold",
            "requests>500",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    let l = &r["aggregate"]["latency_ms"];
    let (p50, p99) = (l["p50"].as_f64().unwrap(), l["p99"].as_f64().unwrap());
    assert!(
        (p50 - 20.0).abs() / 20.0 <= 0.02,
        "p50 {p50} ms, truth 20 ms"
    );
    assert!(
        (p99 - 100.0).abs() / 100.0 <= 0.02,
        "p99 {p99} ms, truth 100 ms"
    );
}

/// The server answers in 1 ms but stalls every response for the second second of the run.
fn stalling_target() -> String {
    target(|_, born| {
        let t = born.elapsed();
        let (from, to) = (Duration::from_millis(1500), Duration::from_millis(2500));
        if t >= from && t < to {
            to - t
        } else {
            Duration::from_millis(1)
        }
    })
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn an_open_model_shows_a_one_second_stall_in_p99() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let host = stalling_target();
    let out = plain_gate(&host)
        // Few users at a high rate: without measuring from the intended start, only the 5
        // requests in flight would see the stall (0.2 % of ~2500) and p99 would stay small.
        .args([
            "--users",
            "5",
            "--rate",
            "500",
            "--run-time",
            "5s",
            "--threshold",
            "requests>100",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["run"]["model"], "open");
    assert_eq!(r["run"]["rate"], 500.0);
    let p99 = r["aggregate"]["latency_ms"]["p99"].as_f64().unwrap();
    // Requests due during the stall waited for its end: up to a full second.
    assert!(
        p99 >= 800.0,
        "open model p99 {p99} ms should show the 1 s stall"
    );
    assert!(out.file("summary.md").contains("(open model)"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn a_closed_model_hides_the_stall_and_says_it_is_closed() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let host = stalling_target();
    let out = plain_gate(&host)
        .args([
            "--users",
            "10",
            "--spawn-rate",
            "100",
            "--run-time",
            "5s",
            "--threshold",
            "requests>100",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["run"]["model"], "closed");
    let p99 = r["aggregate"]["latency_ms"]["p99"].as_f64().unwrap();
    let max = r["aggregate"]["latency_ms"]["max"].as_f64().unwrap();
    assert!(max >= 800.0, "each user did meet the stall once ({max} ms)");
    assert!(
        p99 < 100.0,
        "but the closed model's p99 ({p99} ms) hides it: that is why the report names the model"
    );
    assert!(out.file("summary.md").contains("(closed model)"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn warm_up_requests_are_left_out_of_the_verdict_but_kept_in_the_time_series() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    // Slow for the first second (a cold cache), fast after. The gap between the slow answers
    // (400 ms) and the limit (300 ms) is wide, so a loaded runner's stall cannot fail the run.
    let host = target(|_, born| {
        if born.elapsed() < Duration::from_millis(1000) {
            Duration::from_millis(400)
        } else {
            Duration::from_millis(2)
        }
    });
    let out = plain_gate(&host)
        .args([
            "--users",
            "5",
            "--spawn-rate",
            "100",
            "--run-time",
            "4s",
            "--warmup",
            "1500ms",
            "--threshold",
            "max<300ms",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["run"]["warmup_s"], 1.5);
    let first = &r["timeseries"][0];
    assert!(
        first["p95_ms"].as_f64().unwrap() >= 300.0,
        "the slow start is in the time series: {first}"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_abort_on_fail_threshold_stops_the_run_early_and_says_so() {
    let app = crate::harness::sample_app(loadforge_gate::sample_app::Knobs {
        error_rate: 1.0,
        ..Default::default()
    });
    let out = plain_gate(&app.url())
        .args(["--users", "5", "--spawn-rate", "100", "--run-time", "60s"])
        .args(["--threshold", "error_rate<5% abort-on-fail=2s"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let aborted = r["run"]["aborted"]
        .as_str()
        .expect("the run records why it stopped");
    assert!(aborted.contains("error_rate<5%"), "{aborted}");
    assert!(
        r["run"]["duration_s"].as_f64().unwrap() < 30.0,
        "stopped well before its 60 s"
    );
    assert!(out.file("summary.md").contains("Aborted early"));
    // A rule on one endpoint cannot abort (it would need per-endpoint live statistics).
    let out = plain_gate(&app.url())
        .args(["--threshold", "GET /: p95<1ms abort-on-fail"])
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error().contains("drop the selector"),
        "{}",
        out.stderr
    );
}
