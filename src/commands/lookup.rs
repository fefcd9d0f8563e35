//! Finding the baseline named by the settings: a file, the previous pipeline, or none.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::{
    baseline::{self, Previous},
    defaults,
    error::Error,
    gitlab::{ApiClient, Auth, RetryPolicy},
    modes::BaselineSource,
    pause::Waited,
    report,
    settings::GateSettings,
};

/// Resolves the baseline; `notes` collects what the report should say about it. A GitLab
/// lookup that fails is a note, not an error: a missing baseline never fails a gate.
pub(crate) fn load_baseline(
    settings: &GateSettings,
    notes: &mut Vec<String>,
    stop: &CancellationToken,
) -> Result<Option<Previous>, Error> {
    match &settings.baseline {
        BaselineSource::None => Ok(None),
        BaselineSource::File(path) => {
            let mut found = baseline::load_baseline_file(path)?;
            notes.append(&mut found.notes);
            Ok(Some(found))
        }
        BaselineSource::Auto if !settings.ci.gitlab => {
            notes.push("No baseline yet: regressions were not checked (outside GitLab, pass --baseline FILE to compare).".into());
            Ok(None)
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
                    Ok(None)
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
fn from_gitlab(settings: &GateSettings, notes: &mut Vec<String>) -> Option<Previous> {
    let Some(api_url) = settings.ci.api_url.as_deref() else {
        notes.push("No baseline: CI_API_V4_URL is not set.".into());
        return None;
    };
    // A client that cannot be built (an unreadable CI_SERVER_TLS_CA_FILE) is said once; the
    // lookup then goes on without it, as without a token.
    let mut said = false;
    let mut client =
        |auth| match ApiClient::new(api_url, auth, RetryPolicy::default(), &settings.net) {
            Ok(c) => Some(c),
            Err(e) => {
                if !std::mem::replace(&mut said, true) {
                    let e = crate::error::one_line(&e);
                    eprintln!("loadforge-gate: warning: no baseline from GitLab: {e}");
                    notes.push(format!("No baseline from GitLab: {e}."));
                }
                None
            }
        };
    let job_client = settings
        .ci
        .job_token
        .clone()
        .and_then(|t| client(Auth::Job(t)));
    let api_client = settings
        .gitlab_token
        .clone()
        .and_then(|t| client(Auth::Private(t)));
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
            if let Some(b) = &lookup.baseline {
                eprintln!(
                    "loadforge-gate: baseline: {} (a history of {} runs)",
                    b.source,
                    b.history.len()
                );
            }
            lookup.baseline
        }
        Err(e) => {
            let e = crate::error::one_line(&e);
            eprintln!("loadforge-gate: warning: no baseline: {e}");
            notes.push(format!("No baseline: {e}."));
            None
        }
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
