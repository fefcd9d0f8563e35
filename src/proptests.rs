//! Property tests on the parsers of outside input that live above the engines: the rule
//! grammar, durations, scenario YAML, templates, results files and histograms. The property is
//! always "never a panic", and, where valid input can be generated, "valid input round-trips".
//! The HTTP response parser and Locust's files have theirs beside their code. `cargo test` runs
//! a bounded number of cases; a longer run: `PROPTEST_CASES=100000 cargo test --lib prop`.

use std::path::Path;

use proptest::prelude::*;

use crate::{
    duration::{format_duration, parse_duration},
    gate::{Regression, Threshold},
    results::{self, Role},
    scenario::{Scenario, Template},
    stats::LatencyHistogram,
};

/// 256 cases, or `PROPTEST_CASES` when set (proptest's default reads it).
fn config() -> ProptestConfig {
    ProptestConfig::default()
}

/// Text that looks enough like the grammar to reach deep into the parsers.
fn rule_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("p95".to_string()),
        Just("p(99.9)".to_string()),
        Just("error_rate".to_string()),
        Just("GET /a/*: ".to_string()),
        Just("abort-on-fail=".to_string()),
        "[<>=+-]{1,2}",
        "[0-9.e]{1,6}",
        "(ms|s|m|h|%|/s)",
        ".{0,4}",
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rules_never_panic(text in rule_text()) {
        let _ = Threshold::parse(&text);
        let _ = Regression::parse(&text);
    }

    #[test]
    fn valid_thresholds_keep_their_text(
        metric in prop_oneof![Just("p95"), Just("p99"), Just("avg"), Just("error_rate"), Just("rps")],
        op in prop_oneof![Just("<"), Just("<="), Just(">"), Just(">=")],
        value in 1u32..10_000,
    ) {
        let unit = match metric { "error_rate" => "%", "rps" => "", _ => "ms" };
        let value = if metric == "error_rate" { value % 100 } else { value };
        let text = format!("{metric}{op}{value}{unit}");
        let t = Threshold::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(t.source, text);
    }

    #[test]
    fn durations_never_panic(text in "[0-9.e+-]{0,12}(ms|s|m|h|min|sec|x)?[0-9]{0,3}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn whole_durations_round_trip(secs in 1u64..(365 * 24 * 3600)) {
        let d = std::time::Duration::from_secs(secs);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn templates_never_panic(text in "([a-z/]{0,3}|\\$\\{|\\$\\$\\{|\\}|env\\.[A-Z]{1,3}|:-|random\\.(int|choice)\\(|[0-9, ]{0,4}|\\)){0,8}") {
        let _ = Template::parse(&text, &|_| Some("v".into()));
        let _ = Template::parse(&text, &|_| None);
    }

    #[test]
    fn scenarios_never_panic(text in "(tasks|on_start|request|path|weight|wait|between|steps|set|extract|check|status|json|\\{|\\}|\\[|\\]|: |\\n  |- |/x|\\$\\{a\\}|[0-9]{1,12}|-1|1e20){0,24}") {
        let _ = Scenario::parse(&text, Path::new("p.yml"), &|_| None);
    }

    #[test]
    fn results_files_never_panic(text in "(\\{|\\}|\\[|\\]|\"schema\"|\"loadforge-gate/results/v1\"|\"run\"|\"aggregate\"|\"histogram\"|\"data\"|: |, |-?[0-9]{1,20}|null|\"[a-z]{0,4}\"){0,30}") {
        let _ = results::parse::<crate::stats::RunResult>(text.as_bytes(), "r.json", Role::Results);
    }

    #[test]
    fn histogram_blobs_never_panic(text in "[A-Za-z0-9+/=]{0,200}") {
        let _ = LatencyHistogram::decode(&text);
    }

    #[test]
    fn histograms_round_trip(values in proptest::collection::vec(1u64..3_600_000_000, 0..200)) {
        let mut h = LatencyHistogram::new();
        for v in &values {
            h.record_micros(*v);
        }
        let back = LatencyHistogram::decode(&h.encode()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(back, h);
    }
}
