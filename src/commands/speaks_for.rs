//! A branch pipeline speaks for the merge request open from its branch (`pipelines: branch`,
//! the default): GitLab gives it no merge-request variables, only `CI_OPEN_MERGE_REQUESTS`,
//! so the gate reads the merge request itself and then judges and comments as a merge
//! request's pipeline would: against the target branch's runs, on that merge request.

use tokio_util::sync::CancellationToken;

use crate::{
    ci::{CiContext, MergeRequestRef},
    gitlab::{
        merge_request::{merge_request, MergeRequestDetails},
        ApiClient, Auth, RetryPolicy,
    },
    pause::Waited,
    settings::GateSettings,
};

/// The settings with the CI context of the merge request this branch pipeline speaks for, if
/// it speaks for one; `notes` says which and how its target was found.
pub(crate) fn adopt(
    gate: &GateSettings,
    notes: &mut Vec<String>,
    stop: &CancellationToken,
) -> GateSettings {
    let mut adopted = gate.clone();
    if let Some(why) = &gate.ci.open_merge_requests_unread {
        eprintln!("loadforge-gate: warning: {why}");
    }
    let Some(mr) = gate.ci.speaks_for().cloned() else {
        return adopted;
    };
    let read = read_details(gate, &mr, stop);
    let (ci, said) = adopted_context(&gate.ci, &mr, read);
    eprintln!("loadforge-gate: {said}");
    notes.push(said);
    adopted.ci = ci;
    adopted
}

/// What reading the merge request came to.
#[derive(Debug)]
enum Read {
    Details(MergeRequestDetails),
    /// No API token (the job token cannot read merge requests), or no API URL.
    NoToken,
    Failed(String),
}

/// The merge request's details through the API token, on a thread a signal can leave.
fn read_details(gate: &GateSettings, mr: &MergeRequestRef, stop: &CancellationToken) -> Read {
    let (Some(api_url), Some(token)) = (gate.ci.api_url.clone(), gate.gitlab_token.clone()) else {
        return Read::NoToken;
    };
    let project = api_project(&gate.ci, mr);
    let (net, iid) = (gate.net.clone(), mr.iid);
    let work = move || {
        let client = ApiClient::new(&api_url, Auth::Private(token), RetryPolicy::default(), &net)
            .map_err(|e| crate::error::one_line(&e))?;
        merge_request(&client, &project, iid).map_err(|e| crate::error::one_line(&e))
    };
    match crate::pause::interruptible(stop, work) {
        Waited::Done(Ok(d)) => Read::Details(d),
        Waited::Done(Err(why)) => Read::Failed(why),
        Waited::Interrupted => Read::Failed("interrupted".into()),
        Waited::Failed(e) => Read::Failed(crate::error::one_line(&e)),
    }
}

/// How the API names the merge request's project: this project's id when the merge request is
/// its own, else the path `CI_OPEN_MERGE_REQUESTS` gives (GitLab finds a project by either).
fn api_project(ci: &CiContext, mr: &MergeRequestRef) -> String {
    let own = ci.project_path.as_deref() == Some(mr.project.as_str());
    match (&ci.project_id, own) {
        (Some(id), true) => id.clone(),
        _ => mr.project.clone(),
    }
}

/// The CI context of a merge-request pipeline for `mr`, from what was read of it, and the line
/// that says so. Without its details the target is taken to be the default branch, said so.
fn adopted_context(ci: &CiContext, mr: &MergeRequestRef, read: Read) -> (CiContext, String) {
    let mut out = ci.clone();
    out.adopted = true;
    out.merge_request_iid = Some(mr.iid.to_string());
    // This project's branch; the merge request's project is this one or, for a fork's
    // branch, the upstream path (then the two differ, as in a fork's merge-request pipeline).
    out.merge_request_source_project_id = ci.project_id.clone();
    out.merge_request_project_id = Some(api_project(ci, mr));
    out.merge_request_target_branch = ci.default_branch.clone();
    let assumed = match &read {
        Read::Details(_) => String::new(),
        Read::NoToken => ", taken to be the default branch: reading the merge request needs LOADFORGE_GATE_GITLAB_TOKEN (the job token cannot)".to_string(),
        Read::Failed(why) => format!(", taken to be the default branch: the merge request could not be read ({why})"),
    };
    let mut state = "";
    if let Read::Details(d) = read {
        out.merge_request_project_id = Some(d.project_id.to_string());
        out.merge_request_source_project_id = d.source_project_id.map(|p| p.to_string());
        out.merge_request_diff_base_sha = d.diff_refs.and_then(|r| r.base_sha);
        out.merge_request_target_branch = Some(d.target_branch);
        state = match d.state.as_str() {
            "opened" => "",
            "merged" => " (merged since)",
            "closed" => " (closed since)",
            _ => " (in a state this version does not know)",
        };
    }
    let target = match &out.merge_request_target_branch {
        Some(b) => format!("`{}`", crate::quote::quote(b)),
        None => "its own branch (CI_DEFAULT_BRANCH is not set)".to_string(),
    };
    let iid = mr.iid;
    let said = format!(
        "This branch pipeline speaks for merge request !{iid}{state} (CI_OPEN_MERGE_REQUESTS): compared with the runs of its target branch {target}{assumed}; the comment goes on !{iid}."
    );
    (out, said)
}
