use crate::{
    cli::RunArgs,
    engine,
    error::{Error, ExitStatus},
    scenario::Scenario,
    settings::{EngineSettings, Settings},
};

use super::{process_env, run_gate};

pub fn execute(args: &RunArgs) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let settings = Settings::from_args(args, &process_env, Some(&cwd))?;
    let EngineSettings::Native { scenario } = &settings.engine;
    let scenario = Scenario::load(scenario, &process_env)?;
    let stop = engine::install_stop_signal();
    Ok(run_gate(&settings, scenario, &stop)?.status)
}
