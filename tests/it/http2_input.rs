//! The component's `http2` input (#34): both templates offer it with the values `--http2`
//! takes, hand it to every job that runs load as `LOADFORGE_GATE_HTTP2`, and an input left
//! empty is no setting at all, so a scenario's own `defaults.http2` still decides. Each
//! endpoint's protocol is then in results.json.

use std::collections::BTreeMap;

use loadforge_gate::sample_app::{Knobs, SampleApp};
use serde_json::{json, Value};

use crate::harness::{reasons, Gate};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The spec's inputs and the jobs of a template.
fn template(path: &str) -> (BTreeMap<String, Value>, Value) {
    let text = std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text).unwrap();
    let inputs = docs[0]["spec"]["inputs"].as_object().unwrap().clone();
    (inputs.into_iter().collect(), docs[1].clone())
}

#[test]
fn both_templates_hand_the_http2_input_to_every_job_that_runs_load() {
    for path in [
        "templates/loadforge-gate.yml",
        "templates/loadforge-gate-sharded.yml",
    ] {
        let (inputs, jobs) = template(path);
        let input = &inputs["http2"];
        assert_eq!(input["default"], "", "{path}: empty is not set");
        assert_eq!(
            input["options"],
            json!(["", "auto", "always", "never"]),
            "{path}"
        );
        let loading: Vec<(&String, &Value)> = (jobs.as_object().unwrap().iter())
            .filter(|(_, j)| {
                (j["script"].as_array().into_iter().flatten()).any(|l| {
                    l.as_str()
                        .unwrap_or_default()
                        .starts_with("loadforge-gate run")
                })
            })
            .collect();
        assert!(!loading.is_empty(), "{path}: no job runs load");
        for (name, job) in loading {
            assert_eq!(
                job["variables"]["LOADFORGE_GATE_HTTP2"], "$[[ inputs.http2 ]]",
                "{path}: {name}"
            );
        }
    }
}

/// A scenario that asks for HTTP/2 itself.
const H2_SCENARIO: &str = "defaults: {http2: always, timeout: 2s}\ntasks:\n  - request: {name: GET /health, path: /health, check: {body_contains: ok}}\n";

/// Runs `H2_SCENARIO` for a second against the sample app (cleartext: HTTP/2 by prior
/// knowledge) with `LOADFORGE_GATE_HTTP2` as the template sets it from the input.
fn run_with_input(app: &SampleApp, input: &str) -> Value {
    let out = Gate::new()
        .write("s.yml", H2_SCENARIO)
        .env("LOADFORGE_GATE_HTTP2", input)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "1", "--run-time", "1s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<0.001%"])
        .run();
    let r = out.results();
    assert_eq!(
        r["aggregate"]["failures"],
        0,
        "{input:?}: {:?}",
        reasons(&r)
    );
    out.expect_exit(0);
    r
}

/// Empty (the input's default) leaves the scenario's `http2: always`; `never` overrides it;
/// each endpoint row says what its requests spoke.
#[test]
fn an_empty_input_leaves_the_scenarios_http2_and_a_value_overrides_it() {
    let app = SampleApp::sample_app("127.0.0.1:0", Knobs::default()).unwrap();
    for (input, protocol) in [("", "h2"), ("never", "http/1.1"), ("always", "h2")] {
        let r = run_with_input(&app, input);
        assert_eq!(r["run"]["protocol"], protocol, "{input:?}");
        for e in r["endpoints"].as_array().unwrap() {
            assert_eq!(e["protocol"], protocol, "{input:?}: {e}");
        }
    }
}

/// A value the input's options do not hold (set as a variable by hand) is a one-line error
/// naming the flag, exit 2, before any load.
#[test]
fn a_value_the_flag_does_not_take_is_refused_before_any_load() {
    let out = Gate::new()
        .write("s.yml", H2_SCENARIO)
        .env("LOADFORGE_GATE_HTTP2", "h3")
        .args(["run", "--scenario", "s.yml", "--host", "http://127.0.0.1:9"])
        .run()
        .expect_exit(2);
    let e = out.error_text();
    assert!(e.contains("'h3'") && e.contains("--http2"), "{e}");
}
