//! The load a run applied, as a fingerprint results.json carries (`run.load`), and whether two
//! runs' loads match. A regression verdict means something only between runs that put the same
//! load on the same server: a 5-user smoke judged against a 50-user main run, or a run against
//! another port, compares two different experiments.
//!
//! The fingerprint is what was asked for (the settings of the whole run, never a shard's share
//! or the measured window), so it is equal between two runs of the same job whatever their
//! timing, and it survives a `merge` unchanged.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{target, Engine, LoadModel, Protocol, RunMeta};
use crate::defaults::MAX_STREAMS_PER_USER;

/// Longest engine name read back from a file: a baseline is someone else's file.
const MAX_ENGINE: usize = 32;
/// Longest target origin read back (an origin has no path, so this is generous).
const MAX_TARGET: usize = 2048;
/// Longest scenario name read back.
const MAX_SCENARIO: usize = 512;
/// The largest rate read back (users or iterations per second); beyond it a file is not ours.
const MAX_RATE: f64 = 1e9;
/// The longest time read back: a year, the longest duration the settings accept.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// What load a run applied: engine, load model, users and arrival, length, warm-up, the
/// target's origin and the scenario's identity. Two runs are comparable when all of it but the
/// scenario's content and name is equal, the target as one system rather than one address (see
/// [`LoadFingerprint::differences`]).
// The schema's bounds are those the reader holds a file to (the deserializers below): a
// baseline is someone else's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LoadFingerprint {
    /// `native`, `locust` or `loadforge`.
    #[serde(deserialize_with = "engine_name")]
    #[schemars(length(max = MAX_ENGINE), pattern(r"^[a-z0-9_-]+$"))]
    pub engine: Engine,
    /// Closed (users wait for answers) or open (arrivals on a schedule).
    pub model: LoadModel,
    /// Concurrent users of the whole run (all shards together).
    pub users: u32,
    /// Open model: task iterations per second of the whole run.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_rate"
    )]
    #[schemars(range(min = 0, max = MAX_RATE))]
    pub rate: Option<f64>,
    /// Users started per second, all shards together.
    #[serde(deserialize_with = "rate")]
    #[schemars(range(min = 0, max = MAX_RATE))]
    pub spawn_rate: f64,
    /// The run time asked for (`--run-time`), in seconds: not the measured window.
    #[serde(deserialize_with = "seconds")]
    #[schemars(range(min = 0, max = MAX_SECONDS))]
    pub run_time_s: f64,
    /// Seconds at the start left out of the statistics.
    #[serde(default, deserialize_with = "seconds")]
    #[schemars(range(min = 0, max = MAX_SECONDS))]
    pub warmup_s: f64,
    /// Open model: seconds over which the rate rose from zero.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "seconds")]
    #[schemars(range(min = 0, max = MAX_SECONDS))]
    pub ramp_s: f64,
    /// The target's origin, `scheme://host[:port]`: no path, no credentials.
    #[serde(deserialize_with = "target_origin")]
    #[schemars(length(max = MAX_TARGET))]
    pub target: String,
    /// The scenario's or locustfile's name, or the cloud test: a label when the content's hash
    /// is known, the scenario's identity when it is not.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scenario_name"
    )]
    #[schemars(length(max = MAX_SCENARIO))]
    pub scenario: Option<String>,
    /// SHA-256 (hex) of the scenario file or locustfile, when the gate could read it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "sha256"
    )]
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub scenario_sha256: Option<String>,
    /// SHA-256 (hex) of the load a k6 script sets itself (its `vus`, `duration`, `iterations`,
    /// `stages` and `scenarios` options, as `k6 inspect` reads them): the gate then passes k6
    /// no load flags, `users` and `run_time_s` are the script's, and two runs are the same load
    /// only when these are equal. Absent when the command line set the load.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "sha256"
    )]
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub script_load_sha256: Option<String>,
    /// The per-pipeline CI variables whose values stand in the target's host as whole parts
    /// (`CI_MERGE_REQUEST_IID: "42"` for `https://mr-42.example.com`; the rule is
    /// `stats/target.rs`'s): a review app per branch or merge request is the same target for
    /// every pipeline, so each run's values are written as placeholders before the origins are
    /// compared. The previous release wrote the slug alone, as `target_ref_slug`: it reads as
    /// `CI_COMMIT_REF_SLUG`.
    #[serde(
        default,
        alias = "target_ref_slug",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "target_vars"
    )]
    #[schemars(schema_with = "target_vars_schema")]
    pub target_vars: BTreeMap<String, String>,
    /// The team's name for the system under test (`--target-id`): when both runs carry one, the
    /// names are compared instead of the origins, so two addresses of one system (a service
    /// in the job, a review app at a random address) stay comparable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "target_id"
    )]
    #[schemars(length(min = 1, max = MAX_TARGET_ID))]
    pub target_id: Option<String>,
    /// The engine's own version when it is a program of its own whose version the gate reads:
    /// k6's (`v1.1.0`, from `k6 version`). Another k6 version is another load generator (its
    /// HTTP client, timings and scheduling change between releases), so two runs whose
    /// versions differ, or of which only one knows it, are not comparable. Absent for the
    /// native engine (the gate's own version is `tool.version`) and for Locust and LoadForge.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "engine_version"
    )]
    #[schemars(length(min = 1, max = MAX_ENGINE_VERSION), pattern(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$"))]
    pub engine_version: Option<String>,
    /// A paired run (`--compare-host`): the base's origin, measured in alternating slices
    /// beside the target. Absent for an unpaired run, as in every file from before. Not part of
    /// what makes two runs comparable: a paired run's change side had the same load, slice by
    /// slice, as an unpaired run, and its rates are over the time it was measured; the base
    /// differs from one run to the next by design (the target branch moves).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "compare_origin"
    )]
    #[schemars(length(max = MAX_TARGET))]
    pub compare_target: Option<String>,
    /// The protocol the target was spoken to in: an HTTP/2 run puts another load on a server
    /// than an HTTP/1.1 run (one multiplexed connection per client, compressed headers), so the
    /// two are not compared. The native engine writes it only when it was not HTTP/1.1 alone
    /// (its `http2`), so every run it wrote before HTTP/2 was spoken stays comparable with an
    /// HTTP/1.1 run: its absence is HTTP/1.1. k6 writes it from its `proto` tags, HTTP/1.1
    /// too: its absence (an older file, no response, the tag turned off) is unknown, which
    /// differs from any known protocol. Locust and LoadForge cannot tell: absent, unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Lanes per virtual user on its one HTTP/2 connection (`defaults.streams_per_user`,
    /// h2load's `-m`): at ten, each connection carries ten requests at once where it carried
    /// one, another load on the server, so runs at different counts are not compared. Written
    /// only above 1: every file from before the setting, and every other engine's run, had one
    /// stream per user, so its absence is 1.
    #[serde(
        default = "one_stream",
        skip_serializing_if = "is_one_stream",
        deserialize_with = "streams_per_user"
    )]
    #[schemars(range(min = 1, max = MAX_STREAMS_PER_USER))]
    pub streams_per_user: u32,
}

/// A user's streams in a file without `streams_per_user`: one, as before the setting.
fn one_stream() -> u32 {
    1
}

fn is_one_stream(n: &u32) -> bool {
    *n == 1
}

/// A count of streams the scenario accepts (1 to [`MAX_STREAMS_PER_USER`]), or the file is
/// refused with the field named: a zero, a negative number, a fraction, a huge number or text
/// is no run's. The file's text is never echoed (a string may be any length).
fn streams_per_user<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    struct Streams;
    impl serde::de::Visitor<'_> for Streams {
        type Value = u32;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "load.streams_per_user as a whole number from 1 to {MAX_STREAMS_PER_USER}"
            )
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u32, E> {
            match u32::try_from(n) {
                Ok(n) if (1..=MAX_STREAMS_PER_USER).contains(&n) => Ok(n),
                _ => Err(E::custom(format!(
                    "load.streams_per_user `{n}` is outside 1..={MAX_STREAMS_PER_USER}"
                ))),
            }
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<u32, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!(
                    "load.streams_per_user `{n}` is outside 1..={MAX_STREAMS_PER_USER}"
                ))),
            }
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<u32, E> {
            Err(E::custom(format!(
                "load.streams_per_user `{n}` is not a whole number from 1 to {MAX_STREAMS_PER_USER}"
            )))
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<u32, E> {
            Err(E::custom(format!(
                "load.streams_per_user is text, not a whole number from 1 to {MAX_STREAMS_PER_USER}"
            )))
        }
    }
    d.deserialize_any(Streams)
}

/// The longest engine version read back, or read from an engine.
pub(crate) const MAX_ENGINE_VERSION: usize = 64;

/// Whether `s` is a version as the fingerprint keeps it: a letter or digit, then letters,
/// digits, `.`, `+`, `_` and `-`, at most [`MAX_ENGINE_VERSION`] bytes (`v1.1.0`,
/// `v1.2.0-rc.1+dev`). What an engine prints is outside text: anything else is not recorded.
pub(crate) fn is_engine_version(s: &str) -> bool {
    (1..=MAX_ENGINE_VERSION).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'_' | b'-'))
}

fn engine_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if !is_engine_version(&s) {
        return Err(serde::de::Error::custom(
            "load.engine_version is not a version (letters, digits, `.+_-`, at most 64 bytes)",
        ));
    }
    Ok(Some(s))
}

/// The longest `--target-id`: it is shown on one line of every report.
pub(crate) const MAX_TARGET_ID: usize = 128;
/// The longest variable name read back.
const MAX_VARIABLE_NAME: usize = 64;

/// Whether two fingerprints name the same target, and if not, the difference as people read it.
/// Target ids, when both runs have one, decide alone; otherwise the origins are compared with
/// each run's per-pipeline values as placeholders. A run that names a target id compared with
/// one that does not says so, since naming it on both sides is the fix.
fn target_change(a: &LoadFingerprint, b: &LoadFingerprint) -> Option<String> {
    if let (Some(x), Some(y)) = (&a.target_id, &b.target_id) {
        return change("target id", x, y);
    }
    if target::one_system((&a.target, &a.target_vars), (&b.target, &b.target_vars)) {
        return None;
    }
    let only = match (&a.target_id, &b.target_id) {
        (Some(id), None) => format!(" (target id {id} on the baseline only)"),
        (None, Some(id)) => format!(" (target id {id} on this run only)"),
        _ => String::new(),
    };
    Some(format!("target {} → {}{only}", a.target, b.target))
}

/// The per-pipeline variables of a file: a map of names to values, or (a file of the previous
/// release) `target_ref_slug`'s slug alone. Names are upper case, values what a host holds;
/// whether a value is then taken out of the host is `target::takes_out`'s to say, so an old
/// file's short slug still reads.
fn target_vars<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Vars;
    impl<'de> serde::de::Visitor<'de> for Vars {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of CI variables to the values found in the target's host")
        }
        fn visit_str<E: serde::de::Error>(self, slug: &str) -> Result<Self::Value, E> {
            check_host_value(slug).map_err(E::custom)?;
            Ok(BTreeMap::from([("CI_COMMIT_REF_SLUG".into(), slug.into())]))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((name, value)) = m.next_entry::<String, String>()? {
                if out.len() == target::MAX_VARIABLES {
                    return Err(serde::de::Error::custom(format!(
                        "load.target_vars holds more than {} variables",
                        target::MAX_VARIABLES
                    )));
                }
                check_variable_name(&name).map_err(serde::de::Error::custom)?;
                check_host_value(&value).map_err(serde::de::Error::custom)?;
                out.insert(name, value);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Vars)
}

/// What [`target_vars`] reads: at most [`target::MAX_VARIABLES`] CI variable names, each
/// mapped to a value a host holds.
fn target_vars_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": target::MAX_VARIABLES,
        "propertyNames": {
            "pattern": format!("^[A-Z][A-Z0-9_]{{0,{}}}$", MAX_VARIABLE_NAME - 1),
        },
        "additionalProperties": {
            "type": "string",
            "pattern": format!("^[a-z0-9.-]{{1,{}}}$", target::MAX_VALUE),
        },
    })
}

fn check_variable_name(name: &str) -> Result<(), &'static str> {
    let ok = name.len() <= MAX_VARIABLE_NAME
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    ok.then_some(())
        .ok_or("load.target_vars names something that is no CI variable")
}

fn check_host_value(value: &str) -> Result<(), &'static str> {
    let ok = (1..=target::MAX_VALUE).contains(&value.len()) && value.bytes().all(target::host_byte);
    ok.then_some(())
        .ok_or("load.target_vars holds a value no host holds")
}

/// A name the settings accepted: not blank, short, on one line.
fn target_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = bounded(d, MAX_TARGET_ID, "load.target_id")?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("load.target_id is blank"));
    }
    Ok(Some(s))
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// `scheme://host[:port]` of `url`: lowercase host, the default port left out, and never a
/// path, a query or credentials (a fingerprint is shown in every report).
pub(crate) fn origin(url: &url::Url) -> String {
    let origin = url.origin();
    if origin.is_tuple() {
        return origin.ascii_serialization();
    }
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        (None, _) => format!("{}:", url.scheme()),
    }
}

/// SHA-256 of `bytes` in lowercase hex: a scenario's identity that changes with any edit.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a baseline's load relates to this run's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LoadMatch {
    /// The same load (and the same scenario content, as far as it is known).
    Same,
    /// The same load; only the scenario's content changed: the endpoints both runs have are
    /// judged.
    ScenarioChanged,
    /// Another load: regression checks are not comparable.
    Different,
    /// A run without a fingerprint (written by an older version): only the engine was checked.
    #[default]
    Unknown,
}
crate::quote::word::words!(
    LoadMatch,
    "comparison.load",
    [
        LoadMatch::Same,
        LoadMatch::ScenarioChanged,
        LoadMatch::Different,
        LoadMatch::Unknown
    ]
);

/// A baseline's load against this run's: how they match, and each difference as people read
/// it (`users 50 → 5`, baseline first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadComparison {
    pub(crate) matched: LoadMatch,
    pub(crate) differences: Vec<String>,
}

impl LoadComparison {
    /// The differences in one line, for a check's detail.
    pub(crate) fn summary(&self) -> String {
        self.differences.join("; ")
    }
}

/// Compares the load of `base` with `current`'s. Without a fingerprint on either side only the
/// engine can be compared, as before fingerprints existed.
pub(crate) fn compare_loads(base: &RunMeta, current: &RunMeta) -> LoadComparison {
    let (Some(b), Some(c)) = (&base.load, &current.load) else {
        let engine = change("engine", &base.engine, &current.engine);
        return LoadComparison {
            matched: match engine {
                Some(_) => LoadMatch::Different,
                None => LoadMatch::Unknown,
            },
            differences: engine.into_iter().collect(),
        };
    };
    let mut differences = b.differences(c);
    let shape_differs = !differences.is_empty();
    let content = b.content_change(c);
    differences.extend(content.clone());
    let matched = match (shape_differs, content) {
        (true, _) => LoadMatch::Different,
        (false, Some(_)) => LoadMatch::ScenarioChanged,
        (false, None) => LoadMatch::Same,
    };
    LoadComparison {
        matched,
        differences,
    }
}

impl LoadFingerprint {
    /// The protocol of the load the shards' fingerprints (`loads`, of one engine: `merge`
    /// checks it) make up together, as a fingerprint writes it ([`Protocol::of_shards`]): a
    /// shard that does not know it (a k6 shard that got no response) takes the others'; two
    /// that know different ones are `Err`, with both.
    pub(crate) fn protocol_of_shards<'a>(
        loads: impl IntoIterator<Item = &'a LoadFingerprint>,
    ) -> Result<Option<Protocol>, (Protocol, Protocol)> {
        let loads: Vec<&LoadFingerprint> = loads.into_iter().collect();
        let joined = Protocol::of_shards(
            loads
                .iter()
                .map(|l| Protocol::in_load(&l.engine, l.protocol)),
        )?;
        Ok(loads
            .first()
            .and_then(|l| Protocol::in_fingerprint(&l.engine, joined)))
    }

    /// Every difference of load between `self` (the baseline) and `other` (this run), the
    /// scenario's content aside: `users 50 → 5`, `target http://a:8080 → http://a:9090`.
    pub(crate) fn differences(&self, other: &LoadFingerprint) -> Vec<String> {
        let model = |m: LoadModel| match m {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        };
        let per_second = |r: Option<f64>| r.map_or_else(|| "(none)".into(), |r| format!("{r}/s"));
        [
            change("engine", &self.engine, &other.engine),
            self.engine_version_change(other),
            self.scenario_identity_change(other),
            target_change(self, other),
            change("model", model(self.model), model(other.model)),
            change("users", &self.users, &other.users),
            change("rate", &per_second(self.rate), &per_second(other.rate)),
            change(
                "spawn rate",
                &per_second(Some(self.spawn_rate)),
                &per_second(Some(other.spawn_rate)),
            ),
            change("run time", &time(self.run_time_s), &time(other.run_time_s)),
            change("warm-up", &time(self.warmup_s), &time(other.warmup_s)),
            change("ramp", &time(self.ramp_s), &time(other.ramp_s)),
            self.protocol_change(other),
            change(
                "streams per user",
                &self.streams_per_user,
                &other.streams_per_user,
            ),
            self.script_load_change(other),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `k6 version v1.0.0 → v1.1.0`: another version of the engine is another load generator.
    /// Unknown on one side only (a run of an older gate, a `k6 version` the gate could not
    /// read) is a difference too: fail closed, one run not judged, rather than a tool change
    /// judged as the application's. Unknown on both sides (native, Locust) is no difference.
    fn engine_version_change(&self, other: &LoadFingerprint) -> Option<String> {
        if self.engine_version.is_none() && other.engine_version.is_none() {
            return None;
        }
        let v = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unknown)".into());
        change(
            &format!("{} version", other.engine),
            &v(&self.engine_version),
            &v(&other.engine_version),
        )
    }

    /// `protocol HTTP/1.1 → HTTP/2`. An unknown protocol (`(unknown)`: see
    /// [`Protocol::in_load`]) differs from every known one, so a change cannot hide behind it,
    /// as an unknown k6 version cannot, and equals only another unknown: Locust and LoadForge
    /// cannot tell, and two of their runs are not refused for it. Beside another engine it adds
    /// nothing to the engine's own difference.
    fn protocol_change(&self, other: &LoadFingerprint) -> Option<String> {
        let a = Protocol::in_load(&self.engine, self.protocol);
        let b = Protocol::in_load(&other.engine, other.protocol);
        if (a.is_none() || b.is_none()) && self.engine != other.engine {
            return None;
        }
        let word = |p: Option<Protocol>| p.map_or("(unknown)", Protocol::label);
        change("protocol", word(a), word(b))
    }

    /// The scenario's name as another load, only where it is the scenario's identity. When both
    /// runs know the content's hash, the name is a label (a `name:` or a file renamed): the hash
    /// says whether the scenario changed ([`Self::content_change`]). Without it on either side,
    /// the name is all that tells two scenarios apart (a LoadForge cloud test's id, a locustfile
    /// too large to hash), and a changed name is another load, as before.
    fn scenario_identity_change(&self, other: &LoadFingerprint) -> Option<String> {
        if self.scenario_sha256.is_some() && other.scenario_sha256.is_some() {
            return None;
        }
        let name = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
        change("scenario", &name(&self.scenario), &name(&other.scenario))
    }

    /// `script load 1a2b3c4d → 5e6f7a8b` when the k6 script's own load options differ, or one
    /// run set its load on the command line (`(flags)`) and the other in its script.
    fn script_load_change(&self, other: &LoadFingerprint) -> Option<String> {
        let short = |h: &Option<String>| match h {
            Some(h) => h.get(..8).unwrap_or(h).to_string(),
            None => "(flags)".into(),
        };
        change(
            "script load",
            &short(&self.script_load_sha256),
            &short(&other.script_load_sha256),
        )
    }

    /// `scenario changed (sha256 1a2b3c4d → 5e6f7a8b)` when both runs know the scenario's
    /// content and it differs, with its new name when it was renamed too.
    pub(crate) fn content_change(&self, other: &LoadFingerprint) -> Option<String> {
        let (Some(a), Some(b)) = (&self.scenario_sha256, &other.scenario_sha256) else {
            return None;
        };
        let short = |h: &str| h.get(..8).unwrap_or(h).to_string();
        let renamed = match (&self.scenario, &other.scenario) {
            (Some(x), Some(y)) if x != y => format!("; renamed {x} → {y}"),
            _ => String::new(),
        };
        (a != b).then(|| {
            format!(
                "scenario changed (sha256 {} → {}{renamed})",
                short(a),
                short(b)
            )
        })
    }
}

/// `what a → b` when the two differ.
fn change<T: PartialEq + std::fmt::Display + ?Sized>(what: &str, a: &T, b: &T) -> Option<String> {
    (a != b).then(|| format!("{what} {a} → {b}"))
}

/// Seconds as the settings are written (`30s`, `1m30s`, `1.5s`).
fn time(s: f64) -> String {
    if s.fract() != 0.0 || !(0.0..=MAX_SECONDS).contains(&s) {
        return format!("{s}s");
    }
    let whole = s as u64;
    let (h, m, s) = (whole / 3600, (whole / 60) % 60, whole % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A string of at most `max` bytes without control characters (reports put it on one line).
fn bounded<'de, D: Deserializer<'de>>(d: D, max: usize, what: &str) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > max {
        return Err(serde::de::Error::custom(format!(
            "{what} longer than {max} bytes"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "{what} holds a control character"
        )));
    }
    Ok(s)
}

/// An engine's name: lowercase letters, digits, `-` and `_`.
fn engine_name<'de, D: Deserializer<'de>>(d: D) -> Result<Engine, D::Error> {
    let s = bounded(d, MAX_ENGINE, "load.engine")?;
    if !s
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
    {
        return Err(serde::de::Error::custom(
            "load.engine is not an engine name",
        ));
    }
    Ok(Engine::from(s))
}

/// An origin as [`origin`] writes it: a URL that is its own origin (no path, no credentials).
fn target_origin<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = bounded(d, MAX_TARGET, "load.target")?;
    match url::Url::parse(&s) {
        Ok(u) if origin(&u) == s => Ok(s),
        _ => Err(serde::de::Error::custom(
            "load.target is not an origin (scheme://host[:port])",
        )),
    }
}

fn compare_origin<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    target_origin(d).map(Some)
}

fn scenario_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    bounded(d, MAX_SCENARIO, "load.scenario").map(Some)
}

/// Exactly 64 lowercase hex digits, so a report can shorten it by bytes.
fn sha256<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = bounded(d, 64, "load.scenario_sha256")?;
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(serde::de::Error::custom(
            "load.scenario_sha256 is not 64 lowercase hex digits",
        ));
    }
    Ok(Some(s))
}

/// A duration in seconds within what the settings accept: up to a year.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let s = f64::deserialize(d)?;
    if !(0.0..=MAX_SECONDS).contains(&s) {
        return Err(serde::de::Error::custom(format!(
            "`{s}` seconds is outside 0..={MAX_SECONDS}"
        )));
    }
    Ok(s)
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let r = f64::deserialize(d)?;
    if !(0.0..=MAX_RATE).contains(&r) {
        return Err(serde::de::Error::custom(format!(
            "rate `{r}` is outside 0..={MAX_RATE}"
        )));
    }
    Ok(r)
}

fn some_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    rate(d).map(Some)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A closed-model native run of 50 users for a minute against `http://a:8080`.
    pub(crate) fn fingerprint() -> LoadFingerprint {
        LoadFingerprint {
            engine: "native".into(),
            model: LoadModel::Closed,
            users: 50,
            rate: None,
            spawn_rate: 10.0,
            run_time_s: 60.0,
            warmup_s: 0.0,
            ramp_s: 0.0,
            target: "http://a:8080".into(),
            scenario: Some("shop".into()),
            scenario_sha256: Some(sha256_hex(b"tasks: []")),
            script_load_sha256: None,
            target_vars: BTreeMap::new(),
            target_id: None,
            engine_version: None,
            compare_target: None,
            protocol: None,
            streams_per_user: 1,
        }
    }

    /// A run of [`fingerprint`] against `target`, in a pipeline whose per-pipeline variables
    /// are `vars`.
    fn on_review_app(target: &str, vars: &[(&str, &str)]) -> LoadFingerprint {
        let vars: Vec<(&str, String)> = vars.iter().map(|(n, v)| (*n, v.to_string())).collect();
        LoadFingerprint {
            target: target.into(),
            target_vars: target::ci_values_in_host(target, &vars),
            ..fingerprint()
        }
    }

    #[test]
    fn review_apps_per_branch_are_one_target_and_other_hosts_are_not() {
        let slug = |s| [("CI_COMMIT_REF_SLUG", s)];
        let main = on_review_app("https://review-main.example.com", &slug("main"));
        let mr = on_review_app("https://review-feature-x.example.com", &slug("feature-x"));
        assert_eq!(
            mr.target_vars,
            BTreeMap::from([("CI_COMMIT_REF_SLUG".into(), "feature-x".into())])
        );
        assert!(
            main.differences(&mr).is_empty(),
            "{:?}",
            main.differences(&mr)
        );
        // Another review domain, another port, or staging against a review app: different.
        for other in [
            on_review_app("https://review-feature-x.other.com", &slug("feature-x")),
            on_review_app(
                "https://review-feature-x.example.com:8443",
                &slug("feature-x"),
            ),
            on_review_app("https://staging.example.com", &slug("feature-x")),
        ] {
            assert_eq!(main.differences(&other).len(), 1, "{}", other.target);
        }
        // The slug may stand in the host twice: any one place taken out is enough.
        let example = on_review_app("https://review-example.example.com", &slug("example"));
        assert!(
            main.differences(&example).is_empty(),
            "{:?}",
            main.differences(&example)
        );
    }

    /// The defect on main: a review app named after the merge request (or the environment, the
    /// commit, the pipeline) was never the same target as another pipeline's.
    #[test]
    fn review_apps_named_by_any_per_pipeline_value_are_one_target() {
        for (name, a, b) in [
            ("CI_MERGE_REQUEST_IID", "42", "57"),
            ("CI_ENVIRONMENT_SLUG", "review-x-1a2b3c", "review-y-4d5e6f"),
            ("CI_COMMIT_SHORT_SHA", "1a2b3c4d", "5e6f7a8b"),
            ("CI_PIPELINE_ID", "1234567", "1234568"),
        ] {
            let base = on_review_app(&format!("https://app-{a}.example.com"), &[(name, a)]);
            let cur = on_review_app(&format!("https://app-{b}.example.com"), &[(name, b)]);
            let c = compare_loads(&meta(Some(base)), &meta(Some(cur)));
            assert_eq!(
                (c.matched, c.summary()),
                (LoadMatch::Same, String::new()),
                "{name}"
            );
        }
        // The staging host never matches a one-letter slug, and a run without the variable
        // names another target.
        let base = on_review_app(
            "https://staging.example.com",
            &[("CI_COMMIT_REF_SLUG", "a")],
        );
        let cur = on_review_app(
            "https://stagingb.example.com",
            &[("CI_COMMIT_REF_SLUG", "b")],
        );
        assert_eq!(base.differences(&cur).len(), 1);
        let base = on_review_app(
            "https://mr-42.example.com",
            &[("CI_MERGE_REQUEST_IID", "42")],
        );
        let cur = on_review_app("https://mr-57.example.com", &[]);
        assert_eq!(base.differences(&cur).len(), 1);
    }

    /// Two runs that name the same target id are one target whatever their addresses; two ids
    /// are two targets whatever their addresses; a run with an id against one without compares
    /// the origins, and says which side has the id.
    #[test]
    fn target_ids_when_both_runs_have_one_decide_alone() {
        let with = |target: &str, id: Option<&str>| LoadFingerprint {
            target: target.into(),
            target_id: id.map(str::to_string),
            protocol: None,
            ..fingerprint()
        };
        let shop = with("http://127.0.0.1:40001", Some("shop"));
        assert!(shop
            .differences(&with("http://127.0.0.1:40002", Some("shop")))
            .is_empty());
        assert_eq!(
            shop.differences(&with("http://127.0.0.1:40001", Some("cart"))),
            ["target id shop → cart"]
        );
        assert!(shop
            .differences(&with("http://127.0.0.1:40001", None))
            .is_empty());
        assert_eq!(
            shop.differences(&with("http://127.0.0.1:40002", None)),
            ["target http://127.0.0.1:40001 → http://127.0.0.1:40002 (target id shop on the baseline only)"]
        );
        assert_eq!(
            with("http://a:1", None).differences(&with("http://b:1", Some("shop"))),
            ["target http://a:1 → http://b:1 (target id shop on this run only)"]
        );
    }

    /// The scenario's `name:` (or its file's name) is a label: with the content's hash known on
    /// both sides, a rename alone is the same load, and a rename with an edit is a changed
    /// scenario, never another load. Without a hash the name is the scenario's identity.
    #[test]
    fn a_renamed_scenario_is_not_another_load() {
        let renamed = LoadFingerprint {
            scenario: Some("checkout".into()),
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(renamed.clone())));
        assert_eq!(
            (c.matched, c.differences.len()),
            (LoadMatch::Same, 0),
            "{c:?}"
        );
        let edited = LoadFingerprint {
            scenario_sha256: Some(sha256_hex(b"name: checkout\ntasks: []")),
            ..renamed
        };
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(edited)));
        assert_eq!(c.matched, LoadMatch::ScenarioChanged, "{c:?}");
        assert!(
            c.summary().starts_with("scenario changed (sha256 ")
                && c.summary().ends_with("; renamed shop → checkout)"),
            "{}",
            c.summary()
        );
        // Two LoadForge cloud tests: no content hash, so the name is the test.
        let cloud = |id: &str| LoadFingerprint {
            engine: "loadforge".into(),
            scenario: Some(format!("LoadForge test {id}")),
            scenario_sha256: None,
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(cloud("1"))), &meta(Some(cloud("2"))));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(c.summary(), "scenario LoadForge test 1 → LoadForge test 2");
    }

    /// Every difference of load is named in plain words, baseline first, in one line.
    #[test]
    fn the_summary_names_every_difference() {
        let base = LoadFingerprint {
            users: 10,
            run_time_s: 4.0,
            ..fingerprint()
        };
        let cur = LoadFingerprint {
            engine: "locust".into(),
            scenario: Some("other".into()),
            scenario_sha256: None,
            target: "http://b:8080".into(),
            model: LoadModel::Open,
            users: 11,
            rate: Some(5.0),
            spawn_rate: 2.0,
            run_time_s: 5.0,
            warmup_s: 1.0,
            ramp_s: 90.0,
            script_load_sha256: Some(sha256_hex(b"{}")),
            target_vars: BTreeMap::new(),
            target_id: None,
            engine_version: None,
            compare_target: None,
            protocol: None,
            streams_per_user: 1,
        };
        let c = compare_loads(&meta(Some(base)), &meta(Some(cur)));
        assert_eq!(
            c.summary(),
            "engine native → locust; scenario shop → other; target http://a:8080 → http://b:8080; \
             model closed → open; users 10 → 11; rate (none) → 5/s; spawn rate 10/s → 2/s; \
             run time 4s → 5s; warm-up 0s → 1s; ramp 0s → 1m30s; script load (flags) → 44136fa3"
        );
    }

    /// A file of the previous release names the slug `target_ref_slug`: it reads as the
    /// `CI_COMMIT_REF_SLUG` of the new map and compares with a run of this one.
    #[test]
    fn the_previous_releases_ref_slug_still_reads_and_compares() {
        let mut old = serde_json::to_value(fingerprint()).unwrap();
        old["target"] = "https://review-main.example.com".into();
        old["target_ref_slug"] = "main".into();
        let old: LoadFingerprint = serde_json::from_value(old).unwrap();
        assert_eq!(
            old.target_vars,
            BTreeMap::from([("CI_COMMIT_REF_SLUG".into(), "main".into())])
        );
        let mr = on_review_app(
            "https://review-feature-x.example.com",
            &[
                ("CI_COMMIT_REF_SLUG", "feature-x"),
                ("CI_MERGE_REQUEST_IID", "7"),
            ],
        );
        assert!(
            old.differences(&mr).is_empty(),
            "{:?}",
            old.differences(&mr)
        );
        // Written back, it is the new map, and reads the same.
        let json = serde_json::to_value(&old).unwrap();
        assert!(json.get("target_ref_slug").is_none(), "{json}");
        assert_eq!(json["target_vars"]["CI_COMMIT_REF_SLUG"], "main");
        assert_eq!(
            serde_json::from_value::<LoadFingerprint>(json).unwrap(),
            old
        );
        // A one-letter slug the old version recorded still reads; it is no longer taken out.
        let mut short = serde_json::to_value(fingerprint()).unwrap();
        short["target_ref_slug"] = "a".into();
        assert!(serde_json::from_value::<LoadFingerprint>(short).is_ok());
    }

    fn meta(load: Option<LoadFingerprint>) -> RunMeta {
        RunMeta {
            load,
            ..RunMeta::new(
                Engine::Native,
                "http://a:8080/".into(),
                1,
                1.0,
                "t".into(),
                1.0,
            )
        }
    }

    #[test]
    fn origins_are_normalised_and_never_carry_credentials_or_paths() {
        for (url, want) in [
            (
                "HTTP://Shop.Example.COM:80/api?x=1",
                "http://shop.example.com",
            ),
            (
                "https://u:p@shop.example.com:443/",
                "https://shop.example.com",
            ),
            (
                "https://shop.example.com:8443/x",
                "https://shop.example.com:8443",
            ),
            ("http://[::1]:9090", "http://[::1]:9090"),
        ] {
            assert_eq!(origin(&url::Url::parse(url).unwrap()), want, "{url}");
        }
    }

    #[test]
    fn each_difference_of_load_is_listed_baseline_first() {
        let base = fingerprint();
        let cur = LoadFingerprint {
            users: 5,
            target: "http://a:9090".into(),
            engine: "locust".into(),
            run_time_s: 30.0,
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(base)), &meta(Some(cur)));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(
            c.differences,
            [
                "engine native → locust",
                "target http://a:8080 → http://a:9090",
                "users 50 → 5",
                "run time 1m → 30s",
            ]
        );
    }

    #[test]
    fn a_changed_scenario_alone_keeps_the_runs_comparable() {
        let cur = LoadFingerprint {
            scenario_sha256: Some(sha256_hex(b"tasks: [x]")),
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(cur.clone())));
        assert_eq!(c.matched, LoadMatch::ScenarioChanged);
        assert_eq!(c.differences.len(), 1);
        assert!(
            c.differences[0].starts_with("scenario changed (sha256 "),
            "{c:?}"
        );
        // With another load too, the change is listed beside it.
        let other = LoadFingerprint { users: 1, ..cur };
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(other)));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(c.differences.len(), 2, "{c:?}");
        let same = compare_loads(&meta(Some(fingerprint())), &meta(Some(fingerprint())));
        assert_eq!((same.matched, same.differences.len()), (LoadMatch::Same, 0));
    }

    /// An HTTP/2 run is another load than an HTTP/1.1 baseline, and the other way round; a
    /// file without a protocol (every file before HTTP/2) is HTTP/1.1, so it stays comparable
    /// with an HTTP/1.1 run, whose fingerprint leaves the protocol out as before.
    #[test]
    fn an_http2_run_is_another_load_than_an_http1_one_and_absence_is_http1() {
        let h2 = LoadFingerprint {
            protocol: Protocol::in_fingerprint(&Engine::Native, Some(Protocol::H2)),
            ..fingerprint()
        };
        let h1 = LoadFingerprint {
            protocol: Protocol::in_fingerprint(&Engine::Native, Some(Protocol::Http1)),
            ..fingerprint()
        };
        assert_eq!(
            h1,
            fingerprint(),
            "HTTP/1.1 is written as before: no protocol"
        );
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(h2.clone())));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(c.differences, ["protocol HTTP/1.1 → HTTP/2"]);
        let back = compare_loads(&meta(Some(h2.clone())), &meta(Some(h1)));
        assert_eq!(back.differences, ["protocol HTTP/2 → HTTP/1.1"]);
        let same = compare_loads(&meta(Some(h2.clone())), &meta(Some(h2.clone())));
        assert_eq!(same.matched, LoadMatch::Same);
        let text = serde_json::to_value(&h2).unwrap();
        assert_eq!(text["protocol"], "h2");
        assert!(serde_json::to_value(fingerprint())
            .unwrap()
            .get("protocol")
            .is_none());
        let read: LoadFingerprint = serde_json::from_value(text).unwrap();
        assert_eq!(read, h2);
    }

    /// k6 (and any engine but the native one) writes the protocol it knows, HTTP/1.1 too: an
    /// HTTP/1.1 run and an HTTP/2 run are other loads in either order, with the native
    /// engine's words, and a run whose protocol is unknown (a file of an older gate, no
    /// response) differs from every known one, so no change hides behind it. Locust and
    /// LoadForge cannot tell: two of their runs, both unknown, stay comparable.
    #[test]
    fn other_engines_write_http1_and_an_unknown_protocol_is_no_known_one() {
        let run = |engine: &str, p: Option<Protocol>| LoadFingerprint {
            engine: engine.into(),
            protocol: Protocol::in_fingerprint(&Engine::from(engine), p),
            ..fingerprint()
        };
        let k6 = |p| run("k6", p);
        let (h1, h2) = (k6(Some(Protocol::Http1)), k6(Some(Protocol::H2)));
        assert_eq!(serde_json::to_value(&h1).unwrap()["protocol"], "http/1.1");
        let differences = |a: &LoadFingerprint, b: &LoadFingerprint| {
            let c = compare_loads(&meta(Some(a.clone())), &meta(Some(b.clone())));
            let different = c.matched == LoadMatch::Different;
            assert_eq!(different, !c.differences.is_empty(), "{c:?}");
            c.differences
        };
        assert_eq!(differences(&h1, &h2), ["protocol HTTP/1.1 → HTTP/2"]);
        assert_eq!(differences(&h2, &h1), ["protocol HTTP/2 → HTTP/1.1"]);
        assert!(differences(&h2, &h2).is_empty());
        assert!(differences(&h1, &h1).is_empty());
        assert_eq!(
            differences(&k6(None), &h1),
            ["protocol (unknown) → HTTP/1.1"]
        );
        assert_eq!(differences(&h2, &k6(None)), ["protocol HTTP/2 → (unknown)"]);
        assert!(differences(&k6(None), &k6(None)).is_empty());
        for engine in ["locust", "loadforge"] {
            assert!(differences(&run(engine, None), &run(engine, None)).is_empty());
        }
        // The native engine's absence is HTTP/1.1, as in every file it wrote.
        assert!(differences(&fingerprint(), &run("native", Some(Protocol::Http1))).is_empty());
    }

    #[test]
    fn without_a_fingerprint_only_the_engine_is_compared() {
        let c = compare_loads(&meta(None), &meta(Some(fingerprint())));
        assert_eq!((c.matched, c.differences.len()), (LoadMatch::Unknown, 0));
        let mut locust = meta(None);
        locust.engine = "locust".into();
        let c = compare_loads(&locust, &meta(Some(fingerprint())));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(c.differences, ["engine locust → native"]);
    }

    fn too_many_vars() -> serde_json::Value {
        (0..=target::MAX_VARIABLES)
            .map(|i| (format!("CI_V{i}"), serde_json::json!("ab")))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// A baseline is someone else's file: long strings, a bad hash, negative or endless times,
    /// absurd rates and variables no pipeline sets are refused, never carried into a report.
    #[test]
    fn a_hostile_fingerprint_is_refused() {
        let good = serde_json::to_value(fingerprint()).unwrap();
        let back: LoadFingerprint = serde_json::from_value(good.clone()).unwrap();
        assert_eq!(back, fingerprint());
        for (field, value) in [
            ("engine", serde_json::json!("x".repeat(MAX_ENGINE + 1))),
            ("target", serde_json::json!("h".repeat(MAX_TARGET + 1))),
            ("scenario", serde_json::json!("s".repeat(MAX_SCENARIO + 1))),
            ("scenario_sha256", serde_json::json!("ABCDEF")),
            ("scenario_sha256", serde_json::json!("é".repeat(32))),
            ("run_time_s", serde_json::json!(-1.0)),
            ("warmup_s", serde_json::json!(1e300)),
            ("spawn_rate", serde_json::json!(-3)),
            ("rate", serde_json::json!(1e12)),
            ("users", serde_json::json!(-1)),
            ("engine", serde_json::json!(5)),
            ("engine", serde_json::json!("Native <b>")),
            ("target", serde_json::json!("http://a:8080/path")),
            ("target", serde_json::json!("http://user:pw@a:8080")),
            ("target", serde_json::json!("not a url")),
            ("scenario", serde_json::json!("shop\n/close")),
            (
                "target_id",
                serde_json::json!("x".repeat(MAX_TARGET_ID + 1)),
            ),
            ("target_id", serde_json::json!("shop\u{1b}[31m")),
            ("target_id", serde_json::json!("  ")),
            ("target_vars", serde_json::json!({"ci_lower": "a"})),
            ("target_vars", serde_json::json!({"CI_X": "Upper"})),
            ("target_vars", serde_json::json!({"CI_X": ""})),
            ("target_vars", serde_json::json!({"CI_X": "a/b"})),
            ("target_vars", serde_json::json!({"CI_X": "a".repeat(254)})),
            ("target_vars", serde_json::json!({"CI_X": 42})),
            ("target_vars", serde_json::json!(["CI_X"])),
            ("target_vars", too_many_vars()),
            ("target_ref_slug", serde_json::json!("Not A Slug")),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let err = serde_json::from_value::<LoadFingerprint>(bad);
            assert!(err.is_err(), "{field} accepted");
        }
    }

    /// Another k6 version is another load generator: not comparable, and neither is a run
    /// that knows its version against one that does not. The native engine records none.
    #[test]
    fn another_engine_version_is_another_load() {
        let k6 = |v: Option<&str>| LoadFingerprint {
            engine: "k6".into(),
            engine_version: v.map(String::from),
            ..fingerprint()
        };
        assert!(k6(Some("v1.1.0"))
            .differences(&k6(Some("v1.1.0")))
            .is_empty());
        assert_eq!(
            k6(Some("v1.0.0")).differences(&k6(Some("v1.1.0"))),
            ["k6 version v1.0.0 → v1.1.0"]
        );
        assert_eq!(
            k6(None).differences(&k6(Some("v1.1.0"))),
            ["k6 version (unknown) → v1.1.0"]
        );
        let meta = |l: LoadFingerprint| RunMeta {
            load: Some(l),
            ..crate::stats::fixture(vec![], 1.0).run
        };
        assert_eq!(
            compare_loads(&meta(k6(Some("v1.0.0"))), &meta(k6(Some("v1.1.0")))).matched,
            LoadMatch::Different
        );
        assert!(fingerprint().differences(&fingerprint()).is_empty());
        // Read back from someone else's file: a version, or the file is refused.
        let json = |v: &str| {
            let mut j = serde_json::to_value(k6(None)).unwrap();
            j["engine_version"] = serde_json::Value::String(v.into());
            serde_json::from_value::<LoadFingerprint>(j)
        };
        assert_eq!(
            json("v1.1.0").unwrap().engine_version.as_deref(),
            Some("v1.1.0")
        );
        for bad in ["", "v1 (commit)", "v1\n", &"9".repeat(65), "-v1"] {
            assert!(json(bad).is_err(), "{bad:?}");
        }
    }

    /// Ten streams per user keep ten times the requests in flight: another load than one, both
    /// ways, named in the difference. A file without the field (every file before the setting,
    /// every other engine's) reads as one stream and stays comparable with a one-stream run,
    /// whose fingerprint leaves it out as before.
    #[test]
    fn another_count_of_streams_per_user_is_another_load_and_absence_is_one() {
        let streams = |n| LoadFingerprint {
            streams_per_user: n,
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(streams(1))), &meta(Some(streams(10))));
        assert_eq!(c.matched, LoadMatch::Different);
        assert_eq!(c.differences, ["streams per user 1 → 10"]);
        let back = compare_loads(&meta(Some(streams(10))), &meta(Some(streams(1))));
        assert_eq!(back.differences, ["streams per user 10 → 1"]);
        let same = compare_loads(&meta(Some(streams(10))), &meta(Some(streams(10))));
        assert_eq!(same.matched, LoadMatch::Same);
        // Written above one only; read back as written.
        let ten = serde_json::to_value(streams(10)).unwrap();
        assert_eq!(ten["streams_per_user"], 10);
        assert_eq!(
            serde_json::from_value::<LoadFingerprint>(ten).unwrap(),
            streams(10)
        );
        let one = serde_json::to_value(streams(1)).unwrap();
        assert!(one.get("streams_per_user").is_none(), "{one}");
        // An old file, without the field: one stream, the same load as a one-stream run.
        let old: LoadFingerprint = serde_json::from_value(one).unwrap();
        assert_eq!(old.streams_per_user, 1);
        let c = compare_loads(&meta(Some(old.clone())), &meta(Some(streams(1))));
        assert_eq!(c.matched, LoadMatch::Same, "{:?}", c.differences);
        let c = compare_loads(&meta(Some(old)), &meta(Some(streams(10))));
        assert_eq!(c.differences, ["streams per user 1 → 10"]);
    }

    /// Someone else's file: a count no scenario accepts (zero, negative, past 256, a fraction,
    /// text, a map) is refused with the field named, and the file's text is never echoed.
    #[test]
    fn a_hostile_streams_per_user_is_refused_naming_the_field() {
        let good = serde_json::to_value(fingerprint()).unwrap();
        let text = "x\n\u{1b}[31m".repeat(100);
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(257),
            serde_json::json!(1_000_000_000_000u64),
            serde_json::json!(1e12),
            serde_json::json!(2.5),
            serde_json::json!(text),
            serde_json::json!("10"),
            serde_json::json!({"a": 1}),
            serde_json::json!(null),
        ] {
            let mut doc = good.clone();
            doc["streams_per_user"] = bad.clone();
            let err = serde_json::from_value::<LoadFingerprint>(doc)
                .expect_err(&bad.to_string())
                .to_string();
            assert!(err.contains("load.streams_per_user"), "{bad}: {err}");
            assert!(!err.contains("[31m"), "{bad}: the text is echoed: {err}");
        }
        let mut doc = good;
        doc["streams_per_user"] = MAX_STREAMS_PER_USER.into();
        let most = serde_json::from_value::<LoadFingerprint>(doc).unwrap();
        assert_eq!(most.streams_per_user, MAX_STREAMS_PER_USER);
    }

    /// A paired run's change side had the load of an unpaired run, slice by slice: the base
    /// it was paired with is recorded, never a reason to refuse a baseline (absent = unpaired,
    /// as in every file from before).
    #[test]
    fn a_paired_run_stays_comparable_with_an_unpaired_one() {
        let paired = LoadFingerprint {
            compare_target: Some("http://base:8080".into()),
            ..fingerprint()
        };
        let c = compare_loads(&meta(Some(fingerprint())), &meta(Some(paired.clone())));
        assert_eq!(c.matched, LoadMatch::Same, "{:?}", c.differences);
        let json = serde_json::to_value(&paired).unwrap();
        assert_eq!(json["compare_target"], "http://base:8080");
        assert!(serde_json::to_value(fingerprint())
            .unwrap()
            .get("compare_target")
            .is_none());
        let mut bad = json;
        bad["compare_target"] = "http://base:8080/path?x=1".into();
        assert!(serde_json::from_value::<LoadFingerprint>(bad).is_err());
    }
}
