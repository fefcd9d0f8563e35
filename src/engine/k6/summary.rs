//! k6's end-of-test summary (`--summary-export`) read into data: each threshold of the script
//! (`metrics.NAME.thresholds.EXPR`, `true` when k6 says it was crossed) and each `check()` in
//! every group (`root_group.checks`, `root_group.groups.NAME...`, passes and fails). The file
//! is k6's output, so hostile: read up to [`MAX_SUMMARY_BYTES`], straight into what is kept
//! (never a whole JSON tree), at most `stats::MAX_K6_THRESHOLDS` thresholds and
//! `stats::MAX_K6_CHECKS` checks (crossed and failed ones kept first, the rest counted), groups
//! to `stats::MAX_K6_GROUP_DEPTH` levels. What cannot be read is said, never taken as passed:
//! this module records what k6 said, the gate judges it.

use std::{fmt, fs::File, path::Path};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::{
    quote::quote,
    stats::{
        K6Check, K6Threshold, K6Verdicts, MAX_K6_CHECKS, MAX_K6_GROUP_DEPTH, MAX_K6_THRESHOLDS,
    },
};

/// The most summary bytes read.
pub(super) const MAX_SUMMARY_BYTES: usize = 16 << 20;

/// What k6 said: its summary at `path`, and whether it exited with 99 (thresholds failed).
pub(super) fn read(path: &Path, exit_thresholds_failed: bool) -> K6Verdicts {
    let mut verdicts = match bytes(path).and_then(|b| parse(&b)) {
        Ok(v) => v,
        Err(why) => K6Verdicts {
            unreadable: Some(why),
            ..K6Verdicts::default()
        },
    };
    verdicts.exit_thresholds_failed = exit_thresholds_failed;
    verdicts
}

fn bytes(path: &Path) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "k6 wrote no summary".to_string(),
        _ => format!("k6's summary cannot be read: {e}"),
    })?;
    match crate::capped::read_capped(file, MAX_SUMMARY_BYTES) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(format!(
            "k6's summary is over {} MiB",
            MAX_SUMMARY_BYTES >> 20
        )),
        Err(e) => Err(format!("k6's summary cannot be read: {e}")),
    }
}

/// The thresholds and checks of a summary's bytes, or why they cannot be read.
pub(super) fn parse(bytes: &[u8]) -> Result<K6Verdicts, String> {
    let mut acc = K6Verdicts::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Top(&mut acc)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("k6's summary is not k6's JSON: {}", quote(&e.to_string())))?;
    Ok(acc)
}

/// Keeps a threshold within the cap: past it, a crossed one takes the place of one that held.
fn keep_threshold(acc: &mut K6Verdicts, t: K6Threshold) {
    if acc.thresholds.len() >= MAX_K6_THRESHOLDS {
        acc.left_out = acc.left_out.saturating_add(1);
        match acc.thresholds.iter().position(|k| !k.crossed) {
            Some(i) if t.crossed => acc.thresholds.remove(i),
            _ => return,
        };
    }
    acc.thresholds.push(t);
}

/// Keeps a check within the cap: past it, a failed one takes the place of one that held.
fn keep_check(acc: &mut K6Verdicts, c: K6Check) {
    if acc.checks.len() >= MAX_K6_CHECKS {
        acc.left_out = acc.left_out.saturating_add(1);
        match acc.checks.iter().position(|k| k.fails == 0) {
            Some(i) if c.fails > 0 => acc.checks.remove(i),
            _ => return,
        };
    }
    acc.checks.push(c);
}

/// The summary's top object: `metrics` and `root_group` read, the rest skipped.
struct Top<'a>(&'a mut K6Verdicts);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("k6's summary object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metrics" => map.next_value_seed(Metrics(&mut *self.0))?,
                "root_group" => map.next_value_seed(Group {
                    acc: &mut *self.0,
                    path: String::new(),
                    depth: 0,
                })?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(())
    }
}

/// `metrics`: each metric's `thresholds`, the rest skipped.
struct Metrics<'a>(&'a mut K6Verdicts);

impl<'de> DeserializeSeed<'de> for Metrics<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Metrics<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of metrics")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(metric) = map.next_key::<String>()? {
            map.next_value_seed(Metric {
                acc: &mut *self.0,
                metric: quote(&metric),
            })?;
        }
        Ok(())
    }
}

/// One metric: its `thresholds`, expression to crossed.
struct Metric<'a> {
    acc: &'a mut K6Verdicts,
    metric: String,
}

impl<'de> DeserializeSeed<'de> for Metric<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Metric<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a metric object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key != "thresholds" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(Thresholds {
                acc: &mut *self.acc,
                metric: &self.metric,
            })?;
        }
        Ok(())
    }
}

struct Thresholds<'a> {
    acc: &'a mut K6Verdicts,
    metric: &'a str,
}

impl<'de> DeserializeSeed<'de> for Thresholds<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Thresholds<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of threshold expressions to whether each was crossed")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((expression, crossed)) = map.next_entry::<String, bool>()? {
            let t = K6Threshold {
                metric: self.metric.to_string(),
                expression: quote(&expression),
                crossed,
            };
            keep_threshold(self.acc, t);
        }
        Ok(())
    }
}

/// A group (the root one at depth 0): its `checks`, and its `groups` one level deeper.
struct Group<'a> {
    acc: &'a mut K6Verdicts,
    /// k6's path of the group (`::login`), built from the group names as they are read.
    path: String,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Group<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Group<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a group object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "checks" => map.next_value_seed(Checks {
                    acc: &mut *self.acc,
                    group: &self.path,
                })?,
                "groups" => map.next_value_seed(Groups {
                    acc: &mut *self.acc,
                    parent: &self.path,
                    depth: self.depth + 1,
                })?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(())
    }
}

/// A group's `groups`, by name.
struct Groups<'a> {
    acc: &'a mut K6Verdicts,
    parent: &'a str,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Groups<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Groups<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of groups")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if self.depth > MAX_K6_GROUP_DEPTH {
                // Too deep to read: counted as one left out, whatever it holds.
                map.next_value::<IgnoredAny>()?;
                self.acc.left_out = self.acc.left_out.saturating_add(1);
                continue;
            }
            map.next_value_seed(Group {
                acc: &mut *self.acc,
                path: quote(&format!("{}::{name}", self.parent)),
                depth: self.depth,
            })?;
        }
        Ok(())
    }
}

/// A group's `checks`, by name: each one's passes and fails.
struct Checks<'a> {
    acc: &'a mut K6Verdicts,
    group: &'a str,
}

/// One check as k6 writes it; its `name`, `path` and `id` are not needed (the key is the name).
#[derive(serde::Deserialize)]
struct Counts {
    passes: u64,
    fails: u64,
}

impl<'de> DeserializeSeed<'de> for Checks<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Checks<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of checks")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((name, counts)) = map.next_entry::<String, Counts>()? {
            let c = K6Check {
                group: self.group.to_string(),
                name: quote(&name),
                passes: counts.passes,
                fails: counts.fails,
            };
            keep_check(self.acc, c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What k6 v1.1.0 wrote for a script with nested groups, a failed check, and a crossed
    /// threshold beside two that held (trimmed of the figures not read).
    const REAL: &str = r#"{
      "root_group": {
        "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
        "groups": {
          "login": {
            "groups": {
              "inner": {
                "name": "inner", "path": "::login::inner", "id": "c477", "groups": {},
                "checks": {
                  "deep": {"passes": 0, "fails": 3, "name": "deep", "path": "::login::inner::deep", "id": "bb92"},
                  "root ok": {"passes": 3, "fails": 0, "name": "root ok", "path": "::login::inner::root ok", "id": "61d1"}
                }
              }
            },
            "checks": {
              "in group": {"path": "::login::in group", "id": "bdf5", "passes": 3, "fails": 0, "name": "in group"}
            },
            "name": "login", "path": "::login", "id": "a7d1"
          }
        },
        "checks": {
          "root ok": {"name": "root ok", "path": "::root ok", "id": "9a46", "passes": 3, "fails": 0},
          "root bad": {"name": "root bad", "path": "::root bad", "id": "3f2e", "passes": 0, "fails": 3}
        }
      },
      "metrics": {
        "iteration_duration": {"max": 0.13, "p(95)": 0.12, "avg": 0.06, "min": 0.02, "med": 0.03},
        "iterations": {"count": 3, "rate": 10781.9, "thresholds": {"count>1": false, "count>100": true}},
        "checks": {"passes": 9, "fails": 6, "thresholds": {"rate>0.99": true}, "value": 0.6},
        "iteration_duration{scenario:default}": {"med": 0.02, "thresholds": {"p(95)<10000": false}}
      }
    }"#;

    use crate::stats::k6_fixtures::{check as c, threshold as t};

    #[test]
    fn thresholds_and_the_checks_of_every_group_are_read() {
        let v = parse(REAL.as_bytes()).unwrap();
        assert_eq!(
            v.thresholds,
            [
                t("iterations", "count>1", false),
                t("iterations", "count>100", true),
                t("checks", "rate>0.99", true),
                t("iteration_duration{scenario:default}", "p(95)<10000", false),
            ]
        );
        assert_eq!(
            v.checks,
            [
                c("::login::inner", "deep", 0, 3),
                c("::login::inner", "root ok", 3, 0),
                c("::login", "in group", 3, 0),
                c("", "root ok", 3, 0),
                c("", "root bad", 0, 3),
            ]
        );
        assert_eq!((v.left_out, v.unreadable), (0, None));
    }

    #[test]
    fn a_missing_hostile_or_foreign_summary_is_unreadable_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let missing = read(&path, true);
        assert_eq!(missing.unreadable.as_deref(), Some("k6 wrote no summary"));
        assert!(missing.exit_thresholds_failed);
        for (bytes, says) in [
            (&b"not json"[..], "not k6's JSON"),
            (b"[1,2]", "not k6's JSON"),
            (
                br#"{"metrics":{"m":{"thresholds":{"x<1":"yes"}}}}"#,
                "not k6's JSON",
            ),
            (
                br#"{"root_group":{"checks":{"c":{"passes":-1,"fails":0}}}}"#,
                "not k6's JSON",
            ),
            (br#"{"metrics":{}} trailing"#, "not k6's JSON"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let v = read(&path, false);
            let why = v.unreadable.unwrap();
            assert!(why.contains(says), "{why}");
            assert!(!why.chars().any(char::is_control), "{why:?}");
            assert!(v.thresholds.is_empty() && v.checks.is_empty());
        }
        // Deep nesting is skipped without recursion (past the group depth cap too), never a
        // stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        std::fs::write(&path, format!(r#"{{"other":{deep}}}"#)).unwrap();
        assert_eq!(read(&path, false).unreadable, None);
        let groups = format!(
            r#"{{"root_group":{}{{}}{}}}"#,
            r#"{"groups":{"g":"#.repeat(50_000),
            "}}".repeat(50_000)
        );
        std::fs::write(&path, groups).unwrap();
        let v = read(&path, false);
        assert_eq!((v.unreadable, v.left_out), (None, 1));
        // Over the byte cap: refused without being parsed.
        let big = vec![b' '; MAX_SUMMARY_BYTES + 1];
        std::fs::write(&path, big).unwrap();
        assert!(read(&path, false)
            .unreadable
            .unwrap()
            .contains("over 16 MiB"));
    }

    #[test]
    fn an_empty_or_bare_summary_has_no_rules() {
        for text in [
            "{}",
            r#"{"metrics":{"http_reqs":{"count":3}},"root_group":{}}"#,
        ] {
            let v = parse(text.as_bytes()).unwrap();
            assert!(v.thresholds.is_empty() && v.checks.is_empty(), "{text}");
        }
    }

    #[test]
    fn caps_keep_what_failed_and_count_the_rest() {
        let mut metrics = String::new();
        for i in 0..MAX_K6_THRESHOLDS + 10 {
            let crossed = i == MAX_K6_THRESHOLDS + 9;
            metrics.push_str(&format!(
                r#""m{i}":{{"thresholds":{{"count>0":{crossed}}}}},"#
            ));
        }
        metrics.pop();
        let mut checks = String::new();
        for i in 0..MAX_K6_CHECKS + 3 {
            let fails = u64::from(i == MAX_K6_CHECKS + 2);
            checks.push_str(&format!(r#""c{i}":{{"passes":1,"fails":{fails}}},"#));
        }
        checks.pop();
        let text = format!(r#"{{"metrics":{{{metrics}}},"root_group":{{"checks":{{{checks}}}}}}}"#);
        let v = parse(text.as_bytes()).unwrap();
        assert_eq!(v.thresholds.len(), MAX_K6_THRESHOLDS);
        assert_eq!(v.checks.len(), MAX_K6_CHECKS);
        assert_eq!(v.left_out, 13);
        assert!(
            v.thresholds.iter().any(|t| t.crossed),
            "the crossed one is kept"
        );
        assert!(
            v.checks.iter().any(|c| c.fails == 1),
            "the failed one is kept"
        );
    }

    #[test]
    fn groups_deeper_than_the_cap_are_counted_not_read() {
        let mut group = r#"{"checks":{"deepest":{"passes":0,"fails":1}}}"#.to_string();
        for _ in 0..MAX_K6_GROUP_DEPTH + 2 {
            group = format!(r#"{{"groups":{{"g":{group}}}}}"#);
        }
        let v = parse(format!(r#"{{"root_group":{group}}}"#).as_bytes()).unwrap();
        assert!(v.checks.is_empty());
        assert_eq!(v.left_out, 1);
        let shallow = r#"{"root_group":{"groups":{"a":{"groups":{"b":{"checks":{"x":{"passes":1,"fails":0}}}}}}}}"#;
        assert_eq!(
            parse(shallow.as_bytes()).unwrap().checks,
            [c("::a::b", "x", 1, 0)]
        );
    }

    #[test]
    fn hostile_names_are_quoted() {
        let text = r#"{"metrics":{"m\u001b[2J":{"thresholds":{"x\n<1":true}}},"root_group":{"groups":{"g\r":{"checks":{"ok\nforged":{"passes":1,"fails":0}}}}}}"#;
        let v = parse(text.as_bytes()).unwrap();
        for s in [
            &v.thresholds[0].metric,
            &v.thresholds[0].expression,
            &v.checks[0].group,
            &v.checks[0].name,
        ] {
            assert!(!s.chars().any(char::is_control), "{s:?}");
        }
        assert_eq!(v.checks[0].path(), "g\\r::ok\\nforged");
    }
}
