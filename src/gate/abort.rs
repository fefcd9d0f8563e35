//! Abort-on-fail: thresholds judged live, once a second, over what has finished so far. The
//! engine calls this through its [`Watchdog`] hook and knows nothing of the rules.

use std::time::Duration;

use super::{Metric, Threshold, Unit};
use crate::{engine::Watchdog, stats::Totals};

/// A metric over the totals finished so far in a running test (abort-on-fail); `None` before
/// there is anything to judge.
fn live_value(totals: &Totals, metric: Metric) -> Option<f64> {
    if totals.requests == 0 {
        return None;
    }
    let h = &totals.histogram;
    match metric {
        Metric::Avg => h.mean_ms(),
        Metric::Min => h.min_ms(),
        Metric::Max => h.max_ms(),
        Metric::Percentile(q) => h.percentile_ms(q),
        Metric::ErrorRate => Some(crate::stats::percent(totals.failures, totals.requests)),
        Metric::Errors => Some(totals.failures as f64),
        Metric::Requests => Some(totals.requests as f64),
        Metric::Rps => Some(crate::stats::rate(totals.requests, totals.seconds as f64)),
    }
}

/// The thresholds marked `abort-on-fail`, as the engine's watchdog.
#[derive(Debug, Clone)]
pub(crate) struct AbortRules(Vec<Threshold>);

impl AbortRules {
    /// The abort-on-fail rules among `thresholds`; `None` when there are none.
    pub(crate) fn from_thresholds(thresholds: &[Threshold]) -> Option<AbortRules> {
        let rules: Vec<Threshold> = thresholds
            .iter()
            .filter(|t| t.abort_after.is_some())
            .cloned()
            .collect();
        (!rules.is_empty()).then_some(AbortRules(rules))
    }
}

impl Watchdog for AbortRules {
    fn check(&self, totals: &Totals, elapsed: Duration) -> Option<String> {
        self.0.iter().find_map(|t| {
            let v = live_value(totals, t.metric)?;
            let due = elapsed >= t.abort_after.unwrap_or_default();
            (due && !t.op.holds(v, t.limit)).then(|| {
                format!(
                    "`{}` failed after {:.0}s ({} = {}), so the run was stopped early",
                    t.source,
                    elapsed.as_secs_f64(),
                    t.metric.label(),
                    Unit::from(t.metric.kind()).format(v)
                )
            })
        })
    }
}

/// Thresholds on metrics an engine can never report are configuration errors, found before a
/// run is started (and, for a cloud run, paid for). `percentiles` are those the engine reports.
pub(crate) fn check_reportable(
    thresholds: &[Threshold],
    engine: &str,
    percentiles: &[f64],
) -> Result<(), super::GateError> {
    for t in thresholds {
        if let Metric::Percentile(q) = t.metric {
            if !percentiles.contains(&q) {
                return Err(super::GateError::NeverReported {
                    expr: t.source.clone(),
                    metric: t.metric.label(),
                    engine: engine.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencyHistogram;

    fn totals(requests: u64, failures: u64) -> Totals {
        let mut histogram = LatencyHistogram::new();
        for _ in 0..requests {
            histogram.record_micros(10_000);
        }
        Totals {
            requests,
            failures,
            histogram,
            seconds: 5,
        }
    }

    #[test]
    fn a_failing_rule_stops_the_run_only_after_its_delay() {
        let t = [Threshold::parse("error_rate<1% abort-on-fail=10s").unwrap()];
        let rules = AbortRules::from_thresholds(&t).unwrap();
        let failing = totals(100, 50);
        assert_eq!(rules.check(&failing, Duration::from_secs(5)), None);
        let reason = rules.check(&failing, Duration::from_secs(11)).unwrap();
        assert_eq!(
            reason,
            "`error_rate<1%` failed after 11s (error_rate = 50.00%), so the run was stopped early"
        );
        assert_eq!(rules.check(&totals(100, 0), Duration::from_secs(11)), None);
        assert_eq!(rules.check(&totals(0, 0), Duration::from_secs(11)), None);
    }

    #[test]
    fn only_abort_on_fail_rules_make_a_watchdog() {
        let t = [Threshold::parse("p95<1s").unwrap()];
        assert!(AbortRules::from_thresholds(&t).is_none());
    }

    #[test]
    fn percentiles_an_engine_never_reports_are_refused() {
        let t = [Threshold::parse("p99.9<1s").unwrap()];
        let err = check_reportable(&t, "loadforge", &[50.0, 95.0]).unwrap_err();
        assert!(err.to_string().contains("p99.9"), "{err}");
        assert!(check_reportable(&t, "loadforge", &[99.9]).is_ok());
    }
}
