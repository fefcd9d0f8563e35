//! What rows add up to, in one place: the whole run's row ([`super::EndpointStats::aggregate`]),
//! one name's merged row ([`super::merged_row`]) and the shards' merge all add through [`Sums`].

use std::collections::BTreeMap;

use super::{EndpointStats, LatencyHistogram, Protocol, Received};

/// What rows add up to exactly, whatever they are parts of: requests, failures (in all and by
/// reason), histograms and bytes. Counts saturate: a shard file is another job's artifact, and a
/// sum past `u64::MAX` must neither wrap nor stop the gate.
#[derive(Debug)]
pub(super) struct Sums {
    pub(super) requests: u64,
    /// The parts' own failure counts added (a part may count failures it gives no reason for).
    pub(super) failures: u64,
    pub(super) failures_by_reason: BTreeMap<String, u64>,
    /// The histograms of the parts that have one, added.
    pub(super) histogram: LatencyHistogram,
    /// Whether every part had a histogram; else `histogram` holds some parts' requests only.
    pub(super) every_histogram: bool,
    /// The bytes of the parts that counted them; `None` when none did.
    pub(super) received: Option<Received>,
    /// The parts' protocols joined: the same, or mixed ([`Protocol::join`]).
    pub(super) protocol: Option<Protocol>,
}

impl Sums {
    /// The sums of `parts`, added in their order.
    pub(super) fn of<'a>(parts: impl IntoIterator<Item = &'a EndpointStats>) -> Sums {
        let mut sums = Sums {
            requests: 0,
            failures: 0,
            failures_by_reason: BTreeMap::new(),
            histogram: LatencyHistogram::new(),
            every_histogram: true,
            received: None,
            protocol: None,
        };
        let mut received = Vec::new();
        for p in parts {
            sums.requests = sums.requests.saturating_add(p.requests);
            sums.failures = sums.failures.saturating_add(p.failures);
            for (r, n) in &p.failures_by_reason {
                let sum = sums.failures_by_reason.entry(r.clone()).or_default();
                *sum = sum.saturating_add(*n);
            }
            match &p.histogram {
                Some(h) => sums.histogram.add(h),
                None => sums.every_histogram = false,
            }
            received.push(p.received);
            sums.protocol = Protocol::join(sums.protocol, p.protocol);
        }
        sums.received = Received::total(received);
        sums
    }
}
