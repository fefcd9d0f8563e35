//! Raw arguments + environment + config file -> validated [`Settings`], before any I/O beyond
//! reading the config file. Precedence: flag > environment variable > `TARGET_HOST` and
//! `LOADFORGE_TEST_ID` (for `--host` and `--loadforge-test-id`) > profile > config file >
//! built-in default (`crate::defaults`). "Not given" is `None` all the way down; a value that
//! cannot work (a zero wait, a negative rate) is refused here, naming its flag.

mod args;
mod config;
mod engines;
mod layer;
mod load;
mod paired;
mod values;

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use url::Url;

pub(crate) use config::ConfigFile;
pub use engines::{EngineSettings, K6Settings, LoadForgeSettings, LocustSettings, NativeSettings};
pub(crate) use layer::Layer;
pub(crate) use load::{parse_host, too_few_users};
pub use paired::PairedSettings;

use crate::{
    ci::CiContext,
    cli::{JudgeArgs, RunArgs},
    defaults,
    gate::{self, GateError, Regression, Rules, Threshold},
    modes::{BaselineSource, CommentMode, EngineKind, PipelinesMode},
    proxy::{self, Proxy, ProxyError},
    secret::Secret,
    stats::ShardInfo,
    tls::ClientNet,
    yaml::{self, YamlBudget},
};

/// Reads environment variables that clap does not handle (`TARGET_HOST`, `CI_*`, tokens);
/// injected so tests stay hermetic.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Every key a config file (`loadforge-gate.yml`) or one of its profiles may hold, in the order
/// the flags are declared: what the documentation's key list and the component must agree with.
pub fn config_keys() -> &'static [&'static str] {
    layer::config_keys()
}

/// Why the arguments, variables and config file do not make valid settings: always a usage
/// error (exit 2), each message naming the flag or file to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {}; check the --config path", path.display())]
    ConfigRead {
        /// The file given or found.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML, or holds a key or value no setting accepts.
    #[error("config file {} is not valid{}", path.display(), section.map(|s| format!(" (in `{s}`)")).unwrap_or_default())]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The part of the file at fault, when not the top level.
        section: Option<&'static str>,
        /// The parser's error, with its line and column.
        #[source]
        source: crate::yaml::YamlError,
    },
    /// The config file is YAML but not a mapping of settings (a list, a bare value).
    #[error("config file {}: the top level must be a mapping of settings", path.display())]
    ConfigShape {
        /// The config file.
        path: PathBuf,
    },
    /// `--profile` names a profile the config file does not define.
    #[error("profile `{name}` is not defined in {}; defined profiles: {known}", path.display())]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The config file.
        path: PathBuf,
        /// The profiles it does define, listed for the message.
        known: String,
    },
    /// `--profile` (the name given) without a config file to take it from.
    #[error("--profile {0} was given but there is no config file; create loadforge-gate.yml or pass --config FILE")]
    ProfileWithoutConfig(String),
    /// A value, or a combination of values, that cannot work (a zero wait, a malformed URL,
    /// `--rate` with the Locust engine).
    #[error("{setting}: {message}")]
    Invalid {
        /// The flag (or variable) at fault, as the user would write it.
        setting: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// A setting the chosen engine cannot do without: the flag, then how to give it.
    #[error("{0} is required; {1}")]
    Missing(&'static str, &'static str),
    /// A threshold or regression rule that does not parse.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// A proxy variable this client cannot use.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// Everything a `run` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The engine that makes the load, with what only it needs.
    pub engine: EngineSettings,
    pub(crate) host: Url,
    /// `--target-id`: the team's name for the system under test, compared instead of the host
    /// when a baseline names one too.
    pub(crate) target_id: Option<String>,
    /// Concurrent virtual users of the whole run (a shard runs its share).
    pub users: u32,
    /// Users started per second while ramping up (a shard uses its share).
    pub spawn_rate: f64,
    /// How long the load runs, warm-up included.
    pub run_time: Duration,
    /// Open model: task iterations per second (native and k6 engines).
    pub(crate) rate: Option<f64>,
    /// Open model: the rate rises from zero over this long (zero: no ramp).
    pub(crate) ramp: Duration,
    /// Requests of this first stretch are left out of the verdict (zero: none).
    pub(crate) warmup: Duration,
    /// How often a progress line is printed; `None` prints none.
    pub(crate) progress_every: Option<Duration>,
    /// Set when this process runs one shard of a larger run.
    pub(crate) shard: Option<ShardInfo>,
    /// Wall-clock time to start the load at (shards overlap by starting together).
    pub(crate) start_at: Option<SystemTime>,
    /// The forward proxy to the target, from the proxy variables (none with `--no-proxy`).
    pub(crate) proxy: Option<Proxy>,
    /// A paired run (`--compare-host`): the base measured beside the target.
    pub(crate) paired: Option<PairedSettings>,
    /// The forward proxy to the base, chosen for its own host as the target's is.
    pub(crate) compare_proxy: Option<Proxy>,
    /// How the result is judged and published.
    pub gate: GateSettings,
    /// What the scenario's YAML may make the parser do.
    pub(crate) yaml: YamlBudget,
}

/// What judging and publishing need, apart from how the load was made: also what `merge`
/// needs, which judges shards it did not run.
#[derive(Debug, Clone)]
pub struct GateSettings {
    /// Absolute limits on this run (`p95<500ms`), or the built-in ones when none are given.
    pub thresholds: Rules<Threshold>,
    pub(crate) regressions: Rules<Regression>,
    /// Where the run to compare against comes from.
    pub baseline: BaselineSource,
    pub(crate) out: PathBuf,
    pub(crate) ci: CiContext,
    /// When the merge-request comment is written.
    pub comment: CommentMode,
    /// Which pipelines the component runs the gate in.
    pub pipelines: PipelinesMode,
    /// `LOADFORGE_GATE_GITLAB_TOKEN`: an API token for notes and pipeline history.
    pub(crate) gitlab_token: Option<Secret>,
    pub(crate) baseline_history: usize,
    /// `--max-endpoints`: the cardinality guard's cap.
    pub(crate) max_endpoints: usize,
    /// Extra CAs and proxy choice for the GitLab (and LoadForge) API clients.
    pub(crate) net: ClientNet,
}

fn invalid(setting: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting,
        message: message.into(),
    }
}

/// What the config file and the scenario may make the YAML parser do: the flags' (or their
/// variables') budgets, the defaults elsewhere. Job-only settings, since the config file is
/// read within them.
fn yaml_budget(judge: &JudgeArgs) -> Result<YamlBudget, SettingsError> {
    const MAX_COUNT: usize = 100_000_000;
    let within = |setting: &'static str, n: Option<usize>, default: usize, max: usize| match n {
        Some(n) if n == 0 || n > max => Err(invalid(setting, format!("{n} must be 1 to {max}"))),
        n => Ok(n.unwrap_or(default)),
    };
    Ok(YamlBudget {
        nodes: within(
            "--yaml-max-nodes",
            judge.yaml_max_nodes,
            yaml::YAML_MAX_NODES,
            MAX_COUNT,
        )?,
        depth: within(
            "--yaml-max-depth",
            judge.yaml_max_depth,
            yaml::YAML_MAX_DEPTH,
            yaml::YAML_DEPTH_LIMIT,
        )?,
        aliases: within(
            "--yaml-max-aliases",
            judge.yaml_max_aliases,
            yaml::YAML_MAX_ALIASES,
            MAX_COUNT,
        )?,
    })
}

/// The config file's layer for the profile the flags choose (empty without a file).
fn file_layer(flags: &Layer, config_dir: Option<&Path>) -> Result<Layer, SettingsError> {
    let judge = &flags.judge;
    let yaml = yaml_budget(judge)?;
    let config = match (&judge.config, config_dir) {
        (Some(p), _) => Some(ConfigFile::load(p, &yaml)?),
        (None, Some(dir)) if dir.join(defaults::CONFIG_FILE).is_file() => {
            Some(ConfigFile::load(&dir.join(defaults::CONFIG_FILE), &yaml)?)
        }
        (None, _) => None,
    };
    match (&config, &judge.profile) {
        (Some(c), p) => c.layer(p.as_deref()),
        (None, Some(p)) => Err(SettingsError::ProfileWithoutConfig(p.clone())),
        (None, None) => Ok(Layer::default()),
    }
}

/// The API clients trust the system's roots, plus the CA GitLab Runner names for a
/// self-managed instance (for the GitLab calls only) and `SSL_CERT_FILE` (read again so it
/// adds to the system's roots).
fn client_net(l: &Layer, env: Env<'_>) -> ClientNet {
    ClientNet {
        ca_files: [crate::tls::GITLAB_CA_FILE, "SSL_CERT_FILE"]
            .into_iter()
            .filter_map(|v| {
                env(v)
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| (v, PathBuf::from(p)))
            })
            .collect(),
        no_proxy: l.judge.no_proxy.unwrap_or(false),
    }
}

/// `--baseline-history`, at most [`defaults::MAX_BASELINE_HISTORY`]: with an API token, the
/// look-up reads one pipeline's artifact per run asked for, and every run grows results.json.
fn baseline_history(n: Option<usize>) -> Result<usize, SettingsError> {
    const MAX: usize = defaults::MAX_BASELINE_HISTORY;
    match n {
        Some(n) if n > MAX => Err(invalid(
            "--baseline-history",
            format!("{n} runs is more than the history keeps; give at most {MAX}"),
        )),
        n => Ok(n.unwrap_or(defaults::BASELINE_HISTORY)),
    }
}

impl GateSettings {
    /// The judging part alone (for `merge`): no engine, host or scenario needed.
    pub(crate) fn from_args(
        judge: &JudgeArgs,
        env: Env<'_>,
        config_dir: Option<&Path>,
    ) -> Result<GateSettings, SettingsError> {
        let flags = args::judge_flags(judge)?;
        let file = file_layer(&flags, config_dir)?;
        Self::from_layer(&flags.over(file), env)
    }

    fn from_layer(layer: &Layer, env: Env<'_>) -> Result<GateSettings, SettingsError> {
        let l = &layer.judge;
        Ok(GateSettings {
            thresholds: gate::thresholds_or_builtin(l.thresholds.as_deref().unwrap_or_default())?,
            regressions: gate::regressions_or_builtin(
                l.regressions.as_deref().unwrap_or_default(),
            )?,
            baseline: BaselineSource::parse(l.baseline.as_deref().unwrap_or("auto")),
            out: l
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(defaults::OUT_DIR)),
            ci: CiContext::from_env(env),
            comment: l.comment.map(CommentMode::from).unwrap_or_default(),
            pipelines: l.pipelines.map(PipelinesMode::from).unwrap_or_default(),
            gitlab_token: env("LOADFORGE_GATE_GITLAB_TOKEN")
                .filter(|t| !t.trim().is_empty())
                .map(Secret::new),
            baseline_history: baseline_history(l.baseline_history)?,
            max_endpoints: match l.max_endpoints {
                Some(0) => return Err(invalid("--max-endpoints", "must be at least 1")),
                n => n.unwrap_or(defaults::MAX_ENDPOINTS),
            },
            net: client_net(layer, env),
        })
    }
}

impl Settings {
    /// `env` reads environment variables not already handled by clap (`TARGET_HOST`, GitLab's
    /// `CI_*`); `config_dir` is where the default config file is looked for (none: no default
    /// config).
    pub fn from_args(
        args: &RunArgs,
        env: Env<'_>,
        config_dir: Option<&Path>,
    ) -> Result<Settings, SettingsError> {
        let flags = args::run_flags(args, env)?;
        let file = file_layer(&flags, config_dir)?;
        let layer = flags.over(file);
        let gate = GateSettings::from_layer(&layer, env)?;
        let shape = load::LoadShape::from_layer(&layer)?;
        let engine = engines::from_layer(&layer, env, shape.run_time)?;
        shape.check_engine(&engine, &gate)?;
        // A k6 script may set its own load, which k6 splits itself; known before any load.
        let shard_users = (engine.kind() != EngineKind::K6).then_some(shape.users);
        let shard = load::shard(&layer, &gate.ci, shard_users)?;
        let start_at = load::start_at(&layer, env)?;
        let progress = values::whole_seconds(layer.load.progress, "--progress")?
            .unwrap_or(defaults::PROGRESS_EVERY);
        load::check_native_users(&engine, shape.users, shard.as_ref())?;
        let host = load::host(&layer)?;
        let target_id = load::target_id(&layer)?;
        // Only the native engine's connections to the target are ours to route; Locust and
        // LoadForge make their own.
        let paired = paired::from_layer(&layer, &engine, shape.run_time, shard.is_some())?;
        if paired.as_ref().is_some_and(|p| p.until_decisive)
            && crate::gate::UntilDecisive::of(&gate.regressions).is_none()
        {
            return Err(invalid(
                "--until-decisive",
                "no regression rule is on a metric the slices keep (p50, p95, p99, avg, error_rate, rps), so nothing could be decided; add one (`--regression 'p95 +10%'`) or drop --until-decisive",
            ));
        }
        let route = |url: &Url| match (&engine, layer.judge.no_proxy) {
            (EngineSettings::Native(_), None | Some(false)) => proxy::for_target(url, env),
            _ => Ok(None),
        };
        let proxy = route(&host)?;
        let compare_proxy = match &paired {
            Some(p) => route(&p.compare_host)?,
            None => None,
        };
        Ok(Settings {
            engine,
            host,
            target_id,
            proxy,
            paired,
            compare_proxy,
            users: shape.users,
            spawn_rate: shape.spawn_rate,
            run_time: shape.run_time,
            rate: shape.rate,
            ramp: shape.ramp,
            warmup: shape.warmup,
            shard,
            start_at,
            progress_every: (!progress.is_zero()).then_some(progress),
            gate,
            yaml: yaml_budget(&layer.judge)?,
        })
    }
}

#[cfg(test)]
mod tests;
