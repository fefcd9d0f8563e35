//! The sticky note: one note per merge request and job, found on every page of the notes,
//! written over only by a newer run, and brought back to one when pipelines race.
//!
//! Two pipelines of one merge request can comment at the same moment: each looks, finds no
//! note, and posts one. So after writing, the gate looks again, and every pipeline that finds
//! more than one note of its job applies the same rule, whichever comes first: the oldest note
//! stays and holds the newest run's verdict, the others are deleted. Which run is newest is
//! written in each note, a hidden [`Run`] stamp (`CI_PIPELINE_ID`, then `CI_JOB_ID`), so a
//! pipeline that comments late never writes an older verdict over a newer one.
//!
//! A token rotated to another user (a new project access token is a new bot) leaves the old
//! user's note of the job beside the new one's. The gate tells such a note by its job's marker
//! line and its run stamp, as only the gate writes them, and deletes it when its run is not
//! newer than this one. GitLab lets the same users edit and delete a note (`admin_note`, in
//! `update_note` and `delete_note` of `lib/api/helpers/notes_helpers.rb`): its author, and a
//! Maintainer or Owner of the project (`app/policies/note_policy.rb` delegates to
//! `app/policies/project_policy.rb`, which enables `admin_note` for `maintainer_access`). So a
//! token that may not delete the old note may not turn it into a pointer either: this run's
//! note points to it as stale instead.
//!
//! GitLab cannot edit a note on a condition (`update_note` in
//! `lib/api/helpers/notes_helpers.rb` checks nothing; only `delete_note` honours
//! `If-Unmodified-Since`, through `destroy_conditionally!`): an older pipeline that read the note
//! just before a newer one wrote it can still write over it. The newer one's second look sets
//! it back when it comes after; otherwise the next pipeline does.

use std::ops::ControlFlow;

use serde::Deserialize;

use super::{
    call::{segment, Call},
    json, paged, ApiClient, GitlabError, RetryPolicy, User,
};

/// The most notes read from one merge request in one look: 100 pages of 100.
const MAX_NOTES: usize = 10_000;

/// How often a note is posted at most: a POST that may have landed is followed by a look at
/// the notes, and posted again only when it did not land.
const MAX_NOTE_POSTS: u32 = 3;

/// The most extra notes of one job deleted in one run; more are left for the next.
const MAX_DELETES: usize = 20;

/// A merge-request note, as far as telling ours apart and keeping one needs.
#[derive(Debug, Clone, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
    /// Who wrote it; a note without an author is never taken for ours.
    #[serde(default)]
    author: Option<User>,
}

/// One merge request of one project: where the notes are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thread<'a> {
    /// The project that holds the merge request (a fork's merge request lives in its target).
    pub(crate) project: &'a str,
    /// The merge request's iid.
    pub(crate) iid: u64,
}

impl Thread<'_> {
    /// `projects/:id/merge_requests/:iid/notes`.
    fn notes(&self) -> String {
        format!(
            "projects/{}/merge_requests/{}/notes",
            segment(self.project),
            self.iid
        )
    }

    /// `projects/:id/merge_requests/:iid/notes/:note_id`.
    fn note(&self, id: u64) -> String {
        format!("{}/{id}", self.notes())
    }
}

/// Which notes are the gate's for this job: written by the token's own user, not a system
/// note, and opening with the job's marker line, exactly. A person quoting the marker, or a
/// note of another job, is never edited or deleted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ours<'a> {
    /// The id of the user the token belongs to (`GET /user`).
    pub(crate) user: u64,
    /// The job's hidden marker, the first line of each of its notes.
    pub(crate) marker: &'a str,
}

impl Ours<'_> {
    fn hold(&self, n: &Note) -> bool {
        !n.system
            && n.author.as_ref().is_some_and(|a| a.id == self.user)
            && n.body.lines().next() == Some(self.marker)
    }

    /// Whether `n` is a note of this job that the gate wrote with another user's token: by
    /// someone else, not a system note, opening with the job's marker line and ending with a
    /// run's stamp. A person's note that quotes the marker has no stamp at its end.
    fn written_by_another(&self, n: &Note) -> bool {
        !n.system
            && n.author.as_ref().is_some_and(|a| a.id != self.user)
            && n.body.lines().next() == Some(self.marker)
            && ends_with_stamp(&n.body)
    }
}

/// Whether the last line of `body` that is not blank is a run's stamp.
fn ends_with_stamp(body: &str) -> bool {
    body.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with(STAMP) && l.ends_with("-->"))
}

/// Which run wrote a note: a later pipeline is newer, and within one pipeline a later job (a
/// retry). Unknown ids order first, so a note without a stamp (written before stamps) is older
/// than any stamped one, and a run that does not know its own ids never writes over a note
/// that says which run wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Run {
    /// `CI_PIPELINE_ID`.
    pub(crate) pipeline: Option<u64>,
    /// `CI_JOB_ID`.
    pub(crate) job: Option<u64>,
}

/// How a note's stamp begins; not the job marker's `<!-- loadforge-gate:`, so no job name can
/// make a stamp read as a marker.
const STAMP: &str = "<!-- loadforge-gate-run:";

impl Run {
    /// The run of `CI_PIPELINE_ID` and `CI_JOB_ID`, as far as they are numbers.
    pub(crate) fn new(pipeline: Option<&str>, job: Option<&str>) -> Run {
        let id = |v: Option<&str>| v.and_then(|v| v.trim().parse().ok());
        Run {
            pipeline: id(pipeline),
            job: id(job),
        }
    }

    /// The hidden line that says which run wrote a note.
    fn stamp(&self) -> String {
        let mut s = STAMP.to_string();
        if let Some(p) = self.pipeline {
            s.push_str(&format!(" pipeline={p}"));
        }
        if let Some(j) = self.job {
            s.push_str(&format!(" job={j}"));
        }
        s + " -->"
    }

    /// The run a note's last stamp names (none: the default, older than any).
    fn of(body: &str) -> Run {
        let Some(at) = body.rfind(STAMP) else {
            return Run::default();
        };
        let rest = &body[at + STAMP.len()..];
        let words = rest.split("-->").next().unwrap_or_default();
        let mut run = Run::default();
        for (key, value) in words.split_whitespace().filter_map(|w| w.split_once('=')) {
            match key {
                "pipeline" => run.pipeline = value.parse().ok(),
                "job" => run.job = value.parse().ok(),
                _ => {}
            }
        }
        run
    }
}

/// This run's note: its text with the run's stamp at the end, where a reader never sees it.
#[derive(Debug, Clone)]
pub(crate) struct Stamped {
    run: Run,
    /// The text without the stamp.
    text: String,
    body: String,
}

impl Stamped {
    /// `body` stamped as written by `run`. The blank line keeps the stamp out of a table or a
    /// paragraph the text may end with.
    pub(crate) fn new(run: Run, body: &str) -> Stamped {
        let text = body.trim_end().to_string();
        Stamped {
            run,
            body: format!("{text}\n\n{}\n", run.stamp()),
            text,
        }
    }

    /// This note with a last paragraph that names `stale`, older notes of the job by another
    /// user that could not be deleted, as stale; the note itself when there are none.
    fn pointing_to(&self, stale: &[u64]) -> Stamped {
        if stale.is_empty() {
            return self.clone();
        }
        let links: Vec<String> = stale
            .iter()
            .map(|id| format!("[note {id}](#note_{id})"))
            .collect();
        let (are, which, them) = match links.len() {
            1 => ("is", "an older note", "it"),
            _ => ("are", "older notes", "them"),
        };
        let pointer = format!(
            "_{} {are} {which} of this job by another user (the token the gate used before), and stale: GitLab lets only its author or a Maintainer of the project delete {them}._",
            links.join(", ")
        );
        Stamped::new(self.run, &format!("{}\n\n{pointer}", self.text))
    }
}

/// What this run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteAction {
    /// A new note, with its id.
    Created(u64),
    /// The existing note, with its id, was edited.
    Updated(u64),
    /// A POST failed, but GitLab had saved the note: it was found, with its id, and edited
    /// rather than posted twice.
    Recovered(u64),
    /// The note, with its id, holds (or is to hold) the verdict of a newer run, named by its
    /// pipeline: this run's older verdict was not written over it.
    Newer {
        /// The note kept.
        id: u64,
        /// The newer run's pipeline.
        pipeline: Option<u64>,
    },
}

impl NoteAction {
    /// The action of a POST that failed and was found saved all the same.
    fn recovered(self) -> NoteAction {
        match self {
            NoteAction::Updated(id) => NoteAction::Recovered(id),
            other => other,
        }
    }
}

/// What the look after writing found and did, when there was anything to do: more than one
/// note of the job, or the one note holding an older verdict than this run's.
#[derive(Debug)]
pub(crate) struct Settled {
    /// How many notes of the job were found.
    pub(crate) found: usize,
    /// The note kept: the oldest.
    pub(crate) kept: u64,
    /// The pipeline whose verdict the kept note holds now.
    pub(crate) verdict_of: Option<u64>,
    /// Whether the kept note was written to (it held an older verdict).
    pub(crate) edited: bool,
    /// The notes deleted (or found deleted already, by another pipeline settling them too).
    pub(crate) deleted: Vec<u64>,
    /// The notes a delete failed for, with why: said once, not tried again in this run.
    pub(crate) undeleted: Vec<(u64, GitlabError)>,
    /// Extra notes beyond [`MAX_DELETES`], left for the next run.
    pub(crate) left: usize,
}

/// What became of this job's notes by another user (the gate's, written with a token used
/// before) that hold no newer run than this one.
#[derive(Debug, Default)]
pub(crate) struct Retired {
    /// Deleted (or found deleted already).
    pub(crate) deleted: Vec<u64>,
    /// Not deleted, with why (a token without `admin_note` on them gets a 403): this run's note
    /// names them as stale.
    pub(crate) left: Vec<(u64, GitlabError)>,
}

/// What became of the note: what this run wrote, then what the look after it settled.
#[derive(Debug)]
pub(crate) struct NoteOutcome {
    /// What this run wrote.
    pub(crate) action: NoteAction,
    /// The job's older notes by another user, deleted or named as stale.
    pub(crate) retired: Retired,
    /// The look after writing: `Ok(None)` when the job has one note holding the newest verdict.
    pub(crate) settled: Result<Option<Settled>, GitlabError>,
}

/// Creates or updates the one note of this job (see [`Ours`]), then looks again and settles
/// what a race left: one note, the oldest, holding the newest run's verdict.
pub(crate) fn upsert_note(
    c: &ApiClient,
    at: Thread<'_>,
    ours: Ours<'_>,
    text: &Stamped,
) -> Result<NoteOutcome, GitlabError> {
    let look = list(c, at, ours)?;
    let retired = retire(c, at, &look, text.run);
    let stale: Vec<u64> = retired.left.iter().map(|(id, _)| *id).collect();
    let text = &text.pointing_to(&stale);
    let action = match plan(&look, text.run) {
        Some(p) => write_over(c, at, text, &p)?,
        None => post(c, at, ours, text)?,
    };
    Ok(NoteOutcome {
        action,
        retired,
        settled: settle(c, at, ours, text),
    })
}

/// Deletes the job's notes by another user that hold no newer run than `own` (at most
/// [`MAX_DELETES`]), each tried once (with the client's bounded retries). Before this run
/// writes its own, so that the note it writes can name those that stay. A newer one is left
/// alone: a run with the other token is newer, and its own look deletes this one's.
fn retire(c: &ApiClient, at: Thread<'_>, look: &Look, own: Run) -> Retired {
    let mut retired = Retired::default();
    for id in look.retirable(own) {
        match delete(c, at, id) {
            Ok(()) => retired.deleted.push(id),
            Err(e) => retired.left.push((id, e)),
        }
    }
    retired
}

/// A note of this job found in a look: its id and the run that wrote it.
#[derive(Debug, Clone, Copy)]
struct Found {
    id: u64,
    run: Run,
}

/// The notes of this job found in one look: each one's id and run, and the text of the newest
/// alone (the one a kept note may have to take), so a look holds one note's text, not all.
#[derive(Debug, Default)]
struct Look {
    notes: Vec<Found>,
    newest: Option<(Found, String)>,
    /// The job's notes by another user (see [`Ours::written_by_another`]).
    others: Vec<Found>,
}

impl Look {
    fn add(&mut self, note: Note) {
        let found = Found {
            id: note.id,
            run: Run::of(&note.body),
        };
        let newer = |(n, _): &(Found, String)| (found.run, found.id) > (n.run, n.id);
        if self.newest.as_ref().is_none_or(newer) {
            self.newest = Some((found, note.body));
        }
        self.notes.push(found);
    }

    /// The job's notes by another user to delete for a run `own`: those of no newer run, at
    /// most [`MAX_DELETES`].
    fn retirable(&self, own: Run) -> Vec<u64> {
        (self.others.iter().filter(|n| n.run <= own))
            .map(|n| n.id)
            .take(MAX_DELETES)
            .collect()
    }

    /// The look with each note once: offset pages shift when notes come or go meanwhile, so
    /// a note can be read on two pages.
    fn once(mut self) -> Look {
        for notes in [&mut self.notes, &mut self.others] {
            notes.sort_unstable_by_key(|n| n.id);
            notes.dedup_by_key(|n| n.id);
        }
        self
    }
}

/// What the notes of one job are to become: one, the oldest, with the newest run's text.
#[derive(Debug)]
struct Plan<'a> {
    /// The oldest note: GitLab's ids grow with creation (the order `created_at` sorts by).
    keep: Found,
    /// The newest note, when a run newer than this one wrote it: its text is the newest.
    newer: Option<(Found, &'a str)>,
    /// The other notes, to delete.
    extra: Vec<u64>,
}

impl Plan<'_> {
    /// The run whose text the kept note is to hold.
    fn newest(&self, own: Run) -> Run {
        self.newer.map_or(own, |(n, _)| n.run)
    }
}

/// The plan for the notes of this job a look found, for a run `own`; `None` when there are
/// none.
fn plan(look: &Look, own: Run) -> Option<Plan<'_>> {
    let keep = *look.notes.iter().min_by_key(|n| n.id)?;
    let (latest, body) = look.newest.as_ref()?;
    Some(Plan {
        keep,
        newer: (latest.run > own).then_some((*latest, body.as_str())),
        extra: (look.notes.iter().map(|n| n.id))
            .filter(|id| *id != keep.id)
            .collect(),
    })
}

/// This run's text on the kept note, unless a newer run's verdict is there: then it stays.
fn write_over(
    c: &ApiClient,
    at: Thread<'_>,
    text: &Stamped,
    plan: &Plan<'_>,
) -> Result<NoteAction, GitlabError> {
    match plan.newer {
        Some((n, _)) => Ok(NoteAction::Newer {
            id: plan.keep.id,
            pipeline: n.run.pipeline,
        }),
        None => edit(c, at, plan.keep.id, &text.body).map(|n| NoteAction::Updated(n.id)),
    }
}

/// Posts this run's note. A POST that may have landed although it failed is followed by a
/// look, and posted again only when the note is not there.
fn post(
    c: &ApiClient,
    at: Thread<'_>,
    ours: Ours<'_>,
    text: &Stamped,
) -> Result<NoteAction, GitlabError> {
    let mut posts = 0;
    loop {
        posts += 1;
        let err = match create(c, at, &text.body) {
            Ok(n) => return Ok(NoteAction::Created(n.id)),
            Err(e) if !e.may_have_landed() => return Err(e),
            Err(e) => e,
        };
        // GitLab may have saved the note before the error: a second POST would be a second
        // note. Look first; a note of ours is now the one the failed POST created.
        let look = list(c, at, ours)?;
        if let Some(p) = plan(&look, text.run) {
            return write_over(c, at, text, &p).map(NoteAction::recovered);
        }
        if posts >= MAX_NOTE_POSTS {
            return Err(err);
        }
        eprintln!(
            "loadforge-gate: comment: {}; the note did not land, posting again",
            crate::chain::one_line(&err)
        );
        std::thread::sleep(RetryPolicy::DEFAULT.backoff(posts - 1));
    }
}

/// The look after writing: a pipeline racing this one may have posted too, or written an
/// older verdict over this one's. The oldest note is brought to the newest verdict and the
/// others deleted; each delete is tried once (with the client's bounded retries).
fn settle(
    c: &ApiClient,
    at: Thread<'_>,
    ours: Ours<'_>,
    text: &Stamped,
) -> Result<Option<Settled>, GitlabError> {
    let look = list(c, at, ours)?;
    let Some(plan) = plan(&look, text.run) else {
        return Ok(None);
    };
    let newest = plan.newest(text.run);
    let behind = plan.keep.run < newest;
    if plan.extra.is_empty() && !behind {
        return Ok(None);
    }
    if behind {
        let body = plan.newer.map_or(text.body.as_str(), |(_, body)| body);
        edit(c, at, plan.keep.id, body)?;
    }
    let (mut deleted, mut undeleted) = (Vec::new(), Vec::new());
    for id in plan.extra.iter().take(MAX_DELETES) {
        match delete(c, at, *id) {
            Ok(()) => deleted.push(*id),
            Err(e) => undeleted.push((*id, e)),
        }
    }
    Ok(Some(Settled {
        found: look.notes.len(),
        kept: plan.keep.id,
        verdict_of: newest.pipeline,
        edited: behind,
        deleted,
        undeleted,
        left: plan.extra.len().saturating_sub(MAX_DELETES),
    }))
}

/// Every note of this job on the merge request (and its notes by another user), reading every
/// page GitLab names (a page shortened by GitLab's filtering is not the last: see
/// `call::Pages`), at most [`MAX_NOTES`]. Most recently updated first: the note every pipeline edits comes among the
/// first, so a discussion longer than the cap leaves out the notes untouched the longest.
fn list(c: &ApiClient, at: Thread<'_>, ours: Ours<'_>) -> Result<Look, GitlabError> {
    let what = format!("the notes of merge request !{}", at.iid);
    let call = Call::get(at.notes())
        .with("order_by", "updated_at")
        .with("sort", "desc");
    let mut look = Look::default();
    paged(c, &call, MAX_NOTES, &what, |note: Note| {
        if ours.hold(&note) {
            look.add(note);
        } else if ours.written_by_another(&note) {
            look.others.push(Found {
                id: note.id,
                run: Run::of(&note.body),
            });
        }
        ControlFlow::Continue(())
    })?;
    Ok(look.once())
}

/// Adds a note to a merge request: `POST .../notes`, 201.
fn create(c: &ApiClient, at: Thread<'_>, body: &str) -> Result<Note, GitlabError> {
    let what = format!("a new note on merge request !{}", at.iid);
    let call = Call::write(
        http::Method::POST,
        at.notes(),
        vec![("body", body.to_string())],
    );
    json(c, &call, &what)
}

/// Replaces the body of one note: `PUT .../notes/:note_id`.
fn edit(c: &ApiClient, at: Thread<'_>, note: u64, body: &str) -> Result<Note, GitlabError> {
    let what = format!("note {note} on merge request !{}", at.iid);
    let call = Call::write(
        http::Method::PUT,
        at.note(note),
        vec![("body", body.to_string())],
    );
    json(c, &call, &what)
}

/// Deletes one note: `DELETE .../notes/:note_id`, 204 (`destroy_conditionally!`). A 404 is
/// a note gone already: another pipeline settling the same notes deleted it first.
fn delete(c: &ApiClient, at: Thread<'_>, note: u64) -> Result<(), GitlabError> {
    let what = format!("the deletion of note {note} on merge request !{}", at.iid);
    match super::fetch(c, &Call::delete(at.note(note)), &what) {
        Err(e) if e.status() == Some(404) => Ok(()),
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "<!-- loadforge-gate:perf -->";

    fn note(id: u64, author: u64, body: &str) -> Note {
        Note {
            id,
            body: body.to_string(),
            system: false,
            author: Some(User { id: author }),
        }
    }

    /// A note of the job `perf` by user 7, written by pipeline `pipeline`.
    fn gate_note(id: u64, pipeline: u64) -> Note {
        let run = Run {
            pipeline: Some(pipeline),
            job: Some(pipeline * 10),
        };
        note(
            id,
            7,
            &Stamped::new(run, &format!("{MARKER}\nverdict of {pipeline}")).body,
        )
    }

    fn run(pipeline: u64) -> Run {
        Run {
            pipeline: Some(pipeline),
            job: Some(pipeline * 10),
        }
    }

    #[test]
    fn only_the_users_own_notes_that_open_with_the_exact_marker_are_ours() {
        let ours = Ours {
            user: 7,
            marker: MARKER,
        };
        assert!(ours.hold(&note(1, 7, &format!("{MARKER}\nsummary"))));
        assert!(ours.hold(&note(1, 7, &format!("{MARKER}\r\nsummary"))));
        assert!(!ours.hold(&note(1, 99, &format!("{MARKER}\nquoted"))));
        assert!(!ours.hold(&note(1, 7, &format!("see {MARKER}"))));
        assert!(!ours.hold(&note(1, 7, "<!-- loadforge-gate:perf-smoke -->\nx")));
        assert!(!ours.hold(&note(1, 7, &format!("{MARKER} and more\nx"))));
        let mut system = note(1, 7, &format!("{MARKER}\nx"));
        system.system = true;
        assert!(!ours.hold(&system));
        let mut anonymous = note(1, 7, &format!("{MARKER}\nx"));
        anonymous.author = None;
        assert!(!ours.hold(&anonymous));
    }

    /// The job's note by another user is the gate's only with the marker first and a stamp
    /// last; a rotated token's run deletes those of no newer run.
    #[test]
    fn the_jobs_notes_by_another_user_are_told_by_marker_and_stamp() {
        let ours = Ours {
            user: 8,
            marker: MARKER,
        };
        let old = gate_note(5, 9000);
        assert!(ours.written_by_another(&old) && !ours.hold(&old));
        let mut trailing = gate_note(5, 9000);
        trailing.body.push_str("\n\n");
        assert!(ours.written_by_another(&trailing));
        for body in [
            format!("{MARKER}\nwhy so slow?"),
            format!("{MARKER}\n<!-- loadforge-gate-run: pipeline=1 --> and then more"),
            format!("> {MARKER}\n<!-- loadforge-gate-run: pipeline=1 -->"),
        ] {
            assert!(!ours.written_by_another(&note(6, 99, &body)), "{body}");
        }
        assert!(!ours.written_by_another(&note(7, 8, &old.body)), "its own");
        let mut found = look([]);
        for (id, pipeline) in [(5, 9000), (6, 9002), (7, 9001)] {
            found.others.push(Found {
                id,
                run: run(pipeline),
            });
        }
        assert_eq!(found.retirable(run(9001)), [5, 7]);
    }

    #[test]
    fn a_note_that_names_stale_notes_keeps_its_marker_first_and_its_stamp_last() {
        let text = Stamped::new(run(9001), &format!("{MARKER}\n| a |\n"));
        assert_eq!(text.pointing_to(&[]).body, text.body);
        let one = text.pointing_to(&[5]);
        assert!(one.body.starts_with(MARKER), "{}", one.body);
        assert!(one
            .body
            .contains("| a |\n\n_[note 5](#note_5) is an older note of this job"));
        assert!(ends_with_stamp(&one.body) && Run::of(&one.body) == run(9001));
        let two = text.pointing_to(&[5, 9]);
        assert!(
            two.body
                .contains("_[note 5](#note_5), [note 9](#note_9) are older notes of this job"),
            "{}",
            two.body
        );
    }

    #[test]
    fn a_stamp_says_which_run_wrote_the_note_and_orders_runs() {
        let text = Stamped::new(run(9000), "<!-- loadforge-gate:perf -->\n| a |\n");
        assert!(text
            .body
            .ends_with("| a |\n\n<!-- loadforge-gate-run: pipeline=9000 job=90000 -->\n"));
        assert_eq!(Run::of(&text.body), run(9000));
        assert_eq!(Run::of("no stamp"), Run::default());
        assert_eq!(
            Run::new(Some("9001"), Some("x")),
            Run {
                pipeline: Some(9001),
                job: None
            }
        );
        assert_eq!(
            Run::of(&Stamped::new(Run::default(), "x").body),
            Run::default()
        );
        // A later pipeline is newer; within one pipeline, a later job (a retry).
        assert!(run(9001) > run(9000));
        assert!(Run::new(Some("9000"), Some("2")) > Run::new(Some("9000"), Some("1")));
        // A note without a stamp is older than any stamped run.
        assert!(Run::default() < Run::new(Some("1"), None));
    }

    /// A look that found `notes`.
    fn look(notes: impl IntoIterator<Item = Note>) -> Look {
        let mut look = Look::default();
        notes.into_iter().for_each(|n| look.add(n));
        look
    }

    #[test]
    fn two_notes_become_the_oldest_with_the_newest_verdict() {
        let found = look([gate_note(12, 9001), gate_note(11, 9000)]);
        // The newer pipeline: its own verdict goes on the older note.
        let p = plan(&found, run(9001)).unwrap();
        assert_eq!((p.keep.id, p.newer.map(|(n, _)| n.id)), (11, None));
        assert_eq!(p.extra, [12]);
        assert_eq!(p.newest(run(9001)), run(9001));
        // The older pipeline: the newer one's verdict goes on the older note, not its own.
        let p = plan(&found, run(9000)).unwrap();
        let (newer, body) = p.newer.unwrap();
        assert_eq!((p.keep.id, newer.id), (11, 12));
        assert!(body.contains("verdict of 9001"), "{body}");
        assert_eq!(p.newest(run(9000)), run(9001));
        assert!(plan(&Look::default(), run(1)).is_none());
    }

    #[test]
    fn an_older_run_never_plans_to_write_over_a_newer_verdict() {
        let found = look([gate_note(11, 9002)]);
        let p = plan(&found, run(9001)).unwrap();
        assert_eq!(p.newer.map(|(n, _)| n.id), Some(11));
        assert!(p.extra.is_empty());
        // The same note, written over by an older pipeline after this one wrote it: this run's
        // verdict is the newest again.
        let found = look([gate_note(11, 9000)]);
        let p = plan(&found, run(9001)).unwrap();
        assert!(p.newer.is_none());
        assert!(p.keep.run < p.newest(run(9001)));
    }

    #[test]
    fn a_note_read_on_two_pages_counts_once() {
        let found = look([gate_note(3, 9000), gate_note(4, 9001), gate_note(3, 9000)]).once();
        let p = plan(&found, run(9002)).unwrap();
        assert_eq!((found.notes.len(), p.keep.id, p.extra), (2, 3, vec![4]));
    }

    #[test]
    fn a_look_keeps_the_text_of_the_newest_note_alone() {
        let found = look([gate_note(3, 9000), gate_note(5, 9002), gate_note(4, 9001)]);
        assert_eq!(found.notes.len(), 3);
        let (newest, body) = found.newest.unwrap();
        assert_eq!((newest.id, newest.run), (5, run(9002)));
        assert!(body.contains("verdict of 9002"));
    }
}
