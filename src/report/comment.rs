//! The merge-request comment: `summary.md` with a hidden marker (so the next run finds and
//! updates the same note instead of adding one) and links to the full reports.

use super::{render_summary, Document};

/// GitLab rejects note bodies over 1,000,000 characters; stay well below.
const MAX_BODY: usize = 900_000;

/// The marker that identifies our note for a given job: one note per merge request and job.
pub fn marker(job: &str) -> String {
    // `--` would end the HTML comment early; job names may contain it.
    format!("<!-- loadforge-gate:{} -->", job.replace("--", "-\u{2010}"))
}

pub fn render_comment(doc: &Document, job: &str) -> String {
    let mut body = format!("{}\n{}", marker(job), render_summary(doc));
    if let Some(job_url) = doc.run.ci.as_ref().and_then(|c| c.job_url.as_deref()) {
        let job = job_url.trim_end_matches('/');
        body.push_str(&format!(
            "\n[HTML report]({job}/artifacts/file/loadforge-gate/report.html) · [All reports]({job}/artifacts/browse/loadforge-gate/)\n"
        ));
    }
    if body.len() > MAX_BODY {
        let mut cut = MAX_BODY;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("\n\n_(truncated: see the job's summary.md for the rest)_\n");
    }
    body
}
