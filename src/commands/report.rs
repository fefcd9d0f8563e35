use crate::{
    cli::ReportArgs,
    error::{Error, ExitStatus},
    report,
};

/// Re-publishes every file from a results.json; the verdict stored in it decides the exit code.
pub(crate) fn execute(args: &ReportArgs) -> Result<ExitStatus, Error> {
    let doc = report::load_document(&args.results)?;
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
    Ok(match &doc.verdict {
        Some(v) if v.passed => ExitStatus::Passed,
        _ if doc.run.run.interrupted => ExitStatus::Interrupted,
        Some(v) => v.exit_status(),
        _ => ExitStatus::GateFailed,
    })
}
