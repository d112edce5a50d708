//! A real TLS handshake (rustls, TLS 1.2 and 1.3) that captures what the server presented.
//!
//! The verdicts that matter for a modern server — the version and suite it negotiates with a
//! current client, the chain it sends, the key exchange — come from an actual handshake, not
//! from hand-built hellos (those, in [`crate::scan`], only find out what *old* things a server
//! still accepts). Certificate grading is separate ([`crate::cert`], [`crate::dane`]), so this
//! client accepts any certificate at the rustls level; it still checks the handshake
//! signature, so the server has proved it holds the key of the certificate it showed.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// A protocol version as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "SSLv3")]
    Ssl3,
    #[serde(rename = "TLSv1.0")]
    Tls10,
    #[serde(rename = "TLSv1.1")]
    Tls11,
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl TlsVersion {
    /// The version from its two-byte wire value (0x0300 SSLv3 … 0x0304 TLS 1.3).
    pub fn from_wire(v: u16) -> Option<Self> {
        match v {
            0x0300 => Some(Self::Ssl3),
            0x0301 => Some(Self::Tls10),
            0x0302 => Some(Self::Tls11),
            0x0303 => Some(Self::Tls12),
            0x0304 => Some(Self::Tls13),
            _ => None,
        }
    }

    /// The two-byte wire value.
    pub fn to_wire(self) -> u16 {
        match self {
            Self::Ssl3 => 0x0300,
            Self::Tls10 => 0x0301,
            Self::Tls11 => 0x0302,
            Self::Tls12 => 0x0303,
            Self::Tls13 => 0x0304,
        }
    }

    /// TLS 1.2 and 1.3 are acceptable (SP 800-52r2 §3.1); anything older is a finding.
    pub fn is_acceptable(self) -> bool {
        matches!(self, Self::Tls12 | Self::Tls13)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssl3 => "SSLv3",
            Self::Tls10 => "TLSv1.0",
            Self::Tls11 => "TLSv1.1",
            Self::Tls12 => "TLSv1.2",
            Self::Tls13 => "TLSv1.3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Limits for one handshake.
#[derive(Debug, Clone)]
pub struct TlsProbeConfig {
    /// The whole handshake, from ClientHello to Finished.
    pub handshake_timeout: Duration,
    /// How many presented certificates are kept (the count presented is always reported).
    pub max_chain: usize,
}

impl Default for TlsProbeConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            max_chain: 20,
        }
    }
}

/// What the server negotiated and presented.
#[derive(Debug, Clone)]
pub struct HandshakeInfo {
    pub version: TlsVersion,
    /// IANA name, e.g. "TLS_AES_256_GCM_SHA384" or "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".
    pub cipher_suite: String,
    /// As presented, leaf first, truncated to `max_chain`.
    pub chain: Vec<CertificateDer<'static>>,
    pub chain_len_presented: usize,
    /// The key exchange group, e.g. "X25519" (None when rustls does not say, e.g. TLS 1.2 RSA).
    pub key_exchange: Option<String>,
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The handshake did not finish within [`TlsProbeConfig::handshake_timeout`].
    #[error("the TLS handshake timed out (the server stopped answering)")]
    Timeout,
    #[error("the server refused the TLS handshake with alert \"{0}\"")]
    Alert(String),
    #[error("the server closed the connection during the TLS handshake")]
    Closed,
    #[error("network error during the TLS handshake: {0}")]
    Io(#[source] std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Protocol(String),
    #[error("\"{0}\" is neither a DNS name nor an IP address usable for TLS")]
    InvalidName(String),
}

/// A reusable probing client. The rustls configuration is built once and shared; cloning is
/// cheap.
#[derive(Clone)]
pub struct TlsProber {
    connector: TlsConnector,
}

impl fmt::Debug for TlsProber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsProber")
    }
}

impl TlsProber {
    /// A client offering TLS 1.3 and 1.2 with every suite and group rustls (aws-lc-rs) has,
    /// no session resumption (every probe is a full handshake that shows the chain), no ALPN.
    pub fn new() -> Result<Self, TlsError> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.cipher_suites = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES.to_vec();
        let algorithms = provider.signature_verification_algorithms;
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Protocol(format!("building the TLS client: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { algorithms }))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        config.enable_sni = true;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Handshake over `stream` (a fresh TCP connection, or one after STARTTLS).
    ///
    /// `server_name` goes into SNI when it is a DNS name (a trailing dot is dropped); an IP
    /// address sends no SNI, as RFC 6066 §3 requires.
    pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &self,
        stream: S,
        server_name: &str,
        cfg: &TlsProbeConfig,
    ) -> Result<(tokio_rustls::client::TlsStream<S>, HandshakeInfo), TlsError> {
        let name = server_name_for(server_name)?;
        let connect = self.connector.connect(name, stream);
        let stream = match tokio::time::timeout(cfg.handshake_timeout, connect).await {
            Err(_) => return Err(TlsError::Timeout),
            Ok(Err(e)) => return Err(error_from_io(e)),
            Ok(Ok(s)) => s,
        };
        let info = {
            let (_, conn) = stream.get_ref();
            let version = conn
                .protocol_version()
                .and_then(|v| TlsVersion::from_wire(u16::from(v)))
                .ok_or_else(|| TlsError::Protocol("no protocol version negotiated".into()))?;
            let suite = conn
                .negotiated_cipher_suite()
                .ok_or_else(|| TlsError::Protocol("no cipher suite negotiated".into()))?;
            let suite_id = u16::from(suite.suite());
            let cipher_suite = crate::scan::suite_name(suite_id)
                .map(str::to_string)
                .unwrap_or_else(|| format!("0x{suite_id:04X}"));
            let presented = conn.peer_certificates().unwrap_or_default();
            HandshakeInfo {
                version,
                cipher_suite,
                chain: presented.iter().take(cfg.max_chain).cloned().collect(),
                chain_len_presented: presented.len(),
                key_exchange: conn
                    .negotiated_key_exchange_group()
                    .map(|g| group_name(u16::from(g.name()))),
            }
        };
        Ok((stream, info))
    }
}

/// Handshake with the shared [`TlsProber`] (built on first use).
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: S,
    server_name: &str,
    cfg: &TlsProbeConfig,
) -> Result<(tokio_rustls::client::TlsStream<S>, HandshakeInfo), TlsError> {
    static SHARED: OnceLock<Result<TlsProber, String>> = OnceLock::new();
    let prober = SHARED.get_or_init(|| TlsProber::new().map_err(|e| e.to_string()));
    match prober {
        Ok(p) => p.handshake(stream, server_name, cfg).await,
        Err(e) => Err(TlsError::Protocol(e.clone())),
    }
}

fn server_name_for(name: &str) -> Result<ServerName<'static>, TlsError> {
    let trimmed = name.trim().trim_end_matches('.');
    let trimmed = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    ServerName::try_from(trimmed.to_string()).map_err(|_| TlsError::InvalidName(name.to_string()))
}

/// tokio-rustls reports everything as io::Error; recover what the server actually did.
fn error_from_io(e: std::io::Error) -> TlsError {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::AlertReceived(alert) => {
                let code = u8::from(*alert);
                TlsError::Alert(
                    crate::scan::alert_name(code)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("alert {code}")),
                )
            }
            other => TlsError::Protocol(other.to_string()),
        };
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        TlsError::Closed
    } else {
        TlsError::Io(e)
    }
}

/// IANA TLS Supported Groups names (as OpenSSL and testssl.sh print them).
fn group_name(id: u16) -> String {
    let name = match id {
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001d => "X25519",
        0x001e => "X448",
        0x0100 => "ffdhe2048",
        0x0101 => "ffdhe3072",
        0x0102 => "ffdhe4096",
        0x0103 => "ffdhe6144",
        0x0104 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        other => return format!("0x{other:04X}"),
    };
    name.to_string()
}

/// Accepts any certificate chain (grading happens later, on the recorded chain) but verifies
/// the handshake signature against the presented leaf, so a server cannot show a certificate
/// whose key it does not hold.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::tests::{make_ca, make_leaf};
    use rcgen::KeyPair;
    use rustls::ServerConfig;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn server_config(
        chain: Vec<CertificateDer<'static>>,
        key: &KeyPair,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> ServerConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                chain,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap()
    }

    /// Serves one TLS connection with `config`, reporting the SNI the client sent.
    async fn tls_server(config: ServerConfig) -> (u16, tokio::task::JoinHandle<Option<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.ok()?;
            let mut tls = acceptor.accept(tcp).await.ok()?;
            let sni = tls.get_ref().1.server_name().map(str::to_string);
            let _ = tls.write_all(b"220 ok\r\n").await;
            let _ = tls.shutdown().await;
            sni.or(Some(String::new()))
        });
        (port, task)
    }

    /// A plain TCP server that reads some bytes and answers with `reply`, then closes.
    async fn raw_server(reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut tcp, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(reply).await;
                let _ = tcp.shutdown().await;
            }
        });
        port
    }

    async fn connect(port: u16) -> TcpStream {
        TcpStream::connect(("127.0.0.1", port)).await.unwrap()
    }

    #[tokio::test]
    async fn tls13_handshake_captures_chain() {
        let ca = make_ca("Lab Root");
        let (leaf, key) = make_leaf(&ca, &["mx.example.org"]);
        let config = server_config(
            vec![leaf.clone(), ca.cert.clone()],
            &key,
            &[&rustls::version::TLS13],
        );
        let (port, sni) = tls_server(config).await;
        let (mut stream, info) = handshake(
            connect(port).await,
            "mx.example.org.",
            &TlsProbeConfig::default(),
        )
        .await
        .unwrap();
        assert_eq!(info.version, TlsVersion::Tls13);
        assert!(
            info.cipher_suite.starts_with("TLS_AES_")
                || info.cipher_suite.starts_with("TLS_CHACHA20"),
            "{}",
            info.cipher_suite
        );
        assert_eq!(info.chain_len_presented, 2);
        assert_eq!(info.chain, vec![leaf, ca.cert]);
        assert!(info.key_exchange.is_some());
        let mut greeting = String::new();
        let _ = stream.read_to_string(&mut greeting).await;
        assert_eq!(greeting, "220 ok\r\n");
        assert_eq!(sni.await.unwrap().as_deref(), Some("mx.example.org"));
    }

    #[tokio::test]
    async fn tls12_handshake_names_the_suite_and_truncates() {
        let ca = make_ca("Lab Root");
        let (leaf, key) = make_leaf(&ca, &["mx.example.org"]);
        let config = server_config(
            vec![leaf.clone(), ca.cert.clone()],
            &key,
            &[&rustls::version::TLS12],
        );
        let (port, sni) = tls_server(config).await;
        let cfg = TlsProbeConfig {
            max_chain: 1,
            ..TlsProbeConfig::default()
        };
        let (_, info) = handshake(connect(port).await, "127.0.0.1", &cfg)
            .await
            .unwrap();
        assert_eq!(info.version, TlsVersion::Tls12);
        assert!(
            info.cipher_suite.starts_with("TLS_ECDHE_ECDSA_WITH_"),
            "{}",
            info.cipher_suite
        );
        assert_eq!(info.chain, vec![leaf]);
        assert_eq!(info.chain_len_presented, 2);
        // An IP address: no SNI at all.
        assert_eq!(sni.await.unwrap().as_deref(), Some(""));
    }

    /// A server whose certificate does not belong to its signing key must fail the handshake:
    /// accepting any certificate does not mean accepting any key.
    #[tokio::test]
    async fn mismatched_key_fails_signature_check() {
        #[derive(Debug)]
        struct Fixed(Arc<CertifiedKey>);
        impl ResolvesServerCert for Fixed {
            fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
                Some(self.0.clone())
            }
        }
        let ca = make_ca("Lab Root");
        let (leaf, _right_key) = make_leaf(&ca, &["mx.example.org"]);
        let wrong_key = KeyPair::generate().unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                wrong_key.serialize_der(),
            )))
            .unwrap();
        let certified = Arc::new(CertifiedKey::new(vec![leaf], signer));
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let config = ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Fixed(certified.clone())));
            let (port, _) = tls_server(config).await;
            let err = handshake(
                connect(port).await,
                "mx.example.org",
                &TlsProbeConfig::default(),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, TlsError::Protocol(_)), "{err:?}");
            assert!(
                err.to_string().to_lowercase().contains("signature"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn alert_is_reported_by_name() {
        // TLS 1.2 record, fatal handshake_failure(40).
        let port = raw_server(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]).await;
        let err = handshake(
            connect(port).await,
            "mx.example.org",
            &TlsProbeConfig::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, TlsError::Alert(a) if a == "handshake_failure"),
            "{err:?}"
        );
        assert!(err.to_string().contains("handshake_failure"));
    }

    #[tokio::test]
    async fn eof_is_closed_and_garbage_is_protocol() {
        let port = raw_server(b"").await;
        let err = handshake(
            connect(port).await,
            "mx.example.org",
            &TlsProbeConfig::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TlsError::Closed), "{err:?}");

        let port = raw_server(b"500 5.5.1 what?\r\n").await;
        let err = handshake(
            connect(port).await,
            "mx.example.org",
            &TlsProbeConfig::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TlsError::Protocol(_)), "{err:?}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(conn);
        });
        let cfg = TlsProbeConfig {
            handshake_timeout: Duration::from_millis(200),
            ..TlsProbeConfig::default()
        };
        let err = handshake(connect(port).await, "mx.example.org", &cfg)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::Timeout), "{err:?}");
        hold.abort();
    }

    #[test]
    fn versions() {
        assert_eq!(TlsVersion::from_wire(0x0303), Some(TlsVersion::Tls12));
        assert_eq!(TlsVersion::from_wire(0x0305), None);
        assert_eq!(TlsVersion::from_wire(0x0002), None);
        assert!(TlsVersion::Tls13.is_acceptable());
        assert!(!TlsVersion::Tls11.is_acceptable());
        assert!(!TlsVersion::Ssl3.is_acceptable());
        assert_eq!(TlsVersion::Tls10.to_string(), "TLSv1.0");
        assert_eq!(
            serde_json::to_string(&TlsVersion::Ssl3).unwrap(),
            "\"SSLv3\""
        );
        let back: TlsVersion = serde_json::from_str("\"TLSv1.3\"").unwrap();
        assert_eq!(back, TlsVersion::Tls13);
        assert!(TlsVersion::Tls10 < TlsVersion::Tls12);
        for v in [
            TlsVersion::Ssl3,
            TlsVersion::Tls10,
            TlsVersion::Tls11,
            TlsVersion::Tls12,
            TlsVersion::Tls13,
        ] {
            assert_eq!(TlsVersion::from_wire(v.to_wire()), Some(v));
        }
    }

    #[test]
    fn names() {
        assert!(server_name_for("mx.example.org.").is_ok());
        assert!(matches!(
            server_name_for("192.0.2.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name_for("[2001:db8::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name_for("bad name!"),
            Err(TlsError::InvalidName(_))
        ));
        assert!(matches!(server_name_for(""), Err(TlsError::InvalidName(_))));
    }
}
