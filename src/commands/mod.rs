//! One module per subcommand; this one parses arguments, dispatches, and turns every outcome
//! into an exit code (printing an error with each of its causes on a line of its own).

mod comment;
mod compare;
mod demo;
mod executor;
mod init;
mod lookup;
mod merge;
mod notes;
mod pipeline;
mod report;
mod run;
mod setup;
mod speaks_for;
mod validate;
mod workload;

use std::ffi::OsString;

use clap::Parser;

use crate::{
    cli::{Cli, Command},
    error::{Error, ExitStatus},
};

pub(crate) use pipeline::run_gate;
pub(crate) use workload::{prepare, Workload};

/// Reads the process environment; injected everywhere else so tests stay hermetic.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Treats an empty `LOADFORGE_GATE_*` variable as unset. A CI/CD component passes every input
/// as a variable, and an input left at its empty default must mean "not given", not "given as
/// an empty value". Called once at the start of `main`, before any thread exists.
pub fn scrub_empty_env() {
    let empty: Vec<OsString> = std::env::vars_os()
        .filter(|(k, v)| k.to_string_lossy().starts_with("LOADFORGE_GATE_") && v.is_empty())
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        std::env::remove_var(k);
    }
}

/// The whole program: parse, run, report, map to an exit code.
pub fn main_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            crate::error::print(&e);
            e.exit_status().code()
        }
    }
}

/// The exit code of a command. The executor's codes are GitLab Runner's contract, not the
/// gate's table, so it returns its own.
fn dispatch(cli: Cli) -> Result<u8, Error> {
    let status = match cli.command {
        Command::Executor(args) => return Ok(executor::execute(&args)),
        Command::Run(args) => run::execute(&args),
        Command::Demo(args) => demo::execute(&args),
        Command::SampleApp(args) => demo::sample_app(&args),
        Command::Compare(args) => compare::execute(&args),
        Command::Report(args) => report::execute(&args),
        Command::Validate(args) => validate::execute(&args),
        Command::Merge(args) => merge::execute(&args),
        Command::Init(args) => init::execute(&args),
    }?;
    Ok(status.code())
}

/// Help and version go to stdout with exit 0; usage errors become one line and exit 2.
fn clap_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitStatus::Usage.code()
            } else {
                ExitStatus::Passed.code()
            }
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("loadforge-gate: error: {first}; see `loadforge-gate --help`");
            ExitStatus::Usage.code()
        }
    }
}
