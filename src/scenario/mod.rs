//! The native scenario: a YAML description of what a virtual user does, rich enough for the
//! four sample Locust flows (log in once, keep a token, weighted tasks, multi-step tasks with
//! sleeps, random choices, checks). Loading compiles it into a form the engine runs without
//! re-parsing anything: templates pre-split, JSON paths pre-compiled, endpoints numbered.

mod multipart;
mod raw;
mod secrets;
mod template;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::Value;
use serde_json_path::JsonPath;

pub(crate) use template::{RenderError, Template, Vars};

use crate::duration::parse_duration;

/// SHA-256 of `bytes` in lowercase hex (the same digest `stats` names a locustfile by).
fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
use raw::{RawCheck, RawDuration, RawRequest, RawScenario, RawStatus, RawStep, RawWait};

/// Why a scenario file cannot be run; a usage error (exit 2) that names the file and the place
/// in it.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {}; check the --scenario path", path.display())]
    Read {
        /// The scenario file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML, or not the scenario's shape (an unknown key, a wrong type).
    #[error("scenario {} does not parse; fix it where the cause below points", path.display())]
    Yaml {
        /// The scenario file.
        path: PathBuf,
        /// The parser's error, with its line and column.
        #[source]
        source: crate::yaml::YamlError,
    },
    /// The file parses but does not make sense (no tasks, a zero weight, an undefined
    /// variable, a bad JSON path).
    #[error("scenario {}: {at}: {message}", path.display())]
    Invalid {
        /// The scenario file.
        path: PathBuf,
        /// Where in the file, as a path of keys (`tasks[2].request`).
        at: String,
        /// What is wrong there.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wait {
    None,
    Constant(Duration),
    Between(Duration, Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointDef {
    pub(crate) name: String,
    pub(crate) method: String,
}

/// A compiled scenario: what each virtual user does, ready for the native engine to run
/// without parsing anything again.
#[derive(Debug)]
pub struct Scenario {
    pub(crate) name: String,
    pub(crate) endpoints: Vec<EndpointDef>,
    pub(crate) variables: Vars,
    pub(crate) default_headers: Vec<(String, Template)>,
    pub(crate) timeout: Duration,
    /// The largest response head read, in bytes.
    pub(crate) max_head: usize,
    /// The largest body kept for a check or extraction, in bytes.
    pub(crate) max_body: usize,
    /// Each virtual user keeps a cookie jar (`defaults.cookies`, on unless turned off).
    pub(crate) cookies: bool,
    /// The most cookies in one user's jar (`defaults.max_cookies`).
    pub(crate) max_cookies: usize,
    /// The most bytes of cookies in one user's jar (`defaults.max_cookies_kib`).
    pub(crate) max_cookie_bytes: usize,
    /// Whether the native engine speaks HTTP/2 (`defaults.http2`; `--http2` wins over it).
    pub(crate) http2: crate::modes::Http2Mode,
    /// How many lanes of its flow each virtual user runs at once, over its one HTTP/2
    /// connection (`defaults.streams_per_user`, 1 unless written; h2load's `-m`).
    pub(crate) streams_per_user: u32,
    pub(crate) wait: Wait,
    pub(crate) on_start: Vec<Step>,
    pub(crate) tasks: Vec<Task>,
    /// Running sums of task weights, for a weighted pick with one random number.
    pub(crate) cumulative_weights: Vec<u32>,
    /// SHA-256 (hex) of the scenario's text, for the load fingerprint: an edited scenario is
    /// told apart from an unchanged one without keeping the text.
    pub(crate) source_sha256: String,
}

#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) weight: u32,
    pub(crate) steps: Vec<Step>,
}

#[derive(Debug)]
pub(crate) enum Step {
    Request(Box<Request>),
    Sleep(Wait),
    SetHeaders(Vec<(String, Template)>),
    Set(Vec<(String, JsonTemplate)>),
    /// Cookies put into the user's jar for the target's host.
    SetCookies(Vec<(String, Template)>),
}

#[derive(Debug)]
pub(crate) struct Request {
    /// Position among all requests of the scenario, for per-request caches in the engine.
    pub(crate) id: usize,
    pub(crate) endpoint: usize,
    pub(crate) method: String,
    pub(crate) path: Template,
    pub(crate) headers: Vec<(String, Template)>,
    pub(crate) body: Body,
    pub(crate) check: Check,
    pub(crate) extract: Vec<Extract>,
    pub(crate) timeout: Option<Duration>,
    /// Redirects are followed (up to 10 hops) unless the scenario says otherwise.
    pub(crate) follow_redirects: bool,
    /// The body holds a secret (`${env.NAME}`, or a secret variable): a `307`/`308` that
    /// would carry it to another origin is not followed.
    pub(crate) secret_body: bool,
}

/// Where an `extract:` takes its value from: the JSON body, or the user's cookie jar
/// (`cookie:NAME`, after the response's `Set-Cookie` headers were stored).
#[derive(Debug)]
pub(crate) enum Extract {
    Json {
        var: String,
        text: String,
        path: JsonPath,
    },
    Cookie {
        var: String,
        name: String,
    },
}

/// The prefix of an extraction that reads a cookie rather than a JSON path.
const COOKIE_PREFIX: &str = "cookie:";

#[derive(Debug)]
pub(crate) enum Body {
    None,
    Json(JsonTemplate),
    Text(Template),
    /// An urlencoded form: each field's value is a template.
    Form(Vec<(String, Template)>),
    /// `multipart/form-data`: text fields and files.
    Multipart(multipart::Multipart),
}

impl Body {
    /// Every template of the body (JSON strings, text, form fields, multipart text fields).
    pub(crate) fn templates(&self) -> Box<dyn Iterator<Item = &Template> + '_> {
        match self {
            Body::None => Box::new(std::iter::empty()),
            Body::Json(j) => {
                let mut out = Vec::new();
                j.templates(&mut out);
                Box::new(out.into_iter())
            }
            Body::Text(t) => Box::new(std::iter::once(t)),
            Body::Form(fields) => Box::new(fields.iter().map(|(_, t)| t)),
            Body::Multipart(m) => Box::new(m.parts.iter().filter_map(|p| match p {
                multipart::Part::Text(_, t) => Some(t),
                multipart::Part::File { .. } => None,
            })),
        }
    }
}

/// The body fields of a request as the YAML gives them; at most one may be set.
struct Bodies {
    json: Option<serde_json::Value>,
    text: Option<String>,
    form: Option<BTreeMap<String, String>>,
    multipart: Option<BTreeMap<String, multipart::RawPart>>,
}

#[derive(Debug, Default)]
pub(crate) struct Check {
    /// Accepted statuses; `None` means any status below 400, as Locust judges by default.
    pub(crate) status: Option<Vec<u16>>,
    /// Rendered like every other field (`${env.X}` at load, `${var}` per response); a
    /// failure names it as written, so a value from the environment is never printed.
    pub(crate) body_contains: Option<Template>,
    pub(crate) json_path: Option<(String, JsonPath)>,
}

/// A JSON value whose strings may hold templates; fully static bodies are kept as one value.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    Static(Value),
    Str(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    fn compile(v: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<JsonTemplate, String> {
        let t = match v {
            Value::String(s) => {
                let t = Template::parse(s, env)?;
                if t.is_static() {
                    JsonTemplate::Static(Value::String(
                        t.render(&Vars::new(), &mut fixed_rng()).unwrap_or_default(),
                    ))
                } else {
                    JsonTemplate::Str(t)
                }
            }
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|i| JsonTemplate::compile(i, env))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::compile(v, env)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Static(other.clone()),
        };
        Ok(t.simplify())
    }

    /// Collapses containers whose members are all static into one static value.
    fn simplify(self) -> JsonTemplate {
        match self {
            JsonTemplate::Array(items)
                if items.iter().all(|i| matches!(i, JsonTemplate::Static(_))) =>
            {
                JsonTemplate::Static(Value::Array(
                    items
                        .into_iter()
                        .map(|i| match i {
                            JsonTemplate::Static(v) => v,
                            _ => unreachable!("checked above"),
                        })
                        .collect(),
                ))
            }
            JsonTemplate::Object(members)
                if members
                    .iter()
                    .all(|(_, m)| matches!(m, JsonTemplate::Static(_))) =>
            {
                JsonTemplate::Static(Value::Object(
                    members
                        .into_iter()
                        .map(|(k, m)| match m {
                            JsonTemplate::Static(v) => (k, v),
                            _ => unreachable!("checked above"),
                        })
                        .collect(),
                ))
            }
            other => other,
        }
    }

    pub(crate) fn render(
        &self,
        vars: &Vars,
        rng: &mut crate::rng::Rng64,
    ) -> Result<Value, RenderError> {
        Ok(match self {
            JsonTemplate::Static(v) => v.clone(),
            JsonTemplate::Str(t) => t.render_value(vars, rng)?,
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(vars, rng))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, m)| Ok((k.clone(), m.render(vars, rng)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
        })
    }

    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonTemplate::Static(_) => {}
            JsonTemplate::Str(t) => out.push(t),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.templates(out)),
            JsonTemplate::Object(members) => members.iter().for_each(|(_, m)| m.templates(out)),
        }
    }

    fn variables<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            JsonTemplate::Static(_) => {}
            JsonTemplate::Str(t) => out.extend(t.variables()),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.variables(out)),
            JsonTemplate::Object(members) => members.iter().for_each(|(_, m)| m.variables(out)),
        }
    }
}

/// Whether any string in `v` is a template whose text comes from the environment: what the
/// template reader itself says (any spacing inside the braces), never a look at the spelling.
fn reads_env(v: &Value, env: &dyn Fn(&str) -> Option<String>) -> bool {
    match v {
        Value::String(s) => Template::parse(s, env).is_ok_and(|t| t.is_secret()),
        Value::Array(items) => items.iter().any(|i| reads_env(i, env)),
        Value::Object(map) => map.values().any(|m| reads_env(m, env)),
        _ => false,
    }
}

/// The generator for templates rendered once at load (endpoint names): the same every time.
fn fixed_rng() -> crate::rng::Rng64 {
    crate::rng::Rng64::starting_at(0)
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The encodings the native engine decodes, asked for by default.
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

impl Scenario {
    /// Reads, parses and compiles a scenario file, resolving `${env.*}` through `env`, its
    /// YAML read within `yaml`'s budget.
    pub(crate) fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        yaml: &crate::yaml::YamlBudget,
    ) -> Result<Scenario, ScenarioError> {
        let text = crate::capped::read_text_file(path, crate::defaults::MAX_USER_FILE_BYTES)
            .map_err(|source| ScenarioError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse_with(&text, path, env, yaml)
    }

    /// Compiles scenario `text`; `path` names the file in errors and, without a `name` key,
    /// gives the scenario its name. `${env.*}` is resolved through `env`.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Scenario, ScenarioError> {
        Self::parse_with(text, path, env, &crate::yaml::YamlBudget::default())
    }

    /// [`Scenario::parse`], the YAML read within `yaml`'s budget.
    pub(crate) fn parse_with(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        yaml: &crate::yaml::YamlBudget,
    ) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario =
            crate::yaml::from_str_with(text, yaml).map_err(|source| ScenarioError::Yaml {
                path: path.to_path_buf(),
                source,
            })?;
        let fallback_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        Compiler {
            path,
            env,
            endpoints: Vec::new(),
            endpoint_ids: std::collections::HashMap::new(),
            requests: 0,
            cookies: raw.defaults.cookies.unwrap_or(true),
            follow_redirects: raw.defaults.follow_redirects.unwrap_or(true),
            max_upload: multipart::MAX_FILE_BYTES,
            defined: raw.variables.keys().cloned().collect(),
            used: Vec::new(),
            sets: Vec::new(),
        }
        .compile(raw, fallback_name)
        .map(|scenario| Scenario {
            source_sha256: sha256_hex(text.as_bytes()),
            ..scenario
        })
    }

    /// Every request of the scenario, indexed by `Request::id`.
    pub(crate) fn requests(&self) -> Vec<&Request> {
        let mut out: Vec<&Request> = self
            .on_start
            .iter()
            .chain(self.tasks.iter().flat_map(|t| t.steps.iter()))
            .filter_map(|s| match s {
                Step::Request(r) => Some(r.as_ref()),
                _ => None,
            })
            .collect();
        out.sort_by_key(|r| r.id);
        out
    }

    /// Keeps the first `cap` endpoint names and counts the requests of every later one under
    /// one endpoint named `other` (the cardinality guard, applied before the run so memory stays
    /// bounded by the cap); returns the folded names.
    pub(crate) fn fold_endpoints(&mut self, cap: usize, other: &str) -> Vec<String> {
        if self.endpoints.len() <= cap {
            return Vec::new();
        }
        let folded = self.endpoints.split_off(cap);
        self.endpoints.push(EndpointDef {
            name: other.to_string(),
            method: String::new(),
        });
        let steps = self
            .on_start
            .iter_mut()
            .chain(self.tasks.iter_mut().flat_map(|t| t.steps.iter_mut()));
        for step in steps {
            if let Step::Request(r) = step {
                r.endpoint = r.endpoint.min(cap);
            }
        }
        folded.into_iter().map(|e| e.name).collect()
    }

    pub(crate) fn endpoint_names(&self) -> Vec<&str> {
        self.endpoints.iter().map(|e| e.name.as_str()).collect()
    }
}

struct Compiler<'a> {
    path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    endpoints: Vec<EndpointDef>,
    /// Each endpoint's position in `endpoints`, so thousands of names stay linear to compile.
    endpoint_ids: std::collections::HashMap<String, usize>,
    /// Requests compiled so far (each gets the next id).
    requests: usize,
    /// `defaults.cookies`: whether cookie steps and extractions have a jar to work with.
    cookies: bool,
    /// `defaults.follow_redirects`, which a request may override.
    follow_redirects: bool,
    /// `defaults.max_upload_mib` in bytes: the largest file a multipart part reads.
    max_upload: usize,
    /// Variables that something defines (`variables:`, `extract:`, `set:`).
    defined: BTreeSet<String>,
    /// Variables read, with where they are read, checked once everything is compiled.
    used: Vec<(String, String)>,
    /// What each `set:` variable is filled from, to tell which headers carry a secret.
    sets: Vec<secrets::SetSource>,
}

impl Compiler<'_> {
    fn err(&self, at: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            at: at.to_string(),
            message: message.into(),
        }
    }

    fn compile(
        mut self,
        raw: RawScenario,
        fallback_name: String,
    ) -> Result<Scenario, ScenarioError> {
        if raw.tasks.is_empty() {
            return Err(self.err("tasks", "a scenario needs at least one task"));
        }
        let timeout = match &raw.defaults.timeout {
            Some(d) => self.duration(d, "defaults.timeout")?,
            None => DEFAULT_TIMEOUT,
        };
        let mut default_headers = self.headers(&raw.defaults.headers, "defaults.headers")?;
        // Compressed answers, as Locust's clients and browsers ask for them (`compression:
        // false` turns it off; a scenario's own Accept-Encoding wins).
        if raw.defaults.compression.unwrap_or(true)
            && !default_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
        {
            default_headers.push(("accept-encoding".into(), Template::literal(ACCEPT_ENCODING)));
        }
        let (max_head, max_body) = self.caps(&raw.defaults)?;
        let (max_cookies, max_cookie_bytes) = self.cookie_caps(&raw.defaults)?;
        self.max_upload = self.upload_cap(&raw.defaults)?;
        let streams_per_user = self.streams_per_user(&raw.defaults)?;
        let wait = match &raw.wait {
            Some(w) => self.wait(w, "wait")?,
            None => Wait::None,
        };
        let on_start = self.steps(raw.on_start, "on_start")?;
        let tasks = raw
            .tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| self.task(t, &format!("tasks[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for (var, at) in &self.used {
            if !self.defined.contains(var) {
                return Err(self.err(
                    at,
                    format!("unknown variable `{var}`; define it under `variables:`, `extract:` or `set:`"),
                ));
            }
        }
        let mut variables = Vars::new();
        for (k, v) in raw.variables {
            variables.insert(k, v);
        }
        let cumulative_weights = self.cumulative_weights(&tasks)?;
        let mut scenario = Scenario {
            name: raw.name.unwrap_or(fallback_name),
            endpoints: self.endpoints,
            variables,
            default_headers,
            timeout,
            wait,
            on_start,
            tasks,
            cumulative_weights,
            max_head,
            max_body,
            cookies: self.cookies,
            source_sha256: String::new(),
            max_cookies,
            max_cookie_bytes,
            http2: raw.defaults.http2.unwrap_or_default(),
            streams_per_user,
        };
        secrets::mark_secret_headers(&mut scenario, &self.sets);
        Ok(scenario)
    }

    fn task(&mut self, t: raw::RawTask, at: &str) -> Result<Task, ScenarioError> {
        let weight = t.weight.unwrap_or(1);
        if weight == 0 {
            return Err(self.err(at, "weight must be at least 1"));
        }
        let steps = match (t.request, t.steps) {
            (Some(r), None) => vec![Step::Request(Box::new(
                self.request(r, &format!("{at}.request"))?,
            ))],
            (None, Some(s)) if !s.is_empty() => self.steps(s, &format!("{at}.steps"))?,
            (None, Some(_)) => return Err(self.err(at, "`steps` is empty")),
            (Some(_), Some(_)) => {
                return Err(self.err(at, "give either `request` or `steps`, not both"))
            }
            (None, None) => return Err(self.err(at, "a task needs `request` or `steps`")),
        };
        Ok(Task { weight, steps })
    }

    /// Running sums of the weights, for a weighted pick with one random number.
    fn cumulative_weights(&self, tasks: &[Task]) -> Result<Vec<u32>, ScenarioError> {
        let sums = tasks
            .iter()
            .scan(0u32, |acc, t| {
                *acc = acc.checked_add(t.weight)?;
                Some(*acc)
            })
            .collect::<Vec<u32>>();
        if sums.len() < tasks.len() {
            return Err(self.err(
                "tasks",
                format!(
                    "the task weights add up past {}; use smaller weights",
                    u32::MAX
                ),
            ));
        }
        Ok(sums)
    }

    fn duration(&self, d: &RawDuration, at: &str) -> Result<Duration, ScenarioError> {
        match d {
            RawDuration::Seconds(s) => {
                crate::duration::seconds(*s, &s.to_string()).map_err(|e| self.err(at, e))
            }
            RawDuration::Text(t) => parse_duration(t).map_err(|e| self.err(at, e)),
        }
    }

    fn wait(&self, w: &RawWait, at: &str) -> Result<Wait, ScenarioError> {
        match w {
            RawWait::Fixed(d) => Ok(Wait::Constant(self.duration(d, at)?)),
            RawWait::Spec(spec) => match (&spec.constant, &spec.between) {
                (Some(d), None) => Ok(Wait::Constant(self.duration(d, at)?)),
                (None, Some((a, b))) => {
                    let (a, b) = (self.duration(a, at)?, self.duration(b, at)?);
                    if a > b {
                        return Err(self.err(at, "`between: [a, b]` needs a <= b"));
                    }
                    Ok(Wait::Between(a, b))
                }
                _ => Err(self.err(
                    at,
                    "give one of `constant: SECONDS` or `between: [MIN, MAX]`",
                )),
            },
        }
    }

    fn template(&mut self, text: &str, at: &str) -> Result<Template, ScenarioError> {
        let t = Template::parse(text, self.env).map_err(|e| self.err(at, e))?;
        for v in t.variables() {
            self.used.push((v.to_string(), at.to_string()));
        }
        Ok(t)
    }

    fn headers(
        &mut self,
        map: &BTreeMap<String, String>,
        at: &str,
    ) -> Result<Vec<(String, Template)>, ScenarioError> {
        let mut out = Vec::new();
        for (k, v) in map {
            if http::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(self.err(at, format!("`{k}` is not a valid header name")));
            }
            let value = self.template(v, &format!("{at}.{k}"))?;
            // A value known now (a literal, or a variable of the environment) that no header
            // may carry is refused here, never sent empty; the value itself is not shown, since
            // it may be a secret.
            if value
                .as_static()
                .is_some_and(|v| http::HeaderValue::from_str(v).is_err())
            {
                return Err(self.err(
                    &format!("{at}.{k}"),
                    "the value is not a valid header value: it holds a newline or another control character (a variable of the environment is used as it is: check its last character)",
                ));
            }
            out.push((k.clone(), value));
        }
        Ok(out)
    }

    fn steps(&mut self, raw: Vec<RawStep>, at: &str) -> Result<Vec<Step>, ScenarioError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, s)| self.step(s, &format!("{at}[{i}]")))
            .collect()
    }

    fn step(&mut self, s: RawStep, at: &str) -> Result<Step, ScenarioError> {
        Ok(match (s.request, s.sleep, s.set_headers, s.set, s.set_cookies) {
            (Some(r), None, None, None, None) => {
                Step::Request(Box::new(self.request(r, &format!("{at}.request"))?))
            }
            (None, Some(w), None, None, None) => Step::Sleep(self.wait(&w, &format!("{at}.sleep"))?),
            (None, None, Some(h), None, None) => {
                Step::SetHeaders(self.headers(&h, &format!("{at}.set_headers"))?)
            }
            (None, None, None, Some(vars), None) => Step::Set(self.set_vars(vars, at)?),
            (None, None, None, None, Some(c)) => {
                Step::SetCookies(self.set_cookies(&c, &format!("{at}.set_cookies"))?)
            }
            _ => {
                return Err(self.err(
                    at,
                    "a step has exactly one of `request`, `sleep`, `set_headers`, `set` or `set_cookies`",
                ))
            }
        })
    }

    fn set_vars(
        &mut self,
        vars: BTreeMap<String, Value>,
        at: &str,
    ) -> Result<Vec<(String, JsonTemplate)>, ScenarioError> {
        let mut out = Vec::new();
        for (k, v) in vars {
            let t = JsonTemplate::compile(&v, self.env)
                .map_err(|e| self.err(&format!("{at}.set.{k}"), e))?;
            let mut used = Vec::new();
            t.variables(&mut used);
            self.sets.push(secrets::SetSource {
                name: k.clone(),
                reads: used.iter().map(|u| u.to_string()).collect(),
                // The template reader's own answer, so `${ env.KEY }` counts as `${env.KEY}`.
                secret: reads_env(&v, self.env),
            });
            for u in used {
                self.used.push((u.to_string(), format!("{at}.set.{k}")));
            }
            self.defined.insert(k.clone());
            out.push((k, t));
        }
        Ok(out)
    }

    /// `set_cookies:` needs the jar, and names a cookie can carry (RFC 6265 tokens).
    fn set_cookies(
        &mut self,
        map: &BTreeMap<String, String>,
        at: &str,
    ) -> Result<Vec<(String, Template)>, ScenarioError> {
        if !self.cookies {
            return Err(self.err(
                at,
                "`set_cookies` needs the cookie jar; remove `defaults.cookies: false`",
            ));
        }
        let mut out = Vec::new();
        for (k, v) in map {
            if !is_cookie_name(k) {
                return Err(self.err(at, format!("`{k}` is not a valid cookie name")));
            }
            out.push((k.clone(), self.template(v, &format!("{at}.{k}"))?));
        }
        Ok(out)
    }

    /// One `extract:` entry: `cookie:NAME` reads the jar, anything else is a JSON path. The
    /// value is a secret when the entry says so, or by default when its name looks like a
    /// credential's (`token`, `session_id`).
    fn extract(
        &mut self,
        var: String,
        raw: raw::RawExtract,
        at: &str,
    ) -> Result<Extract, ScenarioError> {
        let at = format!("{at}.extract.{var}");
        let (p, secret) = raw.into_parts();
        self.defined.insert(var.clone());
        self.sets.push(secrets::SetSource {
            name: var.clone(),
            reads: Vec::new(),
            secret: secrets::extracted_is_secret(&var, secret),
        });
        match p.strip_prefix(COOKIE_PREFIX) {
            Some(_) if !self.cookies => Err(self.err(
                &at,
                "`cookie:` extraction needs the cookie jar; remove `defaults.cookies: false`",
            )),
            Some(name) if is_cookie_name(name.trim()) => Ok(Extract::Cookie {
                var,
                name: name.trim().to_string(),
            }),
            Some(name) => Err(self.err(&at, format!("`{name}` is not a valid cookie name"))),
            None => {
                let path = self.json_path(&p, &at)?;
                Ok(Extract::Json { var, text: p, path })
            }
        }
    }

    fn request(&mut self, r: RawRequest, at: &str) -> Result<Request, ScenarioError> {
        let method = r.method.to_ascii_uppercase();
        if http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(self.err(at, format!("`{}` is not an HTTP method", r.method)));
        }
        if !r.path.starts_with('/') && !r.path.starts_with("${") {
            return Err(self.err(
                &format!("{at}.path"),
                format!(
                    "`{}` must start with `/` (it is joined to the host)",
                    r.path
                ),
            ));
        }
        let path = self.template(&r.path, &format!("{at}.path"))?;
        // A name given with a query keeps it, less its credentials (`?api_key=***`), and its
        // control characters are escaped: every report shows the name.
        let name = r
            .name
            .map(|n| crate::quote::endpoint_name(&n))
            .unwrap_or_else(|| {
                let shown = path.literal_prefix();
                let shown = shown.split('?').next().unwrap_or_default().to_string();
                crate::quote::endpoint_name(&format!("{method} {shown}"))
            });
        let endpoint = self.endpoint(name, &method);
        let headers = self.headers(&r.headers, &format!("{at}.headers"))?;
        let json_secret = r.json.as_ref().is_some_and(|v| reads_env(v, self.env));
        let body = self.body(
            Bodies {
                json: r.json,
                text: r.body,
                form: r.form,
                multipart: r.multipart,
            },
            at,
        )?;
        let check = self.check(r.check, at)?;
        let extract = r
            .extract
            .into_iter()
            .map(|(var, p)| self.extract(var, p, at))
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = match &r.timeout {
            Some(d) => Some(self.duration(d, &format!("{at}.timeout"))?),
            None => None,
        };
        let id = self.requests;
        self.requests += 1;
        Ok(Request {
            id,
            endpoint,
            method,
            path,
            headers,
            check,
            extract,
            timeout,
            follow_redirects: r.follow_redirects.unwrap_or(self.follow_redirects),
            secret_body: json_secret || body.templates().any(|t| t.is_secret()),
            body,
        })
    }

    /// The response caps: bounded so a typo cannot hand a server the runner's memory.
    fn caps(&self, d: &raw::RawDefaults) -> Result<(usize, usize), ScenarioError> {
        let head = match d.max_head_kib {
            Some(k @ 1..=1024) => k as usize * 1024,
            Some(k) => {
                return Err(self.err("defaults.max_head_kib", format!("{k} must be 1 to 1024")))
            }
            None => crate::defaults::RESPONSE_HEAD_CAP,
        };
        let body = match d.max_body_mib {
            Some(m @ 1..=1024) => m as usize * 1024 * 1024,
            Some(m) => {
                return Err(self.err("defaults.max_body_mib", format!("{m} must be 1 to 1024")))
            }
            None => crate::defaults::RESPONSE_BODY_CAP,
        };
        Ok((head, body))
    }

    /// A user's cookie jar caps, count and bytes: bounded so that a jar's memory is set by the
    /// scenario, never by what a target sends.
    fn cookie_caps(&self, d: &raw::RawDefaults) -> Result<(usize, usize), ScenarioError> {
        let count = match d.max_cookies {
            Some(n @ 1..=3000) => n as usize,
            Some(n) => {
                return Err(self.err("defaults.max_cookies", format!("{n} must be 1 to 3000")))
            }
            None => crate::defaults::COOKIES_PER_USER,
        };
        let bytes = match d.max_cookies_kib {
            Some(k @ 1..=1024) => k as usize * 1024,
            Some(k) => {
                return Err(self.err("defaults.max_cookies_kib", format!("{k} must be 1 to 1024")))
            }
            None => crate::defaults::COOKIE_JAR_BYTES,
        };
        Ok((count, bytes))
    }

    /// Lanes per user: bounded, since each lane is a user's state (variables, cookie jar,
    /// buffers) and up to a stream window of a response in memory.
    fn streams_per_user(&self, d: &raw::RawDefaults) -> Result<u32, ScenarioError> {
        const MAX: u32 = crate::defaults::MAX_STREAMS_PER_USER;
        match d.streams_per_user {
            None => Ok(1),
            Some(n) if (1..=i64::from(MAX)).contains(&n) => Ok(n as u32),
            Some(n) => Err(self.err(
                "defaults.streams_per_user",
                format!("{n} must be 1 to {MAX} (streams at once per virtual user; more users give more load)"),
            )),
        }
    }

    /// The largest file a multipart part may send, read whole when the scenario loads.
    fn upload_cap(&self, d: &raw::RawDefaults) -> Result<usize, ScenarioError> {
        match d.max_upload_mib {
            Some(m @ 1..=multipart::MAX_UPLOAD_MIB) => Ok(m as usize * 1024 * 1024),
            Some(m) => Err(self.err(
                "defaults.max_upload_mib",
                format!("{m} must be 1 to {}", multipart::MAX_UPLOAD_MIB),
            )),
            None => Ok(multipart::MAX_FILE_BYTES),
        }
    }

    /// The endpoint a request is recorded under, created on first use.
    fn endpoint(&mut self, name: String, method: &str) -> usize {
        if let Some(&i) = self.endpoint_ids.get(&name) {
            return i;
        }
        self.endpoints.push(EndpointDef {
            name: name.clone(),
            method: method.to_string(),
        });
        self.endpoint_ids.insert(name, self.endpoints.len() - 1);
        self.endpoints.len() - 1
    }

    fn body(&mut self, b: Bodies, at: &str) -> Result<Body, ScenarioError> {
        let given = [
            b.json.is_some(),
            b.text.is_some(),
            b.form.is_some(),
            b.multipart.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(self.err(
                at,
                "give one of `json`, `body`, `form` or `multipart`, not several",
            ));
        }
        if let Some(form) = b.form {
            let fields = form
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.template(v, &format!("{at}.form.{k}"))?)))
                .collect::<Result<Vec<_>, ScenarioError>>()?;
            return Ok(Body::Form(fields));
        }
        if let Some(parts) = b.multipart {
            return self.multipart(parts, at);
        }
        match (b.json, b.text) {
            (Some(v), _) => {
                let t = JsonTemplate::compile(&v, self.env)
                    .map_err(|e| self.err(&format!("{at}.json"), e))?;
                let mut used = Vec::new();
                t.variables(&mut used);
                for u in used {
                    self.used.push((u.to_string(), format!("{at}.json")));
                }
                Ok(Body::Json(t))
            }
            (None, Some(b)) => Ok(Body::Text(self.template(&b, &format!("{at}.body"))?)),
            (None, None) => Ok(Body::None),
        }
    }

    /// `multipart:`, its files read relative to the scenario file.
    fn multipart(
        &mut self,
        parts: BTreeMap<String, multipart::RawPart>,
        at: &str,
    ) -> Result<Body, ScenarioError> {
        let base = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut failed = None;
        let compiled = multipart::compile(parts, &base, self.max_upload, |text, name| {
            self.template(text, &format!("{at}.multipart.{name}"))
                .map_err(|e| {
                    let line = e.to_string();
                    failed = Some(e);
                    line
                })
        });
        match (compiled, failed) {
            (Ok(m), _) => Ok(Body::Multipart(m)),
            (Err(_), Some(e)) => Err(e),
            (Err((name, e)), None) => Err(self.err(&format!("{at}.multipart.{name}"), e)),
        }
    }

    fn check(&mut self, c: RawCheck, at: &str) -> Result<Check, ScenarioError> {
        let body_contains = match &c.body_contains {
            Some(text) => Some(self.template(text, &format!("{at}.check.body_contains"))?),
            None => None,
        };
        Ok(Check {
            status: c.status.map(|s| match s {
                RawStatus::One(c) => vec![c],
                RawStatus::Many(v) => v,
            }),
            body_contains,
            json_path: match c.json_path {
                Some(p) => {
                    let compiled = self.json_path(&p, &format!("{at}.check.json_path"))?;
                    Some((p, compiled))
                }
                None => None,
            },
        })
    }

    fn json_path(&self, p: &str, at: &str) -> Result<JsonPath, ScenarioError> {
        JsonPath::parse(p).map_err(|e| self.err(at, format!("invalid JSON path `{p}`: {e}")))
    }
}

/// A cookie name is an RFC 6265 token: visible ASCII without separators.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("t.yml"), &|_| None)
    }

    /// A header that reads a variable a `set:` step filled from the environment is a secret
    /// too: a redirect to another origin must not carry it.
    #[test]
    fn a_header_reading_an_env_filled_variable_is_a_secret() {
        let env = |k: &str| (k == "API_KEY").then(|| "k-123".to_string());
        let text = "on_start:\n  - set: {raw: \"${env.API_KEY}\"}\n  - set: {key: \"x-${raw}\", page: \"1\"}\n  - set_headers: {X-Api-Key: \"${key}\", X-Page: \"${page}\"}\ntasks:\n  - request: {path: /, headers: {X-Again: \"${key}\"}}\n";
        let s = Scenario::parse(text, Path::new("t.yml"), &env).unwrap();
        let Step::SetHeaders(h) = &s.on_start[2] else {
            panic!("{:?}", s.on_start[2]);
        };
        let secret: Vec<(&str, bool)> =
            h.iter().map(|(n, t)| (n.as_str(), t.is_secret())).collect();
        assert_eq!(secret, [("X-Api-Key", true), ("X-Page", false)]);
        let Step::Request(r) = &s.tasks[0].steps[0] else {
            panic!();
        };
        assert!(r.headers[0].1.is_secret());
    }

    /// Secrets by meaning, not spelling: a `set:` value is a secret when the template reader
    /// says it reads the environment (any spacing in the braces), and an extracted value when
    /// the scenario says so or its name looks like a credential's; `secret: false` says not.
    #[test]
    fn secrets_are_marked_by_meaning_not_spelling() {
        let env = |k: &str| (k == "API_KEY").then(|| "k-123".to_string());
        let text = "on_start:\n  - request: {path: /login, extract: {tok: $.t, session_id: 'cookie:s', ref: {from: $.r, secret: true}, page: $.p, token2: {from: $.u, secret: false}}}\n  - set: {spaced: \"x-${ env.API_KEY }\", nested: {a: [\"${  env.API_KEY  }\"]}, literal: \"$${env.API_KEY}\"}\n  - set_headers: {A: \"${tok}\", B: \"${session_id}\", C: \"${ref}\", D: \"${page}\", E: \"${token2}\", F: \"${spaced}\", G: \"${nested}\", H: \"${literal}\"}\ntasks: [{request: {path: /}}]\n";
        let s = Scenario::parse(text, Path::new("t.yml"), &env).unwrap();
        let Step::SetHeaders(h) = &s.on_start[2] else {
            panic!("{:?}", s.on_start[2]);
        };
        let secret: Vec<(&str, bool)> =
            h.iter().map(|(n, t)| (n.as_str(), t.is_secret())).collect();
        assert_eq!(
            secret,
            [
                ("A", true),
                ("B", true),
                ("C", true),
                ("D", false),
                ("E", false),
                ("F", true),
                ("G", true),
                ("H", false)
            ]
        );
        let err = parse("tasks: [{request: {path: /, extract: {t: {from: $.t, secrets: true}}}}]")
            .map(|_| String::new())
            .unwrap_or_else(|e| crate::error::one_line(&e));
        assert!(
            err.contains("tasks[0].request.extract.t: unknown field `secrets`"),
            "{err}"
        );
    }

    /// A request name given with a query shows it without its credentials.
    #[test]
    fn a_given_name_keeps_its_query_less_its_credentials() {
        let s = parse(
            "tasks: [{request: {path: /s, name: 'GET /s?api_key=K3Y&page=1'}}, {request: {path: '/x;jsessionid=S1D'}}, {request: {path: /t, name: \"a\\e[2Jb\"}}]",
        )
        .unwrap();
        assert_eq!(
            s.endpoint_names(),
            [
                "GET /s?api_key=***&page=1",
                "GET /x;jsessionid=***",
                "a\\u{1b}[2Jb"
            ]
        );
    }

    /// A body that reads a secret is marked, so a `307` never carries it to another origin.
    #[test]
    fn a_body_reading_a_secret_is_marked() {
        let env = |k: &str| (k == "PW").then(|| "pw".to_string());
        let text = "on_start:\n  - request: {path: /login, extract: {tok: $.t}}\ntasks:\n  - steps:\n      - request: {method: POST, path: /a, json: {p: \"${ env.PW }\"}}\n      - request: {method: POST, path: /b, form: {t: \"${tok}\"}}\n      - request: {method: POST, path: /c, json: {n: 1}, body: null}\n";
        let s = Scenario::parse(text, Path::new("t.yml"), &env).unwrap();
        let marked: Vec<bool> = s.requests().iter().map(|r| r.secret_body).collect();
        assert_eq!(marked, [false, true, true, false]);
    }

    #[test]
    fn smallest_scenario_is_one_get() {
        let s = parse("tasks: [{request: {method: GET, path: /}}]").unwrap();
        assert_eq!(s.endpoint_names(), ["GET /"]);
        assert_eq!(s.wait, Wait::None);
        assert_eq!(s.cumulative_weights, [1]);
    }

    /// The load fingerprint tells an edited scenario from an unchanged one by its text.
    #[test]
    fn a_scenario_is_named_by_the_hash_of_its_text() {
        let a = parse("tasks: [{request: {method: GET, path: /}}]").unwrap();
        let same = parse("tasks: [{request: {method: GET, path: /}}]").unwrap();
        let edited = parse("tasks: [{request: {method: GET, path: /x}}]").unwrap();
        assert_eq!(a.source_sha256.len(), 64);
        assert_eq!(a.source_sha256, same.source_sha256);
        assert_ne!(a.source_sha256, edited.source_sha256);
    }

    /// `defaults.streams_per_user` is 1 unless written, and bounded: zero, a negative number,
    /// one past the cap and a huge one are each refused with the key named.
    #[test]
    fn streams_per_user_is_one_unless_written_and_bounded() {
        let s = parse("tasks: [{request: {path: /}}]").unwrap();
        assert_eq!(s.streams_per_user, 1);
        let s = parse("defaults: {streams_per_user: 10}\ntasks: [{request: {path: /}}]").unwrap();
        assert_eq!(s.streams_per_user, 10);
        let max = crate::defaults::MAX_STREAMS_PER_USER;
        for bad in ["0", "-1", &(max + 1).to_string(), "99999999999"] {
            let e = parse(&format!(
                "defaults: {{streams_per_user: {bad}}}\ntasks: [{{request: {{path: /}}}}]"
            ))
            .unwrap_err();
            let text = crate::chain::one_line(&e);
            assert!(text.contains("streams_per_user"), "{bad}: {text}");
            assert!(!text.contains('\n'), "{bad}: {text}");
        }
    }

    /// `defaults.http2` is one of three words, `never` unless written: an upgrade never turns
    /// a scenario's runs into HTTP/2 ones on its own.
    #[test]
    fn http2_defaults_to_never_and_takes_only_its_three_words() {
        use crate::modes::Http2Mode;
        let s = parse("tasks: [{request: {path: /}}]").unwrap();
        assert_eq!(s.http2, Http2Mode::Never);
        for (word, mode) in [
            ("auto", Http2Mode::Auto),
            ("always", Http2Mode::Always),
            ("never", Http2Mode::Never),
        ] {
            let s = parse(&format!(
                "defaults: {{http2: {word}}}\ntasks: [{{request: {{path: /}}}}]"
            ))
            .unwrap();
            assert_eq!(s.http2, mode);
        }
        let e = parse("defaults: {http2: yes}\ntasks: [{request: {path: /}}]").unwrap_err();
        let text = crate::chain::one_line(&e);
        assert!(text.contains("http2") && text.contains("never"), "{text}");
    }

    #[test]
    fn cookie_jar_caps_default_to_a_browsers_and_are_bounded() {
        let s = parse("tasks: [{request: {path: /}}]").unwrap();
        assert_eq!(
            (s.max_cookies, s.max_cookie_bytes),
            (
                crate::defaults::COOKIES_PER_USER,
                crate::defaults::COOKIE_JAR_BYTES
            )
        );
        let s =
            parse("defaults: {max_cookies: 10, max_cookies_kib: 2}\ntasks: [{request: {path: /}}]")
                .unwrap();
        assert_eq!((s.max_cookies, s.max_cookie_bytes), (10, 2048));
        for bad in [
            "max_cookies: 0",
            "max_cookies: 3001",
            "max_cookies_kib: 0",
            "max_cookies_kib: 1025",
        ] {
            let err = parse(&format!(
                "defaults: {{{bad}}}\ntasks: [{{request: {{path: /}}}}]"
            ))
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
            assert!(err.contains("must be 1 to"), "{bad}: {err}");
        }
    }

    /// A multipart file's cap is the scenario's to set, within bounds.
    #[test]
    fn the_upload_cap_is_set_by_the_scenario_and_bounded() {
        for bad in ["max_upload_mib: 0", "max_upload_mib: 1025"] {
            let err = parse(&format!(
                "defaults: {{{bad}}}\ntasks: [{{request: {{path: /}}}}]"
            ))
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
            assert!(err.contains("defaults.max_upload_mib: "), "{bad}: {err}");
            assert!(err.contains("must be 1 to 1024"), "{bad}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("two.bin");
        std::fs::File::create(&file)
            .unwrap()
            .set_len(2 << 20)
            .unwrap();
        let text = |cap: &str| {
            format!("defaults: {{{cap}}}\ntasks: [{{request: {{method: POST, path: /, multipart: {{f: {{file: two.bin}}}}}}}}]")
        };
        let path = dir.path().join("s.yml");
        let load = |cap: &str| Scenario::parse(&text(cap), &path, &|_| None);
        assert!(load("max_upload_mib: 2").is_ok());
        let err = load("max_upload_mib: 1").unwrap_err().to_string();
        assert!(err.contains("larger than 1 MiB"), "{err}");
    }

    #[test]
    fn unknown_field_error_has_line_and_column() {
        let err = parse("tasks:\n  - request:\n      methd: GET\n      path: /\n")
            .map(|_| String::new())
            .unwrap_or_else(|e| crate::error::one_line(&e));
        assert!(err.contains("unknown field `methd`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn yaml_syntax_error_has_line_and_column() {
        let err = parse("tasks: [\n  {request: {path: /}\n")
            .map(|_| String::new())
            .unwrap_or_else(|e| crate::error::one_line(&e));
        assert!(err.contains("line") && err.contains("column"), "{err}");
    }

    /// The audit's case: a header from a variable ending in a newline was sent empty, silently.
    /// Known at load (a literal or an environment variable), it is refused there, naming where
    /// and never showing the value.
    #[test]
    fn an_invalid_header_value_is_never_sent_empty() {
        let env = |k: &str| (k == "API_TOKEN").then(|| "canary-token\n".to_string());
        for at in [
            "defaults:\n  headers:",
            "tasks:\n  - request:\n      path: /\n      headers:",
        ] {
            let text = format!("{at} {{Authorization: \"Bearer ${{env.API_TOKEN}}\"}}\n");
            let text = if at.starts_with("defaults") {
                format!("{text}tasks: [{{request: {{path: /}}}}]\n")
            } else {
                text
            };
            let err = Scenario::parse(&text, Path::new("t.yml"), &env)
                .map(|_| String::new())
                .unwrap_or_else(|e| crate::error::one_line(&e));
            assert!(err.contains("headers.Authorization"), "{err}");
            assert!(err.contains("not a valid header value"), "{err}");
            assert!(!err.contains("canary-token"), "{err}");
        }
        let steps = "tasks:\n  - steps:\n      - set_headers: {X-A: \"${env.API_TOKEN}\"}\n      - request: {path: /}\n";
        let err = Scenario::parse(steps, Path::new("t.yml"), &env).unwrap_err();
        assert!(
            crate::error::one_line(&err).contains("set_headers.X-A"),
            "{err}"
        );
        // A value rendered per request is checked when it is rendered (a counted failure).
        let later = "tasks:\n  - request: {path: /, headers: {X-A: \"${v}\"}}\nvariables: {v: a}\n";
        assert!(Scenario::parse(later, Path::new("t.yml"), &env).is_ok());
    }

    /// `body_contains` renders `${env.X}` like every other field; a failure names it as
    /// written (`${env.X}`), never its value.
    #[test]
    fn body_contains_renders_environment_variables() {
        let env = |k: &str| (k == "NEEDLE").then(|| "expected-text".to_string());
        let s = Scenario::parse(
            "tasks: [{request: {path: /, check: {body_contains: \"<${env.NEEDLE}>\"}}}]\n",
            Path::new("t.yml"),
            &env,
        )
        .unwrap();
        let Step::Request(r) = &s.tasks[0].steps[0] else {
            panic!("a request");
        };
        let needle = r.check.body_contains.as_ref().unwrap();
        assert_eq!(needle.as_static(), Some("<expected-text>"));
        assert_eq!(needle.literal_prefix(), "<${env.NEEDLE}>");
    }

    /// A default endpoint name shows `${env.NAME}`, never the variable's value: a key in a path
    /// would otherwise reach every report and the merge-request comment.
    #[test]
    fn an_environment_value_never_reaches_an_endpoint_name() {
        let env = |k: &str| (k == "MY_API_KEY").then(|| "canary-secret-value".to_string());
        let s = Scenario::parse(
            "tasks: [{request: {path: '/api/${env.MY_API_KEY}/items/${env.NOPE:-x}?k=${id}'}}]\nvariables: {id: 1}\n",
            Path::new("t.yml"),
            &env,
        )
        .unwrap();
        assert_eq!(
            s.endpoint_names(),
            ["GET /api/${env.MY_API_KEY}/items/${env.NOPE}"]
        );
    }

    #[test]
    fn undefined_variable_is_named_with_its_place() {
        let err = parse("tasks: [{request: {path: '/x/${nope}'}}]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown variable `nope`") && err.contains("tasks[0].request.path"),
            "{err}"
        );
    }

    #[test]
    fn extracted_variables_and_shared_names_compile() {
        let s = parse(
            r#"
on_start:
  - request: {method: POST, path: /login, json: {u: a}, extract: {token: $.token}}
  - set_headers: {Authorization: "Bearer ${token}"}
tasks:
  - weight: 3
    request: {path: "/p/${random.int(1, 9)}", name: "GET /p/:id"}
  - steps:
      - request: {path: "/p/1", name: "GET /p/:id"}
      - sleep: {between: [0.1, 0.2]}
"#,
        )
        .unwrap();
        assert_eq!(s.endpoint_names(), ["POST /login", "GET /p/:id"]);
        assert_eq!(s.cumulative_weights, [3, 4]);
    }

    #[test]
    fn cookies_redirects_and_forms_compile() {
        let s = parse(
            r#"
on_start:
  - set_cookies: {consent: "yes"}
  - request:
      method: POST
      path: /login
      form: {username: u, password: "${pw}"}
      follow_redirects: false
      extract: {sid: "cookie:session", user: $.user}
variables: {pw: x}
tasks: [{request: {path: "/p?s=${sid}"}}]
"#,
        )
        .unwrap();
        assert!(s.cookies);
        let reqs = s.requests();
        assert!(matches!(&reqs[0].body, Body::Form(f) if f.len() == 2));
        assert!(!reqs[0].follow_redirects && reqs[1].follow_redirects);
        assert!(matches!(&reqs[0].extract[1], Extract::Json { var, .. } if var == "user"));
        assert!(
            matches!(&reqs[0].extract[0], Extract::Cookie { var, name } if var == "sid" && name == "session")
        );
    }

    #[test]
    fn cookie_steps_need_the_jar_and_bodies_are_exclusive() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        let off = "defaults: {cookies: false}\n";
        let e = err(&format!(
            "{off}tasks: [{{request: {{path: /, extract: {{a: 'cookie:s'}}}}}}]"
        ));
        assert!(
            e.contains("tasks[0].request.extract.a") && e.contains("cookies: false"),
            "{e}"
        );
        let e = err(&format!(
            "{off}tasks: [{{steps: [{{set_cookies: {{a: b}}}}]}}]"
        ));
        assert!(e.contains("tasks[0].steps[0].set_cookies"), "{e}");
        let e = err("tasks: [{steps: [{set_cookies: {'a b': c}}]}]");
        assert!(e.contains("`a b` is not a valid cookie name"), "{e}");
        let e = err("tasks: [{request: {path: /, body: x, form: {a: b}}}]");
        assert!(
            e.contains("one of `json`, `body`, `form` or `multipart`"),
            "{e}"
        );
        let s = parse(
            "defaults: {cookies: false, follow_redirects: false}\ntasks: [{request: {path: /}}]",
        )
        .unwrap();
        assert!(!s.cookies && !s.requests()[0].follow_redirects);
    }
}
