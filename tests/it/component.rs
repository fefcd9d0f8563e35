//! The Catalog component: the template validates against GitLab's own CI schema (each YAML
//! document, after interpolating inputs as GitLab would), and templates/, component.yml and the
//! CLI agree on every input.

use std::collections::BTreeMap;

use clap::CommandFactory;
use serde::Deserialize;
use serde_json::{json, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn gitlab_schema() -> jsonschema::Validator {
    // GitLab's own JSON schema for .gitlab-ci.yml (draft-07), vendored from gitlab-org/gitlab.
    let text = read("schema/gitlab-ci-schema.json");
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap())
        .expect("GitLab's schema compiles")
}

/// Every YAML document of a file, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_str_multiple(text).unwrap()
}

#[track_caller]
fn assert_valid(schema: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = schema
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid GitLab CI:\n{errors:#?}\n{doc:#}"
    );
}

/// Ruby's `inspect` of a YAML value, as GitLab's `Array#to_s` writes each element (MRI's
/// `rb_str_inspect`: `"`, `\\` and `#` before `{`/`$`/`@` escaped, named escapes for
/// `\n \r \t \f \v \b \a \e`, `\uXXXX` or `\u{X}` for other control characters; hashes as
/// Ruby 3.4 writes them). Printable is approximated as "not a control character", so the
/// `\u{X}` Ruby writes for unprintable characters past U+FFFF is left out.
fn ruby_inspect(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from('"');
            let mut chars = s.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\x0c' => out.push_str("\\f"),
                    '\x0b' => out.push_str("\\v"),
                    '\x08' => out.push_str("\\b"),
                    '\x07' => out.push_str("\\a"),
                    '\x1b' => out.push_str("\\e"),
                    // Control characters are all below U+10000, where Ruby writes `\uXXXX`.
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(ruby_inspect).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{} => {}", ruby_inspect(&json!(k)), ruby_inspect(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `$[[ inputs.x ]]` as GitLab interpolates it (gitlabhq
/// `lib/gitlab/ci/config/interpolation/template.rb`): a whole value keeps the input's type,
/// inside a longer string the value is written with Ruby's `to_s` (strings as they are, `nil`
/// as nothing, arrays with `Array#inspect`, not JSON).
fn interpolate(v: &Value, inputs: &BTreeMap<String, Value>) -> Value {
    fn text(s: &str, inputs: &BTreeMap<String, Value>) -> Value {
        if let Some(name) = s
            .strip_prefix("$[[ inputs.")
            .and_then(|r| r.strip_suffix(" ]]"))
        {
            if !name.contains("]]") {
                return inputs
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown input {name}"))
                    .clone();
            }
        }
        let mut out = s.to_string();
        while let Some(start) = out.find("$[[ inputs.") {
            let end = out[start..].find(" ]]").unwrap() + start;
            let name = &out[start + 11..end];
            let value = match inputs
                .get(name)
                .unwrap_or_else(|| panic!("unknown input {name}"))
            {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => ruby_inspect(other),
            };
            out.replace_range(start..end + 3, &value);
        }
        Value::String(out)
    }
    match v {
        Value::String(s) => text(s, inputs),
        Value::Array(a) => Value::Array(a.iter().map(|i| interpolate(i, inputs)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match text(k, inputs) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, interpolate(v, inputs))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A template's jobs as GitLab reads them with these inputs: interpolated, then each job's
/// `rules` flattened, since a list nested in it (the `rules` input after the merge-train rule,
/// as a `!reference` would be) is one list to GitLab (gitlabhq
/// `lib/gitlab/ci/config/entry/rules.rb`, `[super].flatten`) and to gitlab-ci-local
/// (`DataExpander.flattenLists`), and GitLab's schema describes the flattened form.
fn expand_jobs(doc: &Value, inputs: &BTreeMap<String, Value>) -> Value {
    let mut jobs = interpolate(doc, inputs);
    for job in jobs.as_object_mut().unwrap().values_mut() {
        if let Some(Value::Array(rules)) = job.get_mut("rules") {
            *rules = std::mem::take(rules)
                .into_iter()
                .flat_map(|r| match r {
                    Value::Array(inner) => inner,
                    rule => vec![rule],
                })
                .collect();
        }
    }
    jobs
}

fn template_inputs(spec: &Value) -> BTreeMap<String, Value> {
    spec["spec"]["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A job as GitLab reads it after `extends`: the hidden jobs it names, in order, then its own
/// keys, merged over each other: hashes key by key, anything else replaced
/// (doc/ci/yaml/yaml_optimization.md, "Merge details").
fn extended(jobs: &Value, job: &str) -> Value {
    fn deep_merge(into: &mut Value, from: &Value) {
        match (into, from) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    deep_merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }
    let names: Vec<String> = match &jobs[job]["extends"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    };
    let mut out = json!({});
    for name in names {
        assert!(
            jobs.get(&name).is_some(),
            "{job} extends {name}, which is not there"
        );
        deep_merge(&mut out, &jobs[&name]);
    }
    let mut own = jobs[job].clone();
    own.as_object_mut().unwrap().remove("extends");
    deep_merge(&mut out, &own);
    out
}

/// The `allow_failure` a job gets from the hidden job it extends (GitLab merges `extends`).
fn allow_failure(jobs: &Value, job: &str) -> Value {
    assert!(
        jobs[job].get("allow_failure").is_none(),
        "{job} sets it itself"
    );
    extended(jobs, job)["allow_failure"].clone()
}

#[test]
fn the_template_validates_against_gitlab_schema_with_default_and_custom_inputs() {
    let schema = gitlab_schema();
    let docs = documents(&read("templates/loadforge-gate.yml"));
    assert_eq!(docs.len(), 2, "a spec header, then the jobs");
    assert_valid(&schema, &docs[0], "the spec header");
    let inputs = template_inputs(&docs[0]);
    for (name, def) in &inputs {
        assert!(def.get("type").is_some(), "input {name} declares no type");
        assert!(def
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty() && d.len() <= 1024));
    }
    let defaults: BTreeMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].clone()))
        .collect();
    let jobs = expand_jobs(&docs[1], &defaults);
    assert_valid(&schema, &jobs, "the jobs with default inputs");
    assert!(jobs.get("loadforge-gate").is_some(), "{jobs:#}");
    let job = &jobs["loadforge-gate"];
    assert_eq!(job["interruptible"], true);
    assert_eq!(
        allow_failure(&jobs, "loadforge-gate"),
        json!({"exit_codes": [5]}),
        "by default only a gate that could not judge (exit 5) may fail, as a warning, never green"
    );
    assert_eq!(
        extended(&jobs, "loadforge-gate")["retry"],
        json!({"max": 1, "exit_codes": [5]}),
        "and it is retried once"
    );
    assert_eq!(job["artifacts"]["when"], "always");
    for report in ["junit", "metrics", "load_performance", "annotations"] {
        assert!(
            job["artifacts"]["reports"][report].is_string(),
            "{report} report missing"
        );
    }
    for global in [
        "default",
        "image",
        "variables",
        "stages",
        "workflow",
        "before_script",
    ] {
        assert!(
            jobs.get(global).is_none(),
            "the template sets global `{global}`"
        );
    }

    let mut custom = defaults.clone();
    custom.insert("job-prefix".into(), json!("perf-smoke"));
    custom.insert("allow-failure".into(), json!(true));
    custom.insert("users".into(), json!(50));
    custom.insert("thresholds".into(), json!(["p95<500ms", "error_rate<1%"]));
    let jobs = expand_jobs(&docs[1], &custom);
    assert_valid(&schema, &jobs, "the jobs with custom inputs");
    assert_eq!(allow_failure(&jobs, "perf-smoke"), true);
    let vars = &jobs["perf-smoke"]["variables"];
    assert_eq!(
        vars["LOADFORGE_GATE_THRESHOLD"], "[\"p95<500ms\", \"error_rate<1%\"]\n",
        "Array#inspect, as GitLab writes an array inside a string"
    );
    assert_eq!(
        vars["LOADFORGE_GATE_USERS"], 50,
        "a number input stays a number (GitLab accepts numeric variables)"
    );
}

/// `allow-not-judged`, and its deprecated name `allow-inconclusive`: exit 5 is a warning only
/// when neither refuses it, and the retries follow their input.
#[test]
fn exit_5_is_allowed_only_when_neither_input_refuses_it() {
    let schema = gitlab_schema();
    let docs = documents(&read("templates/loadforge-gate.yml"));
    let defaults: BTreeMap<String, Value> = template_inputs(&docs[0])
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].clone()))
        .collect();
    for (allow, old_name, retries, expected) in [
        (false, true, 0, json!(false)),
        (true, false, 0, json!(false)),
        (false, false, 0, json!(false)),
        (true, true, 2, json!({"exit_codes": [5]})),
    ] {
        let mut strict = defaults.clone();
        strict.insert("allow-not-judged".into(), json!(allow));
        strict.insert("allow-inconclusive".into(), json!(old_name));
        strict.insert("inconclusive-retries".into(), json!(retries));
        let jobs = expand_jobs(&docs[1], &strict);
        assert_valid(&schema, &jobs, "the jobs with allow-not-judged");
        assert_eq!(allow_failure(&jobs, "loadforge-gate"), expected);
        assert_eq!(extended(&jobs, "loadforge-gate")["retry"]["max"], retries);
    }
}

/// An array input of strings reaches the CLI intact however GitLab writes it into the
/// variable: with `Array#inspect` (quotes, `#{`, backslashes and control characters escaped the
/// Ruby way) or as JSON (`ci_text_interpolation`, gitlab-ci-local).
#[test]
fn array_inputs_reach_the_cli_intact_as_gitlab_writes_them() {
    use clap::Parser;
    use loadforge_gate::{
        cli::{Cli, Command},
        settings::Settings,
    };
    let docs = documents(&read("templates/loadforge-gate.yml"));
    let mut inputs: BTreeMap<String, Value> = template_inputs(&docs[0])
        .into_iter()
        .map(|(k, v)| (k, v["default"].clone()))
        .collect();
    let rules = [
        "GET /search?q=\"shoes\":p95<1s",
        "GET /api/#{id}/#$x/#@y:p99<2s",
        "GET /a\\b/café:p95<500ms",
        "error_rate<1%",
    ];
    inputs.insert("thresholds".into(), json!(rules));
    let jobs = expand_jobs(&docs[1], &inputs);
    let ruby = jobs["loadforge-gate"]["variables"]["LOADFORGE_GATE_THRESHOLD"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        ruby.contains("\\#{id}") && ruby.contains("\\\"shoes\\\""),
        "{ruby}"
    );
    let json = format!("{}\n", json!(rules));
    for written in [ruby, json] {
        let argv = [
            "loadforge-gate",
            "run",
            "--scenario",
            "s.yml",
            "--host",
            "http://h",
            "--threshold",
            &written,
        ];
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let s = Settings::from_args(&args, &|_| None, None)
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        let read: Vec<&str> = s
            .gate
            .thresholds
            .iter()
            .map(|t| t.source.as_str())
            .collect();
        assert_eq!(read, rules, "{written}");
    }
}

/// Every example pipeline in `examples/gitlab/`.
fn example_paths() -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir(format!("{ROOT}/examples/gitlab"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".gitlab-ci.yml"))
        .map(|n| format!("examples/gitlab/{n}"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4, "{paths:?}");
    paths
}

#[test]
fn the_example_pipelines_and_our_own_validate() {
    let schema = gitlab_schema();
    let known = template_inputs(&documents(&read("templates/loadforge-gate.yml"))[0]);
    for path in example_paths()
        .iter()
        .map(String::as_str)
        .chain([".gitlab-ci.yml"])
    {
        let docs = documents(&read(path));
        assert_eq!(docs.len(), 1);
        assert_valid(&schema, &docs[0], path);
        let includes = docs[0]["include"].as_array().unwrap();
        assert!(!includes.is_empty(), "{path}");
        for include in includes {
            let component = include["component"].as_str().unwrap_or_default();
            assert!(
                component.ends_with(&format!("/loadforge-gate@{}", env!("CARGO_PKG_VERSION")))
                    || component.ends_with("loadforge-gate@$CI_COMMIT_SHA"),
                "{path}: {component}"
            );
            for name in include["inputs"].as_object().unwrap().keys() {
                assert!(
                    known.contains_key(name),
                    "{path} passes unknown input `{name}`"
                );
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Descriptor {
    name: String,
    description: String,
    version: String,
    template: String,
    inputs: Vec<DescribedInput>,
    sharded: Sharded,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sharded {
    template: String,
    inputs: Vec<DescribedInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribedInput {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    default: Value,
    description: String,
    env: Option<String>,
    flag: Option<String>,
    job_keyword: Option<String>,
}

#[test]
fn template_descriptor_and_cli_agree_on_every_input() {
    let d: Descriptor = serde_saphyr::from_str(&read("component.yml")).unwrap();
    assert_eq!(d.name, "loadforge-gate");
    assert!(!d.description.is_empty());
    assert!(
        d.version.split('.').count() == 3,
        "semantic version without a v"
    );
    let docs = documents(&read(&d.template));
    let inputs = template_inputs(&docs[0]);
    let job = docs[1].as_object().unwrap().values().next().unwrap();

    let described: Vec<&str> = d.inputs.iter().map(|i| i.name.as_str()).collect();
    let templated: Vec<&str> = inputs.keys().map(String::as_str).collect();
    let mut a = described.clone();
    a.sort();
    assert_eq!(
        a, templated,
        "component.yml and the template list different inputs"
    );

    let cli = loadforge_gate::cli::Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    for i in &d.inputs {
        let t = &inputs[&i.name];
        assert_eq!(t["type"], i.kind.as_str(), "{}: type", i.name);
        assert_eq!(
            t["default"],
            serde_json::to_value(&i.default).unwrap(),
            "{}: default",
            i.name
        );
        assert_eq!(
            t["description"],
            i.description.as_str(),
            "{}: description",
            i.name
        );
        let placeholder = format!("$[[ inputs.{} ]]", i.name);
        assert!(
            i.env.is_some() == i.flag.is_some() && (i.env.is_some() || i.job_keyword.is_some()),
            "{}: an input maps to env+flag, to a job keyword, or to both",
            i.name
        );
        if let (Some(env), Some(flag)) = (&i.env, &i.flag) {
            let value = job["variables"][env].as_str().unwrap_or_default();
            assert_eq!(
                value.trim_end(),
                placeholder,
                "{}: the template must set {env}",
                i.name
            );
            let arg = run
                .get_arguments()
                .find(|a| a.get_long().map(|l| format!("--{l}")) == Some(flag.clone()))
                .unwrap_or_else(|| panic!("{}: `run` has no flag {flag}", i.name));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(env.as_str()),
                "{}: {flag} reads another variable",
                i.name
            );
        }
        if let Some(keyword) = &i.job_keyword {
            let used = match keyword.as_str() {
                "name" => docs[1].as_object().unwrap().contains_key(&placeholder),
                "image" => job["image"]["name"] == placeholder.as_str(),
                // Through the hidden job the gate job extends.
                "allow_failure" => docs[1].as_object().unwrap().iter().any(|(name, j)| {
                    name.starts_with('.') && j["allow_failure"].to_string().contains(&placeholder)
                }),
                k => job[k].to_string().contains(&placeholder),
            };
            assert!(
                used,
                "{}: the template does not use it as `{keyword}`",
                i.name
            );
        }
    }
}

/// Passing an input's default as a flag must change nothing: the component and the CLI agree on
/// what "not set" means.
#[test]
fn component_defaults_are_the_cli_defaults() {
    use clap::Parser;
    use loadforge_gate::{
        cli::{Cli, Command},
        settings::Settings,
    };
    let d: Descriptor = serde_saphyr::from_str(&read("component.yml")).unwrap();
    let fingerprint = |extra: &[String]| {
        let mut argv = vec![
            "loadforge-gate".to_string(),
            "run".into(),
            "--scenario".into(),
            "s.yml".into(),
            "--host".into(),
            "http://h".into(),
        ];
        argv.extend(extra.iter().cloned());
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let s = Settings::from_args(&args, &|_| None, None).unwrap();
        format!(
            "{:?} {} {} {:?} {:?} {:?} {:?}",
            s.engine,
            s.users,
            s.spawn_rate,
            s.run_time,
            s.gate.baseline,
            s.gate.comment,
            s.gate
                .thresholds
                .iter()
                .map(|t| &t.source)
                .collect::<Vec<_>>()
        )
    };
    let plain = fingerprint(&[]);
    for i in &d.inputs {
        let (Some(flag), Some(default)) = (
            &i.flag,
            i.default
                .as_str()
                .map(str::to_string)
                .or_else(|| i.default.as_u64().map(|n| n.to_string())),
        ) else {
            continue;
        };
        if default.is_empty() || matches!(flag.as_str(), "--scenario" | "--host") {
            continue;
        }
        assert_eq!(
            fingerprint(&[flag.clone(), default.clone()]),
            plain,
            "{}: default {default} is not the CLI's default",
            i.name
        );
    }
}

#[test]
fn the_sharded_component_validates_and_agrees_with_the_descriptor() {
    let schema = gitlab_schema();
    let d: Descriptor = serde_saphyr::from_str(&read("component.yml")).unwrap();
    let docs = documents(&read(&d.sharded.template));
    assert_valid(&schema, &docs[0], "the sharded spec header");
    let inputs = template_inputs(&docs[0]);
    let main = template_inputs(&documents(&read(&d.template))[0]);
    // Every input of the main component, identical, plus the sharded ones.
    for (name, def) in &main {
        assert_eq!(
            inputs.get(name),
            Some(def),
            "{name} differs between the two components"
        );
    }
    for i in &d.sharded.inputs {
        let t = &inputs[&i.name];
        assert_eq!(t["type"], i.kind.as_str());
        assert_eq!(t["default"], serde_json::to_value(&i.default).unwrap());
        assert_eq!(t["description"], i.description.as_str());
    }
    assert_eq!(inputs.len(), main.len() + d.sharded.inputs.len());
    let cli = loadforge_gate::cli::Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    assert!(run
        .get_arguments()
        .any(|a| a.get_long() == Some("start-delay")
            && a.get_env().and_then(|e| e.to_str()) == Some("LOADFORGE_GATE_START_DELAY")));

    let defaults: BTreeMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].clone()))
        .collect();
    let jobs = expand_jobs(&docs[1], &defaults);
    assert_valid(&schema, &jobs, "the sharded jobs");
    assert_eq!(
        jobs["loadforge-gate-shard"]["parallel"], 3,
        "parallel: takes the number input"
    );
    assert_eq!(
        jobs["loadforge-gate"]["needs"][0]["job"],
        "loadforge-gate-shard"
    );
    assert!(jobs["loadforge-gate-shard"]["script"][0]
        .as_str()
        .unwrap()
        .contains("--shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\""));
    assert!(jobs["loadforge-gate"]["script"][0]
        .as_str()
        .unwrap()
        .starts_with("loadforge-gate merge"));
    assert!(jobs["loadforge-gate"]["artifacts"]["reports"]["load_performance"].is_string());
}

/// Both templates offer the seed's own engine, and its test id and API base as inputs; the token
/// never is one.
#[test]
fn both_templates_offer_the_loadforge_engine_and_its_inputs() {
    for path in [
        "templates/loadforge-gate.yml",
        "templates/loadforge-gate-sharded.yml",
    ] {
        let inputs = template_inputs(&documents(&read(path))[0]);
        assert_eq!(
            inputs["engine"]["options"],
            json!(["native", "locust", "k6", "loadforge"]),
            "{path}"
        );
        for name in ["loadforge-test-id", "loadforge-url"] {
            assert_eq!(inputs[name]["type"], "string", "{path}: {name}");
            assert_eq!(inputs[name]["default"], "", "{path}: {name}");
        }
        assert!(
            !inputs.keys().any(|k| k.contains("token")),
            "{path}: a token is a masked variable, never an input"
        );
    }
    let docs = documents(&read("examples/gitlab/loadforge-cloud.gitlab-ci.yml"));
    let inputs = &docs[0]["include"][0]["inputs"];
    assert_eq!(inputs["engine"], "loadforge");
    assert_eq!(
        inputs["thresholds"],
        json!(["avg<800ms", "error_rate<1.5%"])
    );
}

const TEMPLATES: [&str; 2] = [
    "templates/loadforge-gate.yml",
    "templates/loadforge-gate-sharded.yml",
];

/// A template's visible jobs with these inputs over the defaults, each with the rules GitLab
/// evaluates for it (interpolated, flattened).
fn jobs_with(path: &str, set: &[(&str, Value)]) -> Vec<(String, Value)> {
    let docs = documents(&read(path));
    let mut inputs: BTreeMap<String, Value> = template_inputs(&docs[0])
        .into_iter()
        .map(|(k, v)| (k, v["default"].clone()))
        .collect();
    for (k, v) in set {
        inputs.insert(k.to_string(), v.clone());
    }
    let jobs = expand_jobs(&docs[1], &inputs);
    assert_valid(&gitlab_schema(), &jobs, &format!("{path} with {set:?}"));
    let visible = jobs.as_object().unwrap().iter();
    visible
        .filter(|(name, _)| !name.starts_with('.'))
        .map(|(name, job)| (name.clone(), job["rules"].clone()))
        .collect()
}

/// A push (or another source) of `branch`, with an open merge request from it or not.
fn branch_pipeline(
    source: &'static str,
    branch: &'static str,
    open_mr: bool,
) -> BTreeMap<&'static str, &'static str> {
    let mut p = BTreeMap::from([
        ("CI_PIPELINE_SOURCE", source),
        ("CI_COMMIT_BRANCH", branch),
        ("CI_COMMIT_REF_NAME", branch),
        ("CI_DEFAULT_BRANCH", "main"),
    ]);
    if open_mr {
        p.insert("CI_OPEN_MERGE_REQUESTS", "group/app!7");
    }
    p
}

fn tag_pipeline() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_TAG", "1.2.3"),
        ("CI_COMMIT_REF_NAME", "1.2.3"),
        ("CI_DEFAULT_BRANCH", "main"),
    ])
}

/// The defaults: the `pipelines` input picks the rules, `rules` (empty) adds none, and
/// `branch`, the default, never makes GitLab create a pipeline (no merge-request rule).
#[test]
fn both_templates_default_to_branch_pipelines_and_no_rules_of_their_own() {
    for path in TEMPLATES {
        let inputs = template_inputs(&documents(&read(path))[0]);
        assert_eq!(inputs["rules"]["default"], json!([]), "{path}");
        assert_eq!(inputs["pipelines"]["default"], "branch", "{path}");
        assert_eq!(
            inputs["pipelines"]["options"],
            json!(["branch", "merge-request", "custom"]),
            "{path}"
        );
        for (name, rules) in jobs_with(path, &[]) {
            assert!(
                !rules_run(&rules, &merge_request_pipeline()),
                "{path} {name}: a merge-request rule makes GitLab create a pipeline for it"
            );
        }
    }
}

/// Where each `pipelines` mode runs every job of both templates. `merge-request` is GitLab's
/// switch between branch and merge-request pipelines with the push guard, so schedules, runs
/// from the UI or the API and the default branch keep the gate while a merge request is open
/// from their branch. tests/it/emulator.rs runs the same through gitlab-ci-local.
#[test]
fn the_pipelines_input_decides_where_every_job_runs() {
    let cases = [
        (
            "a merge-request pipeline",
            merge_request_pipeline(),
            false,
            true,
        ),
        (
            "a push, no MR",
            branch_pipeline("push", "feature", false),
            true,
            true,
        ),
        (
            "a push, an open MR",
            branch_pipeline("push", "feature", true),
            true,
            false,
        ),
        (
            "a schedule, an open MR",
            branch_pipeline("schedule", "feature", true),
            true,
            true,
        ),
        (
            "a web run, an open MR",
            branch_pipeline("web", "feature", true),
            true,
            true,
        ),
        (
            "the default branch, its MR open",
            branch_pipeline("push", "main", true),
            true,
            true,
        ),
        (
            "a schedule on the default branch",
            branch_pipeline("schedule", "main", false),
            true,
            true,
        ),
        ("a tag", tag_pipeline(), true, true),
    ];
    for path in TEMPLATES {
        for (mode, column) in [("branch", 0), ("merge-request", 1), ("custom", 2)] {
            for (name, rules) in jobs_with(path, &[("pipelines", json!(mode))]) {
                for (case, vars, branch, merge_request) in &cases {
                    let want = [*branch, *merge_request, false][column];
                    assert_eq!(
                        rules_run(&rules, vars),
                        want,
                        "{path} {name} {mode}: {case}"
                    );
                }
            }
        }
    }
}

/// The `rules` input comes first: its first match decides, and a job none of its rules decide
/// falls to the `pipelines` input's (with `custom`, to none).
#[test]
fn the_rules_input_comes_before_the_pipelines_input() {
    let docs_never = json!([{"if": "$CI_COMMIT_BRANCH == \"docs\"", "when": "never"}]);
    let tags_only = json!([{"if": "$CI_COMMIT_TAG"}]);
    for path in TEMPLATES {
        for (_, rules) in jobs_with(path, &[("rules", docs_never.clone())]) {
            assert!(!rules_run(&rules, &branch_pipeline("push", "docs", false)));
            assert!(rules_run(
                &rules,
                &branch_pipeline("push", "feature", false)
            ));
        }
        let custom = [("rules", tags_only.clone()), ("pipelines", json!("custom"))];
        for (_, rules) in jobs_with(path, &custom) {
            assert!(rules_run(&rules, &tag_pipeline()));
            assert!(!rules_run(&rules, &branch_pipeline("push", "main", false)));
        }
    }
}

/// `allow-failure`, `rules` and `pipelines` reach every job of the sharded component, so a
/// failing shard cannot fail the pipeline (or starve the merge job) and one input restricts
/// them all.
#[test]
fn sharded_jobs_all_take_allow_failure_and_rules() {
    let docs = documents(&read("templates/loadforge-gate-sharded.yml"));
    let mut inputs: BTreeMap<String, Value> = template_inputs(&docs[0])
        .into_iter()
        .map(|(k, v)| (k, v["default"].clone()))
        .collect();
    let jobs = expand_jobs(&docs[1], &inputs);
    let visible = |jobs: &Value| -> Vec<String> {
        let names = jobs.as_object().unwrap().keys();
        names.filter(|n| !n.starts_with('.')).cloned().collect()
    };
    let single = jobs_with("templates/loadforge-gate.yml", &[]);
    for name in visible(&jobs) {
        assert_eq!(jobs[&name]["rules"], single[0].1, "{name}");
        assert_eq!(allow_failure(&jobs, &name), json!({"exit_codes": [5]}));
    }
    let rules = json!([{"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""}]);
    inputs.insert("allow-failure".into(), json!(true));
    inputs.insert("rules".into(), rules.clone());
    let jobs = expand_jobs(&docs[1], &inputs);
    assert_valid(&gitlab_schema(), &jobs, "the sharded jobs with rules");
    assert_eq!(visible(&jobs).len(), 2);
    for name in visible(&jobs) {
        assert_eq!(allow_failure(&jobs, &name), true, "{name}");
        assert_eq!(jobs[&name]["rules"][1], rules[0], "{name}");
        assert!(rules_run(&jobs[&name]["rules"], &merge_request_pipeline()));
    }
}

/// `retry-on-runner-failure` adds the runner's failures to the exit code 5 retry, one `max`
/// for both (GitLab retries when the reason is in `when` or the exit code in `exit_codes`:
/// gitlabhq lib/gitlab/ci/build/auto_retry.rb); `allow-exit-codes` lists the exit codes that
/// only warn. Both reach every job of both templates through `extends`.
#[test]
fn retry_and_allowed_exit_codes_are_inputs_not_overrides() {
    for path in TEMPLATES {
        let docs = documents(&read(path));
        let defaults: BTreeMap<String, Value> = template_inputs(&docs[0])
            .into_iter()
            .map(|(k, v)| (k, v["default"].clone()))
            .collect();
        let mut set = defaults.clone();
        set.insert("retry-on-runner-failure".into(), json!(true));
        set.insert("allow-exit-codes".into(), json!([5, 1]));
        set.insert("inconclusive-retries".into(), json!(2));
        let jobs = expand_jobs(&docs[1], &set);
        assert_valid(&gitlab_schema(), &jobs, "retry and exit codes");
        let plain = expand_jobs(&docs[1], &defaults);
        for (name, _) in jobs_with(path, &[]) {
            let retry = &extended(&jobs, &name)["retry"];
            assert_eq!(retry["max"], 2, "{path} {name}");
            assert_eq!(retry["exit_codes"], json!([5]), "{path} {name}");
            assert_eq!(
                retry["when"],
                json!([
                    "runner_system_failure",
                    "stuck_or_timeout_failure",
                    "api_failure",
                    "scheduler_failure"
                ]),
                "{path} {name}"
            );
            assert_eq!(allow_failure(&jobs, &name), json!({"exit_codes": [5, 1]}));
            let retry = &extended(&plain, &name)["retry"];
            assert!(retry.get("when").is_none(), "{path} {name}: {retry}");
        }
    }
}

/// `merge-trains: skip` leaves every job of both components out of a merge train's pipeline,
/// whatever the `rules` input says, and out of no other pipeline; `run`, the default, keeps
/// them in. tests/it/emulator.rs runs it for real.
#[test]
fn merge_trains_skip_leaves_every_job_out_of_merge_trains_only() {
    let (detached, main) = (
        merge_request_pipeline(),
        default_branch_pipelines().remove(0),
    );
    let mut merged_result = merge_request_pipeline();
    merged_result.insert("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result");
    let mut train = merge_request_pipeline();
    train.insert("CI_MERGE_REQUEST_EVENT_TYPE", "merge_train");
    let own = json!([{"if": "$CI_MERGE_REQUEST_IID"}]);
    for path in TEMPLATES {
        let spec = template_inputs(&documents(&read(path))[0]);
        assert_eq!(spec["merge-trains"]["default"], "run", "{path}");
        assert_eq!(
            spec["merge-trains"]["options"],
            json!(["run", "skip"]),
            "{path}"
        );
        for (skip, pipelines, rules) in [
            ("run", "merge-request", json!([])),
            ("skip", "merge-request", json!([])),
            ("skip", "custom", own.clone()),
        ] {
            let set = [
                ("merge-trains", json!(skip)),
                ("pipelines", json!(pipelines)),
                ("rules", rules.clone()),
            ];
            for (name, rules) in jobs_with(path, &set) {
                let runs = |vars| rules_run(&rules, vars);
                assert!(runs(&detached), "{path} {name} {skip}");
                assert!(runs(&merged_result), "{path} {name} {skip}");
                assert_eq!(runs(&train), skip == "run", "{path} {name} {skip}");
                assert_eq!(runs(&main), pipelines != "custom", "{path} {name} {skip}");
            }
        }
    }
}

/// One version, set in Cargo.toml: the descriptor, both templates' image tags, the include lines
/// of the README and docs/ all say it.
#[test]
fn one_version_everywhere() {
    let version = env!("CARGO_PKG_VERSION");
    let d: Descriptor = serde_saphyr::from_str(&read("component.yml")).unwrap();
    assert_eq!(d.version, version, "component.yml");
    let image = format!("registry.gitlab.com/loadforge/loadforge-gate:{version}");
    for path in [d.template.as_str(), d.sharded.template.as_str()] {
        let inputs = template_inputs(&documents(&read(path))[0]);
        assert_eq!(inputs["image"]["default"], image.as_str(), "{path}");
    }
    let mut components = std::collections::BTreeSet::new();
    for (path, text) in pipeline_docs() {
        for line in text.lines().filter(|l| l.contains("- component:")) {
            assert!(
                line.trim_end().ends_with(&format!("@{version}")),
                "{path}: {line}"
            );
            let name = line.trim_end().rsplit('/').next().unwrap_or_default();
            components.insert(name.split('@').next().unwrap_or_default().to_string());
        }
        assert!(
            !text.contains("loadforge-gate:0."),
            "{path} names another image tag"
        );
    }
    assert_eq!(
        components.into_iter().collect::<Vec<_>>(),
        ["loadforge-gate", "loadforge-gate-sharded"],
        "the README and docs/ show both components"
    );
}

/// A background process in this project's pipeline sends its output to a file: one that holds
/// the job's output open keeps a shell runner's job from ending.
#[test]
fn background_processes_in_our_pipeline_redirect_their_output() {
    let doc = &documents(&read(".gitlab-ci.yml"))[0];
    let mut background = 0;
    for job in doc.as_object().unwrap().values() {
        for key in ["before_script", "script", "after_script"] {
            for line in job[key].as_array().into_iter().flatten() {
                let line = line.as_str().unwrap_or_default().trim();
                if line.ends_with('&') {
                    background += 1;
                    assert!(
                        line.contains(">") && line.contains("2>&1"),
                        "`{line}` keeps the job's output open"
                    );
                }
            }
        }
    }
    assert!(background > 0, "the self-test starts the sample app");
}

/// The README's test command, as `.ci/run` reads it.
fn readme_test_command() -> String {
    let readme = read("README.md");
    let after = readme
        .split_once("\n<!-- test-command")
        .expect("README.md marks its test command")
        .1;
    let block = after.split_once("```sh\n").unwrap().1;
    block.split_once("\n```").unwrap().0.to_string()
}

/// Runs the README's test command with `id`, `sudo`, `apt-get`, `python3`, `pip` and `cargo`
/// replaced by scripts that log their calls; returns the log.
fn dry_run_test_command(uid: u32, with_sudo: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let log = dir.path().join("calls.log");
    let logger = format!(
        "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> {}\n",
        log.display()
    );
    let mut scripts = vec![
        ("id", format!("#!/bin/sh\necho {uid}\n")),
        ("apt-get", logger.clone()),
        ("cargo", logger.clone()),
        (
            "python3",
            format!(
                "{logger}mkdir -p .venv/bin && cp \"$(dirname \"$0\")/apt-get\" .venv/bin/pip\n"
            ),
        ),
    ];
    if with_sudo {
        scripts.push(("sudo", format!("{logger}exec \"$@\"\n")));
    }
    for (name, text) in scripts {
        let p = stubs.join(name);
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Only the stubs and the shell's own tools: no real sudo, apt-get or cargo is reachable.
    let path = format!("{}:/bin:/usr/bin", stubs.display());
    let status = std::process::Command::new("/bin/bash")
        .arg("-c")
        .arg(readme_test_command())
        .current_dir(dir.path())
        .env("PATH", path)
        .status()
        .unwrap();
    assert!(status.success(), "uid {uid}: the test command failed");
    std::fs::read_to_string(log).unwrap()
}

/// The README's test command works as root without sudo and as a user through sudo, updates
/// the package lists before installing, and ends in the full tier's `cargo test --features
/// full-tests`; `.ci/run` runs that very
/// command, word for word.
#[test]
fn the_readme_test_command_works_as_root_and_with_sudo_and_ci_runs_it() {
    let root = dry_run_test_command(0, false);
    let lines: Vec<&str> = root.lines().collect();
    assert!(lines[0].starts_with("apt-get update"), "{root}");
    assert!(lines[1].starts_with("apt-get install"), "{root}");
    assert!(!root.contains("sudo"), "{root}");
    // The full tier: Locust, Chromium and Node are installed for it (Cargo.toml `[features]`).
    assert_eq!(
        lines.last(),
        Some(&"cargo test --features full-tests"),
        "{root}"
    );

    let user = dry_run_test_command(1000, true);
    assert!(user.starts_with("sudo apt-get update"), "{user}");
    assert!(
        user.contains("sudo env DEBIAN_FRONTEND=noninteractive apt-get install"),
        "{user}"
    );
    assert!(
        !user.contains("sudo cargo") && !user.contains("sudo python3"),
        "{user}"
    );

    // `.ci/run` runs that very command: the README's line, word for word, on a line of its own.
    let ci = read(".ci/run");
    let command = readme_test_command();
    assert!(
        ci.lines().any(|l| l == command.trim()),
        ".ci/run does not run the README's test command `{command}`"
    );
}

/// The pages a reader meets: the README, docs/, CONTRIBUTING.md and bench/README.md.
fn reader_docs() -> Vec<(String, String)> {
    let mut docs = pipeline_docs();
    for path in ["CONTRIBUTING.md", "bench/README.md"] {
        docs.push((path.to_string(), read(path)));
    }
    docs
}

/// The project's own bookkeeping, which means nothing to a reader: the word "seed" and
/// references to its internal issues (`#17`, `issue 19`). An upstream reference names its
/// project (`gitlab-org/gitlab#349316`), and a pipeline's id in quoted output (`pipeline #4570`)
/// is no issue.
fn internal_words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found: Vec<String> = lower
        .match_indices("seed")
        .map(|(i, _)| format!("`seed` in `{}`", line_at(&lower, i)))
        .collect();
    for (i, _) in lower.match_indices('#') {
        let digits = lower[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        let token = lower[..i]
            .rsplit(|c: char| c.is_whitespace() || "(`[".contains(c))
            .next()
            .unwrap_or_default();
        if digits >= 2 && !token.contains('/') && !lower[..i].ends_with("pipeline ") {
            found.push(format!("an issue reference in `{}`", line_at(&lower, i)));
        }
    }
    for (i, _) in lower.match_indices("issue") {
        let after = lower[i + "issue".len()..].trim_start_matches('s');
        let rest = after.trim_start();
        if rest.len() < after.len() && rest.starts_with(|c: char| c.is_ascii_digit()) {
            found.push(format!("an issue reference in `{}`", line_at(&lower, i)));
        }
    }
    found
}

/// The line of `text` that holds byte `at`.
fn line_at(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
    &text[start..end]
}

/// The README stays a newcomer's page (the reference lives in docs/), and no page speaks the
/// project's internal language.
#[test]
fn the_readme_is_short_and_the_docs_speak_to_readers() {
    let lines = read("README.md").lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines (at most 300): move reference material to docs/"
    );
    let problems: Vec<String> = reader_docs()
        .iter()
        .flat_map(|(path, text)| {
            internal_words(text)
                .into_iter()
                .map(move |w| format!("{path}: {w}"))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");

    // It catches what it is for, and leaves upstream references, pipeline ids and PKCS#8 alone.
    assert_eq!(internal_words("runs the Seed's shop flow").len(), 1);
    assert_eq!(internal_words("see #22, and Issue 19 item 3").len(), 2);
    assert_eq!(internal_words("(issue\n#17 item 3)").len(), 1);
    assert!(internal_words(
        "gitlab-org/gitlab#349316; at pipeline #4570; PKCS#8; ## Setup; \\#{id}; issues are results"
    )
    .is_empty());
}

/// The license Cargo.toml names is the one the repository ships (the Catalog shows the file).
#[test]
fn the_license_file_is_the_mit_license_cargo_toml_names() {
    assert_eq!(env!("CARGO_PKG_LICENSE"), "MIT");
    let license = read("LICENSE");
    assert!(license.starts_with("MIT License\n"), "{license}");
    assert!(
        license.contains("Copyright (c) 2026 loadforge-gate contributors"),
        "{license}"
    );
    assert!(license.contains("THE SOFTWARE IS PROVIDED \"AS IS\""));
}

/// A token of a `rules:if` expression.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Var(String),
    Str(String),
    Regex,
    Null,
    Op(&'static str),
    Open,
    Close,
}

fn if_tokens(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '$' {
            i += 1;
            let braced = chars.get(i) == Some(&'{');
            i += usize::from(braced);
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            out.push(Tok::Var(chars[start..i].iter().collect()));
            if braced {
                assert_eq!(chars.get(i), Some(&'}'), "{expr}");
                i += 1;
            }
        } else if c == '"' || c == '\'' {
            let start = i + 1;
            i = start;
            while chars.get(i).is_some_and(|q| *q != c) {
                i += 1;
            }
            assert!(i < chars.len(), "unterminated string in `{expr}`");
            out.push(Tok::Str(chars[start..i].iter().collect()));
            i += 1;
        } else if c == '/' {
            i += 1;
            while chars.get(i).is_some_and(|c| *c != '/') {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            while chars.get(i).is_some_and(char::is_ascii_alphabetic) {
                i += 1;
            }
            out.push(Tok::Regex);
        } else if c == '(' || c == ')' {
            out.push(if c == '(' { Tok::Open } else { Tok::Close });
            i += 1;
        } else if chars[i..].starts_with(&['n', 'u', 'l', 'l']) {
            out.push(Tok::Null);
            i += 4;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = ["==", "!=", "=~", "!~", "&&", "||"]
                .into_iter()
                .find(|o| *o == two)
                .unwrap_or_else(|| panic!("the rules evaluator cannot read `{two}` in `{expr}`"));
            out.push(Tok::Op(op));
            i += 2;
        }
    }
    out
}

/// A `rules:if` expression as GitLab evaluates it (doc/ci/jobs/job_rules.md, "CI/CD variable
/// expressions"), for what pipelines of this project use: `$VAR` alone (set and not empty),
/// `==`/`!=` between variables, strings and `null`, `&&`, `||`, parentheses, and `=~`/`!~`
/// against a variable that is not set (the test has no regex engine: one that is set panics).
struct IfExpr<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a BTreeMap<&'a str, &'a str>,
    expr: &'a str,
}

impl IfExpr<'_> {
    fn eval(expr: &str, vars: &BTreeMap<&str, &str>) -> bool {
        let mut e = IfExpr {
            toks: if_tokens(expr),
            pos: 0,
            vars,
            expr,
        };
        let v = e.or();
        assert_eq!(e.pos, e.toks.len(), "`{expr}`: trailing tokens");
        v
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        let hit = self.toks.get(self.pos) == Some(t);
        self.pos += usize::from(hit);
        hit
    }

    fn or(&mut self) -> bool {
        let mut v = self.and();
        while self.eat(&Tok::Op("||")) {
            v |= self.and();
        }
        v
    }

    fn and(&mut self) -> bool {
        let mut v = self.term();
        while self.eat(&Tok::Op("&&")) {
            v &= self.term();
        }
        v
    }

    fn term(&mut self) -> bool {
        if self.eat(&Tok::Open) {
            let v = self.or();
            assert!(self.eat(&Tok::Close), "`{}`: no `)`", self.expr);
            return v;
        }
        let left = self.operand();
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Op(op @ ("==" | "!="))) => {
                self.pos += 1;
                let right = self.operand();
                (left == right) == (op == "==")
            }
            Some(Tok::Op(op @ ("=~" | "!~"))) => {
                self.pos += 1;
                assert_eq!(self.next(), Some(Tok::Regex), "`{}`", self.expr);
                assert!(
                    left.is_none(),
                    "`{}`: the rules evaluator matches regexes only against unset variables",
                    self.expr
                );
                op == "!~"
            }
            _ => left.is_some_and(|v| !v.is_empty()),
        }
    }

    fn operand(&mut self) -> Option<String> {
        match self.next() {
            Some(Tok::Var(name)) => self.vars.get(name.as_str()).map(|v| v.to_string()),
            Some(Tok::Str(s)) => Some(s),
            Some(Tok::Null) => None,
            t => panic!("`{}`: {t:?} where a value belongs", self.expr),
        }
    }
}

/// Whether `rules` put the job in a pipeline with these variables and run it unattended: the
/// first rule that matches decides; `never` and `manual` do not run it; no match, no job.
fn rules_run(rules: &Value, vars: &BTreeMap<&str, &str>) -> bool {
    for rule in rules.as_array().expect("rules is an array") {
        let rule = rule.as_object().expect("a rule is a mapping");
        for key in rule.keys() {
            assert!(
                ["if", "when", "allow_failure", "variables", "needs"].contains(&key.as_str()),
                "the rules evaluator does not know rules:{key}"
            );
        }
        let hit = rule
            .get("if")
            .is_none_or(|e| IfExpr::eval(e.as_str().unwrap(), vars));
        if hit {
            let when = rule.get("when").and_then(Value::as_str);
            return !matches!(when, Some("never" | "manual"));
        }
    }
    false
}

/// A merge-request pipeline: CI_COMMIT_BRANCH unset, CI_OPEN_MERGE_REQUESTS set
/// (doc/ci/variables/predefined_variables.md).
fn merge_request_pipeline() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_OPEN_MERGE_REQUESTS", "group/app!7"),
        ("CI_COMMIT_REF_NAME", "feature"),
        ("CI_COMMIT_REF_SLUG", "feature"),
        ("CI_DEFAULT_BRANCH", "main"),
    ])
}

/// The pipelines of the default branch: a push, a schedule, one run from the UI or the API.
fn default_branch_pipelines() -> Vec<BTreeMap<&'static str, &'static str>> {
    ["push", "schedule", "web", "api"]
        .into_iter()
        .map(|source| {
            BTreeMap::from([
                ("CI_PIPELINE_SOURCE", source),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_COMMIT_REF_SLUG", "main"),
                ("CI_DEFAULT_BRANCH", "main"),
            ])
        })
        .collect()
}

/// A gate job a pipeline file includes: its name, every input (defaults filled in) and the
/// rules it runs by.
struct IncludedGate {
    job: String,
    inputs: BTreeMap<String, Value>,
    rules: Value,
}

fn included_gates(doc: &Value) -> Vec<IncludedGate> {
    let mut gates = Vec::new();
    for include in doc["include"].as_array().into_iter().flatten() {
        let component = include["component"].as_str().unwrap_or_default();
        let path = if component.contains("/loadforge-gate-sharded@") {
            "templates/loadforge-gate-sharded.yml"
        } else if component.contains("/loadforge-gate@") {
            "templates/loadforge-gate.yml"
        } else {
            continue;
        };
        let docs = documents(&read(path));
        let mut inputs: BTreeMap<String, Value> = template_inputs(&docs[0])
            .iter()
            .map(|(k, v)| (k.clone(), v["default"].clone()))
            .collect();
        for (k, v) in include["inputs"].as_object().into_iter().flatten() {
            inputs.insert(k.clone(), v.clone());
        }
        let job = inputs["job-prefix"].as_str().unwrap().to_string();
        // A job of that name in the file overrides the component's keys, `rules` included
        // (doc/ci/yaml/includes.md, "Override included configuration values").
        let rules = match doc.get(&job).and_then(|j| j.get("rules")) {
            Some(own) => own.clone(),
            None => expand_jobs(&docs[1], &inputs)[&job]["rules"].clone(),
        };
        gates.push(IncludedGate { job, inputs, rules });
    }
    gates
}

/// Whether a gate judges merge requests: in their merge-request pipelines, or in the branch
/// pipeline of a branch with an open merge request (`pipelines: branch`).
fn serves_merge_requests(g: &IncludedGate) -> bool {
    rules_run(&g.rules, &merge_request_pipeline())
        || rules_run(&g.rules, &branch_pipeline("push", "feature", true))
}

/// What shapes a run, and so must be the same for a merge request and its baseline.
const LOAD_INPUTS: [&str; 11] = [
    "engine",
    "scenario",
    "locustfile",
    "loadforge-test-id",
    "loadforge-url",
    "host",
    "users",
    "spawn-rate",
    "run-time",
    "profile",
    "config",
];

/// Why a pipeline's merge-request gates would have no fair baseline. The gate takes its baseline
/// BY JOB NAME from the latest successful pipeline of the target branch
/// (`/jobs/artifacts/:ref/raw/*path?job=NAME`; gitlabhq app/models/project.rb,
/// `latest_successful_build_for_ref`), so every gate that runs in merge-request pipelines needs
/// a twin of the same name that runs in the default branch's pipelines with the same scenario,
/// load and kind of host. In one file a name is one job (GitLab merges two includes of it), so
/// the twin is the gate itself, and none of its load inputs may name a merge-request-only
/// variable, which is empty on the default branch.
fn twin_problems(what: &str, doc: &Value) -> Vec<String> {
    let gates = included_gates(doc);
    let defaults = default_branch_pipelines();
    let mut problems = Vec::new();
    for (i, g) in gates.iter().enumerate() {
        if gates[..i].iter().any(|o| o.job == g.job) {
            problems.push(format!(
                "{what}: two includes make the job `{}`; GitLab merges them into one",
                g.job
            ));
        }
    }
    // A paired gate (`compare-host`) measures its base beside it in the same job: it needs no
    // default-branch run to compare with (docs/paired.md).
    let paired = |g: &IncludedGate| {
        g.inputs["compare-host"]
            .as_str()
            .is_some_and(|h| !h.trim().is_empty())
    };
    for g in gates
        .iter()
        .filter(|g| serves_merge_requests(g) && !paired(g))
    {
        let twins: Vec<&IncludedGate> = gates
            .iter()
            .filter(|t| t.job == g.job && defaults.iter().any(|p| rules_run(&t.rules, p)))
            .collect();
        if twins.is_empty() {
            problems.push(format!(
                "{what}: `{}` runs in merge-request pipelines but never on the default branch, \
                 so it never finds a baseline",
                g.job
            ));
        }
        for t in twins {
            for k in LOAD_INPUTS
                .into_iter()
                .filter(|k| t.inputs[*k] != g.inputs[*k])
            {
                problems.push(format!("{what}: `{}`'s twin has another {k}", g.job));
            }
        }
        for k in LOAD_INPUTS {
            let text = g.inputs[k].to_string();
            if ["CI_MERGE_REQUEST_", "CI_EXTERNAL_PULL_REQUEST_"]
                .iter()
                .any(|v| text.contains(v))
            {
                problems.push(format!(
                    "{what}: `{}`'s {k} {text} names a merge-request variable, empty on the \
                     default branch: its baseline would measure another target",
                    g.job
                ));
            }
        }
    }
    problems
}

/// The pages that show pipelines: the README first, then every page of docs/, by name.
fn pipeline_docs() -> Vec<(String, String)> {
    let mut docs: Vec<String> = std::fs::read_dir(format!("{ROOT}/docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    std::iter::once("README.md".to_string())
        .chain(docs)
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect()
}

/// A page's YAML examples that include the component.
fn pipelines_in(text: &str) -> Vec<Value> {
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split_once("\n```").map(|(yaml, _)| yaml))
        .filter(|yaml| yaml.contains("- component:"))
        .map(|yaml| documents(yaml).remove(0))
        .collect()
}

/// Every example (and those of the README and docs/, and our own pipeline) gives each merge-request gate a
/// default-branch twin: same job name, scenario, load and kind of host.
#[test]
fn every_merge_request_gate_has_a_default_branch_twin() {
    let mut problems = Vec::new();
    let mut merge_request_gates = 0;
    for path in example_paths()
        .iter()
        .map(String::as_str)
        .chain([".gitlab-ci.yml"])
    {
        let doc = &documents(&read(path))[0];
        problems.extend(twin_problems(path, doc));
        merge_request_gates += included_gates(doc)
            .iter()
            .filter(|g| serves_merge_requests(g))
            .count();
    }
    let mut shown = 0;
    for (path, text) in pipeline_docs() {
        let pipelines = pipelines_in(&text);
        if path == "README.md" {
            assert!(!pipelines.is_empty(), "the README's pipeline");
        }
        for (i, doc) in pipelines.iter().enumerate() {
            shown += 1;
            problems.extend(twin_problems(&format!("{path} pipeline {}", i + 1), doc));
        }
    }
    // The README's own, the rules and two-gates examples, the sharded run, the executor's.
    assert!(shown >= 5, "the pipelines of the README and docs/: {shown}");
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(merge_request_gates >= 2, "the examples gate merge requests");

    // It catches what it is for: a gate on merge requests only, a gate whose target names the
    // merge request, and a name shared by two includes.
    let gate = |inputs: &str| {
        documents(&format!(
            "include:\n  - component: x/loadforge/loadforge-gate/loadforge-gate@1.0.0\n    \
             inputs:\n      job-prefix: perf-smoke\n{inputs}"
        ))
        .remove(0)
    };
    let mr_only = gate(
        "      pipelines: custom\n      rules:\n        - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n",
    );
    assert_eq!(twin_problems("mr-only", &mr_only).len(), 1);
    let review = gate("      host: https://review-$CI_MERGE_REQUEST_IID.example.com\n");
    assert_eq!(twin_problems("review", &review).len(), 1);
    let paired = gate(
        "      pipelines: custom\n      rules:\n        - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n      host: https://review-$CI_MERGE_REQUEST_IID.example.com\n      compare-host: https://review-base-$CI_MERGE_REQUEST_IID.example.com\n",
    );
    assert!(twin_problems("paired", &paired).is_empty());
    let mut twice = gate("");
    let again = twice["include"][0].clone();
    twice["include"].as_array_mut().unwrap().push(again);
    assert!(twin_problems("twice", &twice)[0].contains("merges them"));
}

/// The evaluator reads the default rules as GitLab does (the emulator test runs them for real).
#[test]
fn the_rules_evaluator_reads_the_default_rules_as_gitlab_does() {
    // GitLab's switch between branch and merge-request pipelines (doc/ci/yaml/workflow.md).
    let rules = json!([
        {"if": "$CI_PIPELINE_SOURCE == \"merge_request_event\""},
        {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
        {"if": "$CI_COMMIT_BRANCH"},
    ]);
    assert!(rules_run(&rules, &merge_request_pipeline()));
    for p in default_branch_pipelines() {
        assert!(rules_run(&rules, &p), "{p:?}");
    }
    assert!(!rules_run(
        &rules,
        &branch_pipeline("push", "feature", true)
    ));
    assert!(!rules_run(&rules, &tag_pipeline()));
    let vars = BTreeMap::from([("A", "x"), ("B", "")]);
    for (expr, want) in [
        ("$A", true),
        ("$B", false),
        ("$C", false),
        ("$A == \"x\" && ($B || $A != 'y')", true),
        ("$C == null", true),
        ("${A} == $A", true),
        ("$C =~ /^\\d+$/ || $B", false),
        ("$C !~ /x/", true),
    ] {
        assert_eq!(IfExpr::eval(expr, &vars), want, "{expr}");
    }
}

/// This project's release job publishes to the CI/CD Catalog the documented way: the `release`
/// keyword in a job with the GitLab CLI image (doc/ci/components/_index.md, "Publish a new
/// release"), not the release-cli image deprecated in GitLab 18.0
/// (doc/user/project/releases/release_cli.md); and a release tag is self-tested first.
#[test]
fn our_release_job_publishes_with_the_gitlab_cli_after_the_self_test() {
    let doc = &documents(&read(".gitlab-ci.yml"))[0];
    let release = &doc["release"];
    assert_eq!(
        release["image"],
        "registry.gitlab.com/gitlab-org/cli:latest"
    );
    assert_eq!(release["release"]["tag_name"], "$CI_COMMIT_TAG");
    assert_eq!(
        release["rules"],
        json!([{"if": "$CI_COMMIT_TAG =~ /^\\d+\\.\\d+\\.\\d+$/"}])
    );
    // GitLab generates `glab release create ... --publish-to-catalog` from the keyword: a
    // script of our own that creates the release as well would make the keyword's fail.
    let script = release["script"].to_string();
    assert!(!script.contains("glab release create"), "{script}");
    assert_eq!(
        doc["stages"].as_array().unwrap().last(),
        Some(&json!("release"))
    );

    let gates = included_gates(doc);
    assert_eq!(gates.len(), 1);
    let tag = BTreeMap::from([("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_TAG", "1.2.3")]);
    assert!(
        rules_run(&gates[0].rules, &tag),
        "the self-test runs in tag pipelines"
    );
    assert!(rules_run(&gates[0].rules, &default_branch_pipelines()[0]));
}
