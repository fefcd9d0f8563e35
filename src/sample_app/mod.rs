//! The built-in target: the endpoints of the seed's four user flows with real behaviour (tokens
//! issued on login and checked on every protected route, carts that keep their items, reports
//! that are queued and then complete), plus knobs that make it slow or failing on purpose so
//! demos and tests can produce regressions.

mod gzip;
mod routes;

use std::{
    net::SocketAddr,
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
}

/// Behaviour knobs. Latency applies to every request, before the handler runs.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Added to every request: how demos and tests stage a slower build.
    pub latency: Duration,
    /// A random extra delay up to this long, so percentiles spread as they do in real life.
    pub jitter: Duration,
    /// Fraction (0..=1) of requests answered with a 500.
    pub error_rate: f64,
    /// Extra latency for paths matching a glob (`/api/catalog/*`).
    pub slow: Vec<(glob::Pattern, Duration)>,
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
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(SampleAppError::Serve)?;
        Ok(Served {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL to aim a load test at: `http://` and [`Served::addr`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
}

/// Serves in the foreground until Ctrl-C (the `sample-app` command).
pub(crate) fn serve_forever(listen: &str, knobs: Knobs) -> Result<(), SampleAppError> {
    let app = SampleApp::sample_app(listen, knobs)?;
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
