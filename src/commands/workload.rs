//! What generates the load: checked and loaded before any load is sent, then run by its engine
//! with a plan built from the settings. The only place that turns settings into engine plans.

use std::{path::PathBuf, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    engine::{
        self,
        k6::{self, K6Load, K6Plan, ScriptOptions},
        loadforge::{self, LoadForgePlan},
        locust::{self, LocustPlan},
        EngineError, NativePlan, Target, Watchdog,
    },
    error::Error,
    gate::{self, AbortRules},
    modes::EngineKind,
    scenario::Scenario,
    settings::{
        EngineSettings, K6Settings, LoadForgeSettings, LocustSettings, NativeSettings, Settings,
        SettingsError,
    },
    stats::{
        ci_values_in_host, origin, sha256_hex, LoadFingerprint, LoadModel, Protocol, RunResult,
    },
};

/// What will generate the load, checked and loaded before any load is sent.
pub(crate) enum Workload {
    Native(Box<Scenario>),
    Locust(PathBuf),
    K6(K6Script),
    LoadForge,
}

/// A k6 script, found and read by `k6 inspect` before any load.
pub(crate) struct K6Script {
    /// Its absolute path.
    pub(crate) path: PathBuf,
    /// What its options say.
    pub(crate) options: ScriptOptions,
}

/// Loads the scenario or checks the locustfile named by the settings.
pub(crate) fn prepare(settings: &Settings) -> Result<Workload, Error> {
    match &settings.engine {
        EngineSettings::Native(n) => Ok(Workload::Native(Box::new(Scenario::load(
            &n.scenario,
            &super::process_env,
            &settings.yaml,
        )?))),
        EngineSettings::Locust(l) => {
            let file = locust::check_locustfile(&l.locustfile)?;
            locust::find_bin(&l.bin)?;
            Ok(Workload::Locust(file))
        }
        EngineSettings::K6(k) => {
            let (path, options) = k6::prepare(&k.bin, &k.script, &bare_host(settings))?;
            if options.own_load.is_some() {
                eprintln!(
                    "loadforge-gate: the k6 script {} sets its own load (scenarios, stages, vus, duration or iterations): --users, --spawn-rate and --run-time are not passed to k6",
                    path.display()
                );
            }
            Ok(Workload::K6(K6Script { path, options }))
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

/// The load this run asks for, as results.json records it (`run.load`): the whole run's
/// settings (a shard records its run's, not its share, so `merge` keeps it as it is), the
/// target's origin and the scenario's identity. Made here because the engines know only
/// their plan, and a later run needs all of it to know whether the two are comparable.
pub(crate) fn fingerprint(settings: &Settings, workload: &Workload) -> LoadFingerprint {
    let (scenario, scenario_sha256) = match (workload, &settings.engine) {
        (Workload::Native(s), _) => (Some(s.name.clone()), Some(s.source_sha256.clone())),
        (Workload::Locust(file), _) => (
            file.file_name().map(|f| f.to_string_lossy().into_owned()),
            locustfile_sha256(file),
        ),
        (Workload::K6(script), _) => (
            script
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned()),
            locustfile_sha256(&script.path),
        ),
        // The cloud test is the scenario; its content is LoadForge's to know.
        (Workload::LoadForge, EngineSettings::LoadForge(lf)) => {
            (Some(format!("LoadForge test {}", lf.test_id)), None)
        }
        (Workload::LoadForge, _) => (None, None),
    };
    let script_load = match workload {
        Workload::K6(script) => script.options.own_load.as_deref(),
        _ => None,
    };
    let fingerprint = LoadFingerprint {
        engine: settings.engine.kind().name().into(),
        model: match settings.rate {
            Some(_) => LoadModel::Open,
            None => LoadModel::Closed,
        },
        users: settings.users,
        rate: settings.rate,
        spawn_rate: settings.spawn_rate,
        run_time_s: settings.run_time.as_secs_f64(),
        warmup_s: settings.warmup.as_secs_f64(),
        ramp_s: settings.ramp.as_secs_f64(),
        target: origin(&settings.host),
        target_vars: ci_values_in_host(&origin(&settings.host), &settings.gate.ci.per_pipeline),
        target_id: settings.target_id.clone(),
        scenario,
        scenario_sha256,
        script_load_sha256: script_load.map(|text| sha256_hex(text.as_bytes())),
        // What the engine's connections spoke, known after the run (`finish`).
        protocol: None,
    };
    match workload {
        Workload::K6(script) if script_load.is_some() => {
            script_owned_load(fingerprint, &script.options)
        }
        _ => fingerprint,
    }
}

/// A k6 script's own load in the fingerprint: its users and length, not the flags it ignored.
fn script_owned_load(f: LoadFingerprint, options: &ScriptOptions) -> LoadFingerprint {
    LoadFingerprint {
        users: options.max_vus.unwrap_or(0),
        spawn_rate: 0.0,
        run_time_s: options.total_duration.map_or(0.0, |d| d.as_secs_f64()),
        ..f
    }
}

/// The most locustfile bytes hashed; a larger one (or a folder of them) goes unhashed, and
/// only its name is compared.
const MAX_LOCUSTFILE_BYTES: usize = 16 << 20;

/// SHA-256 of a locustfile (what `sha256sum` prints), or of a folder's `.py` files (each
/// name, a NUL, then its content, in name order: what Locust imports from it). `None` when
/// unreadable or too large: the fingerprint then says nothing of the content rather than
/// something wrong.
fn locustfile_sha256(path: &std::path::Path) -> Option<String> {
    // A regular file only: a FIFO named as the locustfile is never waited on.
    let read = |f: &std::path::Path, cap: usize| crate::capped::read_file(f, cap).ok();
    if !path.is_dir() {
        return read(path, MAX_LOCUSTFILE_BYTES).map(|bytes| sha256_hex(&bytes));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "py"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let bytes = read(&f, MAX_LOCUSTFILE_BYTES.checked_sub(all.len())?)?;
        all.extend_from_slice(f.file_name()?.as_encoded_bytes());
        all.push(0);
        all.extend_from_slice(&bytes);
    }
    Some(sha256_hex(&all))
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

/// Runs the workload on its engine. The result (or what a crashed engine measured) carries the
/// run's load fingerprint, which the engine itself does not know, and, whatever the engine,
/// one row per endpoint name (`stats::merge_same_names`): nothing after this judges, compares
/// or folds one row of a name and misses another.
pub(crate) fn run_engine(
    settings: &Settings,
    workload: Workload,
    share: Share,
    stop: &CancellationToken,
) -> Result<Result<RunResult, EngineError>, Error> {
    let load = fingerprint(settings, &workload);
    let outcome = match (workload, &settings.engine) {
        (Workload::Native(scenario), EngineSettings::Native(n)) => {
            let plan = native_plan(settings, *scenario, n, share)?;
            engine::native::run(&plan, stop)
        }
        (Workload::Locust(file), EngineSettings::Locust(l)) => {
            locust::run(&locust_plan(settings, l, file, share), stop)
        }
        (Workload::K6(script), EngineSettings::K6(k)) => {
            let tags = k6::system_tags(&script.options);
            k6::run(&k6_plan(settings, k, script, share), &tags, stop)
        }
        (Workload::LoadForge, EngineSettings::LoadForge(lf)) => {
            loadforge::run(&loadforge_plan(settings, lf, share), stop)
        }
        _ => unreachable!("prepare() builds the workload from the same settings"),
    };
    Ok(finish(outcome, load))
}

/// The fingerprint in `result`, with the protocol its connections spoke: an HTTP/2 run is
/// another load than an HTTP/1.1 one.
fn stamp(result: &mut RunResult, load: LoadFingerprint) {
    result.run.load = Some(LoadFingerprint {
        protocol: Protocol::in_fingerprint(result.run.protocol),
        ..load
    });
}

/// An engine's result, or the partial result of its crash, with the fingerprint, no
/// credential in its outside text (`RunResult::scrub`) and one row per endpoint name.
fn finish(
    outcome: Result<RunResult, EngineError>,
    load: LoadFingerprint,
) -> Result<RunResult, EngineError> {
    match outcome {
        Ok(mut result) => {
            stamp(&mut result, load);
            result.scrub();
            result.merge_same_names();
            Ok(result)
        }
        Err(EngineError::Crashed {
            message,
            partial: Some(mut partial),
        }) => {
            stamp(&mut partial, load);
            partial.scrub();
            partial.merge_same_names();
            Err(EngineError::Crashed {
                message,
                partial: Some(partial),
            })
        }
        Err(EngineError::OwnVerdictFailed {
            message,
            result: Some(mut result),
        }) => {
            stamp(&mut result, load);
            result.scrub();
            result.merge_same_names();
            Err(EngineError::OwnVerdictFailed {
                message,
                result: Some(result),
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
        .with_network(native.tls.clone(), settings.proxy.clone())
        .with_http2(native.http2.unwrap_or(scenario.http2));
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
        meters: true,
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

fn k6_plan(settings: &Settings, k: &K6Settings, script: K6Script, share: Share) -> K6Plan {
    let load = match script.options.own_load {
        Some(_) => K6Load::Script,
        None => K6Load::Flags {
            users: share.users,
            spawn_rate: share.spawn_rate,
            run_time: settings.run_time,
        },
    };
    K6Plan {
        bin: k6::find_bin(&k.bin).unwrap_or_else(|_| k.bin.clone()),
        script: script.path,
        host: bare_host(settings),
        load,
        script_run_time: script.options.total_duration,
        extra_args: k.extra_args.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A locustfile is named by the hash `sha256sum` prints; a folder by all its `.py` files,
    /// so an edit to any of them is a changed scenario.
    #[test]
    fn a_locustfile_or_a_folder_of_them_is_hashed_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.py");
        std::fs::write(&file, "print(1)\n").unwrap();
        assert_eq!(locustfile_sha256(&file), Some(sha256_hex(b"print(1)\n")));
        std::fs::write(dir.path().join("notes.txt"), "not imported").unwrap();
        let folder = locustfile_sha256(dir.path()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "changed").unwrap();
        assert_eq!(locustfile_sha256(dir.path()).as_ref(), Some(&folder));
        std::fs::write(dir.path().join("b.py"), "print(2)\n").unwrap();
        assert_ne!(locustfile_sha256(dir.path()).as_ref(), Some(&folder));
        assert_eq!(locustfile_sha256(&dir.path().join("missing.py")), None);
    }

    /// A shard runs its share but records the whole run's load, the target as its origin.
    #[test]
    fn a_shard_records_the_whole_runs_load() {
        let args = crate::cli::RunArgs {
            load: crate::cli::LoadArgs {
                host: Some("HTTP://User@Shop.Example:80/api?q=1".into()),
                users: Some(10),
                spawn_rate: Some(5.0),
                run_time: Some("1m".into()),
                warmup: Some("5s".into()),
                scenario: Some("s.yml".into()),
                shard: Some("2/3".into()),
                ..Default::default()
            },
            judge: Default::default(),
        };
        let settings = Settings::from_args(&args, &|_| None, None);
        // Credentials in --host are refused before any fingerprint could keep them.
        assert!(settings.is_err());
        let args = crate::cli::RunArgs {
            load: crate::cli::LoadArgs {
                host: Some("HTTP://Shop.Example:80/api?q=1".into()),
                ..args.load
            },
            ..args
        };
        let settings = Settings::from_args(&args, &|_| None, None).unwrap();
        let scenario =
            Scenario::parse("tasks: [{request: {path: /}}]", "s.yml".as_ref(), &|_| None).unwrap();
        let hash = scenario.source_sha256.clone();
        assert_eq!(Share::of(&settings).users, 3);
        let load = fingerprint(&settings, &Workload::Native(Box::new(scenario)));
        assert_eq!(
            load,
            LoadFingerprint {
                engine: "native".into(),
                model: LoadModel::Closed,
                users: 10,
                rate: None,
                spawn_rate: 5.0,
                run_time_s: 60.0,
                warmup_s: 5.0,
                ramp_s: 0.0,
                target: "http://shop.example".into(),
                scenario: Some("s".into()),
                scenario_sha256: Some(hash),
                script_load_sha256: None,
                target_vars: Default::default(),
                target_id: None,
                protocol: None,
            }
        );
        // In a pipeline of branch `shop`, a host named after the branch is a review app; the
        // pipeline's other values are not in the host, and are not recorded.
        let env = |k: &str| match k {
            "CI_COMMIT_REF_SLUG" => Some("shop".to_string()),
            "CI_PIPELINE_ID" => Some("4242".to_string()),
            _ => None,
        };
        let args = crate::cli::RunArgs {
            load: crate::cli::LoadArgs {
                target_id: Some(" shop-staging ".into()),
                ..args.load
            },
            ..args
        };
        let settings = Settings::from_args(&args, &env, None).unwrap();
        let scenario =
            Scenario::parse("tasks: [{request: {path: /}}]", "s.yml".as_ref(), &|_| None).unwrap();
        let load = fingerprint(&settings, &Workload::Native(Box::new(scenario)));
        assert_eq!(
            load.target_vars,
            std::collections::BTreeMap::from([("CI_COMMIT_REF_SLUG".into(), "shop".into())])
        );
        assert_eq!(load.target_id.as_deref(), Some("shop-staging"));
    }
}
