//! The host's exclusive lock: one load job per host at a time. GitLab Runner starts the driver
//! anew for every stage, so a kernel `flock` taken by prepare would die with it; the lock is
//! therefore an owner record (`host.owner`: the job and when it took the host), and `flock` on
//! `host.lock` makes reading and writing that record atomic between drivers. The owning job may
//! take it again (the Runner retries prepare); a record older than the TTL is taken to be left
//! by a runner that died before its cleanup, and is broken.

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{state, ExecutorError};

/// The largest owner record read back.
const MAX_OWNER: usize = 64 * 1024;

/// Who holds the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Owner {
    job: String,
    /// Seconds since the epoch when the job took the host.
    since: u64,
}

/// The lock of the host whose state lives in `state_dir`.
pub(crate) struct HostLock {
    guard: PathBuf,
    owner: PathBuf,
}

/// What one attempt to take the host found.
enum Attempt {
    Taken,
    HeldBy(String),
}

impl HostLock {
    pub(crate) fn new(state_dir: &Path) -> HostLock {
        HostLock {
            guard: state_dir.join("host.lock"),
            owner: state_dir.join("host.owner"),
        }
    }

    /// Takes the host for `job`, waiting up to `wait` for another job to release it. Says once
    /// in the job log whom it waits for.
    pub(crate) fn acquire(
        &self,
        job: &str,
        wait: Duration,
        ttl: Duration,
    ) -> Result<(), ExecutorError> {
        let started = Instant::now();
        let mut announced = false;
        loop {
            match self.attempt(job, ttl)? {
                Attempt::Taken => return Ok(()),
                Attempt::HeldBy(holder) if started.elapsed() >= wait => {
                    return Err(ExecutorError::LockTimeout {
                        holder,
                        waited: crate::duration::format_duration(wait),
                    })
                }
                Attempt::HeldBy(holder) => {
                    if !announced {
                        println!(
                            "loadforge-gate executor: job {holder} holds this host; waiting up to {} for it",
                            crate::duration::format_duration(wait)
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    fn attempt(&self, job: &str, ttl: Duration) -> Result<Attempt, ExecutorError> {
        let _guard = self.guard()?;
        let now = now_s();
        if let Some(owner) = self.owner()? {
            let stale = now.saturating_sub(owner.since) > ttl.as_secs();
            if owner.job != job && !stale {
                return Ok(Attempt::HeldBy(owner.job));
            }
        }
        let record = Owner {
            job: job.into(),
            since: now,
        };
        let text = serde_json::to_string(&record).map_err(|source| ExecutorError::Json {
            what: "the lock's owner",
            source,
        })?;
        state::write_atomic(&self.owner, text.as_bytes())?;
        Ok(Attempt::Taken)
    }

    /// Releases the host if `job` holds it; idempotent, and never takes it from another job.
    pub(crate) fn release(&self, job: &str) -> Result<(), ExecutorError> {
        if std::fs::symlink_metadata(&self.guard).is_err() {
            return Ok(());
        }
        let _guard = self.guard()?;
        if self.owner()?.is_some_and(|o| o.job == job) {
            std::fs::remove_file(&self.owner)
                .map_err(|e| ExecutorError::io("remove", &self.owner, e))?;
        }
        Ok(())
    }

    /// True when `job` holds the host now.
    pub(crate) fn held_by(&self, job: &str) -> bool {
        self.owner().ok().flatten().is_some_and(|o| o.job == job)
    }

    /// The record; `None` when there is none or it is not one (a torn or foreign file is no
    /// holder). A symbolic link in its place is an error.
    fn owner(&self) -> Result<Option<Owner>, ExecutorError> {
        let text = state::read(&self.owner, MAX_OWNER)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The short critical section around the owner record; released when dropped.
    fn guard(&self) -> Result<Flock<File>, ExecutorError> {
        let file = state::open(
            &self.guard,
            OpenOptions::new().create(true).truncate(false).write(true),
        )?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| ExecutorError::Flock {
            path: self.guard.clone(),
            source,
        })
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::HostLock;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn one_job_holds_the_host_and_the_next_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HostLock::new(dir.path());
        lock.acquire("1", Duration::ZERO, TTL).unwrap();
        // The same job again (the Runner retries prepare) is fine.
        lock.acquire("1", Duration::ZERO, TTL).unwrap();
        let err = lock
            .acquire("2", Duration::from_millis(150), TTL)
            .unwrap_err();
        assert!(err.to_string().contains("held by job 1"), "{err}");
        // Another job's release does not free it; the owner's does, twice without harm.
        lock.release("2").unwrap();
        assert!(lock.held_by("1"));
        lock.release("1").unwrap();
        lock.release("1").unwrap();
        lock.acquire("2", Duration::ZERO, TTL).unwrap();
    }

    #[test]
    fn a_lock_older_than_its_ttl_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HostLock::new(dir.path());
        std::fs::write(dir.path().join("host.owner"), r#"{"job":"7","since":1}"#).unwrap();
        lock.acquire("8", Duration::ZERO, TTL).unwrap();
        assert!(lock.held_by("8"));
    }
}
