//! Finding the baseline named by the settings: a file, the previous pipeline, or none.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::{
    baseline::{self, Previous},
    defaults,
    error::Error,
    gate::{Baseline, NotJudged, Reference},
    gitlab::{ApiClient, Auth, RetryPolicy},
    modes::BaselineSource,
    pause::Waited,
    report,
    settings::GateSettings,
};

/// What the look-up came back with. A missing baseline and a failed look-up are different
/// things: the first is normal (nothing was published yet), the second leaves the regression
/// rules unjudged, and neither may read as a pass.
#[derive(Debug)]
pub(crate) enum Looked {
    /// A baseline run, and the history it carries.
    Found(Box<Previous>),
    /// `--baseline none`: no comparison asked for.
    NotAsked,
    /// Nothing was published to compare with (GitLab answered, and had none; or the run is
    /// outside GitLab with no `--baseline FILE`).
    NoneYet,
    /// The look-up itself failed, after its retries: why, in one line (`GitLab answered HTTP
    /// 502`).
    Failed(String),
}

impl Looked {
    /// The baseline found, if any.
    pub(crate) fn found(&self) -> Option<&Previous> {
        match self {
            Looked::Found(p) => Some(p),
            _ => None,
        }
    }

    /// What the regression rules are judged against. Nothing published is no baseline yet:
    /// the default branch's history starts there (its first run passes, and says so); in a
    /// merge request, or wherever rules were configured, the rules are not judged; elsewhere
    /// the built-in rules are not applied. A failed look-up is never "no baseline".
    pub(crate) fn reference(&self, settings: &GateSettings) -> Reference<'_> {
        let expected =
            settings.ci.merge_request_iid.is_some() || !settings.regressions.is_built_in();
        match self {
            Looked::Found(b) => Reference::Baseline(Baseline {
                result: &b.result,
                history: &b.history,
            }),
            Looked::NotAsked => Reference::Unchecked,
            Looked::Failed(why) => Reference::Missing {
                reason: NotJudged::LookupFailed,
                why: format!("the baseline look-up failed ({why})"),
            },
            Looked::NoneYet if settings.ci.gitlab && settings.ci.on_default_branch() => {
                Reference::HistoryStarts
            }
            Looked::NoneYet if expected => Reference::Missing {
                reason: NotJudged::NoBaseline,
                why: "no earlier run was published (the notes say where the gate looked)".into(),
            },
            Looked::NoneYet => Reference::Unchecked,
        }
    }
}

/// Resolves the baseline; `notes` collects what the report should say about it.
pub(crate) fn load_baseline(
    settings: &GateSettings,
    notes: &mut Vec<String>,
    stop: &CancellationToken,
) -> Result<Looked, Error> {
    match &settings.baseline {
        BaselineSource::None => Ok(Looked::NotAsked),
        BaselineSource::File(path) => {
            let mut found = baseline::load_baseline_file(path)?;
            notes.append(&mut found.notes);
            Ok(Looked::Found(Box::new(found)))
        }
        BaselineSource::Auto if !settings.ci.gitlab => {
            notes.push("No baseline yet: outside GitLab, pass --baseline FILE to compare.".into());
            Ok(Looked::NoneYet)
        }
        BaselineSource::Auto => {
            // The lookup runs on its own thread so a signal ends the wait for a server that
            // never answers.
            let settings = settings.clone();
            let found = crate::pause::interruptible(stop, move || {
                fail_point();
                let mut notes = Vec::new();
                let found = from_gitlab(&settings, &mut notes);
                (found, notes)
            });
            match found {
                Waited::Done((found, more)) => {
                    notes.extend(more);
                    Ok(found)
                }
                Waited::Interrupted => {
                    notes.push("No baseline: the lookup was interrupted.".into());
                    Ok(Looked::Failed("the look-up was interrupted".into()))
                }
                // Not a missing baseline: the lookup's own failure, which would leave
                // regressions unchecked while the run passed.
                Waited::Failed(source) => Err(Error::Lookup(source)),
            }
        }
    }
}

/// Tests make the lookup panic (debug builds only, with
/// `LOADFORGE_GATE_FAIL_POINT=lookup-panic`) to prove that a crash in it is an error, never
/// "interrupted" and never a pass with regressions unchecked.
#[cfg(debug_assertions)]
fn fail_point() {
    if std::env::var("LOADFORGE_GATE_FAIL_POINT").as_deref() == Ok("lookup-panic") {
        panic!("fail point: the baseline lookup panics");
    }
}

#[cfg(not(debug_assertions))]
fn fail_point() {}

/// The previous pipeline's results, through the job token and, when set, the API token.
fn from_gitlab(settings: &GateSettings, notes: &mut Vec<String>) -> Looked {
    let failed = |notes: &mut Vec<String>, why: String| {
        eprintln!("loadforge-gate: warning: the baseline look-up failed: {why}");
        notes.push(format!("The baseline look-up failed: {why}."));
        Looked::Failed(why)
    };
    let Some(api_url) = settings.ci.api_url.as_deref() else {
        return failed(notes, "CI_API_V4_URL is not set".into());
    };
    let mut broken = None;
    let mut client =
        |auth| match ApiClient::new(api_url, auth, RetryPolicy::default(), &settings.net) {
            Ok(c) => Some(c),
            Err(e) => {
                broken.get_or_insert_with(|| crate::error::one_line(&e));
                None
            }
        };
    let job_client = (settings.ci.job_token.clone()).and_then(|t| client(Auth::Job(t)));
    let api_client = (settings.gitlab_token.clone()).and_then(|t| client(Auth::Private(t)));
    // A client that cannot be built (an unreadable CI_SERVER_TLS_CA_FILE) fails the look-up:
    // what it would have found is unknown.
    if let Some(why) = broken {
        return failed(notes, why);
    }
    let found = baseline::find_previous(
        &settings.ci,
        job_client.as_ref(),
        api_client.as_ref(),
        &artifact_path(&settings.out),
        settings.baseline_history,
    );
    match found {
        Ok(lookup) => {
            notes.extend(lookup.notes);
            match (lookup.baseline, lookup.failed) {
                (Some(b), _) => {
                    eprintln!(
                        "loadforge-gate: baseline: {} (a history of {} runs)",
                        b.source,
                        b.history.len()
                    );
                    Looked::Found(Box::new(b))
                }
                (None, Some(why)) => failed(notes, why),
                // The default branch's first run passes; a refused token or results that could
                // not be read are no proof of one.
                (None, None) => match lookup.unproven {
                    Some(why) if settings.ci.on_default_branch() => failed(notes, why),
                    _ => Looked::NoneYet,
                },
            }
        }
        Err(e) => failed(notes, crate::error::one_line(&e)),
    }
}

/// Where results.json sits inside the job's artifacts.
fn artifact_path(out: &Path) -> String {
    if out.is_relative() {
        let p = out.join(report::RESULTS_JSON);
        p.to_string_lossy()
            .trim_start_matches("./")
            .replace('\\', "/")
    } else {
        format!("{}/{}", defaults::OUT_DIR, report::RESULTS_JSON)
    }
}
