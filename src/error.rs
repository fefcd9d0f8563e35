//! The top tier of errors: every module's typed error folds into [`Error`], and each maps to one
//! documented exit code. The mapping is an exhaustive `match` so a new error cannot ship without
//! deciding what the pipeline sees.

use crate::{
    baseline::BaselineError, engine::EngineError, gate::GateError, report::ReportError,
    sample_app::SampleAppError, scenario::ScenarioError, settings::SettingsError,
};

/// The exit codes are a public contract (README, DESIGN.md): pipelines branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every check passed.
    Passed = 0,
    /// A threshold or regression check failed.
    GateFailed = 1,
    /// Usage or configuration error: nothing was (or could be) judged.
    Usage = 2,
    /// The test could not run: engine or infrastructure failure.
    Infrastructure = 3,
    /// Interrupted by SIGINT/SIGTERM; partial results were published.
    Interrupted = 4,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    SampleApp(#[from] SampleAppError),
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Settings(_) | Error::Scenario(_) | Error::Gate(_) | Error::Baseline(_) => {
                ExitStatus::Usage
            }
            Error::Report(e) => match e {
                ReportError::OutDir { .. } | ReportError::ReadResults { .. } => ExitStatus::Usage,
                ReportError::Write { .. } | ReportError::Serialize { .. } => {
                    ExitStatus::Infrastructure
                }
            },
            Error::Engine(EngineError::Config(_) | EngineError::Invalid { .. }) => {
                ExitStatus::Usage
            }
            Error::Engine(EngineError::Interrupted(_)) => ExitStatus::Interrupted,
            Error::Engine(_) => ExitStatus::Infrastructure,
            Error::SampleApp(_) => ExitStatus::Infrastructure,
        }
    }
}
