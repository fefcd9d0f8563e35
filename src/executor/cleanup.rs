//! `cleanup_exec`: ends every process group the job created (its scripts' groups, Locust's,
//! whatever its descendants started in groups or sessions of their own, a script whose driver
//! the Runner SIGKILLed), releases the host and removes the job's files. Run again, it finds
//! nothing to do: the Runner calls it whatever happened before.
//!
//! The scripts' groups go first and get `--term-grace`, as `run` gives them after a SIGTERM: a
//! gate that the Runner's kill left running stops its load and writes its reports, and ends
//! Locust's group itself. The groups left after that get a short grace. Only groups still led
//! by the process that was recorded are signalled (see `procs`).

use std::time::Duration;

use super::{lock::HostLock, procs, state, Context, ExecutorError, Outcome};

/// How long the groups left once the scripts' have ended get between SIGTERM and SIGKILL.
const LEFTOVERS_GRACE: Duration = Duration::from_secs(3);

/// Ends the job's processes, releases the lock, removes the job's directory.
pub(crate) fn cleanup(ctx: &Context, grace: Duration) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let job = ctx.job()?;
    // Groups that cannot be read are not signalled, but the host is still released.
    let groups = job.groups();
    let stuck = procs::end_job(
        groups.as_deref().unwrap_or_default(),
        grace,
        LEFTOVERS_GRACE,
    );
    if !stuck.is_empty() {
        eprintln!(
            "loadforge-gate executor: warning: processes {stuck:?} of job {} survived SIGKILL",
            job.id
        );
    }
    HostLock::new(&ctx.state_dir).release(&job.id)?;
    match std::fs::remove_dir_all(&job.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ExecutorError::io("remove", &job.dir, e)),
    }
    groups.map(|_| Outcome::Done)
}
