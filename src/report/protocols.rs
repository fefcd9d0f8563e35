//! The HTTP version of each endpoint, when it is news: the endpoints of the run spoke different
//! protocols (a redirect from an HTTP/2 target to an HTTP/1.1 origin, `http2: auto` against
//! servers that disagree), or an endpoint spoke another protocol than in the baseline. Runs
//! whose endpoints all spoke one protocol, as the baseline's did, say nothing more than the
//! headline's ` over HTTP/2` (nothing at all over HTTP/1.1, as before HTTP/2 was spoken).
//! Endpoints are grouped by protocol, so a thousand of them make a few lines.

use crate::stats::Protocol;

/// The names each line shows; the rest are counted. report.html shows every name.
pub(crate) const MAX_NAMES: usize = 10;

/// The endpoints that spoke one protocol, and the baseline's when it differs.
pub(crate) struct ProtocolGroup<'a> {
    /// What this run's requests to them spoke.
    pub(crate) protocol: Protocol,
    /// What the baseline's spoke, when that was another protocol.
    pub(crate) baseline: Option<Protocol>,
    /// Their names, in the run's order.
    pub(crate) endpoints: Vec<&'a str>,
}

impl ProtocolGroup<'_> {
    /// `HTTP/2`, `HTTP/2 and HTTP/1.1`, or `HTTP/1.1 (baseline: HTTP/2)`.
    pub(crate) fn label(&self) -> String {
        match self.baseline {
            Some(b) => format!("{} (baseline: {})", self.protocol.label(), b.label()),
            None => self.protocol.label().into(),
        }
    }
}

/// The protocol per endpoint, when the reports show it.
pub(crate) struct Protocols<'a> {
    /// Why it is shown, as one sentence.
    pub(crate) why: &'static str,
    /// One group per protocol (and baseline protocol), in the order endpoints first show them.
    pub(crate) groups: Vec<ProtocolGroup<'a>>,
}

/// The endpoints differ among themselves.
const DIFFER: &str = "The endpoints spoke different protocols.";
/// Some endpoint spoke another protocol than in the baseline.
const CHANGED: &str = "Some endpoints spoke another protocol than in the baseline.";
/// Both.
const BOTH: &str =
    "The endpoints spoke different protocols, and some another protocol than in the baseline.";

impl<'a> Protocols<'a> {
    /// From each endpoint's name, this run's protocol and the baseline's (the aggregate is
    /// not one: its protocol is the run's headline); `None` when there is nothing to say.
    pub(crate) fn of(
        endpoints: impl Iterator<Item = (&'a str, Option<Protocol>, Option<Protocol>)>,
    ) -> Option<Protocols<'a>> {
        let spoken = endpoints.filter_map(|(name, protocol, baseline)| {
            let protocol = protocol?;
            Some((name, protocol, baseline.filter(|b| *b != protocol)))
        });
        let mut groups: Vec<ProtocolGroup<'a>> = Vec::new();
        for (name, protocol, baseline) in spoken {
            match (groups.iter_mut()).find(|g| (g.protocol, g.baseline) == (protocol, baseline)) {
                Some(g) => g.endpoints.push(name),
                None => groups.push(ProtocolGroup {
                    protocol,
                    baseline,
                    endpoints: vec![name],
                }),
            }
        }
        let first = groups.first().map(|g| g.protocol);
        let differ = groups.iter().any(|g| Some(g.protocol) != first);
        let changed = groups.iter().any(|g| g.baseline.is_some());
        let why = match (differ, changed) {
            (false, false) => return None,
            (true, false) => DIFFER,
            (false, true) => CHANGED,
            (true, true) => BOTH,
        };
        Some(Protocols { why, groups })
    }
}

/// Up to `max` of `names`, each through `show`, then how many more: `a, b and 3 more`.
pub(crate) fn listed(names: &[&str], max: usize, show: impl Fn(&str) -> String) -> String {
    let shown: Vec<String> = names.iter().take(max).map(|n| show(n)).collect();
    match names.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
