//! `--engine locust`: the team's own locustfile, run by real Locust in this job. Locust is
//! spawned headless with every setting as a flag, in a clean environment, and supervised: live
//! progress from the CSV it rewrites each second, SIGTERM forwarded, a hard deadline so a hung
//! process cannot hold the pipeline. Its files are parsed into the same [`RunResult`] the native
//! engine produces.

mod command;
mod parse;

use std::{
    ffi::OsStr,
    fs::File,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant, SystemTime},
};

use tokio_util::sync::CancellationToken;

pub use command::OutputFiles;
pub use parse::{endpoint_name, normalise_reason};

use super::EngineError;
use crate::stats::{EndpointStats, LoadModel, RunMeta, RunResult, ToolInfo, SCHEMA};

#[derive(Debug, Clone)]
pub struct LocustPlan {
    /// The `locust` executable.
    pub bin: PathBuf,
    /// Absolute path: Locust runs with its own working directory.
    pub locustfile: PathBuf,
    pub host: String,
    pub users: u32,
    pub spawn_rate: f64,
    pub run_time: Duration,
    pub stop_timeout: Duration,
    /// Local worker processes (master + N workers on this host).
    pub workers: Option<u32>,
    /// Workers expected from other hosts (`locust --worker --master-host THIS_HOST`).
    pub remote_workers: Option<u32>,
    pub workers_max_wait: Duration,
    pub extra_args: Vec<String>,
    pub out_dir: PathBuf,
    /// Print a progress line this often (`None`: never).
    pub progress_every: Option<Duration>,
}

const INSTALL_HINT: &str =
    "install it with `pip install locust` (or point LOADFORGE_GATE_LOCUST_BIN at the locust executable)";

fn spawn(
    bin: &PathBuf,
    args: &[std::ffi::OsString],
    dir: &PathBuf,
    log: &str,
) -> Result<Child, EngineError> {
    let log_file = File::create(dir.join(log)).map_err(|e| {
        EngineError::Start(format!("cannot create {}: {e}", dir.join(log).display()))
    })?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| EngineError::Start(e.to_string()))?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file))
        .env("PYTHONUNBUFFERED", "1");
    // Locust reads LOCUST_* variables as settings; only our flags may decide what runs.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOCUST_") {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EngineError::Missing(format!(
            "Locust is not installed (`{}` not found): {INSTALL_HINT}",
            bin.display()
        )),
        _ => EngineError::Start(format!("cannot start `{}`: {e}", bin.display())),
    })
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

fn free_port() -> Result<u16, EngineError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| EngineError::Start(format!("no free port for the Locust master: {e}")))
}

/// The last meaningful line Locust logged: its own error message.
fn last_error_line(log: &str) -> String {
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("^") && !l.starts_with('~'))
        .unwrap_or("(no output)")
        .chars()
        .take(300)
        .collect()
}

pub fn run(plan: &LocustPlan, stop: &CancellationToken) -> Result<RunResult, EngineError> {
    let dir = plan.out_dir.join("locust");
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::Start(format!("cannot create {}: {e}", dir.display())))?;
    // Absolute, because Locust runs with this directory as its working directory.
    let files = OutputFiles {
        dir: std::fs::canonicalize(&dir)
            .map_err(|e| EngineError::Start(format!("cannot resolve {}: {e}", dir.display())))?,
    };
    for stale in [
        files.json(),
        files.stats(),
        files.history(),
        files.failures(),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    let master_port = match plan.workers {
        Some(_) => Some(free_port()?),
        None => None,
    };
    let started_at = SystemTime::now();
    let start = Instant::now();
    let mut master = spawn(
        &plan.bin,
        &command::master_args(plan, &files, master_port),
        &files.dir,
        "locust.log",
    )?;
    let mut workers = Vec::new();
    if let (Some(n), Some(port)) = (plan.workers, master_port) {
        for i in 0..n {
            let args = command::worker_args(&plan.locustfile, port);
            match spawn(&plan.bin, &args, &files.dir, &format!("worker-{i}.log")) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    signal(&master, nix::sys::signal::Signal::SIGKILL);
                    let _ = master.wait();
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

    let status = supervise(plan, &mut master, &workers, stop, &files, start)?;
    for w in &workers {
        signal(w, nix::sys::signal::Signal::SIGTERM);
    }
    for mut w in workers {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(w.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = w.kill();
        let _ = w.wait();
    }

    let interrupted = stop.is_cancelled();
    let elapsed = start.elapsed();
    let duration = if interrupted {
        elapsed.min(plan.run_time)
    } else {
        plan.run_time
    };
    let duration_s = duration.as_secs_f64();
    let log = std::fs::read_to_string(files.dir.join("locust.log")).unwrap_or_default();
    let meta = RunMeta {
        engine: "locust".into(),
        model: LoadModel::Closed,
        scenario: plan
            .locustfile
            .file_name()
            .map(|f| f.to_string_lossy().into_owned()),
        target: plan.host.clone(),
        users: plan.users,
        spawn_rate: plan.spawn_rate,
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        duration_s,
        warmup_s: 0.0,
        interrupted,
        quantised: true,
        shard: None,
        cloud_url: None,
        rate: None,
        aborted: None,
    };
    let build = |endpoints: Vec<EndpointStats>| {
        let aggregate = parse::aggregate_from_stats_csv(&files, &endpoints, duration_s);
        RunResult {
            schema: SCHEMA.into(),
            tool: ToolInfo::current(),
            run: meta.clone(),
            ci: None,
            aggregate,
            endpoints,
            timeseries: parse::timeseries(&files),
        }
    };

    if let Some(endpoints) = parse::endpoints_from_json(&files, duration_s) {
        if !status.success() && !interrupted {
            eprintln!(
                "loadforge-gate: warning: Locust exited with {status} after writing its results: {}",
                last_error_line(&log)
            );
        }
        return Ok(build(endpoints));
    }
    let partial = parse::endpoints_from_stats_csv(&files, duration_s);
    let ran = partial.iter().any(|e| e.requests > 0);
    if interrupted && ran {
        return Ok(build(partial));
    }
    if ran {
        let mut r = build(partial);
        r.run.duration_s = elapsed.min(plan.run_time).as_secs_f64();
        return Err(EngineError::Crashed {
            message: format!(
                "Locust stopped with {status} before the end of the run: {}",
                last_error_line(&log)
            ),
            partial: Some(Box::new(r)),
        });
    }
    let file = plan.locustfile.display();
    if log.contains("No User class found") {
        return Err(EngineError::Config(format!(
            "locustfile {file} defines no User class; add a class that extends HttpUser (or User)"
        )));
    }
    if log.contains("Gave up waiting for workers") || log.contains("workers to connect") {
        return Err(EngineError::Crashed {
            message: format!(
                "the Locust workers did not connect within {}s: {}",
                plan.workers_max_wait.as_secs(),
                last_error_line(&log)
            ),
            partial: None,
        });
    }
    if log.contains("Traceback") || log.contains("Error") {
        return Err(EngineError::Config(format!(
            "locustfile {file} failed to load: {}",
            last_error_line(&log)
        )));
    }
    Err(EngineError::Crashed {
        message: format!(
            "Locust exited with {status} and wrote no results: {}",
            last_error_line(&log)
        ),
        partial: None,
    })
}

/// Waits for the master, forwarding an interruption as SIGTERM and enforcing a hard deadline.
fn supervise(
    plan: &LocustPlan,
    master: &mut Child,
    workers: &[Child],
    stop: &CancellationToken,
    files: &OutputFiles,
    start: Instant,
) -> Result<ExitStatus, EngineError> {
    // Locust needs time to start, to wait for workers and to stop users; beyond that it hangs.
    let allowance = Duration::from_secs(60)
        + plan.stop_timeout
        + if plan.workers.is_some() || plan.remote_workers.is_some() {
            plan.workers_max_wait
        } else {
            Duration::ZERO
        };
    let deadline = start + plan.run_time + allowance;
    let mut terminated_at: Option<Instant> = None;
    let mut progress = super::progress::Every::new(start, plan.progress_every);
    loop {
        match master.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(e) => return Err(EngineError::Start(format!("cannot watch Locust: {e}"))),
        }
        let now = Instant::now();
        if stop.is_cancelled() && terminated_at.is_none() {
            signal(master, nix::sys::signal::Signal::SIGTERM);
            for w in workers {
                signal(w, nix::sys::signal::Signal::SIGTERM);
            }
            terminated_at = Some(now);
        }
        let killed_after_term =
            terminated_at.is_some_and(|t| now > t + plan.stop_timeout + Duration::from_secs(10));
        if killed_after_term || now > deadline {
            let _ = master.kill();
            let status = master.wait().ok();
            if killed_after_term {
                return status.ok_or_else(|| EngineError::Start("Locust did not stop".into()));
            }
            return Err(EngineError::Crashed {
                message: format!(
                    "Locust was still running {}s after its run time ended and was killed",
                    allowance.as_secs()
                ),
                partial: None,
            });
        }
        if progress.due(now) {
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
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Finds the locust executable before anything runs, so a missing Locust is one clear error.
pub fn find_bin(bin: &std::path::Path) -> Result<PathBuf, EngineError> {
    let missing = || {
        EngineError::Missing(format!(
            "Locust is not installed (`{}` not found): {INSTALL_HINT}",
            bin.display()
        ))
    };
    if bin.components().count() > 1 {
        return if bin.is_file() {
            Ok(bin.to_path_buf())
        } else {
            Err(missing())
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
        .ok_or_else(missing)
}

/// Checks a locustfile before anything runs.
pub fn check_locustfile(path: &std::path::Path) -> Result<PathBuf, EngineError> {
    if path.extension() != Some(OsStr::new("py")) && !path.is_dir() {
        return Err(EngineError::Config(format!(
            "locustfile {} must be a .py file (or a directory of them)",
            path.display()
        )));
    }
    std::fs::canonicalize(path).map_err(|e| {
        EngineError::Config(format!(
            "cannot read locustfile {}: {e}; check --locustfile",
            path.display()
        ))
    })
}
