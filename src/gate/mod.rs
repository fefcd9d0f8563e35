//! Judging a run: thresholds on the run itself and regression rules against a baseline, each
//! becoming one [`Check`] with its measured value, its limit and (for regressions) the baseline
//! value. Plain synchronous functions over immutable results.

mod abort;
pub mod changepoint;
#[cfg(test)]
mod comparable_tests;
mod decisive;
mod evaluate;
mod expr;
pub mod judgement;
mod k6;
mod metric;
pub mod paired;
mod paired_check;
mod paired_stall;
mod regression;
#[cfg(test)]
mod starved_tests;
mod state;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use abort::{check_reportable, AbortRules};
pub(crate) use decisive::UntilDecisive;
pub(crate) use evaluate::{evaluate, resolve_selector};
pub(crate) use expr::{Direction, Metric, MetricKind, Regression, Selector, Threshold};
pub(crate) use judgement::Outcome;
pub(crate) use metric::metric_value;
pub(crate) use regression::{Baseline, Reference};
pub(crate) use state::{CheckState, NotJudged};

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("invalid threshold `{expr}`: {reason}; expected e.g. `p95<500ms` or `GET /api/*: error_rate<1%`")]
    Threshold { expr: String, reason: String },
    #[error(
        "invalid regression rule `{expr}`: {reason}; expected e.g. `p95 +20% +10ms` or `rps -10%`"
    )]
    Regression { expr: String, reason: String },
    #[error("`{expr}` cannot be judged: the {engine} engine did not report {metric} for this run; remove the rule or use a metric it reports")]
    NotReported {
        expr: String,
        metric: String,
        engine: String,
    },
    #[error("threshold `{expr}`: the {engine} engine never reports {metric}; use a metric it reports (avg, min, max, p50, p90, p95, p99, error_rate, errors, requests, rps)")]
    NeverReported {
        expr: String,
        metric: String,
        engine: String,
    },
    #[error("selector `{selector}` in `{expr}` matches no endpoint; known endpoints: {known}")]
    SelectorMatchesNothing {
        expr: String,
        selector: String,
        known: String,
    },
}

/// Whose rule a check judges: the gate's own (a threshold on the run, a regression rule
/// against a baseline or history), or the k6 script's, as k6 itself reported it. Each kind is
/// a class of its own in junit.xml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckKind {
    /// One of the gate's thresholds, on the run itself.
    Threshold,
    /// One of the gate's regression rules, against a baseline or a history.
    Regression,
    /// A threshold of the k6 script, as k6 judged it on its own samples: metric `errors`,
    /// value 1 when k6 crossed it and 0 when it held, limit `<= 0`.
    K6Threshold,
    /// A `check()` of the k6 script: metric `errors`, value its failed evaluations, limit
    /// `<= 0` (any failed evaluation fails it).
    K6Check,
}
crate::quote::word::words!(
    CheckKind,
    "check kind",
    [
        CheckKind::Threshold,
        CheckKind::Regression,
        CheckKind::K6Threshold,
        CheckKind::K6Check
    ]
);

impl CheckKind {
    /// A rule of the k6 script's, not of the gate's.
    pub(crate) fn is_k6(self) -> bool {
        matches!(self, CheckKind::K6Threshold | CheckKind::K6Check)
    }
}

/// One rule judged on one endpoint (or on every request together).
// `additionalProperties` rather than `deny_unknown_fields`: the state's `state` and `reason`
// are flattened in beside the other properties, where `additionalProperties` sees them, and
// schemars would otherwise write `unevaluatedProperties` for the state's `if`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub(crate) struct Check {
    /// Unique within a verdict (JUnit drops duplicate names).
    pub(crate) name: String,
    /// The gate's threshold or regression rule, or the k6 script's threshold or check.
    pub(crate) kind: CheckKind,
    /// The rule as written by the user.
    pub(crate) expression: String,
    /// The endpoint judged; absent for the aggregate of all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint: Option<String>,
    /// Written to results.json as its label (`p95`, `error_rate`).
    pub(crate) metric: Metric,
    /// The unit of `value`, `limit` and `baseline`.
    pub(crate) unit: Unit,
    /// The value measured; absent when the run did not measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    /// The value must satisfy `op limit`.
    #[schemars(extend("enum" = expr::Op::ALL.map(expr::Op::symbol)))]
    pub(crate) op: String,
    /// The limit the value is held to.
    pub(crate) limit: f64,
    /// A regression rule's reference: the baseline's value, or the history's centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) baseline: Option<f64>,
    /// Passed, failed, or not judged and why: written as `"state"` (and `"reason"`) beside
    /// the other fields; results v1's booleans are read into it.
    #[serde(flatten, deserialize_with = "state::read")]
    pub(crate) state: CheckState,
    /// One human sentence: what was measured against what.
    pub(crate) detail: String,
    /// True for the built-in rules applied because none were configured.
    #[serde(default)]
    pub(crate) default_rule: bool,
    /// A regression judged against a history: which of the judgement's words holds, and the
    /// numbers behind it. Every report's words come from here ([`Check::words`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finding: Option<Finding>,
}

/// What a regression judged against a history found, in the metric's unit; the centre it is
/// measured from is the check's `baseline`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct Finding {
    /// Which of the judgement's words holds.
    pub(crate) outcome: Outcome,
    /// This run's value minus the centre.
    pub(crate) change: f64,
    /// The change either way that noise alone stays within: beyond it a change is real.
    #[schemars(range(min = 0))]
    pub(crate) noise: f64,
    /// The smallest change in the worse direction the history lets the rule see.
    #[schemars(range(min = 0))]
    pub(crate) detectable: f64,
    /// The rule's relative margin as a fraction, signed the worse way (`0.2`, `-0.1`; `-0.0`
    /// for a drop rule of no relative margin).
    pub(crate) margin_relative: f64,
    /// The rule's absolute margin, signed the worse way, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) margin_absolute: Option<f64>,
}

impl Finding {
    /// `+1` when growth is worse, `-1` when a drop is.
    fn worse(&self) -> f64 {
        if self.margin_relative.is_sign_negative() {
            -1.0
        } else {
            1.0
        }
    }

    /// The words with their numbers: `below the margin: +14.5% is beyond noise (±0.9%) but
    /// below the +20% / +10 ms margin`.
    pub(crate) fn words(&self, centre: f64, unit: Unit) -> String {
        let pct = |v: f64| {
            if centre == 0.0 {
                let sign = if v < 0.0 { "-" } else { "+" };
                format!("{sign}{}", unit.format(v.abs()))
            } else {
                format!("{:+.1}%", v / centre.abs() * 100.0)
            }
        };
        let noise = if centre == 0.0 {
            format!("±{}", unit.format(self.noise))
        } else {
            format!("±{:.1}%", self.noise / centre.abs() * 100.0)
        };
        let change = pct(self.change);
        let margin = self.margin_text(unit);
        match self.outcome {
            Outcome::Regression => format!("regression: {change}, beyond the {margin} margin"),
            Outcome::BelowMargin => format!(
                "below the margin: {change} is beyond noise ({noise}) but below the {margin} margin"
            ),
            Outcome::Improvement => format!("improvement: {change}, beyond noise ({noise})"),
            Outcome::WithinNoise => format!("within noise: {change}, inside {noise}"),
            Outcome::TooNoisy => format!(
                "too noisy to judge below {}: {change} is inside {noise}, the rule asks for {margin}",
                pct(self.worse() * self.detectable)
            ),
        }
    }

    /// The rule's margin as written: `+20% / +10 ms`.
    fn margin_text(&self, unit: Unit) -> String {
        let number = |v: f64| {
            let s = format!("{:.2}", v.abs());
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{}{s}", if v.is_sign_negative() { "-" } else { "+" })
        };
        let relative = (self.margin_relative != 0.0 || self.margin_absolute.is_none())
            .then(|| format!("{}%", number(self.margin_relative * 100.0)));
        let absolute = self.margin_absolute.map(|a| {
            let n = number(a);
            match unit {
                Unit::Millis => format!("{n} ms"),
                Unit::Percent => format!("{n}%"),
                Unit::PerSecond => format!("{n}/s"),
                Unit::Count => n,
            }
        });
        let parts: Vec<String> = relative.into_iter().chain(absolute).collect();
        parts.join(" / ")
    }
}

impl Check {
    /// A history judgement's words with their numbers (see [`Finding::words`]).
    pub(crate) fn words(&self) -> Option<String> {
        let f = self.finding.as_ref()?;
        Some(f.words(self.baseline.unwrap_or(0.0), self.unit))
    }

    /// Passed, failed or not judged.
    pub(crate) fn state(&self) -> CheckState {
        self.state
    }

    /// Judged, and held.
    #[cfg(test)]
    pub(crate) fn passed(&self) -> bool {
        self.state == CheckState::Passed
    }
}

/// Every check of a run, and what they add up to. Written with the outcome beside the
/// checks for readers of the file (`"outcome": "not_judged"`); read back, the outcome is worked
/// out again from the checks, which alone decide it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[schemars(into = "Written<'static>")]
pub(crate) struct Verdict {
    pub(crate) checks: Vec<Check>,
    /// The default branch's first run: nothing was published to compare with, so the
    /// regression rules start the history rather than judge it. The one case where a run
    /// passes with rules that compared nothing, and every report says so.
    #[serde(default)]
    pub(crate) history_starts: bool,
}

/// A [`Verdict`] as results.json has it; its doc comments are the schema's descriptions.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Written<'a> {
    /// What the checks add up to: failed when any check failed; else not_judged when any check
    /// was not judged; else passed. Readers work it out again from the checks, which alone
    /// decide it.
    outcome: crate::exit::Outcome,
    /// Every check of the run.
    checks: &'a [Check],
    /// The default branch's first run: nothing was published to compare with, so the
    /// regression rules started the history instead of judging it. Written only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    history_starts: bool,
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written {
            outcome: self.outcome(),
            checks: &self.checks,
            history_starts: self.history_starts,
        }
        .serialize(serializer)
    }
}

impl Verdict {
    /// The verdict of `checks`.
    pub(crate) fn of(checks: Vec<Check>, history_starts: bool) -> Self {
        Verdict {
            checks,
            history_starts,
        }
    }

    pub(crate) fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.state() == CheckState::Failed)
    }

    /// Checks that were not judged, each with its reason.
    pub(crate) fn not_judged_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.state().not_judged().is_some())
    }

    /// What the gate concluded: a failed check fails it; else a check not judged makes it not
    /// judged; else it passed. `ExitStatus::of` turns it into the exit status.
    pub(crate) fn outcome(&self) -> crate::exit::Outcome {
        use crate::exit::Outcome;
        if self.failed_checks().next().is_some() {
            Outcome::Failed
        } else if self.not_judged_checks().next().is_some() {
            Outcome::NotJudged
        } else {
            Outcome::Passed
        }
    }

    /// Passed: every check was judged and held.
    #[cfg(test)]
    pub(crate) fn passed(&self) -> bool {
        self.outcome() == crate::exit::Outcome::Passed
    }
}

/// Where a set of rules came from. Built-in rules are applied when none were configured, and
/// every report says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Given by the user (flag, variable, config file).
    Configured,
    /// The defaults of [`crate::defaults`], because none were given.
    BuiltIn,
}

/// A list of rules and where it came from; derefs to the rules.
#[derive(Debug, Clone)]
pub struct Rules<T> {
    list: Vec<T>,
    /// Configured or built in.
    pub(crate) origin: Origin,
}

impl<T> Rules<T> {
    /// Rules the user gave.
    pub(crate) fn configured(list: Vec<T>) -> Self {
        Rules {
            list,
            origin: Origin::Configured,
        }
    }

    /// The built-in rules, applied because none were given.
    pub(crate) fn built_in(list: Vec<T>) -> Self {
        Rules {
            list,
            origin: Origin::BuiltIn,
        }
    }

    /// True for the built-in rules.
    pub(crate) fn is_built_in(&self) -> bool {
        self.origin == Origin::BuiltIn
    }
}

impl<T> std::ops::Deref for Rules<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.list
    }
}

/// The given thresholds, or the built-in ones when none are given.
pub(crate) fn thresholds_or_builtin(given: &[String]) -> Result<Rules<Threshold>, GateError> {
    or_builtin(given, crate::defaults::THRESHOLDS, Threshold::parse)
}

/// The given regression rules, or the built-in ones when none are given.
pub(crate) fn regressions_or_builtin(given: &[String]) -> Result<Rules<Regression>, GateError> {
    or_builtin(given, crate::defaults::REGRESSIONS, Regression::parse)
}

fn or_builtin<T>(
    given: &[String],
    builtin: &[&str],
    parse: impl Fn(&str) -> Result<T, GateError>,
) -> Result<Rules<T>, GateError> {
    if given.is_empty() {
        let list = builtin.iter().map(|e| parse(e)).collect::<Result<_, _>>()?;
        return Ok(Rules::built_in(list));
    }
    Ok(Rules::configured(
        given.iter().map(|e| parse(e)).collect::<Result<_, _>>()?,
    ))
}

/// The unit of a metric's values, written to results.json as `ms`, `%`, `/s` or empty:
/// milliseconds, percent, per second, or a plain count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) enum Unit {
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "%")]
    Percent,
    #[serde(rename = "/s")]
    PerSecond,
    #[serde(rename = "")]
    Count,
}
crate::quote::word::words!(
    Unit,
    "unit",
    [Unit::Millis, Unit::Percent, Unit::PerSecond, Unit::Count]
);

impl Unit {
    /// Formats a value in this unit for humans: `12.34 ms`, `0.50%`, `41.2/s`, `1234`.
    pub(crate) fn format(self, value: f64) -> String {
        match self {
            Unit::Millis => format!("{value:.2} ms"),
            Unit::Percent => format!("{value:.2}%"),
            Unit::PerSecond => format!("{value:.1}/s"),
            Unit::Count => format!("{value:.0}"),
        }
    }
}

impl From<MetricKind> for Unit {
    fn from(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Latency => Unit::Millis,
            MetricKind::Ratio => Unit::Percent,
            MetricKind::Rate => Unit::PerSecond,
            MetricKind::Count => Unit::Count,
        }
    }
}

/// A metric is stored in results.json as its label, the same text a rule names it by, so a
/// reader of the file needs no second vocabulary.
impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

/// A label as [`Metric::label`] writes it, the only ones the reader accepts.
impl JsonSchema for Metric {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Metric".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A metric by the label rules use: p95, p99.9, error_rate, rps, ...",
            "type": "string",
            "pattern": r"^(avg|min|max|p[0-9]+(\.[0-9]+)?|error_rate|errors|rps|requests)$",
        })
    }
}

/// Only a label this version writes is accepted (`p95`, not `P95` or `p(95)`), so a file
/// that reads back also writes back byte for byte.
impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = String::deserialize(deserializer)?;
        Metric::parse(&label)
            .filter(|m| m.label() == label)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown metric `{}`",
                    crate::quote::quote(&label)
                ))
            })
    }
}

/// The label, padded as asked (`{:<11}` lines up a table).
impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::{Metric, Unit};

    #[test]
    fn metrics_are_written_as_their_labels_and_read_back_strictly() {
        for label in [
            "avg",
            "min",
            "max",
            "p50",
            "p95",
            "p99.9",
            "error_rate",
            "errors",
            "rps",
            "requests",
        ] {
            let json = format!("\"{label}\"");
            let metric: Metric = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::to_string(&metric).unwrap(), json);
        }
        // Spellings a rule accepts but this version never writes are refused.
        for bad in ["P95", "p(95)", "med", "mean", "latency", ""] {
            let err = serde_json::from_str::<Metric>(&format!("\"{bad}\"")).unwrap_err();
            assert!(err.to_string().contains("unknown metric"), "{bad}: {err}");
        }
    }

    #[test]
    fn units_are_written_as_their_symbols() {
        for (unit, json) in [
            (Unit::Millis, "\"ms\""),
            (Unit::Percent, "\"%\""),
            (Unit::PerSecond, "\"/s\""),
            (Unit::Count, "\"\""),
        ] {
            assert_eq!(serde_json::to_string(&unit).unwrap(), json);
            assert_eq!(serde_json::from_str::<Unit>(json).unwrap(), unit);
        }
        assert!(serde_json::from_str::<Unit>("\"s\"").is_err());
    }
}
