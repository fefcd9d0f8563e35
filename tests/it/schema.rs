//! results.json is a contract with the next pipeline: real output must validate against the
//! committed JSON Schema, and the schema must reject what is not a result.

use loadforge_gate::sample_app::Knobs;

use crate::harness::{example, sample_app, Gate};

/// The schema this version writes.
pub fn schema() -> jsonschema::Validator {
    validator("results-v2.json")
}

/// The previous release's schema, which its files still validate against.
pub fn schema_v1() -> jsonschema::Validator {
    validator("results-v1.json")
}

fn validator(file: &str) -> jsonschema::Validator {
    let path = format!("{}/schema/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("the schema compiles")
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn real_results_validate_against_the_schema() {
    let app = sample_app(Knobs {
        error_rate: 0.5,
        ..Knobs::default()
    });
    let base = Gate::new()
        // On the default branch, so the history is written and validated too.
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_DEFAULT_BRANCH", "main")
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "8",
            "--spawn-rate",
            "50",
            "--run-time",
            "3s",
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
        .run()
        .expect_exit(1);
    let baseline_path = base.out_dir().join("results.json");
    let out = Gate::new()
        // On the default branch, so the history is written and validated too.
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_DEFAULT_BRANCH", "main")
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "8",
            "--spawn-rate",
            "50",
            "--run-time",
            "3s",
            "--progress",
            "0",
            "--baseline",
        ])
        .arg_path(&baseline_path)
        .run()
        .expect_exit(1);
    let validator = schema();
    for results in [base.results(), out.results()] {
        let errors: Vec<String> = validator
            .iter_errors(&results)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    // The second run had a baseline, failures and regressions: every optional part is exercised.
    let r = out.results();
    assert!(r["comparison"].is_object());
    assert_eq!(r["history"].as_array().map(Vec::len), Some(2));
    assert!(
        r["endpoints"][0]["histogram"]["data"]
            .as_str()
            .unwrap()
            .len()
            > 10
    );
    assert!(!r["timeseries"].as_array().unwrap().is_empty());
}

/// The fingerprint is optional: a results.json written before it (a real one, kept as a
/// fixture) still validates, and is still read as a baseline.
#[test]
fn a_results_file_of_the_previous_version_still_validates_and_reads() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/results-v1-without-load.json"
    );
    let old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(old["run"].get("load").is_none());
    let errors: Vec<String> = schema_v1()
        .iter_errors(&old)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let out = Gate::new()
        .args(["report", path, "--out", "again"])
        .run()
        .expect_exit(0);
    assert!(
        out.stdout.contains("reports written to again/"),
        "{}",
        out.stdout
    );
}

/// A regression judged against a history carries its finding; the word of earlier versions
/// still validates.
#[test]
fn a_check_with_a_finding_validates() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/results-v1-without-load.json"
    );
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let check = &mut doc["verdict"]["checks"][0];
    check["finding"] = serde_json::json!({
        "outcome": "below_margin", "change": 2.34, "noise": 0.13, "detectable": 0.21,
        "margin_relative": 0.2, "margin_absolute": 10.0
    });
    check["judgement"] = "within noise".into();
    let v = schema_v1();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    doc["verdict"]["checks"][0]["finding"]["outcome"] = "maybe".into();
    assert!(!v.is_valid(&doc));
}

/// The previous release's results.json (three booleans per check) is re-published by `report`
/// as a v2 file, one state per check: its starved and not-comparable checks are not judged, so
/// `report` exits 5, never 0.
#[test]
fn a_v1_release_file_is_republished_as_v2_and_not_judged() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/results-v1-release.json"
    );
    let out = Gate::new()
        .args(["report", path, "--out", "again"])
        .run()
        .expect_exit(5);
    let text = std::fs::read_to_string(out.dir.path().join("again/results.json")).unwrap();
    let new: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors: Vec<String> = schema()
        .iter_errors(&new)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(new["schema"], "loadforge-gate/results/v2");
    assert_eq!(new["verdict"]["outcome"], "not_judged");
    assert_eq!(new["verdict"]["checks"][3]["reason"], "generator_starved");
    assert_eq!(new["verdict"]["checks"][4]["reason"], "not_comparable");
}

#[test]
fn the_schema_rejects_a_wrong_document() {
    let v = schema();
    assert!(!v.is_valid(&serde_json::json!({"schema": "loadforge-gate/results/v2"})));
    assert!(!v.is_valid(&serde_json::json!({"schema": "something-else"})));
}
