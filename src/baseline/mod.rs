//! The baseline: a previous run's `results.json`, and the per-endpoint comparison of the current
//! run against it. Loading refuses files it cannot compare honestly (another schema version).

mod diagnose;
mod remote;

use std::path::{Path, PathBuf};

pub(crate) use remote::{find_previous, Previous};

use serde::{Deserialize, Serialize};

use crate::{
    defaults,
    gate::{metric_value, Metric, Unit},
    stats::{compare_loads, EndpointStats, HistoryEntry, LoadMatch, RunResult, SCHEMA},
};

#[derive(Debug, thiserror::Error)]
pub(crate) enum BaselineError {
    #[error("cannot read results file {}; check the --baseline path", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a loadforge-gate results file", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is {size} bytes; results files over {} MiB are refused", path.display(), defaults::MAX_RESULTS_BYTES >> 20)]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{} is not a loadforge-gate results file: it has no `schema` field", path.display())]
    NoSchema { path: PathBuf },
    #[error("{} has schema `{found}`, this version reads `{SCHEMA}`; regenerate it with this version or pass --baseline none", path.display())]
    Schema { path: PathBuf, found: String },
    #[error("{} is refused: its histograms need more than {} MiB of memory decoded, the budget of one results file", path.display(), crate::stats::HISTOGRAM_BUDGET_BYTES >> 20)]
    HistogramBudget { path: PathBuf },
}

/// Parses `text` as `T` within one file's histogram budget, naming the file in either error.
fn parse_budgeted<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, BaselineError> {
    let (parsed, spent) = crate::stats::within_budget(|| serde_json::from_str(text));
    parsed.map_err(|source| match spent {
        true => BaselineError::HistogramBudget {
            path: path.to_path_buf(),
        },
        false => BaselineError::Parse {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Reads a `results.json` (also used for `report` and `compare`), refusing one larger than
/// [`defaults::MAX_RESULTS_BYTES`] before reading it.
pub(crate) fn load_results(path: &Path) -> Result<RunResult, BaselineError> {
    parse_results(&read_results_text(path)?, path)
}

/// The text of a results file, after its size is checked against the cap.
fn read_results_text(path: &Path) -> Result<String, BaselineError> {
    let read_err = |source| BaselineError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > defaults::MAX_RESULTS_BYTES as u64 {
        return Err(BaselineError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    // Capped as it is read too: a file that grows after the size check is still cut off.
    let bytes = std::fs::File::open(path)
        .and_then(|f| crate::capped::read_capped(f, defaults::MAX_RESULTS_BYTES))
        .map_err(read_err)?
        .ok_or_else(|| BaselineError::TooLarge {
            path: path.to_path_buf(),
            size: defaults::MAX_RESULTS_BYTES as u64 + 1,
        })?;
    String::from_utf8(bytes)
        .map_err(|e| read_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Parses a `results.json`; `path` names its origin in errors (a file, or an artifact). The
/// schema is checked first; the file is then read straight into its types, never into a
/// generic JSON tree, which costs ten times the file's size.
pub(crate) fn parse_results(text: &str, path: &Path) -> Result<RunResult, BaselineError> {
    if text.len() > defaults::MAX_RESULTS_BYTES {
        return Err(BaselineError::TooLarge {
            path: path.to_path_buf(),
            size: text.len() as u64,
        });
    }
    /// Just the schema, so a file of another version is named as such rather than failing on
    /// whichever field changed.
    #[derive(Deserialize)]
    struct Header {
        schema: Option<String>,
    }
    let parse_err = |source| BaselineError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let header: Header = serde_json::from_str(text).map_err(parse_err)?;
    match header.schema.as_deref() {
        Some(SCHEMA) => parse_budgeted(text, path).map(|mut r: RunResult| {
            // One row per name, as every engine's result has now (older files may have two).
            r.merge_same_names();
            r
        }),
        Some(other) => Err(BaselineError::Schema {
            path: path.to_path_buf(),
            found: other.to_string(),
        }),
        None => Err(BaselineError::NoSchema {
            path: path.to_path_buf(),
        }),
    }
}

/// The run history a results file carries (see `stats::HistoryEntry`), newest first. A file
/// without one has none; one whose history cannot be read is judged without it, and says so.
pub(crate) fn parse_history(text: &str, path: &Path) -> Result<Vec<HistoryEntry>, BaselineError> {
    #[derive(Deserialize)]
    struct Chain {
        #[serde(default)]
        history: Vec<HistoryEntry>,
    }
    parse_budgeted::<Chain>(text, path).map(|c| c.history)
}

/// A results file and the history it carries, for `--baseline FILE`.
pub(crate) fn load_baseline_file(path: &Path) -> Result<Previous, BaselineError> {
    // Read once; parsed twice (the run, then its history), which costs less than a generic
    // JSON tree of the file.
    let text = read_results_text(path)?;
    let result = parse_results(&text, path)?;
    let mut notes = Vec::new();
    let history = history_or_note(&text, path, &mut notes);
    Ok(Previous {
        source: path.display().to_string(),
        result,
        history,
        notes,
    })
}

/// The history in `text`, or none and a note saying why.
pub(crate) fn history_or_note(
    text: &str,
    path: &Path,
    notes: &mut Vec<String>,
) -> Vec<HistoryEntry> {
    parse_history(text, path).unwrap_or_else(|e| {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetricDelta {
    /// Written to results.json as its label (`p95`, `rps`).
    pub(crate) metric: Metric,
    pub(crate) unit: Unit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<f64>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ComparisonRow {
    pub(crate) endpoint: String,
    pub(crate) metrics: Vec<MetricDelta>,
    /// Whether both runs have the endpoint; written only for one that is `new` or `gone`.
    #[serde(default, skip_serializing_if = "Presence::is_both")]
    pub(crate) presence: Presence,
}

/// An endpoint in both runs, or in one of them only (the scenario changed, or the traffic did).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Presence {
    #[default]
    Both,
    /// Only this run has it: nothing to compare it with.
    New,
    /// Only the baseline has it.
    Gone,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Comparison {
    /// Where the baseline came from (file path or pipeline).
    pub(crate) source: String,
    pub(crate) baseline_started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_commit: Option<String>,
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
    pub(crate) load_differences: Vec<String>,
    /// The aggregate first, then endpoints present in either run (of those only the baseline
    /// has, the busiest [`defaults::MAX_ENDPOINTS`]).
    pub(crate) rows: Vec<ComparisonRow>,
    /// How many endpoints only the baseline has were left out of `rows`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) gone_left_out: usize,
    /// The baseline's aggregate latency histogram and time series, for the overlays of the
    /// HTML report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_histogram: Option<crate::stats::LatencyHistogram>,
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
        "all requests",
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

/// How many endpoints only the baseline has went unlisted, said once.
pub(crate) fn gone_note(c: &Comparison) -> Option<String> {
    (c.gone_left_out > 0).then(|| {
        format!(
            "{} more endpoints that only the baseline has are not listed (the busiest {} are).",
            c.gone_left_out,
            defaults::MAX_ENDPOINTS
        )
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Plain-text rendering for `loadforge-gate compare`.
pub(crate) fn render_text(c: &Comparison) -> String {
    let mut out = format!("baseline: {} ({})\n", c.source, c.baseline_started_at);
    if let Some(note) = load_note(c) {
        out.push_str(&format!("note: {note}\n"));
    }
    for r in &c.rows {
        match r.presence.word() {
            Some(word) => out.push_str(&format!("\n{} ({word})\n", r.endpoint)),
            None => out.push_str(&format!("\n{}\n", r.endpoint)),
        }
        for m in &r.metrics {
            let fmt = |v: Option<f64>| v.map(|v| m.unit.format(v)).unwrap_or_else(|| "-".into());
            let change = m
                .change_pct()
                .map(|p| format!("{p:+.1}%"))
                .unwrap_or_else(|| "".into());
            out.push_str(&format!(
                "  {:<11} {:>14} -> {:<14} {}\n",
                m.metric,
                fmt(m.baseline),
                fmt(m.current),
                change
            ));
        }
    }
    out
}

/// How many runs of the baseline's history ran another load and were left out of the band the
/// regressions are judged by (see `gate::regression`), said once; nothing when every run
/// matched, or when the baseline itself ran another load (no regression is judged then).
pub(crate) fn history_note(
    history: &[HistoryEntry],
    comparison: &Comparison,
    current: &RunResult,
) -> Option<String> {
    if comparison.load == LoadMatch::Different {
        return None;
    }
    let other_load = (history.iter())
        .filter(|h| h.same_load(&current.run) == Some(false))
        .count();
    let flagged = (history.iter())
        .filter(|h| h.flagged.is_some() && h.same_load(&current.run) != Some(false))
        .count();
    let runs = |n: usize| match n {
        1 => "1 history run".to_string(),
        n => format!("{n} history runs"),
    };
    let mut parts = Vec::new();
    if other_load > 0 {
        parts.push(format!("{} with another load shape", runs(other_load)));
    }
    if flagged > 0 {
        parts.push(format!("{} flagged (made on a busy host)", runs(flagged)));
    }
    (!parts.is_empty()).then(|| {
        let verb = if other_load + flagged == 1 {
            "was"
        } else {
            "were"
        };
        format!(
            "{} {verb} left out of the band regressions are judged by.",
            parts.join(" and ")
        )
    })
}

/// What a reader must know about the baseline's load, in one sentence; `None` when it matched.
pub(crate) fn load_note(c: &Comparison) -> Option<String> {
    let listed = c.load_differences.join("; ");
    match c.load {
        LoadMatch::Same => None,
        LoadMatch::Different => Some(format!(
            "not comparable: the baseline ran another load ({listed}); regressions not judged"
        )),
        LoadMatch::ScenarioChanged => Some(format!(
            "{listed}: the endpoints both runs have are compared; new ones are marked new, missing ones gone"
        )),
        LoadMatch::Unknown => Some(
            "the baseline has no load fingerprint (an older loadforge-gate wrote it): whether it ran the same load could not be checked".into(),
        ),
    }
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
    fn a_file_without_a_fingerprint_still_reads_and_says_it_could_not_be_checked() {
        let path = Path::new("old.json");
        let old = parse_results(WITHOUT_LOAD, path).unwrap();
        assert!(old.run.load.is_none());
        let history = parse_history(WITHOUT_LOAD, path).unwrap();
        assert_eq!(history.len(), 2);
        assert!(history.iter().all(|h| h.load.is_none()));
        // `report` reads the whole document, verdict and comparison included.
        let doc: crate::report::Document = serde_json::from_str(WITHOUT_LOAD).unwrap();
        assert_eq!(doc.comparison.map(|c| c.load), Some(LoadMatch::Unknown));
        let c = compare("old.json", &old, &current(|_| {}));
        assert_eq!(c.load, LoadMatch::Unknown);
        assert!(load_note(&c).unwrap().contains("could not be checked"));
        // Its history stays in the band: whether it matched cannot be told.
        assert_eq!(history_note(&history, &c, &current(|_| {})), None);
    }

    #[test]
    fn the_comparison_lists_each_difference_and_marks_new_and_gone_endpoints() {
        let base = current(|l| l.users = 50);
        let smoke = current(|l| l.users = 5);
        let c = compare("b", &base, &smoke);
        assert_eq!(c.load, LoadMatch::Different);
        assert_eq!(c.load_differences, ["users 50 → 5"]);
        assert!(render_text(&c)
            .contains("not comparable: the baseline ran another load (users 50 → 5)"));
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
                ("all requests", Presence::Both),
                ("GET /new", Presence::New),
                ("GET /gone", Presence::Gone),
            ]
        );
        let text = render_text(&c);
        assert!(
            text.contains("GET /new (new)") && text.contains("GET /gone (gone)"),
            "{text}"
        );
    }

    #[test]
    fn history_runs_of_another_load_are_counted_once() {
        let base = current(|_| {});
        let entry = |users| HistoryEntry::of(&current(|l| l.users = users));
        let history = [entry(50), entry(5), entry(5), entry(5)];
        let c = compare("b", &base, &base);
        let note = history_note(&history, &c, &base).unwrap();
        assert!(
            note.starts_with("3 history runs with another load shape were left out"),
            "{note}"
        );
        assert!(history_note(&history[..2], &c, &base)
            .unwrap()
            .starts_with("1 history run "));
        // Against a baseline of another load nothing is judged: no count to give.
        let other = compare("b", &current(|l| l.users = 1), &base);
        assert_eq!(history_note(&history, &other, &base), None);
    }
}
