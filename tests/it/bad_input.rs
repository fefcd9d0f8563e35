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

#[track_caller]
fn expect_usage_error(out: crate::harness::Output, needles: &[&str]) {
    let out = out.expect_exit(2);
    let line = out.one_line_error().to_string();
    for n in needles {
        assert!(line.contains(n), "`{n}` not in: {line}");
    }
    assert!(
        !out.out_dir().join("results.json").exists(),
        "no load may run on a usage error"
    );
}

#[test]
fn unknown_flag() {
    expect_usage_error(run_with(&["--userz", "3"]), &["--userz"]);
}

#[test]
fn non_numeric_flag_value() {
    expect_usage_error(run_with(&["--users", "many"]), &["many", "--users"]);
}

#[test]
fn unknown_metric() {
    expect_usage_error(
        run_with(&["--threshold", "p42x<3ms"]),
        &["p42x<3ms", "unknown metric"],
    );
}

#[test]
fn malformed_thresholds() {
    for (expr, why) in [
        ("p95<<3", "not a number"),
        ("p95<abc", "not a number"),
        ("error_rate<150%", "more than 100%"),
    ] {
        expect_usage_error(run_with(&["--threshold", expr]), &[expr, why]);
    }
}

#[test]
fn malformed_regression_rule() {
    expect_usage_error(
        run_with(&["--regression", "p95 20%"]),
        &["p95 20%", "+ (growth)"],
    );
}

#[test]
fn selector_that_matches_no_endpoint() {
    expect_usage_error(
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
    expect_usage_error(out, &["missing.yml", "--scenario"]);
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
    expect_usage_error(out, &["s.yml", "line", "column"]);
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
    expect_usage_error(out, &["unknown field `metod`", "line 4"]);
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
    expect_usage_error(out, &["LFG_SURELY_UNSET", "tasks[0].request.path"]);
}

#[test]
fn host_not_a_url() {
    expect_usage_error(
        run_with(&["--host", "not a host"]),
        &["--host", "not a host"],
    );
    expect_usage_error(
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
    expect_usage_error(out, &["--host", "TARGET_HOST"]);
}

#[test]
fn zero_run_time() {
    expect_usage_error(run_with(&["--run-time", "0s"]), &["--run-time", "0s"]);
    expect_usage_error(run_with(&["--run-time", "5 parsecs"]), &["--run-time"]);
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
    let line = out.one_line_error();
    assert!(
        line.contains("blocker/reports") && line.contains("--out"),
        "{line}"
    );
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
    expect_usage_error(out, &["soak", "smoke"]);
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
    expect_usage_error(out, &["--profile smoke", "loadforge-gate.yml"]);
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
    expect_usage_error(out, &["old.json", "results/v0", "--baseline none"]);
}
