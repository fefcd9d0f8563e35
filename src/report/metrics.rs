//! `metrics.txt` for GitLab's metrics report. GitLab shell-splits each line and compares values
//! as strings, so names are plain (no labels) and values use a fixed number of decimals.

use std::fmt::Write;

use super::view::{Outcome, View};
use crate::{gate::CheckState, stats::EndpointStats};

/// `GET /api/v1/projects` -> `get_api_v1_projects`.
fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    s.trim_matches('_').to_string()
}

fn lines(out: &mut String, prefix: &str, e: &EndpointStats) {
    if let Some((requests, failures, rps)) = e.counts() {
        let _ = writeln!(out, "{prefix}_requests {requests}");
        let _ = writeln!(out, "{prefix}_failures {failures}");
        let _ = writeln!(out, "{prefix}_rps {rps:.2}");
    }
    let _ = writeln!(out, "{prefix}_error_rate_percent {:.2}", e.error_rate);
    let l = &e.latency_ms;
    for (name, v) in [
        ("avg", l.avg),
        ("p50", l.p50),
        ("p90", l.p90),
        ("p95", l.p95),
        ("p99", l.p99),
        ("max", l.max),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{prefix}_latency_{name}_ms {v:.2}");
        }
    }
}

pub(crate) fn render(view: &View<'_>) -> String {
    let mut out = String::new();
    for (row, e) in view.measured() {
        let prefix = if row.aggregate {
            "loadforge".to_string()
        } else {
            format!("loadforge_endpoint_{}", slug(row.name))
        };
        lines(&mut out, &prefix, e);
    }
    // Written in every case: a run without a verdict neither passed nor was judged.
    let failed = view.checks.iter().filter(|c| c.state == CheckState::Failed);
    let not_judged = (view.checks.iter()).filter(|c| c.state.not_judged().is_some());
    let passed = matches!(view.outcome, Outcome::Passed { .. });
    let judged = !matches!(view.outcome, Outcome::NotJudged { .. } | Outcome::NoVerdict);
    let _ = writeln!(out, "loadforge_checks_total {}", view.checks.len());
    let _ = writeln!(out, "loadforge_checks_failed {}", failed.count());
    let _ = writeln!(out, "loadforge_checks_not_judged {}", not_judged.count());
    let _ = writeln!(out, "loadforge_gate_passed {}", u8::from(passed));
    let _ = writeln!(out, "loadforge_gate_judged {}", u8::from(judged));
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_plain_metric_names() {
        assert_eq!(
            super::slug("GET /api/catalog/products/:id"),
            "get_api_catalog_products_id"
        );
        assert_eq!(super::slug("<script>x</script>"), "script_x_script");
    }
}
