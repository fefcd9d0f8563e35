//! Which header values are secrets. A header whose value comes from `${env.NAME}` is a
//! credential that a redirect must not carry to another origin; so is one that reads a secret
//! variable: one a `set:` step filled from the environment (`set: {key: "${ env.API_KEY }"}`,
//! then `X-Api-Key: "${key}"`), or an extracted one marked secret (`secret: true`, or by
//! default a name that looks like a credential's: `token`, `session_id`), however many `set:`
//! steps the value passed through. Whether a `set:` value reads the environment is the template
//! reader's own answer ([`super::Template::is_secret`]), so no spelling slips past it.

use std::collections::HashSet;

use super::{Scenario, Step, Template};

/// One variable a step fills (`set:` or `extract:`): its name, the variables its value reads,
/// and whether the value is a secret of its own (it reads the environment, or it was
/// extracted as a secret).
#[derive(Debug)]
pub(super) struct SetSource {
    pub(super) name: String,
    pub(super) reads: Vec<String>,
    pub(super) secret: bool,
}

/// Whether an extracted variable is a secret: as the scenario says, else by its name.
pub(super) fn extracted_is_secret(var: &str, said: Option<bool>) -> bool {
    said.unwrap_or_else(|| crate::secret::looks_like_credential(var))
}

/// The variables that hold a secret: a secret of their own, or filled from another such
/// variable (to a fixed point, whatever the order of the steps).
fn secret_variables(sets: &[SetSource]) -> HashSet<&str> {
    let mut secret: HashSet<&str> = HashSet::new();
    loop {
        let before = secret.len();
        for s in sets {
            if s.secret || s.reads.iter().any(|r| secret.contains(r.as_str())) {
                secret.insert(s.name.as_str());
            }
        }
        if secret.len() == before {
            return secret;
        }
    }
}

/// Marks every header template of `scenario` that reads a secret variable as a secret, and
/// every request whose body reads one as carrying a secret.
pub(super) fn mark_secret_headers(scenario: &mut Scenario, sets: &[SetSource]) {
    let secret = secret_variables(sets);
    if secret.is_empty() {
        return;
    }
    let mark = |headers: &mut Vec<(String, Template)>| {
        for (_, t) in headers.iter_mut() {
            if t.variables().any(|v| secret.contains(v)) {
                t.mark_secret();
            }
        }
    };
    mark(&mut scenario.default_headers);
    let tasks = scenario.tasks.iter_mut().flat_map(|t| t.steps.iter_mut());
    for step in scenario.on_start.iter_mut().chain(tasks) {
        match step {
            Step::Request(r) => {
                mark(&mut r.headers);
                let reads_secret = r
                    .body
                    .templates()
                    .any(|t| t.variables().any(|v| secret.contains(v)));
                r.secret_body |= reads_secret;
            }
            Step::SetHeaders(h) => mark(h),
            Step::Sleep(_) | Step::Set(_) | Step::SetCookies(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, reads: &[&str], secret: bool) -> SetSource {
        SetSource {
            name: name.into(),
            reads: reads.iter().map(|r| r.to_string()).collect(),
            secret,
        }
    }

    #[test]
    fn a_secret_passes_through_set_steps_in_any_order() {
        let sets = [
            set("header_value", &["key"], false),
            set("key", &["raw"], false),
            set("raw", &[], true),
            set("page", &["n"], false),
        ];
        let secret = secret_variables(&sets);
        assert_eq!(
            secret,
            ["header_value", "key", "raw"]
                .into_iter()
                .collect::<HashSet<_>>()
        );
    }
}
