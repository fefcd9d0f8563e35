//! A virtual user: runs `on_start` once, then picks weighted tasks forever, waiting between
//! them. Every request outcome is recorded; nothing a server does raises an error here.

use std::{borrow::Cow, cell::RefCell, rc::Rc, time::Instant};

use ::http::{
    header::{self, HeaderName, HeaderValue},
    Method, Uri,
};
use bytes::Bytes;
use rand::Rng;

use crate::rng::Rng64;
use serde_json::Value;

use url::Url;

use super::{
    cookies::{self, Jar},
    ending::EndSignal,
    http::{self, Conn, Connector, Opener},
    lanes::Pool,
    paired::{Flight, Slices},
    recorder::{Answer, Reason, Recorder},
    redirect::{self, Hop, Origins},
};
use crate::{
    defaults::USER_AGENT,
    engine::Target,
    scenario::{Body, Extract, JsonTemplate, Request, Scenario, Step, Template, Vars, Wait},
    stats::{Protocol, Side},
};

pub(crate) struct WorkerCtx {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) connector: Arc<Connector>,
    pub(crate) recorder: Rc<RefCell<Recorder>>,
    pub(crate) base_path: String,
    host: HeaderValue,
    /// The target's URL: cookies and redirects resolve against it.
    origin: Url,
    /// Connectors to the other origins that redirects lead to.
    origins: Origins,
    /// Per request (by id): everything about it that does not change between sends, parsed
    /// once. Most requests in most scenarios are entirely static.
    prepared: Vec<Prepared>,
    default_headers: Vec<(HeaderName, HeaderSource)>,
    /// The side these users measure: the change (`--host`) unless this is a paired run's
    /// base.
    side: Side,
    /// A paired run's slices: the users send only during their own side's.
    slices: Option<Arc<Slices>>,
    /// The run's end: from then on the users start nothing new (`ending.rs`).
    pub(crate) end: Rc<EndSignal>,
}

use std::sync::Arc;

/// A header value known in advance, or a template rendered per send.
enum HeaderSource {
    Fixed(HeaderValue),
    Template(crate::scenario::Template),
}

struct Prepared {
    method: Method,
    uri: Option<Uri>,
    headers: Vec<(HeaderName, HeaderSource)>,
    body: Option<Bytes>,
    /// The body's content type unless the request sets its own (JSON and form bodies).
    content_type: Option<HeaderValue>,
}

fn header_value(name: &str, t: &crate::scenario::Template) -> (HeaderName, HeaderSource) {
    let name = HeaderName::from_bytes(name.as_bytes()).expect("validated when the scenario loaded");
    let value = match t.as_static().map(HeaderValue::from_str) {
        Some(Ok(mut v)) => {
            v.set_sensitive(t.is_secret());
            HeaderSource::Fixed(v)
        }
        _ => HeaderSource::Template(t.clone()),
    };
    (name, value)
}

impl WorkerCtx {
    pub(crate) fn new(
        scenario: Arc<Scenario>,
        connector: Arc<Connector>,
        recorder: Rc<RefCell<Recorder>>,
        target: &Target,
        end: Rc<EndSignal>,
    ) -> Result<WorkerCtx, String> {
        let authority = &target.authority;
        let base_path = target.base_path.clone();
        let host =
            HeaderValue::from_str(authority).map_err(|e| format!("bad host `{authority}`: {e}"))?;
        let prepared = scenario
            .requests()
            .into_iter()
            .map(|r| prepare(r, &base_path))
            .collect();
        let limits = http::Limits {
            max_head: scenario.max_head,
            max_body: scenario.max_body,
        };
        let origins = Origins::new(limits, target);
        let default_headers = scenario
            .default_headers
            .iter()
            .map(|(n, t)| header_value(n, t))
            .collect();
        Ok(WorkerCtx {
            scenario,
            connector,
            recorder,
            base_path,
            host,
            origin: target.url.clone(),
            origins,
            prepared,
            default_headers,
            side: Side::Change,
            slices: None,
            end,
        })
    }

    /// Makes these users one side of a paired run.
    pub(crate) fn on_side(self, side: Side, slices: Arc<Slices>) -> WorkerCtx {
        WorkerCtx {
            side,
            slices: Some(slices),
            ..self
        }
    }
}

/// What does not change between sends of `r`, worked out once.
fn prepare(r: &Request, base_path: &str) -> Prepared {
    Prepared {
        method: Method::from_bytes(r.method.as_bytes())
            .expect("validated when the scenario loaded"),
        uri: r
            .path
            .as_static()
            .and_then(|p| requote(&format!("{base_path}{p}")).parse::<Uri>().ok()),
        headers: r.headers.iter().map(|(n, t)| header_value(n, t)).collect(),
        body: match &r.body {
            Body::None => Some(Bytes::new()),
            Body::Json(crate::scenario::JsonTemplate::Static(v)) => {
                Some(Bytes::from(v.to_string()))
            }
            Body::Text(t) => t.as_static().map(|s| Bytes::from(s.to_string())),
            Body::Form(fields) => fields
                .iter()
                .map(|(k, t)| t.as_static().map(|v| (k.as_str(), v)))
                .collect::<Option<Vec<_>>>()
                .map(|pairs| Bytes::from(urlencode(pairs.into_iter()))),
            Body::Multipart(m) if m.is_static() => m
                .encode(|t| t.as_static().map(str::to_string).ok_or(()))
                .ok(),
            Body::Json(_) | Body::Multipart(_) => None,
        },
        content_type: match &r.body {
            Body::Json(_) => Some(HeaderValue::from_static("application/json")),
            Body::Form(_) => Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            )),
            Body::Multipart(m) => HeaderValue::from_str(&m.content_type()).ok(),
            _ => None,
        },
    }
}

/// `application/x-www-form-urlencoded`, as a browser (and `requests`' `data=`) encodes a form.
fn urlencode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub(crate) struct VirtualUser {
    ctx: Rc<WorkerCtx>,
    vars: Vars,
    /// Headers set by `set_headers`, parsed once when set.
    headers: Vec<(HeaderName, HeaderValue)>,
    rng: Rng64,
    conn: Option<Conn>,
    /// The user's cookies (used only when the scenario keeps cookies).
    jar: Jar,
    /// A kept-alive connection to the last other origin a redirect led to, with its origin.
    foreign: Option<(String, Conn)>,
    /// The serialised request, reused from one send to the next.
    out: Vec<u8>,
    /// The request timer, re-armed for each exchange.
    deadline: http::Deadline,
    /// Open model: when the current iteration was due. Its first request's latency counts from
    /// here, so time spent behind a stalled server is not hidden.
    intended: Option<Instant>,
    /// The protocols the request under way has gone over, its redirects' hops included.
    spoke: Option<Protocol>,
    /// A lane of a user with several (`defaults.streams_per_user`): the connection its lanes
    /// share, where `conn` is this lane's handle on it.
    pool: Option<Rc<Pool>>,
}

/// What the rest of a task does after a step.
enum Flow {
    Continue,
    /// A request failed: later steps of the same task usually depend on it (a token, an id), so
    /// they are skipped, as a Locust task that hits a failed `catch_response` guard would.
    EndTask,
    /// A `set` or `set_headers` step could not render: the task ends, counted as a failure.
    SetFailed(Reason),
}

impl VirtualUser {
    pub(crate) fn new(ctx: Rc<WorkerCtx>, start: u64) -> Self {
        let vars = ctx.scenario.variables.clone();
        let jar = Jar::new(cookies::Caps {
            cookies: ctx.scenario.max_cookies,
            bytes: ctx.scenario.max_cookie_bytes,
        });
        Self {
            ctx,
            vars,
            headers: Vec::new(),
            rng: Rng64::starting_at(start),
            conn: None,
            jar,
            foreign: None,
            out: Vec::with_capacity(1024),
            deadline: http::Deadline::new(),
            intended: None,
            spoke: None,
            pool: None,
        }
    }

    /// Makes this user a lane of one with several, sharing `pool`'s connection.
    pub(crate) fn in_pool(self, pool: Rc<Pool>) -> Self {
        Self {
            pool: Some(pool),
            ..self
        }
    }

    /// Runs until the run's end, then returns once the request under way (if any) is
    /// recorded; or until the caller drops the future (an interruption, the drain's bound).
    /// With a schedule (open model) iterations start when due and the scenario's waits are not
    /// used: the schedule is the pacing.
    pub(crate) async fn run(mut self, mut schedule: Option<super::schedule::Schedule>) {
        let scenario = self.ctx.scenario.clone();
        self.run_steps(&scenario.on_start).await;
        let total = *scenario.cumulative_weights.last().unwrap_or(&1);
        loop {
            if self.ctx.end.has_ended() {
                return;
            }
            if let Some(s) = schedule.as_mut() {
                let due = s.next_due();
                if !self.ctx.end.sleep_until(due).await {
                    return;
                }
                if self.off_turn(due) {
                    // A paired run: this arrival is the other side's (its twin takes it).
                    continue;
                }
                self.intended = Some(due);
            }
            let pick = self.rng.random_range(0..total);
            let idx = scenario.cumulative_weights.partition_point(|&w| w <= pick);
            self.run_steps(&scenario.tasks[idx].steps).await;
            if schedule.is_none() {
                self.wait(scenario.wait).await;
            }
            // A task that ends before any I/O (a variable that never got set) and no wait
            // would otherwise spin without yielding, and the worker would never see the
            // deadline: this yields once the task's cooperative budget is spent.
            tokio::task::consume_budget().await;
        }
    }

    /// Whether `t` falls in the other side's slice of a paired run (never in an unpaired one).
    fn off_turn(&self, t: Instant) -> bool {
        (self.ctx.slices.as_ref()).is_some_and(|s| !s.is_turn_of(self.ctx.side, t))
    }

    /// A paired run: waits, before a request, until this side's turn. A user parked through
    /// the other side's slice counts its next latency from when it sends, not from an arrival
    /// due before the wait (the wait is the pairing's, not the server's).
    async fn wait_turn(&mut self) {
        let Some(slices) = &self.ctx.slices else {
            return;
        };
        if let Some(at) = slices.turn_of(self.ctx.side, Instant::now()) {
            self.ctx.end.sleep_until(at).await;
            self.intended = None;
        }
    }

    async fn run_steps(&mut self, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            // Past the run's end no step starts: what is in flight finishes, nothing new.
            if self.ctx.end.has_ended() {
                return;
            }
            let flow = match step {
                Step::Request(r) => self.request(r).await,
                Step::Sleep(w) => {
                    self.wait(*w).await;
                    Flow::Continue
                }
                Step::SetHeaders(hs) => self.set_headers(hs),
                Step::Set(vars) => self.set_vars(vars),
                Step::SetCookies(cookies) => self.set_cookies(cookies),
            };
            match flow {
                Flow::Continue => {}
                Flow::EndTask => return,
                Flow::SetFailed(reason) => return self.count_set_failure(steps, i, reason),
            }
        }
    }

    fn set_headers(&mut self, headers: &[(String, Template)]) -> Flow {
        for (name, t) in headers {
            match t.render(&self.vars, &mut self.rng) {
                Ok(v) => {
                    if let Err(reason) = self.set_header(name, v, t.is_secret()) {
                        return Flow::SetFailed(reason);
                    }
                }
                Err(e) => return Flow::SetFailed(Cow::Owned(e.reason())),
            }
        }
        Flow::Continue
    }

    fn set_cookies(&mut self, cookies: &[(String, Template)]) -> Flow {
        for (name, t) in cookies {
            match t.render(&self.vars, &mut self.rng) {
                Ok(v) => self.jar.set(
                    name,
                    &v,
                    &self.ctx.origin,
                    &mut self.ctx.recorder.borrow_mut().cookies_dropped,
                ),
                Err(e) => return Flow::SetFailed(Cow::Owned(e.reason())),
            }
        }
        Flow::Continue
    }

    fn set_vars(&mut self, vars: &[(String, JsonTemplate)]) -> Flow {
        for (name, t) in vars {
            match t.render(&self.vars, &mut self.rng) {
                Ok(v) => {
                    self.vars.insert(name.clone(), v);
                }
                Err(e) => return Flow::SetFailed(Cow::Owned(e.reason())),
            }
        }
        Flow::Continue
    }

    /// A `set` or `set_headers` step that cannot render ends its task like a failed request,
    /// and is counted as one: against the request it was preparing (the next one in the task,
    /// else the task's last), so a scenario whose variables went missing cannot pass silently.
    fn count_set_failure(&self, steps: &[Step], at: usize, reason: Reason) {
        let request_endpoint = |s: &Step| match s {
            Step::Request(r) => Some(r.endpoint),
            _ => None,
        };
        let endpoint = steps[at..]
            .iter()
            .find_map(request_endpoint)
            .or_else(|| steps[..at].iter().rev().find_map(request_endpoint));
        if let Some(endpoint) = endpoint {
            self.record(endpoint, None, Some(reason));
        }
    }

    /// Sets a session header; a value no header may carry (a newline in an extracted token)
    /// is a counted failure with its reason, never a header dropped or sent empty. `secret`
    /// (its value came from `${env.NAME}`) marks it sensitive, so a redirect does not carry it
    /// to another origin.
    fn set_header(&mut self, name: &str, value: String, secret: bool) -> Result<(), Reason> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Cow::Owned(format!("`{name}` is not a valid header name")))?;
        let mut value = HeaderValue::from_str(&value).map_err(|_| invalid_header(&name))?;
        value.set_sensitive(secret);
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name, value)),
        }
        Ok(())
    }

    async fn wait(&mut self, wait: Wait) {
        let d = match wait {
            Wait::None => return,
            Wait::Constant(d) => d,
            Wait::Between(a, b) => {
                if a == b {
                    a
                } else {
                    self.rng.random_range(a..=b)
                }
            }
        };
        self.ctx.end.sleep(d).await;
    }

    /// Records a request that never went out (it could not be built).
    fn record(&self, endpoint: usize, latency: Option<u64>, failure: Option<Reason>) {
        let now = Instant::now();
        let at = (latency, now, Flight::NONE);
        self.record_response(endpoint, at, failure, Answer::default(), now);
    }

    /// A request going out at `sent` (as its latency counts it): a paired run notes it in
    /// flight until it is recorded, so one the run's end cuts off is counted late in its
    /// slice, not dropped. Every exchange from here on ends in a record: a failure, a timeout
    /// and an answer alike, the run's end included (its requests in flight finish,
    /// `ending.rs`); only an interruption or the drain's bound (the users' tasks aborted)
    /// abandons one.
    fn sent(&self, endpoint: usize, sent: Instant) -> Flight {
        if self.ctx.slices.is_none() {
            return Flight::NONE;
        }
        (self.ctx.recorder.borrow_mut()).sent(self.ctx.side, endpoint, sent)
    }

    /// Records a request that failed with no latency to tell (its connection never opened),
    /// as sent at `sent`: a paired run counts it in the turn it began in.
    fn record_unanswered(&self, endpoint: usize, failure: Reason, sent: (Instant, Flight)) {
        self.ctx.recorder.borrow_mut().record(
            self.ctx.side,
            endpoint,
            (None, Some(sent.0), sent.1),
            Some(failure),
            Answer::default(),
            Instant::now(),
        );
    }

    /// Records a request sent at `sent` that ended at `now` (the instant its latency was
    /// measured to: one clock read per request serves both). The send instant itself goes to
    /// a paired run, which rebuilt from the latency could land a microsecond past its turn.
    fn record_response(
        &self,
        endpoint: usize,
        (latency, sent, flight): (Option<u64>, Instant, Flight),
        failure: Option<Reason>,
        answer: Answer,
        now: Instant,
    ) {
        self.ctx.recorder.borrow_mut().record(
            self.ctx.side,
            endpoint,
            (latency, Some(sent), flight),
            failure,
            answer,
            now,
        );
    }

    /// Serialises the request into `self.out` (a buffer the user reuses): the request line,
    /// the headers (scenario defaults, then the user's session headers, then the request's own,
    /// later ones replacing earlier ones of the same name) and the body.
    fn build(&mut self, req: &Request) -> Result<(), Reason> {
        let ctx = self.ctx.clone();
        let p = &ctx.prepared[req.id];
        let target = self.target(req, p, &ctx.base_path)?;
        let body = self.body(req, p)?;
        let mut headers = self.headers_for(p, &ctx)?;
        if !self.jar.is_empty() {
            if let Ok(url) = ctx.origin.join(&target) {
                self.add_cookies(&mut headers, &url);
            }
        }
        write_request(
            &mut self.out,
            &p.method,
            &target,
            &ctx.host,
            &headers,
            &body,
        );
        Ok(())
    }

    /// Adds the jar's cookies for `url` to the `Cookie` header (after one the scenario set).
    fn add_cookies(&self, headers: &mut Vec<(HeaderName, HeaderValue)>, url: &Url) {
        let Some(jar) = self.jar.header(url) else {
            return;
        };
        match headers.iter_mut().find(|(n, _)| n == header::COOKIE) {
            Some(slot) => {
                let mut joined = slot.1.as_bytes().to_vec();
                joined.extend_from_slice(b"; ");
                joined.extend_from_slice(jar.as_bytes());
                if let Ok(v) = HeaderValue::from_bytes(&joined) {
                    slot.1 = v;
                }
            }
            None => headers.push((header::COOKIE, jar)),
        }
    }

    /// Serialises the next request of a redirect chain into `self.out`: the request's headers
    /// again, less what must not follow (see [`redirect::strip_headers`]), the jar's cookies
    /// for the new URL, and the previous body when the method is kept.
    fn build_hop(
        &mut self,
        req: &Request,
        hop: &Hop,
        drop_credentials: bool,
    ) -> Result<(), Reason> {
        let ctx = self.ctx.clone();
        let p = &ctx.prepared[req.id];
        let body = if hop.keep_body {
            Bytes::copy_from_slice(body_of(&self.out))
        } else {
            Bytes::new()
        };
        let mut headers = self.headers_for(p, &ctx)?;
        redirect::strip_headers(&mut headers, drop_credentials, hop.keep_body);
        self.add_cookies(&mut headers, &hop.url);
        let host = redirect::authority(&hop.url)
            .ok_or(Cow::Borrowed("redirect to an invalid Location"))?;
        let target = redirect::target(&hop.url);
        write_request(&mut self.out, &hop.method, target, &host, &headers, &body);
        Ok(())
    }

    /// The request target: prepared once when the path has no template, else rendered now.
    fn target<'p>(
        &mut self,
        req: &Request,
        p: &'p Prepared,
        base_path: &str,
    ) -> Result<Cow<'p, str>, Reason> {
        if let Some(u) = &p.uri {
            return Ok(Cow::Borrowed(
                u.path_and_query().map(|pq| pq.as_str()).unwrap_or("/"),
            ));
        }
        let path = req
            .path
            .render(&self.vars, &mut self.rng)
            .map_err(render_err)?;
        let uri = requote(&format!("{base_path}{path}"))
            .parse::<Uri>()
            .map_err(|e| Cow::Owned(format!("cannot build the request: {e}")))?;
        Ok(Cow::Owned(
            uri.path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
        ))
    }

    /// The body: prepared once when static, else rendered now.
    fn body(&mut self, req: &Request, p: &Prepared) -> Result<Bytes, Reason> {
        if let Some(b) = &p.body {
            return Ok(b.clone());
        }
        Ok(match &req.body {
            Body::Json(t) => Bytes::from(
                t.render(&self.vars, &mut self.rng)
                    .map_err(render_err)?
                    .to_string(),
            ),
            Body::Text(t) => Bytes::from(t.render(&self.vars, &mut self.rng).map_err(render_err)?),
            Body::Form(fields) => {
                let mut pairs = Vec::with_capacity(fields.len());
                for (k, t) in fields {
                    pairs.push((
                        k.as_str(),
                        t.render(&self.vars, &mut self.rng).map_err(render_err)?,
                    ));
                }
                Bytes::from(urlencode(pairs.iter().map(|(k, v)| (*k, v.as_str()))))
            }
            Body::Multipart(m) => m
                .encode(|t| t.render(&self.vars, &mut self.rng))
                .map_err(render_err)?,
            Body::None => Bytes::new(),
        })
    }

    /// The scenario's default headers, then the user's session headers, then the request's
    /// own, later ones replacing earlier ones of the same name.
    fn headers_for(
        &mut self,
        p: &Prepared,
        ctx: &WorkerCtx,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, Reason> {
        let mut headers: Vec<(HeaderName, HeaderValue)> =
            Vec::with_capacity(ctx.default_headers.len() + self.headers.len() + p.headers.len());
        let mut set = |name: &HeaderName, value: HeaderValue| match headers
            .iter_mut()
            .find(|(n, _)| n == name)
        {
            Some(slot) => slot.1 = value,
            None => headers.push((name.clone(), value)),
        };
        for (name, value) in &ctx.default_headers {
            set(name, render_header(name, value, &self.vars, &mut self.rng)?);
        }
        for (name, value) in &self.headers {
            set(name, value.clone());
        }
        for (name, value) in &p.headers {
            set(name, render_header(name, value, &self.vars, &mut self.rng)?);
        }
        if let Some(ct) = &p.content_type {
            if !headers.iter().any(|(n, _)| n == header::CONTENT_TYPE) {
                headers.push((header::CONTENT_TYPE, ct.clone()));
            }
        }
        Ok(headers)
    }

    async fn request(&mut self, req: &Request) -> Flow {
        self.wait_turn().await;
        if self.ctx.end.has_ended() {
            // The run ended during the wait for this side's turn: the request never goes out.
            return Flow::EndTask;
        }
        if let Err(reason) = self.build(req) {
            self.record(req.endpoint, None, Some(reason));
            return Flow::EndTask;
        }
        let timeout = req.timeout.unwrap_or(self.ctx.scenario.timeout);
        let started = self.intended.take().unwrap_or_else(Instant::now);
        let flight = self.sent(req.endpoint, started);
        let ctx = self.ctx.clone();
        if self.conn.is_none() {
            match self.connect(timeout).await {
                Ok(c) => self.conn = Some(c),
                Err(reason) => {
                    // No connection, no response: this failure says nothing about latency.
                    self.record_unanswered(req.endpoint, reason, (started, flight));
                    return Flow::EndTask;
                }
            }
        }
        self.spoke = self.conn.as_ref().map(protocol_of);
        let method = &ctx.prepared[req.id].method;
        let read = self.reading(req, method);
        let result = match self.send_here(read, timeout).await {
            Ok(r) => self.after_first(req, r, method, timeout).await,
            Err(reason) => Err(reason),
        };
        // The whole chain's time: a redirect is part of what the user waits for.
        let done = Instant::now();
        let latency = done.saturating_duration_since(started).as_micros() as u64;
        let response = match result {
            Ok(r) => r,
            Err(reason) => {
                let answer = Answer {
                    protocol: self.spoke,
                    ..Answer::default()
                };
                let at = (Some(latency), started, flight);
                self.record_response(req.endpoint, at, Some(reason), answer, done);
                return Flow::EndTask;
            }
        };
        let failure = self.judge(req, &response);
        let failed = failure.is_some();
        let answer = Answer {
            received: response.received,
            protocol: self.spoke,
        };
        self.record_response(
            req.endpoint,
            (Some(latency), started, flight),
            failure,
            answer,
            done,
        );
        if failed {
            Flow::EndTask
        } else {
            Flow::Continue
        }
    }

    /// A connection to the target: the user's own, or a lane's handle on its user's shared one,
    /// which another lane may be opening meanwhile (waited for no longer than the request's
    /// timeout).
    async fn connect(&self, timeout: std::time::Duration) -> Result<Conn, Reason> {
        // Bounded like the exchange: a target that accepts and never finishes the TLS
        // handshake (or a SYN that is never answered) would otherwise hold the request until
        // the run's end, where it is dropped unrecorded.
        let open = async {
            match &self.pool {
                Some(pool) => pool.open(&self.ctx.connector).await,
                None => self.ctx.connector.connect().await,
            }
        };
        match tokio::time::timeout(timeout, open).await {
            Ok(conn) => conn,
            Err(_) => Err(Cow::Owned(format!(
                "timeout after {}",
                crate::duration::format_duration(timeout)
            ))),
        }
    }

    /// Sends `self.out` to the target on the user's connection (a lane's: its pool's).
    async fn send_here(
        &mut self,
        read: http::Reading,
        timeout: std::time::Duration,
    ) -> Result<http::Response, Reason> {
        let ctx = self.ctx.clone();
        let deadline = (timeout, &mut self.deadline);
        match self.pool.clone() {
            Some(pool) => {
                let (conn, out) = (&mut self.conn, &self.out);
                http::send_via(&ctx.connector, &*pool, conn, out, read, deadline).await
            }
            None => http::send(&ctx.connector, &mut self.conn, &self.out, read, deadline).await,
        }
    }

    /// How to read a response to `req` sent as `method`.
    fn reading(&self, req: &Request, method: &Method) -> http::Reading {
        http::Reading {
            head: *method == Method::HEAD,
            // Only a check or an extraction reads the body; otherwise it is counted and dropped.
            keep_body: req.check.body_contains.is_some()
                || req.check.json_path.is_some()
                || req
                    .extract
                    .iter()
                    .any(|e| matches!(e, Extract::Json { .. })),
            meta: self.ctx.scenario.cookies || req.follow_redirects,
        }
    }

    /// Stores the first response's cookies and follows its redirect, if it is one. The URL is
    /// built only when something needs it, so a plain request allocates nothing here.
    async fn after_first(
        &mut self,
        req: &Request,
        resp: http::Response,
        method: &Method,
        timeout: std::time::Duration,
    ) -> Result<http::Response, Reason> {
        let redirects = req.follow_redirects
            && redirect::is_redirect(resp.status)
            && resp.meta.location.is_some();
        let cookies = self.ctx.scenario.cookies && !resp.meta.set_cookies.is_empty();
        if !redirects && !cookies {
            return Ok(resp);
        }
        let Ok(url) = self.ctx.origin.join(sent_target(&self.out)) else {
            return Ok(resp);
        };
        self.store_cookies(&resp, &url);
        if !redirects {
            return Ok(resp);
        }
        self.follow(req, resp, url, method.clone(), timeout).await
    }

    fn store_cookies(&mut self, resp: &http::Response, url: &Url) {
        if self.ctx.scenario.cookies {
            self.jar.store(
                &resp.meta.set_cookies,
                url,
                &mut self.ctx.recorder.borrow_mut().cookies_dropped,
            );
        }
    }

    /// Follows a redirect chain to its end: at most [`redirect::MAX_REDIRECTS`] hops, each
    /// with the request's timeout. Credentials (`Authorization`, the scenario's `Cookie`,
    /// `Proxy-Authorization`, the scenario's secrets) stop at the first hop to another origin
    /// and stay dropped for the rest of the chain, as `requests` does with `Authorization`; a
    /// body holding a secret never goes there (the hop fails with [`redirect::SECRET_BODY`]).
    async fn follow(
        &mut self,
        req: &Request,
        mut resp: http::Response,
        mut url: Url,
        mut method: Method,
        timeout: std::time::Duration,
    ) -> Result<http::Response, Reason> {
        let mut drop_credentials = false;
        for _ in 0..redirect::MAX_REDIRECTS {
            let location = match &resp.meta.location {
                Some(l) if redirect::is_redirect(resp.status) => l,
                _ => return Ok(resp),
            };
            let hop = redirect::next_hop(&url, &method, resp.status, location)?;
            let away = !redirect::same_origin(&self.ctx.origin, &hop.url);
            if away && hop.keep_body && req.secret_body {
                return Err(Cow::Borrowed(redirect::SECRET_BODY));
            }
            drop_credentials |= away;
            self.build_hop(req, &hop, drop_credentials)?;
            let read = self.reading(req, &hop.method);
            let before = resp.received;
            resp = self.send_to(&hop.url, read, timeout).await?;
            // The chain's bytes, as its latency: all of it is what the user waited for.
            resp.received += before;
            self.store_cookies(&resp, &hop.url);
            (url, method) = (hop.url, hop.method);
        }
        if redirect::is_redirect(resp.status) && resp.meta.location.is_some() {
            return Err(Cow::Borrowed(redirect::TOO_MANY));
        }
        Ok(resp)
    }

    /// Sends `self.out` to `url`'s origin: the target's on the user's connection, another on
    /// the user's one kept connection to the last other origin.
    async fn send_to(
        &mut self,
        url: &Url,
        read: http::Reading,
        timeout: std::time::Duration,
    ) -> Result<http::Response, Reason> {
        let ctx = self.ctx.clone();
        if redirect::same_origin(&ctx.origin, url) {
            return self.send_here(read, timeout).await;
        }
        let key = url.origin().ascii_serialization();
        let connector = ctx.origins.connector(&key, url)?;
        let mut conn = match self.foreign.take() {
            Some((k, c)) if k == key => Some(c),
            _ => None,
        };
        let result = http::send(
            &connector,
            &mut conn,
            &self.out,
            read,
            (timeout, &mut self.deadline),
        )
        .await;
        // The connection it went over, or (closed after the answer) what that origin speaks.
        let spoke = (conn.as_ref().map(protocol_of))
            .or_else(|| result.as_ref().ok().and_then(|_| connector.protocol()));
        self.spoke = Protocol::join(self.spoke, spoke);
        self.foreign = conn.map(|c| (key, c));
        result
    }

    /// Applies the request's checks, then its extractions; the first problem is the reason.
    fn judge(&mut self, req: &Request, resp: &http::Response) -> Option<Reason> {
        let status = resp.status;
        match &req.check.status {
            Some(allowed) if !allowed.contains(&status) => {
                return Some(Cow::Owned(format!(
                    "HTTP {status} (expected {})",
                    allowed
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                )))
            }
            None if status >= 400 => return Some(Cow::Owned(format!("HTTP {status}"))),
            _ => {}
        }
        if let Some(needle) = &req.check.body_contains {
            let text = match needle.as_static() {
                Some(text) => Cow::Borrowed(text),
                None => match needle.render(&self.vars, &mut self.rng) {
                    Ok(text) => Cow::Owned(text),
                    Err(e) => return Some(render_err(e)),
                },
            };
            if !memchr_contains(&resp.body, text.as_bytes()) {
                // Named as written: `${env.X}` stays a name, its value is never printed.
                let shown = needle.literal_prefix();
                return Some(Cow::Owned(format!("body does not contain {shown:?}")));
            }
        }
        let needs_json = req.check.json_path.is_some()
            || req
                .extract
                .iter()
                .any(|e| matches!(e, Extract::Json { .. }));
        if !needs_json {
            return self.extract_cookies(req);
        }
        let json: Value = match serde_json::from_slice(&resp.body) {
            Ok(v) => v,
            Err(_) => return Some(Cow::Borrowed("response body is not JSON")),
        };
        if let Some((text, path)) = &req.check.json_path {
            if path.query(&json).is_empty() {
                return Some(Cow::Owned(format!("JSON path {text} matched nothing")));
            }
        }
        for e in &req.extract {
            let Extract::Json { var, text, path } = e else {
                continue;
            };
            match path.query(&json).first() {
                Some(v) => {
                    self.vars.insert(var.clone(), v.clone());
                }
                None => {
                    return Some(Cow::Owned(format!(
                        "extract {var}: JSON path {text} matched nothing"
                    )))
                }
            }
        }
        self.extract_cookies(req)
    }

    /// `extract: {var: "cookie:NAME"}`: the value of a cookie in the jar, which already holds
    /// what the response (and every redirect before it) set.
    fn extract_cookies(&mut self, req: &Request) -> Option<Reason> {
        for e in &req.extract {
            let Extract::Cookie { var, name } = e else {
                continue;
            };
            match self.jar.value(name) {
                Some(v) => {
                    self.vars.insert(var.clone(), Value::String(v.to_string()));
                }
                None => return Some(Cow::Owned(format!("extract {var}: no cookie {name}"))),
            }
        }
        None
    }
}

/// Percent-encodes what may not appear in a URI (spaces, non-ASCII) and leaves everything else,
/// including existing escapes, alone: what `requests` does for Locust, so `?q=office chair` works.
fn requote(uri: &str) -> String {
    const KEEP: &[u8] = b"-._~:/?#[]@!$&'()*+,;=%";
    if uri
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || KEEP.contains(&b))
    {
        return uri.to_string();
    }
    let mut out = String::with_capacity(uri.len() + 8);
    for b in uri.bytes() {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The protocol a connection speaks.
fn protocol_of(conn: &Conn) -> Protocol {
    match conn {
        Conn::H1(_) => Protocol::Http1,
        Conn::H2(_) => Protocol::H2,
    }
}

fn render_err(e: crate::scenario::RenderError) -> Reason {
    Cow::Owned(e.reason())
}

/// Serialises a request into `out` (a buffer the user reuses): one write per request.
/// `Host`, `Content-Length` and `Transfer-Encoding` are the engine's to set.
fn write_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    host: &HeaderValue,
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    if !headers.iter().any(|(n, _)| n == header::USER_AGENT) {
        out.extend_from_slice(b"\r\nuser-agent: ");
        out.extend_from_slice(USER_AGENT.as_bytes());
    }
    for (name, value) in headers {
        if name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
        {
            continue;
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"\r\ncontent-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// A prepared header value, rendering its template when it has one. A rendered value no
/// header may carry fails the request with its reason: it is never sent empty.
fn render_header(
    name: &HeaderName,
    v: &HeaderSource,
    vars: &Vars,
    rng: &mut Rng64,
) -> Result<HeaderValue, Reason> {
    match v {
        HeaderSource::Fixed(h) => Ok(h.clone()),
        HeaderSource::Template(t) => {
            let s = t.render(vars, rng).map_err(render_err)?;
            let mut v = HeaderValue::from_str(&s).map_err(|_| invalid_header(name))?;
            v.set_sensitive(t.is_secret());
            Ok(v)
        }
    }
}

/// The reason of a header whose value cannot be sent; the value is not shown (a token).
fn invalid_header(name: &HeaderName) -> Reason {
    Cow::Owned(format!(
        "header `{name}` rendered to an invalid value (a newline or another control character)"
    ))
}

/// The request target of the serialised request in `out` (between the method and the version).
fn sent_target(out: &[u8]) -> &str {
    let line = out.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let target = parts.nth(1).unwrap_or(b"/");
    std::str::from_utf8(target).unwrap_or("/")
}

/// The body of the serialised request in `out` (after its empty line).
fn body_of(out: &[u8]) -> &[u8] {
    out.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &out[i + 4..])
}

fn memchr_contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn requote_encodes_only_what_a_uri_cannot_hold() {
        assert_eq!(
            super::requote("/s?q=office chair&x=%20"),
            "/s?q=office%20chair&x=%20"
        );
        assert_eq!(super::requote("/caf\u{e9}"), "/caf%C3%A9");
        assert_eq!(super::requote("/a/b?c=d"), "/a/b?c=d");
    }
}
