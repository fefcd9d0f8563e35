//! k6's own verdicts kept (#32 item 3): a k6 script's `thresholds` and `check()`s become checks
//! of the gate's, one junit case each named as in the script, beside the gate's own rules; k6's
//! exit 99 is a result that fails the verdict through those checks, and what cannot be read
//! never passes. With the real k6 against the sample app (full tier), and with a fake k6 for
//! the summaries a real one does not write (fast tier).

use loadforge_gate::sample_app::Knobs;

use crate::{
    harness::{sample_app, Gate, Output},
    k6::{fake_k6_run, own_script},
};

/// One junit test case: its name, class and whether it failed or erred.
#[derive(Debug, PartialEq)]
struct Case {
    name: String,
    class: String,
    state: &'static str,
}

fn attr(tag: &str, name: &str) -> String {
    let start = tag.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
    let len = tag[start..].find('"').unwrap();
    tag[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The test cases of a junit.xml, as GitLab lists them.
fn cases(junit: &str) -> Vec<Case> {
    junit
        .split("<testcase")
        .skip(1)
        .map(|chunk| {
            let body = chunk.split("</testcase>").next().unwrap();
            let tag = format!(" {}", body.split('>').next().unwrap());
            Case {
                name: attr(&tag, "name"),
                class: attr(&tag, "classname"),
                state: if body.contains("<failure") {
                    "failed"
                } else if body.contains("<error") {
                    "error"
                } else {
                    "passed"
                },
            }
        })
        .collect()
}

fn k6_cases(out: &Output) -> Vec<Case> {
    cases(&out.file("junit.xml"))
        .into_iter()
        .filter(|c| c.class.contains("k6"))
        .collect()
}

fn case(name: &str, class: &str, state: &'static str) -> Case {
    Case {
        name: name.into(),
        class: format!("loadforge-gate.{class}"),
        state,
    }
}

/// Thresholds (one held, one crossed) and checks (one that holds, one in a group that fails):
/// each is a junit case named as in the script, the crossed threshold and the failed check fail
/// the run through the verdict (exit 1, not a crash), and every report lists them.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn the_scripts_thresholds_and_checks_are_checks_of_the_gate() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { check, group, sleep } from 'k6';\n\
export const options = { thresholds: {\n\
  http_req_duration: ['p(95)<10000'],\n\
  http_reqs: ['count>100000000'],\n\
} };\n\
export default function () {\n\
  const r = http.get(`${__ENV.TARGET_HOST}/health`);\n\
  check(r, { 'status is 200': (res) => res.status === 200 });\n\
  group('edge', () => { check(r, { 'status is 418': (res) => res.status === 418 }); });\n\
  sleep(0.2);\n\
}\n";
    let out = own_script("verdicts.js", text, &app.url())
        .args(["--users", "1", "--run-time", "2s"])
        // The gate's own rule holds: what fails is k6's.
        .args(["--threshold", "p95<10s"])
        .run()
        // A verdict, never a crash (3).
        .expect_exit(1);
    assert_eq!(
        k6_cases(&out),
        [
            case(
                "k6 threshold http_req_duration: p(95)<10000",
                "k6-thresholds",
                "passed"
            ),
            case(
                "k6 threshold http_reqs: count>100000000",
                "k6-thresholds",
                "failed"
            ),
            case("k6 check status is 200", "k6-checks", "passed"),
            case("k6 check edge::status is 418", "k6-checks", "failed"),
        ]
    );
    let junit = cases(&out.file("junit.xml"));
    assert_eq!(junit[0], case("threshold: p95<10s", "thresholds", "passed"));
    let r = out.results();
    assert_eq!(r["run"]["k6"]["exit_thresholds_failed"], true);
    assert_eq!(r["verdict"]["outcome"], "failed");
    let failed = &r["run"]["k6"]["checks"][1];
    assert_eq!(
        (&failed["group"], &failed["name"]),
        (&"::edge".into(), &"status is 418".into())
    );
    assert!(failed["fails"].as_u64().unwrap() > 0 && failed["passes"] == 0);
    let summary = out.file("summary.md");
    assert!(
        summary.contains(
            "| ❌ | **http\\_reqs: count&gt;100000000** _(k6 threshold)_ | crossed | not crossed |"
        ),
        "{summary}"
    );
    let line = summary
        .lines()
        .find(|l| l.starts_with("| ❌ | **edge::status is 418** _(k6 check)_ | "))
        .unwrap_or_else(|| panic!("{summary}"));
    let fails = failed["fails"].as_u64().unwrap();
    assert!(
        line.ends_with(&format!("| {fails} failed | none failed |  |")),
        "{line}"
    );
    let html = out.file("report.html");
    assert!(
        html.contains("edge::status is 418 <em>(k6 check)</em>"),
        "{html}"
    );
    assert!(
        out.stdout.contains("✗ k6 check edge::status is 418: "),
        "{}",
        out.stdout
    );
    // Read back, the same verdict decides `report`'s exit.
    let again = Gate::new()
        .args(["report"])
        .arg_path(&out.out_dir().join("results.json"))
        .args(["--out", "again"])
        .run()
        .expect_exit(1);
    assert!(again.dir.path().join("again/junit.xml").is_file());
}

/// k6 exiting 0: every threshold it reports held, and the run passes with them listed.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn thresholds_k6_held_pass() {
    let app = sample_app(Knobs::default());
    let text = "import http from 'k6/http';\nimport { check, sleep } from 'k6';\n\
export const options = { thresholds: { checks: ['rate>0.99'], 'http_req_duration{name:health}': ['p(99)<10000'] } };\n\
export default function () {\n\
  const r = http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: 'health' } });\n\
  check(r, { 'status is 200': (res) => res.status === 200 });\n\
  sleep(0.2);\n\
}\n";
    let out = own_script("ok.js", text, &app.url())
        .args(["--users", "1", "--run-time", "2s"])
        .args(["--threshold", "p95<10s"])
        .run()
        .expect_exit(0);
    assert_eq!(
        k6_cases(&out),
        [
            case("k6 threshold checks: rate>0.99", "k6-thresholds", "passed"),
            case(
                "k6 threshold http_req_duration{name:health}: p(99)<10000",
                "k6-thresholds",
                "passed"
            ),
            case("k6 check status is 200", "k6-checks", "passed"),
        ]
    );
    assert_eq!(out.results()["run"]["k6"]["exit_thresholds_failed"], false);
}

/// A fake k6 that writes `summary` (when given) as its summary export and exits with `code`.
fn fake_summary_run(summary: Option<&str>, code: i32, threshold: &str) -> Output {
    let mut gate = Gate::new();
    if let Some(s) = summary {
        gate = gate.write("summary-src.json", s);
    }
    let body = format!(
        "for a in \"$@\"; do case \"$a\" in --summary-export=*) out=\"${{a#--summary-export=}}\";; esac; done\n\
         if [ -f summary-src.json ]; then cat summary-src.json > \"$out\"; fi\nexit {code}"
    );
    fake_k6_run(gate, &body)
        .args(crate::k6::FAKE_RUN)
        .args(["--baseline", "none", "--threshold", threshold])
        .run()
}

/// The gate's own rule that holds on a run without requests, so k6's verdicts alone decide.
const HOLDS: &str = "requests>=0";

/// Fail closed: k6 says its thresholds failed (99) and its summary is missing, not k6's, or
/// names no crossed threshold: one failed check says so, and the run fails (exit 1).
#[test]
fn exit_99_with_no_readable_failed_threshold_fails_closed() {
    for (summary, why) in [
        (None, "k6 wrote no summary"),
        (Some("{\"metrics\": [oops"), "k6's summary is not k6's JSON"),
        (
            Some(r#"{"metrics":{"http_reqs":{"thresholds":{"count>1":false}}}}"#),
            "its summary names no crossed threshold",
        ),
    ] {
        let out = fake_summary_run(summary, 99, HOLDS).expect_exit(1);
        let cases = k6_cases(&out);
        assert!(
            cases.contains(&case(
                "k6 thresholds failed (unread)",
                "k6-thresholds",
                "failed"
            )),
            "{cases:?}"
        );
        let junit = out.file("junit.xml").replace("&apos;", "'");
        assert!(junit.contains(why), "{junit}");
        assert_eq!(out.results()["verdict"]["outcome"], "failed");
    }
}

/// k6 exiting 0 with a summary that cannot be read: the script's rules are not judged (exit
/// 5), never passed.
#[test]
fn an_unreadable_summary_is_never_a_pass() {
    let out = fake_summary_run(Some("not json"), 0, HOLDS).expect_exit(5);
    assert_eq!(
        k6_cases(&out),
        [case("k6 summary (unread)", "k6-thresholds", "error")]
    );
}

/// A hostile summary: names with control characters and past the length cap, more checks than
/// the cap; the reports stay one line a name, the failed check is kept, and the results file
/// reads back.
#[test]
fn a_hostile_summary_is_quoted_and_capped() {
    let long = "x".repeat(5_000);
    let mut checks: Vec<String> = (0..600)
        .map(|i| format!(r#""c{i}":{{"passes":1,"fails":0}}"#))
        .collect();
    checks.push(r#""evil\n\u001b[2Jline":{"passes":0,"fails":2}"#.into());
    let summary = format!(
        r#"{{"metrics":{{"m\r":{{"thresholds":{{"{long}":true}}}}}},"root_group":{{"checks":{{{}}}}}}}"#,
        checks.join(",")
    );
    let out = fake_summary_run(Some(&summary), 99, HOLDS).expect_exit(1);
    let r = out.results();
    let k6 = &r["run"]["k6"];
    assert_eq!(k6["checks"].as_array().unwrap().len(), 500);
    assert_eq!(k6["left_out"], 101);
    assert!(
        out.file("summary.md")
            .contains("k6's summary listed 101 more thresholds and checks than the gate keeps"),
        "the note says what was left out"
    );
    let names: Vec<&str> = k6["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"evil\\n\\u{1b}[2Jline"), "{names:?}");
    let cases = k6_cases(&out);
    assert!(
        cases.contains(&case(
            "k6 check evil\\n\\u{1b}[2Jline",
            "k6-checks",
            "failed"
        )),
        "{:?}",
        &cases[..3]
    );
    let threshold = &cases[0].name;
    assert!(
        threshold.starts_with("k6 threshold m\\r: xxx"),
        "{threshold}"
    );
    assert!(threshold.chars().count() < 300, "{threshold}");
    assert!(!cases.iter().any(|c| c.name.chars().any(char::is_control)));
    assert!(!cases
        .iter()
        .any(|c| c.name == "k6 thresholds failed (unread)"));
    // `report` reads the file back and decides as the run did.
    Gate::new()
        .args(["report"])
        .arg_path(&out.out_dir().join("results.json"))
        .args(["--out", "again"])
        .run()
        .expect_exit(1);
}

/// A results file read back (`report`, a baseline, a shard) is hostile too: its k6 names are
/// quoted on the way in, and a file with more k6 rules than any run writes is refused, naming
/// the cap.
#[test]
fn results_files_read_back_are_quoted_and_capped() {
    let out = fake_summary_run(Some("{}"), 0, HOLDS).expect_exit(0);
    let mut r = out.results();
    r["run"]["k6"]["checks"] =
        serde_json::json!([{"group": "::g\u{1b}[2J", "name": "a\nb", "passes": 1, "fails": 0}]);
    r["run"]["k6"]["thresholds"] =
        serde_json::json!([{"metric": "m\r", "expression": "x".repeat(1000), "crossed": false}]);
    let again = Gate::new()
        .write("r.json", &r.to_string())
        .args(["report", "r.json", "--out", "again"])
        .run()
        .expect_exit(0);
    let text = std::fs::read_to_string(again.dir.path().join("again/results.json")).unwrap();
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    let k6 = &back["run"]["k6"];
    assert_eq!(k6["checks"][0]["group"], "::g\\u{1b}[2J");
    assert_eq!(k6["checks"][0]["name"], "a\\nb");
    assert_eq!(k6["thresholds"][0]["metric"], "m\\r");
    let expression = k6["thresholds"][0]["expression"].as_str().unwrap();
    assert_eq!(expression.chars().count(), 200, "{expression}");
    let check = serde_json::json!({"name": "c", "passes": 1, "fails": 0});
    r["run"]["k6"]["checks"] = vec![check; loadforge_gate::stats::MAX_FILE_K6_RULES + 1].into();
    let gate = Gate::new().write("r.json", &r.to_string());
    let refused = gate.args(["report", "r.json"]).run().expect_exit(2);
    assert!(
        refused.error_line().contains("k6 thresholds and checks"),
        "{}",
        refused.stderr
    );
}

/// The issue's whole path for a k6 team: the script with its own threshold and check, in a
/// merge-request pipeline, judged against the previous pipeline's k6 run (the target branch's
/// at the merge base, from the fake GitLab). The second run is 80 ms slower on every request:
/// the note, updated in place, shows the endpoint's change and the regression, and junit holds
/// the script's threshold and check beside the gate's rules.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn a_k6_merge_request_is_judged_against_the_previous_pipelines_k6_run() {
    use crate::{
        fake_gitlab::{FakeGitlab, PRIVATE_TOKEN},
        gitlab::{mr_env, BASE_SHA, MR},
    };
    let _quiet = crate::harness::quiet();
    let gl = FakeGitlab::start();
    let (app, extra) = crate::harness::adjustable_app(2);
    let script = "import http from 'k6/http';\nimport { check } from 'k6';\n\
export const options = { thresholds: { http_req_duration: ['p(95)<10000'] } };\n\
export default function () {\n\
  const res = http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: 'GET /health' } });\n\
  check(res, { 'status is 200': (r) => r.status === 200 });\n\
}\n";
    let run = || {
        let gate = mr_env(&gl).write("perf.js", script);
        let path = gate.path().join("perf.js").display().to_string();
        gate.env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
            .args(["run", "--engine", "k6", "--k6-script", &path])
            .args(["--k6-bin", &crate::k6::k6_bin(), "--host", &app.url()])
            .args(["--users", "4", "--run-time", "3s", "--progress", "0"])
            .run()
    };
    let first = run().expect_exit(5);
    gl.add_pipeline(
        "main",
        BASE_SHA,
        "success",
        "perf",
        Some(&first.file("results.json")),
    );
    extra.set(std::time::Duration::from_millis(80));
    let second = run().expect_exit(1);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "one note, updated in place");
    let body = &notes[0].body;
    assert!(body.contains("GET /health"), "{body}");
    assert!(body.contains("🔺"), "the endpoint's change: {body}");
    assert!(body.contains("_(regression)_"), "{body}");
    let names: Vec<String> = cases(&second.file("junit.xml"))
        .into_iter()
        .map(|c| c.name)
        .collect();
    for name in [
        "k6 threshold http_req_duration: p(95)<10000",
        "k6 check status is 200",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("regression: p95")),
        "{names:?}"
    );
}
