//! k6's own verdicts as checks of ours (`run.k6`, recorded by the k6 engine): one check per
//! threshold of the script, failed when k6 says it was crossed, and one per `check()`, failed
//! when any of its evaluations failed. A k6 check failing does not fail k6's own run (only its
//! thresholds do), but it is an assertion the script makes of every response, and a check of
//! ours that reads green while it did not hold would be the worst bug: so it fails here, and
//! the script's thresholds on `checks` stay checks of their own beside it, unless the script
//! says how many failures it tolerates: a threshold on `checks` (or on `checks{check:NAME}`)
//! that held makes its checks pass with their failures shown. What could not be
//! read is never a pass: k6's exit 99 with no crossed threshold to show is one failed check,
//! an unreadable summary otherwise one not judged.
//!
//! The figures fit the check's shape: metric `errors` (a count), limit `<= 0`; a threshold's
//! value is 1 when crossed and 0 when held, a check's its failed evaluations.

use super::{metric::Names, Check, CheckKind, CheckState, Metric, NotJudged, Unit};
use crate::stats::{K6Check, K6Threshold, K6Verdicts, RunResult};

/// The checks k6's verdicts make, named uniquely among the others (`k6 threshold
/// http_req_duration: p(95)<500`, `k6 check status is 200`); none for a run without them.
pub(super) fn k6_checks(result: &RunResult, unique: &mut Names) -> Vec<Check> {
    let Some(k6) = &result.run.k6 else {
        return Vec::new();
    };
    let mut checks: Vec<Check> = k6.thresholds.iter().map(threshold).collect();
    checks.extend(unread_thresholds(k6));
    checks.extend(k6.checks.iter().map(|c| check(c, tolerance(k6, c))));
    checks.into_iter().map(|c| unique.named(c)).collect()
}

/// A check of a count that must be zero.
fn zero_count(name: String, kind: CheckKind, expression: String, value: Option<u64>) -> Check {
    Check {
        name,
        kind,
        expression,
        endpoint: None,
        metric: Metric::Errors,
        unit: Unit::Count,
        value: value.map(|v| v as f64),
        op: "<=".into(),
        limit: 0.0,
        baseline: None,
        state: CheckState::judged(value == Some(0)),
        detail: String::new(),
        default_rule: false,
        finding: None,
    }
}

fn threshold(t: &K6Threshold) -> Check {
    let text = t.text();
    Check {
        detail: format!(
            "k6 judged `{text}` on its own samples: {}",
            if t.crossed { "crossed" } else { "held" }
        ),
        ..zero_count(
            format!("k6 threshold {text}"),
            CheckKind::K6Threshold,
            text,
            Some(u64::from(t.crossed)),
        )
    }
}

/// The script's own threshold on its checks that covers `c`, the one on that check alone
/// (`checks{check:status is 200}`) before the one on them all (`checks`): a script that says how
/// many failed evaluations it tolerates is taken at its word, as k6 takes it.
fn tolerance<'a>(k6: &'a K6Verdicts, c: &K6Check) -> Option<&'a K6Threshold> {
    let bare = |m: &str| {
        m.chars()
            .filter(|ch| !ch.is_whitespace())
            .collect::<String>()
    };
    let own = bare(&format!("checks{{check:{}}}", c.name));
    (k6.thresholds.iter().find(|t| bare(&t.metric) == own))
        .or_else(|| k6.thresholds.iter().find(|t| bare(&t.metric) == "checks"))
}

fn check(c: &K6Check, tolerance: Option<&K6Threshold>) -> Check {
    let path = c.path();
    let total = c.passes.saturating_add(c.fails);
    let mut check = zero_count(
        format!("k6 check {path}"),
        CheckKind::K6Check,
        path,
        (total > 0).then_some(c.fails),
    );
    check.detail = match total {
        0 => {
            check.state = CheckState::NotJudged(NotJudged::NotMeasured);
            "k6 counted no evaluation of this check".into()
        }
        _ if c.fails == 0 => format!("all {total} evaluations passed"),
        _ if tolerance.is_some_and(|t| !t.crossed) => {
            check.state = CheckState::Passed;
            format!(
                "{} of {total} evaluations failed, within the script's threshold `{}`, which held",
                c.fails,
                tolerance.map(K6Threshold::text).unwrap_or_default()
            )
        }
        _ => format!(
            "{} of {total} evaluations failed ({:.2}%); a k6 check of the gate's fails on any failed evaluation",
            c.fails,
            c.fails as f64 / total as f64 * 100.0
        ),
    };
    check
}

/// Fail closed on what could not be read: k6's exit 99 with no crossed threshold to show is a
/// failed check saying so; an unreadable summary otherwise leaves the script's rules not
/// judged, never passed.
fn unread_thresholds(k6: &K6Verdicts) -> Option<Check> {
    let shown = k6.thresholds.iter().any(|t| t.crossed);
    if k6.exit_thresholds_failed && !shown {
        let why = match (&k6.unreadable, k6.left_out) {
            (Some(why), _) => why.clone(),
            (None, 0) => "its summary names no crossed threshold".into(),
            (None, n) => format!("the crossed ones are not among those read ({n} left out)"),
        };
        let mut c = zero_count(
            "k6 thresholds failed (unread)".into(),
            CheckKind::K6Threshold,
            "k6 exit 99".into(),
            Some(1),
        );
        c.detail =
            format!("k6 exited 99, its thresholds failed, but {why}: which ones could not be read");
        return Some(c);
    }
    let why = k6.unreadable.as_ref()?;
    let mut c = zero_count(
        "k6 summary (unread)".into(),
        CheckKind::K6Threshold,
        "k6 summary".into(),
        None,
    );
    c.state = CheckState::NotJudged(NotJudged::NotMeasured);
    c.detail = format!("{why}: the script's thresholds and checks were not judged");
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{exit::Outcome, stats::fixture};

    fn verdicts(k6: K6Verdicts) -> Vec<Check> {
        let mut r = fixture(vec![], 10.0);
        r.run.k6 = Some(k6);
        k6_checks(&r, &mut Names::default())
    }

    fn outcome(checks: Vec<Check>) -> Outcome {
        super::super::Verdict::of(checks, false).outcome()
    }

    use crate::stats::k6_fixtures::{check as c, threshold as t};

    #[test]
    fn each_threshold_and_check_is_a_check_named_as_in_the_script() {
        let checks = verdicts(K6Verdicts {
            exit_thresholds_failed: true,
            thresholds: vec![
                t("http_req_duration", "p(95)<500", false),
                t("http_req_failed", "rate<0.01", true),
            ],
            checks: vec![
                c("", "status is 200", 10, 0),
                c("::login", "has token", 7, 3),
            ],
            ..K6Verdicts::default()
        });
        let seen: Vec<(&str, CheckKind, CheckState)> = checks
            .iter()
            .map(|c| (c.name.as_str(), c.kind, c.state))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "k6 threshold http_req_duration: p(95)<500",
                    CheckKind::K6Threshold,
                    CheckState::Passed
                ),
                (
                    "k6 threshold http_req_failed: rate<0.01",
                    CheckKind::K6Threshold,
                    CheckState::Failed
                ),
                (
                    "k6 check status is 200",
                    CheckKind::K6Check,
                    CheckState::Passed
                ),
                (
                    "k6 check login::has token",
                    CheckKind::K6Check,
                    CheckState::Failed
                ),
            ]
        );
        assert_eq!(checks[3].value, Some(3.0));
        assert!(checks[3]
            .detail
            .starts_with("3 of 10 evaluations failed (30.00%)"));
    }

    #[test]
    fn k6_saying_its_thresholds_failed_fails_even_when_none_can_be_read() {
        for k6 in [
            K6Verdicts {
                unreadable: Some("k6 wrote no summary".into()),
                ..K6Verdicts::default()
            },
            K6Verdicts {
                thresholds: vec![t("m", "count>1", false)],
                ..K6Verdicts::default()
            },
            K6Verdicts {
                left_out: 4,
                ..K6Verdicts::default()
            },
        ] {
            let checks = verdicts(K6Verdicts {
                exit_thresholds_failed: true,
                ..k6.clone()
            });
            let unread: Vec<&Check> = checks
                .iter()
                .filter(|c| c.name == "k6 thresholds failed (unread)")
                .collect();
            assert_eq!(unread.len(), 1, "{k6:?}");
            assert_eq!(unread[0].state, CheckState::Failed);
            assert!(
                unread[0].detail.starts_with("k6 exited 99"),
                "{}",
                unread[0].detail
            );
            assert_eq!(outcome(checks), Outcome::Failed);
            // Without exit 99: only an unreadable summary is not judged, never passed.
            let without = verdicts(k6.clone());
            let expected = match k6.unreadable {
                Some(_) => Outcome::NotJudged,
                None => Outcome::Passed,
            };
            assert_eq!(outcome(without), expected, "{k6:?}");
        }
    }

    #[test]
    fn a_checks_threshold_that_held_is_the_scripts_tolerance() {
        let run = |thresholds: Vec<K6Threshold>| {
            verdicts(K6Verdicts {
                thresholds,
                checks: vec![c("", "status is 200", 990, 10), c("", "has body", 5, 5)],
                ..K6Verdicts::default()
            })
        };
        let states = |checks: &[Check]| -> Vec<CheckState> {
            checks
                .iter()
                .filter(|c| c.kind == CheckKind::K6Check)
                .map(|c| c.state)
                .collect()
        };
        let strict = run(vec![]);
        assert_eq!(states(&strict), [CheckState::Failed, CheckState::Failed]);
        let all = run(vec![t("checks", "rate>0.9", false)]);
        assert_eq!(states(&all), [CheckState::Passed, CheckState::Passed]);
        assert!(all[1]
            .detail
            .contains("within the script's threshold `checks: rate>0.9`"));
        let own = run(vec![t("checks{check: status is 200}", "rate>0.98", false)]);
        assert_eq!(states(&own), [CheckState::Passed, CheckState::Failed]);
        let crossed = run(vec![t("checks", "rate>0.999", true)]);
        assert_eq!(states(&crossed), [CheckState::Failed, CheckState::Failed]);
        assert_eq!(outcome(crossed), Outcome::Failed);
    }

    #[test]
    fn a_crossed_threshold_fails_whatever_the_exit_code_said() {
        let checks = verdicts(K6Verdicts {
            thresholds: vec![t("m", "count>1", true)],
            ..K6Verdicts::default()
        });
        assert_eq!(checks.len(), 1, "no unread check: the crossed one is shown");
        assert_eq!(outcome(checks), Outcome::Failed);
    }

    #[test]
    fn a_check_never_evaluated_is_not_judged_and_duplicates_are_numbered() {
        let checks = verdicts(K6Verdicts {
            checks: vec![c("", "ok", 0, 0), c("", "ok", 1, 0)],
            ..K6Verdicts::default()
        });
        assert_eq!(
            checks[0].state,
            CheckState::NotJudged(NotJudged::NotMeasured)
        );
        assert_eq!(checks[1].name, "k6 check ok #2");
        assert!(verdicts(K6Verdicts::default()).is_empty());
        assert!(k6_checks(&fixture(vec![], 1.0), &mut Names::default()).is_empty());
    }
}
