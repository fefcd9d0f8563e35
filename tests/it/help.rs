//! `--help` of the tool and of every subcommand, pinned: a flag, a variable, a default or a
//! sentence that changes shows up in review. Rendered in-process through clap's own `--help`
//! handling, at a fixed width; the current values of the variables are never shown, nor are
//! the values of variables that may carry a secret.

use std::process::Command;

use clap::CommandFactory;
use loadforge_gate::cli::Cli;

/// The width every snapshot is rendered at, whatever the terminal.
const WIDTH: usize = 100;

/// The command path of every subcommand, the tool itself first (`[]`), clap's own `help`
/// subcommand left out.
fn subcommand_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    out.push(prefix.to_vec());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        subcommand_paths(sub, &path, out);
    }
}

fn every_subcommand() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    subcommand_paths(&Cli::command(), &[], &mut paths);
    paths
}

/// clap reads each variable when the command is built and shows its value in `--help`: those
/// set in this process are hidden here, and their names returned, so the snapshot is the one
/// of a clean environment.
fn hide_values_set_here(cmd: clap::Command, hidden: &mut Vec<String>) -> clap::Command {
    let mut cmd = cmd.mut_args(|a| match a.get_env().map(|e| e.to_owned()) {
        Some(name) if !a.is_hide_env_values_set() && std::env::var_os(&name).is_some() => {
            hidden.push(name.to_string_lossy().into_owned());
            a.hide_env_values(true)
        }
        _ => a,
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |s| hide_values_set_here(s, hidden));
    }
    cmd
}

/// What `loadforge-gate <path> --help` prints.
fn long_help(path: &[String]) -> String {
    let mut hidden = Vec::new();
    let cmd = hide_values_set_here(Cli::command().term_width(WIDTH), &mut hidden);
    let argv = std::iter::once("loadforge-gate")
        .chain(path.iter().map(String::as_str))
        .chain(["--help"]);
    let err = cmd
        .try_get_matches_from(argv)
        .expect_err("--help ends the parse");
    assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{path:?}");
    let mut text = err.render().to_string();
    for name in hidden {
        text = text.replace(&format!("[env: {name}]"), &format!("[env: {name}=]"));
    }
    text
}

#[test]
fn every_subcommand_help_is_pinned() {
    let paths = every_subcommand();
    for sub in [
        "run",
        "demo",
        "sample-app",
        "compare",
        "report",
        "validate",
        "merge",
        "init",
        "executor",
    ] {
        assert!(paths.contains(&vec![sub.to_string()]), "{sub}: {paths:?}");
    }
    assert!(
        paths
            .iter()
            .filter(|p| p.first().is_some_and(|s| s == "executor"))
            .count()
            > 4,
        "the executor's stages: {paths:?}"
    );
    for path in paths {
        let name = if path.is_empty() {
            "loadforge-gate".to_string()
        } else {
            path.join("_")
        };
        insta::assert_snapshot!(name, long_help(&path));
    }
}

/// Words of the tool's own history (the seed it grew from, issue numbers) mean nothing to a
/// user reading `--help`.
#[test]
fn help_speaks_to_users() {
    for path in every_subcommand() {
        let text = long_help(&path);
        assert!(!text.to_lowercase().contains("seed"), "{path:?}:\n{text}");
        let issue = text
            .split(|c: char| c.is_whitespace() || c == '(')
            .find(|w| w.starts_with('#') && w.chars().nth(1).is_some_and(|c| c.is_ascii_digit()));
        assert_eq!(issue, None, "{path:?}:\n{text}");
    }
}

/// Variables whose value may hold a credential: the target's and LoadForge's URLs (credentials
/// in them are refused, and every message redacts them) and Locust's extra arguments (a header,
/// a password). `--help` names them but never shows their value; the tokens are no flag at all.
#[test]
fn help_never_shows_a_secret() {
    let cli = Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    for id in ["host", "loadforge_url", "locust_args", "k6_args"] {
        let arg = run.get_arguments().find(|a| a.get_id() == id).unwrap();
        assert!(arg.is_hide_env_values_set(), "{id}");
    }
    let canary = "c4n4ry-s3cret";
    for path in every_subcommand() {
        let out = Command::new(crate::harness::BIN)
            .args(&path)
            .arg("--help")
            .env("COLUMNS", WIDTH.to_string())
            .env(
                "LOADFORGE_GATE_HOST",
                format!("https://u:{canary}@h.example"),
            )
            .env(
                "LOADFORGE_GATE_LOADFORGE_URL",
                format!("https://u:{canary}@lf.example"),
            )
            .env(
                "LOADFORGE_GATE_LOCUST_ARGS",
                format!("--header=Authorization: {canary}"),
            )
            .env("LOADFORGE_GATE_GITLAB_TOKEN", canary)
            .env("LOADFORGE_API_TOKEN", canary)
            .env("CI_JOB_TOKEN", canary)
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Usage: loadforge-gate") && !text.contains(canary),
            "{path:?}:\n{text}"
        );
        if path == ["run"] {
            assert!(text.contains("[env: LOADFORGE_GATE_HOST]"), "{text}");
        }
    }
}
