//! The shape of the load (users, arrival, length, open model, warm-up), the target, and the
//! per-job timing of sharded runs.

use std::time::{Duration, SystemTime};

use url::Url;

use super::{
    invalid,
    values::{duration, parse_http_url},
    EngineSettings, GateSettings, Layer, SettingsError,
};
use crate::{
    ci::CiContext,
    defaults,
    duration::parse_duration,
    modes::EngineKind,
    stats::{ShardInfo, MAX_TARGET_ID},
};

/// The slowest arrival accepted (one a day): slower ones would schedule users beyond any run.
const MIN_RATE: f64 = 1.0 / 86_400.0;

/// Users, arrival and length, validated against each other.
pub(super) struct LoadShape {
    pub(crate) users: u32,
    pub(crate) spawn_rate: f64,
    pub(crate) run_time: Duration,
    pub(crate) rate: Option<f64>,
    pub(crate) ramp: Duration,
    pub(crate) warmup: Duration,
}

impl LoadShape {
    pub(crate) fn from_layer(layer: &Layer) -> Result<LoadShape, SettingsError> {
        let l = &layer.load;
        let users = l.users.unwrap_or(defaults::USERS);
        if users == 0 {
            return Err(invalid("--users", "must be at least 1"));
        }
        let spawn_rate = l.spawn_rate.unwrap_or(defaults::SPAWN_RATE);
        if !(spawn_rate.is_finite() && spawn_rate >= MIN_RATE) {
            return Err(invalid(
                "--spawn-rate",
                format!("`{spawn_rate:?}` is slower than one user a day; give a larger rate"),
            ));
        }
        let run_time = run_time(layer)?;
        let rate = match l.rate {
            Some(r) if !(r.is_finite() && r >= MIN_RATE) => {
                return Err(invalid(
                    "--rate",
                    format!("`{r:?}` is slower than one iteration a day; give a larger rate"),
                ))
            }
            r => r,
        };
        let ramp = match duration(&l.ramp, "--ramp")? {
            Some(_) if rate.is_none() => {
                return Err(invalid(
                    "--ramp",
                    "only applies to the open model; give --rate too",
                ))
            }
            ramp => ramp.unwrap_or_default(),
        };
        let warmup = duration(&l.warmup, "--warmup")?.unwrap_or_default();
        if warmup >= run_time {
            return Err(invalid(
                "--warmup",
                format!(
                    "must be shorter than the run time ({})",
                    crate::duration::format_duration(run_time)
                ),
            ));
        }
        Ok(LoadShape {
            users,
            spawn_rate,
            run_time,
            rate,
            ramp,
            warmup,
        })
    }

    /// The open model is the native and the k6 engines' (k6's arrival-rate executors); the
    /// warm-up and abort-on-fail rules are the native engine's alone.
    pub(crate) fn check_engine(
        &self,
        engine: &EngineSettings,
        gate: &GateSettings,
    ) -> Result<(), SettingsError> {
        match engine.kind() {
            EngineKind::Native => return check_abort_rules(gate, true),
            EngineKind::K6 => self.check_k6()?,
            _ if self.rate.is_some() => {
                return Err(invalid(
                    "--rate",
                    "the open model needs the native or the k6 engine",
                ))
            }
            _ => {}
        }
        if !self.warmup.is_zero() {
            return Err(invalid("--warmup", "needs the native engine"));
        }
        check_abort_rules(gate, false)
    }

    /// k6 runs the open model as a `ramping-arrival-rate` whose stages lie within the run, and
    /// has no exact warm-up: it starts its load after its own start-up (VUs, `setup()`), at a
    /// time its samples do not tell, so a warm-up cut by the gate's clock would leave out less
    /// than asked, by a varying amount; a warm-up is left to the script's own scenarios.
    fn check_k6(&self) -> Result<(), SettingsError> {
        if !self.warmup.is_zero() {
            return Err(invalid(
                "--warmup",
                "the k6 engine has no exact warm-up (k6 does not say when its load started); drop --warmup, or give the script a warm-up scenario of its own",
            ));
        }
        if self.rate.is_some() && self.ramp > self.run_time {
            return Err(invalid(
                "--ramp",
                format!(
                    "the k6 engine ramps the rate within the run; give a ramp of at most the run time ({})",
                    crate::duration::format_duration(self.run_time)
                ),
            ));
        }
        Ok(())
    }
}

/// How long the load runs: `--run-time`, or in a run until decisive its limit, which takes
/// the run time's place whether longer or shorter (a pipeline's `run-time` input is always
/// set, so the two cannot be refused together).
fn run_time(l: &Layer) -> Result<Duration, SettingsError> {
    let until = (l.load.until_decisive.as_deref()).filter(|t| !t.trim().is_empty());
    let (text, flag) = match until {
        Some(limit) => (limit, "--until-decisive"),
        None => (
            l.load.run_time.as_deref().unwrap_or(defaults::RUN_TIME),
            "--run-time",
        ),
    };
    let run_time = parse_duration(text).map_err(|e| invalid(flag, e))?;
    if run_time.is_zero() {
        return Err(invalid(
            flag,
            format!("`{text}` is zero; give a positive duration such as 30s"),
        ));
    }
    Ok(run_time)
}

/// Abort-on-fail is judged live by the native engine over all requests.
fn check_abort_rules(gate: &GateSettings, native: bool) -> Result<(), SettingsError> {
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
    Ok(())
}

/// Virtual users the native engine runs in one process. Each idle user costs about 8 KiB and
/// its schedule is made up front, so a typo (`--users 1000000000`) must not take the runner's
/// memory; beyond this, shard the run over several jobs.
pub const MAX_NATIVE_USERS: u32 = 200_000;

/// This process's share of the users must fit [`MAX_NATIVE_USERS`] for the native engine.
pub(super) fn check_native_users(
    engine: &EngineSettings,
    users: u32,
    shard: Option<&ShardInfo>,
) -> Result<(), SettingsError> {
    let share = users.div_ceil(shard.map_or(1, |s| s.count));
    if engine.kind() == EngineKind::Native && share > MAX_NATIVE_USERS {
        return Err(invalid(
            "--users",
            format!(
                "{users} users is more than one native engine runs ({MAX_NATIVE_USERS}); shard the run with --shard I/N or use fewer users"
            ),
        ));
    }
    Ok(())
}

/// The target, required.
pub(super) fn host(l: &Layer) -> Result<Url, SettingsError> {
    parse_host(l.load.host.as_deref().ok_or(SettingsError::Missing(
        "--host",
        "pass --host URL or set TARGET_HOST",
    ))?)
}

/// Checks that a host is an absolute http(s) URL with a host part and no credentials. Every
/// message shows the URL with any credentials replaced by `***`.
pub(crate) fn parse_host(text: &str) -> Result<Url, SettingsError> {
    parse_http_url(
        text,
        "--host",
        "https://review.example.com",
        "which would not be sent and would show in every report; send them as a header from a variable instead (in the scenario: `headers: {Authorization: \"Basic ${env.TARGET_AUTH}\"}`)",
    )
}

/// The team's name for the target, trimmed; blank is none (an input left empty). Every report
/// shows it on one line, so it is short and holds no control character.
pub(super) fn target_id(l: &Layer) -> Result<Option<String>, SettingsError> {
    let Some(id) = (l.load.target_id.as_deref().map(str::trim)).filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if id.len() > MAX_TARGET_ID {
        return Err(invalid(
            "--target-id",
            format!("is longer than {MAX_TARGET_ID} bytes; give a short name"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(invalid("--target-id", "holds a control character"));
    }
    Ok(Some(id.to_string()))
}

/// This job's shard, when it runs one; the run id defaults to the pipeline's. Each shard needs
/// at least one of `users` when given; the k6 engine's script may set its own load, which
/// only `k6 inspect` tells (`commands/workload.rs` checks the users when it does not).
pub(super) fn shard(
    l: &Layer,
    ci: &CiContext,
    users: Option<u32>,
) -> Result<Option<ShardInfo>, SettingsError> {
    let Some(text) = &l.load.shard else {
        return Ok(None);
    };
    let run_id = (l.load.run_id)
        .clone()
        .or_else(|| ci.pipeline_id.clone())
        .unwrap_or_else(|| "local".into());
    let shard = parse_shard(text, run_id)?;
    match users {
        Some(users) if users < shard.count => Err(too_few_users(users, shard.count)),
        _ => Ok(Some(shard)),
    }
}

/// The error of `users` too few for `count` shards.
pub(crate) fn too_few_users(users: u32, count: u32) -> SettingsError {
    invalid(
        "--shard",
        format!(
            "{users} users cannot be split into {count} shards; give at least one user per shard"
        ),
    )
}

/// Parses `I/N` (1-based).
pub(crate) fn parse_shard(text: &str, run_id: String) -> Result<ShardInfo, SettingsError> {
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
        // Filled in when the shard's file is written, with what it folded.
        folded_names: Default::default(),
    })
}

/// The common start time of a sharded run: given, or the pipeline's creation plus a delay.
pub(super) fn start_at(
    l: &Layer,
    env: super::Env<'_>,
) -> Result<Option<SystemTime>, SettingsError> {
    match (&l.load.start_at, &l.load.start_delay) {
        (Some(_), Some(_)) => Err(invalid(
            "--start-at",
            "give either --start-at or --start-delay, not both",
        )),
        (Some(t), None) => Ok(Some(parse_time("--start-at", t)?)),
        (None, Some(d)) => {
            let delay = parse_duration(d).map_err(|e| invalid("--start-delay", e))?;
            let created = env("CI_PIPELINE_CREATED_AT").ok_or_else(|| {
                invalid(
                    "--start-delay",
                    "needs CI_PIPELINE_CREATED_AT (set by GitLab); outside GitLab use --start-at",
                )
            })?;
            Ok(Some(parse_time("--start-delay", &created)? + delay))
        }
        (None, None) => Ok(None),
    }
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
