//! `run_exec <script> <stage>`: runs one script the Runner generated with bash, in a process
//! group of its own, its output streaming straight to the job log (the driver's stdout and
//! stderr are the log's). A non-zero exit is a build failure whose code goes to
//! `BUILD_EXIT_CODE_FILE`; not being able to run the script is a system failure.
//!
//! While the script runs, every process group its descendants create is recorded and the job's
//! host lock is kept alive (`track`). When the script ends, what it left running, in its group
//! or in those, is ended too: the Runner reads the driver's output until every writer has
//! closed it, so a forgotten background process would hold the stage open for ever.
//!
//! A SIGTERM from the Runner (timeout, cancel) is passed on to the script's group, which then
//! gets `--term-grace` to stop on its own before SIGKILL: a gate stops its load (Locust within
//! its `--stop-timeout`, which it gives a margin too) and writes its partial reports. The grace
//! covers the whole group, not only the script's shell, which may leave first (the Runner's
//! generated script turns SIGTERM into `exit 1` once the gate has exited; older Runners' scripts
//! die at once).

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use nix::sys::{
    resource::{getrlimit, setrlimit, Resource},
    signal::Signal,
};

use super::{
    cgroup::Cgroup,
    job::Job,
    mark::{Mark, MARK_VAR},
    procs::{self, Group, GroupKind},
    state,
    track::{Heartbeat, Tracker, Watch},
    Context, ExecutorError, Outcome, BIN_DIR_VAR, HOST_REPORT_VAR,
};

/// How long what a script left behind gets between SIGTERM and SIGKILL once it has ended.
const LEFTOVERS_GRACE: Duration = Duration::from_secs(1);

/// The protocol's variables, which are the driver's business and not the job's: a script must
/// not write its own exit code file.
const PROTOCOL_VARS: &[&str] = &[
    "BUILD_FAILURE_EXIT_CODE",
    "SYSTEM_FAILURE_EXIT_CODE",
    "BUILD_EXIT_CODE_FILE",
    "JOB_RESPONSE_FILE",
];

/// Runs `script` for `stage`; after a SIGTERM its processes get `grace` to stop.
pub(crate) fn run(
    ctx: &Context,
    script: &Path,
    stage: &str,
    grace: Duration,
) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let job = ctx.job()?;
    job.create()?;
    if !script.is_file() {
        return Err(ExecutorError::io(
            "read the script",
            script,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let wants_cgroup = ctx.wants_cgroup()?;
    raise_open_files();
    adopt_orphans();
    let mark = mark_job(&job, wants_cgroup)?;
    let terminated = watch_sigterm();
    let mut child = script_command(&job, script, stage, &mark)
        .spawn()
        .map_err(|source| ExecutorError::Spawn {
            script: script.to_path_buf(),
            source,
        })?;
    let group = record_script_group(&job, &mut child)?;
    let watch = Watch::start(
        Tracker::new(job.clone(), group),
        Heartbeat::of(&ctx.state_dir, &job),
    );
    let status = wait(&mut child, &group, &terminated, grace, &watch)
        .map_err(|e| ExecutorError::io("wait for the script", script, e));
    // Whatever the script left behind, in its group or in groups its descendants made, ends
    // with it.
    procs::end_groups(&watch.stop(), LEFTOVERS_GRACE);
    Ok(match exit_code(status?) {
        0 => Outcome::Done,
        code => Outcome::BuildFailed(code),
    })
}

/// The job's mark, which its first script stage makes, and the job's cgroup, which that stage
/// makes where the host allows one (and `wants` it) and every stage moves itself into before
/// starting its script. Each is recorded before any process can be in it or carry it, so
/// cleanup finds it even after a SIGKILL.
fn mark_job(job: &Job, wants: bool) -> Result<Mark, ExecutorError> {
    let (mark, cgroup) = match job.mark()? {
        Some(mark) => {
            let cgroup = job.cgroup(&mark)?;
            (mark, cgroup)
        }
        None => {
            let mark = Mark::new(&job.id).ok_or_else(|| {
                ExecutorError::io(
                    "read the start time of the driver in",
                    Path::new("/proc/self/stat"),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })?;
            job.record_mark(&mark)?;
            let cgroup = if wants { new_cgroup(job, &mark)? } else { None };
            (mark, cgroup)
        }
    };
    if let Some(cg) = cgroup {
        if let Err(e) = cg.add(std::process::id()) {
            eprintln!(
                "loadforge-gate executor: warning: {}: cleanup finds this stage's processes by their environment alone",
                crate::chain::one_line(&e)
            );
        }
    }
    Ok(mark)
}

/// A new cgroup for the job, recorded; `None`, said once in the job's log, where the host
/// allows none.
fn new_cgroup(job: &Job, mark: &Mark) -> Result<Option<Cgroup>, ExecutorError> {
    match Cgroup::create(&Cgroup::name(&mark.value)) {
        Ok(cg) => {
            if let Err(e) = job.record_cgroup(&cg) {
                let _ = cg.remove();
                return Err(e);
            }
            Ok(Some(cg))
        }
        Err(e) => {
            eprintln!(
                "loadforge-gate executor: no cgroup of the job's own ({}); cleanup finds the job's processes by their environment",
                crate::chain::one_line(&e)
            );
            Ok(None)
        }
    }
}

/// The script as the stage runs it: bash, leading its own process group, with the job's
/// temporary directory and mark, the gate's binary first on the PATH, the host report named,
/// and none of the Runner's protocol variables.
fn script_command(job: &Job, script: &Path, stage: &str, mark: &Mark) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .process_group(0)
        .stdin(Stdio::null())
        .env("TMPDIR", job.tmp_dir())
        .env(MARK_VAR, &mark.value)
        .env("LOADFORGE_GATE_EXECUTOR_STAGE", stage);
    for var in PROTOCOL_VARS {
        cmd.env_remove(var);
    }
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR) {
        let mut path = vec![std::path::PathBuf::from(dir)];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        if let Ok(joined) = std::env::join_paths(path) {
            cmd.env("PATH", joined);
        }
    }
    let report = job.host_report();
    if report.is_file() {
        cmd.env(HOST_REPORT_VAR, report);
    }
    cmd
}

/// Records the script's process group with its leader's start time, so cleanup can end it
/// (and only it). Unrecorded, the group would escape cleanup: it is ended at once instead.
fn record_script_group(job: &Job, child: &mut std::process::Child) -> Result<Group, ExecutorError> {
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    // The child is not reaped yet, so its stat is there and its pid is its own.
    let recorded = procs::stat(pgid)
        .map(|s| Group {
            pgid,
            start: s.start,
            kind: GroupKind::Script,
        })
        .ok_or_else(|| {
            ExecutorError::io(
                "read the start time of the script in",
                Path::new(&format!("/proc/{pgid}/stat")),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })
        .and_then(|g| job.record_group(&g).map(|()| g));
    if recorded.is_err() {
        procs::signal_group(pgid, Signal::SIGKILL);
        let _ = child.wait();
    }
    recorded
}

/// Waits for the script. On SIGTERM, once every group the job has made is on record, passes
/// it on to the script's group, then waits for the whole group (not only its shell) for up to
/// `grace`, and SIGKILLs what is left.
fn wait(
    child: &mut std::process::Child,
    group: &Group,
    terminated: &AtomicBool,
    grace: Duration,
    watch: &Watch,
) -> std::io::Result<ExitStatus> {
    let mut status = None;
    let mut deadline: Option<Instant> = None;
    let mut killed = false;
    loop {
        if status.is_none() {
            status = child.try_wait()?;
        }
        match deadline {
            None if terminated.load(Ordering::Relaxed) => {
                watch.scan();
                eprintln!(
                    "loadforge-gate executor: terminated; the job's processes get up to {} to stop",
                    crate::duration::format_duration(grace)
                );
                procs::signal_group(group.pgid, Signal::SIGTERM);
                deadline = Some(Instant::now() + grace);
            }
            None => {
                if let Some(s) = status {
                    return Ok(s);
                }
            }
            Some(d) => {
                if let Some(s) = status {
                    if procs::members(group.pgid).is_empty() {
                        return Ok(s);
                    }
                }
                if Instant::now() >= d {
                    if !killed {
                        procs::signal_group(group.pgid, Signal::SIGKILL);
                        killed = true;
                    }
                    if let Some(s) = status {
                        return Ok(s);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(if deadline.is_some() {
            100
        } else {
            20
        }));
    }
}

/// The exit code bash would report: its own, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Sets a flag on SIGTERM instead of dying, so the script's group can be ended first. Returns
/// once the handler is in place, so no early signal finds the default action.
fn watch_sigterm() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("sigterm".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let term = signal(SignalKind::terminate());
                let _ = ready_tx.send(());
                if let Ok(mut term) = term {
                    term.recv().await;
                    set.store(true, Ordering::Relaxed);
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    }
    flag
}

/// Makes this driver a child subreaper: a descendant whose parent exits (a daemon, a
/// `setsid` child) becomes its child instead of init's, so the stage keeps it in view.
fn adopt_orphans() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!(
            "loadforge-gate executor: warning: cannot adopt the job's orphaned processes: {e}"
        );
    }
}

/// Raises this process's soft open-files limit to the hard one; the script and everything it
/// starts inherit it. A load generator holds a socket per user, and the usual soft limit
/// (1024) caps the users long before the machine does.
fn raise_open_files() {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!("loadforge-gate executor: warning: cannot raise the open-files limit to {hard}: {e}");
            }
        }
    }
}

/// The open-files limit the job's scripts will get (the hard limit, which `run` raises to).
pub(crate) fn open_files_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(_, hard)| hard)
}
