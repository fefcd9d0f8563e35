//! The native engine, closed model: `users` virtual users started at `spawn_rate` per second,
//! spread over worker threads that each run a single-threaded event loop (wrk's design: no
//! work stealing, no locks on the request path, per-thread recorders merged once at the end).

mod http;
mod recorder;
mod vu;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use tokio_util::sync::CancellationToken;

use super::{EngineError, NativePlan};
use crate::stats::{EndpointStats, LoadModel, RunMeta, RunResult, SeriesSink, ToolInfo, SCHEMA};
use recorder::Recorder;
use vu::{VirtualUser, WorkerCtx};

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
        // User i starts at i / spawn_rate seconds; users are dealt round-robin to workers so
        // each worker ramps up evenly.
        let starts: Vec<(u64, Duration)> = (0..plan.users)
            .filter(|i| *i as usize % workers == w)
            .map(|i| {
                (
                    i as u64,
                    Duration::from_secs_f64(i as f64 / plan.spawn_rate),
                )
            })
            .collect();
        let scenario = plan.scenario.clone();
        let connector = connector.clone();
        let sink = sink.clone();
        let token = token.clone();
        let authority = plan.target.authority.clone();
        let base_path = plan.target.base_path.clone();
        let handle = std::thread::Builder::new()
            .name(format!("load-worker-{w}"))
            .spawn(move || {
                worker(
                    w, starts, scenario, connector, sink, token, start, authority, base_path,
                )
            })
            .map_err(|e| EngineError::Start(format!("cannot spawn a worker thread: {e}")))?;
        handles.push(handle);
    }

    supervise(plan, &token, deadline, start, &sink);
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
    let duration_s = elapsed.as_secs_f64();

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
            model: LoadModel::Closed,
            scenario: Some(plan.scenario_name.clone()),
            target: plan.target.url.to_string(),
            users: plan.users,
            spawn_rate: plan.spawn_rate,
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            duration_s,
            warmup_s: 0.0,
            interrupted,
            quantised: false,
            shard: None,
            cloud_url: None,
        },
        ci: None,
        aggregate,
        endpoints,
        timeseries,
    })
}

/// Waits for the deadline or an interruption, printing a progress line now and then. Plain
/// lines (not a redrawn bar) because the main audience is a CI job log.
fn supervise(
    plan: &NativePlan,
    token: &CancellationToken,
    deadline: Instant,
    start: Instant,
    sink: &SeriesSink,
) {
    let mut next_progress = start + plan.progress_every;
    loop {
        let now = Instant::now();
        if now >= deadline || token.is_cancelled() {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        if !plan.progress_every.is_zero() && Instant::now() >= next_progress {
            next_progress += plan.progress_every;
            if let Some(p) = sink.latest() {
                let p95 = p
                    .p95_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or_else(|| "-".into());
                eprintln!(
                    "[{:>5.0}s] users {:>4}/{} · {:>7} req/s · {} failed/s · p95 {}",
                    start.elapsed().as_secs_f64(),
                    p.users,
                    plan.users,
                    p.requests,
                    p.failures,
                    p95
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    index: usize,
    starts: Vec<(u64, Duration)>,
    scenario: Arc<crate::scenario::Scenario>,
    connector: Arc<http::Connector>,
    sink: Arc<SeriesSink>,
    token: CancellationToken,
    start: Instant,
    authority: String,
    base_path: String,
) -> Result<Recorder, EngineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Start(format!("cannot build a runtime: {e}")))?;
    let local = tokio::task::LocalSet::new();
    let recorder = Rc::new(RefCell::new(Recorder::new(
        index,
        scenario.endpoints.len(),
        start,
        sink,
    )));
    let ctx = Rc::new(WorkerCtx {
        scenario,
        connector,
        recorder: recorder.clone(),
        authority,
        base_path,
    });
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
        let mut users = Vec::with_capacity(starts.len());
        for (id, offset) in starts {
            let ctx = ctx.clone();
            let token = token.clone();
            let recorder = recorder.clone();
            users.push(tokio::task::spawn_local(async move {
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
                    _ = user.run() => {}
                }
                recorder.borrow_mut().active_users -= 1;
            }));
        }
        for u in users {
            let _ = u.await;
        }
        let _ = ticker.await;
    });
    drop(ctx);
    let rec = Rc::try_unwrap(recorder)
        .map(RefCell::into_inner)
        .map_err(|_| EngineError::Start("recorder still shared at the end of the run".into()))?;
    let mut rec = rec;
    rec.flush(u32::MAX);
    Ok(rec)
}
