//! `report.html`: one self-contained page (inline CSS and SVG charts, no script, no network) that
//! reviewers open from the merge-request comment: verdict, checks, charts, endpoints, failures,
//! run metadata. Every piece of user or server text goes through [`esc`].

use std::fmt::Write;

use super::{charts, Document};
use crate::{
    gate::{CheckKind, Metric},
    stats::EndpointStats,
};

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Only http(s) links become anchors; anything else (a `javascript:` URL) is shown as text.
fn link(url: &str, text: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{}\">{}</a>", esc(url), esc(text))
    } else {
        esc(text)
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

const STYLE: &str = r#"
:root { --ok: #1a7f37; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 16px; }
header.verdict { border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; color: #fff; }
header.pass { background: var(--ok); } header.fail { background: var(--bad); } header.none { background: var(--muted); }
header h1 { margin: 0 0 4px; font-size: 1.5rem; }
header p { margin: 0; opacity: .95; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; }
td.name { white-space: normal; word-break: break-word; min-width: 12em; }
tr.failed td { background: #ffebe9; }
.pill { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: .8rem; color: #fff; }
.pill.ok { background: var(--ok); } .pill.bad { background: var(--bad); }
.worse { color: var(--bad); } .better { color: var(--ok); }
.charts { display: grid; grid-template-columns: 1fr; gap: 16px; }
@media (min-width: 900px) { .charts { grid-template-columns: 1fr 1fr; } .charts figure.wide { grid-column: 1 / -1; } }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .85rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-word; }
.notes { background: var(--bg); border-left: 4px solid var(--line); padding: 8px 12px; }
footer { color: var(--muted); font-size: .8rem; margin: 32px 0 8px; }
@media print { header.verdict { -webkit-print-color-adjust: exact; print-color-adjust: exact; } figure, table { break-inside: avoid; } a { color: inherit; } .scroll { overflow: visible; } }
"#;

pub fn render(doc: &Document) -> String {
    let run = &doc.run.run;
    let agg = &doc.run.aggregate;
    let mut h = String::with_capacity(64 * 1024);
    let (class, title) = match &doc.verdict {
        // Plain symbols, not emoji: they render in every font, offline and in print.
        Some(v) if v.passed => (
            "pass",
            format!("✓ Performance gate passed ({} checks)", v.checks.len()),
        ),
        Some(v) => (
            "fail",
            format!(
                "✗ Performance gate failed: {} of {} checks failed",
                v.failed_checks().count(),
                v.checks.len()
            ),
        ),
        None => ("none", "Performance gate not judged".to_string()),
    };
    let counts = match agg.counts() {
        Some((n, _, rps)) => format!("{n} requests · {rps:.1} req/s"),
        None => "request counts not reported".into(),
    };
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>{} – loadforge-gate</title><style>{STYLE}</style></head><body><main>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<header class=\"verdict {class}\"><h1>{}</h1><p>{} engine ({} model) · {} users · {:.0} s{} · {} · {} · {:.2}% errors · p95 {} ms</p></header>",
        esc(&title),
        esc(&run.engine),
        match run.model {
            crate::stats::LoadModel::Closed => "closed",
            crate::stats::LoadModel::Open => "open",
        },
        run.users,
        run.duration_s,
        if run.interrupted { " (interrupted)" } else { "" },
        esc(&run.target),
        counts,
        agg.error_rate,
        ms(agg.latency_ms.p95)
    );
    if !doc.notes.is_empty() {
        h.push_str("<div class=\"notes\">");
        for n in &doc.notes {
            let _ = write!(h, "<p>{}</p>", esc(n));
        }
        h.push_str("</div>");
    }

    if let Some(v) = &doc.verdict {
        h.push_str("<h2>Checks</h2><div class=\"scroll\"><table><thead><tr><th></th><th>Check</th><th>Endpoint</th><th class=\"num\">Value</th><th class=\"num\">Limit</th><th class=\"num\">Baseline</th><th>Detail</th></tr></thead><tbody>");
        let mut checks: Vec<_> = v.checks.iter().collect();
        checks.sort_by_key(|c| c.passed);
        for c in checks {
            let _ = write!(
                h,
                "<tr class=\"{}\"><td><span class=\"pill {}\">{}</span></td><td class=\"name\">{}{}</td><td class=\"name\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} {}</td><td class=\"num\">{}</td><td class=\"name\">{}</td></tr>",
                if c.passed { "" } else { "failed" },
                if c.passed { "ok" } else { "bad" },
                if c.passed { "pass" } else { "fail" },
                esc(&c.expression),
                match c.kind {
                    CheckKind::Threshold => "",
                    CheckKind::Regression => " <em>(regression)</em>",
                },
                esc(c.endpoint.as_deref().unwrap_or("all requests")),
                c.value.map(|x| c.unit.format(x)).unwrap_or_else(|| "not measured".into()),
                esc(&c.op),
                c.unit.format(c.limit),
                c.baseline.map(|b| c.unit.format(b)).unwrap_or_default(),
                esc(&c.detail)
            );
        }
        h.push_str("</tbody></table></div>");
    }

    h.push_str("<h2>Charts</h2><div class=\"charts\">");
    let base_series = doc
        .comparison
        .as_ref()
        .map(|c| c.baseline_timeseries.as_slice())
        .unwrap_or(&[]);
    let base_hist = doc
        .comparison
        .as_ref()
        .and_then(|c| c.baseline_histogram.as_ref());
    let known: Vec<(f64, f64)> = [
        (50.0, agg.latency_ms.p50),
        (90.0, agg.latency_ms.p90),
        (95.0, agg.latency_ms.p95),
        (99.0, agg.latency_ms.p99),
    ]
    .into_iter()
    .filter_map(|(q, v)| v.map(|v| (q, v)))
    .collect();
    let bars: Vec<charts::Bar> = std::iter::once(agg)
        .chain(doc.run.endpoints.iter())
        .map(|e| p95_bar(doc, e, std::ptr::eq(e, agg)))
        .collect();
    for (svg, wide) in [
        (charts::throughput(&doc.run.timeseries, base_series), false),
        (
            charts::latency_over_time(&doc.run.timeseries, base_series),
            false,
        ),
        (
            charts::distribution(agg.histogram.as_ref(), &known, base_hist),
            false,
        ),
        (charts::p95_bars(&bars), false),
    ] {
        match svg {
            Some(s) => {
                let _ = write!(h, "<figure{}>{s}</figure>", if wide { " class=\"wide\"" } else { "" });
            }
            None => h.push_str("<figure><figcaption>No data for this chart (the engine did not report it).</figcaption></figure>"),
        }
    }
    h.push_str("</div>");

    h.push_str("<h2>Endpoints</h2><div class=\"scroll\"><table><thead><tr><th>Endpoint</th><th class=\"num\">Requests</th><th class=\"num\">Failures</th><th class=\"num\">req/s</th><th class=\"num\">avg</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">max</th><th class=\"num\">baseline p95</th><th class=\"num\">Δ p95</th></tr></thead><tbody>");
    for e in std::iter::once(agg).chain(doc.run.endpoints.iter()) {
        let l = &e.latency_ms;
        let base = baseline_p95(doc, &e.name, std::ptr::eq(e, agg));
        let delta = match (l.p95, base) {
            (Some(c), Some(b)) if b > 0.0 => {
                let pct = (c - b) / b * 100.0;
                let class = if pct > 5.0 {
                    "worse"
                } else if pct < -5.0 {
                    "better"
                } else {
                    ""
                };
                format!("<span class=\"{class}\">{pct:+.1}%</span>")
            }
            _ => "–".into(),
        };
        let (n, f, r) = match e.counts() {
            Some((n, f, r)) => (n.to_string(), f.to_string(), format!("{r:.1}")),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let name = if std::ptr::eq(e, agg) {
            "<strong>all requests</strong>".to_string()
        } else {
            esc(&e.name)
        };
        let _ = write!(
            h,
            "<tr><td class=\"name\">{name}</td><td class=\"num\">{n}</td><td class=\"num\">{f}</td><td class=\"num\">{r}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{delta}</td></tr>",
            ms(l.avg), ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max), ms(base)
        );
    }
    h.push_str("</tbody></table></div><p><small>Latencies in milliseconds.</small></p>");

    let reasons: Vec<_> = doc
        .run
        .endpoints
        .iter()
        .flat_map(|e| e.failures_by_reason.iter().map(move |(r, n)| (e, r, n)))
        .collect();
    h.push_str("<h2>Failures by reason</h2>");
    if reasons.is_empty() {
        h.push_str("<p>No failed requests.</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>Endpoint</th><th>Reason</th><th class=\"num\">Count</th></tr></thead><tbody>");
        for (e, r, n) in reasons {
            let _ = write!(h, "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"num\">{n}</td></tr>", esc(&e.name), esc(r));
        }
        h.push_str("</tbody></table></div>");
    }

    h.push_str("<h2>Run</h2><dl>");
    let mut meta: Vec<(&str, String)> = vec![
        ("engine", esc(&run.engine)),
        ("scenario", esc(run.scenario.as_deref().unwrap_or("–"))),
        ("target", esc(&run.target)),
        (
            "users",
            format!("{} (spawn rate {}/s)", run.users, run.spawn_rate),
        ),
        ("started", esc(&run.started_at)),
        ("duration", format!("{:.1} s", run.duration_s)),
    ];
    if run.quantised {
        meta.push((
            "latencies",
            "rounded by the engine (about two significant digits)".into(),
        ));
    }
    if let Some(url) = &run.cloud_url {
        meta.push(("cloud run", link(url, url)));
    }
    if let Some(ci) = &doc.run.ci {
        if let Some(sha) = &ci.commit_sha {
            meta.push(("commit", esc(sha)));
        }
        if let Some(r) = &ci.ref_name {
            meta.push(("ref", esc(r)));
        }
        if let Some(u) = &ci.pipeline_url {
            meta.push(("pipeline", link(u, ci.pipeline_id.as_deref().unwrap_or(u))));
        }
        if let Some(u) = &ci.job_url {
            meta.push(("job", link(u, ci.job_name.as_deref().unwrap_or(u))));
        }
    }
    if let Some(c) = &doc.comparison {
        meta.push((
            "baseline",
            format!("{} ({})", esc(&c.source), esc(&c.baseline_started_at)),
        ));
    }
    for (k, v) in meta {
        let _ = write!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    let _ = writeln!(
        h,
        "</dl><footer>Generated by {} {}.</footer></main></body></html>",
        esc(&doc.run.tool.name),
        esc(&doc.run.tool.version)
    );
    h
}

fn baseline_p95(doc: &Document, name: &str, aggregate: bool) -> Option<f64> {
    let c = doc.comparison.as_ref()?;
    let row = if aggregate {
        c.rows.first()
    } else {
        c.rows.iter().find(|r| r.endpoint == name)
    }?;
    row.metrics
        .iter()
        .find(|m| m.metric == Metric::Percentile(95.0))?
        .baseline
}

fn p95_bar(doc: &Document, e: &EndpointStats, aggregate: bool) -> charts::Bar {
    let limit = doc.verdict.as_ref().and_then(|v| {
        v.checks
            .iter()
            .filter(|c| {
                c.kind == CheckKind::Threshold
                    && c.metric == Metric::Percentile(95.0)
                    && c.op.starts_with('<')
            })
            .find(|c| {
                if aggregate {
                    c.endpoint.is_none()
                } else {
                    c.endpoint.as_deref() == Some(e.name.as_str())
                }
            })
            .map(|c| c.limit)
    });
    charts::Bar {
        label: if aggregate {
            "all requests".into()
        } else {
            e.name.clone()
        },
        value: e.latency_ms.p95,
        baseline: baseline_p95(doc, &e.name, aggregate),
        limit,
    }
}
