//! The command line (flags and their `LOADFORGE_GATE_*` variables, as clap read them) as the
//! topmost [`Layer`]. The only place that knows clap's types.

use super::{invalid, layer::DurationText, Env, Layer, SettingsError};
use crate::cli::{JudgeArgs, LoadArgs, RunArgs};

/// Rules arrive as repeated flags, as `;`-separated text, or as a JSON array: a GitLab `array`
/// input interpolated into a variable becomes `["p95<500ms", "error_rate<1%"]`. The JSON is
/// parsed whole before anything is split, so a `;` inside one of its rules stays there. Blank
/// entries are dropped; an empty result means "not given".
fn expand_list(values: &[String]) -> Result<Option<Vec<String>>, SettingsError> {
    let mut out = Vec::new();
    for v in values {
        let t = v.trim();
        if t.starts_with('[') {
            let items: Vec<String> = serde_json::from_str(t).map_err(|e| {
                invalid(
                    "--threshold/--regression",
                    format!("`{t}` looks like a JSON array but is not one of strings: {e}"),
                )
            })?;
            out.extend(items.into_iter().map(|i| i.trim().to_string()));
        } else {
            out.extend(t.split(';').map(|i| i.trim().to_string()));
        }
    }
    out.retain(|s| !s.is_empty());
    Ok((!out.is_empty()).then_some(out))
}

fn text(v: &Option<String>) -> Option<DurationText> {
    v.clone().map(DurationText)
}

/// The judging flags, shared by `run` and `merge`.
pub(super) fn judge_layer(a: &JudgeArgs) -> Result<Layer, SettingsError> {
    Ok(Layer {
        thresholds: expand_list(&a.thresholds)?,
        regressions: expand_list(&a.regressions)?,
        baseline: a.baseline.clone(),
        baseline_history: a.baseline_history,
        max_endpoints: a.max_endpoints,
        comment: a.comment.map(Into::into),
        out: a.out.clone(),
        no_proxy: a.no_proxy.then_some(true),
        ..Layer::default()
    })
}

/// The load flags over the judging ones. `TARGET_HOST` and `LOADFORGE_TEST_ID` (the seed's
/// variables) stand in for an absent `--host` and `--loadforge-test-id`, above the config file.
pub(super) fn run_layer(a: &RunArgs, env: Env<'_>) -> Result<Layer, SettingsError> {
    Ok(load_layer(&a.load, env).over(judge_layer(&a.judge)?))
}

fn load_layer(a: &LoadArgs, env: Env<'_>) -> Layer {
    let locust_args: Vec<String> = a
        .locust_args
        .iter()
        .filter(|x| !x.is_empty())
        .cloned()
        .collect();
    Layer {
        engine: a.engine.map(Into::into),
        scenario: a.scenario.clone(),
        locustfile: a.locustfile.clone(),
        locust_args: (!locust_args.is_empty()).then_some(locust_args),
        locust_bin: a.locust_bin.clone(),
        workers: a.workers,
        remote_workers: a.remote_workers,
        workers_max_wait: a.workers_max_wait,
        stop_timeout: a.stop_timeout,
        loadforge_test_id: a
            .loadforge_test_id
            .clone()
            .or_else(|| env("LOADFORGE_TEST_ID").filter(|t| !t.trim().is_empty())),
        loadforge_url: a.loadforge_url.clone(),
        poll_interval: text(&a.poll_interval),
        max_wait: text(&a.max_wait),
        host: a.host.clone().or_else(|| env("TARGET_HOST")),
        users: a.users,
        spawn_rate: a.spawn_rate,
        run_time: text(&a.run_time),
        rate: a.rate,
        ramp: text(&a.ramp),
        warmup: text(&a.warmup),
        threads: a.threads,
        progress: a.progress,
        ca_cert: a.ca_cert.clone(),
        client_cert: a.client_cert.clone(),
        client_key: a.client_key.clone(),
        insecure: a.insecure.then_some(true),
        ..Layer::default()
    }
}
