//! Publishers: one module per output file, each a pure function from the finished [`Document`]
//! to bytes. `publish_all` writes them all into the output directory, whatever the verdict.

mod annotations;
mod changes;
mod charts;
mod comment;
mod comparison;
mod console;
mod html;
mod junit;
mod k6;
mod markdown;
mod metrics;
mod paired;
mod protocols;
/// The schema of results.json, generated from [`Document`]'s types; written to `schema/` by its
/// test, the one place it is needed.
#[cfg(test)]
mod schema;
#[cfg(test)]
mod snapshot_tests;
mod trend;
mod view;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    baseline::Comparison,
    gate::Verdict,
    results::{self, ResultsFileError},
    stats::RunResult,
};
use view::View;
pub(crate) use view::INSECURE;

pub(crate) use comment::{marker, render_comment};
pub(crate) use comparison::{gone_note, history_note, render_text as comparison_text};
pub(crate) use console::render_outcome;
pub(crate) use paired::render_text as paired_text;

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
    /// results.json, or a report written the same way as it (whole, then renamed).
    #[error(transparent)]
    File(#[from] ResultsFileError),
}

/// What `results.json` holds: one run of loadforge-gate, its verdict and, when there was a
/// baseline, its comparison with it. The next pipeline reads it as its baseline, and `report`
/// re-publishes from it, so everything any publisher needs is in here. Fields an engine cannot
/// supply are absent, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct Document {
    #[serde(flatten)]
    pub(crate) run: RunResult,
    /// Every check and what they add up to; absent in a shard's file (the whole run is judged
    /// once, by `merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verdict: Option<Verdict>,
    /// The run against its baseline; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) comparison: Option<Comparison>,
    /// Things a reader should know (default thresholds used, no baseline yet, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
    /// The run history the next run is judged by (see `stats::HistoryEntry`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) history: Vec<crate::stats::HistoryEntry>,
}

/// `report` reads the whole document back through the one reader of results files.
impl results::Contents for Document {
    fn run_mut(&mut self) -> &mut RunResult {
        &mut self.run
    }
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

/// Writes every report. `results.json` goes first: it is the one the next pipeline needs, and
/// the one a later `report` command can rebuild the rest from. The others render one [`View`]
/// of the document, so they cannot disagree.
pub(crate) fn publish_all(dir: &Path, doc: &Document) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::OutDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = vec![results::write(dir, RESULTS_JSON, doc)?];
    let view = View::new(doc);
    let files = [
        (JUNIT_XML, junit::render(&view)?),
        (METRICS_TXT, metrics::render(&view)),
        (LOAD_PERFORMANCE_JSON, k6::render(view.aggregate)),
        (SUMMARY_MD, markdown::render(&view)),
        (ANNOTATIONS_JSON, annotations::render(&view)),
        (REPORT_HTML, html::render(&view)),
    ];
    for (name, text) in &files {
        written.push(results::write_atomically(dir, name, text.as_bytes())?);
    }
    Ok(written)
}
