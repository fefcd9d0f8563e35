//! The component the way users run it: both templates through gitlab-ci-local (a third-party
//! GitLab CI emulator from npm), shell executor, included by `include: component:` from a
//! loopback git server holding a tagged copy of this repository, the built binary on `PATH`
//! and the sample app on a loopback port.
//!
//! gitlab-ci-local is pinned to 4.70.1, the last release that runs on Node 20 (4.73 and later
//! call `Set.prototype.union`, which Node 20 lacks), and installed on first use into
//! `target/gitlab-ci-local/`. They are of the full tier (`--features full-tests`). Without Node,
//! npm, git or rsync they say so loudly and pass; `.ci/run` sets
//! `LOADFORGE_GATE_REQUIRE_EMULATOR`, which makes that a failure.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
};

use loadforge_gate::sample_app::Knobs;

use crate::{
    fake_loadforge::{Behaviour, FakeLoadForge, TEST_ID, TOKEN},
    git_server::GitServer,
    harness::{load_turn, sample_app, Gate, LoadTurn, BIN, REPORTS},
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EMULATOR_VERSION: &str = "4.70.1";
const REQUIRED: &str = "LOADFORGE_GATE_REQUIRE_EMULATOR";

/// The emulator's executable, installed once per test process, and a turn to use it: these
/// tests run one at a time, and never beside a timing-sensitive test (the shared load turn of
/// `harness::quiet`), so a pipeline's jobs (up to four processes, plus Node) do not pile onto
/// it on two cores. `None` when the emulator cannot be had here and [`REQUIRED`] is not set.
pub(crate) fn emulator() -> Option<(PathBuf, (MutexGuard<'static, ()>, LoadTurn))> {
    static ONCE: OnceLock<Option<PathBuf>> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::new(());
    let bin = ONCE.get_or_init(install).clone()?;
    // A test that failed while holding the turn does not make the others fail.
    let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    Some((bin, (turn, load_turn())))
}

fn install() -> Option<PathBuf> {
    let works = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = ["node", "npm", "git", "rsync"]
        .into_iter()
        .filter(|t| !works(t))
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "\n\n*** SKIPPED: the gitlab-ci-local emulator tests need {} (the README's test command installs them) ***\n\n",
            missing.join(", ")
        );
        assert!(std::env::var_os(REQUIRED).is_none(), "{message}");
        // Straight to the terminal: the test harness captures only the print macros.
        let _ = std::io::stderr().write_all(message.as_bytes());
        return None;
    }
    let dir = Path::new(ROOT).join("target/gitlab-ci-local");
    let bin = dir.join("node_modules/.bin/gitlab-ci-local");
    let installed = std::fs::read_to_string(dir.join("node_modules/gitlab-ci-local/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|p| p["version"] == EMULATOR_VERSION);
    if !installed {
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("gitlab-ci-local@{EMULATOR_VERSION}"))
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm install gitlab-ci-local failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(bin)
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback GitLab as far as the emulator needs one: the component's project
/// `loadforge/loadforge-gate`, tagged with this crate's version, served over smart HTTP.
pub(crate) struct Forge {
    repos: tempfile::TempDir,
    server: GitServer,
}

impl Forge {
    pub(crate) fn new() -> Forge {
        let repos = tempfile::tempdir().unwrap();
        let work = repos.path().join("work");
        std::fs::create_dir_all(work.join("templates")).unwrap();
        for f in [
            "templates/loadforge-gate.yml",
            "templates/loadforge-gate-sharded.yml",
            "component.yml",
            "README.md",
        ] {
            std::fs::copy(Path::new(ROOT).join(f), work.join(f)).unwrap();
        }
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "component"]);
        git(&work, &["tag", env!("CARGO_PKG_VERSION")]);
        let bare = repos.path().join("loadforge/loadforge-gate.git");
        let bare = bare.to_str().unwrap();
        git(repos.path(), &["clone", "-q", "--bare", "work", bare]);
        let server = GitServer::start(repos.path());
        Forge { repos, server }
    }

    /// The `component:` value for one of the two templates at this crate's version.
    pub(crate) fn component(&self, template: &str) -> String {
        format!(
            "{}/loadforge/loadforge-gate/{template}@{}",
            self.server.authority(),
            env!("CARGO_PKG_VERSION")
        )
    }

    /// A consumer project: `.gitlab-ci.yml` and a scenario, committed on `main`, with an origin
    /// on this server (the emulator clones includes from its origin's host).
    pub(crate) fn project(&self, pipeline: &str) -> Project {
        let dir = tempfile::tempdir_in(self.repos.path()).unwrap();
        std::fs::write(dir.path().join(".gitlab-ci.yml"), pipeline).unwrap();
        std::fs::copy(
            crate::harness::example("shop-cart.yml"),
            dir.path().join("shop-cart.yml"),
        )
        .unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "pipeline"]);
        let origin = format!("http://{}/consumer/app.git", self.server.authority());
        git(dir.path(), &["remote", "add", "origin", &origin]);
        Project { dir }
    }
}

pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// The project with one more file, committed.
    fn with_file(self, name: &str, text: &str) -> Project {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        git(self.dir.path(), &["add", "."]);
        git(self.dir.path(), &["commit", "-q", "-m", name]);
        self
    }
}

struct Run {
    code: i32,
    log: String,
    dir: PathBuf,
    _project: Option<Project>,
}

impl Project {
    /// The emulator in this project, with `variables` as `--variable` and an environment free
    /// of anything the developer's shell or this project's CI might set.
    fn emulator(&self, emulator: &Path, variables: &[(&str, &str)]) -> Command {
        let bin_dir = Path::new(BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(emulator);
        cmd.current_dir(self.dir.path())
            .arg("--force-shell-executor")
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0");
        for (k, _) in std::env::vars() {
            if k.starts_with("LOADFORGE_")
                || k.starts_with("CI_")
                || k.starts_with("GITLAB")
                || k == "CI"
                || k == "TARGET_HOST"
            {
                cmd.env_remove(k);
            }
        }
        // A healthy load generator, as in every other test (debug builds only): this 2-core
        // machine runs other tests beside the job, which really does starve it.
        cmd.arg("--variable").arg("LOADFORGE_GATE_TEST_HICCUP_MS=0");
        for (k, v) in variables {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        cmd
    }

    /// The whole pipeline through the emulator.
    fn run(&self, emulator: &Path, variables: &[(&str, &str)]) -> Run {
        let out = self
            .emulator(emulator, variables)
            .output()
            .expect("gitlab-ci-local runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            log: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            dir: self.dir.path().to_path_buf(),
            _project: None,
        }
    }

    /// The jobs the pipeline would run, without running any: `--list-json` lists every job
    /// with the `when` its rules give under `variables` (`never`: not in the pipeline).
    pub(crate) fn jobs(&self, emulator: &Path, variables: &[(&str, &str)]) -> Vec<String> {
        let mut cmd = self.emulator(emulator, variables);
        cmd.arg("--list-json");
        // Overriding a predefined variable is the point here: without this the emulator
        // prints its warning about it to stdout, before the JSON.
        let predefined: Vec<&str> = variables
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| k.starts_with("CI_"))
            .collect();
        if !predefined.is_empty() {
            cmd.arg("--ignore-predefined-vars")
                .arg(predefined.join(","));
        }
        let out = cmd.output().expect("gitlab-ci-local runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let jobs: Vec<serde_json::Value> =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--list-json: {e}:\n{stdout}"));
        jobs.iter()
            .filter(|j| j["when"] != "never")
            .map(|j| j["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// [`Self::jobs`], a `parallel:` job once (it is listed once per index, as `NAME: [i/N]`).
    fn gates(&self, emulator: &Path, variables: &[(&str, &str)]) -> Vec<String> {
        let mut jobs: Vec<String> = (self.jobs(emulator, variables).into_iter())
            .map(|j| j.split(": [").next().unwrap_or_default().to_string())
            .collect();
        jobs.dedup();
        jobs
    }

    /// Check out branch `name`, made at `main` if new (the emulator takes `CI_COMMIT_BRANCH`
    /// from `HEAD`), with `origin/HEAD` naming `main` (it takes `CI_DEFAULT_BRANCH` from there).
    fn checkout(&self, name: &str) {
        let dir = self.dir.path();
        git(dir, &["update-ref", "refs/remotes/origin/main", "main"]);
        git(dir, &["remote", "set-head", "origin", "main"]);
        git(dir, &["checkout", "-q", "-B", name, "main"]);
    }

    /// [`Self::run`] for a project run once: its folder lives as long as the answer.
    fn run_once(self, emulator: &Path, variables: &[(&str, &str)]) -> Run {
        let mut run = self.run(emulator, variables);
        run._project = Some(self);
        run
    }
}

impl Run {
    /// Whether the pipeline failed. gitlab-ci-local 4.70.1 labels a job by GitLab's rule
    /// (`allow_failure: exit_codes: [5]` allows exit 5 only: any other failure is `FAIL`), but
    /// its own exit code takes every `allow_failure:` object for "allowed"; GitLab fails the
    /// pipeline. So a job labelled `FAIL` counts as the failure GitLab would report.
    fn failed(&self) -> bool {
        self.code != 0 || self.log.lines().any(|l| l.contains("  FAIL "))
    }

    #[track_caller]
    fn expect(self, success: bool) -> Self {
        assert_eq!(!self.failed(), success, "exit {}:\n{}", self.code, self.log);
        self
    }

    /// A file of a job's `loadforge-gate/` artifacts, as the emulator exported them.
    fn artifact(&self, job: &str, file: &str) -> PathBuf {
        self.dir
            .join(".gitlab-ci-local/artifacts")
            .join(job)
            .join("loadforge-gate")
            .join(file)
    }

    #[track_caller]
    fn results(&self, job: &str) -> serde_json::Value {
        let p = self.artifact(job, "results.json");
        let text = std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", p.display(), self.log));
        serde_json::from_str(&text).unwrap()
    }

    #[track_caller]
    fn every_report(&self, job: &str) {
        for f in REPORTS {
            assert!(
                self.artifact(job, f).is_file(),
                "{job}: {f} missing\n{}\n{}",
                self.log,
                listing(&self.dir)
            );
        }
    }

    fn jobs_started(&self) -> usize {
        self.log.matches("starting shell").count()
    }
}

/// What the project folder holds, for failure messages.
fn listing(dir: &Path) -> String {
    let out = Command::new("find")
        .arg(dir)
        .args(["-not", "-path", "*/.git/*"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    out.unwrap_or_default()
}

/// The single-job component: `extra` lines are added to its inputs.
fn single(forge: &Forge, host: &str, extra: &str) -> String {
    format!(
        "include:\n  - component: {}\n    inputs:\n      scenario: shop-cart.yml\n      host: {host}\n      users: 2\n      run-time: 2s\n      baseline: none\n{extra}",
        forge.component("loadforge-gate")
    )
}

fn sharded(forge: &Forge, host: &str, extra: &str) -> String {
    format!(
        "include:\n  - component: {}\n    inputs:\n      scenario: shop-cart.yml\n      host: {host}\n      users: 3\n      run-time: 2s\n      start-delay: 1s\n      shards: 3\n      baseline: none\n{extra}",
        forge.component("loadforge-gate-sharded")
    )
}

/// Each component with `extra` inputs, against nothing (for listing jobs): its name, the
/// pipeline and its gate jobs.
fn both_templates(forge: &Forge, extra: &str) -> [(&'static str, String, Vec<&'static str>); 2] {
    let host = "http://127.0.0.1:9";
    [
        (
            "loadforge-gate",
            single(forge, host, extra),
            vec!["loadforge-gate"],
        ),
        (
            "loadforge-gate-sharded",
            sharded(forge, host, extra),
            vec!["loadforge-gate-shard", "loadforge-gate"],
        ),
    ]
}

fn checks(results: &serde_json::Value) -> Vec<String> {
    results["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["expression"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn the_single_job_passes_and_fails_with_every_report_written() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let forge = Forge::new();
    let pass = single(
        &forge,
        &app.url(),
        "      thresholds: [\"p95<10s\", \"error_rate<50%\"]\n",
    );
    let run = forge.project(&pass).run_once(&emulator, &[]).expect(true);
    run.every_report("loadforge-gate");
    let results = run.results("loadforge-gate");
    assert_eq!(results["verdict"]["outcome"], "passed", "{results:#}");
    assert_eq!(
        checks(&results),
        ["p95<10s", "error_rate<50%"],
        "the array input reached the binary (gitlab-ci-local writes it as JSON)"
    );

    let fail = single(&forge, &app.url(), "      thresholds: [\"p95<1ms\"]\n");
    let run = forge.project(&fail).run_once(&emulator, &[]).expect(false);
    run.every_report("loadforge-gate");
    assert_eq!(
        run.results("loadforge-gate")["verdict"]["outcome"],
        "failed"
    );
    assert!(run.log.contains("FAIL"), "{}", run.log);
}

/// The `http2` input reaches the run through the component: the sample app answers HTTP/2 by
/// prior knowledge, and results.json says h2 for the run and for each endpoint.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn the_http2_input_reaches_the_run_and_every_endpoint_says_h2() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let forge = Forge::new();
    let pipeline = single(
        &forge,
        &app.url(),
        "      http2: always\n      thresholds: [\"p95<10s\", \"error_rate<50%\"]\n",
    );
    let run = forge
        .project(&pipeline)
        .run_once(&emulator, &[])
        .expect(true);
    let results = run.results("loadforge-gate");
    assert_eq!(results["run"]["protocol"], "h2", "{results:#}");
    for e in results["endpoints"].as_array().unwrap() {
        if e["requests"].as_u64() > Some(0) {
            assert_eq!(e["protocol"], "h2", "{e}");
        }
    }
}

/// A one-request scenario whose endpoint name holds what Ruby's inspect escapes.
const RUBY_NAMED_SCENARIO: &str = r#"name: ruby-escapes
tasks:
  - name: t
    request:
      name: 'GET /q="x"/#{id}/\b'
      path: /
"#;

/// GitLab writes an array input inside a string with Ruby's `Array#inspect` (`["a", "b"]`,
/// `#{` as `\#{`; gitlabhq `lib/gitlab/ci/config/interpolation/template.rb`), or with `to_json`
/// behind `ci_text_interpolation` (Rails escapes `<` as `\u003c`), the emulator with
/// `JSON.stringify` (`["a","b"]`): all parse. A non-string element is a one-line error, exit 2.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn array_inputs_parse_as_gitlab_and_the_emulator_write_them() {
    for written in [
        "[\"p95<500ms\", \"error_rate<1%\"]\n",
        "[\"p95<500ms\",\"error_rate<1%\"]\n",
        "[\"p95\\u003c500ms\",\"error_rate\\u003c1%\"]\n",
        // An endpoint named with a quote, `#{` and a backslash, as Ruby writes them.
        "[\"GET /q=\\\"x\\\"/\\#{id}/\\\\b:p95<500ms\", \"error_rate<1%\"]\n",
    ] {
        let out = Gate::new()
            .write("s.yml", RUBY_NAMED_SCENARIO)
            .args(["validate", "--scenario", "s.yml"])
            .args(["--host", "http://127.0.0.1:9"])
            .env("LOADFORGE_GATE_THRESHOLD", written)
            .run()
            .expect_exit(0);
        assert!(
            out.stdout.contains("2 thresholds"),
            "{written}: {}",
            out.stdout
        );
    }
    let out = Gate::new()
        .args([
            "validate",
            "--scenario",
            &crate::harness::example("shop-cart.yml"),
        ])
        .args(["--host", "http://127.0.0.1:9"])
        .env("LOADFORGE_GATE_THRESHOLD", "[\"p95<500ms\", 500]\n")
        .run()
        .expect_exit(2);
    let line = out.one_line_error();
    assert!(
        line.contains("`thresholds` input") && line.contains("not a string"),
        "{line}"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn allow_failure_turns_a_failing_gate_into_a_warning_in_both_templates() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let forge = Forge::new();
    let extra = "      thresholds: [\"p95<1ms\"]\n      allow-failure: true\n";
    let run = forge
        .project(&single(&forge, &app.url(), extra))
        .run_once(&emulator, &[])
        .expect(true);
    assert!(run.log.contains("WARN"), "{}", run.log);
    run.every_report("loadforge-gate");

    // Every shard fails (its scenario is missing): warnings, and the merge job still runs.
    let pipeline = sharded(&forge, &app.url(), "      allow-failure: true\n")
        .replace("scenario: shop-cart.yml", "scenario: missing.yml");
    let run = forge
        .project(&pipeline)
        .run_once(&emulator, &[])
        .expect(true);
    assert!(run.log.contains("WARN"), "{}", run.log);
    assert!(
        run.log.contains("$ loadforge-gate merge"),
        "the merge job ran:\n{}",
        run.log
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn three_shards_and_the_merge_job_add_up() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let forge = Forge::new();
    let pipeline = sharded(
        &forge,
        &app.url(),
        "      thresholds: [\"error_rate<50%\"]\n",
    );
    let run = forge
        .project(&pipeline)
        .run_once(&emulator, &[])
        .expect(true);
    assert_eq!(
        run.jobs_started(),
        4,
        "three shards and a merge:\n{}",
        run.log
    );
    run.every_report("loadforge-gate");
    let merged = run.results("loadforge-gate");
    let mut sum = 0;
    for i in 1..=3 {
        let shard = run.artifact("loadforge-gate", &format!("shards/shard-{i}-of-3.json"));
        let shard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(shard).unwrap()).unwrap();
        sum += shard["aggregate"]["requests"].as_u64().unwrap();
    }
    assert!(sum > 0);
    assert_eq!(merged["aggregate"]["requests"], sum, "{}", run.log);
    assert_eq!(checks(&merged), ["error_rate<50%"]);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn the_rules_input_restricts_every_job_of_the_sharded_component() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    let rules = "      pipelines: custom\n      rules:\n        - if: $RUN_PERF == \"yes\"\n";
    let project = forge.project(&sharded(&forge, "http://127.0.0.1:9", rules));
    let run = project.run(&emulator, &[]).expect(true);
    assert_eq!(run.jobs_started(), 0, "no job may run:\n{}", run.log);
    // The same pipeline with the rule met runs all four jobs (against nothing: they fail).
    let run = project.run(&emulator, &[("RUN_PERF", "yes")]);
    assert_eq!(run.jobs_started(), 4, "{}", run.log);
}

/// A pipeline of the default-rules matrix: what it is, the branch checked out, the variables
/// the emulator gets, and whether the gate runs in it.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], bool);

/// The default rules of both templates (`pipelines: branch`), as GitLab's own Load-Performance
/// template: the gate runs in branch and tag pipelines, the branch pipeline of a branch with an
/// open merge request included, and never in a merge-request pipeline, so including the
/// component never makes GitLab create one (tests/it/workflows.rs runs the whole matrix of
/// workflows). The emulator sets `CI_PIPELINE_SOURCE=push` and `CI_COMMIT_BRANCH` from `HEAD`;
/// a `--variable` overrides them (an empty value stands for "unset", which `if: $VAR` reads the
/// same way). `--list-json` evaluates the rules without running any load.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn default_rules_run_the_gate_once_per_push_in_both_templates() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    let open_mr = ("CI_OPEN_MERGE_REQUESTS", "consumer/app!7");
    let merge_request: &[(&str, &str)] = &[
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_COMMIT_BRANCH", ""),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        open_mr,
    ];
    let merge_train: &[(&str, &str)] = &[
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_COMMIT_BRANCH", ""),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_EVENT_TYPE", "merge_train"),
        open_mr,
    ];
    let tag: &[(&str, &str)] = &[("CI_COMMIT_BRANCH", ""), ("CI_COMMIT_TAG", "1.0.0")];
    let cases: [Case; 7] = [
        ("a push to the default branch", "main", &[], true),
        (
            "a scheduled pipeline on the default branch",
            "main",
            &[("CI_PIPELINE_SOURCE", "schedule")],
            true,
        ),
        ("a merge-request pipeline", "feature", merge_request, false),
        ("a merge train's pipeline", "feature", merge_train, false),
        (
            "a push to a branch without a merge request",
            "feature",
            &[],
            true,
        ),
        (
            "the branch pipeline of a branch with an open merge request",
            "feature",
            &[open_mr],
            true,
        ),
        ("a tag pipeline", "main", tag, true),
    ];
    for (template, pipeline, gate) in both_templates(&forge, "") {
        // One project per template: the emulator fetches the include once.
        let project = forge.project(&pipeline);
        for (case, branch, variables, runs) in cases {
            project.checkout(branch);
            let jobs = project.gates(&emulator, variables);
            let want: Vec<&str> = if runs { gate.clone() } else { Vec::new() };
            assert_eq!(jobs, want, "{template}, {case}");
        }
    }
}

/// `merge-trains: skip` leaves every job of both components out of a merge train's pipeline
/// and keeps them in the merge request's own (merged results or not; `pipelines:
/// merge-request` runs them there): the merge-train rule before the others, one list once
/// gitlab-ci-local flattens it as GitLab does.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn merge_trains_skip_leaves_the_gate_out_of_merge_trains_only() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    let skip = "      merge-trains: skip\n      pipelines: merge-request\n";
    for (template, pipeline, gate) in both_templates(&forge, skip) {
        let project = forge.project(&pipeline);
        project.checkout("feature");
        for (event, runs) in [
            ("merge_train", false),
            ("merged_result", true),
            ("detached", true),
        ] {
            let variables = [
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_COMMIT_BRANCH", ""),
                ("CI_MERGE_REQUEST_IID", "7"),
                ("CI_MERGE_REQUEST_EVENT_TYPE", event),
            ];
            let jobs = project.gates(&emulator, &variables);
            let want: Vec<&str> = if runs { gate.clone() } else { Vec::new() };
            assert_eq!(jobs, want, "{template}, {event}");
        }
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn typed_input_errors_are_rejected_before_any_job_runs() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    for (bad, says) in [
        ("users: 2", "`users` input: provided value is not a number"),
        ("run-time: 2s", "`engine` input: `jmeter` cannot be used"),
    ] {
        let replacement = if bad.starts_with("users") {
            "users: \"abc\"".to_string()
        } else {
            format!("{bad}\n      engine: jmeter")
        };
        let pipeline = single(&forge, "http://127.0.0.1:9", "").replace(bad, &replacement);
        let run = forge
            .project(&pipeline)
            .run_once(&emulator, &[])
            .expect(false);
        assert!(run.log.contains(says), "{says}:\n{}", run.log);
        assert_eq!(run.jobs_started(), 0, "{}", run.log);
    }
}

/// The seed's LoadForge pipeline, `examples/gitlab/loadforge-cloud.gitlab-ci.yml`, as written
/// but for the include's host, a shorter and smaller run and the fake LoadForge's URL.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn the_loadforge_example_dispatches_through_the_component() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let lf = FakeLoadForge::start(Behaviour::default());
    let forge = Forge::new();
    let example = std::fs::read_to_string(format!(
        "{ROOT}/examples/gitlab/loadforge-cloud.gitlab-ci.yml"
    ))
    .unwrap();
    let published = format!(
        "$CI_SERVER_FQDN/loadforge/loadforge-gate/loadforge-gate@{}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(example.contains(&published));
    let pipeline = example
        .replace(&published, &forge.component("loadforge-gate"))
        .replace("users: 200", "users: 4")
        .replace("run-time: 10m", "run-time: 2s")
        .replace(
            "engine: loadforge\n",
            &format!("engine: loadforge\n      loadforge-url: {}\n", lf.url()),
        );
    assert!(pipeline.contains("run-time: 2s") && pipeline.contains("loadforge-url"));
    let run = forge.project(&pipeline).run_once(
        &emulator,
        &[
            ("LOADFORGE_API_TOKEN", TOKEN),
            ("LOADFORGE_TEST_ID", TEST_ID),
            ("TARGET_HOST", &app.url()),
            ("LOADFORGE_GATE_POLL_INTERVAL", "200ms"),
            ("LOADFORGE_GATE_BASELINE", "none"),
        ],
    );
    let run = run.expect(true);
    assert_eq!(lf.with(|s| s.starts.len()), 1, "{}", run.log);
    run.every_report("performance_gate");
    let results = run.results("performance_gate");
    assert_eq!(results["run"]["engine"], "loadforge", "{results:#}");
    assert_eq!(checks(&results), ["avg<800ms", "error_rate<1.5%"]);
    assert!(!run.log.contains(TOKEN), "the token was printed");
}

/// A k6 script with its own thresholds and checks, as a team migrating from GitLab's
/// Load-Performance-Testing template would bring it.
const K6_SCRIPT: &str = "import http from 'k6/http';\nimport { check } from 'k6';\n\
export const options = { thresholds: { http_req_duration: ['p(95)<10000'], checks: ['rate>0.9'] } };\n\
export default function () {\n\
  const res = http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: 'GET /health' } });\n\
  check(res, { 'status is 200': (r) => r.status === 200 });\n\
}\n";

/// The component with `engine: k6` runs the team's k6 script with the real k6 against the
/// sample app: every report, k6's samples as the gate's endpoint, and the script's thresholds
/// and checks as junit cases named as in the script, beside the gate's own threshold.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: gitlab-ci-local and k6"
)]
fn a_k6_script_runs_through_the_component_with_its_own_verdicts() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let app = sample_app(Knobs::default());
    let forge = Forge::new();
    let pipeline = format!(
        "include:\n  - component: {}\n    inputs:\n      engine: k6\n      k6-script: perf.js\n      host: {}\n      users: 2\n      run-time: 2s\n      baseline: none\n      thresholds: [\"error_rate<1%\"]\n",
        forge.component("loadforge-gate"),
        app.url()
    );
    let k6 = crate::k6::k6_bin();
    let run = forge
        .project(&pipeline)
        .with_file("perf.js", K6_SCRIPT)
        .run_once(&emulator, &[("LOADFORGE_GATE_K6_BIN", &k6)])
        .expect(true);
    run.every_report("loadforge-gate");
    let results = run.results("loadforge-gate");
    assert_eq!(results["run"]["engine"], "k6", "{results:#}");
    assert!(results["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "GET /health" && e["requests"].as_u64() > Some(0)));
    assert_eq!(
        checks(&results),
        [
            "error_rate<1%",
            "checks: rate>0.9",
            "http_req_duration: p(95)<10000",
            "status is 200"
        ]
    );
    let junit = std::fs::read_to_string(run.artifact("loadforge-gate", "junit.xml")).unwrap();
    for case in [
        "k6 threshold http_req_duration: p(95)&lt;10000",
        "k6 check status is 200",
    ] {
        assert!(junit.contains(case), "{case}: {junit}");
    }
}
