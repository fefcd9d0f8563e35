//! The text of what `init` writes and prints: the starter scenario, `loadforge-gate.yml` with
//! its two profiles, and the include. Pure functions of what was found, so each is tested as
//! text and the files are checked by the gate's own readers before they are written.

use super::{probe::Answer, workflow::Pipelines, Request};

/// Where the starter scenario goes, relative to the project (the README's examples keep theirs
/// in `perf/`).
pub(crate) const SCENARIO: &str = "perf/scenario.yml";
/// The config file the gate finds by itself in the job's directory.
pub(crate) const CONFIG: &str = "loadforge-gate.yml";

/// One of the two gates: its profile in the config file, its job, and its load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    /// The profile's name (`--profile`, the `profile` input).
    pub(crate) name: &'static str,
    /// The job's name (`job-prefix`), which also names its baseline.
    pub(crate) job: &'static str,
    pub(crate) users: u32,
    pub(crate) spawn_rate: u32,
    pub(crate) run_time: &'static str,
    /// Where it runs and what it is compared with, as a comment.
    pub(crate) about: &'static str,
}

/// The smoke gate: every merge request, and the default branch too, since a merge request's
/// baseline is this same job (same load) in its target branch's pipeline.
pub(crate) const SMOKE: Profile = Profile {
    name: "mr-smoke",
    job: "perf-smoke",
    users: 5,
    spawn_rate: 5,
    run_time: "30s",
    about: "Merge requests, and the default branch, whose run of this gate is their baseline.",
};

/// The default branch's gate: more load for longer, judged against its own history.
pub(crate) const DEFAULT_BRANCH: Profile = Profile {
    name: "default-branch",
    job: "perf-default-branch",
    users: 20,
    spawn_rate: 5,
    run_time: "2m",
    about: "The default branch only: more users for longer, judged against its own history.",
};

/// Both, in the order they are written.
pub(crate) const PROFILES: [Profile; 2] = [SMOKE, DEFAULT_BRANCH];

/// The thresholds of a first gate: loose enough to pass a healthy service, strict enough to
/// stop a broken one.
const THRESHOLDS: &str = r#"["p95<1s", "error_rate<1%"]"#;

/// `s` as a YAML scalar: plain when that cannot be misread, else double-quoted (a JSON
/// string is a valid YAML double-quoted scalar).
pub(crate) fn scalar(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-~:$%+=&?".contains(c);
    let plain = s.starts_with(|c: char| c == '/' || c.is_ascii_alphabetic())
        && s.chars().all(safe)
        && !s.ends_with(':')
        && !["null", "true", "false", "yes", "no", "on", "off"].contains(&s);
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// The starter scenario: one task per request, each flagged by a comment when the host's
/// answer means every request to it would fail.
pub(crate) fn scenario(host: &str, requests: &[Request], answers: &[Answer]) -> String {
    let mut out = format!(
        "# A starter scenario written by `loadforge-gate init` for {host}.\n\
         # Each virtual user sends one of these requests at a time, all equally often, and waits\n\
         # 1 to 2 s between them. A request fails on no answer or a status of 400 or more. Add a\n\
         # login, checks, weights and bodies as loadforge-gate's docs/scenario-format.md shows;\n\
         # `loadforge-gate validate` checks the file.\n\
         wait: {{between: [1, 2]}}\n\
         tasks:\n"
    );
    for (i, r) in requests.iter().enumerate() {
        out.push_str(&format!(
            "  - request: {{method: {}, path: {}}}",
            r.method,
            scalar(&r.path)
        ));
        match answers.get(i) {
            Some(Answer::Status { code, .. }) if *code >= 400 => out.push_str(&format!(
                "  # flagged: answered {code} when init checked it"
            )),
            Some(Answer::Failed(_)) => out.push_str("  # flagged: no answer when init checked it"),
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// `loadforge-gate.yml`: the scenario, the host for runs on a workstation (`None` when the
/// host holds a CI variable, which only CI fills in), the thresholds and the two profiles.
pub(crate) fn config(host: Option<&str>) -> String {
    let host_line = match host {
        Some(h) => format!(
            "host: {}   # for runs on your machine; in CI the include's host input wins\n",
            scalar(h)
        ),
        None => {
            "# host: the include's host input in CI; on your machine --host URL or TARGET_HOST\n"
                .to_string()
        }
    };
    let mut out = format!(
        "# The performance gate's settings, written by `loadforge-gate init` (loadforge-gate's\n\
         # docs/settings.md). A profile's keys win over the top level's, and a flag or a\n\
         # LOADFORGE_GATE_* variable (what the component's inputs become) wins over both.\n\
         scenario: {SCENARIO}\n\
         {host_line}\
         # Tighten these once the first runs show your numbers.\n\
         thresholds: {THRESHOLDS}\n\
         profiles:\n"
    );
    for p in PROFILES {
        out.push_str(&format!(
            "  # {}\n  {}: {{users: {}, spawn_rate: {}, run_time: {}}}\n",
            p.about, p.name, p.users, p.spawn_rate, p.run_time
        ));
    }
    out
}

/// The include for `.gitlab-ci.yml`: both gates, with the `pipelines` input the project's
/// workflow needs and, when `stage` says so, the stage to run in.
pub(crate) fn include(host: &str, pipelines: Pipelines, stage: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = String::from("include:\n");
    for p in PROFILES {
        out.push_str(&format!(
            "  # {}\n  - component: $CI_SERVER_FQDN/loadforge/loadforge-gate/loadforge-gate@{version}\n    inputs:\n",
            p.about
        ));
        let mut line = |key: &str, value: &str| {
            out.push_str(&format!("      {key}: {value}\n"));
        };
        line("job-prefix", p.job);
        if let Some(stage) = stage {
            line("stage", &scalar(stage));
        }
        line("profile", p.name);
        line("scenario", SCENARIO);
        line("host", &scalar(host));
        // The load is the profile's: users, spawn-rate and run-time left out of the include
        // leave it to the config file. The default-branch gate runs by its own rules alone.
        if p.name == DEFAULT_BRANCH.name {
            line("pipelines", "custom");
            out.push_str("      rules:\n        - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n");
        } else {
            line("pipelines", pipelines.input());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_nothing_can_misread_them() {
        assert_eq!(scalar("/api/health"), "/api/health");
        assert_eq!(
            scalar("https://review-$CI_COMMIT_REF_SLUG.example.com"),
            "https://review-$CI_COMMIT_REF_SLUG.example.com"
        );
        assert_eq!(scalar("/search?q=a b"), r#""/search?q=a b""#);
        assert_eq!(scalar("/a,b"), r#""/a,b""#);
        assert_eq!(scalar("/x # y"), r#""/x # y""#);
        assert_eq!(scalar("/a:"), r#""/a:""#);
        assert_eq!(scalar("null"), r#""null""#);
        assert_eq!(scalar("*a"), r#""*a""#);
        assert_eq!(scalar("a\"\n"), r#""a\"\n""#);
    }

    #[test]
    fn the_include_names_this_version_and_the_pipelines_input() {
        let text = include("https://h.example", Pipelines::MergeRequest, Some("perf"));
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text.matches(&format!("/loadforge-gate@{version}\n"))
                .count(),
            2,
            "{text}"
        );
        assert_eq!(text.matches("pipelines: merge-request\n").count(), 1);
        assert_eq!(text.matches("pipelines: custom\n").count(), 1);
        assert_eq!(text.matches("stage: perf\n").count(), 2);
        assert_eq!(text.matches("rules:").count(), 1, "{text}");
        assert!(!include("https://h.example", Pipelines::Branch, None).contains("stage:"));
    }
}
