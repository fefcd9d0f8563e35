//! The floor: the least work any HTTP/1.1 load generator can do per request over the sockets
//! API, as a yardstick for the benchmark's CPU-per-request figures (`bench/run.py` runs it beside
//! wrk). One thread, `mio` (edge-triggered epoll), N kept-alive connections, one `write` of a
//! fixed request and one `read` per response in the common case; the response is framed by
//! `Content-Length` only and nothing is parsed, timed or recorded. No real generator can be
//! cheaper per request than this on the same machine, so a target below it is a target below
//! the kernel's own cost of a TCP exchange.
//!
//! Usage: `cargo run --release --example floor -- 127.0.0.1:18090 50 5` (address, connections,
//! seconds); prints `requests N seconds S`.

use std::{
    io::{self, Read, Write},
    net::SocketAddr,
    time::{Duration, Instant},
};

use mio::{net::TcpStream, Events, Interest, Poll, Token};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// One connection: bytes of the current response read so far.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:18090", String::as_str)
        .parse()
        .expect("address");
    let conns: usize = args
        .get(2)
        .map_or(Ok(50), |s| s.parse())
        .expect("connections");
    let secs: u64 = args.get(3).map_or(Ok(5), |s| s.parse()).expect("seconds");
    let mut poll = Poll::new()?;
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = TcpStream::connect(addr)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        all.push(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut started = vec![false; conns];
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut done = 0u64;
    while Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in &events {
            let i = ev.token().0;
            let c = &mut all[i];
            if ev.is_writable() && !started[i] {
                started[i] = true;
                c.stream.write_all(REQUEST)?;
            }
            if ev.is_readable() {
                done += drain(c)?;
            }
        }
    }
    println!(
        "requests {done} seconds {:.3}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads what is there; for every complete response, sends the next request. Returns how many
/// responses completed.
fn drain(c: &mut Conn) -> io::Result<u64> {
    let mut done = 0;
    let mut chunk = [0u8; 8192];
    loop {
        match c.stream.read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                c.buf.extend_from_slice(&chunk[..n]);
                while let Some(len) = complete(&c.buf) {
                    c.buf.drain(..len);
                    done += 1;
                    c.stream.write_all(REQUEST)?;
                }
                if n < chunk.len() {
                    // A short read drained the socket: the next edge will say when there is more.
                    return Ok(done);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(done),
            Err(e) => return Err(e),
        }
    }
}

/// The length of the first complete response in `buf`, framed by `Content-Length`.
fn complete(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>())
        })?
        .ok()?;
    (buf.len() >= end + len).then_some(end + len)
}
