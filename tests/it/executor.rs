//! `loadforge-gate executor` driven the way GitLab Runner drives a custom executor. No Runner can
//! be installed here, so [`Runner`] plays its part as its source does (gitlab-runner
//! `executors/custom/custom.go`, `command/command.go`, `helpers/process/`): every call gets
//! `BUILD_FAILURE_EXIT_CODE=1`, `SYSTEM_FAILURE_EXIT_CODE=2`, `BUILD_EXIT_CODE_FILE`,
//! `JOB_RESPONSE_FILE`, `TMPDIR`, the `job_env` of `config` and the job's variables as
//! `CUSTOM_ENV_*`; the driver is started as the leader of its own process group, which gets
//! SIGTERM on a timeout and SIGKILL after the graceful-kill timeout; `run` is called once per
//! stage with a generated script file; prepare is retried on a system failure; cleanup always
//! runs. Exit codes are read as `command.go` reads them.

use std::{
    collections::BTreeMap,
    io::Read,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use loadforge_gate::sample_app::Knobs;

use super::harness::{example, sample_app, BIN};

/// What the Runner makes of a driver call (`command.go`'s `waitForCommand`).
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Success,
    /// Exit code 1: the job failed, with the code from `BUILD_EXIT_CODE_FILE` (1 without it).
    BuildFailure(i32),
    /// Exit code 2.
    SystemFailure,
    /// Any other exit code, or an unreadable exit-code file: an unknown failure.
    Unknown(i32),
    /// Ended by the SIGTERM of a timeout, within the graceful-kill timeout.
    Terminated,
    /// Still running after the graceful-kill timeout, so SIGKILLed.
    Killed,
}

/// One driver call: how it ended and what it printed.
#[derive(Debug)]
struct Call {
    verdict: Verdict,
    stdout: String,
    stderr: String,
}

/// The stages a job's scripts are sent in (`docs/executors/custom.md`, with `step_script` sent
/// as `build_script` by `custom.go`), before and after the user's script.
const BEFORE: &[&str] = &[
    "prepare_script",
    "get_sources",
    "restore_cache",
    "download_artifacts",
];

/// GitLab Runner's part for one job on one host.
struct Runner {
    state_dir: PathBuf,
    job_id: String,
    /// The Runner's own temporary directory for the job (scripts, exit-code file).
    tmp: tempfile::TempDir,
    job_env: BTreeMap<String, String>,
    builds_dir: PathBuf,
    variables: Vec<(String, String)>,
    /// Flags after `executor prepare` (the `prepare_args` of config.toml).
    prepare_args: Vec<String>,
    stage_timeout: Duration,
    graceful_kill: Duration,
    force_kill: Duration,
}

impl Runner {
    fn new(state_dir: &Path, job_id: &str) -> Runner {
        Runner {
            state_dir: state_dir.to_path_buf(),
            job_id: job_id.into(),
            tmp: tempfile::tempdir().expect("temp dir"),
            job_env: BTreeMap::new(),
            builds_dir: PathBuf::new(),
            variables: vec![
                ("CI_JOB_ID".into(), job_id.into()),
                ("CI_JOB_NAME".into(), "load-test".into()),
                ("CI_CONCURRENT_PROJECT_ID".into(), "0".into()),
            ],
            // A quiet enough host for any test machine: the busy-host test sets its own.
            prepare_args: [
                "--window",
                "300ms",
                "--max-other-cpu",
                "100000",
                "--max-steal",
                "100",
            ]
            .map(String::from)
            .to_vec(),
            stage_timeout: Duration::from_secs(120),
            graceful_kill: Duration::from_secs(1),
            force_kill: Duration::from_secs(2),
        }
    }

    fn project_dir(&self) -> PathBuf {
        self.builds_dir.join(&self.job_id).join("project")
    }

    fn exit_code_file(&self) -> PathBuf {
        self.tmp.path().join("build_exit_code")
    }

    /// Starts `loadforge-gate executor <args>` as the Runner starts a driver.
    fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = Command::new(BIN);
        cmd.arg("executor").args(args).env_clear();
        for k in ["PATH", "HOME", "LANG"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("TMPDIR", self.tmp.path())
            .env("BUILD_FAILURE_EXIT_CODE", "1")
            .env("SYSTEM_FAILURE_EXIT_CODE", "2")
            .env("BUILD_EXIT_CODE_FILE", self.exit_code_file())
            .env("JOB_RESPONSE_FILE", self.tmp.path().join("response.json"))
            .env("LOADFORGE_GATE_EXECUTOR_DIR", &self.state_dir);
        cmd.envs(&self.job_env);
        for (k, v) in &self.variables {
            cmd.env(format!("CUSTOM_ENV_{k}"), v);
        }
        cmd.current_dir(self.tmp.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driver starts")
    }

    /// One driver call under `timeout`: SIGTERM to the driver's group when it passes, SIGKILL
    /// after the graceful-kill timeout (`helpers/process/killer_unix.go`).
    fn call(&self, args: &[&str], timeout: Duration) -> Call {
        let _ = std::fs::remove_file(self.exit_code_file());
        let mut child = self.spawn(args);
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let group = -i32::try_from(child.id()).expect("pid");
        let mut status = wait_for(&mut child, timeout);
        let mut signalled = None;
        for (signal, patience, verdict) in [
            ("-TERM", self.graceful_kill, Verdict::Terminated),
            ("-KILL", self.force_kill, Verdict::Killed),
        ] {
            if status.is_some() {
                break;
            }
            signalled = Some(verdict);
            let _ = Command::new("kill")
                .args([signal, "--", &group.to_string()])
                .status();
            status = wait_for(&mut child, patience);
        }
        let status = status.expect("the driver ended after SIGKILL");
        let verdict = signalled.unwrap_or_else(|| self.read_verdict(status.code().unwrap_or(-1)));
        // A process left holding the driver's output would keep it open for ever: like the
        // Runner (which gives up after the force-kill timeout), the double stops reading then.
        Call {
            verdict,
            stdout: out.recv_timeout(self.force_kill).unwrap_or_default(),
            stderr: err.recv_timeout(self.force_kill).unwrap_or_default(),
        }
    }

    /// `command.go`: 1 is a build failure whose code is the exit-code file's first line (1 when
    /// there is no file, an unknown failure when the line is not an integer); 2 a system
    /// failure; anything else unknown.
    fn read_verdict(&self, code: i32) -> Verdict {
        match code {
            0 => Verdict::Success,
            1 => match std::fs::read_to_string(self.exit_code_file()) {
                Err(_) => Verdict::BuildFailure(1),
                Ok(text) => text
                    .lines()
                    .next()
                    .and_then(|l| l.parse().ok())
                    .map_or(Verdict::Unknown(2), Verdict::BuildFailure),
            },
            2 => Verdict::SystemFailure,
            other => Verdict::Unknown(other),
        }
    }

    /// `config_exec`: reads the JSON, takes `builds_dir` and `job_env` from it.
    fn config(&mut self) -> serde_json::Value {
        let call = self.call(&["config"], Duration::from_secs(30));
        assert_eq!(call.verdict, Verdict::Success, "{}", call.stderr);
        let v: serde_json::Value = serde_json::from_str(&call.stdout).expect("config prints JSON");
        self.builds_dir = PathBuf::from(v["builds_dir"].as_str().expect("builds_dir"));
        for (k, val) in v["job_env"].as_object().expect("job_env") {
            self.job_env
                .insert(k.clone(), val.as_str().expect("string").into());
        }
        v
    }

    /// `prepare_exec`, with the Runner's three attempts on a system failure (it waits 3 s
    /// between them; the double waits less).
    fn prepare(&self) -> Vec<Call> {
        let mut args = vec!["prepare"];
        args.extend(self.prepare_args.iter().map(String::as_str));
        let mut calls = Vec::new();
        for _ in 0..3 {
            let call = self.call(&args, Duration::from_secs(60));
            let retry = call.verdict == Verdict::SystemFailure;
            calls.push(call);
            if !retry {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        calls
    }

    /// `run_exec <script> <stage>` with a script as the Runner generates one for bash: the
    /// job's variables exported, then the commands, stopping at the first failure.
    fn run(&self, stage: &str, commands: &str) -> Call {
        let dir = tempfile::Builder::new()
            .prefix("script")
            .tempdir_in(self.tmp.path())
            .expect("script dir")
            .keep();
        let script = dir.join("script");
        let project = self.project_dir();
        let mut text = String::from("#!/usr/bin/env bash\nset -eo pipefail\n");
        for (k, v) in &self.variables {
            text.push_str(&format!("export {k}='{v}'\n"));
        }
        text.push_str(&format!(
            "export CI_PROJECT_DIR='{}'\nmkdir -p \"$CI_PROJECT_DIR\"\ncd \"$CI_PROJECT_DIR\"\n{commands}\n",
            project.display()
        ));
        std::fs::write(&script, text).expect("script written");
        let script = script.display().to_string();
        self.call(&["run", &script, stage], self.stage_timeout)
    }

    fn cleanup(&self) -> Call {
        self.call(&["cleanup"], Duration::from_secs(60))
    }

    /// A whole job: config, prepare, the stages around `script`, cleanup (always).
    fn job(&mut self, script: &str) -> Job {
        self.config();
        let prepare = self.prepare();
        let prepared = prepare.last().map(|c| c.verdict.clone());
        let mut stages = Vec::new();
        if prepared == Some(Verdict::Success) {
            stages = self.stages(script);
        }
        let cleanup = self.cleanup();
        Job {
            prepare,
            stages,
            cleanup,
        }
    }

    fn stages(&self, script: &str) -> Vec<(String, Call)> {
        let mut stages = Vec::new();
        let mut failed = false;
        for stage in BEFORE {
            let call = self.run(stage, "true");
            failed = call.verdict != Verdict::Success;
            stages.push((stage.to_string(), call));
            if failed {
                break;
            }
        }
        if !failed {
            let call = self.run("build_script", script);
            failed = call.verdict != Verdict::Success;
            stages.push(("build_script".into(), call));
        }
        let after = [
            "after_script",
            "archive_cache",
            "upload_artifacts_on_success",
        ];
        let after_failure = [
            "after_script",
            "archive_cache_on_failure",
            "upload_artifacts_on_failure",
        ];
        for stage in if failed { after_failure } else { after } {
            stages.push((stage.into(), self.run(stage, "true")));
        }
        stages.push((
            "cleanup_file_variables".into(),
            self.run("cleanup_file_variables", "true"),
        ));
        stages
    }
}

/// What became of a job.
struct Job {
    prepare: Vec<Call>,
    stages: Vec<(String, Call)>,
    cleanup: Call,
}

impl Job {
    fn stage(&self, name: &str) -> &Call {
        self.stages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("stage {name} did not run: {:?}", self.names()))
    }

    fn names(&self) -> Vec<&str> {
        self.stages.iter().map(|(n, _)| n.as_str()).collect()
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        let _ = tx.send(s);
    });
    rx
}

fn wait_for(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live (non-zombie) processes of group `pgid`, from `/proc`.
fn group_members(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string()
        })
        .collect()
}

/// A gate run as a job's script would call it: `loadforge-gate` from `PATH` (the executor puts
/// its own directory first).
fn gate_script(url: &str, threshold: &str) -> String {
    format!(
        "loadforge-gate run --scenario '{}' --host '{url}' --users 2 --run-time 2s --progress 0 --baseline none --threshold '{threshold}'",
        example("shop-cart.yml")
    )
}

#[test]
fn a_job_runs_a_passing_gate_and_its_reports_say_how_quiet_the_host_was() {
    let state = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let mut runner = Runner::new(state.path(), "101");
    let job = runner.job(&gate_script(&app.url(), "error_rate<50%"));
    assert_eq!(job.prepare.len(), 1);
    assert_eq!(
        job.prepare[0].verdict,
        Verdict::Success,
        "{}",
        job.prepare[0].stderr
    );
    assert!(
        job.prepare[0].stdout.contains("held by job 101"),
        "{}",
        job.prepare[0].stdout
    );
    let build = job.stage("build_script");
    assert_eq!(
        build.verdict,
        Verdict::Success,
        "{}\n{}",
        build.stdout,
        build.stderr
    );
    job.stage("upload_artifacts_on_success");
    assert_eq!(
        job.cleanup.verdict,
        Verdict::Success,
        "{}",
        job.cleanup.stderr
    );
    let out = runner.project_dir().join("loadforge-gate");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let host = &results["run"]["host"];
    assert_eq!(host["exclusive"], true, "{results}");
    assert!(
        host["steal_pct"].is_number() && host["load_1m"].is_number(),
        "{host}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Host: "), "{summary}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<dt>host</dt>"),
        "report.html has no host row"
    );
    // Cleanup removed the job's files and released the host.
    assert!(!state.path().join("jobs/101").exists());
    assert!(!state.path().join("host.owner").exists());
}

#[test]
fn a_failing_gate_is_a_build_failure_with_its_exit_code_in_the_file() {
    let state = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let mut runner = Runner::new(state.path(), "102");
    let job = runner.job(&gate_script(&app.url(), "p95<0.001ms"));
    let build = job.stage("build_script");
    assert_eq!(build.verdict, Verdict::BuildFailure(1), "{}", build.stderr);
    // The Runner goes on with the failure stages, and after_script still runs.
    assert_eq!(job.stage("after_script").verdict, Verdict::Success);
    job.stage("upload_artifacts_on_failure");
    assert_eq!(job.cleanup.verdict, Verdict::Success);
}

#[test]
fn a_script_exit_code_passes_through_and_a_missing_script_is_a_system_failure() {
    let state = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(state.path(), "103");
    runner.config();
    assert_eq!(
        runner.run("build_script", "exit 3").verdict,
        Verdict::BuildFailure(3)
    );
    let missing = runner.call(
        &["run", "/nonexistent/script", "build_script"],
        Duration::from_secs(30),
    );
    assert_eq!(missing.verdict, Verdict::SystemFailure);
    assert!(
        missing.stderr.contains("loadforge-gate: error:"),
        "{}",
        missing.stderr
    );
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
    // Cleanup is idempotent: the Runner may call it for a job that never prepared.
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
}

#[test]
fn a_second_job_on_the_host_waits_for_the_first_then_runs() {
    let state = tempfile::tempdir().unwrap();
    let (prepared_tx, prepared_rx) = mpsc::channel();
    let dir = state.path().to_path_buf();
    let first = std::thread::spawn(move || {
        let mut runner = Runner::new(&dir, "201");
        runner.config();
        let prepare = runner.prepare();
        assert_eq!(
            prepare[0].verdict,
            Verdict::Success,
            "{}",
            prepare[0].stderr
        );
        prepared_tx.send(()).unwrap();
        let build = runner.run("build_script", "sleep 1");
        assert_eq!(build.verdict, Verdict::Success);
        assert_eq!(runner.cleanup().verdict, Verdict::Success);
        Instant::now()
    });
    prepared_rx.recv().expect("the first job prepared");
    let mut second = Runner::new(state.path(), "202");
    second.config();
    let prepare = second.prepare();
    let second_prepared = Instant::now();
    let first_cleaned = first.join().expect("first job");
    assert_eq!(prepare.len(), 1);
    assert_eq!(
        prepare[0].verdict,
        Verdict::Success,
        "{}",
        prepare[0].stderr
    );
    assert!(
        prepare[0]
            .stdout
            .contains("job 201 holds this host; waiting"),
        "{}",
        prepare[0].stdout
    );
    assert!(
        first_cleaned <= second_prepared,
        "the second job ran beside the first"
    );
    assert_eq!(second.run("build_script", "true").verdict, Verdict::Success);
    assert_eq!(second.cleanup().verdict, Verdict::Success);
}

#[test]
fn a_second_job_gives_up_waiting_as_a_system_failure() {
    let state = tempfile::tempdir().unwrap();
    let mut first = Runner::new(state.path(), "301");
    first.config();
    assert_eq!(first.prepare()[0].verdict, Verdict::Success);
    let mut second = Runner::new(state.path(), "302");
    second
        .prepare_args
        .extend(["--lock-wait", "200ms"].map(String::from));
    let job = second.job("true");
    assert_eq!(job.prepare.len(), 3, "the Runner retries a system failure");
    assert!(job
        .prepare
        .iter()
        .all(|c| c.verdict == Verdict::SystemFailure));
    assert!(
        job.prepare[0].stderr.contains("held by job 301"),
        "{}",
        job.prepare[0].stderr
    );
    assert!(job.stages.is_empty());
    // The waiting job's cleanup does not free the host of the job that holds it.
    assert!(state.path().join("host.owner").exists());
    assert_eq!(first.cleanup().verdict, Verdict::Success);
}

#[test]
fn a_busy_host_is_refused_as_a_system_failure() {
    let state = tempfile::tempdir().unwrap();
    // A CPU burner of the test's own: it keeps at least a good share of a core busy, far above
    // the 20% this host is allowed.
    let mut burner = Command::new("bash")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("burner starts");
    let mut runner = Runner::new(state.path(), "401");
    runner.prepare_args = ["--window", "500ms", "--max-other-cpu", "20"]
        .map(String::from)
        .to_vec();
    let job = runner.job("true");
    let _ = burner.kill();
    let _ = burner.wait();
    assert_eq!(job.prepare.len(), 3, "the Runner retries a system failure");
    let refusal = &job.prepare[0];
    assert_eq!(
        refusal.verdict,
        Verdict::SystemFailure,
        "{}",
        refusal.stdout
    );
    assert!(refusal.stderr.contains("too busy"), "{}", refusal.stderr);
    assert!(job.stages.is_empty(), "no script runs on a refused host");
    assert_eq!(job.cleanup.verdict, Verdict::Success);
    assert!(
        !state.path().join("host.owner").exists(),
        "a refused job keeps no lock"
    );
}

#[test]
fn a_job_killed_on_timeout_leaves_no_process_behind() {
    let state = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    let mut runner = Runner::new(state.path(), "501");
    runner.config();
    assert_eq!(runner.prepare()[0].verdict, Verdict::Success);
    runner.stage_timeout = Duration::from_secs(2);
    // A script that ignores SIGTERM, and so do its children: only SIGKILL ends them.
    let script = format!(
        "trap '' TERM\nsleep 300 &\necho $$ > '{}'\nsleep 300",
        pid_file.display()
    );
    let build = runner.run("build_script", &script);
    assert_eq!(build.verdict, Verdict::Killed);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The script's group outlived its SIGKILLed driver; cleanup ends it.
    assert!(
        !group_members(pid).is_empty(),
        "the script should still be running"
    );
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
    assert_eq!(
        group_members(pid),
        Vec::<i32>::new(),
        "the job's processes survived cleanup"
    );
}

#[test]
fn a_timeout_sigterm_reaches_the_script_and_its_children() {
    let state = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    let mut runner = Runner::new(state.path(), "502");
    runner.config();
    runner.stage_timeout = Duration::from_secs(1);
    runner.graceful_kill = Duration::from_secs(30);
    let script = format!("sleep 300 &\necho $$ > '{}'\nsleep 300", pid_file.display());
    let build = runner.run("build_script", &script);
    // The driver ended within the graceful timeout: it passed the SIGTERM on to the script's
    // group, which the Runner's signal to the driver's own group does not reach.
    assert_eq!(build.verdict, Verdict::Terminated);
    assert!(build.stderr.contains("terminated"), "{}", build.stderr);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        group_members(pid),
        Vec::<i32>::new(),
        "the script's group outlived its driver"
    );
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
}

/// A run whose host findings say the host was busy is flagged in every report: its regressions
/// are not taken at face value.
#[test]
fn a_run_on_a_busy_host_is_flagged() {
    let app = sample_app(Knobs::default());
    let host = r#"{"hostname": "lg-1", "cpus": 2, "load_1m": 3.5, "steal_pct": 17.0,
        "iowait_pct": 0.4, "other_cpu_pct": 12.0, "mem_available_mib": 2048,
        "exclusive": true, "window_s": 2.0}"#;
    let gate = crate::harness::Gate::new().write("host.json", host);
    let path = gate.path().join("host.json").display().to_string();
    let out = gate
        .env("LOADFORGE_GATE_HOST_REPORT", &path)
        .args([
            "run",
            "--scenario",
            &crate::harness::example("shop-cart.yml"),
        ])
        .args(["--host", &app.url(), "--users", "2", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .run()
        .expect_exit(0);
    let summary = out.file("summary.md");
    assert!(
        summary.contains("host was busy (17.0 % CPU steal)"),
        "{summary}"
    );
    assert_eq!(out.results()["run"]["host"]["steal_pct"], 17.0);
}

/// The host report's path comes from the environment: an oversized file is a note, not read.
#[test]
fn an_oversized_host_report_is_a_note() {
    let app = sample_app(Knobs::default());
    let gate = crate::harness::Gate::new().write("host.json", &" ".repeat(100_000));
    let path = gate.path().join("host.json").display().to_string();
    let out = gate
        .env("LOADFORGE_GATE_HOST_REPORT", &path)
        .args([
            "run",
            "--scenario",
            &crate::harness::example("shop-cart.yml"),
        ])
        .args(["--host", &app.url(), "--users", "1", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .run()
        .expect_exit(0);
    let notes = out.results()["notes"].to_string();
    assert!(notes.contains("larger than 65536 bytes"), "{notes}");
    assert!(out.results()["run"].get("host").is_none());
}
