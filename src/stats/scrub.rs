//! What a result may show. The target's URL, the endpoint names and the failure reasons come
//! from outside (the command line, a locustfile, a target's answers, LoadForge, a results file
//! from another job) and every report prints them: a credential in a query string
//! (`?access_token=...`, `GET /items?api_key=...`) is redacted in each, as user:password is,
//! and a failure reason is quoted ([`crate::quote::quote`]: one line, a bounded length).
//! Every engine's result and every results file read passes through [`RunResult::scrub`]
//! before anything names, judges or shows it.

use std::collections::BTreeMap;

use super::{EndpointStats, HistoryEntry, RunResult};
use crate::secret::{redact_query, redact_url};

impl RunResult {
    /// Redacts the credentials in the target, the cloud link, the endpoint names (and the
    /// names a shard folded) and the failure reasons, and quotes the reasons. Two names or two
    /// reasons that read the same afterwards are still two rows until
    /// [`RunResult::merge_same_names`] merges them, which every caller does next.
    pub(crate) fn scrub(&mut self) {
        self.run.target = redact_url(&self.run.target);
        if let Some(url) = &mut self.run.cloud_url {
            *url = redact_url(url);
        }
        if let Some(shard) = &mut self.run.shard {
            for name in &mut shard.folded_names.names {
                *name = redact_query(name);
            }
            shard.folded_names.names.sort();
            shard.folded_names.names.dedup();
        }
        self.aggregate.scrub();
        self.endpoints.iter_mut().for_each(EndpointStats::scrub);
    }
}

impl HistoryEntry {
    /// A past run's rows as [`RunResult::scrub`] leaves a run's.
    pub(crate) fn scrub(&mut self) {
        self.aggregate.scrub();
        self.endpoints.iter_mut().for_each(EndpointStats::scrub);
    }
}

impl EndpointStats {
    /// The name without credentials, the reasons without credentials and quoted; reasons that
    /// read the same afterwards are counted as one.
    fn scrub(&mut self) {
        self.name = redact_query(&self.name);
        if self
            .failures_by_reason
            .keys()
            .all(|r| scrubbed_reason(r) == *r)
        {
            return;
        }
        let mut reasons = BTreeMap::new();
        for (reason, n) in std::mem::take(&mut self.failures_by_reason) {
            let slot: &mut u64 = reasons.entry(scrubbed_reason(&reason)).or_default();
            *slot = slot.saturating_add(n);
        }
        self.failures_by_reason = reasons;
    }
}

/// A failure reason as every report shows it.
pub(crate) fn scrubbed_reason(reason: &str) -> String {
    crate::quote::quote(&redact_query(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, reasons: &[(&str, u64)]) -> EndpointStats {
        EndpointStats {
            failures_by_reason: reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            ..EndpointStats::aggregate(name, &[], 1.0)
        }
    }

    #[test]
    fn query_credentials_leave_the_target_names_and_reasons() {
        let mut r = crate::stats::fixture(
            vec![
                row(
                    "GET /x?api_key=K3Y",
                    &[("HTTPError('401 for url: /x?api_key=K3Y')", 2)],
                ),
                row("GET /x?api_key=OTHER", &[("line\nbreak", 1)]),
            ],
            1.0,
        );
        r.run.target = "https://h.example/?access_token=T0K3N&page=1".into();
        r.scrub();
        r.merge_same_names();
        let text = format!("{r:?}");
        for secret in ["T0K3N", "K3Y", "OTHER"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        assert_eq!(r.run.target, "https://h.example/?access_token=***&page=1");
        assert_eq!(r.endpoints.len(), 1, "{:?}", r.endpoints);
        assert_eq!(r.endpoints[0].name, "GET /x?api_key=***");
        let reasons: Vec<&str> = r.endpoints[0]
            .failures_by_reason
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            reasons,
            ["HTTPError('401 for url: /x?api_key=***')", "line\\nbreak"]
        );
    }
}
