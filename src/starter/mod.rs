//! What `loadforge-gate init` writes and prints for a project's first gate: a starter scenario
//! from `--host` and a few paths (each looked at on the host first), `loadforge-gate.yml` with
//! a merge-request smoke profile and a default-branch profile, and the include that fits the
//! project's `.gitlab-ci.yml`. `commands/init.rs` wires these together and talks to the user.

mod probe;
mod render;
mod workflow;

use std::path::PathBuf;

pub(crate) use probe::{check, Answer, Look};
pub(crate) use render::{config, include, scenario, CONFIG, PROFILES, SCENARIO};
pub(crate) use workflow::{read as read_workflow, Pipelines, Workflow, GITLAB_CI};

/// More paths than this belong in the scenario file itself, written by hand.
pub(crate) const MAX_PATHS: usize = 50;

/// Why `init` wrote nothing: always a usage error (exit 2), naming the file or flag to fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    /// A file `init` would write is already there.
    #[error("{} already exists; pass --force to overwrite it (nothing was written)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A `--path` that is not a path on the host.
    #[error("--path `{given}`: {why}")]
    Path {
        /// The value, as given.
        given: String,
        /// What is wrong with it, and the fix.
        why: &'static str,
    },
    /// More `--path` flags than a starter scenario takes.
    #[error("{0} --path flags: a starter scenario takes at most {MAX_PATHS}; add the others to the scenario file afterwards")]
    TooManyPaths(usize),
    /// The host given is not one the gate can use as written.
    #[error("--host: holds a control character; give the URL on one line")]
    HostText,
    /// A file could not be written.
    #[error("cannot write {}; check that --dir is a writable directory", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// One request of the starter scenario: `--path /api/health` or `--path "POST /login"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// Upper case: `GET` unless the flag named another.
    pub(crate) method: String,
    /// Starts with `/`; the scenario joins it to the host's path.
    pub(crate) path: String,
}

impl Request {
    /// `[METHOD] PATH`, as the `--path` flag takes it.
    pub(crate) fn parse(given: &str) -> Result<Request, InitError> {
        let bad = |why| InitError::Path {
            given: (given.chars().take(80))
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            why,
        };
        let text = given.trim();
        let (method, path) = match text.split_once(char::is_whitespace) {
            Some((m, rest)) if m.chars().all(|c| c.is_ascii_alphabetic()) => {
                (m.to_ascii_uppercase(), rest.trim())
            }
            _ => ("GET".to_string(), text),
        };
        if !path.starts_with('/') {
            return Err(bad("a path starts with `/` (e.g. /api/health), after a method if not GET (\"POST /login\")"));
        }
        if path.chars().any(char::is_control) {
            return Err(bad("holds a control character"));
        }
        if http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(bad("not an HTTP method before the path"));
        }
        Ok(Request {
            method,
            path: path.to_string(),
        })
    }

    /// `METHOD path`, as reports name it.
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_may_carry_a_method() {
        let r = Request::parse("/api/health").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/api/health"));
        let r = Request::parse("  post   /login ").unwrap();
        assert_eq!(r.name(), "POST /login");
        let r = Request::parse("/search?q=a b").unwrap();
        assert_eq!(r.path, "/search?q=a b");
        for bad in [
            "api/health",
            "",
            "POST",
            "GET /a\nb",
            "GE-T /a",
            "https://h/x",
        ] {
            let e = Request::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--path `"), "{bad}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
