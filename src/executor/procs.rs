//! Process groups seen through `/proc`: who is in one, which processes descend from the driver,
//! and ending groups, politely first (SIGTERM) and then for certain (SIGKILL).
//!
//! A recorded group is signalled only while it is still the group that was recorded. Its id is
//! its leader's pid, and a pid is used again once the process has gone: so the leader's start
//! time (`/proc/PID/stat` field 22, clock ticks after boot) is recorded beside the id, and
//! compared before any signal. A group whose leader has exited is still the recorded one while
//! it has members (the kernel gives no new process a pid that is some group's id), which is
//! checked too: its members started no earlier than the recorded start.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};

/// What a group is to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupKind {
    /// The group `run` started a script in.
    Script,
    /// A group a script's descendant made for itself (Locust leads its own, `setsid`).
    Spawned,
}

/// A process group a job's script created, as it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) pgid: i32,
    /// The leader's start time; for a group first seen without its leader, the earliest start
    /// among its members.
    pub(crate) start: u64,
    pub(crate) kind: GroupKind,
}

impl Group {
    /// The line of the job's `process-groups` file: `PGID START script|spawned`.
    pub(crate) fn line(&self) -> String {
        let kind = match self.kind {
            GroupKind::Script => "script",
            GroupKind::Spawned => "spawned",
        };
        format!("{} {} {kind}", self.pgid, self.start)
    }

    /// A line of the `process-groups` file; anything else (a bare pgid, a line without its
    /// start time) is no group of the job's.
    pub(crate) fn parse(line: &str) -> Option<Group> {
        let mut f = line.split_whitespace();
        let pgid: i32 = f.next()?.parse().ok()?;
        let start = f.next()?.parse().ok()?;
        let kind = match f.next()? {
            "script" => GroupKind::Script,
            "spawned" => GroupKind::Spawned,
            _ => return None,
        };
        (f.next().is_none() && pgid > 1).then_some(Group { pgid, start, kind })
    }
}

/// The fields of a `/proc/PID/stat` line the driver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    /// Field 22, `starttime`: clock ticks after boot.
    pub(crate) start: u64,
}

/// Parses a `/proc/PID/stat` line. The command name in parentheses may hold spaces and
/// parentheses itself, so fields are counted after its last `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let rest = line.get(line.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the line, so field N is at N - 3.
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// A process's stat, `None` once it has gone.
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The kernel's id of this boot (empty when unreadable): start times count from it.
pub(crate) fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The pid of every process on the host.
pub(crate) fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Every process on the host, zombies included.
fn processes() -> Vec<(i32, Stat)> {
    pids()
        .into_iter()
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect()
}

/// Live members of process group `pgid` (zombies are already dead and are left out), with
/// their start times.
pub(crate) fn members(pgid: i32) -> Vec<(i32, u64)> {
    live_members(&processes(), pgid)
}

fn live_members(all: &[(i32, Stat)], pgid: i32) -> Vec<(i32, u64)> {
    all.iter()
        .filter(|(_, s)| s.pgrp == pgid && s.state != 'Z')
        .map(|(pid, s)| (*pid, s.start))
        .collect()
}

/// The descendants of `root`, through the kernel's `children` lists of every thread (a
/// child subreaper's adopted orphans may hang under any of them); through the whole of
/// `/proc` on a kernel without those lists.
pub(crate) fn descendants(root: i32) -> Vec<(i32, Stat)> {
    if children_of(root).is_none() {
        return descendants_by_scan(root, &processes());
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for child in children_of(pid).unwrap_or_default() {
            if !seen.insert(child) {
                continue;
            }
            if let Some(s) = stat(child) {
                out.push((child, s));
                queue.push(child);
            }
        }
    }
    out
}

/// The children of `pid` from `/proc/PID/task/*/children`; `None` when the kernel has no such
/// lists (or the process is gone).
fn children_of(pid: i32) -> Option<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        any = true;
        out.extend(
            text.split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok()),
        );
    }
    any.then_some(out)
}

fn descendants_by_scan(root: i32, all: &[(i32, Stat)]) -> Vec<(i32, Stat)> {
    let mut by_parent: HashMap<i32, Vec<(i32, Stat)>> = HashMap::new();
    for (pid, s) in all {
        by_parent.entry(s.ppid).or_default().push((*pid, *s));
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for (child, s) in by_parent.remove(&pid).unwrap_or_default() {
            out.push((child, s));
            queue.push(child);
        }
    }
    out
}

/// Whether `g` is still the group that was recorded: its leader, if alive, is the process
/// that was recorded (same start time); without a leader, its members started no earlier.
pub(crate) fn is_recorded(g: &Group) -> bool {
    is_recorded_in(g, stat(g.pgid), || members(g.pgid))
}

fn is_recorded_in(
    g: &Group,
    leader: Option<Stat>,
    members: impl FnOnce() -> Vec<(i32, u64)>,
) -> bool {
    match leader {
        Some(leader) => leader.start == g.start,
        None => members().iter().all(|(_, start)| *start >= g.start),
    }
}

/// Whether anything of the recorded group `g` still runs.
pub(crate) fn is_alive(g: &Group) -> bool {
    is_recorded(g) && !members(g.pgid).is_empty()
}

/// Sends `signal` to every process of group `pgid`; a group that is gone already is fine.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), signal);
    }
}

/// Sends `signal` to `pid` while it is still the live process that started at `start`: a pid
/// the kernel gave to another process since is left alone.
pub(crate) fn signal_process(pid: i32, start: u64, signal: Signal) {
    let same = stat(pid).is_some_and(|s| s.start == start && s.state != 'Z');
    if pid > 1 && same {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

/// Ends the processes `find` names, each with its start time (found anew at every look):
/// SIGTERM, up to `grace` for them to leave, then SIGKILL (and `kill_all`, which may end them
/// all at once) for up to [`KILL_ROUNDS`] looks, in case one started while another ended.
/// Returns the pids still alive.
pub(crate) fn end_found(
    find: &dyn Fn() -> Vec<(i32, u64)>,
    kill_all: &dyn Fn(),
    grace: Duration,
) -> Vec<i32> {
    let found = find();
    if found.is_empty() {
        return Vec::new();
    }
    for &(pid, start) in &found {
        signal_process(pid, start, Signal::SIGTERM);
    }
    if wait_until(|| find().is_empty(), grace) {
        return Vec::new();
    }
    for _ in 0..KILL_ROUNDS {
        let left = find();
        if left.is_empty() {
            return Vec::new();
        }
        kill_all();
        for &(pid, start) in &left {
            signal_process(pid, start, Signal::SIGKILL);
        }
        wait_until(|| find().is_empty(), Duration::from_secs(1));
    }
    find().into_iter().map(|(pid, _)| pid).collect()
}

/// How many times [`end_found`] looks for what is left and SIGKILLs it.
const KILL_ROUNDS: usize = 5;

/// Waits until `done`, looking every 50 ms; false when `within` ran out first.
fn wait_until(done: impl Fn() -> bool, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ends every process of the recorded groups that are still the recorded ones: SIGTERM, up
/// to `grace` for them to leave, then SIGKILL and a short wait until the kernel has removed
/// them. Returns the pids still alive (none unless a process is stuck in the kernel).
pub(crate) fn end_groups(groups: &[Group], grace: Duration) -> Vec<i32> {
    let ours = |gs: &[Group]| -> Vec<i32> {
        gs.iter()
            .filter(|g| is_recorded(g))
            .map(|g| g.pgid)
            .collect()
    };
    let alive = |pgids: &[i32]| -> Vec<i32> {
        let all = processes();
        pgids
            .iter()
            .flat_map(|&g| live_members(&all, g))
            .map(|(pid, _)| pid)
            .collect()
    };
    let pgids = ours(groups);
    if alive(&pgids).is_empty() {
        return Vec::new();
    }
    for &g in &pgids {
        signal_group(g, Signal::SIGTERM);
    }
    if wait_empty(&pgids, grace) {
        return Vec::new();
    }
    // Looked at again: a group that ended during the grace may have lent its id to another.
    let pgids = ours(groups);
    for &g in &pgids {
        signal_group(g, Signal::SIGKILL);
    }
    wait_empty(&pgids, Duration::from_secs(2));
    alive(&pgids)
}

/// Ends a job's groups: its scripts' groups first, which get `grace` (the gate in them stops
/// what it started, Locust included, and writes its reports), then whatever groups are left.
pub(crate) fn end_job(groups: &[Group], grace: Duration, leftovers: Duration) -> Vec<i32> {
    let (scripts, spawned): (Vec<Group>, Vec<Group>) =
        groups.iter().partition(|g| g.kind == GroupKind::Script);
    let mut stuck = end_groups(&scripts, grace);
    stuck.extend(end_groups(&spawned, leftovers));
    stuck
}

/// Waits until no live process is left in any of `pgids`; false when `within` ran out first.
pub(crate) fn wait_empty(pgids: &[i32], within: Duration) -> bool {
    wait_until(
        || {
            let all = processes();
            pgids.iter().all(|&g| live_members(&all, g).is_empty())
        },
        within,
    )
}

#[cfg(test)]
mod tests {
    use std::{os::unix::process::CommandExt, time::Duration};

    use super::{
        descendants_by_scan, end_groups, is_recorded_in, members, parse_stat, stat, Group,
        GroupKind, Stat,
    };

    const LINE: &str = "4242 (a (b) c) S 1 4200 4200 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 98765 0";

    #[test]
    fn the_group_and_start_time_are_read_after_the_last_parenthesis() {
        assert_eq!(
            parse_stat(LINE),
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4200,
                start: 98765
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn a_groups_line_needs_its_start_time() {
        let g = Group {
            pgid: 4200,
            start: 98765,
            kind: GroupKind::Spawned,
        };
        assert_eq!(Group::parse(&g.line()), Some(g));
        assert_eq!(Group::parse("4200"), None, "the old format names no start");
        assert_eq!(Group::parse("1 5 script"), None, "init is no job's group");
        assert_eq!(Group::parse("-5 5 script"), None);
        assert_eq!(Group::parse("42 5 script extra"), None);
    }

    /// A recorded group whose id now belongs to a process that started at another time is
    /// someone else's: it is not signalled.
    #[test]
    fn a_reused_pid_is_not_the_recorded_group() {
        let g = Group {
            pgid: 4200,
            start: 100,
            kind: GroupKind::Script,
        };
        let leader = |start| {
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4200,
                start,
            })
        };
        assert!(is_recorded_in(&g, leader(100), Vec::new));
        assert!(!is_recorded_in(&g, leader(555), Vec::new));
        // Without its leader: the members must be no older than the group.
        assert!(is_recorded_in(&g, None, || vec![(4201, 150)]));
        assert!(!is_recorded_in(&g, None, || vec![(4201, 50)]));
    }

    #[test]
    fn a_group_led_by_another_process_than_recorded_survives_end_groups() {
        let mut victim = std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(victim.id()).unwrap();
        let start = stat(pgid).unwrap().start;
        let wrong = Group {
            pgid,
            start: start + 1,
            kind: GroupKind::Script,
        };
        assert!(end_groups(&[wrong], Duration::ZERO).is_empty());
        assert_eq!(
            members(pgid).len(),
            1,
            "an unrecorded process was signalled"
        );
        let right = Group { start, ..wrong };
        assert!(end_groups(&[right], Duration::from_secs(2)).is_empty());
        let _ = victim.wait();
    }

    #[test]
    fn descendants_are_found_through_their_parents() {
        let s = |ppid| Stat {
            state: 'S',
            ppid,
            pgrp: 1,
            start: 0,
        };
        let all = vec![(10, s(1)), (11, s(10)), (12, s(11)), (13, s(1))];
        let mut found: Vec<i32> = descendants_by_scan(10, &all).iter().map(|p| p.0).collect();
        found.sort();
        assert_eq!(found, [11, 12]);
    }
}
