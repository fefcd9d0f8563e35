//! Whole gate runs of the real binary against the real sample app.

use crate::harness::{example, reasons, sample_app, slow_app, Gate, REPORTS};
use loadforge_gate::sample_app::Knobs;

fn run_flow(file: &str) {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .args(["run", "--scenario", &example(file), "--host", &app.url()])
        .args([
            "--users",
            "6",
            "--spawn-rate",
            "20",
            "--run-time",
            "5s",
            "--progress",
            "0",
        ])
        .args(["--threshold", "error_rate<0.001%", "--baseline", "none"])
        .run()
        .expect_exit(0);
    let r = out.results();
    let requests = r["aggregate"]["requests"].as_u64().unwrap();
    assert!(requests >= 6, "{file}: only {requests} requests");
    assert_eq!(r["aggregate"]["failures"], 0, "{file}: {:?}", reasons(&r));
    for e in r["endpoints"].as_array().unwrap() {
        assert_eq!(e["failures"], 0, "{file}: {e}");
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn login_dashboard_flow_runs_clean() {
    run_flow("login-dashboard.yml");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn oauth_api_flow_runs_clean() {
    run_flow("oauth-api.yml");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn shop_cart_flow_runs_clean() {
    run_flow("shop-cart.yml");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn admin_reports_flow_runs_clean_including_the_polled_status() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("admin-reports.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "20",
            "--spawn-rate",
            "50",
            "--run-time",
            "6s",
            "--progress",
            "0",
        ])
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    let status = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GET /api/admin/reports/:id/status")
        .unwrap();
    assert!(
        status["requests"].as_u64().unwrap() > 0,
        "the multi-step task reached its poll"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn demo_passes_and_writes_every_report() {
    let out = Gate::new()
        .args(["demo", "--run-time", "3s", "--users", "10"])
        .run()
        .expect_exit(0);
    for f in REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    assert!(out.stdout.contains("PASSED"), "{}", out.stdout);
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["verdict"]["outcome"], "passed");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_second_demo_compares_with_the_first() {
    let first = Gate::new()
        .args(["demo", "--run-time", "2s", "--users", "5"])
        .run()
        .expect_exit(0);
    // Run again in the same directory: the first results.json becomes the baseline.
    let out = std::process::Command::new(crate::harness::BIN)
        .current_dir(first.dir.path())
        .args(["demo", "--run-time", "2s", "--users", "5"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = first.results();
    assert!(r["comparison"]["rows"].as_array().unwrap().len() > 1);
    // The second demo listens where the first did: the same load, so regressions are judged.
    assert_eq!(
        r["comparison"]["load"], "same",
        "{}",
        r["comparison"]["load_differences"]
    );
    let kinds: Vec<&str> = r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"regression"), "{kinds:?}");
    assert!(first
        .file("summary.md")
        .contains("Compared with the baseline"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_tight_threshold_fails_the_gate_and_every_report_says_so() {
    let app = slow_app(20);
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("login-dashboard.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "4",
            "--spawn-rate",
            "20",
            "--run-time",
            "3s",
            "--progress",
            "0",
        ])
        .args(["--threshold", "p95<1ms", "--threshold", "error_rate<1%"])
        .run()
        .expect_exit(1);
    let junit = out.file("junit.xml");
    assert!(junit.contains(r#"name="threshold: p95&lt;1ms""#), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(junit.contains("limit &lt; 1.00 ms"), "{junit}");
    let summary = out.file("summary.md");
    assert!(
        summary.starts_with("### ❌ Performance gate failed: 1 of 2 checks failed"),
        "{summary}"
    );
    assert!(summary.contains("| ❌ | **p95&lt;1ms** |"), "{summary}");
    let r = out.results();
    let failed: Vec<_> = r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["value"].as_f64().unwrap() >= 20.0,
        "the imposed latency shows"
    );
    assert!(out.stdout.contains("FAILED"), "{}", out.stdout);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_unreachable_host_fails_every_request_and_still_reports() {
    // Bind then drop a listener: the port is free and nothing accepts on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--users", "3", "--run-time", "2s", "--progress", "0"])
        .run()
        .expect_exit(1);
    for f in REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    let r = out.results();
    let reasons = reasons(&r);
    assert!(
        reasons.get("connection refused").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
    assert_eq!(r["aggregate"]["requests"], r["aggregate"]["failures"]);
    assert!(out
        .file("junit.xml")
        .contains("error_rate of all requests = 100.00%"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_json_path_that_matches_nothing_fails_the_request_with_that_reason() {
    let app = sample_app(Knobs::default());
    let scenario = r#"
on_start:
  - request:
      name: login
      method: POST
      path: /api/v1/auth/login
      json: {email: a@example.com, password: pw}
      extract: {token: $.no_such_field}
  - set_headers: {Authorization: "Bearer ${token}"}
tasks:
  - request: {name: profile, path: /api/v1/account/profile}
    weight: 1
wait: 0.2
"#;
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "2s", "--progress", "0"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let reasons = reasons(&r);
    assert_eq!(
        reasons.get("extract token: JSON path $.no_such_field matched nothing"),
        Some(&2),
        "{reasons:?}"
    );
    // The token never arrived, so the tasks ran without it and were refused.
    assert!(
        reasons.get("HTTP 401").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
}

#[test]
fn environment_variables_reach_the_scenario_and_settings() {
    let app = sample_app(Knobs::default());
    let scenario = "tasks: [{request: {name: hit, path: \"${env.PROBE_PATH}\"}}]\nwait: 0.1\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .env("PROBE_PATH", "/health")
        .env("TARGET_HOST", &app.url())
        .env("LOADFORGE_GATE_SCENARIO", "s.yml")
        .env("LOADFORGE_GATE_USERS", "2")
        .env("LOADFORGE_GATE_RUN_TIME", "1s")
        .env("LOADFORGE_GATE_THRESHOLD", "error_rate<1%;hit: p95<1s")
        .args(["run", "--progress", "0"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["run"]["users"], 2);
    assert_eq!(r["verdict"]["checks"].as_array().unwrap().len(), 2);
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn sigterm_stops_the_run_publishes_partial_results_and_exits_4() {
    let app = sample_app(Knobs::default());
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .current_dir(dir.path())
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "5",
            "--run-time",
            "60s",
            "--progress",
            "1",
            "--baseline",
            "none",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().expect("stderr piped");
    let under_way = crate::harness::wait_for_requests(stderr, std::time::Duration::from_secs(30));
    assert!(under_way, "no progress line showed requests within 30 s");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("loadforge-gate/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["run"]["interrupted"], true);
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert!(r["run"]["duration_s"].as_f64().unwrap() < 30.0);
    let junit = std::fs::read_to_string(dir.path().join("loadforge-gate/junit.xml")).unwrap();
    assert!(junit.contains("results are partial"), "{junit}");
}

/// One rule for names: a request named `GET /health` and one left to its default name (also
/// `GET /health`) are one endpoint, judged on both.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn rows_with_the_same_name_are_judged_together() {
    let app = sample_app(Knobs::default());
    let scenario = "tasks:\n  - request: {name: GET /health, path: /health}\n  - request: {path: /health, check: {status: 500}}\nwait: 0.05\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "2s", "--progress", "0"])
        .args([
            "--baseline",
            "none",
            "--threshold",
            "GET /health: error_rate<1%",
        ])
        .run()
        .expect_exit(1);
    let r = out.results();
    let rows = crate::harness::rows_named(&r, "GET /health");
    assert_eq!(rows.len(), 1, "{}", r["endpoints"]);
    let failures = rows[0]["failures"].as_u64().unwrap();
    assert!(failures > 0, "{}", rows[0]);
    assert!(
        rows[0]["requests"].as_u64().unwrap() > failures,
        "{}",
        rows[0]
    );
}

/// The audit's case: a header whose rendered value no header may carry (a variable holding a
/// newline) was sent empty, silently. It is a counted request failure with its reason, on a
/// request's own header and on a session header set by `set_headers`.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_invalid_header_value_is_never_sent_empty() {
    let app = sample_app(Knobs::default());
    let scenario = "tasks:\n  - steps:\n      - set: {v: \"a\\nb\"}\n      - request: {name: own header, path: /health, headers: {X-Probe: \"${v}\"}}\n  - steps:\n      - set: {v: \"a\\nb\"}\n      - set_headers: {X-Probe: \"${v}\"}\n      - request: {name: session header, path: /health}\nwait: 0.05\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<1%"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let reason =
        "header `x-probe` rendered to an invalid value (a newline or another control character)";
    for name in ["own header", "session header"] {
        let e = r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {}", r["endpoints"]));
        assert!(e["failures"].as_u64().unwrap() > 0, "{e}");
        assert_eq!(e["failures"], e["requests"], "{e}");
        assert_eq!(e["failures_by_reason"][reason], e["failures"], "{e}");
    }
}

/// `body_contains` renders `${env.X}` like every other field, and the variable's value, which
/// may be a secret, is never printed: a failed check names it as written.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn body_contains_renders_environment_variables_and_never_prints_them() {
    let app = sample_app(Knobs::default());
    let scenario = "tasks:\n  - request: {name: found, path: /health, check: {body_contains: \"${env.NEEDLE_FOUND}\"}}\n  - request: {name: missing, path: /health, check: {body_contains: \"${env.NEEDLE_SECRET}\"}}\nwait: 0.05\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .env("NEEDLE_FOUND", "ok")
        .env("NEEDLE_SECRET", "hunter2-canary")
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "found: error_rate<1%"])
        .args(["--threshold", "missing: error_rate<1%"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let row = |name: &str| {
        r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {}", r["endpoints"]))
    };
    let found = row("found");
    assert!(found["requests"].as_u64().unwrap() > 0, "{found}");
    assert_eq!(
        found["failures"], 0,
        "the value `ok` was looked for: {found}"
    );
    let missing = row("missing");
    assert_eq!(
        missing["failures_by_reason"]["body does not contain \"${env.NEEDLE_SECRET}\""],
        missing["requests"],
        "{missing}"
    );
    assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));
    for f in REPORTS {
        if let Ok(text) = std::fs::read_to_string(out.out_dir().join(f)) {
            assert!(!text.contains("hunter2"), "the value is in {f}");
        }
    }
}

/// A `set_headers` or `set` step whose variable went missing ends its task as a counted failure
/// (on the request it was preparing), never as a silent skip that sends nothing.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_set_step_that_cannot_render_is_a_counted_failure() {
    let app = sample_app(Knobs::default());
    let scenario = "on_start:\n  - request:\n      name: GET /health\n      path: /health\n      extract: {token: $.token}\n\
tasks:\n  - steps:\n      - set_headers: {Authorization: \"Bearer ${token}\"}\n      - set: {id: \"${token}\"}\n      - request: {name: GET /api/v1/projects, path: /api/v1/projects}\n";
    let out = Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let projects = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GET /api/v1/projects")
        .unwrap();
    let reasons = projects["failures_by_reason"].as_object().unwrap();
    let unset = reasons
        .get("variable `token` is not set (its extraction failed earlier)")
        .and_then(|n| n.as_u64())
        .unwrap_or(0);
    assert!(unset >= 2, "{projects}");
    assert_eq!(projects["failures"], projects["requests"], "{projects}");
}

/// A panicking virtual user ends the run as a crash (exit 3) naming it, and what the other
/// users measured is still published: never a pass with requests silently missing.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_panicking_user_is_a_crash_with_partial_reports() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .env("LOADFORGE_GATE_FAIL_POINT", "user-panic")
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            &app.url(),
        ])
        .args(["--users", "3", "--run-time", "2s", "--progress", "0"])
        .args(["--baseline", "none", "--threads", "1"])
        .run()
        .expect_exit(3);
    assert!(
        out.stderr
            .contains("a virtual user panicked (fail point: user 0 panics)"),
        "{}",
        out.stderr
    );
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0, "{r}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("These results are partial"), "{notes}");
}
