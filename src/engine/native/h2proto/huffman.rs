//! HPACK's Huffman code (RFC 7541, Appendix B), decoding only: this side sends its literals
//! raw. The code is canonical (the codes of one length are consecutive numbers), so a symbol is
//! found by its length alone: for each length, the first code and how many there are, then the
//! symbols in code order. The tables are built at compile time from the RFC's code list; one
//! that were not canonical would not compile (an index out of its bounds).

/// Why a Huffman string was refused (RFC 7541, 5.2): each a `COMPRESSION_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HuffmanError {
    #[error("a Huffman string holds the EOS symbol")]
    Eos,
    #[error("a Huffman string ends in padding longer than 7 bits or not all ones")]
    Padding,
}

/// Decodes `src` onto the end of `out`. At most `src.len() * 8 / 5` bytes are added (the
/// shortest code is 5 bits), so the output is bounded by the input.
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // Bits not yet decoded, most significant first, and how many there are.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut next = 0;
    loop {
        while bits <= 56 && next < src.len() {
            acc |= u64::from(src[next]) << (56 - bits);
            bits += 8;
            next += 1;
        }
        if bits == 0 {
            return Ok(());
        }
        // A code of 8 bits or fewer (the letters, digits and most punctuation): one lookup.
        let fast = match bits >= 8 {
            true => TABLES.fast[(acc >> 56) as usize],
            false => 0,
        };
        if fast != 0 {
            let len = u32::from(fast >> 9);
            out.push((fast & 0xff) as u8);
            acc <<= len;
            bits -= len;
            continue;
        }
        let mut len = if bits >= 8 { 9 } else { 5 };
        let symbol = loop {
            if len > bits {
                // Not a whole code: the padding, which must be a prefix of EOS (all ones).
                let rest = acc >> (64 - bits);
                return match bits < 8 && rest == (1 << bits) - 1 {
                    true => Ok(()),
                    false => Err(HuffmanError::Padding),
                };
            }
            let code = (acc >> (64 - len)) as u32;
            let rank = code.wrapping_sub(TABLES.first[len as usize]);
            if rank < TABLES.count[len as usize] {
                let at = TABLES.offset[len as usize] as usize + rank as usize;
                break TABLES.symbols[at];
            }
            len += 1;
        };
        let Ok(byte) = u8::try_from(symbol) else {
            return Err(HuffmanError::Eos);
        };
        out.push(byte);
        acc <<= len;
        bits -= len;
    }
}

/// The longest code (EOS's).
const MAX_LEN: usize = 30;

/// The decoding tables, indexed by code length.
struct Tables {
    first: [u32; MAX_LEN + 2],
    count: [u32; MAX_LEN + 2],
    offset: [u32; MAX_LEN + 2],
    symbols: [u16; 257],
    /// By the next 8 bits: the symbol whose code they begin with and its length (`len << 9 |
    /// symbol`), for codes of 8 bits or fewer; 0 for the longer ones.
    fast: [u16; 256],
}

static TABLES: Tables = build();

const fn build() -> Tables {
    let mut t = Tables {
        first: [u32::MAX; MAX_LEN + 2],
        count: [0; MAX_LEN + 2],
        offset: [0; MAX_LEN + 2],
        symbols: [0; 257],
        fast: [0; 256],
    };
    let mut s = 0;
    while s < 257 {
        let (code, len) = code_of(s);
        if code < t.first[len] {
            t.first[len] = code;
        }
        t.count[len] += 1;
        s += 1;
    }
    let mut len = 1;
    while len <= MAX_LEN + 1 {
        t.offset[len] = t.offset[len - 1] + t.count[len - 1];
        len += 1;
    }
    let mut s = 0;
    while s < 257 {
        let (code, len) = code_of(s);
        let at = t.offset[len] + (code - t.first[len]);
        // Past the count of its length when the codes of a length are not consecutive.
        assert!(at < t.offset[len] + t.count[len], "not canonical");
        t.symbols[at as usize] = s as u16;
        if len <= 8 {
            let first = (code as usize) << (8 - len);
            let mut k = 0;
            while k < 1 << (8 - len) {
                t.fast[first + k] = ((len as u16) << 9) | s as u16;
                k += 1;
            }
        }
        s += 1;
    }
    t
}

/// Symbol `s`'s code and its length in bits (256 is EOS).
const fn code_of(s: usize) -> (u32, usize) {
    match s {
        256 => (0x3fff_ffff, 30),
        _ => (CODES[s], LENGTHS[s] as usize),
    }
}

/// RFC 7541, Appendix B: each byte's code ...
const CODES: [u32; 256] = [
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8,
    0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed,
    0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4,
    0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8,
    0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
    0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb,
    0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0,
    0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75,
    0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe,
    0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4,
    0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb,
    0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
    0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda,
    0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd,
    0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0,
    0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4,
    0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7,
    0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf,
    0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7,
    0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4,
    0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
    0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb,
    0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb,
    0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];

/// ... and its length in bits.
const LENGTHS: [u8; 256] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::native::h2proto::hex;

    fn decoded(h: &str) -> Result<Vec<u8>, HuffmanError> {
        let mut out = Vec::new();
        decode(&hex(h), &mut out).map(|()| out)
    }

    /// RFC 7541, Appendix C.4 and C.6: every Huffman string of the examples.
    #[test]
    fn the_rfc_examples_decode() {
        for (h, text) in [
            ("f1e3c2e5f23a6ba0ab90f4ff", "www.example.com"),
            ("a8eb10649cbf", "no-cache"),
            ("25a849e95ba97d7f", "custom-key"),
            ("25a849e95bb8e8b4bf", "custom-value"),
            ("6402", "302"),
            ("aec3771a4b", "private"),
            ("d07abe941054d444a8200595040b8166e082a62d1bff", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("9d29ad171863c78f0b97c8e9ae82ae43d3", "https://www.example.com"),
            ("640eff", "307"),
            ("9bd9ab", "gzip"),
            (
                "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
            ("", ""),
        ] {
            assert_eq!(decoded(h).unwrap(), text.as_bytes(), "{h}");
        }
    }

    /// Every byte, each with the longest codes among them, round-trips through its code.
    #[test]
    fn every_symbol_decodes_to_itself() {
        for s in 0..256usize {
            let (code, len) = code_of(s);
            // The code, then all ones up to the next byte boundary.
            let pad = (8 - len % 8) % 8;
            let v = (u64::from(code) << pad) | ((1 << pad) - 1);
            let n = (len + pad) / 8;
            let bytes: Vec<u8> = (0..n).rev().map(|i| (v >> (8 * i)) as u8).collect();
            let mut out = Vec::new();
            decode(&bytes, &mut out).unwrap();
            assert_eq!(out, [s as u8], "symbol {s}");
        }
    }

    #[test]
    fn eos_and_bad_padding_are_refused() {
        // EOS (30 ones) and padding to the byte.
        assert_eq!(decoded("ffffffff"), Err(HuffmanError::Eos));
        // h2spec's case: a string with EOS inside.
        assert_eq!(decoded("4951fffffffa7f"), Err(HuffmanError::Eos));
        // `0` (00000) padded with zeros, not ones.
        assert_eq!(decoded("00"), Err(HuffmanError::Padding));
        // `a` (00011) then 8 bits of ones: padding longer than 7 bits.
        assert_eq!(decoded("1fff"), Err(HuffmanError::Padding));
        // A lone byte of ones: 8 bits of padding.
        assert_eq!(decoded("ff"), Err(HuffmanError::Padding));
    }
}
