//! What a k6 script says about itself before it runs, from `k6 inspect` (k6 evaluates the
//! script's init code and prints its `options` as JSON): whether it sets its own load, its
//! thresholds, its system tags. A script that does not load is found here, before any load,
//! with k6's own message.

use std::{
    io::Read,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde::Deserialize;
use serde_json::Value;

use super::{child_env, last_message, not_installed, EngineError};
use crate::duration::parse_duration;

/// What the gate needs of a script's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScriptOptions {
    /// The script's own load options (`vus`, `duration`, `iterations`, `stages`, `scenarios`)
    /// as one JSON text, when it sets any: then it owns its load.
    pub(crate) own_load: Option<String>,
    /// The longest the script's own load runs, graceful stops included (k6's
    /// `totalDuration`); known when it owns its load.
    pub(crate) total_duration: Option<Duration>,
    /// The most virtual users the script's own load runs.
    pub(crate) max_vus: Option<u32>,
    /// `metric: expression` for each of the script's thresholds.
    pub(crate) thresholds: Vec<String>,
    /// The script's own `systemTags`, when it sets them.
    pub(crate) system_tags: Option<Vec<String>>,
}

/// The longest `k6 inspect` may take: it only evaluates the script's init code.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// The most output of `k6 inspect` read.
const MAX_INSPECT_BYTES: usize = 4 << 20;

/// The load options that make a script own its load.
const LOAD_KEYS: [&str; 5] = ["vus", "duration", "iterations", "stages", "scenarios"];

#[derive(Deserialize)]
struct Requirements {
    #[serde(rename = "totalDuration")]
    total_duration: Option<String>,
    #[serde(rename = "maxVUs")]
    max_vus: Option<u32>,
}

/// Runs `k6 inspect` on `script` (and, when the script owns its load, once more with
/// `--execution-requirements` for its length and users).
pub(crate) fn inspect(bin: &Path, script: &Path, host: &str) -> Result<ScriptOptions, EngineError> {
    let options = run_inspect(bin, script, host, false)?;
    let mut out = read_options(&options).ok_or_else(|| unreadable(script))?;
    if out.own_load.is_some() {
        let req = run_inspect(bin, script, host, true)?;
        let req: Requirements = serde_json::from_value(req).map_err(|_| unreadable(script))?;
        out.total_duration = req
            .total_duration
            .as_deref()
            .and_then(|d| parse_duration(d).ok());
        out.max_vus = req.max_vus;
    }
    Ok(out)
}

fn unreadable(script: &Path) -> EngineError {
    EngineError::Crashed {
        message: format!(
            "`k6 inspect {}` printed options the gate cannot read; check the k6 version (1.x is supported)",
            script.display()
        ),
        partial: None,
    }
}

/// The options of `k6 inspect`'s JSON; `None` when it is not an object.
pub(crate) fn read_options(v: &Value) -> Option<ScriptOptions> {
    let o = v.as_object()?;
    let load: serde_json::Map<String, Value> = LOAD_KEYS
        .iter()
        .filter_map(|k| {
            o.get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    let thresholds = match o.get("thresholds") {
        Some(Value::Object(t)) => t
            .iter()
            .flat_map(|(metric, exprs)| {
                let exprs = exprs.as_array().cloned().unwrap_or_default();
                exprs.into_iter().filter_map(move |e| {
                    // A threshold is a string, or `{threshold, abortOnFail, ...}`.
                    let text = e
                        .as_str()
                        .or_else(|| e.get("threshold").and_then(Value::as_str))?
                        .to_string();
                    Some(format!("{metric}: {text}"))
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let system_tags = o.get("systemTags").and_then(Value::as_array).map(|tags| {
        tags.iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    });
    Some(ScriptOptions {
        own_load: (!load.is_empty()).then(|| Value::Object(load).to_string()),
        total_duration: None,
        max_vus: None,
        thresholds,
        system_tags,
    })
}

fn run_inspect(
    bin: &Path,
    script: &Path,
    host: &str,
    requirements: bool,
) -> Result<Value, EngineError> {
    let mut cmd = Command::new(bin);
    cmd.arg("inspect");
    if requirements {
        cmd.arg("--execution-requirements");
    }
    cmd.args(["--env".into(), format!("TARGET_HOST={host}")])
        .arg(script);
    let out = capture(cmd, MAX_INSPECT_BYTES, INSPECT_TIMEOUT).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_installed(bin),
        _ => EngineError::Setup {
            action: format!("start `{} inspect`", bin.display()),
            source: e.into(),
        },
    })?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status {
        Some(s) if s.success() => {
            serde_json::from_slice(&out.stdout).map_err(|_| unreadable(script))
        }
        Some(s) => Err(EngineError::Crashed {
            message: format!(
                "k6 cannot load {} (exit {}): {}",
                script.display(),
                s.code().map_or_else(|| "by a signal".into(), |c| c.to_string()),
                last_message(&err)
            ),
            partial: None,
        }),
        None => Err(EngineError::Crashed {
            message: format!(
                "`k6 inspect {}` did not finish within {}s; does the script's init code wait for something?",
                script.display(),
                INSPECT_TIMEOUT.as_secs()
            ),
            partial: None,
        }),
    }
}

/// What a short k6 command left: its exit (`None`: killed at its deadline) and the first
/// bytes of its output.
struct Captured {
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `cmd` in k6's clean environment, reading at most `cap` bytes of each output and
/// killing it at `timeout`.
fn capture(mut cmd: Command, cap: usize, timeout: Duration) -> std::io::Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    child_env(&mut cmd);
    let mut child = cmd.spawn()?;
    let capped = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(cap as u64).read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = capped(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = capped(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Ok(Captured {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The longest `k6 version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of `k6 version`'s output read: its first line is all the gate wants.
const MAX_VERSION_BYTES: usize = 4096;

/// k6's version (`v1.1.0`) from `k6 version`, for the load fingerprint: another k6 is
/// another load generator. Its output is outside text: only a first line of the form
/// `k6 VERSION ...` with a well-formed version is believed; anything else (a failure, a
/// timeout, an odd build) is `None`, which the fingerprint records as unknown.
pub(crate) fn version(bin: &Path) -> Option<String> {
    let mut cmd = Command::new(bin);
    cmd.arg("version");
    let out = capture(cmd, MAX_VERSION_BYTES, VERSION_TIMEOUT).ok()?;
    if !out.status.is_some_and(|s| s.success()) {
        return None;
    }
    read_version(&out.stdout)
}

/// The version of `k6 version`'s first line (`k6 v1.1.0 (commit/0e3fb953be, go1.24.4,
/// linux/amd64)`).
fn read_version(stdout: &[u8]) -> Option<String> {
    let first = stdout.split(|b| *b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?;
    let mut words = first.split_ascii_whitespace();
    (words.next()? == "k6").then_some(())?;
    let version = words.next()?;
    crate::stats::is_engine_version(version).then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_script_without_load_options_leaves_the_load_to_the_flags() {
        let o = read_options(&json!({
            "vus": null, "duration": null, "iterations": null, "stages": null, "scenarios": null,
            "thresholds": {"http_req_duration": ["p(95)<500"], "checks": [{"threshold": "rate>0.9", "abortOnFail": true}]},
            "systemTags": null
        }))
        .unwrap();
        assert_eq!(o.own_load, None);
        assert_eq!(
            o.thresholds,
            ["http_req_duration: p(95)<500", "checks: rate>0.9"]
        );
        assert_eq!(o.system_tags, None);
    }

    #[test]
    fn a_script_with_scenarios_or_stages_owns_its_load() {
        let o = read_options(&json!({
            "vus": null, "scenarios": {"a": {"executor": "constant-vus", "vus": 2, "duration": "1s"}},
            "systemTags": ["name", "status"]
        }))
        .unwrap();
        assert_eq!(
            o.own_load.as_deref(),
            Some(r#"{"scenarios":{"a":{"executor":"constant-vus","vus":2,"duration":"1s"}}}"#)
        );
        assert_eq!(o.system_tags, Some(vec!["name".into(), "status".into()]));
        let staged = read_options(&json!({"stages": [{"duration": "1m", "target": 10}]})).unwrap();
        assert!(staged.own_load.is_some());
        assert_eq!(read_options(&json!([1])), None);
    }

    /// Only `k6 VERSION` on the first line is believed, the version well-formed.
    #[test]
    fn the_version_is_the_first_lines_second_word() {
        let v = |s: &str| read_version(s.as_bytes());
        assert_eq!(
            v("k6 v1.1.0 (commit/0e3fb953be, go1.24.4, linux/amd64)\n").as_deref(),
            Some("v1.1.0")
        );
        assert_eq!(
            v("k6 v1.2.0-rc.1 (go1.24.4)\nExtensions:\n  xk6-foo\n").as_deref(),
            Some("v1.2.0-rc.1")
        );
        for bad in [
            "",
            "\nk6 v1.1.0",
            "locust 2.0",
            "k6",
            "k6 v1.1.0\u{7}bell",
            "k6 \u{1b}[31mv1",
        ] {
            assert_eq!(v(bad), None, "{bad:?}");
        }
        assert_eq!(read_version(b"k6 v1\xff"), None);
        let long = format!("k6 v{}", "1".repeat(100));
        assert_eq!(v(&long), None);
    }
}
