//! The HTTP version requests spoke, as results.json names it: the run's (`run.protocol`), the
//! fingerprint's (`load.protocol`) and each endpoint's (`protocol` on its row), and how the
//! protocols of parts add up: the connections of one user, the workers of a run, the shards of a
//! merge, the hops of a redirect chain, the rows of one name.

use schemars::JsonSchema;
use serde::Serialize;

use super::Engine;

/// The HTTP version of a run's or an endpoint's requests, by ALPN's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum Protocol {
    /// HTTP/1.1 on every connection.
    #[serde(rename = "http/1.1")]
    Http1,
    /// HTTP/2 on every connection.
    #[serde(rename = "h2")]
    H2,
    /// Some connections HTTP/2, others HTTP/1.1 (`http2: auto` against servers that disagree,
    /// or a redirect from an HTTP/2 target to an HTTP/1.1 origin).
    #[serde(rename = "mixed")]
    Mixed,
}

impl Protocol {
    /// As reports and the fingerprint's differences name it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::H2 => "HTTP/2",
            Protocol::Mixed => "HTTP/2 and HTTP/1.1",
        }
    }

    /// The fingerprint's form of what `engine`'s run spoke. The native engine leaves HTTP/1.1
    /// out, as in every file it wrote before it spoke HTTP/2, so those baselines stay
    /// comparable. Any other engine writes what it knows, HTTP/1.1 too, so its absence is
    /// *unknown* (an older file, no response, an engine that cannot tell) and never reads as
    /// HTTP/1.1 ([`Protocol::in_load`]).
    pub(crate) fn in_fingerprint(engine: &Engine, protocol: Option<Protocol>) -> Option<Protocol> {
        match engine {
            Engine::Native => protocol.filter(|p| *p != Protocol::Http1),
            _ => protocol,
        }
    }

    /// A fingerprint's protocol as it is compared: absent is HTTP/1.1 for the native engine
    /// (see [`Protocol::in_fingerprint`]) and unknown (`None`) for any other.
    pub(crate) fn in_load(engine: &Engine, protocol: Option<Protocol>) -> Option<Protocol> {
        match engine {
            Engine::Native => protocol.or(Some(Protocol::Http1)),
            _ => protocol,
        }
    }

    /// Two parts' protocols as the whole's: the same, else mixed. A part that spoke none (it
    /// opened no connection, or its engine cannot tell) adds nothing, so one shard of Locust's
    /// or a worker whose users never connected does not hide what the others spoke.
    pub(crate) fn join(a: Option<Protocol>, b: Option<Protocol>) -> Option<Protocol> {
        match (a, b) {
            (Some(x), Some(y)) if x != y => Some(Protocol::Mixed),
            (a, b) => a.or(b),
        }
    }

    /// The protocols of every part as the whole's (see [`Protocol::join`]).
    pub(crate) fn of_all(parts: impl IntoIterator<Item = Option<Protocol>>) -> Option<Protocol> {
        parts.into_iter().fold(None, Protocol::join)
    }

    /// The shards' load protocols (as [`Protocol::in_load`] reads them) as the merged run's.
    /// A shard that knows none (a k6 shard that got no response) adds nothing: its requests,
    /// if any, went the way the answered shards' did, so the merge is theirs. Two shards that
    /// know different protocols measured different things, not parts of one load: `Err` with
    /// the first two that differ, for the merge to refuse, never `mixed`.
    pub(crate) fn of_shards(
        parts: impl IntoIterator<Item = Option<Protocol>>,
    ) -> Result<Option<Protocol>, (Protocol, Protocol)> {
        let mut known = None;
        for p in parts.into_iter().flatten() {
            match known {
                Some(k) if k != p => return Err((k, p)),
                _ => known = Some(p),
            }
        }
        Ok(known)
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

// A value this version does not know refuses the file, with the value quoted (a baseline is
// someone else's file: its text never reaches a log as it was written). It is not dropped: an
// HTTP/3 baseline read as one of unknown protocol would be compared with an HTTP/1.1 run.
crate::quote::word::words!(
    Protocol,
    "protocol",
    [Protocol::Http1, Protocol::H2, Protocol::Mixed]
);

#[cfg(test)]
mod tests {
    use super::Protocol::{self, Http1, Mixed, H2};

    #[test]
    fn parts_join_to_the_same_protocol_or_mixed_and_silent_parts_add_nothing() {
        assert_eq!(Protocol::join(Some(H2), Some(H2)), Some(H2));
        assert_eq!(Protocol::join(Some(H2), Some(Http1)), Some(Mixed));
        assert_eq!(Protocol::join(Some(Mixed), Some(H2)), Some(Mixed));
        assert_eq!(Protocol::join(None, Some(Http1)), Some(Http1));
        assert_eq!(Protocol::join(Some(H2), None), Some(H2));
        assert_eq!(Protocol::of_all([None, None]), None);
        assert_eq!(Protocol::of_all([Some(Http1), None, Some(H2)]), Some(Mixed));
    }

    /// Unknown beside a known protocol is that protocol; two known ones that differ (mixed
    /// included: a shard whose connections disagreed is not the one that spoke h2 alone) are
    /// refused with both, whatever the order.
    #[test]
    fn shards_join_unknown_to_the_known_and_refuse_two_known_ones() {
        assert_eq!(Protocol::of_shards([None, Some(H2)]), Ok(Some(H2)));
        assert_eq!(
            Protocol::of_shards([Some(H2), None, Some(H2)]),
            Ok(Some(H2))
        );
        assert_eq!(Protocol::of_shards([None, None]), Ok(None));
        assert_eq!(
            Protocol::of_shards([Some(Http1), Some(H2)]),
            Err((Http1, H2))
        );
        assert_eq!(
            Protocol::of_shards([None, Some(H2), None, Some(Mixed)]),
            Err((H2, Mixed))
        );
    }

    #[test]
    fn the_files_words_read_back_and_anything_else_is_refused_quoted() {
        for p in [Http1, H2, Mixed] {
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Protocol>(&text).unwrap(), p);
        }
        let e = serde_json::from_str::<Protocol>(r#""h3\u001b[31m\nx""#).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with(r"protocol `h3\u{1b}[31m\nx` is not one this version reads"),
            "{e}"
        );
        assert!(!e.contains('\u{1b}') && !e.contains('\n'), "{e}");
        assert!(serde_json::from_str::<Protocol>("2").is_err());
    }
}
