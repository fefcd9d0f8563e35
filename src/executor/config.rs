//! `config_exec`: the JSON GitLab Runner reads from stdout (`api.ConfigExecOutput`). Builds and
//! caches live under the state dir; `job_env` carries this binary's directory and the state
//! dir to the later stages, since the Runner adds it to every later driver call (not to the
//! job: `run` puts the directory on the script's `PATH` itself). `shell` names bash, the shell
//! `run` runs every script with: the Runner generates the scripts for the shell this names,
//! else for config.toml's `shell` (which could say `sh` or `pwsh`).

use std::{collections::BTreeMap, path::Path};

use serde::Serialize;

use super::{state, Context, ExecutorError, Outcome, BIN_DIR_VAR, STATE_DIR_VAR};

#[derive(Serialize)]
struct ConfigOutput {
    builds_dir: String,
    cache_dir: String,
    /// The Runner then gives concurrent jobs their own directories under `builds_dir`; they
    /// share it with jobs waiting for the host lock.
    builds_dir_is_shared: bool,
    hostname: String,
    driver: Driver,
    job_env: BTreeMap<&'static str, String>,
    /// The shell the Runner writes the scripts for (`custom.go`'s `InjectInto` sets it over
    /// config.toml's `shell`): `run` hands every script to bash, so no other may be chosen.
    shell: &'static str,
}

#[derive(Serialize)]
struct Driver {
    name: &'static str,
    version: &'static str,
}

/// Prints the configuration.
pub(crate) fn config(ctx: &Context) -> Result<Outcome, ExecutorError> {
    state::ensure_private(&ctx.state_dir)?;
    let text = serde_json::to_string_pretty(&output(ctx, &bin_dir())).map_err(|source| {
        ExecutorError::Json {
            what: "the configuration",
            source,
        }
    })?;
    println!("{text}");
    Ok(Outcome::Done)
}

fn output(ctx: &Context, bin_dir: &Path) -> ConfigOutput {
    let state = &ctx.state_dir;
    ConfigOutput {
        builds_dir: state.join("builds").display().to_string(),
        cache_dir: state.join("cache").display().to_string(),
        builds_dir_is_shared: true,
        hostname: hostname(),
        driver: Driver {
            name: "loadforge-gate",
            version: env!("CARGO_PKG_VERSION"),
        },
        job_env: BTreeMap::from([
            (BIN_DIR_VAR, bin_dir.display().to_string()),
            (STATE_DIR_VAR, state.display().to_string()),
        ]),
        shell: "bash",
    }
}

/// The directory of the running binary, so jobs call this very `loadforge-gate`.
fn bin_dir() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// The kernel's host name (empty when unreadable: the Runner allows an empty one).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{output, Context};

    #[test]
    fn the_json_has_the_keys_the_runner_reads() {
        let ctx = Context::from_env(PathBuf::from("/srv/lf"), &|_| None);
        let v = serde_json::to_value(output(&ctx, Path::new("/opt/bin"))).unwrap();
        assert_eq!(v["builds_dir"], "/srv/lf/builds");
        assert_eq!(v["cache_dir"], "/srv/lf/cache");
        assert_eq!(v["builds_dir_is_shared"], true);
        assert_eq!(v["driver"]["name"], "loadforge-gate");
        assert_eq!(v["job_env"]["LOADFORGE_GATE_EXECUTOR_BIN_DIR"], "/opt/bin");
        assert_eq!(v["job_env"]["LOADFORGE_GATE_EXECUTOR_DIR"], "/srv/lf");
        // `run` hands every script to bash: the Runner must generate bash, whatever
        // config.toml's `shell` says.
        assert_eq!(v["shell"], "bash");
    }
}
