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

/// Finding (hardening round 3): a multipart `file:` was checked by its metadata size, then read
/// without a cap: `file: /dev/zero` grew `validate` to 1 GB until it died, and a FIFO hung it.
/// Both are refused with one line naming the part, in bounded memory (peak printed).
#[test]
fn a_multipart_file_of_dev_zero_or_a_fifo_is_refused_by_validate() {
    let scenario = |file: &str| {
        format!("tasks: [{{request: {{method: POST, path: /, multipart: {{doc: {{file: {file}}}}}}}}}]\n")
    };
    let gate = Gate::new().write("zero.yml", &scenario("/dev/zero"));
    let (out, peak_mib) = gate
        .args([
            "validate",
            "--scenario",
            "zero.yml",
            "--host",
            "http://127.0.0.1:9",
        ])
        .run_measuring_memory();
    eprintln!("validate with file: /dev/zero: peak {peak_mib:.1} MiB");
    let out = out.expect_exit(2);
    assert!(peak_mib < 64.0, "validate peaked at {peak_mib:.0} MiB");
    let line = out.one_line_error();
    assert!(
        line.contains("tasks[0].request.multipart.doc")
            && line.contains("/dev/zero is not a regular file"),
        "{line}"
    );
    let gate = Gate::new().write("fifo.yml", &scenario("upload.fifo"));
    nix::unistd::mkfifo(
        &gate.path().join("upload.fifo"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    let out = gate
        .args([
            "validate",
            "--scenario",
            "fifo.yml",
            "--host",
            "http://127.0.0.1:9",
        ])
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error()
            .contains("upload.fifo is not a regular file"),
        "{}",
        out.stderr
    );
}
