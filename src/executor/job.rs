//! One job's place on the host: `<state dir>/jobs/<job id>/`, holding prepare's findings, the
//! process groups its scripts and their descendants created, and its temporary directory.
//! Cleanup removes it all. Every directory is private and no path in it is followed through a
//! symbolic link (see `state`).

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
};

use super::{cgroup::Cgroup, mark::Mark, procs::Group, state, ExecutorError};
use crate::stats::{HostInfo, MAX_FINDINGS_BYTES};

/// The largest `process-groups` file read back: far more groups than any job makes.
const MAX_GROUPS_FILE: usize = 1 << 20;
/// The largest `mark` or `cgroup` file read back: one short line.
const MAX_LINE_FILE: usize = 64 * 1024;

/// A job of the Runner, by its `CI_JOB_ID`.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
}

impl Job {
    /// The job `id` under `state_dir`. The id becomes a path, so only what a GitLab job id
    /// can hold is accepted: anything else could name a directory outside the state dir.
    pub(crate) fn new(state_dir: &Path, id: &str) -> Result<Job, ExecutorError> {
        let id = id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ExecutorError::Invalid {
                flag: "job id (CUSTOM_ENV_CI_JOB_ID)",
                value: id.into(),
                reason: "expected letters, digits and dashes".into(),
            });
        }
        Ok(Job {
            id: id.into(),
            dir: state_dir.join("jobs").join(id),
        })
    }

    /// Creates the job's directories, each private (idempotent: prepare may be retried).
    pub(crate) fn create(&self) -> Result<(), ExecutorError> {
        if let Some(jobs) = self.dir.parent() {
            state::private_dir(jobs)?;
        }
        state::private_dir(&self.dir)?;
        state::private_dir(&self.tmp_dir())
    }

    /// Prepare's findings, which the gate reads through `LOADFORGE_GATE_HOST_REPORT`.
    pub(crate) fn host_report(&self) -> PathBuf {
        self.dir.join("host.json")
    }

    /// Writes prepare's findings.
    pub(crate) fn write_host_report(&self, host: &HostInfo) -> Result<(), ExecutorError> {
        let text = host.to_findings().map_err(|source| ExecutorError::Json {
            what: "the host's findings",
            source,
        })?;
        state::write_atomic(&self.host_report(), text.as_bytes())
    }

    /// The host was not the job's alone for the whole job (its lock was lost or taken over):
    /// its findings say so from now on, and the gate that reads them reports a run that was
    /// not exclusive. True when this changed the findings.
    pub(crate) fn mark_not_exclusive(&self) -> Result<bool, ExecutorError> {
        let path = self.host_report();
        let Some(text) = state::read(&path, MAX_FINDINGS_BYTES)? else {
            return Ok(false);
        };
        let Ok(mut host) = HostInfo::parse_findings(text.as_bytes()) else {
            return Ok(false);
        };
        if !host.exclusive {
            return Ok(false);
        }
        host.exclusive = false;
        self.write_host_report(&host)?;
        Ok(true)
    }

    /// The job's `TMPDIR`: removed with the job.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn groups_file(&self) -> PathBuf {
        self.dir.join("process-groups")
    }

    /// Records a process group of the job, so cleanup can end it even when the Runner
    /// SIGKILLed the driver that started it.
    pub(crate) fn record_group(&self, group: &Group) -> Result<(), ExecutorError> {
        let path = self.groups_file();
        let mut f = state::open(&path, OpenOptions::new().create(true).append(true))?;
        writeln!(f, "{}", group.line()).map_err(|e| ExecutorError::io("write", &path, e))
    }

    /// The job's mark (see `mark`), once its first script stage has made it.
    pub(crate) fn mark(&self) -> Result<Option<Mark>, ExecutorError> {
        let text = state::read(&self.dir.join("mark"), MAX_LINE_FILE)?;
        Ok(text.and_then(|t| Mark::parse(t.trim(), &self.id)))
    }

    /// Records the job's mark, before any process carries it.
    pub(crate) fn record_mark(&self, mark: &Mark) -> Result<(), ExecutorError> {
        state::write_atomic(
            &self.dir.join("mark"),
            format!("{}\n", mark.line()).as_bytes(),
        )
    }

    /// The job's cgroup, when its first script stage made one: the recorded path, if it is
    /// still a cgroup named after `mark`.
    pub(crate) fn cgroup(&self, mark: &Mark) -> Result<Option<Cgroup>, ExecutorError> {
        let text = state::read(&self.dir.join("cgroup"), MAX_LINE_FILE)?;
        let name = Cgroup::name(&mark.value);
        Ok(text.and_then(|t| Cgroup::open(Path::new(t.trim_end_matches('\n')), &name)))
    }

    /// Records the job's cgroup, before any process is moved into it.
    pub(crate) fn record_cgroup(&self, cgroup: &Cgroup) -> Result<(), ExecutorError> {
        let mut line = cgroup.path().as_os_str().as_encoded_bytes().to_vec();
        line.push(b'\n');
        state::write_atomic(&self.dir.join("cgroup"), &line)
    }

    /// Whether a process of the job that its cgroup or its mark finds still runs: one that no
    /// recorded group may hold. Nothing is found where the mark or the cgroup cannot be read.
    pub(crate) fn runs_unrecorded(&self) -> bool {
        let Ok(Some(mark)) = self.mark() else {
            return false;
        };
        let cgroup = self.cgroup(&mark).ok().flatten();
        !processes_of(&mark, cgroup.as_ref()).is_empty()
    }

    /// The process groups recorded so far; none when the job never ran a script. A line that
    /// is not a whole record (pgid, start time, kind) is no group of the job's.
    pub(crate) fn groups(&self) -> Result<Vec<Group>, ExecutorError> {
        let text = state::read(&self.groups_file(), MAX_GROUPS_FILE)?.unwrap_or_default();
        Ok(text.lines().filter_map(Group::parse).collect())
    }
}

/// The live processes of a job found by its cgroup and its mark, each once, with its start
/// time.
pub(crate) fn processes_of(mark: &Mark, cgroup: Option<&Cgroup>) -> Vec<(i32, u64)> {
    let mut found: Vec<(i32, u64)> = cgroup
        .map(Cgroup::members)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|pid| {
            let s = super::procs::stat(pid)?;
            (s.state != 'Z').then_some((pid, s.start))
        })
        .collect();
    found.extend(mark.processes());
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::Job;
    use crate::executor::procs::{Group, GroupKind};

    #[test]
    fn a_job_id_cannot_leave_the_state_dir() {
        let dir = std::path::Path::new("/state");
        assert!(Job::new(dir, "../../etc").is_err());
        assert!(Job::new(dir, "").is_err());
        assert_eq!(Job::new(dir, "1234").unwrap().dir, dir.join("jobs/1234"));
    }

    #[test]
    fn only_whole_group_records_are_read_back() {
        let state = tempfile::tempdir().unwrap();
        let job = Job::new(state.path(), "7").unwrap();
        job.create().unwrap();
        let g = Group {
            pgid: 4242,
            start: 17,
            kind: GroupKind::Script,
        };
        job.record_group(&g).unwrap();
        let file = job.dir.join("process-groups");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("999\n1000 x spawned\n");
        std::fs::write(&file, text).unwrap();
        assert_eq!(job.groups().unwrap(), [g]);
    }
}
