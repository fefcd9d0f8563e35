//! The exact `k6 run` command line, built as an argument vector (never through a shell), and
//! the options file of the open model.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use serde_json::{json, Value};

use super::K6Plan;

/// What sets the load: the gate's flags, or the script's own options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum K6Load {
    /// The script leaves the load to the command line: users, spawn rate and run time (this
    /// process's share of the users), or the open model.
    Flags {
        users: u32,
        spawn_rate: f64,
        run_time: Duration,
        /// The open model, as k6's arrival-rate executors; `users` and `spawn_rate` then only
        /// describe the result.
        open: Option<OpenModel>,
    },
    /// The script sets its load itself (`scenarios`, `stages`, `vus`, `duration` or
    /// `iterations`): no load flag is passed, since k6 lets a flag override them.
    Script,
}

/// The open model (`--rate`): iterations start on a schedule whatever the answers' times, as
/// k6's `constant-arrival-rate` executor, or `ramping-arrival-rate` from zero when there is a
/// ramp. The figures are the whole run's: a shard runs its execution segment of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenModel {
    /// Iterations per second.
    pub(crate) rate: f64,
    /// The rate rises linearly from zero over this long (zero: no ramp); at most the run time.
    pub(crate) ramp: Duration,
    /// The pool of virtual users iterations run on, as in the native engine's open model:
    /// k6's `preAllocatedVUs` and `maxVUs`. An iteration due while all of them are busy is one
    /// k6 drops (its `dropped_iterations`), where the native engine starts it late.
    pub(crate) users: u32,
    /// How long iterations keep arriving.
    pub(crate) run_time: Duration,
}

/// This process's part of a sharded run, for k6's own partitioning of a whole-run load
/// (`--execution-segment` of `--execution-segment-sequence`): shard `index` of `count` runs the
/// segment `(index-1)/count : index/count` of the sequence `0, 1/count, ..., 1`. Each shard
/// computes its part of every scenario exactly (VUs, iterations, arrival rates), so together
/// they run exactly the whole load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    /// 1-based.
    pub(crate) index: u32,
    pub(crate) count: u32,
}

impl Segment {
    fn point(i: u32, n: u32) -> String {
        match i {
            0 => "0".into(),
            i if i == n => "1".into(),
            i => format!("{i}/{n}"),
        }
    }

    /// `--execution-segment`'s value: `0:1/3`, `1/3:2/3`, `2/3:1`.
    pub(crate) fn segment(&self) -> String {
        let n = self.count;
        format!(
            "{}:{}",
            Self::point(self.index - 1, n),
            Self::point(self.index, n)
        )
    }

    /// `--execution-segment-sequence`'s value: `0,1/3,2/3,1`.
    pub(crate) fn sequence(&self) -> String {
        let n = self.count;
        (0..=n)
            .map(|i| Self::point(i, n))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Where k6 writes what the gate reads, inside the output directory's `k6/` folder.
#[derive(Debug, Clone)]
pub(crate) struct OutputFiles {
    pub(crate) dir: PathBuf,
}

impl OutputFiles {
    /// The FIFO k6's JSON output streams through.
    pub(crate) fn samples(&self) -> PathBuf {
        self.dir.join("k6-samples.fifo")
    }
    /// k6's end-of-test summary (`--summary-export`): the thresholds' results.
    pub(crate) fn summary(&self) -> PathBuf {
        self.dir.join("k6-summary.json")
    }
    /// k6's own output.
    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("k6.log")
    }
    /// The options file of the open model (`--config`).
    pub(crate) fn options(&self) -> PathBuf {
        self.dir.join("k6-options.json")
    }
}

/// The name of the open model's scenario (k6's `scenario` tag on its samples).
const OPEN_SCENARIO: &str = "open_model";

/// Iterations per second as k6 takes them: a whole number of iterations per `timeUnit`.
/// `rate` is `n` iterations per `n / rate` seconds, `n` the rate rounded (at least one), the
/// unit in whole nanoseconds: `10` is 10 per `1s`, `2.5` is 3 per `1200ms`, `1/3` is 1 per
/// `3s`; the unit's rounding is at most half a nanosecond in `n / rate` seconds, a relative
/// error under 1e-9 for any rate from one a day up.
pub(crate) fn per_time_unit(rate: f64) -> (u64, String) {
    let n = rate.round().max(1.0);
    let ns = (n * 1e9 / rate).round() as u64;
    let unit = if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{ns}ns")
    };
    (n as u64, unit)
}

/// A duration as k6 reads it, to the millisecond.
fn k6_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The open model as k6 options: one scenario of the arrival-rate executor. Passed in a
/// `--config` file, the lowest of k6's option layers (file < script < `K6_*` variables <
/// flags, k6 `cmd/config.go` `getConsolidatedConfig`), so it never overrides a script's own.
pub(crate) fn open_options(open: &OpenModel) -> Value {
    let (rate, unit) = per_time_unit(open.rate);
    let ramp = open.ramp.min(open.run_time);
    let mut scenario = if ramp.is_zero() {
        json!({
            "executor": "constant-arrival-rate",
            "rate": rate,
            "duration": k6_duration(open.run_time),
        })
    } else {
        let mut stages = vec![json!({"duration": k6_duration(ramp), "target": rate})];
        if open.run_time > ramp {
            stages.push(json!({"duration": k6_duration(open.run_time - ramp), "target": rate}));
        }
        json!({
            "executor": "ramping-arrival-rate",
            "startRate": 0,
            "stages": stages,
        })
    };
    scenario["timeUnit"] = unit.into();
    scenario["preAllocatedVUs"] = open.users.into();
    scenario["maxVUs"] = open.users.into();
    json!({ "scenarios": { OPEN_SCENARIO: scenario } })
}

/// Writes the open model's options file, or removes an earlier run's when there is none.
pub(crate) fn write_options(plan: &K6Plan, files: &OutputFiles) -> std::io::Result<()> {
    let path = files.options();
    match &plan.load {
        K6Load::Flags {
            open: Some(open), ..
        } => std::fs::write(&path, open_options(open).to_string()),
        _ => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// k6's default system tags (grafana.com/docs/k6/latest/using-k6/k6-options/reference/
/// #system-tags) and `vu`, which ties a check to the request its user made before it (k6 1.x
/// writes it as the sample's metadata, not as a tag, so it adds k6 no time series).
pub(crate) const SYSTEM_TAGS: &str = "proto,subproto,status,method,url,name,group,check,error,error_code,tls_version,scenario,service,expected_response,vu";

/// `k6 run` with the gate's outputs and, when the script leaves it to the command line, the
/// load: `--vus` and `--duration`, or with a ramp (users / spawn rate seconds) `--stage`s
/// that ramp up and then hold; the open model's options file. A shard of a whole-run load
/// (the script's own, or the open model) gets its execution segment; a shard of the closed
/// model's flags already has its share of the users. The team's extra arguments come last,
/// then the script. k6 is told not to send its usage report: a CI job's k6 run is no business
/// of anyone outside the job (k6 would post to Grafana's stats server at the end and wait up
/// to 3 s for it), and the gate withholds `K6_*` variables, so a team could not opt out.
pub(crate) fn run_args(plan: &K6Plan, files: &OutputFiles, system_tags: &str) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "run".into(),
        "--quiet".into(),
        "--no-color".into(),
        "--no-usage-report".into(),
    ];
    let mut out = OsString::from("json=");
    out.push(files.samples());
    a.extend(["--out".into(), out]);
    let mut summary = OsString::from("--summary-export=");
    summary.push(files.summary());
    a.push(summary);
    a.extend(["--system-tags".into(), system_tags.into()]);
    a.extend(["--env".into(), format!("TARGET_HOST={}", plan.host).into()]);
    let whole_run = match &plan.load {
        K6Load::Flags {
            users,
            spawn_rate,
            run_time,
            open: None,
        } => {
            a.extend(load_flags(*users, *spawn_rate, *run_time));
            false
        }
        K6Load::Flags { open: Some(_), .. } => {
            let mut config = OsString::from("--config=");
            config.push(files.options());
            a.push(config);
            true
        }
        K6Load::Script => true,
    };
    if let (true, Some(segment)) = (whole_run, &plan.segment) {
        a.extend([
            "--execution-segment".into(),
            segment.segment().into(),
            "--execution-segment-sequence".into(),
            segment.sequence().into(),
        ]);
    }
    a.extend(plan.extra_args.iter().map(OsString::from));
    a.push(plan.script.clone().into_os_string());
    a
}

fn load_flags(users: u32, spawn_rate: f64, run_time: Duration) -> Vec<OsString> {
    let run_s = run_time.as_secs().max(1);
    let ramp_s = if spawn_rate > 0.0 {
        (f64::from(users) / spawn_rate).ceil() as u64
    } else {
        0
    };
    if ramp_s <= 1 {
        return vec![
            "--vus".into(),
            users.to_string().into(),
            "--duration".into(),
            format!("{run_s}s").into(),
        ];
    }
    let ramp_s = ramp_s.min(run_s);
    let mut stages = format!("{ramp_s}s:{users}");
    if run_s > ramp_s {
        stages.push_str(&format!(",{}s:{users}", run_s - ramp_s));
    }
    vec!["--stage".into(), stages.into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(load: K6Load) -> K6Plan {
        K6Plan {
            bin: "k6".into(),
            script: "/repo/perf/shop.js".into(),
            host: "https://app.example.com".into(),
            load,
            script_run_time: None,
            extra_args: vec!["--tag".into(), "team=shop".into()],
            out_dir: "/out".into(),
            progress_every: None,
            max_endpoints: 1000,
            segment: None,
        }
    }

    fn line(load: K6Load) -> String {
        let files = OutputFiles {
            dir: "/out/k6".into(),
        };
        run_args(&plan(load), &files, "name,vu")
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_load_is_passed_when_the_script_leaves_it_to_the_command_line() {
        let fixed = line(K6Load::Flags {
            users: 20,
            spawn_rate: 100.0,
            run_time: Duration::from_secs(90),
            open: None,
        });
        assert_eq!(
            fixed,
            "run --quiet --no-color --no-usage-report --out json=/out/k6/k6-samples.fifo --summary-export=/out/k6/k6-summary.json \
             --system-tags name,vu --env TARGET_HOST=https://app.example.com --vus 20 --duration 90s \
             --tag team=shop /repo/perf/shop.js"
        );
        let ramp = line(K6Load::Flags {
            users: 20,
            spawn_rate: 2.0,
            run_time: Duration::from_secs(90),
            open: None,
        });
        assert!(ramp.contains(" --stage 10s:20,80s:20 --tag"), "{ramp}");
        let all_ramp = line(K6Load::Flags {
            users: 20,
            spawn_rate: 0.1,
            run_time: Duration::from_secs(90),
            open: None,
        });
        assert!(all_ramp.contains(" --stage 90s:20 --tag"), "{all_ramp}");
    }

    #[test]
    fn a_script_with_its_own_load_gets_no_load_flag() {
        let own = line(K6Load::Script);
        for flag in ["--vus", "--duration", "--stage", "--iterations"] {
            assert!(!own.contains(flag), "{own}");
        }
    }

    fn line_of(plan: &K6Plan) -> String {
        let files = OutputFiles {
            dir: "/out/k6".into(),
        };
        run_args(plan, &files, "name,vu")
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn open(rate: f64, ramp: u64) -> K6Load {
        K6Load::Flags {
            users: 4,
            spawn_rate: 10.0,
            run_time: Duration::from_secs(60),
            open: Some(OpenModel {
                rate,
                ramp: Duration::from_secs(ramp),
                users: 12,
                run_time: Duration::from_secs(60),
            }),
        }
    }

    /// Shard 2 of 3 of a whole-run load runs k6's middle third; the sequence names every
    /// shard's, so k6 stripes VUs and iterations over them exactly.
    #[test]
    fn a_shard_of_a_whole_run_load_gets_its_execution_segment() {
        let seg = |index, count| Segment { index, count };
        assert_eq!(seg(1, 1).segment(), "0:1");
        assert_eq!(seg(1, 3).segment(), "0:1/3");
        assert_eq!(seg(2, 3).segment(), "1/3:2/3");
        assert_eq!(seg(3, 3).segment(), "2/3:1");
        assert_eq!(seg(3, 3).sequence(), "0,1/3,2/3,1");
        let own = K6Plan {
            segment: Some(seg(2, 3)),
            ..plan(K6Load::Script)
        };
        assert!(
            line_of(&own).contains(
                " --execution-segment 1/3:2/3 --execution-segment-sequence 0,1/3,2/3,1 --tag team=shop /repo/perf/shop.js"
            ),
            "{}",
            line_of(&own)
        );
        let open = K6Plan {
            segment: Some(seg(1, 2)),
            ..plan(open(10.0, 0))
        };
        let text = line_of(&open);
        assert!(
            text.contains(" --config=/out/k6/k6-options.json --execution-segment 0:1/2 "),
            "{text}"
        );
        // The closed model's flags are this shard's share already: no segment on top.
        let closed = K6Plan {
            segment: Some(seg(1, 2)),
            ..plan(K6Load::Flags {
                users: 5,
                spawn_rate: 100.0,
                run_time: Duration::from_secs(9),
                open: None,
            })
        };
        let text = line_of(&closed);
        assert!(!text.contains("segment"), "{text}");
        assert!(text.contains(" --vus 5 --duration 9s "), "{text}");
    }

    /// The open model is an options file of one arrival-rate scenario, and no load flag (a
    /// flag would override the file).
    #[test]
    fn the_open_model_is_an_arrival_rate_scenario_in_a_config_file() {
        let text = line_of(&plan(open(10.0, 0)));
        for flag in ["--vus", "--duration", "--stage", "segment"] {
            assert!(!text.contains(flag), "{text}");
        }
        let K6Load::Flags {
            open: Some(constant),
            ..
        } = open(10.0, 0)
        else {
            unreachable!()
        };
        assert_eq!(
            open_options(&constant),
            json!({"scenarios": {"open_model": {
                "executor": "constant-arrival-rate", "rate": 10, "timeUnit": "1s",
                "duration": "60000ms", "preAllocatedVUs": 12, "maxVUs": 12,
            }}})
        );
        let K6Load::Flags {
            open: Some(ramped), ..
        } = open(2.5, 15)
        else {
            unreachable!()
        };
        assert_eq!(
            open_options(&ramped),
            json!({"scenarios": {"open_model": {
                "executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1200ms",
                "stages": [{"duration": "15000ms", "target": 3}, {"duration": "45000ms", "target": 3}],
                "preAllocatedVUs": 12, "maxVUs": 12,
            }}})
        );
        let whole_ramp = OpenModel {
            ramp: Duration::from_secs(60),
            ..ramped
        };
        assert_eq!(
            open_options(&whole_ramp)["scenarios"]["open_model"]["stages"],
            json!([{"duration": "60000ms", "target": 3}])
        );
    }

    /// Any rate becomes whole iterations per unit within a part in a billion.
    #[test]
    fn rates_become_whole_iterations_per_time_unit() {
        assert_eq!(per_time_unit(10.0), (10, "1s".into()));
        assert_eq!(per_time_unit(2.5), (3, "1200ms".into()));
        assert_eq!(per_time_unit(1.0 / 3.0), (1, "3s".into()));
        assert_eq!(per_time_unit(0.5), (1, "2s".into()));
        assert_eq!(per_time_unit(1.0 / 86_400.0), (1, "86400s".into()));
        assert_eq!(per_time_unit(10.0 / 3.0), (3, "900ms".into()));
        for rate in [1.0 / 86_400.0, 0.3, 3.333_333, 7.77, 1234.567, 999_999.9] {
            let (n, unit) = per_time_unit(rate);
            let ns: f64 = if let Some(s) = unit.strip_suffix("ms") {
                s.parse::<f64>().unwrap() * 1e6
            } else if let Some(s) = unit.strip_suffix("ns") {
                s.parse().unwrap()
            } else {
                unit.strip_suffix('s').unwrap().parse::<f64>().unwrap() * 1e9
            };
            let k6_rate = n as f64 * 1e9 / ns;
            assert!(
                (k6_rate - rate).abs() / rate < 1e-9,
                "{rate}: {n} per {unit}"
            );
        }
    }

    #[test]
    fn the_options_file_is_written_for_the_open_model_only() {
        let dir = tempfile::tempdir().unwrap();
        let files = OutputFiles {
            dir: dir.path().into(),
        };
        write_options(&plan(open(10.0, 0)), &files).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(files.options()).unwrap()).unwrap();
        assert_eq!(written["scenarios"]["open_model"]["rate"], 10);
        write_options(&plan(K6Load::Script), &files).unwrap();
        assert!(
            !files.options().exists(),
            "an earlier run's file is removed"
        );
        write_options(&plan(K6Load::Script), &files).unwrap();
    }
}
