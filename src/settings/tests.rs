use super::*;
use crate::cli::LoadArgs;

fn args() -> RunArgs {
    RunArgs {
        load: LoadArgs {
            scenario: Some("s.yml".into()),
            host: Some("http://127.0.0.1:1".into()),
            ..LoadArgs::default()
        },
        judge: JudgeArgs::default(),
    }
}

fn with_load(f: impl FnOnce(&mut LoadArgs)) -> RunArgs {
    let mut a = args();
    f(&mut a.load);
    a
}

fn with_thresholds(t: &[&str]) -> RunArgs {
    let mut a = args();
    a.judge.thresholds = Some(t.iter().map(|s| s.to_string()).collect());
    a
}

/// The thresholds as written.
fn sources(s: &Settings) -> Vec<&str> {
    s.gate
        .thresholds
        .iter()
        .map(|t| t.source.as_str())
        .collect()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn defaults_apply_and_say_so() {
    let s = Settings::from_args(&args(), &no_env, None).unwrap();
    assert_eq!(s.users, defaults::USERS);
    assert!(s.gate.thresholds.is_built_in());
    assert_eq!(s.gate.thresholds[0].source, "error_rate<1%");
    assert_eq!(s.gate.out, PathBuf::from("loadforge-gate"));
    assert_eq!(s.progress_every, Some(defaults::PROGRESS_EVERY));
}

#[test]
fn rule_lists_accept_a_json_array_from_a_component_input() {
    let a = with_thresholds(&[r#"["p95<500ms", "GET /a: p99<1s"]"#, " "]);
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    let exprs = sources(&s);
    assert_eq!(exprs, ["p95<500ms", "GET /a: p99<1s"]);
    let a = with_thresholds(&["[]"]);
    assert!(Settings::from_args(&a, &no_env, None)
        .unwrap()
        .gate
        .thresholds
        .is_built_in());
    let a = with_thresholds(&["[1, 2"]);
    assert!(Settings::from_args(&a, &no_env, None).is_err());
}

#[test]
fn target_host_is_the_fallback() {
    let a = with_load(|l| l.host = None);
    let env = |k: &str| (k == "TARGET_HOST").then(|| "https://staging.example.com".to_string());
    let s = Settings::from_args(&a, &env, None).unwrap();
    assert_eq!(s.host.as_str(), "https://staging.example.com/");
}

/// A target id is a short name on one line, trimmed; blank (an input left empty) is none.
#[test]
fn a_target_id_is_a_short_name_and_blank_is_none() {
    let id = |text: &str| {
        Settings::from_args(
            &with_load(|l| l.target_id = Some(text.into())),
            &no_env,
            None,
        )
        .map(|s| s.target_id)
        .map_err(|e| e.to_string())
    };
    assert_eq!(id(" shop-staging "), Ok(Some("shop-staging".into())));
    assert_eq!(id("   "), Ok(None));
    assert_eq!(
        Settings::from_args(&args(), &no_env, None)
            .unwrap()
            .target_id,
        None
    );
    let long = id(&"x".repeat(crate::stats::MAX_TARGET_ID + 1)).unwrap_err();
    assert!(
        long.starts_with("--target-id: is longer than 128 bytes"),
        "{long}"
    );
    let control = id("shop\u{1b}[31m").unwrap_err();
    assert!(
        control.starts_with("--target-id: holds a control character"),
        "{control}"
    );
    // A config file's key, below the flag.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loadforge-gate.yml"), "target_id: shop\n").unwrap();
    let s = Settings::from_args(&args(), &no_env, Some(dir.path())).unwrap();
    assert_eq!(s.target_id.as_deref(), Some("shop"));
}

#[test]
fn bad_values_name_the_setting() {
    for (tweak, needle) in [
        (with_load(|l| l.host = Some("not a url".into())), "--host"),
        (with_load(|l| l.host = Some("ftp://x".into())), "--host"),
        (with_load(|l| l.run_time = Some("0s".into())), "--run-time"),
        (with_load(|l| l.spawn_rate = Some(-1.0)), "--spawn-rate"),
        (with_thresholds(&["p95<<3"]), "p95<<3"),
    ] {
        let err = Settings::from_args(&tweak, &no_env, None).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// Finding (hardening round 3): `--baseline-history` had no upper bound, so with an API token
/// the look-up could walk every successful pipeline of the branch, and the chain grew
/// results.json past what the next run reads. At most 100, from the flag or the config file.
#[test]
fn baseline_history_has_a_documented_maximum() {
    let mut a = args();
    a.judge.baseline_history = Some(100);
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    assert_eq!(s.gate.baseline_history, 100);
    a.judge.baseline_history = Some(101);
    let err = Settings::from_args(&a, &no_env, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--baseline-history: 101 runs is more than the history keeps; give at most 100"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(defaults::CONFIG_FILE),
        "baseline_history: 5000\n",
    )
    .unwrap();
    assert!(Settings::from_args(&args(), &no_env, Some(dir.path())).is_err());
}

/// The YAML budgets are job settings (flags and variables): they govern the config file
/// itself, which is read within them, and the scenario; each is bounded.
#[test]
fn yaml_budgets_are_settings_with_bounds() {
    let s = Settings::from_args(&args(), &no_env, None).unwrap();
    assert_eq!(s.yaml, crate::yaml::YamlBudget::default());
    let mut a = args();
    a.judge.yaml_max_nodes = Some(5_000_000);
    a.judge.yaml_max_depth = Some(300);
    a.judge.yaml_max_aliases = Some(2_000_000);
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    assert_eq!(
        (s.yaml.nodes, s.yaml.depth, s.yaml.aliases),
        (5_000_000, 300, 2_000_000)
    );
    type Tweak = fn(&mut RunArgs);
    let tweaks: [(Tweak, &str); 3] = [
        (
            |a: &mut RunArgs| a.judge.yaml_max_depth = Some(1001),
            "--yaml-max-depth: 1001 must be 1 to 1000",
        ),
        (
            |a: &mut RunArgs| a.judge.yaml_max_nodes = Some(0),
            "--yaml-max-nodes: 0 must be 1 to 100000000",
        ),
        (
            |a: &mut RunArgs| a.judge.yaml_max_aliases = Some(100_000_001),
            "--yaml-max-aliases: 100000001 must be 1 to 100000000",
        ),
    ];
    for (tweak, said) in tweaks {
        let mut a = args();
        tweak(&mut a);
        let err = Settings::from_args(&a, &no_env, None).unwrap_err();
        assert_eq!(err.to_string(), said);
    }
    // The config file is read within the flags' budget.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(defaults::CONFIG_FILE),
        "users: 3\nrun_time: 5s\n",
    )
    .unwrap();
    let mut a = args();
    a.judge.yaml_max_nodes = Some(3);
    let err = Settings::from_args(&a, &no_env, Some(dir.path())).unwrap_err();
    let text = crate::chain::one_line(&err);
    assert!(text.contains("--yaml-max-nodes"), "{text}");
}

fn loadforge_env(k: &str) -> Option<String> {
    (k == "LOADFORGE_API_TOKEN").then(|| "lf-token".to_string())
}

fn loadforge(f: impl FnOnce(&mut LoadArgs)) -> RunArgs {
    with_load(|l| {
        l.engine = Some(crate::cli::EngineArg::Loadforge);
        l.scenario = None;
        l.loadforge_test_id = Some("42".into());
        f(l);
    })
}

/// "Unset" is `None`, never zero: a zero wait is refused, not silently replaced.
#[test]
fn a_zero_wait_is_refused_and_an_absent_one_defaults_from_the_run_time() {
    for flag in ["--max-wait", "--poll-interval"] {
        let a = loadforge(|l| match flag {
            "--max-wait" => l.max_wait = Some("0s".into()),
            _ => l.poll_interval = Some("0".into()),
        });
        let err = Settings::from_args(&a, &loadforge_env, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{flag}: must be positive, e.g. 15s or 20m")
        );
    }
    let a = loadforge(|l| l.run_time = Some("2m".into()));
    let s = Settings::from_args(&a, &loadforge_env, None).unwrap();
    let EngineSettings::LoadForge(lf) = s.engine else {
        panic!("{:?}", s.engine)
    };
    assert_eq!(
        lf.max_wait,
        Duration::from_secs(120) + defaults::LOADFORGE_WAIT_MARGIN
    );
}

#[test]
fn progress_zero_means_no_progress_lines() {
    let a = with_load(|l| l.progress = Some(0));
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    assert_eq!(s.progress_every, None);
}

/// Every option that makes sense in a file can be set there, with flags still on top.
#[test]
fn the_config_file_sets_every_file_key_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(defaults::CONFIG_FILE),
        "engine: locust\nlocustfile: l.py\nlocust_args: [--tags, a]\nworkers: 2\n\
         workers_max_wait: 30\nstop_timeout: 3\nhost: http://h\nusers: 7\nrun_time: 45\n\
         comment: never\nbaseline_history: 2\nprogress: 0\n",
    )
    .unwrap();
    let mut a = args();
    a.load.scenario = None;
    a.load.host = None;
    a.load.users = Some(9);
    let s = Settings::from_args(&a, &no_env, Some(dir.path())).unwrap();
    let EngineSettings::Locust(l) = &s.engine else {
        panic!("{:?}", s.engine)
    };
    assert_eq!(l.locustfile, dir.path().join("l.py"));
    assert_eq!(l.extra_args, ["--tags", "a"]);
    assert_eq!(l.workers, Some(2));
    assert_eq!(l.workers_max_wait, Duration::from_secs(30));
    assert_eq!(l.stop_timeout, Duration::from_secs(3));
    assert_eq!(s.users, 9, "the flag wins over the file");
    assert_eq!(s.run_time, Duration::from_secs(45));
    assert_eq!(s.gate.comment, CommentMode::Never);
    assert_eq!(s.gate.baseline_history, 2);
    assert_eq!(s.progress_every, None);
}

/// Credentials in the target URL are refused, and the message never shows them.
#[test]
fn a_host_with_credentials_is_refused_without_echoing_them() {
    for host in [
        "https://deploy:hunter2@review.example.com/app",
        "http://hunter2@review.example.com",
        "https://deploy:hunter2 @bad host",
    ] {
        let a = with_load(|l| l.host = Some(host.into()));
        let err = Settings::from_args(&a, &no_env, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--host: `http"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    assert_eq!(
        crate::secret::redact_userinfo("https://a:b@h.example/x@y"),
        "https://***@h.example/x@y"
    );
}

/// A `;` inside a JSON array's rule stays in the rule; plain text still splits on `;`.
#[test]
fn json_arrays_are_parsed_before_anything_is_split() {
    let a = with_thresholds(&[r#"["GET /a;b: p95<1s", "error_rate<1%"]"#, "p99<2s;avg<1s"]);
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    let exprs = sources(&s);
    assert_eq!(
        exprs,
        ["GET /a;b: p95<1s", "error_rate<1%", "p99<2s", "avg<1s"]
    );
}

/// A relative `--locust-bin` is this directory's, not Locust's working directory's.
#[test]
fn a_relative_locust_bin_is_made_absolute() {
    let a = with_load(|l| {
        l.engine = Some(crate::cli::EngineArg::Locust);
        l.scenario = None;
        l.locustfile = Some("l.py".into());
        l.locust_bin = Some("./venv/bin/locust".into());
    });
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    let EngineSettings::Locust(l) = s.engine else {
        panic!("{:?}", s.engine)
    };
    assert!(l.bin.is_absolute(), "{}", l.bin.display());
    assert!(l.bin.ends_with("venv/bin/locust"));
}

/// `run` parsed by clap, as the binary would (the process's own `LOADFORGE_GATE_*` variables
/// apply, and tests do not set any).
fn parsed(argv: &[&str]) -> RunArgs {
    use clap::Parser;
    let argv = ["loadforge-gate", "run"].iter().chain(argv);
    match crate::cli::Cli::try_parse_from(argv).map(|c| c.command) {
        Ok(crate::cli::Command::Run(args)) => args,
        other => panic!("{other:?}"),
    }
}

/// A command line that gives nothing says nothing: no field of the flags' layer may hide a
/// config file's value (a switch left off is `None`, not `Some(false)`).
#[test]
fn an_empty_command_line_is_an_empty_layer() {
    let flags = args::run_flags(&parsed(&[]), &no_env).unwrap();
    assert_eq!(format!("{flags:?}"), format!("{:?}", Layer::default()));
    let flags = args::run_flags(&parsed(&["--insecure", "--no-proxy"]), &no_env).unwrap();
    assert_eq!(
        (flags.load.insecure, flags.judge.no_proxy),
        (Some(true), Some(true))
    );
}

/// flag > `TARGET_HOST` > profile > config file, and a switch off on the command line leaves
/// the file's on; in the file, a profile's `false` turns the top level's `true` off.
#[test]
fn precedence_is_flag_then_ci_variable_then_profile_then_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(defaults::CONFIG_FILE),
        "scenario: s.yml\nhost: http://file\nusers: 3\nno_proxy: true\ninsecure: true\n\
         profiles:\n  p:\n    host: http://profile\n    users: 4\n    insecure: false\n",
    )
    .unwrap();
    let target = |k: &str| (k == "TARGET_HOST").then(|| "http://target".to_string());
    let host = |argv: &[&str], env: Env<'_>| {
        let s = Settings::from_args(&parsed(argv), env, Some(dir.path())).unwrap();
        (s.host.to_string(), s.users, s.gate.net.no_proxy)
    };
    assert_eq!(host(&[], &no_env), ("http://file/".into(), 3, true));
    assert_eq!(
        host(&["--profile", "p"], &no_env),
        ("http://profile/".into(), 4, true)
    );
    assert_eq!(
        host(&["--profile", "p"], &target),
        ("http://target/".into(), 4, true)
    );
    assert_eq!(
        host(&["--host", "http://flag", "--users", "5"], &target),
        ("http://flag/".into(), 5, true)
    );
    let tls = |argv: &[&str]| {
        let s = Settings::from_args(&parsed(argv), &no_env, Some(dir.path())).unwrap();
        match s.engine {
            EngineSettings::Native(n) => n.tls.insecure,
            other => panic!("{other:?}"),
        }
    };
    assert!(tls(&[]), "the file's insecure: true");
    assert!(!tls(&["--profile", "p"]), "the profile's insecure: false");
    assert!(tls(&["--profile", "p", "--insecure"]), "the flag");
}

/// What the component sets when `users`, `spawn-rate` and `run-time` are left at their
/// defaults (0, 0, empty: GitLab sets every input's variable) leaves the load to the config
/// file's profile; given, they win over it.
#[test]
fn the_components_unset_load_leaves_it_to_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(defaults::CONFIG_FILE),
        "profiles:\n  stress:\n    users: 300\n    spawn_rate: 25\n    run_time: 10m\n",
    )
    .unwrap();
    let component = |users: &str, rate: &str, time: &str| {
        let a = parsed(&[
            "--scenario",
            "s.yml",
            "--host",
            "http://h",
            "--profile",
            "stress",
            "--users",
            users,
            "--spawn-rate",
            rate,
            "--run-time",
            time,
        ]);
        Settings::from_args(&a, &no_env, Some(dir.path())).unwrap()
    };
    let s = component("0", "0", "");
    assert_eq!((s.users, s.spawn_rate), (300, 25.0));
    assert_eq!(s.run_time, Duration::from_secs(600));
    let s = component("20", "5", "1m");
    assert_eq!((s.users, s.spawn_rate), (20, 5.0));
    assert_eq!(s.run_time, Duration::from_secs(60));
    // In a file, 0 users is a mistake.
    std::fs::write(dir.path().join(defaults::CONFIG_FILE), "users: 0\n").unwrap();
    let a = parsed(&["--scenario", "s.yml", "--host", "http://h"]);
    let err = Settings::from_args(&a, &no_env, Some(dir.path())).unwrap_err();
    assert!(err.to_string().contains("--users"), "{err}");
}

fn k6(f: impl FnOnce(&mut LoadArgs)) -> RunArgs {
    with_load(|l| {
        l.engine = Some(crate::cli::EngineArg::K6);
        l.scenario = None;
        l.k6_script = Some("s.js".into());
        f(l);
    })
}

/// k6 takes the open model (its arrival-rate executors) and shards; a warm-up it cannot keep
/// exactly and a ramp past the run are refused, naming the flag; Locust still has no open
/// model.
#[test]
fn k6_takes_the_open_model_and_shards_but_no_warmup() {
    let s = Settings::from_args(
        &k6(|l| {
            l.rate = Some(20.0);
            l.ramp = Some("10s".into());
            l.run_time = Some("1m".into());
            l.shard = Some("2/3".into());
        }),
        &no_env,
        None,
    )
    .unwrap();
    assert_eq!(s.rate, Some(20.0));
    assert_eq!(s.shard.as_ref().map(|s| (s.index, s.count)), Some((2, 3)));
    // The users are k6's to split when the script sets its own load: not checked here.
    let few = k6(|l| {
        l.users = Some(1);
        l.shard = Some("1/3".into());
    });
    assert!(Settings::from_args(&few, &no_env, None).is_ok());
    let refused = |a: RunArgs| {
        Settings::from_args(&a, &no_env, None)
            .unwrap_err()
            .to_string()
    };
    let warm = refused(k6(|l| l.warmup = Some("5s".into())));
    assert!(
        warm.starts_with("--warmup: the k6 engine has no exact warm-up"),
        "{warm}"
    );
    let ramp = refused(k6(|l| {
        l.rate = Some(5.0);
        l.ramp = Some("2m".into());
        l.run_time = Some("1m".into());
    }));
    assert!(ramp.starts_with("--ramp: "), "{ramp}");
    let locust = refused(with_load(|l| {
        l.engine = Some(crate::cli::EngineArg::Locust);
        l.scenario = None;
        l.locustfile = Some("l.py".into());
        l.rate = Some(5.0);
    }));
    assert_eq!(
        locust,
        "--rate: the open model needs the native or the k6 engine"
    );
    // The native engine still needs a user per shard before any load.
    let native = refused(with_load(|l| {
        l.users = Some(1);
        l.shard = Some("1/3".into());
    }));
    assert!(native.contains("cannot be split into 3 shards"), "{native}");
}

/// `--compare-host` is held to `--host`'s rules, shown redacted, and needs the native engine
/// and one job; blank (an input left empty) is none.
#[test]
fn a_compare_host_is_a_plain_url_for_the_native_engine_in_one_job() {
    let paired = |f: &dyn Fn(&mut LoadArgs)| {
        Settings::from_args(
            &with_load(|l| {
                l.compare_host = Some("http://127.0.0.1:2/app".into());
                l.run_time = Some("20s".into());
                f(l);
            }),
            &no_env,
            None,
        )
    };
    let s = paired(&|_| {}).unwrap();
    let p = s.paired.as_ref().unwrap();
    assert_eq!(p.compare_host.as_str(), "http://127.0.0.1:2/app");
    assert_eq!(
        (p.slice, p.turn, p.warmup, p.max_slices),
        (
            defaults::PAIRED_SLICE,
            defaults::PAIRED_TURN,
            defaults::PAIRED_WARMUP,
            defaults::PAIRED_MAX_SLICES
        )
    );
    assert!(paired(&|l| l.compare_host = Some("  ".into()))
        .unwrap()
        .paired
        .is_none());
    let err = |f: &dyn Fn(&mut LoadArgs)| paired(f).unwrap_err().to_string();
    let e = err(&|l| l.compare_host = Some("https://me:hunter2@base.example".into()));
    assert!(
        e.starts_with("--compare-host: ") && e.contains("credentials"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = err(&|l| l.compare_host = Some("ftp://base".into()));
    assert!(e.contains("http:// or https://"), "{e}");
    let e = err(&|l| {
        l.engine = Some(crate::cli::EngineArg::Locust);
        l.locustfile = Some("l.py".into());
    });
    assert!(e.contains("--engine native"), "{e}");
    let e = err(&|l| l.shard = Some("1/2".into()));
    assert!(e.contains("drop --shard"), "{e}");
}

#[test]
fn paired_slices_fit_the_run() {
    let paired = |timing: (&str, &str, &str), run: &str, max: Option<u32>| {
        Settings::from_args(
            &with_load(|l| {
                l.compare_host = Some("http://127.0.0.1:2".into());
                l.paired_slice = Some(timing.0.into());
                l.paired_turn = (!timing.1.is_empty()).then(|| timing.1.into());
                l.paired_warmup = Some(timing.2.into());
                l.run_time = Some(run.into());
                l.paired_max_slices = max;
            }),
            &no_env,
            None,
        )
        .map(|s| s.paired.map(|p| (p.slice, p.turn)).unwrap())
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        paired(("3s", "", "100ms"), "12s", None),
        Ok((Duration::from_secs(3), defaults::PAIRED_TURN))
    );
    assert_eq!(
        paired(("2s", "2s", "500ms"), "12s", None),
        Ok((Duration::from_secs(2), Duration::from_secs(2))),
        "a slice of one turn, as before turns"
    );
    for (timing, run, max, want) in [
        (
            ("2.5s", "", "0s"),
            "60s",
            None,
            "--paired-slice: `2.5s` must be a whole number",
        ),
        (("0s", "", "0s"), "60s", None, "at least 1s"),
        (
            ("5s", "", "250ms"),
            "60s",
            None,
            "--paired-warmup: `250ms` must be at most half a turn (250ms)",
        ),
        (
            ("1s", "300ms", "0s"),
            "60s",
            None,
            "--paired-turn: `300ms` must divide a slice (1s) into whole turns",
        ),
        (("1s", "20ms", "0s"), "60s", None, "at least 50 ms"),
        (("1s", "2s", "0s"), "60s", None, "--paired-turn: `2s`"),
        (("5s", "", "0s"), "19s", None, "holds less than two pairs"),
        (("1s", "", "0s"), "3s", None, "holds less than two pairs"),
        (
            ("1s", "", "0s"),
            "5s",
            Some(5),
            "makes 6 slices, more than 5",
        ),
        (
            ("5s", "", "0s"),
            "60s",
            Some(10),
            "makes 12 slices, more than 10",
        ),
        (
            ("5s", "", "0s"),
            "60s",
            Some(1),
            "--paired-max-slices: 1 must be 2 to",
        ),
    ] {
        let e = paired(timing, run, max).unwrap_err();
        assert!(e.contains(want), "{timing:?} {run}: {e}");
    }
}

/// `--until-decisive` is the run's limit in place of `--run-time`, decides a paired run only,
/// and needs a rule the slices can decide.
#[test]
fn until_decisive_limits_a_paired_run_with_a_rule_to_decide() {
    let settings = |f: &dyn Fn(&mut LoadArgs)| {
        Settings::from_args(&with_load(f), &no_env, None).map_err(|e| e.to_string())
    };
    let s = settings(&|l| {
        l.compare_host = Some("http://127.0.0.1:2".into());
        l.until_decisive = Some("3m".into());
        l.run_time = Some("30s".into());
    })
    .unwrap();
    assert_eq!(s.run_time, Duration::from_secs(180));
    assert!(s.paired.unwrap().until_decisive);
    let s = settings(&|l| {
        l.compare_host = Some("http://127.0.0.1:2".into());
        l.run_time = Some("30s".into());
    })
    .unwrap();
    assert_eq!(s.run_time, Duration::from_secs(30));
    assert!(!s.paired.unwrap().until_decisive);
    let e = settings(&|l| l.until_decisive = Some("2m".into())).unwrap_err();
    assert!(
        e.starts_with("--until-decisive: ") && e.contains("give --compare-host"),
        "{e}"
    );
    let e = settings(&|l| {
        l.compare_host = Some("http://127.0.0.1:2".into());
        l.until_decisive = Some("0s".into());
    })
    .unwrap_err();
    assert!(
        e.starts_with("--until-decisive: ") && e.contains("zero"),
        "{e}"
    );
    let mut a = with_load(|l| {
        l.compare_host = Some("http://127.0.0.1:2".into());
        l.until_decisive = Some("2m".into());
    });
    a.judge.regressions = Some(vec!["max +10%".into()]);
    let e = Settings::from_args(&a, &no_env, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--until-decisive: ") && e.contains("nothing could be decided"),
        "{e}"
    );
    a.judge.regressions = Some(vec!["max +10%".into(), "p99 +10%".into()]);
    assert!(Settings::from_args(&a, &no_env, None).is_ok());
}

/// `--http2` reaches the native engine's settings (over the scenario's, in the plan); the
/// other engines cannot speak HTTP/2 as asked, so asking for it there is refused, never
/// silently HTTP/1.1.
#[test]
fn http2_is_the_native_engines_and_refused_for_the_others() {
    let a = with_load(|l| l.http2 = Some(crate::cli::Http2Arg::Always));
    let s = Settings::from_args(&a, &no_env, None).unwrap();
    let EngineSettings::Native(n) = s.engine else {
        panic!("{:?}", s.engine)
    };
    assert_eq!(n.http2, Some(crate::modes::Http2Mode::Always));
    let unset = Settings::from_args(&args(), &no_env, None).unwrap();
    let EngineSettings::Native(n) = unset.engine else {
        panic!("{:?}", unset.engine)
    };
    assert_eq!(n.http2, None, "unset: the scenario decides");
    let locust = with_load(|l| {
        l.engine = Some(crate::cli::EngineArg::Locust);
        l.scenario = None;
        l.locustfile = Some("l.py".into());
        l.http2 = Some(crate::cli::Http2Arg::Auto);
    });
    let e = Settings::from_args(&locust, &no_env, None).unwrap_err();
    assert!(e.to_string().contains("--http2"), "{e}");
}
