//! `--engine locust`: the team's own locustfile, run by real Locust in this job. Locust is
//! spawned headless with every setting as a flag, in a clean environment, and supervised: live
//! progress from the CSV it rewrites each second, SIGTERM forwarded, a hard deadline so a hung
//! process cannot hold the pipeline. Its files are parsed into the same [`RunResult`] the native
//! engine produces.

mod command;
mod parse;
mod redact;

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant, SystemTime},
};

use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;

use command::OutputFiles;
pub(crate) use parse::endpoint_name;

use super::{
    health::{Monitor, Subject},
    progress::{in_load_section, Every},
    EngineError,
};
use crate::{
    pause::pause,
    stats::{RunMeta, RunResult, ToolInfo, SCHEMA},
};

/// Everything the Locust engine needs, already validated.
#[derive(Debug, Clone)]
pub(crate) struct LocustPlan {
    /// The `locust` executable.
    pub(crate) bin: PathBuf,
    /// Absolute path: Locust runs with its own working directory.
    pub(crate) locustfile: PathBuf,
    /// The host under test, without a trailing slash.
    pub(crate) host: String,
    /// Concurrent users.
    pub(crate) users: u32,
    /// Users started per second.
    pub(crate) spawn_rate: f64,
    /// Test length.
    pub(crate) run_time: Duration,
    /// How long Locust gives users to finish their task when stopping.
    pub(crate) stop_timeout: Duration,
    /// Local worker processes (master + N workers on this host).
    pub(crate) workers: Option<u32>,
    /// Workers expected from other hosts (`locust --worker --master-host THIS_HOST`).
    pub(crate) remote_workers: Option<u32>,
    /// How long the master waits for its workers.
    pub(crate) workers_max_wait: Duration,
    /// Passed to Locust after every flag of ours.
    pub(crate) extra_args: Vec<String>,
    /// The output directory; Locust's files go into its `locust/` folder.
    pub(crate) out_dir: PathBuf,
    /// Print a progress line this often (`None`: never).
    pub(crate) progress_every: Option<Duration>,
    /// Distinct endpoint names measured on their own (`--max-endpoints`); Locust's other
    /// entries are counted together while its files are read, so the gate's memory is bounded
    /// by this and not by how many names a locustfile makes.
    pub(crate) max_endpoints: usize,
}

const INSTALL_HINT: &str =
    "install it with `pip install locust` (or point LOADFORGE_GATE_LOCUST_BIN at the locust executable)";

/// How often the master is checked on.
const TICK: Duration = Duration::from_millis(100);
/// How long Locust may take beyond its stop timeout to exit after SIGTERM.
const TERM_GRACE: Duration = Duration::from_secs(10);
/// How long a local worker may take to exit after SIGTERM.
const WORKER_GRACE: Duration = Duration::from_secs(5);

/// Runs the plan's locustfile with Locust and parses what it wrote. On SIGINT/SIGTERM (`stop`)
/// Locust is stopped and what it measured so far is the (interrupted) result.
pub(crate) fn run(plan: &LocustPlan, stop: &CancellationToken) -> Result<RunResult, EngineError> {
    let files = prepare_output(&plan.out_dir)?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let mut procs = Processes::start(plan, &files)?;
    // The gate's view of Locust's processes: their CPU, and the host's hiccups beside them.
    let pids = std::iter::once(&procs.master)
        .chain(&procs.workers)
        .map(Child::id)
        .collect();
    let monitor = Monitor::start(Subject::Processes(pids), false);
    let what = format!("Locust, {}", super::file_name(&plan.locustfile));
    let status = in_load_section(&what, plan.run_time, || {
        supervise(plan, &mut procs, stop, &files, start)
    });
    let generator = monitor.finish("locust");
    procs.stop_workers();
    let ending = Ending {
        status: status?,
        interrupted: stop.is_cancelled(),
        elapsed: start.elapsed(),
        started_at,
    };
    let collected = collect(plan, &files, &ending);
    redact::redact_files(&files.dir, &files.plugin());
    collected.map(|mut r| {
        for p in &mut r.timeseries {
            p.generator = generator.seconds.get(p.t as usize).copied();
        }
        r.run.generator = Some(generator.health.with_requests(r.aggregate.requests));
        r
    })
}

/// The plugin that writes Locust's final failures at quit (its CSV lags by up to a second).
const FINAL_FAILURES_PLUGIN: &str = include_str!("final_failures.py");

/// The `locust/` folder of the output directory, emptied of an earlier run's results.
fn prepare_output(out_dir: &Path) -> Result<OutputFiles, EngineError> {
    let dir = out_dir.join("locust");
    std::fs::create_dir_all(&dir).map_err(|e| setup(format!("create {}", dir.display()), e))?;
    // Absolute, because Locust runs with this directory as its working directory.
    let files = OutputFiles {
        dir: std::fs::canonicalize(&dir)
            .map_err(|e| setup(format!("resolve {}", dir.display()), e))?,
    };
    for stale in [
        files.json(),
        files.stats(),
        files.history(),
        files.failures(),
        files.final_failures(),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    std::fs::write(files.plugin(), FINAL_FAILURES_PLUGIN)
        .map_err(|e| setup(format!("write {}", files.plugin().display()), e))?;
    Ok(files)
}

fn setup(action: String, e: std::io::Error) -> EngineError {
    EngineError::Setup {
        action,
        source: e.into(),
    }
}

/// The Locust processes of one run: the master (or only) process and its local workers.
struct Processes {
    master: Child,
    workers: Vec<Child>,
}

/// Every exit path, error or not, ends every process group the run started: nothing Locust
/// or a locustfile spawned outlives the gate's run.
impl Drop for Processes {
    fn drop(&mut self) {
        end_group(&mut self.master);
        for w in &mut self.workers {
            end_group(w);
        }
    }
}

impl Processes {
    /// Starts the master, then its local workers (killing the master if one cannot start).
    fn start(plan: &LocustPlan, files: &OutputFiles) -> Result<Processes, EngineError> {
        let master_port = match plan.workers {
            Some(_) => Some(free_port()?),
            None => None,
        };
        let args = command::master_args(plan, files, master_port);
        let mut procs = Processes {
            master: spawn(&plan.bin, &args, &files.dir, "locust.log")?,
            workers: Vec::new(),
        };
        if let (Some(n), Some(port)) = (plan.workers, master_port) {
            for i in 0..n {
                let args = command::worker_args(&plan.locustfile, port);
                match spawn(&plan.bin, &args, &files.dir, &format!("worker-{i}.log")) {
                    Ok(w) => procs.workers.push(w),
                    Err(e) => {
                        signal(&procs.master, Signal::SIGKILL);
                        let _ = procs.master.wait();
                        procs.stop_workers();
                        return Err(e);
                    }
                }
            }
        }
        if let Some(n) = plan.remote_workers {
            eprintln!(
                "loadforge-gate: Locust master waits up to {}s for {n} workers: run `locust -f {} --worker --master-host <this host>` on each",
                plan.workers_max_wait.as_secs(),
                plan.locustfile.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
            );
        }
        Ok(procs)
    }

    /// Forwards a stop to every process.
    fn terminate(&self) {
        signal(&self.master, Signal::SIGTERM);
        for w in &self.workers {
            signal(w, Signal::SIGTERM);
        }
    }

    /// Stops the local workers: SIGTERM, a short grace, then SIGKILL.
    fn stop_workers(&mut self) {
        for w in &self.workers {
            signal(w, Signal::SIGTERM);
        }
        for mut w in self.workers.drain(..) {
            let deadline = Instant::now() + WORKER_GRACE;
            while Instant::now() < deadline && matches!(w.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// The end of Locust's log, where its errors are: a locustfile that prints in a loop must not
/// make the gate read gigabytes.
fn log_tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 64 * 1024;
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut bytes = Vec::new();
    let _ = f.take(TAIL).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Variables Locust does not get. `LOCUST_*` would override our flags; `LOADFORGE_*` holds the
/// gate's own settings and tokens (LoadForge's API token, the GitLab API token); and GitLab's
/// credentials are the job's, not the locustfile's (`CI_REPOSITORY_URL` embeds the job token).
/// Everything else (the team's own `APP_*` or `API_*` variables, `CI_*` context) passes through.
///
/// Under a GitLab Runner custom executor (`loadforge-gate executor`, or any other), the Runner
/// hands every job variable to the job's processes a second time as `CUSTOM_ENV_<name>`: each
/// withheld name is withheld under that prefix too.
pub(crate) fn withheld(name: &str) -> bool {
    let name = name.strip_prefix(CUSTOM_ENV).unwrap_or(name);
    const CREDENTIALS: &[&str] = &[
        "CI_JOB_TOKEN",
        "CI_BUILD_TOKEN",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPENDENCY_PROXY_PASSWORD",
        "CI_DEPLOY_PASSWORD",
        "CI_REPOSITORY_URL",
    ];
    name.starts_with("LOCUST_")
        || name.starts_with("LOADFORGE_")
        || name.starts_with("CI_JOB_JWT")
        || CREDENTIALS.contains(&name)
}

/// The prefix under which a custom executor's Runner passes the job's variables.
const CUSTOM_ENV: &str = "CUSTOM_ENV_";

/// Starts one Locust process, its output going to `log` in `dir`.
fn spawn(bin: &Path, args: &[OsString], dir: &Path, log: &str) -> Result<Child, EngineError> {
    let log_path = dir.join(log);
    let log_file =
        File::create(&log_path).map_err(|e| setup(format!("create {}", log_path.display()), e))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| setup(format!("share {}", log_path.display()), e))?;
    let mut cmd = Command::new(bin);
    // Its own process group, so whatever it starts (Locust's `--processes`, a locustfile's own
    // subprocesses) can be ended together with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file))
        .env("PYTHONUNBUFFERED", "1");
    for (k, _) in std::env::vars_os() {
        if withheld(&k.to_string_lossy()) {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_installed(bin),
        _ => setup(format!("start `{}`", bin.display()), e),
    })
}

fn not_installed(bin: &Path) -> EngineError {
    EngineError::Missing(format!(
        "Locust is not installed (`{}` not found): {INSTALL_HINT}",
        bin.display()
    ))
}

/// Signals a child's whole process group (it leads its own, see [`spawn`]).
fn signal(child: &Child, sig: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// How long a process group gets between SIGTERM and SIGKILL when the gate cleans up.
const GROUP_GRACE: Duration = Duration::from_secs(2);

/// Ends a child's process group, whatever is left in it: SIGTERM, a grace, then SIGKILL; and
/// reaps the child itself.
fn end_group(child: &mut Child) {
    use nix::{sys::signal::killpg, unistd::Pid};
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    let group = Pid::from_raw(pid);
    if killpg(group, Signal::SIGTERM).is_ok() {
        let deadline = Instant::now() + GROUP_GRACE;
        // `None` probes whether anyone is left in the group.
        while Instant::now() < deadline && killpg(group, None).is_ok() {
            let _ = child.try_wait();
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> Result<u16, EngineError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| setup("find a free port for the Locust master".into(), e))
}

/// Waits for the master, forwarding an interruption as SIGTERM and enforcing a hard deadline.
fn supervise(
    plan: &LocustPlan,
    procs: &mut Processes,
    stop: &CancellationToken,
    files: &OutputFiles,
    start: Instant,
) -> Result<ExitStatus, EngineError> {
    let allowance = allowance(plan);
    let deadline = start + plan.run_time + allowance;
    let mut terminated_at: Option<Instant> = None;
    let mut progress = Every::new(start, plan.progress_every);
    loop {
        let exited = procs.master.try_wait();
        if let Some(status) = exited.map_err(|e| setup("watch Locust".into(), e))? {
            return Ok(status);
        }
        let now = Instant::now();
        if stop.is_cancelled() && terminated_at.is_none() {
            procs.terminate();
            terminated_at = Some(now);
        }
        if terminated_at.is_some_and(|t| now > t + plan.stop_timeout + TERM_GRACE) {
            let _ = procs.master.kill();
            return procs
                .master
                .wait()
                .map_err(|e| setup("wait for Locust to stop".into(), e));
        }
        if now > deadline {
            let _ = procs.master.kill();
            let _ = procs.master.wait();
            return Err(EngineError::Crashed {
                message: format!(
                    "Locust was still running {}s after its run time ended and was killed",
                    allowance.as_secs()
                ),
                partial: None,
            });
        }
        if progress.due(now) {
            print_progress(files, start);
        }
        // Once stopping, only the master's exit is awaited.
        if terminated_at.is_some() {
            std::thread::sleep(TICK);
        } else {
            pause(TICK, stop);
        }
    }
}

/// Locust needs time to start, to wait for workers and to stop users; beyond that it hangs.
fn allowance(plan: &LocustPlan) -> Duration {
    let workers = if plan.workers.is_some() || plan.remote_workers.is_some() {
        plan.workers_max_wait
    } else {
        Duration::ZERO
    };
    Duration::from_secs(60) + plan.stop_timeout + workers
}

fn print_progress(files: &OutputFiles, start: Instant) {
    if let Some((total, failed, rps, p95)) = parse::latest_progress(files) {
        eprintln!(
            "[{:>5.0}s] {:>8} requests · {:>7.1} req/s · {} failed · p95 {}",
            start.elapsed().as_secs_f64(),
            total,
            rps,
            failed,
            p95.map(|v| format!("{v:.0} ms"))
                .unwrap_or_else(|| "-".into())
        );
    }
}

/// How the master ended.
struct Ending {
    status: ExitStatus,
    interrupted: bool,
    elapsed: Duration,
    started_at: SystemTime,
}

/// The result from Locust's files, or why there is none (with what it measured, if anything).
fn collect(plan: &LocustPlan, files: &OutputFiles, end: &Ending) -> Result<RunResult, EngineError> {
    let duration = if end.interrupted {
        end.elapsed.min(plan.run_time)
    } else {
        plan.run_time
    };
    let meta = RunMeta {
        scenario: plan
            .locustfile
            .file_name()
            .map(|f| f.to_string_lossy().into_owned()),
        interrupted: end.interrupted,
        quantised: true,
        ..RunMeta::new(
            crate::stats::Engine::Locust,
            plan.host.clone(),
            plan.users,
            plan.spawn_rate,
            RunMeta::timestamp(end.started_at),
            duration.as_secs_f64(),
        )
    };
    let log = log_tail(&files.dir.join("locust.log"));
    if let Some(rows) = parse::endpoints_from_json(files, meta.duration_s, plan.max_endpoints) {
        if !end.status.success() && !end.interrupted {
            eprintln!(
                "loadforge-gate: warning: Locust exited with {} after writing its results: {}",
                end.status,
                last_error_line(&log)
            );
        }
        return Ok(result(files, meta, rows));
    }
    let partial = parse::endpoints_from_stats_csv(files, meta.duration_s, plan.max_endpoints);
    if !partial.endpoints.iter().any(|e| e.requests > 0) {
        return Err(no_results(plan, &log, end.status));
    }
    if end.interrupted {
        return Ok(result(files, meta, partial));
    }
    let mut r = result(files, meta, partial);
    r.run.duration_s = end.elapsed.min(plan.run_time).as_secs_f64();
    Err(EngineError::Crashed {
        message: format!(
            "Locust stopped with {} before the end of the run: {}",
            end.status,
            last_error_line(&log)
        ),
        partial: Some(Box::new(r)),
    })
}

fn result(files: &OutputFiles, run: RunMeta, rows: parse::Rows) -> RunResult {
    let parse::Rows { endpoints, folded } = rows;
    RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        aggregate: parse::aggregate_from_stats_csv(files, &endpoints, run.duration_s),
        run: RunMeta { folded, ..run },
        ci: None,
        endpoints,
        timeseries: parse::timeseries(files),
        paired: None,
    }
}

/// Why Locust measured nothing, read from its log.
fn no_results(plan: &LocustPlan, log: &str, status: ExitStatus) -> EngineError {
    let file = plan.locustfile.display();
    let last = last_error_line(log);
    if log.contains("No User class found") {
        return EngineError::Config(format!(
            "locustfile {file} defines no User class; add a class that extends HttpUser (or User)"
        ));
    }
    if log.contains("Gave up waiting for workers") || log.contains("workers to connect") {
        return EngineError::Crashed {
            message: format!(
                "the Locust workers did not connect within {}s: {last}",
                plan.workers_max_wait.as_secs()
            ),
            partial: None,
        };
    }
    if log.contains("Traceback") || log.contains("Error") {
        return EngineError::Config(format!("locustfile {file} failed to load: {last}"));
    }
    EngineError::Crashed {
        message: format!("Locust exited with {status} and wrote no results: {last}"),
        partial: None,
    }
}

/// The last meaningful line Locust logged: its own error message, quoted (a locustfile's
/// words: one line, cut to a length) and without the credentials of a URL in it.
fn last_error_line(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("^") && !l.starts_with('~'))
        .unwrap_or("(no output)");
    crate::quote::quote(&crate::secret::redact_query(line))
}

/// Finds the locust executable before anything runs, so a missing Locust is one clear error.
pub(crate) fn find_bin(bin: &Path) -> Result<PathBuf, EngineError> {
    find_on_path(bin).ok_or_else(|| not_installed(bin))
}

/// An executable given as a path, or a bare name looked up on `PATH`.
pub(crate) fn find_on_path(bin: &Path) -> Option<PathBuf> {
    if bin.components().count() > 1 {
        return bin.is_file().then(|| bin.to_path_buf());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
}

/// Checks a locustfile before anything runs.
pub(crate) fn check_locustfile(path: &Path) -> Result<PathBuf, EngineError> {
    if path.extension() != Some(OsStr::new("py")) && !path.is_dir() {
        return Err(EngineError::Config(format!(
            "locustfile {} must be a .py file (or a directory of them)",
            path.display()
        )));
    }
    std::fs::canonicalize(path).map_err(|e| EngineError::Invalid {
        message: format!(
            "cannot read locustfile {}; check --locustfile",
            path.display()
        ),
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_unreadable_locustfile_is_a_usage_error_with_its_cause() {
        let e = check_locustfile(Path::new("/no/such/dir/locustfile.py")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read locustfile /no/such/dir/locustfile.py; check --locustfile"
        );
        let cause = e.source().and_then(|c| c.downcast_ref::<std::io::Error>());
        assert_eq!(
            cause.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        assert!(matches!(e, EngineError::Invalid { .. }));
    }

    #[test]
    fn an_output_directory_that_cannot_be_made_keeps_the_os_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A file where the output directory should be: `locust/` cannot go under it.
        let e = prepare_output(file.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cannot create {}", file.path().join("locust").display())
        );
        assert!(
            e.source().is_some_and(|c| c.is::<std::io::Error>()),
            "{e:?}"
        );
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn only_the_end_of_a_huge_log_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locust.log");
        let mut text = "noise\n".repeat(100_000);
        text.push_str("ImportError: the real problem\n");
        std::fs::write(&path, &text).unwrap();
        let tail = log_tail(&path);
        assert!(tail.len() <= 64 * 1024, "{}", tail.len());
        assert!(tail.ends_with("ImportError: the real problem\n"));
        assert_eq!(log_tail(&dir.path().join("missing.log")), "");
    }

    #[test]
    fn custom_env_twins_of_withheld_variables_are_withheld() {
        for name in [
            "CI_JOB_TOKEN",
            "CI_REPOSITORY_URL",
            "CI_JOB_JWT_V2",
            "LOADFORGE_API_TOKEN",
            "LOCUST_HOST",
        ] {
            assert!(withheld(name), "{name}");
            assert!(withheld(&format!("CUSTOM_ENV_{name}")), "{name}");
        }
        for name in [
            "CI_JOB_NAME",
            "APP_USER",
            "CUSTOM_ENV_CI_JOB_NAME",
            "CUSTOM_ENV_",
        ] {
            assert!(!withheld(name), "{name}");
        }
    }
}
