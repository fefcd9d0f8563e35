//! Raw arguments + environment + config file -> validated [`Settings`], before any I/O beyond
//! reading the config file. Precedence: flag > environment variable > profile > config file >
//! built-in default.

mod ci;
mod config;

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use url::Url;

pub use ci::{CiContext, Secret};
pub use config::{ConfigFile, Layer, DEFAULT_CONFIG};

use crate::{
    baseline::BaselineSource,
    cli::{CommentArg, EngineArg, RunArgs},
    duration::parse_duration,
    gate::{self, GateError, Regression, Threshold},
    stats::ShardInfo,
};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {}: {message}", path.display())]
    ConfigRead { path: PathBuf, message: String },
    #[error("config file {}: {message}", path.display())]
    ConfigParse { path: PathBuf, message: String },
    #[error("profile `{name}` is not defined in {}; defined profiles: {known}", path.display())]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("--profile {0} was given but there is no config file; create loadforge-gate.yml or pass --config FILE")]
    ProfileWithoutConfig(String),
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
    #[error("{0} is required; {1}")]
    Missing(&'static str, &'static str),
    #[error(transparent)]
    Gate(#[from] GateError),
}

#[derive(Debug, Clone)]
pub enum EngineSettings {
    Native { scenario: PathBuf, threads: usize },
    Locust(LocustSettings),
    LoadForge(LoadForgeSettings),
}

#[derive(Debug, Clone)]
pub struct LoadForgeSettings {
    pub base_url: Url,
    pub token: Secret,
    pub test_id: String,
    pub poll_interval: Duration,
    pub max_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct LocustSettings {
    pub locustfile: PathBuf,
    pub bin: PathBuf,
    pub extra_args: Vec<String>,
    pub workers: Option<u32>,
    pub remote_workers: Option<u32>,
    pub workers_max_wait: Duration,
    pub stop_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub engine: EngineSettings,
    pub host: Url,
    pub users: u32,
    pub spawn_rate: f64,
    pub run_time: Duration,
    /// Open model: task iterations per second (native engine only).
    pub rate: Option<f64>,
    pub ramp: Duration,
    pub warmup: Duration,
    pub profile: Option<String>,
    pub progress_every: Duration,
    /// Set when this process runs one shard of a larger run.
    pub shard: Option<ShardInfo>,
    /// Wall-clock time to start the load at (shards overlap by starting together).
    pub start_at: Option<SystemTime>,
    pub gate: GateSettings,
}

/// Parses `I/N` (1-based).
pub fn parse_shard(text: &str, run_id: String) -> Result<ShardInfo, SettingsError> {
    let bad = || {
        invalid(
            "--shard",
            format!("`{text}` must look like I/N with 1 <= I <= N, e.g. 2/3"),
        )
    };
    let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
    let (index, count): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if index == 0 || index > count {
        return Err(bad());
    }
    Ok(ShardInfo {
        index,
        count,
        run_id,
    })
}

fn parse_time(setting: &'static str, text: &str) -> Result<SystemTime, SettingsError> {
    humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(text.trim()))
        .map_err(|e| {
            invalid(
                setting,
                format!("`{text}` is not an RFC 3339 time ({e}), e.g. 2026-11-23T10:00:00Z"),
            )
        })
}

/// What judging and publishing need, apart from how the load was made: also what `merge`
/// needs, which judges shards it did not run.
#[derive(Debug, Clone)]
pub struct GateSettings {
    pub thresholds: Vec<Threshold>,
    /// True when no threshold was configured and the built-in ones apply.
    pub default_thresholds: bool,
    pub regressions: Vec<Regression>,
    pub default_regressions: bool,
    pub baseline: BaselineSource,
    pub out: PathBuf,
    pub ci: CiContext,
    pub comment: CommentArg,
    /// `LOADFORGE_GATE_GITLAB_TOKEN`: an API token for notes and pipeline history.
    pub gitlab_token: Option<Secret>,
    pub baseline_history: usize,
}

pub const DEFAULT_OUT: &str = "loadforge-gate";
pub const DEFAULT_USERS: u32 = 10;
pub const DEFAULT_SPAWN_RATE: f64 = 10.0;
pub const DEFAULT_RUN_TIME: &str = "30s";
pub const DEFAULT_BASELINE_HISTORY: usize = 5;

fn invalid(setting: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        message: message.into(),
    }
}

/// Checks that a host is an absolute http(s) URL with a host part.
pub fn parse_host(text: &str) -> Result<Url, SettingsError> {
    let url = Url::parse(text.trim()).map_err(|e| {
        invalid(
            "--host",
            format!("`{text}` is not a URL ({e}); pass e.g. --host https://review.example.com"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            "--host",
            format!("`{text}` must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(url)
}

/// Rules arrive as repeated flags, as `;`-separated text, or as a JSON array: a GitLab `array`
/// input interpolated into a variable becomes `["p95<500ms", "error_rate<1%"]`. Blank entries
/// are dropped; an empty result means "not given".
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
            out.push(t.to_string());
        }
    }
    out.retain(|s| !s.is_empty());
    Ok((!out.is_empty()).then_some(out))
}

/// Flags and environment over the config file's profile over its top level.
fn layered(
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
    config_dir: Option<&Path>,
) -> Result<Layer, SettingsError> {
    let config = match (&args.config, config_dir) {
        (Some(p), _) => Some(ConfigFile::load(p)?),
        (None, Some(dir)) if dir.join(DEFAULT_CONFIG).is_file() => {
            Some(ConfigFile::load(&dir.join(DEFAULT_CONFIG))?)
        }
        (None, _) => None,
    };
    let file_layer = match (&config, &args.profile) {
        (Some(c), p) => c.layer(p.as_deref())?,
        (None, Some(p)) => return Err(SettingsError::ProfileWithoutConfig(p.clone())),
        (None, None) => Layer::default(),
    };
    let cli_layer = Layer {
        engine: args.engine.map(|e| match e {
            EngineArg::Native => "native".to_string(),
            EngineArg::Locust => "locust".to_string(),
            EngineArg::Loadforge => "loadforge".to_string(),
        }),
        locustfile: args.locustfile.clone(),
        threads: args.threads,
        scenario: args.scenario.clone(),
        host: args.host.clone().or_else(|| env("TARGET_HOST")),
        users: args.users,
        spawn_rate: args.spawn_rate,
        run_time: args.run_time.clone(),
        thresholds: expand_list(&args.thresholds)?,
        regressions: expand_list(&args.regressions)?,
        baseline: args.baseline.clone(),
        out: args.out.clone(),
        workers: args.workers,
    };
    Ok(cli_layer.over(file_layer))
}

impl GateSettings {
    /// The judging part alone (for `merge`): no engine, host or scenario needed.
    pub fn from_args(
        args: &RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
        config_dir: Option<&Path>,
    ) -> Result<GateSettings, SettingsError> {
        let l = layered(args, env, config_dir)?;
        Self::from_layer(&l, args, env)
    }

    fn from_layer(
        l: &Layer,
        args: &RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GateSettings, SettingsError> {
        let threshold_exprs = l.thresholds.clone().unwrap_or_default();
        let default_thresholds = threshold_exprs.is_empty();
        let threshold_exprs = if default_thresholds {
            gate::DEFAULT_THRESHOLDS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            threshold_exprs
        };
        let thresholds = gate::parse_thresholds(&threshold_exprs)?;
        let regression_exprs = l.regressions.clone().unwrap_or_default();
        let default_regressions = regression_exprs.is_empty();
        let regression_exprs = if default_regressions {
            gate::DEFAULT_REGRESSIONS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            regression_exprs
        };
        let regressions = gate::parse_regressions(&regression_exprs)?;
        let ci = CiContext::from_env(env);
        let baseline = BaselineSource::parse(l.baseline.as_deref().unwrap_or("auto"));
        Ok(GateSettings {
            thresholds,
            default_thresholds,
            regressions,
            default_regressions,
            baseline,
            out: l.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT)),
            ci,
            comment: args.comment.unwrap_or(CommentArg::Auto),
            gitlab_token: env("LOADFORGE_GATE_GITLAB_TOKEN")
                .filter(|t| !t.trim().is_empty())
                .map(Secret::new),
            baseline_history: args.baseline_history.unwrap_or(DEFAULT_BASELINE_HISTORY),
        })
    }
}

impl Settings {
    /// `env` reads environment variables not already handled by clap (the seed's `TARGET_HOST`,
    /// GitLab's `CI_*`); `config_dir` is where the default config file is looked for (none: no
    /// default config).
    pub fn from_args(
        args: &RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
        config_dir: Option<&Path>,
    ) -> Result<Settings, SettingsError> {
        let l = layered(args, env, config_dir)?;
        Self::from_layer(l, args, env)
    }

    fn from_layer(
        l: Layer,
        args: &RunArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let gate = GateSettings::from_layer(&l, args, env)?;

        let engine = match l.engine.as_deref().unwrap_or("native") {
            "native" => {
                if l.locustfile.is_some() {
                    return Err(invalid(
                        "--locustfile",
                        "needs --engine locust (the native engine runs --scenario)",
                    ));
                }
                let threads = l
                    .threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                if threads == 0 {
                    return Err(invalid("--threads", "must be at least 1"));
                }
                EngineSettings::Native {
                    scenario: l.scenario.clone().ok_or(SettingsError::Missing(
                        "--scenario",
                        "the native engine needs a scenario file (see examples/scenarios/)",
                    ))?,
                    threads,
                }
            }
            "locust" => {
                if l.workers.is_some() && args.remote_workers.is_some() {
                    return Err(invalid(
                        "--workers",
                        "give either --workers (on this host) or --remote-workers, not both",
                    ));
                }
                if l.workers == Some(0) || args.remote_workers == Some(0) {
                    return Err(invalid("--workers", "must be at least 1"));
                }
                EngineSettings::Locust(LocustSettings {
                    locustfile: l.locustfile.clone().ok_or(SettingsError::Missing(
                        "--locustfile",
                        "the locust engine needs a locustfile (see examples/locustfiles/)",
                    ))?,
                    bin: args
                        .locust_bin
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("locust")),
                    extra_args: args
                        .locust_args
                        .iter()
                        .filter(|a| !a.is_empty())
                        .cloned()
                        .collect(),
                    workers: l.workers,
                    remote_workers: args.remote_workers,
                    workers_max_wait: Duration::from_secs(args.workers_max_wait.unwrap_or(60)),
                    stop_timeout: Duration::from_secs(args.stop_timeout.unwrap_or(10)),
                })
            }
            "loadforge" => {
                let token = env("LOADFORGE_API_TOKEN")
                    .filter(|t| !t.trim().is_empty())
                    .map(Secret::new)
                    .ok_or(SettingsError::Missing(
                        "LOADFORGE_API_TOKEN",
                        "store your LoadForge API token as a masked CI/CD variable",
                    ))?;
                let test_id = args
                    .loadforge_test_id
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or(SettingsError::Missing(
                        "LOADFORGE_TEST_ID",
                        "set it (or --loadforge-test-id) to the LoadForge test to start",
                    ))?;
                let base = args
                    .loadforge_url
                    .clone()
                    .unwrap_or_else(|| crate::engine::loadforge::DEFAULT_URL.to_string());
                let mut base_url = parse_host(&base).map_err(|_| {
                    invalid("--loadforge-url", format!("`{base}` is not an http(s) URL"))
                })?;
                if !base_url.path().ends_with('/') {
                    base_url.set_path(&format!("{}/", base_url.path()));
                }
                let dur = |setting: &'static str, v: &Option<String>, default: Duration| match v {
                    Some(t) => parse_duration(t).map_err(|e| invalid(setting, e)),
                    None => Ok(default),
                };
                let poll_interval = dur(
                    "--poll-interval",
                    &args.poll_interval,
                    Duration::from_secs(15),
                )?;
                if poll_interval.is_zero() {
                    return Err(invalid("--poll-interval", "must be positive"));
                }
                EngineSettings::LoadForge(LoadForgeSettings {
                    base_url,
                    token,
                    test_id,
                    poll_interval,
                    // Filled in below, once the run time is known.
                    max_wait: dur("--max-wait", &args.max_wait, Duration::ZERO)?,
                })
            }
            other => {
                return Err(invalid(
                    "--engine",
                    format!("unknown engine `{other}` (available: native, locust, loadforge)"),
                ))
            }
        };
        let host = parse_host(l.host.as_deref().ok_or(SettingsError::Missing(
            "--host",
            "pass --host URL or set TARGET_HOST",
        ))?)?;
        let users = l.users.unwrap_or(DEFAULT_USERS);
        if users == 0 {
            return Err(invalid("--users", "must be at least 1"));
        }
        let spawn_rate = l.spawn_rate.unwrap_or(DEFAULT_SPAWN_RATE);
        if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
            return Err(invalid(
                "--spawn-rate",
                format!("`{spawn_rate}` must be a positive number of users per second"),
            ));
        }
        let run_time_text = l.run_time.as_deref().unwrap_or(DEFAULT_RUN_TIME);
        let run_time = parse_duration(run_time_text).map_err(|e| invalid("--run-time", e))?;
        if run_time.is_zero() {
            return Err(invalid(
                "--run-time",
                format!("`{run_time_text}` is zero; give a positive duration such as 30s"),
            ));
        }
        let native = matches!(engine, EngineSettings::Native { .. });
        let rate = match args.rate {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(invalid(
                    "--rate",
                    format!("`{r}` must be a positive number of iterations per second"),
                ))
            }
            Some(_) if !native => {
                return Err(invalid("--rate", "the open model needs the native engine"))
            }
            r => r,
        };
        let ramp = match &args.ramp {
            Some(_) if rate.is_none() => {
                return Err(invalid(
                    "--ramp",
                    "only applies to the open model; give --rate too",
                ))
            }
            Some(t) => parse_duration(t).map_err(|e| invalid("--ramp", e))?,
            None => Duration::ZERO,
        };
        let warmup = match &args.warmup {
            Some(_) if !native => return Err(invalid("--warmup", "needs the native engine")),
            Some(t) => parse_duration(t).map_err(|e| invalid("--warmup", e))?,
            None => Duration::ZERO,
        };
        for t in gate.thresholds.iter().filter(|t| t.abort_after.is_some()) {
            if !native {
                return Err(invalid(
                    "--threshold",
                    format!("`{} abort-on-fail` needs the native engine", t.source),
                ));
            }
            if t.selector.is_some() {
                return Err(invalid(
                    "--threshold",
                    format!(
                        "`{}`: abort-on-fail judges all requests; drop the selector",
                        t.source
                    ),
                ));
            }
        }
        if warmup >= run_time {
            return Err(invalid(
                "--warmup",
                format!("must be shorter than the run time ({run_time_text})"),
            ));
        }
        let mut engine = engine;
        if let EngineSettings::LoadForge(lf) = &mut engine {
            if lf.max_wait.is_zero() {
                lf.max_wait = run_time + Duration::from_secs(15 * 60);
            }
        }
        let shard = match &args.shard {
            Some(text) => {
                let run_id = args
                    .run_id
                    .clone()
                    .or_else(|| gate.ci.pipeline_id.clone())
                    .unwrap_or_else(|| "local".into());
                let shard = parse_shard(text, run_id)?;
                if users < shard.count {
                    return Err(invalid(
                        "--shard",
                        format!("{users} users cannot be split into {} shards; give at least one user per shard", shard.count),
                    ));
                }
                Some(shard)
            }
            None => None,
        };
        let start_at = match (&args.start_at, &args.start_delay) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "--start-at",
                    "give either --start-at or --start-delay, not both",
                ))
            }
            (Some(t), None) => Some(parse_time("--start-at", t)?),
            (None, Some(d)) => {
                let delay = parse_duration(d).map_err(|e| invalid("--start-delay", e))?;
                let created = env("CI_PIPELINE_CREATED_AT").ok_or_else(|| {
                    invalid("--start-delay", "needs CI_PIPELINE_CREATED_AT (set by GitLab); outside GitLab use --start-at")
                })?;
                Some(parse_time("--start-delay", &created)? + delay)
            }
            (None, None) => None,
        };
        Ok(Settings {
            engine,
            host,
            users,
            spawn_rate,
            run_time,
            rate,
            ramp,
            warmup,
            shard,
            start_at,
            profile: args.profile.clone(),
            progress_every: Duration::from_secs(args.progress.unwrap_or(5)),
            gate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RunArgs {
        RunArgs {
            scenario: Some("s.yml".into()),
            host: Some("http://127.0.0.1:1".into()),
            ..RunArgs::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_apply_and_say_so() {
        let s = Settings::from_args(&args(), &no_env, None).unwrap();
        assert_eq!(s.users, DEFAULT_USERS);
        assert!(s.gate.default_thresholds);
        assert_eq!(s.gate.thresholds[0].source, "error_rate<1%");
        assert_eq!(s.gate.out, PathBuf::from("loadforge-gate"));
    }

    #[test]
    fn rule_lists_accept_a_json_array_from_a_component_input() {
        let a = RunArgs {
            thresholds: vec![r#"["p95<500ms", "GET /a: p99<1s"]"#.into(), " ".into()],
            ..args()
        };
        let s = Settings::from_args(&a, &no_env, None).unwrap();
        let exprs: Vec<&str> = s
            .gate
            .thresholds
            .iter()
            .map(|t| t.source.as_str())
            .collect();
        assert_eq!(exprs, ["p95<500ms", "GET /a: p99<1s"]);
        let a = RunArgs {
            thresholds: vec!["[]".into()],
            ..args()
        };
        assert!(
            Settings::from_args(&a, &no_env, None)
                .unwrap()
                .gate
                .default_thresholds
        );
        let a = RunArgs {
            thresholds: vec!["[1, 2".into()],
            ..args()
        };
        assert!(Settings::from_args(&a, &no_env, None).is_err());
    }

    #[test]
    fn target_host_is_the_fallback() {
        let mut a = args();
        a.host = None;
        let env = |k: &str| (k == "TARGET_HOST").then(|| "https://staging.example.com".to_string());
        let s = Settings::from_args(&a, &env, None).unwrap();
        assert_eq!(s.host.as_str(), "https://staging.example.com/");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (tweak, needle) in [
            (
                RunArgs {
                    host: Some("not a url".into()),
                    ..args()
                },
                "--host",
            ),
            (
                RunArgs {
                    host: Some("ftp://x".into()),
                    ..args()
                },
                "--host",
            ),
            (
                RunArgs {
                    run_time: Some("0s".into()),
                    ..args()
                },
                "--run-time",
            ),
            (
                RunArgs {
                    users: Some(0),
                    ..args()
                },
                "--users",
            ),
            (
                RunArgs {
                    spawn_rate: Some(-1.0),
                    ..args()
                },
                "--spawn-rate",
            ),
            (
                RunArgs {
                    thresholds: vec!["p95<<3".into()],
                    ..args()
                },
                "p95<<3",
            ),
        ] {
            let err = Settings::from_args(&tweak, &no_env, None).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
