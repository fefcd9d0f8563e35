//! Every built-in default, in one place: what a run does when neither a flag, a variable nor the
//! config file says otherwise. `--help`, docs/settings.md and the component's inputs quote these. A
//! leaf: it imports nothing of the crate.

use std::time::Duration;

/// Output directory for every report.
pub(crate) const OUT_DIR: &str = "loadforge-gate";
/// The config file looked for in the working directory.
pub(crate) const CONFIG_FILE: &str = "loadforge-gate.yml";
/// Concurrent virtual users.
pub(crate) const USERS: u32 = 10;
/// Users started per second.
pub(crate) const SPAWN_RATE: f64 = 10.0;
/// Test length, as a user would write it.
pub(crate) const RUN_TIME: &str = "30s";
/// Runs in the history regressions are judged by (the chain in results.json; with an API token
/// and no chain, the pipelines read).
pub(crate) const BASELINE_HISTORY: usize = 20;
/// The most runs `--baseline-history` may ask for: the look-up walks at most this many
/// pipelines, and the chain in results.json holds at most this many runs (and at most
/// `stats::MAX_HISTORY_BYTES`). A band of 100 runs is more than any noise estimate needs.
pub(crate) const MAX_BASELINE_HISTORY: usize = 100;
/// Distinct endpoint names kept before the rest are folded into `(other endpoints)`.
pub(crate) const MAX_ENDPOINTS: usize = 1000;
/// How often a progress line is printed.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A paired run's slice: each side's measured time per pair. Its turns pool into one p95, so
/// it must hold enough requests for one (100 at 100 requests a second), and a 60 s run then
/// holds 29 settled pairs (`bench/README.md`, paired runs).
pub(crate) const PAIRED_SLICE: Duration = Duration::from_secs(1);
/// A side's turn inside a pair. Turns far shorter than the runner's changes of speed (a busy
/// neighbour comes and goes over seconds) put both sides into each change alike, so it cancels
/// in the pair; whole 2 s slices in turn left one side alone in a busy spell often, and their
/// intervals were three to five times as wide on the same noisy runner (`bench/README.md`).
pub(crate) const PAIRED_TURN: Duration = Duration::from_millis(250);
/// The start of each turn left out of its figures. None by default: a request counts where it
/// was sent whenever it is answered within the next pair, and the other side's answers still
/// in flight at a turn's start are the same for both sides, turn after turn.
pub(crate) const PAIRED_WARMUP: Duration = Duration::ZERO;
/// The most slices a paired run may have: an hour of 1 s slices. Each slice keeps a row per
/// endpoint in results.json, so this bounds the file as `--max-endpoints` bounds a row.
pub(crate) const PAIRED_MAX_SLICES: u32 = 3600;

/// The locust executable, looked up on `PATH`.
pub(crate) const LOCUST_BIN: &str = "locust";
/// How long a Locust master waits for its workers.
pub(crate) const LOCUST_WORKERS_MAX_WAIT: Duration = Duration::from_secs(60);
/// How long Locust gives users to finish their task when stopping.
pub(crate) const LOCUST_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The k6 executable, looked up on `PATH`.
pub(crate) const K6_BIN: &str = "k6";

/// LoadForge's API.
pub(crate) const LOADFORGE_URL: &str = "https://app.loadforge.com";
/// How often a LoadForge run is polled.
pub(crate) const LOADFORGE_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// How long a LoadForge run may take beyond its run time (queueing, start-up, reporting).
pub(crate) const LOADFORGE_WAIT_MARGIN: Duration = Duration::from_secs(15 * 60);

/// Without any threshold a gate always passes, which is reporting rather than gating; this is
/// the rule applied when none are configured, and the report says so.
pub(crate) const THRESHOLDS: &[&str] = &["error_rate<1%"];

/// Applied when a baseline exists and no regression rule was given: p95 may grow by 20 % *and*
/// 10 ms before it counts, the error rate by one percentage point (and half again).
pub(crate) const REGRESSIONS: &[&str] = &["p95 +20% +10ms", "error_rate +50% +1%"];

/// The largest `results.json` read back (a baseline, a shard, `report`, `compare`): a run with
/// thousands of endpoints stays far below it, and a file beyond it is refused before parsing.
pub const MAX_RESULTS_BYTES: usize = 64 * 1024 * 1024;

/// The most bytes read from one answer of GitLab's or LoadForge's API (an artifact included):
/// a results file is capped at [`MAX_RESULTS_BYTES`], and no other answer comes near it.
pub const MAX_API_ANSWER_BYTES: usize = MAX_RESULTS_BYTES + 1024 * 1024;

/// The largest scenario or config file read (a user's YAML; far beyond any real one).
pub const MAX_USER_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The largest response head (status line and headers) the native engine reads; a scenario
/// may raise it (`defaults.max_head_kib`).
pub const RESPONSE_HEAD_CAP: usize = 64 * 1024;
/// The largest response body the native engine keeps for a check or extraction (bodies that
/// nothing reads are counted and dropped, whatever their size); a scenario may change it
/// (`defaults.max_body_mib`).
pub const RESPONSE_BODY_CAP: usize = 64 * 1024 * 1024;

/// The largest cookie (name and value together) a virtual user's jar keeps, as browsers count
/// it (RFC 6265 section 6.1 asks for at least 4096 bytes, and browsers keep no more); a larger
/// one is dropped.
pub const COOKIE_MAX_BYTES: usize = 4096;
/// The most cookies one domain may have in a user's jar: RFC 6265's minimum, 50 (browsers keep
/// 50 to 180). A new cookie beyond it is dropped, and those already kept (a session) stay.
pub const COOKIES_PER_DOMAIN: usize = 50;
/// The most cookies in one user's jar, all domains together (`defaults.max_cookies`): three
/// domains' worth.
pub const COOKIES_PER_USER: usize = 3 * COOKIES_PER_DOMAIN;
/// The most bytes in one user's jar (`defaults.max_cookies_kib`), weighing what the jar keeps
/// of each cookie: its place (about 240 bytes: expiry, flags and the text's pointers), its name and
/// value, and its domain and path twice; attributes the jar does not use are not kept. Well
/// above what one request's `Cookie` header can carry to most servers (8 to 16 KiB), so the cap
/// only ever refuses a target that floods the jar; it bounds a jar's memory, whatever a target
/// sends.
pub const COOKIE_JAR_BYTES: usize = 64 * 1024;

/// The `User-Agent` of every request the tool makes: to targets, GitLab and LoadForge.
pub(crate) const USER_AGENT: &str = concat!("loadforge-gate/", env!("CARGO_PKG_VERSION"));

/// The most lanes one virtual user may run at once over its HTTP/2 connection
/// (`defaults.streams_per_user`): above nginx's and most servers' `max_concurrent_streams`
/// (128), where more streams on one connection would only wait; each lane keeps a user's state.
pub const MAX_STREAMS_PER_USER: u32 = 256;
