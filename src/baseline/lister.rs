//! Which token reads the pipeline and job lists of a look-up, and what the report says about
//! the tokens that found the baseline and its history. Shared by the look-up
//! ([`super::remote`]) and its diagnosis ([`super::diagnose`]).
//!
//! The by-ref download takes `CI_JOB_TOKEN` on every GitLab. The lists (`GET
//! /projects/:id/pipelines`, `GET /projects/:id/pipelines/:pipeline_id/jobs`) take it only in
//! recent releases: gitlabhq `lib/api/ci/pipelines.rb` sets `job_token_allowed: true` on them,
//! with the fine-grained job token policies `read_pipelines` and `read_jobs` (the jobs list
//! first; the docs name no release). Its own project's job token is always admitted
//! (`Ci::JobToken::Scope#policies_allowed?` returns true when `self_referential?`,
//! app/models/ci/job_token/scope.rb); another project's when its allowlist admits it (and, for
//! an entry with fine-grained permissions, grants those policies), or when the project is
//! public or internal with its CI/CD visible to everyone (`allow_public_access_for_enabled_project_features:
//! [:repository, :builds]` on those routes; doc/ci/jobs/ci_job_token.md, "Limit job token
//! scope for public or internal projects"). So the look-up asks with the API token when it has
//! one, else with the job token, and takes a refusal of the job token as GitLab's answer for
//! the rest of the look-up: said once, never a failure.

use crate::gitlab::{ApiClient, GitlabError};

/// A token the look-up authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    /// `CI_JOB_TOKEN`.
    Job,
    /// `LOADFORGE_GATE_GITLAB_TOKEN`.
    Api,
}

impl Token {
    /// The variable that holds it, as the report names it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Token::Job => "CI_JOB_TOKEN",
            Token::Api => "LOADFORGE_GATE_GITLAB_TOKEN",
        }
    }
}

/// A client and the token it sends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lister<'c> {
    pub(super) client: &'c ApiClient,
    pub(super) token: Token,
}

/// The tokens of one look-up, and whether GitLab still lets the job token list.
#[derive(Debug)]
pub(super) struct Tokens<'c> {
    job: Option<&'c ApiClient>,
    /// The API token, while its steps work: `None` after one failed.
    pub(super) api: Option<&'c ApiClient>,
    /// The job token's lists are not asked for (again): GitLab refused them, or the job token
    /// altogether.
    no_job_lists: bool,
}

impl<'c> Tokens<'c> {
    pub(super) fn new(job: Option<&'c ApiClient>, api: Option<&'c ApiClient>) -> Tokens<'c> {
        Tokens {
            job,
            api,
            no_job_lists: false,
        }
    }

    /// The by-ref download's client: the job token, which every GitLab takes there, else the
    /// API token.
    pub(super) fn by_ref(&self) -> Option<Lister<'c>> {
        let job = self.job.map(|client| Lister {
            client,
            token: Token::Job,
        });
        job.or(self.api.map(|client| Lister {
            client,
            token: Token::Api,
        }))
    }

    /// Who lists pipelines and jobs: the API token while it works, else the job token unless
    /// GitLab refused it.
    pub(super) fn lister(&self) -> Option<Lister<'c>> {
        if let Some(client) = self.api {
            return Some(Lister {
                client,
                token: Token::Api,
            });
        }
        let job = self.job.filter(|_| !self.no_job_lists);
        job.map(|client| Lister {
            client,
            token: Token::Job,
        })
    }

    /// The job token's lists are not asked for: GitLab refused the job token for the
    /// project's artifacts, and the rules that refused it (its allowlist) refuse the lists
    /// too; the diagnosis says why.
    pub(super) fn skip_job_lists(&mut self) {
        self.no_job_lists = true;
    }

    /// Whether `e`, GitLab's answer to the job token's lists, is a refusal: then they are not
    /// asked for again, and `notes` says so once. Anything else (5xx, no answer) is no answer
    /// about the token, and the caller's to handle.
    ///
    /// A refusal is a 401 (a job token GitLab no longer takes), a 403 (another project's job
    /// token its allowlist or fine-grained permissions leave out: `handle_job_token_failure!`,
    /// `job_token_policies_unauthorized_message` in lib/api/helpers.rb; or an anonymous caller
    /// on a project whose pipelines are for members only) or a 404: a GitLab whose lists do
    /// not take the job token authenticates nobody (`find_user_from_job_token` returns nothing
    /// unless the route sets `job_token_allowed`, lib/gitlab/auth/auth_finders.rb), and an
    /// anonymous caller sees no private or internal project (`404 Project Not Found`,
    /// `find_project!`).
    pub(super) fn job_lists_refused(
        &mut self,
        e: &GitlabError,
        project: &str,
        notes: &mut Vec<String>,
    ) -> bool {
        if !matches!(e.status(), Some(401 | 403 | 404)) {
            return false;
        }
        if !self.no_job_lists {
            notes.push(format!(
                "GitLab did not let CI_JOB_TOKEN read the pipeline lists of project {project} ({}): GitLab takes the job token there only in recent releases, and from another project only where its allowlist or its public pipelines admit it. The look-up went on without them; LOADFORGE_GATE_GITLAB_TOKEN reads them on any GitLab.",
                crate::chain::one_line(e)
            ));
        }
        self.no_job_lists = true;
        true
    }
}

/// The note that says which token found the baseline and its history: `read` is the token
/// that read the history from the recent pipelines on `base_ref`, if one did; without it, the
/// history of `runs` runs (if any) came with the baseline.
pub(super) fn found_note(found: Token, read: Option<Token>, runs: usize, base_ref: &str) -> String {
    let found = found.name();
    let history = match runs {
        1 => "1 run".to_string(),
        n => format!("{n} runs"),
    };
    match (read, runs) {
        (Some(read), _) => format!(
            "Baseline found with {found}; a history of {history} read with {} from the recent successful pipelines on `{base_ref}`.",
            read.name()
        ),
        (None, 0) => format!("Baseline found with {found}."),
        (None, _) => format!("Baseline and its run history of {history} found with {found}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> GitlabError {
        GitlabError::Status {
            what: "the pipelines of `main`".into(),
            status,
        }
    }

    fn client() -> ApiClient {
        ApiClient::new(
            "http://127.0.0.1:9/api/v4",
            crate::gitlab::Auth::Job(crate::secret::Secret::new("t".into())),
            crate::gitlab::RetryPolicy::DEFAULT,
            &crate::tls::ClientNet::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_refusal_of_the_job_tokens_lists_is_said_once_and_ends_them() {
        let (job, api) = (client(), client());
        let mut tokens = Tokens::new(Some(&job), None);
        assert_eq!(tokens.lister().map(|l| l.token), Some(Token::Job));
        let mut notes = Vec::new();
        assert!(!tokens.job_lists_refused(&status(502), "42", &mut notes));
        assert!(notes.is_empty());
        assert!(tokens.lister().is_some(), "a 502 says nothing of the token");
        for code in [404, 403, 401] {
            assert!(tokens.job_lists_refused(&status(code), "42", &mut notes));
        }
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("(GitLab answered HTTP 404 to the pipelines of `main`)"));
        assert!(tokens.lister().is_none());
        assert_eq!(tokens.by_ref().map(|l| l.token), Some(Token::Job));

        let mut both = Tokens::new(Some(&job), Some(&api));
        assert_eq!(both.lister().map(|l| l.token), Some(Token::Api));
        both.api = None;
        assert_eq!(both.lister().map(|l| l.token), Some(Token::Job));
        both.skip_job_lists();
        assert!(both.lister().is_none());
    }

    #[test]
    fn the_found_note_names_each_token() {
        assert_eq!(
            found_note(Token::Job, Some(Token::Job), 5, "main"),
            "Baseline found with CI_JOB_TOKEN; a history of 5 runs read with CI_JOB_TOKEN from the recent successful pipelines on `main`."
        );
        assert_eq!(
            found_note(Token::Api, None, 3, "main"),
            "Baseline and its run history of 3 runs found with LOADFORGE_GATE_GITLAB_TOKEN."
        );
        assert_eq!(
            found_note(Token::Job, None, 0, "main"),
            "Baseline found with CI_JOB_TOKEN."
        );
        assert!(found_note(Token::Job, Some(Token::Api), 1, "main")
            .contains("a history of 1 run read with LOADFORGE_GATE_GITLAB_TOKEN"));
    }
}
