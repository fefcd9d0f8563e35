//! An HTTP/2 client connection without the I/O (RFC 9113): what this side writes (the preface,
//! its settings, requests, bodies as the windows allow, acknowledgements, window updates) and
//! what it makes of the frames the server sends. `http2.rs` moves the bytes.
//!
//! Everything the server can make it hold is bounded: a stream's unread body by the window this
//! side grants ([`STREAM_WINDOW`]; a server that sends past it breaks flow control and ends the
//! connection), all of them together by the connection's ([`CONNECTION_WINDOW`]), a header
//! block and its CONTINUATION frames by the head cap, the dynamic table by its announced size,
//! replies queued for a server that does not read by [`OUT_CAP`].

use std::{collections::VecDeque, task::Poll};

use bytes::Bytes;

use super::{
    encoder::{Encoder, RequestBlock},
    frame::{self, Head},
    head::{Collect, ResponseHead, Verdict},
    hpack,
};

/// The most bytes of a stream's body the server may send ahead of what this side has read:
/// what one stream may hold in memory, whatever the server does.
pub(crate) const STREAM_WINDOW: u32 = 1 << 20;
/// The same for the whole connection (every stream together: one per lane of the user).
pub(crate) const CONNECTION_WINDOW: u32 = 2 << 20;
/// The default window of RFC 9113, before this side's WINDOW_UPDATE raises the connection's.
const DEFAULT_WINDOW: u32 = 65_535;
/// Replies (SETTINGS and PING acknowledgements) queued past this many unwritten bytes mean a
/// server that floods without reading: the connection ends (`ENHANCE_YOUR_CALM`).
const OUT_CAP: usize = 1 << 20;
/// Request body bytes moved into the write buffer at a time.
const DATA_BATCH: usize = 64 * 1024;
/// The highest stream identifier.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// Why a stream (or the whole connection) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum H2Error {
    /// The socket failed: the reason, as HTTP/1.1 names it.
    Io(std::borrow::Cow<'static, str>),
    /// The server closed the connection.
    Closed,
    /// The server's first bytes were HTTP/1.x, or it hung up without a byte (prior knowledge).
    NotH2,
    /// GOAWAY from the server; `processed`: the stream may have been (it is not past the
    /// GOAWAY's last stream, or the code is an error).
    GoAway { code: u32, processed: bool },
    /// RST_STREAM from the server.
    Reset(u32),
    /// The server broke the protocol: this side ended the connection with this code.
    Protocol(u32),
    /// A header list past the head cap: the stream's only (`stream`), or a block whose
    /// CONTINUATION frames ran past it, which ends the connection.
    HeadersTooLarge { stream: bool },
    /// A malformed response header list (the stream's only).
    BadHeaders,
}

/// One HTTP/2 connection's state.
pub(crate) struct Conn {
    /// What is to be written; `out_at` of it already is.
    out: Vec<u8>,
    out_at: usize,
    streams: Vec<Stream>,
    next_id: u32,
    /// The server's settings.
    peer_max_streams: u32,
    peer_window: i64,
    peer_max_frame: usize,
    /// The connection's windows: what this side may send, what the server may.
    send_window: i64,
    recv_window: i64,
    /// Body bytes read (or dropped) since the last connection WINDOW_UPDATE.
    recv_unacked: i64,
    decoder: hpack::Decoder,
    encoder: Encoder,
    /// A header block whose CONTINUATION frames are still to come, in `block_buf`.
    block: Option<(u32, bool)>,
    block_buf: Vec<u8>,
    max_head: usize,
    got_settings: bool,
    /// The last stream of the server's graceful GOAWAY: no new stream is opened.
    goaway: Option<u32>,
    ended: Option<H2Error>,
    /// A stream's state changed, or a slot opened that a request waits for: lanes sharing the
    /// connection are to be polled again (`http2.rs`, `Shared`).
    progress: bool,
    slot_wanted: bool,
    /// Requests waiting for a stream slot, oldest first (their tickets, [`Conn::try_open`]): a
    /// slot that frees goes to the oldest, never back to the lane that just closed a stream in
    /// the same poll, which would starve the others to their timeout. At most one per lane.
    queue: VecDeque<u64>,
    next_ticket: u64,
    /// Emptied body buffers of finished streams, for the next ones.
    spare: Vec<Vec<u8>>,
}

struct Stream {
    id: u32,
    want_meta: bool,
    send_window: i64,
    body: Bytes,
    sent: usize,
    local_done: bool,
    /// The final head, until the exchange takes it; `head_seen` stays.
    head: Option<ResponseHead>,
    head_seen: bool,
    /// Body bytes received and not yet read.
    data: Vec<u8>,
    remote_done: bool,
    error: Option<H2Error>,
    recv_window: i64,
    recv_unacked: i64,
}

impl Stream {
    /// No longer counted against the server's `max_concurrent_streams`.
    fn closed(&self) -> bool {
        self.error.is_some() || (self.remote_done && self.local_done)
    }
}

impl Conn {
    /// A connection whose preface and settings are queued: push disabled, the windows above,
    /// the head cap announced as `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub(crate) fn new(max_head: usize) -> Conn {
        let mut out = frame::PREFACE.to_vec();
        let announced = u32::try_from(max_head).unwrap_or(u32::MAX);
        frame::write_settings(
            &mut out,
            &[
                (frame::ENABLE_PUSH, 0),
                (frame::INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (frame::MAX_HEADER_LIST_SIZE, announced),
            ],
        );
        let raise = CONNECTION_WINDOW - DEFAULT_WINDOW;
        frame::write_u32_frame(&mut out, frame::WINDOW_UPDATE, 0, raise);
        Conn {
            out,
            out_at: 0,
            streams: Vec::new(),
            next_id: 1,
            peer_max_streams: u32::MAX,
            peer_window: i64::from(DEFAULT_WINDOW),
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(CONNECTION_WINDOW),
            recv_unacked: 0,
            decoder: hpack::Decoder::new(hpack::TABLE_SIZE),
            encoder: Encoder::default(),
            block: None,
            block_buf: Vec::new(),
            max_head,
            got_settings: false,
            goaway: None,
            ended: None,
            progress: false,
            slot_wanted: false,
            queue: VecDeque::new(),
            next_ticket: 0,
            spare: Vec::new(),
        }
    }

    /// What is still to be written.
    pub(crate) fn to_write(&self) -> &[u8] {
        &self.out[self.out_at..]
    }

    /// `n` bytes of [`Conn::to_write`] were written.
    pub(crate) fn wrote(&mut self, n: usize) {
        self.out_at += n;
        if self.out_at >= self.out.len() {
            self.out.clear();
            self.out_at = 0;
        }
    }

    pub(crate) fn ended(&self) -> Option<&H2Error> {
        self.ended.as_ref()
    }

    /// Whether new streams may be opened (not ended, no GOAWAY).
    pub(crate) fn accepting(&self) -> bool {
        self.ended.is_none() && self.goaway.is_none()
    }

    pub(crate) fn got_settings(&self) -> bool {
        self.got_settings
    }

    /// Whether lanes waiting on the connection may now proceed; cleared.
    pub(crate) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }

    /// The connection is over (the socket failed or closed): every stream not yet answered
    /// whole fails with `e`. A protocol error is told to the server by a GOAWAY, for what it is
    /// worth.
    pub(crate) fn end(&mut self, e: H2Error) {
        if self.ended.is_some() {
            return;
        }
        let code = match e {
            H2Error::Protocol(code) => Some(code),
            H2Error::HeadersTooLarge { .. } => Some(frame::ENHANCE_YOUR_CALM),
            _ => None,
        };
        if let Some(code) = code {
            frame::write_goaway(&mut self.out, 0, code);
        }
        for s in &mut self.streams {
            if s.error.is_none() && !s.remote_done {
                s.error = Some(e.clone());
            }
        }
        self.ended = Some(e);
        self.block = None;
        self.progress = true;
    }

    /// Opens a stream for a request: its header block, encoded here (so blocks reach the
    /// server in the order their references to its table were made), and its body. Pending
    /// while the server's `max_concurrent_streams` are open, or while requests that came
    /// first wait for a slot: `ticket` is this request's place in that queue, to be given
    /// back with [`Conn::leave_queue`] if it gives up.
    pub(crate) fn try_open(
        &mut self,
        request: &mut RequestBlock,
        (body, want_meta): (&Bytes, bool),
        ticket: &mut Option<u64>,
    ) -> Poll<Result<u32, H2Error>> {
        if let Some(e) = &self.ended {
            return Poll::Ready(Err(e.clone()));
        }
        if self.goaway.is_some() || self.next_id > MAX_STREAM_ID {
            let unprocessed = H2Error::GoAway {
                code: frame::NO_ERROR,
                processed: false,
            };
            return Poll::Ready(Err(unprocessed));
        }
        let open = self.streams.iter().filter(|s| !s.closed()).count();
        let first = self.queue.front().copied();
        if open >= self.peer_max_streams as usize || first.is_some_and(|f| Some(f) != *ticket) {
            if ticket.is_none() {
                *ticket = Some(self.next_ticket);
                self.queue.push_back(self.next_ticket);
                self.next_ticket += 1;
            }
            self.slot_wanted = true;
            return Poll::Pending;
        }
        if ticket.take().is_some() {
            self.queue.pop_front();
            // The next in line may fit too: the lanes are polled again.
            self.progress |= !self.queue.is_empty();
        }
        let id = self.next_id;
        self.next_id += 2;
        let block = self.encoder.block(request);
        frame::write_headers(
            &mut self.out,
            id,
            block,
            body.is_empty(),
            self.peer_max_frame,
        );
        self.streams.push(Stream {
            id,
            want_meta,
            send_window: self.peer_window,
            body: body.clone(),
            sent: 0,
            local_done: body.is_empty(),
            head: None,
            head_seen: false,
            data: self.spare.pop().unwrap_or_default(),
            remote_done: false,
            error: None,
            recv_window: i64::from(STREAM_WINDOW),
            recv_unacked: 0,
        });
        self.queue_data();
        Poll::Ready(Ok(id))
    }

    /// Moves request bodies into the write buffer as the windows allow.
    pub(crate) fn queue_data(&mut self) {
        for s in &mut self.streams {
            while !s.local_done && s.error.is_none() && self.out.len() < DATA_BATCH {
                let left = s.body.len() - s.sent;
                let window = s.send_window.min(self.send_window).max(0);
                let n = left
                    .min(usize::try_from(window).unwrap_or(0))
                    .min(self.peer_max_frame);
                if n == 0 {
                    break;
                }
                let end = n == left;
                frame::write_data(&mut self.out, s.id, &s.body[s.sent..s.sent + n], end);
                s.sent += n;
                s.send_window -= n as i64;
                self.send_window -= n as i64;
                s.local_done = end;
            }
        }
    }

    /// The stream's final response head, once read.
    pub(crate) fn poll_head(&mut self, id: u32) -> Poll<Result<ResponseHead, H2Error>> {
        let Some(s) = self.streams.iter_mut().find(|s| s.id == id) else {
            return Poll::Ready(Err(H2Error::Closed));
        };
        if let Some(head) = s.head.take() {
            return Poll::Ready(Ok(head));
        }
        match &s.error {
            Some(e) => Poll::Ready(Err(e.clone())),
            None => Poll::Pending,
        }
    }

    /// Hands the stream's body, as it arrives, to `sink`; ready at its end, or at the first
    /// error of the stream or of `sink` (the inner result).
    pub(crate) fn poll_body<E>(
        &mut self,
        id: u32,
        sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Poll<Result<Result<(), E>, H2Error>> {
        let Some(s) = self.streams.iter_mut().find(|s| s.id == id) else {
            return Poll::Ready(Err(H2Error::Closed));
        };
        let n = s.data.len();
        let mut sunk = Ok(());
        if n > 0 {
            sunk = sink(&s.data);
            s.data.clear();
            s.recv_unacked += n as i64;
            let open = !s.remote_done && self.ended.is_none();
            if open && s.recv_unacked >= i64::from(STREAM_WINDOW / 2) {
                let raise = std::mem::take(&mut s.recv_unacked);
                s.recv_window += raise;
                frame::write_u32_frame(&mut self.out, frame::WINDOW_UPDATE, id, raise as u32);
            }
        }
        let state = match (&s.error, s.remote_done) {
            (Some(e), _) => Some(Err(e.clone())),
            (None, true) => Some(Ok(())),
            (None, false) => None,
        };
        self.release(n);
        match (sunk, state) {
            (Err(e), _) => Poll::Ready(Ok(Err(e))),
            (Ok(()), Some(Ok(()))) => Poll::Ready(Ok(Ok(()))),
            (Ok(()), Some(Err(e))) => Poll::Ready(Err(e)),
            (Ok(()), None) => Poll::Pending,
        }
    }

    /// A request waiting for a slot gave up (its timeout, the end of the run): the next in
    /// line may take its turn.
    pub(crate) fn leave_queue(&mut self, ticket: u64) {
        if let Some(i) = self.queue.iter().position(|&t| t == ticket) {
            self.queue.remove(i);
            self.progress = true;
        }
    }

    /// The exchange on stream `id` is over (done, failed or given up): the stream is forgotten,
    /// reset if it is still open, and what it held unread is released to the connection window.
    pub(crate) fn finish(&mut self, id: u32) {
        let Some(i) = self.streams.iter().position(|s| s.id == id) else {
            return;
        };
        let mut s = self.streams.swap_remove(i);
        if s.error.is_none() && !(s.remote_done && s.local_done) && self.ended.is_none() {
            // A response complete before the request body: the rest is not needed.
            let code = if s.remote_done {
                frame::NO_ERROR
            } else {
                frame::CANCEL
            };
            frame::write_u32_frame(&mut self.out, frame::RST_STREAM, id, code);
        }
        self.release(s.data.len());
        if s.data.capacity() <= DATA_BATCH && self.spare.len() < 8 {
            s.data.clear();
            self.spare.push(s.data);
        }
        if std::mem::take(&mut self.slot_wanted) {
            self.progress = true;
        }
    }

    /// `n` bytes of the connection window read or dropped: given back to the server once half
    /// the window is (one WINDOW_UPDATE per megabyte, not one per frame).
    fn release(&mut self, n: usize) {
        self.recv_unacked += n as i64;
        if self.recv_unacked >= i64::from(CONNECTION_WINDOW / 2) && self.ended.is_none() {
            let raise = std::mem::take(&mut self.recv_unacked);
            self.recv_window += raise;
            frame::write_u32_frame(&mut self.out, frame::WINDOW_UPDATE, 0, raise as u32);
        }
    }

    /// Reads the whole frames at the start of `buf`; returns how many bytes they took. A
    /// frame past the frame size, or one that breaks the protocol, ends the connection.
    pub(crate) fn recv(&mut self, buf: &[u8]) -> usize {
        let mut at = 0;
        while self.ended.is_none() && buf.len() - at >= frame::HEAD_LEN {
            let head = Head::parse(&buf[at..]);
            if head.len > frame::DEFAULT_MAX_FRAME {
                self.end(H2Error::Protocol(frame::FRAME_SIZE_ERROR));
                break;
            }
            let start = at + frame::HEAD_LEN;
            if buf.len() - start < head.len {
                break;
            }
            at = start + head.len;
            if let Err(e) = self.frame(head, &buf[start..at]) {
                self.end(e);
            }
        }
        at
    }

    fn frame(&mut self, head: Head, payload: &[u8]) -> Result<(), H2Error> {
        if let Some((stream, _)) = self.block {
            if head.kind != frame::CONTINUATION || head.stream != stream {
                return broke(frame::PROTOCOL_ERROR);
            }
        }
        if !self.got_settings && head.kind != frame::SETTINGS {
            // The server's preface is a SETTINGS frame.
            return broke(frame::PROTOCOL_ERROR);
        }
        match head.kind {
            frame::DATA => self.data(&head, payload),
            frame::HEADERS => self.headers(&head, payload),
            frame::PRIORITY if head.len != 5 => Err(H2Error::Protocol(frame::FRAME_SIZE_ERROR)),
            frame::RST_STREAM => self.reset(&head, payload),
            frame::SETTINGS => self.settings(&head, payload),
            // Push is disabled in this side's settings.
            frame::PUSH_PROMISE => broke(frame::PROTOCOL_ERROR),
            frame::PING => self.ping(&head, payload),
            frame::GOAWAY => self.goaway(&head, payload),
            frame::WINDOW_UPDATE => self.window_update(&head, payload),
            frame::CONTINUATION => self.continuation(&head, payload),
            // PRIORITY, and types this side does not know, are ignored (RFC 9113, 4.1).
            _ => Ok(()),
        }
    }

    /// A stream the server names that this side never opened (push is disabled).
    fn idle(&self, id: u32) -> bool {
        id == 0 || id % 2 == 0 || id >= self.next_id
    }

    fn data(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if self.idle(head.stream) {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        let body = frame::unpad(head, payload).map_err(H2Error::Protocol)?;
        let len = head.len as i64;
        self.recv_window -= len;
        if self.recv_window < 0 {
            return Err(H2Error::Protocol(frame::FLOW_CONTROL_ERROR));
        }
        let Some(s) = self.streams.iter_mut().find(|s| s.id == head.stream) else {
            // A stream already finished here: its bytes are the window's again at once.
            self.release(head.len);
            return Ok(());
        };
        s.recv_window -= len;
        if s.recv_window < 0 {
            return Err(H2Error::Protocol(frame::FLOW_CONTROL_ERROR));
        }
        if s.error.is_some() {
            self.release(head.len);
            return Ok(());
        }
        if s.remote_done {
            return Err(H2Error::Protocol(frame::STREAM_CLOSED));
        }
        if !s.head_seen {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        s.data.extend_from_slice(body);
        s.remote_done = head.has(frame::END_STREAM);
        self.progress = true;
        self.release(head.len - body.len());
        Ok(())
    }

    fn headers(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        let fragment = frame::header_fragment(head, payload).map_err(H2Error::Protocol)?;
        let end_stream = head.has(frame::END_STREAM);
        if head.has(frame::END_HEADERS) {
            return self.header_block(head.stream, end_stream, fragment);
        }
        self.block_buf.clear();
        self.append_fragment(fragment)?;
        self.block = Some((head.stream, end_stream));
        Ok(())
    }

    fn continuation(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        let Some((stream, end_stream)) = self.block else {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        };
        self.append_fragment(payload)?;
        if !head.has(frame::END_HEADERS) {
            return Ok(());
        }
        self.block = None;
        let block = std::mem::take(&mut self.block_buf);
        let read = self.header_block(stream, end_stream, &block);
        self.block_buf = block;
        read
    }

    /// A block in pieces may not grow past the head cap: an endless CONTINUATION ends the
    /// connection there (its HPACK state cannot be kept without reading the block whole).
    fn append_fragment(&mut self, fragment: &[u8]) -> Result<(), H2Error> {
        if self.block_buf.len() + fragment.len() > self.max_head {
            return Err(H2Error::HeadersTooLarge { stream: false });
        }
        self.block_buf.extend_from_slice(fragment);
        Ok(())
    }

    /// A whole header block: decoded whatever its stream (the dynamic table must follow),
    /// then kept as the stream's head, skipped (interim, trailers), or the stream's failure.
    fn header_block(&mut self, id: u32, end_stream: bool, block: &[u8]) -> Result<(), H2Error> {
        if self.idle(id) {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        let i = self.streams.iter().position(|s| s.id == id);
        let (want_meta, trailers) = match i {
            Some(i) => (self.streams[i].want_meta, self.streams[i].head_seen),
            None => (false, false),
        };
        let mut collect = Collect::new(self.max_head, want_meta, trailers);
        self.decoder
            .decode(block, |n, v| collect.field(n, v))
            .map_err(|_| H2Error::Protocol(frame::COMPRESSION_ERROR))?;
        let Some(s) = i.map(|i| &mut self.streams[i]) else {
            return Ok(());
        };
        if s.error.is_some() {
            return Ok(());
        }
        if s.remote_done {
            return Err(H2Error::Protocol(frame::STREAM_CLOSED));
        }
        self.progress = true;
        let failed = match collect.finish(end_stream) {
            Verdict::Final(h) => {
                s.head = Some(h);
                s.head_seen = true;
                None
            }
            Verdict::Skip => None,
            Verdict::TooLarge => Some(H2Error::HeadersTooLarge { stream: true }),
            Verdict::Malformed => Some(H2Error::BadHeaders),
        };
        match failed {
            Some(e) => {
                let code = match e {
                    H2Error::BadHeaders => frame::PROTOCOL_ERROR,
                    _ => frame::CANCEL,
                };
                s.error = Some(e);
                frame::write_u32_frame(&mut self.out, frame::RST_STREAM, id, code);
            }
            None => s.remote_done = end_stream,
        }
        Ok(())
    }

    fn reset(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if head.len != 4 {
            return Err(H2Error::Protocol(frame::FRAME_SIZE_ERROR));
        }
        if self.idle(head.stream) {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        let code = frame::u32_at(payload, 0);
        if let Some(s) = self.streams.iter_mut().find(|s| s.id == head.stream) {
            if s.error.is_none() {
                // A response already whole is kept (the server may reset a request body it
                // no longer needs, RFC 9113, 8.1).
                match s.remote_done {
                    true => s.local_done = true,
                    false => s.error = Some(H2Error::Reset(code)),
                }
                self.progress = true;
            }
        }
        Ok(())
    }

    fn settings(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if head.stream != 0 {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        if head.has(frame::ACK) {
            return if head.len == 0 {
                Ok(())
            } else {
                broke(frame::FRAME_SIZE_ERROR)
            };
        }
        if head.len % 6 != 0 {
            return broke(frame::FRAME_SIZE_ERROR);
        }
        for (id, value) in frame::settings(payload) {
            self.setting(id, value)?;
        }
        self.control_room()?;
        frame::write_head(&mut self.out, 0, frame::SETTINGS, frame::ACK, 0);
        self.got_settings = true;
        self.progress = true;
        Ok(())
    }

    fn setting(&mut self, id: u16, value: u32) -> Result<(), H2Error> {
        match id {
            frame::ENABLE_PUSH if value > 1 => return broke(frame::PROTOCOL_ERROR),
            frame::MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
            frame::INITIAL_WINDOW_SIZE => {
                let value = i64::from(value);
                if value > frame::MAX_WINDOW {
                    return broke(frame::FLOW_CONTROL_ERROR);
                }
                let delta = value - self.peer_window;
                self.peer_window = value;
                for s in &mut self.streams {
                    s.send_window += delta;
                    if s.send_window > frame::MAX_WINDOW {
                        return broke(frame::FLOW_CONTROL_ERROR);
                    }
                }
            }
            frame::MAX_FRAME_SIZE => match usize::try_from(value) {
                Ok(v @ frame::DEFAULT_MAX_FRAME..=0xff_ffff) => self.peer_max_frame = v,
                _ => return broke(frame::PROTOCOL_ERROR),
            },
            frame::HEADER_TABLE_SIZE => self.encoder.peer_table_size(value),
            // MAX_HEADER_LIST_SIZE: advisory; unknown settings are ignored.
            _ => {}
        }
        Ok(())
    }

    /// Room for one more reply to the server, or a server that floods without reading.
    fn control_room(&self) -> Result<(), H2Error> {
        match self.out.len() - self.out_at > OUT_CAP {
            true => Err(H2Error::Protocol(frame::ENHANCE_YOUR_CALM)),
            false => Ok(()),
        }
    }

    fn ping(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if head.stream != 0 {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        if head.len != 8 {
            return Err(H2Error::Protocol(frame::FRAME_SIZE_ERROR));
        }
        if !head.has(frame::ACK) {
            self.control_room()?;
            frame::write_head(&mut self.out, 8, frame::PING, frame::ACK, 0);
            self.out.extend_from_slice(payload);
        }
        Ok(())
    }

    /// A GOAWAY with an error code ends the connection; a graceful one (`NO_ERROR`) lets the
    /// streams up to its last one finish and fails the others as never processed.
    fn goaway(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if head.stream != 0 {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        if head.len < 8 {
            return Err(H2Error::Protocol(frame::FRAME_SIZE_ERROR));
        }
        let last = frame::u32_at(payload, 0) & 0x7fff_ffff;
        let code = frame::u32_at(payload, 4);
        if code != frame::NO_ERROR {
            return Err(H2Error::GoAway {
                code,
                processed: true,
            });
        }
        let last = self.goaway.map_or(last, |l| l.min(last));
        self.goaway = Some(last);
        for s in &mut self.streams {
            if s.id > last && s.error.is_none() && !s.remote_done {
                s.error = Some(H2Error::GoAway {
                    code,
                    processed: false,
                });
            }
        }
        self.progress = true;
        Ok(())
    }

    fn window_update(&mut self, head: &Head, payload: &[u8]) -> Result<(), H2Error> {
        if head.len != 4 {
            return Err(H2Error::Protocol(frame::FRAME_SIZE_ERROR));
        }
        let increment = i64::from(frame::u32_at(payload, 0) & 0x7fff_ffff);
        if increment == 0 {
            return Err(H2Error::Protocol(frame::PROTOCOL_ERROR));
        }
        let window = match head.stream {
            0 => &mut self.send_window,
            id if self.idle(id) => return Err(H2Error::Protocol(frame::PROTOCOL_ERROR)),
            id => match self.streams.iter_mut().find(|s| s.id == id) {
                Some(s) => &mut s.send_window,
                None => return Ok(()),
            },
        };
        *window += increment;
        if *window > frame::MAX_WINDOW {
            return Err(H2Error::Protocol(frame::FLOW_CONTROL_ERROR));
        }
        Ok(())
    }
}

/// The server broke the protocol: the connection ends with `code`.
fn broke(code: u32) -> Result<(), H2Error> {
    Err(H2Error::Protocol(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GET http:///`.
    fn get() -> RequestBlock {
        let mut r = RequestBlock::default();
        for (n, v) in [(":method", "GET"), (":scheme", "http"), (":path", "/")] {
            r.fields_mut().push(n.as_bytes(), v.as_bytes());
        }
        r
    }

    /// A connection past the server's preface (SETTINGS with `entries`), its own output gone.
    fn open(entries: &[(u16, u32)]) -> Conn {
        let mut c = Conn::new(16 * 1024);
        let mut f = Vec::new();
        frame::write_settings(&mut f, entries);
        assert_eq!(c.recv(&f), f.len());
        assert!(c.got_settings() && c.ended().is_none());
        drain(&mut c);
        c
    }

    fn drain(c: &mut Conn) -> Vec<Head> {
        let out = c.to_write().to_vec();
        c.wrote(out.len());
        let mut at = if out.starts_with(frame::PREFACE) {
            frame::PREFACE.len()
        } else {
            0
        };
        let mut heads = Vec::new();
        while at < out.len() {
            let h = Head::parse(&out[at..]);
            at += frame::HEAD_LEN + h.len;
            heads.push(h);
        }
        heads
    }

    fn start(c: &mut Conn, body: &'static [u8]) -> u32 {
        match c.try_open(&mut get(), (&Bytes::from_static(body), false), &mut None) {
            Poll::Ready(Ok(id)) => id,
            other => panic!("{other:?}"),
        }
    }

    /// `:status: 200` then `body`, on `id`.
    fn answer(id: u32, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        frame::write_headers(&mut f, id, &[0x88], false, 16_384);
        frame::write_data(&mut f, id, body, true);
        f
    }

    fn body_of(c: &mut Conn, id: u32) -> Poll<Result<Vec<u8>, H2Error>> {
        let mut got = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            got.extend_from_slice(b);
            Ok(())
        };
        c.poll_body(id, &mut sink)
            .map(|r| r.map(|sunk| sunk.map(|()| got).unwrap()))
    }

    #[test]
    fn a_request_is_answered_and_its_stream_forgotten() {
        let mut c = open(&[]);
        let id = start(&mut c, b"");
        let sent = drain(&mut c);
        assert_eq!(
            (sent[0].kind, sent[0].flags),
            (frame::HEADERS, frame::END_STREAM | frame::END_HEADERS)
        );
        assert!(c.poll_head(id).is_pending());
        let f = answer(id, b"hello");
        assert_eq!(c.recv(&f), f.len());
        assert!(c.take_progress());
        let Poll::Ready(Ok(head)) = c.poll_head(id) else {
            panic!()
        };
        assert_eq!(head.status, 200);
        assert_eq!(body_of(&mut c, id), Poll::Ready(Ok(b"hello".to_vec())));
        c.finish(id);
        assert!(drain(&mut c).is_empty(), "a closed stream is not reset");
        assert!(c.streams.is_empty());
    }

    /// A partial frame is left for the next read.
    #[test]
    fn frames_split_across_reads_are_taken_whole() {
        let mut c = open(&[]);
        let id = start(&mut c, b"");
        let f = answer(id, b"hello");
        assert_eq!(c.recv(&f[..12]), 10);
        assert_eq!(c.recv(&f[10..]), f.len() - 10);
        assert!(c.poll_head(id).is_ready());
    }

    #[test]
    fn max_concurrent_streams_is_honoured_and_a_finished_stream_frees_a_slot() {
        let mut c = open(&[(frame::MAX_CONCURRENT_STREAMS, 1)]);
        let first = start(&mut c, b"");
        let mut waiting = None;
        let mut open_waiting =
            |c: &mut Conn| c.try_open(&mut get(), (&Bytes::new(), false), &mut waiting);
        assert!(open_waiting(&mut c).is_pending());
        c.finish(first);
        assert!(c.take_progress(), "the waiting lane is told");
        assert_eq!(open_waiting(&mut c), Poll::Ready(Ok(3)));
    }

    /// A slot that frees goes to the request that waited first, not back to the lane whose
    /// stream just closed (which would otherwise take it in its own poll every time, and
    /// starve the others to their timeout); one that gives up lets the next one through.
    #[test]
    fn a_freed_slot_goes_to_the_request_that_waited_first() {
        let mut c = open(&[(frame::MAX_CONCURRENT_STREAMS, 1)]);
        let try_open = |c: &mut Conn, ticket: &mut Option<u64>| {
            c.try_open(&mut get(), (&Bytes::new(), false), ticket)
        };
        let (mut a, mut b, mut d) = (None, None, None);
        let Poll::Ready(Ok(first)) = try_open(&mut c, &mut a) else {
            panic!("the first request opens")
        };
        assert!(try_open(&mut c, &mut b).is_pending(), "no slot");
        c.finish(first);
        assert!(try_open(&mut c, &mut a).is_pending(), "b came first");
        assert!(
            try_open(&mut c, &mut d).is_pending(),
            "and a after it, then d"
        );
        let Poll::Ready(Ok(second)) = try_open(&mut c, &mut b) else {
            panic!("b takes the slot")
        };
        assert_eq!(b, None, "its ticket is spent");
        c.finish(second);
        c.take_progress();
        c.leave_queue(a.take().unwrap());
        assert!(c.take_progress(), "the lanes are told the queue moved");
        assert!(try_open(&mut c, &mut d).is_ready(), "d, now first, opens");
    }

    /// A body goes out as the windows allow: 10 bytes of window, then a WINDOW_UPDATE for the
    /// rest; the last DATA ends the stream.
    #[test]
    fn a_request_body_waits_for_the_window() {
        let mut c = open(&[(frame::INITIAL_WINDOW_SIZE, 10)]);
        let id = start(&mut c, b"0123456789abcdef");
        let sent = drain(&mut c);
        assert_eq!(sent.len(), 2);
        assert_eq!(
            (sent[1].kind, sent[1].len, sent[1].flags),
            (frame::DATA, 10, 0)
        );
        let mut f = Vec::new();
        frame::write_u32_frame(&mut f, frame::WINDOW_UPDATE, id, 100);
        c.recv(&f);
        c.queue_data();
        let sent = drain(&mut c);
        assert_eq!(
            (sent[0].kind, sent[0].len, sent[0].flags),
            (frame::DATA, 6, frame::END_STREAM)
        );
    }

    #[test]
    fn a_server_past_the_stream_window_breaks_flow_control() {
        let mut c = open(&[]);
        let id = start(&mut c, b"");
        let mut f = Vec::new();
        frame::write_headers(&mut f, id, &[0x88], false, 16_384);
        let chunk = vec![0; 16_384];
        for _ in 0..=(STREAM_WINDOW as usize / chunk.len()) {
            frame::write_data(&mut f, id, &chunk, false);
        }
        c.recv(&f);
        assert_eq!(
            c.ended(),
            Some(&H2Error::Protocol(frame::FLOW_CONTROL_ERROR))
        );
        assert_eq!(
            c.poll_head(id).map(|r| r.map(|h| h.status)),
            Poll::Ready(Ok(200))
        );
        assert!(matches!(body_of(&mut c, id), Poll::Ready(Err(_))));
        let goaway = drain(&mut c);
        assert_eq!(goaway.last().map(|h| h.kind), Some(frame::GOAWAY));
    }

    /// CONTINUATION frames without end: the connection ends once the block passes the cap,
    /// having held no more than the cap.
    #[test]
    fn an_endless_continuation_ends_at_the_cap() {
        let mut c = open(&[]);
        let id = start(&mut c, b"");
        let mut f = Vec::new();
        frame::write_head(&mut f, 1, frame::HEADERS, 0, id);
        f.push(0x88);
        c.recv(&f);
        for _ in 0..100 {
            f.clear();
            frame::write_head(&mut f, 1000, frame::CONTINUATION, 0, id);
            f.extend([0x40; 1000]);
            c.recv(&f);
            assert!(c.block_buf.len() <= 16 * 1024);
        }
        assert_eq!(c.ended(), Some(&H2Error::HeadersTooLarge { stream: false }));
    }

    /// A server that floods SETTINGS (or PING) without reading its acknowledgements: the
    /// queue stops at its cap and the connection ends.
    #[test]
    fn acknowledgements_to_a_server_that_never_reads_are_bounded() {
        let mut c = open(&[]);
        let mut f = Vec::new();
        frame::write_head(&mut f, 8, frame::PING, 0, 0);
        f.extend([1; 8]);
        for _ in 0..(OUT_CAP / 17 + 2) {
            c.recv(&f);
        }
        assert_eq!(
            c.ended(),
            Some(&H2Error::Protocol(frame::ENHANCE_YOUR_CALM))
        );
        assert!(c.to_write().len() <= OUT_CAP + 64);
    }

    /// A graceful GOAWAY lets the streams up to its last one finish; the others were never
    /// processed; no new stream opens.
    #[test]
    fn a_graceful_goaway_fails_only_the_streams_past_its_last() {
        let mut c = open(&[]);
        let (a, b) = (start(&mut c, b""), start(&mut c, b""));
        let mut f = Vec::new();
        frame::write_goaway(&mut f, a, frame::NO_ERROR);
        f.extend(answer(a, b"ok"));
        c.recv(&f);
        assert!(!c.accepting());
        assert!(c.poll_head(a).is_ready());
        assert_eq!(body_of(&mut c, a), Poll::Ready(Ok(b"ok".to_vec())));
        let unprocessed = H2Error::GoAway {
            code: frame::NO_ERROR,
            processed: false,
        };
        assert_eq!(
            c.poll_head(b).map(|r| r.err()),
            Poll::Ready(Some(unprocessed.clone()))
        );
        assert_eq!(
            c.try_open(&mut get(), (&Bytes::new(), false), &mut None),
            Poll::Ready(Err(unprocessed))
        );
    }

    /// A frame's type, flags, stream and payload.
    type RawFrame = (u8, u8, u32, &'static [u8]);

    #[test]
    fn protocol_violations_end_the_connection_with_their_code() {
        let cases: [(&[RawFrame], u32); 6] = [
            // A first frame that is not SETTINGS.
            (&[(frame::PING, 0, 0, &[0; 8])], frame::PROTOCOL_ERROR),
            (&[(frame::SETTINGS, 0, 0, &[0; 5])], frame::FRAME_SIZE_ERROR),
            (
                &[(frame::SETTINGS, 0, 0, &[0, 5, 0, 0, 0, 1])],
                frame::PROTOCOL_ERROR,
            ),
            (
                &[
                    (frame::SETTINGS, 0, 0, &[]),
                    (frame::PUSH_PROMISE, 4, 1, &[0; 4]),
                ],
                frame::PROTOCOL_ERROR,
            ),
            (
                &[
                    (frame::SETTINGS, 0, 0, &[]),
                    (frame::HEADERS, 4, 2, &[0x88]),
                ],
                frame::PROTOCOL_ERROR,
            ),
            (
                &[
                    (frame::SETTINGS, 0, 0, &[]),
                    (frame::WINDOW_UPDATE, 0, 0, &[0; 4]),
                ],
                frame::PROTOCOL_ERROR,
            ),
        ];
        for (frames, code) in cases {
            let mut c = Conn::new(16 * 1024);
            let mut f = Vec::new();
            for (kind, flags, stream, payload) in frames {
                frame::write_head(&mut f, payload.len(), *kind, *flags, *stream);
                f.extend_from_slice(payload);
            }
            c.recv(&f);
            assert_eq!(c.ended(), Some(&H2Error::Protocol(code)), "{frames:?}");
        }
        // A frame past the frame size is refused from its header alone.
        let mut c = Conn::new(16 * 1024);
        let mut f = Vec::new();
        frame::write_head(&mut f, 30_000, frame::SETTINGS, 0, 0);
        c.recv(&f);
        assert_eq!(c.ended(), Some(&H2Error::Protocol(frame::FRAME_SIZE_ERROR)));
    }

    /// A bad HPACK block ends the connection; unknown frame types and PRIORITY are ignored;
    /// a PING is answered with its payload.
    #[test]
    fn compression_errors_end_the_connection_and_unknown_frames_are_ignored() {
        let mut c = open(&[]);
        let id = start(&mut c, b"");
        drain(&mut c);
        let mut f = Vec::new();
        frame::write_head(&mut f, 3, 0xfa, 0, 0);
        f.extend([1, 2, 3]);
        frame::write_head(&mut f, 5, frame::PRIORITY, 0, id);
        f.extend([0; 5]);
        frame::write_head(&mut f, 8, frame::PING, 0, 0);
        f.extend([7; 8]);
        c.recv(&f);
        assert!(c.ended().is_none());
        let sent = drain(&mut c);
        assert_eq!((sent[0].kind, sent[0].flags), (frame::PING, frame::ACK));
        f.clear();
        frame::write_headers(&mut f, id, &[0x80], false, 16_384);
        c.recv(&f);
        assert_eq!(
            c.ended(),
            Some(&H2Error::Protocol(frame::COMPRESSION_ERROR))
        );
    }

    /// A malformed head, and one past the cap, fail their stream only (reset), and the
    /// connection goes on.
    #[test]
    fn a_bad_or_oversized_head_fails_its_stream_only() {
        let mut c = open(&[]);
        let (a, b) = (start(&mut c, b""), start(&mut c, b""));
        drain(&mut c);
        let mut f = Vec::new();
        frame::write_headers(&mut f, a, &[0x04, 0x01, b'x'], false, 16_384);
        // 600 small fields: 3 KB on the wire, 20 KB as RFC 7541 counts a list.
        let mut big = vec![0x88];
        for _ in 0..600 {
            big.extend_from_slice(&[0x00, 0x01, b'x', 0x01, b'v']);
        }
        frame::write_headers(&mut f, b, &big, false, 16_384);
        c.recv(&f);
        assert!(c.ended().is_none());
        assert_eq!(
            c.poll_head(a).map(|r| r.err()),
            Poll::Ready(Some(H2Error::BadHeaders))
        );
        assert_eq!(
            c.poll_head(b).map(|r| r.err()),
            Poll::Ready(Some(H2Error::HeadersTooLarge { stream: true }))
        );
        let resets: Vec<_> = drain(&mut c).iter().map(|h| (h.kind, h.stream)).collect();
        assert_eq!(resets, [(frame::RST_STREAM, a), (frame::RST_STREAM, b)]);
    }
}
