//! The GitLab side against the fake GitLab: baseline from the previous pipeline, the sticky
//! merge-request note, API faults that never change the verdict, tokens that never leak.

use axum::http::Method;

use crate::{
    fake_gitlab::{
        FakeGitlab, FakeNote, BOT_USER, FORK, FORK_JOB_TOKEN, HUMAN_USER, JOB_TOKEN,
        MAINTAINER_BOT, MAINTAINER_TOKEN, PRIVATE_TOKEN, PROJECT, REPORTER_BOT, REPORTER_TOKEN,
    },
    harness::{adjustable_app, example, slow_app, Gate, Output},
};

pub(crate) const BASE_SHA: &str = "b45e0000c0ffee";
pub(crate) const MR: u64 = 7;

/// The CI variables of a merge-request pipeline of job `perf` on branch `feature` targeting
/// `main`, pointed at the fake GitLab; no command yet.
pub(crate) fn mr_env(gl: &FakeGitlab) -> Gate {
    Gate::new()
        .env("GITLAB_CI", "true")
        .env("CI", "true")
        .env("CI_API_V4_URL", &gl.api_url())
        .env("CI_SERVER_URL", "http://gitlab.example")
        .env("CI_PROJECT_ID", PROJECT)
        .env("CI_JOB_NAME", "perf")
        .env("CI_JOB_ID", "555")
        .env("CI_JOB_URL", "http://gitlab.example/p/-/jobs/555")
        .env("CI_JOB_TOKEN", JOB_TOKEN)
        .env("CI_PIPELINE_ID", "9000")
        .env(
            "CI_PIPELINE_URL",
            "http://gitlab.example/p/-/pipelines/9000",
        )
        .env("CI_PIPELINE_SOURCE", "merge_request_event")
        .env("CI_COMMIT_SHA", "feed000000000000000000000000000000000000")
        .env("CI_COMMIT_REF_NAME", "feature")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_MERGE_REQUEST_IID", &MR.to_string())
        .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
        .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE_SHA)
}

/// [`mr_env`] running the OAuth scenario against `host`.
fn mr_gate(gl: &FakeGitlab, host: &str, api_token: bool) -> Gate {
    let mut g = mr_env(gl)
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            host,
        ])
        .args([
            "--users",
            "4",
            "--spawn-rate",
            "50",
            "--run-time",
            "2s",
            "--progress",
            "0",
        ]);
    if api_token {
        g = g.env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN);
    }
    g
}

#[track_caller]
fn assert_no_secret(out: &Output) {
    for secret in [PRIVATE_TOKEN, JOB_TOKEN] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "token printed"
        );
        for f in crate::harness::REPORTS {
            if let Ok(text) = std::fs::read_to_string(out.out_dir().join(f)) {
                assert!(!text.contains(secret), "token in {f}");
            }
        }
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn merge_request_runs_create_then_update_one_note_and_catch_a_regression() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let gl = FakeGitlab::start();
    // Artifacts sent to object storage on another host: the token must not follow.
    gl.with(|s| s.redirect_job_artifacts = true);
    // One server, made slower for the second run: another address would not be comparable.
    let (fast, extra) = adjustable_app(2);

    // First run: nothing on main yet.
    let first = mr_gate(&gl, &fast.url(), true).run().expect_exit(5);
    assert_no_secret(&first);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "{}", first.stderr);
    assert!(notes[0].body.starts_with("<!-- loadforge-gate:perf -->"));
    assert!(
        notes[0].body.contains("No baseline yet"),
        "{}",
        notes[0].body
    );
    assert!(
        first
            .stderr
            .contains(&format!("created note {} on !{MR}", notes[0].id)),
        "{}",
        first.stderr
    );
    let r = first.results();
    assert_eq!(r["ci"]["merge_request_iid"], "7");
    assert_eq!(r["ci"]["job_url"], "http://gitlab.example/p/-/jobs/555");

    // The target branch's pipeline at the merge base ran the same job: that is the baseline.
    gl.add_pipeline(
        "main",
        BASE_SHA,
        "success",
        "perf",
        Some(&first.file("results.json")),
    );
    extra.set(std::time::Duration::from_millis(78));
    let second = mr_gate(&gl, &fast.url(), true).run().expect_exit(1);
    assert_no_secret(&second);
    assert!(
        second.stderr.contains("at the merge base"),
        "{}",
        second.stderr
    );
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "the note is updated in place");
    let body = &notes[0].body;
    assert!(body.contains("❌ Performance gate failed"), "{body}");
    assert!(body.contains("**p95 +20% +10ms** _(regression)_"), "{body}");
    assert!(body.contains("🔺"), "{body}");
    assert!(
        body.contains(
            "[All reports](http://gitlab.example/p/-/jobs/555/artifacts/browse/loadforge-gate/)"
        ),
        "{body}"
    );
    let log = gl.log();
    assert!(log.iter().any(|l| l.method == Method::PUT), "{log:?}");
    assert_eq!(
        gl.with(|s| s.leaked_to_storage),
        0,
        "a token followed the redirect to object storage"
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn without_an_api_token_the_gate_still_judges_and_skips_the_comment() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let base = Gate::new()
        .args([
            "run",
            "--scenario",
            &example("oauth-api.yml"),
            "--host",
            &app.url(),
        ])
        .args([
            "--users",
            "4",
            "--run-time",
            "2s",
            "--progress",
            "0",
            "--baseline",
            "none",
        ])
        .run()
        .expect_exit(0);
    gl.add_pipeline(
        "main",
        "0ld",
        "success",
        "perf",
        Some(&base.file("results.json")),
    );
    let out = mr_gate(&gl, &app.url(), false).run().expect_exit(5);
    assert_no_secret(&out);
    assert!(
        out.stderr
            .contains("comment: skipped: LOADFORGE_GATE_GITLAB_TOKEN is not set in this pipeline"),
        "{}",
        out.stderr
    );
    assert!(gl.notes(MR).is_empty());
    // The job token fetched the baseline through the artifacts-by-ref endpoint.
    let log = gl.log();
    let by_ref = log
        .iter()
        .find(|l| l.path.contains("/jobs/artifacts/main/raw/"))
        .expect("by-ref call");
    assert_eq!((by_ref.auth, by_ref.status), (Some("JOB-TOKEN"), 200));
    assert!(out.results()["comparison"]["source"]
        .as_str()
        .unwrap()
        .contains("latest successful pipeline on main"));
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_notes_endpoint_failing_twice_with_500_still_ends_with_exactly_one_note() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_next(Method::GET, "/merge_requests/7/notes", 500, 2, None);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert_eq!(gl.notes(MR).len(), 1, "{}", out.stderr);
    let failures = gl
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/notes") && l.status == 500)
        .count();
    assert_eq!(failures, 2);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn rate_limits_are_waited_out_and_api_errors_never_change_the_verdict() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_next(Method::POST, "/merge_requests/7/notes", 429, 1, Some(1));
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert_eq!(gl.notes(MR).len(), 1, "{}", out.stderr);

    // A wrong token: the comment fails, loudly but harmlessly.
    let out = mr_gate(&gl, &app.url(), false)
        .env("LOADFORGE_GATE_GITLAB_TOKEN", "glpat-wrong-token-xyz")
        .run()
        .expect_exit(5);
    assert!(
        out.stderr
            .contains("comment: failed: GitLab answered HTTP 401"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("glpat-wrong-token-xyz"));

    // Notes that keep failing: bounded retries, then a notice; the exit is still the
    // verdict's (5: this merge request has no baseline yet), whatever the comment did.
    gl.fail_next(Method::GET, "/merge_requests/7/notes", 503, 10, None);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert!(
        out.stderr
            .contains("comment: failed: GitLab answered HTTP 503"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_retry_after_beyond_the_retry_budget_fails_the_comment_at_once() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_next(Method::POST, "/merge_requests/7/notes", 429, 1, Some(3600));
    let begun = std::time::Instant::now();
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert!(
        begun.elapsed() < std::time::Duration::from_secs(60),
        "waited"
    );
    assert!(
        out.stderr
            .contains("comment: failed: GitLab request to a new note on merge request !7 failed"),
        "{}",
        out.stderr
    );
    assert!(gl.notes(MR).is_empty());
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_note_is_found_across_pages_and_system_notes_are_never_edited() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let ours = gl.with(|s| {
        let notes = s.notes_of(MR);
        // The gate's own note, written long ago and buried under a long review: found all
        // the same, through the pages.
        notes.push(FakeNote::by(
            BOT_USER,
            5,
            "<!-- loadforge-gate:perf -->\nold summary",
        ));
        // A system note quoting the marker must not be mistaken for ours.
        notes.push(FakeNote {
            system: true,
            ..FakeNote::by(
                HUMAN_USER,
                6,
                "<!-- loadforge-gate:perf --> changed the description",
            )
        });
        for i in 0..130 {
            notes.push(FakeNote::by(
                HUMAN_USER,
                10 + i,
                &format!("review comment {i}"),
            ));
        }
        5
    });
    mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 132, "no new note");
    let updated = notes.iter().find(|n| n.id == ours).unwrap();
    assert!(
        updated.body.contains("Performance gate NOT JUDGED"),
        "{}",
        updated.body
    );
    assert!(notes
        .iter()
        .find(|n| n.id == 6)
        .unwrap()
        .body
        .contains("changed the description"));
    let pages: Vec<_> = gl
        .log()
        .into_iter()
        .filter(|l| l.method == Method::GET && l.path.ends_with("/notes"))
        .collect();
    assert!(pages.len() >= 2, "paginated ({} pages)", pages.len());
    // Most recently updated first: the note the gate edits every pipeline comes early.
    assert!(
        pages[0].query.contains("order_by=updated_at") && pages[0].query.contains("sort=desc"),
        "{}",
        pages[0].query
    );
}

/// `comment: always` in a branch pipeline writes on the open merge requests of its branch in
/// its own project, never on a fork's whose branch has the same name.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn comment_always_finds_the_merge_request_of_a_branch_pipeline_and_never_a_forks() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| {
        s.add_merge_request(PROJECT, 11, "feature", PROJECT);
        // A fork's merge request into this project, from its own `feature`.
        s.add_merge_request(PROJECT, 12, "feature", FORK);
    });
    let out = branch_pipeline(&gl, &app.url(), "feature")
        .args(["--comment", "always"])
        .run()
        .expect_exit(0);
    assert_eq!(gl.notes(11).len(), 1, "{}", out.stderr);
    assert_eq!(gl.notes(MR).len(), 1, "!7 is from `feature` too");
    assert!(
        gl.notes(12).is_empty(),
        "the fork's merge request was touched"
    );
}

/// A branch pipeline of `branch` (no merge request variables), with the API token.
fn branch_pipeline(gl: &FakeGitlab, host: &str, branch: &str) -> Gate {
    as_branch(mr_gate(gl, host, true), branch)
}

/// [`mr_env`] as a push pipeline of `branch`: no merge request.
pub(crate) fn branch_env(gl: &FakeGitlab, branch: &str) -> Gate {
    as_branch(mr_env(gl), branch)
}

/// `gate` with the merge request's variables emptied, as a push pipeline of `branch`.
fn as_branch(gate: Gate, branch: &str) -> Gate {
    gate.env("CI_MERGE_REQUEST_IID", "")
        .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
        .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
        .env("CI_PIPELINE_SOURCE", "push")
        .env("CI_COMMIT_BRANCH", branch)
        .env("CI_COMMIT_REF_NAME", branch)
}

/// A fork's merge-request pipeline runs in the fork (`CI_PROJECT_ID` 43) with the merge
/// request in the target project (`CI_MERGE_REQUEST_PROJECT_ID` 42): the note lands there, not
/// on the fork's own merge request that happens to share the iid.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_fork_pipelines_note_lands_on_the_target_projects_merge_request() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| s.add_merge_request(FORK, MR, "unrelated", FORK));
    let out = as_fork(mr_gate(&gl, &app.url(), false))
        .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
        .run()
        .expect_exit(5);
    let notes = gl.notes_in(PROJECT, MR);
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert!(notes[0].body.contains("Performance gate NOT JUDGED"));
    assert!(gl.notes_in(FORK, MR).is_empty());
    assert!(
        gl.log()
            .iter()
            .all(|l| !l.path.contains(&format!("/projects/{FORK}/"))),
        "nothing was asked of the fork: {:?}",
        gl.log()
    );
}

/// `gate` as a fork's merge-request pipeline: in project 43, with its own job token, for !7
/// of project 42.
pub(crate) fn as_fork(gate: Gate) -> Gate {
    gate.env("CI_PROJECT_ID", FORK)
        .env("CI_JOB_TOKEN", FORK_JOB_TOKEN)
        .env("CI_MERGE_REQUEST_PROJECT_ID", PROJECT)
        .env("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", FORK)
}

/// GitLab saved the note, then the answer was lost (a 502 from the proxy in front of it): the
/// gate finds the saved note and edits it instead of posting a second one.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_note_saved_before_a_502_is_not_posted_twice() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_after(Method::POST, "/merge_requests/7/notes", 502, 1);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert!(notes[0].body.contains("Performance gate NOT JUDGED"));
    assert!(
        out.stderr.contains("found and updated, not posted twice"),
        "{}",
        out.stderr
    );
    let posts = gl.log().iter().filter(|l| l.method == Method::POST).count();
    assert_eq!(posts, 1, "the POST was not repeated");
}

/// A POST that failed before GitLab saved anything (a 502 in front of Rails) is posted again
/// after a look at the notes, and ends as one note.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_note_refused_with_a_502_is_posted_again_once_after_a_look() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_next(Method::POST, "/merge_requests/7/notes", 502, 1, None);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert_eq!(gl.notes(MR).len(), 1, "{}", out.stderr);
    let calls: Vec<String> = gl
        .log()
        .iter()
        .filter(|l| l.path.ends_with("/notes"))
        .map(|l| format!("{} {}", l.method, l.status))
        .collect();
    // The look before, the POST, the look after it, the POST again, and the look after writing.
    assert_eq!(
        calls,
        ["GET 200", "POST 502", "GET 200", "POST 201", "GET 200"]
    );
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: timing-sensitive")]
fn history_from_earlier_pipelines_is_judged_by_its_centre_and_spread() {
    // Latencies are read: no other gate may share the cores meanwhile.
    let _quiet = crate::harness::quiet();
    let gl = FakeGitlab::start();
    // One server at each latency in turn, run with the merge request's load: runs of another
    // address or spawn rate would be left out of the band.
    let (app, extra) = adjustable_app(0);
    let run_at = |ms: u64| {
        extra.set(std::time::Duration::from_millis(ms));
        Gate::new()
            .args([
                "run",
                "--scenario",
                &example("oauth-api.yml"),
                "--host",
                &app.url(),
            ])
            .args([
                "--users",
                "4",
                "--spawn-rate",
                "50",
                "--run-time",
                "2s",
                "--progress",
                "0",
                "--baseline",
                "none",
            ])
            .run()
            .expect_exit(0)
            .file("results.json")
    };
    // Older runs reached 60 ms; the newest (the baseline) was fast: against it alone, 40 ms
    // is a regression; against three runs this far apart, it cannot be told from noise.
    gl.add_pipeline("main", "a1", "success", "perf", Some(&run_at(60)));
    gl.add_pipeline("main", "a2", "success", "perf", Some(&run_at(30)));
    gl.add_pipeline("main", "a3", "success", "perf", Some(&run_at(5)));
    extra.set(std::time::Duration::from_millis(40));
    let out = mr_gate(&gl, &app.url(), true)
        .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", "not-on-main")
        .run()
        .expect_exit(5);
    let r = out.results();
    let p95 = r["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["expression"] == "p95 +20% +10ms")
        .unwrap()
        .clone();
    // Too noisy is not a pass: not judged, and it says what it cannot see.
    assert_eq!(
        (&p95["state"], &p95["reason"]),
        (&"not_judged".into(), &"too_noisy".into()),
        "{p95}"
    );
    let detail = p95["detail"].as_str().unwrap();
    assert!(detail.contains("median of 3 runs"), "{detail}");
    assert!(detail.contains("too noisy to judge below"), "{detail}");
}

/// A person who quotes the marker in their own note keeps their note, and the gate still
/// writes its own: only notes by the token's user are ever edited.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_marker_quoted_by_someone_else_is_never_edited() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let quoted = "I copied this from the bot: <!-- loadforge-gate:perf --> looks slow?";
    gl.with(|s| s.notes_of(MR).push(FakeNote::by(HUMAN_USER, 1, quoted)));
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    let notes = gl.notes(MR);
    assert_eq!(
        notes.len(),
        2,
        "a new note beside the human's: {}",
        out.stderr
    );
    assert_eq!(notes[0].body, quoted, "the human's note is untouched");
    assert!(notes[1].body.contains("Performance gate NOT JUDGED"));
    assert_eq!(notes[1].author, crate::fake_gitlab::BOT_USER);
    // The second run finds its own note (not the human's) and edits it in place.
    mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].body, quoted);
}

/// A GitLab that accepts connections and never answers: its API URL, and how many connections
/// it has taken so far.
fn black_hole() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{atomic::Ordering, Arc};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v4", listener.local_addr().unwrap());
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = taken.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, taken)
}

/// A signal during the baseline lookup ends the gate (exit 4), however long the server takes.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_signal_during_the_baseline_lookup_is_honoured() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let (api, taken) = black_hole();
    let out = mr_gate(&gl, &app.url(), true)
        .env("CI_API_V4_URL", &api)
        // Once the gate has connected to GitLab, it is waiting on the lookup.
        .run_and_terminate_when(move |_| taken.load(std::sync::atomic::Ordering::SeqCst) > 0)
        .expect_exit(4);
    assert!(
        out.stderr.contains("interrupted before the load started"),
        "{}",
        out.stderr
    );
}

/// A signal while the comment waits on GitLab ends the gate (exit 4) with every report written.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_signal_during_the_comment_is_honoured_after_the_reports() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let out = mr_gate(&gl, &app.url(), true)
        .env("CI_API_V4_URL", &black_hole().0)
        .args(["--baseline", "none"])
        // Once the reports are written, the gate is waiting on the comment.
        .run_and_terminate_when(|dir| dir.join("loadforge-gate/report.html").exists())
        .expect_exit(4);
    assert!(out.out_dir().join("report.html").exists(), "{}", out.stderr);
    assert!(
        out.stderr.contains("comment: interrupted"),
        "{}",
        out.stderr
    );
}

/// An artifact larger than any results file is not read whole: the baseline is skipped with a
/// note and the gate still judges (the memory it may take is set by this side, not the server).
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn an_oversized_baseline_artifact_is_skipped_with_a_note() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    let huge = format!("{{\"schema\": \"{}\"}}", "x".repeat(66 << 20));
    gl.add_pipeline("main", "0ld", "success", "perf", Some(&huge));
    let out = mr_gate(&gl, &app.url(), false).run().expect_exit(5);
    let notes = out.results()["notes"].to_string();
    assert!(notes.contains("larger than 65 MiB"), "{notes}");
}

/// A server that links one more page of notes forever is followed only so far (100 pages a
/// look, a look before writing and one after): the gate still ends, judges and writes its
/// note.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn endless_note_pages_are_not_followed_forever() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| s.endless_note_pages = true);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert!(out.stderr.contains("created note"), "{}", out.stderr);
    let pages = gl.with(|s| s.log.iter().filter(|l| l.path.ends_with("/notes")).count());
    assert!(pages <= 2 * 100 + 1, "{pages} pages of notes were read");
}

/// Past 10,000 notes GitLab sends no `x-total`, `x-total-pages` or `rel="last"`, and
/// `x-next-page` goes on: each look reads 100 pages, no more. The gate's note, which every
/// pipeline edits, is among the most recently updated, so the cap never leaves it out.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn among_ten_thousand_notes_without_totals_the_gates_note_is_found_within_the_cap() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| {
        let notes = s.notes_of(MR);
        notes.push(FakeNote::by(
            BOT_USER,
            1,
            "<!-- loadforge-gate:perf -->\nold",
        ));
        for i in 0..10_050 {
            notes.push(FakeNote::by(HUMAN_USER, 10 + i, "lgtm"));
        }
        // The gate's note was edited by the last pipeline, after every review comment.
        notes[0].updated = 1_000_000;
    });
    mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 10_051, "no second note");
    assert!(notes[0].body.contains("Performance gate NOT JUDGED"));
    let listed = gl
        .log()
        .iter()
        .filter(|l| l.method == Method::GET && l.path.ends_with("/notes"))
        .count();
    assert_eq!(
        listed,
        2 * 100,
        "a look before writing and one after, 100 pages each"
    );
}

/// The last POST may land too: after the third failed POST the gate looks once more, and
/// edits the note it finds rather than report a failure.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn a_note_saved_by_the_last_post_is_found_by_a_last_look() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.fail_next(Method::POST, "/merge_requests/7/notes", 502, 2, None);
    gl.fail_after(Method::POST, "/merge_requests/7/notes", 502, 1);
    let out = mr_gate(&gl, &app.url(), true).run().expect_exit(5);
    assert_eq!(gl.notes(MR).len(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("not posted twice"), "{}", out.stderr);
}

/// The first line of every note of job `perf`.
const MARKER: &str = "<!-- loadforge-gate:perf -->";

/// A merge-request pipeline `pipeline` of job `perf` running the one-endpoint scenario for a
/// second, with the API token. This merge request has no baseline, so the gate exits 5 (not
/// judged) and says so in its note.
fn pipeline_comments(gl: &FakeGitlab, host: &str, pipeline: u64) -> Output {
    pipeline_comments_with(gl, host, pipeline, PRIVATE_TOKEN)
}

/// [`pipeline_comments`] with the API token `token`.
fn pipeline_comments_with(gl: &FakeGitlab, host: &str, pipeline: u64, token: &str) -> Output {
    crate::lookup::short_run(mr_env(gl), host)
        .env("LOADFORGE_GATE_GITLAB_TOKEN", token)
        .env("CI_PIPELINE_ID", &pipeline.to_string())
        .env(
            "CI_PIPELINE_URL",
            &format!("http://gitlab.example/p/-/pipelines/{pipeline}"),
        )
        .run()
        .expect_exit(5)
}

/// A note of job `perf` as pipeline `pipeline` left it: the marker first, the run's hidden
/// stamp last.
fn note_of_pipeline(pipeline: u64) -> String {
    format!("{MARKER}\nverdict of pipeline {pipeline}\n\n<!-- loadforge-gate-run: pipeline={pipeline} job=1 -->\n")
}

/// Notes of job `perf` on !7 as pipelines left them, each `(id, pipeline)`.
fn left_by_pipelines(gl: &FakeGitlab, notes: &[(u64, u64)]) {
    let left = notes
        .iter()
        .map(|(id, p)| FakeNote::by(BOT_USER, *id, &note_of_pipeline(*p)));
    gl.with(|s| s.notes_of(MR).extend(left));
}

/// The stamp of a note that pipeline `pipeline`'s job 555 wrote.
fn stamp_of(pipeline: u64) -> String {
    format!("<!-- loadforge-gate-run: pipeline={pipeline} job=555 -->")
}

/// The gate's notes of job `perf` on !7.
fn gate_notes(gl: &FakeGitlab) -> Vec<FakeNote> {
    gl.notes(MR)
        .into_iter()
        .filter(|n| n.author == BOT_USER && n.body.starts_with(MARKER))
        .collect()
}

/// GitLab cuts a page of notes, then drops the notes the user may not read (`lib/api/notes.rb`):
/// a first page shortened so is not the last, and the gate's note on the second is edited, not
/// posted again.
#[test]
fn a_notes_page_shortened_by_gitlabs_filter_is_not_the_last() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| {
        let notes = s.notes_of(MR);
        // The gate's note, last edited before a long review: on the second page, most
        // recently updated first.
        notes.push(FakeNote::by(BOT_USER, 5, &format!("{MARKER}\nold summary")));
        for i in 0..120 {
            notes.push(FakeNote::by(HUMAN_USER, 10 + i, &format!("review {i}")));
        }
        // Cross-references from a project the bot cannot see, on the first page: dropped
        // after the page is cut, so it holds 93 notes of 100.
        for i in 0..7 {
            notes.push(FakeNote::hidden(300 + i, 300 + i));
        }
    });
    let out = pipeline_comments(&gl, &app.url(), 9000);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 128, "no second note: {}", out.stderr);
    let ours = notes.iter().find(|n| n.id == 5).unwrap();
    assert!(
        ours.body.contains("Performance gate NOT JUDGED"),
        "{}",
        ours.body
    );
    assert!(
        ours.body.ends_with(&format!("{}\n", stamp_of(9000))),
        "{}",
        ours.body
    );
    assert!(
        out.stderr.contains("updated note 5 on !7"),
        "{}",
        out.stderr
    );
    let first = gl
        .log()
        .into_iter()
        .find(|l| l.method == Method::GET && l.path.ends_with("/notes"))
        .unwrap();
    assert!(first.query.contains("per_page=100"), "{}", first.query);
    assert!(
        gl.log().iter().any(|l| l.query.ends_with("&page=2")),
        "the second page was read"
    );
}

/// Two pipelines that commented at once left two notes of the job: the next to comment keeps
/// the oldest, with the newest verdict, and deletes the other; an older pipeline keeps the
/// newer one's verdict rather than write its own.
#[test]
fn two_notes_of_the_job_become_the_oldest_with_the_newest_verdict() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    left_by_pipelines(&gl, &[(3, 8999), (4, 9001)]);
    // Pipeline 9000 is older than 9001: 9001's verdict goes on the oldest note.
    let out = pipeline_comments(&gl, &app.url(), 9000);
    let ours = gate_notes(&gl);
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    assert_eq!(ours[0].id, 3, "the oldest stays");
    assert_eq!(ours[0].body, note_of_pipeline(9001), "the newest verdict");
    assert!(
        out.stderr.contains("2 notes of this job on !7 (pipelines commenting at once): kept note 3, the oldest, with the verdict of pipeline 9001; deleted 4"),
        "{}",
        out.stderr
    );
    let deletes: Vec<_> = gl
        .log()
        .into_iter()
        .filter(|l| l.method == Method::DELETE)
        .map(|l| (l.path, l.status))
        .collect();
    assert_eq!(
        deletes,
        [(
            format!("/api/v4/projects/{PROJECT}/merge_requests/7/notes/4"),
            204
        )]
    );

    // Another duplicate, older: pipeline 9002 is the newest, and its own verdict is kept.
    left_by_pipelines(&gl, &[(6, 8998)]);
    let out = pipeline_comments(&gl, &app.url(), 9002);
    let ours = gate_notes(&gl);
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    assert_eq!(ours[0].id, 3);
    assert!(
        ours[0].body.contains("Performance gate NOT JUDGED"),
        "{}",
        ours[0].body
    );
    assert!(ours[0].body.contains(&stamp_of(9002)), "{}", ours[0].body);
    assert!(
        out.stderr
            .contains("kept note 3, the oldest, with the verdict of pipeline 9002; deleted 6"),
        "{}",
        out.stderr
    );
}

/// A pipeline that comments after a newer one (it was slower) leaves the newer verdict alone.
#[test]
fn an_older_pipeline_never_writes_over_a_newer_pipelines_note() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    left_by_pipelines(&gl, &[(3, 9001)]);
    let out = pipeline_comments(&gl, &app.url(), 9000);
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "{}", out.stderr);
    assert_eq!(notes[0].body, note_of_pipeline(9001), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("note 3 on !7 holds the verdict of a newer pipeline (9001)"),
        "{}",
        out.stderr
    );
    let writes = gl.log().iter().filter(|l| l.method != Method::GET).count();
    assert_eq!(writes, 0, "nothing written: {:?}", gl.log());
}

/// Two gates of one merge request comment at the same moment: both find no note and both post
/// (the fake holds each POST until both have come). Each then looks again; one note remains,
/// the oldest, holding the newer pipeline's verdict.
#[test]
fn two_gates_posting_at_once_leave_one_note_with_the_newer_verdict() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    gl.with(|s| s.posts_meet = Some(std::sync::Arc::new(tokio::sync::Barrier::new(2))));
    let (older, newer) = std::thread::scope(|scope| {
        let older = scope.spawn(|| pipeline_comments(&gl, &app.url(), 9000));
        let newer = scope.spawn(|| pipeline_comments(&gl, &app.url(), 9001));
        (older.join().unwrap(), newer.join().unwrap())
    });
    let both = format!("{}\n---\n{}", older.stderr, newer.stderr);
    let posts = gl
        .log()
        .iter()
        .filter(|l| l.method == Method::POST && l.status == 201)
        .count();
    assert_eq!(posts, 2, "both posted: {both}");
    let notes = gl.notes(MR);
    assert_eq!(notes.len(), 1, "{both}");
    assert!(notes[0].body.contains(&stamp_of(9001)), "{}", notes[0].body);
    assert!(notes[0].body.contains("Performance gate NOT JUDGED"));
    let deletes = gl.with(|s| s.log.iter().filter(|l| l.method == Method::DELETE).count());
    assert!(deletes >= 1, "the other note was deleted: {both}");
    assert!(both.contains("kept note"), "{both}");
}

/// A delete that keeps failing is tried within the client's bounded retries, said once, and
/// the note stays; the kept note holds the verdict all the same.
#[test]
fn a_delete_that_fails_is_said_once_and_not_tried_forever() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    left_by_pipelines(&gl, &[(3, 8998), (4, 8999)]);
    gl.fail_next(Method::DELETE, "/notes/4", 500, 100, None);
    let out = pipeline_comments(&gl, &app.url(), 9000);
    let said = out.stderr.matches("could not delete note 4 on !7").count();
    assert_eq!(said, 1, "{}", out.stderr);
    assert!(out.stderr.contains("it stays"), "{}", out.stderr);
    let tries = gl
        .log()
        .iter()
        .filter(|l| l.method == Method::DELETE)
        .count();
    assert!((1..=4).contains(&tries), "{tries} tries");
    let ours = gate_notes(&gl);
    assert_eq!(ours.len(), 2);
    assert!(ours
        .iter()
        .find(|n| n.id == 3)
        .unwrap()
        .body
        .contains(&stamp_of(9000)));
}

/// Finding (hardening round 3): a token rotated to another bot user left the old user's note
/// stale beside a new one. A token whose user is a Maintainer may delete another user's note
/// (`admin_note`, see the fake's notes rules): the old note of the job goes, and one note, the
/// new user's, remains. A person's note that opens with the marker but carries no run stamp is
/// not the gate's, and stays.
#[test]
fn a_token_rotated_to_another_user_leaves_no_stale_note_beside_the_new_one() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    pipeline_comments(&gl, &app.url(), 9000);
    let human = format!("{MARKER}\nwhy is this slow?");
    gl.with(|s| s.notes_of(MR).push(FakeNote::by(HUMAN_USER, 1, &human)));
    let old = gate_notes(&gl)[0].id;
    let out = pipeline_comments_with(&gl, &app.url(), 9001, MAINTAINER_TOKEN);
    let notes = gl.notes(MR);
    let gates: Vec<&FakeNote> = notes.iter().filter(|n| n.author != HUMAN_USER).collect();
    assert_eq!(gates.len(), 1, "one note of the job: {}", out.stderr);
    assert_eq!(gates[0].author, MAINTAINER_BOT);
    assert!(gates[0].body.contains(&stamp_of(9001)), "{}", gates[0].body);
    assert!(!gates[0].body.contains("stale"), "{}", gates[0].body);
    assert!(
        notes.iter().any(|n| n.body == human),
        "the person's note stays"
    );
    assert!(
        out.stderr.contains(&format!(
            "deleted note {old} on !7: this job's note by another user"
        )),
        "{}",
        out.stderr
    );
    // The next pipeline edits the one note in place.
    pipeline_comments_with(&gl, &app.url(), 9002, MAINTAINER_TOKEN);
    let gates: Vec<FakeNote> = gl
        .notes(MR)
        .into_iter()
        .filter(|n| n.author != HUMAN_USER)
        .collect();
    assert_eq!(gates.len(), 1);
    assert!(gates[0].body.contains(&stamp_of(9002)), "{}", gates[0].body);
}

/// The same rotation to a Reporter (the role docs/gitlab.md advises), who may neither delete
/// nor edit another user's note: the old note stays as it is, and the new one says it is stale
/// and links to it, in every later pipeline too.
#[test]
fn a_token_rotated_to_a_reporter_names_the_old_users_note_as_stale() {
    let gl = FakeGitlab::start();
    let app = slow_app(2);
    pipeline_comments(&gl, &app.url(), 9000);
    let old = gate_notes(&gl).remove(0);
    for pipeline in [9001, 9002] {
        let out = pipeline_comments_with(&gl, &app.url(), pipeline, REPORTER_TOKEN);
        let notes = gl.notes(MR);
        assert_eq!(notes.len(), 2, "{}", out.stderr);
        assert_eq!(notes[0].body, old.body, "the old note is not written over");
        let new = &notes[1];
        assert_eq!(new.author, REPORTER_BOT);
        assert!(new.body.contains(&stamp_of(pipeline)), "{}", new.body);
        let pointer = format!(
            "_[note {0}](#note_{0}) is an older note of this job by another user (the token the gate used before), and stale",
            old.id
        );
        assert!(new.body.contains(&pointer), "{}", new.body);
        assert!(
            out.stderr.contains(&format!(
                "note {} on !7 is this job's note by another user (the token the gate used before) and stays (",
                old.id
            )),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("403"), "{}", out.stderr);
    }
}
