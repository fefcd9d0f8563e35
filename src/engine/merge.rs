//! Merging shard results: which results may be merged (every shard of one run, each once), and
//! the merge itself, whose arithmetic is the statistics' own (`stats::merge_shards`: counts and
//! histograms add exactly, so the merged percentiles are those of the union of the shards'
//! requests).

use crate::quote::quote;
pub(crate) use crate::stats::lists_all_folds;
use crate::stats::{merge_shards, LoadFingerprint, RunResult, ShardInfo};

/// Why shard results cannot be merged: they are not every shard of one run, each once.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    /// Nothing was given.
    #[error("no shard results to merge")]
    Empty,
    /// A result that is not a shard's.
    #[error("{file} is not a shard result (it has no `run.shard`); produce shards with `run --shard I/N`")]
    NotAShard {
        /// The file it came from.
        file: String,
    },
    /// Two shards that cannot belong to one run; the values are the files' own, quoted
    /// ([`quote`]: one line each, cut to a length).
    #[error("shards of different {what}: `{a}` and `{b}`; merge only the shards of one run")]
    Mismatch {
        /// What differs ("runs", "scenarios", "shard numbering"...).
        what: &'static str,
        /// One value.
        a: String,
        /// The other.
        b: String,
    },
    /// Shards that spoke different protocols to the target: each measured another load.
    #[error("shards spoke different protocols to the target, {a} and {b}: they measured different loads and are not merged; make every shard speak one (for the native engine, the scenario's `http2: always` or `never` rather than `auto`)")]
    Protocols {
        /// One protocol, as reports name it.
        a: &'static str,
        /// The other.
        b: &'static str,
    },
    /// The same shard twice.
    #[error("shard {index}/{count} appears twice")]
    Duplicate {
        /// The shard's number.
        index: u32,
        /// Shards in the run.
        count: u32,
    },
    /// Shards that did not come.
    #[error("shards missing: {missing} of {count}; every shard must finish before the merge")]
    Missing {
        /// Their numbers, comma-separated.
        missing: String,
        /// Shards in the run.
        count: u32,
    },
}

/// Merges `shards` (with the file each came from, for messages) into one result; every shard
/// must be there.
#[cfg(test)]
pub(crate) fn merge(shards: Vec<(String, RunResult)>, cap: usize) -> Result<RunResult, MergeError> {
    match merge_partial(shards, cap)? {
        (_, Some(missing)) => Err(missing),
        (merged, None) => Ok(merged),
    }
}

/// Like [`merge`], but shards that never arrived (a failed shard job under `allow-failure`) do
/// not stop the merge: what the others measured is merged, and the missing-shards error comes
/// back beside it, so the caller can publish partial results and still fail. `cap` is the
/// merge's `--max-endpoints`, named in the merged fold.
pub(crate) fn merge_partial(
    shards: Vec<(String, RunResult)>,
    cap: usize,
) -> Result<(RunResult, Option<MergeError>), MergeError> {
    let missing = match check(&shards) {
        Ok(()) => None,
        Err(e @ MergeError::Missing { .. }) => Some(e),
        Err(e) => return Err(e),
    };
    let results: Vec<RunResult> = shards.into_iter().map(|(_, r)| r).collect();
    let merged = merge_shards(&results, cap).ok_or(MergeError::Empty)?;
    Ok((merged, missing))
}

/// The shards are every shard of one run, each once.
fn check(shards: &[(String, RunResult)]) -> Result<(), MergeError> {
    if shards.is_empty() {
        return Err(MergeError::Empty);
    }
    let infos = shards
        .iter()
        .map(|(file, r)| {
            r.run
                .shard
                .clone()
                .ok_or_else(|| MergeError::NotAShard { file: quote(file) })
        })
        .collect::<Result<Vec<ShardInfo>, _>>()?;
    same("runs", infos.iter().map(|i| i.run_id.as_str()))?;
    same(
        "scenarios",
        shards
            .iter()
            .map(|(_, r)| r.run.scenario.as_deref().unwrap_or("")),
    )?;
    same("engines", shards.iter().map(|(_, r)| r.run.engine.as_str()))?;
    same("targets", shards.iter().map(|(_, r)| r.run.target.as_str()))?;
    // Each shard records its whole run's load, so the shards of one run record the same, but
    // for the per-job values found in the host (`CI_JOB_ID`, `CI_CONCURRENT_ID` differ from one
    // shard job to the next, and may be a part of the host by chance in one of them): the
    // targets themselves are compared above. The protocol is what each shard's connections
    // spoke, known only to a shard that got an answer: the shards' protocols are joined apart.
    let loads: Vec<String> = shards
        .iter()
        .map(|(_, r)| {
            let load = r.run.load.clone().map(|mut l| {
                l.target_vars.clear();
                l.protocol = None;
                l
            });
            serde_json::to_string(&load).unwrap_or_default()
        })
        .collect();
    same("loads", loads.iter().map(String::as_str))?;
    LoadFingerprint::protocol_of_shards(shards.iter().filter_map(|(_, r)| r.run.load.as_ref()))
        .map_err(|(a, b)| MergeError::Protocols {
            a: a.label(),
            b: b.label(),
        })?;
    let counts: Vec<String> = infos.iter().map(|i| i.count.to_string()).collect();
    same("shard counts", counts.iter().map(String::as_str))?;
    check_numbering(&infos)
}

fn same<'a>(what: &'static str, values: impl Iterator<Item = &'a str>) -> Result<(), MergeError> {
    let mut first: Option<&str> = None;
    for v in values {
        match first {
            None => first = Some(v),
            Some(f) if f != v => {
                return Err(MergeError::Mismatch {
                    what,
                    a: quote(f),
                    b: quote(v),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Shards 1 to N of the same count N, each exactly once.
fn check_numbering(infos: &[ShardInfo]) -> Result<(), MergeError> {
    let count = infos[0].count;
    // A set of what is there, not a table sized by the count a file declares.
    let mut seen = std::collections::BTreeSet::new();
    for i in infos {
        if i.index == 0 || i.index > count {
            return Err(MergeError::Mismatch {
                what: "shard numbering",
                a: format!("{}/{}", i.index, i.count),
                b: format!("1..{count}"),
            });
        }
        if !seen.insert(i.index) {
            return Err(MergeError::Duplicate {
                index: i.index,
                count,
            });
        }
    }
    let absent = count as usize - seen.len();
    if absent == 0 {
        return Ok(());
    }
    let mut missing: Vec<String> = (1..=count)
        .filter(|i| !seen.contains(i))
        .take(10)
        .map(|i| i.to_string())
        .collect();
    if absent > missing.len() {
        missing.push(format!("and {} more", absent - missing.len()));
    }
    Err(MergeError::Missing {
        missing: missing.join(", "),
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Protocol;

    fn shard(index: u32, count: u32, run: &str, ms: &[u64]) -> (String, RunResult) {
        let r = crate::stats::shard_fixture(index, count, run, ms);
        (format!("shard-{index}.json"), r)
    }

    #[test]
    fn every_shard_of_one_run_is_merged() {
        let m = merge(
            vec![shard(1, 2, "r", &[1, 2]), shard(2, 2, "r", &[3])],
            1000,
        )
        .unwrap();
        assert_eq!((m.aggregate.requests, m.run.users), (3, 4));
        let (partial, missing) = merge_partial(vec![shard(1, 3, "r", &[1])], 1000).unwrap();
        assert_eq!(partial.aggregate.requests, 1);
        let missing = missing.map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("missing: 2, 3 of 3"), "{missing}");
        assert!(matches!(merge(Vec::new(), 1000), Err(MergeError::Empty)));
    }

    #[test]
    fn foreign_missing_and_duplicate_shards_are_refused() {
        let err = merge(vec![shard(1, 2, "r1", &[1]), shard(2, 2, "r2", &[1])], 1000).unwrap_err();
        assert!(err.to_string().contains("different runs"), "{err}");
        let err = merge(vec![shard(1, 3, "r", &[1]), shard(3, 3, "r", &[1])], 1000).unwrap_err();
        assert!(err.to_string().contains("missing: 2 of 3"), "{err}");
        let err = merge(vec![shard(1, 2, "r", &[1]), shard(1, 2, "r", &[1])], 1000).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        let mut other = shard(2, 2, "r", &[1]);
        other.1.run.scenario = Some("other".into());
        let err = merge(vec![shard(1, 2, "r", &[1]), other], 1000).unwrap_err();
        assert!(err.to_string().contains("different scenarios"), "{err}");
    }

    /// Hardening round 3, left open: a shard's `run_id` was quoted in the mismatch as it was
    /// (escape sequences, new lines, any length). Each value is quoted now: one line, cut.
    #[test]
    fn a_shards_run_id_is_quoted_in_the_mismatch() {
        let hostile = format!("r\n\u{1b}[2J{}", "x".repeat(5000));
        let err = merge(
            vec![shard(1, 2, "r1", &[1]), shard(2, 2, &hostile, &[1])],
            1000,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`r\\n\\u{1b}[2Jxxx"), "{err}");
        assert!(!err.chars().any(char::is_control), "{err:?}");
        assert!(
            err.chars().count() < 2 * crate::quote::MAX_QUOTED_CHARS,
            "{err}"
        );
    }

    /// Each shard recorded the whole run's load, so the shards of one run recorded the same:
    /// shards that recorded different loads are not of one run.
    #[test]
    fn shards_of_different_loads_are_refused() {
        let with_load = |index: u32, users: u32| {
            let mut s = shard(index, 2, "r", &[1]);
            s.1.run.load = Some(crate::stats::LoadFingerprint {
                users,
                ..crate::stats::load_fixture()
            });
            s
        };
        assert!(merge(vec![with_load(1, 50), with_load(2, 50)], 1000).is_ok());
        let err = merge(vec![with_load(1, 50), with_load(2, 5)], 1000).unwrap_err();
        assert!(err.to_string().contains("different loads"), "{err}");
        // One shard job's own number was a part of the host by chance: still one run.
        let mut chance = with_load(2, 50);
        if let Some(l) = chance.1.run.load.as_mut() {
            l.target_vars.insert("CI_JOB_ID".into(), "8080".into());
        }
        assert!(merge(vec![with_load(1, 50), chance], 1000).is_ok());
    }

    /// A shard of `engine` whose connections spoke `protocol` (`None`: it got no response, or
    /// its engine cannot tell), recorded in its result and its load as the run records them.
    fn spoke(index: u32, engine: &str, protocol: Option<Protocol>) -> (String, RunResult) {
        let mut s = shard(index, 2, "r", &[1]);
        let engine = crate::stats::Engine::from(engine.to_string());
        s.1.run.engine = engine.clone();
        s.1.run.protocol = protocol;
        s.1.run.load = Some(crate::stats::LoadFingerprint {
            engine: engine.clone(),
            protocol: Protocol::in_fingerprint(&engine, protocol),
            ..crate::stats::load_fixture()
        });
        s
    }

    /// The defect: a k6 shard that got no response (protocol unknown) beside one answered over
    /// h2 recorded another fingerprint, and the merge refused the run's shards as of different
    /// loads. Unknown joins the known protocol, in either order, in the merged load and run.
    #[test]
    fn a_shard_of_unknown_protocol_joins_the_answered_shards_protocol() {
        for shards in [
            vec![spoke(1, "k6", None), spoke(2, "k6", Some(Protocol::H2))],
            vec![spoke(1, "k6", Some(Protocol::H2)), spoke(2, "k6", None)],
        ] {
            let m = merge(shards, 1000).unwrap();
            assert_eq!(m.run.protocol, Some(Protocol::H2));
            let load = m.run.load.unwrap();
            assert_eq!(load.protocol, Some(Protocol::H2));
            assert_eq!(serde_json::to_value(&load).unwrap()["protocol"], "h2");
        }
        let m = merge(vec![spoke(1, "k6", None), spoke(2, "k6", None)], 1000).unwrap();
        assert_eq!(m.run.load.unwrap().protocol, None, "still unknown");
        // The native engine's HTTP/2 shards, as before.
        let h2 = || spoke(1, "native", Some(Protocol::H2));
        let m = merge(vec![h2(), spoke(2, "native", Some(Protocol::H2))], 1000).unwrap();
        assert_eq!(m.run.load.unwrap().protocol, Some(Protocol::H2));
    }

    /// Two shards that know different protocols measured different things: refused, both
    /// named, in either order. The native engine's absent protocol is HTTP/1.1, a known one.
    #[test]
    fn shards_of_two_known_protocols_are_refused() {
        for (a, b, words) in [
            (
                spoke(1, "k6", Some(Protocol::Http1)),
                spoke(2, "k6", Some(Protocol::H2)),
                "HTTP/1.1 and HTTP/2",
            ),
            (
                spoke(1, "k6", Some(Protocol::H2)),
                spoke(2, "k6", Some(Protocol::Mixed)),
                "HTTP/2 and HTTP/2 and HTTP/1.1",
            ),
            (
                spoke(1, "native", Some(Protocol::H2)),
                spoke(2, "native", Some(Protocol::Http1)),
                "HTTP/2 and HTTP/1.1",
            ),
        ] {
            let err = merge(vec![a, b], 1000).unwrap_err();
            assert!(matches!(err, MergeError::Protocols { .. }), "{err}");
            let err = err.to_string();
            assert!(
                err.contains(&format!("different protocols to the target, {words}:")),
                "{err}"
            );
        }
        // Another load beside it is still that.
        let mut other = spoke(2, "k6", None);
        if let Some(l) = other.1.run.load.as_mut() {
            l.users = 7;
        }
        let err = merge(vec![spoke(1, "k6", Some(Protocol::H2)), other], 1000).unwrap_err();
        assert!(err.to_string().contains("different loads"), "{err}");
    }
}
