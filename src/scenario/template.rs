//! `${...}` templating for paths, headers and bodies.
//!
//! ```text
//! ${name}                 a variable (from `variables:`, `extract:` or `set:`)
//! ${env.NAME}             an environment variable, resolved once at load time (error if unset)
//! ${env.NAME:-default}    ... with a default
//! ${random.int(1, 3)}     a random integer, both ends included
//! ${random.choice(list)}  a random element of a list variable
//! $${                     a literal `${`
//! ```
//!
//! Templates are parsed once when the scenario loads; rendering in the hot loop only walks parts.

use std::collections::HashMap;

use rand::Rng;

use crate::rng::Rng64;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    Var(String),
    RandomInt(i64, i64),
    RandomChoice(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The template as a name shows it: literals, `:var` and `:random` for expressions, and
    /// `${env.NAME}` for an environment variable, never its value (which may be a secret).
    shown: String,
    /// Some of the text came from `${env.NAME}`, or the template reads a secret variable (see
    /// `scenario/secrets.rs`): a header with this value is a credential, which a redirect does
    /// not carry to another origin.
    secret: bool,
}

/// Why a template cannot be rendered at run time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RenderError {
    Unset(String),
    NotAList(String),
}

impl RenderError {
    pub(crate) fn reason(&self) -> String {
        match self {
            RenderError::Unset(v) => {
                format!("variable `{v}` is not set (its extraction failed earlier)")
            }
            RenderError::NotAList(v) => format!("variable `{v}` is not a non-empty list"),
        }
    }
}

pub(crate) type Vars = HashMap<String, Value>;

impl Template {
    /// A fixed text, no placeholders.
    pub(crate) fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Lit(text.to_string())],
            shown: text.to_string(),
            secret: false,
        }
    }

    /// Parses `text`; `env` looks up environment variables (injected so tests need not mutate the
    /// process environment).
    pub(crate) fn parse(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut shown = String::new();
        let mut secret = false;
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            shown.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(r) = after.strip_prefix("$${") {
                lit.push_str("${");
                shown.push_str("${");
                rest = r;
            } else if let Some(r) = after.strip_prefix("${") {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
                let expr = r[..end].trim();
                let part = parse_expr(expr, env)?;
                secret |= expr.starts_with("env.");
                shown.push_str(&shown_expr(expr, &part));
                match part {
                    Part::Lit(s) => lit.push_str(&s),
                    part => {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(part);
                    }
                }
                rest = &r[end + 1..];
            } else {
                lit.push('$');
                shown.push('$');
                rest = &after[1..];
            }
        }
        lit.push_str(rest);
        shown.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            parts,
            shown,
            secret,
        })
    }

    /// Whether the value is a secret: some of its text comes from `${env.NAME}` (with or
    /// without a default, however spaced inside the braces), or it reads a secret variable.
    pub(crate) fn is_secret(&self) -> bool {
        self.secret
    }

    /// Marks the value a secret: it reads a variable that holds one.
    pub(crate) fn mark_secret(&mut self) {
        self.secret = true;
    }

    /// Variables this template reads, for load-time validation.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) | Part::RandomChoice(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// The text of a template without expressions.
    pub(crate) fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// The template text with expressions shown, for default request names: an environment
    /// variable appears as `${env.NAME}`, so a secret in it never reaches a report.
    pub(crate) fn literal_prefix(&self) -> String {
        self.shown.clone()
    }

    /// A template that is one single expression renders to a typed value (a number stays a
    /// number in a JSON body); anything else renders to a string.
    pub(crate) fn render_value(&self, vars: &Vars, rng: &mut Rng64) -> Result<Value, RenderError> {
        if let [single] = self.parts.as_slice() {
            if !matches!(single, Part::Lit(_)) {
                return render_part(single, vars, rng);
            }
        }
        self.render(vars, rng).map(Value::String)
    }

    pub(crate) fn render(&self, vars: &Vars, rng: &mut Rng64) -> Result<String, RenderError> {
        if let [Part::Lit(s)] = self.parts.as_slice() {
            return Ok(s.clone());
        }
        let mut out = String::new();
        for p in &self.parts {
            match render_part(p, vars, rng)? {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(out)
    }
}

fn render_part(part: &Part, vars: &Vars, rng: &mut Rng64) -> Result<Value, RenderError> {
    Ok(match part {
        Part::Lit(s) => Value::String(s.clone()),
        Part::Var(v) => vars
            .get(v)
            .cloned()
            .ok_or_else(|| RenderError::Unset(v.clone()))?,
        Part::RandomInt(a, b) => Value::from(rng.random_range(*a..=*b)),
        Part::RandomChoice(v) => match vars.get(v) {
            Some(Value::Array(items)) if !items.is_empty() => {
                items[rng.random_range(0..items.len())].clone()
            }
            Some(_) => return Err(RenderError::NotAList(v.clone())),
            None => return Err(RenderError::Unset(v.clone())),
        },
    })
}

/// How an expression appears in a name.
fn shown_expr(expr: &str, part: &Part) -> String {
    match part {
        _ if expr.starts_with("env.") => {
            let name = expr["env.".len()..].split(":-").next().unwrap_or_default();
            format!("${{env.{}}}", name.trim())
        }
        Part::Var(v) => format!(":{v}"),
        _ => ":random".into(),
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_expr(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Part, String> {
    if let Some(rest) = expr.strip_prefix("env.") {
        let (name, default) = match rest.split_once(":-") {
            Some((n, d)) => (n.trim(), Some(d)),
            None => (rest.trim(), None),
        };
        if !is_ident(name) {
            return Err(format!("`{name}` is not a valid environment variable name"));
        }
        return match (env(name), default) {
            (Some(v), _) => Ok(Part::Lit(v)),
            (None, Some(d)) => Ok(Part::Lit(d.to_string())),
            (None, None) => Err(format!(
                "environment variable `{name}` is not set and `${{env.{name}}}` has no default; set it or write `${{env.{name}:-default}}`"
            )),
        };
    }
    if let Some(args) = expr
        .strip_prefix("random.int(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (a, b) = args
            .split_once(',')
            .ok_or_else(|| format!("`random.int` needs two bounds: `{expr}`"))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{}` is not an integer in `{expr}`", s.trim()))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(format!(
                "`{expr}`: the lower bound is above the upper bound"
            ));
        }
        return Ok(Part::RandomInt(a, b));
    }
    if let Some(arg) = expr
        .strip_prefix("random.choice(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let arg = arg.trim();
        if !is_ident(arg) {
            return Err(format!(
                "`random.choice` takes a list variable name: `{expr}`"
            ));
        }
        return Ok(Part::RandomChoice(arg.to_string()));
    }
    if is_ident(expr) {
        return Ok(Part::Var(expr.to_string()));
    }
    Err(format!(
        "unknown expression `${{{expr}}}` (use a variable name, env.NAME, random.int(a, b) or random.choice(list))"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn env_defaults_resolve_at_parse_time() {
        let env = |n: &str| (n == "USER_NAME").then(|| "ada".to_string());
        let t = Template::parse("${env.USER_NAME}/${env.MISSING:-x:y}", &env).unwrap();
        assert!(t.is_static());
        let mut rng = Rng64::starting_at(1);
        assert_eq!(t.render(&Vars::new(), &mut rng).unwrap(), "ada/x:y");
    }

    #[test]
    fn a_template_knows_whether_its_text_came_from_the_environment() {
        let env = |n: &str| (n == "KEY").then(|| "v".to_string());
        for (text, from_env) in [
            ("Bearer ${env.KEY}", true),
            ("Bearer ${ env.KEY }", true),
            ("x-${  env.NOPE :-d }-y", true),
            ("${env.NOPE:-x}", true),
            ("Bearer ${token}", false),
            ("$${env.KEY}", false),
            ("plain", false),
        ] {
            let t = Template::parse(text, &env).unwrap();
            assert_eq!(t.is_secret(), from_env, "{text}");
        }
        assert!(!Template::literal("x").is_secret());
    }

    #[test]
    fn env_without_default_and_unset_is_an_error_naming_it() {
        let err = Template::parse("${env.API_TOKEN}", &no_env).unwrap_err();
        assert!(
            err.contains("API_TOKEN") && err.contains("not set"),
            "{err}"
        );
    }

    #[test]
    fn single_expression_keeps_its_type() {
        let t = Template::parse("${random.int(1, 3)}", &no_env).unwrap();
        let mut rng = Rng64::starting_at(7);
        for _ in 0..50 {
            let v = t.render_value(&Vars::new(), &mut rng).unwrap();
            let n = v.as_i64().unwrap();
            assert!((1..=3).contains(&n));
        }
    }

    #[test]
    fn choice_and_variables_render_into_strings() {
        let t = Template::parse("/p/${random.choice(ids)}?t=${token}&lit=$${x}", &no_env).unwrap();
        let mut vars = Vars::new();
        vars.insert("ids".into(), serde_json::json!([7]));
        vars.insert("token".into(), serde_json::json!("abc"));
        let mut rng = Rng64::starting_at(1);
        assert_eq!(t.render(&vars, &mut rng).unwrap(), "/p/7?t=abc&lit=${x}");
        vars.remove("token");
        assert_eq!(
            t.render(&vars, &mut rng).unwrap_err(),
            RenderError::Unset("token".into())
        );
    }

    #[test]
    fn bad_expressions_are_rejected() {
        for bad in [
            "${",
            "${random.int(3,1)}",
            "${random.int(a,1)}",
            "${1abc}",
            "${a b}",
        ] {
            assert!(Template::parse(bad, &no_env).is_err(), "{bad}");
        }
    }
}
