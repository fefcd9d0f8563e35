//! HPACK (RFC 7541): the response header blocks this side decodes, with the static and dynamic
//! tables, and what the request side (`encoder.rs`) shares with it: the tables and integers.
//!
//! What a hostile server can make the decoder hold is bounded: the dynamic table by the size
//! this side announced (the default 4,096 bytes), a string by the block it came in (itself
//! capped by the connection, `conn.rs`), an integer past 2^28 is refused.

use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};

/// Why a header block was refused: each a `COMPRESSION_ERROR`, the end of the connection (the
/// dynamic table can no longer be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HpackError {
    #[error("a header block ends inside a field")]
    Truncated,
    #[error("an integer past 2^28")]
    IntegerTooLarge,
    #[error("an index past the tables")]
    BadIndex,
    #[error("a table size past the one announced, or not at the start of a block")]
    BadSizeUpdate,
    #[error(transparent)]
    Huffman(#[from] HuffmanError),
}

/// The table size this side allows the server (`SETTINGS_HEADER_TABLE_SIZE`, its default).
pub(crate) const TABLE_SIZE: usize = 4096;

/// A decoder: the server's dynamic table as this side keeps it.
pub(crate) struct Decoder {
    /// Its maximum size is the one the server last set (at most `limit`).
    table: Table,
    /// The most the server may set.
    limit: usize,
    /// Huffman-decoded name and value of the field being read.
    name: Vec<u8>,
    value: Vec<u8>,
    recent: HuffmanCache,
}

struct Entry {
    bytes: Vec<u8>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.bytes[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.bytes[self.name_len..]
    }
    fn size(&self) -> usize {
        self.bytes.len() + 32
    }
}

/// How a literal field is to be kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    Not,
}

impl Decoder {
    pub(crate) fn new(limit: usize) -> Decoder {
        Decoder {
            table: Table::new(limit),
            limit,
            name: Vec::new(),
            value: Vec::new(),
            recent: HuffmanCache::default(),
        }
    }

    /// Decodes one whole header block, handing each field to `field` in order.
    pub(crate) fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut first = true;
        while let Some(&b) = block.first() {
            if b & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                let (name, value) = self.lookup(index)?;
                field(name, value);
            } else if b & 0xc0 == 0x40 {
                self.literal(&mut block, 6, Indexing::Incremental, &mut field)?;
            } else if b & 0xe0 == 0x20 {
                let size = integer(&mut block, 5)?;
                if !first || size > self.limit {
                    return Err(HpackError::BadSizeUpdate);
                }
                self.table.resize(size);
                continue;
            } else {
                // Without indexing (0000) and never indexed (0001) read alike.
                self.literal(&mut block, 4, Indexing::Not, &mut field)?;
            }
            first = false;
        }
        Ok(())
    }

    /// A literal field: its name by index or as a string, then its value.
    fn literal(
        &mut self,
        block: &mut &[u8],
        prefix: u8,
        indexing: Indexing,
        field: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let index = integer(block, prefix)?;
        let mut name = std::mem::take(&mut self.name);
        name.clear();
        let named = match index {
            0 => string(block, &mut name, &mut self.recent),
            i => self.lookup(i).map(|(n, _)| name.extend_from_slice(n)),
        };
        let mut value = std::mem::take(&mut self.value);
        value.clear();
        let read = named.and_then(|()| string(block, &mut value, &mut self.recent));
        if read.is_ok() {
            field(&name, &value);
            if indexing == Indexing::Incremental {
                self.table.insert(&name, &value);
            }
        }
        self.name = name;
        self.value = value;
        read
    }

    fn lookup(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex),
            i if i <= STATIC.len() => {
                let (n, v) = STATIC[i - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            i => self
                .table
                .get(i - STATIC.len() - 1)
                .ok_or(HpackError::BadIndex),
        }
    }

    /// The dynamic table's size as RFC 7541 counts it, and its entries, newest first.
    #[cfg(test)]
    pub(super) fn dynamic(&self) -> (usize, Vec<(String, String)>) {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let entries = self.table.entries.iter();
        let entries = entries.map(|e| (text(e.name()), text(e.value())));
        (self.table.size, entries.collect())
    }
}

/// Evicted entries' buffers kept for reuse, and the largest kept: a reused buffer may be
/// larger than its new entry, so a table of 128 smallest entries holds at most 16 KiB.
const SPARE: usize = 4;
const SPARE_CAPACITY: usize = 128;

/// A dynamic table (RFC 7541, 2.3.2): the server's as the decoder keeps it, or the one this
/// side's encoder fills in the server.
pub(super) struct Table {
    /// Newest first; each entry name and value in one allocation.
    entries: VecDeque<Entry>,
    /// The table's size as RFC 7541 counts it (each entry's bytes and 32).
    size: usize,
    max_size: usize,
    /// Buffers of evicted entries, for the next ones: a server that enters four fields per
    /// response would otherwise cost four allocations and four frees per response.
    spare: Vec<Vec<u8>>,
}

impl Table {
    pub(super) fn new(max_size: usize) -> Table {
        Table {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            spare: Vec::new(),
        }
    }

    pub(super) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry `i` places from the newest (its index is `STATIC.len() + 1 + i`).
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(i).map(|e| (e.name(), e.value()))
    }

    /// Where `name` with `value` is, and where `name` is with any value, newest first.
    pub(super) fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut named = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.name() == name {
                if e.value() == value {
                    return (Some(i), named.or(Some(i)));
                }
                named = named.or(Some(i));
            }
        }
        (None, named)
    }

    /// A new maximum size: the oldest entries past it are evicted.
    pub(super) fn resize(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict(0);
    }

    pub(super) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        self.evict(size);
        if size > self.max_size {
            // Larger than the table: the table is left empty (RFC 7541, 4.4).
            return;
        }
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.reserve_exact(name.len() + value.len());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        self.entries.push_front(Entry {
            bytes,
            name_len: name.len(),
        });
        self.size += size;
    }

    /// Evicts the oldest entries until `room` more bytes fit (or the table is empty).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some(mut e) = self.entries.pop_back() else {
                break;
            };
            self.size -= e.size();
            if self.spare.len() < SPARE && e.bytes.capacity() <= SPARE_CAPACITY {
                e.bytes.clear();
                self.spare.push(e.bytes);
            }
        }
    }
}

/// The longest an integer's continuation may run: 4 bytes, 28 bits past the prefix.
const MAX_INTEGER_SHIFT: u32 = 28;

/// An integer with a `prefix`-bit prefix (RFC 7541, 5.1), consumed from `block`.
fn integer(block: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let (&first, mut rest) = block.split_first().ok_or(HpackError::Truncated)?;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, more) = rest.split_first().ok_or(HpackError::Truncated)?;
            rest = more;
            if shift >= MAX_INTEGER_SHIFT {
                return Err(HpackError::IntegerTooLarge);
            }
            value += usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// A string literal (RFC 7541, 5.2), consumed from `block` and appended to `out`.
fn string(
    block: &mut &[u8],
    out: &mut Vec<u8>,
    recent: &mut HuffmanCache,
) -> Result<(), HpackError> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(block, 7)?;
    if len > block.len() {
        return Err(HpackError::Truncated);
    }
    let (bytes, rest) = block.split_at(len);
    *block = rest;
    match huffman {
        true => recent.decode(bytes, out)?,
        false => out.extend_from_slice(bytes),
    }
    Ok(())
}

/// The Huffman strings decoded last, by their coded bytes. A server sends the same values in
/// every response (nginx: `server`, `content-type`, the `date` of this second, as literals each
/// time), and decoding them bit by bit was a quarter of the engine's instructions per HTTP/2
/// request (bench/README.md). Bounded: [`HuffmanCache::SLOTS`] strings of at most
/// [`HuffmanCache::LONGEST`] coded bytes, only ones that decoded without error.
#[derive(Default)]
struct HuffmanCache {
    /// Coded bytes and what they decode to; replaced in turn.
    slots: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

impl HuffmanCache {
    const SLOTS: usize = 8;
    const LONGEST: usize = 64;

    fn decode(&mut self, coded: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
        if let Some((_, plain)) = self.slots.iter().find(|(c, _)| c == coded) {
            out.extend_from_slice(plain);
            return Ok(());
        }
        let start = out.len();
        huffman::decode(coded, out)?;
        if coded.len() <= Self::LONGEST {
            if self.slots.len() < Self::SLOTS {
                self.slots.push(Default::default());
            }
            let (c, plain) = &mut self.slots[self.next];
            c.clear();
            c.extend_from_slice(coded);
            plain.clear();
            plain.extend_from_slice(&out[start..]);
            self.next = (self.next + 1) % Self::SLOTS;
        }
        Ok(())
    }
}

/// `value` with a `prefix`-bit prefix after the bits `first`.
pub(super) fn encode_integer(out: &mut Vec<u8>, first: u8, prefix: u8, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// RFC 7541, Appendix A.
pub(super) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::native::h2proto::hex;

    /// RFC 7541's three blocks of one example, each given raw and Huffman-coded: decoded in
    /// turn by one decoder per coding, each block's fields and the table's size after it
    /// checked; the two decoders returned for the table's contents.
    fn decode_three(
        table: usize,
        blocks: &[(&str, &str); 3],
        expect: [&[(&str, &str)]; 3],
        sizes: [usize; 3],
    ) -> [Decoder; 2] {
        [0, 1].map(|huffman| {
            let mut d = Decoder::new(table);
            for (i, block) in blocks.iter().enumerate() {
                let block = hex(if huffman == 0 { block.0 } else { block.1 });
                assert_eq!(fields(&mut d, &block).unwrap(), pairs(expect[i]));
                assert_eq!(d.dynamic().0, sizes[i]);
            }
            d
        })
    }

    fn fields(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
        let mut out = Vec::new();
        d.decode(block, |n, v| {
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            out.push((text(n), text(v)));
        })?;
        Ok(out)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect()
    }

    /// RFC 7541, C.3 (raw) and C.4 (Huffman): three requests on one connection.
    #[test]
    fn the_rfc_request_examples_decode_with_the_dynamic_table() {
        let blocks = [
            (
                "828684410f7777772e6578616d706c652e636f6d",
                "828684418cf1e3c2e5f23a6ba0ab90f4ff",
            ),
            ("828684be58086e6f2d6361636865", "828684be5886a8eb10649cbf"),
            (
                "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
                "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
            ),
        ];
        let base = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        let second = [&base[..], &[("cache-control", "no-cache")]].concat();
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        let expect: [&[(&str, &str)]; 3] = [&base, &second, &third];
        for d in decode_three(TABLE_SIZE, &blocks, expect, [57, 110, 164]) {
            let newest = d.dynamic().1;
            assert_eq!(newest[0], ("custom-key".into(), "custom-value".into()));
            assert_eq!(newest[2], (":authority".into(), "www.example.com".into()));
        }
    }

    /// RFC 7541, C.5 (raw) and C.6 (Huffman): three responses with a 256-byte table, which
    /// evicts entries as they come.
    #[test]
    fn the_rfc_response_examples_decode_with_evictions() {
        let blocks = [
            (
                "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
                "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
            ),
            ("4803333037c1c0bf", "4883640effc1c0bf"),
            (
                "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
                "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
            ),
        ];
        let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
        let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        let site = "https://www.example.com";
        let first = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", site),
        ];
        let mut second = first;
        second[0].1 = "307";
        let third = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", date2),
            ("location", site),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ];
        let expect: [&[(&str, &str)]; 3] = [&first, &second, &third];
        for d in decode_three(256, &blocks, expect, [222, 222, 215]) {
            assert_eq!(
                d.dynamic().1,
                pairs(&[
                    ("set-cookie", cookie),
                    ("content-encoding", "gzip"),
                    ("date", date2)
                ])
            );
        }
    }

    #[test]
    fn a_table_size_update_within_the_limit_evicts_and_one_past_it_is_refused() {
        let mut d = Decoder::new(TABLE_SIZE);
        fields(
            &mut d,
            &hex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"),
        )
        .unwrap();
        assert_eq!(d.dynamic().0, 55);
        // Size 0 then 4096 at the start of the next block: the table is emptied.
        let mut block = vec![0x20, 0x3f, 0xe1, 0x1f, 0x82];
        assert_eq!(
            fields(&mut d, &block).unwrap(),
            pairs(&[(":method", "GET")])
        );
        assert_eq!(d.dynamic().0, 0);
        // 4097: past what this side announced.
        block = vec![0x3f, 0xe2, 0x1f];
        assert_eq!(fields(&mut d, &block), Err(HpackError::BadSizeUpdate));
        // An update after a field.
        assert_eq!(
            fields(&mut d, &[0x82, 0x20]),
            Err(HpackError::BadSizeUpdate)
        );
    }

    #[test]
    fn hostile_blocks_are_refused_not_followed() {
        let mut d = Decoder::new(TABLE_SIZE);
        // An index of 2^35 (past the 28 bits allowed), and one that never ends.
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(fields(&mut d, &huge), Err(HpackError::IntegerTooLarge));
        assert_eq!(fields(&mut d, &[0xff, 0xff]), Err(HpackError::Truncated));
        // Index 0, and one past the static table with an empty dynamic table.
        assert_eq!(fields(&mut d, &[0x80]), Err(HpackError::BadIndex));
        assert_eq!(fields(&mut d, &[0xbe]), Err(HpackError::BadIndex));
        // A string longer than the block: its length is not trusted.
        assert_eq!(
            fields(&mut d, &[0x00, 0x7f, 0xff, 0x7f]),
            Err(HpackError::Truncated)
        );
        // Huffman strings with bad padding, and with EOS.
        let pad = [0x00, 0x81, 0x00, 0x81, 0x1f];
        assert!(matches!(fields(&mut d, &pad), Err(HpackError::Huffman(_))));
        let eos = hex("0085f2b24a84ff874951fffffffa7f");
        assert_eq!(
            fields(&mut d, &eos),
            Err(HpackError::Huffman(HuffmanError::Eos))
        );
    }

    /// A string decoded once is taken from the cache the next time, the same bytes; a string
    /// that fails to decode is never cached and fails every time; more strings than slots
    /// replace the oldest, and what is taken is always what the coded bytes say.
    #[test]
    fn recent_huffman_strings_decode_alike_from_the_cache() {
        let mut cache = HuffmanCache::default();
        let www = hex("f1e3c2e5f23a6ba0ab90f4ff");
        for _ in 0..2 {
            let mut out = b"x".to_vec();
            cache.decode(&www, &mut out).unwrap();
            assert_eq!(out, b"xwww.example.com");
        }
        assert_eq!(cache.slots.len(), 1);
        let eos = [0xff, 0xff, 0xff, 0xff];
        for _ in 0..2 {
            assert!(cache.decode(&eos, &mut Vec::new()).is_err());
        }
        assert_eq!(cache.slots.len(), 1, "a failure is not cached");
        // "no-cache", then nine one-symbol strings: the ten 5-bit codes 00000..01001 are
        // "012aceiost" (RFC 7541, Appendix B), each padded with ones.
        let no_cache = hex("a8eb10649cbf");
        cache.decode(&no_cache, &mut Vec::new()).unwrap();
        for i in 0..HuffmanCache::SLOTS as u8 + 1 {
            let mut out = Vec::new();
            cache.decode(&[(i << 3) | 0x07], &mut out).unwrap();
            assert_eq!(out, [b"012aceiost"[usize::from(i)]]);
        }
        assert_eq!(cache.slots.len(), HuffmanCache::SLOTS);
        for (coded, plain) in [(&www, &b"www.example.com"[..]), (&no_cache, b"no-cache")] {
            let mut out = Vec::new();
            cache.decode(coded, &mut out).unwrap();
            assert_eq!(out, plain);
        }
    }

    /// A field larger than the table empties it and is not kept (RFC 7541, 4.4).
    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut d = Decoder::new(64);
        fields(&mut d, &[0x40, 1, b'a', 1, b'b']).unwrap();
        assert_eq!(d.dynamic().0, 34);
        let mut big = vec![0x40, 1, b'n', 40];
        big.extend([b'v'; 40]);
        fields(&mut d, &big).unwrap();
        assert_eq!(d.dynamic(), (0, vec![]));
    }
}
