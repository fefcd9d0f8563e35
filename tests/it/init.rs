//! `loadforge-gate init`: a first gate from a host and a few paths. The files it writes pass
//! `validate` and run a gate against the sample app with either profile; each path is looked
//! at on the host and a failing one flagged; an unreachable host still gets its files; nothing
//! is overwritten without `--force`; and the include's `pipelines` input follows the project's
//! `.gitlab-ci.yml`.

use std::path::Path;

use loadforge_gate::sample_app::Knobs;
use serde_json::Value;

use crate::harness::{sample_app, Gate, Output};

/// A loopback address where nothing listens: connections are refused at once.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// `init` for the project in `dir`, with `args` after the directory.
fn init(dir: &Path, args: &[&str]) -> Output {
    Gate::new()
        .args(["init", "--dir"])
        .arg_path(dir)
        .args(args)
        .run()
}

/// The include `init` printed, as YAML.
fn printed_include(stdout: &str) -> Value {
    let start = stdout.find("\ninclude:\n").expect("an include") + 1;
    let end = stdout[start..].find("\nNext:").expect("next steps") + start;
    serde_saphyr::from_str(&stdout[start..end]).expect("the include is YAML")
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_files_pass_validate_and_a_failing_path_is_flagged() {
    let app = sample_app(Knobs::default());
    let project = tempfile::tempdir().unwrap();
    let out = init(
        project.path(),
        &[
            "--host",
            &app.url(),
            "--path",
            "/health",
            "--path",
            "/no-such-page",
            "--path",
            "POST /login",
        ],
    )
    .expect_exit(0);
    let line = |path: &str| {
        (out.stdout.lines())
            .find(|l| l.contains(path) && l.starts_with("  "))
            .unwrap_or_else(|| panic!("{path}:\n{}", out.stdout))
            .to_string()
    };
    assert!(line("GET /health").contains("200 OK"), "{}", out.stdout);
    let missing = line("GET /no-such-page");
    assert!(
        missing.contains("FLAGGED") && missing.contains("404"),
        "{missing}"
    );
    assert!(
        line("POST /login").contains("not checked"),
        "{}",
        out.stdout
    );
    let scenario = read(project.path(), "perf/scenario.yml");
    assert_eq!(scenario.matches("- request:").count(), 3, "{scenario}");
    assert!(
        scenario.contains("/no-such-page}  # flagged: answered 404"),
        "{scenario}"
    );

    let config = project.path().join("loadforge-gate.yml");
    for (profile, users) in [("mr-smoke", "5 users"), ("default-branch", "20 users")] {
        let v = Gate::new()
            .args(["validate", "--profile", profile, "--config"])
            .arg_path(&config)
            .run()
            .expect_exit(0);
        assert!(
            v.stdout.contains("3 endpoints") && v.stdout.contains(users),
            "{profile}: {}",
            v.stdout
        );
    }
}

/// The include's load is the profile's: users, spawn-rate and run-time are left out of it,
/// so the component leaves them to the config file's profile.
#[test]
fn the_include_runs_each_profile_with_its_own_load() {
    let project = tempfile::tempdir().unwrap();
    let out = init(project.path(), &["--host", &closed_port()]).expect_exit(0);
    let include = printed_include(&out.stdout);
    let gates = include["include"].as_array().unwrap();
    assert_eq!(gates.len(), 2, "{include}");
    let config: Value =
        serde_saphyr::from_str(&read(project.path(), "loadforge-gate.yml")).unwrap();
    for gate in gates {
        let inputs = &gate["inputs"];
        let profile = &config["profiles"][inputs["profile"].as_str().unwrap()];
        assert!(profile["users"].as_u64().is_some_and(|u| u > 0), "{config}");
        for load in ["users", "spawn-rate", "run-time"] {
            assert!(inputs.get(load).is_none(), "{gate}");
        }
        assert_eq!(inputs["scenario"], config["scenario"], "{gate}");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            (gate["component"].as_str().unwrap()).ends_with(&format!("/loadforge-gate@{version}")),
            "{gate}"
        );
    }
    // The smoke gate keeps the default rules (merge requests and the default branch, its
    // baseline); the longer one runs on the default branch only.
    assert!(gates[0]["inputs"].get("rules").is_none(), "{include}");
    assert_eq!(
        gates[1]["inputs"]["rules"][0]["if"],
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    );
    // Its rules alone decide: any other `pipelines` would add every branch pipeline.
    assert_eq!(gates[1]["inputs"]["pipelines"], "custom", "{include}");
}

#[test]
fn a_gate_runs_with_each_profile_against_the_sample_app() {
    let app = sample_app(Knobs::default());
    let project = tempfile::tempdir().unwrap();
    init(
        project.path(),
        &["--host", &app.url(), "--path", "/", "--path", "/health"],
    )
    .expect_exit(0);
    let config = project.path().join("loadforge-gate.yml");
    for profile in ["mr-smoke", "default-branch"] {
        // Shortened by flags, which win over the profile; the host is the file's.
        let out = Gate::new()
            .args(["run", "--profile", profile, "--config"])
            .arg_path(&config)
            .args(["--run-time", "1s", "--users", "4", "--spawn-rate", "40"])
            .args(["--baseline", "none", "--progress", "0"])
            .run()
            .expect_exit(0);
        let r = out.results();
        assert!(
            r["run"]["target"].as_str().unwrap().starts_with(&app.url()),
            "{profile}: {r}"
        );
        assert!(
            r["aggregate"]["requests"].as_u64() > Some(0),
            "{profile}: {r}"
        );
    }
}

#[test]
fn an_unreachable_host_is_said_once_and_the_files_are_still_written() {
    let project = tempfile::tempdir().unwrap();
    let out = init(
        project.path(),
        &["--host", &closed_port(), "--path", "/a", "--path", "/b"],
    )
    .expect_exit(0);
    assert_eq!(
        out.stdout.matches("did not answer").count(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("refused"), "{}", out.stdout);
    assert!(!out.stdout.contains("FLAGGED"), "{}", out.stdout);
    let scenario = read(project.path(), "perf/scenario.yml");
    assert_eq!(scenario.matches("- request:").count(), 2, "{scenario}");
    assert!(project.path().join("loadforge-gate.yml").is_file());
}

#[test]
fn a_file_that_exists_is_overwritten_only_with_force() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("loadforge-gate.yml");
    std::fs::write(&config, "users: 3\n").unwrap();
    let host = closed_port();
    let out = init(project.path(), &["--host", &host]).expect_exit(2);
    let error = out.one_line_error();
    assert!(
        error.contains("loadforge-gate.yml") && error.contains("--force"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "users: 3\n");
    assert!(!project.path().join("perf").exists(), "nothing was written");

    init(project.path(), &["--host", &host, "--force"]).expect_exit(0);
    assert!(read(project.path(), "loadforge-gate.yml").contains("profiles:"));
}

#[test]
fn a_bad_host_or_path_is_one_line_naming_the_flag() {
    let project = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["--path", "/"], "--host"),
        (vec!["--host", "ftp://h.example"], "--host"),
        (vec!["--host", "https://u:s3cret@h.example"], "--host"),
        (
            vec!["--host", "https://h.example", "--path", "api"],
            "--path `api`",
        ),
    ] {
        let out = init(project.path(), &args).expect_exit(2);
        let error = out.one_line_error();
        assert!(
            error.contains(says) && !error.contains("s3cret"),
            "{args:?}: {error}"
        );
    }
    assert_eq!(std::fs::read_dir(project.path()).unwrap().count(), 0);
}

/// The `pipelines` input as `.gitlab-ci.yml` asks for it, and a warning only for a file that
/// cannot be read.
#[test]
fn the_pipelines_input_follows_the_projects_workflow() {
    let switch = "workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS\n      when: never\n    - if: $CI_COMMIT_BRANCH\ntest:\n  script: [make test]\n";
    let cases: [(&str, Option<&str>, &str, bool); 6] = [
        ("no file", None, "branch", false),
        (
            "no workflow",
            Some("test:\n  script: [make test]\n"),
            "branch",
            false,
        ),
        (
            "branch template",
            Some("include:\n  - template: Workflows/Branch-Pipelines.gitlab-ci.yml\n"),
            "branch",
            false,
        ),
        (
            "merge-request template",
            Some("include:\n  - template: Workflows/MergeRequest-Pipelines.gitlab-ci.yml\n"),
            "merge-request",
            false,
        ),
        ("switch pattern", Some(switch), "merge-request", false),
        (
            "unparsable",
            Some("workflow:\n  rules: [\n"),
            "branch",
            true,
        ),
    ];
    let host = closed_port();
    for (what, file, pipelines, warns) in cases {
        let project = tempfile::tempdir().unwrap();
        if let Some(text) = file {
            std::fs::write(project.path().join(".gitlab-ci.yml"), text).unwrap();
        }
        let out = init(project.path(), &["--host", &host]).expect_exit(0);
        let include = printed_include(&out.stdout);
        // The smoke gate's; the default-branch one runs by its own rules (`custom`).
        let gate = &include["include"][0];
        assert_eq!(
            gate["inputs"]["pipelines"], pipelines,
            "{what}:\n{}",
            out.stdout
        );
        let warning = out
            .stderr
            .lines()
            .filter(|l| l.contains("warning:"))
            .count();
        assert_eq!(warning, usize::from(warns), "{what}: {}", out.stderr);
        if let Some(text) = file {
            assert_eq!(
                read(project.path(), ".gitlab-ci.yml"),
                text,
                "{what}: never edited"
            );
        }
    }
}

/// A `.gitlab-ci.yml` that is no regular file is a warning, never a wait; `--pipelines` says
/// what the file cannot.
#[test]
fn a_hostile_gitlab_ci_file_is_a_warning_and_the_flag_wins() {
    let project = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", project.path().join(".gitlab-ci.yml")).unwrap();
    let out = init(
        project.path(),
        &["--host", &closed_port(), "--pipelines", "merge-request"],
    )
    .expect_exit(0);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    let include = printed_include(&out.stdout);
    assert_eq!(
        include["include"][0]["inputs"]["pipelines"],
        "merge-request"
    );
}

/// A review app's address holds a CI variable: it goes into the include as written (case
/// kept), is not tried, and stays out of the config file, where nothing would fill it in.
#[test]
fn a_host_with_a_ci_variable_goes_into_the_include_unchecked() {
    let project = tempfile::tempdir().unwrap();
    let host = "https://review-$CI_COMMIT_REF_SLUG.example.com";
    let out = init(project.path(), &["--host", host]).expect_exit(0);
    assert!(out.stdout.contains("were not checked"), "{}", out.stdout);
    let include = printed_include(&out.stdout);
    for gate in include["include"].as_array().unwrap() {
        assert_eq!(gate["inputs"]["host"], host);
    }
    let config: Value =
        serde_saphyr::from_str(&read(project.path(), "loadforge-gate.yml")).unwrap();
    assert!(config.get("host").is_none(), "{config}");
    assert!(
        out.stdout.contains("--profile mr-smoke --host URL"),
        "{}",
        out.stdout
    );
}
