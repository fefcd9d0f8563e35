//! The component in the projects that include it: for each kind of workflow a project may have
//! and each thing a developer does (push, open a merge request, schedule, tag), the pipelines
//! GitLab creates and which of them hold the gate, with the job rules evaluated by
//! gitlab-ci-local (the component included from the loopback forge, as users include it).
//!
//! gitlab-ci-local 4.70.1 evaluates job rules but not what GitLab decides before them, so that
//! part is done here, each rule traced to GitLab's source:
//! - `workflow:rules` decide whether a pipeline is created at all: they are evaluated here as
//!   the rules of a probe job, the same rule syntax and evaluator (gitlabhq
//!   `lib/gitlab/ci/pipeline/chain/evaluate_workflow_rules.rb`; no rule matching is `never`).
//! - A job with neither `rules` nor `only` gets `only: [branches, tags]`, which leaves it out of
//!   merge-request pipelines, unless the project has `workflow:rules`
//!   (`lib/gitlab/ci/config/entry/processable.rb`, `compose!`; its spec's table "uses default
//!   only" / "does not define only").
//! - A pipeline whose rules leave no job is not created ("filtered by rules":
//!   `lib/gitlab/ci/pipeline/chain/populate.rb`).
//! - A push to a branch with an open merge request creates the branch pipeline and the merge
//!   request's pipeline, each if its rules allow (`MergeRequests::CreatePipelineService` runs
//!   after the push's `Ci::CreatePipelineService`); a schedule or a tag creates one pipeline.

use crate::emulator::{emulator, Forge};

/// A project's workflow: its `workflow:rules` (GitLab's templates inlined: the emulator cannot
/// fetch `include: template:`) and the `pipelines` input the README tells it to use.
struct Workflow {
    name: &'static str,
    rules: Option<&'static str>,
    pipelines: &'static str,
}

const WORKFLOWS: [Workflow; 4] = [
    Workflow {
        name: "no workflow:rules",
        rules: None,
        pipelines: "branch",
    },
    // lib/gitlab/ci/templates/Workflows/Branch-Pipelines.gitlab-ci.yml
    Workflow {
        name: "Workflows/Branch-Pipelines",
        rules: Some("    - if: $CI_COMMIT_TAG\n    - if: $CI_COMMIT_BRANCH\n"),
        pipelines: "branch",
    },
    // lib/gitlab/ci/templates/Workflows/MergeRequest-Pipelines.gitlab-ci.yml
    Workflow {
        name: "Workflows/MergeRequest-Pipelines",
        rules: Some(
            "    - if: $CI_MERGE_REQUEST_IID\n    - if: $CI_COMMIT_TAG\n    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n",
        ),
        pipelines: "merge-request",
    },
    // doc/ci/yaml/workflow.md, "Switch between branch pipelines and merge request pipelines"
    Workflow {
        name: "the switch between branch and merge-request pipelines",
        rules: Some(
            "    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS\n      when: never\n    - if: $CI_COMMIT_BRANCH\n",
        ),
        pipelines: "merge-request",
    },
];

type Vars = Vec<(&'static str, &'static str)>;

/// A pipeline GitLab may create for an event: its predefined variables (every one the rules
/// read is set, an empty value standing for unset) and whether it is a merge request's.
struct Candidate {
    vars: Vars,
    merge_request: bool,
}

fn branch(source: &'static str, name: &'static str, open_mr: &'static str) -> Candidate {
    Candidate {
        vars: vec![
            ("CI_PIPELINE_SOURCE", source),
            ("CI_COMMIT_BRANCH", name),
            ("CI_COMMIT_REF_NAME", name),
            ("CI_COMMIT_TAG", ""),
            ("CI_OPEN_MERGE_REQUESTS", open_mr),
            ("CI_MERGE_REQUEST_IID", ""),
            ("CI_DEFAULT_BRANCH", "main"),
        ],
        merge_request: false,
    }
}

fn merge_request(source: &'static str, iid: &'static str, target: &'static str) -> Candidate {
    let open = if iid == "7" {
        "consumer/app!7"
    } else {
        "consumer/app!8"
    };
    Candidate {
        vars: vec![
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_BRANCH", ""),
            ("CI_COMMIT_REF_NAME", source),
            ("CI_COMMIT_TAG", ""),
            ("CI_OPEN_MERGE_REQUESTS", open),
            ("CI_MERGE_REQUEST_IID", iid),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", source),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", target),
            ("CI_DEFAULT_BRANCH", "main"),
        ],
        merge_request: true,
    }
}

fn tag() -> Candidate {
    Candidate {
        vars: vec![
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", ""),
            ("CI_COMMIT_REF_NAME", "v1.0.0"),
            ("CI_COMMIT_TAG", "v1.0.0"),
            ("CI_OPEN_MERGE_REQUESTS", ""),
            ("CI_MERGE_REQUEST_IID", ""),
            ("CI_DEFAULT_BRANCH", "main"),
        ],
        merge_request: false,
    }
}

/// What a developer does, the pipelines it may create, and whether a merge request is open for
/// it (which then must be gated).
struct Event {
    name: &'static str,
    candidates: Vec<Candidate>,
    merge_request: bool,
}

fn events() -> Vec<Event> {
    let event = |name, candidates, merge_request| Event {
        name,
        candidates,
        merge_request,
    };
    vec![
        event("push to main", vec![branch("push", "main", "")], false),
        event(
            "push to a branch without MR",
            vec![branch("push", "feature", "")],
            false,
        ),
        event(
            "push to a branch with an open MR",
            vec![
                branch("push", "feature", "consumer/app!7"),
                merge_request("feature", "7", "main"),
            ],
            true,
        ),
        event(
            "push to main, the source of an open MR into production",
            vec![
                branch("push", "main", "consumer/app!8"),
                merge_request("main", "8", "production"),
            ],
            true,
        ),
        event(
            "schedule on main while its MR is open",
            vec![branch("schedule", "main", "consumer/app!8")],
            false,
        ),
        event("push a tag", vec![tag()], false),
    ]
}

/// A created pipeline: the gate's jobs and the team's it holds.
#[derive(Debug)]
struct Created {
    merge_request: bool,
    gates: usize,
    team: usize,
}

/// The project's pipeline file: its workflow turned into a probe job's rules, the team's own
/// job (no rules, as most jobs are), and the component with `pipelines`.
fn project_file(forge: &Forge, workflow: &Workflow, pipelines: &str) -> String {
    let probe = workflow
        .rules
        .map(|r| format!("workflow-probe:\n  script: [\"true\"]\n  rules:\n{r}"))
        .unwrap_or_default();
    format!(
        "include:\n  - component: {}\n    inputs:\n      scenario: shop-cart.yml\n      host: http://127.0.0.1:9\n      pipelines: {pipelines}\n\nunit-tests:\n  script: [\"true\"]\n\n{probe}",
        forge.component("loadforge-gate")
    )
}

/// The pipelines one event creates in a project, and what each holds.
fn created(
    emulator: &std::path::Path,
    project: &crate::emulator::Project,
    workflow: &Workflow,
    event: &Event,
) -> Vec<Created> {
    let mut out = Vec::new();
    for c in &event.candidates {
        let jobs = project.jobs(emulator, &c.vars);
        let allowed = workflow.rules.is_none() || jobs.iter().any(|j| j == "workflow-probe");
        // The default `only: [branches, tags]` of a job without rules, when the project has
        // no workflow:rules, keeps it out of merge-request pipelines.
        let team_default = workflow.rules.is_some() || !c.merge_request;
        let team = jobs.iter().filter(|j| *j == "unit-tests").count() * usize::from(team_default);
        let gates = jobs
            .iter()
            .filter(|j| j.starts_with("loadforge-gate"))
            .count();
        if allowed && team + gates > 0 {
            out.push(Created {
                merge_request: c.merge_request,
                gates,
                team,
            });
        }
    }
    out
}

/// Each workflow with the `pipelines` input the README gives it: no pipeline holds only the
/// gate, every open merge request is gated, and the gate runs exactly where expected: once per
/// push, twice for a push to main that is also an open merge request's source where the
/// workflow makes both pipelines (one builds main's history, one judges the merge request),
/// never where the team's own workflow makes no pipeline.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn every_workflow_gets_a_gate_for_every_merge_request_and_no_gate_only_pipeline() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    // Gate jobs per event, in the order of `events()`.
    let expected: [[usize; 6]; 4] = [
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 0, 1, 2, 1, 1],
        [1, 1, 1, 1, 0, 0],
    ];
    for (workflow, want) in WORKFLOWS.iter().zip(expected) {
        let project = forge.project(&project_file(&forge, workflow, workflow.pipelines));
        for (event, want) in events().iter().zip(want) {
            let what = format!(
                "{} (pipelines: {}), {}",
                workflow.name, workflow.pipelines, event.name
            );
            let pipelines = created(&emulator, &project, workflow, event);
            for p in &pipelines {
                assert!(
                    p.team > 0,
                    "{what}: a pipeline holds only the gate: {pipelines:?}"
                );
            }
            let gates: usize = pipelines.iter().map(|p| p.gates).sum();
            assert_eq!(gates, want, "{what}: {pipelines:?}");
            if event.merge_request {
                assert!(gates > 0, "{what}: the merge request has no gate");
            }
            if workflow.rules.is_none() {
                // Including the component added no pipeline: one per push, the team's and
                // the gate's together.
                assert_eq!(pipelines.len(), 1, "{what}: {pipelines:?}");
            }
        }
    }
}

/// The two wrong choices, which the gate itself then reports (`commands::setup`): a project
/// with no `workflow:rules` that picks `merge-request` gets a merge-request pipeline holding the
/// gate alone; a project with the switch pattern that keeps `branch` gets no gate on its merge
/// requests.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: gitlab-ci-local")]
fn the_wrong_pipelines_choice_makes_a_gate_only_pipeline_or_an_ungated_merge_request() {
    let Some((emulator, _turn)) = emulator() else {
        return;
    };
    let forge = Forge::new();
    let with_mr = &events()[2];
    let project = forge.project(&project_file(&forge, &WORKFLOWS[0], "merge-request"));
    let pipelines = created(&emulator, &project, &WORKFLOWS[0], with_mr);
    assert!(
        pipelines
            .iter()
            .any(|p| p.merge_request && p.team == 0 && p.gates > 0),
        "{pipelines:?}"
    );
    let project = forge.project(&project_file(&forge, &WORKFLOWS[3], "branch"));
    let pipelines = created(&emulator, &project, &WORKFLOWS[3], with_mr);
    assert_eq!(
        pipelines.iter().map(|p| p.gates).sum::<usize>(),
        0,
        "{pipelines:?}"
    );
    assert!(pipelines.iter().any(|p| p.merge_request && p.team > 0));
}
