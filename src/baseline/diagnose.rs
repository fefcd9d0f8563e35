//! Why a GitLab lookup found no baseline, in one note: what was looked up (job, ref, project,
//! token) and, as far as the token lets GitLab tell, the cause and its fix. "No baseline yet"
//! alone, forever, is how a gate that can never judge a regression looks like a working one.

use super::{
    lister::{Lister, Token},
    search::{Miss, Search, RECENT_PIPELINES},
};
use crate::{
    ci::CiContext,
    gitlab::{self, ApiClient, PipelineFilter},
};

/// Merge-request pipelines whose jobs are read to tell "ran only in merge requests": a few
/// calls at most, on a path that has already failed to find anything.
const MR_PIPELINES_READ: usize = 5;

/// The note for a lookup that found nothing; `lister` is the token that could list pipelines
/// and jobs, if one could (the API token, or the job token where GitLab lets it).
pub(super) fn why_none(
    search: &Search<'_>,
    ci: &CiContext,
    lister: Option<Lister<'_>>,
    misses: &[Miss],
) -> String {
    let token = lister.map_or(Token::Job, |l| l.token).name();
    let tag = search
        .tag
        .map(|t| format!(" (this is tag {t}'s pipeline: a tag compares with the default branch)"))
        .unwrap_or_default();
    let mut text = format!(
        "No baseline yet: no `{}` results on `{}` in project {}{tag}, looked up with {token}; regressions were not checked.",
        search.job, search.base_ref, search.project
    );
    for cause in causes(search, ci, lister.map(|l| l.client), misses) {
        text.push(' ');
        text.push_str(&cause);
    }
    text
}

/// Each cause found, one sentence each; `api` is the client that could list pipelines.
fn causes(
    search: &Search<'_>,
    ci: &CiContext,
    api: Option<&ApiClient>,
    misses: &[Miss],
) -> Vec<String> {
    let mut causes = Vec::new();
    if let Some(status) = misses.iter().find_map(|m| match m {
        Miss::Refused { status } => Some(*status),
        _ => None,
    }) {
        causes.push(refused(search, ci, status));
    } else if ci.is_fork_pipeline() {
        causes.push(format!(
            "This merge request comes from a fork (project {}): the baseline is looked for in the target project {}, whose `{}` runs on `{}` give it.",
            ci.merge_request_source_project_id.as_deref().unwrap_or("?"),
            search.project,
            search.job,
            search.base_ref
        ));
    }
    let Some(api) = api else {
        // Neither token could list pipelines: no API token, and a job token GitLab refuses
        // there (said in its own note) or none.
        causes.push(
            "LOADFORGE_GATE_GITLAB_TOKEN is not set in this pipeline (missing, or a protected variable, which reaches only protected branches and tags): with it the gate looks further back and names the cause. Usual causes: the job runs only in merge-request pipelines or under another name on the target branch, or its artifacts expired.".into(),
        );
        return causes;
    };
    causes.extend(artifact_causes(search, misses));
    if misses.iter().any(|m| matches!(m, Miss::Incomplete { .. })) {
        causes.push(format!(
            "The `{}` runs found on `{}` were not whole (interrupted, aborted or partial), and such a run is never a baseline.",
            search.job, search.base_ref
        ));
    }
    let explained = |m: &Miss| {
        matches!(
            m,
            Miss::NoArtifact { .. }
                | Miss::Unreadable { .. }
                | Miss::UnreadableLatest
                | Miss::Incomplete { .. }
        )
    };
    if !misses.iter().any(explained) {
        causes.push(not_run(search, ci, api, misses));
    }
    causes
}

/// The job token was refused: a fork's, or a project's allowlist.
///
/// A fork's merge-request pipeline runs in the fork with the fork's job token. Another
/// project's job token reads a public or internal project's artifacts without any allowlist
/// while its CI/CD is visible to everyone with access ("Limit job token scope for public or
/// internal projects"); a private project's (or one whose CI/CD is for members only) only when
/// its allowlist admits the fork and the user who triggered the pipeline is a member allowed to
/// read them ("Control job token access to your project"; both doc/ci/jobs/ci_job_token.md).
/// The target's visibility is not known here (`CI_PROJECT_VISIBILITY` is the fork's), so the
/// note names both cases.
fn refused(search: &Search<'_>, ci: &CiContext, status: u16) -> String {
    if ci.is_fork_pipeline() {
        format!(
            "GitLab refused this fork pipeline's job token (HTTP {status}) for project {}. A public or internal project needs no allowlist for its pipelines' artifacts unless its CI/CD visibility is \"Only project members\"; a private project admits a fork's job token only when its job token allowlist (Settings > CI/CD > Job token permissions) lists the fork and the pipeline was triggered by one of its members with at least the Reporter role. Otherwise, run the merge request's pipeline in the target project.",
            search.project
        )
    } else {
        format!(
            "GitLab refused CI_JOB_TOKEN (HTTP {status}) for the artifacts of project {}: check its job token allowlist (Settings > CI/CD > Job token permissions).",
            search.project
        )
    }
}

/// Jobs that ran but left no usable artifact.
fn artifact_causes(search: &Search<'_>, misses: &[Miss]) -> Vec<String> {
    misses
        .iter()
        .filter_map(|m| match m {
            Miss::NoArtifact { pipeline, job, expired_at: Some(at) } => Some(format!(
                "The artifacts of job {job} (pipeline #{pipeline}) expired at {at}: raise `expire_in`, or run `{}` on `{}` more often.",
                search.job, search.base_ref
            )),
            Miss::NoArtifact { pipeline, job, expired_at: None } => Some(format!(
                "Job {job} (pipeline #{pipeline}) kept no `{}`: check its `artifacts: paths` and `--out`.",
                search.artifact
            )),
            _ => None,
        })
        .take(1)
        .collect()
}

/// The job never ran where it was looked for: on no pipeline at all, only in merge-request
/// pipelines, or not under this name.
fn not_run(search: &Search<'_>, ci: &CiContext, api: &ApiClient, misses: &[Miss]) -> String {
    let (job, base_ref) = (search.job, search.base_ref);
    // Each pipeline of the base ref once (the merge base's may be searched twice).
    let looked: std::collections::BTreeSet<u64> = misses
        .iter()
        .filter_map(|m| match m {
            Miss::NotRun {
                pipeline,
                on_base: true,
            } => Some(*pipeline),
            _ => None,
        })
        .collect();
    let looked = looked.len();
    if looked == 0 {
        return format!("`{base_ref}` has no successful pipeline yet.");
    }
    match ran_in_merge_requests(search, ci, api) {
        Some(pipeline) => format!(
            "`{job}` ran only in merge-request pipelines (such as #{pipeline}), which a lookup on `{base_ref}` never sees: run the same job on `{base_ref}` too (the component's default rules do)."
        ),
        None => format!(
            "None of the last {} successful pipelines on `{base_ref}` ran `{job}`: the baseline is the results of a job of the same name on `{base_ref}`, so give this gate a twin there with the same job-prefix, scenario and load.",
            looked.min(RECENT_PIPELINES)
        ),
    }
}

/// A recent merge-request pipeline of the project that ran the job, if any. Errors only cost
/// the finer diagnosis.
fn ran_in_merge_requests(search: &Search<'_>, ci: &CiContext, api: &ApiClient) -> Option<u64> {
    let current = ci
        .pipeline_id
        .as_deref()
        .and_then(|p| p.parse::<u64>().ok());
    let recent = gitlab::pipelines(
        api,
        search.project,
        PipelineFilter::default(),
        RECENT_PIPELINES,
    )
    .ok()?;
    recent
        .iter()
        // This very pipeline runs the job, and proves nothing.
        .filter(|p| p.for_merge_request() && Some(p.id) != current)
        .take(MR_PIPELINES_READ)
        .find(|p| {
            gitlab::pipeline_jobs(api, search.project, p.id)
                .is_ok_and(|jobs| jobs.iter().any(|j| j.name == search.job))
        })
        .map(|p| p.id)
}

/// Whether GitLab's timestamp (`2026-01-02T03:04:05.678Z`) lies in the past; one that does not
/// parse is not taken for past.
pub(super) fn is_past(at: &str) -> bool {
    humantime::parse_rfc3339_weak(at.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(at))
        .is_ok_and(|t| t < std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::is_past;

    #[test]
    fn gitlab_timestamps_are_read_as_past_or_not() {
        assert!(is_past("2020-01-02T03:04:05.678Z"));
        assert!(!is_past("2999-01-02T03:04:05.678Z"));
        assert!(!is_past("yesterday"));
        assert!(!is_past(""));
    }
}
