//! What a result may show. The target's URL, the endpoint names, the failure reasons and the
//! run's other words come from outside (the command line, a locustfile, a target's answers,
//! LoadForge, a results file from another job) and every report prints them: a credential in a
//! query string (`?access_token=...`, `GET /items?api_key=...`) is redacted in each, as
//! user:password is, and free text is quoted ([`crate::quote::quote`]: one line, a bounded
//! length; a URL up to [`MAX_URL_CHARS`]). Every engine's result and every results file read
//! passes through [`RunResult::scrub`] before anything names, judges or shows it.

use std::collections::BTreeMap;

use super::{EndpointStats, HistoryEntry, PairedRun, RunResult};
use crate::{
    quote::{quote, quote_at_most},
    secret::{redact_query, redact_url},
};

/// The most characters of a URL a result keeps (a target, a pipeline's or a cloud run's page).
pub(crate) const MAX_URL_CHARS: usize = 2048;

/// A URL as a result keeps it: no credentials, one line, at most [`MAX_URL_CHARS`].
fn url(text: &str) -> String {
    quote_at_most(&redact_url(text), MAX_URL_CHARS)
}

fn quote_in_place(text: &mut String) {
    *text = quote(text);
}

impl RunResult {
    /// Redacts the credentials in the target, the cloud link, the endpoint names (and the
    /// names a shard folded) and the failure reasons, and quotes the run's free text (the
    /// reasons, the scenario's name, the start time, the shard's run id, the CI values). Two
    /// names or two reasons that read the same afterwards are still two rows until
    /// [`RunResult::merge_same_names`] merges them, which every caller does next.
    pub(crate) fn scrub(&mut self) {
        let run = &mut self.run;
        run.target = url(&run.target);
        run.cloud_url = run.cloud_url.as_deref().map(url);
        run.scenario.iter_mut().for_each(quote_in_place);
        quote_in_place(&mut run.started_at);
        run.aborted.iter_mut().for_each(quote_in_place);
        run.k6.iter_mut().for_each(super::K6Verdicts::scrub);
        if let Some(ci) = &mut self.ci {
            for text in [
                &mut ci.commit_sha,
                &mut ci.ref_name,
                &mut ci.pipeline_id,
                &mut ci.job_id,
                &mut ci.job_name,
                &mut ci.merge_request_iid,
            ] {
                text.iter_mut().for_each(quote_in_place);
            }
            ci.pipeline_url = ci.pipeline_url.as_deref().map(url);
            ci.job_url = ci.job_url.as_deref().map(url);
        }
        if let Some(shard) = &mut self.run.shard {
            quote_in_place(&mut shard.run_id);
            for name in &mut shard.folded_names.names {
                *name = crate::quote::endpoint_name(name);
            }
            shard.folded_names.names.sort();
            shard.folded_names.names.dedup();
        }
        self.aggregate.scrub();
        self.endpoints.iter_mut().for_each(EndpointStats::scrub);
        if let Some(paired) = &mut self.paired {
            paired.scrub();
        }
    }
}

impl PairedRun {
    /// The base's address and every name in it as the run's own are scrubbed.
    fn scrub(&mut self) {
        self.base_target = url(&self.base_target);
        self.base_aggregate.scrub();
        self.base_endpoints
            .iter_mut()
            .for_each(EndpointStats::scrub);
        for slice in &mut self.slices {
            slice.aggregate.name = crate::quote::endpoint_name(&slice.aggregate.name);
            for row in &mut slice.endpoints {
                row.name = crate::quote::endpoint_name(&row.name);
            }
        }
    }
}

impl HistoryEntry {
    /// A past run's rows as [`RunResult::scrub`] leaves a run's.
    pub(crate) fn scrub(&mut self) {
        self.commit.iter_mut().for_each(quote_in_place);
        self.pipeline.iter_mut().for_each(quote_in_place);
        quote_in_place(&mut self.started_at);
        self.aggregate.scrub();
        self.endpoints.iter_mut().for_each(EndpointStats::scrub);
    }
}

impl EndpointStats {
    /// The name without credentials, the reasons without credentials and quoted; reasons that
    /// read the same afterwards are counted as one.
    fn scrub(&mut self) {
        self.name = crate::quote::endpoint_name(&self.name);
        if self
            .failures_by_reason
            .keys()
            .all(|r| scrubbed_reason(r) == *r)
        {
            super::cap_reasons(&mut self.failures_by_reason);
            return;
        }
        let mut reasons = BTreeMap::new();
        for (reason, n) in std::mem::take(&mut self.failures_by_reason) {
            let slot: &mut u64 = reasons.entry(scrubbed_reason(&reason)).or_default();
            *slot = slot.saturating_add(n);
        }
        super::cap_reasons(&mut reasons);
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

    #[test]
    fn a_row_of_a_thousand_reasons_keeps_the_cap_and_every_count() {
        let many: Vec<(String, u64)> = (0..1000).map(|i| (format!("HTTP 500 id={i}"), 1)).collect();
        let borrowed: Vec<(&str, u64)> = many.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        let mut r = crate::stats::fixture(vec![row("GET /x", &borrowed)], 1.0);
        r.scrub();
        let reasons = &r.endpoints[0].failures_by_reason;
        assert_eq!(reasons.len(), crate::stats::MAX_REASONS);
        assert_eq!(reasons.values().sum::<u64>(), 1000);
        assert_eq!(reasons[crate::stats::OTHER_REASONS], 1000 - 63);
    }

    #[test]
    fn a_paired_run_keeps_no_credential_either() {
        let mut r = crate::stats::fixture(vec![row("GET /x", &[])], 1.0);
        let mut slice = crate::stats::slice_fixture(0, 10.0);
        slice.endpoints = vec![
            crate::stats::paired::tests::row("GET /s?token=S3CR3T", 5, 10.0),
            crate::stats::paired::tests::row("GET /s?token=OTHER", 5, 20.0),
        ];
        let mut paired = crate::stats::paired_fixture(vec![slice]);
        paired.base_target = "https://base.example/?access_token=T0K3N".into();
        paired.base_endpoints = vec![row("GET /b?api_key=K3Y", &[("401 /b?api_key=K3Y", 1)])];
        r.paired = Some(paired);
        r.scrub();
        r.merge_same_names();
        let text = format!("{r:?}");
        for secret in ["T0K3N", "K3Y", "S3CR3T", "OTHER"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        let paired = r.paired.unwrap();
        assert_eq!(paired.slices[0].endpoints.len(), 1, "merged once scrubbed");
        assert_eq!(paired.slices[0].endpoints[0].requests, 10);
    }
}
