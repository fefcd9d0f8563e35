//! The few GitLab API calls loadforge-gate makes: artifacts (the baseline), pipelines and jobs
//! (the merge-base baseline and history), merge-request notes (the sticky comment). Endpoints
//! come from the `gitlab` crate; [`ApiClient`] is the transport under them.

mod client;

use gitlab::api::{
    self,
    projects::{
        jobs::artifacts::{DownloadJobArtifactFile, DownloadRefJobArtifactFile},
        merge_requests::{
            notes::{CreateMergeRequestNote, EditMergeRequestNote, MergeRequestNotes},
            MergeRequestState, MergeRequests,
        },
        pipelines::{PipelineJobs, PipelineOrderBy, PipelineStatus, Pipelines},
    },
    ApiError, Pagination, Query,
};
use serde::Deserialize;

pub(crate) use crate::retry::Policy as RetryPolicy;
pub(crate) use client::{ApiClient, Auth, TransportError};

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
    /// An answer came that could not be read (JSON of another shape, pagination).
    #[error("GitLab's answer to {what} could not be read")]
    Answer {
        /// The call.
        what: String,
        /// What the `gitlab` crate could not read.
        #[source]
        source: ApiError<TransportError>,
    },
    /// The endpoint could not be built from its parameters.
    #[error("cannot build the GitLab request for {what}")]
    Build {
        /// The call.
        what: String,
        /// The endpoint builder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
}

fn api_error(what: &str, e: ApiError<TransportError>) -> GitlabError {
    let what = what.to_string();
    match e {
        ApiError::GitlabService { status, .. }
        | ApiError::GitlabWithStatus { status, .. }
        | ApiError::GitlabUnrecognizedWithStatus { status, .. } => GitlabError::Status {
            what,
            status: status.as_u16(),
        },
        ApiError::Client { source } => GitlabError::Request { what, source },
        source => GitlabError::Answer { what, source },
    }
}

fn build_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> GitlabError {
    GitlabError::Build {
        what: what.to_string(),
        source: Box::new(e),
    }
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
}

/// A job of a pipeline.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) status: String,
}

/// A merge-request note.
#[derive(Debug, Clone, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
    /// Who wrote it; a note without an author is never taken for ours.
    #[serde(default)]
    author: Option<User>,
}

/// A GitLab user, as far as telling our notes from others' needs.
#[derive(Debug, Clone, Deserialize)]
struct User {
    id: u64,
}

/// The id of the user the API token belongs to (`GET /user`).
pub(crate) fn current_user(c: &ApiClient) -> Result<u64, GitlabError> {
    let what = "the token's own user";
    let ep = gitlab::api::users::CurrentUser::builder()
        .build()
        .map_err(|e| build_error(what, e))?;
    let user: User = ep.query(c).map_err(|e| api_error(what, e))?;
    Ok(user.id)
}

/// A merge request, as far as the comment needs it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MergeRequest {
    pub(crate) iid: u64,
}

/// A file from the job `job` of the latest successful pipeline on `ref_name` (job token is
/// enough). `None` when there is none.
pub(crate) fn artifact_by_ref(
    c: &ApiClient,
    project: &str,
    ref_name: &str,
    job: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, GitlabError> {
    let what = format!("the {path} artifact of job `{job}` on `{ref_name}`");
    let ep = DownloadRefJobArtifactFile::builder()
        .project(project)
        .ref_name(ref_name)
        .job(job)
        .path(path)
        .build()
        .map_err(|e| build_error(&what, e))?;
    found(api::raw(ep).query(c).map_err(|e| api_error(&what, e)))
}

/// A file from the artifacts of job `job_id`; `None` when there is none.
pub(crate) fn job_artifact(
    c: &ApiClient,
    project: &str,
    job_id: u64,
    path: &str,
) -> Result<Option<Vec<u8>>, GitlabError> {
    let what = format!("the {path} artifact of job {job_id}");
    let ep = DownloadJobArtifactFile::builder()
        .project(project)
        .job(job_id)
        .path(path)
        .build()
        .map_err(|e| build_error(&what, e))?;
    found(api::raw(ep).query(c).map_err(|e| api_error(&what, e)))
}

/// Pipelines on `ref_name`, newest first; optionally only at `sha` or only successful ones.
pub(crate) fn pipelines(
    c: &ApiClient,
    project: &str,
    ref_name: &str,
    sha: Option<&str>,
    successful_only: bool,
    limit: usize,
) -> Result<Vec<Pipeline>, GitlabError> {
    let what = format!("the pipelines of `{ref_name}`");
    let mut b = Pipelines::builder();
    b.project(project)
        .ref_(ref_name)
        .order_by(PipelineOrderBy::Id)
        .sort(api::common::SortOrder::Descending);
    if let Some(sha) = sha {
        b.sha(sha);
    }
    if successful_only {
        b.status(PipelineStatus::Success);
    }
    let ep = b.build().map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::Limit(limit.max(1)))
        .query(c)
        .map_err(|e| api_error(&what, e))
}

/// Every job of one pipeline (all pages).
pub(crate) fn pipeline_jobs(
    c: &ApiClient,
    project: &str,
    pipeline: u64,
) -> Result<Vec<Job>, GitlabError> {
    let what = format!("the jobs of pipeline {pipeline}");
    let ep = PipelineJobs::builder()
        .project(project)
        .pipeline(pipeline)
        .build()
        .map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::Limit(MAX_JOBS))
        .query(c)
        .map_err(|e| api_error(&what, e))
}

/// The most jobs read from one pipeline, and notes from one merge request: pages are followed
/// as the server links them, so a server that links forever must not be followed forever.
const MAX_JOBS: usize = 2_000;
const MAX_NOTES: usize = 10_000;

/// The notes of a merge request, up to [`MAX_NOTES`].
fn notes(c: &ApiClient, project: &str, mr: u64) -> Result<Vec<Note>, GitlabError> {
    let what = format!("the notes of merge request !{mr}");
    let ep = MergeRequestNotes::builder()
        .project(project)
        .merge_request(mr)
        .build()
        .map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::Limit(MAX_NOTES))
        .query(c)
        .map_err(|e| api_error(&what, e))
}

/// Adds a note to a merge request.
fn create_note(c: &ApiClient, project: &str, mr: u64, body: &str) -> Result<Note, GitlabError> {
    let what = format!("a new note on merge request !{mr}");
    let ep = CreateMergeRequestNote::builder()
        .project(project)
        .merge_request(mr)
        .body(body)
        .build()
        .map_err(|e| build_error(&what, e))?;
    ep.query(c).map_err(|e| api_error(&what, e))
}

/// Replaces the body of one note.
fn edit_note(
    c: &ApiClient,
    project: &str,
    mr: u64,
    note: u64,
    body: &str,
) -> Result<Note, GitlabError> {
    let what = format!("note {note} on merge request !{mr}");
    let ep = EditMergeRequestNote::builder()
        .project(project)
        .merge_request(mr)
        .note(note)
        .body(body)
        .build()
        .map_err(|e| build_error(&what, e))?;
    ep.query(c).map_err(|e| api_error(&what, e))
}

/// Open merge requests from `branch`, for comments from branch pipelines.
pub(crate) fn open_merge_requests(
    c: &ApiClient,
    project: &str,
    branch: &str,
) -> Result<Vec<MergeRequest>, GitlabError> {
    let what = format!("the open merge requests of `{branch}`");
    let ep = MergeRequests::builder()
        .project(project)
        .source_branch(branch)
        .state(MergeRequestState::Opened)
        .build()
        .map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::Limit(20))
        .query(c)
        .map_err(|e| api_error(&what, e))
}

/// What happened to the sticky note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteAction {
    /// A new note, with its id.
    Created(u64),
    /// The existing note, with its id, was edited.
    Updated(u64),
}

/// Creates or updates the one note carrying `marker` that user `me` wrote: system notes and
/// other people's notes are never ours, whatever they quote.
pub(crate) fn upsert_note(
    c: &ApiClient,
    project: &str,
    mr: u64,
    me: u64,
    marker: &str,
    body: &str,
) -> Result<NoteAction, GitlabError> {
    let existing = notes(c, project, mr)?.into_iter().find(|n| {
        !n.system && n.author.as_ref().is_some_and(|a| a.id == me) && n.body.contains(marker)
    });
    match existing {
        Some(n) => edit_note(c, project, mr, n.id, body).map(|n| NoteAction::Updated(n.id)),
        None => create_note(c, project, mr, body).map(|n| NoteAction::Created(n.id)),
    }
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
