//! The cardinality guard. A locustfile that requests `f"/orders/{id}"` without `name=`, or a
//! scenario whose names carry ids, makes one endpoint per id: thousands of rows that drown the
//! reports, grow every later results.json and cost memory. Past `--max-endpoints` names, the
//! least busy are counted together under one `(other endpoints)` row (counts and histograms add
//! exactly), and the run says how many were folded, which path prefixes they share, and how to
//! name them instead.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EndpointStats, RunResult};

/// The row the folded endpoints are counted under.
pub const OTHER_ENDPOINTS: &str = "(other endpoints)";

/// Path prefixes named in the warning, the most frequent first.
const PREFIXES_SHOWN: usize = 3;

/// What the guard folded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Folded {
    /// The cap (`--max-endpoints`).
    #[schemars(range(min = 1))]
    pub cap: usize,
    /// Distinct names counted under `(other endpoints)`.
    #[schemars(range(min = 1))]
    pub names: usize,
    /// The most frequent path prefixes among them (`GET /orders/`), with how many names each.
    pub prefixes: Vec<(String, usize)>,
    /// The folded names themselves, so a rule that names one is "not measured (folded)" rather
    /// than an unknown endpoint; not written to results.json (there may be thousands).
    #[serde(skip)]
    pub folded_names: HashSet<String>,
}

impl Folded {
    /// The one warning line: the cap, how many names, the prefixes, the fix.
    pub(crate) fn warning(&self) -> String {
        let prefixes: Vec<String> = self
            .prefixes
            .iter()
            .map(|(p, n)| format!("`{p}` ({n})"))
            .collect();
        let (names, were) = match self.names {
            1 => ("endpoint name", "was"),
            _ => ("endpoint names", "were"),
        };
        format!(
            "{} {names} past --max-endpoints {} {were} counted as `{OTHER_ENDPOINTS}` (most common prefixes: {}); give such requests one name (`name:` in a scenario, `name=` in Locust) or raise --max-endpoints",
            self.names,
            self.cap,
            prefixes.join(", ")
        )
    }
}

impl Folded {
    /// This fold and a later one (`then`, past its cap) together: every name either folded.
    fn joined(&self, then: Folded) -> Folded {
        let mut names: HashSet<String> = then.folded_names;
        names.extend(self.folded_names.iter().cloned());
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        Folded::of_names(then.cap, names)
    }

    /// What folding `names` past `cap` amounts to.
    /// Names are counted once each: Locust's `/x` and `GET /x` are both `GET /x` here, and a
    /// count above the set's size means names that are not known (see `gate::evaluate`).
    pub(crate) fn of_names(cap: usize, names: Vec<String>) -> Folded {
        let folded_names: HashSet<String> = names.into_iter().collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for n in &folded_names {
            *counts.entry(prefix(n)).or_default() += 1;
        }
        Folded {
            cap,
            names: folded_names.len(),
            prefixes: most_common(counts),
            folded_names,
        }
    }
}

/// What the cardinality guard is applied to.
#[derive(Debug)]
pub(crate) enum Guarded<'a> {
    /// Endpoint names declared before the run and already cut at the cap, in the order they
    /// were declared (a scenario's, so memory stays bounded while it runs): the names cut.
    Declared(Vec<String>),
    /// A finished result (merged shards, a shard, any engine that did not fold): past the cap,
    /// the least busy names share one row, and what was folded before stays folded.
    Measured(&'a mut RunResult),
}

/// The cardinality guard, the one policy of every place that folds: what was folded past
/// `cap`, when anything was, for the caller to record in `run.folded` and to say once in the
/// log and in every report ([`Folded::warning`]). A measured result's rows are folded here;
/// its `run.folded` is left to the caller, who reads the answer before keeping it.
pub(crate) fn guard(cap: usize, what: Guarded<'_>) -> Option<Folded> {
    match what {
        Guarded::Declared(names) if names.is_empty() => None,
        Guarded::Declared(names) => Some(Folded::of_names(cap, names)),
        Guarded::Measured(result) => cap_endpoints(result, cap),
    }
}

/// Keeps the `cap` busiest named endpoints of `result` and folds the rest (with any
/// `(other endpoints)` row already there, from a shard or the scenario) into one row. What was
/// folded before (by the shards, the scenario or Locust's parser) stays folded: the answer
/// lists those names too.
fn cap_endpoints(result: &mut RunResult, cap: usize) -> Option<Folded> {
    let folded = cap_rows(&mut result.endpoints, cap, result.run.duration_s)?;
    Some(match &result.run.folded {
        Some(before) => before.joined(folded),
        None => folded,
    })
}

/// [`cap_endpoints`] on rows alone, for an engine that folds while it parses. Rows that share
/// a name are merged first ([`super::merge_same_names`]): the cap counts names, and a name is
/// kept or folded whole.
pub(crate) fn cap_rows(
    rows: &mut Vec<EndpointStats>,
    cap: usize,
    duration_s: f64,
) -> Option<Folded> {
    super::merge_same_names(rows, duration_s);
    let Split {
        mut kept,
        folded,
        mut others,
    } = split_busiest(rows, cap, |e| (e.name.as_str(), e.requests))?;
    let folded_names = folded.iter().map(|e| e.name.clone()).collect();
    others.extend(folded);
    kept.push(other_row(&others, duration_s));
    *rows = kept;
    Some(Folded::of_names(cap, folded_names))
}

/// Moves every row named in `names` into the `(other endpoints)` row (joining one already
/// there, which then comes last): how `merge` folds, in every shard's part, a name that any
/// shard folded. Rows stay as they are when none is named.
pub(crate) fn fold_named(rows: &mut Vec<EndpointStats>, names: &HashSet<String>, duration_s: f64) {
    if !rows.iter().any(|e| names.contains(&e.name)) {
        return;
    }
    let (others, kept): (Vec<EndpointStats>, Vec<EndpointStats>) = std::mem::take(rows)
        .into_iter()
        .partition(|e| e.name == OTHER_ENDPOINTS || names.contains(&e.name));
    *rows = kept;
    rows.push(other_row(&others, duration_s));
}

/// The one `(other endpoints)` row of `parts`: counts, failures and histograms add exactly.
fn other_row(parts: &[EndpointStats], duration_s: f64) -> EndpointStats {
    let mut other = EndpointStats::aggregate(OTHER_ENDPOINTS, parts, duration_s);
    other.counts_reported = parts.iter().all(|e| e.counts_reported);
    other
}

/// Items cut at the cap by [`split_busiest`].
pub(crate) struct Split<T> {
    /// The `cap` busiest named items, the busiest first (equal counts by name).
    pub(crate) kept: Vec<T>,
    /// The other named items, in the same order: their names are what the guard folded.
    pub(crate) folded: Vec<T>,
    /// Items already named [`OTHER_ENDPOINTS`], which join the folded ones.
    pub(crate) others: Vec<T>,
}

/// Which items stay and which fold, by name and request count alone: `key` gives both, so a
/// parser can choose before it builds any histogram. `None`, with `items` untouched, when at
/// most `cap` are named.
pub(crate) fn split_busiest<T>(
    items: &mut Vec<T>,
    cap: usize,
    key: impl Fn(&T) -> (&str, u64),
) -> Option<Split<T>> {
    let is_other = |item: &T| key(item).0 == OTHER_ENDPOINTS;
    if items.iter().filter(|i| !is_other(i)).count() <= cap {
        return None;
    }
    let (others, mut kept): (Vec<T>, Vec<T>) =
        std::mem::take(items).into_iter().partition(is_other);
    // Stable, so names counted twice keep their order whichever side does the cutting.
    kept.sort_by(|a, b| {
        let ((a_name, a_requests), (b_name, b_requests)) = (key(a), key(b));
        b_requests.cmp(&a_requests).then_with(|| a_name.cmp(b_name))
    });
    let folded = kept.split_off(cap);
    Some(Split {
        kept,
        folded,
        others,
    })
}

/// The most folded names a shard file lists, and the most `merge` reads from one: enough for
/// a hundred times the default cap, little memory even when the file is hostile.
pub const MAX_LISTED_NAMES: usize = 100_000;

/// The names a shard folded, as its file lists them (`run.shard.folded_names`), so that
/// `merge` folds them in every shard's part and never judges a name on some shards' counts.
/// The file is another job's artifact: at most [`MAX_LISTED_NAMES`] are read, the rest is
/// skipped unread and the list marked cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedNames {
    /// The names, sorted as written.
    pub names: Vec<String>,
    /// The file listed more than [`MAX_LISTED_NAMES`]; not written.
    pub cut: bool,
}

impl FoldedNames {
    /// The list a shard writes for what it folded (sorted, at most [`MAX_LISTED_NAMES`]).
    pub(crate) fn of(folded: &Folded) -> FoldedNames {
        let mut names: Vec<String> = folded.folded_names.iter().cloned().collect();
        names.sort();
        let cut = names.len() > MAX_LISTED_NAMES;
        names.truncate(MAX_LISTED_NAMES);
        FoldedNames { names, cut }
    }

    /// Whether these are every name that `folded` counts: a shard that folded more than it
    /// lists (a cut list, or a file from a gate that wrote no list) cannot say which.
    pub(crate) fn lists_all(&self, folded: Option<&Folded>) -> bool {
        !self.cut && folded.is_none_or(|f| self.names.len() >= f.names)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl Serialize for FoldedNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(s)
    }
}

/// Written as the list of names alone; a reader takes at most [`MAX_LISTED_NAMES`] of them.
impl JsonSchema for FoldedNames {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FoldedNames".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_LISTED_NAMES,
        })
    }
}

impl<'de> Deserialize<'de> for FoldedNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(UpToTheCap)
    }
}

/// Reads a list of names up to [`MAX_LISTED_NAMES`] and skips the rest without keeping it.
struct UpToTheCap;

impl<'de> serde::de::Visitor<'de> for UpToTheCap {
    type Value = FoldedNames;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of endpoint names")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<FoldedNames, A::Error> {
        let mut out = FoldedNames::default();
        while out.names.len() < MAX_LISTED_NAMES {
            match seq.next_element::<String>()? {
                Some(name) => out.names.push(name),
                None => return Ok(out),
            }
        }
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            out.cut = true;
        }
        Ok(out)
    }
}

/// The most frequent prefixes, with how many names each.
fn most_common(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(PREFIXES_SHOWN);
    v
}

/// A name up to its first path segment that holds a digit (an id, the usual cause), else up to
/// its last `/` (`GET /users/3/cart` -> `GET /users/`).
fn prefix(name: &str) -> String {
    let mut out = String::new();
    for (i, segment) in name.split('/').enumerate() {
        if i > 0 && segment.bytes().any(|b| b.is_ascii_digit()) {
            return out;
        }
        out.push_str(segment);
        out.push('/');
    }
    match name.rsplit_once('/') {
        Some((before, _)) if !before.is_empty() => format!("{before}/"),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{fixture, LatencyHistogram};

    fn endpoint(name: &str, n: u64) -> EndpointStats {
        let mut h = LatencyHistogram::new();
        for i in 0..n {
            h.record_micros(1000 + i);
        }
        EndpointStats::from_counts(name.into(), None, h, n, Default::default(), 10.0)
    }

    #[test]
    fn the_busiest_stay_and_the_rest_add_up_in_one_row() {
        let mut eps = vec![endpoint("GET /health", 500)];
        eps.extend((0..50).map(|i| endpoint(&format!("GET /orders/{i}"), 2)));
        eps.extend((0..10).map(|i| endpoint(&format!("GET /users/{i}/cart"), 1)));
        let mut r = fixture(eps, 10.0);
        let folded = cap_endpoints(&mut r, 5).unwrap();
        assert_eq!(r.endpoints.len(), 6);
        assert_eq!(r.endpoints[0].name, "GET /health");
        let other = r.endpoint(OTHER_ENDPOINTS).unwrap();
        assert_eq!(other.requests, 46 * 2 + 10);
        assert_eq!(
            other.histogram.as_ref().map(|h| h.count()),
            Some(other.requests)
        );
        assert_eq!(folded.names, 56);
        assert_eq!(folded.prefixes[0], ("GET /orders/".to_string(), 46));
        assert!(folded.folded_names.contains("GET /users/3/cart"));
        assert_eq!(
            folded.warning(),
            "56 endpoint names past --max-endpoints 5 were counted as `(other endpoints)` (most common prefixes: `GET /orders/` (46), `GET /users/` (10)); give such requests one name (`name:` in a scenario, `name=` in Locust) or raise --max-endpoints"
        );
    }

    /// A shard file's list of folded names comes from another job: a list past the cap is read
    /// up to it and marked cut, the rest skipped unkept; a list that is not one is refused.
    #[test]
    fn a_folded_list_is_read_up_to_the_cap() {
        let long: Vec<String> = (0..MAX_LISTED_NAMES + 5)
            .map(|i| format!("GET /{i}"))
            .collect();
        let read: FoldedNames = serde_json::from_value(serde_json::json!(long)).unwrap();
        assert_eq!(read.names.len(), MAX_LISTED_NAMES);
        assert!(read.cut);
        assert!(!read.lists_all(None));
        let short: FoldedNames = serde_json::from_str(r#"["GET /a", "GET /b"]"#).unwrap();
        assert_eq!((short.names.len(), short.cut), (2, false));
        let folded = Folded::of_names(1, vec!["GET /a".into(), "GET /b".into(), "GET /c".into()]);
        assert!(!short.lists_all(Some(&folded)), "three folded, two listed");
        assert!(serde_json::from_str::<FoldedNames>(r#"{"a": 1}"#).is_err());
        assert!(serde_json::from_str::<FoldedNames>(r#"[1, 2]"#).is_err());
    }

    /// A later fold keeps the names folded before it.
    #[test]
    fn a_second_fold_keeps_the_first_ones_names() {
        let mut r = fixture(
            vec![
                endpoint("GET /a", 3),
                endpoint("GET /b", 2),
                endpoint("GET /c", 1),
            ],
            10.0,
        );
        r.run.folded = Some(Folded::of_names(2, vec!["GET /d".into()]));
        let folded = cap_endpoints(&mut r, 2).unwrap();
        assert_eq!(folded.names, 2);
        assert!(folded.folded_names.contains("GET /c") && folded.folded_names.contains("GET /d"));
    }

    #[test]
    fn one_folded_name_reads_as_one() {
        let folded = Folded::of_names(1, vec!["GET /orders/7".into()]);
        assert_eq!(
            folded.warning(),
            "1 endpoint name past --max-endpoints 1 was counted as `(other endpoints)` (most common prefixes: `GET /orders/` (1)); give such requests one name (`name:` in a scenario, `name=` in Locust) or raise --max-endpoints"
        );
    }

    /// One guard for both places that fold: names cut before the run are what it folded, as
    /// they are; a result past the cap is folded and answers with every name folded so far;
    /// under the cap, or with nothing cut, it folds nothing and says nothing.
    #[test]
    fn the_guard_answers_what_it_folded_before_and_after_the_run() {
        assert_eq!(guard(2, Guarded::Declared(Vec::new())), None);
        let declared = guard(
            2,
            Guarded::Declared(vec!["GET /b/1".into(), "GET /b/2".into()]),
        );
        assert_eq!(
            declared,
            Some(Folded::of_names(
                2,
                vec!["GET /b/1".into(), "GET /b/2".into()]
            ))
        );
        let mut r = fixture(
            vec![
                endpoint("GET /a", 3),
                endpoint("GET /b", 2),
                endpoint("GET /c", 1),
            ],
            10.0,
        );
        r.run.folded = declared;
        let measured = guard(2, Guarded::Measured(&mut r)).unwrap();
        assert_eq!((measured.cap, measured.names), (2, 3));
        assert!(measured.folded_names.contains("GET /c"));
        assert_eq!(r.endpoints.len(), 3, "two kept, one other row");
        assert_eq!(
            r.run.folded.as_ref().map(|f| f.names),
            Some(2),
            "the caller records the answer"
        );
        assert_eq!(guard(3, Guarded::Measured(&mut r)), None);
    }

    #[test]
    fn under_the_cap_nothing_changes() {
        let mut r = fixture(vec![endpoint("GET /a", 1), endpoint("GET /b", 1)], 10.0);
        let before = r.clone();
        assert!(cap_endpoints(&mut r, 2).is_none());
        assert_eq!(r, before);
    }
}
