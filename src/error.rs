//! The top tier of errors: every module's typed error folds into [`Error`], and each maps to one
//! documented exit code in [`Error::exit_status`], one exhaustive `match` with no catch-all, so a
//! new error cannot ship without deciding what the pipeline sees. The exit codes themselves, and
//! their help text, are defined once in [`crate::exit`].

use crate::{
    engine::merge::MergeError, engine::EngineError, gate::GateError, pause::ThreadError,
    report::ReportError, results::ResultsFileError, sample_app::SampleAppError,
    scenario::ScenarioError, settings::SettingsError, starter::InitError,
};

pub(crate) use crate::{
    chain::{one_line, print},
    exit::ExitStatus,
};

/// Every way a command can fail, each keeping its cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    ResultsFile(#[from] ResultsFileError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    SampleApp(#[from] SampleAppError),
    /// `init` wrote nothing: a file exists, a `--path` or `--dir` will not do.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The baseline lookup's thread failed (it panicked, or could not start): regressions
    /// could not be checked, so the run must not go on as if there were no baseline.
    #[error("the baseline lookup failed, so regressions cannot be checked; nothing was run (pass --baseline none to run without a baseline)")]
    Lookup(#[source] ThreadError),
}

impl Error {
    /// What the pipeline sees: bad input is a usage error (2), a run that could not happen is an
    /// infrastructure error (3), an interruption is 4.
    pub(crate) fn exit_status(&self) -> ExitStatus {
        use ExitStatus::{Infrastructure, Interrupted, Usage};
        match self {
            Error::Settings(_) | Error::Scenario(_) | Error::Gate(_) | Error::Merge(_) => Usage,
            // An unwritable --dir is the user's to fix, as an unwritable --out is.
            Error::Init(_) => Usage,
            Error::ResultsFile(e) | Error::Report(ReportError::File(e)) => results_file_status(e),
            Error::Report(ReportError::OutDir { .. }) => Usage,
            Error::Report(ReportError::Write { .. })
            | Error::Report(ReportError::Serialize { .. }) => Infrastructure,
            Error::Engine(EngineError::Config(_)) | Error::Engine(EngineError::Invalid { .. }) => {
                Usage
            }
            Error::Engine(EngineError::Interrupted(_)) => Interrupted,
            Error::Engine(EngineError::Start(_))
            | Error::Engine(EngineError::Setup { .. })
            | Error::Engine(EngineError::Api { .. })
            | Error::Engine(EngineError::Missing(_))
            | Error::Engine(EngineError::Crashed { .. })
            | Error::Engine(EngineError::WorkerPanicked(_)) => Infrastructure,
            Error::SampleApp(SampleAppError::WriteCa { .. }) => Usage,
            Error::Lookup(_) => Infrastructure,
            Error::SampleApp(SampleAppError::Bind { .. })
            | Error::SampleApp(SampleAppError::Serve(_))
            | Error::SampleApp(SampleAppError::Tls(_)) => Infrastructure,
        }
    }
}

/// A results file that cannot be read is bad input (2), whatever it was read for; one that
/// cannot be written is the machine's failure (3).
fn results_file_status(e: &ResultsFileError) -> ExitStatus {
    match e {
        ResultsFileError::Read { .. }
        | ResultsFileError::Parse { .. }
        | ResultsFileError::TooLarge { .. }
        | ResultsFileError::NoSchema { .. }
        | ResultsFileError::Schema { .. }
        | ResultsFileError::HistogramBudget { .. }
        | ResultsFileError::TooManyEntries { .. } => ExitStatus::Usage,
        ResultsFileError::Write { .. } | ResultsFileError::Serialize { .. } => {
            ExitStatus::Infrastructure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{chain::render, exit::EXIT_CODES_HELP};

    #[test]
    fn the_help_lists_every_exit_status() {
        for s in [
            ExitStatus::Passed,
            ExitStatus::GateFailed,
            ExitStatus::Usage,
            ExitStatus::Infrastructure,
            ExitStatus::Interrupted,
            ExitStatus::NotJudged,
        ] {
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {}  ", s.code())),
                "{s:?} is missing from the help"
            );
        }
    }

    #[test]
    fn causes_follow_the_message_one_per_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::ResultsFile(ResultsFileError::Read {
            role: crate::results::Role::Baseline,
            file: "b.json".into(),
            source: io,
        });
        assert_eq!(
            render(&e),
            "loadforge-gate: error: cannot read results file b.json; check the --baseline path\n  caused by: gone"
        );
        assert_eq!(
            one_line(&e),
            "cannot read results file b.json; check the --baseline path: gone"
        );
    }
}
