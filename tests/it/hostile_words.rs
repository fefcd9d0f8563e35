//! A results file is someone else's file (a previous pipeline's artifact, a path on the command
//! line): a word of a closed set in it that this version does not know (a load model, a check's
//! state or unit, a protocol, a side) is refused with exit 2 (`--baseline FILE`, `compare`,
//! `report`: docs/limits.md), and its one error names the field and quotes the value: one line,
//! control characters and terminal escapes written out, the length bounded, never a newline
//! or an escape sequence of the file's in the job's log or the merge-request note.

use crate::harness::{example, Gate, Output};

/// A newline and a terminal escape that would paint the rest of a log red.
const HOSTILE: &str = "x\n\u{1b}[31mred";
/// [`HOSTILE`] as the error quotes it.
const QUOTED: &str = r"x\n\u{1b}[31mred";

/// A real results.json with a threshold check, from a short run against a closed port.
fn good_results() -> String {
    Gate::new()
        .args(["run", "--scenario", &example("shop-cart.yml")])
        .args(["--host", "http://127.0.0.1:9", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "none"])
        .args(["--threshold", "error_rate<=100%"])
        .run()
        .expect_exit(0)
        .file("results.json")
}

fn edit(doc: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(doc).expect("results.json is JSON");
    change(&mut v);
    v.to_string()
}

/// `args` on the file `r.json` holding `doc`, beside the good `good.json`.
fn read_back(doc: &str, good: &str, args: &[&str]) -> Output {
    Gate::new()
        .write("r.json", doc)
        .write("good.json", good)
        .args(args)
        .run()
}

/// The error: exit 2, a message line and its causes only, the value quoted after `words`, no
/// escape character anywhere on stderr.
#[track_caller]
fn assert_refused_quoted(out: &Output, case: &str, words: &str) {
    assert_eq!(out.code, 2, "{case}: {}", out.stderr);
    let text = out.error_text();
    assert!(text.contains("r.json"), "{case}: the file is named: {text}");
    let quoted = format!("{words} `{QUOTED}`");
    assert!(text.contains(&quoted), "{case}: `{quoted}` not in {text}");
    assert!(!out.stderr.contains('\u{1b}'), "{case}: {:?}", out.stderr);
}

/// Each field of a closed set of words, by where it sits in the file, with the words the error
/// names it by.
type Case = (&'static str, &'static str, fn(&mut serde_json::Value));

/// The run's own fields, read by every command that reads a results file.
const RUN_FIELDS: &[Case] = &[
    ("run.model", "load model", |d| {
        d["run"]["model"] = HOSTILE.into()
    }),
    ("run.load.model", "load model", |d| {
        d["run"]["load"]["model"] = HOSTILE.into()
    }),
    ("an endpoint's protocol", "protocol", |d| {
        d["endpoints"][0]["protocol"] = HOSTILE.into()
    }),
    ("a slice's side", "side", |d| {
        d["paired"] = serde_json::json!({"slices": [{"side": HOSTILE}]})
    }),
    (
        "a histogram's encoding",
        "unsupported histogram encoding",
        |d| d["aggregate"]["histogram"]["encoding"] = HOSTILE.into(),
    ),
];

/// The judgement's fields, read by `report`.
const VERDICT_FIELDS: &[Case] = &[
    ("a check's kind", "check kind", |d| {
        d["verdict"]["checks"][0]["kind"] = HOSTILE.into()
    }),
    ("a check's unit", "unit", |d| {
        d["verdict"]["checks"][0]["unit"] = HOSTILE.into()
    }),
    ("a check's metric", "unknown metric", |d| {
        d["verdict"]["checks"][0]["metric"] = HOSTILE.into()
    }),
    ("a check's state", "check state", |d| {
        d["verdict"]["checks"][0]["state"] = HOSTILE.into()
    }),
    ("a check's reason", "check reason", |d| {
        d["verdict"]["checks"][0]["state"] = "not_judged".into();
        d["verdict"]["checks"][0]["reason"] = HOSTILE.into();
    }),
    ("a finding's outcome", "finding outcome", |d| {
        d["verdict"]["checks"][0]["finding"] = serde_json::json!({"outcome": HOSTILE})
    }),
    ("the comparison's load", "comparison.load", |d| {
        d["comparison"] = serde_json::json!({"load": HOSTILE})
    }),
    ("a comparison row's presence", "presence", |d| {
        d["comparison"] = serde_json::json!({"rows": [{"presence": HOSTILE}]})
    }),
];

/// Every case is tried, and every one that fails is listed: one per field.
#[test]
fn a_word_no_version_writes_is_refused_quoted_on_one_line_exit_2() {
    let good = good_results();
    let mut tries: Vec<(String, &str, String, Vec<&str>)> = Vec::new();
    for (case, words, change) in RUN_FIELDS {
        for args in [
            vec!["compare", "r.json", "good.json"],
            vec!["compare", "good.json", "r.json"],
            vec!["report", "r.json"],
        ] {
            let case = format!("{case} ({})", args.join(" "));
            tries.push((case, words, edit(&good, change), args));
        }
    }
    for (case, words, change) in VERDICT_FIELDS {
        tries.push((
            case.to_string(),
            words,
            edit(&good, change),
            vec!["report", "r.json"],
        ));
    }
    let failed: Vec<String> = tries
        .into_iter()
        .filter_map(|(case, words, doc, args)| {
            let out = read_back(&doc, &good, &args);
            let held = std::panic::catch_unwind(|| assert_refused_quoted(&out, &case, words));
            held.is_err().then_some(case)
        })
        .collect();
    assert!(failed.is_empty(), "not refused quoted: {failed:#?}");
}

/// A baseline of `run --baseline FILE` too, before any load; and a value of any length is cut
/// to the quoting's bound (200 characters) rather than filling the log.
#[test]
fn a_baseline_with_a_long_hostile_word_is_refused_before_any_load_and_bounded() {
    let good = good_results();
    let long = format!("{HOSTILE}{}", "z".repeat(100_000));
    let doc = edit(&good, |d| d["run"]["model"] = long.into());
    let out = Gate::new()
        .write("b.json", &doc)
        .args(["run", "--scenario", &example("shop-cart.yml")])
        .args(["--host", "http://127.0.0.1:9", "--run-time", "1s"])
        .args(["--progress", "0", "--baseline", "b.json"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let text = out.error_text();
    assert!(text.contains(&format!("load model `{QUOTED}zzz")), "{text}");
    assert!(text.contains("z…` is not one this version reads"), "{text}");
    assert!(out.stderr.len() < 2_000, "{} bytes", out.stderr.len());
    assert!(!out.out_dir().join("results.json").exists(), "no load ran");
}
