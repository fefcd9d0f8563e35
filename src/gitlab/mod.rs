//! The few GitLab API calls loadforge-gate makes: artifacts (the baseline), pipelines and jobs
//! (the merge-base baseline and history; the job token may list them where GitLab lets it),
//! merge-request notes (the sticky comment, [`notes`]).
//! The calls are spelled out in [`call`]; [`ApiClient`] is the transport under them.

mod call;
mod client;
pub(crate) mod comment;
pub(crate) mod merge_request;
mod notes;

use serde::{de::DeserializeOwned, Deserialize};

use call::{directory, segment, Call, Pages, Progress};

pub(crate) use crate::retry::Policy as RetryPolicy;
pub(crate) use client::{ApiClient, Auth, TransportError};
pub(crate) use notes::{upsert_note, NoteAction, NoteOutcome, Ours, Run, Settled, Stamped, Thread};

/// A GitLab call that failed. `what` names the call in words ("the notes of merge request
/// !7"); no variant carries a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitlabError {
    /// GitLab answered with an error status (a 404 is often a normal answer: see `found`).
    #[error("GitLab answered HTTP {status} to {what}")]
    Status {
        /// The call.
        what: String,
        /// The HTTP status.
        status: u16,
    },
    /// No answer came: the transport failed.
    #[error("GitLab request to {what} failed")]
    Request {
        /// The call.
        what: String,
        /// Why no answer came.
        #[source]
        source: TransportError,
    },
    /// An answer came that could not be read (JSON of another shape).
    #[error("GitLab's answer to {what} could not be read")]
    Answer {
        /// The call.
        what: String,
        /// Why the JSON did not fit.
        #[source]
        source: serde_json::Error,
    },
}

impl GitlabError {
    /// The HTTP status GitLab answered with, if it answered with an error status.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            GitlabError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A failed write that GitLab may have carried out all the same: it answered 5xx (a proxy
    /// in front of Rails gives up while Rails goes on and saves), or no answer came. A 4xx,
    /// 429 included, is an answer of a request not acted upon.
    fn may_have_landed(&self) -> bool {
        match self {
            GitlabError::Status { status, .. } => *status >= 500,
            GitlabError::Request { source, .. } => source.is_uncertain(),
            GitlabError::Answer { .. } => true,
        }
    }
}

/// Sends `call`: a 2xx answer, or the error status.
fn answer(
    c: &ApiClient,
    call: &Call,
    what: &str,
) -> Result<http::Response<bytes::Bytes>, GitlabError> {
    let answer = c.call(call).map_err(|source| GitlabError::Request {
        what: what.to_string(),
        source,
    })?;
    if !answer.status().is_success() {
        return Err(GitlabError::Status {
            what: what.to_string(),
            status: answer.status().as_u16(),
        });
    }
    Ok(answer)
}

/// Sends `call`: the body of a 2xx answer, or the error status.
fn fetch(c: &ApiClient, call: &Call, what: &str) -> Result<bytes::Bytes, GitlabError> {
    answer(c, call, what).map(http::Response::into_body)
}

/// Reads a JSON answer.
fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, GitlabError> {
    serde_json::from_slice(body).map_err(|source| GitlabError::Answer {
        what: what.to_string(),
        source,
    })
}

/// Sends `call` and reads its JSON answer.
fn json<T: DeserializeOwned>(c: &ApiClient, call: &Call, what: &str) -> Result<T, GitlabError> {
    parse(&fetch(c, call, what)?, what)
}

/// Reads the pages of a list `call` in order, handing each item to `each` until it says
/// stop, the pages end (as GitLab's paging headers say: see [`Pages`]), or `limit` items
/// were read.
fn paged<T: DeserializeOwned>(
    c: &ApiClient,
    call: &Call,
    limit: usize,
    what: &str,
    mut each: impl FnMut(T) -> std::ops::ControlFlow<()>,
) -> Result<(), GitlabError> {
    let limit = limit.max(1);
    let pages = Pages::up_to(limit);
    let (mut page, mut asked, mut read) = (1, 0, 0);
    loop {
        let answer = answer(c, &pages.page(call, page), what)?;
        asked += 1;
        let items: Vec<T> = parse(answer.body(), what)?;
        let on_page = items.len();
        for item in items.into_iter().take(limit - read) {
            read += 1;
            if each(item).is_break() {
                return Ok(());
            }
        }
        let at = Progress {
            page,
            pages: asked,
            on_page,
            items: read,
        };
        match pages.next(answer.headers(), at) {
            Some(next) => page = next,
            None => return Ok(()),
        }
    }
}

/// Every item of a list `call`, at most `limit`.
fn all<T: DeserializeOwned>(
    c: &ApiClient,
    call: &Call,
    limit: usize,
    what: &str,
) -> Result<Vec<T>, GitlabError> {
    let mut items = Vec::new();
    paged(c, call, limit, what, |item| {
        items.push(item);
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(items)
}

/// `Ok(None)` for a 404: "no such artifact" is a normal answer.
fn found<T>(r: Result<T, GitlabError>) -> Result<Option<T>, GitlabError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A pipeline, as far as the baseline lookup reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Pipeline {
    pub(crate) id: u64,
    /// The branch or tag, or `refs/merge-requests/IID/head` for a merge-request pipeline.
    #[serde(default, rename = "ref")]
    pub(crate) ref_name: String,
    /// What started it: `push`, `merge_request_event`, `schedule`, ...
    #[serde(default)]
    pub(crate) source: String,
    /// The commit it ran.
    #[serde(default)]
    pub(crate) sha: Option<String>,
}

impl Pipeline {
    /// A merge-request pipeline: its ref is the merge request's, not a branch's, so the
    /// artifacts-by-ref lookup of a branch never sees it.
    pub(crate) fn for_merge_request(&self) -> bool {
        self.source == "merge_request_event" || self.ref_name.starts_with("refs/merge-requests/")
    }
}

/// A job of a pipeline.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) status: String,
    /// When the job's artifacts expire (ISO 8601, UTC), if they do.
    #[serde(default)]
    pub(crate) artifacts_expire_at: Option<String>,
}

/// Which pipelines of a project to list (newest first).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PipelineFilter<'a> {
    /// Only those of this branch or tag.
    pub(crate) ref_name: Option<&'a str>,
    /// Only those at this commit.
    pub(crate) sha: Option<&'a str>,
    /// Only successful ones.
    pub(crate) successful: bool,
    /// Only tag pipelines.
    pub(crate) tags: bool,
    /// Only those started so (`merge_request_event`, `push`...).
    pub(crate) source: Option<&'a str>,
}

/// A GitLab user, as far as telling our notes from others' needs.
#[derive(Debug, Clone, Deserialize)]
struct User {
    id: u64,
}

/// The id of the user the API token belongs to (`GET /user`).
pub(crate) fn current_user(c: &ApiClient) -> Result<u64, GitlabError> {
    let user: User = json(c, &Call::get("user".into()), "the token's own user")?;
    Ok(user.id)
}

/// A merge request, as far as the comment needs it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MergeRequest {
    pub(crate) iid: u64,
    /// The project its branch lives in: another one for a fork's merge request.
    #[serde(default)]
    pub(crate) source_project_id: Option<u64>,
}

/// A file from the job `job` of the latest successful pipeline on `ref_name` that has its
/// artifacts (job token is enough). `None` when there is none.
pub(crate) fn artifact_by_ref(
    c: &ApiClient,
    project: &str,
    ref_name: &str,
    job: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, GitlabError> {
    let what = format!("the {path} artifact of job `{job}` on `{ref_name}`");
    let call = Call::get(format!(
        "projects/{}/jobs/artifacts/{}/raw/{}",
        segment(project),
        segment(ref_name),
        directory(path)
    ))
    .with("job", job)
    // The newest of the recent successful pipelines that ran the job, not only the latest
    // pipeline, which may have skipped it (gitlab-org/gitlab#349316): on this raw file
    // endpoint from GitLab 18.9 behind the project's `ci_search_recent_successful_pipelines`
    // flag (disabled by default), on every project from 18.10, which removed the flag
    // (doc/api/job_artifacts.md, "Download a single artifact file by reference name"; the
    // archive download had it from 18.7; `lib/api/ci/job_artifacts.rb`). An older GitLab
    // ignores the parameter, as Grape ignores any it does not declare, and so does 18.9
    // without the flag: they look at the latest pipeline alone.
    .with("search_recent_successful_pipelines", "true");
    found(fetch(c, &call, &what).map(|b| b.to_vec()))
}

/// A file from the artifacts of job `job_id`; `None` when there is none.
pub(crate) fn job_artifact(
    c: &ApiClient,
    project: &str,
    job_id: u64,
    path: &str,
) -> Result<Option<Vec<u8>>, GitlabError> {
    let what = format!("the {path} artifact of job {job_id}");
    let call = Call::get(format!(
        "projects/{}/jobs/{job_id}/artifacts/{}",
        segment(project),
        directory(path)
    ));
    found(fetch(c, &call, &what).map(|b| b.to_vec()))
}

/// Pipelines of `project` that pass `filter`, newest first, at most `limit`.
pub(crate) fn pipelines(
    c: &ApiClient,
    project: &str,
    filter: PipelineFilter<'_>,
    limit: usize,
) -> Result<Vec<Pipeline>, GitlabError> {
    let what = match (filter.ref_name, filter.tags) {
        (Some(r), _) => format!("the pipelines of `{r}`"),
        (None, true) => "the tag pipelines".to_string(),
        (None, false) => "the pipelines".to_string(),
    };
    let call = Call::get(format!("projects/{}/pipelines", segment(project)))
        .with_opt("scope", filter.tags.then_some("tags"))
        .with_opt("status", filter.successful.then_some("success"))
        .with_opt("ref", filter.ref_name)
        .with_opt("sha", filter.sha)
        .with_opt("source", filter.source)
        .with("order_by", "id")
        .with("sort", "desc");
    all(c, &call, limit, &what)
}

/// Every job of one pipeline (all pages).
pub(crate) fn pipeline_jobs(
    c: &ApiClient,
    project: &str,
    pipeline: u64,
) -> Result<Vec<Job>, GitlabError> {
    let what = format!("the jobs of pipeline {pipeline}");
    let call = Call::get(format!(
        "projects/{}/pipelines/{pipeline}/jobs",
        segment(project)
    ));
    all(c, &call, MAX_JOBS, &what)
}

/// The most jobs read from one pipeline: pages are followed while GitLab names a next one, so a
/// server that always does must not be asked forever.
const MAX_JOBS: usize = 2_000;

/// Open merge requests from `branch`, for comments from branch pipelines.
pub(crate) fn open_merge_requests(
    c: &ApiClient,
    project: &str,
    branch: &str,
) -> Result<Vec<MergeRequest>, GitlabError> {
    let what = format!("the open merge requests of `{branch}`");
    let call = Call::get(format!("projects/{}/merge_requests", segment(project)))
        .with("state", "opened")
        .with("source_branch", branch);
    all(c, &call, 20, &what)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::secret::Secret;

    /// The message, then each cause on its own line, as the top level prints them.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut lines = vec![e.to_string()];
        let mut cause = e.source();
        while let Some(c) = cause {
            lines.push(c.to_string());
            cause = c.source();
        }
        lines
    }

    #[test]
    fn a_failed_request_keeps_its_causes_and_never_the_token() {
        let token = "glpat-secret-in-test-0001";
        let once = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::DEFAULT
        };
        // Nothing listens on port 9 here: the connection is refused.
        let c = ApiClient::new(
            "http://127.0.0.1:9/api/v4",
            Auth::Private(Secret::new(token.into())),
            once,
            &crate::tls::ClientNet::default(),
        )
        .unwrap();
        let e = pipeline_jobs(&c, "42", 7).unwrap_err();
        let lines = chain(&e);
        assert_eq!(lines[0], "GitLab request to the jobs of pipeline 7 failed");
        assert_eq!(
            lines[1],
            "could not connect: http://127.0.0.1:9/api/v4/projects/42/pipelines/7/jobs"
        );
        assert!(
            lines.len() > 2,
            "the HTTP client's own causes follow: {lines:?}"
        );
        assert!(!lines.concat().contains(token));
        let GitlabError::Request { source, .. } = &e else {
            panic!("{e:?}");
        };
        assert!(matches!(source, TransportError::Send { .. }));
        assert!(e.source().is_some());
    }
}
