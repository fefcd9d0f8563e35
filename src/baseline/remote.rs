//! The previous pipeline's `results.json`, fetched from GitLab.
//!
//! Where it is looked for: a merge request compares with its target branch, in the project
//! that holds the merge request (`CI_MERGE_REQUEST_PROJECT_ID`: a fork's pipeline runs in the
//! fork); a tag compares with the default branch (a tag pipeline's own ref is a tag nobody ran
//! before); any other pipeline with its own branch.
//!
//! With `CI_JOB_TOKEN`: the job's artifact in the latest successful pipeline of that ref,
//! through the artifacts-by-ref endpoint (which, asked to, searches the recent successful
//! pipelines: GitLab 18.9 with a flag, every GitLab from 18.10). With an API token: the target
//! branch's pipeline at the merge base first (the rule GitLab's own merge-request widgets
//! use), or, for a merged-results or merge-train pipeline, at the target's head it was merged
//! onto (GitLab's rule for merged results); for a tag, the previous release tag's run. Then,
//! with the API token or with the job token where GitLab lets it list pipelines
//! ([`super::lister`]), the newest successful pipeline of the ref that ran the job (a newer
//! pipeline that skipped it hides the artifact from the by-ref endpoint:
//! gitlab-org/gitlab#349316), and the last few successful runs, whose spread is the noise
//! band. When nothing is found, [`super::diagnose`] says why.

use super::{
    diagnose, history_or_note,
    lister::{found_note, Token, Tokens},
    search::{Miss, Search, RECENT_PIPELINES},
};
use crate::{
    ci::CiContext,
    gitlab::{self, ApiClient, GitlabError, Pipeline, PipelineFilter},
    results::{self, Role},
    stats::{HistoryEntry, RunResult},
};

/// A baseline, wherever it came from (a file or a previous pipeline).
#[derive(Debug)]
pub(crate) struct Previous {
    /// Human description: which file or pipeline the baseline comes from.
    pub(crate) source: String,
    /// The baseline run.
    pub(crate) result: RunResult,
    /// The run history regressions are judged against (newest first): the chain the baseline
    /// carried or, with a token that may list pipelines and no chain, the last successful
    /// pipelines' runs. Empty: the baseline run alone.
    pub(crate) history: Vec<HistoryEntry>,
    /// What the report should say about how the baseline was read.
    pub(crate) notes: Vec<String>,
}

/// What a lookup found besides the baseline, for the report's notes.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    /// The baseline, when one was found.
    pub(crate) baseline: Option<Previous>,
    /// What the report should say about the lookup (why there is no baseline, what was skipped).
    pub(crate) notes: Vec<String>,
    /// Why a part of the look-up failed (GitLab answered 5xx, timed out or sent what cannot
    /// be read), when one did: without a baseline, the look-up failed rather than found none.
    pub(crate) failed: Option<String>,
    /// Why finding nothing is no proof that nothing was published: GitLab refused the job
    /// token for the by-ref look-up (401, 403), or a run's results could not be read. On the
    /// default branch such a look-up failed; it is never the history's first run.
    pub(crate) unproven: Option<String>,
}

/// Finds the baseline. `job_client` authenticates with the job token, `api_client` (if any)
/// with an API token; `artifact` is the path of results.json inside the job's artifacts.
pub(crate) fn find_previous(
    ci: &CiContext,
    job_client: Option<&ApiClient>,
    api_client: Option<&ApiClient>,
    artifact: &str,
    history: usize,
) -> Result<Lookup, GitlabError> {
    let mut lookup = Lookup::default();
    let Some(search) = Search::of(ci, artifact, &mut lookup.notes) else {
        lookup.failed = Some("the CI variables name nothing to look up".into());
        return Ok(lookup);
    };
    let mut misses = Vec::new();
    let mut tokens = Tokens::new(job_client, api_client);
    match search.find(ci, &mut tokens, &mut misses, &mut lookup)? {
        Some((mut baseline, found_with)) => {
            let notes = &mut lookup.notes;
            let read = search.read_history(&mut baseline, ci, &mut tokens, history, notes);
            let runs = baseline.history.len();
            notes.push(found_note(found_with, read, runs, search.base_ref));
            lookup.baseline = Some(baseline);
        }
        None => {
            let why = diagnose::why_none(&search, ci, tokens.lister(), &misses);
            lookup.notes.push(why);
            lookup.unproven = misses.iter().find_map(|m| match m {
                Miss::Refused { status } => Some(format!(
                    "GitLab refused the job token (HTTP {status}) for the previous run's results"
                )),
                Miss::Unreadable { .. } | Miss::UnreadableLatest => {
                    Some("the previous run's results could not be read".to_string())
                }
                _ => None,
            });
        }
    }
    Ok(lookup)
}

impl<'a> Search<'a> {
    /// The search the CI context allows; `None`, with a note saying why, when it allows none.
    fn of(ci: &'a CiContext, artifact: &'a str, notes: &mut Vec<String>) -> Option<Search<'a>> {
        let (Some(project), Some(job)) = (ci.merge_request_project(), ci.job_name.as_deref())
        else {
            notes.push("No baseline: CI_PROJECT_ID or CI_JOB_NAME is not set.".into());
            return None;
        };
        let tag = ci.commit_tag.as_deref();
        let base_ref = match (&ci.merge_request_target_branch, tag) {
            (Some(target), _) => Some(target.as_str()),
            (None, Some(_)) => ci.default_branch.as_deref(),
            (None, None) => ci.ref_name.as_deref(),
        };
        let Some(base_ref) = base_ref else {
            notes.push(
                "No baseline: no branch to compare with (CI_COMMIT_REF_NAME, or CI_DEFAULT_BRANCH for a tag, is not set).".into(),
            );
            return None;
        };
        Some(Search {
            project,
            job,
            base_ref,
            artifact,
            tag,
            target_head: ci.merged_onto(),
        })
    }

    /// Each place in turn, best first, and the token that found it. A step of the API token
    /// that fails (an expired token, a fork's token on the parent project) is a note, and the
    /// lookup goes on with the job token alone: `tokens.api` is then `None` for the rest, the
    /// diagnosis included.
    fn find(
        &self,
        ci: &CiContext,
        tokens: &mut Tokens<'_>,
        misses: &mut Vec<Miss>,
        lookup: &mut Lookup,
    ) -> Result<Option<(Previous, Token)>, GitlabError> {
        if let Some(api) = tokens.api {
            match self.with_api_first(api, ci, misses, &mut lookup.notes) {
                Ok(Some(found)) => return Ok(Some((found, Token::Api))),
                Ok(None) => {}
                Err(e) => {
                    api_token_failed(&e, lookup);
                    tokens.api = None;
                }
            }
        }
        // The branch's latest successful run: by ref, then the newest recent pipeline that ran
        // the job.
        let found = match tokens.by_ref() {
            Some(c) => (self.latest(c.client, misses, &mut lookup.notes)?).map(|f| (f, c.token)),
            None => None,
        };
        if misses.iter().any(|m| matches!(m, Miss::Refused { .. })) {
            tokens.skip_job_lists();
        }
        let found = match found {
            Some(found) => Some(found),
            None => self.newest_with_any(ci, tokens, misses, lookup),
        };
        if let (Some(_), Some(head)) = (&found, self.target_head) {
            let api = tokens.api.is_some();
            lookup.notes.push(self.not_the_head(ci, head, api));
        }
        Ok(found)
    }

    /// [`Self::newest_that_ran`] with the API token, else (or after it failed) with the job
    /// token. A job token GitLab refuses for the lists is its answer (said once); any other
    /// failure leaves unknown what the lists held, so without a baseline the look-up failed.
    fn newest_with_any(
        &self,
        ci: &CiContext,
        tokens: &mut Tokens<'_>,
        misses: &mut Vec<Miss>,
        lookup: &mut Lookup,
    ) -> Option<(Previous, Token)> {
        while let Some(lister) = tokens.lister() {
            let e = match self.newest_that_ran(lister.client, ci, misses, &mut lookup.notes) {
                Ok(found) => return found.map(|f| (f, lister.token)),
                Err(e) => e,
            };
            match lister.token {
                Token::Api => {
                    api_token_failed(&e, lookup);
                    tokens.api = None;
                }
                Token::Job => {
                    if !tokens.job_lists_refused(&e, self.project, &mut lookup.notes) {
                        let line = crate::chain::one_line(&e);
                        eprintln!(
                            "loadforge-gate: warning: baseline lookup with CI_JOB_TOKEN: {line}"
                        );
                        lookup.failed.get_or_insert(line);
                        tokens.skip_job_lists();
                    }
                }
            }
        }
        None
    }

    /// What only the API token can find: the run at the target's head a merged-results
    /// pipeline was merged onto, or at the merge base; the previous tag's.
    fn with_api_first(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let first = match self.target_head {
            Some(head) => self.at_target_head(api, ci, head, misses, notes)?,
            None => self.at_merge_base(api, ci, misses, notes)?,
        };
        match first {
            Some(found) => Ok(Some(found)),
            None => self.previous_tag(api, ci, misses, notes),
        }
    }

    /// A merged-results or merge-train pipeline measures the merge request merged onto the
    /// target's head: the baseline found elsewhere may hold the target's later changes, or
    /// miss some of the head's, and the report says so.
    fn not_the_head(&self, ci: &CiContext, head: &str, api: bool) -> String {
        let kind = match ci.merge_request_event_type.as_deref() {
            Some("merge_train") => "merge-train",
            _ => "merged-results",
        };
        let (base_ref, head) = (self.base_ref, short_sha(head));
        let why = if api {
            format!("no run of `{}` at or before that commit was found among the last {RECENT_PIPELINES} successful pipelines on `{base_ref}`", self.job)
        } else {
            "only LOADFORGE_GATE_GITLAB_TOKEN can look up the run at that commit".to_string()
        };
        format!(
            "This {kind} pipeline tests the merge request merged onto `{base_ref}` at {head}, the target's head; the baseline is the latest successful run on `{base_ref}`, which may not be the target's head: {why}."
        )
    }

    /// In a merge request: the target branch's pipeline at the merge base.
    fn at_merge_base(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let (Some(_), Some(sha)) = (
            &ci.merge_request_target_branch,
            ci.merge_request_diff_base_sha.as_deref(),
        ) else {
            return Ok(None);
        };
        let at_base = self.at_commit(api, sha)?;
        let found = self.first_that_ran(api, &at_base, true, misses, notes)?;
        Ok(found.map(|ran| {
            let source = format!(
                "pipeline #{} on {} at the merge base {}",
                ran.pipeline.id,
                self.base_ref,
                short_sha(sha)
            );
            ran.into_previous(source)
        }))
    }

    /// The base branch's pipelines at commit `sha`, newest first: a few, since a commit is
    /// pushed once and then only scheduled or rerun pipelines add to them.
    fn at_commit(&self, api: &ApiClient, sha: &str) -> Result<Vec<Pipeline>, GitlabError> {
        let filter = PipelineFilter {
            ref_name: Some(self.base_ref),
            sha: Some(sha),
            ..PipelineFilter::default()
        };
        gitlab::pipelines(api, self.project, filter, 5)
    }

    /// In a merged-results or merge-train pipeline: the target branch's run at the head it was
    /// merged onto, as GitLab compares merged results (`MergeRequest#merge_base_pipeline`, the
    /// target branch's pipeline at `actual_head_pipeline.target_sha`, app/models/merge_request.rb,
    /// chosen when the head pipeline is `merged_result_pipeline?`,
    /// app/serializers/merge_request_widget_entity.rb). When no pipeline there has a run of the
    /// job (not finished, or it skipped it; a merge train's car behind another is merged onto
    /// the car ahead, a commit no branch pipeline ran), the nearest older run, said so: the
    /// merge base's would charge the merge request with what the target gained since.
    fn at_target_head(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        head: &str,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let at_head = self.at_commit(api, head)?;
        if let Some(ran) = self.first_that_ran(api, &at_head, true, misses, notes)? {
            let source = format!(
                "pipeline #{} on {} at {}, the target's head",
                ran.pipeline.id,
                self.base_ref,
                short_sha(head)
            );
            return Ok(Some(ran.into_previous(source)));
        }
        // GitLab numbers pipelines as it creates them: one older than the head's first (or,
        // when the head has none, than this pipeline) ran an older commit of the branch.
        let current = ci.pipeline_id.as_deref().and_then(|p| p.parse().ok());
        let before = at_head.iter().map(|p| p.id).min().or(current);
        let recent = self.recent_successful(api)?;
        let older = recent.iter().filter(|p| before.is_none_or(|b| p.id < b));
        let found = self.first_that_ran(api, older, true, misses, notes)?;
        Ok(found.map(|ran| {
            let source = format!(
                "pipeline #{} on {}, the nearest run before the target's head {}, which had none",
                ran.pipeline.id,
                self.base_ref,
                short_sha(head)
            );
            ran.into_previous(source)
        }))
    }

    /// The recent successful pipelines of the base branch, newest first.
    fn recent_successful(&self, api: &ApiClient) -> Result<Vec<Pipeline>, GitlabError> {
        let filter = PipelineFilter {
            ref_name: Some(self.base_ref),
            successful: true,
            ..PipelineFilter::default()
        };
        gitlab::pipelines(api, self.project, filter, RECENT_PIPELINES)
    }

    /// The first of `pipelines` whose job kept whole results; `on_base`: they are pipelines of
    /// the base ref (for the diagnosis).
    fn first_that_ran<'p>(
        &self,
        api: &ApiClient,
        pipelines: impl IntoIterator<Item = &'p Pipeline>,
        on_base: bool,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Ran<'p>>, GitlabError> {
        for (skipped, pipeline) in pipelines.into_iter().enumerate() {
            let found = self.in_pipeline(api, (pipeline.id, on_base), misses, notes)?;
            if let Some((result, history)) = found {
                return Ok(Some(Ran {
                    skipped,
                    pipeline,
                    result,
                    history,
                }));
            }
        }
        Ok(None)
    }

    /// In a tag pipeline: the same job in the newest successful pipeline of another tag (the
    /// previous release), which runs the same release job; the default branch comes next.
    fn previous_tag(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let Some(tag) = self.tag else {
            return Ok(None);
        };
        let current = ci.pipeline_id.as_deref().and_then(|p| p.parse().ok());
        let filter = PipelineFilter {
            successful: true,
            tags: true,
            ..PipelineFilter::default()
        };
        let tags = gitlab::pipelines(api, self.project, filter, RECENT_PIPELINES)?;
        let others = tags
            .iter()
            .filter(|p| p.ref_name != tag && Some(p.id) != current);
        let found = self.first_that_ran(api, others, false, misses, notes)?;
        Ok(found.map(|ran| {
            let p = ran.pipeline;
            let source = format!(
                "pipeline #{} of the previous tag {}",
                p.id,
                crate::quote::quote(&p.ref_name)
            );
            ran.into_previous(source)
        }))
    }

    /// The artifact of the latest successful pipeline on the base branch (a job token is
    /// enough). A token GitLab refuses here (a fork's job token on the parent project) is a
    /// miss to explain, not an error.
    fn latest(
        &self,
        c: &ApiClient,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let (job, base_ref) = (self.job, self.base_ref);
        let bytes = match gitlab::artifact_by_ref(c, self.project, base_ref, job, self.artifact) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                misses.push(Miss::Refused {
                    status: e.status().unwrap_or_default(),
                });
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let origin = format!("the latest successful `{job}` on `{base_ref}`");
        let found = decode(&bytes, &origin, notes);
        if found.is_none() {
            misses.push(Miss::UnreadableLatest);
        }
        if let Some((r, _)) = &found {
            if let Some(why) = r.run.incomplete() {
                // Not a measure of normal; with an API token an older whole run is looked for.
                notes.push(format!(
                    "Baseline skipped: {origin} is not a whole run: {why}."
                ));
                return Ok(None);
            }
        }
        Ok(found.map(|(result, history)| Previous {
            source: format!(
                "{}the latest successful pipeline on {base_ref} with `{job}` results",
                self.tag_prefix()
            ),
            result,
            history,
            notes: Vec::new(),
        }))
    }

    /// "for tag 1.2.0, " when the base is the default branch because this is a tag pipeline:
    /// the source then says why a tag is compared with a branch.
    fn tag_prefix(&self) -> String {
        self.tag
            .map(|t| format!("for tag {t}, "))
            .unwrap_or_default()
    }

    /// When the latest successful pipeline did not have the job's results: the newest recent
    /// successful pipeline of the ref that did, read with a token that may list pipelines.
    fn newest_that_ran(
        &self,
        api: &ApiClient,
        ci: &CiContext,
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<Previous>, GitlabError> {
        let current = ci.pipeline_id.as_deref().and_then(|p| p.parse().ok());
        let recent = self.recent_successful(api)?;
        let others = recent.iter().filter(|p| Some(p.id) != current);
        let found = self.first_that_ran(api, others, true, misses, notes)?;
        Ok(found.map(|ran| {
            let skipped = match ran.skipped {
                0 => String::new(),
                n => format!("; the {n} newer successful pipeline(s) did not keep `{}` results, which hides it from GitLab's latest-artifact lookup", self.job),
            };
            let source = format!(
                "{}pipeline #{} on {}{skipped}",
                self.tag_prefix(),
                ran.pipeline.id,
                self.base_ref
            );
            ran.into_previous(source)
        }))
    }

    /// Reads a history for a baseline that carried none, with whichever token may list
    /// pipelines; the token that read it, if one did. A history that cannot be read costs the
    /// band, never the baseline found; a job token GitLab refuses for the lists is said once.
    fn read_history(
        &self,
        baseline: &mut Previous,
        ci: &CiContext,
        tokens: &mut Tokens<'_>,
        history: usize,
        notes: &mut Vec<String>,
    ) -> Option<Token> {
        if history == 0 || !baseline.history.is_empty() {
            return None;
        }
        let lister = tokens.lister()?;
        let current = ci.pipeline_id.as_deref().and_then(|p| p.parse().ok());
        match self.add_history(lister.client, baseline, current, history, notes) {
            Ok(()) => Some(lister.token),
            Err(e)
                if lister.token == Token::Job
                    && tokens.job_lists_refused(&e, self.project, notes) =>
            {
                None
            }
            Err(e) => {
                notes.push(format!(
                    "The run history could not be read ({}): regressions compared with the baseline run only.",
                    crate::chain::one_line(&e)
                ));
                None
            }
        }
    }

    /// A history for a baseline that carried none: the baseline run, then up to `history`
    /// earlier successful runs (not this pipeline's), newest first.
    fn add_history(
        &self,
        api: &ApiClient,
        baseline: &mut Previous,
        current: Option<u64>,
        history: usize,
        notes: &mut Vec<String>,
    ) -> Result<(), GitlabError> {
        let mut runs = vec![HistoryEntry::of(&baseline.result)];
        let filter = PipelineFilter {
            ref_name: Some(self.base_ref),
            successful: true,
            ..PipelineFilter::default()
        };
        let mut misses = Vec::new();
        for p in gitlab::pipelines(api, self.project, filter, history.saturating_add(1))? {
            if Some(p.id) == current {
                continue;
            }
            if let Some((r, _)) = self.in_pipeline(api, (p.id, true), &mut misses, notes)? {
                // The baseline's own pipeline is usually among the recent successful ones.
                if r.run.started_at != baseline.result.run.started_at {
                    runs.push(HistoryEntry::of(&r));
                }
            }
            if runs.len() >= history {
                break;
            }
        }
        baseline.history = runs;
        Ok(())
    }

    /// The results of the job in one pipeline, if it ran there and kept them; a miss says why
    /// not.
    pub(super) fn in_pipeline(
        &self,
        api: &ApiClient,
        (pipeline, on_base): (u64, bool),
        misses: &mut Vec<Miss>,
        notes: &mut Vec<String>,
    ) -> Result<Option<(RunResult, Vec<HistoryEntry>)>, GitlabError> {
        let jobs = gitlab::pipeline_jobs(api, self.project, pipeline)?;
        // A failed gate still wrote results.json (artifacts: when: always), and it is still the
        // truth about that commit's performance.
        let Some(j) = jobs
            .iter()
            .find(|j| j.name == self.job && matches!(j.status.as_str(), "success" | "failed"))
        else {
            misses.push(Miss::NotRun { pipeline, on_base });
            return Ok(None);
        };
        let Some(bytes) = gitlab::job_artifact(api, self.project, j.id, self.artifact)? else {
            misses.push(Miss::NoArtifact {
                pipeline,
                job: j.id,
                expired_at: j
                    .artifacts_expire_at
                    .as_deref()
                    .filter(|at| diagnose::is_past(at))
                    .map(crate::quote::quote),
            });
            return Ok(None);
        };
        let found = decode(
            &bytes,
            &format!("job {} of pipeline #{pipeline}", j.id),
            notes,
        );
        match &found {
            None => misses.push(Miss::Unreadable { pipeline }),
            // Not a measure of normal: a run cut short is no baseline.
            Some((r, _)) if r.run.incomplete().is_some() => {
                misses.push(Miss::Incomplete { pipeline });
                return Ok(None);
            }
            Some(_) => {}
        }
        Ok(found)
    }
}

/// A pipeline whose job kept whole results, and how many searched before it had none.
struct Ran<'p> {
    skipped: usize,
    pipeline: &'p Pipeline,
    result: RunResult,
    history: Vec<HistoryEntry>,
}

impl Ran<'_> {
    /// The baseline, described by `source`.
    fn into_previous(self, source: String) -> Previous {
        Previous {
            source,
            result: self.result,
            history: self.history,
            notes: Vec::new(),
        }
    }
}

/// Says that the API token's part of the lookup failed, and that the job token goes on. A
/// refused token (401, 403) is the token's problem, and what the job token finds stands; any
/// other failure (5xx, no answer, an unreadable one) leaves unknown what the token would have
/// found, so without a baseline the look-up failed.
fn api_token_failed(e: &GitlabError, lookup: &mut Lookup) {
    let line = crate::chain::one_line(e);
    if !matches!(e.status(), Some(401 | 403)) {
        lookup.failed.get_or_insert_with(|| line.clone());
    }
    let e = line;
    eprintln!("loadforge-gate: warning: baseline lookup with LOADFORGE_GATE_GITLAB_TOKEN: {e}");
    lookup.notes.push(format!(
        "The baseline lookup with LOADFORGE_GATE_GITLAB_TOKEN failed ({e}); it went on with CI_JOB_TOKEN alone (check the token's expiry, scope `api` and its role, Reporter or more, in this project)."
    ));
}

/// The first eight characters of a commit SHA, cut on a character boundary: the variable is
/// the environment's, so it may hold anything.
fn short_sha(sha: &str) -> &str {
    let end = sha.char_indices().nth(8).map_or(sha.len(), |(i, _)| i);
    &sha[..end]
}

/// A baseline from another schema version is not misread: it is skipped with a note.
fn decode(
    bytes: &[u8],
    origin: &str,
    notes: &mut Vec<String>,
) -> Option<(RunResult, Vec<HistoryEntry>)> {
    match results::parse(bytes, origin, Role::Baseline) {
        Ok(r) => Some((r, history_or_note(bytes, origin, notes))),
        Err(e) => {
            notes.push(format!("Baseline skipped: {}", crate::chain::one_line(&e)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short_sha;

    #[test]
    fn a_short_sha_never_cuts_a_character() {
        assert_eq!(short_sha("b45e0000c0ffee"), "b45e0000");
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(short_sha("ééééééééé"), "éééééééé");
    }
}
