//! `demo`: the README's first command. Starts the sample app in-process, runs one of the four
//! sample flows against it through the full gate, and publishes every report. A previous demo's
//! results.json in the output folder becomes the baseline, so a second run shows a comparison.

use std::{path::Path, time::Duration};

use crate::{
    cli::{DemoArgs, JudgeArgs, LoadArgs, RunArgs, SampleAppArgs},
    engine,
    error::{Error, ExitStatus},
    report::RESULTS_JSON,
    sample_app::{self, Knobs, SampleApp},
    scenario::Scenario,
    settings::{Settings, SettingsError},
};

use super::{process_env, run_gate};

/// The four sample flows, compiled into the binary so the demo runs from any directory.
pub(crate) const FLOWS: &[(&str, &str, &str)] = &[
    (
        "login",
        "login-dashboard.yml",
        include_str!("../../examples/scenarios/login-dashboard.yml"),
    ),
    (
        "oauth",
        "oauth-api.yml",
        include_str!("../../examples/scenarios/oauth-api.yml"),
    ),
    (
        "shop",
        "shop-cart.yml",
        include_str!("../../examples/scenarios/shop-cart.yml"),
    ),
    (
        "admin",
        "admin-reports.yml",
        include_str!("../../examples/scenarios/admin-reports.yml"),
    ),
];

/// Thresholds that fit every flow against the sample app at its default latency.
const DEMO_THRESHOLDS: &[&str] = &["p95<250ms", "error_rate<1%", "GET /api/*: p99<500ms"];

pub(crate) fn execute(args: &DemoArgs) -> Result<ExitStatus, Error> {
    let (_, file, text) = FLOWS
        .iter()
        .find(|(name, _, _)| *name == args.flow)
        .ok_or_else(|| SettingsError::Invalid {
            setting: "--flow",
            message: format!(
                "unknown flow `{}` (available: {})",
                args.flow,
                FLOWS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
            ),
        })?;
    let scenario = Scenario::parse(text, Path::new(file), &process_env)?;

    let previous = args.out.join(RESULTS_JSON);
    let baseline = if previous.is_file() {
        let kept = args.out.join("baseline.json");
        std::fs::copy(&previous, &kept).map_err(|source| crate::report::ReportError::Write {
            path: kept.clone(),
            source,
        })?;
        Some(kept.display().to_string())
    } else {
        None
    };

    let knobs = Knobs {
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.latency_ms.max(1)),
        ..Knobs::default()
    };
    // The previous demo's port when it is free: the target is part of the load, and a
    // baseline of another port would not be comparable.
    let app = match previous_port(&previous)
        .and_then(|port| SampleApp::sample_app(&format!("127.0.0.1:{port}"), knobs.clone()).ok())
    {
        Some(app) => app,
        None => SampleApp::sample_app("127.0.0.1:0", knobs)?,
    };
    println!(
        "sample app listening on {} (flow: {}, scenario {file})",
        app.url(),
        args.flow
    );
    let mut thresholds: Vec<String> = DEMO_THRESHOLDS.iter().map(|s| s.to_string()).collect();
    thresholds.extend(args.thresholds.iter().cloned());
    let run_args = RunArgs {
        load: LoadArgs {
            host: Some(app.url()),
            users: Some(args.users),
            spawn_rate: Some((args.users as f64 / 2.0).max(1.0)),
            run_time: Some(args.run_time.clone()),
            scenario: Some(file.into()),
            ..LoadArgs::default()
        },
        judge: JudgeArgs {
            thresholds: Some(thresholds),
            baseline: Some(baseline.unwrap_or_else(|| "none".into())),
            out: Some(args.out.clone()),
            // The sample app is on loopback: a proxy in the environment must not carry the load.
            no_proxy: Some(true),
            ..JudgeArgs::default()
        },
    };
    // The demo ignores any loadforge-gate.yml in the current directory: it is self-contained.
    let settings = Settings::from_args(&run_args, &process_env, None)?;
    let stop = engine::install_stop_signal();
    let outcome = run_gate(
        &settings,
        super::Workload::Native(Box::new(scenario)),
        &stop,
    );
    app.stop();
    outcome
}

/// The loopback port the demo whose results are in `results` ran against, if any.
fn previous_port(results: &Path) -> Option<u16> {
    if !results.is_file() {
        return None;
    }
    let found: crate::stats::RunResult =
        crate::results::load(results, crate::results::Role::Results).ok()?;
    let run = found.run;
    let url = url::Url::parse(&run.target).ok()?;
    (url.host_str() == Some("127.0.0.1"))
        .then(|| url.port())
        .flatten()
}

pub(crate) fn sample_app(args: &SampleAppArgs) -> Result<ExitStatus, Error> {
    let bad = |message: String| SettingsError::Invalid {
        setting: "--slow-endpoint",
        message,
    };
    let slow = args
        .slow_endpoints
        .iter()
        .map(|s| Knobs::parse_slow(s).map_err(bad))
        .collect::<Result<Vec<_>, _>>()?;
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(SettingsError::Invalid {
            setting: "--error-rate",
            message: format!("`{}` must be a fraction between 0 and 1", args.error_rate),
        }
        .into());
    }
    let knobs = Knobs {
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        cpu: Duration::from_micros(args.cpu_us),
        error_rate: args.error_rate,
        slow,
        extra: Default::default(),
    };
    sample_app::serve_forever(
        &args.listen,
        knobs,
        args.tls.then_some(args.tls_dir.as_path()),
    )?;
    Ok(ExitStatus::Passed)
}
