//! HTTP/2 for the native engine's client, written for its one job (issue #34): the `h2` crate
//! spent some 29,000 of the 31,000 instructions of a request (bench/README.md, HTTP/2), and its
//! connection task model did not fit a user that drives its own socket. Without I/O: frames
//! (`frame.rs`), HPACK (`hpack.rs` and `huffman.rs` for responses, `encoder.rs` for requests), what a response head says (`head.rs`), the
//! connection's state (`conn.rs`); `http2.rs` moves the bytes.

pub(crate) mod conn;
pub(crate) mod encoder;
pub(crate) mod frame;
mod head;
pub(crate) mod hpack;
mod huffman;

/// Bytes from hex, for the RFC's examples in tests.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
