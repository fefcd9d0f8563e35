//! The run history that travels inside `results.json`: a compact record of the last runs of the
//! same job on the baseline branch, newest first. It is what the regression judgement weighs a
//! run against, and it needs no API token: the previous run's artifact carries the whole chain.
//!
//! A run on the default branch puts itself at the head of the chain it read; any other run (a
//! merge request, a feature branch) passes the chain on unchanged, so a branch's runs never
//! become the baseline of the default branch's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{load::LoadFingerprint, EndpointStats, Engine, RunMeta, RunResult};

/// Endpoints kept per run in the history, the busiest first: a scenario with thousands of
/// request names must not make every later results.json grow by its size times the chain.
pub(crate) const MAX_ENDPOINTS: usize = 1000;

/// One earlier run: who ran it and its summary figures (no histograms, no failure reasons).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The commit the run measured, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The pipeline it ran in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The engine that measured it: runs of different engines are not compared.
    pub engine: Engine,
    /// The load it applied: runs of another load are left out of the band a run is judged
    /// by. Absent in entries written before fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadFingerprint>,
    /// Why the run stays out of the band though it joined the chain: its load generator's host
    /// was busy (`run.host`), so its figures may be the host's noise. Absent for a clean run.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flag"
    )]
    #[schemars(length(max = MAX_FLAG))]
    pub flagged: Option<String>,
    /// Every request together.
    pub aggregate: EndpointStats,
    /// Per request name, at most [`MAX_ENDPOINTS`] (1,000), the busiest first.
    #[serde(default)]
    #[schemars(length(max = MAX_ENDPOINTS))]
    pub endpoints: Vec<EndpointStats>,
}

impl HistoryEntry {
    /// The record of `run`: its figures without the parts that make a run large.
    pub(crate) fn of(run: &RunResult) -> HistoryEntry {
        let mut endpoints: Vec<&EndpointStats> = run.endpoints.iter().collect();
        endpoints.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
        endpoints.truncate(MAX_ENDPOINTS);
        HistoryEntry {
            commit: run.ci.as_ref().and_then(|c| c.commit_sha.clone()),
            pipeline: run.ci.as_ref().and_then(|c| c.pipeline_id.clone()),
            started_at: run.run.started_at.clone(),
            engine: run.run.engine.clone(),
            flagged: flag_of(run),
            load: run.run.load.clone(),
            aggregate: summary(&run.aggregate),
            endpoints: endpoints.into_iter().map(summary).collect(),
        }
    }

    /// Whether this run applied the same load as `current` (the scenario's content aside, as
    /// endpoints are judged by name): `None` when it cannot be told, for an entry or a run
    /// without a fingerprint of the same engine, which stays in the band as it did before
    /// fingerprints.
    pub(crate) fn same_load(&self, current: &RunMeta) -> Option<bool> {
        if self.engine != current.engine {
            return Some(false);
        }
        match (&self.load, &current.load) {
            (Some(mine), Some(theirs)) => Some(mine.differences(theirs).is_empty()),
            _ => None,
        }
    }

    /// Whether this run belongs to the band `current` is judged by: a clean run of the same
    /// load (or of a load it cannot tell, from before fingerprints).
    pub(crate) fn in_band(&self, current: &RunMeta) -> bool {
        self.flagged.is_none() && self.same_load(current) != Some(false)
    }

    /// The figures of one endpoint (`None`: every request together).
    pub(crate) fn endpoint(&self, name: Option<&str>) -> Option<&EndpointStats> {
        match name {
            None => Some(&self.aggregate),
            Some(n) => self.endpoints.iter().find(|e| e.name == n),
        }
    }
}

/// Why a run stays out of the band: its host was busy (`run.host`), or its load generator
/// stalled past its limits during the run (`run.generator`); both said when both hold. The
/// generator's pressure alone (other processes on its cores, steal) flags nothing: the
/// application under test on the generator's cores is the common case, and flagging every such
/// run would leave no clean run to judge by.
fn flag_of(run: &RunResult) -> Option<String> {
    let mut flags = Vec::new();
    if let Some(why) = run.run.host.as_ref().map(|h| h.busy()) {
        if !why.is_empty() {
            flags.push(format!("busy host: {}", why.join(", ")));
        }
    }
    if let Some(g) = &run.run.generator {
        let why = g.stalls(run.aggregate.latency_ms.p99);
        if !why.is_empty() {
            flags.push(format!("load generator starved: {}", why.join(", ")));
        }
    }
    (!flags.is_empty()).then(|| flags.join("; "))
}

/// What the history keeps of a row: its figures, not its histogram, reasons or protocol (the
/// run's protocol is in the entry's load fingerprint; the history is judged by the figures).
fn summary(e: &EndpointStats) -> EndpointStats {
    EndpointStats {
        histogram: None,
        failures_by_reason: Default::default(),
        protocol: None,
        ..e.clone()
    }
}

/// The longest flag read back.
const MAX_FLAG: usize = 1024;

/// A flag as the history holds it: bounded, since a results file comes from outside.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > MAX_FLAG {
        return Err(serde::de::Error::custom(format!(
            "history flag longer than {MAX_FLAG} bytes"
        )));
    }
    Ok(Some(s))
}

/// The chain the next run reads: `run` at the head of `read` when it belongs to the chain (a
/// whole default-branch run: see [`RunMeta::incomplete`]), else `read` unchanged; at most `len`
/// runs either way.
pub(crate) fn pass_on(
    read: &[HistoryEntry],
    run: &RunResult,
    member: bool,
    len: usize,
) -> Vec<HistoryEntry> {
    let head = (member && run.run.incomplete().is_none()).then(|| HistoryEntry::of(run));
    head.into_iter()
        .chain(read.iter().cloned())
        .take(len)
        .collect()
}

/// The most bytes of results.json the run history may take (written as results.json writes
/// it). A run of 1,000 endpoints takes some 750 KB of it, so the default 20 runs fit, and
/// whatever `--baseline-history` says (at most 100), the history leaves a 64 MiB results file
/// room for the run itself: the next run's baseline is never refused for its history's size.
pub const MAX_HISTORY_BYTES: usize = 16 << 20;

/// Bytes and line breaks written, nothing kept.
#[derive(Default)]
struct Measure {
    bytes: usize,
    lines: usize,
}

impl std::io::Write for Measure {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        self.lines += buf.iter().filter(|b| **b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `entry` takes in results.json, where the history is an array of the top-level object:
/// its pretty JSON, each line indented four more spaces, and the separator.
fn written_size(entry: &HistoryEntry) -> usize {
    let mut m = Measure::default();
    // Writing to a counter cannot fail, and the entry's types always serialise.
    let _ = serde_json::to_writer_pretty(&mut m, entry);
    m.bytes + 4 * (m.lines + 1) + 2
}

/// Cuts `chain` (newest first) to the newest runs that fit in [`MAX_HISTORY_BYTES`]; when it
/// cuts, the note that says so (the runs judged this time are not affected: only the history
/// the next run reads is shorter).
pub(crate) fn trim_to_size(chain: &mut Vec<HistoryEntry>) -> Option<String> {
    let mut total = 0;
    let fit = chain
        .iter()
        .take_while(|e| {
            total += written_size(e);
            total <= MAX_HISTORY_BYTES
        })
        .count();
    let all = chain.len();
    if fit == all {
        return None;
    }
    chain.truncate(fit);
    Some(format!(
        "The run history passed on in results.json keeps the newest {fit} of {all} runs: more would take it past {} MiB (a run keeps up to {MAX_ENDPOINTS} endpoints); lower --baseline-history to keep this note away.",
        MAX_HISTORY_BYTES >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{fixture, LatencyHistogram};

    fn run(endpoints: usize, started: &str) -> RunResult {
        let eps = (0..endpoints)
            .map(|i| {
                let mut h = LatencyHistogram::new();
                for v in 0..50 {
                    h.record_micros(1000 + v * 37 + i as u64);
                }
                let reasons = [("HTTP 500".to_string(), 1)].into_iter().collect();
                EndpointStats::from_counts(format!("GET /api/item/{i}"), None, h, 50, reasons, 10.0)
            })
            .collect();
        let mut r = fixture(eps, 10.0);
        r.run.started_at = started.into();
        r
    }

    #[test]
    fn incomplete_runs_never_join_the_chain_and_busy_ones_join_flagged() {
        let first = pass_on(&[], &run(2, "t1"), true, 20);
        for spoil in [
            |r: &mut RunResult| r.run.interrupted = true,
            |r: &mut RunResult| r.run.aborted = Some("p95<1ms".into()),
            |r: &mut RunResult| r.run.partial = true,
        ] {
            let mut r = run(2, "t2");
            spoil(&mut r);
            assert_eq!(
                pass_on(&first, &r, true, 20),
                first,
                "{:?}",
                r.run.incomplete()
            );
        }
        let mut busy = run(2, "t3");
        busy.run.host = Some(crate::stats::HostInfo {
            hostname: "lg-1".into(),
            cpus: 2,
            load_1m: 0.1,
            steal_pct: 0.0,
            iowait_pct: 0.0,
            other_cpu_pct: 0.0,
            mem_available_mib: 1024,
            open_files: None,
            exclusive: false,
            window_s: 1.0,
        });
        let chain = pass_on(&first, &busy, true, 20);
        assert_eq!(chain.len(), 2);
        let flag = chain[0].flagged.as_deref().unwrap_or_default();
        assert!(flag.starts_with("busy host: no exclusive lock"), "{flag}");
        assert!(!chain[0].in_band(&busy.run));
        assert!(chain[1].in_band(&busy.run));
    }

    #[test]
    fn a_run_whose_generator_starved_joins_flagged_with_its_figures() {
        let first = pass_on(&[], &run(2, "t1"), true, 20);
        let mut healthy = run(2, "t2");
        healthy.run.generator = Some(crate::stats::healthy_generator());
        assert!(pass_on(&first, &healthy, true, 20)[0].flagged.is_none());
        let mut starved = run(2, "t3");
        starved.run.generator = Some(crate::stats::starved_generator());
        let chain = pass_on(&first, &starved, true, 20);
        let flag = chain[0].flagged.as_deref().unwrap_or_default();
        assert!(
            flag.starts_with("load generator starved: runtime hiccups p99 40.0 ms"),
            "{flag}"
        );
        assert!(!chain[0].in_band(&starved.run));
        // Crowded cores alone (the application under test beside it, steal) with quiet meters:
        // a clean run, in the band.
        let mut crowded = run(2, "t4");
        crowded.run.generator = Some(crate::stats::GeneratorHealth {
            neighbour_cpu_pct: 96.0,
            steal_pct: 6.0,
            ..crate::stats::healthy_generator()
        });
        assert!(pass_on(&first, &crowded, true, 20)[0].flagged.is_none());
    }

    #[test]
    fn a_member_heads_the_chain_and_others_pass_it_on() {
        let first = pass_on(&[], &run(2, "t1"), true, 20);
        assert_eq!(first.len(), 1);
        let second = pass_on(&first, &run(2, "t2"), true, 20);
        let times: Vec<&str> = second.iter().map(|e| e.started_at.as_str()).collect();
        assert_eq!(times, ["t2", "t1"]);
        let branch = pass_on(&second, &run(2, "t3"), false, 20);
        assert_eq!(
            branch, second,
            "a branch run reads the chain, never extends it"
        );
        let capped = pass_on(&second, &run(2, "t4"), true, 2);
        let times: Vec<&str> = capped.iter().map(|e| e.started_at.as_str()).collect();
        assert_eq!(times, ["t4", "t2"]);
    }

    #[test]
    fn entries_keep_figures_and_drop_what_makes_a_run_large() {
        let r = run(3, "t");
        let e = HistoryEntry::of(&r);
        let ep = e.endpoint(Some("GET /api/item/1")).unwrap();
        assert!(ep.histogram.is_none() && ep.failures_by_reason.is_empty());
        assert_eq!(ep.latency_ms, r.endpoints[1].latency_ms);
        assert_eq!(ep.requests, 50);
        assert_eq!(e.endpoint(None).unwrap().requests, r.aggregate.requests);
    }

    /// A run passes its load on with itself, so the next run can leave out the runs of another
    /// load; an entry of an older version (no fingerprint) of the same engine stays in.
    #[test]
    fn entries_carry_their_load_and_say_whether_it_matches() {
        let mut r = run(1, "t");
        r.run.load = Some(crate::stats::load_fixture());
        let chain = pass_on(&[], &r, true, 20);
        assert_eq!(chain[0].load, r.run.load);
        let back: Vec<HistoryEntry> =
            serde_json::from_str(&serde_json::to_string(&chain).unwrap()).unwrap();
        assert_eq!(back, chain);
        assert_eq!(chain[0].same_load(&r.run), Some(true));
        let mut smoke = r.run.clone();
        smoke.load.as_mut().unwrap().users = 5;
        assert_eq!(chain[0].same_load(&smoke), Some(false));
        // Another scenario content is the same load: endpoints are judged by name.
        let mut edited = r.run.clone();
        edited.load.as_mut().unwrap().scenario_sha256 = Some("0".repeat(64));
        assert_eq!(chain[0].same_load(&edited), Some(true));
        let old = HistoryEntry {
            load: None,
            ..chain[0].clone()
        };
        assert_eq!(old.same_load(&r.run), None);
        let mut locust = r.run.clone();
        locust.engine = "locust".into();
        assert_eq!(old.same_load(&locust), Some(false));
    }

    /// 200 endpoints over 20 runs: the chain stays a small part of a results file.
    #[test]
    fn a_full_chain_of_a_wide_scenario_stays_small() {
        let mut chain = Vec::new();
        for i in 0..25 {
            chain = pass_on(&chain, &run(200, &format!("t{i}")), true, 20);
        }
        assert_eq!(chain.len(), 20);
        let bytes = serde_json::to_string_pretty(&chain).unwrap().len();
        assert!(bytes < 3 << 20, "{bytes} bytes");
        let wide = HistoryEntry::of(&run(MAX_ENDPOINTS + 5, "t"));
        assert_eq!(wide.endpoints.len(), MAX_ENDPOINTS);
    }

    /// Finding (hardening round 3): the chain grew with `--baseline-history` and the
    /// scenario's endpoints without a byte cap: 100 runs of 1,000 endpoints took results.json
    /// past its 64 MiB cap, and the next run's baseline was refused. The chain keeps the newest
    /// runs that fit in 16 MiB, with a note, and reads back within the file's entry caps.
    #[test]
    fn the_chain_in_results_json_is_capped_by_bytes_with_a_note() {
        let mut chain = Vec::new();
        let wide = run(MAX_ENDPOINTS, "t");
        let entry = HistoryEntry::of(&wide);
        for i in 0..100 {
            chain.insert(
                0,
                HistoryEntry {
                    started_at: format!("t{i}"),
                    ..entry.clone()
                },
            );
        }
        let note = trim_to_size(&mut chain).expect("a note when the chain is cut");
        let kept = chain.len();
        assert!((10..100).contains(&kept), "{kept} runs kept");
        assert_eq!(chain[0].started_at, "t99", "the newest runs stay");
        assert!(
            note.starts_with(&format!(
                "The run history passed on in results.json keeps the newest {kept} of 100 runs"
            )),
            "{note}"
        );
        // As results.json writes it, within the cap; and it reads back.
        let doc = serde_json::json!({"schema": crate::stats::SCHEMA, "history": chain});
        let text = serde_json::to_string_pretty(&doc).unwrap();
        assert!(
            text.len() <= MAX_HISTORY_BYTES + 1024,
            "{} bytes",
            text.len()
        );
        let back = crate::results::parse_history(text.as_bytes(), "r.json").unwrap();
        assert_eq!(back.len(), kept);
        // A chain that fits is left alone, without a note.
        let mut short = back[..3].to_vec();
        assert_eq!(trim_to_size(&mut short), None);
        assert_eq!(short.len(), 3);
    }
}
