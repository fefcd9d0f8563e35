use crate::{
    cli::ReportArgs,
    error::{Error, ExitStatus},
    report::{self, Document},
    results::{self, Role},
};

/// Re-publishes every file from a results.json; the verdict stored in it decides the exit code,
/// as it decided the run's.
pub(crate) fn execute(args: &ReportArgs) -> Result<ExitStatus, Error> {
    let doc: Document = results::load(&args.results, Role::Results)?;
    report::prepare_out_dir(&args.out)?;
    let written = report::publish_all(&args.out, &doc)?;
    println!(
        "reports written to {}/: {}",
        args.out.display(),
        written
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitStatus::of(
        doc.verdict.as_ref().map(crate::gate::Verdict::outcome),
        doc.run.run.interrupted,
    ))
}
