//! k6 spread over shards and k6's open model, with the real k6 against the real sample app:
//! two shard processes (as two GitLab `parallel:` jobs would be, each in its own directory)
//! then `merge`; a script's own scenarios split by k6's execution segments; the open model as
//! k6's arrival-rate executors. Counts are asserted, never wall-clock time.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, SystemTime},
};

use loadforge_gate::{sample_app::Knobs, stats::LatencyHistogram};

use crate::{
    harness::{load_turn, sample_app, Gate, BIN},
    k6::k6_bin,
};

/// One request per iteration, the load left to the command line.
const HEALTH: &str = "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
export default function () {\n  http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: '/health' } });\n  sleep(0.05);\n}\n";

/// The script sets its own load: 31 iterations shared by 3 VUs, one request each. Odd on
/// purpose, so that no even split can pass for k6's exact one.
const OWN_SCENARIOS: &str = "import http from 'k6/http';\n\
export const options = { scenarios: { fixed: { executor: 'shared-iterations', vus: 3, iterations: 31, maxDuration: '60s' } } };\n\
export default function () {\n  http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: '/health' } });\n}\n";

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn requests(r: &serde_json::Value) -> u64 {
    r["aggregate"]["requests"].as_u64().unwrap()
}

/// Runs `count` k6 shards of `script` at once, each in its own directory under `root`, all
/// starting at one common time; returns each shard's directory (its file is under
/// `loadforge-gate/shards/`) and stderr.
fn run_shards(
    root: &Path,
    script: &str,
    host: &str,
    count: u32,
    load: &[&str],
) -> Vec<(PathBuf, String)> {
    let _turn = load_turn();
    let start = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3));
    let children: Vec<_> = (1..=count)
        .map(|i| {
            let dir = root.join(format!("job-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("script.js"), script).unwrap();
            let child = Command::new(BIN)
                .current_dir(&dir)
                .env_remove("LOADFORGE_GATE_SHARD")
                .env("LOADFORGE_GATE_TEST_HICCUP_MS", "0")
                .args(["run", "--engine", "k6", "--k6-script", "script.js"])
                .args(["--k6-bin", &k6_bin(), "--host", host])
                .args(["--progress", "0", "--baseline", "none"])
                .args(load)
                .args(["--shard", &format!("{i}/{count}"), "--run-id", "pipeline-9"])
                .args(["--start-at", &start.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(dir, child)| {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert!(
                stderr.contains("waiting"),
                "each shard waits for the common start"
            );
            (dir, stderr)
        })
        .collect()
}

fn shard_file(dir: &Path, i: u32, count: u32) -> PathBuf {
    dir.join(format!("loadforge-gate/shards/shard-{i}-of-{count}.json"))
}

/// Merges the shards' files as the component's merge job does.
fn merge(shards: &[(PathBuf, String)]) -> serde_json::Value {
    let count = shards.len() as u32;
    let mut gate = Gate::new().args(["merge"]);
    for (i, (dir, _)) in shards.iter().enumerate() {
        gate = gate.arg_path(&shard_file(dir, i as u32 + 1, count));
    }
    gate.args(["--baseline", "none"])
        .run()
        .expect_exit(0)
        .results()
}

fn parts(shards: &[(PathBuf, String)]) -> Vec<serde_json::Value> {
    let count = shards.len() as u32;
    (1..=count)
        .map(|i| read_json(&shard_file(&shards[i as usize - 1].0, i, count)))
        .collect()
}

/// Two k6 shards of the closed model, merged: the users are split as for the other engines,
/// counts are the shards' sum and percentiles are those of the union of their histograms.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn two_k6_shards_merge_into_the_exact_union() {
    let app = sample_app(Knobs::default());
    let load = ["--users", "4", "--spawn-rate", "50", "--run-time", "3s"];
    let root = tempfile::tempdir().unwrap();
    let shards = run_shards(root.path(), HEALTH, &app.url(), 2, &load);
    let parts = parts(&shards);
    let users: Vec<_> = parts.iter().map(|p| p["run"]["users"].clone()).collect();
    assert_eq!(users, [2, 2], "4 users split over 2 shards");
    for p in &parts {
        assert!(requests(p) > 0, "{}", p["aggregate"]);
        let load = &p["run"]["load"];
        assert_eq!(load["users"], 4, "the whole run's load: {load}");
        assert_eq!(load["engine"], "k6");
        assert_eq!(load["engine_version"], "v1.1.0", "{load}");
    }
    let merged = merge(&shards);
    let sum: u64 = parts.iter().map(requests).sum();
    assert_eq!(
        requests(&merged),
        sum,
        "the merged count is the shards' sum"
    );
    assert_eq!(merged["run"]["engine"], "k6");
    assert_eq!(merged["run"]["users"], 4);
    assert_eq!(merged["run"]["load"], parts[0]["run"]["load"]);
    let mut union = LatencyHistogram::new();
    for p in &parts {
        for e in p["endpoints"].as_array().unwrap() {
            union.add(&serde_json::from_value(e["histogram"].clone()).unwrap());
        }
    }
    for (q, key) in [(50.0, "p50"), (95.0, "p95"), (99.0, "p99")] {
        assert_eq!(
            merged["aggregate"]["latency_ms"][key].as_f64(),
            union.percentile_ms(q),
            "{key} of the merged histograms"
        );
    }
}

/// A script that sets its own load is split by k6's execution segments: the two shards'
/// iterations (one request each) add up to exactly the script's 31, neither shard runs them
/// all, and both record the script's whole load.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_scripts_own_scenarios_are_split_by_execution_segments() {
    let app = sample_app(Knobs::default());
    let root = tempfile::tempdir().unwrap();
    let shards = run_shards(root.path(), OWN_SCENARIOS, &app.url(), 2, &["--users", "1"]);
    assert!(
        shards[1].1.contains("execution segment 1/2:1"),
        "{}",
        shards[1].1
    );
    let parts = parts(&shards);
    let counts: Vec<u64> = parts.iter().map(requests).collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        31,
        "the script's 31 iterations: {counts:?}"
    );
    assert!(counts.iter().all(|c| *c > 0 && *c < 31), "{counts:?}");
    for p in &parts {
        assert_eq!(p["run"]["load"]["users"], 3, "{}", p["run"]["load"]);
        assert_eq!(p["aggregate"]["failures"], 0);
    }
    assert_eq!(requests(&merge(&shards)), 31);
}

/// The open model: k6's constant-arrival-rate at 20 iterations a second for 3 s is 60
/// iterations, whatever the answers' times; the result and its fingerprint say open.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn an_open_model_k6_run_reaches_the_asked_rate() {
    let app = sample_app(Knobs::default());
    let out = Gate::new()
        .write("script.js", HEALTH)
        .args(["run", "--engine", "k6", "--k6-script", "script.js"])
        .args(["--k6-bin", &k6_bin(), "--host", &app.url()])
        .args(["--progress", "0", "--baseline", "none"])
        // A pool far larger than the rate needs: on a busy machine a short pool makes k6
        // drop iterations, which fail the run (as `iterations_k6_drops_fail_the_run` shows).
        .args(["--rate", "20", "--users", "40", "--run-time", "3s"])
        .run()
        .expect_exit(0);
    let r = out.results();
    let n = requests(&r);
    assert!(
        (50..=64).contains(&n),
        "20/s for 3 s is 60 iterations, got {n}"
    );
    assert_eq!(r["run"]["model"], "open");
    assert_eq!(r["run"]["rate"], 20.0);
    assert_eq!(r["run"]["load"]["model"], "open");
    assert_eq!(r["run"]["load"]["rate"], 20.0);
    let options = read_json(&out.out_dir().join("k6/k6-options.json"));
    assert_eq!(
        options["scenarios"]["open_model"]["executor"],
        "constant-arrival-rate"
    );
    assert_eq!(options["scenarios"]["open_model"]["maxVUs"], 40);
}

/// The open model over two shards, with a ramp: each shard runs its execution segment of the
/// whole rate, so together they make the one run's iterations (a ramp to 20/s over 2 s, then
/// 2 s at 20/s: 60). k6 shares the rate out with the pool: 25 users split 13 and 12, so the
/// shards run 10.4/s and 9.6/s (about 31 and 29 iterations). The pool is far larger than the
/// rate needs: a short one on a busy machine makes k6 drop iterations, which fail the run.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn open_model_shards_split_the_rate() {
    let app = sample_app(Knobs::default());
    let load = [
        "--rate",
        "20",
        "--ramp",
        "2s",
        "--users",
        "25",
        "--run-time",
        "4s",
    ];
    let root = tempfile::tempdir().unwrap();
    let shards = run_shards(root.path(), HEALTH, &app.url(), 2, &load);
    let parts = parts(&shards);
    let counts: Vec<u64> = parts.iter().map(requests).collect();
    let sum: u64 = counts.iter().sum();
    assert!((48..=64).contains(&sum), "{counts:?}");
    assert!((24..=38).contains(&counts[0]), "13 of 25 users: {counts:?}");
    assert!((22..=36).contains(&counts[1]), "12 of 25 users: {counts:?}");
    let rates: Vec<f64> = parts
        .iter()
        .map(|p| p["run"]["rate"].as_f64().unwrap())
        .collect();
    assert!(
        (rates[0] - 10.4).abs() < 1e-9 && (rates[1] - 9.6).abs() < 1e-9,
        "each shard's part of the rate: {rates:?}"
    );
    for p in &parts {
        assert_eq!(p["run"]["load"]["rate"], 20.0, "the whole run's rate");
        assert_eq!(p["run"]["load"]["ramp_s"], 2.0);
    }
    let merged = merge(&shards);
    assert_eq!(requests(&merged), sum);
    assert_eq!(merged["run"]["rate"], 20.0);
    assert_eq!(merged["run"]["model"], "open");
}

/// The open model against a server too slow for the pool: k6 drops the iterations no user is
/// free for, and each is a failure of the `(dropped iterations)` row, so the default
/// `error_rate<1%` fails the run instead of passing on the few requests that were made.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn iterations_k6_drops_fail_the_run() {
    let app = crate::harness::slow_app(200);
    let out = Gate::new()
        .write("script.js", HEALTH)
        .args(["run", "--engine", "k6", "--k6-script", "script.js"])
        .args(["--k6-bin", &k6_bin(), "--host", &app.url()])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--rate", "20", "--users", "1", "--run-time", "3s"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let dropped = crate::harness::rows_named(&r, "(dropped iterations)");
    assert_eq!(dropped.len(), 1, "{}", r["endpoints"]);
    let failures = dropped[0]["failures"].as_u64().unwrap();
    // One user at over 200 ms an iteration makes at most 15 of the 60 due.
    assert!(failures >= 30, "{failures} dropped");
    assert!(out.file("summary.md").contains("(dropped iterations)"));
}
