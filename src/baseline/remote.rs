//! The previous pipeline's `results.json`, fetched from GitLab.
//!
//! With only `CI_JOB_TOKEN`: the artifact of this job in the latest successful pipeline of the
//! merge request's target branch (or of this branch), through the artifacts-by-ref endpoint.
//! With an API token: the target branch's pipeline at the merge base first (the rule GitLab's
//! own merge-request widgets use), then the latest successful one; plus the last few successful
//! runs, whose spread is the noise band for regression checks.

use std::path::Path;

use super::{history_or_note, parse_results};
use crate::{
    ci::CiContext,
    gitlab::{self, ApiClient, GitlabError},
    stats::{HistoryEntry, RunResult},
};

/// A baseline, wherever it came from (a file or a previous pipeline).
#[derive(Debug)]
pub(crate) struct Previous {
    /// Human description: which file or pipeline the baseline comes from.
    pub(crate) source: String,
    /// The baseline run.
    pub(crate) result: RunResult,
    /// The run history regressions are judged against (newest first): the chain the baseline
    /// carried or, with an API token and no chain, the last successful pipelines' runs. Empty:
    /// the baseline run alone.
    pub(crate) history: Vec<HistoryEntry>,
    /// What the report should say about how the baseline was read.
    pub(crate) notes: Vec<String>,
}

/// What a lookup found besides the baseline, for the report's notes.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    /// The baseline, when one was found.
    pub(crate) baseline: Option<Previous>,
    /// What the report should say about the lookup (why there is no baseline, what was skipped).
    pub(crate) notes: Vec<String>,
}

/// Finds the baseline. `job_client` authenticates with the job token, `api_client` (if any)
/// with an API token; `artifact` is the path of results.json inside the job's artifacts.
pub(crate) fn find_previous(
    ci: &CiContext,
    job_client: Option<&ApiClient>,
    api_client: Option<&ApiClient>,
    artifact: &str,
    history: usize,
) -> Result<Lookup, GitlabError> {
    let mut lookup = Lookup::default();
    let Some(search) = Search::of(ci, artifact, &mut lookup.notes) else {
        return Ok(lookup);
    };
    let notes = &mut lookup.notes;
    if let Some(api) = api_client {
        lookup.baseline = search.at_merge_base(api, ci, notes)?;
    }
    if lookup.baseline.is_none() {
        if let Some(c) = job_client.or(api_client) {
            lookup.baseline = search.latest(c, notes)?;
        }
    }
    match (&mut lookup.baseline, api_client) {
        (Some(b), Some(api)) if history > 0 && b.history.is_empty() => {
            let current = ci
                .pipeline_id
                .as_deref()
                .and_then(|p| p.parse::<u64>().ok());
            search.add_history(api, b, current, history, notes)?;
        }
        (None, _) => notes.push(format!(
            "No baseline yet: no earlier `{}` results on `{}`; regressions were not checked.",
            search.job, search.base_ref
        )),
        _ => {}
    }
    Ok(lookup)
}

/// What a lookup searches for: the results of job `job` on `base_ref` in `project`.
struct Search<'a> {
    project: &'a str,
    job: &'a str,
    base_ref: &'a str,
    artifact: &'a str,
}

impl<'a> Search<'a> {
    /// The search the CI context allows; `None`, with a note saying why, when it allows none.
    fn of(ci: &'a CiContext, artifact: &'a str, notes: &mut Vec<String>) -> Option<Search<'a>> {
        let (Some(project), Some(job)) = (ci.project_id.as_deref(), ci.job_name.as_deref()) else {
            notes.push("No baseline: CI_PROJECT_ID or CI_JOB_NAME is not set.".into());
            return None;
        };
        let base_ref = ci
            .merge_request_target_branch
            .as_deref()
            .or(ci.ref_name.as_deref());
        let Some(base_ref) = base_ref else {
            notes.push(
                "No baseline: no branch to compare with (CI_COMMIT_REF_NAME is not set).".into(),
            );
            return None;
        };
        Some(Search {
            project,
            job,
            base_ref,
            artifact,
        })
    }

    /// In a merge request: the target branch's pipeline at the merge base.
    fn at_merge_base(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let (Some(_), Some(sha)) = (
            &ci.merge_request_target_branch,
            ci.merge_request_diff_base_sha.as_deref(),
        ) else {
            return Ok(None);
        };
        for p in gitlab::pipelines(api, self.project, self.base_ref, Some(sha), false, 5)? {
            if let Some((result, history)) = self.in_pipeline(api, p.id, notes)? {
                return Ok(Some(Previous {
                    source: format!(
                        "pipeline #{} on {} at the merge base {}",
                        p.id,
                        self.base_ref,
                        &sha[..sha.len().min(8)]
                    ),
                    result,
                    history,
                    notes: Vec::new(),
                }));
            }
        }
        Ok(None)
    }

    /// The artifact of the latest successful pipeline on the base branch (a job token is
    /// enough).
    fn latest(
        &self,
        c: &ApiClient,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let (job, base_ref) = (self.job, self.base_ref);
        let Some(bytes) = gitlab::artifact_by_ref(c, self.project, base_ref, job, self.artifact)?
        else {
            return Ok(None);
        };
        let origin = format!("the latest successful `{job}` on `{base_ref}`");
        Ok(
            decode(&bytes, &origin, notes).map(|(result, history)| Previous {
                source: format!("the latest successful pipeline on {base_ref}"),
                result,
                history,
                notes: Vec::new(),
            }),
        )
    }

    /// A history for a baseline that carried none: the baseline run, then up to `history`
    /// earlier successful runs (not this pipeline's), newest first.
    fn add_history(
        &self,
        api: &ApiClient,
        baseline: &mut Previous,
        current: Option<u64>,
        history: usize,
        notes: &mut Vec<String>,
    ) -> Result<(), GitlabError> {
        let mut runs = vec![HistoryEntry::of(&baseline.result)];
        for p in gitlab::pipelines(api, self.project, self.base_ref, None, true, history + 1)? {
            if Some(p.id) == current {
                continue;
            }
            if let Some((r, _)) = self.in_pipeline(api, p.id, notes)? {
                // The baseline's own pipeline is usually among the recent successful ones.
                if r.run.started_at != baseline.result.run.started_at {
                    runs.push(HistoryEntry::of(&r));
                }
            }
            if runs.len() >= history {
                break;
            }
        }
        baseline.history = runs;
        Ok(())
    }

    /// The results of the job in one pipeline, if it ran there and kept them.
    fn in_pipeline(
        &self,
        api: &ApiClient,
        pipeline: u64,
        notes: &mut Vec<String>,
    ) -> Result<Option<(RunResult, Vec<HistoryEntry>)>, GitlabError> {
        let jobs = gitlab::pipeline_jobs(api, self.project, pipeline)?;
        // A failed gate still wrote results.json (artifacts: when: always), and it is still the
        // truth about that commit's performance.
        let Some(j) = jobs
            .iter()
            .find(|j| j.name == self.job && matches!(j.status.as_str(), "success" | "failed"))
        else {
            return Ok(None);
        };
        match gitlab::job_artifact(api, self.project, j.id, self.artifact)? {
            Some(bytes) => Ok(decode(
                &bytes,
                &format!("job {} of pipeline #{pipeline}", j.id),
                notes,
            )),
            None => Ok(None),
        }
    }
}

/// A baseline from another schema version is not misread: it is skipped with a note.
fn decode(
    bytes: &[u8],
    origin: &str,
    notes: &mut Vec<String>,
) -> Option<(RunResult, Vec<HistoryEntry>)> {
    let text = String::from_utf8_lossy(bytes);
    match parse_results(&text, Path::new(origin)) {
        Ok(r) => Some((r, history_or_note(&text, Path::new(origin), notes))),
        Err(e) => {
            notes.push(format!("Baseline skipped: {}", crate::chain::one_line(&e)));
            None
        }
    }
}
