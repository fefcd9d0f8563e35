//! Combining shard results into one run, exactly: counts add, histograms add, failures by reason
//! add, and every percentile of the merged run is read from the merged histograms, so it equals
//! the percentile of the union of all shards' requests. Only the per-second time series is
//! approximate (per-second percentiles are averaged, weighted by requests): the verdict never
//! reads it. A name that any shard folded into `(other endpoints)` is folded in every shard's
//! part, so no merged row holds some shards' counts only. Rows add up one way, [`super::sums::Sums`], whether
//! they are one name's ([`merged_row`]: an engine's duplicates, or shards' parts) or the whole
//! run's ([`EndpointStats::aggregate`]); which files may be merged together is the engine's
//! `merge` to check.

use std::collections::{BTreeMap, HashSet};

use super::{
    fold_named, merged_row, CookiesDropped, EndpointStats, Folded, GeneratorHealth, HostInfo,
    K6Verdicts, LoadFingerprint, Protocol, RunMeta, RunResult, SecondPoint, ToolInfo, ALL_REQUESTS,
    OTHER_ENDPOINTS, SCHEMA,
};

/// Adds up the shards of one run (all of them, or all that arrived) into one result; `cap` is
/// the merge's `--max-endpoints`, named in the merged fold. `None` when there is none.
pub(crate) fn merge_shards(shards: &[RunResult], cap: usize) -> Option<RunResult> {
    let first = shards.first()?;
    let duration_s = shards.iter().map(|r| r.run.duration_s).fold(0.0, f64::max);
    let mut endpoints = merge_endpoints(shards, duration_s);
    let folded = folded_anywhere(shards);
    fold_named(&mut endpoints, &folded, duration_s);
    let starts: Vec<Option<i128>> = shards.iter().map(|r| millis(&r.run.started_at)).collect();
    let earliest = starts.iter().flatten().min().copied();
    let mut folded: Vec<String> = folded.into_iter().collect();
    folded.sort();
    Some(RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: RunMeta {
            folded: (!folded.is_empty()).then(|| Folded::of_names(cap, folded)),
            ..merged_meta(
                &first.run,
                shards,
                earliest_start(shards, &starts, earliest),
                duration_s,
            )
        },
        ci: first.ci.clone(),
        aggregate: EndpointStats::aggregate(ALL_REQUESTS, &endpoints, duration_s),
        endpoints,
        timeseries: merge_series(shards, &starts, earliest),
        paired: None,
    })
}

/// Every name that any shard folded: the names its file lists and, for a shard whose list
/// cannot be complete ([`lists_all_folds`]), every name it did not keep as its own row. Folding
/// a name that shard merely never requested costs a row; keeping one it folded would judge the
/// name on some shards' counts.
fn folded_anywhere(shards: &[RunResult]) -> HashSet<String> {
    let mut names: HashSet<String> = shards
        .iter()
        .filter_map(|r| r.run.shard.as_ref())
        .flat_map(|s| s.folded_names.names.iter().cloned())
        .collect();
    let unlisted: Vec<&RunResult> = shards.iter().filter(|r| !lists_all_folds(r)).collect();
    // A hostile list may name the fold row itself: it is no endpoint of its own.
    names.remove(OTHER_ENDPOINTS);
    if unlisted.is_empty() {
        return names;
    }
    let measured: HashSet<&str> = shards
        .iter()
        .flat_map(|r| r.endpoints.iter().map(|e| e.name.as_str()))
        .filter(|n| *n != OTHER_ENDPOINTS)
        .collect();
    for r in unlisted {
        let kept: HashSet<&str> = r.endpoints.iter().map(|e| e.name.as_str()).collect();
        names.extend(
            measured
                .iter()
                .filter(|n| !kept.contains(*n))
                .map(|n| n.to_string()),
        );
    }
    names
}

/// Whether a shard's file lists every name it folded: not when its list was cut at
/// [`super::MAX_LISTED_NAMES`], nor when it was written by a gate that listed none.
pub(crate) fn lists_all_folds(shard: &RunResult) -> bool {
    let listed = shard.run.shard.as_ref().map(|s| &s.folded_names);
    listed.map_or(shard.run.folded.is_none(), |l| {
        l.lists_all(shard.run.folded.as_ref())
    })
}

fn millis(rfc3339: &str) -> Option<i128> {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(rfc3339))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i128)
}

/// The earliest shard's start, as that shard wrote it (the first shard's if none parses).
fn earliest_start(shards: &[RunResult], starts: &[Option<i128>], earliest: Option<i128>) -> String {
    shards
        .iter()
        .zip(starts)
        .find(|(_, s)| **s == earliest)
        .map(|(r, _)| r.run.started_at.clone())
        .or_else(|| shards.first().map(|r| r.run.started_at.clone()))
        .unwrap_or_default()
}

/// A generator's worst hiccup p99, to choose the shard whose health speaks for a merged run.
fn worst_hiccup(g: &GeneratorHealth) -> f64 {
    g.runtime_hiccup
        .map_or(0.0, |h| h.p99_ms)
        .max(g.thread_hiccup.p99_ms)
}

/// The whole run: the load and the cookies dropped add up, the longest shard is its length, a
/// shard that was interrupted, quantised, aborted or unverified (`--insecure`) makes the whole
/// so, and the host findings are the worst shard's (a shard on a busy or shared host flags the
/// whole). The load fingerprint is the shards' own: each recorded the whole run's.
fn merged_meta(
    first: &RunMeta,
    shards: &[RunResult],
    started_at: String,
    duration_s: f64,
) -> RunMeta {
    let runs = || shards.iter().map(|r| &r.run);
    RunMeta {
        model: first.model,
        scenario: first.scenario.clone(),
        warmup_s: first.warmup_s,
        interrupted: runs().any(|r| r.interrupted),
        quantised: runs().any(|r| r.quantised),
        rate: runs().map(|r| r.rate).sum::<Option<f64>>(),
        aborted: runs().find_map(|r| r.aborted.clone()),
        tls_insecure: runs().any(|r| r.tls_insecure),
        // The whole run's load, which every shard recorded (not its share), spoken in the
        // protocol the shards that know one spoke: a k6 shard that got no response knows none.
        load: merged_load(first, shards),
        // The most troubled shard's generator speaks for the whole: its latencies are in it.
        generator: runs()
            .filter_map(|r| r.generator.clone())
            .max_by(|a, b| worst_hiccup(a).total_cmp(&worst_hiccup(b))),
        cookies_dropped: runs().fold(CookiesDropped::default(), |mut sum, r| {
            sum.add(&r.cookies_dropped);
            sum
        }),
        host: HostInfo::worst(runs().map(|r| r.host.as_ref())),
        // A threshold crossed in any shard is crossed; checks' passes and fails add.
        k6: K6Verdicts::merge(runs().map(|r| r.k6.as_ref())),
        protocol: Protocol::of_all(runs().map(|r| r.protocol)),
        ..RunMeta::new(
            first.engine.clone(),
            first.target.clone(),
            runs().fold(0u32, |sum, r| sum.saturating_add(r.users)),
            runs().map(|r| r.spawn_rate).sum(),
            started_at,
            duration_s,
        )
    }
}

/// The first shard's load with the shards' protocols joined ([`LoadFingerprint::protocol_of_shards`]).
/// Shards that know different protocols are refused before the merge (`engine::merge`); merged
/// anyway, they are `mixed`, never one of them.
fn merged_load(first: &RunMeta, shards: &[RunResult]) -> Option<LoadFingerprint> {
    let loads = || shards.iter().filter_map(|r| r.run.load.as_ref());
    let protocol = LoadFingerprint::protocol_of_shards(loads()).unwrap_or_else(|_| {
        Protocol::of_all(loads().map(|l| Protocol::in_load(&l.engine, l.protocol)))
    });
    first
        .load
        .clone()
        .map(|l| LoadFingerprint { protocol, ..l })
}

/// One endpoint per name across the shards (and within one: a name is one endpoint, see
/// [`merged_row`]): the first shard's order, then any endpoint only later shards saw.
fn merge_endpoints(shards: &[RunResult], duration_s: f64) -> Vec<EndpointStats> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Vec<&EndpointStats>> = BTreeMap::new();
    for r in shards {
        for e in &r.endpoints {
            if !by_name.contains_key(&e.name) {
                order.push(e.name.clone());
            }
            by_name.entry(e.name.clone()).or_default().push(e);
        }
    }
    order
        .into_iter()
        .filter_map(|name| {
            let parts = by_name.get(&name)?;
            Some(merged_row(name, parts, duration_s))
        })
        .collect()
}

/// Aligns each shard's seconds by wall clock (their start times) and adds them up.
fn merge_series(
    shards: &[RunResult],
    starts: &[Option<i128>],
    earliest: Option<i128>,
) -> Vec<SecondPoint> {
    let mut acc: BTreeMap<u32, (SecondPoint, f64, f64, f64)> = BTreeMap::new();
    for (r, start) in shards.iter().zip(starts) {
        let offset = match (start, earliest) {
            (Some(s), Some(e)) => ((s - e) as f64 / 1000.0).round() as u32,
            _ => 0,
        };
        for p in &r.timeseries {
            // Shard files are other jobs' artifacts: a time or a start far off saturates.
            let t = p.t.saturating_add(offset);
            let (sum, w50, w95, w99) = acc
                .entry(t)
                .or_insert_with(|| (SecondPoint::empty(t), 0.0, 0.0, 0.0));
            sum.requests = sum.requests.saturating_add(p.requests);
            sum.failures = sum.failures.saturating_add(p.failures);
            sum.users = sum.users.saturating_add(p.users);
            let w = p.requests as f64;
            if let Some(v) = p.p50_ms {
                *w50 += v * w;
            }
            if let Some(v) = p.p95_ms {
                *w95 += v * w;
            }
            if let Some(v) = p.p99_ms {
                *w99 += v * w;
            }
        }
    }
    acc.into_values()
        .map(|(mut p, w50, w95, w99)| {
            if p.requests > 0 {
                let n = p.requests as f64;
                p.p50_ms = Some(w50 / n);
                p.p95_ms = Some(w95 / n);
                p.p99_ms = Some(w99 / n);
            }
            p
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::{LatencyHistogram, ShardInfo};

    /// Shard `index` of `count` of run `run`: one endpoint, `GET /a`, with a request of each
    /// latency in `ms`, started `index` seconds after ten o'clock.
    pub(crate) fn shard(index: u32, count: u32, run: &str, ms: &[u64]) -> RunResult {
        let mut h = LatencyHistogram::new();
        for m in ms {
            h.record_micros(m * 1000);
        }
        let e = EndpointStats::from_counts(
            "GET /a".into(),
            None,
            h,
            ms.len() as u64,
            BTreeMap::new(),
            10.0,
        );
        let mut r = crate::stats::fixture(vec![e], 10.0);
        r.run.scenario = Some("s".into());
        r.run.users = 2;
        r.run.started_at = format!("2026-11-23T10:00:0{index}.000Z");
        r.run.shard = Some(ShardInfo {
            index,
            count,
            run_id: run.into(),
            folded_names: Default::default(),
        });
        r.timeseries = vec![SecondPoint {
            t: 0,
            requests: ms.len() as u64,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            users: 2,
            generator: None,
        }];
        r
    }

    fn merge(shards: &[RunResult], cap: usize) -> RunResult {
        merge_shards(shards, cap).unwrap()
    }

    #[test]
    fn merged_percentiles_are_those_of_the_union() {
        let a: Vec<u64> = (1..=100).collect();
        let b: Vec<u64> = (500..=549).collect();
        let m = merge(&[shard(1, 2, "r", &a), shard(2, 2, "r", &b)], 1000);
        assert_eq!(m.aggregate.requests, 150);
        let mut union = LatencyHistogram::new();
        for v in a.iter().chain(&b) {
            union.record_micros(v * 1000);
        }
        assert_eq!(m.aggregate.latency_ms.p95, union.percentile_ms(95.0));
        assert_eq!(m.run.users, 4);
        assert!(m.run.shard.is_none());
        // Shard 2 started a second later: its first second is the merged second 1.
        assert_eq!(
            m.timeseries
                .iter()
                .map(|p| (p.t, p.requests))
                .collect::<Vec<_>>(),
            [(0, 100), (1, 50)]
        );
        assert_eq!(merge_shards(&[], 1000), None);
    }

    /// A row of `n` requests at 1 ms each, `failed` of them failed.
    fn row(name: &str, n: u64, failed: u64) -> EndpointStats {
        let mut h = LatencyHistogram::new();
        h.record_micros_n(1000, n);
        let reasons = BTreeMap::from([("HTTP 503".to_string(), failed)]);
        EndpointStats::from_counts(name.into(), None, h, n, reasons, 10.0)
    }

    /// A shard that kept `rows` and folded `folded` (name, requests) into its other row.
    fn folding_shard(index: u32, rows: &[(&str, u64)], folded: &[(&str, u64)]) -> RunResult {
        let mut r = shard(index, 2, "r", &[]);
        r.endpoints = rows.iter().map(|(n, k)| row(n, *k, 1)).collect();
        let parts: Vec<EndpointStats> = folded.iter().map(|(n, k)| row(n, *k, 1)).collect();
        r.endpoints
            .push(EndpointStats::aggregate(OTHER_ENDPOINTS, &parts, 10.0));
        let f = Folded::of_names(2, folded.iter().map(|(n, _)| n.to_string()).collect());
        r.run.shard.as_mut().unwrap().folded_names = crate::stats::FoldedNames::of(&f);
        r.run.folded = Some(f);
        r.aggregate = EndpointStats::aggregate(ALL_REQUESTS, &r.endpoints, 10.0);
        r
    }

    fn requests(r: &RunResult, name: &str) -> Option<u64> {
        r.endpoint(name).map(|e| e.requests)
    }

    /// Shard 1 kept `GET /x` and folded `GET /y`, shard 2 the other way round: merged, neither
    /// has a row of one shard's counts; both are in `(other endpoints)`, each request once.
    #[test]
    fn a_name_folded_in_any_shard_is_folded_in_every_shard() {
        let a = folding_shard(1, &[("GET /k", 10), ("GET /x", 4)], &[("GET /y", 3)]);
        let b = folding_shard(
            2,
            &[("GET /k", 8), ("GET /y", 5)],
            &[("GET /x", 6), ("GET /z", 2)],
        );
        let total = a.aggregate.requests + b.aggregate.requests;
        let m = merge(&[a, b], 2);
        let names: Vec<&str> = m.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["GET /k", OTHER_ENDPOINTS]);
        assert_eq!(requests(&m, "GET /k"), Some(18));
        let other = m.endpoint(OTHER_ENDPOINTS).unwrap();
        assert_eq!(other.requests, 3 + 4 + 6 + 2 + 5);
        assert_eq!(other.failures, 5, "one failure in each folded part");
        assert_eq!(
            other.histogram.as_ref().map(LatencyHistogram::count),
            Some(20)
        );
        assert_eq!(m.aggregate.requests, total);
        let folded = m.run.folded.as_ref().unwrap();
        assert_eq!(folded.names, 3);
        for name in ["GET /x", "GET /y", "GET /z"] {
            assert!(folded.folded_names.contains(name), "{name}: {folded:?}");
        }
        assert!(
            m.run.shard.is_none(),
            "the merged result lists no shard's names"
        );
    }

    /// A shard that folded names but lists none (written before shard files listed them, or
    /// a list cut at the cap) cannot say which: every name it did not keep is folded.
    #[test]
    fn a_shard_that_cannot_list_its_folds_folds_every_name_it_did_not_keep() {
        let a = folding_shard(1, &[("GET /k", 10), ("GET /x", 4)], &[]);
        let mut b = folding_shard(2, &[("GET /k", 8)], &[("GET /x", 6)]);
        b.run.shard.as_mut().unwrap().folded_names = Default::default();
        assert!(!lists_all_folds(&b));
        let m = merge(&[a, b], 2);
        assert_eq!(requests(&m, "GET /x"), None);
        assert_eq!(requests(&m, OTHER_ENDPOINTS), Some(10));
        assert_eq!(m.aggregate.requests, 28);
        // A shard that folded nothing lists nothing, and that is all it folded.
        assert!(lists_all_folds(&shard(1, 2, "r", &[1])));
    }

    /// One rule for names: a shard file with two rows of one name (written by a gate before
    /// the rule, or by hand) is merged with every other shard's row of that name, so neither
    /// row is judged alone.
    #[test]
    fn rows_with_the_same_name_are_judged_together() {
        let mut a = shard(1, 2, "r", &[]);
        a.endpoints = vec![row("GET /dashboard", 90, 0), row("GET /dashboard", 10, 10)];
        a.aggregate = EndpointStats::aggregate(ALL_REQUESTS, &a.endpoints, 10.0);
        let mut b = shard(2, 2, "r", &[]);
        b.endpoints = vec![row("GET /dashboard", 50, 5)];
        b.aggregate = EndpointStats::aggregate(ALL_REQUESTS, &b.endpoints, 10.0);
        let m = merge(&[a, b], 1000);
        assert_eq!(m.endpoints.len(), 1, "{:?}", m.endpoints);
        let d = m.endpoint("GET /dashboard").unwrap();
        assert_eq!((d.requests, d.failures), (150, 15));
        assert_eq!(d.error_rate, 10.0);
        assert_eq!(d.histogram.as_ref().map(LatencyHistogram::count), Some(150));
        assert_eq!(m.aggregate.requests, 150);
    }

    /// Each endpoint's protocol merges across shards: the same stays, HTTP/2 in one shard and
    /// HTTP/1.1 in another is mixed, a shard that cannot tell adds nothing; the run's own
    /// protocol and the aggregate's merge the same way.
    #[test]
    fn endpoint_protocols_merge_across_shards() {
        use crate::stats::Protocol::{Http1, Mixed, H2};
        let spoke = |index: u32, rows: [(&str, Option<Protocol>); 3], run: Option<Protocol>| {
            let mut s = shard(index, 3, "r", &[]);
            s.endpoints = (rows.iter())
                .map(|(name, protocol)| EndpointStats {
                    protocol: *protocol,
                    ..row(name, 10, 0)
                })
                .collect();
            s.aggregate = EndpointStats::aggregate(ALL_REQUESTS, &s.endpoints, 10.0);
            s.run.protocol = run;
            s
        };
        let m = merge(
            &[
                spoke(1, [("a", Some(H2)), ("b", Some(H2)), ("c", None)], Some(H2)),
                spoke(
                    2,
                    [("a", Some(H2)), ("b", Some(Http1)), ("c", None)],
                    Some(H2),
                ),
                spoke(3, [("a", None), ("b", Some(H2)), ("c", None)], None),
            ],
            1000,
        );
        let protocol = |name: &str| m.endpoint(name).unwrap().protocol;
        assert_eq!(
            [protocol("a"), protocol("b"), protocol("c")],
            [Some(H2), Some(Mixed), None]
        );
        assert_eq!(m.aggregate.protocol, Some(Mixed));
        assert_eq!(m.run.protocol, Some(H2));
    }

    /// Rows add up one way: the whole run's row and one name's merged row count the same
    /// requests, failures and histogram, and counts past `u64::MAX` (a hostile shard file)
    /// saturate in both instead of wrapping or stopping the gate.
    #[test]
    fn rows_add_up_one_way_and_counts_saturate() {
        let parts = [row("GET /a", 90, 3), row("GET /a", 10, 2)];
        let whole = EndpointStats::aggregate(ALL_REQUESTS, &parts, 10.0);
        let one = merged_row("GET /a".into(), &[&parts[0], &parts[1]], 10.0);
        assert_eq!(
            (whole.requests, whole.failures),
            (one.requests, one.failures)
        );
        assert_eq!(whole.failures_by_reason, one.failures_by_reason);
        assert_eq!(whole.histogram, one.histogram);
        let mut huge = row("GET /a", 1, 1);
        huge.requests = u64::MAX - 1;
        huge.failures = u64::MAX - 1;
        huge.failures_by_reason = BTreeMap::from([
            ("HTTP 500".to_string(), u64::MAX - 1),
            ("HTTP 503".to_string(), u64::MAX - 1),
        ]);
        let whole = EndpointStats::aggregate(ALL_REQUESTS, [&huge, &huge], 10.0);
        assert_eq!((whole.requests, whole.failures), (u64::MAX, u64::MAX));
        assert_eq!(whole.failures_by_reason.get("HTTP 503"), Some(&u64::MAX));
        let one = merged_row("GET /a".into(), &[&huge, &huge], 10.0);
        assert_eq!((one.requests, one.failures), (u64::MAX, u64::MAX));
    }

    /// LoadForge gives no failure reasons: a row's failures without one still count in the
    /// whole run's row and in a fold, as they do in one name's merged row.
    #[test]
    fn failures_without_a_reason_count_in_the_whole() {
        let mut a = row("GET /a", 100, 0);
        a.failures = 7;
        a.error_rate = 7.0;
        let whole = EndpointStats::aggregate(ALL_REQUESTS, [&a, &row("GET /b", 100, 1)], 10.0);
        assert_eq!(whole.failures, 8);
        assert_eq!(whole.error_rate, 4.0);
        let one = merged_row("GET /a".into(), &[&a, &a], 10.0);
        assert_eq!(one.failures, 14);
    }

    /// Hostile shard files: users, seconds and counts at their type's end neither wrap nor
    /// panic (a debug build checks overflow).
    #[test]
    fn shard_figures_at_their_limits_saturate() {
        let mut a = shard(1, 2, "r", &[1]);
        let mut b = shard(2, 2, "r", &[1]);
        for r in [&mut a, &mut b] {
            r.run.users = u32::MAX;
            for p in &mut r.timeseries {
                p.t = u32::MAX;
                p.requests = u64::MAX;
                p.users = u32::MAX;
            }
        }
        let merged = merge_shards(&[a, b], 100).unwrap();
        assert_eq!(merged.run.users, u32::MAX);
        let last = merged.timeseries.last().unwrap();
        assert_eq!((last.t, last.requests), (u32::MAX, u64::MAX));
    }

    #[test]
    fn the_cookies_each_shard_dropped_add_up_and_saturate() {
        let mut a = shard(1, 2, "r", &[1]);
        let mut b = shard(2, 2, "r", &[1]);
        a.run.cookies_dropped.domain_full = 7;
        b.run.cookies_dropped.domain_full = 5;
        b.run.cookies_dropped.max_cookies = u64::MAX;
        let merged = merge(&[a, b], 1000).run.cookies_dropped;
        assert_eq!(merged.domain_full, 12);
        assert_eq!(merged.max_cookies, u64::MAX);
    }

    /// Each shard's k6 judged its own share: a threshold crossed in one shard is crossed in
    /// the whole run, and a check's evaluations add (`K6Verdicts::merge`, the rule).
    #[test]
    fn k6s_verdicts_merge_with_the_shards() {
        use crate::stats::{K6Check, K6Threshold, K6Verdicts};
        let with_k6 = |index: u32, crossed: bool, fails: u64| {
            let mut s = shard(index, 2, "r", &[1]);
            s.run.k6 = Some(K6Verdicts {
                exit_thresholds_failed: crossed,
                thresholds: vec![K6Threshold {
                    metric: "http_req_duration".into(),
                    expression: "p(95)<500".into(),
                    crossed,
                }],
                checks: vec![K6Check {
                    group: String::new(),
                    name: "ok".into(),
                    passes: 10,
                    fails,
                }],
                ..K6Verdicts::default()
            });
            s
        };
        let m = merge(&[with_k6(1, false, 0), with_k6(2, true, 2)], 1000);
        let k6 = m.run.k6.unwrap();
        assert!(k6.exit_thresholds_failed && k6.thresholds[0].crossed);
        assert_eq!((k6.checks[0].passes, k6.checks[0].fails), (20, 2));
        let held = merge(&[with_k6(1, false, 0), with_k6(2, false, 0)], 1000);
        assert!(!held.run.k6.unwrap().thresholds[0].crossed);
        assert_eq!(merge(&[shard(1, 1, "r", &[1])], 1000).run.k6, None);
    }

    /// Each shard ran a share of the users but recorded the whole run's load: the merge keeps
    /// it as it is (a sum would make two shards of 50 users a run of 100).
    #[test]
    fn the_merge_carries_the_whole_runs_load() {
        let with_load = |index: u32| {
            let mut s = shard(index, 2, "r", &[1]);
            s.run.load = Some(crate::stats::LoadFingerprint {
                users: 50,
                ..crate::stats::load_fixture()
            });
            s
        };
        let m = merge(&[with_load(1), with_load(2)], 1000);
        assert_eq!(m.run.users, 4, "the shares add up");
        assert_eq!(m.run.load.as_ref().map(|l| l.users), Some(50));
    }
}
