//! Bad inputs outside the table: a one-line error naming the culprit, the documented exit code,
//! no panic. The usage errors `run` and `validate` share are rows of `bad_input_table.rs`, each
//! pinned by one snapshot there; a case lives in one place.

use crate::harness::{example, Gate};

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
