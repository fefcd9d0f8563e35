//! `cleanup_exec`: ends every process group the job's scripts ran in (sample apps, Locust
//! workers, a script whose driver the Runner SIGKILLed), releases the host and removes the
//! job's files. Run again, it finds nothing to do: the Runner calls it whatever happened before.

use std::time::Duration;

use super::{lock::HostLock, procs, Context, ExecutorError, Outcome};

/// How long the job's processes get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Ends the job's processes, releases the lock, removes the job's directory.
pub(crate) fn cleanup(ctx: &Context) -> Result<Outcome, ExecutorError> {
    let job = ctx.job()?;
    let stuck = procs::end_groups(&job.groups(), GRACE);
    if !stuck.is_empty() {
        eprintln!(
            "loadforge-gate executor: warning: processes {stuck:?} of job {} survived SIGKILL",
            job.id
        );
    }
    HostLock::new(&ctx.state_dir).release(&job.id)?;
    match std::fs::remove_dir_all(&job.dir) {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Outcome::Done),
        Err(e) => Err(ExecutorError::io("remove", &job.dir, e)),
    }
}
