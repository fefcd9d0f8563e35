//! How quiet the host is, from `/proc` over a short window: CPU steal and iowait from the `cpu`
//! line of `/proc/stat`, other processes' CPU from `/proc/PID/stat` (`utime` + `stime`), the
//! one-minute load average, and `MemAvailable`. Pure parsing is separate from reading, so the
//! arithmetic is tested on fixed text.

use std::{collections::HashMap, time::Duration};

/// Jiffies of the all-CPU line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuTimes {
    pub(crate) total: u64,
    pub(crate) iowait: u64,
    pub(crate) steal: u64,
}

/// Parses the first (`cpu `) line of `/proc/stat`: user nice system idle iowait irq softirq
/// steal [guest guest_nice]. Guest time is already counted in user time, so it is left out of
/// the total.
pub(crate) fn cpu_times(stat: &str) -> Option<CpuTimes> {
    let v = crate::procfs::all_cpus(stat)?;
    Some(CpuTimes {
        total: v.iter().sum(),
        iowait: v[4],
        steal: v[7],
    })
}

/// Logical CPUs: the `cpuN` lines of `/proc/stat`.
pub(crate) fn cpu_count(stat: &str) -> u32 {
    let n = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

pub(crate) use crate::procfs::process_ticks;

/// `MemAvailable` of `/proc/meminfo`, in MiB.
pub(crate) fn mem_available_mib(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// The one-minute load average of `/proc/loadavg`.
pub(crate) fn load_1m(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// One look at the host.
struct Sample {
    cpu: CpuTimes,
    procs: HashMap<i32, (String, u64)>,
}

fn sample(own_pid: i32) -> Sample {
    let cpu = cpu_times(&read("/proc/stat")).unwrap_or_default();
    let mut procs = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != own_pid)
        {
            if let Some(p) = process_ticks(&read(&format!("/proc/{pid}/stat"))) {
                procs.insert(pid, p);
            }
        }
    }
    Sample { cpu, procs }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// What the window showed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Quietness {
    pub(crate) cpus: u32,
    pub(crate) load_1m: f64,
    pub(crate) steal_pct: f64,
    pub(crate) iowait_pct: f64,
    /// Other processes' CPU, in percent of one core.
    pub(crate) other_cpu_pct: f64,
    pub(crate) mem_available_mib: u64,
    /// The busiest other processes: name, pid and percent of one core, busiest first.
    pub(crate) busiest: Vec<(String, i32, f64)>,
}

/// Watches the host for `window` and sums up what it saw. Reading `/proc` cannot fail in a way
/// worth stopping for: a file that cannot be read counts as an idle one.
pub(crate) fn measure(window: Duration) -> Quietness {
    let own = i32::try_from(std::process::id()).unwrap_or(0);
    let stat = read("/proc/stat");
    let before = sample(own);
    std::thread::sleep(window);
    let after = sample(own);
    summarise(&stat, &before, &after)
}

fn summarise(stat: &str, before: &Sample, after: &Sample) -> Quietness {
    let cpus = cpu_count(stat);
    let total = after.cpu.total.saturating_sub(before.cpu.total).max(1) as f64;
    let pct = |a: u64, b: u64| a.saturating_sub(b) as f64 / total * 100.0;
    // Jiffies of one core over the window: all CPUs' jiffies shared out.
    let per_core = total / f64::from(cpus);
    let mut busiest: Vec<(String, i32, f64)> = after
        .procs
        .iter()
        .filter_map(|(pid, (name, ticks))| {
            let was = before.procs.get(pid).map_or(0, |(_, t)| *t);
            let used = ticks.saturating_sub(was);
            (used > 0).then(|| (name.clone(), *pid, used as f64 / per_core * 100.0))
        })
        .collect();
    busiest.sort_by(|a, b| b.2.total_cmp(&a.2));
    // Not `sum()`: the sum of no f64 is -0.0, which prints as "-0 %".
    let other_cpu_pct = busiest.iter().map(|b| b.2).fold(0.0, |a, b| a + b);
    busiest.truncate(3);
    Quietness {
        cpus,
        load_1m: load_1m(&read("/proc/loadavg")).unwrap_or(0.0),
        steal_pct: pct(after.cpu.steal, before.cpu.steal),
        iowait_pct: pct(after.cpu.iowait, before.cpu.iowait),
        other_cpu_pct,
        mem_available_mib: mem_available_mib(&read("/proc/meminfo")).unwrap_or(0),
        busiest,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{
        cpu_count, cpu_times, load_1m, mem_available_mib, process_ticks, summarise, CpuTimes,
        Sample,
    };

    const STAT: &str = "cpu  100 0 50 800 20 0 0 30 5 0\ncpu0 50 0 25 400 10 0 0 15 0 0\ncpu1 50 0 25 400 10 0 0 15 0 0\nintr 1\n";

    #[test]
    fn proc_files_are_read_by_field() {
        assert_eq!(
            cpu_times(STAT),
            Some(CpuTimes {
                total: 1000,
                iowait: 20,
                steal: 30
            })
        );
        assert_eq!(cpu_count(STAT), 2);
        let line = "42 (my (odd) name) R 1 42 42 0 -1 0 0 0 0 0 70 30 0 0 20 0 1 0 5";
        assert_eq!(process_ticks(line), Some(("my (odd) name".into(), 100)));
        assert_eq!(
            mem_available_mib("MemTotal: 1 kB\nMemAvailable:  2048000 kB\n"),
            Some(2000)
        );
        assert_eq!(load_1m("0.52 0.40 0.30 1/100 42"), Some(0.52));
    }

    /// The audit's case: `prepare` printed "-0 % of a core" on a host where no other process
    /// ran in the window.
    #[test]
    fn an_idle_host_reads_0_not_minus_0() {
        let idle = Sample {
            cpu: CpuTimes::default(),
            procs: HashMap::from([(7, ("sleeper".into(), 10))]),
        };
        let q = summarise(STAT, &idle, &idle);
        assert!(q.busiest.is_empty());
        assert_eq!(format!("{:.0}", q.other_cpu_pct), "0");
        assert!(q.other_cpu_pct.is_sign_positive());
    }

    #[test]
    fn other_processes_cpu_is_counted_in_cores() {
        let cpu = |total, steal| CpuTimes {
            total,
            iowait: 0,
            steal,
        };
        let before = Sample {
            cpu: cpu(0, 0),
            procs: HashMap::from([(7, ("burner".into(), 10))]),
        };
        // 200 jiffies on 2 CPUs: 100 per core; the burner used 100 of them, a newcomer 5.
        let after = Sample {
            cpu: cpu(200, 10),
            procs: HashMap::from([(7, ("burner".into(), 110)), (9, ("new".into(), 5))]),
        };
        let q = summarise(STAT, &before, &after);
        assert!((q.other_cpu_pct - 105.0).abs() < 1e-9, "{q:?}");
        assert!((q.steal_pct - 5.0).abs() < 1e-9);
        assert_eq!(q.busiest[0].0, "burner");
    }
}
