//! One job's place on the host: `<state dir>/jobs/<job id>/`, holding prepare's findings, the
//! process groups its scripts ran in, and its temporary directory. Cleanup removes it all.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use super::ExecutorError;

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

    /// Creates the job's directories (idempotent: prepare may be retried).
    pub(crate) fn create(&self) -> Result<(), ExecutorError> {
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| ExecutorError::io("create", &tmp, e))
    }

    /// Prepare's findings, which the gate reads through `LOADFORGE_GATE_HOST_REPORT`.
    pub(crate) fn host_report(&self) -> PathBuf {
        self.dir.join("host.json")
    }

    /// The job's `TMPDIR`: removed with the job.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn groups_file(&self) -> PathBuf {
        self.dir.join("process-groups")
    }

    /// Records a process group a script of the job runs in, so cleanup can end it even when
    /// the Runner SIGKILLed the driver that started it.
    pub(crate) fn record_group(&self, pgid: i32) -> Result<(), ExecutorError> {
        let path = self.groups_file();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ExecutorError::io("open", &path, e))?;
        writeln!(f, "{pgid}").map_err(|e| ExecutorError::io("write", &path, e))
    }

    /// The process groups recorded so far; none when the job never ran a script.
    pub(crate) fn groups(&self) -> Vec<i32> {
        std::fs::read_to_string(self.groups_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|&g| g > 1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Job;

    #[test]
    fn a_job_id_cannot_leave_the_state_dir() {
        let dir = std::path::Path::new("/state");
        assert!(Job::new(dir, "../../etc").is_err());
        assert!(Job::new(dir, "").is_err());
        assert_eq!(Job::new(dir, "1234").unwrap().dir, dir.join("jobs/1234"));
    }
}
