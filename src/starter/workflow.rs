//! Which pipelines a project runs, read from its `.gitlab-ci.yml`, so `init` can give the
//! include the `pipelines` input that fits without asking.
//!
//! GitLab creates merge-request pipelines only when a rule asks for them. A project whose
//! `workflow:rules` do (a rule on `$CI_PIPELINE_SOURCE == "merge_request_event"` or on
//! `$CI_MERGE_REQUEST_IID`, as GitLab's "switch between branch pipelines and merge request
//! pipelines" pattern and its `Workflows/MergeRequest-Pipelines` template do: gitlabhq
//! `doc/ci/yaml/workflow.md`, `lib/gitlab/ci/templates/Workflows/`) runs its jobs there, and the
//! gate belongs there too: `pipelines: merge-request`. Every other project (no `workflow:rules`,
//! the `Workflows/Branch-Pipelines` template, rules for pushes only) runs branch pipelines, the
//! component's default: `pipelines: branch`, which never creates a pipeline of its own.
//!
//! The file is someone else's and may be anything: it is read up to a cap with the one YAML
//! reader (budgets on aliases and nesting), only the keys that matter are looked at, and a
//! file that cannot be read is a one-line warning and the default, never an error or a panic.

use std::{collections::BTreeMap, path::Path};

use serde::{de::IgnoredAny, Deserialize};

/// The file GitLab reads by default.
pub(crate) const GITLAB_CI: &str = ".gitlab-ci.yml";

/// The `pipelines` input of the component: which pipelines the gate joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipelines {
    /// Branch (and tag) pipelines, the component's default.
    Branch,
    /// Merge-request pipelines, for projects whose `workflow:rules` create them.
    MergeRequest,
}

impl Pipelines {
    /// The input's value, as the include spells it.
    pub(crate) fn input(self) -> &'static str {
        match self {
            Pipelines::Branch => "branch",
            Pipelines::MergeRequest => "merge-request",
        }
    }
}

/// What the project's `.gitlab-ci.yml` says about its pipelines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workflow {
    /// The pipelines the gate should join.
    pub(crate) pipelines: Pipelines,
    /// Why, in words for the user: which rule, template or absence decided it.
    pub(crate) why: String,
    /// The stages the file declares, when it declares them (`stages:`).
    pub(crate) stages: Option<Vec<String>>,
    /// Why the file could not be read, when it could not: the default was taken.
    pub(crate) warning: Option<String>,
}

impl Workflow {
    fn default_because(why: &str) -> Workflow {
        Workflow {
            pipelines: Pipelines::Branch,
            why: why.to_string(),
            stages: None,
            warning: None,
        }
    }
}

impl Workflow {
    /// The stage the gate should run in when the component's default, `test`, will not do:
    /// the stage after the last deploy stage (the gate measures what was deployed), else the
    /// last stage when the file declares stages without `test` (GitLab refuses a job whose
    /// stage does not exist). With the stage, why it was chosen.
    pub(crate) fn stage(&self) -> Option<(String, String)> {
        let stages = self.stages.as_ref()?;
        let deploy = stages.iter().rposition(|s| s.contains("deploy"));
        if let Some(next) = deploy.and_then(|i| stages.get(i + 1)) {
            let after = &stages[deploy.unwrap_or_default()];
            return Some((next.clone(), format!("the stage after `{after}`")));
        }
        if stages.iter().any(|s| s == "test") {
            return None;
        }
        let last = stages.last()?;
        Some((
            last.clone(),
            "your stages have no `test`, the component's default".into(),
        ))
    }
}

/// Reads `dir/.gitlab-ci.yml` when there is one; a file that cannot be read or parsed gives
/// the default with a warning.
pub(crate) fn read(dir: &Path) -> Workflow {
    let path = dir.join(GITLAB_CI);
    if !path.exists() {
        return Workflow::default_because(
            "there is no .gitlab-ci.yml yet, and without workflow:rules GitLab runs branch pipelines",
        );
    }
    let text = match crate::capped::read_text_file(&path, crate::defaults::MAX_USER_FILE_BYTES) {
        Ok(text) => text,
        Err(e) => return unreadable(&format!("cannot read it ({e})")),
    };
    match from_text(&text) {
        Ok(found) => found,
        Err(e) => unreadable(&format!("it is not YAML init can read ({e})")),
    }
}

fn unreadable(why: &str) -> Workflow {
    Workflow {
        warning: Some(format!(
            "{GITLAB_CI}: {why}; assuming branch pipelines (pass --pipelines merge-request if it creates merge-request pipelines)"
        )),
        ..Workflow::default_because(".gitlab-ci.yml could not be read")
    }
}

/// The keys of a `.gitlab-ci.yml` that say which pipelines run and in which stages; every
/// other key is skipped unread (jobs, anchors, `!reference` tags).
#[derive(Deserialize, Default)]
struct CiFile {
    #[serde(default)]
    workflow: Option<Loose<WorkflowKey>>,
    #[serde(default)]
    include: Option<Loose<Includes>>,
    #[serde(default)]
    stages: Option<Loose<Vec<Loose<String>>>>,
}

/// A value of the expected shape, or anything else (a `!reference`, a typo), which is skipped
/// rather than failing the whole file.
#[derive(Deserialize)]
#[serde(untagged)]
enum Loose<T> {
    Is(T),
    Other(IgnoredAny),
}

impl<T> Loose<T> {
    fn get(&self) -> Option<&T> {
        match self {
            Loose::Is(t) => Some(t),
            Loose::Other(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct WorkflowKey {
    #[serde(default)]
    rules: Option<Vec<Loose<Entry>>>,
}

/// A rule, or an include entry: a mapping read as one (a sequence, such as a `!reference`,
/// is not one), whose text values are kept and the others skipped.
type Entry = BTreeMap<String, Loose<String>>;

/// The text under `key` of an entry.
fn text<'a>(entry: &'a Entry, key: &str) -> Option<&'a str> {
    entry.get(key).and_then(Loose::get).map(String::as_str)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Includes {
    Many(Vec<Loose<Include>>),
    One(Include),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Include {
    Entry(Entry),
    /// `include: path/to/file.yml`: a local or remote file, not read.
    Path(IgnoredAny),
}

/// GitLab's workflow templates (gitlabhq `lib/gitlab/ci/templates/Workflows/`).
const MR_TEMPLATE: &str = "Workflows/MergeRequest-Pipelines.gitlab-ci.yml";
const BRANCH_TEMPLATE: &str = "Workflows/Branch-Pipelines.gitlab-ci.yml";

/// What the text of a `.gitlab-ci.yml` says; an error only when it is not YAML at all.
pub(crate) fn from_text(text: &str) -> Result<Workflow, crate::yaml::YamlError> {
    let file: CiFile =
        crate::yaml::from_str_with::<Option<CiFile>>(text, &crate::yaml::YamlBudget::default())?
            .unwrap_or_default();
    let stages = file.stages.as_ref().and_then(Loose::get).map(|list| {
        list.iter()
            .filter_map(|s| s.get().cloned())
            .collect::<Vec<_>>()
    });
    let rules = file
        .workflow
        .as_ref()
        .and_then(Loose::get)
        .and_then(|w| w.rules.as_ref());
    let (pipelines, why) = match rules {
        Some(rules) => from_rules(rules),
        None => from_includes(file.include.as_ref().and_then(Loose::get)),
    };
    Ok(Workflow {
        pipelines,
        why,
        stages,
        warning: None,
    })
}

/// The first rule that lets merge-request pipelines be created, if any. A rule that is not a
/// mapping (a `!reference` to rules elsewhere) cannot be read, and is said so.
fn from_rules(rules: &[Loose<Entry>]) -> (Pipelines, String) {
    let mut unread = 0;
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = rule.get() else {
            unread += 1;
            continue;
        };
        if text(rule, "when").is_some_and(|w| w.trim() == "never") {
            continue;
        }
        if let Some(condition) = text(rule, "if").filter(|c| asks_for_merge_requests(c)) {
            return (
                Pipelines::MergeRequest,
                format!(
                    "rule {} of the workflow:rules in .gitlab-ci.yml (`if: {}`) creates merge-request pipelines",
                    i + 1,
                    clip(condition)
                ),
            );
        }
    }
    let mut why =
        "the workflow:rules in .gitlab-ci.yml create no merge-request pipelines".to_string();
    if unread > 0 {
        why.push_str(&format!(
            " ({unread} of them, such as a !reference, could not be read)"
        ));
    }
    (Pipelines::Branch, why)
}

/// Without `workflow:rules` of its own, a file may take them from GitLab's templates; other
/// included files are not read, and the user is told so.
fn from_includes(include: Option<&Includes>) -> (Pipelines, String) {
    let entries: Vec<&Include> = match include {
        None => Vec::new(),
        Some(Includes::One(one)) => vec![one],
        Some(Includes::Many(many)) => many.iter().filter_map(Loose::get).collect(),
    };
    let templates: Vec<&str> = (entries.iter())
        .filter_map(|i| match i {
            Include::Entry(e) => text(e, "template"),
            Include::Path(_) => None,
        })
        .map(|t| t.trim().trim_start_matches('/'))
        .collect();
    if templates.contains(&MR_TEMPLATE) {
        return (
            Pipelines::MergeRequest,
            format!(".gitlab-ci.yml includes GitLab's {MR_TEMPLATE} template, which creates merge-request pipelines"),
        );
    }
    if templates.contains(&BRANCH_TEMPLATE) {
        return (
            Pipelines::Branch,
            format!(".gitlab-ci.yml includes GitLab's {BRANCH_TEMPLATE} template: branch pipelines only"),
        );
    }
    let mut why =
        ".gitlab-ci.yml has no workflow:rules, so GitLab runs branch pipelines".to_string();
    if entries.len() > templates.len() {
        why.push_str(" (the files it includes were not read: if one of them has workflow:rules that create merge-request pipelines, pass --pipelines merge-request)");
    }
    (Pipelines::Branch, why)
}

/// At most 80 characters of a rule, on one line.
fn clip(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(80).collect();
    if one_line.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

/// One token of a rule's `if:` expression (gitlabhq `lib/gitlab/ci/pipeline/expression/`):
/// only what tells a merge-request condition from others.
#[derive(Debug, PartialEq)]
enum Tok {
    Var(String),
    Text(String),
    Null,
    Op(&'static str),
    Other,
}

/// The tokens of `expr`, in one pass over its characters.
fn tokens(expr: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '$' => {
                let braced = chars.next_if_eq(&'{').is_some();
                let mut name = String::new();
                while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    name.push(c);
                }
                if braced {
                    chars.next_if_eq(&'}');
                }
                out.push(Tok::Var(name));
            }
            '"' | '\'' => out.push(Tok::Text(chars.by_ref().take_while(|d| *d != c).collect())),
            // A regular expression follows a match operator: `=~ /^merge_request/`.
            '/' if matches!(out.last(), Some(Tok::Op("=~" | "!~"))) => {
                let mut text = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => text.extend(chars.next()),
                        '/' => break,
                        d => text.push(d),
                    }
                }
                while chars.next_if(char::is_ascii_alphabetic).is_some() {}
                out.push(Tok::Text(text));
            }
            '=' | '!' if chars.peek().is_some_and(|d| *d == '=' || *d == '~') => {
                let op = match (c, chars.next()) {
                    ('=', Some('=')) => "==",
                    ('=', _) => "=~",
                    ('!', Some('=')) => "!=",
                    _ => "!~",
                };
                out.push(Tok::Op(op));
            }
            '&' | '|' => {
                chars.next_if_eq(&c);
                out.push(Tok::Op(if c == '&' { "&&" } else { "||" }));
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(c) = chars.next_if(char::is_ascii_alphanumeric) {
                    word.push(c);
                }
                out.push(if word == "null" {
                    Tok::Null
                } else {
                    Tok::Other
                });
            }
            _ => out.push(Tok::Other),
        }
    }
    out
}

/// Whether a rule's condition holds in merge-request pipelines because of what they are:
/// `$CI_PIPELINE_SOURCE == "merge_request_event"` (either side, or `=~` a pattern naming it),
/// or `$CI_MERGE_REQUEST_IID` (or `_ID`) tested as set. A negation (`!=`, `== null`) is not.
pub(crate) fn asks_for_merge_requests(expr: &str) -> bool {
    let toks = tokens(expr);
    let is_var = |t: &Tok, names: &[&str]| matches!(t, Tok::Var(n) if names.contains(&n.as_str()));
    let names_event = |t: &Tok| matches!(t, Tok::Text(s) if s.contains("merge_request_event"));
    let source = ["CI_PIPELINE_SOURCE"];
    let iid = ["CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_ID"];
    (0..toks.len()).any(|i| {
        let at = |k: usize| toks.get(k);
        let positive_op = |k: usize| matches!(at(k), Some(Tok::Op("==" | "=~")));
        if is_var(&toks[i], &source) {
            return positive_op(i + 1) && at(i + 2).is_some_and(names_event);
        }
        if names_event(&toks[i]) {
            return matches!(at(i + 1), Some(Tok::Op("==")))
                && at(i + 2).is_some_and(|t| is_var(t, &source));
        }
        if !is_var(&toks[i], &iid) {
            return false;
        }
        let empty = |k: usize| {
            matches!(at(k), Some(Tok::Null)) || matches!(at(k), Some(Tok::Text(s)) if s.is_empty())
        };
        match at(i + 1) {
            None | Some(Tok::Op("&&" | "||")) | Some(Tok::Other) => true,
            Some(Tok::Op("!=")) => empty(i + 2),
            Some(Tok::Op("==" | "=~")) => !empty(i + 2),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Pipelines {
        from_text(text).unwrap().pipelines
    }

    #[test]
    fn the_switch_pattern_and_the_merge_request_template_mean_merge_request_pipelines() {
        let switch = "workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS\n      when: never\n    - if: $CI_COMMIT_BRANCH\n";
        let found = from_text(switch).unwrap();
        assert_eq!(found.pipelines, Pipelines::MergeRequest);
        assert!(found.why.contains("rule 1"), "{}", found.why);
        let template = "include:\n  - template: Workflows/MergeRequest-Pipelines.gitlab-ci.yml\n";
        assert_eq!(kind(template), Pipelines::MergeRequest);
        let one = "include:\n  template: 'Workflows/MergeRequest-Pipelines.gitlab-ci.yml'\n";
        assert_eq!(kind(one), Pipelines::MergeRequest);
        let iid =
            "workflow:\n  rules:\n    - if: $CI_MERGE_REQUEST_IID\n    - if: $CI_COMMIT_TAG\n";
        assert_eq!(kind(iid), Pipelines::MergeRequest);
    }

    #[test]
    fn branch_pipelines_are_the_default() {
        for text in [
            "",
            "test:\n  script: [make test]\n",
            "include:\n  - template: Workflows/Branch-Pipelines.gitlab-ci.yml\n",
            "workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"push\"\n",
            // Merge-request pipelines refused, not asked for.
            "workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n      when: never\n    - when: always\n",
            "workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE != \"merge_request_event\"\n",
            "workflow:\n  rules:\n    - if: $CI_MERGE_REQUEST_IID == null\n",
            // The guard of the switch pattern alone.
            "workflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS && $CI_PIPELINE_SOURCE == \"push\"\n      when: never\n",
        ] {
            assert_eq!(kind(text), Pipelines::Branch, "{text}");
        }
    }

    #[test]
    fn a_file_of_its_own_wins_over_an_included_template() {
        let text = "include:\n  - template: Workflows/MergeRequest-Pipelines.gitlab-ci.yml\nworkflow:\n  rules:\n    - if: $CI_COMMIT_BRANCH\n";
        assert_eq!(kind(text), Pipelines::Branch);
    }

    #[test]
    fn conditions_are_read_as_gitlab_writes_them() {
        for yes in [
            "$CI_PIPELINE_SOURCE == 'merge_request_event'",
            "${CI_PIPELINE_SOURCE}==\"merge_request_event\"",
            "\"merge_request_event\" == $CI_PIPELINE_SOURCE",
            "$CI_PIPELINE_SOURCE =~ /^merge_request_event$/",
            "$CI_PIPELINE_SOURCE == \"merge_request_event\" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == \"main\"",
            "($CI_MERGE_REQUEST_IID)",
            "$CI_MERGE_REQUEST_ID != null",
            "$CI_COMMIT_TAG || $CI_MERGE_REQUEST_IID",
        ] {
            assert!(asks_for_merge_requests(yes), "{yes}");
        }
        for no in [
            "$CI_PIPELINE_SOURCE == \"push\"",
            "$CI_PIPELINE_SOURCE !~ /merge_request_event/",
            "$CI_MERGE_REQUEST_IID == \"\"",
            "$CI_OPEN_MERGE_REQUESTS",
            "$CI_COMMIT_MESSAGE =~ /merge_request_event/",
            "",
            "\"",
            "$",
        ] {
            assert!(!asks_for_merge_requests(no), "{no}");
        }
    }

    #[test]
    fn what_gitlab_files_hold_elsewhere_is_skipped() {
        let text = ".defaults: &defaults\n  image: ruby\n  tags: [docker]\nbuild:\n  <<: *defaults\n  script: !reference [.setup, script]\nworkflow:\n  rules:\n    - !reference [.rules, common]\n    - if: $CI_MERGE_REQUEST_IID\nstages: [build, test, deploy]\n";
        let found = from_text(text).unwrap();
        assert_eq!(found.pipelines, Pipelines::MergeRequest, "{}", found.why);
        assert_eq!(
            found.stages.as_deref(),
            Some(&["build".to_string(), "test".into(), "deploy".into()][..])
        );
        let odd = "workflow: [1, 2]\ninclude: 7\nstages: build\n";
        let found = from_text(odd).unwrap();
        assert_eq!((found.pipelines, found.stages), (Pipelines::Branch, None));
        let unread = "workflow:\n  rules:\n    - !reference [.rules, common]\n";
        assert!(from_text(unread).unwrap().why.contains("could not be read"));
    }

    #[test]
    fn an_included_file_is_named_as_not_read() {
        let found = from_text("include:\n  - local: ci/workflow.yml\n  - lint.yml\n").unwrap();
        assert_eq!(found.pipelines, Pipelines::Branch);
        assert!(
            found.why.contains("--pipelines merge-request"),
            "{}",
            found.why
        );
    }

    #[test]
    fn hostile_files_give_the_default_with_a_warning() {
        let dir = tempfile_dir("hostile");
        for text in [
            "workflow: [\n".to_string(),
            "a: &a [x, x]\nb: *c\n".to_string(),
            "[".repeat(10_000),
        ] {
            std::fs::write(dir.join(GITLAB_CI), &text).unwrap();
            let found = read(&dir);
            assert_eq!(found.pipelines, Pipelines::Branch);
            let warning = found.warning.expect("a warning");
            assert!(!warning.contains('\n'), "{warning}");
        }
        std::fs::write(dir.join(GITLAB_CI), [0xff, 0xfe]).unwrap();
        assert!(read(&dir).warning.unwrap().contains("not UTF-8"));
        std::fs::remove_file(dir.join(GITLAB_CI)).unwrap();
        let none = read(&dir);
        assert_eq!((none.pipelines, none.warning), (Pipelines::Branch, None));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_gate_runs_after_the_deploy_and_in_a_stage_that_exists() {
        let stage = |text: &str| from_text(text).unwrap().stage();
        assert_eq!(stage("build: {script: [x]}\n"), None);
        assert_eq!(stage("stages: [build, test, deploy]\n"), None);
        let after = stage("stages: [build, deploy-review, performance, cleanup]\n").unwrap();
        assert_eq!(after.0, "performance");
        assert!(after.1.contains("deploy-review"), "{}", after.1);
        assert_eq!(stage("stages: [lint, build]\n").unwrap().0, "build");
        assert_eq!(stage("stages: []\n"), None);
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("starter-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
