//! The gate in the pipelines a project already has (`pipelines: branch`): a branch pipeline of
//! a branch with an open merge request has no merge-request variables, only
//! `CI_OPEN_MERGE_REQUESTS`, and still judges against the merge request's target branch and
//! comments on it; and the two setups that leave a merge request badly served are said.

use crate::{
    fake_gitlab::{FakeGitlab, FakeJob, PipelineSpec, PRIVATE_TOKEN, PROJECT},
    gitlab::{branch_env, mr_env, MR},
    harness::{example, slow_app, Gate},
};

const BASE_SHA: &str = "ba5e0000c0ffee";

/// `gate` running the OAuth scenario against `host`, briefly.
fn running(gate: Gate, host: &str) -> Gate {
    gate.args([
        "run",
        "--scenario",
        &example("oauth-api.yml"),
        "--host",
        host,
    ])
    .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
}

/// A branch pipeline of `feature`, whose merge request !7 is open: the variables GitLab sets.
fn open_mr_branch(gl: &FakeGitlab) -> Gate {
    branch_env(gl, "feature")
        .env("CI_OPEN_MERGE_REQUESTS", &format!("group/app!{MR}"))
        .env("CI_PROJECT_PATH", "group/app")
}

/// A results.json of a run against `host`, made outside GitLab.
fn a_run(host: &str) -> String {
    let out = running(Gate::new(), host).run().expect_exit(0);
    out.file("results.json")
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_branch_pipeline_of_an_open_merge_request_is_judged_against_its_target_and_notes_on_it() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| {
        let mr = s.merge_requests.iter_mut().find(|m| m.iid == MR).unwrap();
        mr.target_branch = "release".into();
        mr.base_sha = Some(BASE_SHA.into());
    });
    let earlier = a_run(&app.url());
    gl.add_pipeline("release", BASE_SHA, "success", "perf", Some(&earlier));
    // The feature branch's own earlier run must not be the baseline.
    gl.add_pipeline("feature", "f00", "success", "perf", Some(&earlier));
    // Which baseline was chosen is the point, not the latencies of two short runs on a busy
    // machine: the rule is loose.
    let out = running(open_mr_branch(&gl), &app.url())
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .args(["--regression", "p95 +1000% +500ms"])
        .run()
        .expect_exit(0);
    assert!(
        out.stderr
            .contains("speaks for merge request !7 (CI_OPEN_MERGE_REQUESTS)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`release`"), "{}", out.stderr);
    assert!(
        out.stderr.contains("on release at the merge base ba5e000"),
        "{}",
        out.stderr
    );
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert!(
        notes[0].body.contains("Performance gate passed"),
        "{}",
        notes[0].body
    );
    assert_eq!(out.results()["ci"]["merge_request_iid"], "7");
}

/// Without an API token the merge request cannot be read (the job token may not): its target
/// is taken to be the default branch, said so, and the baseline comes from there.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn without_an_api_token_the_target_is_taken_to_be_the_default_branch_and_said() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let earlier = a_run(&app.url());
    gl.add_pipeline("main", "aaa", "success", "perf", Some(&earlier));
    let out = running(open_mr_branch(&gl), &app.url())
        .run()
        .expect_exit(0);
    assert!(
        out.stderr.contains("taken to be the default branch"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("baseline:"), "{}", out.stderr);
    assert!(gl.notes(MR).is_empty());
    let summary = out.file("summary.md");
    assert!(summary.contains("speaks for merge request"), "{summary}");
}

/// `gl`'s pipeline `id` gets one more job, `name`.
fn add_job(gl: &FakeGitlab, pipeline: u64, name: &str) {
    gl.with(|s| {
        let p = s.pipelines.iter_mut().find(|p| p.id == pipeline).unwrap();
        p.jobs.push(FakeJob {
            id: 90_000 + p.jobs.len() as u64,
            name: name.into(),
            status: "success".into(),
            artifacts: Default::default(),
            retried: false,
            expired: false,
        });
    });
}

fn pipeline(gl: &FakeGitlab, ref_name: &str, sha: &str, source: &str) -> u64 {
    gl.with(|s| {
        s.add_pipeline_to(
            PROJECT,
            PipelineSpec {
                ref_name,
                sha,
                status: "running",
                source,
                tag: false,
                job: "perf",
                results: None,
            },
        )
    })
}

const GATE_ONLY: &str = "This merge-request pipeline holds only the gate";

/// A merge-request pipeline that holds only the gate's jobs (`pipelines: merge-request` in a
/// project without workflow:rules) is said, with the fix; one with the team's jobs is not.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_merge_request_pipeline_that_holds_only_the_gate_is_said() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let alone = pipeline(
        &gl,
        "refs/merge-requests/7/head",
        "f00",
        "merge_request_event",
    );
    let out = running(mr_env(&gl), &app.url())
        .env("CI_PIPELINE_ID", &alone.to_string())
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .args(["--baseline", "none"])
        .run();
    assert!(out.stderr.contains(GATE_ONLY), "{}", out.stderr);
    assert!(out.file("summary.md").contains(GATE_ONLY));
    assert!(out.stderr.contains("pipelines: branch"), "{}", out.stderr);

    let shared = pipeline(
        &gl,
        "refs/merge-requests/7/head",
        "f01",
        "merge_request_event",
    );
    add_job(&gl, shared, "unit-tests");
    let out = running(mr_env(&gl), &app.url())
        .env("CI_PIPELINE_ID", &shared.to_string())
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .args(["--baseline", "none"])
        .run();
    assert!(!out.stderr.contains(GATE_ONLY), "{}", out.stderr);
}

const UNGATED: &str = "those merge requests get no gate";

/// From the default branch, with `pipelines: branch`: merge-request pipelines with no branch
/// pipeline at their commit are merge requests the gate never judged, said with the fix. A
/// merge-request pipeline with a branch pipeline beside it is fine.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_default_branch_says_when_merge_requests_get_no_gate() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    pipeline(&gl, "feature", "c0c0a", "push");
    pipeline(
        &gl,
        "refs/merge-requests/7/head",
        "c0c0a",
        "merge_request_event",
    );
    let main = || {
        running(branch_env(&gl, "main"), &app.url())
            .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
            .env("LOADFORGE_GATE_PIPELINES", "branch")
            .args(["--baseline", "none"])
    };
    // A merged-results pipeline runs a merge commit no branch pipeline has: no alarm.
    pipeline(
        &gl,
        "refs/merge-requests/7/merge",
        "3e4e",
        "merge_request_event",
    );
    let out = main().run();
    assert!(!out.stderr.contains(UNGATED), "{}", out.stderr);
    let ungated = pipeline(
        &gl,
        "refs/merge-requests/8/head",
        "d00d",
        "merge_request_event",
    );
    let out = main().run();
    assert!(out.stderr.contains(UNGATED), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("#{ungated}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pipelines: merge-request"),
        "{}",
        out.stderr
    );
    // `merge-request` mode runs the gate in those pipelines: nothing to say.
    let out = main()
        .env("LOADFORGE_GATE_PIPELINES", "merge-request")
        .run();
    assert!(!out.stderr.contains(UNGATED), "{}", out.stderr);
}
