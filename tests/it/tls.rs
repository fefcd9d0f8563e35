//! TLS against real rustls servers on loopback, each with its own private CA: a valid
//! certificate trusted through `--ca-cert`, an untrusted one, a wrong name, an expired one, a
//! server that requires a client certificate, `--insecure`, bad files refused before any load,
//! and the GitLab calls (baseline download, merge-request note) to a fake GitLab over TLS.

use axum::{routing::get, Router};
use loadforge_gate::sample_app::{
    tls::{server_config, Issued, Pki, Validity},
    Served,
};

use crate::harness::{reasons, Gate, Output};

/// The names a loopback server's certificate carries when it is right.
pub const LOOPBACK: &[&str] = &["127.0.0.1", "localhost"];

/// One `GET /` per iteration, checked for its body.
pub const SCENARIO: &str =
    "defaults: {timeout: 2s}\ntasks:\n  - request: {name: GET /, path: /, check: {body_contains: ok}}\n";

/// An HTTPS server answering `ok`, with the CA that signed its certificate.
pub struct TlsServer {
    pub pki: Pki,
    pub served: Served,
}

impl TlsServer {
    /// A certificate for `names`, valid or expired; with `client_auth`, clients must present a
    /// certificate from the same CA.
    pub fn start(names: &[&str], validity: Validity, client_auth: bool) -> TlsServer {
        let pki = Pki::new("test CA").unwrap();
        let cert = pki.server_cert(names, validity).unwrap();
        let client_ca = client_auth.then(|| pki.ca_pem().to_string());
        let config = server_config(&cert, client_ca.as_deref()).unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let served = Served::start_tls("127.0.0.1:0", router, 1, config).unwrap();
        TlsServer { pki, served }
    }

    pub fn valid() -> TlsServer {
        TlsServer::start(LOOPBACK, Validity::Current, false)
    }

    pub fn url(&self) -> String {
        self.served.url()
    }
}

/// A short run against `url` with the scenario and the CA file written in the gate's directory
/// (`ca.pem`), plus `args`.
pub fn gate(url: &str, ca_pem: &str, args: &[&str]) -> Gate {
    Gate::new()
        .write("s.yml", SCENARIO)
        .write("ca.pem", ca_pem)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
        .args(["--baseline", "none", "--threshold", "error_rate<1%"])
        .args(args)
}

/// Every request failed, and `reason` is the one they failed with.
#[track_caller]
fn assert_all_failed_with(out: &Output, reason: &str) {
    let r = out.results();
    let found = reasons(&r);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        vec![reason],
        "{}",
        out.stderr
    );
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["aggregate"]["failures"], r["aggregate"]["requests"]);
}

/// The explanation of `reason` appears in the log exactly once, with `fix` in it.
#[track_caller]
fn assert_explained_once(out: &Output, reason: &str, fix: &str) {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("requests fail with `{reason}`")))
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains(fix), "{}", lines[0]);
}

#[test]
fn a_private_ca_passed_with_ca_cert_is_trusted() {
    let server = TlsServer::valid();
    let out = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["aggregate"]["failures"], 0);
    assert!(
        r["run"].get("tls_insecure").is_none(),
        "verified runs say nothing"
    );
}

#[test]
fn the_ca_cert_also_comes_from_its_variable() {
    let server = TlsServer::valid();
    gate(&server.url(), server.pki.ca_pem(), &[])
        .env("LOADFORGE_GATE_CA_CERT", "ca.pem")
        .run()
        .expect_exit(0);
}

#[test]
fn without_the_ca_every_handshake_fails_as_an_unknown_authority_explained_once() {
    let server = TlsServer::valid();
    let out = gate(&server.url(), server.pki.ca_pem(), &[])
        .run()
        .expect_exit(1);
    assert_all_failed_with(&out, "tls: certificate signed by unknown authority");
    assert_explained_once(
        &out,
        "tls: certificate signed by unknown authority",
        "--ca-cert FILE",
    );
    assert_eq!(out.results()["verdict"]["outcome"], "failed");
}

#[test]
fn a_certificate_for_another_name_is_a_hostname_mismatch() {
    let server = TlsServer::start(&["other.example"], Validity::Current, false);
    let out = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .run()
        .expect_exit(1);
    assert_all_failed_with(&out, "tls: hostname mismatch");
    assert_explained_once(&out, "tls: hostname mismatch", "--host");
}

#[test]
fn an_expired_certificate_is_named() {
    let server = TlsServer::start(LOOPBACK, Validity::Expired, false);
    let out = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .run()
        .expect_exit(1);
    assert_all_failed_with(&out, "tls: certificate expired");
}

/// Writes a client certificate from the server's CA as `client.pem` and `client.key`.
fn with_client_cert(g: Gate, client: &Issued) -> Gate {
    g.write("client.pem", &client.cert_pem)
        .write("client.key", &client.key_pem)
        .args(["--client-cert", "client.pem", "--client-key", "client.key"])
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_one_with_client_cert() {
    let server = TlsServer::start(LOOPBACK, Validity::Current, true);
    let without = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .run()
        .expect_exit(1);
    assert_all_failed_with(&without, "tls: client certificate required");
    assert_explained_once(
        &without,
        "tls: client certificate required",
        "--client-cert",
    );

    let client = server.pki.client_cert("load-tester").unwrap();
    let g = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"]);
    let with = with_client_cert(g, &client).run().expect_exit(0);
    assert_eq!(with.results()["aggregate"]["failures"], 0);
    for f in crate::harness::REPORTS {
        if let Ok(text) = std::fs::read_to_string(with.out_dir().join(f)) {
            assert!(!text.contains("PRIVATE KEY"), "key material in {f}");
        }
    }
}

#[test]
fn a_client_certificate_from_another_ca_is_rejected() {
    let server = TlsServer::start(LOOPBACK, Validity::Current, true);
    let stranger = Pki::new("another CA")
        .unwrap()
        .client_cert("intruder")
        .unwrap();
    let g = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"]);
    let out = with_client_cert(g, &stranger).run().expect_exit(1);
    assert_all_failed_with(&out, "tls: client certificate rejected");
}

#[test]
fn ssl_cert_file_is_trusted_like_the_system_roots() {
    let server = TlsServer::valid();
    gate(&server.url(), server.pki.ca_pem(), &[])
        .env("SSL_CERT_FILE", "ca.pem")
        .run()
        .expect_exit(0);
}

#[test]
fn insecure_skips_verification_and_every_report_says_so() {
    let server = TlsServer::start(&["other.example"], Validity::Expired, false);
    let out = gate(&server.url(), "", &["--insecure"])
        .run()
        .expect_exit(0);
    let r = out.results();
    assert_eq!(r["aggregate"]["failures"], 0);
    assert_eq!(r["run"]["tls_insecure"], true);
    let schema = crate::schema::schema();
    assert!(schema.is_valid(&r), "{:?}", schema.iter_errors(&r).next());
    assert!(out.stderr.contains("--insecure"), "{}", out.stderr);
    assert!(out.stdout.contains("NOT verified"), "{}", out.stdout);
    for f in ["summary.md", "report.html", "junit.xml"] {
        assert!(out.file(f).contains("NOT verified"), "{f} must say so");
    }
    assert!(
        r["notes"].as_array().is_some_and(|n| n
            .iter()
            .any(|n| n.as_str().unwrap().contains("NOT verified"))),
        "{r}"
    );
}

#[test]
fn a_ca_cert_file_that_is_missing_or_holds_no_certificate_is_a_usage_error() {
    for command in ["run", "validate"] {
        let out = Gate::new()
            .write("s.yml", SCENARIO)
            .write("empty.pem", "no certificate here\n")
            .args([
                command,
                "--scenario",
                "s.yml",
                "--host",
                "https://127.0.0.1:1",
            ])
            .args(["--ca-cert", "missing.pem"])
            .run()
            .expect_exit(2);
        let line = out.one_line_error();
        assert!(
            line.contains("--ca-cert") && line.contains("missing.pem"),
            "{line}"
        );
        assert!(line.contains("PEM"), "the fix is named: {line}");
        let out = Gate::new()
            .write("s.yml", SCENARIO)
            .write("empty.pem", "no certificate here\n")
            .args([
                command,
                "--scenario",
                "s.yml",
                "--host",
                "https://127.0.0.1:1",
            ])
            .args(["--ca-cert", "empty.pem"])
            .run()
            .expect_exit(2);
        assert!(out.one_line_error().contains("holds no PEM certificate"));
    }
}

#[test]
fn a_client_certificate_needs_its_key() {
    let out = Gate::new()
        .write("s.yml", SCENARIO)
        .write("c.pem", "x")
        .args(["validate", "--scenario", "s.yml", "--host", "https://h"])
        .args(["--client-cert", "c.pem"])
        .run()
        .expect_exit(2);
    assert!(out.one_line_error().contains("--client-key"));
}

#[test]
fn tls_settings_come_from_the_config_file_too() {
    let server = TlsServer::valid();
    gate(
        &server.url(),
        server.pki.ca_pem(),
        &["--config", "gate.yml"],
    )
    .write("gate.yml", "ca_cert: ca.pem\n")
    .run()
    .expect_exit(0);
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_sample_app_serves_https_with_a_ca_written_for_ca_cert() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    /// Ends the sample app however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args([
            "sample-app",
            "--tls",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--tls-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("sample app listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    let url = url.expect("the sample app says where it listens");
    assert!(url.starts_with("https://"), "{url}");
    let ca = std::fs::read_to_string(dir.path().join("sample-app-ca.pem")).unwrap();
    let out = Gate::new()
        .write("ca.pem", &ca)
        .args([
            "run",
            "--scenario",
            &crate::harness::example("shop-cart.yml"),
        ])
        .args(["--host", &url, "--ca-cert", "ca.pem"])
        .args([
            "--users",
            "4",
            "--spawn-rate",
            "50",
            "--run-time",
            "2s",
            "--progress",
            "0",
        ])
        .args(["--baseline", "none", "--threshold", "error_rate<1%"])
        .run()
        .expect_exit(0);
    assert_eq!(out.results()["aggregate"]["failures"], 0);
}

/// The fake GitLab over TLS with a private CA: what GitLab Runner's `CI_SERVER_TLS_CA_FILE`
/// is for.
mod gitlab {
    use super::*;
    use crate::fake_gitlab::{FakeGitlab, JOB_TOKEN, PRIVATE_TOKEN, PROJECT};

    const MR: u64 = 7;
    const BASE_SHA: &str = "b45e0000c0ffee";

    fn mr_gate(gl: &FakeGitlab, host: &str) -> Gate {
        Gate::new()
            .write("s.yml", SCENARIO)
            .env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", &gl.api_url())
            .env("CI_PROJECT_ID", PROJECT)
            .env("CI_JOB_NAME", "perf")
            .env("CI_JOB_TOKEN", JOB_TOKEN)
            .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
            .env("CI_PIPELINE_ID", "9000")
            .env("CI_COMMIT_REF_NAME", "feature")
            .env("CI_MERGE_REQUEST_IID", &MR.to_string())
            .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
            .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE_SHA)
            .args(["run", "--scenario", "s.yml", "--host", host])
            .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
    }

    fn plain_target() -> Served {
        let router = Router::new().route("/", get(|| async { "ok" }));
        Served::start("127.0.0.1:0", router, 1).unwrap()
    }

    fn tls_gitlab() -> (FakeGitlab, Pki) {
        let pki = Pki::new("gitlab CA").unwrap();
        let cert = pki.server_cert(LOOPBACK, Validity::Current).unwrap();
        let gl = FakeGitlab::start_tls(server_config(&cert, None).unwrap());
        (gl, pki)
    }

    #[test]
    fn the_baseline_and_the_note_reach_a_gitlab_with_a_private_ca() {
        let (gl, pki) = tls_gitlab();
        let target = plain_target();
        // A first run makes the baseline that the second downloads; it has none itself, so
        // its regression rules are not judged.
        let first = mr_gate(&gl, &target.url())
            .write("gitlab-ca.pem", pki.ca_pem())
            .env("CI_SERVER_TLS_CA_FILE", "gitlab-ca.pem")
            .run()
            .expect_exit(5);
        assert_eq!(gl.notes(MR).len(), 1, "{}", first.stderr);
        gl.add_pipeline(
            "main",
            BASE_SHA,
            "success",
            "perf",
            Some(&first.file("results.json")),
        );
        let second = mr_gate(&gl, &target.url())
            .write("gitlab-ca.pem", pki.ca_pem())
            .env("CI_SERVER_TLS_CA_FILE", "gitlab-ca.pem")
            .run()
            .expect_exit(0);
        assert!(
            second.stderr.contains("at the merge base"),
            "{}",
            second.stderr
        );
        let notes = gl.notes(MR);
        assert_eq!(notes.len(), 1, "updated in place: {}", second.stderr);
        assert!(!notes[0].body.contains("No baseline"), "{}", notes[0].body);
    }

    #[test]
    fn without_the_ca_file_the_gitlab_calls_fail_with_a_clear_message() {
        let (gl, _pki) = tls_gitlab();
        let target = plain_target();
        let out = mr_gate(&gl, &target.url()).run().expect_exit(5);
        assert!(gl.notes(MR).is_empty());
        assert!(
            out.stderr
                .contains("certificate signed by unknown authority")
                && out.stderr.contains("CI_SERVER_TLS_CA_FILE"),
            "the TLS failure and its fix are named: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(PRIVATE_TOKEN) && !out.stderr.contains(JOB_TOKEN));
    }

    #[test]
    fn a_missing_ci_server_tls_ca_file_is_named() {
        let (gl, _pki) = tls_gitlab();
        let target = plain_target();
        // The look-up failed: its regression rules are not judged (5), never passed.
        let out = mr_gate(&gl, &target.url())
            .env("CI_SERVER_TLS_CA_FILE", "nowhere.pem")
            .run()
            .expect_exit(5);
        assert!(
            out.stderr.contains("CI_SERVER_TLS_CA_FILE") && out.stderr.contains("nowhere.pem"),
            "{}",
            out.stderr
        );
        assert!(gl.notes(MR).is_empty());
    }

    /// The audit's case: `CI_SERVER_TLS_CA_FILE=/dev/zero` was read for about 1 GB. Only a
    /// regular file is read, up to 1 MiB: the GitLab calls (lookup and comment) fail at once
    /// saying so, and the load test, which never depends on GitLab's CA, runs and passes.
    #[test]
    fn a_ca_file_past_the_cap_fails_the_gitlab_calls_at_once() {
        let (gl, _pki) = tls_gitlab();
        let target = plain_target();
        let started = std::time::Instant::now();
        let out = mr_gate(&gl, &target.url())
            .env("CI_SERVER_TLS_CA_FILE", "/dev/zero")
            .run()
            .expect_exit(5);
        let said = "cannot use the CA file of CI_SERVER_TLS_CA_FILE: cannot read /dev/zero: it is not a regular file";
        assert!(
            out.stderr.matches(said).count() >= 2,
            "the lookup and the comment say it: {}",
            out.stderr
        );
        assert!(out.results()["aggregate"]["requests"].as_u64().unwrap() > 0);
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        assert!(gl.notes(MR).is_empty());
    }
}

#[test]
fn tls_flags_belong_to_the_native_engine() {
    let out = Gate::new()
        .write("ca.pem", "x")
        .args(["validate", "--engine", "locust", "--locustfile", "l.py"])
        .args(["--host", "https://h", "--insecure"])
        .run()
        .expect_exit(2);
    assert!(out.one_line_error().contains("native engine only"));
}
