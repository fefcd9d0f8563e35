//! loadforge-gate: a performance gate for GitLab CI.
//!
//! The flow, once: settings -> engine -> [`stats::RunResult`] -> gate -> verdict -> publishers
//! -> exit code. Each stage takes the previous stage's value and returns a new one; only the
//! engine is async.

pub(crate) mod baseline;
pub(crate) mod chain;
pub(crate) mod ci;
pub mod cli;
pub mod commands;
pub(crate) mod defaults;
pub(crate) mod duration;
pub mod engine;
pub(crate) mod error;
pub(crate) mod exit;
pub(crate) mod gate;
pub(crate) mod gitlab;
pub(crate) mod modes;
pub(crate) mod pause;
pub(crate) mod report;
pub(crate) mod retry;
pub mod sample_app;
pub mod scenario;
pub(crate) mod secret;
pub mod settings;
pub mod stats;

pub use commands::main_with_args;
