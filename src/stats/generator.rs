//! The load generator's own health during the run: `run.generator` in results.json. A starved
//! generator sends late and reads late, so its latencies are partly its own; the gate must be
//! able to tell that from a slower application. Measured by the engine (`engine/health.rs`),
//! judged here ([`GeneratorHealth::starved`]), shown by every report and used by the verdict
//! (a failing latency check of a starved run is not judged, exit 5, when the generator's
//! measured stall could account for the change: [`GeneratorHealth::stall_explains`]).
//!
//! Two hiccup meters, jHiccup's method: a task that sleeps [`GeneratorHealth::hiccup_interval_ms`]
//! and records how late it woke. One runs on the engine's runtime (runtime starvation: a user
//! task hogging the event loop, or the worker thread descheduled); one is a plain thread outside
//! it (host starvation: the whole process waits for a core). The generator's threads' run-queue
//! delay (`/proc/<pid>/task/<tid>/schedstat`) is its waiting for a core, measured directly.
//! Over the run, `/proc/stat` gives CPU steal and the other processes' CPU,
//! `getrusage`/`/proc/<pid>/stat` the generator's own: context, since a busy core is not a
//! stall (the application under test on the generator's own cores is the common case).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A hiccup meter's figures, in milliseconds of lateness past the intended wake-up.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HiccupFigures {
    /// The median wake-up's lateness.
    #[schemars(range(min = 0))]
    pub p50_ms: f64,
    /// The 99th percentile: what starvation is judged by.
    #[schemars(range(min = 0))]
    pub p99_ms: f64,
    /// The longest stall.
    #[schemars(range(min = 0))]
    pub max_ms: f64,
    /// Wake-ups measured, with those a stall made the meter miss (counted as jHiccup does, so
    /// that a stall weighs by its length).
    pub samples: u64,
}

/// `run.generator`: how the load generator fared over the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GeneratorHealth {
    /// What was measured: `native` (the gate's own process), `locust` (Locust's processes,
    /// seen from the gate) or `k6` (k6's process, seen from the gate).
    #[schemars(extend("enum" = ["native", "locust", "k6"]))]
    pub measured: String,
    /// The hiccup meters' sleep, in milliseconds.
    #[schemars(range(min = 0))]
    pub hiccup_interval_ms: f64,
    /// The meter on the engine's runtime (every worker's together); absent for Locust, whose
    /// event loop the gate cannot enter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_hiccup: Option<HiccupFigures>,
    /// The meter on a plain thread outside the runtime: what the host did to the process.
    pub thread_hiccup: HiccupFigures,
    /// CPU time the hypervisor gave to other guests, percent of all CPU time over the run.
    #[schemars(range(min = 0))]
    pub steal_pct: f64,
    /// CPU used by every other process on the host, in percent of one core.
    #[schemars(range(min = 0))]
    pub other_cpu_pct: f64,
    /// CPU used by other processes on the very cores the generator may run on (its affinity),
    /// in percent of those cores: neighbours it had to share its cores with.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub neighbour_cpu_pct: f64,
    /// The generator's own CPU, in percent of one core.
    #[schemars(range(min = 0))]
    pub own_cpu_pct: f64,
    /// The cores the generator may use: its CPU affinity, and the cgroup quota
    /// (`/sys/fs/cgroup/cpu.max`) when one is set.
    #[schemars(range(min = 0))]
    pub cpu_allowance: f64,
    /// Times the generator's threads were preempted (involuntary context switches).
    pub involuntary_switches: u64,
    /// Time the generator's load threads spent runnable but waiting for a core over the run, in
    /// milliseconds (the second field of `/proc/<pid>/task/<tid>/schedstat`, summed): its own
    /// waiting, measured directly rather than inferred from how busy its cores were. Absent in
    /// files from before, and where the kernel keeps no schedstats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub run_queue_ms: Option<f64>,
    /// [`GeneratorHealth::run_queue_ms`] over the requests measured: the mean wait for a core
    /// behind one request, a part of the stall the verdict allows for
    /// ([`GeneratorHealth::stall_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub run_queue_per_request_ms: Option<f64>,
}

/// A hiccup p99 counts as starvation from this floor (milliseconds)... The runtime meter of a
/// healthy tokio runtime wakes within its 1 ms timer tick, and a saturated but unhindered one
/// (one core pushing 100,000 requests a second) within about 6 ms at its p99: measured on the
/// sample app, so the floor sits above that.
pub const HICCUP_FLOOR_MS: f64 = 10.0;
/// ...or from this fraction of the run's own p99 latency, when that is higher: a stall must be
/// a visible part of what the generator measured (20 ms is noise against a 1 s endpoint).
pub const HICCUP_LATENCY_FRACTION: f64 = 0.25;
/// Other processes' CPU on the generator's own cores, in percent of those cores, from which it
/// counts as starved: half its cores went to neighbours (two busy processes beside it on one
/// core take two thirds of it).
pub const STARVED_NEIGHBOUR_PCT: f64 = 50.0;
/// CPU steal, percent, from which the generator counts as starved (the host check's figure).
pub const STARVED_STEAL_PCT: f64 = 5.0;
/// The generator's own CPU, in percent of its allowance, from which it counts as starved
/// (Locust warns at 90 %; k6 Cloud at 80 % of a load generator).
pub const STARVED_OWN_CPU_PCT: f64 = 90.0;
/// How many hiccup p99s of stall one request's latency may hold. A request spans two wake-ups
/// of the generator that a stall can make late, the one that sends it and the one that reads
/// its answer; the meters' p99 (each stall weighed by its length, as jHiccup records it) is how
/// late one wake-up was at that percentile, so two bound a request's. Measured on a shared
/// 2-core machine (`docs/generator-health.md`, 2026-12-07): the unchanged app with two busy
/// loops on the gate's core moved p99 by at most 1.1 hiccup p99s (+4.9 ms against 4.3 ms),
/// while a regression the app's own CPU made on the gate's core moved p95 by 70 to 80 (+336 ms
/// against 4.8 ms). One would excuse too little of the first; 2 keeps room on both sides.
pub const STALL_HICCUP_FACTOR: f64 = 2.0;
/// The least stall, in milliseconds ([`GeneratorHealth::stall_ms`]), that accounts for any
/// change. Below it the meters read what they read when nothing hinders the generator (its
/// runtime meter 1.9 ms at p99, its thread meter 0.2 ms: a stall of 1.8 ms, measured on the
/// sample app on a quiet machine; 2.0 ms on a busy one), and a change of that size is the
/// application's: a healthy generator excuses nothing. Two busy loops beside it made 8 to
/// 9 ms.
pub const STALL_FLOOR_MS: f64 = 3.0;
/// The runtime meter's own resolution, in milliseconds: tokio's timer counts whole
/// milliseconds, so its sleeper wakes up to one late on a runtime nothing hinders. The wake-up
/// that ends a request comes from the socket, not the timer, so that part is no stall.
pub const RUNTIME_TIMER_TICK_MS: f64 = 1.0;

/// The limit a hiccup p99 or a run-queue delay per request is held to: [`HICCUP_FLOOR_MS`] or
/// [`HICCUP_LATENCY_FRACTION`] of the p99 latency, whichever is higher.
pub fn stall_limit_ms(latency_p99_ms: Option<f64>) -> f64 {
    latency_p99_ms
        .map_or(HICCUP_FLOOR_MS, |p99| p99 * HICCUP_LATENCY_FRACTION)
        .max(HICCUP_FLOOR_MS)
}

/// The generator's figures over a few seconds (a paired run's slice): its stall, by
/// [`GeneratorHealth::stall_ms`]'s rule, and whether it was starved, by
/// [`GeneratorHealth::stalls`]' rule and the steal limit. Per second only the worst runtime
/// hiccup is kept, not a percentile, so a slice reads its worst second's worst hiccup where a
/// run reads its p99: stricter, which errs towards not judging. `None` when no second was
/// measured.
pub fn slice_stall(
    seconds: &[super::GeneratorSecond],
    (requests, measured_s): (u64, f64),
    latency_p99_ms: Option<f64>,
) -> Option<(f64, bool)> {
    if seconds.is_empty() {
        return None;
    }
    let worst = seconds.iter().map(|s| s.hiccup_max_ms).fold(0.0, f64::max);
    // The run-queue time of the slice's measured window only: the requests it is divided by
    // are the measured ones, not those of the slice's warm-up (with 2 s slices and a 500 ms
    // warm-up, a quarter of the time). A window that cannot be read counts it all.
    let share = measured_s / seconds.len() as f64;
    let share = if share.is_finite() && share > 0.0 {
        share.min(1.0)
    } else {
        1.0
    };
    let queue: f64 = seconds.iter().filter_map(|s| s.run_queue_ms).sum::<f64>() * share;
    let per_request = if requests > 0 {
        queue / requests as f64
    } else {
        0.0
    };
    let steal = seconds.iter().map(|s| s.steal_pct).sum::<f64>() / seconds.len() as f64;
    let stall = STALL_HICCUP_FACTOR * (worst - RUNTIME_TIMER_TICK_MS).max(0.0) + per_request;
    let limit = stall_limit_ms(latency_p99_ms);
    let starved = worst >= limit || per_request >= limit || steal >= STARVED_STEAL_PCT;
    Some((stall, starved))
}

/// What a failed latency check becomes when the generator was starved or crowded
/// ([`GeneratorHealth::excuse`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Excuse {
    /// Not judged: the generator's stall could account for the change; why, for the check.
    NotJudged(String),
    /// Still failed: the change is beyond the stall; the words say what was allowed for.
    Failed(String),
}

impl GeneratorHealth {
    /// The generator's own CPU in percent of what it may use.
    pub fn own_cpu_of_allowance_pct(&self) -> f64 {
        if self.cpu_allowance > 0.0 {
            self.own_cpu_pct / self.cpu_allowance
        } else {
            0.0
        }
    }

    /// Why the generator counts as starved, given the run's p99 latency (milliseconds): each a
    /// short phrase with its figure; empty for a healthy generator. Its own stalls
    /// ([`GeneratorHealth::stalls`]) come first, then what crowded it
    /// ([`GeneratorHealth::pressure`]). Whether a failed latency check is then excused is the
    /// stall's to say ([`GeneratorHealth::stall_explains`]), never these reasons'.
    pub fn starved(&self, latency_p99_ms: Option<f64>) -> Vec<String> {
        let mut why = self.stalls(latency_p99_ms);
        why.extend(self.pressure());
        why
    }

    /// The generator's own stalls past their limit: its hiccup meters, and its threads' mean
    /// wait for a core per request, each against [`HICCUP_FLOOR_MS`] or
    /// [`HICCUP_LATENCY_FRACTION`] of the run's p99 latency, whichever is higher.
    pub fn stalls(&self, latency_p99_ms: Option<f64>) -> Vec<String> {
        let limit = stall_limit_ms(latency_p99_ms);
        let mut why = Vec::new();
        let mut hiccup = |name: &str, h: &HiccupFigures| {
            if h.samples > 0 && h.p99_ms >= limit {
                why.push(format!(
                    "{name} hiccups p99 {:.1} ms, max {:.1} ms (limit {limit:.1} ms)",
                    h.p99_ms, h.max_ms
                ));
            }
        };
        if let Some(h) = &self.runtime_hiccup {
            hiccup("runtime", h);
        }
        hiccup("thread", &self.thread_hiccup);
        if let Some(wait) = self.run_queue_per_request_ms.filter(|w| *w >= limit) {
            why.push(format!(
                "run-queue delay {wait:.1} ms a request (limit {limit:.1} ms)"
            ));
        }
        why
    }

    /// What crowded the generator: neighbours on its cores ([`STARVED_NEIGHBOUR_PCT`]), CPU
    /// steal ([`STARVED_STEAL_PCT`]), its own CPU near its allowance
    /// ([`STARVED_OWN_CPU_PCT`]). Context for the reader: the application under test on the
    /// generator's cores counts as a neighbour, so a busy core is no stall by itself.
    pub fn pressure(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.neighbour_cpu_pct >= STARVED_NEIGHBOUR_PCT {
            why.push(format!(
                "other processes took {:.0} % of its cores",
                self.neighbour_cpu_pct
            ));
        }
        if self.steal_pct >= STARVED_STEAL_PCT {
            why.push(format!("{:.1} % CPU steal", self.steal_pct));
        }
        let own = self.own_cpu_of_allowance_pct();
        if own >= STARVED_OWN_CPU_PCT {
            why.push(format!(
                "own CPU {own:.0} % of its {} cores",
                short(self.cpu_allowance)
            ));
        }
        why
    }

    /// The most latency, in milliseconds, that the generator's measured stall could have added
    /// to one request: [`STALL_HICCUP_FACTOR`] times the later hiccup meter's p99 (the runtime
    /// meter's less [`RUNTIME_TIMER_TICK_MS`]), plus the mean run-queue delay per request.
    pub fn stall_ms(&self) -> f64 {
        let runtime = self
            .runtime_hiccup
            .map_or(0.0, |h| h.p99_ms - RUNTIME_TIMER_TICK_MS);
        let hiccup = runtime.max(self.thread_hiccup.p99_ms).max(0.0);
        let waiting = self.run_queue_per_request_ms.unwrap_or(0.0).max(0.0);
        STALL_HICCUP_FACTOR * hiccup + waiting
    }

    /// Whether the generator's own stall is more than its meters read when nothing hinders it
    /// ([`STALL_FLOOR_MS`]): only then can it account for any change.
    pub fn stalled(&self) -> bool {
        self.stall_ms() >= STALL_FLOOR_MS
    }

    /// The rule for a failed latency check: it is not judged (the generator
    /// starved) only when the generator's measured stall could account for its change,
    /// `0 ≤ change ≤ stall_ms()`, and that stall is more than a healthy generator's
    /// ([`GeneratorHealth::stalled`]). `change_ms` is how far the check is past what it was
    /// held to (a regression: value less baseline; a threshold: value less limit). A stall
    /// only makes latencies longer, so it accounts for no drop; beyond it the application
    /// changed, however busy the generator's cores were (the application under test on
    /// them, steal, neighbours: [`GeneratorHealth::pressure`] decides nothing).
    pub fn stall_explains(&self, change_ms: f64) -> bool {
        self.stalled() && (0.0..=self.stall_ms()).contains(&change_ms)
    }

    /// The stall and the change as the verdict words them: `stall ≤ 5.0 ms, change +35.0 ms`.
    pub fn stall_words(&self, change_ms: f64) -> String {
        format!(
            "stall ≤ {:.1} ms, change {change_ms:+.1} ms",
            self.stall_ms()
        )
    }

    /// What the generator's health says of a failed latency check `change_ms` past what it
    /// was held to: nothing when it was healthy and unhindered; else not judged, with why,
    /// when its stall explains the change ([`GeneratorHealth::stall_explains`]), or failed
    /// even so, in words that say what was allowed for.
    pub fn excuse(&self, latency_p99_ms: Option<f64>, change_ms: f64) -> Option<Excuse> {
        let why = self.starved(latency_p99_ms);
        if why.is_empty() && !self.stalled() {
            return None;
        }
        let stall = self.stall_words(change_ms);
        Some(if self.stall_explains(change_ms) {
            let context = why.iter().map(|w| format!("; {w}")).collect::<String>();
            Excuse::NotJudged(format!("load generator starved: {stall}{context}"))
        } else {
            Excuse::Failed(format!(
                "failed even allowing for a starved generator ({stall})"
            ))
        })
    }

    /// The report line's warning, `None` for a healthy generator: `STARVED: ...` when its own
    /// meters saw it stall past their limits, `under pressure: ...` when its surroundings
    /// were busy or its stall is past [`STALL_FLOOR_MS`] (then the line says how large its own
    /// stall was, which is all a verdict allows for).
    pub fn warning(&self, latency_p99_ms: Option<f64>) -> Option<String> {
        let stalls = self.stalls(latency_p99_ms);
        let pressure = self.pressure();
        let stall = format!("stall ≤ {:.1} ms a request", self.stall_ms());
        match (stalls.is_empty(), pressure.is_empty(), self.stalled()) {
            (true, true, false) => None,
            (false, _, _) => Some(format!(
                "STARVED: {}; {stall}",
                [stalls, pressure].concat().join(", ")
            )),
            (true, true, true) => Some(format!("under pressure: its own {stall}")),
            (true, false, _) => Some(format!(
                "under pressure: {}; its own {stall}",
                pressure.join(", ")
            )),
        }
    }

    /// The mean run-queue delay per request, from the requests measured (none: unknown).
    pub fn with_requests(mut self, requests: u64) -> GeneratorHealth {
        self.run_queue_per_request_ms = self
            .run_queue_ms
            .filter(|_| requests > 0)
            .map(|ms| ms / requests as f64);
        self
    }

    /// The report line: figures, and whether they are healthy.
    pub fn summary(&self) -> String {
        let runtime = self
            .runtime_hiccup
            .map(|h| format!("runtime hiccups p99 {:.1} ms, ", h.p99_ms))
            .unwrap_or_default();
        let waiting = self
            .run_queue_per_request_ms
            .map(|ms| format!("run-queue delay {ms:.2} ms a request, "))
            .unwrap_or_default();
        format!(
            "{runtime}thread hiccups p99 {:.1} ms, {waiting}own CPU {:.0} % of {} cores, neighbours {:.0} % of its cores, steal {:.1} %, other processes {:.0} % of a core, {} involuntary switches",
            self.thread_hiccup.p99_ms,
            self.own_cpu_of_allowance_pct(),
            short(self.cpu_allowance),
            self.neighbour_cpu_pct,
            self.steal_pct,
            self.other_cpu_pct,
            self.involuntary_switches,
        )
    }
}

/// `1`, `1.5`: cores without trailing zeros.
fn short(x: f64) -> String {
    let t = format!("{x:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn healthy() -> GeneratorHealth {
        let h = HiccupFigures {
            p50_ms: 0.1,
            p99_ms: 0.9,
            max_ms: 2.0,
            samples: 5000,
        };
        GeneratorHealth {
            measured: "native".into(),
            hiccup_interval_ms: 1.0,
            runtime_hiccup: Some(h),
            thread_hiccup: h,
            steal_pct: 0.0,
            other_cpu_pct: 3.0,
            neighbour_cpu_pct: 1.0,
            own_cpu_pct: 40.0,
            cpu_allowance: 2.0,
            involuntary_switches: 12,
            run_queue_ms: Some(20.0),
            run_queue_per_request_ms: Some(0.02),
        }
    }

    pub(crate) fn starved() -> GeneratorHealth {
        GeneratorHealth {
            runtime_hiccup: Some(HiccupFigures {
                p50_ms: 1.0,
                p99_ms: 40.0,
                max_ms: 81.0,
                samples: 4000,
            }),
            ..healthy()
        }
    }

    #[test]
    fn a_healthy_generator_is_not_starved() {
        assert!(healthy().starved(Some(20.0)).is_empty());
        assert!(healthy().starved(None).is_empty());
    }

    #[test]
    fn hiccups_count_against_the_floor_or_a_share_of_the_latency() {
        let s = starved();
        let why = s.starved(Some(100.0));
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].starts_with("runtime hiccups p99 40.0 ms"), "{why:?}");
        // Against slow responses a stall must be larger to matter: a quarter of 200 ms.
        assert!(s.starved(Some(200.0)).is_empty());
        let mut small = healthy();
        small.thread_hiccup.p99_ms = 12.0;
        assert_eq!(small.starved(Some(24.0)).len(), 1);
        assert!(small.starved(Some(100.0)).is_empty());
        // ...and never below the floor, which a saturated healthy runtime stays under.
        small.thread_hiccup.p99_ms = 8.0;
        assert!(small.starved(Some(1.0)).is_empty());
    }

    #[test]
    fn steal_and_own_cpu_count_too() {
        let g = GeneratorHealth {
            neighbour_cpu_pct: 67.0,
            steal_pct: 7.5,
            own_cpu_pct: 190.0,
            ..healthy()
        };
        let why = g.starved(Some(20.0));
        assert_eq!(
            why,
            [
                "other processes took 67 % of its cores",
                "7.5 % CPU steal",
                "own CPU 95 % of its 2 cores"
            ]
        );
    }

    /// The defect's run: the application under test on the generator's core took 64 % of it,
    /// while the generator's own meters read a hiccup p99 of 5 ms.
    fn crowded_but_quiet() -> GeneratorHealth {
        let h = HiccupFigures {
            p50_ms: 0.5,
            p99_ms: 5.0,
            max_ms: 9.0,
            samples: 3000,
        };
        GeneratorHealth {
            runtime_hiccup: Some(h),
            thread_hiccup: h,
            neighbour_cpu_pct: 64.0,
            run_queue_per_request_ms: Some(0.3),
            ..healthy()
        }
    }

    #[test]
    fn the_stall_is_twice_the_later_meter_plus_the_run_queue_delay() {
        let g = crowded_but_quiet();
        // The thread meter (5.0) is later than the runtime meter less its tick (4.0).
        assert!((g.stall_ms() - 10.3).abs() < 1e-9, "{}", g.stall_ms());
        let runtime_only = GeneratorHealth {
            thread_hiccup: healthy().thread_hiccup,
            run_queue_per_request_ms: None,
            ..crowded_but_quiet()
        };
        assert!((runtime_only.stall_ms() - 8.0).abs() < 1e-9);
        // Hostile figures read back never make a negative or NaN stall.
        let odd = GeneratorHealth {
            run_queue_per_request_ms: Some(f64::NAN),
            runtime_hiccup: None,
            thread_hiccup: HiccupFigures::default(),
            ..healthy()
        };
        assert_eq!(odd.stall_ms(), 0.0);
    }

    #[test]
    fn a_stall_explains_a_change_only_up_to_its_size() {
        let g = crowded_but_quiet();
        assert!(!g.starved(Some(40.0)).is_empty(), "its cores were crowded");
        assert!(!g.stall_explains(35.0), "+35 ms against a 10.3 ms stall");
        assert!(g.stall_explains(3.0));
        assert!(g.stall_explains(10.3));
        assert!(!g.stall_explains(-2.0), "a stall makes nothing faster");
        assert!(!g.stall_explains(f64::NAN));
        assert!(!g.stall_explains(f64::INFINITY));
        assert_eq!(g.stall_words(35.0), "stall ≤ 10.3 ms, change +35.0 ms");
        assert_eq!(
            g.excuse(Some(40.0), 35.0),
            Some(Excuse::Failed(
                "failed even allowing for a starved generator (stall ≤ 10.3 ms, change +35.0 ms)"
                    .into()
            ))
        );
        assert_eq!(
            g.excuse(Some(40.0), 3.0),
            Some(Excuse::NotJudged(
                "load generator starved: stall ≤ 10.3 ms, change +3.0 ms; other processes took 64 % of its cores"
                    .into()
            ))
        );
    }

    #[test]
    fn a_healthy_generator_excuses_nothing_and_says_nothing() {
        let g = healthy();
        assert!(!g.stalled(), "{}", g.stall_ms());
        assert_eq!(g.excuse(Some(20.0), 1.0), None);
        assert_eq!(g.excuse(Some(20.0), 35.0), None);
        // Meters past the floor with nothing else amiss excuse what they could cause.
        let stalling = GeneratorHealth {
            thread_hiccup: HiccupFigures {
                p99_ms: 3.0,
                ..g.thread_hiccup
            },
            ..healthy()
        };
        assert!(stalling.starved(Some(20.0)).is_empty());
        assert!(matches!(
            stalling.excuse(Some(20.0), 5.0),
            Some(Excuse::NotJudged(_))
        ));
        assert!(matches!(
            stalling.excuse(Some(20.0), 7.0),
            Some(Excuse::Failed(_))
        ));
        assert_eq!(
            stalling.warning(Some(20.0)).unwrap(),
            "under pressure: its own stall ≤ 6.0 ms a request"
        );
    }

    #[test]
    fn steal_and_neighbours_are_context_and_quiet_meters_allow_for_little() {
        let g = GeneratorHealth {
            steal_pct: 5.0,
            ..healthy()
        };
        assert!(g.stalls(Some(20.0)).is_empty());
        assert_eq!(g.pressure(), ["5.0 % CPU steal"]);
        assert!(g.stall_ms() < 2.0, "{}", g.stall_ms());
        for change in [0.5, 1.0, 3.0, 35.0] {
            assert!(!g.stall_explains(change), "{change}");
            assert!(matches!(
                g.excuse(Some(20.0), change),
                Some(Excuse::Failed(_))
            ));
        }
        let line = g.warning(Some(20.0)).unwrap();
        assert_eq!(
            line,
            "under pressure: 5.0 % CPU steal; its own stall ≤ 1.8 ms a request"
        );
        assert_eq!(healthy().warning(Some(20.0)), None);
        let starved = starved().warning(Some(20.0)).unwrap();
        assert!(
            starved.starts_with("STARVED: runtime hiccups p99 40.0 ms")
                && starved.ends_with("stall ≤ 78.0 ms a request"),
            "{starved}"
        );
    }

    #[test]
    fn the_run_queue_delay_counts_per_request_and_starves_past_the_limit() {
        let g = GeneratorHealth {
            run_queue_ms: Some(12_000.0),
            ..healthy()
        }
        .with_requests(1000);
        assert_eq!(g.run_queue_per_request_ms, Some(12.0));
        assert_eq!(
            g.stalls(Some(20.0)),
            ["run-queue delay 12.0 ms a request (limit 10.0 ms)"]
        );
        assert!(g.summary().contains("run-queue delay 12.00 ms a request"));
        let none = g.clone().with_requests(0);
        assert_eq!(none.run_queue_per_request_ms, None);
        let unmeasured = GeneratorHealth {
            run_queue_ms: None,
            ..g
        }
        .with_requests(10);
        assert_eq!(unmeasured.run_queue_per_request_ms, None);
        assert!(!unmeasured.summary().contains("run-queue"));
    }

    #[test]
    fn files_from_before_read_without_the_run_queue() {
        let mut json = serde_json::to_value(healthy()).unwrap();
        let map = json.as_object_mut().unwrap();
        map.remove("run_queue_ms");
        map.remove("run_queue_per_request_ms");
        let old: GeneratorHealth = serde_json::from_value(json).unwrap();
        assert_eq!(old.run_queue_ms, None);
        assert_eq!(old.run_queue_per_request_ms, None);
    }

    #[test]
    fn a_slice_reads_its_worst_second() {
        let second = |hiccup: f64, queue: f64| crate::stats::GeneratorSecond {
            hiccup_max_ms: hiccup,
            gen_cpu_pct: 50.0,
            steal_pct: 0.0,
            run_queue_ms: Some(queue),
        };
        assert_eq!(slice_stall(&[], (10, 1.0), None), None);
        let (stall, starved) =
            slice_stall(&[second(2.0, 10.0), second(3.0, 10.0)], (100, 2.0), None).unwrap();
        assert!((stall - (2.0 * 2.0 + 0.2)).abs() < 1e-9, "{stall}");
        assert!(!starved);
        let two = [second(2.0, 0.0), second(12.0, 0.0)];
        let (_, starved) = slice_stall(&two, (100, 2.0), None).unwrap();
        assert!(starved, "one second's hiccup past the 10 ms floor");
        let (_, starved) = slice_stall(&two, (100, 2.0), Some(100.0)).unwrap();
        assert!(!starved, "within a quarter of a 100 ms p99");
        let (_, starved) = slice_stall(&[second(1.0, 2000.0)], (100, 1.0), None).unwrap();
        assert!(starved, "20 ms waiting for a core per request");
    }

    #[test]
    fn a_slice_divides_only_its_measured_windows_run_queue_by_its_measured_requests() {
        let second = |queue: f64| crate::stats::GeneratorSecond {
            hiccup_max_ms: 1.0,
            gen_cpu_pct: 50.0,
            steal_pct: 0.0,
            run_queue_ms: Some(queue),
        };
        let slice = [second(100.0), second(100.0)];
        // 150 requests measured in 1.5 s of a 2 s slice: 150 ms of its 200 ms queue is theirs.
        let (stall, _) = slice_stall(&slice, (150, 1.5), None).unwrap();
        assert!((stall - 1.0).abs() < 1e-9, "{stall}");
        // A window longer than the seconds, or unreadable, counts the whole queue.
        for odd in [9.0, f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let (stall, _) = slice_stall(&slice, (200, odd), None).unwrap();
            assert!((stall - 1.0).abs() < 1e-9, "{odd}: {stall}");
        }
    }
}
