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

/// The parser's settings: YAML 1.2 booleans (`yes` and `on` stay strings, as in GitLab's
/// own YAML and as `serde_yaml` read them), an empty or `~` value read as text where text is
/// expected (`headers: {X-Debug: }` is an empty header, as `serde_yaml` read it; an optional
/// setting left empty is still unset), duplicate keys refused, and no snippet: errors are one
/// line, the caller names the file.
fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.null_as_string = true;
    o.with_snippet = false;
    o
}

/// `text` as a `T`.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let path = RefCell::new(String::new());
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            *path.borrow_mut() = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let message = tidy(&e.without_snippet().to_string());
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
