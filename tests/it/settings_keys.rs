//! One list of settings, several places that name them. The config keys are the flags' own
//! fields (`loadforge_gate::settings::config_keys`); the documentation's list of keys and of
//! job-only flags (in README.md or docs/*.md, wherever it is), component.yml's inputs and the
//! templates' variables must name exactly those: every key, and nothing that does not exist.

use std::collections::BTreeSet;

use clap::CommandFactory;
use loadforge_gate::{cli::Cli, settings::config_keys};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A flag of `run`: clap's id (the field's name), its long name and its variable.
#[derive(Debug, Clone)]
struct Flag {
    id: String,
    long: String,
    env: Option<String>,
}

fn run_flags() -> Vec<Flag> {
    let cli = Cli::command();
    let run = cli.find_subcommand("run").expect("a run subcommand");
    run.get_arguments()
        .filter_map(|a| {
            Some(Flag {
                id: a.get_id().to_string(),
                long: format!("--{}", a.get_long()?),
                env: a.get_env().map(|e| e.to_string_lossy().into_owned()),
            })
        })
        .filter(|f| f.id != "help")
        .collect()
}

fn keys() -> BTreeSet<String> {
    config_keys().iter().map(|k| k.to_string()).collect()
}

/// `run`'s flags that are no config key: what belongs to one job.
fn job_only() -> BTreeSet<String> {
    let keys = keys();
    run_flags()
        .into_iter()
        .filter(|f| !keys.contains(&f.id))
        .map(|f| f.long)
        .collect()
}

fn flag_named(long: &str) -> Flag {
    run_flags()
        .into_iter()
        .find(|f| f.long == long)
        .unwrap_or_else(|| panic!("`run` has no flag {long}"))
}

/// README.md and every docs/*.md, with their paths.
fn documents() -> Vec<(String, String)> {
    let mut paths = vec!["README.md".to_string()];
    if let Ok(dir) = std::fs::read_dir(format!("{ROOT}/docs")) {
        let mut more: Vec<String> = dir
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
            .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
            .collect();
        more.sort();
        paths.extend(more);
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(format!("{ROOT}/{p}")).unwrap();
            (p, text)
        })
        .collect()
}

/// The `code` spans of a text.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn key_like(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A flag as a table or a sentence writes it (`--run-time DUR`): its name alone.
fn flag_in(cell: &str) -> Option<String> {
    code_spans(cell)
        .into_iter()
        .find(|s| s.starts_with("--"))
        .map(|s| s.split_whitespace().next().unwrap_or(s).to_string())
}

fn variable_in(cell: &str) -> Option<String> {
    code_spans(cell)
        .into_iter()
        .find(|s| s.starts_with("LOADFORGE_GATE_"))
        .map(str::to_string)
}

/// A markdown table: its header's cells (lower case) and its rows' cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// The cells of a table line; `\|` inside a cell is no separator.
fn cells(line: &str) -> Vec<String> {
    let line = line.trim().trim_start_matches('|');
    let line = line.strip_suffix('|').unwrap_or(line);
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut escaped = false;
    for c in line.chars() {
        if c == '|' && !escaped {
            out.push(cell.trim().to_string());
            cell.clear();
        } else {
            cell.push(c);
        }
        escaped = c == '\\';
    }
    out.push(cell.trim().to_string());
    out
}

/// Every table of a text, in order.
fn tables(text: &str) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    let mut current: Option<Table> = None;
    for line in text.lines() {
        if !line.trim_start().starts_with('|') {
            out.extend(current.take());
            continue;
        }
        let row = cells(line);
        match current.as_mut() {
            None => {
                current = Some(Table {
                    header: row.iter().map(|c| c.to_lowercase()).collect(),
                    rows: Vec::new(),
                })
            }
            Some(_) if row.iter().all(|c| c.chars().all(|c| "-: ".contains(c))) => {}
            Some(t) => t.rows.push(row),
        }
    }
    out.extend(current);
    out
}

/// Every key a table's `config key` column names exists, and its flag and variable are that
/// key's. Returns the keys when the table is a full list (its first column is the key).
fn check_key_table(path: &str, t: &Table) -> Option<Vec<String>> {
    let k = t.column("config key")?;
    let mut listed = Vec::new();
    for row in &t.rows {
        let cell = row.get(k).map(String::as_str).unwrap_or_default();
        let Some(key) = code_spans(cell).into_iter().find(|s| key_like(s)) else {
            continue;
        };
        assert!(
            keys().contains(key),
            "{path}: `{key}` is listed as a config key, but there is no such key"
        );
        if let Some(long) = t.column("flag").and_then(|f| flag_in(&row[f])) {
            let flag = flag_named(&long);
            assert_eq!(flag.id, key, "{path}: `{key}` is listed with {long}");
            if let Some(var) = t.column("variable").and_then(|v| variable_in(&row[v])) {
                assert_eq!(flag.env.as_deref(), Some(var.as_str()), "{path}: {long}");
            }
        }
        listed.push(key.to_string());
    }
    (k == 0).then_some(listed)
}

/// The full lists of config keys in the documentation: a table whose first column is
/// `config key`, or a paragraph that starts with `Keys` and names them before "Unknown keys".
fn documented_key_lists() -> Vec<(String, Vec<String>)> {
    let mut lists = Vec::new();
    for (path, text) in documents() {
        for t in tables(&text) {
            if let Some(listed) = check_key_table(&path, &t) {
                lists.push((path.clone(), listed));
            }
        }
        for paragraph in text.split("\n\n").filter(|p| p.starts_with("Keys")) {
            let before = paragraph.split("Unknown keys").next().unwrap_or_default();
            let listed: Vec<String> = code_spans(before)
                .into_iter()
                .filter(|s| key_like(s))
                .map(str::to_string)
                .collect();
            if !listed.is_empty() {
                lists.push((path.clone(), listed));
            }
        }
    }
    lists
}

/// The documentation's lists of job-only flags: the flags named after "stays a flag or variable
/// only" in its paragraph, or else in the first column of the table that follows.
fn documented_job_only_lists() -> Vec<(String, Vec<String>)> {
    const SAYS: &str = "stays a flag or variable only";
    let mut lists = Vec::new();
    for (path, text) in documents() {
        let paragraphs: Vec<&str> = text.split("\n\n").collect();
        for (i, paragraph) in paragraphs.iter().enumerate() {
            let words = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
            let Some(at) = words.find(SAYS) else {
                continue;
            };
            let mut flags: Vec<String> = code_spans(&words[at..])
                .into_iter()
                .filter(|s| s.starts_with("--"))
                .map(str::to_string)
                .collect();
            if flags.is_empty() {
                let table = tables(&paragraphs[i + 1..].join("\n\n")).into_iter().next();
                for row in table.iter().flat_map(|t| &t.rows) {
                    let Some(long) = flag_in(&row[0]) else {
                        continue;
                    };
                    let env = flag_named(&long).env;
                    if let Some(var) = row.get(1).and_then(|c| variable_in(c)) {
                        assert_eq!(env.as_deref(), Some(var.as_str()), "{path}: {long}");
                    }
                    flags.push(long);
                }
            }
            lists.push((path.clone(), flags));
        }
    }
    lists
}

#[test]
fn the_documented_key_list_is_the_config_keys() {
    let lists = documented_key_lists();
    assert!(
        !lists.is_empty(),
        "no list of config keys in README.md or docs/*.md: a table whose first column is \
         `config key`, or a paragraph starting `Keys (` that names them"
    );
    let want = keys();
    for (path, listed) in lists {
        let got: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(got.len(), listed.len(), "{path}: a key listed twice");
        assert_eq!(
            want.difference(&got).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{path}: config keys missing from its list"
        );
        assert_eq!(
            got.difference(&want).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{path}: listed, but no config key"
        );
    }
}

/// A config key is a flag's own field: `run` has a flag of that id, with a variable.
#[test]
fn every_config_key_is_a_flag_of_run() {
    let flags = run_flags();
    for key in keys() {
        let flag = flags.iter().find(|f| f.id == key);
        assert!(flag.is_some_and(|f| f.env.is_some()), "{key}: {flag:?}");
    }
    assert_eq!(keys().len(), config_keys().len(), "a key declared twice");
}

#[test]
fn the_documented_job_only_flags_are_the_flags_without_a_key() {
    let lists = documented_job_only_lists();
    assert!(
        !lists.is_empty(),
        "no list of job-only flags in README.md or docs/*.md (the sentence `stays a flag or \
         variable only`, followed by the flags or by their table)"
    );
    for (path, listed) in lists {
        let got: BTreeSet<String> = listed.into_iter().collect();
        assert_eq!(got, job_only(), "{path}");
    }
}

/// Each input that becomes a flag is named after its setting (`run-time` for `run_time`), and
/// that setting is a config key or a job-only flag.
#[test]
fn every_component_input_is_a_setting_of_the_same_name() {
    let d: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{ROOT}/component.yml")).unwrap())
            .unwrap();
    let inputs = d["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(d["sharded"]["inputs"].as_array().unwrap());
    let (keys, job_only) = (keys(), job_only());
    let mut flagged = 0;
    for input in inputs {
        let name = input["name"].as_str().unwrap();
        let Some(long) = input["flag"].as_str() else {
            continue;
        };
        let flag = flag_named(long);
        assert_eq!(flag.id, name.replace('-', "_"), "input {name} sets {long}");
        assert!(
            keys.contains(&flag.id) || job_only.contains(long),
            "input {name}"
        );
        flagged += 1;
    }
    assert!(flagged > 10, "{flagged} inputs with a flag");
}

/// Every `LOADFORGE_GATE_*` variable a template sets or names is one the tool reads.
#[test]
fn the_templates_name_only_variables_that_exist() {
    let known: BTreeSet<String> = run_flags()
        .into_iter()
        .filter_map(|f| f.env)
        .chain(["LOADFORGE_GATE_GITLAB_TOKEN".to_string()])
        .collect();
    for entry in std::fs::read_dir(format!("{ROOT}/templates"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (at, _) in text.match_indices("LOADFORGE_GATE_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name == "LOADFORGE_GATE_" {
                continue; // `LOADFORGE_GATE_*`, all of them
            }
            assert!(
                known.contains(&name),
                "{}: {name} is no variable of the tool",
                entry.path().display()
            );
        }
    }
}

#[test]
fn the_markdown_readers_read_tables_and_code_spans() {
    let t = tables("x\n\n| Config key | flag |\n|---|---|\n| `a_b` | `--a-b N\\|M` |\n\ny");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].header, ["config key", "flag"]);
    assert_eq!(t[0].rows, [["`a_b`", "`--a-b N\\|M`"]]);
    assert_eq!(flag_in(&t[0].rows[0][1]).as_deref(), Some("--a-b"));
    assert!(key_like("run_time") && !key_like("30s") && !key_like("_"));
}
