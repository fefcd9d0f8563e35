//! Per-engine settings, each built by its own function from the stacked [`Layer`].

use std::{path::PathBuf, time::Duration};

use url::Url;

use super::{
    invalid,
    values::{duration, parse_http_url, whole_seconds},
    Env, Layer, SettingsError,
};
use crate::{
    chain::one_line,
    cli::{Http2Arg, LoadArgs},
    defaults,
    modes::{EngineKind, Http2Mode},
    secret::Secret,
    tls::{self, TlsOptions},
};

/// The engine and what only it needs.
#[derive(Debug, Clone)]
pub enum EngineSettings {
    /// The embedded engine, driven by a YAML scenario.
    Native(NativeSettings),
    /// Real Locust running the team's locustfile.
    Locust(LocustSettings),
    /// The real k6 binary running the team's k6 script.
    K6(K6Settings),
    /// A test dispatched to the LoadForge cloud.
    LoadForge(LoadForgeSettings),
}

impl EngineSettings {
    /// Which engine these settings are for.
    pub(crate) fn kind(&self) -> EngineKind {
        match self {
            EngineSettings::Native(_) => EngineKind::Native,
            EngineSettings::Locust(_) => EngineKind::Locust,
            EngineSettings::K6(_) => EngineKind::K6,
            EngineSettings::LoadForge(_) => EngineKind::LoadForge,
        }
    }
}

/// The native engine's scenario file and how many threads drive it.
#[derive(Debug, Clone)]
pub struct NativeSettings {
    pub(crate) scenario: PathBuf,
    pub(crate) threads: usize,
    /// How TLS to the target is verified, and the client certificate offered.
    pub(crate) tls: TlsOptions,
    /// `--http2`, which wins over the scenario's `defaults.http2`; unset, the scenario decides.
    pub(crate) http2: Option<Http2Mode>,
}

/// Which locustfile and locust executable to run, with its distributed mode and stop timing.
#[derive(Debug, Clone)]
pub struct LocustSettings {
    pub(crate) locustfile: PathBuf,
    pub(crate) bin: PathBuf,
    pub(crate) extra_args: Vec<String>,
    pub(crate) workers: Option<u32>,
    pub(crate) remote_workers: Option<u32>,
    pub(crate) workers_max_wait: Duration,
    pub(crate) stop_timeout: Duration,
}

/// Which k6 script and k6 executable to run, and what else to pass to `k6 run`.
#[derive(Debug, Clone)]
pub struct K6Settings {
    pub(crate) script: PathBuf,
    pub(crate) bin: PathBuf,
    pub(crate) extra_args: Vec<String>,
}

/// Where the LoadForge API is, which test to start with which token, and how long to wait.
#[derive(Debug, Clone)]
pub struct LoadForgeSettings {
    pub(crate) base_url: Url,
    pub(crate) token: Secret,
    pub(crate) test_id: String,
    pub(crate) poll_interval: Duration,
    pub(crate) max_wait: Duration,
}

/// The chosen engine's settings; `run_time` bounds the LoadForge wait by default.
pub(super) fn from_layer(
    l: &Layer,
    env: Env<'_>,
    run_time: Duration,
) -> Result<EngineSettings, SettingsError> {
    let kind = l.load.engine.map_or(EngineKind::Native, EngineKind::from);
    let l = &l.load;
    let tls_flags = l.ca_cert.is_some()
        || l.client_cert.is_some()
        || l.client_key.is_some()
        || l.insecure == Some(true);
    if kind != EngineKind::Native && tls_flags {
        return Err(invalid(
            "--ca-cert/--client-cert/--client-key/--insecure",
            "apply to the native engine only (for Locust, set REQUESTS_CA_BUNDLE to the CA file)",
        ));
    }
    if kind != EngineKind::Native && matches!(l.http2, Some(h) if h != Http2Arg::Never) {
        return Err(invalid(
            "--http2",
            "applies to the native engine only (Locust speaks HTTP/1.1; k6 and LoadForge choose by ALPN themselves)",
        ));
    }
    Ok(match kind {
        EngineKind::Native => EngineSettings::Native(native(l)?),
        EngineKind::Locust => EngineSettings::Locust(locust(l)?),
        EngineKind::K6 => EngineSettings::K6(k6(l)?),
        EngineKind::LoadForge => EngineSettings::LoadForge(loadforge(l, env, run_time)?),
    })
}

fn native(l: &LoadArgs) -> Result<NativeSettings, SettingsError> {
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
    Ok(NativeSettings {
        scenario: l.scenario.clone().ok_or(SettingsError::Missing(
            "--scenario",
            "the native engine needs a scenario file (see examples/scenarios/)",
        ))?,
        threads,
        tls: tls_options(l)?,
        http2: l.http2.map(Http2Mode::from),
    })
}

/// The target's TLS options, each file read now: a wrong path is a usage error before any
/// load, and `validate` finds it too.
fn tls_options(l: &LoadArgs) -> Result<TlsOptions, SettingsError> {
    let bad = |flag: &'static str, e: tls::TlsError, fix: &str| {
        invalid(flag, format!("{}; {fix}", one_line(&e)))
    };
    if let Some(path) = &l.ca_cert {
        tls::read_certs(path).map_err(|e| {
            bad(
                "--ca-cert",
                e,
                "give a PEM file with the CA certificate(s) that signed the target's certificate",
            )
        })?;
    }
    let client_identity = match (&l.client_cert, &l.client_key) {
        (Some(cert), Some(key)) => {
            tls::read_certs(cert)
                .map_err(|e| bad("--client-cert", e, "give the client certificate as PEM"))?;
            tls::read_key(key).map_err(|e| {
                bad(
                    "--client-key",
                    e,
                    "give the client certificate's key as PEM",
                )
            })?;
            Some((cert.clone(), key.clone()))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "--client-cert",
                "needs --client-key FILE, the certificate's private key (PEM)",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "--client-key",
                "needs --client-cert FILE, the client certificate (PEM)",
            ))
        }
    };
    Ok(TlsOptions {
        ca_cert: l.ca_cert.clone(),
        client_identity,
        insecure: l.insecure.unwrap_or(false),
    })
}

fn locust(l: &LoadArgs) -> Result<LocustSettings, SettingsError> {
    if l.workers.is_some() && l.remote_workers.is_some() {
        return Err(invalid(
            "--workers",
            "give either --workers (on this host) or --remote-workers, not both",
        ));
    }
    if l.workers == Some(0) || l.remote_workers == Some(0) {
        return Err(invalid("--workers", "must be at least 1"));
    }
    let workers_max_wait = whole_seconds(l.workers_max_wait, "--workers-max-wait")?
        .unwrap_or(defaults::LOCUST_WORKERS_MAX_WAIT);
    if workers_max_wait.is_zero() {
        return Err(invalid(
            "--workers-max-wait",
            "must be at least 1 second; the master needs time for its workers to connect",
        ));
    }
    Ok(LocustSettings {
        locustfile: l.locustfile.clone().ok_or(SettingsError::Missing(
            "--locustfile",
            "the locust engine needs a locustfile (see examples/locustfiles/)",
        ))?,
        bin: locust_bin(l.locust_bin.clone()),
        extra_args: l.locust_args.clone().unwrap_or_default(),
        workers: l.workers,
        remote_workers: l.remote_workers,
        workers_max_wait,
        stop_timeout: whole_seconds(l.stop_timeout, "--stop-timeout")?
            .unwrap_or(defaults::LOCUST_STOP_TIMEOUT),
    })
}

fn k6(l: &LoadArgs) -> Result<K6Settings, SettingsError> {
    if l.locustfile.is_some() || l.scenario.is_some() {
        return Err(invalid(
            "--k6-script",
            "the k6 engine runs a k6 script; drop --scenario and --locustfile",
        ));
    }
    let script = l.k6_script.clone().ok_or(SettingsError::Missing(
        "--k6-script",
        "the k6 engine needs a k6 script (see examples/k6/), or K6_TEST_FILE",
    ))?;
    Ok(K6Settings {
        script,
        bin: executable(l.k6_bin.clone(), defaults::K6_BIN),
        extra_args: l.k6_args.clone().unwrap_or_default(),
    })
}

/// The locust executable: a bare name is looked up on `PATH`; a relative path is this
/// directory's, not Locust's working directory (where it runs, it would not be found).
fn locust_bin(given: Option<PathBuf>) -> PathBuf {
    executable(given, defaults::LOCUST_BIN)
}

/// An engine's executable: `default` on `PATH` when none is given; a relative path is this
/// directory's (the engine may run elsewhere).
fn executable(given: Option<PathBuf>, default: &str) -> PathBuf {
    match given {
        Some(p) if p.is_relative() && p.components().count() > 1 => {
            std::env::current_dir().map(|cwd| cwd.join(&p)).unwrap_or(p)
        }
        Some(p) => p,
        None => PathBuf::from(default),
    }
}

fn loadforge(
    l: &LoadArgs,
    env: Env<'_>,
    run_time: Duration,
) -> Result<LoadForgeSettings, SettingsError> {
    let poll_interval =
        duration(&l.poll_interval, "--poll-interval")?.unwrap_or(defaults::LOADFORGE_POLL_INTERVAL);
    let max_wait =
        duration(&l.max_wait, "--max-wait")?.unwrap_or(run_time + defaults::LOADFORGE_WAIT_MARGIN);
    for (setting, value) in [("--poll-interval", poll_interval), ("--max-wait", max_wait)] {
        if value.is_zero() {
            return Err(invalid(setting, "must be positive, e.g. 15s or 20m"));
        }
    }
    Ok(LoadForgeSettings {
        base_url: loadforge_url(l.loadforge_url.as_deref())?,
        token: loadforge_token(env)?,
        test_id: l
            .loadforge_test_id
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or(SettingsError::Missing(
                "LOADFORGE_TEST_ID",
                "set it (or --loadforge-test-id) to the LoadForge test to start",
            ))?,
        poll_interval,
        max_wait,
    })
}

fn loadforge_token(env: Env<'_>) -> Result<Secret, SettingsError> {
    env("LOADFORGE_API_TOKEN")
        .filter(|t| !t.trim().is_empty())
        .map(Secret::new)
        .ok_or(SettingsError::Missing(
            "LOADFORGE_API_TOKEN",
            "store your LoadForge API token as a masked CI/CD variable",
        ))
}

/// The API base, with a trailing slash so relative joins keep its path. Like `--host`, it is
/// shown redacted in every message, and credentials in it are refused.
fn loadforge_url(given: Option<&str>) -> Result<Url, SettingsError> {
    let base = given.unwrap_or(defaults::LOADFORGE_URL);
    let mut url = parse_http_url(
        base,
        "--loadforge-url",
        defaults::LOADFORGE_URL,
        "which LoadForge does not take (it reads LOADFORGE_API_TOKEN) and which would show in messages; remove them",
    )?;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}
