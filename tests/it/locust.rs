//! The locust engine with real Locust processes against the real sample app.

use std::path::PathBuf;

use loadforge_gate::sample_app::Knobs;

use crate::harness::{example, reasons, sample_app, Gate, Output, REPORTS};

/// Locust from the repository's virtual environment (what .ci/run installs), else from PATH.
pub(crate) fn locust_bin() -> String {
    if let Ok(p) = std::env::var("LOADFORGE_GATE_TEST_LOCUST") {
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/locust");
    if venv.is_file() {
        return venv.display().to_string();
    }
    "locust".into()
}

fn locustfile(name: &str) -> String {
    format!("{}/examples/locustfiles/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn locust_gate(file: &str, host: &str) -> Gate {
    Gate::new()
        .args([
            "run",
            "--engine",
            "locust",
            "--locustfile",
            file,
            "--host",
            host,
        ])
        .args([
            "--locust-bin",
            &locust_bin(),
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
}

fn clean_run(file: &str, users: &str, run_time: &str) -> Output {
    let app = sample_app(Knobs::default());
    let out = locust_gate(&locustfile(file), &app.url())
        .args([
            "--users",
            users,
            "--spawn-rate",
            "50",
            "--run-time",
            run_time,
        ])
        .args(["--threshold", "error_rate<0.001%"])
        .run()
        .expect_exit(0);
    for f in REPORTS {
        assert!(out.out_dir().join(f).is_file(), "{f} missing");
    }
    let r = out.results();
    assert_eq!(r["run"]["engine"], "locust");
    assert_eq!(r["run"]["quantised"], true);
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["aggregate"]["failures"], 0, "{:?}", reasons(&r));
    assert!(
        r["endpoints"][0]["histogram"]["data"].is_string(),
        "Locust buckets become histograms"
    );
    assert!(!r["timeseries"].as_array().unwrap().is_empty());
    out
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn login_dashboard_locustfile_runs_clean() {
    clean_run("login_dashboard.py", "5", "4s");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn oauth_api_locustfile_runs_clean() {
    clean_run("oauth_api.py", "5", "4s");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn web_login_locustfile_runs_clean() {
    clean_run("web_login.py", "5", "4s");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn shop_cart_locustfile_runs_clean() {
    clean_run("shop_cart.py", "5", "4s");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn admin_reports_locustfile_runs_clean() {
    let out = clean_run("admin_reports.py", "12", "6s");
    let r = out.results();
    let names: Vec<&str> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"GET /api/admin/reports/:id/status"),
        "{names:?}"
    );
}

/// Share of each endpoint in all requests.
fn mix(r: &serde_json::Value) -> std::collections::BTreeMap<String, f64> {
    let total = r["aggregate"]["requests"].as_f64().unwrap();
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["requests"].as_f64().unwrap() / total,
            )
        })
        .collect()
}

/// Each seed flow on both engines: the same endpoint names, and a request mix that agrees per
/// endpoint within four standard deviations of the difference of two proportions (the tasks
/// are weighted random picks, so short runs vary), plus two percentage points.
fn parity(scenario: &str, locustfile_name: &str) {
    let app = sample_app(Knobs::default());
    let args = ["--users", "30", "--spawn-rate", "100", "--run-time", "8s"];
    let native = Gate::new()
        .args([
            "run",
            "--scenario",
            &example(scenario),
            "--host",
            &app.url(),
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
        .args(args)
        .run()
        .expect_exit(0);
    let locust = locust_gate(&locustfile(locustfile_name), &app.url())
        .args(args)
        .run()
        .expect_exit(0);
    let (nr, lr) = (native.results(), locust.results());
    let (n, l) = (mix(&nr), mix(&lr));
    assert_eq!(
        n.keys().collect::<Vec<_>>(),
        l.keys().collect::<Vec<_>>(),
        "endpoint names differ"
    );
    let total = |r: &serde_json::Value| r["aggregate"]["requests"].as_f64().unwrap();
    let (nn, ln) = (total(&nr), total(&lr));
    for (name, share) in &n {
        let other = l[name];
        let p = (share + other) / 2.0;
        let tolerance = 4.0 * (p * (1.0 - p) * (1.0 / nn + 1.0 / ln)).sqrt() + 0.02;
        assert!(
            (share - other).abs() <= tolerance,
            "{scenario}: {name} is {:.1}% natively ({nn} requests) and {:.1}% on Locust ({ln}), tolerance {:.1} points",
            share * 100.0,
            other * 100.0,
            tolerance * 100.0
        );
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn parity_login_dashboard() {
    parity("login-dashboard.yml", "login_dashboard.py");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn parity_oauth_api() {
    parity("oauth-api.yml", "oauth_api.py");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn parity_shop_cart() {
    parity("shop-cart.yml", "shop_cart.py");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn parity_admin_reports() {
    parity("admin-reports.yml", "admin_reports.py");
}

/// The web login relies on the session cookie and the redirect after the form on both engines
/// (Locust's `HttpUser` has both by default): any 401 would fail the run here.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn parity_web_login() {
    parity("web-login.yml", "web_login.py");
}

#[test]
fn locust_not_installed() {
    let out = Gate::new()
        .args([
            "run",
            "--engine",
            "locust",
            "--locustfile",
            &locustfile("shop_cart.py"),
            "--host",
            "http://127.0.0.1:9",
        ])
        .args([
            "--locust-bin",
            "/nonexistent/bin/locust",
            "--run-time",
            "1s",
        ])
        .run()
        .expect_exit(3);
    assert!(
        out.one_line_error().contains("pip install locust"),
        "{}",
        out.stderr
    );
}

#[test]
fn locustfile_missing() {
    let out = locust_gate("nope.py", "http://127.0.0.1:9")
        .args(["--run-time", "1s"])
        .run()
        .expect_exit(2);
    assert!(out.error_text().contains("nope.py"), "{}", out.stderr);
}

/// Runs the gate on a locustfile written into the test's directory.
fn own_locustfile(name: &str, text: &str, extra: &[&str]) -> Gate {
    let gate = Gate::new().write(name, text);
    let file = gate.path().join(name).display().to_string();
    gate.args(["run", "--engine", "locust", "--locustfile", &file])
        .args(["--locust-bin", &locust_bin(), "--progress", "0"])
        .args(extra)
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locustfile_with_a_python_error() {
    let out = own_locustfile(
        "bad.py",
        "from locust import HttpUser\nclass U(HttpUser):\n    def broken(self)\n        pass\n",
        &["--host", "http://127.0.0.1:9", "--run-time", "2s"],
    )
    .run()
    .expect_exit(2);
    let line = out.stderr.lines().last().unwrap_or_default().to_string();
    assert!(
        line.contains("failed to load") && line.contains("SyntaxError"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locustfile_without_a_user_class() {
    let out = own_locustfile(
        "empty.py",
        "import locust\nVALUE = 1\n",
        &["--host", "http://127.0.0.1:9", "--run-time", "2s"],
    )
    .run()
    .expect_exit(2);
    assert!(
        out.stderr.contains("defines no User class"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locust_crashing_mid_run_publishes_partial_results_and_exits_3() {
    let app = sample_app(Knobs::default());
    let crashing = r#"
import os, time
from locust import HttpUser, task, constant, events

START = time.time()

class U(HttpUser):
    wait_time = constant(0.05)

    @task
    def hit(self):
        self.client.get("/health", name="GET /health")
        if time.time() - START > 2.5:
            os._exit(70)
"#;
    let out = own_locustfile(
        "crash.py",
        crashing,
        &["--host", &app.url(), "--users", "3", "--run-time", "20s"],
    )
    .run()
    .expect_exit(3);
    assert!(out.stderr.contains("Locust stopped with"), "{}", out.stderr);
    let r = out.results();
    assert!(
        r["aggregate"]["requests"].as_u64().unwrap() > 0,
        "partial results were published"
    );
    assert!(r["notes"].to_string().contains("partial"), "{}", r["notes"]);
}

/// The audit's case: one task names its request `GET /health`, another requests `/health`
/// without a name (and fails). Locust reports two entries, `("GET", "GET /health")` and
/// `("GET", "/health")`, which both read `GET /health`: they are one row, judged on every
/// request of that name, so the failing one fails the rule.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn rows_with_the_same_name_are_judged_together() {
    let app = sample_app(Knobs::default());
    let two_entries = r#"
from locust import HttpUser, task, constant

class U(HttpUser):
    wait_time = constant(0.05)

    @task
    def named(self):
        self.client.get("/health", name="GET /health")

    @task
    def unnamed(self):
        with self.client.get("/health", catch_response=True) as r:
            r.failure("forced failure")
"#;
    let out = own_locustfile(
        "two_entries.py",
        two_entries,
        &["--host", &app.url(), "--users", "2", "--spawn-rate", "50"],
    )
    .args(["--run-time", "3s", "--baseline", "none"])
    .args(["--threshold", "GET /health: error_rate<1%"])
    .run()
    .expect_exit(1);
    let r = out.results();
    let rows = crate::harness::rows_named(&r, "GET /health");
    assert_eq!(rows.len(), 1, "{}", r["endpoints"]);
    let row = rows[0];
    let (requests, failures) = (
        row["requests"].as_u64().unwrap(),
        row["failures"].as_u64().unwrap(),
    );
    assert!(failures > 0 && failures < requests, "{row}");
    assert_eq!(
        row["failures_by_reason"]["forced failure"], failures,
        "{row}"
    );
    assert_eq!(
        r["aggregate"]["requests"], requests,
        "every request is in the one row"
    );
    assert!(
        row["histogram"]["data"].is_string(),
        "the entries' histograms add up"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn a_refused_target_fails_the_gate_with_reasons() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = locust_gate(
        &locustfile("oauth_api.py"),
        &format!("http://127.0.0.1:{port}"),
    )
    .args(["--users", "2", "--run-time", "2s"])
    .run()
    .expect_exit(1);
    let r = out.results();
    assert!(
        reasons(&r).get("connection refused").copied().unwrap_or(0) > 0,
        "{:?}",
        reasons(&r)
    );
    // Every failure is itemised: the gate's plugin wrote Locust's final list at quit.
    assert!(!reasons(&r).contains_key("failure not itemised by Locust"));
    assert!(out
        .out_dir()
        .join("locust/locust_failures_final.json")
        .is_file());
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn sigterm_is_forwarded_and_partial_results_exit_4() {
    let app = sample_app(Knobs::default());
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .current_dir(dir.path())
        .args([
            "run",
            "--engine",
            "locust",
            "--locustfile",
            &locustfile("oauth_api.py"),
            "--host",
            &app.url(),
        ])
        .args([
            "--locust-bin",
            &locust_bin(),
            "--users",
            "5",
            "--spawn-rate",
            "50",
            "--run-time",
            "60s",
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Locust rewrites its stats file every second: SIGTERM once it has counted requests.
    let stats = dir.path().join("loadforge-gate/locust/locust_stats.csv");
    let counted = crate::harness::wait_until(std::time::Duration::from_secs(60), || {
        aggregated_requests(&stats) > 0
    });
    assert!(counted, "Locust counted no request within 60 s");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert_eq!(child.wait().unwrap().code(), Some(4));
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("loadforge-gate/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r["run"]["interrupted"], true);
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
}

/// The request count of the `Aggregated` row of Locust's stats file (0 until there is one).
fn aggregated_requests(stats: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(stats).unwrap_or_default();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let Ok(headers) = rows.headers().cloned() else {
        return 0;
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(name), Some(count)) = (column("Name"), column("Request Count")) else {
        return 0;
    };
    rows.records()
        .flatten()
        .find(|r| r.get(name) == Some("Aggregated"))
        .and_then(|r| r.get(count)?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn distributed_mode_runs_local_workers() {
    let app = sample_app(Knobs::default());
    let out = locust_gate(&locustfile("oauth_api.py"), &app.url())
        .args([
            "--users",
            "6",
            "--spawn-rate",
            "50",
            "--run-time",
            "4s",
            "--workers",
            "2",
        ])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 6);
    assert!(out.out_dir().join("locust/worker-1.log").is_file());
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn missing_remote_workers_fail_fast() {
    let out = locust_gate(&locustfile("oauth_api.py"), "http://127.0.0.1:9")
        .args([
            "--users",
            "2",
            "--run-time",
            "30s",
            "--remote-workers",
            "1",
            "--workers-max-wait",
            "2",
        ])
        .run()
        .expect_exit(3);
    assert!(
        out.stderr.contains("did not connect within 2s"),
        "{}",
        out.stderr
    );
}

/// Locust runs the team's code: it gets the job's environment without the gate's tokens and
/// GitLab's credentials, while the team's own variables still reach it.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locust_never_sees_the_gates_secrets() {
    let app = sample_app(Knobs::default());
    let dump = "import os\nfrom locust import HttpUser, task, constant\n\
with open('env.txt', 'w') as f:\n    f.write('\\n'.join(f'{k}={v}' for k, v in os.environ.items()))\n\
class U(HttpUser):\n    wait_time = constant(1)\n    @task\n    def t(self):\n        self.client.get('/health')\n";
    let canary = "canary-9f3b2c";
    let out = own_locustfile("dump.py", dump, &["--host", &app.url(), "--run-time", "2s"])
        .args(["--users", "1", "--baseline", "none"])
        .env("CI_JOB_TOKEN", canary)
        .env(
            "CI_REPOSITORY_URL",
            &format!("https://gitlab-ci-token:{canary}@gitlab.example.com/x.git"),
        )
        .env("CI_REGISTRY_PASSWORD", canary)
        .env("CI_JOB_JWT_V2", canary)
        .env("LOADFORGE_GATE_GITLAB_TOKEN", canary)
        .env("LOADFORGE_API_TOKEN", canary)
        .env("APP_USERNAME", "team-value")
        .run()
        .expect_exit(0);
    let env = std::fs::read_to_string(out.out_dir().join("locust/env.txt"))
        .or_else(|_| std::fs::read_to_string(out.dir.path().join("env.txt")))
        .unwrap_or_else(|e| panic!("the locustfile wrote no env.txt ({e}): {}", out.stderr));
    assert!(!env.contains(canary), "a secret reached Locust");
    assert!(
        env.contains("APP_USERNAME=team-value"),
        "the team's variable is missing"
    );
}

/// Whether a process is still running (a zombie waiting for its reaper counts as ended).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// Whatever a locustfile starts is ended with the run: every Locust process leads its own
/// process group, and the gate ends the groups on every exit path.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn nothing_a_locustfile_starts_outlives_the_run() {
    let app = sample_app(Knobs::default());
    let file = "import subprocess\nfrom locust import HttpUser, task, constant\n\
child = subprocess.Popen(['sleep', '300'])\n\
open('grandchild.pid', 'w').write(str(child.pid))\n\
class U(HttpUser):\n    wait_time = constant(1)\n    @task\n    def t(self):\n        self.client.get('/health')\n";
    let out = own_locustfile(
        "spawns.py",
        file,
        &["--host", &app.url(), "--run-time", "2s"],
    )
    .args(["--users", "1", "--baseline", "none"])
    .run()
    .expect_exit(0);
    let pid = std::fs::read_to_string(out.out_dir().join("locust/grandchild.pid"))
        .unwrap_or_else(|e| panic!("no grandchild.pid ({e}): {}", out.stderr));
    for _ in 0..100 {
        if !alive(&pid) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    panic!("the locustfile's child {pid} outlived the run");
}
