//! The built-in target: the endpoints of the four sample user flows with real behaviour (tokens
//! issued on login and checked on every protected route, carts that keep their items, reports
//! that are queued and then complete), plus knobs that make it slow or failing on purpose so
//! demos and tests can produce regressions.

mod gzip;
mod routes;
pub mod tls;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::net::TcpListener;

pub(crate) use routes::router;

/// Why a server could not start; an infrastructure error (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum SampleAppError {
    /// The address could not be bound (taken, or not an address of this host).
    #[error("cannot listen on {addr}; pick a free port with --listen 127.0.0.1:PORT")]
    Bind {
        /// The address as given.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket, its thread or its runtime could not be set up.
    #[error("the sample app cannot serve")]
    Serve(#[source] std::io::Error),
    /// The private CA, a certificate or the TLS configuration could not be made.
    #[error("cannot set up TLS")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The CA certificate could not be written for clients to trust.
    #[error("cannot write the CA certificate to {}; pick a writable --tls-dir", path.display())]
    WriteCa {
        /// Where it was to go.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Behaviour knobs. Latency applies to every request, before the handler runs.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Added to every request: how demos and tests stage a slower build.
    pub latency: Duration,
    /// A random extra delay up to this long, so percentiles spread as they do in real life.
    pub jitter: Duration,
    /// CPU time burned on the serving thread per request, after the delay: unlike a delay, it
    /// takes a core, so an app on the load generator's cores crowds it as a real one does.
    pub cpu: Duration,
    /// Fraction (0..=1) of requests answered with a 500.
    pub error_rate: f64,
    /// Extra latency for paths matching a glob (`/api/catalog/*`).
    pub slow: Vec<(glob::Pattern, Duration)>,
    /// Added to every request on top of `latency`, and changeable while the app runs: a test
    /// stages a slower build of the same server at the same address (another address would
    /// make its runs not comparable).
    pub extra: ExtraLatency,
}

/// A latency shared with a running app (see [`Knobs::extra`]); clones change the same value.
#[derive(Debug, Clone, Default)]
pub struct ExtraLatency(Arc<std::sync::atomic::AtomicU64>);

impl ExtraLatency {
    /// From now on, every request waits `d` more (whole microseconds).
    pub fn set(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// The extra wait now.
    pub(crate) fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Knobs {
    /// Parses `PATH=MS` as given to `--slow-endpoint`.
    pub fn parse_slow(spec: &str) -> Result<(glob::Pattern, Duration), String> {
        let (path, ms) = spec.rsplit_once('=').ok_or_else(|| {
            format!("`{spec}` must look like PATH=MS, e.g. /api/catalog/search=200")
        })?;
        let ms: u64 = ms
            .trim()
            .parse()
            .map_err(|_| format!("`{ms}` in `{spec}` is not a whole number of milliseconds"))?;
        let pattern =
            glob::Pattern::new(path.trim()).map_err(|e| format!("bad path glob `{path}`: {e}"))?;
        Ok((pattern, Duration::from_millis(ms)))
    }
}

/// An axum router served on its own thread and runtime (the sample app here, the fake GitLab
/// and LoadForge in the tests), so it can answer a load test running on the caller's threads.
/// Dropping it shuts it down.
pub struct Served {
    /// The address it listens on, with the port the system chose when asked for port 0.
    pub addr: SocketAddr,
    /// Served over TLS.
    https: bool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Binds `listen` (port 0 for a free port) and serves `router` with `threads` runtime
    /// threads.
    pub fn start(
        listen: &str,
        router: axum::Router,
        threads: usize,
    ) -> Result<Served, SampleAppError> {
        Served::start_with(listen, router, threads, None)
    }

    /// As [`Served::start`], over TLS with `config` (see [`tls::server_config`]).
    pub fn start_tls(
        listen: &str,
        router: axum::Router,
        threads: usize,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Result<Served, SampleAppError> {
        Served::start_with(listen, router, threads, Some(config))
    }

    fn start_with(
        listen: &str,
        router: axum::Router,
        threads: usize,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> Result<Served, SampleAppError> {
        let https = tls.is_some();
        let std_listener =
            std::net::TcpListener::bind(listen).map_err(|source| SampleAppError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(SampleAppError::Serve)?;
        let addr = std_listener.local_addr().map_err(SampleAppError::Serve)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("serve-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .enable_all()
                    .build()
                    .expect("the server's runtime starts");
                rt.block_on(async move {
                    let listener =
                        TcpListener::from_std(std_listener).expect("listener converts to tokio");
                    let stopped = async {
                        let _ = rx.await;
                    };
                    let _ = match tls {
                        None => {
                            axum::serve(listener, router)
                                .with_graceful_shutdown(stopped)
                                .await
                        }
                        Some(config) => {
                            axum::serve(tls::TlsListener::new(listener, config), router)
                                .with_graceful_shutdown(stopped)
                                .await
                        }
                    };
                });
            })
            .map_err(SampleAppError::Serve)?;
        Ok(Served {
            addr,
            https,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to aim a load test at: `http://` (or `https://`) and [`Served::addr`].
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Shuts the server down and waits for its thread, as dropping it does.
    pub(crate) fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// The running sample app.
pub type SampleApp = Served;

impl Served {
    /// Starts the sample app (the routes of `router`) with its behaviour knobs, on `listen`
    /// (port 0 for a free port).
    pub fn sample_app(listen: &str, knobs: Knobs) -> Result<SampleApp, SampleAppError> {
        Served::start(listen, router(knobs), 2)
    }

    /// As [`Served::sample_app`], over HTTPS (HTTP/2 by ALPN, or HTTP/1.1) with a private CA
    /// made now, whose certificate is written to `dir` (the path returned, for `--ca-cert`).
    pub fn sample_app_tls(
        listen: &str,
        knobs: Knobs,
        dir: &Path,
    ) -> Result<(SampleApp, PathBuf), SampleAppError> {
        let (config, ca) = tls_config(listen, dir)?;
        Ok((Served::start_tls(listen, router(knobs), 2, config)?, ca))
    }
}

/// The CA file `sample-app --tls` writes for clients to pass as `--ca-cert`.
pub(crate) const CA_FILE: &str = "sample-app-ca.pem";

/// HTTPS with a private CA made now: the CA certificate is written to `dir/sample-app-ca.pem`
/// (returned), and the server's certificate names localhost, the loopback addresses and the
/// host it listens on.
fn tls_config(
    listen: &str,
    dir: &Path,
) -> Result<(Arc<tokio_rustls::rustls::ServerConfig>, PathBuf), SampleAppError> {
    let pki = tls::Pki::new("loadforge-gate sample app CA")?;
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let mut names = vec!["localhost", "127.0.0.1", "::1"];
    if !names.contains(&host) && !host.is_empty() && host != "0.0.0.0" && host != "::" {
        names.push(host);
    }
    let server = pki.server_cert(&names, tls::Validity::Current)?;
    let path = dir.join(CA_FILE);
    std::fs::write(&path, pki.ca_pem()).map_err(|source| SampleAppError::WriteCa {
        path: path.clone(),
        source,
    })?;
    Ok((tls::server_config(&server, None)?, path))
}

/// Serves in the foreground until Ctrl-C (the `sample-app` command); with `tls_dir`, over
/// HTTPS with a CA whose certificate is written there.
pub(crate) fn serve_forever(
    listen: &str,
    knobs: Knobs,
    tls_dir: Option<&Path>,
) -> Result<(), SampleAppError> {
    let app = match tls_dir {
        None => SampleApp::sample_app(listen, knobs)?,
        Some(dir) => {
            let (config, ca) = tls_config(listen, dir)?;
            let app = Served::start_tls(listen, router(knobs), 2, config)?;
            println!(
                "sample app CA certificate written to {}; pass --ca-cert {} to trust it",
                ca.display(),
                ca.display()
            );
            app
        }
    };
    println!("sample app listening on {}", app.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SampleAppError::Serve)?;
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    app.stop();
    Ok(())
}

/// Shared state: issued tokens, carts and queued reports.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) tokens: Mutex<std::collections::HashSet<String>>,
    pub(crate) carts: Mutex<std::collections::HashMap<String, Vec<serde_json::Value>>>,
    pub(crate) reports: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    pub(crate) next_id: std::sync::atomic::AtomicU64,
}

pub(crate) type Shared = Arc<(State, Knobs)>;
