//! Response bodies as a client sees them: a `Content-Encoding` (gzip, deflate, brotli) is
//! undone as the bytes arrive, so checks and extractions read the text the server meant, and
//! both sizes (on the wire, decoded) are counted. The decoded size is held to the body cap
//! whether or not the body is kept: a small compressed body may not turn into gigabytes.

use std::io::{self, Write};

use bytes::BytesMut;

/// A response's `Content-Encoding`, as far as this client undoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    /// HTTP's `deflate` is the zlib format (RFC 9110 8.4.1.2).
    Deflate,
    Brotli,
}

impl Encoding {
    /// The encoding named by a `Content-Encoding` value; `None` for one this client cannot undo
    /// (the body is then kept as it came).
    pub(crate) fn parse(value: &[u8]) -> Option<Encoding> {
        let v = std::str::from_utf8(value).ok()?.trim();
        [
            ("identity", Encoding::Identity),
            ("gzip", Encoding::Gzip),
            ("x-gzip", Encoding::Gzip),
            ("deflate", Encoding::Deflate),
            ("br", Encoding::Brotli),
        ]
        .into_iter()
        .find(|(name, _)| v.eq_ignore_ascii_case(name))
        .map(|(_, e)| e)
    }
}

/// Where decoded bytes go: counted always, kept when a check needs them, never past `cap`.
pub(crate) struct Out {
    pub(crate) kept: Option<BytesMut>,
    pub(crate) decoded: u64,
    cap: usize,
}

impl Out {
    pub(crate) fn new(keep: bool, cap: usize) -> Out {
        Out {
            kept: keep.then(BytesMut::new),
            decoded: 0,
            cap,
        }
    }
}

/// The error an [`Out`] raises past its cap, told apart from a corrupt stream.
#[derive(Debug)]
pub(crate) struct OverCap;

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decoded body over the cap")
    }
}

impl std::error::Error for OverCap {}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.decoded as usize + buf.len() > self.cap {
            return Err(io::Error::other(OverCap));
        }
        self.decoded += buf.len() as u64;
        if let Some(k) = &mut self.kept {
            k.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming decoder writing into an [`Out`].
pub(crate) enum Decoder {
    Gzip(flate2::write::GzDecoder<Out>),
    Deflate(flate2::write::ZlibDecoder<Out>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Out>>),
}

/// Why a compressed body could not be decoded.
pub(crate) enum DecodeError {
    /// The decoded body is over the cap.
    TooLarge,
    /// The stream is corrupt or ends early.
    Corrupt,
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<OverCap>()) {
            DecodeError::TooLarge
        } else {
            DecodeError::Corrupt
        }
    }
}

impl Decoder {
    /// A decoder for `encoding`; `None` for identity.
    pub(crate) fn new(encoding: Encoding, out: Out) -> Option<Decoder> {
        Some(match encoding {
            Encoding::Identity => return None,
            Encoding::Gzip => Decoder::Gzip(flate2::write::GzDecoder::new(out)),
            Encoding::Deflate => Decoder::Deflate(flate2::write::ZlibDecoder::new(out)),
            Encoding::Brotli => Decoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(out, 4096),
            )),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        match self {
            Decoder::Gzip(d) => d.write_all(bytes)?,
            Decoder::Deflate(d) => d.write_all(bytes)?,
            Decoder::Brotli(d) => d.write_all(bytes)?,
        }
        Ok(())
    }

    /// The decoded output once the stream is complete; a stream that ends early is corrupt.
    pub(crate) fn finish(self) -> Result<Out, DecodeError> {
        match self {
            Decoder::Gzip(d) => Ok(d.finish()?),
            Decoder::Deflate(d) => Ok(d.finish()?),
            Decoder::Brotli(mut d) => {
                d.flush()?;
                d.into_inner().map_err(|_| DecodeError::Corrupt)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(encoding: Encoding, wire: &[u8], keep: bool, cap: usize) -> Result<Out, DecodeError> {
        let mut d = Decoder::new(encoding, Out::new(keep, cap)).unwrap();
        // Byte by byte: the stream arrives in whatever pieces the network gives.
        for b in wire.chunks(7) {
            d.write(b)?;
        }
        d.finish()
    }

    #[test]
    fn each_encoding_decodes_in_pieces() {
        let text = b"{\"items\": [1, 2, 3]}".repeat(50);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&text).unwrap();
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(&text)
            .unwrap();
        for (enc, wire) in [
            (Encoding::Gzip, gzip(&text)),
            (Encoding::Deflate, z.finish().unwrap()),
            (Encoding::Brotli, br),
        ] {
            let out = decode(enc, &wire, true, 1 << 20).unwrap_or_else(|_| panic!("{enc:?}"));
            assert_eq!(out.kept.unwrap(), &text[..], "{enc:?}");
            assert_eq!(out.decoded, text.len() as u64);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_cap_even_when_nothing_keeps_the_body() {
        let wire = gzip(&vec![0u8; 4 << 20]);
        assert!(wire.len() < 64 << 10);
        assert!(matches!(
            decode(Encoding::Gzip, &wire, false, 1 << 20),
            Err(DecodeError::TooLarge)
        ));
        let counted = decode(Encoding::Gzip, &wire, false, 8 << 20).ok().unwrap();
        assert_eq!(counted.decoded, 4 << 20);
        assert!(counted.kept.is_none());
    }

    #[test]
    fn corrupt_and_truncated_streams_are_corrupt() {
        let wire = gzip(b"hello world, hello world");
        assert!(matches!(
            decode(Encoding::Gzip, &wire[..wire.len() - 6], true, 1 << 20),
            Err(DecodeError::Corrupt)
        ));
        assert!(matches!(
            decode(Encoding::Deflate, b"not zlib at all", true, 1 << 20),
            Err(DecodeError::Corrupt)
        ));
        assert!(matches!(
            decode(Encoding::Brotli, &[0xff; 40], true, 1 << 20),
            Err(DecodeError::Corrupt)
        ));
    }

    #[test]
    fn encodings_are_named_as_servers_write_them() {
        assert_eq!(Encoding::parse(b" GZIP "), Some(Encoding::Gzip));
        assert_eq!(Encoding::parse(b"br"), Some(Encoding::Brotli));
        assert_eq!(Encoding::parse(b"zstd"), None);
        assert_eq!(Encoding::parse(b"\xff"), None);
    }
}
