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
