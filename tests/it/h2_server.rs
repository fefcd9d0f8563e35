//! The one way the tests stand up a real HTTP/2 server: cleartext on loopback (the gate speaks
//! to it by prior knowledge, `http2: always`), the `h2` crate's server side on a runtime of its
//! own thread, each connection handed to the test's function once the handshake is done. What a
//! server does with its streams is the test's; where it listens, how its connections are
//! accepted and counted, and with which settings the handshake is made are set up here once.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

/// A connection as the test's function gets it, handshake done.
pub type Connection = h2::server::Connection<tokio::net::TcpStream, bytes::Bytes>;

/// A running server: its URL, and how many connections it accepted.
pub struct H2Server {
    pub url: String,
    connections: Arc<AtomicU64>,
}

impl H2Server {
    /// Connections accepted so far (counted before their handshake).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A cleartext HTTP/2 server on `127.0.0.1`, handshaking with `builder`'s settings (the
/// server's `max_concurrent_streams`, its windows) and handing each connection to `serve`. A
/// connection whose handshake fails (a client that speaks HTTP/1.1) is dropped. The server
/// lives as long as the test process, as the sample apps of the other tests do.
pub fn h2_server<F, Fut>(builder: h2::server::Builder, serve: F) -> H2Server
where
    F: Fn(Connection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (builder, serve) = (builder.clone(), serve.clone());
                // Each handshake on its own task: a client slow to send its preface holds up
                // no other connection.
                tokio::spawn(async move {
                    if let Ok(conn) = builder.handshake(socket).await {
                        serve(conn).await;
                    }
                });
            }
        });
    });
    H2Server {
        url: format!("http://{addr}"),
        connections,
    }
}

/// Drives `conn` to its end: a GOAWAY it was told to send goes out, and the client's own end
/// is seen. A serving function calls it once it accepts no more streams.
pub async fn until_closed(conn: &mut Connection) {
    let _ = std::future::poll_fn(|cx| conn.poll_closed(cx)).await;
}
