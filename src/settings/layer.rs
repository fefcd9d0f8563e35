//! One layer of settings: the command line, the config file's top level, or one of its
//! profiles. Every field is optional; layers stack with [`Layer::over`], and what is still unset
//! at the bottom takes its value from [`crate::defaults`].

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::modes::{CommentMode, EngineKind};

/// A duration as the user wrote it (`30s`, `5m`, or a bare number of seconds), parsed when
/// settings are validated so the error can name the setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// YAML reads `run_time: 30` as a number: accept it as seconds, like the flag does.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        Ok(DurationText(match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Number(n) => n.to_string(),
        }))
    }
}

/// Declares [`Layer`] and its stacking from one list of fields, so the two cannot drift apart.
/// The fields are also the keys a config file may hold: serde refuses any other.
macro_rules! layer {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)*) => {
        /// Settings from one source; `None` means "this source does not say".
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct Layer {
            $($(#[$doc])* pub(crate) $name: Option<$ty>,)*
        }

        impl Layer {
            /// `self` wins where it has a value.
            pub(crate) fn over(self, below: Layer) -> Layer {
                Layer { $($name: self.$name.or(below.$name),)* }
            }
        }
    };
}

layer! {
    /// `native`, `locust` or `loadforge`.
    engine: EngineKind,
    /// Native scenario file (YAML).
    scenario: PathBuf,
    /// Locustfile for the locust engine.
    locustfile: PathBuf,
    /// Extra arguments passed to Locust as they are.
    locust_args: Vec<String>,
    /// The locust executable.
    locust_bin: PathBuf,
    /// Locust worker processes on this host.
    workers: u32,
    /// Locust workers started elsewhere that the master waits for.
    remote_workers: u32,
    /// Seconds the Locust master waits for its workers.
    workers_max_wait: u64,
    /// Seconds Locust gives users to finish their task when stopping.
    stop_timeout: u64,
    /// LoadForge test to start.
    loadforge_test_id: String,
    /// LoadForge API base URL.
    loadforge_url: String,
    /// How often a LoadForge run is polled.
    poll_interval: DurationText,
    /// Longest wait for a LoadForge run.
    max_wait: DurationText,
    /// Target base URL.
    host: String,
    /// Concurrent virtual users.
    users: u32,
    /// Users started per second.
    spawn_rate: f64,
    /// Test length.
    run_time: DurationText,
    /// Open model: task iterations per second.
    rate: f64,
    /// Open model: ramp-up of the rate.
    ramp: DurationText,
    /// Requests of the first part of the run left out of the verdict.
    warmup: DurationText,
    /// Threshold expressions.
    thresholds: Vec<String>,
    /// Regression rules.
    regressions: Vec<String>,
    /// `auto`, `none` or a results.json path.
    baseline: String,
    /// Earlier runs forming the noise band.
    baseline_history: usize,
    /// Distinct endpoint names kept before the rest are folded into one row.
    max_endpoints: usize,
    /// When to comment on the merge request.
    comment: CommentMode,
    /// Output directory.
    out: PathBuf,
    /// Threads of the native engine.
    threads: usize,
    /// Seconds between progress lines (0 for none).
    progress: u64,
    /// PEM bundle of extra CAs trusted for the target.
    ca_cert: PathBuf,
    /// PEM client certificate (chain) for mutual TLS with the target.
    client_cert: PathBuf,
    /// PEM private key of `client_cert`.
    client_key: PathBuf,
    /// Skip verification of the target's certificate (never a default).
    insecure: bool,
    /// Ignore the proxy variables for every connection.
    no_proxy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_layer_wins_and_gaps_fall_through() {
        let top = Layer {
            users: Some(5),
            ..Layer::default()
        };
        let below = Layer {
            users: Some(50),
            host: Some("http://h".into()),
            ..Layer::default()
        };
        let l = top.over(below);
        assert_eq!(l.users, Some(5));
        assert_eq!(l.host.as_deref(), Some("http://h"));
    }

    #[test]
    fn durations_may_be_bare_numbers_in_yaml() {
        let l: Layer = crate::yaml::from_str("run_time: 30\nramp: 5s\n").unwrap();
        assert_eq!(l.run_time, Some(DurationText("30".into())));
        assert_eq!(l.ramp, Some(DurationText("5s".into())));
    }
}
