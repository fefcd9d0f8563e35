use crate::{
    cli::RunArgs,
    error::{Error, ExitStatus},
    gate,
    scenario::Scenario,
    settings::{EngineSettings, Settings},
};

use super::process_env;

/// Everything `run` checks before generating load, and nothing more.
pub fn execute(args: &RunArgs) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let settings = Settings::from_args(args, &process_env, Some(&cwd))?;
    let EngineSettings::Native { scenario: path } = &settings.engine;
    let scenario = Scenario::load(path, &process_env)?;
    let names = scenario.endpoint_names();
    for t in &settings.thresholds {
        gate::resolve_selector(&t.source, t.selector.as_ref(), &names)?;
    }
    for r in &settings.regressions {
        gate::resolve_selector(&r.source, r.selector.as_ref(), &names)?;
    }
    println!(
        "ok: scenario `{}` ({} tasks, {} endpoints: {}); {} thresholds{}; {} users at {}/s for {} against {}",
        scenario.name,
        scenario.tasks.len(),
        names.len(),
        names.join(", "),
        settings.thresholds.len(),
        if settings.default_thresholds { " (default)" } else { "" },
        settings.users,
        settings.spawn_rate,
        crate::duration::format_duration(settings.run_time),
        settings.host
    );
    Ok(ExitStatus::Passed)
}
