//! One rule for names: rows that share an endpoint name are one endpoint. Locust reports
//! `("GET", "/dashboard")` and `("GET", "GET /dashboard")` as two entries that both read
//! `GET /dashboard` here, LoadForge may list a name twice, a results file may carry two rows of a
//! name: every such set of rows becomes one row (counts, failures and histograms add) before
//! anything judges, compares or folds them, so no rule reads one row and misses the other.
//! Every engine's result passes through [`RunResult::merge_same_names`] (or, for a parser that
//! builds its rows one at a time, through [`ByName`]), and `merge` adds shards' rows with
//! [`merged_row`].

use std::collections::{HashMap, HashSet};

use super::{
    percent, rate, sums::Sums, EndpointStats, LatencyHistogram, LatencySummary, RunResult,
};

impl RunResult {
    /// Merges the endpoint rows that share a name (see [`merge_same_names`]); the aggregate,
    /// every request once already, stays as it is.
    pub(crate) fn merge_same_names(&mut self) {
        merge_same_names(&mut self.endpoints, self.run.duration_s);
        if let Some(paired) = &mut self.paired {
            paired.merge_same_names();
        }
    }
}

/// Merges the rows of `rows` that share a name into one, at the place of the first of them.
/// Rows with a name of their own are left exactly as they are.
pub(crate) fn merge_same_names(rows: &mut Vec<EndpointStats>, duration_s: f64) {
    let mut seen = HashSet::with_capacity(rows.len());
    if rows.iter().all(|e| seen.insert(e.name.as_str())) {
        return;
    }
    let mut by_name = ByName::new(duration_s);
    for row in std::mem::take(rows) {
        by_name.add(row);
    }
    *rows = by_name.into_rows();
}

/// Rows gathered one at a time, one per name: a row whose name is already there is merged
/// into it at once, so a parser never holds more rows than names.
#[derive(Debug)]
pub(crate) struct ByName {
    rows: Vec<EndpointStats>,
    at: HashMap<String, usize>,
    duration_s: f64,
}

impl ByName {
    /// No rows yet; rates are over `duration_s`.
    pub(crate) fn new(duration_s: f64) -> ByName {
        ByName {
            rows: Vec::new(),
            at: HashMap::new(),
            duration_s,
        }
    }

    /// Adds `row`: a new name takes the next place, a known one is merged into its row.
    pub(crate) fn add(&mut self, row: EndpointStats) {
        match self.at.get(&row.name).and_then(|&i| self.rows.get_mut(i)) {
            Some(slot) => {
                let merged = merged_row(slot.name.clone(), &[&*slot, &row], self.duration_s);
                *slot = merged;
            }
            None => {
                self.at.insert(row.name.clone(), self.rows.len());
                self.rows.push(row);
            }
        }
    }

    /// The rows, in the order their names first came.
    pub(crate) fn into_rows(self) -> Vec<EndpointStats> {
        self.rows
    }
}

/// One row named `name` from rows of that name (an endpoint's parts: two rows of one run, or
/// one row per shard). What adds up exactly is added: requests, failures by reason, histograms,
/// bytes. When every part has a histogram, the percentiles are the merged histogram's; the
/// fastest and slowest requests and the average are the parts' own figures combined, which an
/// engine may know more exactly than its histogram (Locust keeps ~2 significant digits).
/// Without every histogram, percentiles cannot be merged exactly: each is then the largest of
/// the parts' (no rule of the form `p95<X` passes on it that the union of the requests would
/// fail). Without every part's counts (a cloud API that gives only rates), the error rate and
/// the average are the worst part's, for the same reason.
pub(crate) fn merged_row(name: String, parts: &[&EndpointStats], duration_s: f64) -> EndpointStats {
    let method = parts.iter().find_map(|p| p.method.clone());
    let Sums {
        requests,
        failures,
        failures_by_reason,
        histogram,
        every_histogram,
        received,
        protocol,
    } = Sums::of(parts.iter().copied());
    let mut failures_by_reason = failures_by_reason;
    super::cap_reasons(&mut failures_by_reason);
    let counts_reported = parts.iter().all(|p| p.counts_reported);
    // Percentiles are read from a histogram only when it holds every part's requests.
    let histogram = every_histogram.then_some(histogram);
    let latency_ms = latency(parts, histogram.as_ref(), counts_reported);
    let error_rate = if counts_reported {
        percent(failures, requests)
    } else {
        parts.iter().map(|p| p.error_rate).fold(0.0, f64::max)
    };
    let rps = if counts_reported {
        rate(requests, duration_s)
    } else {
        parts.iter().map(|p| p.rps).fold(0.0, |a, b| a + b)
    };
    EndpointStats {
        name,
        method,
        requests,
        failures,
        rps,
        error_rate,
        latency_ms,
        failures_by_reason,
        histogram,
        counts_reported,
        received,
        protocol,
    }
}

/// The merged latency figures of `parts` (see [`merged_row`]).
fn latency(
    parts: &[&EndpointStats],
    histogram: Option<&LatencyHistogram>,
    counts_reported: bool,
) -> LatencySummary {
    // Parts without requests measured nothing; with unknown counts every part counts.
    let measured: Vec<&EndpointStats> = parts
        .iter()
        .copied()
        .filter(|p| !p.counts_reported || p.requests > 0)
        .collect();
    let min = measured
        .iter()
        .filter_map(|p| p.latency_ms.min)
        .reduce(f64::min);
    let max = measured
        .iter()
        .filter_map(|p| p.latency_ms.max)
        .reduce(f64::max);
    let avg = if counts_reported {
        weighted_avg(&measured)
    } else {
        every(&measured, |l| l.avg).map(|v| v.into_iter().fold(f64::MIN, f64::max))
    };
    let mut summary = match histogram {
        Some(h) => LatencySummary::from_histogram(h),
        None => {
            let largest = |pick: fn(&LatencySummary) -> Option<f64>| {
                every(&measured, pick).map(|v| v.into_iter().fold(f64::MIN, f64::max))
            };
            LatencySummary {
                p50: largest(|l| l.p50),
                p90: largest(|l| l.p90),
                p95: largest(|l| l.p95),
                p99: largest(|l| l.p99),
                p99_9: largest(|l| l.p99_9),
                ..LatencySummary::default()
            }
        }
    };
    summary.min = min.or(summary.min);
    summary.max = max.or(summary.max);
    summary.avg = avg.or(summary.avg);
    summary.keep_within_extremes();
    summary
}

/// The average over every request of `parts`, when each part that measured any gives one.
fn weighted_avg(parts: &[&EndpointStats]) -> Option<f64> {
    let mut sum = 0.0;
    let mut n = 0u64;
    for p in parts {
        let avg = p.latency_ms.avg?;
        sum += avg * p.requests as f64;
        n = n.saturating_add(p.requests);
    }
    (n > 0).then(|| sum / n as f64)
}

/// `pick` of every part, or `None` when a part lacks it (or there are none).
fn every(
    parts: &[&EndpointStats],
    pick: impl Fn(&LatencySummary) -> Option<f64>,
) -> Option<Vec<f64>> {
    if parts.is_empty() {
        return None;
    }
    parts.iter().map(|p| pick(&p.latency_ms)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::fixture;

    /// `n` requests at `ms` each, `failed` of them failed.
    fn row(name: &str, n: u64, ms: u64, failed: u64) -> EndpointStats {
        let mut h = LatencyHistogram::new();
        h.record_micros_n(ms * 1000, n);
        let reasons = if failed > 0 {
            BTreeMap::from([("HTTP 500".to_string(), failed)])
        } else {
            BTreeMap::new()
        };
        EndpointStats::from_counts(name.into(), Some("GET".into()), h, n, reasons, 10.0)
    }

    /// What a cloud API gives: no histogram, perhaps no counts.
    fn summary_row(
        name: &str,
        counts: Option<(u64, u64)>,
        error_rate: f64,
        p95: f64,
    ) -> EndpointStats {
        let (requests, failures) = counts.unwrap_or_default();
        EndpointStats {
            name: name.into(),
            method: None,
            requests,
            failures,
            rps: requests as f64 / 10.0,
            error_rate,
            latency_ms: LatencySummary {
                avg: Some(p95 / 2.0),
                p95: Some(p95),
                ..LatencySummary::default()
            },
            failures_by_reason: BTreeMap::new(),
            histogram: None,
            counts_reported: counts.is_some(),
            received: None,
            protocol: None,
        }
    }

    /// The audit's case: two rows of `GET /dashboard`, the second all errors and slow. Judged on
    /// the first alone, `error_rate<1%` passed.
    #[test]
    fn rows_with_the_same_name_are_judged_together() {
        let mut r = fixture(
            vec![
                row("GET /dashboard", 90, 10, 0),
                row("GET /other", 5, 10, 0),
                row("GET /dashboard", 10, 5000, 10),
            ],
            10.0,
        );
        let before = r.aggregate.clone();
        r.merge_same_names();
        let names: Vec<&str> = r.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["GET /dashboard", "GET /other"]);
        let d = r.endpoint("GET /dashboard").unwrap();
        assert_eq!((d.requests, d.failures), (100, 10));
        assert_eq!(d.error_rate, 10.0);
        assert_eq!(d.failures_by_reason.get("HTTP 500"), Some(&10));
        assert_eq!(d.histogram.as_ref().map(LatencyHistogram::count), Some(100));
        assert!(d.latency_ms.p95.unwrap() > 4000.0, "{:?}", d.latency_ms);
        assert!(d.latency_ms.max.unwrap() >= 5000.0, "{:?}", d.latency_ms);
        assert!((d.rps - 10.0).abs() < 1e-9);
        assert_eq!(
            r.aggregate, before,
            "the aggregate counted every request already"
        );
    }

    #[test]
    fn rows_with_names_of_their_own_are_left_as_they_are() {
        let mut r = fixture(vec![row("GET /a", 3, 1, 0), row("GET /b", 2, 1, 1)], 10.0);
        let before = r.clone();
        r.merge_same_names();
        assert_eq!(r, before);
    }

    /// LoadForge's rows: without histograms the percentiles are the worst part's; without counts
    /// the error rate is too.
    #[test]
    fn rows_without_histograms_or_counts_merge_to_the_worst_part() {
        let mut rows = vec![
            summary_row("GET /api", Some((90, 0)), 0.0, 100.0),
            summary_row("GET /api", Some((10, 10)), 100.0, 5000.0),
        ];
        merge_same_names(&mut rows, 10.0);
        assert_eq!(rows.len(), 1);
        let m = &rows[0];
        assert_eq!((m.requests, m.failures, m.error_rate), (100, 10, 10.0));
        assert_eq!(m.latency_ms.p95, Some(5000.0));
        assert_eq!(
            m.latency_ms.avg,
            Some((90.0 * 50.0 + 10.0 * 2500.0) / 100.0)
        );
        assert!(m.histogram.is_none() && m.counts_reported);

        let mut rows = vec![
            summary_row("GET /api", None, 0.5, 100.0),
            summary_row("GET /api", None, 100.0, 5000.0),
        ];
        merge_same_names(&mut rows, 10.0);
        let m = &rows[0];
        assert!(!m.counts_reported);
        assert_eq!(m.error_rate, 100.0);
        assert_eq!(m.latency_ms.avg, Some(2500.0));
        assert_eq!(m.latency_ms.p95, Some(5000.0));
        // One part without a p95 leaves the merged one unknown, never the other part's.
        let mut rows = vec![
            summary_row("GET /api", None, 0.5, 100.0),
            summary_row("GET /api", None, 100.0, 5000.0),
        ];
        rows[1].latency_ms.p95 = None;
        merge_same_names(&mut rows, 10.0);
        assert_eq!(rows[0].latency_ms.p95, None);
    }

    /// Exact extremes and average (Locust's) survive the merge; percentiles stay within them.
    #[test]
    fn exact_extremes_and_average_are_combined() {
        let mut a = row("GET /x", 4, 10, 0);
        a.latency_ms.min = Some(9.6);
        a.latency_ms.max = Some(10.4);
        a.latency_ms.avg = Some(10.1);
        let mut b = row("GET /x", 1, 200, 0);
        b.latency_ms.max = Some(201.5);
        b.latency_ms.avg = Some(201.5);
        let m = merged_row("GET /x".into(), &[&a, &b], 10.0);
        assert_eq!(m.latency_ms.min, Some(9.6));
        assert_eq!(m.latency_ms.max, Some(201.5));
        assert_eq!(m.latency_ms.avg, Some((4.0 * 10.1 + 201.5) / 5.0));
        let l = &m.latency_ms;
        for p in [l.p50, l.p90, l.p95, l.p99, l.p99_9].into_iter().flatten() {
            assert!((9.6..=201.5).contains(&p), "{l:?}");
        }
    }
}
