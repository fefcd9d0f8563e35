//! TLS trust and identity for every connection this program opens: the native engine's to the
//! target, and the GitLab and LoadForge clients'. A leaf, so the engine, the API clients and the
//! settings (which check a `--ca-cert` file before any load) share one reading of PEM files and
//! one root store.
//!
//! Trusted by default: the bundled web roots (so a public site works on a runner without a
//! system store), the system's roots (`rustls-native-certs`, which reads `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` instead of the system's locations when they are set, as OpenSSL does), and the
//! system bundle as well when those variables are set. A private CA is added with `--ca-cert`.

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    AlertDescription, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// Where the usual Linux distributions keep the system bundle, trusted alongside
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` (which replace it in `rustls-native-certs`).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How the native engine speaks TLS to the target: plain data, settled by the settings.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--ca-cert`: a PEM bundle of extra trusted CAs (a private CA).
    pub(crate) ca_cert: Option<PathBuf>,
    /// `--client-cert` and `--client-key`: a PEM certificate chain and its key, for mutual TLS.
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    /// `--insecure`: certificates are not verified at all. Never a default.
    pub(crate) insecure: bool,
}

/// Why TLS could not be set up from the files given. Messages name the file; the flag is
/// named by whoever knows it (the settings).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file is not PEM, or a PEM section in it is broken.
    #[error("{} is not a valid PEM file", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// The PEM parser's error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The file holds no `CERTIFICATE` section.
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no private key section.
    #[error("{} holds no PEM private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration (a key that does not match its certificate, a
    /// certificate it cannot parse).
    #[error("the TLS configuration is not usable")]
    Config(#[source] rustls::Error),
    /// The HTTP client refused an extra root certificate.
    #[error("the HTTP client refused the certificates of {}", path.display())]
    Client {
        /// The file the certificates came from.
        path: PathBuf,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
}

/// The most a PEM file of certificates or a key is read to: a system bundle of every public
/// root is about 200 KiB. Past it the file is refused unread, so a variable naming a device
/// or a log (`CI_SERVER_TLS_CA_FILE=/dev/zero`) costs nothing.
pub(crate) const MAX_PEM_BYTES: usize = 1 << 20;

/// A PEM file's bytes, up to [`MAX_PEM_BYTES`]; a larger file is a read error that says so.
fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Opened without blocking and read only when it is a regular file: a FIFO or a device
    // named by a variable is refused at once, never waited on.
    crate::capped::read_file(path, MAX_PEM_BYTES).map_err(|e| match e.kind() {
        io::ErrorKind::FileTooLarge => read_err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, more than any PEM file of certificates or a key; is it the right file?",
                MAX_PEM_BYTES >> 20
            ),
        )),
        io::ErrorKind::InvalidInput => read_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a device or a FIFO?); name a PEM file",
        )),
        _ => read_err(e),
    })
}

/// Every certificate of a PEM bundle; at least one, or the file is refused.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        source => TlsError::Pem {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// The bundled web roots, the system's, and `extra`. Unparsable system certificates are skipped,
/// as every TLS client does: one broken file in `/etc/ssl/certs` must not stop a load test.
/// `SSL_CERT_FILE` is read here, up to [`MAX_PEM_BYTES`] like every PEM file (a file it cannot
/// use is skipped like a broken system file), rather than by `rustls-native-certs`, which would
/// read whatever it names to its end.
pub(crate) fn roots(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    let env_replaces_system = file.is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    if !env_replaces_system {
        store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    } else {
        if let Some(bytes) = file.as_deref().and_then(|f| read(f).ok()) {
            store.add_parsable_certificates(
                CertificateDer::pem_slice_iter(&bytes).map_while(Result::ok),
            );
        }
        for dir in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            store.add_parsable_certificates(found.certs);
        }
        for bundle in SYSTEM_BUNDLES.iter().map(Path::new).filter(|p| p.is_file()) {
            let found = rustls_native_certs::load_certs_from_paths(Some(bundle), None);
            store.add_parsable_certificates(found.certs);
        }
    }
    store.add_parsable_certificates(extra.iter().cloned());
    store
}

/// The client configuration for the target: trust, identity, the cipher suites browsers
/// prefer ([`browser_order`]) and ALPN `http/1.1`.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<rustls::ClientConfig, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    browser_order(&mut provider.cipher_suites);
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let extra = match &opts.ca_cert {
            Some(path) => read_certs(path)?,
            None => Vec::new(),
        };
        builder.with_root_certificates(roots(&extra))
    };
    let mut config = match &opts.client_identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(TlsError::Config)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// AES-128-GCM first, as Chrome, Firefox and Safari offer it, where rustls puts AES-256-GCM
/// first. A server takes the client's first choice (OpenSSL's default, so nginx's), and a load
/// test should cost the server what its real clients cost it: with rustls's order every record
/// was encrypted and decrypted with 14 AES rounds instead of 10, on both sides. TLS 1.3 stays
/// ahead of TLS 1.2; the order is otherwise unchanged.
fn browser_order(suites: &mut [rustls::SupportedCipherSuite]) {
    use rustls::CipherSuite as C;
    suites.sort_by_key(|s| {
        let aes128 = matches!(
            s.suite(),
            C::TLS13_AES_128_GCM_SHA256
                | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
        (s.tls13().is_none(), !aes128)
    });
}

/// `--insecure`: accepts any certificate, still checking that the handshake's signatures are
/// made with the certificate's key (so the connection is at least to whoever holds it).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS failure as a counted reason (a stable category, never the library's text, since
/// reasons are grouped) and what fixes it, for the one log line that explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    /// `tls: certificate signed by unknown authority` and the like.
    pub(crate) reason: &'static str,
    /// What to do about it, naming the flag.
    pub(crate) fix: &'static str,
}

const FIX_CA: &str =
    "pass the CA that signed the target's certificate with --ca-cert FILE (PEM), or skip verification with --insecure (never against production)";
const FIX_NAME: &str =
    "aim --host at a name the certificate lists, or skip verification with --insecure";
const FIX_DATE: &str =
    "renew the target's certificate (or check this machine's clock), or skip verification with --insecure";
const FIX_CLIENT: &str =
    "pass the client certificate and key the server accepts with --client-cert FILE and --client-key FILE";
const FIX_OTHER: &str = "check that the target speaks TLS on this port and which versions and ciphers it accepts; --insecure skips only certificate checks";

const fn failure_of(reason: &'static str, fix: &'static str) -> Failure {
    Failure { reason, fix }
}

const UNKNOWN_CA: Failure = failure_of("tls: certificate signed by unknown authority", FIX_CA);
const NAME: Failure = failure_of("tls: hostname mismatch", FIX_NAME);
const EXPIRED: Failure = failure_of("tls: certificate expired", FIX_DATE);
const NOT_YET: Failure = failure_of("tls: certificate not yet valid", FIX_DATE);
const REVOKED: Failure = failure_of("tls: certificate revoked", FIX_CA);
const BAD_SIGNATURE: Failure = failure_of("tls: bad certificate signature", FIX_CA);
const INVALID: Failure = failure_of("tls: invalid certificate", FIX_CA);
const CLIENT_REQUIRED: Failure = failure_of("tls: client certificate required", FIX_CLIENT);
const CLIENT_REJECTED: Failure = failure_of("tls: client certificate rejected", FIX_CLIENT);
const ALPN: Failure = failure_of("tls: no common ALPN protocol", FIX_OTHER);
const NOT_TLS: Failure = failure_of("tls: the server did not answer in TLS", FIX_OTHER);
const INCOMPATIBLE: Failure = failure_of("tls: no common protocol version or cipher", FIX_OTHER);
const REFUSED: Failure = failure_of("tls: handshake refused by the server", FIX_OTHER);
const OTHER: Failure = failure_of("tls: handshake failed", FIX_OTHER);

/// Every category, so a counted reason finds its fix again.
const ALL: &[Failure] = &[
    UNKNOWN_CA,
    NAME,
    EXPIRED,
    NOT_YET,
    REVOKED,
    BAD_SIGNATURE,
    INVALID,
    CLIENT_REQUIRED,
    CLIENT_REJECTED,
    ALPN,
    NOT_TLS,
    INCOMPATIBLE,
    REFUSED,
    OTHER,
];

/// The category of a failed handshake or TLS read, when the I/O error carries a rustls error.
pub(crate) fn failure(e: &io::Error) -> Option<Failure> {
    let inner = e.get_ref()?;
    match inner.downcast_ref::<rustls::Error>() {
        Some(tls) => Some(categorise(tls)),
        // HTTP clients wrap the TLS library's I/O error in one of their own.
        None => inner.downcast_ref::<io::Error>().and_then(failure),
    }
}

/// The category of the first TLS failure among `e` and its causes (an HTTP client's error
/// wraps the rustls error a few levels down).
pub(crate) fn failure_in(e: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(categorise(tls));
        }
        if let Some(f) = c.downcast_ref::<io::Error>().and_then(failure) {
            return Some(f);
        }
        cause = c.source();
    }
    None
}

/// The fix for a reason that [`failure`] gave, for the one log line that explains it.
pub(crate) fn fix_for(reason: &str) -> Option<&'static str> {
    ALL.iter().find(|f| f.reason == reason).map(|f| f.fix)
}

fn categorise(e: &rustls::Error) -> Failure {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate(c),
        rustls::Error::AlertReceived(a) => alert(*a),
        rustls::Error::NoApplicationProtocol => ALPN,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => NOT_TLS,
        rustls::Error::PeerIncompatible(_) => INCOMPATIBLE,
        _ => OTHER,
    }
}

fn certificate(c: &CertificateError) -> Failure {
    match c {
        CertificateError::UnknownIssuer => UNKNOWN_CA,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => NAME,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => EXPIRED,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => NOT_YET,
        CertificateError::Revoked => REVOKED,
        CertificateError::BadSignature => BAD_SIGNATURE,
        _ => INVALID,
    }
}

fn alert(a: AlertDescription) -> Failure {
    match a {
        AlertDescription::CertificateRequired => CLIENT_REQUIRED,
        AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnsupportedCertificate => CLIENT_REJECTED,
        AlertDescription::ProtocolVersion | AlertDescription::InsufficientSecurity => INCOMPATIBLE,
        AlertDescription::NoApplicationProtocol => ALPN,
        _ => REFUSED,
    }
}

/// The variable GitLab Runner sets to the instance's CA file: for the GitLab calls alone.
pub(crate) const GITLAB_CA_FILE: &str = "CI_SERVER_TLS_CA_FILE";

/// Trust and proxy choices for the GitLab and LoadForge clients (`reqwest`), which verify with
/// the system's roots (`rustls-platform-verifier`) plus the files listed here.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientNet {
    /// Extra PEM bundles and the variable each came from (`CI_SERVER_TLS_CA_FILE`,
    /// `SSL_CERT_FILE`), named when the file cannot be read.
    pub(crate) ca_files: Vec<(&'static str, PathBuf)>,
    /// `--no-proxy`: ignore `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`.
    pub(crate) no_proxy: bool,
}

impl ClientNet {
    /// The same choices without the file `variable` names: the LoadForge client does without
    /// GitLab's CA ([`GITLAB_CA_FILE`]), so the load test never depends on it.
    pub(crate) fn without(&self, variable: &str) -> ClientNet {
        ClientNet {
            ca_files: (self.ca_files.iter())
                .filter(|(v, _)| *v != variable)
                .cloned()
                .collect(),
            no_proxy: self.no_proxy,
        }
    }

    /// `builder` with the extra roots added to the system's and, with `--no-proxy`, no
    /// proxies (reqwest otherwise reads the proxy variables itself).
    pub(crate) fn apply(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> Result<reqwest::blocking::ClientBuilder, TlsError> {
        install_ring();
        let mut certs = Vec::new();
        for (_, path) in &self.ca_files {
            for der in read_certs(path)? {
                certs.push(reqwest::Certificate::from_der(&der).map_err(|source| {
                    TlsError::Client {
                        path: path.clone(),
                        source,
                    }
                })?);
            }
        }
        let builder = builder.tls_certs_merge(certs);
        Ok(if self.no_proxy {
            builder.no_proxy()
        } else {
            builder
        })
    }
}

/// Makes ring the process's rustls crypto provider, for reqwest (the GitLab and LoadForge
/// clients): built without its own provider (`rustls-no-provider`), it takes the installed
/// one, so the binary carries one provider, the engine's, and no C crypto build (aws-lc-rs).
/// Installing twice is harmless: the first stays.
fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_become_stable_reasons() {
        let io = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let reason = |e| failure(&io(e)).map(|f| f.reason);
        assert_eq!(
            reason(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            Some("tls: certificate signed by unknown authority")
        );
        assert_eq!(
            reason(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName
            )),
            Some("tls: hostname mismatch")
        );
        assert_eq!(
            reason(rustls::Error::InvalidCertificate(CertificateError::Expired)),
            Some("tls: certificate expired")
        );
        assert_eq!(
            reason(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            )),
            Some("tls: client certificate required")
        );
        assert_eq!(failure(&io::Error::other("plain")), None);
        // HTTP clients wrap the TLS library's I/O error in one of their own.
        let nested = io::Error::other(io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )));
        assert_eq!(failure_in(&nested).map(|f| f.fix), Some(FIX_CA));
    }

    /// The audit's case: `CI_SERVER_TLS_CA_FILE=/dev/zero` was read for about 1 GB before
    /// failing. Only a regular file is read (a device or a FIFO is refused at once, never
    /// waited on), up to 1 MiB, and the error says so.
    #[test]
    fn a_pem_file_is_read_up_to_its_cap() {
        let start = std::time::Instant::now();
        let err = read_certs(Path::new("/dev/zero")).unwrap_err();
        let text = crate::chain::one_line(&err);
        assert!(
            text.starts_with("cannot read /dev/zero: it is not a regular file"),
            "{text}"
        );
        assert!(read_key(Path::new("/dev/zero")).is_err());
        let dir = tempfile::tempdir().unwrap();
        // A FIFO with no writer: refused at once, never waited on.
        let fifo = dir.path().join("ca.pem");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let text = crate::chain::one_line(&read_certs(&fifo).unwrap_err());
        assert!(text.contains("not a regular file"), "{text}");
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; MAX_PEM_BYTES + 1]).unwrap();
        assert!(crate::chain::one_line(&read_certs(&big).unwrap_err()).contains("1 MiB"));
        let net = ClientNet {
            ca_files: vec![(GITLAB_CA_FILE, "/dev/zero".into())],
            no_proxy: false,
        };
        assert!(net.apply(reqwest::blocking::Client::builder()).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // The load test's client does without GitLab's CA.
        let ssl = ("SSL_CERT_FILE", PathBuf::from("/etc/ssl/cert.pem"));
        let both = ClientNet {
            ca_files: vec![(GITLAB_CA_FILE, "/dev/zero".into()), ssl.clone()],
            no_proxy: true,
        };
        let load = both.without(GITLAB_CA_FILE);
        assert_eq!(load.ca_files, [ssl]);
        assert!(load.no_proxy);
    }

    /// AES-128-GCM first in each protocol version, TLS 1.3 before TLS 1.2.
    #[test]
    fn the_cipher_suites_come_in_the_browsers_order() {
        use rustls::CipherSuite as C;
        let config = client_config(&TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        })
        .unwrap();
        let suites: Vec<C> = (config.crypto_provider().cipher_suites.iter())
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            suites[..3],
            [
                C::TLS13_AES_128_GCM_SHA256,
                C::TLS13_AES_256_GCM_SHA384,
                C::TLS13_CHACHA20_POLY1305_SHA256
            ]
        );
        let tls12 = &suites[3..];
        assert!(matches!(
            tls12[..2],
            [
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        ));
        assert_eq!(tls12.len(), 6, "{tls12:?}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        assert!(matches!(
            read_certs(&p),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(
            read_certs(&dir.path().join("missing.pem")),
            Err(TlsError::Read { .. })
        ));
        assert!(matches!(read_key(&p), Err(TlsError::NoKey { .. })));
    }
}
