//! One integration-test binary: real processes of the real binary against a real sample app
//! over loopback.
//!
//! Two tiers. Plain `cargo test` runs the fast one, which needs only the Rust toolchain: the
//! in-process fakes, and gate runs of a second at most. A test that runs load for longer, or needs
//! Locust, Chromium or the gitlab-ci-local emulator, carries
//! `#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: <why>")]`, so the fast tier lists
//! it as ignored, with why; `cargo test --features full-tests` (what `.ci/run` runs) runs it too.
//! A test that reads latencies takes `harness::quiet()` first: no other gate runs beside it.

mod bad_input;
mod bad_input_table;
mod cardinality;
mod commands;
mod comparable;
mod component;
mod compression;
mod drain;
mod emulator;
mod executor;
mod fake_gitlab;
mod fake_loadforge;
mod generator;
mod git_server;
mod gitlab;
mod h2_server;
mod h2_streams;
mod harness;
mod help;
mod history;
mod hostile;
mod hostile_words;
mod html_report;
mod http2;
mod http2_input;
mod init;
mod k6;
mod k6_agreement;
mod k6_protocol;
mod k6_shards;
mod k6_verdicts;
mod layers;
mod loadforge;
mod locust;
mod lookup;
mod measurement;
mod paired;
mod proxy;
mod sample_app;
mod scenarios;
mod schema;
mod secrets;
mod settings_keys;
mod shards;
mod speaks_for;
mod tls;
mod trust;
mod until_decisive;
mod web;
mod workflows;
