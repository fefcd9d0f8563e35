//! `report.html`: one self-contained page (inline CSS and SVG charts, no script, no network) that
//! reviewers open from the merge-request comment: verdict, checks, charts, endpoints, failures,
//! run metadata. Every piece of user or server text goes through [`esc`].

use std::fmt::Write;

use super::{
    charts,
    paired::{starved_text, PairedView, FIGURES},
    view::{count_cells, ms, BaselineInfo, MetaValue, Outcome, View, ALL_REQUESTS, P95},
};
use crate::{
    baseline::Presence,
    gate::{CheckKind, CheckState},
};

/// HTML-escapes text for element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // White space as HTML shows it anyway; other control characters, and those that
            // hide or reorder text, as `\u{..}`.
            '\n' | '\r' | '\t' => out.push(' '),
            c if crate::quote::must_escape(c) => crate::quote::push_escaped(&mut out, c),
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

const STYLE: &str = r#"
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 16px; }
header.verdict { border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; color: #fff; }
header.pass { background: var(--ok); } header.fail { background: var(--bad); } header.warn { background: var(--warn); } header.none { background: var(--muted); }
header h1 { margin: 0 0 4px; font-size: 1.5rem; }
header p { margin: 0; opacity: .95; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; }
td.name { white-space: normal; word-break: break-word; min-width: 12em; }
tr.failed td { background: #ffebe9; } tr.notjudged td { background: #fff8c5; }
.pill { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: .8rem; color: #fff; }
.pill.ok { background: var(--ok); } .pill.bad { background: var(--bad); } .pill.warn { background: var(--warn); }
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

/// The page, section by section.
pub(crate) fn render(view: &View<'_>) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let (class, title) = title(&view.outcome);
    head(&mut h, &title);
    header(&mut h, view, class, &title);
    comparability(&mut h, view);
    if let Some(g) = view.run.generator.as_ref().filter(|g| g.starved) {
        let _ = write!(
            h,
            "<div class=\"notes\"><p><strong>⚠ Load generator {}</strong></p></div>",
            esc(&g.text)
        );
    }
    for (why, n) in view.not_judged() {
        let _ = write!(
            h,
            "<div class=\"notes\"><p><strong>⚠ Not judged: {}</strong> ({n} check{}). {}.</p></div>",
            why.words(),
            if n == 1 { "" } else { "s" },
            esc(&super::markdown::capitalised(why.remedy()))
        );
    }
    notes(&mut h, view);
    if view.outcome != Outcome::NoVerdict {
        checks(&mut h, view);
    }
    changes(&mut h, view);
    if let Some(p) = &view.paired {
        paired(&mut h, p);
    }
    charts_section(&mut h, view);
    endpoints(&mut h, view);
    protocols(&mut h, view);
    failures(&mut h, view);
    run_meta(&mut h, view);
    let _ = writeln!(
        h,
        "<footer>Generated by {} {}.</footer></main></body></html>",
        esc(&view.tool.name),
        esc(&view.tool.version)
    );
    h
}

/// The header's class and the page's title. Plain symbols, not emoji: they render in every
/// font, offline and in print.
fn title(outcome: &Outcome) -> (&'static str, String) {
    match outcome {
        Outcome::Passed { .. } => ("pass", format!("✓ {}", outcome.title())),
        Outcome::Failed { .. } => ("fail", format!("✗ {}", outcome.title())),
        Outcome::NotJudged { .. } => ("warn", format!("? {}", outcome.title())),
        Outcome::NoVerdict => ("none", outcome.title()),
    }
}

fn head(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>{} – loadforge-gate</title><style>{STYLE}</style></head><body><main>",
        esc(title)
    );
}

fn header(h: &mut String, view: &View<'_>, class: &str, title: &str) {
    let run = &view.run;
    let _ = write!(
        h,
        "<header class=\"verdict {class}\"><h1>{}</h1><p>{} engine ({} model) · {} users · {:.0} s{} · {} · {} · {:.2}% errors · p95 {} ms</p></header>",
        esc(title),
        esc(run.engine),
        run.model,
        run.users,
        run.duration_s,
        run.interrupted_text(),
        esc(run.target),
        run.counts_text(),
        run.error_rate,
        ms(run.p95)
    );
}

/// The protocol per endpoint, every name, when the endpoints or the baseline differ.
fn protocols(h: &mut String, view: &View<'_>) {
    let Some(p) = &view.protocols else {
        return;
    };
    let _ = write!(h, "<h2>Protocols</h2><p>{}</p><ul>", esc(p.why));
    for g in &p.groups {
        let names = super::protocols::listed(&g.endpoints, usize::MAX, esc);
        let _ = write!(h, "<li>{}: {names}</li>", esc(&g.label()));
    }
    h.push_str("</ul>");
}

/// Whether the baseline ran this run's load, and each difference when it did not.
fn comparability(h: &mut String, view: &View<'_>) {
    let Some(text) = view.baseline.as_ref().and_then(BaselineInfo::load_text) else {
        return;
    };
    let _ = write!(
        h,
        "<div class=\"notes\"><p><strong>{}</strong></p>",
        esc(text.title)
    );
    if !text.differences.is_empty() {
        h.push_str("<ul>");
        for d in text.differences {
            let _ = write!(h, "<li>{}</li>", esc(d));
        }
        h.push_str("</ul>");
    }
    let _ = write!(h, "<p>{}</p></div>", esc(text.consequence));
}

fn notes(h: &mut String, view: &View<'_>) {
    if view.notes.is_empty() {
        return;
    }
    h.push_str("<div class=\"notes\">");
    for n in view.notes {
        let _ = write!(h, "<p>{}</p>", esc(n));
    }
    h.push_str("</div>");
}

/// What a k6 script's own threshold or check is on, in the endpoint column.
const K6_SCRIPT: &str = "(the k6 script)";

fn checks(h: &mut String, view: &View<'_>) {
    h.push_str("<h2>Checks</h2><div class=\"scroll\"><table><thead><tr><th></th><th>Check</th><th>Endpoint</th><th class=\"num\">Value</th><th class=\"num\">Limit</th><th class=\"num\">Baseline</th><th>Detail</th></tr></thead><tbody>");
    for c in view.checks_failed_first() {
        let (row, pill) = match c.state {
            CheckState::Passed => ("", "ok"),
            CheckState::Failed => ("failed", "bad"),
            CheckState::NotJudged(_) => ("notjudged", "warn"),
        };
        let word = c.state.words();
        let _ = write!(
            h,
            "<tr class=\"{row}\"><td><span class=\"pill {pill}\">{word}</span></td><td class=\"name\">{}{}</td><td class=\"name\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"name\">{}</td></tr>",
            esc(c.expression),
            match (c.kind, &c.judgement) {
                (CheckKind::Threshold, _) => String::new(),
                (CheckKind::K6Threshold, _) => " <em>(k6 threshold)</em>".into(),
                (CheckKind::K6Check, _) => " <em>(k6 check)</em>".into(),
                (CheckKind::Regression, None) => " <em>(regression)</em>".into(),
                (CheckKind::Regression, Some(words)) => format!(" <em>({})</em>", esc(words)),
            },
            esc(c.endpoint.unwrap_or(if c.kind.is_k6() {
                K6_SCRIPT
            } else {
                ALL_REQUESTS
            })),
            c.value,
            esc(&c.limit_text()),
            c.baseline,
            esc(c.detail)
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Where each change began, every line (the summary shows the first ones).
fn changes(h: &mut String, view: &View<'_>) {
    let c = &view.changes;
    if c.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>Where it began</h2><p>{}.</p><ul>",
        esc(super::changes::METHOD)
    );
    for line in c
        .found
        .iter()
        .map(super::changes::sentence)
        .chain(c.base.iter().cloned())
    {
        let _ = write!(h, "<li>{}</li>", esc(&line));
    }
    h.push_str("</ul>");
}

/// A paired run: the base and the change side by side per endpoint, the paired change each
/// rule found (the check's words), and both sides' slices over time.
fn paired(h: &mut String, p: &PairedView<'_>) {
    let _ = write!(
        h,
        "<h2>Base and change, side by side</h2><p>Measured in the same job, in {}: the base <code>{}</code> and the change ({} slice pairs{}). The paired change is the change against the base within the same slices, with its interval, where a regression rule judged it.</p>",
        esc(&p.slicing()),
        esc(p.base_target),
        p.pairs,
        esc(&starved_text(p))
    );
    h.push_str(
        "<div class=\"scroll\"><table class=\"paired\"><thead><tr><th rowspan=\"2\">Endpoint</th>",
    );
    for f in &FIGURES {
        let _ = write!(h, "<th colspan=\"2\" class=\"num\">{}</th>", f.label);
    }
    h.push_str("<th rowspan=\"2\">paired change</th></tr><tr>");
    h.push_str(&"<th class=\"num\">base</th><th class=\"num\">change</th>".repeat(FIGURES.len()));
    h.push_str("</tr></thead><tbody>");
    for row in &p.rows {
        let name = if row.aggregate {
            format!("<strong>{}</strong>", row.label())
        } else {
            esc(row.name)
        };
        let _ = write!(h, "<tr><td class=\"name\">{name}</td>");
        for f in &FIGURES {
            for side in [row.base, row.change] {
                let cell = side.and_then(f.value).map_or("–".into(), f.show);
                let _ = write!(h, "<td class=\"num\">{cell}</td>");
            }
        }
        let judged: Vec<String> = (row.judged.iter())
            .map(|j| {
                let class = if j.state == CheckState::Failed {
                    "worse"
                } else {
                    ""
                };
                format!("<span class=\"{class}\">{}</span>", esc(&j.text()))
            })
            .collect();
        let cell = if judged.is_empty() {
            "–".into()
        } else {
            judged.join("<br>")
        };
        // Wrapped like a name (`td.name`): the words are long.
        let _ = write!(h, "<td class=\"name\">{cell}</td></tr>");
    }
    h.push_str("</tbody></table></div><div class=\"charts\">");
    match charts::paired_slices(p.slices, p.slice_s) {
        Some(svg) => {
            let _ = write!(h, "<figure class=\"wide\">{svg}</figure>");
        }
        None => h.push_str(
            "<figure class=\"wide\"><figcaption>No slice with a p95 to draw.</figcaption></figure>",
        ),
    }
    h.push_str("</div>");
}

fn charts_section(h: &mut String, view: &View<'_>) {
    h.push_str("<h2>Charts</h2><div class=\"charts\">");
    let data = &view.charts;
    let l = &view.aggregate.latency_ms;
    let known: Vec<(f64, f64)> = [(50.0, l.p50), (90.0, l.p90), (95.0, l.p95), (99.0, l.p99)]
        .into_iter()
        .filter_map(|(q, v)| v.map(|v| (q, v)))
        .collect();
    let bars: Vec<charts::Bar> = view
        .measured()
        .map(|(row, e)| charts::Bar {
            label: row.label().to_string(),
            value: e.latency_ms.p95,
            baseline: row.baseline(P95),
            limit: view.p95_limit(row),
        })
        .collect();
    let trend = &view.trend;
    let trends = [
        charts::trend("p95 per run", "ms", &trend.series(None, P95)),
        charts::trend(
            "Error rate per run",
            "%",
            &trend.series(None, crate::gate::Metric::ErrorRate),
        ),
    ];
    // Drawn only with a history; the other charts always (saying when there is no data).
    for svg in trends.into_iter().flatten() {
        let _ = write!(h, "<figure>{svg}</figure>");
    }
    for svg in [
        charts::throughput(data.series, data.baseline_series),
        charts::latency_over_time(data.series, data.baseline_series),
        charts::distribution(data.histogram, &known, data.baseline_histogram),
        charts::p95_bars(&bars),
    ] {
        match svg {
            Some(s) => {
                let _ = write!(h, "<figure>{s}</figure>");
            }
            None => h.push_str("<figure><figcaption>No data for this chart (the engine did not report it).</figcaption></figure>"),
        }
    }
    h.push_str("</div>");
}

/// `+12.3%` against the baseline's p95, coloured when the change is more than noise.
fn p95_change(current: Option<f64>, base: Option<f64>) -> String {
    match (current, base) {
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
    }
}

fn endpoints(h: &mut String, view: &View<'_>) {
    h.push_str("<h2>Endpoints</h2><div class=\"scroll\"><table><thead><tr><th>Endpoint</th><th class=\"num\">Requests</th><th class=\"num\">Failures</th><th class=\"num\">req/s</th><th class=\"num\">avg</th><th class=\"num\">p50</th><th class=\"num\">p95</th><th class=\"num\">p99</th><th class=\"num\">max</th><th class=\"num\">baseline p95</th><th class=\"num\">Δ p95</th></tr></thead><tbody>");
    for row in &view.endpoints {
        let name = if row.aggregate {
            format!("<strong>{}</strong>", row.label())
        } else {
            esc(row.name)
        };
        let base = row.baseline(P95);
        let Some(e) = row.stats else {
            // Only the baseline has it.
            let _ = write!(
                h,
                "<tr><td class=\"name\">{name}</td>{}<td class=\"num\">{}</td><td class=\"num\">gone</td></tr>",
                "<td class=\"num\">–</td>".repeat(8),
                ms(base)
            );
            continue;
        };
        let l = &e.latency_ms;
        let [n, f, r] = count_cells(e);
        let change = match row.presence {
            Presence::New => "new".into(),
            _ => p95_change(l.p95, base),
        };
        let _ = write!(
            h,
            "<tr><td class=\"name\">{name}</td><td class=\"num\">{n}</td><td class=\"num\">{f}</td><td class=\"num\">{r}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{change}</td></tr>",
            ms(l.avg), ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max), ms(base)
        );
    }
    h.push_str("</tbody></table></div><p><small>Latencies in milliseconds.</small></p>");
}

fn failures(h: &mut String, view: &View<'_>) {
    h.push_str("<h2>Failures by reason</h2>");
    if view.failures.is_empty() {
        h.push_str("<p>No failed requests.</p>");
        return;
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>Endpoint</th><th>Reason</th><th class=\"num\">Count</th></tr></thead><tbody>");
    for f in &view.failures {
        let _ = write!(
            h,
            "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"num\">{}</td></tr>",
            esc(f.endpoint),
            esc(f.reason),
            f.count
        );
    }
    h.push_str("</tbody></table></div>");
}

fn run_meta(h: &mut String, view: &View<'_>) {
    h.push_str("<h2>Run</h2><dl>");
    for row in &view.meta {
        let value = match &row.value {
            MetaValue::Text(t) => esc(t),
            MetaValue::Link { url, text } => link(url, text),
        };
        let _ = write!(h, "<dt>{}</dt><dd>{value}</dd>", row.key);
    }
    h.push_str("</dl>");
}
