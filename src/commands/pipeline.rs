//! The shared tail of every gate run: engine result -> verdict -> reports -> exit status.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::{
    comment::comment_unless_stopped,
    lookup::{load_baseline, Looked},
    notes::{announce, fold_endpoints, fold_scenario, host_findings, record_fold, standing_notes},
    workload::{check_selectors, run_engine, Share, Workload},
};
use crate::{
    baseline,
    engine::EngineError,
    error::{Error, ExitStatus},
    exit::Outcome,
    gate::{self, Reference},
    report::{self, Document},
    settings::{GateSettings, Settings},
    stats::{CiInfo, Engine, Folded, FoldedNames, RunResult, ShardInfo},
};

/// What this process does with its result, decided once before any work: a shard writes its
/// part for `merge` and nothing else (no baseline look-up, no verdict, no comment); any other
/// run judges and publishes.
enum Role {
    Shard(ShardInfo),
    Judge,
}

/// Runs the workload, judges and publishes. Reports are written whatever the verdict (and, when
/// the engine crashed, from what it measured before); returns the exit status.
pub(crate) fn run_gate(
    settings: &Settings,
    mut workload: Workload,
    stop: &CancellationToken,
) -> Result<ExitStatus, Error> {
    let role = match &settings.shard {
        Some(shard) => Role::Shard(shard.clone()),
        None => Role::Judge,
    };
    let mut folded = None;
    if let Workload::Native(scenario) = &mut workload {
        check_selectors(settings, scenario)?;
        folded = fold_scenario(&settings.gate, scenario);
    }
    report::prepare_out_dir(&settings.gate.out)?;
    let mut notes = Vec::new();
    // A judge of a branch pipeline judges and comments for the merge request open from it.
    let gate = match role {
        Role::Judge => super::speaks_for::adopt(&settings.gate, &mut notes, stop),
        Role::Shard(_) => settings.gate.clone(),
    };
    let setup = match role {
        Role::Judge => super::setup::start(&gate),
        Role::Shard(_) => super::setup::Pending::none(),
    };
    let looked = match role {
        Role::Judge => load_baseline(&gate, &mut notes, stop)?,
        Role::Shard(_) => Looked::NotAsked,
    };
    if stop.is_cancelled() {
        eprintln!("loadforge-gate: interrupted before the load started; nothing was measured");
        return Ok(ExitStatus::Interrupted);
    }
    let share = Share::of(settings);
    if let Some(at) = settings.start_at {
        wait_until(at, stop);
    }
    announce(settings, share);
    let (result, crash) = match run_engine(settings, workload, share, stop)? {
        Ok(r) => (r, None),
        // What was measured before the crash is finished and published like any result, then
        // the crash itself is reported.
        Err(EngineError::Crashed {
            message,
            partial: Some(partial),
        }) => {
            let mut partial = *partial;
            partial.run.partial = true;
            notes.push(format!(
                "The engine stopped early: {message}. These results are partial."
            ));
            (partial, Some(message))
        }
        Err(e) => return Err(e.into()),
    };
    setup.collect(&mut notes);
    let finished = Finished {
        result,
        folded,
        notes,
    };
    let status = finish(&gate, role, finished, looked, stop)?;
    match crash {
        Some(message) => Err(EngineError::Crashed {
            message,
            partial: None,
        }
        .into()),
        None => Ok(status),
    }
}

/// What the engine left, whole or partial, and what was said of it so far.
struct Finished {
    result: RunResult,
    /// What the scenario's cardinality guard folded before the run.
    folded: Option<Folded>,
    notes: Vec<String>,
}

/// The one way a run ends, after a whole run or a crash alike: the CI context, the folds and
/// the host's findings go into the result, then a shard writes its part and any other run is
/// judged and published.
fn finish(
    gate: &GateSettings,
    role: Role,
    finished: Finished,
    looked: Looked,
    stop: &CancellationToken,
) -> Result<ExitStatus, Error> {
    let Finished {
        mut result,
        folded,
        mut notes,
    } = finished;
    result.ci = CiInfo::from_context(&gate.ci);
    record_fold(folded, &mut result, &mut notes);
    result.run.host = host_findings(&mut notes);
    match role {
        Role::Shard(shard) => {
            result.run.shard = Some(shard);
            // A shard folds too: its file stays small, and `merge` folds what any shard folded.
            fold_endpoints(gate, &mut result, &mut Vec::new());
            write_shard(&gate.out, result)
        }
        Role::Judge => judge_and_publish(gate, result, looked, notes, stop),
    }
}

/// Sleeps until the common start time (or an interruption), so shards' windows overlap.
fn wait_until(at: std::time::SystemTime, stop: &CancellationToken) {
    match at.duration_since(std::time::SystemTime::now()) {
        Ok(wait) => {
            eprintln!(
                "loadforge-gate: waiting {:.1}s for the common start time",
                wait.as_secs_f64()
            );
            crate::pause::pause(wait, stop);
        }
        Err(late) => eprintln!(
            "loadforge-gate: warning: the common start time passed {:.1}s ago; starting now",
            late.duration().as_secs_f64()
        ),
    }
}

/// A shard publishes only its result, for `merge`: the verdict is made once, on the whole. It
/// lists the names it folded, so that `merge` folds them in every shard's part.
fn write_shard(out: &Path, mut result: RunResult) -> Result<ExitStatus, Error> {
    if let (Some(shard), Some(folded)) = (&mut result.run.shard, &result.run.folded) {
        shard.folded_names = FoldedNames::of(folded);
    }
    let shard = result
        .run
        .shard
        .clone()
        .expect("shard runs carry their shard info");
    let dir = out.join("shards");
    report::prepare_out_dir(&dir)?;
    let name = format!("shard-{}-of-{}.json", shard.index, shard.count);
    let document = Document {
        run: result,
        verdict: None,
        comparison: None,
        notes: Vec::new(),
        history: Vec::new(),
    };
    // Written by the one writer of results files: `merge` never reads half a shard.
    let path = crate::results::write(&dir, &name, &document)?;
    println!(
        "loadforge-gate: shard {}/{} done · {} requests · written to {}",
        shard.index,
        shard.count,
        document.run.aggregate.requests,
        path.display()
    );
    Ok(ExitStatus::of(
        Some(Outcome::Deferred),
        document.run.run.interrupted,
    ))
}

/// Judges a finished result, writes every report into `out` and comments. A signal during the
/// comment ends it at once: the reports are written by then, and the exit status says 4.
pub(crate) fn judge_and_publish(
    settings: &GateSettings,
    mut result: RunResult,
    looked: Looked,
    mut notes: Vec<String>,
    stop: &CancellationToken,
) -> Result<ExitStatus, Error> {
    fold_endpoints(settings, &mut result, &mut notes);
    standing_notes(settings, &result, &mut notes);
    let baseline = looked.found();
    let comparison = baseline.map(|b| baseline::compare(&b.source, &b.result, &result));
    // A baseline of another load (engine, users, target...) is shown side by side, and the
    // gate reports its regression checks as not comparable: see `gate::evaluate`.
    if let (Some(b), Some(c)) = (baseline, &comparison) {
        notes.extend(report::history_note(&b.history, c, &result));
        notes.extend(report::gone_note(c));
    }
    let (verdict, gate_error) = judge(settings, &result, &looked.reference(settings));
    let read = baseline.map_or(&[][..], |b| &b.history[..]);
    let mut history = crate::stats::pass_on_history(
        read,
        &result,
        settings.ci.on_default_branch(),
        settings.baseline_history,
    );
    notes.extend(crate::stats::trim_history(&mut history));
    let document = Document {
        run: result,
        verdict,
        comparison,
        notes,
        history,
    };
    let written = report::publish_all(&settings.out, &document)?;
    print_outcome(&document, &settings.out, &written);
    let interrupted = comment_unless_stopped(settings, &document, stop);
    if let Some(e) = gate_error {
        return Err(e.into());
    }
    Ok(ExitStatus::of(
        document.verdict.as_ref().map(gate::Verdict::outcome),
        document.run.run.interrupted || interrupted,
    ))
}

/// The verdict, and the configuration error to report after publishing, if any: for an engine
/// that reports only some metrics, a rule on one it left out is a configuration problem, not a
/// failed check.
fn judge(
    settings: &GateSettings,
    result: &RunResult,
    reference: &Reference<'_>,
) -> (Option<gate::Verdict>, Option<gate::GateError>) {
    match gate::evaluate(
        result,
        &settings.thresholds,
        &settings.regressions,
        reference,
    ) {
        Ok(v) => {
            let unreported = (!result.aggregate.counts_reported
                || result.run.engine == Engine::LoadForge)
                .then(|| {
                    v.checks
                        .iter()
                        .find(|c| c.value.is_none() && c.kind == gate::CheckKind::Threshold)
                })
                .flatten()
                .map(|c| gate::GateError::NotReported {
                    expr: c.expression.clone(),
                    metric: c.metric.label(),
                    engine: result.run.engine.to_string(),
                });
            (Some(v), unreported)
        }
        Err(e) => (None, Some(e)),
    }
}

fn print_outcome(doc: &Document, out: &Path, written: &[std::path::PathBuf]) {
    print!("{}", report::render_outcome(doc, out, written));
}
