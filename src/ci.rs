//! GitLab's predefined `CI_*` variables, read once into one typed value. GitLab is detected by
//! `GITLAB_CI=true` (plain `CI=true` is set by every CI system).

use crate::secret::Secret;

/// GitLab's predefined variables whose values change from one pipeline (or job) to the next and
/// that a team builds a review app's address from: the branch, the merge request, the
/// environment, the commit, the pipeline, the job and the runner's slot for it
/// (doc/ci/variables/predefined_variables.md). Their values are taken out of the target's host
/// before two runs' targets are compared (`stats::ci_values_in_host` says which). The branch
/// name alone, of the variables that repeat it (`CI_COMMIT_BRANCH`, `CI_COMMIT_TAG`,
/// `CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`), stands for them all.
pub(crate) const PER_PIPELINE: [&str; 13] = [
    "CI_COMMIT_REF_SLUG",
    "CI_COMMIT_REF_NAME",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_ID",
    "CI_EXTERNAL_PULL_REQUEST_IID",
    "CI_ENVIRONMENT_SLUG",
    "CI_COMMIT_SHORT_SHA",
    "CI_COMMIT_SHA",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_IID",
    "CI_JOB_ID",
    "CI_CONCURRENT_ID",
    "CI_CONCURRENT_PROJECT_ID",
];

#[derive(Debug, Clone, Default)]
pub(crate) struct CiContext {
    pub(crate) gitlab: bool,
    pub(crate) api_url: Option<String>,
    pub(crate) project_id: Option<String>,
    pub(crate) job_id: Option<String>,
    pub(crate) job_name: Option<String>,
    pub(crate) job_url: Option<String>,
    pub(crate) job_token: Option<Secret>,
    pub(crate) pipeline_id: Option<String>,
    pub(crate) pipeline_url: Option<String>,
    pub(crate) commit_sha: Option<String>,
    pub(crate) ref_name: Option<String>,
    pub(crate) merge_request_iid: Option<String>,
    /// `CI_MERGE_REQUEST_PROJECT_ID`: the project the merge request belongs to (its target).
    /// In a fork's merge-request pipeline it differs from `CI_PROJECT_ID`, and the merge
    /// request, its notes and the target branch's pipelines all live there.
    pub(crate) merge_request_project_id: Option<String>,
    /// `CI_MERGE_REQUEST_SOURCE_PROJECT_ID`: the project the merge request's branch lives in.
    pub(crate) merge_request_source_project_id: Option<String>,
    pub(crate) merge_request_target_branch: Option<String>,
    pub(crate) merge_request_diff_base_sha: Option<String>,
    /// `CI_MERGE_REQUEST_EVENT_TYPE`: `detached`, `merged_result` or `merge_train`
    /// (doc/ci/variables/predefined_variables.md; `pipeline.merge_request_event_type` in
    /// gitlabhq `lib/gitlab/ci/variables/builder/pipeline.rb`). Unset outside merge-request
    /// pipelines.
    pub(crate) merge_request_event_type: Option<String>,
    /// `CI_MERGE_REQUEST_TARGET_BRANCH_SHA`: "the HEAD SHA of the target branch of the merge
    /// request", present only in merged-results pipelines (the docs); it is the pipeline's
    /// `target_sha`, which a merge train sets to the commit its car is merged onto
    /// (`ee/app/services/merge_trains/create_pipeline_service.rb`).
    pub(crate) merge_request_target_branch_sha: Option<String>,
    /// `CI_COMMIT_BRANCH`: set in branch pipelines only (not in merge-request pipelines).
    pub(crate) commit_branch: Option<String>,
    /// `CI_DEFAULT_BRANCH`.
    pub(crate) default_branch: Option<String>,
    /// The [`PER_PIPELINE`] variables that are set, with their values: what a review app's
    /// host may be built from.
    pub(crate) per_pipeline: Vec<(&'static str, String)>,
    /// `CI_COMMIT_TAG`: set in tag pipelines only.
    pub(crate) commit_tag: Option<String>,
}

impl CiContext {
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> CiContext {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        CiContext {
            gitlab: get("GITLAB_CI").as_deref() == Some("true"),
            api_url: get("CI_API_V4_URL"),
            project_id: get("CI_PROJECT_ID"),
            job_id: get("CI_JOB_ID"),
            job_name: get("CI_JOB_NAME"),
            job_url: get("CI_JOB_URL"),
            job_token: get("CI_JOB_TOKEN").map(Secret::new),
            pipeline_id: get("CI_PIPELINE_ID"),
            pipeline_url: get("CI_PIPELINE_URL"),
            commit_sha: get("CI_COMMIT_SHA"),
            ref_name: get("CI_COMMIT_REF_NAME"),
            merge_request_iid: get("CI_MERGE_REQUEST_IID"),
            merge_request_project_id: get("CI_MERGE_REQUEST_PROJECT_ID"),
            merge_request_source_project_id: get("CI_MERGE_REQUEST_SOURCE_PROJECT_ID"),
            merge_request_target_branch: get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
            merge_request_diff_base_sha: get("CI_MERGE_REQUEST_DIFF_BASE_SHA"),
            merge_request_event_type: get("CI_MERGE_REQUEST_EVENT_TYPE"),
            merge_request_target_branch_sha: get("CI_MERGE_REQUEST_TARGET_BRANCH_SHA"),
            commit_branch: get("CI_COMMIT_BRANCH"),
            default_branch: get("CI_DEFAULT_BRANCH"),
            per_pipeline: PER_PIPELINE
                .iter()
                .filter_map(|name| get(name).map(|value| (*name, value)))
                .collect(),
            commit_tag: get("CI_COMMIT_TAG"),
        }
    }

    /// The project that holds the merge request, its notes and the target branch's
    /// pipelines: `CI_MERGE_REQUEST_PROJECT_ID` in a merge-request pipeline (a fork's pipeline
    /// runs in the fork, whose `CI_PROJECT_ID` is not the merge request's project), else
    /// `CI_PROJECT_ID`.
    pub(crate) fn merge_request_project(&self) -> Option<&str> {
        self.merge_request_project_id
            .as_deref()
            .or(self.project_id.as_deref())
    }

    /// A merge-request pipeline whose branch lives in another project than the merge request
    /// (a fork's).
    pub(crate) fn is_fork_pipeline(&self) -> bool {
        matches!(
            (&self.merge_request_source_project_id, &self.merge_request_project_id),
            (Some(source), Some(target)) if source != target
        )
    }

    /// The target branch's head that this pipeline's code was merged onto, in a merged-results
    /// or merge-train pipeline: what the merge request's change is measured against, so the
    /// baseline is that commit's run, not the merge base's (whose comparison would charge the
    /// merge request with what the target gained since). `None` in a detached merge-request
    /// pipeline, whose code is the source branch alone, and for an event type this version
    /// does not know.
    pub(crate) fn merged_onto(&self) -> Option<&str> {
        let merged = matches!(
            self.merge_request_event_type.as_deref(),
            Some("merged_result" | "merge_train")
        );
        self.merge_request_target_branch_sha
            .as_deref()
            .filter(|_| merged && self.merge_request_target_branch.is_some())
    }

    /// A run on the default branch: it joins the run history the next runs are judged by.
    pub(crate) fn on_default_branch(&self) -> bool {
        self.commit_branch.is_some() && self.commit_branch == self.default_branch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitlab_variables_and_hides_the_token() {
        let env = |k: &str| {
            Some(
                match k {
                    "GITLAB_CI" => "true",
                    "CI_COMMIT_SHA" => "abc123",
                    "CI_JOB_TOKEN" => "glcbt-secret",
                    "CI_MERGE_REQUEST_IID" => "7",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let ci = CiContext::from_env(&env);
        assert!(ci.gitlab);
        assert_eq!(ci.commit_sha.as_deref(), Some("abc123"));
        assert!(!format!("{ci:?}").contains("glcbt-secret"));
    }

    /// The per-pipeline variables that are set, in the list's order; an empty one is unset.
    #[test]
    fn reads_the_per_pipeline_variables_that_are_set() {
        let env = |k: &str| match k {
            "CI_MERGE_REQUEST_IID" => Some("42".to_string()),
            "CI_COMMIT_REF_SLUG" => Some("feature-x".to_string()),
            "CI_ENVIRONMENT_SLUG" => Some(String::new()),
            _ => None,
        };
        let ci = CiContext::from_env(&env);
        assert_eq!(
            ci.per_pipeline,
            [
                ("CI_COMMIT_REF_SLUG", "feature-x".to_string()),
                ("CI_MERGE_REQUEST_IID", "42".to_string())
            ]
        );
    }

    /// Only merged-results and merge-train pipelines were merged onto the target's head; a
    /// detached one (or one of an event type GitLab may add later) keeps the merge base.
    #[test]
    fn only_merged_results_and_trains_are_merged_onto_the_target_head() {
        let ci = |event: &'static str| {
            CiContext::from_env(&move |k: &str| match k {
                "CI_MERGE_REQUEST_EVENT_TYPE" => Some(event.to_string()),
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME" => Some("main".to_string()),
                "CI_MERGE_REQUEST_TARGET_BRANCH_SHA" => Some("abc".to_string()),
                _ => None,
            })
        };
        assert_eq!(ci("merged_result").merged_onto(), Some("abc"));
        assert_eq!(ci("merge_train").merged_onto(), Some("abc"));
        for other in ["detached", "", "merge_queue"] {
            assert_eq!(ci(other).merged_onto(), None, "{other}");
        }
    }

    #[test]
    fn plain_ci_is_not_gitlab() {
        let env = |k: &str| (k == "CI").then(|| "true".to_string());
        let ci = CiContext::from_env(&env);
        assert!(!ci.gitlab);
        assert!(ci.commit_sha.is_none());
    }
}
