//! One request per starter path against the host, before anything is written, so a path that
//! answers 404 or 500 is flagged while the user is still at the terminal, not found by the
//! first pipeline. Only `GET` and `HEAD` are sent: a `POST` to a real system could change
//! its data. The client is the API clients' (reqwest over the bundled roots, `SSL_CERT_FILE`
//! and the proxy variables), with a short timeout: this is a look, not a measurement.

use std::time::Duration;

use url::Url;

use super::Request;
use crate::tls::ClientNet;

/// A path that does not answer within this long is reported as not answering.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What one path answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// An HTTP status, and where a redirect chain ended when it left the path.
    Status {
        code: u16,
        redirected_to: Option<String>,
    },
    /// No HTTP answer: the request failed (refused, timed out, TLS), with why.
    Failed(String),
    /// Not sent: a method that may change data.
    NotSent,
}

impl Answer {
    /// Whether every request of the scenario to this path would fail: the native engine
    /// counts a status of 400 or more, and no answer at all, as a failure.
    pub(crate) fn flagged(&self) -> bool {
        match self {
            Answer::Status { code, .. } => *code >= 400,
            Answer::Failed(_) => true,
            Answer::NotSent => false,
        }
    }

    /// The answer in a few words, with the fix when it is flagged.
    pub(crate) fn words(&self) -> String {
        match self {
            Answer::Status {
                code,
                redirected_to,
            } => {
                let reason = http::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let via = redirected_to
                    .as_ref()
                    .map(|to| format!(" (after a redirect to {to})"))
                    .unwrap_or_default();
                let head = if reason.is_empty() {
                    code.to_string()
                } else {
                    format!("{code} {reason}")
                };
                let fix = match code {
                    401 | 403 => {
                        ": it needs a login; add one as the scenario format shows (on_start)"
                    }
                    404 => ": not found; fix the path or remove it",
                    c if *c >= 500 => ": a server error; every request to it would fail the gate",
                    c if *c >= 400 => ": every request to it would fail the gate",
                    _ => "",
                };
                format!("{head}{via}{fix}")
            }
            Answer::Failed(why) => format!("no answer: {why}"),
            Answer::NotSent => {
                "not checked: init sends only GET and HEAD, which change nothing".to_string()
            }
        }
    }
}

/// What the host said to the starter paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Look {
    /// One answer per request, in order.
    Answers(Vec<Answer>),
    /// The first request got no answer at all (refused, unknown name, timed out): said once,
    /// and no other path was tried.
    Unreachable(String),
    /// Nothing was sent: the host holds a CI variable, or the client could not be set up.
    NotChecked(String),
}

/// Sends one request per path to `host`, one after the other.
pub(crate) fn check(host: &Url, requests: &[Request], net: &ClientNet) -> Look {
    let client = match client(net) {
        Ok(client) => client,
        Err(why) => return Look::NotChecked(why),
    };
    let mut answers = Vec::with_capacity(requests.len());
    for r in requests {
        let Some(method) = safe(&r.method) else {
            answers.push(Answer::NotSent);
            continue;
        };
        let url = match join(host, &r.path) {
            Ok(url) => url,
            Err(why) => {
                answers.push(Answer::Failed(why));
                continue;
            }
        };
        match client.request(method, url.clone()).send() {
            Ok(resp) => answers.push(Answer::Status {
                code: resp.status().as_u16(),
                redirected_to: (resp.url() != &url).then(|| shown(&url, resp.url())),
            }),
            Err(e) => {
                let why = innermost(&e);
                let answered = answers.iter().any(|a| matches!(a, Answer::Status { .. }));
                if !answered && (e.is_connect() || e.is_timeout()) {
                    return Look::Unreachable(why);
                }
                answers.push(Answer::Failed(why));
            }
        }
    }
    Look::Answers(answers)
}

fn client(net: &ClientNet) -> Result<reqwest::blocking::Client, String> {
    let builder = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(crate::defaults::USER_AGENT);
    net.apply(builder)
        .map_err(|e| crate::chain::one_line(&e))?
        .build()
        .map_err(|e| format!("the HTTP client could not be set up: {}", innermost(&e)))
}

/// The methods that change nothing on the server; the others are not sent.
fn safe(method: &str) -> Option<reqwest::Method> {
    match method {
        "GET" => Some(reqwest::Method::GET),
        "HEAD" => Some(reqwest::Method::HEAD),
        _ => None,
    }
}

/// `host`'s path prefix, then `path`, as the native engine joins them (`http://h/app` and
/// `/api` make `http://h/app/api`).
pub(crate) fn join(host: &Url, path: &str) -> Result<Url, String> {
    let base = host.path().trim_end_matches('/');
    let origin = host.origin().ascii_serialization();
    Url::parse(&format!("{origin}{base}{path}")).map_err(|e| format!("not a valid URL path ({e})"))
}

/// A redirect's end as the user would write it: the path, with the origin when it changed.
fn shown(from: &Url, url: &Url) -> String {
    if url.origin() != from.origin() {
        return crate::secret::redact_userinfo(url.as_str());
    }
    let mut s = url.path().to_string();
    if let Some(q) = url.query() {
        s.push('?');
        s.push_str(q);
    }
    s
}

/// The deepest cause of a failed request (`Connection refused (os error 111)`), which says
/// more than reqwest's own "error sending request".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    crate::secret::redact_userinfo(&last.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_host_as_the_engine_joins_them() {
        let host = Url::parse("https://h.example/app/").unwrap();
        assert_eq!(
            join(&host, "/api?q=a b").unwrap().as_str(),
            "https://h.example/app/api?q=a%20b"
        );
        let bare = Url::parse("http://h.example:8080").unwrap();
        assert_eq!(join(&bare, "/").unwrap().as_str(), "http://h.example:8080/");
    }

    #[test]
    fn a_failure_status_is_flagged_with_its_fix() {
        let status = |code| Answer::Status {
            code,
            redirected_to: None,
        };
        assert!(!status(200).flagged() && !status(302).flagged());
        assert!(status(404).flagged() && status(503).flagged() && status(401).flagged());
        assert!(status(404).words().starts_with("404 Not Found: not found"));
        assert!(status(401).words().contains("login"));
        assert!(!Answer::NotSent.flagged());
        assert_eq!(status(200).words(), "200 OK");
    }
}
