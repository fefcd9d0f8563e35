//! What a `run` stage watches while its script runs, from a thread of its own:
//!
//! - every process group the script's descendants create is recorded in the job's
//!   `process-groups` file (with its leader's start time), so that the stage's end and `cleanup`
//!   can end it even after the Runner SIGKILLed this driver: Locust leads a group of its own,
//!   and a locustfile may start processes in new sessions. The driver is a child subreaper, so
//!   a descendant whose parent exits is adopted by it instead of by init and stays in view; it
//!   looks a few times a second through the kernel's `children` lists, a handful of small
//!   files, which costs the host next to nothing while it measures (a kernel built without
//!   them, `CONFIG_PROC_CHILDREN`, costs a read of every `/proc/PID/stat` instead);
//! - the job's hold on the host: a heartbeat keeps its lock from looking abandoned, and a lock
//!   found lost marks the job's findings as not exclusive (see `lock`).

use std::{
    collections::HashSet,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use nix::{
    sys::wait::{waitpid, WaitPidFlag},
    unistd::Pid,
};

use super::{
    job::Job,
    lock::{beat_interval, Beat, HostLock},
    procs::{self, Group, GroupKind},
};

/// How often the stage looks for new process groups.
const TICK: Duration = Duration::from_millis(200);
/// The heartbeat's period when the lock's record names none: `--lock-stale`'s default.
const FALLBACK_STALE: Duration = Duration::from_secs(120);

/// The process groups of one stage.
pub(crate) struct Tracker {
    me: i32,
    /// The driver's own group, which the Runner made: never the job's to end.
    own_group: i32,
    script: Group,
    job: Job,
    known: HashSet<i32>,
    /// The groups this stage recorded, its script's first.
    stage: Vec<Group>,
}

impl Tracker {
    /// Tracks the descendants of this process, whose script runs in `script` (recorded
    /// already).
    pub(crate) fn new(job: Job, script: Group) -> Tracker {
        Tracker {
            me: i32::try_from(std::process::id()).unwrap_or(0),
            own_group: nix::unistd::getpgrp().as_raw(),
            script,
            job,
            known: HashSet::from([script.pgid]),
            stage: vec![script],
        }
    }

    /// Records the groups that appeared since the last look, and reaps adopted orphans that
    /// have exited (the script itself is reaped by the stage).
    pub(crate) fn scan(&mut self) {
        let tree = procs::descendants(self.me);
        for (pid, s) in &tree {
            if s.ppid == self.me && s.state == 'Z' && *pid != self.script.pgid {
                let _ = waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG));
            }
        }
        let mut found = Vec::new();
        for (_, s) in tree.iter().filter(|(_, s)| s.state != 'Z') {
            let g = s.pgrp;
            if g <= 1 || g == self.own_group || self.known.contains(&g) {
                continue;
            }
            let start = match tree.iter().find(|(pid, _)| *pid == g) {
                Some((_, leader)) => leader.start,
                // A live leader outside the tree leads another's group, which a descendant
                // joined: not the job's to end.
                None if procs::stat(g).is_some() => continue,
                // The leader has gone: its members hold the id; the earliest of them stands in.
                None => tree
                    .iter()
                    .filter(|(_, m)| m.pgrp == g)
                    .map(|(_, m)| m.start)
                    .min()
                    .unwrap_or(s.start),
            };
            self.known.insert(g);
            found.push(Group {
                pgid: g,
                start,
                kind: GroupKind::Spawned,
            });
        }
        for group in found {
            if let Err(e) = self.job.record_group(&group) {
                eprintln!(
                    "loadforge-gate executor: warning: {}: process group {} ends with this stage, but cleanup will not know it",
                    crate::chain::one_line(&e),
                    group.pgid
                );
            }
            self.stage.push(group);
        }
    }
}

/// The job's heartbeat on the host lock, for a job that prepare gave the host.
pub(crate) struct Heartbeat {
    lock: HostLock,
    stale: Duration,
    next: Instant,
}

impl Heartbeat {
    /// The heartbeat of `job`, when prepare took the host for it (its findings exist).
    pub(crate) fn of(state_dir: &Path, job: &Job) -> Option<Heartbeat> {
        if !job.host_report().is_file() {
            return None;
        }
        let lock = HostLock::new(state_dir);
        let stale = lock.stale_of(&job.id).unwrap_or(FALLBACK_STALE);
        Some(Heartbeat {
            lock,
            stale,
            next: Instant::now(),
        })
    }

    /// Beats when due; a lost lock marks the job's findings as not exclusive, once.
    fn tick(&mut self, job: &Job) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + beat_interval(self.stale);
        let lost = match self.lock.beat(&job.id, self.stale) {
            Ok(Beat::Held) => return,
            Ok(Beat::Lost(Some(holder))) => format!("job {holder} took this host's lock"),
            Ok(Beat::Lost(None)) => "this host's lock was released under it".to_string(),
            Err(e) => {
                eprintln!(
                    "loadforge-gate executor: warning: cannot refresh the host lock: {}",
                    crate::chain::one_line(&e)
                );
                return;
            }
        };
        match job.mark_not_exclusive() {
            Ok(true) => eprintln!(
                "loadforge-gate executor: warning: {lost}: this job's results are marked as not exclusive (another load job may have run beside it)"
            ),
            Ok(false) => {}
            Err(e) => eprintln!(
                "loadforge-gate executor: warning: {lost}, and the host findings cannot say so: {}",
                crate::chain::one_line(&e)
            ),
        }
    }
}

/// The watching thread of one stage.
pub(crate) struct Watch {
    tracker: Arc<Mutex<Tracker>>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching; a thread that cannot start leaves the stage with its script's group
    /// alone, which is what the stage ends and cleanup knows in any case.
    pub(crate) fn start(tracker: Tracker, heartbeat: Option<Heartbeat>) -> Watch {
        let job = tracker.job.clone();
        let tracker = Arc::new(Mutex::new(tracker));
        let done = Arc::new(AtomicBool::new(false));
        let (t, d) = (tracker.clone(), done.clone());
        let mut heartbeat = heartbeat;
        let thread = std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || {
                while !d.load(Ordering::Relaxed) {
                    t.lock().unwrap_or_else(PoisonError::into_inner).scan();
                    if let Some(h) = heartbeat.as_mut() {
                        h.tick(&job);
                    }
                    std::thread::sleep(TICK);
                }
            });
        if let Err(e) = &thread {
            eprintln!("loadforge-gate executor: warning: cannot watch the job's processes: {e}");
        }
        Watch {
            tracker,
            done,
            thread: thread.ok(),
        }
    }

    /// Looks for new groups now.
    pub(crate) fn scan(&self) {
        self.tracker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .scan();
    }

    /// Stops watching, after a last look; the stage's groups, its script's first.
    pub(crate) fn stop(mut self) -> Vec<Group> {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        tracker.scan();
        std::mem::take(&mut tracker.stage)
    }
}
