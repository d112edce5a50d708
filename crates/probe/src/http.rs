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
        let (tls, _stream) = self.https_connect(host, addrs, roots).await?;
        Ok(tls)
    }

    async fn https_connect(
        &self,
        host: &str,
        addrs: &[IpAddr],
        roots: &Roots,
    ) -> Result<(HttpsTls, tokio_rustls::client::TlsStream<TcpStream>), FetchError> {
        let opts = self.options();
        let mut last = None;
        for ip in addrs {
            let address = SocketAddr::new(*ip, 443);
            let sem = self.limiter(*ip);
            let _permit = sem.acquire_owned().await.ok();
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
        let wait = self.options().io_timeout;
        // One deadline for the whole request: connect, handshake, headers and body.
        let total = wait.saturating_mul(2).max(Duration::from_secs(1));
        match tokio::time::timeout(total, self.get_inner(host, addrs, path, roots, max_body)).await
        {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout {
                secs: total.as_secs(),
            }),
        }
    }

    async fn get_inner(
        &self,
        host: &str,
        addrs: &[IpAddr],
        path: &str,
        roots: &Roots,
        max_body: usize,
    ) -> Result<HttpsFetch, FetchError> {
        let (tls, stream) = self.https_connect(host, addrs, roots).await?;
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
}
