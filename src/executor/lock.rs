//! The host's exclusive lock: one load job per host at a time. GitLab Runner starts the driver
//! anew for every stage, so a kernel `flock` taken by prepare would die with it; the lock is
//! therefore an owner record (`host.owner`: the job, when it took the host, its last heartbeat,
//! the boot it was taken in), and `flock` on `host.lock` makes reading and writing that record
//! atomic between drivers. The owning job may take it again (the Runner retries prepare).
//!
//! The lock is held by a live job: every `run` stage beats (refreshes the record) four times per
//! `--lock-stale`, and a holder counts as alive while its heartbeat is fresh or any process
//! group it recorded still runs (checked by leader start time, see `procs`), or any other
//! process of the job (in its cgroup or carrying its mark: a driver SIGKILLed before it could
//! record a group). Only a holder
//! that is neither, or whose host has rebooted since, is taken to be a runner that died: its
//! lock is taken over, and its findings are marked as not exclusive, so a run of its that still
//! reports does not claim the host. A job that finds its lock gone marks its own findings so.

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{job::Job, procs, state, ExecutorError};

/// The largest owner record read back.
const MAX_OWNER: usize = 64 * 1024;

/// Who holds the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Owner {
    job: String,
    /// Seconds since the epoch when the job took the host.
    since: u64,
    /// Milliseconds since the epoch of the holder's last heartbeat (absent in records written
    /// before heartbeats: `since` counts then).
    #[serde(default)]
    beat_ms: u64,
    /// The kernel's boot id when the host was taken: after a reboot nothing of the job runs.
    #[serde(default)]
    boot: String,
    /// How long the holder may go without a heartbeat (it beats four times as often).
    #[serde(default)]
    stale_ms: u64,
}

impl Owner {
    fn new(job: &str, now_ms: u64, stale: Duration) -> Owner {
        Owner {
            job: job.into(),
            since: now_ms / 1000,
            beat_ms: now_ms,
            boot: procs::boot_id(),
            stale_ms: millis(stale),
        }
    }
}

/// The lock of the host whose state lives in `state_dir`.
pub(crate) struct HostLock {
    state_dir: PathBuf,
    guard: PathBuf,
    owner: PathBuf,
}

/// What one attempt to take the host found.
enum Attempt {
    Taken,
    HeldBy(String),
}

/// Whether a holder other than the asking job still uses the host.
enum Life {
    Alive,
    /// Taken to be gone, and why.
    Gone(String),
}

/// What a heartbeat found.
#[derive(Debug, PartialEq)]
pub(crate) enum Beat {
    /// The job still holds the host.
    Held,
    /// The job's lock was taken over by this job, or removed (the job holds it again now).
    Lost(Option<String>),
}

impl HostLock {
    pub(crate) fn new(state_dir: &Path) -> HostLock {
        HostLock {
            state_dir: state_dir.to_path_buf(),
            guard: state_dir.join("host.lock"),
            owner: state_dir.join("host.owner"),
        }
    }

    /// Takes the host for `job`, waiting up to `wait` for another job to release it or to be
    /// found gone (silent for `stale`). Says once in the job log whom it waits for.
    pub(crate) fn acquire(
        &self,
        job: &str,
        wait: Duration,
        stale: Duration,
    ) -> Result<(), ExecutorError> {
        let started = Instant::now();
        let mut announced = false;
        loop {
            match self.attempt(job, stale)? {
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

    fn attempt(&self, job: &str, stale: Duration) -> Result<Attempt, ExecutorError> {
        let _guard = self.guard()?;
        let now = now_ms();
        let mut gone = None;
        if let Some(owner) = self.owner()? {
            if owner.job != job {
                match self.life(&owner, now, stale) {
                    Life::Alive => return Ok(Attempt::HeldBy(owner.job)),
                    Life::Gone(why) => gone = Some((owner.job, why)),
                }
            }
        }
        self.write(&Owner::new(job, now, stale))?;
        if let Some((holder, why)) = gone {
            // A run of the old holder that still reports must not claim the host.
            if let Ok(old) = Job::new(&self.state_dir, &holder) {
                let _ = old.mark_not_exclusive();
            }
            println!(
                "loadforge-gate executor: job {holder} held this host but {why}; taking it over"
            );
        }
        Ok(Attempt::Taken)
    }

    /// Whether `owner` still uses the host: a fresh heartbeat, or a recorded group or another
    /// process of the job (by its cgroup or its mark) still running, in the boot it took the
    /// host in.
    fn life(&self, owner: &Owner, now_ms: u64, stale: Duration) -> Life {
        let boot = procs::boot_id();
        if !owner.boot.is_empty() && !boot.is_empty() && owner.boot != boot {
            return Life::Gone("the host has rebooted since".into());
        }
        let stale_ms = if owner.stale_ms > 0 {
            owner.stale_ms
        } else {
            millis(stale)
        };
        let last = owner.beat_ms.max(owner.since.saturating_mul(1000));
        let silent = now_ms.saturating_sub(last);
        if silent < stale_ms {
            return Life::Alive;
        }
        let running = Job::new(&self.state_dir, &owner.job).is_ok_and(|j| {
            j.groups()
                .is_ok_and(|groups| groups.iter().any(procs::is_alive))
                || j.runs_unrecorded()
        });
        if running {
            return Life::Alive;
        }
        Life::Gone(format!(
            "has shown no sign of life for {} (no heartbeat, none of its processes running)",
            crate::duration::format_duration(Duration::from_secs(silent / 1000))
        ))
    }

    /// A heartbeat of `job`, which keeps its lock from looking abandoned. Finds out, too,
    /// whether the job still holds the host; one that lost it takes it again if it is free.
    pub(crate) fn beat(&self, job: &str, stale: Duration) -> Result<Beat, ExecutorError> {
        let _guard = self.guard()?;
        let now = now_ms();
        match self.owner()? {
            Some(o) if o.job == job => {
                self.write(&Owner { beat_ms: now, ..o })?;
                Ok(Beat::Held)
            }
            Some(o) => Ok(Beat::Lost(Some(o.job))),
            None => {
                self.write(&Owner::new(job, now, stale))?;
                Ok(Beat::Lost(None))
            }
        }
    }

    /// How long `job` may go without a heartbeat, if it holds the host.
    pub(crate) fn stale_of(&self, job: &str) -> Option<Duration> {
        let owner = self.owner().ok().flatten()?;
        (owner.job == job && owner.stale_ms > 0).then(|| Duration::from_millis(owner.stale_ms))
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

    fn write(&self, owner: &Owner) -> Result<(), ExecutorError> {
        let text = serde_json::to_string(owner).map_err(|source| ExecutorError::Json {
            what: "the lock's owner",
            source,
        })?;
        state::write_atomic(&self.owner, text.as_bytes())
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

/// How often a holder with this `stale` beats: four times per period, within reason.
pub(crate) fn beat_interval(stale: Duration) -> Duration {
    (stale / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::{os::unix::process::CommandExt, time::Duration};

    use super::{Beat, HostLock};
    use crate::executor::{
        job::Job,
        mark::{Mark, MARK_VAR},
        procs::{self, Group, GroupKind},
    };

    const STALE: Duration = Duration::from_secs(3600);

    fn plant(dir: &std::path::Path, record: &str) {
        std::fs::write(dir.join("host.owner"), record).unwrap();
    }

    #[test]
    fn one_job_holds_the_host_and_the_next_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HostLock::new(dir.path());
        lock.acquire("1", Duration::ZERO, STALE).unwrap();
        // The same job again (the Runner retries prepare) is fine.
        lock.acquire("1", Duration::ZERO, STALE).unwrap();
        let err = lock
            .acquire("2", Duration::from_millis(150), STALE)
            .unwrap_err();
        assert!(err.to_string().contains("held by job 1"), "{err}");
        // Another job's release does not free it; the owner's does, twice without harm.
        lock.release("2").unwrap();
        assert!(lock.held_by("1"));
        lock.release("1").unwrap();
        lock.release("1").unwrap();
        lock.acquire("2", Duration::ZERO, STALE).unwrap();
    }

    #[test]
    fn a_silent_holder_with_nothing_running_is_taken_over_and_its_findings_marked() {
        let dir = tempfile::tempdir().unwrap();
        let old = Job::new(dir.path(), "7").unwrap();
        old.create().unwrap();
        let host = r#"{"hostname": "lg-1", "cpus": 2, "load_1m": 0.1, "steal_pct": 0.0,
            "iowait_pct": 0.0, "other_cpu_pct": 1.0, "mem_available_mib": 2048,
            "exclusive": true, "window_s": 1.0}"#;
        std::fs::write(old.host_report(), host).unwrap();
        let lock = HostLock::new(dir.path());
        // A record as a gate before heartbeats wrote it, long ago.
        plant(dir.path(), r#"{"job":"7","since":1}"#);
        lock.acquire("8", Duration::ZERO, STALE).unwrap();
        assert!(lock.held_by("8"));
        let marked = std::fs::read_to_string(old.host_report()).unwrap();
        assert!(marked.contains("\"exclusive\": false"), "{marked}");
        // Rebooted since: gone whatever its heartbeat says.
        let now = super::now_ms();
        plant(
            dir.path(),
            &format!(
                r#"{{"job":"9","since":{},"beat_ms":{now},"boot":"another boot"}}"#,
                now / 1000
            ),
        );
        lock.acquire("8", Duration::ZERO, STALE).unwrap();
        assert!(lock.held_by("8"));
    }

    #[test]
    fn a_holder_with_a_fresh_heartbeat_or_a_running_group_keeps_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HostLock::new(dir.path());
        lock.acquire("1", Duration::ZERO, Duration::from_secs(1))
            .unwrap();
        assert!(lock.acquire("2", Duration::ZERO, STALE).is_err());
        // Silent past its stale period, but a process of its runs.
        std::thread::sleep(Duration::from_millis(1100));
        let job = Job::new(dir.path(), "1").unwrap();
        job.create().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(child.id()).unwrap();
        let group = Group {
            pgid,
            start: procs::stat(pgid).unwrap().start,
            kind: GroupKind::Script,
        };
        job.record_group(&group).unwrap();
        assert!(lock.acquire("2", Duration::ZERO, STALE).is_err());
        // Its heartbeat says it holds the host; once its process is gone, it is gone.
        assert_eq!(lock.beat("1", Duration::from_secs(1)).unwrap(), Beat::Held);
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(1100));
        lock.acquire("2", Duration::ZERO, STALE).unwrap();
        assert_eq!(
            lock.beat("1", Duration::from_secs(1)).unwrap(),
            Beat::Lost(Some("2".into()))
        );
    }

    /// A holder whose driver died before it recorded a group keeps the host while a process
    /// carrying its mark runs.
    #[test]
    fn a_holder_with_a_marked_process_running_keeps_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let lock = HostLock::new(dir.path());
        lock.acquire("3", Duration::ZERO, Duration::from_secs(1))
            .unwrap();
        let job = Job::new(dir.path(), "3").unwrap();
        job.create().unwrap();
        let mark = Mark::new("3").unwrap();
        job.record_mark(&mark).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("300")
            .env(MARK_VAR, &mark.value)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let kept = lock.acquire("4", Duration::ZERO, STALE).is_err();
        let _ = child.kill();
        let _ = child.wait();
        assert!(kept, "the host was taken while the job's process ran");
        lock.acquire("4", Duration::ZERO, STALE).unwrap();
    }
}
