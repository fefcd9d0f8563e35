//! One merge request, read for a branch pipeline that speaks for it: where its target is and
//! where it forked from, which a merge-request pipeline gets from GitLab's variables.

use serde::Deserialize;

use super::{json, segment, ApiClient, Call, GitlabError};

/// What a branch pipeline needs to know of the merge request `CI_OPEN_MERGE_REQUESTS` names
/// (`GET /projects/:id/merge_requests/:iid`, doc/api/merge_requests.md).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MergeRequestDetails {
    /// The project that holds it (its target project).
    pub(crate) project_id: u64,
    pub(crate) source_project_id: Option<u64>,
    pub(crate) target_branch: String,
    /// `opened`, `closed`, `locked` or `merged`.
    pub(crate) state: String,
    /// Absent while GitLab has not computed the diff yet.
    #[serde(default)]
    pub(crate) diff_refs: Option<DiffRefs>,
}

/// The commits a merge request's diff is between.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DiffRefs {
    /// The merge base: what GitLab's own widgets compare the merge request with.
    pub(crate) base_sha: Option<String>,
}

/// Merge request `iid` of `project` (an id, or a path as `CI_OPEN_MERGE_REQUESTS` names it:
/// GitLab finds a project by either, `find_project` in lib/api/helpers.rb). The job token
/// cannot read merge requests (gitlab-org/gitlab#545150): an API token is needed.
pub(crate) fn merge_request(
    c: &ApiClient,
    project: &str,
    iid: u64,
) -> Result<MergeRequestDetails, GitlabError> {
    let what = format!("merge request !{iid}");
    let call = Call::get(format!(
        "projects/{}/merge_requests/{iid}",
        segment(project)
    ));
    json(c, &call, &what)
}
