//! The loadforge engine against the fake LoadForge (which really runs the load).

use loadforge_gate::sample_app::Knobs;

use crate::{
    fake_loadforge::{Behaviour, FakeLoadForge, TEST_ID, TOKEN},
    harness::{sample_app, Gate, Output, REPORTS},
};

fn dispatch(lf: &FakeLoadForge, host: &str) -> Gate {
    Gate::new()
        .env("LOADFORGE_API_TOKEN", TOKEN)
        .env("LOADFORGE_TEST_ID", TEST_ID)
        .env("LOADFORGE_GATE_LOADFORGE_URL", &lf.url())
        .args(["run", "--engine", "loadforge", "--host", host])
        .args([
            "--users",
            "4",
            "--spawn-rate",
            "20",
            "--run-time",
            "2s",
            "--poll-interval",
            "200ms",
            "--baseline",
            "none",
        ])
}

#[track_caller]
fn no_token(out: &Output) {
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "token printed"
    );
    for f in REPORTS {
        if let Ok(t) = std::fs::read_to_string(out.out_dir().join(f)) {
            assert!(!t.contains(TOKEN), "token in {f}");
        }
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_dispatched_run_is_judged_on_what_loadforge_reports() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, &app.url())
        .args(["--threshold", "avg<500ms", "--threshold", "error_rate<1.5%"])
        .run()
        .expect_exit(0);
    no_token(&out);
    for f in REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    let started = lf.with(|s| s.starts.clone());
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0]["run_time"], 2,
        "run time in seconds, as the seed sends it"
    );
    assert_eq!(started[0]["users"], 4);
    let r = out.results();
    assert_eq!(r["run"]["engine"], "loadforge");
    assert!(
        r["aggregate"]["latency_ms"]["avg"].as_f64().unwrap() > 0.0,
        "a real average"
    );
    assert!(
        r["aggregate"].get("requests").is_none(),
        "counts LoadForge did not give are absent, not zero"
    );
    assert!(r["aggregate"]["latency_ms"].get("p95").is_none());
    assert!(!out.file("load-performance.json").contains("http_reqs"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn extras_are_used_when_present_and_the_cloud_run_is_linked() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour {
        extras: true,
        ..Behaviour::default()
    });
    let out = dispatch(&lf, &app.url())
        .args([
            "--threshold",
            "p95<500ms",
            "--threshold",
            "GET /api/v2/orders: avg<500ms",
            "--threshold",
            "requests>0",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert!(r["run"]["cloud_url"]
        .as_str()
        .unwrap()
        .contains("/test-runs/run-1"));
    assert!(out.file("annotations.json").contains("LoadForge cloud run"));
    assert!(out
        .file("summary.md")
        .contains("[Cloud run](https://app.loadforge.com/test-runs/run-1)"));
}

/// LoadForge's answer may list a name twice; judged on the first row alone, the second's
/// errors passed. The rows are one endpoint: counts add, and the rule fails.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn rows_with_the_same_name_are_judged_together() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour {
        extras: true,
        more_endpoints: vec![serde_json::json!({
            "name": "/api/v2/orders", "method": "GET", "num_requests": 50, "num_failures": 50,
            "avg_response_time": 5000.0, "p95_response_time": 5000.0
        })],
        ..Behaviour::default()
    });
    let out = dispatch(&lf, &app.url())
        .args(["--threshold", "GET /api/v2/orders: error_rate<1%"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let rows = crate::harness::rows_named(&r, "GET /api/v2/orders");
    assert_eq!(rows.len(), 1, "{}", r["endpoints"]);
    let row = rows[0];
    let requests = row["requests"].as_u64().unwrap();
    assert!(requests > 50, "the real rows and the added one: {row}");
    assert!(row["failures"].as_u64().unwrap() >= 50, "{row}");
    assert_eq!(
        row["latency_ms"]["p95"], 5000.0,
        "the worst part's p95: {row}"
    );
    no_token(&out);
}

/// GitLab's CA file (`CI_SERVER_TLS_CA_FILE`) is for the GitLab calls: one that cannot be
/// used never stops the load test, on LoadForge either.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_bad_gitlab_ca_file_does_not_stop_the_load_test() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, &app.url())
        .write("not-a-ca.pem", "not a certificate\n")
        .env("CI_SERVER_TLS_CA_FILE", "not-a-ca.pem")
        .run()
        .expect_exit(0);
    assert_eq!(out.results()["run"]["engine"], "loadforge");
    assert_eq!(lf.with(|s| s.starts.len()), 1);
}

#[test]
fn a_metric_loadforge_never_reports_is_refused_before_the_run() {
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, "http://127.0.0.1:9")
        .args(["--threshold", "p(75)<500ms"])
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error().contains("p(75)<500ms"),
        "{}",
        out.stderr
    );
    assert_eq!(lf.with(|s| s.calls), 0, "nothing was started");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_metric_loadforge_did_not_return_is_reported_after_the_run() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, &app.url())
        .args(["--threshold", "p95<500ms"])
        .run()
        .expect_exit(2);
    assert!(out.stderr.contains("did not report p95"), "{}", out.stderr);
    assert!(
        out.out_dir().join("results.json").is_file(),
        "reports are still written"
    );
}

#[test]
fn wrong_token_and_unknown_test_are_configuration_errors() {
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, "http://127.0.0.1:9")
        .env("LOADFORGE_API_TOKEN", "lf_wrong_secret_99")
        .run()
        .expect_exit(2);
    assert!(out.error_line().contains("HTTP 401"), "{}", out.stderr);
    assert!(!out.stderr.contains("lf_wrong_secret_99"));
    let out = dispatch(&lf, "http://127.0.0.1:9")
        .env("LOADFORGE_TEST_ID", "999")
        .run()
        .expect_exit(2);
    assert!(
        out.error_line().contains("HTTP 404") && out.stderr.contains("999"),
        "{}",
        out.stderr
    );
    let out = Gate::new()
        .args([
            "run",
            "--engine",
            "loadforge",
            "--host",
            "http://127.0.0.1:9",
        ])
        .env("LOADFORGE_TEST_ID", TEST_ID)
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error().contains("LOADFORGE_API_TOKEN"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn server_errors_and_rate_limits_are_retried() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour {
        errors_5xx: 2,
        rate_limit: Some(1),
        ..Behaviour::default()
    });
    dispatch(&lf, &app.url()).run().expect_exit(0);
}

#[test]
fn a_retry_after_beyond_the_retry_budget_is_not_waited_for() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour {
        rate_limit: Some(3600),
        ..Behaviour::default()
    });
    let begun = std::time::Instant::now();
    let out = dispatch(&lf, &app.url()).run().expect_exit(3);
    assert!(
        begun.elapsed() < std::time::Duration::from_secs(60),
        "waited"
    );
    let line = out.error_line();
    assert!(
        line.contains("HTTP 429 after 0 retries") && line.contains("retry budget"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn garbage_a_failed_run_and_a_stalled_run_cannot_be_judged() {
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour {
        garbage: true,
        ..Behaviour::default()
    });
    let out = dispatch(&lf, &app.url()).run().expect_exit(3);
    assert!(out.error_line().contains("invalid JSON"), "{}", out.stderr);

    let lf = FakeLoadForge::start(Behaviour {
        fail: true,
        ..Behaviour::default()
    });
    let out = dispatch(&lf, &app.url()).run().expect_exit(3);
    assert!(out.stderr.contains("run-1 failed"), "{}", out.stderr);

    let lf = FakeLoadForge::start(Behaviour {
        stall: true,
        ..Behaviour::default()
    });
    let out = dispatch(&lf, &app.url())
        .args(["--max-wait", "3s"])
        .run()
        .expect_exit(3);
    assert!(
        out.stderr.contains("gave up after waiting 3s")
            || out.stderr.contains("gave up after waiting 4s"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn sigterm_while_polling_stops_the_cloud_run_and_exits_4() {
    let app = sample_app(Knobs::default());
    for stop_supported in [true, false] {
        let lf = FakeLoadForge::start(Behaviour {
            stall: true,
            stop_supported,
            ..Behaviour::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(crate::harness::BIN)
            .current_dir(dir.path())
            .env("LOADFORGE_API_TOKEN", TOKEN)
            .env("LOADFORGE_TEST_ID", TEST_ID)
            .env("LOADFORGE_GATE_LOADFORGE_URL", lf.url())
            .args([
                "run",
                "--engine",
                "loadforge",
                "--host",
                &app.url(),
                "--run-time",
                "30s",
                "--poll-interval",
                "200ms",
                "--baseline",
                "none",
            ])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The start, then a poll: the gate has the run's id and is waiting on it.
        let polling = crate::harness::wait_until(std::time::Duration::from_secs(30), || {
            lf.with(|s| s.calls) >= 2
        });
        assert!(polling, "the gate never polled the run");
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        if stop_supported {
            assert_eq!(lf.with(|s| s.stops), 1);
            assert!(
                stderr.contains("asked LoadForge to stop run run-1"),
                "{stderr}"
            );
        } else {
            assert!(stderr.contains("keeps running in the cloud"), "{stderr}");
        }
    }
}

/// The component's `loadforge-test-id` input arrives as LOADFORGE_GATE_LOADFORGE_TEST_ID and wins
/// over the seed's LOADFORGE_TEST_ID; left empty, it gives way to it.
#[test]
fn the_component_input_for_the_test_id_wins_and_empty_gives_way() {
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = dispatch(&lf, "http://127.0.0.1:9")
        .env("LOADFORGE_GATE_LOADFORGE_TEST_ID", "998")
        .run()
        .expect_exit(2);
    assert!(out.stderr.contains("998"), "{}", out.stderr);
    let out = dispatch(&lf, "http://127.0.0.1:9")
        .env("LOADFORGE_GATE_LOADFORGE_TEST_ID", "")
        .env("LOADFORGE_TEST_ID", "997")
        .run()
        .expect_exit(2);
    assert!(out.stderr.contains("997"), "{}", out.stderr);
}
