//! The exact Locust command lines, built as argument vectors (never through a shell). Every
//! setting is a flag, so neither `LOCUST_*` variables nor a stray `locust.conf` can change what
//! runs.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use super::LocustPlan;

/// Where Locust writes its files, inside the output directory (kept as artifacts).
#[derive(Debug, Clone)]
pub(crate) struct OutputFiles {
    pub(crate) dir: PathBuf,
}

impl OutputFiles {
    pub(crate) const PREFIX: &'static str = "locust";

    pub(crate) fn csv_prefix(&self) -> PathBuf {
        self.dir.join(Self::PREFIX)
    }
    pub(crate) fn stats(&self) -> PathBuf {
        self.dir.join(format!("{}_stats.csv", Self::PREFIX))
    }
    pub(crate) fn history(&self) -> PathBuf {
        self.dir.join(format!("{}_stats_history.csv", Self::PREFIX))
    }
    pub(crate) fn failures(&self) -> PathBuf {
        self.dir.join(format!("{}_failures.csv", Self::PREFIX))
    }
    /// `--json-file NAME` writes `NAME.json`.
    pub(crate) fn json_name(&self) -> PathBuf {
        self.dir.join(Self::PREFIX)
    }
    pub(crate) fn json(&self) -> PathBuf {
        self.dir.join(format!("{}.json", Self::PREFIX))
    }
    /// The gate's small Locust plugin (see `final_failures.py`), loaded by the master.
    pub(crate) fn plugin(&self) -> PathBuf {
        self.dir.join("loadforge_gate_final_failures.py")
    }
    /// What the plugin writes at quit: every failure, final.
    pub(crate) fn final_failures(&self) -> PathBuf {
        self.dir.join("locust_failures_final.json")
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// The master (or the only) Locust process.
pub(crate) fn master_args(
    plan: &LocustPlan,
    files: &OutputFiles,
    master_port: Option<u16>,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-f");
    // The team's locustfile, then the gate's plugin that writes the final failures at quit.
    let mut locustfiles = plan.locustfile.clone().into_os_string();
    locustfiles.push(",");
    locustfiles.push(files.plugin());
    a.push(locustfiles);
    let mut rest: Vec<OsString> = vec![
        "--headless".into(),
        "--host".into(),
        plan.host.clone().into(),
        "--users".into(),
        plan.users.to_string().into(),
        "--spawn-rate".into(),
        format!("{}", plan.spawn_rate).into(),
        "--run-time".into(),
        secs(plan.run_time).into(),
        "--csv".into(),
        files.csv_prefix().into_os_string(),
        "--csv-full-history".into(),
        "--json-file".into(),
        files.json_name().into_os_string(),
        // Locust's exit code is not a verdict: the gate judges the numbers.
        "--exit-code-on-error".into(),
        "0".into(),
        "--only-summary".into(),
        "--stop-timeout".into(),
        plan.stop_timeout.as_secs().to_string().into(),
    ];
    a.append(&mut rest);
    let expected = plan.workers.or(plan.remote_workers);
    if let Some(n) = expected {
        a.extend([
            "--master".into(),
            "--expect-workers".into(),
            n.to_string().into(),
            // Without it a missing worker makes the master wait forever.
            "--expect-workers-max-wait".into(),
            plan.workers_max_wait.as_secs().to_string().into(),
        ]);
        if plan.workers.is_some() {
            a.extend(["--master-bind-host".into(), "127.0.0.1".into()]);
        }
        if let Some(p) = master_port {
            a.extend(["--master-bind-port".into(), p.to_string().into()]);
        }
    }
    a.extend(plan.extra_args.iter().map(OsString::from));
    a
}

/// One local worker process.
pub(crate) fn worker_args(locustfile: &Path, master_port: u16) -> Vec<OsString> {
    vec![
        "-f".into(),
        locustfile.as_os_str().to_owned(),
        "--worker".into(),
        "--master-host".into(),
        "127.0.0.1".into(),
        "--master-port".into(),
        master_port.to_string().into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LocustPlan {
        LocustPlan {
            bin: "locust".into(),
            locustfile: "/repo/perf/locustfile.py".into(),
            host: "https://app.example.com".into(),
            users: 20,
            spawn_rate: 2.5,
            run_time: Duration::from_secs(90),
            stop_timeout: Duration::from_secs(10),
            workers: None,
            remote_workers: None,
            workers_max_wait: Duration::from_secs(60),
            extra_args: vec!["--loglevel".into(), "WARNING".into()],
            out_dir: "/out".into(),
            progress_every: None,
            max_endpoints: 1000,
        }
    }

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn every_setting_is_a_flag() {
        let files = OutputFiles {
            dir: "/out/locust".into(),
        };
        let a = strings(master_args(&plan(), &files, None)).join(" ");
        assert_eq!(
            a,
            "-f /repo/perf/locustfile.py,/out/locust/loadforge_gate_final_failures.py --headless --host https://app.example.com --users 20 --spawn-rate 2.5 \
             --run-time 90s --csv /out/locust/locust --csv-full-history --json-file /out/locust/locust \
             --exit-code-on-error 0 --only-summary --stop-timeout 10 --loglevel WARNING"
        );
    }

    #[test]
    fn distributed_mode_never_waits_forever_for_workers() {
        let files = OutputFiles { dir: "/o".into() };
        let mut p = plan();
        p.workers = Some(3);
        let a = strings(master_args(&p, &files, Some(5599))).join(" ");
        assert!(a.contains("--master --expect-workers 3 --expect-workers-max-wait 60 --master-bind-host 127.0.0.1 --master-bind-port 5599"), "{a}");
        let w = strings(worker_args(Path::new("/repo/l.py"), 5599)).join(" ");
        assert_eq!(
            w,
            "-f /repo/l.py --worker --master-host 127.0.0.1 --master-port 5599"
        );
    }
}
