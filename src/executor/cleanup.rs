//! `cleanup_exec`: ends every process of the job (its scripts' groups, Locust's, whatever its
//! descendants started in groups or sessions of their own, a script whose driver the Runner
//! SIGKILLed and what that script started afterwards), releases the host and removes the job's
//! files. Run again, it finds nothing to do: the Runner calls it whatever happened before.
//!
//! The scripts' groups go first and get `--term-grace`, as `run` gives them after a SIGTERM: a
//! gate that the Runner's kill left running stops its load and writes its reports, and ends
//! Locust's group itself. The groups left after that get a short grace. Only groups still led
//! by the process that was recorded are signalled (see `procs`).
//!
//! Groups are recorded only while a driver lives to see them, so last come the job's processes
//! that no record names: those in the job's cgroup (`cgroup`) and those that carry its mark
//! (`mark`), with the same short grace. The empty cgroup is then removed.

use std::time::Duration;

use super::{
    job::{processes_of, Job},
    lock::HostLock,
    procs, state, Context, ExecutorError, Outcome,
};

/// How long the groups left once the scripts' have ended get between SIGTERM and SIGKILL.
const LEFTOVERS_GRACE: Duration = Duration::from_secs(3);

/// Ends the job's processes, releases the lock, removes the job's directory.
pub(crate) fn cleanup(ctx: &Context, grace: Duration) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let job = ctx.job()?;
    // Groups that cannot be read are not signalled, but the host is still released.
    let groups = job.groups();
    let mut stuck = procs::end_job(
        groups.as_deref().unwrap_or_default(),
        grace,
        LEFTOVERS_GRACE,
    );
    stuck.extend(end_unrecorded(&job));
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

/// Ends the job's processes that no recorded group holds: those in its cgroup and those that
/// carry its mark. Removes the cgroup once it is empty. Returns the pids still alive.
fn end_unrecorded(job: &Job) -> Vec<i32> {
    let warn = |e: &(dyn std::error::Error + 'static)| {
        eprintln!(
            "loadforge-gate executor: warning: {}: processes of job {} that no recorded group holds may be left running",
            crate::chain::one_line(e),
            job.id
        );
    };
    let mark = match job.mark() {
        Ok(Some(mark)) => mark,
        Ok(None) => return Vec::new(),
        Err(e) => {
            warn(&e);
            return Vec::new();
        }
    };
    let cgroup = job.cgroup(&mark).unwrap_or_else(|e| {
        warn(&e);
        None
    });
    let find = || processes_of(&mark, cgroup.as_ref());
    let kill_all = || {
        if let Some(cg) = &cgroup {
            cg.kill();
        }
    };
    let stuck = procs::end_found(&find, &kill_all, LEFTOVERS_GRACE);
    if let Some(cg) = &cgroup {
        if let Err(e) = cg.remove() {
            warn(&e);
        }
    }
    stuck
}
