//! The transport under the API calls ([`super::call`]): it adds what a CI job needs around them:
//! the right auth header, bounded retries ([`crate::retry`]: 429 and 5xx honouring
//! `Retry-After`, connection errors, within a time budget), timeouts, and redirects that never
//! carry a token to another host (artifact downloads redirect to object storage).

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::call::Call;

use crate::{
    defaults::USER_AGENT,
    retry::{self, Attempt, GiveUp, Policy},
    secret::Secret,
    tls::{ClientNet, TlsError},
};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed for one request (an artifact download redirects once, to storage).
const MAX_REDIRECTS: usize = 5;

/// Which header carries the credential.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// A project or personal access token with `api` scope: `PRIVATE-TOKEN`.
    Private(Secret),
    /// `CI_JOB_TOKEN`: reads artifacts, lists pipelines and their jobs only where GitLab lets
    /// it (recent releases: `baseline::lister`), never writes notes.
    Job(Secret),
}

impl Auth {
    /// The header, marked sensitive so it is never logged.
    fn header(&self) -> Result<(&'static str, http::HeaderValue), TransportError> {
        let (name, secret) = match self {
            Auth::Private(s) => ("PRIVATE-TOKEN", s),
            Auth::Job(s) => ("JOB-TOKEN", s),
        };
        // The parse error is dropped on purpose: nothing of the token may reach a message.
        let mut value = http::HeaderValue::from_str(secret.expose())
            .map_err(|_| TransportError::InvalidToken)?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

/// Why a request got no answer from GitLab. No variant carries the token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// A URL that does not parse: the API URL, an endpoint's, or a redirect's `Location`.
    #[error("invalid URL")]
    Url(#[from] url::ParseError),
    /// The HTTP client could not be set up.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// An extra CA file (`CI_SERVER_TLS_CA_FILE`, `SSL_CERT_FILE`) could not be used.
    #[error("cannot use the CA file of {variable}")]
    CaFile {
        /// The variable that names the file.
        variable: &'static str,
        /// Why the file could not be used.
        #[source]
        source: TlsError,
    },
    /// The token is not a valid header value.
    #[error("the token is not a valid header value")]
    InvalidToken,
    /// No answer: the connection failed, timed out or broke (`kind` says which).
    #[error("{kind}: {target}")]
    Send {
        /// "could not connect", "timed out" or "failed".
        kind: &'static str,
        /// The origin and path asked for (no query, no token).
        target: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// The TLS handshake with GitLab failed (`reason` names why, e.g. an unknown authority).
    #[error("{reason}: {target}; for a private CA, point CI_SERVER_TLS_CA_FILE or SSL_CERT_FILE at its PEM file")]
    Tls {
        /// The category, as the native engine counts it.
        reason: &'static str,
        /// The origin and path asked for (no query, no token).
        target: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// A redirect whose `Location` is not text.
    #[error("a redirect has an unreadable Location header")]
    Location(#[source] http::header::ToStrError),
    /// The answer's head could not be passed on.
    #[error("cannot pass on the answer")]
    Response(#[source] http::Error),
    /// GitLab asked (`Retry-After`) for a wait longer than the retry budget allows.
    #[error("GitLab asked for a longer wait before a retry than the retry budget allows")]
    RetryAfterTooLong,
    /// The answer's body broke off.
    #[error("the answer could not be read")]
    Read(#[source] std::io::Error),
    /// GitLab (or whatever answers in its place) sent more than this side reads.
    #[error("the answer is larger than {} MiB", cap >> 20)]
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// Redirected more than [`MAX_REDIRECTS`] times.
    #[error("too many redirects")]
    TooManyRedirects,
}

impl TransportError {
    fn send(e: reqwest::Error) -> TransportError {
        let target = e
            .url()
            .map(|u| format!("{}{}", u.origin().ascii_serialization(), u.path()))
            .unwrap_or_default();
        if let Some(failure) = crate::tls::failure_in(&e) {
            return TransportError::Tls {
                reason: failure.reason,
                target,
                source: e.without_url(),
            };
        }
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        TransportError::Send {
            kind,
            target,
            source: e.without_url(),
        }
    }

    /// A failure another try may not meet: a connection that failed, broke or timed out.
    fn is_transient(&self) -> bool {
        matches!(self, TransportError::Send { source, .. } if retry::is_transient_error(source))
    }

    /// A request that never reached GitLab: the connection could not be made.
    fn is_unsent(&self) -> bool {
        matches!(self, TransportError::Send { source, .. } if source.is_connect())
    }

    /// A failure after which GitLab may or may not have acted on the request: the answer did
    /// not come, or not whole (a timeout, a broken connection, a body cut off or too large),
    /// though the request may have arrived.
    pub(crate) fn is_uncertain(&self) -> bool {
        let unread = matches!(
            self,
            TransportError::Read(_) | TransportError::TooLarge { .. }
        );
        unread || (self.is_transient() && !self.is_unsent())
    }
}

/// The GitLab REST client.
pub(crate) struct ApiClient {
    base: Url,
    auth: Auth,
    http: reqwest::blocking::Client,
    retry: Policy,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .finish()
    }
}

/// One request, ready to send.
struct Request<'a> {
    method: &'a http::Method,
    url: Url,
    /// A form body, if any.
    body: Option<&'a [u8]>,
}

/// GitLab's answer, whatever its status, or why none came.
pub(crate) type Answer = Result<http::Response<Bytes>, TransportError>;

impl ApiClient {
    /// `api_url` is `CI_API_V4_URL` (e.g. `https://gitlab.example.com/api/v4`); `net` adds
    /// the instance's CA (`CI_SERVER_TLS_CA_FILE`) to the system's roots and may turn proxies
    /// off.
    pub(crate) fn new(
        api_url: &str,
        auth: Auth,
        retry: Policy,
        net: &ClientNet,
    ) -> Result<ApiClient, TransportError> {
        let mut base = Url::parse(api_url)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let builder = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        let http = net
            .apply(builder)
            .map_err(|source| TransportError::CaFile {
                variable: source_variable(net, &source),
                source,
            })?
            .build()
            .map_err(TransportError::Client)?;
        Ok(ApiClient {
            base,
            auth,
            http,
            retry,
        })
    }

    /// Sends `call`, tried again as the retry policy allows; the answer whatever its status.
    pub(crate) fn call(&self, call: &Call) -> Answer {
        let mut url = self.base.join(&call.path)?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let body = call.body();
        self.send(&Request {
            method: &call.method,
            url,
            body: body.as_deref(),
        })
    }

    /// The request, tried again as the retry policy allows.
    fn send(&self, req: &Request<'_>) -> Answer {
        let sleep = |wait| {
            std::thread::sleep(wait);
            true
        };
        let outcome = retry::call(&self.retry, sleep, || self.attempt(req));
        match outcome.gave_up {
            Some(GiveUp::RetryAfter(_)) => Err(TransportError::RetryAfterTooLong),
            _ => outcome.value,
        }
    }

    /// One try, and whether another may fare better. A `POST` is tried again only when GitLab
    /// surely did not act on it: a 429 (the rate limiter answers before any endpoint runs) or
    /// a connection that was never made. After a 5xx or a timeout the note may be saved
    /// already, so the caller, who can look, decides (see `upsert_note`).
    fn attempt(&self, req: &Request<'_>) -> Attempt<Answer> {
        let answer = self.follow(req).and_then(into_http);
        let repeatable = *req.method != http::Method::POST;
        let again = match &answer {
            Ok(r)
                if r.status().as_u16() == 429
                    || (repeatable && retry::is_transient_status(r.status().as_u16())) =>
            {
                Some(retry::retry_after(r.headers(), &self.retry))
            }
            Err(e) if e.is_unsent() || (repeatable && e.is_transient()) => Some(None),
            _ => None,
        };
        match again {
            Some(retry_after) => Attempt::Again {
                last: answer,
                retry_after,
            },
            None => Attempt::Done(answer),
        }
    }

    /// Sends the request, following redirects; the token goes only to the GitLab host itself,
    /// never along a redirect elsewhere.
    fn follow(&self, req: &Request<'_>) -> Result<reqwest::blocking::Response, TransportError> {
        let origin = req.url.origin();
        let mut url = req.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut r = self.http.request(req.method.clone(), url.clone());
            if let Some(body) = req.body {
                r = r
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body.to_vec());
            }
            if url.origin() == origin {
                let (name, value) = self.auth.header()?;
                r = r.header(name, value);
            }
            let resp = r.send().map_err(TransportError::send)?;
            let location = match resp.headers().get(http::header::LOCATION) {
                Some(loc) if resp.status().is_redirection() => loc,
                _ => return Ok(resp),
            };
            url = url.join(location.to_str().map_err(TransportError::Location)?)?;
        }
        Err(TransportError::TooManyRedirects)
    }
}

/// Which variable named the file a [`TlsError`] is about.
fn source_variable(net: &ClientNet, e: &TlsError) -> &'static str {
    let path = match e {
        TlsError::Read { path, .. }
        | TlsError::Pem { path, .. }
        | TlsError::NoCertificate { path }
        | TlsError::NoKey { path }
        | TlsError::Client { path, .. } => Some(path),
        TlsError::Config(_) => None,
    };
    net.ca_files
        .iter()
        .find(|(_, p)| Some(p) == path)
        .map_or("a CA variable", |(v, _)| v)
}

/// The answer, its body read up to the cap.
fn into_http(resp: reqwest::blocking::Response) -> Answer {
    let mut builder = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let cap = crate::defaults::MAX_API_ANSWER_BYTES;
    let bytes = crate::capped::read_capped(resp, cap)
        .map_err(TransportError::Read)?
        .ok_or(TransportError::TooLarge { cap })?;
    builder
        .body(bytes::Bytes::from(bytes))
        .map_err(TransportError::Response)
}
