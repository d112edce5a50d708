//! HTTPS for MTA-STS (RFC 8461 §3.3) and TLS-RPT https destinations (RFC 8460 §3).
//!
//! We open the TCP connection ourselves (to an address our validating resolver found), run the
//! capturing handshake, grade the certificate against WebPKI roots, then speak HTTP/1.1 with
//! hyper. No redirects are followed (RFC 8461 §3.3 forbids them) and the body is read to a
//! fixed limit, so a 10 MB "policy" costs us 64 KiB.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use serde::Serialize;
use tokio::net::TcpStream;

use crate::cert::{self, CertReport, Roots};
use crate::error::ProbeError;
use crate::prober::Prober;
use crate::tls::{self, TlsVersion};

/// The most policy bytes we read: RFC 8461 §3.3 lets senders refuse policies over 64 KiB, and
/// real ones are a few hundred bytes. One byte more tells "at the limit" from "beyond it".
pub const MAX_POLICY_BYTES: usize = 64 * 1024 + 1;

/// A TLS connection to an HTTPS host, graded.
#[derive(Debug, Clone, Serialize)]
pub struct HttpsTls {
    pub address: SocketAddr,
    pub version: TlsVersion,
    pub cipher_suite: String,
    pub certificate: CertReport,
}

/// What a GET returned.
#[derive(Debug, Clone, Serialize)]
pub struct HttpsFetch {
    pub url: String,
    pub tls: HttpsTls,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The body, up to the limit.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// True when the body went on beyond the limit (we stopped reading).
    pub body_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FetchError {
    #[error("{host} has no addresses")]
    NoAddress { host: String },
    #[error("cannot reach {host}: {error}")]
    Unreachable { host: String, error: ProbeError },
    #[error("the server's certificate cannot be read: {message}")]
    Certificate { message: String },
    #[error("HTTP failed: {message}")]
    Http { message: String },
    #[error("no answer within {secs} s")]
    Timeout { secs: u64 },
}

impl Prober {
    /// Connects to `host` on port 443 (the first address that answers) and grades its
    /// certificate for `host`.
    pub async fn https_tls(
        &self,
        host: &str,
        addrs: &[IpAddr],
        roots: &Roots,
    ) -> Result<HttpsTls, FetchError> {
        self.https_tls_port(host, addrs, 443, roots).await
    }

    /// [`Prober::https_tls`] on another port (a TLS-RPT URI may name one).
    pub async fn https_tls_port(
        &self,
        host: &str,
        addrs: &[IpAddr],
        port: u16,
        roots: &Roots,
    ) -> Result<HttpsTls, FetchError> {
        let (tls, _stream, _permit) = self.https_connect(host, addrs, port, roots).await?;
        Ok(tls)
    }

    /// Connects to the first address that completes a handshake. The per-IP permit comes back
    /// with the stream: whatever is sent over it counts against the connection limit.
    async fn https_connect(
        &self,
        host: &str,
        addrs: &[IpAddr],
        port: u16,
        roots: &Roots,
    ) -> Result<
        (
            HttpsTls,
            tokio_rustls::client::TlsStream<TcpStream>,
            Option<tokio::sync::OwnedSemaphorePermit>,
        ),
        FetchError,
    > {
        let opts = self.options();
        let mut last = None;
        for ip in addrs {
            let address = SocketAddr::new(*ip, port);
            let sem = self.limiter(*ip);
            let permit = sem.acquire_owned().await.ok();
            let tcp = match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(address))
                .await
            {
                Err(_) => {
                    last = Some(ProbeError::ConnectTimeout {
                        secs: opts.connect_timeout.as_secs(),
                    });
                    continue;
                }
                Ok(Err(e)) => {
                    last = Some(ProbeError::io(e, "connect"));
                    continue;
                }
                Ok(Ok(s)) => s,
            };
            let (stream, info) = match tls::handshake(tcp, host, self.tls_config()).await {
                Ok(x) => x,
                Err(crate::tls::TlsError::Timeout) => {
                    last = Some(ProbeError::Timeout {
                        phase: "TLS handshake".into(),
                        secs: self.tls_config().handshake_timeout.as_secs(),
                    });
                    continue;
                }
                Err(e) => {
                    last = Some(ProbeError::Tls {
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let certificate =
                cert::evaluate(&info.chain, host, roots, SystemTime::now()).map_err(|e| {
                    FetchError::Certificate {
                        message: e.to_string(),
                    }
                })?;
            return Ok((
                HttpsTls {
                    address,
                    version: info.version,
                    cipher_suite: info.cipher_suite,
                    certificate,
                },
                stream,
                permit,
            ));
        }
        Err(match last {
            Some(error) => FetchError::Unreachable {
                host: host.to_string(),
                error,
            },
            None => FetchError::NoAddress {
                host: host.to_string(),
            },
        })
    }

    /// GETs `https://host{path}` without following redirects, reading at most `max_body`
    /// bytes of the body.
    pub async fn https_get(
        &self,
        host: &str,
        addrs: &[IpAddr],
        path: &str,
        roots: &Roots,
        max_body: usize,
    ) -> Result<HttpsFetch, FetchError> {
        // Connecting has its own timeouts (connect, handshake); the request gets one deadline
        // for headers and body together, so a server dripping bytes cannot stretch it.
        let (tls, stream, permit) = self.https_connect(host, addrs, 443, roots).await?;
        let total = self
            .options()
            .io_timeout
            .saturating_mul(2)
            .max(Duration::from_secs(1));
        let got =
            match tokio::time::timeout(total, get_over(tls, stream, host, path, max_body)).await {
                Ok(r) => r,
                Err(_) => Err(FetchError::Timeout {
                    secs: total.as_secs(),
                }),
            };
        drop(permit);
        got
    }
}

/// GETs `path` over an established TLS stream (HTTP/1.1, no redirects followed).
async fn get_over(
    tls: HttpsTls,
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    host: &str,
    path: &str,
    max_body: usize,
) -> Result<HttpsFetch, FetchError> {
    let http = |e: &dyn std::fmt::Display| FetchError::Http {
        message: e.to_string(),
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(HOST, host)
        .header(USER_AGENT, concat!("mailtrust/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| http(&e))?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE);
        let location = header(LOCATION);
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| http(&e))?;
            if let Ok(data) = frame.into_data() {
                let room = max_body.saturating_sub(bytes.len());
                if data.len() > room {
                    bytes.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(HttpsFetch {
            url: format!("https://{host}{path}"),
            tls,
            status,
            content_type,
            location,
            body: bytes,
            body_truncated: truncated,
        })
    }
    .await;
    driver.abort();
    result
}
