//! The bad-input table: every input that once panicked, allocated without bound or passed
//! silently, plus the bad inputs docs/limits.md names, each run through the real binary. A row
//! names its input, the exit code it must give and a fragment of the one-line error; `run` and
//! `validate` must refuse the same inputs with the same words; no output may hold a panic.
//!
//! Each row's full text is pinned by a snapshot (`snapshots/it__bad_input_table__usage_*`).

use crate::harness::{example, Gate, Output};

/// Files every row may refer to.
const FIXTURES: &[(&str, &str)] = &[
    ("s.yml", "tasks: [{request: {path: /}}]\n"),
    (
        "weights.yml",
        "tasks:\n  - {weight: 4294967295, request: {path: /a}}\n  - {weight: 2, request: {path: /b}}\n",
    ),
    ("broken.yml", "tasks:\n  - request: {path: /\n  - oops\n"),
    (
        "typo.yml",
        "tasks:\n  - request:\n      path: /\n      metod: GET\n",
    ),
    (
        "unset_env.yml",
        "tasks:\n  - request: {path: \"/${env.LFG_TABLE_UNSET}\"}\n",
    ),
    ("huge_wait.yml", "wait: 1e20\ntasks: [{request: {path: /}}]\n"),
    (
        "huge_timeout.yml",
        "tasks: [{request: {path: /, timeout: 1e20}}]\n",
    ),
    (
        "huge_sleep.yml",
        "tasks:\n  - steps:\n      - sleep: 1e20\n      - request: {path: /}\n",
    ),
    ("old.json", r#"{"schema": "loadforge-gate/results/v0"}"#),
    (
        "cookie_without_jar.yml",
        "defaults: {cookies: false}\ntasks: [{request: {path: /, extract: {s: 'cookie:sid'}}}]\n",
    ),
    (
        "set_cookies_without_jar.yml",
        "defaults: {cookies: false}\ntasks: [{steps: [{set_cookies: {a: b}}]}]\n",
    ),
    (
        "two_bodies.yml",
        "tasks: [{request: {path: /, json: {}, form: {a: b}}}]\n",
    ),
    ("profiles.yml", "profiles:\n  smoke: {users: 1}\n"),
];

/// Usage errors: the arguments after `run`/`validate` (a harmless scenario and host are added
/// unless the row gives its own), and a fragment of the one-line error.
const USAGE_ERRORS: &[(&str, &[&str], &str)] = &[
    ("unknown flag", &["--userz", "3"], "--userz"),
    ("non-numeric users", &["--users", "many"], "--users"),
    ("unknown metric", &["--threshold", "p42x<1s"], "p42x"),
    (
        "threshold without a unit",
        &["--threshold", "p95<fast"],
        "p95<fast",
    ),
    (
        "threshold with two comparisons",
        &["--threshold", "p95<<3"],
        "`<3` is not a number",
    ),
    (
        "error rate past 100%",
        &["--threshold", "error_rate<150%"],
        "more than 100%",
    ),
    (
        "malformed regression",
        &["--regression", "p95 +lots"],
        "p95 +lots",
    ),
    (
        "regression without a sign",
        &["--regression", "p95 20%"],
        "+ (growth)",
    ),
    (
        "selector matching nothing",
        &["--threshold", "GET /nope: p95<1s"],
        "GET /nope",
    ),
    (
        "scenario missing",
        &["--scenario", "missing.yml"],
        "missing.yml",
    ),
    ("yaml syntax error", &["--scenario", "broken.yml"], "line"),
    (
        "unknown scenario field",
        &["--scenario", "typo.yml"],
        "metod",
    ),
    (
        "unset env template",
        &["--scenario", "unset_env.yml"],
        "LFG_TABLE_UNSET",
    ),
    ("host not a url", &["--host", "not a url"], "--host"),
    (
        "host not http",
        &["--host", "ftp://example.com"],
        "must be an http:// or https:// URL",
    ),
    (
        "url credentials",
        &["--host", "http://user:pass@127.0.0.1:9"],
        "--host",
    ),
    ("zero run time", &["--run-time", "0s"], "--run-time"),
    (
        "run time in parsecs",
        &["--run-time", "5 parsecs"],
        "unknown unit `parsecs`",
    ),
    ("run time 1e20", &["--run-time", "1e20"], "--run-time"),
    ("warmup 1e20", &["--warmup", "1e20"], "--warmup"),
    ("ramp 1e20", &["--rate", "5", "--ramp", "1e20"], "--ramp"),
    (
        "start delay 1e20",
        &["--start-delay", "1e20"],
        "--start-delay",
    ),
    (
        "abort-on-fail 1e20",
        &["--threshold", "error_rate<1% abort-on-fail=1e20"],
        "abort-on-fail",
    ),
    (
        "progress u64::MAX",
        &["--progress", "18446744073709551615"],
        "--progress",
    ),
    (
        "spawn rate 1e-20",
        &["--spawn-rate", "1e-20"],
        "--spawn-rate",
    ),
    ("rate 1e-20", &["--rate", "1e-20"], "--rate"),
    ("a billion users", &["--users", "1000000000"], "--users"),
    (
        "weights past u32",
        &["--scenario", "weights.yml"],
        "task weights",
    ),
    (
        "scenario wait 1e20",
        &["--scenario", "huge_wait.yml"],
        "wait",
    ),
    (
        "request timeout 1e20",
        &["--scenario", "huge_timeout.yml"],
        "timeout",
    ),
    ("sleep 1e20", &["--scenario", "huge_sleep.yml"], "sleep"),
    (
        "cookie extraction without the jar",
        &["--scenario", "cookie_without_jar.yml"],
        "tasks[0].request.extract.s: `cookie:` extraction needs the cookie jar; remove `defaults.cookies: false`",
    ),
    (
        "set_cookies without the jar",
        &["--scenario", "set_cookies_without_jar.yml"],
        "tasks[0].steps[0].set_cookies: `set_cookies` needs the cookie jar",
    ),
    (
        "two bodies",
        &["--scenario", "two_bodies.yml"],
        "tasks[0].request: give one of `json`, `body`, `form` or `multipart`, not several",
    ),
    (
        "baseline of schema v0",
        &["--baseline", "old.json"],
        "results/v0",
    ),
    (
        "baseline missing",
        &["--baseline", "missing.json"],
        "missing.json",
    ),
    (
        "unknown profile",
        &["--config", "profiles.yml", "--profile", "soak"],
        "soak",
    ),
    (
        "profile without config",
        &["--profile", "smoke"],
        "--profile smoke",
    ),
    (
        "stop timeout u64::MAX",
        &[
            "--engine",
            "locust",
            "--locustfile",
            "l.py",
            "--stop-timeout",
            "18446744073709551615",
        ],
        "--stop-timeout",
    ),
    (
        "max wait 1e20",
        &["--engine", "loadforge", "--max-wait", "1e20"],
        "--max-wait",
    ),
    (
        "zero max wait",
        &["--engine", "loadforge", "--max-wait", "0s"],
        "--max-wait",
    ),
    (
        "loadforge url credentials",
        &[
            "--engine",
            "loadforge",
            "--loadforge-url",
            "https://deploy:hunter2@api.loadforge.example",
        ],
        "--loadforge-url",
    ),
    (
        "loadforge url not http",
        &["--engine", "loadforge", "--loadforge-url", "ftp://api.example"],
        "must be an http:// or https:// URL",
    ),
    (
        "zero poll interval",
        &["--engine", "loadforge", "--poll-interval", "0"],
        "--poll-interval",
    ),
    (
        "zero workers max wait",
        &[
            "--engine",
            "locust",
            "--locustfile",
            "l.py",
            "--workers-max-wait",
            "0",
        ],
        "--workers-max-wait",
    ),
];

/// A gate in a directory holding every fixture, with a LoadForge token and test id (closed
/// port) so LoadForge rows fail on their flag, not on a missing credential.
fn gate() -> Gate {
    let mut gate = Gate::new()
        .env("CI_PIPELINE_CREATED_AT", "2026-11-29T10:00:00Z")
        .env("LOADFORGE_API_TOKEN", "lf-table-token")
        .env("LOADFORGE_TEST_ID", "42")
        .env("LOADFORGE_GATE_LOADFORGE_URL", "http://127.0.0.1:9");
    for (name, text) in FIXTURES {
        gate = gate.write(name, text);
    }
    gate
}

fn usage_error(command: &str, extra: &[&str]) -> Output {
    let mut args = vec![command];
    if !extra.contains(&"--scenario") && !extra.contains(&"--engine") {
        args.extend(["--scenario", "s.yml"]);
    }
    if !extra.contains(&"--host") {
        args.extend(["--host", "http://127.0.0.1:9"]);
    }
    gate()
        .args(args)
        .args(extra)
        .args(["--progress", "0"])
        .run()
}

#[test]
fn every_usage_error_is_one_line_exit_2_in_run_and_validate() {
    for (name, extra, fragment) in USAGE_ERRORS {
        let mut texts = Vec::new();
        for command in ["run", "validate"] {
            let out = usage_error(command, extra);
            assert_eq!(out.code, 2, "{name} ({command}): {}", out.stderr);
            let line = out.error_text().to_string();
            assert!(
                line.contains(fragment),
                "{name} ({command}): `{fragment}` not in {line}"
            );
            assert!(
                !line.contains("hunter2"),
                "{name}: a credential printed: {line}"
            );
            assert!(
                !out.out_dir().join("results.json").exists(),
                "{name}: load ran on a usage error"
            );
            texts.push(out.error_snapshot());
        }
        assert_eq!(texts[0], texts[1], "{name}: run and validate disagree");
        // The whole text (message and causes) is pinned, so a message cannot decay unnoticed.
        insta::assert_snapshot!(format!("usage_{}", name.replace(' ', "_")), texts[0]);
    }
}

/// Files other jobs wrote, read by `compare`, `report` and `merge`: each is refused (or
/// re-published) with a clear line, never a panic.
#[test]
fn files_from_other_jobs_are_refused_or_published_without_a_panic() {
    let good = good_results();
    let rows: Vec<(&str, Vec<&str>, String, i32, &str)> = vec![
        (
            "non-ASCII commit in a baseline",
            vec![
                "run",
                "--scenario",
                "s.yml",
                "--host",
                "http://127.0.0.1:9",
                "--run-time",
                "1s",
                "--threshold",
                "error_rate<=100%",
                "--baseline",
                "b.json",
            ],
            good.clone(),
            // Another target than the baseline's: not comparable, so not judged.
            5,
            "",
        ),
        (
            "negative duration",
            vec!["report", "r.json"],
            edit(&good, |d| d["run"]["duration_s"] = (-5.0).into()),
            0,
            "",
        ),
        (
            "not JSON",
            vec!["compare", "r.json", "r.json"],
            "{\"schema\": ".to_string(),
            2,
            "r.json",
        ),
        (
            "a results file of another schema",
            vec!["compare", "r.json", "r.json"],
            r#"{"schema": "loadforge-gate/results/v0"}"#.to_string(),
            2,
            "results/v0",
        ),
        (
            "a shard without its shard header",
            vec!["merge", "r.json", "--baseline", "none"],
            good.clone(),
            2,
            "r.json",
        ),
    ];
    for (name, args, doc, code, fragment) in rows {
        let out = gate()
            .write("r.json", &doc)
            .write(
                "b.json",
                &edit(&good, |d| d["ci"]["commit_sha"] = "ééééééééééé".into()),
            )
            .args(&args)
            .run();
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        assert_eq!(out.code, code, "{name}: {}", out.stderr);
        if code == 2 {
            let line = out.error_text();
            assert!(
                line.contains(fragment),
                "{name}: `{fragment}` not in {line}"
            );
        } else {
            for f in crate::harness::REPORTS {
                assert!(out.out_dir().join(f).is_file(), "{name}: {f} missing");
            }
        }
    }
}

/// A real results.json, from a short run against a closed port (every request fails, which is
/// still a complete document).
fn good_results() -> String {
    gate()
        .args(["run", "--scenario", &example("shop-cart.yml")])
        .args(["--host", "http://127.0.0.1:9", "--run-time", "1s"])
        .args([
            "--progress",
            "0",
            "--baseline",
            "none",
            "--threshold",
            "error_rate<=100%",
        ])
        .run()
        .expect_exit(0)
        .file("results.json")
}

fn edit(doc: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(doc).expect("results.json is JSON");
    change(&mut v);
    v.to_string()
}
