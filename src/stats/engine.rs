//! The engine that produced a result, as results.json names it. Typed, so the crate matches on
//! it instead of comparing strings; written exactly as the names were before it was typed, so
//! every older file still reads.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// `native`, `locust`, `k6` or `loadforge` in the file (`run.engine`, `load.engine`,
/// `history[].engine`).
///
/// A name this version does not know is kept as [`Engine::Other`] rather than refused: the
/// published schema (`schema/results-v1.json`) lets `run.engine` be any string, and a baseline
/// from a version with another engine must still read, shown as another engine's run (not
/// comparable), not fail the pipeline. Such a name is only ever compared and printed (every
/// publisher escapes it), never matched as a known engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum Engine {
    /// The embedded Rust engine driven by a YAML scenario.
    Native,
    /// Real Locust running a locustfile.
    Locust,
    /// The real k6 binary running a k6 script.
    K6,
    /// A run dispatched to the LoadForge cloud.
    LoadForge,
    /// A name none of the above has, as the file wrote it. Never one of their names: reading
    /// `"native"` always gives [`Engine::Native`].
    Other(String),
}

impl Engine {
    /// The name in the file.
    pub fn as_str(&self) -> &str {
        match self {
            Engine::Native => "native",
            Engine::Locust => "locust",
            Engine::K6 => "k6",
            Engine::LoadForge => "loadforge",
            Engine::Other(name) => name,
        }
    }
}

impl From<&str> for Engine {
    fn from(name: &str) -> Engine {
        match name {
            "native" => Engine::Native,
            "locust" => Engine::Locust,
            "k6" => Engine::K6,
            "loadforge" => Engine::LoadForge,
            other => Engine::Other(other.to_string()),
        }
    }
}

impl From<String> for Engine {
    fn from(name: String) -> Engine {
        match Engine::from(name.as_str()) {
            Engine::Other(_) => Engine::Other(name),
            known => known,
        }
    }
}

impl Serialize for Engine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Any name, since the reader keeps one it does not know ([`Engine::Other`]); where a file
/// bounds it (the load fingerprint's `engine`), the field says so.
impl schemars::JsonSchema for Engine {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Engine".into()
    }

    /// Inline, so a field can add its own bounds to the string.
    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string"})
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Engine;

    #[test]
    fn engines_are_written_as_the_names_files_already_hold() {
        for (engine, name) in [
            (Engine::Native, "native"),
            (Engine::Locust, "locust"),
            (Engine::LoadForge, "loadforge"),
            (Engine::K6, "k6"),
            (Engine::Other("gatling".into()), "gatling"),
        ] {
            let text = serde_json::to_string(&engine).unwrap();
            assert_eq!(text, format!("\"{name}\""));
            let back: Engine = serde_json::from_str(&text).unwrap();
            assert_eq!(back, engine);
        }
    }

    #[test]
    fn a_known_name_never_reads_as_another_engine() {
        let read: Engine = serde_json::from_str("\"loadforge\"").unwrap();
        assert_eq!(read, Engine::LoadForge);
        assert_ne!(Engine::from("LoadForge"), Engine::LoadForge);
        assert!(serde_json::from_str::<Engine>("7").is_err());
    }
}
