//! The native engine: `users` virtual users spread over worker threads that each run a
//! single-threaded event loop (wrk's design: no work stealing, no locks on the request path,
//! per-thread recorders merged once at the end).
//!
//! Closed model (default): users start at `spawn_rate` per second and run their tasks back to
//! back (with the scenario's waits). Open model (`rate`): task iterations are due on a fixed
//! schedule, independent of response times, and latency is measured from each iteration's
//! *intended* start, as wrk2 does: when the server stalls, the backlog shows in the percentiles
//! instead of silently lowering the request rate (coordinated omission).

mod body;
mod cookies;
mod decode;
mod ending;
mod exchange;
mod h2proto;
mod http;
mod http2;
mod lanes;
mod paired;
mod proxy;
mod recorder;
mod redirect;
mod schedule;
#[cfg(test)]
mod tls_wire;
mod vu;
mod wire;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio_util::sync::CancellationToken;

use super::{
    health::{self, HiccupMeter, Monitor, Subject},
    progress::{Every, Progress, Snapshot},
    EngineError, NativePlan,
};
use crate::{
    pause::panic_message,
    stats::{
        CookiesDropped, EndpointStats, LoadModel, RunMeta, RunResult, SeriesSink, Side, ToolInfo,
        SCHEMA,
    },
};
use paired::{Names, PairedRec, SliceSink, Slices};
use recorder::{EndpointRec, Recorder};
use schedule::Schedule;
use vu::{VirtualUser, WorkerCtx};

/// A user's id, its start offset and, in the open model, its schedule.
type UserStart = (u64, Duration, Option<Schedule>);

/// What one worker thread needs.
struct WorkerSetup {
    index: usize,
    users: Vec<UserStart>,
    plan: NativePlan,
    connector: Arc<http::Connector>,
    sink: Arc<SeriesSink>,
    /// The run's end: users start nothing new, and finish what is in flight.
    token: CancellationToken,
    /// An interruption or an abort-on-fail: users' tasks are aborted at once.
    halt: CancellationToken,
    start: Instant,
    /// The runtime hiccup meter this worker's meter task records into.
    hiccups: Option<Arc<HiccupMeter>>,
    /// A paired run's shared parts.
    paired: Option<Pairing>,
}

/// What every worker of a paired run shares: the base's connector, the slices, the request
/// names and the sink their figures go to.
#[derive(Clone)]
struct Pairing {
    connector: Arc<http::Connector>,
    slices: Arc<Slices>,
    names: Arc<Names>,
    sink: Arc<SliceSink>,
}

impl Pairing {
    fn new(
        plan: &NativePlan,
        workers: usize,
        start: Instant,
    ) -> Result<Option<Pairing>, EngineError> {
        let Some(p) = &plan.paired else {
            return Ok(None);
        };
        let (connector, _) = connector(&p.base, plan)?;
        let names = Arc::new(Names::new(
            plan.scenario.endpoints.iter().map(|e| e.name.as_str()),
        ));
        Ok(Some(Pairing {
            connector,
            slices: Arc::new(Slices::new(start, p, plan.warmup)),
            sink: Arc::new(SliceSink::new(workers, names.clone())),
            names,
        }))
    }
}

impl Pairing {
    /// The paired section of the result: the base's rows, and every slice's figures with the
    /// generator's stall in it. A run its referee stopped keeps the slices it was decided on
    /// (`decided`: how many), not the part of the next pair it had begun.
    fn into_run(
        self,
        plan: &NativePlan,
        base: (Vec<EndpointStats>, f64),
        (elapsed, decided): (Duration, Option<u64>),
        timeseries: &[crate::stats::SecondPoint],
    ) -> crate::stats::PairedRun {
        let done = Arc::try_unwrap(self.sink)
            .map(SliceSink::finish)
            .unwrap_or_default();
        let target = plan.paired.as_ref().map(|p| &p.base.url);
        // A decided run stopped once the pair after slice `k`'s was under way everywhere:
        // slices below `k` are settled (`paired_run`), and the part of the pairs it stopped in
        // is no slice's.
        let sliced = decided.map_or(elapsed, |k| self.slices.pair_start(k / 2 + 1).min(elapsed));
        let mut run = paired::paired_run(
            &self.slices,
            done,
            (target.map(ToString::to_string).unwrap_or_default(), base),
            sliced,
            timeseries,
        );
        run.until_decisive = (plan.paired.as_ref())
            .filter(|p| p.referee.is_some())
            .map(|_| crate::stats::UntilDecisive {
                limit_s: plan.run_time.as_secs_f64(),
                decided: decided.is_some(),
            });
        run
    }

    /// Asks the referee, when enough whole pairs were measured since it was last asked
    /// ([`paired::next_look`] of `asked`), and
    /// returns the slices the run is decided on, if it is. The referee sees the generator's
    /// seconds as the end will (`monitor`), so it weighs the stall the checks will weigh; it is
    /// asked only once the meter has every second of the pairs.
    fn decided(
        &self,
        plan: &NativePlan,
        asked: &mut u64,
        monitor: Option<&Monitor>,
    ) -> Option<u64> {
        let referee = plan.paired.as_ref()?.referee.as_ref()?;
        let pairs = self.sink.whole_pairs().min(self.slices.max() / 2);
        if pairs < paired::next_look(*asked) {
            return None;
        }
        let kept = pairs * 2;
        let seconds = monitor.map(Monitor::seconds_so_far);
        let needed = self.slices.pair_start(pairs).as_secs_f64().ceil() as usize;
        if seconds.as_ref().is_some_and(|s| s.len() < needed) {
            return None;
        }
        *asked = pairs;
        let series: Vec<crate::stats::SecondPoint> = (seconds.unwrap_or_default().into_iter())
            .enumerate()
            .map(|(t, g)| crate::stats::SecondPoint {
                generator: Some(g),
                ..crate::stats::SecondPoint::empty(u32::try_from(t).unwrap_or(u32::MAX))
            })
            .collect();
        let run = paired::paired_run(
            &self.slices,
            self.sink.reduced_below(kept),
            (String::new(), (Vec::new(), 0.0)),
            self.slices.pair_start(pairs + 1),
            &series,
        );
        referee.decided(&run).then_some(kept)
    }
}

/// Runs the plan to its end (or until `stop` is cancelled) and returns what was measured.
pub fn run(plan: &NativePlan, stop: &CancellationToken) -> Result<RunResult, EngineError> {
    lanes_need_h2(plan)?;
    let (connector, insecure) = connector(&plan.target, plan)?;
    let workers = plan.workers.clamp(1, plan.users.max(1) as usize);
    let sink = Arc::new(SeriesSink::new(workers));
    let started_at = SystemTime::now();
    let monitor = plan
        .meters
        .then(|| Monitor::start(Subject::ThisProcess, true));
    let start = Instant::now();
    let pairing = Pairing::new(plan, workers, start)?;
    // An interruption (`stop`) or an abort-on-fail halts the users at once; the run's end
    // (`token`, its time up or the referee's decision) lets them finish what is in flight.
    let halt = stop.child_token();
    let token = halt.child_token();
    let hiccups = monitor.as_ref().and_then(Monitor::runtime_meter);
    let shared = Shared {
        connector: &connector,
        sink: &sink,
        hiccups: &hiccups,
        pairing: &pairing,
    };
    let handles = spawn_workers(plan, workers, &shared, (&token, &halt), start)?;
    let watched = (&*sink, pairing.as_ref(), monitor.as_ref());
    let Ending { aborted, decided } = supervise(plan, &token, start, watched);
    end_users(aborted.is_some(), &token, &halt);
    // The run's measured time ends here, and answers stop counting for a paired run's slices:
    // a pair whose last answers were due after the cancel is not settled, however long the
    // workers then take to drain. The generator's meters stop here too: the drain is no load.
    let cut = start.elapsed();
    let generator = monitor.map(|m| m.finish("native"));
    let (recorders, panics) = join_workers(handles)?;
    tell_drain(start.elapsed().saturating_sub(cut), plan);
    let elapsed = cut.min(plan.run_time.max(Duration::from_millis(1)));
    let warmup = plan.warmup.min(elapsed);
    let Sides {
        change: (endpoints, duration_s),
        base,
        cookies_dropped,
    } = sides(plan, pairing.as_ref(), recorders, elapsed);
    let requests: u64 = endpoints.iter().map(|e| e.requests).sum();
    let timeseries = series(sink, generator.as_ref());
    let paired = pairing
        .zip(base)
        .map(|(p, base)| p.into_run(plan, base, (elapsed.min(cut), decided), &timeseries));
    let result = RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: RunMeta {
            model: plan.rate.map_or(LoadModel::Closed, |_| LoadModel::Open),
            scenario: Some(plan.scenario_name.clone()),
            warmup_s: warmup.as_secs_f64(),
            interrupted: stop.is_cancelled(),
            rate: plan.rate,
            aborted,
            tls_insecure: insecure,
            cookies_dropped,
            protocol: connector.protocol(),
            generator: generator.map(|g| g.health.with_requests(requests)),
            ..RunMeta::new(
                crate::stats::Engine::Native,
                plan.target.url.to_string(),
                plan.users,
                plan.spawn_rate,
                RunMeta::timestamp(started_at),
                duration_s,
            )
        },
        ci: None,
        aggregate: EndpointStats::aggregate(crate::stats::ALL_REQUESTS, &endpoints, duration_s),
        endpoints,
        timeseries,
        paired,
    };
    unless_panicked(result, &panics)
}

/// Ends the users' load: they finish what is in flight (`drain`), unless an abort-on-fail
/// stopped the run, whose verdict is a failure already: no reason to wait, they are halted.
fn end_users(aborted: bool, token: &CancellationToken, halt: &CancellationToken) {
    if aborted {
        halt.cancel();
    }
    token.cancel();
}

/// The run's result, or a crash (exit 3) when a virtual user panicked: what the other users
/// measured is still published, as its partial result.
fn unless_panicked(result: RunResult, panics: &[String]) -> Result<RunResult, EngineError> {
    match panics.first() {
        Some(message) => Err(EngineError::Crashed {
            message: format!("a virtual user panicked ({message}), so requests may be missing"),
            partial: Some(Box::new(result)),
        }),
        None => Ok(result),
    }
}

/// Several streams per user (`defaults.streams_per_user`) are lanes on one HTTP/2 connection:
/// under `http2: never` they could only be that many HTTP/1.1 connections, another load than
/// the one asked for, so the run is refused before it starts (exit 2).
fn lanes_need_h2(plan: &NativePlan) -> Result<(), EngineError> {
    let m = plan.scenario.streams_per_user;
    let base = plan.paired.as_ref().map(|p| &p.base);
    let never = std::iter::once(&plan.target)
        .chain(base)
        .any(|t| t.http2 == crate::modes::Http2Mode::Never);
    if m > 1 && never {
        return Err(EngineError::Config(format!(
            "defaults.streams_per_user is {m} but http2 is never: several streams per user need HTTP/2; set `http2: auto` or `always` in the scenario's defaults (or --http2), or streams_per_user: 1"
        )));
    }
    Ok(())
}

/// The run's seconds, each with the generator's figures of that second.
fn series(
    sink: Arc<SeriesSink>,
    generator: Option<&health::Measured>,
) -> Vec<crate::stats::SecondPoint> {
    let mut timeseries = Arc::try_unwrap(sink)
        .map(SeriesSink::finish)
        .unwrap_or_default();
    for p in &mut timeseries {
        p.generator = generator.and_then(|g| g.seconds.get(p.t as usize).copied());
    }
    timeseries
}

/// What the workers measured, per side: the rows and the seconds their rates are over.
struct Sides {
    change: (Vec<EndpointStats>, f64),
    /// A paired run's base.
    base: Option<(Vec<EndpointStats>, f64)>,
    cookies_dropped: CookiesDropped,
}

/// Adds the workers' recorders up, side by side. Rates are over the measured window: the
/// warm-up is not part of it, nor, in a paired run, the other side's slices.
fn sides(
    plan: &NativePlan,
    pairing: Option<&Pairing>,
    recorders: Vec<Recorder>,
    elapsed: Duration,
) -> Sides {
    let warmup = plan.warmup.min(elapsed);
    let window = |side| match pairing {
        None => (elapsed - warmup).as_secs_f64().max(1e-3),
        Some(p) => p
            .slices
            .order()
            .side_seconds(
                side,
                p.slices.turn_s(),
                warmup.as_secs_f64(),
                elapsed.as_secs_f64(),
            )
            .max(1e-3),
    };
    let cookies_dropped = recorders
        .iter()
        .fold(CookiesDropped::default(), |mut sum, r| {
            sum.add(&r.cookies_dropped);
            sum
        });
    let (change, base): (Vec<_>, Vec<_>) =
        recorders.into_iter().map(|r| (r.endpoints, r.base)).unzip();
    let change_s = window(Side::Change);
    Sides {
        change: (merge_endpoints(plan, change, change_s), change_s),
        base: pairing.map(|_| {
            let base_s = window(Side::Base);
            (merge_endpoints(plan, base, base_s), base_s)
        }),
        cookies_dropped,
    }
}

/// The users' shared connector, and whether the target's certificate goes unverified
/// (`--insecure`: said once here, and in every report).
fn connector(
    target: &super::Target,
    plan: &NativePlan,
) -> Result<(Arc<http::Connector>, bool), EngineError> {
    let limits = http::Limits {
        max_head: plan.scenario.max_head,
        max_body: plan.scenario.max_body,
    };
    let connector = Arc::new(http::Connector::new(target, limits)?);
    let insecure = target.tls && target.tls_options.insecure;
    if insecure {
        eprintln!(
            "loadforge-gate: warning: --insecure: the certificate of {} is not verified; every report says so",
            target.host
        );
    }
    Ok((connector, insecure))
}

/// The users one worker runs: dealt round-robin so each worker ramps up evenly. In the closed
/// model user i starts at i / spawn_rate seconds; in the open model all start at once and
/// their schedules interleave.
fn users_of(plan: &NativePlan, w: usize, workers: usize, start: Instant) -> Vec<UserStart> {
    (0..plan.users)
        .filter(|i| *i as usize % workers == w)
        .map(|i| match plan.rate {
            None => (
                i as u64,
                Duration::from_secs_f64(i as f64 / plan.spawn_rate),
                None,
            ),
            Some(rate) => (
                i as u64,
                Duration::ZERO,
                Some(Schedule::new(
                    start,
                    rate / plan.users as f64,
                    plan.ramp,
                    i as f64 / plan.users as f64,
                )),
            ),
        })
        .collect()
}

type WorkerHandle = std::thread::JoinHandle<Result<(Recorder, Option<String>), EngineError>>;

/// What every worker is handed a share of.
struct Shared<'a> {
    connector: &'a Arc<http::Connector>,
    sink: &'a Arc<SeriesSink>,
    hiccups: &'a Option<Arc<HiccupMeter>>,
    pairing: &'a Option<Pairing>,
}

fn spawn_workers(
    plan: &NativePlan,
    workers: usize,
    shared: &Shared<'_>,
    (token, halt): (&CancellationToken, &CancellationToken),
    start: Instant,
) -> Result<Vec<WorkerHandle>, EngineError> {
    (0..workers)
        .map(|w| {
            let setup = WorkerSetup {
                index: w,
                users: users_of(plan, w, workers, start),
                plan: plan.clone(),
                connector: shared.connector.clone(),
                sink: shared.sink.clone(),
                token: token.clone(),
                halt: halt.clone(),
                start,
                hiccups: shared.hiccups.clone(),
                paired: shared.pairing.clone(),
            };
            std::thread::Builder::new()
                .name(format!("{}-{w}", health::WORKER_THREAD))
                .spawn(move || worker(setup))
                .map_err(|e| EngineError::Setup {
                    action: "spawn a worker thread".into(),
                    source: e.into(),
                })
        })
        .collect()
}

/// Waits for every worker: their recorders, and the message of every panic (of a worker thread
/// or of a user task), which must end the run as a crash, never as a silent gap.
fn join_workers(handles: Vec<WorkerHandle>) -> Result<(Vec<Recorder>, Vec<String>), EngineError> {
    let mut recorders = Vec::with_capacity(handles.len());
    let mut panics = Vec::new();
    for h in handles {
        match h.join() {
            Ok(done) => {
                let (recorder, panicked) = done?;
                recorders.push(recorder);
                panics.extend(panicked);
            }
            Err(p) => panics.push(panic_message(p)),
        }
    }
    Ok((recorders, panics))
}

/// Adds every worker's recorder into one set of per-endpoint statistics, consuming them: each
/// endpoint's first worker histogram becomes the sum and the others are freed as it goes, so the
/// merge allocates no histogram of its own (with a thousand endpoints, a copy of every one of
/// them would be most of the run's memory).
fn merge_endpoints(
    plan: &NativePlan,
    recorders: Vec<Vec<EndpointRec>>,
    duration_s: f64,
) -> Vec<EndpointStats> {
    let mut per_worker: Vec<_> = recorders.into_iter().map(Vec::into_iter).collect();
    plan.scenario
        .endpoints
        .iter()
        .map(|def| {
            let mut parts = per_worker.iter_mut().filter_map(Iterator::next);
            let mut sum = parts.next().unwrap_or_else(recorder::EndpointRec::empty);
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            let mut add_reasons = |rec: &recorder::EndpointRec| {
                for (reason, n) in &rec.reasons {
                    *reasons.entry(reason.to_string()).or_default() += n;
                }
            };
            add_reasons(&sum);
            for part in parts {
                sum.histogram.add(&part.histogram);
                sum.requests += part.requests;
                sum.received += part.received;
                sum.protocol = crate::stats::Protocol::join(sum.protocol, part.protocol);
                add_reasons(&part);
            }
            EndpointStats {
                received: Some(sum.received),
                protocol: sum.protocol,
                ..EndpointStats::from_counts(
                    def.name.clone(),
                    (!def.method.is_empty()).then(|| def.method.clone()),
                    sum.histogram,
                    sum.requests,
                    reasons,
                    duration_s,
                )
            }
        })
        .collect()
}

/// Why a run ended before its time, if it did.
#[derive(Default)]
struct Ending {
    /// The watchdog's reason (abort-on-fail).
    aborted: Option<String>,
    /// The referee found the pairs decided: the slices they are.
    decided: Option<u64>,
}

/// Waits for the end of the run, an interruption, the watchdog's reason to stop or the
/// referee's decision, reporting progress.
fn supervise(
    plan: &NativePlan,
    token: &CancellationToken,
    start: Instant,
    (sink, pairing, monitor): (&SeriesSink, Option<&Pairing>, Option<&Monitor>),
) -> Ending {
    let deadline = start + plan.run_time;
    let mut progress = Progress::new(plan.run_time);
    progress.section_start(
        "loadforge_gate_load",
        &format!("loadforge-gate: load phase ({})", plan.scenario_name),
    );
    let mut lines = Every::new(start, plan.progress_every);
    let mut watch = Every::new(start, Some(Duration::from_secs(1)));
    let mut failures = FailureCount::default();
    let mut ending = Ending::default();
    let mut asked = 0;
    loop {
        let now = Instant::now();
        if now >= deadline || token.is_cancelled() {
            break;
        }
        if let Some(reason) = plan
            .watchdog
            .as_ref()
            .filter(|_| watch.due(now))
            .and_then(|w| w.check(&sink.totals(), start.elapsed()))
        {
            eprintln!("loadforge-gate: abort-on-fail: {reason}");
            ending.aborted = Some(reason);
            break;
        }
        if let Some(kept) = pairing.and_then(|p| p.decided(plan, &mut asked, monitor)) {
            eprintln!(
                "loadforge-gate: until-decisive: decided after {} slice pairs, at {:.0}s of at most {:.0}s",
                kept / 2,
                start.elapsed().as_secs_f64(),
                plan.run_time.as_secs_f64()
            );
            ending.decided = Some(kept);
            break;
        }
        crate::pause::pause((deadline - now).min(Duration::from_millis(50)), token);
        failures.update(sink);
        if lines.due(Instant::now()) {
            report_progress(&mut progress, plan, start, sink, failures.total);
        }
    }
    progress.section_end("loadforge_gate_load");
    ending
}

/// Failures over the finished seconds, each second counted once.
#[derive(Default)]
struct FailureCount {
    total: u64,
    last_t: Option<u32>,
}

impl FailureCount {
    fn update(&mut self, sink: &SeriesSink) {
        if let Some(p) = sink.latest() {
            if self.last_t != Some(p.t) {
                self.total += p.failures;
                self.last_t = Some(p.t);
            }
        }
    }
}

fn report_progress(
    progress: &mut Progress,
    plan: &NativePlan,
    start: Instant,
    sink: &SeriesSink,
    failures: u64,
) {
    if let Some(p) = sink.latest() {
        progress.report(&Snapshot {
            elapsed: start.elapsed(),
            users: p.users,
            max_users: plan.users,
            rps: p.requests as f64,
            failures,
            p95_ms: p.p95_ms,
        });
    }
}

/// Rolls the recorder's per-second window once a second, until the run is stopped.
fn spawn_ticker(
    recorder: Rc<RefCell<Recorder>>,
    token: CancellationToken,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::from_std(start + Duration::from_secs(1)),
            Duration::from_secs(1),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => recorder.borrow_mut().roll(Instant::now()),
            }
        }
    })
}

/// One virtual user: waits for its start, then runs until the run's end, finishing the
/// request it has in flight then (`ending.rs`), or until the worker aborts its task (an
/// interruption, the drain's bound). The end is a flag a user reads between steps, not a race
/// of every poll against the stop token: that keeps the token's lock and waker off the request
/// path (one poll per response, thousands a second).
///
/// In a paired run the user has a twin on the base (`twin`): the same random stream, so the
/// same flows, with its own connections, cookies and variables; the two run in one task and
/// each sends only in its own side's slices.
fn spawn_user(
    (id, offset, schedule): UserStart,
    (ctx, twin): (Rc<WorkerCtx>, Option<Rc<WorkerCtx>>),
    recorder: Rc<RefCell<Recorder>>,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_local(async move {
        if !ctx.end.sleep_until(start + offset).await {
            // The run ended before this user's turn to start.
            return;
        }
        let _active = Active::enter(recorder);
        let stream = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ start.elapsed().as_nanos() as u64;
        #[cfg(debug_assertions)]
        fail_point(id);
        match twin {
            None => run_lanes(ctx, stream, schedule).await,
            Some(base) => {
                tokio::join!(
                    run_lanes(ctx, stream, schedule.clone()),
                    run_lanes(base, stream, schedule)
                );
            }
        }
    })
}

/// A user's flow, in as many lanes as `defaults.streams_per_user` says (`lanes.rs`): one lane
/// is the user itself; several share one connection, each with its own random stream (a
/// paired run's twin has the same ones) and its share of the user's arrivals in the open model.
async fn run_lanes(ctx: Rc<WorkerCtx>, stream: u64, schedule: Option<Schedule>) {
    let m = ctx.scenario.streams_per_user;
    if m <= 1 {
        return VirtualUser::new(ctx, stream).run(schedule).await;
    }
    let pool = Rc::new(lanes::Pool::new(m));
    let schedules = match &schedule {
        Some(s) => s.lanes(m).into_iter().map(Some).collect(),
        None => vec![None; m as usize],
    };
    let users = schedules.into_iter().enumerate().map(|(l, schedule)| {
        let lane_stream = stream.wrapping_add((l as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let user = VirtualUser::new(ctx.clone(), lane_stream).in_pool(pool.clone());
        user.run(schedule)
    });
    lanes::all(&pool, users.collect()).await;
}

/// A started user, counted in the recorder's active users until its task ends or is aborted.
struct Active(Rc<RefCell<Recorder>>);

impl Active {
    fn enter(recorder: Rc<RefCell<Recorder>>) -> Active {
        recorder.borrow_mut().active_users += 1;
        Active(recorder)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        // Never a second panic while a panicking user unwinds.
        if let Ok(mut recorder) = self.0.try_borrow_mut() {
            recorder.active_users -= 1;
        }
    }
}

/// Tests make user 0 panic (debug builds only, with `LOADFORGE_GATE_FAIL_POINT=user-panic`) to
/// prove that a panic ends the run as a crash with its partial results, never as a silent gap.
#[cfg(debug_assertions)]
fn fail_point(user: u64) {
    if user == 0 && std::env::var("LOADFORGE_GATE_FAIL_POINT").as_deref() == Ok("user-panic") {
        panic!("fail point: user 0 panics");
    }
}

/// The users' context on this worker, and in a paired run their twins' on the base (the
/// recorder then keeps the base's rows and the slices too).
type Contexts = (Rc<WorkerCtx>, Option<Rc<WorkerCtx>>);

fn contexts(
    plan: &NativePlan,
    connector: Arc<http::Connector>,
    recorder: &Rc<RefCell<Recorder>>,
    paired: Option<&Pairing>,
    (index, end): (usize, &Rc<ending::EndSignal>),
) -> Result<Contexts, EngineError> {
    let ctx = |connector, target| {
        let recorder = recorder.clone();
        WorkerCtx::new(
            plan.scenario.clone(),
            connector,
            recorder,
            target,
            end.clone(),
        )
        .map_err(EngineError::Start)
    };
    let change = ctx(connector, &plan.target)?;
    let (Some(p), Some(pp)) = (paired, &plan.paired) else {
        return Ok((Rc::new(change), None));
    };
    recorder.borrow_mut().pair(PairedRec::new(
        index,
        p.slices.clone(),
        p.names.clone(),
        p.sink.clone(),
    ));
    let base = ctx(p.connector.clone(), &pp.base)?;
    Ok((
        Rc::new(change.on_side(Side::Change, p.slices.clone())),
        Some(Rc::new(base.on_side(Side::Base, p.slices.clone()))),
    ))
}

/// Waits for the users to finish the requests they have in flight at the run's end, for at
/// most `bound` and never past `halt` (an interruption, an abort-on-fail), then aborts what
/// still runs; returns the message of the first panic of a user, if one panicked.
async fn drain(
    mut tasks: Vec<tokio::task::JoinHandle<()>>,
    halt: &CancellationToken,
    bound: Duration,
) -> Option<String> {
    let mut ended: Vec<Option<Result<(), tokio::task::JoinError>>> =
        tasks.iter().map(|_| None).collect();
    let all = async {
        for (t, slot) in tasks.iter_mut().zip(&mut ended) {
            *slot = Some(t.await);
        }
    };
    tokio::select! {
        biased;
        () = halt.cancelled() => {}
        () = all => {}
        () = tokio::time::sleep(bound) => {}
    }
    let mut panicked = None;
    for (t, slot) in tasks.into_iter().zip(ended) {
        let result = match slot {
            Some(r) => r,
            None => {
                t.abort();
                t.await
            }
        };
        // A user that panicked must not vanish silently: its requests would be missing from
        // a result that still passes.
        if let Err(e) = result {
            if e.is_panic() {
                panicked.get_or_insert_with(|| panic_message(e.into_panic()));
            }
        }
    }
    panicked
}

/// Says how long the run's end waited for the requests in flight, when that was long enough
/// to notice: a job's log would otherwise show an unexplained wait after the load phase.
fn tell_drain(took: Duration, plan: &NativePlan) {
    if took >= Duration::from_secs(1) {
        eprintln!(
            "loadforge-gate: the run's end waited {:.1}s for the requests in flight (at most {}: the longest request timeout and {})",
            took.as_secs_f64(),
            crate::duration::format_duration(ending::drain_bound(&plan.scenario)),
            crate::duration::format_duration(ending::DRAIN_MARGIN),
        );
    }
}

/// Runs one worker's users; returns its recorder and, if a user panicked, the panic's message.
fn worker(setup: WorkerSetup) -> Result<(Recorder, Option<String>), EngineError> {
    let WorkerSetup {
        index,
        users,
        plan,
        connector,
        sink,
        token,
        halt,
        start,
        hiccups,
        paired,
    } = setup;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Setup {
            action: "build a runtime".into(),
            source: e.into(),
        })?;
    let local = tokio::task::LocalSet::new();
    let recorder = Rc::new(RefCell::new(Recorder::new(
        index,
        plan.scenario.endpoints.len(),
        (start, plan.run_time),
        plan.warmup,
        sink,
    )));
    let end = Rc::new(ending::EndSignal::new());
    let (ctx, twin) = contexts(&plan, connector, &recorder, paired.as_ref(), (index, &end))?;
    let bound = ending::drain_bound(&plan.scenario);
    let panicked = local.block_on(&rt, async {
        let ticker = spawn_ticker(recorder.clone(), token.clone(), start);
        let meter = hiccups.map(|m| tokio::task::spawn_local(health::runtime_meter(m)));
        let tasks: Vec<_> = users
            .into_iter()
            .map(|u| spawn_user(u, (ctx.clone(), twin.clone()), recorder.clone(), start))
            .collect();
        token.cancelled().await;
        recorder.borrow_mut().end(Instant::now());
        end.end();
        if let Some(m) = &meter {
            m.abort();
        }
        let panicked = drain(tasks, &halt, bound).await;
        let _ = ticker.await;
        panicked
    });
    drop((ctx, twin));
    let mut rec = Rc::try_unwrap(recorder)
        .map(RefCell::into_inner)
        .map_err(|_| EngineError::Start("recorder still shared at the end of the run".into()))?;
    rec.flush(u32::MAX);
    if let Some(p) = &mut rec.paired {
        p.finish();
    }
    Ok((rec, panicked))
}
