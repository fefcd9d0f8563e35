//! The exact `k6 run` command line, built as an argument vector (never through a shell).

use std::{ffi::OsString, path::PathBuf, time::Duration};

use super::K6Plan;

/// What sets the load: the gate's flags, or the script's own options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum K6Load {
    /// The script leaves the load to the command line: users, spawn rate and run time.
    Flags {
        users: u32,
        spawn_rate: f64,
        run_time: Duration,
    },
    /// The script sets its load itself (`scenarios`, `stages`, `vus`, `duration` or
    /// `iterations`): no load flag is passed, since k6 lets a flag override them.
    Script,
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
}

/// k6's default system tags (grafana.com/docs/k6/latest/using-k6/k6-options/reference/
/// #system-tags) and `vu`, which ties a check to the request its user made before it (k6 1.x
/// writes it as the sample's metadata, not as a tag, so it adds k6 no time series).
pub(crate) const SYSTEM_TAGS: &str = "proto,subproto,status,method,url,name,group,check,error,error_code,tls_version,scenario,service,expected_response,vu";

/// `k6 run` with the gate's outputs and, when the script leaves it to the command line, the
/// load: `--vus` and `--duration`, or with a ramp (users / spawn rate seconds) `--stage`s
/// that ramp up and then hold. The team's extra arguments come last, then the script.
pub(crate) fn run_args(plan: &K6Plan, files: &OutputFiles, system_tags: &str) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["run".into(), "--quiet".into(), "--no-color".into()];
    let mut out = OsString::from("json=");
    out.push(files.samples());
    a.extend(["--out".into(), out]);
    let mut summary = OsString::from("--summary-export=");
    summary.push(files.summary());
    a.push(summary);
    a.extend(["--system-tags".into(), system_tags.into()]);
    a.extend(["--env".into(), format!("TARGET_HOST={}", plan.host).into()]);
    if let K6Load::Flags {
        users,
        spawn_rate,
        run_time,
    } = &plan.load
    {
        a.extend(load_flags(*users, *spawn_rate, *run_time));
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
        });
        assert_eq!(
            fixed,
            "run --quiet --no-color --out json=/out/k6/k6-samples.fifo --summary-export=/out/k6/k6-summary.json \
             --system-tags name,vu --env TARGET_HOST=https://app.example.com --vus 20 --duration 90s \
             --tag team=shop /repo/perf/shop.js"
        );
        let ramp = line(K6Load::Flags {
            users: 20,
            spawn_rate: 2.0,
            run_time: Duration::from_secs(90),
        });
        assert!(ramp.contains(" --stage 10s:20,80s:20 --tag"), "{ramp}");
        let all_ramp = line(K6Load::Flags {
            users: 20,
            spawn_rate: 0.1,
            run_time: Duration::from_secs(90),
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
}
