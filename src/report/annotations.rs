//! `annotations.json` (GitLab 16.3+): links shown on the job page. Inside GitLab they point at
//! the job's artifacts; elsewhere there is nothing to link and the section is empty.

use serde_json::json;

use super::{Document, REPORT_HTML, SUMMARY_MD};

pub fn render(doc: &Document) -> String {
    let mut links = Vec::new();
    if let Some(job_url) = doc.run.ci.as_ref().and_then(|c| c.job_url.as_deref()) {
        let base = format!(
            "{}/artifacts/file/loadforge-gate",
            job_url.trim_end_matches('/')
        );
        links.push(json!({"external_link": {"label": "Performance report (HTML)", "url": format!("{base}/{REPORT_HTML}")}}));
        links.push(json!({"external_link": {"label": "Performance summary", "url": format!("{base}/{SUMMARY_MD}")}}));
        links.push(json!({"external_link": {"label": "results.json", "url": format!("{base}/results.json")}}));
    }
    if let Some(url) = &doc.run.run.cloud_url {
        links.push(json!({"external_link": {"label": "LoadForge cloud run", "url": url}}));
    }
    let mut s =
        serde_json::to_string_pretty(&json!({ "loadforge-gate": links })).unwrap_or_default();
    s.push('\n');
    s
}
