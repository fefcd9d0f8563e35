//! An in-process GitLab that implements the REST endpoints loadforge-gate calls as strictly as
//! GitLab does. Each rule names the GitLab source (gitlabhq) or doc it follows:
//!
//! - Authentication (`lib/api/api_guard.rb`, `lib/api/helpers.rb` `unauthorized!`): a wrong or
//!   missing token is `401 {"message":"401 Unauthorized"}`. `PRIVATE_TOKEN` is project 42's
//!   project access token (a bot user, role Developer here: GitLab's default is Maintainer,
//!   who may edit others' notes; the gate must not rely on that); `MAINTAINER_TOKEN` and
//!   `REPORTER_TOKEN` are two more, of other bots (a token rotated). A project access token sees
//!   its own project only: another is `404 Project Not Found` (`find_project!`).
//! - The job token (see [`authorize_job`]) is taken only by routes that set
//!   `job_token_allowed: true` (`find_user_from_job_token`, `lib/gitlab/auth/auth_finders.rb`):
//!   here the artifact downloads (`lib/api/ci/job_artifacts.rb`) and, on a current GitLab, the
//!   pipelines list and a pipeline's jobs list (`lib/api/ci/pipelines.rb`, job token policies
//!   `read_pipelines` and `read_jobs`); any other route is `401` for it. `lists_ignore_job_token`
//!   is a GitLab whose lists do not take it yet: the request is then anonymous, which reads a
//!   public project with public pipelines (`200`), is `403 Forbidden` where its pipelines are
//!   for members only (`authorize! :read_pipeline`) and `404 Project Not Found` on a private or
//!   internal project (`find_project!`). Its own project's job token is always admitted
//!   (`Ci::JobToken::Scope#policies_allowed?`: `self_referential?`,
//!   `app/models/ci/job_token/scope.rb`). Another project's (the fork's) reads project 42
//!   without any allowlist when 42 is public or internal and its CI/CD is visible to everyone
//!   with access (`doc/ci/jobs/ci_job_token.md`, "Limit job token scope for public or internal
//!   projects"; fine-grained permissions not enforced there:
//!   `allow_public_access_for_enabled_project_features: [:repository, :builds]`); otherwise
//!   only when 42's allowlist admits it and the user who triggered it is a member
//!   (`fork_allowed`; "Control job token access to your project"), else
//!   `403 Forbidden - Authentication by CI/CD job token not allowed from X to Y.`
//!   (`handle_job_token_failure!`). An allowlist entry with fine-grained permissions
//!   (`fork_policies`) grants only the policies it lists: a route needing another is
//!   `403 Forbidden - Insufficient permissions to access this resource in project X. The
//!   following token permission is required: read_pipelines.`
//!   (`job_token_policies_unauthorized_message`; `policies_allowed_for_accessed_project?`).
//! - Merge requests and notes belong to a project (`app/finders/notes_finder.rb`
//!   `find_by!`): an unknown iid is `404 {"message":"404 Not found"}` (ActiveRecord's
//!   `RecordNotFound`, rescued in `lib/api/api.rb`).
//! - Notes (`lib/api/notes.rb`): listed newest first by default (`sort` default `desc`,
//!   `order_by` `created_at`, which `order_options_with_tie_breaker` turns into `id`),
//!   `order_by=updated_at` and `sort=asc` honoured, any other value
//!   `400 {"error":"sort does not have a valid value"}` (Grape). System notes are listed.
//!   The page is cut first and filtered after: `paginate(raw_notes)`, then
//!   `notes.select { |note| note.readable_by?(current_user) }`, so "the current page can have
//!   less elements than :per_page even if there's more than one page", while the headers
//!   count the notes before the filter. A note the caller may not read (`readable: false`,
//!   e.g. a system note cross-referencing a private project's issue) is dropped from its page.
//!   `POST` answers 201; no `body` is `400 {"error":"body is missing"}`; over 1,000,000
//!   characters is `400 Bad request - Note {:note=>["is too long ..."]}`
//!   (`Gitlab::Database::MAX_TEXT_SIZE_LIMIT`). `PUT` and `DELETE` both need `admin_note` on
//!   the note (`update_note` and `delete_note` in `lib/api/helpers/notes_helpers.rb`:
//!   `authorize! :admin_note`), which its author has (`app/policies/note_policy.rb`, rule
//!   `is_author`) and so has a Maintainer or Owner of the project (`NotePolicy` delegates to
//!   the project, and `app/policies/project_policy.rb` enables `admin_note` under
//!   `can?(:maintainer_access)`), nobody for a system note (`~editable` prevents it); anyone
//!   else gets `403 {"message":"403 Forbidden"}`. So whoever may edit another user's note may
//!   delete it too, and whoever may not do one may do neither. A note of another merge
//!   request, or one deleted already,
//!   is `404 Not found` (`noteable.notes.find`). `DELETE` answers `204` with no body
//!   (`lib/api/helpers/notes_helpers.rb` `delete_note`, `destroy_conditionally!` in
//!   `lib/api/helpers.rb`).
//! - Pagination (`lib/gitlab/pagination/offset_pagination.rb`, `offset_header_builder.rb`):
//!   `x-per-page` (as clamped), `x-page`, `x-next-page` and `x-prev-page` (empty when there is
//!   none) and `Link` with `rel="prev"`, `"next"`, `"first"` and `"last"` in that order, each
//!   the request's params (the route's `id` and `noteable_id` among them) with `page` and
//!   `per_page` set, sorted by key as Rails' `to_query` does, on GitLab's configured host
//!   (`base_request_uri`; here `localhost`, while the tests call 127.0.0.1). `x-total`,
//!   `x-total-pages` and `rel="last"` only up to 10,000 items: above, `exceeeds_count?`
//!   (`total_count_with_limit` > `MAX_COUNT_LIMIT`,
//!   `config/initializers/kaminari_active_record_relation_methods_with_limit.rb`) pages
//!   `without_count` and the builder leaves them out (the REST docs' "Pagination response
//!   headers").
//! - Artifacts by ref (`lib/api/ci/job_artifacts.rb`, `Project#latest_successful_build_for_ref`):
//!   the latest successful pipeline of the ref, then the job of that name in it that was not
//!   retried (`.latest`) and has artifacts; a newer successful pipeline without the job hides
//!   older ones (gitlab-org/gitlab#349316) unless `search_recent_successful_pipelines=true`:
//!   the recent successful pipelines, newest first, on the raw file endpoint from GitLab 18.9
//!   behind the project's `ci_search_recent_successful_pipelines` flag (disabled by default)
//!   and on every project from 18.10, which removed the flag (`doc/api/job_artifacts.md`,
//!   "Download a single artifact file by reference name"; the archive download had it from
//!   18.7). A miss is `404 Not found`; a path missing from the archive is Workhorse's
//!   plain-text `404 page not found`.
//! - A job's artifact file (`GET /jobs/:id/artifacts/*path`): `404 Not Found` unless
//!   `available_artifacts?` (not expired); streamed by Workhorse, not redirected. The
//!   `redirect_job_artifacts` mode redirects to "object storage" on another host, as the
//!   archive endpoint and proxies do, so tests can prove no token follows a redirect.
//! - Pipelines (`lib/api/ci/pipelines.rb`): `ref`, `sha`, `status`, `source` (one of `Ci::Pipeline.sources`, else `400`), `scope=tags|branches`
//!   (the newest pipeline per ref), newest id first; items carry `ref` and `source`. `ref` and
//!   `sha` are exact matches (`Ci::PipelinesFinder#by_ref`, `#by_sha`: `where(ref:)`,
//!   `where(sha:)`), so a short SHA finds nothing, and a branch's filter leaves out its merge
//!   requests' pipelines (`refs/merge-requests/...`).
//! - Rate limits (`lib/gitlab/rack_attack.rb`): 429, `text/plain` `Retry later\n`, the
//!   `RateLimit-*` headers and `Retry-After`.
//! - Faults on demand: a status for the next N matching requests, struck before the handler
//!   runs or after it (the state changed, then the answer was lost: GitLab saved, a proxy
//!   answered 502).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, Query, RawQuery, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, put},
    Form, Json, Router,
};
use loadforge_gate::sample_app::Served;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_rustls::rustls;

pub const PRIVATE_TOKEN: &str = "glpat-fake-private-token-1234";
pub const JOB_TOKEN: &str = "glcbt-fake-job-token-5678";
/// The job token of a pipeline in the fork.
pub const FORK_JOB_TOKEN: &str = "glcbt-fake-fork-job-token-9012";
pub const PROJECT: &str = "42";
/// A fork of [`PROJECT`].
pub const FORK: &str = "43";
/// The user the private token belongs to (a project bot, as GitLab creates for project tokens).
pub const BOT_USER: u64 = 7;
/// Project 42's access token of another bot, role Maintainer: a token rotated to a new bot.
pub const MAINTAINER_TOKEN: &str = "glpat-fake-maintainer-token-3456";
/// The bot [`MAINTAINER_TOKEN`] belongs to.
pub const MAINTAINER_BOT: u64 = 8;
/// Project 42's access token of a third bot, role Reporter (what docs/gitlab.md advises).
pub const REPORTER_TOKEN: &str = "glpat-fake-reporter-token-7890";
/// The bot [`REPORTER_TOKEN`] belongs to.
pub const REPORTER_BOT: u64 = 9;

/// A member's role in project 42, as far as the notes tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Reporter,
    Developer,
    Maintainer,
}

/// Project 42's access tokens: each one's bot user and role. [`PRIVATE_TOKEN`]'s bot is a
/// Developer here (GitLab's default for a project token is Maintainer, who may edit and delete
/// others' notes; the gate must not rely on that).
const TOKENS: [(&str, u64, Role); 3] = [
    (PRIVATE_TOKEN, BOT_USER, Role::Developer),
    (MAINTAINER_TOKEN, MAINTAINER_BOT, Role::Maintainer),
    (REPORTER_TOKEN, REPORTER_BOT, Role::Reporter),
];

/// The role of project 42's member `user`, when a token names one.
fn role_of(user: u64) -> Option<Role> {
    TOKENS.iter().find(|t| t.1 == user).map(|t| t.2)
}

/// Whether `user` may edit and delete `note` (`admin_note`, see the module's notes rules).
fn may_admin(user: u64, note: &FakeNote) -> bool {
    !note.system && (note.author == user || role_of(user) >= Some(Role::Maintainer))
}
/// Somebody else on the merge request.
pub const HUMAN_USER: u64 = 99;
/// GitLab counts at most this many items for the `x-total` headers.
const MAX_COUNT_LIMIT: usize = 10_000;
/// `Gitlab::Database::MAX_TEXT_SIZE_LIMIT`.
const MAX_NOTE_CHARS: usize = 1_000_000;

/// A project's visibility level (`CI_PROJECT_VISIBILITY`'s values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

#[derive(Debug, Clone)]
pub struct FakeJob {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub artifacts: HashMap<String, Vec<u8>>,
    /// A retry replaced this job: GitLab's `.latest` scope skips it.
    pub retried: bool,
    /// The artifacts expired and were removed by the expiry worker.
    pub expired: bool,
}

#[derive(Debug, Clone)]
pub struct FakePipeline {
    pub id: u64,
    pub project: String,
    pub ref_name: String,
    pub sha: String,
    pub status: String,
    /// `push`, `merge_request_event`, `schedule`, ...
    pub source: String,
    /// A tag pipeline (`ref` is a tag).
    pub tag: bool,
    pub jobs: Vec<FakeJob>,
}

#[derive(Debug, Clone)]
pub struct FakeNote {
    pub id: u64,
    pub body: String,
    pub system: bool,
    /// The author's user id.
    pub author: u64,
    /// A sequence number standing for `updated_at`.
    pub updated: u64,
    /// Whether the caller may read it (`Note#readable_by?`); GitLab drops an unreadable note
    /// from a page already cut.
    pub readable: bool,
}

impl FakeNote {
    /// A note by `author`, written before any the gate writes.
    pub fn by(author: u64, id: u64, body: &str) -> FakeNote {
        FakeNote {
            id,
            body: body.into(),
            system: false,
            author,
            updated: id,
            readable: true,
        }
    }

    /// A system note the caller may not read: a cross-reference from a project it cannot see
    /// (`Note#readable_by?` is false for it).
    pub fn hidden(id: u64, updated: u64) -> FakeNote {
        FakeNote {
            system: true,
            updated,
            readable: false,
            ..FakeNote::by(HUMAN_USER, id, "mentioned in issue secret/project#1")
        }
    }
}

/// A merge request: it lives in `project` (its target), its branch in `source_project`.
#[derive(Debug, Clone)]
pub struct FakeMergeRequest {
    pub project: String,
    pub iid: u64,
    pub source_branch: String,
    pub source_project: String,
    /// `main` unless a test says otherwise.
    pub target_branch: String,
    /// The merge base (`diff_refs.base_sha`), when GitLab has computed the diff.
    pub base_sha: Option<String>,
    pub notes: Vec<FakeNote>,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Method,
    pub path_contains: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Struck after the handler ran: the state changed, the answer was lost.
    pub after: bool,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path: String,
    /// The query string, if any.
    pub query: String,
    /// Which credential header the request carried, if any.
    pub auth: Option<&'static str>,
    pub status: u16,
}

pub struct Inner {
    pub pipelines: Vec<FakePipeline>,
    pub merge_requests: Vec<FakeMergeRequest>,
    pub faults: VecDeque<Fault>,
    pub log: Vec<Logged>,
    /// A hostile mode: the notes list always links one more page.
    pub endless_note_pages: bool,
    /// Job artifact files are redirected to object storage instead of streamed.
    pub redirect_job_artifacts: bool,
    /// Project 42's allowlist admits the fork's job token, and the user who triggered the
    /// fork's pipeline is a member of 42 who may read its pipelines.
    pub fork_allowed: bool,
    /// The fork's allowlist entry holds fine-grained permissions: only these job token
    /// policies (`read_jobs`, `read_pipelines`, ...). `None`: the default permissions.
    pub fork_policies: Option<Vec<&'static str>>,
    /// Project 42's visibility.
    pub visibility: Visibility,
    /// Project 42's CI/CD is visible to "Everyone with access" (GitLab's default), not
    /// "Only project members".
    pub public_pipelines: bool,
    /// A GitLab whose pipelines and pipeline-jobs lists do not take the job token yet: the
    /// request is anonymous there.
    pub lists_ignore_job_token: bool,
    /// A GitLab before 18.10 (or 18.9 without the project's
    /// `ci_search_recent_successful_pipelines` flag): the raw by-ref download ignores
    /// `search_recent_successful_pipelines` (an undeclared parameter before 18.9, which Grape
    /// ignores; behind the disabled flag in 18.9) and looks at the latest pipeline only.
    pub before_18_10: bool,
    /// Requests that reached object storage with a GitLab token attached (must stay empty).
    pub leaked_to_storage: usize,
    /// Holds each note `POST` until this many have arrived (or 20 s passed), so that gates
    /// commenting at once all find no note and all post: the race of two pipelines.
    pub posts_meet: Option<Arc<tokio::sync::Barrier>>,
    next_id: u64,
}

impl Default for Inner {
    /// A project 42 with one open merge request, !7 from its own branch `feature`.
    fn default() -> Inner {
        Inner {
            pipelines: Vec::new(),
            merge_requests: vec![FakeMergeRequest {
                project: PROJECT.into(),
                iid: 7,
                source_branch: "feature".into(),
                source_project: PROJECT.into(),
                target_branch: "main".into(),
                base_sha: None,
                notes: Vec::new(),
            }],
            faults: VecDeque::new(),
            log: Vec::new(),
            endless_note_pages: false,
            redirect_job_artifacts: false,
            fork_allowed: false,
            fork_policies: None,
            visibility: Visibility::Private,
            public_pipelines: true,
            lists_ignore_job_token: false,
            before_18_10: false,
            leaked_to_storage: 0,
            posts_meet: None,
            next_id: 0,
        }
    }
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    fn mr_mut(&mut self, project: &str, iid: u64) -> Option<&mut FakeMergeRequest> {
        self.merge_requests
            .iter_mut()
            .find(|m| m.project == project && m.iid == iid)
    }

    /// The notes of merge request `iid` of project 42, created on first use.
    pub fn notes_of(&mut self, iid: u64) -> &mut Vec<FakeNote> {
        if self.mr_mut(PROJECT, iid).is_none() {
            self.add_merge_request(PROJECT, iid, "feature", PROJECT);
        }
        &mut self.mr_mut(PROJECT, iid).unwrap().notes
    }

    pub fn add_merge_request(&mut self, project: &str, iid: u64, branch: &str, source: &str) {
        self.merge_requests.push(FakeMergeRequest {
            project: project.into(),
            iid,
            source_branch: branch.into(),
            source_project: source.into(),
            target_branch: "main".into(),
            base_sha: None,
            notes: Vec::new(),
        });
    }

    /// A pipeline of `project` with one job `job`; its id.
    pub fn add_pipeline_to(&mut self, project: &str, p: PipelineSpec<'_>) -> u64 {
        let id = self.id();
        let job_id = self.id();
        let mut artifacts = HashMap::new();
        if let Some(r) = p.results {
            artifacts.insert(
                "loadforge-gate/results.json".to_string(),
                r.as_bytes().to_vec(),
            );
        }
        self.pipelines.push(FakePipeline {
            id,
            project: project.into(),
            ref_name: p.ref_name.into(),
            sha: p.sha.into(),
            status: p.status.into(),
            source: p.source.into(),
            tag: p.tag,
            jobs: vec![FakeJob {
                id: job_id,
                name: p.job.into(),
                status: p.status.into(),
                artifacts,
                retried: false,
                expired: false,
            }],
        });
        id
    }
}

/// A pipeline to add: ref, commit, status, source, and its one job's name and results.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSpec<'a> {
    pub ref_name: &'a str,
    pub sha: &'a str,
    pub status: &'a str,
    pub source: &'a str,
    /// Whether `ref_name` is a tag.
    pub tag: bool,
    pub job: &'a str,
    pub results: Option<&'a str>,
}

/// The state, the address and the scheme (`http` or `https`).
type Shared = Arc<(Mutex<Inner>, SocketAddr, &'static str)>;

pub struct FakeGitlab {
    pub addr: SocketAddr,
    state: Shared,
    _server: Served,
}

impl FakeGitlab {
    pub fn start() -> FakeGitlab {
        Self::start_with(None)
    }

    /// Served over TLS with `config` (a certificate for 127.0.0.1 and localhost).
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> FakeGitlab {
        Self::start_with(Some(config))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> FakeGitlab {
        // The routes need the address (links, redirects to "object storage" on another host
        // name), so bind first and hand the listener's address to the state.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state: Shared = Arc::new((Mutex::new(Inner::default()), addr, scheme));
        let server = match tls {
            None => Served::start(&addr.to_string(), router(state.clone()), 1),
            Some(c) => Served::start_tls(&addr.to_string(), router(state.clone()), 1, c),
        }
        .unwrap();
        FakeGitlab {
            addr: server.addr,
            state,
            _server: server,
        }
    }

    pub fn api_url(&self) -> String {
        format!("{}://{}/api/v4", self.state.2, self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.0.lock().unwrap())
    }

    /// Registers a finished push pipeline of project 42 whose job `job` kept `results` as
    /// loadforge-gate/results.json.
    pub fn add_pipeline(
        &self,
        ref_name: &str,
        sha: &str,
        status: &str,
        job: &str,
        results: Option<&str>,
    ) -> u64 {
        self.with(|s| {
            s.add_pipeline_to(
                PROJECT,
                PipelineSpec {
                    ref_name,
                    sha,
                    status,
                    source: "push",
                    tag: false,
                    job,
                    results,
                },
            )
        })
    }

    /// The next `times` requests matching `method` and `path_contains` get `status`.
    pub fn fail_next(
        &self,
        method: Method,
        path_contains: &str,
        status: u16,
        times: usize,
        retry_after: Option<u64>,
    ) {
        self.push_faults(method, path_contains, status, times, retry_after, false);
    }

    /// The next `times` matching requests are carried out, then answered with `status`.
    pub fn fail_after(&self, method: Method, path_contains: &str, status: u16, times: usize) {
        self.push_faults(method, path_contains, status, times, None, true);
    }

    fn push_faults(
        &self,
        method: Method,
        path_contains: &str,
        status: u16,
        times: usize,
        retry_after: Option<u64>,
        after: bool,
    ) {
        self.with(|s| {
            for _ in 0..times {
                s.faults.push_back(Fault {
                    method: method.clone(),
                    path_contains: path_contains.into(),
                    status,
                    retry_after,
                    after,
                });
            }
        })
    }

    /// The notes of merge request `mr` of project 42, oldest first.
    pub fn notes(&self, mr: u64) -> Vec<FakeNote> {
        self.notes_in(PROJECT, mr)
    }

    /// The notes of merge request `mr` of `project`, oldest first.
    pub fn notes_in(&self, project: &str, mr: u64) -> Vec<FakeNote> {
        self.with(|s| {
            s.mr_mut(project, mr)
                .map(|m| m.notes.clone())
                .unwrap_or_default()
        })
    }

    pub fn log(&self) -> Vec<Logged> {
        self.with(|s| s.log.clone())
    }
}

fn router(state: Shared) -> Router {
    let p = "/api/v4/projects/{project}";
    Router::new()
        .route(
            &format!("{p}/jobs/artifacts/{{ref_name}}/raw/{{*path}}"),
            get(artifact_by_ref),
        )
        .route(
            &format!("{p}/jobs/{{job}}/artifacts/{{*path}}"),
            get(job_artifact),
        )
        .route("/api/v4/user", get(current_user))
        .route(&format!("{p}/pipelines"), get(pipelines))
        .route(
            &format!("{p}/pipelines/{{pipeline}}/jobs"),
            get(pipeline_jobs),
        )
        .route(&format!("{p}/merge_requests"), get(merge_requests))
        .route(&format!("{p}/merge_requests/{{mr}}"), get(merge_request))
        .route(
            &format!("{p}/merge_requests/{{mr}}/notes"),
            get(list_notes).post(create_note),
        )
        .route(
            &format!("{p}/merge_requests/{{mr}}/notes/{{note}}"),
            put(edit_note).delete(delete_note),
        )
        .route("/storage/{job}/{*path}", get(storage))
        .layer(middleware::from_fn_with_state(state.clone(), gatekeeper))
        .with_state(state)
}

/// `{"message": text}` with `status`, as `render_api_error!` sends it.
fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

/// `{"error": text}`, as Grape's own validation errors are sent.
fn grape_error(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": text}))).into_response()
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "404 Not found")
}

fn project_not_found() -> Response {
    message(StatusCode::NOT_FOUND, "404 Project Not Found")
}

/// Who is calling: a bot of project 42 (its user), or a job of project 42 or of the fork.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Bot(u64),
    Job(&'static str),
}

fn caller(headers: &HeaderMap) -> Option<Caller> {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let bot = value("PRIVATE-TOKEN").and_then(|t| TOKENS.iter().find(|k| k.0 == t));
    match (bot, value("JOB-TOKEN")) {
        (Some(&(_, user, _)), _) => Some(Caller::Bot(user)),
        (_, Some(JOB_TOKEN)) => Some(Caller::Job(PROJECT)),
        (_, Some(FORK_JOB_TOKEN)) => Some(Caller::Job(FORK)),
        _ => None,
    }
}

/// The project a path names, if any.
fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v4/projects/")?.split('/').next()
}

/// Whether `who` may call `method path`; the refusal GitLab sends otherwise.
fn authorize(who: Option<Caller>, method: &Method, path: &str, s: &Shared) -> Option<Response> {
    let Some(who) = who else {
        return Some(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
    };
    let project = project_of(path);
    match who {
        // A project access token sees its own project only.
        Caller::Bot(_) => (project.is_some() && project != Some(PROJECT)).then(project_not_found),
        Caller::Job(own) => {
            let st = s.0.lock().unwrap();
            authorize_job(
                &st,
                own,
                JobRoute::of(method, path),
                project.unwrap_or_default(),
            )
        }
    }
}

/// A route as the job token meets it, with the job token policy it asks for
/// (`route_setting :authorization, job_token_policies:`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum JobRoute {
    /// An artifact download (`lib/api/ci/job_artifacts.rb`): `read_jobs`.
    Artifacts,
    /// `GET /projects/:id/pipelines`: `read_pipelines`.
    Pipelines,
    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`: `read_jobs`.
    PipelineJobs,
    /// Any other: no `job_token_allowed`.
    Other,
}

impl JobRoute {
    fn of(method: &Method, path: &str) -> JobRoute {
        let rest = path
            .strip_prefix("/api/v4/projects/")
            .and_then(|p| p.split_once('/'))
            .map_or("", |(_, rest)| rest);
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            _ if *method != Method::GET => JobRoute::Other,
            ["jobs", ..] if rest.contains("/artifacts/") => JobRoute::Artifacts,
            ["pipelines"] => JobRoute::Pipelines,
            ["pipelines", _, "jobs"] => JobRoute::PipelineJobs,
            _ => JobRoute::Other,
        }
    }

    fn policy(self) -> &'static str {
        match self {
            JobRoute::Pipelines => "read_pipelines",
            _ => "read_jobs",
        }
    }
}

/// The job token of project `own` on `route` of project `target`: `None` when GitLab lets it
/// through, else its refusal (the rules are in the module's header).
fn authorize_job(st: &Inner, own: &str, route: JobRoute, target: &str) -> Option<Response> {
    let list = matches!(route, JobRoute::Pipelines | JobRoute::PipelineJobs);
    if route == JobRoute::Other {
        return Some(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
    }
    if list && st.lists_ignore_job_token {
        return anonymous(st, target);
    }
    if target == own {
        return None;
    }
    let open = st.visibility != Visibility::Private && st.public_pipelines;
    if open && target == PROJECT {
        return None;
    }
    if !st.fork_allowed {
        return Some(message(
            StatusCode::FORBIDDEN,
            &format!("403 Forbidden - Authentication by CI/CD job token not allowed from {own} to {target}."),
        ));
    }
    match &st.fork_policies {
        Some(granted) if !granted.contains(&route.policy()) => Some(message(
            StatusCode::FORBIDDEN,
            &format!(
                "403 Forbidden - Insufficient permissions to access this resource in project {target}. The following token permission is required: {}.",
                route.policy()
            ),
        )),
        _ => None,
    }
}

/// An anonymous caller on project `target`'s pipelines: a public project's when its pipelines
/// are public; `403` when they are for members (`authorize! :read_pipeline`); a private or
/// internal project is not found (`find_project!`: `can?(nil, :read_project)` is false).
fn anonymous(st: &Inner, target: &str) -> Option<Response> {
    match (target == PROJECT).then_some(st.visibility) {
        Some(Visibility::Public) if st.public_pipelines => None,
        Some(Visibility::Public) => Some(message(StatusCode::FORBIDDEN, "403 Forbidden")),
        _ => Some(project_not_found()),
    }
}

/// Rack::Attack's throttled answer.
fn throttled(retry_after: Option<u64>) -> Response {
    let mut r = (StatusCode::TOO_MANY_REQUESTS, "Retry later\n").into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    for (k, v) in [
        ("RateLimit-Name", "throttle_authenticated_api"),
        ("RateLimit-Limit", "60"),
        ("RateLimit-Observed", "61"),
        ("RateLimit-Remaining", "0"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn fault_response(f: &Fault) -> Response {
    match f.status {
        429 => throttled(f.retry_after),
        502 => (StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>").into_response(),
        s => message(
            StatusCode::from_u16(s).unwrap(),
            "500 Internal Server Error",
        ),
    }
}

/// Authentication, injected faults and the request log, in front of every route.
async fn gatekeeper(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers = req.headers();
    let auth = if headers.get("PRIVATE-TOKEN").is_some() {
        Some("PRIVATE-TOKEN")
    } else if headers.get("JOB-TOKEN").is_some() {
        Some("JOB-TOKEN")
    } else {
        None
    };
    let response = if path.starts_with("/storage/") {
        if auth.is_some() || headers.get(header::AUTHORIZATION).is_some() {
            s.0.lock().unwrap().leaked_to_storage += 1;
        }
        next.run(req).await
    } else {
        let fault = {
            let mut st = s.0.lock().unwrap();
            let pos = st
                .faults
                .iter()
                .position(|f| f.method == method && path.contains(&f.path_contains));
            pos.and_then(|i| st.faults.remove(i))
        };
        let refused = authorize(caller(headers), &method, &path, &s);
        match (fault, refused) {
            (Some(f), _) if !f.after => fault_response(&f),
            (_, Some(refusal)) => refusal,
            (Some(f), None) => {
                // Carried out, then the answer lost.
                let _ = next.run(req).await;
                fault_response(&f)
            }
            (None, None) => next.run(req).await,
        }
    };
    s.0.lock().unwrap().log.push(Logged {
        method,
        path,
        query,
        auth,
        status: response.status().as_u16(),
    });
    response
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// Where a list's `Link`s point: its path, and the params GitLab puts in each besides `page`
/// and `per_page` (`page_href`: `params.merge(page:, per_page:)`, Grape's params holding the
/// route's own, such as `id`; the declared defaults Grape adds, such as `sort=desc`, are left
/// out here).
struct Listing {
    path: String,
    params: Vec<(String, String)>,
}

impl Listing {
    /// The list at `path`, with the route's params and the request's query.
    fn new(path: String, route: &[(&str, &str)], query: Option<&str>) -> Listing {
        let mut params: Vec<(String, String)> = route
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let asked = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        params.extend(
            asked
                .into_owned()
                .filter(|(k, _)| k != "page" && k != "per_page"),
        );
        Listing { path, params }
    }

    /// The link to page `page`: on GitLab's configured host, the params sorted by key
    /// (`to_query`).
    fn href(&self, s: &Shared, page: usize, per_page: usize) -> String {
        let mut params = self.params.clone();
        params.push(("page".into(), page.to_string()));
        params.push(("per_page".into(), per_page.to_string()));
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{}://localhost:{}{}?{query}", s.2, s.1.port(), self.path)
    }
}

/// One page of `items` as GitLab's offset pagination cuts it, with the headers
/// `OffsetHeaderBuilder` sends for it; the totals only when GitLab counts them.
fn page_of<T>(items: Vec<T>, q: &PageQuery, listing: &Listing, s: &Shared) -> (Vec<T>, HeaderMap) {
    let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let counted = total <= MAX_COUNT_LIMIT;
    let slice: Vec<T> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = (page < pages).then_some(page + 1);
    let prev = (page > 1).then(|| page - 1);
    let mut h = HeaderMap::new();
    let num = |n: usize| HeaderValue::from_str(&n.to_string()).unwrap();
    let or_empty = |n: Option<usize>| n.map_or(HeaderValue::from_static(""), num);
    h.insert("x-per-page", num(per_page));
    h.insert("x-page", num(page));
    h.insert("x-next-page", or_empty(next));
    h.insert("x-prev-page", or_empty(prev));
    let link = |p: usize, rel: &str| format!("<{}>; rel=\"{rel}\"", listing.href(s, p, per_page));
    let mut links: Vec<String> = Vec::new();
    links.extend(prev.map(|p| link(p, "prev")));
    links.extend(next.map(|p| link(p, "next")));
    links.push(link(1, "first"));
    if counted {
        links.push(link(pages, "last"));
        h.insert("x-total", num(total));
        h.insert("x-total-pages", num(pages));
    }
    h.insert(
        header::LINK,
        HeaderValue::from_str(&links.join(", ")).unwrap(),
    );
    (slice, h)
}

/// A page of JSON items with its paging headers.
fn paged_json(page: Vec<Value>, headers: HeaderMap) -> Response {
    let mut r = Json(Value::Array(page)).into_response();
    r.headers_mut().extend(headers);
    r
}

/// GitLab's offset pagination of a list no filter touches after the page is cut.
fn paginate(items: Vec<Value>, q: &PageQuery, listing: &Listing, s: &Shared) -> Response {
    let (page, headers) = page_of(items, q, listing, s);
    paged_json(page, headers)
}

#[derive(Deserialize)]
struct JobQuery {
    job: String,
    #[serde(default)]
    search_recent_successful_pipelines: bool,
}

/// How many recent successful pipelines `search_recent_successful_pipelines` reads.
const RECENT_PIPELINES_SEARCHED: usize = 100;

fn known_project(project: &str) -> bool {
    project == PROJECT || project == FORK
}

async fn artifact_by_ref(
    State(s): State<Shared>,
    Path((project, ref_name, path)): Path<(String, String, String)>,
    Query(q): Query<JobQuery>,
) -> Response {
    if !known_project(&project) {
        return project_not_found();
    }
    let st = s.0.lock().unwrap();
    let mut successful: Vec<&FakePipeline> = st
        .pipelines
        .iter()
        .filter(|p| p.project == project && p.ref_name == ref_name && p.status == "success")
        .collect();
    successful.sort_by_key(|p| std::cmp::Reverse(p.id));
    // `latest_successful_for_ref`: one pipeline, the newest successful one of the ref; with
    // `search_recent_successful_pipelines` (raw file: 18.9 with the flag, 18.10 on) the
    // recent ones, newest first (`Ci::Build.latest_with_artifacts_for_ref`).
    let searched = if q.search_recent_successful_pipelines && !st.before_18_10 {
        RECENT_PIPELINES_SEARCHED
    } else {
        1
    };
    // `build_with_artifacts_in_self_and_project_descendants`: not retried, with artifacts.
    let job = successful.iter().take(searched).find_map(|p| {
        p.jobs
            .iter()
            .find(|j| j.name == q.job && !j.retried && !j.expired && !j.artifacts.is_empty())
    });
    let Some(job) = job else {
        return not_found();
    };
    match job.artifacts.get(&path) {
        Some(bytes) => bytes.clone().into_response(),
        // Workhorse, not Rails, answers for a path missing from the archive.
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

/// A job's artifact file: streamed, or (in the redirect mode) sent to object storage.
async fn job_artifact(
    State(s): State<Shared>,
    Path((project, job, path)): Path<(String, u64, String)>,
) -> Response {
    let st = s.0.lock().unwrap();
    let Some(j) = st
        .pipelines
        .iter()
        .filter(|p| p.project == project)
        .flat_map(|p| &p.jobs)
        .find(|j| j.id == job)
    else {
        return not_found();
    };
    // `available_artifacts?`: not expired.
    let Some(bytes) = j.artifacts.get(&path).filter(|_| !j.expired) else {
        return message(StatusCode::NOT_FOUND, "404 Not Found");
    };
    if !st.redirect_job_artifacts {
        return bytes.clone().into_response();
    }
    let (port, scheme) = (s.1.port(), s.2);
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!(
            "{scheme}://localhost:{port}/storage/{job}/{path}?X-Amz-Signature=abc"
        ))
        .unwrap(),
    );
    r
}

async fn storage(State(s): State<Shared>, Path((job, path)): Path<(u64, String)>) -> Response {
    let st = s.0.lock().unwrap();
    match st
        .pipelines
        .iter()
        .flat_map(|p| &p.jobs)
        .find(|j| j.id == job)
        .and_then(|j| j.artifacts.get(&path))
    {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct PipelineQuery {
    #[serde(rename = "ref")]
    ref_name: Option<String>,
    sha: Option<String>,
    status: Option<String>,
    scope: Option<String>,
    source: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

fn pipeline_json(p: &FakePipeline) -> Value {
    json!({"id": p.id, "iid": p.id, "project_id": p.project.parse::<u64>().unwrap(), "sha": p.sha, "ref": p.ref_name, "status": p.status, "source": p.source, "web_url": format!("http://gitlab.example/p/-/pipelines/{}", p.id)})
}

/// `GET /projects/:id/pipelines`: `lib/api/ci/pipelines.rb` declares `ref` and `sha` as
/// optional strings and `Ci::PipelinesFinder` applies each only when present, as an exact
/// match.
async fn pipelines(
    State(s): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<PipelineQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !known_project(&project) {
        return project_not_found();
    }
    // `optional :source, type: String, values: ::Ci::Pipeline.sources.keys`
    // (lib/api/ci/pipelines.rb; the enum in app/models/concerns/enums/ci/pipeline.rb): any other
    // value is Grape's 400.
    const SOURCES: [&str; 15] = [
        "unknown",
        "push",
        "web",
        "trigger",
        "schedule",
        "api",
        "external",
        "pipeline",
        "chat",
        "webide",
        "merge_request_event",
        "external_pull_request_event",
        "parent_pipeline",
        "ondemand_dast_scan",
        "security_orchestration_policy",
    ];
    if q.source.as_deref().is_some_and(|s| !SOURCES.contains(&s)) {
        return grape_error("source does not have a valid value");
    }
    let mut list: Vec<FakePipeline> =
        s.0.lock()
            .unwrap()
            .pipelines
            .iter()
            .filter(|p| p.project == project)
            .filter(|p| q.ref_name.as_ref().is_none_or(|r| &p.ref_name == r))
            .filter(|p| q.sha.as_ref().is_none_or(|sha| &p.sha == sha))
            .filter(|p| q.status.as_ref().is_none_or(|st| &p.status == st))
            .filter(|p| q.source.as_ref().is_none_or(|src| &p.source == src))
            .filter(|p| match q.scope.as_deref() {
                Some("tags") => p.tag,
                Some("branches") => !p.tag,
                _ => true,
            })
            .cloned()
            .collect();
    list.sort_by_key(|p| std::cmp::Reverse(p.id));
    if q.scope.as_deref() == Some("tags") {
        // `pipeline_for_ref_subquery`: the newest pipeline of each tag.
        let mut seen = std::collections::HashSet::new();
        list.retain(|p| seen.insert(p.ref_name.clone()));
    }
    if q.sort.as_deref() == Some("asc") {
        list.reverse();
    }
    let items = list.iter().map(pipeline_json).collect();
    paginate(
        items,
        &PageQuery {
            page: q.page,
            per_page: q.per_page,
        },
        &Listing::new(
            format!("/api/v4/projects/{project}/pipelines"),
            &[("id", &project)],
            raw.as_deref(),
        ),
        &s,
    )
}

async fn pipeline_jobs(
    State(s): State<Shared>,
    Path((project, pipeline)): Path<(String, u64)>,
    Query(q): Query<PageQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !known_project(&project) {
        return project_not_found();
    }
    let st = s.0.lock().unwrap();
    let Some(p) = st
        .pipelines
        .iter()
        .find(|p| p.id == pipeline && p.project == project)
    else {
        return not_found();
    };
    // Retried jobs are left out unless `include_retried` (not asked for by the gate).
    let items = p
        .jobs
        .iter()
        .filter(|j| !j.retried)
        .map(|j| {
            let expire = if j.expired {
                "2020-01-01T00:00:00.000Z"
            } else {
                "2999-01-01T00:00:00.000Z"
            };
            json!({"id": j.id, "name": j.name, "status": j.status, "stage": "test", "artifacts_expire_at": expire, "web_url": format!("http://gitlab.example/p/-/jobs/{}", j.id)})
        })
        .collect();
    paginate(
        items,
        &q,
        &Listing::new(
            format!("/api/v4/projects/{project}/pipelines/{pipeline}/jobs"),
            &[("id", &project), ("pipeline_id", &pipeline.to_string())],
            raw.as_deref(),
        ),
        &s,
    )
}

#[derive(Deserialize)]
struct MrQuery {
    source_branch: Option<String>,
    state: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn merge_requests(
    State(s): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<MrQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = s.0.lock().unwrap();
    let items = st
        .merge_requests
        .iter()
        .filter(|m| m.project == project)
        .filter(|m| {
            q.source_branch
                .as_ref()
                .is_none_or(|b| *b == m.source_branch)
        })
        .filter(|_| q.state.as_deref().is_none_or(|s| s == "opened"))
        .map(merge_request_json)
        .collect();
    drop(st);
    paginate(
        items,
        &PageQuery {
            page: q.page,
            per_page: q.per_page,
        },
        &Listing::new(
            format!("/api/v4/projects/{project}/merge_requests"),
            &[("id", &project)],
            raw.as_deref(),
        ),
        &s,
    )
}

fn merge_request_json(m: &FakeMergeRequest) -> Value {
    let num = |p: &str| p.parse::<u64>().unwrap();
    let diff_refs = m
        .base_sha
        .as_ref()
        .map(|b| json!({"base_sha": b, "head_sha": "f00d", "start_sha": b}));
    json!({"iid": m.iid, "id": m.iid + 5000, "project_id": num(&m.project), "source_branch": m.source_branch, "target_branch": m.target_branch, "source_project_id": num(&m.source_project), "target_project_id": num(&m.project), "state": "opened", "diff_refs": diff_refs})
}

/// `GET /projects/:id/merge_requests/:iid` (`lib/api/merge_requests.rb`): an iid the project
/// does not hold is `404 Not found`. The job token is refused before this (it may not read
/// merge requests: gitlab-org/gitlab#545150).
async fn merge_request(
    State(s): State<Shared>,
    Path((project, mr)): Path<(String, String)>,
) -> Response {
    let Ok(iid) = mr.parse::<u64>() else {
        return not_found();
    };
    let st = s.0.lock().unwrap();
    match st
        .merge_requests
        .iter()
        .find(|m| m.project == project && m.iid == iid)
    {
        Some(m) => Json(merge_request_json(m)).into_response(),
        None => not_found(),
    }
}

fn user_json(id: u64) -> Value {
    let username = match id {
        BOT_USER => "project_42_bot",
        MAINTAINER_BOT => "project_42_bot_2",
        REPORTER_BOT => "project_42_bot_3",
        _ => "reviewer",
    };
    json!({"id": id, "username": username, "name": username, "state": "active"})
}

fn note_json(n: &FakeNote) -> Value {
    json!({"id": n.id, "body": n.body, "system": n.system, "noteable_type": "MergeRequest", "author": user_json(n.author)})
}

/// `GET /user`: the token's own user (the job token is refused here, as on GitLab).
async fn current_user(headers: HeaderMap) -> Response {
    Json(user_json(bot_of(&headers))).into_response()
}

/// The user of the bot token calling (the gatekeeper has let no other caller through to the
/// notes and `/user`).
fn bot_of(headers: &HeaderMap) -> u64 {
    match caller(headers) {
        Some(Caller::Bot(user)) => user,
        _ => BOT_USER,
    }
}

#[derive(Deserialize)]
struct NotesQuery {
    order_by: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list_notes(
    State(s): State<Shared>,
    Path((project, mr)): Path<(String, u64)>,
    Query(q): Query<NotesQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let updated = match q.order_by.as_deref() {
        None | Some("created_at") => false,
        Some("updated_at") => true,
        Some(_) => return grape_error("order_by does not have a valid value"),
    };
    let ascending = match q.sort.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return grape_error("sort does not have a valid value"),
    };
    let mut st = s.0.lock().unwrap();
    let endless = st.endless_note_pages;
    let Some(m) = st.mr_mut(&project, mr) else {
        return not_found();
    };
    let mut notes = m.notes.clone();
    drop(st);
    notes.sort_by_key(|n| {
        if updated {
            (n.updated, n.id)
        } else {
            (n.id, 0)
        }
    });
    if !ascending {
        notes.reverse();
    }
    let page = PageQuery {
        page: q.page,
        per_page: q.per_page,
    };
    if endless {
        // Always one page more than the one asked for.
        let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
        let filler = FakeNote::by(HUMAN_USER, 1, "filler");
        notes.resize((q.page.unwrap_or(1) + 1) * per_page, filler);
    }
    let listing = Listing::new(
        format!("/api/v4/projects/{project}/merge_requests/{mr}/notes"),
        &[("id", &project), ("noteable_id", &mr.to_string())],
        raw.as_deref(),
    );
    // `paginate(raw_notes)` first, `readable_by?` after: the page shrinks, its headers do not.
    let (cut, headers) = page_of(notes, &page, &listing, &s);
    let readable = cut.iter().filter(|n| n.readable).map(note_json).collect();
    paged_json(readable, headers)
}

#[derive(Deserialize)]
struct NoteForm {
    body: Option<String>,
}

/// The body's checks: form-encoded, present, within GitLab's note size.
fn body_of(headers: &HeaderMap, f: NoteForm) -> Result<String, Box<Response>> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let Some(body) = f.body.filter(|_| form) else {
        return Err(Box::new(grape_error("body is missing")));
    };
    if body.chars().count() > MAX_NOTE_CHARS {
        return Err(Box::new(message(
            StatusCode::BAD_REQUEST,
            "400 Bad request - Note {:note=>[\"is too long (maximum is 1000000 characters)\"]}",
        )));
    }
    Ok(body)
}

async fn create_note(
    State(s): State<Shared>,
    Path((project, mr)): Path<(String, u64)>,
    headers: HeaderMap,
    Form(f): Form<NoteForm>,
) -> Response {
    let body = match body_of(&headers, f) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let meet = s.0.lock().unwrap().posts_meet.clone();
    if let Some(barrier) = meet {
        let wait = std::time::Duration::from_secs(20);
        let _ = tokio::time::timeout(wait, barrier.wait()).await;
    }
    let mut st = s.0.lock().unwrap();
    let id = st.id();
    let Some(m) = st.mr_mut(&project, mr) else {
        return not_found();
    };
    let note = FakeNote {
        id,
        body,
        system: false,
        author: bot_of(&headers),
        updated: id,
        readable: true,
    };
    let json = note_json(&note);
    m.notes.push(note);
    (StatusCode::CREATED, Json(json)).into_response()
}

async fn edit_note(
    State(s): State<Shared>,
    Path((project, mr, note)): Path<(String, u64, u64)>,
    headers: HeaderMap,
    Form(f): Form<NoteForm>,
) -> Response {
    let body = match body_of(&headers, f) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut st = s.0.lock().unwrap();
    let stamp = st.id();
    let Some(m) = st.mr_mut(&project, mr) else {
        return not_found();
    };
    let Some(n) = m.notes.iter_mut().find(|n| n.id == note) else {
        return not_found();
    };
    if !may_admin(bot_of(&headers), n) {
        return message(StatusCode::FORBIDDEN, "403 Forbidden");
    }
    n.body = body;
    n.updated = stamp;
    Json(note_json(n)).into_response()
}

/// `DELETE .../notes/:note_id`: `204` with no body, as `destroy_conditionally!` answers.
async fn delete_note(
    State(s): State<Shared>,
    Path((project, mr, note)): Path<(String, u64, u64)>,
    headers: HeaderMap,
) -> Response {
    let mut st = s.0.lock().unwrap();
    let Some(m) = st.mr_mut(&project, mr) else {
        return not_found();
    };
    let Some(at) = m.notes.iter().position(|n| n.id == note) else {
        return not_found();
    };
    // `authorize! :admin_note`: the author, or a Maintainer; never a system note.
    if !may_admin(bot_of(&headers), &m.notes[at]) {
        return message(StatusCode::FORBIDDEN, "403 Forbidden");
    }
    m.notes.remove(at);
    StatusCode::NO_CONTENT.into_response()
}
