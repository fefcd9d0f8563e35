//! What a baseline lookup searches for, and why a pipeline it looked at gave none: shared by
//! the lookup ([`super::remote`]) and its diagnosis ([`super::diagnose`]), which import this
//! rather than each other.

/// How many recent successful pipelines of the ref are searched for the job, with a token that
/// may list them, when the latest one did not run it.
pub(super) const RECENT_PIPELINES: usize = 20;

/// What a lookup searches for: the results of job `job` on `base_ref` in `project`.
pub(super) struct Search<'a> {
    pub(super) project: &'a str,
    pub(super) job: &'a str,
    pub(super) base_ref: &'a str,
    pub(super) artifact: &'a str,
    /// This pipeline's tag, when it is a tag pipeline.
    pub(super) tag: Option<&'a str>,
    /// The target's head this merged-results or merge-train pipeline was merged onto
    /// (`CiContext::merged_onto`): its run is the baseline, not the merge base's.
    pub(super) target_head: Option<&'a str>,
}

/// Why a pipeline that was looked at gave no baseline, for the diagnosis.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Miss {
    /// The pipeline did not run the job (or not to the end); `on_base`: it is a pipeline of
    /// the ref the baseline is looked for on (not a previous tag's).
    NotRun { pipeline: u64, on_base: bool },
    /// The job's results are of a run that was not whole (interrupted, aborted, partial).
    Incomplete { pipeline: u64 },
    /// The job ran but its artifact is not there: expired (with the date) or never kept.
    NoArtifact {
        pipeline: u64,
        job: u64,
        expired_at: Option<String>,
    },
    /// The artifact was there but not a results file this version reads.
    Unreadable { pipeline: u64 },
    /// GitLab refused the token (401/403) for the by-ref lookup.
    Refused { status: u16 },
    /// The by-ref lookup's artifact was there but not a results file this version reads.
    UnreadableLatest,
}
