//! The shared tail of every gate run: engine result -> verdict -> reports -> exit status.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::{
    lookup::load_baseline,
    workload::{check_selectors, run_engine, Share, Workload},
};
use crate::{
    baseline::{self, Previous},
    engine::EngineError,
    error::{Error, ExitStatus},
    exit::Outcome,
    gate::{self, Baseline},
    gitlab::{self, comment::CommentSettings},
    modes::CommentMode,
    pause::Waited,
    report::{self, Document},
    settings::{GateSettings, Settings},
    stats::{CiInfo, Engine, Folded, FoldedNames, HostInfo, RunResult, OTHER_ENDPOINTS},
};

/// Runs the workload, judges and publishes. Reports are written whatever the verdict (and, when
/// the engine crashed, from what it measured before); returns the exit status.
pub(crate) fn run_gate(
    settings: &Settings,
    mut workload: Workload,
    stop: &CancellationToken,
) -> Result<ExitStatus, Error> {
    let mut folded = None;
    if let Workload::Native(scenario) = &mut workload {
        check_selectors(settings, scenario)?;
        folded = fold_scenario(&settings.gate, scenario);
    }
    report::prepare_out_dir(&settings.gate.out)?;
    let mut notes = Vec::new();
    let baseline = load_baseline(&settings.gate, &mut notes, stop)?;
    if stop.is_cancelled() {
        eprintln!("loadforge-gate: interrupted before the load started; nothing was measured");
        return Ok(ExitStatus::Interrupted);
    }
    let share = Share::of(settings);
    if let Some(at) = settings.start_at {
        wait_until(at, stop);
    }
    announce(settings, share);
    let gate = &settings.gate;
    let mut result = match run_engine(settings, workload, share, stop)? {
        Ok(r) => r,
        Err(EngineError::Crashed {
            message,
            partial: Some(partial),
        }) => {
            // Publish what was measured before the crash, then report the crash itself.
            let mut partial = *partial;
            partial.run.partial = true;
            partial.ci = CiInfo::from_context(&gate.ci);
            record_fold(folded, &mut partial, &mut notes);
            notes.push(format!(
                "The engine stopped early: {message}. These results are partial."
            ));
            judge_and_publish(gate, partial, baseline, notes, stop)?;
            return Err(EngineError::Crashed {
                message,
                partial: None,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    result.ci = CiInfo::from_context(&gate.ci);
    record_fold(folded, &mut result, &mut notes);
    result.run.host = host_findings(&mut notes);
    if let Some(shard) = &settings.shard {
        result.run.shard = Some(shard.clone());
        // A shard folds too: its file stays small, and `merge` folds what any shard folded.
        fold_endpoints(gate, &mut result, &mut Vec::new());
        return write_shard(&gate.out, result);
    }
    judge_and_publish(gate, result, baseline, notes, stop)
}

/// What `loadforge-gate executor prepare` measured of this host, when the job runs under it
/// (the executor names the file in `LOADFORGE_GATE_HOST_REPORT`). A file that cannot be read
/// costs a note, not the run: the measurement stands without it.
fn host_findings(notes: &mut Vec<String>) -> Option<HostInfo> {
    let path = super::process_env(crate::executor::HOST_REPORT_VAR)?;
    // The path comes from the environment: read at most a small file's worth.
    const MAX_HOST_REPORT: usize = 64 * 1024;
    let parsed = std::fs::File::open(&path)
        .and_then(|f| crate::capped::read_capped(f, MAX_HOST_REPORT))
        .map_err(|e| e.to_string())
        .and_then(|bytes| bytes.ok_or_else(|| format!("larger than {MAX_HOST_REPORT} bytes")))
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
    match parsed {
        Ok(host) => Some(host),
        Err(e) => {
            notes.push(format!(
                "The executor's host findings ({path}) could not be read: {e}."
            ));
            None
        }
    }
}

/// One line before the load starts: who, how much, against what.
fn announce(settings: &Settings, share: Share) {
    let shard = settings
        .shard
        .as_ref()
        .map(|s| format!(" (shard {}/{} of run {})", s.index, s.count, s.run_id))
        .unwrap_or_default();
    let proxy = settings
        .proxy
        .as_ref()
        .map(|p| format!(" through the proxy {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "loadforge-gate: {} users ({} per second) against {}{proxy} for {}{shard}",
        share.users,
        short_number(share.spawn_rate),
        settings.host,
        crate::duration::format_duration(settings.run_time),
    );
}

/// A rate for people: at most two decimals, no trailing zeros (`3.33`, `0.5`, `10`).
fn short_number(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
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

/// The cardinality guard for a scenario, before the run: names past `--max-endpoints` (in the
/// order the scenario declares them) are counted under one row, so memory stays bounded.
fn fold_scenario(gate: &GateSettings, scenario: &mut crate::scenario::Scenario) -> Option<Folded> {
    let names = scenario.fold_endpoints(gate.max_endpoints, OTHER_ENDPOINTS);
    if names.is_empty() {
        return None;
    }
    let folded = Folded::of_names(gate.max_endpoints, names);
    eprintln!("loadforge-gate: warning: {}", folded.warning());
    Some(folded)
}

/// What the guard folded before or during the run, in the result and its notes: the scenario's
/// fold (said before the run), else the engine's own (Locust's parser folds as it reads).
fn record_fold(scenario: Option<Folded>, result: &mut RunResult, notes: &mut Vec<String>) {
    match scenario {
        Some(f) => result.run.folded = Some(f),
        None => {
            if let Some(f) = &result.run.folded {
                eprintln!("loadforge-gate: warning: {}", f.warning());
            }
        }
    }
    if let Some(f) = &result.run.folded {
        notes.push(format!("{}.", f.warning()));
    }
}

/// The cardinality guard after the run (merged shards, and any engine that did not fold):
/// past `--max-endpoints` names, the least busy share one row; said once in the log and in
/// every report.
fn fold_endpoints(settings: &GateSettings, result: &mut RunResult, notes: &mut Vec<String>) {
    if let Some(folded) = crate::stats::cap_endpoints(result, settings.max_endpoints) {
        let warning = folded.warning();
        eprintln!("loadforge-gate: warning: {warning}");
        notes.push(format!("{warning}."));
        result.run.folded = Some(folded);
    }
}

/// Judges a finished result, writes every report into `out` and comments. A signal during the
/// comment ends it at once: the reports are written by then, and the exit status says 4.
pub(crate) fn judge_and_publish(
    settings: &GateSettings,
    mut result: RunResult,
    baseline: Option<Previous>,
    mut notes: Vec<String>,
    stop: &CancellationToken,
) -> Result<ExitStatus, Error> {
    fold_endpoints(settings, &mut result, &mut notes);
    standing_notes(settings, &result, &mut notes);
    let comparison = baseline
        .as_ref()
        .map(|b| baseline::compare(&b.source, &b.result, &result));
    // A baseline of another load (engine, users, target...) is shown side by side, and the
    // gate reports its regression checks as not comparable: see `gate::evaluate`.
    if let (Some(b), Some(c)) = (&baseline, &comparison) {
        notes.extend(baseline::history_note(&b.history, c, &result));
        notes.extend(baseline::gone_note(c));
    }
    let judged_baseline = baseline.as_ref().map(|b| Baseline {
        result: &b.result,
        history: &b.history,
    });
    let (verdict, gate_error) = judge(settings, &result, judged_baseline);
    let read = baseline.as_ref().map_or(&[][..], |b| &b.history[..]);
    let history = crate::stats::pass_on_history(
        read,
        &result,
        settings.ci.on_default_branch(),
        settings.baseline_history,
    );
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

/// What every report should say about how the run was judged.
fn standing_notes(settings: &GateSettings, result: &RunResult, notes: &mut Vec<String>) {
    if result.run.tls_insecure {
        notes.push(format!("Warning: TLS {}.", report::INSECURE));
    }
    notes.extend(result.run.cookies_dropped.note());
    if let Some(why) = result.run.host.as_ref().map(HostInfo::busy) {
        if !why.is_empty() {
            notes.push(format!(
                "The load generator's host was busy ({}): a regression may be the host's noise; re-run on a quiet host before trusting it.",
                why.join(", ")
            ));
        }
    }
    if settings.thresholds.is_built_in() {
        notes.push(format!(
            "No thresholds configured: applied the default {}.",
            crate::defaults::THRESHOLDS
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if result.run.interrupted {
        notes.push("The run was interrupted: these results are partial.".into());
    }
    if let (true, Some(why)) = (settings.ci.on_default_branch(), result.run.incomplete()) {
        notes.push(format!(
            "This run does not join the default branch's run history: {why}."
        ));
    }
    if let Some(reason) = &result.run.aborted {
        notes.push(format!("Aborted early: {reason}."));
    }
}

/// The verdict, and the configuration error to report after publishing, if any: for an engine
/// that reports only some metrics, a rule on one it left out is a configuration problem, not a
/// failed check.
fn judge(
    settings: &GateSettings,
    result: &RunResult,
    baseline: Option<Baseline<'_>>,
) -> (Option<gate::Verdict>, Option<gate::GateError>) {
    match gate::evaluate(
        result,
        &settings.thresholds,
        &settings.regressions,
        baseline,
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

/// Comments on its own thread; true when a signal cut it short.
fn comment_unless_stopped(
    settings: &GateSettings,
    document: &Document,
    stop: &CancellationToken,
) -> bool {
    if settings.comment == CommentMode::Never || !settings.ci.gitlab {
        return false;
    }
    // Rendered here, so the network thread takes the comment's text, not a copy of the whole
    // document (a histogram per endpoint: tens of megabytes with a thousand endpoints).
    let body = report::render_comment(document, job_of(settings));
    let comment = CommentSettings {
        ci: settings.ci.clone(),
        mode: settings.comment,
        token: settings.gitlab_token.clone(),
        net: settings.net.clone(),
        marker: report::marker(job_of(settings)),
    };
    match crate::pause::interruptible(stop, move || gitlab::comment::post(&comment, &body)) {
        Waited::Done(()) => false,
        Waited::Interrupted => {
            eprintln!("loadforge-gate: comment: interrupted; the reports are written");
            true
        }
        // The verdict does not depend on the comment: said loudly, with its cause.
        Waited::Failed(e) => {
            eprintln!(
                "loadforge-gate: warning: comment: not posted: {}; the verdict is unaffected",
                crate::error::one_line(&e)
            );
            false
        }
    }
}

fn print_outcome(doc: &Document, out: &Path, written: &[std::path::PathBuf]) {
    print!("{}", report::render_outcome(doc, out, written));
}

/// The job whose comment this is: its marker finds the note to update.
fn job_of(settings: &GateSettings) -> &str {
    settings.ci.job_name.as_deref().unwrap_or("loadforge-gate")
}

#[cfg(test)]
mod tests {
    use super::short_number;

    #[test]
    fn rates_print_short() {
        assert_eq!(short_number(10.0 / 3.0), "3.33");
        assert_eq!(short_number(10.0), "10");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(0.001), "0");
    }
}
