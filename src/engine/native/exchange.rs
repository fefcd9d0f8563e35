//! What one exchange takes and gives, whichever protocol the connection speaks: the socket
//! under it, the limits it reads within, how a response is to be read, the response, and why
//! an exchange failed. Shared by HTTP/1.1 (`http.rs`) and HTTP/2 (`http2.rs`), so neither
//! imports the other's internals: `http.rs` opens connections and chooses the protocol,
//! `http2.rs` runs HTTP/2's exchanges.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

use super::{recorder::Reason, wire::Meta};
use crate::stats::Received;

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

/// The socket under a connection of either protocol.
pub(super) enum Stream {
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

/// Why an exchange failed, and whether a fresh connection may simply retry it.
pub(crate) enum Failure {
    /// A reused connection was already closed by the server: nothing was processed.
    Stale,
    Failed(Reason),
    /// The request's own HTTP/2 stream failed (reset by the server, or by this side for what
    /// the server sent on it: a malformed head, one past the cap, a body past its cap): the
    /// request failed, and the connection (every other stream's) is as good as before, so it
    /// is kept.
    Stream(Reason),
}

/// What the parser (`wire.rs`) or the body sink refuses is a failure no fresh connection fixes.
impl From<Reason> for Failure {
    fn from(reason: Reason) -> Failure {
        Failure::Failed(reason)
    }
}

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
