use crate::{
    baseline,
    cli::CompareArgs,
    error::{Error, ExitStatus},
    gate::{self, Baseline, Rules},
};

/// Prints the per-endpoint diff, then applies the regression rules; exit 1 when one fails.
pub(crate) fn execute(args: &CompareArgs) -> Result<ExitStatus, Error> {
    let base = baseline::load_baseline_file(&args.baseline)?;
    let current = baseline::load_results(&args.current)?;
    let rules = gate::regressions_or_builtin(&args.regressions)?;
    let comparison = baseline::compare(&base.source, &base.result, &current);
    print!("{}", baseline::render_text(&comparison));
    for note in &base.notes {
        println!("note: {note}");
    }
    if let Some(note) = baseline::history_note(&base.history, &comparison, &current) {
        println!("note: {note}");
    }
    let trend = crate::report::trend_text(&base.history, &current);
    if !trend.is_empty() {
        print!("\n{trend}");
    }
    // Judged as `run` judges: against the baseline's history when it carries one.
    let verdict = gate::evaluate(
        &current,
        &Rules::configured(Vec::new()),
        &rules,
        Some(Baseline {
            result: &base.result,
            history: &base.history,
        }),
    )?;
    let failed: Vec<&gate::Check> = verdict
        .failed_checks()
        .filter(|c| c.kind == gate::CheckKind::Regression)
        .collect();
    let changes = crate::report::changes_text(&base.history, &current, &failed);
    if !changes.is_empty() {
        print!("\n{changes}");
    }
    println!();
    for c in &verdict.checks {
        println!(
            "{} {}: {}",
            match c.state() {
                gate::CheckState::Passed => "✓",
                gate::CheckState::Failed => "✗",
                gate::CheckState::Inconclusive => "?",
                gate::CheckState::NotComparable => "–",
            },
            c.name,
            c.detail
        );
    }
    Ok(verdict.exit_status())
}
