//! One HTTP/1.1 connection per virtual user, kept alive across requests, as a browser session or
//! Locust's `HttpUser` would. Hyper's low-level connection API is used directly: no pool, no
//! shared state between users, nothing on the request path but the socket.

use std::{borrow::Cow, io, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1::SendRequest, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::{rustls, TlsConnector};

use super::recorder::Reason;
use crate::engine::Target;

pub type Sender = SendRequest<Full<Bytes>>;

/// Opens connections to the target. DNS is resolved once, up front: a load test measures the
/// server, not the resolver, and a failed lookup then fails every request with one clear reason.
pub struct Connector {
    addrs: Result<Vec<SocketAddr>, String>,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

impl Connector {
    pub fn new(target: &Target) -> Result<Connector, String> {
        use std::net::ToSocketAddrs;
        let addrs = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
            .map_err(|e| format!("dns lookup failed for {}: {e}", target.host));
        let tls = if target.tls {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("`{}` is not a valid TLS server name: {e}", target.host))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Connector { addrs, tls })
    }

    pub async fn connect(&self) -> Result<Sender, Reason> {
        let addrs = self.addrs.as_ref().map_err(|e| Cow::Owned(e.clone()))?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| io_reason(&last))?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(stream).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| Cow::Owned(format!("tls handshake failed: {}", short(&e))))?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<S>(io: S) -> Result<Sender, Reason>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| hyper_reason(&e))?;
    tokio::task::spawn_local(async move {
        // The connection ends when the user drops its sender or the peer closes; either way
        // the next request notices and reconnects.
        let _ = conn.await;
    });
    Ok(sender)
}

pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Sends one request and reads the whole body (the body is part of the response time, as in
/// Locust, and must be drained for the connection to be reused).
pub async fn send(
    sender: &mut Sender,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Response, Reason> {
    let exchange = async {
        sender.ready().await.map_err(|e| hyper_reason(&e))?;
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| hyper_reason(&e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| hyper_reason(&e))?
            .to_bytes();
        Ok(Response { status, body })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Cow::Owned(format!(
            "timeout after {}",
            crate::duration::format_duration(timeout)
        ))),
    }
}

fn short(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().to_string()
}

/// Failure reasons are categories, not raw messages: they are counted and grouped, so they must
/// repeat exactly.
fn io_reason(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Cow::Borrowed("connection refused"),
        io::ErrorKind::ConnectionReset => Cow::Borrowed("connection reset"),
        io::ErrorKind::ConnectionAborted => Cow::Borrowed("connection aborted"),
        io::ErrorKind::TimedOut => Cow::Borrowed("connect timeout"),
        io::ErrorKind::AddrNotAvailable => Cow::Borrowed("address not available"),
        io::ErrorKind::BrokenPipe => Cow::Borrowed("broken pipe"),
        _ => Cow::Owned(format!("connection error: {}", short(e))),
    }
}

fn hyper_reason(e: &hyper::Error) -> Reason {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_reason(io);
        }
        source = s.source();
    }
    if e.is_incomplete_message() {
        Cow::Borrowed("connection closed before the response completed")
    } else if e.is_parse() {
        Cow::Borrowed("malformed HTTP response")
    } else if e.is_closed() || e.is_canceled() {
        Cow::Borrowed("connection closed")
    } else {
        Cow::Owned(format!("http error: {}", short(e)))
    }
}
