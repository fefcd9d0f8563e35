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
    stats::{EndpointStats, HistoryEntry, RunResult, SCHEMA},
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
        Some(SCHEMA) => serde_json::from_str(text)
            .map(|mut r: RunResult| {
                // One row per name, as every engine's result has now (older files may have two).
                r.merge_same_names();
                r
            })
            .map_err(parse_err),
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
    serde_json::from_str::<Chain>(text)
        .map(|c| c.history)
        .map_err(|source| BaselineError::Parse {
            path: path.to_path_buf(),
            source,
        })
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Comparison {
    /// Where the baseline came from (file path or pipeline).
    pub(crate) source: String,
    pub(crate) baseline_started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline_commit: Option<String>,
    pub(crate) engine_changed: bool,
    /// The aggregate first, then endpoints present in either run.
    pub(crate) rows: Vec<ComparisonRow>,
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

pub(crate) fn compare(source: &str, base: &RunResult, current: &RunResult) -> Comparison {
    let mut rows = vec![row(
        "all requests",
        Some(&current.aggregate),
        Some(&base.aggregate),
    )];
    for e in &current.endpoints {
        rows.push(row(&e.name, Some(e), base.endpoint(&e.name)));
    }
    for e in &base.endpoints {
        if current.endpoint(&e.name).is_none() {
            rows.push(row(&e.name, None, Some(e)));
        }
    }
    Comparison {
        source: source.to_string(),
        baseline_started_at: base.run.started_at.clone(),
        baseline_commit: base.ci.as_ref().and_then(|c| c.commit_sha.clone()),
        engine_changed: base.run.engine != current.run.engine,
        rows,
        baseline_histogram: base.aggregate.histogram.clone(),
        baseline_timeseries: base.timeseries.clone(),
    }
}

/// Plain-text rendering for `loadforge-gate compare`.
pub(crate) fn render_text(c: &Comparison) -> String {
    let mut out = format!("baseline: {} ({})\n", c.source, c.baseline_started_at);
    if c.engine_changed {
        out.push_str("note: the baseline was measured by a different engine\n");
    }
    for r in &c.rows {
        out.push_str(&format!("\n{}\n", r.endpoint));
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
