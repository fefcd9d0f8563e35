//! k6's protocol in the load fingerprint (#34): the real k6 against the sample app over HTTPS
//! on loopback, which offers h2 and http/1.1 by ALPN. Go's HTTP client speaks h2 there unless
//! `GODEBUG=http2client=0` turns it off, so one server and one script give a run of each
//! protocol. A baseline of one protocol and a run of the other are another load: every
//! regression check is *not judged: not comparable*, never passed, in either order, with the
//! native engine's words.

use loadforge_gate::sample_app::{Knobs, SampleApp};

use crate::{
    harness::{Gate, Output},
    k6::k6_bin,
};

/// One request a second per user; k6 trusts the sample app's private CA by skipping the check
/// (k6 has no option for a CA of its own).
const SCRIPT: &str = r#"import http from 'k6/http';
import { sleep } from 'k6';
export const options = { insecureSkipTLSVerify: true };
export default function () {
  http.get(`${__ENV.TARGET}/health`, { tags: { name: 'GET /health' } });
  sleep(0.2);
}
"#;

/// A short k6 run against `host`, over HTTP/2 when `h2`, else HTTP/1.1; on the default branch
/// without a baseline, or in a merge request against `baseline`.
fn run(host: &str, h2: bool, baseline: Option<&str>) -> Output {
    let godebug = if h2 { "http2client=1" } else { "http2client=0" };
    let gate = Gate::new().write("s.js", SCRIPT);
    let script = gate.path().join("s.js").display().to_string();
    let gate = gate
        .args([
            "run",
            "--engine",
            "k6",
            "--k6-script",
            &script,
            "--host",
            host,
        ])
        .args(["--k6-bin", &k6_bin(), "--progress", "0"])
        .env("GODEBUG", godebug)
        .env("TARGET", host)
        .env("CI_DEFAULT_BRANCH", "main")
        .args(["--users", "2", "--spawn-rate", "50", "--run-time", "2s"])
        .args(["--regression", "p95 +20% +50ms"]);
    match baseline {
        None => gate
            .env("CI_COMMIT_BRANCH", "main")
            .args(["--baseline", "none"])
            .run(),
        Some(text) => gate
            .env("CI_MERGE_REQUEST_IID", "7")
            .write("base.json", text)
            .args(["--baseline", "base.json"])
            .run(),
    }
}

/// The protocol each side recorded, then the run against the other's baseline: not comparable,
/// with the one difference named.
fn assert_not_comparable(baseline_h2: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _ca) =
        SampleApp::sample_app_tls("127.0.0.1:0", Knobs::default(), dir.path()).unwrap();
    let word = |h2: bool| if h2 { "h2" } else { "http/1.1" };
    let label = |h2: bool| if h2 { "HTTP/2" } else { "HTTP/1.1" };
    let base = run(&app.url(), baseline_h2, None).expect_exit(0);
    let h2 = !baseline_h2;
    let out = run(&app.url(), h2, Some(&base.file("results.json")));
    assert!(
        out.out_dir().join("results.json").is_file(),
        "{}",
        out.stderr
    );
    let r = out.results();
    assert_eq!(r["comparison"]["load"], "different", "{}", out.stderr);
    let difference = format!("protocol {} → {}", label(baseline_h2), label(h2));
    assert_eq!(
        r["comparison"]["load_differences"],
        serde_json::json!([difference])
    );
    let checks: Vec<&serde_json::Value> = (r["verdict"]["checks"].as_array().unwrap().iter())
        .filter(|c| c["kind"] == "regression")
        .collect();
    assert!(!checks.is_empty());
    for c in checks {
        assert_eq!(c["state"], "not_judged", "{c}");
        assert_eq!(c["reason"], "not_comparable", "{c}");
    }
    assert!(
        out.file("summary.md")
            .contains(&format!("> - {difference}")),
        "{}",
        out.file("summary.md")
    );
    let out = out.expect_exit(5);
    let b = base.results();
    assert_eq!(b["run"]["protocol"], word(baseline_h2), "{}", base.stderr);
    assert_eq!(b["run"]["load"]["protocol"], word(baseline_h2));
    assert_eq!(out.results()["run"]["protocol"], word(h2));
    assert_eq!(r["run"]["load"]["protocol"], word(h2));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_k6_run_over_h2_is_not_comparable_with_an_http1_baseline() {
    assert_not_comparable(false);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_k6_run_over_http1_is_not_comparable_with_an_h2_baseline() {
    assert_not_comparable(true);
}
