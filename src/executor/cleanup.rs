//! `cleanup_exec`: ends every process group the job's scripts ran in (sample apps, Locust
//! workers, a script whose driver the Runner SIGKILLed), releases the host and removes the
//! job's files. Run again, it finds nothing to do: the Runner calls it whatever happened before.
//! Only groups still led by the process that was recorded are signalled (see `procs`).

use std::time::Duration;

use super::{lock::HostLock, procs, state, Context, ExecutorError, Outcome};

/// How long the job's processes get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Ends the job's processes, releases the lock, removes the job's directory.
pub(crate) fn cleanup(ctx: &Context) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let job = ctx.job()?;
    // Groups that cannot be read are not signalled, but the host is still released.
    let groups = job.groups();
    let stuck = procs::end_groups(groups.as_deref().unwrap_or_default(), GRACE);
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
