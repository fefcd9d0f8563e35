//! A fluent harness around the real binary: `Gate::new().args([..]).env(..).run().expect_exit(1)`.

use std::{
    cell::Cell,
    collections::BTreeMap,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::{Duration, Instant},
};

use loadforge_gate::sample_app::{ExtraLatency, Knobs, SampleApp};

pub const BIN: &str = env!("CARGO_BIN_EXE_loadforge-gate");

pub fn example(name: &str) -> String {
    format!("{}/examples/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_app(knobs: Knobs) -> SampleApp {
    SampleApp::sample_app("127.0.0.1:0", knobs).expect("sample app starts")
}

pub fn slow_app(latency_ms: u64) -> SampleApp {
    sample_app(Knobs {
        latency: Duration::from_millis(latency_ms),
        ..Knobs::default()
    })
}

/// A sample app answering in `latency_ms`, and the handle that makes it slower while it runs:
/// a slower build at the same address, so its runs stay comparable with the earlier ones.
pub fn adjustable_app(latency_ms: u64) -> (SampleApp, ExtraLatency) {
    let extra = ExtraLatency::default();
    let app = sample_app(Knobs {
        latency: Duration::from_millis(latency_ms),
        extra: extra.clone(),
        ..Knobs::default()
    });
    (app, extra)
}

/// Every gate process this harness starts holds a shared turn of this lock while it runs; a
/// timing-sensitive test holds it whole ([`quiet`]), so no other gate shares the two cores
/// while its latencies are measured. Serial rather than wider margins: a margin that holds on a
/// loaded machine would no longer test what the numbers claim (p50 within 2 %).
static LOAD: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread holds [`LOAD`] whole, or a shared turn of it: its own gate runs
    /// then take no further turn (a second read lock behind a waiting writer never returns).
    static TURN_HELD: Cell<bool> = const { Cell::new(false) };
}

/// [`LOAD`] held whole by a timing-sensitive test: taken once every gate run already going has
/// ended, and no other starts until it is dropped. The test's own gate runs go ahead.
pub struct Quiet(#[allow(dead_code)] Option<RwLockWriteGuard<'static, ()>>);

/// Makes the calling test the only one running gates until the result is dropped; take it first
/// thing in a test whose assertions read latencies.
pub fn quiet() -> Quiet {
    if TURN_HELD.get() {
        return Quiet(None);
    }
    let guard = LOAD.write().unwrap_or_else(PoisonError::into_inner);
    TURN_HELD.set(true);
    Quiet(Some(guard))
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if self.0.is_some() {
            TURN_HELD.set(false);
        }
    }
}

/// A shared turn of [`LOAD`] for one gate process (none when this thread already holds one).
pub struct LoadTurn(#[allow(dead_code)] Option<RwLockReadGuard<'static, ()>>);

/// Taken by every gate run of the harness, and by anything else that loads the cores for a
/// while (the emulator's pipelines), so a [`quiet`] test waits for it.
pub fn load_turn() -> LoadTurn {
    if TURN_HELD.get() {
        return LoadTurn(None);
    }
    let guard = LOAD.read().unwrap_or_else(PoisonError::into_inner);
    TURN_HELD.set(true);
    LoadTurn(Some(guard))
}

impl Drop for LoadTurn {
    fn drop(&mut self) {
        if self.0.is_some() {
            TURN_HELD.set(false);
        }
    }
}

/// Polls `ready` every 20 ms until it holds, for at most `within`; whether it did. Readiness is
/// waited for, never guessed with a sleep: a loaded machine makes any fixed sleep too short.
pub fn wait_until(within: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a running gate's stderr until a progress line (`--progress 1`) shows requests being
/// sent, for at most `within`; whether one did. The rest is drained in the background, so the
/// gate never blocks on a full pipe.
pub fn wait_for_requests(stderr: std::process::ChildStderr, within: Duration) -> bool {
    use std::io::BufRead;
    let (tx, under_way) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            // `[    1s] users 5/5 ·     123.4 req/s · 0 failed · p95 3.1 ms`
            let rate = line
                .split_once(" req/s")
                .and_then(|(before, _)| before.split_whitespace().last()?.parse::<f64>().ok());
            if rate.is_some_and(|r| r > 0.0) {
                let _ = tx.send(());
            }
        }
    });
    under_way.recv_timeout(within).is_ok()
}

/// The cores this test process may run on (`Cpus_allowed_list` of `/proc/self/status`:
/// `0-3,6`); the first core alone when the list cannot be read.
pub fn allowed_cores() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0");
    let mut cores = Vec::new();
    for part in list.trim().split(',') {
        let mut ends = part.split('-').map(|n| n.trim().parse::<usize>().ok());
        if let (Some(Some(a)), end) = (ends.next(), ends.next()) {
            cores.extend(a..=end.flatten().unwrap_or(a));
        }
    }
    if cores.is_empty() {
        cores.push(0);
    }
    cores
}

/// A process this test started (`taskset -c CORE program args`), killed and reaped when
/// dropped: the sample app as its own process, or a busy neighbour.
pub struct Pinned {
    child: std::process::Child,
}

impl Pinned {
    /// Starts `program args` on `core`, its output discarded unless `stdout` is piped.
    pub fn start(core: usize, program: &str, args: &[&str], stdout: bool) -> Pinned {
        use std::process::Stdio;
        let child = Command::new("taskset")
            .args(["-c", &core.to_string(), program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(if stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null())
            .spawn()
            .expect("taskset runs");
        Pinned { child }
    }

    /// A busy loop on `core`: a neighbour that takes all the CPU it is given.
    pub fn busy(core: usize) -> Pinned {
        Pinned::start(core, "sh", &["-c", "while :; do :; done"], false)
    }

    /// `loadforge-gate sample-app` on `core`, listening on `listen` with `knobs` (its
    /// flags); returns once it listens, with its URL.
    pub fn sample_app(core: usize, listen: &str, knobs: &[&str]) -> (Pinned, String) {
        let mut args = vec!["sample-app", "--listen", listen];
        args.extend(knobs);
        Pinned::listening(Pinned::start(core, BIN, &args, true))
    }

    /// [`Pinned::sample_app`] at a higher priority than the machine's other processes
    /// (`nice -n -10`, when this user may; else at the usual one), so that what else runs on
    /// this machine slows the app less than it slows what a test measures.
    pub fn favoured_sample_app(core: usize, listen: &str, knobs: &[&str]) -> (Pinned, String) {
        let mut args = vec!["-n", "-10", BIN, "sample-app", "--listen", listen];
        args.extend(knobs);
        Pinned::listening(Pinned::start(core, "nice", &args, true))
    }

    /// The sample app `app` once it listens, with its URL.
    fn listening(mut app: Pinned) -> (Pinned, String) {
        use std::io::BufRead;
        let stdout = app.child.stdout.take().expect("stdout piped");
        // `sample app listening on http://127.0.0.1:PORT`, after any other line.
        let url = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on ")
                    .map(|(_, u)| u.trim().to_string())
            })
            .expect("the sample app says where it listens");
        (app, url)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Gate {
    cmd: Command,
    dir: tempfile::TempDir,
}

impl Gate {
    /// A gate process in a fresh temporary directory, with an environment free of anything the
    /// developer's shell or this project's own CI might set.
    pub fn new() -> Self {
        Self::with(Command::new(BIN))
    }

    /// A gate process pinned to one core (`taskset -c CORE`), for the tests that share that
    /// core with an application or with busy neighbours on purpose.
    pub fn pinned(core: usize) -> Self {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", &core.to_string(), BIN]);
        Self::with(cmd)
    }

    fn with(mut cmd: Command) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        cmd.current_dir(dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LOADFORGE_")
                || k.starts_with("CI_")
                || k.starts_with("GITLAB")
                || k == "TARGET_HOST"
                || k.starts_with("APP_")
                || k.starts_with("API_CLIENT")
                || k.starts_with("SSL_CERT_")
                || ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]
                    .contains(&k.to_ascii_lowercase().as_str())
            {
                cmd.env_remove(k);
            }
        }
        // The load generator reads as healthy unless a test says otherwise: on a busy test
        // machine the real meters would find it starved, and a failed latency check would exit
        // 5 instead of 1 (tests/it/generator.rs sets its own figures).
        cmd.env("LOADFORGE_GATE_TEST_HICCUP_MS", "0");
        Self { cmd, dir }
    }

    /// The load generator's health as this machine makes it (its real meters), not the
    /// healthy stand-in every other test gets: for the tests of that health itself.
    pub fn real_generator(mut self) -> Self {
        self.cmd.env_remove("LOADFORGE_GATE_TEST_HICCUP_MS");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(self, name: &str, contents: &str) -> Self {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, contents).unwrap();
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn run(mut self) -> Output {
        let _turn = load_turn();
        let out = self.cmd.output().expect("binary runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.dir,
        }
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: tempfile::TempDir,
}

impl Output {
    #[track_caller]
    pub fn expect_exit(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("loadforge-gate")
    }

    pub fn file(&self, name: &str) -> String {
        let p = self.out_dir().join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn results(&self) -> serde_json::Value {
        serde_json::from_str(&self.file("results.json")).expect("results.json is JSON")
    }

    /// The error line: exactly one line on stderr that names the problem.
    #[track_caller]
    pub fn one_line_error(&self) -> &str {
        let text = self.error_text();
        assert!(
            !text.contains('\n'),
            "expected a one-line error, got:\n{}",
            self.stderr
        );
        text
    }

    /// The whole error as printed: its message line, then one `  caused by:` line per cause,
    /// and nothing else on stderr (no panic, no backtrace).
    #[track_caller]
    pub fn error_text(&self) -> &str {
        let text = self.stderr.trim();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        assert!(
            first.starts_with("loadforge-gate: error: "),
            "expected an error, got:\n{}",
            self.stderr
        );
        assert!(
            lines.all(|l| l.starts_with("  caused by: ")),
            "expected only causes after the error line, got:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        text
    }

    /// [`Self::error_text`] with this run's temporary directory and the repository's path
    /// replaced, so a snapshot pins the words and not the machine.
    #[track_caller]
    pub fn error_snapshot(&self) -> String {
        self.error_text()
            .replace(&self.dir.path().display().to_string(), "[TMP]")
            .replace(env!("CARGO_MANIFEST_DIR"), "[REPO]")
    }
}

impl Output {
    /// The error line of a run that got going before it failed: exactly one `error:` line, after
    /// whatever progress was printed.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("loadforge-gate: error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one error line, got:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        errors[0]
    }
}

pub const REPORTS: &[&str] = &[
    "results.json",
    "junit.xml",
    "metrics.txt",
    "load-performance.json",
    "summary.md",
    "annotations.json",
    "report.html",
];

/// A minimal HTTP/1.1 client for poking the sample app directly.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status: u16 = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // The sample app answers small bodies without chunking; strip chunk framing if present.
    let body = if resp
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The endpoint rows of a results.json with this name (an endpoint's name is one row: more
/// than one is a bug the callers check for).
pub fn rows_named<'a>(results: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    (results["endpoints"].as_array().into_iter().flatten())
        .filter(|e| e["name"] == name)
        .collect()
}

/// Failure reasons of every endpoint, merged.
pub fn reasons(results: &serde_json::Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in results["endpoints"].as_array().unwrap() {
        for (r, n) in e["failures_by_reason"].as_object().unwrap() {
            *out.entry(r.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    out
}

impl Gate {
    pub fn arg_path(mut self, p: &Path) -> Self {
        self.cmd.arg(p);
        self
    }
}

impl Gate {
    /// Starts the binary with its output piped, for the runs that watch it while it works.
    fn spawn_piped(&mut self) -> std::process::Child {
        use std::process::Stdio;
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs")
    }

    /// Runs like [`Gate::run`], also sampling the child's peak resident memory (`VmHWM` in
    /// `/proc/PID/status`, which only grows) until it exits. Returns the output and the peak
    /// in MiB: memory measured from the kernel, not inferred from time.
    pub fn run_measuring_memory(mut self) -> (Output, f64) {
        let _turn = load_turn();
        let mut child = self.spawn_piped();
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        // The pipes are drained by threads so a chatty child cannot block on a full pipe.
        let mut stdout = child.stdout.take().expect("stdout piped");
        let mut stderr = child.stderr.take().expect("stderr piped");
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Ok(text) = std::fs::read_to_string(&status_file) {
                if let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak_kib = peak_kib.max(kib);
                }
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = Output {
            code: status.code().unwrap_or(-1),
            stdout: out_reader.join().unwrap_or_default(),
            stderr: err_reader.join().unwrap_or_default(),
            dir: self.dir,
        };
        (output, peak_kib as f64 / 1024.0)
    }
}

impl Gate {
    /// Starts the gate, sends it SIGTERM once `ready` holds for its working directory, and waits
    /// for it to end. A gate still alive long after the signal is killed and the test fails:
    /// liveness, not speed.
    pub fn run_and_terminate_when(mut self, ready: impl Fn(&Path) -> bool) -> Output {
        let _turn = load_turn();
        let mut child = self.spawn_piped();
        for _ in 0..600 {
            if ready(self.dir.path()) || child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "SIGTERM could not be sent");
        for _ in 0..600 {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if child.try_wait().expect("wait").is_none() {
            let _ = child.kill();
            panic!("the gate ignored SIGTERM for 30 s");
        }
        let out = child.wait_with_output().expect("output");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.dir,
        }
    }
}

/// One request head from a test server's connection, read a byte at a time so nothing past it
/// is consumed; `None` when the client hung up first.
pub fn read_head(conn: &mut impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(head))
}
