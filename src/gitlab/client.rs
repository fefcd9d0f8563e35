//! The transport under the `gitlab` crate's endpoint builders: the crate builds paths, query
//! parameters, form bodies and pagination; this client adds what a CI job needs around them:
//! the right auth header, bounded retries (429 honouring `Retry-After`, 5xx with backoff,
//! network errors), timeouts, and redirects that never carry a token to another host (artifact
//! downloads redirect to object storage).

use std::time::Duration;

use bytes::Bytes;
use gitlab::api::{ApiError, Client, RestClient};
use url::Url;

use crate::secret::Secret;

/// Which header carries the credential.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A project or personal access token with `api` scope: `PRIVATE-TOKEN`.
    Private(Secret),
    /// `CI_JOB_TOKEN`: can read artifacts, cannot list pipelines or write notes.
    Job(Secret),
}

impl Auth {
    fn header(&self) -> (&'static str, &str) {
        match self {
            Auth::Private(s) => ("PRIVATE-TOKEN", s.expose()),
            Auth::Job(s) => ("JOB-TOKEN", s.expose()),
        }
    }

    pub fn is_job_token(&self) -> bool {
        matches!(self, Auth::Job(_))
    }
}

/// Retry policy; the defaults suit a CI job (a few seconds at most, never minutes).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub first_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails instead.
    pub max_retry_after: Duration,
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            first_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("request failed: {0}")]
    Http(String),
    #[error("rate limited: GitLab asked to wait {0}s, longer than we wait")]
    RateLimitedTooLong(u64),
    #[error("too many redirects")]
    TooManyRedirects,
}

pub struct ApiClient {
    base: Url,
    auth: Auth,
    http: reqwest::blocking::Client,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("auth", &self.auth)
            .finish()
    }
}

impl ApiClient {
    /// `api_url` is `CI_API_V4_URL` (e.g. `https://gitlab.example.com/api/v4`).
    pub fn new(api_url: &str, auth: Auth, retry: RetryPolicy) -> Result<ApiClient, TransportError> {
        let mut base = Url::parse(api_url)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(retry.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("loadforge-gate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Http(e.to_string()))?;
        Ok(ApiClient {
            base,
            auth,
            http,
            retry,
        })
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry.first_backoff * 2u32.saturating_pow(attempt)
    }

    fn send(
        &self,
        method: &http::Method,
        url: Url,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<http::Response<Bytes>, TransportError> {
        let origin = url.origin();
        let mut url = url;
        let mut redirects = 0;
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body.to_vec());
            // The token goes only to the GitLab host itself, never along a redirect elsewhere.
            if url.origin() == origin {
                let (name, value) = self.auth.header();
                let mut v = http::HeaderValue::from_str(value).map_err(|_| {
                    TransportError::Http("the token is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                req = req.header(name, v);
            }
            let resp = match req.send() {
                Ok(r) => r,
                Err(e) if attempt < self.retry.max_retries => {
                    let _ = e;
                    std::thread::sleep(self.backoff(attempt));
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(TransportError::Http(strip_url(&e))),
            };
            let status = resp.status();
            if status.is_redirection() {
                if let Some(loc) = resp.headers().get(http::header::LOCATION) {
                    redirects += 1;
                    if redirects > 5 {
                        return Err(TransportError::TooManyRedirects);
                    }
                    let loc = loc
                        .to_str()
                        .map_err(|e| TransportError::Http(e.to_string()))?;
                    url = url.join(loc)?;
                    continue;
                }
            }
            if status == http::StatusCode::TOO_MANY_REQUESTS && attempt < self.retry.max_retries {
                let wait = resp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or_else(|| self.backoff(attempt));
                if wait > self.retry.max_retry_after {
                    return Err(TransportError::RateLimitedTooLong(wait.as_secs()));
                }
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            if status.is_server_error() && attempt < self.retry.max_retries {
                std::thread::sleep(self.backoff(attempt));
                attempt += 1;
                continue;
            }
            let mut builder = http::Response::builder().status(status);
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            let bytes = resp
                .bytes()
                .map_err(|e| TransportError::Http(strip_url(&e)))?;
            return builder
                .body(bytes)
                .map_err(|e| TransportError::Http(e.to_string()));
        }
    }
}

/// reqwest errors name the URL; ours never carry a token in the URL, but keep messages short.
fn strip_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    match e.url() {
        Some(u) => format!("{kind}: {}{}", u.origin().ascii_serialization(), u.path()),
        None => kind.to_string(),
    }
}

impl RestClient for ApiClient {
    type Error = TransportError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<Self::Error>> {
        self.base
            .join(endpoint)
            .map_err(|e| ApiError::client(TransportError::Url(e)))
    }
}

impl Client for ApiClient {
    fn rest(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Self::Error>> {
        let req = request
            .body(())
            .map_err(|e| ApiError::client(TransportError::Http(e.to_string())))?;
        let url = Url::parse(&req.uri().to_string())
            .map_err(|e| ApiError::client(TransportError::Url(e)))?;
        self.send(req.method(), url, req.headers(), &body)
            .map_err(ApiError::client)
    }
}
