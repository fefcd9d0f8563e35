//! The sticky merge-request comment: which merge requests a pipeline speaks to, and the one
//! note per job on each, created once and edited ever after ([`super::notes`] keeps it one, and
//! the newest pipeline's), each outcome said in a line.
//!
//! Whatever happens here, the verdict and the exit code stay as they are: the comment is a
//! courtesy, the gate is the contract. Every outcome is one line on stderr.

use super::{
    notes::Retired, ApiClient, Auth, GitlabError, NoteAction, NoteOutcome, Ours, RetryPolicy, Run,
    Settled, Stamped, Thread,
};
use crate::{ci::CiContext, modes::CommentMode, secret::Secret, tls::ClientNet};

/// What the comment needs besides its text.
#[derive(Debug, Clone)]
pub(crate) struct CommentSettings {
    /// The pipeline's variables.
    pub(crate) ci: CiContext,
    /// `--comment`.
    pub(crate) mode: CommentMode,
    /// `LOADFORGE_GATE_GITLAB_TOKEN`: the job token cannot write notes.
    pub(crate) token: Option<Secret>,
    /// The instance's CA and proxy settings.
    pub(crate) net: ClientNet,
    /// The hidden marker that tells this job's note from every other.
    pub(crate) marker: String,
}

/// Creates or updates the note on every merge request this pipeline speaks to.
pub(crate) fn post(settings: &CommentSettings, body: &str) {
    let Some((client, targets)) = targets_with_client(settings) else {
        return;
    };
    let failed = |e: &(dyn std::error::Error + 'static)| {
        say(&format!(
            "failed: {}; the verdict is unaffected",
            crate::chain::one_line(e)
        ))
    };
    let targets = match targets {
        Targets::One(project, iid) => vec![(project, iid)],
        Targets::OpenFrom(project, branch) => {
            match own_open_merge_requests(&client, &project, &branch) {
                Ok(iids) if iids.is_empty() => {
                    return say("no open merge request for this pipeline")
                }
                Ok(iids) => iids.into_iter().map(|i| (project.clone(), i)).collect(),
                Err(e) => return failed(&e),
            }
        }
    };
    // Only a note this token's own user wrote is ever edited or deleted: a marker quoted in
    // someone else's note must neither be overwritten nor stop the gate from commenting.
    let me = match super::current_user(&client) {
        Ok(id) => id,
        Err(e) => return failed(&e),
    };
    let ours = Ours {
        user: me,
        marker: &settings.marker,
    };
    let ci = &settings.ci;
    let run = Run::new(ci.pipeline_id.as_deref(), ci.job_id.as_deref());
    let text = Stamped::new(run, body);
    for (project, iid) in targets {
        let at = Thread {
            project: &project,
            iid,
        };
        match super::upsert_note(&client, at, ours, &text) {
            Ok(outcome) => tell(iid, &outcome),
            Err(e) => failed(&e),
        }
    }
}

/// One line for what this run wrote, one for what the look after it settled, and one for each
/// older note of the job by another user that stays.
fn tell(mr: u64, outcome: &NoteOutcome) {
    retired(mr, &outcome.retired);
    say(&match outcome.action {
        NoteAction::Created(id) => format!("created note {id} on !{mr}"),
        NoteAction::Updated(id) => format!("updated note {id} on !{mr}"),
        NoteAction::Recovered(id) => format!(
            "created note {id} on !{mr} (GitLab saved it although it answered with an error; found and updated, not posted twice)"
        ),
        NoteAction::Newer { id, pipeline } => format!(
            "note {id} on !{mr} holds the verdict of a newer pipeline{}; this older one is not written over it",
            pipeline.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
    });
    match &outcome.settled {
        Ok(None) => {}
        Ok(Some(s)) => settled(mr, s),
        Err(e) => say(&format!(
            "could not look at the notes again after writing: {}; the verdict is unaffected",
            crate::chain::one_line(e)
        )),
    }
}

/// What the look after writing did: a race's notes brought back to one, or an older verdict
/// written over this one's set back. A delete that failed is said once.
fn settled(mr: u64, s: &Settled) {
    let verdict = s
        .verdict_of
        .map(|p| format!("the verdict of pipeline {p}"))
        .unwrap_or_else(|| "the newest verdict".to_string());
    if s.found > 1 {
        let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        say(&format!(
            "{} notes of this job on !{mr} (pipelines commenting at once): kept note {}, the oldest, with {verdict}; deleted {}",
            s.found,
            s.kept,
            if s.deleted.is_empty() { "none".to_string() } else { ids(&s.deleted) },
        ));
    } else if s.edited {
        say(&format!(
            "note {} on !{mr} held an older pipeline's verdict again; set back to {verdict}",
            s.kept
        ));
    }
    for (id, e) in &s.undeleted {
        say(&format!(
            "could not delete note {id} on !{mr}: {}; it stays",
            crate::chain::one_line(e)
        ));
    }
    if s.left > 0 {
        say(&format!(
            "{} more notes of this job on !{mr} are left for the next pipeline",
            s.left
        ));
    }
}

/// What became of the job's notes by another user (a token rotated to another bot).
fn retired(mr: u64, r: &Retired) {
    if !r.deleted.is_empty() {
        let ids: Vec<String> = r.deleted.iter().map(u64::to_string).collect();
        say(&format!(
            "deleted note {} on !{mr}: this job's note by another user, written with the token the gate used before",
            ids.join(", ")
        ));
    }
    for (id, e) in &r.left {
        say(&format!(
            "note {id} on !{mr} is this job's note by another user (the token the gate used before) and stays ({}); this run's note names it as stale",
            crate::chain::one_line(e)
        ));
    }
}

fn say(msg: &str) {
    eprintln!("loadforge-gate: comment: {msg}");
}

/// The merge requests to comment on.
#[derive(Debug, PartialEq, Eq)]
enum Targets {
    /// A merge-request pipeline's own: the project that holds it, and its iid.
    One(String, u64),
    /// `comment: always` in a branch pipeline: the open merge requests from this branch of
    /// this project.
    OpenFrom(String, String),
}

/// Where to comment and the client to do it with; `None`, said once, when commenting does not
/// apply or cannot be done.
fn targets_with_client(settings: &CommentSettings) -> Option<(ApiClient, Targets)> {
    let ci = &settings.ci;
    if settings.mode == CommentMode::Never || !ci.gitlab {
        return None;
    }
    let targets = match targets(ci, settings.mode) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(why) => {
            say(&format!("skipped: {why}"));
            return None;
        }
    };
    let Some(api_url) = ci.api_url.as_deref() else {
        say("skipped: CI_API_V4_URL is not set");
        return None;
    };
    let Some(token) = settings.token.clone() else {
        say("skipped: LOADFORGE_GATE_GITLAB_TOKEN is not set in this pipeline (CI_JOB_TOKEN cannot write notes). Store a project access token with api scope as a masked CI/CD variable that is not protected: a protected variable never reaches the pipelines of unprotected branches");
        return None;
    };
    match ApiClient::new(
        api_url,
        Auth::Private(token),
        RetryPolicy::default(),
        &settings.net,
    ) {
        Ok(c) => Some((c, targets)),
        Err(e) => {
            say(&format!("skipped: {}", crate::chain::one_line(&e)));
            None
        }
    }
}

/// The merge requests a pipeline speaks to: in a merge-request pipeline its own, in the project
/// that holds it (`CI_MERGE_REQUEST_PROJECT_ID`: a fork's pipeline runs in the fork, whose
/// `CI_PROJECT_ID` names another project, where the same iid is another merge request), or
/// the one a branch pipeline speaks for (`commands::speaks_for`); with `comment: always` in a
/// branch pipeline, every open one from this branch. `Ok(None)` when
/// there are none to look for; `Err` says which variable is missing.
fn targets(ci: &CiContext, mode: CommentMode) -> Result<Option<Targets>, &'static str> {
    // `always` in a branch pipeline: every open merge request from the branch, not only the
    // one it speaks for.
    let every_open = mode == CommentMode::Always && ci.adopted;
    if let Some(iid) = ci.merge_request_iid.as_deref().filter(|_| !every_open) {
        let project = ci
            .merge_request_project()
            .ok_or("CI_MERGE_REQUEST_PROJECT_ID and CI_PROJECT_ID are not set")?;
        let iid = iid
            .parse()
            .map_err(|_| "CI_MERGE_REQUEST_IID is not a number")?;
        return Ok(Some(Targets::One(project.to_string(), iid)));
    }
    if mode != CommentMode::Always {
        return Ok(None);
    }
    let project = ci.project_id.as_deref().ok_or("CI_PROJECT_ID is not set")?;
    let branch = ci
        .commit_branch
        .as_deref()
        .ok_or("not a branch pipeline (CI_COMMIT_BRANCH is not set)")?;
    Ok(Some(Targets::OpenFrom(
        project.to_string(),
        branch.to_string(),
    )))
}

/// The open merge requests whose source is `branch` of `project` itself. A fork's merge
/// request into this project may come from a branch of the same name: it lists here too, with
/// the fork as its `source_project_id`, and is none of this pipeline's business.
fn own_open_merge_requests(
    c: &ApiClient,
    project: &str,
    branch: &str,
) -> Result<Vec<u64>, GitlabError> {
    let own = project.parse::<u64>().ok();
    Ok(super::open_merge_requests(c, project, branch)?
        .into_iter()
        .filter(|m| own.is_some() && m.source_project_id == own)
        .map(|m| m.iid)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(vars: &[(&str, &str)]) -> CiContext {
        let env = |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        };
        CiContext::from_env(&env)
    }

    #[test]
    fn a_fork_pipeline_speaks_to_the_merge_request_in_the_target_project() {
        let fork = ci(&[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "43"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_PROJECT_ID", "42"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "43"),
        ]);
        assert_eq!(
            targets(&fork, CommentMode::Auto),
            Ok(Some(Targets::One("42".into(), 7)))
        );
    }

    #[test]
    fn comment_always_in_a_branch_pipeline_looks_for_merge_requests_of_its_branch() {
        let branch = ci(&[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "42"),
            ("CI_COMMIT_BRANCH", "feature"),
            ("CI_COMMIT_REF_NAME", "feature"),
        ]);
        assert_eq!(targets(&branch, CommentMode::Auto), Ok(None));
        assert_eq!(
            targets(&branch, CommentMode::Always),
            Ok(Some(Targets::OpenFrom("42".into(), "feature".into())))
        );
        // A tag pipeline has no branch, so no merge request comes from it.
        let tag = ci(&[
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "42"),
            ("CI_COMMIT_TAG", "1.0.0"),
            ("CI_COMMIT_REF_NAME", "1.0.0"),
        ]);
        assert!(targets(&tag, CommentMode::Always).is_err());
    }
}
