//! `results.json` and shard files, the contract one run leaves the next: the one reader and the
//! one writer of them, which every command uses. A file read may come from anywhere (a previous
//! pipeline's artifact, a path on the command line), so the reader caps its size, checks its
//! schema before reading it as this version's types, and holds its histograms to one file's
//! budget. The writer writes a whole file, then renames it. Between `stats` (the file's model)
//! and everything that reads or writes one.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{
    defaults::MAX_RESULTS_BYTES,
    stats::{Entries, HistoryEntry, RunResult, HISTOGRAM_BUDGET_BYTES, SCHEMA, SCHEMA_V1},
};

/// What a results file is read for: its errors name it so, with the fix that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A baseline: `--baseline FILE`, `compare`'s first file, a previous pipeline's artifact.
    Baseline,
    /// A shard's result, read by `merge`.
    Shard,
    /// A run's own results, re-published by `report` or judged by `compare`.
    Results,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Baseline | Role::Results => "results file",
            Role::Shard => "shard",
        }
    }

    fn where_to_look(self) -> &'static str {
        match self {
            Role::Baseline => "check the --baseline path",
            Role::Shard => "check the paths given to merge",
            Role::Results => "check the path",
        }
    }

    fn regenerate(self) -> &'static str {
        match self {
            Role::Baseline => "regenerate it with this version or pass --baseline none",
            Role::Shard => "run every shard with this version",
            Role::Results => "regenerate it with this version",
        }
    }
}

/// Why a results file could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResultsFileError {
    #[error("cannot read {} {file}; {}", role.noun(), role.where_to_look())]
    Read {
        role: Role,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is not a loadforge-gate results file")]
    Parse {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file} is {size} bytes; results files over {} MiB are refused", MAX_RESULTS_BYTES >> 20)]
    TooLarge { file: String, size: u64 },
    #[error("{file} is not a loadforge-gate results file: it has no `schema` field")]
    NoSchema { file: String },
    #[error("{file} has schema `{found}`, this version reads `{SCHEMA}`; {}", role.regenerate())]
    Schema {
        role: Role,
        file: String,
        found: String,
    },
    #[error("{file} is refused: its histograms need more than {} MiB of memory decoded, the budget of one results file", HISTOGRAM_BUDGET_BYTES >> 20)]
    HistogramBudget { file: String },
    #[error("{file} is refused: it holds more than {} {what}, the most one results file may hold", what.cap())]
    TooManyEntries { file: String, what: Entries },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize {file}")]
    Serialize {
        file: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a results file is read as: the run alone (a baseline, a shard), or the whole document
/// around it (`report`).
pub(crate) trait Contents: DeserializeOwned {
    /// The run, which the reader tidies the same way whatever it was read as.
    fn run_mut(&mut self) -> &mut RunResult;
}

impl Contents for RunResult {
    fn run_mut(&mut self) -> &mut RunResult {
        self
    }
}

/// The results file at `path`, read for `role`.
pub(crate) fn load<T: Contents>(path: &Path, role: Role) -> Result<T, ResultsFileError> {
    parse(&read(path, role)?, &shown(path), role)
}

/// A file's path as a message names it: quoted, since a directory `merge` lists holds what
/// other jobs named their files.
pub(crate) fn shown(path: &Path) -> String {
    crate::quote::quote(&path.display().to_string())
}

/// The bytes of the results file at `path`, refused past [`MAX_RESULTS_BYTES`] before it is
/// read, and cut off there while it is read (a file that grows after the check); anything but
/// a regular file (a FIFO, a device) is refused unread.
pub(crate) fn read(path: &Path, role: Role) -> Result<Vec<u8>, ResultsFileError> {
    let file = || shown(path);
    let read_err = |source| ResultsFileError::Read {
        role,
        file: file(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_RESULTS_BYTES as u64 {
        return Err(ResultsFileError::TooLarge { file: file(), size });
    }
    crate::capped::read_file(path, MAX_RESULTS_BYTES).map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => ResultsFileError::TooLarge {
            file: file(),
            size: MAX_RESULTS_BYTES as u64 + 1,
        },
        _ => read_err(e),
    })
}

/// Parses the bytes of a results file (read from disk, or a downloaded artifact); `origin`
/// names it in errors. The schema is checked first, so a file of another version is named as
/// such rather than failing on whichever field changed; the file is then read straight into
/// its types, never into a generic JSON tree, which costs ten times the file's size.
pub(crate) fn parse<T: Contents>(
    bytes: &[u8],
    origin: &str,
    role: Role,
) -> Result<T, ResultsFileError> {
    check_size(bytes, origin)?;
    /// Just the schema.
    #[derive(Deserialize)]
    struct Header {
        schema: Option<String>,
    }
    let header: Header =
        serde_json::from_slice(bytes).map_err(|source| ResultsFileError::Parse {
            file: origin.to_string(),
            source,
        })?;
    let readable = |schema: &str| schema == SCHEMA || (schema == SCHEMA_V1 && role != Role::Shard);
    match header.schema.as_deref() {
        Some(schema) if readable(schema) => parse_budgeted(bytes, origin).map(|mut contents: T| {
            let run = contents.run_mut();
            // No credential in a URL, name or reason, and one row per name, as every engine's
            // result has now (older files may have two, or a token in `?access_token=`).
            run.scrub();
            run.merge_same_names();
            // Read into this version's types, it is this version's: written back as such.
            run.schema = SCHEMA.into();
            contents
        }),
        Some(other) => Err(ResultsFileError::Schema {
            role,
            file: origin.to_string(),
            // The file's own words in an error message: quoted, a line's worth of them.
            found: crate::quote::quote(other),
        }),
        None => Err(ResultsFileError::NoSchema {
            file: origin.to_string(),
        }),
    }
}

/// The run history a results file carries (see `stats::HistoryEntry`), newest first; none in a
/// file without one. Read apart from the run, so that a history this version cannot read costs
/// the history, not the baseline.
pub(crate) fn parse_history(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<HistoryEntry>, ResultsFileError> {
    check_size(bytes, origin)?;
    #[derive(Deserialize)]
    struct Chain {
        #[serde(default)]
        history: Vec<HistoryEntry>,
    }
    parse_budgeted::<Chain>(bytes, origin).map(|mut c| {
        c.history.iter_mut().for_each(HistoryEntry::scrub);
        c.history
    })
}

fn check_size(bytes: &[u8], origin: &str) -> Result<(), ResultsFileError> {
    match bytes.len() > MAX_RESULTS_BYTES {
        true => Err(ResultsFileError::TooLarge {
            file: origin.to_string(),
            size: bytes.len() as u64,
        }),
        false => Ok(()),
    }
}

/// Parses `bytes` as `T` within one file's histogram budget and entry caps
/// (`stats::Entries`), naming the file and what stopped the read in the error.
fn parse_budgeted<T: DeserializeOwned>(bytes: &[u8], origin: &str) -> Result<T, ResultsFileError> {
    let ((parsed, spent), over) = crate::stats::within_entry_caps(|| {
        crate::stats::within_budget(|| serde_json::from_slice(bytes))
    });
    let file = origin.to_string();
    parsed.map_err(|source| match (over, spent) {
        (Some(what), _) => ResultsFileError::TooManyEntries { file, what },
        (None, true) => ResultsFileError::HistogramBudget { file },
        (None, false) => ResultsFileError::Parse { file, source },
    })
}

/// Writes `contents` (a run's results, a shard's) into `dir` as `name`, through
/// [`write_atomically`]: the next pipeline, or `merge`, never reads half a file.
pub(crate) fn write<T: Serialize>(
    dir: &Path,
    name: &str,
    contents: &T,
) -> Result<PathBuf, ResultsFileError> {
    write_atomically(dir, name, to_json(contents, name)?.as_bytes())
}

/// The text of a results file `name`, as [`write`] writes it.
pub(crate) fn to_json<T: Serialize>(contents: &T, name: &str) -> Result<String, ResultsFileError> {
    serde_json::to_string_pretty(contents).map_err(|source| ResultsFileError::Serialize {
        file: name.to_string(),
        source,
    })
}

/// Writes `name` into `dir` through a temporary file and a rename, so a reader never sees half
/// a file; the reports beside a results file are written so too.
pub(crate) fn write_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<PathBuf, ResultsFileError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|source| ResultsFileError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_json(schema: &str) -> String {
        let mut r = crate::stats::fixture(vec![], 1.0);
        r.schema = schema.into();
        serde_json::to_string(&r).unwrap()
    }

    #[test]
    fn a_file_of_another_schema_is_refused_with_the_fix_for_its_use() {
        let text = run_json("loadforge-gate/results/v0");
        let err = |role| {
            parse::<RunResult>(text.as_bytes(), "old.json", role)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(Role::Baseline),
            "old.json has schema `loadforge-gate/results/v0`, this version reads `loadforge-gate/results/v2`; regenerate it with this version or pass --baseline none"
        );
        assert!(err(Role::Shard).ends_with("; run every shard with this version"));
        assert!(err(Role::Results).ends_with("; regenerate it with this version"));
    }

    /// A file `merge` found in a directory is named as other jobs named it: quoted.
    #[test]
    fn a_hostile_file_name_is_quoted_in_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard\n\u{1b}[2J.json");
        std::fs::write(&path, "{}").unwrap();
        let e = load::<RunResult>(&path, Role::Shard)
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard\\n\\u{1b}[2J.json"), "{e}");
        assert!(!e.chars().any(char::is_control), "{e:?}");
    }

    /// Hardening round 3: a foreign `schema` value was repeated as it was (escape sequences,
    /// new lines) and cut to no documented length. It is quoted now: one line, at most
    /// `quote::MAX_QUOTED_CHARS` characters of it.
    #[test]
    fn a_foreign_schema_value_is_quoted_escaped_and_cut() {
        let hostile = format!("evil\n\u{1b}[2J{}", "v".repeat(10_000));
        let text = run_json(&hostile);
        let e = parse::<RunResult>(text.as_bytes(), "x.json", Role::Results)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`evil\\n\\u{1b}[2Jvvv"), "{e}");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        let quoted = e.split('`').nth(1).unwrap();
        assert_eq!(
            quoted.chars().count(),
            crate::quote::MAX_QUOTED_CHARS,
            "{e}"
        );
        assert!(quoted.ends_with(crate::quote::ELLIPSIS), "{e}");
    }

    /// A results.json of the previous release (v1: three booleans per check), with a passed,
    /// a starved (`inconclusive`) and two `not_comparable` checks.
    const V1: &str = include_str!("../tests/fixtures/results-v1-release.json");

    #[test]
    fn a_v1_file_reads_as_a_baseline_and_for_report_with_one_state_per_check() {
        use crate::gate::{CheckState, NotJudged};
        for role in [Role::Baseline, Role::Results] {
            let doc: crate::report::Document = parse(V1.as_bytes(), "v1.json", role).unwrap();
            assert_eq!(
                doc.run.schema, SCHEMA,
                "read, it is written back as this version's"
            );
            let states: Vec<CheckState> = (doc.verdict.as_ref().unwrap().checks.iter())
                .map(|c| c.state())
                .collect();
            let starved = CheckState::NotJudged(NotJudged::GeneratorStarved);
            let other_load = CheckState::NotJudged(NotJudged::NotComparable);
            assert_eq!(
                states,
                [
                    CheckState::Passed,
                    CheckState::Passed,
                    CheckState::Passed,
                    starved,
                    other_load,
                    other_load
                ]
            );
            let verdict = doc.verdict.as_ref().unwrap();
            assert_eq!(verdict.outcome(), crate::exit::Outcome::NotJudged);
            // Written back, it is a v2 file: one state per check, no v1 boolean left.
            let json = serde_json::to_value(&doc).unwrap();
            let check = &json["verdict"]["checks"][4];
            assert_eq!(check["state"], "not_judged");
            assert_eq!(check["reason"], "not_comparable");
            assert!(check.get("passed").is_none() && check.get("not_comparable").is_none());
            assert_eq!(json["verdict"]["outcome"], "not_judged");
        }
        let e = parse::<RunResult>(V1.as_bytes(), "v1.json", Role::Shard).unwrap_err();
        assert!(
            e.to_string().ends_with("run every shard with this version"),
            "{e}"
        );
    }

    #[test]
    fn a_check_with_both_forms_or_neither_is_refused() {
        let v2 = run_json(SCHEMA);
        let with_checks = |checks: &str| {
            let mut json: serde_json::Value = serde_json::from_str(&v2).unwrap();
            let check: serde_json::Value = serde_json::from_str(&format!(
                r#"{{"name": "c", "kind": "threshold", "expression": "p95<1ms", "metric": "p95", "unit": "ms", "op": "<", "limit": 1.0, "detail": "d", {checks}}}"#
            ))
            .unwrap();
            json["verdict"] = serde_json::json!({"checks": [check]});
            parse::<crate::report::Document>(json.to_string().as_bytes(), "x.json", Role::Results)
        };
        assert!(with_checks(r#""state": "passed""#).is_ok());
        for bad in [
            r#""state": "passed", "passed": true"#,
            r#""state": "not_judged""#,
            r#""state": "failed", "reason": "too_noisy""#,
            r#""default_rule": false"#,
            r#""state": "green""#,
        ] {
            assert!(with_checks(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_without_a_schema_or_past_the_cap_is_refused() {
        let e = parse::<RunResult>(b"{}", "a.json", Role::Shard).unwrap_err();
        assert!(matches!(e, ResultsFileError::NoSchema { .. }), "{e}");
        let big = vec![b' '; MAX_RESULTS_BYTES + 1];
        let e = parse::<RunResult>(&big, "big.json", Role::Results).unwrap_err();
        assert!(matches!(e, ResultsFileError::TooLarge { .. }), "{e}");
    }

    /// A results file whose `placeholder` (a JSON string in `run_json`'s file, at `at`) is
    /// replaced by `n` entries made by `entry`.
    fn with_entries(at: &[&str], n: usize, entry: impl Fn(usize) -> String, list: bool) -> Vec<u8> {
        let mut doc: serde_json::Value = serde_json::from_str(&run_json(SCHEMA)).unwrap();
        let mut slot = &mut doc;
        for key in at {
            slot = &mut slot[*key];
        }
        *slot = serde_json::Value::String("@ENTRIES@".into());
        let (open, close) = if list { ('[', ']') } else { ('{', '}') };
        let mut entries = String::from(open);
        for i in 0..n {
            if i > 0 {
                entries.push(',');
            }
            entries.push_str(&entry(i));
        }
        entries.push(close);
        doc.to_string()
            .replace("\"@ENTRIES@\"", &entries)
            .into_bytes()
    }

    /// Finding (left open by hardening round 2): a results file's decoded size was capped in
    /// bytes, not entries, and 64 MiB of short entries decode to hundreds of megabytes (a
    /// failure reason: eight bytes of JSON, some 70 in memory). Each kind of entry that can
    /// repeat is counted as it is read, and the file refused past its cap with its own error.
    #[test]
    fn a_results_file_is_capped_by_entry_counts_each_with_its_own_error() {
        let mut row = serde_json::to_value(&crate::stats::fixture(vec![], 1.0).aggregate).unwrap();
        row.as_object_mut().unwrap().remove("histogram");
        let row = row.to_string();
        let cases: [(Entries, Vec<u8>); 3] = [
            (
                Entries::FailureReasons,
                with_entries(
                    &["aggregate", "failures_by_reason"],
                    2_000_000,
                    |i| format!("\"r{i}\":1"),
                    false,
                ),
            ),
            (
                Entries::Endpoints,
                with_entries(
                    &["endpoints"],
                    150_000,
                    |i| row.replacen("\"all requests\"", &format!("\"GET /{i}\""), 1),
                    true,
                ),
            ),
            (
                Entries::SeriesPoints,
                with_entries(
                    &["timeseries"],
                    600_000,
                    |i| format!("{{\"t\":{i},\"requests\":0,\"failures\":0,\"users\":0}}"),
                    true,
                ),
            ),
        ];
        for (what, bytes) in cases {
            assert!(
                bytes.len() < MAX_RESULTS_BYTES,
                "{what}: within the byte cap"
            );
            let (parsed, heap) = crate::test_memory::measure(|| {
                parse::<RunResult>(&bytes, "many.json", Role::Baseline)
            });
            eprintln!(
                "{what}: a {:.1} MiB file, read with a peak of {:.1} MiB",
                bytes.len() as f64 / (1 << 20) as f64,
                heap.peak_mib()
            );
            let e = parsed.unwrap_err();
            assert!(
                matches!(e, ResultsFileError::TooManyEntries { what: w, .. } if w == what),
                "{what}: {e}"
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "many.json is refused: it holds more than {} {what}, the most one results file may hold",
                    what.cap()
                )
            );
            assert!(heap.peak < 96 << 20, "{what}: peak {} bytes", heap.peak);
        }
    }

    /// A FIFO given as a results file (`--baseline`, `compare`, `merge`) is refused unread,
    /// where it once waited for a writer forever.
    #[test]
    fn a_fifo_as_a_results_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = crate::capped::Fifo::new(dir.path().join("base.json"), b"{}");
        let e = read(&fifo.path, Role::Baseline).unwrap_err();
        assert!(matches!(e, ResultsFileError::Read { .. }), "{e}");
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("not a regular file"));
    }

    #[test]
    fn what_is_written_reads_back_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = crate::stats::fixture(vec![], 1.0);
        let path = write(dir.path(), "results.json", &run).unwrap();
        let back: RunResult = load(&path, Role::Results).unwrap();
        assert_eq!(back, run);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let e = load::<RunResult>(&dir.path().join("gone.json"), Role::Shard).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot read shard ")
                && e.to_string()
                    .ends_with("gone.json; check the paths given to merge"),
            "{e}"
        );
    }
}
