//! One HTTP/1.1 connection per virtual user, kept alive across requests, as a browser session or
//! Locust's `HttpUser` would.
//!
//! The client is written for this one job: the request is serialised into a buffer the
//! connection reuses and sent with one write, the response is read into another reused buffer
//! and parsed in place with `httparse`. No connection task, no channel, no per-request
//! allocation beyond the body handed to checks. Profiling hyper's client here showed its
//! dispatch (a task per connection, a channel per request) costing about 15 % of throughput
//! against wrk on one core; this shape is what wrk itself does.
//!
//! What is read is parsed in `wire.rs` (the response head, chunk sizes) and kept, dropped or
//! decoded in `body.rs`; this file does the connecting, the reading and the deadline.
//!
//! HTTP/2 (`http2: auto | always`) is chosen here, per connection: by ALPN over TLS, by prior
//! knowledge over plain `http` under `always`. A connection is then a [`Conn::H2`], whose
//! exchanges `http2.rs` runs with the engine's own HTTP/2 client (`h2proto/`); everything
//! above (`vu.rs`) is the same. What an exchange takes and gives, for both, is `exchange.rs`.

use std::{
    borrow::Cow,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{rustls, TlsConnector};

use super::{
    body::Sink,
    decode::Encoding,
    exchange::{Failure, Stream},
    http2::{self, H2Conn},
    proxy::{self, ViaProxy},
    recorder::Reason,
    wire::{chunk_size, head_end, io_reason, malformed, parse_head, too_large, Framing, Head},
};
use crate::{
    engine::{EngineError, Target},
    modes::Http2Mode,
    stats::Received,
    tls,
};

pub(crate) use super::exchange::{Limits, Reading, Response};

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
    /// Whether HTTP/2 is offered (ALPN) or spoken (prior knowledge over plain `http`).
    http2: Http2Mode,
    /// `https://authority` or `http://authority`: HTTP/2's `:scheme` and `:authority`.
    origin: String,
    /// The protocols connections have spoken, [`H1`] and [`H2`] bits: what the run reports.
    spoken: AtomicU8,
    /// Lanes of a user found HTTP/1.1 and each opened its own connection: said once.
    lanes_on_h1: AtomicBool,
}

/// `Connector::spoken`: a connection spoke HTTP/1.1.
const H1: u8 = 1;
/// `Connector::spoken`: a connection spoke HTTP/2.
const H2: u8 = 2;

/// ALPN's names for the protocols offered.
const ALPN_H2: &[u8] = b"h2";
const ALPN_H1: &[u8] = b"http/1.1";

/// A virtual user's kept-alive connection, in the protocol it negotiated.
pub(crate) enum Conn {
    /// HTTP/1.1, this file's own client.
    H1(H1Conn),
    /// HTTP/2 (`http2.rs`), boxed: its state is much larger than HTTP/1.1's.
    H2(Box<H2Conn>),
}

/// A kept-alive HTTP/1.1 connection with its reused buffers.
pub(crate) struct H1Conn {
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
        if !target.tls && target.proxy.is_some() && target.http2 == Http2Mode::Always {
            return Err(EngineError::Config(
                "http2: always cannot reach a plain-http target through a forward proxy (the proxy is spoken to in HTTP/1.1); use an https target (tunnelled, h2 by ALPN) or http2: auto".into(),
            ));
        }
        let tls = if target.tls {
            let mut config =
                tls::client_config(&target.tls_options).map_err(|e| EngineError::Setup {
                    action: "set up TLS for the target".into(),
                    source: e.into(),
                })?;
            config.alpn_protocols = match target.http2 {
                Http2Mode::Never => vec![ALPN_H1.to_vec()],
                Http2Mode::Auto => vec![ALPN_H2.to_vec(), ALPN_H1.to_vec()],
                Http2Mode::Always => vec![ALPN_H2.to_vec()],
            };
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
            http2: target.http2,
            origin: format!(
                "{}://{}",
                if target.tls { "https" } else { "http" },
                target.authority
            ),
            spoken: AtomicU8::new(0),
            lanes_on_h1: AtomicBool::new(false),
        })
    }

    /// The protocol this connector's connections have spoken so far: what the run reports
    /// (`run.protocol`) and its load fingerprint compares. `None` before any connection.
    pub(crate) fn protocol(&self) -> Option<crate::stats::Protocol> {
        use crate::stats::Protocol;
        match self.spoken.load(Ordering::Relaxed) {
            H1 => Some(Protocol::Http1),
            H2 => Some(Protocol::H2),
            0 => None,
            _ => Some(Protocol::Mixed),
        }
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
        let (stream, h2) = match &self.tls {
            None => (Stream::Plain(stream), self.http2 == Http2Mode::Always),
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| self.handshake_reason(&e))?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
                if !h2 && self.http2 == Http2Mode::Always {
                    return Err(Cow::Borrowed(http2::REFUSED));
                }
                (Stream::Tls(Box::new(tls)), h2)
            }
        };
        self.spoken
            .fetch_or(if h2 { H2 } else { H1 }, Ordering::Relaxed);
        if h2 {
            let prior_knowledge = self.tls.is_none();
            let conn =
                http2::handshake(stream, self.origin.clone(), self.limits, prior_knowledge).await?;
            return Ok(Conn::H2(Box::new(conn)));
        }
        Ok(Conn::H1(H1Conn {
            stream,
            read: BytesMut::with_capacity(8 * 1024),
            used: false,
            limits: self.limits,
        }))
    }

    /// A failed TLS handshake as a category that names its cause; under `http2: always`, a
    /// server that refused the only protocol offered says so.
    fn handshake_reason(&self, e: &io::Error) -> Reason {
        let reason = handshake_reason(e);
        if self.http2 == Http2Mode::Always && reason == "tls: no common ALPN protocol" {
            return Cow::Borrowed(http2::REFUSED);
        }
        reason
    }

    /// The request as this connection sends it: as serialised, or in absolute form for a
    /// forward proxy (the only case that copies it).
    fn form<'r>(&self, request: &'r [u8]) -> Cow<'r, [u8]> {
        match &self.proxy {
            Some(via) => via.forward_form(request),
            None => Cow::Borrowed(request),
        }
    }

    /// Says, once per run, that the lanes of a user (`defaults.streams_per_user`) each have
    /// their own HTTP/1.1 connection, since the server did not offer HTTP/2 (`http2: auto`).
    pub(crate) fn explain_lanes_on_h1(&self, lanes: u32) {
        if !self.lanes_on_h1.swap(true, Ordering::Relaxed) {
            eprintln!(
                "loadforge-gate: warning: {} speaks HTTP/1.1 (no h2 offered): each of a user's {lanes} lanes (defaults.streams_per_user) opens its own connection, {lanes} per user; set `http2: always` to refuse HTTP/1.1",
                self.origin
            );
        }
    }

    /// Prints what a TLS or proxy failure means and how to fix it, once per run; the failure
    /// itself is counted per request by its reason.
    fn explain(&self, reason: &str) {
        let fix = if reason.starts_with("tls: ") {
            tls::fix_for(reason)
        } else if reason.starts_with("proxy") {
            Some(proxy::FIX)
        } else if reason == http2::REFUSED || reason == http2::NOT_H2 {
            Some(http2::FIX)
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

impl Conn {
    /// Sends one serialised request and reads the whole response, in the connection's protocol.
    async fn exchange(&mut self, request: &[u8], read: Reading) -> Result<Response, Failure> {
        match self {
            Conn::H1(c) => c.exchange(request, read).await,
            Conn::H2(c) => c.exchange(request, read).await,
        }
    }
}

impl H1Conn {
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
                    return Err(too_large(max_body).into());
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
        sink.finish().map_err(Failure::from)
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
                    (_, None) => return Err(malformed("malformed HTTP response").into()),
                }
            }
            if self.read.len() > self.limits.max_head {
                return Err(malformed("header too large").into());
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
                return Err(malformed("malformed chunked body").into());
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
                return Err(malformed("malformed chunk size").into());
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
                return Err(malformed("header too large").into());
            }
        }
    }
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

/// Where a user's connection comes from when it has none: its own (the usual, [`Own`]), or
/// the one its lanes share (`lanes.rs`).
pub(crate) trait Opener {
    /// A connection to send on.
    async fn open(&self, connector: &Connector) -> Result<Conn, Reason>;
    /// `conn` is given up (it failed, went stale or timed out): not to be handed out again.
    fn forget(&self, conn: &Conn);
}

/// Each user (or lane) opens its own connections.
pub(crate) struct Own;

impl Opener for Own {
    async fn open(&self, connector: &Connector) -> Result<Conn, Reason> {
        connector.connect().await
    }
    fn forget(&self, _: &Conn) {}
}

/// Sends one request on the user's own connection ([`send_via`]).
pub(crate) async fn send(
    connector: &Connector,
    conn: &mut Option<Conn>,
    request: &[u8],
    read: Reading,
    timeout: (Duration, &mut Deadline),
) -> Result<Response, Reason> {
    send_via(connector, &Own, conn, request, read, timeout).await
}

/// Sends one request, retrying once on a fresh connection when a reused one turns out to have
/// been closed by the server while idle. `conn` is left empty when the connection may not be
/// reused; `opener` gives the next one.
pub(crate) async fn send_via(
    connector: &Connector,
    opener: &impl Opener,
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
                None => opener.open(connector).await?,
            };
            match c.exchange(&request, read).await {
                Ok(r) => {
                    if !r.close {
                        *conn = Some(c);
                    }
                    return Ok(r);
                }
                Err(Failure::Stale) => opener.forget(&c),
                Err(Failure::Failed(reason)) => {
                    opener.forget(&c);
                    return Err(reason);
                }
                Err(Failure::Stream(reason)) => {
                    *conn = Some(c);
                    return Err(reason);
                }
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
        // Outside tokio's cooperative budget: a server that keeps the socket readable (a
        // SETTINGS flood) spends the task's budget in every poll of the exchange, and a
        // budgeted timer would then never be seen to fire.
        () = tokio::task::unconstrained(deadline.0.as_mut()) => None,
    };
    match finished {
        Some(Err(reason)) => {
            connector.explain(&reason);
            Err(reason)
        }
        Some(r) => r,
        None => {
            // The connection is in an unknown state; the next request opens a new one.
            if let Some(c) = conn.take() {
                opener.forget(&c);
            }
            Err(Cow::Owned(format!(
                "timeout after {}",
                crate::duration::format_duration(timeout)
            )))
        }
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
            assert_eq!(c.unwrap_err(), "timeout after 200ms");
            assert!(conn.is_none(), "a timed-out connection is not reused");
        });
    }
}
