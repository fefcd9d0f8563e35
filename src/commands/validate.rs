use crate::{
    cli::RunArgs,
    error::{Error, ExitStatus},
    settings::Settings,
};

use super::{prepare, process_env, workload::check_selectors, Workload};

/// Everything `run` checks before generating load, and nothing more.
pub(crate) fn execute(args: &RunArgs) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let settings = Settings::from_args(args, &process_env, Some(&cwd))?;
    let what = match prepare(&settings)? {
        Workload::Native(scenario) => {
            check_selectors(&settings, &scenario)?;
            let names = scenario.endpoint_names();
            format!(
                "scenario `{}` ({} tasks, {} endpoints: {})",
                scenario.name,
                scenario.tasks.len(),
                names.len(),
                names.join(", ")
            )
        }
        // Locust's endpoints are only known once it runs; selectors are checked then.
        Workload::Locust(path) => format!("locustfile {}", path.display()),
        Workload::K6(script) => format!(
            "k6 script {} ({}; {} thresholds of its own)",
            script.path.display(),
            if script.options.own_load.is_some() {
                "its own load"
            } else {
                "load from the flags"
            },
            script.options.thresholds.len()
        ),
        Workload::LoadForge => {
            "LoadForge test (thresholds checked against what LoadForge reports)".to_string()
        }
    };
    // A baseline file is read now, as `run` reads it before any load: a file `run` refuses is
    // refused here too.
    if let crate::modes::BaselineSource::File(path) = &settings.gate.baseline {
        crate::baseline::load_baseline_file(path)?;
    }
    // A paired run names its base too, redacted as the host is.
    let paired = settings.paired.as_ref().map_or_else(String::new, |p| {
        format!(
            ", paired with {} in slices of {}{}",
            crate::secret::redact_url(p.compare_host.as_str()),
            crate::duration::format_duration(p.slice),
            match p.until_decisive {
                true => " until decisive (the time is its limit)",
                false => "",
            }
        )
    });
    println!(
        "ok: {what}; {} thresholds{}; {} users at {}/s for {} against {}{paired}",
        settings.gate.thresholds.len(),
        if settings.gate.thresholds.is_built_in() {
            " (default)"
        } else {
            ""
        },
        settings.users,
        settings.spawn_rate,
        crate::duration::format_duration(settings.run_time),
        crate::secret::redact_url(settings.host.as_str())
    );
    Ok(ExitStatus::Passed)
}
