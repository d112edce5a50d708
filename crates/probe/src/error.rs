//! Why a probe ended without a verdict. Every variant carries what the server said or did, so a
//! finding can tell "the server said no" (a 421 greeting, a refused connection) apart from "the
//! server is broken" (a failed handshake after STARTTLS was accepted).

use serde::Serialize;

/// A probe's failure. `Clone` and `Serialize` because results are shared between the domains
/// that use one MX host and shown as evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProbeError {
    #[error("connection refused")]
    Refused,
    #[error("connection reset by the server ({phase})")]
    Reset { phase: String },
    #[error("no TCP connection within {secs} s")]
    ConnectTimeout { secs: u64 },
    #[error("cannot connect: {message}")]
    Connect { message: String },
    #[error("the server sent nothing for {secs} s ({phase})")]
    Timeout { phase: String, secs: u64 },
    #[error("the server closed the connection ({phase})")]
    Closed { phase: String },
    #[error("{what} exceeds {limit}")]
    TooLong { what: String, limit: String },
    /// The server refused politely: a 4xx/5xx greeting, `* BYE`, `-ERR`, or STARTTLS refused.
    #[error("the server refused: {reply}")]
    Rejected { reply: String },
    /// The server advertised STARTTLS (or STLS) and then refused it, e.g. Postfix's "454 TLS
    /// not available due to local problem": broken, not unreachable (DANE senders defer).
    #[error("the server advertised STARTTLS, then refused it: {reply}")]
    StarttlsRefused { reply: String },
    /// The TLS handshake failed after the server agreed to it.
    #[error("TLS handshake failed: {message}")]
    Tls { message: String },
    #[error("protocol error: {message}")]
    Protocol { message: String },
}

impl ProbeError {
    /// True when the server (or the path to it) declined or did not answer, rather than
    /// misbehaving: such results make findings inconclusive, not failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::Reset { .. }
                | Self::ConnectTimeout { .. }
                | Self::Connect { .. }
                | Self::Timeout { .. }
                | Self::Closed { .. }
                | Self::Rejected { .. }
        )
    }

    pub(crate) fn io(e: std::io::Error, phase: &str) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Self::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Self::Reset {
                phase: phase.to_string(),
            },
            K::UnexpectedEof => Self::Closed {
                phase: phase.to_string(),
            },
            _ => Self::Connect {
                message: format!("{e} ({phase})"),
            },
        }
    }
}
