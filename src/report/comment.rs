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
    let url = |u: Option<String>| u.as_deref().and_then(markdown::markdown_url);
    if let (Some(html), Some(all)) = (
        url(view.links.artifact(REPORT_HTML)),
        url(view.links.artifacts_folder()),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::stats::{CiInfo, EndpointStats, LatencyHistogram};

    /// GitLab runs quick actions (`/close`, `/label`) found at the start of a line of a note, and
    /// notifies `@user`: nothing from a server, a results file or a cloud API may do either.
    #[test]
    fn hostile_text_cannot_start_a_line_or_mention_anyone() {
        let mut h = LatencyHistogram::new();
        h.record_micros(1_000);
        let mut reasons = BTreeMap::new();
        reasons.insert("/close\n/label ~bug @ops-team".to_string(), 1);
        let e = EndpointStats::from_counts(
            "GET /x\n/unassign @admin".into(),
            Some("GET".into()),
            h,
            1,
            reasons,
            1.0,
        );
        let mut run = crate::stats::fixture(vec![e], 1.0);
        run.run.cloud_url =
            Some("https://app.loadforge.com/r/1)\n\n/close\n[x](javascript:alert(1)".into());
        run.run.target = "https://t.example/\n/merge".into();
        run.ci = Some(CiInfo {
            job_url: Some("javascript:alert(1)//".into()),
            pipeline_url: Some("https://gitlab.example.com/p/1) /approve".into()),
            ..CiInfo::default()
        });
        let doc = Document {
            run,
            verdict: None,
            comparison: None,
            notes: vec!["note\n/close".into()],
            history: Vec::new(),
        };
        let body = render_comment(&doc, "perf");
        for line in body.lines() {
            assert!(
                !line.trim_start().starts_with('/'),
                "a line starts a quick action: {line}"
            );
        }
        for mention in ["@admin", "@ops-team"] {
            assert!(!body.contains(mention), "{mention} would notify: {body}");
        }
        assert!(
            !body.contains("[job]"),
            "a javascript: link was kept: {body}"
        );
        // The job link is a `javascript:` URL: no report may link it.
        let annotations = super::super::annotations::render(&View::new(&doc));
        assert!(
            !annotations.contains("\"url\": \"javascript"),
            "{annotations}"
        );
        assert!(
            body.contains("(https://app.loadforge.com/r/1%29/close%5Bx%5D%28javascript"),
            "the link is not closed early: {body}"
        );
    }
}
