//! Combining shard results into one run, exactly: counts add, histograms add, failures by reason
//! add, and every percentile of the merged run is read from the merged histograms, so it equals
//! the percentile of the union of all shards' requests. Only the per-second time series is
//! approximate (per-second percentiles are averaged, weighted by requests): the verdict never
//! reads it.

use std::collections::BTreeMap;

use crate::stats::{
    EndpointStats, LatencyHistogram, LatencySummary, Received, RunMeta, RunResult, SecondPoint,
    ShardInfo, ToolInfo, SCHEMA,
};

/// Why shard results cannot be merged: they are not every shard of one run, each once.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    /// Nothing was given.
    #[error("no shard results to merge")]
    Empty,
    /// A result that is not a shard's.
    #[error("{file} is not a shard result (it has no `run.shard`); produce shards with `run --shard I/N`")]
    NotAShard {
        /// The file it came from.
        file: String,
    },
    /// Two shards that cannot belong to one run.
    #[error("shards of different {what}: `{a}` and `{b}`; merge only the shards of one run")]
    Mismatch {
        /// What differs ("runs", "scenarios", "shard numbering"...).
        what: &'static str,
        /// One value.
        a: String,
        /// The other.
        b: String,
    },
    /// The same shard twice.
    #[error("shard {index}/{count} appears twice")]
    Duplicate {
        /// The shard's number.
        index: u32,
        /// Shards in the run.
        count: u32,
    },
    /// Shards that did not come.
    #[error("shards missing: {missing} of {count}; every shard must finish before the merge")]
    Missing {
        /// Their numbers, comma-separated.
        missing: String,
        /// Shards in the run.
        count: u32,
    },
}

/// Merges `shards` (with the file each came from, for messages) into one result; every shard
/// must be there.
#[cfg(test)]
pub(crate) fn merge(shards: Vec<(String, RunResult)>) -> Result<RunResult, MergeError> {
    match merge_partial(shards)? {
        (_, Some(missing)) => Err(missing),
        (merged, None) => Ok(merged),
    }
}

/// Like [`merge`], but shards that never arrived (a failed shard job under `allow-failure`) do
/// not stop the merge: what the others measured is merged, and the missing-shards error comes
/// back beside it, so the caller can publish partial results and still fail.
pub(crate) fn merge_partial(
    shards: Vec<(String, RunResult)>,
) -> Result<(RunResult, Option<MergeError>), MergeError> {
    let missing = match check(&shards) {
        Ok(()) => None,
        Err(e @ MergeError::Missing { .. }) => Some(e),
        Err(e) => return Err(e),
    };
    Ok((combine(&shards), missing))
}

/// Adds up shards that passed [`check`] (all of them, or all that arrived).
fn combine(shards: &[(String, RunResult)]) -> RunResult {
    let duration_s = shards
        .iter()
        .map(|(_, r)| r.run.duration_s)
        .fold(0.0, f64::max);
    let endpoints = merge_endpoints(shards, duration_s);
    let starts: Vec<Option<i128>> = shards
        .iter()
        .map(|(_, r)| millis(&r.run.started_at))
        .collect();
    let earliest = starts.iter().flatten().min().copied();
    RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: merged_meta(
            shards,
            earliest_start(shards, &starts, earliest),
            duration_s,
        ),
        ci: shards[0].1.ci.clone(),
        aggregate: EndpointStats::aggregate("all requests", &endpoints, duration_s),
        endpoints,
        timeseries: merge_series(shards, &starts, earliest),
    }
}

/// The shards are every shard of one run, each once.
fn check(shards: &[(String, RunResult)]) -> Result<(), MergeError> {
    if shards.is_empty() {
        return Err(MergeError::Empty);
    }
    let infos = shards
        .iter()
        .map(|(file, r)| {
            r.run
                .shard
                .clone()
                .ok_or_else(|| MergeError::NotAShard { file: file.clone() })
        })
        .collect::<Result<Vec<ShardInfo>, _>>()?;
    same("runs", infos.iter().map(|i| i.run_id.as_str()))?;
    same(
        "scenarios",
        shards
            .iter()
            .map(|(_, r)| r.run.scenario.as_deref().unwrap_or("")),
    )?;
    same("engines", shards.iter().map(|(_, r)| r.run.engine.as_str()))?;
    same("targets", shards.iter().map(|(_, r)| r.run.target.as_str()))?;
    let counts: Vec<String> = infos.iter().map(|i| i.count.to_string()).collect();
    same("shard counts", counts.iter().map(String::as_str))?;
    check_numbering(&infos)
}

fn same<'a>(what: &'static str, values: impl Iterator<Item = &'a str>) -> Result<(), MergeError> {
    let mut first: Option<&str> = None;
    for v in values {
        match first {
            None => first = Some(v),
            Some(f) if f != v => {
                return Err(MergeError::Mismatch {
                    what,
                    a: f.to_string(),
                    b: v.to_string(),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Shards 1 to N of the same count N, each exactly once.
fn check_numbering(infos: &[ShardInfo]) -> Result<(), MergeError> {
    let count = infos[0].count;
    // A set of what is there, not a table sized by the count a file declares.
    let mut seen = std::collections::BTreeSet::new();
    for i in infos {
        if i.index == 0 || i.index > count {
            return Err(MergeError::Mismatch {
                what: "shard numbering",
                a: format!("{}/{}", i.index, i.count),
                b: format!("1..{count}"),
            });
        }
        if !seen.insert(i.index) {
            return Err(MergeError::Duplicate {
                index: i.index,
                count,
            });
        }
    }
    let absent = count as usize - seen.len();
    if absent == 0 {
        return Ok(());
    }
    let mut missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains(i))
        .take(10)
        .map(|i| i.to_string())
        .collect();
    if absent > missing.len() {
        missing.push(format!("and {} more", absent - missing.len()));
    }
    Err(MergeError::Missing {
        missing: missing.join(", "),
        count,
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
fn earliest_start(
    shards: &[(String, RunResult)],
    starts: &[Option<i128>],
    earliest: Option<i128>,
) -> String {
    shards
        .iter()
        .zip(starts)
        .find(|(_, s)| **s == earliest)
        .map(|((_, r), _)| r.run.started_at.clone())
        .unwrap_or_else(|| shards[0].1.run.started_at.clone())
}

/// The whole run: the load adds up, the longest shard is its length, and a shard that was
/// interrupted, quantised, aborted or unverified (`--insecure`) makes the whole so.
fn merged_meta(shards: &[(String, RunResult)], started_at: String, duration_s: f64) -> RunMeta {
    let runs = || shards.iter().map(|(_, r)| &r.run);
    let first = &shards[0].1.run;
    RunMeta {
        model: first.model,
        scenario: first.scenario.clone(),
        warmup_s: first.warmup_s,
        interrupted: runs().any(|r| r.interrupted),
        quantised: runs().any(|r| r.quantised),
        rate: runs().map(|r| r.rate).sum::<Option<f64>>(),
        aborted: runs().find_map(|r| r.aborted.clone()),
        tls_insecure: runs().any(|r| r.tls_insecure),
        ..RunMeta::new(
            &first.engine,
            first.target.clone(),
            runs().map(|r| r.users).sum(),
            runs().map(|r| r.spawn_rate).sum(),
            started_at,
            duration_s,
        )
    }
}

/// One endpoint per name across the shards: the first shard's order, then any endpoint only
/// later shards saw.
fn merge_endpoints(shards: &[(String, RunResult)], duration_s: f64) -> Vec<EndpointStats> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Vec<&EndpointStats>> = BTreeMap::new();
    for (_, r) in shards {
        for e in &r.endpoints {
            if !by_name.contains_key(&e.name) {
                order.push(e.name.clone());
            }
            by_name.entry(e.name.clone()).or_default().push(e);
        }
    }
    order
        .into_iter()
        .map(|name| {
            let parts = &by_name[&name];
            merge_endpoint(name, parts, duration_s)
        })
        .collect()
}

/// One endpoint from its shards' parts: exact when every part has its histogram.
fn merge_endpoint(name: String, parts: &[&EndpointStats], duration_s: f64) -> EndpointStats {
    let method = parts.iter().find_map(|p| p.method.clone());
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for p in parts {
        for (r, n) in &p.failures_by_reason {
            *reasons.entry(r.clone()).or_default() += n;
        }
    }
    let requests: u64 = parts.iter().map(|p| p.requests).sum();
    let histograms: Option<Vec<&LatencyHistogram>> =
        parts.iter().map(|p| p.histogram.as_ref()).collect();
    let Some(histograms) = histograms else {
        return without_histograms(name, method, parts, reasons, duration_s);
    };
    let mut h = LatencyHistogram::new();
    for part in histograms {
        h.add(part);
    }
    EndpointStats {
        received: Received::total(parts.iter().map(|p| p.received)),
        ..EndpointStats::from_counts(name, method, h, requests, reasons, duration_s)
    }
}

/// Without histograms percentiles cannot be merged exactly: only what adds up is kept (counts,
/// the request-weighted average, the extremes).
fn without_histograms(
    name: String,
    method: Option<String>,
    parts: &[&EndpointStats],
    failures_by_reason: BTreeMap<String, u64>,
    duration_s: f64,
) -> EndpointStats {
    let requests: u64 = parts.iter().map(|p| p.requests).sum();
    let failures: u64 = parts.iter().map(|p| p.failures).sum();
    let (sum, n) = parts
        .iter()
        .fold((0.0, 0u64), |(s, n), p| match p.latency_ms.avg {
            Some(a) => (s + a * p.requests as f64, n + p.requests),
            None => (s, n),
        });
    EndpointStats {
        name,
        method,
        requests,
        failures,
        rps: crate::stats::rate(requests, duration_s),
        error_rate: crate::stats::percent(failures, requests),
        latency_ms: LatencySummary {
            avg: (n > 0).then(|| sum / n as f64),
            min: parts
                .iter()
                .filter_map(|p| p.latency_ms.min)
                .reduce(f64::min),
            max: parts
                .iter()
                .filter_map(|p| p.latency_ms.max)
                .reduce(f64::max),
            ..LatencySummary::default()
        },
        failures_by_reason,
        histogram: None,
        counts_reported: parts.iter().all(|p| p.counts_reported),
        received: Received::total(parts.iter().map(|p| p.received)),
    }
}

/// Aligns each shard's seconds by wall clock (their start times) and adds them up.
fn merge_series(
    shards: &[(String, RunResult)],
    starts: &[Option<i128>],
    earliest: Option<i128>,
) -> Vec<SecondPoint> {
    let mut acc: BTreeMap<u32, (SecondPoint, f64, f64, f64)> = BTreeMap::new();
    for ((_, r), start) in shards.iter().zip(starts) {
        let offset = match (start, earliest) {
            (Some(s), Some(e)) => ((s - e) as f64 / 1000.0).round() as u32,
            _ => 0,
        };
        for p in &r.timeseries {
            let t = p.t + offset;
            let (sum, w50, w95, w99) = acc.entry(t).or_insert_with(|| {
                (
                    SecondPoint {
                        t,
                        requests: 0,
                        failures: 0,
                        p50_ms: None,
                        p95_ms: None,
                        p99_ms: None,
                        users: 0,
                    },
                    0.0,
                    0.0,
                    0.0,
                )
            });
            sum.requests += p.requests;
            sum.failures += p.failures;
            sum.users += p.users;
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
mod tests {
    use super::*;

    fn shard(index: u32, count: u32, run: &str, ms: &[u64]) -> (String, RunResult) {
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
        });
        r.timeseries = vec![SecondPoint {
            t: 0,
            requests: ms.len() as u64,
            failures: 0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            users: 2,
        }];
        (format!("shard-{index}.json"), r)
    }

    #[test]
    fn merged_percentiles_are_those_of_the_union() {
        let a: Vec<u64> = (1..=100).collect();
        let b: Vec<u64> = (500..=549).collect();
        let m = merge(vec![shard(1, 2, "r", &a), shard(2, 2, "r", &b)]).unwrap();
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
    }

    #[test]
    fn foreign_missing_and_duplicate_shards_are_refused() {
        let err = merge(vec![shard(1, 2, "r1", &[1]), shard(2, 2, "r2", &[1])]).unwrap_err();
        assert!(err.to_string().contains("different runs"), "{err}");
        let err = merge(vec![shard(1, 3, "r", &[1]), shard(3, 3, "r", &[1])]).unwrap_err();
        assert!(err.to_string().contains("missing: 2 of 3"), "{err}");
        let err = merge(vec![shard(1, 2, "r", &[1]), shard(1, 2, "r", &[1])]).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        let mut other = shard(2, 2, "r", &[1]);
        other.1.run.scenario = Some("other".into());
        let err = merge(vec![shard(1, 2, "r", &[1]), other]).unwrap_err();
        assert!(err.to_string().contains("different scenarios"), "{err}");
    }
}
