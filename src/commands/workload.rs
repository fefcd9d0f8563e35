//! What generates the load: checked and loaded before any load is sent, then run by its engine
//! with a plan built from the settings. The only place that turns settings into engine plans.

use std::{path::PathBuf, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    engine::{
        self,
        loadforge::{self, LoadForgePlan},
        locust::{self, LocustPlan},
        EngineError, NativePlan, Target, Watchdog,
    },
    error::Error,
    gate::{self, AbortRules},
    modes::EngineKind,
    scenario::Scenario,
    settings::{
        EngineSettings, LoadForgeSettings, LocustSettings, NativeSettings, Settings, SettingsError,
    },
    stats::RunResult,
};

/// What will generate the load, checked and loaded before any load is sent.
pub(crate) enum Workload {
    Native(Box<Scenario>),
    Locust(PathBuf),
    LoadForge,
}

/// Loads the scenario or checks the locustfile named by the settings.
pub(crate) fn prepare(settings: &Settings) -> Result<Workload, Error> {
    match &settings.engine {
        EngineSettings::Native(n) => Ok(Workload::Native(Box::new(Scenario::load(
            &n.scenario,
            &super::process_env,
        )?))),
        EngineSettings::Locust(l) => {
            let file = locust::check_locustfile(&l.locustfile)?;
            locust::find_bin(&l.bin)?;
            Ok(Workload::Locust(file))
        }
        EngineSettings::LoadForge(_) => {
            gate::check_reportable(
                &settings.gate.thresholds,
                EngineKind::LoadForge.name(),
                loadforge::REPORTED_PERCENTILES,
            )?;
            Ok(Workload::LoadForge)
        }
    }
}

/// Every rule's selector must name an endpoint of the scenario: checked before any load.
pub(crate) fn check_selectors(settings: &Settings, scenario: &Scenario) -> Result<(), Error> {
    let names = scenario.endpoint_names();
    for t in settings.gate.thresholds.iter() {
        gate::resolve_selector(&t.source, t.selector.as_ref(), &names)?;
    }
    for r in settings.gate.regressions.iter() {
        gate::resolve_selector(&r.source, r.selector.as_ref(), &names)?;
    }
    Ok(())
}

/// This process's share of the load: a shard runs its part of the users, of the arrival rate
/// and of the open model's rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    pub(crate) users: u32,
    pub(crate) spawn_rate: f64,
    pub(crate) rate: Option<f64>,
}

impl Share {
    pub(crate) fn of(settings: &Settings) -> Share {
        let Some(s) = &settings.shard else {
            return Share {
                users: settings.users,
                spawn_rate: settings.spawn_rate,
                rate: settings.rate,
            };
        };
        let base = settings.users / s.count;
        let extra = u32::from(s.index <= settings.users % s.count);
        Share {
            users: base + extra,
            spawn_rate: settings.spawn_rate / s.count as f64,
            rate: settings.rate.map(|r| r / s.count as f64),
        }
    }
}

/// Runs the workload on its engine. Whatever the engine, rows that share an endpoint name
/// leave here merged into one (`stats::merge_same_names`), in a partial result too: nothing
/// after this judges, compares or folds one row of a name and misses another.
pub(crate) fn run_engine(
    settings: &Settings,
    workload: Workload,
    share: Share,
    stop: &CancellationToken,
) -> Result<Result<RunResult, EngineError>, Error> {
    Ok(one_row_per_name(match (workload, &settings.engine) {
        (Workload::Native(scenario), EngineSettings::Native(n)) => {
            let plan = native_plan(settings, *scenario, n, share)?;
            engine::native::run(&plan, stop)
        }
        (Workload::Locust(file), EngineSettings::Locust(l)) => {
            locust::run(&locust_plan(settings, l, file, share), stop)
        }
        (Workload::LoadForge, EngineSettings::LoadForge(lf)) => {
            loadforge::run(&loadforge_plan(settings, lf, share), stop)
        }
        _ => unreachable!("prepare() builds the workload from the same settings"),
    }))
}

/// An engine's result, or the partial result of its crash, with one row per endpoint name.
fn one_row_per_name(ran: Result<RunResult, EngineError>) -> Result<RunResult, EngineError> {
    match ran {
        Ok(mut result) => {
            result.merge_same_names();
            Ok(result)
        }
        Err(EngineError::Crashed {
            message,
            partial: Some(mut partial),
        }) => {
            partial.merge_same_names();
            Err(EngineError::Crashed {
                message,
                partial: Some(partial),
            })
        }
        Err(e) => Err(e),
    }
}

fn native_plan(
    settings: &Settings,
    scenario: Scenario,
    native: &NativeSettings,
    share: Share,
) -> Result<NativePlan, Error> {
    let target = Target::from_url(&settings.host)
        .map_err(|message| SettingsError::Invalid {
            setting: "--host",
            message,
        })?
        .with_network(native.tls.clone(), settings.proxy.clone());
    let watchdog = AbortRules::from_thresholds(&settings.gate.thresholds)
        .map(|rules| Arc::new(rules) as Arc<dyn Watchdog>);
    Ok(NativePlan {
        scenario_name: scenario.name.clone(),
        scenario: Arc::new(scenario),
        target,
        users: share.users,
        spawn_rate: share.spawn_rate,
        run_time: settings.run_time,
        workers: native.threads,
        progress_every: settings.progress_every,
        warmup: settings.warmup,
        rate: share.rate,
        ramp: settings.ramp,
        watchdog,
    })
}

/// Locust and LoadForge take the host without a trailing slash (Locust joins paths with `/`).
fn bare_host(settings: &Settings) -> String {
    settings.host.as_str().trim_end_matches('/').to_string()
}

fn locust_plan(settings: &Settings, l: &LocustSettings, file: PathBuf, share: Share) -> LocustPlan {
    LocustPlan {
        bin: l.bin.clone(),
        locustfile: file,
        host: bare_host(settings),
        users: share.users,
        spawn_rate: share.spawn_rate,
        run_time: settings.run_time,
        stop_timeout: l.stop_timeout,
        workers: l.workers,
        remote_workers: l.remote_workers,
        workers_max_wait: l.workers_max_wait,
        extra_args: l.extra_args.clone(),
        out_dir: settings.gate.out.clone(),
        progress_every: settings.progress_every,
        max_endpoints: settings.gate.max_endpoints,
    }
}

fn loadforge_plan(settings: &Settings, lf: &LoadForgeSettings, share: Share) -> LoadForgePlan {
    LoadForgePlan {
        base_url: lf.base_url.clone(),
        token: lf.token.clone(),
        test_id: lf.test_id.clone(),
        host: bare_host(settings),
        users: share.users,
        spawn_rate: share.spawn_rate,
        run_time: settings.run_time,
        poll_interval: lf.poll_interval,
        max_wait: lf.max_wait,
        retry: loadforge::RETRY,
        // GitLab's CA is for the GitLab calls: a bad one fails those, never the load test.
        net: settings.gate.net.without(crate::tls::GITLAB_CA_FILE),
    }
}
