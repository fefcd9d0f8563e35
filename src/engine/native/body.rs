//! A response body on its way in: kept up to the body cap for checks and extractions, counted
//! and dropped, or decoded as it arrives (see `decode.rs`); counted on the wire either way.

use bytes::{Bytes, BytesMut};

use super::{
    decode::{DecodeError, Decoder, Encoding, Out},
    recorder::Reason,
    wire::{malformed, too_large},
};
use crate::stats::Received;

/// Where body bytes go: kept up to a cap, dropped, or decoded (and then kept or dropped);
/// counted on the wire either way.
pub(super) struct Sink {
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
    pub(super) fn new(keep: bool, cap: usize, encoding: Encoding) -> Sink {
        let to = match Decoder::new(encoding, Out::new(keep, cap)) {
            Some(d) => SinkTo::Decode(Box::new(d), cap),
            None if keep => SinkTo::Keep(BytesMut::new(), cap),
            None => SinkTo::Discard,
        };
        Sink { wire: 0, to }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<(), Reason> {
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

    pub(super) fn finish(self) -> Result<(Bytes, Received), Reason> {
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

fn decode_failure(e: DecodeError, cap: usize) -> Reason {
    match e {
        DecodeError::TooLarge => too_large(cap),
        DecodeError::Corrupt => malformed("malformed compressed body"),
    }
}
