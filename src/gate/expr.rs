//! The one grammar for thresholds and regression rules (docs/thresholds-and-regressions.md):
//!
//! ```text
//! threshold:  [SELECTOR ":"] METRIC OP VALUE[UNIT]          p95<500ms   GET /api/*: error_rate<1%
//! regression: [SELECTOR ":"] METRIC (+|-)PCT% [(+|-)ABS]    p95 +20% +10ms      rps -15%
//! ```
//!
//! Values are normalised on parse: latency to milliseconds, error rate to percent. A selector may
//! itself contain `:` (`GET /api/products/:id`), so the selector ends at the *last* colon: metric,
//! operator and value never contain one.

use std::fmt;

use super::GateError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Metric {
    Avg,
    Min,
    Max,
    /// `med` and `p50` are both `Percentile(50.0)`.
    Percentile(f64),
    ErrorRate,
    Errors,
    Rps,
    Requests,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    /// Milliseconds.
    Latency,
    /// Percent of requests.
    Ratio,
    /// A plain count.
    Count,
    /// Per second.
    Rate,
}

impl Metric {
    pub(crate) fn parse(text: &str) -> Option<Metric> {
        let t = text.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "avg" | "mean" => Metric::Avg,
            "min" => Metric::Min,
            "max" => Metric::Max,
            "med" | "median" => Metric::Percentile(50.0),
            "error_rate" => Metric::ErrorRate,
            "errors" | "failures" => Metric::Errors,
            "rps" => Metric::Rps,
            "requests" => Metric::Requests,
            _ => {
                let n = t
                    .strip_prefix("p(")
                    .and_then(|r| r.strip_suffix(')'))
                    .or_else(|| t.strip_prefix('p'))?;
                let q: f64 = n.parse().ok()?;
                if !(q > 0.0 && q <= 100.0) || n.starts_with(['+', '-']) {
                    return None;
                }
                Metric::Percentile(q)
            }
        })
    }

    pub(crate) fn kind(self) -> MetricKind {
        match self {
            Metric::Avg | Metric::Min | Metric::Max | Metric::Percentile(_) => MetricKind::Latency,
            Metric::ErrorRate => MetricKind::Ratio,
            Metric::Errors | Metric::Requests => MetricKind::Count,
            Metric::Rps => MetricKind::Rate,
        }
    }

    /// Short label used in check names and reports (`p95`, `p99.9`, `error_rate`).
    pub(crate) fn label(self) -> String {
        match self {
            Metric::Avg => "avg".into(),
            Metric::Min => "min".into(),
            Metric::Max => "max".into(),
            Metric::Percentile(q) => format!("p{}", trim_float(q)),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Errors => "errors".into(),
            Metric::Rps => "rps".into(),
            Metric::Requests => "requests".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Every operator, for the schema of a check's `op`.
    pub(crate) const ALL: [Op; 4] = [Op::Lt, Op::Le, Op::Gt, Op::Ge];

    pub(crate) fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Which endpoints a rule applies to: none means the aggregate of all requests.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    raw: String,
    pattern: Option<glob::Pattern>,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Selector {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim().to_string();
        if raw.is_empty() {
            return Err("empty selector before `:`".into());
        }
        let pattern = if raw.contains(['*', '?', '[']) {
            Some(glob::Pattern::new(&raw).map_err(|e| format!("bad glob `{raw}`: {e}"))?)
        } else {
            None
        };
        Ok(Self { raw, pattern })
    }

    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    pub(crate) fn is_glob(&self) -> bool {
        self.pattern.is_some()
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        match &self.pattern {
            Some(p) => p.matches(name),
            None => self.raw == name,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub source: String,
    pub(crate) selector: Option<Selector>,
    pub(crate) metric: Metric,
    pub(crate) op: Op,
    /// In the metric kind's canonical unit (ms, percent, count, per second).
    pub(crate) limit: f64,
    /// `abort-on-fail[=DELAY]`: stop the run as soon as this fails (not before DELAY), as k6's
    /// `abortOnFail` with `delayAbortEval`.
    pub(crate) abort_after: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Fails when the value grew too much (latency, error rate).
    Growth,
    /// Fails when the value dropped too much (throughput).
    Drop,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regression {
    pub(crate) source: String,
    pub(crate) selector: Option<Selector>,
    pub(crate) metric: Metric,
    pub(crate) direction: Direction,
    /// Allowed relative change as a fraction (0.2 for 20 %).
    pub(crate) relative: f64,
    /// Allowed absolute change in the metric's canonical unit; both margins must be exceeded.
    pub(crate) absolute: Option<f64>,
}

fn trim_float(v: f64) -> String {
    let s = format!("{v}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// Splits `[SELECTOR:]REST` at the last colon.
fn split_selector(expr: &str) -> Result<(Option<Selector>, &str), String> {
    match expr.rsplit_once(':') {
        Some((selector, rest)) => Ok((Some(Selector::parse(selector)?), rest)),
        None => Ok((None, expr)),
    }
}

/// A number followed by an optional unit, converted into the metric kind's canonical unit.
fn parse_value(text: &str, kind: MetricKind) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    if num.is_empty() {
        return Err(format!("`{text}` is not a number"));
    }
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{num}` is not a number"))?;
    let unit = unit.trim();
    match kind {
        MetricKind::Latency => match unit {
            "" | "ms" => Ok(n),
            "us" | "µs" => Ok(n / 1000.0),
            "s" => Ok(n * 1000.0),
            other => Err(format!("unknown latency unit `{other}` (use us, ms or s)")),
        },
        MetricKind::Ratio => {
            let pct = match unit {
                "%" => n,
                "" if n <= 1.0 => n * 100.0,
                "" => {
                    return Err(format!(
                        "error_rate without `%` is a fraction from 0 to 1; write `{n}%` for percent"
                    ))
                }
                other => return Err(format!("unknown error_rate unit `{other}` (use %)")),
            };
            if pct > 100.0 {
                return Err(format!("an error rate of {pct}% is more than 100%"));
            }
            Ok(pct)
        }
        MetricKind::Count | MetricKind::Rate => match unit {
            "" => Ok(n),
            "/s" if kind == MetricKind::Rate => Ok(n),
            other => Err(format!(
                "`{other}` is not a unit for this metric (give a plain number)"
            )),
        },
    }
}

impl Threshold {
    pub(crate) fn parse(expr: &str) -> Result<Threshold, GateError> {
        let bad = |reason: String| GateError::Threshold {
            expr: expr.to_string(),
            reason,
        };
        let (rule, abort_after) = match expr.trim_end().rsplit_once(" abort-on-fail") {
            Some((rule, "")) => (rule, Some(std::time::Duration::ZERO)),
            Some((rule, delay)) if delay.starts_with('=') => (
                rule,
                Some(
                    crate::duration::parse_duration(delay.strip_prefix('=').unwrap_or(delay))
                        .map_err(|e| bad(format!("abort-on-fail delay: {e}")))?,
                ),
            ),
            _ => (expr, None),
        };
        let (selector, rest) = split_selector(rule).map_err(bad)?;
        let op_at = rest
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison operator (<, <=, >, >=)".into()))?;
        let (metric_text, op_text) = rest.split_at(op_at);
        let (op, value_text) = if let Some(v) = op_text.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = op_text.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = op_text.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, op_text.strip_prefix('>').unwrap_or(op_text))
        };
        let metric = Metric::parse(metric_text).ok_or_else(|| {
            bad(format!(
                "unknown metric `{}` (known: avg, min, max, med, p50, p90, p95, p99, p99.9, p(NN), error_rate, errors, rps, requests)",
                metric_text.trim()
            ))
        })?;
        let limit = parse_value(value_text, metric.kind()).map_err(bad)?;
        Ok(Threshold {
            source: rule.trim().to_string(),
            selector,
            metric,
            op,
            limit,
            abort_after,
        })
    }
}

impl Regression {
    pub(crate) fn parse(expr: &str) -> Result<Regression, GateError> {
        let bad = |reason: String| GateError::Regression {
            expr: expr.to_string(),
            reason,
        };
        let (selector, rest) = split_selector(expr).map_err(bad)?;
        let mut words = rest.split_whitespace();
        let metric_text = words.next().ok_or_else(|| bad("no metric".into()))?;
        let metric = Metric::parse(metric_text)
            .ok_or_else(|| bad(format!("unknown metric `{metric_text}`")))?;
        let rel = words
            .next()
            .ok_or_else(|| bad("no allowed change; write e.g. `p95 +20%` or `rps -10%`".into()))?;
        let (direction, unsigned) = if let Some(r) = rel.strip_prefix('+') {
            (Direction::Growth, r)
        } else if let Some(r) = rel.strip_prefix('-') {
            (Direction::Drop, r)
        } else {
            return Err(bad(format!(
                "`{rel}` must start with + (growth) or - (drop)"
            )));
        };
        let pct_text = unsigned
            .strip_suffix('%')
            .ok_or_else(|| bad(format!("`{rel}` must be a percentage such as +20%")))?;
        let relative: f64 = pct_text
            .parse()
            .map_err(|_| bad(format!("`{pct_text}` is not a number")))?;
        let absolute = match words.next() {
            None => None,
            Some(abs) => {
                let expected = if direction == Direction::Growth {
                    '+'
                } else {
                    '-'
                };
                let Some(magnitude) = abs.strip_prefix(expected) else {
                    return Err(bad(format!(
                        "absolute margin `{abs}` must have the same sign as `{rel}`"
                    )));
                };
                Some(parse_value(magnitude, metric.kind()).map_err(bad)?)
            }
        };
        if let Some(extra) = words.next() {
            return Err(bad(format!("unexpected `{extra}` after the margins")));
        }
        Ok(Regression {
            source: expr.trim().to_string(),
            selector,
            metric,
            direction,
            relative: relative / 100.0,
            absolute,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_spelling_and_units_normalise() {
        let t = Threshold::parse("p(95)<0.5s").unwrap();
        assert_eq!(t.metric, Metric::Percentile(95.0));
        assert_eq!(t.limit, 500.0);
        assert_eq!(t.op, Op::Lt);
        assert_eq!(Threshold::parse("p95 <= 250").unwrap().limit, 250.0);
        assert_eq!(Threshold::parse("avg<800us").unwrap().limit, 0.8);
        assert_eq!(Threshold::parse("error_rate<1.5%").unwrap().limit, 1.5);
        assert_eq!(Threshold::parse("error_rate<0.01").unwrap().limit, 1.0);
        assert_eq!(
            Threshold::parse("p99.9<1s").unwrap().metric,
            Metric::Percentile(99.9)
        );
        assert_eq!(Threshold::parse("rps>=100").unwrap().op, Op::Ge);
    }

    #[test]
    fn abort_on_fail_takes_an_optional_delay() {
        let t = Threshold::parse("error_rate<5% abort-on-fail=10s").unwrap();
        assert_eq!(t.abort_after, Some(std::time::Duration::from_secs(10)));
        assert_eq!(t.source, "error_rate<5%");
        assert_eq!(
            Threshold::parse("p95<1s abort-on-fail")
                .unwrap()
                .abort_after,
            Some(std::time::Duration::ZERO)
        );
        assert_eq!(Threshold::parse("p95<1s").unwrap().abort_after, None);
        assert!(Threshold::parse("p95<1s abort-on-fail=soon").is_err());
    }

    #[test]
    fn selector_may_contain_colons_and_globs() {
        let t = Threshold::parse("GET /api/catalog/products/:id: p95<300ms").unwrap();
        let s = t.selector.unwrap();
        assert_eq!(s.raw(), "GET /api/catalog/products/:id");
        assert!(s.matches("GET /api/catalog/products/:id"));
        let g = Threshold::parse("GET /api/*:p95<300ms")
            .unwrap()
            .selector
            .unwrap();
        assert!(g.is_glob());
        assert!(g.matches("GET /api/v1/projects"));
        assert!(!g.matches("POST /api/v1/projects"));
    }

    #[test]
    fn malformed_thresholds_name_the_problem() {
        for (expr, needle) in [
            ("p95<<3", "not a number"),
            ("p95<abc", "not a number"),
            ("error_rate<150%", "more than 100%"),
            ("p42x<3ms", "unknown metric"),
            ("latency<3ms", "unknown metric"),
            ("p95 3ms", "no comparison operator"),
            ("p95<3parsecs", "unknown latency unit"),
            ("error_rate<2", "fraction"),
            ("requests>10ms", "not a unit"),
        ] {
            let err = Threshold::parse(expr).unwrap_err().to_string();
            assert!(err.contains(needle), "{expr}: {err}");
            assert!(
                err.contains(expr),
                "{expr}: error must name the expression: {err}"
            );
        }
    }

    #[test]
    fn regression_rules_parse_both_margins() {
        let r = Regression::parse("p95 +20% +10ms").unwrap();
        assert_eq!(r.direction, Direction::Growth);
        assert_eq!(r.relative, 0.2);
        assert_eq!(r.absolute, Some(10.0));
        let r = Regression::parse("GET /x/:id: rps -15%").unwrap();
        assert_eq!(r.direction, Direction::Drop);
        assert_eq!(r.selector.unwrap().raw(), "GET /x/:id");
        assert!(Regression::parse("p95 20%").is_err());
        assert!(Regression::parse("p95 +20% -10ms").is_err());
        assert!(Regression::parse("p95 +abc%").is_err());
    }
}
