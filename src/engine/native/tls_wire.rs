//! The HTTPS path's shape on the wire, seen by a loopback TLS server that reads the client's
//! bytes one TLS record at a time: a request (head and body) is one record, so one write (what
//! keeps the engine's system calls per request below wrk's), and the cipher suite is the one
//! browsers negotiate.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{mpsc, Arc},
    time::Duration,
};

use tokio_rustls::rustls::{self, CipherSuite};

use super::http::{send, Connector, Deadline, Limits, Reading};
use crate::{
    engine::Target,
    sample_app::tls::{server_config, Pki, Validity},
    tls::TlsOptions,
};

/// A TLS server on loopback that answers every request with a body of `body` bytes (a
/// pattern, so a byte lost or repeated shows) and reports, for each request, how many
/// application-data records it came in and the cipher suite of its connection.
fn counting_server(body: usize) -> (Target, mpsc::Receiver<(usize, Option<CipherSuite>)>) {
    let pki = Pki::new("tls-wire test CA").unwrap();
    let cert = pki.server_cert(&["127.0.0.1"], Validity::Current).unwrap();
    let config = server_config(&cert, None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, tx) = (config.clone(), tx.clone());
            std::thread::spawn(move || serve(tcp, config, body, tx));
        }
    });
    let url = url::Url::parse(&format!("https://{addr}/")).unwrap();
    let options = TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    };
    let target = Target::from_url(&url).unwrap().with_network(options, None);
    (target, rx)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 23) as u8).collect()
}

/// One connection: reads a record at a time off the socket, counts the application-data
/// records after the handshake, answers each complete request.
fn serve(
    mut tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    body: usize,
    tx: mpsc::Sender<(usize, Option<CipherSuite>)>,
) {
    let mut tls = rustls::ServerConnection::new(config).unwrap();
    // A whole reply is queued at once, however large.
    tls.set_buffer_limit(None);
    let (mut plain, mut records) = (Vec::new(), 0);
    let reply = [
        format!("HTTP/1.1 200 OK\r\ncontent-length: {body}\r\n\r\n").into_bytes(),
        pattern(body),
    ]
    .concat();
    loop {
        let mut record = vec![0u8; 5];
        if tcp.read_exact(&mut record).is_err() {
            return;
        }
        let len = u16::from_be_bytes([record[3], record[4]]) as usize;
        record.resize(5 + len, 0);
        if tcp.read_exact(&mut record[5..]).is_err() {
            return;
        }
        let handshaking = tls.is_handshaking();
        tls.read_tls(&mut &record[..]).unwrap();
        if tls.process_new_packets().is_err() {
            return;
        }
        if !handshaking && record[0] == 23 {
            records += 1;
        }
        let _ = tls.reader().read_to_end(&mut plain);
        if let Some(end) = request_end(&plain) {
            plain.drain(..end);
            let suite = tls.negotiated_cipher_suite().map(|s| s.suite());
            let _ = tx.send((std::mem::take(&mut records), suite));
            tls.writer().write_all(&reply).unwrap();
        }
        while tls.wants_write() {
            if tls.write_tls(&mut tcp).is_err() {
                return;
            }
        }
    }
}

/// Where a request with a `content-length` (or none) ends, once it has all arrived.
fn request_end(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
    let body = text
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    (buf.len() >= head + body).then_some(head + body)
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A small POST (head and a 2 KiB body) goes as one TLS record, every time: one write and one
/// record for the server to open, as wrk sends. Written in two (head, then body), it would
/// cost a second record, a second system call on each side and a second decryption.
#[test]
fn a_small_post_is_one_tls_record() {
    let (target, seen) = counting_server(2);
    let connector = Connector::new(&target, Limits::default()).unwrap();
    let body = pattern(2048);
    let request = [
        format!(
            "POST /orders HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n\r\n",
            target.authority,
            body.len()
        )
        .into_bytes(),
        body,
    ]
    .concat();
    run(async {
        let (mut conn, mut deadline) = (None, Deadline::new());
        for _ in 0..3 {
            let timeout = (Duration::from_secs(10), &mut deadline);
            let r = send(&connector, &mut conn, &request, Reading::WHOLE, timeout)
                .await
                .unwrap();
            assert_eq!((r.status, &r.body[..]), (200, &pattern(2)[..]));
        }
    });
    let seen: Vec<_> = seen.try_iter().collect();
    let records: Vec<usize> = seen.iter().map(|(n, _)| *n).collect();
    assert_eq!(records, [1, 1, 1], "TLS records per request");
    // The server (rustls, which like OpenSSL takes the client's first choice) encrypts with
    // what browsers ask for (`tls::browser_order`).
    assert!(seen
        .iter()
        .all(|(_, s)| *s == Some(CipherSuite::TLS13_AES_128_GCM_SHA256)));
}

/// A 256 KiB body over TLS (16 records of 16 KiB, more than rustls reads at once) arrives whole
/// and in order, twice on the same connection. Measured against nginx, rustls reads such a body
/// in about 20 `recv` calls, wrk's OpenSSL in about 34 (a record's header, then its body): a
/// read-ahead buffer under rustls was tried and saved no CPU (bench/README.md, HTTPS).
#[test]
fn a_large_https_body_arrives_whole() {
    const LARGE: usize = 256 * 1024;
    let (target, _) = counting_server(LARGE);
    let connector = Connector::new(&target, Limits::default()).unwrap();
    let get = format!("GET / HTTP/1.1\r\nhost: {}\r\n\r\n", target.authority);
    run(async {
        let (mut conn, mut deadline) = (None, Deadline::new());
        for _ in 0..2 {
            let timeout = (Duration::from_secs(10), &mut deadline);
            let r = send(
                &connector,
                &mut conn,
                get.as_bytes(),
                Reading::WHOLE,
                timeout,
            )
            .await
            .unwrap();
            assert!(r.body == pattern(LARGE), "the body arrives whole, in order");
        }
        assert!(conn.is_some(), "kept alive");
    });
}
