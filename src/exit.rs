//! The exit codes, a public contract (the README's table): pipelines branch on them. A leaf, so
//! the command line's help can quote the table without importing the errors.

/// What the process tells the pipeline; every error maps to one (`Error::exit_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
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
    /// Not judged: no check failed, but at least one could not be judged (no baseline yet,
    /// not comparable, generator starved, look-up failed, not measured, too noisy). Never a
    /// pass: the templates let it through as a warning at most.
    NotJudged = 5,
}

/// `--help`'s table of exit codes; a test checks that it lists every [`ExitStatus`].
pub(crate) const EXIT_CODES_HELP: &str = "Exit codes:
  0  gate passed
  1  gate failed: a threshold or regression check failed
  2  usage or configuration error
  3  the test could not run (engine or infrastructure error)
  4  interrupted: partial results were published
  5  not judged: no check failed, but at least one could not be judged (no baseline yet, not
     comparable, generator starved, look-up failed, not measured, too noisy); never a pass";

/// What the gate concluded of a run, in the terms the exit codes distinguish
/// (`gate::Verdict::outcome` gives it), for [`ExitStatus::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "VerdictOutcome")]
pub(crate) enum Outcome {
    /// Every check was judged and passed.
    Passed,
    /// A check failed.
    Failed,
    /// No check failed, but at least one was not judged.
    NotJudged,
    /// Not judged here by design: a shard, judged once with the others by `merge`. Never
    /// written: a shard's file has no verdict.
    #[schemars(skip)]
    Deferred,
}

impl ExitStatus {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The one place a run's outcome becomes an exit status, so `run`, `report`, `compare`,
    /// `merge` and a shard cannot disagree about the same run. An interrupted run is 4 whatever
    /// its verdict: its results are partial, and a pass on part of a run is not a pass. A run
    /// with no verdict (`None`: a results file without one) was not shown to pass, so it fails.
    pub(crate) fn of(outcome: Option<Outcome>, interrupted: bool) -> ExitStatus {
        match (interrupted, outcome) {
            (true, _) => ExitStatus::Interrupted,
            (false, Some(Outcome::Passed | Outcome::Deferred)) => ExitStatus::Passed,
            (false, Some(Outcome::Failed) | None) => ExitStatus::GateFailed,
            (false, Some(Outcome::NotJudged)) => ExitStatus::NotJudged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ExitStatus, Outcome};

    #[test]
    fn an_interruption_wins_over_any_verdict() {
        for outcome in [
            None,
            Some(Outcome::Passed),
            Some(Outcome::Failed),
            Some(Outcome::NotJudged),
            Some(Outcome::Deferred),
        ] {
            assert_eq!(ExitStatus::of(outcome, true), ExitStatus::Interrupted);
        }
        assert_eq!(
            ExitStatus::of(Some(Outcome::NotJudged), false),
            ExitStatus::NotJudged
        );
        assert_eq!(
            ExitStatus::of(Some(Outcome::Deferred), false),
            ExitStatus::Passed
        );
        assert_eq!(ExitStatus::of(None, false), ExitStatus::GateFailed);
    }
}
