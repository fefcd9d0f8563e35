use crate::{
    cli::RunArgs,
    engine,
    error::{Error, ExitStatus},
    settings::Settings,
};

use super::{prepare, process_env, run_gate};

pub(crate) fn execute(args: &RunArgs) -> Result<ExitStatus, Error> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let settings = Settings::from_args(args, &process_env, Some(&cwd))?;
    let workload = prepare(&settings)?;
    let stop = engine::install_stop_signal();
    run_gate(&settings, workload, &stop)
}
