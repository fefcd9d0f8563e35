//! The comment stage: the verdict on the merge request, posted on its own thread so a signal
//! can cut it short without losing the reports written before it.

use tokio_util::sync::CancellationToken;

use crate::{
    gitlab::{self, comment::CommentSettings},
    modes::CommentMode,
    pause::Waited,
    report::{self, Document},
    settings::GateSettings,
};

/// Comments on its own thread; true when a signal cut it short.
pub(super) fn comment_unless_stopped(
    settings: &GateSettings,
    document: &Document,
    stop: &CancellationToken,
) -> bool {
    if settings.comment == CommentMode::Never || !settings.ci.gitlab {
        return false;
    }
    // Rendered here, so the network thread takes the comment's text, not a copy of the whole
    // document (a histogram per endpoint: tens of megabytes with a thousand endpoints).
    let body = report::render_comment(document, job_of(settings));
    let comment = CommentSettings {
        ci: settings.ci.clone(),
        mode: settings.comment,
        token: settings.gitlab_token.clone(),
        net: settings.net.clone(),
        marker: report::marker(job_of(settings)),
    };
    match crate::pause::interruptible(stop, move || gitlab::comment::post(&comment, &body)) {
        Waited::Done(()) => false,
        Waited::Interrupted => {
            eprintln!("loadforge-gate: comment: interrupted; the reports are written");
            true
        }
        // The verdict does not depend on the comment: said loudly, with its cause.
        Waited::Failed(e) => {
            eprintln!(
                "loadforge-gate: warning: comment: not posted: {}; the verdict is unaffected",
                crate::error::one_line(&e)
            );
            false
        }
    }
}

/// The job whose comment this is: its marker finds the note to update.
fn job_of(settings: &GateSettings) -> &str {
    settings.ci.job_name.as_deref().unwrap_or("loadforge-gate")
}
