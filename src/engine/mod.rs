//! Engines turn a plan into a [`crate::stats::RunResult`]. They know nothing of gates, settings
//! or reports: a plan comes in, samples are measured, a stop signal and an optional
//! [`Watchdog`] are obeyed, a result goes out. Five live here: the native engine (`native/`),
//! real Locust (`locust/`), real k6 (`k6/`), the LoadForge cloud (`loadforge.rs`) and the exact
//! merge of shards (`merge.rs`).

pub(crate) mod health;
pub(crate) mod k6;
pub(crate) mod loadforge;
pub(crate) mod locust;
pub(crate) mod merge;
pub mod native;
pub(crate) mod progress;

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{proxy::Proxy, scenario::Scenario, stats::Totals, tls::TlsOptions};

/// Asked about once a second while a run is under way, with what has finished so far; a reason
/// returned stops the run early. The gate supplies it (abort-on-fail thresholds): the engine
/// only measures and obeys.
pub trait Watchdog: Send + Sync + std::fmt::Debug {
    /// `Some(reason)` stops the run; `elapsed` counts from the start of the load.
    fn check(&self, totals: &Totals, elapsed: Duration) -> Option<String>;
}

/// Asked in a paired run each time a slice pair has been measured, with every whole pair so
/// far; `true` stops the run there (`--until-decisive`). The gate supplies it; the engine only
/// measures and obeys. The pairs it sees carry no starvation yet (that is read from the
/// generator's seconds at the end), so a run it stops can still end not judged, never passed.
pub trait Referee: Send + Sync + std::fmt::Debug {
    /// Whether more slice pairs could still change what the checks say.
    fn decided(&self, run: &crate::stats::PairedRun) -> bool;
}

/// An underlying error, kept as the cause of an [`EngineError`] so it prints on its own line.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an engine returned no result, or only a partial one. Messages are fragments that never
/// repeat their cause's text; the cause, when there is one, is the error's `source`.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be started; the message says why (nothing underlies it).
    #[error("cannot start the engine: {0}")]
    Start(String),
    /// A step the engine needs failed because of `source`: creating its directory or log,
    /// starting or watching its process, setting up its HTTP client.
    #[error("cannot {action}")]
    Setup {
        /// What could not be done, as a verb phrase ("start `locust`").
        action: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The test definition is wrong (a locustfile that does not load): a usage error.
    #[error("{0}")]
    Config(String),
    /// The test definition or an engine setting cannot be used because of `source` (an
    /// unreadable locustfile, a LoadForge URL that does not resolve): a usage error.
    #[error("{message}")]
    Invalid {
        /// What cannot be used, and the flag or variable to check.
        message: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The engine itself is not available.
    #[error("{0}")]
    Missing(String),
    /// The engine stopped before the end; what it measured so far, if anything, comes along so
    /// it can still be published.
    #[error("{message}")]
    Crashed {
        /// What happened.
        message: String,
        /// The result up to the crash, when there is one worth publishing.
        partial: Option<Box<crate::stats::RunResult>>,
    },
    /// A cloud engine's API could not be reached, or its answer could not be read; nothing
    /// was measured.
    #[error("{message}")]
    Api {
        /// Which call, and what went wrong with it.
        message: String,
        /// The HTTP client's or the JSON parser's error.
        #[source]
        source: Cause,
    },
    /// Stopped by SIGINT/SIGTERM with nothing measured to publish.
    #[error("{0}")]
    Interrupted(String),
    /// A worker thread of the native engine panicked; the panic's message comes along.
    #[error("a worker thread of the native engine crashed: {0}")]
    WorkerPanicked(String),
}

/// Where requests go, split once so the hot loop never parses URLs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given.
    pub(crate) url: Url,
    /// `https`: the connection is TLS.
    pub(crate) tls: bool,
    /// The host to connect to (an IPv6 address without its brackets).
    pub(crate) host: String,
    /// The port to connect to (the scheme's default when the URL has none).
    pub(crate) port: u16,
    /// `Host` header value (host, plus the port when it is not the scheme's default).
    pub(crate) authority: String,
    /// Path prefix from the host URL, without a trailing slash (`http://h/app` -> `/app`).
    pub(crate) base_path: String,
    /// Trust, client identity and `--insecure`, for an `https` target.
    pub(crate) tls_options: TlsOptions,
    /// The forward proxy to go through, chosen once from the proxy variables.
    pub(crate) proxy: Option<Proxy>,
    /// Whether HTTP/2 is offered or spoken (`--http2` over the scenario's `defaults.http2`).
    pub(crate) http2: crate::modes::Http2Mode,
}

impl Target {
    /// Splits `url`; the error names what is wrong with it (a scheme other than http(s), no
    /// host, no port).
    pub fn from_url(url: &Url) -> Result<Target, String> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(format!(
                    "scheme `{other}` is not supported (use http or https)"
                ))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| "the URL has no host".to_string())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "the URL has no port".to_string())?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        Ok(Target {
            url: url.clone(),
            tls,
            host,
            port,
            authority,
            base_path: url.path().trim_end_matches('/').to_string(),
            tls_options: TlsOptions::default(),
            proxy: None,
            http2: crate::modes::Http2Mode::Never,
        })
    }

    /// The same target spoken to as `http2` says.
    pub(crate) fn with_http2(self, http2: crate::modes::Http2Mode) -> Target {
        Target { http2, ..self }
    }

    /// The same target reached with these TLS options and through this proxy.
    pub(crate) fn with_network(self, tls_options: TlsOptions, proxy: Option<Proxy>) -> Target {
        Target {
            tls_options,
            proxy,
            ..self
        }
    }
}

/// Everything the native engine needs, already validated.
#[derive(Debug, Clone)]
pub struct NativePlan {
    /// What every virtual user does; shared by all workers.
    pub scenario: Arc<Scenario>,
    /// The name recorded in the result and shown in progress lines.
    pub scenario_name: String,
    /// Where the requests go.
    pub target: Target,
    /// Concurrent virtual users (in the open model, the pool that serves the arrivals).
    pub users: u32,
    /// Users started per second until all are running.
    pub spawn_rate: f64,
    /// How long the load runs, warm-up included.
    pub run_time: Duration,
    /// Worker threads; each runs its own single-threaded event loop, as wrk does.
    pub workers: usize,
    /// Print a progress line this often (`None`: never).
    pub progress_every: Option<Duration>,
    /// Requests finishing this early are left out of the statistics (still in the time series).
    pub warmup: Duration,
    /// Open model: task iterations per second, on a schedule independent of response times.
    pub rate: Option<f64>,
    /// Open model: the rate rises linearly from zero over this long.
    pub ramp: Duration,
    /// Stops the run as soon as it names a reason (abort-on-fail).
    pub watchdog: Option<Arc<dyn Watchdog>>,
    /// Measure the generator's health (`run.generator`: the hiccup meters and the CPU
    /// counters). Always on in the gate, whose verdict needs it; off only where the meters'
    /// own cost is priced (`bench/meters`).
    pub meters: bool,
    /// A paired run: the base measured beside `target` in alternating slices (`None`: the
    /// target alone, as always).
    pub paired: Option<PairedPlan>,
}

/// What a paired run adds to a native plan: a second target, and the slices the two take
/// turns in (`order` says whose turn it is).
#[derive(Debug, Clone)]
pub struct PairedPlan {
    /// The base: same scenario, same users, its own connections and cookies.
    pub base: Target,
    /// One slice: each side's measured time per pair.
    pub slice: Duration,
    /// Each side's turn inside a pair; a slice is a whole number of them.
    pub turn: Duration,
    /// The start of each turn left out of its figures.
    pub slice_warmup: Duration,
    /// Slices past this many are not measured (the run goes on).
    pub max_slices: u32,
    /// Which side each slice belongs to.
    pub order: crate::stats::SliceOrder,
    /// Stops the run once the pairs decide (`--until-decisive`; the run time is its limit).
    pub referee: Option<Arc<dyn Referee>>,
}

/// Cancelled on SIGINT/SIGTERM; engines stop early and return what they measured. A handler
/// that cannot be installed is said with its cause (the run goes on; a signal then ends the
/// process without partial results).
pub(crate) fn install_stop_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    let not_installed = |e: &dyn std::fmt::Display| {
        eprintln!("loadforge-gate: warning: could not install the signal handler: {e}");
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return not_installed(&e),
            };
            rt.block_on(async move {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{signal, SignalKind};
                    let mut term = match signal(SignalKind::terminate()) {
                        Ok(term) => term,
                        Err(e) => return not_installed(&e),
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
                eprintln!(
                    "loadforge-gate: interrupted; stopping the load and publishing partial results"
                );
                t.cancel();
            });
        });
    if let Err(e) = spawned {
        not_installed(&e);
    }
    token
}

/// A script's or locustfile's file name, for the log.
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}
