//! report.html in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
//! loads it offline with no console message (the page's Content-Security-Policy turns any
//! attempted network request into one), the charts are drawn, hostile names stay text, and a
//! screenshot is kept in target/ for people to look at.

use std::path::{Path, PathBuf};

use loadforge_gate::sample_app::Knobs;

use crate::harness::{example, sample_app, Gate};

fn chromium() -> String {
    std::env::var("LOADFORGE_GATE_TEST_CHROMIUM").unwrap_or_else(|_| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("chromium")
            .to_string()
    })
}

/// Runs headless Chromium on a file; returns (stdout, stderr).
fn browse(file: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs (apt-get install chromium)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Chromium")]
fn the_report_loads_offline_with_charts_and_no_console_message() {
    let app = sample_app(Knobs {
        error_rate: 0.05,
        ..Knobs::default()
    });
    let run = |extra: &[&str]| {
        Gate::new()
            .args([
                "run",
                "--scenario",
                &example("shop-cart.yml"),
                "--host",
                &app.url(),
            ])
            .args([
                "--users",
                "20",
                "--spawn-rate",
                "40",
                "--run-time",
                "4s",
                "--progress",
                "0",
            ])
            .args([
                "--threshold",
                "p95<250ms",
                "--threshold",
                "GET /api/catalog/search: p95<300ms",
            ])
            .args(extra)
            .run()
    };
    let base = run(&["--baseline", "none"]);
    let base_file = base.out_dir().join("results.json");
    let out = run(&["--baseline", base_file.to_str().unwrap()]);
    let report = out.out_dir().join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    for forbidden in ["<script", "<link", "src=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(forbidden),
            "report.html must be self-contained: found {forbidden}"
        );
    }
    assert!(html.contains("Content-Security-Policy"));

    let (dom, log) = browse(&report, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("Performance gate"),
        "the page rendered: {}",
        &dom[..dom.len().min(500)]
    );
    let charts = dom.matches("<svg").count();
    assert_eq!(charts, 4, "four charts");
    assert!(
        dom.matches("<polyline").count() >= 5,
        "lines were drawn (current and baseline)"
    );
    assert!(dom.matches("<rect").count() >= 10, "bars were drawn");

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, size) in [("desktop", "1280,2600"), ("phone", "390,3200")] {
        let shot = shots.join(format!("report-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        browse(
            &report,
            &[
                &format!("--window-size={size}"),
                &format!("--screenshot={}", shot.display()),
            ],
        );
        let len = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(
            len > 20_000,
            "{name} screenshot missing or blank ({len} bytes)"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs Chromium")]
fn hostile_endpoint_names_are_shown_as_text() {
    let app = sample_app(Knobs::default());
    let scenario = "tasks:\n  - request: {name: \"<script>alert(1)</script> | <img src=x onerror=alert(2)>\", path: /health}\nwait: 0.1\n";
    let out = Gate::new()
        .write("evil.yml", scenario)
        .args([
            "run",
            "--scenario",
            "evil.yml",
            "--host",
            &app.url(),
            "--users",
            "2",
            "--run-time",
            "1s",
            "--progress",
            "0",
        ])
        .args([
            "--threshold",
            "<script>alert(1)</script> | <img src=x onerror=alert(2)>: p95<1s",
        ])
        .run()
        .expect_exit(0);
    let html = std::fs::read_to_string(out.out_dir().join("report.html")).unwrap();
    assert!(
        !html.contains("<script>alert(1)"),
        "raw script tag in report.html"
    );
    assert!(!html.contains("<img src=x"), "raw img tag in report.html");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let summary = out.file("summary.md");
    assert!(
        !summary.contains("<script>") && summary.contains("&lt;script&gt;"),
        "{summary}"
    );
    let (dom, log) = browse(&out.out_dir().join("report.html"), &["--dump-dom"]);
    assert!(!log.contains(":CONSOLE"), "{log}");
    // In the rendered page the name is text, so the DOM serialises it escaped again.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<img src=\"x\""));
}

/// A paired run's report.html (issue 33 item 4) in the browser: offline with no console
/// message, the side-by-side table as text, and the slice chart drawn with both sides' lines
/// beside the other four charts.
#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: needs Chromium, 8 s of load"
)]
fn a_paired_reports_side_by_side_and_slice_chart_render_offline() {
    let _quiet = crate::harness::quiet();
    let (change, base) = (crate::harness::slow_app(10), crate::harness::slow_app(5));
    let out = Gate::new()
        .write(
            "s.yml",
            "tasks: [{request: {name: GET /, method: GET, path: /}}]\n",
        )
        .args(["run", "--scenario", "s.yml", "--host", &change.url()])
        .args(["--compare-host", &base.url(), "--run-time", "8s"])
        .args(["--users", "4", "--spawn-rate", "100", "--progress", "0"])
        .args(["--baseline", "none", "--regression", "p95 +20%"])
        .run();
    let report = out.out_dir().join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    for forbidden in ["<script", "<link", "src=\"http", "url(http", "@import"] {
        assert!(!html.contains(forbidden), "found {forbidden}");
    }
    let (dom, log) = browse(&report, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(dom.contains("Base and change, side by side"), "the table");
    assert!(
        dom.contains("p95 per slice, base and change"),
        "the slice chart"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        5,
        "four charts and the slices'"
    );
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let shot = screenshots.join("report-paired.png");
    browse(
        &report,
        &[
            "--window-size=1280,3200",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 20_000);
}
