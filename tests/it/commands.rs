//! The other subcommands: validate, report, compare, config profiles, help.

use loadforge_gate::sample_app::Knobs;

use crate::harness::{adjustable_app, example, sample_app, Gate, REPORTS};

#[test]
fn validate_checks_without_sending_a_request() {
    let out = Gate::new()
        .args([
            "validate",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--threshold", "GET /api/catalog/*: p95<300ms"])
        .run()
        .expect_exit(0);
    assert!(out.stdout.contains("4 endpoints"), "{}", out.stdout);
    assert!(!out.out_dir().exists(), "validate writes nothing");
    let out = Gate::new()
        .args([
            "validate",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args(["--threshold", "GET /nowhere/*: p95<300ms"])
        .run()
        .expect_exit(2);
    assert!(out.one_line_error().contains("GET /nowhere/*"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn report_republishes_every_file_from_results_json() {
    let app = sample_app(Knobs::default());
    let first = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "3",
            "--run-time",
            "2s",
            "--progress",
            "0",
            "--threshold",
            "p95<1ms",
        ])
        .run()
        .expect_exit(1);
    let results = first.out_dir().join("results.json");
    let again = Gate::new()
        .args(["report"])
        .arg_path(&results)
        .args(["--out", "again"])
        .run()
        .expect_exit(1);
    for f in REPORTS {
        let a = first.file(f);
        let b = std::fs::read_to_string(again.dir.path().join("again").join(f)).unwrap();
        assert_eq!(a, b, "{f} differs when re-published");
    }
}

/// A passed run from the version before load fingerprints, with `change` applied to it.
fn stored_run(change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/results-v1-without-load.json")).unwrap();
    assert_eq!(doc["verdict"]["passed"], true);
    change(&mut doc);
    doc.to_string()
}

/// One rule turns a run's outcome into its exit status: `report` and `compare` of a stored run
/// exit as the run did. An interrupted run is 4 even though every check passed on what it
/// measured (the run itself exited 4; `report` said 0); a starved latency failure is 5.
#[test]
fn report_and_compare_exit_as_the_run_did() {
    let interrupted = stored_run(|d| d["run"]["interrupted"] = true.into());
    let report = |text: &str| {
        Gate::new()
            .write("results.json", text)
            .args(["report", "results.json", "--out", "again"])
            .run()
    };
    report(&interrupted).expect_exit(4);
    report(&stored_run(|_| {})).expect_exit(0);
    let inconclusive = stored_run(|d| {
        d["verdict"]["passed"] = false.into();
        let check = &mut d["verdict"]["checks"][1];
        check["passed"] = false.into();
        check["inconclusive"] = "load generator starved: runtime hiccups p99 40.0 ms".into();
    });
    report(&inconclusive).expect_exit(5);
    let interrupted_inconclusive = stored_run(|d| {
        d["run"]["interrupted"] = true.into();
        d["verdict"]["passed"] = false.into();
        d["verdict"]["checks"][1]["passed"] = false.into();
        d["verdict"]["checks"][1]["inconclusive"] = "load generator starved".into();
    });
    report(&interrupted_inconclusive).expect_exit(4);
    Gate::new()
        .write("base.json", &stored_run(|_| {}))
        .write("current.json", &interrupted)
        .args(["compare", "base.json", "current.json"])
        .run()
        .expect_exit(4);
}

/// `report` reads a results file as a baseline is read: one of another schema is refused,
/// naming the file and the fix (it was once read without any check).
#[test]
fn report_refuses_a_results_file_of_another_schema() {
    let old = stored_run(|d| d["schema"] = "loadforge-gate/results/v0".into());
    let out = Gate::new()
        .write("old.json", &old)
        .args(["report", "old.json", "--out", "again"])
        .run()
        .expect_exit(2);
    assert_eq!(
        out.one_line_error(),
        "loadforge-gate: error: old.json has schema `loadforge-gate/results/v0`, this version reads `loadforge-gate/results/v2`; regenerate it with this version"
    );
    assert!(
        !out.dir.path().join("again").exists(),
        "nothing was published"
    );
}

/// `merge` reads shards through the same reader, and its errors say what the file was for.
#[test]
fn merge_names_the_shard_it_cannot_read() {
    let old = stored_run(|d| d["schema"] = "loadforge-gate/results/v0".into());
    let merge = |shard: &str| {
        Gate::new()
            .write("shard-1-of-1.json", &old)
            .args(["merge", shard, "--baseline", "none"])
            .run()
            .expect_exit(2)
    };
    assert!(merge("shard-1-of-1.json")
        .one_line_error()
        .ends_with("shard-1-of-1.json has schema `loadforge-gate/results/v0`, this version reads `loadforge-gate/results/v2`; run every shard with this version"));
    assert!(merge("gone.json").error_text().starts_with(
        "loadforge-gate: error: cannot read shard gone.json; check the paths given to merge"
    ));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn compare_applies_regression_rules() {
    // One server made slower between the runs: a baseline of another address would not be
    // comparable. Far apart, so a loaded machine (which slows both) cannot close the gap.
    let (app, extra) = adjustable_app(2);
    let run = |url: &str| {
        Gate::new()
            .args([
                "run",
                "--scenario",
                &example("oauth-api.yml"),
                "--host",
                url,
            ])
            .args([
                "--users",
                "4",
                "--run-time",
                "2s",
                "--progress",
                "0",
                "--baseline",
                "none",
            ])
            .run()
            .expect_exit(0)
    };
    let base = run(&app.url());
    extra.set(std::time::Duration::from_millis(248));
    let cur = run(&app.url());
    let b = base.out_dir().join("results.json");
    let c = cur.out_dir().join("results.json");
    let out = Gate::new()
        .args(["compare"])
        .arg_path(&b)
        .arg_path(&c)
        .args(["--regression", "p95 +20% +10ms"])
        .run()
        .expect_exit(1);
    assert!(
        out.stdout.contains("✗ regression: p95 +20% +10ms"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("GET /api/v2/orders"), "{}", out.stdout);
    // The other way round is an improvement, not a regression.
    Gate::new()
        .args(["compare"])
        .arg_path(&c)
        .arg_path(&b)
        .args(["--regression", "p95 +20% +10ms"])
        .run()
        .expect_exit(0);
}

/// A baseline whose history stepped up three runs back: `compare` names the pipeline and commit
/// where it began.
#[test]
fn compare_says_where_a_step_in_the_history_began() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
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
            "--baseline",
            "none",
        ])
        .run()
        .expect_exit(0);
    let current = out.out_dir().join("results.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&current).unwrap()).unwrap();
    let scaled = |e: &serde_json::Value, by: f64| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("histogram");
        if let Some(p95) = e["latency_ms"]["p95"].as_f64() {
            e["latency_ms"]["p95"] = serde_json::json!(p95 * by);
        }
        e
    };
    // Newest first: runs 110 to 112 are 30 % slower than 100 to 109.
    let history: Vec<serde_json::Value> = (0..13)
        .rev()
        .map(|i| {
            let by = if i >= 10 {
                1.3
            } else {
                1.0 + 0.01 * (i % 3) as f64
            };
            serde_json::json!({
                "commit": format!("c0ffee{i:02}aa"),
                "pipeline": format!("{}", 100 + i),
                "started_at": format!("2026-01-{:02}T00:00:00Z", i + 1),
                "engine": doc["run"]["engine"],
                "aggregate": scaled(&doc["aggregate"], by),
                "endpoints": doc["endpoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| scaled(e, by))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    doc["history"] = serde_json::Value::Array(history);
    let base = out.dir.path().join("base.json");
    std::fs::write(&base, serde_json::to_string(&doc).unwrap()).unwrap();
    let text = Gate::new()
        .args(["compare"])
        .arg_path(&base)
        .arg_path(&current)
        .run()
        .stdout;
    assert!(text.contains("Where it began: change points"), "{text}");
    assert!(
        text.contains("p95 of all requests stepped +2")
            && text.contains("at pipeline #110 (commit c0ffee10), 3 runs ago"),
        "{text}"
    );
}

#[test]
fn config_profiles_apply_under_flags() {
    let app = sample_app(Knobs::default());
    let config = format!(
        "scenario: {}\nhost: {}\nusers: 1\nrun_time: 1s\nthresholds: [\"error_rate<1%\"]\nprofiles:\n  smoke:\n    users: 3\n    thresholds: [\"p95<2s\", \"error_rate<5%\"]\n",
        example("oauth-api.yml"),
        app.url()
    );
    let out = Gate::new()
        .write("loadforge-gate.yml", &config)
        .args(["run", "--profile", "smoke", "--progress", "0"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(
        r["run"]["users"], 3,
        "the profile beats the file's top level"
    );
    assert_eq!(r["verdict"]["checks"].as_array().unwrap().len(), 2);
    let out = Gate::new()
        .write("loadforge-gate.yml", &config)
        .args([
            "run",
            "--profile",
            "smoke",
            "--users",
            "2",
            "--progress",
            "0",
        ])
        .run()
        .expect_exit(0);
    assert_eq!(out.results()["run"]["users"], 2, "a flag beats the profile");
}

#[test]
fn help_lists_the_exit_codes() {
    let out = Gate::new().args(["--help"]).run().expect_exit(0);
    assert!(out.stdout.contains("4  interrupted"), "{}", out.stdout);
    let out = Gate::new().args(["run", "--help"]).run().expect_exit(0);
    assert!(
        out.stdout.contains("LOADFORGE_GATE_THRESHOLD"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_baseline_from_another_engine_is_shown_but_not_comparable() {
    let app = sample_app(Knobs::default());
    let run = |extra: &[&str]| {
        Gate::new()
            .args([
                "run",
                "--scenario",
                &example("oauth-api.yml"),
                "--host",
                &app.url(),
            ])
            .args(["--users", "3", "--run-time", "1s", "--progress", "0"])
            .args(extra)
    };
    let base = run(&["--baseline", "none"]).run().expect_exit(0);
    // The run's engine and its load's.
    let text = base
        .file("results.json")
        .replace(r#""engine": "native""#, r#""engine": "locust""#);
    let out = run(&["--baseline", "other.json"])
        .write("other.json", &text)
        .run()
        .expect_exit(5);
    let r = out.results();
    assert_eq!(r["comparison"]["engine_changed"], true);
    assert_eq!(r["comparison"]["load"], "different");
    assert_eq!(
        r["comparison"]["load_differences"],
        serde_json::json!(["engine locust → native"])
    );
    let regressions: Vec<&serde_json::Value> = r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "regression")
        .collect();
    assert!(!regressions.is_empty(), "{}", r["verdict"]);
    for c in regressions {
        assert_eq!(
            (&c["state"], &c["reason"]),
            (&"not_judged".into(), &"not_comparable".into()),
            "{c}"
        );
    }
    assert_eq!(r["verdict"]["outcome"], "not_judged");
    assert!(
        out.file("summary.md").contains("- engine locust → native"),
        "{}",
        out.file("summary.md")
    );
}

/// The audit's case: a panic in the baseline look-up's thread read as "the lookup was
/// interrupted", and the run passed with regressions unchecked. It is an error with its cause
/// (exit 3), before any load is sent.
#[test]
fn a_panic_in_the_baseline_lookup_is_an_error_not_an_interruption() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .env("LOADFORGE_GATE_FAIL_POINT", "lookup-panic")
        .env("GITLAB_CI", "true")
        .env("CI_API_V4_URL", "http://127.0.0.1:9/api/v4")
        .env("CI_PROJECT_ID", "1")
        .args(["run", "--scenario", &example("shop-cart.yml")])
        .args(["--host", &app.url(), "--users", "1", "--run-time", "1s"])
        .args(["--progress", "0", "--comment", "never"])
        .run()
        .expect_exit(3);
    // The panic itself is printed where it happened; then the error and its cause.
    let error = out
        .stderr
        .split_once("loadforge-gate: error: ")
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    assert!(
        error.starts_with("the baseline lookup failed, so regressions cannot be checked"),
        "{}",
        out.stderr
    );
    assert!(
        error.contains(
            "\n  caused by: the network thread crashed: fail point: the baseline lookup panics"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("interrupted"), "{}", out.stderr);
    assert!(
        !out.out_dir().join("results.json").exists(),
        "nothing was run"
    );
}
