//! The previous pipeline's `results.json`, fetched from GitLab.
//!
//! With only `CI_JOB_TOKEN`: the artifact of this job in the latest successful pipeline of the
//! merge request's target branch (or of this branch), through the artifacts-by-ref endpoint.
//! With an API token: the target branch's pipeline at the merge base first (the rule GitLab's
//! own merge-request widgets use), then the latest successful one; plus the last few successful
//! runs, whose spread is the noise band for regression checks.

use std::path::Path;

use super::parse_results;
use crate::{
    ci::CiContext,
    gitlab::{self, ApiClient, GitlabError},
    stats::RunResult,
};

/// A baseline, wherever it came from (a file or a previous pipeline).
#[derive(Debug)]
pub struct Previous {
    /// Human description: which file or pipeline the baseline comes from.
    pub source: String,
    pub result: RunResult,
    /// Earlier successful runs (newest first), for the noise band; may be empty.
    pub history: Vec<RunResult>,
}

/// What a lookup found besides the baseline, for the report's notes.
#[derive(Debug, Default)]
pub struct Lookup {
    pub baseline: Option<Previous>,
    pub notes: Vec<String>,
}

/// Finds the baseline. `job_client` authenticates with the job token, `api_client` (if any)
/// with an API token; `artifact` is the path of results.json inside the job's artifacts.
pub fn find_previous(
    ci: &CiContext,
    job_client: Option<&ApiClient>,
    api_client: Option<&ApiClient>,
    artifact: &str,
    history: usize,
) -> Result<Lookup, GitlabError> {
    let mut lookup = Lookup::default();
    let (Some(project), Some(job)) = (ci.project_id.as_deref(), ci.job_name.as_deref()) else {
        lookup
            .notes
            .push("No baseline: CI_PROJECT_ID or CI_JOB_NAME is not set.".into());
        return Ok(lookup);
    };
    let base_ref = ci
        .merge_request_target_branch
        .as_deref()
        .or(ci.ref_name.as_deref());
    let Some(base_ref) = base_ref else {
        lookup
            .notes
            .push("No baseline: no branch to compare with (CI_COMMIT_REF_NAME is not set).".into());
        return Ok(lookup);
    };

    if let Some(api) = api_client {
        if let (Some(_), Some(sha)) = (
            &ci.merge_request_target_branch,
            ci.merge_request_diff_base_sha.as_deref(),
        ) {
            for p in gitlab::pipelines(api, project, base_ref, Some(sha), false, 5)? {
                if let Some(r) =
                    from_pipeline(api, project, p.id, job, artifact, &mut lookup.notes)?
                {
                    lookup.baseline = Some(Previous {
                        source: format!(
                            "pipeline #{} on {base_ref} at the merge base {}",
                            p.id,
                            &sha[..sha.len().min(8)]
                        ),
                        result: r,
                        history: Vec::new(),
                    });
                    break;
                }
            }
        }
    }

    if lookup.baseline.is_none() {
        let client = job_client.or(api_client);
        if let Some(c) = client {
            if let Some(bytes) = gitlab::artifact_by_ref(c, project, base_ref, job, artifact)? {
                if let Some(r) = decode(
                    &bytes,
                    &format!("the latest successful `{job}` on `{base_ref}`"),
                    &mut lookup.notes,
                ) {
                    lookup.baseline = Some(Previous {
                        source: format!("the latest successful pipeline on {base_ref}"),
                        result: r,
                        history: Vec::new(),
                    });
                }
            }
        }
    }

    match (&mut lookup.baseline, api_client) {
        (Some(b), Some(api)) if history > 0 => {
            let current = ci.pipeline_id.as_deref().and_then(|p| p.parse::<u64>().ok());
            for p in gitlab::pipelines(api, project, base_ref, None, true, history + 1)? {
                if Some(p.id) == current {
                    continue;
                }
                if let Some(r) = from_pipeline(api, project, p.id, job, artifact, &mut lookup.notes)? {
                    // The baseline's own pipeline is usually among the recent successful ones.
                    if r.run.started_at != b.result.run.started_at {
                        b.history.push(r);
                    }
                }
                if b.history.len() >= history {
                    break;
                }
            }
        }
        (None, _) => lookup.notes.push(format!(
            "No baseline yet: no earlier `{job}` results on `{base_ref}`; regressions were not checked."
        )),
        _ => {}
    }
    Ok(lookup)
}

/// The results of job `job` in one pipeline, if it ran there and kept them.
fn from_pipeline(
    api: &ApiClient,
    project: &str,
    pipeline: u64,
    job: &str,
    artifact: &str,
    notes: &mut Vec<String>,
) -> Result<Option<RunResult>, GitlabError> {
    let jobs = gitlab::pipeline_jobs(api, project, pipeline)?;
    // A failed gate still wrote results.json (artifacts: when: always), and it is still the
    // truth about that commit's performance.
    let Some(j) = jobs
        .iter()
        .find(|j| j.name == job && matches!(j.status.as_str(), "success" | "failed"))
    else {
        return Ok(None);
    };
    match gitlab::job_artifact(api, project, j.id, artifact)? {
        Some(bytes) => Ok(decode(
            &bytes,
            &format!("job {} of pipeline #{pipeline}", j.id),
            notes,
        )),
        None => Ok(None),
    }
}

/// A baseline from another schema version is not misread: it is skipped with a note.
fn decode(bytes: &[u8], origin: &str, notes: &mut Vec<String>) -> Option<RunResult> {
    let text = String::from_utf8_lossy(bytes);
    match parse_results(&text, Path::new(origin)) {
        Ok(r) => Some(r),
        Err(e) => {
            notes.push(format!("Baseline skipped: {e}"));
            None
        }
    }
}
