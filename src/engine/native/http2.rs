//! HTTP/2 on a virtual user's one connection, with the `h2` crate doing the framing, HPACK and
//! flow control.
//!
//! The engine stays wrk-like: no connection task, no channel. `h2`'s `Connection` is the
//! future that reads and writes the socket; it is polled here, inside the user's own task, only
//! while an exchange is under way (see [`drive`]), alongside the stream's own future. Between
//! exchanges nothing reads the socket, as with HTTP/1.1: frames the server sends then (a PING,
//! a GOAWAY) wait in the kernel until the next request, whose exchange answers them.
//!
//! A request arrives serialised as HTTP/1.1 (`vu.rs` builds one form for both protocols) and is
//! turned into a `http::Request` here, once per distinct request on a connection (a repeated
//! one reuses it: [`H2Conn::translate`]); the response is read into the same [`Response`] as
//! HTTP/1.1's, its body through the same sink (`body.rs`: the body cap, decoding). Where the
//! CPU per request goes (mostly inside `h2`) is measured in `bench/README.md`, HTTP/2.
//!
//! One stream at a time per user unless the scenario gives each user several lanes
//! (`defaults.streams_per_user`, `lanes.rs`): the lanes then share one connection, each with
//! its own handle on it ([`H2Conn::lane`]) and the one [`Driver`] that any lane with an
//! exchange under way polls. `max_concurrent_streams` is honoured by `h2`, which holds a stream
//! past the server's limit until another one closes (`SendRequest::poll_ready`, the response's
//! own future): a server announcing zero streams turns that wait into the request's timeout,
//! never a hang past it.

use std::{
    borrow::Cow,
    cell::{Cell, RefCell},
    future::{poll_fn, Future},
    io,
    pin::{pin, Pin},
    rc::Rc,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    task::{Context, Poll, Waker},
};

use ::h2::{
    client::{Connection, SendRequest},
    Reason as H2Reason,
};
use ::http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{
    body::Sink,
    decode::Encoding,
    exchange::{Failure, Limits, Reading, Response, Stream},
    recorder::Reason,
    wire::{io_reason, Meta},
};

/// The most bytes of a stream's body the server may send ahead of what this side has read:
/// what one user's connection may hold in memory for a response, whatever the server does.
const STREAM_WINDOW: u32 = 1 << 20;
/// The same for the whole connection (every stream together: one per lane of the user).
const CONNECTION_WINDOW: u32 = 2 << 20;

/// A response header list past the head cap (HTTP/1.1's `header too large`).
pub(super) const HEADERS_TOO_LARGE: &str =
    "h2: response header list too large (raise defaults.max_head_kib)";
/// A response's header block that was malformed or over the head cap: `h2` tells the two
/// apart only when the list is far over it ([`HEADERS_TOO_LARGE`]).
pub(super) const BAD_HEADERS: &str =
    "h2: malformed response headers, or a header list past defaults.max_head_kib";
/// A reason of its own for a TLS server that would not speak HTTP/2 under `http2: always`.
pub(super) const REFUSED: &str = "h2: the server does not speak HTTP/2 (ALPN) and http2 is always";
/// What to do about [`REFUSED`] and its cleartext twin, for the one log line that explains it.
pub(super) const FIX: &str = "set `http2: auto` (h2 where offered, else HTTP/1.1) or `never` in the scenario's defaults, or pass --http2 auto";
/// A cleartext server that did not answer HTTP/2's preface under `http2: always`.
pub(super) const NOT_H2: &str =
    "h2: the server did not answer in HTTP/2 (prior knowledge) and http2 is always";

/// How many streams this side reset and still remembers (to ignore the frames the server sends
/// on them after the reset): a user has one stream open at a time, so a few suffice, and the
/// memory a server that makes every stream fail can pin stays small.
const RESET_STREAMS: usize = 16;
/// How many streams `h2` may reset for what the server sent on them (a header list past the
/// cap, a malformed block) before it ends the connection: `h2`'s own default, pinned here.
const LOCAL_ERROR_RESETS: usize = 1024;

/// One handle on an HTTP/2 connection: what opens streams, and the [`Driver`] it shares with
/// the other lanes of its user (none unless `defaults.streams_per_user` is above 1).
pub(crate) struct H2Conn {
    send: SendRequest<Bytes>,
    driver: Rc<Driver>,
    /// The last request, as the user serialised it and as built for `h2` ([`Translated`]).
    last: Option<Translated>,
    /// A response was already read here (a connection the server since closed is retried once).
    used: bool,
}

/// The connection itself: the future that does the I/O, polled by whichever handle has an
/// exchange under way ([`drive`]), and how it ended.
struct Driver {
    conn: RefCell<Connection<Sniff, Bytes>>,
    /// The waker the socket wakes the user with ([`drive`]).
    task: TaskWaker,
    /// What the server's first bytes looked like ([`Sniff`]).
    first: Arc<AtomicU8>,
    /// `https://authority` (or `http://`): every request's `:scheme` and `:authority`.
    origin: String,
    /// How the connection ended, once it has: it is then not used again.
    ended: RefCell<Option<Ended>>,
    /// Cleartext HTTP/2 without asking first: a server that answers its first exchange with
    /// anything but HTTP/2 does not speak it ([`NOT_H2`]).
    prior_knowledge: bool,
    limits: Limits,
    /// Several lanes share the connection: it is then polled once per wake-up of their user,
    /// after every lane ([`Shared::poll`], from `lanes::all`), so that what they all queued
    /// goes out in one write, and their streams' futures with the task's own waker, which `h2`
    /// wakes when that poll settles them ([`drive`]).
    shared: Cell<bool>,
}

/// A connection its lanes share, as `lanes::all` polls it once per wake-up of their user;
/// not kept alive by this (the lanes' handles do that).
pub(crate) struct Shared(std::rc::Weak<Driver>);

impl Shared {
    /// Reads and writes what there is on the connection; `false` once it has ended or no lane
    /// holds it any more (it is then not polled again).
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> bool {
        let Some(driver) = self.0.upgrade() else {
            return false;
        };
        if driver.ended.borrow().is_some() {
            return false;
        }
        if !driver.task.borrow().will_wake(cx.waker()) {
            driver.task.borrow_mut().clone_from(cx.waker());
        }
        let mut idle = Context::from_waker(Waker::noop());
        let end = Pin::new(&mut *driver.conn.borrow_mut()).poll(&mut idle);
        match end {
            Poll::Pending => true,
            Poll::Ready(end) => {
                *driver.ended.borrow_mut() = Some(end);
                // The lanes with an exchange on it see the end in their next poll.
                cx.waker().wake_by_ref();
                false
            }
        }
    }
}

/// The handshake: the client preface and settings go out; the server's are read while the
/// first exchange drives the connection.
pub(super) async fn handshake(
    stream: Stream,
    origin: String,
    limits: Limits,
    prior_knowledge: bool,
) -> Result<H2Conn, Reason> {
    let max_head = u32::try_from(limits.max_head).unwrap_or(u32::MAX);
    let first = Arc::new(AtomicU8::new(NOTHING_YET));
    let task = Rc::new(RefCell::new(Waker::noop().clone()));
    let stream = Sniff {
        inner: stream,
        first: prior_knowledge.then(|| first.clone()),
        task: task.clone(),
    };
    let handshake = ::h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // The response head cap, as HTTP/1.1's: a header list past it fails the stream (and
        // bounds `h2`'s count of CONTINUATION frames, so an endless one ends the connection).
        .max_header_list_size(max_head)
        .max_concurrent_reset_streams(RESET_STREAMS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS))
        .handshake::<_, Bytes>(stream);
    let (send, conn) = waking(&task, handshake)
        .await
        .map_err(|e| match e.get_io() {
            Some(io) if !prior_knowledge => io_reason(io),
            _ => Cow::Borrowed(NOT_H2),
        })?;
    let driver = Driver {
        conn: RefCell::new(conn),
        task,
        first,
        origin,
        ended: RefCell::new(None),
        prior_knowledge,
        limits,
        shared: Cell::new(false),
    };
    Ok(H2Conn {
        send,
        driver: Rc::new(driver),
        last: None,
        used: false,
    })
}

/// Polls `f` with the task's waker set for the socket: the handshake, before any [`drive`].
async fn waking<T>(task: &TaskWaker, f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    poll_fn(|cx| {
        task.borrow_mut().clone_from(cx.waker());
        f.as_mut().poll(cx)
    })
    .await
}

/// A request as the user serialised it (HTTP/1.1) and as built for `h2` from it
/// ([`H2Conn::translate`]). Bounded: one request per connection, the size of the user's own.
struct Translated {
    wire: Vec<u8>,
    method: Method,
    uri: Uri,
    headers: ::http::HeaderMap,
    body: Bytes,
}

/// A serialised request that is not one (never from `vu.rs`'s own serialiser).
const UNSENDABLE: &str = "h2: the request could not be sent as HTTP/2";

/// How the connection's own future ended: kept, since a stream cut off by the end reports
/// only a broken pipe, and the connection's GOAWAY is the reason.
type Ended = Result<(), ::h2::Error>;

/// [`Sniff::first`] before the server sent a byte.
const NOTHING_YET: u8 = 0;
/// The server's first bytes were an HTTP/1.x status line (`HTTP/`).
const HTTP1_ANSWER: u8 = 1;
/// The server's first bytes were something else: HTTP/2 frames, however broken.
const OTHER_ANSWER: u8 = 2;

/// The socket, noting what the server's first bytes looked like on a prior-knowledge
/// connection: an HTTP/1.1 answer and a broken HTTP/2 frame both read to `h2` as a protocol
/// error (`FRAME_SIZE_ERROR`), but only the first means the server does not speak HTTP/2
/// ([`NOT_H2`]); a hostile HTTP/2 server (a SETTINGS frame past the frame size) keeps its own
/// reason. Once the first bytes are seen, reads go straight through.
struct Sniff {
    inner: Stream,
    /// Shared with [`H2Conn::first`] until the first bytes are seen; `None` after (and on TLS).
    first: Option<Arc<AtomicU8>>,
    /// The user task's waker, for the socket's readiness ([`drive`]).
    task: TaskWaker,
}

/// The waker the socket registers with the reactor, set by [`drive`] before it polls the
/// connection. `h2` itself is polled with a waker that does nothing: it wakes "the connection
/// task" whenever a stream queues a frame or closes, which here is the user's own task, polling
/// it again for nothing (about one empty poll of the whole user per request). [`drive`] polls
/// the connection after every step anyway, so only the socket needs a real waker.
type TaskWaker = Rc<RefCell<Waker>>;

impl Sniff {
    /// `f` on the socket with the task's real waker in place of `h2`'s idle one.
    fn with_task<T>(&mut self, f: impl FnOnce(Pin<&mut Stream>, &mut Context<'_>) -> T) -> T {
        let waker = self.task.borrow();
        let mut cx = Context::from_waker(&waker);
        f(Pin::new(&mut self.inner), &mut cx)
    }
}

impl AsyncRead for Sniff {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = this.with_task(|s, cx| s.poll_read(cx, buf));
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            if let Some(first) = this.first.take() {
                let n = new.len().min(5);
                let kind = if new[..n] == b"HTTP/"[..n] {
                    HTTP1_ANSWER
                } else {
                    OTHER_ANSWER
                };
                first.store(kind, Ordering::Relaxed);
            }
        }
        r
    }
}

impl AsyncWrite for Sniff {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().with_task(|s, cx| s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .with_task(|s, cx| s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().with_task(|s, cx| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().with_task(|s, cx| s.poll_shutdown(cx))
    }
}

/// Polls `f` to completion while driving the connection's I/O in the same task. When the
/// connection ends first (GOAWAY, a connection error, the socket closed), its end is kept in
/// `ended` and `f` is polled once more, since the end may have settled it; otherwise `Err`.
///
/// Only the connection's progress (the socket, or a step of this task's) can settle `f`, so
/// `h2` is polled with a waker that does nothing, the socket with the task's own
/// ([`TaskWaker`]), and `f` again after each poll of the connection: a response read by that
/// poll is taken in the same turn, not in one more wake-up of the task. `f` too is polled with
/// the idle waker on a connection of one lane. Lanes sharing it ([`Driver::shared`]) poll only
/// `f`, with the task's waker: the connection is polled once per wake-up of their user, after
/// all of them ([`Shared`]), and `h2` wakes the task when that poll settles a lane's stream.
async fn drive<T>(driver: &Driver, f: impl Future<Output = T>) -> Result<T, ()> {
    let mut f = pin!(f);
    let mut idle = Context::from_waker(Waker::noop());
    poll_fn(|cx| {
        let shared = driver.shared.get();
        let mut poll_f = |cx: &mut Context<'_>, idle: &mut Context<'_>| match shared {
            true => f.as_mut().poll(cx),
            false => f.as_mut().poll(idle),
        };
        if let Poll::Ready(v) = poll_f(cx, &mut idle) {
            return Poll::Ready(Ok(v));
        }
        if driver.ended.borrow().is_some() {
            return Poll::Ready(Err(()));
        }
        if shared {
            // `lanes::all` polls the connection after every lane ([`Shared`]).
            return Poll::Pending;
        }
        if !driver.task.borrow().will_wake(cx.waker()) {
            driver.task.borrow_mut().clone_from(cx.waker());
        }
        let end = Pin::new(&mut *driver.conn.borrow_mut()).poll(&mut idle);
        let settled = poll_f(cx, &mut idle);
        match (end, settled) {
            (Poll::Ready(end), settled) => {
                *driver.ended.borrow_mut() = Some(end);
                Poll::Ready(match settled {
                    Poll::Ready(v) => Ok(v),
                    Poll::Pending => Err(()),
                })
            }
            (Poll::Pending, Poll::Ready(v)) => Poll::Ready(Ok(v)),
            (Poll::Pending, Poll::Pending) => Poll::Pending,
        }
    })
    .await
}

impl H2Conn {
    /// Another handle on this connection, for another lane of the same user: its own stream
    /// opener and request translation, the same connection under both. From now on the
    /// connection's streams are polled as shared ones ([`drive`]), and the connection by
    /// whoever holds its [`Shared`].
    pub(super) fn lane(&self) -> H2Conn {
        self.driver.shared.set(true);
        H2Conn {
            send: self.send.clone(),
            driver: self.driver.clone(),
            last: None,
            used: true,
        }
    }

    /// The connection, for the one poll per wake-up of the lanes sharing it.
    pub(super) fn shared(&self) -> Shared {
        Shared(Rc::downgrade(&self.driver))
    }

    /// Whether `other` is a handle on the same connection.
    pub(super) fn same_connection(&self, other: &H2Conn) -> bool {
        Rc::ptr_eq(&self.driver, &other.driver)
    }

    /// Whether the connection has ended (GOAWAY, an error, the socket closed).
    pub(super) fn has_ended(&self) -> bool {
        self.driver.ended.borrow().is_some()
    }

    /// Waits for the server's SETTINGS, by a PING it answers after them: lanes that start at
    /// once on a new connection then open no more streams than its `max_concurrent_streams`
    /// (before the SETTINGS, `h2` may open as many as it is asked to). A server that does not
    /// speak HTTP/2 fails here as its first exchange would ([`NOT_H2`]).
    pub(super) async fn settings_in(&mut self) -> Result<(), Reason> {
        let driver = &*self.driver;
        let Some(mut pings) = driver.conn.borrow_mut().ping_pong() else {
            return Ok(());
        };
        pings
            .send_ping(::h2::Ping::opaque())
            .map_err(|e| reason(&e))?;
        let pong = drive(driver, poll_fn(|cx| pings.poll_pong(cx))).await;
        let first = driver.first.load(Ordering::Relaxed);
        match settle(pong, &driver.ended.borrow(), false) {
            Ok(_) => Ok(()),
            Err(Failure::Failed(r) | Failure::Stream(r)) => match driver.prior_knowledge {
                true if not_h2(&r, first) => Err(Cow::Borrowed(NOT_H2)),
                _ => Err(r),
            },
            Err(Failure::Stale) => Err(Cow::Borrowed(
                "connection closed before the response completed",
            )),
        }
    }

    /// Sends one request (serialised as HTTP/1.1 by the user) on a new stream and reads the
    /// whole response, as HTTP/1.1's exchange does.
    pub(super) async fn exchange(
        &mut self,
        request: &[u8],
        read: Reading,
    ) -> Result<Response, Failure> {
        let reused = self.used;
        self.used = true;
        if self.driver.ended.borrow().is_some() {
            // Ended after the last exchange (a GOAWAY that came with its response): nothing
            // was sent here, so a fresh connection takes the request.
            return Err(Failure::Stale);
        }
        let (head, body) = self.translate(request)?;
        let first_of_prior_knowledge = self.driver.prior_knowledge && !reused;
        let outcome = self.send_and_read(head, body, read, reused).await;
        let first = self.driver.first.load(Ordering::Relaxed);
        outcome.map_err(|f| match f {
            Failure::Failed(r) if first_of_prior_knowledge && not_h2(&r, first) => {
                Failure::Failed(Cow::Borrowed(NOT_H2))
            }
            f => f,
        })
    }

    /// The user's serialised request as `h2` takes it: built anew only when it differs from
    /// the last one on this connection. A user repeating a request (the usual load) costs a
    /// comparison and the clone of a few shared buffers, not a parse, a URI and a header map
    /// built from copies.
    fn translate(&mut self, request: &[u8]) -> Result<(Request<()>, Bytes), Reason> {
        match &mut self.last {
            Some(last) if last.wire == request => {}
            _ => {
                let (head, body) = to_h2(request, &self.driver.origin)?;
                let (parts, ()) = head.into_parts();
                let mut wire = self.last.take().map(|l| l.wire).unwrap_or_default();
                wire.clear();
                wire.extend_from_slice(request);
                self.last = Some(Translated {
                    wire,
                    method: parts.method,
                    uri: parts.uri,
                    headers: parts.headers,
                    body,
                });
            }
        }
        let last = self.last.as_ref().ok_or(Cow::Borrowed(UNSENDABLE))?;
        let mut head = Request::new(());
        *head.method_mut() = last.method.clone();
        *head.uri_mut() = last.uri.clone();
        *head.version_mut() = ::http::Version::HTTP_2;
        *head.headers_mut() = last.headers.clone();
        Ok((head, last.body.clone()))
    }

    async fn send_and_read(
        &mut self,
        head: Request<()>,
        body: Bytes,
        read: Reading,
        reused: bool,
    ) -> Result<Response, Failure> {
        let H2Conn { send, driver, .. } = self;
        let driver = &**driver;
        let ready = drive(driver, poll_fn(|cx| send.poll_ready(cx))).await;
        settle(ready, &driver.ended.borrow(), reused)?;
        let (response, mut out) = send
            .send_request(head, body.is_empty())
            .map_err(|e| failure(&e, reused))?;
        if !body.is_empty() {
            // Queued whole: `h2` sends it as the server's flow-control window allows, while
            // the response is awaited below. The body is already in memory either way.
            out.send_data(body, true).map_err(|e| failure(&e, reused))?;
        }
        let response = drive(driver, response).await;
        let response = settle(response, &driver.ended.borrow(), reused)?;
        let status = response.status().as_u16();
        let empty = read.head || status == 204 || status == 304;
        let encoding = match response.headers().get(header::CONTENT_ENCODING) {
            Some(v) if !empty => Encoding::parse(v.as_bytes()).unwrap_or(Encoding::Identity),
            _ => Encoding::Identity,
        };
        let meta = if read.meta {
            Meta::of_map(response.headers())
        } else {
            Meta::default()
        };
        let mut recv = response.into_body();
        let mut sink = Sink::new(read.keep_body, driver.limits.max_body, encoding);
        loop {
            let data = drive(driver, recv.data()).await;
            let settled = settle(data.map(Option::transpose), &driver.ended.borrow(), false);
            let Some(chunk) = settled? else {
                break;
            };
            sink.push(&chunk)?;
            // Read (kept, decoded or dropped): the server may send as much again.
            let _ = recv.flow_control().release_capacity(chunk.len());
        }
        let (body, received) = sink.finish()?;
        Ok(Response {
            status,
            body,
            received,
            close: false,
            meta,
        })
    }
}

/// Whether the first exchange's failure on a prior-knowledge connection says the server does
/// not speak HTTP/2 at all: it answered in HTTP/1.x (which `h2` reads as a broken frame), or
/// hung up on the preface without a byte. A server whose first bytes were HTTP/2 frames keeps
/// its own reason, however it then misbehaves.
fn not_h2(reason: &str, first: u8) -> bool {
    match first {
        HTTP1_ANSWER => true,
        NOTHING_YET => {
            reason.starts_with("h2: the server broke the protocol")
                || reason == "connection closed before the response completed"
                || reason == "connection reset"
        }
        _ => false,
    }
}

/// A stream's outcome, or the connection's end, as the exchange's result. A stream cut off by
/// the connection's end (a bare I/O error) takes the end's reason: the server's GOAWAY says why.
fn settle<T>(
    r: Result<Result<T, ::h2::Error>, ()>,
    ended: &Option<Ended>,
    reused: bool,
) -> Result<T, Failure> {
    match (r, ended) {
        (Ok(Ok(v)), _) => Ok(v),
        (Ok(Err(e)), Some(Err(end))) if e.is_io() => Err(failure(end, reused)),
        (Ok(Err(e)), _) => Err(failure(&e, reused)),
        (Err(()), Some(Err(end))) => Err(failure(end, reused)),
        (Err(()), _) => Err(if reused {
            Failure::Stale
        } else {
            Failure::Failed(Cow::Borrowed(
                "connection closed before the response completed",
            ))
        }),
    }
}

/// An `h2` error as a failure. A stream the server surely did not process (refused, or past a
/// graceful GOAWAY's last stream) on a reused connection is retried once on a fresh one, as a
/// stale HTTP/1.1 connection is; on a fresh connection it is the server's answer and counted
/// with its reason (a server that says GOAWAY to every new connection would otherwise read as
/// a vague `connection closed`). Anything else is counted with its reason, and a stream reset
/// (by the server, or by `h2` for what the server sent on it) keeps the connection it was on.
fn failure(e: &::h2::Error, reused: bool) -> Failure {
    let unprocessed = reused
        && e.is_remote()
        && match e.reason() {
            Some(H2Reason::REFUSED_STREAM) => e.is_reset(),
            Some(H2Reason::NO_ERROR) => e.is_go_away(),
            _ => false,
        };
    if unprocessed || (reused && e.is_io()) {
        return Failure::Stale;
    }
    if e.is_reset() {
        return Failure::Stream(reason(e));
    }
    Failure::Failed(reason(e))
}

/// A stable category for an `h2` error: counted and grouped, so never the library's text.
pub(super) fn reason(e: &::h2::Error) -> Reason {
    if let Some(io) = e.get_io() {
        return io_reason(io);
    }
    // What `h2` does with a header list past `max_header_list_size`: the stream reset with
    // PROTOCOL_ERROR when it is over (as for a malformed header block: the two look alike),
    // the connection ended with ENHANCE_YOUR_CALM when it is far over or its CONTINUATION
    // frames never end.
    match (e.is_library(), e.is_reset(), e.reason()) {
        (true, true, Some(H2Reason::PROTOCOL_ERROR)) => return Cow::Borrowed(BAD_HEADERS),
        (true, false, Some(H2Reason::ENHANCE_YOUR_CALM)) => {
            return Cow::Borrowed(HEADERS_TOO_LARGE)
        }
        _ => {}
    }
    let code = e.reason().map_or("no error code", code_name);
    let what = if e.is_reset() && e.is_remote() {
        "h2: stream reset by the server"
    } else if e.is_go_away() && e.is_remote() {
        "h2: GOAWAY from the server"
    } else if e.is_library() {
        "h2: the server broke the protocol"
    } else {
        "h2: request refused by the client library"
    };
    Cow::Owned(format!("{what} ({code})"))
}

/// An error code's name; a code the RFC does not define is one category, not one per number
/// (a hostile server could otherwise fill the reason table).
fn code_name(r: H2Reason) -> &'static str {
    match u32::from(r) {
        0 => "NO_ERROR",
        1 => "PROTOCOL_ERROR",
        2 => "INTERNAL_ERROR",
        3 => "FLOW_CONTROL_ERROR",
        4 => "SETTINGS_TIMEOUT",
        5 => "STREAM_CLOSED",
        6 => "FRAME_SIZE_ERROR",
        7 => "REFUSED_STREAM",
        8 => "CANCEL",
        9 => "COMPRESSION_ERROR",
        10 => "CONNECT_ERROR",
        11 => "ENHANCE_YOUR_CALM",
        12 => "INADEQUATE_SECURITY",
        13 => "HTTP_1_1_REQUIRED",
        _ => "an unknown error code",
    }
}

/// Headers HTTP/2 forbids (RFC 9113, 8.2.2): the connection's business in HTTP/1.1. `Host`
/// becomes `:authority`.
fn connection_specific(name: &HeaderName, value: &[u8]) -> bool {
    name == header::HOST
        || name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == "keep-alive"
        || name == "proxy-connection"
        || (name == header::TE && !value.eq_ignore_ascii_case(b"trailers"))
}

/// Credentials are never entered in HPACK's dynamic table (encoded as never-indexed), so no
/// later header on the connection can be compressed against them.
fn sensitive(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::COOKIE || name == header::PROXY_AUTHORIZATION
}

/// The user's HTTP/1.1 request (method, target, headers, body, as `vu.rs` serialised it) as an
/// HTTP/2 request on `origin`.
pub(super) fn to_h2(request: &[u8], origin: &str) -> Result<(Request<()>, Bytes), Reason> {
    let bad = || Cow::Borrowed(UNSENDABLE);
    let head_len = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?
        + 4;
    let lines = request[..head_len]
        .windows(2)
        .filter(|w| w == b"\r\n")
        .count();
    let mut slots = vec![httparse::EMPTY_HEADER; lines];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(&request[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad()),
    }
    let method =
        Method::from_bytes(parsed.method.ok_or_else(bad)?.as_bytes()).map_err(|_| bad())?;
    let path = parsed.path.ok_or_else(bad)?;
    let uri: Uri = format!("{origin}{path}").parse().map_err(|_| bad())?;
    let mut out = Request::builder()
        .method(method)
        .uri(uri)
        .version(::http::Version::HTTP_2);
    let headers = out.headers_mut().ok_or_else(bad)?;
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad())?;
        if connection_specific(&name, h.value) {
            continue;
        }
        let mut value = HeaderValue::from_bytes(h.value).map_err(|_| bad())?;
        value.set_sensitive(sensitive(&name));
        headers.append(name, value);
    }
    let body = Bytes::copy_from_slice(&request[head_len..]);
    Ok((out.body(()).map_err(|_| bad())?, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http1_request_becomes_an_h2_request_without_connection_headers() {
        let wire = b"POST /a?b=c HTTP/1.1\r\nhost: example.com:8443\r\nuser-agent: x\r\nconnection: keep-alive\r\nte: gzip\r\nauthorization: Bearer t\r\ncontent-length: 2\r\n\r\n{}";
        let (req, body) = to_h2(wire, "https://example.com:8443").unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().to_string(), "https://example.com:8443/a?b=c");
        assert_eq!(req.version(), ::http::Version::HTTP_2);
        let names: Vec<_> = req.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["user-agent", "authorization", "content-length"]);
        assert!(req.headers()[header::AUTHORIZATION].is_sensitive());
        assert_eq!(&body[..], b"{}");
    }

    #[test]
    fn error_codes_are_named_and_unknown_ones_are_one_category() {
        assert_eq!(code_name(H2Reason::ENHANCE_YOUR_CALM), "ENHANCE_YOUR_CALM");
        assert_eq!(code_name(H2Reason::from(0xdead)), "an unknown error code");
        assert_eq!(code_name(H2Reason::from(0xbeef)), "an unknown error code");
    }
}

/// Exchanges against an in-process HTTP/2 server (the `h2` crate's server side), through the
/// same `send` the users call.
#[cfg(test)]
mod exchanges {
    use std::time::Duration;

    use super::super::http::{send, Connector, Deadline};
    use super::*;
    use crate::engine::Target;

    /// A cleartext HTTP/2 server; `answer` gets each connection's request number (from 1), the
    /// request's path and query, and the stream's responder, and returns whether to end the
    /// connection gracefully after it.
    fn server(
        answer: fn(u32, &str, ::h2::server::SendResponse<Bytes>) -> bool,
    ) -> (Target, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        let Ok(mut conn) = ::h2::server::handshake(socket).await else {
                            return;
                        };
                        let mut n = 0;
                        while let Some(Ok((request, respond))) = conn.accept().await {
                            n += 1;
                            let path = request.uri().path_and_query().map_or("", |p| p.as_str());
                            if answer(n, path, respond) {
                                conn.graceful_shutdown();
                            }
                        }
                    });
                }
            });
        });
        let url = url::Url::parse(&format!("http://{addr}")).unwrap();
        let target = Target::from_url(&url)
            .unwrap()
            .with_http2(crate::modes::Http2Mode::Always);
        (target, connections)
    }

    fn ok(respond: ::h2::server::SendResponse<Bytes>, headers: &[(&str, String)]) {
        answer_with(respond, headers, Bytes::from_static(b"hello"));
    }

    fn answer_with(
        mut respond: ::h2::server::SendResponse<Bytes>,
        headers: &[(&str, String)],
        text: Bytes,
    ) {
        let mut response = ::http::Response::builder().status(200);
        for (k, v) in headers {
            response = response.header(*k, v.as_str());
        }
        if let Ok(mut body) = respond.send_response(response.body(()).unwrap(), false) {
            let _ = body.send_data(text, true);
        }
    }

    /// A request repeated on a connection reuses its translation ([`H2Conn::translate`]); one
    /// that differs is translated anew, never sent as the last one was.
    #[test]
    fn a_repeated_request_and_then_another_each_reach_the_server_as_sent() {
        let (target, _) = server(|_, path, respond| {
            answer_with(respond, &[], Bytes::copy_from_slice(path.as_bytes()));
            false
        });
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            let a: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nhost: x\r\n\r\n";
            let b: &[u8] = b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n";
            for (wire, path) in [(a, "/a?x=1"), (a, "/a?x=1"), (b, "/b"), (a, "/a?x=1")] {
                let r = send(&connector, &mut conn, wire, Reading::WHOLE, (t, &mut d)).await;
                assert_eq!(&r.unwrap().body[..], path.as_bytes());
            }
        });
    }

    /// Counts the wake-ups of the task it stands in for, and passes them on.
    struct Counting {
        task: Waker,
        wakes: Arc<std::sync::atomic::AtomicU32>,
    }

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            self.task.wake_by_ref();
        }
    }

    /// The user's task is woken by its socket only: about once per exchange, when the response
    /// arrives. `h2`'s own wake-ups (a frame queued, a response read, a stream closed; about
    /// three per exchange) would each poll the whole user again for nothing ([`TaskWaker`]).
    /// Counted over many exchanges, so a response that arrives in two reads now and then does
    /// not decide it.
    #[test]
    fn only_the_socket_wakes_the_users_task() {
        let (target, _) = server(|_, _, respond| {
            ok(respond, &[]);
            false
        });
        let connector = Connector::new(&target, Limits::default()).unwrap();
        const EXCHANGES: u32 = 50;
        let wakes = Arc::new(std::sync::atomic::AtomicU32::new(0));
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            let mut exchanges = pin!(async {
                for _ in 0..EXCHANGES {
                    send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d))
                        .await
                        .unwrap();
                }
            });
            poll_fn(|cx| {
                let counting = Waker::from(Arc::new(Counting {
                    task: cx.waker().clone(),
                    wakes: wakes.clone(),
                }));
                exchanges.as_mut().poll(&mut Context::from_waker(&counting))
            })
            .await;
        });
        let wakes = wakes.load(Ordering::SeqCst);
        assert!(
            wakes <= EXCHANGES * 3 / 2,
            "{wakes} wake-ups for {EXCHANGES} exchanges"
        );
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A server that ends every connection gracefully (GOAWAY `NO_ERROR`) after one answer: the
    /// request that finds the connection going away was never processed, and is retried on a
    /// fresh one, as a stale HTTP/1.1 connection is. Nothing fails.
    #[test]
    fn a_graceful_goaway_is_a_fresh_connection_not_a_failure() {
        let (target, connections) = server(|_, _, respond| {
            ok(respond, &[]);
            true
        });
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            for _ in 0..3 {
                let r = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d)).await;
                assert_eq!(&r.unwrap().body[..], b"hello");
            }
        });
        assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 2);
        assert_eq!(connector.protocol(), Some(crate::stats::Protocol::H2));
    }

    /// A header list past the head cap fails the request with a reason, at once: no hang, no
    /// buffer past the cap. Within the cap, headers are read (`Set-Cookie`, `Location`).
    #[test]
    fn a_header_list_past_the_head_cap_fails_and_one_within_is_read() {
        let (target, _) = server(|n, _, respond| {
            let big = "x".repeat(match n {
                1 => 100,
                2 => 20 * 1024,
                _ => 64 * 1024,
            });
            ok(
                respond,
                &[
                    ("set-cookie", "a=1".into()),
                    ("x-big", big),
                    ("location", "/next".into()),
                ],
            );
            false
        });
        let limits = Limits {
            max_head: 16 * 1024,
            ..Limits::default()
        };
        let connector = Connector::new(&target, limits).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(5);
            let read = Reading {
                meta: true,
                ..Reading::WHOLE
            };
            let r = send(&connector, &mut conn, GET, read, (t, &mut d))
                .await
                .unwrap();
            assert_eq!(r.meta.set_cookies, ["a=1"]);
            assert_eq!(r.meta.location.as_deref(), Some("/next"));
            // Over the cap, then far over it (which `h2` answers by ending the connection).
            for reason in [BAD_HEADERS, HEADERS_TOO_LARGE] {
                let e = send(&connector, &mut conn, GET, read, (t, &mut d))
                    .await
                    .unwrap_err();
                assert_eq!(e, reason);
            }
        });
    }
}
