//! How quiet the load generator's host was, as `loadforge-gate executor prepare` measured it
//! before the job started. The executor writes it, the gate copies it into `run.host`, the
//! reports show it: a result from a noisy host can then be told apart from a regression.

use serde::{Deserialize, Serialize};

/// The host's quietness over prepare's short window: the `run.host` object of results.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// The host's name, so a noisy machine can be found again.
    #[serde(default)]
    pub hostname: String,
    /// Logical CPUs online.
    pub cpus: u32,
    /// The one-minute load average when the window ended.
    pub load_1m: f64,
    /// CPU time the hypervisor gave to other guests, percent of all CPU time in the window.
    pub steal_pct: f64,
    /// CPU time spent waiting for I/O, percent of all CPU time in the window.
    pub iowait_pct: f64,
    /// CPU used by processes other than the executor's, in percent of one core.
    pub other_cpu_pct: f64,
    /// Memory available to new processes (`MemAvailable`), in MiB.
    pub mem_available_mib: u64,
    /// The open-files limit the job's processes get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// True when the job held the host's exclusive lock: no other load job ran beside it.
    pub exclusive: bool,
    /// The length of the measuring window, in seconds.
    pub window_s: f64,
}

/// Hypervisor steal, in percent of CPU time, from which a host counts as busy.
const BUSY_STEAL_PCT: f64 = 5.0;
/// Other processes' CPU, in percent of one core, from which a host counts as busy.
const BUSY_OTHER_CPU_PCT: f64 = 50.0;
/// I/O wait, in percent of CPU time, from which a host counts as busy.
const BUSY_IOWAIT_PCT: f64 = 20.0;

impl HostInfo {
    /// What made the host noisy, if anything: each a short phrase (`17.0 % CPU steal`). A run
    /// measured there is flagged, so a regression is not taken at face value.
    pub fn busy(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.steal_pct >= BUSY_STEAL_PCT {
            why.push(format!("{:.1} % CPU steal", self.steal_pct));
        }
        if self.other_cpu_pct >= BUSY_OTHER_CPU_PCT {
            why.push(format!(
                "other processes using {:.0} % of a core",
                self.other_cpu_pct
            ));
        }
        if self.iowait_pct >= BUSY_IOWAIT_PCT {
            why.push(format!("{:.1} % I/O wait", self.iowait_pct));
        }
        if !self.exclusive {
            why.push("no exclusive lock (another load job may have run beside it)".into());
        }
        why
    }
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    fn quiet() -> HostInfo {
        HostInfo {
            hostname: "lg-1".into(),
            cpus: 4,
            load_1m: 0.1,
            steal_pct: 0.2,
            iowait_pct: 0.5,
            other_cpu_pct: 3.0,
            mem_available_mib: 4096,
            open_files: Some(65536),
            exclusive: true,
            window_s: 2.0,
        }
    }

    #[test]
    fn a_quiet_host_is_not_flagged_and_a_noisy_one_says_why() {
        assert!(quiet().busy().is_empty());
        let noisy = HostInfo {
            steal_pct: 17.0,
            other_cpu_pct: 80.0,
            exclusive: false,
            ..quiet()
        };
        let why = noisy.busy();
        assert_eq!(why.len(), 3, "{why:?}");
        assert_eq!(why[0], "17.0 % CPU steal");
    }
}
