//! Every report, pinned byte for byte for fixed results: a judged run with a baseline (over
//! HTTP/1.1, which no report mentions), a run that was neither compared nor judged, a
//! LoadForge-like run without request counts (and without a load fingerprint, as older files),
//! a run whose baseline ran another load, a paired run, and an HTTP/2 run one of whose
//! endpoints a redirect took to an HTTP/1.1 origin.
//! The writers are refactored against these snapshots: a changed byte is either a deliberate
//! fix or a regression.

use std::{collections::BTreeMap, path::Path};

use super::{publish_all, render_comment, render_outcome, Document, RESULTS_JSON};
use crate::results::{self, Role};
use crate::{
    baseline,
    gate::{self, Baseline, Regression, Threshold, Verdict},
    stats::{
        sha256_hex, side_of, CiInfo, EndpointStats, LatencyHistogram, LatencySummary,
        LoadFingerprint, LoadModel, PairedRun, Protocol, RunResult, SecondPoint, Side, Slice,
        SliceStats, ToolInfo,
    },
};

/// A fixed tool, so a version bump does not touch the snapshots.
fn tool() -> ToolInfo {
    ToolInfo {
        name: "loadforge-gate".into(),
        version: "0.0.0-snapshot".into(),
    }
}

/// `n` requests spread from 0.8 to 1.2 times `ms`, with failures by reason.
fn endpoint(name: &str, n: u64, ms: f64, failures: &[(&str, u64)]) -> EndpointStats {
    let mut h = LatencyHistogram::new();
    for i in 0..n {
        h.record_micros(((ms * 1000.0) * (0.8 + 0.4 * i as f64 / n as f64)) as u64);
    }
    let reasons: BTreeMap<String, u64> =
        failures.iter().map(|(r, k)| (r.to_string(), *k)).collect();
    let method = name.split_whitespace().next().map(str::to_string);
    EndpointStats::from_counts(name.into(), method, h, n, reasons, 60.0)
}

/// `e` as the native engine records it: with the protocol its requests spoke.
fn over(protocol: Protocol, e: EndpointStats) -> EndpointStats {
    EndpointStats {
        protocol: Some(protocol),
        ..e
    }
}

/// A per-second series with a ramp-up and a slow middle, so the charts have a shape.
fn series(rps: u64, ms: f64, seconds: u32) -> Vec<SecondPoint> {
    (0..seconds)
        .map(|t| {
            let ramp = u64::from(t.min(10)) * rps / 10;
            let slow = if (20..30).contains(&t) { 1.5 } else { 1.0 };
            SecondPoint {
                t,
                requests: ramp,
                failures: u64::from(t % 17 == 3),
                p50_ms: Some(ms * slow),
                p95_ms: Some(ms * slow * 1.6),
                p99_ms: Some(ms * slow * 2.1),
                users: (t.min(10) * 2).max(1),
                generator: None,
            }
        })
        .collect()
}

fn ci() -> CiInfo {
    CiInfo {
        commit_sha: Some("feedbeef12345678".into()),
        ref_name: Some("feature/cart".into()),
        pipeline_id: Some("9000".into()),
        pipeline_url: Some("https://gitlab.example.com/shop/-/pipelines/9000".into()),
        job_id: Some("555".into()),
        job_name: Some("perf".into()),
        job_url: Some("https://gitlab.example.com/shop/-/jobs/555".into()),
        merge_request_iid: Some("42".into()),
    }
}

/// The load of the fixed native runs: 20 users for a minute against review-7.
fn native_load() -> LoadFingerprint {
    LoadFingerprint {
        engine: "native".into(),
        model: LoadModel::Closed,
        users: 20,
        rate: None,
        spawn_rate: 10.0,
        run_time_s: 60.0,
        warmup_s: 0.0,
        ramp_s: 0.0,
        target: "https://review-7.example.com".into(),
        scenario: Some("shop-cart".into()),
        scenario_sha256: Some(sha256_hex(b"name: shop-cart")),
        script_load_sha256: None,
        target_vars: Default::default(),
        target_id: None,
        engine_version: None,
        compare_target: None,
        protocol: None,
        streams_per_user: 1,
    }
}

fn native_run(endpoints: Vec<EndpointStats>, started: &str, ms: f64) -> RunResult {
    let mut r = crate::stats::fixture(endpoints, 60.0);
    r.tool = tool();
    r.run.scenario = Some("shop-cart".into());
    r.run.target = "https://review-7.example.com/".into();
    r.run.users = 20;
    r.run.spawn_rate = 10.0;
    r.run.started_at = started.into();
    r.run.load = Some(native_load());
    r.timeseries = series(20, ms, 60);
    r
}

fn parse_rules(thresholds: &[&str], regressions: &[&str]) -> (Vec<Threshold>, Vec<Regression>) {
    (
        thresholds
            .iter()
            .map(|t| Threshold::parse(t).unwrap())
            .collect(),
        regressions
            .iter()
            .map(|r| Regression::parse(r).unwrap())
            .collect(),
    )
}

fn judge(
    current: &RunResult,
    base: &RunResult,
    thresholds: &[&str],
    regressions: &[&str],
) -> Verdict {
    let (t, r) = parse_rules(thresholds, regressions);
    gate::evaluate(
        current,
        &gate::Rules::configured(t),
        &gate::Rules::configured(r),
        &gate::Reference::Baseline(Baseline {
            result: base,
            history: &[],
        }),
    )
    .unwrap()
}

/// Every endpoint of `run` over HTTP/1.1, as a native run records them: no report says so.
fn http1(run: &mut RunResult) {
    for e in run.endpoints.iter_mut().chain([&mut run.aggregate]) {
        e.protocol = Some(Protocol::Http1);
    }
}

/// Passing and failing thresholds (one a glob) and regressions, failures by reason, an endpoint
/// only in the baseline and one only in this run, hostile names, CI links and notes.
pub(super) fn judged() -> Document {
    let mut base = native_run(
        vec![
            endpoint("GET /api/catalog/search", 600, 40.0, &[]),
            endpoint("GET /api/catalog/products/:id", 400, 20.0, &[]),
            endpoint("POST /api/carts/:id/items | <b>x</b>", 200, 30.0, &[]),
            endpoint("GET /api/legacy", 100, 5.0, &[]),
        ],
        "2026-11-20T10:00:00Z",
        30.0,
    );
    http1(&mut base);
    base.ci = Some(CiInfo {
        commit_sha: Some("0ff1ce0012345678".into()),
        ..ci()
    });
    let mut current = native_run(
        vec![
            endpoint(
                "GET /api/catalog/search",
                540,
                95.0,
                &[("HTTP 503", 12), ("connection reset", 3)],
            ),
            endpoint("GET /api/catalog/products/:id", 420, 21.0, &[]),
            endpoint(
                "POST /api/carts/:id/items | <b>x</b>",
                190,
                29.0,
                &[("HTTP 500 | <i>oops</i>", 2)],
            ),
            endpoint("GET /api/recommendations", 50, 60.0, &[]),
        ],
        "2026-11-23T10:00:00Z",
        45.0,
    );
    http1(&mut current);
    current.ci = Some(ci());
    let verdict = judge(
        &current,
        &base,
        &[
            "p95<250ms",
            "error_rate<1%",
            "GET /api/catalog/*: p95<100ms",
            "rps>=10",
        ],
        &[
            "p95 +20% +10ms",
            "error_rate +50% +1%",
            "rps -10%",
            "GET /api/catalog/products/:id: p95 +20%",
        ],
    );
    Document {
        comparison: Some(baseline::compare(
            "pipeline #8990 on main at the merge base 0ff1ce00",
            &base,
            &current,
        )),
        run: current,
        verdict: Some(verdict),
        notes: vec![
            "Baseline *chosen* from pipeline #8990 | main.".into(),
            "Aborted early: `error_rate<5%` failed after 30s.".into(),
        ],
        history: Vec::new(),
    }
}

/// A 5-user smoke against a baseline of 50 users on another target and engine: every regression
/// check is not comparable, the thresholds decide, and every report lists the differences.
pub(super) fn not_comparable() -> Document {
    let mut base = native_run(
        vec![
            endpoint("GET /api/catalog/search", 6000, 80.0, &[]),
            endpoint("GET /api/legacy", 1000, 5.0, &[]),
        ],
        "2026-11-20T10:00:00Z",
        80.0,
    );
    base.run.engine = "locust".into();
    base.run.users = 50;
    base.run.load = Some(LoadFingerprint {
        engine: "locust".into(),
        users: 50,
        target: "https://staging.example.com:8443".into(),
        ..native_load()
    });
    let mut current = native_run(
        vec![
            endpoint("GET /api/catalog/search", 540, 30.0, &[]),
            endpoint("GET /api/recommendations", 50, 20.0, &[]),
        ],
        "2026-11-23T10:00:00Z",
        30.0,
    );
    current.run.users = 5;
    current.run.load = Some(LoadFingerprint {
        users: 5,
        ..native_load()
    });
    current.ci = Some(ci());
    let verdict = judge(
        &current,
        &base,
        &["p95<250ms", "error_rate<1%"],
        &["p95 +20% +10ms", "rps -10%", "GET /api/catalog/*: p95 +20%"],
    );
    Document {
        comparison: Some(baseline::compare("pipeline #8990 on main", &base, &current)),
        run: current,
        verdict: Some(verdict),
        notes: vec![],
        history: Vec::new(),
    }
}

/// No baseline and no verdict (the rules could not be judged), interrupted, open model, no CI.
pub(super) fn not_judged() -> Document {
    let mut run = native_run(
        vec![
            endpoint("GET /", 300, 12.0, &[("HTTP 502", 4)]),
            endpoint("POST /login", 100, 80.0, &[]),
        ],
        "2026-11-23T11:00:00Z",
        20.0,
    );
    run.run.model = LoadModel::Open;
    run.run.rate = Some(15.0);
    run.run.warmup_s = 5.0;
    run.run.load = Some(LoadFingerprint {
        model: LoadModel::Open,
        rate: Some(15.0),
        warmup_s: 5.0,
        ramp_s: 10.0,
        ..native_load()
    });
    run.run.interrupted = true;
    run.run.duration_s = 41.5;
    Document {
        run,
        verdict: None,
        comparison: None,
        notes: vec!["The run was interrupted: these results are partial.".into()],
        history: Vec::new(),
    }
}

/// What the LoadForge API gives: averages, some percentiles and an error rate, no counts.
fn counts_unknown(name: &str, avg: f64, p95: Option<f64>, error_rate: f64) -> EndpointStats {
    EndpointStats {
        name: name.into(),
        method: name.split_whitespace().next().map(str::to_string),
        requests: 0,
        failures: 0,
        rps: 0.0,
        error_rate,
        latency_ms: LatencySummary {
            avg: Some(avg),
            p95,
            ..LatencySummary::default()
        },
        failures_by_reason: BTreeMap::new(),
        histogram: None,
        counts_reported: false,
        received: None,
        protocol: None,
    }
}

fn loadforge_run(
    started: &str,
    endpoints: Vec<EndpointStats>,
    aggregate: EndpointStats,
) -> RunResult {
    let mut r = crate::stats::fixture(vec![], 300.0);
    r.tool = tool();
    r.run.engine = "loadforge".into();
    r.run.scenario = Some("LoadForge test 77".into());
    r.run.target = "https://staging.example.com".into();
    r.run.users = 200;
    r.run.spawn_rate = 20.0;
    r.run.started_at = started.into();
    r.run.quantised = true;
    r.run.cloud_url = Some("https://app.loadforge.com/runs/777".into());
    r.aggregate = aggregate;
    r.endpoints = endpoints;
    r
}

pub(super) fn loadforge() -> Document {
    let base = loadforge_run(
        "2026-11-20T09:00:00.000Z",
        vec![counts_unknown("GET /", 100.0, Some(180.0), 0.2)],
        counts_unknown(crate::stats::ALL_REQUESTS, 100.0, Some(180.0), 0.2),
    );
    let mut current = loadforge_run(
        "2026-11-23T09:00:00.000Z",
        vec![
            counts_unknown("GET /", 130.0, None, 0.7),
            counts_unknown("GET /search", 210.0, None, 0.9),
        ],
        counts_unknown(crate::stats::ALL_REQUESTS, 150.0, Some(240.0), 0.8),
    );
    current.ci = Some(CiInfo {
        job_url: Some("https://gitlab.example.com/shop/-/jobs/556/".into()),
        job_name: Some("perf-cloud".into()),
        ..CiInfo::default()
    });
    let verdict = judge(
        &current,
        &base,
        &["avg<200ms", "p95<250ms", "error_rate<0.5%"],
        &["p95 +20% +10ms", "error_rate +50% +1%", "rps -10%"],
    );
    Document {
        comparison: Some(baseline::compare("baseline.json", &base, &current)),
        run: current,
        verdict: Some(verdict),
        notes: vec![],
        history: Vec::new(),
    }
}

/// One slice's row: `n` requests at `p95` ms (the other figures in proportion).
fn slice_row(name: &str, n: u64, p95: f64) -> SliceStats {
    SliceStats {
        name: name.into(),
        requests: n,
        failures: 0,
        late: 0,
        p50_ms: Some(p95 * 0.6),
        p95_ms: Some(p95),
        p99_ms: Some(p95 * 1.3),
        mean_ms: Some(p95 * 0.7),
    }
}

/// 24 slices (12 pairs) of 5 s with a drift both sides share (each pair's window another
/// speed): the search endpoint 1.3 times slower on the change, the rest alike.
fn paired_slices() -> Vec<Slice> {
    (0..24u32)
        .map(|i| {
            let side = side_of(i.into());
            let drift = 1.0 + 0.25 * f64::from((i / 2) % 4);
            let search = match side {
                Side::Base => 40.0,
                Side::Change => 52.0,
            } * drift;
            let products = 20.0 * drift;
            Slice {
                index: i,
                side,
                start_s: f64::from(i) * 5.0,
                measured_s: 4.0,
                stall_ms: Some(1.0),
                starved: false,
                aggregate: slice_row("all requests", 80, search),
                endpoints: vec![
                    slice_row("GET /api/catalog/search", 50, search),
                    slice_row("GET /api/catalog/products/:id", 30, products),
                ],
            }
        })
        .collect()
}

/// A paired run (`--compare-host`) judged on its slices with no baseline: the search endpoint
/// a paired regression, the products endpoint within noise, an endpoint only the base has
/// (with a hostile name) and a base target whose credential results already redacted.
pub(super) fn paired() -> Document {
    let mut current = native_run(
        vec![
            endpoint("GET /api/catalog/search", 600, 52.0, &[("HTTP 503", 6)]),
            endpoint("GET /api/catalog/products/:id", 360, 20.0, &[]),
        ],
        "2026-11-23T10:00:00Z",
        45.0,
    );
    current.run.duration_s = 60.0;
    let base = native_run(
        vec![
            endpoint("GET /api/catalog/search", 600, 40.0, &[]),
            endpoint("GET /api/catalog/products/:id", 360, 20.0, &[]),
            endpoint("GET /old | <b>x</b> @here", 10, 5.0, &[]),
        ],
        "2026-11-23T10:00:00Z",
        30.0,
    );
    current.paired = Some(PairedRun {
        base_target: "http://base:8081/?token=***&<i>".into(),
        slice_s: 5.0,
        turn_s: None,
        slice_warmup_s: 1.0,
        base_duration_s: 60.0,
        base_aggregate: base.aggregate.clone(),
        base_endpoints: base.endpoints.clone(),
        slices: paired_slices(),
        slices_dropped: 0,
        order_key: None,
        until_decisive: None,
    });
    let (t, r) = parse_rules(
        &["p95<250ms"],
        &[
            "GET /api/catalog/search: p95 +10%",
            "GET /api/catalog/products/:id: p95 +20%",
            "p99 +10%",
        ],
    );
    let verdict = gate::evaluate(
        &current,
        &gate::Rules::configured(t),
        &gate::Rules::configured(r),
        &gate::Reference::Unchecked,
    )
    .unwrap();
    Document {
        run: current,
        verdict: Some(verdict),
        comparison: None,
        notes: vec![],
        history: Vec::new(),
    }
}

/// An HTTP/2 run against an HTTP/2 baseline (the same load): the sign-on endpoint now
/// redirects to an HTTP/1.1 origin (mixed), one endpoint is new; the others spoke HTTP/2 in
/// both. The reports name each endpoint's protocol, and the baseline's where it differs.
pub(super) fn h2() -> Document {
    let h2_load = || LoadFingerprint {
        protocol: Some(Protocol::H2),
        ..native_load()
    };
    let mut base = native_run(
        vec![
            over(
                Protocol::H2,
                endpoint("GET /api/catalog/search", 600, 40.0, &[]),
            ),
            over(Protocol::H2, endpoint("GET /sso/start", 100, 20.0, &[])),
            over(
                Protocol::H2,
                endpoint("POST /api/carts/:id/items", 200, 30.0, &[]),
            ),
        ],
        "2026-11-20T10:00:00Z",
        30.0,
    );
    base.run.protocol = Some(Protocol::H2);
    base.run.load = Some(h2_load());
    let mut current = native_run(
        vec![
            over(
                Protocol::H2,
                endpoint("GET /api/catalog/search", 610, 41.0, &[]),
            ),
            over(Protocol::Mixed, endpoint("GET /sso/start", 100, 35.0, &[])),
            over(
                Protocol::H2,
                endpoint("POST /api/carts/:id/items", 190, 29.0, &[]),
            ),
            over(
                Protocol::H2,
                endpoint("GET /api/recommendations", 50, 20.0, &[]),
            ),
        ],
        "2026-11-23T10:00:00Z",
        31.0,
    );
    current.run.protocol = Some(Protocol::H2);
    current.run.load = Some(h2_load());
    current.ci = Some(ci());
    let verdict = judge(&current, &base, &["p95<250ms"], &["p95 +50% +20ms"]);
    Document {
        comparison: Some(baseline::compare("pipeline #8990 on main", &base, &current)),
        run: current,
        verdict: Some(verdict),
        notes: vec![],
        history: Vec::new(),
    }
}

/// Every report of `doc` as `publish_all` writes it, by file name, plus the comment and the
/// console outcome (for an output directory named `loadforge-gate`).
fn reports(doc: &Document) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let written = publish_all(dir.path(), doc).unwrap();
    let mut reports: Vec<(String, String)> = written
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    reports.push(("comment.md".into(), render_comment(doc, "perf")));
    reports.push((
        "console.txt".into(),
        render_outcome(doc, Path::new("loadforge-gate"), &written),
    ));
    reports
}

fn assert_reports(case: &str, doc: &Document) {
    for (file, text) in reports(doc) {
        insta::assert_snapshot!(format!("{case}-{file}"), text);
    }
}

#[test]
fn every_report_of_a_judged_run_with_a_baseline() {
    assert_reports("judged", &judged());
}

#[test]
fn every_report_of_a_run_whose_baseline_ran_another_load() {
    assert_reports("not_comparable", &not_comparable());
}

#[test]
fn every_report_of_a_run_neither_compared_nor_judged() {
    assert_reports("not_judged", &not_judged());
}

#[test]
fn every_report_of_a_paired_run() {
    assert_reports("paired", &paired());
}

#[test]
fn every_report_of_an_h2_run_whose_endpoints_and_baseline_differ_in_protocol() {
    assert_reports("h2", &h2());
}

#[test]
fn every_report_of_a_run_without_request_counts() {
    assert_reports("loadforge", &loadforge());
}

/// results.json is read back by `report` and as the next baseline: the fixed documents must
/// survive the round trip, or the snapshots above would pin something a reader cannot rebuild.
#[test]
fn the_fixed_documents_round_trip_through_results_json() {
    for doc in [
        judged(),
        not_judged(),
        loadforge(),
        not_comparable(),
        paired(),
        h2(),
    ] {
        let text = results::to_json(&doc, RESULTS_JSON).unwrap();
        let back: Document = results::parse(text.as_bytes(), RESULTS_JSON, Role::Results).unwrap();
        assert_eq!(back, doc);
    }
}

/// The fixed documents exercise every optional part of results.json: each must validate against
/// the committed schema.
#[test]
fn the_fixed_documents_validate_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/results-v2.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for doc in [
        judged(),
        not_judged(),
        loadforge(),
        not_comparable(),
        paired(),
        h2(),
    ] {
        let value: serde_json::Value =
            serde_json::from_str(&results::to_json(&doc, RESULTS_JSON).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

/// 1,000 endpoints, a glob threshold on each, a baseline: the comment leads with the verdict
/// and what failed, folds the rest, and stays far below GitLab's note limit.
#[test]
fn a_comment_on_a_thousand_endpoints_stays_readable() {
    let names: Vec<String> = (0..1000).map(|i| format!("GET /api/item/{i:04}")).collect();
    let at = |ms: fn(usize) -> f64| {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| endpoint(n, 50, ms(i), &[]))
            .collect::<Vec<_>>()
    };
    let base = native_run(at(|_| 20.0), "2026-11-20T10:00:00Z", 20.0);
    // Three endpoints got slow; the rest did not move.
    let current = native_run(
        at(|i| if i % 400 == 7 { 90.0 } else { 20.0 }),
        "2026-11-23T10:00:00Z",
        20.0,
    );
    let verdict = judge(
        &current,
        &base,
        &["GET /api/*: p95<50ms"],
        &["p95 +20% +10ms"],
    );
    let doc = Document {
        comparison: Some(baseline::compare("pipeline #1", &base, &current)),
        run: current,
        verdict: Some(verdict),
        notes: Vec::new(),
        history: Vec::new(),
    };
    let body = render_comment(&doc, "perf");
    assert!(body.len() < 200_000, "{} bytes", body.len());
    let top: String = body.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(top.contains("❌ Performance gate failed"), "{top}");
    assert!(
        top.contains("GET /api/item/0007"),
        "failed checks first: {top}"
    );
    let failed_table = top.split("<details>").next().unwrap();
    assert!(
        !failed_table.contains("✅"),
        "no passing check before the failed ones: {top}"
    );
    assert!(body.contains("<details><summary>998 passing checks</summary>"));
    assert!(body.contains("<details><summary>997 unchanged endpoints</summary>"));
    let endpoints = &body[body.find("#### Endpoints").unwrap()..];
    let first_row = endpoints.lines().find(|l| l.starts_with("| GET")).unwrap();
    assert!(first_row.contains("0007") || first_row.contains("0407") || first_row.contains("0807"));
}

/// With a chain of earlier runs, the comparison table gets a p95 sparkline per endpoint.
#[test]
fn a_history_draws_a_sparkline_per_endpoint() {
    let mut doc = judged();
    let mut earlier: Vec<RunResult> = [30.0, 40.0, 35.0]
        .iter()
        .map(|ms| {
            native_run(
                vec![endpoint("GET /api/catalog/search", 600, *ms, &[])],
                "2026-11-19T10:00:00Z",
                *ms,
            )
        })
        .collect();
    earlier.reverse();
    doc.history = earlier.iter().map(crate::stats::HistoryEntry::of).collect();
    let body = render_comment(&doc, "perf");
    let row = body
        .lines()
        .find(|l| l.starts_with("| GET /api/catalog/search"))
        .unwrap();
    assert!(row.ends_with("`▁▁▁█` ↕185% |"), "{row}");
    assert!(body.contains("| p95 trend |"), "{body}");
}

/// Only the scenario's content changed: the summary says so, the regressions on the endpoints
/// both runs have are judged, and the others are marked new or gone.
#[test]
fn a_changed_scenario_is_said_and_its_new_and_gone_endpoints_marked() {
    let mut doc = judged();
    if let Some(c) = doc.comparison.as_mut() {
        c.load = crate::stats::LoadMatch::ScenarioChanged;
        c.load_differences = vec!["scenario changed (sha256 ccc95919 → 0a1b2c3d)".into()];
    }
    let body = render_comment(&doc, "perf");
    assert!(
        body.contains("> **The scenario changed since the baseline.**\n> - scenario changed (sha256 ccc95919 → 0a1b2c3d)\n"),
        "{body}"
    );
    assert!(
        body.contains("| GET /api/recommendations _(new)_ |"),
        "{body}"
    );
    assert!(body.contains("| GET /api/legacy _(gone)_ |"), "{body}");
    assert!(
        body.contains("❌ Performance gate failed"),
        "still judged: {body}"
    );
}

/// A real change below the rule's margin, judged against a quiet history: every report says
/// so in the judgement's words, with its numbers, and none says "within noise".
#[test]
fn every_report_says_a_real_change_below_the_margin() {
    let run = |ms: f64, started: &str| {
        native_run(
            vec![endpoint("GET /api/catalog/search", 6000, ms, &[])],
            started,
            ms,
        )
    };
    let earlier: Vec<RunResult> = [40.0, 40.2, 39.9, 40.1, 40.0]
        .iter()
        .map(|&ms| run(ms, "2026-11-19T10:00:00Z"))
        .collect();
    let history: Vec<crate::stats::HistoryEntry> =
        earlier.iter().map(crate::stats::HistoryEntry::of).collect();
    let current = run(46.0, "2026-11-23T10:00:00Z");
    let (t, r) = parse_rules(&[], &["GET /api/catalog/search: p95 +20% +10ms"]);
    let verdict = gate::evaluate(
        &current,
        &gate::Rules::configured(t),
        &gate::Rules::configured(r),
        &gate::Reference::Baseline(Baseline {
            result: &earlier[0],
            history: &history,
        }),
    )
    .unwrap();
    let check = &verdict.checks[0];
    assert!(check.passed(), "{}", check.detail);
    let finding = check.finding.expect("judged against the history");
    assert_eq!(
        finding.outcome,
        gate::Outcome::BelowMargin,
        "{}",
        check.detail
    );
    let words = check.words().unwrap();
    assert!(
        words.starts_with("below the margin: +1") && words.ends_with("+20% / +10 ms margin"),
        "{words}"
    );
    let doc = Document {
        comparison: Some(baseline::compare("a file", &earlier[0], &current)),
        run: current,
        verdict: Some(verdict),
        notes: Vec::new(),
        history,
    };
    for (file, text) in reports(&doc) {
        if [
            "summary.md",
            "comment.md",
            "report.html",
            "junit.xml",
            "console.txt",
        ]
        .contains(&file.as_str())
        {
            assert!(text.contains(&words), "{file}: {text}");
        }
        assert!(!text.contains("within noise"), "{file}: {text}");
    }
}

/// A results file from elsewhere (a baseline, `report`'s input) whose endpoint names a
/// protocol this version does not know is refused, the value quoted on one line: never read
/// as another protocol, never printed as it was written.
#[test]
fn an_unknown_endpoint_protocol_refuses_the_file_with_the_value_quoted() {
    let text = results::to_json(&h2(), RESULTS_JSON).unwrap();
    let hostile = text.replacen(
        "\"protocol\": \"mixed\"",
        "\"protocol\": \"h3\\u001b[2J\"",
        1,
    );
    assert_ne!(hostile, text, "the fixture has a mixed endpoint");
    for role in [Role::Baseline, Role::Results] {
        let e = results::parse::<RunResult>(hostile.as_bytes(), "base.json", role).unwrap_err();
        let shown = crate::chain::one_line(&e);
        assert!(
            shown.contains(r"protocol `h3\u{1b}[2J` is not one this version reads"),
            "{shown}"
        );
        assert!(!shown.contains('\u{1b}'), "{shown}");
    }
}
