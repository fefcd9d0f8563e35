//! The load a run applied, as a fingerprint results.json carries (`run.load`), and whether two
//! runs' loads match. A regression verdict means something only between runs that put the same
//! load on the same server: a 5-user smoke judged against a 50-user main run, or a run against
//! another port, compares two different experiments.
//!
//! The fingerprint is what was asked for (the settings of the whole run, never a shard's share
//! or the measured window), so it is equal between two runs of the same job whatever their
//! timing, and it survives a `merge` unchanged.

use serde::{Deserialize, Deserializer, Serialize};

use super::{Engine, LoadModel, RunMeta};

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
/// scenario's content is equal (see [`LoadFingerprint::differences`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFingerprint {
    /// `native`, `locust` or `loadforge`.
    #[serde(deserialize_with = "engine_name")]
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
    pub rate: Option<f64>,
    /// Users started per second, all shards together.
    #[serde(deserialize_with = "rate")]
    pub spawn_rate: f64,
    /// The run time asked for (`--run-time`), in seconds: not the measured window.
    #[serde(deserialize_with = "seconds")]
    pub run_time_s: f64,
    /// Seconds at the start left out of the statistics.
    #[serde(default, deserialize_with = "seconds")]
    pub warmup_s: f64,
    /// Open model: seconds over which the rate rose from zero.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "seconds")]
    pub ramp_s: f64,
    /// The target's origin, `scheme://host[:port]` (see [`origin`]): no path, no credentials.
    #[serde(deserialize_with = "target_origin")]
    pub target: String,
    /// The scenario's or locustfile's name, or the cloud test.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scenario_name"
    )]
    pub scenario: Option<String>,
    /// SHA-256 (hex) of the scenario file or locustfile, when the gate could read it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "sha256"
    )]
    pub scenario_sha256: Option<String>,
    /// The pipeline's `CI_COMMIT_REF_SLUG`, when it is a part of the target's host (a review
    /// app per branch, `review-$CI_COMMIT_REF_SLUG.example.com`): the same target for every
    /// branch, so a merge request's review app is compared with the default branch's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "ref_slug"
    )]
    pub target_ref_slug: Option<String>,
}

/// The longest `CI_COMMIT_REF_SLUG` GitLab writes.
const MAX_REF_SLUG: usize = 63;

/// `slug` when it stands in `origin`'s host as a whole part: between the start or a `.` or
/// `-` and the end, a `.`, a `-` or the port. `None` otherwise, so that a short slug that
/// happens to be inside a word (`a` in `staging`) never counts.
pub(crate) fn ref_slug_in_host(origin: &str, slug: &str) -> Option<String> {
    let valid = !slug.is_empty()
        && slug.len() <= MAX_REF_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (valid && !host_parts_without(origin, slug, None).eq(origin)).then(|| slug.to_string())
}

/// `origin` with the whole-part occurrences of `slug` in its host written as `\0`: every one,
/// or (`only: Some(n)`) the `n`th alone.
fn host_parts_without(origin: &str, slug: &str, only: Option<usize>) -> String {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return origin.to_string();
    };
    if slug.is_empty() {
        return origin.to_string();
    }
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest.starts_with('[') => rest.split_at(i),
        _ => (rest, ""),
    };
    let bounded = |b: Option<u8>| b.is_none_or(|b| b == b'.' || b == b'-');
    let mut out = String::new();
    let mut at = 0;
    let mut place = 0;
    while let Some(i) = host.get(at..).and_then(|h| h.find(slug)).map(|i| i + at) {
        let before = i
            .checked_sub(1)
            .and_then(|j| host.as_bytes().get(j).copied());
        let after = host.as_bytes().get(i + slug.len()).copied();
        out.push_str(host.get(at..i).unwrap_or_default());
        let whole = bounded(before) && bounded(after);
        if whole && only.is_none_or(|n| n == place) {
            out.push('\0');
        } else {
            out.push_str(slug);
        }
        place += usize::from(whole);
        at = i + slug.len();
    }
    out.push_str(host.get(at..).unwrap_or_default());
    format!("{scheme}://{out}{port}")
}

/// Whether two fingerprints name the same target: the same origin, or per-branch review
/// hosts that are the same once each run's own ref slug is taken out (at every place it
/// stands as a whole part, or at any one of them: `review-example.example.com` of branch
/// `example` is `review-main.example.com` of `main`).
fn same_target(a: &LoadFingerprint, b: &LoadFingerprint) -> bool {
    if a.target == b.target {
        return true;
    }
    let (Some(sa), Some(sb)) = (&a.target_ref_slug, &b.target_ref_slug) else {
        return false;
    };
    let forms_a = slug_forms(&a.target, sa);
    slug_forms(&b.target, sb)
        .iter()
        .any(|f| forms_a.contains(f))
}

/// `origin` with its ref slug taken out: everywhere at once, and at each single place.
fn slug_forms(origin: &str, slug: &str) -> Vec<String> {
    let mut forms = vec![host_parts_without(origin, slug, None)];
    for n in 0..MAX_SLUG_PLACES {
        let one = host_parts_without(origin, slug, Some(n));
        if one == origin {
            break;
        }
        forms.push(one);
    }
    forms
}

/// The most places of one slug in a host that are tried one at a time.
const MAX_SLUG_PLACES: usize = 8;
fn ref_slug<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = bounded(d, MAX_REF_SLUG, "load.target_ref_slug")?;
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(serde::de::Error::custom(
            "load.target_ref_slug is not a ref slug",
        ));
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Every difference of load between `self` (the baseline) and `other` (this run), the
    /// scenario's content aside: `users 50 → 5`, `target http://a:8080 → http://a:9090`.
    pub(crate) fn differences(&self, other: &LoadFingerprint) -> Vec<String> {
        let name = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
        let model = |m: LoadModel| match m {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        };
        let per_second = |r: Option<f64>| r.map_or_else(|| "(none)".into(), |r| format!("{r}/s"));
        [
            change("engine", &self.engine, &other.engine),
            change("scenario", &name(&self.scenario), &name(&other.scenario)),
            (!same_target(self, other))
                .then(|| format!("target {} → {}", self.target, other.target)),
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
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `scenario changed (sha256 1a2b3c4d → 5e6f7a8b)` when both runs know the scenario's
    /// content and it differs.
    pub(crate) fn content_change(&self, other: &LoadFingerprint) -> Option<String> {
        let (Some(a), Some(b)) = (&self.scenario_sha256, &other.scenario_sha256) else {
            return None;
        };
        let short = |h: &str| h.get(..8).unwrap_or(h).to_string();
        (a != b).then(|| format!("scenario changed (sha256 {} → {})", short(a), short(b)))
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
            target_ref_slug: None,
        }
    }

    /// A run of [`fingerprint`] against `target`, in a pipeline of the ref slugged `slug`.
    fn on_review_app(target: &str, slug: &str) -> LoadFingerprint {
        LoadFingerprint {
            target: target.into(),
            target_ref_slug: ref_slug_in_host(target, slug),
            ..fingerprint()
        }
    }

    #[test]
    fn review_apps_per_branch_are_one_target_and_other_hosts_are_not() {
        let main = on_review_app("https://review-main.example.com", "main");
        let mr = on_review_app("https://review-feature-x.example.com", "feature-x");
        assert_eq!(mr.target_ref_slug.as_deref(), Some("feature-x"));
        assert!(
            main.differences(&mr).is_empty(),
            "{:?}",
            main.differences(&mr)
        );
        // Another review domain, another port, or staging against a review app: different.
        for other in [
            on_review_app("https://review-feature-x.other.com", "feature-x"),
            on_review_app("https://review-feature-x.example.com:8443", "feature-x"),
            on_review_app("https://staging.example.com", "feature-x"),
        ] {
            assert_eq!(main.differences(&other).len(), 1, "{}", other.target);
        }
        // A slug inside a word is not the ref's part of the host.
        assert_eq!(ref_slug_in_host("https://staging.example.com", "a"), None);
        assert_eq!(
            ref_slug_in_host("https://staging.example.com", "staging"),
            Some("staging".into())
        );
        assert_eq!(ref_slug_in_host("https://x.example.com", "BAD SLUG"), None);
        // The slug may stand in the host twice: any one place taken out is enough.
        let example = on_review_app("https://review-example.example.com", "example");
        assert!(
            main.differences(&example).is_empty(),
            "{:?}",
            main.differences(&example)
        );
        assert_eq!(host_parts_without("https://a.b", "", None), "https://a.b");
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

    /// A baseline is someone else's file: long strings, a bad hash, negative or endless times
    /// and absurd rates are refused, never carried into a report.
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
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let err = serde_json::from_value::<LoadFingerprint>(bad);
            assert!(err.is_err(), "{field} accepted");
        }
    }
}
