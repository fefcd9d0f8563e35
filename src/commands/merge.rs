//! `merge`: the final job of a sharded run. Combines the shards exactly, then judges, publishes
//! and comments like `run`, once, on the whole.

use std::path::PathBuf;

use crate::{
    cli::MergeArgs,
    engine::merge::{lists_all_folds, merge_partial},
    error::{Error, ExitStatus},
    results::{self, ResultsFileError, Role},
    settings::GateSettings,
    stats::{RunResult, OTHER_ENDPOINTS},
};

use super::{lookup::load_baseline, pipeline::judge_and_publish, process_env};

/// Shard files named directly, or every `*.json` in a named directory. A job's out folder (one
/// holding `shards/`, where `run --shard` writes) stands for that `shards/` folder, so its other
/// JSON reports are never read as shards.
fn shard_files(args: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in args {
        let nested = p.join("shards");
        let p = if nested.is_dir() { &nested } else { p };
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| ResultsFileError::Read {
                    role: Role::Shard,
                    file: p.display().to_string(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A note for each shard whose file cannot list every name it folded, said in the log too: its
/// folded names are then every name it did not keep, so none is judged on partial counts.
fn unlisted_folds(shards: &[(String, RunResult)]) -> Vec<String> {
    let unlisted = shards.iter().filter(|(_, r)| !lists_all_folds(r));
    unlisted
        .map(|(file, r)| {
            let folded = r.run.folded.as_ref().map_or(0, |f| f.names);
            let listed = r.run.shard.as_ref().map_or(0, |s| s.folded_names.names.len());
            let note = format!(
                "{file} folded {folded} endpoint names but lists {listed} (a list is read up to {} names; older shard files list none): every name it did not measure on its own is counted under `{OTHER_ENDPOINTS}` in the merge.",
                crate::stats::MAX_LISTED_NAMES
            );
            eprintln!("loadforge-gate: warning: {note}");
            note
        })
        .collect()
}

pub(crate) fn execute(args: &MergeArgs) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let gate = GateSettings::from_args(&args.judge, &process_env, Some(&cwd))?;
    let mut shards = Vec::new();
    for f in shard_files(&args.shards)? {
        let r: RunResult = results::load(&f, Role::Shard)?;
        shards.push((results::shown(&f), r));
    }
    let count = shards.len();
    let unlisted = unlisted_folds(&shards);
    let (mut merged, missing) = merge_partial(shards, gate.max_endpoints)?;
    merged.ci = crate::stats::CiInfo::from_context(&gate.ci).or(merged.ci);
    eprintln!(
        "loadforge-gate: merged {count} shards · {} requests",
        merged.aggregate.requests
    );
    crate::report::prepare_out_dir(&gate.out)?;
    let mut notes = vec![format!(
        "Merged from {count} shards: counts and histograms add exactly; per-second percentiles in the time series are request-weighted averages."
    )];
    notes.extend(unlisted);
    merged.run.partial = missing.is_some();
    if let Some(m) = &missing {
        // Published anyway (nothing measured is lost), judged on what arrived, and still an
        // error, so the pipeline does not take a part for the whole.
        let line = crate::chain::one_line(m);
        notes.push(format!(
            "Partial results: {line}. Only the shards that finished are merged here."
        ));
    }
    let stop = crate::engine::install_stop_signal();
    let gate = super::speaks_for::adopt(&gate, &mut notes, &stop);
    let setup = super::setup::start(&gate);
    let baseline = load_baseline(&gate, &mut notes, &stop)?;
    setup.collect(&mut notes);
    let status = judge_and_publish(&gate, merged, baseline, notes, &stop)?;
    match missing {
        Some(m) => Err(m.into()),
        None => Ok(status),
    }
}
