//! The scenario file as written: serde types that reject unknown fields, so a typo is an error
//! with a line and column instead of a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
    #[serde(default)]
    pub defaults: RawDefaults,
    pub wait: Option<RawWait>,
    #[serde(default)]
    pub on_start: Vec<RawStep>,
    pub tasks: Vec<RawTask>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<RawDuration>,
}

/// Seconds as a number (`1.5`) or a duration string (`1500ms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(f64),
    Text(String),
}

/// `wait: 1`, `wait: {constant: 1}` or `wait: {between: [1, 3]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawWait {
    Fixed(RawDuration),
    Spec(RawWaitSpec),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaitSpec {
    pub constant: Option<RawDuration>,
    pub between: Option<(RawDuration, RawDuration)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub name: Option<String>,
    pub weight: Option<u32>,
    pub request: Option<RawRequest>,
    pub steps: Option<Vec<RawStep>>,
}

/// Exactly one of the fields is set; a struct (rather than an enum) keeps serde's "unknown
/// field" messages precise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub request: Option<RawRequest>,
    pub sleep: Option<RawWait>,
    pub set_headers: Option<BTreeMap<String, String>>,
    pub set: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub json: Option<Value>,
    pub body: Option<String>,
    #[serde(default)]
    pub check: RawCheck,
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    pub timeout: Option<RawDuration>,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub status: Option<RawStatus>,
    pub body_contains: Option<String>,
    pub json_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStatus {
    One(u16),
    Many(Vec<u16>),
}
