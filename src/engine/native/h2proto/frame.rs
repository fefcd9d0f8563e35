//! HTTP/2 frames (RFC 9113, 4 and 6) without the I/O: the header every frame starts with, the
//! payloads this side reads (padding removed, sizes checked), and the frames it writes.

/// Frame types.
pub(crate) const DATA: u8 = 0;
pub(crate) const HEADERS: u8 = 1;
pub(crate) const PRIORITY: u8 = 2;
pub(crate) const RST_STREAM: u8 = 3;
pub(crate) const SETTINGS: u8 = 4;
pub(crate) const PUSH_PROMISE: u8 = 5;
pub(crate) const PING: u8 = 6;
pub(crate) const GOAWAY: u8 = 7;
pub(crate) const WINDOW_UPDATE: u8 = 8;
pub(crate) const CONTINUATION: u8 = 9;

/// Flags.
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

/// Error codes (RFC 9113, 7).
pub(crate) const NO_ERROR: u32 = 0;
pub(crate) const PROTOCOL_ERROR: u32 = 1;
pub(crate) const FLOW_CONTROL_ERROR: u32 = 3;
pub(crate) const STREAM_CLOSED: u32 = 5;
pub(crate) const FRAME_SIZE_ERROR: u32 = 6;
pub(crate) const REFUSED_STREAM: u32 = 7;
pub(crate) const CANCEL: u32 = 8;
pub(crate) const COMPRESSION_ERROR: u32 = 9;
pub(crate) const ENHANCE_YOUR_CALM: u32 = 11;

/// Settings.
pub(crate) const HEADER_TABLE_SIZE: u16 = 1;
pub(crate) const ENABLE_PUSH: u16 = 2;
pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 3;
pub(crate) const INITIAL_WINDOW_SIZE: u16 = 4;
pub(crate) const MAX_FRAME_SIZE: u16 = 5;
pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 6;

/// The client's connection preface.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// A frame header's size.
pub(crate) const HEAD_LEN: usize = 9;
/// The frame size every peer accepts, and the one this side announces (so the most a frame
/// from the server may carry).
pub(crate) const DEFAULT_MAX_FRAME: usize = 16_384;
/// The largest flow-control window (2^31 - 1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
}

impl Head {
    /// The header at the start of `b`, which holds at least [`HEAD_LEN`] bytes.
    pub(crate) fn parse(b: &[u8]) -> Head {
        Head {
            len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A payload without its padding (DATA, HEADERS: RFC 9113, 6.1): padding as long as the
/// payload or longer is a protocol error.
pub(crate) fn unpad<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], u32> {
    if !head.has(PADDED) {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or(FRAME_SIZE_ERROR)?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
        .ok_or(PROTOCOL_ERROR)
}

/// A HEADERS payload's header block fragment: padding and the priority fields removed.
pub(crate) fn header_fragment<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], u32> {
    let block = unpad(head, payload)?;
    match head.has(PRIORITY_FLAG) {
        true => block.get(5..).ok_or(FRAME_SIZE_ERROR),
        false => Ok(block),
    }
}

/// The first 4 bytes of a payload as a number (RST_STREAM's code, WINDOW_UPDATE's increment,
/// GOAWAY's last stream); `payload` is at least 4 bytes long.
pub(crate) fn u32_at(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ])
}

/// The (identifier, value) pairs of a SETTINGS payload whose length is a multiple of 6.
pub(crate) fn settings(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload
        .chunks_exact(6)
        .map(|s| (u16::from_be_bytes([s[0], s[1]]), u32_at(s, 2)))
}

/// Appends a frame header.
pub(crate) fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let l = (len as u32).to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

pub(crate) fn write_settings(out: &mut Vec<u8>, entries: &[(u16, u32)]) {
    write_head(out, entries.len() * 6, SETTINGS, 0, 0);
    for (id, value) in entries {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub(crate) fn write_u32_frame(out: &mut Vec<u8>, kind: u8, stream: u32, value: u32) {
    write_head(out, 4, kind, 0, stream);
    out.extend_from_slice(&value.to_be_bytes());
}

pub(crate) fn write_goaway(out: &mut Vec<u8>, last: u32, code: u32) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&last.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

/// A header block as HEADERS and as many CONTINUATION frames as `max_frame` requires.
pub(crate) fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1)).peekable();
    let mut kind = HEADERS;
    let mut flags = if end_stream { END_STREAM } else { 0 };
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        write_head(
            out,
            chunk.len(),
            kind,
            flags | if last { END_HEADERS } else { 0 },
            stream,
        );
        out.extend_from_slice(chunk);
        if last {
            return;
        }
        kind = CONTINUATION;
        flags = 0;
    }
}

pub(crate) fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    write_head(
        out,
        data.len(),
        DATA,
        if end_stream { END_STREAM } else { 0 },
        stream,
    );
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_the_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        write_head(&mut out, 0x01_0203, HEADERS, END_HEADERS, 7);
        out[5] |= 0x80;
        let head = Head::parse(&out);
        assert_eq!(
            head,
            Head {
                len: 0x01_0203,
                kind: HEADERS,
                flags: END_HEADERS,
                stream: 7
            }
        );
    }

    #[test]
    fn padding_and_priority_are_removed_and_bad_padding_refused() {
        let head = |flags| Head {
            len: 0,
            kind: HEADERS,
            flags,
            stream: 1,
        };
        assert_eq!(unpad(&head(PADDED), &[2, b'a', 0, 0]), Ok(&b"a"[..]));
        assert_eq!(unpad(&head(PADDED), &[4, b'a', 0, 0]), Err(PROTOCOL_ERROR));
        assert_eq!(unpad(&head(PADDED), &[]), Err(FRAME_SIZE_ERROR));
        let both = head(PADDED | PRIORITY_FLAG);
        assert_eq!(
            header_fragment(&both, &[1, 0, 0, 0, 3, 9, 0x88, 0]),
            Ok(&[0x88][..])
        );
        assert_eq!(
            header_fragment(&head(PRIORITY_FLAG), &[0, 0]),
            Err(FRAME_SIZE_ERROR)
        );
    }

    /// A block longer than the frame size goes out as HEADERS and CONTINUATION frames, only
    /// the last with END_HEADERS, END_STREAM on the HEADERS.
    #[test]
    fn a_long_block_is_split_into_continuations() {
        let mut out = Vec::new();
        write_headers(&mut out, 3, &[7; 10], true, 4);
        let mut at = 0;
        let mut seen = Vec::new();
        while at < out.len() {
            let h = Head::parse(&out[at..]);
            seen.push((h.kind, h.flags, h.len));
            at += HEAD_LEN + h.len;
        }
        assert_eq!(
            seen,
            [
                (HEADERS, END_STREAM, 4),
                (CONTINUATION, 0, 4),
                (CONTINUATION, END_HEADERS, 2)
            ]
        );
        out.clear();
        write_headers(&mut out, 3, &[], false, 4);
        assert_eq!(Head::parse(&out).flags, END_HEADERS);
    }

    #[test]
    fn settings_are_read_in_pairs() {
        let mut out = Vec::new();
        write_settings(
            &mut out,
            &[(ENABLE_PUSH, 0), (INITIAL_WINDOW_SIZE, 1 << 20)],
        );
        let read: Vec<_> = settings(&out[HEAD_LEN..]).collect();
        assert_eq!(read, [(ENABLE_PUSH, 0), (INITIAL_WINDOW_SIZE, 1 << 20)]);
    }
}
