//! Judging a run: thresholds on the run itself and regression rules against a baseline, each
//! becoming one [`Check`] with its measured value, its limit and (for regressions) the baseline
//! value. Plain synchronous functions over immutable results.

mod abort;
mod evaluate;
mod expr;

use serde::{Deserialize, Serialize};

pub use abort::{check_reportable, AbortRules};
pub use evaluate::{evaluate, metric_value, resolve_selector, Baseline};
pub use expr::{Direction, Metric, MetricKind, Op, Regression, Selector, Threshold};

pub use crate::defaults::{REGRESSIONS as DEFAULT_REGRESSIONS, THRESHOLDS as DEFAULT_THRESHOLDS};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Threshold,
    Regression,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Unique within a verdict (JUnit drops duplicate names).
    pub name: String,
    pub kind: CheckKind,
    /// The rule as written by the user.
    pub expression: String,
    /// The endpoint judged; absent for the aggregate of all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub metric: String,
    /// `ms`, `%`, `/s` or empty.
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The value must satisfy `op limit`.
    pub op: String,
    pub limit: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub passed: bool,
    /// One human sentence: what was measured against what.
    pub detail: String,
    /// True for the built-in rules applied because none were configured.
    #[serde(default)]
    pub default_rule: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub checks: Vec<Check>,
}

impl Verdict {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// Parses every rule, reporting the first malformed one.
pub fn parse_thresholds(exprs: &[String]) -> Result<Vec<Threshold>, GateError> {
    exprs.iter().map(|e| Threshold::parse(e)).collect()
}

pub fn parse_regressions(exprs: &[String]) -> Result<Vec<Regression>, GateError> {
    exprs.iter().map(|e| Regression::parse(e)).collect()
}

/// Formats a value in a metric's unit for humans: `12.34 ms`, `0.50%`, `41.2/s`, `1234`.
pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{value:.2} ms"),
        "%" => format!("{value:.2}%"),
        "/s" => format!("{value:.1}/s"),
        _ => format!("{value:.0}"),
    }
}
