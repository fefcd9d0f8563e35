//! What a response's header list says, read field by field as HPACK decodes it: the status,
//! the body's encoding, the headers a cookie jar and a redirect need; whether the list is
//! malformed (RFC 9113, 8.1.1) or past the head cap. Nothing else is kept, so a response's
//! headers cost no allocation unless a `Set-Cookie` or `Location` was asked for.

use super::super::{decode::Encoding, wire::Meta};

/// A final response's head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    /// The first `Content-Encoding`, when this client undoes it.
    pub(crate) encoding: Encoding,
    /// `Set-Cookie` and `Location`, when asked for.
    pub(crate) meta: Meta,
}

/// What one header block turned out to be.
#[derive(Debug)]
pub(crate) enum Verdict {
    Final(ResponseHead),
    /// An interim response (1xx) or trailers: nothing to keep.
    Skip,
    /// Over the cap (RFC 7541's count: each field's bytes and 32).
    TooLarge,
    Malformed,
}

/// A header block being read.
pub(crate) struct Collect {
    cap: usize,
    want_meta: bool,
    trailers: bool,
    size: usize,
    over: bool,
    bad: bool,
    /// A regular field was read: a pseudo-field after it is malformed.
    regular: bool,
    status: Option<u16>,
    encoding: Option<Encoding>,
    meta: Meta,
}

impl Collect {
    /// `trailers`: the block follows the final head. `want_meta`: keep `Set-Cookie` and
    /// `Location`.
    pub(crate) fn new(cap: usize, want_meta: bool, trailers: bool) -> Collect {
        Collect {
            cap,
            want_meta,
            trailers,
            size: 0,
            over: false,
            bad: false,
            regular: false,
            status: None,
            encoding: None,
            meta: Meta::default(),
        }
    }

    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) {
        self.size += name.len() + value.len() + 32;
        if self.over || self.size > self.cap {
            // The rest is still decoded (the dynamic table must follow), not kept.
            self.over = true;
            return;
        }
        if name.first() == Some(&b':') {
            self.pseudo(name, value);
            return;
        }
        self.regular = true;
        if name.iter().any(u8::is_ascii_uppercase) {
            self.bad = true;
        }
        if self.trailers {
            return;
        }
        match name {
            b"content-encoding" if self.encoding.is_none() => {
                self.encoding = Some(Encoding::parse(value).unwrap_or(Encoding::Identity));
            }
            b"set-cookie" if self.want_meta => {
                if let Ok(v) = std::str::from_utf8(value) {
                    self.meta.set_cookies.push(v.to_string());
                }
            }
            b"location" if self.want_meta && self.meta.location.is_none() => {
                self.meta.location = std::str::from_utf8(value)
                    .ok()
                    .map(|v| v.trim().to_string());
            }
            _ => {}
        }
    }

    /// `:status` once, before any regular field, three digits; no other pseudo-field.
    fn pseudo(&mut self, name: &[u8], value: &[u8]) {
        let status = match value {
            [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
            }
            _ => None,
        };
        match (name, status) {
            (b":status", Some(s)) if !self.regular && !self.trailers && self.status.is_none() => {
                self.status = Some(s);
            }
            _ => self.bad = true,
        }
    }

    /// The block read whole; `end_stream`: its frame ended the stream.
    pub(crate) fn finish(self, end_stream: bool) -> Verdict {
        if self.over {
            return Verdict::TooLarge;
        }
        if self.bad || (self.trailers && !end_stream) {
            return Verdict::Malformed;
        }
        match self.status {
            None if self.trailers => Verdict::Skip,
            Some(100 | 102..=199) if !end_stream => Verdict::Skip,
            Some(status @ 200..) => Verdict::Final(ResponseHead {
                status,
                encoding: self.encoding.unwrap_or(Encoding::Identity),
                meta: self.meta,
            }),
            _ => Verdict::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(fields: &[(&str, &str)], trailers: bool, end: bool) -> Verdict {
        let mut c = Collect::new(400, true, trailers);
        for (n, v) in fields {
            c.field(n.as_bytes(), v.as_bytes());
        }
        c.finish(end)
    }

    #[test]
    fn a_head_gives_its_status_encoding_cookies_and_location() {
        let v = verdict(
            &[
                (":status", "302"),
                ("content-encoding", "gzip"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("location", " /next "),
            ],
            false,
            false,
        );
        let Verdict::Final(h) = v else {
            panic!("{v:?}")
        };
        assert_eq!((h.status, h.encoding), (302, Encoding::Gzip));
        assert_eq!(h.meta.set_cookies, ["a=1", "b=2"]);
        assert_eq!(h.meta.location.as_deref(), Some("/next"));
    }

    #[test]
    fn malformed_lists_and_lists_past_the_cap_are_told_apart() {
        let malformed = [
            &[("x", "1")][..],
            &[(":status", "2000")],
            &[(":status", "200"), (":status", "200")],
            &[("x", "1"), (":status", "200")],
            &[(":status", "200"), (":path", "/")],
            &[(":status", "200"), ("X-Upper", "1")],
            &[(":status", "101")],
        ];
        for fields in malformed {
            assert!(
                matches!(verdict(fields, false, false), Verdict::Malformed),
                "{fields:?}"
            );
        }
        let big = "v".repeat(400);
        assert!(matches!(
            verdict(&[(":status", "200"), ("x", &big)], false, false),
            Verdict::TooLarge
        ));
        assert!(matches!(
            verdict(&[(":status", "100")], false, false),
            Verdict::Skip
        ));
        assert!(matches!(
            verdict(&[(":status", "100")], false, true),
            Verdict::Malformed
        ));
        assert!(matches!(
            verdict(&[("x-t", "1")], true, true),
            Verdict::Skip
        ));
        assert!(matches!(
            verdict(&[("x-t", "1")], true, false),
            Verdict::Malformed
        ));
    }
}
