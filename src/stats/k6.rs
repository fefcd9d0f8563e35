//! What k6 itself said of a script's own rules (`--engine k6`): the script's `thresholds`, each
//! crossed or not, and its `check()`s with their passes and fails, as k6's end-of-test summary
//! lists them, and whether k6's exit code said its thresholds failed. Data only: the engine
//! records it (`engine/k6/summary.rs`), the gate turns it into checks of its own
//! (`gate/k6.rs`), and `merge` adds shards' (here, [`K6Verdicts::merge`]). Names come from the
//! script, so they are outside text: quoted ([`crate::quote::quote`]) and their number capped.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::entries::{self, Entries};
use crate::quote::quote;

/// The most thresholds of one run kept; crossed ones are kept first.
pub const MAX_K6_THRESHOLDS: usize = 200;
/// The most checks of one run kept; checks that failed are kept first.
pub const MAX_K6_CHECKS: usize = 500;
/// How deep into k6's nested groups checks are read.
pub const MAX_K6_GROUP_DEPTH: usize = 32;

/// k6's own verdicts on the script's rules: `run.k6` in results.json, for a k6 run only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct K6Verdicts {
    /// k6 exited with 99: it says thresholds of the script failed. Such a run fails even when
    /// no crossed threshold could be read (the summary was missing or said none).
    #[serde(default)]
    pub exit_thresholds_failed: bool,
    /// Why k6's end-of-test summary could not be read, when it could not: the script's
    /// thresholds and checks are then unknown, and never taken as passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// The script's thresholds, by metric and expression (at most 200: crossed ones are kept
    /// first).
    #[serde(default, deserialize_with = "thresholds")]
    #[schemars(length(max = 200))]
    pub thresholds: Vec<K6Threshold>,
    /// The script's checks in every group, by group and name (at most 500: failed ones are
    /// kept first).
    #[serde(default, deserialize_with = "checks")]
    #[schemars(length(max = 500))]
    pub checks: Vec<K6Check>,
    /// Thresholds and checks past those caps (or in groups nested deeper than 32), left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn thresholds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<K6Threshold>, D::Error> {
    entries::counted_seq(d, Entries::K6Rules)
}

fn checks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<K6Check>, D::Error> {
    entries::counted_seq(d, Entries::K6Rules)
}

/// One threshold of the script, as k6 judged it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct K6Threshold {
    /// The metric it is on, with its tags as the script wrote them
    /// (`http_req_duration{name:login}`).
    pub metric: String,
    /// The expression (`p(95)<500`).
    pub expression: String,
    /// k6 said the threshold was crossed.
    pub crossed: bool,
}

/// One `check()` of the script, its evaluations counted by k6.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct K6Check {
    /// The group it is in, as k6 writes its path (`::login::cart`); empty at the top.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The check's name in the script (`status is 200`).
    pub name: String,
    /// Evaluations that held.
    pub passes: u64,
    /// Evaluations that did not.
    pub fails: u64,
}

impl K6Threshold {
    /// `http_req_duration: p(95)<500`: how every report names it.
    pub(crate) fn text(&self) -> String {
        format!("{}: {}", self.metric, self.expression)
    }
}

impl K6Check {
    /// The name as the script has it, after its groups (`login::status is 200`), or alone at
    /// the top: how every report names it.
    pub(crate) fn path(&self) -> String {
        match self.group.trim_start_matches("::") {
            "" => self.name.clone(),
            group => format!("{group}::{}", self.name),
        }
    }
}

impl K6Verdicts {
    /// The thresholds and checks quoted (one line, bounded length) and held to their caps,
    /// crossed and failed ones first; what the caps leave out is counted. Every k6 result and
    /// every results file read goes through it (`RunResult::scrub`).
    pub(crate) fn scrub(&mut self) {
        self.unreadable.iter_mut().for_each(|u| *u = quote(u));
        for t in &mut self.thresholds {
            t.metric = quote(&t.metric);
            t.expression = quote(&t.expression);
        }
        for c in &mut self.checks {
            c.group = quote(&c.group);
            c.name = quote(&c.name);
        }
        self.cap();
    }

    /// Holds the lists to their caps, crossed thresholds and failed checks kept first, counting
    /// what is left out, then sorts them by name: every report lists them in the same order
    /// whatever order k6 wrote them in.
    pub(crate) fn cap(&mut self) {
        let over = self.thresholds.len().saturating_sub(MAX_K6_THRESHOLDS)
            + self.checks.len().saturating_sub(MAX_K6_CHECKS);
        if over > 0 {
            self.thresholds.sort_by_key(|t| !t.crossed);
            self.checks.sort_by_key(|c| c.fails == 0);
            self.thresholds.truncate(MAX_K6_THRESHOLDS);
            self.checks.truncate(MAX_K6_CHECKS);
            self.left_out = self.left_out.saturating_add(over as u64);
        }
        self.thresholds
            .sort_by(|a, b| (&a.metric, &a.expression).cmp(&(&b.metric, &b.expression)));
        self.checks
            .sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    }

    /// The note a run whose summary held more than the caps keep carries: what was left out
    /// (passed ones: crossed thresholds and failed checks are kept first).
    pub(crate) fn note(&self) -> Option<String> {
        (self.left_out > 0).then(|| {
            format!(
                "k6's summary listed {} more thresholds and checks than the gate keeps ({MAX_K6_THRESHOLDS} thresholds, {MAX_K6_CHECKS} checks, groups {MAX_K6_GROUP_DEPTH} deep); crossed thresholds and failed checks are kept first, and those left out are not shown.",
                self.left_out
            )
        })
    }

    /// The shards' verdicts as one run's: a threshold is crossed when any shard crossed it
    /// (each k6 judged only its own share, and a gate must not pass what one of them failed),
    /// and held only when every shard that reports it held it; a check's passes and fails add;
    /// an exit 99 or an unreadable summary in any shard is the whole run's. `None` when no
    /// shard ran k6.
    pub(crate) fn merge<'a>(shards: impl Iterator<Item = Option<&'a K6Verdicts>>) -> Option<Self> {
        let mut any = false;
        let mut out = K6Verdicts::default();
        let mut thresholds: BTreeMap<(String, String), bool> = BTreeMap::new();
        let mut checks: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for v in shards.flatten() {
            any = true;
            out.exit_thresholds_failed |= v.exit_thresholds_failed;
            if out.unreadable.is_none() {
                out.unreadable.clone_from(&v.unreadable);
            }
            out.left_out = out.left_out.saturating_add(v.left_out);
            for t in &v.thresholds {
                *thresholds
                    .entry((t.metric.clone(), t.expression.clone()))
                    .or_default() |= t.crossed;
            }
            for c in &v.checks {
                let slot = checks.entry((c.group.clone(), c.name.clone())).or_default();
                slot.0 = slot.0.saturating_add(c.passes);
                slot.1 = slot.1.saturating_add(c.fails);
            }
        }
        out.thresholds = thresholds
            .into_iter()
            .map(|((metric, expression), crossed)| K6Threshold {
                metric,
                expression,
                crossed,
            })
            .collect();
        out.checks = checks
            .into_iter()
            .map(|((group, name), (passes, fails))| K6Check {
                group,
                name,
                passes,
                fails,
            })
            .collect();
        out.cap();
        any.then_some(out)
    }
}

/// A threshold and a check as the tests write them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{K6Check, K6Threshold};

    pub(crate) fn threshold(metric: &str, expression: &str, crossed: bool) -> K6Threshold {
        K6Threshold {
            metric: metric.into(),
            expression: expression.into(),
            crossed,
        }
    }

    pub(crate) fn check(group: &str, name: &str, passes: u64, fails: u64) -> K6Check {
        K6Check {
            group: group.into(),
            name: name.into(),
            passes,
            fails,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{check, threshold};
    use super::*;

    #[test]
    fn a_check_is_named_after_its_groups() {
        assert_eq!(check("", "status is 200", 1, 0).path(), "status is 200");
        assert_eq!(check("::login::cart", "ok", 1, 0).path(), "login::cart::ok");
    }

    #[test]
    fn shards_merge_a_threshold_crossed_anywhere_and_add_checks() {
        let a = K6Verdicts {
            thresholds: vec![
                threshold("http_req_duration", "p(95)<500", false),
                threshold("checks", "rate>0.9", false),
            ],
            checks: vec![check("", "ok", 10, 1), check("::g", "ok", 5, 0)],
            ..K6Verdicts::default()
        };
        let b = K6Verdicts {
            exit_thresholds_failed: true,
            thresholds: vec![
                threshold("http_req_duration", "p(95)<500", true),
                threshold("checks", "rate>0.9", false),
            ],
            checks: vec![check("", "ok", 20, 2)],
            left_out: 3,
            ..K6Verdicts::default()
        };
        let m = K6Verdicts::merge([Some(&a), None, Some(&b)].into_iter()).unwrap();
        assert!(m.exit_thresholds_failed);
        assert_eq!(m.left_out, 3);
        assert_eq!(
            m.thresholds,
            [
                threshold("checks", "rate>0.9", false),
                threshold("http_req_duration", "p(95)<500", true),
            ]
        );
        assert_eq!(m.checks, [check("", "ok", 30, 3), check("::g", "ok", 5, 0)]);
        assert_eq!(K6Verdicts::merge([None, None].into_iter()), None);
    }

    #[test]
    fn caps_keep_what_failed_and_count_the_rest() {
        let mut v = K6Verdicts {
            thresholds: (0..MAX_K6_THRESHOLDS + 5)
                .map(|i| threshold("m", &format!("count>{i}"), i == MAX_K6_THRESHOLDS + 4))
                .collect(),
            checks: (0..MAX_K6_CHECKS + 1)
                .map(|i| check("", &format!("c{i}"), 1, u64::from(i == MAX_K6_CHECKS)))
                .collect(),
            ..K6Verdicts::default()
        };
        assert_eq!(v.note(), None);
        v.scrub();
        assert!(v.note().unwrap().starts_with("k6's summary listed 6 more"));
        assert_eq!(v.thresholds.len(), MAX_K6_THRESHOLDS);
        assert_eq!(v.checks.len(), MAX_K6_CHECKS);
        assert_eq!(v.left_out, 6);
        assert!(
            v.thresholds.iter().any(|t| t.crossed),
            "the crossed one is kept"
        );
        assert!(
            v.checks.iter().any(|c| c.fails == 1),
            "the failed one is kept"
        );
        let names: Vec<&str> = v.checks.iter().map(|c| c.name.as_str()).collect();
        assert!(names.is_sorted(), "sorted by name");
    }

    #[test]
    fn names_are_quoted() {
        let mut v = K6Verdicts {
            unreadable: Some("bad\nline".into()),
            thresholds: vec![threshold("m\u{1b}[2J", &"x".repeat(10_000), true)],
            checks: vec![check("::g\n", "ok\r\nforged", 1, 0)],
            ..K6Verdicts::default()
        };
        v.scrub();
        assert_eq!(v.thresholds[0].metric, "m\\u{1b}[2J");
        assert_eq!(v.checks[0].group, "::g\\n");
        assert_eq!(v.unreadable.as_deref(), Some("bad\\nline"));
        assert_eq!(v.checks[0].name, "ok\\r\\nforged");
        assert_eq!(
            v.thresholds[0].expression.chars().count(),
            crate::quote::MAX_QUOTED_CHARS
        );
    }
}
