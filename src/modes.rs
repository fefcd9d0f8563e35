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
    /// The real k6 binary running the team's k6 script.
    K6,
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
            EngineKind::K6 => "k6",
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
    /// On the merge request the pipeline is for: its own in a merge-request pipeline, the one
    /// `CI_OPEN_MERGE_REQUESTS` names in a branch pipeline. Needs an API token.
    #[default]
    Auto,
    /// On every open merge request from the branch, in a branch pipeline.
    Always,
    /// Never.
    Never,
}

/// Which pipelines the component runs the gate in (its `pipelines` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PipelinesMode {
    /// Branch and tag pipelines (the component's default).
    #[default]
    Branch,
    /// Merge-request pipelines, and branch pipelines of branches without one.
    MergeRequest,
    /// The user's own rules.
    Custom,
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

/// Whether the native engine speaks HTTP/2 to the target (`http2:` in the scenario's
/// `defaults`, `--http2` over it).
///
/// The default is `never` for now: a gate upgraded to a release that speaks HTTP/2 must not
/// start measuring another protocol on its own. Against an `https` front door that offers h2,
/// `auto` would turn every existing HTTP/1.1 baseline into a run of another load (which the load
/// fingerprint then refuses to compare) on the first pipeline after the upgrade, and the h2
/// path has not yet been measured against h2load (#34). Choosing h2 is the user's act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Http2Mode {
    /// Over TLS, offer `h2` and `http/1.1` by ALPN and speak what the server picks; plain
    /// `http` stays HTTP/1.1 (no cleartext upgrade).
    Auto,
    /// HTTP/2 only: by ALPN over TLS (a server that refuses it fails every request with that
    /// reason), by prior knowledge over plain `http`.
    Always,
    /// HTTP/1.1 only, as before HTTP/2 was spoken.
    #[default]
    Never,
}

impl Http2Mode {
    /// The word the scenario, the flag and the docs use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Http2Mode::Auto => "auto",
            Http2Mode::Always => "always",
            Http2Mode::Never => "never",
        }
    }
}

impl fmt::Display for Http2Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
