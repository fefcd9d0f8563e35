//! The JSON Schema of results.json, generated from the types the writer serialises
//! ([`Document`] and everything in it): the published schema is what the writer writes, and
//! cannot drift from it. `schema/results-v2.json` is [`schema_json`]'s text, and the test below
//! fails when the committed file differs from it (`UPDATE_SCHEMA=1 cargo test --lib
//! schema_file_matches_the_types` writes it anew).

use schemars::{
    generate::SchemaSettings,
    transform::{RecursiveTransform, RestrictFormats},
    Schema,
};
use serde_json::{Map, Value};

use super::Document;
use crate::stats::SCHEMA;

/// Where the repository's files are published: a schema's `$id` is its address there.
const PUBLISHED_AT: &str = "https://gitlab.com/loadforge-gate/loadforge-gate/-/raw/main/";

/// The version this release writes, `2` for `loadforge-gate/results/v2`.
fn version() -> &'static str {
    SCHEMA.rsplit_once("/v").map_or(SCHEMA, |(_, v)| v)
}

/// The schema's file in the repository: `schema/results-v2.json`.
pub(crate) fn schema_path() -> String {
    format!("schema/results-v{}.json", version())
}

/// The schema of results.json as this version writes it (JSON Schema 2020-12), as the text of
/// its file.
pub(crate) fn schema_json() -> String {
    let generator = SchemaSettings::draft2020_12()
        // What the writer writes: a field it always writes is required, though the reader
        // would take it as absent in an older file.
        .for_serialize()
        .with_transform(RecursiveTransform(never_null_when_left_out))
        .with_transform(RecursiveTransform(descriptions_as_prose))
        // `uint32`, `double` and such are schemars' words, no standard format.
        .with_transform(RestrictFormats::default())
        .into_generator();
    let schema = headed(generator.into_root_schema_for::<Document>());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// The root with its identity first: `$schema`, `$id`, `title`, `description`, then the rest
/// in the order schemars wrote it.
fn headed(schema: Schema) -> Value {
    let mut rest = match schema.to_value() {
        Value::Object(map) => map,
        other => return other,
    };
    let mut head = Map::new();
    for key in ["$schema", "$id", "title", "description"] {
        let found = rest.shift_remove(key).unwrap_or(Value::Null);
        let value = match key {
            "$id" => format!("{PUBLISHED_AT}{}", schema_path()).into(),
            "title" => format!("loadforge-gate results, version {}", version()).into(),
            _ => found,
        };
        head.insert(key.into(), value);
    }
    head.extend(rest);
    Value::Object(head)
}

/// Doc comments are wrapped lines that link Rust items (``[`Check::words`]``); a description is
/// read as prose: one line per paragraph, the links' brackets taken off.
fn descriptions_as_prose(schema: &mut Schema) {
    if let Some(Value::String(text)) = schema.get_mut("description") {
        let paragraphs: Vec<String> = text.split("\n\n").map(|p| p.replace('\n', " ")).collect();
        *text = paragraphs
            .join("\n\n")
            .replace("[`", "`")
            .replace("`]", "`");
    }
}

/// An `Option` the writer leaves out when it is `None` (`skip_serializing_if`) is never written
/// as `null`: the field is optional, and when present it holds a value. schemars allows `null`
/// for every `Option`, so it is taken out of each property the schema does not require (under
/// the serialize contract, those the writer may leave out).
fn never_null_when_left_out(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let required: Vec<Value> = match object.get("required") {
        Some(Value::Array(names)) => names.clone(),
        _ => Vec::new(),
    };
    let Some(Value::Object(properties)) = object.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if let (false, Value::Object(property)) =
            (required.contains(&Value::from(name.as_str())), property)
        {
            drop_null(property);
        }
    }
}

/// Takes `null` out of one property's schema, in each of the forms schemars gives it:
/// `"type": [T, "null"]`, a `null` among an `enum`'s values, or `"anyOf": [S, {"type": "null"}]`.
fn drop_null(property: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            property.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = property.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    let null = serde_json::json!({"type": "null"});
    if let Some(Value::Array(any_of)) = property.get("anyOf") {
        if let [a, b] = any_of.as_slice() {
            let other = if *a == null {
                b
            } else if *b == null {
                a
            } else {
                return;
            };
            let Value::Object(other) = other.clone() else {
                return;
            };
            property.remove("anyOf");
            for (key, value) in other {
                property.entry(key).or_insert(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::snapshot_tests::not_comparable;

    /// The generated schema, compiled.
    fn validator() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(&schema_json()).unwrap();
        jsonschema::validator_for(&schema).expect("the schema compiles")
    }

    /// A written document with a passed check first and a not-judged one third.
    fn document() -> Value {
        let doc = not_comparable();
        let value = serde_json::to_value(&doc).unwrap();
        assert_eq!(value["verdict"]["checks"][0]["state"], "passed");
        assert_eq!(value["verdict"]["checks"][2]["state"], "not_judged");
        value
    }

    /// `reason` stands beside `state` exactly when it is `not_judged`, as the reader requires.
    #[test]
    fn the_schema_holds_a_reason_to_not_judged_alone() {
        let v = validator();
        let doc = document();
        assert!(v.is_valid(&doc), "{:?}", v.iter_errors(&doc).next());
        let with = |check: usize, change: &dyn Fn(&mut Map<String, Value>)| {
            let mut doc = doc.clone();
            let check = doc["verdict"]["checks"][check].as_object_mut().unwrap();
            change(check);
            doc
        };
        let no_reason = with(2, &|c| {
            c.shift_remove("reason");
        });
        assert!(!v.is_valid(&no_reason), "not_judged without its reason");
        let reason_beside_passed = with(0, &|c| {
            c.insert("reason".into(), "too_noisy".into());
        });
        assert!(!v.is_valid(&reason_beside_passed), "a reason beside passed");
        let reason_beside_failed = with(0, &|c| {
            c.insert("state".into(), "failed".into());
            c.insert("reason".into(), "too_noisy".into());
        });
        assert!(!v.is_valid(&reason_beside_failed), "a reason beside failed");
        let failed = with(0, &|c| {
            c.insert("state".into(), "failed".into());
        });
        assert!(v.is_valid(&failed));
    }

    /// What no writer writes is refused: an unknown word, a v1 boolean, an unknown field, a
    /// `null` for a field the writer leaves out, a finding's unknown outcome.
    #[test]
    fn the_schema_rejects_what_the_writer_never_writes() {
        let v = validator();
        let doc = document();
        let with = |change: &dyn Fn(&mut Value)| {
            let mut doc = doc.clone();
            change(&mut doc);
            doc
        };
        let finding = serde_json::json!({
            "outcome": "below_margin", "change": 2.34, "noise": 0.13, "detectable": 0.21,
            "margin_relative": 0.2, "margin_absolute": 10.0
        });
        let judged = with(&|d| d["verdict"]["checks"][0]["finding"] = finding.clone());
        assert!(v.is_valid(&judged), "{:?}", v.iter_errors(&judged).next());
        for (what, bad) in [
            (
                "maybe",
                with(&|d| d["verdict"]["checks"][0]["state"] = "maybe".into()),
            ),
            (
                "v1's passed",
                with(&|d| d["verdict"]["checks"][0]["passed"] = true.into()),
            ),
            ("finding", {
                let mut d = judged.clone();
                d["verdict"]["checks"][0]["finding"]["outcome"] = "maybe".into();
                d
            }),
            (
                "outcome",
                with(&|d| d["verdict"]["outcome"] = "deferred".into()),
            ),
            (
                "null",
                with(&|d| d["verdict"]["checks"][0]["value"] = Value::Null),
            ),
            ("field", with(&|d| d["run"]["unknown"] = 1.into())),
            (
                "schema",
                with(&|d| d["schema"] = "loadforge-gate/results/v1".into()),
            ),
            (
                "sha256",
                with(&|d| d["run"]["load"]["scenario_sha256"] = "ABC".into()),
            ),
            (
                "negative",
                with(&|d| d["aggregate"]["latency_ms"]["p95"] = (-1.0).into()),
            ),
        ] {
            assert!(!v.is_valid(&bad), "{what} was accepted");
        }
    }

    /// The committed schema is the types' own: a change to a type of results.json changes the
    /// schema, and this test says so until the file is written anew.
    #[test]
    fn schema_file_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(schema_path());
        let generated = schema_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from what the types of results.json generate; if the change is meant, \
             write it anew with `UPDATE_SCHEMA=1 cargo test --lib schema_file_matches_the_types` \
             and commit it",
            path.display()
        );
    }
}
