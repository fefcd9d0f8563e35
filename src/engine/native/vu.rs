//! A virtual user: runs `on_start` once, then picks weighted tasks forever, waiting between
//! them. Every request outcome is recorded; nothing a server does raises an error here.

use std::{borrow::Cow, cell::RefCell, rc::Rc, time::Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Request as HttpRequest};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::Value;

use super::{
    http::{self, Connector, Sender},
    recorder::{Reason, Recorder},
};
use crate::scenario::{Body, Request, Scenario, Step, Vars, Wait};

pub struct WorkerCtx {
    pub scenario: Arc<Scenario>,
    pub connector: Arc<Connector>,
    pub recorder: Rc<RefCell<Recorder>>,
    pub authority: String,
    pub base_path: String,
}

use std::sync::Arc;

pub struct VirtualUser {
    ctx: Rc<WorkerCtx>,
    vars: Vars,
    headers: Vec<(String, String)>,
    rng: SmallRng,
    conn: Option<Sender>,
}

/// What the rest of a task does after a step.
enum Flow {
    Continue,
    /// A request failed: later steps of the same task usually depend on it (a token, an id), so
    /// they are skipped, as a Locust task that hits a failed `catch_response` guard would.
    EndTask,
}

const USER_AGENT: &str = concat!("loadforge-gate/", env!("CARGO_PKG_VERSION"));

impl VirtualUser {
    pub fn new(ctx: Rc<WorkerCtx>, seed: u64) -> Self {
        let vars = ctx.scenario.variables.clone();
        Self {
            ctx,
            vars,
            headers: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
            conn: None,
        }
    }

    /// Runs until the caller drops the future (at the deadline or on interruption).
    pub async fn run(mut self) {
        let scenario = self.ctx.scenario.clone();
        self.run_steps(&scenario.on_start).await;
        let total = *scenario.cumulative_weights.last().unwrap_or(&1);
        loop {
            let pick = self.rng.random_range(0..total);
            let idx = scenario.cumulative_weights.partition_point(|&w| w <= pick);
            self.run_steps(&scenario.tasks[idx].steps).await;
            self.wait(scenario.wait).await;
        }
    }

    async fn run_steps(&mut self, steps: &[Step]) {
        for step in steps {
            let flow = match step {
                Step::Request(r) => self.request(r).await,
                Step::Sleep(w) => {
                    self.wait(*w).await;
                    Flow::Continue
                }
                Step::SetHeaders(hs) => {
                    for (name, t) in hs {
                        match t.render(&self.vars, &mut self.rng) {
                            Ok(v) => self.set_header(name, v),
                            Err(_) => return,
                        }
                    }
                    Flow::Continue
                }
                Step::Set(vars) => {
                    for (name, t) in vars {
                        match t.render(&self.vars, &mut self.rng) {
                            Ok(v) => {
                                self.vars.insert(name.clone(), v);
                            }
                            Err(_) => return,
                        }
                    }
                    Flow::Continue
                }
            };
            if let Flow::EndTask = flow {
                return;
            }
        }
    }

    fn set_header(&mut self, name: &str, value: String) {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
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
        tokio::time::sleep(d).await;
    }

    fn record(&self, endpoint: usize, latency: Option<u64>, failure: Option<Reason>) {
        self.ctx
            .recorder
            .borrow_mut()
            .record(endpoint, latency, failure, Instant::now());
    }

    fn build(&mut self, req: &Request) -> Result<HttpRequest<Full<Bytes>>, Reason> {
        let render_err = |e: crate::scenario::RenderError| Cow::Owned(e.reason());
        let path = req
            .path
            .render(&self.vars, &mut self.rng)
            .map_err(render_err)?;
        let uri = requote(&format!("{}{}", self.ctx.base_path, path));
        let mut builder = HttpRequest::builder()
            .method(req.method.as_str())
            .uri(uri)
            .header(header::HOST, &self.ctx.authority)
            .header(header::USER_AGENT, USER_AGENT);
        let (body, content_type) = match &req.body {
            Body::None => (Bytes::new(), None),
            Body::Json(t) => {
                let v = t.render(&self.vars, &mut self.rng).map_err(render_err)?;
                (Bytes::from(v.to_string()), Some("application/json"))
            }
            Body::Text(t) => (
                Bytes::from(t.render(&self.vars, &mut self.rng).map_err(render_err)?),
                None,
            ),
        };
        let mut has_content_type = false;
        let scenario = self.ctx.scenario.clone();
        for (name, t) in &scenario.default_headers {
            let v = t.render(&self.vars, &mut self.rng).map_err(render_err)?;
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            if !self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
                && !req
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                builder = builder.header(name.as_str(), v);
            }
        }
        for (name, v) in &self.headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            if !req
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                builder = builder.header(name.as_str(), v.as_str());
            }
        }
        for (name, t) in &req.headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            let v = t.render(&self.vars, &mut self.rng).map_err(render_err)?;
            builder = builder.header(name.as_str(), v);
        }
        if let (Some(ct), false) = (content_type, has_content_type) {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder
            .body(Full::new(body))
            .map_err(|e| Cow::Owned(format!("cannot build the request: {e}")))
    }

    async fn request(&mut self, req: &Request) -> Flow {
        let http_req = match self.build(req) {
            Ok(r) => r,
            Err(reason) => {
                self.record(req.endpoint, None, Some(reason));
                return Flow::EndTask;
            }
        };
        let timeout = req.timeout.unwrap_or(self.ctx.scenario.timeout);
        let started = Instant::now();
        let mut sender = match self.conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => match self.ctx.connector.connect().await {
                Ok(s) => s,
                Err(reason) => {
                    self.record(req.endpoint, None, Some(reason));
                    return Flow::EndTask;
                }
            },
        };
        let result = http::send(&mut sender, http_req, timeout).await;
        let latency = started.elapsed().as_micros() as u64;
        let response = match result {
            Ok(r) => {
                self.conn = Some(sender);
                r
            }
            Err(reason) => {
                // The connection is in an unknown state; the next request opens a new one.
                self.record(req.endpoint, Some(latency), Some(reason));
                return Flow::EndTask;
            }
        };
        let failure = self.judge(req, &response);
        let failed = failure.is_some();
        self.record(req.endpoint, Some(latency), failure);
        if failed {
            Flow::EndTask
        } else {
            Flow::Continue
        }
    }

    /// Applies the request's checks, then its extractions; the first problem is the reason.
    fn judge(&mut self, req: &Request, resp: &http::Response) -> Option<Reason> {
        let status = resp.status.as_u16();
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
            if !memchr_contains(&resp.body, needle.as_bytes()) {
                return Some(Cow::Owned(format!("body does not contain {needle:?}")));
            }
        }
        let needs_json = req.check.json_path.is_some() || !req.extract.is_empty();
        if !needs_json {
            return None;
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
        for (var, text, path) in &req.extract {
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
