//! HTTP/1.1 on the wire, without the I/O: where a response head ends, what it says (status,
//! framing, connection, encoding, the headers a cookie jar or a redirect needs), chunk sizes,
//! and the failure reasons of a connection. Shared by the client (`http.rs`) and the proxy
//! tunnel (`proxy.rs`), which otherwise would import each other.

use std::{borrow::Cow, io};

use super::{decode::Encoding, recorder::Reason};
use crate::tls;

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
pub(super) struct Head {
    pub(super) status: u16,
    /// `None` for an interim (1xx) response.
    pub(super) framing: Option<Framing>,
    pub(super) close: bool,
    /// The body's `Content-Encoding`, when this client undoes it.
    pub(super) encoding: Encoding,
    pub(super) meta: Meta,
}

/// The most response headers a head may carry.
const MAX_HEADERS: usize = 256;
/// No real chunk is a terabyte; a size beyond this is a malformed (or hostile) response.
const MAX_CHUNK: u64 = 1 << 40;

/// A response this client cannot read, by what is wrong with it.
pub(super) fn malformed(reason: &'static str) -> Reason {
    Cow::Borrowed(reason)
}

/// A body a check reads that is over the body cap.
pub(super) fn too_large(cap: usize) -> Reason {
    Cow::Owned(format!(
        "response too large (a body that a check reads is capped at {} KiB; raise defaults.max_body_mib)",
        cap / 1024
    ))
}

/// The end of the head (just past its empty line) once it has arrived. `scanned` remembers how
/// far earlier calls looked, so each byte is searched about once.
pub(super) fn head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
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
pub(super) fn parse_head(bytes: &[u8], head: bool, meta: bool) -> Result<Head, Reason> {
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
pub(super) fn chunk_size(line: &[u8]) -> Result<usize, Reason> {
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
) -> Result<(Framing, bool, Encoding), Reason> {
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
                .ok_or(Cow::Borrowed("malformed HTTP response"))?;
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

/// How a response body is delimited.
pub(super) enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
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
