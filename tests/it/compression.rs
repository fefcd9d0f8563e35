//! Compressed answers: asked for by default, decoded for checks and extractions, counted both
//! ways, held to the body cap once decoded; and the off switch.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use loadforge_gate::sample_app::Knobs;

use crate::harness::{reasons, sample_app, Gate, Output};

/// A keep-alive server answering every request with `body` under `encoding`; it records the
/// `Accept-Encoding` each request carried.
struct Encoded {
    url: String,
    asked: Arc<Mutex<Vec<String>>>,
}

fn serve(encoding: &'static str, body: Vec<u8>) -> Encoded {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let body = Arc::new(body);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (log, body) = (log.clone(), body.clone());
            std::thread::spawn(move || answer(conn, encoding, &body, &log));
        }
    });
    Encoded { url, asked }
}

fn answer(conn: TcpStream, encoding: &str, body: &[u8], log: &Mutex<Vec<String>>) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut accept = String::from("(none)");
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("accept-encoding:") {
                accept = v.trim().to_string();
            }
            if line == "\r\n" {
                break;
            }
        }
        log.lock().unwrap().push(accept);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: {encoding}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let mut reply = head.into_bytes();
        reply.extend_from_slice(body);
        if conn.write_all(&reply).is_err() {
            return;
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn run(url: &str, scenario: &str) -> Output {
    Gate::new()
        .write("s.yml", scenario)
        .args(["run", "--scenario", "s.yml", "--host", url])
        .args(["--users", "2", "--run-time", "1s", "--progress", "0"])
        .args(["--baseline", "none"])
        .run()
}

/// One task: read a token from the (compressed) answer, then use it.
const EXTRACT: &str = "tasks:
  - steps:
      - request: {path: /, check: {json_path: $.token}, extract: {t: $.token}}
      - request: {name: next, path: \"/${t}\"}
";

#[test]
fn the_sample_apps_gzip_answers_are_decoded_and_counted_both_ways() {
    let app = sample_app(Knobs::default());
    // The OAuth flow's order list is long enough to be compressed; its check reads the text.
    let scenario = "on_start:\n  - request:\n      method: POST\n      path: /oauth/token\n      \
                    json: {grant_type: client_credentials, client_id: a, client_secret: b}\n      \
                    extract: {tok: $.access_token}\n  - set_headers: {Authorization: \"Bearer ${tok}\"}\n\
                    tasks:\n  - request:\n      path: /api/v2/orders?limit=50\n      \
                    check: {json_path: \"$.orders[49].id\"}\n";
    let out = run(&app.url(), scenario).expect_exit(0);
    let r = out.results();
    let search = &r["endpoints"][1];
    let (wire, decoded) = (
        search["bytes_received"].as_u64().unwrap(),
        search["bytes_received_decoded"].as_u64().unwrap(),
    );
    assert!(wire > 0 && decoded > wire, "{search}");
    let total: u64 = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["bytes_received"].as_u64().unwrap())
        .sum();
    assert_eq!(r["aggregate"]["bytes_received"], total);
}

#[test]
fn brotli_and_deflate_are_decoded_for_extraction() {
    let json = br#"{"token": "abc123", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(json).unwrap();
    for (name, body) in [("br", brotli(json)), ("deflate", z.finish().unwrap())] {
        let server = serve(name, body);
        let out = run(&server.url, EXTRACT).expect_exit(0);
        assert_eq!(
            out.results()["aggregate"]["failures"],
            0,
            "{name}: {:?}",
            reasons(&out.results())
        );
        let asked = server.asked.lock().unwrap().clone();
        assert!(
            asked.iter().all(|a| a == "gzip, deflate, br"),
            "{name}: {asked:?}"
        );
    }
}

#[test]
fn compression_false_asks_for_nothing() {
    let server = serve("identity", br#"{"token": "abc"}"#.to_vec());
    let scenario = format!("defaults: {{compression: false}}\n{EXTRACT}");
    let out = run(&server.url, &scenario).expect_exit(0);
    let asked = server.asked.lock().unwrap().clone();
    assert!(
        !asked.is_empty() && asked.iter().all(|a| a == "(none)"),
        "{asked:?}"
    );
    let r = out.results();
    assert_eq!(
        r["aggregate"]["bytes_received"],
        r["aggregate"]["bytes_received_decoded"]
    );
}

#[test]
fn a_corrupt_stream_and_a_bomb_are_counted_failures() {
    let corrupt = serve("gzip", b"this is not gzip at all".to_vec());
    let out = run(&corrupt.url, EXTRACT).expect_exit(1);
    assert!(
        reasons(&out.results()).contains_key("malformed compressed body"),
        "{:?}",
        reasons(&out.results())
    );
    // 16 MiB of zeros in a few KiB: over a 1 MiB cap once decoded, even though nothing reads it.
    let bomb = serve("gzip", gzip(&vec![0u8; 16 << 20]));
    let out = run(
        &bomb.url,
        "defaults: {max_body_mib: 1}\ntasks: [{request: {path: /}}]\n",
    )
    .expect_exit(1);
    let found = reasons(&out.results());
    assert!(
        found.keys().any(|k| k.starts_with("response too large")),
        "{found:?}"
    );
}
