//! Following redirects the way `requests` (Locust) and k6 do: up to ten hops, `301`/`302`/`303`
//! turn a `POST` into a body-less `GET` (`303` any method but `HEAD`), `307`/`308` keep the
//! method and the body, and no credential is carried to another origin (see
//! [`strip_headers`]). The engine records the whole chain as one request, under the first
//! request's name.

use std::{borrow::Cow, cell::RefCell, collections::HashMap, rc::Rc};

use ::http::{header, HeaderName, HeaderValue, Method};
use url::{Position, Url};

use super::{
    http::{Connector, Limits},
    recorder::Reason,
};
use crate::{engine::Target, modes::Http2Mode};

/// The most redirects followed for one request: what `requests` allows by default is 30, k6 and
/// browsers' fetch allow 10 and 20; 10 is the choice and k6's.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// The failure reason of a chain longer than [`MAX_REDIRECTS`].
pub(crate) const TOO_MANY: &str = "too many redirects (10)";

/// The failure reason of a `307`/`308` that would carry a body holding a secret (a value from
/// `${env.NAME}`, a secret variable) to another origin: the hop is not made, since dropping
/// the body would send another request than the one the redirect asks for.
pub(crate) const SECRET_BODY: &str =
    "redirect not followed: it would carry a body holding a secret to another origin";

/// The statuses that redirect; `300` and `304` do not.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where the next request of a chain goes, and how.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) url: Url,
    pub(crate) method: Method,
    /// `307`/`308`: the body (and its content type) go along; otherwise both are dropped.
    pub(crate) keep_body: bool,
}

/// The hop a redirect response asks for. A `Location` that does not resolve, or that leaves
/// http(s), is a counted failure: the chain cannot go on, and the server's answer was not the
/// page the request wanted.
pub(crate) fn next_hop(
    from: &Url,
    method: &Method,
    status: u16,
    location: &str,
) -> Result<Hop, Reason> {
    let url = from
        .join(location)
        .map_err(|_| Cow::Borrowed("redirect to an invalid Location"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Cow::Owned(format!(
            "redirect to an unsupported scheme ({})",
            url.scheme()
        )));
    }
    let to_get = match status {
        303 => *method != Method::HEAD,
        301 | 302 => *method == Method::POST,
        _ => false,
    };
    Ok(Hop {
        url,
        method: if to_get { Method::GET } else { method.clone() },
        keep_body: !to_get,
    })
}

/// Scheme, host and port agree (RFC 6454): only then may credentials follow a redirect.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The `Host` header for `url`: the host, plus the port when it is not the scheme's default.
pub(crate) fn authority(url: &Url) -> Option<HeaderValue> {
    let host = url.host_str()?;
    let text = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    HeaderValue::from_str(&text).ok()
}

/// The request target (path and query) of `url`.
pub(crate) fn target(url: &Url) -> &str {
    &url[Position::BeforePath..Position::AfterQuery]
}

/// Drops what must not follow the hop: every credential (see [`is_credential`]) once the chain
/// has left the first request's origin, and the body's headers when the body is dropped. The
/// jar's own cookies are added afterwards, by the cookie rules for the new URL.
pub(crate) fn strip_headers(
    headers: &mut Vec<(HeaderName, HeaderValue)>,
    drop_credentials: bool,
    keep_body: bool,
) {
    headers.retain(|(name, value)| {
        !(drop_credentials && is_credential(name, value)
            || !keep_body && (*name == header::CONTENT_TYPE || *name == header::CONTENT_ENCODING))
    });
}

/// A header that another origin must not see: `Authorization`, `Cookie` (the scenario's own;
/// Go's client, and so k6, drops both across domains, `requests` drops `Cookie` on every hop),
/// `Proxy-Authorization`, any header whose name looks like a credential's (`X-Api-Key`,
/// `X-Session-Token`: [`crate::secret::looks_like_credential`]), and any value marked
/// sensitive, which the engine does for every secret of the scenario (a value from
/// `${env.NAME}`, or one that reads a secret variable: an extracted token, say).
fn is_credential(name: &HeaderName, value: &HeaderValue) -> bool {
    value.is_sensitive()
        || *name == header::AUTHORIZATION
        || *name == header::COOKIE
        || *name == header::PROXY_AUTHORIZATION
        || crate::secret::looks_like_credential(name.as_str())
}

/// The most other origins a worker keeps connectors for; past it, a connector is made per hop
/// (a scenario that redirects to ever new hosts is not a load test of one target).
const MAX_ORIGINS: usize = 32;

/// One worker's connectors to origins other than the target, made on a redirect's first visit
/// (DNS is resolved then, once per origin and worker) and kept for the run.
pub(crate) struct Origins {
    limits: Limits,
    /// The target's TLS options and proxy, which every other origin is reached with too.
    network: Target,
    connectors: RefCell<HashMap<String, Rc<Connector>>>,
}

impl Origins {
    pub(crate) fn new(limits: Limits, target: &Target) -> Origins {
        Origins {
            limits,
            network: target.clone(),
            connectors: RefCell::new(HashMap::new()),
        }
    }

    /// The connector for `url`'s origin, keyed by its serialisation.
    pub(crate) fn connector(&self, key: &str, url: &Url) -> Result<Rc<Connector>, Reason> {
        if let Some(c) = self.connectors.borrow().get(key) {
            return Ok(c.clone());
        }
        let made = Rc::new(new_connector(url, &self.network, self.limits)?);
        let mut map = self.connectors.borrow_mut();
        if map.len() < MAX_ORIGINS {
            map.insert(key.to_string(), made.clone());
        }
        Ok(made)
    }
}

/// How another origin is spoken to: `http2: always` is about the target, so another origin a
/// redirect leads to is offered h2 (`auto`) and answered in what it picks, HTTP/1.1 included;
/// `never` stays HTTP/1.1 everywhere.
fn other_origin(http2: Http2Mode) -> Http2Mode {
    match http2 {
        Http2Mode::Never => Http2Mode::Never,
        Http2Mode::Auto | Http2Mode::Always => Http2Mode::Auto,
    }
}

/// The one place a connector to another origin is made: with the target's trust, client
/// identity and proxy (the proxy chosen for the target's host, not re-chosen per origin).
fn new_connector(url: &Url, network: &Target, limits: Limits) -> Result<Connector, Reason> {
    let target = Target::from_url(url)
        .map_err(Cow::Owned)?
        .with_network(network.tls_options.clone(), network.proxy.clone())
        .with_http2(other_origin(network.http2));
    Connector::new(&target, limits).map_err(|e| Cow::Owned(crate::chain::one_line(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn post_becomes_get_on_301_302_303_and_stays_on_307_308() {
        let from = u("http://a.test/login");
        for (status, method, keep) in [
            (301, Method::GET, false),
            (302, Method::GET, false),
            (303, Method::GET, false),
            (307, Method::POST, true),
            (308, Method::POST, true),
        ] {
            let hop = next_hop(&from, &Method::POST, status, "/next").unwrap();
            assert_eq!((hop.method, hop.keep_body), (method, keep), "{status}");
        }
        let put = next_hop(&from, &Method::PUT, 302, "/next").unwrap();
        assert_eq!(put.method, Method::PUT, "302 changes only POST");
        let head = next_hop(&from, &Method::HEAD, 303, "/next").unwrap();
        assert_eq!(head.method, Method::HEAD);
    }

    #[test]
    fn relative_and_absolute_locations_resolve() {
        let from = u("http://a.test/app/login?x=1");
        assert_eq!(
            next_hop(&from, &Method::GET, 302, "home")
                .unwrap()
                .url
                .as_str(),
            "http://a.test/app/home"
        );
        assert_eq!(
            next_hop(&from, &Method::GET, 302, "//b.test:81/x")
                .unwrap()
                .url
                .as_str(),
            "http://b.test:81/x"
        );
        let abs = next_hop(&from, &Method::GET, 302, "https://c.test/y?z=1").unwrap();
        assert_eq!(target(&abs.url), "/y?z=1");
        assert_eq!(authority(&abs.url).unwrap(), "c.test");
    }

    #[test]
    fn other_schemes_and_garbage_are_reasons() {
        let from = u("http://a.test/");
        assert_eq!(
            next_hop(&from, &Method::GET, 302, "ftp://a.test/f").unwrap_err(),
            "redirect to an unsupported scheme (ftp)"
        );
        assert_eq!(
            next_hop(&from, &Method::GET, 302, "http://[::1").unwrap_err(),
            "redirect to an invalid Location"
        );
    }

    #[test]
    fn origins_differ_by_scheme_host_or_port() {
        let a = u("http://a.test/x");
        assert!(same_origin(&a, &u("http://a.test:80/y")));
        assert!(!same_origin(&a, &u("https://a.test/x")));
        assert!(!same_origin(&a, &u("http://a.test:81/x")));
        assert!(!same_origin(&a, &u("http://b.test/x")));
    }

    #[test]
    fn credentials_cookies_and_sensitive_values_are_stripped_across_origins() {
        let mut secret = HeaderValue::from_static("k");
        secret.set_sensitive(true);
        let mut headers = vec![
            (header::COOKIE, HeaderValue::from_static("sid=1")),
            (
                header::PROXY_AUTHORIZATION,
                HeaderValue::from_static("Basic x"),
            ),
            (HeaderName::from_static("x-request"), secret),
            (
                HeaderName::from_static("x-session-token"),
                HeaderValue::from_static("t"),
            ),
            (header::ACCEPT, HeaderValue::from_static("*/*")),
        ];
        strip_headers(&mut headers, false, true);
        assert_eq!(headers.len(), 5, "the same origin keeps them");
        strip_headers(&mut headers, true, true);
        assert_eq!(headers, [(header::ACCEPT, HeaderValue::from_static("*/*"))]);
    }

    #[test]
    fn authorization_and_body_headers_are_stripped_when_asked() {
        let mut headers = vec![
            (header::AUTHORIZATION, HeaderValue::from_static("Bearer t")),
            (header::CONTENT_TYPE, HeaderValue::from_static("text/plain")),
            (header::ACCEPT, HeaderValue::from_static("*/*")),
        ];
        strip_headers(&mut headers, false, true);
        assert_eq!(headers.len(), 3);
        strip_headers(&mut headers, true, false);
        assert_eq!(headers, [(header::ACCEPT, HeaderValue::from_static("*/*"))]);
    }
}
