//! `summary.md`: what a reviewer reads in the merge request. Verdict first, then the checks,
//! then the endpoints (with the baseline beside them when there is one). All user and server
//! text is escaped so an endpoint name cannot break the table or inject markup.

use std::fmt::Write;

use super::Document;
use crate::{
    baseline::MetricDelta,
    gate::{CheckKind, Metric, Unit},
};

/// Escapes text for a GitHub-flavoured-markdown table cell.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

/// Changes smaller than this (relative) are shown without an arrow: run-to-run noise.
const NOTICEABLE_PCT: f64 = 5.0;

/// `🔺 +12.3%` style change. Red for worse (latency and errors up, throughput down), plain
/// arrows for better, `≈` for changes too small to mean anything. Error rates change in
/// percentage points, since a relative change from 0 % is undefined.
fn arrow(d: &MetricDelta) -> String {
    let (Some(c), Some(b)) = (d.current, d.baseline) else {
        return "–".into();
    };
    let worse_when_up = d.metric != Metric::Rps;
    let mark = |up: bool| match (up, up == worse_when_up) {
        (true, true) => "🔺",
        (false, true) => "🔻",
        (true, false) => "⬆️",
        (false, false) => "⬇️",
    };
    if d.unit == Unit::Percent {
        let pp = c - b;
        return if pp.abs() < 0.005 {
            "±0".into()
        } else {
            format!("{} {pp:+.2} pp", mark(pp > 0.0))
        };
    }
    match d.change_pct() {
        Some(p) if p.abs() < 0.05 => "±0%".into(),
        Some(p) if p.abs() < NOTICEABLE_PCT => format!("≈ {p:+.1}%"),
        Some(p) => format!("{} {p:+.1}%", mark(p > 0.0)),
        None => "–".into(),
    }
}

pub fn render_summary(doc: &Document) -> String {
    let mut out = String::new();
    let run = &doc.run.run;
    let agg = &doc.run.aggregate;

    match &doc.verdict {
        Some(v) if v.passed => {
            let _ = writeln!(
                out,
                "### ✅ Performance gate passed ({} checks)",
                v.checks.len()
            );
        }
        Some(v) => {
            let failed = v.failed_checks().count();
            let _ = writeln!(
                out,
                "### ❌ Performance gate failed: {failed} of {} checks failed",
                v.checks.len()
            );
        }
        None => {
            let _ = writeln!(out, "### ⚠️ Performance gate not judged");
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "**{}** engine ({} model) · {} users · {:.0}s{} · `{}` · {} · {:.2}% errors",
        escape_markdown(&run.engine),
        match run.model {
            crate::stats::LoadModel::Closed => "closed",
            crate::stats::LoadModel::Open => "open",
        },
        run.users,
        run.duration_s,
        if run.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        run.target.replace('`', ""),
        match agg.counts() {
            Some((n, _, rps)) => format!("{n} requests · {rps:.1} req/s"),
            None => "request counts not reported".into(),
        },
        agg.error_rate
    );
    if let Some(url) = &run.cloud_url {
        let _ = writeln!(out, "\n[Cloud run]({url})");
    }
    for note in &doc.notes {
        let _ = writeln!(out, "\n> {}", escape_markdown(note));
    }

    if let Some(v) = &doc.verdict {
        out.push_str("\n| | Check | Value | Limit | Baseline |\n|---|---|---|---|---|\n");
        // Failed checks first: they are why the reader is here.
        let mut checks: Vec<_> = v.checks.iter().collect();
        checks.sort_by_key(|c| c.passed);
        for c in checks {
            let mark = if c.passed { "✅" } else { "❌" };
            let name = match &c.endpoint {
                Some(e) if !c.expression.contains(e.as_str()) => {
                    format!(
                        "{} ({})",
                        escape_markdown(&c.expression),
                        escape_markdown(e)
                    )
                }
                _ => escape_markdown(&c.expression),
            };
            let name = if c.passed {
                name
            } else {
                format!("**{name}**")
            };
            let kind = match c.kind {
                CheckKind::Threshold => "",
                CheckKind::Regression => " _(regression)_",
            };
            let value = c
                .value
                .map(|v| c.unit.format(v))
                .unwrap_or_else(|| "not measured".into());
            let baseline = c.baseline.map(|b| c.unit.format(b)).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {mark} | {name}{kind} | {value} | {} {} | {baseline} |",
                c.op.replace('<', "&lt;").replace('>', "&gt;"),
                c.unit.format(c.limit)
            );
        }
    }

    out.push_str("\n#### Endpoints\n\n");
    match &doc.comparison {
        None => {
            out.push_str("| Endpoint | Requests | Failures | req/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for e in std::iter::once(agg).chain(doc.run.endpoints.iter()) {
                let l = &e.latency_ms;
                let name = if std::ptr::eq(e, agg) {
                    "**all requests**".to_string()
                } else {
                    escape_markdown(&e.name)
                };
                let (requests, failures, rps) = match e.counts() {
                    Some((n, f, r)) => (n.to_string(), f.to_string(), format!("{r:.1}")),
                    None => ("–".into(), "–".into(), "–".into()),
                };
                let _ = writeln!(
                    out,
                    "| {name} | {requests} | {failures} | {rps} | {} | {} | {} | {} |",
                    ms(l.p50),
                    ms(l.p95),
                    ms(l.p99),
                    ms(l.max)
                );
            }
        }
        Some(c) => {
            let _ = writeln!(
                out,
                "Compared with the baseline from {} ({}{}).\n",
                escape_markdown(&c.source),
                escape_markdown(&c.baseline_started_at),
                c.baseline_commit
                    .as_deref()
                    .map(|s| format!(", commit {}", escape_markdown(&s[..s.len().min(8)])))
                    .unwrap_or_default()
            );
            if c.engine_changed {
                out.push_str(
                    "> The baseline was measured by a different engine: compare with care.\n\n",
                );
            }
            out.push_str("| Endpoint | p95 ms | Δ p95 | p99 ms | Δ p99 | error rate | Δ errors | req/s | Δ req/s |\n|---|---:|---|---:|---|---:|---|---:|---|\n");
            for (i, r) in c.rows.iter().enumerate() {
                let get = |m: Metric| r.metrics.iter().find(|d| d.metric == m);
                let name = if i == 0 {
                    "**all requests**".to_string()
                } else {
                    escape_markdown(&r.endpoint)
                };
                let cell = |m: Metric| {
                    get(m)
                        .map(|d| {
                            let v = d
                                .current
                                .map(|v| match d.unit {
                                    Unit::Percent => format!("{v:.2}%"),
                                    _ => format!("{v:.1}"),
                                })
                                .unwrap_or_else(|| "–".into());
                            (v, arrow(d))
                        })
                        .unwrap_or_else(|| ("–".into(), "–".into()))
                };
                let (p95, d95) = cell(Metric::Percentile(95.0));
                let (p99, d99) = cell(Metric::Percentile(99.0));
                let (er, der) = cell(Metric::ErrorRate);
                let (rps, drps) = cell(Metric::Rps);
                let _ = writeln!(
                    out,
                    "| {name} | {p95} | {d95} | {p99} | {d99} | {er} | {der} | {rps} | {drps} |"
                );
            }
        }
    }

    let reasons: Vec<_> = doc
        .run
        .endpoints
        .iter()
        .flat_map(|e| e.failures_by_reason.iter().map(move |(r, n)| (e, r, n)))
        .collect();
    if !reasons.is_empty() {
        out.push_str(
            "\n#### Failures by reason\n\n| Endpoint | Reason | Count |\n|---|---|---:|\n",
        );
        for (e, r, n) in reasons {
            let _ = writeln!(
                out,
                "| {} | {} | {n} |",
                escape_markdown(&e.name),
                escape_markdown(r)
            );
        }
    }

    if let Some(ci) = &doc.run.ci {
        let mut links = Vec::new();
        if let Some(u) = &ci.job_url {
            links.push(format!("[job]({u})"));
        }
        if let Some(u) = &ci.pipeline_url {
            links.push(format!("[pipeline]({u})"));
        }
        if !links.is_empty() {
            let _ = writeln!(out, "\n{}", links.join(" · "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_markdown;

    #[test]
    fn hostile_names_cannot_break_a_table() {
        let s = escape_markdown("GET /x|<script>alert(1)</script>`*");
        assert!(!s.contains('<') && !s.contains("|<"), "{s}");
        assert!(s.contains("\\|") && s.contains("&lt;script&gt;") && s.contains("\\`"));
    }
}

#[cfg(test)]
mod snapshot_tests {
    use std::collections::BTreeMap;

    use crate::{
        baseline,
        gate::{self, Baseline, Regression, Threshold},
        report::Document,
        stats::{CiInfo, EndpointStats, LatencyHistogram, RunResult},
    };

    fn endpoint(name: &str, n: u64, ms: f64, failed: u64) -> EndpointStats {
        let mut h = LatencyHistogram::new();
        for i in 0..n {
            // A spread around `ms` so percentiles differ.
            h.record_micros(((ms * 1000.0) * (0.8 + 0.4 * i as f64 / n as f64)) as u64);
        }
        let mut reasons = BTreeMap::new();
        if failed > 0 {
            reasons.insert("HTTP 503".to_string(), failed);
        }
        EndpointStats::from_counts(name.into(), Some("GET".into()), h, n, reasons, 60.0)
    }

    fn run(endpoints: Vec<EndpointStats>, started: &str) -> RunResult {
        let mut r = crate::stats::fixture(endpoints, 60.0);
        r.run.scenario = Some("shop-cart".into());
        r.run.target = "https://review-7.example.com/".into();
        r.run.users = 20;
        r.run.spawn_rate = 10.0;
        r.run.started_at = started.into();
        r.ci = Some(CiInfo {
            commit_sha: Some("feedbeef12345678".into()),
            job_url: Some("https://gitlab.example.com/shop/-/jobs/555".into()),
            pipeline_url: Some("https://gitlab.example.com/shop/-/pipelines/9000".into()),
            ..CiInfo::default()
        });
        r
    }

    #[test]
    fn summary_of_a_regression_run() {
        let base = run(
            vec![
                endpoint("GET /api/catalog/search", 600, 40.0, 0),
                endpoint("GET /api/catalog/products/:id", 400, 20.0, 0),
                endpoint("POST /api/carts/:id/items | <b>x</b>", 200, 30.0, 0),
            ],
            "2026-11-20T10:00:00Z",
        );
        let current = run(
            vec![
                endpoint("GET /api/catalog/search", 540, 95.0, 12),
                endpoint("GET /api/catalog/products/:id", 420, 21.0, 0),
                endpoint("POST /api/carts/:id/items | <b>x</b>", 190, 29.0, 0),
            ],
            "2026-11-23T10:00:00Z",
        );
        let thresholds = [
            Threshold::parse("p95<250ms").unwrap(),
            Threshold::parse("error_rate<1%").unwrap(),
        ];
        let regressions: Vec<Regression> = gate::DEFAULT_REGRESSIONS
            .iter()
            .map(|r| Regression::parse(r).unwrap())
            .collect();
        let verdict = gate::evaluate(
            &current,
            &thresholds,
            false,
            &regressions,
            true,
            Some(Baseline {
                result: &base,
                history: &[],
            }),
        )
        .unwrap();
        let doc = Document {
            comparison: Some(baseline::compare(
                "pipeline #8990 on main at the merge base 0ff1ce00",
                &base,
                &current,
            )),
            run: current,
            verdict: Some(verdict),
            notes: vec![],
        };
        insta::assert_snapshot!(super::render_summary(&doc));
    }
}
