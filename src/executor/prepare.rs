//! `prepare_exec`: take the host, watch it for a moment, write down how quiet it was, refuse it
//! when it is too busy to measure on. Refusals are system failures: the Runner tries again
//! (three attempts in all, each with config before and cleanup after a refusal), and a job that
//! declares `retry: when: [runner_system_failure]` is then run again by GitLab, possibly on
//! another runner. The lock is released before refusing, so a refused job does not keep the
//! host from a later one even if its cleanup never comes.

use std::time::Duration;

use super::{config::hostname, lock::HostLock, quiet, state, Context, ExecutorError, Outcome};
use crate::stats::HostInfo;

/// How long to wait for the host and how quiet it must be, validated.
#[derive(Debug, Clone)]
pub(crate) struct PrepareOptions {
    pub(crate) lock_wait: Duration,
    /// How long a holder may show no sign of life before its lock is taken over.
    pub(crate) lock_stale: Duration,
    pub(crate) window: Duration,
    /// Other processes' CPU allowed, percent of one core.
    pub(crate) max_other_cpu: f64,
    /// Steal allowed, percent of CPU time.
    pub(crate) max_steal: f64,
}

impl PrepareOptions {
    /// From the flags' text.
    pub(crate) fn parse(
        lock_wait: &str,
        lock_stale: &str,
        window: &str,
        max_other_cpu: f64,
        max_steal: f64,
    ) -> Result<Self, ExecutorError> {
        let duration = |flag: &'static str, text: &str| {
            crate::duration::parse_duration(text).map_err(|reason| ExecutorError::Invalid {
                flag,
                value: text.into(),
                reason,
            })
        };
        for (flag, v) in [("max-other-cpu", max_other_cpu), ("max-steal", max_steal)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ExecutorError::Invalid {
                    flag,
                    value: v.to_string(),
                    reason: "expected a percentage of zero or more".into(),
                });
            }
        }
        let stale = duration("lock-stale", lock_stale)?;
        if stale < Duration::from_secs(1) {
            return Err(ExecutorError::Invalid {
                flag: "lock-stale",
                value: lock_stale.into(),
                reason: "expected at least 1s: the holder beats four times per period".into(),
            });
        }
        Ok(PrepareOptions {
            lock_wait: duration("lock-wait", lock_wait)?,
            lock_stale: stale,
            window: duration("window", window)?,
            max_other_cpu,
            max_steal,
        })
    }
}

/// Takes the host for the job, measures it, writes the findings and judges them.
pub(crate) fn prepare(ctx: &Context, opts: &PrepareOptions) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let job = ctx.job()?;
    job.create()?;
    let lock = HostLock::new(&ctx.state_dir);
    lock.acquire(&job.id, opts.lock_wait, opts.lock_stale)?;
    let q = quiet::measure(opts.window);
    let host = HostInfo {
        hostname: hostname(),
        cpus: q.cpus,
        load_1m: q.load_1m,
        steal_pct: q.steal_pct,
        iowait_pct: q.iowait_pct,
        other_cpu_pct: q.other_cpu_pct,
        mem_available_mib: q.mem_available_mib,
        open_files: super::run::open_files_limit(),
        exclusive: lock.held_by(&job.id),
        window_s: opts.window.as_secs_f64(),
    };
    job.write_host_report(&host)?;
    println!(
        "loadforge-gate executor: host {} held by job {}: other processes {:.0}% of a core, steal {:.1}%, iowait {:.1}%, load {:.2} on {} CPUs, {} MiB available",
        host.hostname, job.id, host.other_cpu_pct, host.steal_pct, host.iowait_pct, host.load_1m, host.cpus, host.mem_available_mib
    );
    if let Some(reasons) = too_busy(&q, opts) {
        lock.release(&job.id)?;
        return Err(ExecutorError::TooBusy { reasons });
    }
    Ok(Outcome::Done)
}

/// Why the host is too busy, or `None` when it is quiet enough.
fn too_busy(q: &quiet::Quietness, opts: &PrepareOptions) -> Option<String> {
    let mut reasons = Vec::new();
    if q.other_cpu_pct > opts.max_other_cpu {
        let busiest: Vec<String> = q
            .busiest
            .iter()
            .map(|(name, pid, pct)| format!("{name} (pid {pid}) {pct:.0}%"))
            .collect();
        reasons.push(format!(
            "other processes use {:.0}% of a core, above --max-other-cpu {}%; busiest: {}",
            q.other_cpu_pct,
            opts.max_other_cpu,
            busiest.join(", ")
        ));
    }
    if q.steal_pct > opts.max_steal {
        reasons.push(format!(
            "the hypervisor steals {:.1}% of CPU time, above --max-steal {}%",
            q.steal_pct, opts.max_steal
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::{too_busy, PrepareOptions};
    use crate::executor::quiet::Quietness;

    #[test]
    fn a_host_is_refused_by_margin_and_says_why() {
        let opts = PrepareOptions::parse("1s", "1h", "1s", 50.0, 5.0).unwrap();
        let mut q = Quietness {
            cpus: 2,
            load_1m: 0.1,
            steal_pct: 1.0,
            iowait_pct: 0.0,
            other_cpu_pct: 20.0,
            mem_available_mib: 1000,
            busiest: vec![("burner".into(), 7, 20.0)],
        };
        assert_eq!(too_busy(&q, &opts), None);
        q.other_cpu_pct = 95.0;
        q.steal_pct = 9.0;
        let why = too_busy(&q, &opts).unwrap();
        assert!(
            why.contains("95% of a core") && why.contains("burner (pid 7)"),
            "{why}"
        );
        assert!(why.contains("steals 9.0%"), "{why}");
        assert!(PrepareOptions::parse("1s", "1h", "soon", 50.0, 5.0).is_err());
        assert!(PrepareOptions::parse("1s", "100ms", "1s", 50.0, 5.0).is_err());
        assert!(PrepareOptions::parse("1s", "1h", "1s", -1.0, 5.0).is_err());
    }
}
