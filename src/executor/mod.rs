//! `loadforge-gate executor`: a driver for GitLab Runner's custom executor that turns a
//! dedicated host into a measurement-grade load generator. One job at a time holds the host
//! (prepare takes an exclusive lock, which the job's stages keep alive), the host's quietness is
//! measured before the job starts and handed to the gate (`run.host` in results.json), each
//! script runs in a process group of its own, every group the job creates is recorded, and
//! cleanup leaves nothing behind. All of it lives in a private state directory (`state`).
//!
//! The protocol as GitLab Runner's source implements it (repository `gitlab-org/gitlab-runner`):
//! - `executors/custom/custom.go`: the stages (config, prepare, run once per script, cleanup),
//!   every job variable passed as `CUSTOM_ENV_<name>`, `job_env` added to later driver calls,
//!   `run_exec <script> <stage>` with `step_script` sent as `build_script`, cleanup always run.
//! - `executors/custom/api/config.go`: the JSON `config_exec` prints (`builds_dir`, `cache_dir`,
//!   `builds_dir_is_shared`, `hostname`, `driver.name`/`driver.version`, `job_env`, `shell`).
//! - `executors/custom/api/const.go` and `executors/custom/command/command.go`:
//!   `BUILD_FAILURE_EXIT_CODE` (1) and `SYSTEM_FAILURE_EXIT_CODE` (2) given to every call; any
//!   other exit code is an "unknown failure". On a build failure the Runner reads the first line
//!   of `BUILD_EXIT_CODE_FILE` as the job's exit code (what `allow_failure: exit_codes` sees); a
//!   line that is not an integer makes it a system failure, so only the integer is written.
//! - `helpers/process/job_unix.go`, `killer_unix.go`, `killer.go`: the driver is started as the
//!   leader of its own process group; on a timeout or cancel the Runner sends SIGTERM to that
//!   group, then SIGKILL after `graceful_kill_timeout` (10 min unless config.toml says
//!   otherwise; the Runner does not tell the driver, hence `--term-grace`). Since the job's
//!   scripts run in groups of their own (so the driver can end them as a whole), `run` forwards
//!   the SIGTERM and gives the script's group `--term-grace` to stop, and cleanup ends whatever
//!   a SIGKILLed driver could not: the groups `run` recorded, then whatever else is in the
//!   job's cgroup or carries the job's mark in its environment (`cgroup`, `mark`).
//! - `shells/bash.go` (`BashWriter.Finish`): the generated script traps SIGTERM into `exit 1`,
//!   in its outer shell and in the subshell the job's commands run in, so the shell waits for
//!   the command in the foreground (the gate) before it exits 1.
//! - `common/build.go` (`retryCreateExecutor`), `common/consts.go`: preparing is tried up to
//!   `PreparationRetries` (3) times, `PreparationRetryInterval` (3 s) apart, on any failure but
//!   a build failure; each attempt is a new executor that calls `config_exec` and then
//!   `prepare_exec`, and a failed attempt is followed by `cleanup_exec`. So a busy host is
//!   refused as a system failure, and cleanup must undo whatever a refused prepare left. After
//!   the last attempt the job fails as a runner system failure, which GitLab runs again (on
//!   any runner with the job's tags) only under `retry: when: runner_system_failure`;
//!   cleanup's result does not change the job's (`docs/executors/custom.md`).

mod cgroup;
mod cleanup;
mod config;
mod job;
mod lock;
mod mark;
mod prepare;
mod procs;
mod quiet;
mod run;
mod state;
mod track;

use std::path::PathBuf;

pub(crate) use cleanup::cleanup;
pub(crate) use config::config;
pub(crate) use prepare::{prepare, PrepareOptions};
pub(crate) use run::run;

/// `--term-grace`: how long the job's processes get after a SIGTERM before SIGKILL.
pub(crate) fn parse_grace(text: &str) -> Result<std::time::Duration, ExecutorError> {
    crate::duration::parse_duration(text).map_err(|reason| ExecutorError::Invalid {
        flag: "term-grace",
        value: text.into(),
        reason,
    })
}

/// The variable through which `run` tells the job's `loadforge-gate run` where prepare's
/// findings are; the gate copies them into `run.host`.
pub(crate) const HOST_REPORT_VAR: &str = "LOADFORGE_GATE_HOST_REPORT";
/// The `job_env` entry that carries the directory of this binary to later stages.
pub(crate) const BIN_DIR_VAR: &str = "LOADFORGE_GATE_EXECUTOR_BIN_DIR";
/// The state directory's variable (also the `--state-dir` flag's), carried by `job_env` too.
pub(crate) const STATE_DIR_VAR: &str = "LOADFORGE_GATE_EXECUTOR_DIR";
/// The runner service's variable that turns the jobs' cgroups off (`off`) or leaves them to
/// where the host allows one (`auto`, the default).
pub(crate) const CGROUP_VAR: &str = "LOADFORGE_GATE_EXECUTOR_CGROUP";

/// What a stage ended with, when the driver itself did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The stage did its work (for `run`: the script exited 0).
    Done,
    /// The job's script failed with this exit code: a build failure.
    BuildFailed(i32),
}

/// Everything a stage learns from its environment, read once.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// Where the host lock and the jobs' directories live.
    pub(crate) state_dir: PathBuf,
    /// `CUSTOM_ENV_CI_JOB_ID`: which job the call belongs to.
    pub(crate) job_id: Option<String>,
    /// `BUILD_FAILURE_EXIT_CODE`, 1 when unset (the Runner's value).
    pub(crate) build_failure: u8,
    /// `SYSTEM_FAILURE_EXIT_CODE`, 2 when unset (the Runner's value).
    pub(crate) system_failure: u8,
    /// `BUILD_EXIT_CODE_FILE`, when the Runner provides one.
    pub(crate) exit_code_file: Option<PathBuf>,
    /// [`CGROUP_VAR`], as set.
    pub(crate) cgroup: Option<String>,
}

impl Context {
    /// Reads the protocol's variables through `env` (the process environment in production).
    pub(crate) fn from_env(state_dir: PathBuf, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let code = |name: &str, default: u8| {
            env(name)
                .and_then(|v| v.trim().parse::<u8>().ok())
                .unwrap_or(default)
        };
        Context {
            state_dir,
            job_id: env("CUSTOM_ENV_CI_JOB_ID").filter(|j| !j.trim().is_empty()),
            build_failure: code("BUILD_FAILURE_EXIT_CODE", 1),
            system_failure: code("SYSTEM_FAILURE_EXIT_CODE", 2),
            exit_code_file: env("BUILD_EXIT_CODE_FILE")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            cgroup: env(CGROUP_VAR),
        }
    }

    /// Whether the job gets a cgroup of its own where the host allows one ([`CGROUP_VAR`]).
    pub(crate) fn wants_cgroup(&self) -> Result<bool, ExecutorError> {
        match self.cgroup.as_deref().map(str::trim) {
            None | Some("" | "auto") => Ok(true),
            Some("off") => Ok(false),
            Some(other) => Err(ExecutorError::InvalidVariable {
                name: CGROUP_VAR,
                value: other.into(),
                expected: "`auto` or `off`",
            }),
        }
    }

    /// The job's identity, which prepare, run and cleanup need to find its lock and files.
    pub(crate) fn job(&self) -> Result<job::Job, ExecutorError> {
        let id = self
            .job_id
            .as_deref()
            .ok_or(ExecutorError::MissingVariable {
                name: "CUSTOM_ENV_CI_JOB_ID",
            })?;
        job::Job::new(&self.state_dir, id)
    }

    /// The process exit code for a stage's result, as the Runner reads it. A build failure's
    /// own code goes to `BUILD_EXIT_CODE_FILE` (the integer alone, which the Runner requires);
    /// the driver's own errors are printed and become system failures.
    pub(crate) fn exit_code(&self, result: Result<Outcome, ExecutorError>) -> u8 {
        match result {
            Ok(Outcome::Done) => 0,
            Ok(Outcome::BuildFailed(code)) => {
                if let Some(file) = &self.exit_code_file {
                    if let Err(e) = std::fs::write(file, format!("{code}\n")) {
                        let e = ExecutorError::Io {
                            action: "write the build exit code to",
                            path: file.clone(),
                            source: e,
                        };
                        crate::chain::print(&e);
                        return self.system_failure;
                    }
                }
                self.build_failure
            }
            Err(e) => {
                crate::chain::print(&e);
                self.system_failure
            }
        }
    }
}

/// Why a stage could not do its work: every one is a system failure for the Runner.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecutorError {
    #[error("{name} is not set: `loadforge-gate executor` is meant to be called by GitLab Runner's custom executor")]
    MissingVariable { name: &'static str },
    #[error("invalid {name} `{value}`: expected {expected}")]
    InvalidVariable {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid --{flag} `{value}`: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {}", path.display())]
    Flock {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("the host is still held by job {holder} after waiting {waited}: no second load job may run beside it; a job with `retry: when: [runner_system_failure]` is run again, possibly on another runner")]
    LockTimeout { holder: String, waited: String },
    #[error("the host is too busy to measure on ({reasons}); a job with `retry: when: [runner_system_failure]` is run again, possibly on another runner")]
    TooBusy { reasons: String },
    #[error("the state directory {} {reason}: give --state-dir (LOADFORGE_GATE_EXECUTOR_DIR) a directory of the runner's own user that no one else can write, e.g. `install -d -m 0700 DIR` run as that user", path.display())]
    UnsafeStateDir { path: PathBuf, reason: String },
    #[error("{} is a symbolic link, which the state directory never holds: remove it", path.display())]
    Symlink { path: PathBuf },
    #[error("cannot start bash for {}", script.display())]
    Spawn {
        script: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialise {what}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ExecutorError {
    /// An I/O error on `path` while doing `action` ("read", "create", ...).
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        ExecutorError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::Context;

    #[test]
    fn the_cgroup_variable_says_auto_or_off_and_anything_else_is_named() {
        let with = |value: Option<&str>| {
            let env = |name: &str| {
                (name == super::CGROUP_VAR)
                    .then(|| value.map(String::from))
                    .flatten()
            };
            Context::from_env(PathBuf::from("/s"), &env).wants_cgroup()
        };
        assert!(with(None).unwrap());
        assert!(with(Some("auto")).unwrap());
        assert!(!with(Some("off")).unwrap());
        let err = with(Some("no")).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid LOADFORGE_GATE_EXECUTOR_CGROUP `no`: expected `auto` or `off`"
        );
    }
}
