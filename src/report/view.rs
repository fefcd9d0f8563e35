//! One view of a finished result, computed once from a [`Document`] and rendered by every
//! writer: the headline, the check rows, the endpoint rows with their baseline figures, the
//! failures, the run's metadata and its links. Deciding *what* a report says happens here;
//! the writers only decide how it looks (Markdown, HTML, JUnit, ...), so two reports cannot
//! disagree about a number or an order.
//!
//! Values are formatted here only where every writer formats them alike (a check's value in its
//! unit); figures whose look differs by writer stay numbers.

use super::Document;
use crate::{
    baseline::{Comparison, ComparisonRow, MetricDelta, Presence},
    gate::{Check, CheckKind, CheckState, Metric, NotJudged, Verdict},
    stats::{
        CiInfo, EndpointStats, Engine, HostInfo, LatencyHistogram, LoadMatch, LoadModel, Protocol,
        SecondPoint, ToolInfo,
    },
};

pub(crate) use crate::stats::ALL_REQUESTS;

/// Where the gate stands: the first thing every report says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every check was judged and passed.
    Passed {
        checks: usize,
        /// The default branch's first run: the regression rules start the history.
        history_starts: bool,
    },
    Failed {
        failed: usize,
        checks: usize,
        not_judged: usize,
    },
    /// No check failed, but some could not be judged: never a pass.
    NotJudged {
        not_judged: usize,
        checks: usize,
        /// Each reason once, in the order of [`NotJudged`].
        reasons: Vec<NotJudged>,
    },
    /// No verdict: the rules could not be applied (a configuration error said why).
    NoVerdict,
}

impl Outcome {
    fn of(verdict: Option<&Verdict>) -> Self {
        let Some(v) = verdict else {
            return Outcome::NoVerdict;
        };
        let checks = v.checks.len();
        let failed = v.failed_checks().count();
        let mut reasons: Vec<NotJudged> = (v.not_judged_checks())
            .filter_map(|c| c.state().not_judged())
            .collect();
        let not_judged = reasons.len();
        reasons.sort_unstable();
        reasons.dedup();
        match (failed, not_judged) {
            (0, 0) => Outcome::Passed {
                checks,
                history_starts: v.history_starts,
            },
            (0, _) => Outcome::NotJudged {
                not_judged,
                checks,
                reasons,
            },
            _ => Outcome::Failed {
                failed,
                checks,
                not_judged,
            },
        }
    }

    /// The title the reports share, without their own mark (emoji, symbol).
    pub(crate) fn title(&self) -> String {
        match self {
            Outcome::Passed {
                checks,
                history_starts: false,
            } => format!("Performance gate passed ({checks} checks)"),
            Outcome::Passed {
                checks,
                history_starts: true,
            } => format!(
                "Performance gate passed ({checks} checks; first run: the history starts here)"
            ),
            Outcome::Failed {
                failed,
                checks,
                not_judged: 0,
            } => format!("Performance gate failed: {failed} of {checks} checks failed"),
            Outcome::Failed {
                failed,
                checks,
                not_judged,
            } => format!(
                "Performance gate failed: {failed} of {checks} checks failed, {not_judged} not judged"
            ),
            Outcome::NotJudged {
                not_judged,
                checks,
                reasons,
            } => format!(
                "Performance gate NOT JUDGED: {not_judged} of {checks} checks could not be judged ({})",
                reason_words(reasons)
            ),
            Outcome::NoVerdict => "Performance gate: no verdict".into(),
        }
    }
}

/// `not comparable, generator starved`: each reason's words.
pub(crate) fn reason_words(reasons: &[NotJudged]) -> String {
    let words: Vec<&str> = reasons.iter().map(|r| r.words()).collect();
    words.join(", ")
}

/// Request counts, when the engine reported them.
#[derive(Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) rps: f64,
}

impl Counts {
    fn of(stats: &EndpointStats) -> Option<Self> {
        stats
            .counts()
            .map(|(requests, _, rps)| Counts { requests, rps })
    }
}

/// A latency in a table cell: milliseconds with one decimal, `–` when not measured.
pub(crate) fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

/// Requests, failures and req/s in table cells; `–` each when the engine gave no counts.
pub(crate) fn count_cells(stats: &EndpointStats) -> [String; 3] {
    match stats.counts() {
        Some((n, f, r)) => [n.to_string(), f.to_string(), format!("{r:.1}")],
        None => ["–".into(), "–".into(), "–".into()],
    }
}

/// The one line under the title: how the load was applied and what came of it.
pub(crate) struct RunLine<'a> {
    pub(crate) engine: &'a str,
    /// `closed` or `open`.
    pub(crate) model: &'static str,
    pub(crate) users: u32,
    pub(crate) duration_s: f64,
    pub(crate) interrupted: bool,
    /// `--insecure`: the target's certificate was not verified.
    pub(crate) insecure: bool,
    pub(crate) target: &'a str,
    /// The HTTP version the target was spoken to in, when the engine says.
    pub(crate) protocol: Option<Protocol>,
    /// How quiet the load generator's host was, when the executor measured it.
    pub(crate) host: Option<String>,
    /// How the load generator fared (`run.generator`), or why it was not measured.
    pub(crate) generator: Option<GeneratorLine>,
    pub(crate) counts: Option<Counts>,
    pub(crate) error_rate: f64,
    pub(crate) p95: Option<f64>,
    pub(crate) avg: Option<f64>,
}

impl RunLine<'_> {
    /// `1200 requests · 20.0 req/s`, or why there is no such figure.
    pub(crate) fn counts_text(&self) -> String {
        match self.counts {
            Some(c) => format!("{} requests · {:.1} req/s", c.requests, c.rps),
            None => "request counts not reported".into(),
        }
    }

    /// ` over HTTP/2` after the target when it was not HTTP/1.1 (the default, left unsaid in
    /// the headline; the run metadata names it either way).
    pub(crate) fn protocol_text(&self) -> String {
        match self.protocol {
            Some(p) if p != Protocol::Http1 => format!(" over {}", p.label()),
            _ => String::new(),
        }
    }

    /// ` (interrupted)` after the duration, or nothing.
    pub(crate) fn interrupted_text(&self) -> &'static str {
        if self.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    }
}

/// The load generator's health in one line: healthy, or starved with why.
pub(crate) struct GeneratorLine {
    /// `healthy (figures)`, `STARVED: why; stall; figures` (or `under pressure: ...` when only
    /// its surroundings were busy), or why nothing was measured.
    pub(crate) text: String,
    /// Starved or crowded: its latencies may be partly its own, and every writer says so as a
    /// warning.
    pub(crate) starved: bool,
}

impl GeneratorLine {
    fn of(meta: &crate::stats::RunMeta, p99: Option<f64>) -> Option<GeneratorLine> {
        let Some(g) = &meta.generator else {
            return (meta.engine == Engine::LoadForge).then(|| GeneratorLine {
                text: "not applicable (LoadForge's cloud generators are not measured by the gate)"
                    .into(),
                starved: false,
            });
        };
        Some(match g.warning(p99) {
            None => GeneratorLine {
                text: format!("healthy ({})", g.summary()),
                starved: false,
            },
            Some(warning) => GeneratorLine {
                text: format!("{warning}; {}", g.summary()),
                starved: true,
            },
        })
    }
}

/// One check, its figures already in its unit.
pub(crate) struct CheckRow<'a> {
    /// Unique within the verdict.
    pub(crate) name: &'a str,
    pub(crate) kind: CheckKind,
    pub(crate) state: CheckState,
    pub(crate) expression: &'a str,
    /// `None` for the aggregate of all requests.
    pub(crate) endpoint: Option<&'a str>,
    pub(crate) metric: Metric,
    pub(crate) op: &'a str,
    /// `not measured` when there was no value.
    pub(crate) value: String,
    pub(crate) limit: String,
    pub(crate) limit_value: f64,
    /// Empty when the check has no baseline (every threshold).
    pub(crate) baseline: String,
    pub(crate) detail: &'a str,
    /// A history judgement's words with their numbers (`within noise: +0.3%, inside ±2.1%`).
    pub(crate) judgement: Option<String>,
    /// Which of the judgement's words holds, for a check judged against a history.
    pub(crate) outcome: Option<crate::gate::Outcome>,
}

impl<'a> CheckRow<'a> {
    fn of(c: &'a Check) -> Self {
        let compared_nothing = c.state().not_judged().is_some_and(|w| !w.has_limit());
        let row = CheckRow {
            name: &c.name,
            kind: c.kind,
            state: c.state(),
            expression: &c.expression,
            endpoint: c.endpoint.as_deref(),
            metric: c.metric,
            op: &c.op,
            value: c
                .value
                .map(|v| c.unit.format(v))
                .unwrap_or_else(|| "not measured".into()),
            // A check that compared nothing has no limit to show, only its two values.
            limit: if compared_nothing {
                "–".into()
            } else {
                c.unit.format(c.limit)
            },
            limit_value: c.limit,
            baseline: c.baseline.map(|b| c.unit.format(b)).unwrap_or_default(),
            detail: &c.detail,
            judgement: c.words(),
            outcome: c.finding.map(|f| f.outcome),
        };
        row.in_k6_words(c)
    }

    /// A k6 script's threshold or check in words rather than its count against `<= 0`: a
    /// threshold `crossed` or `held`, a check's failed evaluations.
    fn in_k6_words(mut self, c: &Check) -> Self {
        let words = match (c.kind, c.value) {
            (CheckKind::K6Threshold, Some(v)) => (if v > 0.0 { "crossed" } else { "held" }).into(),
            (CheckKind::K6Check, Some(v)) => format!("{v:.0} failed"),
            (CheckKind::K6Threshold | CheckKind::K6Check, None) => "not measured".into(),
            (CheckKind::Threshold | CheckKind::Regression, _) => return self,
        };
        self.value = words;
        self.op = "";
        self.limit = match c.kind {
            CheckKind::K6Check => "none failed",
            _ => "not crossed",
        }
        .into();
        self
    }

    /// The limit with its operator (`<= 56.40 ms`); `–` for a check that compared nothing.
    pub(crate) fn limit_text(&self) -> String {
        match self.state.not_judged() {
            Some(why) if !why.has_limit() => self.limit.clone(),
            _ if self.op.is_empty() => self.limit.clone(),
            _ => format!("{} {}", self.op, self.limit),
        }
    }

    /// Passed: only a check that was judged and held.
    pub(crate) fn passed(&self) -> bool {
        self.state == CheckState::Passed
    }

    /// The endpoint a glob rule was expanded to, which the expression alone does not name.
    pub(crate) fn expanded_endpoint(&self) -> Option<&'a str> {
        self.endpoint.filter(|e| !self.expression.contains(e))
    }
}

/// One endpoint (or the aggregate), with its baseline figures when there is a baseline.
pub(crate) struct EndpointRow<'a> {
    pub(crate) name: &'a str,
    pub(crate) aggregate: bool,
    /// `None` for an endpoint only the baseline has.
    pub(crate) stats: Option<&'a EndpointStats>,
    deltas: &'a [MetricDelta],
    /// Against a baseline: in both runs, `new` or `gone`.
    pub(crate) presence: Presence,
    /// The protocol the baseline's requests to it spoke, when its file says.
    pub(crate) baseline_protocol: Option<Protocol>,
}

impl<'a> EndpointRow<'a> {
    /// This run against the baseline for one metric; `None` without a baseline.
    pub(crate) fn delta(&self, metric: Metric) -> Option<&'a MetricDelta> {
        self.deltas.iter().find(|d| d.metric == metric)
    }

    /// The baseline's value of one metric.
    pub(crate) fn baseline(&self, metric: Metric) -> Option<f64> {
        self.delta(metric)?.baseline
    }

    /// The name as reports show it (`all requests` for the aggregate).
    pub(crate) fn label(&self) -> &'a str {
        if self.aggregate {
            ALL_REQUESTS
        } else {
            self.name
        }
    }
}

/// Where the baseline came from.
pub(crate) struct BaselineInfo<'a> {
    pub(crate) source: &'a str,
    pub(crate) started_at: &'a str,
    /// The first eight characters of the baseline's commit.
    pub(crate) short_commit: Option<&'a str>,
    /// Whether the baseline ran this run's load.
    pub(crate) load: LoadMatch,
    /// Each difference of load or scenario, baseline first (`users 50 → 5`).
    pub(crate) differences: &'a [String],
}

/// What every report says of the baseline's load, when there is something to say.
pub(crate) struct LoadText<'a> {
    /// One line: how the loads relate.
    pub(crate) title: &'static str,
    /// Each difference, baseline first (`users 50 → 5`).
    pub(crate) differences: &'a [String],
    /// What that means for the verdict.
    pub(crate) consequence: &'static str,
}

impl<'a> BaselineInfo<'a> {
    /// The baseline ran another load: its regression checks compared nothing.
    pub(crate) fn not_comparable(&self) -> bool {
        self.load == LoadMatch::Different
    }

    /// The words every report uses for the baseline's load; `None` when it matched.
    pub(crate) fn load_text(&self) -> Option<LoadText<'a>> {
        let (title, consequence) = match self.load {
            LoadMatch::Same => return None,
            LoadMatch::Different => (
                "Not comparable with the baseline: it ran another load",
                "Regression checks are not judged (not comparable, never passed); thresholds are.",
            ),
            LoadMatch::ScenarioChanged => (
                "The scenario changed since the baseline",
                "The endpoints both runs have are compared; those only this run has are marked new, those only the baseline has gone.",
            ),
            LoadMatch::Unknown => (
                "The baseline's load could not be checked",
                "An older loadforge-gate wrote it, without a load fingerprint: it is compared as before, and other users or another target would go unnoticed.",
            ),
        };
        Some(LoadText {
            title,
            differences: self.differences,
            consequence,
        })
    }
}

pub(crate) struct FailureRow<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) count: u64,
}

/// A value in the run's metadata: text, or a link with its text.
pub(crate) enum MetaValue<'a> {
    Text(String),
    Link { url: &'a str, text: &'a str },
}

pub(crate) struct MetaRow<'a> {
    pub(crate) key: &'static str,
    pub(crate) value: MetaValue<'a>,
}

/// Links out of the reports.
/// An absolute `http://` or `https://` URL with a host.
fn is_web_url(text: &str) -> bool {
    url::Url::parse(text.trim())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

pub(crate) struct Links<'a> {
    pub(crate) job: Option<&'a str>,
    pub(crate) pipeline: Option<&'a str>,
    pub(crate) cloud: Option<&'a str>,
}

impl Links<'_> {
    fn job_base(&self) -> Option<&str> {
        self.job.map(|j| j.trim_end_matches('/'))
    }

    /// One report file among the job's artifacts, when inside GitLab.
    pub(crate) fn artifact(&self, file: &str) -> Option<String> {
        self.job_base()
            .map(|job| format!("{job}/artifacts/file/loadforge-gate/{file}"))
    }

    /// The folder of all reports among the job's artifacts.
    pub(crate) fn artifacts_folder(&self) -> Option<String> {
        self.job_base()
            .map(|job| format!("{job}/artifacts/browse/loadforge-gate/"))
    }
}

/// What the charts draw, this run's and the baseline's.
pub(crate) struct ChartData<'a> {
    pub(crate) series: &'a [SecondPoint],
    pub(crate) baseline_series: &'a [SecondPoint],
    pub(crate) histogram: Option<&'a LatencyHistogram>,
    pub(crate) baseline_histogram: Option<&'a LatencyHistogram>,
}

/// Everything a report says, in the order reports say it.
pub(crate) struct View<'a> {
    pub(crate) outcome: Outcome,
    pub(crate) run: RunLine<'a>,
    /// The aggregate of all requests (also the first endpoint row).
    pub(crate) aggregate: &'a EndpointStats,
    pub(crate) notes: &'a [String],
    /// In the order the gate judged them; [`View::checks_failed_first`] for reading order.
    pub(crate) checks: Vec<CheckRow<'a>>,
    /// The aggregate first, then this run's endpoints, then those only the baseline has.
    pub(crate) endpoints: Vec<EndpointRow<'a>>,
    pub(crate) baseline: Option<BaselineInfo<'a>>,
    pub(crate) failures: Vec<FailureRow<'a>>,
    pub(crate) meta: Vec<MetaRow<'a>>,
    pub(crate) links: Links<'a>,
    pub(crate) commit: Option<&'a str>,
    pub(crate) charts: ChartData<'a>,
    pub(crate) tool: &'a ToolInfo,
    /// The run history with this run last.
    pub(crate) trend: super::trend::Trend<'a>,
    /// Where the history's changes began (see `changes.rs`).
    pub(crate) changes: super::changes::Changes,
    /// A paired run's base and change side by side; `None` for an unpaired run.
    pub(crate) paired: Option<super::paired::PairedView<'a>>,
    /// The protocol per endpoint, when the endpoints or the baseline differ.
    pub(crate) protocols: Option<super::protocols::Protocols<'a>>,
}

impl<'a> View<'a> {
    pub(crate) fn new(doc: &'a Document) -> Self {
        let run = &doc.run;
        let ci = run.ci.as_ref();
        let endpoints = endpoint_rows(doc);
        let protocols =
            super::protocols::Protocols::of((endpoints.iter().filter(|r| !r.aggregate)).map(|r| {
                (
                    r.name,
                    r.stats.and_then(|s| s.protocol),
                    r.baseline_protocol,
                )
            }));
        View {
            outcome: Outcome::of(doc.verdict.as_ref()),
            run: run_line(doc),
            aggregate: &run.aggregate,
            notes: &doc.notes,
            checks: doc
                .verdict
                .iter()
                .flat_map(|v| &v.checks)
                .map(CheckRow::of)
                .collect(),
            endpoints,
            protocols,
            baseline: doc.comparison.as_ref().map(baseline_info),
            failures: failure_rows(doc),
            meta: meta_rows(doc),
            // A results file may come from outside: only web addresses become links, in every
            // report (each writer still escapes them for its own format).
            links: Links {
                job: ci
                    .and_then(|c| c.job_url.as_deref())
                    .filter(|u| is_web_url(u)),
                pipeline: ci
                    .and_then(|c| c.pipeline_url.as_deref())
                    .filter(|u| is_web_url(u)),
                cloud: run.run.cloud_url.as_deref().filter(|u| is_web_url(u)),
            },
            commit: ci.and_then(|c| c.commit_sha.as_deref()),
            charts: ChartData {
                series: &run.timeseries,
                baseline_series: doc
                    .comparison
                    .as_ref()
                    .map_or(&[], |c| c.baseline_timeseries.as_slice()),
                histogram: run.aggregate.histogram.as_ref(),
                baseline_histogram: doc
                    .comparison
                    .as_ref()
                    .and_then(|c| c.baseline_histogram.as_ref()),
            },
            tool: &run.tool,
            trend: super::trend::Trend::of(doc),
            changes: super::changes::Changes::of(doc),
            paired: super::paired::PairedView::of(
                run,
                doc.verdict.as_ref().map_or(&[][..], |v| &v.checks[..]),
            ),
        }
    }

    /// Failed checks first (they are why the reader is here), then those not comparable, then
    /// the passed ones, otherwise in judging order.
    /// Each reason a check was not judged, once, with what a team does about it: said near
    /// the top of every report, since any one of them keeps the gate from green.
    pub(crate) fn not_judged(&self) -> Vec<(NotJudged, usize)> {
        let mut reasons: Vec<(NotJudged, usize)> = Vec::new();
        for why in self.checks.iter().filter_map(|c| c.state.not_judged()) {
            match reasons.iter_mut().find(|(w, _)| *w == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
        reasons.sort_unstable();
        reasons
    }

    pub(crate) fn checks_failed_first(&self) -> Vec<&CheckRow<'a>> {
        let mut rows: Vec<_> = self.checks.iter().collect();
        rows.sort_by_key(|c| c.state);
        rows
    }

    /// Rows this run measured (the aggregate and its endpoints), with their stats.
    pub(crate) fn measured(&self) -> impl Iterator<Item = (&EndpointRow<'a>, &'a EndpointStats)> {
        self.endpoints
            .iter()
            .filter_map(|r| r.stats.map(|s| (r, s)))
    }

    /// The p95 an endpoint is held to by a `p95 <`/`<=` threshold (the first such rule).
    pub(crate) fn p95_limit(&self, row: &EndpointRow<'_>) -> Option<f64> {
        let endpoint = (!row.aggregate).then_some(row.name);
        self.checks
            .iter()
            .filter(|c| c.kind == CheckKind::Threshold && c.metric == P95 && c.op.starts_with('<'))
            .find(|c| c.endpoint == endpoint)
            .map(|c| c.limit_value)
    }
}

/// The percentile every report leads with.
pub(crate) const P95: Metric = Metric::Percentile(95.0);

fn run_line(doc: &Document) -> RunLine<'_> {
    let meta = &doc.run.run;
    let agg = &doc.run.aggregate;
    RunLine {
        engine: meta.engine.as_str(),
        model: match meta.model {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        },
        users: meta.users,
        duration_s: meta.duration_s,
        interrupted: meta.interrupted,
        insecure: meta.tls_insecure,
        target: &meta.target,
        protocol: meta.protocol,
        host: meta.host.as_ref().map(host_text),
        generator: GeneratorLine::of(meta, agg.latency_ms.p99),
        counts: Counts::of(agg),
        error_rate: agg.error_rate,
        p95: agg.latency_ms.p95,
        avg: agg.latency_ms.avg,
    }
}

/// The aggregate, this run's endpoints, then the endpoints only the baseline has; each with its
/// comparison row (the aggregate's is the comparison's first).
fn endpoint_rows(doc: &Document) -> Vec<EndpointRow<'_>> {
    let rows = doc.comparison.as_ref().map_or(&[][..], |c| &c.rows[..]);
    // By name, once: thousands of endpoints must not cost a scan each.
    let by_name: std::collections::HashMap<&str, &ComparisonRow> = rows
        .iter()
        .skip(1)
        .map(|r| (r.endpoint.as_str(), r))
        .collect();
    let deltas = |name: &str| by_name.get(name).map_or(&[][..], |r| &r.metrics[..]);
    let baseline_protocol = |name: &str| by_name.get(name).and_then(|r| r.baseline_protocol);
    // A file written before rows said so still marks a row without a baseline value as new.
    let presence = |name: &str| match by_name.get(name) {
        Some(r)
            if r.presence == Presence::New || r.metrics.iter().all(|m| m.baseline.is_none()) =>
        {
            Presence::New
        }
        _ => Presence::Both,
    };
    let measured: std::collections::HashSet<&str> =
        doc.run.endpoints.iter().map(|e| e.name.as_str()).collect();
    let mut out = vec![EndpointRow {
        name: &doc.run.aggregate.name,
        aggregate: true,
        stats: Some(&doc.run.aggregate),
        deltas: rows.first().map_or(&[][..], |r| &r.metrics[..]),
        presence: Presence::Both,
        baseline_protocol: rows.first().and_then(|r| r.baseline_protocol),
    }];
    out.extend(doc.run.endpoints.iter().map(|e| EndpointRow {
        name: &e.name,
        aggregate: false,
        stats: Some(e),
        deltas: deltas(&e.name),
        presence: presence(&e.name),
        baseline_protocol: baseline_protocol(&e.name),
    }));
    out.extend(
        rows.iter()
            .skip(1)
            .filter(|r| !measured.contains(r.endpoint.as_str()))
            .map(|r| EndpointRow {
                name: &r.endpoint,
                aggregate: false,
                stats: None,
                deltas: &r.metrics,
                presence: Presence::Gone,
                baseline_protocol: r.baseline_protocol,
            }),
    );
    out
}

fn baseline_info(c: &Comparison) -> BaselineInfo<'_> {
    BaselineInfo {
        source: &c.source,
        started_at: &c.baseline_started_at,
        // By characters, not bytes: a hand-edited file must not make a report panic.
        short_commit: c
            .baseline_commit
            .as_deref()
            .map(|s| s.char_indices().nth(8).map_or(s, |(i, _)| &s[..i])),
        load: c.load,
        differences: &c.load_differences,
    }
}

fn failure_rows(doc: &Document) -> Vec<FailureRow<'_>> {
    doc.run
        .endpoints
        .iter()
        .flat_map(|e| {
            e.failures_by_reason.iter().map(move |(r, n)| FailureRow {
                endpoint: &e.name,
                reason: r,
                count: *n,
            })
        })
        .collect()
}

fn text(key: &'static str, value: String) -> MetaRow<'static> {
    MetaRow {
        key,
        value: MetaValue::Text(value),
    }
}

fn link<'a>(key: &'static str, url: &'a str, text: &'a str) -> MetaRow<'a> {
    MetaRow {
        key,
        value: MetaValue::Link { url, text },
    }
}

/// The host line of a run made under `loadforge-gate executor`: what its prepare stage measured
/// just before the job, so a reader can tell a noisy host from a slower build.
fn host_text(h: &HostInfo) -> String {
    format!(
        "{}: other processes {:.0}% of a core, steal {:.1}%, iowait {:.1}%, load {:.2} on {} CPUs, {}",
        if h.hostname.is_empty() { "–" } else { &h.hostname },
        h.other_cpu_pct,
        h.steal_pct,
        h.iowait_pct,
        h.load_1m,
        h.cpus,
        if h.exclusive { "host held exclusively" } else { "host NOT held exclusively" }
    )
}

/// What every report says of a run made with `--insecure`.
pub(crate) const INSECURE: &str =
    "certificate NOT verified (--insecure): the responses may not come from the intended server";

/// The run's metadata: what ran, where, when, from which commit, against which baseline.
fn meta_rows(doc: &Document) -> Vec<MetaRow<'_>> {
    let run = &doc.run.run;
    let mut rows = vec![
        text("engine", run.engine.to_string()),
        text("scenario", run.scenario.as_deref().unwrap_or("–").into()),
        text("target", run.target.clone()),
    ];
    if let Some(p) = run.protocol {
        rows.push(text("protocol", p.label().into()));
    }
    rows.extend([
        text(
            "users",
            format!("{} (spawn rate {}/s)", run.users, run.spawn_rate),
        ),
        text("started", run.started_at.clone()),
        text("duration", format!("{:.1} s", run.duration_s)),
    ]);
    if run.quantised {
        rows.push(text(
            "latencies",
            "rounded by the engine (about two significant digits)".into(),
        ));
    }
    if run.tls_insecure {
        rows.push(text("tls", INSECURE.into()));
    }
    if let Some(host) = &run.host {
        rows.push(text("host", host_text(host)));
    }
    if let Some(g) = GeneratorLine::of(run, doc.run.aggregate.latency_ms.p99) {
        rows.push(text("load generator", g.text));
    }
    if let Some(url) = &run.cloud_url {
        rows.push(link("cloud run", url, url));
    }
    if let Some(ci) = &doc.run.ci {
        rows.extend(ci_rows(ci));
    }
    if let Some(c) = &doc.comparison {
        rows.push(text(
            "baseline",
            format!("{} ({})", c.source, c.baseline_started_at),
        ));
    }
    rows
}

fn ci_rows(ci: &CiInfo) -> Vec<MetaRow<'_>> {
    let mut rows = Vec::new();
    if let Some(sha) = &ci.commit_sha {
        rows.push(text("commit", sha.clone()));
    }
    if let Some(r) = &ci.ref_name {
        rows.push(text("ref", r.clone()));
    }
    if let Some(u) = &ci.pipeline_url {
        rows.push(link("pipeline", u, ci.pipeline_id.as_deref().unwrap_or(u)));
    }
    if let Some(u) = &ci.job_url {
        rows.push(link("job", u, ci.job_name.as_deref().unwrap_or(u)));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::{Outcome, View, P95};
    use crate::{
        gate::{CheckKind, CheckState, Metric, NotJudged},
        report::snapshot_tests::{judged, loadforge, not_judged},
    };

    #[test]
    fn checks_read_failed_first_and_keep_judging_order_otherwise() {
        let doc = judged();
        let view = View::new(&doc);
        assert_eq!(
            view.outcome,
            Outcome::Failed {
                failed: 4,
                checks: 9,
                not_judged: 0,
            }
        );
        let names: Vec<&str> = view.checks.iter().map(|c| c.name).collect();
        let judged: Vec<&str> = doc
            .verdict
            .iter()
            .flat_map(|v| &v.checks)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, judged);
        let order: Vec<(bool, &str)> = view
            .checks_failed_first()
            .iter()
            .map(|c| (c.passed(), c.name))
            .collect();
        let mut expected: Vec<(bool, &str)> =
            view.checks.iter().map(|c| (c.passed(), c.name)).collect();
        expected.sort_by_key(|(passed, _)| *passed);
        assert_eq!(order, expected);
        let glob = view
            .checks
            .iter()
            .find(|c| c.name.ends_with("[GET /api/catalog/search]"))
            .unwrap();
        assert_eq!(glob.expanded_endpoint(), Some("GET /api/catalog/search"));
        assert_eq!((glob.metric, glob.kind), (P95, CheckKind::Threshold));
        assert_eq!(glob.value, "112.13 ms");
    }

    #[test]
    fn endpoint_rows_put_the_aggregate_first_and_baseline_only_endpoints_last() {
        let doc = judged();
        let view = View::new(&doc);
        let rows: Vec<(&str, bool, bool)> = view
            .endpoints
            .iter()
            .map(|r| (r.label(), r.aggregate, r.stats.is_some()))
            .collect();
        assert_eq!(
            rows,
            [
                ("all requests", true, true),
                ("GET /api/catalog/search", false, true),
                ("GET /api/catalog/products/:id", false, true),
                ("POST /api/carts/:id/items | <b>x</b>", false, true),
                ("GET /api/recommendations", false, true),
                ("GET /api/legacy", false, false),
            ]
        );
        let search = &view.endpoints[1];
        let d = search.delta(Metric::Rps).unwrap();
        assert_eq!((d.current, d.baseline), (Some(9.0), Some(10.0)));
        assert_eq!(view.endpoints[4].baseline(P95), None, "new endpoint");
        assert_eq!(view.measured().count(), 5);
        assert_eq!(view.p95_limit(search), Some(100.0), "the glob threshold");
        assert_eq!(view.p95_limit(&view.endpoints[0]), Some(250.0));
    }

    #[test]
    fn without_baseline_or_verdict_there_is_nothing_to_compare_or_list() {
        let doc = not_judged();
        let view = View::new(&doc);
        assert_eq!(view.outcome, Outcome::NoVerdict);
        assert!(view.checks.is_empty() && view.baseline.is_none());
        assert!(view.endpoints.iter().all(|r| r.delta(P95).is_none()));
        assert_eq!(view.links.artifact("report.html"), None);
    }

    #[test]
    fn counts_an_engine_did_not_report_stay_unknown() {
        let doc = loadforge();
        let view = View::new(&doc);
        assert!(view.run.counts.is_none());
        assert_eq!(view.run.counts_text(), "request counts not reported");
        // The job URL ends in a slash; artifact links do not double it.
        assert_eq!(
            view.links.artifact("summary.md").as_deref(),
            Some("https://gitlab.example.com/shop/-/jobs/556/artifacts/file/loadforge-gate/summary.md")
        );
    }

    #[test]
    fn every_report_says_how_the_load_generator_fared() {
        let mut doc = not_judged();
        assert!(
            View::new(&doc).run.generator.is_none(),
            "a file from before"
        );
        doc.run.run.generator = Some(crate::stats::healthy_generator());
        let healthy = View::new(&doc).run.generator.unwrap();
        assert!(!healthy.starved);
        assert!(
            healthy
                .text
                .starts_with("healthy (runtime hiccups p99 0.9 ms"),
            "{}",
            healthy.text
        );
        doc.run.run.generator = Some(crate::stats::starved_generator());
        let view = View::new(&doc);
        let starved = view.run.generator.as_ref().unwrap();
        assert!(starved.starved);
        assert!(
            starved
                .text
                .starts_with("STARVED: runtime hiccups p99 40.0 ms"),
            "{}",
            starved.text
        );
        assert!(view.meta.iter().any(|r| r.key == "load generator"));
        let summary = super::super::markdown::render(&view);
        assert!(
            summary.contains("⚠️ **Load generator STARVED: runtime hiccups"),
            "{summary}"
        );
        let html = super::super::html::render(&view);
        assert!(html.contains("⚠ Load generator STARVED"), "html");
    }

    /// The failed checks of `judged()` made not judged for `why`.
    fn not_judged_for(why: NotJudged) -> crate::report::Document {
        let mut doc = judged();
        let verdict = doc.verdict.as_mut().unwrap();
        for c in verdict.checks.iter_mut().filter(|c| !c.passed()) {
            c.state = CheckState::NotJudged(why);
        }
        doc
    }

    #[test]
    fn a_verdict_with_checks_not_judged_says_not_judged_in_every_report() {
        for why in NotJudged::ALL {
            let doc = not_judged_for(why);
            let view = View::new(&doc);
            assert_eq!(
                view.outcome,
                Outcome::NotJudged {
                    not_judged: 4,
                    checks: 9,
                    reasons: vec![why]
                }
            );
            let title = view.outcome.title();
            assert!(
                title.starts_with("Performance gate NOT JUDGED: 4 of 9 checks could not be judged")
                    && title.ends_with(&format!("({})", why.words())),
                "{title}"
            );
            let console = super::super::render_outcome(&doc, std::path::Path::new("out"), &[]);
            assert!(
                console.starts_with("loadforge-gate: NOT JUDGED (4 of 9 checks"),
                "{console}"
            );
            assert!(
                console.contains(&format!("not judged, {}", why.words())),
                "{console}"
            );
            let junit = super::super::junit::render(&view).unwrap();
            assert!(!junit.contains("<skipped"), "{junit}");
            assert_eq!(junit.matches("<error").count(), 4, "{junit}");
            assert!(
                junit.contains(&format!("not judged: {}", why.words())),
                "{junit}"
            );
            let metrics = super::super::metrics::render(&view);
            for line in [
                "loadforge_gate_passed 0",
                "loadforge_gate_judged 0",
                "loadforge_checks_not_judged 4",
            ] {
                assert!(metrics.contains(line), "{line}: {metrics}");
            }
            let summary = super::super::markdown::render(&view);
            assert!(
                summary.starts_with("### ⚠️ Performance gate NOT JUDGED"),
                "{summary}"
            );
            let remedy = super::super::markdown::capitalised(why.remedy());
            assert!(summary.contains(&remedy), "{summary}");
            let html = super::super::html::render(&view);
            assert!(html.contains("<header class=\"verdict warn\""), "html");
            assert!(
                html.contains(&format!("not judged: {}", why.words())),
                "html"
            );
            assert!(!html.contains("✓ Performance gate"), "html");
        }
    }

    #[test]
    fn a_failed_check_wins_over_checks_not_judged() {
        let mut doc = not_judged_for(NotJudged::TooNoisy);
        let verdict = doc.verdict.as_mut().unwrap();
        let first = (verdict.checks.iter_mut())
            .find(|c| c.state().not_judged().is_some())
            .unwrap();
        first.state = CheckState::Failed;
        let view = View::new(&doc);
        assert_eq!(
            view.outcome.title(),
            "Performance gate failed: 1 of 9 checks failed, 3 not judged"
        );
        let metrics = super::super::metrics::render(&view);
        assert!(
            metrics.contains("loadforge_gate_passed 0\nloadforge_gate_judged 1"),
            "{metrics}"
        );
    }

    #[test]
    fn the_default_branchs_first_run_passes_and_says_the_history_starts() {
        let mut doc = judged();
        let verdict = doc.verdict.as_mut().unwrap();
        verdict.checks.retain(|c| c.passed());
        verdict.history_starts = true;
        let view = View::new(&doc);
        assert_eq!(
            view.outcome.title(),
            "Performance gate passed (5 checks; first run: the history starts here)"
        );
    }

    #[test]
    fn a_baseline_commit_is_shortened_by_characters() {
        let mut doc = judged();
        if let Some(c) = doc.comparison.as_mut() {
            // Byte 8 falls inside an `é`: slicing by bytes would panic.
            c.baseline_commit = Some("aééééééééé".into());
        }
        let view = View::new(&doc);
        assert_eq!(view.baseline.unwrap().short_commit, Some("aééééééé"));
    }

    #[test]
    fn a_run_under_the_executor_says_how_quiet_its_host_was() {
        let mut doc = not_judged();
        assert!(View::new(&doc).run.host.is_none());
        doc.run.run.host = Some(crate::stats::HostInfo {
            hostname: "lg-1".into(),
            cpus: 8,
            load_1m: 0.25,
            steal_pct: 0.5,
            iowait_pct: 0.1,
            other_cpu_pct: 3.0,
            mem_available_mib: 4096,
            open_files: Some(65536),
            exclusive: true,
            window_s: 3.0,
        });
        let view = View::new(&doc);
        let line = "lg-1: other processes 3% of a core, steal 0.5%, iowait 0.1%, load 0.25 on 8 CPUs, host held exclusively";
        assert_eq!(view.run.host.as_deref(), Some(line));
        assert!(view.meta.iter().any(|r| r.key == "host"));
        let summary = crate::report::markdown::render(&view);
        assert!(
            summary.contains("Host: lg-1: other processes 3%"),
            "{summary}"
        );
    }
}
