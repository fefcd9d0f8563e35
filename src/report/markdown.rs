//! `summary.md`: what a reviewer reads in the merge request. Verdict first, then the checks,
//! then the endpoints (with the baseline beside them when there is one). All user and server
//! text is escaped so an endpoint name cannot break the table or inject markup.

use std::fmt::Write;

use super::view::{count_cells, ms, BaselineInfo, CheckRow, EndpointRow, Outcome, View, P95};
use crate::{
    baseline::MetricDelta,
    gate::{CheckKind, Metric, Unit},
};

/// Escapes text for a GitHub-flavoured-markdown table cell.
pub(crate) fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            // A zero-width space after `@` keeps `@user` from notifying anybody.
            '@' => out.push_str("@\u{200B}"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A URL as a markdown link target: only an absolute http(s) URL, re-serialised and with every
/// character that could end the link or start a line percent-encoded; anything else is no link.
pub(crate) fn markdown_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    for c in url.as_str().chars() {
        match c {
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            c if c.is_whitespace() || c.is_control() => {}
            c => out.push(c),
        }
    }
    Some(out)
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

/// `summary.md` for a document (the tests' entry point; `publish_all` renders its one view).
#[cfg(test)]
pub(crate) fn render_summary(doc: &super::Document) -> String {
    render(&View::new(doc))
}

/// The summary, section by section.
pub(crate) fn render(view: &View<'_>) -> String {
    let mut out = String::new();
    headline(&mut out, view);
    notes(&mut out, view);
    if view.outcome != Outcome::NotJudged {
        checks(&mut out, view);
    }
    out.push_str("\n#### Endpoints\n\n");
    match &view.baseline {
        None => endpoints(&mut out, view),
        Some(b) => compared_endpoints(&mut out, view, b),
    }
    failures(&mut out, view);
    links(&mut out, view);
    out
}

fn headline(out: &mut String, view: &View<'_>) {
    let mark = match view.outcome {
        Outcome::Passed { .. } => "✅",
        Outcome::Failed { .. } => "❌",
        Outcome::NotJudged => "⚠️",
    };
    let run = &view.run;
    let _ = writeln!(out, "### {mark} {}\n", view.outcome.title());
    let _ = writeln!(
        out,
        "**{}** engine ({} model) · {} users · {:.0}s{} · `{}` · {} · {:.2}% errors",
        escape_markdown(run.engine),
        run.model,
        run.users,
        run.duration_s,
        run.interrupted_text(),
        run.target.replace(['`', '\n', '\r'], ""),
        run.counts_text(),
        run.error_rate
    );
    if let Some(url) = view.links.cloud.and_then(markdown_url) {
        let _ = writeln!(out, "\n[Cloud run]({url})");
    }
}

fn notes(out: &mut String, view: &View<'_>) {
    for note in view.notes {
        let _ = writeln!(out, "\n> {}", escape_markdown(note));
    }
}

fn checks(out: &mut String, view: &View<'_>) {
    out.push_str("\n| | Check | Value | Limit | Baseline |\n|---|---|---|---|---|\n");
    for c in view.checks_failed_first() {
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} {} | {} |",
            if c.passed { "✅" } else { "❌" },
            check_name(c),
            match c.kind {
                CheckKind::Threshold => "",
                CheckKind::Regression => " _(regression)_",
            },
            c.value,
            c.op.replace('<', "&lt;").replace('>', "&gt;"),
            c.limit,
            c.baseline
        );
    }
}

/// The rule, with the endpoint a glob expanded to; bold when it failed.
fn check_name(c: &CheckRow<'_>) -> String {
    let name = match c.expanded_endpoint() {
        Some(e) => format!("{} ({})", escape_markdown(c.expression), escape_markdown(e)),
        None => escape_markdown(c.expression),
    };
    if c.passed {
        name
    } else {
        format!("**{name}**")
    }
}

fn endpoint_name(row: &EndpointRow<'_>) -> String {
    if row.aggregate {
        format!("**{}**", row.label())
    } else {
        escape_markdown(row.name)
    }
}

/// Without a baseline: this run's counts and latencies.
fn endpoints(out: &mut String, view: &View<'_>) {
    out.push_str("| Endpoint | Requests | Failures | req/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (row, e) in view.measured() {
        let l = &e.latency_ms;
        let [requests, failures, rps] = count_cells(e);
        let _ = writeln!(
            out,
            "| {} | {requests} | {failures} | {rps} | {} | {} | {} | {} |",
            endpoint_name(row),
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.max)
        );
    }
}

/// With a baseline: the key figures of both runs and how they changed, for every endpoint of
/// either run.
fn compared_endpoints(out: &mut String, view: &View<'_>, b: &BaselineInfo<'_>) {
    let _ = writeln!(
        out,
        "Compared with the baseline from {} ({}{}).\n",
        escape_markdown(b.source),
        escape_markdown(b.started_at),
        b.short_commit
            .map(|s| format!(", commit {}", escape_markdown(s)))
            .unwrap_or_default()
    );
    if b.engine_changed {
        out.push_str("> The baseline was measured by a different engine: compare with care.\n\n");
    }
    out.push_str("| Endpoint | p95 ms | Δ p95 | p99 ms | Δ p99 | error rate | Δ errors | req/s | Δ req/s |\n|---|---:|---|---:|---|---:|---|---:|---|\n");
    for row in &view.endpoints {
        let cells: Vec<String> = COMPARED_COLUMNS
            .into_iter()
            .map(|m| delta_cells(row.delta(m)))
            .collect();
        let _ = writeln!(out, "| {} | {} |", endpoint_name(row), cells.join(" | "));
    }
}

/// The figures the comparison table shows, in column order.
const COMPARED_COLUMNS: [Metric; 4] = [
    P95,
    Metric::Percentile(99.0),
    Metric::ErrorRate,
    Metric::Rps,
];

/// `value | change` for one metric of one row.
fn delta_cells(d: Option<&MetricDelta>) -> String {
    let Some(d) = d else {
        return "– | –".into();
    };
    let value = d
        .current
        .map(|v| match d.unit {
            Unit::Percent => format!("{v:.2}%"),
            _ => format!("{v:.1}"),
        })
        .unwrap_or_else(|| "–".into());
    format!("{value} | {}", arrow(d))
}

fn failures(out: &mut String, view: &View<'_>) {
    if view.failures.is_empty() {
        return;
    }
    out.push_str("\n#### Failures by reason\n\n| Endpoint | Reason | Count |\n|---|---|---:|\n");
    for f in &view.failures {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            escape_markdown(f.endpoint),
            escape_markdown(f.reason),
            f.count
        );
    }
}

fn links(out: &mut String, view: &View<'_>) {
    let links: Vec<String> = [("job", view.links.job), ("pipeline", view.links.pipeline)]
        .into_iter()
        .filter_map(|(text, url)| url.and_then(markdown_url).map(|u| format!("[{text}]({u})")))
        .collect();
    if !links.is_empty() {
        let _ = writeln!(out, "\n{}", links.join(" · "));
    }
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
        gate::{self, Baseline, Threshold},
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
        let regressions = gate::regressions_or_builtin(&[]).unwrap();
        let verdict = gate::evaluate(
            &current,
            &gate::Rules::configured(thresholds.to_vec()),
            &regressions,
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
            history: Vec::new(),
        };
        insta::assert_snapshot!(super::render_summary(&doc));
    }
}
