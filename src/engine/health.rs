//! Measuring the load generator's health during a run (`run.generator`, and per second in the
//! time series): two hiccup meters (jHiccup's method) and the CPU counters of `/proc` and
//! `getrusage`. The figures are data (`stats::GeneratorHealth`); judging them is the gate's.
//!
//! - The **runtime meter** is a task on each native worker's runtime that sleeps
//!   [`HICCUP_INTERVAL`] and records how late it wakes: a user task that hogs the event loop,
//!   or a worker thread the kernel descheduled, shows here.
//! - The **thread meter** is a plain thread doing the same outside any runtime: what the host
//!   did to the whole process (neighbours on its cores, steal). A runtime meter that is late
//!   while the thread meter is not points at the engine itself; both late, at the host.
//! - Once a second the same thread reads `/proc/stat` (steal, everyone's CPU) and the
//!   generator's own CPU and involuntary context switches (`getrusage` for the gate's process,
//!   `/proc/<pid>/stat` and `status` for Locust's processes).
//! - Every [`RUN_QUEUE_EVERY`] it reads the run-queue delay of the generator's load threads
//!   (`/proc/<pid>/task/<tid>/schedstat`; see [`RunQueue`] for threads that come and go).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::stats::{GeneratorHealth, GeneratorSecond, HiccupFigures, LatencyHistogram};

/// The hiccup meters' sleep. jHiccup uses 1 ms; a tokio sleeper's timer entry is re-armed on
/// every wake-up, so the interval is the meters' price: at 10 ms they cost +0.2 % ± 0.8 % CPU
/// per request at 250,000 requests a second on one core (`bench/meters`, paired rounds, the
/// worst case: a fixed cost per second weighs most at the highest rate). Starvation starts at
/// a hiccup p99 of 10 ms (`stats::generator`), and a sleeper in flight sees a stall's whole
/// length whatever its interval, so 10 ms loses nothing that is judged: 100 samples a second
/// per meter.
pub(crate) const HICCUP_INTERVAL: Duration = Duration::from_millis(10);

/// The kernel's clock ticks per second in `/proc` (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// How often the load threads' run-queue delay is read. A thread that ends takes its counter
/// with it, so what it waited since its last reading is lost: at 100 ms that is the tail of
/// the native workers' wind-down (after the run's last request) and, for Locust, a tenth of a
/// second of a process that exits early. Ten reads a second of a few small files cost nothing
/// beside the meters' own 100 wake-ups.
pub(crate) const RUN_QUEUE_EVERY: Duration = Duration::from_millis(100);

/// The name every native load thread starts with (`load-worker-0`, ...): the threads whose
/// waiting delays requests. The gate's other threads (the supervisor, the meter itself) wake
/// on their own schedule, and their waits delay no request.
pub(crate) const WORKER_THREAD: &str = "load-worker";

/// The most threads read for the run-queue delay at one time.
const MAX_THREADS: usize = 4096;

/// Hiccups recorded by one or more meters: the run's histogram and the current second's worst.
#[derive(Debug, Default)]
pub(crate) struct HiccupMeter {
    state: Mutex<MeterState>,
}

#[derive(Debug, Default)]
struct MeterState {
    run: LatencyHistogram,
    second_max_us: u64,
}

/// The most wake-ups one stall stands for in the run's histogram (a stall of 1,000 s at
/// [`HICCUP_INTERVAL`]): a bound on the work of one record.
const MAX_MISSED_WAKE_UPS: u64 = 100_000;

impl HiccupMeter {
    /// Records one wake-up that came `late` past its due time, and, as jHiccup does, the
    /// wake-ups the stall made it miss: a 100 ms stall counts as waits of 100, 90, ... 10 ms.
    /// The sleeper wakes once per stall however long it lasts, so counted once a long stall
    /// would weigh as little as a short one; counted per interval, the figures weigh each
    /// stall by its length, which is what a request in flight at a random moment waited
    /// (`GeneratorHealth::stall_ms` compares them with requests' latencies). Lateness below
    /// the interval adds nothing.
    pub(crate) fn record(&self, late: Duration) {
        let us = late.as_micros().min(u64::MAX as u128) as u64;
        let interval = HICCUP_INTERVAL.as_micros() as u64;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.run.record_micros(us);
        let mut missed = us.saturating_sub(interval);
        for _ in 0..MAX_MISSED_WAKE_UPS {
            if missed < interval {
                break;
            }
            st.run.record_micros(missed);
            missed -= interval;
        }
        st.second_max_us = st.second_max_us.max(us);
    }

    /// The worst hiccup since the last call, in milliseconds.
    fn take_second_max_ms(&self) -> f64 {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut st.second_max_us) as f64 / 1000.0
    }

    fn figures(&self) -> HiccupFigures {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        hiccup_figures(&st.run)
    }
}

fn hiccup_figures(h: &LatencyHistogram) -> HiccupFigures {
    HiccupFigures {
        p50_ms: h.percentile_ms(50.0).unwrap_or(0.0),
        p99_ms: h.percentile_ms(99.0).unwrap_or(0.0),
        max_ms: h.max_ms().unwrap_or(0.0),
        samples: h.count(),
    }
}

/// The runtime meter: runs on a worker's runtime until its task is aborted.
pub(crate) async fn runtime_meter(meter: Arc<HiccupMeter>) {
    loop {
        let due = tokio::time::Instant::now() + HICCUP_INTERVAL;
        tokio::time::sleep_until(due).await;
        meter.record(tokio::time::Instant::now().saturating_duration_since(due));
    }
}

/// Whose CPU is the generator's.
#[derive(Debug, Clone)]
pub(crate) enum Subject {
    /// The gate's own process (the native engine).
    ThisProcess,
    /// Child processes and their descendants (Locust's master and its local workers).
    Processes(Vec<u32>),
}

/// Counters read at one instant.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    /// `/proc/stat`'s first line: every CPU's busy, steal and total time, in seconds.
    host_busy_s: f64,
    /// The busy seconds of the cores this process may run on (its affinity) alone.
    cores_busy_s: f64,
    host_steal_s: f64,
    host_total_s: f64,
    /// The generator's CPU time, in seconds.
    own_s: f64,
    involuntary: u64,
}

impl Counters {
    fn read(subject: &Subject) -> Counters {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let (host_busy_s, host_steal_s, host_total_s) = parse_proc_stat(&stat).unwrap_or_default();
        let cores_busy_s = allowed_cores()
            .map(|cores| cores_busy(&stat, &cores))
            .unwrap_or(host_busy_s);
        let (own_s, involuntary) = match subject {
            Subject::ThisProcess => own_usage(),
            Subject::Processes(roots) => tree_usage(roots),
        };
        Counters {
            host_busy_s,
            cores_busy_s,
            host_steal_s,
            host_total_s,
            own_s,
            involuntary,
        }
    }
}

/// `(busy, steal, total)` CPU seconds from `/proc/stat`'s aggregate `cpu` line. Busy is user,
/// nice, system, irq and softirq (guest time is already inside user); total adds idle, iowait
/// and steal.
fn parse_proc_stat(text: &str) -> Option<(f64, f64, f64)> {
    cpu_seconds(crate::procfs::all_cpus(text)?)
}

/// `(busy, steal, total)` CPU seconds of one `/proc/stat` CPU line's fields.
fn cpu_seconds(v: [u64; 8]) -> Option<(f64, f64, f64)> {
    let at = |i: usize| v[i] as f64;
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    let steal = at(7);
    let total = busy + at(3) + at(4) + steal;
    Some((busy / USER_HZ, steal / USER_HZ, total / USER_HZ))
}

/// The cores this process may run on (`Cpus_allowed_list` of `/proc/self/status`, `0-3,6`).
fn allowed_cores() -> Option<Vec<u32>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    parse_cpu_list(list.trim())
}

fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut cores = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cores.extend(a.trim().parse::<u32>().ok()?..=b.trim().parse().ok()?),
            None => cores.push(part.trim().parse().ok()?),
        }
    }
    (!cores.is_empty() && cores.len() <= 4096).then_some(cores)
}

/// Busy CPU seconds of the `cpuN` lines of `/proc/stat` for the given cores.
fn cores_busy(stat: &str, cores: &[u32]) -> f64 {
    stat.lines()
        .filter_map(|l| {
            let (name, _) = l.split_once(' ')?;
            let n: u32 = name.strip_prefix("cpu")?.parse().ok()?;
            cores
                .contains(&n)
                .then(|| crate::procfs::cpu_fields(l).and_then(cpu_seconds))
        })
        .flatten()
        .map(|(busy, _, _)| busy)
        .sum()
}

/// The gate's own CPU seconds and involuntary context switches, every thread included.
fn own_usage() -> (f64, u64) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            (
                secs(u.user_time()) + secs(u.system_time()),
                u.involuntary_context_switches().max(0) as u64,
            )
        }
        Err(_) => (0.0, 0),
    }
}

/// `roots` and their living descendants.
fn tree_pids(roots: &[u32]) -> Vec<u32> {
    let mut pids = roots.to_vec();
    let mut i = 0;
    while i < pids.len() && pids.len() < MAX_THREADS {
        let pid = pids[i];
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    pids
}

/// CPU seconds and involuntary switches of `roots` and their living descendants.
fn tree_usage(roots: &[u32]) -> (f64, u64) {
    let mut cpu = 0.0;
    let mut switches = 0;
    for pid in tree_pids(roots) {
        if let Some(ticks) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_pid_stat(&t))
        {
            cpu += ticks / USER_HZ;
        }
        switches += involuntary_of(pid);
    }
    (cpu, switches)
}

/// utime + stime, in ticks, from `/proc/<pid>/stat`.
fn parse_pid_stat(text: &str) -> Option<f64> {
    crate::procfs::process_ticks(text).map(|(_, ticks)| ticks as f64)
}

/// Each load thread's run-queue delay so far, in nanoseconds, by thread id: the gate's
/// [`WORKER_THREAD`]s, or every thread of Locust's processes (its users run on their main
/// threads; the few others wait little). A thread whose `schedstat` cannot be read is left out.
fn thread_waits(subject: &Subject) -> Vec<(u32, u64)> {
    let mut waits = Vec::new();
    match subject {
        Subject::ThisProcess => task_waits("/proc/self/task", Some(WORKER_THREAD), &mut waits),
        Subject::Processes(roots) => {
            for pid in tree_pids(roots) {
                task_waits(&format!("/proc/{pid}/task"), None, &mut waits);
            }
        }
    }
    waits
}

/// The run-queue delay of the threads in `dir` (a `/proc/<pid>/task`) whose name starts with
/// `named`, when given, added to `waits` (at most [`MAX_THREADS`] in all).
fn task_waits(dir: &str, named: Option<&str>, waits: &mut Vec<(u32, u64)>) {
    let Ok(tasks) = std::fs::read_dir(dir) else {
        return;
    };
    for task in tasks.flatten() {
        if waits.len() >= MAX_THREADS {
            return;
        }
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let path = task.path();
        if named.is_some_and(|prefix| {
            std::fs::read_to_string(path.join("comm")).map_or(true, |c| !c.starts_with(prefix))
        }) {
            continue;
        }
        if let Some(ns) = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|t| crate::procfs::run_queue_wait_ns(&t))
        {
            waits.push((tid, ns));
        }
    }
}

/// The run-queue delay of the generator's load threads over a run, from readings of their
/// counters. The counters only grow while a thread lives, so: a thread seen at the first
/// reading counts from there; one born later counts from zero (all its waiting was in the
/// run); one that ends keeps what it had at its last reading (see [`RUN_QUEUE_EVERY`]); a
/// counter that goes backwards is a new thread that reused the id, and the old one's count is
/// kept.
#[derive(Debug, Default)]
pub(crate) struct RunQueue {
    /// Per thread id: its counter at the first reading (zero for a thread born since), and
    /// at the last.
    threads: HashMap<u32, (u64, u64)>,
    /// What threads whose id was reused had waited.
    gone_ns: u64,
    /// Whether any thread's counter was read at all: none read is unmeasured, not zero.
    seen: bool,
}

impl RunQueue {
    /// The first reading: the threads alive at the start count from their counters' values.
    pub(crate) fn start(waits: &[(u32, u64)]) -> RunQueue {
        RunQueue {
            threads: waits.iter().map(|&(tid, ns)| (tid, (ns, ns))).collect(),
            gone_ns: 0,
            seen: !waits.is_empty(),
        }
    }

    /// A later reading.
    pub(crate) fn update(&mut self, waits: &[(u32, u64)]) {
        self.seen |= !waits.is_empty();
        for &(tid, ns) in waits {
            let (from, last) = self.threads.entry(tid).or_insert((0, 0));
            if ns < *last {
                self.gone_ns = self.gone_ns.saturating_add(*last - *from);
                *from = 0;
            }
            *last = ns;
        }
    }

    /// The delay so far, in nanoseconds; `None` when no counter was ever read.
    pub(crate) fn total_ns(&self) -> Option<u64> {
        self.seen.then(|| {
            (self.threads.values())
                .map(|(from, last)| last.saturating_sub(*from))
                .fold(self.gone_ns, u64::saturating_add)
        })
    }
}

/// The involuntary context switches of every thread of `pid`.
fn involuntary_of(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

/// The cores this process may use: its CPU affinity (which `available_parallelism` reads, with
/// the cgroup quota rounded up), and the cgroup v2 quota itself (`cpu.max` of its cgroup and
/// every parent), which may be a fraction.
pub(crate) fn cpu_allowance() -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let quota = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_string)
        })
        .and_then(|path| {
            let mut dir = std::path::PathBuf::from("/sys/fs/cgroup");
            dir.push(path.trim().trim_start_matches('/'));
            let mut least: Option<f64> = None;
            for d in dir
                .ancestors()
                .take_while(|d| d.starts_with("/sys/fs/cgroup"))
            {
                if let Some(q) = std::fs::read_to_string(d.join("cpu.max"))
                    .ok()
                    .and_then(|t| parse_cpu_max(&t))
                {
                    least = Some(least.map_or(q, |l: f64| l.min(q)));
                }
            }
            least
        });
    quota.map_or(cores, |q| q.min(cores))
}

/// Cores from a cgroup v2 `cpu.max` (`"150000 100000"` is 1.5; `"max 100000"` is no quota).
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (period > 0.0 && quota > 0.0).then(|| quota / period)
}

/// What the monitor measured: the run's figures, and one entry per second since `start`.
pub(crate) struct Measured {
    pub(crate) health: GeneratorHealth,
    pub(crate) seconds: Vec<GeneratorSecond>,
}

/// The thread meter and the counters, on one thread, for the length of a run.
pub(crate) struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Seconds>>,
    /// The seconds measured so far, for a referee that judges while the run goes on.
    live: Arc<Mutex<Vec<GeneratorSecond>>>,
    runtime: Option<Arc<HiccupMeter>>,
    thread: Arc<HiccupMeter>,
    subject: Subject,
    first: Counters,
    started: Instant,
}

impl Monitor {
    /// Starts measuring; `runtime` when the engine runs runtime meters (the native engine),
    /// whose shared meter [`Monitor::runtime_meter`] hands out.
    pub(crate) fn start(subject: Subject, runtime: bool) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = Arc::new(HiccupMeter::default());
        let runtime = runtime.then(|| Arc::new(HiccupMeter::default()));
        let first = Counters::read(&subject);
        let queue = RunQueue::start(&thread_waits(&subject));
        let started = Instant::now();
        let live = Arc::new(Mutex::new(Vec::new()));
        let handle = {
            let (stop, thread, runtime, subject) = (
                stop.clone(),
                thread.clone(),
                runtime.clone(),
                subject.clone(),
            );
            let state = Readings::new(first, queue, live.clone());
            std::thread::Builder::new()
                .name("hiccup-meter".into())
                .spawn(move || meter_thread(&stop, &thread, runtime.as_deref(), &subject, state))
                .ok()
        };
        Monitor {
            stop,
            handle,
            live,
            runtime,
            thread,
            subject,
            first,
            started,
        }
    }

    /// The runtime meter every worker records into.
    pub(crate) fn runtime_meter(&self) -> Option<Arc<HiccupMeter>> {
        self.runtime.clone()
    }

    /// The seconds measured so far (one per whole second since the start), as
    /// [`Monitor::finish`] will give them.
    pub(crate) fn seconds_so_far(&self) -> Vec<GeneratorSecond> {
        let seconds = self.live.lock().map(|l| l.clone()).unwrap_or_default();
        #[cfg(debug_assertions)]
        let seconds = inject_seconds(seconds);
        seconds
    }

    /// Stops the meter thread and sums up the run.
    pub(crate) fn finish(mut self, measured: &str) -> Measured {
        self.stop.store(true, Ordering::Relaxed);
        let Seconds {
            seconds,
            own_s,
            involuntary,
            run_queue,
        } = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let last = Counters::read(&self.subject);
        // The threads still alive, read once more; without a meter thread, nothing was.
        let run_queue_ms = run_queue.and_then(|mut q| {
            q.update(&thread_waits(&self.subject));
            q.total_ns().map(|ns| ns as f64 / 1e6)
        });
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let d = |f: fn(&Counters) -> f64| (f(&last) - f(&self.first)).max(0.0);
        // Child processes may be gone by now, their CPU with them: then the seconds' sum,
        // counted while they lived, is what there is.
        let own = d(|c| c.own_s).max(own_s);
        let total = d(|c| c.host_total_s);
        let health = GeneratorHealth {
            measured: measured.into(),
            hiccup_interval_ms: HICCUP_INTERVAL.as_secs_f64() * 1000.0,
            runtime_hiccup: self.runtime.as_ref().map(|m| m.figures()),
            thread_hiccup: self.thread.figures(),
            steal_pct: if total > 0.0 {
                d(|c| c.host_steal_s) * 100.0 / total
            } else {
                0.0
            },
            other_cpu_pct: ((d(|c| c.host_busy_s) - own).max(0.0) * 100.0 / elapsed).max(0.0),
            // Only the gate's own process shares its cores' counters with the neighbours;
            // Locust's processes run where the gate may, so the same cores are theirs.
            neighbour_cpu_pct: (d(|c| c.cores_busy_s) - own).max(0.0) * 100.0
                / elapsed
                / allowed_cores().map_or(1, |c| c.len()) as f64,
            own_cpu_pct: own * 100.0 / elapsed,
            cpu_allowance: match &self.subject {
                Subject::ThisProcess => cpu_allowance(),
                // A Python process runs its users on one core at a time (the GIL): Locust may
                // use at most one core per process, however many the host offers.
                Subject::Processes(pids) => cpu_allowance().min(pids.len().max(1) as f64),
            },
            involuntary_switches: last
                .involuntary
                .saturating_sub(self.first.involuntary)
                .max(involuntary),
            run_queue_ms,
            // Set by the engine, which counts the requests: `GeneratorHealth::with_requests`.
            run_queue_per_request_ms: None,
        };
        #[cfg(debug_assertions)]
        let (health, seconds) = (inject_hiccups(health), inject_seconds(seconds));
        Measured { health, seconds }
    }
}

impl Drop for Monitor {
    /// A run that fails to start must not leave the meter thread running.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Tests stand in for a starved or a healthy generator (debug builds only):
/// `LOADFORGE_GATE_TEST_HICCUP_MS` sets both meters' p99 (and max, twice that) and clears the
/// steal, the neighbours' share and the run-queue delay, so the verdict's tests never depend on
/// the machine's load.
#[cfg(debug_assertions)]
fn inject_hiccups(mut health: GeneratorHealth) -> GeneratorHealth {
    if let Some(ms) = std::env::var("LOADFORGE_GATE_TEST_HICCUP_MS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        let fake = HiccupFigures {
            p50_ms: ms / 4.0,
            p99_ms: ms,
            max_ms: ms * 2.0,
            samples: health.thread_hiccup.samples.max(1),
        };
        health.thread_hiccup = fake;
        health.steal_pct = 0.0;
        health.neighbour_cpu_pct = 0.0;
        health.run_queue_ms = health.run_queue_ms.map(|_| 0.0);
        if health.runtime_hiccup.is_some() {
            health.runtime_hiccup = Some(fake);
        }
    }
    health
}

/// The same stand-in, second by second (a paired run's slices read these): every second's
/// worst hiccup twice `LOADFORGE_GATE_TEST_HICCUP_MS`, no steal, no run-queue delay.
#[cfg(debug_assertions)]
fn inject_seconds(mut seconds: Vec<GeneratorSecond>) -> Vec<GeneratorSecond> {
    if let Some(ms) = std::env::var("LOADFORGE_GATE_TEST_HICCUP_MS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        for s in &mut seconds {
            s.hiccup_max_ms = ms * 2.0;
            s.steal_pct = 0.0;
            s.run_queue_ms = s.run_queue_ms.map(|_| 0.0);
        }
    }
    seconds
}

/// What the meter thread counted, second by second.
#[derive(Default)]
struct Seconds {
    seconds: Vec<GeneratorSecond>,
    /// The generator's CPU seconds and involuntary switches, summed over the seconds (a
    /// process that exits takes its counters with it, so the run's difference can fall short).
    own_s: f64,
    involuntary: u64,
    /// The load threads' run-queue delay as last read.
    run_queue: Option<RunQueue>,
}

/// The meter thread's readings between wake-ups.
struct Readings {
    /// The counters at the start of the current second.
    prev: Counters,
    queue: RunQueue,
    /// The run-queue delay at the start of the current second, in nanoseconds.
    queue_at_second: Option<u64>,
    out: Seconds,
    /// A copy of `out.seconds`, shared with the [`Monitor`].
    live: Arc<Mutex<Vec<GeneratorSecond>>>,
}

impl Readings {
    fn new(first: Counters, queue: RunQueue, live: Arc<Mutex<Vec<GeneratorSecond>>>) -> Readings {
        Readings {
            prev: first,
            queue_at_second: queue.total_ns(),
            queue,
            out: Seconds::default(),
            live,
        }
    }

    /// One second's figures, from the counters and the run-queue delay now.
    fn second(&mut self, subject: &Subject, hiccup_max_ms: f64) {
        let c = Counters::read(subject);
        let total = c.host_total_s - self.prev.host_total_s;
        let own = (c.own_s - self.prev.own_s).max(0.0);
        self.out.own_s += own;
        self.out.involuntary += c.involuntary.saturating_sub(self.prev.involuntary);
        let queue = self.queue.total_ns();
        let second = GeneratorSecond {
            hiccup_max_ms,
            gen_cpu_pct: own * 100.0,
            steal_pct: if total > 0.0 {
                ((c.host_steal_s - self.prev.host_steal_s) * 100.0 / total).max(0.0)
            } else {
                0.0
            },
            run_queue_ms: queue
                .map(|ns| ns.saturating_sub(self.queue_at_second.unwrap_or(0)) as f64 / 1e6),
        };
        self.out.seconds.push(second);
        if let Ok(mut live) = self.live.lock() {
            live.push(second);
        }
        self.prev = c;
        self.queue_at_second = queue;
    }
}

/// The meter thread: sleeps [`HICCUP_INTERVAL`] and records how late it woke; every
/// [`RUN_QUEUE_EVERY`] it reads the load threads' run-queue delay, and once a second the
/// counters for that second's figures.
fn meter_thread(
    stop: &AtomicBool,
    thread: &HiccupMeter,
    runtime: Option<&HiccupMeter>,
    subject: &Subject,
    mut state: Readings,
) -> Seconds {
    let start = Instant::now();
    let mut next = start + Duration::from_secs(1);
    let mut next_queue = start + RUN_QUEUE_EVERY;
    while !stop.load(Ordering::Relaxed) {
        let due = Instant::now() + HICCUP_INTERVAL;
        std::thread::sleep(HICCUP_INTERVAL);
        let now = Instant::now();
        thread.record(now.saturating_duration_since(due));
        if now >= next_queue || now >= next {
            state.queue.update(&thread_waits(subject));
            next_queue = now + RUN_QUEUE_EVERY;
        }
        if now >= next {
            let thread_max = thread.take_second_max_ms();
            let hiccup_max_ms = runtime.map_or(thread_max, HiccupMeter::take_second_max_ms);
            state.second(subject, hiccup_max_ms);
            next += Duration::from_secs(1);
        }
    }
    let Readings { queue, mut out, .. } = state;
    out.run_queue = Some(queue);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_gives_busy_steal_and_total_seconds() {
        let text = "cpu  100 10 50 800 20 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        let (busy, steal, total) = parse_proc_stat(text).unwrap();
        assert_eq!((busy, steal, total), (1.7, 0.1, 10.0));
    }

    #[test]
    fn a_pid_stat_line_survives_spaces_in_the_name() {
        let text =
            "4242 (locust: worker 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_pid_stat(text), Some(300.0));
    }

    #[test]
    fn the_cores_of_an_affinity_are_read_and_their_busy_time_summed() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("x"), None);
        let stat = "cpu  9 9 9 9 9 9 9 9\ncpu0 100 0 0 0 0 0 0 0\ncpu1 50 0 50 0 0 0 0 0\n";
        assert_eq!(cores_busy(stat, &[1]), 1.0);
        assert_eq!(cores_busy(stat, &[0, 1]), 2.0);
    }

    #[test]
    fn the_run_queue_counts_threads_that_come_go_and_reuse_an_id() {
        // Thread 1 lived before the run, 2 is born in it, 3 ends in it; 1's id is reused.
        let mut q = RunQueue::start(&[(1, 1_000), (3, 500)]);
        assert_eq!(q.total_ns(), Some(0));
        q.update(&[(1, 1_400), (2, 300), (3, 800)]);
        assert_eq!(q.total_ns(), Some(400 + 300 + 300));
        // 3 has ended: it keeps its 300; 1 is a new thread now (its counter went back).
        q.update(&[(1, 50), (2, 700)]);
        assert_eq!(q.total_ns(), Some(400 + 50 + 700 + 300));
        assert_eq!(
            RunQueue::start(&[]).total_ns(),
            None,
            "nothing read is unmeasured"
        );
        let mut late = RunQueue::start(&[]);
        late.update(&[(9, 2_000)]);
        assert_eq!(
            late.total_ns(),
            Some(2_000),
            "born during the run: counted whole"
        );
    }

    #[test]
    fn a_process_has_a_run_queue_delay_for_the_threads_named() {
        // A name of this test's own: other tests of this binary may run load threads meanwhile.
        const NAME: &str = "rq-probe";
        let named = |waits: &mut Vec<(u32, u64)>| task_waits("/proc/self/task", Some(NAME), waits);
        let mut none = Vec::new();
        named(&mut none);
        assert!(none.is_empty(), "no such thread yet: {none:?}");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let probe = std::thread::Builder::new()
            .name(format!("{NAME}-0"))
            .spawn(move || {
                // Named by now: a thread names itself as it starts.
                let _ = ready_tx.send(());
                rx.recv()
            })
            .unwrap();
        ready.recv().unwrap();
        let mut waits = Vec::new();
        named(&mut waits);
        drop(tx);
        let _ = probe.join();
        // A kernel without schedstats has no line to read; with them, the one thread.
        if std::path::Path::new("/proc/self/schedstat").exists() {
            assert_eq!(waits.len(), 1, "{waits:?}");
        }
        let all = thread_waits(&Subject::Processes(vec![std::process::id()]));
        assert!(all.len() >= waits.len());
    }

    #[test]
    fn a_cgroup_quota_is_read_in_cores() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn a_meter_keeps_the_runs_figures_and_each_seconds_worst() {
        let m = HiccupMeter::default();
        for us in [100, 200, 5_000] {
            m.record(Duration::from_micros(us));
        }
        assert_eq!(m.take_second_max_ms(), 5.0);
        assert_eq!(m.take_second_max_ms(), 0.0);
        let f = m.figures();
        assert_eq!(f.samples, 3);
        assert!((f.max_ms - 5.0).abs() < 0.05, "{f:?}");
    }

    #[test]
    fn a_long_stall_counts_the_wake_ups_it_made_the_meter_miss() {
        // Every 10 ms for a second, punctual; then one stall of 200 ms.
        let m = HiccupMeter::default();
        for _ in 0..100 {
            m.record(Duration::from_micros(100));
        }
        m.record(Duration::from_millis(200));
        // 200, 190, ... 10 ms: 20 wake-ups, a sixth of the meter's time.
        let f = m.figures();
        assert_eq!(f.samples, 100 + 20);
        assert!(f.p99_ms >= 180.0, "the stall shows at the p99: {f:?}");
        assert!((f.max_ms - 200.0).abs() < 2.0, "{f:?}");
        assert_eq!(
            m.take_second_max_ms(),
            200.0,
            "a second's worst is the stall once"
        );
        // A stall of a year records a bounded number of wake-ups.
        let huge = HiccupMeter::default();
        huge.record(Duration::from_secs(365 * 24 * 3600));
        assert_eq!(huge.figures().samples, 1 + MAX_MISSED_WAKE_UPS);
    }

    #[test]
    fn a_monitor_measures_child_processes_on_one_core_each() {
        let m = Monitor::start(Subject::Processes(vec![std::process::id()]), false);
        let h = m.finish("locust").health;
        assert!(h.runtime_hiccup.is_none());
        assert!(h.cpu_allowance <= 1.0 && h.cpu_allowance > 0.0);
        let own = std::fs::read_to_string(format!("/proc/{}/stat", std::process::id())).unwrap();
        assert!(parse_pid_stat(&own).is_some(), "{own}");
    }

    #[test]
    fn a_monitor_measures_this_process() {
        let m = Monitor::start(Subject::ThisProcess, true);
        let meter = m.runtime_meter().unwrap();
        meter.record(Duration::from_micros(10));
        let measured = m.finish("native");
        let h = measured.health;
        assert_eq!(h.measured, "native");
        assert_eq!(h.runtime_hiccup.unwrap().samples, 1);
        assert!(h.cpu_allowance > 0.0);
    }
}
