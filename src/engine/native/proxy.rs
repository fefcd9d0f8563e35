//! Going through a forward proxy: an `https` target is reached through a `CONNECT` tunnel (TLS
//! then runs end to end inside it), an `http` target by sending each request to the proxy in
//! absolute form (`GET http://host/path HTTP/1.1`). Everything is prepared once per run; without
//! a proxy none of it runs.

use std::{borrow::Cow, io};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{recorder::Reason, wire::io_reason as target_io_reason};
use crate::{engine::Target, proxy::Proxy};

/// What to do about a failing proxy, printed once with the first failure.
pub(super) const FIX: &str =
    "check HTTP_PROXY/HTTPS_PROXY and NO_PROXY, or pass --no-proxy to connect directly";

/// The most bytes a proxy's answer to `CONNECT` may take.
const MAX_CONNECT_ANSWER: usize = 16 * 1024;

/// How requests to the target go through the proxy.
pub(super) struct ViaProxy {
    /// `http://host:port`, without credentials, for the log.
    pub(super) name: String,
    route: Route,
}

enum Route {
    /// `https`: the `CONNECT` request that opens a tunnel on each new connection.
    Tunnel(Vec<u8>),
    /// `http`: what turns a request line's target into absolute form (`http://authority`),
    /// and the `Proxy-Authorization` header line to add, if any.
    Forward { origin: Vec<u8>, auth: Vec<u8> },
}

impl ViaProxy {
    pub(super) fn new(proxy: &Proxy, target: &Target) -> ViaProxy {
        let auth = proxy
            .authorization
            .as_ref()
            .map(|a| format!("proxy-authorization: {}\r\n", a.expose()).into_bytes())
            .unwrap_or_default();
        let route = if target.tls {
            let authority = match target.host.contains(':') {
                true => format!("[{}]:{}", target.host, target.port),
                false => format!("{}:{}", target.host, target.port),
            };
            let mut connect =
                format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n").into_bytes();
            connect.extend_from_slice(&auth);
            connect.extend_from_slice(b"\r\n");
            Route::Tunnel(connect)
        } else {
            Route::Forward {
                origin: format!("http://{}", target.authority).into_bytes(),
                auth,
            }
        };
        ViaProxy {
            name: proxy.display(),
            route,
        }
    }

    /// Opens the tunnel on a fresh connection to the proxy (nothing to do for `http`).
    pub(super) async fn tunnel(&self, stream: &mut TcpStream) -> Result<(), Reason> {
        let Route::Tunnel(connect) = &self.route else {
            return Ok(());
        };
        stream.write_all(connect).await.map_err(|e| io_reason(&e))?;
        let mut answer = Vec::with_capacity(512);
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                return connect_status(&answer[..end + 4]);
            }
            if answer.len() > MAX_CONNECT_ANSWER {
                return Err(Cow::Borrowed("proxy: malformed answer to CONNECT"));
            }
            let n = stream
                .read_buf(&mut answer)
                .await
                .map_err(|e| io_reason(&e))?;
            if n == 0 {
                return Err(Cow::Borrowed("proxy: closed the connection on CONNECT"));
            }
        }
    }

    /// The request in absolute form, with the proxy's credentials, for a forward proxy.
    pub(super) fn forward_form<'r>(&self, request: &'r [u8]) -> Cow<'r, [u8]> {
        let Route::Forward { origin, auth } = &self.route else {
            return Cow::Borrowed(request);
        };
        let (Some(space), Some(line_end)) = (
            request.iter().position(|&b| b == b' '),
            request.windows(2).position(|w| w == b"\r\n"),
        ) else {
            return Cow::Borrowed(request);
        };
        let mut out = Vec::with_capacity(request.len() + origin.len() + auth.len());
        out.extend_from_slice(&request[..=space]);
        out.extend_from_slice(origin);
        out.extend_from_slice(&request[space + 1..line_end + 2]);
        out.extend_from_slice(auth);
        out.extend_from_slice(&request[line_end + 2..]);
        Cow::Owned(out)
    }
}

/// `proxy refused CONNECT: HTTP 403` unless the status is 2xx.
fn connect_status(head: &[u8]) -> Result<(), Reason> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => match resp.code {
            Some(200..=299) => Ok(()),
            Some(code) => Err(Cow::Owned(format!("proxy refused CONNECT: HTTP {code}"))),
            None => Err(Cow::Borrowed("proxy: malformed answer to CONNECT")),
        },
        _ => Err(Cow::Borrowed("proxy: malformed answer to CONNECT")),
    }
}

/// A connection error on the way to the proxy, named as the proxy's.
pub(super) fn io_reason(e: &io::Error) -> Reason {
    Cow::Owned(format!("proxy: {}", target_io_reason(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn target(url: &str) -> Target {
        Target::from_url(&url::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn requests_to_a_forward_proxy_are_in_absolute_form_with_credentials() {
        let proxy = Proxy {
            host: "p".into(),
            port: 3128,
            authorization: Some(Secret::new("Basic dTpw".into())),
        };
        let via = ViaProxy::new(&proxy, &target("http://api.test:8080/base"));
        let sent = via.forward_form(b"GET /base/x?q=1 HTTP/1.1\r\nhost: api.test:8080\r\n\r\n");
        assert_eq!(
            std::str::from_utf8(&sent).unwrap(),
            "GET http://api.test:8080/base/x?q=1 HTTP/1.1\r\nproxy-authorization: Basic dTpw\r\nhost: api.test:8080\r\n\r\n"
        );
        assert_eq!(via.name, "http://p:3128");
    }

    #[test]
    fn a_refused_connect_names_the_status() {
        assert_eq!(
            connect_status(b"HTTP/1.1 403 Forbidden\r\n\r\n").unwrap_err(),
            "proxy refused CONNECT: HTTP 403"
        );
        assert!(connect_status(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
    }
}
