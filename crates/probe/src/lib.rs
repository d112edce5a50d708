//! Network probes for `mailtrust audit`'s transport checks (SP 800-177 §5: TLS on every hop).
//!
//! Each probe talks to one server address and returns what it saw; grading (pass, warn, fail,
//! inconclusive) is the audit crate's job. Every read is bounded in time and size: a hostile or
//! broken server ends a probe with an error that says what happened, never a hang or a panic.

#![forbid(unsafe_code)]

pub mod cert;
pub mod dane;
mod error;
pub mod http;
mod line;
mod prober;
pub mod scan;
mod service;
pub mod tls;

pub use error::ProbeError;
pub use line::SmtpReply;
pub use prober::Prober;
pub use service::{
    LoginBeforeTls, PlainPhase, ProbeOptions, Protocol, ScanOutcome, ScanResult, ServiceReport,
    Target, TlsResult, TlsSeen,
};
