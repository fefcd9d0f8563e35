//! The merge-request comment: `summary.md` with a hidden marker (so the next run finds and
//! updates the same note instead of adding one) and links to the full reports.

use super::{markdown, view::View, Document, REPORT_HTML};

/// GitLab rejects note bodies over 1,000,000 characters; stay well below.
const MAX_BODY: usize = 900_000;

/// The marker that identifies our note for a given job: one note per merge request and job.
pub(crate) fn marker(job: &str) -> String {
    // `--` would end the HTML comment early; job names may contain it.
    format!("<!-- loadforge-gate:{} -->", job.replace("--", "-\u{2010}"))
}

/// The note body for a document, marked as the note of `job`.
pub(crate) fn render_comment(doc: &Document, job: &str) -> String {
    render(&View::new(doc), job)
}

/// The marker, the summary, the links to the reports, cut to what GitLab accepts.
pub(crate) fn render(view: &View<'_>, job: &str) -> String {
    let mut body = format!("{}\n{}", marker(job), markdown::render(view));
    if let (Some(html), Some(all)) = (
        view.links.artifact(REPORT_HTML),
        view.links.artifacts_folder(),
    ) {
        body.push_str(&format!("\n[HTML report]({html}) · [All reports]({all})\n"));
    }
    truncate(&mut body);
    body
}

/// Cuts an oversized body on a character boundary and says where the rest is.
fn truncate(body: &mut String) {
    if body.len() <= MAX_BODY {
        return;
    }
    let mut cut = MAX_BODY;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
    body.push_str("\n\n_(truncated: see the job's summary.md for the rest)_\n");
}
