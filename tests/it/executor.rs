//! `loadforge-gate executor` driven the way GitLab Runner drives a custom executor. No Runner can
//! be installed here, so [`Runner`] plays its part as its source does (repository
//! `gitlab-org/gitlab-runner`; each rule's comment names the file and function it follows):
//! - preparing is tried up to three times on any failure but a build failure, each attempt a new
//!   executor that calls `config` then `prepare`, a failed attempt followed by `cleanup`
//!   (`common/build.go` `retryCreateExecutor`, `executors/custom/custom.go` `Prepare`);
//! - every call gets the runner service's environment, then `TMPDIR`, `BUILD_FAILURE_EXIT_CODE=1`,
//!   `SYSTEM_FAILURE_EXIT_CODE=2`, `BUILD_EXIT_CODE_FILE`, `JOB_RESPONSE_FILE`
//!   (`command/command.go` `New`), then the `job_env` of this executor's `config` once it has
//!   been read, and the job's variables as `CUSTOM_ENV_*` (`custom.go` `prepareCommand`);
//! - the exit-code file is one path per executor, in its temporary directory: the Runner never
//!   writes or deletes it between calls, only removes the directory in `Cleanup` (`custom.go`);
//! - exit codes are read as `command.go`'s `waitForCommand` reads them; a call that outlives its
//!   timeout gets SIGTERM to its process group, SIGKILL after the graceful-kill timeout, and is
//!   reported as `KillAndWait` reports it (`helpers/process/killer.go`, `killer_unix.go`);
//! - `run` is called once per stage with a bash script generated as `shells/bash.go`'s
//!   `BashWriter.Finish` writes one: SIGTERM trapped into `exit 1` in the outer shell and in the
//!   subshell the commands run in, so a shell waits for its foreground command before it exits;
//!   cleanup always runs.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    io::Read,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use loadforge_gate::sample_app::Knobs;
use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};

use super::harness::{example, sample_app, BIN};

/// `common/consts.go` `PreparationRetries`: how many times `retryCreateExecutor` tries.
const PREPARATION_RETRIES: usize = 3;
/// `common/consts.go` `PreparationRetryInterval`: the Runner pauses 3 s between attempts. It
/// is a `var` there so that the Runner's own tests can shorten it; the double shortens it too,
/// since the pause decides nothing (a host busy for 3 s is as busy for 0.3 s).
const PREPARATION_RETRY_INTERVAL: Duration = Duration::from_millis(300);

/// What the Runner makes of a driver call: `command.go`'s `waitForCommand` maps how the driver
/// ended; after a timeout, `KillAndWait` (`helpers/process/killer.go`) returns that same mapping
/// of how it ended, or a `KillProcessError` when it never did.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Success,
    /// Exit code 1, a `common.BuildError`: the job failed, with the code from the first line of
    /// `BUILD_EXIT_CODE_FILE` (1 without the file, `parseBuildFailure`).
    BuildFailure(i32),
    /// Exit code 2: the bare `exec.ExitError`, a system failure.
    SystemFailure,
    /// An `UnknownFailureError`: any other exit code (-1 for a driver a signal ended, as Go's
    /// `ExitError.ExitCode` says), or 2 for exit 1 with an exit-code file that is not an integer.
    Unknown(i32),
    /// `KillProcessError`: not ended (exited, and its output closed) within the force-kill
    /// timeout after SIGKILL, so the Runner abandons it.
    Abandoned,
}

/// One driver call: how it ended, the signals the Runner had to send, and what it printed.
#[derive(Debug)]
struct Call {
    verdict: Verdict,
    /// Sent to the driver's process group: none, `TERM`, or `TERM` then `KILL`.
    signals: Vec<&'static str>,
    stdout: String,
    stderr: String,
}

/// How one attempt to prepare ended, as `retryCreateExecutor` tells them apart: only a
/// `BuildError` stops the retries.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Prepared {
    Ready,
    BuildFailed,
    Failed,
}

impl From<&Verdict> for Prepared {
    fn from(v: &Verdict) -> Prepared {
        match v {
            Verdict::Success => Prepared::Ready,
            Verdict::BuildFailure(_) => Prepared::BuildFailed,
            _ => Prepared::Failed,
        }
    }
}

/// `executors/custom/api/config.go` `ConfigExecOutput`: the keys the Runner reads from
/// `config`'s stdout; others are ignored, a wrong type fails the attempt.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)] // read like the Runner reads them; not every key is looked at afterwards
struct ConfigExecOutput {
    builds_dir: Option<String>,
    cache_dir: Option<String>,
    builds_dir_is_shared: Option<bool>,
    hostname: Option<String>,
    driver: Option<serde_json::Value>,
    job_env: Option<BTreeMap<String, String>>,
    shell: Option<String>,
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
    /// The program every `*_exec` of config.toml names, and what every `*_args` starts with
    /// (docs/executor.md's config.toml: `loadforge-gate executor <stage> ...`).
    driver: PathBuf,
    driver_args: Vec<String>,
    /// The current executor's temporary directory, `None` before its `config` and after its
    /// `cleanup`. `custom.go`'s `Prepare` makes one per executor (`os.MkdirTemp`) for `TMPDIR`,
    /// the job response file, the exit-code file and the scripts; its `Cleanup` removes it.
    tmp: Option<tempfile::TempDir>,
    /// The current executor's `jobEnv` (`custom.go`): empty until its `config` has been read.
    job_env: BTreeMap<String, String>,
    builds_dir: PathBuf,
    /// config.toml's `shell`, which `config`'s `shell` overrides (`custom.go` `InjectInto`,
    /// `executors/abstract.go` `updateShell`); bash when neither names one
    /// (`common.GetDefaultShell` on Linux).
    toml_shell: Option<String>,
    /// The shell the current executor generates scripts for.
    shell: String,
    variables: Vec<(String, String)>,
    /// Flags after `executor prepare` (the `prepare_args` of config.toml).
    prepare_args: Vec<String>,
    /// Flags after `executor run`, before the script and the stage the Runner appends (the
    /// `run_args` of config.toml).
    run_args: Vec<String>,
    /// Flags after `executor cleanup` (the `cleanup_args` of config.toml).
    cleanup_args: Vec<String>,
    /// Variables of the runner service's environment besides `PATH`, `HOME` and `LANG`.
    service_env: Vec<(String, String)>,
    stage_timeout: Duration,
    graceful_kill: Duration,
    force_kill: Duration,
    /// Every call so far, as `config`, `prepare`, `run <stage>` or `cleanup`.
    history: RefCell<Vec<String>>,
}

impl Runner {
    fn new(state_dir: &Path, job_id: &str) -> Runner {
        Runner {
            state_dir: state_dir.to_path_buf(),
            job_id: job_id.into(),
            driver: PathBuf::from(BIN),
            driver_args: vec!["executor".into()],
            tmp: None,
            job_env: BTreeMap::new(),
            builds_dir: PathBuf::new(),
            toml_shell: None,
            shell: String::new(),
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
            run_args: Vec::new(),
            cleanup_args: Vec::new(),
            service_env: Vec::new(),
            stage_timeout: Duration::from_secs(120),
            graceful_kill: Duration::from_secs(1),
            force_kill: Duration::from_secs(2),
            history: RefCell::new(Vec::new()),
        }
    }

    /// The Runner driving `driver` with no arguments of its own: the double's own tests.
    fn with_driver(state_dir: &Path, job_id: &str, driver: &Path) -> Runner {
        Runner {
            driver: driver.to_path_buf(),
            driver_args: Vec::new(),
            ..Runner::new(state_dir, job_id)
        }
    }

    fn project_dir(&self) -> PathBuf {
        self.builds_dir.join(&self.job_id).join("project")
    }

    fn tmp(&self) -> &Path {
        self.tmp
            .as_ref()
            .expect("a driver call outside an executor: call config first")
            .path()
    }

    /// `custom.go` `Prepare`: the exit-code file's path, in the executor's temporary
    /// directory. The Runner only names it; the driver writes it.
    fn exit_code_file(&self) -> PathBuf {
        self.tmp().join("build_exit_code")
    }

    /// A new executor, as each attempt to prepare makes (`build.go` `retryCreateExecutor`:
    /// `provider.Create()`; `custom.go` `Prepare`): a temporary directory of its own with the
    /// job response file in it, no `job_env` until its `config` has been read, and the shell
    /// of config.toml.
    fn new_executor(&mut self) {
        let tmp = tempfile::Builder::new()
            .prefix("custom-executor")
            .tempdir()
            .expect("temp dir");
        let response = serde_json::json!({ "id": self.job_id }).to_string();
        std::fs::write(tmp.path().join("response.json"), response).expect("job response file");
        self.tmp = Some(tmp);
        self.job_env.clear();
        self.shell = self.toml_shell.clone().unwrap_or_else(|| "bash".into());
    }

    /// Starts the driver as `command.go`'s `New` and `custom.go`'s `prepareCommand` do.
    fn spawn(&self, args: &[&str]) -> Child {
        let tmp = self.tmp();
        let mut cmd = Command::new(&self.driver);
        cmd.args(&self.driver_args).args(args).env_clear();
        // The runner service's environment (`os.Environ()`), with the state dir docs/executor.md
        // has the service set.
        for k in ["PATH", "HOME", "LANG"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("LOADFORGE_GATE_EXECUTOR_DIR", &self.state_dir);
        cmd.envs(self.service_env.iter().map(|(k, v)| (k, v)));
        // `command.go` `New`: the protocol's variables; `TMPDIR` is the executor's directory.
        cmd.env("TMPDIR", tmp)
            .env("BUILD_FAILURE_EXIT_CODE", "1")
            .env("SYSTEM_FAILURE_EXIT_CODE", "2")
            .env("BUILD_EXIT_CODE_FILE", self.exit_code_file())
            .env("JOB_RESPONSE_FILE", tmp.join("response.json"));
        // `custom.go` `prepareCommand`: this executor's `job_env`, then the job's variables.
        cmd.envs(&self.job_env);
        for (k, v) in &self.variables {
            cmd.env(format!("CUSTOM_ENV_{k}"), v);
        }
        // `helpers/process/job_unix.go` `setProcessGroup`: the driver leads a group of its own.
        cmd.current_dir(tmp)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driver starts")
    }

    /// One driver call under `timeout` (`command.go` `Run`). When it passes, `KillAndWait`
    /// (`helpers/process/killer.go`): SIGTERM to the driver's group, SIGKILL after the
    /// graceful-kill timeout (`killer_unix.go`), and the call is abandoned when even that has
    /// not ended it within the force-kill timeout.
    fn call(&self, args: &[&str], timeout: Duration) -> Call {
        let verb = match args {
            ["run", .., stage] => format!("run {stage}"),
            _ => args.first().copied().unwrap_or_default().to_string(),
        };
        self.history.borrow_mut().push(verb);
        let mut driver = Driver::start(self.spawn(args));
        let mut ended = driver.wait(timeout);
        let mut signals = Vec::new();
        for (signal, patience) in [("TERM", self.graceful_kill), ("KILL", self.force_kill)] {
            if ended.is_some() {
                break;
            }
            signals.push(signal);
            let signal = if signal == "TERM" {
                Signal::SIGTERM
            } else {
                Signal::SIGKILL
            };
            let _ = killpg(driver.pid(), signal);
            ended = driver.wait(patience);
        }
        // `KillAndWait` returns what `waitForCommand` made of the exit, whoever caused it.
        let verdict = match ended {
            Some(status) => self.read_verdict(status.code().unwrap_or(-1)),
            None => Verdict::Abandoned,
        };
        let (stdout, stderr) = driver.output();
        Call {
            verdict,
            signals,
            stdout,
            stderr,
        }
    }

    /// `command.go` `waitForCommand` and `parseBuildFailure`: 1 is a build failure whose code is
    /// the exit-code file's first line (1 when there is no file, an unknown failure when the
    /// line is not an integer); 2 a system failure; anything else unknown.
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

    /// A new executor's `config_exec` (`custom.go` `dynamicConfig`, 1 h timeout by default in
    /// `consts.go`): on success its JSON, if it printed any, is injected (`InjectInto`). `Err`
    /// when the output is not the JSON the Runner reads, which fails the attempt.
    fn config_exec(&mut self) -> (Call, Result<(), String>) {
        self.new_executor();
        let call = self.call(&["config"], Duration::from_secs(30));
        if call.verdict != Verdict::Success || call.stdout.is_empty() {
            return (call, Ok(()));
        }
        let parsed = serde_json::from_str::<ConfigExecOutput>(&call.stdout);
        let output = match parsed {
            Ok(output) => output,
            Err(e) => return (call, Err(format!("error while parsing JSON output: {e}"))),
        };
        if let Some(dir) = output.builds_dir {
            self.builds_dir = PathBuf::from(dir);
        }
        if let Some(env) = output.job_env {
            self.job_env = env;
        }
        if let Some(shell) = output.shell {
            self.shell = shell;
        }
        (call, Ok(()))
    }

    /// A new executor and its `config` alone, for tests that go straight to `run`.
    fn config(&mut self) -> Call {
        let (call, read) = self.config_exec();
        assert_eq!(call.verdict, Verdict::Success, "{}", call.stderr);
        read.expect("config prints the Runner's JSON");
        call
    }

    /// `build.go` `retryCreateExecutor`: up to [`PREPARATION_RETRIES`] attempts, each a new
    /// executor's `config` then `prepare` (`custom.go` `Prepare`). After a failed attempt the
    /// Runner calls that executor's `Cleanup` (so `cleanup_exec` runs), then stops on a
    /// `BuildError` (exit 1) and otherwise, whatever the failure, tries again after
    /// [`PREPARATION_RETRY_INTERVAL`].
    fn prepare_executor(&mut self) -> Preparation {
        let mut p = Preparation::default();
        for attempt in 0..PREPARATION_RETRIES {
            if attempt > 0 {
                std::thread::sleep(PREPARATION_RETRY_INTERVAL);
            }
            if self.attempt(&mut p) == Prepared::Ready {
                p.ready = true;
                return p;
            }
            p.cleanups.push(self.cleanup());
            if p.last_failure == Some(Prepared::BuildFailed) {
                break;
            }
        }
        p
    }

    /// One attempt: `config`, then, if its call and its JSON were good, `prepare` (with the
    /// `prepare_exec_timeout` of docs/executor.md's config.toml).
    fn attempt(&mut self, p: &mut Preparation) -> Prepared {
        let (config, read) = self.config_exec();
        let mut outcome = Prepared::from(&config.verdict);
        if outcome == Prepared::Ready && read.is_err() {
            outcome = Prepared::Failed;
        }
        if outcome == Prepared::Ready {
            let mut args = vec!["prepare"];
            args.extend(self.prepare_args.iter().map(String::as_str));
            let prepare = self.call(&args, Duration::from_secs(60));
            outcome = Prepared::from(&prepare.verdict);
            p.prepares.push(prepare);
        }
        if outcome != Prepared::Ready {
            p.last_failure = Some(outcome);
        }
        outcome
    }

    /// `custom.go` `Run`: `run_exec <script> <stage>`, the script in a new directory of the
    /// executor's (`os.MkdirTemp(tempDir, "script")`, mode 0700) as the bash shell generates
    /// one (`shells/bash.go` `BashWriter.Finish`, without the feature flags): SIGTERM trapped
    /// into `exit 1`, errexit and pipefail, and the body (the job's variables exported, then
    /// the commands) evaluated in a subshell that traps SIGTERM the same way, stdin closed.
    fn run(&self, stage: &str, commands: &str) -> Call {
        assert_eq!(self.shell, "bash", "the double generates bash scripts only");
        let project = self.project_dir();
        let mut body = String::new();
        for (k, v) in &self.variables {
            body.push_str(&format!("export {k}='{v}'\n"));
        }
        body.push_str(&format!(
            "export CI_PROJECT_DIR='{}'\nmkdir -p \"$CI_PROJECT_DIR\"\ncd \"$CI_PROJECT_DIR\"\n{commands}\n",
            project.display()
        ));
        let text = format!(
            "#!/usr/bin/env bash\n\ntrap 'exit 1' TERM\n\n\
             case \"$(set -o)\" in *\"pipefail\"*) set -o pipefail;; esac; set -o errexit\n\
             set +o noclobber\n\
             (trap 'exit 1' TERM; eval {}) < /dev/null\n\
             exit 0\n",
            quote(&body)
        );
        self.run_script(stage, &text)
    }

    /// `run_exec` with a script of the test's own, written where the Runner writes its.
    fn run_script(&self, stage: &str, text: &str) -> Call {
        let dir = tempfile::Builder::new()
            .prefix("script")
            .tempdir_in(self.tmp())
            .expect("script dir")
            .keep();
        let script = dir.join("script");
        std::fs::write(&script, text).expect("script written");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))
            .expect("script mode");
        let script = script.display().to_string();
        let mut args = vec!["run"];
        args.extend(self.run_args.iter().map(String::as_str));
        args.extend([script.as_str(), stage]);
        self.call(&args, self.stage_timeout)
    }

    /// `custom.go` `Cleanup`: `cleanup_exec` (its own timeout, not the job's), then the
    /// executor's temporary directory, exit-code file and all, is removed.
    fn cleanup(&mut self) -> Call {
        let mut args = vec!["cleanup"];
        args.extend(self.cleanup_args.iter().map(String::as_str));
        let call = self.call(&args, Duration::from_secs(60));
        self.tmp = None;
        call
    }

    /// A whole job: the executor prepared (`retryCreateExecutor`), the stages around `script`,
    /// and, once prepared, its cleanup (`build.go` `Run`: `defer executor.Cleanup()`).
    fn job(&mut self, script: &str) -> Job {
        let prepare = self.prepare_executor();
        let mut stages = Vec::new();
        let mut cleanup = None;
        if prepare.ready {
            stages = self.stages(script);
            cleanup = Some(self.cleanup());
        }
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

    /// The calls made so far, in order.
    fn history(&self) -> Vec<String> {
        self.history.borrow().clone()
    }
}

/// What preparing the executor took.
#[derive(Debug, Default)]
struct Preparation {
    /// Every attempt's `prepare`, when its `config` was good.
    prepares: Vec<Call>,
    /// One after each failed attempt.
    cleanups: Vec<Call>,
    last_failure: Option<Prepared>,
    ready: bool,
}

/// What became of a job.
struct Job {
    prepare: Preparation,
    stages: Vec<(String, Call)>,
    /// The prepared executor's cleanup; a job never prepared had its cleanups in `prepare`.
    cleanup: Option<Call>,
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

    fn cleanup(&self) -> &Call {
        self.cleanup.as_ref().expect("the job was prepared")
    }
}

/// A started driver as Go's `exec.Cmd` sees it: the Runner's log writers are not files, so
/// the output goes through pipes, and `Wait` returns only once the process has exited *and*
/// every holder of those pipes has closed them (`helpers/process/commander.go` sets no
/// `WaitDelay`). A background process that keeps the driver's output keeps the call running.
struct Driver {
    child: Child,
    status: Option<ExitStatus>,
    stdout: Pipe,
    stderr: Pipe,
}

/// One of the driver's output pipes, read as it arrives.
struct Pipe {
    text: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Receiver<()>,
    is_closed: bool,
}

impl Pipe {
    fn drain(mut pipe: Option<impl Read + Send + 'static>) -> Pipe {
        let text = Arc::new(Mutex::new(Vec::new()));
        let (tx, closed) = mpsc::channel();
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Some(n) = pipe.as_mut().and_then(|p| p.read(&mut buf).ok()) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("output").extend_from_slice(&buf[..n]);
            }
            let _ = tx.send(());
        });
        Pipe {
            text,
            closed,
            is_closed: false,
        }
    }

    fn closed(&mut self) -> bool {
        if !self.is_closed {
            self.is_closed = !matches!(self.closed.try_recv(), Err(mpsc::TryRecvError::Empty));
        }
        self.is_closed
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().expect("output")).into_owned()
    }
}

impl Driver {
    fn start(mut child: Child) -> Driver {
        let stdout = Pipe::drain(child.stdout.take());
        let stderr = Pipe::drain(child.stderr.take());
        Driver {
            child,
            status: None,
            stdout,
            stderr,
        }
    }

    /// The driver's pid, which is its process group's id too.
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// How the driver ended, once `exec.Cmd.Wait` would return, or `None` after `within`.
    fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if self.status.is_none() {
                self.status = self.child.try_wait().expect("wait");
            }
            if self.status.is_some() && self.stdout.closed() && self.stderr.closed() {
                return self.status;
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the driver printed so far (all of it, once it has ended).
    fn output(&self) -> (String, String) {
        (self.stdout.text(), self.stderr.text())
    }
}

/// `text` as one bash word, in single quotes (the Runner's `helpers.ShellEscape` writes the
/// same string as `$'...'`).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
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

/// A driver in bash for the double's own tests. It logs every call to `calls` (the verb, the
/// stage, whether `job_env` reached it and its exit-code file), prints a `config` with a
/// `job_env`, does `prepare` as `prepare` says, and runs `run`'s script as its own body (so the
/// script's exit code is the driver's). `config` is the body of the config call.
fn fake_driver(dir: &Path, config: &str, prepare: &str) -> PathBuf {
    let path = dir.join("driver");
    let text = format!(
        r#"#!/usr/bin/env bash
line=$1
[ "$1" = run ] && line="run $3"
echo "$line job_env=${{FAKE_JOB_ENV:-unset}} exit_code_file=$BUILD_EXIT_CODE_FILE" >> '{calls}'
case "$1" in
  config) {config} ;;
  prepare) {prepare} ;;
  run) exec bash "$2" ;;
  *) exit 0 ;;
esac
"#,
        calls = dir.join("calls").display(),
    );
    std::fs::write(&path, text).expect("fake driver");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("mode");
    path
}

/// The fake driver's config: a `job_env` entry the later calls log, bash, builds under `dir`.
fn fake_config(dir: &Path) -> String {
    format!(
        r#"echo '{{"builds_dir": "{}", "job_env": {{"FAKE_JOB_ENV": "set"}}, "shell": "bash"}}'"#,
        dir.join("builds").display()
    )
}

/// The fake driver's log: one line per call.
fn fake_calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// A gate run as a job's script would call it: `loadforge-gate` from `PATH` (the executor puts
/// its own directory first). Its generator reads as healthy, as in every other test (the hook
/// `harness.rs` sets for direct runs, given here in the script, whose environment the job's is):
/// a busy 2-core test machine really starves it, which turns a failed latency check into exit 5.
fn gate_script(url: &str, threshold: &str) -> String {
    format!(
        "LOADFORGE_GATE_TEST_HICCUP_MS=0 loadforge-gate run --scenario '{}' --host '{url}' --users 2 --run-time 2s --progress 0 --baseline none --threshold '{threshold}'",
        example("shop-cart.yml")
    )
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_job_runs_a_passing_gate_and_its_reports_say_how_quiet_the_host_was() {
    let state = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let mut runner = Runner::new(state.path(), "101");
    let job = runner.job(&gate_script(&app.url(), "error_rate<50%"));
    let prepare = &job.prepare.prepares;
    assert_eq!(prepare.len(), 1);
    assert_eq!(
        prepare[0].verdict,
        Verdict::Success,
        "{}",
        prepare[0].stderr
    );
    assert!(
        prepare[0].stdout.contains("held by job 101"),
        "{}",
        prepare[0].stdout
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
        job.cleanup().verdict,
        Verdict::Success,
        "{}",
        job.cleanup().stderr
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
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
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
    assert_eq!(job.cleanup().verdict, Verdict::Success);
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
    // The Runner keeps the exit-code file between stages: a later failure reports its own code,
    // not the one an earlier stage left there.
    assert_eq!(
        runner.run("after_script", "exit 5").verdict,
        Verdict::BuildFailure(5)
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
    // Cleanup is idempotent: after a failed attempt to prepare, the next attempt's executor
    // cleans up after a job that is already cleaned up.
    runner.config();
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
}

#[test]
fn config_makes_the_runner_write_bash_whatever_config_toml_says() {
    let state = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(state.path(), "104");
    // A runner registered with `shell = "sh"`: `config`'s `shell` overrides it, as `run` hands
    // every script to bash.
    runner.toml_shell = Some("sh".into());
    runner.config();
    assert_eq!(runner.shell, "bash");
    assert_eq!(
        runner.run("build_script", "[[ -n $BASH_VERSION ]]").verdict,
        Verdict::Success
    );
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
}

#[test]
fn a_second_job_on_the_host_waits_for_the_first_then_runs() {
    let state = tempfile::tempdir().unwrap();
    let (prepared_tx, prepared_rx) = mpsc::channel();
    let dir = state.path().to_path_buf();
    let first = std::thread::spawn(move || {
        let mut runner = Runner::new(&dir, "201");
        let prepare = runner.prepare_executor();
        assert!(prepare.ready, "{:?}", prepare.prepares);
        prepared_tx.send(()).unwrap();
        let build = runner.run("build_script", "sleep 1");
        assert_eq!(build.verdict, Verdict::Success);
        assert_eq!(runner.cleanup().verdict, Verdict::Success);
        Instant::now()
    });
    prepared_rx.recv().expect("the first job prepared");
    let mut second = Runner::new(state.path(), "202");
    let prepare = second.prepare_executor();
    let second_prepared = Instant::now();
    let first_cleaned = first.join().expect("first job");
    let prepare = &prepare.prepares;
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

/// The calls of a job whose every attempt to prepare failed: config, prepare and cleanup,
/// three times.
fn three_refused_attempts() -> Vec<&'static str> {
    ["config", "prepare", "cleanup"].repeat(3)
}

#[test]
fn a_second_job_gives_up_waiting_as_a_system_failure() {
    let state = tempfile::tempdir().unwrap();
    let mut first = Runner::new(state.path(), "301");
    assert!(first.prepare_executor().ready);
    let mut second = Runner::new(state.path(), "302");
    second
        .prepare_args
        .extend(["--lock-wait", "200ms"].map(String::from));
    let job = second.job("true");
    assert_eq!(second.history(), three_refused_attempts());
    assert!(job
        .prepare
        .prepares
        .iter()
        .all(|c| c.verdict == Verdict::SystemFailure));
    assert!(
        job.prepare.prepares[0].stderr.contains("held by job 301"),
        "{}",
        job.prepare.prepares[0].stderr
    );
    assert!(job.stages.is_empty());
    // The waiting job's cleanups do not free the host of the job that holds it.
    assert!(job
        .prepare
        .cleanups
        .iter()
        .all(|c| c.verdict == Verdict::Success));
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
    assert_eq!(
        runner.history(),
        three_refused_attempts(),
        "the Runner retries a system failure, with config before and cleanup after each attempt"
    );
    let refusal = &job.prepare.prepares[0];
    assert_eq!(
        refusal.verdict,
        Verdict::SystemFailure,
        "{}",
        refusal.stdout
    );
    assert!(refusal.stderr.contains("too busy"), "{}", refusal.stderr);
    assert!(
        refusal.stderr.contains("runner_system_failure"),
        "{}",
        refusal.stderr
    );
    assert!(job.stages.is_empty(), "no script runs on a refused host");
    assert!(job
        .prepare
        .cleanups
        .iter()
        .all(|c| c.verdict == Verdict::Success));
    assert!(
        !state.path().join("host.owner").exists(),
        "a refused job keeps no lock"
    );
    assert!(!state.path().join("jobs/401").exists());
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn a_job_killed_on_timeout_leaves_no_process_behind() {
    let state = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    let mut runner = Runner::new(state.path(), "501");
    assert!(runner.prepare_executor().ready);
    runner.stage_timeout = Duration::from_secs(2);
    // Cleanup gives the script's group its grace again: short here, since it ignores SIGTERM.
    runner.cleanup_args = ["--term-grace", "1s"].map(String::from).to_vec();
    // A script that ignores SIGTERM, and so do its children: only SIGKILL ends them.
    let script = format!(
        "trap '' TERM\nsleep 300 &\necho $$ > '{}'\nsleep 300",
        pid_file.display()
    );
    let build = runner.run("build_script", &script);
    // The SIGKILLed driver is gone, but the script's group, out of the Runner's reach, still
    // holds the driver's output: `KillAndWait` gives up on it.
    assert_eq!(build.signals, ["TERM", "KILL"]);
    assert_eq!(build.verdict, Verdict::Abandoned);
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !group_members(pid).is_empty(),
        "the script should still be running"
    );
    // Cleanup ends the group the SIGKILLed driver left.
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
    // The driver passed the SIGTERM on to the script's group, which the Runner's signal to the
    // driver's own group does not reach, and reported the script's end as a build failure,
    // which is what `KillAndWait` hands on: 1, as the generated script's TERM trap exits.
    assert_eq!(build.signals, ["TERM"]);
    assert_eq!(build.verdict, Verdict::BuildFailure(1), "{}", build.stderr);
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

/// Finding (hardening round 3): a process group made after the Runner SIGKILLed the driver
/// escaped cleanup, since groups are recorded only while a driver lives to see them. The script
/// here ignores SIGTERM, waits for its driver to be gone (the Runner SIGKILLs it after its
/// graceful-kill timeout), then starts a `setsid` child: a session and group no record names.
/// Cleanup finds it all the same, in the job's cgroup where this host allows one, else by the
/// job's mark in its environment.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn a_process_group_made_after_the_driver_is_sigkilled_is_ended_by_cleanup() {
    let state = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(state.path(), "511");
    let left = setsid_after_sigkill(&mut runner, "setsid sleep 300");
    let cleanup = runner.cleanup();
    assert_eq!(cleanup.verdict, Verdict::Success, "{}", cleanup.stderr);
    assert!(
        !still_running(left.pid, left.start),
        "the setsid child survived cleanup: {}",
        cleanup.stderr
    );
    if let Some(cgroup) = &left.cgroup {
        assert!(
            !cgroup.exists(),
            "the job's cgroup stays: {}",
            cgroup.display()
        );
    }
}

/// Where this host allows the job a cgroup, a `setsid` child that also empties its environment
/// (so it carries no mark) is ended by cleanup all the same: it cannot leave the cgroup.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn a_child_without_the_jobs_environment_is_ended_through_the_jobs_cgroup() {
    let state = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(state.path(), "513");
    let left = setsid_after_sigkill(&mut runner, "env -i \"$(command -v setsid)\" sleep 300");
    let cleanup = runner.cleanup();
    if left.log.contains("no cgroup of the job's own") {
        eprintln!("SKIPPED: this host gives the job no cgroup: {}", left.log);
        return;
    }
    assert_eq!(cleanup.verdict, Verdict::Success, "{}", cleanup.stderr);
    assert!(
        !still_running(left.pid, left.start),
        "the child survived cleanup: {}",
        cleanup.stderr
    );
    let cgroup = left.cgroup.expect("the job's cgroup is recorded");
    assert!(
        !cgroup.exists(),
        "the job's cgroup stays: {}",
        cgroup.display()
    );
}

/// The same without a cgroup (`LOADFORGE_GATE_EXECUTOR_CGROUP=off`, as on a host that allows
/// none): the job's mark in the environment finds the `setsid` child, and a process of another
/// job of the same id (another runner's), started meanwhile and carrying that job's mark, is
/// left alone.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn a_process_group_made_after_the_driver_is_sigkilled_is_found_by_its_mark() {
    let state = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(state.path(), "512");
    runner.service_env = vec![("LOADFORGE_GATE_EXECUTOR_CGROUP".into(), "off".into())];
    let left = setsid_after_sigkill(&mut runner, "setsid sleep 300");
    assert_eq!(left.cgroup, None, "no cgroup when turned off");
    let mut bystander = Command::new("sleep")
        .arg("300")
        .env(
            "LOADFORGE_GATE_EXECUTOR_JOB",
            format!("512.{}", "0".repeat(32)),
        )
        .spawn()
        .unwrap();
    let cleanup = runner.cleanup();
    let spared = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert_eq!(cleanup.verdict, Verdict::Success, "{}", cleanup.stderr);
    assert!(
        !still_running(left.pid, left.start),
        "the setsid child survived cleanup: {}",
        cleanup.stderr
    );
    assert!(spared, "cleanup ended a process of another job");
}

/// What a SIGKILLed driver's script left: its `setsid` child, SIGKILLed when the test ends
/// (whatever cleanup did), and the job's cgroup, if it had one.
struct LeftRunning {
    pid: i32,
    start: u64,
    cgroup: Option<PathBuf>,
    /// What the driver said in the job's log.
    log: String,
    _reaper: Reaper,
}

/// A job whose driver the Runner SIGKILLs while its script ignores SIGTERM; the script then
/// starts `child` (a command that ends in a `setsid` of its own) and waits. Cleanup is the
/// caller's.
fn setsid_after_sigkill(runner: &mut Runner, child: &str) -> LeftRunning {
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("setsid");
    runner.config();
    runner.stage_timeout = Duration::from_secs(1);
    runner.graceful_kill = Duration::from_secs(1);
    runner.cleanup_args = ["--term-grace", "1s"].map(String::from).to_vec();
    // `$PPID` is the driver: once it has gone, a new session, and the script waits on.
    let script = format!(
        "trap '' TERM\n\
         while kill -0 $PPID 2>/dev/null; do sleep 0.05; done\n\
         {child} >/dev/null 2>&1 < /dev/null &\n\
         echo $! > '{0}.tmp' && mv '{0}.tmp' '{0}'\n\
         sleep 300",
        pid_file.display()
    );
    let build = runner.run("build_script", &script);
    assert_eq!(build.signals, ["TERM", "KILL"], "{}", build.stderr);
    assert!(
        crate::harness::wait_until(Duration::from_secs(30), || pid_file.exists()),
        "the script never started its setsid child: {}",
        build.stderr
    );
    let pid = read_pid(&pid_file);
    let (_, group, start) = proc_stat(pid).expect("the setsid child runs");
    let reaper = Reaper {
        processes: vec![(pid, start)],
        groups: Vec::new(),
    };
    assert_eq!(group, pid, "the child leads a group of its own");
    let job_dir = runner.state_dir.join("jobs").join(&runner.job_id);
    let recorded = std::fs::read_to_string(job_dir.join("process-groups")).unwrap_or_default();
    assert!(
        !recorded.lines().any(|l| l.starts_with(&format!("{pid} "))),
        "no driver saw the child's group: {recorded}"
    );
    let cgroup = std::fs::read_to_string(job_dir.join("cgroup"))
        .ok()
        .map(|p| PathBuf::from(p.trim_end()));
    LeftRunning {
        pid,
        start,
        cgroup,
        log: build.stderr,
        _reaper: reaper,
    }
}

/// The double itself, against a driver in bash: every failure of an attempt but a build
/// failure is retried (`build.go` `retryCreateExecutor`), a failed `config` as much as a failed
/// `prepare`, with a cleanup after each failed attempt; a build failure ends the job at once.
#[test]
fn the_double_retries_preparing_on_any_failure_but_a_build_failure() {
    let cases: [(&str, &str, Vec<&str>); 4] = [
        ("", "exit 3", ["config", "prepare", "cleanup"].repeat(3)),
        ("", "exit 1", vec!["config", "prepare", "cleanup"]),
        ("exit 2", "exit 0", ["config", "cleanup"].repeat(3)),
        ("echo not-json", "exit 0", ["config", "cleanup"].repeat(3)),
    ];
    for (config, prepare, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = if config.is_empty() {
            fake_config(dir.path())
        } else {
            config.to_string()
        };
        let driver = fake_driver(dir.path(), &config, prepare);
        let mut runner = Runner::with_driver(dir.path(), "601", &driver);
        let job = runner.job("true");
        assert_eq!(
            runner.history(),
            expected,
            "config {config:?}, prepare {prepare:?}"
        );
        assert!(job.stages.is_empty() && job.cleanup.is_none());
    }
}

/// `job_env` reaches the calls after the `config` of the same executor, never a `config`: each
/// attempt is a new executor (`custom.go` `prepareCommand` adds its `jobEnv`, empty until
/// `dynamicConfig` has read the JSON).
#[test]
fn the_double_gives_job_env_only_to_calls_after_config() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("attempts");
    // The first prepare is refused, the second goes through.
    let prepare = format!(
        "echo x >> '{0}'; [ \"$(wc -l < '{0}')\" -ge 2 ] || exit 2",
        counter.display()
    );
    let driver = fake_driver(dir.path(), &fake_config(dir.path()), &prepare);
    let mut runner = Runner::with_driver(dir.path(), "602", &driver);
    let job = runner.job("true");
    assert!(job.prepare.ready);
    let calls: Vec<String> = fake_calls(dir.path())
        .iter()
        .map(|l| {
            l.split(" exit_code_file=")
                .next()
                .unwrap_or_default()
                .into()
        })
        .collect();
    let mut expected = vec![
        "config job_env=unset",
        "prepare job_env=set",
        "cleanup job_env=set",
        "config job_env=unset",
        "prepare job_env=set",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    expected.extend(job.names().iter().map(|s| format!("run {s} job_env=set")));
    expected.push("cleanup job_env=set".into());
    assert_eq!(calls, expected);
}

/// The exit-code file is one path per executor that the Runner neither writes nor deletes
/// between stages; only its `Cleanup` removes it, with the executor's temporary directory.
#[test]
fn the_double_keeps_the_exit_code_file_until_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let driver = fake_driver(dir.path(), &fake_config(dir.path()), "exit 0");
    let mut runner = Runner::with_driver(dir.path(), "603", &driver);
    runner.config();
    let write = runner.run("build_script", "echo 7 > \"$BUILD_EXIT_CODE_FILE\"");
    assert_eq!(write.verdict, Verdict::Success);
    // A stage that exits 1 without writing the file gets the code an earlier stage left.
    assert_eq!(
        runner.run("after_script", "exit 1").verdict,
        Verdict::BuildFailure(7)
    );
    let file = runner.exit_code_file();
    runner.cleanup();
    assert!(!file.exists(), "cleanup removes the executor's directory");
    runner.config();
    assert_ne!(runner.exit_code_file(), file, "a new executor, a new file");
    let files: Vec<String> = fake_calls(dir.path())
        .iter()
        .filter_map(|l| l.split(" exit_code_file=").nth(1).map(String::from))
        .collect();
    assert_eq!(files.len(), 5);
    assert!(files[..4].iter().all(|f| *f == file.display().to_string()));
}

/// After a timeout the Runner reports how the driver then ended, as for any call: a driver that
/// exits 2 on SIGTERM is a system failure, one that ignores it dies of SIGKILL (-1). The fake
/// driver runs the script as its own body, so these scripts are the test's, not generated.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn the_double_reports_a_timeout_as_kill_and_wait_does() {
    let dir = tempfile::tempdir().unwrap();
    let driver = fake_driver(dir.path(), &fake_config(dir.path()), "exit 0");
    let mut runner = Runner::with_driver(dir.path(), "604", &driver);
    runner.config();
    runner.stage_timeout = Duration::from_secs(2);
    let graceful = runner.run_script("build_script", "trap 'exit 2' TERM\nsleep 300 &\nwait");
    assert_eq!(graceful.signals, ["TERM"]);
    assert_eq!(graceful.verdict, Verdict::SystemFailure);
    let stubborn = runner.run_script("build_script", "trap '' TERM\nsleep 300");
    assert_eq!(stubborn.signals, ["TERM", "KILL"]);
    assert_eq!(stubborn.verdict, Verdict::Unknown(-1));
    runner.cleanup();
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

/// The Runner hands every job variable to the driver as `CUSTOM_ENV_<name>`, and the job's
/// script inherits them: a Locust run in that job must get none of the twins of the variables
/// the gate withholds from Locust (the job token, the gate's own tokens, the repository URL
/// with its embedded token), whichever name they come under.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn locust_under_the_executor_gets_no_custom_env_twin_of_a_withheld_variable() {
    const CANARIES: &[(&str, &str)] = &[
        ("CI_JOB_TOKEN", "CANARY-executor-job-token-51"),
        ("LOADFORGE_API_TOKEN", "CANARY-executor-loadforge-token-52"),
        (
            "CI_REPOSITORY_URL",
            "https://gitlab-ci-token:CANARY-executor-repository-53@gitlab.example/p.git",
        ),
        ("CI_REGISTRY_PASSWORD", "CANARY-executor-registry-54"),
        ("CI_JOB_JWT_V2", "CANARY-executor-jwt-55"),
        (
            "LOADFORGE_GATE_GITLAB_TOKEN",
            "CANARY-executor-gitlab-token-56",
        ),
        ("LOCUST_RUN_TIME", "CANARY-executor-locust-57"),
    ];
    let state = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let dump = files.path().join("env.txt");
    let locustfile = files.path().join("dump.py");
    std::fs::write(
        &locustfile,
        format!(
            "import os\nfrom locust import HttpUser, task, constant\n\
with open('{}', 'w') as f:\n    f.write('\\n'.join(f'{{k}}={{v}}' for k, v in os.environ.items()))\n\
class U(HttpUser):\n    wait_time = constant(1)\n    @task\n    def t(self):\n        self.client.get('/health')\n",
            dump.display()
        ),
    )
    .unwrap();
    let mut runner = Runner::new(state.path(), "120");
    runner
        .variables
        .extend(CANARIES.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let script = format!(
        "loadforge-gate run --engine locust --locustfile '{}' --locust-bin '{}' --host '{}' --users 1 --run-time 2s --progress 0 --baseline none",
        locustfile.display(),
        crate::locust::locust_bin(),
        app.url()
    );
    let job = runner.job(&script);
    let build = job.stage("build_script");
    assert_eq!(
        build.verdict,
        Verdict::Success,
        "{}\n{}",
        build.stdout,
        build.stderr
    );
    let env = std::fs::read_to_string(&dump).unwrap_or_else(|e| {
        panic!(
            "the locustfile wrote no environment ({e}): {}",
            build.stderr
        )
    });
    assert!(
        env.lines().any(|l| l == "CUSTOM_ENV_CI_JOB_NAME=load-test"),
        "the dump is Locust's environment under the executor, twins included: {env}"
    );
    for (name, value) in CANARIES {
        assert!(!env.contains(value), "{name}'s value reached Locust: {env}");
        for key in [name.to_string(), format!("CUSTOM_ENV_{name}")] {
            assert!(
                !env.lines().any(|l| l.starts_with(&format!("{key}="))),
                "{key} reached Locust"
            );
        }
    }
}

/// A locustfile whose users are inside a 15 s task when the run is stopped: Locust waits for
/// the task (up to `--stop-timeout`) before it exits and the gate writes its reports.
const LINGERING: &str = r#"import gevent
from locust import HttpUser, constant, task


class Lingering(HttpUser):
    wait_time = constant(0)

    @task
    def health_then_linger(self):
        self.client.get("/health")
        gevent.sleep(15)
"#;

/// [`LINGERING`], which also starts two `sleep`s when it is imported, and writes their pids
/// under `$MARKS`: one in Locust's own process group that ignores SIGTERM (so the gate's
/// SIGTERM to that group leaves it running, as it leaves Locust lingering), one in a session
/// of its own.
fn spawning_locustfile() -> String {
    format!(
        r#"import os
import subprocess

same = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 120"])
apart = subprocess.Popen(["sleep", "121"], start_new_session=True)
for name, proc in (("same", same), ("apart", apart)):
    with open(os.path.join(os.environ["MARKS"], name), "w") as f:
        f.write(str(proc.pid))

{LINGERING}"#
    )
}

/// A Locust run of `locustfile` as a job's script would call it, for a minute.
fn locust_script(url: &str, locustfile: &Path) -> String {
    format!(
        "loadforge-gate run --engine locust --locustfile '{}' --locust-bin '{}' --host '{url}' --users 2 --spawn-rate 10 --run-time 60s --stop-timeout 25 --progress 0 --baseline none",
        locustfile.display(),
        crate::locust::locust_bin()
    )
}

/// A process's state, group and start time from `/proc/PID/stat`; `None` once it has gone.
fn proc_stat(pid: i32) -> Option<(String, i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.first()?.to_string(),
        f.get(2)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// Whether the process that was `pid`, started at `start`, still runs.
fn still_running(pid: i32, start: u64) -> bool {
    proc_stat(pid).is_some_and(|(state, _, s)| state != "Z" && s == start)
}

/// What a test started through the executor, SIGKILLed when the test ends, so that a failing
/// test leaves nothing running either.
struct Reaper {
    processes: Vec<(i32, u64)>,
    groups: Vec<i32>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &(pid, start) in &self.processes {
            if still_running(pid, start) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for &group in &self.groups {
            if !group_members(group).is_empty() {
                let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
            }
        }
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Finding 9: a cancelled or timed-out job's gate got a second after its shell had gone, then
/// SIGKILL, so its partial reports were lost. The Runner's SIGTERM now leaves the script's
/// group `--term-grace` (30 s) to stop: Locust waits for its users' task, the gate writes its
/// reports and exits 4, as it does without the executor.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn a_sigtermed_gate_keeps_its_partial_reports_under_the_executor() {
    let state = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let locustfile = marks.path().join("lingering.py");
    std::fs::write(&locustfile, LINGERING).unwrap();
    let code = marks.path().join("gate-exit");
    let mut runner = Runner::new(state.path(), "701");
    assert!(runner.prepare_executor().ready);
    // The job's timeout (or a cancel) comes while the users are inside their task; the Runner
    // then waits up to its graceful-kill timeout for the driver.
    runner.stage_timeout = Duration::from_secs(6);
    runner.graceful_kill = Duration::from_secs(90);
    // The generated script turns SIGTERM into `exit 1` once the gate has exited; a subshell of
    // the test's own outlives the signal to write down the gate's own exit code.
    let script = format!(
        "(trap : TERM; {} || echo $? > '{}')",
        locust_script(&app.url(), &locustfile),
        code.display()
    );
    let build = runner.run("build_script", &script);
    assert_eq!(build.signals, ["TERM"], "{}", build.stderr);
    assert_eq!(build.verdict, Verdict::BuildFailure(1), "{}", build.stderr);
    assert!(build.stderr.contains("to stop"), "{}", build.stderr);
    assert_eq!(
        std::fs::read_to_string(&code)
            .unwrap_or_else(|_| panic!("the gate never exited on its own: {}", build.stderr))
            .trim(),
        "4",
        "{}",
        build.stderr
    );
    let out = runner.project_dir().join("loadforge-gate");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["run"]["interrupted"], true);
    assert!(
        results["aggregate"]["requests"].as_u64() > Some(0),
        "{results}"
    );
    assert!(out.join("summary.md").is_file());
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
}

/// Finding 9: Locust leads a process group of its own, and a locustfile may start processes in
/// sessions of their own; none of them was recorded, so what a SIGKILLed gate left running
/// survived cleanup. Every group the job's descendants create is now recorded while the stage
/// runs, and cleanup ends them: here after the Runner SIGKILLed the driver, and cleanup's own
/// grace ran out on the gate.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Locust")]
fn a_locustfile_s_processes_leave_nothing_behind_after_cleanup() {
    let state = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let locustfile = marks.path().join("spawning.py");
    std::fs::write(&locustfile, spawning_locustfile()).unwrap();
    let mut runner = Runner::new(state.path(), "702");
    assert!(runner.prepare_executor().ready);
    runner.stage_timeout = Duration::from_secs(8);
    runner.graceful_kill = Duration::from_secs(1);
    runner.cleanup_args = ["--term-grace", "1s"].map(String::from).to_vec();
    let script = format!(
        "export MARKS='{0}'\necho $$ > '{0}/script'\n{1}",
        marks.path().display(),
        locust_script(&app.url(), &locustfile)
    );
    let build = runner.run("build_script", &script);
    assert_eq!(build.signals, ["TERM", "KILL"], "{}", build.stderr);
    let script_group = read_pid(&marks.path().join("script"));
    let sleeps: Vec<(i32, u64, i32)> = ["same", "apart"]
        .iter()
        .map(|name| {
            let pid = read_pid(&marks.path().join(name));
            let (_, group, start) = proc_stat(pid)
                .unwrap_or_else(|| panic!("sleep {name} ended before cleanup: {}", build.stderr));
            (pid, start, group)
        })
        .collect();
    let locust_group = sleeps[0].2;
    let _reaper = Reaper {
        processes: sleeps
            .iter()
            .map(|(pid, start, _)| (*pid, *start))
            .collect(),
        groups: vec![locust_group, script_group],
    };
    assert_ne!(
        locust_group, script_group,
        "Locust leads a group of its own"
    );
    let cleanup = runner.cleanup();
    assert_eq!(cleanup.verdict, Verdict::Success, "{}", cleanup.stderr);
    for (pid, start, _) in &sleeps {
        assert!(!still_running(*pid, *start), "sleep {pid} survived cleanup");
    }
    assert_eq!(
        group_members(locust_group),
        Vec::<i32>::new(),
        "Locust survived cleanup"
    );
    assert_eq!(group_members(script_group), Vec::<i32>::new());
}

/// Finding 10: the state directory is private. One that others can write is refused, with the
/// fix in one line, at the first call; so is one of another user.
#[test]
fn a_state_dir_others_can_write_or_own_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let open = root.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut runner = Runner::new(&open, "801");
    let (config, _) = runner.config_exec();
    assert_eq!(config.verdict, Verdict::SystemFailure);
    let error = config.stderr.lines().next().unwrap_or_default();
    assert!(
        error.contains("is writable by its group or others (mode 777)")
            && error.contains("install -d -m 0700"),
        "{}",
        config.stderr
    );
    runner.cleanup();
    let job = runner.job("true");
    assert!(!job.prepare.ready);
    assert_eq!(runner.history()[2..], ["config", "cleanup"].repeat(3));
    if nix::unistd::geteuid().is_root() {
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let mut runner = Runner::new(&theirs, "802");
        let (config, _) = runner.config_exec();
        assert_eq!(config.verdict, Verdict::SystemFailure);
        assert!(
            config.stderr.contains("belongs to uid 65534"),
            "{}",
            config.stderr
        );
    }
}

/// Finding 10: a symbolic link where the lock's record goes is refused, never written through.
#[test]
fn a_symlinked_lock_record_is_refused_not_written_through() {
    let state = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("precious");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, state.path().join("host.owner")).unwrap();
    let mut runner = Runner::new(state.path(), "803");
    let job = runner.job("true");
    assert!(!job.prepare.ready);
    let refusal = &job.prepare.prepares[0];
    assert_eq!(refusal.verdict, Verdict::SystemFailure);
    assert!(
        refusal.stderr.contains("host.owner is a symbolic link"),
        "{}",
        refusal.stderr
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// Finding 10: cleanup signals only the groups the job recorded, each only while its leader is
/// the process that was recorded: a bare pgid (the old format, or planted) and one whose start
/// time is not its leader's are left alone.
#[test]
fn a_planted_process_group_is_not_signalled_by_cleanup() {
    let state = tempfile::tempdir().unwrap();
    let mut victim = Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = i32::try_from(victim.id()).unwrap();
    let (_, _, start) = proc_stat(pgid).unwrap();
    let job_dir = state.path().join("jobs/804");
    std::fs::create_dir_all(&job_dir).unwrap();
    std::fs::write(
        job_dir.join("process-groups"),
        format!("{pgid}\n{pgid} {} script\n", start + 1),
    )
    .unwrap();
    let mut runner = Runner::new(state.path(), "804");
    runner.config();
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
    let alive = group_members(pgid);
    let _ = victim.kill();
    let _ = victim.wait();
    assert_eq!(
        alive,
        [pgid],
        "cleanup signalled a process the job never started"
    );
}

/// Finding 11: past `--lock-ttl` (now `--lock-stale`, of which it is the old name), a second
/// job took the host while the first still ran. A running job beats, and its processes run:
/// the second waits.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: waits out timeouts")]
fn a_second_job_cannot_take_a_live_jobs_host_after_the_ttl() {
    let state = tempfile::tempdir().unwrap();
    let (prepared_tx, prepared_rx) = mpsc::channel();
    let dir = state.path().to_path_buf();
    let first = std::thread::spawn(move || {
        let mut runner = Runner::new(&dir, "901");
        runner
            .prepare_args
            .extend(["--lock-ttl", "2s"].map(String::from));
        assert!(runner.prepare_executor().ready);
        prepared_tx.send(()).unwrap();
        let build = runner.run(
            "build_script",
            "sleep 5\ncat \"$LOADFORGE_GATE_HOST_REPORT\"",
        );
        assert_eq!(runner.cleanup().verdict, Verdict::Success);
        build
    });
    prepared_rx.recv().expect("the first job prepared");
    let mut second = Runner::new(state.path(), "902");
    second
        .prepare_args
        .extend(["--lock-ttl", "2s", "--lock-wait", "3s"].map(String::from));
    let prepare = second.prepare_executor();
    let build = first.join().expect("first job");
    let refusal = &prepare.prepares[0];
    assert_eq!(
        refusal.verdict,
        Verdict::SystemFailure,
        "{}",
        refusal.stdout
    );
    assert!(
        refusal.stderr.contains("held by job 901"),
        "{}",
        refusal.stderr
    );
    assert_eq!(build.verdict, Verdict::Success, "{}", build.stderr);
    assert!(
        build.stdout.contains("\"exclusive\": true"),
        "{}",
        build.stdout
    );
    if prepare.ready {
        second.cleanup();
    }
}

/// Finding 11: a runner that died without cleanup kept the host for the lock's TTL (3 h). A
/// holder with no heartbeat and nothing running is taken over once `--lock-stale` has passed
/// (2 min by default).
#[test]
fn a_dead_holders_lock_is_taken_over_promptly() {
    let state = tempfile::tempdir().unwrap();
    // What a runner that died ten minutes ago, between two stages, left: its record.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 600;
    std::fs::write(
        state.path().join("host.owner"),
        format!(r#"{{"job":"911","since":{now},"beat_ms":{}}}"#, now * 1000),
    )
    .unwrap();
    let mut runner = Runner::new(state.path(), "912");
    runner
        .prepare_args
        .extend(["--lock-wait", "3s"].map(String::from));
    let prepare = runner.prepare_executor();
    assert!(prepare.ready, "{:?}", prepare.prepares);
    assert!(
        prepare.prepares[0]
            .stdout
            .contains("job 911 held this host but has shown no sign of life for 10m"),
        "{}",
        prepare.prepares[0].stdout
    );
    assert_eq!(runner.cleanup().verdict, Verdict::Success);
    // A job prepared, and then its runner died: the next job takes the host a second later.
    let mut dead = Runner::new(state.path(), "913");
    dead.prepare_args
        .extend(["--lock-stale", "1s"].map(String::from));
    assert!(dead.prepare_executor().ready);
    let started = Instant::now();
    let mut next = Runner::new(state.path(), "914");
    let prepare = next.prepare_executor();
    assert!(prepare.ready, "{:?}", prepare.prepares);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        prepare.prepares[0]
            .stdout
            .contains("job 913 held this host"),
        "{}",
        prepare.prepares[0].stdout
    );
    assert_eq!(next.cleanup().verdict, Verdict::Success);
}

/// Finding 11: `exclusive` is true only if the whole job held the host. A job whose runner went
/// silent past `--lock-ttl` lost the host to another job, and its gate, run afterwards, reports
/// a host that was not held exclusively.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn exclusive_is_false_when_the_lock_was_lost() {
    let state = tempfile::tempdir().unwrap();
    let app = sample_app(Knobs::default());
    let mut first = Runner::new(state.path(), "921");
    first
        .prepare_args
        .extend(["--lock-ttl", "1s"].map(String::from));
    assert!(first.prepare_executor().ready);
    // No sleep: the second job waits (`--lock-wait`) until the first, silent, has held the lock
    // past `--lock-ttl`, then takes the host.
    let mut second = Runner::new(state.path(), "922");
    second
        .prepare_args
        .extend(["--lock-ttl", "1s", "--lock-wait", "5s"].map(String::from));
    assert!(second.prepare_executor().ready);
    assert_eq!(second.cleanup().verdict, Verdict::Success);
    let stages = first.stages(&gate_script(&app.url(), "error_rate<50%"));
    let build = &stages
        .iter()
        .find(|(n, _)| n == "build_script")
        .expect("build_script ran")
        .1;
    assert_eq!(build.verdict, Verdict::Success, "{}", build.stderr);
    assert_eq!(first.cleanup().verdict, Verdict::Success);
    let out = first.project_dir().join("loadforge-gate");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["run"]["host"]["exclusive"], false, "{results}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("no exclusive lock"), "{summary}");
}
