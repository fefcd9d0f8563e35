//! A merge-request run against a baseline of another load (other users, another target):
//! every report says "not comparable" with each difference, no regression check shows as
//! passed, and the thresholds alone decide the exit code. History runs of another load are
//! left out of the band, and counted. The same system at another address (a review app named
//! after the merge request, two ports named by one target id, the previous release's review
//! app) is the same load: a regression against it is judged.

use crate::harness::{slow_app, Gate, Output};

/// The gate of a short run of one request against `host` with `users`, before its branch and
/// baseline are chosen.
fn load(host: &str, users: &str) -> Gate {
    Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml", "--host", host])
        .args(["--users", users, "--spawn-rate", "50", "--run-time", "2s"])
        .args(["--progress", "0", "--regression", "p95 +20% +50ms"])
}

/// A short run of one request against `host` with `users`, on `main` (so the run heads the
/// history it writes) or in a merge request, judged against `baseline` when given.
fn run(host: &str, users: &str, on_main: bool, baseline: Option<&str>) -> Output {
    let mut gate = load(host, users);
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

/// Output with the target's per-pipeline values or its id validates against the schema.
fn assert_valid(results: &serde_json::Value) {
    let errors: Vec<String> = crate::schema::schema()
        .iter_errors(results)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The line of `summary.md` that shows the p95 regression rule.
fn p95_rule_line(out: &Output) -> String {
    let summary = out.file("summary.md");
    summary
        .lines()
        .find(|l| l.contains("p95 +20% +50ms"))
        .unwrap_or_else(|| panic!("no p95 rule in {summary}"))
        .to_string()
}

/// A regression judged against a baseline of the same load: the run fails, the rule's row
/// says so, and no report says the two runs are not comparable.
fn assert_judged_a_regression(out: Output) {
    let out = out.expect_exit(1);
    let line = p95_rule_line(&out);
    assert!(line.starts_with("| ❌ |"), "{line}");
    let summary = out.file("summary.md");
    assert!(!summary.contains("ot comparable"), "{summary}");
    assert!(!out.stdout.contains("not comparable"), "{}", out.stdout);
    assert_eq!(out.results()["comparison"]["load"], "same");
}

/// The defect on main: a review app named after the merge request (`mr-42`, `mr-57`) was never
/// comparable with another pipeline's, so a regression was never judged. The hosts are names
/// no resolver knows: the runs reach the sample apps through them as a forward proxy (the sample
/// app accepts absolute-form requests).
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn review_apps_named_after_the_merge_request_are_judged_against_each_other() {
    let fast = slow_app(2);
    let base = load("http://mr-42.review.test", "2")
        .env("HTTP_PROXY", &fast.url())
        .env("CI_MERGE_REQUEST_IID", "42")
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0);
    assert_eq!(
        base.results()["run"]["load"]["target_vars"],
        serde_json::json!({"CI_MERGE_REQUEST_IID": "42"})
    );
    assert_valid(&base.results());
    // Fifty times slower, at the next merge request's review app.
    let slow = slow_app(100);
    let out = load("http://mr-57.review.test", "2")
        .env("HTTP_PROXY", &slow.url())
        .env("CI_MERGE_REQUEST_IID", "57")
        .write("base.json", &base.file("results.json"))
        .args(["--baseline", "base.json"])
        .run();
    assert_judged_a_regression(out);
}

/// Two addresses (a port each) named one system by a target id, from the flag on the default
/// branch and the variable in the merge request: a regression is judged. Another id is
/// another target, listed as such, and not judged.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn two_addresses_of_one_target_id_are_judged_against_each_other() {
    let fast = slow_app(2);
    let base = load(&fast.url(), "2")
        .env("CI_COMMIT_BRANCH", "main")
        .args(["--target-id", "shop", "--baseline", "none"])
        .run()
        .expect_exit(0);
    assert_eq!(base.results()["run"]["load"]["target_id"], "shop");
    assert_valid(&base.results());
    let slow = slow_app(100);
    let mr = |id: &str| {
        load(&slow.url(), "2")
            .env("CI_MERGE_REQUEST_IID", "7")
            .env("LOADFORGE_GATE_TARGET_ID", id)
            .write("base.json", &base.file("results.json"))
            .args(["--baseline", "base.json"])
            .run()
    };
    assert_judged_a_regression(mr("shop"));
    let other = mr("cart");
    // Another system: not judged (5), never failed and never passed.
    assert_eq!(other.code, 5, "{}", other.stdout);
    let summary = other.file("summary.md");
    assert!(summary.contains("> - target id shop → cart"), "{summary}");
    assert!(!p95_rule_line(&other).starts_with("| ❌ |"), "{summary}");
}

/// A review app's run on the default branch written by the previous release (1.0.0, kept as a
/// fixture: it recorded `target_ref_slug`) still validates, reads as a baseline and compares
/// with a merge request's run against its own review app: the regression is judged.
#[test]
fn the_previous_releases_review_app_run_is_still_a_baseline() {
    let fixture = include_str!("../fixtures/results-v1-review-app.json");
    let old: serde_json::Value = serde_json::from_str(fixture).unwrap();
    assert_eq!(old["run"]["load"]["target_ref_slug"], "main");
    // A file of the previous release: valid against the previous release's schema.
    let errors: Vec<String> = crate::schema::schema_v1()
        .iter_errors(&old)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The fixture's load: two users, ten a second, for a second, of this very scenario.
    let slow = slow_app(100);
    let out = Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_MERGE_REQUEST_IID", "7")
        .env("CI_COMMIT_REF_SLUG", "feature-x")
        .env("HTTP_PROXY", &slow.url())
        .write(
            "s.yml",
            "name: health\ntasks: [{request: {path: /health}}]\n",
        )
        .write("base.json", fixture)
        .args([
            "run",
            "--scenario",
            "s.yml",
            "--host",
            "http://review-feature-x.example.test",
        ])
        .args([
            "--users",
            "2",
            "--spawn-rate",
            "10",
            "--run-time",
            "1s",
            "--progress",
            "0",
        ])
        .args(["--regression", "p95 +20% +50ms", "--baseline", "base.json"])
        .run();
    assert_judged_a_regression(out);
}

/// `defaults.streams_per_user` is part of the load (`run.load.streams_per_user`): a run at 10
/// compared with a baseline at 1 is not comparable, and every line says why; a fingerprint
/// without the field (as every file before the setting, and a run at 1, writes it) is 1
/// stream per user; a value no scenario accepts refuses the file, exit 2, naming the field.
#[test]
fn streams_per_user_is_part_of_the_load_and_a_hostile_count_is_refused() {
    let one = Gate::new()
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml", "--host", "http://127.0.0.1:9"])
        .args(["--run-time", "1s", "--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<=100%"])
        .run()
        .expect_exit(0)
        .results();
    assert!(one["run"]["load"].get("streams_per_user").is_none());
    let with = |count: serde_json::Value| {
        let mut doc = one.clone();
        doc["run"]["load"]["streams_per_user"] = count;
        doc.to_string()
    };
    let compare = |base: &str, current: &str| {
        Gate::new()
            .write("base.json", base)
            .write("current.json", current)
            .args(["compare", "base.json", "current.json"])
            .run()
    };
    let another = "the baseline ran another load (streams per user 1 → 10)";
    let out = compare(&one.to_string(), &with(10.into()));
    assert!(
        out.stdout.contains(&format!("not comparable: {another}")),
        "{}",
        out.stdout
    );
    let out = compare(&with(1.into()), &one.to_string());
    assert!(!out.stdout.contains("another load"), "{}", out.stdout);
    for bad in [
        serde_json::json!(0),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(-1),
        serde_json::json!("ten"),
    ] {
        for (base, current) in [
            (with(bad.clone()), one.to_string()),
            (one.to_string(), with(bad.clone())),
        ] {
            let out = compare(&base, &current);
            assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
            let text = out.error_text();
            assert!(text.contains("load.streams_per_user"), "{bad}: {text}");
        }
    }
}
