//! Says when the component's `pipelines` choice does not fit the project's workflow, which
//! GitLab never says: a merge-request pipeline that holds only the gate (GitLab made it for the
//! gate alone; it becomes the merge request's head pipeline, and the team's own jobs no longer
//! block the merge), or merge requests that get no gate at all (their project makes
//! merge-request pipelines and no branch pipeline beside them, while the gate runs in branch
//! pipelines). The first is seen from the pipeline itself; the second cannot be seen from a
//! merge request's pipeline, so the default branch's run looks for it.
//!
//! Every call here is a courtesy: a token GitLab refuses, or any failure, says nothing.

use std::{sync::mpsc, time::Duration};

use crate::{
    ci::CiContext,
    gitlab::{self, ApiClient, Auth, PipelineFilter, RetryPolicy},
    modes::PipelinesMode,
    settings::GateSettings,
};

/// One try: a diagnosis is not worth more.
const COURTESY: RetryPolicy = RetryPolicy {
    first_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(1),
    max_attempts: 1,
    budget: Duration::from_secs(20),
};

/// How many recent merge-request pipelines the default branch's run looks at.
const RECENT_MERGE_REQUEST_PIPELINES: usize = 5;

/// A look at the setup running beside the load: it must never hold the gate up, so what it
/// has not found by the time the verdict is made is left out.
pub(crate) struct Pending(Option<mpsc::Receiver<Option<String>>>);

/// How long the verdict waits for the look once the load is over.
const GRACE: Duration = Duration::from_secs(2);

/// Starts looking at the setup, when there is something to look for: in a merge-request
/// pipeline of this project (a fork's pipeline runs in the fork, whose setup is not the
/// merge request's), or on the default branch with `pipelines: branch`.
pub(crate) fn start(gate: &GateSettings) -> Pending {
    let ci = &gate.ci;
    let merge_request_pipeline = ci.pipeline_source.as_deref() == Some("merge_request_event")
        && !ci.adopted
        && !ci.is_fork_pipeline();
    let look_for_ungated = ci.on_default_branch() && gate.pipelines == PipelinesMode::Branch;
    if !ci.gitlab || !(merge_request_pipeline || look_for_ungated) {
        return Pending(None);
    }
    let clients = clients(gate);
    let ci = ci.clone();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("setup-check".into())
        .spawn(move || {
            let clients: Vec<&ApiClient> = clients.iter().collect();
            let said = if merge_request_pipeline {
                gate_only_pipeline(&ci, &clients)
            } else {
                ungated_merge_requests(&ci, &clients)
            };
            let _ = tx.send(said);
        });
    Pending(spawned.ok().map(|_| rx))
}

impl Pending {
    /// Nothing to look at (a shard's run).
    pub(crate) fn none() -> Pending {
        Pending(None)
    }

    /// Adds to `notes` (and says on stderr) what the look found wrong, if it is done within
    /// [`GRACE`].
    pub(crate) fn collect(self, notes: &mut Vec<String>) {
        let Some(rx) = self.0 else {
            return;
        };
        if let Ok(Some(said)) = rx.recv_timeout(GRACE) {
            eprintln!("loadforge-gate: warning: {said}");
            notes.push(said);
        }
    }
}

/// The job token's client first (GitLab lets it list its own project's pipelines and jobs in
/// recent versions), then the API token's.
fn clients(gate: &GateSettings) -> Vec<ApiClient> {
    let Some(api_url) = gate.ci.api_url.as_deref() else {
        return Vec::new();
    };
    let tokens = [
        gate.ci.job_token.clone().map(Auth::Job),
        gate.gitlab_token.clone().map(Auth::Private),
    ];
    (tokens.into_iter().flatten())
        .filter_map(|auth| ApiClient::new(api_url, auth, COURTESY, &gate.net).ok())
        .collect()
}

/// The first answer any client gets; `None` when every one fails (refused, or GitLab down).
fn first_answer<T>(
    clients: &[&ApiClient],
    call: impl Fn(&ApiClient) -> Result<T, gitlab::GitlabError>,
) -> Option<T> {
    clients.iter().find_map(|c| call(c).ok())
}

/// A merge-request pipeline whose jobs are all this gate's: its name, or its shards'.
fn gate_only_pipeline(ci: &CiContext, clients: &[&ApiClient]) -> Option<String> {
    let (project, pipeline, job) = (
        ci.project_id.as_deref()?,
        ci.pipeline_id.as_deref()?.parse::<u64>().ok()?,
        ci.job_name.as_deref()?,
    );
    let jobs = first_answer(clients, |c| gitlab::pipeline_jobs(c, project, pipeline))?;
    let shard = format!("{job}-shard");
    let ours = |name: &str| name == job || name.starts_with(&shard);
    if jobs.is_empty() || !jobs.iter().all(|j| ours(&j.name)) {
        return None;
    }
    Some(
        "This merge-request pipeline holds only the gate: GitLab made it for the gate alone, and it is the merge request's head pipeline, so your other jobs (in the branch pipeline) no longer block the merge. Use the component's default `pipelines: branch`, or add workflow:rules that make merge-request pipelines for all your jobs (docs/gitlab.md, \"Which pipelines the gate joins\")."
            .to_string(),
    )
}

/// Merge-request pipelines with no branch pipeline at their commit: the gate, in branch
/// pipelines only, judged none of those merge requests.
fn ungated_merge_requests(ci: &CiContext, clients: &[&ApiClient]) -> Option<String> {
    let project = ci.project_id.as_deref()?;
    let recent = PipelineFilter {
        source: Some("merge_request_event"),
        ..PipelineFilter::default()
    };
    let mr_pipelines = first_answer(clients, |c| {
        gitlab::pipelines(c, project, recent, RECENT_MERGE_REQUEST_PIPELINES)
    })?;
    let mut ungated = Vec::new();
    // Detached ones only (`refs/merge-requests/IID/head`, the source branch's commit): a
    // merged-results or train pipeline runs a merge commit no branch pipeline ever has
    // (`MergeRequest#merge_ref_path`, `#train_ref_path` in app/models/merge_request.rb).
    let detached = mr_pipelines
        .iter()
        .filter(|p| p.ref_name.ends_with("/head"));
    for p in detached {
        let Some(sha) = p.sha.as_deref() else {
            continue;
        };
        let at = PipelineFilter {
            sha: Some(sha),
            ..PipelineFilter::default()
        };
        let beside = first_answer(clients, |c| gitlab::pipelines(c, project, at, 20))?;
        if beside.iter().all(gitlab::Pipeline::for_merge_request) {
            ungated.push(format!("#{}", p.id));
        }
    }
    if ungated.is_empty() {
        return None;
    }
    Some(format!(
        "Merge requests of this project run merge-request pipelines with no branch pipeline beside them ({}), and the gate runs in branch pipelines (`pipelines: branch`): those merge requests get no gate. Set the component's input `pipelines: merge-request` (docs/gitlab.md, \"Which pipelines the gate joins\").",
        ungated.join(", ")
    ))
}
