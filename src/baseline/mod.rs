//! The baseline: a previous run's `results.json`, and the per-endpoint comparison of the current
//! run against it (its model; `report::comparison` puts it into words). Loading goes through
//! `results`, which refuses files it cannot compare honestly (another schema version).

mod diagnose;
mod lister;
mod remote;
mod search;

use std::path::Path;

pub(crate) use remote::{find_previous, Previous};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    defaults,
    gate::{metric_value, Metric, Unit},
    results::{self, ResultsFileError, Role},
    stats::{compare_loads, EndpointStats, HistoryEntry, LoadMatch, RunResult, ALL_REQUESTS},
};

/// A results file and the history it carries, for `--baseline FILE`.
pub(crate) fn load_baseline_file(path: &Path) -> Result<Previous, ResultsFileError> {
    // Read once; parsed twice (the run, then its history), which costs less than a generic
    // JSON tree of the file.
    let bytes = results::read(path, Role::Baseline)?;
    let source = path.display().to_string();
    let result = results::parse(&bytes, &source, Role::Baseline)?;
    let mut notes = Vec::new();
    let history = history_or_note(&bytes, &source, &mut notes);
    Ok(Previous {
        source,
        result,
        history,
        notes,
    })
}

/// The history in a baseline's `bytes`, or none and a note saying why: one whose history
/// cannot be read is judged without it.
pub(crate) fn history_or_note(
    bytes: &[u8],
    origin: &str,
    notes: &mut Vec<String>,
) -> Vec<HistoryEntry> {
    results::parse_history(bytes, origin).unwrap_or_else(|e| {
        notes.push(format!(
            "The baseline's run history was not usable ({}): regressions compared with the baseline run only.",
            crate::chain::one_line(&e)
        ));
        Vec::new()
    })
}

/// Figures compared per endpoint, in display order.
pub(crate) const COMPARED: &[Metric] = &[
    Metric::Percentile(50.0),
    Metric::Percentile(95.0),
    Metric::Percentile(99.0),
    Metric::ErrorRate,
    Metric::Rps,
];

/// One figure of an endpoint in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct MetricDelta {
    /// Written to results.json as its label (`p95`, `rps`).
    pub(crate) metric: Metric,
    /// The unit of both values.
    pub(crate) unit: Unit,
    /// This run's value; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<f64>,
    /// The baseline's value; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline: Option<f64>,
}

impl MetricDelta {
    /// Relative change in percent, when both sides exist and the baseline is not zero.
    pub(crate) fn change_pct(&self) -> Option<f64> {
        match (self.current, self.baseline) {
            (Some(c), Some(b)) if b != 0.0 => Some((c - b) / b.abs() * 100.0),
            _ => None,
        }
    }
}

/// One endpoint (or every request together) in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct ComparisonRow {
    /// The endpoint's name, or `all requests`.
    pub(crate) endpoint: String,
    /// The figures compared, in display order.
    pub(crate) metrics: Vec<MetricDelta>,
    /// Whether both runs have the endpoint; written only for one that is `new` or `gone`.
    #[serde(default, skip_serializing_if = "Presence::is_both")]
    pub(crate) presence: Presence,
    /// The HTTP version the baseline's requests to it spoke, when its file says (this run's is
    /// on its own row): the reports name both when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_protocol: Option<crate::stats::Protocol>,
}

/// An endpoint in both runs, or in one of them only (the scenario changed, or the traffic did).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Presence {
    /// Both runs have it: the writer then leaves `presence` out.
    #[default]
    Both,
    /// Only this run has it: nothing to compare it with.
    New,
    /// Only the baseline has it.
    Gone,
}
crate::quote::word::words!(
    Presence,
    "presence",
    [Presence::Both, Presence::New, Presence::Gone]
);

impl Presence {
    fn is_both(&self) -> bool {
        *self == Presence::Both
    }

    /// `new`, `gone`, or nothing: the word every report puts beside the endpoint.
    pub(crate) fn word(self) -> Option<&'static str> {
        match self {
            Presence::Both => None,
            Presence::New => Some("new"),
            Presence::Gone => Some("gone"),
        }
    }
}

/// The most load differences read back from a results file, and the longest of them: they
/// are derived from bounded fingerprints, but `report` reads files it did not write.
const MAX_DIFFERENCES: usize = 16;
const MAX_DIFFERENCE_LEN: usize = 4608;

fn differences<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.len() > MAX_DIFFERENCES || list.iter().any(|s| s.len() > MAX_DIFFERENCE_LEN) {
        return Err(serde::de::Error::custom(format!(
            "comparison.load_differences: at most {MAX_DIFFERENCES} of {MAX_DIFFERENCE_LEN} bytes each"
        )));
    }
    Ok(list)
}

/// The run against its baseline, endpoint by endpoint: the `comparison` of results.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct Comparison {
    /// Where the baseline came from (file path or pipeline).
    pub(crate) source: String,
    /// When the baseline run started (RFC 3339).
    pub(crate) baseline_started_at: String,
    /// The commit the baseline measured, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_commit: Option<String>,
    /// Another engine measured the baseline.
    pub(crate) engine_changed: bool,
    /// Whether the baseline ran this run's load (`unknown` for a baseline without a
    /// fingerprint, and in files written before this field).
    #[serde(default)]
    pub(crate) load: LoadMatch,
    /// Each difference of load or scenario, baseline first (`users 50 → 5`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "differences"
    )]
    #[schemars(length(max = MAX_DIFFERENCES), inner(length(max = MAX_DIFFERENCE_LEN)))]
    pub(crate) load_differences: Vec<String>,
    /// The aggregate first, then endpoints present in either run (of those only the baseline
    /// has, the busiest [`defaults::MAX_ENDPOINTS`], 1,000).
    pub(crate) rows: Vec<ComparisonRow>,
    /// How many endpoints only the baseline has were left out of `rows`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 1))]
    pub(crate) gone_left_out: usize,
    /// The baseline's aggregate latency histogram and time series, for the overlays of the
    /// HTML report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_histogram: Option<crate::stats::LatencyHistogram>,
    /// The baseline's time series, for the same overlays.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) baseline_timeseries: Vec<crate::stats::SecondPoint>,
}

fn row(name: &str, cur: Option<&EndpointStats>, base: Option<&EndpointStats>) -> ComparisonRow {
    ComparisonRow {
        endpoint: name.to_string(),
        presence: match (cur, base) {
            (Some(_), None) => Presence::New,
            (None, Some(_)) => Presence::Gone,
            _ => Presence::Both,
        },
        baseline_protocol: base.and_then(|s| s.protocol),
        metrics: COMPARED
            .iter()
            .map(|&m| MetricDelta {
                metric: m,
                unit: m.kind().into(),
                current: cur.and_then(|s| metric_value(s, m)),
                baseline: base.and_then(|s| metric_value(s, m)),
            })
            .collect(),
    }
}

/// The current run against the baseline, endpoint by endpoint, and whether the baseline ran the
/// same load (the gate judges regressions only then; see `stats::compare_loads`).
pub(crate) fn compare(source: &str, base: &RunResult, current: &RunResult) -> Comparison {
    let load = compare_loads(&base.run, &current.run);
    let mut rows = vec![row(
        ALL_REQUESTS,
        Some(&current.aggregate),
        Some(&base.aggregate),
    )];
    let base_by_name: std::collections::HashMap<&str, &EndpointStats> = base
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    for e in &current.endpoints {
        rows.push(row(
            &e.name,
            Some(e),
            base_by_name.get(e.name.as_str()).copied(),
        ));
    }
    let (gone, gone_left_out) = gone_endpoints(base, current);
    rows.extend(gone.into_iter().map(|e| row(&e.name, None, Some(e))));
    Comparison {
        source: source.to_string(),
        baseline_started_at: base.run.started_at.clone(),
        baseline_commit: base.ci.as_ref().and_then(|c| c.commit_sha.clone()),
        engine_changed: base.run.engine != current.run.engine,
        load: load.matched,
        load_differences: load.differences,
        rows,
        gone_left_out,
        baseline_histogram: base.aggregate.histogram.clone(),
        // The overlay spans this run's seconds: a longer baseline series adds nothing to it.
        baseline_timeseries: (base.timeseries.iter())
            .take(current.timeseries.len() + OVERLAY_SLACK_SECONDS)
            .cloned()
            .collect(),
    }
}

/// Seconds of the baseline's time series kept past this run's length, for the overlay.
const OVERLAY_SLACK_SECONDS: usize = 60;

/// The baseline's endpoints this run does not have, busiest first, at most
/// [`defaults::MAX_ENDPOINTS`], and how many more were left out. The baseline comes from
/// outside: with 300,000 names of its own, the comparison (and so results.json, the next
/// run's baseline) would grow with it, and the chain would break on the size cap.
fn gone_endpoints<'a>(base: &'a RunResult, current: &RunResult) -> (Vec<&'a EndpointStats>, usize) {
    let here: std::collections::HashSet<&str> =
        current.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut gone: Vec<&EndpointStats> = (base.endpoints.iter())
        .filter(|e| !here.contains(e.name.as_str()))
        .collect();
    // The one rule for which names stay (the cardinality guard's).
    match crate::stats::split_busiest(&mut gone, defaults::MAX_ENDPOINTS, |e| {
        (e.name.as_str(), e.requests)
    }) {
        None => (gone, 0),
        Some(split) => {
            let left_out = split.folded.len();
            let mut kept = split.kept;
            kept.extend(split.others);
            (kept, left_out)
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{fixture, load_fixture, LoadFingerprint};

    /// A results.json written by the version before load fingerprints (a real run on the
    /// default branch against a baseline, so it has a verdict, a comparison and a history).
    const WITHOUT_LOAD: &str = include_str!("../../tests/fixtures/results-v1-without-load.json");

    fn current(change: impl FnOnce(&mut LoadFingerprint)) -> RunResult {
        let mut r = fixture(vec![], 1.0);
        let mut load = load_fixture();
        change(&mut load);
        r.run.load = Some(load);
        r
    }

    #[test]
    fn a_file_without_a_fingerprint_still_reads_as_of_unknown_load() {
        let bytes = WITHOUT_LOAD.as_bytes();
        let old: RunResult = results::parse(bytes, "old.json", Role::Baseline).unwrap();
        assert!(old.run.load.is_none());
        let history = results::parse_history(bytes, "old.json").unwrap();
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|h| h.load.is_none()));
        // `report` reads the whole document, verdict and comparison included.
        let doc: crate::report::Document = serde_json::from_str(WITHOUT_LOAD).unwrap();
        assert_eq!(doc.comparison.map(|c| c.load), Some(LoadMatch::Unknown));
        let c = compare("old.json", &old, &current(|_| {}));
        assert_eq!(c.load, LoadMatch::Unknown);
        // Its history stays in the band: whether it matched cannot be told.
        assert_eq!(
            crate::report::history_note(&history, &c, &current(|_| {})),
            None
        );
    }

    #[test]
    fn the_comparison_lists_each_difference_and_marks_new_and_gone_endpoints() {
        let base = current(|l| l.users = 50);
        let smoke = current(|l| l.users = 5);
        let c = compare("b", &base, &smoke);
        assert_eq!(c.load, LoadMatch::Different);
        assert_eq!(c.load_differences, ["users 50 → 5"]);
        let mut edited = current(|l| l.scenario_sha256 = Some("0".repeat(64)));
        let aggregate = base.aggregate.clone();
        let endpoint = |name: &str| crate::stats::EndpointStats {
            name: name.into(),
            ..aggregate.clone()
        };
        edited.endpoints = vec![endpoint("GET /new")];
        let mut base = base;
        base.run.load = Some(load_fixture());
        base.endpoints = vec![endpoint("GET /gone")];
        let c = compare("b", &base, &edited);
        assert_eq!(c.load, LoadMatch::ScenarioChanged);
        let presence: Vec<(&str, Presence)> = c
            .rows
            .iter()
            .map(|r| (r.endpoint.as_str(), r.presence))
            .collect();
        assert_eq!(
            presence,
            [
                (ALL_REQUESTS, Presence::Both),
                ("GET /new", Presence::New),
                ("GET /gone", Presence::Gone),
            ]
        );
    }

    /// A review app's run on the default branch, written by the previous release (1.0.0): it
    /// recorded the ref slug alone (`target_ref_slug`).
    const REVIEW_APP: &str = include_str!("../../tests/fixtures/results-v1-review-app.json");

    /// The previous release's review-app run still reads, as a baseline and as history, and a
    /// merge request's run against its own review app is the same load.
    #[test]
    fn a_review_app_run_of_the_previous_release_reads_and_compares() {
        let bytes = REVIEW_APP.as_bytes();
        let old: RunResult = results::parse(bytes, "old.json", Role::Baseline).unwrap();
        let load = old.run.load.clone().unwrap();
        assert_eq!(load.target, "http://review-main.example.test");
        assert_eq!(
            load.target_vars,
            std::collections::BTreeMap::from([("CI_COMMIT_REF_SLUG".into(), "main".into())])
        );
        let history = results::parse_history(bytes, "old.json").unwrap();
        assert_eq!(history[0].load.as_ref(), Some(&load));
        let mut mr = old.clone();
        mr.run.load = Some(LoadFingerprint {
            target: "http://review-feature-x.example.test".into(),
            target_vars: [
                ("CI_COMMIT_REF_SLUG", "feature-x"),
                ("CI_MERGE_REQUEST_IID", "7"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            ..load.clone()
        });
        let c = compare("old.json", &old, &mr);
        assert_eq!((c.load, c.load_differences.len()), (LoadMatch::Same, 0));
        assert_eq!(history[0].same_load(&mr.run), Some(true));
        // Another review domain is another target.
        mr.run.load = Some(LoadFingerprint {
            target: "http://review-feature-x.other.test".into(),
            ..mr.run.load.clone().unwrap()
        });
        assert_eq!(compare("old.json", &old, &mr).load, LoadMatch::Different);
    }

    /// A baseline of an engine this version does not know (a newer version's) still reads: it
    /// is shown as another engine's run, not comparable, and its name is written back as read.
    #[test]
    fn a_baseline_of_an_unknown_engine_reads_and_is_not_comparable() {
        let mut base = current(|l| l.engine = "gatling".into());
        base.run.engine = "gatling".into();
        let text = serde_json::to_string(&base).unwrap();
        let read: RunResult =
            results::parse(text.as_bytes(), "gatling.json", Role::Baseline).unwrap();
        assert_eq!(
            read.run.engine,
            crate::stats::Engine::Other("gatling".into())
        );
        let c = compare("gatling.json", &read, &current(|_| {}));
        assert!(c.engine_changed);
        assert_eq!(c.load, LoadMatch::Different);
        assert_eq!(c.load_differences, ["engine gatling → native"]);
    }
}
