//! Proxies: a forward proxy on loopback that records the first request line (and its
//! `Proxy-Authorization`) of every connection, then splices bytes both ways to the target, or
//! refuses `CONNECT` with a status. The native engine goes through it in absolute form for
//! http and through a tunnel for https; `NO_PROXY` and `--no-proxy` bypass it; a refusal is a
//! counted reason; the GitLab client goes through it too unless `--no-proxy`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use axum::{routing::get, Router};
use loadforge_gate::sample_app::Served;

use crate::{
    harness::{reasons, Gate, Output},
    tls::{gate, TlsServer},
};

/// What came through the proxy: per connection, the request line and the
/// `Proxy-Authorization` value if any.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forward proxy; `refuse` answers every `CONNECT` with that status instead.
struct Proxy {
    url: String,
    seen: Seen,
}

impl Proxy {
    fn start(refuse: Option<u16>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &record, refuse);
                });
            }
        });
        Proxy { url, seen }
    }

    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads the head, records it, and either opens the tunnel or forwards the request (and the
/// rest of the connection) as it came: the target accepts absolute-form request lines.
fn serve(client: TcpStream, seen: &Seen, refuse: Option<u16>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].trim_end().to_string();
    let auth = head.iter().find_map(|h| {
        let (name, value) = h.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    seen.lock().unwrap().push((request_line.clone(), auth));
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = client;
    if method == "CONNECT" {
        if let Some(status) = refuse {
            return client.write_all(
                format!("HTTP/1.1 {status} Forbidden\r\ncontent-length: 0\r\n\r\n").as_bytes(),
            );
        }
        let upstream = TcpStream::connect(target)?;
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        return splice(reader, client, upstream, Vec::new());
    }
    let authority = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let upstream = TcpStream::connect(authority)?;
    let head: Vec<u8> = head
        .iter()
        .filter(|h| !h.to_ascii_lowercase().starts_with("proxy-authorization"))
        .flat_map(|h| h.bytes())
        .collect();
    splice(reader, client, upstream, head)
}

/// Sends `first` upstream, then copies both ways until either side closes.
fn splice(
    mut from_client: BufReader<TcpStream>,
    mut to_client: TcpStream,
    mut upstream: TcpStream,
    first: Vec<u8>,
) -> std::io::Result<()> {
    upstream.write_all(&first)?;
    let mut up_reader = upstream.try_clone()?;
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_reader, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let buffered = from_client.buffer().to_vec();
    upstream.write_all(&buffered)?;
    from_client.consume(buffered.len());
    let mut rest = from_client.into_inner();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = rest.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        if upstream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = back.join();
    Ok(())
}

fn plain_target() -> Served {
    let router = Router::new().route("/", get(|| async { "ok" }));
    Served::start("127.0.0.1:0", router, 1).unwrap()
}

#[track_caller]
fn assert_clean(out: &Output) {
    let r = out.results();
    assert!(r["aggregate"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["aggregate"]["failures"], 0, "{}", out.stderr);
}

/// Neither the log nor any report shows the proxy's password.
#[track_caller]
fn assert_no_password(out: &Output, password: &str) {
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
    for f in crate::harness::REPORTS {
        if let Ok(text) = std::fs::read_to_string(out.out_dir().join(f)) {
            assert!(!text.contains(password), "proxy password in {f}");
        }
    }
}

#[test]
fn http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let proxy = Proxy::start(None);
    let target = plain_target();
    let with_user = proxy.url.replace("http://", "http://loader:s3cret-pw@");
    let out = gate(&target.url(), "", &[])
        .env("http_proxy", &with_user)
        .run()
        .expect_exit(0);
    assert_clean(&out);
    assert_no_password(&out, "s3cret-pw");
    assert!(
        out.stderr
            .contains(&format!("through the proxy {}", proxy.url)),
        "{}",
        out.stderr
    );
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    let (line, auth) = &seen[0];
    assert_eq!(line, &format!("GET {}/ HTTP/1.1", target.url()));
    // base64("loader:s3cret-pw")
    assert_eq!(auth.as_deref(), Some("Basic bG9hZGVyOnMzY3JldC1wdw=="));
}

#[test]
fn https_goes_through_a_connect_tunnel() {
    let proxy = Proxy::start(None);
    let server = TlsServer::valid();
    let out = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .env("HTTPS_PROXY", &proxy.url)
        .run()
        .expect_exit(0);
    assert_clean(&out);
    let seen = proxy.seen();
    let authority = server.url().replace("https://", "");
    assert!(!seen.is_empty(), "nothing went through the proxy");
    assert!(
        seen.iter()
            .all(|(l, _)| l == &format!("CONNECT {authority} HTTP/1.1")),
        "{seen:?}"
    );
}

/// HTTP/2 by ALPN goes through the tunnel end to end (the proxy sees only `CONNECT`).
#[test]
fn https_over_http2_goes_through_a_connect_tunnel() {
    let proxy = Proxy::start(None);
    let server = TlsServer::valid();
    let args = ["--ca-cert", "ca.pem", "--http2", "always"];
    let out = gate(&server.url(), server.pki.ca_pem(), &args)
        .env("HTTPS_PROXY", &proxy.url)
        .run()
        .expect_exit(0);
    assert_clean(&out);
    assert_eq!(out.results()["run"]["protocol"], "h2");
    let authority = server.url().replace("https://", "");
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    assert!(
        seen.iter()
            .all(|(l, _)| l == &format!("CONNECT {authority} HTTP/1.1")),
        "{seen:?}"
    );
}

/// A plain-http target through a forward proxy is HTTP/1.1 (absolute form): `http2: always`
/// cannot be kept there, and is refused before any load, naming the way out.
#[test]
fn http2_always_through_a_forward_proxy_to_plain_http_is_refused() {
    let proxy = Proxy::start(None);
    let target = plain_target();
    let out = gate(&target.url(), "", &["--http2", "always"])
        .env("http_proxy", &proxy.url)
        .run()
        .expect_exit(2);
    assert!(out.stderr.contains("http2: auto"), "{}", out.stderr);
    assert!(proxy.seen().is_empty(), "no load went out");
}

#[test]
fn no_proxy_flag_and_variable_bypass_the_proxy() {
    let proxy = Proxy::start(None);
    let target = plain_target();
    let flag = gate(&target.url(), "", &["--no-proxy"])
        .env("HTTP_PROXY", &proxy.url)
        .run()
        .expect_exit(0);
    assert_clean(&flag);
    let variable = gate(&target.url(), "", &[])
        .env("HTTP_PROXY", &proxy.url)
        .env("NO_PROXY", "localhost,127.0.0.0/8")
        .run()
        .expect_exit(0);
    assert_clean(&variable);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[test]
fn a_refused_connect_is_a_counted_reason_explained_once() {
    let proxy = Proxy::start(Some(403));
    let server = TlsServer::valid();
    let out = gate(&server.url(), server.pki.ca_pem(), &["--ca-cert", "ca.pem"])
        .env("HTTPS_PROXY", &proxy.url)
        .run()
        .expect_exit(1);
    let found = reasons(&out.results());
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        vec!["proxy refused CONNECT: HTTP 403"],
        "{}",
        out.stderr
    );
    let explained = out
        .stderr
        .lines()
        .filter(|l| l.contains("requests fail with `proxy refused CONNECT: HTTP 403`"))
        .count();
    assert_eq!(explained, 1, "{}", out.stderr);
    assert!(out.stderr.contains("--no-proxy"), "{}", out.stderr);
}

#[test]
fn a_proxy_that_is_down_is_named_as_the_proxy() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = plain_target();
    let out = gate(&target.url(), "", &[])
        .env("HTTP_PROXY", &format!("http://127.0.0.1:{port}"))
        .run()
        .expect_exit(1);
    let found = reasons(&out.results());
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        vec!["proxy: connection refused"]
    );
}

#[test]
fn a_proxy_scheme_the_engine_cannot_speak_is_a_usage_error() {
    let out = gate("https://127.0.0.1:1", "", &[])
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080")
        .run()
        .expect_exit(2);
    assert!(out.one_line_error().contains("HTTPS_PROXY"));
}

/// The GitLab client honours the proxy variables (reqwest reads them) and `--no-proxy`.
mod gitlab {
    use super::*;
    use crate::fake_gitlab::{FakeGitlab, PRIVATE_TOKEN, PROJECT};

    const MR: u64 = 7;

    fn mr_gate(gl: &FakeGitlab, host: &str) -> Gate {
        Gate::new()
            .write("s.yml", crate::tls::SCENARIO)
            .env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", &gl.api_url())
            .env("CI_PROJECT_ID", PROJECT)
            .env("CI_JOB_NAME", "perf")
            .env("LOADFORGE_GATE_GITLAB_TOKEN", PRIVATE_TOKEN)
            .env("CI_MERGE_REQUEST_IID", &MR.to_string())
            .args(["run", "--scenario", "s.yml", "--host", host])
            .args(["--users", "1", "--run-time", "1s", "--progress", "0"])
            .args(["--baseline", "none"])
    }

    #[test]
    fn the_note_goes_through_the_proxy_unless_no_proxy() {
        let gl = FakeGitlab::start();
        let target = plain_target();
        let proxy = Proxy::start(None);
        let through = mr_gate(&gl, &target.url())
            .env("HTTP_PROXY", &proxy.url)
            .run()
            .expect_exit(0);
        assert_eq!(gl.notes(MR).len(), 1, "{}", through.stderr);
        let api = gl.api_url();
        assert!(
            proxy.seen().iter().any(|(l, _)| l.contains(&api)),
            "{:?}",
            proxy.seen()
        );
        let before = proxy.seen().len();
        mr_gate(&gl, &target.url())
            .env("HTTP_PROXY", &proxy.url)
            .arg_path(std::path::Path::new("--no-proxy"))
            .run()
            .expect_exit(0);
        assert_eq!(proxy.seen().len(), before, "--no-proxy bypasses it");
        assert_eq!(gl.notes(MR).len(), 1, "the note was updated directly");
    }
}

#[test]
#[cfg_attr(not(feature = "full-tests"), ignore = "full tier: load runs over 1 s")]
fn the_demo_ignores_a_proxy_in_the_environment() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Gate::new()
        .env("HTTP_PROXY", &format!("http://127.0.0.1:{port}"))
        .args(["demo", "--run-time", "3s", "--users", "10"])
        .run()
        .expect_exit(0);
    assert_clean(&out);
}
