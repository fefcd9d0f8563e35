//! What a run says besides its numbers: the notes every report carries and the lines the log
//! gets, the cardinality guard's warning and the executor's host findings among them. Kept out
//! of `pipeline`, which only wires the stages, so each sentence has one place.

use std::path::Path;

use crate::{
    report,
    settings::{GateSettings, Settings},
    stats::{self, Folded, Guarded, HostInfo, RunResult, OTHER_ENDPOINTS},
};

use super::workload::Share;

/// The cardinality guard for a scenario, before the run: names past `--max-endpoints` (in the
/// order the scenario declares them) are counted under one row, so memory stays bounded. Said
/// in the log at once; [`record_fold`] puts it in the result and its notes.
pub(super) fn fold_scenario(
    gate: &GateSettings,
    scenario: &mut crate::scenario::Scenario,
) -> Option<Folded> {
    let names = scenario.fold_endpoints(gate.max_endpoints, OTHER_ENDPOINTS);
    let folded = stats::guard(gate.max_endpoints, Guarded::Declared(names))?;
    warn(&folded);
    Some(folded)
}

/// What the guard folded before or during the run, in the result and its notes: the scenario's
/// fold (said before the run), else the engine's own (Locust's parser folds as it reads).
pub(super) fn record_fold(
    scenario: Option<Folded>,
    result: &mut RunResult,
    notes: &mut Vec<String>,
) {
    match scenario {
        Some(f) => result.run.folded = Some(f),
        None => {
            if let Some(f) = &result.run.folded {
                warn(f);
            }
        }
    }
    if let Some(f) = &result.run.folded {
        notes.push(note(f));
    }
}

/// The cardinality guard after the run (merged shards, and any engine that did not fold):
/// past `--max-endpoints` names, the least busy share one row; said once in the log and in
/// every report.
pub(super) fn fold_endpoints(
    settings: &GateSettings,
    result: &mut RunResult,
    notes: &mut Vec<String>,
) {
    if let Some(folded) = stats::guard(settings.max_endpoints, Guarded::Measured(result)) {
        warn(&folded);
        notes.push(note(&folded));
        result.run.folded = Some(folded);
    }
}

fn warn(folded: &Folded) {
    eprintln!("loadforge-gate: warning: {}", folded.warning());
}

fn note(folded: &Folded) -> String {
    format!("{}.", folded.warning())
}

/// What `loadforge-gate executor prepare` measured of this host, when the job runs under it
/// (the executor names the file in `LOADFORGE_GATE_HOST_REPORT`). A file that cannot be read
/// costs a note, not the run: the measurement stands without it.
pub(super) fn host_findings(notes: &mut Vec<String>) -> Option<HostInfo> {
    let path = super::process_env(crate::executor::HOST_REPORT_VAR)?;
    HostInfo::read_findings(Path::new(&path))
        .map_err(|e| {
            notes.push(format!(
                "The executor's host findings ({path}) could not be read: {e}."
            ));
        })
        .ok()
}

/// What every report should say about how the run was judged.
pub(super) fn standing_notes(settings: &GateSettings, result: &RunResult, notes: &mut Vec<String>) {
    if result.run.tls_insecure {
        notes.push(format!("Warning: TLS {}.", report::INSECURE));
    }
    notes.extend(result.run.cookies_dropped.note());
    notes.extend(
        result
            .run
            .k6
            .as_ref()
            .and_then(crate::stats::K6Verdicts::note),
    );
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

/// One line before the load starts: who, how much, against what.
pub(super) fn announce(settings: &Settings, share: Share) {
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
        crate::secret::redact_url(settings.host.as_str()),
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
