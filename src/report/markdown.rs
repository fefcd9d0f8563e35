//! `summary.md`: what a reviewer reads in the merge request. Verdict first, then the checks,
//! then the endpoints (with the baseline beside them when there is one). All user and server
//! text is escaped so an endpoint name cannot break the table or inject markup.

use std::fmt::Write;

use super::{
    paired::{starved_text, PairedView, FIGURES},
    protocols::{listed, MAX_NAMES},
    trend::sparkline,
    view::{count_cells, ms, BaselineInfo, CheckRow, EndpointRow, Outcome, View, P95},
};
use crate::{
    baseline::MetricDelta,
    gate::{CheckKind, CheckState, Metric, Unit},
    stats::EndpointStats,
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
            '\n' | '\r' | '\t' => out.push(' '),
            // A zero-width space after `@` keeps `@user` from notifying anybody.
            '@' => out.push_str("@\u{200B}"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            // Control characters, and those that hide or reorder text, as `\u{..}`.
            c if crate::quote::must_escape(c) => crate::quote::push_escaped(&mut out, c),
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
    comparability(&mut out, view);
    notes(&mut out, view);
    if view.outcome != Outcome::NoVerdict {
        checks(&mut out, view);
    }
    changes(&mut out, view);
    if let Some(p) = &view.paired {
        paired(&mut out, p);
    }
    out.push_str("\n#### Endpoints\n\n");
    match &view.baseline {
        None => endpoints(&mut out, view),
        Some(b) => compared_endpoints(&mut out, view, b),
    }
    protocols(&mut out, view);
    failures(&mut out, view);
    links(&mut out, view);
    out
}

fn headline(out: &mut String, view: &View<'_>) {
    let mark = match view.outcome {
        Outcome::Passed { .. } => "✅",
        Outcome::Failed { .. } => "❌",
        Outcome::NotJudged { .. } => "⚠️",
        Outcome::NoVerdict => "➖",
    };
    let run = &view.run;
    let _ = writeln!(out, "### {mark} {}\n", view.outcome.title());
    let _ = writeln!(
        out,
        "**{}** engine ({} model) · {} users · {:.0}s{} · `{}`{} · {} · {:.2}% errors",
        escape_markdown(run.engine),
        run.model,
        run.users,
        run.duration_s,
        run.interrupted_text(),
        run.target.replace(['`', '\n', '\r'], ""),
        run.protocol_text(),
        run.counts_text(),
        run.error_rate
    );
    if let Some(host) = &run.host {
        let _ = writeln!(out, "\nHost: {}", escape_markdown(host));
    }
    if let Some(g) = &run.generator {
        let _ = match g.starved {
            true => writeln!(
                out,
                "\n> ⚠️ **Load generator {}**",
                escape_markdown(&g.text)
            ),
            false => writeln!(out, "\nLoad generator: {}", escape_markdown(&g.text)),
        };
    }
    if let Some(url) = view.links.cloud.and_then(markdown_url) {
        let _ = writeln!(out, "\n[Cloud run]({url})");
    }
    for (why, n) in view.not_judged() {
        let _ = writeln!(
            out,
            "\n> ⚠️ **Not judged: {}** ({n} check{}). {}.",
            why.words(),
            if n == 1 { "" } else { "s" },
            capitalised(why.remedy())
        );
    }
}

/// `text` with its first letter in capitals.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// Whether the baseline ran this run's load: each difference on its own line, then what it
/// means for the verdict. Said before the notes: it decides how to read every check.
fn comparability(out: &mut String, view: &View<'_>) {
    let Some(text) = view.baseline.as_ref().and_then(|b| b.load_text()) else {
        return;
    };
    let mark = if view.baseline.as_ref().is_some_and(|b| b.not_comparable()) {
        "⚠️ "
    } else {
        ""
    };
    let _ = writeln!(out, "\n> {mark}**{}.**", text.title);
    for d in text.differences {
        let _ = writeln!(out, "> - {}", escape_markdown(d));
    }
    let _ = writeln!(out, ">\n> {}", text.consequence);
}

fn notes(out: &mut String, view: &View<'_>) {
    for note in view.notes {
        let _ = writeln!(out, "\n> {}", escape_markdown(note));
    }
}

/// Tables longer than this fold what needs no attention into `<details>`.
const FOLD_AFTER: usize = 10;
/// The most rows one table shows; report.html has them all.
const MAX_ROWS: usize = 250;

/// Failed and not judged checks in the open (either keeps the gate from green); the passing
/// ones folded once there are many.
fn checks(out: &mut String, view: &View<'_>) {
    let rows = view.checks_failed_first();
    if rows.len() <= FOLD_AFTER {
        check_table(out, &rows);
        return;
    }
    let (passed, open): (Vec<&CheckRow<'_>>, Vec<_>) =
        rows.iter().partition(|c| c.state == CheckState::Passed);
    if !open.is_empty() {
        check_table(out, &open);
    }
    if !passed.is_empty() {
        let mut table = String::new();
        check_table(&mut table, &passed);
        details(out, &format!("{} passing checks", passed.len()), &table);
    }
}

/// Change points shown in the summary and the comment; report.html has them all.
const MAX_CHANGE_LINES: usize = 20;

/// Where each change began: one line per endpoint and metric, then the base's sentences.
fn changes(out: &mut String, view: &View<'_>) {
    let c = &view.changes;
    if c.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n#### Where it began\n\n_{}._\n",
        super::changes::METHOD
    );
    for f in c.found.iter().take(MAX_CHANGE_LINES) {
        let _ = writeln!(out, "- {}", escape_markdown(&super::changes::sentence(f)));
    }
    if c.found.len() > MAX_CHANGE_LINES {
        let _ = writeln!(
            out,
            "- … and {} more in report.html",
            c.found.len() - MAX_CHANGE_LINES
        );
    }
    for b in c.base.iter().take(MAX_CHANGE_LINES) {
        let _ = writeln!(out, "- {}", escape_markdown(b));
    }
}

fn check_table(out: &mut String, rows: &[&CheckRow<'_>]) {
    out.push_str("\n| | Check | Value | Limit | Baseline |\n|---|---|---|---|---|\n");
    for c in rows.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} | {} |",
            match c.state {
                CheckState::Passed => "✅",
                CheckState::Failed => "❌",
                CheckState::NotJudged(_) => "⚠️",
            },
            check_name(c),
            match (c.kind, c.state, c.judgement.as_deref()) {
                (_, CheckState::NotJudged(why), _) =>
                    format!(" _(**not judged**: {})_", why.words()),
                (CheckKind::Threshold, _, _) => String::new(),
                (CheckKind::K6Threshold, _, _) => " _(k6 threshold)_".into(),
                (CheckKind::K6Check, _, _) => " _(k6 check)_".into(),
                (CheckKind::Regression, _, None) => " _(regression)_".into(),
                (CheckKind::Regression, _, Some(words)) =>
                    format!(" _({})_", escape_markdown(words)),
            },
            c.value,
            c.limit_text().replace('<', "&lt;").replace('>', "&gt;"),
            c.baseline
        );
    }
    more(out, rows.len());
}

/// Says how many rows a capped table left out.
fn more(out: &mut String, rows: usize) {
    if rows > MAX_ROWS {
        let _ = writeln!(out, "\n_…and {} more in report.html_", rows - MAX_ROWS);
    }
}

/// `body` folded under `summary`.
fn details(out: &mut String, summary: &str, body: &str) {
    let _ = writeln!(
        out,
        "\n<details><summary>{summary}</summary>\n{body}\n</details>"
    );
}

/// The rule, with the endpoint a glob expanded to; bold when it failed.
fn check_name(c: &CheckRow<'_>) -> String {
    let name = match c.expanded_endpoint() {
        Some(e) => format!("{} ({})", escape_markdown(c.expression), escape_markdown(e)),
        None => escape_markdown(c.expression),
    };
    if c.state == CheckState::Failed {
        format!("**{name}**")
    } else {
        name
    }
}

fn endpoint_name(row: &EndpointRow<'_>) -> String {
    if row.aggregate {
        return format!("**{}**", row.label());
    }
    match row.presence.word() {
        Some(word) => format!("{} _({word})_", escape_markdown(row.name)),
        None => escape_markdown(row.name),
    }
}

/// Without a baseline: this run's counts and latencies; past [`FOLD_AFTER`] endpoints the
/// busiest stay in the open and the rest are folded.
fn endpoints(out: &mut String, view: &View<'_>) {
    let mut rows: Vec<_> = view.measured().collect();
    rows[1..].sort_by_key(|r| std::cmp::Reverse(r.1.requests));
    let shown = rows.len().min(FOLD_AFTER + 1);
    plain_table(out, &rows[..shown]);
    if rows.len() > shown {
        let mut table = String::new();
        plain_table(&mut table, &rows[shown..]);
        details(
            out,
            &format!("{} more endpoints", rows.len() - shown),
            &table,
        );
    }
}

fn plain_table(out: &mut String, rows: &[(&EndpointRow<'_>, &EndpointStats)]) {
    out.push_str("| Endpoint | Requests | Failures | req/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (row, e) in rows.iter().take(MAX_ROWS) {
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
    more(out, rows.len());
}

/// With a baseline: the key figures of both runs and how they changed, for every endpoint of
/// either run, the most changed first; past [`FOLD_AFTER`] endpoints the unchanged ones are
/// folded. With a history of three runs or more, a sparkline of p95 over it.
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
    let mut rows: Vec<&EndpointRow<'_>> = view.endpoints.iter().collect();
    rows[1..].sort_by(|a, b| change(b).total_cmp(&change(a)));
    if rows.len() <= FOLD_AFTER + 1 {
        compared_table(out, view, &rows);
        return;
    }
    let (open, folded): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.aggregate || changed(r));
    compared_table(out, view, &open);
    if !folded.is_empty() {
        let mut table = String::new();
        compared_table(&mut table, view, &folded);
        details(
            out,
            &format!("{} unchanged endpoints", folded.len()),
            &table,
        );
    }
}

fn compared_table(out: &mut String, view: &View<'_>, rows: &[&EndpointRow<'_>]) {
    let spark = view.trend.len() >= 3;
    out.push_str(
        "| Endpoint | p95 ms | Δ p95 | p99 ms | Δ p99 | error rate | Δ errors | req/s | Δ req/s |",
    );
    out.push_str(if spark { " p95 trend |\n" } else { "\n" });
    out.push_str("|---|---:|---|---:|---|---:|---|---:|---|");
    out.push_str(if spark { "---|\n" } else { "\n" });
    for row in rows.iter().take(MAX_ROWS) {
        let cells: Vec<String> = COMPARED_COLUMNS
            .into_iter()
            .map(|m| delta_cells(row.delta(m)))
            .collect();
        let _ = write!(out, "| {} | {} |", endpoint_name(row), cells.join(" | "));
        if spark {
            let endpoint = (!row.aggregate).then_some(row.name);
            let line = sparkline(&view.trend.series(endpoint, P95));
            let _ = write!(out, " `{}` {} |", line.bars, line.scale());
        }
        out.push('\n');
    }
    more(out, rows.len());
}

/// A paired run: the base and the change side by side per endpoint (`base → change`), with the
/// paired change each rule found on the slices, in the check's words.
fn paired(out: &mut String, p: &PairedView<'_>) {
    let _ = writeln!(
        out,
        "\n#### Base and change, side by side\n\nMeasured in the same job, in {}: the base {} and the change ({} slice pairs{}). Each cell reads base → change; the paired change is the change against the base within the same slices, with its interval, where a regression rule judged it.\n",
        p.slicing(),
        escape_markdown(p.base_target),
        p.pairs,
        starved_text(p)
    );
    out.push_str("| Endpoint |");
    for f in &FIGURES {
        let _ = write!(out, " {} |", f.label);
    }
    out.push_str(" paired change |\n|---|---:|---:|---:|---:|---:|---|\n");
    for row in p.rows.iter().take(MAX_ROWS) {
        let name = if row.aggregate {
            format!("**{}**", row.label())
        } else {
            escape_markdown(row.name)
        };
        let _ = write!(out, "| {name} |");
        for f in &FIGURES {
            let side = |e: Option<&EndpointStats>| e.and_then(f.value).map_or("–".into(), f.show);
            let _ = write!(out, " {} → {} |", side(row.base), side(row.change));
        }
        let judged: Vec<String> = row
            .judged
            .iter()
            .map(|j| escape_markdown(&j.text()))
            .collect();
        let cell = if judged.is_empty() {
            "–".into()
        } else {
            judged.join("<br>")
        };
        let _ = writeln!(out, " {cell} |");
    }
    more(out, p.rows.len());
}

/// How much an endpoint changed, for ordering: p95's relative change, or 100 % for an
/// endpoint only one run has.
fn change(row: &EndpointRow<'_>) -> f64 {
    match row.delta(P95).and_then(MetricDelta::change_pct) {
        Some(p) => p.abs(),
        None => 100.0,
    }
}

/// Worth a reader's eye: a noticeable p95 change, any error-rate change, or an endpoint only
/// one of the runs has.
fn changed(row: &EndpointRow<'_>) -> bool {
    let errors = row
        .delta(Metric::ErrorRate)
        .and_then(|d| Some((d.current? - d.baseline?).abs()))
        .unwrap_or(0.0);
    change(row) >= NOTICEABLE_PCT || errors >= 0.005 || row.stats.is_none()
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

/// The protocol per endpoint, when the endpoints or the baseline differ (`protocols.rs`).
fn protocols(out: &mut String, view: &View<'_>) {
    let Some(p) = &view.protocols else {
        return;
    };
    let _ = writeln!(out, "\n#### Protocols\n\n{}\n", p.why);
    for g in &p.groups {
        let names = listed(&g.endpoints, MAX_NAMES, escape_markdown);
        let _ = writeln!(out, "- {}: {names}", g.label());
    }
}

fn failures(out: &mut String, view: &View<'_>) {
    if view.failures.is_empty() {
        return;
    }
    out.push_str("\n#### Failures by reason\n\n| Endpoint | Reason | Count |\n|---|---|---:|\n");
    for f in view.failures.iter().take(MAX_ROWS) {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            escape_markdown(f.endpoint),
            escape_markdown(f.reason),
            f.count
        );
    }
    more(out, view.failures.len());
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

    /// Control characters and those that reorder text (a right-to-left override that makes a
    /// name read backwards) are shown escaped, never passed on.
    #[test]
    fn control_and_reordering_characters_are_escaped() {
        let s = escape_markdown("GET /a\u{1b}[31m\u{202E}b\tc");
        assert_eq!(s, "GET /a\\u{1b}\\[31m\\u{202e}b c");
        assert_eq!(
            super::super::html::esc("a\u{0}\u{2066}b"),
            "a\\u{0}\\u{2066}b"
        );
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
        r.run.load = Some(crate::stats::load_fixture());
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
            &gate::Reference::Baseline(Baseline {
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
