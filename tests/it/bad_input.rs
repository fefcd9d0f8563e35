//! Every bad input: a one-line error naming the culprit, the documented exit code, no panic.

use crate::harness::{example, Gate};

/// A run of the shop scenario; `--host` and `--run-time` get harmless values unless `extra`
/// gives its own.
fn run_with(extra: &[&str]) -> crate::harness::Output {
    let mut gate = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--progress",
            "0",
        ])
        .args(extra);
    if !extra.contains(&"--host") {
        gate = gate.args(["--host", "http://127.0.0.1:9"]);
    }
    if !extra.contains(&"--run-time") {
        gate = gate.args(["--run-time", "1s"]);
    }
    gate.run()
}

/// Exit 2 with the error naming every needle; the whole text (message and causes) is pinned by
/// the snapshot `name`, so a message cannot decay unnoticed.
#[track_caller]
fn expect_usage_error(name: &str, out: crate::harness::Output, needles: &[&str]) {
    let out = out.expect_exit(2);
    let line = out.error_text().to_string();
    for n in needles {
        assert!(line.contains(n), "`{n}` not in: {line}");
    }
    insta::assert_snapshot!(name, out.error_snapshot());
    assert!(
        !out.out_dir().join("results.json").exists(),
        "no load may run on a usage error"
    );
}

#[test]
fn unknown_flag() {
    expect_usage_error("unknown_flag", run_with(&["--userz", "3"]), &["--userz"]);
}

#[test]
fn non_numeric_flag_value() {
    expect_usage_error(
        "non_numeric_flag_value",
        run_with(&["--users", "many"]),
        &["many", "--users"],
    );
}

#[test]
fn unknown_metric() {
    expect_usage_error(
        "unknown_metric",
        run_with(&["--threshold", "p42x<3ms"]),
        &["p42x<3ms", "unknown metric"],
    );
}

#[test]
fn malformed_thresholds() {
    for (i, (expr, why)) in [
        ("p95<<3", "not a number"),
        ("p95<abc", "not a number"),
        ("error_rate<150%", "more than 100%"),
    ]
    .into_iter()
    .enumerate()
    {
        expect_usage_error(
            &format!("malformed_thresholds_{i}"),
            run_with(&["--threshold", expr]),
            &[expr, why],
        );
    }
}

#[test]
fn malformed_regression_rule() {
    expect_usage_error(
        "malformed_regression_rule",
        run_with(&["--regression", "p95 20%"]),
        &["p95 20%", "+ (growth)"],
    );
}

#[test]
fn selector_that_matches_no_endpoint() {
    expect_usage_error(
        "selector_that_matches_no_endpoint",
        run_with(&["--threshold", "GET /nope: p95<1s"]),
        &[
            "GET /nope",
            "matches no endpoint",
            "GET /api/catalog/search",
        ],
    );
}

#[test]
fn scenario_file_missing() {
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            "missing.yml",
            "--host",
            "http://127.0.0.1:9",
            "--run-time",
            "1s",
        ])
        .run();
    expect_usage_error("scenario_file_missing", out, &["missing.yml", "--scenario"]);
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let out = Gate::new()
        .write("s.yml", "tasks:\n  - request: {path: /\n  - oops\n")
        .args([
            "run",
            "--scenario",
            "s.yml",
            "--host",
            "http://127.0.0.1:9",
            "--run-time",
            "1s",
        ])
        .run();
    expect_usage_error(
        "yaml_syntax_error_has_line_and_column",
        out,
        &["s.yml", "line", "column"],
    );
}

#[test]
fn unknown_scenario_field() {
    let out = Gate::new()
        .write(
            "s.yml",
            "tasks:\n  - request:\n      path: /\n      metod: GET\n",
        )
        .args([
            "run",
            "--scenario",
            "s.yml",
            "--host",
            "http://127.0.0.1:9",
            "--run-time",
            "1s",
        ])
        .run();
    expect_usage_error(
        "unknown_scenario_field",
        out,
        &["unknown field `metod`", "line 4"],
    );
}

#[test]
fn env_template_without_default_and_unset() {
    let out = Gate::new()
        .write(
            "s.yml",
            "tasks: [{request: {path: \"/x/${env.LFG_SURELY_UNSET}\"}}]\n",
        )
        .args([
            "run",
            "--scenario",
            "s.yml",
            "--host",
            "http://127.0.0.1:9",
            "--run-time",
            "1s",
        ])
        .run();
    expect_usage_error(
        "env_template_without_default_and_unset",
        out,
        &["LFG_SURELY_UNSET", "tasks[0].request.path"],
    );
}

#[test]
fn host_not_a_url() {
    expect_usage_error(
        "host_not_a_url",
        run_with(&["--host", "not a host"]),
        &["--host", "not a host"],
    );
    expect_usage_error(
        "host_not_a_url_2",
        run_with(&["--host", "ftp://example.com"]),
        &["--host", "http"],
    );
}

#[test]
fn host_missing() {
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--run-time",
            "1s",
        ])
        .run();
    expect_usage_error("host_missing", out, &["--host", "TARGET_HOST"]);
}

#[test]
fn zero_run_time() {
    expect_usage_error(
        "zero_run_time",
        run_with(&["--run-time", "0s"]),
        &["--run-time", "0s"],
    );
    expect_usage_error(
        "zero_run_time_2",
        run_with(&["--run-time", "5 parsecs"]),
        &["--run-time"],
    );
}

#[test]
fn out_dir_not_writable() {
    // A regular file where the directory should be: not writable even for root.
    let gate = Gate::new().write("blocker", "x");
    let target = gate.path().join("blocker").join("reports");
    let out = gate
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--run-time", "1s", "--out"])
        .arg_path(&target)
        .run()
        .expect_exit(2);
    let line = out.error_text();
    assert!(
        line.contains("blocker/reports") && line.contains("--out"),
        "{line}"
    );
    insta::assert_snapshot!(out.error_snapshot());
}

#[test]
fn unknown_profile_and_profile_without_config() {
    let out = Gate::new()
        .write("loadforge-gate.yml", "profiles:\n  smoke: {users: 1}\n")
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--profile", "soak"])
        .run();
    expect_usage_error(
        "unknown_profile_and_profile_without_config",
        out,
        &["soak", "smoke"],
    );
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--profile", "smoke"])
        .run();
    expect_usage_error(
        "unknown_profile_and_profile_without_config_2",
        out,
        &["--profile smoke", "loadforge-gate.yml"],
    );
}

#[test]
fn baseline_of_another_schema_is_refused() {
    let out = Gate::new()
        .write("old.json", r#"{"schema": "loadforge-gate/results/v0"}"#)
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--run-time", "1s", "--baseline", "old.json"])
        .run();
    expect_usage_error(
        "baseline_of_another_schema_is_refused",
        out,
        &["old.json", "results/v0", "--baseline none"],
    );
}

#[test]
fn unreadable_baseline_file_prints_its_cause() {
    expect_usage_error(
        "unreadable_baseline_file_prints_its_cause",
        run_with(&["--baseline", "missing.json"]),
        &[
            "missing.json",
            "--baseline",
            "caused by: No such file or directory",
        ],
    );
}

/// A zero wait is refused before anything is sent: the LoadForge URL here is a closed port, so a
/// network call would end in exit 3, not 2.
#[test]
fn a_zero_max_wait_is_refused_before_any_network_call() {
    let out = Gate::new()
        .env("LOADFORGE_API_TOKEN", "lf-secret")
        .env("LOADFORGE_TEST_ID", "42")
        .args([
            "run",
            "--engine",
            "loadforge",
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--loadforge-url", "http://127.0.0.1:9", "--max-wait", "0s"])
        .run();
    expect_usage_error(
        "a_zero_max_wait_is_refused_before_any_network_call",
        out,
        &["--max-wait"],
    );
}

/// `merge` judges shards it did not run: it takes only the judging flags.
#[test]
fn merge_help_lists_no_load_flags() {
    let out = Gate::new().args(["merge", "--help"]).run().expect_exit(0);
    for flag in ["--threshold", "--baseline", "--out", "--comment"] {
        assert!(out.stdout.contains(flag), "{flag} missing:\n{}", out.stdout);
    }
    for flag in [
        "--scenario",
        "--users",
        "--locust-arg",
        "--host",
        "--run-time",
        "--shard",
    ] {
        assert!(!out.stdout.contains(flag), "{flag} listed:\n{}", out.stdout);
    }
    let out = Gate::new()
        .args(["merge", "x.json", "--users", "3"])
        .run()
        .expect_exit(2);
    assert!(out.one_line_error().contains("--users"), "{}", out.stderr);
}

/// Shard and results files come from other jobs: a declared shard count of u32::MAX is a clear
/// "shards missing" (not a 4 GB table), and a negative duration re-publishes without a panic.
#[test]
fn shard_and_results_files_with_absurd_numbers() {
    let app = crate::harness::sample_app(loadforge_gate::sample_app::Knobs::default());
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "2",
            "--run-time",
            "1s",
            "--progress",
            "0",
            "--shard",
            "1/2",
        ])
        .run()
        .expect_exit(0);
    let shard = out.out_dir().join("shards/shard-1-of-2.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shard).unwrap()).unwrap();
    doc["run"]["shard"]["count"] = serde_json::json!(u32::MAX);
    let (out, peak_mib) = Gate::new()
        .write("s.json", &doc.to_string())
        .args(["merge", "s.json", "--baseline", "none"])
        .run_measuring_memory();
    let out = out.expect_exit(2);
    assert!(peak_mib < 200.0, "merge peaked at {peak_mib:.0} MiB");
    assert!(
        out.error_line()
            .contains("shards missing: 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, and 4294967284 more"),
        "{}",
        out.stderr
    );
    doc["run"]["shard"] = serde_json::Value::Null;
    doc["run"]["duration_s"] = serde_json::json!(-5.0);
    // A shard carries no verdict, so its re-published reports say "not judged" (exit 1).
    let out = Gate::new()
        .write("r.json", &doc.to_string())
        .args(["report", "r.json"])
        .run()
        .expect_exit(1);
    assert!(
        out.file("junit.xml").contains("loadforge-gate"),
        "{}",
        out.stderr
    );
}
