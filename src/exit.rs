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
    /// Inconclusive: a latency check failed while the load generator was starved, so the
    /// latencies may be the generator's own; no error-rate check failed. Worth a retry.
    Inconclusive = 5,
}

/// `--help`'s table of exit codes; a test checks that it lists every [`ExitStatus`].
pub(crate) const EXIT_CODES_HELP: &str = "Exit codes:
  0  gate passed
  1  gate failed: a threshold or regression check failed
  2  usage or configuration error
  3  the test could not run (engine or infrastructure error)
  4  interrupted: partial results were published
  5  inconclusive: a latency check failed while the load generator was starved (retry it)";

impl ExitStatus {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}
