//! Which previous run a pipeline is compared with, in GitLab as it really is, and what the
//! gate says when there is none: the job name, ref, project and token it looked up with, and
//! the cause as far as the token lets GitLab tell.

use axum::http::Method;

use crate::{
    fake_gitlab::{FakeGitlab, PipelineSpec, Visibility, FORK, PRIVATE_TOKEN, PROJECT},
    gitlab::{as_fork, branch_env, mr_env},
    harness::{json, slow_app, Gate, Output},
};

/// A scenario of one endpoint, so that runs are short and alike.
const SCENARIO: &str = "tasks: [{request: {path: /health}}]\n";

/// `gate` running the one-endpoint scenario against `host` for a second.
pub(crate) fn short_run(gate: Gate, host: &str) -> Gate {
    gate.write("s.yml", SCENARIO)
        .args(["run", "--scenario", "s.yml", "--host", host])
        .args(["--users", "1", "--run-time", "1s", "--progress", "0"])
}

/// A results.json of job `perf`, as a default-branch pipeline would have kept it.
fn earlier_results(host: &str) -> String {
    short_run(Gate::new(), host)
        .args(["--baseline", "none"])
        .run()
        .expect_exit(0)
        .file("results.json")
}

/// The notes of a run, as one text.
fn notes(out: &Output) -> String {
    out.results()["notes"].to_string()
}

/// The baseline a run was compared with, if any.
fn source(out: &Output) -> String {
    out.results()["comparison"]["source"]
        .as_str()
        .unwrap_or("(none)")
        .to_string()
}

fn mr_run(gl: &FakeGitlab, host: &str, api_token: bool) -> Output {
    let mut g = short_run(mr_env(gl), host);
    if api_token {
        g = g.env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN);
    }
    by_baseline(g.run())
}

/// The merge request's merge base on `main`, and the later head of `main` that a merged-results
/// pipeline merged it onto (full SHAs: GitLab's `sha` filter matches them exactly).
const MERGE_BASE: &str = "b45e000000000000000000000000000000000001";
const TARGET_HEAD: &str = "7a46e70000000000000000000000000000000002";

/// A merge-request pipeline of `event` (`detached`, `merged_result`, `merge_train`) as GitLab
/// sets its variables: the target's head only in merged results and trains
/// (doc/ci/variables/predefined_variables.md).
fn event_run(gl: &FakeGitlab, host: &str, event: &str, api_token: bool) -> Output {
    let head = if event == "detached" { "" } else { TARGET_HEAD };
    let mut g = short_run(mr_env(gl), host)
        .env("CI_MERGE_REQUEST_EVENT_TYPE", event)
        .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", MERGE_BASE)
        .env("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", head);
    if api_token {
        g = g.env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN);
    }
    // Which run is the baseline is the point, not the verdict: with three runs on `main` there
    // is a noise band, which a busy machine can make too noisy to judge (exit 5).
    let out = g.run();
    assert!(
        matches!(out.code, 0 | 1 | 5) && out.results()["comparison"]["source"].is_string(),
        "exit {}, no baseline:\n{}",
        out.code,
        out.stderr
    );
    out
}

/// When the baseline run started, which tells the runs of `main` apart.
fn started(results: &str) -> String {
    json(results)["run"]["started_at"].to_string()
}

/// The start of the run a merge request was compared with.
fn compared_with(out: &Output) -> String {
    out.results()["comparison"]["baseline_started_at"].to_string()
}

/// `main` at the merge base, at the target's head and one push later, each with its own `perf`
/// run; their pipeline ids.
fn main_at_base_head_and_later(gl: &FakeGitlab, host: &str) -> (u64, u64, String) {
    let (at_base, at_head) = (earlier_results(host), earlier_results(host));
    let base = gl.add_pipeline("main", MERGE_BASE, "success", "perf", Some(&at_base));
    let head = gl.add_pipeline("main", TARGET_HEAD, "success", "perf", Some(&at_head));
    gl.add_pipeline("main", "1a7e400000000", "success", "perf", Some(&at_base));
    (base, head, started(&at_head))
}

/// A merged-results or merge-train pipeline tests the merge request merged onto the target's
/// head, so it is compared with the head's run, as GitLab compares merged results (not with
/// the merge base's, which would charge the merge request with what `main` gained since, nor
/// with a later push's); a detached pipeline, the source branch alone, keeps the merge base.
#[test]
fn a_merged_results_pipeline_is_compared_with_the_target_heads_run() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let (base, head, head_run) = main_at_base_head_and_later(&gl, &app.url());
    for event in ["merged_result", "merge_train"] {
        let out = event_run(&gl, &app.url(), event, true);
        assert_eq!(
            source(&out),
            format!("pipeline #{head} on main at 7a46e700, the target's head"),
            "{event}"
        );
        assert_eq!(compared_with(&out), head_run, "{event}");
        assert!(!notes(&out).contains("may not be"), "{}", notes(&out));
    }
    let out = event_run(&gl, &app.url(), "detached", true);
    assert_eq!(
        source(&out),
        format!("pipeline #{base} on main at the merge base b45e0000")
    );
    assert_ne!(compared_with(&out), head_run);
}

/// The target's head has no run of the job (its pipeline skipped it, or has not finished):
/// the nearest older run on `main` is the baseline, never a later push's, and the report says
/// so.
#[test]
fn a_target_head_without_the_job_gives_the_nearest_older_run_said_so() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let (older, nearest) = (earlier_results(&app.url()), earlier_results(&app.url()));
    gl.add_pipeline("main", MERGE_BASE, "success", "perf", Some(&older));
    let before = gl.add_pipeline("main", "5ec0d00000000", "success", "perf", Some(&nearest));
    gl.add_pipeline("main", TARGET_HEAD, "success", "docs", None);
    gl.add_pipeline("main", "1a7e400000000", "success", "perf", Some(&older));
    let said = format!(
        "pipeline #{before} on main, the nearest run before the target's head 7a46e700, which had none"
    );
    let out = event_run(&gl, &app.url(), "merged_result", true);
    assert_eq!(source(&out), said);
    assert_eq!(compared_with(&out), started(&nearest));

    // Not finished yet: its `perf` job still running.
    gl.with(|s| {
        let p = s
            .pipelines
            .iter_mut()
            .find(|p| p.sha == TARGET_HEAD)
            .unwrap();
        p.status = "running".into();
        p.jobs[0].name = "perf".into();
        p.jobs[0].status = "running".into();
    });
    let out = event_run(&gl, &app.url(), "merged_result", true);
    assert_eq!(source(&out), said);
}

/// Only the API token looks up the run at a commit: with the job token alone, a merged-results
/// pipeline gets the latest successful run of `main` (the by-ref lookup), and the report says
/// it may not be the target's head.
#[test]
fn a_merged_results_pipeline_with_the_job_token_alone_says_the_baseline_may_not_be_the_head() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    main_at_base_head_and_later(&gl, &app.url());
    let out = event_run(&gl, &app.url(), "merged_result", false);
    assert_eq!(
        source(&out),
        "the latest successful pipeline on main with `perf` results"
    );
    let text = notes(&out);
    assert!(
        text.contains("This merged-results pipeline tests the merge request merged onto `main` at 7a46e700, the target's head; the baseline is the latest successful run on `main`, which may not be the target's head: only LOADFORGE_GATE_GITLAB_TOKEN can look up the run at that commit."),
        "{text}"
    );
}

/// A merge request's run that found a baseline is judged against it (0, or 1 or 5 "too noisy"
/// when this busy machine made the one-second run slower or its history noisier: what is
/// tested here is which baseline, not the verdict), and one that did not exits 5 (not judged:
/// no baseline yet): never 0 with its regression rules unjudged.
#[track_caller]
fn by_baseline(out: Output) -> Output {
    let found = out.results()["comparison"]["source"].is_string();
    let checks = out.results()["verdict"]["checks"].to_string();
    match found {
        true => {
            assert!(
                matches!(out.code, 0 | 1 | 5),
                "{}\n{}",
                out.stdout,
                out.stderr
            );
            assert!(!checks.contains(r#""reason":"no_baseline""#), "{checks}");
        }
        false => assert_eq!(out.code, 5, "{}\n{}", out.stdout, out.stderr),
    }
    if !found {
        let checks = out.results()["verdict"]["checks"].to_string();
        assert!(checks.contains(r#""reason":"no_baseline""#), "{checks}");
    }
    out
}

/// gitlab-org/gitlab#349316: a newer successful pipeline on `main` that did not run `perf`
/// hides the older artifact from the by-ref lookup, unless GitLab searches the recent
/// pipelines (the raw file endpoint: 18.9 with a flag, 18.10 on). Before that, a job token
/// that may list pipelines finds the older run itself; one GitLab refuses there can only say
/// so; an API token finds it on any GitLab, and each says why it is not the latest.
#[test]
fn a_newer_pipeline_without_the_job_hides_the_baseline_from_the_job_token_only() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let older = gl.add_pipeline(
        "main",
        "a1",
        "success",
        "perf",
        Some(&earlier_results(&app.url())),
    );
    gl.add_pipeline("main", "a2", "success", "docs", None);

    // GitLab 18.10 on searches the recent pipelines when asked to, and the gate asks.
    let out = mr_run(&gl, &app.url(), false);
    assert_eq!(
        source(&out),
        "the latest successful pipeline on main with `perf` results"
    );
    let by_ref = gl
        .log()
        .into_iter()
        .find(|l| l.path.contains("/raw/"))
        .unwrap();
    assert!(by_ref
        .query
        .contains("search_recent_successful_pipelines=true"));

    // Before 18.10, the job token lists the pipelines where GitLab lets it.
    gl.with(|s| s.before_18_10 = true);
    let skipped = format!(
        "pipeline #{older} on main; the 1 newer successful pipeline(s) did not keep `perf` results"
    );
    let out = mr_run(&gl, &app.url(), false);
    assert!(source(&out).contains(&skipped), "{}", source(&out));
    assert!(
        notes(&out).contains("Baseline found with CI_JOB_TOKEN"),
        "{}",
        notes(&out)
    );

    // A GitLab whose lists do not take the job token: nothing found, said so.
    gl.with(|s| s.lists_ignore_job_token = true);
    let out = mr_run(&gl, &app.url(), false);
    let text = notes(&out);
    assert!(
        text.contains("No baseline yet: no `perf` results on `main` in project 42, looked up with CI_JOB_TOKEN"),
        "{text}"
    );
    assert!(
        text.contains("LOADFORGE_GATE_GITLAB_TOKEN is not set in this pipeline (missing, or a protected variable"),
        "{text}"
    );
    let summary = out.file("summary.md");
    assert!(
        summary.contains(r"looked up with CI\_JOB\_TOKEN"),
        "{summary}"
    );

    let out = mr_run(&gl, &app.url(), true);
    assert!(source(&out).contains(&skipped), "{}", source(&out));
    assert!(
        notes(&out).contains("Baseline found with LOADFORGE_GATE_GITLAB_TOKEN"),
        "{}",
        notes(&out)
    );
}

#[test]
fn a_job_that_ran_only_in_merge_request_pipelines_is_named_as_the_cause() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let results = earlier_results(&app.url());
    let mr_pipeline = gl.with(|s| {
        s.add_pipeline_to(
            PROJECT,
            PipelineSpec {
                ref_name: "refs/merge-requests/7/head",
                sha: "m1",
                status: "success",
                source: "merge_request_event",
                tag: false,
                job: "perf",
                results: Some(&results),
            },
        )
    });
    gl.add_pipeline("main", "a1", "success", "build", None);
    let text = notes(&mr_run(&gl, &app.url(), true));
    assert!(
        text.contains("looked up with LOADFORGE_GATE_GITLAB_TOKEN"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`perf` ran only in merge-request pipelines (such as #{mr_pipeline})"
        )),
        "{text}"
    );
}

#[test]
fn expired_artifacts_and_a_branch_without_pipelines_are_named_as_causes() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let text = notes(&mr_run(&gl, &app.url(), true));
    assert!(
        text.contains("`main` has no successful pipeline yet."),
        "{text}"
    );

    let results = earlier_results(&app.url());
    gl.add_pipeline("main", "a1", "success", "perf", Some(&results));
    gl.with(|s| s.pipelines.last_mut().unwrap().jobs[0].expired = true);
    let text = notes(&mr_run(&gl, &app.url(), true));
    assert!(
        text.contains("expired at 2020-01-01T00:00:00.000Z: raise `expire_in`"),
        "{text}"
    );
}

/// The twin rule: a job of another name on `main` is no baseline, and the note says what to do.
#[test]
fn a_default_branch_that_never_ran_the_job_asks_for_a_twin() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.add_pipeline(
        "main",
        "a1",
        "success",
        "perf-load",
        Some(&earlier_results(&app.url())),
    );
    // This very merge-request pipeline (#9000) runs `perf`: no proof of anything.
    gl.with(|s| {
        s.add_pipeline_to(
            PROJECT,
            PipelineSpec {
                ref_name: "refs/merge-requests/7/head",
                sha: "m1",
                status: "running",
                source: "merge_request_event",
                tag: false,
                job: "perf",
                results: None,
            },
        );
        s.pipelines.last_mut().unwrap().id = 9000;
    });
    let text = notes(&mr_run(&gl, &app.url(), true));
    assert!(
        text.contains("None of the last 1 successful pipelines on `main` ran `perf`")
            && text.contains("give this gate a twin there with the same job-prefix"),
        "{text}"
    );
}

/// A fork's merge-request pipeline looks in the target project with the fork's job token. A
/// public or internal target's pipeline artifacts need no allowlist while its CI/CD is visible
/// to everyone; a private one (or one whose CI/CD is for members) refuses the fork unless its
/// allowlist admits it, and the note says which case needs what.
#[test]
fn a_fork_pipeline_looks_in_the_target_project_and_explains_a_refusal() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.add_pipeline(
        "main",
        "a1",
        "success",
        "perf",
        Some(&earlier_results(&app.url())),
    );
    let fork = || by_baseline(short_run(as_fork(mr_env(&gl)), &app.url()).run());
    let refused = |out: &Output| {
        let text = notes(out);
        for said in [
            "GitLab refused this fork pipeline's job token (HTTP 403) for project 42.",
            "A public or internal project needs no allowlist for its pipelines' artifacts unless its CI/CD visibility is",
            "a private project admits a fork's job token only when its job token allowlist (Settings > CI/CD > Job token permissions) lists the fork and the pipeline was triggered by one of its members",
        ] {
            assert!(text.contains(said), "{said}\n{text}");
        }
        assert_eq!(source(out), "(none)");
    };
    refused(&fork());
    for visibility in [Visibility::Public, Visibility::Internal] {
        gl.with(|s| s.visibility = visibility);
        let out = fork();
        assert!(
            source(&out).contains("latest successful pipeline on main"),
            "{visibility:?}: {}",
            notes(&out)
        );
    }
    gl.with(|s| s.public_pipelines = false);
    refused(&fork());
    gl.with(|s| {
        s.visibility = Visibility::Private;
        s.fork_allowed = true;
    });
    let out = fork();
    assert!(
        source(&out).contains("latest successful pipeline on main"),
        "{}",
        out.stderr
    );
    assert!(
        gl.log()
            .iter()
            .all(|l| !l.path.contains(&format!("/projects/{FORK}/"))),
        "the fork's own project was searched"
    );
}

/// An allowlist entry with fine-grained permissions that grant `read_jobs` but not
/// `read_pipelines`: the fork's job token downloads the baseline, GitLab refuses it the
/// pipelines list, and the history falls back to the baseline run alone, said once.
#[test]
fn fine_grained_permissions_without_read_pipelines_cost_the_history_only() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    for sha in ["a1", "a2"] {
        let results = earlier_results(&app.url());
        gl.add_pipeline("main", sha, "success", "perf", Some(&results));
    }
    gl.with(|s| {
        s.fork_allowed = true;
        s.fork_policies = Some(vec!["read_jobs"]);
    });
    let out = by_baseline(short_run(as_fork(mr_env(&gl)), &app.url()).run());
    assert!(source(&out).contains("latest successful pipeline on main"));
    let text = notes(&out);
    assert!(
        text.contains("GitLab did not let CI_JOB_TOKEN read the pipeline lists of project 42 (GitLab answered HTTP 403 to the pipelines of `main`)"),
        "{text}"
    );
    assert!(text.contains("Baseline found with CI_JOB_TOKEN."), "{text}");
    assert_eq!(out.results()["history"].as_array().map_or(0, Vec::len), 0);
}

/// The run history is a band of earlier runs. A baseline that carries none (older results,
/// another writer) gets it from the recent successful pipelines: with the job token where
/// GitLab lets it list them, and the notes say which token found the baseline and which read
/// the history.
#[test]
fn the_job_token_reads_the_history_band_where_gitlab_lets_it_list_pipelines() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    for sha in ["a1", "a2", "a3"] {
        let results = earlier_results(&app.url());
        gl.add_pipeline("main", sha, "success", "perf", Some(&results));
    }
    let out = mr_run(&gl, &app.url(), false);
    assert_eq!(out.results()["history"].as_array().map_or(0, Vec::len), 3);
    let text = notes(&out);
    assert!(
        text.contains("Baseline found with CI_JOB_TOKEN; a history of 3 runs read with CI_JOB_TOKEN from the recent successful pipelines on `main`."),
        "{text}"
    );
    let listed = gl
        .log()
        .into_iter()
        .find(|l| l.path.ends_with("/projects/42/pipelines"))
        .expect("the pipelines were listed");
    assert_eq!((listed.auth, listed.status), (Some("JOB-TOKEN"), 200));

    let text = notes(&mr_run(&gl, &app.url(), true));
    assert!(
        text.contains("Baseline found with CI_JOB_TOKEN; a history of 3 runs read with LOADFORGE_GATE_GITLAB_TOKEN"),
        "{text}"
    );
}

/// A GitLab whose lists do not take the job token answers as for an anonymous caller: `404
/// Project Not Found` for a private project, `403` for a public one whose pipelines are for
/// members. The look-up goes on as it did with the job token alone: the baseline found by
/// ref, its history the baseline run, one note; never a failed look-up, and on the default
/// branch with nothing published, still the first run.
#[test]
fn a_gitlab_that_refuses_the_job_token_for_lists_falls_back_quietly() {
    let app = slow_app(2);
    for (visibility, status) in [(Visibility::Private, 404), (Visibility::Public, 403)] {
        let gl = FakeGitlab::start();
        gl.with(|s| {
            s.lists_ignore_job_token = true;
            s.visibility = visibility;
            s.public_pipelines = false;
        });
        let results = earlier_results(&app.url());
        gl.add_pipeline("main", "a1", "success", "perf", Some(&results));
        let out = mr_run(&gl, &app.url(), false);
        assert_eq!(
            source(&out),
            "the latest successful pipeline on main with `perf` results"
        );
        assert_eq!(out.results()["history"].as_array().map_or(0, Vec::len), 0);
        let text = notes(&out);
        let refused = format!("GitLab did not let CI_JOB_TOKEN read the pipeline lists of project 42 (GitLab answered HTTP {status} to the pipelines of `main`)");
        assert_eq!(text.matches(&refused).count(), 1, "{text}");
        assert!(text.contains("Baseline found with CI_JOB_TOKEN."), "{text}");
        assert!(!text.contains("look-up failed"), "{text}");
        let lists = gl
            .log()
            .iter()
            // The pipelines lists of the look-up (the setup check beside it lists this
            // pipeline's jobs).
            .filter(|l| l.path.ends_with("/pipelines"))
            .count();
        assert_eq!(lists, 1, "asked again after a refusal: {:?}", gl.log());
    }
    let gl = FakeGitlab::start();
    gl.with(|s| s.lists_ignore_job_token = true);
    let out = short_run(branch_env(&gl, "main"), &app.url())
        .run()
        .expect_exit(0);
    assert_eq!(out.results()["verdict"]["history_starts"], true);
}

/// A job token GitLab lets list pipelines, whose lists then fail (502 after the retries):
/// what they held is unknown, so the default branch's look-up failed, never its first run.
#[test]
fn job_token_lists_that_fail_are_a_failed_look_up() {
    let gl = FakeGitlab::start();
    gl.fail_next(Method::GET, "/pipelines", 502, 100, None);
    assert_default_branch_look_up_failed(&gl, "502");
}

/// A tag pipeline's own ref is a tag nobody ran before: it compares with the default branch
/// with the job token, and with the previous release tag's run when an API token can find it.
#[test]
fn a_tag_pipeline_compares_with_the_default_branch_or_the_previous_tag() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let results = earlier_results(&app.url());
    gl.add_pipeline("main", "a1", "success", "perf", Some(&results));
    let tag_run = |api: bool| {
        let mut g = short_run(mr_env(&gl), &app.url())
            .env("CI_MERGE_REQUEST_IID", "")
            .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
            .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
            .env("CI_PIPELINE_SOURCE", "push")
            .env("CI_COMMIT_TAG", "1.1.0")
            .env("CI_COMMIT_REF_NAME", "1.1.0")
            // Which baseline it finds is the point, not how fast a 1 s run on a busy machine
            // was: a rule no scheduling hiccup can break (it failed at 23 ms against 4.7 ms).
            .args(["--regression", "p95 +1000% +1s"]);
        if api {
            g = g.env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN);
        }
        g.run().expect_exit(0)
    };
    let out = tag_run(false);
    assert_eq!(
        source(&out),
        "for tag 1.1.0, the latest successful pipeline on main with `perf` results"
    );

    let previous = gl.with(|s| {
        s.add_pipeline_to(
            PROJECT,
            PipelineSpec {
                ref_name: "1.0.0",
                sha: "t1",
                status: "success",
                source: "push",
                tag: true,
                job: "perf",
                results: Some(&results),
            },
        )
    });
    let out = tag_run(true);
    assert_eq!(
        source(&out),
        format!("pipeline #{previous} of the previous tag 1.0.0")
    );
}

/// A retried job's first attempt is not the baseline: GitLab's `.latest` scope skips it for
/// the by-ref download and the pipeline's job list leaves it out.
#[test]
fn a_retried_jobs_first_attempt_is_never_the_baseline() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let results = earlier_results(&app.url());
    gl.add_pipeline("main", "a1", "success", "perf", Some("not a results file"));
    gl.with(|s| {
        let p = s.pipelines.last_mut().unwrap();
        p.jobs[0].retried = true;
        let mut retry = p.jobs[0].clone();
        retry.id += 500;
        retry.retried = false;
        retry.artifacts.insert(
            "loadforge-gate/results.json".into(),
            results.as_bytes().to_vec(),
        );
        p.jobs.push(retry);
    });
    for api in [false, true] {
        let out = mr_run(&gl, &app.url(), api);
        assert!(!notes(&out).contains("Baseline skipped"), "{}", notes(&out));
        assert!(source(&out).contains("on main"), "{}", out.stderr);
    }
}

/// An API token GitLab refuses (expired, revoked, or a fork's on the parent project) costs its
/// own steps only: the lookup goes on with the job token, and says so.
#[test]
fn a_refused_api_token_falls_back_to_the_job_token() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.add_pipeline(
        "main",
        "a1",
        "success",
        "perf",
        Some(&earlier_results(&app.url())),
    );
    let out = short_run(mr_env(&gl), &app.url())
        .env("LOADFORGE_GATE_GITLAB_TOKEN", "glpat-expired-token")
        .run()
        .expect_exit(0);
    assert_eq!(
        source(&out),
        "the latest successful pipeline on main with `perf` results"
    );
    let text = notes(&out);
    assert!(
        text.contains(
            "The baseline lookup with LOADFORGE_GATE_GITLAB_TOKEN failed (GitLab answered HTTP 401"
        ),
        "{text}"
    );
}

/// A run cut short (here: stopped by an abort rule) is no measure of normal: never a baseline.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_aborted_run_is_never_the_baseline() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let aborted = Gate::new()
        .write("s.yml", SCENARIO)
        .args(["run", "--scenario", "s.yml", "--host", &app.url()])
        .args(["--users", "1", "--run-time", "20s", "--progress", "0"])
        .args([
            "--baseline",
            "none",
            "--threshold",
            "p95<0.001ms abort-on-fail",
        ])
        .run()
        .expect_exit(1);
    assert!(aborted.results()["run"]["aborted"].is_string());
    let aborted = aborted.file("results.json");
    gl.add_pipeline("main", "a1", "success", "perf", Some(&aborted));
    for api in [false, true] {
        let out = mr_run(&gl, &app.url(), api);
        assert_eq!(source(&out), "(none)", "{}", out.stderr);
        let text = notes(&out);
        assert!(
            text.contains("is not a whole run: an abort rule stopped it early")
                || text.contains("were not whole"),
            "{text}"
        );
    }
}

/// The regression checks' states and reasons, as results.json has them.
fn regression_states(out: &Output) -> Vec<(String, String)> {
    let r = out.results();
    (r["verdict"]["checks"].as_array().unwrap().iter())
        .filter(|c| c["kind"] == "regression")
        .map(|c| {
            let reason = c["reason"].as_str().unwrap_or_default();
            (c["state"].as_str().unwrap().to_string(), reason.to_string())
        })
        .collect()
}

/// The audit's case: every GitLab call answered 502, and after the retries the gate passed
/// with "No baseline". A failed look-up is not "no baseline yet": the regression rules are not
/// judged (exit 5), in a merge request and on the default branch alike.
#[test]
fn a_gitlab_outage_is_a_failed_look_up_never_a_pass() {
    let app = slow_app(2);
    for on_default_branch in [false, true] {
        let gl = FakeGitlab::start();
        gl.add_pipeline("main", "a1", "success", "perf", None);
        gl.fail_next(Method::GET, "/projects/", 502, 1000, None);
        let env = match on_default_branch {
            true => branch_env(&gl, "main"),
            false => mr_env(&gl),
        };
        let out = short_run(env, &app.url()).run().expect_exit(5);
        let states = regression_states(&out);
        assert_eq!(states.len(), 2, "{}", out.stdout);
        for (state, reason) in &states {
            assert_eq!(
                (state.as_str(), reason.as_str()),
                ("not_judged", "lookup_failed")
            );
        }
        assert!(out.stdout.contains("NOT JUDGED"), "{}", out.stdout);
        let summary = out.file("summary.md");
        assert!(summary.contains("Not judged: look-up failed"), "{summary}");
        assert!(summary.contains("502"), "the cause is named: {summary}");
        assert!(!summary.contains("Performance gate passed"), "{summary}");
        assert!(out.file("metrics.txt").contains("loadforge_gate_passed 0"));
    }
}

/// Nothing published on the default branch is its first run: it passes, saying that the
/// history starts here, and its results become the next run's baseline.
#[test]
fn the_default_branchs_first_run_starts_the_history() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let out = short_run(branch_env(&gl, "main"), &app.url())
        .run()
        .expect_exit(0);
    assert!(regression_states(&out).is_empty());
    let r = out.results();
    assert_eq!(r["verdict"]["history_starts"], true);
    assert!(
        out.stdout.contains("first run: the history starts here"),
        "{}",
        out.stdout
    );
    assert!(out
        .file("summary.md")
        .contains("first run: the history starts here"));
}

/// A feature branch's push pipeline with nothing to compare: the built-in rules need a
/// baseline and are not applied (its thresholds decide), while a rule the team configured is
/// not judged: no baseline yet.
#[test]
fn a_branch_without_a_baseline_judges_configured_rules_as_not_judged() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let out = short_run(branch_env(&gl, "feature"), &app.url())
        .run()
        .expect_exit(0);
    assert!(regression_states(&out).is_empty());
    let out = short_run(branch_env(&gl, "feature"), &app.url())
        .args(["--regression", "p95 +20% +10ms"])
        .run()
        .expect_exit(5);
    assert_eq!(
        regression_states(&out),
        [("not_judged".to_string(), "no_baseline".to_string())]
    );
}

/// The default branch's first run passes; a job token GitLab refuses is no proof of one: with
/// nothing found because of a 403, the look-up failed (not judged), never "the history starts".
#[test]
fn a_refused_job_token_on_the_default_branch_is_no_first_run() {
    let gl = FakeGitlab::start();
    gl.fail_next(Method::GET, "/artifacts/", 403, 100, None);
    assert_default_branch_look_up_failed(&gl, "HTTP 403");
}

/// A default-branch run against `gl` is not judged, its look-up failed (`cause` in the
/// summary), and it never passes as the history's first run.
#[track_caller]
fn assert_default_branch_look_up_failed(gl: &FakeGitlab, cause: &str) {
    let app = slow_app(2);
    let out = short_run(branch_env(gl, "main"), &app.url())
        .run()
        .expect_exit(5);
    assert_ne!(out.results()["verdict"]["history_starts"], true);
    let states = regression_states(&out);
    assert!(!states.is_empty());
    for (state, reason) in &states {
        assert_eq!(
            (state.as_str(), reason.as_str()),
            ("not_judged", "lookup_failed")
        );
    }
    let summary = out.file("summary.md");
    assert!(summary.contains(cause), "{summary}");
}

/// Results GitLab serves but that cannot be read are no proof of a first run either: on the
/// default branch the look-up failed (not judged), and the run's own results, once published,
/// are the next run's baseline.
#[test]
fn unreadable_results_on_the_default_branch_are_no_first_run() {
    let gl = FakeGitlab::start();
    gl.add_pipeline(
        "main",
        "a1",
        "success",
        "perf",
        Some("{\"not\": \"results\"}"),
    );
    assert_default_branch_look_up_failed(&gl, "could not be read");
}
