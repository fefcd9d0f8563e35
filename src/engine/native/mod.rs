//! The native engine: `users` virtual users spread over worker threads that each run a
//! single-threaded event loop (wrk's design: no work stealing, no locks on the request path,
//! per-thread recorders merged once at the end).
//!
//! Closed model (default): users start at `spawn_rate` per second and run their tasks back to
//! back (with the scenario's waits). Open model (`rate`): task iterations are due on a fixed
//! schedule, independent of response times, and latency is measured from each iteration's
//! *intended* start, as wrk2 does: when the server stalls, the backlog shows in the percentiles
//! instead of silently lowering the request rate (coordinated omission).

mod http;
mod recorder;
mod schedule;
mod vu;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio_util::sync::CancellationToken;

use super::{
    progress::{Progress, Snapshot},
    EngineError, NativePlan,
};
use crate::stats::{EndpointStats, LoadModel, RunMeta, RunResult, SeriesSink, ToolInfo, SCHEMA};
use recorder::Recorder;
use schedule::Schedule;
use vu::{VirtualUser, WorkerCtx};

/// What one worker thread needs.
struct WorkerSetup {
    index: usize,
    /// (user id, start offset, open-model schedule)
    users: Vec<(u64, Duration, Option<Schedule>)>,
    plan: NativePlan,
    connector: Arc<http::Connector>,
    sink: Arc<SeriesSink>,
    token: CancellationToken,
    start: Instant,
}

/// Runs the plan to its end (or until `stop` is cancelled) and returns what was measured.
pub fn run(plan: &NativePlan, stop: &CancellationToken) -> Result<RunResult, EngineError> {
    let connector = Arc::new(http::Connector::new(&plan.target).map_err(EngineError::Start)?);
    let workers = plan.workers.clamp(1, plan.users.max(1) as usize);
    let sink = Arc::new(SeriesSink::new(workers));
    let started_at = SystemTime::now();
    let start = Instant::now();
    let deadline = start + plan.run_time;
    let token = stop.child_token();

    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        // Users are dealt round-robin to workers so each worker ramps up evenly. In the closed
        // model user i starts at i / spawn_rate seconds; in the open model all start at once
        // and their schedules interleave.
        let users = (0..plan.users)
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
            .collect();
        let setup = WorkerSetup {
            index: w,
            users,
            plan: plan.clone(),
            connector: connector.clone(),
            sink: sink.clone(),
            token: token.clone(),
            start,
        };
        let handle = std::thread::Builder::new()
            .name(format!("load-worker-{w}"))
            .spawn(move || worker(setup))
            .map_err(|e| EngineError::Start(format!("cannot spawn a worker thread: {e}")))?;
        handles.push(handle);
    }

    let aborted = supervise(plan, &token, deadline, start, &sink);
    token.cancel();

    let mut recorders = Vec::with_capacity(workers);
    for h in handles {
        let rec = h.join().map_err(|p| {
            EngineError::WorkerPanicked(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into()),
            )
        })??;
        recorders.push(rec);
    }
    let elapsed = start
        .elapsed()
        .min(plan.run_time.max(Duration::from_millis(1)));
    let interrupted = stop.is_cancelled();
    // Rates are over the measured window: the warm-up is not part of it.
    let warmup = plan.warmup.min(elapsed);
    let duration_s = (elapsed - warmup).as_secs_f64().max(1e-3);

    let endpoints: Vec<EndpointStats> = plan
        .scenario
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let mut histogram = crate::stats::LatencyHistogram::new();
            let mut requests = 0;
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            for r in &recorders {
                let e = &r.endpoints[i];
                histogram.add(&e.histogram);
                requests += e.requests;
                for (reason, n) in &e.reasons {
                    *reasons.entry(reason.to_string()).or_default() += n;
                }
            }
            EndpointStats::from_counts(
                def.name.clone(),
                Some(def.method.clone()),
                histogram,
                requests,
                reasons,
                duration_s,
            )
        })
        .collect();
    let aggregate = EndpointStats::aggregate("all requests", &endpoints, duration_s);
    drop(recorders);
    let timeseries = Arc::try_unwrap(sink)
        .map(SeriesSink::finish)
        .unwrap_or_default();

    Ok(RunResult {
        schema: SCHEMA.into(),
        tool: ToolInfo::current(),
        run: RunMeta {
            engine: "native".into(),
            model: if plan.rate.is_some() {
                LoadModel::Open
            } else {
                LoadModel::Closed
            },
            scenario: Some(plan.scenario_name.clone()),
            target: plan.target.url.to_string(),
            users: plan.users,
            spawn_rate: plan.spawn_rate,
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_s,
            warmup_s: warmup.as_secs_f64(),
            interrupted,
            quantised: false,
            shard: None,
            cloud_url: None,
            rate: plan.rate,
            aborted: aborted.clone(),
        },
        ci: None,
        aggregate,
        endpoints,
        timeseries,
    })
}

/// Waits for the deadline, an interruption or a failing abort-on-fail threshold (whose
/// description it returns), reporting progress.
fn supervise(
    plan: &NativePlan,
    token: &CancellationToken,
    deadline: Instant,
    start: Instant,
    sink: &SeriesSink,
) -> Option<String> {
    let mut progress = Progress::new(plan.run_time);
    progress.section_start(
        "loadforge_gate_load",
        &format!("loadforge-gate: load phase ({})", plan.scenario_name),
    );
    let mut next_progress = start + plan.progress_every;
    let mut failures = 0u64;
    let mut last_t = None;
    let mut aborted = None;
    let mut next_abort_check = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= deadline || token.is_cancelled() {
            break;
        }
        if !plan.abort_rules.is_empty() && now >= next_abort_check {
            next_abort_check += Duration::from_secs(1);
            let totals = sink.totals();
            let elapsed = start.elapsed();
            let failing = plan.abort_rules.iter().find_map(|t| {
                let v = crate::gate::live_value(&totals, t.metric)?;
                (elapsed >= t.abort_after.unwrap_or_default() && !t.op.holds(v, t.limit)).then(
                    || {
                        format!(
                            "`{}` failed after {:.0}s ({} = {}), so the run was stopped early",
                            t.source,
                            elapsed.as_secs_f64(),
                            t.metric.label(),
                            crate::gate::format_value(v, t.metric.kind().unit())
                        )
                    },
                )
            });
            if let Some(reason) = failing {
                eprintln!("loadforge-gate: abort-on-fail: {reason}");
                aborted = Some(reason);
                break;
            }
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        if let Some(p) = sink.latest() {
            if last_t != Some(p.t) {
                failures += p.failures;
                last_t = Some(p.t);
            }
        }
        if !plan.progress_every.is_zero() && Instant::now() >= next_progress {
            next_progress += plan.progress_every;
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
    }
    progress.section_end("loadforge_gate_load");
    aborted
}

fn worker(setup: WorkerSetup) -> Result<Recorder, EngineError> {
    let WorkerSetup {
        index,
        users,
        plan,
        connector,
        sink,
        token,
        start,
    } = setup;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Start(format!("cannot build a runtime: {e}")))?;
    let local = tokio::task::LocalSet::new();
    let recorder = Rc::new(RefCell::new(Recorder::new(
        index,
        plan.scenario.endpoints.len(),
        start,
        plan.warmup,
        sink,
    )));
    let ctx = Rc::new(
        WorkerCtx::new(
            plan.scenario.clone(),
            connector,
            recorder.clone(),
            &plan.target.authority,
            plan.target.base_path.clone(),
        )
        .map_err(EngineError::Start)?,
    );
    local.block_on(&rt, async {
        let ticker = {
            let recorder = recorder.clone();
            let token = token.clone();
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
        };
        let mut tasks = Vec::with_capacity(users.len());
        for (id, offset, schedule) in users {
            let ctx = ctx.clone();
            let token = token.clone();
            let recorder = recorder.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let at = tokio::time::Instant::from_std(start + offset);
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep_until(at) => {}
                }
                recorder.borrow_mut().active_users += 1;
                let seed =
                    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ start.elapsed().as_nanos() as u64;
                let user = VirtualUser::new(ctx, seed);
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = user.run(schedule) => {}
                }
                recorder.borrow_mut().active_users -= 1;
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let _ = ticker.await;
    });
    drop(ctx);
    let mut rec = Rc::try_unwrap(recorder)
        .map(RefCell::into_inner)
        .map_err(|_| EngineError::Start("recorder still shared at the end of the run".into()))?;
    rec.flush(u32::MAX);
    Ok(rec)
}
