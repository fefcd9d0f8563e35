//! A merge-request run against a baseline of another load (other users, another target):
//! every report says "not comparable" with each difference, no regression check shows as
//! passed, and the thresholds alone decide the exit code. History runs of another load are
//! left out of the band, and counted.

use crate::harness::{slow_app, Gate, Output};

/// A short run of one request against `host` with `users`, on `main` (so the run heads the
/// history it writes) or in a merge request, judged against `baseline` when given.
fn run(host: &str, users: &str, on_main: bool, baseline: Option<&str>) -> Output {
    let mut gate = Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml", "--host", host])
        .args(["--users", users, "--spawn-rate", "50", "--run-time", "2s"])
        .args(["--progress", "0", "--regression", "p95 +20% +50ms"]);
    gate = if on_main {
        gate.env("CI_COMMIT_BRANCH", "main")
    } else {
        gate.env("CI_MERGE_REQUEST_IID", "7")
    };
    match baseline {
        Some(text) => gate
            .write("base.json", text)
            .args(["--baseline", "base.json"]),
        None => gate.args(["--baseline", "none"]),
    }
    .run()
}

fn regression_checks(out: &Output) -> Vec<serde_json::Value> {
    let r = out.results();
    let checks = r["verdict"]["checks"].as_array().unwrap().clone();
    checks
        .into_iter()
        .filter(|c| c["kind"] == "regression")
        .collect()
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_baseline_of_other_users_and_another_target_is_not_comparable() {
    let fast = slow_app(2);
    let base = run(&fast.url(), "4", true, None).expect_exit(0);
    // Fifty times slower: judged against the baseline, the p95 rule would fail.
    let slow = slow_app(100);
    // Another load is not judged (exit 5), never passed: the case of a merge request
    // that made every request 50x slower and ran other users.
    let out = run(&slow.url(), "2", false, Some(&base.file("results.json"))).expect_exit(5);
    let origin = |url: &str| url.trim_end_matches('/').to_string();
    let differences = [
        format!("target {} → {}", origin(&fast.url()), origin(&slow.url())),
        "users 4 → 2".to_string(),
    ];
    let r = out.results();
    assert_eq!(r["comparison"]["load"], "different");
    assert_eq!(
        r["comparison"]["load_differences"],
        serde_json::json!(differences)
    );
    let checks = regression_checks(&out);
    assert!(!checks.is_empty());
    for c in &checks {
        assert_eq!(c["state"], "not_judged", "{c}");
        assert_eq!(c["reason"], "not_comparable", "{c}");
    }
    assert_eq!(r["verdict"]["outcome"], "not_judged");
    assert!(out.file("metrics.txt").contains("loadforge_gate_passed 0"));
    let summary = out.file("summary.md");
    assert!(
        summary.contains("Not comparable with the baseline"),
        "{summary}"
    );
    for d in &differences {
        assert!(summary.contains(&format!("> - {d}")), "{d}: {summary}");
    }
    assert!(
        summary.contains("_(**not judged**: not comparable)_"),
        "{summary}"
    );
    assert!(
        summary.starts_with("### ⚠️ Performance gate NOT JUDGED"),
        "{summary}"
    );
    assert!(!summary.contains("| ✅ | p95 +20% +50ms"), "{summary}");
    let junit = out.file("junit.xml");
    assert!(
        junit.contains("<error message=\"not judged: not comparable: ")
            && !junit.contains("<skipped"),
        "{junit}"
    );
    assert!(out.stdout.contains("NOT JUDGED"), "{}", out.stdout);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn history_runs_of_another_load_are_left_out_and_counted() {
    let app = slow_app(2);
    let first = run(&app.url(), "4", true, None).expect_exit(0);
    // The chain as if two earlier runs had used two users, and one four.
    let mut doc = first.results();
    let entry = doc["history"][0].clone();
    let with_users = |users: u32| {
        let mut e = entry.clone();
        e["load"]["users"] = users.into();
        e
    };
    doc["history"] = serde_json::json!([entry, with_users(2), with_users(2), with_users(4)]);
    let out = run(&app.url(), "4", false, Some(&doc.to_string())).expect_exit(0);
    let r = out.results();
    assert_eq!(r["comparison"]["load"], "same");
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("2 history runs with another load shape were left out"),
        "{notes}"
    );
    let detail = regression_checks(&out)[0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("a history of 2 runs is too short"),
        "{detail}"
    );
}
