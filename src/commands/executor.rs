//! `executor config|prepare|run|cleanup`: GitLab Runner's custom executor stages. Their exit
//! codes are the Runner's contract (`BUILD_FAILURE_EXIT_CODE`, `SYSTEM_FAILURE_EXIT_CODE`), not
//! the gate's table, so this command returns its code itself instead of an `ExitStatus`.

use crate::{
    cli::{ExecutorArgs, ExecutorStage},
    executor::{self, Context, PrepareOptions},
};

use super::process_env;

/// Runs one stage and returns the process exit code the Runner expects.
pub(crate) fn execute(args: &ExecutorArgs) -> u8 {
    let ctx = Context::from_env(args.state_dir.clone(), &process_env);
    let result = match &args.stage {
        ExecutorStage::Config => executor::config(&ctx),
        ExecutorStage::Prepare(p) => PrepareOptions::parse(
            &p.lock_wait,
            &p.lock_stale,
            &p.window,
            p.max_other_cpu,
            p.max_steal,
        )
        .and_then(|opts| executor::prepare(&ctx, &opts)),
        ExecutorStage::Run {
            script,
            stage,
            grace,
        } => executor::parse_grace(&grace.term_grace)
            .and_then(|grace| executor::run(&ctx, script, stage, grace)),
        ExecutorStage::Cleanup(grace) => executor::parse_grace(&grace.term_grace)
            .and_then(|grace| executor::cleanup(&ctx, grace)),
    };
    ctx.exit_code(result)
}
