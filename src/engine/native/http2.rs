//! HTTP/2 on a virtual user's one connection, with this engine's own framing, HPACK and flow
//! control (`h2proto/`): the `h2` crate spent about 29,000 of the 31,000 instructions of a
//! request, and h2load's figures were out of its reach (bench/README.md, HTTP/2).
//!
//! The engine stays wrk-like: no connection task, no channel. The socket is read and written
//! here, inside the user's own task, only while an exchange is under way (see [`drive`]).
//! Between exchanges nothing reads the socket, as with HTTP/1.1: frames the server sends then
//! (a PING, a GOAWAY) wait in the kernel until the next request, whose exchange answers them.
//!
//! A request arrives serialised as HTTP/1.1 (`vu.rs` builds one form for both protocols) and is
//! turned into HTTP/2 header fields here, once per distinct request on a handle (a repeated one
//! reuses them: [`H2Conn::translate`]); the connection encodes them (`h2proto/encoder.rs`),
//! and sends a repeated request's block again while the server's table is unchanged. The response is read into the same [`Response`] as
//! HTTP/1.1's, its body through the same sink (`body.rs`: the body cap, decoding).
//!
//! One stream at a time per user unless the scenario gives each user several lanes
//! (`defaults.streams_per_user`, `lanes.rs`): the lanes then share one connection, each with
//! its own handle on it ([`H2Conn::lane`]), and the connection is read and written once per
//! wake-up of their user, after all of them ([`Shared`]). `max_concurrent_streams` is
//! honoured: a request past it waits for a stream to close; a server announcing zero streams
//! turns that wait into the request's timeout, never a hang past it.

use std::{
    borrow::Cow,
    cell::{Cell, RefCell},
    future::poll_fn,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{
    body::Sink,
    decode::Encoding,
    exchange::{Failure, Limits, Reading, Response, Stream},
    h2proto::{
        conn::{Conn, H2Error},
        encoder::{FieldList, RequestBlock},
        frame,
    },
    recorder::Reason,
    wire::io_reason,
};

/// A response header list past the head cap (HTTP/1.1's `header too large`).
pub(super) const HEADERS_TOO_LARGE: &str =
    "h2: response header list too large (raise defaults.max_head_kib)";
/// A malformed response header block (its wording kept from the `h2` crate's days, when a
/// list over the cap read the same).
pub(super) const BAD_HEADERS: &str =
    "h2: malformed response headers, or a header list past defaults.max_head_kib";
/// A reason of its own for a TLS server that would not speak HTTP/2 under `http2: always`.
pub(super) const REFUSED: &str = "h2: the server does not speak HTTP/2 (ALPN) and http2 is always";
/// What to do about [`REFUSED`] and its cleartext twin, for the one log line that explains it.
pub(super) const FIX: &str = "set `http2: auto` (h2 where offered, else HTTP/1.1) or `never` in the scenario's defaults, or pass --http2 auto";
/// A cleartext server that did not answer HTTP/2's preface under `http2: always`.
pub(super) const NOT_H2: &str =
    "h2: the server did not answer in HTTP/2 (prior knowledge) and http2 is always";
/// A serialised request that is not one (never from `vu.rs`'s own serialiser).
const UNSENDABLE: &str = "h2: the request could not be sent as HTTP/2";
/// A connection that ended before the response did.
const CLOSED: &str = "connection closed before the response completed";

/// The read buffer to begin with (as HTTP/1.1's), and the most it grows to: a whole frame of
/// the largest size this side accepts, and more. An idle user's connection holds the first.
const READ_BUF: usize = 8 * 1024;
const READ_BUF_MAX: usize = 32 * 1024;
/// Reads per poll before the task lets others run: a server that keeps the socket readable (a
/// SETTINGS flood) may not hold the user's task.
const READS_PER_POLL: usize = 16;

/// One handle on an HTTP/2 connection: what opens streams on it, shared with the other lanes
/// of its user (none unless `defaults.streams_per_user` is above 1).
pub(crate) struct H2Conn {
    driver: Rc<Driver>,
    /// The last request, as the user serialised it and as a header block ([`Translated`]).
    last: Option<Translated>,
    /// A response was already read here (a connection the server since closed is retried once).
    used: bool,
}

/// The connection: its socket and state, read and written by whichever handle has an exchange
/// under way ([`drive`]), or once per wake-up of the lanes sharing it ([`Shared`]).
struct Driver {
    io: RefCell<Io>,
    /// Every request's `:scheme` and `:authority`.
    scheme: String,
    authority: String,
    /// Cleartext HTTP/2 without asking first: a server that answers with HTTP/1.x, or hangs up
    /// without a byte, does not speak it ([`NOT_H2`]).
    prior_knowledge: bool,
    limits: Limits,
    /// Several lanes share the connection: their exchanges leave the I/O to [`Shared::poll`].
    shared: Cell<bool>,
}

/// The socket, what was read of it, and the protocol's state.
struct Io {
    stream: Stream,
    conn: Conn,
    buf: Vec<u8>,
    /// `buf[start..filled]` is read and not yet taken by `conn` (a frame not yet whole).
    start: usize,
    filled: usize,
    /// The server sent a byte.
    heard: bool,
}

/// A connection its lanes share, as `lanes::all` polls it once per wake-up of their user;
/// not kept alive by this (the lanes' handles do that).
pub(crate) struct Shared(std::rc::Weak<Driver>);

impl Shared {
    /// Reads and writes what there is on the connection, and wakes the task when a lane may
    /// proceed; `false` once it has ended or no lane holds it any more (it is then not polled
    /// again).
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> bool {
        let Some(driver) = self.0.upgrade() else {
            return false;
        };
        let Ok(mut io) = driver.io.try_borrow_mut() else {
            return true;
        };
        if io.conn.ended().is_some() {
            return false;
        }
        io.pump(cx, driver.prior_knowledge);
        if io.conn.take_progress() {
            cx.waker().wake_by_ref();
        }
        io.conn.ended().is_none()
    }
}

/// A new connection: the client preface and settings are queued, and go out with the first
/// exchange, which also reads the server's.
pub(super) async fn handshake(
    stream: Stream,
    origin: String,
    limits: Limits,
    prior_knowledge: bool,
) -> Result<H2Conn, Reason> {
    let (scheme, authority) = origin.split_once("://").ok_or(Cow::Borrowed(UNSENDABLE))?;
    let io = Io {
        stream,
        conn: Conn::new(limits.max_head),
        buf: vec![0; READ_BUF],
        start: 0,
        filled: 0,
        heard: false,
    };
    let driver = Driver {
        io: RefCell::new(io),
        scheme: scheme.to_string(),
        authority: authority.to_string(),
        prior_knowledge,
        limits,
        shared: Cell::new(false),
    };
    Ok(H2Conn {
        driver: Rc::new(driver),
        last: None,
        used: false,
    })
}

impl Io {
    /// Writes what is queued, then reads and takes in what the server sent, until the socket
    /// has no more (its readiness then wakes the task) or [`READS_PER_POLL`] reads.
    fn pump(&mut self, cx: &mut Context<'_>, prior_knowledge: bool) {
        self.conn.queue_data();
        self.flush(cx, prior_knowledge);
        for _ in 0..READS_PER_POLL {
            match self.read(cx, prior_knowledge) {
                Poll::Ready(true) => self.conn.queue_data(),
                Poll::Ready(false) => break,
                Poll::Pending => {
                    self.flush(cx, prior_knowledge);
                    return;
                }
            }
        }
        if self.conn.ended().is_none() {
            // More may be waiting: the task comes back to it after the others had their turn.
            cx.waker().wake_by_ref();
        }
        self.flush(cx, prior_knowledge);
    }

    /// One read; `Ready(false)` when the connection has ended.
    fn read(&mut self, cx: &mut Context<'_>, prior_knowledge: bool) -> Poll<bool> {
        if self.conn.ended().is_some() {
            return Poll::Ready(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.filled == self.buf.len() {
            // A frame larger than the buffer, not yet whole (frames past 16 KiB are refused).
            let grown = (self.buf.len() * 2).min(READ_BUF_MAX);
            self.buf.resize(grown, 0);
        }
        let mut read = ReadBuf::new(&mut self.buf[self.filled..]);
        let n = match Pin::new(&mut self.stream).poll_read(cx, &mut read) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => {
                let lost = self.lost(H2Error::Io(io_reason(&e)), prior_knowledge);
                self.conn.end(lost);
                return Poll::Ready(false);
            }
            Poll::Ready(Ok(())) => read.filled().len(),
        };
        if n == 0 {
            let lost = self.lost(H2Error::Closed, prior_knowledge);
            self.conn.end(lost);
            return Poll::Ready(false);
        }
        let new = &self.buf[self.filled..self.filled + n];
        if prior_knowledge && !self.heard && new[..n.min(5)] == b"HTTP/"[..n.min(5)] {
            self.conn.end(H2Error::NotH2);
            return Poll::Ready(false);
        }
        self.heard = true;
        self.filled += n;
        self.start += self.conn.recv(&self.buf[self.start..self.filled]);
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        Poll::Ready(true)
    }

    /// A server that hung up on the preface without a byte does not speak HTTP/2.
    fn lost(&self, e: H2Error, prior_knowledge: bool) -> H2Error {
        let hung_up = match &e {
            H2Error::Closed => true,
            H2Error::Io(r) => r == "connection reset" || r == "broken pipe",
            _ => false,
        };
        match prior_knowledge && !self.heard && hung_up {
            true => H2Error::NotH2,
            false => e,
        }
    }

    /// Writes what is queued until it is all out or the socket is full (its readiness then
    /// wakes the task).
    fn flush(&mut self, cx: &mut Context<'_>, prior_knowledge: bool) {
        let mut wrote = false;
        while !self.conn.to_write().is_empty() {
            let pending = self.conn.to_write();
            match Pin::new(&mut self.stream).poll_write(cx, pending) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    self.conn.wrote(n);
                    wrote = true;
                }
                Poll::Pending => return,
                failed => {
                    let e = match failed {
                        Poll::Ready(Err(e)) => H2Error::Io(io_reason(&e)),
                        _ => H2Error::Closed,
                    };
                    let all = self.conn.to_write().len();
                    self.conn.wrote(all);
                    let lost = self.lost(e, prior_knowledge);
                    self.conn.end(lost);
                    return;
                }
            }
        }
        if wrote {
            // TLS: the records the writes made go out now, not with the next write.
            let _ = Pin::new(&mut self.stream).poll_flush(cx);
        }
    }
}

/// Polls `f` on the connection's state until it is ready, reading and writing the socket in
/// between (in the user's own task: its socket's readiness wakes it). Lanes sharing the
/// connection ([`Driver::shared`]) only poll `f`: the connection is read and written once per
/// wake-up of their user, after all of them ([`Shared`]), which wakes the task again when
/// that settles a lane's stream. Every end of the connection settles `f` (its streams fail).
async fn drive<T>(driver: &Driver, mut f: impl FnMut(&mut Conn) -> Poll<T>) -> T {
    poll_fn(|cx| {
        let mut io = driver.io.borrow_mut();
        if let Poll::Ready(v) = f(&mut io.conn) {
            return Poll::Ready(v);
        }
        if driver.shared.get() {
            return Poll::Pending;
        }
        io.pump(cx, driver.prior_knowledge);
        f(&mut io.conn)
    })
    .await
}

/// A stream with an exchange on it: forgotten by the connection when the exchange ends, or is
/// given up (its timeout, the end of the run), and then reset if still open.
struct Open<'a> {
    driver: &'a Driver,
    id: u32,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if let Ok(mut io) = self.driver.io.try_borrow_mut() {
            io.conn.finish(self.id);
        }
    }
}

/// A request's place in the queue for a stream slot (`Conn::try_open`): given back if the
/// exchange is given up while it waits, so the requests behind it are not held.
struct Queued<'a> {
    driver: &'a Driver,
    ticket: Option<u64>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let (Some(t), Ok(mut io)) = (self.ticket, self.driver.io.try_borrow_mut()) {
            io.conn.leave_queue(t);
        }
    }
}

/// A request as the user serialised it (HTTP/1.1) and as header fields and body
/// ([`H2Conn::translate`]). Bounded: one request per handle, the size of the user's own.
struct Translated {
    wire: Vec<u8>,
    block: RequestBlock,
    body: Bytes,
}

impl H2Conn {
    /// Another handle on this connection, for another lane of the same user: its own request
    /// translation, the same connection under both. From now on the connection's exchanges
    /// leave its I/O to whoever holds its [`Shared`].
    pub(super) fn lane(&self) -> H2Conn {
        self.driver.shared.set(true);
        H2Conn {
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

    /// Whether the connection takes no more streams (GOAWAY, an error, the socket closed).
    pub(super) fn has_ended(&self) -> bool {
        !self.driver.io.borrow().conn.accepting()
    }

    /// Waits for the server's SETTINGS: lanes that start at once on a new connection then open
    /// no more streams than its `max_concurrent_streams`. A server that does not speak HTTP/2
    /// fails here as its first exchange would ([`NOT_H2`]).
    pub(super) async fn settings_in(&mut self) -> Result<(), Reason> {
        let settled = drive(&self.driver, |c| match c.ended() {
            Some(e) => Poll::Ready(Err(e.clone())),
            None if c.got_settings() => Poll::Ready(Ok(())),
            None => Poll::Pending,
        })
        .await;
        settled.map_err(|e| reason(&e))
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
        let refused = {
            let io = self.driver.io.borrow();
            match (io.conn.accepting(), reused) {
                (true, _) => None,
                // Gone since the last exchange (a GOAWAY that came with its response): nothing
                // is sent here, so a fresh connection takes the request.
                (false, true) => Some(Failure::Stale),
                (false, false) => Some(failure(io.conn.ended().unwrap_or(&UNPROCESSED), false)),
            }
        };
        if let Some(f) = refused {
            return Err(f);
        }
        self.translate(request)?;
        let last = self.last.as_mut().ok_or(Cow::Borrowed(UNSENDABLE))?;
        let driver = &*self.driver;
        let mut queued = Queued {
            driver,
            ticket: None,
        };
        let opened = drive(driver, |c| {
            let body = (&last.body, read.meta);
            c.try_open(&mut last.block, body, &mut queued.ticket)
        });
        let id = opened.await.map_err(|e| failure(&e, reused))?;
        let open = Open { driver, id };
        let head = drive(driver, |c| c.poll_head(id))
            .await
            .map_err(|e| failure(&e, reused))?;
        let empty = read.head || head.status == 204 || head.status == 304;
        let encoding = if empty {
            Encoding::Identity
        } else {
            head.encoding
        };
        let mut sink = Sink::new(read.keep_body, driver.limits.max_body, encoding);
        let mut push = |bytes: &[u8]| sink.push(bytes);
        match drive(driver, |c| c.poll_body(id, &mut push)).await {
            Err(e) => return Err(failure(&e, false)),
            // Too large or badly encoded: this stream's failure, reset when `open` goes.
            Ok(Err(reason)) => return Err(Failure::Stream(reason)),
            Ok(Ok(())) => {}
        }
        drop(open);
        let (body, received) = sink.finish().map_err(Failure::Stream)?;
        Ok(Response {
            status: head.status,
            body,
            received,
            close: false,
            meta: head.meta,
        })
    }

    /// The user's serialised request as header fields and body: built anew only when it
    /// differs from the last one on this handle. A user repeating a request (the usual load)
    /// costs a comparison, not a parse.
    fn translate(&mut self, request: &[u8]) -> Result<(), Reason> {
        if matches!(&self.last, Some(last) if last.wire == request) {
            return Ok(());
        }
        let driver = &self.driver;
        let (mut wire, mut block) = match self.last.take() {
            Some(last) => (last.wire, last.block),
            None => Default::default(),
        };
        let body = to_h2(
            request,
            &driver.scheme,
            &driver.authority,
            block.fields_mut(),
        )?;
        wire.clear();
        wire.extend_from_slice(request);
        self.last = Some(Translated { wire, block, body });
        Ok(())
    }
}

/// A stream refused by a graceful GOAWAY: never processed.
const UNPROCESSED: H2Error = H2Error::GoAway {
    code: frame::NO_ERROR,
    processed: false,
};

/// A stream's or the connection's failure as the exchange's. A stream the server surely did
/// not process (refused, past a graceful GOAWAY's last stream, or on a connection found closed)
/// on a reused connection is retried once on a fresh one, as a stale HTTP/1.1 connection is;
/// on a fresh connection it is the server's answer and counted with its reason (a server that
/// says GOAWAY to every new connection would otherwise read as a vague `connection closed`).
/// A stream's own failure keeps the connection it was on.
fn failure(e: &H2Error, reused: bool) -> Failure {
    let unprocessed = match e {
        H2Error::Io(_) | H2Error::Closed => true,
        H2Error::GoAway { code, processed } => *code == frame::NO_ERROR && !processed,
        H2Error::Reset(code) => *code == frame::REFUSED_STREAM,
        _ => false,
    };
    if reused && unprocessed {
        return Failure::Stale;
    }
    match e {
        H2Error::Reset(_) | H2Error::BadHeaders | H2Error::HeadersTooLarge { stream: true } => {
            Failure::Stream(reason(e))
        }
        _ => Failure::Failed(reason(e)),
    }
}

/// A stable category for a failure: counted and grouped.
fn reason(e: &H2Error) -> Reason {
    match e {
        H2Error::Io(r) => r.clone(),
        H2Error::Closed => Cow::Borrowed(CLOSED),
        H2Error::NotH2 => Cow::Borrowed(NOT_H2),
        H2Error::GoAway { code, .. } => {
            Cow::Owned(format!("h2: GOAWAY from the server ({})", code_name(*code)))
        }
        H2Error::Reset(code) => Cow::Owned(format!(
            "h2: stream reset by the server ({})",
            code_name(*code)
        )),
        H2Error::Protocol(code) => Cow::Owned(format!(
            "h2: the server broke the protocol ({})",
            code_name(*code)
        )),
        H2Error::HeadersTooLarge { .. } => Cow::Borrowed(HEADERS_TOO_LARGE),
        H2Error::BadHeaders => Cow::Borrowed(BAD_HEADERS),
    }
}

/// An error code's name; a code the RFC does not define is one category, not one per number
/// (a hostile server could otherwise fill the reason table).
fn code_name(code: u32) -> &'static str {
    match code {
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
fn connection_specific(name: &[u8], value: &[u8]) -> bool {
    matches!(
        name,
        b"host"
            | b"connection"
            | b"transfer-encoding"
            | b"upgrade"
            | b"keep-alive"
            | b"proxy-connection"
    ) || (name == b"te" && !value.eq_ignore_ascii_case(b"trailers"))
}

/// The user's HTTP/1.1 request (method, target, headers, body, as `vu.rs` serialised it) as
/// HTTP/2 header fields (into `fields`, emptied first) and body.
fn to_h2(
    request: &[u8],
    scheme: &str,
    authority: &str,
    fields: &mut FieldList,
) -> Result<Bytes, Reason> {
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
    let method = parsed.method.ok_or_else(bad)?;
    let path = parsed.path.filter(|p| !p.is_empty()).ok_or_else(bad)?;
    fields.clear();
    for (name, value) in [
        (":method", method),
        (":scheme", scheme),
        (":authority", authority),
        (":path", path),
    ] {
        fields.push(name.as_bytes(), value.as_bytes());
    }
    let mut name = Vec::new();
    for h in parsed.headers.iter() {
        name.clear();
        name.extend(h.name.bytes().map(|b| b.to_ascii_lowercase()));
        if !connection_specific(&name, h.value) {
            fields.push(&name, h.value);
        }
    }
    Ok(Bytes::copy_from_slice(&request[head_len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http1_request_becomes_an_h2_block_without_connection_headers() {
        let wire = b"POST /a?b=c HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: x\r\nconnection: keep-alive\r\nte: gzip\r\nAuthorization: Bearer t\r\ncontent-length: 2\r\n\r\n{}";
        let mut list = FieldList::default();
        let body = to_h2(wire, "https", "example.com:8443", &mut list).unwrap();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let fields: Vec<_> = list
            .iter()
            .map(|(n, v)| format!("{}: {}", text(n), text(v)))
            .collect();
        assert_eq!(
            fields,
            [
                ":method: POST",
                ":scheme: https",
                ":authority: example.com:8443",
                ":path: /a?b=c",
                "user-agent: x",
                "authorization: Bearer t",
                "content-length: 2"
            ]
        );
        assert_eq!(&body[..], b"{}");
        assert_eq!(
            to_h2(b"GET / HTTP/1.1\r\n", "http", "x", &mut list),
            Err(Cow::Borrowed(UNSENDABLE))
        );
    }

    #[test]
    fn error_codes_are_named_and_unknown_ones_are_one_category() {
        assert_eq!(code_name(11), "ENHANCE_YOUR_CALM");
        assert_eq!(code_name(0xdead), "an unknown error code");
        assert_eq!(code_name(0xbeef), "an unknown error code");
    }

    /// Which failures are retried on a fresh connection (never processed, on a reused one),
    /// which keep the connection (the stream's own), and the reasons' words.
    #[test]
    fn failures_are_retried_kept_or_counted_as_before() {
        let stale = |e: H2Error| matches!(failure(&e, true), Failure::Stale);
        assert!(stale(UNPROCESSED));
        assert!(stale(H2Error::Reset(frame::REFUSED_STREAM)));
        assert!(stale(H2Error::Closed));
        assert!(!stale(H2Error::GoAway {
            code: 11,
            processed: false
        }));
        assert!(!stale(H2Error::Reset(2)));
        let Failure::Failed(r) = failure(&UNPROCESSED, false) else {
            panic!("a fresh connection's GOAWAY is counted")
        };
        assert_eq!(r, "h2: GOAWAY from the server (NO_ERROR)");
        let Failure::Stream(r) = failure(&H2Error::Reset(2), true) else {
            panic!("a reset keeps the connection")
        };
        assert_eq!(r, "h2: stream reset by the server (INTERNAL_ERROR)");
        assert!(matches!(
            failure(&H2Error::HeadersTooLarge { stream: true }, false),
            Failure::Stream(r) if r == HEADERS_TOO_LARGE
        ));
        assert!(matches!(
            failure(&H2Error::Protocol(6), true),
            Failure::Failed(r) if r == "h2: the server broke the protocol (FRAME_SIZE_ERROR)"
        ));
    }
}

/// Exchanges against an in-process HTTP/2 server (the `h2` crate's server side), through the
/// same `send` the users call.
#[cfg(test)]
mod exchanges {
    use std::{
        future::Future,
        pin::pin,
        sync::{atomic::Ordering, Arc},
        task::Waker,
        time::Duration,
    };

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

    /// A body larger than both windows this side grants (1 MiB a stream, 2 MiB the
    /// connection) arrives whole, twice on one connection: the window updates go out as it is
    /// read, and frames of up to 16 KiB grow the read buffer past its first 8 KiB.
    #[test]
    fn a_body_past_the_windows_arrives_whole() {
        const SIZE: usize = 3 * 1024 * 1024 + 7;
        let (target, connections) = server(|_, _, respond| {
            answer_with(respond, &[], Bytes::from(vec![b'z'; SIZE]));
            false
        });
        let connector = Connector::new(&target, Limits::default()).unwrap();
        run(async {
            let mut d = Deadline::new();
            let mut conn = None;
            let t = Duration::from_secs(10);
            for _ in 0..2 {
                let r = send(&connector, &mut conn, GET, Reading::WHOLE, (t, &mut d)).await;
                let body = r.unwrap().body;
                assert_eq!(body.len(), SIZE);
                assert!(body.iter().all(|b| *b == b'z'));
            }
        });
        assert_eq!(connections.load(Ordering::SeqCst), 1);
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
                2 => 12 * 1024,
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
            max_head: 8 * 1024,
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
            // Over the cap (the block in one frame: the stream fails, the connection stays),
            // then far over it (in CONTINUATION frames past the cap: the connection ends).
            for reason in [HEADERS_TOO_LARGE, HEADERS_TOO_LARGE] {
                let e = send(&connector, &mut conn, GET, read, (t, &mut d))
                    .await
                    .unwrap_err();
                assert_eq!(e, reason);
            }
        });
    }
}
