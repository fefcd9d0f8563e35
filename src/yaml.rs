//! Reading user YAML (scenarios, config files) into typed values, with errors that name where:
//! the path of keys (`tasks[0].request`), the message, the line and column.
//!
//! The parser is `serde-saphyr`: no unsafe code, panic-free on malformed input (fuzzed), and
//! with budgets on what a document may make the parser do (aliases, nesting, node count), so a
//! "billion laughs" file fails fast instead of filling memory. `serde_yaml`, used before, is
//! deprecated by its author and unmaintained. `serde_path_to_error` adds the key path that
//! serde-saphyr's own messages leave out.

use std::cell::RefCell;

use serde::de::DeserializeOwned;

/// A YAML document that does not fit the type asked for: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct YamlError {
    /// The path of keys to the culprit (`tasks[0].request`); empty at the top.
    path: String,
    /// The parser's or the type's message, with its line and column when known.
    message: String,
}

impl YamlError {
    fn render(&self) -> String {
        if self.path.is_empty() || self.path == "." {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }

    /// The line and column of the culprit (1-based), when the parser knows them.
    #[cfg(test)]
    fn location(&self) -> Option<(usize, usize)> {
        let at = self.message.rfind(" at line ")?;
        let rest = &self.message[at + " at line ".len()..];
        let (line, rest) = rest.split_once(", column ")?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.parse().ok()?, column.parse().ok()?))
    }
}

/// What one document may make the parser do: the settings `--yaml-max-nodes`,
/// `--yaml-max-depth` and `--yaml-max-aliases` (and their variables), for the config file and
/// the scenario alike. The defaults read any real file (a 50,000-line scenario takes some
/// 300,000 nodes; `serde_yaml`, the reader before, nested 128 deep), and an alias bomb still
/// fails at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlBudget {
    /// Nodes (scalars, sequences, mappings) in the document.
    pub nodes: usize,
    /// Sequences and mappings nested in one another.
    pub depth: usize,
    /// Nodes that aliases (`*name`) may replay, all aliases together.
    pub aliases: usize,
}

impl Default for YamlBudget {
    fn default() -> Self {
        YamlBudget {
            nodes: YAML_MAX_NODES,
            depth: YAML_MAX_DEPTH,
            aliases: YAML_MAX_ALIASES,
        }
    }
}

/// The default node budget: thirteen times a 50,000-line scenario's.
pub const YAML_MAX_NODES: usize = 4_000_000;
/// The default nesting budget: `serde_yaml`'s.
pub const YAML_MAX_DEPTH: usize = 128;
/// The default alias budget: serde-saphyr's own.
pub const YAML_MAX_ALIASES: usize = 1_000_000;
/// The deepest nesting a setting may ask for: the parse recurses once per level, and 1,000
/// levels stay far within the 2 MiB stack of the smallest thread that reads YAML.
pub const YAML_DEPTH_LIMIT: usize = 1_000;

/// The parser's settings: YAML 1.2 booleans (`yes` and `on` stay strings, as in GitLab's
/// own YAML and as `serde_yaml` read them), an empty or `~` value read as text where text is
/// expected (`headers: {X-Debug: }` is an empty header, as `serde_yaml` read it; an optional
/// setting left empty is still unset), duplicate keys refused, and no snippet: errors are one
/// line, the caller names the file. The budget's nodes bound the parser's events too (every
/// node is at most two events: a collection's start and end).
fn options(budget: &YamlBudget) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.null_as_string = true;
    o.with_snippet = false;
    let mut b = serde_saphyr::Budget::default();
    b.max_nodes = budget.nodes;
    b.max_events = budget.nodes.saturating_mul(2).saturating_add(16);
    b.max_depth = budget.depth;
    b.max_aliases = budget.aliases;
    b.max_recorded_anchor_events = budget.aliases.max(b.max_recorded_anchor_events);
    // Many aliases of one anchor (a `headers: *common` in every task) are a real file's way,
    // which the alias budget already bounds.
    b.enforce_alias_anchor_ratio = false;
    o.budget = Some(b);
    o.alias_limits.max_total_replayed_events = budget.aliases;
    o
}

/// `text` as a `T`, within the default [`YamlBudget`].
#[cfg(test)]
pub(crate) fn from_str<T: DeserializeOwned + Send>(text: &str) -> Result<T, YamlError> {
    from_str_with(text, &YamlBudget::default())
}

/// The stack one level of nesting may take while a document is read into its types (a
/// debug build takes some 30 KiB a level for a JSON body, the deepest of them), and what the
/// rest of the parse needs.
const STACK_PER_LEVEL: usize = 64 << 10;
const STACK_BASE: usize = 1 << 20;

/// `text` as a `T`, within `budget`. The parse recurses once per level of nesting, so it runs
/// on a thread of its own whose stack holds `budget.depth` levels: a deep document is refused
/// by the budget, whatever thread reads it, and never overflows a stack (which aborts the
/// process).
pub(crate) fn from_str_with<T: DeserializeOwned + Send>(
    text: &str,
    budget: &YamlBudget,
) -> Result<T, YamlError> {
    let stack = STACK_BASE + budget.depth.min(YAML_DEPTH_LIMIT) * STACK_PER_LEVEL;
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml".into())
            .stack_size(stack)
            .spawn_scoped(scope, || measured(|| parse(text, budget)))
            .map(|parser| parser.join())
    });
    match parsed {
        Ok(Ok((result, peak))) => {
            report_peak(peak);
            result
        }
        // The parser panicked (it is built not to): its message is the one clue.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread to be had: read on this one, as deep as its stack allows.
        Err(_) => parse(text, budget),
    }
}

/// The parse, and in tests the heap it took on its own thread, which [`report_peak`] adds to
/// the caller's (so the tests that hold a caller's memory to a cap see it).
#[cfg(test)]
fn measured<T>(parse: impl FnOnce() -> T) -> (T, u64) {
    let (value, heap) = crate::test_memory::measure(parse);
    (value, heap.peak)
}

#[cfg(test)]
fn report_peak(peak: u64) {
    crate::test_memory::elsewhere(peak);
}

/// Outside tests nothing is measured.
#[cfg(not(test))]
fn measured<T>(parse: impl FnOnce() -> T) -> (T, u64) {
    (parse(), 0)
}

#[cfg(not(test))]
fn report_peak(_: u64) {}

fn parse<T: DeserializeOwned>(text: &str, budget: &YamlBudget) -> Result<T, YamlError> {
    let path = RefCell::new(String::new());
    let options = options(budget);
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            *path.borrow_mut() = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let message = tidy(&e.without_snippet().to_string());
        let message = over_budget(&e, budget, &message).unwrap_or(message);
        let mut path = path.into_inner();
        // `?` marks a key the parser never finished reading (a syntax error): no key to name.
        if let Some(at) = path
            .find(".?")
            .or_else(|| path.starts_with('?').then_some(0))
        {
            path.truncate(at);
        }
        // An unknown key is already in the path; the message names it too.
        if let Some(key) = unknown_key(&message) {
            if let Some(parent) = path.strip_suffix(&format!(".{key}")) {
                path = parent.to_string();
            } else if path == key {
                path.clear();
            }
        }
        YamlError { path, message }
    })
}

/// A budget the document went past, in the user's words: which budget, and the setting that
/// raises it, at the parser's place.
fn over_budget(e: &serde_saphyr::Error, budget: &YamlBudget, message: &str) -> Option<String> {
    use serde_saphyr::{budget::BudgetBreach as B, Error as E};
    let mut e = e;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = e {
        e = error;
    }
    let (what, setting) = match e {
        E::Budget {
            breach: B::Depth { .. },
            ..
        } => (format!("nests deeper than {}", budget.depth), "DEPTH"),
        E::Budget {
            breach: B::Nodes { .. } | B::Events { .. },
            ..
        } => (format!("holds more than {} nodes", budget.nodes), "NODES"),
        E::Budget {
            breach: B::Aliases { .. } | B::RecordedAnchorEvents { .. },
            ..
        }
        | E::AliasReplayLimitExceeded { .. } => (
            format!("repeats more than {} nodes through aliases", budget.aliases),
            "ALIASES",
        ),
        _ => return None,
    };
    let flag = setting.to_ascii_lowercase();
    let at = message.rfind(" at line ").map_or("", |i| &message[i..]);
    Some(format!(
        "the YAML {what}, its budget{at}; if the file is right, raise --yaml-max-{flag} (LOADFORGE_GATE_YAML_MAX_{setting})"
    ))
}

/// The key an "unknown field" message names.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(key, _)| key)
}

/// serde-saphyr's advice to its own callers is no use to a user; and a message that already
/// says where (a value placed by the settings layer) keeps its own place, the more precise one,
/// not a second one appended for the mapping around it.
fn tidy(message: &str) -> String {
    let mut text = message
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .replace(
            "; use from_str_multiple or from_str_multiple_with_options",
            "; keep one document (no second `---`)",
        )
        .trim()
        .to_string();
    if text.matches(" at line ").count() > 1 {
        if let Some(last) = text.rfind(" at line ") {
            text.truncate(last);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Request {
        path: String,
        #[serde(default)]
        weight: Option<u32>,
        #[serde(default)]
        follow: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Task {
        request: Request,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        tasks: Vec<Task>,
    }

    fn err(text: &str) -> YamlError {
        from_str::<Doc>(text).unwrap_err()
    }

    #[test]
    fn an_unknown_key_names_its_path_line_and_column() {
        let e = err("tasks:\n  - request:\n      path: /\n      metod: GET\n");
        let text = e.to_string();
        assert!(
            text.starts_with("tasks[0].request: unknown field `metod`"),
            "{text}"
        );
        assert_eq!(e.location(), Some((4, 7)), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn syntax_errors_and_wrong_types_say_where() {
        let e = err("tasks: [\n");
        assert!(e.location().is_some(), "{e}");
        let e = err("tasks:\n  - request: {path: /,\n\nwait: 1\n");
        assert!(
            e.to_string().starts_with("tasks[0].request: "),
            "no `?` key: {e}"
        );
        let e = err("tasks:\n  - request: {path: /, weight: lots}\n");
        assert!(
            e.to_string().starts_with("tasks[0].request.weight: "),
            "{e}"
        );
        assert_eq!(e.location().map(|l| l.0), Some(2), "{e}");
    }

    #[test]
    fn a_message_that_says_where_keeps_one_place() {
        assert_eq!(
            tidy("users: bad at line 3, column 27 at line 3, column 19"),
            "users: bad at line 3, column 27"
        );
        assert_eq!(tidy("bad at line 1, column 2"), "bad at line 1, column 2");
    }

    #[test]
    fn duplicate_keys_are_refused_in_plain_words() {
        let e = err("tasks: [{request: {path: /, path: /x}}]\n");
        let text = e.to_string();
        assert!(text.contains("duplicate"), "{text}");
        assert!(!text.contains("Options"), "{text}");
    }

    #[test]
    fn an_empty_value_is_empty_text_and_an_empty_option_is_unset() {
        #[derive(Debug, Deserialize)]
        struct Headers {
            headers: BTreeMap<String, String>,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            weight: Option<u32>,
        }
        let h: Headers = from_str("headers: {X-Debug: , X-Null: ~}\nname: ~\nweight:\n").unwrap();
        assert_eq!(h.headers["X-Debug"], "");
        assert_eq!((h.name, h.weight), (None, None));
    }

    #[test]
    fn yes_is_a_string_not_a_boolean() {
        let e = err("tasks: [{request: {path: /, follow: yes}}]\n");
        assert!(e.to_string().contains("follow"), "{e}");
        let ok: Doc = from_str("tasks: [{request: {path: yes, follow: true}}]\n").unwrap();
        assert_eq!(ok.tasks[0].request.path, "yes");
    }

    /// Finding (left open by hardening round 2): serde-saphyr's budgets (250,000 nodes,
    /// nesting 64) were tighter than the old reader's, and nothing raised them. A 50,000-line
    /// scenario reads within the defaults, a nesting of 128 (the old reader's) too, many
    /// aliases of one anchor too; past a budget, the error names the setting that raises it.
    #[test]
    fn the_yaml_budgets_read_real_files_and_are_raised_by_a_setting() {
        let big = fifty_thousand_lines();
        assert!(big.lines().count() >= 50_000);
        let scenario = crate::scenario::Scenario::parse(&big, "big.yml".as_ref(), &|_| None);
        assert!(scenario.is_ok(), "{}", scenario.err().unwrap());
        let deep = nested(YAML_MAX_DEPTH - 1);
        assert!(from_str::<serde_json::Value>(&deep).is_ok());
        let common = (0..500)
            .map(|i| format!("t{i}: *common\n"))
            .collect::<String>();
        let aliased = format!("base: &common {{A: x, B: y}}\n{common}");
        assert!(from_str::<serde_json::Value>(&aliased).is_ok());
        // Past each budget: a one-line error that names the setting; raised, it reads.
        let small = YamlBudget {
            nodes: 1_000,
            depth: 16,
            aliases: 100,
        };
        for (text, setting) in [
            (
                big.as_str(),
                "--yaml-max-nodes (LOADFORGE_GATE_YAML_MAX_NODES)",
            ),
            (
                &nested(20),
                "--yaml-max-depth (LOADFORGE_GATE_YAML_MAX_DEPTH)",
            ),
            (
                &aliased,
                "--yaml-max-aliases (LOADFORGE_GATE_YAML_MAX_ALIASES)",
            ),
        ] {
            let e = from_str_with::<serde_json::Value>(text, &small).unwrap_err();
            let line = e.to_string();
            assert!(
                line.contains("the YAML ") && line.ends_with(setting),
                "{line}"
            );
            assert!(e.location().is_some(), "{line}");
        }
        let deeper = YamlBudget {
            depth: 600,
            ..YamlBudget::default()
        };
        assert!(from_str::<serde_json::Value>(&nested(500)).is_err());
        assert!(from_str_with::<serde_json::Value>(&nested(500), &deeper).is_ok());
    }

    /// Mappings nested `depth` deep, in block style.
    fn nested(depth: usize) -> String {
        let mut text = String::new();
        for i in 0..depth {
            text.push_str(&" ".repeat(2 * i));
            text.push_str("a:\n");
        }
        text.push_str(&" ".repeat(2 * depth));
        text.push_str("b: 1\n");
        text
    }

    /// A scenario of 50,000 lines, as a team with many endpoints writes one: some 300,000
    /// nodes, past serde-saphyr's default 250,000.
    fn fifty_thousand_lines() -> String {
        let mut text = String::from("defaults: {headers: {Accept: application/json}}\ntasks:\n");
        for i in 0..10_000 {
            text.push_str(&format!(
                "  - weight: {w}\n    request:\n      path: /api/items/{i}?fields=a,b\n      headers: {{X-Trace: t{i}, X-Client: web, X-Tenant: acme, X-Version: \"2\", X-Region: eu}}\n      check: {{status: [200, 201, 204], json_path: \"$.items[0].id\", body_contains: ok}}\n",
                w = i % 5 + 1
            ));
        }
        text
    }

    #[test]
    fn an_alias_bomb_fails_instead_of_filling_memory() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let r = from_str::<BTreeMap<String, serde_json::Value>>(&text);
        assert!(r.is_err(), "10^12 nodes must not be built");
    }
}
