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
    /// `CI_PIPELINE_SOURCE`: `push`, `merge_request_event`, `schedule`, `web`, `api`...
    pub(crate) pipeline_source: Option<String>,
    /// `CI_PROJECT_PATH`: `group/project`, as `CI_OPEN_MERGE_REQUESTS` names projects.
    pub(crate) project_path: Option<String>,
    /// `CI_OPEN_MERGE_REQUESTS`, read: the merge requests from this branch (and project),
    /// in GitLab's order.
    pub(crate) open_merge_requests: Vec<MergeRequestRef>,
    /// What was wrong with `CI_OPEN_MERGE_REQUESTS`, when something was: said once, and the
    /// entries that could be read are kept.
    pub(crate) open_merge_requests_unread: Option<String>,
    /// A branch pipeline that took on the merge request `CI_OPEN_MERGE_REQUESTS` names
    /// (`commands::speaks_for`): its merge-request fields are set from that merge request, not
    /// by GitLab.
    pub(crate) adopted: bool,
}

/// One entry of `CI_OPEN_MERGE_REQUESTS`: `group/project!iid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeRequestRef {
    /// The path of the project that holds the merge request (its target project).
    pub(crate) project: String,
    pub(crate) iid: u64,
}

/// At most this many entries are read: GitLab lists up to four
/// (doc/ci/variables/predefined_variables.md, `CI_OPEN_MERGE_REQUESTS`).
const MAX_OPEN_MERGE_REQUESTS: usize = 4;

/// The longest project path accepted: GitLab's paths are at most 255 characters a segment and
/// 20 levels deep; anything longer is not GitLab's.
const MAX_PROJECT_PATH: usize = 1024;

/// Reads `CI_OPEN_MERGE_REQUESTS` (`gitlab-org/gitlab!333,gitlab-org/gitlab-foss!11`) as
/// hostile input: entries that are not a project path and a number are left out, and said.
pub(crate) fn parse_open_merge_requests(value: &str) -> (Vec<MergeRequestRef>, Option<String>) {
    let mut refs = Vec::new();
    let mut bad = 0usize;
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.rsplit_once('!').and_then(|(project, iid)| {
            let path_ok = !project.is_empty()
                && project.len() <= MAX_PROJECT_PATH
                && project
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
            let iid = iid.parse::<u64>().ok().filter(|i| *i > 0)?;
            path_ok.then(|| MergeRequestRef {
                project: project.to_string(),
                iid,
            })
        });
        match parsed {
            Some(r) if refs.len() < MAX_OPEN_MERGE_REQUESTS => refs.push(r),
            Some(_) => {}
            None => bad += 1,
        }
    }
    let unread = (bad > 0).then(|| {
        format!(
            "{bad} entries of CI_OPEN_MERGE_REQUESTS are not `group/project!iid` and were left out"
        )
    });
    (refs, unread)
}

impl CiContext {
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> CiContext {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let open = get("CI_OPEN_MERGE_REQUESTS")
            .map(|v| parse_open_merge_requests(&v))
            .unwrap_or_default();
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
            pipeline_source: get("CI_PIPELINE_SOURCE"),
            project_path: get("CI_PROJECT_PATH"),
            open_merge_requests: open.0,
            open_merge_requests_unread: open.1,
            adopted: false,
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

    /// The merge request a branch pipeline speaks for: the first of `CI_OPEN_MERGE_REQUESTS`
    /// held by this project, else the first (a fork's branch, whose merge request lives
    /// upstream). None in a merge-request pipeline (it has its own), a tag's, and on the
    /// default branch, whose runs are the history every merge request is judged by, even when
    /// a merge request (`main` into `production`) is open from it.
    pub(crate) fn speaks_for(&self) -> Option<&MergeRequestRef> {
        if !self.gitlab
            || self.merge_request_iid.is_some()
            || self.commit_branch.is_none()
            || self.on_default_branch()
        {
            return None;
        }
        let own = self.project_path.as_deref();
        (self.open_merge_requests.iter())
            .find(|r| Some(r.project.as_str()) == own)
            .or_else(|| self.open_merge_requests.first())
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

    /// `CI_OPEN_MERGE_REQUESTS` as GitLab writes it, and as nobody should: entries that are not
    /// `path!iid` are left out and said, never a panic, at most four kept.
    #[test]
    fn open_merge_requests_are_read_as_hostile_input() {
        let (refs, bad) =
            parse_open_merge_requests("gitlab-org/gitlab!333,gitlab-org/gitlab-foss!11");
        assert_eq!(
            refs,
            [
                MergeRequestRef {
                    project: "gitlab-org/gitlab".into(),
                    iid: 333
                },
                MergeRequestRef {
                    project: "gitlab-org/gitlab-foss".into(),
                    iid: 11
                },
            ]
        );
        assert_eq!(bad, None);
        for hostile in [
            "!3",
            "a/b!",
            "a/b!x",
            "a/b!0",
            "a b!3",
            "a/b!-1",
            "a/b!99999999999999999999",
            "a/b\n!3",
        ] {
            let (refs, bad) = parse_open_merge_requests(hostile);
            assert!(refs.is_empty(), "{hostile}");
            assert!(bad.is_some(), "{hostile}");
        }
        let many = (1..=9)
            .map(|i| format!("g/p!{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(parse_open_merge_requests(&many).0.len(), 4);
        let (refs, bad) = parse_open_merge_requests("g/p!2, junk ,g/q!3,");
        assert_eq!(refs.len(), 2);
        assert!(bad.unwrap().starts_with("1 entries"));
    }

    /// Only a branch pipeline of a branch that is not the default one speaks for a merge
    /// request, and it prefers one of its own project.
    #[test]
    fn a_branch_pipeline_speaks_for_its_own_projects_merge_request() {
        let ci = |vars: &'static [(&'static str, &'static str)]| {
            CiContext::from_env(&move |k: &str| {
                let base = [
                    ("GITLAB_CI", "true"),
                    ("CI_PROJECT_PATH", "group/app"),
                    ("CI_DEFAULT_BRANCH", "main"),
                    ("CI_OPEN_MERGE_REQUESTS", "upstream/app!4,group/app!7"),
                ];
                vars.iter()
                    .chain(base.iter())
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let feature = ci(&[("CI_COMMIT_BRANCH", "feature")]);
        assert_eq!(feature.speaks_for().map(|r| r.iid), Some(7));
        let fork = ci(&[
            ("CI_COMMIT_BRANCH", "feature"),
            ("CI_PROJECT_PATH", "me/app"),
        ]);
        assert_eq!(fork.speaks_for().map(|r| r.iid), Some(4));
        for none in [
            ci(&[("CI_COMMIT_BRANCH", "main")]),
            ci(&[("CI_COMMIT_TAG", "v1")]),
            ci(&[("CI_MERGE_REQUEST_IID", "7")]),
            ci(&[("CI_COMMIT_BRANCH", "feature"), ("GITLAB_CI", "false")]),
            ci(&[
                ("CI_COMMIT_BRANCH", "feature"),
                ("CI_OPEN_MERGE_REQUESTS", ""),
            ]),
        ] {
            assert_eq!(none.speaks_for(), None, "{none:?}");
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
