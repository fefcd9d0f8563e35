//! HPACK for the requests this side sends (RFC 7541): a field the static or the dynamic table
//! holds goes as its index; any other as a literal, entered in the server's dynamic table when
//! it is likely to come again.
//!
//! A load test sends the same few headers on every request. Once its `:authority`,
//! `user-agent` and the like are in the table, a request's block is a few bytes instead of
//! some eighty, and those bytes are what the server decrypts and parses for every request:
//! h2load indexes them so, and in bench/run.py the server's CPU per request is what sets the
//! requests per second.
//!
//! The block of a repeated request is kept and sent again while the table is unchanged
//! ([`RequestBlock`]): in the steady state a request costs no encoding at all.

use std::sync::atomic::{AtomicU64, Ordering};

use super::hpack::{encode_integer, Table, STATIC, TABLE_SIZE};

/// How a field may be kept in the server's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Entered in the table: the same value comes again, and it is no secret.
    Index,
    /// Not entered: a value that changes from request to request would only push out the ones
    /// that repeat (the path, a body's length, a request id), and a header of the scenario's
    /// own may carry a secret (`${env.X}`), which no table is to keep.
    NoIndex,
    /// A credential: never entered here, nor by any intermediary (RFC 7541, 7.1.3).
    Never,
}

impl Policy {
    /// The policy for a (lowercase) field name: only headers known to repeat and to carry no
    /// secret are indexed.
    pub(crate) fn of(name: &[u8]) -> Policy {
        match name {
            b"authorization" | b"cookie" | b"proxy-authorization" => Policy::Never,
            b":authority" | b"user-agent" | b"accept" | b"accept-encoding" | b"accept-language"
            | b"content-type" | b"cache-control" | b"origin" | b"pragma" => Policy::Index,
            _ => Policy::NoIndex,
        }
    }
}

/// A request's header fields, names lowercase, in one buffer.
#[derive(Debug, Default)]
pub(crate) struct FieldList {
    bytes: Vec<u8>,
    /// Each field's name end, value end (its start is the previous field's value end).
    ends: Vec<(usize, usize)>,
}

impl FieldList {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Appends a field, its name lowercased.
    pub(crate) fn push(&mut self, name: &[u8], value: &[u8]) {
        self.bytes.extend(name.iter().map(u8::to_ascii_lowercase));
        let name_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ends.push((name_end, self.bytes.len()));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, end)| end));
        starts.zip(&self.ends).map(|(start, &(name_end, end))| {
            (&self.bytes[start..name_end], &self.bytes[name_end..end])
        })
    }
}

/// Every change to any encoder's table takes a new number from here, so a block encoded on one
/// connection can never pass for current on another.
static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A request's fields and its last block, which is sent again as long as the table it was
/// encoded with is unchanged (and it changed nothing in it).
#[derive(Debug, Default)]
pub(crate) struct RequestBlock {
    fields: FieldList,
    block: Vec<u8>,
    valid_at: Option<u64>,
}

impl RequestBlock {
    /// New fields follow: the block is to be encoded anew.
    pub(crate) fn fields_mut(&mut self) -> &mut FieldList {
        self.valid_at = None;
        &mut self.fields
    }
}

/// The encoder's side of the server's dynamic table.
pub(crate) struct Encoder {
    table: Table,
    /// Sizes the server's settings asked for since the last block: the smallest and the last,
    /// to be signalled at the start of the next block (RFC 7541, 4.2).
    resize: Option<(usize, usize)>,
    generation: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            table: Table::new(TABLE_SIZE),
            resize: None,
            generation: next_generation(),
        }
    }
}

impl Encoder {
    /// The server's `SETTINGS_HEADER_TABLE_SIZE`: the table this side fills is at most that,
    /// and never more than the default 4,096 bytes, whatever the server allows.
    pub(crate) fn peer_table_size(&mut self, size: u32) {
        let size = usize::try_from(size).unwrap_or(usize::MAX).min(TABLE_SIZE);
        match self.resize {
            Some((low, _)) => self.resize = Some((low.min(size), size)),
            None if size != self.table.max_size() => self.resize = Some((size, size)),
            None => return,
        }
        // A kept block would go out without the size update the next block must open with.
        self.generation = next_generation();
    }

    /// The request's header block: the one kept when still good, else encoded anew.
    pub(crate) fn block<'a>(&mut self, request: &'a mut RequestBlock) -> &'a [u8] {
        if request.valid_at != Some(self.generation) {
            request.block.clear();
            let before = self.generation;
            self.encode(&mut request.block, &request.fields);
            request.valid_at = (self.generation == before).then_some(before);
        }
        &request.block
    }

    fn encode(&mut self, out: &mut Vec<u8>, fields: &FieldList) {
        if let Some((low, last)) = self.resize.take() {
            if low < last {
                encode_integer(out, 0x20, 5, low);
            }
            encode_integer(out, 0x20, 5, last);
            self.table.resize(low);
            self.table.resize(last);
            self.generation = next_generation();
        }
        for (name, value) in fields.iter() {
            self.field(out, name, value, Policy::of(name));
        }
    }

    fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], policy: Policy) {
        let (exact, named) = static_index(name, value);
        if let Some(i) = exact {
            return encode_integer(out, 0x80, 7, i);
        }
        if policy == Policy::Never {
            return literal(out, 0x10, 4, named.unwrap_or(0), name, value);
        }
        let (dyn_exact, dyn_named) = self.table.find(name, value);
        let dynamic = |i: usize| STATIC.len() + 1 + i;
        if let Some(i) = dyn_exact {
            return encode_integer(out, 0x80, 7, dynamic(i));
        }
        let named = named.or(dyn_named.map(dynamic)).unwrap_or(0);
        // As nghttp2 does: an entry over 3/4 of the table would push out all the others.
        let fits = name.len() + value.len() + 32 <= self.table.max_size() * 3 / 4;
        if policy == Policy::Index && fits {
            literal(out, 0x40, 6, named, name, value);
            self.table.insert(name, value);
            self.generation = next_generation();
        } else {
            literal(out, 0x00, 4, named, name, value);
        }
    }
}

/// A literal field (RFC 7541, 6.2): `first` and `prefix` say how it is kept, `named` is the
/// index of its name (0: the name follows as a string). Strings are sent raw, not Huffman
/// coded: the server spends less on them, and an indexed field is sent as a string only once.
fn literal(out: &mut Vec<u8>, first: u8, prefix: u8, named: usize, name: &[u8], value: &[u8]) {
    encode_integer(out, first, prefix, named);
    if named == 0 {
        encode_integer(out, 0, 7, name.len());
        out.extend_from_slice(name);
    }
    encode_integer(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// The static table's index of `name` with `value`, and of the first entry with `name`.
fn static_index(name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut named = None;
    for (i, (n, v)) in STATIC.iter().enumerate() {
        if n.as_bytes() == name {
            if v.as_bytes() == value {
                return (Some(i + 1), named.or(Some(i + 1)));
            }
            named = named.or(Some(i + 1));
        }
    }
    (None, named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::h2proto::hpack::Decoder;

    fn request(fields: &[(&str, &str)]) -> RequestBlock {
        let mut r = RequestBlock::default();
        for (n, v) in fields {
            r.fields_mut().push(n.as_bytes(), v.as_bytes());
        }
        r
    }

    /// What `d` reads from `block`, as `name: value` lines.
    fn decoded(d: &mut Decoder, block: &[u8]) -> Vec<String> {
        let mut got = Vec::new();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        d.decode(block, |n, v| got.push(format!("{}: {}", text(n), text(v))))
            .unwrap();
        got
    }

    fn lines(r: &RequestBlock) -> Vec<String> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        r.fields
            .iter()
            .map(|(n, v)| format!("{}: {}", text(n), text(v)))
            .collect()
    }

    const GET: [(&str, &str); 6] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com:8443"),
        (":path", "/a?b=c"),
        ("User-Agent", "loadforge-gate/1.0"),
        ("authorization", "Bearer t"),
    ];

    /// The second block of a repeated request refers to the table the first filled: a few
    /// bytes, the path a literal, the credential a never-indexed literal every time; the server's
    /// decoder reads the same fields from both, and its table holds no credential.
    #[test]
    fn a_repeated_request_is_sent_by_index_and_decodes_to_itself() {
        let (mut e, mut d) = (Encoder::default(), Decoder::new(TABLE_SIZE));
        let mut r = request(&GET);
        let first = e.block(&mut r).to_vec();
        assert_eq!(decoded(&mut d, &first), lines(&r));
        let second = e.block(&mut r).to_vec();
        assert_eq!(decoded(&mut d, &second), lines(&r));
        assert!(second.len() < first.len() / 2, "{first:?} then {second:?}");
        // :method GET and :scheme https from the static table, the authority and user-agent
        // from the dynamic one (62, 63: newest first).
        assert_eq!(&second[..4], [0x82, 0x87, 0xbf, 0x04]);
        assert!(
            second.windows(2).any(|w| w == [0x1f, 0x08]),
            "never indexed, name 23"
        );
        let (_, table) = d.dynamic();
        let names: Vec<_> = table.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["user-agent", ":authority"]);
        assert_eq!(
            e.block(&mut r),
            second,
            "the block kept for an unchanged table"
        );
    }

    /// Two requests taking turns on one connection: a block kept from before the other
    /// request changed the table is encoded anew, never sent with stale indexes.
    #[test]
    fn a_kept_block_is_not_sent_after_the_table_changed() {
        let (mut e, mut d) = (Encoder::default(), Decoder::new(TABLE_SIZE));
        let mut a = request(&[(":method", "GET"), ("accept", "a")]);
        let mut b = request(&[(":method", "GET"), ("accept", "b")]);
        for _ in 0..3 {
            for r in [&mut a, &mut b] {
                let block = e.block(r).to_vec();
                assert_eq!(decoded(&mut d, &block), lines(r));
            }
        }
        // Now both are in the table: `a`'s block is kept and still right.
        let kept = e.block(&mut a).to_vec();
        assert_eq!(decoded(&mut d, &kept), lines(&a));
        assert_eq!(kept, [0x82, 0xbf]);
        // The server's settings change the table's size: the kept block is not sent again
        // without the size update in front.
        e.peer_table_size(0);
        let resized = e.block(&mut a).to_vec();
        assert_eq!(resized[..2], [0x20, 0x82]);
        assert_eq!(decoded(&mut d, &resized), lines(&a));
    }

    /// Fields that change all the time, past the table's size: evictions on both sides agree
    /// (every block decodes to its fields), whatever order they come in.
    #[test]
    fn evictions_keep_both_tables_in_step() {
        let (mut e, mut d) = (Encoder::default(), Decoder::new(TABLE_SIZE));
        let mut x: u32 = 7;
        for i in 0..2_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let value = format!("{}", x >> 20);
            let names = [
                "accept",
                "user-agent",
                "origin",
                "content-type",
                "pragma",
                "x-own",
            ];
            let name = names[(x >> 8) as usize % names.len()];
            let long = "v".repeat((x as usize >> 4) % 900);
            let mut r = request(&[
                (":method", if i % 3 == 0 { "POST" } else { "GET" }),
                (name, &value),
                ("accept-language", &long),
                ("cookie", &value),
            ]);
            let block = e.block(&mut r).to_vec();
            assert_eq!(decoded(&mut d, &block), lines(&r), "request {i}");
        }
        assert!(d.dynamic().0 <= TABLE_SIZE);
    }

    /// The server's settings shrink the table to nothing and grow it back: the next block
    /// starts with both sizes (RFC 7541, 4.2), and while the table is 0 nothing is indexed.
    #[test]
    fn table_sizes_from_the_settings_are_signalled_before_the_next_block() {
        let (mut e, mut d) = (Encoder::default(), Decoder::new(TABLE_SIZE));
        let mut r = request(&GET[..3]);
        decoded(&mut d, e.block(&mut r));
        e.peer_table_size(0);
        let block = e.block(&mut r).to_vec();
        // Size 0, then the authority a literal not indexed (0000, name 1), no longer by index.
        assert_eq!(&block[..5], [0x20, 0x82, 0x87, 0x01, 16]);
        assert_eq!(decoded(&mut d, &block), lines(&r));
        assert_eq!(d.dynamic().0, 0);
        e.peer_table_size(1 << 20);
        e.peer_table_size(0);
        e.peer_table_size(100_000);
        let block = e.block(&mut r).to_vec();
        assert_eq!(
            &block[..4],
            [0x20, 0x3f, 0xe1, 0x1f],
            "0, then 4,096 (the most used)"
        );
        assert_eq!(decoded(&mut d, &block), lines(&r));
        e.peer_table_size(8192);
        assert_eq!(
            e.block(&mut r)[0],
            0x82,
            "no size change: nothing signalled"
        );
    }

    /// A value over 3/4 of the table is sent as a literal without indexing, so it does not
    /// push every other entry out.
    #[test]
    fn a_field_too_large_for_the_table_is_not_indexed() {
        let (mut e, mut d) = (Encoder::default(), Decoder::new(TABLE_SIZE));
        let big = "v".repeat(3_100);
        let mut r = request(&[(":authority", "a"), ("user-agent", &big)]);
        let block = e.block(&mut r).to_vec();
        assert_eq!(decoded(&mut d, &block), lines(&r));
        let (_, table) = d.dynamic();
        assert_eq!(table, [(":authority".to_string(), "a".to_string())]);
    }

    #[test]
    fn credentials_and_changing_values_have_their_policies() {
        assert_eq!(Policy::of(b"cookie"), Policy::Never);
        assert_eq!(Policy::of(b"proxy-authorization"), Policy::Never);
        assert_eq!(Policy::of(b":path"), Policy::NoIndex);
        assert_eq!(Policy::of(b"content-length"), Policy::NoIndex);
        assert_eq!(Policy::of(b"user-agent"), Policy::Index);
        assert_eq!(Policy::of(b"x-api-key"), Policy::NoIndex, "maybe a secret");
        assert_eq!(Policy::of(b"x-request-id"), Policy::NoIndex);
    }
}
