//! Where a check ends: exactly one of *passed*, *failed* or *not judged*, the last with its
//! typed reason. One enum rather than three booleans (`passed`, `not_comparable`,
//! `inconclusive`, results v1), because booleans can disagree, and every state that was not
//! a pass became a way for a regression to pass: a check that was not judged is never green.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a check was not judged. Each one makes the run *not judged* (exit 5), never passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotJudged {
    /// Nothing was published to compare with: no baseline yet, or an endpoint the baseline
    /// does not have.
    NoBaseline,
    /// The baseline ran another load, or against another system.
    NotComparable,
    /// The load generator was starved, and its own measured stall could explain the change.
    GeneratorStarved,
    /// The baseline could not be looked up (GitLab answered 5xx, timed out, or sent what
    /// cannot be read): not the same as having none.
    LookupFailed,
    /// This run did not measure the metric the rule compares.
    NotMeasured,
    /// The history's noise hides changes of the rule's margin.
    TooNoisy,
}
crate::quote::word::words!(
    NotJudged,
    "check reason",
    [
        NotJudged::NoBaseline,
        NotJudged::NotComparable,
        NotJudged::GeneratorStarved,
        NotJudged::LookupFailed,
        NotJudged::NotMeasured,
        NotJudged::TooNoisy
    ]
);

impl NotJudged {
    /// Every reason, in the order the docs' table lists them.
    #[cfg(test)]
    pub(crate) const ALL: [NotJudged; 6] = [
        NotJudged::NoBaseline,
        NotJudged::NotComparable,
        NotJudged::GeneratorStarved,
        NotJudged::LookupFailed,
        NotJudged::NotMeasured,
        NotJudged::TooNoisy,
    ];

    /// The reason in a few words, as every report prints it after "not judged: ".
    pub(crate) fn words(self) -> &'static str {
        match self {
            NotJudged::NoBaseline => "no baseline yet",
            NotJudged::NotComparable => "not comparable",
            NotJudged::GeneratorStarved => "generator starved",
            NotJudged::LookupFailed => "look-up failed",
            NotJudged::NotMeasured => "not measured",
            NotJudged::TooNoisy => "too noisy",
        }
    }

    /// Whether the check got as far as a limit: a starved or too noisy one compared its value
    /// with one; the others had nothing to compare.
    pub(crate) fn has_limit(self) -> bool {
        matches!(self, NotJudged::GeneratorStarved | NotJudged::TooNoisy)
    }

    /// What a team does about it, one sentence.
    pub(crate) fn remedy(self) -> &'static str {
        match self {
            NotJudged::NoBaseline => "let the default branch run the gate once, on a quiet runner (a run flagged for a busy host or a starved generator is never a baseline); its results become the baseline",
            NotJudged::NotComparable => "run the same load as the default branch, or merge the new load and let the default branch run it first (`target-id` names two addresses as one system)",
            NotJudged::GeneratorStarved => "give the load generator its own cores (a dedicated runner, or the target on another host), then retry",
            NotJudged::LookupFailed => "retry the job; if GitLab keeps failing, check its status and the job's token",
            NotJudged::NotMeasured => "make sure the run reaches the endpoint (it got no request, or the engine does not report the metric)",
            NotJudged::TooNoisy => "quiet the runner, run longer, or widen the rule's margin to what the history can see",
        }
    }
}

/// Where a check stands. The order is the reports': a reader looks first for what failed, then
/// for what could not be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub(crate) enum CheckState {
    /// Judged, and it did not hold.
    Failed,
    /// Not judged, and why: neither passed nor failed, and the run is not passed either.
    NotJudged(NotJudged),
    /// Judged, and it held.
    Passed,
}

impl CheckState {
    /// Passed or failed as judged.
    pub(crate) fn judged(passed: bool) -> Self {
        if passed {
            CheckState::Passed
        } else {
            CheckState::Failed
        }
    }

    /// The reason, for a check that was not judged.
    pub(crate) fn not_judged(self) -> Option<NotJudged> {
        match self {
            CheckState::NotJudged(why) => Some(why),
            _ => None,
        }
    }

    /// `passed`, `failed` or `not judged: <reason>`: the one word a reviewer reads.
    pub(crate) fn words(self) -> String {
        match self {
            CheckState::Passed => "passed".into(),
            CheckState::Failed => "failed".into(),
            CheckState::NotJudged(why) => format!("not judged: {}", why.words()),
        }
    }
}

/// A state's word in a file, `state`, apart from its reason (read beside it): the words the
/// reader accepts, and so the schema's.
#[derive(Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
enum Word {
    Passed,
    Failed,
    NotJudged,
}
crate::quote::word::words!(
    Word,
    "check state",
    [Word::Passed, Word::Failed, Word::NotJudged]
);

/// Read as [`read`] reads a check's: the one reader, whose words are quoted when refused.
impl<'de> Deserialize<'de> for CheckState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read(d)
    }
}

/// Written flattened into the check as `"state"` and, only beside `not_judged`, `"reason"`:
/// the rule of [`read`], which refuses a `not_judged` without its reason or a reason beside
/// another word, is the schema's too, so a reader of someone else's file may rely on it.
impl JsonSchema for CheckState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CheckState".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut state = generator.subschema_for::<Word>();
        state.insert(
            "description".into(),
            "passed: judged and held; failed: judged and did not hold; not_judged: could not be judged (see `reason`), never a pass".into(),
        );
        let mut reason = generator.subschema_for::<NotJudged>();
        reason.insert(
            "description".into(),
            "Why a check was not judged: present exactly when `state` is `not_judged`".into(),
        );
        schemars::json_schema!({
            "type": "object",
            "properties": {"state": state, "reason": reason},
            "required": ["state"],
            "if": {"properties": {"state": {"const": "not_judged"}}, "required": ["state"]},
            "then": {"required": ["reason"]},
            "else": {"not": {"required": ["reason"]}},
        })
    }
}

/// A check's state as a results file has it: v2's `state` (and `reason`), or v1's booleans.
/// Exactly one of the two forms: a file with both, or neither, is not one this version wrote.
pub(super) fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CheckState, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    struct Fields {
        #[serde(default)]
        state: Option<Word>,
        #[serde(default)]
        reason: Option<NotJudged>,
        #[serde(flatten)]
        v1: V1State,
    }
    let f = Fields::deserialize(d)?;
    match (f.state, f.reason, f.v1.present()) {
        (Some(Word::Passed), None, false) => Ok(CheckState::Passed),
        (Some(Word::Failed), None, false) => Ok(CheckState::Failed),
        (Some(Word::NotJudged), Some(why), false) => Ok(CheckState::NotJudged(why)),
        (Some(Word::NotJudged), None, _) => Err(D::Error::custom(
            "a check `not_judged` without its `reason`",
        )),
        (None, None, true) => f
            .v1
            .state()
            .ok_or_else(|| D::Error::custom("a check without `passed`")),
        (None, None, false) => Err(D::Error::missing_field("state")),
        _ => Err(D::Error::custom(
            "a check with both `state` and results v1's `passed`, or a `reason` without `not_judged`",
        )),
    }
}

/// The check fields of a results v1 file that v2 replaced with the one [`CheckState`].
#[derive(Debug, Default, Deserialize)]
pub(super) struct V1State {
    #[serde(default)]
    passed: Option<bool>,
    #[serde(default)]
    not_comparable: bool,
    #[serde(default)]
    inconclusive: Option<String>,
}

impl V1State {
    /// Whether the file carried any of the v1 fields.
    pub(super) fn present(&self) -> bool {
        self.passed.is_some() || self.not_comparable || self.inconclusive.is_some()
    }

    /// The v1 fields as one state, as v1 itself read them (`not_comparable` wins over a stray
    /// `passed`; an inconclusive check was a failed latency check of a starved run).
    pub(super) fn state(&self) -> Option<CheckState> {
        Some(match (self.not_comparable, self.passed?) {
            (true, _) => CheckState::NotJudged(NotJudged::NotComparable),
            (false, true) => CheckState::Passed,
            (false, false) if self.inconclusive.is_some() => {
                CheckState::NotJudged(NotJudged::GeneratorStarved)
            }
            (false, false) => CheckState::Failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_written_as_its_word_and_a_reason_beside_it() {
        let json = |s: CheckState| serde_json::to_string(&s).unwrap();
        assert_eq!(json(CheckState::Passed), r#"{"state":"passed"}"#);
        assert_eq!(json(CheckState::Failed), r#"{"state":"failed"}"#);
        assert_eq!(
            json(CheckState::NotJudged(NotJudged::LookupFailed)),
            r#"{"state":"not_judged","reason":"lookup_failed"}"#
        );
        for why in NotJudged::ALL {
            let s = CheckState::NotJudged(why);
            assert_eq!(serde_json::from_str::<CheckState>(&json(s)).unwrap(), s);
        }
        // A not-judged state without its reason is not a state.
        assert!(serde_json::from_str::<CheckState>(r#"{"state":"not_judged"}"#).is_err());
    }

    /// The docs' table names every reason, by its words and as results.json spells it.
    #[test]
    fn the_docs_list_every_reason() {
        let docs = include_str!("../../docs/baselines-and-judgement.md");
        for why in NotJudged::ALL {
            let json = serde_json::to_string(&why).unwrap();
            let row = format!("| {} (`{}`) |", why.words(), json.trim_matches('"'));
            assert!(docs.contains(&row), "{row} is missing from the docs");
        }
    }

    #[test]
    fn failed_sorts_before_not_judged_before_passed() {
        let mut states = [
            CheckState::Passed,
            CheckState::NotJudged(NotJudged::TooNoisy),
            CheckState::Failed,
        ];
        states.sort();
        assert_eq!(
            states,
            [
                CheckState::Failed,
                CheckState::NotJudged(NotJudged::TooNoisy),
                CheckState::Passed
            ]
        );
    }

    #[test]
    fn v1_booleans_become_one_state() {
        let state = |json: &str| serde_json::from_str::<V1State>(json).unwrap().state();
        assert_eq!(state(r#"{"passed":true}"#), Some(CheckState::Passed));
        assert_eq!(state(r#"{"passed":false}"#), Some(CheckState::Failed));
        assert_eq!(
            state(r#"{"passed":true,"not_comparable":true}"#),
            Some(CheckState::NotJudged(NotJudged::NotComparable))
        );
        assert_eq!(
            state(r#"{"passed":false,"inconclusive":"load generator starved"}"#),
            Some(CheckState::NotJudged(NotJudged::GeneratorStarved))
        );
        assert_eq!(state("{}"), None);
    }
}
