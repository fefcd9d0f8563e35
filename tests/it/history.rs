//! The run history inside results.json: default-branch runs extend it, other runs read it and
//! pass it on, and regressions are judged against it. Outside GitLab, through `--baseline FILE`
//! and the two variables GitLab sets.

use std::time::Duration;

use crate::harness::{adjustable_app, slow_app, Gate, Output};

/// A short run against `host`, on `branch` of a project whose default branch is `main`,
/// judged against `baseline` (a results.json) when given. Runs judged against each other
/// share one server (made slower between runs where a test needs it): another address is
/// another load, and not comparable.
fn run_on(host: &str, branch: Option<&str>, baseline: Option<&str>) -> Output {
    // No waits: a few hundred requests, so the verdicts do not hang on a dozen samples.
    let mut gate = Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml"])
        .args(["--host", host, "--users", "4", "--spawn-rate", "50"])
        .args(["--run-time", "2s", "--progress", "0"])
        // Wide margins: a loaded test machine adds tens of milliseconds to an unchanged app.
        .args(["--regression", RULE]);
    if let Some(b) = branch {
        gate = gate.env("CI_COMMIT_BRANCH", b);
    }
    gate = match baseline {
        Some(text) => gate
            .write("base.json", text)
            .args(["--baseline", "base.json"]),
        None => gate.args(["--baseline", "none"]),
    };
    gate.run()
}

const RULE: &str = "p95 +200% +200ms";

fn history_len(out: &Output) -> usize {
    out.results()["history"].as_array().map_or(0, |h| h.len())
}

fn p95_detail(out: &Output) -> String {
    out.results()["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["expression"] == RULE)
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no p95 regression check: {}", out.stderr))
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn default_branch_runs_extend_the_chain_and_branch_runs_only_read_it() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let (app, extra) = adjustable_app(50);
    let host = app.url();
    let first = run_on(&host, Some("main"), None).expect_exit(0);
    assert_eq!(history_len(&first), 1, "the first run starts the chain");
    let second = run_on(&host, Some("main"), Some(&first.file("results.json"))).expect_exit(0);
    assert_eq!(history_len(&second), 2);
    assert!(p95_detail(&second).contains("vs baseline"));
    let third = run_on(&host, Some("main"), Some(&second.file("results.json"))).expect_exit(0);
    assert_eq!(history_len(&third), 3);
    let detail = p95_detail(&third);
    assert!(
        detail.contains("a history of 2 runs is too short"),
        "{detail}"
    );
    let chain = third.file("results.json");

    // A feature branch (or a merge request: no CI_COMMIT_BRANCH) is judged by the chain and
    // passes it on unchanged.
    for branch in [Some("feature"), None] {
        let same = run_on(&host, branch, Some(&chain)).expect_exit(0);
        assert_eq!(history_len(&same), 3, "a branch run extended the chain");
        assert_eq!(same.results()["history"], third.results()["history"]);
        let detail = p95_detail(&same);
        assert!(detail.contains("median of 3 runs"), "{detail}");
        // The comment says how sure the verdict is, and report.html draws the trend.
        let summary = same.file("summary.md");
        // (in its words: an unchanged build reads within noise, or a real but allowed change;
        // "too noisy to judge below +X%" on a noisy machine)
        assert!(
            [
                "within noise",
                "below the margin",
                "improvement",
                "too noisy"
            ]
            .iter()
            .any(|w| summary.contains(&format!("_({w}"))),
            "{summary}"
        );
        assert!(same.file("report.html").contains("p95 per run"));
    }
    extra.set(Duration::from_millis(1450));
    let slow = run_on(&host, Some("feature"), Some(&chain)).expect_exit(1);
    let detail = p95_detail(&slow);
    assert!(detail.contains(": regression"), "{detail}");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_history_that_cannot_be_read_is_a_note_not_a_failure() {
    let app = slow_app(50);
    let first = run_on(&app.url(), Some("main"), None).expect_exit(0);
    let mut doc = first.results();
    doc["history"] = serde_json::json!([{"engine": 5}]);
    let out = run_on(&app.url(), Some("feature"), Some(&doc.to_string())).expect_exit(0);
    let notes = out.results()["notes"].to_string();
    assert!(notes.contains("run history was not usable"), "{notes}");
    assert!(p95_detail(&out).contains("vs baseline"));
}

/// Pipelines on `main` with only the job token: each downloads the previous one's results by
/// ref and extends the chain; the third pipeline's merge-request comment (its summary.md, and
/// the note itself when an API token is there to post it) draws a three-point sparkline.
#[test]
fn with_only_the_job_token_the_third_pipeline_shows_a_three_point_trend() {
    use crate::fake_gitlab::{FakeGitlab, JOB_TOKEN, PRIVATE_TOKEN, PROJECT};
    let gl = FakeGitlab::start();
    let app = slow_app(30);
    let pipeline = |branch: &str, id: &str| {
        Gate::new()
            .env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", &gl.api_url())
            .env("CI_PROJECT_ID", PROJECT)
            .env("CI_JOB_NAME", "perf")
            .env("CI_JOB_TOKEN", JOB_TOKEN)
            .env("CI_PIPELINE_ID", id)
            .env("CI_COMMIT_SHA", &format!("{id:0>40}"))
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_COMMIT_REF_NAME", branch)
            .write("s.yml", "tasks: [{request: {path: /health}}]\n")
            .args(["run", "--scenario", "s.yml", "--host", &app.url()])
            .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
            .args(["--regression", RULE])
    };
    for id in ["101", "102"] {
        let out = pipeline("main", id)
            .env("CI_COMMIT_BRANCH", "main")
            .run()
            .expect_exit(0);
        gl.add_pipeline(
            "main",
            id,
            "success",
            "perf",
            Some(&out.file("results.json")),
        );
    }
    let mr = pipeline("feature", "103")
        .env("CI_PIPELINE_SOURCE", "merge_request_event")
        .env("CI_MERGE_REQUEST_IID", "7")
        .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .run()
        .expect_exit(0);
    assert_eq!(history_len(&mr), 2, "{}", mr.stderr);
    let summary = mr.file("summary.md");
    let row = summary
        .lines()
        .find(|l| l.starts_with("| **all requests**"))
        .unwrap_or_else(|| panic!("{summary}"));
    let spark = row.rsplit('`').nth(1).unwrap_or_default();
    assert_eq!(spark.chars().count(), 3, "{row}");
    let notes = gl.notes(7);
    assert!(
        notes.first().is_some_and(|n| n.body.contains(spark)),
        "{notes:?}"
    );
}

/// Finding: an interrupted, aborted or partial default-branch run joined the history unflagged
/// and became part of "normal". A run stopped by an abort rule is published and judged, but
/// the chain it passes on is the one it read, and its notes say why.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_aborted_default_branch_run_never_joins_the_history() {
    let app = slow_app(2);
    let first = run_on(&app.url(), Some("main"), None).expect_exit(0);
    assert_eq!(history_len(&first), 1);
    let aborted = Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .write("base.json", &first.file("results.json"))
        .args(["run", "--scenario", "s.yml", "--baseline", "base.json"])
        .args(["--host", &app.url(), "--users", "4", "--spawn-rate", "50"])
        .args(["--run-time", "20s", "--progress", "0"])
        .args(["--threshold", "p95<0.001ms abort-on-fail"])
        .run()
        .expect_exit(1);
    let r = aborted.results();
    assert!(r["run"]["aborted"].is_string(), "{}", r["run"]);
    assert_eq!(
        history_len(&aborted),
        1,
        "the chain it read, without itself"
    );
    assert_eq!(
        r["history"][0]["started_at"],
        first.results()["run"]["started_at"]
    );
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("This run does not join the default branch's run history: an abort rule stopped it early."),
        "{notes}"
    );
}
