//! An in-process GitLab that implements the REST endpoints loadforge-gate calls the way the API
//! documents them: `/api/v4` paths, `PRIVATE-TOKEN` and `JOB-TOKEN` headers (401 on a wrong
//! one; the job token only where GitLab accepts it), offset pagination with the `x-*` headers
//! and `Link`, JSON 404s for missing artifacts, artifact downloads that redirect to object
//! storage on another host, form-encoded note bodies, and faults on demand (a status, with an
//! optional `Retry-After`, for the next N matching requests).

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, Query, Request, State},
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
pub const PROJECT: &str = "42";
/// The user the private token belongs to (a project bot, as GitLab creates for project tokens).
pub const BOT_USER: u64 = 7;
/// Somebody else on the merge request.
pub const HUMAN_USER: u64 = 99;

#[derive(Debug, Clone)]
pub struct FakeJob {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub artifacts: HashMap<String, Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct FakePipeline {
    pub id: u64,
    pub ref_name: String,
    pub sha: String,
    pub status: String,
    pub jobs: Vec<FakeJob>,
}

#[derive(Debug, Clone)]
pub struct FakeNote {
    pub id: u64,
    pub body: String,
    pub system: bool,
    /// The author's user id.
    pub author: u64,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Method,
    pub path_contains: String,
    pub status: u16,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path: String,
    /// Which credential header the request carried, if any.
    pub auth: Option<&'static str>,
    pub status: u16,
}

#[derive(Default)]
pub struct Inner {
    pub pipelines: Vec<FakePipeline>,
    pub notes: HashMap<u64, Vec<FakeNote>>,
    /// (iid, source branch)
    pub merge_requests: Vec<(u64, String)>,
    pub faults: VecDeque<Fault>,
    pub log: Vec<Logged>,
    /// A hostile mode: the notes list always links one more page.
    pub endless_note_pages: bool,
    /// Requests that reached object storage with a GitLab token attached (must stay empty).
    pub leaked_to_storage: usize,
    next_id: u64,
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }
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
        // The routes need the address (redirects to "object storage" on another host name), so
        // bind first and hand the listener's address to the state.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        // `https` when served over TLS: the links and redirects it writes use it.
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

    /// Registers a finished pipeline whose job `job` kept `results` as loadforge-gate/results.json.
    pub fn add_pipeline(
        &self,
        ref_name: &str,
        sha: &str,
        status: &str,
        job: &str,
        results: Option<&str>,
    ) -> u64 {
        self.with(|s| {
            let id = s.id();
            let job_id = s.id();
            let mut artifacts = HashMap::new();
            if let Some(r) = results {
                artifacts.insert(
                    "loadforge-gate/results.json".to_string(),
                    r.as_bytes().to_vec(),
                );
            }
            s.pipelines.push(FakePipeline {
                id,
                ref_name: ref_name.into(),
                sha: sha.into(),
                status: status.into(),
                jobs: vec![FakeJob {
                    id: job_id,
                    name: job.into(),
                    status: status.into(),
                    artifacts,
                }],
            });
            id
        })
    }

    pub fn fail_next(
        &self,
        method: Method,
        path_contains: &str,
        status: u16,
        times: usize,
        retry_after: Option<u64>,
    ) {
        self.with(|s| {
            for _ in 0..times {
                s.faults.push_back(Fault {
                    method: method.clone(),
                    path_contains: path_contains.into(),
                    status,
                    retry_after,
                });
            }
        })
    }

    pub fn notes(&self, mr: u64) -> Vec<FakeNote> {
        self.with(|s| s.notes.get(&mr).cloned().unwrap_or_default())
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
        .route(
            &format!("{p}/merge_requests/{{mr}}/notes"),
            get(list_notes).post(create_note),
        )
        .route(
            &format!("{p}/merge_requests/{{mr}}/notes/{{note}}"),
            put(edit_note),
        )
        .route("/storage/{job}/{*path}", get(storage))
        .layer(middleware::from_fn_with_state(state.clone(), gatekeeper))
        .with_state(state)
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

/// Authentication, injected faults and the request log, in front of every route.
async fn gatekeeper(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
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
        let private_ok =
            headers.get("PRIVATE-TOKEN").and_then(|v| v.to_str().ok()) == Some(PRIVATE_TOKEN);
        let job_ok = headers.get("JOB-TOKEN").and_then(|v| v.to_str().ok()) == Some(JOB_TOKEN);
        // The job token authenticates artifact downloads only (and reads); notes, pipelines and
        // jobs need a real API token.
        let job_token_allowed = method == Method::GET && path.contains("/artifacts/");
        if let Some(f) = fault {
            let mut r = message(StatusCode::from_u16(f.status).unwrap(), "injected fault");
            if let Some(secs) = f.retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        } else if !(private_ok || (job_ok && job_token_allowed)) {
            message(StatusCode::UNAUTHORIZED, "401 Unauthorized")
        } else {
            next.run(req).await
        }
    };
    s.0.lock().unwrap().log.push(Logged {
        method,
        path,
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

/// GitLab's offset pagination: a page of items plus `x-*` and `Link` headers.
fn paginate(items: Vec<Value>, q: &PageQuery, uri_path: &str, s: &Shared) -> Response {
    let (addr, scheme) = (s.1, s.2);
    let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut r = Json(Value::Array(slice)).into_response();
    let h = r.headers_mut();
    let num = |n: usize| HeaderValue::from_str(&n.to_string()).unwrap();
    h.insert("x-page", num(page));
    h.insert("x-per-page", num(per_page));
    h.insert("x-total", num(total));
    h.insert("x-total-pages", num(pages));
    h.insert(
        "x-next-page",
        if page < pages {
            num(page + 1)
        } else {
            HeaderValue::from_static("")
        },
    );
    h.insert(
        "x-prev-page",
        if page > 1 {
            num(page - 1)
        } else {
            HeaderValue::from_static("")
        },
    );
    let link = |p: usize, rel: &str| {
        format!("<{scheme}://{addr}{uri_path}?page={p}&per_page={per_page}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    h.insert(
        header::LINK,
        HeaderValue::from_str(&links.join(", ")).unwrap(),
    );
    r
}

#[derive(Deserialize)]
struct JobQuery {
    job: String,
}

async fn artifact_by_ref(
    State(s): State<Shared>,
    Path((project, ref_name, path)): Path<(String, String, String)>,
    Query(q): Query<JobQuery>,
) -> Response {
    if project != PROJECT {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    }
    let st = s.0.lock().unwrap();
    // The latest successful pipeline of the ref that has the job.
    let hit = st
        .pipelines
        .iter()
        .filter(|p| p.ref_name == ref_name && p.status == "success")
        .max_by_key(|p| p.id)
        .and_then(|p| p.jobs.iter().find(|j| j.name == q.job))
        .and_then(|j| j.artifacts.get(&path).cloned());
    match hit {
        Some(bytes) => bytes.into_response(),
        None => message(StatusCode::NOT_FOUND, "404 Not Found"),
    }
}

/// Like GitLab with object storage: a redirect to a pre-signed URL on another host.
async fn job_artifact(
    State(s): State<Shared>,
    Path((project, job, path)): Path<(String, u64, String)>,
) -> Response {
    if project != PROJECT {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    }
    let exists =
        s.0.lock()
            .unwrap()
            .pipelines
            .iter()
            .flat_map(|p| &p.jobs)
            .any(|j| j.id == job && j.artifacts.contains_key(&path));
    if !exists {
        return message(StatusCode::NOT_FOUND, "404 Not Found");
    }
    let port = s.1.port();
    let scheme = s.2;
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
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn pipelines(
    State(s): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<PipelineQuery>,
) -> Response {
    if project != PROJECT {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    }
    let mut list: Vec<FakePipeline> =
        s.0.lock()
            .unwrap()
            .pipelines
            .iter()
            .filter(|p| q.ref_name.as_ref().is_none_or(|r| &p.ref_name == r))
            .filter(|p| q.sha.as_ref().is_none_or(|sha| &p.sha == sha))
            .filter(|p| q.status.as_ref().is_none_or(|st| &p.status == st))
            .cloned()
            .collect();
    list.sort_by_key(|p| p.id);
    if q.sort.as_deref() != Some("asc") {
        list.reverse();
    }
    let items = list
        .iter()
        .map(|p| json!({"id": p.id, "iid": p.id, "project_id": 42, "sha": p.sha, "ref": p.ref_name, "status": p.status, "source": "push", "web_url": format!("http://gitlab.example/p/-/pipelines/{}", p.id)}))
        .collect();
    paginate(
        items,
        &PageQuery {
            page: q.page,
            per_page: q.per_page,
        },
        &format!("/api/v4/projects/{PROJECT}/pipelines"),
        &s,
    )
}

async fn pipeline_jobs(
    State(s): State<Shared>,
    Path((project, pipeline)): Path<(String, u64)>,
    Query(q): Query<PageQuery>,
) -> Response {
    if project != PROJECT {
        return message(StatusCode::NOT_FOUND, "404 Project Not Found");
    }
    let st = s.0.lock().unwrap();
    let Some(p) = st.pipelines.iter().find(|p| p.id == pipeline) else {
        return message(StatusCode::NOT_FOUND, "404 Not found");
    };
    let items = p
        .jobs
        .iter()
        .map(|j| json!({"id": j.id, "name": j.name, "status": j.status, "stage": "test", "web_url": format!("http://gitlab.example/p/-/jobs/{}", j.id)}))
        .collect();
    paginate(
        items,
        &q,
        &format!("/api/v4/projects/{PROJECT}/pipelines/{pipeline}/jobs"),
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

async fn merge_requests(State(s): State<Shared>, Query(q): Query<MrQuery>) -> Response {
    let st = s.0.lock().unwrap();
    let items = st
        .merge_requests
        .iter()
        .filter(|(_, b)| q.source_branch.as_ref().is_none_or(|sb| sb == b))
        .filter(|_| q.state.as_deref().is_none_or(|s| s == "opened"))
        .map(
            |(iid, b)| json!({"iid": iid, "id": iid + 5000, "source_branch": b, "state": "opened"}),
        )
        .collect();
    paginate(
        items,
        &PageQuery {
            page: q.page,
            per_page: q.per_page,
        },
        &format!("/api/v4/projects/{PROJECT}/merge_requests"),
        &s,
    )
}

fn user_json(id: u64) -> Value {
    let username = if id == BOT_USER {
        "project_42_bot"
    } else {
        "reviewer"
    };
    json!({"id": id, "username": username, "name": username, "state": "active"})
}

fn note_json(n: &FakeNote) -> Value {
    json!({"id": n.id, "body": n.body, "system": n.system, "noteable_type": "MergeRequest", "author": user_json(n.author)})
}

/// `GET /user`: the token's own user (the job token is refused here, as on GitLab).
async fn current_user() -> Response {
    Json(user_json(BOT_USER)).into_response()
}

async fn list_notes(
    State(s): State<Shared>,
    Path((_project, mr)): Path<(String, u64)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let st = s.0.lock().unwrap();
    let mut items: Vec<Value> = st
        .notes
        .get(&mr)
        .map(|v| v.iter().map(note_json).collect())
        .unwrap_or_default();
    if st.endless_note_pages {
        // Always one page more than the one asked for.
        let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
        let filler = FakeNote {
            id: 1,
            body: "filler".into(),
            system: false,
            author: HUMAN_USER,
        };
        items.resize((q.page.unwrap_or(1) + 1) * per_page, note_json(&filler));
    }
    drop(st);
    paginate(
        items,
        &q,
        &format!("/api/v4/projects/{PROJECT}/merge_requests/{mr}/notes"),
        &s,
    )
}

#[derive(Deserialize)]
struct NoteForm {
    body: String,
}

fn body_ok(headers: &HeaderMap, body: &str) -> Option<Response> {
    if !headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
    {
        return Some(message(
            StatusCode::BAD_REQUEST,
            "400 Bad request - body is missing",
        ));
    }
    if body.len() > 1_000_000 {
        return Some(message(StatusCode::BAD_REQUEST, "Note is too long"));
    }
    None
}

async fn create_note(
    State(s): State<Shared>,
    Path((_project, mr)): Path<(String, u64)>,
    headers: HeaderMap,
    Form(f): Form<NoteForm>,
) -> Response {
    if let Some(r) = body_ok(&headers, &f.body) {
        return r;
    }
    let mut st = s.0.lock().unwrap();
    let id = st.id();
    let note = FakeNote {
        id,
        body: f.body,
        system: false,
        author: BOT_USER,
    };
    let json = note_json(&note);
    st.notes.entry(mr).or_default().push(note);
    (StatusCode::CREATED, Json(json)).into_response()
}

async fn edit_note(
    State(s): State<Shared>,
    Path((_project, mr, note)): Path<(String, u64, u64)>,
    headers: HeaderMap,
    Form(f): Form<NoteForm>,
) -> Response {
    if let Some(r) = body_ok(&headers, &f.body) {
        return r;
    }
    let mut st = s.0.lock().unwrap();
    match st
        .notes
        .get_mut(&mr)
        .and_then(|v| v.iter_mut().find(|n| n.id == note))
    {
        Some(n) => {
            n.body = f.body;
            Json(note_json(n)).into_response()
        }
        None => message(StatusCode::NOT_FOUND, "404 Note Not Found"),
    }
}
