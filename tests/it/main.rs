//! One integration-test binary: real processes of the real binary against a real sample app
//! over loopback.

mod bad_input;
mod bad_input_table;
mod cardinality;
mod commands;
mod comparable;
mod component;
mod compression;
mod emulator;
mod executor;
mod fake_gitlab;
mod fake_loadforge;
mod generator;
mod git_server;
mod gitlab;
mod harness;
mod help;
mod history;
mod hostile;
mod html_report;
mod layers;
mod loadforge;
mod locust;
mod lookup;
mod measurement;
mod proxy;
mod sample_app;
mod scenarios;
mod schema;
mod secrets;
mod settings_keys;
mod shards;
mod tls;
mod trust;
mod web;
