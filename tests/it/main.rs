//! One integration-test binary: real processes of the real binary against a real sample app
//! over loopback.

mod bad_input;
mod commands;
mod component;
mod fake_gitlab;
mod fake_loadforge;
mod gitlab;
mod harness;
mod hostile;
mod html_report;
mod layers;
mod loadforge;
mod locust;
mod measurement;
mod proxy;
mod sample_app;
mod scenarios;
mod schema;
mod shards;
mod tls;
