//! The shared tail of every gate run: engine result -> verdict -> reports -> exit status.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::{
    baseline::{self, BaselineSource, Previous},
    cli::CommentArg,
    engine::{
        self,
        loadforge::{self, LoadForgePlan},
        locust::{self, LocustPlan},
        EngineError, NativePlan, Target,
    },
    error::{Error, ExitStatus},
    gate::{self, Baseline},
    gitlab::{self, ApiClient, Auth, NoteAction, RetryPolicy},
    report::{self, Document},
    scenario::Scenario,
    settings::{EngineSettings, GateSettings, Settings, SettingsError},
    stats::RunResult,
};

#[derive(Debug)]
pub struct GateOutcome {
    pub status: ExitStatus,
    pub document: Document,
}

/// What will generate the load, checked and loaded before any load is sent.
pub enum Workload {
    Native(Box<Scenario>),
    Locust(PathBuf),
    LoadForge,
}

/// Loads the scenario or checks the locustfile named by the settings.
pub fn prepare(settings: &Settings) -> Result<Workload, Error> {
    match &settings.engine {
        EngineSettings::Native { scenario, .. } => Ok(Workload::Native(Box::new(Scenario::load(
            scenario,
            &super::process_env,
        )?))),
        EngineSettings::Locust(l) => {
            let file = locust::check_locustfile(&l.locustfile)?;
            locust::find_bin(&l.bin)?;
            Ok(Workload::Locust(file))
        }
        EngineSettings::LoadForge(_) => {
            loadforge::check_thresholds(&settings.gate.thresholds)?;
            Ok(Workload::LoadForge)
        }
    }
}

/// Every rule's selector must name an endpoint of the scenario: checked before any load.
pub fn check_selectors(settings: &Settings, scenario: &Scenario) -> Result<(), Error> {
    let names = scenario.endpoint_names();
    for t in &settings.gate.thresholds {
        gate::resolve_selector(&t.source, t.selector.as_ref(), &names)?;
    }
    for r in &settings.gate.regressions {
        gate::resolve_selector(&r.source, r.selector.as_ref(), &names)?;
    }
    Ok(())
}

/// Resolves the baseline; `notes` collects what the report should say about it. A GitLab
/// lookup that fails is a note, not an error: a missing baseline never fails a gate.
pub fn load_baseline(
    settings: &GateSettings,
    notes: &mut Vec<String>,
) -> Result<Option<Previous>, Error> {
    match &settings.baseline {
        BaselineSource::None => Ok(None),
        BaselineSource::File(path) => Ok(Some(Previous {
            source: path.display().to_string(),
            result: baseline::load_results(path)?,
            history: Vec::new(),
        })),
        BaselineSource::Auto if !settings.ci.gitlab => {
            notes.push("No baseline yet: regressions were not checked (outside GitLab, pass --baseline FILE to compare).".into());
            Ok(None)
        }
        BaselineSource::Auto => {
            let Some(api_url) = settings.ci.api_url.as_deref() else {
                notes.push("No baseline: CI_API_V4_URL is not set.".into());
                return Ok(None);
            };
            let client = |auth| ApiClient::new(api_url, auth, RetryPolicy::default()).ok();
            let job_client = settings
                .ci
                .job_token
                .clone()
                .and_then(|t| client(Auth::Job(t)));
            let api_client = settings
                .gitlab_token
                .clone()
                .and_then(|t| client(Auth::Private(t)));
            let artifact = artifact_path(&settings.out);
            match baseline::find_previous(
                &settings.ci,
                job_client.as_ref(),
                api_client.as_ref(),
                &artifact,
                settings.baseline_history,
            ) {
                Ok(lookup) => {
                    notes.extend(lookup.notes);
                    if let Some(b) = &lookup.baseline {
                        eprintln!(
                            "loadforge-gate: baseline: {} ({} earlier runs for the noise band)",
                            b.source,
                            b.history.len()
                        );
                    }
                    Ok(lookup.baseline)
                }
                Err(e) => {
                    eprintln!("loadforge-gate: warning: no baseline: {e}");
                    notes.push(format!("No baseline: {e}."));
                    Ok(None)
                }
            }
        }
    }
}

/// Where results.json sits inside the job's artifacts.
fn artifact_path(out: &Path) -> String {
    if out.is_relative() {
        let p = out.join(crate::report::RESULTS_JSON);
        p.to_string_lossy()
            .trim_start_matches("./")
            .replace('\\', "/")
    } else {
        format!(
            "{}/{}",
            crate::settings::DEFAULT_OUT,
            crate::report::RESULTS_JSON
        )
    }
}

/// Runs the workload, judges and publishes. Reports are written whatever the verdict (and, when
/// the engine crashed, from what it measured before); the returned status is the exit status.
pub fn run_gate(
    settings: &Settings,
    workload: Workload,
    stop: &CancellationToken,
) -> Result<GateOutcome, Error> {
    if let Workload::Native(scenario) = &workload {
        check_selectors(settings, scenario)?;
    }
    report::prepare_out_dir(&settings.gate.out)?;
    let mut notes = Vec::new();
    let baseline = load_baseline(&settings.gate, &mut notes)?;
    // A shard runs its share of the users and of the arrival rate.
    let (users, spawn_rate) = match &settings.shard {
        Some(s) => {
            let base = settings.users / s.count;
            let extra = u32::from(s.index <= settings.users % s.count);
            (base + extra, settings.spawn_rate / s.count as f64)
        }
        None => (settings.users, settings.spawn_rate),
    };
    if let Some(at) = settings.start_at {
        wait_until(at, stop);
    }
    eprintln!(
        "loadforge-gate: {users} users ({spawn_rate} per second) against {} for {}{}",
        settings.host,
        crate::duration::format_duration(settings.run_time),
        settings
            .shard
            .as_ref()
            .map(|s| format!(" (shard {}/{} of run {})", s.index, s.count, s.run_id))
            .unwrap_or_default()
    );
    let outcome = match (workload, &settings.engine) {
        (Workload::Native(scenario), EngineSettings::Native { threads, .. }) => {
            let target =
                Target::from_url(&settings.host).map_err(|message| SettingsError::Invalid {
                    setting: "--host",
                    message,
                })?;
            engine::native::run(
                &NativePlan {
                    scenario_name: scenario.name.clone(),
                    scenario: std::sync::Arc::new(*scenario),
                    target,
                    users,
                    spawn_rate,
                    run_time: settings.run_time,
                    workers: *threads,
                    progress_every: settings.progress_every,
                    warmup: settings.warmup,
                    rate: settings.rate.map(|r| match &settings.shard {
                        Some(s) => r / s.count as f64,
                        None => r,
                    }),
                    ramp: settings.ramp,
                    abort_rules: settings
                        .gate
                        .thresholds
                        .iter()
                        .filter(|t| t.abort_after.is_some())
                        .cloned()
                        .collect(),
                },
                stop,
            )
        }
        (Workload::Locust(locustfile), EngineSettings::Locust(l)) => locust::run(
            &LocustPlan {
                bin: l.bin.clone(),
                locustfile,
                host: settings.host.as_str().trim_end_matches('/').to_string(),
                users,
                spawn_rate,
                run_time: settings.run_time,
                stop_timeout: l.stop_timeout,
                workers: l.workers,
                remote_workers: l.remote_workers,
                workers_max_wait: l.workers_max_wait,
                extra_args: l.extra_args.clone(),
                out_dir: settings.gate.out.clone(),
                progress_every: settings.progress_every,
            },
            stop,
        ),
        (Workload::LoadForge, EngineSettings::LoadForge(lf)) => loadforge::run(
            &LoadForgePlan {
                base_url: lf.base_url.clone(),
                token: lf.token.clone(),
                test_id: lf.test_id.clone(),
                host: settings.host.as_str().trim_end_matches('/').to_string(),
                users,
                spawn_rate,
                run_time: settings.run_time,
                poll_interval: lf.poll_interval,
                max_wait: lf.max_wait,
                backoff: std::time::Duration::from_secs(1),
                max_retries: 4,
            },
            stop,
        ),
        _ => unreachable!("prepare() builds the workload from the same settings"),
    };
    let mut result = match outcome {
        Ok(r) => r,
        Err(EngineError::Crashed {
            message,
            partial: Some(partial),
        }) => {
            // Publish what was measured before the crash, then report the crash itself.
            let mut partial = *partial;
            partial.ci = settings.gate.ci.info();
            notes.push(format!(
                "The engine stopped early: {message}. These results are partial."
            ));
            judge_and_publish(&settings.gate, partial, baseline, notes, &settings.gate.out)?;
            return Err(EngineError::Crashed {
                message,
                partial: None,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    result.ci = settings.gate.ci.info();
    if let Some(shard) = &settings.shard {
        result.run.shard = Some(shard.clone());
        return write_shard(&settings.gate.out, result);
    }
    judge_and_publish(&settings.gate, result, baseline, notes, &settings.gate.out)
}

/// Sleeps until the common start time (or an interruption), so shards' windows overlap.
fn wait_until(at: std::time::SystemTime, stop: &CancellationToken) {
    match at.duration_since(std::time::SystemTime::now()) {
        Ok(wait) => {
            eprintln!(
                "loadforge-gate: waiting {:.1}s for the common start time",
                wait.as_secs_f64()
            );
            let until = std::time::Instant::now() + wait;
            while std::time::Instant::now() < until && !stop.is_cancelled() {
                std::thread::sleep(
                    (until - std::time::Instant::now()).min(std::time::Duration::from_millis(100)),
                );
            }
        }
        Err(late) => eprintln!(
            "loadforge-gate: warning: the common start time passed {:.1}s ago; starting now",
            late.duration().as_secs_f64()
        ),
    }
}

/// A shard publishes only its result, for `merge`: the verdict is made once, on the whole.
fn write_shard(out: &Path, result: RunResult) -> Result<GateOutcome, Error> {
    let shard = result
        .run
        .shard
        .clone()
        .expect("shard runs carry their shard info");
    let dir = out.join("shards");
    report::prepare_out_dir(&dir)?;
    let path = dir.join(format!("shard-{}-of-{}.json", shard.index, shard.count));
    let document = Document {
        run: result,
        verdict: None,
        comparison: None,
        notes: Vec::new(),
    };
    std::fs::write(&path, report::results_json(&document)?).map_err(|source| {
        report::ReportError::Write {
            path: path.clone(),
            source,
        }
    })?;
    println!(
        "loadforge-gate: shard {}/{} done · {} requests · written to {}",
        shard.index,
        shard.count,
        document.run.aggregate.requests,
        path.display()
    );
    let status = if document.run.run.interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::Passed
    };
    Ok(GateOutcome { status, document })
}

/// Judges a finished result and writes every report into `out`.
pub fn judge_and_publish(
    settings: &GateSettings,
    result: RunResult,
    baseline: Option<Previous>,
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
    if let Some(reason) = &result.run.aborted {
        notes.push(format!("Aborted early: {reason}."));
    }
    let comparison = baseline
        .as_ref()
        .map(|b| baseline::compare(&b.source, &b.result, &result));
    // Numbers from another engine are shown side by side but not judged against each other.
    let judged_baseline = match &baseline {
        Some(b) if b.result.run.engine != result.run.engine => {
            notes.push(format!(
                "The baseline was measured by the {} engine and this run by {}: shown for reference, regressions not checked.",
                b.result.run.engine, result.run.engine
            ));
            None
        }
        Some(b) => Some(Baseline {
            result: &b.result,
            history: &b.history,
        }),
        None => None,
    };
    let verdict = gate::evaluate(
        &result,
        &settings.thresholds,
        settings.default_thresholds,
        &settings.regressions,
        settings.default_regressions,
        judged_baseline,
    );
    let (verdict, gate_error) = match verdict {
        Ok(v) => {
            // For an engine that reports only some metrics, a rule on one it left out is a
            // configuration problem, not a failed check.
            let unreported = (!result.aggregate.counts_reported
                || result.run.engine == "loadforge")
                .then(|| {
                    v.checks
                        .iter()
                        .find(|c| c.value.is_none() && c.kind == gate::CheckKind::Threshold)
                })
                .flatten()
                .map(|c| gate::GateError::NotReported {
                    expr: c.expression.clone(),
                    metric: c.metric.label(),
                    engine: result.run.engine.clone(),
                });
            (Some(v), unreported)
        }
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
    post_comment(settings, &document);
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
    print!("{}", report::render_outcome(doc, out, written));
}

/// Creates or updates the merge-request note. Whatever happens here, the verdict and the exit
/// code stay as they are: the comment is a courtesy, the gate is the contract.
fn post_comment(settings: &GateSettings, doc: &Document) {
    let ci = &settings.ci;
    if settings.comment == CommentArg::Never || !ci.gitlab {
        return;
    }
    let say = |msg: &str| eprintln!("loadforge-gate: comment: {msg}");
    let (Some(api_url), Some(project)) = (ci.api_url.as_deref(), ci.project_id.as_deref()) else {
        say("skipped: CI_API_V4_URL or CI_PROJECT_ID is not set");
        return;
    };
    let Some(token) = settings.gitlab_token.clone() else {
        if ci.merge_request_iid.is_some() || settings.comment == CommentArg::Always {
            say("skipped: set LOADFORGE_GATE_GITLAB_TOKEN to a token with api scope (CI_JOB_TOKEN cannot write notes)");
        }
        return;
    };
    let client = match ApiClient::new(api_url, Auth::Private(token), RetryPolicy::default()) {
        Ok(c) => c,
        Err(e) => return say(&format!("skipped: {e}")),
    };
    let mrs: Vec<u64> = match (ci.merge_request_iid.as_deref(), settings.comment) {
        (Some(iid), _) => iid.parse().ok().into_iter().collect(),
        (None, CommentArg::Always) => match ci.ref_name.as_deref() {
            Some(branch) => match gitlab::open_merge_requests(&client, project, branch) {
                Ok(mrs) => mrs.into_iter().map(|m| m.iid).collect(),
                Err(e) => return say(&format!("failed: {e}; the verdict is unaffected")),
            },
            None => Vec::new(),
        },
        (None, _) => return,
    };
    if mrs.is_empty() {
        return say("no open merge request for this pipeline");
    }
    let job = ci.job_name.as_deref().unwrap_or("loadforge-gate");
    let body = report::render_comment(doc, job);
    for mr in mrs {
        match gitlab::upsert_note(&client, project, mr, &report::marker(job), &body) {
            Ok(NoteAction::Created(id)) => say(&format!("created note {id} on !{mr}")),
            Ok(NoteAction::Updated(id)) => say(&format!("updated note {id} on !{mr}")),
            Err(e) => say(&format!("failed: {e}; the verdict is unaffected")),
        }
    }
}
