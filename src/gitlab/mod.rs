//! The few GitLab API calls loadforge-gate makes: artifacts (the baseline), pipelines and jobs
//! (the merge-base baseline and history), merge-request notes (the sticky comment). Endpoints
//! come from the `gitlab` crate; [`client::ApiClient`] is the transport under them.

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

pub use client::{ApiClient, Auth, RetryPolicy, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum GitlabError {
    #[error("GitLab answered HTTP {status} to {what}")]
    Status { what: String, status: u16 },
    #[error("GitLab request to {what} failed: {message}")]
    Request { what: String, message: String },
    #[error("cannot build the GitLab request for {what}: {message}")]
    Build { what: String, message: String },
}

impl GitlabError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GitlabError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn api_error(what: &str, e: ApiError<TransportError>) -> GitlabError {
    let status = match &e {
        ApiError::GitlabService { status, .. }
        | ApiError::GitlabWithStatus { status, .. }
        | ApiError::GitlabUnrecognizedWithStatus { status, .. } => Some(status.as_u16()),
        _ => None,
    };
    match status {
        Some(status) => GitlabError::Status {
            what: what.to_string(),
            status,
        },
        None => GitlabError::Request {
            what: what.to_string(),
            message: e.to_string(),
        },
    }
}

fn build_error(what: &str, e: impl std::fmt::Display) -> GitlabError {
    GitlabError::Build {
        what: what.to_string(),
        message: e.to_string(),
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

#[derive(Debug, Clone, Deserialize)]
pub struct Pipeline {
    pub id: u64,
    #[serde(default)]
    pub sha: String,
    #[serde(default, rename = "ref")]
    pub ref_name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Note {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub system: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MergeRequest {
    pub iid: u64,
}

/// A file from the job `job` of the latest successful pipeline on `ref_name` (job token is
/// enough). `None` when there is none.
pub fn artifact_by_ref(
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

pub fn job_artifact(
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
pub fn pipelines(
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

pub fn pipeline_jobs(c: &ApiClient, project: &str, pipeline: u64) -> Result<Vec<Job>, GitlabError> {
    let what = format!("the jobs of pipeline {pipeline}");
    let ep = PipelineJobs::builder()
        .project(project)
        .pipeline(pipeline)
        .build()
        .map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::All)
        .query(c)
        .map_err(|e| api_error(&what, e))
}

/// Every note of a merge request (all pages).
pub fn notes(c: &ApiClient, project: &str, mr: u64) -> Result<Vec<Note>, GitlabError> {
    let what = format!("the notes of merge request !{mr}");
    let ep = MergeRequestNotes::builder()
        .project(project)
        .merge_request(mr)
        .build()
        .map_err(|e| build_error(&what, e))?;
    api::paged(ep, Pagination::All)
        .query(c)
        .map_err(|e| api_error(&what, e))
}

pub fn create_note(c: &ApiClient, project: &str, mr: u64, body: &str) -> Result<Note, GitlabError> {
    let what = format!("a new note on merge request !{mr}");
    let ep = CreateMergeRequestNote::builder()
        .project(project)
        .merge_request(mr)
        .body(body)
        .build()
        .map_err(|e| build_error(&what, e))?;
    ep.query(c).map_err(|e| api_error(&what, e))
}

pub fn edit_note(
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
pub fn open_merge_requests(
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
pub enum NoteAction {
    Created(u64),
    Updated(u64),
}

/// Creates or updates the one note carrying `marker` (system notes are never ours).
pub fn upsert_note(
    c: &ApiClient,
    project: &str,
    mr: u64,
    marker: &str,
    body: &str,
) -> Result<NoteAction, GitlabError> {
    let existing = notes(c, project, mr)?
        .into_iter()
        .find(|n| !n.system && n.body.contains(marker));
    match existing {
        Some(n) => edit_note(c, project, mr, n.id, body).map(|n| NoteAction::Updated(n.id)),
        None => create_note(c, project, mr, body).map(|n| NoteAction::Created(n.id)),
    }
}
