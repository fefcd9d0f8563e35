//! How quiet the load generator's host was, as `loadforge-gate executor prepare` measured it
//! before the job started. The executor writes it, the gate copies it into `run.host`, the
//! reports show it: a result from a noisy host can then be told apart from a regression. The
//! file's format is here, writer and readers side by side, so the executor and the gate cannot
//! drift apart.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The host's quietness over prepare's short window: the `run.host` object of results.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HostInfo {
    /// The host's name, so a noisy machine can be found again.
    #[serde(default)]
    pub hostname: String,
    /// Logical CPUs online.
    #[schemars(range(min = 1))]
    pub cpus: u32,
    /// The one-minute load average when the window ended.
    #[schemars(range(min = 0))]
    pub load_1m: f64,
    /// CPU time the hypervisor gave to other guests, percent of all CPU time in the window.
    #[schemars(range(min = 0))]
    pub steal_pct: f64,
    /// CPU time spent waiting for I/O, percent of all CPU time in the window.
    #[schemars(range(min = 0))]
    pub iowait_pct: f64,
    /// CPU used by processes other than the executor's, in percent of one core.
    #[schemars(range(min = 0))]
    pub other_cpu_pct: f64,
    /// Memory available to new processes (`MemAvailable`), in MiB.
    pub mem_available_mib: u64,
    /// The open-files limit the job's processes get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// True when the job held the host's exclusive lock: no other load job ran beside it.
    pub exclusive: bool,
    /// The length of the measuring window, in seconds.
    #[schemars(range(min = 0))]
    pub window_s: f64,
}

/// The largest findings file read back: prepare writes a few hundred bytes, and the gate finds
/// the file's path in its environment, so anything larger is not the executor's.
pub const MAX_FINDINGS_BYTES: usize = 64 * 1024;

/// Why a findings file gave no findings. The gate says it in a note and measures on without
/// them; the messages are the causes' own, since the note already names the file.
#[derive(Debug, thiserror::Error)]
pub enum HostFindingsError {
    /// The file could not be opened or read (it may be gone with its job).
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// The file holds more than [`MAX_FINDINGS_BYTES`]; only that much was read.
    #[error("larger than {MAX_FINDINGS_BYTES} bytes")]
    TooLarge,
    /// The file is not findings as the executor writes them.
    #[error(transparent)]
    NotFindings(#[from] serde_json::Error),
}

impl HostInfo {
    /// The findings file's text, as `executor prepare` writes it.
    pub(crate) fn to_findings(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Findings from a file's bytes (see [`HostInfo::to_findings`]).
    pub(crate) fn parse_findings(bytes: &[u8]) -> Result<HostInfo, HostFindingsError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// Reads the findings file at `path`, at most [`MAX_FINDINGS_BYTES`] of it.
    pub(crate) fn read_findings(path: &Path) -> Result<HostInfo, HostFindingsError> {
        let file = std::fs::File::open(path)?;
        let bytes = crate::capped::read_capped(file, MAX_FINDINGS_BYTES)?
            .ok_or(HostFindingsError::TooLarge)?;
        HostInfo::parse_findings(&bytes)
    }
}

/// Hypervisor steal, in percent of CPU time, from which a host counts as busy.
const BUSY_STEAL_PCT: f64 = 5.0;
/// Other processes' CPU, in percent of one core, from which a host counts as busy.
const BUSY_OTHER_CPU_PCT: f64 = 50.0;
/// I/O wait, in percent of CPU time, from which a host counts as busy.
const BUSY_IOWAIT_PCT: f64 = 20.0;
/// How many hosts the worst of several names.
const NAMED_HOSTS: usize = 5;

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

    /// The worst of several hosts' findings, for a run measured on all of them (a merge of
    /// shards): each figure as the worst host had it (the most steal, I/O wait, other
    /// processes' CPU and load; the fewest CPUs, the least memory and open files, the
    /// shortest window), exclusive only if every host was held exclusively, and every host
    /// named. A part measured without findings (`None`) was on a host no one held: the whole
    /// is not exclusive. `None` when no part has findings.
    pub fn worst<'a>(hosts: impl IntoIterator<Item = Option<&'a HostInfo>>) -> Option<HostInfo> {
        let mut unmeasured = false;
        let mut worst: Option<HostInfo> = None;
        let mut names: Vec<&str> = Vec::new();
        for host in hosts {
            let Some(h) = host else {
                unmeasured = true;
                continue;
            };
            if !h.hostname.is_empty() && !names.contains(&h.hostname.as_str()) {
                names.push(&h.hostname);
            }
            worst = Some(match worst {
                None => h.clone(),
                Some(w) => HostInfo {
                    hostname: String::new(),
                    cpus: w.cpus.min(h.cpus),
                    load_1m: w.load_1m.max(h.load_1m),
                    steal_pct: w.steal_pct.max(h.steal_pct),
                    iowait_pct: w.iowait_pct.max(h.iowait_pct),
                    other_cpu_pct: w.other_cpu_pct.max(h.other_cpu_pct),
                    mem_available_mib: w.mem_available_mib.min(h.mem_available_mib),
                    open_files: match (w.open_files, h.open_files) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    },
                    exclusive: w.exclusive && h.exclusive,
                    window_s: w.window_s.min(h.window_s),
                },
            });
        }
        let mut worst = worst?;
        worst.exclusive &= !unmeasured;
        worst.hostname = names
            .iter()
            .take(NAMED_HOSTS)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > NAMED_HOSTS {
            worst.hostname += &format!(" and {} more", names.len() - NAMED_HOSTS);
        }
        Some(worst)
    }
}

#[cfg(test)]
mod findings_tests {
    use super::*;

    /// What the executor writes, the gate reads back whole; a file that is gone, too large or
    /// not findings is an error whose message says which (the gate puts it in a note).
    #[test]
    fn findings_are_read_as_written_and_a_bad_file_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        let host = busy_tests::quiet();
        std::fs::write(&path, host.to_findings().unwrap()).unwrap();
        assert_eq!(HostInfo::read_findings(&path).unwrap(), host);

        let gone = HostInfo::read_findings(&dir.path().join("gone.json")).unwrap_err();
        assert!(
            matches!(&gone, HostFindingsError::Read(e) if e.kind() == std::io::ErrorKind::NotFound)
        );
        assert_eq!(gone.to_string(), "No such file or directory (os error 2)");

        std::fs::write(&path, vec![b' '; MAX_FINDINGS_BYTES + 1]).unwrap();
        let large = HostInfo::read_findings(&path).unwrap_err();
        assert_eq!(large.to_string(), "larger than 65536 bytes");

        std::fs::write(&path, "not json").unwrap();
        let garbage = HostInfo::read_findings(&path).unwrap_err();
        assert!(matches!(garbage, HostFindingsError::NotFindings(_)));
        assert_eq!(garbage.to_string(), "expected ident at line 1 column 2");
    }
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    pub(super) fn quiet() -> HostInfo {
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

    #[test]
    fn the_worst_of_several_hosts_keeps_each_worst_finding() {
        let stolen = HostInfo {
            hostname: "lg-2".into(),
            steal_pct: 17.0,
            mem_available_mib: 1024,
            ..quiet()
        };
        let shared = HostInfo {
            hostname: "lg-3".into(),
            other_cpu_pct: 80.0,
            exclusive: false,
            ..quiet()
        };
        let w = HostInfo::worst([Some(&quiet()), Some(&stolen), Some(&shared)]).unwrap();
        assert_eq!(w.hostname, "lg-1, lg-2, lg-3");
        assert_eq!((w.steal_pct, w.other_cpu_pct), (17.0, 80.0));
        assert_eq!(w.mem_available_mib, 1024);
        assert!(!w.exclusive);
        assert_eq!(w.busy().len(), 3, "{:?}", w.busy());
        // A part measured on no executor's host: the whole was not held.
        let w = HostInfo::worst([Some(&quiet()), None]).unwrap();
        assert!(!w.exclusive && w.steal_pct == 0.2);
        assert_eq!(HostInfo::worst([None, None]), None);
        assert_eq!(HostInfo::worst([Some(&quiet())]), Some(quiet()));
    }
}
