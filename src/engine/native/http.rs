//! One HTTP/1.1 connection per virtual user, kept alive across requests, as a browser session or
//! Locust's `HttpUser` would.
//!
//! The client is written for this one job: the request is serialised into a buffer the
//! connection reuses and sent with one write, the response is read into another reused buffer
//! and parsed in place with `httparse`. No connection task, no channel, no per-request
//! allocation beyond the body handed to checks. Profiling hyper's client here showed its
//! dispatch (a task per connection, a channel per request) costing about 15 % of throughput
//! against wrk on one core; this shape is what wrk itself does.

use std::{
    borrow::Cow,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{client::TlsStream, rustls, TlsConnector};

use super::{
    decode::{DecodeError, Decoder, Encoding, Out},
    proxy::{self, ViaProxy},
    recorder::Reason,
};
use crate::{
    engine::{EngineError, Target},
    stats::Received,
    tls,
};

/// Opens connections to the target. DNS is resolved once, up front: a load test measures the
/// server, not the resolver, and a failed lookup then fails every request with one clear reason.
/// Through a proxy, the proxy's name is the one resolved; the target's is the proxy's to look up.
pub(crate) struct Connector {
    addrs: Result<Vec<SocketAddr>, String>,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    limits: Limits,
    /// Set when a forward proxy carries the requests.
    proxy: Option<ViaProxy>,
    /// The first TLS or proxy failure has been explained in the log: each is counted per
    /// request, but printed once.
    explained: AtomicBool,
}

/// How much of a response this side reads: the scenario's `defaults.max_head_kib` and
/// `defaults.max_body_mib`, else [`crate::defaults`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The most bytes a response head (status line, headers, trailers) may take.
    pub(crate) max_head: usize,
    /// The most bytes of a body kept for checks and extractions.
    pub(crate) max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: crate::defaults::RESPONSE_HEAD_CAP,
            max_body: crate::defaults::RESPONSE_BODY_CAP,
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A kept-alive connection with its reused buffers.
pub(crate) struct Conn {
    stream: Stream,
    read: BytesMut,
    /// Whether a response was already read on this connection (a reused connection that the
    /// server closed while idle is retried once on a fresh one).
    used: bool,
    limits: Limits,
}

impl Connector {
    pub(crate) fn new(target: &Target, limits: Limits) -> Result<Connector, EngineError> {
        use std::net::ToSocketAddrs;
        let (host, port) = match &target.proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (target.host.as_str(), target.port),
        };
        let addrs = (host, port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
            .map_err(|e| match &target.proxy {
                Some(_) => format!("proxy: dns lookup failed for {host}: {e}"),
                None => format!("dns lookup failed for {host}: {e}"),
            });
        let tls = if target.tls {
            let config =
                tls::client_config(&target.tls_options).map_err(|e| EngineError::Setup {
                    action: "set up TLS for the target".into(),
                    source: e.into(),
                })?;
            let name =
                rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| {
                    EngineError::Start(format!(
                        "`{}` is not a valid TLS server name: {e}",
                        target.host
                    ))
                })?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Connector {
            addrs,
            tls,
            limits,
            proxy: target.proxy.as_ref().map(|p| ViaProxy::new(p, target)),
            explained: AtomicBool::new(false),
        })
    }

    /// A new connection, through the proxy and TLS as configured; a failure that a flag fixes
    /// is explained in the log the first time.
    pub(crate) async fn connect(&self) -> Result<Conn, Reason> {
        let conn = self.open().await;
        if let Err(reason) = &conn {
            self.explain(reason);
        }
        conn
    }

    async fn open(&self) -> Result<Conn, Reason> {
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
        let mut stream = stream.ok_or_else(|| match &self.proxy {
            Some(_) => proxy::io_reason(&last),
            None => io_reason(&last),
        })?;
        let _ = stream.set_nodelay(true);
        if let Some(via) = &self.proxy {
            via.tunnel(&mut stream).await?;
        }
        let stream = match &self.tls {
            None => Stream::Plain(stream),
            Some((connector, name)) => Stream::Tls(Box::new(
                connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| handshake_reason(&e))?,
            )),
        };
        Ok(Conn {
            stream,
            read: BytesMut::with_capacity(8 * 1024),
            used: false,
            limits: self.limits,
        })
    }

    /// The request as this connection sends it: as serialised, or in absolute form for a
    /// forward proxy (the only case that copies it).
    fn form<'r>(&self, request: &'r [u8]) -> Cow<'r, [u8]> {
        match &self.proxy {
            Some(via) => via.forward_form(request),
            None => Cow::Borrowed(request),
        }
    }

    /// Prints what a TLS or proxy failure means and how to fix it, once per run; the failure
    /// itself is counted per request by its reason.
    fn explain(&self, reason: &str) {
        let fix = if reason.starts_with("tls: ") {
            tls::fix_for(reason)
        } else if reason.starts_with("proxy") {
            Some(proxy::FIX)
        } else {
            None
        };
        if let Some(fix) = fix {
            if !self.explained.swap(true, Ordering::Relaxed) {
                let via = self
                    .proxy
                    .as_ref()
                    .map(|p| format!(" (through the proxy {})", p.name))
                    .unwrap_or_default();
                eprintln!("loadforge-gate: warning: requests fail with `{reason}`{via}: {fix}");
            }
        }
    }
}

/// A failed TLS handshake as a category that names its cause.
fn handshake_reason(e: &io::Error) -> Reason {
    match tls::failure(e) {
        Some(f) => Cow::Borrowed(f.reason),
        None => match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                Cow::Borrowed("tls: connection closed during the handshake")
            }
            _ => Cow::Owned(format!("tls: handshake failed: {}", io_reason(e))),
        },
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// The body when kept, decoded.
    pub(crate) body: Bytes,
    /// Body bytes on the wire and decoded.
    pub(crate) received: Received,
    /// The server asked to close (or the body ran to the end of the stream).
    pub(crate) close: bool,
    /// `Set-Cookie` and `Location`, when [`Reading::meta`] asked for them.
    pub(crate) meta: Meta,
}

/// The response headers a cookie jar and a redirect need. Collected only when asked, and
/// empty (no allocation) when the response has none, so the plain path costs one scan of the
/// header names that the framing loop already touches.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    /// Every `Set-Cookie` value that is text; a value that is not UTF-8 is ignored.
    pub(crate) set_cookies: Vec<String>,
    /// The first `Location` that is text.
    pub(crate) location: Option<String>,
}

impl Meta {
    fn of(headers: &[httparse::Header<'_>]) -> Meta {
        let mut meta = Meta::default();
        for h in headers {
            if h.name.eq_ignore_ascii_case("set-cookie") {
                if let Ok(v) = std::str::from_utf8(h.value) {
                    meta.set_cookies.push(v.to_string());
                }
            } else if meta.location.is_none() && h.name.eq_ignore_ascii_case("location") {
                meta.location = std::str::from_utf8(h.value)
                    .ok()
                    .map(|v| v.trim().to_string());
            }
        }
        meta
    }
}

/// A parsed response head.
struct Head {
    status: u16,
    /// `None` for an interim (1xx) response.
    framing: Option<Framing>,
    close: bool,
    /// The body's `Content-Encoding`, when this client undoes it.
    encoding: Encoding,
    meta: Meta,
}

/// Why an exchange failed, and whether a fresh connection may simply retry it.
pub(crate) enum Failure {
    /// A reused connection was already closed by the server: nothing was processed.
    Stale,
    Failed(Reason),
}

impl Conn {
    /// Sends one serialised request and reads the whole response (the body is part of the
    /// response time, as in Locust, and must be read for the connection to be reused).
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
        read: Reading,
    ) -> Result<Response, Failure> {
        let reused = self.used;
        self.used = true;
        if let Err(e) = self.stream.write_all(request).await {
            return Err(if reused {
                Failure::Stale
            } else {
                Failure::Failed(io_reason(&e))
            });
        }
        self.read.clear();
        let (head, framing) = self.read_head(read, reused).await?;
        let close = head.close || matches!(framing, Framing::UntilClose);
        let (body, received) = self
            .read_body(framing, read.keep_body, head.encoding)
            .await?;
        Ok(Response {
            status: head.status,
            body,
            received,
            close,
            meta: head.meta,
        })
    }

    /// The body, kept when a check or extraction reads it (up to the body cap), else counted
    /// and dropped as it arrives, so a large or endless body costs no memory. A compressed
    /// body is decoded as it arrives (see `decode.rs`).
    async fn read_body(
        &mut self,
        framing: Framing,
        keep: bool,
        encoding: Encoding,
    ) -> Result<(Bytes, Received), Failure> {
        let max_body = self.limits.max_body;
        let mut sink = Sink::new(keep, max_body, encoding);
        match framing {
            Framing::Length(len) if keep && encoding == Encoding::Identity => {
                if len > max_body {
                    return Err(too_large(max_body));
                }
                while self.read.len() < len {
                    self.fill().await?;
                }
                let wire = len as u64;
                let received = Received {
                    wire,
                    decoded: wire,
                };
                return Ok((self.read.split_to(len).freeze(), received));
            }
            Framing::Length(len) => self.copy_exactly(len, &mut sink).await?,
            Framing::Chunked => self.chunked(&mut sink).await?,
            Framing::UntilClose => self.copy_to_close(&mut sink).await?,
        }
        sink.finish()
    }

    /// Moves exactly `len` body bytes from the connection into `sink`.
    async fn copy_exactly(&mut self, mut left: usize, sink: &mut Sink) -> Result<(), Failure> {
        loop {
            let n = left.min(self.read.len());
            sink.push(&self.read[..n])?;
            self.read.advance(n);
            left -= n;
            if left == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// A body without length or chunking ends when the server closes the connection.
    async fn copy_to_close(&mut self, sink: &mut Sink) -> Result<(), Failure> {
        loop {
            sink.push(&self.read)?;
            self.read.clear();
            self.read.reserve(8 * 1024);
            let n = self
                .stream
                .read_buf(&mut self.read)
                .await
                .map_err(|e| Failure::Failed(io_reason(&e)))?;
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// Reads up to the end of the response head and consumes it: the status, how the body is
    /// framed, and whether the server closes the connection after it. Interim responses
    /// (`100 Continue`) are skipped. The head is parsed once it is complete, not on every read,
    /// and may not grow past the head cap.
    async fn read_head(&mut self, read: Reading, reused: bool) -> Result<(Head, Framing), Failure> {
        let mut scanned = 0;
        loop {
            if let Some(end) = head_end(&self.read, &mut scanned) {
                let mut head = parse_head(&self.read[..end], read.head, read.meta)?;
                self.read.advance(end);
                scanned = 0;
                match (head.status, head.framing.take()) {
                    (100..=199, _) => continue,
                    (_, Some(framing)) => return Ok((head, framing)),
                    (_, None) => return Err(malformed("malformed HTTP response")),
                }
            }
            if self.read.len() > self.limits.max_head {
                return Err(malformed("header too large"));
            }
            self.read_more_of_head(reused).await?;
        }
    }

    /// One more read while the head is incomplete. On a reused connection, nothing at all
    /// means the server had closed it (stale), which the caller retries on a fresh one.
    async fn read_more_of_head(&mut self, reused: bool) -> Result<(), Failure> {
        if self.read.capacity() - self.read.len() < 1024 {
            self.read.reserve(8 * 1024);
        }
        let n = self.stream.read_buf(&mut self.read).await.map_err(|e| {
            if reused && self.read.is_empty() {
                Failure::Stale
            } else {
                Failure::Failed(io_reason(&e))
            }
        })?;
        if n == 0 {
            return Err(if reused && self.read.is_empty() {
                Failure::Stale
            } else {
                Failure::Failed(Cow::Borrowed(
                    "connection closed before the response completed",
                ))
            });
        }
        Ok(())
    }

    async fn fill(&mut self) -> Result<(), Failure> {
        self.read.reserve(8 * 1024);
        let n = self
            .stream
            .read_buf(&mut self.read)
            .await
            .map_err(|e| Failure::Failed(io_reason(&e)))?;
        if n == 0 {
            return Err(Failure::Failed(Cow::Borrowed(
                "connection closed before the response completed",
            )));
        }
        Ok(())
    }

    /// Decodes a chunked body into `sink`.
    async fn chunked(&mut self, sink: &mut Sink) -> Result<(), Failure> {
        loop {
            let line_end = self.line_end().await?;
            let size = chunk_size(&self.read[..line_end])?;
            self.read.advance(line_end + 2);
            if size == 0 {
                return self.trailers().await;
            }
            self.copy_exactly(size, sink).await?;
            while self.read.len() < 2 {
                self.fill().await?;
            }
            if &self.read[..2] != b"\r\n" {
                return Err(malformed("malformed chunked body"));
            }
            self.read.advance(2);
        }
    }

    /// Where the next line ends (its `\r\n`); a chunk-size line is short.
    async fn line_end(&mut self) -> Result<usize, Failure> {
        loop {
            if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                return Ok(i);
            }
            if self.read.len() > 4096 {
                return Err(malformed("malformed chunk size"));
            }
            self.fill().await?;
        }
    }

    /// Trailer fields after the last chunk, then the final empty line; no bigger than a head.
    async fn trailers(&mut self) -> Result<(), Failure> {
        let mut seen = 0usize;
        loop {
            if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                self.read.advance(i + 2);
                if i == 0 {
                    return Ok(());
                }
                seen += i + 2;
            } else {
                self.fill().await?;
            }
            if seen + self.read.len() > self.limits.max_head {
                return Err(malformed("header too large"));
            }
        }
    }
}

/// The most response headers a head may carry.
const MAX_HEADERS: usize = 256;
/// No real chunk is a terabyte; a size beyond this is a malformed (or hostile) response.
const MAX_CHUNK: u64 = 1 << 40;

/// How a response is to be read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// The request was a `HEAD`: no body follows, whatever the headers say.
    pub head: bool,
    /// A check or extraction reads the body, so it is kept.
    pub keep_body: bool,
    /// A cookie jar or a redirect needs `Set-Cookie` and `Location` ([`Response::meta`]).
    pub meta: bool,
}

impl Reading {
    /// A `GET`-like request whose body is kept.
    #[cfg(test)]
    pub const WHOLE: Reading = Reading {
        head: false,
        keep_body: true,
        meta: false,
    };
}

fn malformed(reason: &'static str) -> Failure {
    Failure::Failed(Cow::Borrowed(reason))
}

fn too_large(cap: usize) -> Failure {
    Failure::Failed(Cow::Owned(format!(
        "response too large (a body that a check reads is capped at {} KiB; raise defaults.max_body_mib)",
        cap / 1024
    )))
}

/// Where body bytes go: kept up to a cap, dropped, or decoded (and then kept or dropped);
/// counted on the wire either way.
struct Sink {
    wire: u64,
    to: SinkTo,
}

enum SinkTo {
    Keep(BytesMut, usize),
    Discard,
    /// Boxed: a decoder's state is a few hundred bytes, and most bodies are not encoded.
    Decode(Box<Decoder>, usize),
}

impl Sink {
    fn new(keep: bool, cap: usize, encoding: Encoding) -> Sink {
        let to = match Decoder::new(encoding, Out::new(keep, cap)) {
            Some(d) => SinkTo::Decode(Box::new(d), cap),
            None if keep => SinkTo::Keep(BytesMut::new(), cap),
            None => SinkTo::Discard,
        };
        Sink { wire: 0, to }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.wire += bytes.len() as u64;
        match &mut self.to {
            SinkTo::Keep(body, cap) => {
                if body.len() + bytes.len() > *cap {
                    return Err(too_large(*cap));
                }
                body.extend_from_slice(bytes);
            }
            SinkTo::Discard => {}
            SinkTo::Decode(d, cap) => d.write(bytes).map_err(|e| decode_failure(e, *cap))?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(Bytes, Received), Failure> {
        let wire = self.wire;
        let plain = |body: Bytes| {
            let received = Received {
                wire,
                decoded: wire,
            };
            Ok((body, received))
        };
        match self.to {
            SinkTo::Keep(body, _) => plain(body.freeze()),
            SinkTo::Discard => plain(Bytes::new()),
            SinkTo::Decode(d, cap) => {
                let out = d.finish().map_err(|e| decode_failure(e, cap))?;
                let received = Received {
                    wire,
                    decoded: out.decoded,
                };
                Ok((out.kept.map(BytesMut::freeze).unwrap_or_default(), received))
            }
        }
    }
}

fn decode_failure(e: DecodeError, cap: usize) -> Failure {
    match e {
        DecodeError::TooLarge => too_large(cap),
        DecodeError::Corrupt => malformed("malformed compressed body"),
    }
}

/// The end of the head (just past its empty line) once it has arrived. `scanned` remembers how
/// far earlier calls looked, so each byte is searched about once.
fn head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let from = scanned.saturating_sub(3);
    *scanned = buf.len();
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// The status, framing and `Connection: close` of a complete head (and, when `meta` asks, its
/// `Set-Cookie` and `Location`); `None` framing for an interim response.
fn parse_head(bytes: &[u8], head: bool, meta: bool) -> Result<Head, Failure> {
    // Uninitialised slots: an initialised array of 256 headers is an 8 KiB memset per response,
    // a measurable share of the engine's own CPU per request; httparse writes only what it uses.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        bytes,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(malformed("malformed HTTP response")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(malformed("too many response headers (more than 256)"))
        }
        Err(_) => return Err(malformed("malformed HTTP response")),
    }
    let status = resp.code.unwrap_or(0);
    if (100..200).contains(&status) {
        return Ok(Head {
            status,
            framing: None,
            close: false,
            encoding: Encoding::Identity,
            meta: Meta::default(),
        });
    }
    let (framing, close, encoding) = framing_of(&resp, head, status)?;
    Ok(Head {
        status,
        framing: Some(framing),
        close,
        encoding,
        meta: if meta {
            Meta::of(resp.headers)
        } else {
            Meta::default()
        },
    })
}

/// A chunk-size line: hexadecimal, optionally followed by `;extensions`.
fn chunk_size(line: &[u8]) -> Result<usize, Failure> {
    let text = std::str::from_utf8(line).map_err(|_| malformed("malformed chunk size"))?;
    let digits = text.split(';').next().unwrap_or_default().trim();
    match u64::from_str_radix(digits, 16) {
        Ok(n) if n <= MAX_CHUNK => Ok(n as usize),
        _ => Err(malformed("malformed chunk size")),
    }
}

/// How the body is delimited, whether the connection closes after it, and how the body is
/// encoded (identity for an encoding this client cannot undo: the body stays as it came).
fn framing_of(
    resp: &httparse::Response<'_, '_>,
    head: bool,
    status: u16,
) -> Result<(Framing, bool, Encoding), Failure> {
    let mut framing = Framing::UntilClose;
    let mut close = resp.version == Some(0);
    let mut encoding = Encoding::Identity;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-encoding") {
            encoding = Encoding::parse(h.value).unwrap_or(Encoding::Identity);
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(Failure::Failed(Cow::Borrowed("malformed HTTP response")))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(len);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if h.value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"))
            {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.windows(5).any(|w| w.eq_ignore_ascii_case(b"close")) {
                close = true;
            } else if h
                .value
                .windows(10)
                .any(|w| w.eq_ignore_ascii_case(b"keep-alive"))
            {
                close = false;
            }
        }
    }
    if head || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    if matches!(framing, Framing::Length(0)) {
        // Nothing to decode (an empty gzip stream would read as a corrupt one).
        encoding = Encoding::Identity;
    }
    Ok((framing, close, encoding))
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A virtual user's request timer, armed anew for every exchange. One timer for the user's
/// life instead of a `tokio::time::timeout` per request: re-arming it to a later instant only
/// moves its deadline (the timer wheel is touched again only if it fires early), where a fresh
/// timeout registers in the wheel and leaves it on every request.
pub(crate) struct Deadline(Pin<Box<tokio::time::Sleep>>);

impl Deadline {
    pub(crate) fn new() -> Deadline {
        // Not registered until first armed and polled.
        Deadline(Box::pin(tokio::time::sleep(Duration::from_secs(86_400))))
    }

    fn arm(&mut self, timeout: Duration) {
        self.0.as_mut().reset(tokio::time::Instant::now() + timeout);
    }
}

/// Sends one request, retrying once on a fresh connection when a reused one turns out to have
/// been closed by the server while idle. `conn` is left empty when the connection may not be
/// reused.
pub(crate) async fn send(
    connector: &Connector,
    conn: &mut Option<Conn>,
    request: &[u8],
    read: Reading,
    (timeout, deadline): (Duration, &mut Deadline),
) -> Result<Response, Reason> {
    let request = connector.form(request);
    let exchange = async {
        for _ in 0..2 {
            let mut c = match conn.take() {
                Some(c) => c,
                None => connector.connect().await?,
            };
            match c.exchange(&request, read).await {
                Ok(r) => {
                    if !r.close {
                        *conn = Some(c);
                    }
                    return Ok(r);
                }
                Err(Failure::Stale) => continue,
                Err(Failure::Failed(reason)) => return Err(reason),
            }
        }
        Err(Cow::Borrowed(
            "connection closed before the response completed",
        ))
    };
    deadline.arm(timeout);
    let finished = tokio::select! {
        biased;
        r = exchange => Some(r),
        () = deadline.0.as_mut() => None,
    };
    match finished {
        Some(Err(reason)) => {
            connector.explain(&reason);
            Err(reason)
        }
        Some(r) => r,
        None => {
            // The connection is in an unknown state; the next request opens a new one.
            *conn = None;
            Err(Cow::Owned(format!(
                "timeout after {}",
                crate::duration::format_duration(timeout)
            )))
        }
    }
}

fn short(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or_default().to_string()
}

/// Failure reasons are categories, not raw messages: they are counted and grouped, so they must
/// repeat exactly.
pub(super) fn io_reason(e: &io::Error) -> Reason {
    // A TLS alert after the handshake (TLS 1.3 servers refuse a missing client certificate
    // only once the client has finished) arrives as a read error.
    if let Some(f) = tls::failure(e) {
        return Cow::Borrowed(f.reason);
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Cow::Borrowed("connection refused"),
        io::ErrorKind::ConnectionReset => Cow::Borrowed("connection reset"),
        io::ErrorKind::ConnectionAborted => Cow::Borrowed("connection aborted"),
        io::ErrorKind::TimedOut => Cow::Borrowed("connect timeout"),
        io::ErrorKind::AddrNotAvailable => Cow::Borrowed("address not available"),
        io::ErrorKind::BrokenPipe => Cow::Borrowed("broken pipe"),
        io::ErrorKind::UnexpectedEof => {
            Cow::Borrowed("connection closed before the response completed")
        }
        _ => Cow::Owned(format!("connection error: {}", short(e))),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server that answers each request on a connection with the next canned reply; after the
    /// last reply it closes the connection.
    fn canned(replies: Vec<&'static [u8]>) -> Target {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                for reply in &replies {
                    let mut buf = [0u8; 4096];
                    if s.read(&mut buf).unwrap_or(0) == 0 {
                        break;
                    }
                    let _ = s.write_all(reply);
                }
            }
        });
        Target::from_url(&url::Url::parse(&format!("http://{addr}")).unwrap()).unwrap()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    #[test]
    fn content_length_chunked_and_interim_responses() {
        let target = canned(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]);
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            let a = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                .await
                .unwrap();
            assert_eq!((a.status, &a.body[..]), (200, &b"hello"[..]));
            let b = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                .await
                .unwrap();
            assert_eq!((b.status, &b.body[..]), (201, &b"abcde"[..]));
            let c = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                .await
                .unwrap();
            assert_eq!((c.status, c.body.len()), (204, 0));
            assert!(conn.is_some(), "kept alive across all three");
        });
    }

    #[test]
    fn a_connection_the_server_closed_while_idle_is_retried_once() {
        // One reply per connection, then the server closes it: the second request finds the
        // connection stale and must succeed on a new one.
        let target = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]);
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            for _ in 0..3 {
                let r = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                    .await
                    .unwrap();
                assert_eq!(&r.body[..], b"ok");
            }
        });
    }

    #[test]
    fn connection_close_and_bodies_until_eof() {
        let target = canned(vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        ]);
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let r = send(
                &connector,
                &mut conn,
                GET,
                Reading::WHOLE,
                (Duration::from_secs(5), &mut d),
            )
            .await
            .unwrap();
            assert_eq!(&r.body[..], b"until the end");
            assert!(conn.is_none(), "not reused after Connection: close");
        });
    }

    #[test]
    fn garbage_and_refusals_are_reasons() {
        let target = canned(vec![b"SMTP ready\r\n\r\n"]);
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let e = send(
                &connector,
                &mut conn,
                GET,
                Reading::WHOLE,
                (Duration::from_secs(5), &mut d),
            )
            .await
            .unwrap_err();
            assert_eq!(e, "malformed HTTP response");
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target =
            Target::from_url(&url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap())
                .unwrap();
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let e = connector.connect().await.err().unwrap();
            assert_eq!(e, "connection refused");
        });
    }

    #[test]
    fn set_cookie_and_location_are_collected_only_when_asked() {
        const REDIRECT: &[u8] = b"HTTP/1.1 302 Found\r\nSet-Cookie: a=1; Path=/\r\nlocation:  /next \r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n";
        let target = canned(vec![REDIRECT, REDIRECT]);
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            let plain = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                .await
                .unwrap();
            assert!(plain.meta.set_cookies.is_empty() && plain.meta.location.is_none());
            let asked = Reading {
                meta: true,
                ..Reading::WHOLE
            };
            let r = send(&connector, &mut conn, GET, asked, (t, &mut d))
                .await
                .unwrap();
            assert_eq!(r.meta.set_cookies, ["a=1; Path=/", "b=2"]);
            assert_eq!(r.meta.location.as_deref(), Some("/next"));
        });
    }

    /// One timer serves every exchange of a user: an exchange after an idle spell longer than
    /// the timeout (the old deadline passed unpolled) is not timed out, and a stalled one still
    /// is, by the timer re-armed for it.
    #[test]
    fn the_reused_deadline_is_armed_anew_for_each_exchange() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            for _ in 0..2 {
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
            // The third request is read and never answered.
            let _ = s.read(&mut buf);
            std::thread::sleep(Duration::from_secs(10));
        });
        let target =
            Target::from_url(&url::Url::parse(&format!("http://{addr}")).unwrap()).unwrap();
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_millis(200);
            let a = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d)).await;
            assert_eq!(a.unwrap().status, 200);
            tokio::time::sleep(Duration::from_millis(500)).await;
            let b = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d)).await;
            assert_eq!(
                b.unwrap().status,
                200,
                "not timed out by the first deadline"
            );
            let c = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d)).await;
            assert_eq!(c.unwrap_err(), "timeout after 0.2s");
            assert!(conn.is_none(), "a timed-out connection is not reused");
        });
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::{chunk_size, head_end, parse_head};

        proptest! {
            // 256 cases, or `PROPTEST_CASES` when set.
            #![proptest_config(ProptestConfig::default())]

            /// Whatever bytes a server sends, parsing a head or a chunk size never panics.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let mut scanned = 0;
                if let Some(end) = head_end(&bytes, &mut scanned) {
                    let _ = parse_head(&bytes[..end], false, true);
                }
                let _ = chunk_size(&bytes);
            }

            /// The head is found at the same place however the bytes arrive: scanning a prefix
            /// first, then the whole, agrees with scanning the whole at once.
            #[test]
            fn a_head_split_anywhere_ends_at_the_same_place(
                headers in proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,20}"), 0..20),
                body in "[a-z]{0,20}",
                cut in any::<prop::sample::Index>(),
            ) {
                let mut text = String::from("HTTP/1.1 200 OK\r\n");
                for (k, v) in &headers {
                    text.push_str(&format!("{k}: {}\r\n", v.trim()));
                }
                text.push_str("\r\n");
                let head_len = text.len();
                text.push_str(&body);
                let bytes = text.as_bytes();
                let at = cut.index(bytes.len() + 1);
                let mut scanned = 0;
                let early = head_end(&bytes[..at], &mut scanned);
                let whole = head_end(bytes, &mut scanned);
                prop_assert_eq!(early.or(whole), Some(head_len));
            }
        }
    }
}
