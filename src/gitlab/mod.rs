//! The few GitLab API calls loadforge-gate makes: artifacts (the baseline), pipelines and jobs
//! (the merge-base baseline and history), merge-request notes (the sticky comment). Endpoints
//! come from the `gitlab` crate; [`ApiClient`] is the transport under them.

mod client;
pub(crate) mod comment;

use gitlab::api::{
    self,
    projects::{
        jobs::artifacts::{DownloadJobArtifactFile, DownloadRefJobArtifactFile},
        merge_requests::{
            notes::{CreateMergeRequestNote, EditMergeRequestNote, MergeRequestNotes, NoteOrderBy},
            MergeRequestState, MergeRequests,
        },
        pipelines::{PipelineJobs, PipelineOrderBy, PipelineScope, PipelineStatus, Pipelines},
    },
    ApiError, Endpoint, Pagination, Query, QueryParams,
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

    /// A failed write that GitLab may have carried out all the same: it answered 5xx (a proxy
    /// in front of Rails gives up while Rails goes on and saves), or no answer came. A 4xx,
    /// 429 included, is an answer of a request not acted upon.
    fn may_have_landed(&self) -> bool {
        match self {
            GitlabError::Status { status, .. } => *status >= 500,
            GitlabError::Request { source, .. } => source.is_uncertain(),
            GitlabError::Answer { .. } => true,
            GitlabError::Build { .. } => false,
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
    /// The branch or tag, or `refs/merge-requests/IID/head` for a merge-request pipeline.
    #[serde(default, rename = "ref")]
    pub(crate) ref_name: String,
    /// What started it: `push`, `merge_request_event`, `schedule`, ...
    #[serde(default)]
    pub(crate) source: String,
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
    let ep = DownloadRefJobArtifactFile::builder()
        .project(project)
        .ref_name(ref_name)
        .job(job)
        .path(path)
        .build()
        .map_err(|e| build_error(&what, e))?;
    found(
        api::raw(SearchingRecent(ep))
            .query(c)
            .map_err(|e| api_error(&what, e)),
    )
}

/// The by-ref artifact download with `search_recent_successful_pipelines=true` (GitLab 18.7,
/// generally available in 18.10; `lib/api/ci/job_artifacts.rb`): the newest of the recent
/// successful pipelines that ran the job, not only the latest pipeline, which may have skipped
/// it (gitlab-org/gitlab#349316). An older GitLab ignores the parameter, as Grape ignores any
/// it does not declare, and looks at the latest pipeline alone.
struct SearchingRecent<'a>(DownloadRefJobArtifactFile<'a>);

impl Endpoint for SearchingRecent<'_> {
    fn method(&self) -> http::Method {
        self.0.method()
    }

    fn endpoint(&self) -> std::borrow::Cow<'static, str> {
        self.0.endpoint()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = self.0.parameters();
        params.push("search_recent_successful_pipelines", true);
        params
    }
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
    let mut b = Pipelines::builder();
    b.project(project)
        .order_by(PipelineOrderBy::Id)
        .sort(api::common::SortOrder::Descending);
    if let Some(r) = filter.ref_name {
        b.ref_(r);
    }
    if let Some(sha) = filter.sha {
        b.sha(sha);
    }
    if filter.successful {
        b.status(PipelineStatus::Success);
    }
    if filter.tags {
        b.scope(PipelineScope::Tags);
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

/// The first note of a merge request, most recently updated first, that `mine` accepts;
/// pages are read only until it is found, and never past [`MAX_NOTES`]. The gate's note is
/// edited by every pipeline, so it sits on the first page however long the discussion.
fn find_note(
    c: &ApiClient,
    project: &str,
    mr: u64,
    mine: impl Fn(&Note) -> bool,
) -> Result<Option<Note>, GitlabError> {
    let what = format!("the notes of merge request !{mr}");
    let ep = MergeRequestNotes::builder()
        .project(project)
        .merge_request(mr)
        .order_by(NoteOrderBy::UpdatedAt)
        .sort(api::common::SortOrder::Descending)
        .build()
        .map_err(|e| build_error(&what, e))?;
    for note in api::paged(ep, Pagination::Limit(MAX_NOTES)).iter::<_, Note>(c) {
        let note = note.map_err(|e| api_error(&what, e))?;
        if mine(&note) {
            return Ok(Some(note));
        }
    }
    Ok(None)
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
    /// A POST failed, but GitLab had saved the note: it was found, with its id, and edited
    /// rather than posted twice.
    Recovered(u64),
}

/// How often a note is posted at most: a POST that may have landed is followed by a look at
/// the notes, and posted again only when it did not land.
const MAX_NOTE_POSTS: u32 = 3;

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
    let mine = |n: &Note| {
        !n.system && n.author.as_ref().is_some_and(|a| a.id == me) && n.body.contains(marker)
    };
    if let Some(n) = find_note(c, project, mr, mine)? {
        return edit_note(c, project, mr, n.id, body).map(|n| NoteAction::Updated(n.id));
    }
    let mut posts = 0;
    loop {
        posts += 1;
        let err = match create_note(c, project, mr, body) {
            Ok(n) => return Ok(NoteAction::Created(n.id)),
            Err(e) if !e.may_have_landed() => return Err(e),
            Err(e) if posts >= MAX_NOTE_POSTS => {
                // One last look: the last POST may have landed too.
                return match find_note(c, project, mr, mine)? {
                    Some(n) => {
                        edit_note(c, project, mr, n.id, body).map(|n| NoteAction::Recovered(n.id))
                    }
                    None => Err(e),
                };
            }
            Err(e) => e,
        };
        // GitLab may have saved the note before the error: a second POST would be a second
        // note. Look first; a note of ours is now the one the failed POST created.
        if let Some(n) = find_note(c, project, mr, mine)? {
            return edit_note(c, project, mr, n.id, body).map(|n| NoteAction::Recovered(n.id));
        }
        eprintln!(
            "loadforge-gate: comment: {}; the note did not land, posting again",
            crate::chain::one_line(&err)
        );
        std::thread::sleep(RetryPolicy::DEFAULT.backoff(posts - 1));
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
