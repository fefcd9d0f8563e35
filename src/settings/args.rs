//! The command line (flags and their `LOADFORGE_GATE_*` variables, as clap read them) as the
//! topmost [`Layer`]: the flags are already the layer's own structs, so only what the command
//! line says differently from a config file is done here (rule lists in one string, a switch
//! that is off, the CI variables that stand in for a flag).

use super::{invalid, Env, Layer, SettingsError};
use crate::cli::{JudgeArgs, LoadArgs, RunArgs};

/// A repeatable rule flag, with the names a user knows it by in each place.
struct ListFlag {
    flag: &'static str,
    env: &'static str,
    input: &'static str,
    example: &'static str,
}

const THRESHOLDS: ListFlag = ListFlag {
    flag: "--threshold",
    env: "LOADFORGE_GATE_THRESHOLD",
    input: "thresholds",
    example: r#"["p95<500ms", "error_rate<1%"]"#,
};

const REGRESSIONS: ListFlag = ListFlag {
    flag: "--regression",
    env: "LOADFORGE_GATE_REGRESSION",
    input: "regressions",
    example: r#"["p95 +20% +10ms"]"#,
};

/// Rules arrive as repeated flags, as `;`-separated text, or as an array input that the
/// component's template placed inside a longer string (a block scalar), which GitLab turns
/// into text with Ruby's `Array#to_s`, i.e. `Array#inspect`: `["p95<500ms", "error_rate<1%"]`
/// (gitlabhq `lib/gitlab/ci/config/interpolation/template.rb`, `block.value.to_s`). Behind the
/// `ci_text_interpolation` feature flag (`text_template.rb`) GitLab writes `to_json` instead,
/// and gitlab-ci-local writes `JSON.stringify`: [`parse_array_input`] reads all three. The array
/// is parsed whole before anything is split, so a `;` inside one of its rules stays there.
/// Blank entries are dropped; an empty result means "not given".
fn expand_list(values: &[String], list: &ListFlag) -> Result<Option<Vec<String>>, SettingsError> {
    let mut out = Vec::new();
    for v in values {
        let t = v.trim();
        if t.starts_with('[') {
            let items = parse_array_input(t).map_err(|e| array_error(list, t, &e))?;
            out.extend(items.into_iter().map(|i| i.trim().to_string()));
        } else {
            out.extend(t.split(';').map(|i| i.trim().to_string()));
        }
    }
    out.retain(|s| !s.is_empty());
    Ok((!out.is_empty()).then_some(out))
}

/// One line that names the input, its variable and the fix.
fn array_error(list: &ListFlag, text: &str, e: &ArrayInputError) -> SettingsError {
    let ListFlag {
        flag,
        env,
        input,
        example,
    } = *list;
    let message = match e {
        ArrayInputError::NotAString { index, element } => format!(
            "element {index} of the `{input}` input ({env}), `{}`, is not a string: array \
             inputs take strings only, so quote every rule, e.g. {input}: {example}",
            clip(element)
        ),
        ArrayInputError::Malformed(why) => format!(
            "`{}` ({env}, or the `{input}` input) looks like an array but is not one of \
             strings ({why}); write e.g. {input}: {example}, or {flag} once per rule",
            clip(text)
        ),
    };
    invalid(flag, message)
}

/// At most 60 characters of what the user wrote, for a one-line message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().nth(60).is_some() {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// Why a text that starts with `[` is not an array input of strings.
#[derive(Debug, PartialEq)]
enum ArrayInputError {
    /// An element is a number, `nil`/`null`, a boolean, a hash or a nested array (1-based).
    NotAString { index: usize, element: String },
    /// Not an array in any of the forms GitLab or gitlab-ci-local write.
    Malformed(String),
}

/// An array of strings as Ruby's `Array#inspect` or as JSON writes it. A string element is a
/// double-quoted string with the escapes of either: Ruby's `String#inspect` writes `\"`, `\\`,
/// `\#` (before `{`, `$` or `@`), `\n \r \t \f \v \b \a \e`, `\uXXXX` or `\u{X}` for other
/// unprintable characters and `\xHH` for bytes that are not UTF-8, and leaves printable
/// non-ASCII as it is; JSON adds `\/` and `\uXXXX` surrogate pairs (Rails' `to_json` writes
/// `<` as `\u003c`). Any other element is [`ArrayInputError::NotAString`]. No recursion and no
/// indexing: hostile text gets an error, never a panic.
fn parse_array_input(text: &str) -> Result<Vec<String>, ArrayInputError> {
    let malformed = |why: &str| ArrayInputError::Malformed(why.to_string());
    let mut chars = text.trim().chars().peekable();
    if chars.next() != Some('[') {
        return Err(malformed("no opening `[`"));
    }
    let skip_space = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    let mut items = Vec::new();
    skip_space(&mut chars);
    if chars.next_if_eq(&']').is_none() {
        loop {
            skip_space(&mut chars);
            match chars.peek() {
                Some('"') => {
                    chars.next();
                    items.push(quoted(&mut chars)?);
                }
                None => return Err(malformed("no closing `]`")),
                Some(',' | ']') => return Err(malformed("an empty element")),
                Some(_) => {
                    return Err(ArrayInputError::NotAString {
                        index: items.len() + 1,
                        element: bare_element(&mut chars),
                    })
                }
            }
            skip_space(&mut chars);
            match chars.next() {
                Some(',') => {}
                Some(']') => break,
                Some(c) => return Err(malformed(&format!("`{c}` where `,` or `]` belongs"))),
                None => return Err(malformed("no closing `]`")),
            }
        }
    }
    if chars.any(|c| !c.is_whitespace()) {
        return Err(malformed("text after the closing `]`"));
    }
    Ok(items)
}

/// The text of an element that is not a string, up to the `,` or `]` that ends it (nested
/// brackets, braces and quoted strings included), for the error message.
fn bare_element(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    while let Some(&c) = chars.peek() {
        if !in_string && depth == 0 && matches!(c, ',' | ']') {
            break;
        }
        chars.next();
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out.trim_end().to_string()
}

/// The rest of a double-quoted string, its opening quote already read.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, ArrayInputError> {
    let malformed = |why: String| ArrayInputError::Malformed(why);
    // Bytes, not chars: Ruby writes a byte that is not UTF-8 as `\xHH`.
    let mut out: Vec<u8> = Vec::new();
    let push = |out: &mut Vec<u8>, c: char| {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    };
    loop {
        let Some(c) = chars.next() else {
            return Err(malformed("a string with no closing `\"`".into()));
        };
        match c {
            '"' => break,
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err(malformed("a string that ends in `\\`".into()));
                };
                match e {
                    '"' | '\\' | '/' | '#' => push(&mut out, e),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'f' => out.push(0x0c),
                    'v' => out.push(0x0b),
                    'b' => out.push(0x08),
                    'a' => out.push(0x07),
                    'e' => out.push(0x1b),
                    'x' => out.push(hex_byte(chars)?),
                    'u' => push(&mut out, unicode_escape(chars)?),
                    other => return Err(malformed(format!("the unknown escape `\\{other}`"))),
                }
            }
            c => push(&mut out, c),
        }
    }
    String::from_utf8(out).map_err(|_| malformed("a string that is not UTF-8".into()))
}

/// Up to `max` hex digits (at least one) as a number.
fn hex_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, max: usize) -> Option<u32> {
    let mut value = 0u32;
    let mut n = 0;
    while n < max {
        let Some(d) = chars.peek().and_then(|c| c.to_digit(16)) else {
            break;
        };
        chars.next();
        value = value * 16 + d;
        n += 1;
    }
    (n > 0).then_some(value)
}

/// `\xHH`: exactly two hex digits.
fn hex_byte(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<u8, ArrayInputError> {
    let a = chars.next().and_then(|c| c.to_digit(16));
    let b = chars.next().and_then(|c| c.to_digit(16));
    match (a, b) {
        (Some(a), Some(b)) => Ok((a * 16 + b) as u8),
        _ => Err(ArrayInputError::Malformed(
            "a `\\x` escape without two hex digits".into(),
        )),
    }
}

/// After `\u`: Ruby's `{X}` (one to six hex digits) or four hex digits, a JSON surrogate pair
/// taking a second `\uXXXX`.
fn unicode_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<char, ArrayInputError> {
    let bad = || ArrayInputError::Malformed("a `\\u` escape that is not a character".into());
    let four = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v * 16 + chars.next().and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
        }
        Ok::<u32, ArrayInputError>(v)
    };
    let code = if chars.next_if_eq(&'{').is_some() {
        let v = hex_digits(chars, 6).ok_or_else(bad)?;
        chars.next_if_eq(&'}').ok_or_else(bad)?;
        v
    } else {
        let high = four(chars)?;
        if (0xD800..0xDC00).contains(&high) {
            if chars.next() != Some('\\') || chars.next() != Some('u') {
                return Err(bad());
            }
            let low = four(chars)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(bad());
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        }
    };
    char::from_u32(code).ok_or_else(bad)
}

/// The judging flags (shared by `run` and `merge`) as a layer: the rule lists expanded, a switch
/// left off counts as not given.
pub(super) fn judge_flags(a: &JudgeArgs) -> Result<Layer, SettingsError> {
    let mut judge = a.clone();
    judge.thresholds = expand_list(a.thresholds.as_deref().unwrap_or_default(), &THRESHOLDS)?;
    judge.regressions = expand_list(a.regressions.as_deref().unwrap_or_default(), &REGRESSIONS)?;
    judge.no_proxy = a.no_proxy.filter(|on| *on);
    Ok(Layer {
        load: LoadArgs::default(),
        judge,
    })
}

/// The load flags beside the judging ones. `TARGET_HOST` and `LOADFORGE_TEST_ID` (the variables
/// classic LoadForge pipelines set) stand in for an absent `--host` and `--loadforge-test-id`,
/// above the config file.
pub(super) fn run_flags(a: &RunArgs, env: Env<'_>) -> Result<Layer, SettingsError> {
    let mut load = a.load.clone();
    let locust_args: Vec<String> = (a.load.locust_args.iter().flatten())
        .filter(|x| !x.is_empty())
        .cloned()
        .collect();
    load.locust_args = (!locust_args.is_empty()).then_some(locust_args);
    k6_fallbacks(&mut load, env);
    load.loadforge_test_id = load
        .loadforge_test_id
        .or_else(|| env("LOADFORGE_TEST_ID").filter(|t| !t.trim().is_empty()));
    load.host = load.host.or_else(|| env("TARGET_HOST"));
    // The component's input is empty when no base is asked for.
    load.compare_host = load.compare_host.filter(|h| !h.trim().is_empty());
    load.until_decisive = load.until_decisive.filter(|d| !d.trim().is_empty());
    load.insecure = load.insecure.filter(|on| *on);
    // The component's number inputs cannot be empty: their default, 0, is "not set", so a
    // profile of the config file decides the load (GitLab sets every input's variable).
    load.users = load.users.filter(|u| *u != 0);
    load.spawn_rate = load.spawn_rate.filter(|r| *r != 0.0);
    load.run_time = load.run_time.filter(|t| !t.trim().is_empty());
    Ok(Layer {
        load,
        judge: judge_flags(&a.judge)?.judge,
    })
}

/// GitLab's Load-Performance-Testing template names the script in `K6_TEST_FILE` and passes
/// `K6_OPTIONS` after it, split at spaces by the shell (gitlabhq
/// `lib/gitlab/ci/templates/Verify/Load-Performance-Testing.gitlab-ci.yml`: `k6 run
/// $K6_TEST_FILE --summary-export=load-performance.json $K6_OPTIONS`): a pipeline that moves
/// to the component keeps both variables. Blank arguments are dropped.
fn k6_fallbacks(load: &mut LoadArgs, env: Env<'_>) {
    load.k6_script = load.k6_script.take().or_else(|| {
        env("K6_TEST_FILE")
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().into())
    });
    let given: Vec<String> = (load.k6_args.iter().flatten())
        .filter(|x| !x.is_empty())
        .cloned()
        .collect();
    let args = if given.is_empty() {
        env("K6_OPTIONS")
            .map(|o| o.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    } else {
        given
    };
    load.k6_args = (!args.is_empty()).then_some(args);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A pipeline that moves from GitLab's Load-Performance-Testing template keeps its two
    /// variables; the gate's own flags and variables win over them.
    #[test]
    fn the_load_performance_templates_variables_stand_in_for_the_k6_flags() {
        let env = |k: &str| match k {
            "K6_TEST_FILE" => Some(" perf/load.js ".to_string()),
            "K6_OPTIONS" => Some(" --vus 5   --tag team=shop ".to_string()),
            _ => None,
        };
        let mut load = LoadArgs::default();
        k6_fallbacks(&mut load, &env);
        assert_eq!(load.k6_script, Some("perf/load.js".into()));
        assert_eq!(
            load.k6_args,
            Some(vec![
                "--vus".into(),
                "5".into(),
                "--tag".into(),
                "team=shop".into()
            ])
        );
        let mut given = LoadArgs {
            k6_script: Some("own.js".into()),
            k6_args: Some(vec![String::new(), "--quiet".into()]),
            ..LoadArgs::default()
        };
        k6_fallbacks(&mut given, &env);
        assert_eq!(given.k6_script, Some("own.js".into()));
        assert_eq!(given.k6_args, Some(vec!["--quiet".into()]));
        let mut none = LoadArgs::default();
        k6_fallbacks(&mut none, &|_| None);
        assert_eq!((none.k6_script, none.k6_args), (None, None));
    }

    fn one(text: &str) -> Result<Option<Vec<String>>, SettingsError> {
        expand_list(&[text.to_string()], &THRESHOLDS)
    }

    fn items(text: &str) -> Vec<String> {
        parse_array_input(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    /// What GitLab writes for `thresholds: ["p95<500ms", "error_rate<1%"]` (Array#inspect plus
    /// the block scalar's newline), and what gitlab-ci-local and `to_json` write.
    #[test]
    fn ruby_inspect_and_json_forms_of_the_same_array_read_alike() {
        let want = Some(vec!["p95<500ms".to_string(), "error_rate<1%".to_string()]);
        for text in [
            "[\"p95<500ms\", \"error_rate<1%\"]\n",
            "[\"p95<500ms\",\"error_rate<1%\"]",
            // Rails' to_json escapes `<` (ci_text_interpolation writes to_json).
            "[\"p95\\u003c500ms\",\"error_rate\\u003c1%\"]",
            "  [ \"p95<500ms\" ,\n \"error_rate<1%\" ]  ",
        ] {
            assert_eq!(one(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn a_quote_inside_an_element() {
        // Ruby: ["GET /a\"b:p95<1s"].to_s
        assert_eq!(
            items(r#"["GET /a\"b:p95<1s", "error_rate<1%"]"#),
            ["GET /a\"b:p95<1s", "error_rate<1%"]
        );
    }

    /// Ruby escapes `#` before `{`, `$` and `@` (it would start an interpolation in a Ruby
    /// literal), which JSON does not allow: the case that made the JSON-only reader fail.
    #[test]
    fn a_ruby_interpolation_marker_inside_an_element() {
        assert_eq!(
            items(r#"["GET /api/\#{id}:p95<1s", "x \#$y \#@z #plain"]"#),
            ["GET /api/#{id}:p95<1s", "x #$y #@z #plain"]
        );
        assert_eq!(
            one("[\"GET /api/\\#{id}:p95<1s\"]\n").unwrap(),
            Some(vec!["GET /api/#{id}:p95<1s".to_string()])
        );
    }

    #[test]
    fn a_backslash_inside_an_element() {
        assert_eq!(items(r#"["GET /a\\b:p95<1s"]"#), ["GET /a\\b:p95<1s"]);
        assert_eq!(items(r#"["a\/b"]"#), ["a/b"], "JSON's escaped slash");
    }

    #[test]
    fn control_and_non_ascii_characters_as_ruby_writes_them() {
        assert_eq!(
            items(r#"["a\tb\nc\rd\fe\vf\bg\ah\ei\u0000j\u007Fk\u{E0001}"]"#),
            ["a\tb\nc\rd\x0ce\x0bf\x08g\x07h\x1bi\0j\x7fk\u{E0001}"]
        );
        assert_eq!(
            items(r#"["GET /café/日本:p95<1s 😀"]"#),
            ["GET /café/日本:p95<1s 😀"]
        );
        assert_eq!(
            items(r#"["\ud83d\ude00"]"#),
            ["😀"],
            "a JSON surrogate pair"
        );
        assert_eq!(
            items(r#"["caf\xC3\xA9"]"#),
            ["café"],
            "bytes that make UTF-8"
        );
    }

    #[test]
    fn a_semicolon_inside_an_element_stays_there() {
        assert_eq!(
            one(r#"["GET /a;b:p95<1s"]"#).unwrap(),
            Some(vec!["GET /a;b:p95<1s".to_string()])
        );
        assert_eq!(
            one("p95<1s; error_rate<1%").unwrap(),
            Some(vec!["p95<1s".to_string(), "error_rate<1%".to_string()])
        );
    }

    #[test]
    fn an_empty_array_is_not_given() {
        assert_eq!(one("[]\n").unwrap(), None);
        assert_eq!(one(" [ ] ").unwrap(), None);
        assert_eq!(one(r#"["", " "]"#).unwrap(), None);
    }

    /// `thresholds: [500]` or `[p95<500ms, 1]`: GitLab accepts any array, Ruby writes the number
    /// bare. One line naming the input, its variable and the fix.
    #[test]
    fn a_number_element_is_a_one_line_error_naming_the_input() {
        assert_eq!(
            parse_array_input(r#"["p95<500ms", 500]"#),
            Err(ArrayInputError::NotAString {
                index: 2,
                element: "500".into()
            })
        );
        let message = one("[\"p95<500ms\", 500]\n").unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        for says in [
            "--threshold",
            "element 2",
            "`thresholds` input",
            "LOADFORGE_GATE_THRESHOLD",
            "`500`",
            "not a string",
            "quote every rule",
        ] {
            assert!(message.contains(says), "{says}: {message}");
        }
        let message = expand_list(&["[1.5]".into()], &REGRESSIONS)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("--regression:") && message.contains("`regressions` input"),
            "{message}"
        );
    }

    #[test]
    fn other_non_string_elements_are_named_too() {
        for (text, index, element) in [
            ("[nil]", 1, "nil"),
            ("[null]", 1, "null"),
            (r#"["a", true]"#, 2, "true"),
            (
                r#"[{"a" => 1, "b" => [2, 3]}, "x"]"#,
                1,
                r#"{"a" => 1, "b" => [2, 3]}"#,
            ),
            (r#"[["a", "b"]]"#, 1, r#"["a", "b"]"#),
            ("[p95<500ms]", 1, "p95<500ms"),
        ] {
            assert_eq!(
                parse_array_input(text),
                Err(ArrayInputError::NotAString {
                    index,
                    element: element.into()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_arrays_are_errors() {
        for text in [
            "[",
            r#"["a""#,
            r#"["a","#,
            r#"["a",]"#,
            r#"[,"a"]"#,
            r#"["a" "b"]"#,
            r#"["a"] and more"#,
            r#"["a\q"]"#,
            r#"["a\"#,
            r#"["\u{110000}"]"#,
            r#"["\u{}"]"#,
            r#"["\uD800"]"#,
            r#"["\ud83dx"]"#,
            r#"["\x4"]"#,
            r#"["\xFF"]"#,
        ] {
            assert!(
                matches!(parse_array_input(text), Err(ArrayInputError::Malformed(_))),
                "{text}: {:?}",
                parse_array_input(text)
            );
            let message = one(text).unwrap_err().to_string();
            assert!(
                message.contains("LOADFORGE_GATE_THRESHOLD") && !message.contains('\n'),
                "{message}"
            );
        }
    }

    fn array_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("[".to_string()),
            Just("]".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just(", ".to_string()),
            Just("\\u".to_string()),
            Just("\\u{".to_string()),
            Just("\\x".to_string()),
            Just("\\#{".to_string()),
            Just("nil".to_string()),
            "[0-9a-fA-F{}]{1,4}",
            ".{0,3}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        /// Whatever a variable holds, an answer and never a panic; an error is one line.
        #[test]
        fn hostile_array_text_never_panics(text in array_like()) {
            let _ = parse_array_input(&text);
            if let Err(e) = one(&text) {
                prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}
