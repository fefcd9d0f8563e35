//! loadforge-gate: a performance gate for GitLab CI.
//!
//! The flow, once: settings -> engine -> [`stats::RunResult`] -> gate -> verdict -> publishers
//! -> exit code. Each stage takes the previous stage's value and returns a new one; only the
//! engine is async.

pub mod baseline;
pub mod chain;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod defaults;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exit;
pub mod gate;
pub mod gitlab;
pub mod modes;
pub(crate) mod pause;
pub mod report;
pub(crate) mod retry;
pub mod sample_app;
pub mod scenario;
pub mod secret;
pub mod settings;
pub mod stats;

pub use commands::main_with_args;
