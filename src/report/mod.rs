//! Publishers: one module per output file, each a pure function from the finished [`Document`]
//! to bytes. `publish_all` writes them all into the output directory, whatever the verdict.

mod annotations;
mod changes;
mod charts;
mod comment;
mod console;
mod html;
mod junit;
mod k6;
mod markdown;
mod metrics;
#[cfg(test)]
mod snapshot_tests;
mod trend;
mod view;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{baseline::Comparison, gate::Verdict, stats::RunResult};
use view::View;
pub(crate) use view::INSECURE;

pub(crate) use comment::{marker, render_comment};
pub(crate) use console::render_outcome;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("output directory {} is not writable; pass a writable --out DIR", path.display())]
    OutDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize {file}")]
    Serialize {
        file: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot read results {}; check the path", path.display())]
    ReadResults {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a loadforge-gate results file", path.display())]
    ParseResults {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is refused: its histograms need more than {} MiB of memory decoded, the budget of one results file", path.display(), crate::stats::HISTOGRAM_BUDGET_BYTES >> 20)]
    HistogramBudget { path: PathBuf },
    #[error("{} is larger than {} MiB; results files over that are refused", path.display(), crate::defaults::MAX_RESULTS_BYTES >> 20)]
    TooLarge { path: PathBuf },
}

/// What `results.json` holds: the run, its verdict and, when there was a baseline, the
/// comparison. Everything any publisher needs is in here, so `report` can re-publish from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Document {
    #[serde(flatten)]
    pub(crate) run: RunResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) comparison: Option<Comparison>,
    /// Things a reader should know (default thresholds used, no baseline yet, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
    /// The run history the next run is judged by (see `stats::HistoryEntry`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) history: Vec<crate::stats::HistoryEntry>,
}

/// Where the changes of `run`'s endpoints began in `history`, as `compare` prints it (empty
/// when there are none); `failed` are the run's failed regression checks.
pub(crate) fn changes_text(
    history: &[crate::stats::HistoryEntry],
    run: &RunResult,
    failed: &[&crate::gate::Check],
) -> String {
    changes::render_text(&changes::Changes::new(history, run, failed))
}

/// The p95 trend of `run` after `history` as `compare` prints it (empty below three runs).
pub(crate) fn trend_text(history: &[crate::stats::HistoryEntry], run: &RunResult) -> String {
    trend::render_text(&trend::Trend::new(history, run))
}

pub(crate) const RESULTS_JSON: &str = "results.json";
pub(crate) const JUNIT_XML: &str = "junit.xml";
pub(crate) const METRICS_TXT: &str = "metrics.txt";
pub(crate) const LOAD_PERFORMANCE_JSON: &str = "load-performance.json";
pub(crate) const SUMMARY_MD: &str = "summary.md";
pub(crate) const ANNOTATIONS_JSON: &str = "annotations.json";
pub(crate) const REPORT_HTML: &str = "report.html";

/// Creates the directory and proves it is writable before any load is generated, so a bad
/// `--out` costs nothing.
pub(crate) fn prepare_out_dir(dir: &Path) -> Result<(), ReportError> {
    let err = |source| ReportError::OutDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(".loadforge-gate-write-test");
    std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"ok"))
        .map_err(err)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes `name` into `dir` through a temporary file and a rename.
pub(crate) fn write_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<PathBuf, ReportError> {
    let path = dir.join(name);
    // Write then rename, so a reader (or the next pipeline) never sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

pub(crate) fn results_json(doc: &Document) -> Result<String, ReportError> {
    serde_json::to_string_pretty(doc).map_err(|e| ReportError::Serialize {
        file: RESULTS_JSON,
        source: Box::new(e),
    })
}

/// Writes every report. `results.json` goes first: it is the one the next pipeline needs, and
/// the one a later `report` command can rebuild the rest from. The others render one [`View`]
/// of the document, so they cannot disagree.
pub(crate) fn publish_all(dir: &Path, doc: &Document) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::OutDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let view = View::new(doc);
    let files = [
        (RESULTS_JSON, results_json(doc)?),
        (JUNIT_XML, junit::render(&view)?),
        (METRICS_TXT, metrics::render(&view)),
        (LOAD_PERFORMANCE_JSON, k6::render(view.aggregate)),
        (SUMMARY_MD, markdown::render(&view)),
        (ANNOTATIONS_JSON, annotations::render(&view)),
        (REPORT_HTML, html::render(&view)),
    ];
    files
        .iter()
        .map(|(name, text)| write_atomically(dir, name, text.as_bytes()))
        .collect()
}

/// Reads a `results.json` back, verdict and comparison included.
pub(crate) fn load_document(path: &Path) -> Result<Document, ReportError> {
    let read_err = |source| ReportError::ReadResults {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::File::open(path)
        .and_then(|f| crate::capped::read_capped(f, crate::defaults::MAX_RESULTS_BYTES))
        .map_err(read_err)?
        .ok_or_else(|| ReportError::TooLarge {
            path: path.to_path_buf(),
        })?;
    let (parsed, spent) = crate::stats::within_budget(|| serde_json::from_slice(&bytes));
    parsed.map_err(|source| match spent {
        true => ReportError::HistogramBudget {
            path: path.to_path_buf(),
        },
        false => ReportError::ParseResults {
            path: path.to_path_buf(),
            source,
        },
    })
}
