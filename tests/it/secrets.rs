//! The secret canary: every engine and the merge-request comment run with a distinct canary in
//! every variable that holds a secret, in URL credentials and in a scenario's `${env.X}`; then
//! every byte the gate let out (stdout, stderr, every file under its directory, the comment
//! bodies, the environment Locust saw) is searched for every canary.

use std::path::Path;

use loadforge_gate::sample_app::Knobs;

use crate::{
    fake_gitlab::{FakeGitlab, JOB_TOKEN, PRIVATE_TOKEN},
    fake_loadforge::{Behaviour, FakeLoadForge, TEST_ID, TOKEN as LOADFORGE_TOKEN},
    gitlab::{mr_env, MR},
    harness::{sample_app, Gate, Output},
    locust::locust_bin,
};

/// Secret variables with a canary each that no fake needs to accept (those that the fakes check
/// carry the fakes' own tokens, which are canaries as well: see [`canaries`]).
const SECRET_VARS: &[(&str, &str)] = &[
    ("CI_REGISTRY_PASSWORD", "CANARY-registry-password-31"),
    ("CI_DEPLOY_PASSWORD", "CANARY-deploy-password-32"),
    ("CI_DEPENDENCY_PROXY_PASSWORD", "CANARY-proxy-password-33"),
    ("CI_JOB_JWT", "CANARY-job-jwt-34"),
    ("CI_JOB_JWT_V2", "CANARY-job-jwt-v2-35"),
    (
        "LOADFORGE_GATE_PRIVATE_NOTE",
        "CANARY-loadforge-prefixed-36",
    ),
    // A custom executor's Runner passes every job variable again under this prefix.
    ("CUSTOM_ENV_CI_JOB_TOKEN", "CANARY-custom-env-job-token-40"),
    (
        "CUSTOM_ENV_LOADFORGE_API_TOKEN",
        "CANARY-custom-env-loadforge-token-41",
    ),
    (
        "CUSTOM_ENV_CI_REPOSITORY_URL",
        "https://gitlab-ci-token:CANARY-custom-env-repository-42@gitlab.example/p.git",
    ),
];

/// Credentials inside `CI_REPOSITORY_URL`, as GitLab Runner writes it.
const REPOSITORY_PASSWORD: &str = "CANARY-repository-url-37";
/// The value behind `${env.LF_CANARY_KEY}` in the native scenario.
const SCENARIO_SECRET: &str = "CANARY-scenario-env-38";
/// The password in a `--host` URL.
const URL_PASSWORD: &str = "CANARY-url-userinfo-39";

fn canaries() -> Vec<&'static str> {
    let mut all: Vec<&str> = SECRET_VARS.iter().map(|(_, v)| *v).collect();
    all.extend([
        PRIVATE_TOKEN,
        JOB_TOKEN,
        LOADFORGE_TOKEN,
        REPOSITORY_PASSWORD,
        SCENARIO_SECRET,
        URL_PASSWORD,
    ]);
    all
}

/// A merge-request pipeline (the fake GitLab, an API token for the comment) with every secret
/// variable set to its canary. A scenario's own `${env.X}` is the team's variable, not the
/// gate's: Locust gets it, so only the native run sets one.
fn with_secrets(gl: &FakeGitlab) -> Gate {
    let mut gate = mr_env(gl)
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .env("LOADFORGE_API_TOKEN", LOADFORGE_TOKEN)
        .env(
            "CI_REPOSITORY_URL",
            &format!("https://gitlab-ci-token:{REPOSITORY_PASSWORD}@gitlab.example/p.git"),
        );
    for (k, v) in SECRET_VARS {
        gate = gate.env(k, v);
    }
    gate
}

/// Every file under `dir`, recursively, as lossy text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            found.push((path.display().to_string(), text));
        }
    }
    found
}

/// Searches the run's output, every file it left and every comment for every canary; returns
/// how many places were searched so a caller can tell the search was not empty.
#[track_caller]
fn assert_no_canary(out: &Output, gl: &FakeGitlab) -> usize {
    let mut places = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    places.extend(files_under(out.dir.path()));
    for note in gl.notes(MR) {
        places.push((format!("comment {}", note.id), note.body));
    }
    for (place, text) in &places {
        for canary in canaries() {
            assert!(!text.contains(canary), "{canary} leaked into {place}");
        }
    }
    places.len()
}

#[track_caller]
fn assert_commented(gl: &FakeGitlab, out: &Output) {
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "no comment was posted: {}", out.stderr);
    assert!(
        notes[0].body.contains("loadforge-gate"),
        "{}",
        notes[0].body
    );
}

#[test]
fn native_run_and_its_comment_hold_no_secret() {
    let app = sample_app(Knobs::default());
    let gl = FakeGitlab::start();
    // The secret travels in the path (no such page: 404 is the expected answer) and a header.
    let scenario = "tasks:\n  - request:\n      path: \"/health/${env.LF_CANARY_KEY}\"\n      \
                    headers: {X-Api-Key: \"${env.LF_CANARY_KEY}\"}\n      check: {status: 404}\n";
    let out = with_secrets(&gl)
        .env("LF_CANARY_KEY", SCENARIO_SECRET)
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "2", "--run-time", "1s", "--progress", "1"])
        .run()
        .expect_exit(5);
    assert_commented(&gl, &out);
    assert!(
        out.file("results.json")
            .contains("\"GET /health/${env.LF_CANARY_KEY}\""),
        "the endpoint is named by its template"
    );
    let places = assert_no_canary(&out, &gl);
    // stdout, stderr, the comment and every report at least.
    let least = 3 + crate::harness::REPORTS.len();
    assert!(places >= least, "only {places} places searched");
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locust_run_its_environment_and_its_comment_hold_no_secret() {
    let app = sample_app(Knobs::default());
    let gl = FakeGitlab::start();
    let dump = "import os\nfrom locust import HttpUser, task, constant\n\
with open('env.txt', 'w') as f:\n    f.write('\\n'.join(f'{k}={v}' for k, v in os.environ.items()))\n\
class U(HttpUser):\n    wait_time = constant(1)\n    @task\n    def t(self):\n        self.client.get('/health')\n";
    let gate = with_secrets(&gl).write("dump.py", dump);
    let file = gate.path().join("dump.py").display().to_string();
    let out = gate
        .args(["run", "--engine", "locust", "--locustfile", &file])
        .args(["--locust-bin", &locust_bin(), "--host", &app.url()])
        .args(["--users", "1", "--run-time", "2s", "--progress", "0"])
        .run()
        .expect_exit(5);
    assert_commented(&gl, &out);
    let env = files_under(out.dir.path())
        .into_iter()
        .find(|(p, _)| p.ends_with("env.txt"))
        .map(|(_, text)| text)
        .unwrap_or_else(|| panic!("the locustfile wrote no env.txt: {}", out.stderr));
    assert!(env.contains("PATH="), "the dump is Locust's environment");
    assert_no_canary(&out, &gl);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn loadforge_dispatch_and_its_comment_hold_no_secret() {
    let app = sample_app(Knobs::default());
    let gl = FakeGitlab::start();
    let lf = FakeLoadForge::start(Behaviour::default());
    let out = with_secrets(&gl)
        .env("LOADFORGE_TEST_ID", TEST_ID)
        .env("LOADFORGE_GATE_LOADFORGE_URL", &lf.url())
        .args(["run", "--engine", "loadforge", "--host", &app.url()])
        .args([
            "--users",
            "2",
            "--run-time",
            "2s",
            "--poll-interval",
            "200ms",
        ])
        .run()
        .expect_exit(5);
    assert_eq!(lf.with(|s| s.starts.len()), 1, "{}", out.stderr);
    assert_commented(&gl, &out);
    assert_no_canary(&out, &gl);
}

/// URL credentials are refused (they would be printed in every report and silently not sent):
/// the refusal names the flag without repeating the password, in `run` and `validate`.
#[test]
fn url_credentials_are_refused_without_being_repeated() {
    let gl = FakeGitlab::start();
    let host = format!("http://tester:{URL_PASSWORD}@127.0.0.1:9/app");
    for command in ["run", "validate"] {
        let out = with_secrets(&gl)
            .write("s.yml", "tasks: [{request: {path: /}}]\n")
            .args([command, "--scenario", "s.yml", "--host", &host])
            .run()
            .expect_exit(2);
        assert!(out.one_line_error().contains("--host"), "{}", out.stderr);
        assert_no_canary(&out, &gl);
    }
}
