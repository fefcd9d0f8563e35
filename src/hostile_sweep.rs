//! The hostile-input sweep: random single mutations of real input files (the example
//! scenarios, a config file that sets most keys, results files of this version and the last,
//! a shard), each read the way the gate reads it, in-process: a scenario compiled, a config
//! file turned into settings under each profile, a results file read as a baseline (its
//! history too), compared and judged both ways, re-published, and merged as a shard. Every
//! case must end without a panic (an abort, a stack overflow, ends the whole test) and within
//! [`PEAK_LIMIT`] of heap, measured per case.
//!
//! Reproducible: the random generator starts from `HOSTILE_SWEEP_START` (31 by default) and
//! makes `HOSTILE_SWEEP_CASES` cases (2,000); CONTRIBUTING.md has the command. A failing case
//! names its start, number, file and mutation, and its input is written out.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use rand::{Rng, RngCore};

use crate::{
    baseline,
    cli::{JudgeArgs, LoadArgs, RunArgs},
    gate::{self, Baseline, Reference, Rules},
    report::{self, Document},
    results::{self, Role},
    rng::Rng64,
    scenario::Scenario,
    settings::Settings,
    stats::{EndpointStats, HistoryEntry, LatencyHistogram, RunResult, SecondPoint},
};

/// Where the random generator starts, and how many cases, in a plain `cargo test`.
const DEFAULT_START: u64 = 31;
const DEFAULT_CASES: usize = 2_000;

/// The most heap one case may take. Inputs grow to 256 KiB at most; what the gate reads from
/// them is held to its caps (a results file's histograms to 128 MiB decoded, its entries to
/// their counts), far beyond anything these files can reach with one mutation.
const PEAK_LIMIT: u64 = 192 << 20;

/// The largest input a mutation may make: enough for a list to grow by thousands of entries,
/// small enough for a debug build to read thousands of cases in seconds.
const MAX_INPUT: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Scenario,
    Config,
    Results,
}

struct Fixture {
    kind: Kind,
    name: String,
    bytes: Vec<u8>,
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The real files, and those `run` and a shard write, made here by the real writer.
fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut add = |kind, dir: &str, ext: &str| {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join(dir))
            .expect("fixture folder")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        paths.sort();
        for p in paths {
            out.push(Fixture {
                kind,
                name: p.strip_prefix(ROOT).unwrap_or(&p).display().to_string(),
                bytes: std::fs::read(&p).expect("fixture"),
            });
        }
    };
    add(Kind::Scenario, "examples/scenarios", "yml");
    add(Kind::Config, "tests/fixtures", "yml");
    add(Kind::Results, "tests/fixtures", "json");
    let (document, shard) = written_results();
    out.push(Fixture {
        kind: Kind::Results,
        name: "results.json (written here)".into(),
        bytes: document,
    });
    out.push(Fixture {
        kind: Kind::Results,
        name: "shard-1-of-2.json (written here)".into(),
        bytes: shard,
    });
    out
}

/// A run of three endpoints (histograms, failure reasons, a time series).
fn a_run(started_at: &str, slower_ms: u64) -> RunResult {
    let endpoints = ["GET /api/catalog", "POST /api/cart", "GET /dashboard"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut h = LatencyHistogram::new();
            for v in 0..200u64 {
                h.record_micros(1_000 * (slower_ms + 5 + i as u64) + v * 97);
            }
            let reasons = [("HTTP 503".to_string(), 2), ("timeout".to_string(), 1)]
                .into_iter()
                .collect();
            EndpointStats::from_counts(name.to_string(), None, h, 200, reasons, 10.0)
        })
        .collect();
    let mut run = crate::stats::fixture(endpoints, 10.0);
    run.run.started_at = started_at.into();
    run.timeseries = (0..10)
        .map(|t| SecondPoint {
            t,
            requests: 60,
            failures: 1,
            p50_ms: Some(6.0),
            p95_ms: Some(9.5),
            p99_ms: Some(12.0),
            users: 5,
            generator: None,
        })
        .collect();
    run
}

/// A results.json as `run` writes it on the default branch (a verdict against a baseline, a
/// comparison, notes, a history of four runs), and a shard's file.
fn written_results() -> (Vec<u8>, Vec<u8>) {
    let mut chain: Vec<HistoryEntry> = Vec::new();
    for i in 0..4 {
        let run = a_run(&format!("2026-01-0{}T00:00:00Z", i + 1), i);
        chain = crate::stats::pass_on_history(&chain, &run, true, 20);
    }
    let base = a_run("2026-01-05T00:00:00Z", 1);
    let current = a_run("2026-01-06T00:00:00Z", 3);
    let thresholds = gate::thresholds_or_builtin(&["p95<50ms".into(), "error_rate<5%".into()])
        .expect("thresholds");
    let regressions = gate::regressions_or_builtin(&[]).expect("regressions");
    let reference = Reference::Baseline(Baseline {
        result: &base,
        history: &chain,
    });
    let verdict = gate::evaluate(&current, &thresholds, &regressions, &reference).ok();
    let history = crate::stats::pass_on_history(&chain, &current, true, 20);
    let doc = Document {
        comparison: Some(baseline::compare("base.json", &base, &current)),
        run: current,
        verdict,
        notes: vec!["The baseline is pipeline #41 on main.".into()],
        history,
    };
    let shard = crate::stats::shard_fixture(1, 2, "4242", &[5, 10, 20]);
    (
        results::to_json(&doc, "results.json")
            .expect("written")
            .into_bytes(),
        results::to_json(&shard, "shard.json")
            .expect("written")
            .into_bytes(),
    )
}

/// Tokens a hostile or careless writer puts in YAML and JSON.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "---\n",
    "...\n",
    "!!binary ",
    "!!str ",
    "!custom ",
    "~",
    "null",
    ".inf",
    "-.inf",
    ".nan",
    "1e309",
    "-1",
    "0",
    "-0",
    "18446744073709551616",
    "99999999999999999999",
    "4294967296",
    "0x7fffffff",
    "1e-400",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\t",
    "\r\n",
    "'",
    "\"",
    "#",
    ",",
    "${env.X}",
    "${",
    "${tok}",
    "%TAG ! tag:x:\n",
    "? ",
    "|\n",
    ">-\n",
    "\u{feff}",
    "é",
    "\u{202e}",
    "\0",
    "NaN",
    "true",
    "[]",
    "{}",
    "\"\"",
    "p95<",
    "+20%",
    "/dev/zero",
    "../../../../etc/passwd",
    "loadforge-gate/results/v1",
    "loadforge-gate/results/v2",
    "HISTFAAAA",
];

/// Numbers a mutation puts where a number was.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e308",
    "1e-308",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "3.4e38",
    "0.000001",
    "123456789012",
];

/// One mutation of `input`, and what it was.
fn mutate(rng: &mut Rng64, input: &[u8]) -> (Vec<u8>, String) {
    let mut b = input.to_vec();
    let len = b.len().max(1);
    let at = rng.random_range(0..=b.len());
    let span = |rng: &mut Rng64, max: usize| {
        let from = rng.random_range(0..len);
        let to = (from + rng.random_range(1..=max)).min(b.len());
        (from.min(to), to)
    };
    let what = match rng.random_range(0..10) {
        0 => {
            let i = rng.random_range(0..len).min(b.len().saturating_sub(1));
            let bit = 1u8 << rng.random_range(0..8);
            if let Some(byte) = b.get_mut(i) {
                *byte ^= bit;
            }
            format!("flip bit {bit:#x} of byte {i}")
        }
        1 => {
            let (from, to) = span(rng, 64);
            b.drain(from..to);
            format!("delete bytes {from}..{to}")
        }
        2 => {
            let (from, to) = span(rng, 4096);
            let copy = b[from..to].to_vec();
            b.splice(at..at, copy);
            format!("copy bytes {from}..{to} to {at}")
        }
        3 => {
            let t = TOKENS[rng.random_range(0..TOKENS.len())];
            b.splice(at..at, t.bytes());
            format!("insert {t:?} at {at}")
        }
        4 => replace_number(rng, &mut b),
        5 => {
            b.truncate(at);
            format!("truncate at {at}")
        }
        6 => repeat_line(rng, &mut b),
        7 => {
            let n = rng.random_range(1..3_000);
            let (from, to) = span(rng, 256);
            let (open, close) = if rng.random_bool(0.5) {
                ("[", "]")
            } else {
                ("{a: ", "}")
            };
            b.splice(to..to, close.repeat(n).into_bytes());
            b.splice(from..from, open.repeat(n).into_bytes());
            format!("nest bytes {from}..{to} in {n} {open:?}")
        }
        8 => deep_block(rng, &mut b),
        _ => {
            let (from, to) = span(rng, 32);
            let t = TOKENS[rng.random_range(0..TOKENS.len())];
            b.splice(from..to, t.bytes());
            format!("replace bytes {from}..{to} with {t:?}")
        }
    };
    b.truncate(MAX_INPUT);
    (b, what)
}

/// A number of the input (a run of digits) replaced by an extreme one.
fn replace_number(rng: &mut Rng64, b: &mut Vec<u8>) -> String {
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .collect();
    let Some(&from) = starts.get(rng.random_range(0..starts.len().max(1))) else {
        return "no number to replace".into();
    };
    let to = (from..b.len())
        .find(|&i| !b[i].is_ascii_digit() && b[i] != b'.')
        .unwrap_or(b.len());
    let n = NUMBERS[rng.random_range(0..NUMBERS.len())];
    b.splice(from..to, n.bytes());
    format!("replace the number at {from} with {n}")
}

/// One line repeated many times (a list or map that grows).
fn repeat_line(rng: &mut Rng64, b: &mut Vec<u8>) -> String {
    let lines: Vec<usize> = std::iter::once(0)
        .chain((0..b.len()).filter(|&i| b[i] == b'\n').map(|i| i + 1))
        .filter(|&i| i < b.len())
        .collect();
    let Some(&from) = lines.get(rng.random_range(0..lines.len().max(1))) else {
        return "no line to repeat".into();
    };
    let to = (from..b.len())
        .find(|&i| b[i] == b'\n')
        .map_or(b.len(), |i| i + 1);
    let line = b[from..to].to_vec();
    let times = rng
        .random_range(2..20_000)
        .min(MAX_INPUT / 2 / line.len().max(1));
    let copies: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * times)
        .collect();
    b.splice(to..to, copies);
    format!("repeat the line at {from} {times} times")
}

/// Mappings nested in block style (indentation, not brackets) at a line start.
fn deep_block(rng: &mut Rng64, b: &mut Vec<u8>) -> String {
    let depth = rng.random_range(1..600);
    let at = (0..b.len())
        .filter(|&i| i == 0 || b[i - 1] == b'\n')
        .nth(rng.random_range(0..40))
        .unwrap_or(0);
    let mut block = String::new();
    for i in 0..depth {
        block.push_str(&" ".repeat(2 * i));
        block.push_str("k:\n");
    }
    block.push_str(&" ".repeat(2 * depth));
    block.push_str("v: 1\n");
    b.splice(at..at, block.into_bytes());
    format!("nest {depth} mappings in block style at {at}")
}

/// A scenario read as `run` reads one.
fn read_scenario(bytes: &[u8], dir: &Path) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(mut s) = Scenario::parse(&text, &dir.join("s.yml"), &|_| None) {
        let _ = s.fold_endpoints(2, crate::stats::OTHER_ENDPOINTS);
    }
}

/// The fixture's profiles.
const PROFILES: &[&str] = &["smoke", "load", "stress", "locust", "cloud"];

/// A config file read as `run` reads one, with no profile and with `profile`.
fn read_config(bytes: &[u8], dir: &Path, profile: &str) {
    let path = dir.join("loadforge-gate.yml");
    std::fs::write(&path, bytes).expect("a temporary config file");
    for profile in [None, Some(profile)] {
        let args = RunArgs {
            load: LoadArgs::default(),
            judge: JudgeArgs {
                config: Some(path.clone()),
                profile: profile.map(String::from),
                ..JudgeArgs::default()
            },
        };
        let _ = Settings::from_args(&args, &|_| None, None);
    }
}

/// A results file read as a baseline (compared and judged with `other`, both ways), as
/// `report` reads one (re-published when `publish`), and as a shard (merged).
fn read_results(bytes: &[u8], other: &RunResult, dir: &Path, publish: bool) {
    if let Ok(doc) = results::parse::<Document>(bytes, "r.json", Role::Results) {
        if publish {
            let _ = report::publish_all(&dir.join("out"), &doc);
        }
    }
    if let Ok(base) = results::parse::<RunResult>(bytes, "r.json", Role::Baseline) {
        let history = baseline::history_or_note(bytes, "r.json", &mut Vec::new());
        judge(&base, &history, other);
        judge(other, &history, &base);
    }
    if let Ok(shard) = results::parse::<RunResult>(bytes, "r.json", Role::Shard) {
        let _ = crate::stats::merge_shards(&[shard.clone(), shard], 2);
    }
}

/// What `compare` does with a baseline and a run.
fn judge(base: &RunResult, history: &[HistoryEntry], current: &RunResult) {
    let comparison = baseline::compare("base.json", base, current);
    let _ = report::comparison_text(&comparison);
    let _ = report::history_note(history, &comparison, current);
    let _ = report::trend_text(history, current);
    let rules = gate::regressions_or_builtin(&[]).expect("the built-in rules");
    let reference = Reference::Baseline(Baseline {
        result: base,
        history,
    });
    if let Ok(v) = gate::evaluate(current, &Rules::configured(Vec::new()), &rules, &reference) {
        let failed: Vec<&gate::Check> = v.failed_checks().collect();
        let _ = report::changes_text(history, current, &failed);
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The panic's message, when it has one.
fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[test]
fn hostile_input_sweep() {
    let start = env_or("HOSTILE_SWEEP_START", DEFAULT_START);
    let cases = env_or("HOSTILE_SWEEP_CASES", DEFAULT_CASES);
    let fixtures = fixtures();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pristine: RunResult = results::parse(&written_results().0, "results.json", Role::Baseline)
        .expect("the written results read back");
    let mut rng = Rng64::starting_at(start);
    let mut failures = Vec::new();
    let mut worst = (0u64, String::new());
    let mut per_kind = [0usize; 3];
    for case in 0..cases {
        // A kind first, then one of its files: each kind gets a third of the cases.
        let kind = [Kind::Scenario, Kind::Config, Kind::Results][case % 3];
        let of_kind: Vec<&Fixture> = fixtures.iter().filter(|f| f.kind == kind).collect();
        let f = of_kind[rng.next_u64() as usize % of_kind.len()];
        let (input, what) = mutate(&mut rng, &f.bytes);
        let publish = case % 16 == 0;
        let (outcome, heap) = crate::test_memory::measure(|| {
            catch_unwind(AssertUnwindSafe(|| match f.kind {
                Kind::Scenario => read_scenario(&input, dir.path()),
                Kind::Config => read_config(&input, dir.path(), PROFILES[case % PROFILES.len()]),
                Kind::Results => read_results(&input, &pristine, dir.path(), publish),
            }))
        });
        per_kind[f.kind as usize] += 1;
        let id = format!("start {start} case {case}: {} ({what})", f.name);
        if heap.peak > worst.0 {
            worst = (heap.peak, id.clone());
        }
        let problem = match outcome {
            Err(panic) => Some(format!("panicked: {}", message(&*panic))),
            Ok(()) if heap.peak > PEAK_LIMIT => Some(format!("peaked at {} bytes", heap.peak)),
            Ok(()) => None,
        };
        if let Some(problem) = problem {
            let kept = std::env::temp_dir().join(format!("hostile-sweep-{start}-{case}"));
            let _ = std::fs::write(&kept, &input);
            failures.push(format!("{id} {problem}; input kept in {}", kept.display()));
        }
    }
    // Figures, not pass marks: `cargo test --lib hostile_sweep -- --nocapture` prints them.
    eprintln!(
        "hostile sweep: start {start}, {cases} cases ({} scenarios, {} config files, {} results files), the most heap one took: {:.1} MiB ({})",
        per_kind[0],
        per_kind[1],
        per_kind[2],
        worst.0 as f64 / (1 << 20) as f64,
        worst.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
