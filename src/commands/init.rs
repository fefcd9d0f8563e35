//! `init`: a project's first gate in one command that asks nothing. It checks each starter
//! path on the host, writes the starter scenario and `loadforge-gate.yml` (both read back by
//! the gate's own readers first, so they pass `validate`), and prints the include that fits
//! the project's `.gitlab-ci.yml` and what to commit. It never edits `.gitlab-ci.yml`: that
//! file is the team's, and a pasted snippet is easier to review than a rewritten file.

use std::path::{Path, PathBuf};

use url::Url;

use crate::{
    cli::{InitArgs, InitPipelinesArg},
    error::{Error, ExitStatus},
    scenario::Scenario,
    settings::{self, ConfigFile, SettingsError},
    starter::{self, Answer, InitError, Look, Pipelines, Request, Workflow},
    tls::ClientNet,
};

use super::process_env;

/// `println!` that gives up quietly when stdout is gone (`init ... | head`): what `init` prints
/// is advice, and the files are written whatever becomes of it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`say!`] for a text that ends its own lines.
fn say_raw(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub(crate) fn execute(args: &InitArgs) -> Result<ExitStatus, Error> {
    let host = Host::read(args.host.as_deref())?;
    let requests = requests(&args.paths)?;
    let files = [starter::SCENARIO, starter::CONFIG].map(|f| in_project(&args.dir, f));
    if !args.force {
        if let Some(path) = files.iter().find(|p| p.exists() || p.is_symlink()) {
            return Err(InitError::Exists { path: path.clone() }.into());
        }
    }
    let workflow = starter::read_workflow(&args.dir);
    if let Some(warning) = &workflow.warning {
        eprintln!("loadforge-gate: warning: {warning}");
    }
    let checked = match &host.url {
        Some(url) => starter::check(url, &requests, &client_net()),
        None => Look::NotChecked("the host holds a CI variable, which only CI fills in".into()),
    };
    print_checks(&host.text, &requests, &checked);
    let answers = match &checked {
        Look::Answers(answers) => answers.as_slice(),
        _ => &[],
    };
    let scenario = starter::scenario(&host.text, &requests, answers);
    let config = starter::config(host.url.is_some().then_some(host.text.as_str()));
    read_back(&scenario, &config, &args.dir)?;
    write(&files[0], &scenario, args.force)?;
    write(&files[1], &config, args.force)?;
    let pipelines = match args.pipelines {
        Some(InitPipelinesArg::Branch) => Pipelines::Branch,
        Some(InitPipelinesArg::MergeRequest) => Pipelines::MergeRequest,
        None => workflow.pipelines,
    };
    print_written(&args.dir, requests.len());
    print_include(&host.text, pipelines, args.pipelines.is_some(), &workflow);
    print_next(&args.dir, &host, answers.iter().any(Answer::flagged));
    Ok(ExitStatus::Passed)
}

/// The target as the user wrote it, and as a URL when it is one that can be tried now.
struct Host {
    /// Trimmed, as given: it goes into the include and the config file.
    text: String,
    /// `None` when it holds a CI variable (`$CI_COMMIT_REF_SLUG`), which only CI fills in.
    url: Option<Url>,
}

impl Host {
    /// `--host` (or its variable), else `TARGET_HOST`; checked as `run` checks it.
    fn read(flag: Option<&str>) -> Result<Host, Error> {
        let text = flag
            .map(str::to_string)
            .or_else(|| process_env("TARGET_HOST"))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or(SettingsError::Missing(
                "--host",
                "pass --host URL or set TARGET_HOST",
            ))?;
        if text.chars().any(char::is_control) {
            return Err(InitError::HostText.into());
        }
        let url = settings::parse_host(&text);
        if !text.contains('$') {
            return Ok(Host {
                url: Some(url?),
                text,
            });
        }
        // A URL around a variable is still checked for its shape and credentials; a bare
        // variable (`$REVIEW_URL`) is taken as it is.
        if text.starts_with("http://") || text.starts_with("https://") {
            url?;
        }
        Ok(Host { url: None, text })
    }
}

/// The `--path` flags as requests, duplicates dropped; `/` when there are none.
fn requests(paths: &[String]) -> Result<Vec<Request>, InitError> {
    if paths.len() > starter::MAX_PATHS {
        return Err(InitError::TooManyPaths(paths.len()));
    }
    let mut out: Vec<Request> = Vec::new();
    for p in paths {
        let r = Request::parse(p)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        out.push(Request::parse("/")?);
    }
    Ok(out)
}

/// The trust the API clients use, for a target: the bundled and system roots, and
/// `SSL_CERT_FILE` when it is set.
fn client_net() -> ClientNet {
    ClientNet {
        ca_files: (process_env("SSL_CERT_FILE").filter(|p| !p.trim().is_empty()))
            .map(|p| ("SSL_CERT_FILE", PathBuf::from(p)))
            .into_iter()
            .collect(),
        no_proxy: false,
    }
}

/// Each path's answer, the flagged ones marked; an unreachable host is said once.
fn print_checks(host: &str, requests: &[Request], checked: &Look) {
    match checked {
        Look::Answers(answers) => {
            say!("Checked each path on {host}:");
            let width = requests.iter().map(|r| r.name().len()).max().unwrap_or(0);
            for (r, a) in requests.iter().zip(answers) {
                let mark = match a {
                    a if a.flagged() => "FLAGGED",
                    Answer::NotSent => "-",
                    _ => "ok",
                };
                say!("  {mark:<7}  {:<width$}  {}", r.name(), a.words());
            }
        }
        Look::Unreachable(why) => say!(
            "{host} did not answer ({why}): the paths were not checked; the files are written all the same"
        ),
        Look::NotChecked(why) => say!("The paths were not checked: {why}."),
    }
}

/// Reads both texts back with the gate's own readers (as `validate` and `run` will), so a
/// file `init` writes is never one the gate refuses.
fn read_back(scenario: &str, config: &str, dir: &Path) -> Result<(), Error> {
    Scenario::parse(scenario, Path::new(starter::SCENARIO), &process_env)?;
    let file = ConfigFile::parse_with(
        config,
        &dir.join(starter::CONFIG),
        &crate::yaml::YamlBudget::default(),
    )?;
    for p in starter::PROFILES {
        file.layer(Some(p.name))?;
    }
    Ok(())
}

/// Writes `text` to `path`, its folder made first; without `force`, a file that appeared since
/// the check is still never overwritten.
fn write(path: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let failed = |source| InitError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => InitError::Exists {
            path: path.to_path_buf(),
        },
        _ => failed(e),
    })?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)
}

fn print_written(dir: &Path, requests: usize) {
    let profiles: Vec<&str> = starter::PROFILES.iter().map(|p| p.name).collect();
    say!(
        "\nWrote {} ({requests} request{}) and {} (profiles {}){}.",
        starter::SCENARIO,
        if requests == 1 { "" } else { "s" },
        starter::CONFIG,
        profiles.join(", "),
        in_dir(dir)
    );
}

/// Why the include says what it says, then the include.
fn print_include(host: &str, pipelines: Pipelines, forced: bool, workflow: &Workflow) {
    let input = pipelines.input();
    if forced {
        say!("\n--pipelines {input}: the include joins {input} pipelines.");
    } else {
        say!(
            "\nDoes your project run merge-request pipelines? {}: {}, so the include says `pipelines: {input}`.",
            if pipelines == Pipelines::MergeRequest { "Yes" } else { "No" },
            workflow.why
        );
    }
    let stage = workflow.stage();
    match &stage {
        Some((name, why)) => say!("The gates run in stage `{name}`: {why}."),
        None => say!(
            "The gates run in stage `test`, the component's default: they measure what is deployed when they run, so give them a `stage:` after your deploy when it comes later."
        ),
    }
    say!("\nAdd this to {}:\n", starter::GITLAB_CI);
    say_raw(&starter::include(
        host,
        pipelines,
        stage.as_ref().map(|s| s.0.as_str()),
    ));
}

/// What to do next, as commands to copy.
fn print_next(dir: &Path, host: &Host, flagged: bool) {
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", shell_quoted(&dir.display().to_string()))
    };
    let try_host = if host.url.is_some() {
        ""
    } else {
        " --host URL"
    };
    let mut steps = vec![format!(
        "Paste the include above into {}{}.",
        starter::GITLAB_CI,
        if dir.join(starter::GITLAB_CI).exists() {
            ""
        } else {
            " (a new file)"
        }
    )];
    if flagged {
        steps.push(format!(
            "Fix or remove the FLAGGED paths in {}: every request to them fails, and the gate with them.",
            starter::SCENARIO
        ));
    }
    steps.extend([
        format!("Try it here: {cd}loadforge-gate run --profile {}{try_host}", starter::PROFILES[0].name),
        "For the merge-request comment, add the CI/CD variable LOADFORGE_GATE_GITLAB_TOKEN (Settings > CI/CD > Variables): a project access token with the api scope and the Reporter role, masked and not protected. Without it the gate still judges and reports.".into(),
        format!(
            "Commit: {cd}git add {} {} {} && git commit -m \"Add a performance gate\"",
            starter::SCENARIO,
            starter::CONFIG,
            starter::GITLAB_CI
        ),
    ]);
    say!("\nNext:");
    for (i, step) in steps.iter().enumerate() {
        say!("  {}. {step}", i + 1);
    }
    say!("The default branch's first pipeline starts the history; merge requests are compared with it from then on.");
}

/// `name` in the project: as it is in the current directory, else under `dir`.
fn in_project(dir: &Path, name: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}

/// ` in DIR` when the files are not in the current directory.
fn in_dir(dir: &Path) -> String {
    if dir == Path::new(".") {
        String::new()
    } else {
        format!(" in {}", dir.display())
    }
}

/// `s` as one shell word.
fn shell_quoted(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
