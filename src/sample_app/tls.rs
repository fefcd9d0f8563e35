//! HTTPS for the sample app (`sample-app --tls`) and the tests' servers: a private CA generated
//! on the spot (`rcgen`), certificates it signs, and a listener that completes each TLS
//! handshake on its own task, so a slow or failing handshake never holds up the others.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
        server::WebPkiClientVerifier,
    },
    server::TlsStream,
    TlsAcceptor,
};

use super::SampleAppError;

/// How long a client may take over its handshake before the server gives up on it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which validity period a certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid now and for a long time.
    Current,
    /// Expired years ago (to test how clients refuse it).
    Expired,
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// A private certificate authority, made fresh for one server.
pub struct Pki {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The CA's key stays out of every log.
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn tls_error(e: impl std::error::Error + Send + Sync + 'static) -> SampleAppError {
    SampleAppError::Tls(Box::new(e))
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<Pki, SampleAppError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.self_signed(&key).map_err(tls_error)?;
        Ok(Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate, PEM: what a client passes as `--ca-cert`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate for `names` (host names or IP addresses).
    pub fn server_cert(
        &self,
        names: &[&str],
        validity: Validity,
    ) -> Result<Issued, SampleAppError> {
        self.issue(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate for mutual TLS, named `name`.
    pub fn client_cert(&self, name: &str) -> Result<Issued, SampleAppError> {
        self.issue(
            &[name],
            Validity::Current,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        names: &[&str],
        validity: Validity,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Issued, SampleAppError> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).map_err(tls_error)?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if validity == Validity::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().map_err(tls_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_error)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A server configuration presenting `server`; with `client_ca`, clients must present a
/// certificate signed by it (mutual TLS). ALPN `http/1.1`, as the clients here ask.
pub fn server_config(
    server: &Issued,
    client_ca: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, SampleAppError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(tls_error)?;
    let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).map_err(tls_error)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let builder = match client_ca {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert.map_err(tls_error)?).map_err(tls_error)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(tls_error)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(tls_error)?;
    // HTTP/2 first, as production front doors offer it: a client that asks for h2 (the native
    // engine under `http2: auto | always`) gets it, one that does not stays on HTTP/1.1. The
    // server (hyper-util's auto builder, behind `axum::serve`) speaks whichever the client
    // starts with, and takes HTTP/2 by prior knowledge on plain `http` too.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TCP connections and hands on those whose handshake succeeded. Handshakes run on
/// their own tasks; a failed one is dropped (the client sees the alert).
pub(super) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Must be called inside the server's runtime: it spawns the accepting task.
    pub(super) fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { ready, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task ended with the runtime: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
