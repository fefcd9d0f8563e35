//! Process groups seen through `/proc`: who is still in one, and ending them all, politely
//! first (SIGTERM) and then for certain (SIGKILL).

use std::time::{Duration, Instant};

use nix::{sys::signal::Signal, unistd::Pid};

/// Live members of process group `pgid` (zombies are already dead and are left out).
pub(crate) fn members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| stat_group(&s))
                .is_some_and(|(state, group)| group == pgid && state != 'Z')
        })
        .collect()
}

/// The state and process group of a `/proc/PID/stat` line. The command name in parentheses
/// may hold spaces and parentheses itself, so fields are counted after its last `)`.
fn stat_group(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Sends `signal` to every process of group `pgid`; a group that is gone already is fine.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), signal);
    }
}

/// Ends every process of the groups: SIGTERM, up to `grace` for them to leave, then SIGKILL
/// and a short wait until the kernel has removed them. Returns the pids still alive (none
/// unless a process is stuck in the kernel).
pub(crate) fn end_groups(groups: &[i32], grace: Duration) -> Vec<i32> {
    let alive = |gs: &[i32]| gs.iter().flat_map(|&g| members(g)).collect::<Vec<_>>();
    if alive(groups).is_empty() {
        return Vec::new();
    }
    for &g in groups {
        signal_group(g, Signal::SIGTERM);
    }
    if wait_empty(groups, grace) {
        return Vec::new();
    }
    for &g in groups {
        signal_group(g, Signal::SIGKILL);
    }
    wait_empty(groups, Duration::from_secs(2));
    alive(groups)
}

fn wait_empty(groups: &[i32], within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if groups.iter().all(|&g| members(g).is_empty()) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::stat_group;

    #[test]
    fn the_group_is_read_after_the_last_parenthesis() {
        let line = "4242 (a (b) c) S 1 4200 4200 0 -1 4194560 0 0";
        assert_eq!(stat_group(line), Some(('S', 4200)));
        assert_eq!(stat_group("garbage"), None);
    }
}
