//! Raw command-line arguments, each CI-relevant one with its environment variable. Nothing here
//! is validated beyond what clap does: `settings` turns these into typed settings.
//!
//! The flags that are also config-file keys are declared once, in [`LoadArgs`] and
//! [`JudgeArgs`]: each struct is both what clap parses and what serde reads from a config file
//! (a field marked `#[serde(skip)]` belongs to one job and is a flag only), and `layered!`
//! gives it the stacking the settings need. Adding a setting is one field here, its default in
//! `defaults.rs` and its validation in `settings`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Deserializer};

use crate::modes::{CommentMode, EngineKind, Http2Mode, PipelinesMode};

/// Declares a struct whose fields are all `Option`s, and `over`, which stacks two of them, from
/// one list of fields: a new field cannot be forgotten in the stacking.
macro_rules! layered {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl $name {
            /// `self` wins where it says something; `below` fills the gaps.
            pub(crate) fn over(self, below: $name) -> $name {
                $name { $($field: self.$field.or(below.$field),)* }
            }
        }
    };
}

/// The command line as clap parses it, before any validation.
#[derive(Debug, Parser)]
#[command(
    name = "loadforge-gate",
    version,
    about = "A performance gate for GitLab CI: run a load test, judge it against thresholds and the previous run, publish reports.",
    after_help = crate::exit::EXIT_CODES_HELP
)]
pub struct Cli {
    /// The subcommand and its arguments.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each variant's comment is its line in `--help`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test, judge it and publish every report.
    Run(RunArgs),
    /// Start the sample app in-process, run a gate against it and publish every report.
    Demo(DemoArgs),
    /// Serve the built-in sample app (the four sample flows' endpoints) until Ctrl-C.
    SampleApp(SampleAppArgs),
    /// Diff two results files per endpoint and apply regression rules.
    Compare(CompareArgs),
    /// Re-publish every report from a results.json.
    Report(ReportArgs),
    /// Check configuration, scenario and thresholds without running anything.
    Validate(RunArgs),
    /// Start a project's first gate: write a starter scenario and loadforge-gate.yml, and print
    /// the include for .gitlab-ci.yml. Asks nothing.
    Init(InitArgs),
    /// Combine shard results exactly, then judge and publish like `run`.
    Merge(MergeArgs),
    /// GitLab Runner custom executor driver: config, prepare, run and cleanup stages.
    Executor(ExecutorArgs),
}

/// `executor`: one stage of GitLab Runner's custom executor protocol, and where its state lives.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    /// The stage GitLab Runner calls.
    #[command(subcommand)]
    pub(crate) stage: ExecutorStage,
    /// Where the host lock and each job's files live.
    #[arg(
        long,
        global = true,
        env = "LOADFORGE_GATE_EXECUTOR_DIR",
        value_name = "DIR",
        default_value = "/tmp/loadforge-gate-executor"
    )]
    pub(crate) state_dir: PathBuf,
}

/// The custom executor's stages (`config_exec`, `prepare_exec`, `run_exec`, `cleanup_exec`).
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum ExecutorStage {
    /// Print the JSON configuration GitLab Runner reads (config_exec).
    Config,
    /// Take the host lock, measure how quiet the host is, refuse a busy one (prepare_exec).
    Prepare(ExecutorPrepareArgs),
    /// Run one script GitLab Runner generated, in the job's own process group (run_exec).
    Run {
        /// The script file GitLab Runner wrote.
        script: PathBuf,
        /// The stage's name (prepare_script, get_sources, build_script, ...).
        stage: String,
        #[command(flatten)]
        grace: ExecutorGraceArgs,
    },
    /// End the job's processes, release the lock, remove the job's files (cleanup_exec).
    Cleanup(ExecutorGraceArgs),
}

/// `executor run|cleanup`: how long the job's processes get to stop after a SIGTERM.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExecutorGraceArgs {
    /// After a SIGTERM (the Runner's timeout or cancel, or cleanup), how long the job's
    /// processes get to stop on their own before SIGKILL: a gate stops its load (Locust within
    /// --stop-timeout, 10s, plus a 10s margin) and writes its partial reports. Keep it below
    /// config.toml's graceful_kill_timeout.
    #[arg(
        long,
        env = "LOADFORGE_GATE_EXECUTOR_TERM_GRACE",
        default_value = "30s"
    )]
    pub(crate) term_grace: String,
}

/// `executor prepare`: how long to wait for the host and how quiet it must be.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExecutorPrepareArgs {
    /// Longest wait for another job's host lock before failing as a system failure.
    #[arg(long, env = "LOADFORGE_GATE_EXECUTOR_LOCK_WAIT", default_value = "10m")]
    pub(crate) lock_wait: String,
    /// A holder of the host that shows no sign of life this long (no heartbeat from its
    /// stages, none of its processes running) is taken to be a runner that died, and its lock
    /// is taken over. Formerly --lock-ttl.
    #[arg(
        long,
        alias = "lock-ttl",
        env = "LOADFORGE_GATE_EXECUTOR_LOCK_STALE",
        default_value = "2m"
    )]
    pub(crate) lock_stale: String,
    /// How long to watch the host before judging its quietness.
    #[arg(long, env = "LOADFORGE_GATE_EXECUTOR_WINDOW", default_value = "3s")]
    pub(crate) window: String,
    /// Refuse the host when other processes use more CPU than this, in percent of one core.
    #[arg(
        long,
        env = "LOADFORGE_GATE_EXECUTOR_MAX_OTHER_CPU",
        default_value_t = 50.0
    )]
    pub(crate) max_other_cpu: f64,
    /// Refuse the host when the hypervisor steals more than this percentage of CPU time.
    #[arg(long, env = "LOADFORGE_GATE_EXECUTOR_MAX_STEAL", default_value_t = 5.0)]
    pub(crate) max_steal: f64,
}

/// `merge`: the shard results to combine, then how to judge the whole.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Shard results (shard-I-of-N.json files, directories holding them, or a job's out folder
    /// with its `shards/`).
    #[arg(required = true, value_name = "SHARD.json")]
    pub(crate) shards: Vec<PathBuf>,
    /// Judging and publishing flags, as for `run`.
    #[command(flatten)]
    pub(crate) judge: JudgeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EngineArg {
    /// The embedded Rust engine driven by a YAML scenario.
    Native,
    /// Real Locust running the team's locustfile.
    Locust,
    /// The real k6 binary running the team's k6 script.
    K6,
    /// Dispatch to the LoadForge cloud (LOADFORGE_API_TOKEN, LOADFORGE_TEST_ID).
    Loadforge,
}

impl From<EngineArg> for EngineKind {
    fn from(e: EngineArg) -> EngineKind {
        match e {
            EngineArg::Native => EngineKind::Native,
            EngineArg::Locust => EngineKind::Locust,
            EngineArg::K6 => EngineKind::K6,
            EngineArg::Loadforge => EngineKind::LoadForge,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CommentArg {
    /// On the merge request the pipeline is for (a branch pipeline's: the one open from its
    /// branch), when LOADFORGE_GATE_GITLAB_TOKEN is set.
    Auto,
    /// On every open merge request from the branch, in a branch pipeline.
    Always,
    /// Never.
    Never,
}

/// Which pipelines the component's rules run the gate in (its `pipelines` input); the gate
/// reads it to say when that choice leaves merge requests without a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PipelinesArg {
    /// Branch and tag pipelines: a branch pipeline speaks for the merge request open from it.
    Branch,
    /// Merge-request pipelines, and branch pipelines of branches without one.
    MergeRequest,
    /// Only the `rules` input decides.
    Custom,
}

impl From<PipelinesArg> for PipelinesMode {
    fn from(p: PipelinesArg) -> PipelinesMode {
        match p {
            PipelinesArg::Branch => PipelinesMode::Branch,
            PipelinesArg::MergeRequest => PipelinesMode::MergeRequest,
            PipelinesArg::Custom => PipelinesMode::Custom,
        }
    }
}

/// `--http2`: whether the native engine speaks HTTP/2 (see [`Http2Mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Http2Arg {
    /// Over TLS, offer h2 and http/1.1 by ALPN and speak what the server picks.
    Auto,
    /// HTTP/2 only: by ALPN over TLS, by prior knowledge over plain http.
    Always,
    /// HTTP/1.1 only.
    Never,
}

impl From<Http2Arg> for Http2Mode {
    fn from(h: Http2Arg) -> Http2Mode {
        match h {
            Http2Arg::Auto => Http2Mode::Auto,
            Http2Arg::Always => Http2Mode::Always,
            Http2Arg::Never => Http2Mode::Never,
        }
    }
}

impl From<CommentArg> for CommentMode {
    fn from(c: CommentArg) -> CommentMode {
        match c {
            CommentArg::Auto => CommentMode::Auto,
            CommentArg::Always => CommentMode::Always,
            CommentArg::Never => CommentMode::Never,
        }
    }
}

/// `run` and `validate`: how the load is made, then how it is judged.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// How the load is generated.
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// How the result is judged and published.
    #[command(flatten)]
    pub(crate) judge: JudgeArgs,
}

layered! {
    /// Flags that shape the load: used by `run` and `validate`, never by `merge`. Also the load
    /// keys of a config file (the field names), except the job-only ones (`serde(skip)`).
    #[derive(Debug, Clone, Default, Args, Deserialize)]
    #[command(next_help_heading = "Load")]
    #[serde(deny_unknown_fields)]
    pub(crate) struct LoadArgs {
        /// Load engine.
        #[arg(long, env = "LOADFORGE_GATE_ENGINE", value_enum)]
        pub(crate) engine: Option<EngineArg>,
        /// Native scenario file (YAML).
        #[arg(long, env = "LOADFORGE_GATE_SCENARIO", value_name = "FILE")]
        pub(crate) scenario: Option<PathBuf>,
        /// Locustfile for the locust engine.
        #[arg(long, env = "LOADFORGE_GATE_LOCUSTFILE", value_name = "FILE")]
        pub(crate) locustfile: Option<PathBuf>,
        /// Extra argument passed to Locust as is, repeatable (env: `;`-separated).
        // Its value may carry a credential (a header, a password), so --help never shows it.
        #[arg(
            long = "locust-arg",
            env = "LOADFORGE_GATE_LOCUST_ARGS",
            hide_env_values = true,
            value_name = "ARG",
            value_delimiter = ';',
            allow_hyphen_values = true
        )]
        pub(crate) locust_args: Option<Vec<String>>,
        /// The locust executable [default: locust on PATH].
        #[arg(long, env = "LOADFORGE_GATE_LOCUST_BIN", value_name = "PATH")]
        pub(crate) locust_bin: Option<PathBuf>,
        /// k6 script for the k6 engine [falls back to K6_TEST_FILE, the variable of GitLab's
        /// Load-Performance-Testing template].
        #[arg(long, env = "LOADFORGE_GATE_K6_SCRIPT", value_name = "FILE")]
        pub(crate) k6_script: Option<PathBuf>,
        /// The k6 executable [default: k6 on PATH].
        #[arg(long, env = "LOADFORGE_GATE_K6_BIN", value_name = "PATH")]
        pub(crate) k6_bin: Option<PathBuf>,
        /// Extra argument passed to `k6 run` as is, repeatable (env: `;`-separated) [falls back
        /// to K6_OPTIONS, split at spaces, as GitLab's Load-Performance-Testing template does].
        // Its value may carry a credential (`-e TOKEN=...`), so --help never shows it.
        #[arg(
            long = "k6-arg",
            env = "LOADFORGE_GATE_K6_ARGS",
            hide_env_values = true,
            value_name = "ARG",
            value_delimiter = ';',
            allow_hyphen_values = true
        )]
        pub(crate) k6_args: Option<Vec<String>>,
        /// Locust distributed mode on this host: a master and N worker processes.
        #[arg(long, env = "LOADFORGE_GATE_WORKERS", value_name = "N")]
        pub(crate) workers: Option<u32>,
        /// Locust distributed mode across hosts: the master waits for N workers started elsewhere.
        #[arg(long, env = "LOADFORGE_GATE_REMOTE_WORKERS", value_name = "N")]
        pub(crate) remote_workers: Option<u32>,
        /// Seconds the Locust master waits for its workers before failing [default: 60].
        #[arg(long, env = "LOADFORGE_GATE_WORKERS_MAX_WAIT", value_name = "SECS")]
        pub(crate) workers_max_wait: Option<u64>,
        /// Seconds Locust gives users to finish their task when stopping [default: 10].
        #[arg(long, env = "LOADFORGE_GATE_STOP_TIMEOUT", value_name = "SECS")]
        pub(crate) stop_timeout: Option<u64>,
        /// LoadForge test to start [falls back to LOADFORGE_TEST_ID, the variable LoadForge's own
        /// CI examples use].
        #[arg(long, env = "LOADFORGE_GATE_LOADFORGE_TEST_ID", value_name = "ID")]
        pub(crate) loadforge_test_id: Option<String>,
        /// LoadForge API base URL [default: https://app.loadforge.com].
        // A URL may carry credentials, which every message redacts: --help does not show it.
        #[arg(
            long,
            env = "LOADFORGE_GATE_LOADFORGE_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        pub(crate) loadforge_url: Option<String>,
        /// How often to poll a LoadForge run [default: 15s].
        #[arg(long, env = "LOADFORGE_GATE_POLL_INTERVAL", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) poll_interval: Option<String>,
        /// Longest wait for a LoadForge run to finish [default: run time + 15m].
        #[arg(long, env = "LOADFORGE_GATE_MAX_WAIT", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) max_wait: Option<String>,
        /// Target base URL, e.g. https://review-123.example.com (also read from TARGET_HOST).
        // A URL may carry credentials, which every message redacts: --help does not show it.
        #[arg(
            long,
            env = "LOADFORGE_GATE_HOST",
            hide_env_values = true,
            value_name = "URL"
        )]
        pub(crate) host: Option<String>,
        /// Names the system under test (e.g. shop-staging): a run and its baseline that both
        /// name one are compared by it instead of by their --host, so two addresses of one
        /// system stay comparable.
        #[arg(long, env = "LOADFORGE_GATE_TARGET_ID", value_name = "ID")]
        pub(crate) target_id: Option<String>,
        /// Paired run (native engine): the base's URL, e.g. the target branch's review app,
        /// measured beside --host in the same run: the same users and load in alternating
        /// slices, each side on its own connections and cookies.
        // A URL may carry credentials, which every message redacts: --help does not show it.
        #[arg(
            long,
            env = "LOADFORGE_GATE_COMPARE_HOST",
            hide_env_values = true,
            value_name = "URL"
        )]
        pub(crate) compare_host: Option<String>,
        /// Paired run: each side's measured time per pair of slices, whole seconds [default:
        /// 1s].
        #[arg(long, env = "LOADFORGE_GATE_PAIRED_SLICE", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) paired_slice: Option<String>,
        /// Paired run: how long each side's turn lasts inside a pair; a slice must be a whole
        /// number of turns [default: 250ms].
        #[arg(long, env = "LOADFORGE_GATE_PAIRED_TURN", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) paired_turn: Option<String>,
        /// Paired run: the start of each turn left out of its figures [default: 0s].
        #[arg(long, env = "LOADFORGE_GATE_PAIRED_WARMUP", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) paired_warmup: Option<String>,
        /// Paired run: the most slices one run may have [default: 3600].
        #[arg(long, env = "LOADFORGE_GATE_PAIRED_MAX_SLICES", value_name = "N")]
        pub(crate) paired_max_slices: Option<u32>,
        /// Paired run: add slice pairs until every paired regression rule is decided, for at
        /// most this long (it takes --run-time's place) [default: empty, a run of --run-time].
        #[arg(long, env = "LOADFORGE_GATE_UNTIL_DECISIVE", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) until_decisive: Option<String>,
        /// Number of concurrent virtual users [default: 10; 0: not set, as the component's
        /// input says, so the config file's profile decides].
        #[arg(long, env = "LOADFORGE_GATE_USERS", value_name = "N")]
        pub(crate) users: Option<u32>,
        /// Users started per second [default: 10; 0: not set, as for --users].
        #[arg(long, env = "LOADFORGE_GATE_SPAWN_RATE", value_name = "N")]
        pub(crate) spawn_rate: Option<f64>,
        /// Test length: 30s, 5m, 1h30m.
        #[arg(long, env = "LOADFORGE_GATE_RUN_TIME", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) run_time: Option<String>,
        /// Open model: task iterations per second on a fixed schedule; --users is then the pool
        /// of concurrent users. The native engine measures latency from when each was due; k6
        /// runs its arrival-rate executors, which drop an iteration no user is free for.
        #[arg(long, env = "LOADFORGE_GATE_RATE", value_name = "PER_SEC")]
        pub(crate) rate: Option<f64>,
        /// Open model: raise the rate linearly from zero over this long.
        #[arg(long, env = "LOADFORGE_GATE_RAMP", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) ramp: Option<String>,
        /// Leave requests of the first DUR out of the verdict (they stay in the time series;
        /// native engine).
        #[arg(long, env = "LOADFORGE_GATE_WARMUP", value_name = "DUR")]
        #[serde(default, deserialize_with = "duration_text")]
        pub(crate) warmup: Option<String>,
        /// Run only shard I of N (e.g. 2/3): its share of the users, written for a later `merge`
        /// (k6 runs its execution segment of a load the script sets, or of the open model).
        #[arg(long, env = "LOADFORGE_GATE_SHARD", value_name = "I/N")]
        #[serde(skip)]
        pub(crate) shard: Option<String>,
        /// Identifies the run the shards belong to [default: CI_PIPELINE_ID, else "local"].
        #[arg(long, env = "LOADFORGE_GATE_RUN_ID", value_name = "ID")]
        #[serde(skip)]
        pub(crate) run_id: Option<String>,
        /// Start the load at this time (RFC 3339), so shards on several runners overlap.
        #[arg(long, env = "LOADFORGE_GATE_START_AT", value_name = "TIME")]
        #[serde(skip)]
        pub(crate) start_at: Option<String>,
        /// Start the load this long after the pipeline was created (CI_PIPELINE_CREATED_AT).
        #[arg(long, env = "LOADFORGE_GATE_START_DELAY", value_name = "DUR")]
        #[serde(skip)]
        pub(crate) start_delay: Option<String>,
        /// Threads of the native engine [default: number of CPUs].
        #[arg(long, env = "LOADFORGE_GATE_THREADS", value_name = "N")]
        pub(crate) threads: Option<usize>,
        /// HTTP/2 to the target (native engine): auto (h2 when the TLS server offers it),
        /// always (h2 only; prior knowledge over http), never; over the scenario's
        /// `defaults.http2` [default: the scenario's, else never].
        #[arg(long, env = "LOADFORGE_GATE_HTTP2", value_enum)]
        pub(crate) http2: Option<Http2Arg>,
        /// Seconds between progress lines in the log (0 for none).
        #[arg(long, env = "LOADFORGE_GATE_PROGRESS", value_name = "SECS")]
        pub(crate) progress: Option<u64>,
        /// Also trust the CA certificates of this PEM file for the target (a private CA).
        #[arg(long, env = "LOADFORGE_GATE_CA_CERT", value_name = "FILE")]
        pub(crate) ca_cert: Option<PathBuf>,
        /// Client certificate (PEM) for targets that require mutual TLS; needs --client-key.
        #[arg(long, env = "LOADFORGE_GATE_CLIENT_CERT", value_name = "FILE")]
        pub(crate) client_cert: Option<PathBuf>,
        /// Private key (PEM) of --client-cert.
        #[arg(long, env = "LOADFORGE_GATE_CLIENT_KEY", value_name = "FILE")]
        pub(crate) client_key: Option<PathBuf>,
        /// Do not verify the target's TLS certificate; every report then says so. Never for
        /// production.
        // A switch: clap fills in `Some(false)` when it is absent, which the settings read as
        // "not given", so a config file's `insecure: true` still applies.
        #[arg(long, env = "LOADFORGE_GATE_INSECURE", action = ArgAction::SetTrue)]
        pub(crate) insecure: Option<bool>,
    }
}

layered! {
    /// Flags that judge and publish a result: shared by `run`, `validate` and `merge`. Also the
    /// judging keys of a config file, except the job-only ones (`serde(skip)`).
    #[derive(Debug, Clone, Default, Args, Deserialize)]
    #[command(next_help_heading = "Judging and publishing")]
    #[serde(deny_unknown_fields)]
    pub(crate) struct JudgeArgs {
        /// Threshold, repeatable: `p95<500ms`, `error_rate<1%`, `GET /api/*: p99<1s` (env: `;`-separated).
        #[arg(
            long = "threshold",
            env = "LOADFORGE_GATE_THRESHOLD",
            value_name = "EXPR"
        )]
        pub(crate) thresholds: Option<Vec<String>>,
        /// Regression rule against the baseline, repeatable: `p95 +20% +10ms`, `rps -10%` (env: `;`-separated).
        #[arg(
            long = "regression",
            env = "LOADFORGE_GATE_REGRESSION",
            value_name = "EXPR"
        )]
        pub(crate) regressions: Option<Vec<String>>,
        /// Baseline results: a results.json path, `auto` (previous pipeline in GitLab) or `none`.
        #[arg(long, env = "LOADFORGE_GATE_BASELINE", value_name = "FILE|auto|none")]
        pub(crate) baseline: Option<String>,
        /// Runs kept in the run history that regressions are judged by (default 20, at most
        /// 100); with LOADFORGE_GATE_GITLAB_TOKEN and a baseline that carries no history,
        /// pipelines read.
        #[arg(long, env = "LOADFORGE_GATE_BASELINE_HISTORY", value_name = "N")]
        pub(crate) baseline_history: Option<usize>,
        /// Distinct endpoint names kept; the least busy past it are counted as one
        /// `(other endpoints)` row, with a warning saying how to name them [default: 1000].
        #[arg(long, env = "LOADFORGE_GATE_MAX_ENDPOINTS", value_name = "N")]
        pub(crate) max_endpoints: Option<usize>,
        /// Merge-request comment: auto (the MR the pipeline is for, when
        /// LOADFORGE_GATE_GITLAB_TOKEN is set), always (every open MR from the branch), never.
        #[arg(long, env = "LOADFORGE_GATE_COMMENT", value_enum)]
        pub(crate) comment: Option<CommentArg>,
        /// The pipelines the component runs the gate in (its `pipelines` input): branch,
        /// merge-request or custom; the gate says when that leaves merge requests ungated.
        #[arg(long, env = "LOADFORGE_GATE_PIPELINES", value_enum)]
        pub(crate) pipelines: Option<PipelinesArg>,
        /// Output directory for every report [default: loadforge-gate/].
        #[arg(long, env = "LOADFORGE_GATE_OUT", value_name = "DIR")]
        pub(crate) out: Option<PathBuf>,
        /// Config file [default: ./loadforge-gate.yml when present].
        #[arg(long, env = "LOADFORGE_GATE_CONFIG", value_name = "FILE")]
        #[serde(skip)]
        pub(crate) config: Option<PathBuf>,
        /// Named profile of the config file (e.g. smoke, load, stress).
        #[arg(long, env = "LOADFORGE_GATE_PROFILE", value_name = "NAME")]
        #[serde(skip)]
        pub(crate) profile: Option<String>,
        /// The most nodes the config file or the scenario may hold [default: 4000000].
        #[arg(long, env = "LOADFORGE_GATE_YAML_MAX_NODES", value_name = "N")]
        #[serde(skip)]
        pub(crate) yaml_max_nodes: Option<usize>,
        /// How deep the config file's or the scenario's YAML may nest [default: 128, at most
        /// 1000].
        #[arg(long, env = "LOADFORGE_GATE_YAML_MAX_DEPTH", value_name = "N")]
        #[serde(skip)]
        pub(crate) yaml_max_depth: Option<usize>,
        /// The most nodes YAML aliases (`*name`) may repeat in the config file or the scenario,
        /// all together [default: 1000000].
        #[arg(long, env = "LOADFORGE_GATE_YAML_MAX_ALIASES", value_name = "N")]
        #[serde(skip)]
        pub(crate) yaml_max_aliases: Option<usize>,
        /// Ignore HTTP_PROXY, HTTPS_PROXY and NO_PROXY: connect directly to the target, GitLab and
        /// LoadForge.
        // A switch, like --insecure: absent is `Some(false)`, read as "not given".
        #[arg(long, env = "LOADFORGE_GATE_NO_PROXY", action = ArgAction::SetTrue)]
        pub(crate) no_proxy: Option<bool>,
    }
}

/// A duration as the user wrote it: YAML reads `run_time: 30` as a number, which is taken as
/// seconds, like the flag's `30`. Parsed when the settings are validated, so the error can name
/// the setting.
fn duration_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(f64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|raw| match raw {
        Raw::Text(t) => t,
        Raw::Number(n) => n.to_string(),
    }))
}

/// `demo`: which sample flow to run against the in-process sample app, and how hard.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Which sample flow to run: login, oauth, shop or admin.
    #[arg(long, default_value = "shop")]
    pub(crate) flow: String,
    /// Output directory.
    #[arg(long, default_value = "loadforge-gate")]
    pub(crate) out: PathBuf,
    /// Test length.
    #[arg(long, default_value = "10s")]
    pub(crate) run_time: String,
    /// Virtual users.
    #[arg(long, default_value_t = 20)]
    pub(crate) users: u32,
    /// Extra thresholds.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub(crate) thresholds: Vec<String>,
    /// Sample-app latency in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub(crate) latency_ms: u64,
}

/// `sample-app`: where to listen, and how slow or failing to be.
#[derive(Debug, Clone, Args)]
pub struct SampleAppArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Added latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) latency_ms: u64,
    /// Random extra latency up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) jitter_ms: u64,
    /// CPU time burned per request, in microseconds: a build whose requests cost more CPU.
    #[arg(long, default_value_t = 0)]
    pub(crate) cpu_us: u64,
    /// Fraction of requests (0..1) answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) error_rate: f64,
    /// Extra latency for matching paths, repeatable: `/api/catalog/search=200`.
    #[arg(long = "slow-endpoint", value_name = "PATH=MS")]
    pub(crate) slow_endpoints: Vec<String>,
    /// Serve HTTPS with a private CA made at start; its certificate is written to
    /// `sample-app-ca.pem` in --tls-dir, for the gate's --ca-cert.
    #[arg(long)]
    pub(crate) tls: bool,
    /// Where --tls writes the CA certificate.
    #[arg(long, value_name = "DIR", default_value = ".", requires = "tls")]
    pub(crate) tls_dir: PathBuf,
}

/// `compare`: the two results files and the regression rules to apply.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    pub(crate) baseline: PathBuf,
    pub(crate) current: PathBuf,
    /// Regression rules (default: the built-in ones).
    #[arg(long = "regression", value_name = "EXPR")]
    pub(crate) regressions: Vec<String>,
}

/// `init`: the target and a few of its paths; everything else is found in the project.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Base URL of the system under test, e.g. https://review.example.com (also read from
    /// TARGET_HOST). One with a CI variable in it (https://review-$CI_COMMIT_REF_SLUG.example.com)
    /// goes into the include as it is, and is not checked.
    // A URL may carry credentials, which are refused: --help does not show its value.
    #[arg(
        long,
        env = "LOADFORGE_GATE_HOST",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) host: Option<String>,
    /// A path the starter scenario requests, repeatable: `/api/health`, `"POST /login"`; each
    /// is tried once on the host (GET and HEAD only) and flagged when it fails [default: /].
    #[arg(long = "path", value_name = "[METHOD] PATH")]
    pub(crate) paths: Vec<String>,
    /// The project's directory: where the files are written and .gitlab-ci.yml is read.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Overwrite perf/scenario.yml and loadforge-gate.yml when they exist.
    #[arg(long)]
    pub(crate) force: bool,
    /// The include's `pipelines` input [default: merge-request when .gitlab-ci.yml's
    /// workflow:rules create merge-request pipelines, else branch].
    #[arg(long, value_enum)]
    pub(crate) pipelines: Option<InitPipelinesArg>,
}

/// Which pipelines the gate joins (the component's `pipelines` input), as `init` writes it:
/// `custom` needs rules of the user's own, which `init` cannot guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InitPipelinesArg {
    /// Branch and tag pipelines (the component's default).
    Branch,
    /// Merge-request pipelines, for a project whose workflow:rules create them.
    MergeRequest,
}

/// `report`: the results file to publish from, and where to.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    pub(crate) results: PathBuf,
    #[arg(long, default_value = "loadforge-gate")]
    pub(crate) out: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap's own checks of every declaration (a name used twice, a switch given a value).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// A switch left off says nothing, so the layer below it still counts; one given wins.
    #[test]
    fn switches_stack_like_every_other_field() {
        let on = LoadArgs {
            insecure: Some(true),
            ..LoadArgs::default()
        };
        let off = LoadArgs {
            insecure: Some(false),
            ..LoadArgs::default()
        };
        assert_eq!(LoadArgs::default().over(on.clone()).insecure, Some(true));
        assert_eq!(off.over(on).insecure, Some(false));
    }

    #[test]
    fn a_duration_in_a_file_may_be_a_number_of_seconds() {
        let a: LoadArgs = crate::yaml::from_str("run_time: 30\nwarmup: 1.5\nramp: 5s\n").unwrap();
        assert_eq!(
            (
                a.run_time.as_deref(),
                a.warmup.as_deref(),
                a.ramp.as_deref()
            ),
            (Some("30"), Some("1.5"), Some("5s"))
        );
    }
}
