//! Generator health end to end: every native run records `run.generator`, and a run whose
//! generator was starved turns a failed latency regression into exit 5. The starvation is
//! injected (`LOADFORGE_GATE_TEST_HICCUP_MS`, read by debug builds only), never produced, so
//! the verdict does not depend on this machine's load (a hook of 0 stands in for a healthy one).

use std::time::Duration;

use crate::harness::{adjustable_app, Gate, Output};

const RULE: &str = "p99 +10%";

fn run(host: &str, baseline: Option<&str>, hiccup_ms: Option<&str>) -> Output {
    let mut gate = Gate::new()
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml"])
        .args(["--host", host, "--users", "4", "--spawn-rate", "50"])
        .args(["--run-time", "2s", "--progress", "0"])
        .args(["--threshold", "error_rate<1%", "--regression", RULE]);
    if let Some(ms) = hiccup_ms {
        gate = gate.env("LOADFORGE_GATE_TEST_HICCUP_MS", ms);
    }
    match baseline {
        Some(text) => gate
            .write("base.json", text)
            .args(["--baseline", "base.json"])
            .run(),
        None => gate.args(["--baseline", "none"]).run(),
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_starved_generator_makes_a_latency_regression_not_judged_and_exits_5() {
    let (app, extra) = adjustable_app(10);
    let base = run(&app.url(), None, Some("0")).expect_exit(0);
    let g = &base.results()["run"]["generator"];
    assert_eq!(g["measured"], "native", "{g}");
    assert!(g["runtime_hiccup"]["samples"].as_u64().unwrap() > 0, "{g}");
    assert!(g["cpu_allowance"].as_f64().unwrap() > 0.0, "{g}");
    assert!(base
        .file("summary.md")
        .contains("Load generator: healthy ("));

    // The app is slower: with a healthy generator, a regression (exit 1)...
    extra.set(Duration::from_millis(60));
    let baseline = base.file("results.json");
    run(&app.url(), Some(&baseline), Some("0")).expect_exit(1);
    // ...with a starved one, not judged (exit 5), with the figures, flagged in the history.
    let starved = run(&app.url(), Some(&baseline), Some("50")).expect_exit(5);
    let results = starved.results();
    let check = results["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["expression"] == RULE)
        .unwrap();
    assert_eq!(check["reason"], "generator_starved", "{check}");
    let why = check["detail"].as_str().unwrap();
    assert!(
        why.starts_with("not judged (load generator starved: runtime hiccups p99 50.0 ms"),
        "{why}"
    );
    let summary = starved.file("summary.md");
    assert!(
        summary.contains("_(**not judged**: generator starved)_"),
        "{summary}"
    );
    assert!(summary.contains("**Load generator STARVED"), "{summary}");
    assert!(starved.stdout.contains("NOT JUDGED"), "{}", starved.stdout);
    let flag = results["history"][0]["flagged"]
        .as_str()
        .unwrap_or_default();
    assert!(flag.starts_with("load generator starved"), "{flag}");

    // Error rates are judged as before: a failing one fails the gate, starved or not.
    // (Nothing listens on port 9 of the loopback: every request fails.)
    let failing = Gate::new()
        .env("LOADFORGE_GATE_TEST_HICCUP_MS", "50")
        .write("s.yml", "tasks: [{request: {path: /health}}]\n")
        .args(["run", "--scenario", "s.yml", "--baseline", "none"])
        .args([
            "--host",
            "http://127.0.0.1:9",
            "--users",
            "2",
            "--spawn-rate",
            "50",
        ])
        .args(["--run-time", "1s", "--progress", "0"])
        .args(["--threshold", "error_rate<1%"])
        .run();
    failing.expect_exit(1);
}
