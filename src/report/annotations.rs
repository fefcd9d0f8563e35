//! `annotations.json` (GitLab 16.3+): links shown on the job page. Inside GitLab they point at
//! the job's artifacts; elsewhere there is nothing to link and the section is empty.

use serde_json::{json, Value};

use super::{view::View, REPORT_HTML, RESULTS_JSON, SUMMARY_MD};

fn external_link(label: &str, url: &str) -> Value {
    json!({"external_link": {"label": label, "url": url}})
}

pub(crate) fn render(view: &View<'_>) -> String {
    let mut links: Vec<Value> = [
        ("Performance report (HTML)", REPORT_HTML),
        ("Performance summary", SUMMARY_MD),
        ("results.json", RESULTS_JSON),
    ]
    .into_iter()
    .filter_map(|(label, file)| {
        view.links
            .artifact(file)
            .map(|url| external_link(label, &url))
    })
    .collect();
    if let Some(url) = view.links.cloud {
        links.push(external_link("LoadForge cloud run", url));
    }
    let mut s =
        serde_json::to_string_pretty(&json!({ "loadforge-gate": links })).unwrap_or_default();
    s.push('\n');
    s
}
