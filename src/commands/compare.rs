use crate::{
    baseline,
    cli::CompareArgs,
    error::{Error, ExitStatus},
    gate::{self, Baseline, Reference, Rules},
    results::{self, Role},
    stats::RunResult,
};

/// Prints the per-endpoint diff, then applies the regression rules; exit 1 when one fails (4
/// when the current run was interrupted, as for `run`).
pub(crate) fn execute(args: &CompareArgs) -> Result<ExitStatus, Error> {
    let base = baseline::load_baseline_file(&args.baseline)?;
    let current: RunResult = results::load(&args.current, Role::Results)?;
    let rules = gate::regressions_or_builtin(&args.regressions)?;
    let comparison = baseline::compare(&base.source, &base.result, &current);
    print!("{}", crate::report::comparison_text(&comparison));
    for note in &base.notes {
        println!("note: {note}");
    }
    if let Some(note) = crate::report::history_note(&base.history, &comparison, &current) {
        println!("note: {note}");
    }
    let trend = crate::report::trend_text(&base.history, &current);
    if !trend.is_empty() {
        print!("\n{trend}");
    }
    // Judged as `run` judges: against the baseline's history when it carries one. `compare`
    // applies the regression rules only: k6's own verdicts are the run's, which `run` and
    // `report` judge and show.
    let mut verdict = gate::evaluate(
        &current,
        &Rules::configured(Vec::new()),
        &rules,
        &Reference::Baseline(Baseline {
            result: &base.result,
            history: &base.history,
        }),
    )?;
    verdict.checks.retain(|c| !c.kind.is_k6());
    let failed: Vec<&gate::Check> = verdict
        .failed_checks()
        .filter(|c| c.kind == gate::CheckKind::Regression)
        .collect();
    let changes = crate::report::changes_text(&base.history, &current, &failed);
    if !changes.is_empty() {
        print!("\n{changes}");
    }
    // A paired run: its base and change side by side, with what each paired rule found.
    let paired = crate::report::paired_text(&current, &verdict.checks);
    if !paired.is_empty() {
        print!("\n{paired}");
    }
    println!();
    for c in &verdict.checks {
        println!(
            "{} {}: {}",
            match c.state() {
                gate::CheckState::Passed => "✓",
                gate::CheckState::Failed => "✗",
                gate::CheckState::NotJudged(_) => "?",
            },
            c.name,
            c.detail
        );
    }
    // An interrupted run's results are partial: 4, as `run` and `report` say of it.
    Ok(ExitStatus::of(
        Some(verdict.outcome()),
        current.run.interrupted,
    ))
}
