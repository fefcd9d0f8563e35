//! The job's mark on every process it starts, so that cleanup finds them all, not only the
//! process groups a live driver saw. `run` puts `LOADFORGE_GATE_EXECUTOR_JOB=<mark>` in the
//! environment of each script, and every descendant inherits it: a `setsid` child, a daemon, a
//! group made after the Runner SIGKILLed the driver, which no driver was left to record.
//! Cleanup then reads `/proc/PID/environ` of the processes that may be the job's and ends those
//! that carry the mark.
//!
//! A process counts as the job's only when all of these hold, so no other job's process and
//! nothing of another user is ever hit:
//! - it carries this job's mark, which holds 128 random bits besides the job id: unique per job
//!   even across two runners (two GitLab instances) on one host;
//! - it belongs to the driver's own user (the owner of `/proc/PID`, its effective user);
//! - it started no earlier than the job's first script stage (start time, field 22 of
//!   `/proc/PID/stat`, as the recorded groups are checked), in the same boot.
//!
//! The environment is read up to [`MAX_ENVIRON`] bytes per process, in chunks of
//! [`CHUNK`]: a process whose environment is larger and holds the mark past that is missed. A
//! process that empties its environment (`env -i`) or writes over it (`setproctitle`) loses the
//! mark: the job's cgroup (`cgroup`), where the host allows one, holds it all the same.

use std::{io::Read, os::unix::fs::MetadataExt};

use super::procs;

/// The variable that carries the mark.
pub(crate) const MARK_VAR: &str = "LOADFORGE_GATE_EXECUTOR_JOB";
/// The most of one process's environment searched for the mark: twice the usual limit of
/// arguments and environment together (`ARG_MAX`, 2 MiB with an 8 MiB stack).
pub(crate) const MAX_ENVIRON: u64 = 4 << 20;
/// How much of an environment is held at once while it is searched.
const CHUNK: usize = 64 * 1024;

/// One job's mark, and since when its processes can have carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    /// `<job id>.<32 hex digits>`.
    pub(crate) value: String,
    /// The start time of the driver that made the mark (clock ticks after boot): the job's
    /// processes all started later.
    pub(crate) since: u64,
    /// The kernel's boot id then: after a reboot no process is the job's.
    pub(crate) boot: String,
}

impl Mark {
    /// A new mark for job `job_id`, made by this driver; `None` when `/proc/self/stat` cannot
    /// be read.
    pub(crate) fn new(job_id: &str) -> Option<Mark> {
        let me = i32::try_from(std::process::id()).ok()?;
        Some(Mark {
            value: format!("{job_id}.{:032x}", rand::random::<u128>()),
            since: procs::stat(me)?.start,
            boot: procs::boot_id(),
        })
    }

    /// The line the job's `mark` file holds: `VALUE SINCE BOOT`.
    pub(crate) fn line(&self) -> String {
        format!("{} {} {}", self.value, self.since, self.boot)
    }

    /// A `mark` file's line for job `job_id`; anything else (another job's mark, a value that
    /// is not a mark) is none.
    pub(crate) fn parse(line: &str, job_id: &str) -> Option<Mark> {
        let mut f = line.split_whitespace();
        let value = f.next()?;
        let since = f.next()?.parse().ok()?;
        let boot = f.next().unwrap_or_default().to_string();
        let nonce = value.strip_prefix(job_id)?.strip_prefix('.')?;
        let valid = nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
        (valid && f.next().is_none()).then(|| Mark {
            value: value.to_string(),
            since,
            boot,
        })
    }

    /// The environment entry a marked process holds.
    fn entry(&self) -> String {
        format!("{MARK_VAR}={}", self.value)
    }

    /// The live processes that carry this mark, with their start times (see the module's
    /// rules). None after a reboot.
    pub(crate) fn processes(&self) -> Vec<(i32, u64)> {
        let boot = procs::boot_id();
        if !self.boot.is_empty() && !boot.is_empty() && self.boot != boot {
            return Vec::new();
        }
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        let uid = nix::unistd::geteuid().as_raw();
        let entry = self.entry();
        procs::pids()
            .into_iter()
            .filter(|&pid| pid != me)
            .filter_map(|pid| {
                let s = procs::stat(pid)?;
                (s.state != 'Z' && s.start >= self.since).then_some((pid, s.start))
            })
            .filter(|&(pid, _)| {
                std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid)
            })
            .filter(|&(pid, _)| {
                std::fs::File::open(format!("/proc/{pid}/environ"))
                    .and_then(|f| holds_entry(f, entry.as_bytes(), MAX_ENVIRON, CHUNK))
                    .unwrap_or(false)
            })
            .collect()
    }
}

/// Whether the NUL-separated environment read from `r` holds `entry` whole, as one of its
/// entries, within its first `cap` bytes. At most `chunk` bytes and one entry are held at a
/// time. An environment cut by the cap does not count its last, possibly cut, entry.
fn holds_entry(r: impl Read, entry: &[u8], cap: u64, chunk: usize) -> std::io::Result<bool> {
    let mut needle = Vec::with_capacity(entry.len() + 2);
    needle.push(0);
    needle.extend_from_slice(entry);
    needle.push(0);
    let found = |window: &[u8]| window.windows(needle.len()).any(|w| w == needle.as_slice());
    // The NUL before the first entry, which the kernel does not write.
    let mut window = vec![0u8];
    let mut buf = vec![0u8; chunk.max(1)];
    let mut r = r.take(cap);
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        window.extend_from_slice(&buf[..n]);
        if found(&window) {
            return Ok(true);
        }
        let keep = needle.len() - 1;
        if window.len() > keep {
            window.drain(..window.len() - keep);
        }
    }
    if total >= cap {
        return Ok(false);
    }
    // The last entry's NUL, in case the environment ends without one.
    window.push(0);
    Ok(found(&window))
}

#[cfg(test)]
mod tests {
    use std::{io::Cursor, process::Command};

    use super::{holds_entry, Mark, MARK_VAR};
    use crate::executor::procs;

    const ENTRY: &[u8] = b"LOADFORGE_GATE_EXECUTOR_JOB=7.abc";

    fn holds(env: &[u8], cap: u64, chunk: usize) -> bool {
        holds_entry(Cursor::new(env.to_vec()), ENTRY, cap, chunk).unwrap()
    }

    #[test]
    fn the_mark_is_found_as_a_whole_entry_anywhere_and_across_chunks() {
        let first = [ENTRY, b"\0PATH=/bin\0"].concat();
        let middle = [b"A=1\0".as_slice(), ENTRY, b"\0B=2\0"].concat();
        let last_without_nul = [b"A=1\0".as_slice(), ENTRY].concat();
        for env in [&first, &middle, &last_without_nul] {
            for chunk in [1, 3, 7, 64, 1 << 16] {
                assert!(holds(env, 1 << 20, chunk), "{env:?} in chunks of {chunk}");
            }
        }
        // Another job's mark, or a longer value that begins like this one's, is not it.
        for other in [
            b"LOADFORGE_GATE_EXECUTOR_JOB=7.abcd\0".as_slice(),
            b"LOADFORGE_GATE_EXECUTOR_JOB=8.abc\0",
            b"X_LOADFORGE_GATE_EXECUTOR_JOB=7.abc\0",
            b"",
        ] {
            for chunk in [1, 5, 64] {
                assert!(!holds(other, 1 << 20, chunk), "{other:?}");
            }
        }
    }

    #[test]
    fn only_the_first_cap_bytes_are_searched() {
        let late = [vec![b'x'; 1000], vec![0], ENTRY.to_vec(), vec![0]].concat();
        assert!(holds(&late, 2000, 64));
        assert!(!holds(&late, 1000, 64));
        // Cut inside the entry's value: a cut entry is not the entry.
        let cut = [b"A=1\0".as_slice(), ENTRY, b"def\0"].concat();
        assert!(!holds(&cut, (4 + ENTRY.len()) as u64, 64));
    }

    #[test]
    fn a_marks_line_reads_back_for_its_own_job_only() {
        let mark = Mark {
            value: format!("42.{}", "a".repeat(32)),
            since: 1234,
            boot: "b00t".into(),
        };
        assert_eq!(Mark::parse(&mark.line(), "42"), Some(mark.clone()));
        assert_eq!(Mark::parse(&mark.line(), "4"), None);
        assert_eq!(Mark::parse("42.abc 1234 b00t", "42"), None);
        assert_eq!(Mark::parse(&format!("{} x b00t", mark.value), "42"), None);
        let made = Mark::new("42").unwrap();
        assert!(Mark::parse(&made.line(), "42").is_some(), "{}", made.line());
        assert_ne!(made.value, Mark::new("42").unwrap().value, "unique per job");
    }

    /// A process that carries the mark and started after it is found; one of another job, or
    /// one that started before the job, is not.
    #[test]
    fn marked_processes_are_found_by_mark_and_start_time() {
        let mark = Mark::new("77").unwrap();
        let other = Mark::new("77").unwrap();
        let spawn = |value: &str| {
            Command::new("sleep")
                .arg("30")
                .env(MARK_VAR, value)
                .spawn()
                .unwrap()
        };
        let mut ours = spawn(&mark.value);
        let mut theirs = spawn(&other.value);
        let pid = i32::try_from(ours.id()).unwrap();
        let start = procs::stat(pid).unwrap().start;
        let found = mark.processes();
        let later = Mark {
            since: start + 1,
            ..mark.clone()
        };
        let too_early = later.processes();
        for child in [&mut ours, &mut theirs] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(found, [(pid, start)]);
        assert!(too_early.is_empty(), "{too_early:?}");
    }
}
