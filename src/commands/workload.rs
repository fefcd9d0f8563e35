//! What generates the load: checked and loaded before any load is sent, then run by its engine
//! with a plan built from the settings. The only place that turns settings into engine plans.

use std::{path::PathBuf, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    engine::{
        self,
        k6::{self, K6Load, K6Plan, OpenModel, ScriptOptions, Segment},
        loadforge::{self, LoadForgePlan},
        locust::{self, LocustPlan},
        EngineError, NativePlan, Target, Watchdog,
    },
    error::Error,
    gate::{self, AbortRules, UntilDecisive},
    modes::EngineKind,
    scenario::Scenario,
    settings::{
        too_few_users, EngineSettings, K6Settings, LoadForgeSettings, LocustSettings,
        NativeSettings, Settings, SettingsError,
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
    /// k6's version (`k6 version`), when it could be read: the load fingerprint records it.
    pub(crate) version: Option<String>,
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
        EngineSettings::K6(k) => prepare_k6(settings, k).map(Workload::K6),
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

/// Finds k6, reads the script's options and k6's version, and checks that a shard of a load
/// the command line sets has a user to run.
fn prepare_k6(settings: &Settings, k: &K6Settings) -> Result<K6Script, Error> {
    let (path, options) = k6::prepare(&k.bin, &k.script, &bare_host(settings))?;
    announce_k6_load(settings, &path, &options)?;
    let version = k6::find_bin(&k.bin).ok().and_then(|bin| k6::version(&bin));
    if version.is_none() {
        eprintln!(
            "loadforge-gate: warning: `k6 version` printed no version the gate can read; the load fingerprint records it as unknown, so this run is not comparable with runs that know theirs"
        );
    }
    Ok(K6Script {
        path,
        options,
        version,
    })
}

/// Says who sets the load and, for a shard, how k6 splits it; refuses a shard without a user
/// of the command line's load. A script's own load is k6's to split: fewer VUs than shards
/// leave some shards nothing to run, which is said, not refused.
fn announce_k6_load(
    settings: &Settings,
    path: &std::path::Path,
    options: &ScriptOptions,
) -> Result<(), Error> {
    let shard = settings.shard.as_ref();
    if options.own_load.is_none() {
        return match shard {
            Some(s) if settings.users < s.count => {
                Err(too_few_users(settings.users, s.count).into())
            }
            _ => Ok(()),
        };
    }
    eprintln!(
        "loadforge-gate: the k6 script {} sets its own load (scenarios, stages, vus, duration or iterations): --users, --spawn-rate, --run-time, --rate and --ramp are not passed to k6{}",
        path.display(),
        shard.map_or_else(String::new, |s| format!(
            "; this shard runs k6's execution segment {}",
            segment(s).segment()
        ))
    );
    if let (Some(s), Some(vus)) = (shard, options.max_vus) {
        if vus < s.count {
            eprintln!(
                "loadforge-gate: warning: the script's own load runs at most {vus} VUs, fewer than the {} shards: k6 gives some shards nothing to run",
                s.count
            );
        }
    }
    Ok(())
}

/// A shard's execution segment of a whole-run k6 load.
fn segment(shard: &crate::stats::ShardInfo) -> Segment {
    Segment {
        index: shard.index,
        count: shard.count,
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
        compare_target: settings.paired.as_ref().map(|p| origin(&p.compare_host)),
        scenario,
        scenario_sha256,
        script_load_sha256: script_load.map(|text| sha256_hex(text.as_bytes())),
        engine_version: match workload {
            Workload::K6(script) => script.version.clone(),
            _ => None,
        },
        // What the engine's connections spoke, known after the run (`finish`).
        protocol: None,
        // Lanes per user are the native engine's alone; every other engine's user is one.
        streams_per_user: match workload {
            Workload::Native(s) => s.streams_per_user,
            _ => 1,
        },
    };
    match workload {
        Workload::K6(script) if script_load.is_some() => {
            script_owned_load(fingerprint, &script.options)
        }
        _ => fingerprint,
    }
}

/// A k6 script's own load in the fingerprint: its users and length, not the flags it ignored
/// (its own arrival rates, if any, are in its load's hash).
fn script_owned_load(f: LoadFingerprint, options: &ScriptOptions) -> LoadFingerprint {
    LoadFingerprint {
        model: LoadModel::Closed,
        users: options.max_vus.unwrap_or(0),
        rate: None,
        spawn_rate: 0.0,
        run_time_s: options.total_duration.map_or(0.0, |d| d.as_secs_f64()),
        ramp_s: 0.0,
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
            let plan = k6_plan(settings, k, script, share);
            let open = matches!(plan.load, K6Load::Flags { open: Some(_), .. });
            let rate = k6_shard_rate(settings, share);
            let outcome = k6::run(&plan, &tags, stop);
            // The engine reports what it ran; the model is the plan's, as the native engine's.
            return Ok(finish(outcome, load, |r| {
                if open {
                    r.run.model = LoadModel::Open;
                    r.run.rate = rate;
                }
            }));
        }
        (Workload::LoadForge, EngineSettings::LoadForge(lf)) => {
            loadforge::run(&loadforge_plan(settings, lf, share), stop)
        }
        _ => unreachable!("prepare() builds the workload from the same settings"),
    };
    Ok(finish(outcome, load, |_| {}))
}

/// The fingerprint in `result`, with the protocol its connections spoke: an HTTP/2 run is
/// another load than an HTTP/1.1 one.
fn stamp(result: &mut RunResult, load: LoadFingerprint) {
    result.run.load = Some(LoadFingerprint {
        protocol: Protocol::in_fingerprint(&result.run.engine, result.run.protocol),
        ..load
    });
}

/// An engine's result, or the partial result of its crash, with the fingerprint, what
/// `describe` adds, no credential in its outside text (`RunResult::scrub`) and one row per
/// endpoint name.
fn finish(
    outcome: Result<RunResult, EngineError>,
    load: LoadFingerprint,
    describe: impl Fn(&mut RunResult),
) -> Result<RunResult, EngineError> {
    match outcome {
        Ok(mut result) => {
            describe(&mut result);
            stamp(&mut result, load);
            result.scrub();
            result.merge_same_names();
            Ok(result)
        }
        Err(EngineError::Crashed {
            message,
            partial: Some(mut partial),
        }) => {
            describe(&mut partial);
            stamp(&mut partial, load);
            partial.scrub();
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
        .with_network(native.tls.clone(), settings.proxy.clone())
        .with_http2(native.http2.unwrap_or(scenario.http2));
    let http2 = target.http2;
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
        paired: paired_plan(settings, native, http2)?,
    })
}

/// The base of a paired run as a target of its own: the same TLS options and HTTP/2 mode as
/// the target's, the proxy chosen for its own host.
fn paired_plan(
    settings: &Settings,
    native: &NativeSettings,
    http2: crate::modes::Http2Mode,
) -> Result<Option<engine::PairedPlan>, Error> {
    let Some(p) = &settings.paired else {
        return Ok(None);
    };
    let base = Target::from_url(&p.compare_host)
        .map_err(|message| SettingsError::Invalid {
            setting: "--compare-host",
            message,
        })?
        .with_network(native.tls.clone(), settings.compare_proxy.clone())
        .with_http2(http2);
    Ok(Some(engine::PairedPlan {
        base,
        slice: p.slice,
        turn: p.turn,
        slice_warmup: p.warmup,
        max_slices: p.max_slices,
        order: crate::stats::SliceOrder::keyed(rand::random()),
        referee: (p.until_decisive)
            .then(|| UntilDecisive::of(&settings.gate.regressions))
            .flatten()
            .map(|r| Arc::new(r) as Arc<dyn engine::Referee>),
    }))
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

/// The part of the open model's rate a k6 shard runs. k6 shares a segmented arrival rate out
/// with the pool of VUs, not by the segments' lengths (each arrival-rate executor re-segments
/// the sequence by its `maxVUs`, k6 `lib/executor/constant_arrival_rate.go` `Init`), and for
/// equal segments the pool's split is [`Share::of`]'s: 7 users over 3 shards run 3/7, 2/7 and
/// 2/7 of the rate. The shards' parts add up to the whole rate.
fn k6_shard_rate(settings: &Settings, share: Share) -> Option<f64> {
    settings
        .rate
        .map(|rate| rate * f64::from(share.users) / f64::from(settings.users.max(1)))
}

/// The k6 plan. The closed model's flags are this shard's share, as for the other engines;
/// a load k6 is given whole (the script's own, or the open model's options, which hold the
/// whole run's rate and pool of users) is split by k6 itself, each shard running its
/// execution segment, so the shards together run exactly the whole load.
fn k6_plan(settings: &Settings, k: &K6Settings, script: K6Script, share: Share) -> K6Plan {
    let load = match script.options.own_load {
        Some(_) => K6Load::Script,
        None => K6Load::Flags {
            users: share.users,
            spawn_rate: share.spawn_rate,
            run_time: settings.run_time,
            open: settings.rate.map(|rate| OpenModel {
                rate,
                ramp: settings.ramp,
                users: settings.users,
                run_time: settings.run_time,
            }),
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
        segment: settings.shard.as_ref().map(segment),
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

    /// k6 shares a sharded arrival rate out with the pool of users: the parts follow the
    /// users' split and add up to the whole rate.
    #[test]
    fn a_k6_shard_runs_its_users_part_of_the_rate() {
        let rates: Vec<f64> = (1..=3)
            .map(|i| {
                let args = crate::cli::RunArgs {
                    load: crate::cli::LoadArgs {
                        host: Some("http://shop.example".into()),
                        engine: Some(crate::cli::EngineArg::K6),
                        k6_script: Some("s.js".into()),
                        users: Some(7),
                        rate: Some(7.5),
                        shard: Some(format!("{i}/3")),
                        ..Default::default()
                    },
                    judge: Default::default(),
                };
                let settings = Settings::from_args(&args, &|_| None, None).unwrap();
                k6_shard_rate(&settings, Share::of(&settings)).unwrap()
            })
            .collect();
        let third = 7.5 / 7.0;
        assert_eq!(rates, [3.0 * third, 2.0 * third, 2.0 * third]);
        assert!((rates.iter().sum::<f64>() - 7.5).abs() < 1e-9);
    }

    /// A k6 run records k6's version; a script that sets its own load records its users and
    /// length and none of the flags it ignored, the open model's included.
    #[test]
    fn a_k6_fingerprint_records_the_version_and_the_scripts_own_load() {
        let args = crate::cli::RunArgs {
            load: crate::cli::LoadArgs {
                host: Some("http://shop.example".into()),
                engine: Some(crate::cli::EngineArg::K6),
                k6_script: Some("s.js".into()),
                rate: Some(20.0),
                ramp: Some("5s".into()),
                ..Default::default()
            },
            judge: Default::default(),
        };
        let settings = Settings::from_args(&args, &|_| None, None).unwrap();
        let script = |own_load: Option<&str>| {
            Workload::K6(K6Script {
                path: "/repo/s.js".into(),
                options: ScriptOptions {
                    own_load: own_load.map(String::from),
                    total_duration: Some(std::time::Duration::from_secs(40)),
                    max_vus: Some(3),
                    ..Default::default()
                },
                version: Some("v1.1.0".into()),
            })
        };
        let flags = fingerprint(&settings, &script(None));
        assert_eq!(flags.engine_version.as_deref(), Some("v1.1.0"));
        assert_eq!(
            (flags.model, flags.rate, flags.ramp_s),
            (LoadModel::Open, Some(20.0), 5.0)
        );
        let own = fingerprint(&settings, &script(Some(r#"{"vus":3}"#)));
        assert_eq!(own.engine_version.as_deref(), Some("v1.1.0"));
        assert_eq!(
            (own.model, own.rate, own.ramp_s, own.users, own.run_time_s),
            (LoadModel::Closed, None, 0.0, 3, 40.0)
        );
        assert!(own.script_load_sha256.is_some());
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
                engine_version: None,
                compare_target: None,
                protocol: None,
                streams_per_user: 1,
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

    /// A native scenario's lanes per user are its load's (`defaults.streams_per_user`).
    #[test]
    fn the_scenarios_streams_per_user_are_recorded() {
        let args = crate::cli::RunArgs {
            load: crate::cli::LoadArgs {
                host: Some("http://shop.example".into()),
                scenario: Some("s.yml".into()),
                ..Default::default()
            },
            judge: Default::default(),
        };
        let settings = Settings::from_args(&args, &|_| None, None).unwrap();
        let parse = |text: &str| Scenario::parse(text, "s.yml".as_ref(), &|_| None).unwrap();
        let ten =
            parse("defaults: {http2: always, streams_per_user: 10}\ntasks: [{request: {path: /}}]");
        let load = fingerprint(&settings, &Workload::Native(Box::new(ten)));
        assert_eq!(load.streams_per_user, 10);
        let one = parse("tasks: [{request: {path: /}}]");
        let load = fingerprint(&settings, &Workload::Native(Box::new(one)));
        assert_eq!(load.streams_per_user, 1);
    }
}
