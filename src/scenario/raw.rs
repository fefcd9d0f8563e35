//! The scenario file as written: serde types that reject unknown fields, so a typo is an error
//! with a line and column instead of a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: Option<String>,
    /// For whoever reads the file: accepted, and read by nothing.
    #[serde(rename = "description")]
    _description: Option<String>,
    #[serde(default)]
    pub(crate) variables: BTreeMap<String, Value>,
    #[serde(default)]
    pub(crate) defaults: RawDefaults,
    pub(crate) wait: Option<RawWait>,
    #[serde(default)]
    pub(crate) on_start: Vec<RawStep>,
    pub(crate) tasks: Vec<RawTask>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) timeout: Option<RawDuration>,
    /// The largest response head read, in KiB.
    pub(crate) max_head_kib: Option<u32>,
    /// The largest body kept for a check or extraction, in MiB.
    pub(crate) max_body_mib: Option<u32>,
    /// One cookie jar per virtual user (default on, as in Locust and k6); `false` turns it off.
    pub(crate) cookies: Option<bool>,
    /// The most cookies in one user's jar, all domains together.
    pub(crate) max_cookies: Option<u32>,
    /// The most KiB of cookies (as the jar keeps them) in one user's jar.
    pub(crate) max_cookies_kib: Option<u32>,
    /// The largest file a multipart part may send, in MiB.
    pub(crate) max_upload_mib: Option<u32>,
    /// Whether requests follow redirects (default on, up to 10 hops); a request may override.
    pub(crate) follow_redirects: Option<bool>,
    /// Whether requests ask for compressed answers (default on); they are decoded either way.
    pub(crate) compression: Option<bool>,
    /// HTTP/2 to the target: `auto`, `always` or `never` (the default).
    pub(crate) http2: Option<crate::modes::Http2Mode>,
    /// Lanes of each virtual user at once over its one HTTP/2 connection (h2load's `-m`).
    pub(crate) streams_per_user: Option<i64>,
}

/// Seconds as a number (`1.5`) or a duration string (`1500ms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Seconds(f64),
    Text(String),
}

/// `wait: 1`, `wait: {constant: 1}` or `wait: {between: [1, 3]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawWait {
    Fixed(RawDuration),
    Spec(RawWaitSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWaitSpec {
    pub(crate) constant: Option<RawDuration>,
    pub(crate) between: Option<(RawDuration, RawDuration)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    /// A label for whoever reads the file: accepted, and read by nothing.
    #[serde(rename = "name")]
    _name: Option<String>,
    pub(crate) weight: Option<u32>,
    pub(crate) request: Option<RawRequest>,
    pub(crate) steps: Option<Vec<RawStep>>,
}

/// Exactly one of the fields is set; a struct (rather than an enum) keeps serde's "unknown
/// field" messages precise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) request: Option<RawRequest>,
    pub(crate) sleep: Option<RawWait>,
    pub(crate) set_headers: Option<BTreeMap<String, String>>,
    pub(crate) set: Option<BTreeMap<String, Value>>,
    /// Cookies put into the user's jar for the target's host, as `set_headers` does for headers.
    pub(crate) set_cookies: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub(crate) name: Option<String>,
    #[serde(default = "default_method")]
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) json: Option<Value>,
    pub(crate) body: Option<String>,
    /// An urlencoded form body (`application/x-www-form-urlencoded`); values are templates.
    pub(crate) form: Option<BTreeMap<String, String>>,
    /// A `multipart/form-data` body: text fields (templates) and files from the repository.
    pub(crate) multipart: Option<BTreeMap<String, super::multipart::RawPart>>,
    /// Overrides `defaults.follow_redirects` for this request.
    pub(crate) follow_redirects: Option<bool>,
    #[serde(default)]
    pub(crate) check: RawCheck,
    #[serde(default)]
    pub(crate) extract: BTreeMap<String, RawExtract>,
    pub(crate) timeout: Option<RawDuration>,
}

/// `extract: {tok: $.token}`, or `extract: {tok: {from: $.token, secret: true}}` to say
/// whether the value is a secret (by default it is when its name looks like a credential's).
/// Read by hand rather than as an untagged enum, so a typo in the long form is named
/// (`unknown field `secrets``) instead of "did not match any variant".
#[derive(Debug)]
pub(crate) enum RawExtract {
    From(String),
    Spec(RawExtractSpec),
}

impl<'de> Deserialize<'de> for RawExtract {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawExtract;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON path, `cookie:NAME`, or `{from: ..., secret: true|false}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawExtract, E> {
                Ok(RawExtract::From(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawExtract, A::Error> {
                RawExtractSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawExtract::Spec)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtractSpec {
    /// A JSON path, or `cookie:NAME`.
    pub(crate) from: String,
    /// Whether the value is a secret; unset, the variable's name decides.
    pub(crate) secret: Option<bool>,
}

impl RawExtract {
    /// Where the value comes from, and whether the scenario says it is a secret.
    pub(crate) fn into_parts(self) -> (String, Option<bool>) {
        match self {
            RawExtract::From(from) => (from, None),
            RawExtract::Spec(s) => (s.from, s.secret),
        }
    }
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub(crate) status: Option<RawStatus>,
    pub(crate) body_contains: Option<String>,
    pub(crate) json_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawStatus {
    One(u16),
    Many(Vec<u16>),
}
