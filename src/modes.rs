//! The closed sets of choices a user makes: which engine, when to comment, where the baseline
//! comes from. The command line, the config file and the component all convert into these once,
//! so the rest of the crate matches on types, never on strings. A leaf: it imports nothing of
//! the crate.

use std::{fmt, path::PathBuf};

use serde::Deserialize;

/// Which engine generates (or dispatches) the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EngineKind {
    /// The embedded Rust engine driven by a YAML scenario.
    Native,
    /// Real Locust running the team's locustfile.
    Locust,
    /// A run dispatched to the LoadForge cloud.
    #[serde(rename = "loadforge")]
    LoadForge,
}

impl EngineKind {
    /// The name results.json records for runs of this engine.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::Locust => "locust",
            EngineKind::LoadForge => "loadforge",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When the merge-request comment is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentMode {
    /// From merge-request pipelines, when an API token is set.
    #[default]
    Auto,
    /// Also from branch pipelines that have an open merge request.
    Always,
    /// Never.
    Never,
}

/// Where the baseline comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineSource {
    /// No baseline: regressions are not checked.
    None,
    /// The previous pipeline's run when inside GitLab; none elsewhere.
    Auto,
    /// A results.json on disk.
    File(PathBuf),
}

impl BaselineSource {
    /// `none` (or empty), `auto`, or a path.
    pub(crate) fn parse(text: &str) -> BaselineSource {
        match text.trim() {
            "" | "none" => BaselineSource::None,
            "auto" => BaselineSource::Auto,
            path => BaselineSource::File(PathBuf::from(path)),
        }
    }
}
