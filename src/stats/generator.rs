//! The load generator's own health during the run: `run.generator` in results.json. A starved
//! generator sends late and reads late, so its latencies are partly its own; the gate must be
//! able to tell that from a slower application. Measured by the engine (`engine/health.rs`),
//! judged here ([`GeneratorHealth::starved`]), shown by every report and used by the verdict
//! (a failing latency check of a starved run is inconclusive, exit 5).
//!
//! Two hiccup meters, jHiccup's method: a task that sleeps [`GeneratorHealth::hiccup_interval_ms`]
//! and records how late it woke. One runs on the engine's runtime (runtime starvation: a user
//! task hogging the event loop, or the worker thread descheduled); one is a plain thread outside
//! it (host starvation: the whole process waits for a core). Over the run, `/proc/stat` gives
//! CPU steal and the other processes' CPU, `getrusage`/`/proc/<pid>/stat` the generator's own.

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
    /// Wake-ups measured.
    pub samples: u64,
}

/// `run.generator`: how the load generator fared over the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GeneratorHealth {
    /// What was measured: `native` (the gate's own process) or `locust` (Locust's processes,
    /// seen from the gate).
    #[schemars(extend("enum" = ["native", "locust"]))]
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
    /// short phrase with its figure; empty for a healthy generator. Documented thresholds:
    /// [`HICCUP_FLOOR_MS`], [`HICCUP_LATENCY_FRACTION`], [`STARVED_STEAL_PCT`],
    /// [`STARVED_OWN_CPU_PCT`].
    pub fn starved(&self, latency_p99_ms: Option<f64>) -> Vec<String> {
        let limit = latency_p99_ms
            .map_or(HICCUP_FLOOR_MS, |p99| p99 * HICCUP_LATENCY_FRACTION)
            .max(HICCUP_FLOOR_MS);
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

    /// The report line: figures, and whether they are healthy.
    pub fn summary(&self) -> String {
        let runtime = self
            .runtime_hiccup
            .map(|h| format!("runtime hiccups p99 {:.1} ms, ", h.p99_ms))
            .unwrap_or_default();
        format!(
            "{runtime}thread hiccups p99 {:.1} ms, own CPU {:.0} % of {} cores, neighbours {:.0} % of its cores, steal {:.1} %, other processes {:.0} % of a core, {} involuntary switches",
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
}
