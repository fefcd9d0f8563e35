//! loadforge-gate: a performance gate for GitLab CI.
//!
//! The flow, once: settings -> engine -> [`stats::RunResult`] -> gate -> verdict -> publishers
//! -> exit code. Each stage takes the previous stage's value and returns a new one. Only the
//! native engine and the sample app's server run async tasks, each behind a blocking call.
//! `ARCHITECTURE.md` shows the layers and where new things go.
//!
//! The library exists for the binary (`src/main.rs`) and the integration tests (`tests/it/`):
//! what they use, and the types those items name, is `pub` and documented; everything else is
//! `pub(crate)`, so the compiler reports what nothing uses.

#![warn(missing_docs)]

pub(crate) mod baseline;
pub(crate) mod capped;
pub(crate) mod chain;
pub(crate) mod ci;
pub mod cli;
pub mod commands;
pub(crate) mod defaults;
pub(crate) mod duration;
pub mod engine;
pub(crate) mod error;
pub(crate) mod executor;
pub(crate) mod exit;
pub(crate) mod gate;
pub(crate) mod gitlab;
pub(crate) mod modes;
pub(crate) mod pause;
pub(crate) mod procfs;
pub(crate) mod proxy;
pub(crate) mod quote;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod retry;
pub mod rng;
pub mod sample_app;
pub mod scenario;
pub(crate) mod secret;
pub mod settings;
pub(crate) mod starter;
pub mod stats;
pub(crate) mod tls;
pub(crate) mod yaml;

pub use commands::main_with_args;
/// The statistics behind a regression verdict, public for the trust benchmark (`bench/gate_trust`).
pub use gate::changepoint;
pub use gate::judgement;
pub use gate::paired;

#[cfg(test)]
mod hostile_sweep;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_memory;
