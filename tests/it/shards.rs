//! Shards and merge: three shard processes against the sample app, merged exactly.

use loadforge_gate::{sample_app::Knobs, stats::LatencyHistogram};

use crate::harness::{example, sample_app, Gate};

fn histogram(endpoint: &serde_json::Value) -> LatencyHistogram {
    serde_json::from_value(endpoint["histogram"].clone()).unwrap()
}

/// The load of every run in these tests: the OAuth flow, 10 users for 3 s.
const LOAD: &[&str] = &[
    "--users",
    "10",
    "--spawn-rate",
    "10",
    "--run-time",
    "3s",
    "--progress",
    "0",
    "--baseline",
    "none",
];

/// Three shard processes at once, as three parallel jobs would be, all starting at the same
/// time; each must succeed after waiting for the common start.
fn run_three_shards(dir: &std::path::Path, host: &str) {
    let start = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + std::time::Duration::from_secs(2),
    )
    .to_string();
    let shards: Vec<_> = (1..=3)
        .map(|i| {
            std::process::Command::new(crate::harness::BIN)
                .current_dir(dir)
                .args([
                    "run",
                    "--scenario",
                    &example("oauth-api.yml"),
                    "--host",
                    host,
                ])
                .args(LOAD)
                .args(["--shard", &format!("{i}/3"), "--run-id", "pipeline-77"])
                .args(["--start-at", &start])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in shards {
        let out = s.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("waiting"),
            "each shard waited for the common start"
        );
        // Not "333" anywhere: the target's random port may hold it.
        assert!(
            stderr.contains("(3.33 per second)"),
            "the spawn rate prints short: {stderr}"
        );
    }
}

/// The merged result adds the shards exactly: counts sum, percentiles are the union's.
fn assert_exact_union(merged: &serde_json::Value, parts: &[serde_json::Value], sum: u64) {
    assert_eq!(
        merged["aggregate"]["requests"].as_u64().unwrap(),
        sum,
        "total requests are the shards' sum"
    );
    assert_eq!(merged["run"]["users"], 10);
    let mut union = LatencyHistogram::new();
    for p in parts {
        for e in p["endpoints"].as_array().unwrap() {
            union.add(&histogram(e));
        }
    }
    for (q, key) in [(50.0, "p50"), (95.0, "p95"), (99.0, "p99")] {
        assert_eq!(
            merged["aggregate"]["latency_ms"][key].as_f64(),
            union.percentile_ms(q),
            "{key} of the union"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn three_shards_merge_into_the_exact_union_and_are_judged_once() {
    let app = sample_app(Knobs::default());
    let dir = tempfile::tempdir().unwrap();
    run_three_shards(dir.path(), &app.url());
    let shard_dir = dir.path().join("loadforge-gate/shards");
    let files: Vec<_> = (1..=3)
        .map(|i| shard_dir.join(format!("shard-{i}-of-3.json")))
        .collect();
    let parts: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    let users: Vec<u64> = parts
        .iter()
        .map(|p| p["run"]["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [4, 3, 3], "10 users split over 3 shards");
    // Each shard records the whole run's load, which the next run's comparison needs.
    for p in &parts {
        assert_eq!(p["run"]["load"]["users"], 10, "{}", p["run"]["load"]);
    }
    assert!(
        parts.iter().all(|p| p.get("verdict").is_none()),
        "shards are not judged"
    );

    let out = Gate::new()
        .args(["merge"])
        .arg_path(&shard_dir)
        .args(["--threshold", "p95<500ms", "--threshold", "error_rate<1%"])
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0);
    let merged = out.results();
    let sum: u64 = parts
        .iter()
        .map(|p| p["aggregate"]["requests"].as_u64().unwrap())
        .sum();
    assert_exact_union(&merged, &parts, sum);
    assert_eq!(
        merged["verdict"]["checks"].as_array().unwrap().len(),
        2,
        "judged once, on the whole"
    );
    assert!(merged["run"].get("shard").is_none());
    assert_eq!(merged["run"]["load"], parts[0]["run"]["load"]);

    // The job's out folder stands for its shards/ folder.
    let from_out = Gate::new()
        .args(["merge"])
        .arg_path(&dir.path().join("loadforge-gate"))
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0);
    assert_eq!(from_out.results()["aggregate"]["requests"], sum);

    // The same load as one process gives the same order of magnitude of requests.
    let single = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args(LOAD)
        .run()
        .expect_exit(0);
    let one = single.results()["aggregate"]["requests"].as_f64().unwrap();
    let ratio = sum as f64 / one;
    assert!(
        (0.5..2.0).contains(&ratio),
        "shards {sum} vs one process {one}"
    );
}

#[test]
fn merge_refuses_shards_of_different_runs() {
    let app = sample_app(Knobs::default());
    let gate = Gate::new();
    let root = gate.path().to_path_buf();
    for (i, run) in [(1, "a"), (2, "b")] {
        let out = std::process::Command::new(crate::harness::BIN)
            .current_dir(&root)
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
            .args(["--shard", &format!("{i}/2"), "--run-id", run])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let out = gate
        .args(["merge", "loadforge-gate/shards"])
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error().contains("shards of different runs"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_shard_specs_are_usage_errors() {
    for spec in ["0/3", "4/3", "x", "1/0"] {
        let out = Gate::new()
            .args([
                "run",
                "--scenario",
                &example("oauth-api.yml"),
                "--host",
                "http://127.0.0.1:9",
                "--shard",
                spec,
            ])
            .run()
            .expect_exit(2);
        assert!(out.one_line_error().contains("--shard"), "{}", out.stderr);
    }
}

/// A shard that never finished (its job failed under `allow-failure`) does not cost the others
/// their reports: `merge` publishes what arrived, says it is partial, and still fails.
#[test]
fn a_missing_shard_leaves_partial_reports_and_an_error() {
    let app = sample_app(Knobs::default());
    let shard = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("shop-cart.yml"),
            "--host",
            &app.url(),
        ])
        .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
        .args(["--shard", "1/2", "--run-id", "r9"])
        .run()
        .expect_exit(0);
    let file = shard.out_dir().join("shards/shard-1-of-2.json");
    let part: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let out = Gate::new()
        .args(["merge"])
        .arg_path(&file)
        .args(["--baseline", "none"])
        .run()
        .expect_exit(2);
    assert!(
        out.error_line().contains("shards missing: 2 of 2"),
        "{}",
        out.stderr
    );
    for f in crate::harness::REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    let merged = out.results();
    assert_eq!(
        merged["aggregate"]["requests"],
        part["aggregate"]["requests"]
    );
    assert!(
        merged["notes"]
            .to_string()
            .contains("Partial results: shards missing: 2 of 2"),
        "{}",
        merged["notes"]
    );
}

/// Finding 12: `merge` dropped the shards' host findings, so a shard measured on a busy or
/// shared load-generator host went unflagged. The merged run keeps the worst of them: the
/// reports say the host was busy, and that it was not held exclusively.
#[test]
fn merge_keeps_the_worst_host_finding_of_its_shards() {
    let app = sample_app(Knobs::default());
    let dir = tempfile::tempdir().unwrap();
    let host = |name: &str, steal: f64, exclusive: bool| {
        let path = dir.path().join(format!("{name}.json"));
        let text = format!(
            r#"{{"hostname": "{name}", "cpus": 2, "load_1m": 0.5, "steal_pct": {steal},
            "iowait_pct": 0.1, "other_cpu_pct": 3.0, "mem_available_mib": 2048,
            "exclusive": {exclusive}, "window_s": 2.0}}"#
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let shards: Vec<_> = [host("lg-1", 0.2, true), host("lg-2", 17.0, false)]
        .iter()
        .enumerate()
        .map(|(i, report)| {
            Gate::new()
                .env("LOADFORGE_GATE_HOST_REPORT", report)
                .args(["run", "--scenario", &example("shop-cart.yml")])
                .args(["--host", &app.url(), "--users", "2", "--run-time", "1s"])
                .args(["--progress", "0", "--baseline", "none"])
                .args(["--shard", &format!("{}/2", i + 1), "--run-id", "r12"])
                .run()
                .expect_exit(0)
        })
        .collect();
    let mut merge = Gate::new().args(["merge"]);
    for (i, shard) in shards.iter().enumerate() {
        merge = merge.arg_path(
            &shard
                .out_dir()
                .join(format!("shards/shard-{}-of-2.json", i + 1)),
        );
    }
    let out = merge.args(["--baseline", "none"]).run().expect_exit(0);
    let host = &out.results()["run"]["host"];
    assert_eq!(host["steal_pct"], 17.0, "{host}");
    assert_eq!(host["exclusive"], false, "{host}");
    assert_eq!(host["hostname"], "lg-1, lg-2", "{host}");
    let summary = out.file("summary.md");
    assert!(
        summary.contains("host was busy (17.0 % CPU steal, no exclusive lock"),
        "{summary}"
    );
}

/// A shard is decided once, before any work: in a merge request's pipeline, with a GitLab
/// that would answer, it never looks up a baseline it does not use, and when its engine
/// crashes it writes its partial part and exits 3, with no verdict, no report of its own and
/// no note (the judging run, `merge`, speaks once for all shards).
#[test]
fn a_crashed_shard_writes_its_partial_part_and_exits_3_without_a_look_up_or_a_note() {
    let gl = crate::fake_gitlab::FakeGitlab::start();
    let app = sample_app(Knobs::default());
    let out = crate::gitlab::mr_env(&gl)
        .env(
            "LOADFORGE_GATE_GITLAB_TOKEN",
            crate::fake_gitlab::PRIVATE_TOKEN,
        )
        .env("LOADFORGE_GATE_FAIL_POINT", "user-panic")
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "3",
            "--run-time",
            "1s",
            "--progress",
            "0",
            "--threads",
            "1",
        ])
        .args(["--shard", "1/2", "--run-id", "r1"])
        .run()
        .expect_exit(3);
    assert!(
        out.stderr.contains("a virtual user panicked"),
        "{}",
        out.stderr
    );
    let part = out.out_dir().join("shards").join("shard-1-of-2.json");
    let part: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part).unwrap()).unwrap();
    assert_eq!(part["run"]["partial"], true, "{}", part["run"]);
    assert!(part.get("verdict").is_none(), "a shard never judges alone");
    assert!(
        !out.out_dir().join("results.json").exists(),
        "a shard publishes no report of its own"
    );
    assert!(gl.log().is_empty(), "a shard called GitLab: {:?}", gl.log());
}
