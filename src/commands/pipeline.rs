//! The shared tail of every gate run: engine result -> verdict -> reports -> exit status.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::{
    baseline::{self, BaselineSource},
    engine::{self, NativePlan, Target},
    error::{Error, ExitStatus},
    gate::{self, Baseline},
    report::{self, Document},
    scenario::Scenario,
    settings::{Settings, SettingsError},
    stats::RunResult,
};

#[derive(Debug)]
pub struct GateOutcome {
    pub status: ExitStatus,
    pub document: Document,
}

/// Every rule's selector must name an endpoint of the scenario: checked before any load.
fn check_selectors(settings: &Settings, scenario: &Scenario) -> Result<(), Error> {
    let names = scenario.endpoint_names();
    for t in &settings.thresholds {
        gate::resolve_selector(&t.source, t.selector.as_ref(), &names)?;
    }
    for r in &settings.regressions {
        gate::resolve_selector(&r.source, r.selector.as_ref(), &names)?;
    }
    Ok(())
}

/// Resolves the baseline; `notes` collects what the report should say about it.
fn load_baseline(
    settings: &Settings,
    notes: &mut Vec<String>,
) -> Result<Option<(String, RunResult)>, Error> {
    match &settings.baseline {
        BaselineSource::None => Ok(None),
        BaselineSource::File(path) => {
            let r = baseline::load_results(path)?;
            Ok(Some((path.display().to_string(), r)))
        }
        BaselineSource::Auto => {
            if settings.ci.gitlab {
                notes.push("No baseline: fetching the previous pipeline's results from GitLab is not available in this version; pass --baseline FILE.".into());
            } else {
                notes.push("No baseline yet: regressions were not checked (outside GitLab, pass --baseline FILE to compare).".into());
            }
            Ok(None)
        }
    }
}

/// Runs the native engine with `scenario`, judges and publishes. Reports are written whatever
/// the verdict; the returned status is the process exit status.
pub fn run_gate(
    settings: &Settings,
    scenario: Scenario,
    stop: &CancellationToken,
) -> Result<GateOutcome, Error> {
    check_selectors(settings, &scenario)?;
    report::prepare_out_dir(&settings.out)?;
    let mut notes = Vec::new();
    let baseline = load_baseline(settings, &mut notes)?;
    let target = Target::from_url(&settings.host).map_err(|message| SettingsError::Invalid {
        setting: "--host",
        message,
    })?;
    let plan = NativePlan {
        scenario_name: scenario.name.clone(),
        scenario: std::sync::Arc::new(scenario),
        target,
        users: settings.users,
        spawn_rate: settings.spawn_rate,
        run_time: settings.run_time,
        workers: settings.workers,
        progress_every: settings.progress_every,
    };
    eprintln!(
        "loadforge-gate: {} users ({} per second) against {} for {}",
        plan.users,
        plan.spawn_rate,
        settings.host,
        crate::duration::format_duration(plan.run_time)
    );
    let mut result = engine::native::run(&plan, stop)?;
    result.ci = settings.ci.info();
    judge_and_publish(settings, result, baseline, notes, &settings.out)
}

/// Judges a finished result and writes every report into `out`.
pub fn judge_and_publish(
    settings: &Settings,
    result: RunResult,
    baseline: Option<(String, RunResult)>,
    mut notes: Vec<String>,
    out: &Path,
) -> Result<GateOutcome, Error> {
    if settings.default_thresholds {
        notes.push(format!(
            "No thresholds configured: applied the default {}.",
            gate::DEFAULT_THRESHOLDS
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if result.run.interrupted {
        notes.push("The run was interrupted: these results are partial.".into());
    }
    let comparison = baseline
        .as_ref()
        .map(|(source, base)| baseline::compare(source, base, &result));
    let verdict = gate::evaluate(
        &result,
        &settings.thresholds,
        settings.default_thresholds,
        &settings.regressions,
        settings.default_regressions,
        baseline.as_ref().map(|(_, r)| Baseline { result: r }),
    );
    let (verdict, gate_error) = match verdict {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    let document = Document {
        run: result,
        verdict,
        comparison,
        notes,
    };
    let written = report::publish_all(out, &document)?;
    print_outcome(&document, out, &written);
    if let Some(e) = gate_error {
        return Err(e.into());
    }
    let status = if document.run.run.interrupted {
        ExitStatus::Interrupted
    } else if document.verdict.as_ref().is_some_and(|v| v.passed) {
        ExitStatus::Passed
    } else {
        ExitStatus::GateFailed
    };
    Ok(GateOutcome { status, document })
}

fn print_outcome(doc: &Document, out: &Path, written: &[std::path::PathBuf]) {
    let a = &doc.run.aggregate;
    let verdict = match &doc.verdict {
        Some(v) if v.passed => format!("PASSED ({} checks)", v.checks.len()),
        Some(v) => format!(
            "FAILED ({} of {} checks failed)",
            v.failed_checks().count(),
            v.checks.len()
        ),
        None => "NOT JUDGED".into(),
    };
    println!(
        "loadforge-gate: {verdict} · {} requests · {:.1} req/s · p95 {} · {:.2}% errors",
        a.requests,
        a.rps,
        a.latency_ms
            .p95
            .map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "-".into()),
        a.error_rate
    );
    if let Some(v) = &doc.verdict {
        for c in v.failed_checks() {
            println!("  ✗ {}: {}", c.name, c.detail);
        }
    }
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    println!("reports written to {}/: {}", out.display(), names.join(" "));
}
